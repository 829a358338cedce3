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
    CHECK_STR(u.sub, "sub-alice");
    CHECK_INT(u.updated_at, 1700010001);
    CHECK_INT(u.n_gids, 2);
    CHECK(u.n_gids == 2 && u.gids[0] == 20001 && u.gids[1] == 20002);

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

    CHECK_INT(logto_snapshot_group_by_gid(s, 20003, &g), 0);
    CHECK_STR(g.name, "acme_admin");
    CHECK_STR(g.source, "org_1234:admin");
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

/* Through a fresh cache, the way the NSS module sees a file: 0, or the refusal code. */
static int cache_verdict(const char *p, struct logto_error *err)
{
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *s = NULL;
    int r;

    c.log = &test_log;
    r = logto_snapshot_cache_get(&c, &s, err);
    logto_snapshot_unref(s);
    logto_snapshot_cache_reset(&c);
    pthread_mutex_destroy(&c.lock);
    return r;
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

static void test_bit_flips(void)
{
    unsigned char *buf = malloc(good_len);
    struct logto_error err = { 0 };
    size_t tried = 0, refused = 0;

    /* Every bit of the header, and one bit of every byte after it (all tables, padding). */
    for (size_t off = 0; off < good_len; off++) {
        for (int bit = 0; bit < 8; bit++) {
            if (off >= sizeof(struct logto_snapshot_header) && bit != (int)(off % 8))
                continue;
            memcpy(buf, good, good_len);
            buf[off] ^= (unsigned char)(1u << bit);
            int r = try_bytes(buf, good_len, &err);
            tried++;
            if (r != -LOGTO_E_CORRUPT)
                fprintf(stderr, "flip at %zu bit %d: %d (%s)\n", off, bit, r, err.message);
            refused += r == -LOGTO_E_CORRUPT;
        }
    }
    CHECK_INT(refused, tried);
    CHECK(tried > good_len);
    free(buf);
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
    hdr(b)->version = 2;
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
    b[n - 1] = 'x';
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
    hdr(b)->reserved1 = 1; /* outside the header checksum: checked on its own */
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
        { "version", dmg_version, "format version 2" },
        { "byte order", dmg_byte_order, "other byte order" },
        { "body checksum", dmg_body_checksum, "checksum mismatch" },
        { "header checksum", dmg_header_checksum, "header checksum mismatch" },
        { "offset outside", dmg_offset_outside, "outside the file" },
        { "size outside", dmg_size_outside, "outside the file" },
        { "user count", dmg_count_users, "does not match its count" },
        { "member count", dmg_count_members, "does not match its count" },
        { "huge count", dmg_count_huge, "counts out of range" },
        { "overlapping tables", dmg_overlap, "outside the file" },
        { "misaligned table", dmg_misaligned, "outside the file" },
        { "index size", dmg_index_size, "bad size" },
        { "string offset", dmg_string_offset, "points outside" },
        { "unterminated strings", dmg_strings_unterminated, "not terminated" },
        { "member index", dmg_member_index, "not a user" },
        { "member run", dmg_member_run, "points outside" },
        { "gid run", dmg_gid_run, "points outside" },
        { "member names outside", dmg_names_outside, "bad member-name list" },
        { "member names count", dmg_names_count, "bad member-name list" },
        { "member names unterminated", dmg_names_unterminated, "bad member-name list" },
        { "member names missing", dmg_names_empty, "bad member-name list" },
        { "slot index", dmg_slot_index, "damaged" },
        { "full index", dmg_index_full, "damaged" },
        { "reserved uid", dmg_reserved_uid, "reserved ID" },
        { "reserved supplementary gid", dmg_reserved_gid, "reserved" },
        { "group kind", dmg_kind, "unknown kind" },
        { "flags", dmg_flags, "reserved fields" },
        { "reserved tail", dmg_reserved_tail, "reserved fields" },
        { "stale word", dmg_stale_word, "bad stale word" },
        { "stale in place", dmg_stale_in_place, "marked stale but still in place" },
    };
    unsigned char *buf = malloc(good_len);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct logto_error err = { 0 };
        memcpy(buf, good, good_len);
        cases[i].fn(buf, good_len);
        int r = try_bytes(buf, good_len, &err);
        if (r != -LOGTO_E_CORRUPT || !strstr(err.message, cases[i].message))
            fprintf(stderr, "case %s: %d \"%s\"\n", cases[i].name, r, err.message);
        CHECK_INT(r, -LOGTO_E_CORRUPT);
        CHECK_CONTAINS(err.message, cases[i].message);
    }
    free(buf);
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
        CHECK_INT(logto_snapshot_group_by_name(s, "developers", &g), 0);
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

static void test_cache_logging(void)
{
    _cleanup_free_ char *p = fx_path(dir, "logged.snapshot");
    struct logto_snapshot_cache c = LOGTO_SNAPSHOT_CACHE_INIT(p);
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    unsigned char *buf = malloc(good_len);

    c.log = &test_log;
    log_lines = 0;
    /* Missing: not an error worth a log line. */
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), -LOGTO_E_NOTFOUND);
    CHECK_INT(log_lines, 0);

    /* Refused: one line per file, however often it is asked for. */
    memcpy(buf, good, good_len);
    buf[good_len / 2] ^= 1;
    CHECK_INT(fx_write(p, buf, good_len), 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(log_lines, 1);
    CHECK_CONTAINS(last_log, "snapshot-refused");
    CHECK_CONTAINS(last_log, "checksum mismatch");

    /* Another bad file: one more line. */
    buf[good_len / 2] ^= 1;
    buf[good_len / 3] ^= 4;
    CHECK_INT(fx_write(p, buf, good_len), 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), -LOGTO_E_CORRUPT);
    CHECK_INT(log_lines, 2);

    /* A good file replaces it: served at once. */
    CHECK_INT(fx_write(p, good, good_len), 0);
    CHECK_INT(logto_snapshot_cache_get(&c, &s, &err), 0);
    CHECK(s != NULL);
    logto_snapshot_unref(s);
    CHECK_INT(log_lines, 2);
    logto_snapshot_cache_reset(&c);
    free(buf);
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
        TEST(test_bit_flips),      TEST(test_damage),
        TEST(test_bad_text),       TEST(test_text_positions),
        TEST(test_unsafe_files),   TEST(test_cache_logging),
        TEST(test_replace_stale),  TEST(test_replace_inode),
        TEST(test_references),     TEST(test_missing_dir),
    };
    int r;

    setup();
    if (fx_read(path, &good, &good_len) < 0)
        return 99;
    r = check_run_(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    free(good);
    fx_rmtree(dir);
    free(dir);
    free(path);
    return r;
}
