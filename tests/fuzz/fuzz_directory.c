/* SPDX-License-Identifier: MIT */
/*
 * fuzz_directory: the directory model and the snapshot writer, round trip through the reader.
 * A directory described in tests/lib/mksnapshot's text format, plus the updates sign-in and
 * sync make, is built with the model's own functions (logto_directory_add_user/_add_group,
 * logto_directory_upsert_user, logto_directory_remove_user), validated, written with
 * logto_snapshot_write, read back with logto_snapshot_read and served by the lookups; then
 * logto_directory_drop_local runs against local passwd/group files and the result is written
 * and read again. fuzz_snapshot covers hostile files; this target covers what our writer makes
 * of hostile directories.
 *
 * Input lines (fields as in passwd(5)):
 *   generated:SECONDS
 *   user:NAME:UID:GID:GECOS:HOME:SHELL:SUB[:FLAGS[:UPDATED]]
 *   group:NAME:GID:KIND:MEMBER,MEMBER...:SOURCE      KIND private role org org-role claim
 *   upsert:NAME:UID:GID:GECOS:HOME:SHELL:SUB          a sign-in update of that user, with
 *   ugroup:NAME:GID:KIND:SOURCE                       these groups (lines that follow it) and
 *                                                     the private group
 *   remove:SUB
 * Users without a private group get one at the end (as mksnapshot does).
 *
 * Oracles: the writer refuses exactly the directories that logto_directory_validate refuses; a
 * written directory reads back to the same users and groups; every entry is found by name and
 * by ID; a directory that drop_local trimmed is still valid.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "directory.h"
#include "hash.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"

#include "fuzz.h"

#define MAX_LINES 256

static const char *const kinds[] = { "private", "role", "org", "org-role", "claim" };
static char path[PATH_MAX], passwd_path[PATH_MAX], group_path[PATH_MAX];

static void drop_log(void *userdata, int priority, const char *line)
{
    (void)userdata;
    (void)priority;
    (void)line;
}

static const struct logto_log quiet = { .fn = drop_log };

static void setup(void)
{
    static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
                                 "localuser:x:1000:1000:Local User:/home/localuser:/bin/bash\n"
                                 "alien:x:1879048200:1879048200::/home/alien:/bin/bash\n";
    static const char group[] = "root:x:0:\nlocaluser:x:1000:\ndevs:x:5000:\nadm:x:20009:\n";

    /* The writer fsyncs: a tmpfs keeps that cheap. */
    if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 0);
    fuzz_path(path, sizeof(path), LOGTO_SNAPSHOT_NAME);
    fuzz_path(passwd_path, sizeof(passwd_path), "passwd");
    fuzz_path(group_path, sizeof(group_path), "group");
    fuzz_write_file(passwd_path, passwd, strlen(passwd), 0644);
    fuzz_write_file(group_path, group, strlen(group), 0644);
}

static int split(char *line, char **f, int max)
{
    int n = 0;

    while (n < max) {
        f[n++] = line;
        if (n == max)
            break; /* the last field keeps any ':' */
        line = strchr(line, ':');
        if (!line)
            break;
        *line++ = '\0';
    }
    return n;
}

static int parse_u32(const char *s, uint32_t *ret)
{
    uint64_t v;

    if (logto_parse_u64(s, 0, UINT32_MAX, &v) < 0)
        return -1;
    *ret = (uint32_t)v;
    return 0;
}

static int parse_kind(const char *s, uint32_t *ret)
{
    for (uint32_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(s, kinds[k]) == 0) {
            *ret = k;
            return 0;
        }
    return parse_u32(s, ret); /* unknown kinds too: the model must refuse them */
}

static int parse_user(char **f, int n, struct logto_dir_user *u)
{
    uint64_t updated = 0;

    *u = (struct logto_dir_user){ 0 };
    if (n < 8 || parse_u32(f[2], &u->uid) < 0 || parse_u32(f[3], &u->gid) < 0)
        return -1;
    u->name = f[1];
    u->gecos = f[4];
    u->home = f[5];
    u->shell = f[6];
    u->sub = f[7];
    if (n > 8 && strcmp(f[8], "suspended") == 0)
        u->flags = LOGTO_USER_SUSPENDED;
    else if (n > 8 && parse_u32(f[8], &u->flags) < 0)
        return -1;
    if (n > 9 && logto_parse_u64(f[9], 0, INT64_MAX, &updated) < 0)
        return -1;
    u->updated_at = (int64_t)updated;
    return 0;
}

