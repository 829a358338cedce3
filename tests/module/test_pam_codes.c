/* SPDX-License-Identifier: MIT */
/*
 * The exact PAM return code of one pam_logto operation, for tests/integration/pam_codes.sh.
 * Runs under pam_wrapper (PAM_WRAPPER=1, PAM_WRAPPER_SERVICE_DIR): pamtester only says
 * "failure", this says which.
 *
 *   test_pam_codes SERVICE USER OP EXPECTED [ANSWER...]
 *       The operation through libpam (libpamtest's run_pamtest): the service's stack decides.
 *       With one `required` pam_logto line that is the module's own code, except PAM_IGNORE,
 *       which libpam turns into a stack failure.
 *   test_pam_codes --direct ARG... -- SERVICE USER OP EXPECTED [ANSWER...]
 *       Call the module's pam_sm_* entry point itself ($LOGTO_PAM_MODULE, dlopen) on a handle
 *       from pam_start, with ARG... as its module arguments: shows PAM_IGNORE exactly.
 *
 * OP: auth, setcred, account, open_session, close_session; or a comma-separated sequence of
 * them run on one PAM handle, where user=NAME sets PAM_USER in between (as a module or the
 * application could): "auth,user=root,account". The sequence stops at the first step that fails
 * (PAM_IGNORE counts as success for direct calls); EXPECTED is that step's code, or the last's.
 * Sequences run with no failure delay (PAM_FAIL_DELAY). EXPECTED: a PAM code name
 * (PAM_SUCCESS, PAM_IGNORE, ...). ANSWERs reply to echo-off prompts in order. Prints the code
 * and every message the module sent; exits 0 when the code is EXPECTED, 1 otherwise.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

#define MAX_MESSAGES 32

static const struct {
    const char *name;
    int code;
} codes[] = {
#define C(x)                                                                                       \
    {                                                                                              \
#x, x                                                                                      \
    }
    C(PAM_SUCCESS),          C(PAM_OPEN_ERR),     C(PAM_SYMBOL_ERR),
    C(PAM_SERVICE_ERR),      C(PAM_SYSTEM_ERR),   C(PAM_BUF_ERR),
    C(PAM_PERM_DENIED),      C(PAM_AUTH_ERR),     C(PAM_CRED_INSUFFICIENT),
    C(PAM_AUTHINFO_UNAVAIL), C(PAM_USER_UNKNOWN), C(PAM_MAXTRIES),
    C(PAM_NEW_AUTHTOK_REQD), C(PAM_ACCT_EXPIRED), C(PAM_SESSION_ERR),
    C(PAM_CRED_UNAVAIL),     C(PAM_CRED_EXPIRED), C(PAM_CRED_ERR),
    C(PAM_CONV_ERR),         C(PAM_AUTHTOK_ERR),  C(PAM_ABORT),
    C(PAM_IGNORE),           C(PAM_INCOMPLETE),   C(PAM_BAD_ITEM),
#undef C
};

static const char *code_name(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].name;
    return "(unknown)";
}

static int code_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    fprintf(stderr, "test_pam_codes: unknown PAM code %s\n", name);
    exit(2);
}

typedef int (*pam_sm_fn)(pam_handle_t *, int, int, const char **);

static int call_setcred(pam_handle_t *pamh, int flags)
{
    return pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
}

static const struct {
    const char *op;
    enum pamtest_ops pamtest;
    const char *entry;
    int (*api)(pam_handle_t *, int); /* the libpam call, for sequences through the stack */
} ops[] = {
    { "auth", PAMTEST_AUTHENTICATE, "pam_sm_authenticate", pam_authenticate },
    { "setcred", PAMTEST_SETCRED, "pam_sm_setcred", call_setcred },
    { "account", PAMTEST_ACCOUNT, "pam_sm_acct_mgmt", pam_acct_mgmt },
    { "open_session", PAMTEST_OPEN_SESSION, "pam_sm_open_session", pam_open_session },
    { "close_session", PAMTEST_CLOSE_SESSION, "pam_sm_close_session", pam_close_session },
};

static int op_index(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        if (strlen(ops[k].op) == len && strncmp(ops[k].op, name, len) == 0)
            return (int)k;
    return -1;
}

/* ---------------------------------------------------------------- direct calls */

struct answers {
    char **v;
    int n, next;
};

/* A conversation for direct calls: echo-off prompts get the answers, messages are printed. */
static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    struct answers *a = data;
    struct pam_response *r = calloc((size_t)n, sizeof(*r));

    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            printf("prompt: %s\n", msg[i]->msg);
            if (a->next >= a->n) {
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_CONV_ERR;
            }
            r[i].resp = strdup(a->v[a->next++]);
            break;
        default:
            printf("message: %s\n", msg[i]->msg);
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static void *module_handle(void)
{
    const char *path = getenv("LOGTO_PAM_MODULE");
    void *h;

    if (!path) {
        fprintf(stderr, "SKIP: LOGTO_PAM_MODULE is not set\n");
        exit(77);
    }
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(2);
    }
    return h;
}

static int run_direct(const char *entry, const char *service, const char *user, int argc,
                      const char **argv, struct answers *a)
{
    struct pam_conv c = { conv, a };
    pam_handle_t *pamh = NULL;
    void *h = module_handle();
    pam_sm_fn fn = (pam_sm_fn)dlsym(h, entry);
    int r;

    if (!fn) {
        fprintf(stderr, "%s: no %s\n", getenv("LOGTO_PAM_MODULE"), entry);
        exit(2);
    }
    r = pam_start(service, user, &c, &pamh);
    if (r != PAM_SUCCESS) {
        fprintf(stderr, "pam_start: %s\n", pam_strerror(pamh, r));
        exit(2);
    }
    r = fn(pamh, 0, argc, argv);
    pam_end(pamh, r);
    /* pam_logto is linked -z nodelete: dlclose keeps it, as libpam's would. */
    dlclose(h);
    return r;
}

