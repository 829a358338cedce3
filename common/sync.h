/* SPDX-License-Identifier: MIT */
/*
 * Directory sync (DESIGN.md "Data flow" step 4): read every user, role and organization through
 * the Management API (a machine-to-machine app, [sync] in logto.conf), map them to POSIX
 * identities and groups, and replace the directory snapshot with the result. Logto is the truth:
 * the new snapshot holds exactly the Logto users that map cleanly, so users deleted in Logto, and
 * users who signed in on this host but are gone from Logto, disappear. Suspended users stay
 * (flag LOGTO_USER_SUSPENDED: they keep resolving, so their files keep an owner; PAM denies them).
 *
 * What is refused, and reported, never resolved by arrival order:
 *  - users that do not map (logto_identity_from_mgmt refuses them: bad name, bad custom_data...);
 *  - users who claim a name another user owns, and every claimant of a blocked name (owners.h:
 *    the claim identical to the name wins; with no such claim, or several, nobody has it). The
 *    rule runs over every user of the tenant, so every host gives a name to the same user;
 *  - BOTH users of every pair sharing a sub, name, UID or primary GID
 *    (logto_identity_find_collisions), after hashed UID collisions were resolved (below);
 *  - users whose name, UID, or private group name or GID exists in the local files
 *    (logto_identity_check_local, logto_identity_groups, both against one reading of the files,
 *    then logto_directory_drop_local);
 *  - groups: every user's groups come from logto_identity_groups; the same group (kind, source,
 *    name and GID equal) from many users is merged into one group with all of them as members;
 *    groups that share a name or GID but are not the same group are ALL skipped (the policy of
 *    logto_identity_group_clashes: a user's private group beats derived groups). A derived group
 *    that logto_identity_groups had to drop for one of its holders (it clashed among that user's
 *    own groups) is skipped for everybody, so a group never lacks a member who holds its role or
 *    organization.
 *
 * Hashed UID collisions (two users whose hash of sub gives the same UID) are resolved, the same
 * way on every host, by logto_sync_resolve_uids: among the users whose own sequence (the hash,
 * then the probe values below; identity.h) gives the UID, the one for whom it comes earliest in
 * the sequence keeps it, then one whose value sync persisted before, then the older account
 * (Logto's createdAt, then the smaller sub); every other one moves to the first free value of
 * the probe sequence
 *
 *     uid_k = the hash of identity.h over "logto-uid:" || sub || "#" || k,   k = 1, 2, ... 64
 *
 * (free: not reserved, not the UID or primary GID of any other user of the tenant, local
 * accounts not considered, so every host computes the same), and the new UID is written to its
 * custom_data[uid_key] so that it stays when the tenant changes. A UID chosen in custom_data
 * (not of its user's sequence) takes no part: refuse_chosen_ids refuses it where it is in use,
 * so it never displaces anybody. Without that persistence
 * (keep_collisions) both users stay refused. Names blocked by the rule and UIDs still in
 * collision are written to <state_dir>/blocked.json (owners.h) before the snapshot.
 * Only users whom some service of this host admits are kept (authz.h, the host's admission:
 * the union of the rules of every [service] section; allow_any_user opens it to everyone), so a
 * fresh self-sign-up account is no passwd entry anywhere; groups follow from the users kept. The
 * others are counted in report->not_admitted, and take part in nothing else (no collision, no
 * key cache, no persisted UID).
 *
 * Failure is all or nothing: any Management API error (no answer, 5xx, malformed or oversized
 * answers), an unreadable local account file or an invalid result fails the sync before anything
 * is written, and the snapshot in place stays byte for byte what it was. The new snapshot is
 * written atomically (logto_snapshot_write). Two syncs never run at once (<state_dir>/sync.lock).
 *
 * SSH public keys (custom_data[cfg->ssh_keys_key]) are cached for `logtoctl keys` (sshd's
 * AuthorizedKeysCommand) in <state_dir>/keys/<name> (directory root 0700, files root 0600),
 * written by sync (only files whose content changed) and by whoever else learns a user's keys
 * (sign-in, a live `logtoctl keys`); never for suspended users. The first line binds the file to
 * the user's sub, so a name that passes to another Logto user never inherits keys. Every key is
 * validated (logto_sync_ssh_key_check); bad keys are skipped with a log line.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "directory.h"
#include "error.h"
#include "identity.h"

struct logto_blocked;

#define LOGTO_SYNC_LOCK         "sync.lock"
#define LOGTO_SYNC_LOCK_TIMEOUT 2000 /* ms: another sync holding it is reported as busy */
#define LOGTO_KEYS_SUBDIR       "keys"
#define LOGTO_KEYS_FILE_MAX     (LOGTO_IDENTITY_MAX_SSH_KEYS * (LOGTO_IDENTITY_MAX_SSH_KEY + 1) + 512)

