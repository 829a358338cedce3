/* SPDX-License-Identifier: MIT */
/* jansson helpers with limits and field-naming errors. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "json.h"
#include "memory.h"
#include "util.h"

/* Deepest nesting of [ and { outside strings; stops counting once over limit. */
static unsigned json_depth(const char *buf, size_t len, unsigned limit)
{
    unsigned depth = 0, max = 0;
    bool in_string = false, escaped = false;

    for (size_t i = 0; i < len && max <= limit; i++) {
        char c = buf[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int logto_json_parse_object(const char *buf, size_t len, size_t max_size, unsigned max_depth,
                            const char *what, json_t **ret, struct logto_error *err)
{
    json_error_t jerr;
    json_t *json;

    if (!buf || len == 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is empty", what);
    if (len > max_size)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is too large (%zu bytes, limit %zu)",
                               what, len, max_size);
    if (json_depth(buf, len, max_depth) > max_depth)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is nested deeper than %u levels", what,
                               max_depth);
    json = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    /* jerr.text quotes the input, which may be a secret: report the position only. */
    if (!json)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not valid JSON (at byte %d)", what,
                               jerr.position);
    if (!json_is_object(json)) {
        json_decref(json);
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not a JSON object", what);
    }
    *ret = json;
    return 0;
}

/* Look up key; 1 if present (and not a null that counts as unset), 0 if absent, < 0 on error. */
static int lookup(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                  struct logto_error *err)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (v && json_is_null(v) && (flags & LOGTO_JSON_NULL_UNSET))
        v = NULL;
    if (!v) {
        if (flags & LOGTO_JSON_REQUIRED)
            return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"%s\" is missing", key);
        return 0;
    }
    *ret = v;
    return 1;
}

static int wrong_type(const char *key, const char *type, struct logto_error *err)
{
    return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"%s\" is not %s", key, type);
}

int logto_json_get_string(const json_t *obj, const char *key, unsigned flags, const char **ret,
                          struct logto_error *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (!json_is_string(v))
        return wrong_type(key, "a string", err);
    if ((flags & LOGTO_JSON_NONEMPTY) && json_string_length(v) == 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"%s\" is empty", key);
    *ret = json_string_value(v);
    return 0;
}

int logto_json_get_int(const json_t *obj, const char *key, unsigned flags, int64_t min, int64_t max,
                       int64_t *ret, struct logto_error *err)
{
    json_t *v = NULL;
    json_int_t n;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (!json_is_integer(v))
        return wrong_type(key, "an integer", err);
    n = json_integer_value(v);
    if (n < min || n > max)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "field \"%s\" is out of range (%lld, expected %lld..%lld)", key,
                               (long long)n, (long long)min, (long long)max);
    *ret = n;
    return 0;
}

int logto_json_get_bool(const json_t *obj, const char *key, unsigned flags, bool *ret,
                        struct logto_error *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (!json_is_boolean(v))
        return wrong_type(key, "a boolean", err);
    *ret = json_is_true(v);
    return 0;
}

int logto_json_get_object(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                          struct logto_error *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (!json_is_object(v))
        return wrong_type(key, "an object", err);
    *ret = v;
    return 0;
}

int logto_json_get_array(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                         struct logto_error *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (!json_is_array(v))
        return wrong_type(key, "an array", err);
    *ret = v;
    return 0;
}

int logto_json_get_strv(const json_t *obj, const char *key, unsigned flags, char ***ret,
                        struct logto_error *err)
{
    _cleanup_strv_ char **strv = NULL;
    json_t *array = NULL, *item;
    size_t i;
    int r = logto_json_get_array(obj, key, flags, &array, err);

    if (r < 0 || !array)
        return r;
    strv = calloc(1, sizeof(char *));
    if (!strv)
        return LOGTO_OOM(err);
    json_array_foreach(array, i, item)
    {
        if (!json_is_string(item))
            return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"%s\"[%zu] is not a string", key,
                                   i);
        if (logto_strv_push(&strv, json_string_value(item)) < 0)
            return LOGTO_OOM(err);
    }
    logto_strv_free(*ret);
    *ret = TAKE_PTR(strv);
    return 0;
}

void logto_json_wipe_string(json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    /* jansson keeps its own heap copy; it is ours to overwrite before the decref. */
    if (json_is_string(v))
        logto_erase((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

char *logto_json_dump(const json_t *json)
{
    return json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
}
