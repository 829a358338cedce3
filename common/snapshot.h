/* SPDX-License-Identifier: MIT */
/*
 * The directory snapshot: one binary, memory-mapped file that the NSS module answers from, and
 * its reader. The writer is logto_snapshot_write() in directory.h. No third-party dependencies.
 *
 * File layout, format version 2 (native byte order, recorded in the header; other orders are
 * refused):
 *
 *   header (280 bytes)   magic, version, sizes, counts, hash key, table offsets, region size,
 *                        the local files' fingerprint, the region table's checksum, the
 *                        header's checksum, the stale word
 *   users                struct logto_snapshot_user[n_users], sorted by UID
 *   groups               struct logto_snapshot_group[n_groups], sorted by GID
 *   members              uint32_t[n_members]: user indexes; each group owns a sorted run
 *   user_gids            uint32_t[n_user_gids]: supplementary GIDs; each user owns a sorted run
 *   4 hash indexes       struct logto_snapshot_slot[2^k], 2^k >= 2 x count, linear probing:
 *                        user name, UID, group name, GID
 *   strings              NUL-terminated strings; offset 0 is "". Each group's member names
 *                        also sit there once more, back to back in member order, so a group is
 *                        copied out in one sequential pass (a member list of user indexes alone
 *                        costs two random reads per member, a millisecond for a group of
 *                        thousands)
 *   regions              uint64_t[n_regions]: the checksum of every region (below)
 *
 * Every table starts 8-byte aligned. Name indexes hash with SipHash-2-4 under the file's random
 * key and keep the upper 32 bits of the hash in the slot, so a probe rarely touches a record;
 * ID indexes keep the ID itself.
 *
 * Checksums. The file before the region table is cut into regions of 2^region_shift bytes
 * (4 KiB, the page size, as written) at fixed file offsets: region i is the bytes
 * [i << shift, (i + 1) << shift), less the header for region 0 and less what lies past the
 * region table's offset for the last. regions[i] = XXH64(region i, seed i) (the seed binds a
 * checksum to its place: swapped or repeated blocks fail). regions_checksum = XXH64 of the
 * region table; header_checksum = XXH64 of the header up to that field.
 *
 * Why regions, and what a process pays. Version 1 checked the whole file (one XXH64 of every
 * byte, and every record, slot and list) before the first lookup of every process: 12 ms at
 * 100,000 users, more than nss_files' whole lookup. Now opening costs O(1) plus the region
 * table (8 bytes per 4 KiB: 52 KB, a few microseconds, at 100,000 users), and the rest is paid
 * by the lookups that need it, once per region per mapping:
 *
 *  - at open, before anything else is read: magic, version, byte order, header size and
 *    checksum, flags, the stale word, the file size against fstat, counts, every table's
 *    offset, alignment, order and size (against its count, or a power-of-two index of at least
 *    twice its count), the region size, and the region table against its checksum;
 *  - at lookup: every byte read as data (each probed index slot, the record, its strings, its
 *    GID run, member run and member-name list) lies in regions whose checksum has been
 *    verified: a bitmap per mapping remembers which (atomic bit operations: threads can only
 *    race into verifying a region twice). A region that fails its checksum marks the whole
 *    mapping damaged: every later lookup in it fails, and the per-process cache refuses the file
 *    (logged once, remembered by identity). The served entry is then checked structurally:
 *    string offsets inside the string table and every string NUL-terminated inside it (scans
 *    stop at the end of verified bytes), runs inside their tables, slot indexes below the
 *    count, member indexes below n_users, the member-name list holding exactly n_members
 *    names, GID runs strictly increasing, no reserved IDs, a known group kind. A failure here
 *    (a file whose checksums match but whose content is wrong: a writer bug or a crafted file)
 *    also marks the mapping damaged. Last, the text that becomes passwd/group output (names,
 *    gecos, home, shell) must pass the text rules, or that entry alone is treated as absent.
 *    An entry that passed sets its bit in a second bitmap (a bit per user, per group and per
 *    user's GID run), so later lookups of it read the view out without checking the same
 *    immutable bytes again: steady-state lookups and enumerations cost what they cost when
 *    everything was checked at open. What no passwd or group line shows (a user's sub, a group's
 * source, member indexes) is checked only when asked for.
 *
 * The choices: 4 KiB regions are the page size (verifying one touches one page, and costs
 * about a microsecond); 64-bit checksums seeded with the region's index (one XXH64 per region,
 * as fast as the whole-file hash was, per byte); the region table verified at open rather than
 * in a tree of tables, because at 8 bytes per 4 KiB it stays small (52 KB at 100,000 users,
 * 1 MB at 2 million). The alternative of no checksums at lookup, only structural checks, would
 * serve a flipped bit inside a valid field (a UID, a name) as data: the regions exclude that.
 *
 * Measured (bench/README.md): opening takes 39-43 us at 1,000 to 100,000 users where version 1
 * took 0.16-12 ms, and a whole `getent passwd USER` process costs 1.03x as much at 100,000
 * users as at 1,000 (5.2x less than with nss_files there).
 *
 * So a damaged byte can make an entry or the whole file refused, but is never served and never
 * makes a read leave the file; probes are bounded by the table size whatever the slots say.
 * logto_snapshot_verify() runs every check over every byte (O(N)); the writer runs it on the
 * image before publishing it, `logtoctl status` on the published file, and
 * logto_snapshot_read() (sync, sign-in, tools) before the full directory validation.
 *
 * The local files. `local_files` is the fingerprint (localset.h: device, inode, size, mtime and
 * ctime of both) of the /etc/passwd and /etc/group that the writer checked every entry against
 * (logto_directory_drop_local: no entry's name or ID is local there), taken with fstat of the
 * descriptors it read, before reading, so no change slips between the check and the fingerprint
 * (a change while or after they are read makes another identity). 0: unknown (the writer checked
 * other files, as tests do, or a file had changed less than two seconds before).
 * The NSS module's guard stats the two files at most once a second: while they still have this
 * fingerprint no entry can be local, so it hides nothing without reading them or checking any
 * entry; when they differ (a local account was added since) it reads them and checks every entry
 * it serves. The header checksum covers the field. A version-1 file has none (0).
 *
 * Version 1 (before regions; header of 256 bytes, one body checksum, same tables) is still
 * read, with its whole-file checksum verified at open, so a host upgraded with a version-1
 * file keeps serving its users; the next write (sync or sign-in) replaces it with version 2.
 *
 * Replacement: the writer renames a new file over the old one, then sets `stale` in the old
 * file, the only in-place change ever made to a published file. Readers load that word at each
 * call (struct logto_snapshot_cache) and remap; as a backstop for a writer that died between
 * rename and marking, they also re-stat the path at most once per restat interval. A published
 * file must never be rewritten in place (cp over it, truncate): processes that map it would
 * read a mix or die of SIGBUS.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "fileio.h"
#include "log.h"

/* ---------------------------------------------------------------- on-disk format */

