/* SPDX-License-Identifier: MIT */
/* Failed sign-in counts (common/attempts.c): the host limit and its window, the offline delays
 * and switch-off, the file (torn, foreign, corrupt: refused), concurrent attempts counted
 * exactly, and the verifier removed when the provider refuses a password. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attempts.h"
#include "memory.h"
#include "store.h"
#include "util.h"
#include "verifier.h"

#include "../lib/check.h"

static char state[] = "/tmp/test-attempts-XXXXXX";
static struct logto_config cfg;
static struct logto_service svc;
static struct logto_ctx ctx;
static int64_t clock_now = 1700000000;
static char log_text[4096];

static int64_t fake_now(void)
{
    return clock_now;
}

static void capture_log(void *data, int priority, const char *line)
{
    (void)data, (void)priority;
    snprintf(log_text + strlen(log_text), sizeof(log_text) - strlen(log_text), "%s\n", line);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", state);
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    if (!mkdtemp(state))
        SKIP("mkdtemp failed");
    chmod(state, 0755);
    atexit(cleanup);
    cfg.state_dir = state;
    cfg.host_lockout_attempts = 3;
    cfg.host_lockout_window = 3600;
    svc.offline_delay_after = 3;
    svc.offline_delay = 30;
    svc.offline_lock_after = 10;
    ctx = (struct logto_ctx){ .cfg = &cfg, .now = fake_now, .log = { .fn = capture_log } };
    done = true;
}

static void attempts_path(const char *user, char *buf, size_t n)
{
    snprintf(buf, n, "%s/tokens/%s.%s", state, user, LOGTO_ATTEMPTS_SUFFIX);
}

/* The counts as stored, read under the user's lock. */
static int load(const char *user, struct logto_attempts *a)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    struct logto_error err = { 0 };
    int r = logto_store_open(&ctx, &s, &err);

    if (r >= 0)
        r = logto_store_lock(s, user, 1000, &lock, &err);
    return r < 0 ? r : logto_attempts_load(lock, a, &err);
}

/* ------------------------------------------------------------------------------------------ */

static void test_host_window(void)
{
    struct logto_attempts a = { 0 };

    /* Three attempts over ten minutes: the fourth waits until the first is an hour old. */
    CHECK_INT(logto_attempts_charge(&a, 1000), 0);
    CHECK_INT(logto_attempts_charge(&a, 1300), 0);
    CHECK_INT(logto_attempts_host_wait(&a, 1500, 3, 3600), 0);
    CHECK_INT(logto_attempts_charge(&a, 1600), 0);
    CHECK_INT(logto_attempts_host_wait(&a, 1700, 3, 3600), 1000 + 3600 - 1700);
    logto_attempts_expire(&a, 4600, 3600); /* 1000 is exactly an hour old: gone */
    CHECK_INT(a.n_failures, 2);
    CHECK_INT(logto_attempts_host_wait(&a, 4600, 3, 3600), 0);
    /* A lower limit (the administrator changed it) waits for more of them to leave. */
    CHECK_INT(logto_attempts_host_wait(&a, 4600, 1, 3600), 1600 + 3600 - 4600);

    /* Refund gives back exactly the one attempt. */
    CHECK_INT(logto_attempts_charge(&a, 4700), 0);
    CHECK_INT(logto_attempts_charge(&a, 4700), 0);
    logto_attempts_refund(&a, 4700);
    CHECK_INT(a.n_failures, 3);
    logto_attempts_refund(&a, 999); /* cleared meanwhile: nothing */
    CHECK_INT(a.n_failures, 3);

    /* An attempt counted at 5001 by one process, clamped to 5000 by another whose clock was read
     * a tick earlier (it waited for the lock meanwhile): its refund still gives it back, and
     * only it (the concurrency test's spurious lockout). */
    a = (struct logto_attempts){ 0 };
    CHECK_INT(logto_attempts_charge(&a, 4000), 0);
    CHECK_INT(logto_attempts_charge(&a, 5001), 0);
    logto_attempts_expire(&a, 5000, 3600);
    CHECK_INT(a.n_failures, 2);
    CHECK_INT(a.failures[1], 5000);
    logto_attempts_refund(&a, 5001);
    CHECK_INT(a.n_failures, 1);
    CHECK_INT(a.failures[0], 4000);

    /* Times in the future (a clock set back) count as now, so they do not lock for longer. */
    a = (struct logto_attempts){ 0 };
    for (int i = 0; i < 3; i++)
        logto_attempts_charge(&a, 999999);
    logto_attempts_expire(&a, 5000, 3600);
    CHECK_INT(a.n_failures, 3);
    CHECK_INT(logto_attempts_host_wait(&a, 5000, 3, 3600), 3600);

    /* A limit below 1 (a hand-built configuration) counts as 1. */
    CHECK_INT(logto_attempts_host_wait(&a, 5000, 0, 3600), 3600);

    /* Full: never more than LOGTO_ATTEMPTS_MAX. */
    a = (struct logto_attempts){ 0 };
    for (int i = 0; i < LOGTO_ATTEMPTS_MAX; i++)
        CHECK_INT(logto_attempts_charge(&a, i + 1), 0);
    CHECK_INT(logto_attempts_charge(&a, 1000), -1);
}

