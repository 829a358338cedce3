/* SPDX-License-Identifier: MIT */
/*
 * The names and IDs of the local account files (/etc/passwd, /etc/group), read directly, never
 * through NSS: for the writers' last check before a snapshot is written
 * (logto_directory_drop_local), and for the NSS module's guard, which hides a Logto entry whose
 * name or ID became local after the snapshot was written (until the next sync or sign-in drops
 * it), at no cost while the files are still those the snapshot's writer checked. No third-party
 * dependencies: the NSS module uses it.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "fileio.h"

#define LOGTO_PASSWD_PATH "/etc/passwd"
#define LOGTO_GROUP_PATH  "/etc/group"

/* One file: its names and IDs, sorted, pointing into one buffer. */
struct logto_localset {
    char *buf;
    const char **names;
    size_t n_names;
    uint32_t *ids;
    size_t n_ids;
    /* The version read: fstat of the very descriptor, before reading it; and CLOCK_REALTIME just
     * before that fstat. */
    struct logto_file_identity id;
    struct timespec seen_at;
};

/*
 * Read a passwd- or group-format file: the name (field 1, NIS "+name"/"-name" counted by their
 * name) and the ID (field 3) of every line that is not a comment. 0, or a negative error (the
 * file cannot be read: callers fail closed).
 */
int logto_localset_read(const char *path, struct logto_localset *ret, struct logto_error *err);
void logto_localset_clear(struct logto_localset *set);
bool logto_localset_has_name(const struct logto_localset *set, const char *name);
bool logto_localset_has_id(const struct logto_localset *set, uint32_t id);

/*
 * The fingerprint of the local files, which a writer records in the snapshot
 * (logto_snapshot_local_files) and the guard compares with the files it stats: XXH64 of both
 * identities (device, inode, size, mtime and ctime with nanoseconds), never 0 (0 means unknown).
 */
uint64_t logto_local_fingerprint(const struct logto_file_identity *passwd,
                                 const struct logto_file_identity *group);
/* The fingerprint of the files at these paths now (stat; NULL: LOGTO_PASSWD_PATH,
 * LOGTO_GROUP_PATH), or 0 when either cannot be stat'ed. */
uint64_t logto_local_fingerprint_at(const char *passwd_path, const char *group_path);

/*
 * What a writer may record after checking its entries against these versions of the files: their
 * fingerprint, or 0 when either file's ctime is less than LOGTO_LOCAL_SETTLE_NS before `now` (the
 * earlier of the two logto_localset.seen_at) or after it. File times have the granularity of a
 * clock tick (a whole second on some file systems), so a change written in place, keeping the
 * size, in the same tick as the version the writer read would leave the identity as it was; a
 * file that had not changed for that long when its identity was taken cannot.
 */
#define LOGTO_LOCAL_SETTLE_NS INT64_C(2000000000)
uint64_t logto_local_fingerprint_settled(const struct logto_file_identity *passwd,
                                         const struct logto_file_identity *group,
                                         const struct timespec *now);

/*
 * The NSS module's guard. Each snapshot carries the fingerprint of the local files its writer
 * checked every entry against (0: unknown). The guard stats the files (at most once per
 * interval): while they are exactly those files, no entry can be local and it hides nothing,
 * without reading them or looking at any entry (a lock-free check: two atomic loads and a coarse
 * clock). When they differ (a local account or group was added since), it reads them (again only
 * when they change) and hides every entry whose name or ID is now local. Thread-safe;
 * initialise with LOGTO_LOCAL_GUARD_INIT.
 */
struct logto_local_guard {
    pthread_mutex_t lock;
    const char *passwd_path, *group_path; /* NULL: LOGTO_PASSWD_PATH, LOGTO_GROUP_PATH */
    int64_t interval_ns;
    /* Written under lock, read without it: the files' fingerprint at the last stat (0: they could
     * not be stat'ed), and until when that answer stands (monotonic coarse ns; 0: never). */
    uint64_t files_fingerprint;
    int64_t fingerprint_until_ns;
    /* under lock: */
    bool stat_ok;
    int64_t next_check_ns;
    struct logto_file_identity pw_id, gr_id; /* as last stat'ed (or read) */
    bool loaded;                             /* pw and gr hold the files of pw_id and gr_id */
    struct logto_localset pw, gr;
    unsigned long reads; /* how many times the files were read (tests count them) */
};

#define LOGTO_LOCAL_GUARD_INTERVAL_NS INT64_C(1000000000)
#define LOGTO_LOCAL_GUARD_INIT                                                                     \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .interval_ns = LOGTO_LOCAL_GUARD_INTERVAL_NS            \
    }

/*
 * Whether entries of a snapshot written against the local files `fingerprint` can be served
 * without asking about each: true when the files are exactly those (nothing is local that was
 * not when the entries were checked). False for fingerprint 0, when the files changed, or when
 * they cannot be stat'ed.
 */
bool logto_local_guard_clear(struct logto_local_guard *g, uint64_t fingerprint);

/*
 * Whether a Logto user of a snapshot with this fingerprint must not be served: its name is a
 * local user or group (its private group), its UID a local UID, or its primary GID a local GID.
 * 1: hide, 0: serve. 0 at once when logto_local_guard_clear says so. When the local files cannot
 * be read the answer is 1 (fail closed: local accounts come first).
 */
int logto_local_guard_hides_user(struct logto_local_guard *g, uint64_t fingerprint,
                                 const char *name, uint32_t uid, uint32_t gid);
/* The same for a group: its name or GID is local (a private group also by a local user name). */
int logto_local_guard_hides_group(struct logto_local_guard *g, uint64_t fingerprint,
                                  const char *name, uint32_t gid, bool private_group);
/* Forget what was stat'ed and read (tests; a process that wants to let go). */
void logto_local_guard_reset(struct logto_local_guard *g);
