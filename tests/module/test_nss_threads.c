/* SPDX-License-Identifier: MIT */
/*
 * libnss_logto.so.2 under concurrency: 8 threads do point lookups, initgroups and whole
 * enumerations through the dlopen()ed module while a child process replaces the snapshot
 * hundreds of times, alternating between two versions. Every answer must be exactly one of the
 * two versions (no error, no mix of both, nothing torn), and every enumeration must list one
 * version from start to end. One version carries the fingerprint of this host's passwd and
 * group files, as sync writes it (the module's local guard reads nothing), the other none (the
 * guard reads the files and checks every entry): the threads cross between both of its states.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "directory.h"
#include "localset.h"
#include "snapshot.h"
#include "util.h"

#include "../lib/check.h"
#include "../lib/nss_fixture.h"

#define THREADS      8
#define REPLACEMENTS 300
#define N_COMMON     40

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getpwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*setent_fn)(int);
typedef enum nss_status (*endent_fn)(void);
typedef enum nss_status (*getpwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long,
                                         int *);

static getpwnam_fn p_getpwnam;
static getpwuid_fn p_getpwuid;
static getgrnam_fn p_getgrnam;
static getgrgid_fn p_getgrgid;
static setent_fn p_setpwent;
static getpwent_fn p_getpwent;
static endent_fn p_endpwent;
static initgroups_fn p_initgroups;

static struct logto_directory *version[2];
static char *tmp, *snap_path;
static atomic_int stop;
static atomic_long lookups, enumerations, seen[2], failures;
/* Enumeration is process-wide in glibc (one position, behind glibc's own lock); so here. */
static pthread_mutex_t enum_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- the two versions */

static struct logto_directory *make_version(int v)
{
    struct logto_directory *d = logto_directory_new();
    char name[32], sub[32], gecos[64], home[64];
    char *team_a[] = { fx_unconst("u00"), fx_unconst("u01"), NULL };
    char *team_b[] = { fx_unconst("u01"), fx_unconst("u02"), fx_unconst("u03"), NULL };

    for (int i = 0; i < N_COMMON; i++) {
        snprintf(name, sizeof(name), "u%02d", i);
        snprintf(sub, sizeof(sub), "sub-%02d", i);
        snprintf(gecos, sizeof(gecos), "user %d of version %c", i, 'A' + v);
        fx_add_user(d, name, 10000 + (uint32_t)i, 10000 + (uint32_t)i, gecos, sub);
        snprintf(home, sizeof(home), "/home/v%d/%s", v, name);
        free(d->users[i].home);
        d->users[i].home = strdup(home);
    }
    /* One user only in each version. */
    fx_add_user(d, v ? "onlyb" : "onlya", 10100 + (uint32_t)v, 10100 + (uint32_t)v,
                v ? "B only" : "A only", v ? "sub-b" : "sub-a");
    fx_add_group(d, "team", 20000, LOGTO_GROUP_ROLE, "team", v ? team_b : team_a);
    fx_add_group(d, v ? "extra" : "spare", 20001, LOGTO_GROUP_ROLE, "x", v ? team_a : team_b);
    d->generated_at = 1700000000 + v;
    return d;
}

static const struct logto_dir_user *find_name(const struct logto_directory *d, const char *n)
{
    for (size_t i = 0; i < d->n_users; i++)
        if (strcmp(d->users[i].name, n) == 0)
            return &d->users[i];
    return NULL;
}

static const struct logto_dir_user *find_uid(const struct logto_directory *d, uid_t uid)
{
    for (size_t i = 0; i < d->n_users; i++)
        if (d->users[i].uid == uid)
            return &d->users[i];
    return NULL;
}

static const struct logto_dir_group *find_group(const struct logto_directory *d, const char *n,
                                                gid_t gid)
{
    for (size_t i = 0; i < d->n_groups; i++)
        if (n ? strcmp(d->groups[i].name, n) == 0 : d->groups[i].gid == gid)
            return &d->groups[i];
    return NULL;
}

static bool same_user(const struct passwd *pw, const struct logto_dir_user *u)
{
    return u && strcmp(pw->pw_name, u->name) == 0 && pw->pw_uid == u->uid && pw->pw_gid == u->gid &&
           strcmp(pw->pw_gecos, u->gecos) == 0 && strcmp(pw->pw_dir, u->home) == 0 &&
           strcmp(pw->pw_shell, u->shell) == 0;
}

static bool same_group(const struct group *gr, const struct logto_dir_group *g)
{
    size_t i = 0;

    if (!g || strcmp(gr->gr_name, g->name) != 0 || gr->gr_gid != g->gid)
        return false;
    for (; g->members[i]; i++)
        if (!gr->gr_mem[i] || strcmp(gr->gr_mem[i], g->members[i]) != 0)
            return false;
    return gr->gr_mem[i] == NULL;
}

