/* SPDX-License-Identifier: MIT */
/*
 * libnss_logto.so.2: passwd, group and initgroups answered from the directory snapshot
 * (common/snapshot.h). Thin: glibc's NSS ABI in, snapshot lookups, caller's buffer out.
 *
 * Choices, and why:
 *  - Point lookups share nothing but the process-wide snapshot cache (a mutex around taking a
 *    reference; the lookups themselves are lock-free reads of an immutable mapping) and
 *    allocate nothing.
 *  - Enumeration state is one per database, process-wide, under a mutex. glibc itself keeps a
 *    single process-wide position for getpwent()/getgrent() (behind its own lock) and moves
 *    between modules with it, so per-thread state here would disagree with the caller as soon
 *    as two threads touch the enumeration; a global state also needs no per-thread destructor
 *    to give back a mapping when a thread exits. Each enumeration holds a reference to the
 *    mapping it started on, so it lists one consistent version even if the file is replaced.
 *  - The recursion guard is a pthread key, not __thread: this module is dlopen()ed lazily, and
 *    ELF TLS in such modules is allocated on first use, where glibc may have to abort the
 *    process if that fails (systemd #42559). pthread_getspecific/setspecific of an early key
 *    allocate nothing.
 *  - Lock holders disable cancellation (open() and syslog() are cancellation points) and
 *    pthread_atfork keeps a child from inheriting a held lock.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "directory.h"
#include "localset.h"
#include "log.h"
#include "macro.h"
#include "names.h"
#include "snapshot.h"

#define NO_PASSWORD "*" /* we serve no password hashes (no shadow database) */

_public_ enum nss_status _nss_logto_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                               size_t len, int *errnop);
_public_ enum nss_status _nss_logto_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_setpwent(int stayopen);
_public_ enum nss_status _nss_logto_getpwent_r(struct passwd *pw, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_endpwent(void);
_public_ enum nss_status _nss_logto_getgrnam_r(const char *name, struct group *gr, char *buf,
                                               size_t len, int *errnop);
_public_ enum nss_status _nss_logto_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_setgrent(int stayopen);
_public_ enum nss_status _nss_logto_getgrent_r(struct group *gr, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_endgrent(void);
_public_ enum nss_status _nss_logto_initgroups_dyn(const char *user, gid_t group, long *start,
                                                   long *size, gid_t **groups, long limit,
                                                   int *errnop);

/* ---------------------------------------------------------------- module state */

static pthread_key_t depth_key;
static bool depth_key_ok;
static char path_buf[4096];
static bool path_invalid;
static int path_logged;
static struct logto_snapshot_cache cache = LOGTO_SNAPSHOT_CACHE_INIT(NULL);
/* Local accounts created after the snapshot was written win until a writer drops our entry. */
static struct logto_local_guard guard = LOGTO_LOCAL_GUARD_INIT;

struct enumeration {
    pthread_mutex_t lock;
    struct logto_snapshot *snap; /* the version being listed */
    uint32_t next;
};
static struct enumeration pw_enum = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct enumeration gr_enum = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Lock order everywhere: an enumeration lock, then the cache lock or the guard's lock (never
 * both at once). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pw_enum.lock);
    pthread_mutex_lock(&gr_enum.lock);
    pthread_mutex_lock(&cache.lock);
    pthread_mutex_lock(&guard.lock);
}

static void atfork_release(void)
{
    pthread_mutex_unlock(&guard.lock);
    pthread_mutex_unlock(&cache.lock);
    pthread_mutex_unlock(&gr_enum.lock);
    pthread_mutex_unlock(&pw_enum.lock);
}

/* The snapshot path (snapshot.h): the state directory's, or LOGTO_NSS_SNAPSHOT for tests. */
static void choose_path(void)
{
    const char *p = logto_snapshot_nss_path();

    if (!p || strlen(p) >= sizeof(path_buf)) {
        path_invalid = true;
        return;
    }
    strcpy(path_buf, p);
    cache.path = path_buf;
}

