/* SPDX-License-Identifier: MIT */
/*
 * The directory snapshot reader: O(1) checks when a file is opened, then each lookup verifies
 * the regions it reads and checks the entry it serves (the format and the reasons are in
 * snapshot.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "names.h"
#include "snapshot.h"
#include "util.h"

enum { IDX_USER_NAME, IDX_UID, IDX_GROUP_NAME, IDX_GID, N_INDEXES };

#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)

/* What a lookup found wrong with the file, kept as (kind << 32 | detail) in the damage word. */
enum damage {
    DMG_NONE,
    DMG_REGION,        /* detail: the region */
    DMG_USER_OUTSIDE,  /* detail: the user record */
    DMG_USER_RESERVED, /* ... */
    DMG_USER_GIDS,     /* ... */
    DMG_GROUP_OUTSIDE, /* detail: the group record */
    DMG_GROUP_KIND,    /* ... */
    DMG_GROUP_NAMES,   /* ... */
    DMG_GROUP_MEMBERS, /* ... */
    DMG_SLOT,          /* detail: the index */
    DMG_STRING,        /* detail: the string's offset */
};

/*
 * The only mutable part of a mapping: which regions are verified, which entries were checked
 * whole (record, strings, text: later lookups of the same immutable bytes only fill the view),
 * and the first damage found. Atomic words; a mapping is shared by every thread of a process.
 */
struct verification {
    uint64_t damage;
    unsigned long *users_ok, *groups_ok; /* bit i: entry i checked whole */
    unsigned long *gids_ok;              /* bit i: user i's GID run checked */
    unsigned long bits[]; /* bit i: region i verified; then users_ok, groups_ok, gids_ok */
};

static inline bool bit_test(const unsigned long *words, uint64_t i)
{
    return (__atomic_load_n(&words[i / WORD_BITS], __ATOMIC_RELAXED) >> (i % WORD_BITS)) & 1;
}

/* Relaxed is enough: what a bit stands for was checked on immutable bytes; a racing thread at
 * worst checks them again. */
static inline void bit_set(unsigned long *words, uint64_t i)
{
    __atomic_fetch_or(&words[i / WORD_BITS], 1UL << (i % WORD_BITS), __ATOMIC_RELAXED);
}

struct logto_snapshot {
    unsigned long refs; /* atomic */
    void *map;          /* NULL: an image in memory, not ours to unmap */
    const uint8_t *base;
    size_t size;
    struct logto_file_identity id;
    const uint32_t *stale; /* in the header */
    uint32_t version;
    uint64_t generation;
    uint64_t local_files;
    uint32_t flags;
    int64_t created_at;
    uint8_t hash_key[16];
    const struct logto_snapshot_user *users;
    const struct logto_snapshot_group *groups;
    const uint32_t *members, *user_gids;
    const struct logto_snapshot_slot *idx[N_INDEXES];
    uint32_t idx_mask[N_INDEXES];
    const char *strings, *strings_end;
    uint32_t strings_size;
    uint32_t n_users, n_groups, n_members, n_user_gids;
    /* Regions: version 2 only. A version-1 file was verified whole when opened. */
    uint32_t shift, n_regions;
    uint64_t header_size, data_end;
    const uint64_t *region_sums;
    struct verification *v;
    char path[];
};

uint64_t logto_snapshot_hash_name(const uint8_t key[16], const char *name, size_t len)
{
    return logto_siphash24(name, len, key);
}

