/* SPDX-License-Identifier: MIT */
/* Wiping secrets: every password, token and secret passes through these before it is freed. */
#pragma once

#include <stddef.h>

#include "macro.h"

/* Overwrite len bytes at p with zeros in a way the compiler may not drop. NULL is fine. */
void logto_erase(void *p, size_t len);

/* Wipe a NUL-terminated string in place (up to its terminator). NULL is fine. */
void logto_erase_string(char *s);

/* Wipe then free. */
void logto_freezero(void *p, size_t len);
void logto_free_secret(char *s);

static inline void logto_free_secretp(char **s)
{
    logto_free_secret(*s);
}
/* A heap string holding a secret: wiped and freed when it goes out of scope. */
#define _cleanup_secret_ _cleanup_(logto_free_secretp)
