/* SPDX-License-Identifier: MIT */
/*
 * libnss_logto.so.2 as glibc loads it: dlopen the built module ($LOGTO_NSS_MODULE), point it at
 * a fixture through LOGTO_NSS_SNAPSHOT, and call the _nss_logto_* entry points directly. Covers
 * every entry point, an ERANGE sweep over every buffer size (and misaligned buffers), errno,
 * enumeration, initgroups_dyn growth and limits, unavailable and refused snapshots (with the
 * syslog line counted), and the recursion guard.
 *
 * The program defines syslog() and is linked -rdynamic, so the module's syslog() calls land
 * here: that is how the log lines are counted and how the guard is made to see re-entry.
 * The cases run in order and share the module's process-wide state.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "directory.h"
#include "snapshot.h"

#include "../lib/check.h"
#include "../lib/nss_fixture.h"

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getpwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*setent_fn)(int);
typedef enum nss_status (*endent_fn)(void);
typedef enum nss_status (*getpwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long,
                                         int *);

static struct {
    getpwnam_fn getpwnam_r;
    getpwuid_fn getpwuid_r;
    setent_fn setpwent;
    getpwent_fn getpwent_r;
    endent_fn endpwent;
    getgrnam_fn getgrnam_r;
    getgrgid_fn getgrgid_r;
    setent_fn setgrent;
    getgrent_fn getgrent_r;
    endent_fn endgrent;
    initgroups_fn initgroups_dyn;
} nss;

static void *module;
static char *tmp, *snap_path;

/* ---------------------------------------------------------------- syslog, seen from here */

static int syslog_lines, syslog_last_priority, reentry_status = -100, reentry_errno;
static char syslog_last[1024];
static volatile int reenter;

static void record_syslog(int priority, const char *fmt, va_list ap)
{
    vsnprintf(syslog_last, sizeof(syslog_last), fmt, ap);
    syslog_lines++;
    syslog_last_priority = priority;
    if (reenter) {
        /* Inside the module, on the module's own call stack. */
        struct passwd pw;
        char buf[512];
        reenter = 0;
        reentry_status = nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &reentry_errno);
    }
}

/* With _FORTIFY_SOURCE the module calls __syslog_chk; without, syslog. */
#if defined(__USE_FORTIFY_LEVEL) && __USE_FORTIFY_LEVEL > 0
/* Declared by <bits/syslog.h>; exported so the module binds to it. */
_public_ void __syslog_chk(int priority, int flag, const char *fmt, ...)
{
    va_list ap;
    (void)flag;
    va_start(ap, fmt);
    record_syslog(priority, fmt, ap);
    va_end(ap);
}
#else
_public_ void syslog(int priority, const char *fmt, ...);
void syslog(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record_syslog(priority, fmt, ap);
    va_end(ap);
}
#endif

/* ---------------------------------------------------------------- fixture */

static struct logto_directory *fixture(const char *alice_gecos)
{
    struct logto_directory *d = fx_sample();
    char name[32], sub[32];
    char *crowd[302];
    char *dan[] = { fx_unconst("dan"), NULL };

    if (!d)
        return NULL;
    free(d->users[0].gecos);
    d->users[0].gecos = strdup(alice_gecos);
    /* dan: many supplementary groups (initgroups growth). */
    fx_add_user(d, "dan", 10010, 10010, "Dan", "sub-dan");
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "g%02d", i);
        fx_add_group(d, name, 30000 + (uint32_t)i, LOGTO_GROUP_ROLE, name, dan);
    }
    /* crowd: a large group (a large gr_mem). */
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "u%03d", i);
        snprintf(sub, sizeof(sub), "sub-u%03d", i);
        fx_add_user(d, name, 40000 + (uint32_t)i, 40000 + (uint32_t)i, "", sub);
        crowd[i + 1] = strdup(name);
    }
    crowd[0] = strdup("alice");
    crowd[301] = NULL;
    fx_add_group(d, "crowd", 20100, LOGTO_GROUP_ORG, "org_crowd", crowd);
    for (int i = 0; i < 301; i++)
        free(crowd[i]);
    return d;
}

