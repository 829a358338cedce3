/* SPDX-License-Identifier: MIT */
/* String and string-vector helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* NULL-terminated string vectors ("strv"). All return -1 on allocation failure, else 0. */
size_t logto_strv_length(char *const *v);
void logto_strv_free(char **v);
int logto_strv_push(char ***v, const char *s); /* appends a copy of s */
int logto_strv_push_take(char ***v, char *s);  /* appends s itself (taken even on failure) */
bool logto_strv_contains(char *const *v, const char *s);
char **logto_strv_copy(char *const *v); /* NULL on failure */
void logto_strv_sort(char **v);
/* qsort/bsearch comparison of two elements of an array of C strings. */
int logto_strcmp_ptr(const void *a, const void *b);
void logto_strv_uniq(char **v); /* sorted input: drops adjacent duplicates */
/* Split s on runs of whitespace (and optionally commas). */
char **logto_strv_split(const char *s, bool commas);
/* Join with sep; NULL on allocation failure. */
char *logto_strv_join(char *const *v, const char *sep);

bool logto_streq(const char *a, const char *b); /* NULL-safe */
bool logto_startswith(const char *s, const char *prefix);
char *logto_strdup_or_null(const char *s);                 /* strdup, NULL stays NULL */
char *logto_asprintf(const char *fmt, ...) _printf_(1, 2); /* NULL on failure */
char *logto_strip(char *s);                                /* trims ASCII whitespace in place */

/* Parse a decimal unsigned integer with range check; 0 on success, -1 on error. */
int logto_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* The 6-bit value of c in a base64 alphabet (RFC 4648): A-Z, a-z, 0-9, then c62 and c63 ('+' and
 * '/' for base64, '-' and '_' for base64url); -1 for any other character. */
int logto_base64_value(char c, char c62, char c63);

/* Parse a duration: plain seconds, or a number with a suffix s/m/h/d ("7d", "300", "5m"). */
int logto_parse_duration(const char *s, int64_t *ret_seconds);

/*
 * ASCII-only character classes and case-insensitive comparison. <ctype.h> and strcasecmp follow
 * the locale, and this code runs inside programs that call setlocale() with the user's locale
 * (su, sudo, login): there a byte >= 0x80 may be a letter or a space (Latin-1 0xA0, 0xE9), and
 * in a Turkish locale 'I' is not the upper case of 'i'. Configuration and protocol text is
 * ASCII and must mean the same in every locale.
 */
static inline bool logto_ascii_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static inline bool logto_ascii_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline bool logto_ascii_lower(int c)
{
    return c >= 'a' && c <= 'z';
}
static inline bool logto_ascii_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static inline bool logto_ascii_alpha(int c)
{
    return logto_ascii_lower(c) || logto_ascii_upper(c);
}
static inline bool logto_ascii_alnum(int c)
{
    return logto_ascii_alpha(c) || logto_ascii_digit(c);
}
static inline int logto_ascii_tolower(int c)
{
    return logto_ascii_upper(c) ? c - 'A' + 'a' : c;
}
int logto_ascii_strcasecmp(const char *a, const char *b);
int logto_ascii_strncasecmp(const char *a, const char *b, size_t n);

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and waits, which a step of the wall clock
 * (NTP, an administrator, a suspended VM) must neither cut short nor stretch. */
int64_t logto_monotonic_ms(void);
/* Sleep ms milliseconds (a signal does not cut the sleep short). */
void logto_sleep_ms(int64_t ms);

/* Constant-time comparison of two equal-length byte strings. */
bool logto_memeq_consttime(const void *a, const void *b, size_t len);

/* CLOCK_MONOTONIC_COARSE in nanoseconds (a vDSO read: cheap enough for every NSS call). */
int64_t logto_monotonic_coarse_ns(void);