static void test_offline_wait(void)
{
    struct logto_attempts a = { .offline_failed_at = 10000 };
    struct logto_service s = { .offline_delay_after = 3,
                               .offline_delay = 30,
                               .offline_lock_after = 10 };

    for (a.offline_failures = 0; a.offline_failures < 3; a.offline_failures++)
        CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 0);
    /* 30 s after the third, doubling: 60, 120, ... */
    a.offline_failures = 3;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 30);
    CHECK_INT(logto_attempts_offline_wait(&a, 10029, &s), 1);
    CHECK_INT(logto_attempts_offline_wait(&a, 10030, &s), 0);
    a.offline_failures = 4;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 60);
    a.offline_failures = 9;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 1920);
    a.offline_failures = 10;
    CHECK_INT(logto_attempts_offline_wait(&a, 99999999, &s), -1);
    /* The wait stops growing at an hour. */
    s.offline_lock_after = 100;
    a.offline_failures = 99;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), LOGTO_OFFLINE_DELAY_MAX);
    /* A last failure in the future counts as now. */
    a.offline_failures = 3;
    a.offline_failed_at = 50000;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 30);
    /* No delay configured: only the switch-off. */
    s.offline_delay = 0;
    CHECK_INT(logto_attempts_offline_wait(&a, 10000, &s), 0);
}

/* ------------------------------------------------------------------------------------------ */

