/* SPDX-License-Identifier: MIT */
/*
 * The token store (DESIGN.md "Files"): one record per user in <state_dir>/tokens/ (root 0700),
 * file <name>.json (root 0600, replaced atomically), guarded by a lock file <name>.lock so that
 * two sign-ins at once cannot lose a rotated refresh token. The locking is explicit:
 *
 *     logto_store_open -> logto_store_lock(name) -> logto_store_load -> modify ->
 *     logto_store_save -> logto_store_unlock -> logto_store_close
 *
 * Read-only callers (logtoctl status) use logto_store_read without a lock: a record is always
 * replaced whole, so they see the old or the new one.
 *
 * The record is JSON with a version. Secret fields (refresh_token, verifier) never pass through
 * jansson: the writer splices their JSON text in and the reader cuts them out of the file buffer
 * before jansson parses the rest (json.h, logto_json_dump_secrets / logto_json_cut_secrets), so
 * no copy of a secret is left in memory that we cannot wipe. The file buffer and the serialised
 * text are wiped too. Secrets are restricted to 2..LOGTO_SECRET_MAX bytes of printable ASCII
 * (refresh tokens and crypt hashes are).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "context.h"
#include "error.h"

#define LOGTO_RECORD_VERSION  1
#define LOGTO_RECORD_MAX_SIZE (4u * 1024 * 1024)
#define LOGTO_SECRET_MAX      16384 /* bytes of a refresh token or verifier */
#define LOGTO_TOKENS_SUBDIR   "tokens"

enum logto_auth_method {
    LOGTO_AUTH_NONE = 0,   /* never signed in interactively on this host */
    LOGTO_AUTH_DEVICE,     /* device authorization grant */
    LOGTO_AUTH_EXPERIENCE, /* password through the Experience API */
    LOGTO_AUTH_PAT,        /* personal access token exchange */
    LOGTO_AUTH_MANAGEMENT, /* Management API password check */
    LOGTO_AUTH_GRANT,      /* OAuth password grant (generic providers) */
};

/* "none", "device", "experience", "pat", "management", "grant". */
const char *logto_auth_method_name(enum logto_auth_method m);
int logto_auth_method_from_name(const char *s, enum logto_auth_method *ret);

/* All times are seconds since the epoch; 0 means never. */
struct logto_record {
    char *name; /* user name = file name */
    char *sub;
    uint32_t uid;
    char *refresh_token; /* SECRET; NULL when the flow gave none */
    int64_t refresh_token_at;
    json_t *claims; /* ID-token claims merged with userinfo extras (custom_data...); may be NULL */
    int64_t claims_at; /* when the IdP last confirmed the claims */
    int64_t auth_at;   /* last interactive sign-in */
    enum logto_auth_method auth_method;
    char *verifier; /* SECRET: yescrypt hash, only after a password flow; NULL otherwise */
    int64_t verifier_at;
    bool suspended;            /* the IdP said the account is suspended */
    int64_t refresh_failed_at; /* last failed refresh since the last success (0: none) */
    char *refresh_error;       /* its short error code, e.g. "invalid_grant"; may be NULL */
};

/* refresh_error of a refresh answered access_denied: the grant lives (the refresh token is
 * kept), but the provider keeps the user out of the application (app-level access control). */
#define LOGTO_REFRESH_NO_ACCESS "no-access"

struct logto_record *logto_record_new(void);
/* Wipes the refresh token and the verifier, then frees everything. */
void logto_record_free(struct logto_record *rec);
static inline void logto_record_freep(struct logto_record **rec)
{
    logto_record_free(*rec);
}
/* Replace a secret field (the old value is wiped); value may be NULL. -1 on allocation failure. */
int logto_record_set_refresh_token(struct logto_record *rec, const char *value);
int logto_record_set_verifier(struct logto_record *rec, const char *value);
/* Note a refused refresh (when, and the short error code) or, with 0 and NULL, a successful one.
 * The code is informational: it stays NULL when out of memory. */
void logto_record_set_refresh_failure(struct logto_record *rec, int64_t at, const char *code);

struct logto_store;
struct logto_store_lock;

/* Open (creating if missing) <state_dir>/tokens; state_dir from ctx->cfg, else LOGTO_STATE_DIR.
 * A tokens directory that is a symlink, not root's, or open to group/others is refused. */
int logto_store_open(const struct logto_ctx *ctx, struct logto_store **ret,
                     struct logto_error *err);
void logto_store_close(struct logto_store *store); /* after every lock is released */
static inline void logto_store_closep(struct logto_store **store)
{
    logto_store_close(*store);
}

/* Take the user's lock, waiting at most timeout_ms (LOGTO_E_BUSY after). name must be valid. */
int logto_store_lock(struct logto_store *store, const char *name, int timeout_ms,
                     struct logto_store_lock **ret, struct logto_error *err);
void logto_store_unlock(struct logto_store_lock *lock);
static inline void logto_store_unlockp(struct logto_store_lock **lock)
{
    logto_store_unlock(*lock);
}

/*
 * Load the locked user's record. LOGTO_E_NOTFOUND when there is none; LOGTO_E_UNSAFE for a
 * symlink, hard link, foreign owner or loose mode; LOGTO_E_CORRUPT for anything malformed, a
 * name that differs from the file name or an unknown version. Never a half-read record.
 */
int logto_store_load(const struct logto_store_lock *lock, struct logto_record **ret,
                     struct logto_error *err);

/* Same without a lock, for read-only callers. */
int logto_store_read(struct logto_store *store, const char *name, struct logto_record **ret,
                     struct logto_error *err);

/* Replace the locked user's record atomically (mode 0600 whatever the umask). rec->name must be
 * the locked name. */
int logto_store_save(const struct logto_store_lock *lock, const struct logto_record *rec,
                     struct logto_error *err);

/* Remove the locked user's record (LOGTO_E_NOTFOUND if there is none). The lock file stays:
 * removing it would let a waiter lock a file nobody else will open again. */
int logto_store_remove(const struct logto_store_lock *lock, struct logto_error *err);

/*
 * A small companion file of the locked user next to the record, <name>.<suffix> (root 0600,
 * replaced atomically), e.g. the sign-in attempt counters (attempts.h). suffix is a constant of
 * lower-case letters other than "json" and "lock". Reading: LOGTO_E_NOTFOUND when there is
 * none, LOGTO_E_UNSAFE / LOGTO_E_CORRUPT as logto_file_read_at says (the buffer is the caller's).
 */
int logto_store_read_companion(const struct logto_store_lock *lock, const char *suffix,
                               size_t max_size, char **ret_buf, size_t *ret_len,
                               struct logto_error *err);
int logto_store_write_companion(const struct logto_store_lock *lock, const char *suffix,
                                const char *buf, size_t len, struct logto_error *err);
/* Remove it (the name: a symbolic link goes as a link); LOGTO_E_NOTFOUND when there is none. */
int logto_store_remove_companion(const struct logto_store_lock *lock, const char *suffix,
                                 struct logto_error *err);
/* Its path, for messages. */
void logto_store_companion_path(const struct logto_store_lock *lock, const char *suffix, char *buf,
                                size_t n);

/* The user names that have a record, sorted (only valid names; temp and lock files skipped). */
int logto_store_list(struct logto_store *store, char ***ret_names, struct logto_error *err);
