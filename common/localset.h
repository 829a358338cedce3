/* SPDX-License-Identifier: MIT */
/*
 * The names and IDs of the local account files (/etc/passwd, /etc/group), read directly, never
 * through NSS: for the writers' last check before a snapshot is written
 * (logto_directory_drop_local), and for the NSS module's guard, which hides a Logto entry whose
 * name or ID became local after the snapshot was written (until the next sync or sign-in drops
 * it). No third-party dependencies: the NSS module uses it.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "fileio.h"

/* One file: its names and IDs, sorted, pointing into one buffer. */
struct logto_localset {
    char *buf;
    const char **names;
    size_t n_names;
    uint32_t *ids;
    size_t n_ids;
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
 * The NSS module's guard: the local files as of the last check, re-checked (stat) at most once
 * per interval and re-read when they changed. Thread-safe; initialise with
 * LOGTO_LOCAL_GUARD_INIT.
 */
struct logto_local_guard {
    pthread_mutex_t lock;
    const char *passwd_path, *group_path; /* NULL: /etc/passwd, /etc/group */
    int64_t interval_ns;
    /* under lock: */
    bool loaded;
    int64_t next_check_ns;
    struct logto_file_identity pw_id, gr_id;
    struct logto_localset pw, gr;
};

#define LOGTO_LOCAL_GUARD_INTERVAL_NS INT64_C(1000000000)
#define LOGTO_LOCAL_GUARD_INIT                                                                     \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .interval_ns = LOGTO_LOCAL_GUARD_INTERVAL_NS            \
    }

/*
 * Whether a Logto user must not be served: its name is a local user or group (its private group),
 * its UID a local UID, or its primary GID a local GID. 1: hide, 0: serve. When the local files
 * cannot be read the answer is 1 (fail closed: local accounts come first).
 */
int logto_local_guard_hides_user(struct logto_local_guard *g, const char *name, uint32_t uid,
                                 uint32_t gid);
/* The same for a group: its name or GID is local (a private group also by a local user name). */
int logto_local_guard_hides_group(struct logto_local_guard *g, const char *name, uint32_t gid,
                                  bool private_group);
/* Forget what was read (tests; a process that wants to let go). */
void logto_local_guard_reset(struct logto_local_guard *g);
