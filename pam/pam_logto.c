/* SPDX-License-Identifier: MIT */
/*
 * pam_logto.so: the PAM face of common/auth. It reads PAM items and module arguments, talks to
 * the person through the conversation, and turns results into PAM codes; every decision is made
 * in common/ (see auth.h). See pam_logto(8).
 *
 * Every phase starts the same way, and in this order, so that an account that is not Logto's
 * never depends on anything of ours: the module arguments; the user; (account and session) the
 * user must still be the one pam_logto signed in earlier in this transaction; the user's
 * source: the passwd file or another NSS source means PAM_IGNORE, before the configuration, the
 * state directory or the network is touched; then the configuration (an error there fails
 * closed: this is a Logto user, or nobody's name).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "auth.h"
#include "conf.h"
#include "context.h"
#include "helperproto.h"
#include "localdb.h"
#include "macro.h"
#include "memory.h"
#include "names.h"
#include "text.h"
#include "ui.h"
#include "util.h"

/* Arguments libpam's pam_get_authtok reads itself; they are not configuration keys. */
static const char *const authtok_args[] = { "use_first_pass", "try_first_pass", "use_authtok" };

/* Everything one call needs; freed by pam_logto_end. */
struct pam_logto {
    pam_handle_t *pamh;
    int flags;
    struct logto_config *cfg;
    struct logto_service *svc;
    struct logto_ctx ctx;
    const char *service;
    const char *user;
    const char *config_path; /* config=, or NULL */
    const char **args;       /* module arguments minus config= and the authtok ones (into argv) */
    int n_args;
    char purpose[192]; /* what a device code is for: user, service, host */
};

static void pam_log_sink(void *data, int priority, const char *line)
{
    pam_syslog((pam_handle_t *)data, priority, "%s", line);
}

static void pam_logto_end(struct pam_logto *pl)
{
    logto_service_free(pl->svc);
    logto_config_free(pl->cfg);
    free(pl->args);
}

/* Split the module arguments: config=PATH, debug, authtok options, and service overrides. */
static int parse_args(struct pam_logto *pl, int argc, const char **argv)
{
    pl->args = calloc((size_t)argc + 1, sizeof(char *));
    if (!pl->args)
        return PAM_BUF_ERR;
    for (int i = 0; i < argc; i++) {
        bool skip = false;
        if (strncmp(argv[i], "config=", 7) == 0) {
            pl->config_path = argv[i] + 7;
            continue;
        }
        if (strcmp(argv[i], "debug") == 0)
            pl->ctx.log.debug = true;
        for (size_t j = 0; j < ELEMENTSOF(authtok_args); j++)
            skip |= strcmp(argv[i], authtok_args[j]) == 0;
        if (!skip)
            pl->args[pl->n_args++] = argv[i];
    }
    return PAM_SUCCESS;
}

/* The module arguments, the service and the user: nothing that reads a file. */
static int pam_logto_begin(struct pam_logto *pl, pam_handle_t *pamh, int flags, int argc,
                           const char **argv)
{
    const void *item = NULL;
    int r;

    *pl = (struct pam_logto){ .pamh = pamh, .flags = flags };
    pl->ctx.log.fn = pam_log_sink;
    pl->ctx.log.userdata = pamh;
    r = parse_args(pl, argc, argv);
    if (r != PAM_SUCCESS)
        return r;
    if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || !item) {
        logto_log(&pl->ctx.log, LOG_ERR, "config-error reason=\"no PAM service name\"");
        return PAM_SERVICE_ERR;
    }
    pl->service = item;
    r = pam_get_user(pamh, &pl->user, NULL);
    if (r != PAM_SUCCESS)
        /* A conversation that cannot answer yet (pam_faillock idiom). */
        return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : r;
    return PAM_SUCCESS;
}

/*
 * Local accounts first (logto_localdb_account_source): the passwd file's and other NSS sources'
 * users get PAM_IGNORE whatever state logto.conf is in. PAM_SUCCESS: go on, this may be a Logto
 * user. PAM_SYSTEM_ERR: it cannot be told (the shipped stacks then let only local accounts
 * through). Also refuses names that can never be Logto users.
 */
