/* SPDX-License-Identifier: MIT */
/*
 * ID-token verification (JWS compact serialisation) with libcjose for the signature.
 * Everything cjose is not trusted to decide is checked here first: the token's shape and strict
 * base64url, sizes, an allow-list of algorithms (ES256, ES384, ES512, RS256, PS256; never none,
 * HS*, EdDSA or anything else), that the key selected by kid has the type, curve and size the
 * algorithm needs, and the signature length. After the signature: iss, aud/azp, exp, nbf, iat
 * (with leeway), sub and an optional nonce. Failures are LOGTO_E_TOKEN with a message naming
 * the check (and kid/alg), never quoting the token.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct json_t;
struct logto_jwks;

#define LOGTO_JWT_MAX_LEN   (64 * 1024) /* a whole compact token */
#define LOGTO_JWT_LEEWAY    60          /* seconds of clock skew allowed on exp, nbf, iat */
#define LOGTO_JWKS_MAX_KEYS 64

/*
 * Keys of a JWKS document ({"keys":[...]}). Entries with "use" other than "sig" and key types
 * other than EC and RSA are left out; a malformed EC or RSA entry is kept as unusable, so a
 * token naming its kid gets a precise error. Logto publishes no alg/use: kid selects, kty/crv
 * are checked against the token's alg. A document that is not a JWKS is LOGTO_E_PROTOCOL.
 */
int logto_jwks_parse(const struct json_t *doc, struct logto_jwks **ret, struct logto_error *err);
void logto_jwks_free(struct logto_jwks *jwks);
static inline void logto_jwks_freep(struct logto_jwks **jwks)
{
    logto_jwks_free(*jwks);
}
#define _cleanup_jwks_ _cleanup_(logto_jwks_freep)

/* Number of entries kept (usable or not), and whether one has this kid. */
size_t logto_jwks_size(const struct logto_jwks *jwks);
bool logto_jwks_has_kid(const struct logto_jwks *jwks, const char *kid);

/*
 * Read the protected header of token without verifying anything else: its alg and kid (NULL
 * when absent), for choosing keys and for logs. Malformed headers fail as logto_jwt_verify
 * would. Caller frees both.
 */
int logto_jwt_peek(const char *token, char **ret_alg, char **ret_kid, struct logto_error *err);

/*
 * The iat claim of token without verifying it (0 when absent), only to decide whether an
 * unknown kid may fetch the JWKS again before the usual limit. Never trust it for anything else.
 */
int logto_jwt_peek_iat(const char *token, int64_t *ret_iat, struct logto_error *err);

struct logto_jwt_expect {
    const char *issuer;    /* iss must be exactly this */
    const char *client_id; /* aud must contain it; azp, if present, must be it */
    const char *nonce;     /* NULL: not checked */
    int64_t now;           /* seconds since the epoch (from logto_now) */
    int64_t leeway;        /* seconds, e.g. LOGTO_JWT_LEEWAY */
};

/* Verify token against jwks and expect; on success *ret_claims is the payload object. */
int logto_jwt_verify(const char *token, const struct logto_jwks *jwks,
                     const struct logto_jwt_expect *expect, struct json_t **ret_claims,
                     struct logto_error *err);
