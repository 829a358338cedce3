/* SPDX-License-Identifier: MIT */
/*
 * mksnapshot: a test tool that writes a directory snapshot from a small text description, and
 * prints a snapshot back in the same form.
 *
 *   mksnapshot [--local PASSWD GROUP] INPUT OUTPUT   write OUTPUT (drop_local first if asked)
 *   mksnapshot --dump SNAPSHOT                        print a snapshot as text
 *   mksnapshot --local-files SNAPSHOT                 print the fingerprint of the local files
 *                                                     its writer checked (hex; 0: unknown)
 *   mksnapshot --default-path                         print the module's compiled-in path
 *
 * Input, one entry per line ('#' comments; fields as in passwd(5), so no ':' inside them):
 *   generated:SECONDS
 *   enumerate:no                                                  ([sync] enumerate = no)
 *   user:NAME:UID:GID:GECOS:HOME:SHELL:SUB[:FLAGS[:UPDATED]]     FLAGS: 0, suspended or a number
 *   group:NAME:GID:KIND:MEMBER,MEMBER,...:SOURCE                  KIND: private role org
 *                                                                  org-role claim; SOURCE last
 *                                                                  (it may contain ':')
 * A user without a private group line gets one (name and GID of the user, source = sub).
 * Members are sorted. The directory is validated by the writer; errors go to stderr, exit 1.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"

static const char *const kinds[] = { "private", "role", "org", "org-role", "claim" };

static int split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;

    while (n < max) {
        fields[n++] = p;
        if (n == max)
            break; /* the last field keeps any ':' */
        p = strchr(p, ':');
        if (!p)
            break;
        *p++ = '\0';
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

static int parse_user(struct logto_directory *dir, char **f, int n)
{
    struct logto_dir_user u = { 0 };
    uint64_t updated = 0;

    if (n < 8 || parse_u32(f[2], &u.uid) < 0 || parse_u32(f[3], &u.gid) < 0)
        return -1;
    u.name = f[1];
    u.gecos = f[4];
    u.home = f[5];
    u.shell = f[6];
    u.sub = f[7];
    if (n > 8 && strcmp(f[8], "suspended") == 0)
        u.flags = LOGTO_USER_SUSPENDED;
    else if (n > 8 && parse_u32(f[8], &u.flags) < 0)
        return -1;
    if (n > 9 && logto_parse_u64(f[9], 0, INT64_MAX, &updated) < 0)
        return -1;
    u.updated_at = (int64_t)updated;
    return logto_directory_add_user(dir, &u);
}

static int parse_group(struct logto_directory *dir, char **f, int n)
{
    struct logto_dir_group g = { 0 };
    _cleanup_strv_ char **members = NULL;
    int r;

    if (n < 6 || parse_u32(f[2], &g.gid) < 0)
        return -1;
    g.kind = UINT32_MAX;
    for (uint32_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(f[3], kinds[k]) == 0)
            g.kind = k;
    if (g.kind == UINT32_MAX)
        return -1;
    members = logto_strv_split(f[4], true);
    if (!members)
        return -1;
    logto_strv_sort(members);
    logto_strv_uniq(members);
    g.name = f[1];
    g.members = members;
    g.source = f[5];
    r = logto_directory_add_group(dir, &g);
    return r;
}

static bool has_private_group(const struct logto_directory *dir, const char *sub)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (dir->groups[i].kind == LOGTO_GROUP_PRIVATE && logto_streq(dir->groups[i].source, sub))
            return true;
    return false;
}

static int add_private_groups(struct logto_directory *dir)
{
    size_t n = dir->n_users;

    for (size_t i = 0; i < n; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        char *none[] = { NULL };
        struct logto_dir_group g = {
            .name = u->name,
            .gid = u->gid,
            .kind = LOGTO_GROUP_PRIVATE,
            .source = u->sub,
            .members = none,
        };
        if (!has_private_group(dir, u->sub) && logto_directory_add_group(dir, &g) < 0)
            return -1;
    }
    return 0;
}

