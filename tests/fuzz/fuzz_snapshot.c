/* SPDX-License-Identifier: MIT */
/*
 * fuzz_snapshot: arbitrary bytes as a directory snapshot file, as the NSS module and logtoctl
 * read it. The bytes are mapped twice: as they are (the header and region checks), and fixed up
 * (magic, file_size, a region table that ends the file, every checksum: version 1 or 2), so
 * mutations reach the geometry, record and index checks behind the checksums. A mapping that
 * opens is then used the way the NSS module uses it: every user and group by position, by name
 * and by ID, every member, supplementary GIDs, and a few names and IDs that are not there, all
 * of it checked lazily. Last, logto_snapshot_read (directory.h) loads the fixed-up file from a
 * private directory and the full directory validation runs on it.
 *
 * The target links with -Wl,--wrap=mmap,--wrap=munmap: the reader's mappings become heap
 * copies of exactly the file's size, so ASan reports any read past the end of the file (a real
 * mapping would hand out the zeros of the last page's tail without a fault).
 *
 * Oracles: lookups never leave the file; the local files' fingerprint is the header's (0 in
 * version 1) and logto_snapshot_read carries it; an entry found by name or ID has that name or ID,
 * and in a file the full check passes it is the entry at that position; a user or group that
 * logto_snapshot_read accepted is served by the lookups; the lazy checks and the full check agree:
 * damage found by lookups is found by logto_snapshot_verify on a fresh mapping of the same bytes,
 * and a file the full check passes is never found damaged by lookups.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "directory.h"
#include "hash.h"
#include "snapshot.h"

#include "fuzz.h"

static int memfd = -1;
static char path[PATH_MAX];

/* ---- the reader's mmap and munmap, as exact-size heap copies ---- */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);

static struct {
    void *p;
    size_t len;
} copies[8];

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    size_t slot = 0, got = 0;
    uint8_t *p;

    if (fd < 0 || off != 0 || (prot & PROT_WRITE) || len == 0)
        return __real_mmap(addr, len, prot, flags, fd, off);
    while (slot < sizeof(copies) / sizeof(copies[0]) && copies[slot].p)
        slot++;
    if (slot == sizeof(copies) / sizeof(copies[0]) || !(p = malloc(len)))
        return MAP_FAILED;
    while (got < len) {
        ssize_t k = pread(fd, p + got, len - got, (off_t)got);
        if (k <= 0) {
            free(p);
            return MAP_FAILED;
        }
        got += (size_t)k;
    }
    copies[slot].p = p;
    copies[slot].len = len;
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++)
        if (copies[i].p == addr) {
            if (copies[i].len != len)
                abort(); /* unmapped with another length than mapped */
            free(addr);
            copies[i].p = NULL;
            return 0;
        }
    return __real_munmap(addr, len);
}

static void setup(void)
{
    memfd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
    if (memfd < 0)
        fuzz_die("memfd_create");
    fuzz_path(path, sizeof(path), LOGTO_SNAPSHOT_NAME);
}

static int map(const uint8_t *data, size_t size, struct logto_snapshot **ret)
{
    struct logto_error err = { 0 };
    struct stat st;

    if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size ||
        fstat(memfd, &st) < 0)
        fuzz_die("memfd write");
    return logto_snapshot_map_fd(memfd, &st, "fuzz.snapshot", ret, &err);
}

/* Found by name: that name. In a file the full check passed (no two entries of one name),
 * the very entry. */
static void same_user(const struct logto_snap_user *a, const struct logto_snap_user *b, bool strict)
{
    if (strcmp(a->name, b->name) != 0 ||
        (strict && (a->index != b->index || a->uid != b->uid || a->name != b->name)))
        abort();
}

static void same_group(const struct logto_snap_group *a, const struct logto_snap_group *b,
                       bool strict)
{
    if (strcmp(a->name, b->name) != 0 ||
        (strict && (a->index != b->index || a->gid != b->gid || a->name != b->name)))
        abort();
}

