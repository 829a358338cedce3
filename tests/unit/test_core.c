/* SPDX-License-Identifier: MIT */
/* Unit tests of common/ core helpers: names, IDs, strings, errors, logging, checked files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "log.h"
#include "memory.h"
#include "names.h"
#include "util.h"

#include "../lib/check.h"

static void test_names(void)
{
    static const struct {
        const char *name;
        int valid;
    } cases[] = {
        { "alice", 1 },
        { "_svc", 1 },
        { "a.b-c_9", 1 },
        { "abcdefghijklmnopqrstuvwxyz012345", 1 },  /* 32 */
        { "abcdefghijklmnopqrstuvwxyz0123456", 0 }, /* 33 */
        { "", 0 },
        { ".", 0 },
        { "..", 0 },
        { "Alice", 0 },
        { "9lives", 0 },
        { "-rf", 0 },
        { "a:b", 0 },
        { "a/b", 0 },
        { "a\nb", 0 },
        { "../etc", 0 },
        { "a b", 0 },
        { "é", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (logto_name_valid(cases[i].name) != cases[i].valid)
            fprintf(stderr, "name case %zu: '%s'\n", i, cases[i].name);
        CHECK(logto_name_valid(cases[i].name) == cases[i].valid);
    }
    CHECK(!logto_name_valid(NULL));
}

static void test_name_fold(void)
{
    char out[LOGTO_NAME_MAX + 1];
    const char *why = NULL;

    CHECK_INT(logto_name_fold("Grace_Hopper", out, sizeof(out), &why), 0);
    CHECK_STR(out, "grace_hopper");
    CHECK_INT(logto_name_fold("root:x", out, sizeof(out), &why), -1);
    CHECK_STR(out, "");
    CHECK(why != NULL);
    CHECK_INT(logto_name_fold("", out, sizeof(out), &why), -1);
    CHECK_STR(why, "empty");
    CHECK_INT(logto_name_fold("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", out, sizeof(out), &why), -1);
    CHECK_STR(why, "longer than 32 characters");
}

static void test_group_sanitize(void)
{
    char out[LOGTO_NAME_MAX + 1];
    const char *why = NULL;

    CHECK_INT(logto_group_name_sanitize("org-", "Acme Corp", out, sizeof(out), &why), 0);
    CHECK_STR(out, "org-acme_corp");
    CHECK_INT(logto_group_name_sanitize("", "abc123:admin", out, sizeof(out), &why), 0);
    CHECK_STR(out, "abc123_admin");
    /* Two different inputs may sanitise alike; the caller must detect that. */
    char other[LOGTO_NAME_MAX + 1];
    CHECK_INT(logto_group_name_sanitize("org-", "acme:corp", other, sizeof(other), &why), 0);
    CHECK_STR(other, out[0] ? "org-acme_corp" : "");
    CHECK_INT(logto_group_name_sanitize("", "9ers", out, sizeof(out), &why), -1);
    CHECK_INT(logto_group_name_sanitize("logto-", "a-very-long-role-name-beyond-limit", out,
                                        sizeof(out), &why),
              -1);
    CHECK_INT(logto_group_name_sanitize("x", "", out, sizeof(out), &why), -1);
}

static void test_reserved_ids(void)
{
    CHECK(logto_id_reserved(0));
    CHECK(logto_id_reserved(999));
    CHECK(!logto_id_reserved(1000));
    CHECK(!logto_id_reserved(59999));
    CHECK(logto_id_reserved(60000));
    CHECK(logto_id_reserved(65534));
    CHECK(!logto_id_reserved(65536));
    CHECK(logto_id_reserved(524288));
    CHECK(logto_id_reserved(1879048191));
    CHECK(!logto_id_reserved(1879048192));
    CHECK(logto_id_reserved(2147352576u));
    CHECK(logto_id_reserved(4294967295u));
}

/* Ranges (logto.conf id_range) against the IDs in them; was a probe every 256 IDs, 1M calls for
 * the default range on every configuration load (found by fuzz_config running at 9 exec/s). */
