/* SPDX-License-Identifier: MIT */
/* Unit tests of the configuration: every key, every kind of error, drop-ins, unsafe files,
 * per-service resolution with PAM arguments, the dump, the sample file and `logtoctl config`. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <locale.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "memory.h"
#include "util.h"

#include "../lib/check.h"

/* A minimal valid configuration: three lines, so a case's own lines start at 4. */
#define BASE "[logto]\nendpoint = https://auth.example.com\nclient_id = app\n"

static char root[64];
static int n_dirs;

/* One case's directory with its logto.conf. */
struct fx {
    char dir[128];
    char path[160];
};

static void put_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup_root(void)
{
    if (root[0] && nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "cannot remove %s\n", root);
}

/* One temporary directory per run (created on first use, so a single case can run alone). */
static void ensure_root(void)
{
    if (root[0])
        return;
    snprintf(root, sizeof(root), "/tmp/logto-conf-XXXXXX");
    if (!mkdtemp(root) || chmod(root, 0755) < 0) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup_root);
}

static void fx_init(struct fx *f)
{
    ensure_root();
    snprintf(f->dir, sizeof(f->dir), "%s/c%d", root, ++n_dirs);
    CHECK(mkdir(f->dir, 0755) == 0);
    snprintf(f->path, sizeof(f->path), "%s/logto.conf", f->dir);
}

/* name relative to the case directory; "conf.d/..." creates conf.d. */
static void fx_put_mode(const struct fx *f, const char *name, const char *text, mode_t mode)
{
    char path[320];

    if (logto_startswith(name, "conf.d/")) {
        snprintf(path, sizeof(path), "%s/conf.d", f->dir);
        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    }
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    put_file(path, text, strlen(text), mode);
}

static void fx_put(const struct fx *f, const char *name, const char *text)
{
    fx_put_mode(f, name, text, 0644);
}

static void fx_new(struct fx *f, const char *text)
{
    fx_init(f);
    fx_put(f, "logto.conf", text);
}

static struct logto_config *load_ok(const struct fx *f)
{
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    int r = logto_config_load(f->path, &cfg, &err);

    if (r != 0)
        fprintf(stderr, "unexpected error: %s\n", err.message);
    CHECK_INT(r, 0);
    return cfg;
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "re");
    char *buf = NULL;
    size_t cap = 0;

    CHECK(fp != NULL);
    if (!fp)
        return strdup("");
    ssize_t n = getdelim(&buf, &cap, '\0', fp);
    fclose(fp);
    if (n < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t flen = strlen(from), tlen = strlen(to), n = 0;
    for (const char *p = text; (p = strstr(p, from)); p += flen)
        n++;
    char *out = malloc(strlen(text) + n * tlen + 1), *w = out;
    for (const char *p = text, *q; out; p = q + flen) {
        q = strstr(p, from);
        if (!q) {
            strcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, to, tlen);
        w += tlen;
    }
    return out;
}

static char *dump_text(const struct logto_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    CHECK(out != NULL);
    logto_config_dump(cfg, out);
    fclose(out);
    return buf;
}

/* Load must fail with code and exactly "<file>:<line>: <message>" (line 0: "<file>: ...",
 * line -1: "<file><message>", for messages that start with the path), and check must report
 * the same message first. */
static void expect_error_in(const struct fx *f, const char *file, int code, int line,
                            const char *message)
{
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    char want[1024];

    if (line > 0)
        snprintf(want, sizeof(want), "%s:%d: %s", file, line, message);
    else if (line == 0)
        snprintf(want, sizeof(want), "%s: %s", file, message);
    else
        snprintf(want, sizeof(want), "%s%s", file, message);

    CHECK_INT(logto_config_load(f->path, &cfg, &err), -code);
    CHECK(cfg == NULL);
    CHECK_STR(err.message, want);
    logto_config_free(cfg);

    _cleanup_strv_ char **errors = NULL;
    CHECK(logto_config_check(f->path, &cfg, &errors) >= 1);
    CHECK(cfg == NULL);
    CHECK_STR(errors ? errors[0] : NULL, want);
    logto_config_free(cfg);
}

static void expect_error(const struct fx *f, int code, int line, const char *message)
{
    expect_error_in(f, f->path, code, line, message);
}

/* ------------------------------------------------------------------------------------------ */

