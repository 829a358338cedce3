/* SPDX-License-Identifier: MIT */
/* The sanitizer for text shown to people (common/text.h): every code point, every invalid form. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "log.h"
#include "text.h"

/*
 * The expectation, written out independently of common/text.c's table: Unicode 15.1's Cf
 * (DerivedGeneralCategory.txt), Zl, Zp, the Hangul fillers, and the controls.
 */
static bool expect_hidden(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { 0x0000, 0x001F },   { 0x007F, 0x009F },   { 0x00AD, 0x00AD },   { 0x0600, 0x0605 },
        { 0x061C, 0x061C },   { 0x06DD, 0x06DD },   { 0x070F, 0x070F },   { 0x0890, 0x0891 },
        { 0x08E2, 0x08E2 },   { 0x115F, 0x1160 },   { 0x180E, 0x180E },   { 0x200B, 0x200F },
        { 0x2028, 0x2029 },   { 0x202A, 0x202E },   { 0x2060, 0x2064 },   { 0x2066, 0x206F },
        { 0x3164, 0x3164 },   { 0xFEFF, 0xFEFF },   { 0xFFA0, 0xFFA0 },   { 0xFFF9, 0xFFFB },
        { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD }, { 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 },
        { 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F },
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return true;
    return false;
}

static size_t encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Every code point, alone and between letters, in both modes. Surrogates encoded as if they were
 * characters are invalid UTF-8 and must be replaced like any other invalid sequence. */
static void test_every_code_point(void)
{
    size_t wrong = 0, hidden_count = 0;

    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char in[8] = "a", out[8];
        size_t n = 1 + encode(cp, in + 1), o;
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        bool hide = surrogate || expect_hidden(cp);
        in[n++] = 'b';

        /* ED A0 80: ED wants 80-9F next, so three maximal subparts, three '?'. */
        const char *want = surrogate ? "a???b" : hide ? "a?b" : NULL;
        o = logto_text_clean_n(out, in, n, 0);
        bool ok = want ? (o == strlen(want) && memcmp(out, want, o) == 0)
                       : (o == n && memcmp(out, in, n) == 0);
        o = logto_text_clean_n(out, in, n, LOGTO_TEXT_ASCII);
        if (!want && cp >= 0x80)
            want = "a?b";
        ok = ok && (want ? (o == strlen(want) && memcmp(out, want, o) == 0)
                         : (o == n && memcmp(out, in, n) == 0));
        if (!surrogate && logto_text_hidden(cp, 0) != expect_hidden(cp))
            ok = false;
        hidden_count += hide;
        if (!ok && wrong++ < 10)
            fprintf(stderr, "code point U+%04X handled wrongly\n", (unsigned)cp);
    }
    CHECK_INT(wrong, 0);
    /* 65 controls + 2048 surrogates + the 176 format characters and fillers listed above. */
    CHECK_INT(hidden_count, 65 + 2048 + 176);
}

static void check_clean(const char *in, unsigned flags, const char *want)
{
    char out[64];
    CHECK_STR(logto_text_clean(out, sizeof(out), in, flags), want);
}

static void test_invalid_utf8(void)
{
    /* The reported attack: raw 8-bit CSI, encoded CSI, and RLO in a URI-like string. */
    check_clean("x\x9b"
                "31mred",
                0, "x?31mred");
    check_clean("x\xc2\x9b"
                "31m",
                0, "x?31m");
    check_clean("ab\xe2\x80\xae"
                "cd",
                0, "ab?cd");
    /* One '?' per maximal subpart (Unicode ch. 3, U+FFFD substitution). */
    check_clean("\x80\xbf", 0, "??");                       /* lone continuation bytes */
    check_clean("\xc0\xaf", 0, "??");                       /* overlong '/' */
    check_clean("\xe0\x80\xaf", 0, "???");                  /* overlong: E0 needs A0-BF */
    check_clean("\xf0\x80\x80\xaf", 0, "????");             /* overlong: F0 needs 90-BF */
    check_clean("\xed\xa0\x80", 0, "???");                  /* surrogate D800 */
    check_clean("\xf4\x90\x80\x80", 0, "????");             /* above U+10FFFF */
    check_clean("\xf5\xff\xfe", 0, "???");                  /* never valid bytes */
    check_clean("\xe2\x80", 0, "?");                        /* truncated at the end */
    check_clean("\xe2\x80z", 0, "?z");                      /* truncated inside */
    check_clean("\xf0\x9f\x98", 0, "?");                    /* truncated 4-byte */
    check_clean("\xf0\x9f\x98\x80", 0, "\xf0\x9f\x98\x80"); /* U+1F600 is fine */
    check_clean("Jos\xc3\xa9", 0, "Jos\xc3\xa9");
    check_clean("Jos\xc3\xa9", LOGTO_TEXT_ASCII, "Jos?");
    /* Newlines only when asked for; CR never. */
    check_clean("a\nb\tc\rd\x1b[2J", 0, "a?b?c?d?[2J");
    check_clean("a\nb\tc\rd", LOGTO_TEXT_NEWLINE, "a\nb\tc?d");
    check_clean(NULL, 0, "");
}