uint64_t logto_snapshot_hash_id(const uint8_t key[16], uint32_t id)
{
    /* Fixed byte order, so the value does not depend on the host. */
    const uint8_t b[4] = { (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
                           (uint8_t)(id >> 24) };
    return logto_siphash24(b, sizeof(b), key);
}

/* Region i: [i << shift, (i + 1) << shift), less the header and what lies past data_end. */
static void region_bounds(uint64_t i, uint32_t shift, uint64_t header_size, uint64_t data_end,
                          uint64_t *lo, uint64_t *hi)
{
    *lo = i << shift;
    *hi = (i + 1) << shift;
    if (*lo < header_size)
        *lo = header_size;
    if (*hi > data_end)
        *hi = data_end;
    if (*hi < *lo)
        *hi = *lo;
}

static uint64_t region_sum(const uint8_t *base, uint32_t shift, uint64_t header_size,
                           uint64_t data_end, uint64_t i)
{
    uint64_t lo, hi;

    region_bounds(i, shift, header_size, data_end, &lo, &hi);
    return logto_xxh64(base + lo, hi - lo, i);
}

uint64_t logto_snapshot_region_checksum(const uint8_t *file, const struct logto_snapshot_header *h,
                                        uint32_t i)
{
    return region_sum(file, h->region_shift, h->header_size, h->tables[LOGTO_SNAP_REGIONS].offset,
                      i);
}

int logto_snapshot_seal(uint8_t *buf, size_t len)
{
    struct logto_snapshot_header *h = (void *)buf;
    struct logto_snapshot_table_ref *rt = &h->tables[LOGTO_SNAP_REGIONS];
    uint64_t n;

    if (len >= sizeof(struct logto_snapshot_header_v1) && h->version == LOGTO_SNAPSHOT_VERSION_1) {
        struct logto_snapshot_header_v1 *h1 = (void *)buf;
        h1->body_checksum = logto_xxh64(buf + sizeof(*h1), len - sizeof(*h1), 0);
        h1->header_checksum =
            logto_xxh64(h1, offsetof(struct logto_snapshot_header_v1, header_checksum), 0);
        return 0;
    }
    if (len < sizeof(*h) || h->version != LOGTO_SNAPSHOT_VERSION)
        return -LOGTO_E_INVAL;
    /* As far as the geometry allows: the fuzz target seals arbitrary bytes. */
    if (h->header_size == sizeof(*h) && h->region_shift >= LOGTO_SNAPSHOT_REGION_SHIFT_MIN &&
        h->region_shift <= LOGTO_SNAPSHOT_REGION_SHIFT_MAX && rt->offset >= sizeof(*h) &&
        rt->offset <= len && rt->offset % 8 == 0 && rt->size <= len - rt->offset &&
        rt->size % 8 == 0) {
        /* The table lies after the header, so writing it changes none of these. */
        uint64_t *sums = (void *)(buf + rt->offset), data_end = rt->offset;
        uint32_t shift = h->region_shift;
        n = (data_end + (UINT64_C(1) << shift) - 1) >> shift;
        if (n > rt->size / sizeof(uint64_t))
            n = rt->size / sizeof(uint64_t);
        for (uint64_t i = 0; i < n; i++)
            sums[i] = region_sum(buf, shift, sizeof(*h), data_end, i);
        h->regions_checksum = logto_xxh64(sums, rt->size, 0);
    }
    h->header_checksum = logto_xxh64(h, offsetof(struct logto_snapshot_header, header_checksum), 0);
    return 0;
}

/* ---------------------------------------------------------------- opening: O(1) checks */

static int corrupt(struct logto_error *err, const char *path, const char *what)
{
    return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s", path, what);
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int truncated(struct logto_error *err, const char *path, size_t size, size_t need)
{
    return logto_error_set(err, LOGTO_E_CORRUPT,
                           "%s: truncated (%zu bytes; the header alone is %zu)", path, size, need);
}

/* The header of either version, as far as its own checksum and the file's size go. */
static int check_header(const uint8_t *base, size_t size, const char *path, struct logto_error *err)
{
    const struct logto_snapshot_header *h = (const void *)base;
    const struct logto_snapshot_header_v1 *h1 = (const void *)base;
    bool v1;
    size_t need;
    uint64_t sum;
    uint32_t stale, reserved;

    if (size < offsetof(struct logto_snapshot_header, tables))
        return truncated(err, path, size, sizeof(*h));
    if (memcmp(h->magic, LOGTO_SNAPSHOT_MAGIC, sizeof(h->magic)) != 0)
        return corrupt(err, path, "not a directory snapshot (bad magic)");
    if (h->byte_order == __builtin_bswap32(LOGTO_SNAPSHOT_BYTE_ORDER))
        return corrupt(err, path, "written with the other byte order");
    if (h->byte_order != LOGTO_SNAPSHOT_BYTE_ORDER)
        return corrupt(err, path, "bad byte-order mark");
    if (h->version != LOGTO_SNAPSHOT_VERSION && h->version != LOGTO_SNAPSHOT_VERSION_1)
        return logto_error_set(err, LOGTO_E_CORRUPT,
                               "%s: format version %u, this reader reads %u and %u", path,
                               h->version, LOGTO_SNAPSHOT_VERSION_1, LOGTO_SNAPSHOT_VERSION);
    v1 = h->version == LOGTO_SNAPSHOT_VERSION_1;
    need = v1 ? sizeof(*h1) : sizeof(*h);
    if (size < need)
        return truncated(err, path, size, need);
    if (h->header_size != need)
        return corrupt(err, path, "unexpected header size");
    sum = v1 ? logto_xxh64(h1, offsetof(struct logto_snapshot_header_v1, header_checksum), 0)
             : logto_xxh64(h, offsetof(struct logto_snapshot_header, header_checksum), 0);
    if (sum != (v1 ? h1->header_checksum : h->header_checksum))
        return corrupt(err, path, "header checksum mismatch");
    stale = v1 ? h1->stale : h->stale;
    reserved = v1 ? h1->reserved1 | (uint32_t) !!h1->reserved0 : h->reserved;
    if (reserved != 0 || (h->flags & ~(v1 ? 0u : LOGTO_SNAPSHOT_F_KNOWN)) != 0)
        return corrupt(err, path, "unknown flags or reserved fields set");
    if (stale != 0 && stale != LOGTO_SNAPSHOT_STALE)
        return corrupt(err, path, "bad stale word");
    if (h->file_size != size)
        return logto_error_set(err, LOGTO_E_CORRUPT,
                               "%s: size mismatch (header says %llu bytes, file has %zu)", path,
                               (unsigned long long)h->file_size, size);
    if (h->n_users > LOGTO_SNAPSHOT_MAX_COUNT || h->n_groups > LOGTO_SNAPSHOT_MAX_COUNT ||
        h->n_members > LOGTO_SNAPSHOT_MAX_LIST || h->n_user_gids > LOGTO_SNAPSHOT_MAX_LIST)
        return corrupt(err, path, "counts out of range");
    return 0;
}

int logto_snapshot_header_peek(const void *buf, size_t len, uint64_t *ret_generation,
                               size_t *ret_stale_offset)
{
    const struct logto_snapshot_header *h = buf;
    size_t need;

    if (len < offsetof(struct logto_snapshot_header, tables) ||
        memcmp(h->magic, LOGTO_SNAPSHOT_MAGIC, sizeof(h->magic)) != 0 ||
        h->byte_order != LOGTO_SNAPSHOT_BYTE_ORDER)
        return -LOGTO_E_CORRUPT;
    if (h->version == LOGTO_SNAPSHOT_VERSION_1) {
        const struct logto_snapshot_header_v1 *h1 = buf;
        need = sizeof(*h1);
        if (len < need || h1->header_size != need ||
            logto_xxh64(h1, offsetof(struct logto_snapshot_header_v1, header_checksum), 0) !=
                h1->header_checksum)
            return -LOGTO_E_CORRUPT;
        *ret_stale_offset = offsetof(struct logto_snapshot_header_v1, stale);
    } else if (h->version == LOGTO_SNAPSHOT_VERSION) {
        need = sizeof(*h);
        if (len < need || h->header_size != need ||
            logto_xxh64(h, offsetof(struct logto_snapshot_header, header_checksum), 0) !=
                h->header_checksum)
            return -LOGTO_E_CORRUPT;
        *ret_stale_offset = offsetof(struct logto_snapshot_header, stale);
    } else {
        return -LOGTO_E_CORRUPT;
    }
    *ret_generation = h->generation;
    return 0;
}

/* The byte size a table must have, or 0 for the indexes, strings and regions (checked apart). */
static uint64_t table_expected_size(const struct logto_snapshot_header *h, int t)
{
    switch (t) {
    case LOGTO_SNAP_USERS:
        return (uint64_t)h->n_users * sizeof(struct logto_snapshot_user);
    case LOGTO_SNAP_GROUPS:
        return (uint64_t)h->n_groups * sizeof(struct logto_snapshot_group);
    case LOGTO_SNAP_MEMBERS:
        return (uint64_t)h->n_members * sizeof(uint32_t);
    case LOGTO_SNAP_USER_GIDS:
        return (uint64_t)h->n_user_gids * sizeof(uint32_t);
    default:
        return 0;
    }
}

static uint32_t index_count(const struct logto_snapshot *s, int idx)
{
    return idx == IDX_USER_NAME || idx == IDX_UID ? s->n_users : s->n_groups;
}

/* Every table 8-byte aligned, in order, inside the file, and of the size its count says. Reads
 * nothing but the header. */
static int check_geometry(const struct logto_snapshot_header *h,
                          const struct logto_snapshot_table_ref *tables, int n_tables,
                          const char *path, struct logto_error *err)
{
    uint64_t prev_end = h->header_size;

    for (int t = 0; t < n_tables; t++) {
        const struct logto_snapshot_table_ref *ref = &tables[t];
        if (ref->offset % 8 != 0 || ref->offset < prev_end || ref->offset > h->file_size ||
            ref->size > h->file_size - ref->offset)
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: table %d lies outside the file", path,
                                   t);
        prev_end = ref->offset + ref->size;
        if (t >= LOGTO_SNAP_IDX_USER_NAME && t <= LOGTO_SNAP_IDX_GID) {
            uint64_t slots = ref->size / sizeof(struct logto_snapshot_slot);
            uint32_t count = t <= LOGTO_SNAP_IDX_UID ? h->n_users : h->n_groups;
            if (ref->size % sizeof(struct logto_snapshot_slot) != 0 || !is_pow2(slots) ||
                slots < 2 || slots < 2 * (uint64_t)count || slots > (UINT64_C(1) << 31))
                return logto_error_set(err, LOGTO_E_CORRUPT, "%s: index %d has a bad size", path,
                                       t);
        } else if (t == LOGTO_SNAP_STRINGS) {
            if (ref->size == 0 || ref->size > UINT32_MAX)
                return corrupt(err, path, "string table is empty or too large");
        } else if (t != LOGTO_SNAP_REGIONS && ref->size != table_expected_size(h, t)) {
            return logto_error_set(err, LOGTO_E_CORRUPT,
                                   "%s: table %d size does not match its count", path, t);
        }
    }
    return 0;
}

/* Version 2: the region table ends the file, has one checksum per region, and matches its own
 * checksum in the header (which the header checksum covers). */
static int check_regions(struct logto_snapshot *s, const struct logto_snapshot_header *h,
                         const char *path, struct logto_error *err)
{
    const struct logto_snapshot_table_ref *rt = &h->tables[LOGTO_SNAP_REGIONS];
    uint64_t n;

    if (h->region_shift < LOGTO_SNAPSHOT_REGION_SHIFT_MIN ||
        h->region_shift > LOGTO_SNAPSHOT_REGION_SHIFT_MAX)
        return corrupt(err, path, "bad region size");
    n = (rt->offset + (UINT64_C(1) << h->region_shift) - 1) >> h->region_shift;
    if (h->n_regions != n || rt->size != n * sizeof(uint64_t) ||
        rt->offset + rt->size != h->file_size)
        return corrupt(err, path, "region table does not match the file");
    s->region_sums = (const void *)(s->base + rt->offset);
    if (logto_xxh64(s->region_sums, rt->size, 0) != h->regions_checksum)
        return corrupt(err, path, "region table checksum mismatch");
    s->shift = h->region_shift;
    s->n_regions = h->n_regions;
    s->data_end = rt->offset;
    return 0;
}

static void bind_tables(struct logto_snapshot *s, const struct logto_snapshot_header *h,
                        const struct logto_snapshot_table_ref *tables)
{
    s->stale = s->version == LOGTO_SNAPSHOT_VERSION_1
                   ? &((const struct logto_snapshot_header_v1 *)(const void *)h)->stale
                   : &h->stale;
    s->generation = h->generation;
    s->local_files = s->version == LOGTO_SNAPSHOT_VERSION_1 ? 0 : h->local_files;
    s->flags = s->version == LOGTO_SNAPSHOT_VERSION_1 ? 0 : h->flags;
    s->created_at = h->created_at;
    memcpy(s->hash_key, h->hash_key, sizeof(s->hash_key));
    s->header_size = h->header_size;
    s->n_users = h->n_users;
    s->n_groups = h->n_groups;
    s->n_members = h->n_members;
    s->n_user_gids = h->n_user_gids;
    s->users = (const void *)(s->base + tables[LOGTO_SNAP_USERS].offset);
    s->groups = (const void *)(s->base + tables[LOGTO_SNAP_GROUPS].offset);
    s->members = (const void *)(s->base + tables[LOGTO_SNAP_MEMBERS].offset);
    s->user_gids = (const void *)(s->base + tables[LOGTO_SNAP_USER_GIDS].offset);
    for (int i = 0; i < N_INDEXES; i++) {
        const struct logto_snapshot_table_ref *ref = &tables[LOGTO_SNAP_IDX_USER_NAME + i];
        s->idx[i] = (const void *)(s->base + ref->offset);
        s->idx_mask[i] = (uint32_t)(ref->size / sizeof(struct logto_snapshot_slot) - 1);
    }
    s->strings = (const char *)s->base + tables[LOGTO_SNAP_STRINGS].offset;
    s->strings_size = (uint32_t)tables[LOGTO_SNAP_STRINGS].size;
    s->strings_end = s->strings + s->strings_size;
}

/* What must hold before anything past the header is read; version 1 is checked whole. */
static int snapshot_setup(struct logto_snapshot *s, struct logto_error *err)
{
    const struct logto_snapshot_header *h = (const void *)s->base;
    const struct logto_snapshot_table_ref *tables = h->tables;
    size_t regions, users, groups;
    int r;

    r = check_header(s->base, s->size, s->path, err);
    if (r < 0)
        return r;
    s->version = h->version;
    if (s->version == LOGTO_SNAPSHOT_VERSION_1) {
        const struct logto_snapshot_header_v1 *h1 = (const void *)s->base;
        r = check_geometry(h, tables, LOGTO_SNAP_V1_TABLES, s->path, err);
        if (r < 0)
            return r;
        if (logto_xxh64(s->base + h1->header_size, s->size - h1->header_size, 0) !=
            h1->body_checksum)
            return corrupt(err, s->path, "checksum mismatch");
        /* Verified whole: one region as large as any file, its bit set below. */
        s->shift = 63;
    } else {
        r = check_geometry(h, tables, LOGTO_SNAP__TABLES, s->path, err);
        if (r < 0)
            return r;
        r = check_regions(s, h, s->path, err);
        if (r < 0)
            return r;
    }
    bind_tables(s, h, tables);
    regions = s->n_regions ? (s->n_regions + WORD_BITS - 1) / WORD_BITS : 1;
    users = (s->n_users + WORD_BITS - 1) / WORD_BITS;
    groups = (s->n_groups + WORD_BITS - 1) / WORD_BITS;
    /* 1 bit per 4 KiB and per entry: calloc hands out large sizes as untouched zero pages. */
    s->v = calloc(1, sizeof(*s->v) + (regions + 2 * users + groups) * sizeof(unsigned long));
    if (!s->v)
        return LOGTO_OOM(err);
    s->v->users_ok = s->v->bits + regions;
    s->v->groups_ok = s->v->users_ok + users;
    s->v->gids_ok = s->v->groups_ok + groups;
    if (s->n_regions == 0)
        s->v->bits[0] = 1;
    return 0;
}

/* ---------------------------------------------------------------- verification, lazily */

static bool is_damaged(const struct logto_snapshot *s)
{
    return __atomic_load_n(&s->v->damage, __ATOMIC_RELAXED) != 0;
}

/* Note what is wrong (the first finding is kept) and return false. */
static bool damage(const struct logto_snapshot *s, enum damage kind, uint64_t detail)
{
    uint64_t none = 0, code = (uint64_t)kind << 32 | (uint32_t)detail;

    __atomic_compare_exchange_n(&s->v->damage, &none, code, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    return false;
}

/* The slow path of region_ok: checksum region r, then mark it verified. */
__attribute__((noinline)) static bool region_verify(const struct logto_snapshot *s, uint64_t r)
{
    if (region_sum(s->base, s->shift, s->header_size, s->data_end, r) != s->region_sums[r])
        return damage(s, DMG_REGION, r);
    bit_set(s->v->bits, r);
    return true;
}

/* Region r verified (a version-1 mapping has one region, bit set, spanning the file). */
static inline bool region_ok(const struct logto_snapshot *s, uint64_t r)
{
    return bit_test(s->v->bits, r) || region_verify(s, r);
}

/* True when the len bytes at p (inside a table) lie in verified regions; verifies them first. */
static inline bool verified(const struct logto_snapshot *s, const void *p, size_t len)
{
    uint64_t off = (uint64_t)((const uint8_t *)p - s->base), r, last;

    if (len == 0)
        return true;
    r = off >> s->shift;
    last = (off + len - 1) >> s->shift;
    if (r == last)
        return region_ok(s, r);
    for (; r <= last; r++)
        if (!region_ok(s, r))
            return false;
    return true;
}

/* From p (before end), the end of the verified bytes: p's region verified, cut at end. */
static inline const char *verified_until(const struct logto_snapshot *s, const char *p,
                                         const char *end)
{
    uint64_t off = (uint64_t)((const uint8_t *)p - s->base), r = off >> s->shift;
    uint64_t room = ((r + 1) << s->shift) - off;

    if (!region_ok(s, r))
        return NULL;
    return room < (uint64_t)(end - p) ? p + room : end;
}

static bool run_ok(uint32_t first, uint32_t count, uint32_t total)
{
    return first <= total && count <= total - first;
}

/* ---------------------------------------------------------------- strings */

/*
 * The first byte in [p, end) that may not be in a passwd field (below 0x20, NUL included;
 * 0x7f; ':'), or end. Every entry of an enumeration passes here, so on little-endian machines
 * it tests eight bytes at a time.
 */
static inline const char *first_special(const char *s, const char *end)
{
    const unsigned char *p = (const unsigned char *)s, *e = (const unsigned char *)end;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
    for (; e - p >= 8; p += 8) {
        uint64_t w, del, colon, stop;
        memcpy(&w, p, sizeof(w));
        del = w ^ (ones * 0x7f);
        colon = w ^ (ones * ':');
        /* The high bit of each byte that is below 0x20 (NUL too), 0x7f or ':'. A borrow can
         * only set flags above a flagged byte, so the lowest flag is always a true one. */
        stop =
            (((w - ones * 0x20) & ~w) | ((del - ones) & ~del) | ((colon - ones) & ~colon)) & highs;
        if (stop)
            return (const char *)p + __builtin_ctzll(stop) / 8;
    }
#endif
    for (; p < e; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            break;
    return (const char *)p;
}

static const char *first_nul(const char *p, const char *end)
{
    const char *z = memchr(p, '\0', (size_t)(end - p));
    return z ? z : end;
}

enum text { TEXT_OK, TEXT_UNFIT, TEXT_DAMAGED };

/*
 * The string at off, read only as far as verified bytes go: TEXT_OK (NUL-terminated inside the
 * string table; for a field, without a byte a passwd field may not hold), TEXT_UNFIT (a field
 * with such a byte: the entry is not served), or TEXT_DAMAGED (noted).
 */
static enum text string_at(const struct logto_snapshot *s, uint32_t off, bool field,
                           const char **ret, uint32_t *ret_len)
{
    const char *start, *p, *end, *stop;

    if (off >= s->strings_size)
        return damage(s, DMG_STRING, off), TEXT_DAMAGED;
    start = p = s->strings + off;
    end = s->strings + s->strings_size;
    for (;;) {
        stop = verified_until(s, p, end);
        if (!stop)
            return TEXT_DAMAGED;
        p = field ? first_special(p, stop) : first_nul(p, stop);
        if (p < stop)
            break;
        if (stop == end)
            return damage(s, DMG_STRING, off), TEXT_DAMAGED;
    }
    if (*p != '\0')
        return TEXT_UNFIT;
    *ret = start;
    *ret_len = (uint32_t)(p - start);
    return TEXT_OK;
}

/* A passwd field. Inline, the common case: it ends inside its own region, already verified
 * (every entry of an enumeration passes here three times). */
static inline enum text field_at(const struct logto_snapshot *s, uint32_t off, const char **ret,
                                 uint32_t *ret_len)
{
    if (off < s->strings_size) {
        const char *p = s->strings + off, *stop, *q;
        uint64_t at = (uint64_t)((const uint8_t *)p - s->base), r = at >> s->shift, room;
        if (bit_test(s->v->bits, r)) {
            room = ((r + 1) << s->shift) - at;
            stop = room < (uint64_t)(s->strings_end - p) ? p + room : s->strings_end;
            q = first_special(p, stop);
            if (q < stop) {
                if (*q != '\0')
                    return TEXT_UNFIT;
                *ret = p;
                *ret_len = (uint32_t)(q - p);
                return TEXT_OK;
            }
        }
    }
    return string_at(s, off, true, ret, ret_len);
}

/*
 * A user or group name, checked in one pass: a name is at most LOGTO_NAME_MAX bytes, so the
 * bytes up to one past that (or to the end of the table) are verified and the name rules read
 * no further.
 */
static inline enum text name_at(const struct logto_snapshot *s, uint32_t off, const char **ret,
                                uint32_t *ret_len)
{
    size_t avail, len;
    const char *p;

    if (off >= s->strings_size)
        return damage(s, DMG_STRING, off), TEXT_DAMAGED;
    p = s->strings + off;
    avail = s->strings_size - off;
    if (avail > LOGTO_NAME_MAX + 1)
        avail = LOGTO_NAME_MAX + 1;
    if (!verified(s, p, avail))
        return TEXT_DAMAGED;
    /* Near the end of the table, the name rules could read past it: a NUL must come first. */
    if (avail <= LOGTO_NAME_MAX && !memchr(p, '\0', avail))
        return damage(s, DMG_STRING, off), TEXT_DAMAGED;
    len = logto_name_length(p);
    if (len == 0)
        return TEXT_UNFIT;
    *ret = p;
    *ret_len = (uint32_t)len;
    return TEXT_OK;
}

/* ---------------------------------------------------------------- records */

/* A user record, verified, whose offsets and run point inside their tables. */
static inline const struct logto_snapshot_user *user_record(const struct logto_snapshot *s,
                                                            uint32_t i)
{
    const struct logto_snapshot_user *u = &s->users[i];

    if (!verified(s, u, sizeof(*u)))
        return NULL;
    if (u->name >= s->strings_size || u->gecos >= s->strings_size || u->home >= s->strings_size ||
        u->shell >= s->strings_size || u->sub >= s->strings_size ||
        !run_ok(u->gids_first, u->gids_count, s->n_user_gids))
        return damage(s, DMG_USER_OUTSIDE, i), NULL;
    if (logto_id_reserved(u->uid) || logto_id_reserved(u->gid))
        return damage(s, DMG_USER_RESERVED, i), NULL;
    return u;
}

static const struct logto_snapshot_group *group_record(const struct logto_snapshot *s, uint32_t i)
{
    const struct logto_snapshot_group *g = &s->groups[i];

    if (!verified(s, g, sizeof(*g)))
        return NULL;
    if (g->name >= s->strings_size || g->source >= s->strings_size ||
        !run_ok(g->members_first, g->members_count, s->n_members))
        return damage(s, DMG_GROUP_OUTSIDE, i), NULL;
    if (logto_id_reserved(g->gid) || g->kind > 4)
        return damage(s, DMG_GROUP_KIND, i), NULL;
    if (g->member_names_size == 0 ? g->members_count != 0
                                  : !run_ok(g->member_names, g->member_names_size, s->strings_size))
        return damage(s, DMG_GROUP_NAMES, i), NULL;
    return g;
}

int logto_snapshot_user_at(const struct logto_snapshot *snap, uint32_t index,
                           struct logto_snap_user *ret)
{
    const struct logto_snapshot_user *u;
    struct logto_snap_user v;

    if (index >= snap->n_users)
        return -LOGTO_E_NOTFOUND;
    if (is_damaged(snap))
        return -LOGTO_E_CORRUPT;
    if (bit_test(snap->v->users_ok, index)) {
        /* Checked whole before: these immutable bytes only need reading out. */
        u = &snap->users[index];
        v.name = snap->strings + u->name;
        v.gecos = snap->strings + u->gecos;
        v.home = snap->strings + u->home;
        v.shell = snap->strings + u->shell;
        v.name_len = (uint32_t)strlen(v.name);
        v.gecos_len = (uint32_t)strlen(v.gecos);
        v.home_len = (uint32_t)strlen(v.home);
        v.shell_len = (uint32_t)strlen(v.shell);
    } else {
        if (!(u = user_record(snap, index)) ||
            name_at(snap, u->name, &v.name, &v.name_len) != TEXT_OK ||
            field_at(snap, u->gecos, &v.gecos, &v.gecos_len) != TEXT_OK ||
            field_at(snap, u->home, &v.home, &v.home_len) != TEXT_OK ||
            field_at(snap, u->shell, &v.shell, &v.shell_len) != TEXT_OK || v.home[0] != '/' ||
            v.shell[0] != '/')
            return -LOGTO_E_CORRUPT;
        bit_set(snap->v->users_ok, index);
    }
    v.index = index;
    v.uid = u->uid;
    v.gid = u->gid;
    v.flags = u->flags;
    v.n_gids = u->gids_count;
    v.gids_first = u->gids_first;
    v.sub_offset = u->sub;
    v.updated_at = u->updated_at;
    *ret = v;
    return 0;
}

/* A string no passwd field shows (sub, source): NUL-terminated inside the table, verified. */
static int plain_at(const struct logto_snapshot *snap, uint32_t off, const char **ret)
{
    uint32_t len;

    if (is_damaged(snap) || string_at(snap, off, false, ret, &len) != TEXT_OK)
        return -LOGTO_E_CORRUPT;
    return 0;
}

int logto_snapshot_user_sub(const struct logto_snapshot *snap, const struct logto_snap_user *user,
                            const char **ret)
{
    return plain_at(snap, user->sub_offset, ret);
}

int logto_snapshot_group_source(const struct logto_snapshot *snap,
                                const struct logto_snap_group *group, const char **ret)
{
    return plain_at(snap, group->source_offset, ret);
}

int logto_snapshot_user_gids(const struct logto_snapshot *snap, const struct logto_snap_user *user,
                             const uint32_t **ret)
{
    const uint32_t *gids;

    if (is_damaged(snap) || !run_ok(user->gids_first, user->n_gids, snap->n_user_gids))
        return -LOGTO_E_CORRUPT;
    gids = snap->user_gids + user->gids_first;
    /* The view came from user_at, so user->index names the record the run is from. */
    if (user->index < snap->n_users && bit_test(snap->v->gids_ok, user->index) &&
        snap->users[user->index].gids_first == user->gids_first &&
        snap->users[user->index].gids_count == user->n_gids) {
        *ret = gids;
        return 0;
    }
    if (!verified(snap, gids, (size_t)user->n_gids * sizeof(*gids)))
        return -LOGTO_E_CORRUPT;
    for (uint32_t k = 0; k < user->n_gids; k++)
        if (logto_id_reserved(gids[k]) || (k > 0 && gids[k - 1] >= gids[k]))
            return damage(snap, DMG_USER_GIDS, user->index), -LOGTO_E_CORRUPT;
    if (user->index < snap->n_users && snap->users[user->index].gids_first == user->gids_first &&
        snap->users[user->index].gids_count == user->n_gids)
        bit_set(snap->v->gids_ok, user->index);
    *ret = gids;
    return 0;
}

/* The member-name list: verified, ending in NUL, holding exactly n names, each valid. */
static enum text member_names(const struct logto_snapshot *s, const struct logto_snapshot_group *g,
                              uint32_t index)
{
    const char *names = s->strings + g->member_names, *end = names + g->member_names_size, *m;
    uint32_t n = 0;

    if (g->member_names_size == 0)
        return TEXT_OK;
    if (!verified(s, names, g->member_names_size))
        return TEXT_DAMAGED;
    if (end[-1] != '\0')
        return damage(s, DMG_GROUP_NAMES, index), TEXT_DAMAGED;
    /* The last byte is NUL, so no name read below runs past the list. */
    for (m = names; m < end; n++) {
        size_t len = logto_name_length(m);
        if (len == 0)
            return TEXT_UNFIT;
        m += len + 1;
    }
    if (n != g->members_count)
        return damage(s, DMG_GROUP_NAMES, index), TEXT_DAMAGED;
    return TEXT_OK;
}

int logto_snapshot_group_at(const struct logto_snapshot *snap, uint32_t index,
                            struct logto_snap_group *ret)
{
    const struct logto_snapshot_group *g;
    struct logto_snap_group v;

    if (index >= snap->n_groups)
        return -LOGTO_E_NOTFOUND;
    if (is_damaged(snap))
        return -LOGTO_E_CORRUPT;
    if (bit_test(snap->v->groups_ok, index)) {
        g = &snap->groups[index]; /* checked whole before */
        v.name = snap->strings + g->name;
        v.name_len = (uint32_t)strlen(v.name);
    } else {
        if (!(g = group_record(snap, index)) ||
            name_at(snap, g->name, &v.name, &v.name_len) != TEXT_OK ||
            member_names(snap, g, index) != TEXT_OK)
            return -LOGTO_E_CORRUPT;
        bit_set(snap->v->groups_ok, index);
    }
    v.index = index;
    v.gid = g->gid;
    v.kind = g->kind;
    v.n_members = g->members_count;
    v.members_first = g->members_first;
    v.source_offset = g->source;
    v.member_names = snap->strings + g->member_names;
    v.member_names_size = g->member_names_size;
    *ret = v;
    return 0;
}

int logto_snapshot_group_members(const struct logto_snapshot *snap,
                                 const struct logto_snap_group *group, const uint32_t **ret)
{
    const uint32_t *m;

    if (is_damaged(snap) || !run_ok(group->members_first, group->n_members, snap->n_members))
        return -LOGTO_E_CORRUPT;
    m = snap->members + group->members_first;
    if (!verified(snap, m, (size_t)group->n_members * sizeof(*m)))
        return -LOGTO_E_CORRUPT;
    for (uint32_t k = 0; k < group->n_members; k++)
        if (m[k] >= snap->n_users)
            return damage(snap, DMG_GROUP_MEMBERS, group->index), -LOGTO_E_CORRUPT;
    *ret = m;
    return 0;
}

const char *logto_snapshot_group_member(const struct logto_snapshot *snap,
                                        const struct logto_snap_group *group, uint32_t i,
                                        uint32_t *ret_len)
{
    const struct logto_snapshot_user *u;
    const uint32_t *m;
    const char *name;
    uint32_t len;

    if (i >= group->n_members || is_damaged(snap) ||
        !run_ok(group->members_first, group->n_members, snap->n_members))
        return NULL;
    m = &snap->members[group->members_first + i];
    if (!verified(snap, m, sizeof(*m)))
        return NULL;
    if (*m >= snap->n_users)
        return damage(snap, DMG_GROUP_MEMBERS, group->index), NULL;
    u = user_record(snap, *m);
    if (!u || name_at(snap, u->name, &name, &len) != TEXT_OK)
        return NULL;
    if (ret_len)
        *ret_len = len;
    return name;
}

/* ---------------------------------------------------------------- index probes */

/* The slot at pos, verified: its record index, EMPTY_SLOT, or -1 (damaged, noted). */
static int64_t slot_at(const struct logto_snapshot *s, int idx, uint32_t pos, uint32_t *ret_key)
{
    const struct logto_snapshot_slot *slot = &s->idx[idx][pos];

    if (!verified(s, slot, sizeof(*slot)))
        return -1;
    if (slot->index != LOGTO_SNAPSHOT_EMPTY_SLOT && slot->index >= index_count(s, idx))
        return damage(s, DMG_SLOT, (uint32_t)idx), -1;
    *ret_key = slot->key;
    return slot->index;
}

/* Whether the string at off is name (len bytes and a NUL): 1, 0, or -1 (damaged, noted). */
static int string_is(const struct logto_snapshot *s, uint32_t off, const char *name, size_t len)
{
    const char *p;

    if (off >= s->strings_size)
        return damage(s, DMG_STRING, off), -1;
    if (len + 1 > s->strings_size - off)
        return 0;
    p = s->strings + off;
    if (!verified(s, p, len + 1))
        return -1;
    return memcmp(p, name, len + 1) == 0;
}

/*
 * Linear probing from the hash's bucket, at most once around the table (whatever the slots
 * say, a lookup ends). Returns the record index, -LOGTO_E_NOTFOUND or -LOGTO_E_CORRUPT.
 */
static int probe_name(const struct logto_snapshot *s, int idx, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = logto_snapshot_hash_name(s->hash_key, name, len);
    uint32_t mask = s->idx_mask[idx], tag = (uint32_t)(h >> 32);

    for (uint32_t n = 0, pos = (uint32_t)h & mask; n <= mask; n++, pos = (pos + 1) & mask) {
        uint32_t key, off;
        int64_t i = slot_at(s, idx, pos, &key);
        int same;
        if (i < 0)
            return -LOGTO_E_CORRUPT;
        if (i == LOGTO_SNAPSHOT_EMPTY_SLOT)
            break;
        if (key != tag)
            continue;
        if (idx == IDX_USER_NAME) {
            const struct logto_snapshot_user *u = &s->users[i];
            if (!verified(s, u, sizeof(*u)))
                return -LOGTO_E_CORRUPT;
            off = u->name;
        } else {
            const struct logto_snapshot_group *g = &s->groups[i];
            if (!verified(s, g, sizeof(*g)))
                return -LOGTO_E_CORRUPT;
            off = g->name;
        }
        same = string_is(s, off, name, len);
        if (same < 0)
            return -LOGTO_E_CORRUPT;
        if (same)
            return (int)i;
    }
    return -LOGTO_E_NOTFOUND;
}

static int probe_id(const struct logto_snapshot *s, int idx, uint32_t id)
{
    uint64_t h = logto_snapshot_hash_id(s->hash_key, id);
    uint32_t mask = s->idx_mask[idx];

    for (uint32_t n = 0, pos = (uint32_t)h & mask; n <= mask; n++, pos = (pos + 1) & mask) {
        uint32_t key, rec_id;
        int64_t i = slot_at(s, idx, pos, &key);
        if (i < 0)
            return -LOGTO_E_CORRUPT;
        if (i == LOGTO_SNAPSHOT_EMPTY_SLOT)
            break;
        if (key != id)
            continue;
        if (idx == IDX_UID) {
            const struct logto_snapshot_user *u = &s->users[i];
            if (!verified(s, u, sizeof(*u)))
                return -LOGTO_E_CORRUPT;
            rec_id = u->uid;
        } else {
            const struct logto_snapshot_group *g = &s->groups[i];
            if (!verified(s, g, sizeof(*g)))
                return -LOGTO_E_CORRUPT;
            rec_id = g->gid;
        }
        if (rec_id == id)
            return (int)i;
    }
    return -LOGTO_E_NOTFOUND;
}

int logto_snapshot_user_by_name(const struct logto_snapshot *snap, const char *name,
                                struct logto_snap_user *ret)
{
    int i = is_damaged(snap) ? -LOGTO_E_CORRUPT : probe_name(snap, IDX_USER_NAME, name);
    return i < 0 ? i : logto_snapshot_user_at(snap, (uint32_t)i, ret);
}

int logto_snapshot_user_by_uid(const struct logto_snapshot *snap, uint32_t uid,
                               struct logto_snap_user *ret)
{
    int i;

    if (logto_id_reserved(uid))
        return -LOGTO_E_NOTFOUND;
    i = is_damaged(snap) ? -LOGTO_E_CORRUPT : probe_id(snap, IDX_UID, uid);
    return i < 0 ? i : logto_snapshot_user_at(snap, (uint32_t)i, ret);
}

int logto_snapshot_group_by_name(const struct logto_snapshot *snap, const char *name,
                                 struct logto_snap_group *ret)
{
    int i = is_damaged(snap) ? -LOGTO_E_CORRUPT : probe_name(snap, IDX_GROUP_NAME, name);
    return i < 0 ? i : logto_snapshot_group_at(snap, (uint32_t)i, ret);
}

int logto_snapshot_group_by_gid(const struct logto_snapshot *snap, uint32_t gid,
                                struct logto_snap_group *ret)
{
    int i;

    if (logto_id_reserved(gid))
        return -LOGTO_E_NOTFOUND;
    i = is_damaged(snap) ? -LOGTO_E_CORRUPT : probe_id(snap, IDX_GID, gid);
    return i < 0 ? i : logto_snapshot_group_at(snap, (uint32_t)i, ret);
}

/* ---------------------------------------------------------------- damage and the full check */

bool logto_snapshot_damaged(const struct logto_snapshot *snap, struct logto_error *err)
{
    uint64_t d = __atomic_load_n(&snap->v->damage, __ATOMIC_RELAXED), lo, hi;
    uint32_t x = (uint32_t)d;
    const char *p = snap->path;

    switch ((enum damage)(d >> 32)) {
    case DMG_NONE:
        return false;
    case DMG_REGION:
        region_bounds(x, snap->shift, snap->header_size, snap->data_end, &lo, &hi);
        logto_error_set(err, LOGTO_E_CORRUPT,
                        "%s: checksum mismatch in region %u (bytes %llu to %llu)", p, x,
                        (unsigned long long)lo, (unsigned long long)hi);
        break;
    case DMG_USER_OUTSIDE:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: user record %u points outside", p, x);
        break;
    case DMG_USER_RESERVED:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: user record %u has a reserved ID", p, x);
        break;
    case DMG_USER_GIDS:
        logto_error_set(err, LOGTO_E_CORRUPT,
                        "%s: user record %u has reserved or unsorted supplementary GIDs", p, x);
        break;
    case DMG_GROUP_OUTSIDE:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: group record %u points outside", p, x);
        break;
    case DMG_GROUP_KIND:
        logto_error_set(err, LOGTO_E_CORRUPT,
                        "%s: group record %u has a reserved GID or unknown kind", p, x);
        break;
    case DMG_GROUP_NAMES:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: group record %u has a bad member-name list", p,
                        x);
        break;
    case DMG_GROUP_MEMBERS:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: group record %u has a member that is not a user",
                        p, x);
        break;
    case DMG_SLOT:
        logto_error_set(err, LOGTO_E_CORRUPT, "%s: index %u is damaged", p, x);
        break;
    case DMG_STRING:
    default:
        logto_error_set(err, LOGTO_E_CORRUPT,
                        "%s: the string at offset %u does not end inside the string table", p, x);
        break;
    }
    return true;
}

/* Every slot names a record or is empty, and no more slots are used than there are records. */
static bool slots_ok(const struct logto_snapshot *s, int idx)
{
    uint32_t count = index_count(s, idx), bad = 0;
    uint64_t used = 0;

    /* Branch-free, so the compiler can vectorise it. */
    for (uint64_t j = 0; j <= s->idx_mask[idx]; j++) {
        uint32_t v = s->idx[idx][j].index;
        uint32_t full = v != LOGTO_SNAPSHOT_EMPTY_SLOT;
        used += full;
        bad |= full & (v >= count);
    }
    return (!bad && used <= count) || damage(s, DMG_SLOT, (uint32_t)idx);
}

/* The first entry unfit for output: named in the message. */
static int unfit(const struct logto_snapshot *s, const char *what, uint32_t i,
                 struct logto_error *err)
{
    return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s record %u is not fit for output", s->path,
                           what, i);
}