static void test_defaults(void)
{
    struct fx f;
    fx_new(&f, "[logto]\nendpoint = https://auth.example.com/\nclient_id = app\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;

    CHECK_INT(cfg->profile, LOGTO_PROFILE_LOGTO);
    CHECK_STR(logto_idp_name(cfg), "Logto");
    CHECK_STR(logto_idp_text(cfg, LOGTO_IDP_LABEL), "Logto");
    CHECK_STR(logto_idp_text(cfg, LOGTO_IDP_IN), "in Logto");
    CHECK_STR(logto_idp_name(NULL), "Logto");
    CHECK_STR(cfg->endpoint, "https://auth.example.com");
    CHECK_STR(cfg->issuer, "https://auth.example.com/oidc");
    CHECK_STR(cfg->client_id, "app");
    CHECK(cfg->client_secret_file == NULL);
    CHECK(cfg->password_client_id == NULL);
    CHECK_STR(cfg->redirect_uri, "http://127.0.0.1/callback");
    CHECK(cfg->ca_file == NULL);
    _cleanup_free_ char *scopes = logto_strv_join(cfg->scopes, " ");
    CHECK_STR(scopes, "openid offline_access profile email roles custom_data identities "
                      "urn:logto:scope:organizations urn:logto:scope:organization_roles");
    CHECK_INT(cfg->connect_timeout_ms, 5000);
    CHECK_INT(cfg->timeout_ms, 15000);
    CHECK_INT(cfg->poll_interval, 5);
    CHECK_INT(cfg->max_response_size, 4 * 1024 * 1024);
    CHECK_INT(cfg->host_lockout_attempts, 3);
    CHECK_INT(cfg->host_lockout_window, 3600);
    CHECK_INT(cfg->max_device_flows, 10);
    CHECK_INT(cfg->max_device_flows_per_user, 2);

    _cleanup_free_ char *names = logto_strv_join(cfg->name_claims, " ");
    CHECK_STR(names, "username email");
    CHECK(logto_strv_length(cfg->email_domains) == 0); /* e-mail names are off by default */
    CHECK_STR(cfg->uid_key, "uidNumber");
    CHECK_STR(cfg->gid_key, "gidNumber");
    CHECK_STR(cfg->shell_key, "loginShell");
    CHECK_STR(cfg->ssh_keys_key, "sshPublicKeys");
    CHECK_STR(cfg->gecos_claim, "name");
    CHECK_INT(cfg->id_min, 1879048192u);
    CHECK_INT(cfg->id_max, 2147352575u);
    CHECK_STR(cfg->home_pattern, "/home/%u");
    CHECK_STR(cfg->default_shell, "/bin/bash");
    CHECK_STR(cfg->role_group_prefix, "logto-");
    CHECK(cfg->reserved_names == NULL);
    CHECK_STR(cfg->org_group_prefix, "org-");
    CHECK_STR(cfg->org_role_group_prefix, "org-");
    CHECK(cfg->groups_from_roles && cfg->groups_from_orgs && cfg->groups_from_org_roles);
    CHECK(cfg->groups_claim == NULL);

    CHECK(cfg->m2m_client_id == NULL);
    CHECK(cfg->m2m_client_secret_file == NULL);
    CHECK_STR(cfg->management_resource, "https://default.logto.app/api");
    CHECK_INT(cfg->lookup_rate, 30);
    CHECK_INT(cfg->lookup_burst, 10);
    CHECK_INT(cfg->lookup_cache_ttl, 60);
    CHECK(!cfg->no_enumerate);
    CHECK_INT(cfg->request_interval_ms, 100);
    CHECK_INT(cfg->rate_limit_budget, 300);
    CHECK_STR(cfg->state_dir, LOGTO_STATE_DIR);
    CHECK_STR(cfg->cache_dir, LOGTO_CACHE_DIR);
    CHECK(!cfg->debug);
    CHECK_INT(cfg->n_services, 0);
    CHECK_INT(logto_strv_length(cfg->sources), 1);
    CHECK_STR(cfg->sources[0], f.path);

    /* The built-in service rules. */
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(logto_config_service(cfg, "login", 0, NULL, &svc, &err), 0);
    if (!svc)
        return;
    CHECK_STR(svc->name, "login");
    CHECK_INT(svc->flow, LOGTO_FLOW_DEVICE);
    CHECK_INT(svc->password_method, LOGTO_PW_EXPERIENCE);
    CHECK(!svc->require_roles && !svc->require_orgs && !svc->require_org_roles);
    CHECK(!svc->allow_users && !svc->deny_users);
    CHECK_INT(svc->qr, 1);
    CHECK_INT(svc->enter_prompt, LOGTO_AUTO);
    CHECK_INT(svc->claims_max_age, 300);
    CHECK_INT(svc->offline_grace, 7 * 86400);
    CHECK_INT(svc->offline_delay_after, 3);
    CHECK_INT(svc->offline_delay, 30);
    CHECK_INT(svc->offline_lock_after, 10);
    CHECK_INT(svc->revoke_on_close, 0);
    CHECK_INT(svc->allow_any_user, 0); /* deny by default */
    CHECK(svc->file == NULL);
}

static void test_generic_defaults(void)
{
    struct fx f;
    fx_new(&f, "[logto]\nprofile = generic\nissuer = https://sso.example.com/realms/x\n"
               "client_id = linux\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;
    CHECK_INT(cfg->profile, LOGTO_PROFILE_GENERIC);
    CHECK(cfg->endpoint == NULL);
    CHECK_STR(cfg->issuer, "https://sso.example.com/realms/x");
    /* What messages call the provider (issue 14.10): never Logto under this profile. */
    CHECK_STR(logto_idp_name(cfg), "the identity provider");
    CHECK_STR(logto_idp_text(cfg, LOGTO_IDP_LABEL), "identity-provider");
    CHECK_STR(logto_idp_text(cfg, LOGTO_IDP_IN), "at the identity provider");
    _cleanup_free_ char *scopes = logto_strv_join(cfg->scopes, " ");
    CHECK_STR(scopes, "openid offline_access profile email");
    _cleanup_free_ char *names = logto_strv_join(cfg->name_claims, " ");
    CHECK_STR(names, "preferred_username email");
    CHECK_STR(cfg->groups_claim, "groups");

    _cleanup_(logto_service_freep) struct logto_service *svc = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(logto_config_service(cfg, "sshd", 0, NULL, &svc, &err), 0);
    CHECK_INT(svc ? svc->password_method : 0, LOGTO_PW_GRANT);
}

/* Writes a fixture with its secret and CA files; returns the loaded configuration. */
static struct logto_config *load_fixture(struct fx *f, const char *name)
{
    char path[256];
    fx_init(f);
    snprintf(path, sizeof(path), "%s/tests/data/conf/%s", TEST_SRCDIR, name);
    _cleanup_free_ char *tmpl = read_text(path);
    _cleanup_free_ char *text = replace_all(tmpl, "@DIR@", f->dir);
    fx_put(f, "logto.conf", text);
    snprintf(path, sizeof(path), "%s/client.secret", f->dir);
    put_file(path, "client-s3cr3t\n", 14, 0600);
    snprintf(path, sizeof(path), "%s/m2m.secret", f->dir);
    put_file(path, "m2m-s3cr3t\n", 11, 0400);
    snprintf(path, sizeof(path), "%s/publish.key", f->dir);
    put_file(path, "-----BEGIN PRIVATE KEY-----\n", 28, 0600);
    snprintf(path, sizeof(path), "%s/publish.pub", f->dir);
    put_file(path, "-----BEGIN PUBLIC KEY-----\n", 27, 0644);
    snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
    put_file(path, "-----BEGIN CERTIFICATE-----\n", 28, 0644);
    return load_ok(f);
}

static struct logto_config *load_full(struct fx *f)
{
    return load_fixture(f, "full.conf");
}

static void test_every_key(void)
{
    struct fx f;
    char path[256];
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_full(&f);
    if (!cfg)
        return;

    /* The fixtures set every key of the schema, so a new key needs a case here. */
    _cleanup_free_ char *full = read_text(TEST_SRCDIR "/tests/data/conf/full.conf");
    _cleanup_free_ char *generic = read_text(TEST_SRCDIR "/tests/data/conf/generic.conf");
    _cleanup_free_ char *relay = read_text(TEST_SRCDIR "/tests/data/conf/relay.conf");
    size_t n;
    const struct logto_config_key *keys = logto_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "\n%s =", keys[i].name);
        bool set = strstr(full, needle) || strstr(generic, needle) || strstr(relay, needle);
        if (!set)
            fprintf(stderr, "no fixture sets %s\n", keys[i].name);
        CHECK(set);
    }

    CHECK_INT(cfg->profile, LOGTO_PROFILE_LOGTO);
    CHECK_STR(logto_config_org_group(cfg, "pbl95zlwkzx4"), "acme");
    CHECK_STR(cfg->endpoint, "https://id.example.org");
    CHECK_STR(cfg->issuer, "https://id.example.org/oidc");
    CHECK_STR(cfg->client_id, "device-app");
    snprintf(path, sizeof(path), "%s/client.secret", f.dir);
    CHECK_STR(cfg->client_secret_file, path);
    CHECK_STR(cfg->password_client_id, "password-app");
    CHECK_STR(cfg->redirect_uri, "https://localhost:8443/cb");
    snprintf(path, sizeof(path), "%s/ca.pem", f.dir);
    CHECK_STR(cfg->ca_file, path);
    _cleanup_free_ char *scopes = logto_strv_join(cfg->scopes, " ");
    CHECK_STR(scopes, "openid profile email");
    _cleanup_free_ char *resources = logto_strv_join(cfg->resources, " ");
    CHECK_STR(resources, "https://api.example.com urn:example:billing");
    CHECK_INT(cfg->connect_timeout_ms, 1500);
    CHECK_INT(cfg->timeout_ms, 120000);
    CHECK_INT(cfg->poll_interval, 10);
    CHECK_INT(cfg->max_response_size, 512 * 1024);
    CHECK_INT(cfg->host_lockout_attempts, 7);
    CHECK_INT(cfg->host_lockout_window, 5400);
    CHECK_INT(cfg->max_device_flows, 3);
    CHECK_INT(cfg->max_device_flows_per_user, 1);

    _cleanup_free_ char *names = logto_strv_join(cfg->name_claims, " ");
    CHECK_STR(names, "email username");
    _cleanup_free_ char *domains = logto_strv_join(cfg->email_domains, " ");
    CHECK_STR(domains, "example.org Corp.Example");
    CHECK_STR(cfg->uid_key, "uid_number");
    CHECK_STR(cfg->gid_key, "gid.number");
    CHECK_STR(cfg->shell_key, "shell-key");
    CHECK_STR(cfg->ssh_keys_key, "keys");
    CHECK_STR(cfg->gecos_claim, "given_name");
    CHECK_INT(cfg->id_min, 100000);
    CHECK_INT(cfg->id_max, 165535);
    CHECK_STR(cfg->home_pattern, "/srv/home/%U/%u%%");
    CHECK_STR(cfg->default_shell, "/bin/zsh");
    CHECK_STR(cfg->role_group_prefix, "role-");
    CHECK_STR(cfg->org_group_prefix, "o_");
    CHECK_STR(cfg->org_role_group_prefix, "or.");
    CHECK_STR(cfg->reserved_names ? cfg->reserved_names[1] : NULL, "legacy-db");
    CHECK(cfg->groups_from_roles);
    CHECK(!cfg->groups_from_orgs);
    CHECK(cfg->groups_from_org_roles);
    CHECK(cfg->groups_claim == NULL);

    CHECK_STR(cfg->m2m_client_id, "m2m-app");
    snprintf(path, sizeof(path), "%s/m2m.secret", f.dir);
    CHECK_STR(cfg->m2m_client_secret_file, path);
    CHECK_STR(cfg->management_resource, "https://id.example.org/api");
    CHECK_INT(cfg->lookup_rate, 12);
    CHECK_INT(cfg->lookup_burst, 4);
    CHECK_INT(cfg->lookup_cache_ttl, 300);
    CHECK(cfg->no_enumerate);
    CHECK_INT(cfg->request_interval_ms, 250);
    CHECK_INT(cfg->rate_limit_budget, 120);
    CHECK_STR(cfg->state_dir, "/srv/logto/state");
    CHECK_STR(cfg->cache_dir, "/srv/logto/cache");
    CHECK(cfg->debug);

    CHECK_INT(cfg->n_services, 2);
    if (cfg->n_services != 2)
        return;
    const struct logto_service *star = cfg->services[0], *sshd = cfg->services[1];
    CHECK_STR(star->name, "*");
    CHECK_INT(star->flow, LOGTO_FLOW_BOTH);
    CHECK_INT(star->password_method, LOGTO_PW_PAT);
    _cleanup_free_ char *roles = logto_strv_join(star->require_roles, ",");
    CHECK_STR(roles, "admin,dev");
    _cleanup_free_ char *orgs = logto_strv_join(star->require_orgs, ",");
    CHECK_STR(orgs, "org1");
    _cleanup_free_ char *org_roles = logto_strv_join(star->require_org_roles, ",");
    CHECK_STR(org_roles, "org1:admin");
    _cleanup_free_ char *allow = logto_strv_join(star->allow_users, ",");
    CHECK_STR(allow, "alice,bob");
    _cleanup_free_ char *deny = logto_strv_join(star->deny_users, ",");
    CHECK_STR(deny, "mallory");
    CHECK_INT(star->qr, 0);
    CHECK_INT(star->enter_prompt, LOGTO_YES);
    CHECK_INT(star->claims_max_age, 0);
    CHECK_INT(star->offline_grace, 86400);
    CHECK_INT(star->revoke_on_close, 1);
    CHECK_INT(star->offline_delay_after, 0);
    CHECK_INT(star->offline_delay, 120);
    CHECK_INT(star->offline_lock_after, 4);
    CHECK_INT(star->allow_any_user, 1);
    CHECK_STR(star->file, f.path);
    CHECK_INT(star->line, 59);
    /* A section holds what it sets; resolution fills in the rest. */
    CHECK_STR(sshd->name, "sshd");
    CHECK_INT(sshd->password_method, LOGTO_PW_MANAGEMENT);
    CHECK_INT(sshd->flow, LOGTO_FLOW_DEVICE);
    CHECK_INT(sshd->qr, LOGTO_UNSET);
    CHECK(sshd->require_roles == NULL);

    /* [user alice]: found by name only, trailing slash dropped, GECOS subfields kept. */
    const struct logto_user_override *o = logto_config_user_override(cfg, "alice");
    CHECK_INT(cfg->n_user_overrides, 1);
    CHECK(logto_config_user_override(cfg, "bob") == NULL);
    CHECK(logto_config_user_override(cfg, "alic") == NULL);
    CHECK_STR(o ? o->shell : NULL, "/usr/sbin/nologin");
    CHECK_STR(o ? o->home : NULL, "/srv/alice");
    CHECK_STR(o ? o->gecos : NULL, "Alice Example,Room 1,+1 555 0100");
    CHECK_STR(o ? o->file : NULL, f.path);
}

static void test_every_key_generic(void)
{
    struct fx f;
    char path[256];
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_fixture(&f, "generic.conf");
    if (!cfg)
        return;
    CHECK_INT(cfg->profile, LOGTO_PROFILE_GENERIC);
    CHECK_STR(cfg->issuer, "https://sso.example.com/realms/staff");
    CHECK_STR(cfg->client_id, "linux-hosts");
    snprintf(path, sizeof(path), "%s/client.secret", f.dir);
    CHECK_STR(cfg->client_secret_file, path);
    CHECK_STR(cfg->groups_claim, "realm_groups");
    CHECK(!cfg->groups_from_roles && !cfg->groups_from_orgs && !cfg->groups_from_org_roles);

    _cleanup_(logto_service_freep) struct logto_service *svc = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(logto_config_service(cfg, "sshd", 0, NULL, &svc, &err), 0);
    CHECK_INT(svc ? svc->flow : 0, LOGTO_FLOW_PASSWORD);
    CHECK_INT(svc ? svc->password_method : 0, LOGTO_PW_GRANT);
}

