/* SPDX-License-Identifier: MIT */
/*
 * Small jansson helpers for data that comes from the network: parsing with size and nesting
 * limits, and typed getters whose errors name the field. Every getter fails with
 * LOGTO_E_PROTOCOL; callers add context (the endpoint) with logto_error_prefix().
 * jansson stays inside common/: PAM and NSS code never include this header.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

/* Nesting deeper than this is refused before jansson builds anything. */
#define LOGTO_JSON_MAX_DEPTH 32

/*
 * Parse buf (len bytes, need not be NUL-terminated) as one JSON object. Refused: more than
 * max_size bytes, nesting deeper than max_depth, duplicate keys, NUL characters in strings,
 * trailing garbage, a top level that is not an object. what names the document in messages.
 */
int logto_json_parse_object(const char *buf, size_t len, size_t max_size, unsigned max_depth,
                            const char *what, json_t **ret, struct logto_error *err);

/* Flags for the getters. */
#define LOGTO_JSON_REQUIRED   (1u << 0) /* missing (or null) is an error */
#define LOGTO_JSON_NONEMPTY   (1u << 1) /* strings: "" is an error */
#define LOGTO_JSON_NULL_UNSET (1u << 2) /* JSON null counts as missing (Logto sends name: null) */

/*
 * Typed getters. A missing optional field returns 0 and leaves *ret unchanged (so callers can
 * preset a default); a field of the wrong type is always an error. Returned strings and objects
 * are borrowed from obj.
 */
int logto_json_get_string(const json_t *obj, const char *key, unsigned flags, const char **ret,
                          struct logto_error *err);
int logto_json_get_int(const json_t *obj, const char *key, unsigned flags, int64_t min, int64_t max,
                       int64_t *ret, struct logto_error *err);
int logto_json_get_bool(const json_t *obj, const char *key, unsigned flags, bool *ret,
                        struct logto_error *err);
int logto_json_get_object(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                          struct logto_error *err);
int logto_json_get_array(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                         struct logto_error *err);

/* An array of strings as a new strv (an empty array gives an empty strv) that replaces, and
 * frees, *ret. Any element that is not a string is an error naming its index. */
int logto_json_get_strv(const json_t *obj, const char *key, unsigned flags, char ***ret,
                        struct logto_error *err);

/* Overwrite, in place, the string value of key in obj (a token jansson copied out of an answer)
 * so it does not linger in freed memory. Missing keys and non-strings are left alone. */
void logto_json_wipe_string(json_t *obj, const char *key);

/* Serialise compactly with sorted keys; NULL on failure. The caller frees (wipes if secret). */
char *logto_json_dump(const json_t *json);

static inline void logto_json_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
#define _cleanup_json_ _cleanup_(logto_json_decrefp)