#define LOGTO_SNAPSHOT_MAGIC            "LOGTODIR" /* 8 bytes, no NUL */
#define LOGTO_SNAPSHOT_VERSION          2u
#define LOGTO_SNAPSHOT_VERSION_1        1u /* read, never written */
#define LOGTO_SNAPSHOT_BYTE_ORDER       0x01020304u
#define LOGTO_SNAPSHOT_STALE            1u
#define LOGTO_SNAPSHOT_EMPTY_SLOT       UINT32_MAX
#define LOGTO_SNAPSHOT_MAX_COUNT        (1u << 24) /* users, groups */
#define LOGTO_SNAPSHOT_MAX_LIST         (1u << 28) /* member and GID list entries */
#define LOGTO_SNAPSHOT_MAX_SIZE         ((uint64_t)UINT32_MAX)
#define LOGTO_SNAPSHOT_REGION_SHIFT     12u /* what the writer uses: 4 KiB */
#define LOGTO_SNAPSHOT_REGION_SHIFT_MIN 6u  /* what the reader accepts */
#define LOGTO_SNAPSHOT_REGION_SHIFT_MAX 24u
/* Header flags. NO_ENUMERATE ([sync] enumerate = no): setpwent/getpwent and setgrent/getgrent
 * list no entry of this file; lookups by name, by ID and initgroups are unchanged. Readers before
 * this flag refuse any flag, so writers set it only when asked: with enumerate = yes (the default)
 * a file is what it always was. A downgraded reader refuses a file written with enumerate = no
 * (fail closed: no Logto user) until a writer of its own version replaces it. */
