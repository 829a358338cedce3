/* SPDX-License-Identifier: MIT */
/*
 * The root helper's wire protocol (logto-helper(8) "PROTOCOL"): one request, one response per
 * connection on a local stream socket. The helper knows the caller from SO_PEERCRED alone;
 * nothing in a request is an identity, only what is asked for.
 *
 * Request: at most LOGTO_HELPER_REQUEST_MAX bytes of lines ending in '\n', ended by an empty
 * line:
 *
 *   logto-helper 1            version line (another version is refused)
 *   op=token                  the operation (first field after the version; required)
 *   user=NAME                 optional: whose token (only root may name another user)
 *   resource=URI              optional
 *   organization=ID           optional
 *   scope=SCOPES              optional
 *   json=1                    optional: the --json document instead of the bare token
 *   (empty line)
 *
 * Values are 1..LOGTO_HELPER_VALUE_MAX bytes of printable ASCII (and space); a key at most once;
 * unknown keys, other bytes, a missing end or anything after it are refused.
 *
 * Response: a header line "logto-helper 1 status=S out=N err=M\n" (S: a logtoctl exit code
 * 0..255), then N bytes for the caller's stdout and M bytes for its stderr; N + M at most
 * LOGTO_HELPER_RESPONSE_MAX.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LOGTO_HELPER_VERSION      1
#define LOGTO_HELPER_REQUEST_MAX  4096
#define LOGTO_HELPER_VALUE_MAX    1024
#define LOGTO_HELPER_RESPONSE_MAX (256u * 1024)
/* Seconds a client has to send its whole request. */
#define LOGTO_HELPER_READ_TIMEOUT 5
/* The socket the units create; LOGTO_HELPER_SOCKET in the environment overrides the path (a
 * place to connect to, never an identity: the helper asks the kernel who connected). */
#define LOGTO_HELPER_SOCKET_PATH "/run/logto/helper.sock"
#define LOGTO_HELPER_SOCKET_ENV  "LOGTO_HELPER_SOCKET"

enum logto_helper_op {
    LOGTO_HELPER_OP_NONE,
    LOGTO_HELPER_OP_TOKEN,
};

struct logto_helper_request {
    enum logto_helper_op op;
    char *user, *resource, *organization, *scope; /* NULL when absent */
    bool json;
};

/* True once buf holds a complete request (the empty line that ends it). */
bool logto_helper_request_complete(const char *buf, size_t len);

/* Parse a complete request (len bytes, no NUL needed). 0, or -LOGTO_E_INVAL with the reason in
 * err (safe to show: no byte of the request is quoted), or -LOGTO_E_NOMEM. On success the caller
 * clears *ret. */
int logto_helper_request_parse(const char *buf, size_t len, struct logto_helper_request *ret,
                               struct logto_error *err);
void logto_helper_request_clear(struct logto_helper_request *req);

/* A token request as bytes (malloc'ed, *ret_len bytes); each value NULL when absent.
 * -LOGTO_E_INVAL when a value would not parse back. */
int logto_helper_token_request(const char *user, const char *resource, const char *organization,
                               const char *scope, bool json, char **ret, size_t *ret_len,
                               struct logto_error *err);

/* Write all len bytes to the socket fd (no SIGPIPE: a client that left is an error). 0 or -1. */
int logto_helper_send_all(int fd, const char *buf, size_t len);

/* A response's header: "logto-helper 1 status=S out=N err=M\n" at the start of buf. 0 with the
 * header's length, or -LOGTO_E_INVAL (malformed, or not complete within len bytes). */
int logto_helper_response_header(const char *buf, size_t len, int *ret_status, size_t *ret_out,
                                 size_t *ret_err, size_t *ret_header_len);
