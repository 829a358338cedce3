/* SPDX-License-Identifier: MIT */
/*
 * pam_logto.so: the PAM face of common/auth. It reads PAM items and module arguments, talks to
 * the person through the conversation, and turns results into PAM codes; every decision is made
 * in common/ (see auth.h). See pam_logto(8).
 */
#include "config.h"

#include <errno.h>
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
#include "macro.h"
#include "memory.h"
#include "names.h"
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
    const char **args; /* module arguments minus config= and the authtok ones (into argv) */
    int n_args;
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
static int parse_args(struct pam_logto *pl, int argc, const char **argv, const char **ret_config)
{
    *ret_config = NULL;
    pl->args = calloc((size_t)argc + 1, sizeof(char *));
    if (!pl->args)
        return PAM_BUF_ERR;
    for (int i = 0; i < argc; i++) {
        bool skip = false;
        if (strncmp(argv[i], "config=", 7) == 0) {
            *ret_config = argv[i] + 7;
            continue;
        }
        for (size_t j = 0; j < ELEMENTSOF(authtok_args); j++)
            skip |= strcmp(argv[i], authtok_args[j]) == 0;
        if (!skip)
            pl->args[pl->n_args++] = argv[i];
    }
    return PAM_SUCCESS;
}

/* Load the configuration and resolve this service's rules. Fails closed on any error. */
static int pam_logto_begin(struct pam_logto *pl, pam_handle_t *pamh, int flags, int argc,
                           const char **argv, bool need_user)
{
    struct logto_error err = { 0 };
    const char *config_path = NULL;
    const void *item = NULL;
    int r;

    *pl = (struct pam_logto){ .pamh = pamh, .flags = flags };
    pl->ctx.log.fn = pam_log_sink;
    pl->ctx.log.userdata = pamh;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "debug") == 0)
            pl->ctx.log.debug = true;

    r = parse_args(pl, argc, argv, &config_path);
    if (r != PAM_SUCCESS)
        return r;
    if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || !item) {
        logto_log(&pl->ctx.log, LOG_ERR, "config-error reason=\"no PAM service name\"");
        return PAM_SERVICE_ERR;
    }
    pl->service = item;

    r = logto_config_load(config_path, &pl->cfg, &err);
    if (r < 0) {
        logto_log(&pl->ctx.log, LOG_ERR, "config-error reason=\"%s\"", err.message);
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

    if (!need_user)
        return PAM_SUCCESS;
    r = pam_get_user(pamh, &pl->user, NULL);
    if (r != PAM_SUCCESS)
        /* A conversation that cannot answer yet (pam_faillock idiom). */
        return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : r;
    if (!logto_name_valid(pl->user)) {
        char shown[64];
        logto_log(&pl->ctx.log, LOG_NOTICE, "user-invalid service=%s user=\"%s\"", pl->service,
                  logto_log_sanitize(shown, sizeof(shown), pl->user));
        return PAM_USER_UNKNOWN;
    }
    return PAM_SUCCESS;
}

/* ---------------------------------------------------------------- the conversation as a UI */

