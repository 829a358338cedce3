/* SPDX-License-Identifier: MIT */
/* Known-answer tests for common/jwt.c: tests/data/jwt/vectors.json (made by make-vectors.mjs
 * with an independent JOSE implementation) holds a JWKS and tokens that must pass or fail. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>

#include "../lib/check.h"
#include "json.h"
#include "jwt.h"

static json_t *vectors;
static struct logto_jwks *jwks;

static void load_vectors(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    json_error_t jerr;
    struct logto_error err = { 0 };

    snprintf(path, sizeof(path), "%s/tests/data/jwt/vectors.json", top ? top : LOGTO_TOP_SRCDIR);
    vectors = json_load_file(path, 0, &jerr);
    if (!vectors)
        SKIP("cannot read %s: %s", path, jerr.text);
    if (logto_jwks_parse(json_object_get(vectors, "jwks"), &jwks, &err) < 0) {
        fprintf(stderr, "vectors JWKS: %s\n", err.message);
        exit(1);
    }
}

static struct logto_jwt_expect expect_from_vectors(const json_t *c)
{
    if (!vectors)
        load_vectors();
    return (struct logto_jwt_expect){
        .issuer = json_string_value(json_object_get(vectors, "issuer")),
        .client_id = json_string_value(json_object_get(vectors, "client_id")),
        .nonce = c ? json_string_value(json_object_get(c, "nonce")) : NULL,
        .now = json_integer_value(json_object_get(vectors, "now")),
        .leeway = json_integer_value(json_object_get(vectors, "leeway")),
    };
}

static const char *token_of(const char *name)
{
    json_t *c;
    size_t i;

    if (!vectors)
        load_vectors();
    json_array_foreach(json_object_get(vectors, "cases"), i,
                       c) if (strcmp(json_string_value(json_object_get(c, "name")), name) ==
                              0) return json_string_value(json_object_get(c, "token"));
    fprintf(stderr, "no vector %s\n", name);
    exit(1);
}

/* No piece of the token may appear in an error message. */
static void check_message_leaks_nothing(const char *token, const char *message)
{
    size_t len = strlen(token);

    for (size_t i = 0; i + 16 <= len; i += 8) {
        char piece[17];
        memcpy(piece, token + i, 16);
        piece[16] = '\0';
        if (strchr(piece, '.'))
            continue;
        CHECK(strstr(message, piece) == NULL);
    }
}

static void run_case(const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *token = json_string_value(json_object_get(c, "token"));
    const char *expect = json_string_value(json_object_get(c, "expect"));
    const char *word = json_string_value(json_object_get(c, "message"));
    struct logto_jwt_expect x = expect_from_vectors(c);
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    int r;

    r = logto_jwt_verify(token, jwks, &x, &claims, &err);
    if (strcmp(expect, "ok") == 0) {
        if (r != 0)
            fprintf(stderr, "case %s: %s\n", name, err.message);
        CHECK_INT(r, 0);
        CHECK_STR(json_string_value(json_object_get(claims, "sub")), "e738g7numf03");
        CHECK_STR(json_string_value(json_object_get(claims, "username")), "alice");
        json_decref(claims);
        return;
    }
    if (r != -LOGTO_E_TOKEN || (word && !strstr(err.message, word)))
        fprintf(stderr, "case %s: r=%d message \"%s\", expected %s with \"%s\"\n", name, r,
                err.message, expect, word ? word : "");
    CHECK_INT(r, -LOGTO_E_TOKEN);
    CHECK_STR(logto_errc_name(err.code), expect);
    if (word)
        CHECK_CONTAINS(err.message, word);
    CHECK(claims == NULL);
    check_message_leaks_nothing(token, err.message);
}

static void test_vectors(void)
{
    json_t *c;
    size_t i, n_ok = 0, n_bad = 0;

    if (!vectors)
        load_vectors();
    json_array_foreach(json_object_get(vectors, "cases"), i, c)
    {
        run_case(c);
        if (strcmp(json_string_value(json_object_get(c, "expect")), "ok") == 0)
            n_ok++;
        else
            n_bad++;
    }
    /* The file really holds both kinds (a truncated file must not pass). */
    CHECK(n_ok >= 15);
    CHECK(n_bad >= 60);
}