static void test_reserved_id_ranges(void)
{
    static const uint32_t edges[] = { 0,           999,         1000,        59999,
                                      60000,       65535,       65536,       524287,
                                      524288,      1879048191,  1879048192,  2147352575u,
                                      2147352576u, 2147418111u, 2147418112u, 2147483647u,
                                      2147483648u, 4294967295u };

    CHECK(!logto_id_range_reserved(1879048192, 2147352575u)); /* the default range */
    CHECK(!logto_id_range_reserved(1000, 59999));
    CHECK(!logto_id_range_reserved(65536, 524287));
    CHECK(!logto_id_range_reserved(2147418112u, 2147483647u));
    CHECK(logto_id_range_reserved(0, 4294967295u));
    CHECK(logto_id_range_reserved(59999, 65536));
    CHECK(logto_id_range_reserved(1000, 1879048192));
    CHECK(logto_id_range_reserved(2147352575u, 2147418112u));
    /* Around every edge, the answer is whether some ID of the range is reserved. */
    for (size_t i = 0; i < ELEMENTSOF(edges); i++)
        for (int64_t d = -3; d <= 3; d++)
            for (int64_t w = 0; w <= 6; w++) {
                int64_t lo = (int64_t)edges[i] + d, hi = lo + w;
                bool any = false;
                if (lo < 0 || hi > UINT32_MAX)
                    continue;
                for (int64_t id = lo; id <= hi; id++)
                    any = any || logto_id_reserved((uint32_t)id);
                CHECK(logto_id_range_reserved((uint32_t)lo, (uint32_t)hi) == any);
            }
}

static void test_strv(void)
{
    _cleanup_strv_ char **v = logto_strv_split("  b a,c  a ", true);
    CHECK_INT(logto_strv_length(v), 4);
    logto_strv_sort(v);
    logto_strv_uniq(v);
    CHECK_INT(logto_strv_length(v), 3);
    _cleanup_free_ char *j = logto_strv_join(v, "|");
    CHECK_STR(j, "a|b|c");
    CHECK(logto_strv_contains(v, "b"));
    CHECK(!logto_strv_contains(v, "d"));
}

static void test_parse(void)
{
    uint64_t u;
    int64_t d;
    CHECK_INT(logto_parse_u64("42", 0, 100, &u), 0);
    CHECK_INT(u, 42);
    CHECK_INT(logto_parse_u64("101", 0, 100, &u), -1);
    CHECK_INT(logto_parse_u64("-1", 0, 100, &u), -1);
    CHECK_INT(logto_parse_u64("99999999999999999999999", 0, UINT64_MAX, &u), -1);
    CHECK_INT(logto_parse_duration("300", &d), 0);
    CHECK_INT(d, 300);
    CHECK_INT(logto_parse_duration("7d", &d), 0);
    CHECK_INT(d, 7 * 86400);
    CHECK_INT(logto_parse_duration("5m", &d), 0);
    CHECK_INT(d, 300);
    CHECK_INT(logto_parse_duration("5x", &d), -1);
    CHECK_INT(logto_parse_duration("", &d), -1);
    CHECK_INT(logto_parse_duration("d", &d), -1);
}

static void test_error(void)
{
    struct logto_error err = { 0 };
    CHECK_INT(logto_error_set(&err, LOGTO_E_CONFIG, "%s:%d: unknown key '%s'", "/etc/x", 3, "k"),
              -LOGTO_E_CONFIG);
    CHECK_STR(err.message, "/etc/x:3: unknown key 'k'");
    logto_error_prefix(&err, "loading %s", "config");
    CHECK_STR(err.message, "loading config: /etc/x:3: unknown key 'k'");
    CHECK_STR(logto_errc_name(LOGTO_E_UNREACHABLE), "unreachable");
    CHECK_INT(logto_errc_from(-LOGTO_E_DENIED), LOGTO_E_DENIED);
    CHECK(logto_error_set(NULL, LOGTO_E_IO, "x") == -LOGTO_E_IO);
}

static char last_line[1100];
static int last_prio;
static void capture(void *ud, int prio, const char *line)
{
    (void)ud;
    last_prio = prio;
    snprintf(last_line, sizeof(last_line), "%s", line);
}

static void test_log(void)
{
    struct logto_log log = { .fn = capture, .debug = false };
    logto_log(&log, LOG_ERR, "auth-denied user=%s", "bob\nforged line");
    CHECK_STR(last_line, "auth-denied user=bob?forged line");
    CHECK_INT(last_prio, LOG_ERR);
    last_line[0] = '\0';
    logto_log_debug(&log, "hidden");
    CHECK_STR(last_line, "");
    log.debug = true;
    logto_log_debug(&log, "shown");
    CHECK_STR(last_line, "shown");
}

static void test_erase(void)
{
    char *s = strdup("secret");
    logto_erase_string(s);
    CHECK(memcmp(s, "\0\0\0\0\0\0", 6) == 0);
    free(s);
    logto_free_secret(NULL);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/logto-core-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    chmod(tmpdir, 0755);
}