/* Which version an answer belongs to (0 or 1), 2 if both agree, -1 if neither. */
static int which(bool in_a, bool in_b)
{
    return in_a && in_b ? 2 : in_a ? 0 : in_b ? 1 : -1;
}

static void verdict(int w, const char *what, const char *key)
{
    atomic_fetch_add(&lookups, 1);
    if (w < 0) {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "%s %s: an answer from neither version\n", what, key);
    } else if (w < 2) {
        atomic_fetch_add(&seen[w], 1);
    }
}

/* ---------------------------------------------------------------- readers */

static void check_user_by_name(const char *name)
{
    struct passwd pw;
    char buf[1024];
    int e = 0;
    enum nss_status s = p_getpwnam(name, &pw, buf, sizeof(buf), &e);
    const struct logto_dir_user *a = find_name(version[0], name), *b = find_name(version[1], name);

    if (s == NSS_STATUS_SUCCESS)
        verdict(which(same_user(&pw, a), same_user(&pw, b)), "getpwnam", name);
    else if (s == NSS_STATUS_NOTFOUND && e == ENOENT)
        verdict(which(!a, !b), "getpwnam (not found)", name);
    else
        verdict(-1, "getpwnam (error)", name);
}

static void check_user_by_uid(uid_t uid)
{
    struct passwd pw;
    char buf[1024], key[16];
    int e = 0;
    enum nss_status s = p_getpwuid(uid, &pw, buf, sizeof(buf), &e);
    const struct logto_dir_user *a = find_uid(version[0], uid), *b = find_uid(version[1], uid);

    snprintf(key, sizeof(key), "%u", (unsigned)uid);
    if (s == NSS_STATUS_SUCCESS)
        verdict(which(same_user(&pw, a), same_user(&pw, b)), "getpwuid", key);
    else if (s == NSS_STATUS_NOTFOUND && e == ENOENT)
        verdict(which(!a, !b), "getpwuid (not found)", key);
    else
        verdict(-1, "getpwuid (error)", key);
}

static void check_group(const char *name, gid_t gid)
{
    struct group gr;
    char buf[2048];
    int e = 0;
    enum nss_status s = name ? p_getgrnam(name, &gr, buf, sizeof(buf), &e)
                             : p_getgrgid(gid, &gr, buf, sizeof(buf), &e);
    const struct logto_dir_group *a = find_group(version[0], name, gid),
                                 *b = find_group(version[1], name, gid);

    if (s == NSS_STATUS_SUCCESS)
        verdict(which(same_group(&gr, a), same_group(&gr, b)), "getgr", name ? name : "gid");
    else if (s == NSS_STATUS_NOTFOUND && e == ENOENT)
        verdict(which(!a, !b), "getgr (not found)", name ? name : "gid");
    else
        verdict(-1, "getgr (error)", name ? name : "gid");
}

/* The supplementary groups of u in version d, as initgroups_dyn should list them. */
static bool same_gids(const gid_t *got, long n, const struct logto_directory *d, const char *user)
{
    long want = 0;

    if (!find_name(d, user))
        return false;
    for (size_t i = 0; i < d->n_groups; i++) {
        if (!logto_strv_contains(d->groups[i].members, user))
            continue;
        if (want >= n || got[want] != d->groups[i].gid)
            return false;
        want++;
    }
    return want == n;
}

static void check_initgroups(const char *user)
{
    long start = 0, size = 1;
    gid_t *groups = malloc(sizeof(gid_t));
    int e = 0;
    enum nss_status s = p_initgroups(user, 1, &start, &size, &groups, -1, &e);

    if (s == NSS_STATUS_SUCCESS)
        verdict(which(same_gids(groups, start, version[0], user),
                      same_gids(groups, start, version[1], user)),
                "initgroups", user);
    else if (s == NSS_STATUS_NOTFOUND)
        verdict(which(!find_name(version[0], user), !find_name(version[1], user)),
                "initgroups (not found)", user);
    else
        verdict(-1, "initgroups (error)", user);
    free(groups);
}

