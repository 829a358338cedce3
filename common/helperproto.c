/* SPDX-License-Identifier: MIT */
/* The root helper's wire protocol: helperproto.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helperproto.h"
#include "memory.h"
#include "util.h"

#define VERSION_LINE "logto-helper 1"

bool logto_helper_request_complete(const char *buf, size_t len)
{
    return memmem(buf, len, "\n\n", 2) != NULL;
}

void logto_helper_request_clear(struct logto_helper_request *req)
{
    free(req->user);
    free(req->resource);
    free(req->organization);
    free(req->scope);
    free(req->service);
    logto_free_secret(req->password);
    *req = (struct logto_helper_request){ 0 };
}

static bool value_ok(const char *v, size_t len)
{
    if (len == 0 || len > LOGTO_HELPER_VALUE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return false;
    return true;
}

static int take(char **slot, const char *key, const char *v, size_t len, struct logto_error *err)
{
    if (*slot)
        return logto_error_set(err, LOGTO_E_INVAL, "request: %s given twice", key);
    /* Not strndup: v is not NUL-terminated, and its last byte may be the end of the request. */
    *slot = malloc(len + 1);
    if (!*slot)
        return LOGTO_OOM(err);
    memcpy(*slot, v, len);
    (*slot)[len] = '\0';
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The password's hex form (lower case, whole bytes, no NUL byte) into a secret string. */
static int take_password(char **slot, const char *v, size_t len, struct logto_error *err)
{
    char *pw;

    if (*slot)
        return logto_error_set(err, LOGTO_E_INVAL, "request: password given twice");
    if (len % 2 != 0)
        return logto_error_set(err, LOGTO_E_INVAL, "request: the password is not hex");
    pw = calloc(1, len / 2 + 1);
    if (!pw)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            logto_free_secret(pw);
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "request: the password is not hex of NUL-free bytes");
        }
        pw[i] = (char)(hi << 4 | lo);
    }
    *slot = pw;
    return 0;
}

static int parse_field(struct logto_helper_request *req, const char *line, size_t len,
                       struct logto_error *err)
{
    const char *eq = memchr(line, '=', len);
    size_t klen, vlen;
    const char *v;

    if (!eq)
        return logto_error_set(err, LOGTO_E_INVAL, "request: a line is not key=value");
    klen = (size_t)(eq - line);
    v = eq + 1;
    vlen = len - klen - 1;
    if (!value_ok(v, vlen))
        return logto_error_set(err, LOGTO_E_INVAL,
                               "request: a value is empty, longer than %d bytes or not printable "
                               "ASCII",
                               LOGTO_HELPER_VALUE_MAX);
#define KEY_IS(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
    if (KEY_IS("op")) {
        if (req->op != LOGTO_HELPER_OP_NONE)
            return logto_error_set(err, LOGTO_E_INVAL, "request: op given twice");
        if (vlen == 5 && memcmp(v, "token", 5) == 0)
            req->op = LOGTO_HELPER_OP_TOKEN;
        else if (vlen == 8 && memcmp(v, "password", 8) == 0)
            req->op = LOGTO_HELPER_OP_PASSWORD;
        else if (vlen == 7 && memcmp(v, "account", 7) == 0)
            req->op = LOGTO_HELPER_OP_ACCOUNT;
        else
            return logto_error_set(err, LOGTO_E_INVAL, "request: unknown operation");
        return 0;
    }
    if (req->op == LOGTO_HELPER_OP_NONE)
        return logto_error_set(err, LOGTO_E_INVAL, "request: op must come first");
    if (KEY_IS("user"))
        return take(&req->user, "user", v, vlen, err);
    if (req->op == LOGTO_HELPER_OP_PASSWORD || req->op == LOGTO_HELPER_OP_ACCOUNT) {
        if (KEY_IS("service"))
            return take(&req->service, "service", v, vlen, err);
        if (KEY_IS("password") && req->op == LOGTO_HELPER_OP_PASSWORD)
            return take_password(&req->password, v, vlen, err);
        return logto_error_set(err, LOGTO_E_INVAL, "request: unknown key for op=%s",
                               req->op == LOGTO_HELPER_OP_PASSWORD ? "password" : "account");
    }
    if (KEY_IS("resource"))
        return take(&req->resource, "resource", v, vlen, err);
    if (KEY_IS("organization"))
        return take(&req->organization, "organization", v, vlen, err);
    if (KEY_IS("scope"))
        return take(&req->scope, "scope", v, vlen, err);
    if (KEY_IS("json")) {
        if (req->json || vlen != 1 || v[0] != '1')
            return logto_error_set(err, LOGTO_E_INVAL, "request: json must be 1, once");
        req->json = true;
        return 0;
    }
#undef KEY_IS
    return logto_error_set(err, LOGTO_E_INVAL, "request: unknown key");
}

