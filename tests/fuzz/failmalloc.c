/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure injection for the *_oom fuzz targets, after pam-u2f's fuzz/wrap.c: the
 * targets link with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,
 * so every such call made by our code (common/ is linked statically) lands here, and jansson's
 * allocations are routed here with json_set_alloc_funcs. Between fuzz_failmalloc_start(seed)
 * and fuzz_failmalloc_stop() about one allocation in FAIL_ONE_IN fails, chosen by a generator
 * seeded from the input, so each input fails the same allocations every time it runs.
 * fuzz_failmalloc_fail_nth(n) fails exactly the n-th allocation instead: unit tests sweep n over
 * every allocation of an operation (tests/unit/test_sync.c).
 * Allocations inside libc (asprintf...), libcurl, cjose and OpenSSL are not affected.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"

#define FAIL_ONE_IN 64

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static bool active, fired;
static uint32_t state;
static unsigned long fail_nth, count; /* fail_nth 0: the random mode */

static bool should_fail(void)
{
    if (!active)
        return false;
    if (fail_nth) {
        if (++count != fail_nth)
            return false;
        fired = true;
        return true;
    }
    /* xorshift32: cheap, and the same sequence for the same seed. */
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state % FAIL_ONE_IN == 0;
}

void *__wrap_malloc(size_t size)
{
    return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return should_fail() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : __real_strndup(s, n);
}

static void *json_malloc(size_t size)
{
    return __wrap_malloc(size);
}

static void route_json(void)
{
    static bool json_routed;

    if (!json_routed) {
        json_set_alloc_funcs(json_malloc, free);
        json_routed = true;
    }
}

void fuzz_failmalloc_start(uint32_t seed)
{
    route_json();
    state = seed ? seed : 0x9e3779b9u;
    fail_nth = 0;
    active = true;
}

void fuzz_failmalloc_fail_nth(unsigned long n)
{
    route_json();
    fail_nth = n;
    count = 0;
    fired = false;
    active = true;
}

bool fuzz_failmalloc_fired(void)
{
    return fired;
}

void fuzz_failmalloc_stop(void)
{
    active = false;
}

bool fuzz_failmalloc_active(void)
{
    return active;
}