/* Progress: phase is a short word ("users", "roles", "role-members", "organizations",
 * "organization-members", "mapping", "writing"); total 0 means unknown. */
typedef void (*logto_sync_progress_fn)(void *userdata, const char *phase, size_t done,
                                       size_t total);

struct logto_sync_options {
    bool dry_run;         /* compute and report, write nothing (no snapshot, no keys, no PATCH) */
    bool persist_uids;    /* write every hashed UID into custom_data[uid_key] (see logto_sync) */
    bool keep_collisions; /* do not resolve hashed UID collisions (nothing is persisted): both
                             users of each stay refused */
    const char *path;     /* snapshot; NULL: <state_dir>/directory.snapshot */
    const char *user;     /* refresh only this user name (logto_sync: "One user") */
    logto_sync_progress_fn progress;
    void *progress_data;
};

enum logto_sync_change_kind {
    LOGTO_SYNC_USER_ADDED,
    LOGTO_SYNC_USER_REMOVED,
    LOGTO_SYNC_USER_CHANGED,
    LOGTO_SYNC_GROUP_ADDED,
    LOGTO_SYNC_GROUP_REMOVED,
    LOGTO_SYNC_GROUP_CHANGED,
    LOGTO_SYNC_MEMBER_ADDED,
    LOGTO_SYNC_MEMBER_REMOVED,
    LOGTO_SYNC__CHANGE_KINDS
};

/* "user-added", "member-removed", ... */
const char *logto_sync_change_kind_name(enum logto_sync_change_kind kind);

struct logto_sync_change {
    enum logto_sync_change_kind kind;
    char *name;    /* user changes and memberships: the user; group changes: the group */
    char *group;   /* memberships: the group; NULL otherwise */
    char *sub;     /* user changes: the sub; NULL otherwise */
    char **fields; /* *_CHANGED: the fields that changed ("uid", "shell", "suspended"...) */
    char *detail;  /* *_CHANGED: "uid 1->2, shell /bin/sh->/bin/bash"; NULL otherwise */
};

enum logto_sync_skip_kind {
    LOGTO_SYNC_SKIP_IDENTITY,  /* the user does not map to a POSIX identity */
    LOGTO_SYNC_SKIP_COLLISION, /* shares a sub, name, UID or GID with another Logto user */
    LOGTO_SYNC_SKIP_LOCAL,     /* collides with a local account or group */
    LOGTO_SYNC_SKIP_NAME,      /* claims a name another user owns, or a blocked name (owners.h) */
};

/* "identity", "collision", "local", "name". */
const char *logto_sync_skip_kind_name(enum logto_sync_skip_kind kind);

struct logto_sync_skip {
    enum logto_sync_skip_kind kind;
    char *sub;      /* Logto user ID */
    char *username; /* Logto's username, control characters replaced; NULL if none */
    char *name;     /* the mapped POSIX name; NULL when the user did not map */
    char *reason;
};

struct logto_sync_collision {
    enum logto_collision_kind kind;
    char *value; /* the shared name, UID, GID or sub, as text */
    char *a_sub, *a_name;
    char *b_sub, *b_name;
};

/* A user moved off a hashed UID another user keeps (logto_sync_resolve_uids). */
struct logto_sync_uid_move {
    char *sub, *name;
    uint32_t hashed_uid, uid; /* the hash of sub; the value it got */
    unsigned probe;           /* k of the probe sequence */
    char *keeper_sub, *keeper_name;
    bool persisted; /* written to custom_data (never in a dry run) */
};

struct logto_sync_group_skip {
    char *name;
    uint32_t gid;
    uint32_t kind; /* enum logto_group_kind */
    char *source;
    size_t members; /* users who lost the membership */
    char *reason;
};

struct logto_sync_report {
    bool dry_run;
    bool written; /* the snapshot was replaced */
    /* The installed snapshot already held this content (timestamps aside): not rewritten, so
     * its inode and mtime stay; the sync still succeeded (and still updates the key cache). */
    bool unchanged;
    char *path; /* the snapshot */

    size_t fetched_users, fetched_roles, fetched_orgs; /* what Logto listed */
    size_t not_admitted;             /* users no service of this host admits: not in the snapshot */
    size_t users, groups, suspended; /* in the new snapshot */
    size_t previous_users, previous_groups; /* in the snapshot it replaces */
    char *previous_problem; /* why the old snapshot could not be read; NULL if read or absent */

