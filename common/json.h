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

/* Deepest nesting of [ and { outside strings in buf (len bytes, need not be NUL-terminated);
 * stops counting once over limit, so a refusal costs no more than limit levels of scanning. */
unsigned logto_json_depth(const char *buf, size_t len, unsigned limit);

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

/*
 * Secrets that jansson never holds. jansson copies every string it parses or serialises into
 * buffers that it grows by realloc and frees without wiping, so a token parsed by it, or a
 * password serialised by it, lingers in freed heap memory. Secret members are therefore cut out
 * of a document's text before jansson parses the rest, and spliced into the text jansson made of
 * the rest. A secret read this way is printable ASCII (tokens, crypt hashes).
 */
struct logto_json_secret {
    const char *key; /* a top-level member */
    char *value;     /* its decoded value (wipe with logto_free_secret); NULL when absent */
};

/* Wipe and free every value; keys stay. */
void logto_json_secrets_clear(struct logto_json_secret *secrets, size_t n);

/*
 * In buf (len bytes: one JSON object, changed in place) decode the string values of the
 * top-level members secrets[i].key into secrets[i].value and overwrite each in the text with an
 * empty string padded by spaces. Members of other types are left for jansson. -1 (values
 * cleared) for text that is not an object (*ret_bad NULL), or a secret key given twice or with a
 * value that is not 1..max_len bytes of printable ASCII written with no escapes but \" \\ \/
 * (*ret_bad: that key). ret_bad may be NULL.
 */
int logto_json_cut_secrets(char *buf, size_t len, struct logto_json_secret *secrets, size_t n,
                           size_t max_len, const char **ret_bad);

/* After jansson parsed the cut text: -1 (*ret_bad: the key) when a secret key stands in doc
 * with anything but the placeholder of a value that was cut out (another type, a null, an
 * escaped spelling of the key). */
int logto_json_secrets_check(const json_t *doc, const struct logto_json_secret *secrets, size_t n,
                             const char **ret_bad);

/*
 * logto_json_parse_object with secrets cut out first, from a private copy of buf that is wiped,
 * and checked afterwards (logto_json_secrets_check): errors name the field. The caller owns
 * secrets[i].value (logto_json_secrets_clear).
 */
int logto_json_parse_object_secrets(const char *buf, size_t len, size_t max_size,
                                    unsigned max_depth, const char *what,
                                    struct logto_json_secret *secrets, size_t n, size_t max_len,
                                    json_t **ret, struct logto_error *err);

/*
 * Serialise obj like logto_json_dump with the members keys[i]: values[i] (JSON strings; NULL
 * values are left out) spliced in front, into one buffer sized up front. Values must be UTF-8
 * (-LOGTO_E_INVAL otherwise, naming the key); keys must not be in obj. *ret_text (and its
 * length) is a secret: wipe and free it (logto_free_secret).
 */
int logto_json_dump_secrets(const json_t *obj, const char *const *keys, const char *const *values,
                            size_t n, char **ret_text, size_t *ret_len, struct logto_error *err);

static inline void logto_json_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
#define _cleanup_json_ _cleanup_(logto_json_decrefp)