#define LOGTO_SNAPSHOT_F_NO_ENUMERATE 0x1u
#define LOGTO_SNAPSHOT_F_KNOWN        LOGTO_SNAPSHOT_F_NO_ENUMERATE

enum logto_snapshot_table {
    LOGTO_SNAP_USERS,
    LOGTO_SNAP_GROUPS,
    LOGTO_SNAP_MEMBERS,
    LOGTO_SNAP_USER_GIDS,
    LOGTO_SNAP_IDX_USER_NAME,
    LOGTO_SNAP_IDX_UID,
    LOGTO_SNAP_IDX_GROUP_NAME,
    LOGTO_SNAP_IDX_GID,
    LOGTO_SNAP_STRINGS,
    LOGTO_SNAP_REGIONS, /* version 2: last, ends the file */
    LOGTO_SNAP__TABLES
};
#define LOGTO_SNAP_V1_TABLES LOGTO_SNAP_REGIONS

struct logto_snapshot_table_ref {
    uint64_t offset; /* from the start of the file */
    uint64_t size;   /* bytes */
};

struct logto_snapshot_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;  /* LOGTO_SNAPSHOT_BYTE_ORDER as the writer stored it */
    uint32_t header_size; /* sizeof(struct logto_snapshot_header) */
    uint32_t flags;       /* LOGTO_SNAPSHOT_F_*; any other bit set is refused */
    uint64_t file_size;
    uint64_t generation; /* previous file's generation + 1 */
    int64_t created_at;  /* seconds since the epoch (the directory's generated_at) */
    uint32_t n_users, n_groups, n_members, n_user_gids;
    uint8_t hash_key[16]; /* SipHash key of the name and ID indexes, random per file */
    struct logto_snapshot_table_ref tables[LOGTO_SNAP__TABLES];
    uint32_t region_shift;     /* regions of 2^region_shift bytes */
    uint32_t n_regions;        /* ceil(tables[LOGTO_SNAP_REGIONS].offset / region size) */
    uint64_t local_files;      /* the local files every entry was checked against (below) */
    uint64_t regions_checksum; /* XXH64(the region table, seed 0) */
    uint64_t header_checksum;  /* XXH64(bytes [0, offsetof(header_checksum)), seed 0) */
    uint32_t stale;            /* 0; LOGTO_SNAPSHOT_STALE once replaced. Not checksummed. */
    uint32_t reserved;         /* zero; not checksummed, so checked on its own */
};

/* Version 1: the same up to hash_key, nine tables, one checksum over everything after it. */
struct logto_snapshot_header_v1 {
    char magic[8];
    uint32_t version, byte_order, header_size, flags;
    uint64_t file_size, generation;
    int64_t created_at;
    uint32_t n_users, n_groups, n_members, n_user_gids;
    uint8_t hash_key[16];
    struct logto_snapshot_table_ref tables[LOGTO_SNAP_V1_TABLES];
    uint64_t reserved0;       /* zero */
    uint64_t body_checksum;   /* XXH64(bytes [header_size, file_size), seed 0) */
    uint64_t header_checksum; /* XXH64(bytes [0, offsetof(header_checksum)), seed 0) */
    uint32_t stale;
    uint32_t reserved1;
};

struct logto_snapshot_user {
    uint32_t uid, gid, flags;
    uint32_t name, gecos, home, shell, sub; /* string offsets */
    uint32_t gids_first, gids_count;        /* run in user_gids */
    int64_t updated_at;
};

struct logto_snapshot_group {
    uint32_t gid, kind;
    uint32_t name, source;                    /* string offsets */
    uint32_t members_first, members_count;    /* run in members */
    uint32_t member_names, member_names_size; /* the members' names back to back (strings) */
};

struct logto_snapshot_slot {
    uint32_t key;   /* name indexes: hash >> 32; ID indexes: the ID */
    uint32_t index; /* record index, or LOGTO_SNAPSHOT_EMPTY_SLOT */
};

