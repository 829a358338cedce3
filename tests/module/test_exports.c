/* SPDX-License-Identifier: MIT */
/* dlopen both modules as libpam and glibc do (RTLD_NOW) and prove the exported entry points. */
#include <dlfcn.h>
#include <stdlib.h>

#include "../lib/check.h"

static const char *const pam_symbols[] = {
    "pam_sm_authenticate", "pam_sm_setcred",       "pam_sm_acct_mgmt",
    "pam_sm_open_session", "pam_sm_close_session",
};

static const char *const nss_symbols[] = {
    "_nss_logto_getpwnam_r", "_nss_logto_getpwuid_r",     "_nss_logto_setpwent",
    "_nss_logto_getpwent_r", "_nss_logto_endpwent",       "_nss_logto_getgrnam_r",
    "_nss_logto_getgrgid_r", "_nss_logto_setgrent",       "_nss_logto_getgrent_r",
    "_nss_logto_endgrent",   "_nss_logto_initgroups_dyn",
};

/* Internal names that must stay hidden (they exist in the objects, but are local). */
static const char *const hidden_symbols[] = {
    "logto_log",
    "logto_erase",
    "logto_error_fill",
    "logto_name_valid",
    "logto_dir_open_trusted",
    "pam_sm_chauthtok",
    "nonexistent_symbol",
};

static void *open_module(const char *env)
{
    const char *path = getenv(env);
    void *h;

    if (!path)
        SKIP("%s is not set (run through make check)", env);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return h;
}

static void test_pam_exports(void)
{
    void *h = open_module("LOGTO_PAM_MODULE");
    CHECK(h != NULL);
    if (!h)
        return;
    for (size_t i = 0; i < sizeof(pam_symbols) / sizeof(pam_symbols[0]); i++) {
        if (!dlsym(h, pam_symbols[i]))
            fprintf(stderr, "missing %s\n", pam_symbols[i]);
        CHECK(dlsym(h, pam_symbols[i]) != NULL);
    }
    for (size_t i = 0; i < sizeof(hidden_symbols) / sizeof(hidden_symbols[0]); i++)
        CHECK(dlsym(h, hidden_symbols[i]) == NULL);
    dlclose(h);
}

static void test_nss_exports(void)
{
    void *h = open_module("LOGTO_NSS_MODULE");
    CHECK(h != NULL);
    if (!h)
        return;
    for (size_t i = 0; i < sizeof(nss_symbols) / sizeof(nss_symbols[0]); i++) {
        if (!dlsym(h, nss_symbols[i]))
            fprintf(stderr, "missing %s\n", nss_symbols[i]);
        CHECK(dlsym(h, nss_symbols[i]) != NULL);
    }
    for (size_t i = 0; i < sizeof(hidden_symbols) / sizeof(hidden_symbols[0]); i++)
        CHECK(dlsym(h, hidden_symbols[i]) == NULL);
    /* glibc would call these by name; the module must not offer what it does not implement. */
    CHECK(dlsym(h, "_nss_logto_getspnam_r") == NULL);
    dlclose(h);
}

TEST_MAIN(TEST(test_pam_exports), TEST(test_nss_exports))
