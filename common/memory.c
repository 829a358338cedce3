/* SPDX-License-Identifier: MIT */
/* Wiping secrets from memory. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

#if !defined(HAVE_EXPLICIT_BZERO)
/* A volatile function pointer keeps the optimiser from proving the store dead. */
static void *(*const volatile logto_memset_fn)(void *, int, size_t) = memset;
#endif

void logto_erase(void *p, size_t len)
{
    if (!p || len == 0)
        return;
#if defined(HAVE_EXPLICIT_BZERO)
    explicit_bzero(p, len);
#else
    logto_memset_fn(p, 0, len);
#endif
}

void logto_erase_string(char *s)
{
    if (s)
        logto_erase(s, strlen(s));
}

void logto_freezero(void *p, size_t len)
{
    if (!p)
        return;
    logto_erase(p, len);
    free(p);
}

void logto_free_secret(char *s)
{
    if (!s)
        return;
    logto_erase_string(s);
    free(s);
}
