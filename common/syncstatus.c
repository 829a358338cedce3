/* SPDX-License-Identifier: MIT */
/* The record of the last directory sync (see syncstatus.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "log.h"
#include "statefile.h"
#include "sync.h"
#include "syncstatus.h"
#include "util.h"

void logto_sync_status_free(struct logto_sync_status *st)
{
    if (!st)
        return;
    free(st->error_code);
    free(st->error_message);
    free(st);
}

static json_t *status_json(const struct logto_ctx *ctx, int r, const struct logto_sync_report *rep,
                           const struct logto_error *err)
{
    size_t changes = 0;
    int code = r < 0 ? r : rep ? rep->late_error : 0;
    const char *message = r < 0 ? (err && err->message[0] ? err->message : "")
                          : rep ? rep->late_message
                                : "";
    json_t *doc;

    for (int k = 0; rep && k < LOGTO_SYNC__CHANGE_KINDS; k++)
        changes += rep->counts[k];
    doc = json_pack(
        "{s:i, s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "version",
        LOGTO_SYNC_STATUS_VERSION, "finished_at", (json_int_t)logto_now(ctx), "ok", code == 0,
        "written", rep && rep->written, "elapsed_ms", (json_int_t)(rep ? rep->elapsed_ms : 0),
        "users", (json_int_t)(rep ? rep->users : 0), "groups", (json_int_t)(rep ? rep->groups : 0),
        "suspended", (json_int_t)(rep ? rep->suspended : 0), "skipped",
        (json_int_t)(rep ? rep->n_skipped : 0), "collisions",
        (json_int_t)(rep ? rep->n_collisions : 0), "changes", (json_int_t)changes, "requests",
        (json_int_t)(rep ? rep->requests : 0));
    if (!doc)
        return NULL;
    if (json_object_set_new(doc, "error",
                            code == 0 ? json_null()
                                      : json_pack("{s:s, s:s}", "code",
                                                  logto_errc_name(logto_errc_from(code)), "message",
                                                  message)) < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int logto_sync_status_record(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                             int r, const struct logto_sync_report *report,
                             const struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    struct logto_error e = { 0 };
    int w;

    /* A dry run changes nothing; a sync that found another one running leaves the record to
     * that one. */
    if ((opts && opts->dry_run) || r == -LOGTO_E_BUSY)
        return 0;
    doc = status_json(ctx, r, r < 0 ? NULL : report, err);
    w = doc ? logto_state_doc_write(ctx, LOGTO_SYNC_STATUS_FILE, doc, &e) : LOGTO_OOM(&e);
    if (w < 0)
        logto_log(ctx ? &ctx->log : NULL, LOG_WARNING, "sync-status-not-written reason=\"%s\"",
                  e.message);
    return w;
}

static int dup_opt(const json_t *o, const char *key, char **ret, struct logto_error *err)
{
    const char *s = NULL;
    int r = logto_json_get_string(o, key, LOGTO_JSON_REQUIRED, &s, err);

    if (r < 0)
        return r;
    *ret = strdup(s);
    return *ret ? 0 : LOGTO_OOM(err);
}

int logto_sync_status_read(const struct logto_ctx *ctx, struct logto_sync_status **ret,
                           struct logto_error *err)
{
    _cleanup_(logto_sync_status_freep) struct logto_sync_status *st = calloc(1, sizeof(*st));
    _cleanup_json_ json_t *doc = NULL;
    json_t *e = NULL;
    int64_t n[7] = { 0 };
    static const char *const counts[] = { "users",      "groups",  "suspended", "skipped",
                                          "collisions", "changes", "requests" };
    int r;

    if (!st)
        return LOGTO_OOM(err);
    _cleanup_free_ char *path = NULL;
    r = logto_state_doc_read(ctx, LOGTO_SYNC_STATUS_FILE, LOGTO_SYNC_STATUS_MAX, 4,
                             LOGTO_SYNC_STATUS_VERSION, &doc, &path, err);
    if (r < 0)
        return r;
    r = logto_json_get_int(doc, "finished_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &st->finished_at,
                           err);
    if (r >= 0)
        r = logto_json_get_bool(doc, "ok", LOGTO_JSON_REQUIRED, &st->ok, err);
    if (r >= 0)
        r = logto_json_get_bool(doc, "written", LOGTO_JSON_REQUIRED, &st->written, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "elapsed_ms", 0, 0, INT64_MAX, &st->elapsed_ms, err);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(counts); i++)
        r = logto_json_get_int(doc, counts[i], 0, 0, INT64_MAX, &n[i], err);
    if (r >= 0)
        r = logto_json_get_object(doc, "error", LOGTO_JSON_NULL_UNSET, &e, err);
    if (r >= 0 && e && (r = dup_opt(e, "code", &st->error_code, err)) >= 0)
        r = dup_opt(e, "message", &st->error_message, err);
    if (r < 0)
        return logto_state_doc_malformed(path, r, err);
    st->users = (uint64_t)n[0];
    st->groups = (uint64_t)n[1];
    st->suspended = (uint64_t)n[2];
    st->skipped = (uint64_t)n[3];
    st->collisions = (uint64_t)n[4];
    st->changes = (uint64_t)n[5];
    st->requests = (uint64_t)n[6];
    *ret = TAKE_PTR(st);
    return 0;
}
