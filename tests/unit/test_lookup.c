/* SPDX-License-Identifier: MIT */
/*
 * Bounded work before authentication: the lookup bucket (refill, burst, a clock stepped back),
 * the cache of answers (ttl, answers from the future, eviction, a damaged file), and the
 * device-flow slots (caps per name and per host, released by close, files removed).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "lookup.h"
#include "memory.h"
#include "slots.h"
#include "util.h"

#include "../lib/check.h"

static char state[] = "/tmp/test-lookup-XXXXXX";
static struct logto_config cfg;
static struct logto_ctx ctx;
static int64_t clock_now = 1700000000;

static int64_t test_now(void)
{
    return clock_now;
}

static void cleanup(void)
{
    char cmd[600];
    /* Test-only cleanup of our own mkdtemp directory. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", state);
}

static void setup(void)
{
    static bool done;
    if (!done) {
        if (!mkdtemp(state))
            SKIP("mkdtemp failed");
        chmod(state, 0755);
        atexit(cleanup);
        done = true;
    }
    /* Every case starts from an empty state directory. */
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_LOOKUP_FILE);
    unlink(path);
    cfg = (struct logto_config){
        .state_dir = state,
        .lookup_rate = 6, /* one token every 10 s */
        .lookup_burst = 3,
        .lookup_cache_ttl = 60,
        .max_device_flows = 2,
        .max_device_flows_per_user = 1,
    };
    ctx = (struct logto_ctx){ .cfg = &cfg, .now = test_now };
}

static int take(void)
{
    return logto_lookup_take(&ctx, NULL);
}

static void test_bucket(void)
{
    struct logto_error err = { 0 };

    setup();
    /* A burst of three, then nothing until it refills; never a wait. */
    CHECK_INT(take(), 0);
    CHECK_INT(take(), 0);
    CHECK_INT(take(), 0);
    CHECK_INT(logto_lookup_take(&ctx, &err), -LOGTO_E_BUSY);
    CHECK_CONTAINS(err.message, "lookup_rate = 6 a minute, lookup_burst = 3");
    clock_now += 9;
    CHECK_INT(take(), -LOGTO_E_BUSY);
    clock_now += 1; /* 10 s: one token */
    CHECK_INT(take(), 0);
    CHECK_INT(take(), -LOGTO_E_BUSY);
    /* A long pause refills to the burst, no further. */
    clock_now += 86400 * 30;
    for (int i = 0; i < 3; i++)
        CHECK_INT(take(), 0);
    CHECK_INT(take(), -LOGTO_E_BUSY);
    /* A clock stepped back refills nothing for the time it went back. */
    clock_now -= 3600;
    CHECK_INT(take(), -LOGTO_E_BUSY);
    clock_now += 9;
    CHECK_INT(take(), -LOGTO_E_BUSY);
    clock_now += 1;
    CHECK_INT(take(), 0);

    /* The file is root's and private: names typed at a prompt can be passwords. */
    char path[300];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_LOOKUP_FILE);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 07777, 0600);
}

static void test_cache(void)
{
    struct logto_lookup_answer a;

    setup();
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "alice", &a, NULL), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "alice", true, "e738g7numf03", NULL),
              0);
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "zelda", false, NULL, NULL), 0);
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_KEYS, "dave", false, "ndsz1n22s42x", NULL),
              0);
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "alice", &a, NULL), 0);
    CHECK(a.found);
    CHECK_STR(a.sub, "e738g7numf03");
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "zelda", &a, NULL), 0);
    CHECK(!a.found);
    CHECK_STR(a.sub, "");
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_KEYS, "dave", &a, NULL), 0);
    CHECK(!a.found);
    CHECK_STR(a.sub, "ndsz1n22s42x");
    /* Kinds are separate. */
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_KEYS, "alice", &a, NULL), -LOGTO_E_NOTFOUND);
    /* Answers are used for lookup_cache_ttl, not longer, and never from the future. */
    clock_now += 59;
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "alice", &a, NULL), 0);
    clock_now += 1;
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "alice", &a, NULL), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "bob", true, "cnicb7t6a00l", NULL), 0);
    clock_now -= 10;
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "bob", &a, NULL), -LOGTO_E_NOTFOUND);
    clock_now += 10;
    /* lookup_cache_ttl = 0: nothing is remembered. */
    cfg.lookup_cache_ttl = 0;
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "bob", &a, NULL), -LOGTO_E_NOTFOUND);
    cfg.lookup_cache_ttl = 60;
    /* Names and IDs that could break the file are refused. */
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "carol", true, "a b", NULL),
              -LOGTO_E_INVAL);
    CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "carol", true, NULL, NULL),
              -LOGTO_E_INVAL);
    CHECK_INT(
        logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, "bad name\nkeys x + 1 y", false, NULL, NULL),
        0); /* not remembered */
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_KEYS, "x", &a, NULL), -LOGTO_E_NOTFOUND);
}