static int step_aside(struct pam_logto *pl)
{
    struct logto_error err = { 0 };
    enum logto_account_source source;
    char shown[64];
    int r = logto_localdb_account_source(pl->ctx.passwd_path, pl->user, &source, &err);

    if (r < 0) {
        logto_log(&pl->ctx.log, LOG_ERR, "local-check-failed user=\"%s\" service=%s reason=\"%s\"",
                  logto_log_sanitize(shown, sizeof(shown), pl->user), pl->service, err.message);
        return r == -LOGTO_E_NOMEM ? PAM_BUF_ERR : PAM_SYSTEM_ERR;
    }
    if (source != LOGTO_ACCOUNT_NOT_LOCAL) {
        logto_log_debug(&pl->ctx.log, "user-local user=\"%s\" service=%s source=%s",
                        logto_log_sanitize(shown, sizeof(shown), pl->user), pl->service,
                        logto_account_source_name(source));
        return PAM_IGNORE;
    }
    if (!logto_name_valid(pl->user)) {
        logto_log(&pl->ctx.log, LOG_NOTICE, "user-invalid service=%s user=\"%s\"", pl->service,
                  logto_log_sanitize(shown, sizeof(shown), pl->user));
        return PAM_USER_UNKNOWN;
    }
    return PAM_SUCCESS;
}

/* Load the configuration and resolve this service's rules. Fails closed on any error. */
static int load_config(struct pam_logto *pl)
{
    struct logto_error err = { 0 };
    int r = logto_config_load(pl->config_path, &pl->cfg, &err);

    if (r < 0) {
        logto_log(&pl->ctx.log, LOG_ERR, "config-error user=%s reason=\"%s\"", pl->user,
                  err.message);
        return r == -LOGTO_E_NOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    }
    pl->ctx.cfg = pl->cfg;
    pl->ctx.log.debug |= pl->cfg->debug;
    r = logto_config_service(pl->cfg, pl->service, pl->n_args, pl->args, &pl->svc, &err);
    if (r < 0) {
        logto_log(&pl->ctx.log, LOG_ERR, "config-error service=%s reason=\"%s\"", pl->service,
                  err.message);
        return r == -LOGTO_E_NOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    }
    return PAM_SUCCESS;
}

/* ---------------------------------------------------------------- the conversation as a UI */

/* Everything the person is shown passes here: text from the IdP is part of it (codes, URIs,
 * reasons), so control, bidi and other format characters are replaced first (text.h). */
static int conv_message(struct pam_logto *pl, int style, const char *text, char **ret_answer)
{
    _cleanup_free_ char *clean = logto_text_clean_dup(text, LOGTO_TEXT_NEWLINE);
    char *answer = NULL;
    int r;

    if (!clean)
        return -LOGTO_E_NOMEM;
    r = pam_prompt(pl->pamh, style, ret_answer ? &answer : NULL, "%s", clean);

    if (r != PAM_SUCCESS) {
        logto_free_secret(answer);
        return -LOGTO_E_IO;
    }
    if (ret_answer)
        *ret_answer = answer ? answer : strdup("");
    return ret_answer && !*ret_answer ? -LOGTO_E_NOMEM : 0;
}

static int ui_info(void *data, const char *text)
{
    return conv_message(data, PAM_TEXT_INFO, text, NULL);
}

static int ui_error(void *data, const char *text)
{
    return conv_message(data, PAM_ERROR_MSG, text, NULL);
}

static int ui_prompt(void *data, bool echo, const char *question, char **ret_answer)
{
    return conv_message(data, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, question,
                        ret_answer);
}

static const char *pam_item_string(pam_handle_t *pamh, int type)
{
    const void *item = NULL;
    return pam_get_item(pamh, type, &item) == PAM_SUCCESS ? item : NULL;
}

/*
 * OpenSSH shows PAM text only with the next prompt, so over SSH the device flow asks the person
 * to press Enter before it polls. "auto" recognises sshd by its service name or a remote host.
 */
/* This machine's name for people to read: letters, digits, '.', '-' (others become '?'). */
static void host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) < 0 || !buf[0])
        snprintf(buf, size, "this machine");
    buf[size - 1] = '\0';
    for (char *p = buf; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '.' || *p == '-'))
            *p = '?';
}