static void test_syntax(void)
{
    struct fx f;
    /* CRLF line ends, ';' and '#' comments, inline comments, '#' inside a value, spacing. */
    fx_new(&f, "; header comment\r\n"
               "  [logto]   # section comment\r\n"
               "\r\n"
               "endpoint=https://auth.example.com\r\n"
               "   client_id   =   app#1    # the app\r\n"
               "\t# indented comment\r\n"
               "[ service   sshd ]\r\n"
               "require_roles = a,b c ,, a\r\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;
    CHECK_STR(cfg->client_id, "app#1");
    CHECK_INT(cfg->n_services, 1);
    if (cfg->n_services == 1) {
        CHECK_STR(cfg->services[0]->name, "sshd");
        CHECK_INT(cfg->services[0]->line, 7);
        _cleanup_free_ char *roles = logto_strv_join(cfg->services[0]->require_roles, "|");
        CHECK_STR(roles, "a|b|c");
    }
}

struct error_case {
    const char *text;
    int line; /* 0: no line */
    const char *message;
};

static const struct error_case error_cases[] = {
    /* Syntax. */
    { BASE "timeout = 5 minutes\n", 4,
      "[logto] timeout: \"5 minutes\" is not a duration (use 30, 30s, 5m)" },
    { BASE "[ldap]\nuri = x\n", 4,
      "unknown section [ldap] (use [logto], [identity], [sync], [publish], [relay], [paths], "
      "[log], "
      "[service NAME], [user NAME] or [organization ID])" },
    { BASE "[logto extra]\n", 4,
      "unknown section [logto ...] (use [logto], [identity], [sync], [publish], [relay], [paths], "
      "[log], "
      "[service NAME], [user NAME] or [organization ID])" },
    { BASE "colour = blue\n", 4, "[logto] unknown key \"colour\"" },
    { BASE "shell = /bin/sh\n", 4, "[logto] unknown key \"shell\" (it belongs in [identity])" },
    { BASE "[service sshd]\nendpoint = https://x.example\n", 5,
      "[service sshd] unknown key \"endpoint\" (it belongs in [logto])" },
    { BASE "[identity]\nrequire_roles = a\n", 5,
      "[identity] unknown key \"require_roles\" (it belongs in [service NAME])" },
    { BASE "[identity]\ngroup = acme\n", 5,
      "[identity] unknown key \"group\" (it belongs in [organization ID])" },
    { "client_id = a\n[logto]\n", 1, "client_id: key outside of a section (start with [logto])" },
    { BASE "just words\n", 4, "not a \"key = value\" line or a [section] header" },
    { BASE " = value\n", 4, "missing key before \"=\"" },
    { BASE "[identity\n", 4, "section header without \"]\"" },
    { BASE "[identity]x\n", 4, "unexpected text after \"]\"" },
    { BASE "[service]\n", 4, "[service] needs a PAM service name: [service NAME] or [service *]" },
    { BASE "[service ss/hd]\n", 4, "[service]: \"ss/hd\" is not a PAM service name" },
    { BASE "timeout = 5\ntimeout = 6\n", 5,
      "[logto] timeout: set twice in this file (first on line 4)" },
    { BASE "[service sshd]\nqr = no\n[service sshd]\nqr = yes\n", 7,
      "[service sshd] qr: set twice in this file (first on line 5)" },

    /* Values, type by type. */
    { BASE "connect_timeout = 90s\n", 4,
      "[logto] connect_timeout: \"90s\" is out of range (1s..1m)" },
    { BASE "connect_timeout = 999ms\n", 4,
      "[logto] connect_timeout: \"999ms\" is out of range (1s..1m)" },
    { BASE "poll_interval = 0\n", 4, "[logto] poll_interval: \"0\" is out of range (1s..1m)" },
    { BASE "max_device_flows = 0\n", 4,
      "[logto] max_device_flows: \"0\" is out of range (1..10000)" },
    { BASE "max_device_flows_per_user = two\n", 4,
      "[logto] max_device_flows_per_user: \"two\" is not a whole number" },
    { BASE "[sync]\nlookup_rate = -1\n", 5, "[sync] lookup_rate: \"-1\" is not a whole number" },
    { BASE "[sync]\nlookup_cache_ttl = 2h\n", 5,
      "[sync] lookup_cache_ttl: \"2h\" is out of range (0..1h)" },
    { BASE "[sync]\nrate_limit_budget = 2h\n", 5,
      "[sync] rate_limit_budget: \"2h\" is out of range (0..1h)" },
    { BASE "[sync]\nrequest_interval = 11s\n", 5,
      "[sync] request_interval: \"11s\" is out of range (0..10s)" },
    { BASE "[service sshd]\nallow_any_user = everyone\n", 5,
      "[service sshd] allow_any_user: \"everyone\" is not a boolean (use yes or no)" },
    { BASE "poll_interval = 500ms\n", 4,
      "[logto] poll_interval: \"500ms\" is not a duration (use 30, 30s, 5m)" },
    { BASE "max_response_size = 10\n", 4,
      "[logto] max_response_size: \"10\" is out of range (64K..64M)" },
    { BASE "max_response_size = 4G\n", 4,
      "[logto] max_response_size: \"4G\" is not a size (use 65536, 64K, 4M)" },
    { BASE "host_lockout_attempts = 0\n", 4,
      "[logto] host_lockout_attempts: \"0\" is out of range (1..100)" },
    { BASE "host_lockout_attempts = 3x\n", 4,
      "[logto] host_lockout_attempts: \"3x\" is not a whole number" },
    { BASE "host_lockout_window = 0\n", 4,
      "[logto] host_lockout_window: \"0\" is out of range (1s..1d)" },
    { "[logto]\nendpoint = http://auth.example.com\nclient_id = a\n", 2,
      "[logto] endpoint: \"http://auth.example.com\" is not an https:// URL" },
    { BASE "issuer = https://auth.example.com/oidc?x=1\n", 4,
      "[logto] issuer: \"https://auth.example.com/oidc?x=1\" must not have a query or fragment" },
    { BASE "redirect_uri = https://user@host/cb\n", 4,
      "[logto] redirect_uri: \"https://user@host/cb\" must not contain user information" },
    { BASE "redirect_uri = ftp://host/cb\n", 4,
      "[logto] redirect_uri: \"ftp://host/cb\" is not an http:// or https:// URL" },
    { BASE "[sync]\nmanagement_resource = https:///api\n", 5,
      "[sync] management_resource: \"https:///api\" has no host" },
    { "[logto]\nendpoint = https://a.example\nclient_id = \"app\"\n", 3,
      "[logto] client_id: \"\"app\"\" is not a valid client ID" },
    { BASE "scopes = profile email\n", 4, "[logto] scopes: must contain openid" },
    { BASE "profile = okta\n", 4, "[logto] profile: \"okta\" is not one of: logto, generic" },
    { BASE "[log]\ndebug = maybe\n", 5, "[log] debug: \"maybe\" is not a boolean (use yes or no)" },
    { BASE "[identity]\nname_claims =\n", 5, "[identity] name_claims: needs at least one claim" },
    { BASE "[identity]\nname_claims = username e@mail\n", 5,
      "[identity] name_claims: \"e@mail\" is not a claim name ([A-Za-z0-9_.:/-])" },
    { BASE "[identity]\nemail_domains = example.org @evil.example\n", 5,
      "[identity] email_domains: \"@evil.example\" is not a domain name" },
    { BASE "[identity]\nemail_domains = -bad.example\n", 5,
      "[identity] email_domains: \"-bad.example\" is not a domain name" },
    { BASE "[identity]\nemail_domains = a..example\n", 5,
      "[identity] email_domains: \"a..example\" is not a domain name" },
    { BASE "[identity]\nid_range = 1000-70000\n", 5,
      "[identity] id_range: \"1000-70000\" overlaps IDs reserved for the system, systemd or "
      "containers (see logto.conf(5))" },
    { BASE "[identity]\nid_range = 0-1000000\n", 5,
      "[identity] id_range: \"0-1000000\" overlaps IDs reserved for the system, systemd or "
      "containers (see logto.conf(5))" },
    { BASE "[identity]\nid_range = 1879048192-2147483647\n", 5,
      "[identity] id_range: \"1879048192-2147483647\" overlaps IDs reserved for the system, "
      "systemd or containers (see logto.conf(5))" },
    { BASE "[identity]\nid_range = 100000-100001\n", 5,
      "[identity] id_range: \"100000-100001\" is narrower than 65536 IDs" },
    { BASE "[identity]\nid_range = 200000-100000\n", 5,
      "[identity] id_range: \"200000-100000\" starts after it ends" },
    { BASE "[identity]\nid_range = lots\n", 5,
      "[identity] id_range: \"lots\" is not a range (use MIN-MAX)" },
    { BASE "[identity]\nhome = /home/%n\n", 5,
      "[identity] home: unknown token \"%n\" (use %u, %U, %s or %%)" },
    { BASE "[identity]\nhome = home/%u\n", 5,
      "[identity] home: \"home/%u\" is not an absolute path" },
    { BASE "[identity]\nshell = /bin/ba:sh\n", 5,
      "[identity] shell: \"/bin/ba:sh\" contains a control character or one of \":\"" },
    { BASE "[identity]\norg_group_prefix = 9org-\n", 5,
      "[identity] org_group_prefix: \"9org-\" is not a group-name prefix ([a-z_][a-z0-9_.-]*, "
      "at most 31 characters)" },
    { BASE "[identity]\nrole_group_prefix = Role-\n", 5,
      "[identity] role_group_prefix: \"Role-\" is not a group-name prefix ([a-z_][a-z0-9_.-]*, "
      "at most 31 characters)" },
    { BASE "[identity]\nuid_key = uid number\n", 5,
      "[identity] uid_key: \"uid number\" is not a custom_data key ([A-Za-z0-9_.-])" },
    { BASE "[identity]\ngecos_claim = full name\n", 5,
      "[identity] gecos_claim: \"full name\" is not a claim name ([A-Za-z0-9_.:/-])" },
    { BASE "[identity]\ngroups = roles teams\n", 5,
      "[identity] groups: \"teams\" is not one of: roles, organizations, organization_roles" },
    { BASE "[paths]\nstate_dir = /var/lib/../tmp\n", 5,
      "[paths] state_dir: \"/var/lib/../tmp\" must not contain . or .. components" },
    { BASE "[paths]\ncache_dir =\n", 5, "[paths] cache_dir: empty value" },
    /* fuzz_config: "/srv/x /" became "/srv/x ", which the dump could not write back */
    { BASE "[paths]\ncache_dir = /srv/x /\n", 5,
      "[paths] cache_dir: \"/srv/x /\" ends in white space before a slash" },
    { BASE "resources = https://api.example.com/#frag\n", 4,
      "[logto] resources: \"https://api.example.com/#frag\" is not an absolute URI without a "
      "fragment" },
    { BASE "resources = api.example.com\n", 4,
      "[logto] resources: \"api.example.com\" is not an absolute URI without a fragment" },
    { BASE "client_secret_file = relative.secret\n", 4,
      "[logto] client_secret_file: \"relative.secret\" is not an absolute path" },
    { BASE "[service sshd]\nallow_users = alice Bob\n", 5,
      "[service sshd] allow_users: \"Bob\" is not a valid user name ([a-z_][a-z0-9_.-]*)" },
    { BASE "[service sshd]\ndeny_users = root:x\n", 5,
      "[service sshd] deny_users: \"root:x\" is not a valid user name ([a-z_][a-z0-9_.-]*)" },
    { BASE "[service sshd]\nrequire_org_roles = admin\n", 5,
      "[service sshd] require_org_roles: \"admin\" is not \"orgId:role\"" },
    { BASE "[service sshd]\nrequire_orgs = org:1\n", 5,
      "[service sshd] require_orgs: \"org:1\" is not an organization ID ([A-Za-z0-9_.-])" },
    { BASE "[service sshd]\nrequire_roles = \"admin\"\n", 5,
      "[service sshd] require_roles: \"\"admin\"\" is not a valid role name" },
    { BASE "[service sshd]\nclaims_max_age = 30d\n", 5,
      "[service sshd] claims_max_age: \"30d\" is out of range (0..7d)" },
    { BASE "[service sshd]\noffline_grace = -1\n", 5,
      "[service sshd] offline_grace: \"-1\" is not a duration (use 30, 30s, 5m)" },
    { BASE "[service sshd]\noffline_lock_after = 0\n", 5,
      "[service sshd] offline_lock_after: \"0\" is out of range (1..100)" },
    { BASE "[service sshd]\noffline_delay_after = -1\n", 5,
      "[service sshd] offline_delay_after: \"-1\" is not a whole number" },
    { BASE "[service sshd]\noffline_delay = 2h\n", 5,
      "[service sshd] offline_delay: \"2h\" is out of range (0..1h)" },
    { BASE "[service sshd]\nenter_prompt = always\n", 5,
      "[service sshd] enter_prompt: \"always\" is not one of: auto, yes, no" },
    { BASE "[service sshd]\nflow = sms\n", 5,
      "[service sshd] flow: \"sms\" is not one of: device, password, both" },
    { BASE "[service sshd]\nqr = \n", 5, "[service sshd] qr: empty value" },

    /* [user NAME] overrides: only shell, home and gecos, each as clean as the IdP's. */
    { BASE "[user]\n", 4, "[user] needs the name of a Logto user: [user NAME]" },
    { BASE "[user Alice]\n", 4, "[user]: \"Alice\" is not a valid user name" },
    { BASE "[user systemd-x]\n", 4,
      "[user systemd-x]: systemd-x starts like the names of system accounts (_, systemd-, "
      "debian-), so no Logto user can have it" },
    { BASE "[user alice]\nuid = 0\n", 5,
      "[user alice] uid: cannot be overridden (only shell, home and gecos can: the name, UIDs, "
      "GIDs and groups come from the identity provider alone, so that every host gives one "
      "person the same files and groups)" },
    { BASE "[user alice]\ngroups = wheel\n", 5,
      "[user alice] groups: cannot be overridden (only shell, home and gecos can: the name, "
      "UIDs, GIDs and groups come from the identity provider alone, so that every host gives "
      "one person the same files and groups)" },
    { BASE "[user alice]\nrequire_roles = a\n", 5,
      "[user alice] unknown key \"require_roles\" (it belongs in [service NAME])" },
    { BASE "[identity]\ngecos = x\n", 5,
      "[identity] unknown key \"gecos\" (it belongs in [user NAME])" },
    { BASE "[user alice]\nhome = home/alice\n", 5,
      "[user alice] home: \"home/alice\" is not an absolute path" },
    { BASE "[user alice]\nhome = /home/../root\n", 5,
      "[user alice] home: \"/home/../root\" must not contain . or .. components" },
    { BASE "[user alice]\nhome = /\n", 5,
      "[user alice] home: \"/\" is not a clean absolute path (no empty components, not \"/\")" },
    { BASE "[user alice]\nhome = /srv/a,b\n", 5,
      "[user alice] home: \"/srv/a,b\" contains one of \":,\"" },
    { BASE "[user alice]\nhome = /srv/a:0:0\n", 5,
      "[user alice] home: \"/srv/a:0:0\" contains a control character or one of \":\"" },
    { BASE "[user alice]\nshell = /bin/sh:x\n", 5,
      "[user alice] shell: \"/bin/sh:x\" is not a shell path ([A-Za-z0-9/._+-])" },
    { BASE "[user alice]\nshell = bash\n", 5,
      "[user alice] shell: \"bash\" is not an absolute path" },
    { BASE "[user alice]\ngecos = Alice:0:0\n", 5,
      "[user alice] gecos: contains \":\" (it would end the passwd field)" },
    { BASE "[user alice]\ngecos = Alice\x1b[2J\n", 5,
      "[user alice] gecos: contains a control, bidi or other invisible character, or invalid "
      "UTF-8" },
    { BASE "[user alice]\ngecos = Alice\xe2\x80\xae"
           "evil\n",
      5,
      "[user alice] gecos: contains a control, bidi or other invisible character, or invalid "
      "UTF-8" },
    { BASE "[user alice]\ngecos = Alice\rBob\n", 5,
      "[user alice] gecos: contains a control, bidi or other invisible character, or invalid "
      "UTF-8" },
    { BASE "[user alice]\ngecos = \xff\n", 5,
      "[user alice] gecos: contains a control, bidi or other invisible character, or invalid "
      "UTF-8" },
    { BASE "[user alice]\nshell = /bin/sh\n[user alice]\nshell = /bin/zsh\n", 7,
      "[user alice] shell: set twice in this file (first on line 5)" },

    /* Whole-configuration rules. */
    { "[logto]\nclient_id = a\n", 0,
      "[logto] endpoint: is required (the Logto URL, e.g. https://auth.example.com)" },
    { "[logto]\nendpoint = https://a.example\n", 0,
      "[logto] client_id: is required (the device-flow Native app)" },
    { "[logto]\nprofile = generic\nclient_id = a\n", 0,
      "[logto] issuer: is required with profile generic" },
    { BASE "issuer = https://auth.example.com/other\n", 4,
      "[logto] issuer: \"https://auth.example.com/other\" is not endpoint + /oidc "
      "(\"https://auth.example.com/oidc\"); leave it unset" },
    { "[logto]\nprofile = generic\nissuer = https://i.example\nclient_id = a\n"
      "endpoint = https://e.example\n",
      5, "[logto] endpoint: only used with profile logto" },
    { "[logto]\nprofile = generic\nissuer = https://i.example\nclient_id = a\n"
      "password_client_id = p\n",
      5, "[logto] password_client_id: only used with profile logto" },
    { BASE "[identity]\ngroups_claim = groups\n", 5,
      "[identity] groups_claim: only used with profile generic" },
    { BASE "[sync]\nm2m_client_id = m\n", 5,
      "[sync] m2m_client_id: needs m2m_client_secret_file too" },
    { BASE "[sync]\nm2m_client_secret_file = /etc/logto/m2m.secret\n", 5,
      "[sync] m2m_client_secret_file: needs m2m_client_id too" },
    { BASE "[service *]\npassword_method = management\n", 5,
      "[service *] password_method: management bypasses MFA and must be enabled per service, "
      "never in [service *]" },
    { BASE "[service sshd]\npassword_method = management\n", 5,
      "[service sshd] password_method: management needs [sync] m2m_client_id and "
      "m2m_client_secret_file" },
    { BASE "[service sshd]\npassword_method = grant\n", 5,
      "[service sshd] password_method: grant needs profile generic (Logto has no password "
      "grant; use experience or pat)" },
    { "[logto]\nprofile = generic\nissuer = https://i.example\nclient_id = a\n[service su]\n"
      "password_method = pat\n",
      6,
      "[service su] password_method: experience, pat and management need profile logto (use "
      "grant)" },
    { BASE "[service sshd]\nflow = password\n", 5,
      "[service sshd] password_method experience needs [logto] password_client_id" },
    { BASE "[service *]\nflow = both\n[service su]\npassword_method = pat\n", 5,
      "[service *] password_method experience needs [logto] password_client_id" },
    { BASE "[service *]\nflow = password\n[service su]\npassword_method = pat\n", 5,
      "[service *] password_method experience needs [logto] password_client_id" },
    { BASE "[service *]\npassword_method = pat\n[service su]\nflow = both\n", 7,
      "[service su] password_method pat needs [logto] password_client_id" },
};

static void test_errors(void)
{
    for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
        struct fx f;
        fx_new(&f, error_cases[i].text);
        expect_error(&f, LOGTO_E_CONFIG, error_cases[i].line, error_cases[i].message);
    }
}