    unsigned requests;       /* Management API requests, token requests included; on a relay
                              * host ("via" set): requests to the relay */
    const char *via;         /* relay host: "object", "delta", "unchanged" or "re-signed" */
    unsigned token_requests; /* of which M2M token requests */
    int64_t fetch_ms, elapsed_ms;
    int64_t map_ms, build_ms, diff_ms, write_ms; /* the other steps (write: snapshot and keys) */

    size_t counts[LOGTO_SYNC__CHANGE_KINDS];
    struct logto_sync_change *changes; /* users, then groups, then memberships; by name */
    size_t n_changes;
    struct logto_sync_skip *skipped; /* users left out, in Logto's order */
    size_t n_skipped;
    struct logto_sync_collision *collisions; /* every colliding pair */
    size_t n_collisions;
    struct logto_sync_group_skip *groups_skipped; /* by name */
    size_t n_groups_skipped;
    size_t keys_skipped; /* SSH keys that failed validation */

    /* SSH key cache (not in dry-run): files written and removed. */
    size_t keys_written, keys_removed, keys_users;

    /* --persist-uids: users without custom_data[uid_key] in the snapshot, and how many of them
     * got it written (dry-run: none). Moved users (uid_moves) are always to be persisted. */
    size_t uids_to_persist, uids_persisted;

    struct logto_sync_uid_move *uid_moves; /* resolved hashed UID collisions */
    size_t n_uid_moves;
    struct logto_blocked *blocked; /* names blocked by the ownership rule, UIDs in collision */

    /* Failures after the snapshot was written (key cache, persisting UIDs): the snapshot is in
     * place, the rest is not. 0 / empty when there were none. */
    int late_error; /* negative LOGTO_E_* */
    char late_message[sizeof(((struct logto_error *)0)->message)];
};

void logto_sync_report_free(struct logto_sync_report *report);
static inline void logto_sync_report_freep(struct logto_sync_report **report)
{
    logto_sync_report_free(*report);
}

/*
 * Sync the directory from Logto. Needs the Logto profile, [sync] m2m_client_id and
 * m2m_client_secret_file (LOGTO_E_CONFIG naming them otherwise), and for a real run the state
 * directory (created 0755 if missing). On success *ret_report is the report (caller frees),
 * also for dry runs; errors after the snapshot was written are in report->late_error. On failure
 * nothing was written and err says why (LOGTO_E_UNREACHABLE when Logto could not be reached,
 * LOGTO_E_BUSY when another sync holds the lock).
 *
 * persist_uids: for every user in the new snapshot whose custom_data has no cfg->uid_key (their
 * UID is the hash of sub), PATCH custom_data {uid_key: uid} through the Management API after the
 * snapshot was written, so other hosts and tools see the allocation even if id_range changes.
 * Refused users (collisions included) are never persisted.
 */
int logto_sync(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
               struct logto_sync_report **ret_report, struct logto_error *err);

/*
 * One user (opts->user = NAME, `logtoctl sync --user NAME`): the same fetch, mapping, UID
 * resolution, name ownership, collision, local and admission rules as a full sync, over the whole
 * tenant (they are tenant-wide: a user alone cannot be judged), then only NAME's entry, private
 * group and memberships change in the snapshot in place; every other entry stays as it is.
 * Refused before anything is fetched (LOGTO_E_INVAL, LOGTO_E_COLLISION): a NAME that is no valid
 * user name (upper case, control characters...), a system or reserved name, a local account.
 * Refused after the build, nothing written: NAME blocked or refused by the rules (the reason
 * given), held in the snapshot by another Logto user than the one the tenant gives it to, or
 * not fitting beside the other entries (a full sync settles those). NAME given to nobody and
 * absent from the snapshot: LOGTO_E_NOTFOUND. NAME given to nobody (the user is gone from the
 * tenant or no service admits them) but in the snapshot: the entry is removed. Only NAME's
 * SSH key cache file changes; blocked.json and sync.status are left to full syncs.
 */

/* ---- the steps, exposed for tests ---- */

/* One mapped Logto user, input to logto_sync_build. */
struct logto_sync_user {
    struct logto_identity *id; /* NULL: the user did not map (why in reason) */
    const char *sub;           /* Logto user ID */
    const char *username;      /* Logto's username, may be NULL */
    const char *login_email;   /* Logto's primary e-mail of a user without a username (the
                                  Experience API identifier then, logto-real-1.42.md D6), else
                                  NULL */
    const char *reason;        /* id == NULL: why */
    int64_t created_at;        /* Logto's createdAt (ms); 0 when unknown (counts as newest) */
};