static struct logto_ui pam_logto_ui(struct pam_logto *pl)
{
    const char *tty = pam_item_string(pl->pamh, PAM_TTY);
    const char *rhost = pam_item_string(pl->pamh, PAM_RHOST);
    bool remote = logto_startswith(pl->service, "sshd") || (rhost && *rhost);
    bool buffers =
        pl->svc->enter_prompt == LOGTO_YES || (pl->svc->enter_prompt == LOGTO_AUTO && remote);
    char host[HOST_NAME_MAX + 1];
    char service[64];

    /*
     * A device code can be forwarded: someone who runs `ssh alice@host` may send the genuine
     * link to alice. Say what the code is for, so that whoever reads it can tell (the user name
     * is a valid Logto name by now; the service name comes from the application).
     */
    host_name(host, sizeof(host));
    snprintf(pl->purpose, sizeof(pl->purpose),
             "This code signs in %s to %s on %s. Approve it only if you started this yourself.",
             pl->user, logto_log_sanitize(service, sizeof(service), pl->service), host);
    return (struct logto_ui){
        .purpose = pl->purpose,
        .info = ui_info,
        .error = ui_error,
        .prompt = ui_prompt,
        .data = pl,
        .buffers_info = buffers,
        /* An X display (":0") is no terminal; sshd sets PAM_TTY to "ssh" during auth. */
        .terminal = (tty && *tty && tty[0] != ':') || remote,
    };
}

/* ---------------------------------------------------------------- results as PAM codes */

static int auth_code(int r)
{
    switch (logto_errc_from(r)) {
    case LOGTO_OK:
        return PAM_SUCCESS;
    case LOGTO_E_NOMEM:
        return PAM_BUF_ERR;
    case LOGTO_E_CONFIG:
        return PAM_SERVICE_ERR;
    case LOGTO_E_NOTFOUND:
        return PAM_USER_UNKNOWN;
    case LOGTO_E_LOCKED:
        return PAM_MAXTRIES;
    default:
        return logto_auth_undecided(r) ? PAM_AUTHINFO_UNAVAIL : PAM_AUTH_ERR;
    }
}

static int account_code(int r)
{
    switch (logto_errc_from(r)) {
    case LOGTO_OK:
        return PAM_SUCCESS;
    case LOGTO_E_NOMEM:
        return PAM_BUF_ERR;
    case LOGTO_E_NOTFOUND:
        return PAM_USER_UNKNOWN;
    case LOGTO_E_SUSPENDED:
        return PAM_ACCT_EXPIRED;
    default:
        /* Rules, an unreachable IdP past the grace, anything unexpected: fail closed. */
        return PAM_PERM_DENIED;
    }
}

/* The generic profile: messages say "the identity provider", never "Logto" (conf.h). */
static bool generic_profile(const struct pam_logto *pl)
{
    return pl->ctx.cfg && pl->ctx.cfg->profile == LOGTO_PROFILE_GENERIC;
}

/* A message for the person; PAM_SILENT suppresses it. */
static void tell_user(struct pam_logto *pl, const char *fmt, ...) _printf_(2, 3);
static void tell_user(struct pam_logto *pl, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (pl->flags & PAM_SILENT)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    conv_message(pl, PAM_ERROR_MSG, text, NULL);
}

/* ---------------------------------------------------------------- one identity per transaction */

/*
 * After a successful sign-in the auth phase records whom it signed in; the account and session
 * phases of the same PAM transaction refuse another PAM_USER (a module between the phases, or
 * the application, that changed it would otherwise get the account phase of a user nobody
 * signed in, or skip pam_logto altogether if the new name is local).
 */
#define SIGNED_IN_KEY "pam_logto_signed_in"

struct signed_in {
    char *name, *sub;
};

static void signed_in_free(pam_handle_t *pamh, void *data, int status)
{
    struct signed_in *s = data;
    (void)pamh, (void)status;
    if (!s)
        return;
    free(s->name);
    free(s->sub);
    free(s);
}

