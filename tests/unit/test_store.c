/* SPDX-License-Identifier: MIT */
/* Token store: round trip, concurrent writers, corrupt and unsafe files, secrets in messages. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "memory.h"
#include "names.h"
#include "store.h"
#include "util.h"

#include "../lib/check.h"
#include "../lib/jansson_guard.h"

#define SECRET "rt-SECRET-TOKEN-XYZ"

static char state[] = "/tmp/test-store-XXXXXX";
static char tokens[300];
static struct logto_config cfg;
static struct logto_ctx ctx;

static void rm_tree(const char *dir)
{
    char cmd[600];
    /* Test-only cleanup of our own mkdtemp directory. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void cleanup(void)
{
    rm_tree(state);
}

static void setup(void)
{
    static bool done;
    if (!done) {
        if (!mkdtemp(state))
            SKIP("mkdtemp failed");
        atexit(cleanup);
        snprintf(tokens, sizeof(tokens), "%s/tokens", state);
        cfg.state_dir = state;
        ctx.cfg = &cfg;
        done = true;
    }
}

static struct logto_record *sample(const char *name)
{
    struct logto_record *rec = logto_record_new();
    json_error_t jerr;

    rec->name = strdup(name);
    rec->sub = strdup("abc123def456");
    rec->uid = 1989921815;
    /* Quotes and backslashes exercise the writer's own escaping. */
    logto_record_set_refresh_token(rec, SECRET "-\"quoted\"-\\back\\");
    rec->refresh_token_at = 1700000001;
    rec->claims = json_loads("{\"sub\":\"abc123def456\",\"username\":\"alice\","
                             "\"roles\":[\"admin\"],\"custom_data\":{\"uidNumber\":10001,"
                             "\"nested\":{\"refresh_token\":\"not-a-secret\"}},\"name\":null}",
                             0, &jerr);
    rec->claims_at = 1700000002;
    rec->auth_at = 1700000003;
    rec->auth_method = LOGTO_AUTH_EXPERIENCE;
    logto_record_set_verifier(
        rec, "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79");
    rec->verifier_at = 1700000004;
    rec->suspended = true;
    rec->refresh_failed_at = 1700000005;
    rec->refresh_error = strdup("invalid_grant");
    return rec;
}

static int save(struct logto_store *s, const struct logto_record *rec, struct logto_error *err)
{
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    int r = logto_store_lock(s, rec->name, 5000, &lock, err);
    return r < 0 ? r : logto_store_save(lock, rec, err);
}

static void test_round_trip(void)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *in = NULL, *out = NULL;
    struct logto_error err = { 0 };
    struct stat st;

    jansson_guard_install(); /* first: every jansson block of the program comes from it */
    setup();
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    if (!s)
        return;
    CHECK(stat(tokens, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);

    in = sample("alice");
    /* Neither the writer nor the reader lets jansson hold a secret (its freed buffers keep
     * what passed through them: tests/lib/jansson_guard.h). */
    jansson_guard_watch((const char *const[]){ SECRET, "zwtVrjrUCmXcyLTs6oxLTQlzif", NULL });
    CHECK_INT(save(s, in, &err), 0);
    CHECK_INT(logto_store_read(s, "alice", &out, &err), 0);
    CHECK_INT(jansson_guard_hits, 0);
    if (!out)
        return;
    CHECK_STR(out->name, "alice");
    CHECK_STR(out->sub, in->sub);
    CHECK_INT(out->uid, in->uid);
    CHECK_STR(out->refresh_token, in->refresh_token);
    CHECK_STR(out->verifier, in->verifier);
    CHECK(json_equal(out->claims, in->claims));
    CHECK_INT(out->refresh_token_at, 1700000001);
    CHECK_INT(out->claims_at, 1700000002);
    CHECK_INT(out->auth_at, 1700000003);
    CHECK_INT(out->auth_method, LOGTO_AUTH_EXPERIENCE);
    CHECK_INT(out->verifier_at, 1700000004);
    CHECK(out->suspended);
    CHECK_INT(out->refresh_failed_at, 1700000005);
    CHECK_STR(out->refresh_error, "invalid_grant");

    /* The file is valid JSON in its own right (the spliced secrets included), root 0600. */
    char path[400];
    snprintf(path, sizeof(path), "%s/alice.json", tokens);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "refresh_token")), in->refresh_token);
    CHECK_INT(json_integer_value(json_object_get(j, "version")), LOGTO_RECORD_VERSION);
    json_decref(j);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid());

    /* A record without secrets and claims, and the minimal auth method. */
    logto_record_free(TAKE_PTR(out));
    struct logto_record *min = logto_record_new();
    min->name = strdup("bob");
    min->sub = strdup("b0b");
    min->uid = 2000000000;
    CHECK_INT(save(s, min, &err), 0);
    CHECK_INT(logto_store_read(s, "bob", &out, &err), 0);
    CHECK(out && !out->refresh_token && !out->verifier && !out->claims &&
          out->auth_method == LOGTO_AUTH_NONE && !out->refresh_error);
    logto_record_free(min);
}

