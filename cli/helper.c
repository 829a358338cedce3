/* SPDX-License-Identifier: MIT */
/*
 * logto-helper: the root helper for unprivileged callers (logto-helper(8)). systemd starts one per
 * connection (logto-helper.socket, Accept=yes, StandardInput=socket): standard input is the
 * connected socket. The caller is who the kernel says connected (SO_PEERCRED), never anything it
 * sends or sets in its environment; the request (helperproto.h) only says what is asked for.
 * Operation token: `logtoctl token` as root, for that caller (cli_token_for: root may name any
 * user, anybody else gets only their own Logto user). What the command would print goes back to
 * the client, which prints it. Operation password: the caller's own password for a PAM service
 * (a screen locker running as the user asks through pam_logto), decided exactly as pam_logto
 * decides it as root; operation account: the account phase of such a program (its
 * pam_acct_mgmt), decided as pam_logto decides it as root. Their answer is a verdict and one line
 * of text, never a token.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "conf.h"
#include "helperproto.h"
#include "memory.h"
#include "names.h"
#include "net.h"
#include "owners.h"
#include "slots.h"

/* Helpers one UID may have at once (logto-helper.socket caps the host at 64). */
#define HELPER_PER_UID 4

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The request, up to its end, within the size limit and the time limit. */
static int read_request(int fd, char *buf, size_t size, size_t *ret_len, const char **ret_why)
{
    int64_t deadline = now_ms() + LOGTO_HELPER_READ_TIMEOUT * 1000;
    size_t len = 0;

    while (!logto_helper_request_complete(buf, len)) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (len == size) {
            *ret_why = "the request is too long";
            return -1;
        }
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            *ret_why = "the request did not arrive in time";
            return -1;
        }
        n = recv(fd, buf + len, size - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            *ret_why = "the client closed the connection before the end of its request";
            return -1;
        }
        len += (size_t)n;
    }
    *ret_len = len;
    return 0;
}

/* Everything written to fd (a memfd, gone with the process) so far, NUL-terminated. */
static char *drain(int fd, size_t *ret_len)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf;

    if (size < 0 || (size_t)size > LOGTO_HELPER_RESPONSE_MAX)
        size = 0;
    buf = malloc((size_t)size + 1);
    if (!buf || pread(fd, buf, (size_t)size, 0) != size) {
        free(buf);
        *ret_len = 0;
        return NULL;
    }
    buf[size] = '\0';
    *ret_len = (size_t)size;
    return buf;
}

static int respond(int sock, int status, const char *out, size_t out_len, const char *err,
                   size_t err_len)
{
    char header[128];
    int n;

    if (out_len + err_len > LOGTO_HELPER_RESPONSE_MAX)
        out_len = err_len = 0, status = CLI_FAIL;
    n = snprintf(header, sizeof(header), "logto-helper %d status=%d out=%zu err=%zu\n",
                 LOGTO_HELPER_VERSION, status, out_len, err_len);
    if (logto_helper_send_all(sock, header, (size_t)n) < 0 ||
        logto_helper_send_all(sock, out, out_len) < 0 ||
        logto_helper_send_all(sock, err, err_len) < 0)
        return -1;
    return 0;
}

static int refuse(int sock, uid_t uid, const char *why)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "logto-helper: %s\n", why);

    syslog(LOG_AUTHPRIV | LOG_NOTICE, "helper-refused uid=%u reason=\"%s\"", (unsigned)uid, why);
    (void)respond(sock, CLI_USAGE, "", 0, msg, (size_t)n);
    return CLI_USAGE;
}

#define SERVICE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+@"

/* A locker cannot show a one-time code prompt through the helper: such a sign-in fails. */
static int no_prompt(void *data, bool echo, const char *question, char **ret_answer)
{
    (void)data, (void)echo, (void)question, (void)ret_answer;
    return -LOGTO_E_UNSUPPORTED;
}

static int no_text(void *data, const char *text)
{
    (void)data, (void)text;
    return 0;
}

static enum logto_helper_verdict verdict_of(int r)
{
    switch (logto_errc_from(r)) {
    case LOGTO_OK:
        return LOGTO_HELPER_YES;
    case LOGTO_E_LOCKED:
        return LOGTO_HELPER_LOCKED;
    case LOGTO_E_NOMEM:
    case LOGTO_E_CONFIG:
        return LOGTO_HELPER_UNAVAILABLE;
    default:
        return logto_auth_undecided(r) ? LOGTO_HELPER_UNAVAILABLE : LOGTO_HELPER_NO;
    }
}

