/* SPDX-License-Identifier: MIT */
/*
 * The snapshot reader: hashes against published vectors, lookups of every kind, refusal of
 * every kind of damaged or unsafe file (whole, never half-used), replacement noticed through
 * the stale word and through the inode, and mappings kept alive by their references.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "hash.h"
#include "snapshot.h"

#include "../lib/check.h"
#include "../lib/nss_fixture.h"

static char *dir, *path;

static void setup(void)
{
    struct logto_directory *d = fx_sample();
    struct logto_error err = { 0 };

    dir = fx_tmpdir("snap");
    path = fx_path(dir, LOGTO_SNAPSHOT_NAME);
    if (!d || !dir || !path || logto_snapshot_write(path, d, &err) < 0) {
        fprintf(stderr, "fixture: %s\n", err.message);
        exit(99);
    }
    logto_directory_free(d);
}

static void write_variant(const char *p, const char *gecos);

/* ---------------------------------------------------------------- hashes */

static void test_xxh64_vectors(void)
{
    static const char quick[] =
        "The quick brown fox jumps over the lazy dog, twice over and then some.";
    CHECK(logto_xxh64("", 0, 0) == UINT64_C(0xef46db3751d8e999));
    CHECK(logto_xxh64("a", 1, 0) == UINT64_C(0xd24ec4f1a98c6e5b));
    CHECK(logto_xxh64("abc", 3, 0) == UINT64_C(0x44bc2cf5ad770999));
    CHECK(logto_xxh64("xxhash", 6, 0) == UINT64_C(0x32dd38952c4bc720));
    CHECK(logto_xxh64("", 0, UINT64_C(0x1234567890abcdef)) == UINT64_C(0xa2f5c44d0f46c872));
    /* 70 bytes: two 32-byte stripes, then the 8-, 4- and 1-byte tails (from xxhsum -H1). */
    CHECK(logto_xxh64(quick, strlen(quick), 0) == UINT64_C(0x0c14365c6ca82405));
}

/* FIPS 180-4 / NIST CSRC example vectors, and a split update across the block boundary. */
static void test_sha256_vectors(void)
{
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
          "rlmnopqrsmnopqrstnopqrstu",
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t md[LOGTO_SHA256_SIZE];
        char hex[2 * LOGTO_SHA256_SIZE + 1];
        struct logto_sha256 s;
        size_t len = strlen(v[i].in), half = len / 2;

        logto_sha256_init(&s);
        logto_sha256_update(&s, v[i].in, half);
        logto_sha256_update(&s, v[i].in + half, len - half);
        logto_sha256_final(&s, md);
        for (int k = 0; k < LOGTO_SHA256_SIZE; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        CHECK_STR(hex, v[i].hex);
    }
    /* One million 'a' (FIPS 180-2 appendix B.3). */
    {
        uint8_t md[LOGTO_SHA256_SIZE], a[1000];
        char hex[2 * LOGTO_SHA256_SIZE + 1];
        struct logto_sha256 s;
        memset(a, 'a', sizeof(a));
        logto_sha256_init(&s);
        for (int k = 0; k < 1000; k++)
            logto_sha256_update(&s, a, sizeof(a));
        logto_sha256_final(&s, md);
        for (int k = 0; k < LOGTO_SHA256_SIZE; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
}

static void test_siphash_vectors(void)
{
    /* The reference vectors: key 00..0f, message 00..len-1. */
    static const uint64_t want[] = {
        UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd), UINT64_C(0x0d6c8009d9a94f5a),
        UINT64_C(0x85676696d7fb7e2d), UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
        UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137), UINT64_C(0x93f5f5799a932462),
        UINT64_C(0x9e0082df0ba9e4b0), UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
        UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90), UINT64_C(0xf723ca908e7af2ee),
        UINT64_C(0xa129ca6149be45e5), UINT64_C(0x3f2acc7f57c29bdb),
    };
    uint8_t key[16], msg[64];

    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (size_t len = 0; len < sizeof(want) / sizeof(want[0]); len++)
        CHECK(logto_siphash24(msg, len, key) == want[len]);
    CHECK(logto_siphash24(msg, 63, key) == UINT64_C(0x958a324ceb064572));
}

/* ---------------------------------------------------------------- lookups */

static void test_lookups(void)
{
    _cleanup_snapshot_ struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    struct logto_snap_user u;
    struct logto_snap_group g;
    uint32_t len;

    CHECK_INT(logto_snapshot_open(path, &s, &err), 0);
    if (!s)
        return;
    CHECK_INT(logto_snapshot_n_users(s), 3);
    CHECK_INT(logto_snapshot_n_groups(s), 7);
    CHECK_INT(logto_snapshot_generation(s), 1);
    CHECK_INT(logto_snapshot_created_at(s), 1700000000);
    CHECK(!logto_snapshot_is_stale(s));

    CHECK_INT(logto_snapshot_user_by_name(s, "alice", &u), 0);
    CHECK_STR(u.name, "alice");
    CHECK_INT(u.name_len, 5);
    CHECK_INT(u.uid, 10001);
    CHECK_INT(u.gid, 10001);
    CHECK_STR(u.gecos, "Alice Liddell");
    CHECK_INT(u.gecos_len, 13);
    CHECK_STR(u.home, "/home/alice");
    CHECK_STR(u.shell, "/bin/bash");
    const char *sub = NULL;
    CHECK_INT(logto_snapshot_user_sub(s, &u, &sub), 0);
    CHECK_STR(sub, "sub-alice");
    CHECK_INT(u.updated_at, 1700010001);
    CHECK_INT(u.n_gids, 2);
    const uint32_t *gids = NULL;
    CHECK_INT(logto_snapshot_user_gids(s, &u, &gids), 0);
    CHECK(u.n_gids == 2 && gids && gids[0] == 20001 && gids[1] == 20002);

    /* Suspended users stay resolvable; PAM is what denies them. */
    CHECK_INT(logto_snapshot_user_by_uid(s, 10002, &u), 0);
    CHECK_STR(u.name, "bob");
    CHECK_INT(u.flags, LOGTO_USER_SUSPENDED);
    CHECK_STR(u.gecos, "");
    CHECK_INT(u.n_gids, 1);

    CHECK_INT(logto_snapshot_user_by_name(s, "mallory", &u), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_snapshot_user_by_name(s, "alic", &u), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_snapshot_user_by_uid(s, 10009, &u), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_snapshot_user_by_uid(s, 0, &u), -LOGTO_E_NOTFOUND);

    CHECK_INT(logto_snapshot_group_by_name(s, "developers", &g), 0);
    CHECK_INT(g.gid, 20001);
    CHECK_INT(g.kind, LOGTO_GROUP_ROLE);
    CHECK_INT(g.n_members, 2);
    CHECK_STR(logto_snapshot_group_member(s, &g, 0, &len), "alice");
    CHECK_INT(len, 5);
    CHECK_STR(logto_snapshot_group_member(s, &g, 1, NULL), "bob");
    CHECK(logto_snapshot_group_member(s, &g, 2, NULL) == NULL);
    const uint32_t *members = NULL;
    CHECK_INT(logto_snapshot_group_members(s, &g, &members), 0);
    CHECK(members && members[0] == 0 && members[1] == 1); /* alice and bob, by position */

    CHECK_INT(logto_snapshot_group_by_gid(s, 20003, &g), 0);
    CHECK_STR(g.name, "acme_admin");
    const char *source = NULL;
    CHECK_INT(logto_snapshot_group_source(s, &g, &source), 0);
    CHECK_STR(source, "org_1234:admin");
    CHECK_INT(logto_snapshot_group_by_gid(s, 10003, &g), 0);
    CHECK_STR(g.name, "carol");
    CHECK_INT(g.kind, LOGTO_GROUP_PRIVATE);
    CHECK_INT(g.n_members, 0);
    CHECK_INT(logto_snapshot_group_by_name(s, "empty", &g), 0);
    CHECK_INT(g.n_members, 0);
    CHECK_INT(logto_snapshot_group_by_name(s, "nogroup", &g), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_snapshot_group_by_gid(s, 0, &g), -LOGTO_E_NOTFOUND);

    /* Enumeration order: by UID, then by GID. */
    static const uint32_t uids[] = { 10001, 10002, 10003 };
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_INT(logto_snapshot_user_at(s, i, &u), 0);
        CHECK_INT(u.uid, uids[i]);
        CHECK_INT(u.index, i);
    }
    CHECK_INT(logto_snapshot_user_at(s, 3, &u), -LOGTO_E_NOTFOUND);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < 7; i++) {
        CHECK_INT(logto_snapshot_group_at(s, i, &g), 0);
        CHECK(g.gid > prev);
        prev = g.gid;
    }
    CHECK_INT(logto_snapshot_group_at(s, 7, &g), -LOGTO_E_NOTFOUND);
}

