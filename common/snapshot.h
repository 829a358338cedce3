/* SPDX-License-Identifier: MIT */
/*
 * The directory snapshot: one binary, memory-mapped file that the NSS module answers from, and
 * its reader. The writer is logto_snapshot_write() in directory.h. No third-party dependencies.
 *
 * File layout (native byte order, recorded in the header; other orders are refused):
 *
 *   header (256 bytes)   magic, version, sizes, counts, hash key, table offsets, checksums,
 *                        and the stale word
 *   users                struct logto_snapshot_user[n_users], sorted by UID
 *   groups               struct logto_snapshot_group[n_groups], sorted by GID
 *   members              uint32_t[n_members]: user indexes; each group owns a sorted run
 *   user_gids            uint32_t[n_user_gids]: supplementary GIDs; each user owns a sorted run
 *   4 hash indexes       struct logto_snapshot_slot[2^k], 2^k >= 2 x count, linear probing:
 *                        user name, UID, group name, GID
 *   strings              NUL-terminated strings; offset 0 is ""; the table ends with NUL.
 *                        Each group's member names also sit there once more, back to back
 *                        in member order, so a group is copied out in one sequential pass
 *                        (a member list of user indexes alone costs two random reads per
 *                        member, a millisecond for a group of thousands)
 *
 * Every table starts 8-byte aligned. Name indexes hash with SipHash-2-4 under the file's random
 * key and keep the upper 32 bits of the hash in the slot, so a probe rarely touches a record;
 * ID indexes keep the ID itself. body_checksum is XXH64 of every byte after the header;
 * header_checksum is XXH64 of the header up to that field.
 *
 * Validation happens once per mapping, before any lookup: magic, version, byte order, sizes,
 * checksums, table geometry, and every offset, count and index in every record and slot
 * (including the number of names in each group's member-name list). A file
 * that fails any check is refused whole. The text of the fields that become passwd/group output
 * (names, gecos, home, shell) is checked again when an entry is returned, at the cost of one
 * pass over bytes that are about to be copied anyway; logto_snapshot_read() (directory.h)
 * additionally runs the full directory validation for tools.
 *
 * Replacement: the writer renames a new file over the old one, then sets `stale` in the old
 * file, the only in-place change ever made to a published file. Readers load that word at each
 * call (struct logto_snapshot_cache) and remap; as a backstop for a writer that died between
 * rename and marking, they also re-stat the path at most once per restat interval.
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

#define LOGTO_SNAPSHOT_MAGIC      "LOGTODIR" /* 8 bytes, no NUL */
#define LOGTO_SNAPSHOT_VERSION    1u
#define LOGTO_SNAPSHOT_BYTE_ORDER 0x01020304u
#define LOGTO_SNAPSHOT_STALE      1u
#define LOGTO_SNAPSHOT_EMPTY_SLOT UINT32_MAX
#define LOGTO_SNAPSHOT_MAX_COUNT  (1u << 24) /* users, groups */
#define LOGTO_SNAPSHOT_MAX_LIST   (1u << 28) /* member and GID list entries */
#define LOGTO_SNAPSHOT_MAX_SIZE   ((uint64_t)UINT32_MAX)

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
    LOGTO_SNAP__TABLES
};

struct logto_snapshot_table_ref {
    uint64_t offset; /* from the start of the file */
    uint64_t size;   /* bytes */
};

struct logto_snapshot_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;  /* LOGTO_SNAPSHOT_BYTE_ORDER as the writer stored it */
    uint32_t header_size; /* sizeof(struct logto_snapshot_header) */
    uint32_t flags;       /* none defined yet: any bit set is refused */
    uint64_t file_size;
    uint64_t generation; /* previous file's generation + 1 */
    int64_t created_at;  /* seconds since the epoch (the directory's generated_at) */
    uint32_t n_users, n_groups, n_members, n_user_gids;
    uint8_t hash_key[16]; /* SipHash key of the name and ID indexes, random per file */
    struct logto_snapshot_table_ref tables[LOGTO_SNAP__TABLES];
    uint64_t reserved0;       /* zero */
    uint64_t body_checksum;   /* XXH64(bytes [header_size, file_size), seed 0) */
    uint64_t header_checksum; /* XXH64(bytes [0, offsetof(header_checksum)), seed 0) */
    uint32_t stale;           /* 0; LOGTO_SNAPSHOT_STALE once replaced. Not checksummed. */
    uint32_t reserved1;       /* zero; not checksummed, so checked on its own */
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