/* The indexes and GID lists must agree with the records: every entry found where it is. */
static bool indexes_consistent(const struct logto_snapshot *snap)
{
    struct logto_snap_user u, x;
    struct logto_snap_group g, y;
    const uint32_t *gids, *members;

    for (uint32_t i = 0; i < logto_snapshot_n_users(snap); i++) {
        if (logto_snapshot_user_at(snap, i, &u) < 0 ||
            logto_snapshot_user_by_name(snap, u.name, &x) < 0 || x.index != i ||
            logto_snapshot_user_by_uid(snap, u.uid, &x) < 0 || x.index != i ||
            logto_snapshot_user_gids(snap, &u, &gids) < 0) /* sorted, unique */
            return false;
    }
    for (uint32_t i = 0; i < logto_snapshot_n_groups(snap); i++) {
        if (logto_snapshot_group_at(snap, i, &g) < 0 ||
            logto_snapshot_group_by_name(snap, g.name, &y) < 0 || y.index != i ||
            logto_snapshot_group_by_gid(snap, g.gid, &y) < 0 || y.index != i ||
            logto_snapshot_group_members(snap, &g, &members) < 0)
            return false;
        /* Every membership appears in the member's GID list (the totals are equal), and the
         * member-name list says the same as the member indexes. */
        const char *name = g.member_names;
        for (uint32_t j = 0; j < g.n_members; j++) {
            bool found = false;
            if (logto_snapshot_user_at(snap, members[j], &u) < 0 || strcmp(name, u.name) != 0 ||
                logto_snapshot_user_gids(snap, &u, &gids) < 0)
                return false;
            name += strlen(name) + 1;
            for (uint32_t k = 0; k < u.n_gids && !found; k++)
                found = gids[k] == g.gid;
            if (!found)
                return false;
        }
    }
    return true;
}

