/* SPDX-License-Identifier: MIT */
/* Small compiler helpers shared by every part of the project (GCC/Clang only). */
#pragma once

#include <stddef.h>
#include <stdlib.h>

#define _public_             __attribute__((visibility("default")))
#define _printf_(fmt, args)  __attribute__((format(printf, fmt, args)))
#define _unused_             __attribute__((unused))
#define _nonnull_            __attribute__((nonnull))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _cleanup_(f)         __attribute__((cleanup(f)))

#define ELEMENTSOF(a)                                                                              \
    (sizeof(a) / sizeof((a)[0]) +                                                                  \
     0 * sizeof(char[1 - 2 * __builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]))]))

#define ALIGN_TO(n, a) (((n) + ((a)-1)) & ~((size_t)(a)-1))

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _take_ = (p);                                                                \
        (p) = NULL;                                                                                \
        _take_;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd_ = (fd);                                                                           \
        (fd) = -1;                                                                                 \
        _fd_;                                                                                      \
    })

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

void logto_closep(int *fd);
#define _cleanup_close_ _cleanup_(logto_closep)

void logto_fclosep(void *f);
#define _cleanup_fclose_ _cleanup_(logto_fclosep)

/* A NULL-terminated array of strings, freed with logto_strv_free(). */
void logto_strv_freep(char ***v);
#define _cleanup_strv_ _cleanup_(logto_strv_freep)

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