static void test_files(void)
{
    struct logto_error err = { 0 };
    char path[128], lnk[128], hard[128];
    char *buf = NULL;
    size_t len = 0;
    _cleanup_close_ int dirfd = -1, lockfd = -1;

    make_tmpdir();
    snprintf(path, sizeof(path), "%s/data", tmpdir);
    CHECK_INT(logto_file_write_atomic(path, "hello", 5, 0644, &err), 0);
    CHECK_INT(logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, 100, &buf, &len, &err), 0);
    CHECK_STR(buf, "hello");
    CHECK_INT(len, 5);
    free(buf);
    buf = NULL;

    /* A public file is refused as a secret. */
    CHECK_INT(logto_file_read_trusted(path, LOGTO_FILE_SECRET, 100, &buf, &len, &err),
              -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "mode 0644");

    /* Exactly at the size limit is fine; one byte over is too large. */
    CHECK_INT(logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, 5, &buf, &len, &err), 0);
    CHECK_STR(buf, "hello");
    CHECK_INT(len, 5);
    free(buf);
    buf = NULL;
    CHECK_INT(logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, 4, &buf, &len, &err),
              -LOGTO_E_CORRUPT);
    CHECK_CONTAINS(err.message, "too large");
    CHECK(buf == NULL);

    /* Group-writable. */
    chmod(path, 0664);
    CHECK_INT(logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, 100, &buf, &len, &err),
              -LOGTO_E_UNSAFE);
    chmod(path, 0644);

    /* A symlink is never followed. */
    snprintf(lnk, sizeof(lnk), "%s/link", tmpdir);
    CHECK(symlink(path, lnk) == 0);
    CHECK_INT(logto_file_read_trusted(lnk, LOGTO_FILE_PUBLIC, 100, &buf, &len, &err),
              -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "symbolic link");

    /* A hard link is refused. */
    snprintf(hard, sizeof(hard), "%s/hard", tmpdir);
    CHECK(link(path, hard) == 0);
    CHECK_INT(logto_file_read_trusted(hard, LOGTO_FILE_PUBLIC, 100, &buf, &len, &err),
              -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "hard links");
    unlink(hard);

    /* Missing. */
    snprintf(hard, sizeof(hard), "%s/missing", tmpdir);
    CHECK_INT(logto_file_read_trusted(hard, LOGTO_FILE_PUBLIC, 100, &buf, &len, &err),
              -LOGTO_E_NOTFOUND);

    /* Atomic write keeps the mode asked for, whatever the umask. */
    mode_t old = umask(0);
    CHECK_INT(logto_file_write_atomic(path, "x", 1, 0600, &err), 0);
    umask(old);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);

    /* A world-writable directory is refused. */
    chmod(tmpdir, 0777);
    CHECK_INT(logto_dir_open_trusted(tmpdir, false, &dirfd, &err), -LOGTO_E_UNSAFE);
    chmod(tmpdir, 0755);
    CHECK_INT(logto_dir_open_trusted(tmpdir, true, &dirfd, &err), -LOGTO_E_UNSAFE);
    CHECK_INT(logto_dir_open_trusted(tmpdir, false, &dirfd, &err), 0);

    /* Locks exclude each other within the timeout. */
    CHECK_INT(logto_lock_at(dirfd, "l.lock", "l.lock", 100, &lockfd, &err), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd2 = -1;
        struct logto_error e2 = { 0 };
        _exit(logto_lock_at(dirfd, "l.lock", "l.lock", 50, &fd2, &e2) == -LOGTO_E_BUSY ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    unlink(path);
    unlink(lnk);
    char lockpath[128];
    snprintf(lockpath, sizeof(lockpath), "%s/l.lock", tmpdir);
    unlink(lockpath);
    CHECK(rmdir(tmpdir) == 0);
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* A lock wait ends at its deadline on CLOCK_MONOTONIC: signals that cut every sleep short (here
 * a 1 ms interval timer) do not end it early. */
static void test_lock_deadline(void)
{
    struct logto_error err = { 0 };
    struct sigaction sa = { .sa_handler = on_alarm };
    struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } }, off = { 0 };
    _cleanup_close_ int dirfd = -1, held = -1, waiter = -1;
    char lockpath[160];
    int64_t t0, waited;

    make_tmpdir();
    CHECK_INT(logto_dir_open_trusted(tmpdir, false, &dirfd, &err), 0);
    CHECK_INT(logto_lock_at(dirfd, "d.lock", "d.lock", 100, &held, &err), 0);
    /* flock locks belong to the open file description: a second open conflicts even in the
     * same process. */
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: nanosleep returns EINTR */
    setitimer(ITIMER_REAL, &every_ms, NULL);
    t0 = logto_monotonic_ms();
    CHECK_INT(logto_lock_at(dirfd, "d.lock", "d.lock", 300, &waiter, &err), -LOGTO_E_BUSY);
    waited = logto_monotonic_ms() - t0;
    setitimer(ITIMER_REAL, &off, NULL);
    /* The no-op handler stays: a SIGALRM still pending when the timer stops (valgrind delivers
     * signals late) must not meet the default action, which ends the process. */
    CHECK(waited >= 295);
    CHECK(waited < 5000);
    CHECK_CONTAINS(err.message, "locked by another process");

    snprintf(lockpath, sizeof(lockpath), "%s/d.lock", tmpdir);
    unlink(lockpath);
    CHECK(rmdir(tmpdir) == 0);
}

