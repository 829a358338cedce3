/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jwt: compact JWS tokens through logto_jwt_peek and logto_jwt_verify against a fixed JWKS
 * (the keys of tests/data/jwt/vectors.json plus one ES256 key of our own) at a fixed clock.
 *
 * Input: one mode byte, then
 *   'N'          the token; verified with the expected nonce
 *   'S' or 'M'   HEADER '\n' PAYLOAD: both base64url-encoded by us and signed with our ES256 key
 *                (kid "fuzz-es256"), so mutations of the header and claims get past the signature
 *                to the claim checks; 'M' expects the nonce
 *   other        the token itself
 * A token that verifies must come back with its claims object; everything else is a refusal.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "json.h"
#include "jwt.h"
#include "memory.h"

#include "fuzz.h"
#include "vectors.h"

#define OWN_KID "fuzz-es256"

static struct logto_jwks *jwks;
static EVP_PKEY *own_key;

static const char b64u_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding, appended at out; returns the length written. */
static size_t b64u_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64u_alphabet[v >> 18];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
        out[o++] = b64u_alphabet[(v >> 6) & 63];
        out[o++] = b64u_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64u_alphabet[v >> 18];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64u_alphabet[v >> 18];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
        out[o++] = b64u_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static char *coordinate(const char *param)
{
    BIGNUM *bn = NULL;
    unsigned char raw[32];
    char *out = malloc(64);

    if (!out || !EVP_PKEY_get_bn_param(own_key, param, &bn) || BN_bn2binpad(bn, raw, 32) != 32)
        fuzz_die("EC key coordinates");
    BN_free(bn);
    b64u_encode(raw, sizeof(raw), out);
    return out;
}

static void setup(void)
{
    _cleanup_json_ json_t *doc = NULL;
    struct logto_error err = { 0 };
    _cleanup_free_ char *x = NULL, *y = NULL;

    own_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!own_key)
        fuzz_die("EC key generation");
    x = coordinate(OSSL_PKEY_PARAM_EC_PUB_X);
    y = coordinate(OSSL_PKEY_PARAM_EC_PUB_Y);
    if (logto_json_parse_object(fuzz_vector_jwks, strlen(fuzz_vector_jwks), 1 << 20, 8, "JWKS",
                                &doc, &err) < 0 ||
        json_array_append_new(json_object_get(doc, "keys"),
                              json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
                                        "x", x, "y", y, "kid", OWN_KID)) < 0 ||
        logto_jwks_parse(doc, &jwks, &err) < 0 || !logto_jwks_has_kid(jwks, OWN_KID))
        fuzz_die("the fixed JWKS");
}

/* b64u(header) "." b64u(payload) "." b64u(ES256 signature), signed with our key. */
static char *sign(const uint8_t *header, size_t hlen, const uint8_t *payload, size_t plen)
{
    size_t cap = (hlen + plen) / 3 * 4 + 8 + 128, n, der_len = 0;
    char *token = malloc(cap);
    unsigned char der[80], raw[64];
    const unsigned char *p = der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = NULL;

    if (!token || !md)
        fuzz_die("out of memory");
    n = b64u_encode(header, hlen, token);
    token[n++] = '.';
    n += b64u_encode(payload, plen, token + n);
    der_len = sizeof(der);
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, own_key) != 1 ||
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)token, n) != 1 ||
        !(sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) ||
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
        fuzz_die("ES256 signing");
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    token[n++] = '.';
    b64u_encode(raw, sizeof(raw), token + n);
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_jwt_expect expect = {
        .issuer = FUZZ_VECTOR_ISSUER,
        .client_id = FUZZ_VECTOR_CLIENT_ID,
        .now = FUZZ_NOW,
        .leeway = LOGTO_JWT_LEEWAY,
    };
    struct logto_error err = { 0 };
    _cleanup_free_ char *token = NULL, *alg = NULL, *kid = NULL;
    json_t *claims = NULL;
    int64_t iat = 0;
    int r;

    if (!jwks)
        setup();
    if (size == 0 || size > 2 * LOGTO_JWT_MAX_LEN)
        return 0;
    if (data[0] == 'S' || data[0] == 'M') {
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        size_t hlen = nl ? (size_t)(nl - data - 1) : size - 1;

        token = sign(data + 1, hlen, nl ? nl + 1 : data + size, nl ? size - hlen - 2 : 0);
    } else
        token = fuzz_strndup(data + 1, size - 1);
    if (data[0] == 'N' || data[0] == 'M')
        expect.nonce = FUZZ_VECTOR_NONCE;

    r = logto_jwt_peek(token, &alg, &kid, &err);
    if (r == 0 && !alg)
        abort(); /* a header that passes always has an allow-listed alg */
    r = logto_jwt_peek_iat(token, &iat, &err);
    if ((r == 0 && iat < 0) || (r < 0 && r != -LOGTO_E_TOKEN))
        abort(); /* the unverified iat: a NumericDate or a token error */
    r = logto_jwt_verify(token, jwks, &expect, &claims, &err);
    if (r == 0) {
        if (!json_is_object(claims) || !json_is_string(json_object_get(claims, "sub")))
            abort();
        json_decref(claims);
    } else if (r != -LOGTO_E_TOKEN || err.code != LOGTO_E_TOKEN || !err.message[0])
        abort(); /* every refusal is a token error with a message */
    return 0;
}
