/* SPDX-License-Identifier: MIT */
/* What every operation of common/ needs: the configuration, a log sink and a clock. */
#pragma once

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "log.h"

struct logto_ctx {
    const struct logto_config *cfg;
    struct logto_log log;
    int64_t (*now)(void);    /* NULL: time(NULL); tests inject a clock */
    const char *passwd_path; /* local account databases; NULL: /etc/passwd, /etc/group */
    const char *group_path;
    const char *shells_path;     /* valid login shells; NULL: /etc/shells */
    const char *base_passwd_dir; /* passwd.master, group.master; NULL: /usr/share/base-passwd */
};

static inline int64_t logto_now(const struct logto_ctx *ctx)
{
    return ctx && ctx->now ? ctx->now() : (int64_t)time(NULL);
}