/* An unprivileged process vouches for a root-only secret without reading it. */
static void test_file_check_at(void)
{
    struct logto_error err = { 0 };
    char dir[] = "/tmp/logto-check-XXXXXX";
    char path[128];
    _cleanup_close_ int dirfd = -1;

    CHECK(mkdtemp(dir) != NULL);
    chmod(dir, 0755);
    snprintf(path, sizeof(path), "%s/secret", dir);
    CHECK_INT(logto_file_write_atomic(path, "s3cret", 6, 0600, &err), 0);
    CHECK_INT(logto_dir_open_trusted(dir, false, &dirfd, &err), 0);
    CHECK_INT(logto_file_check_at(dirfd, "secret", path, LOGTO_FILE_SECRET, 100, &err), 0);
    CHECK_INT(logto_file_check_at(dirfd, "missing", path, LOGTO_FILE_SECRET, 100, &err),
              -LOGTO_E_NOTFOUND);
    {
        char lnk[128];
        snprintf(lnk, sizeof(lnk), "%s/lnk", dir);
        CHECK(symlink(path, lnk) == 0);
        CHECK_INT(logto_file_check_at(dirfd, "lnk", lnk, LOGTO_FILE_SECRET, 100, &err),
                  -LOGTO_E_UNSAFE);
        unlink(lnk);
    }
    chmod(path, 0640);
    CHECK_INT(logto_file_check_at(dirfd, "secret", path, LOGTO_FILE_SECRET, 100, &err),
              -LOGTO_E_UNSAFE);
    chmod(path, 0600);
    if (geteuid() == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            struct logto_error e2 = { 0 };
            char *buf = NULL;
            if (setgid(65534) < 0 || setuid(65534) < 0)
                _exit(2);
            /* nobody cannot read it, but can check it. */
            if (logto_file_read_at(dirfd, "secret", path, LOGTO_FILE_SECRET, 100, &buf, NULL,
                                   &e2) != -LOGTO_E_IO)
                _exit(3);
            _exit(logto_file_check_at(dirfd, "secret", path, LOGTO_FILE_SECRET, 100, &e2) == 0 ? 0
                                                                                               : 4);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    unlink(path);
    rmdir(dir);
}

/* Killed writers' temporary files are removed by the next write in their directory once stale;
 * a young one (a writer at work) and files not named like one stay. */
static void test_stale_temps(void)
{
    struct logto_error err = { 0 };
    struct timeval old[2] = { { time(NULL) - LOGTO_TEMP_STALE - 5, 0 },
                              { time(NULL) - LOGTO_TEMP_STALE - 5, 0 } };
    const char *stale = ".data.ab12cd34", *other = ".other.ab12cd34", *young = ".data.zz99yy88",
               *unlike = ".data.AB12CD34", *plain = "data.ab12cd34";
    char path[256];

    make_tmpdir();
    for (const char *const *n = (const char *const[]){ stale, other, young, unlike, plain, NULL };
         *n; n++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
        CHECK_INT(logto_file_write_atomic(path, "x", 1, 0600, &err), 0);
        if (*n != young)
            CHECK(utimes(path, old) == 0);
    }
    snprintf(path, sizeof(path), "%s/data", tmpdir);
    CHECK_INT(logto_file_write_atomic(path, "new", 3, 0644, &err), 0);
    for (const char *const *n = (const char *const[]){ stale, other, NULL }; *n; n++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
        CHECK(access(path, F_OK) < 0 && errno == ENOENT);
    }
    for (const char *const *n = (const char *const[]){ young, unlike, plain, NULL }; *n; n++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
        CHECK(access(path, F_OK) == 0);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/data", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

TEST_MAIN(TEST(test_names), TEST(test_name_fold), TEST(test_group_sanitize),
          TEST(test_reserved_ids), TEST(test_reserved_id_ranges), TEST(test_strv), TEST(test_parse),
          TEST(test_error), TEST(test_log), TEST(test_erase), TEST(test_files),
          TEST(test_file_check_at), TEST(test_stale_temps), TEST(test_lock_deadline))
