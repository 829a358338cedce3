/* SPDX-License-Identifier: MIT */
/*
 * The result of the last `logtoctl sync`, for `logtoctl status`: <state_dir>/sync.status, a small
 * JSON document (root 0644, replaced atomically, no secrets) written at the end of every sync
 * that was meant to write (dry runs leave it alone), successful or not:
 *
 *   {"version":1,"finished_at":S,"ok":true|false,"written":bool,"elapsed_ms":N,
 *    "users":N,"groups":N,"suspended":N,"skipped":N,"collisions":N,"changes":N,"requests":N,
 *    "error":{"code":"unreachable","message":"..."}|null}
 *
 * ok is false when the sync failed (nothing written) or failed late (the snapshot was written,
 * the key cache or the UID persistence was not); error says why. The counts are those of the
 * report (0 when the sync failed before it had one).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "error.h"

struct logto_sync_report;
struct logto_sync_options;

#define LOGTO_SYNC_STATUS_FILE    "sync.status"
#define LOGTO_SYNC_STATUS_VERSION 1
#define LOGTO_SYNC_STATUS_MAX     (64 * 1024)

struct logto_sync_status {
    int64_t finished_at; /* seconds since the epoch */
    bool ok, written;
    int64_t elapsed_ms; /* 0 when unknown */
    uint64_t users, groups, suspended, skipped, collisions, changes, requests;
    char *error_code;    /* logto_errc_name(); NULL when ok */
    char *error_message; /* NULL when ok */
};

void logto_sync_status_free(struct logto_sync_status *st);
static inline void logto_sync_status_freep(struct logto_sync_status **st)
{
    logto_sync_status_free(*st);
}

/*
 * Record the outcome of logto_sync(): r is its return value, report its report (NULL when it
 * failed), err its error. Dry runs (opts->dry_run) and syncs that found another one running
 * (LOGTO_E_BUSY) record nothing. A failure to write is logged
 * ("sync-status-not-written") and returned, and changes nothing else.
 */
int logto_sync_status_record(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                             int r, const struct logto_sync_report *report,
                             const struct logto_error *err);

/* Read <state_dir>/sync.status through the checked-file layer. LOGTO_E_NOTFOUND when no sync
 * has recorded anything yet; LOGTO_E_CORRUPT for a malformed file. */
int logto_sync_status_read(const struct logto_ctx *ctx, struct logto_sync_status **ret,
                           struct logto_error *err);