static void use(const struct logto_snapshot *snap, bool strict)
{
    static const char *const absent[] = { "root", "nobody", "", "a", "alice", "developers" };
    static const uint32_t absent_ids[] = { 0, 1, 65534, 65535, 1000, 10001, 20001, UINT32_MAX };
    uint32_t nu = logto_snapshot_n_users(snap), ng = logto_snapshot_n_groups(snap);
    volatile size_t sink = 0;

    (void)logto_snapshot_is_stale(snap);
    (void)logto_snapshot_generation(snap);
    (void)logto_snapshot_created_at(snap);
    for (uint32_t i = 0; i <= nu; i++) {
        struct logto_snap_user u, v;
        if (logto_snapshot_user_at(snap, i, &u) < 0)
            continue;
        /* Touch every byte the NSS module copies out. */
        const char *sub;
        sink += strlen(u.name) + strlen(u.gecos) + strlen(u.home) + strlen(u.shell) + u.name_len +
                u.gecos_len + u.home_len + u.shell_len;
        if (logto_snapshot_user_sub(snap, &u, &sub) == 0)
            sink += strlen(sub);
        const uint32_t *gids;
        if (logto_snapshot_user_gids(snap, &u, &gids) == 0)
            for (uint32_t k = 0; k < u.n_gids; k++)
                sink += gids[k];
        if (logto_snapshot_user_by_name(snap, u.name, &v) == 0)
            same_user(&u, &v, strict);
        if (logto_snapshot_user_by_uid(snap, u.uid, &v) == 0 && v.uid != u.uid)
            abort();
    }
    for (uint32_t i = 0; i <= ng; i++) {
        struct logto_snap_group g, h;
        uint32_t len;
        if (logto_snapshot_group_at(snap, i, &g) < 0)
            continue;
        const uint32_t *members;
        const char *source;
        sink += strlen(g.name) + g.name_len;
        if (logto_snapshot_group_source(snap, &g, &source) == 0)
            sink += strlen(source);
        if (logto_snapshot_group_members(snap, &g, &members) == 0)
            for (uint32_t k = 0; k < g.n_members; k++)
                sink += members[k];
        for (uint32_t k = 0; k <= g.n_members; k++) {
            const char *m = logto_snapshot_group_member(snap, &g, k, &len);
            if (m)
                sink += strlen(m) + len;
        }
        if (logto_snapshot_group_by_name(snap, g.name, &h) == 0)
            same_group(&g, &h, strict);
        if (logto_snapshot_group_by_gid(snap, g.gid, &h) == 0 && h.gid != g.gid)
            abort();
    }
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        struct logto_snap_user u;
        struct logto_snap_group g;
        (void)logto_snapshot_user_by_name(snap, absent[i], &u);
        (void)logto_snapshot_group_by_name(snap, absent[i], &g);
    }
    for (size_t i = 0; i < sizeof(absent_ids) / sizeof(absent_ids[0]); i++) {
        struct logto_snap_user u;
        struct logto_snap_group g;
        (void)logto_snapshot_user_by_uid(snap, absent_ids[i], &u);
        (void)logto_snapshot_group_by_gid(snap, absent_ids[i], &g);
    }
    (void)sink;
}

/* What logto_snapshot_read accepted, the lookups must serve. */
static void read_whole(const struct logto_snapshot *snap)
{
    struct logto_directory *dir = NULL;
    struct logto_error err = { 0 };

    if (logto_snapshot_read(path, &dir, &err) < 0)
        return;
    if (dir->local_files != logto_snapshot_local_files(snap))
        abort();
    for (size_t i = 0; i < dir->n_users; i++) {
        struct logto_snap_user u;
        if (logto_snapshot_user_by_name(snap, dir->users[i].name, &u) < 0 ||
            u.uid != dir->users[i].uid || logto_snapshot_user_by_uid(snap, u.uid, &u) < 0)
            abort();
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        struct logto_snap_group g;
        if (logto_snapshot_group_by_name(snap, dir->groups[i].name, &g) < 0 ||
            g.gid != dir->groups[i].gid || logto_snapshot_group_by_gid(snap, g.gid, &g) < 0)
            abort();
    }
    if (logto_directory_validate(dir, &err) < 0)
        abort();
    logto_directory_free(dir);
}