static void test_line_and_file_limits(void)
{
    struct fx f;
    char *text;

    /* An over-long line (4097 characters), even a comment. */
    text = malloc(8000);
    snprintf(text, 8000, "%s# %04095d\n", BASE, 0);
    fx_new(&f, text);
    expect_error(&f, LOGTO_E_CONFIG, 4, "line is longer than 4096 characters");
    /* Exactly 4096 characters is fine. */
    snprintf(text, 8000, "%s# %04094d\n", BASE, 0);
    fx_new(&f, text);
    logto_config_free(load_ok(&f));
    free(text);

    /* A NUL byte. */
    fx_init(&f);
    put_file(f.path, BASE "timeout = 5\0s\n", sizeof(BASE "timeout = 5\0s\n") - 1, 0644);
    expect_error(&f, LOGTO_E_CONFIG, 4, "line contains a NUL byte");

    /* A file larger than 1 MiB, even of comments. */
    size_t big = 1024 * 1024 + 1;
    text = malloc(big);
    memset(text, '#', big);
    for (size_t i = 100; i < big; i += 100)
        text[i] = '\n';
    fx_init(&f);
    put_file(f.path, text, big, 0644);
    free(text);
    expect_error(&f, LOGTO_E_CONFIG, -1, " is too large (1048577 bytes, limit 1048576)");

    /* No file at all. */
    fx_init(&f);
    expect_error(&f, LOGTO_E_CONFIG, -1, " does not exist");

    /* A relative path. */
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(logto_config_load("logto.conf", &cfg, &err), -LOGTO_E_CONFIG);
    CHECK_STR(err.message, "logto.conf: the configuration path must be absolute");
}

