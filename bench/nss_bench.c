/* SPDX-License-Identifier: MIT */
/*
 * The driver of bench/nss-bench.sh (not a test): builds the same directory for nss_files,
 * nss_db and nss_logto, and times lookups through glibc, whichever backend nsswitch.conf names.
 *
 *   nss_bench path             print the snapshot path the module was built with
 *   nss_bench gen N DIR        write DIR/passwd, DIR/group and DIR/directory.snapshot
 *   nss_bench stamp SNAPSHOT   check a snapshot against this mount namespace's /etc/passwd and
 *                              /etc/group and record their fingerprint, as sync does (the
 *                              module's local guard then reads neither while they are unchanged)
 *   nss_bench run LABEL N      time getpwnam_r, getpwuid_r, getgrnam_r, getgrgid_r,
 *                              getgrouplist and a whole getpwent loop through glibc
 *   nss_bench spawn LABEL N PROGRAM ARGS...   time whole processes (e.g. `id USER`)
 *   nss_bench direct N MODULE SNAPSHOT         the same lookups calling the module's entry
 *                              points directly (dlopen), without glibc's NSS dispatch, which
 *                              costs a stat() of /etc/nsswitch.conf on every call; and opening
 *                              the snapshot ("open")
 *   nss_bench point LABEL N    only getpwnam_r and getpwuid_r through glibc, 1 s each (the
 *                              rounds that compare sizes back to back)
 *   nss_bench direct-point N MODULE SNAPSHOT   the same, calling the module directly
 *   nss_bench enum LABEL N     only the getpwent loop through glibc, 1 s (the rounds against
 *                              nss_files)
 *   nss_bench fresh DIR ROUNDS N...   whole processes: `getent passwd USER` and `id USER` with
 *                              nss_files, nss_db, nss_logto and files+logto, every size, in a
 *                              shuffled order in each round (root, in the benchmark's mount
 *                              namespace: DIR/N/ holds each size's files, which are bind-mounted
 *                              over /etc/passwd, /etc/group and /var/lib/misc/{passwd,group}.db
 *                              for the one process that uses them; the snapshot is named by
 *                              LOGTO_NSS_SNAPSHOT; DIR/host-passwd and DIR/host-group are this
 *                              host's own files, for files+logto)
 *
 * Output lines: "LABEL N OPERATION median_ns p99_ns samples"; fresh also prints one line per
 * process, "fresh-round ROUND BACKEND N PROGRAM ns". Every timing is one call (or one
 * process, one enumeration) between two CLOCK_MONOTONIC reads; the cost of the clock read itself
 * is printed as the "clock" operation so it can be judged.
 *
 * The directory of size N: users user000000.. (UID = GID = 100000 + i, a private group each),
 * 50 role groups (each user in two of them) and 50 organization groups (each user in one).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "directory.h"
#include "snapshot.h"
#include "util.h"

#define BASE_ID     100000u
#define ROLE_GID    300000u
#define ORG_GID     310000u
#define N_ROLES     50
#define N_ORGS      50
#define BUDGET_NS   INT64_C(3000000000) /* per operation */
#define POINT_NS    INT64_C(1000000000) /* per operation in the point rounds */
#define MAX_SAMPLES 200000

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- the directory */

static void user_name(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "user%06u", i);
}

static unsigned role_a(unsigned i)
{
    return i % N_ROLES;
}

static unsigned role_b(unsigned i)
{
    return (i * 7 + 3) % N_ROLES;
}

static unsigned org_of(unsigned i)
{
    return (i / 3) % N_ORGS;
}

