/* SPDX-License-Identifier: MIT */
/* The directory snapshot reader: validate a mapping once, then answer by pure memory reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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

struct logto_snapshot {
    unsigned long refs; /* atomic */
    void *map;
    const uint8_t *base;
    size_t size;
    dev_t dev;
    ino_t ino;
    const struct logto_snapshot_header *hdr;
    const struct logto_snapshot_user *users;
    const struct logto_snapshot_group *groups;
    const uint32_t *members, *user_gids;
    const struct logto_snapshot_slot *idx[N_INDEXES];
    uint32_t idx_mask[N_INDEXES];
    const char *strings;
    uint32_t strings_size;
    uint32_t n_users, n_groups, n_members, n_user_gids;
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

/* ---------------------------------------------------------------- validation */

static int corrupt(struct logto_error *err, const char *path, const char *what)
{
    return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s", path, what);
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int check_header(const uint8_t *base, size_t size, const char *path, struct logto_error *err)
{
    const struct logto_snapshot_header *h = (const void *)base;

    if (size < sizeof(*h))
        return logto_error_set(err, LOGTO_E_CORRUPT,
                               "%s: truncated (%zu bytes; the header alone is %zu)", path, size,
                               sizeof(*h));
    if (memcmp(h->magic, LOGTO_SNAPSHOT_MAGIC, sizeof(h->magic)) != 0)
        return corrupt(err, path, "not a directory snapshot (bad magic)");
    if (h->byte_order == __builtin_bswap32(LOGTO_SNAPSHOT_BYTE_ORDER))
        return corrupt(err, path, "written with the other byte order");
    if (h->byte_order != LOGTO_SNAPSHOT_BYTE_ORDER)
        return corrupt(err, path, "bad byte-order mark");
    if (h->version != LOGTO_SNAPSHOT_VERSION)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: format version %u, this reader reads %u",
                               path, h->version, LOGTO_SNAPSHOT_VERSION);
    if (h->header_size != sizeof(*h))
        return corrupt(err, path, "unexpected header size");
    if (logto_xxh64(h, offsetof(struct logto_snapshot_header, header_checksum), 0) !=
        h->header_checksum)
        return corrupt(err, path, "header checksum mismatch");
    if (h->reserved1 != 0 || h->reserved0 != 0 || h->flags != 0)
        return corrupt(err, path, "unknown flags or reserved fields set");
    if (h->stale != 0 && h->stale != LOGTO_SNAPSHOT_STALE)
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

/* The byte size a table must have, or 0 for the indexes and strings (checked separately). */
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

static uint32_t index_count(const struct logto_snapshot_header *h, int idx)
{
    return idx == IDX_USER_NAME || idx == IDX_UID ? h->n_users : h->n_groups;
}

static int check_geometry(const struct logto_snapshot_header *h, const uint8_t *base,
                          const char *path, struct logto_error *err)
{
    uint64_t prev_end = h->header_size;

    for (int t = 0; t < LOGTO_SNAP__TABLES; t++) {
        const struct logto_snapshot_table_ref *ref = &h->tables[t];
        if (ref->offset % 8 != 0 || ref->offset < prev_end || ref->offset > h->file_size ||
            ref->size > h->file_size - ref->offset)
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: table %d lies outside the file", path,
                                   t);
        prev_end = ref->offset + ref->size;
        if (t >= LOGTO_SNAP_IDX_USER_NAME && t <= LOGTO_SNAP_IDX_GID) {
            uint64_t slots = ref->size / sizeof(struct logto_snapshot_slot);
            uint32_t count = index_count(h, t - LOGTO_SNAP_IDX_USER_NAME);
            if (ref->size % sizeof(struct logto_snapshot_slot) != 0 || !is_pow2(slots) ||
                slots < 2 || slots < 2 * (uint64_t)count || slots > (UINT64_C(1) << 31))
                return logto_error_set(err, LOGTO_E_CORRUPT, "%s: index %d has a bad size", path,
                                       t);
        } else if (t == LOGTO_SNAP_STRINGS) {
            if (ref->size == 0 || ref->size > UINT32_MAX || base[ref->offset + ref->size - 1])
                return corrupt(err, path, "string table is empty or not terminated");
        } else if (ref->size != table_expected_size(h, t)) {
            return logto_error_set(err, LOGTO_E_CORRUPT,
                                   "%s: table %d size does not match its count", path, t);
        }
    }
    return 0;
}