static void test_list_remove(void)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    _cleanup_strv_ char **names = NULL;
    struct logto_error err = { 0 };
    char path[400];

    setup();
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    if (!s)
        return;
    rec = sample("carol");
    CHECK_INT(save(s, rec, &err), 0);
    /* Files that are not records: temp files, lock files, invalid names. */
    static const char *const junk[] = {
        ".carol.json.abcdefgh", "Carol.json", "9x.json", "dave.lock", "json", ".json"
    };
    for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
        snprintf(path, sizeof(path), "%s/%s", tokens, junk[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    CHECK_INT(logto_store_list(s, &names, &err), 0);
    _cleanup_free_ char *joined = logto_strv_join(names, ",");
    CHECK(joined && strstr(joined, "carol") && !strstr(joined, "Carol") &&
          !strstr(joined, "dave") && !strstr(joined, "9x"));
    for (size_t i = 0; names && names[i]; i++)
        CHECK(logto_name_valid(names[i]));

    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    CHECK_INT(logto_store_lock(s, "carol", 1000, &lock, &err), 0);
    CHECK_INT(logto_store_remove(lock, &err), 0);
    CHECK_INT(logto_store_remove(lock, &err), -LOGTO_E_NOTFOUND);
    struct logto_record *gone = NULL;
    CHECK_INT(logto_store_load(lock, &gone, &err), -LOGTO_E_NOTFOUND);
    CHECK(gone == NULL);

    /* Names that are not valid never become file names. */
    struct logto_store_lock *bad = NULL;
    CHECK_INT(logto_store_lock(s, "../etc/shadow", 100, &bad, &err), -LOGTO_E_INVAL);
    CHECK_INT(logto_store_lock(s, "Alice", 100, &bad, &err), -LOGTO_E_INVAL);
    CHECK_INT(logto_store_read(s, "../tokens/carol", &gone, &err), -LOGTO_E_INVAL);
    CHECK(bad == NULL);

    /* A record saved under another user's lock is refused. */
    logto_record_free(TAKE_PTR(rec));
    rec = sample("erin");
    CHECK_INT(logto_store_save(lock, rec, &err), -LOGTO_E_INVAL);
}

/* ------------------------------------------------------------------------------------------ */

#define WRITERS    4
#define ITERATIONS 25

static int writer(int id)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    struct logto_error err = { 0 };

    if (logto_store_open(&ctx, &s, &err) < 0)
        return 2;
    for (int i = 0; i < ITERATIONS; i++) {
        _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
        _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
        char token[64];
        long n = 0;
        if (logto_store_lock(s, "counter", 120000, &lock, &err) < 0)
            return 3;
        int r = logto_store_load(lock, &rec, &err);
        if (r == -LOGTO_E_NOTFOUND) {
            rec = logto_record_new();
            rec->name = strdup("counter");
            rec->sub = strdup("c0unter");
            rec->uid = 1879048300;
        } else if (r < 0) {
            fprintf(stderr, "writer %d: %s\n", id, err.message);
            return 4;
        } else
            n = strtol(rec->refresh_token + 3, NULL, 10);
        /* A rotated refresh token: losing one update loses a token. */
        snprintf(token, sizeof(token), "rt-%ld", n + 1);
        if (logto_record_set_refresh_token(rec, token) < 0)
            return 5;
        rec->refresh_token_at = n + 1;
        if (logto_store_save(lock, rec, &err) < 0) {
            fprintf(stderr, "writer %d: %s\n", id, err.message);
            return 6;
        }
    }
    return 0;
}

