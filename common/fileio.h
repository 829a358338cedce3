/* SPDX-License-Identifier: MIT */
/*
 * Files that root trusts. Every read checks type, owner, mode and link count through a file
 * descriptor opened with O_NOFOLLOW (never a path-based check followed by a path-based open);
 * every write goes to a temporary file in the same directory, is fsynced, renamed over the old
 * file and the directory fsynced, so readers see the old or the new file and never a mix.
 * No third-party dependencies: the NSS module uses it too.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

/* Which file, in which version: a file replaced (rename) or changed in place compares unequal. */
struct logto_file_identity {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

void logto_file_identity_from_stat(struct logto_file_identity *id, const struct stat *st);
bool logto_file_identity_equal(const struct logto_file_identity *a,
                               const struct logto_file_identity *b);

enum logto_file_policy {
    LOGTO_FILE_PUBLIC, /* may be world-readable; must not be writable by group or others */
    LOGTO_FILE_SECRET, /* no permission bits at all for group or others (0600/0400) */
};

/* Root trusts files owned by root; an unprivileged process also trusts its own files. */
bool logto_owner_trusted(uid_t uid);

/*
 * Check a directory and every ancestor of its canonical path: real directories, owned by a
 * trusted user, not writable by group or others (ancestors may be sticky and world-writable,
 * like /tmp). With private_dir the directory itself must have no group/other permissions.
 * On success returns an O_DIRECTORY descriptor in ret_dirfd.
 */
int logto_dir_open_trusted(const char *dir, bool private_dir, int *ret_dirfd,
                           struct logto_error *err);

/* Create dir with mode if it does not exist (parent must exist), then as logto_dir_open_trusted. */
int logto_dir_ensure(const char *dir, mode_t mode, bool private_dir, int *ret_dirfd,
                     struct logto_error *err);

/*
 * Open name in dirfd for reading and check it: regular file, trusted owner, one link, mode as
 * the policy says, size <= max_size. path is only used in messages. Returns the fd.
 */
int logto_file_open_at(int dirfd, const char *name, const char *path, enum logto_file_policy policy,
                       size_t max_size, int *ret_fd, struct stat *ret_st, struct logto_error *err);

/* The same checks without opening the file (fstatat, no symlink followed): for a caller that
 * must vouch for a file it may not read, e.g. an unprivileged process and a root-only secret. */
int logto_file_check_at(int dirfd, const char *name, const char *path,
                        enum logto_file_policy policy, size_t max_size, struct logto_error *err);

/* Read a whole checked file; the buffer is NUL-terminated. Caller frees (wipe it if secret). */
int logto_file_read_at(int dirfd, const char *name, const char *path, enum logto_file_policy policy,
                       size_t max_size, char **ret_buf, size_t *ret_len, struct logto_error *err);

/* Same, for a full path: its directory must pass logto_dir_open_trusted. */
int logto_file_read_trusted(const char *path, enum logto_file_policy policy, size_t max_size,
                            char **ret_buf, size_t *ret_len, struct logto_error *err);

/* A writer's temporary file (".NAME.xxxxxxxx") this old was left by a killed writer. */
#define LOGTO_TEMP_STALE 600

/* Atomically replace name in dirfd with data (temp file, fchmod mode, fsync, rename, fsync dir).
 * Afterwards, writers' temporary files in dirfd older than LOGTO_TEMP_STALE seconds (left by a
 * killed writer) are removed. */
int logto_file_write_at(int dirfd, const char *name, const char *path, const void *data, size_t len,
                        mode_t mode, struct logto_error *err);

/* Same, for a full path. */
int logto_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            struct logto_error *err);

/*
 * Take an exclusive lock on the lock file name in dirfd (created 0600 if missing), waiting at
 * most timeout_ms. The lock is held until *ret_fd is closed.
 */
int logto_lock_at(int dirfd, const char *name, const char *path, int timeout_ms, int *ret_fd,
                  struct logto_error *err);

/* Split "/a/b/c" into a malloc'd "/a/b" and a pointer to "c" inside path: -LOGTO_E_INVAL when
 * path has no last component, -LOGTO_E_NOMEM when out of memory. */
int logto_path_split(const char *path, char **ret_dir, const char **ret_base);
/* The same for an absolute path, with the error filled: "<what> must be absolute: <path>", or
 * out of memory (which is not the caller's path's fault). */
int logto_path_split_absolute(const char *path, const char *what, char **ret_dir,
                              const char **ret_base, struct logto_error *err);
/* Open the directory that holds absolute path (it must pass logto_dir_open_trusted) into
 * *ret_dirfd, and point *ret_base at path's last component (inside path). what names path in
 * the error, as for logto_path_split_absolute. */
int logto_path_open_parent(const char *path, const char *what, int *ret_dirfd,
                           const char **ret_base, struct logto_error *err);
