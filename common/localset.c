/* SPDX-License-Identifier: MIT */
/* The local account files' names and IDs, and the NSS module's guard (localset.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The whole file, NUL-terminated; without stdio, so nothing is buffered past it. */
static int slurp(const char *path, char **ret, struct logto_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
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
    *ret = TAKE_PTR(buf);
    return 0;
}

int logto_localset_read(const char *path, struct logto_localset *ret, struct logto_error *err)
{
    struct logto_localset s = { 0 };
    size_t lines = 1;
    int r;

    r = slurp(path, &s.buf, err);
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

/* ---------------------------------------------------------------- the guard */

static int stat_identity(const char *path, struct logto_file_identity *id)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -1;
    logto_file_identity_from_stat(id, &st);
    return 0;
}

/* Bring the guard up to date (lock held). 0, or -1 when the files cannot be read. */
static int guard_refresh_locked(struct logto_local_guard *g)
{
    const char *pw_path = g->passwd_path ? g->passwd_path : "/etc/passwd";
    const char *gr_path = g->group_path ? g->group_path : "/etc/group";
    struct logto_file_identity pw_id, gr_id;
    struct logto_localset pw = { 0 }, gr = { 0 };
    int64_t now = logto_monotonic_coarse_ns();
    int cancel_state, r = 0;

    if (g->loaded && now < g->next_check_ns)
        return 0;
    /* stat, open and read are cancellation points: never cancelled with the lock held. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    if (stat_identity(pw_path, &pw_id) < 0 || stat_identity(gr_path, &gr_id) < 0)
        r = -1;
    else if (!g->loaded || !logto_file_identity_equal(&pw_id, &g->pw_id) ||
             !logto_file_identity_equal(&gr_id, &g->gr_id)) {
        if (logto_localset_read(pw_path, &pw, NULL) < 0 ||
            logto_localset_read(gr_path, &gr, NULL) < 0) {
            logto_localset_clear(&pw);
            r = -1;
        } else {
            logto_localset_clear(&g->pw);
            logto_localset_clear(&g->gr);
            g->pw = pw;
            g->gr = gr;
            g->pw_id = pw_id;
            g->gr_id = gr_id;
            g->loaded = true;
        }
    }
    pthread_setcancelstate(cancel_state, NULL);
    if (r < 0) {
        /* Try again at the next call; meanwhile nothing is served. */
        logto_localset_clear(&g->pw);
        logto_localset_clear(&g->gr);
        g->loaded = false;
        return -1;
    }
    g->next_check_ns = now + g->interval_ns;
    return 0;
}

int logto_local_guard_hides_user(struct logto_local_guard *g, const char *name, uint32_t uid,
                                 uint32_t gid)
{
    int hide;

    pthread_mutex_lock(&g->lock);
    hide = guard_refresh_locked(g) < 0 || logto_localset_has_name(&g->pw, name) ||
           logto_localset_has_id(&g->pw, uid) || logto_localset_has_name(&g->gr, name) ||
           logto_localset_has_id(&g->gr, gid);
    pthread_mutex_unlock(&g->lock);
    return hide;
}

int logto_local_guard_hides_group(struct logto_local_guard *g, const char *name, uint32_t gid,
                                  bool private_group)
{
    int hide;

    pthread_mutex_lock(&g->lock);
    hide = guard_refresh_locked(g) < 0 || logto_localset_has_name(&g->gr, name) ||
           logto_localset_has_id(&g->gr, gid) ||
           (private_group && logto_localset_has_name(&g->pw, name));
    pthread_mutex_unlock(&g->lock);
    return hide;
}

void logto_local_guard_reset(struct logto_local_guard *g)
{
    pthread_mutex_lock(&g->lock);
    logto_localset_clear(&g->pw);
    logto_localset_clear(&g->gr);
    g->loaded = false;
    pthread_mutex_unlock(&g->lock);
}