static void test_dropins(void)
{
    struct fx f;
    char path[256];

    fx_new(&f, BASE "timeout = 10s\n[service sshd]\nqr = no\nrequire_roles = a\n");
    /* Created out of order, so that directory order is unlikely to be name order. */
    fx_put(&f, "conf.d/15-m.conf", "[logto]\ntimeout = 25s\n");
    fx_put(&f, "conf.d/20-b.conf", "[logto]\ntimeout = 30s\n[service sshd]\nrequire_roles = c\n");
    fx_put(&f, "conf.d/05-z.conf", "[logto]\ntimeout = 15s\npoll_interval = 3\n");
    fx_put(&f, "conf.d/10-a.conf",
           "[logto]\ntimeout = 20s\npoll_interval = 7\n"
           "[service sshd]\nenter_prompt = no\nrequire_roles = b\n");
    /* Not drop-ins: hidden, other suffixes, backups. */
    fx_put(&f, "conf.d/.hidden.conf", "garbage\n");
    fx_put(&f, "conf.d/README", "garbage\n");
    fx_put(&f, "conf.d/30-c.conf.bak", "garbage\n");
    fx_put(&f, "conf.d/30-c.conf~", "garbage\n");

    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;
    static const char *const order[] = { "05-z", "10-a", "15-m", "20-b" };
    CHECK_INT(logto_strv_length(cfg->sources), 5);
    if (logto_strv_length(cfg->sources) == 5) {
        CHECK_STR(cfg->sources[0], f.path);
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
            snprintf(path, sizeof(path), "%s/conf.d/%s.conf", f.dir, order[i]);
            CHECK_STR(cfg->sources[i + 1], path);
        }
    }
    CHECK_INT(cfg->timeout_ms, 30000); /* the last file wins */
    CHECK_INT(cfg->poll_interval, 7);
    CHECK_INT(cfg->n_services, 1); /* one [service sshd], merged key by key */
    if (cfg->n_services == 1) {
        const struct logto_service *s = cfg->services[0];
        CHECK_INT(s->qr, 0);
        CHECK_INT(s->enter_prompt, LOGTO_NO);
        _cleanup_free_ char *roles = logto_strv_join(s->require_roles, ",");
        CHECK_STR(roles, "c");
        CHECK_STR(s->file, f.path);
        CHECK_INT(s->line, 5);
    }

    /* An error in a drop-in names the drop-in. */
    fx_new(&f, BASE);
    fx_put(&f, "conf.d/10-a.conf", "[logto]\ntimeout = soon\n");
    snprintf(path, sizeof(path), "%s/conf.d/10-a.conf", f.dir);
    expect_error_in(&f, path, LOGTO_E_CONFIG, 2,
                    "[logto] timeout: \"soon\" is not a duration (use 30, 30s, 5m)");

    /* Each file starts outside any section. */
    fx_new(&f, BASE);
    fx_put(&f, "conf.d/10-a.conf", "timeout = 5\n");
    snprintf(path, sizeof(path), "%s/conf.d/10-a.conf", f.dir);
    expect_error_in(&f, path, LOGTO_E_CONFIG, 1,
                    "timeout: key outside of a section (start with [logto])");

    /* A required key may come from a drop-in only. */
    fx_new(&f, "[logto]\nendpoint = https://auth.example.com\n");
    fx_put(&f, "conf.d/50-app.conf", "[logto]\nclient_id = from-dropin\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg2 = load_ok(&f);
    CHECK_STR(cfg2 ? cfg2->client_id : NULL, "from-dropin");

    /* A drop-in's optional key can be unset again with an empty value. */
    fx_new(&f, BASE "password_client_id = p\n");
    fx_put(&f, "conf.d/50-x.conf", "[logto]\npassword_client_id =\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg3 = load_ok(&f);
    CHECK(cfg3 && cfg3->password_client_id == NULL);
}

static void test_unsafe_files(void)
{
    struct fx f;
    char path[256], other[256];

    /* The main file is a symbolic link. */
    fx_init(&f);
    snprintf(other, sizeof(other), "%s/real.conf", f.dir);
    put_file(other, BASE, strlen(BASE), 0644);
    CHECK(symlink(other, f.path) == 0);
    expect_error(&f, LOGTO_E_UNSAFE, -1, " is a symbolic link");

    /* Group-writable. */
    fx_init(&f);
    fx_put_mode(&f, "logto.conf", BASE, 0664);
    expect_error(&f, LOGTO_E_UNSAFE, -1, " is writable by group or others (mode 0664)");

    /* A second hard link. */
    fx_new(&f, BASE);
    snprintf(other, sizeof(other), "%s/copy.conf", f.dir);
    CHECK(link(f.path, other) == 0);
    expect_error(&f, LOGTO_E_UNSAFE, -1, " has 2 hard links, expected 1");

    /* Its directory is writable by others. */
    fx_new(&f, BASE);
    CHECK(chmod(f.dir, 0777) == 0);
    expect_error_in(&f, f.dir, LOGTO_E_UNSAFE, -1, " is writable by group or others (mode 0777)");
    CHECK(chmod(f.dir, 0755) == 0);

    /* conf.d is a symbolic link. */
    fx_new(&f, BASE);
    snprintf(other, sizeof(other), "%s/elsewhere", f.dir);
    CHECK(mkdir(other, 0755) == 0);
    snprintf(path, sizeof(path), "%s/conf.d", f.dir);
    CHECK(symlink(other, path) == 0);
    expect_error_in(&f, path, LOGTO_E_UNSAFE, -1, " is a symbolic link");

    /* A drop-in is a symbolic link. */
    fx_new(&f, BASE);
    fx_put(&f, "conf.d/10-a.conf", "[log]\ndebug = yes\n");
    snprintf(other, sizeof(other), "%s/conf.d/10-a.conf", f.dir);
    snprintf(path, sizeof(path), "%s/conf.d/20-b.conf", f.dir);
    CHECK(symlink(other, path) == 0);
    expect_error_in(&f, path, LOGTO_E_UNSAFE, -1, " is a symbolic link");

    /* A group-writable conf.d. */
    fx_new(&f, BASE);
    fx_put(&f, "conf.d/10-a.conf", "[log]\ndebug = yes\n");
    snprintf(path, sizeof(path), "%s/conf.d", f.dir);
    CHECK(chmod(path, 0775) == 0);
    expect_error_in(&f, path, LOGTO_E_UNSAFE, -1, " is writable by group or others (mode 0775)");
}

static void test_secret_files(void)
{
    struct fx f;
    char text[512], secret[256], msg[512];

    /* Readable by others. */
    fx_init(&f);
    snprintf(secret, sizeof(secret), "%s/client.secret", f.dir);
    put_file(secret, "x\n", 2, 0644);
    snprintf(text, sizeof(text), BASE "client_secret_file = %s\n", secret);
    fx_put(&f, "logto.conf", text);
    snprintf(msg, sizeof(msg),
             "[logto] client_secret_file: %s holds a secret but is accessible by group or "
             "others (mode 0644; use 0600)",
             secret);
    expect_error(&f, LOGTO_E_UNSAFE, 4, msg);
    /* 0600 and 0400 are fine. */
    CHECK(chmod(secret, 0600) == 0);
    logto_config_free(load_ok(&f));
    CHECK(chmod(secret, 0400) == 0);
    logto_config_free(load_ok(&f));

    /* Missing. */
    CHECK(unlink(secret) == 0);
    snprintf(msg, sizeof(msg), "[logto] client_secret_file: %s does not exist", secret);
    expect_error(&f, LOGTO_E_CONFIG, 4, msg);

    /* A symbolic link to a good secret file. */
    snprintf(text, sizeof(text), "%s/real.secret", f.dir);
    put_file(text, "x\n", 2, 0600);
    CHECK(symlink(text, secret) == 0);
    snprintf(msg, sizeof(msg), "[logto] client_secret_file: %s is a symbolic link", secret);
    expect_error(&f, LOGTO_E_UNSAFE, 4, msg);

    /* ca_file: must exist, must not be writable by others. */
    fx_init(&f);
    snprintf(secret, sizeof(secret), "%s/ca.pem", f.dir);
    snprintf(text, sizeof(text), BASE "ca_file = %s\n", secret);
    fx_put(&f, "logto.conf", text);
    snprintf(msg, sizeof(msg), "[logto] ca_file: %s does not exist", secret);
    expect_error(&f, LOGTO_E_CONFIG, 4, msg);
    put_file(secret, "pem\n", 4, 0666);
    snprintf(msg, sizeof(msg), "[logto] ca_file: %s is writable by group or others (mode 0666)",
             secret);
    expect_error(&f, LOGTO_E_UNSAFE, 4, msg);
    CHECK(chmod(secret, 0644) == 0);
    logto_config_free(load_ok(&f));

    /* Owned by someone else (only root can make such a file). */
    if (geteuid() != 0) {
        fprintf(stderr, "skipped the secret-owner case: needs root to chown\n");
        return;
    }
    fx_init(&f);
    snprintf(secret, sizeof(secret), "%s/m2m.secret", f.dir);
    put_file(secret, "x\n", 2, 0600);
    CHECK(chown(secret, 1234, 1234) == 0);
    snprintf(text, sizeof(text), BASE "[sync]\nm2m_client_id = m2m\nm2m_client_secret_file = %s\n",
             secret);
    fx_put(&f, "logto.conf", text);
    snprintf(msg, sizeof(msg), "[sync] m2m_client_secret_file: %s is owned by uid 1234, not root",
             secret);
    expect_error(&f, LOGTO_E_UNSAFE, 6, msg);
}

static void test_read_secret(void)
{
    struct fx f;
    struct logto_error err = { 0 };
    char path[256];
    char *s = NULL;

    fx_init(&f);
    snprintf(path, sizeof(path), "%s/ok.secret", f.dir);
    put_file(path, "s3cr3t value\r\n", 14, 0600);
    CHECK_INT(logto_config_read_secret(path, &s, &err), 0);
    CHECK_STR(s, "s3cr3t value");
    logto_free_secret(s);
    s = NULL;

    put_file(path, "s3cr3t\n", 7, 0640);
    CHECK_INT(logto_config_read_secret(path, &s, &err), -LOGTO_E_UNSAFE);
    CHECK(s == NULL);
    CHECK(!strstr(err.message, "s3cr3t"));

    put_file(path, "\n", 1, 0600);
    CHECK_INT(logto_config_read_secret(path, &s, &err), -LOGTO_E_CONFIG);
    put_file(path, "line one\nline two\n", 18, 0600);
    CHECK_INT(logto_config_read_secret(path, &s, &err), -LOGTO_E_CONFIG);
    CHECK(!strstr(err.message, "two"));
    CHECK(s == NULL);
}

static void test_check_collects(void)
{
    struct fx f;
    char path[256], want[512];
    _cleanup_strv_ char **errors = NULL;
    struct logto_config *cfg = NULL;

    fx_new(&f, "[logto]\n"
               "endpoint = http://auth.example.com\n"
               "client_id = a\n"
               "timeout = forever\n"
               "[nope]\n"
               "key = 1\n"
               "[service *]\n"
               "password_method = management\n");
    fx_put(&f, "conf.d/10.conf", "[log]\ndebug = perhaps\n");
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 5);
    CHECK(cfg == NULL);
    CHECK_INT(logto_strv_length(errors), 5);
    if (logto_strv_length(errors) != 5)
        return;
    snprintf(want, sizeof(want),
             "%s:2: [logto] endpoint: \"http://auth.example.com\" is not an https:// URL", f.path);
    CHECK_STR(errors[0], want);
    snprintf(want, sizeof(want),
             "%s:4: [logto] timeout: \"forever\" is not a duration (use 30, 30s, 5m)", f.path);
    CHECK_STR(errors[1], want);
    CHECK(logto_startswith(errors[2], f.path) && strstr(errors[2], ":5: unknown section [nope]"));
    snprintf(path, sizeof(path), "%s/conf.d/10.conf", f.dir);
    snprintf(want, sizeof(want), "%s:2: [log] debug: \"perhaps\" is not a boolean (use yes or no)",
             path);
    CHECK_STR(errors[3], want);
    CHECK(logto_startswith(errors[4], f.path) &&
          strstr(errors[4], ":8: [service *] password_method: management bypasses MFA"));

    /* An unreadable file is the only error: keys it may hold are not also called missing. */
    logto_strv_free(errors);
    errors = NULL;
    fx_new(&f, "[logto]\nendpoint = https://auth.example.com\n");
    fx_put_mode(&f, "conf.d/10-app.conf", "[logto]\nclient_id = a\n", 0666);
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 1);
    snprintf(path, sizeof(path), "%s/conf.d/10-app.conf", f.dir);
    CHECK(logto_startswith(errors ? errors[0] : "", path));

    /* A valid configuration: 0, no errors. */
    logto_strv_free(errors);
    errors = NULL;
    fx_new(&f, BASE);
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 0);
    CHECK(cfg != NULL);
    CHECK(errors == NULL);
    logto_config_free(cfg);
}

/* The checks only config check makes (they look at the system): each one an error naming
 * file:line:key and what to do; the plain load does not make them. */
static void expect_check(const char *text, const char *want_line, const char *want)
{
    struct fx f;
    _cleanup_strv_ char **errors = NULL;
    struct logto_config *cfg = NULL;
    char path[256];

    fx_new(&f, text);
    snprintf(path, sizeof(path), "%s:%s: ", f.path, want_line);
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 1);
    CHECK(errors && logto_startswith(errors[0], path) && strstr(errors[0], want));
    if (errors && !strstr(errors[0], want))
        fprintf(stderr, "got: %s\n", errors[0]);
    logto_config_free(cfg);
}

