/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the libFuzzer targets (tests/fuzz/README.md): a fixed clock, silent logging,
 * configurations from text, a private temporary directory, and input splitting. Targets never
 * print their input or anything derived from it: inputs may look like tokens and secrets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "context.h"

struct logto_http_response;

/* libFuzzer's entry point; tests/fuzz/replay.c calls it for each file in non-fuzzing builds. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed clock: "now" of tests/data/jwt/vectors.json. */
#define FUZZ_NOW INT64_C(1800000000)

/* A setup step failed: not a finding, so exit without a crash report. */
_Noreturn void fuzz_die(const char *what);

/* A NUL-terminated heap copy of data (NUL bytes inside are kept); exits when out of memory. */
char *fuzz_strndup(const void *data, size_t size);

/* A private directory (mode 0700) made on first use and removed at exit. */
const char *fuzz_tmpdir(void);

/* "<tmpdir>/<name>" in a static buffer of the caller's (PATH_MAX). */
void fuzz_path(char *buf, size_t n, const char *name);

/* Replace the file at path with data, mode as given. Exits on failure. */
void fuzz_write_file(const char *path, const void *data, size_t size, mode_t mode);

/* A configuration from INI text (logto_config_parse_buffer); exits if it is refused. */
struct logto_config *fuzz_config(const char *text);

/*
 * A context around cfg: the fixed clock, a log sink that drops everything (debug lines
 * included, so their formatting runs), and local passwd, group and shells files (a few system
 * and local accounts) in the temporary directory.
 */
void fuzz_ctx_init(struct logto_ctx *ctx, const struct logto_config *cfg);

/* Cut the next field, up to sep or the end, off the front of *data; false once nothing is left. */
bool fuzz_next_field(const uint8_t **data, size_t *size, uint8_t sep, const uint8_t **ret,
                     size_t *ret_len);

/*
 * An HTTP answer as the client would hold it, from "STATUS\nName: value\n...\n\nBODY": status
 * (default 200), the headers the client captures (Content-Type, Location, Total-Number, Link;
 * others are ignored) and the body, NUL-terminated like a real one. Clear it with
 * logto_http_response_clear.
 */
void fuzz_http_response(const uint8_t *data, size_t size, struct logto_http_response *resp);

/*
 * Allocation-failure injection (tests/fuzz/failmalloc.c, linked into the *_oom targets with
 * -Wl,--wrap=malloc,...): after fuzz_failmalloc_start(seed), each allocation made by the code
 * under test fails with a small probability drawn from a generator seeded by seed, so a run is
 * reproducible. fuzz_failmalloc_stop() turns it off. Without failmalloc.c both do nothing.
 */
void fuzz_failmalloc_start(uint32_t seed);
void fuzz_failmalloc_stop(void);
/* True between start and stop in a target built with failmalloc.c. */
bool fuzz_failmalloc_active(void);
/* Until stop, fail exactly the n-th allocation (n >= 1) and no other; fired() says whether it
 * came. Only with failmalloc.c (unit tests that sweep n over an operation). */
void fuzz_failmalloc_fail_nth(unsigned long n);
bool fuzz_failmalloc_fired(void);
