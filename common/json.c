/* SPDX-License-Identifier: MIT */
/* jansson helpers with limits and field-naming errors. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "memory.h"
#include "util.h"

unsigned logto_json_depth(const char *buf, size_t len, unsigned limit)
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
    if (logto_json_depth(buf, len, max_depth) > max_depth)
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

/* A member that is an object or an array (type; type_name for the error), borrowed. */
static int get_container(const json_t *obj, const char *key, unsigned flags, json_type type,
                         const char *type_name, json_t **ret, struct logto_error *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, flags, &v, err);

    if (r <= 0)
        return r;
    if (json_typeof(v) != type)
        return wrong_type(key, type_name, err);
    *ret = v;
    return 0;
}

int logto_json_get_object(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                          struct logto_error *err)
{
    return get_container(obj, key, flags, JSON_OBJECT, "an object", ret, err);
}

int logto_json_get_array(const json_t *obj, const char *key, unsigned flags, json_t **ret,
                         struct logto_error *err)
{
    return get_container(obj, key, flags, JSON_ARRAY, "an array", ret, err);
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

/* ------------------------------------------------------------------ secrets */

void logto_json_secrets_clear(struct logto_json_secret *secrets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        logto_free_secret(secrets[i].value);
        secrets[i].value = NULL;
    }
}

/*
 * A minimal scanner over the top-level object of JSON text. It only finds where members start
 * and end; jansson validates the text afterwards (what the scanner let through but jansson
 * refuses is an error all the same).
 */
struct scan {
    char *buf;
    size_t len, pos;
};

static void scan_ws(struct scan *s)
{
    while (s->pos < s->len && (s->buf[s->pos] == ' ' || s->buf[s->pos] == '\t' ||
                               s->buf[s->pos] == '\n' || s->buf[s->pos] == '\r'))
        s->pos++;
}

/* At '"': move past the closing quote. */
static int scan_string(struct scan *s)
{
    for (s->pos++; s->pos < s->len; s->pos++) {
        char c = s->buf[s->pos];
        if (c == '\\')
            s->pos++;
        else if (c == '"') {
            s->pos++;
            return 0;
        } else if ((unsigned char)c < 0x20)
            return -1;
    }
    return -1;
}

/* Skip one value of any type (containers by depth, strings by scan_string). */
static int scan_value(struct scan *s)
{
    int depth = 0;

    do {
        if (s->pos >= s->len)
            return -1;
        char c = s->buf[s->pos];
        if (c == '"') {
            if (scan_string(s) < 0)
                return -1;
            if (depth == 0)
                return 0; /* a string value ends at its closing quote */
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth < 0)
                return -1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'))
            return 0; /* end of a number or literal */
        s->pos++;
    } while (depth > 0 || (s->pos < s->len && !strchr(",}] \t\r\n", s->buf[s->pos])));
    return 0;
}

/* Decode the raw text between the quotes of a secret; NULL if it is not a plain secret. */
static char *decode_secret(const char *raw, size_t n, size_t max_len)
{
    char *out;
    size_t o = 0;

    if (n > 2 * max_len)
        return NULL;
    out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == '\\') {
            if (++i >= n || (raw[i] != '"' && raw[i] != '\\' && raw[i] != '/'))
                goto bad;
            c = raw[i];
        }
        if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
            goto bad;
        out[o++] = c;
    }
    out[o] = '\0';
    if (o < 1 || o > max_len)
        goto bad;
    return out;
bad:
    logto_freezero(out, n + 1);
    return NULL;
}

static struct logto_json_secret *secret_slot(const char *key, size_t key_len,
                                             struct logto_json_secret *secrets, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(secrets[i].key) == key_len && memcmp(secrets[i].key, key, key_len) == 0)
            return &secrets[i];
    return NULL;
}

/* -1: not an object (or broken text); -2: *ret_bad is a secret key with a value we refuse. */
static int cut_members(struct scan *s, struct logto_json_secret *secrets, size_t n, size_t max_len,
                       const char **ret_bad)
{
    scan_ws(s);
    if (s->pos >= s->len || s->buf[s->pos] != '{')
        return -1;
    s->pos++;
    scan_ws(s);
    if (s->pos < s->len && s->buf[s->pos] == '}')
        return 0;
    for (;;) {
        struct logto_json_secret *slot;
        size_t key, val;
        scan_ws(s);
        key = s->pos;
        if (s->pos >= s->len || s->buf[s->pos] != '"' || scan_string(s) < 0)
            return -1;
        /* The raw key between its quotes: an escaped spelling is not recognised here, and the
         * caller refuses the string jansson then finds under the decoded key. */
        slot = secret_slot(s->buf + key + 1, s->pos - key - 2, secrets, n);
        scan_ws(s);
        if (s->pos >= s->len || s->buf[s->pos] != ':')
            return -1;
        s->pos++;
        scan_ws(s);
        val = s->pos;
        if (scan_value(s) < 0)
            return -1;
        if (slot && s->buf[val] == '"') {
            *ret_bad = slot->key;
            if (slot->value) /* a duplicate: jansson would refuse it after our cut */
                return -2;
            slot->value = decode_secret(s->buf + val + 1, s->pos - val - 2, max_len);
            if (!slot->value)
                return -2;
            /* The placeholder: an empty string, padded (every JSON string has room for it). */
            memset(s->buf + val, ' ', s->pos - val);
            memcpy(s->buf + val, "\"\"", 2);
        }
        scan_ws(s);
        if (s->pos >= s->len)
            return -1;
        if (s->buf[s->pos] == '}')
            return 0;
        if (s->buf[s->pos] != ',')
            return -1;
        s->pos++;
    }
}

