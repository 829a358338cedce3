/* SPDX-License-Identifier: MIT */
/*
 * The POSIX directory that the NSS module serves: Logto users and the groups derived from their
 * roles and organizations. This is the in-memory model that sign-in and `logtoctl sync` build
 * and that is written to the snapshot file (snapshot.h). No third-party dependencies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LOGTO_SNAPSHOT_NAME "directory.snapshot"
/* Whoever reads the snapshot to change and rewrite it (a sign-in, a sync) holds this lock file
 * in the state directory from the read to the write, so no writer undoes another's changes. */
#define LOGTO_DIRECTORY_UPDATE_LOCK "directory.update.lock"

enum logto_group_kind {
    LOGTO_GROUP_PRIVATE = 0,  /* the user's own group (GID = UID unless custom_data says) */
    LOGTO_GROUP_ROLE = 1,     /* a Logto role, by role name */
    LOGTO_GROUP_ORG = 2,      /* a Logto organization, by organization ID */
    LOGTO_GROUP_ORG_ROLE = 3, /* an organization role, "orgId:role" */
    LOGTO_GROUP_CLAIM = 4,    /* generic providers: a name from the groups claim */
};

/* "private", "role", "org", "org-role", "claim" ("?" for another value): logs and logtoctl. */
const char *logto_group_kind_name(uint32_t kind);

#define LOGTO_USER_SUSPENDED 0x1u

struct logto_dir_user {
    char *name; /* validated POSIX name */
    uint32_t uid, gid;
    char *gecos, *home, *shell;
    char *sub;          /* the IdP's user ID: the stable key */
    uint32_t flags;     /* LOGTO_USER_* */
    int64_t updated_at; /* when the IdP last confirmed this entry (seconds) */
};

struct logto_dir_group {
    char *name; /* validated POSIX name */
    uint32_t gid;
    uint32_t kind;  /* enum logto_group_kind */
    char *source;   /* role name, org ID, "orgId:role", claim value, or the user's sub */
    char **members; /* user names, NULL-terminated, sorted, unique */
};

struct logto_directory {
    struct logto_dir_user *users;
    size_t n_users;
    struct logto_dir_group *groups;
    size_t n_groups;
    int64_t generated_at; /* seconds */
    /* The fingerprint of the local files every entry was checked against (localset.h), written
     * into the snapshot for the NSS module's guard; 0: unknown. Set by
     * logto_directory_drop_local, kept by removals (they make no entry local), reset by every
     * addition; logto_snapshot_read takes it from the file. */
    uint64_t local_files;
    /* LOGTO_SNAPSHOT_F_* for the snapshot header (NO_ENUMERATE: [sync] enumerate = no). The
     * writers (sync, sign-in) set it from the configuration; logto_snapshot_read takes it from
     * the file. */
    uint32_t snapshot_flags;
    /* Allocated lengths of users and groups, so adding is amortised O(1). 0 (or anything
     * smaller than n_*) means "exactly n_*", so a directory built by hand stays valid. */
    size_t users_allocated, groups_allocated;
};

struct logto_directory *logto_directory_new(void);
void logto_directory_free(struct logto_directory *dir);
static inline void logto_directory_freep(struct logto_directory **dir)
{
    logto_directory_free(*dir);
}

/* Deep copies. */
int logto_directory_add_user(struct logto_directory *dir, const struct logto_dir_user *user);
int logto_directory_add_group(struct logto_directory *dir, const struct logto_dir_group *group);

const struct logto_dir_user *logto_directory_find_user(const struct logto_directory *dir,
                                                       const char *sub);

/*
 * Sign-in update: replace (or add) the user with user->sub, make their group memberships exactly
 * `groups` (creating groups that do not exist yet, adding the user to ones that do), and drop
 * groups that are left empty and are not the private group of a remaining user.
 */
int logto_directory_upsert_user(struct logto_directory *dir, const struct logto_dir_user *user,
                                const struct logto_dir_group *groups, size_t n_groups,
                                struct logto_error *err);

/* Remove the user with this sub, their private group and their memberships. */
int logto_directory_remove_user(struct logto_directory *dir, const char *sub);

/*
 * Check the invariants the snapshot relies on: valid names, no reserved IDs, unique user names,
 * UIDs, group names and GIDs, members that exist. The message names the first offender.
 * In full (directory.c has the reasons):
 *  - users: valid name; non-empty sub of printable characters; UID and GID not reserved;
 *    gecos without ':' or control characters; home and shell absolute, same rule; unique
 *    names, UIDs and subs;
 *  - groups: valid name; GID not reserved; known kind; printable source; members sorted,
 *    unique and existing user names; unique names and GIDs;
 *  - private groups: every user has exactly one LOGTO_GROUP_PRIVATE group whose source is the
 *    user's sub, with the user's name and GID = the user's GID, and no members; every private
 *    group belongs to a user.
 */
int logto_directory_validate(const struct logto_directory *dir, struct logto_error *err);

/* [sync] enumerate: clear or set LOGTO_SNAPSHOT_F_NO_ENUMERATE in dir->snapshot_flags (the
 * writers, sync and sign-in, call it with their configuration before logto_snapshot_write). */
void logto_directory_set_enumerate(struct logto_directory *dir, bool enumerate);

/* Write the snapshot atomically (temp file, fsync, rename, fsync dir), mode 0644. The previous
 * file, if any, is then marked stale so readers that mapped it notice at once. */
int logto_snapshot_write(const char *path, const struct logto_directory *dir,
                         struct logto_error *err);

/*
 * Remove what would shadow a local account: users whose name or UID is in the local passwd
 * file, groups whose name or GID is in the local group file (both read directly, never
 * through NSS), users and groups with a system name (logto_name_system_reason), users whose
 * private group had to go, and groups left empty by those removals. Each removal is logged as
 * "directory-skip-local name=... reason=..." (reason local-user-name, local-uid,
 * local-group-name, local-gid, system-name, private-group-local, owner-local): a local account
 * or group created after a Logto entry took its name is noticed here, at the next sync or
 * sign-in. Writers call it before logto_snapshot_write. Sets dir->local_files to the fingerprint
 * of the files it read when they are the ones the NSS module's guard stats (passwd_path and
 * group_path NULL or LOGTO_PASSWD_PATH and LOGTO_GROUP_PATH) and had settled
 * (logto_local_fingerprint_settled), else to 0. Returns the number of entries removed, or a
 * negative error.
 */
struct logto_log;
int logto_directory_drop_local(struct logto_directory *dir, const char *passwd_path,
                               const char *group_path, const struct logto_log *log);

/*
 * A login carries at most `limit` groups (sysconf(_SC_NGROUPS_MAX): 65,536 on Linux), the
 * primary one included; initgroups(3) cuts the rest (the NSS module logs each cut). Log
 * "directory-too-many-groups user=... groups=N limit=L" for every user whose groups exceed it,
 * so a writer says so before a login finds out. Returns how many users are over, or
 * -LOGTO_E_NOMEM.
 */
long logto_directory_warn_group_overflow(const struct logto_directory *dir, long limit,
                                         const struct logto_log *log);

/* Read and fully validate a snapshot into a directory (for updates and `logtoctl`). */
int logto_snapshot_read(const char *path, struct logto_directory **ret, struct logto_error *err);
