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
 * or, to check the caller's own password for a PAM service (a screen locker running as the
 * user; version 1 still: a client of the token operation never sends these keys):
 *
 *   logto-helper 1
 *   op=password
 *   user=NAME                 required: must be the caller's own Logto user
 *   service=NAME              required: the PAM service whose rules and method apply
 *   password=HEX              required: the password, hex-encoded (1..LOGTO_HELPER_PASSWORD_MAX
 *                             bytes, no NUL), so that any byte travels in a printable line
 *   (empty line)
 *
 * or, to decide the account phase of the caller's own Logto user for a PAM service (a screen
 * locker's pam_acct_mgmt; version 1 still):
 *
 *   logto-helper 1
 *   op=account
 *   user=NAME                 required: the caller's own Logto user (root may name any)
 *   service=NAME              required: the PAM service whose rules apply
 *   (empty line)
 *
 * Values are 1..LOGTO_HELPER_VALUE_MAX bytes of printable ASCII (and space); a key at most once;
 * unknown keys, other bytes, a missing end or anything after it are refused.
 *
 * Response: a header line "logto-helper 1 status=S out=N err=M\n" (S: a logtoctl exit code
 * 0..255), then N bytes for the caller's stdout and M bytes for its stderr; N + M at most
 * LOGTO_HELPER_RESPONSE_MAX. For op=password and op=account, S is a verdict (enum
 * logto_helper_verdict), out is empty and err is one line for the person; a refused request keeps
 * its logtoctl exit code (2), which a password client reads as "unavailable".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define LOGTO_HELPER_VERSION      1
#define LOGTO_HELPER_REQUEST_MAX  4096
#define LOGTO_HELPER_VALUE_MAX    1024
#define LOGTO_HELPER_RESPONSE_MAX (256u * 1024)
/* Bytes of a password (its hex form fills LOGTO_HELPER_VALUE_MAX). */
#define LOGTO_HELPER_PASSWORD_MAX (LOGTO_HELPER_VALUE_MAX / 2)
/* Seconds a client has to send its whole request. */
#define LOGTO_HELPER_READ_TIMEOUT 5
/* The socket the units create; LOGTO_HELPER_SOCKET in the environment overrides the path (a
 * place to connect to, never an identity: the helper asks the kernel who connected). */
#define LOGTO_HELPER_SOCKET_PATH "/run/logto/helper.sock"
#define LOGTO_HELPER_SOCKET_ENV  "LOGTO_HELPER_SOCKET"

enum logto_helper_op {
    LOGTO_HELPER_OP_NONE,
    LOGTO_HELPER_OP_TOKEN,
    LOGTO_HELPER_OP_PASSWORD,
    LOGTO_HELPER_OP_ACCOUNT,
};

/* The answer to op=password and op=account, as the response's status (numbers distinct from
 * logtoctl's exit codes 0..7, except yes). The PAM module maps them (pam_logto.c). */
enum logto_helper_verdict {
    LOGTO_HELPER_YES = 0,          /* the password is right and the service's rules allow */
    LOGTO_HELPER_NO = 20,          /* wrong password, or the rules or the IdP refuse */
    LOGTO_HELPER_LOCKED = 21,      /* too many failures: throttled or locked out */
    LOGTO_HELPER_UNAVAILABLE = 22, /* cannot be decided now (IdP down past the grace, config) */
    LOGTO_HELPER_NOT_OWN = 23,     /* not the caller's own Logto user */
    LOGTO_HELPER_UNKNOWN = 24,     /* no Logto user of this host has the name */
    LOGTO_HELPER_SUSPENDED = 25,   /* op=account: the user is suspended at the provider */
};

struct logto_helper_request {
    enum logto_helper_op op;
    char *user, *resource, *organization, *scope; /* NULL when absent */
    char *service;                                /* op=password, op=account */
    char *password; /* op=password: decoded, NUL-terminated; wiped by _clear */
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

/* A password request as bytes (*ret holds the password: free it with logto_free_secret).
 * -LOGTO_E_INVAL when a value would not parse back (an empty, NUL-free password up to
 * LOGTO_HELPER_PASSWORD_MAX bytes). */
int logto_helper_password_request(const char *user, const char *service, const char *password,
                                  char **ret, size_t *ret_len, struct logto_error *err);

/* An account request as bytes (malloc'ed). -LOGTO_E_INVAL when a name would not parse back. */
int logto_helper_account_request(const char *user, const char *service, char **ret, size_t *ret_len,
                                 struct logto_error *err);

/* Where the helper's socket is: LOGTO_HELPER_SOCKET_PATH, or LOGTO_HELPER_SOCKET for tests
 * (ignored in setuid/setgid programs: secure_getenv). */
const char *logto_helper_socket_path(void);

/* Connect to the helper at path. The socket must be root's (SO_PEERCRED of the listener): a
 * socket some user put there to say "yes" to passwords is refused (EPERM). fd, or -1 with
 * errno. */
int logto_helper_connect(const char *path);

/* Send the request on fd, read the whole answer into buf (size bytes), close fd. 0 with its
 * length, or -1 (cannot send). */
int logto_helper_exchange(int fd, const char *request, size_t request_len, char *buf, size_t size,
                          size_t *ret_len);

/* Write all len bytes to the socket fd (no SIGPIPE: a client that left is an error). 0 or -1. */
int logto_helper_send_all(int fd, const char *buf, size_t len);

/* A response's header: "logto-helper 1 status=S out=N err=M\n" at the start of buf. 0 with the
 * header's length, or -LOGTO_E_INVAL (malformed, or not complete within len bytes). */
int logto_helper_response_header(const char *buf, size_t len, int *ret_status, size_t *ret_out,
                                 size_t *ret_err, size_t *ret_header_len);