static int gen(unsigned n, const char *dir)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    _cleanup_free_ char *pw_path = logto_asprintf("%s/passwd", dir);
    _cleanup_free_ char *gr_path = logto_asprintf("%s/group", dir);
    _cleanup_free_ char *snap = logto_asprintf("%s/%s", dir, LOGTO_SNAPSHOT_NAME);
    char ***role_members = calloc(N_ROLES, sizeof(char **));
    char ***org_members = calloc(N_ORGS, sizeof(char **));
    struct logto_error err = { 0 };
    FILE *pw, *gr;

    if (!d || !pw_path || !gr_path || !snap || !role_members || !org_members)
        return 1;
    pw = fopen(pw_path, "we");
    gr = fopen(gr_path, "we");
    if (!pw || !gr)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        char name[32], gecos[48], home[64];
        char *none[] = { NULL };
        user_name(name, sizeof(name), i);
        snprintf(gecos, sizeof(gecos), "Bench User %u", i);
        snprintf(home, sizeof(home), "/home/%s", name);
        struct logto_dir_user u = {
            .name = name,
            .uid = BASE_ID + i,
            .gid = BASE_ID + i,
            .gecos = gecos,
            .home = home,
            .shell = (char[]){ "/bin/bash" },
            .sub = name,
        };
        struct logto_dir_group g = {
            .name = name,
            .gid = BASE_ID + i,
            .kind = LOGTO_GROUP_PRIVATE,
            .source = name,
            .members = none,
        };
        if (logto_directory_add_user(d, &u) < 0 || logto_directory_add_group(d, &g) < 0)
            return 1;
        fprintf(pw, "%s:x:%u:%u:%s:%s:/bin/bash\n", name, u.uid, u.gid, gecos, home);
        fprintf(gr, "%s:x:%u:\n", name, u.gid);
        if (logto_strv_push(&role_members[role_a(i)], name) < 0 ||
            (role_b(i) != role_a(i) && logto_strv_push(&role_members[role_b(i)], name) < 0) ||
            logto_strv_push(&org_members[org_of(i)], name) < 0)
            return 1;
    }
    for (unsigned k = 0; k < N_ROLES + N_ORGS; k++) {
        bool role = k < N_ROLES;
        char name[32];
        char **members = role ? role_members[k] : org_members[k - N_ROLES];
        snprintf(name, sizeof(name), role ? "role%02u" : "org%02u", role ? k : k - N_ROLES);
        logto_strv_sort(members);
        struct logto_dir_group g = {
            .name = name,
            .gid = role ? ROLE_GID + k : ORG_GID + k - N_ROLES,
            .kind = role ? LOGTO_GROUP_ROLE : LOGTO_GROUP_ORG,
            .source = name,
            .members = members,
        };
        _cleanup_free_ char *list = logto_strv_join(members, ",");
        if (!list || logto_directory_add_group(d, &g) < 0)
            return 1;
        fprintf(gr, "%s:x:%u:%s\n", name, g.gid, list);
        logto_strv_free(members);
    }
    free(role_members);
    free(org_members);
    if (fclose(pw) != 0 || fclose(gr) != 0)
        return 1;
    d->generated_at = 1700000000;
    if (logto_snapshot_write(snap, d, &err) < 0) {
        fprintf(stderr, "nss_bench: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* What a sync on this host would write: the snapshot checked against the local files, with
 * their fingerprint (0 when they changed less than 2 s ago). Nothing may be dropped: the
 * generated users must not collide with the host's accounts. */
static int stamp(const char *snap)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = NULL;
    struct logto_error err = { 0 };
    int r;

    if (logto_snapshot_read(snap, &d, &err) < 0) {
        fprintf(stderr, "nss_bench: %s\n", err.message);
        return 1;
    }
    r = logto_directory_drop_local(d, NULL, NULL, NULL);
    if (r != 0) {
        fprintf(stderr, "nss_bench: %s: %s\n", snap,
                r < 0 ? "cannot read the local files" : "entries collide with local accounts");
        return 1;
    }
    if (logto_snapshot_write(snap, d, &err) < 0) {
        fprintf(stderr, "nss_bench: %s\n", err.message);
        return 1;
    }
    if (!d->local_files)
        fprintf(stderr,
                "nss_bench: %s: the local files changed less than 2 s ago, no fingerprint\n", snap);
    return 0;
}

/* ---------------------------------------------------------------- timing */

struct samples {
    int64_t *v;
    size_t n;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *label, unsigned n, const char *op, struct samples *s)
{
    if (s->n == 0) {
        printf("%s %u %s - - 0\n", label, n, op);
        return;
    }
    qsort(s->v, s->n, sizeof(int64_t), cmp_i64);
    printf("%s %u %s %lld %lld %zu\n", label, n, op, (long long)s->v[s->n / 2],
           (long long)s->v[(s->n * 99) / 100], s->n);
    fflush(stdout);
}

/* A fixed sequence of pseudo-random indexes, the same for every backend. */
static unsigned next_index(uint64_t *state, unsigned n)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (unsigned)(*state % n);
}