static void forget_signin(struct pam_logto *pl)
{
    pam_set_data(pl->pamh, SIGNED_IN_KEY, NULL, NULL);
}

/* A sign-in that cannot be recorded does not count (fails closed). */
static int remember_signin(struct pam_logto *pl, const struct logto_identity *id)
{
    struct signed_in *s = calloc(1, sizeof(*s));
    int r;

    if (s) {
        s->name = strdup(id->name);
        s->sub = strdup(id->sub);
    }
    if (!s || !s->name || !s->sub) {
        signed_in_free(pl->pamh, s, 0);
        return PAM_BUF_ERR;
    }
    r = pam_set_data(pl->pamh, SIGNED_IN_KEY, s, signed_in_free);
    if (r != PAM_SUCCESS) {
        signed_in_free(pl->pamh, s, 0);
        logto_log(&pl->ctx.log, LOG_ERR, "auth-unrecorded user=%s service=%s reason=\"%s\"",
                  pl->user, pl->service, pam_strerror(pl->pamh, r));
    }
    return r;
}

/* PAM_SUCCESS unless pam_logto signed in someone else earlier in this transaction. */
static int check_same_user(struct pam_logto *pl, int code_if_changed)
{
    const void *data = NULL;
    const struct signed_in *s;
    char shown[64];

    if (pam_get_data(pl->pamh, SIGNED_IN_KEY, &data) != PAM_SUCCESS || !data)
        return PAM_SUCCESS;
    s = data;
    if (strcmp(s->name, pl->user) == 0)
        return PAM_SUCCESS;
    logto_log(&pl->ctx.log, LOG_WARNING, "user-changed service=%s signed_in=%s sub=%s user=\"%s\"",
              pl->service, s->name, s->sub, logto_log_sanitize(shown, sizeof(shown), pl->user));
    tell_user(pl, "Access denied: the user changed after the %ssign-in",
              generic_profile(pl) ? "" : "Logto ");
    return code_if_changed;
}

/* ---------------------------------------------------------------- entry points */

static int password_signin(struct pam_logto *pl, const char *password, const struct logto_ui *ui,
                           struct logto_auth_result **res, struct logto_error *err)
{
    return logto_auth_password(&pl->ctx, pl->svc, pl->user, password, ui, res, err);
}

/* The device flow's outcomes in the person's words; the rest as public_reason says. */
static const char *failure_text(int r, bool device, const struct logto_error *err, char *buf,
                                size_t size)
{
    if (device) {
        switch (logto_errc_from(r)) {
        case LOGTO_E_EXPIRED:
        case LOGTO_E_TIMEOUT:
            return "the sign-in code expired before it was confirmed; start again for a new code";
        case LOGTO_E_DENIED:
            /* The token endpoint's access_denied: "cancel" on the device page. */
            if (strstr(err->message, "access_denied"))
                return "the sign-in was denied in the browser";
            break;
        default:
            break;
        }
    }
    return logto_auth_public_reason(r, err->message, buf, size);
}