int logto_helper_request_parse(const char *buf, size_t len, struct logto_helper_request *ret,
                               struct logto_error *err)
{
    struct logto_helper_request req = { 0 };
    const char *p = buf, *end = buf + len;
    bool first = true, ended = false;
    int r = 0;

    *ret = (struct logto_helper_request){ 0 };
    if (len > LOGTO_HELPER_REQUEST_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "request: longer than %d bytes",
                               LOGTO_HELPER_REQUEST_MAX);
    while (p < end && r >= 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n;

        if (!nl) {
            r = logto_error_set(err, LOGTO_E_INVAL, "request: the last line has no end");
            break;
        }
        n = (size_t)(nl - p);
        if (first) {
            if (n != sizeof(VERSION_LINE) - 1 || memcmp(p, VERSION_LINE, n) != 0)
                r = logto_error_set(err, LOGTO_E_INVAL,
                                    "request: not protocol version %d of logto-helper",
                                    LOGTO_HELPER_VERSION);
            first = false;
        } else if (n == 0) {
            ended = true;
            p = nl + 1;
            break;
        } else
            r = parse_field(&req, p, n, err);
        p = nl + 1;
    }
    if (r >= 0 && (!ended || p != end))
        r = logto_error_set(err, LOGTO_E_INVAL,
                            ended ? "request: bytes after its end"
                                  : "request: no end (empty line)");
    if (r >= 0 && req.op == LOGTO_HELPER_OP_NONE)
        r = logto_error_set(err, LOGTO_E_INVAL, "request: no operation");
    if (r >= 0 && req.op == LOGTO_HELPER_OP_PASSWORD &&
        (!req.user || !req.service || !req.password))
        r = logto_error_set(err, LOGTO_E_INVAL,
                            "request: op=password needs user, service and password");
    if (r >= 0 && req.op == LOGTO_HELPER_OP_ACCOUNT && (!req.user || !req.service))
        r = logto_error_set(err, LOGTO_E_INVAL, "request: op=account needs user and service");
    if (r < 0) {
        logto_helper_request_clear(&req);
        return r;
    }
    *ret = req;
    return 0;
}

int logto_helper_token_request(const char *user, const char *resource, const char *organization,
                               const char *scope, bool json, char **ret, size_t *ret_len,
                               struct logto_error *err)
{
    const char *keys[] = { "user", "resource", "organization", "scope" };
    const char *values[] = { user, resource, organization, scope };
    char *buf = NULL;
    size_t size = 0;
    FILE *f;

    *ret = NULL;
    for (size_t i = 0; i < ELEMENTSOF(values); i++)
        if (values[i] && !value_ok(values[i], strlen(values[i])))
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "the %s is empty, longer than %d bytes or not printable ASCII",
                                   keys[i], LOGTO_HELPER_VALUE_MAX);
    f = open_memstream(&buf, &size);
    if (!f)
        return LOGTO_OOM(err);
    fprintf(f, VERSION_LINE "\nop=token\n");
    for (size_t i = 0; i < ELEMENTSOF(values); i++)
        if (values[i])
            fprintf(f, "%s=%s\n", keys[i], values[i]);
    if (json)
        fprintf(f, "json=1\n");
    fputc('\n', f);
    if (fclose(f) != 0) {
        free(buf);
        return LOGTO_OOM(err);
    }
    if (size > LOGTO_HELPER_REQUEST_MAX) {
        free(buf);
        return logto_error_set(err, LOGTO_E_INVAL, "the request is longer than %d bytes",
                               LOGTO_HELPER_REQUEST_MAX);
    }
    *ret = buf;
    *ret_len = size;
    return 0;
}