typedef int (*op_fn)(unsigned i, unsigned n, char *buf, size_t len);

static int op_clock(unsigned i, unsigned n, char *buf, size_t len)
{
    (void)i, (void)n, (void)buf, (void)len;
    return 0;
}

static int last_error;

static int op_getpwnam(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char name[32];
    (void)n;
    user_name(name, sizeof(name), i);
    last_error = getpwnam_r(name, &pw, buf, len, &res);
    return last_error == 0 && res ? 0 : -1;
}

static int op_getpwuid(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    (void)n;
    return getpwuid_r(BASE_ID + i, &pw, buf, len, &res) == 0 && res ? 0 : -1;
}

static int op_getgrnam(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr, *res = NULL;
    char name[32];
    (void)n;
    user_name(name, sizeof(name), i);
    return getgrnam_r(name, &gr, buf, len, &res) == 0 && res ? 0 : -1;
}

static int op_getgrgid(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr, *res = NULL;
    (void)n;
    return getgrgid_r(BASE_ID + i, &gr, buf, len, &res) == 0 && res ? 0 : -1;
}

static int op_getgrnam_role(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr, *res = NULL;
    char name[32];
    (void)n;
    snprintf(name, sizeof(name), "role%02u", i % N_ROLES);
    return getgrnam_r(name, &gr, buf, len, &res) == 0 && res ? 0 : -1;
}

static int op_getgrouplist(unsigned i, unsigned n, char *buf, size_t len)
{
    gid_t groups[64];
    int ngroups = 64;
    char name[32];
    (void)n, (void)buf, (void)len;
    user_name(name, sizeof(name), i);
    /* private group + two roles (or one) + one organization */
    int want = role_a(i) == role_b(i) ? 3 : 4;
    return getgrouplist(name, BASE_ID + i, groups, &ngroups) == want ? 0 : -1;
}

static int op_enumerate(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw, *res;
    unsigned count = 0;
    (void)i;
    setpwent();
    while (getpwent_r(&pw, buf, len, &res) == 0 && res)
        count++;
    endpwent();
    return count >= n ? 0 : -1;
}

static int64_t budget_ns = BUDGET_NS, point_ns = POINT_NS;

/* The one system call glibc 2.33+ makes on every lookup, whatever the backend: it checks
 * whether /etc/nsswitch.conf changed. Its cost is a floor under every row through glibc. */
static int op_nsswitch_stat(unsigned i, unsigned n, char *buf, size_t len)
{
    struct stat st;
    (void)i, (void)n, (void)buf, (void)len;
    return stat("/etc/nsswitch.conf", &st);
}

static int measure(const char *label, unsigned n, const char *name, op_fn fn, size_t max_samples)
{
    static char buf[1 << 20];
    struct samples s = { calloc(max_samples, sizeof(int64_t)), 0 };
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
    int64_t start = now_ns();
    int failures = 0;

    if (!s.v)
        return -1;
    /* Warm-up: the first call maps, opens or parses; it is not a steady-state lookup. */
    (void)fn(0, n, buf, sizeof(buf));
    while (s.n < max_samples && (s.n < 11 || now_ns() - start < budget_ns)) {
        unsigned i = next_index(&rng, n);
        int64_t t0 = now_ns();
        int r = fn(i, n, buf, sizeof(buf));
        int64_t t1 = now_ns();
        if (r < 0)
            failures++;
        s.v[s.n++] = t1 - t0;
    }
    report(label, n, name, &s);
    free(s.v);
    if (failures)
        fprintf(stderr, "nss_bench: %s %s: %d lookups failed (last error: %s)\n", label, name,
                failures, last_error ? strerror(last_error) : "not found");
    return failures ? -1 : 0;
}

/* ---------------------------------------------------------------- the module, directly */

