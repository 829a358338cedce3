/* SPDX-License-Identifier: MIT */
/*
 * Bounded work before authentication (issue 13.7). sshd runs PAM for any name an
 * unauthenticated client sends, and `logtoctl keys` for every key it offers; both may ask the
 * Management API about a name. Such lookups are:
 *
 *  - charged to one token bucket per host (lookup_burst tokens, refilled at lookup_rate per
 *    minute): an empty bucket means "do not ask", never "wait";
 *  - remembered, found or not, for lookup_cache_ttl seconds, like SSSD's cache behind
 *    sss_ssh_authorizedkeys, so repeated names cost nothing.
 *
 * Both live in <state_dir>/lookups (root, 0600: names typed at a prompt can be passwords),
 * changed under the lock <state_dir>/lookups.lock and replaced atomically. The file holds at
 * most LOGTO_LOOKUP_MAX_ENTRIES answers; the oldest go first. A damaged file is logged and
 * started afresh (a full bucket: only root can write it). Time comes from logto_now(); a clock
 * stepped back refills nothing and makes answers dated in the future stale.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "error.h"

#define LOGTO_LOOKUP_FILE        "lookups"
#define LOGTO_LOOKUP_LOCK        "lookups.lock"
#define LOGTO_LOOKUP_MAX_ENTRIES 256
#define LOGTO_LOOKUP_SUB_MAX     128

enum logto_lookup_kind {
    LOGTO_LOOKUP_USER, /* is NAME a Logto user of this host? (the sign-in gate) */
    LOGTO_LOOKUP_KEYS, /* NAME's SSH keys (logtoctl keys); the keys are in the key cache */
};

struct logto_lookup_answer {
    bool found;
    char sub[LOGTO_LOOKUP_SUB_MAX + 1]; /* the Logto user ID the answer is about; may be empty
                                           when nobody was found */
    int64_t at;                         /* when the IdP gave the answer */
};

/* A remembered answer younger than lookup_cache_ttl: 0, else -LOGTO_E_NOTFOUND. */
int logto_lookup_cached(const struct logto_ctx *ctx, enum logto_lookup_kind kind, const char *name,
                        struct logto_lookup_answer *ret, struct logto_error *err);

/* Remember an answer the IdP just gave (sub: the user it is about; required when found). */
int logto_lookup_remember(const struct logto_ctx *ctx, enum logto_lookup_kind kind,
                          const char *name, bool found, const char *sub, struct logto_error *err);

/* Take one token from the host's bucket: 0, or -LOGTO_E_BUSY when it is empty (or its lock is
 * held for long), with the message saying so. Never waits for a token. */
int logto_lookup_take(const struct logto_ctx *ctx, struct logto_error *err);