/* Many entries: every one is found through every index (no lost slots, probing wraps). */
static void test_many(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    _cleanup_snapshot_ struct logto_snapshot *s = NULL;
    _cleanup_free_ char *p = fx_path(dir, "many.snapshot");
    struct logto_error err = { 0 };
    char name[32], sub[32];
    const int n = 3000;

    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        snprintf(sub, sizeof(sub), "s%d", i);
        CHECK_INT(fx_add_user(d, name, 100000 + (uint32_t)i * 7, 100000 + (uint32_t)i * 7, "", sub),
                  0);
    }
    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (!s)
        return;
    for (int i = 0; i < n; i++) {
        struct logto_snap_user u;
        struct logto_snap_group g;
        snprintf(name, sizeof(name), "u%d", i);
        CHECK_INT(logto_snapshot_user_by_name(s, name, &u), 0);
        CHECK_INT(u.uid, 100000 + i * 7);
        CHECK_INT(logto_snapshot_user_by_uid(s, 100000 + (uint32_t)i * 7, &u), 0);
        CHECK_STR(u.name, name);
        CHECK_INT(logto_snapshot_group_by_name(s, name, &g), 0);
        CHECK_INT(logto_snapshot_group_by_gid(s, 100000 + (uint32_t)i * 7, &g), 0);
        CHECK_STR(g.name, name);
        CHECK_INT(logto_snapshot_user_by_uid(s, 100001 + (uint32_t)i * 7, &u), -LOGTO_E_NOTFOUND);
    }
}

/* ---------------------------------------------------------------- refusal */

static int log_lines;
static char last_log[1100];
static void count_log(void *ud, int prio, const char *line)
{
    (void)ud;
    (void)prio;
    log_lines++;
    snprintf(last_log, sizeof(last_log), "%s", line);
}
static const struct logto_log test_log = { .fn = count_log };

/*
 * Every lookup a reader can make, on every entry: by position, by name and by ID, GID runs,
 * member runs and member names. Returns how many entries were served; each must be one of the
 * good file's (same position, same values): a damaged byte is never served.
 */
static struct logto_snapshot *good_snap;

static bool same_user(const struct logto_snap_user *a, const struct logto_snap_user *b)
{
    return a->index == b->index && a->uid == b->uid && a->gid == b->gid && a->flags == b->flags &&
           strcmp(a->name, b->name) == 0 && strcmp(a->gecos, b->gecos) == 0 &&
           strcmp(a->home, b->home) == 0 && strcmp(a->shell, b->shell) == 0 &&
           a->n_gids == b->n_gids && a->updated_at == b->updated_at;
}

static bool same_group(const struct logto_snap_group *a, const struct logto_snap_group *b)
{
    return a->index == b->index && a->gid == b->gid && a->kind == b->kind &&
           strcmp(a->name, b->name) == 0 && a->n_members == b->n_members &&
           a->member_names_size == b->member_names_size &&
           memcmp(a->member_names, b->member_names, a->member_names_size) == 0;
}

static int served_wrong;

static void check_user(const struct logto_snapshot *s, const struct logto_snap_user *u)
{
    struct logto_snap_user want;
    const uint32_t *gids, *want_gids;
    const char *sub, *want_sub;

    if (logto_snapshot_user_at(good_snap, u->index, &want) < 0 || !same_user(u, &want))
        served_wrong++;
    else if (logto_snapshot_user_sub(s, u, &sub) == 0 &&
             (logto_snapshot_user_sub(good_snap, &want, &want_sub) < 0 ||
              strcmp(sub, want_sub) != 0))
        served_wrong++;
    else if (logto_snapshot_user_gids(s, u, &gids) == 0 &&
             (logto_snapshot_user_gids(good_snap, &want, &want_gids) < 0 ||
              memcmp(gids, want_gids, u->n_gids * sizeof(*gids)) != 0))
        served_wrong++;
}

static void check_group(const struct logto_snapshot *s, const struct logto_snap_group *g)
{
    struct logto_snap_group want;
    const uint32_t *m, *want_m;
    const char *source, *want_source;

    if (logto_snapshot_group_at(good_snap, g->index, &want) < 0 || !same_group(g, &want))
        served_wrong++;
    else if (logto_snapshot_group_source(s, g, &source) == 0 &&
             (logto_snapshot_group_source(good_snap, &want, &want_source) < 0 ||
              strcmp(source, want_source) != 0))
        served_wrong++;
    else if (logto_snapshot_group_members(s, g, &m) == 0 &&
             (logto_snapshot_group_members(good_snap, &want, &want_m) < 0 ||
              memcmp(m, want_m, g->n_members * sizeof(*m)) != 0))
        served_wrong++;
    for (uint32_t k = 0; k < g->n_members; k++) {
        const char *name = logto_snapshot_group_member(s, g, k, NULL);
        if (name && strcmp(name, logto_snapshot_group_member(good_snap, &want, k, NULL)) != 0)
            served_wrong++;
    }
}

static void use_all(const struct logto_snapshot *s)
{
    uint32_t nu = logto_snapshot_n_users(good_snap), ng = logto_snapshot_n_groups(good_snap);

    for (uint32_t i = 0; i < nu; i++) {
        struct logto_snap_user want, u;
        if (logto_snapshot_user_at(good_snap, i, &want) < 0)
            continue;
        if (logto_snapshot_user_at(s, i, &u) == 0)
            check_user(s, &u);
        if (logto_snapshot_user_by_name(s, want.name, &u) == 0)
            check_user(s, &u);
        if (logto_snapshot_user_by_uid(s, want.uid, &u) == 0)
            check_user(s, &u);
    }
    for (uint32_t i = 0; i < ng; i++) {
        struct logto_snap_group want, g;
        if (logto_snapshot_group_at(good_snap, i, &want) < 0)
            continue;
        if (logto_snapshot_group_at(s, i, &g) == 0)
            check_group(s, &g);
        if (logto_snapshot_group_by_name(s, want.name, &g) == 0)
            check_group(s, &g);
        if (logto_snapshot_group_by_gid(s, want.gid, &g) == 0)
            check_group(s, &g);
    }
}

/* Through a fresh cache, the way the NSS module sees a file: open it, make every lookup, and
 * report damage found on the way the way the module does. 0, or the refusal code. */