static int do_authenticate(struct pam_logto *pl)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    struct logto_error err = { 0 };
    struct logto_ui ui = pam_logto_ui(pl);
    const char *password = NULL;
    bool device = pl->svc->flow == LOGTO_FLOW_DEVICE;
    char text[256];
    int r;

    /* A name that is not a Logto user of this host is left to the next module before anything
     * is asked (logto_auth_gate logged why: below, user-unknown is returned silently); the
     * sign-in functions ask again before sending. */
    r = logto_auth_gate(&pl->ctx, pl->svc, pl->user, pl->svc->flow == LOGTO_FLOW_PASSWORD, &err);
    if (r == 0 && device) {
        r = logto_auth_device(&pl->ctx, pl->svc, pl->user, &ui, &res, &err);
    } else if (r == 0) {
        const char *question = pl->svc->flow == LOGTO_FLOW_BOTH
                                   ? "Password (or press Enter to sign in with a code): "
                                   : "Password: ";
        r = pam_get_authtok(pl->pamh, PAM_AUTHTOK, &password, question);
        if (r != PAM_SUCCESS)
            return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : r;
        device = pl->svc->flow == LOGTO_FLOW_BOTH && (!password || !*password);
        if (device)
            r = logto_auth_device(&pl->ctx, pl->svc, pl->user, &ui, &res, &err);
        else
            r = password_signin(pl, password ? password : "", &ui, &res, &err);
    }

    if (r < 0) {
        int code = auth_code(r);
        if (code == PAM_USER_UNKNOWN)
            return code; /* not ours: the next module decides, nothing to tell (user-unknown) */
        logto_log(&pl->ctx.log, code == PAM_AUTHINFO_UNAVAIL ? LOG_ERR : LOG_NOTICE,
                  "auth-failed user=%s service=%s error=%s reason=\"%s\"", pl->user, pl->service,
                  logto_errc_name(logto_errc_from(r)), err.message);
        tell_user(pl, "%s: %s", generic_profile(pl) ? "Sign-in failed" : "Logto sign-in failed",
                  failure_text(r, device, &err, text, sizeof(text)));
        return code;
    }
    r = remember_signin(pl, res->identity);
    if (r != PAM_SUCCESS)
        return r;
    logto_log(&pl->ctx.log, LOG_NOTICE, "auth-ok user=%s service=%s method=%s uid=%u%s", pl->user,
              pl->service, res->method, (unsigned)res->identity->uid,
              res->offline ? " offline=yes" : "");
    return PAM_SUCCESS;
}

static int helper_code(int verdict)
{
    switch (verdict) {
    case LOGTO_HELPER_YES:
        return PAM_SUCCESS;
    case LOGTO_HELPER_NO:
    case LOGTO_HELPER_NOT_OWN:
        return PAM_AUTH_ERR;
    case LOGTO_HELPER_LOCKED:
        return PAM_MAXTRIES;
    case LOGTO_HELPER_UNKNOWN:
        return PAM_USER_UNKNOWN;
    default:
        return PAM_AUTHINFO_UNAVAIL; /* unavailable, a refused request, anything else */
    }
}

/*
 * Ask logto-helper (logto-helper(8)) on behalf of an unprivileged program: the request goes out,
 * the verdict comes back in *ret_verdict and the helper's one line for the person in msg (empty
 * when it has none). PHASE names the log events (auth, account). PAM_SUCCESS when an answer
 * came, else the PAM code to return, logged and told.
 */
static int helper_ask(struct pam_logto *pl, const char *phase, const char *request,
                      size_t request_len, int *ret_verdict, char *msg, size_t msg_size)
{
    const char *path = logto_helper_socket_path();
    _cleanup_secret_ char *answer = NULL;
    size_t len = 0, out_len, err_len, hlen, size = 1024;
    bool auth = strcmp(phase, "auth") == 0;
    int fd;

    fd = logto_helper_connect(path);
    if (fd < 0) {
        logto_log(&pl->ctx.log, LOG_ERR,
                  "%s-helper-unavailable user=%s service=%s socket=%s reason=\"%s\"", phase,
                  pl->user, pl->service, path, strerror(errno));
        tell_user(pl,
                  "%s is not available here: this program runs without privileges and the "
                  "sign-in helper (logto-helper.socket) is not running",
                  auth ? "Sign-in" : "The account check");
        return auth ? PAM_AUTHINFO_UNAVAIL : PAM_PERM_DENIED;
    }
    answer = calloc(1, size + 1);
    if (!answer) {
        close(fd);
        return PAM_BUF_ERR;
    }
    if (logto_helper_exchange(fd, request, request_len, answer, size, &len) < 0 ||
        logto_helper_response_header(answer, len, ret_verdict, &out_len, &err_len, &hlen) < 0 ||
        hlen + out_len + err_len != len) {
        logto_log(&pl->ctx.log, LOG_ERR, "%s-helper-failed user=%s service=%s socket=%s", phase,
                  pl->user, pl->service, path);
        tell_user(pl, "%s is not possible right now; the system log says why",
                  auth ? "Sign-in" : "The account check");
        return auth ? PAM_AUTHINFO_UNAVAIL : PAM_PERM_DENIED;
    }
    /* The helper's line for the person (conv_message cleans it like all text shown). */
    answer[hlen + out_len + err_len] = '\0';
    if (err_len > 0 && answer[hlen + out_len + err_len - 1] == '\n')
        answer[hlen + out_len + err_len - 1] = '\0';
    snprintf(msg, msg_size, "%s", answer + hlen + out_len);
    return PAM_SUCCESS;
}