static bool has_private_group(const struct logto_directory *dir, const char *sub)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (dir->groups[i].kind == LOGTO_GROUP_PRIVATE && logto_streq(dir->groups[i].source, sub))
            return true;
    return false;
}

static void add_private_groups(struct logto_directory *dir)
{
    for (size_t i = 0, n = dir->n_users; i < n; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        char *none[] = { NULL };
        struct logto_dir_group g = { .name = u->name,
                                     .gid = u->gid,
                                     .kind = LOGTO_GROUP_PRIVATE,
                                     .source = u->sub,
                                     .members = none };
        if (!has_private_group(dir, u->sub))
            (void)logto_directory_add_group(dir, &g);
    }
}

/* A sign-in update: the user and the groups of the "ugroup:" lines after it. */
struct upsert {
    bool pending;
    struct logto_dir_user user;
    struct logto_dir_group groups[16];
    size_t n_groups;
};

static void flush_upsert(struct logto_directory *dir, struct upsert *up)
{
    struct logto_error err = { 0 };

    if (up->pending)
        (void)logto_directory_upsert_user(dir, &up->user, up->groups, up->n_groups, &err);
    up->pending = false;
    up->n_groups = 0;
}

static void build(struct logto_directory *dir, char *text)
{
    static char *none[] = { NULL };
    char **members[MAX_LINES] = { NULL };
    struct upsert up = { 0 };
    char *save = NULL, *line;
    int lines = 0;

    for (line = strtok_r(text, "\n", &save); line && lines < MAX_LINES;
         line = strtok_r(NULL, "\n", &save), lines++) {
        char *f[10];
        int n;

        if (strncmp(line, "ugroup:", 7) == 0 && up.pending) {
            struct logto_dir_group *g = &up.groups[up.n_groups];
            n = split(line, f, 5);
            if (up.n_groups < sizeof(up.groups) / sizeof(up.groups[0]) && n == 5 &&
                parse_u32(f[2], &g->gid) == 0 && parse_kind(f[3], &g->kind) == 0) {
                g->name = f[1];
                g->source = f[4];
                g->members = none;
                up.n_groups++;
            }
            continue;
        }
        flush_upsert(dir, &up);
        if (strncmp(line, "user:", 5) == 0) {
            struct logto_dir_user u;
            n = split(line, f, 10);
            if (parse_user(f, n, &u) == 0)
                (void)logto_directory_add_user(dir, &u);
        } else if (strncmp(line, "group:", 6) == 0) {
            struct logto_dir_group g = { 0 };
            n = split(line, f, 6);
            if (n == 6 && parse_u32(f[2], &g.gid) == 0 && parse_kind(f[3], &g.kind) == 0 &&
                (members[lines] = logto_strv_split(f[4], true))) {
                logto_strv_sort(members[lines]);
                logto_strv_uniq(members[lines]);
                g.name = f[1];
                g.members = members[lines];
                g.source = f[5];
                (void)logto_directory_add_group(dir, &g);
            }
        } else if (strncmp(line, "upsert:", 7) == 0) {
            n = split(line, f, 8);
            if (parse_user(f, n, &up.user) == 0) {
                up.pending = true;
                /* The private group first, as logto_identity_groups hands it over. */
                up.groups[0] = (struct logto_dir_group){ .name = up.user.name,
                                                         .gid = up.user.gid,
                                                         .kind = LOGTO_GROUP_PRIVATE,
                                                         .source = up.user.sub,
                                                         .members = none };
                up.n_groups = 1;
            }
        } else if (strncmp(line, "remove:", 7) == 0) {
            (void)logto_directory_remove_user(dir, line + 7);
        } else if (strncmp(line, "generated:", 10) == 0) {
            uint64_t v;
            if (logto_parse_u64(line + 10, 0, INT64_MAX, &v) == 0)
                dir->generated_at = (int64_t)v;
        }
    }
    flush_upsert(dir, &up);
    add_private_groups(dir);
    for (int i = 0; i < MAX_LINES; i++)
        logto_strv_free(members[i]);
}

static const struct logto_dir_user *user_by_sub(const struct logto_directory *dir, const char *sub)
{
    for (size_t i = 0; i < dir->n_users; i++)
        if (strcmp(dir->users[i].sub, sub) == 0)
            return &dir->users[i];
    return NULL;
}

