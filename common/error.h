/* SPDX-License-Identifier: MIT */
/*
 * One error currency for all of common/: functions return 0 (or a non-negative count) on success
 * and -LOGTO_E_* on failure, and fill an optional struct logto_error with a human message that
 * names what was wrong. The PAM, NSS and CLI front ends translate the code once, at their edge.
 * Messages never contain secrets, tokens or response bodies.
 */
#pragma once

#include <stdbool.h>

#include "macro.h"

enum logto_errc {
    LOGTO_OK = 0,
    LOGTO_E_NOMEM,       /* out of memory */
    LOGTO_E_INVAL,       /* bad argument or malformed local input */
    LOGTO_E_CONFIG,      /* configuration error (file, line and key in the message) */
    LOGTO_E_IO,          /* local file or system call failed */
    LOGTO_E_UNSAFE,      /* a trusted file or directory has an unsafe owner, mode or type */
    LOGTO_E_CORRUPT,     /* a local file (snapshot, token record, cache) is damaged or foreign */
    LOGTO_E_UNREACHABLE, /* the IdP could not be reached: DNS, connect, TLS, timeout, HTTP 5xx */
    LOGTO_E_PROTOCOL,    /* the IdP answered, but not as the protocol says (bad JSON, size...) */
    LOGTO_E_TOKEN,       /* a token failed verification (signature, iss, aud, exp, alg...) */
    LOGTO_E_DENIED,      /* the IdP said no: wrong password, access_denied, invalid_grant */
    LOGTO_E_EXPIRED,     /* a device code, session or grant expired */
    LOGTO_E_TIMEOUT,     /* the user did not finish in time */
    LOGTO_E_MFA,         /* a second factor is required and could not be given */
    LOGTO_E_LOCKED,      /* too many failed attempts; the IdP locked the sign-in */
    LOGTO_E_SUSPENDED,   /* the account is suspended */
    LOGTO_E_CAPTCHA,     /* the tenant demands a captcha, which a terminal cannot solve */
    LOGTO_E_NOTFOUND,    /* no such user, record or entry */
    LOGTO_E_IDENTITY,    /* claims do not map to an acceptable POSIX identity */
    LOGTO_E_COLLISION,   /* a name or ID collides with a local or another mapped entry */
    LOGTO_E_UNSUPPORTED, /* the IdP or configuration does not offer this */
    LOGTO_E_BUSY,        /* a lock could not be taken in time */
    LOGTO_E__MAX
};

struct logto_error {
    enum logto_errc code;
    char message[512];
};

/* Record code and message in err (may be NULL). */
void logto_error_fill(struct logto_error *err, enum logto_errc code, const char *fmt, ...)
    _printf_(3, 4);

/*
 * logto_error_fill, and the value -code for a one-line `return logto_error_set(...)`. A macro so
 * that the compiler and static analysers (gcc -fanalyzer) see in the caller that the result is
 * negative: a function in another file would leave them guessing, and every "r < 0" path after
 * it would look like it could fall through with unset outputs.
 */
#define logto_error_set(err, code, ...)                                                            \
    __extension__({                                                                                \
        const enum logto_errc logto_error_code_ = (code);                                          \
        logto_error_fill((err), logto_error_code_, __VA_ARGS__);                                   \
        -(int)logto_error_code_;                                                                   \
    })

/* Put "prefix: " in front of the message already in err (context added by a caller). */
void logto_error_prefix(struct logto_error *err, const char *fmt, ...) _printf_(2, 3);

void logto_error_clear(struct logto_error *err);

/* Stable lower-case name of a code, e.g. "unreachable"; used in logs and --json output. */
const char *logto_errc_name(enum logto_errc code);

/* The code from a negative return value (or LOGTO_OK). */
static inline enum logto_errc logto_errc_from(int r)
{
    return r < 0 && -r < LOGTO_E__MAX ? (enum logto_errc) - r : LOGTO_OK;
}

#define LOGTO_OOM(err) logto_error_set((err), LOGTO_E_NOMEM, "out of memory")