static int conv_message(struct pam_logto *pl, int style, const char *text, char **ret_answer)
{
    char *answer = NULL;
    int r = pam_prompt(pl->pamh, style, ret_answer ? &answer : NULL, "%s", text);

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
static struct logto_ui pam_logto_ui(struct pam_logto *pl)
{
    const char *tty = pam_item_string(pl->pamh, PAM_TTY);
    const char *rhost = pam_item_string(pl->pamh, PAM_RHOST);
    bool remote = logto_startswith(pl->service, "sshd") || (rhost && *rhost);
    bool buffers =
        pl->svc->enter_prompt == LOGTO_YES || (pl->svc->enter_prompt == LOGTO_AUTO && remote);

    return (struct logto_ui){
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
    case LOGTO_E_UNREACHABLE:
    case LOGTO_E_PROTOCOL:
    case LOGTO_E_IO:
    case LOGTO_E_CORRUPT:
    case LOGTO_E_BUSY:
    case LOGTO_E_UNSUPPORTED:
        return PAM_AUTHINFO_UNAVAIL;
    case LOGTO_E_UNSAFE:
        /* Unprivileged callers (a screen locker) cannot use root's files: say so. */
        return geteuid() == 0 ? PAM_AUTHINFO_UNAVAIL : PAM_CRED_INSUFFICIENT;
    default:
        return PAM_AUTH_ERR;
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

/* Local accounts belong to pam_unix: Logto never signs them in or decides for them. */
static int check_not_local(struct pam_logto *pl, int code_if_local)
{
    struct logto_error err = { 0 };
    bool local = false;
    int r = logto_auth_is_local_user(&pl->ctx, pl->user, &local, &err);

    if (r < 0) {
        logto_log(&pl->ctx.log, LOG_ERR, "local-check-failed user=%s reason=\"%s\"", pl->user,
                  err.message);
        return PAM_AUTHINFO_UNAVAIL;
    }
    if (local) {
        logto_log_debug(&pl->ctx.log, "user-local user=%s service=%s", pl->user, pl->service);
        return code_if_local;
    }
    return PAM_SUCCESS;
}

/* ---------------------------------------------------------------- entry points */

static int password_signin(struct pam_logto *pl, const char *password, const struct logto_ui *ui,
                           struct logto_auth_result **res, struct logto_error *err)
{
    return logto_auth_password(&pl->ctx, pl->svc, pl->user, password, ui, res, err);
}

/*
 * What the person is told when a sign-in fails: the error's own message, except for device-code
 * outcomes, whose messages name the token endpoint and the OAuth error (that stays in the log).
 */
static const char *failure_text(int r, bool device, const struct logto_error *err)
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
    return err->message;
}

static int do_authenticate(struct pam_logto *pl)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    struct logto_error err = { 0 };
    struct logto_ui ui = pam_logto_ui(pl);
    const char *password = NULL;
    bool device = pl->svc->flow == LOGTO_FLOW_DEVICE;
    int r;

    r = check_not_local(pl, PAM_USER_UNKNOWN);
    if (r != PAM_SUCCESS)
        return r;
    /*
     * A sign-in is recorded in root's token store, which an unprivileged caller (a screen
     * locker, any user's own PAM program) cannot write. Refuse before anything reaches the IdP:
     * such a caller must not get to try other users' passwords there (or lock them out).
     */
    if (geteuid() != 0) {
        logto_log(&pl->ctx.log, LOG_NOTICE, "auth-unprivileged user=%s service=%s uid=%u", pl->user,
                  pl->service, (unsigned)geteuid());
        tell_user(pl, "Logto sign-in is not available here (unprivileged program)");
        return PAM_CRED_INSUFFICIENT;
    }

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
        tell_user(pl, "Logto sign-in failed: %s", failure_text(r, device, &err));
        return code;
    }
    logto_log(&pl->ctx.log, LOG_NOTICE, "auth-ok user=%s service=%s method=%s uid=%u%s", pl->user,
              pl->service, res->method, (unsigned)res->identity->uid,
              res->offline ? " offline=yes" : "");
    return PAM_SUCCESS;
}

_public_ int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_logto pl;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv, true);

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
    int r;

    r = check_not_local(pl, PAM_IGNORE);
    if (r != PAM_SUCCESS)
        return r;
    r = logto_auth_account(&pl->ctx, pl->svc, pl->user, &res, &err);
    if (r < 0) {
        const char *why = res && res->reason[0] ? res->reason : err.message;
        logto_log(&pl->ctx.log, LOG_NOTICE,
                  "account-denied user=%s service=%s error=%s reason=\"%s\"", pl->user, pl->service,
                  logto_errc_name(logto_errc_from(r)), why);
        tell_user(pl, "Access denied by Logto: %s", why);
        return account_code(r);
    }
    logto_log(&pl->ctx.log, LOG_INFO, "account-ok user=%s service=%s decided=%s%s", pl->user,
              pl->service, res->method, res->offline ? " offline=yes" : "");
    return PAM_SUCCESS;
}

_public_ int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct pam_logto pl;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv, true);

    if (r == PAM_SUCCESS)
        r = do_account(&pl);
    else if (r == PAM_SERVICE_ERR || r == PAM_AUTHINFO_UNAVAIL)
        r = PAM_PERM_DENIED; /* an account decision that cannot be made denies */
    pam_logto_end(&pl);
    return r;
}

static int session(pam_handle_t *pamh, int flags, int argc, const char **argv, bool open)
{
    struct logto_error err = { 0 };
    struct pam_logto pl;
    bool local = false;
    int r = pam_logto_begin(&pl, pamh, flags, argc, argv, true);

    if (r != PAM_SUCCESS)
        goto out;
    if (logto_auth_is_local_user(&pl.ctx, pl.user, &local, &err) < 0 || local) {
        r = PAM_IGNORE;
        goto out;
    }
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
