/* SPDX-License-Identifier: MIT */
/* The sanitizer for text from the network that a person will see (text.h has the rules). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "text.h"

/*
 * Never shown, beyond C0, DEL and C1: Unicode 15.1's Cf category (DerivedGeneralCategory.txt;
 * 15.0 added U+13439-U+1343F), Zl, Zp, and the Hangul fillers. Sorted, disjoint.
 */
static const struct {
    uint32_t lo, hi;
} hidden[] = {
    { 0x00AD, 0x00AD },   /* soft hyphen */
    { 0x0600, 0x0605 },   /* Arabic number signs */
    { 0x061C, 0x061C },   /* Arabic letter mark (bidi) */
    { 0x06DD, 0x06DD },   /* Arabic end of ayah */
    { 0x070F, 0x070F },   /* Syriac abbreviation mark */
    { 0x0890, 0x0891 },   /* Arabic pound and piastre marks above */
    { 0x08E2, 0x08E2 },   /* Arabic disputed end of ayah */
    { 0x115F, 0x1160 },   /* Hangul choseong and jungseong fillers */
    { 0x180E, 0x180E },   /* Mongolian vowel separator */
    { 0x200B, 0x200F },   /* zero-width space, ZWNJ, ZWJ, LRM, RLM */
    { 0x2028, 0x202E },   /* line and paragraph separators; LRE RLE PDF LRO RLO */
    { 0x2060, 0x2064 },   /* word joiner, invisible operators */
    { 0x2066, 0x206F },   /* LRI RLI FSI PDI; deprecated format characters */
    { 0x3164, 0x3164 },   /* Hangul filler */
    { 0xFEFF, 0xFEFF },   /* zero-width no-break space (BOM) */
    { 0xFFA0, 0xFFA0 },   /* halfwidth Hangul filler */
    { 0xFFF9, 0xFFFB },   /* interlinear annotation */
    { 0x110BD, 0x110BD }, /* Kaithi number sign */
    { 0x110CD, 0x110CD }, /* Kaithi number sign above */
    { 0x13430, 0x1343F }, /* Egyptian hieroglyph format controls */
    { 0x1BCA0, 0x1BCA3 }, /* shorthand format controls */
    { 0x1D173, 0x1D17A }, /* musical symbol format controls */
    { 0xE0001, 0xE0001 }, /* language tag */
    { 0xE0020, 0xE007F }, /* tag characters */
};

bool logto_text_hidden(uint32_t cp, unsigned flags)
{
    if (cp < 0x20)
        return !((flags & LOGTO_TEXT_NEWLINE) && (cp == '\n' || cp == '\t'));
    if (cp < 0x7f)
        return false;
    if (cp <= 0x9f)
        return true;
    if (cp < hidden[0].lo)
        return false;
    size_t lo = 0, hi = ELEMENTSOF(hidden);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < hidden[mid].lo)
            hi = mid;
        else if (cp > hidden[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* The valid range of the second byte after lead byte b, and the sequence length; 0 for a byte
 * that cannot start a sequence of two or more (ASCII, continuation bytes, C0, C1, F5-FF). */
static size_t lead_info(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0)
            *lo = 0xa0; /* no overlongs */
        else if (b == 0xed)
            *hi = 0x9f; /* no surrogates */
        return 3;
    }
    if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0)
            *lo = 0x90; /* no overlongs */
        else if (b == 0xf4)
            *hi = 0x8f; /* nothing above U+10FFFF */
        return 4;
    }
    return 0;
}

/*
 * Decode one character at s (len > 0 bytes left). Returns the bytes it takes; *cp is the code
 * point, or UINT32_MAX for an invalid sequence, in which case the return value is the length of
 * its maximal subpart (Unicode's "U+FFFD substitution of maximal subparts"), at least 1.
 */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char lo, hi;
    size_t need = lead_info(s[0], &lo, &hi), i;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    *cp = UINT32_MAX;
    if (need == 0)
        return 1;
    c = s[0] & (need == 2 ? 0x1f : need == 3 ? 0x0f : 0x07);
    for (i = 1; i < need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi)
            return i;
        c = c << 6 | (s[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }
    *cp = c;
    return need;
}

size_t logto_text_clean_n(char *dst, const char *src, size_t len, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;

    while (i < len) {
        uint32_t cp;
        size_t n = decode(s + i, len - i, &cp);
        if (cp == UINT32_MAX || logto_text_hidden(cp, flags) ||
            ((flags & LOGTO_TEXT_ASCII) && cp >= 0x80))
            dst[o++] = '?';
        else {
            memmove(dst + o, s + i, n);
            o += n;
        }
        i += n;
    }
    return o;
}

size_t logto_text_incomplete_tail(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;

    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char lo, hi;
        size_t start = len - back, need = lead_info(s[start], &lo, &hi);
        if (need == 0) {
            if (s[start] >= 0x80 && s[start] <= 0xbf)
                continue; /* a continuation byte: the lead may be further back */
            return 0;
        }
        if (need <= back)
            return 0; /* complete (or invalid) already: nothing to wait for */
        for (size_t k = start + 1; k < len; k++) {
            if (s[k] < lo || s[k] > hi)
                return 0;
            lo = 0x80;
            hi = 0xbf;
        }
        return back;
    }
    return 0;
}

char *logto_text_clean(char *dst, size_t n, const char *src, unsigned flags)
{
    size_t len = src ? strlen(src) : 0, o;

    if (n == 0)
        return dst;
    if (len > n - 1) {
        /* Cut at a character boundary: never leave half a sequence to become a '?'. */
        len = n - 1;
        for (int back = 0; back < 3 && len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80; back++)
            len--;
    }
    o = logto_text_clean_n(dst, src ? src : "", len, flags);
    dst[o] = '\0';
    return dst;
}

char *logto_text_clean_dup(const char *src, unsigned flags)
{
    size_t len;
    char *out;

    if (!src)
        return NULL;
    len = strlen(src);
    out = malloc(len + 1);
    if (out)
        out[logto_text_clean_n(out, src, len, flags)] = '\0';
    return out;
}

char *logto_text_uri(const char *uri, bool *ret_refused)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0, o = 0;
    char *out;

    *ret_refused = true;
    if (!uri)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f)
            return NULL;
        len += *p >= 0x80 ? 3 : 1;
    }
    *ret_refused = false;
    out = malloc(len + 1);
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p >= 0x80) {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 0xf];
        } else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
    return out;
}