static enum nss_status (*d_getpwnam)(const char *, struct passwd *, char *, size_t, int *);
static enum nss_status (*d_getpwuid)(uid_t, struct passwd *, char *, size_t, int *);
static enum nss_status (*d_getgrnam)(const char *, struct group *, char *, size_t, int *);
static enum nss_status (*d_getgrgid)(gid_t, struct group *, char *, size_t, int *);
static enum nss_status (*d_setpwent)(int);
static enum nss_status (*d_getpwent)(struct passwd *, char *, size_t, int *);
static enum nss_status (*d_endpwent)(void);
static enum nss_status (*d_initgroups)(const char *, gid_t, long *, long *, gid_t **, long, int *);

static int dop_getpwnam(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw;
    char name[32];
    int e;
    (void)n;
    user_name(name, sizeof(name), i);
    return d_getpwnam(name, &pw, buf, len, &e) == NSS_STATUS_SUCCESS ? 0 : -1;
}

static int dop_getpwuid(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw;
    int e;
    (void)n;
    return d_getpwuid(BASE_ID + i, &pw, buf, len, &e) == NSS_STATUS_SUCCESS ? 0 : -1;
}

static int dop_getgrnam(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr;
    char name[32];
    int e;
    (void)n;
    user_name(name, sizeof(name), i);
    return d_getgrnam(name, &gr, buf, len, &e) == NSS_STATUS_SUCCESS ? 0 : -1;
}

static int dop_getgrgid(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr;
    int e;
    (void)n;
    return d_getgrgid(BASE_ID + i, &gr, buf, len, &e) == NSS_STATUS_SUCCESS ? 0 : -1;
}

static int dop_getgrnam_role(unsigned i, unsigned n, char *buf, size_t len)
{
    struct group gr;
    char name[32];
    int e;
    (void)n;
    snprintf(name, sizeof(name), "role%02u", i % N_ROLES);
    return d_getgrnam(name, &gr, buf, len, &e) == NSS_STATUS_SUCCESS ? 0 : -1;
}

static int dop_initgroups(unsigned i, unsigned n, char *buf, size_t len)
{
    static gid_t *groups;
    long start = 1, size = 8;
    char name[32];
    int e;
    (void)n, (void)buf, (void)len;
    if (!groups && !(groups = malloc(8 * sizeof(gid_t))))
        return -1;
    user_name(name, sizeof(name), i);
    groups[0] = BASE_ID + i;
    return d_initgroups(name, BASE_ID + i, &start, &size, &groups, -1, &e) == NSS_STATUS_SUCCESS &&
                   start == (role_a(i) == role_b(i) ? 3 : 4)
               ? 0
               : -1;
}

static int dop_enumerate(unsigned i, unsigned n, char *buf, size_t len)
{
    struct passwd pw;
    unsigned count = 0;
    int e;
    (void)i;
    d_setpwent(0);
    while (d_getpwent(&pw, buf, len, &e) == NSS_STATUS_SUCCESS)
        count++;
    d_endpwent();
    return count >= n ? 0 : -1;
}

/* Opening a snapshot (open, fstat, mmap, the O(1) checks and the region table): what the
 * first lookup of every process pays before its own reads. */
static const char *open_path;
static int op_open(unsigned i, unsigned n, char *buf, size_t len)
{
    struct logto_snapshot *snap = NULL;
    (void)i, (void)n, (void)buf, (void)len;
    if (logto_snapshot_open(open_path, &snap, NULL) < 0)
        return -1;
    logto_snapshot_unref(snap);
    return 0;
}

#define DSYM(var, name)                                                                            \
    do {                                                                                           \
        *(void **)&var = dlsym(module, "_nss_logto_" name);                                        \
        if (!var)                                                                                  \
            return 1;                                                                              \
    } while (0)