/*
 * Build the directory from mapped users: collisions, local checks, groups, merging, clashes,
 * drop_local, validation, as described at the top. Skipped users, collisions and skipped groups
 * are appended to report (which must be zeroed or come from an earlier step). keep[i] (n
 * entries, optional) is set for the users that made it into the directory.
 */
int logto_sync_build(const struct logto_ctx *ctx, const struct logto_sync_user *users, size_t n,
                     struct logto_directory **ret_dir, bool *keep, struct logto_sync_report *report,
                     struct logto_error *err);

/*
 * Resolve hashed UID collisions among users (the rule at the top), changing the moved users' uid
 * (and gid when it is their private group's) in place. Run it on every user of the tenant,
 * before anything host-specific. Moves are appended to report->uid_moves (and logged:
 * sync-uid-moved). Returns the number of users moved.
 */
int logto_sync_resolve_uids(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                            size_t n, struct logto_sync_report *report, struct logto_error *err);

/* The change list from old (may be NULL: empty) to new, appended to report (changes, counts). */
int logto_sync_diff(const struct logto_directory *old, const struct logto_directory *new,
                    struct logto_sync_report *report, struct logto_error *err);

/* ---- SSH public keys ---- */

/*
 * Check one authorized_keys line from the IdP and normalise it to "type base64 [comment]": no
 * options, a known key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521,
 * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com), a canonical base64 body
 * whose decoded blob starts with the same type string, a comment (optional) of printable
 * characters without control characters. Returns 0 with *ret (caller frees), or -LOGTO_E_INVAL
 * with *ret_why saying what was wrong.
 */
int logto_sync_ssh_key_check(const char *line, char **ret, const char **ret_why);

/* The valid keys of an identity, normalised; bad ones are logged ("keys-skip user= reason=") and
 * counted in *ret_skipped (optional). *ret is a strv (possibly empty). */
int logto_sync_ssh_keys(const struct logto_ctx *ctx, const struct logto_identity *id, char ***ret,
                        size_t *ret_skipped, struct logto_error *err);

/* Store the user's keys in the cache (keys: normalised lines; NULL or empty removes the file).
 * Writes only when the content changes; returns 1 if the file was written or removed, else 0. */
int logto_sync_keys_store(const struct logto_ctx *ctx, const char *name, const char *sub,
                          char *const *keys, struct logto_error *err);

/* The cached keys of name, if the cache file is bound to sub: *ret a strv (each line checked
 * again). LOGTO_E_NOTFOUND when there is no file or it belongs to another sub. */
int logto_sync_keys_load(const struct logto_ctx *ctx, const char *name, const char *sub,
                         char ***ret, struct logto_error *err);

/* Cache the keys of every kept user (keep[i]) and remove the files of everybody else; counts go
 * into report (keys_written, keys_users, keys_removed). */
int logto_sync_keys_update(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                           size_t n, const bool *keep, struct logto_sync_report *report,
                           struct logto_error *err);

/* ---- the two halves of a relayed sync (relay.h) ---- */

struct logto_mgmt;
struct logto_mgmt_directory;

/* What the publisher decides over the whole tenant: every user fetched and mapped, hashed UID
 * collisions resolved, and refused[i] set for the users that do not map or that the tenant-wide
 * rules refuse (names, chosen IDs, collisions: skipped entries and blocked names in report). */
struct logto_sync_tenant {
    struct logto_mgmt *mgmt;
    struct logto_mgmt_directory *md;
    struct logto_sync_user *users; /* users[i].sub and .username borrow from md */
    char **reasons;
    bool *refused;
    size_t n;
};

void logto_sync_tenant_free(struct logto_sync_tenant *t);
static inline void logto_sync_tenant_freep(struct logto_sync_tenant **t)
{
    logto_sync_tenant_free(*t);
}

/* Fetch and decide (needs the [sync] credentials, as logto_sync). */
int logto_sync_tenant_fetch(const struct logto_ctx *ctx, struct logto_sync_tenant **ret,
                            struct logto_sync_report *report, struct logto_error *err);

/* Write the UIDs of moved users (report->uid_moves) to custom_data, as logto_sync does. */
int logto_sync_tenant_persist_moves(const struct logto_ctx *ctx, struct logto_sync_tenant *t,
                                    struct logto_sync_report *report, struct logto_error *err);

/* The host half: logto_sync_build with this host's admission (what logto_sync builds). */
int logto_sync_build_host(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                          size_t n, struct logto_directory **ret_dir, bool *keep,
                          struct logto_sync_report *report, struct logto_error *err);
