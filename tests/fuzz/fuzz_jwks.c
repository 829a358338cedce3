/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jwks: a JWKS document (as the jwks_uri or the cache would deliver it) through
 * logto_jwks_parse, then the lookups and a verification of every known-good token of
 * tests/data/jwt/vectors.json against the parsed keys, so key selection and the checks of
 * kty, crv, size and alg run on hostile keys.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "jwt.h"
#include "oidc.h"

#include "fuzz.h"
#include "vectors.h"

static const char *const kids[] = {
    "b0HkBYWsMayyi2V9tmfac4JRJoWDWHYnLcklTBkcDI4", /* vectors: ec256 */
    "69K-myx6SnxvYVV014EN8W9uVXbRCejjQtnFyfcpe3o", /* ec384 */
    "LKJ3SQRCoZeKIx9cEwd1B3H97z-5GVYyxMt81R_6ut4", /* rsa2048 */
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct logto_jwt_expect expect = {
        .issuer = FUZZ_VECTOR_ISSUER,
        .client_id = FUZZ_VECTOR_CLIENT_ID,
        .now = FUZZ_NOW,
        .leeway = LOGTO_JWT_LEEWAY,
    };
    struct logto_error err = { 0 };
    struct logto_jwks *jwks = NULL;
    json_t *doc = NULL;
    size_t n;

    /* The limits the JWKS fetch and cache use. */
    if (logto_json_parse_object((const char *)data, size, LOGTO_OIDC_CACHE_MAX,
                                LOGTO_JSON_MAX_DEPTH, "the JWKS", &doc, &err) < 0)
        return 0;
    if (logto_jwks_parse(doc, &jwks, &err) < 0) {
        json_decref(doc);
        return 0;
    }
    n = logto_jwks_size(jwks);
    if (n > LOGTO_JWKS_MAX_KEYS || n > json_array_size(json_object_get(doc, "keys")))
        abort();
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        (void)logto_jwks_has_kid(jwks, kids[i]);
    for (size_t i = 0; i < sizeof(fuzz_vector_tokens) / sizeof(fuzz_vector_tokens[0]); i++) {
        json_t *claims = NULL;
        int r = logto_jwt_verify(fuzz_vector_tokens[i], jwks, &expect, &claims, &err);
        if (r == 0)
            json_decref(claims);
        else if (r != -LOGTO_E_TOKEN)
            abort();
    }
    logto_jwks_free(jwks);
    json_decref(doc);
    return 0;
}
