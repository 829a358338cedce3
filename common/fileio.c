/* SPDX-License-Identifier: MIT */
/* Checked reads and atomic writes of root-trusted files. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "memory.h"
#include "util.h"

bool logto_owner_trusted(uid_t uid)
{
    uid_t me = geteuid();
    return uid == 0 || (me != 0 && uid == me);
}

static int check_dir_stat(const struct stat *st, const char *path, bool leaf, bool private_dir,
                          struct logto_error *err)
{
    if (!S_ISDIR(st->st_mode))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is not a directory", path);
    if (!logto_owner_trusted(st->st_uid))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is owned by uid %u, not root", path,
                               (unsigned)st->st_uid);
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        /* A sticky ancestor (like /tmp) lets nobody else rename or remove our entries. */
        if (leaf || !(st->st_mode & S_ISVTX))
            return logto_error_set(err, LOGTO_E_UNSAFE,
                                   "%s is writable by group or others (mode %04o)", path,
                                   (unsigned)(st->st_mode & 07777));
    }
    if (leaf && private_dir && (st->st_mode & (S_IRWXG | S_IRWXO)))
        return logto_error_set(err, LOGTO_E_UNSAFE,
                               "%s must not be accessible by group or others (mode %04o)", path,
                               (unsigned)(st->st_mode & 07777));
    return 0;
}

int logto_dir_open_trusted(const char *dir, bool private_dir, int *ret_dirfd,
                           struct logto_error *err)
{
    _cleanup_free_ char *canon = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    if (!dir || dir[0] != '/')
        return logto_error_set(err, LOGTO_E_INVAL, "directory path must be absolute: %s",
                               dir ? dir : "(null)");
    /* The directory itself must not be a symlink. */
    if (lstat(dir, &st) < 0)
        return logto_error_set(err, errno == ENOENT ? LOGTO_E_NOTFOUND : LOGTO_E_IO,
                               "cannot access %s: %s", dir, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is a symbolic link", dir);

    canon = realpath(dir, NULL);
    if (!canon)
        return logto_error_set(err, LOGTO_E_IO, "cannot resolve %s: %s", dir, strerror(errno));

    /* Every ancestor of the canonical path, from / down. */
    for (char *p = canon + 1;; p++) {
        char saved = *p;
        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        r = lstat(canon[0] ? canon : "/", &st);
        if (r < 0) {
            *p = saved;
            return logto_error_set(err, LOGTO_E_IO, "cannot access %s: %s", canon, strerror(errno));
        }
        if (saved != '\0') {
            r = check_dir_stat(&st, canon[0] ? canon : "/", false, false, err);
            *p = saved;
            if (r < 0)
                return r;
        } else
            break;
    }
    /* Root "/" itself. */
    if (lstat("/", &st) < 0 || check_dir_stat(&st, "/", false, false, err) < 0)
        return logto_error_set(err, LOGTO_E_UNSAFE, "/ is not safe");

    fd = open(canon, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot open %s: %s", dir, strerror(errno));
    if (fstat(fd, &st) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", dir, strerror(errno));
    r = check_dir_stat(&st, dir, true, private_dir, err);
    if (r < 0)
        return r;
    *ret_dirfd = TAKE_FD(fd);
    return 0;
}

int logto_dir_ensure(const char *dir, mode_t mode, bool private_dir, int *ret_dirfd,
                     struct logto_error *err)
{
    if (mkdir(dir, mode) < 0 && errno != EEXIST)
        return logto_error_set(err, LOGTO_E_IO, "cannot create directory %s: %s", dir,
                               strerror(errno));
    return logto_dir_open_trusted(dir, private_dir, ret_dirfd, err);
}

/* The checks every trusted file passes, on its stat data. */
static int check_file_stat(const struct stat *st, const char *path, enum logto_file_policy policy,
                           size_t max_size, struct logto_error *err)
{
    if (!S_ISREG(st->st_mode))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is not a regular file", path);
    if (!logto_owner_trusted(st->st_uid))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is owned by uid %u, not root", path,
                               (unsigned)st->st_uid);
    if (st->st_nlink != 1)
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s has %lu hard links, expected 1", path,
                               (unsigned long)st->st_nlink);
    if (policy == LOGTO_FILE_SECRET && (st->st_mode & (S_IRWXG | S_IRWXO)))
        return logto_error_set(err, LOGTO_E_UNSAFE,
                               "%s holds a secret but is accessible by group or others "
                               "(mode %04o; use 0600)",
                               path, (unsigned)(st->st_mode & 07777));
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is writable by group or others (mode %04o)",
                               path, (unsigned)(st->st_mode & 07777));
    if ((uint64_t)st->st_size > (uint64_t)max_size)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s is too large (%lld bytes, limit %zu)",
                               path, (long long)st->st_size, max_size);
    return 0;
}

