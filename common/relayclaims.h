/* SPDX-License-Identifier: MIT */
/*
 * A relay host's account decisions for users who never signed in on it (issue 18, point 5).
 *
 * A relay host holds no Management API credential, so for a user without a token record (an
 * SSH public-key login) nothing but the signed directory can say which roles, organizations
 * and organization roles the user has, or whether the account is suspended. The relay sync
 * (relay.h) therefore writes, next to the snapshot, <state_dir>/relay.claims (root, 0600,
 * replaced atomically, read through the checked-file layer):
 *
 *   # logto-relay-claims v1 {"generated_at":S,"not_after":S,"serial":N,"sha256":"<hex>"}
 *   <name>\t{"login_email":"...","orgs":[...],"org_roles":[...],"roles":[...],"sub":"...",
 *            "suspended":B,"uid":N,"username":"..."}
 *   ...
 *
 * one line per user of this host's snapshot (suspended users included, refused and local
 * names never), sorted by name (byte-wise), stamped with the manifest it came from. A directory
 * signed again (same object, new serial) only restamps the file. The account phase (auth.c)
 * looks one name up (a binary search over the mapped file: O(log n) lines touched, one parsed)
 * and decides from it only for the subject and UID that hold the name in the snapshot, and
 * only while the stamp is valid: its age is the manifest's generation time, its limit the
 * manifest's signed not_after (the publisher's [publish] validity). Past it, or dated in the
 * future beyond LOGTO_RELAY_CLAIMS_SKEW (a clock set back), every such decision is refused,
 * naming the dates. So a role removed or a user
 * suspended at the IdP reaches a relay host after the next publish and the host's next sync;
 * a publisher or a relay that stopped is noticed at not_after at the latest.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "error.h"

struct logto_identity;
struct logto_sync_user;

#define LOGTO_RELAY_CLAIMS      "relay.claims"
#define LOGTO_RELAY_CLAIMS_MAX  ((size_t)256 << 20)
#define LOGTO_RELAY_CLAIMS_SKEW 300 /* seconds a stamp may lie in the future (clock skew) */

/* Which signed manifest the claims come from. */
struct logto_relay_stamp {
    int64_t serial, generated_at, not_after;
    char sha256[65];
};

/* Write the claims of users[i] with keep[i] (the users of this host's snapshot). */
int logto_relay_claims_write(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                             const struct logto_sync_user *users, size_t n, const bool *keep,
                             struct logto_error *err);

/* The same claims under a new stamp of the same object (stamp->sha256): -LOGTO_E_NOTFOUND when
 * the file is missing or holds another object's claims (the caller fetches the object). */
int logto_relay_claims_restamp(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                               struct logto_error *err);

/* The Experience API identifier Logto stores for a user: type "username" (static) or "email",
 * value owned (free it). */
struct logto_relay_login {
    const char *type;
    char *value;
};

/*
 * The directory's claims of name as an identity (sub, name, uid, roles, orgs, org_roles,
 * suspended), *ret_stamp their stamp, *ret_login (optional, zeroed by the caller) Logto's
 * username or, for a user without one, the e-mail (left empty when the directory has neither).
 * -LOGTO_E_NOTFOUND: no file (not a relay host yet) or no such name; -LOGTO_E_EXPIRED: the stamp is
 * past not_after or dated in the future (the message says which); -LOGTO_E_CORRUPT: a malformed
 * file.
 */
int logto_relay_claims_find(const struct logto_ctx *ctx, const char *name,
                            struct logto_identity **ret, struct logto_relay_stamp *ret_stamp,
                            struct logto_relay_login *ret_login, struct logto_error *err);
