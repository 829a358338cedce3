/* SPDX-License-Identifier: MIT */
/*
 * Text from the network, made fit to be shown to a person: on a terminal, through the PAM
 * conversation, in a log line someone will `tail`. One sanitizer, used wherever such text is
 * shown (pam_logto's conversation, logtoctl's output streams, log lines, gecos and display names,
 * the device flow's verification URIs). No third-party dependencies.
 *
 * What never survives (each such character, or each maximal invalid UTF-8 subpart, becomes one
 * '?', visible everywhere and one byte, so the output is never longer than the input):
 *  - C0 controls U+0000-U+001F and DEL U+007F (ESC starts terminal escape sequences; CR, BS and
 *    newlines rewrite or forge lines); with LOGTO_TEXT_NEWLINE, '\n' and '\t' are kept;
 *  - C1 controls U+0080-U+009F (U+009B is an 8-bit CSI), encoded or as raw bytes;
 *  - invalid UTF-8: stray bytes (a lone 0x9b is CSI to an 8-bit terminal), overlong forms,
 *    surrogates, code points above U+10FFFF, truncated sequences;
 *  - Unicode's whole Cf (format) category as of Unicode 15.1: the bidi controls U+061C,
 *    U+200E-U+200F, U+202A-U+202E, U+2066-U+2069 (they reorder what is shown: "Trojan
 *    Source"), and also the soft hyphen U+00AD, the zero-width space, joiners and word joiner
 *    U+200B-U+200D and U+2060-U+2064, U+FEFF and the rest. Invisible characters make two
 *    different strings look the same; we show names and codes, where that matters more than
 *    the correct rendering of emoji sequences or of scripts that use joiners (Persian ZWNJ:
 *    such text shows a '?' where the joiner was);
 *  - the line and paragraph separators U+2028 and U+2029 (Zl, Zp: newlines to some programs);
 *  - the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0: letters (Lo) that render as nothing,
 *    a known tool for invisible or look-alike names.
 * With LOGTO_TEXT_ASCII, every non-ASCII character becomes '?' too (for a terminal that is not
 * UTF-8: there, bytes 0x80-0x9f inside valid characters could act as C1 controls).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGTO_TEXT_ASCII   0x1u /* printable ASCII only */
#define LOGTO_TEXT_NEWLINE 0x2u /* keep '\n' and '\t' (multi-line text we compose ourselves) */

/* Whether code point cp is one of those never shown (flags: only LOGTO_TEXT_NEWLINE counts). */
bool logto_text_hidden(uint32_t cp, unsigned flags);

/*
 * Clean len bytes of src into dst (room for len bytes; no NUL is added; dst may be src); returns
 * the number of bytes written (<= len). A NUL byte in src counts as a C0 control.
 */
size_t logto_text_clean_n(char *dst, const char *src, size_t len, unsigned flags);

/* The number of bytes at the end of buf[0..len) that begin a valid UTF-8 sequence which more
 * bytes could still complete (0-3): a stream filter holds them back until the next write. */
size_t logto_text_incomplete_tail(const char *buf, size_t len);

/* Clean the string src into dst (size n >= 1), cut at a character boundary to fit; returns dst.
 * A NULL src gives "". */
char *logto_text_clean(char *dst, size_t n, const char *src, unsigned flags);

/* The same into a new string (never longer than src); NULL when out of memory or src is NULL. */
char *logto_text_clean_dup(const char *src, unsigned flags);

/*
 * A URI made fit to show and to open: bytes 0x80-0xff are percent-encoded (U+202E becomes
 * "%E2%80%AE", a lone 0x9b "%9B": visible, and what a browser would send anyway). A URI with a
 * C0 control, DEL or a space in it is refused (NULL, *ret_refused set): no URI holds one.
 * NULL with *ret_refused false means out of memory.
 */
char *logto_text_uri(const char *uri, bool *ret_refused);