/* ---------------------------------------------------------------- through libpam */

/* libpamtest copies messages into buffers the caller provides (PAM_MAX_MSG_SIZE each). */
static char err_buf[MAX_MESSAGES][PAM_MAX_MSG_SIZE], info_buf[MAX_MESSAGES][PAM_MAX_MSG_SIZE];

static int run_stack(enum pamtest_ops op, int expected, const char *service, const char *user,
                     struct answers *a)
{
    char *out_err[MAX_MESSAGES + 1] = { 0 }, *out_info[MAX_MESSAGES + 1] = { 0 };
    const char *in[MAX_MESSAGES + 1] = { 0 };
    struct pamtest_conv_data data = {
        .in_echo_off = in,
        .in_echo_on = in,
        .out_err = out_err,
        .out_info = out_info,
    };
    struct pam_testcase tests[] = { pam_test(op, expected) };
    enum pamtest_err perr;

    for (int i = 0; i < MAX_MESSAGES; i++) {
        out_err[i] = err_buf[i];
        out_info[i] = info_buf[i];
    }
    for (int i = 0; i < a->n && i < MAX_MESSAGES; i++)
        in[i] = a->v[i];
    perr = run_pamtest(service, user, &data, tests, NULL);
    for (int i = 0; i < MAX_MESSAGES && info_buf[i][0]; i++)
        printf("info: %.*s\n", PAM_MAX_MSG_SIZE, info_buf[i]);
    for (int i = 0; i < MAX_MESSAGES && err_buf[i][0]; i++)
        printf("error: %.*s\n", PAM_MAX_MSG_SIZE, err_buf[i]);
    if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE) {
        fprintf(stderr, "run_pamtest: %s\n", pamtest_strerror(perr));
        exit(2);
    }
    return tests[0].op_rv;
}

/* ---------------------------------------------------------------- sequences on one handle */

/* Failures are not slowed down here (pam_unix and pam_faildelay ask libpam for a delay). */
static void no_delay(int status, unsigned delay_usec, void *data)
{
    (void)status, (void)delay_usec, (void)data;
}

static int run_sequence(bool direct, const char *seq, const char *service, const char *user,
                        int argc, const char **argv, struct answers *a)
{
    struct pam_conv c = { conv, a };
    pam_handle_t *pamh = NULL;
    void *h = direct ? module_handle() : NULL;
    int r = PAM_SUCCESS;

    if (pam_start(service, user, &c, &pamh) != PAM_SUCCESS ||
        pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay) != PAM_SUCCESS) {
        fprintf(stderr, "pam_start failed\n");
        exit(2);
    }
    for (const char *p = seq; *p;) {
        size_t len = strcspn(p, ",");
        if (r != PAM_SUCCESS && !(direct && r == PAM_IGNORE))
            break; /* the first failure is the answer */
        if (strncmp(p, "user=", 5) == 0) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)len - 5, p + 5);
            r = pam_set_item(pamh, PAM_USER, name);
            printf("step user=%s: %d\n", name, r);
        } else {
            int k = op_index(p, len);
            if (k < 0) {
                fprintf(stderr, "test_pam_codes: unknown operation %.*s\n", (int)len, p);
                exit(2);
            }
            if (direct) {
                pam_sm_fn fn = (pam_sm_fn)dlsym(h, ops[k].entry);
                r = fn ? fn(pamh, 0, argc, argv) : PAM_SYMBOL_ERR;
            } else {
                r = ops[k].api(pamh, 0);
            }
            printf("step %s: %s (%d)\n", ops[k].op, code_name(r), r);
        }
        p += len + (p[len] == ',');
    }
    pam_end(pamh, r);
    if (h)
        dlclose(h);
    return r;
}

int main(int argc, char **argv)
{
    const char *args[64] = { 0 };
    int n_args = 0, i = 1, expected, got = -1;
    bool direct = false;
    struct answers a;

    if (argc > 1 && strcmp(argv[1], "--direct") == 0) {
        direct = true;
        for (i = 2; i < argc && strcmp(argv[i], "--") != 0 && n_args < 63; i++)
            args[n_args++] = argv[i];
        i++;
    }
    if (argc - i < 4) {
        fprintf(stderr, "usage: test_pam_codes [--direct ARG... --] SERVICE USER OP EXPECTED "
                        "[ANSWER...]\n");
        return 2;
    }
    expected = code_from_name(argv[i + 3]);
    a = (struct answers){ .v = argv + i + 4, .n = argc - i - 4 };
    if (strchr(argv[i + 2], ',')) {
        got = run_sequence(direct, argv[i + 2], argv[i], argv[i + 1], n_args, args, &a);
    } else {
        int k = op_index(argv[i + 2], strlen(argv[i + 2]));
        if (k < 0) {
            fprintf(stderr, "test_pam_codes: unknown operation %s\n", argv[i + 2]);
            return 2;
        }
        got = direct ? run_direct(ops[k].entry, argv[i], argv[i + 1], n_args, args, &a)
                     : run_stack(ops[k].pamtest, expected, argv[i], argv[i + 1], &a);
    }
    printf("%s %s %s: %s (%d)\n", direct ? "direct" : "stack", argv[i + 1], argv[i + 2],
           code_name(got), got);
    if (got != expected) {
        fprintf(stderr, "test_pam_codes: %s for %s: got %s (%d), expected %s (%d)\n", argv[i + 2],
                argv[i + 1], code_name(got), got, code_name(expected), expected);
        return 1;
    }
    return 0;
}