static const char *op_name(enum logto_helper_op op)
{
    return op == LOGTO_HELPER_OP_PASSWORD  ? "password"
           : op == LOGTO_HELPER_OP_ACCOUNT ? "account"
                                           : "token";
}

/*
 * Whom an op=password or op=account request may be about: the caller's own Logto user (the
 * snapshot's name for the UID), or for op=account, root naming any Logto user. The service's
 * name goes into log lines and selects a section: a PAM service name only. -1 with name set
 * when the request may go on, else the verdict, logged (helper-OP-refused) and its text in msg.
 */
static int check_caller(const struct logto_ctx *ctx, uid_t uid,
                        const struct logto_helper_request *req,
                        char name[static LOGTO_NAME_MAX + 1], char *msg, size_t n)
{
    const char *idp = logto_idp_name(ctx->cfg), *op = op_name(req->op);
    struct logto_error err = { 0 };
    struct logto_holder holder;
    bool root = uid == 0 && req->op == LOGTO_HELPER_OP_ACCOUNT;
    char shown[64];
    int r;

    if (strspn(req->service, SERVICE_CHARS) != strlen(req->service) || strlen(req->service) > 64) {
        logto_log(&ctx->log, LOG_NOTICE,
                  "helper-%s-refused uid=%u service=\"%s\" reason=service-name", op, (unsigned)uid,
                  logto_log_sanitize(shown, sizeof(shown), req->service));
        snprintf(msg, n, "%s sign-in: that is not a PAM service name", idp);
        return LOGTO_HELPER_UNAVAILABLE;
    }
    if (root && logto_name_valid(req->user)) {
        r = logto_owner_holder(ctx, req->user, &holder, &err);
        if (r == 0 && holder.kind != LOGTO_HOLDER_NONE) {
            snprintf(name, LOGTO_NAME_MAX + 1, "%s", req->user);
            return -1;
        }
        r = r < 0 ? r : -LOGTO_E_NOTFOUND;
    } else if (root)
        r = -LOGTO_E_NOTFOUND;
    else
        r = logto_owner_name_of_uid(ctx, (uint32_t)uid, name, LOGTO_NAME_MAX + 1, &err);
    if (r == 0 && strcmp(name, req->user) == 0)
        return -1;
    /* A name nobody holds here is not ours: the rest of the stack decides (PAM_USER_UNKNOWN). */
    if (!logto_name_valid(req->user) || (logto_owner_holder(ctx, req->user, &holder, &err) == 0 &&
                                         holder.kind == LOGTO_HOLDER_NONE)) {
        logto_log(&ctx->log, LOG_NOTICE,
                  "helper-%s-refused uid=%u user=\"%s\" service=%s reason=unknown-user", op,
                  (unsigned)uid, logto_log_sanitize(shown, sizeof(shown), req->user), req->service);
        snprintf(msg, n, "%s sign-in: not a user of this host", idp);
        return LOGTO_HELPER_UNKNOWN;
    }
    logto_log(&ctx->log, LOG_NOTICE,
              "helper-%s-refused uid=%u user=\"%s\" service=%s reason=not-own", op, (unsigned)uid,
              logto_log_sanitize(shown, sizeof(shown), req->user), req->service);
    snprintf(msg, n, "%s sign-in: only your own %s can be checked here", idp,
             req->op == LOGTO_HELPER_OP_PASSWORD ? "password" : "account");
    return r < 0 && r != -LOGTO_E_NOTFOUND ? LOGTO_HELPER_UNAVAILABLE : LOGTO_HELPER_NOT_OWN;
}

/*
 * op=password: the caller's own Logto user only (check_caller; the sign-in's identity must carry
 * the caller's UID too), for the service's configured method and rules (logto.conf alone: a
 * caller's module arguments never reach the helper). logto_auth_password counts the failures,
 * throttles and locks out as for pam_logto (attempts.h). msg gets the person's text.
 */