int logto_file_check_at(int dirfd, const char *name, const char *path,
                        enum logto_file_policy policy, size_t max_size, struct logto_error *err)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
        return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is a symbolic link", path);
    return check_file_stat(&st, path, policy, max_size, err);
}

int logto_file_open_at(int dirfd, const char *name, const char *path, enum logto_file_policy policy,
                       size_t max_size, int *ret_fd, struct stat *ret_st, struct logto_error *err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
        if (errno == ELOOP)
            return logto_error_set(err, LOGTO_E_UNSAFE, "%s is a symbolic link", path);
        return logto_error_set(err, LOGTO_E_IO, "cannot open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", path, strerror(errno));
    r = check_file_stat(&st, path, policy, max_size, err);
    if (r < 0)
        return r;
    /* Back to blocking mode: O_NONBLOCK only guarded the open against FIFOs. */
    if (fcntl(fd, F_SETFL, 0) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot use %s: %s", path, strerror(errno));
    if (ret_st)
        *ret_st = st;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int logto_file_read_at(int dirfd, const char *name, const char *path, enum logto_file_policy policy,
                       size_t max_size, char **ret_buf, size_t *ret_len, struct logto_error *err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    size_t cap, len = 0;
    char *buf;
    int r;

    r = logto_file_open_at(dirfd, name, path, policy, max_size, &fd, &st, err);
    if (r < 0)
        return r;
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (!buf)
        return LOGTO_OOM(err);
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            /* The file grew after fstat: read at most max_size bytes in all. A file of exactly
             * max_size bytes fills the buffer; only a byte beyond it makes the file too large. */
            if (len >= max_size) {
                char probe;
                ssize_t k;
                while ((k = read(fd, &probe, 1)) < 0 && errno == EINTR)
                    ;
                if (k == 0)
                    break;
                logto_freezero(buf, cap);
                if (k < 0)
                    return logto_error_set(err, LOGTO_E_IO, "cannot read %s: %s", path,
                                           strerror(errno));
                return logto_error_set(err, LOGTO_E_CORRUPT, "%s is too large", path);
            }
            /* Not realloc: the old block may hold a secret and must be wiped, not just freed. */
            size_t ncap = cap * 2 > max_size + 1 ? max_size + 1 : cap * 2;
            char *nb = malloc(ncap);
            if (!nb) {
                logto_freezero(buf, cap);
                return LOGTO_OOM(err);
            }
            memcpy(nb, buf, len);
            logto_freezero(buf, cap);
            buf = nb;
            cap = ncap;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            logto_freezero(buf, cap);
            return logto_error_set(err, LOGTO_E_IO, "cannot read %s: %s", path, strerror(errno));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}

int logto_path_split(const char *path, char **ret_dir, const char **ret_base)
{
    const char *slash = strrchr(path, '/');

    if (!slash || slash[1] == '\0')
        return -LOGTO_E_INVAL;
    *ret_dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!*ret_dir)
        return -LOGTO_E_NOMEM;
    *ret_base = slash + 1;
    return 0;
}

int logto_path_split_absolute(const char *path, const char *what, char **ret_dir,
                              const char **ret_base, struct logto_error *err)
{
    int r = path && path[0] == '/' ? logto_path_split(path, ret_dir, ret_base) : -LOGTO_E_INVAL;

    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(err);
    if (r < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "%s must be absolute: %s", what,
                               path ? path : "(null)");
    return 0;
}

int logto_path_open_parent(const char *path, const char *what, int *ret_dirfd,
                           const char **ret_base, struct logto_error *err)
{
    _cleanup_free_ char *dir = NULL;
    int r = logto_path_split_absolute(path, what, &dir, ret_base, err);

    if (r < 0)
        return r;
    return logto_dir_open_trusted(dir, false, ret_dirfd, err);
}

int logto_file_read_trusted(const char *path, enum logto_file_policy policy, size_t max_size,
                            char **ret_buf, size_t *ret_len, struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    const char *base;
    int r = logto_path_open_parent(path, "path", &dirfd, &base, err);

    if (r < 0)
        return r;
    return logto_file_read_at(dirfd, base, path, policy, max_size, ret_buf, ret_len, err);
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char temp_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
#define TEMP_SUFFIX_LEN 8

/* Whether entry is a writer's temporary file: ".NAME." and 8 lower-case letters or digits. */
static bool is_temp(const char *entry)
{
    size_t n = strlen(entry);

    if (entry[0] != '.' || n < TEMP_SUFFIX_LEN + 3 || entry[n - TEMP_SUFFIX_LEN - 1] != '.')
        return false;
    entry += n - TEMP_SUFFIX_LEN;
    return strspn(entry, temp_alphabet) == TEMP_SUFFIX_LEN;
}

/* A writer killed between creating its temporary file and the rename leaves the file behind.
 * Remove those in dirfd older than LOGTO_TEMP_STALE seconds: a live writer renames within
 * seconds, so it never loses its file. Best effort: errors are ignored. */
static void sweep_stale_temps(int dirfd)
{
    time_t cutoff = time(NULL) - LOGTO_TEMP_STALE;
    struct dirent *de;
    struct stat st;
    DIR *d;
    int fd;

    fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    while ((de = readdir(d))) {
        if (!is_temp(de->d_name) || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode) || st.st_mtime > cutoff)
            continue;
        unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

int logto_file_write_at(int dirfd, const char *name, const char *path, const void *data, size_t len,
                        mode_t mode, struct logto_error *err)
{
    char tmp[NAME_MAX + 1];
    unsigned char rnd[TEMP_SUFFIX_LEN];
    _cleanup_close_ int fd = -1;
    int r, saved;

    if (strlen(name) + 10 > NAME_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "file name too long: %s", path);
    for (int attempt = 0;; attempt++) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return logto_error_set(err, LOGTO_E_IO, "getrandom failed: %s", strerror(errno));
        r = snprintf(tmp, sizeof(tmp), ".%s.", name);
        for (size_t i = 0; i < sizeof(rnd); i++)
            tmp[r + (int)i] = temp_alphabet[rnd[i] % (sizeof(temp_alphabet) - 1)];
        tmp[r + (int)sizeof(rnd)] = '\0';
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0)
            break;
        if (errno != EEXIST || attempt > 16)
            return logto_error_set(err, LOGTO_E_IO, "cannot create a temporary file for %s: %s",
                                   path, strerror(errno));
    }
    /* The umask must not decide the final mode. */
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(TAKE_FD(fd)) < 0)
        goto fail;
    if (renameat(dirfd, tmp, dirfd, name) < 0)
        goto fail;
    /* Make the rename itself durable. */
    if (fsync(dirfd) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot sync the directory of %s: %s", path,
                               strerror(errno));
    sweep_stale_temps(dirfd);
    return 0;

fail:
    saved = errno;
    unlinkat(dirfd, tmp, 0);
    return logto_error_set(err, LOGTO_E_IO, "cannot write %s: %s", path, strerror(saved));
}

