/* SPDX-License-Identifier: MIT */
/*
 * logto-helper: the root helper for unprivileged callers (logto-helper(8)). systemd starts one per
 * connection (logto-helper.socket, Accept=yes, StandardInput=socket): standard input is the
 * connected socket. The caller is who the kernel says connected (SO_PEERCRED), never anything it
 * sends or sets in its environment; the request (helperproto.h) only says what is asked for.
 * Operation token: `logtoctl token` as root, for that caller (cli_token_for: root may name any
 * user, anybody else gets only their own Logto user). What the command would print goes back to
 * the client, which prints it.
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

#include "cli.h"
#include "conf.h"
#include "helperproto.h"
#include "memory.h"
#include "net.h"
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
    int sock, out_fd, err_fd, status, c;

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
    if (read_request(sock, buf, sizeof(buf), &len, &why) < 0)
        return refuse(sock, cred.uid, why);
    if (logto_helper_request_parse(buf, len, &req, &err) < 0)
        return refuse(sock, cred.uid, err.message);
    explicit_bzero(buf, sizeof(buf));

    logto_net_builtin();
    cli.json = req.json;
    syslog(LOG_AUTHPRIV | LOG_INFO, "helper-request uid=%u pid=%d op=token", (unsigned)cred.uid,
           (int)cred.pid);
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