static void test_system_checks(void)
{
    struct fx f;
    char dir[300], ca[300];
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };

    /* The issuer pasted as the endpoint: refused by every load, not only by config check. */
    fx_new(&f, "[logto]\nendpoint = https://auth.example.com/oidc\nclient_id = a\n");
    CHECK_INT(logto_config_load(f.path, &cfg, &err), -LOGTO_E_CONFIG);
    CHECK(strstr(err.message, "ends in /oidc") != NULL);
    expect_check("[logto]\nendpoint = https://auth.example.com/oidc/\nclient_id = a\n", "2",
                 "[logto] endpoint: \"https://auth.example.com/oidc\" ends in /oidc: the endpoint "
                 "is the Logto tenant's base URL");

    /* A CA file without a certificate (a key, DER, an empty file). */
    fx_init(&f);
    snprintf(ca, sizeof(ca), "%s/ca.pem", f.dir);
    put_file(ca, "\x30\x82\x01\x0a", 4, 0644);
    {
        char conf[512];
        snprintf(conf, sizeof(conf), BASE "ca_file = %s\n", ca);
        expect_check(conf, "4", "holds no PEM certificate");
        put_file(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 60, 0644);
        fx_new(&f, conf);
        CHECK_INT(logto_config_load(f.path, &cfg, &err), 0);
        logto_config_free(cfg);
        cfg = NULL;
    }

    /* state_dir and cache_dir: writable by others, or under a parent that is. */
    fx_init(&f);
    snprintf(dir, sizeof(dir), "%s/open", f.dir);
    CHECK(mkdir(dir, 0777) == 0 && chmod(dir, 0777) == 0);
    expect_check(BASE "[paths]\nstate_dir = @DIR@/open\n", "5", "[paths] state_dir: ");
    snprintf(dir, sizeof(dir), "%s/open", f.dir);
    {
        char conf[512];
        snprintf(conf, sizeof(conf), BASE "[paths]\ncache_dir = %s/open/not/yet\n", f.dir);
        expect_check(conf, "5", "(not created yet): ");
        expect_check(conf, "5",
                     "is writable by group or others (mode 0777); make it and every "
                     "parent directory owned by root");
        /* The plain load (the PAM module) leaves this to the moment the directory is used. */
        fx_new(&f, conf);
        CHECK_INT(logto_config_load(f.path, &cfg, &err), 0);
        logto_config_free(cfg);
        cfg = NULL;
        CHECK(chmod(dir, 0755) == 0);
        fx_new(&f, conf);
        _cleanup_strv_ char **errors = NULL;
        CHECK_INT(logto_config_check(f.path, &cfg, &errors), 0);
        logto_config_free(cfg);
        cfg = NULL;
        if (chown(dir, 1, 1) == 0) { /* not owned by root (as root only) */
            expect_check(conf, "5", "is owned by uid 1, not root");
        }
    }
}

static void test_service_resolution(void)
{
    struct fx f;
    struct logto_error err = { 0 };
    struct logto_service *svc = NULL;

    fx_new(&f, BASE "password_client_id = pw\n"
                    "[service *]\n"           /* 5 */
                    "flow = both\n"           /* 6 */
                    "require_roles = staff\n" /* 7 */
                    "qr = no\n"               /* 8 */
                    "[service sshd]\n"        /* 9 */
                    "require_roles = admin ops\n"
                    "enter_prompt = yes\n"
                    "deny_users = mallory\n"
                    "[service sudo]\n"
                    "require_roles =\n");
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;

    /* [service sshd] over [service *] over the built-in defaults. */
    CHECK_INT(logto_config_service(cfg, "sshd", 0, NULL, &svc, &err), 0);
    if (svc) {
        CHECK_STR(svc->name, "sshd");
        CHECK_INT(svc->flow, LOGTO_FLOW_BOTH);
        CHECK_INT(svc->password_method, LOGTO_PW_EXPERIENCE);
        _cleanup_free_ char *roles = logto_strv_join(svc->require_roles, ",");
        CHECK_STR(roles, "admin,ops");
        CHECK_INT(svc->qr, 0);
        CHECK_INT(svc->enter_prompt, LOGTO_YES);
        CHECK_INT(svc->claims_max_age, 300);
        _cleanup_free_ char *deny = logto_strv_join(svc->deny_users, ",");
        CHECK_STR(deny, "mallory");
        CHECK_STR(svc->file, f.path);
        CHECK_INT(svc->line, 9);
    }
    logto_service_free(svc);
    svc = NULL;

    /* An empty list in a named section removes the inherited rule. */
    CHECK_INT(logto_config_service(cfg, "sudo", 0, NULL, &svc, &err), 0);
    CHECK(svc && svc->require_roles == NULL);
    logto_service_free(svc);
    svc = NULL;

    /* A service without a section gets [service *]. */
    CHECK_INT(logto_config_service(cfg, "login", 0, NULL, &svc, &err), 0);
    if (svc) {
        _cleanup_free_ char *roles = logto_strv_join(svc->require_roles, ",");
        CHECK_STR(roles, "staff");
        CHECK_INT(svc->line, 5);
        CHECK(svc->deny_users == NULL);
    }
    logto_service_free(svc);
    svc = NULL;

    /* PAM arguments override everything; the last one of a key wins. */
    const char *args[] = { "debug",
                           "config=/etc/other/logto.conf",
                           "qr=yes",
                           "[allow_users=alice bob]",
                           "require_orgs=o1,o2,o1",
                           "claims_max_age=1m",
                           "flow=password",
                           "flow=device",
                           NULL };
    CHECK_INT(logto_config_service(cfg, "sshd", 8, args, &svc, &err), 0);
    if (svc) {
        CHECK_INT(svc->qr, 1);
        _cleanup_free_ char *allow = logto_strv_join(svc->allow_users, ",");
        CHECK_STR(allow, "alice,bob");
        _cleanup_free_ char *orgs = logto_strv_join(svc->require_orgs, ",");
        CHECK_STR(orgs, "o1,o2");
        CHECK_INT(svc->claims_max_age, 60);
        CHECK_INT(svc->flow, LOGTO_FLOW_DEVICE);
        _cleanup_free_ char *roles = logto_strv_join(svc->require_roles, ",");
        CHECK_STR(roles, "admin,ops");
    }
    logto_service_free(svc);
    svc = NULL;

    static const struct {
        const char *arg;
        const char *message;
    } bad[] = {
        { "nonsense", "unknown PAM argument \"nonsense\"" },
        { "timeout=5", "unknown PAM argument \"timeout=5\" (set it in logto.conf)" },
        { "qr=maybe", "PAM argument qr: \"maybe\" is not a boolean (use yes or no)" },
        { "allow_users=Alice", "PAM argument allow_users: \"Alice\" is not a valid user name "
                               "([a-z_][a-z0-9_.-]*)" },
        { "password_method=management", "PAM argument password_method: management needs [sync] "
                                        "m2m_client_id and m2m_client_secret_file" },
        { "password_method=grant", "PAM argument password_method: grant needs profile generic "
                                   "(Logto has no password grant; use experience or pat)" },
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        const char *one[] = { bad[i].arg };
        CHECK_INT(logto_config_service(cfg, "sshd", 1, one, &svc, &err), -LOGTO_E_CONFIG);
        CHECK(svc == NULL);
        CHECK_STR(err.message, bad[i].message);
    }
    CHECK_INT(logto_config_service(cfg, "", 0, NULL, &svc, &err), -LOGTO_E_INVAL);

    /* Without password_client_id, a PAM argument cannot switch on password sign-in. */
    struct fx g;
    fx_new(&g, BASE);
    _cleanup_(logto_config_freep) struct logto_config *plain = load_ok(&g);
    if (!plain)
        return;
    const char *pw[] = { "flow=both" };
    CHECK_INT(logto_config_service(plain, "login", 1, pw, &svc, &err), -LOGTO_E_CONFIG);
    CHECK_STR(err.message, "service login: password_method experience needs [logto] "
                           "password_client_id");
}

static void test_management_opt_in(void)
{
    struct fx f;
    struct logto_error err = { 0 };
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL, *other = NULL;
    char text[512], secret[256];

    fx_init(&f);
    snprintf(secret, sizeof(secret), "%s/m2m.secret", f.dir);
    put_file(secret, "x\n", 2, 0600);
    snprintf(text, sizeof(text),
             BASE "[sync]\nm2m_client_id = m2m\nm2m_client_secret_file = %s\n"
                  "[service sudo]\nflow = password\npassword_method = management\n",
             secret);
    fx_put(&f, "logto.conf", text);
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
    if (!cfg)
        return;
    CHECK_INT(logto_config_service(cfg, "sudo", 0, NULL, &svc, &err), 0);
    CHECK_INT(svc ? svc->password_method : 0, LOGTO_PW_MANAGEMENT);
    /* Other services are not opted in. */
    CHECK_INT(logto_config_service(cfg, "sshd", 0, NULL, &other, &err), 0);
    CHECK_INT(other ? other->password_method : 0, LOGTO_PW_EXPERIENCE);
}

/* A relay host (issue 18.5) holds no Management API credential and no signing key, and no
 * password method needs them. */
static void test_relay_host(void)
{
    struct fx f;
    char text[1024], pub[256], secret[256], key[256];
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_fixture(&f, "relay.conf");
    if (!cfg)
        return;
    CHECK_STR(cfg->relay_url, "https://mirror.example.org/logto");
    CHECK(cfg->m2m_client_id == NULL && cfg->publish_sign_key_file == NULL);

    fx_init(&f);
    snprintf(pub, sizeof(pub), "%s/publish.pub", f.dir);
    put_file(pub, "-----BEGIN PUBLIC KEY-----\n", 27, 0644);
    snprintf(secret, sizeof(secret), "%s/m2m.secret", f.dir);
    put_file(secret, "x\n", 2, 0600);
    snprintf(key, sizeof(key), "%s/publish.key", f.dir);
    put_file(key, "-----BEGIN PRIVATE KEY-----\n", 28, 0600);
#define RELAY BASE "[relay]\nurl = https://m.example.org/\npublic_key_file = %s\n"
    snprintf(text, sizeof(text), RELAY "[sync]\nm2m_client_id = m2m\nm2m_client_secret_file = %s\n",
             pub, secret);
    fx_put(&f, "logto.conf", text);
    expect_error(&f, LOGTO_E_CONFIG, 8,
                 "[sync] m2m_client_id: a relay host ([relay] url) holds no Management API "
                 "credential: remove m2m_client_id and m2m_client_secret_file (only the publisher "
                 "needs them: they can rewrite any user of the tenant)");
    snprintf(text, sizeof(text), RELAY "[publish]\nsign_key_file = %s\n", pub, key);
    fx_put(&f, "logto.conf", text);
    expect_error(&f, LOGTO_E_CONFIG, 8,
                 "[publish] sign_key_file: a relay host ([relay] url) holds no signing key: it "
                 "decides every relay host's users; keep it on the publisher only");
    snprintf(text, sizeof(text),
             RELAY "[service sudo]\nflow = password\npassword_method = management\n", pub);
    fx_put(&f, "logto.conf", text);
    expect_error(&f, LOGTO_E_CONFIG, 9,
                 "[service sudo] password_method: management checks passwords with the "
                 "Management API's M2M secret, which a relay host ([relay] url) never holds: use "
                 "experience or pat");
#undef RELAY
}

