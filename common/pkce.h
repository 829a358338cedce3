/* SPDX-License-Identifier: MIT */
/*
 * Randomness for authorization requests: PKCE (RFC 7636, S256 only), state and nonce values.
 * Everything comes from getrandom(2) and is base64url without padding. The verifier is a
 * secret until the code has been exchanged: logto_pkce_clear wipes it.
 */
#pragma once

#include <stddef.h>

#include "error.h"

/* 32 random bytes: a 43-character verifier (RFC 7636 4.1 asks for 43..128). */
#define LOGTO_PKCE_VERIFIER_BYTES 32
/* state and nonce: 24 random bytes, 32 characters. */
#define LOGTO_RANDOM_TOKEN_BYTES 24

struct logto_pkce {
    char *verifier;  /* secret: sent only to the token endpoint */
    char *challenge; /* base64url(SHA-256(verifier)) */
};

/* A fresh verifier and its S256 challenge. */
int logto_pkce_new(struct logto_pkce *pkce, struct logto_error *err);
/* Wipe the verifier and free both strings; the struct can be reused. */
void logto_pkce_clear(struct logto_pkce *pkce);
#define _cleanup_pkce_ _cleanup_(logto_pkce_clear)

/* The S256 challenge for a given verifier (RFC 7636 4.2). Caller frees. */
int logto_pkce_challenge(const char *verifier, char **ret, struct logto_error *err);

/* nbytes random bytes from getrandom(2), base64url-encoded without padding. Caller frees. */
int logto_random_token(size_t nbytes, char **ret, struct logto_error *err);

/* base64url without padding (RFC 4648 5); NULL on allocation failure. Caller frees. */
char *logto_base64url_encode(const void *data, size_t len);