static void test_eviction(void)
{
    struct logto_lookup_answer a;
    char name[32];

    setup();
    /* More names than the file holds: the oldest go, the newest stay. */
    for (int i = 0; i < LOGTO_LOOKUP_MAX_ENTRIES + 10; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        clock_now++;
        cfg.lookup_cache_ttl = 3600;
        CHECK_INT(logto_lookup_remember(&ctx, LOGTO_LOOKUP_USER, name, false, NULL, NULL), 0);
    }
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "user0", &a, NULL), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "user9", &a, NULL), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "user10", &a, NULL), 0);
    snprintf(name, sizeof(name), "user%d", LOGTO_LOOKUP_MAX_ENTRIES + 9);
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, name, &a, NULL), 0);
}

static void test_damaged(void)
{
    struct logto_lookup_answer a;
    char path[300];
    int fd;

    setup();
    CHECK_INT(take(), 0);
    CHECK_INT(take(), 0);
    CHECK_INT(take(), 0);
    CHECK_INT(take(), -LOGTO_E_BUSY);
    /* A damaged file is started afresh (only root can write it): a full bucket, no answers. */
    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_LOOKUP_FILE);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    CHECK(write(fd, "logto-lookups v1\nuser alice + 1 -\n", 34) == 34);
    close(fd);
    CHECK_INT(logto_lookup_cached(&ctx, LOGTO_LOOKUP_USER, "alice", &a, NULL), -LOGTO_E_NOTFOUND);
    CHECK_INT(take(), 0);
    /* A file others may write is refused, not used. */
    CHECK_INT(chmod(path, 0666), 0);
    CHECK_INT(take(), -LOGTO_E_UNSAFE);
    CHECK_INT(chmod(path, 0600), 0);
}

static void test_slots(void)
{
    struct logto_device_slots a = LOGTO_DEVICE_SLOTS_INIT, b = LOGTO_DEVICE_SLOTS_INIT,
                              c = LOGTO_DEVICE_SLOTS_INIT, d = LOGTO_DEVICE_SLOTS_INIT;
    struct logto_error err = { 0 };
    char path[300];

    setup();
    CHECK_INT(logto_device_slots_take(&ctx, "alice", &a, &err), 0);
    /* One per name... */
    CHECK_INT(logto_device_slots_take(&ctx, "alice", &b, &err), -LOGTO_E_BUSY);
    CHECK_CONTAINS(err.message, "1 Logto sign-in for alice is already waiting for approval");
    CHECK_INT(b.dirfd, -1);
    /* ...and two on the host. */
    CHECK_INT(logto_device_slots_take(&ctx, "bob", &b, &err), 0);
    CHECK_INT(logto_device_slots_take(&ctx, "carol", &c, &err), -LOGTO_E_BUSY);
    CHECK_CONTAINS(err.message, "2 Logto sign-ins are already waiting for approval on this host");
    /* carol's refused attempt holds nothing: her name's slot is free again. */
    logto_device_slots_release(&b);
    CHECK_INT(logto_device_slots_take(&ctx, "carol", &c, &err), 0);
    logto_device_slots_release(&a);
    logto_device_slots_release(&a); /* idempotent */
    CHECK_INT(logto_device_slots_take(&ctx, "alice", &d, &err), 0);
    logto_device_slots_release(&c);
    logto_device_slots_release(&d);
    /* Released slots leave no files behind. */
    snprintf(path, sizeof(path), "%s/%s/user.alice.0", state, LOGTO_DEVICE_SLOTS_DIR);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof(path), "%s/%s/host.0", state, LOGTO_DEVICE_SLOTS_DIR);
    CHECK(access(path, F_OK) != 0);
    /* A slot file left by a killed holder (no lock on it) is simply taken. */
    snprintf(path, sizeof(path), "%s/%s/user.erin.0", state, LOGTO_DEVICE_SLOTS_DIR);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(logto_device_slots_take(&ctx, "erin", &a, &err), 0);
    logto_device_slots_release(&a);
    CHECK(access(path, F_OK) != 0);
    /* Invalid names take no slot. */
    CHECK_INT(logto_device_slots_take(&ctx, "../x", &a, &err), -LOGTO_E_INVAL);
}

TEST_MAIN(TEST(test_bucket), TEST(test_cache), TEST(test_eviction), TEST(test_damaged),
          TEST(test_slots))
