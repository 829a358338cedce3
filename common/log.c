/* SPDX-License-Identifier: MIT */
/* Logging to a caller-chosen sink. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"
#include "text.h"

char *logto_log_sanitize(char *dst, size_t n, const char *src)
{
    /* A log line is read on a terminal too (tail, less -R, journalctl): the same rules. */
    return logto_text_clean(dst, n, src, 0);
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
