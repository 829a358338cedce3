/* SPDX-License-Identifier: MIT */
/*
 * Who owns a Linux name (DESIGN.md "Identity mapping": a name belongs to exactly one subject or to
 * nobody, never to whoever signs in first), and which names and hashed UIDs nobody may have.
 *
 * The rule. Names are compared after folding (identity.h). Among the Logto users that map to one
 * name, the one whose claim IS the name (logto_identity.name_rank LOGTO_NAME_EXACT: a username
 * identical to it, not folded) owns it, so nobody locks `alice` out by creating `Alice`. A sole
 * claimant owns the name whatever the rank. Otherwise (no exact claim, or several: `Alice` and
 * `ALICE`, two e-mails) the name is blocked: nobody has it until the tenant changes.
 *
 * The blocked file. Sync applies the rule to every user of the tenant and writes the names it
 * blocked, and the hashed UIDs it could not resolve (sync.h), to <state_dir>/blocked.json
 * (root 0644, replaced atomically, read through the checked-file layer; no secrets: subs, names
 * and how each claimant maps, never an e-mail address):
 *
 *   {"version":1,"written_at":S,
 *    "names":[{"name":"alice","reason":"...","claimants":[{"sub":"...","name":"alice",
 *              "claim":"claim username 'Alice'"}, ...]}, ...],
 *    "uids":[{"uid":N,"reason":"...","claimants":[...]}, ...]}
 *
 * Sign-in refuses a blocked name, and a blocked UID, for every claimant; `logtoctl status`
 * reports each as a problem and `logtoctl user NAME` lists the claimants.
 *
 * The holder. On a host, the current holder of a name is the subject the directory snapshot
 * gives it to, unless the name is blocked. Token records are used only for that subject and UID
 * (auth.h, `logtoctl token`, `logtoctl status`).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "context.h"
#include "error.h"
#include "identity.h"

#define LOGTO_BLOCKED_FILE    "blocked.json"
#define LOGTO_BLOCKED_VERSION 1
#define LOGTO_BLOCKED_MAX     (8u * 1024 * 1024)

/*
 * The owner among the identities that map to one name (n >= 1; all names equal): its index, or
 * -1 when the name is blocked. Deterministic: the input order does not matter.
 */
ssize_t logto_owner_pick(const struct logto_identity *const *claimants, size_t n);

/* "claim username 'Alice'", "field primaryEmail (local part)": how an identity claims its name,
 * for people (never the e-mail address). Caller frees; NULL when out of memory. */
char *logto_owner_claim_text(const struct logto_identity *id);

struct logto_claimant {
    char *sub;
    char *name;  /* the name it maps to */
    char *claim; /* logto_owner_claim_text */
};

struct logto_blocked_entry {
    char *name;   /* names: the blocked name; uids: the name of the first claimant */
    uint32_t uid; /* uids: the UID; names: 0 */
    char *reason;
    struct logto_claimant *claimants;
    size_t n_claimants;
};

struct logto_blocked {
    int64_t written_at;
    struct logto_blocked_entry *names; /* sorted by name */
    size_t n_names;
    struct logto_blocked_entry *uids; /* sorted by UID */
    size_t n_uids;
};

struct logto_blocked *logto_blocked_new(void);
void logto_blocked_free(struct logto_blocked *b);
static inline void logto_blocked_freep(struct logto_blocked **b)
{
    logto_blocked_free(*b);
}

/* Append an entry (names when uid == 0, else uids), copying everything. The identities are its
 * claimants. -LOGTO_E_NOMEM only. */
int logto_blocked_add(struct logto_blocked *b, const char *name, uint32_t uid, const char *reason,
                      const struct logto_identity *const *claimants, size_t n);

/* Write b to <state_dir>/blocked.json (sorted first). */
int logto_blocked_write(const struct logto_ctx *ctx, struct logto_blocked *b,
                        struct logto_error *err);

/* The lists as {"names":[...],"uids":[...]} (sorted first; what blocked.json holds besides its
 * version and time), NULL when out of memory; and back (what names the document in messages). */
struct json_t;
struct json_t *logto_blocked_to_json(struct logto_blocked *b);
int logto_blocked_from_json(const struct json_t *doc, const char *what, struct logto_blocked **ret,
                            struct logto_error *err);

/* Read <state_dir>/blocked.json. A missing file gives an empty list (no sync has blocked
 * anything); a malformed, foreign or unsafe one is an error (LOGTO_E_CORRUPT, LOGTO_E_UNSAFE):
 * callers that decide fail closed. */
int logto_blocked_read(const struct logto_ctx *ctx, struct logto_blocked **ret,
                       struct logto_error *err);

const struct logto_blocked_entry *logto_blocked_find_name(const struct logto_blocked *b,
                                                          const char *name);
const struct logto_blocked_entry *logto_blocked_find_uid(const struct logto_blocked *b,
                                                         uint32_t uid);
/* "alice (sub x, claim username 'Alice'), ..." for messages; caller frees. */
char *logto_blocked_claimants_text(const struct logto_blocked_entry *e);

enum logto_holder_kind {
    LOGTO_HOLDER_NONE,    /* nobody on this host has the name */
    LOGTO_HOLDER_SUBJECT, /* the snapshot gives it to sub, with uid */
    LOGTO_HOLDER_BLOCKED, /* sync blocked it (several claimants, none exact) */
};

struct logto_holder {
    enum logto_holder_kind kind;
    char sub[256];
    uint32_t uid;
};

/* The current holder of name on this host: the blocked file, then the directory snapshot. An
 * unreadable blocked file or snapshot is an error (the caller fails closed). */
int logto_owner_holder(const struct logto_ctx *ctx, const char *name, struct logto_holder *ret,
                       struct logto_error *err);

/* The name the directory snapshot gives uid (never NSS, never the environment), into name (n
 * bytes): 0, -LOGTO_E_NOTFOUND (not a Logto user here), or another error (fail closed). */
int logto_owner_name_of_uid(const struct logto_ctx *ctx, uint32_t uid, char *name, size_t n,
                            struct logto_error *err);