int logto_json_cut_secrets(char *buf, size_t len, struct logto_json_secret *secrets, size_t n,
                           size_t max_len, const char **ret_bad)
{
    struct scan s = { .buf = buf, .len = len };
    const char *bad = NULL;
    int r = cut_members(&s, secrets, n, max_len, &bad);

    if (r < 0) {
        logto_json_secrets_clear(secrets, n);
        if (ret_bad)
            *ret_bad = r == -2 ? bad : NULL;
        return -1;
    }
    return 0;
}

int logto_json_secrets_check(const json_t *doc, const struct logto_json_secret *secrets, size_t n,
                             const char **ret_bad)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(doc, secrets[i].key);
        /* Only the placeholder of a value we cut out may stand there. */
        if (v && (!secrets[i].value || !json_is_string(v) || json_string_length(v) != 0)) {
            if (ret_bad)
                *ret_bad = secrets[i].key;
            return -1;
        }
    }
    return 0;
}

int logto_json_parse_object_secrets(const char *buf, size_t len, size_t max_size,
                                    unsigned max_depth, const char *what,
                                    struct logto_json_secret *secrets, size_t n, size_t max_len,
                                    json_t **ret, struct logto_error *err)
{
    const char *bad = NULL;
    json_t *doc = NULL;
    char *copy;
    size_t i;
    int r;

    if (!buf || len == 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is empty", what);
    if (len > max_size)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is too large (%zu bytes, limit %zu)",
                               what, len, max_size);
    copy = malloc(len);
    if (!copy)
        return LOGTO_OOM(err);
    memcpy(copy, buf, len);
    if (logto_json_cut_secrets(copy, len, secrets, n, max_len, &bad) < 0) {
        logto_freezero(copy, len);
        if (bad)
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "field \"%s\" is not a string of printable characters", bad);
        for (i = 0; i < len && strchr(" \t\r\n", buf[i]); i++)
            ;
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not %s", what,
                               i < len && buf[i] == '{' ? "valid JSON" : "a JSON object");
    }
    r = logto_json_parse_object(copy, len, max_size, max_depth, what, &doc, err);
    logto_freezero(copy, len);
    if (r >= 0 && logto_json_secrets_check(doc, secrets, n, &bad) < 0)
        r = logto_error_set(err, LOGTO_E_PROTOCOL,
                            "field \"%s\" is not a string of printable characters", bad);
    if (r < 0) {
        json_decref(doc);
        logto_json_secrets_clear(secrets, n);
        return r;
    }
    *ret = doc;
    return 0;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_char(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        unsigned lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        unsigned lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Append "key":"value", (value escaped as JSON); out has room for 6 bytes per value byte. */
static size_t put_member(char *out, const char *key, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = (size_t)sprintf(out, "\"%s\":\"", key);

    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[*p >> 4];
            out[o + 5] = hex[*p & 15];
            o += 6;
        } else
            out[o++] = (char)*p;
    }
    memcpy(out + o, "\",", 2);
    return o + 2;
}

int logto_json_dump_secrets(const json_t *obj, const char *const *keys, const char *const *values,
                            size_t n, char **ret_text, size_t *ret_len, struct logto_error *err)
{
    _cleanup_free_ char *pub = logto_json_dump(obj); /* "{...}": no secret in it */
    size_t cap, o = 0, pub_len;
    char *out;

    if (!pub)
        return LOGTO_OOM(err);
    pub_len = strlen(pub);
    cap = pub_len + 2;
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            continue;
        for (const unsigned char *p = (const unsigned char *)values[i]; *p;) {
            size_t k = utf8_char(p);
            if (k == 0)
                return logto_error_set(err, LOGTO_E_INVAL, "%s is not valid UTF-8", keys[i]);
            p += k;
        }
        cap += strlen(keys[i]) + 6 * strlen(values[i]) + 8;
    }
    out = malloc(cap);
    if (!out)
        return LOGTO_OOM(err);
    out[o++] = '{';
    for (size_t i = 0; i < n; i++)
        if (values[i])
            o += put_member(out + o, keys[i], values[i]);
    if (pub_len > 2) {
        memcpy(out + o, pub + 1, pub_len - 1); /* the public members and the closing brace */
        o += pub_len - 1;
    } else if (o > 1) {
        out[o - 1] = '}'; /* no public members: the last comma closes the object */
    } else
        out[o++] = '}';
    out[o] = '\0';
    *ret_text = out;
    if (ret_len)
        *ret_len = o;
    return 0;
}