_Static_assert(sizeof(struct logto_snapshot_header) == 280, "header layout");
_Static_assert(sizeof(struct logto_snapshot_header_v1) == 256, "version 1 header layout");
_Static_assert(offsetof(struct logto_snapshot_header, tables) ==
                   offsetof(struct logto_snapshot_header_v1, tables),
               "versions 1 and 2 share the header up to the tables");
_Static_assert(sizeof(struct logto_snapshot_user) == 48, "user record layout");
_Static_assert(sizeof(struct logto_snapshot_group) == 32, "group record layout");
_Static_assert(sizeof(struct logto_snapshot_slot) == 8, "slot layout");

/* The hash of a name or ID as both writer and reader compute it. */
uint64_t logto_snapshot_hash_name(const uint8_t key[16], const char *name, size_t len);
uint64_t logto_snapshot_hash_id(const uint8_t key[16], uint32_t id);

/* ---------------------------------------------------------------- where nss_logto reads */

/*
 * The file nss_logto answers from: $LOGTO_NSS_SNAPSHOT (tests; secure_getenv, so privileged
 * processes ignore it) or LOGTO_STATE_DIR/directory.snapshot. NULL when the override is not an
 * absolute path (nss_logto then answers nothing). state_dir in logto.conf does not move it.
 */
const char *logto_snapshot_nss_path(void);
/* The checksum of region i of a version-2 file whose header (at file) is filled in. */
uint64_t logto_snapshot_region_checksum(const uint8_t *file, const struct logto_snapshot_header *h,
                                        uint32_t i);

/*
 * Seal an image: fill in its checksums (version 2: every region, the region table, the header;
 * version 1: the body and the header). The writer's last step; tests and the fuzz target reseal
 * images they damaged on purpose, so only as far as the header's geometry lies inside len.
 * 0, or -LOGTO_E_INVAL (no snapshot header).
 */
int logto_snapshot_seal(uint8_t *buf, size_t len);

/*
 * A published file's header, as the writer checks the file it is about to replace: magic, byte
 * order, a known version and its header checksum. Fills the generation and where the stale word
 * lies. 0 or -LOGTO_E_CORRUPT.
 */
int logto_snapshot_header_peek(const void *buf, size_t len, uint64_t *ret_generation,
                               size_t *ret_stale_offset);

/* ---------------------------------------------------------------- mappings */

/* One opened, read-only, reference-counted mapping of a snapshot file. */
struct logto_snapshot;

/*
 * Open path (O_NOFOLLOW; its directory must pass logto_dir_open_trusted), check the file
 * (regular, trusted owner, one link, not writable by group or others) and its header and
 * geometry (O(1) and the region table; see above). Errors: -LOGTO_E_NOTFOUND (no file),
 * -LOGTO_E_UNSAFE, -LOGTO_E_CORRUPT (the file is bad), -LOGTO_E_IO (it could not be read),
 * -LOGTO_E_NOMEM (out of memory, address space or descriptors: a passing condition),
 * -LOGTO_E_BUSY (replaced while being opened: try again). The caller owns one reference.
 */
int logto_snapshot_open(const char *path, struct logto_snapshot **ret, struct logto_error *err);

/* The same for an already opened and checked file (st from its fstat). fd is not kept. */
int logto_snapshot_map_fd(int fd, const struct stat *st, const char *path,
                          struct logto_snapshot **ret, struct logto_error *err);

/*
 * Every check over every byte: all region checksums and every record, slot, run and string
 * (lookups do the same lazily, for what they touch), then what only the whole file can show:
 * every entry is found by its name and ID where it is (no two of one name or ID), member lists
 * and GID lists agree. O(N). 0 or -LOGTO_E_CORRUPT, the message naming the first problem.
 */
int logto_snapshot_verify(const struct logto_snapshot *snap, struct logto_error *err);

/* Check an image in memory the way readers check a file, whole (the open checks, then
 * logto_snapshot_verify): the writer's check of what it is about to publish. buf is read only
 * while this runs. 0 or -LOGTO_E_CORRUPT. */
int logto_snapshot_check_image(const void *buf, size_t len, struct logto_error *err);

