/* SPDX-License-Identifier: MIT */
/*
 * `logtoctl token` for an unprivileged caller: the request goes to the root helper's socket
 * (logto-helper(8)), which knows the caller from the kernel; its answer is printed as if the
 * command had run as root. The environment names only where the socket is
 * (LOGTO_HELPER_SOCKET), never who is asking.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "helperproto.h"
#include "memory.h"

static int connect_helper(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int cli_helper_token(struct cli *cli, const struct cli_token_request *req)
{
    const char *path = getenv(LOGTO_HELPER_SOCKET_ENV);
    struct logto_error err = { 0 };
    _cleanup_free_ char *request = NULL;
    _cleanup_secret_ char *answer = NULL;
    size_t request_len, len = 0, size = LOGTO_HELPER_RESPONSE_MAX + 128, out_len, err_len, hlen;
    int fd, status;

    if (!path || !*path)
        path = LOGTO_HELPER_SOCKET_PATH;
    if (logto_helper_token_request(req->user, req->resource, req->organization, req->scope,
                                   cli->json, &request, &request_len, &err) < 0) {
        fprintf(stderr, "logtoctl: token: %s\n", err.message);
        return CLI_USAGE;
    }
    fd = connect_helper(path);
    if (fd < 0) {
        fprintf(stderr,
                "logtoctl: token: the token records are root's, and the helper for other users "
                "is not available (%s: %s): enable logto-helper.socket, or run as root with "
                "--user\n",
                path, strerror(errno));
        return CLI_FAIL;
    }
    answer = calloc(1, size + 1);
    if (!answer || logto_helper_send_all(fd, request, request_len) < 0) {
        close(fd);
        fprintf(stderr, "logtoctl: token: cannot send the request to the helper (%s)\n", path);
        return CLI_FAIL;
    }
    (void)shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n = read(fd, answer + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == size)
            break;
    }
    close(fd);
    if (logto_helper_response_header(answer, len, &status, &out_len, &err_len, &hlen) < 0 ||
        hlen + out_len + err_len != len) {
        explicit_bzero(answer, len);
        fprintf(stderr, "logtoctl: token: the helper (%s) gave no valid answer\n", path);
        return CLI_FAIL;
    }
    fwrite(answer + hlen + out_len, 1, err_len, stderr);
    fwrite(answer + hlen, 1, out_len, stdout);
    explicit_bzero(answer, len);
    return fflush(stdout) == 0 ? status : CLI_FAIL;
}