/* A whole enumeration must be one version, start to end. */
static void check_enumeration(void)
{
    bool match[2] = { true, true };
    size_t n = 0;
    struct passwd pw;
    char buf[1024];
    int e = 0;

    pthread_mutex_lock(&enum_lock);
    if (p_setpwent(0) != NSS_STATUS_SUCCESS)
        match[0] = match[1] = false;
    while (match[0] + match[1] && p_getpwent(&pw, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS) {
        for (int v = 0; v < 2; v++)
            if (n >= version[v]->n_users || !same_user(&pw, find_uid(version[v], pw.pw_uid)) ||
                version[v]->users[n].uid != pw.pw_uid)
                match[v] = false;
        n++;
    }
    p_endpwent();
    pthread_mutex_unlock(&enum_lock);
    for (int v = 0; v < 2; v++)
        if (n != version[v]->n_users)
            match[v] = false;
    atomic_fetch_add(&enumerations, 1);
    verdict(which(match[0], match[1]), "enumeration", "passwd");
}

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
    char name[32];

    while (!atomic_load(&stop)) {
        for (int k = 0; k < 50; k++) {
            int i = (int)(rand_r(&seed) % (N_COMMON + 3));
            const char *n = i < N_COMMON        ? (snprintf(name, sizeof(name), "u%02d", i), name)
                            : i == N_COMMON     ? "onlya"
                            : i == N_COMMON + 1 ? "onlyb"
                                                : "nobody9";
            check_user_by_name(n);
            check_user_by_uid(10000 + (uid_t)(rand_r(&seed) % 120));
            check_group((rand_r(&seed) & 1) ? "team" : ((rand_r(&seed) & 1) ? "extra" : "spare"),
                        0);
            check_group(NULL, 20000 + (gid_t)(rand_r(&seed) % 2));
            check_initgroups(n);
        }
        check_enumeration();
    }
    return NULL;
}

/* ---------------------------------------------------------------- the writer */

static int writer(int go_fd)
{
    struct logto_error err = { 0 };
    char c;

    if (read(go_fd, &c, 1) != 1)
        return 2;
    for (int i = 0; i < REPLACEMENTS; i++) {
        if (logto_snapshot_write(snap_path, version[(i + 1) % 2], &err) < 0) {
            fprintf(stderr, "writer: %s\n", err.message);
            return 1;
        }
    }
    return 0;
}

static void *load(void *module, const char *name)
{
    void *p = dlsym(module, name);
    if (!p) {
        fprintf(stderr, "missing %s\n", name);
        exit(1);
    }
    return p;
}

static void test_concurrent_replacement(void)
{
    const char *so = getenv("LOGTO_NSS_MODULE");
    struct logto_error err = { 0 };
    pthread_t th[THREADS];
    int go[2], status = 0;
    void *module;
    pid_t child;

    if (!so || !*so)
        SKIP("LOGTO_NSS_MODULE is not set (run through make check)");
    version[0] = make_version(0);
    version[1] = make_version(1);
    CHECK_INT(logto_directory_validate(version[0], &err), 0);
    CHECK_INT(logto_directory_validate(version[1], &err), 0);
    version[1]->local_files = logto_local_fingerprint_at(NULL, NULL);
    CHECK(version[1]->local_files != 0);
    tmp = fx_tmpdir("threads");
    snap_path = fx_path(tmp, LOGTO_SNAPSHOT_NAME);
    CHECK_INT(logto_snapshot_write(snap_path, version[0], &err), 0);

    /* The writer is forked before any thread exists. */
    CHECK_INT(pipe(go), 0);
    child = fork();
    if (child == 0) {
        close(go[1]);
        _exit(writer(go[0]));
    }
    close(go[0]);

    setenv("LOGTO_NSS_SNAPSHOT", snap_path, 1);
    module = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(1);
    }
    *(void **)&p_getpwnam = load(module, "_nss_logto_getpwnam_r");
    *(void **)&p_getpwuid = load(module, "_nss_logto_getpwuid_r");
    *(void **)&p_getgrnam = load(module, "_nss_logto_getgrnam_r");
    *(void **)&p_getgrgid = load(module, "_nss_logto_getgrgid_r");
    *(void **)&p_setpwent = load(module, "_nss_logto_setpwent");
    *(void **)&p_getpwent = load(module, "_nss_logto_getpwent_r");
    *(void **)&p_endpwent = load(module, "_nss_logto_endpwent");
    *(void **)&p_initgroups = load(module, "_nss_logto_initgroups_dyn");

    for (int i = 0; i < THREADS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i), 0);
    CHECK_INT(write(go[1], "g", 1), 1);
    close(go[1]);
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    printf("%ld lookups (%ld version A, %ld version B), %ld enumerations, %ld failures, "
           "%d replacements\n",
           atomic_load(&lookups), atomic_load(&seen[0]), atomic_load(&seen[1]),
           atomic_load(&enumerations), atomic_load(&failures), REPLACEMENTS);
    CHECK_INT(atomic_load(&failures), 0);
    CHECK(atomic_load(&lookups) > 0);
    CHECK(atomic_load(&enumerations) >= THREADS);
    /* Replacement really happened under the readers: both versions were served. */
    CHECK(atomic_load(&seen[0]) > 0);
    CHECK(atomic_load(&seen[1]) > 0);

    dlclose(module);
    logto_directory_free(version[0]);
    logto_directory_free(version[1]);
    fx_rmtree(tmp);
    free(tmp);
    free(snap_path);
}

TEST_MAIN(TEST(test_concurrent_replacement))
