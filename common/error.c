/* SPDX-License-Identifier: MIT */
/* Error codes and messages. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const errc_names[LOGTO_E__MAX] = {
    [LOGTO_OK] = "ok",
    [LOGTO_E_NOMEM] = "nomem",
    [LOGTO_E_INVAL] = "invalid",
    [LOGTO_E_CONFIG] = "config",
    [LOGTO_E_IO] = "io",
    [LOGTO_E_UNSAFE] = "unsafe-file",
    [LOGTO_E_CORRUPT] = "corrupt",
    [LOGTO_E_UNREACHABLE] = "unreachable",
    [LOGTO_E_PROTOCOL] = "protocol",
    [LOGTO_E_TOKEN] = "bad-token",
    [LOGTO_E_DENIED] = "denied",
    [LOGTO_E_EXPIRED] = "expired",
    [LOGTO_E_TIMEOUT] = "timeout",
    [LOGTO_E_MFA] = "mfa-required",
    [LOGTO_E_LOCKED] = "locked",
    [LOGTO_E_SUSPENDED] = "suspended",
    [LOGTO_E_CAPTCHA] = "captcha-required",
    [LOGTO_E_NOTFOUND] = "not-found",
    [LOGTO_E_IDENTITY] = "bad-identity",
    [LOGTO_E_COLLISION] = "collision",
    [LOGTO_E_UNSUPPORTED] = "unsupported",
    [LOGTO_E_BUSY] = "busy",
};

const char *logto_errc_name(enum logto_errc code)
{
    if ((unsigned)code >= LOGTO_E__MAX || !errc_names[code])
        return "unknown";
    return errc_names[code];
}

void logto_error_fill(struct logto_error *err, enum logto_errc code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
}

void logto_error_prefix(struct logto_error *err, const char *fmt, ...)
{
    char prefix[sizeof(err->message)];
    size_t plen, mlen, cap = sizeof(err->message) - 1;
    va_list ap;
    int n;

    if (!err)
        return;
    va_start(ap, fmt);
    n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    strcat(prefix, ": ");
    plen = strlen(prefix);
    mlen = strnlen(err->message, cap);
    /* Keep the prefix whole; the old message is cut at the end if both do not fit. */
    if (plen + mlen > cap)
        mlen = cap - plen;
    memmove(err->message + plen, err->message, mlen);
    memcpy(err->message, prefix, plen);
    err->message[plen + mlen] = '\0';
}

void logto_error_clear(struct logto_error *err)
{
    if (err) {
        err->code = LOGTO_OK;
        err->message[0] = '\0';
    }
}
