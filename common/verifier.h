/* SPDX-License-Identifier: MIT */
/*
 * The offline password verifier: after a password sign-in succeeded online, a yescrypt hash of
 * the password (libxcrypt, "$y$", default cost) is kept in the user's token record so that the
 * password can be checked while the IdP is unreachable, within the offline grace. Only yescrypt
 * hashes are made or accepted.
 */
#pragma once

#include <stddef.h>

#include "error.h"

/* Longest accepted password: libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE minus the terminator. */
#define LOGTO_VERIFIER_MAX_PASSWORD 511

/*
 * Hash password with a fresh salt (entropy from the kernel via libxcrypt). *ret_hash is a new
 * string "$y$..."; free it with logto_free_secret. An empty password is refused (LOGTO_E_INVAL).
 */
int logto_verifier_create(const char *password, char **ret_hash, struct logto_error *err);

/*
 * 0 when password matches hash; -LOGTO_E_DENIED when it does not; -LOGTO_E_CORRUPT when hash is
 * not a well-formed yescrypt hash (callers then fall back to "no verifier", never to "match").
 * The comparison runs in constant time over the hash length.
 */
int logto_verifier_check(const char *password, const char *hash, struct logto_error *err);

/*
 * Tests only: called with libxcrypt's scratch area (struct crypt_data) after it was wiped and
 * just before it is freed, so a test can prove the wipe. NULL (the default) in production.
 */
extern void (*logto_verifier_scratch_observer)(const void *scratch, size_t len);