int logto_snapshot_verify(const struct logto_snapshot *snap, struct logto_error *err)
{
    const uint32_t *list;
    const char *text;
    int r;

    for (uint32_t i = 0; i < snap->n_regions && !is_damaged(snap); i++)
        (void)region_ok(snap, i);
    for (uint32_t i = 0; i < snap->n_users && !is_damaged(snap); i++) {
        struct logto_snap_user u;
        if ((r = logto_snapshot_user_at(snap, i, &u)) < 0 ||
            (r = logto_snapshot_user_sub(snap, &u, &text)) < 0 ||
            (r = logto_snapshot_user_gids(snap, &u, &list)) < 0)
            return is_damaged(snap) ? (logto_snapshot_damaged(snap, err), r)
                                    : unfit(snap, "user", i, err);
    }
    for (uint32_t i = 0; i < snap->n_groups && !is_damaged(snap); i++) {
        struct logto_snap_group g;
        if ((r = logto_snapshot_group_at(snap, i, &g)) < 0 ||
            (r = logto_snapshot_group_source(snap, &g, &text)) < 0 ||
            (r = logto_snapshot_group_members(snap, &g, &list)) < 0)
            return is_damaged(snap) ? (logto_snapshot_damaged(snap, err), r)
                                    : unfit(snap, "group", i, err);
    }
    for (int x = 0; x < N_INDEXES && !is_damaged(snap); x++)
        (void)slots_ok(snap, x);
    if (logto_snapshot_damaged(snap, err))
        return -LOGTO_E_CORRUPT;
    /* What a well-formed file can still get wrong: two entries of one name or ID, an index
     * that leads elsewhere, lists that disagree. */
    if (!indexes_consistent(snap))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: indexes disagree with the records",
                               snap->path);
    return 0;
}