int logto_helper_password_request(const char *user, const char *service, const char *password,
                                  char **ret, size_t *ret_len, struct logto_error *err)
{
    static const char hex[] = "0123456789abcdef";
    size_t pw_len = strlen(password), size;
    char *buf, *p;
    int n;

    *ret = NULL;
    if (!value_ok(user, strlen(user)) || !value_ok(service, strlen(service)))
        return logto_error_set(err, LOGTO_E_INVAL,
                               "the user or service name is empty, too long or not printable");
    if (pw_len == 0 || pw_len > LOGTO_HELPER_PASSWORD_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "the password is empty or longer than %d bytes",
                               LOGTO_HELPER_PASSWORD_MAX);
    size = sizeof(VERSION_LINE) + strlen(user) + strlen(service) + 2 * pw_len + 64;
    if (size > LOGTO_HELPER_REQUEST_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "the request is longer than %d bytes",
                               LOGTO_HELPER_REQUEST_MAX);
    buf = calloc(1, size);
    if (!buf)
        return LOGTO_OOM(err);
    n = snprintf(buf, size, VERSION_LINE "\nop=password\nuser=%s\nservice=%s\npassword=", user,
                 service);
    p = buf + n;
    for (size_t i = 0; i < pw_len; i++) {
        *p++ = hex[(unsigned char)password[i] >> 4];
        *p++ = hex[(unsigned char)password[i] & 15];
    }
    *p++ = '\n';
    *p++ = '\n';
    *ret = buf;
    *ret_len = (size_t)(p - buf);
    return 0;
}

int logto_helper_account_request(const char *user, const char *service, char **ret, size_t *ret_len,
                                 struct logto_error *err)
{
    *ret = NULL;
    if (!value_ok(user, strlen(user)) || !value_ok(service, strlen(service)))
        return logto_error_set(err, LOGTO_E_INVAL,
                               "the user or service name is empty, too long or not printable");
    /* Two values of at most LOGTO_HELPER_VALUE_MAX bytes: within LOGTO_HELPER_REQUEST_MAX. */
    *ret = logto_asprintf(VERSION_LINE "\nop=account\nuser=%s\nservice=%s\n\n", user, service);
    if (!*ret)
        return LOGTO_OOM(err);
    *ret_len = strlen(*ret);
    return 0;
}

const char *logto_helper_socket_path(void)
{
    const char *path = secure_getenv(LOGTO_HELPER_SOCKET_ENV);
    return path && *path ? path : LOGTO_HELPER_SOCKET_PATH;
}

int logto_helper_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct ucred cred;
    socklen_t cred_len = sizeof(cred);
    int fd, e;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0)
        goto fail;
    if (cred_len != sizeof(cred) || cred.uid != 0) {
        errno = EPERM;
        goto fail;
    }
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

int logto_helper_exchange(int fd, const char *request, size_t request_len, char *buf, size_t size,
                          size_t *ret_len)
{
    size_t len = 0;

    if (logto_helper_send_all(fd, request, request_len) < 0) {
        close(fd);
        return -1;
    }
    (void)shutdown(fd, SHUT_WR);
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *ret_len = len;
    return 0;
}

static bool parse_number(const char **p, const char *end, const char *prefix, size_t max,
                         size_t *ret)
{
    size_t plen = strlen(prefix), v = 0;
    const char *q = *p;

    if ((size_t)(end - q) < plen || memcmp(q, prefix, plen) != 0)
        return false;
    q += plen;
    if (q == end || *q < '0' || *q > '9' ||
        (*q == '0' && q + 1 < end && q[1] >= '0' && q[1] <= '9'))
        return false;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        v = v * 10 + (size_t)(*q - '0');
        if (v > max)
            return false;
    }
    *p = q;
    *ret = v;
    return true;
}

int logto_helper_response_header(const char *buf, size_t len, int *ret_status, size_t *ret_out,
                                 size_t *ret_err, size_t *ret_header_len)
{
    const char *nl = memchr(buf, '\n', len < 128 ? len : 128), *p = buf;
    size_t status, out, errlen;

    if (!nl)
        return -LOGTO_E_INVAL;
    if (!parse_number(&p, nl, VERSION_LINE " status=", 255, &status) ||
        !parse_number(&p, nl, " out=", LOGTO_HELPER_RESPONSE_MAX, &out) ||
        !parse_number(&p, nl, " err=", LOGTO_HELPER_RESPONSE_MAX, &errlen) || p != nl ||
        out + errlen > LOGTO_HELPER_RESPONSE_MAX)
        return -LOGTO_E_INVAL;
    *ret_status = (int)status;
    *ret_out = out;
    *ret_err = errlen;
    *ret_header_len = (size_t)(nl - buf) + 1;
    return 0;
}

int logto_helper_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