static void test_dump(void)
{
    struct fx f, g;
    _cleanup_(logto_config_freep) struct logto_config *cfg = load_full(&f);
    if (!cfg)
        return;
    _cleanup_free_ char *dump = dump_text(cfg);

    /* Every key, in its section; secret files by path, never their content. */
    size_t n;
    const struct logto_config_key *keys = logto_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "\n%s =", keys[i].name);
        CHECK(strstr(dump, needle) != NULL);
    }
    CHECK(strstr(dump, "client.secret") != NULL);
    CHECK(strstr(dump, "s3cr3t") == NULL);
    CHECK(strstr(dump, "\n[service *]\nflow = both\npassword_method = pat\n") != NULL);
    CHECK(strstr(dump, "\n[service sshd]\nflow = device\npassword_method = management\n"
                       "require_roles = admin dev\n") != NULL);
    CHECK(strstr(dump, "\nconnect_timeout = 1500ms\ntimeout = 2m\npoll_interval = 10s\n"
                       "max_response_size = 512K\n") != NULL);
    CHECK(strstr(dump, "\nid_range = 100000-165535\n") != NULL);
    CHECK(strstr(dump, "\ngroups = roles organization_roles\n") != NULL);
    CHECK(strstr(dump, "\ngroups_claim =\n") != NULL);
    CHECK(strstr(dump, "\n[user alice]\nshell = /usr/sbin/nologin\nhome = /srv/alice\n"
                       "gecos = Alice Example,Room 1,+1 555 0100\n") != NULL);

    /* The dump is a configuration that loads back to the same dump. */
    fx_new(&g, dump);
    _cleanup_(logto_config_freep) struct logto_config *again = load_ok(&g);
    _cleanup_free_ char *dump2 = again ? dump_text(again) : NULL;
    CHECK_STR(dump2, dump);

    /* The same for the defaults of both profiles. */
    static const char *const minimal[] = {
        BASE,
        "[logto]\nprofile = generic\nissuer = https://i.example/\nclient_id = a\n",
        /* fuzz_config: a value that starts with '#' was dumped as "key = #x", a comment */
        BASE "password_client_id =#native\n",
        /* and a list item that starts with '#' was joined as "a #b" */
        BASE "scopes = openid,#profile email\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(minimal); i++) {
        fx_new(&f, minimal[i]);
        _cleanup_(logto_config_freep) struct logto_config *c1 = load_ok(&f);
        _cleanup_free_ char *d1 = c1 ? dump_text(c1) : NULL;
        fx_new(&g, d1 ? d1 : "");
        _cleanup_(logto_config_freep) struct logto_config *c2 = load_ok(&g);
        _cleanup_free_ char *d2 = c2 ? dump_text(c2) : NULL;
        CHECK_STR(d2, d1);
    }
}

/* [organization ID] group = NAME: used as given; every bad section named by file, line and key. */
static void test_org_groups(void)
{
    struct fx f;
    _cleanup_strv_ char **errors = NULL;
    struct logto_config *cfg = NULL;
    static const char *const want[] = {
        ":6: [organization]: \"bad/id\" is not an organization ID",
        ":9: [organization b2] group: \"Acme\" is not a group name",
        ":17: [organization r1] unknown key \"colour\"",
        ":11: [organization c3] group: \"acme\" is already the group of [organization a1] "
        "(\"acme\", ",
        ":13: [organization d4] group: \"acme-admin\" could be a role group of [organization a1]",
        ":15: [organization e5] group: \"mysql\" is reserved for the system",
        ":16: [organization r1] sets no group",
        ":19: [organization f6] group: \"org-x\" starts with [identity] org_group_prefix",
        ":21: [organization g7] group: \"systemd\" would name its role groups like the system's",
        ":23: [organization h8] group: \"logto-ops\" starts with [identity] role_group_prefix",
        ":25: [organization i9] group: \"appsvc\" is listed in [identity] reserved_names",
    };

    fx_new(&f, BASE "[organization a1]\ngroup = acme\n[organization bad/id]\ngroup = x\n"
                    "[organization b2]\ngroup = Acme\n[organization c3]\ngroup = acme\n"
                    "[organization d4]\ngroup = acme-admin\n[organization e5]\ngroup = mysql\n"
                    "[organization r1]\ncolour = blue\n[organization f6]\ngroup = org-x\n"
                    "[organization g7]\ngroup = systemd\n[organization h8]\ngroup = logto-ops\n"
                    "[organization i9]\ngroup = appsvc\n[identity]\nreserved_names = appsvc\n");
    /* + 1: acme-admin could be a role group of both organizations named acme */
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), (int)ELEMENTSOF(want) + 1);
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        bool found = false;
        for (size_t k = 0; errors && errors[k] && !found; k++)
            found = logto_startswith(errors[k], f.path) && strstr(errors[k], want[i]);
        if (!found)
            fprintf(stderr, "no error like '%s'\n", want[i]);
        CHECK(found);
    }
    logto_strv_free(TAKE_PTR(errors));

    /* A valid one: the name as given, looked up by the exact ID; the ID form stays the default.
     * Without the prefix, role names compete with it: that is left to the group mapping. */
    fx_new(&f, BASE "[organization pbl95zlwkzx4]\ngroup = acme\n[identity]\nrole_group_prefix =\n");
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 0);
    CHECK_STR(logto_config_org_group(cfg, "pbl95zlwkzx4"), "acme");
    CHECK(logto_config_org_group(cfg, "PBL95ZLWKZX4") == NULL);
    CHECK(logto_config_org_group(cfg, "qmmg1gvtd5ib") == NULL);
    logto_config_free(cfg);
    cfg = NULL;
    /* An empty organization prefix: every name may be an ID's group. */
    fx_new(&f, BASE "[organization a1]\ngroup = acme\n[identity]\norg_group_prefix =\n");
    CHECK_INT(logto_config_check(f.path, &cfg, &errors), 1);
    CHECK(errors && strstr(errors[0], "starts with [identity] org_group_prefix \"\""));
}

static void test_keys(void)
{
    size_t n = 0;
    const struct logto_config_key *keys = logto_config_keys(&n);
    static const char *const sections[] = { "logto", "identity",    "sync", "publish",
                                            "relay", "paths",       "log",  "service",
                                            "user",  "organization" };

    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t s = 0; s < ELEMENTSOF(sections); s++)
            known = known || strcmp(keys[i].section, sections[s]) == 0;
        CHECK(known);
        CHECK(keys[i].name && *keys[i].name && keys[i].type && *keys[i].type);
        CHECK(keys[i].doc && *keys[i].doc);
        /* Names are unique across sections: error hints and PAM arguments rely on it. [user
         * NAME] reuses [identity]'s shell and home for the same values of one user. */
        for (size_t j = 0; j < i; j++)
            CHECK(
                strcmp(keys[i].name, keys[j].name) != 0 ||
                (strcmp(keys[i].section, "user") == 0 && strcmp(keys[j].section, "identity") == 0));
    }
    /* Profile-dependent defaults show both. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].name, "password_method") == 0) {
            CHECK_STR(keys[i].def, "experience; generic: grant");
            CHECK_STR(keys[i].type, "experience|pat|management|grant");
        }
        if (strcmp(keys[i].name, "scopes") == 0)
            CHECK_STR(keys[i].def, "openid offline_access profile email roles custom_data "
                                   "identities urn:logto:scope:organizations "
                                   "urn:logto:scope:organization_roles; generic: openid "
                                   "offline_access profile email");
        if (strcmp(keys[i].name, "groups") == 0)
            CHECK_STR(keys[i].type, "list of roles|organizations|organization_roles");
        if (strcmp(keys[i].name, "client_id") == 0)
            CHECK(keys[i].def == NULL);
    }
}

/* The shipped sample: every key appears, commented out at its default. */
static void test_sample(void)
{
    _cleanup_free_ char *sample = read_text(TEST_SRCDIR "/etc/logto.conf");
    size_t n;
    const struct logto_config_key *keys = logto_config_keys(&n);

    for (size_t i = 0; i < n; i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "\n#%s =", keys[i].name);
        if (!strstr(sample, needle))
            fprintf(stderr, "etc/logto.conf does not show %s\n", keys[i].name);
        CHECK(strstr(sample, needle) != NULL);
    }

    /* As shipped, the sample sets nothing: loading it asks for the required keys. */
    struct fx f;
    fx_new(&f, sample);
    expect_error(&f, LOGTO_E_CONFIG, 0,
                 "[logto] endpoint: is required (the Logto URL, e.g. https://auth.example.com)");

    /* Uncomment every key of the global sections and of the [service *] block: the result must
     * be the defaults. [paths] depends on ./configure, the other service blocks are examples. */
    size_t len = strlen(sample);
    char *text = malloc(len + 1), *w = text;
    bool active = false;
    for (const char *line = sample; *line;) {
        const char *end = strchr(line, '\n');
        size_t l = end ? (size_t)(end - line) + 1 : strlen(line);
        bool key_line = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z';
        if (line[0] == '[')
            active = !logto_startswith(line, "[paths]");
        if (logto_startswith(line, "#["))
            active = logto_startswith(line, "#[service *]");
        if ((key_line && active) || (logto_startswith(line, "#[service *]"))) {
            memcpy(w, line + 1, l - 1);
            w += l - 1;
        } else {
            memcpy(w, line, l);
            w += l;
        }
        line += l;
    }
    *w = '\0';
    fx_new(&f, text);
    free(text);
    _cleanup_(logto_config_freep) struct logto_config *uncommented = load_ok(&f);
    fx_new(&f, "[logto]\nendpoint = https://auth.example.com\nclient_id = your-device-app-id\n");
    _cleanup_(logto_config_freep) struct logto_config *defaults = load_ok(&f);
    if (!uncommented || !defaults)
        return;
    CHECK_INT(uncommented->n_services, 1);
    _cleanup_free_ char *d1 = dump_text(uncommented), *d2 = dump_text(defaults);
    CHECK_STR(d1, d2);
}

/* Drops the "==pid== ..." lines valgrind adds to stderr when it is the test wrapper. */
static void drop_valgrind_lines(char *text)
{
    char *w = text;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        size_t digits = line[0] == '=' && line[1] == '=' ? strspn(line + 2, "0123456789") : 0;
        if (!(digits > 0 && line[2 + digits] == '=' && line[3 + digits] == '=')) {
            memmove(w, line, len);
            w += len;
        }
        line += len;
    }
    *w = '\0';
}