static int cache_verdict(const char *p, struct logto_error *err)
{
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *s = NULL;
    int r;

    c.log = &test_log;
    r = logto_snapshot_cache_get(&c, &s, err);
    if (r == 0) {
        use_all(s);
        r = logto_snapshot_cache_damaged(&c, s, err);
    }
    logto_snapshot_unref(s);
    logto_snapshot_cache_reset(&c);
    pthread_mutex_destroy(&c.lock);
    return r;
}

/* The full check, on a fresh mapping. */
static int full_verdict(const char *p, struct logto_error *err)
{
    _cleanup_snapshot_ struct logto_snapshot *s = NULL;
    int r = logto_snapshot_open(p, &s, err);
    return r < 0 ? r : logto_snapshot_verify(s, err);
}

static unsigned char *good;
static size_t good_len;

static int try_bytes(const unsigned char *buf, size_t len, struct logto_error *err)
{
    _cleanup_free_ char *p = fx_path(dir, "damaged.snapshot");
    if (fx_write(p, buf, len) < 0)
        return 1;
    return cache_verdict(p, err);
}

static void test_truncated(void)
{
    struct logto_error err = { 0 };
    int refused = 0;

    /* Every length from empty to one byte short. */
    for (size_t len = 0; len < good_len; len++) {
        int r = try_bytes(good, len, &err);
        if (r != -LOGTO_E_CORRUPT)
            fprintf(stderr, "truncated at %zu: %d (%s)\n", len, r, err.message);
        refused += r == -LOGTO_E_CORRUPT;
    }
    CHECK_INT(refused, good_len);
    CHECK_INT(try_bytes(good, good_len, &err), 0);
    /* One byte too many is refused too. */
    unsigned char *longer = calloc(1, good_len + 1);
    memcpy(longer, good, good_len);
    CHECK_INT(try_bytes(longer, good_len + 1, &err), -LOGTO_E_CORRUPT);
    CHECK_CONTAINS(err.message, "size mismatch");
    free(longer);
}

/* Where a byte lies: in the header, in the region table, or in region n (>= 0). */
static long region_of(const unsigned char *b, size_t off)
{
    const struct logto_snapshot_header *h = (const void *)b;
    if (off < h->header_size)
        return -1;
    if (off >= h->tables[LOGTO_SNAP_REGIONS].offset)
        return -2;
    return (long)(off >> h->region_shift);
}

/*
 * A flipped bit anywhere: never served, and the file refused as soon as a lookup reads the
 * region it is in (at open for the header and the region table); the full check refuses every
 * flip. Regions of 64 bytes, so the sample's tables lie in many. Every bit of the header and
 * one bit of every byte after it (all tables, padding, the region table).
 */
