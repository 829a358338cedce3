/* SPDX-License-Identifier: MIT */
/*
 * The local account files (/etc/passwd, /etc/group), read directly rather than through NSS:
 * going through NSS would ask our own module, and "local" means "files" here. Used to refuse
 * Logto names and IDs that collide with local accounts (DESIGN.md "Identity mapping"), and by
 * pam_logto to step aside for accounts that are not Logto's before it reads any configuration.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "error.h"
#include "localset.h" /* LOGTO_PASSWD_PATH, LOGTO_GROUP_PATH */

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

/* Is name an account of the passwd file at path (NULL: /etc/passwd)? One pass, nothing kept. */
int logto_localdb_file_has_user(const char *path, const char *name, bool *ret,
                                struct logto_error *err);

/* Who answers for a user name on this host, as far as pam_logto must know. */
enum logto_account_source {
    LOGTO_ACCOUNT_NOT_LOCAL, /* nobody but (perhaps) nss_logto: a Logto user, or no one */
    LOGTO_ACCOUNT_FILES,     /* the passwd file */
    LOGTO_ACCOUNT_OTHER,     /* another NSS source (sssd, LDAP, systemd userdb...) */
};

/*
 * Decide whether name belongs to the passwd file, to another NSS source, or to nobody but
 * (perhaps) Logto, without any configuration: the passwd file first (passwd_path, NULL:
 * /etc/passwd), then getpwnam through NSS. An entry NSS returns is another source's unless the
 * snapshot nss_logto reads (logto_snapshot_nss_path) holds the same name with the same UID:
 * only the snapshot, which root writes, can make a name Logto's, and an entry of another source
 * that copies a Logto user's name and UID is that Logto user's (pam_logto decides for it), so no
 * source can make a Logto user look local. A name the snapshot holds under another UID belongs to
 * whichever source NSS asks first, as it does for every program. Errors (an unreadable passwd file,
 * a snapshot that cannot be read while another source answers) mean "cannot tell": callers fail
 * closed for Logto users and leave local ones to the rest of the stack.
 */
int logto_localdb_account_source(const char *passwd_path, const char *name,
                                 enum logto_account_source *ret, struct logto_error *err);
const char *logto_account_source_name(enum logto_account_source s);

/* A name of base-passwd's master files (users and groups alike). */
bool logto_localdb_has_system_name(const struct logto_localdb *db, const char *name);