/* Every algorithm the allow-list accepts has a passing vector, and fails once tampered with. */
static void test_each_alg_detects_tampering(void)
{
    static const char *const names[] = { "es256", "es384", "es512", "rs256", "ps256" };
    struct logto_jwt_expect x = expect_from_vectors(NULL);

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        char *t = strdup(token_of(names[i]));
        char *sig = strrchr(t, '.') + 1;
        struct logto_error err = { 0 };
        json_t *claims = NULL;

        CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), 0);
        json_decref(claims);
        claims = NULL;
        /* Change one signature character (keeping it canonical base64url). */
        sig[4] = sig[4] == 'A' ? 'B' : 'A';
        CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
        CHECK_CONTAINS(err.message, "signature does not verify");
        free(t);
    }
}

static void test_clock_and_expectations(void)
{
    const char *t = token_of("es384");
    struct logto_jwt_expect x = expect_from_vectors(NULL);
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    int64_t now = x.now;

    x.now = now + 3600 + 60; /* exp + leeway: still accepted */
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), 0);
    json_decref(claims);
    claims = NULL;
    x.now = now + 3600 + 61;
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "expired");
    x.now = now - 10 - 61; /* before iat - leeway */
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "iat");
    x.now = now;
    x.client_id = "native-app";
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "aud");
    x = expect_from_vectors(NULL);
    x.issuer = "https://auth.example.com";
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "iss");
    x = expect_from_vectors(NULL);
    x.nonce = "expected-nonce";
    CHECK_INT(logto_jwt_verify(t, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "nonce");
    CHECK(claims == NULL);
}

static void test_peek(void)
{
    struct logto_error err = { 0 };
    char *alg = NULL, *kid = NULL;
    const json_t *kids = json_object_get(vectors, "kids");

    CHECK_INT(logto_jwt_peek(token_of("es384"), &alg, &kid, &err), 0);
    CHECK_STR(alg, "ES384");
    CHECK_STR(kid, json_string_value(json_object_get(kids, "ec384")));
    CHECK(logto_jwks_has_kid(jwks, kid));
    free(alg);
    free(kid);
    CHECK_INT(logto_jwt_peek(token_of("no-kid-single-candidate"), &alg, &kid, &err), 0);
    CHECK_STR(alg, "ES384");
    CHECK(kid == NULL);
    free(alg);
    alg = NULL;
    CHECK_INT(logto_jwt_peek(token_of("unknown-kid"), &alg, &kid, &err), 0);
    CHECK(!logto_jwks_has_kid(jwks, kid));
    free(alg);
    free(kid);
    alg = kid = NULL;
    CHECK_INT(logto_jwt_peek(token_of("alg-none"), &alg, &kid, &err), -LOGTO_E_TOKEN);
    CHECK_INT(logto_jwt_peek(token_of("two-segments"), &alg, &kid, &err), -LOGTO_E_TOKEN);
    CHECK(alg == NULL && kid == NULL);
}