/* ---------------------------------------------------------------- mappings */

static struct logto_snapshot *snapshot_new(const char *path)
{
    size_t n = strlen(path) + 1;
    struct logto_snapshot *s = calloc(1, sizeof(*s) + n);

    if (s) {
        memcpy(s->path, path, n);
        s->refs = 1;
    }
    return s;
}

static void snapshot_free(struct logto_snapshot *s)
{
    if (s->map)
        munmap(s->map, s->size);
    free(s->v);
    free(s);
}

/* Out of memory, address space or descriptors: says nothing about the file. */
static bool transient_errno(int e)
{
    return e == ENOMEM || e == EAGAIN || e == EMFILE || e == ENFILE;
}

int logto_snapshot_map_fd(int fd, const struct stat *st, const char *path,
                          struct logto_snapshot **ret, struct logto_error *err)
{
    struct logto_snapshot *s;
    void *map;
    int r;

    if (st->st_size < (off_t)offsetof(struct logto_snapshot_header, tables))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: truncated (%lld bytes)", path,
                               (long long)st->st_size);
    if ((uint64_t)st->st_size > LOGTO_SNAPSHOT_MAX_SIZE)
        return corrupt(err, path, "too large");
    s = snapshot_new(path);
    if (!s)
        return LOGTO_OOM(err);
    /* No MAP_POPULATE: a lookup reads a few pages, and only those should be faulted in. */
    map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        r = logto_error_set(err, transient_errno(e) ? LOGTO_E_NOMEM : LOGTO_E_IO,
                            "cannot map %s: %s", path, strerror(e));
        free(s);
        return r;
    }
    s->map = map;
    s->base = map;
    s->size = (size_t)st->st_size;
    logto_file_identity_from_stat(&s->id, st);
    r = snapshot_setup(s, err);
    if (r < 0) {
        snapshot_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int logto_snapshot_check_image(const void *buf, size_t len, struct logto_error *err)
{
    struct logto_snapshot *s = snapshot_new("the snapshot image");
    int r;

    if (!s)
        return LOGTO_OOM(err);
    s->base = buf;
    s->size = len;
    r = snapshot_setup(s, err);
    if (r >= 0)
        r = logto_snapshot_verify(s, err);
    snapshot_free(s);
    return r;
}

/*
 * The checks of logto_file_open_at (fileio.h), with one difference: a file that lost its last
 * link between our open() and fstat() was replaced by a writer in that instant. That is not
 * unsafe, just late: report it as busy so the cache tries the path again.
 */
static int open_checked(int dirfd, const char *name, const char *path, int *ret_fd,
                        struct stat *ret_st, struct logto_error *err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;

    /* O_NONBLOCK guards the open against a FIFO; it changes nothing for a regular file. */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
        if (e == ELOOP)
            return logto_error_set(err, LOGTO_E_UNSAFE, "%s is a symbolic link", path);
        return logto_error_set(err, transient_errno(e) ? LOGTO_E_NOMEM : LOGTO_E_IO,
                               "cannot open %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is not a regular file", path);
    if (st.st_nlink == 0)
        return logto_error_set(err, LOGTO_E_BUSY, "%s was replaced while being opened", path);
    if (!logto_owner_trusted(st.st_uid))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is owned by uid %u, not root", path,
                               (unsigned)st.st_uid);
    if (st.st_nlink != 1)
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s has %lu hard links, expected 1", path,
                               (unsigned long)st.st_nlink);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return logto_error_set(err, LOGTO_E_UNSAFE, "%s is writable by group or others (mode %04o)",
                               path, (unsigned)(st.st_mode & 07777));
    *ret_st = st;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