/* Runs logtoctl (under $LOGTO_TEST_WRAPPER, if set) with its output in files. */
static int run_logtoctl(const char *cwd, const char *const *args, char **out, char **errout)
{
    const char *logtoctl = getenv("LOGTOCTL") ? getenv("LOGTOCTL") : TEST_BUILDDIR "/cli/logtoctl";
    char outpath[128], errpath[128];
    const char *argv[16];
    size_t n = 0;
    int status = -1;

    snprintf(outpath, sizeof(outpath), "%s/stdout", root);
    snprintf(errpath, sizeof(errpath), "%s/stderr", root);
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "exec ${LOGTO_TEST_WRAPPER:-} \"$0\" \"$@\"";
    argv[n++] = logtoctl;
    for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    ensure_root();
    pid_t pid = fork();
    if (pid == 0) {
        if (cwd && chdir(cwd) < 0)
            _exit(127);
        int o = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    CHECK(pid > 0);
    if (pid > 0)
        waitpid(pid, &status, 0);
    *out = read_text(outpath);
    *errout = read_text(errpath);
    drop_valgrind_lines(*errout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void)
{
    struct fx f;
    char want[512];

    fx_new(&f, "[logto]\nendpoint = https://auth.example.com\nclient_id = a\n"
               "[service sshd]\nqr = perhaps\ntimeout = 5\n");
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 3);
        snprintf(want, sizeof(want),
                 "%s:5: [service sshd] qr: \"perhaps\" is not a boolean (use yes or no)\n"
                 "%s:6: [service sshd] unknown key \"timeout\" (it belongs in [logto])\n",
                 f.path, f.path);
        CHECK_STR(err, want);
        CHECK_STR(out, "");
    }

    fx_new(&f, BASE);
    {
        /* The global --config works too; a relative path is taken from the working dir. */
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "--config", "logto.conf", "config", "check", NULL };
        CHECK_INT(run_logtoctl(f.dir, args, &out, &err), 0);
        snprintf(want, sizeof(want),
                 "configuration OK: %s\nnotice: PAM services without a [service NAME] section "
                 "admit nobody (no [service *] rules)\n# effective configuration",
                 f.path);
        CHECK(logto_startswith(out, want));
        CHECK(strstr(out, "\n[logto]\nprofile = logto\nendpoint = https://auth.example.com\n"));
        CHECK(strstr(out, "\n[service *]\nflow = device\n"));
        CHECK_STR(err, "");
    }
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "--json", "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        CHECK(strstr(out, "\"ok\": true"));
        CHECK(strstr(out, f.path));
    }
    /* 0600 is no error, but a notice: unprivileged PAM programs cannot read the file. */
    fx_put_mode(&f, "logto.conf", BASE, 0600);
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        snprintf(want, sizeof(want),
                 "notice: %s: mode 0600: unprivileged PAM programs (screen lockers) and logtoctl "
                 "run by users cannot read it; it holds no secret: 0644 is the intended mode\n",
                 f.path);
        CHECK_STR(err, want);
        CHECK(strstr(out, "configuration OK: "));
    }
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "--json", "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        CHECK(strstr(out, "\"ok\": true"));
        CHECK(strstr(out, "\"notices\": [\n    \""));
        CHECK(strstr(out, "mode 0600: unprivileged PAM programs"));
    }

    /* Deny by default, said out loud: who is open to the whole tenant, who admits nobody. */
    fx_new(&f, BASE "[service *]\nallow_any_user = yes\n[service sudo]\nrequire_roles = admin\n"
                    "[service su]\nallow_any_user = no\n");
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        snprintf(want, sizeof(want),
                 "notice: [service *] (%s:4) admits every user of the Logto tenant "
                 "(allow_any_user = yes)\n",
                 f.path);
        CHECK_CONTAINS(out, want);
        snprintf(want, sizeof(want),
                 "warning: [service su] (%s:8) admits nobody: set require_roles, require_orgs, "
                 "require_org_roles or allow_users (or allow_any_user = yes)\n",
                 f.path);
        CHECK_CONTAINS(out, want);
        CHECK(!strstr(out, "[service sudo] ("));
    }
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "--json", "config", "check", "--config", f.path, NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        CHECK(strstr(out, "\"name\": \"*\",\n      \"admits\": \"everyone\""));
        CHECK(strstr(out, "\"name\": \"sudo\",\n      \"admits\": \"rules\""));
        CHECK(strstr(out, "\"name\": \"su\",\n      \"admits\": \"nobody\""));
    }
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "config", "keys", NULL };
        size_t n, lines = 0;
        logto_config_keys(&n);
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 0);
        for (const char *p = out; (p = strchr(p, '\n')); p++)
            lines++;
        CHECK_INT(lines, n);
        CHECK(strstr(out, "logto\ttimeout\tduration\t15s\t"));
        CHECK(strstr(out, "identity\trole_group_prefix\tprefix\tlogto-\t"));
        CHECK(strstr(out, "logto\tclient_id\tstring\t-\t"));
    }
    {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[] = { "config", "frobnicate", NULL };
        CHECK_INT(run_logtoctl(NULL, args, &out, &err), 2);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Descriptors: the loader runs inside sshd, sudo and su, whose children must not inherit any
 * descriptor of ours. fdopendir is wrapped (-Wl,--wrap=fdopendir): at the moment a descriptor
 * is handed to it, a child is exec'd, as another thread of the host program might do. */

DIR *__real_fdopendir(int fd);
static int fdopendir_calls, fdopendir_leaks;

static bool child_sees_fd(int fd)
{
    char sh[] = "sh", c[] = "-c", script[64];
    pid_t pid;
    int status = 0;

    snprintf(script, sizeof(script), "[ -e /proc/self/fd/%d ]", fd);
    char *argv[] = { sh, c, script, NULL };
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        return false;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

DIR *__wrap_fdopendir(int fd);
DIR *__wrap_fdopendir(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    fdopendir_calls++;
    if (flags < 0 || !(flags & FD_CLOEXEC) || child_sees_fd(fd))
        fdopendir_leaks++;
    return __real_fdopendir(fd);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_descriptors(void)
{
    struct fx f;
    int before;

    fx_new(&f, BASE);
    fx_put(&f, "conf.d/10-a.conf", "[logto]\ntimeout = 20s\n");
    fdopendir_calls = fdopendir_leaks = 0;
    before = count_fds();
    {
        _cleanup_(logto_config_freep) struct logto_config *cfg = load_ok(&f);
        CHECK(cfg != NULL);
    }
    CHECK(fdopendir_calls >= 1); /* the drop-in directory was listed */
    CHECK_INT(fdopendir_leaks, 0);
    CHECK_INT(count_fds(), before); /* and nothing stays open after the load */
    /* The same for check, which collects every error. */
    {
        struct logto_config *cfg = NULL;
        _cleanup_strv_ char **errors = NULL;
        CHECK_INT(logto_config_check(f.path, &cfg, &errors), 0);
        logto_config_free(cfg);
    }
    CHECK_INT(fdopendir_leaks, 0);
    CHECK_INT(count_fds(), before);
}

/* ------------------------------------------------------------------------------------------ */
/* The locale: su and sudo call setlocale() with the user's locale before PAM runs. In an 8-bit
 * locale bytes >= 0x80 are letters or spaces to <ctype.h> (Latin-1: 0xA0 is a no-break space,
 * 0xE9 a letter), so a parser built on it would read the same file differently there. */

/* Switch LC_ALL to a Latin-1 locale: an installed one, else one built with localedef into the
 * test directory (found through LOCPATH). Returns false when none can be had. */
static bool latin1_locale(void)
{
    static const char *const names[] = { "en_US.ISO-8859-1", "de_DE.ISO-8859-1", "en_US.iso88591",
                                         "de_DE", "fr_FR" };
    char built[96], prog[] = "localedef", i_opt[] = "-i", source[] = "en_US", f_opt[] = "-f",
                    charmap[] = "ISO-8859-1";
    pid_t pid;
    int status = 0;

    /* 0xE9 (e acute) is a letter in Latin-1, nothing in C or UTF-8. */
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (setlocale(LC_ALL, names[i]) && isalnum(0xE9))
            return true;
    ensure_root();
    snprintf(built, sizeof(built), "%s/latin1", root);
    char *argv[] = { prog, i_opt, source, f_opt, charmap, built, NULL };
    if (posix_spawnp(&pid, "localedef", NULL, NULL, argv, environ) != 0)
        return false;
    waitpid(pid, &status, 0);
    setenv("LOCPATH", root, 1);
    return setlocale(LC_ALL, "latin1") && isalnum(0xE9) && islower(0xE9);
}

/* The outcome of loading text: the error message, or "ok: client_id=<value>". */
static char *outcome(const char *text)
{
    struct fx f;
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    char *out;

    fx_new(&f, text);
    if (logto_config_load(f.path, &cfg, &err) < 0)
        out = logto_asprintf("error: %s", err.message + strlen(f.path));
    else
        out = logto_asprintf("ok: client_id=%s", cfg->client_id);
    logto_config_free(cfg);
    return out;
}

static void test_locale(void)
{
    static const char *const texts[] = {
        /* A trailing no-break space after a value, before a comment, after a section (glibc
         * does not class it as a space, other C libraries may). */
        "[logto]\nendpoint = https://auth.example.com\nclient_id = app\xa0\n",
        "[logto]\nendpoint = https://auth.example.com\nclient_id = app\xa0# c\n",
        "[logto]\xa0\nendpoint = https://auth.example.com\nclient_id = app\n",
        /* Latin-1 letters in a service name, a claim, a custom_data key, a group prefix. */
        BASE "[service ssh\xe9]\nflow = device\n",
        BASE "[identity]\ngecos_claim = n\xe9\n",
        BASE "[identity]\nuid_key = uid\xe9\n",
        BASE "[identity]\nrole_group_prefix = \xe9t\xe9-\n",
        BASE "[logto]\nresources = h\xe9ttps://api.example.com\n",
        /* Case-insensitive booleans: the same in every locale. */
        BASE "[service *]\nqr = YES\n",
    };
    char *in_c[ELEMENTSOF(texts)];
    char *saved = strdup(setlocale(LC_ALL, NULL));

    for (size_t i = 0; i < ELEMENTSOF(texts); i++)
        in_c[i] = outcome(texts[i]);
    /* In the C locale, none of these bytes is a space or a letter. */
    CHECK(logto_startswith(in_c[0], "error: "));
    CHECK(logto_startswith(in_c[3], "error: "));
    CHECK(logto_startswith(in_c[8], "ok: "));
    /* The helpers are ASCII-only whatever the locale. */
    for (int c = 0x80; c < 0x100; c++)
        CHECK(!logto_ascii_space(c) && !logto_ascii_alnum(c) && !logto_ascii_alpha(c) &&
              !logto_ascii_digit(c) && logto_ascii_tolower(c) == c);
    CHECK_INT(logto_ascii_strcasecmp("Bearer", "BEARER"), 0);
    CHECK(logto_ascii_strcasecmp("\xc9", "\xe9") != 0);

    if (!latin1_locale()) {
        fprintf(stderr, "no Latin-1 locale (and no localedef): the parser was only checked in C\n");
    } else {
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
            _cleanup_free_ char *in_latin1 = outcome(texts[i]);
            CHECK_STR(in_latin1, in_c[i]);
        }
        CHECK(logto_ascii_strcasecmp("\xc9", "\xe9") != 0); /* strcasecmp says 0 here */
    }
    setlocale(LC_ALL, saved ? saved : "C");
    unsetenv("LOCPATH");
    free(saved);
    for (size_t i = 0; i < ELEMENTSOF(texts); i++)
        free(in_c[i]);
}

TEST_MAIN(TEST(test_defaults), TEST(test_generic_defaults), TEST(test_every_key),
          TEST(test_every_key_generic), TEST(test_syntax), TEST(test_errors),
          TEST(test_line_and_file_limits), TEST(test_dropins), TEST(test_unsafe_files),
          TEST(test_secret_files), TEST(test_read_secret), TEST(test_check_collects),
          TEST(test_system_checks), TEST(test_org_groups), TEST(test_service_resolution),
          TEST(test_management_opt_in), TEST(test_relay_host), TEST(test_dump), TEST(test_keys),
          TEST(test_sample), TEST(test_cli), TEST(test_descriptors), TEST(test_locale))