/*
 * Unprivileged: the password, for this service, goes to logto-helper; its verdict becomes the
 * PAM code and its one line of text is shown. No device flow in a locker.
 * The configuration is root's business here: the helper reads it (module arguments other than
 * the authtok ones do not reach it). Without it the profile is unknown: texts of our own name
 * no provider (the helper's do, by the profile).
 */
static int helper_authenticate(struct pam_logto *pl)
{
    const char *password = NULL;
    _cleanup_secret_ char *request = NULL;
    struct logto_error err = { 0 };
    size_t request_len;
    char msg[512];
    int r, verdict;

    logto_log(&pl->ctx.log, LOG_INFO, "auth-unprivileged user=%s service=%s uid=%u via=helper",
              pl->user, pl->service, (unsigned)geteuid());
    r = pam_get_authtok(pl->pamh, PAM_AUTHTOK, &password, "Password: ");
    if (r != PAM_SUCCESS)
        return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : r;
    if (!password || !*password) {
        tell_user(pl, "Sign-in failed: no password given");
        return PAM_AUTH_ERR;
    }
    if (logto_helper_password_request(pl->user, pl->service, password, &request, &request_len,
                                      &err) < 0) {
        logto_log(&pl->ctx.log, LOG_NOTICE, "auth-failed user=%s service=%s reason=\"%s\"",
                  pl->user, pl->service, err.message);
        tell_user(pl, "Sign-in failed: %s", err.message);
        return PAM_AUTH_ERR;
    }
    r = helper_ask(pl, "auth", request, request_len, &verdict, msg, sizeof(msg));
    if (r != PAM_SUCCESS)
        return r;
    r = helper_code(verdict);
    if (r == PAM_USER_UNKNOWN)
        return r; /* not ours: the next module decides, nothing to tell */
    if (msg[0] && r != PAM_SUCCESS)
        tell_user(pl, "%s", msg);
    logto_log(&pl->ctx.log, r == PAM_SUCCESS ? LOG_NOTICE : LOG_INFO,
              "auth-%s user=%s service=%s via=helper verdict=%d",
              r == PAM_SUCCESS ? "ok" : "failed", pl->user, pl->service, verdict);
    return r;
}

_public_ int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_logto pl;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv);

    if (r == PAM_SUCCESS) {
        /* A new attempt: whoever an earlier one in this transaction signed in no longer counts. */
        forget_signin(&pl);
        r = step_aside(&pl);
    }
    /*
     * A sign-in is recorded in root's token store, which an unprivileged caller (a screen
     * locker, any user's own PAM program) cannot read or write: it asks logto-helper, which
     * checks only the caller's own password (the kernel tells it who asks). Nothing here reads
     * root's files; local accounts were left to pam_unix above.
     */
    if (r == PAM_SUCCESS && geteuid() != 0) {
        r = helper_authenticate(&pl);
        pam_logto_end(&pl);
        return r;
    }
    if (r == PAM_SUCCESS)
        r = load_config(&pl);
    if (r == PAM_SUCCESS)
        r = do_authenticate(&pl);
    pam_logto_end(&pl);
    return r;
}

_public_ int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh, (void)flags, (void)argc, (void)argv;
    /* Logto issues no Unix credentials: groups come from NSS. */
    return PAM_SUCCESS;
}

static int do_account(struct pam_logto *pl)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    struct logto_error err = { 0 };
    char text[256];
    int r;

    r = logto_auth_account(&pl->ctx, pl->svc, pl->user, &res, &err);
    if (r < 0) {
        const char *why = res && res->reason[0] ? res->reason : err.message;
        logto_log(&pl->ctx.log, LOG_NOTICE,
                  "account-denied user=%s service=%s error=%s reason=\"%s\"", pl->user, pl->service,
                  logto_errc_name(logto_errc_from(r)), why);
        tell_user(pl, "Access denied by %s: %s", logto_idp_name(pl->ctx.cfg),
                  logto_auth_public_reason(r, why, text, sizeof(text)));
        return account_code(r);
    }
    logto_log(&pl->ctx.log, LOG_INFO, "account-ok user=%s service=%s decided=%s%s", pl->user,
              pl->service, res->method, res->offline ? " offline=yes" : "");
    return PAM_SUCCESS;
}