static int direct(unsigned n, const char *so, const char *snapshot, bool point_only)
{
    void *module;
    int r = 0;

    setenv("LOGTO_NSS_SNAPSHOT", snapshot, 1);
    module = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "nss_bench: %s\n", dlerror());
        return 1;
    }
    DSYM(d_getpwnam, "getpwnam_r");
    DSYM(d_getpwuid, "getpwuid_r");
    DSYM(d_getgrnam, "getgrnam_r");
    DSYM(d_getgrgid, "getgrgid_r");
    DSYM(d_setpwent, "setpwent");
    DSYM(d_getpwent, "getpwent_r");
    DSYM(d_endpwent, "endpwent");
    DSYM(d_initgroups, "initgroups_dyn");
    r |= measure("logto-direct", n, "clock", op_clock, 10000);
    r |= measure("logto-direct", n, "getpwnam_r", dop_getpwnam, MAX_SAMPLES);
    r |= measure("logto-direct", n, "getpwuid_r", dop_getpwuid, MAX_SAMPLES);
    if (point_only)
        return r ? 1 : 0;
    r |= measure("logto-direct", n, "getgrnam_r", dop_getgrnam, MAX_SAMPLES);
    r |= measure("logto-direct", n, "getgrgid_r", dop_getgrgid, MAX_SAMPLES);
    r |= measure("logto-direct", n, "getgrnam_r-role", dop_getgrnam_role, MAX_SAMPLES);
    r |= measure("logto-direct", n, "getgrouplist", dop_initgroups, MAX_SAMPLES);
    r |= measure("logto-direct", n, "enumerate", dop_enumerate, 50);
    open_path = snapshot;
    r |= measure("logto-direct", n, "open", op_open, 200);
    return r ? 1 : 0;
}

static int run(const char *label, unsigned n, bool point_only)
{
    int r = 0;

    r |= measure(label, n, "clock", op_clock, 10000);
    r |= measure(label, n, "nsswitch-stat", op_nsswitch_stat, 10000);
    r |= measure(label, n, "getpwnam_r", op_getpwnam, MAX_SAMPLES);
    r |= measure(label, n, "getpwuid_r", op_getpwuid, MAX_SAMPLES);
    if (point_only)
        return r ? 1 : 0;
    r |= measure(label, n, "getgrnam_r", op_getgrnam, MAX_SAMPLES);
    r |= measure(label, n, "getgrgid_r", op_getgrgid, MAX_SAMPLES);
    r |= measure(label, n, "getgrnam_r-role", op_getgrnam_role, MAX_SAMPLES);
    r |= measure(label, n, "getgrouplist", op_getgrouplist, MAX_SAMPLES);
    r |= measure(label, n, "enumerate", op_enumerate, 50);
    return r ? 1 : 0;
}

static int spawn(const char *label, unsigned n, char **argv)
{
    struct samples s = { calloc(1000, sizeof(int64_t)), 0 };
    posix_spawn_file_actions_t fa;
    int64_t start = now_ns();

    if (!s.v || posix_spawn_file_actions_init(&fa) != 0 ||
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0) != 0)
        return 1;
    while (s.n < 1000 && (s.n < 11 || now_ns() - start < budget_ns)) {
        pid_t pid;
        int status;
        int64_t t0 = now_ns();
        if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0 ||
            waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "nss_bench: %s failed\n", argv[0]);
            return 1;
        }
        s.v[s.n++] = now_ns() - t0;
    }
    posix_spawn_file_actions_destroy(&fa);
    report(label, n, "process", &s);
    free(s.v);
    return 0;
}

/* ---------------------------------------------------------------- fresh processes */

static const char *const fresh_backends[] = { "files", "db", "logto", "files+logto" };
static const char *const fresh_programs[] = { "getent", "id" };
#define N_FRESH_BACKENDS 4
#define N_FRESH_PROGRAMS 2
#define MAX_FRESH_SIZES  8

static int write_nsswitch(const char *backend)
{
    char text[64];
    int fd, len, r = -1;

    if (strcmp(backend, "files+logto") == 0)
        backend = "files logto";
    len = snprintf(text, sizeof(text), "passwd: %s\ngroup: %s\n", backend, backend);
    fd = open("/etc/nsswitch.conf", O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd >= 0 && write(fd, text, (size_t)len) == len)
        r = 0;
    if (fd >= 0)
        close(fd);
    return r;
}

/* Bind each of DIR/SUB/FILE over TARGET, or undo that (binds stack; umount pops one). */
static const struct {
    const char *file, *target;
} fresh_binds[] = {
    { "passwd", "/etc/passwd" },
    { "group", "/etc/group" },
    { "passwd.db", "/var/lib/misc/passwd.db" },
    { "group.db", "/var/lib/misc/group.db" },
};

