/* SPDX-License-Identifier: MIT */
/*
 * Test fixtures for the directory snapshot: a temporary trusted directory, a small sample
 * directory, whole-file reads and writes, and re-sealing a file's checksums after a test has
 * damaged it on purpose (so the structural checks, not only the checksums, get exercised).
 * Header-only: each test program includes it once.
 */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "hash.h"
#include "snapshot.h"

/* Templates passed to the add functions, which deep-copy and never write through them. */
static inline char *fx_unconst(const char *s)
{
    return (char *)(uintptr_t)s;
}

/* A fresh 0755 directory under $TMPDIR (or /tmp); the caller removes it with fx_rmtree. */
static inline char *fx_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *dir = NULL;

    if (!base || base[0] != '/')
        base = "/tmp";
    if (asprintf(&dir, "%s/logto-%s-XXXXXX", base, tag) < 0)
        return NULL;
    if (!mkdtemp(dir) || chmod(dir, 0755) < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

static inline void fx_rmtree(const char *dir)
{
    char *cmd = NULL;
    if (dir && asprintf(&cmd, "rm -rf -- '%s'", dir) >= 0 && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
}

static inline char *fx_path(const char *dir, const char *name)
{
    char *p = NULL;
    if (!dir || !name || asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

static inline int fx_add_user(struct logto_directory *dir, const char *name, uint32_t uid,
                              uint32_t gid, const char *gecos, const char *sub)
{
    char home[64], *no_members[] = { NULL };
    snprintf(home, sizeof(home), "/home/%s", name);
    struct logto_dir_user u = {
        .name = fx_unconst(name),
        .uid = uid,
        .gid = gid,
        .gecos = fx_unconst(gecos),
        .home = home,
        .shell = fx_unconst("/bin/bash"),
        .sub = fx_unconst(sub),
        .updated_at = 1700000000 + uid,
    };
    struct logto_dir_group g = {
        .name = fx_unconst(name),
        .gid = gid,
        .kind = LOGTO_GROUP_PRIVATE,
        .source = fx_unconst(sub),
        .members = no_members,
    };
    if (logto_directory_add_user(dir, &u) < 0)
        return -1;
    return logto_directory_add_group(dir, &g);
}

static inline int fx_add_group(struct logto_directory *dir, const char *name, uint32_t gid,
                               uint32_t kind, const char *source, char **members)
{
    char *none[] = { NULL };
    struct logto_dir_group g = {
        .name = fx_unconst(name),
        .gid = gid,
        .kind = kind,
        .source = fx_unconst(source),
        .members = members ? members : none,
    };
    return logto_directory_add_group(dir, &g);
}

/*
 * alice 10001, bob 10002 (suspended), carol 10003; developers 20001 {alice, bob},
 * org-acme 20002 {alice, carol}, acme_admin 20003 {carol} (an organization role), empty 20004 {}.
 */
static inline struct logto_directory *fx_sample(void)
{
    struct logto_directory *dir = logto_directory_new();
    char *devs[] = { fx_unconst("alice"), fx_unconst("bob"), NULL };
    char *acme[] = { fx_unconst("alice"), fx_unconst("carol"), NULL };
    char *admins[] = { fx_unconst("carol"), NULL };

    if (!dir || fx_add_user(dir, "alice", 10001, 10001, "Alice Liddell", "sub-alice") < 0 ||
        fx_add_user(dir, "bob", 10002, 10002, "", "sub-bob") < 0 ||
        fx_add_user(dir, "carol", 10003, 10003, "Carol, Room 4", "sub-carol") < 0 ||
        fx_add_group(dir, "developers", 20001, LOGTO_GROUP_ROLE, "developers", devs) < 0 ||
        fx_add_group(dir, "org-acme", 20002, LOGTO_GROUP_ORG, "org_1234", acme) < 0 ||
        fx_add_group(dir, "acme_admin", 20003, LOGTO_GROUP_ORG_ROLE, "org_1234:admin", admins) <
            0 ||
        fx_add_group(dir, "empty", 20004, LOGTO_GROUP_CLAIM, "empty", NULL) < 0) {
        logto_directory_free(dir);
        return NULL;
    }
    dir->users[1].flags = LOGTO_USER_SUSPENDED;
    dir->generated_at = 1700000000;
    return dir;
}

static inline int fx_read(const char *path, unsigned char **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char *buf;

    *ret = NULL; /* callers' CHECKs do not stop the test: never leave them garbage */
    *ret_len = 0;
    if (!f)
        return -1;
    if (fstat(fileno(f), &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
        fclose(f);
        return -1;
    }
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *ret = buf;
    *ret_len = (size_t)st.st_size;
    return 0;
}

/* Replace path with bytes (a new inode, mode 0644), the way a careless copy would. */
static inline int fx_write(const char *path, const void *data, size_t len)
{
    char *tmp = NULL;
    int fd, r = -1;

    if (asprintf(&tmp, "%s.fx", path) < 0)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0 && fchmod(fd, 0644) == 0 && write(fd, data, len) == (ssize_t)len)
        r = 0;
    if (fd >= 0)
        close(fd);
    if (r == 0)
        r = rename(tmp, path);
    free(tmp);
    return r;
}

/* Recompute every checksum, so a deliberate edit reaches the structural checks. */
static inline void fx_reseal(unsigned char *buf, size_t len)
{
    (void)logto_snapshot_seal(buf, len);
}

/*
 * The same image cut into regions of 2^shift bytes (small regions put a small file's tables in
 * many regions, so tests can tell which a lookup verified). A new buffer the caller frees.
 */
static inline unsigned char *fx_regions(const unsigned char *buf, uint32_t shift, size_t *ret_len)
{
    const struct logto_snapshot_header *h = (const struct logto_snapshot_header *)(const void *)buf;
    uint64_t data_end = h->tables[LOGTO_SNAP_REGIONS].offset;
    uint64_t n = (data_end + (UINT64_C(1) << shift) - 1) >> shift;
    size_t len = (size_t)(data_end + n * sizeof(uint64_t));
    unsigned char *out = calloc(1, len);
    struct logto_snapshot_header *o = (struct logto_snapshot_header *)(void *)out;

    if (!out)
        return NULL;
    memcpy(out, buf, (size_t)data_end);
    o->region_shift = shift;
    o->n_regions = (uint32_t)n;
    o->tables[LOGTO_SNAP_REGIONS].size = n * sizeof(uint64_t);
    o->file_size = len;
    fx_reseal(out, len);
    *ret_len = len;
    return out;
}

/* How many mappings of the file with this inode the process holds (from /proc/self/maps). */
static inline int fx_mappings_of(ino_t ino)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[1024];
    int n = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long inode = 0;
        if (sscanf(line, "%*s %*s %*s %*s %llu", &inode) == 1 && inode == (unsigned long long)ino)
            n++;
    }
    fclose(f);
    return n;
}