static void test_lockout_steps(void)
{
    struct logto_error err = { 0 };
    struct logto_attempts a;
    int64_t at[4] = { 0 };

    setup();
    clock_now = 1700000000;
    /* Three attempts refused by the provider, a minute apart: the fourth is refused here. */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[i], &err), 0);
        logto_attempts_finish(&ctx, "bob", at[i], -LOGTO_E_DENIED, NULL);
        clock_now += 60;
    }
    log_text[0] = '\0';
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[3], &err), -LOGTO_E_LOCKED);
    CHECK_CONTAINS(err.message, "too many failed sign-in attempts for bob on this host");
    CHECK_CONTAINS(err.message, "try again in 57 minutes");
    CHECK_CONTAINS(log_text, "auth-host-lockout user=bob failures=3 retry_in=3420");
    /* Other users are not affected. */
    CHECK_INT(logto_attempts_begin(&ctx, "alice", &at[3], &err), 0);
    logto_attempts_finish(&ctx, "alice", at[3], 0, NULL);

    /* Once the first leaves the window, one more try. */
    clock_now = 1700000000 + 3600;
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[3], &err), 0);
    /* No answer from the provider: given back. */
    logto_attempts_finish(&ctx, "bob", at[3], -LOGTO_E_UNREACHABLE, NULL);
    CHECK_INT(load("bob", &a), 0);
    CHECK_INT(a.n_failures, 2); /* the first left the window; the one given back is gone */
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[3], &err), 0);
    /* A success is not counted, and does not erase the failures before it (Logto's sentinel
     * does not either): one more failure locks again. */
    logto_attempts_finish(&ctx, "bob", at[3], 0, NULL);
    CHECK_INT(load("bob", &a), 0);
    CHECK_INT(a.n_failures, 2);
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[0], &err), 0);
    logto_attempts_finish(&ctx, "bob", at[0], -LOGTO_E_DENIED, NULL);
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[3], &err), -LOGTO_E_LOCKED);
    logto_attempts_online(&ctx, "bob"); /* a device-flow sign-in: no change either */
    CHECK_INT(logto_attempts_begin(&ctx, "bob", &at[3], &err), -LOGTO_E_LOCKED);

    /* Not a valid name: the store refuses it before any file is made. */
    CHECK_INT(logto_attempts_begin(&ctx, "../etc", &at[0], &err), -LOGTO_E_INVAL);
}

/* Concurrent attempts (several su at once) are counted exactly: none is lost, and never more
 * than the limit gets through. */
static void test_concurrent(void)
{
    enum { N = 12 };
    struct logto_attempts a;
    pid_t pids[N];
    int passed = 0;

    setup();
    clock_now = 1800000000;
    cfg.host_lockout_attempts = 5;
    fflush(NULL);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            struct logto_error e = { 0 };
            int64_t at;
            int r = logto_attempts_begin(&ctx, "carol", &at, &e);
            if (r == 0) {
                usleep(20000); /* the provider takes its time: the others overlap */
                logto_attempts_finish(&ctx, "carol", at, -LOGTO_E_DENIED, NULL);
            }
            _exit(r == 0 ? 0 : r == -LOGTO_E_LOCKED ? 1 : 2);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
        passed += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    CHECK_INT(passed, 5);
    CHECK_INT(load("carol", &a), 0);
    CHECK_INT(a.n_failures, 5);

    /* Below the limit every one of them is in the file. */
    cfg.host_lockout_attempts = 100;
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            struct logto_error e = { 0 };
            int64_t at;
            _exit(logto_attempts_begin(&ctx, "dave", &at, &e) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(load("dave", &a), 0);
    CHECK_INT(a.n_failures, N);
    cfg.host_lockout_attempts = 3;
}

/* A file that cannot be used never resets the count: the sign-in is refused. */
static void test_bad_files(void)
{
    static const char *const texts[] = {
        "",
        "{\"version\":1,\"failures\":[1,2],\"offline_failures\":0,\"offline_fa", /* torn */
        "{\"version\":2,\"failures\":[],\"offline_failures\":0,\"offline_failed_at\":0}",
        "{\"version\":1,\"failures\":[-1],\"offline_failures\":0,\"offline_failed_at\":0}",
        "{\"version\":1,\"failures\":[\"x\"],\"offline_failures\":0,\"offline_failed_at\":0}",
        "{\"version\":1,\"failures\":[],\"offline_failures\":-3,\"offline_failed_at\":0}",
        "{\"version\":1,\"failures\":[],\"offline_failures\":0,\"offline_failed_at\":0,\"x\":1}",
        "{\"version\":1,\"offline_failures\":0,\"offline_failed_at\":0}",
        "[]",
    };
    struct logto_error err = { 0 };
    char path[400];
    int64_t at;

    setup();
    attempts_path("erin", path, sizeof(path));
    for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
        unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        CHECK(fd >= 0 && write(fd, texts[i], strlen(texts[i])) == (ssize_t)strlen(texts[i]));
        close(fd);
        log_text[0] = '\0';
        CHECK_INT(logto_attempts_begin(&ctx, "erin", &at, &err), -LOGTO_E_LOCKED);
        CHECK_CONTAINS(err.message, "cannot be used");
        CHECK_CONTAINS(log_text, "attempts-unreadable user=erin reason=");
        CHECK_CONTAINS(log_text, "erin.attempts");
    }
    /* A mode open to others, a symbolic link: refused the same way. */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    const char *ok =
        "{\"version\":1,\"failures\":[],\"offline_failures\":0,\"offline_failed_at\":0}";
    CHECK(fd >= 0 && write(fd, ok, strlen(ok)) == (ssize_t)strlen(ok));
    close(fd);
    CHECK_INT(logto_attempts_begin(&ctx, "erin", &at, &err), 0);
    logto_attempts_finish(&ctx, "erin", at, 0, NULL);
    chmod(path, 0644);
    CHECK_INT(logto_attempts_begin(&ctx, "erin", &at, &err), -LOGTO_E_LOCKED);
    unlink(path);
    CHECK(symlink("/dev/null", path) == 0);
    CHECK_INT(logto_attempts_begin(&ctx, "erin", &at, &err), -LOGTO_E_LOCKED);
    unlink(path);
    /* Removed by the administrator: a fresh start. */
    CHECK_INT(logto_attempts_begin(&ctx, "erin", &at, &err), 0);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
}