static void bind_tables(struct logto_snapshot *s)
{
    const struct logto_snapshot_header *h = s->hdr;

    s->n_users = h->n_users;
    s->n_groups = h->n_groups;
    s->n_members = h->n_members;
    s->n_user_gids = h->n_user_gids;
    s->users = (const void *)(s->base + h->tables[LOGTO_SNAP_USERS].offset);
    s->groups = (const void *)(s->base + h->tables[LOGTO_SNAP_GROUPS].offset);
    s->members = (const void *)(s->base + h->tables[LOGTO_SNAP_MEMBERS].offset);
    s->user_gids = (const void *)(s->base + h->tables[LOGTO_SNAP_USER_GIDS].offset);
    for (int i = 0; i < N_INDEXES; i++) {
        const struct logto_snapshot_table_ref *ref = &h->tables[LOGTO_SNAP_IDX_USER_NAME + i];
        s->idx[i] = (const void *)(s->base + ref->offset);
        s->idx_mask[i] = (uint32_t)(ref->size / sizeof(struct logto_snapshot_slot) - 1);
    }
    s->strings = (const char *)s->base + h->tables[LOGTO_SNAP_STRINGS].offset;
    s->strings_size = (uint32_t)h->tables[LOGTO_SNAP_STRINGS].size;
}

static bool run_ok(uint32_t first, uint32_t count, uint32_t total)
{
    return first <= total && count <= total - first;
}

/* Inside the string table, ending in NUL, holding exactly members_count names. */
static bool member_names_ok(const struct logto_snapshot *s, const struct logto_snapshot_group *g)
{
    const char *p, *end;
    uint32_t n = 0;

    if (g->member_names_size == 0)
        return g->members_count == 0;
    if (g->member_names >= s->strings_size ||
        g->member_names_size > s->strings_size - g->member_names ||
        s->strings[g->member_names + g->member_names_size - 1] != '\0')
        return false;
    p = s->strings + g->member_names;
    end = p + g->member_names_size;
    /* Every process validates every list: count NUL bytes eight at a time. */
    for (; end - p >= 8; p += 8) {
        uint64_t w, low7 = UINT64_C(0x7f7f7f7f7f7f7f7f);
        memcpy(&w, p, sizeof(w));
        /* 0x80 in exactly the bytes of w that are zero */
        uint64_t zero = ~(((w & low7) + low7) | w | low7) >> 7; /* 1 in each zero byte */
        n += (uint32_t)((zero * UINT64_C(0x0101010101010101)) >> 56);
    }
    for (; p < end; p++)
        n += *p == '\0';
    return n == g->members_count;
}

/* Every offset, run and index in every record, so later reads never leave the mapping. */
static int check_records(const struct logto_snapshot *s, const char *path, struct logto_error *err)
{
    for (uint32_t i = 0; i < s->n_users; i++) {
        const struct logto_snapshot_user *u = &s->users[i];
        if (u->name >= s->strings_size || u->gecos >= s->strings_size ||
            u->home >= s->strings_size || u->shell >= s->strings_size ||
            u->sub >= s->strings_size || !run_ok(u->gids_first, u->gids_count, s->n_user_gids))
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: user record %u points outside", path,
                                   i);
        if (logto_id_reserved(u->uid) || logto_id_reserved(u->gid))
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: user record %u has a reserved ID",
                                   path, i);
    }
    for (uint32_t i = 0; i < s->n_groups; i++) {
        const struct logto_snapshot_group *g = &s->groups[i];
        if (g->name >= s->strings_size || g->source >= s->strings_size ||
            !run_ok(g->members_first, g->members_count, s->n_members))
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: group record %u points outside", path,
                                   i);
        if (logto_id_reserved(g->gid) || g->kind > 4)
            return logto_error_set(err, LOGTO_E_CORRUPT,
                                   "%s: group record %u has a reserved GID or unknown kind", path,
                                   i);
    }
    for (uint32_t i = 0; i < s->n_groups; i++)
        if (!member_names_ok(s, &s->groups[i]))
            return logto_error_set(err, LOGTO_E_CORRUPT,
                                   "%s: group record %u has a bad member-name list", path, i);
    for (uint32_t i = 0; i < s->n_members; i++)
        if (s->members[i] >= s->n_users)
            return corrupt(err, path, "a group member is not a user");
    for (uint32_t i = 0; i < s->n_user_gids; i++)
        if (logto_id_reserved(s->user_gids[i]))
            return corrupt(err, path, "a supplementary GID is reserved");
    /* Every slot empty or naming a record, and no more used slots than records (so probes
     * always meet an empty slot). Branch-free, so the compiler can vectorise it. */
    for (int x = 0; x < N_INDEXES; x++) {
        uint32_t count = index_count(s->hdr, x), bad = 0;
        uint64_t used = 0;
        for (uint64_t j = 0; j <= s->idx_mask[x]; j++) {
            uint32_t v = s->idx[x][j].index;
            uint32_t full = v != LOGTO_SNAPSHOT_EMPTY_SLOT;
            used += full;
            bad |= full & (v >= count);
        }
        if (bad || used > count)
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: index %d is damaged", path, x);
    }
    return 0;
}