/* The unverified iat, for the JWKS refetch decision only. */
static void test_peek_iat(void)
{
    struct logto_error err = { 0 };
    int64_t iat = -1;

    CHECK_INT(logto_jwt_peek_iat(token_of("unknown-kid"), &iat, &err), 0);
    CHECK(iat == 1799999990);
    CHECK_INT(logto_jwt_peek_iat(token_of("iat-future"), &iat, &err), 0);
    CHECK(iat == 1800000120);
    /* No payload to read: an error, and iat 0. */
    CHECK_INT(logto_jwt_peek_iat(token_of("two-segments"), &iat, &err), -LOGTO_E_TOKEN);
    CHECK(iat == 0);
    CHECK_INT(logto_jwt_peek_iat("e30.bm90IGpzb24.c2ln", &iat, &err), -LOGTO_E_TOKEN);
    CHECK_INT(logto_jwt_peek_iat("e30.eyJpYXQiOiJub3cifQ.c2ln", &iat, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "iat");
    CHECK_INT(logto_jwt_peek_iat("e30.e30.c2ln", &iat, &err), 0);
    CHECK(iat == 0);
}

static int jwks_from(const char *text, struct logto_jwks **ret, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = json_loads(text, 0, NULL);
    return logto_jwks_parse(doc, ret, err);
}

static void test_jwks_shapes(void)
{
    struct logto_error err = { 0 };
    struct logto_jwks *k = NULL;
    char text[128 * LOGTO_JWKS_MAX_KEYS];
    size_t len;

    CHECK_INT(jwks_from("{}", &k, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "keys");
    CHECK_INT(jwks_from("{\"keys\":{}}", &k, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(jwks_from("{\"keys\":[1]}", &k, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(jwks_from("[]", &k, &err), -LOGTO_E_PROTOCOL);
    CHECK(k == NULL);

    len = (size_t)snprintf(text, sizeof(text), "{\"keys\":[");
    for (int i = 0; i <= LOGTO_JWKS_MAX_KEYS; i++)
        len +=
            (size_t)snprintf(text + len, sizeof(text) - len, "%s{\"kty\":\"oct\"}", i ? "," : "");
    snprintf(text + len, sizeof(text) - len, "]}");
    CHECK_INT(jwks_from(text, &k, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "more than");

    /* Symmetric, OKP and encryption keys are left out; an empty set is still a JWKS. */
    CHECK_INT(jwks_from("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"a\"},"
                        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\",\"kid\":\"b\"}]}",
                        &k, &err),
              0);
    CHECK_INT(logto_jwks_size(k), 0);
    CHECK(!logto_jwks_has_kid(k, "a"));
    logto_jwks_free(k);
    k = NULL;
}

static void test_jwks_unusable_entries(void)
{
    struct logto_jwt_expect x = expect_from_vectors(NULL);
    const char *kid384 =
        json_string_value(json_object_get(json_object_get(vectors, "kids"), "ec384"));
    struct logto_error err = { 0 };
    struct logto_jwks *k = NULL;
    json_t *claims = NULL;
    char text[512];

    /* The real key's kid, but x is not base64url: kept, and the error says why. */
    snprintf(text, sizeof(text),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"%s\",\"x\":\"a+b/\","
             "\"y\":\"AAAA\"}]}",
             kid384);
    CHECK_INT(jwks_from(text, &k, &err), 0);
    CHECK_INT(logto_jwks_size(k), 1);
    CHECK_INT(logto_jwt_verify(token_of("es384"), k, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "unusable");
    CHECK_CONTAINS(err.message, "base64url");
    logto_jwks_free(k);
    k = NULL;

    /* Right lengths, but not a point on P-384. */
    snprintf(text, sizeof(text),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"%s\",\"x\":\"%.64s\","
             "\"y\":\"%.64s\"}]}",
             kid384, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wAAAA",
             "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wAAAA");
    CHECK_INT(jwks_from(text, &k, &err), 0);
    CHECK_INT(logto_jwt_verify(token_of("es384"), k, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "unusable");
    logto_jwks_free(k);
    k = NULL;
    CHECK(claims == NULL);
}

static void test_jwks_private_members_ignored(void)
{
    struct logto_jwt_expect x = expect_from_vectors(NULL);
    json_t *doc = json_deep_copy(json_object_get(vectors, "jwks"));
    struct logto_error err = { 0 };
    struct logto_jwks *k = NULL;
    json_t *entry, *claims = NULL;
    size_t i;

    /* A bogus "d" must not make cjose derive a different public key. */
    json_array_foreach(json_object_get(doc, "keys"), i,
                       entry) if (strcmp(json_string_value(json_object_get(entry, "kty")), "EC") ==
                                  0)
        json_object_set_new(entry, "d",
                            json_string("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRob"
                                        "HB0eHyAhIiMkJSYnKCkqKywtLi8w"));
    CHECK_INT(logto_jwks_parse(doc, &k, &err), 0);
    CHECK_INT(logto_jwt_verify(token_of("es384"), k, &x, &claims, &err), 0);
    json_decref(claims);
    logto_jwks_free(k);
    json_decref(doc);
}

/* A P-256 key whose x begins with a zero byte, as Glewlwyd 2.7 publishes it: x without that
 * byte (31 bytes). The token, signed here by cjose with the private key, verifies; a coordinate
 * longer than the curve's or empty is still refused. */
#define SHORT_X_D        "sZyRFpogGtuGHk1r-FOb0C20WKVVPMlfnWdOXAv_HzM"
#define SHORT_X_FULL     "ALqJmw9_gbZxth8a-BNvYu-QSANYw7KZpg9RpiZFPK4"
#define SHORT_X_STRIPPED "uombD3-BtnG2Hxr4E29i75BIA1jDspmmD1GmJkU8rg"
#define SHORT_X_LONG     "AAC6iZsPf4G2cbYfGvgTb2LvkEgDWMOymaYPUaYmRTyu"
#define SHORT_X_Y        "UOQmm886ccC9MDMEmlo73FCly1eJjlc0fjxLlnl-d0k"

static char *sign_es256(const char *x, const char *claims)
{
    char jwk[512];
    cjose_err cerr;
    cjose_jwk_t *key;
    cjose_header_t *hdr;
    cjose_jws_t *jws;
    const char *compact = NULL;
    char *token;

    snprintf(jwk, sizeof(jwk),
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}", x,
             SHORT_X_Y, SHORT_X_D);
    key = cjose_jwk_import(jwk, strlen(jwk), &cerr);
    CHECK(key != NULL);
    hdr = cjose_header_new(&cerr);
    CHECK(hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &cerr) &&
          cjose_header_set(hdr, CJOSE_HDR_KID, "short", &cerr));
    jws = cjose_jws_sign(key, hdr, (const uint8_t *)claims, strlen(claims), &cerr);
    CHECK(jws && cjose_jws_export(jws, &compact, &cerr));
    token = strdup(compact);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    cjose_jwk_release(key);
    return token;
}

static int short_x_verify(const char *token, const char *x, struct logto_error *err)
{
    struct logto_jwt_expect expect = expect_from_vectors(NULL);
    struct logto_jwks *k = NULL;
    json_t *claims = NULL;
    char text[512];
    int r;

    snprintf(text, sizeof(text),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"short\",\"use\":\"sig\","
             "\"x\":\"%s\",\"y\":\"%s\"}]}",
             x, SHORT_X_Y);
    CHECK_INT(jwks_from(text, &k, err), 0);
    r = logto_jwt_verify(token, k, &expect, &claims, err);
    if (r == 0)
        CHECK_STR(json_string_value(json_object_get(claims, "sub")), "short-x");
    json_decref(claims);
    logto_jwks_free(k);
    return r;
}

static void test_jwks_short_ec_coordinate(void)
{
    struct logto_jwt_expect x = expect_from_vectors(NULL);
    struct logto_error err = { 0 };
    char claims[512], *token;

    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"sub\":\"short-x\",\"aud\":\"%s\",\"exp\":%lld,\"iat\":%lld}",
             x.issuer, x.client_id, (long long)x.now + 3600, (long long)x.now - 10);
    token = sign_es256(SHORT_X_FULL, claims);
    CHECK_INT(short_x_verify(token, SHORT_X_FULL, &err), 0);
    CHECK_INT(short_x_verify(token, SHORT_X_STRIPPED, &err), 0);
    CHECK_INT(short_x_verify(token, SHORT_X_LONG, &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "wrong length");
    CHECK_INT(short_x_verify(token, "", &err), -LOGTO_E_TOKEN);
    CHECK_CONTAINS(err.message, "unusable");
    free(token);
}

static void test_invalid_arguments(void)
{
    struct logto_jwt_expect x = { 0 };
    struct logto_error err = { 0 };
    json_t *claims = NULL;

    CHECK_INT(logto_jwt_verify(token_of("es384"), jwks, &x, &claims, &err), -LOGTO_E_INVAL);
    x = expect_from_vectors(NULL);
    CHECK_INT(logto_jwt_verify(NULL, jwks, &x, &claims, &err), -LOGTO_E_TOKEN);
    CHECK_INT(logto_jwt_verify(token_of("es384"), NULL, &x, &claims, &err), -LOGTO_E_INVAL);
}

static void test_done(void)
{
    logto_jwks_free(jwks);
    json_decref(vectors);
}

/* Vectors are loaded on first use, so any single case can run on its own. */
TEST_MAIN(TEST(test_vectors), TEST(test_each_alg_detects_tampering),
          TEST(test_clock_and_expectations), TEST(test_peek), TEST(test_peek_iat),
          TEST(test_jwks_shapes), TEST(test_jwks_unusable_entries),
          TEST(test_jwks_private_members_ignored), TEST(test_jwks_short_ec_coordinate),
          TEST(test_invalid_arguments), TEST(test_done))