/* The fingerprint the guard compares is the header's, never a version-1 file's bytes. */
static void check_local_files(const uint8_t *data, struct logto_snapshot *snap)
{
    uint64_t want = 0;

    if (logto_snapshot_version(snap) == LOGTO_SNAPSHOT_VERSION)
        memcpy(&want, data + offsetof(struct logto_snapshot_header, local_files), sizeof(want));
    if (logto_snapshot_local_files(snap) != want)
        abort();
}

/* The lazy checks (use) and the full check (a fresh mapping) agree on these bytes. */
static void use_and_compare(const uint8_t *data, size_t size, struct logto_snapshot *snap)
{
    struct logto_snapshot *fresh = NULL;
    int full;

    check_local_files(data, snap);
    if (map(data, size, &fresh) != 0)
        abort(); /* opened once, must open again */
    full = logto_snapshot_verify(fresh, NULL);
    use(snap, full == 0);
    if (logto_snapshot_damaged(snap, NULL) && full == 0)
        abort(); /* lookups saw damage that the full check missed */
    if (full == 0 && logto_snapshot_damaged(fresh, NULL))
        abort();
    logto_snapshot_unref(fresh);
}

/* A region table that ends the file, as version 2 needs, where the sizes allow one. */
static void place_regions(uint8_t *buf, size_t size)
{
    struct logto_snapshot_header *h = (struct logto_snapshot_header *)buf;
    uint64_t region;

    if (h->region_shift < LOGTO_SNAPSHOT_REGION_SHIFT_MIN ||
        h->region_shift > LOGTO_SNAPSHOT_REGION_SHIFT_MAX)
        h->region_shift = LOGTO_SNAPSHOT_REGION_SHIFT_MIN + h->region_shift % 7;
    region = UINT64_C(1) << h->region_shift;
    for (uint64_t n = size / (region + 8); n <= size / (region + 8) + 2; n++) {
        uint64_t offset = size - n * 8;
        if (n * 8 <= size && offset % 8 == 0 && (offset + region - 1) / region == n) {
            h->n_regions = (uint32_t)n;
            h->tables[LOGTO_SNAP_REGIONS].offset = offset;
            h->tables[LOGTO_SNAP_REGIONS].size = n * 8;
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_snapshot_header *h;
    struct logto_snapshot *snap = NULL;
    uint8_t *fixed;

    if (memfd < 0)
        setup();
    if (size > 1024 * 1024)
        return 0;
    if (map(data, size, &snap) == 0) {
        use_and_compare(data, size, snap);
        logto_snapshot_unref(snap);
    }
    if (size < sizeof(*h))
        return 0;

    /* Make the geometry of the checksums and the checksums right, so the checks behind them
     * run. */
    fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    h = (struct logto_snapshot_header *)fixed;
    memcpy(h->magic, LOGTO_SNAPSHOT_MAGIC, sizeof(h->magic));
    h->file_size = size;
    if (h->version != LOGTO_SNAPSHOT_VERSION_1) {
        h->version = LOGTO_SNAPSHOT_VERSION;
        place_regions(fixed, size);
    }
    logto_snapshot_seal(fixed, size);
    if (map(fixed, size, &snap) == 0) {
        use_and_compare(fixed, size, snap);
        fuzz_write_file(path, fixed, size, 0644);
        read_whole(snap);
        logto_snapshot_unref(snap);
    }
    free(fixed);
    return 0;
}
