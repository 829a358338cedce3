/* SPDX-License-Identifier: MIT */
/* String and string-vector helpers. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void logto_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

void logto_fclosep(void *f)
{
    FILE *fp = *(FILE **)f;
    if (fp)
        fclose(fp);
}

size_t logto_strv_length(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void logto_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void logto_strv_freep(char ***v)
{
    logto_strv_free(*v);
    *v = NULL;
}

int logto_strv_push_take(char ***v, char *s)
{
    size_t n = logto_strv_length(*v);
    char **nv;

    if (!s)
        return -1;
    nv = realloc(*v, (n + 2) * sizeof(char *));
    if (!nv) {
        free(s);
        return -1;
    }
    nv[n] = s;
    nv[n + 1] = NULL;
    *v = nv;
    return 0;
}

int logto_strv_push(char ***v, const char *s)
{
    return logto_strv_push_take(v, strdup(s));
}

bool logto_strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

char **logto_strv_copy(char *const *v)
{
    size_t n = logto_strv_length(v);
    char **c = calloc(n + 1, sizeof(char *));

    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i] = strdup(v[i]);
        if (!c[i]) {
            logto_strv_free(c);
            return NULL;
        }
    }
    return c;
}

int logto_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void logto_strv_sort(char **v)
{
    size_t n = logto_strv_length(v);
    if (n > 1)
        qsort(v, n, sizeof(char *), logto_strcmp_ptr);
}

void logto_strv_uniq(char **v)
{
    size_t w = 0;

    if (!v)
        return;
    for (size_t r = 0; v[r]; r++) {
        if (w > 0 && strcmp(v[w - 1], v[r]) == 0) {
            free(v[r]);
            continue;
        }
        v[w++] = v[r];
    }
    v[w] = NULL;
}

char **logto_strv_split(const char *s, bool commas)
{
    char **v = calloc(1, sizeof(char *));

    if (!v)
        return NULL;
    while (s && *s) {
        size_t len;
        while (*s && (logto_ascii_space((unsigned char)*s) || (commas && *s == ',')))
            s++;
        if (!*s)
            break;
        len = 0;
        while (s[len] && !logto_ascii_space((unsigned char)s[len]) && !(commas && s[len] == ','))
            len++;
        if (logto_strv_push_take(&v, strndup(s, len)) < 0) {
            logto_strv_free(v);
            return NULL;
        }
        s += len;
    }
    return v;
}

char *logto_strv_join(char *const *v, const char *sep)
{
    size_t total = 1, seplen = strlen(sep);
    char *out, *p;

    for (size_t i = 0; v && v[i]; i++)
        total += strlen(v[i]) + (i ? seplen : 0);
    out = p = malloc(total);
    if (!out)
        return NULL;
    for (size_t i = 0; v && v[i]; i++) {
        if (i) {
            memcpy(p, sep, seplen);
            p += seplen;
        }
        size_t l = strlen(v[i]);
        memcpy(p, v[i], l);
        p += l;
    }
    *p = '\0';
    return out;
}

bool logto_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool logto_startswith(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

char *logto_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *logto_asprintf(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&out, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : out;
}

char *logto_strip(char *s)
{
    char *end;

    while (logto_ascii_space((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && logto_ascii_space((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int logto_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *ret = v;
    return 0;
}

int logto_base64_value(char c, char c62, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == c62)
        return 62;
    if (c == c63)
        return 63;
    return -1;
}

int logto_parse_duration(const char *s, int64_t *ret_seconds)
{
    char num[32];
    size_t len;
    uint64_t v, mult = 1;

    if (!s)
        return -1;
    len = strlen(s);
    if (len == 0 || len >= sizeof(num))
        return -1;
    memcpy(num, s, len + 1);
    switch (num[len - 1]) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    default:
        if (!logto_ascii_digit((unsigned char)num[len - 1]))
            return -1;
        len++;
        break;
    }
    num[len - 1] = '\0';
    if (logto_parse_u64(num, 0, (uint64_t)INT32_MAX, &v) < 0)
        return -1;
    *ret_seconds = (int64_t)(v * mult);
    return 0;
}

bool logto_memeq_consttime(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;

    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

int logto_ascii_strncasecmp(const char *a, const char *b, size_t n)
{
    for (; n > 0; a++, b++, n--) {
        int ca = logto_ascii_tolower((unsigned char)*a),
            cb = logto_ascii_tolower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
    return 0;
}

int logto_ascii_strcasecmp(const char *a, const char *b)
{
    return logto_ascii_strncasecmp(a, b, SIZE_MAX);
}

int64_t logto_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void logto_sleep_ms(int64_t ms)
{
    struct timespec left = { .tv_sec = (time_t)(ms / 1000),
                             .tv_nsec = (long)(ms % 1000) * 1000000 };

    while (ms > 0 && (left.tv_sec > 0 || left.tv_nsec > 0)) {
        struct timespec req = left;
        if (nanosleep(&req, &left) == 0 || errno != EINTR)
            break;
    }
}

int64_t logto_monotonic_coarse_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
