/* SPDX-License-Identifier: MIT */
/*
 * Fleets (issue 18): one host publishes the directory, every other host reads it from static
 * HTTPS storage the operator already runs, and holds no Management API credential.
 *
 * `logtoctl publish DIR` (logto_relay_publish) fetches and maps the tenant as sync does and makes
 * every tenant-wide decision there (hashed UID collisions resolved and persisted, names owned or
 * blocked, chosen IDs in use, collisions: logto_sync_tenant_fetch), then writes into DIR:
 *
 *   directory-<sha256>.json.zz  the object: every mapped user of the tenant, sorted by sub, with
 *                             its identity or, for a refused user, only sub, username and the
 *                             reason; and the blocked names and UIDs. Compact JSON with sorted
 *                             keys and no time in it: the same tenant gives the same bytes.
 *                             Compressed with zlib (zlib format, level 9: no timestamp), and
 *                             the hash is of the compressed bytes (what is served); a host
 *                             inflates at most 256 MiB.
 *   delta-<sha256>.json.zz    after a change, while DIR still holds the previous object: the
 *                             entries added or changed and the subs removed since it (see
 *                             logto_relay_delta_make), compressed; only when smaller than the
 *                             object.
 *   manifest.json             {"signed":"<payload>","signature":"<base64 Ed25519 over payload>"}
 *                             payload: {"format":1,"serial":N,"generated_at":S,"not_after":S,
 *                             "object":"directory-<sha256>.json.zz","size":N,"sha256":"<hex>",
 *                             "json_sha256":"<hex of the inflated JSON>", optionally
 *                             "delta":{"from":"<json_sha256 of the previous directory>",
 *                             "object":"delta-<sha256>.json.zz","size":N,"sha256":"<hex>"}}
 *
 * both written atomically (the object first). serial = max(previous + 1, now): it only grows,
 * even from a new publisher. When the object is the one the manifest in DIR names and that
 * manifest has more than half its validity left, nothing is written at all. Older objects are
 * left for the operator's upload tool to prune (a host may still be fetching one).
 *
 * A host with [relay] url makes logto_sync() call logto_relay_sync: one GET of manifest.json
 * with If-None-Match (a 304 ends the run, nothing written: a failure while the installed
 * manifest is past its not_after, the publisher silent), the signature checked against the
 * pinned public key, the serial not below the installed one (<state_dir>/relay.state: serial,
 * sha256, generated_at, not_after and the ETag of what is installed), the
 * time not past not_after, then (unless its hash is the installed one: a directory signed again
 * only moves the serial) one GET of the delta when its base is the installed directory (kept in
 * <state_dir>/relay.object), else, or when the delta does not rebuild exactly the signed
 * directory (json_sha256), of the object; each capped at its announced size, its size and
 * SHA-256 checked; then this host's part (admission, local accounts, groups) and today's
 * atomic snapshot write, preceded by <state_dir>/relay.claims (relayclaims.h: what the account
 * phase needs for users who never signed in on this host, stamped with the manifest; a directory
 * signed again only restamps it). Any failure leaves the snapshot as it was; logtoctl records the
 * outcome in sync.status like any sync. UID decisions are the publisher's: a relay sync refuses
 * --persist-uids and --no-persist-uids, and the configuration refuses [sync] credentials on a
 * relay host (conf.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "error.h"

struct logto_sync_options;
struct logto_sync_report;
struct logto_sync_user;
struct logto_blocked;
typedef struct evp_pkey_st EVP_PKEY;

#define LOGTO_RELAY_FORMAT        1
#define LOGTO_RELAY_MANIFEST      "manifest.json"
#define LOGTO_RELAY_MANIFEST_MAX  (16 * 1024)
#define LOGTO_RELAY_OBJECT_MAX    ((size_t)1 << 30)
#define LOGTO_RELAY_STATE         "relay.state"
#define LOGTO_RELAY_OBJECT_PREFIX "directory-"
#define LOGTO_RELAY_DELTA_PREFIX  "delta-"
/* A relay host's copy of the installed directory's JSON (zlib), the base of the next delta. */
#define LOGTO_RELAY_LOCAL_COPY "relay.object"