/* ------------------------------------------------------------------------------------------ */

static void save_record_with_verifier(const char *user, const char *password)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = logto_record_new();
    _cleanup_secret_ char *hash = NULL;
    struct logto_error err = { 0 };

    CHECK_INT(logto_verifier_create(password, &hash, &err), 0);
    rec->name = strdup(user);
    rec->sub = strdup("sub-of-frank");
    rec->uid = 2000000123;
    logto_record_set_verifier(rec, hash);
    rec->verifier_at = clock_now;
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    CHECK_INT(logto_store_lock(s, user, 1000, &lock, &err), 0);
    CHECK_INT(logto_store_save(lock, rec, &err), 0);
}

static bool has_verifier(const char *user)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error err = { 0 };

    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    CHECK_INT(logto_store_read(s, user, &rec, &err), 0);
    return rec && rec->verifier && rec->verifier_at;
}

/* The provider's "no" removes the verifier at once; other outcomes keep it. */
static void test_verifier_removed(void)
{
    struct logto_error err = { 0 };
    int64_t at;

    setup();
    save_record_with_verifier("frank", "frank-pass-1");
    static const int kept[] = { 0, -LOGTO_E_UNREACHABLE, -LOGTO_E_PROTOCOL, -LOGTO_E_MFA };
    for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
        CHECK_INT(logto_attempts_begin(&ctx, "frank", &at, &err), 0);
        logto_attempts_finish(&ctx, "frank", at, kept[i], "frank-pass-1");
        CHECK(has_verifier("frank"));
    }
    /* Somebody else's wrong password: the verifier stays. */
    CHECK_INT(logto_attempts_begin(&ctx, "frank", &at, &err), 0);
    logto_attempts_finish(&ctx, "frank", at, -LOGTO_E_DENIED, "not-franks-password");
    CHECK(has_verifier("frank"));
    log_text[0] = '\0';
    CHECK_INT(logto_attempts_begin(&ctx, "frank", &at, &err), 0);
    logto_attempts_finish(&ctx, "frank", at, -LOGTO_E_DENIED, "frank-pass-1");
    CHECK(!has_verifier("frank"));
    CHECK_CONTAINS(log_text, "verifier-removed user=frank error=denied");
    /* Suspended or locked at the provider: removed as well. */
    save_record_with_verifier("frank", "frank-pass-1");
    CHECK_INT(logto_attempts_begin(&ctx, "frank", &at, &err), 0);
    logto_attempts_finish(&ctx, "frank", at, -LOGTO_E_SUSPENDED, "not-franks-password");
    CHECK(!has_verifier("frank"));
    logto_attempts_online(&ctx, "frank");
}

