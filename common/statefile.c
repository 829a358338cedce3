/* SPDX-License-Identifier: MIT */
/* Public JSON documents in the state directory (statefile.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "memory.h"
#include "statefile.h"
#include "util.h"

static const char *state_dir(const struct logto_ctx *ctx)
{
    return ctx && ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

char *logto_state_path(const struct logto_ctx *ctx, const char *name)
{
    return logto_asprintf("%s/%s", state_dir(ctx), name);
}

int logto_state_doc_write(const struct logto_ctx *ctx, const char *name, const json_t *doc,
                          struct logto_error *err)
{
    _cleanup_free_ char *text = doc ? logto_json_dump(doc) : NULL;
    _cleanup_free_ char *path = logto_state_path(ctx, name);
    _cleanup_close_ int dirfd = -1;
    int r;

    if (!text || !path)
        return LOGTO_OOM(err);
    r = logto_dir_ensure(state_dir(ctx), 0755, false, &dirfd, err);
    if (r < 0)
        return r;
    return logto_file_write_at(dirfd, name, path, text, strlen(text), 0644, err);
}

int logto_state_doc_malformed(const char *path, int r, struct logto_error *err)
{
    char why[sizeof(err->message)] = "";

    if (logto_errc_from(r) != LOGTO_E_PROTOCOL)
        return r;
    if (err)
        snprintf(why, sizeof(why), "%s", err->message);
    return logto_error_set(err, LOGTO_E_CORRUPT, "%s is malformed: %s", path, why);
}

int logto_state_doc_read(const struct logto_ctx *ctx, const char *name, size_t max, unsigned depth,
                         int64_t version, json_t **ret, char **ret_path, struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL, *path = logto_state_path(ctx, name);
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_close_ int dirfd = -1;
    int64_t v = 0;
    size_t len = 0;
    int r;

    if (!path)
        return LOGTO_OOM(err);
    r = logto_dir_open_trusted(state_dir(ctx), false, &dirfd, err);
    if (r >= 0)
        r = logto_file_read_at(dirfd, name, path, LOGTO_FILE_PUBLIC, max, &buf, &len, err);
    if (r >= 0)
        r = logto_json_parse_object(buf, len, max, depth, path, &doc, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "version", LOGTO_JSON_REQUIRED, 1, INT32_MAX, &v, err);
    if (r >= 0 && v != version)
        r = logto_error_set(err, LOGTO_E_CORRUPT, "%s has unknown version %lld", path,
                            (long long)v);
    if (r < 0)
        return logto_state_doc_malformed(path, r, err);
    *ret = TAKE_PTR(doc);
    if (ret_path)
        *ret_path = TAKE_PTR(path);
    return 0;
}