static void write_fixture_enumerate(const char *alice_gecos, bool enumerate)
{
    struct logto_directory *d = fixture(alice_gecos);
    struct logto_error err = { 0 };

    if (d)
        logto_directory_set_enumerate(d, enumerate);
    if (!d || logto_snapshot_write(snap_path, d, &err) < 0) {
        fprintf(stderr, "fixture: %s\n", err.message);
        exit(99);
    }
    logto_directory_free(d);
}

static void write_fixture(const char *alice_gecos)
{
    write_fixture_enumerate(alice_gecos, true);
}

#define SYM(name)                                                                                  \
    do {                                                                                           \
        *(void **)&nss.name = dlsym(module, "_nss_logto_" #name);                                  \
        if (!nss.name) {                                                                           \
            fprintf(stderr, "missing symbol _nss_logto_" #name "\n");                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void on_alarm(int sig)
{
    static const char msg[] = "test_nss: timed out: the module deadlocked (recursion guard?)\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

static void load_module(void)
{
    const char *so = getenv("LOGTO_NSS_MODULE");

    if (!so || !*so)
        SKIP("LOGTO_NSS_MODULE is not set (run through make check)");
    tmp = fx_tmpdir("nss");
    snap_path = fx_path(tmp, LOGTO_SNAPSHOT_NAME);
    if (!tmp || !snap_path)
        exit(99);
    /* Read once, at the module's first call. */
    setenv("LOGTO_NSS_SNAPSHOT", snap_path, 1);
    module = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "dlopen %s: %s\n", so, dlerror());
        exit(1);
    }
    SYM(getpwnam_r);
    SYM(getpwuid_r);
    SYM(setpwent);
    SYM(getpwent_r);
    SYM(endpwent);
    SYM(getgrnam_r);
    SYM(getgrgid_r);
    SYM(setgrent);
    SYM(getgrent_r);
    SYM(endgrent);
    SYM(initgroups_dyn);
}

/* ---------------------------------------------------------------- before any snapshot */

static void test_missing(void)
{
    struct passwd pw;
    struct group gr;
    char buf[1024];
    int e = 0;

    syslog_lines = 0;
    errno = 0;
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(e, ENOENT);
    CHECK_INT(nss.getpwuid_r(10001, &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(nss.getgrnam_r("developers", &gr, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(nss.getgrgid_r(20001, &gr, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(nss.setpwent(0), NSS_STATUS_UNAVAIL);
    CHECK_INT(nss.setgrent(0), NSS_STATUS_UNAVAIL);
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.endgrent(), NSS_STATUS_SUCCESS);
    /* An invalid name is not even looked up: a plain "not found". */
    CHECK_INT(nss.getpwnam_r("Not A Name", &pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(e, ENOENT);
    CHECK_INT(syslog_lines, 0); /* normal before the first sync */
}

static void test_refused(void)
{
    struct passwd pw;
    char buf[1024];
    unsigned char *bytes;
    size_t len;
    int e = 0;

    write_fixture("Alice Liddell");
    CHECK_INT(fx_read(snap_path, &bytes, &len), 0);
    bytes[len - 10] ^= 0x20;
    CHECK_INT(fx_write(snap_path, bytes, len), 0);

    syslog_lines = 0;
    reenter = 1; /* the log line re-enters the module from inside it */
    alarm(20);   /* without the guard, re-entry would deadlock on the module's lock */
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(e, EIO);
    CHECK_INT(reentry_status, NSS_STATUS_UNAVAIL);
    CHECK_INT(reentry_errno, EDEADLK);
    for (int i = 0; i < 10; i++)
        CHECK_INT(nss.getpwuid_r(10001, &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    alarm(0);
    CHECK_INT(syslog_lines, 1); /* once per process per file */
    CHECK_INT(syslog_last_priority, LOG_AUTHPRIV | LOG_ERR);
    CHECK_CONTAINS(syslog_last, "snapshot-refused");
    CHECK_CONTAINS(syslog_last, snap_path);
    CHECK_CONTAINS(syslog_last, "checksum mismatch");

    /* A good file in its place is used at once. */
    write_fixture("Alice Liddell");
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(syslog_lines, 1);
    free(bytes);
}

/*
 * Damage that only a lookup reads (opening checks the header and the region table, not the
 * regions): the lookups that do not touch it are served; the first that does is answered
 * UNAVAIL/EIO and the file refused from then on, logged once; a good file is used at once.
 */
static void test_refused_at_lookup(void)
{
    const struct logto_snapshot_header *h;
    struct passwd pw;
    struct group gr;
    char buf[8192];
    unsigned char *bytes;
    size_t len, at = 0;
    int e = 0;

    write_fixture("Alice Liddell");
    CHECK_INT(fx_read(snap_path, &bytes, &len), 0);
    h = (const void *)bytes;
    /* The crowd's group record (the groups table, sorted by GID): its kind, org -> org role,
     * still valid. Nothing a lookup of alice reads lies in its region. */
    const struct logto_snapshot_group *groups =
        (const void *)(bytes + h->tables[LOGTO_SNAP_GROUPS].offset);
    for (uint32_t i = 0; i < h->n_groups; i++)
        if (groups[i].gid == 20100)
            at = (size_t)((const unsigned char *)&groups[i].kind - bytes);
    CHECK(at > 0);
    CHECK(at >> LOGTO_SNAPSHOT_REGION_SHIFT !=
          h->tables[LOGTO_SNAP_USERS].offset >> LOGTO_SNAPSHOT_REGION_SHIFT);
    CHECK(at < h->tables[LOGTO_SNAP_IDX_USER_NAME].offset &&
          at >> LOGTO_SNAPSHOT_REGION_SHIFT !=
              h->tables[LOGTO_SNAP_IDX_USER_NAME].offset >> LOGTO_SNAPSHOT_REGION_SHIFT);
    bytes[at] ^= 0x01;
    CHECK_INT(fx_write(snap_path, bytes, len), 0);

    syslog_lines = 0;
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(syslog_lines, 0);
    CHECK_INT(nss.getgrnam_r("crowd", &gr, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(e, EIO);
    CHECK_INT(syslog_lines, 1);
    CHECK_CONTAINS(syslog_last, "snapshot-refused");
    CHECK_CONTAINS(syslog_last, "checksum mismatch in region");
    /* Refused whole from now on, without a second line. */
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(e, EIO);
    CHECK_INT(nss.setpwent(0), NSS_STATUS_UNAVAIL);
    CHECK_INT(syslog_lines, 1);

    write_fixture("Alice Liddell");
    CHECK_INT(nss.getgrnam_r("crowd", &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(syslog_lines, 1);
    free(bytes);
}

/*
 * Out of descriptors while the module maps a new file: TRYAGAIN (the caller sees an error, not
 * "no such user"), nothing logged, nothing remembered: the next call is served.
 */
static void test_transient(void)
{
    struct rlimit saved, low;
    struct passwd pw;
    char buf[1024];
    int e = 0, fd;

    write_fixture("Alice Liddell"); /* the next call maps the new file */
    syslog_lines = 0;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
    fd = dup(0);
    close(fd);
    low = saved;
    low.rlim_cur = (rlim_t)fd + 1; /* the directory opens, the file does not */
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    int s = nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e);
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &saved), 0);
    CHECK_INT(s, NSS_STATUS_TRYAGAIN);
    CHECK_INT(e, ENOMEM);
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(syslog_lines, 0);
}

/* ---------------------------------------------------------------- point lookups */

static bool inside(const void *p, const char *buf, size_t len)
{
    return (const char *)p >= buf && (const char *)p < buf + len;
}

static void test_passwd(void)
{
    struct passwd pw;
    char buf[1024];
    int e = 0;

    errno = 4242;
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(errno, 4242); /* preserved on success */
    CHECK_STR(pw.pw_name, "alice");
    CHECK_STR(pw.pw_passwd, "*");
    CHECK_INT(pw.pw_uid, 10001);
    CHECK_INT(pw.pw_gid, 10001);
    CHECK_STR(pw.pw_gecos, "Alice Liddell");
    CHECK_STR(pw.pw_dir, "/home/alice");
    CHECK_STR(pw.pw_shell, "/bin/bash");
    CHECK(inside(pw.pw_name, buf, sizeof(buf)) && inside(pw.pw_passwd, buf, sizeof(buf)) &&
          inside(pw.pw_gecos, buf, sizeof(buf)) && inside(pw.pw_dir, buf, sizeof(buf)) &&
          inside(pw.pw_shell, buf, sizeof(buf)));

    errno = 77;
    CHECK_INT(nss.getpwuid_r(10002, &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(errno, 77);
    CHECK_STR(pw.pw_name, "bob"); /* suspended users still resolve */
    CHECK_STR(pw.pw_gecos, "");

    static const char *const bad[] = {
        "mallory", "Alice", "", "a:b", "../etc", "root", "a23456789012345678901234567890123"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e = 0;
        CHECK_INT(nss.getpwnam_r(bad[i], &pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(e, ENOENT);
    }
    static const uid_t bad_uids[] = { 0, 1, 65534, 10009, 20001, (uid_t)-1 };
    for (size_t i = 0; i < sizeof(bad_uids) / sizeof(bad_uids[0]); i++) {
        e = 0;
        CHECK_INT(nss.getpwuid_r(bad_uids[i], &pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(e, ENOENT);
    }
}

static void test_group(void)
{
    struct group gr;
    char buf[8192];
    int e = 0;

    errno = 99;
    CHECK_INT(nss.getgrnam_r("developers", &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(errno, 99);
    CHECK_STR(gr.gr_name, "developers");
    CHECK_STR(gr.gr_passwd, "*");
    CHECK_INT(gr.gr_gid, 20001);
    CHECK(gr.gr_mem && gr.gr_mem[0] && gr.gr_mem[1] && !gr.gr_mem[2]);
    if (gr.gr_mem && gr.gr_mem[0] && gr.gr_mem[1]) {
        CHECK_STR(gr.gr_mem[0], "alice");
        CHECK_STR(gr.gr_mem[1], "bob");
    }
    CHECK_INT(nss.getgrgid_r(10003, &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(gr.gr_name, "carol");
    CHECK(gr.gr_mem && gr.gr_mem[0] == NULL);
    CHECK_INT(nss.getgrnam_r("crowd", &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    int n = 0;
    while (gr.gr_mem[n])
        n++;
    CHECK_INT(n, 301);
    CHECK_STR(gr.gr_mem[0], "alice");
    CHECK_STR(gr.gr_mem[300], "u299");

    CHECK_INT(nss.getgrnam_r("nogroup", &gr, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(e, ENOENT);
    CHECK_INT(nss.getgrnam_r("Developers", &gr, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(nss.getgrgid_r(27, &gr, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(nss.getgrgid_r(20999, &gr, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
}

/* ---------------------------------------------------------------- ERANGE sweeps */

#define FILL 0xa5

static bool untouched(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* Every size from 0 up: refused with ERANGE (nothing written) below `want`, served at and above. */
static void sweep_passwd(const char *name, size_t want)
{
    size_t threshold = SIZE_MAX;

    for (size_t size = 0; size <= want + 16; size++) {
        unsigned char *buf = malloc(size ? size : 1); /* exact size: valgrind sees overruns */
        struct passwd pw;
        int e = 0;
        memset(buf, FILL, size);
        memset(&pw, 0x5a, sizeof(pw));
        enum nss_status s = nss.getpwnam_r(name, &pw, size ? (char *)buf : NULL, size, &e);
        if (s == NSS_STATUS_SUCCESS) {
            if (threshold == SIZE_MAX)
                threshold = size;
            CHECK_STR(pw.pw_name, name);
            CHECK(inside(pw.pw_name, (char *)buf, size) &&
                  inside(pw.pw_passwd, (char *)buf, size) &&
                  inside(pw.pw_gecos, (char *)buf, size) && inside(pw.pw_dir, (char *)buf, size) &&
                  inside(pw.pw_shell, (char *)buf, size));
        } else {
            CHECK_INT(s, NSS_STATUS_TRYAGAIN);
            CHECK_INT(e, ERANGE);
            CHECK(threshold == SIZE_MAX); /* no failure above a success */
            CHECK(untouched(buf, size, FILL));
            CHECK(untouched((unsigned char *)&pw, sizeof(pw), 0x5a));
        }
        free(buf);
    }
    CHECK_INT(threshold, want);
}

static void test_erange_passwd(void)
{
    /* name, "*", gecos, home, shell, each NUL-terminated */
    sweep_passwd("alice", 6 + 2 + 14 + 12 + 10);
    sweep_passwd("bob", 4 + 2 + 1 + 10 + 10);
}

static void sweep_group(const char *name, size_t n_members, size_t strings, size_t misalign)
{
    size_t want, pad = (alignof(char *) - misalign % alignof(char *)) % alignof(char *);
    size_t threshold = SIZE_MAX;

    want = pad + (n_members + 1) * sizeof(char *) + strings;
    for (size_t size = 0; size <= want + 16; size++) {
        unsigned char *block = aligned_alloc(16, ALIGN_TO(size + misalign + 1, 16));
        char *buf = (char *)block + misalign;
        struct group gr;
        int e = 0;
        memset(block, FILL, size + misalign);
        memset(&gr, 0x5a, sizeof(gr));
        enum nss_status s = nss.getgrnam_r(name, &gr, buf, size, &e);
        if (s == NSS_STATUS_SUCCESS) {
            if (threshold == SIZE_MAX)
                threshold = size;
            CHECK_STR(gr.gr_name, name);
            CHECK((uintptr_t)gr.gr_mem % alignof(char *) == 0);
            CHECK(inside(gr.gr_mem, buf, size) && inside(gr.gr_name, buf, size) &&
                  inside(gr.gr_passwd, buf, size));
            CHECK(inside(&gr.gr_mem[n_members], buf, size) && gr.gr_mem[n_members] == NULL);
            for (size_t i = 0; i < n_members; i++)
                CHECK(inside(gr.gr_mem[i], buf, size));
            CHECK(untouched(block, misalign, FILL)); /* nothing before the buffer */
        } else {
            CHECK_INT(s, NSS_STATUS_TRYAGAIN);
            CHECK_INT(e, ERANGE);
            CHECK(threshold == SIZE_MAX);
            CHECK(untouched(block, size + misalign, FILL));
            CHECK(untouched((unsigned char *)&gr, sizeof(gr), 0x5a));
        }
        free(block);
    }
    CHECK_INT(threshold, want);
}

static void test_erange_group(void)
{
    for (size_t misalign = 0; misalign < 8; misalign++) {
        /* developers: "developers" + "*" + "alice" + "bob" */
        sweep_group("developers", 2, 11 + 2 + 6 + 4, misalign);
        sweep_group("carol", 0, 6 + 2, misalign);
    }
    /* crowd: 301 members: "alice" and u000..u299 (5 bytes each with NUL). */
    sweep_group("crowd", 301, 6 + 2 + 6 + 300 * 5, 0);
    sweep_group("crowd", 301, 6 + 2 + 6 + 300 * 5, 3);
}

/* ---------------------------------------------------------------- enumeration */

static void test_enumerate_passwd(void)
{
    struct passwd pw;
    char buf[1024], tiny[4];
    int e = 0, n = 0;
    uid_t last = 0;

    CHECK_INT(nss.setpwent(1), NSS_STATUS_SUCCESS);
    for (;;) {
        errno = 31337;
        enum nss_status s = nss.getpwent_r(&pw, buf, sizeof(buf), &e);
        if (s != NSS_STATUS_SUCCESS) {
            CHECK_INT(s, NSS_STATUS_NOTFOUND);
            CHECK_INT(e, ENOENT);
            break;
        }
        CHECK_INT(errno, 31337);
        CHECK(pw.pw_uid > last); /* UID order, no repeats */
        last = pw.pw_uid;
        if (n == 1) {
            /* Too small: the same entry comes back with a big enough buffer. */
            struct passwd again;
            CHECK_INT(nss.getpwent_r(&again, tiny, sizeof(tiny), &e), NSS_STATUS_TRYAGAIN);
            CHECK_INT(e, ERANGE);
            CHECK_INT(nss.getpwent_r(&again, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
            CHECK_STR(again.pw_name, "carol");
            last = again.pw_uid;
            n++;
        }
        n++;
    }
    CHECK_INT(n, 3 + 1 + 300);
    /* At the end it stays at the end. */
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    /* setpwent starts over. */
    CHECK_INT(nss.setpwent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_name, "alice");
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    /* Without setpwent, getpwent_r starts by itself. */
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_name, "alice");
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
}

static void test_enumerate_group(void)
{
    struct group gr;
    char buf[8192];
    int e = 0, n = 0;
    gid_t last = 0;

    CHECK_INT(nss.setgrent(0), NSS_STATUS_SUCCESS);
    while (nss.getgrent_r(&gr, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS) {
        CHECK(gr.gr_gid > last);
        last = gr.gr_gid;
        n++;
    }
    CHECK_INT(e, ENOENT);
    /* 3 + dan + 300 private groups, 4 sample groups, 40 of dan's, crowd. */
    CHECK_INT(n, 304 + 4 + 40 + 1);
    CHECK_INT(nss.endgrent(), NSS_STATUS_SUCCESS);
}

/* ---------------------------------------------------------------- initgroups */

static void test_initgroups(void)
{
    long start, size;
    gid_t *groups;
    int e = 0;

    /* glibc's call: the primary group at [0], start 1, a small array to grow. */
    size = 2;
    start = 1;
    groups = malloc((size_t)size * sizeof(gid_t));
    groups[0] = 10010;
    errno = 5;
    CHECK_INT(nss.initgroups_dyn("dan", 10010, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
    CHECK_INT(errno, 5);
    CHECK_INT(start, 41);
    CHECK(size >= 41);
    for (long i = 1; i < start; i++)
        CHECK_INT(groups[i], 30000 + i - 1);
    free(groups);

    /* A limit: never beyond it. */
    size = 1;
    start = 1;
    groups = malloc(sizeof(gid_t));
    groups[0] = 10010;
    syslog_lines = 0;
    CHECK_INT(nss.initgroups_dyn("dan", 10010, &start, &size, &groups, 10, &e), NSS_STATUS_SUCCESS);
    CHECK_INT(size, 10);
    CHECK_INT(start, 10);
    /* What the limit cut off is said, once per call. */
    CHECK_INT(syslog_lines, 1);
    CHECK_INT(syslog_last_priority, LOG_AUTHPRIV | LOG_WARNING);
    CHECK_CONTAINS(syslog_last, "initgroups-truncated user=dan groups=40 dropped=31 limit=10");
    free(groups);

    /* No duplicates, and the primary group is never added. */
    size = 64;
    start = 3;
    groups = malloc((size_t)size * sizeof(gid_t));
    groups[0] = 30003; /* pretend it is the primary group */
    groups[1] = 30005;
    groups[2] = 30007;
    CHECK_INT(nss.initgroups_dyn("dan", 30003, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
    CHECK_INT(start, 40);
    CHECK_INT(size, 64);
    int seen[40] = { 0 };
    for (long i = 0; i < start; i++)
        if (groups[i] >= 30000 && groups[i] < 30040)
            seen[groups[i] - 30000]++;
    for (int i = 0; i < 40; i++)
        CHECK_INT(seen[i], 1);
    free(groups);

    /* What earlier modules found comes in any order, mixed with ours: each group once. */
    size = 300;
    start = 200;
    groups = malloc((size_t)size * sizeof(gid_t));
    for (long i = 0; i < start; i++)
        groups[i] = i % 2 ? (gid_t)(30000 + (i * 7) % 40) : (gid_t)(50000 - i);
    CHECK_INT(nss.initgroups_dyn("dan", 10010, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
    bool had[40] = { false };
    int added[40] = { 0 };
    for (long i = 1; i < 200; i += 2)
        had[(i * 7) % 40] = true; /* 20 of dan's 40 */
    for (long i = 200; i < start; i++) {
        CHECK(groups[i] >= 30000 && groups[i] < 30040);
        if (groups[i] >= 30000 && groups[i] < 30040)
            added[groups[i] - 30000]++;
    }
    CHECK_INT(start, 220);
    for (int i = 0; i < 40; i++)
        CHECK_INT(added[i], had[i] ? 0 : 1);
    free(groups);

    /* alice: developers, org-acme and crowd. */
    size = 4;
    start = 1;
    groups = malloc((size_t)size * sizeof(gid_t));
    groups[0] = 10001;
    CHECK_INT(nss.initgroups_dyn("alice", 10001, &start, &size, &groups, 0, &e),
              NSS_STATUS_SUCCESS);
    CHECK_INT(start, 4);
    CHECK(start == 4 && groups[1] == 20001 && groups[2] == 20002 && groups[3] == 20100);
    /* Unknown and invalid users: not found, array untouched. */
    CHECK_INT(nss.initgroups_dyn("mallory", 10001, &start, &size, &groups, 0, &e),
              NSS_STATUS_NOTFOUND);
    CHECK_INT(e, ENOENT);
    CHECK_INT(nss.initgroups_dyn("Bad Name", 10001, &start, &size, &groups, 0, &e),
              NSS_STATUS_NOTFOUND);
    CHECK_INT(start, 4);
    free(groups);
}

/*
 * A user in more groups than a login carries (NGROUPS_MAX is 65,536 on Linux): initgroups(3)
 * passes that limit; the list stops there and the log says how many were cut. With 30,000
 * groups already found by earlier modules, half of them ours, each group is listed once. A
 * scan of the caller's list per GID took half a minute for this; the alarm is a tripwire.
 */
static void test_initgroups_many(void)
{
    struct logto_directory *d = logto_directory_new();
    struct logto_error err = { 0 };
    const long n = 66000, limit = 65536;
    char name[32], *max[] = { fx_unconst("max"), NULL };
    long start, size;
    gid_t *groups;
    int e = 0;

    fx_add_user(d, "max", 10020, 10020, "Max", "sub-max");
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "r%ld", i);
        fx_add_group(d, name, 100000 + (uint32_t)i, LOGTO_GROUP_ROLE, name, max);
    }
    CHECK_INT(logto_snapshot_write(snap_path, d, &err), 0);
    logto_directory_free(d);
    alarm(120);

    syslog_lines = 0;
    size = 8;
    start = 1;
    groups = malloc((size_t)size * sizeof(gid_t));
    groups[0] = 10020;
    CHECK_INT(nss.initgroups_dyn("max", 10020, &start, &size, &groups, limit, &e),
              NSS_STATUS_SUCCESS);
    CHECK_INT(start, limit);
    CHECK_INT(size, limit);
    CHECK_INT(syslog_lines, 1);
    CHECK_CONTAINS(syslog_last, "initgroups-truncated user=max groups=66000 dropped=465");
    free(groups);

    size = 30000;
    start = 30000;
    groups = malloc((size_t)size * sizeof(gid_t));
    for (long i = 0; i < start; i++) /* every other one of ours, descending, and others */
        groups[i] = (gid_t)(i % 2 ? 100000 + 2 * (n / 2 - i / 2 - 1) : 1000000 + i);
    CHECK_INT(nss.initgroups_dyn("max", 10020, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
    CHECK_INT(start, 30000 + n - 15000);
    char *seen = calloc((size_t)n, 1);
    long twice = 0;
    for (long i = 0; i < start && seen; i++)
        if (groups[i] >= 100000 && groups[i] < 100000 + (gid_t)n)
            twice += seen[groups[i] - 100000]++ > 0;
    CHECK_INT(twice, 0);
    free(seen);
    free(groups);
    alarm(0);
    write_fixture("Alice Liddell");
}

/* ---------------------------------------------------------------- enumerate = no */

/* A snapshot written with [sync] enumerate = no: getpwent/getgrent list nothing of ours, while
 * lookups by name and ID and initgroups answer as before. Written back with enumerate = yes, the
 * lists come back. */
static void test_no_enumerate(void)
{
    struct passwd pw;
    struct group gr;
    char buf[8192];
    int e = 0;
    long start = 1, size = 64;
    gid_t *groups = calloc((size_t)size, sizeof(gid_t));

    write_fixture_enumerate("Alice Liddell", false);
    CHECK_INT(nss.setpwent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(e, ENOENT);
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.setgrent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getgrent_r(&gr, buf, sizeof(buf), &e), NSS_STATUS_NOTFOUND);
    CHECK_INT(e, ENOENT);
    CHECK_INT(nss.endgrent(), NSS_STATUS_SUCCESS);

    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(pw.pw_uid, 10001);
    CHECK_INT(nss.getpwuid_r(10002, &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_name, "bob");
    CHECK_INT(nss.getgrnam_r("developers", &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(gr.gr_gid, 20001);
    CHECK_INT(nss.getgrgid_r(20100, &gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(gr.gr_name, "crowd");
    if (groups) {
        groups[0] = 10010;
        CHECK_INT(nss.initgroups_dyn("dan", 10010, &start, &size, &groups, -1, &e),
                  NSS_STATUS_SUCCESS);
        CHECK_INT(start, 41);
    }
    free(groups);

    write_fixture("Alice Liddell");
    CHECK_INT(nss.setpwent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_name, "alice");
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.setgrent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getgrent_r(&gr, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.endgrent(), NSS_STATUS_SUCCESS);
}

/* ---------------------------------------------------------------- replacement */

static void test_replacement(void)
{
    struct passwd pw;
    char buf[1024];
    int e = 0;

    /* An enumeration in progress keeps listing the version it started on. */
    CHECK_INT(nss.setpwent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_gecos, "Alice Liddell");

    write_fixture("Alice, replaced");
    /* The stale mark makes the very next lookup use the new file. */
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_gecos, "Alice, replaced");
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_name, "bob");
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.setpwent(0), NSS_STATUS_SUCCESS);
    CHECK_INT(nss.getpwent_r(&pw, buf, sizeof(buf), &e), NSS_STATUS_SUCCESS);
    CHECK_STR(pw.pw_gecos, "Alice, replaced");
    CHECK_INT(nss.endpwent(), NSS_STATUS_SUCCESS);

    /* Removed: unavailable within about a second (the re-stat backstop). */
    CHECK_INT(unlink(snap_path), 0);
    sleep(1);
    usleep(200 * 1000);
    CHECK_INT(nss.getpwnam_r("alice", &pw, buf, sizeof(buf), &e), NSS_STATUS_UNAVAIL);
    CHECK_INT(e, ENOENT);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        TEST(test_missing),         TEST(test_refused),      TEST(test_refused_at_lookup),
        TEST(test_transient),       TEST(test_passwd),       TEST(test_group),
        TEST(test_erange_passwd),   TEST(test_erange_group), TEST(test_enumerate_passwd),
        TEST(test_enumerate_group), TEST(test_initgroups),   TEST(test_initgroups_many),
        TEST(test_no_enumerate),    TEST(test_replacement),
    };
    int r;

    signal(SIGALRM, on_alarm);
    load_module();
    if (argc > 1) {
        fprintf(stderr, "the cases share the module's state and run in order\n");
        return 2;
    }
    r = check_run_(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    dlclose(module);
    fx_rmtree(tmp);
    free(tmp);
    free(snap_path);
    return r;
}