const char *logto_snapshot_nss_path(void)
{
    const char *p = NULL;

#ifdef HAVE_SECURE_GETENV
    p = secure_getenv("LOGTO_NSS_SNAPSHOT");
#endif
    if (!p || !*p)
        return LOGTO_STATE_DIR "/" LOGTO_SNAPSHOT_NAME;
    return p[0] == '/' ? p : NULL;
}

int logto_snapshot_open(const char *path, struct logto_snapshot **ret, struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1, fd = -1;
    const char *base;
    struct stat st;
    int r;

    r = logto_path_open_parent(path, "snapshot path", &dirfd, &base, err);
    if (r < 0)
        return r;
    r = open_checked(dirfd, base, path, &fd, &st, err);
    if (r < 0)
        return r;
    return logto_snapshot_map_fd(fd, &st, path, ret, err);
}

struct logto_snapshot *logto_snapshot_ref(struct logto_snapshot *snap)
{
    __atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
    return snap;
}

void logto_snapshot_unref(struct logto_snapshot *snap)
{
    if (!snap)
        return;
    /* The last user unmaps; acquire-release orders every read made through other references. */
    if (__atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    snapshot_free(snap);
}

bool logto_snapshot_is_stale(const struct logto_snapshot *snap)
{
    return __atomic_load_n(snap->stale, __ATOMIC_ACQUIRE) != 0;
}

uint32_t logto_snapshot_version(const struct logto_snapshot *snap)
{
    return snap->version;
}

uint64_t logto_snapshot_generation(const struct logto_snapshot *snap)
{
    return snap->generation;
}

uint64_t logto_snapshot_local_files(const struct logto_snapshot *snap)
{
    return snap->local_files;
}

uint32_t logto_snapshot_flags(const struct logto_snapshot *snap)
{
    return snap->flags;
}

bool logto_snapshot_enumerate(const struct logto_snapshot *snap)
{
    return !(snap->flags & LOGTO_SNAPSHOT_F_NO_ENUMERATE);
}

int64_t logto_snapshot_created_at(const struct logto_snapshot *snap)
{
    return snap->created_at;
}

uint32_t logto_snapshot_n_users(const struct logto_snapshot *snap)
{
    return snap->n_users;
}

uint32_t logto_snapshot_n_groups(const struct logto_snapshot *snap)
{
    return snap->n_groups;
}

void logto_snapshot_identity(const struct logto_snapshot *snap, dev_t *ret_dev, ino_t *ret_ino)
{
    *ret_dev = snap->id.dev;
    *ret_ino = snap->id.ino;
}

uint32_t logto_snapshot_n_regions(const struct logto_snapshot *snap)
{
    return snap->n_regions;
}

bool logto_snapshot_region_verified(const struct logto_snapshot *snap, uint32_t i)
{
    return i < snap->n_regions &&
           (__atomic_load_n(&snap->v->bits[i / WORD_BITS], __ATOMIC_RELAXED) &
            (1UL << (i % WORD_BITS)));
}

/* ---------------------------------------------------------------- the per-process cache */

/*
 * Remember a refused file and log it, once per file. id: the file's identity when it was
 * opened; NULL to take it from the path now.
 */
static int cache_refuse_locked(struct logto_snapshot_cache *c, int r, const struct logto_error *e,
                               const struct logto_file_identity *id, struct logto_error *err)
{
    struct logto_file_identity now;
    struct stat st;
    bool known;

    if (!id && lstat(c->path, &st) == 0) {
        logto_file_identity_from_stat(&now, &st);
        id = &now;
    }
    /* Without an identity (e.g. the path cannot be reached), the message stands for the file. */
    if (id) {
        known = c->have_refused && logto_file_identity_equal(id, &c->refused);
        c->have_refused = true;
        c->refused = *id;
    } else {
        known = c->logged_unidentified && strcmp(c->refused_message, e->message) == 0;
        c->have_refused = false;
        c->logged_unidentified = true;
    }
    c->refused_code = -r;
    snprintf(c->refused_message, sizeof(c->refused_message), "%s", e->message);
    if (!known)
        logto_log(c->log, LOG_ERR, "snapshot-refused path=%s reason=\"%s\"", c->path, e->message);
    return logto_error_set(err, (enum logto_errc) - r, "%s", e->message);
}

/*
 * A failure that says nothing about the file (out of memory or descriptors; an I/O error):
 * not remembered, so the next call tries again. I/O errors are logged, once per message.
 */
static int cache_fail_locked(struct logto_snapshot_cache *c, int r, const struct logto_error *e,
                             struct logto_error *err)
{
    if (r == -LOGTO_E_IO && strcmp(c->failed_message, e->message) != 0) {
        snprintf(c->failed_message, sizeof(c->failed_message), "%s", e->message);
        logto_log(c->log, LOG_ERR, "snapshot-unreadable path=%s reason=\"%s\"", c->path,
                  e->message);
    }
    return logto_error_set(err, logto_errc_from(r), "%s", e->message);
}

static bool path_names(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static int cache_load_locked(struct logto_snapshot_cache *c, struct logto_snapshot **ret,
                             struct logto_error *err)
{
    struct logto_error e = { 0 };

    /* A few attempts, in case writers replace the file while we map it. */
    for (int attempt = 0; attempt < 8; attempt++) {
        struct logto_snapshot *snap = NULL;
        struct stat st;
        int r;

        if (lstat(c->path, &st) < 0) {
            if (errno == ENOENT) {
                c->have_refused = false;
                return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", c->path);
            }
        } else if (c->have_refused) {
            struct logto_file_identity id;
            logto_file_identity_from_stat(&id, &st);
            if (logto_file_identity_equal(&id, &c->refused))
                return logto_error_set(err, (enum logto_errc)c->refused_code, "%s",
                                       c->refused_message);
        }

        r = logto_snapshot_open(c->path, &snap, &e);
        if (r == -LOGTO_E_NOTFOUND) {
            c->have_refused = false;
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s", e.message);
        }
        if (r == -LOGTO_E_BUSY)
            continue; /* replaced while we opened it: take the newer file */
        if (r == -LOGTO_E_UNSAFE || r == -LOGTO_E_CORRUPT)
            return cache_refuse_locked(c, r, &e, NULL, err);
        if (r < 0)
            return cache_fail_locked(c, r, &e, err);

        if (logto_snapshot_is_stale(snap)) {
            struct logto_file_identity id = snap->id;
            logto_snapshot_unref(snap);
            if (!path_names(c->path, id.dev, id.ino))
                continue; /* replaced meanwhile: map the newer file */
            /* Only a writer that replaced it may mark a file; one still in place is damaged. */
            logto_error_set(&e, LOGTO_E_CORRUPT, "%s: marked stale but still in place", c->path);
            return cache_refuse_locked(c, -LOGTO_E_CORRUPT, &e, NULL, err);
        }
        c->have_refused = false;
        c->current = snap;
        c->next_restat_ns = logto_monotonic_coarse_ns() + c->restat_interval_ns;
        *ret = logto_snapshot_ref(snap);
        return 0;
    }
    return logto_error_set(err, LOGTO_E_BUSY, "%s keeps being replaced", c->path);
}

/* A damaged mapping leaves the cache, and its file is refused like one found bad at open. */
static int cache_drop_damaged_locked(struct logto_snapshot_cache *c, struct logto_snapshot *snap,
                                     struct logto_error *err)
{
    struct logto_error e = { 0 };
    int r;

    logto_snapshot_damaged(snap, &e);
    r = cache_refuse_locked(c, -LOGTO_E_CORRUPT, &e, &snap->id, err);
    if (c->current == snap) {
        c->current = NULL;
        logto_snapshot_unref(snap);
    }
    return r;
}

static int cache_get_locked(struct logto_snapshot_cache *c, struct logto_snapshot **ret,
                            struct logto_error *err)
{
    struct logto_snapshot *cur = c->current;

    if (cur && logto_snapshot_damaged(cur, NULL) && !logto_snapshot_is_stale(cur))
        return cache_drop_damaged_locked(c, cur, err);
    if (cur && !logto_snapshot_is_stale(cur)) {
        int64_t now = logto_monotonic_coarse_ns();
        if (now < c->next_restat_ns) {
            *ret = logto_snapshot_ref(cur);
            return 0;
        }
        /* Backstop for a writer that died between its rename and marking the old file. */
        c->next_restat_ns = now + c->restat_interval_ns;
        if (path_names(c->path, cur->id.dev, cur->id.ino)) {
            *ret = logto_snapshot_ref(cur);
            return 0;
        }
    }
    if (cur) {
        c->current = NULL;
        logto_snapshot_unref(cur);
    }
    return cache_load_locked(c, ret, err);
}

int logto_snapshot_cache_get(struct logto_snapshot_cache *cache, struct logto_snapshot **ret,
                             struct logto_error *err)
{
    int r, cancel_state;

    /* open() and syslog() are cancellation points: never be cancelled holding the lock. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&cache->lock);
    r = cache_get_locked(cache, ret, err);
    pthread_mutex_unlock(&cache->lock);
    pthread_setcancelstate(cancel_state, NULL);
    return r;
}

int logto_snapshot_cache_damaged(struct logto_snapshot_cache *cache, struct logto_snapshot *snap,
                                 struct logto_error *err)
{
    int r, cancel_state;

    if (!logto_snapshot_damaged(snap, NULL))
        return 0;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&cache->lock);
    r = cache_drop_damaged_locked(cache, snap, err);
    pthread_mutex_unlock(&cache->lock);
    pthread_setcancelstate(cancel_state, NULL);
    return r;
}

void logto_snapshot_cache_reset(struct logto_snapshot_cache *cache)
{
    struct logto_snapshot *old;

    pthread_mutex_lock(&cache->lock);
    old = cache->current;
    cache->current = NULL;
    cache->have_refused = false;
    cache->logged_unidentified = false;
    cache->failed_message[0] = '\0';
    cache->next_restat_ns = 0;
    pthread_mutex_unlock(&cache->lock);
    logto_snapshot_unref(old);
}