static int offline(const char *user, const char *password, struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    int r = logto_store_open(&ctx, &s, err);

    if (r >= 0)
        r = logto_store_lock(s, user, 1000, &lock, err);
    if (r >= 0)
        r = logto_store_load(lock, &rec, err);
    if (r >= 0)
        r = logto_attempts_offline_check(&ctx, &svc, lock, user, password, rec->verifier, err);
    return r;
}

static void test_offline_limits(void)
{
    struct logto_error err = { 0 };
    struct logto_attempts a;
    int64_t at;

    setup();
    clock_now = 1900000000;
    save_record_with_verifier("gina", "gina-pass-1");
    CHECK_INT(offline("gina", "gina-pass-1", &err), 0);
    /* Three wrong passwords are answered at once. */
    for (int i = 0; i < 3; i++) {
        log_text[0] = '\0';
        CHECK_INT(offline("gina", "guess", &err), -LOGTO_E_DENIED);
        CHECK_CONTAINS(err.message, "wrong password (checked offline");
    }
    CHECK_CONTAINS(log_text, "auth-offline-failed user=gina failures=3");
    /* The fourth must wait 30 s, even with the right password (not checked). */
    log_text[0] = '\0';
    CHECK_INT(offline("gina", "gina-pass-1", &err), -LOGTO_E_LOCKED);
    CHECK_CONTAINS(err.message, "try again in 30 seconds");
    CHECK_CONTAINS(log_text, "auth-offline-delay user=gina failures=3 retry_in=30");
    /* Then 60, 120, ... until the tenth switches offline sign-in off. */
    for (int i = 3; i < 10; i++) {
        clock_now += LOGTO_OFFLINE_DELAY_MAX;
        CHECK_INT(offline("gina", "guess", &err), -LOGTO_E_DENIED);
    }
    clock_now += LOGTO_OFFLINE_DELAY_MAX * 10;
    log_text[0] = '\0';
    CHECK_INT(offline("gina", "gina-pass-1", &err), -LOGTO_E_LOCKED);
    CHECK_CONTAINS(err.message, "offline sign-in of gina is off after 10 wrong passwords");
    CHECK_CONTAINS(log_text, "auth-offline-locked user=gina failures=10");
    /* An online sign-in turns it back on: with a password, or with the device flow. */
    CHECK_INT(logto_attempts_begin(&ctx, "gina", &at, &err), 0);
    logto_attempts_finish(&ctx, "gina", at, 0, NULL);
    CHECK_INT(load("gina", &a), 0);
    CHECK_INT(a.offline_failures, 0);
    CHECK_INT(a.n_failures, 0);
    CHECK_INT(offline("gina", "gina-pass-1", &err), 0);
    for (int i = 0; i < 10; i++, clock_now += LOGTO_OFFLINE_DELAY_MAX)
        CHECK_INT(offline("gina", "guess", &err), -LOGTO_E_DENIED);
    CHECK_INT(offline("gina", "gina-pass-1", &err), -LOGTO_E_LOCKED);
    logto_attempts_online(&ctx, "gina");
    CHECK_INT(offline("gina", "gina-pass-1", &err), 0);
    /* A right password offline starts the count again too. */
    CHECK_INT(offline("gina", "guess", &err), -LOGTO_E_DENIED);
    CHECK_INT(offline("gina", "gina-pass-1", &err), 0);
    CHECK_INT(load("gina", &a), 0);
    CHECK_INT(a.offline_failures, 0);
}

TEST_MAIN(TEST(test_host_window), TEST(test_offline_wait), TEST(test_lockout_steps),
          TEST(test_concurrent), TEST(test_bad_files), TEST(test_verifier_removed),
          TEST(test_offline_limits))