static int validate_mapping(struct logto_snapshot *s, const char *path, struct logto_error *err)
{
    const struct logto_snapshot_header *h;
    int r;

    r = check_header(s->base, s->size, path, err);
    if (r < 0)
        return r;
    h = s->hdr = (const void *)s->base;
    r = check_geometry(h, s->base, path, err);
    if (r < 0)
        return r;
    if (logto_xxh64(s->base + h->header_size, s->size - h->header_size, 0) != h->body_checksum)
        return corrupt(err, path, "checksum mismatch");
    bind_tables(s);
    return check_records(s, path, err);
}

/* ---------------------------------------------------------------- mappings */

int logto_snapshot_map_fd(int fd, const struct stat *st, const char *path,
                          struct logto_snapshot **ret, struct logto_error *err)
{
    struct logto_snapshot *s;
    void *map;
    int r;

    if (st->st_size < (off_t)sizeof(struct logto_snapshot_header))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: truncated (%lld bytes)", path,
                               (long long)st->st_size);
    if ((uint64_t)st->st_size > LOGTO_SNAPSHOT_MAX_SIZE)
        return corrupt(err, path, "too large");
    s = calloc(1, sizeof(*s));
    if (!s)
        return LOGTO_OOM(err);
    /* Populate at once: validation reads every page anyway. */
    map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        r = logto_error_set(err, LOGTO_E_IO, "cannot map %s: %s", path, strerror(errno));
        free(s);
        return r;
    }
    s->refs = 1;
    s->map = map;
    s->base = map;
    s->size = (size_t)st->st_size;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    r = validate_mapping(s, path, err);
    if (r < 0) {
        munmap(map, s->size);
        free(s);
        return r;
    }
    *ret = s;
    return 0;
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
        if (errno == ENOENT)
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
        if (errno == ELOOP)
            return logto_error_set(err, LOGTO_E_UNSAFE, "%s is a symbolic link", path);
        return logto_error_set(err, LOGTO_E_IO, "cannot open %s: %s", path, strerror(errno));
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
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int dirfd = -1, fd = -1;
    const char *base;
    struct stat st;
    int r;

    if (!path || path[0] != '/' || logto_path_split(path, &dir, &base) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "snapshot path must be absolute: %s",
                               path ? path : "(null)");
    r = logto_dir_open_trusted(dir, false, &dirfd, err);
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
    munmap(snap->map, snap->size);
    free(snap);
}

bool logto_snapshot_is_stale(const struct logto_snapshot *snap)
{
    return __atomic_load_n(&snap->hdr->stale, __ATOMIC_ACQUIRE) != 0;
}

uint64_t logto_snapshot_generation(const struct logto_snapshot *snap)
{
    return snap->hdr->generation;
}

int64_t logto_snapshot_created_at(const struct logto_snapshot *snap)
{
    return snap->hdr->created_at;
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
    *ret_dev = snap->dev;
    *ret_ino = snap->ino;
}

/* ---------------------------------------------------------------- lookups */

/*
 * Text that may become a passwd field: no separator, newline or other control character.
 * Every entry of an enumeration passes here, so on little-endian machines it tests eight bytes
 * at a time while the string table (which ends in NUL, at end) has eight more.
 */