static void test_concurrent_writers(void)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error err = { 0 };
    pid_t pids[WRITERS];

    setup();
    fflush(NULL);
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(writer(i));
    }
    for (int i = 0; i < WRITERS; i++) {
        int status = 0;
        if (pids[i] > 0) {
            CHECK(waitpid(pids[i], &status, 0) == pids[i]);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    CHECK_INT(logto_store_read(s, "counter", &rec, &err), 0);
    char want[32];
    snprintf(want, sizeof(want), "rt-%d", WRITERS * ITERATIONS);
    CHECK_STR(rec ? rec->refresh_token : NULL, want);
    CHECK_INT(rec ? rec->refresh_token_at : 0, WRITERS * ITERATIONS);

    /* A held lock makes the next taker wait, then give up with BUSY. */
    struct logto_store_lock *held = NULL, *second = NULL;
    CHECK_INT(logto_store_lock(s, "counter", 100, &held, &err), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct logto_store *cs = NULL;
        struct logto_error cerr = { 0 };
        int r = logto_store_open(&ctx, &cs, &cerr);
        if (r >= 0)
            r = logto_store_lock(cs, "counter", 200, &second, &cerr);
        logto_store_unlock(second);
        logto_store_close(cs);
        _exit(r == -LOGTO_E_BUSY ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    logto_store_unlock(held);
}

/* ------------------------------------------------------------------------------------------ */

static void write_raw(const char *name, const char *text, size_t len, mode_t mode)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", tokens, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, len) == (ssize_t)len);
    fchmod(fd, mode);
    close(fd);
}

#define GOOD_PREFIX "{\"refresh_token\":\"" SECRET "\",\"verifier\":\"$y$j9T$a$b\","
#define GOOD_REST                                                                                  \
    "\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,"                          \
    "\"claims\":{\"sub\":\"f1\"},\"auth_method\":\"device\",\"auth_at\":5}"

static void test_corrupt(void)
{
    static const char *const bad[] = {
        /* wrong types */
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":\"2000000001\"}",
        "{\"version\":1,\"name\":5,\"sub\":\"f1\",\"uid\":2000000001}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":[\"f1\"],\"uid\":2000000001}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":0}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":-5}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f:1\",\"uid\":2000000001}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"claims\":[]}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"suspended\":\"no\"}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"auth_at\":-1}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"auth_at\":1.5}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"auth_method\":"
        "\"sso\"}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"refresh_error\":"
        "\"a\\nb\"}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"refresh_token\":"
        "12345}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"verifier\":{}}",
        "{\"version\":\"1\",\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001}",
        "{\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001}",
        /* secrets: only our own escaping, printable ASCII, once */
        "{\"refresh_token\":\"" SECRET "\\n\"," GOOD_REST,
        "{\"refresh_token\":\"" SECRET "\\u0041\"," GOOD_REST,
        "{\"refresh_token\":\"\"," GOOD_REST,
        "{\"refresh_token\":\"a\"," GOOD_REST,
        "{\"refresh_token\":\"" SECRET "\",\"refresh_token\":\"" SECRET "2\"," GOOD_REST,
        "{\"refresh\\u005ftoken\":\"" SECRET "\"," GOOD_REST,
        "{\"refresh_token\":\"" SECRET "\xc3\xa9\"," GOOD_REST,
        /* text after a secret's closing quote (fuzz_record: it became part of the secret) */
        "{\"refresh_token\":\"" SECRET "\"x\"" SECRET "\"," GOOD_REST,
        "{\"verifier\":\"" SECRET "\"\"" SECRET "\"," GOOD_REST,
        /* name, version, foreign content */
        "{\"version\":1,\"name\":\"grace\",\"sub\":\"f1\",\"uid\":2000000001}",
        "{\"version\":2,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001}",
        "{\"version\":1,\"name\":\"frank\",\"sub\":\"f1\",\"uid\":2000000001,\"extra\":true}",
        GOOD_PREFIX GOOD_REST "garbage",
        GOOD_PREFIX GOOD_REST "{}",
        "[" GOOD_PREFIX GOOD_REST "]",
        "",
        "null",
        "{}",
    };
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    struct logto_error err = { 0 };

    setup();
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    if (!s)
        return;

    /* The well-formed base of these cases loads. */
    const char good[] = GOOD_PREFIX GOOD_REST;
    _cleanup_(logto_record_freep) struct logto_record *ok = NULL;
    write_raw("frank.json", good, strlen(good), 0600);
    CHECK_INT(logto_store_read(s, "frank", &ok, &err), 0);
    CHECK_STR(ok ? ok->refresh_token : NULL, SECRET);

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct logto_record *rec = NULL;
        write_raw("frank.json", bad[i], strlen(bad[i]), 0600);
        int r = logto_store_read(s, "frank", &rec, &err);
        if (r != -LOGTO_E_CORRUPT)
            fprintf(stderr, "corrupt case %zu loaded (%d): %s\n", i, r, bad[i]);
        CHECK_INT(r, -LOGTO_E_CORRUPT);
        CHECK(rec == NULL);
        CHECK(!strstr(err.message, "SECRET"));
        logto_record_free(rec);
    }

    /* Every truncation of a good record is refused, never half-used. */
    for (size_t cut = 0; cut < strlen(good); cut++) {
        struct logto_record *rec = NULL;
        write_raw("frank.json", good, cut, 0600);
        int r = logto_store_read(s, "frank", &rec, &err);
        if (r != -LOGTO_E_CORRUPT)
            fprintf(stderr, "truncated at %zu: %d\n", cut, r);
        CHECK_INT(r, -LOGTO_E_CORRUPT);
        CHECK(!strstr(err.message, "SECRET"));
        logto_record_free(rec);
    }
}

static void test_unsafe(void)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error err = { 0 };
    char path[400], other[400];

    setup();
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    if (!s)
        return;
    rec = sample("henry");
    CHECK_INT(save(s, rec, &err), 0);
    snprintf(path, sizeof(path), "%s/henry.json", tokens);

    /* Loose mode. */
    chmod(path, 0640);
    struct logto_record *got = NULL;
    CHECK_INT(logto_store_read(s, "henry", &got, &err), -LOGTO_E_UNSAFE);
    CHECK(!strstr(err.message, "SECRET"));
    chmod(path, 0600);
    CHECK_INT(logto_store_read(s, "henry", &got, &err), 0);
    logto_record_free(TAKE_PTR(got));

    /* A hard link (one file, two names). */
    snprintf(other, sizeof(other), "%s/henry2.json", tokens);
    CHECK(link(path, other) == 0);
    CHECK_INT(logto_store_read(s, "henry", &got, &err), -LOGTO_E_UNSAFE);
    unlink(other);

    /* A symlink record, pointing at a perfectly good record. */
    snprintf(other, sizeof(other), "%s/ivan.json", tokens);
    CHECK(symlink(path, other) == 0);
    CHECK_INT(logto_store_read(s, "ivan", &got, &err), -LOGTO_E_UNSAFE);
    unlink(other);
    CHECK(got == NULL);

    /* Whatever the umask, records are 0600 and the directory 0700. Under umask 0777 the new
     * directory is mode 0 until fchmod, which only root (the store's one user) can open: as
     * another user (a package build) that mask is left out. */
    logto_store_close(TAKE_PTR(s));
    static const mode_t masks[] = { 0, 022, 0777 };
    for (size_t i = 0; i < ELEMENTSOF(masks); i++) {
        if (masks[i] & 0700 && geteuid() != 0)
            continue;
        mode_t old = umask(masks[i]);
        struct stat st;
        rm_tree(tokens);
        CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
        if (s)
            CHECK_INT(save(s, rec, &err), 0);
        umask(old);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        CHECK(stat(tokens, &st) == 0 && (st.st_mode & 07777) == 0700);
        logto_store_close(TAKE_PTR(s));
    }

    /* A tokens directory open to others, or a symlink to a private one, is refused. */
    chmod(tokens, 0755);
    CHECK_INT(logto_store_open(&ctx, &s, &err), -LOGTO_E_UNSAFE);
    chmod(tokens, 0700);
    snprintf(other, sizeof(other), "%s/real-tokens", state);
    CHECK(rename(tokens, other) == 0);
    CHECK(symlink(other, tokens) == 0);
    CHECK_INT(logto_store_open(&ctx, &s, &err), -LOGTO_E_UNSAFE);
    unlink(tokens);
    CHECK(rename(other, tokens) == 0);
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
}