int logto_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    const char *base;
    int r = logto_path_open_parent(path, "path", &dirfd, &base, err);

    if (r < 0)
        return r;
    return logto_file_write_at(dirfd, base, path, data, len, mode, err);
}

int logto_lock_at(int dirfd, const char *name, const char *path, int timeout_ms, int *ret_fd,
                  struct logto_error *err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    int64_t deadline = logto_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return logto_error_set(err, errno == ELOOP ? LOGTO_E_UNSAFE : LOGTO_E_IO,
                               "cannot open lock %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !logto_owner_trusted(st.st_uid) ||
        st.st_nlink != 1)
        return logto_error_set(err, LOGTO_E_UNSAFE, "lock file %s is not a safe regular file",
                               path);
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return logto_error_set(err, LOGTO_E_IO, "cannot lock %s: %s", path, strerror(errno));
        /* A monotonic deadline: a signal that cuts a sleep short or a step of the wall clock
         * neither ends the wait early nor stretches it. */
        int64_t left = deadline - logto_monotonic_ms();
        if (left <= 0)
            return logto_error_set(err, LOGTO_E_BUSY, "%s is locked by another process", path);
        struct timespec ts = { 0, (long)(left < 10 ? left : 10) * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

void logto_file_identity_from_stat(struct logto_file_identity *id, const struct stat *st)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
    id->ctime = st->st_ctim;
}

bool logto_file_identity_equal(const struct logto_file_identity *a,
                               const struct logto_file_identity *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}