/*
 * Unprivileged (a screen locker's pam_acct_mgmt after the password): the token store and the
 * cached decisions are root's, so logto-helper decides the account phase for the caller's own
 * user and this service, as do_account would as root. Anything but yes denies.
 */
static int helper_account(struct pam_logto *pl)
{
    _cleanup_free_ char *request = NULL;
    struct logto_error err = { 0 };
    size_t request_len;
    char msg[512];
    int r, verdict;

    if (logto_helper_account_request(pl->user, pl->service, &request, &request_len, &err) < 0) {
        logto_log(&pl->ctx.log, LOG_NOTICE, "account-denied user=%s service=%s reason=\"%s\"",
                  pl->user, pl->service, err.message);
        tell_user(pl, "Access denied: %s", err.message);
        return PAM_PERM_DENIED;
    }
    r = helper_ask(pl, "account", request, request_len, &verdict, msg, sizeof(msg));
    if (r != PAM_SUCCESS)
        return r;
    switch (verdict) {
    case LOGTO_HELPER_YES:
        r = PAM_SUCCESS;
        break;
    case LOGTO_HELPER_UNKNOWN:
        return PAM_USER_UNKNOWN; /* not ours: the next module decides, nothing to tell */
    case LOGTO_HELPER_SUSPENDED:
        r = PAM_ACCT_EXPIRED;
        break;
    default:
        r = PAM_PERM_DENIED; /* no, not own, unavailable, a refused request */
    }
    if (msg[0] && r != PAM_SUCCESS)
        tell_user(pl, "%s", msg);
    logto_log(&pl->ctx.log, r == PAM_SUCCESS ? LOG_INFO : LOG_NOTICE,
              "account-%s user=%s service=%s via=helper verdict=%d",
              r == PAM_SUCCESS ? "ok" : "denied", pl->user, pl->service, verdict);
    return r;
}

_public_ int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_logto pl;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv);

    if (r == PAM_SUCCESS)
        r = check_same_user(&pl, PAM_PERM_DENIED);
    if (r == PAM_SUCCESS)
        r = step_aside(&pl);
    /* As for the password: root's state, asked of logto-helper (local users left above). */
    if (r == PAM_SUCCESS && geteuid() != 0) {
        r = helper_account(&pl);
        pam_logto_end(&pl);
        return r;
    }
    if (r == PAM_SUCCESS) {
        r = load_config(&pl);
        if (r == PAM_SERVICE_ERR)
            r = PAM_PERM_DENIED; /* an account decision that cannot be made denies */
    }
    if (r == PAM_SUCCESS)
        r = do_account(&pl);
    pam_logto_end(&pl);
    return r;
}

static int session(pam_handle_t *pamh, int flags, int argc, const char **argv, bool open)
{
    struct logto_error err = { 0 };
    struct pam_logto pl;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv);

    if (r == PAM_SUCCESS)
        r = check_same_user(&pl, PAM_SESSION_ERR);
    if (r == PAM_SUCCESS)
        r = step_aside(&pl);
    if (r == PAM_SUCCESS)
        r = load_config(&pl);
    if (r != PAM_SUCCESS)
        goto out;
    r = open ? logto_auth_session_open(&pl.ctx, pl.svc, pl.user, &err)
             : logto_auth_session_close(&pl.ctx, pl.svc, pl.user, &err);
    if (r < 0) {
        /* A bookkeeping failure never blocks a session that PAM already allowed. */
        logto_log(&pl.ctx.log, LOG_WARNING, "session-%s-failed user=%s reason=\"%s\"",
                  open ? "open" : "close", pl.user, err.message);
    }
    r = PAM_SUCCESS;
out:
    pam_logto_end(&pl);
    return r;
}

_public_ int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return session(pamh, flags, argc, argv, true);
}

_public_ int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return session(pamh, flags, argc, argv, false);
}