/*
 * At load time, before glibc (or anyone) can have our entry points: no thread can race with
 * it, and the hot path needs no pthread_once.
 */
__attribute__((constructor)) static void module_init(void)
{
    choose_path();
    depth_key_ok = pthread_key_create(&depth_key, NULL) == 0;
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* ---------------------------------------------------------------- call discipline */

struct call {
    int saved_errno;
    bool guarded;
};

static void call_end(struct call *c)
{
    if (c->guarded)
        pthread_setspecific(depth_key, NULL);
}

static enum nss_status fail(int *errnop, enum nss_status status, int e)
{
    *errnop = e;
    return status;
}

static enum nss_status call_begin(struct call *c, int *errnop)
{
    /* Without a guard we cannot promise not to re-enter: fail closed. */
    if (!depth_key_ok)
        return fail(errnop, NSS_STATUS_UNAVAIL, EAGAIN);
    if (pthread_getspecific(depth_key))
        return fail(errnop, NSS_STATUS_UNAVAIL, EDEADLK);
    if (pthread_setspecific(depth_key, &depth_key) != 0)
        return fail(errnop, NSS_STATUS_TRYAGAIN, ENOMEM);
    c->guarded = true;
    return NSS_STATUS_SUCCESS;
}

/* Every entry point: save errno, take the recursion guard (given back on every return). */
#define CALL_BEGIN(errnop)                                                                         \
    _cleanup_(call_end) struct call call_ = { .saved_errno = errno };                              \
    do {                                                                                           \
        enum nss_status s_ = call_begin(&call_, (errnop));                                         \
        if (s_ != NSS_STATUS_SUCCESS)                                                              \
            return s_;                                                                             \
    } while (0)

/* Success leaves errno as the caller had it. */
#define CALL_SUCCESS()                                                                             \
    ({                                                                                             \
        errno = call_.saved_errno;                                                                 \
        NSS_STATUS_SUCCESS;                                                                        \
    })

static enum nss_status not_found(int *errnop)
{
    return fail(errnop, NSS_STATUS_NOTFOUND, ENOENT);
}

/* A reference to the current snapshot, or the status that explains why there is none. */
static enum nss_status acquire(struct logto_snapshot **ret, int *errnop)
{
    struct logto_error e;
    int r;

    if (path_invalid) {
        if (!__atomic_exchange_n(&path_logged, 1, __ATOMIC_RELAXED))
            logto_log(NULL, LOG_ERR,
                      "snapshot-refused reason=\"LOGTO_NSS_SNAPSHOT is not an absolute path\"");
        return fail(errnop, NSS_STATUS_UNAVAIL, EIO);
    }
    r = logto_snapshot_cache_get(&cache, ret, &e);
    switch (r) {
    case 0:
        return NSS_STATUS_SUCCESS;
    case -LOGTO_E_NOTFOUND: /* normal before the first sync: no log line */
        return fail(errnop, NSS_STATUS_UNAVAIL, ENOENT);
    case -LOGTO_E_NOMEM: /* out of memory or descriptors: nothing remembered, try again */
        return fail(errnop, NSS_STATUS_TRYAGAIN, ENOMEM);
    case -LOGTO_E_BUSY:
        return fail(errnop, NSS_STATUS_TRYAGAIN, EAGAIN);
    default: /* refused: logged once by the cache */
        return fail(errnop, NSS_STATUS_UNAVAIL, EIO);
    }
}

/*
 * A lookup answered -LOGTO_E_CORRUPT. If the mapping is damaged (a region failed its checksum,
 * a record broke the format), the file is refused like one found bad at open: logged once,
 * remembered, UNAVAIL. Otherwise only this entry was unfit for output: absent.
 */
static enum nss_status refused_or_absent(struct logto_snapshot *snap, int *errnop)
{
    struct logto_error e;

    if (logto_snapshot_cache_damaged(&cache, snap, &e) < 0)
        return fail(errnop, NSS_STATUS_UNAVAIL, EIO);
    return not_found(errnop);
}

static enum nss_status lookup_failed(struct logto_snapshot *snap, int r, int *errnop)
{
    return r == -LOGTO_E_CORRUPT ? refused_or_absent(snap, errnop) : not_found(errnop);
}

/* ---------------------------------------------------------------- packing into the buffer */

static char *put(char **p, const char *s, size_t len)
{
    char *start = *p;
    memcpy(start, s, len);
    start[len] = '\0';
    *p += len + 1;
    return start;
}

/* Fill pw from u inside buf; -ERANGE (nothing written anywhere) when buf is too small. */
static int pack_passwd(const struct logto_snap_user *u, struct passwd *pw, char *buf, size_t len)
{
    size_t need = (size_t)u->name_len + 1 + sizeof(NO_PASSWORD) + u->gecos_len + 1 + u->home_len +
                  1 + u->shell_len + 1;
    struct passwd out;
    char *p = buf;

    if (!buf || len < need)
        return -ERANGE;
    out.pw_name = put(&p, u->name, u->name_len);
    out.pw_passwd = put(&p, NO_PASSWORD, sizeof(NO_PASSWORD) - 1);
    out.pw_uid = u->uid;
    out.pw_gid = u->gid;
    out.pw_gecos = put(&p, u->gecos, u->gecos_len);
    out.pw_dir = put(&p, u->home, u->home_len);
    out.pw_shell = put(&p, u->shell, u->shell_len);
    *pw = out;
    return 0;
}

/*
 * Fill gr from g: the member pointer array first (aligned for char * inside buf), then the
 * strings. The member names (checked when the view was made) are copied in one piece. -ERANGE
 * when buf is too small, and then nothing is written.
 */
static int pack_group(const struct logto_snap_group *g, struct group *gr, char *buf, size_t len)
{
    uintptr_t misalign = (uintptr_t)buf % alignof(char *);
    size_t pad = misalign ? alignof(char *) - misalign : 0;
    size_t need = pad + ((size_t)g->n_members + 1) * sizeof(char *) + g->member_names_size +
                  g->name_len + 1 + sizeof(NO_PASSWORD);
    struct group out;
    char **mem, *p;

    if (!buf || len < need)
        return -ERANGE;
    mem = (char **)(void *)(buf + pad);
    p = (char *)(mem + g->n_members + 1);
    memcpy(p, g->member_names, g->member_names_size);
    for (uint32_t i = 0; i < g->n_members; i++) {
        mem[i] = p;
        p += strlen(p) + 1;
    }
    mem[g->n_members] = NULL;
    out.gr_name = put(&p, g->name, g->name_len);
    out.gr_passwd = put(&p, NO_PASSWORD, sizeof(NO_PASSWORD) - 1);
    out.gr_gid = g->gid;
    out.gr_mem = mem;
    *gr = out;
    return 0;
}

/* ---------------------------------------------------------------- the local guard */

/* An entry whose name or ID is a local account's now (created after the snapshot was written):
 * never served, by name, by ID or in a listing (localset.h). While the local files are those the
 * snapshot's writer checked, this costs two atomic loads and a coarse clock, and reads nothing. */
static bool user_hidden(const struct logto_snapshot *snap, const struct logto_snap_user *u)
{
    return logto_local_guard_hides_user(&guard, logto_snapshot_local_files(snap), u->name, u->uid,
                                        u->gid) != 0;
}

static bool group_hidden(const struct logto_snapshot *snap, const struct logto_snap_group *g)
{
    return logto_local_guard_hides_group(&guard, logto_snapshot_local_files(snap), g->name, g->gid,
                                         g->kind == LOGTO_GROUP_PRIVATE) != 0;
}

/* ---------------------------------------------------------------- passwd */

static enum nss_status passwd_lookup(bool by_name, const char *name, uid_t uid, struct passwd *pw,
                                     char *buf, size_t len, int *errnop)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    struct logto_snap_user u;
    enum nss_status s;
    int r;

    /* IDs we never serve (root, system accounts...): no need to map anything. */
    if (!by_name && logto_id_reserved((uint32_t)uid))
        return not_found(errnop);
    s = acquire(&snap, errnop);
    if (s != NSS_STATUS_SUCCESS)
        return s;
    r = by_name ? logto_snapshot_user_by_name(snap, name, &u)
                : logto_snapshot_user_by_uid(snap, (uint32_t)uid, &u);
    if (r < 0)
        return lookup_failed(snap, r, errnop);
    if (user_hidden(snap, &u))
        return not_found(errnop);
    if (pack_passwd(&u, pw, buf, len) < 0)
        return fail(errnop, NSS_STATUS_TRYAGAIN, ERANGE);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_logto_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
                                      int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    /* Not a name we could ever serve: do not look it up. */
    if (!logto_name_valid(name))
        return not_found(errnop);
    s = passwd_lookup(true, name, 0, pw, buf, len, errnop);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

enum nss_status _nss_logto_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                      int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    s = passwd_lookup(false, NULL, uid, pw, buf, len, errnop);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

/* ---------------------------------------------------------------- group */

static enum nss_status group_lookup(bool by_name, const char *name, gid_t gid, struct group *gr,
                                    char *buf, size_t len, int *errnop)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    struct logto_snap_group g;
    enum nss_status s;
    int r;

    if (!by_name && logto_id_reserved((uint32_t)gid))
        return not_found(errnop);
    s = acquire(&snap, errnop);
    if (s != NSS_STATUS_SUCCESS)
        return s;
    r = by_name ? logto_snapshot_group_by_name(snap, name, &g)
                : logto_snapshot_group_by_gid(snap, (uint32_t)gid, &g);
    if (r < 0)
        return lookup_failed(snap, r, errnop);
    if (group_hidden(snap, &g))
        return not_found(errnop);
    if (pack_group(&g, gr, buf, len) < 0)
        return fail(errnop, NSS_STATUS_TRYAGAIN, ERANGE);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_logto_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len,
                                      int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    if (!logto_name_valid(name))
        return not_found(errnop);
    s = group_lookup(true, name, 0, gr, buf, len, errnop);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

enum nss_status _nss_logto_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                                      int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    s = group_lookup(false, NULL, gid, gr, buf, len, errnop);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

/* ---------------------------------------------------------------- initgroups */

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

/* A short list (glibc's usual: the primary group alone) is searched as it is. */
#define SHORT_LIST 16

static bool has_gid(const gid_t *groups, long n, gid_t gid)
{
    for (long i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

/* glibc's growth rule: double, but never beyond a positive limit. */
static enum nss_status make_room(long *size, gid_t **groups, long limit, int *errnop)
{
    long want = *size > 0 ? 2 * *size : 16;
    gid_t *g;

    if (limit > 0 && want > limit)
        want = limit;
    if (want <= *size || (unsigned long)want > SIZE_MAX / sizeof(gid_t))
        return fail(errnop, NSS_STATUS_TRYAGAIN, ENOMEM);
    g = realloc(*groups, (size_t)want * sizeof(gid_t));
    if (!g)
        return fail(errnop, NSS_STATUS_TRYAGAIN, ENOMEM);
    *groups = g;
    *size = want;
    return NSS_STATUS_SUCCESS;
}

/*
 * Add the user's supplementary groups that the caller does not have yet. A caller's list of
 * more than a few (what earlier modules found) is sorted once, and our GIDs are sorted in the
 * snapshot, so one merge pass finds the duplicates: O(s log s + n), where a scan per GID was
 * O(s * n) (a user in 70,000 groups made `id` take half a minute). A positive limit (initgroups(3)
 * passes NGROUPS_MAX) caps the list; what it cuts off is logged, never dropped silently.
 */
enum nss_status _nss_logto_initgroups_dyn(const char *user, gid_t group, long *start, long *size,
                                          gid_t **groups, long limit, int *errnop)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    _cleanup_free_ gid_t *have = NULL;
    struct logto_snap_user u;
    const uint32_t *gids;
    long n_have = *start, k = 0;
    uint32_t cut = 0;
    uint64_t local_files;
    bool check_local;
    enum nss_status s;
    int r;

    CALL_BEGIN(errnop);
    if (!logto_name_valid(user))
        return not_found(errnop);
    s = acquire(&snap, errnop);
    if (s != NSS_STATUS_SUCCESS)
        return s;
    if ((r = logto_snapshot_user_by_name(snap, user, &u)) < 0 ||
        (r = logto_snapshot_user_gids(snap, &u, &gids)) < 0)
        return lookup_failed(snap, r, errnop);
    if (user_hidden(snap, &u))
        return not_found(errnop);
    /* Asked once for the whole list: with the files as the writer checked them, per GID never. */
    local_files = logto_snapshot_local_files(snap);
    check_local = !logto_local_guard_clear(&guard, local_files);
    if (n_have > SHORT_LIST && u.n_gids > 0) {
        if ((unsigned long)n_have > SIZE_MAX / sizeof(gid_t) ||
            !(have = malloc((size_t)n_have * sizeof(gid_t))))
            return fail(errnop, NSS_STATUS_TRYAGAIN, ENOMEM);
        memcpy(have, *groups, (size_t)n_have * sizeof(gid_t));
        qsort(have, (size_t)n_have, sizeof(gid_t), cmp_gid);
    }
    for (uint32_t i = 0; i < u.n_gids; i++) {
        gid_t gid = (gid_t)gids[i];
        while (have && k < n_have && have[k] < gid)
            k++;
        /* The primary group is the caller's; never list a group twice, nor a GID now local (by
         * GID only: making a group's view checks all its member names, thousands for a role). */
        if (gid == group || (have ? k < n_have && have[k] == gid : has_gid(*groups, n_have, gid)) ||
            (check_local &&
             logto_local_guard_hides_group(&guard, local_files, NULL, gids[i], false)))
            continue;
        if (*start == *size) {
            if (limit > 0 && *size >= limit) {
                cut++; /* full: the caller takes no more */
                continue;
            }
            s = make_room(size, groups, limit, errnop);
            if (s != NSS_STATUS_SUCCESS)
                return s;
        }
        (*groups)[(*start)++] = gid;
    }
    if (cut > 0)
        logto_log(NULL, LOG_WARNING, "initgroups-truncated user=%s groups=%u dropped=%u limit=%ld",
                  user, u.n_gids, cut, limit);
    return CALL_SUCCESS();
}

/* ---------------------------------------------------------------- enumeration */

static void enum_release_locked(struct enumeration *en)
{
    logto_snapshot_unref(en->snap);
    en->snap = NULL;
    en->next = 0;
}

static enum nss_status enum_start_locked(struct enumeration *en, int *errnop)
{
    enum_release_locked(en);
    return acquire(&en->snap, errnop);
}

static enum nss_status enum_set(struct enumeration *en)
{
    enum nss_status s;
    int e = 0, cancel_state;

    CALL_BEGIN(&e);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&en->lock);
    s = enum_start_locked(en, &e);
    pthread_mutex_unlock(&en->lock);
    pthread_setcancelstate(cancel_state, NULL);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

static enum nss_status enum_end(struct enumeration *en)
{
    int e = 0, cancel_state;

    CALL_BEGIN(&e);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&en->lock);
    enum_release_locked(en);
    pthread_mutex_unlock(&en->lock);
    pthread_setcancelstate(cancel_state, NULL);
    return CALL_SUCCESS();
}

/* The next entry that packs; entries unfit for output are skipped, a damaged file ends the
 * enumeration (UNAVAIL). Advances only on success, so a retry after ERANGE returns the same
 * entry. */
static enum nss_status pw_next_locked(struct passwd *pw, char *buf, size_t len, int *errnop)
{
    struct logto_snap_user u;
    int r;

    /* [sync] enumerate = no: lookups answer, enumerations list nothing of ours. */
    if (!logto_snapshot_enumerate(pw_enum.snap))
        return not_found(errnop);
    for (;;) {
        r = logto_snapshot_user_at(pw_enum.snap, pw_enum.next, &u);
        if (r == -LOGTO_E_NOTFOUND)
            return not_found(errnop);
        if (r < 0 && refused_or_absent(pw_enum.snap, errnop) == NSS_STATUS_UNAVAIL)
            return NSS_STATUS_UNAVAIL;
        if (r == 0 && user_hidden(pw_enum.snap, &u))
            r = -LOGTO_E_COLLISION;
        if (r == 0) {
            r = pack_passwd(&u, pw, buf, len);
            if (r == -ERANGE)
                return fail(errnop, NSS_STATUS_TRYAGAIN, ERANGE);
        }
        pw_enum.next++;
        if (r == 0)
            return NSS_STATUS_SUCCESS;
    }
}

static enum nss_status gr_next_locked(struct group *gr, char *buf, size_t len, int *errnop)
{
    struct logto_snap_group g;
    int r;

    if (!logto_snapshot_enumerate(gr_enum.snap))
        return not_found(errnop);
    for (;;) {
        r = logto_snapshot_group_at(gr_enum.snap, gr_enum.next, &g);
        if (r == -LOGTO_E_NOTFOUND)
            return not_found(errnop);
        if (r < 0 && refused_or_absent(gr_enum.snap, errnop) == NSS_STATUS_UNAVAIL)
            return NSS_STATUS_UNAVAIL;
        if (r == 0 && group_hidden(gr_enum.snap, &g))
            r = -LOGTO_E_COLLISION;
        if (r == 0) {
            r = pack_group(&g, gr, buf, len);
            if (r == -ERANGE)
                return fail(errnop, NSS_STATUS_TRYAGAIN, ERANGE);
        }
        gr_enum.next++;
        if (r == 0)
            return NSS_STATUS_SUCCESS;
    }
}

enum nss_status _nss_logto_setpwent(int stayopen)
{
    (void)stayopen;
    return enum_set(&pw_enum);
}

/* Without setpwent/setgrent first: start here. Acquiring may reach a cancellation point;
 * stepping through a held mapping never does, so only this part turns cancellation off. */
static enum nss_status enum_ensure_locked(struct enumeration *en, int *errnop)
{
    enum nss_status s;
    int cancel_state;

    if (en->snap)
        return NSS_STATUS_SUCCESS;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    s = enum_start_locked(en, errnop);
    pthread_setcancelstate(cancel_state, NULL);
    return s;
}

enum nss_status _nss_logto_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    pthread_mutex_lock(&pw_enum.lock);
    s = enum_ensure_locked(&pw_enum, errnop);
    if (s == NSS_STATUS_SUCCESS)
        s = pw_next_locked(pw, buf, len, errnop);
    pthread_mutex_unlock(&pw_enum.lock);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

enum nss_status _nss_logto_endpwent(void)
{
    return enum_end(&pw_enum);
}

enum nss_status _nss_logto_setgrent(int stayopen)
{
    (void)stayopen;
    return enum_set(&gr_enum);
}

enum nss_status _nss_logto_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop)
{
    enum nss_status s;

    CALL_BEGIN(errnop);
    pthread_mutex_lock(&gr_enum.lock);
    s = enum_ensure_locked(&gr_enum, errnop);
    if (s == NSS_STATUS_SUCCESS)
        s = gr_next_locked(gr, buf, len, errnop);
    pthread_mutex_unlock(&gr_enum.lock);
    return s == NSS_STATUS_SUCCESS ? CALL_SUCCESS() : s;
}

enum nss_status _nss_logto_endgrent(void)
{
    return enum_end(&gr_enum);
}