static enum logto_helper_verdict check_password(struct cli *cli, uid_t uid,
                                                const struct logto_helper_request *req, char *msg,
                                                size_t n)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL;
    const struct logto_ctx *ctx = &cli->ctx;
    struct logto_ui ui = { .info = no_text, .error = no_text, .prompt = no_prompt };
    struct logto_error err = { 0 };
    const char *idp = logto_idp_name(ctx->cfg);
    char name[LOGTO_NAME_MAX + 1], text[256];
    enum logto_helper_verdict v;
    int r = check_caller(ctx, uid, req, name, msg, n);

    if (r >= 0)
        return (enum logto_helper_verdict)r;
    r = logto_config_service(ctx->cfg, req->service, 0, NULL, &svc, &err);
    if (r == 0 && svc->flow == LOGTO_FLOW_DEVICE)
        r = logto_error_set(&err, LOGTO_E_CONFIG,
                            "service %s signs in with a code only (flow = device)", req->service);
    if (r == 0)
        r = logto_auth_gate(ctx, svc, name, true, &err);
    if (r == 0)
        r = logto_auth_password(ctx, svc, name, req->password, &ui, &res, &err);
    if (r >= 0 && (!res || !res->identity))
        r = logto_error_set(&err, LOGTO_E_IDENTITY, "the sign-in returned no identity");
    if (r >= 0 && res->identity->uid != (uint32_t)uid)
        r = logto_error_set(&err, LOGTO_E_IDENTITY, "the sign-in is for uid %u, not the caller's",
                            (unsigned)res->identity->uid);
    v = verdict_of(r);
    if (r < 0) {
        logto_log(&ctx->log, v == LOGTO_HELPER_UNAVAILABLE ? LOG_ERR : LOG_NOTICE,
                  "auth-failed user=%s service=%s uid=%u via=helper error=%s reason=\"%s\"", name,
                  req->service, (unsigned)uid, logto_errc_name(logto_errc_from(r)), err.message);
        snprintf(msg, n, "%s sign-in failed: %s", idp,
                 logto_auth_public_reason(r, err.message, text, sizeof(text)));
        return v;
    }
    logto_log(&ctx->log, LOG_NOTICE, "auth-ok user=%s service=%s method=%s uid=%u via=helper%s",
              name, req->service, res->method, (unsigned)uid, res->offline ? " offline=yes" : "");
    msg[0] = '\0';
    return v;
}

/*
 * op=account: pam_acct_mgmt of an unprivileged program (a screen locker after the password) for
 * the caller's own Logto user (root: any), decided as pam_logto decides it as root
 * (logto_auth_account: the service's rules from logto.conf, suspension, the cached decision
 * within its grace). Yes or no and one line for the person; anything undecided is no.
 */
static enum logto_helper_verdict check_account(struct cli *cli, uid_t uid,
                                               const struct logto_helper_request *req, char *msg,
                                               size_t n)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL;
    const struct logto_ctx *ctx = &cli->ctx;
    struct logto_error err = { 0 };
    char name[LOGTO_NAME_MAX + 1], text[256];
    const char *why;
    int r = check_caller(ctx, uid, req, name, msg, n);

    if (r >= 0)
        return (enum logto_helper_verdict)r;
    r = logto_config_service(ctx->cfg, req->service, 0, NULL, &svc, &err);
    if (r == 0)
        r = logto_auth_account(ctx, svc, name, &res, &err);
    if (r < 0) {
        why = res && res->reason[0] ? res->reason : err.message;
        logto_log(&ctx->log, LOG_NOTICE,
                  "account-denied user=%s service=%s uid=%u via=helper error=%s reason=\"%s\"",
                  name, req->service, (unsigned)uid, logto_errc_name(logto_errc_from(r)), why);
        snprintf(msg, n, "Access denied by %s: %s", logto_idp_name(ctx->cfg),
                 logto_auth_public_reason(r, why, text, sizeof(text)));
        switch (logto_errc_from(r)) {
        case LOGTO_E_NOTFOUND:
            return LOGTO_HELPER_UNKNOWN;
        case LOGTO_E_SUSPENDED:
            return LOGTO_HELPER_SUSPENDED;
        default:
            return LOGTO_HELPER_NO; /* rules, the IdP past the grace, anything: fail closed */
        }
    }
    logto_log(&ctx->log, LOG_INFO, "account-ok user=%s service=%s decided=%s uid=%u via=helper%s",
              name, req->service, res->method, (unsigned)uid, res->offline ? " offline=yes" : "");
    msg[0] = '\0';
    return LOGTO_HELPER_YES;
}

