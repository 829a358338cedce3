/* SPDX-License-Identifier: MIT */
/*
 * The local account files (/etc/passwd, /etc/group), read directly rather than through NSS:
 * going through NSS would ask our own module, and "local" means "files" here. Used to refuse
 * Logto names and IDs that collide with local accounts (DESIGN.md "Identity mapping").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "error.h"

#define LOGTO_PASSWD_PATH     "/etc/passwd"
#define LOGTO_GROUP_PATH      "/etc/group"
#define LOGTO_BASE_PASSWD_DIR "/usr/share/base-passwd"

struct logto_local_entry {
    char *name;
    uint32_t id;
    bool has_id; /* false when the ID field did not parse (the name still counts) */
};

struct logto_localdb {
    struct logto_local_entry *users;
    size_t n_users;
    struct logto_local_entry *groups;
    size_t n_groups;
    /* The users and groups of Debian's base-passwd master files (names every Debian system may
     * have): never served, even where the local files lack them. */
    struct logto_local_entry *system;
    size_t n_system;
};

/*
 * Read ctx->passwd_path and ctx->group_path (NULL: the files above) through the checked-file
 * layer, and passwd.master and group.master from ctx->base_passwd_dir (a missing file there is
 * skipped). Unreadable or unsafe files are an error: callers fail closed.
 */
int logto_localdb_load(const struct logto_ctx *ctx, struct logto_localdb **ret,
                       struct logto_error *err);
void logto_localdb_free(struct logto_localdb *db);
static inline void logto_localdb_freep(struct logto_localdb **db)
{
    logto_localdb_free(*db);
}

bool logto_localdb_has_user(const struct logto_localdb *db, const char *name);
bool logto_localdb_has_uid(const struct logto_localdb *db, uint32_t uid);
bool logto_localdb_has_group(const struct logto_localdb *db, const char *name);
bool logto_localdb_has_gid(const struct logto_localdb *db, uint32_t gid);
/* A name of base-passwd's master files (users and groups alike). */
bool logto_localdb_has_system_name(const struct logto_localdb *db, const char *name);