/* Reference counting is atomic: any thread may drop a reference it holds. */
struct logto_snapshot *logto_snapshot_ref(struct logto_snapshot *snap);
void logto_snapshot_unref(struct logto_snapshot *snap);
static inline void logto_snapshot_unrefp(struct logto_snapshot **snap)
{
    if (*snap)
        logto_snapshot_unref(*snap);
}
#define _cleanup_snapshot_ _cleanup_(logto_snapshot_unrefp)

/* True once a writer has replaced this file (an atomic load of the stale word). */
bool logto_snapshot_is_stale(const struct logto_snapshot *snap);

/*
 * True once a lookup (or verify) found the mapping damaged: a region failed its checksum, or a
 * record, slot or list broke the format. Every later lookup in it fails with -LOGTO_E_CORRUPT.
 * err (optional) gets the message, naming the file and the first problem found.
 */
bool logto_snapshot_damaged(const struct logto_snapshot *snap, struct logto_error *err);

uint32_t logto_snapshot_version(const struct logto_snapshot *snap);
uint64_t logto_snapshot_generation(const struct logto_snapshot *snap);
/* The fingerprint of the local files the writer checked against (above); 0: unknown. */
uint64_t logto_snapshot_local_files(const struct logto_snapshot *snap);
int64_t logto_snapshot_created_at(const struct logto_snapshot *snap);
/* The header's LOGTO_SNAPSHOT_F_* flags (0 for version 1). */
uint32_t logto_snapshot_flags(const struct logto_snapshot *snap);
/* False when the file says not to enumerate (LOGTO_SNAPSHOT_F_NO_ENUMERATE). */
bool logto_snapshot_enumerate(const struct logto_snapshot *snap);
uint32_t logto_snapshot_n_users(const struct logto_snapshot *snap);
uint32_t logto_snapshot_n_groups(const struct logto_snapshot *snap);
/* The file this mapping came from. */
void logto_snapshot_identity(const struct logto_snapshot *snap, dev_t *ret_dev, ino_t *ret_ino);

/* Regions (tests and benchmarks): how many, and whether region i has been verified. A
 * version-1 mapping has none (it was verified whole when opened). */
uint32_t logto_snapshot_n_regions(const struct logto_snapshot *snap);
bool logto_snapshot_region_verified(const struct logto_snapshot *snap, uint32_t i);

/* ---------------------------------------------------------------- lookups */

/*
 * Views into a mapping: valid while the caller holds a reference to it. Lookups are O(1)
 * expected, allocate nothing and take no lock. They return 0, -LOGTO_E_NOTFOUND, or
 * -LOGTO_E_CORRUPT: either the entry's text is not fit for passwd/group output (that entry is
 * to be treated as absent), or the mapping is damaged (logto_snapshot_damaged() says which).
 */
struct logto_snap_user {
    uint32_t index; /* position in enumeration order */
    uint32_t uid, gid, flags;
    const char *name, *gecos, *home, *shell; /* checked as passwd fields */
    uint32_t name_len, gecos_len, home_len, shell_len;
    uint32_t sub_offset; /* the sub: logto_snapshot_user_sub() */
    uint32_t n_gids;     /* supplementary GIDs: logto_snapshot_user_gids() */
    uint32_t gids_first;
    int64_t updated_at;
};

struct logto_snap_group {
    uint32_t index;
    uint32_t gid, kind;
    const char *name;
    uint32_t name_len;
    uint32_t source_offset;   /* the source: logto_snapshot_group_source() */
    uint32_t n_members;       /* user indexes: logto_snapshot_group_members() */
    uint32_t members_first;   /* ... */
    const char *member_names; /* n_members checked names, each NUL-terminated, back to back */
    uint32_t member_names_size;
};

int logto_snapshot_user_at(const struct logto_snapshot *snap, uint32_t index,
                           struct logto_snap_user *ret);
int logto_snapshot_user_by_name(const struct logto_snapshot *snap, const char *name,
                                struct logto_snap_user *ret);
int logto_snapshot_user_by_uid(const struct logto_snapshot *snap, uint32_t uid,
                               struct logto_snap_user *ret);

/*
 * What no passwd or group line shows is checked when asked for (a lookup through NSS never
 * reads it): a user's sub, a group's source. 0 and the string, or -LOGTO_E_CORRUPT (damaged).
 */
