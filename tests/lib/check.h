/* SPDX-License-Identifier: MIT */
/*
 * A tiny test harness: CHECK* macros record failures with file:line and keep going, so one run
 * reports every broken case; TEST_MAIN runs the listed cases and exits 1 if any check failed.
 * Exit 77 (automake SKIP) comes from tests that call SKIP().
 */
#pragma once

#undef NDEBUG
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_;
static const char *check_case_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, check_case_,     \
                    #cond);                                                                        \
            check_failures_++;                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: [%s] %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,   \
                    check_case_, #a, a_, #b, b_);                                                  \
            check_failures_++;                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: [%s] %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,     \
                    check_case_, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
            check_failures_++;                                                                     \
        }                                                                                          \
    } while (0)

/* A substring check, for messages. */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            fprintf(stderr, "%s:%d: [%s] \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,    \
                    check_case_, h_ ? h_ : "(null)", n_);                                          \
            check_failures_++;                                                                     \
        }                                                                                          \
    } while (0)

#define SKIP(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "SKIP: " __VA_ARGS__);                                                     \
        fputc('\n', stderr);                                                                       \
        exit(77);                                                                                  \
    } while (0)

struct check_case {
    const char *name;
    void (*fn)(void);
};

#define TEST(name)                                                                                 \
    {                                                                                              \
#name, name                                                                                \
    }

static inline int check_run_(const struct check_case *cases, size_t n, int argc, char **argv)
{
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        int before = check_failures_;
        check_case_ = cases[i].name;
        cases[i].fn();
        printf("%s %s\n", check_failures_ == before ? "ok" : "FAIL", cases[i].name);
    }
    if (check_failures_)
        fprintf(stderr, "%d check(s) failed\n", check_failures_);
    return check_failures_ ? 1 : 0;
}

#define TEST_MAIN(...)                                                                             \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct check_case cases_[] = { __VA_ARGS__ };                                 \
        return check_run_(cases_, sizeof(cases_) / sizeof(cases_[0]), argc, argv);                 \
    }
