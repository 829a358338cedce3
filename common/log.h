/* SPDX-License-Identifier: MIT */
/*
 * Logging through a sink chosen by the front end: pam_syslog for the PAM module, syslog for the
 * NSS module, stderr (and syslog) for logtoctl. common/ never calls openlog().
 *
 * Line format (stable, greppable): "<event> key=value key=value ...", e.g.
 *   auth-denied user=alice service=sshd reason="signed in as bob"
 * Control characters in the text are replaced by '?', so nothing from the network can forge a
 * second line. Never pass a token, password, secret or response body.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

typedef void (*logto_log_fn)(void *userdata, int priority, const char *line);

struct logto_log {
    logto_log_fn fn; /* NULL: syslog(LOG_AUTHPRIV | priority, ...) */
    void *userdata;
    bool debug; /* LOG_DEBUG lines are dropped unless set */
};

void logto_log(const struct logto_log *log, int priority, const char *fmt, ...) _printf_(3, 4);

#define logto_log_debug(log, ...)                                                                  \
    do {                                                                                           \
        const struct logto_log *_l_ = (log);                                                       \
        if (_l_ && _l_->debug)                                                                     \
            logto_log(_l_, LOG_DEBUG, __VA_ARGS__);                                                \
    } while (0)

/* Copy src into dst (size n) for use as a log value: what text.h never shows (controls, C1,
 * invalid UTF-8, bidi and other format characters) becomes '?', and the result is cut to at
 * most n-1 bytes on a character boundary. Returns dst. */
char *logto_log_sanitize(char *dst, size_t n, const char *src);
