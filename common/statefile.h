/* SPDX-License-Identifier: MIT */
/*
 * Small public JSON documents in the state directory (sync.status, blocked.json): no secrets,
 * root 0644, replaced atomically, read only through the checked-file layer, with a "version"
 * member the reader insists on.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "context.h"
#include "error.h"

/* <state_dir>/name, state_dir from ctx->cfg or LOGTO_STATE_DIR. NULL when out of memory. */
char *logto_state_path(const struct logto_ctx *ctx, const char *name);

/* Write doc (compact JSON) to <state_dir>/name, creating state_dir (0755) if needed. */
int logto_state_doc_write(const struct logto_ctx *ctx, const char *name, const json_t *doc,
                          struct logto_error *err);

/*
 * Read <state_dir>/name (at most max bytes, JSON nesting at most depth) into *ret, an object
 * whose "version" is version; *ret_path (optional) gets the path for messages. LOGTO_E_NOTFOUND
 * when the file does not exist; LOGTO_E_CORRUPT for anything malformed or of another version.
 */
int logto_state_doc_read(const struct logto_ctx *ctx, const char *name, size_t max, unsigned depth,
                         int64_t version, json_t **ret, char **ret_path, struct logto_error *err);

/* A field check of such a document failed with r: LOGTO_E_PROTOCOL becomes LOGTO_E_CORRUPT
 * "<path> is malformed: ...". Returns the (new) error code. */
int logto_state_doc_malformed(const char *path, int r, struct logto_error *err);