/* op=password and op=account: a verdict and the person's line. */
static int verdict_op(struct cli *cli, int sock, uid_t uid, const struct logto_helper_request *req)
{
    char msg[384];
    enum logto_helper_verdict v = req->op == LOGTO_HELPER_OP_PASSWORD
                                      ? check_password(cli, uid, req, msg, sizeof(msg))
                                      : check_account(cli, uid, req, msg, sizeof(msg));
    size_t len = strlen(msg);

    if (len > 0)
        msg[len++] = '\n';
    if (respond(sock, (int)v, "", 0, msg, len) < 0)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "helper-failed uid=%u reason=\"the client left\"",
               (unsigned)uid);
    return (int)v;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_helper_request_clear) struct logto_helper_request req = { 0 };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_uid_slot_release) struct logto_uid_slot slot = LOGTO_UID_SLOT_INIT;
    struct logto_error err = { 0 };
    struct cli cli = { 0 };
    struct ucred cred;
    socklen_t cred_len = sizeof(cred);
    char buf[LOGTO_HELPER_REQUEST_MAX];
    const char *why = NULL;
    size_t len = 0, out_len, err_len;
    int sock, out_fd, err_fd, status, c, r;

    while ((c = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (c != 'c') {
            fputs("usage: logto-helper [--config FILE] (standard input: a connected socket)\n",
                  stderr);
            return CLI_USAGE;
        }
        cli.config_path = optarg;
    }
    openlog("logto-helper", LOG_PID, LOG_AUTHPRIV);
    /* Who connected, from the kernel: nothing else identifies the caller. */
    if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
        cred_len != sizeof(cred)) {
        fputs("logto-helper: standard input is not a connected local socket (the helper runs "
              "from logto-helper.socket)\n",
              stderr);
        return CLI_FAIL;
    }
    /* The socket moves away from 0 and 1; stdout and stderr become memory files whose contents
     * go back to the client, so no byte reaches the socket outside a response. */
    sock = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    out_fd = memfd_create("logto-helper-out", MFD_CLOEXEC);
    err_fd = memfd_create("logto-helper-err", MFD_CLOEXEC);
    if (sock < 0 || out_fd < 0 || err_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0) {
        syslog(LOG_AUTHPRIV | LOG_ERR, "helper-failed reason=\"cannot set up the streams: %m\"");
        return CLI_FAIL;
    }
    (void)close(STDIN_FILENO);

    /* One caller's flood must not take everybody's helpers: a few at once per UID, held until
     * this process ends (the kernel drops the lock). */
    if (cli_load_config(&cli, &cfg) != CLI_OK)
        return refuse(sock, cred.uid,
                      "the helper's configuration is unusable (`logtoctl config check` says why)");
    cli.ctx.cfg = cfg;
    if (logto_uid_slot_take(&cli.ctx, cred.uid, HELPER_PER_UID, &slot, &err) < 0)
        return refuse(sock, cred.uid, err.message);
    if (read_request(sock, buf, sizeof(buf), &len, &why) < 0) {
        explicit_bzero(buf, sizeof(buf));
        return refuse(sock, cred.uid, why);
    }
    r = logto_helper_request_parse(buf, len, &req, &err);
    explicit_bzero(buf, sizeof(buf)); /* a password request holds a password */
    if (r < 0)
        return refuse(sock, cred.uid, err.message);

    logto_net_builtin();
    syslog(LOG_AUTHPRIV | LOG_INFO, "helper-request uid=%u pid=%d op=%s", (unsigned)cred.uid,
           (int)cred.pid, op_name(req.op));
    if (req.op != LOGTO_HELPER_OP_TOKEN) {
        cli_audit_log(&cli); /* log lines to syslog, under our own name */
        openlog("logto-helper", LOG_PID, LOG_AUTHPRIV);
        return verdict_op(&cli, sock, cred.uid, &req);
    }
    cli.json = req.json;
    status = cli_token_for(&cli, cred.uid,
                           &(struct cli_token_request){ .user = req.user,
                                                        .resource = req.resource,
                                                        .organization = req.organization,
                                                        .scope = req.scope });
    fflush(stdout);
    fflush(stderr);
    _cleanup_secret_ char *out = drain(out_fd, &out_len);
    _cleanup_free_ char *errtext = drain(err_fd, &err_len);
    if (respond(sock, status, out ? out : "", out ? out_len : 0, errtext ? errtext : "",
                errtext ? err_len : 0) < 0)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "helper-failed uid=%u reason=\"the client left\"",
               (unsigned)cred.uid);
    if (out)
        explicit_bzero(out, out_len);
    return status;
}
