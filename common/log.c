/* SPDX-License-Identifier: MIT */
/* Logging to a caller-chosen sink. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

char *logto_log_sanitize(char *dst, size_t n, const char *src)
{
    size_t i = 0;

    if (n == 0)
        return dst;
    for (; src && src[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
    return dst;
}

void logto_log(const struct logto_log *log, int priority, const char *fmt, ...)
{
    char raw[1024];
    char line[1024];
    va_list ap;

    if (priority == LOG_DEBUG && (!log || !log->debug))
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    logto_log_sanitize(line, sizeof(line), raw);

    if (log && log->fn)
        log->fn(log->userdata, priority, line);
    else
        syslog(LOG_AUTHPRIV | priority, "logto: %s", line);
}
