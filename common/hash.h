/* SPDX-License-Identifier: MIT */
/*
 * Hashes for the directory snapshot: XXH64 (our implementation of the public algorithm) as the
 * file checksum, and keyed SipHash-2-4 for the lookup indexes, so names crafted to collide
 * cannot degrade lookups without knowing the random per-file key. SHA-256 for the documented
 * UID/GID formula (identity.h), here so that deciding from cached claims needs no crypto
 * library. No third-party dependencies.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LOGTO_SIPHASH_KEY_SIZE 16

/* XXH64 of len bytes at data with seed: fast, not cryptographic (detects damage, not forgery). */
uint64_t logto_xxh64(const void *data, size_t len, uint64_t seed);

/* SipHash-2-4 of len bytes at data under a 16-byte key (a keyed PRF, 64-bit output). */
uint64_t logto_siphash24(const void *data, size_t len, const uint8_t key[LOGTO_SIPHASH_KEY_SIZE]);

#define LOGTO_SHA256_SIZE 32

/* Incremental SHA-256 (FIPS 180-4). */
struct logto_sha256 {
    uint32_t state[8];
    uint64_t length; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes waiting in block */
};

void logto_sha256_init(struct logto_sha256 *s);
void logto_sha256_update(struct logto_sha256 *s, const void *data, size_t len);
void logto_sha256_final(struct logto_sha256 *s, uint8_t out[LOGTO_SHA256_SIZE]);