_Static_assert(sizeof(struct logto_snapshot_header) == 256, "header layout");
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

/* ---------------------------------------------------------------- mappings */

/* One validated, read-only, reference-counted mapping of a snapshot file. */
struct logto_snapshot;

/*
 * Open path (O_NOFOLLOW; its directory must pass logto_dir_open_trusted), check the file
 * (regular, trusted owner, one link, not writable by group or others) and validate it whole.
 * Errors: -LOGTO_E_NOTFOUND (no file), -LOGTO_E_UNSAFE, -LOGTO_E_CORRUPT, -LOGTO_E_IO,
 * -LOGTO_E_NOMEM, -LOGTO_E_BUSY (replaced while being opened: try again). The caller owns one
 * reference.
 */
int logto_snapshot_open(const char *path, struct logto_snapshot **ret, struct logto_error *err);

/* Validate an already opened and checked file (st from its fstat). fd is not kept. */
int logto_snapshot_map_fd(int fd, const struct stat *st, const char *path,
                          struct logto_snapshot **ret, struct logto_error *err);

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

uint64_t logto_snapshot_generation(const struct logto_snapshot *snap);
int64_t logto_snapshot_created_at(const struct logto_snapshot *snap);
uint32_t logto_snapshot_n_users(const struct logto_snapshot *snap);
uint32_t logto_snapshot_n_groups(const struct logto_snapshot *snap);
/* The file this mapping came from. */
void logto_snapshot_identity(const struct logto_snapshot *snap, dev_t *ret_dev, ino_t *ret_ino);

/* ---------------------------------------------------------------- lookups */

/*
 * Views into a mapping: valid while the caller holds a reference to it. Lookups are O(1)
 * expected, allocate nothing and take no lock. They return 0, -LOGTO_E_NOTFOUND, or
 * -LOGTO_E_CORRUPT when the entry's text is not fit for passwd/group output.
 */
struct logto_snap_user {
    uint32_t index; /* position in enumeration order */
    uint32_t uid, gid, flags;
    const char *name, *gecos, *home, *shell, *sub;
    uint32_t name_len, gecos_len, home_len, shell_len;
    const uint32_t *gids; /* supplementary GIDs, sorted; the primary GID may be among them */
    uint32_t n_gids;
    int64_t updated_at;
};

struct logto_snap_group {
    uint32_t index;
    uint32_t gid, kind;
    const char *name, *source;
    uint32_t name_len;
    uint32_t n_members;
    const uint32_t *members;  /* user indexes */
    const char *member_names; /* n_members checked names, each NUL-terminated, back to back */
    uint32_t member_names_size;
};

int logto_snapshot_user_at(const struct logto_snapshot *snap, uint32_t index,
                           struct logto_snap_user *ret);
int logto_snapshot_user_by_name(const struct logto_snapshot *snap, const char *name,
                                struct logto_snap_user *ret);
int logto_snapshot_user_by_uid(const struct logto_snapshot *snap, uint32_t uid,
                               struct logto_snap_user *ret);

int logto_snapshot_group_at(const struct logto_snapshot *snap, uint32_t index,
                            struct logto_snap_group *ret);
int logto_snapshot_group_by_name(const struct logto_snapshot *snap, const char *name,
                                 struct logto_snap_group *ret);
int logto_snapshot_group_by_gid(const struct logto_snapshot *snap, uint32_t gid,
                                struct logto_snap_group *ret);

/* The name of member i of a group, through its user record (random access; the NSS module
 * copies group->member_names instead), checked; NULL if it does not pass. */
const char *logto_snapshot_group_member(const struct logto_snapshot *snap,
                                        const struct logto_snap_group *group, uint32_t i,
                                        uint32_t *ret_len);

/* ---------------------------------------------------------------- the per-process cache */

/*
 * The current mapping of one path, shared by all threads of a process. get() returns a new
 * reference to it, remapping first when the mapping is stale or (checked at most once per
 * restat_interval_ns) the path now names another file. A refused file is remembered by
 * identity (device, inode, size, times): it is neither re-validated nor logged again until it
 * changes; the first refusal of each file is logged once at LOG_ERR. Missing files are not
 * logged. Initialise with LOGTO_SNAPSHOT_CACHE_INIT.
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

/* Drop the cached mapping and refusal memory (tests; a process that wants to let go). */
void logto_snapshot_cache_reset(struct logto_snapshot_cache *cache);