struct logto_relay_manifest {
    int64_t format, serial, generated_at, not_after;
    uint64_t size;
    char sha256[65];  /* lower-case hex */
    char object[128]; /* "directory-<sha256>.json.zz" */
    /* SHA-256 of the object's JSON, inflated: what a host that rebuilt it from a delta checks.
     * "" from a publisher older than deltas. */
    char json_sha256[65];
    /* Optional: a delta from the previous directory (json_sha256 delta_from) to this one. */
    bool has_delta;
    char delta_from[65];
    char delta_sha256[65];  /* of the delta file as served */
    uint64_t delta_size;    /* bytes, as served */
    char delta_object[128]; /* "delta-<delta_sha256>.json.zz" */
};

/* The Ed25519 keys, from PEM files through the checked-file layer (private: root 0600). */
int logto_relay_key_load_private(const char *path, EVP_PKEY **ret, struct logto_error *err);
int logto_relay_key_load_public(const char *path, EVP_PKEY **ret, struct logto_error *err);

/* Sign m: *ret is the manifest file's text (caller frees). */
int logto_relay_manifest_sign(const struct logto_relay_manifest *m, EVP_PKEY *key, char **ret,
                              struct logto_error *err);

/* Check the signature of a manifest file (buf, len bytes) with key and decode its payload.
 * LOGTO_E_PROTOCOL for anything malformed, LOGTO_E_SIGNATURE... see the message. */
int logto_relay_manifest_verify(const char *buf, size_t len, EVP_PKEY *key,
                                struct logto_relay_manifest *ret, struct logto_error *err);

/* Decode a payload (already verified, or for tests and the fuzzer). */
int logto_relay_manifest_decode(const char *payload, size_t len, struct logto_relay_manifest *ret,
                                struct logto_error *err);

/* The canonical object for users (refused[i]: only sub, username, reason) and blocked. */
int logto_relay_object_encode(const struct logto_sync_user *users, const bool *refused, size_t n,
                              struct logto_blocked *blocked, char **ret, size_t *ret_len,
                              struct logto_error *err);

/* Decode an object: *ret_users (n entries; free with logto_relay_users_free) and *ret_blocked. */
int logto_relay_object_decode(const char *buf, size_t len, struct logto_sync_user **ret_users,
                              size_t *ret_n, struct logto_blocked **ret_blocked,
                              struct logto_error *err);
void logto_relay_users_free(struct logto_sync_user *users, size_t n);

/*
 * Deltas. A delta is the canonical JSON {"format":1,"from":"<json_sha256 of the old object>",
 * "users":[every entry added or changed, sorted by sub],"removed":[subs, sorted],
 * "blocked":{the new blocked list}}. make: from two canonical objects (old, new); apply: the
 * canonical object that old + delta give (*ret, *ret_len; caller frees). Applying never trusts
 * the result: the host compares its SHA-256 with the signed manifest's json_sha256.
 */
int logto_relay_delta_make(const char *old, size_t old_len, const char *new_obj, size_t new_len,
                           char **ret, size_t *ret_len, struct logto_error *err);
int logto_relay_delta_apply(const char *old, size_t old_len, const char *delta, size_t delta_len,
                            char **ret, size_t *ret_len, struct logto_error *err);

struct logto_relay_publish_report {
    bool written; /* a new manifest (and maybe object) was written */
    bool object_written;
    bool delta_written; /* manifest.has_delta: a delta from the previous directory */
    struct logto_relay_manifest manifest; /* the one in DIR now */
    size_t users, refused;
    unsigned requests;
};

/* `logtoctl publish DIR`. */
int logto_relay_publish(const struct logto_ctx *ctx, const char *dir,
                        struct logto_relay_publish_report *report, struct logto_error *err);

/* What a relay host installed last (<state_dir>/relay.state), for `logtoctl status`.
 * generated_at and not_after are 0 in a file written before they were recorded.
 * LOGTO_E_NOTFOUND when this host never installed a published directory. */
struct logto_relay_installed {
    int64_t serial, generated_at, not_after;
    char sha256[65];
};
int logto_relay_installed_read(const struct logto_ctx *ctx, struct logto_relay_installed *ret,
                               struct logto_error *err);

/* The relay half of logto_sync() (see the top). */
int logto_relay_sync(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                     struct logto_sync_report **ret_report, struct logto_error *err);