static const struct logto_dir_group *group_by_name(const struct logto_directory *dir,
                                                   const char *name)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (strcmp(dir->groups[i].name, name) == 0)
            return &dir->groups[i];
    return NULL;
}

/* Member lists as sets (the snapshot keeps them in user order, the model by name). */
static bool same_members(char **a, char **b)
{
    if (logto_strv_length(a) != logto_strv_length(b))
        return false;
    for (size_t i = 0; a && a[i]; i++)
        if (!logto_strv_contains(b, a[i]))
            return false;
    return true;
}

/* What was written is what is read, and the lookups serve all of it. */
static void round_trip(const struct logto_directory *dir)
{
    struct logto_directory *back = NULL;
    struct logto_snapshot *snap = NULL;
    struct logto_error err = { 0 };

    if (logto_snapshot_write(path, dir, &err) < 0)
        abort(); /* a valid directory must be writable */
    if (logto_snapshot_read(path, &back, &err) < 0 || back->n_users != dir->n_users ||
        back->n_groups != dir->n_groups ||
        (dir->generated_at && back->generated_at != dir->generated_at) ||
        back->local_files != dir->local_files)
        abort(); /* (generated_at 0 is written as the time of writing) */
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *a = &dir->users[i], *b = user_by_sub(back, a->sub);
        if (!b || strcmp(a->name, b->name) != 0 || a->uid != b->uid || a->gid != b->gid ||
            !logto_streq(a->gecos ? a->gecos : "", b->gecos) || !logto_streq(a->home, b->home) ||
            !logto_streq(a->shell, b->shell) || a->flags != b->flags ||
            a->updated_at != b->updated_at)
            abort();
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *a = &dir->groups[i], *b = group_by_name(back, a->name);
        if (!b || a->gid != b->gid || a->kind != b->kind || !logto_streq(a->source, b->source) ||
            !same_members(a->members, b->members))
            abort();
    }
    logto_directory_free(back);

    if (logto_snapshot_open(path, &snap, &err) < 0)
        abort();
    for (size_t i = 0; i < dir->n_users; i++) {
        struct logto_snap_user u;
        if (logto_snapshot_user_by_name(snap, dir->users[i].name, &u) < 0 ||
            u.uid != dir->users[i].uid ||
            logto_snapshot_user_by_uid(snap, dir->users[i].uid, &u) < 0 ||
            strcmp(u.name, dir->users[i].name) != 0)
            abort();
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        struct logto_snap_group g;
        if (logto_snapshot_group_by_name(snap, dir->groups[i].name, &g) < 0 ||
            g.gid != dir->groups[i].gid ||
            logto_snapshot_group_by_gid(snap, dir->groups[i].gid, &g) < 0 ||
            strcmp(g.name, dir->groups[i].name) != 0 ||
            g.n_members != logto_strv_length(dir->groups[i].members))
            abort();
        for (uint32_t k = 0; k < g.n_members; k++) {
            const char *m = logto_snapshot_group_member(snap, &g, k, NULL);
            if (!m || !logto_strv_contains(dir->groups[i].members, m))
                abort();
        }
    }
    logto_snapshot_unref(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_directory *dir;
    struct logto_error err = { 0 };
    char *text;
    int valid;

    if (!path[0])
        setup();
    if (size > 64 * 1024)
        return 0;
    text = fuzz_strndup(data, size);
    dir = logto_directory_new();
    if (!dir)
        fuzz_die("out of memory");
    build(dir, text);

    valid = logto_directory_validate(dir, &err);
    if (valid < 0) {
        /* The writer validates first and must refuse it too, leaving the old file alone. */
        if (logto_snapshot_write(path, dir, &err) >= 0 || !err.message[0])
            abort();
    } else {
        /* A fingerprint from the input travels with the directory. */
        dir->local_files = logto_xxh64(data, size, 0);
        round_trip(dir);
        if (logto_directory_drop_local(dir, passwd_path, group_path, &quiet) < 0)
            abort();
        if (logto_directory_validate(dir, &err) < 0)
            abort(); /* drop_local must leave a valid directory */
        if (dir->local_files != 0)
            abort(); /* the fuzzer's files are not the ones the NSS module's guard stats */
        round_trip(dir);
    }
    logto_directory_free(dir);
    free(text);
    return 0;
}
