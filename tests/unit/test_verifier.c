/* SPDX-License-Identifier: MIT */
/* Offline password verifier (yescrypt through libxcrypt). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "verifier.h"

#include "../lib/check.h"

static int scratch_seen, scratch_dirty;

/* Called with libxcrypt's work area after the wipe, right before it is freed. */
static void observe_scratch(const void *scratch, size_t len)
{
    const unsigned char *p = scratch;
    scratch_seen++;
    for (size_t i = 0; i < len; i++)
        if (p[i]) {
            scratch_dirty++;
            break;
        }
}

static void test_create_check(void)
{
    _cleanup_secret_ char *h1 = NULL, *h2 = NULL;
    struct logto_error err = { 0 };

    scratch_seen = scratch_dirty = 0;
    logto_verifier_scratch_observer = observe_scratch;

    CHECK_INT(logto_verifier_create("correct horse battery", &h1, &err), 0);
    CHECK(h1 && strncmp(h1, "$y$", 3) == 0);
    CHECK_INT(logto_verifier_check("correct horse battery", h1, &err), 0);
    CHECK_INT(logto_verifier_check("correct horse batterY", h1, &err), -LOGTO_E_DENIED);
    CHECK_INT(logto_verifier_check("correct horse battery ", h1, &err), -LOGTO_E_DENIED);
    CHECK_INT(logto_verifier_check("", h1, &err), -LOGTO_E_DENIED);
    CHECK_INT(logto_verifier_check(NULL, h1, &err), -LOGTO_E_DENIED);
    /* The password is never echoed in a message. */
    CHECK(!strstr(err.message, "correct horse"));

    /* A fresh salt every time. */
    CHECK_INT(logto_verifier_create("correct horse battery", &h2, &err), 0);
    CHECK(h1 && h2 && strcmp(h1, h2) != 0);

    /* Every libxcrypt work area was wiped before it was freed. */
    CHECK(scratch_seen >= 5);
    CHECK_INT(scratch_dirty, 0);
    logto_verifier_scratch_observer = NULL;
}

static void test_refused_passwords(void)
{
    char long_pw[LOGTO_VERIFIER_MAX_PASSWORD + 2];
    struct logto_error err = { 0 };
    char *h = NULL;

    CHECK_INT(logto_verifier_create("", &h, &err), -LOGTO_E_INVAL);
    CHECK_INT(logto_verifier_create(NULL, &h, &err), -LOGTO_E_INVAL);
    memset(long_pw, 'p', sizeof(long_pw) - 1);
    long_pw[sizeof(long_pw) - 1] = '\0';
    CHECK_INT(logto_verifier_create(long_pw, &h, &err), -LOGTO_E_INVAL);
    CHECK(!strstr(err.message, "ppppp"));
    CHECK(h == NULL);
    /* The longest accepted password works end to end. */
    long_pw[LOGTO_VERIFIER_MAX_PASSWORD] = '\0';
    CHECK_INT(logto_verifier_create(long_pw, &h, &err), 0);
    CHECK_INT(logto_verifier_check(long_pw, h, &err), 0);
    logto_free_secret(h);
}

/* A hash made by the system's own tools (mkpasswd/Python crypt) is accepted as is. */
static void test_known_hash(void)
{
    static const char hash[] =
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79";
    struct logto_error err = { 0 };

    CHECK_INT(logto_verifier_check("correct horse", hash, &err), 0);
    CHECK_INT(logto_verifier_check("Correct horse", hash, &err), -LOGTO_E_DENIED);
}

static void test_malformed_hashes(void)
{
    static const char *const bad[] = {
        "",
        "$y$",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1",  /* a setting without the hash */
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$", /* empty hash part */
        "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/"
        "jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
        "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        "$1$salt$qJH7.N4xYta3aEG/dfqo/0",
        "plaintext",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79\n",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlz:fSUkF8RHJ./tK5KU79",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79$extra",
        "*",
        "!$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79",
    };
    struct logto_error err = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = logto_verifier_check("correct horse", bad[i], &err);
        if (r != -LOGTO_E_CORRUPT)
            fprintf(stderr, "hash %zu: %d\n", i, r);
        CHECK_INT(r, -LOGTO_E_CORRUPT);
    }
    CHECK_INT(logto_verifier_check("correct horse", NULL, &err), -LOGTO_E_CORRUPT);
    /* A truncated hash never matches. */
    CHECK(logto_verifier_check("correct horse",
                               "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./"
                               "tK5KU7",
                               &err) < 0);
}

TEST_MAIN(TEST(test_create_check), TEST(test_refused_passwords), TEST(test_known_hash),
          TEST(test_malformed_hashes))