/* nss_files reads the generated users from /etc/passwd; with nss_logto they are Logto users, so
 * the files are this host's own: DIR/host-passwd and DIR/host-group, the very files the
 * snapshots were stamped with (the module's guard stats them and, while they are unchanged,
 * reads neither). */
static int fresh_bind(const char *dir, const char *backend, unsigned n, bool undo)
{
    bool host = strcmp(backend, "files+logto") == 0 || strcmp(backend, "logto") == 0;
    char src[4096];

    for (size_t i = 0; i < sizeof(fresh_binds) / sizeof(fresh_binds[0]); i++) {
        if (undo) {
            if (umount2(fresh_binds[i].target, 0) < 0)
                return -1;
            continue;
        }
        if (host && i < 2)
            snprintf(src, sizeof(src), "%s/host-%s", dir, fresh_binds[i].file);
        else
            snprintf(src, sizeof(src), "%s/%u/%s", dir, n, fresh_binds[i].file);
        if (mount(src, fresh_binds[i].target, NULL, MS_BIND, NULL) < 0)
            return -1;
    }
    return 0;
}

/* One whole process: posix_spawn to waitpid, output to /dev/null. */
static int64_t fresh_one(const char *prog, const char *user, char **env,
                         const posix_spawn_file_actions_t *fa)
{
    char *argv[] = { (char *)(uintptr_t)prog, (char *)(uintptr_t)(prog[0] == 'g' ? "passwd" : user),
                     (char *)(uintptr_t)user, NULL };
    pid_t pid;
    int status;
    int64_t t0 = now_ns();

    if (prog[0] == 'i') /* id USER */
        argv[2] = NULL;
    if (posix_spawnp(&pid, prog, fa, NULL, argv, env) != 0 || waitpid(pid, &status, 0) != pid ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return now_ns() - t0;
}

static int fresh(const char *dir, unsigned rounds, const unsigned *sizes, int n_sizes)
{
    enum { PER_SIZE = N_FRESH_BACKENDS * N_FRESH_PROGRAMS };
    struct samples all[MAX_FRESH_SIZES * PER_SIZE];
    int order[MAX_FRESH_SIZES * PER_SIZE], n_cases = n_sizes * PER_SIZE, failures = 0;
    posix_spawn_file_actions_t fa;
    uint64_t rng = UINT64_C(0x2545f4914f6cdd1d);
    size_t n_env = 0;
    char **env;

    while (environ[n_env])
        n_env++;
    env = calloc(n_env + 2, sizeof(char *));
    if (!env || posix_spawn_file_actions_init(&fa) != 0 ||
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0) != 0)
        return 1;
    for (size_t i = 0; i < n_env; i++)
        env[i + 1] = environ[i];
    for (int c = 0; c < n_cases; c++) {
        all[c].v = calloc(rounds ? rounds : 1, sizeof(int64_t));
        all[c].n = 0;
        if (!all[c].v)
            return 1;
        order[c] = c;
    }
    for (unsigned r = 1; r <= rounds; r++) {
        /* A new order every round (Fisher-Yates), the same for every run of the benchmark. */
        for (int c = n_cases - 1; c > 0; c--) {
            int k = (int)next_index(&rng, (unsigned)c + 1), t = order[c];
            order[c] = order[k];
            order[k] = t;
        }
        for (int i = 0; i < n_cases; i++) {
            int c = order[i];
            unsigned n = sizes[c / PER_SIZE];
            const char *backend = fresh_backends[(c % PER_SIZE) / N_FRESH_PROGRAMS];
            const char *prog = fresh_programs[c % N_FRESH_PROGRAMS];
            char user[32], snap[4200];
            int64_t ns;

            user_name(user, sizeof(user), n / 2);
            snprintf(snap, sizeof(snap), "LOGTO_NSS_SNAPSHOT=%s/%u/%s", dir, n,
                     LOGTO_SNAPSHOT_NAME);
            env[0] = snap;
            if (write_nsswitch(backend) < 0 || fresh_bind(dir, backend, n, false) < 0) {
                fprintf(stderr, "nss_bench: cannot set up %s at %u: %s\n", backend, n,
                        strerror(errno));
                return 1;
            }
            ns = fresh_one(prog, user, env, &fa);
            if (fresh_bind(dir, backend, n, true) < 0)
                return 1;
            if (ns < 0) {
                fprintf(stderr, "nss_bench: %s %s with %s at %u failed\n", prog, user, backend, n);
                failures++;
                continue;
            }
            all[c].v[all[c].n++] = ns;
            printf("fresh-round %u %s %u %s %lld\n", r, backend, n, prog, (long long)ns);
        }
    }
    for (int c = 0; c < n_cases; c++) {
        char op[32];
        snprintf(op, sizeof(op), "fresh-%s", fresh_programs[c % N_FRESH_PROGRAMS]);
        report(fresh_backends[(c % PER_SIZE) / N_FRESH_PROGRAMS], sizes[c / PER_SIZE], op, &all[c]);
        free(all[c].v);
    }
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *budget = getenv("NSS_BENCH_BUDGET_MS");
    uint64_t n, ms;

    /* A shorter budget per operation (tests/integration/bench_smoke.sh runs the scripts). */
    if (budget && logto_parse_u64(budget, 1, 60000, &ms) == 0)
        budget_ns = point_ns = (int64_t)ms * 1000000;

    if (argc == 2 && strcmp(argv[1], "path") == 0) {
        printf("%s/%s\n", LOGTO_STATE_DIR, LOGTO_SNAPSHOT_NAME); /* where the module looks */
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "gen") == 0 && logto_parse_u64(argv[2], 1, 400000, &n) == 0)
        return gen((unsigned)n, argv[3]);
    if (argc == 3 && strcmp(argv[1], "stamp") == 0)
        return stamp(argv[2]);
    if (argc == 4 && strcmp(argv[1], "run") == 0 && logto_parse_u64(argv[3], 1, 400000, &n) == 0)
        return run(argv[2], (unsigned)n, false);
    if (argc == 5 && strcmp(argv[1], "direct") == 0 && logto_parse_u64(argv[2], 1, 400000, &n) == 0)
        return direct((unsigned)n, argv[3], argv[4], false);
    budget_ns = point_ns;
    if (argc == 4 && strcmp(argv[1], "point") == 0 && logto_parse_u64(argv[3], 1, 400000, &n) == 0)
        return run(argv[2], (unsigned)n, true);
    if (argc == 4 && strcmp(argv[1], "enum") == 0 && logto_parse_u64(argv[3], 1, 400000, &n) == 0)
        return measure(argv[2], (unsigned)n, "enumerate", op_enumerate, 50) < 0 ? 1 : 0;
    if (argc == 5 && strcmp(argv[1], "direct-point") == 0 &&
        logto_parse_u64(argv[2], 1, 400000, &n) == 0)
        return direct((unsigned)n, argv[3], argv[4], true);
    if (argc >= 5 && strcmp(argv[1], "spawn") == 0 && logto_parse_u64(argv[3], 1, 400000, &n) == 0)
        return spawn(argv[2], (unsigned)n, argv + 4);
    if (argc >= 5 && argc - 4 <= MAX_FRESH_SIZES && strcmp(argv[1], "fresh") == 0 &&
        logto_parse_u64(argv[3], 1, 10000, &n) == 0) {
        unsigned sizes[MAX_FRESH_SIZES];
        for (int i = 4; i < argc; i++) {
            uint64_t v;
            if (logto_parse_u64(argv[i], 1, 400000, &v) < 0)
                return 2;
            sizes[i - 4] = (unsigned)v;
        }
        return fresh(argv[2], (unsigned)n, sizes, argc - 4);
    }
    fprintf(stderr,
            "usage: nss_bench path | gen N DIR | stamp SNAPSHOT | run LABEL N |\n"
            "       spawn LABEL N PROGRAM... |\n"
            "       direct N MODULE SNAPSHOT | point LABEL N | direct-point N MODULE SNAPSHOT |\n"
            "       enum LABEL N | fresh DIR ROUNDS N...\n");
    return 2;
}
