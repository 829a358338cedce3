/* SPDX-License-Identifier: MIT */
/* The local account files' names and IDs, and the NSS module's guard (localset.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "localset.h"
#include "memory.h"
#include "util.h"

/* Large enough for any real account file; a bigger one is refused rather than half-read. */
#define LOCALSET_MAX_SIZE (64u * 1024 * 1024)

void logto_localset_clear(struct logto_localset *set)
{
    free(set->buf);
    free(set->names);
    free(set->ids);
    *set = (struct logto_localset){ 0 };
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The whole file, NUL-terminated, and the identity of the version read: fstat of the same
 * descriptor before reading, so any change made while or after it is read shows as another
 * identity; ret_seen is the time just before that fstat (what a change older than the identity
 * is measured against). Without stdio, so nothing is buffered past the file.
 */
static int slurp(const char *path, char **ret, struct logto_file_identity *ret_id,
                 struct timespec *ret_seen, struct logto_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat st;

    if (fd < 0 || clock_gettime(CLOCK_REALTIME, ret_seen) < 0 || fstat(fd, &st) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot read %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > LOCALSET_MAX_SIZE)
        return logto_error_set(err, LOGTO_E_IO, "%s is not a regular file of sane size", path);
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : (size_t)st.st_size + 4096;
            char *nb;
            if (ncap > LOCALSET_MAX_SIZE + 1)
                return logto_error_set(err, LOGTO_E_IO, "%s is too large", path);
            nb = realloc(buf, ncap + 1);
            if (!nb)
                return LOGTO_OOM(err);
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return logto_error_set(err, LOGTO_E_IO, "cannot read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (!buf && !(buf = malloc(1)))
        return LOGTO_OOM(err);
    buf[len] = '\0';
    logto_file_identity_from_stat(ret_id, &st);
    *ret = TAKE_PTR(buf);
    return 0;
}

int logto_localset_read(const char *path, struct logto_localset *ret, struct logto_error *err)
{
    struct logto_localset s = { 0 };
    size_t lines = 1;
    int r;

    r = slurp(path, &s.buf, &s.id, &s.seen_at, err);
    if (r < 0)
        return r;
    for (const char *p = s.buf; (p = strchr(p, '\n')); p++)
        lines++;
    s.names = calloc(lines, sizeof(*s.names));
    s.ids = calloc(lines, sizeof(*s.ids));
    if (!s.names || !s.ids) {
        logto_localset_clear(&s);
        return LOGTO_OOM(err);
    }
    for (char *line = s.buf, *next; line; line = next) {
        char *fields[4] = { 0 }, *p = line, *name;
        uint64_t id;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        for (int f = 0; f < 4 && p; f++) {
            fields[f] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        name = fields[0];
        if (name[0] == '+' || name[0] == '-')
            name++;
        if (name[0])
            s.names[s.n_names++] = name;
        if (fields[2] && logto_parse_u64(fields[2], 0, UINT32_MAX, &id) == 0)
            s.ids[s.n_ids++] = (uint32_t)id;
    }
    if (s.n_names > 1)
        qsort(s.names, s.n_names, sizeof(*s.names), logto_strcmp_ptr);
    if (s.n_ids > 1)
        qsort(s.ids, s.n_ids, sizeof(*s.ids), cmp_u32);
    *ret = s;
    return 0;
}

bool logto_localset_has_name(const struct logto_localset *set, const char *name)
{
    return name && set->n_names &&
           bsearch(&name, set->names, set->n_names, sizeof(*set->names), logto_strcmp_ptr);
}

bool logto_localset_has_id(const struct logto_localset *set, uint32_t id)
{
    return set->n_ids && bsearch(&id, set->ids, set->n_ids, sizeof(*set->ids), cmp_u32);
}

/* ---------------------------------------------------------------- fingerprints */

/* Fixed-width little-endian fields, so the value depends on nothing but the identity. */
static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_identity(uint8_t *p, const struct logto_file_identity *id)
{
    p = put_u64(p, (uint64_t)id->dev);
    p = put_u64(p, (uint64_t)id->ino);
    p = put_u64(p, (uint64_t)id->size);
    p = put_u64(p, (uint64_t)id->mtime.tv_sec);
    p = put_u64(p, (uint64_t)id->mtime.tv_nsec);
    p = put_u64(p, (uint64_t)id->ctime.tv_sec);
    return put_u64(p, (uint64_t)id->ctime.tv_nsec);
}

uint64_t logto_local_fingerprint(const struct logto_file_identity *passwd,
                                 const struct logto_file_identity *group)
{
    uint8_t buf[2 * 7 * 8];
    uint64_t h;

    put_identity(put_identity(buf, passwd), group);
    h = logto_xxh64(buf, sizeof(buf), 0);
    return h ? h : 1; /* 0 means unknown */
}

static int stat_identity(const char *path, struct logto_file_identity *id)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -1;
    logto_file_identity_from_stat(id, &st);
    return 0;
}

uint64_t logto_local_fingerprint_at(const char *passwd_path, const char *group_path)
{
    struct logto_file_identity pw, gr;

    if (stat_identity(passwd_path ? passwd_path : LOGTO_PASSWD_PATH, &pw) < 0 ||
        stat_identity(group_path ? group_path : LOGTO_GROUP_PATH, &gr) < 0)
        return 0;
    return logto_local_fingerprint(&pw, &gr);
}

static bool settled(const struct logto_file_identity *id, const struct timespec *now)
{
    int64_t changed = (int64_t)id->ctime.tv_sec * 1000000000 + id->ctime.tv_nsec;
    int64_t t = (int64_t)now->tv_sec * 1000000000 + now->tv_nsec;

    return changed <= t - LOGTO_LOCAL_SETTLE_NS;
}

uint64_t logto_local_fingerprint_settled(const struct logto_file_identity *passwd,
                                         const struct logto_file_identity *group,
                                         const struct timespec *now)
{
    if (!settled(passwd, now) || !settled(group, now))
        return 0;
    return logto_local_fingerprint(passwd, group);
}

/* ---------------------------------------------------------------- the guard */

/* Lock held. Readers without the lock load the deadline (acquire) before the fingerprint, so
 * they see a fingerprint at least as new as the deadline they passed. */
static void publish_locked(struct logto_local_guard *g, uint64_t fingerprint, int64_t until_ns)
{
    __atomic_store_n(&g->files_fingerprint, fingerprint, __ATOMIC_RELAXED);
    __atomic_store_n(&g->fingerprint_until_ns, until_ns, __ATOMIC_RELEASE);
}

static bool clear_unlocked(struct logto_local_guard *g, uint64_t fingerprint, int64_t now)
{
    return now < __atomic_load_n(&g->fingerprint_until_ns, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&g->files_fingerprint, __ATOMIC_RELAXED) == fingerprint;
}

/* Stat the files when the last stat is older than the interval (lock held). 0, or -1 when
 * they cannot be stat'ed (then again at the next call). */
static int guard_stat_locked(struct logto_local_guard *g, int64_t now)
{
    const char *pw_path = g->passwd_path ? g->passwd_path : LOGTO_PASSWD_PATH;
    const char *gr_path = g->group_path ? g->group_path : LOGTO_GROUP_PATH;
    struct logto_file_identity pw_id, gr_id;
    int cancel_state, r = 0;

    if (g->stat_ok && now < g->next_check_ns)
        return 0;
    /* stat is a cancellation point: never cancelled with the lock held. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    if (stat_identity(pw_path, &pw_id) < 0 || stat_identity(gr_path, &gr_id) < 0)
        r = -1;
    pthread_setcancelstate(cancel_state, NULL);
    if (r < 0) {
        g->stat_ok = false;
        publish_locked(g, 0, 0);
        return -1;
    }
    g->pw_id = pw_id;
    g->gr_id = gr_id;
    g->stat_ok = true;
    g->next_check_ns = now + g->interval_ns;
    publish_locked(g, logto_local_fingerprint(&pw_id, &gr_id), g->next_check_ns);
    return 0;
}

/* The names and IDs of the files, read when they are not those last stat'ed (lock held). 0, or
 * -1 when they cannot be read (then again at the next call; meanwhile nothing is served). */
static int guard_load_locked(struct logto_local_guard *g)
{
    const char *pw_path = g->passwd_path ? g->passwd_path : LOGTO_PASSWD_PATH;
    const char *gr_path = g->group_path ? g->group_path : LOGTO_GROUP_PATH;
    struct logto_localset pw = { 0 }, gr = { 0 };
    int cancel_state, r = 0;

    if (g->loaded && logto_file_identity_equal(&g->pw.id, &g->pw_id) &&
        logto_file_identity_equal(&g->gr.id, &g->gr_id))
        return 0;
    /* open and read are cancellation points too. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    g->reads++;
    if (logto_localset_read(pw_path, &pw, NULL) < 0 || logto_localset_read(gr_path, &gr, NULL) < 0)
        r = -1;
    pthread_setcancelstate(cancel_state, NULL);
    logto_localset_clear(&g->pw);
    logto_localset_clear(&g->gr);
    g->loaded = false;
    if (r < 0) {
        logto_localset_clear(&pw);
        return -1;
    }
    g->pw = pw;
    g->gr = gr;
    g->loaded = true;
    /* What was read is the newest version known: the next stat is compared with it. */
    g->pw_id = pw.id;
    g->gr_id = gr.id;
    publish_locked(g, logto_local_fingerprint(&pw.id, &gr.id), g->next_check_ns);
    return 0;
}

enum guard_state { GUARD_CLEAR, GUARD_CHECK, GUARD_FAIL };

/* Lock held: nothing to hide, entries to check against the loaded files, or fail closed. */
static enum guard_state guard_state_locked(struct logto_local_guard *g, uint64_t fingerprint)
{
    int64_t now = logto_monotonic_coarse_ns();

    if (guard_stat_locked(g, now) < 0)
        return GUARD_FAIL;
    if (fingerprint != 0 && __atomic_load_n(&g->files_fingerprint, __ATOMIC_RELAXED) == fingerprint)
        return GUARD_CLEAR;
    return guard_load_locked(g) < 0 ? GUARD_FAIL : GUARD_CHECK;
}

bool logto_local_guard_clear(struct logto_local_guard *g, uint64_t fingerprint)
{
    int64_t now;
    bool clear;

    if (fingerprint == 0)
        return false;
    now = logto_monotonic_coarse_ns();
    if (clear_unlocked(g, fingerprint, now))
        return true;
    pthread_mutex_lock(&g->lock);
    clear = guard_stat_locked(g, now) == 0 &&
            __atomic_load_n(&g->files_fingerprint, __ATOMIC_RELAXED) == fingerprint;
    pthread_mutex_unlock(&g->lock);
    return clear;
}

int logto_local_guard_hides_user(struct logto_local_guard *g, uint64_t fingerprint,
                                 const char *name, uint32_t uid, uint32_t gid)
{
    enum guard_state state;
    int hide;

    if (fingerprint != 0 && clear_unlocked(g, fingerprint, logto_monotonic_coarse_ns()))
        return 0;
    pthread_mutex_lock(&g->lock);
    state = guard_state_locked(g, fingerprint);
    hide = state == GUARD_FAIL ||
           (state == GUARD_CHECK &&
            (logto_localset_has_name(&g->pw, name) || logto_localset_has_id(&g->pw, uid) ||
             logto_localset_has_name(&g->gr, name) || logto_localset_has_id(&g->gr, gid)));
    pthread_mutex_unlock(&g->lock);
    return hide;
}

int logto_local_guard_hides_group(struct logto_local_guard *g, uint64_t fingerprint,
                                  const char *name, uint32_t gid, bool private_group)
{
    enum guard_state state;
    int hide;

    if (fingerprint != 0 && clear_unlocked(g, fingerprint, logto_monotonic_coarse_ns()))
        return 0;
    pthread_mutex_lock(&g->lock);
    state = guard_state_locked(g, fingerprint);
    hide = state == GUARD_FAIL ||
           (state == GUARD_CHECK &&
            (logto_localset_has_name(&g->gr, name) || logto_localset_has_id(&g->gr, gid) ||
             (private_group && logto_localset_has_name(&g->pw, name))));
    pthread_mutex_unlock(&g->lock);
    return hide;
}

void logto_local_guard_reset(struct logto_local_guard *g)
{
    pthread_mutex_lock(&g->lock);
    logto_localset_clear(&g->pw);
    logto_localset_clear(&g->gr);
    g->loaded = false;
    g->stat_ok = false;
    publish_locked(g, 0, 0);
    pthread_mutex_unlock(&g->lock);
}