/* Secrets never reach an error message, whatever goes wrong with them. */
static void test_secret_messages(void)
{
    _cleanup_(logto_store_closep) struct logto_store *s = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error err = { 0 };

    setup();
    CHECK_INT(logto_store_open(&ctx, &s, &err), 0);
    if (!s)
        return;
    rec = sample("judy");
    static const char *const tokens_bad[] = { SECRET "\n", SECRET "\x01", SECRET "\xc3\xa9", "",
                                              "x" };
    for (size_t i = 0; i < ELEMENTSOF(tokens_bad); i++) {
        logto_record_set_refresh_token(rec, tokens_bad[i]);
        CHECK_INT(save(s, rec, &err), -LOGTO_E_INVAL);
        CHECK_CONTAINS(err.message, "refresh token");
        CHECK(!strstr(err.message, "SECRET"));
    }
    logto_record_set_refresh_token(rec, SECRET);
    logto_record_set_verifier(rec, "$y$\nSECRET");
    CHECK_INT(save(s, rec, &err), -LOGTO_E_INVAL);
    CHECK(!strstr(err.message, "SECRET"));
    /* Other bad fields: the message names the field, not the token. */
    logto_record_set_verifier(rec, NULL);
    rec->uid = 0;
    CHECK_INT(save(s, rec, &err), -LOGTO_E_INVAL);
    CHECK(!strstr(err.message, "SECRET"));
}

TEST_MAIN(TEST(test_round_trip), TEST(test_list_remove), TEST(test_concurrent_writers),
          TEST(test_corrupt), TEST(test_unsafe), TEST(test_secret_messages))