static int read_input(const char *path, struct logto_directory *dir)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    int lineno = 0;

    if (!f) {
        fprintf(stderr, "mksnapshot: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) >= 0) {
        char *fields[10];
        int n, r = 0;

        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (strncmp(line, "user:", 5) == 0) {
            n = split(line, fields, 10);
            r = parse_user(dir, fields, n);
        } else if (strncmp(line, "group:", 6) == 0) {
            n = split(line, fields, 6);
            r = parse_group(dir, fields, n);
        } else if (strncmp(line, "generated:", 10) == 0) {
            uint64_t v;
            r = logto_parse_u64(line + 10, 0, INT64_MAX, &v);
            dir->generated_at = (int64_t)v;
        } else if (strcmp(line, "enumerate:no") == 0) {
            logto_directory_set_enumerate(dir, false);
        } else {
            r = -1;
        }
        if (r < 0) {
            fprintf(stderr, "mksnapshot: %s:%d: cannot parse this line\n", path, lineno);
            return -1;
        }
    }
    return add_private_groups(dir);
}

static void stderr_log(void *ud, int prio, const char *line)
{
    (void)ud;
    (void)prio;
    fprintf(stderr, "mksnapshot: %s\n", line);
}

static int write_snapshot(const char *input, const char *output, const char *passwd,
                          const char *group)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = logto_directory_new();
    const struct logto_log log = { .fn = stderr_log };
    struct logto_error err = { 0 };

    if (!dir || read_input(input, dir) < 0)
        return 1;
    if (passwd && logto_directory_drop_local(dir, passwd, group, &log) < 0)
        return 1;
    if (logto_snapshot_write(output, dir, &err) < 0) {
        fprintf(stderr, "mksnapshot: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int dump(const char *path)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    struct logto_error err = { 0 };

    if (logto_snapshot_read(path, &dir, &err) < 0) {
        fprintf(stderr, "mksnapshot: %s\n", err.message);
        return 1;
    }
    printf("generated:%lld\n", (long long)dir->generated_at);
    if (dir->snapshot_flags & LOGTO_SNAPSHOT_F_NO_ENUMERATE)
        printf("enumerate:no\n");
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        printf("user:%s:%u:%u:%s:%s:%s:%s:%u:%lld\n", u->name, u->uid, u->gid, u->gecos, u->home,
               u->shell, u->sub, u->flags, (long long)u->updated_at);
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        _cleanup_free_ char *members = logto_strv_join(g->members, ",");
        printf("group:%s:%u:%s:%s:%s\n", g->name, g->gid, kinds[g->kind], members ? members : "",
               g->source);
    }
    return 0;
}

static int local_files(const char *path)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    struct logto_error err = { 0 };

    if (logto_snapshot_open(path, &snap, &err) < 0) {
        fprintf(stderr, "mksnapshot: %s\n", err.message);
        return 1;
    }
    printf("%" PRIx64 "\n", logto_snapshot_local_files(snap));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--default-path") == 0) {
        printf("%s/%s\n", LOGTO_STATE_DIR, LOGTO_SNAPSHOT_NAME);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--dump") == 0)
        return dump(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--local-files") == 0)
        return local_files(argv[2]);
    if (argc == 3)
        return write_snapshot(argv[1], argv[2], NULL, NULL);
    if (argc == 6 && strcmp(argv[1], "--local") == 0)
        return write_snapshot(argv[4], argv[5], argv[2], argv[3]);
    fprintf(stderr, "usage: mksnapshot [--local PASSWD GROUP] INPUT OUTPUT\n"
                    "       mksnapshot --dump SNAPSHOT\n"
                    "       mksnapshot --local-files SNAPSHOT\n"
                    "       mksnapshot --default-path\n");
    return 2;
}