static void test_cut(void)
{
    char out[5];
    /* "ab" + U+00E9 + U+00E9: 6 bytes; room for 4: the second é is not split. */
    CHECK_STR(logto_text_clean(out, sizeof(out), "ab\xc3\xa9\xc3\xa9", 0), "ab\xc3\xa9");
    CHECK_STR(logto_text_clean(out, 4, "ab\xc3\xa9", 0), "ab");
    char *dup = logto_text_clean_dup("l\xe2\x80\x8fr", 0);
    CHECK_STR(dup, "l?r");
    free(dup);
    CHECK(logto_text_clean_dup(NULL, 0) == NULL);
    /* In place. */
    char buf[] = "a\x9b"
                 "b\xe2\x80\xae"
                 "c";
    buf[logto_text_clean_n(buf, buf, strlen(buf), 0)] = '\0';
    CHECK_STR(buf, "a?b?c");
}

static void test_incomplete_tail(void)
{
    CHECK_INT(logto_text_incomplete_tail("abc", 3), 0);
    CHECK_INT(logto_text_incomplete_tail("a\xe2", 2), 1);
    CHECK_INT(logto_text_incomplete_tail("a\xe2\x80", 3), 2);
    CHECK_INT(logto_text_incomplete_tail("a\xe2\x80\xae", 4), 0);
    CHECK_INT(logto_text_incomplete_tail("\xf0\x9f\x98", 3), 3);
    CHECK_INT(logto_text_incomplete_tail("\xf0\x80", 2), 0); /* can never become valid */
    CHECK_INT(logto_text_incomplete_tail("\x9b", 1), 0);
    CHECK_INT(logto_text_incomplete_tail("\xc2", 1), 1);
    CHECK_INT(logto_text_incomplete_tail("", 0), 0);
}

static void test_uri(void)
{
    bool refused;
    char *u = logto_text_uri("https://id.example/device?user_code=AB\xe2\x80\xae"
                             "CD\x9b",
                             &refused);
    CHECK_STR(u, "https://id.example/device?user_code=AB%E2%80%AECD%9B");
    CHECK(!refused);
    free(u);
    CHECK(logto_text_uri("https://id.example/a b", &refused) == NULL && refused);
    CHECK(logto_text_uri("https://id.example/\x1b[2J", &refused) == NULL && refused);
    CHECK(logto_text_uri("https://id.example/\x7f", &refused) == NULL && refused);
    CHECK(logto_text_uri(NULL, &refused) == NULL && refused);
    u = logto_text_uri("https://id.example/device", &refused);
    CHECK_STR(u, "https://id.example/device");
    free(u);
}

static void log_capture(void *data, int priority, const char *line)
{
    (void)priority;
    snprintf(data, 128, "%s", line);
}

static void test_log_lines(void)
{
    char line[128] = "";
    struct logto_log log = { .fn = log_capture, .userdata = line };
    logto_log(&log, LOG_ERR, "x name=\"%s\"", "Mal\xe2\x80\xaelory\xc2\x9b\x9b");
    CHECK_STR(line, "x name=\"Mal?lory??\"");
}

TEST_MAIN(TEST(test_every_code_point), TEST(test_invalid_utf8), TEST(test_cut),
          TEST(test_incomplete_tail), TEST(test_uri), TEST(test_log_lines))