static void test_bit_flips(void)
{
    _cleanup_free_ char *p = fx_path(dir, "flipped.snapshot");
    size_t len = 0, tried = 0, wrong = 0, unread = 0;
    _cleanup_free_ unsigned char *small = fx_regions(good, 6, &len);
    _cleanup_free_ unsigned char *buf = malloc(len);
    _cleanup_free_ bool *touched = NULL;
    struct logto_error err = { 0 };
    struct logto_snapshot *s = NULL;
    uint32_t n;

    CHECK(small && buf && fx_write(p, small, len) == 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (!s || !buf)
        return;
    /* The regions the lookups read. */
    n = logto_snapshot_n_regions(s);
    CHECK(n > 16);
    CHECK_INT(logto_snapshot_region_verified(s, 0), 0);
    use_all(s);
    touched = calloc(n, sizeof(bool));
    for (uint32_t i = 0; i < n && touched; i++)
        touched[i] = logto_snapshot_region_verified(s, i);
    logto_snapshot_unref(s);
    CHECK_INT(served_wrong, 0);

    for (size_t off = 0; off < len && touched; off++) {
        long region = region_of(small, off);
        for (int bit = 0; bit < 8; bit++) {
            if (region != -1 && bit != (int)(off % 8))
                continue;
            memcpy(buf, small, len);
            buf[off] ^= (unsigned char)(1u << bit);
            served_wrong = 0;
            if (fx_write(p, buf, len) < 0)
                continue;
            int r = cache_verdict(p, &err);
            int full = full_verdict(p, &err);
            bool must = region < 0 || touched[region];
            /* The stale word, outside the checksums: a file marked stale while still in place
             * is refused by the cache (test_damage), not by the format checks. */
            bool stale = off == offsetof(struct logto_snapshot_header, stale) && bit == 0;
            tried++;
            if (served_wrong || (full != -LOGTO_E_CORRUPT && !stale) ||
                (must && r != -LOGTO_E_CORRUPT)) {
                fprintf(stderr, "flip at %zu bit %d (region %ld): lookups %d, full %d, %d wrong\n",
                        off, bit, region, r, full, served_wrong);
                wrong++;
            }
            unread += r == 0;
        }
    }
    CHECK_INT(wrong, 0);
    CHECK(tried > len);
    /* Only padding and unused bytes are never read by a lookup. */
    CHECK(unread < tried / 10);
    unlink(p);
}

/* A file torn by an in-place copy: the new file's first bytes over the old one's. Refused. */
static void test_torn(void)
{
    _cleanup_free_ char *p = fx_path(dir, "torn.snapshot");
    _cleanup_free_ char *a_path = fx_path(dir, "torn-a.snapshot");
    _cleanup_free_ char *b_path = fx_path(dir, "torn-b.snapshot");
    unsigned char *a = NULL, *b = NULL, *buf = NULL;
    size_t a_len = 0, b_len = 0;
    struct logto_error err = { 0 };
    int wrong = 0, tried = 0;

    write_variant(a_path, "version one");
    write_variant(b_path, "version two");
    if (fx_read(a_path, &a, &a_len) < 0 || fx_read(b_path, &b, &b_len) < 0 || a_len != b_len ||
        !(buf = malloc(a_len))) {
        CHECK(!"cannot build the torn files");
        goto out;
    }
    /* Between the first and the last byte where the files differ (elsewhere a "torn" file is
     * one of the two). */
    size_t first = 0, last = a_len;
    while (first < a_len && a[first] == b[first])
        first++;
    while (last > first && a[last - 1] == b[last - 1])
        last--;
    for (size_t cut = first + 1; cut < last; cut += 7) {
        memcpy(buf, b, cut);
        memcpy(buf + cut, a + cut, a_len - cut);
        if (fx_write(p, buf, a_len) < 0)
            continue;
        tried++;
        if (cache_verdict(p, &err) != -LOGTO_E_CORRUPT ||
            full_verdict(p, &err) != -LOGTO_E_CORRUPT) {
            fprintf(stderr, "torn at %zu: not refused\n", cut);
            wrong++;
        }
    }
    CHECK_INT(wrong, 0);
    CHECK(tried > 50);
out:
    free(a);
    free(b);
    free(buf);
    unlink(p);
}

typedef void (*damage_fn)(unsigned char *buf, size_t len);

static struct logto_snapshot_header *hdr(unsigned char *buf)
{
    return (struct logto_snapshot_header *)(void *)buf;
}

static void *table(unsigned char *buf, int t)
{
    return buf + hdr(buf)->tables[t].offset;
}

static void dmg_magic(unsigned char *b, size_t n)
{
    (void)n;
    memcpy(b, "LOGTOXXX", 8);
}
static void dmg_version(unsigned char *b, size_t n)
{
    hdr(b)->version = 3;
    fx_reseal(b, n);
}
static void dmg_byte_order(unsigned char *b, size_t n)
{
    hdr(b)->byte_order = __builtin_bswap32(LOGTO_SNAPSHOT_BYTE_ORDER);
    fx_reseal(b, n);
}
static void dmg_body_checksum(unsigned char *b, size_t n)
{
    (void)n;
    struct logto_snapshot_user *u = table(b, LOGTO_SNAP_USERS);
    u[2].uid ^= 0x10; /* still a valid UID; nothing resealed */
}
static void dmg_header_checksum(unsigned char *b, size_t n)
{
    (void)n;
    hdr(b)->generation++;
}
static void dmg_local_files(unsigned char *b, size_t n)
{
    (void)n;
    hdr(b)->local_files ^= 1; /* a fingerprint the writer never recorded: nothing resealed */
}
static void dmg_offset_outside(unsigned char *b, size_t n)
{
    hdr(b)->tables[LOGTO_SNAP_GROUPS].offset = n + 8;
    fx_reseal(b, n);
}
static void dmg_size_outside(unsigned char *b, size_t n)
{
    hdr(b)->tables[LOGTO_SNAP_STRINGS].size = UINT64_MAX - 4;
    fx_reseal(b, n);
}
static void dmg_count_users(unsigned char *b, size_t n)
{
    hdr(b)->n_users++;
    fx_reseal(b, n);
}
static void dmg_count_members(unsigned char *b, size_t n)
{
    hdr(b)->n_members--;
    fx_reseal(b, n);
}
static void dmg_count_huge(unsigned char *b, size_t n)
{
    hdr(b)->n_groups = 0xffffffffu;
    fx_reseal(b, n);
}
static void dmg_overlap(unsigned char *b, size_t n)
{
    hdr(b)->tables[LOGTO_SNAP_GROUPS].offset = hdr(b)->tables[LOGTO_SNAP_USERS].offset;
    fx_reseal(b, n);
}
static void dmg_misaligned(unsigned char *b, size_t n)
{
    hdr(b)->tables[LOGTO_SNAP_STRINGS].offset += 1;
    hdr(b)->tables[LOGTO_SNAP_STRINGS].size -= 1;
    fx_reseal(b, n);
}
static void dmg_index_size(unsigned char *b, size_t n)
{
    hdr(b)->tables[LOGTO_SNAP_IDX_UID].size -= sizeof(struct logto_snapshot_slot);
    fx_reseal(b, n);
}
static void dmg_string_offset(unsigned char *b, size_t n)
{
    struct logto_snapshot_user *u = table(b, LOGTO_SNAP_USERS);
    u[1].shell = (uint32_t)hdr(b)->tables[LOGTO_SNAP_STRINGS].size;
    fx_reseal(b, n);
}
static void dmg_strings_unterminated(unsigned char *b, size_t n)
{
    struct logto_snapshot_user *u = table(b, LOGTO_SNAP_USERS);
    uint64_t last = hdr(b)->tables[LOGTO_SNAP_STRINGS].size - 1;
    u[1].gecos = (uint32_t)last; /* the last string, without its NUL */
    b[hdr(b)->tables[LOGTO_SNAP_STRINGS].offset + last] = 'x';
    fx_reseal(b, n);
}
static void dmg_member_index(unsigned char *b, size_t n)
{
    uint32_t *m = table(b, LOGTO_SNAP_MEMBERS);
    m[0] = hdr(b)->n_users;
    fx_reseal(b, n);
}
static void dmg_member_run(unsigned char *b, size_t n)
{
    struct logto_snapshot_group *g = table(b, LOGTO_SNAP_GROUPS);
    g[hdr(b)->n_groups - 1].members_count = hdr(b)->n_members + 1;
    fx_reseal(b, n);
}
/* The last group with members: its member-name list. */
static struct logto_snapshot_group *group_with_members(unsigned char *b)
{
    struct logto_snapshot_group *g = table(b, LOGTO_SNAP_GROUPS);
    for (uint32_t i = hdr(b)->n_groups; i-- > 0;)
        if (g[i].members_count > 1)
            return &g[i];
    return g;
}
static void dmg_names_outside(unsigned char *b, size_t n)
{
    group_with_members(b)->member_names = (uint32_t)hdr(b)->tables[LOGTO_SNAP_STRINGS].size - 2;
    fx_reseal(b, n);
}
static void dmg_names_count(unsigned char *b, size_t n)
{
    struct logto_snapshot_group *g = group_with_members(b);
    /* Cut the last name off: the list now ends in NUL but holds one name too few. */
    const char *names =
        (const char *)b + hdr(b)->tables[LOGTO_SNAP_STRINGS].offset + g->member_names;
    g->member_names_size = (uint32_t)(strlen(names) + 1);
    fx_reseal(b, n);
}
static void dmg_names_unterminated(unsigned char *b, size_t n)
{
    group_with_members(b)->member_names_size -= 1;
    fx_reseal(b, n);
}
static void dmg_names_empty(unsigned char *b, size_t n)
{
    group_with_members(b)->member_names_size = 0;
    fx_reseal(b, n);
}

static void dmg_gid_run(unsigned char *b, size_t n)
{
    struct logto_snapshot_user *u = table(b, LOGTO_SNAP_USERS);
    u[0].gids_first = hdr(b)->n_user_gids;
    u[0].gids_count = 1;
    fx_reseal(b, n);
}
static void dmg_slot_index(unsigned char *b, size_t n)
{
    struct logto_snapshot_slot *s = table(b, LOGTO_SNAP_IDX_GROUP_NAME);
    size_t slots = hdr(b)->tables[LOGTO_SNAP_IDX_GROUP_NAME].size / sizeof(*s);
    for (size_t i = 0; i < slots; i++)
        if (s[i].index != LOGTO_SNAPSHOT_EMPTY_SLOT) {
            s[i].index = hdr(b)->n_groups;
            break;
        }
    fx_reseal(b, n);
}
static void dmg_index_full(unsigned char *b, size_t n)
{
    struct logto_snapshot_slot *s = table(b, LOGTO_SNAP_IDX_UID);
    size_t slots = hdr(b)->tables[LOGTO_SNAP_IDX_UID].size / sizeof(*s);
    for (size_t i = 0; i < slots; i++)
        s[i].index = 0; /* no empty slot left: a probe could never end */
    fx_reseal(b, n);
}
static void dmg_reserved_uid(unsigned char *b, size_t n)
{
    struct logto_snapshot_user *u = table(b, LOGTO_SNAP_USERS);
    u[0].uid = 0;
    fx_reseal(b, n);
}
static void dmg_reserved_gid(unsigned char *b, size_t n)
{
    uint32_t *g = table(b, LOGTO_SNAP_USER_GIDS);
    g[0] = 27; /* sudo on Debian */
    fx_reseal(b, n);
}
static void dmg_kind(unsigned char *b, size_t n)
{
    struct logto_snapshot_group *g = table(b, LOGTO_SNAP_GROUPS);
    g[0].kind = 9;
    fx_reseal(b, n);
}
static void dmg_flags(unsigned char *b, size_t n)
{
    hdr(b)->flags = 0x80;
    fx_reseal(b, n);
}
static void dmg_reserved_tail(unsigned char *b, size_t n)
{
    (void)n;
    hdr(b)->reserved = 1; /* outside the header checksum: checked on its own */
}
static void dmg_stale_word(unsigned char *b, size_t n)
{
    (void)n;
    hdr(b)->stale = 7;
}
static void dmg_stale_in_place(unsigned char *b, size_t n)
{
    (void)n;
    hdr(b)->stale = LOGTO_SNAPSHOT_STALE;
}

static void test_damage(void)
{
    static const struct {
        const char *name;
        damage_fn fn;
        const char *message;
    } cases[] = {
        { "magic", dmg_magic, "bad magic" },
        { "version", dmg_version, "format version 3" },
        { "byte order", dmg_byte_order, "other byte order" },
        { "body checksum", dmg_body_checksum, "checksum mismatch" },
        { "header checksum", dmg_header_checksum, "header checksum mismatch" },
        { "local files' fingerprint", dmg_local_files, "header checksum mismatch" },
        { "offset outside", dmg_offset_outside, "outside the file" },
        { "size outside", dmg_size_outside, "outside the file" },
        { "user count", dmg_count_users, "does not match its count" },
        { "member count", dmg_count_members, "does not match its count" },
        { "huge count", dmg_count_huge, "counts out of range" },
        { "overlapping tables", dmg_overlap, "outside the file" },
        { "misaligned table", dmg_misaligned, "outside the file" },
        { "index size", dmg_index_size, "bad size" },
        { "string offset", dmg_string_offset, "points outside" },
        { "unterminated strings", dmg_strings_unterminated, "does not end inside the string" },
        { "member index", dmg_member_index, "not a user" },
        { "member run", dmg_member_run, "points outside" },
        { "gid run", dmg_gid_run, "points outside" },
        { "member names outside", dmg_names_outside, "bad member-name list" },
        { "member names count", dmg_names_count, "bad member-name list" },
        { "member names unterminated", dmg_names_unterminated, "bad member-name list" },
        { "member names missing", dmg_names_empty, "bad member-name list" },
        { "slot index", dmg_slot_index, "damaged" },
        { "full index", dmg_index_full, NULL }, /* the full check only: see below */
        { "reserved uid", dmg_reserved_uid, "reserved ID" },
        { "reserved supplementary gid", dmg_reserved_gid, "reserved" },
        { "group kind", dmg_kind, "unknown kind" },
        { "flags", dmg_flags, "reserved fields" },
        { "reserved tail", dmg_reserved_tail, "reserved fields" },
        { "stale word", dmg_stale_word, "bad stale word" },
        { "stale in place", dmg_stale_in_place, "marked stale but still in place" },
    };
    _cleanup_free_ char *p = fx_path(dir, "damaged.snapshot");
    unsigned char *buf = malloc(good_len);

    /*
     * Each damage is refused by the lookups (at open, or when an entry that reads it is served:
     * cache_verdict makes them all), with a message saying what; never served; and refused by
     * the full check. A full index (no empty slot) is seen by the full check only: probes end
     * after one turn around the table whatever the slots say, so it costs time, never data.
     */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct logto_error err = { 0 }, full_err = { 0 };
        memcpy(buf, good, good_len);
        cases[i].fn(buf, good_len);
        served_wrong = 0;
        int r = try_bytes(buf, good_len, &err);
        int full = fx_write(p, buf, good_len) < 0 ? 1 : full_verdict(p, &full_err);
        int want = cases[i].message ? -LOGTO_E_CORRUPT : 0;
        /* Marked stale in place: the cache's refusal (only a writer that replaced a file marks
         * it); the format itself is intact. */
        if (cases[i].fn == dmg_stale_in_place)
            full = -LOGTO_E_CORRUPT;
        if (r != want || (cases[i].message && !strstr(err.message, cases[i].message)) ||
            full != -LOGTO_E_CORRUPT || served_wrong)
            fprintf(stderr, "case %s: %d \"%s\"; full %d \"%s\"; %d wrong\n", cases[i].name, r,
                    err.message, full, full_err.message, served_wrong);
        CHECK_INT(r, want);
        if (cases[i].message)
            CHECK_CONTAINS(err.message, cases[i].message);
        CHECK_INT(full, -LOGTO_E_CORRUPT);
        CHECK_INT(served_wrong, 0);
    }
    free(buf);
    unlink(p);
}