static bool field_text(const char *s, const char *end, uint32_t *ret_len)
{
    const unsigned char *p = (const unsigned char *)s;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
    for (; (const char *)end - (const char *)p >= 8; p += 8) {
        uint64_t w, del, colon, stop;
        memcpy(&w, p, sizeof(w));
        del = w ^ (ones * 0x7f);
        colon = w ^ (ones * ':');
        /* The high bit of each byte that is below 0x20 (NUL too), 0x7f or ':'. A borrow can
         * only set flags above a flagged byte, so the lowest flag is always a true one. */
        stop =
            (((w - ones * 0x20) & ~w) | ((del - ones) & ~del) | ((colon - ones) & ~colon)) & highs;
        if (stop) {
            p += __builtin_ctzll(stop) / 8; /* the first special byte: NUL ends the text */
            break;
        }
    }
#else
    (void)end;
#endif
    for (; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            return false;
    *ret_len = (uint32_t)(p - (const unsigned char *)s);
    return true;
}

static bool name_text(const char *s, uint32_t *ret_len)
{
    size_t len = logto_name_length(s);

    *ret_len = (uint32_t)len;
    return len > 0;
}

int logto_snapshot_user_at(const struct logto_snapshot *snap, uint32_t index,
                           struct logto_snap_user *ret)
{
    const struct logto_snapshot_user *u;
    struct logto_snap_user v;
    const char *end;

    if (index >= snap->n_users)
        return -LOGTO_E_NOTFOUND;
    u = &snap->users[index];
    v.index = index;
    v.uid = u->uid;
    v.gid = u->gid;
    v.flags = u->flags;
    v.name = snap->strings + u->name;
    v.gecos = snap->strings + u->gecos;
    v.home = snap->strings + u->home;
    v.shell = snap->strings + u->shell;
    v.sub = snap->strings + u->sub;
    v.gids = snap->user_gids + u->gids_first;
    v.n_gids = u->gids_count;
    v.updated_at = u->updated_at;
    end = snap->strings + snap->strings_size;
    if (!name_text(v.name, &v.name_len) || !field_text(v.gecos, end, &v.gecos_len) ||
        !field_text(v.home, end, &v.home_len) || !field_text(v.shell, end, &v.shell_len) ||
        v.home[0] != '/' || v.shell[0] != '/')
        return -LOGTO_E_CORRUPT;
    *ret = v;
    return 0;
}

int logto_snapshot_group_at(const struct logto_snapshot *snap, uint32_t index,
                            struct logto_snap_group *ret)
{
    const struct logto_snapshot_group *g;
    struct logto_snap_group v;

    if (index >= snap->n_groups)
        return -LOGTO_E_NOTFOUND;
    g = &snap->groups[index];
    v.index = index;
    v.gid = g->gid;
    v.kind = g->kind;
    v.name = snap->strings + g->name;
    v.source = snap->strings + g->source;
    v.n_members = g->members_count;
    v.members = snap->members + g->members_first;
    v.member_names = snap->strings + g->member_names;
    v.member_names_size = g->member_names_size;
    if (!name_text(v.name, &v.name_len))
        return -LOGTO_E_CORRUPT;
    /* Validation counted the names; here each must be a name. */
    for (const char *m = v.member_names; m < v.member_names + v.member_names_size;) {
        uint32_t len;
        if (!name_text(m, &len))
            return -LOGTO_E_CORRUPT;
        m += len + 1;
    }
    *ret = v;
    return 0;
}

const char *logto_snapshot_group_member(const struct logto_snapshot *snap,
                                        const struct logto_snap_group *group, uint32_t i,
                                        uint32_t *ret_len)
{
    const char *name;
    uint32_t len;

    if (i >= group->n_members)
        return NULL;
    name = snap->strings + snap->users[group->members[i]].name;
    if (!name_text(name, &len))
        return NULL;
    if (ret_len)
        *ret_len = len;
    return name;
}

/*
 * Linear probing from the hash's bucket. The probe count is bounded by the table size, and
 * validation guaranteed empty slots, so a lookup always ends.
 */
static uint32_t probe_name(const struct logto_snapshot *snap, int idx, const char *name, bool users)
{
    size_t len = strlen(name);
    uint64_t h = logto_snapshot_hash_name(snap->hdr->hash_key, name, len);
    uint32_t mask = snap->idx_mask[idx], tag = (uint32_t)(h >> 32);
    const struct logto_snapshot_slot *slots = snap->idx[idx];

    for (uint32_t n = 0, pos = (uint32_t)h & mask; n <= mask; n++, pos = (pos + 1) & mask) {
        uint32_t i = slots[pos].index;
        if (i == LOGTO_SNAPSHOT_EMPTY_SLOT)
            break;
        if (slots[pos].key != tag)
            continue;
        uint32_t off = users ? snap->users[i].name : snap->groups[i].name;
        if (strcmp(snap->strings + off, name) == 0)
            return i;
    }
    return LOGTO_SNAPSHOT_EMPTY_SLOT;
}

static uint32_t probe_id(const struct logto_snapshot *snap, int idx, uint32_t id, bool users)
{
    uint64_t h = logto_snapshot_hash_id(snap->hdr->hash_key, id);
    uint32_t mask = snap->idx_mask[idx];
    const struct logto_snapshot_slot *slots = snap->idx[idx];

    for (uint32_t n = 0, pos = (uint32_t)h & mask; n <= mask; n++, pos = (pos + 1) & mask) {
        uint32_t i = slots[pos].index;
        if (i == LOGTO_SNAPSHOT_EMPTY_SLOT)
            break;
        if (slots[pos].key == id && (users ? snap->users[i].uid : snap->groups[i].gid) == id)
            return i;
    }
    return LOGTO_SNAPSHOT_EMPTY_SLOT;
}

int logto_snapshot_user_by_name(const struct logto_snapshot *snap, const char *name,
                                struct logto_snap_user *ret)
{
    uint32_t i = probe_name(snap, IDX_USER_NAME, name, true);
    return i == LOGTO_SNAPSHOT_EMPTY_SLOT ? -LOGTO_E_NOTFOUND
                                          : logto_snapshot_user_at(snap, i, ret);
}

int logto_snapshot_user_by_uid(const struct logto_snapshot *snap, uint32_t uid,
                               struct logto_snap_user *ret)
{
    uint32_t i;

    if (logto_id_reserved(uid))
        return -LOGTO_E_NOTFOUND;
    i = probe_id(snap, IDX_UID, uid, true);
    return i == LOGTO_SNAPSHOT_EMPTY_SLOT ? -LOGTO_E_NOTFOUND
                                          : logto_snapshot_user_at(snap, i, ret);
}

int logto_snapshot_group_by_name(const struct logto_snapshot *snap, const char *name,
                                 struct logto_snap_group *ret)
{
    uint32_t i = probe_name(snap, IDX_GROUP_NAME, name, false);
    return i == LOGTO_SNAPSHOT_EMPTY_SLOT ? -LOGTO_E_NOTFOUND
                                          : logto_snapshot_group_at(snap, i, ret);
}

int logto_snapshot_group_by_gid(const struct logto_snapshot *snap, uint32_t gid,
                                struct logto_snap_group *ret)
{
    uint32_t i;

    if (logto_id_reserved(gid))
        return -LOGTO_E_NOTFOUND;
    i = probe_id(snap, IDX_GID, gid, false);
    return i == LOGTO_SNAPSHOT_EMPTY_SLOT ? -LOGTO_E_NOTFOUND
                                          : logto_snapshot_group_at(snap, i, ret);
}

/* ---------------------------------------------------------------- the per-process cache */

/* Remember a refused file and log it, once per file. */
static int cache_refuse_locked(struct logto_snapshot_cache *c, int r, const struct logto_error *e,
                               struct logto_error *err)
{
    struct logto_file_identity id;
    struct stat st;
    bool known;

    /* Without an identity (e.g. the path cannot be reached), the message stands for the file. */
    if (lstat(c->path, &st) == 0) {
        logto_file_identity_from_stat(&id, &st);
        known = c->have_refused && logto_file_identity_equal(&id, &c->refused);
        c->have_refused = true;
        c->refused = id;
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
        if (r == -LOGTO_E_NOMEM)
            return logto_error_set(err, LOGTO_E_NOMEM, "%s", e.message);
        if (r < 0)
            return cache_refuse_locked(c, r, &e, err);

        if (logto_snapshot_is_stale(snap)) {
            dev_t dev = snap->dev;
            ino_t ino = snap->ino;
            logto_snapshot_unref(snap);
            if (!path_names(c->path, dev, ino))
                continue; /* replaced meanwhile: map the newer file */
            /* Only a writer that replaced it may mark a file; one still in place is damaged. */
            logto_error_set(&e, LOGTO_E_CORRUPT, "%s: marked stale but still in place", c->path);
            return cache_refuse_locked(c, -LOGTO_E_CORRUPT, &e, err);
        }
        c->have_refused = false;
        c->current = snap;
        c->next_restat_ns = logto_monotonic_coarse_ns() + c->restat_interval_ns;
        *ret = logto_snapshot_ref(snap);
        return 0;
    }
    return logto_error_set(err, LOGTO_E_BUSY, "%s keeps being replaced", c->path);
}

static int cache_get_locked(struct logto_snapshot_cache *c, struct logto_snapshot **ret,
                            struct logto_error *err)
{
    struct logto_snapshot *cur = c->current;

    if (cur && !logto_snapshot_is_stale(cur)) {
        int64_t now = logto_monotonic_coarse_ns();
        if (now < c->next_restat_ns) {
            *ret = logto_snapshot_ref(cur);
            return 0;
        }
        /* Backstop for a writer that died between its rename and marking the old file. */
        c->next_restat_ns = now + c->restat_interval_ns;
        if (path_names(c->path, cur->dev, cur->ino)) {
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

void logto_snapshot_cache_reset(struct logto_snapshot_cache *cache)
{
    struct logto_snapshot *old;

    pthread_mutex_lock(&cache->lock);
    old = cache->current;
    cache->current = NULL;
    cache->have_refused = false;
    cache->next_restat_ns = 0;
    pthread_mutex_unlock(&cache->lock);
    logto_snapshot_unref(old);
}