int logto_snapshot_user_sub(const struct logto_snapshot *snap, const struct logto_snap_user *user,
                            const char **ret);
int logto_snapshot_group_source(const struct logto_snapshot *snap,
                                const struct logto_snap_group *group, const char **ret);

/* A user's supplementary GIDs, verified (strictly increasing, none reserved; the primary GID
 * may be among them): 0 and the array of user->n_gids, or -LOGTO_E_CORRUPT (damaged). */
int logto_snapshot_user_gids(const struct logto_snapshot *snap, const struct logto_snap_user *user,
                             const uint32_t **ret);

int logto_snapshot_group_at(const struct logto_snapshot *snap, uint32_t index,
                            struct logto_snap_group *ret);
int logto_snapshot_group_by_name(const struct logto_snapshot *snap, const char *name,
                                 struct logto_snap_group *ret);
int logto_snapshot_group_by_gid(const struct logto_snapshot *snap, uint32_t gid,
                                struct logto_snap_group *ret);

/* A group's members as user indexes, verified (each below n_users): 0 and the array of
 * group->n_members, or -LOGTO_E_CORRUPT (damaged). */
int logto_snapshot_group_members(const struct logto_snapshot *snap,
                                 const struct logto_snap_group *group, const uint32_t **ret);

/* The name of member i of a group, through its user record (random access; the NSS module
 * copies group->member_names instead), checked; NULL if it does not pass. */
const char *logto_snapshot_group_member(const struct logto_snapshot *snap,
                                        const struct logto_snap_group *group, uint32_t i,
                                        uint32_t *ret_len);

/* ---------------------------------------------------------------- the per-process cache */

/*
 * The current mapping of one path, shared by all threads of a process. get() returns a new
 * reference to it, remapping first when the mapping is stale or (checked at most once per
 * restat_interval_ns) the path now names another file. A refused file (unsafe, or corrupt:
 * found so at open or, through logto_snapshot_cache_damaged(), by a lookup) is remembered by
 * identity (device, inode, size, times): it is neither mapped again nor logged again until it
 * changes; the first refusal of each file is logged once at LOG_ERR. Failures that say nothing
 * about the file (out of memory or descriptors, an I/O error) are not remembered: the next call
 * tries again. Missing files are not logged. Initialise with LOGTO_SNAPSHOT_CACHE_INIT.
 */
struct logto_snapshot_cache {
    pthread_mutex_t lock;
    const char *path;
    int64_t restat_interval_ns;
    const struct logto_log *log; /* NULL: syslog(LOG_AUTHPRIV | ...) */
    /* under lock: */
    struct logto_snapshot *current;
    int64_t next_restat_ns;
    bool have_refused, logged_unidentified;
    int refused_code;
    struct logto_file_identity refused;
    char refused_message[sizeof(((struct logto_error *)0)->message)];
    char failed_message[sizeof(((struct logto_error *)0)->message)]; /* last logged I/O error */
};

#define LOGTO_SNAPSHOT_RESTAT_NS INT64_C(1000000000)
#define LOGTO_SNAPSHOT_CACHE_INIT(p)                                                               \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .path = (p),                                            \
        .restat_interval_ns = LOGTO_SNAPSHOT_RESTAT_NS,                                            \
    }

/*
 * A reference to the current mapping (the caller unrefs it). Errors as logto_snapshot_open;
 * the error's message says what was wrong with the file.
 */
int logto_snapshot_cache_get(struct logto_snapshot_cache *cache, struct logto_snapshot **ret,
                             struct logto_error *err);

/*
 * After a lookup in snap returned -LOGTO_E_CORRUPT: if snap is damaged, refuse its file (drop
 * it as the current mapping, remember it, log it once) and return -LOGTO_E_CORRUPT with the
 * message; if not (the entry alone was unfit), return 0.
 */
int logto_snapshot_cache_damaged(struct logto_snapshot_cache *cache, struct logto_snapshot *snap,
                                 struct logto_error *err);

/* Drop the cached mapping and refusal memory (tests; a process that wants to let go). */
void logto_snapshot_cache_reset(struct logto_snapshot_cache *cache);
