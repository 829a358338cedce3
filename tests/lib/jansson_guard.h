/* SPDX-License-Identifier: MIT */
/*
 * A watch on what jansson frees: jansson_guard_install() routes jansson's allocations through
 * calloc and a free that first looks for the watched secrets in the whole block
 * (malloc_usable_size), counting every block that still holds one. jansson never wipes what it
 * frees (its lexer and string buffers grow by copying), so a secret that passed through it shows
 * up here; one that was cut out or spliced in (common/json.h) does not. Install before the first
 * jansson call of the program (a block allocated earlier would be freed here too: fine, it is
 * plain malloc).
 */
#pragma once

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define JANSSON_GUARD_MAX 8

static const char *jansson_guard_secrets[JANSSON_GUARD_MAX];
static size_t jansson_guard_hits;

static void jansson_guard_free(void *p)
{
    size_t size = p ? malloc_usable_size(p) : 0;

    for (size_t i = 0; p && i < JANSSON_GUARD_MAX && jansson_guard_secrets[i]; i++)
        if (memmem(p, size, jansson_guard_secrets[i], strlen(jansson_guard_secrets[i]))) {
            jansson_guard_hits++;
            break;
        }
    free(p);
}

/* Zeroed, so that the scan of a whole block reads no uninitialised byte (valgrind). */
static void *jansson_guard_malloc(size_t n)
{
    return calloc(1, n ? n : 1);
}

static inline void jansson_guard_install(void)
{
    json_set_alloc_funcs(jansson_guard_malloc, jansson_guard_free);
}

/* Watch these secrets (NULL-terminated list, at most JANSSON_GUARD_MAX) and reset the count. */
static inline void jansson_guard_watch(const char *const *secrets)
{
    memset(jansson_guard_secrets, 0, sizeof(jansson_guard_secrets));
    for (size_t i = 0; secrets[i] && i < JANSSON_GUARD_MAX; i++)
        jansson_guard_secrets[i] = secrets[i];
    jansson_guard_hits = 0;
}