/*
 * Text is checked when an entry is returned: a well-formed file whose member-name list holds
 * a name that is not a valid name serves nothing for that group, and the full read refuses it.
 */
static void test_bad_text(void)
{
    unsigned char *buf = malloc(good_len);
    _cleanup_free_ char *p = fx_path(dir, "text.snapshot");
    struct logto_snapshot *s = NULL;
    struct logto_directory *d = NULL;
    struct logto_error err = { 0 };
    struct logto_snap_group g;

    memcpy(buf, good, good_len);
    char *names = (char *)buf + hdr(buf)->tables[LOGTO_SNAP_STRINGS].offset +
                  group_with_members(buf)->member_names;
    names[0] = 'A'; /* "alice" -> "Alice" */
    fx_reseal(buf, good_len);
    CHECK_INT(fx_write(p, buf, good_len), 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (s) {
        CHECK_INT(logto_snapshot_group_by_name(s, "org-acme", &g), -LOGTO_E_CORRUPT);
        CHECK(!logto_snapshot_damaged(s, NULL)); /* that entry only */
        CHECK_INT(logto_snapshot_group_by_name(s, "developers", &g), 0);
        CHECK_INT(logto_snapshot_verify(s, &err), -LOGTO_E_CORRUPT);
        CHECK_CONTAINS(err.message, "is not fit for output");
        logto_snapshot_unref(s);
    }
    CHECK_INT(logto_snapshot_read(p, &d, &err), -LOGTO_E_CORRUPT);
    CHECK(d == NULL);
    free(buf);
}

/*
 * The text checks of gecos and home, at every byte position (they test eight bytes at a time
 * where the string table allows, then byte by byte): every forbidden byte is refused wherever
 * it sits, allowed bytes (UTF-8 included) are served, and a NUL ends the text there. The home
 * lies a few bytes before the end of the string table, so its last bytes take the byte path.
 */
static void test_text_positions(void)
{
    static const char gecos[] = "Dave Bowman, Discovery One, deck 3 (x)";
    static const unsigned char bad[] = { 0x01, 0x09, 0x0a, 0x1f, 0x7f, ':' };
    static const unsigned char fine[] = { ' ', ';', '~', 0x80, 0xc3, 0xff };
    _cleanup_free_ char *p = fx_path(dir, "text-positions.snapshot");
    struct logto_directory *d = logto_directory_new();
    struct logto_error err = { 0 };
    unsigned char *buf = NULL, *copy = NULL;
    size_t len = 0;
    int wrong = 0, tried = 0;

    if (!d || fx_add_user(d, "dave", 10004, 10004, gecos, "sub-dave") < 0 ||
        logto_snapshot_write(p, d, &err) < 0 || fx_read(p, &buf, &len) < 0 ||
        !(copy = malloc(len))) {
        CHECK(!"cannot build the text-positions snapshot");
        goto out;
    }
    const char *strings = (const char *)buf + hdr(buf)->tables[LOGTO_SNAP_STRINGS].offset;
    size_t strings_size = hdr(buf)->tables[LOGTO_SNAP_STRINGS].size;
    const char *fields[] = { memmem(strings, strings_size, gecos, sizeof(gecos)),
                             memmem(strings, strings_size, "/home/dave", 11) };
    CHECK(fields[0] && fields[1]);
    if (!fields[0] || !fields[1])
        goto out;
    CHECK(strings + strings_size - fields[1] < 40); /* near the end of the table */
    for (int f = 0; f < 2; f++) {
        size_t off = (size_t)((const unsigned char *)fields[f] - buf), flen = strlen(fields[f]);
        for (size_t k = f; k < flen; k++) { /* the home keeps its leading '/' */
            for (size_t v = 0; v < sizeof(bad) + sizeof(fine) + 1; v++) {
                unsigned char c = 0; /* the last round: a NUL */
                struct logto_snapshot *s = NULL;
                struct logto_snap_user u;
                int want = v < sizeof(bad) ? -LOGTO_E_CORRUPT : 0, r;

                if (v < sizeof(bad))
                    c = bad[v];
                else if (v < sizeof(bad) + sizeof(fine))
                    c = fine[v - sizeof(bad)];

                memcpy(copy, buf, len);
                copy[off + k] = c;
                fx_reseal(copy, len);
                if (fx_write(p, copy, len) < 0 || logto_snapshot_open(p, &s, &err) < 0) {
                    wrong++;
                    continue;
                }
                r = logto_snapshot_user_by_name(s, "dave", &u);
                tried++;
                if (r != want ||
                    (r == 0 && (f == 0 ? u.gecos_len : u.home_len) != (c ? flen : k))) {
                    fprintf(stderr, "field %d, byte %zu = 0x%02x: %d\n", f, k, c, r);
                    wrong++;
                }
                logto_snapshot_unref(s);
            }
        }
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(tried, (int)((sizeof(gecos) - 1 + 9) * (sizeof(bad) + sizeof(fine) + 1)));
out:
    logto_directory_free(d);
    free(buf);
    free(copy);
}

static void test_unsafe_files(void)
{
    _cleanup_free_ char *p = fx_path(dir, "unsafe.snapshot");
    _cleanup_free_ char *sym = fx_path(dir, "link.snapshot");
    _cleanup_free_ char *hard = fx_path(dir, "hard.snapshot");
    struct logto_error err = { 0 };

    CHECK_INT(fx_write(p, good, good_len), 0);
    CHECK_INT(cache_verdict(p, &err), 0);

    chmod(p, 0664);
    CHECK_INT(cache_verdict(p, &err), -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "writable by group or others");
    chmod(p, 0646);
    CHECK_INT(cache_verdict(p, &err), -LOGTO_E_UNSAFE);
    chmod(p, 0600); /* unreadable for others is their problem, not unsafe */
    CHECK_INT(cache_verdict(p, &err), 0);
    chmod(p, 0644);

    CHECK_INT(symlink(p, sym), 0);
    CHECK_INT(cache_verdict(sym, &err), -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "symbolic link");

    CHECK_INT(link(p, hard), 0);
    CHECK_INT(cache_verdict(p, &err), -LOGTO_E_UNSAFE);
    CHECK_CONTAINS(err.message, "hard links");
    unlink(hard);
    CHECK_INT(cache_verdict(p, &err), 0);

    /* A directory or a FIFO in its place. */
    _cleanup_free_ char *d = fx_path(dir, "dir.snapshot");
    CHECK_INT(mkdir(d, 0755), 0);
    CHECK_INT(cache_verdict(d, &err), -LOGTO_E_UNSAFE);
    rmdir(d);
    CHECK_INT(mkfifo(d, 0644), 0);
    CHECK_INT(cache_verdict(d, &err), -LOGTO_E_UNSAFE);
    unlink(d);

    /* A directory others may write to. */
    chmod(dir, 0777);
    CHECK_INT(cache_verdict(p, &err), -LOGTO_E_UNSAFE);
    chmod(dir, 0755);

    if (geteuid() == 0) {
        CHECK_INT(chown(p, 12345, 0), 0);
        CHECK_INT(cache_verdict(p, &err), -LOGTO_E_UNSAFE);
        CHECK_CONTAINS(err.message, "owned by uid 12345");
        CHECK_INT(chown(p, 0, 0), 0);
        CHECK_INT(cache_verdict(p, &err), 0);
    } else {
        fprintf(stderr, "not root: the foreign-owner case needs chown, skipped\n");
    }
    unlink(p);
    unlink(sym);
}

/* ---------------------------------------------------------------- the cache */

/* Through the cache, as the NSS module does: get, every lookup, report damage. */
static int get_and_use(struct logto_snapshot_cache *c, struct logto_error *err)
{
    struct logto_snapshot *s = NULL;
    int r = logto_snapshot_cache_get(c, &s, err);

    if (r == 0) {
        use_all(s);
        r = logto_snapshot_cache_damaged(c, s, err);
        logto_snapshot_unref(s);
    }
    return r;
}

static void test_cache_logging(void)
{
    _cleanup_free_ char *p = fx_path(dir, "logged.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    unsigned char *buf = malloc(good_len);
    dev_t dev;
    ino_t ino;

    c.log = &test_log;
    log_lines = 0;
    /* Missing: not an error worth a log line. */
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), -LOGTO_E_NOTFOUND);
    CHECK_INT(log_lines, 0);

    /* Damaged where only a lookup reads: refused by the first lookup that does, then refused
     * by the cache without being mapped again; one line per file, however often. */
    memcpy(buf, good, good_len);
    buf[hdr(buf)->tables[LOGTO_SNAP_USERS].offset + 4] ^= 1; /* alice's GID */
    CHECK_INT(fx_write(p, buf, good_len), 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), 0); /* opening reads no region */
    logto_snapshot_identity(s, &dev, &ino);
    logto_snapshot_unref(s);
    CHECK_INT(fx_mappings_of(ino), 1);
    for (int i = 0; i < 5; i++)
        CHECK_INT(get_and_use(&c, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(fx_mappings_of(ino), 0); /* let go, and not mapped again */
    CHECK_INT(log_lines, 1);
    CHECK_CONTAINS(last_log, "snapshot-refused");
    CHECK_CONTAINS(last_log, "checksum mismatch in region 0");

    /* Another bad file, refused at open: one more line. */
    memcpy(buf, good, good_len);
    buf[good_len - 3] ^= 4; /* the region table */
    CHECK_INT(fx_write(p, buf, good_len), 0);
    CHECK_INT(get_and_use(&c, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(get_and_use(&c, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(log_lines, 2);
    CHECK_CONTAINS(last_log, "region table checksum mismatch");

    /* A good file replaces it: served at once. */
    CHECK_INT(fx_write(p, good, good_len), 0);
    CHECK_INT(get_and_use(&c, &err), 0);
    CHECK_INT(log_lines, 2);
    logto_snapshot_cache_reset(&c);
    free(buf);
    unlink(p);
}

/*
 * Out of descriptors is not a bad file: the failure is reported (NOMEM: try again), neither
 * remembered nor logged, and the next call maps the file.
 */
static void test_transient(void)
{
    _cleanup_free_ char *p = fx_path(dir, "transient.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    struct rlimit saved, low;
    int fd;

    c.log = &test_log;
    log_lines = 0;
    CHECK_INT(fx_write(p, good, good_len), 0);
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
    /* Room for the directory's descriptor, not for the file's. */
    fd = dup(0);
    CHECK(fd >= 0);
    close(fd);
    low = saved;
    low.rlim_cur = (rlim_t)fd + 1;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = logto_snapshot_cache_get(&c, &s, &err);
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &saved), 0);
    CHECK_INT(r, -LOGTO_E_NOMEM);
    CHECK_CONTAINS(err.message, "Too many open files");
    CHECK_INT(log_lines, 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), 0);
    logto_snapshot_unref(s);
    logto_snapshot_cache_reset(&c);
    unlink(p);
}

/*
 * Opening reads the header and the region table only; a lookup verifies the few regions it
 * reads; the full check all of them. 1,000 users in 4 KiB regions (as written).
 */
static void test_lazy(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    _cleanup_free_ char *p = fx_path(dir, "lazy.snapshot");
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    struct logto_snap_user u;
    char name[32], sub[32];
    uint32_t n, verified = 0;

    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "user%04d", i);
        snprintf(sub, sizeof(sub), "sub-%04d", i);
        fx_add_user(d, name, 100000 + (uint32_t)i, 100000 + (uint32_t)i, "Some Body", sub);
    }
    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (!s)
        return;
    CHECK_INT(logto_snapshot_version(s), LOGTO_SNAPSHOT_VERSION);
    n = logto_snapshot_n_regions(s);
    CHECK(n > 40);
    for (uint32_t i = 0; i < n; i++)
        verified += logto_snapshot_region_verified(s, i);
    CHECK_INT(verified, 0);
    CHECK_INT(logto_snapshot_user_by_name(s, "user0500", &u), 0);
    CHECK_STR(u.home, "/home/user0500");
    for (uint32_t i = 0; i < n; i++)
        verified += logto_snapshot_region_verified(s, i);
    /* The name index slot, the record, its strings: a handful, whatever the size. */
    CHECK(verified >= 2 && verified <= 5);
    CHECK_INT(logto_snapshot_verify(s, &err), 0);
    verified = 0;
    for (uint32_t i = 0; i < n; i++)
        verified += logto_snapshot_region_verified(s, i);
    CHECK_INT(verified, n);
    logto_snapshot_unref(s);
}

/* A version-2 image as version 1 wrote it: 256-byte header, one body checksum, no regions. */
static unsigned char *to_v1(const unsigned char *v2, size_t *ret_len)
{
    size_t len = (size_t)((const struct logto_snapshot_header *)(const void *)v2)
                     ->tables[LOGTO_SNAP_REGIONS]
                     .offset;
    size_t tail = offsetof(struct logto_snapshot_header_v1, tables) +
                  LOGTO_SNAP_V1_TABLES * sizeof(struct logto_snapshot_table_ref);
    unsigned char *out = malloc(len);
    struct logto_snapshot_header_v1 *h;

    if (!out)
        return NULL;
    memcpy(out, v2, len);
    memset(out + tail, 0, sizeof(struct logto_snapshot_header) - tail);
    h = (struct logto_snapshot_header_v1 *)(void *)out;
    h->version = LOGTO_SNAPSHOT_VERSION_1;
    h->header_size = sizeof(*h);
    h->file_size = len;
    fx_reseal(out, len);
    *ret_len = len;
    return out;
}

/*
 * A host upgraded with a version-1 file: it is served (checked whole at open) and read back in
 * full; damage anywhere in it is refused at open; the next write replaces it with version 2
 * and marks it stale where version 1 keeps its stale word.
 */
static void test_version_1(void)
{
    _cleanup_free_ char *p = fx_path(dir, "v1.snapshot");
    _cleanup_free_ char *bad = fx_path(dir, "v1-bad.snapshot");
    struct logto_directory *d = NULL, *sample = fx_sample();
    struct logto_snapshot *s = NULL, *next = NULL;
    struct logto_error err = { 0 };
    size_t len = 0;
    unsigned char *v1 = to_v1(good, &len);

    CHECK(v1 && fx_write(p, v1, len) == 0);
    served_wrong = 0;
    CHECK_INT(cache_verdict(p, &err), 0);
    CHECK_INT(served_wrong, 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (!s)
        goto out;
    CHECK_INT(logto_snapshot_version(s), 1);
    CHECK_INT(logto_snapshot_n_regions(s), 0);
    CHECK_INT(logto_snapshot_generation(s), 1);
    CHECK(logto_snapshot_local_files(s) == 0); /* version 1 has none */
    CHECK(logto_snapshot_enumerate(s));        /* nor flags: it enumerates */
    CHECK_INT(logto_snapshot_verify(s, &err), 0);
    CHECK_INT(logto_snapshot_read(p, &d, &err), 0);
    CHECK(d && d->n_users == 3 && d->n_groups == 7);

    /* One flipped bit in the body: refused when opened. */
    v1[len / 2] ^= 0x10;
    CHECK_INT(fx_write(bad, v1, len), 0);
    CHECK_INT(cache_verdict(bad, &err), -LOGTO_E_CORRUPT);
    CHECK_CONTAINS(err.message, "checksum mismatch");
    unlink(bad);

    /* The next write: version 2, the next generation, the version-1 file marked stale. */
    CHECK_INT(logto_snapshot_write(p, sample, &err), 0);
    CHECK(logto_snapshot_is_stale(s));
    CHECK_INT(logto_snapshot_open(p, &next, &err), 0);
    if (next) {
        CHECK_INT(logto_snapshot_version(next), LOGTO_SNAPSHOT_VERSION);
        CHECK_INT(logto_snapshot_generation(next), 2);
        logto_snapshot_unref(next);
    }
    logto_snapshot_unref(s);
out:
    logto_directory_free(d);
    logto_directory_free(sample);
    free(v1);
    unlink(p);
}

/*
 * [sync] enumerate = no: the header flag round trip. A file written without it (every file
 * before the flag) enumerates; one written with it says so, still answers lookups, and keeps the
 * flag through a read and rewrite (sign-in rewrites what sync wrote); the writer clears it when
 * asked. Other flag bits stay refused (test_damage: flags).
 */
static void test_enumerate_flag(void)
{
    _cleanup_free_ char *p = fx_path(dir, "noenum.snapshot");
    struct logto_directory *d = fx_sample(), *back = NULL;
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    struct logto_snap_user u;
    struct logto_snap_group g;

    CHECK(logto_snapshot_enumerate(good_snap));
    CHECK_INT(logto_snapshot_flags(good_snap), 0);
    CHECK_INT(((const struct logto_snapshot_header *)(const void *)good)->flags, 0);

    logto_directory_set_enumerate(d, false);
    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (s) {
        CHECK(!logto_snapshot_enumerate(s));
        CHECK_INT(logto_snapshot_flags(s), LOGTO_SNAPSHOT_F_NO_ENUMERATE);
        CHECK_INT(logto_snapshot_verify(s, &err), 0);
        CHECK_INT(logto_snapshot_user_by_name(s, "alice", &u), 0);
        CHECK_INT(logto_snapshot_user_by_uid(s, 10001, &u), 0);
        CHECK_INT(logto_snapshot_group_by_gid(s, 20001, &g), 0);
        logto_snapshot_unref(TAKE_PTR(s));
    }
    CHECK_INT(cache_verdict(p, &err), 0);

    /* Read back and written again: the flag stays. */
    CHECK_INT(logto_snapshot_read(p, &back, &err), 0);
    CHECK(back && back->snapshot_flags == LOGTO_SNAPSHOT_F_NO_ENUMERATE);
    if (back) {
        CHECK_INT(logto_snapshot_write(p, back, &err), 0);
        CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
        CHECK(s && !logto_snapshot_enumerate(s));
        logto_snapshot_unref(TAKE_PTR(s));

        /* enumerate = yes again: cleared. */
        logto_directory_set_enumerate(back, true);
        CHECK_INT(back->snapshot_flags, 0);
        CHECK_INT(logto_snapshot_write(p, back, &err), 0);
        CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
        CHECK(s && logto_snapshot_enumerate(s));
        logto_snapshot_unref(TAKE_PTR(s));
    }
    logto_directory_free(back);
    logto_directory_free(d);
    unlink(p);
}

static void write_variant(const char *p, const char *gecos)
{
    struct logto_directory *d = fx_sample();
    struct logto_error err = { 0 };

    free(d->users[0].gecos);
    d->users[0].gecos = strdup(gecos);
    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    logto_directory_free(d);
}

static const char *alice_gecos(struct logto_snapshot *s)
{
    static struct logto_snap_user u;
    return logto_snapshot_user_by_name(s, "alice", &u) == 0 ? u.gecos : "(none)";
}

/* The writer marks the replaced file; the next get() remaps; old references stay valid. */
static void test_replace_stale(void)
{
    _cleanup_free_ char *p = fx_path(dir, "stale.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *a = NULL, *b = NULL, *again = NULL;
    struct logto_error err = { 0 };
    dev_t dev;
    ino_t ino_a, ino_b;

    write_variant(p, "version one");
    CHECK_INT(logto_snapshot_cache_get(&c, &a, &err), 0);
    if (!a)
        return;
    CHECK_STR(alice_gecos(a), "version one");
    CHECK_INT(logto_snapshot_generation(a), 1);
    logto_snapshot_identity(a, &dev, &ino_a);

    write_variant(p, "version two");
    CHECK(logto_snapshot_is_stale(a)); /* the old mapping saw the writer's mark */
    CHECK_INT(logto_snapshot_cache_get(&c, &b, &err), 0);
    if (!b)
        return;
    CHECK(a != b);
    CHECK_STR(alice_gecos(b), "version two");
    CHECK_INT(logto_snapshot_generation(b), 2);
    CHECK(!logto_snapshot_is_stale(b));
    logto_snapshot_identity(b, &dev, &ino_b);
    CHECK(ino_a != ino_b);

    /* The reference we hold still reads the old version, from a mapping that still exists. */
    CHECK_STR(alice_gecos(a), "version one");
    CHECK_INT(fx_mappings_of(ino_a), 1);
    logto_snapshot_unref(a);
    CHECK_INT(fx_mappings_of(ino_a), 0);

    /* No replacement: the same mapping again. */
    CHECK_INT(logto_snapshot_cache_get(&c, &again, &err), 0);
    CHECK(again == b);
    logto_snapshot_unref(again);
    logto_snapshot_unref(b);
    CHECK_INT(fx_mappings_of(ino_b), 1); /* the cache's own reference */
    logto_snapshot_cache_reset(&c);
    CHECK_INT(fx_mappings_of(ino_b), 0);
}

/* A writer that died between rename and marking: the re-stat notices the new inode. */
static void test_replace_inode(void)
{
    _cleanup_free_ char *p = fx_path(dir, "inode.snapshot");
    _cleanup_free_ char *next = fx_path(dir, "next.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *a = NULL, *b = NULL;
    struct logto_error err = { 0 };

    write_variant(p, "first");
    write_variant(next, "second");
    CHECK_INT(logto_snapshot_cache_get(&c, &a, &err), 0);
    CHECK_STR(alice_gecos(a), "first");
    logto_snapshot_unref(a);

    CHECK_INT(rename(next, p), 0); /* replaced, never marked */
    /* At most one second later the reader must have noticed. */
    sleep(1);
    usleep(200 * 1000);
    CHECK_INT(logto_snapshot_cache_get(&c, &b, &err), 0);
    CHECK_STR(alice_gecos(b), "second");
    CHECK(!logto_snapshot_is_stale(b));
    logto_snapshot_unref(b);

    /* With a zero interval, at the very next call. */
    logto_snapshot_cache_reset(&c);
    c.restat_interval_ns = 0;
    write_variant(next, "third");
    CHECK_INT(logto_snapshot_cache_get(&c, &a, &err), 0);
    logto_snapshot_unref(a);
    CHECK_INT(rename(next, p), 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &b, &err), 0);
    CHECK_STR(alice_gecos(b), "third");
    logto_snapshot_unref(b);

    /* Removed: unavailable, not the old data. */
    CHECK_INT(unlink(p), 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &b, &err), -LOGTO_E_NOTFOUND);
    logto_snapshot_cache_reset(&c);
}

/* Many replacements while references are held: each keeps its own version alive. */
static void test_references(void)
{
    _cleanup_free_ char *p = fx_path(dir, "refs.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *held[8] = { 0 };
    ino_t inos[8];
    dev_t dev;
    char gecos[32];
    struct logto_error err = { 0 };

    for (int i = 0; i < 8; i++) {
        snprintf(gecos, sizeof(gecos), "round %d", i);
        write_variant(p, gecos);
        CHECK_INT(logto_snapshot_cache_get(&c, &held[i], &err), 0);
        if (!held[i])
            return;
        logto_snapshot_identity(held[i], &dev, &inos[i]);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(gecos, sizeof(gecos), "round %d", i);
        CHECK_STR(alice_gecos(held[i]), gecos);
        CHECK_INT(logto_snapshot_is_stale(held[i]), i < 7);
    }
    for (int i = 0; i < 7; i++) {
        logto_snapshot_unref(held[i]);
        CHECK_INT(fx_mappings_of(inos[i]), 0);
    }
    logto_snapshot_unref(held[7]);
    CHECK_INT(fx_mappings_of(inos[7]), 1);
    logto_snapshot_cache_reset(&c);
    CHECK_INT(fx_mappings_of(inos[7]), 0);
}

/* A writer says which users are in more groups than a login carries (the primary included). */
static void test_group_overflow(void)
{
    struct logto_directory *d = fx_sample(); /* alice: 2 groups, carol: 2, bob: 1 */
    char *both[] = { fx_unconst("alice"), fx_unconst("carol"), NULL };

    fx_add_group(d, "third", 20010, LOGTO_GROUP_ROLE, "third", both);
    log_lines = 0;
    /* alice and carol: 3 supplementary + the primary = 4 */
    CHECK_INT(logto_directory_warn_group_overflow(d, 4, &test_log), 0);
    CHECK_INT(log_lines, 0);
    CHECK_INT(logto_directory_warn_group_overflow(d, 3, &test_log), 2);
    CHECK_INT(log_lines, 2);
    CHECK_CONTAINS(last_log, "directory-too-many-groups user=carol groups=4 limit=3");
    CHECK_INT(logto_directory_warn_group_overflow(d, 2, &test_log), 2); /* bob: exactly 2 */
    CHECK_INT(logto_directory_warn_group_overflow(d, 1, &test_log), 3);
    CHECK_INT(logto_directory_warn_group_overflow(d, -1, &test_log), 0);
    logto_directory_free(d);
}

static void test_missing_dir(void)
{
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    _cleanup_free_ char *p = fx_path(dir, "nodir/directory.snapshot");

    CHECK_INT(logto_snapshot_open(p, &s, &err), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_snapshot_open("relative/path", &s, &err), -LOGTO_E_INVAL);
    CHECK(s == NULL);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        TEST(test_xxh64_vectors),  TEST(test_siphash_vectors),
        TEST(test_sha256_vectors), TEST(test_lookups),
        TEST(test_many),           TEST(test_truncated),
        TEST(test_bit_flips),      TEST(test_torn),
        TEST(test_damage),         TEST(test_lazy),
        TEST(test_transient),      TEST(test_version_1),
        TEST(test_bad_text),       TEST(test_text_positions),
        TEST(test_unsafe_files),   TEST(test_cache_logging),
        TEST(test_replace_stale),  TEST(test_replace_inode),
        TEST(test_references),     TEST(test_missing_dir),
        TEST(test_group_overflow), TEST(test_enumerate_flag),
    };
    int r;

    setup();
    if (fx_read(path, &good, &good_len) < 0 || logto_snapshot_open(path, &good_snap, NULL) < 0)
        return 99;
    r = check_run_(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    free(good);
    logto_snapshot_unref(good_snap);
    fx_rmtree(dir);
    free(dir);
    free(path);
    return r;
}
