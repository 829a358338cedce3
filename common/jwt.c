/* SPDX-License-Identifier: MIT */
/* JWKS parsing and ID-token verification: our checks around libcjose's signature check. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <cjose/cjose.h>

#include "json.h"
#include "jwt.h"
#include "log.h"
#include "memory.h"
#include "pkce.h"
#include "util.h"

#define HEADER_B64_MAX   4096 /* a protected header is a few dozen bytes */
#define HEADER_MAX_DEPTH 4
#define KID_MAX          256

enum kty { KTY_EC, KTY_RSA };

struct alg_info {
    const char *name;
    enum kty kty;
    const char *crv;   /* EC: the one curve this alg allows */
    size_t ec_sig_len; /* EC: raw R||S length */
};

/* The allow-list. Anything else (none, HS*, EdDSA, RS384, ...) never reaches cjose. */
static const struct alg_info allowed_algs[] = {
    { "ES256", KTY_EC, "P-256", 64 },  { "ES384", KTY_EC, "P-384", 96 },
    { "ES512", KTY_EC, "P-521", 132 }, { "RS256", KTY_RSA, NULL, 0 },
    { "PS256", KTY_RSA, NULL, 0 },
};

#define RSA_MIN_BITS 2048

struct jwk {
    char *kid; /* NULL when the entry has none */
    char *alg; /* the entry's "alg", or NULL */
    enum kty kty;
    char crv[8];      /* EC */
    unsigned bits;    /* RSA modulus size */
    cjose_jwk_t *key; /* NULL: unusable, see why */
    const char *why;
};

struct logto_jwks {
    struct jwk *keys;
    size_t n;
};

/* ------------------------------------------------------------------ strict base64url */

/*
 * Decode base64url without padding (RFC 7515 2). Refused: other characters (padding, '+', '/',
 * whitespace), a length that leaves 6 stray bits, and unused bits that are not zero, so every
 * byte string has exactly one accepted encoding. The result is NUL-terminated.
 */
static int b64u_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len)
{
    unsigned char *out;
    uint32_t acc = 0;
    size_t n = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    out = malloc(len / 4 * 3 + 3);
    if (!out)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = logto_base64_value(in[i], '-', '_');
        if (v < 0) {
            logto_freezero(out, len / 4 * 3 + 3);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) { /* non-zero unused bits */
        logto_freezero(out, len / 4 * 3 + 3);
        return -1;
    }
    out[n] = '\0';
    *ret = out;
    *ret_len = n;
    return 0;
}

/* ------------------------------------------------------------------ JWKS */

static const struct alg_info *alg_lookup(const char *name)
{
    for (size_t i = 0; name && i < ELEMENTSOF(allowed_algs); i++)
        if (strcmp(allowed_algs[i].name, name) == 0)
            return &allowed_algs[i];
    return NULL;
}

static size_t ec_coordinate_len(const char *crv)
{
    return strcmp(crv, "P-256") == 0   ? 32
           : strcmp(crv, "P-384") == 0 ? 48
           : strcmp(crv, "P-521") == 0 ? 66
                                       : 0;
}

/* Decode a base64url member of a JWK; its byte length goes to *ret_len. */
static int jwk_member(const json_t *entry, const char *name, size_t *ret_len, unsigned char **ret)
{
    const char *s = json_string_value(json_object_get(entry, name));

    if (!s || b64u_decode(s, strlen(s), ret, ret_len) < 0)
        return -1;
    return 0;
}

/* Modulus size in bits, leading zero bits not counted. */
static unsigned rsa_bits(const unsigned char *n, size_t len)
{
    size_t i = 0;
    unsigned bits;

    while (i < len && n[i] == 0)
        i++;
    if (i == len)
        return 0;
    bits = (unsigned)(len - i) * 8;
    for (unsigned char top = n[i]; !(top & 0x80); top <<= 1)
        bits--;
    return bits;
}

/* A public-only JWK for cjose: private members in the JWKS (there should be none) are dropped,
 * so cjose never derives the public key from a private one. Missing members stay missing (the
 * checks that follow name them). */
static json_t *public_jwk(const json_t *entry, enum kty kty)
{
    static const char *const ec_members[] = { "kty", "crv", "x", "y" };
    static const char *const rsa_members[] = { "kty", "n", "e" };
    const char *const *names = kty == KTY_EC ? ec_members : rsa_members;
    size_t n = kty == KTY_EC ? ELEMENTSOF(ec_members) : ELEMENTSOF(rsa_members);
    json_t *pub = json_object();

    for (size_t i = 0; pub && i < n; i++) {
        json_t *v = json_object_get(entry, names[i]);

        if (v && json_object_set(pub, names[i], v) < 0) {
            json_decref(pub);
            return NULL;
        }
    }
    return pub;
}

/* Replace a base64url coordinate that is shorter than the curve's by its left-padded form.
 * Returns 0, or < 0 on OOM. */
static int ec_pad_member(json_t *pub, const char *name, const unsigned char *v, size_t len,
                         size_t want)
{
    _cleanup_free_ unsigned char *full = calloc(1, want);
    _cleanup_free_ char *s = NULL;

    if (!full)
        return -1;
    memcpy(full + (want - len), v, len);
    s = logto_base64url_encode(full, want);
    if (!s || json_object_set_new(pub, name, json_string(s)) < 0)
        return -1;
    return 0;
}

/* RFC 7518 6.2.1.2 wants x and y at the curve's full length; some providers (Glewlwyd 2.7)
 * drop leading zero bytes, one key in 128. A shorter coordinate is the same number, so it is
 * padded here (cjose wants the full length); a longer one is refused. *oom is set on OOM. */
static const char *check_ec_members(json_t *pub, struct jwk *k, bool *oom)
{
    _cleanup_free_ unsigned char *x = NULL, *y = NULL;
    const char *crv = json_string_value(json_object_get(pub, "crv"));
    size_t xlen = 0, ylen = 0, want;

    want = crv ? ec_coordinate_len(crv) : 0;
    if (!want)
        return "unsupported or missing curve";
    snprintf(k->crv, sizeof(k->crv), "%s", crv);
    if (jwk_member(pub, "x", &xlen, &x) < 0 || jwk_member(pub, "y", &ylen, &y) < 0)
        return "x or y is missing or not base64url";
    if (xlen == 0 || ylen == 0 || xlen > want || ylen > want)
        return "x or y has the wrong length for the curve";
    if ((xlen < want && ec_pad_member(pub, "x", x, xlen, want) < 0) ||
        (ylen < want && ec_pad_member(pub, "y", y, ylen, want) < 0))
        *oom = true;
    return NULL;
}

static const char *check_rsa_members(const json_t *pub, struct jwk *k)
{
    _cleanup_free_ unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;

    if (jwk_member(pub, "n", &nlen, &n) < 0 || jwk_member(pub, "e", &elen, &e) < 0)
        return "n or e is missing or not base64url";
    if (elen == 0 || elen > 8 || !(e[elen - 1] & 1))
        return "the exponent is not a small odd number";
    k->bits = rsa_bits(n, nlen);
    if (k->bits < 512 || k->bits > 16384)
        return "the modulus size is implausible";
    return NULL;
}

/* Fill k from one JWKS entry. Returns 1 if the entry is kept, 0 if skipped, < 0 on OOM. */
static int jwk_load(const json_t *entry, struct jwk *k)
{
    const char *kty = json_string_value(json_object_get(entry, "kty"));
    const char *use = json_string_value(json_object_get(entry, "use"));
    const char *kid = json_string_value(json_object_get(entry, "kid"));
    const char *alg = json_string_value(json_object_get(entry, "alg"));
    _cleanup_json_ json_t *pub = NULL;
    cjose_err cerr;
    bool oom = false;

    if (!kty || (strcmp(kty, "EC") != 0 && strcmp(kty, "RSA") != 0))
        return 0; /* OKP, oct, ...: never usable with our algorithms */
    if (json_object_get(entry, "use") && (!use || strcmp(use, "sig") != 0))
        return 0; /* an encryption key */
    k->kty = strcmp(kty, "EC") == 0 ? KTY_EC : KTY_RSA;
    if ((kid && !(k->kid = strdup(kid))) || (alg && !(k->alg = strdup(alg))))
        return -1;
    if (json_object_get(entry, "kid") && (!kid || strlen(kid) > KID_MAX))
        k->why = "kid is not a string of at most 256 characters";
    else if (json_object_get(entry, "alg") && !alg)
        k->why = "alg is not a string";
    if (k->why)
        return 1;
    pub = public_jwk(entry, k->kty);
    if (!pub)
        return -1;
    k->why = k->kty == KTY_EC ? check_ec_members(pub, k, &oom) : check_rsa_members(pub, k);
    if (oom)
        return -1;
    if (k->why)
        return 1;
    k->key = cjose_jwk_import_json((cjose_header_t *)pub, &cerr);
    if (!k->key)
        k->why = "the key is invalid (not a point on the curve, or cjose refused it)";
    return 1;
}

int logto_jwks_parse(const struct json_t *doc, struct logto_jwks **ret, struct logto_error *err)
{
    struct logto_jwks *jwks;
    json_t *keys = NULL, *entry;
    size_t i;
    int r;

    r = logto_json_get_array(doc, "keys", LOGTO_JSON_REQUIRED, &keys, err);
    if (r < 0)
        return r;
    if (json_array_size(keys) > LOGTO_JWKS_MAX_KEYS)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the JWKS has more than %d keys",
                               LOGTO_JWKS_MAX_KEYS);
    jwks = calloc(1, sizeof(*jwks));
    if (jwks)
        jwks->keys = calloc(json_array_size(keys) + 1, sizeof(struct jwk));
    if (!jwks || !jwks->keys) {
        logto_jwks_free(jwks);
        return LOGTO_OOM(err);
    }
    json_array_foreach(keys, i, entry)
    {
        if (!json_is_object(entry)) {
            logto_jwks_free(jwks);
            return logto_error_set(err, LOGTO_E_PROTOCOL, "JWKS key %zu is not an object", i);
        }
        r = jwk_load(entry, &jwks->keys[jwks->n]);
        if (r < 0) {
            jwks->n++; /* free what was loaded */
            logto_jwks_free(jwks);
            return LOGTO_OOM(err);
        }
        jwks->n += (size_t)r;
    }
    *ret = jwks;
    return 0;
}

void logto_jwks_free(struct logto_jwks *jwks)
{
    if (!jwks)
        return;
    for (size_t i = 0; i < jwks->n; i++) {
        free(jwks->keys[i].kid);
        free(jwks->keys[i].alg);
        if (jwks->keys[i].key)
            cjose_jwk_release(jwks->keys[i].key);
    }
    free(jwks->keys);
    free(jwks);
}

size_t logto_jwks_size(const struct logto_jwks *jwks)
{
    return jwks ? jwks->n : 0;
}

bool logto_jwks_has_kid(const struct logto_jwks *jwks, const char *kid)
{
    for (size_t i = 0; jwks && kid && i < jwks->n; i++)
        if (jwks->keys[i].kid && strcmp(jwks->keys[i].kid, kid) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ token structure */

/* A compact JWS cut into its three segments (pointers into the token). */
struct segments {
    const char *part[3];
    size_t len[3];
};

/* A value from the token, made safe and short for an error message. */
static const char *shown(char *buf, size_t n, const char *s)
{
    return logto_log_sanitize(buf, n, s ? s : "(none)");
}

static int token_fail(struct logto_error *err, int r)
{
    /* Parse helpers report PROTOCOL; inside a token it is a token error. */
    if (err && r < 0)
        err->code = LOGTO_E_TOKEN;
    return -LOGTO_E_TOKEN;
}

static int split_token(const char *token, struct segments *s, struct logto_error *err)
{
    size_t len = token ? strlen(token) : 0, dots = 0;
    const char *start;

    if (len > LOGTO_JWT_MAX_LEN)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token is too large (%zu bytes, limit %d)",
                               len, LOGTO_JWT_MAX_LEN);
    for (size_t i = 0; i < len; i++)
        dots += token[i] == '.';
    if (dots != 2)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token has %zu segments, not 3", dots + 1);
    start = token;
    for (int i = 0; i < 3; i++) {
        const char *dot = strchr(start, '.');
        size_t n = dot ? (size_t)(dot - start) : strlen(start);
        s->part[i] = start;
        s->len[i] = n;
        start += n + 1;
    }
    return 0;
}

static int decode_segment(const struct segments *s, int i, const char *what, unsigned char **ret,
                          size_t *ret_len, struct logto_error *err)
{
    if (s->len[i] == 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token %s is empty", what);
    if (b64u_decode(s->part[i], s->len[i], ret, ret_len) < 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token %s is not strict base64url", what);
    return 0;
}

static int parse_header(const struct segments *s, json_t **ret, struct logto_error *err)
{
    _cleanup_free_ unsigned char *raw = NULL;
    size_t len = 0;
    int r;

    if (s->len[0] > HEADER_B64_MAX)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token header is too large (%zu bytes)",
                               s->len[0]);
    r = decode_segment(s, 0, "header", &raw, &len, err);
    if (r < 0)
        return r;
    r = logto_json_parse_object((const char *)raw, len, HEADER_B64_MAX, HEADER_MAX_DEPTH,
                                "the token header", ret, err);
    return r < 0 ? token_fail(err, r) : 0;
}

/* The typ values that mark a JWT access token (RFC 9068), never an ID token. */
static bool typ_is_access_token(const char *typ)
{
    return typ && (logto_ascii_strcasecmp(typ, "at+jwt") == 0 ||
                   logto_ascii_strcasecmp(typ, "application/at+jwt") == 0);
}

/* alg (allow-listed) and kid (may be NULL) of a parsed header, borrowed from it. */
static int check_header(const json_t *header, const struct alg_info **ret_alg, const char **ret_kid,
                        struct logto_error *err)
{
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    const char *typ = json_string_value(json_object_get(header, "typ"));
    char buf[32];

    if (!alg)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token header has no alg string");
    *ret_alg = alg_lookup(alg);
    if (!*ret_alg)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token alg %s is not allowed",
                               shown(buf, sizeof(buf), alg));
    if (json_object_get(header, "crit"))
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token header has crit extensions, which are not supported");
    if (typ_is_access_token(typ))
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token has typ at+jwt: an access token is not an ID token");
    if (json_object_get(header, "kid") && (!kid || strlen(kid) > KID_MAX))
        return logto_error_set(err, LOGTO_E_TOKEN, "the token kid is not a short string");
    *ret_kid = kid;
    return 0;
}

int logto_jwt_peek(const char *token, char **ret_alg, char **ret_kid, struct logto_error *err)
{
    _cleanup_json_ json_t *header = NULL;
    const struct alg_info *alg;
    const char *kid = NULL;
    struct segments s = { 0 };
    int r;

    r = split_token(token, &s, err);
    if (r >= 0)
        r = parse_header(&s, &header, err);
    if (r >= 0)
        r = check_header(header, &alg, &kid, err);
    if (r < 0)
        return r;
    *ret_alg = strdup(alg->name);
    *ret_kid = kid ? strdup(kid) : NULL;
    if (!*ret_alg || (kid && !*ret_kid)) {
        free(*ret_alg);
        free(*ret_kid);
        return LOGTO_OOM(err);
    }
    return 0;
}

/* ------------------------------------------------------------------ key selection */

static bool key_fits(const struct jwk *k, const struct alg_info *alg)
{
    if (!k->key || k->kty != alg->kty || (k->alg && strcmp(k->alg, alg->name) != 0))
        return false;
    return alg->kty == KTY_EC ? strcmp(k->crv, alg->crv) == 0 : k->bits >= RSA_MIN_BITS;
}

/* Why k cannot verify alg, as an error. */
static int key_mismatch(const struct jwk *k, const struct alg_info *alg, struct logto_error *err)
{
    char kid[64];

    shown(kid, sizeof(kid), k->kid);
    if (!k->key)
        return logto_error_set(err, LOGTO_E_TOKEN, "JWKS key kid=%s is unusable: %s", kid, k->why);
    if (k->kty != alg->kty)
        return logto_error_set(
            err, LOGTO_E_TOKEN, "alg %s needs an %s key, but key kid=%s is an %s key", alg->name,
            alg->kty == KTY_EC ? "EC" : "RSA", kid, k->kty == KTY_EC ? "EC" : "RSA");
    if (k->alg && strcmp(k->alg, alg->name) != 0) {
        char kalg[32];
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "key kid=%s is published for alg %s, but the token says alg %s", kid,
                               shown(kalg, sizeof(kalg), k->alg), alg->name);
    }
    if (alg->kty == KTY_EC)
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "alg %s needs curve %s, but key kid=%s is on curve %s", alg->name,
                               alg->crv, kid, k->crv);
    return logto_error_set(err, LOGTO_E_TOKEN,
                           "key kid=%s is a %u-bit RSA key; alg %s needs at least %d bits", kid,
                           k->bits, alg->name, RSA_MIN_BITS);
}

static int select_by_kid(const struct logto_jwks *jwks, const struct alg_info *alg, const char *kid,
                         const struct jwk **ret, struct logto_error *err)
{
    const struct jwk *first = NULL;
    char buf[64];

    for (size_t i = 0; i < jwks->n; i++) {
        const struct jwk *k = &jwks->keys[i];
        if (!k->kid || strcmp(k->kid, kid) != 0)
            continue;
        if (key_fits(k, alg)) {
            *ret = k;
            return 0;
        }
        if (!first)
            first = k;
    }
    if (first)
        return key_mismatch(first, alg, err);
    return logto_error_set(err, LOGTO_E_TOKEN, "no key with kid=%s in the JWKS (alg %s)",
                           shown(buf, sizeof(buf), kid), alg->name);
}

/* Without a kid, the token may only use the one key that fits its alg. */
static int select_only_fit(const struct logto_jwks *jwks, const struct alg_info *alg,
                           const struct jwk **ret, struct logto_error *err)
{
    size_t fits = 0;

    for (size_t i = 0; i < jwks->n; i++)
        if (key_fits(&jwks->keys[i], alg)) {
            *ret = &jwks->keys[i];
            fits++;
        }
    if (fits != 1)
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token has no kid and the JWKS has %zu keys for alg %s", fits,
                               alg->name);
    return 0;
}

/* ------------------------------------------------------------------ signature */

static void cjose_jws_releasep(cjose_jws_t **jws)
{
    if (*jws)
        cjose_jws_release(*jws);
}

static int verify_signature(const char *token, const struct segments *s, const struct alg_info *alg,
                            const struct jwk *key, struct logto_error *err)
{
    _cleanup_(cjose_jws_releasep) cjose_jws_t *jws = NULL;
    _cleanup_free_ unsigned char *sig = NULL;
    size_t sig_len = 0, want;
    char kid[64];
    cjose_err cerr;
    int r;

    shown(kid, sizeof(kid), key->kid);
    r = decode_segment(s, 2, "signature", &sig, &sig_len, err);
    if (r < 0)
        return r;
    /* cjose splits an EC signature in halves whatever its length: check it here. */
    want = alg->kty == KTY_EC ? alg->ec_sig_len : (key->bits + 7) / 8;
    if (sig_len != want)
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token signature has %zu bytes, alg %s with key kid=%s needs "
                               "%zu",
                               sig_len, alg->name, kid, want);
    jws = cjose_jws_import(token, strlen(token), &cerr);
    if (!jws)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token could not be read as a JWS");
    if (!cjose_jws_verify(jws, key->key, &cerr))
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token signature does not verify (alg %s, kid=%s)", alg->name,
                               kid);
    return 0;
}

/* ------------------------------------------------------------------ claims */

/* A NumericDate claim as whole seconds. Returns 1 if present, 0 if absent, < 0 if bad. */
static int numeric_date(const json_t *claims, const char *name, int64_t *ret,
                        struct logto_error *err)
{
    json_t *v = json_object_get(claims, name);
    double d;

    if (!v)
        return 0;
    d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 9007199254740991.0)
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"%s\" is not a valid NumericDate", name);
    *ret = (int64_t)d; /* d >= 0: truncation is floor */
    return 1;
}

static int required_date(const json_t *claims, const char *name, int64_t *ret,
                         struct logto_error *err)
{
    int r = numeric_date(claims, name, ret, err);
    if (r == 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"%s\" is missing", name);
    return r < 0 ? r : 0;
}

static int check_times(const json_t *claims, const struct logto_jwt_expect *x,
                       struct logto_error *err)
{
    int64_t exp = 0, iat = 0, nbf = 0;
    int r;

    if ((r = required_date(claims, "exp", &exp, err)) < 0 ||
        (r = required_date(claims, "iat", &iat, err)) < 0 ||
        (r = numeric_date(claims, "nbf", &nbf, err)) < 0)
        return r;
    if (x->now > exp + x->leeway)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token expired at %lld (now %lld)",
                               (long long)exp, (long long)x->now);
    if (iat > x->now + x->leeway)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token iat %lld is in the future (now %lld)",
                               (long long)iat, (long long)x->now);
    if (r == 1 && nbf > x->now + x->leeway)
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the token is not valid before nbf %lld (now "
                               "%lld)",
                               (long long)nbf, (long long)x->now);
    return 0;
}

static int required_string(const json_t *claims, const char *name, const char **ret,
                           struct logto_error *err)
{
    json_t *v = json_object_get(claims, name);

    if (!v)
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"%s\" is missing", name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"%s\" is not a non-empty string", name);
    *ret = json_string_value(v);
    return 0;
}

/* aud is the client or contains it; several audiences need azp = client (OIDC Core 3.1.3.7). */
static int check_audience(const json_t *claims, const char *client_id, struct logto_error *err)
{
    json_t *aud = json_object_get(claims, "aud"), *azp = json_object_get(claims, "azp"), *item;
    bool found = false;
    size_t i;

    if (!aud)
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"aud\" is missing");
    if (json_is_string(aud)) {
        found = strcmp(json_string_value(aud), client_id) == 0;
    } else if (json_is_array(aud)) {
        json_array_foreach(aud, i, item)
        {
            if (!json_is_string(item))
                return logto_error_set(err, LOGTO_E_TOKEN, "claim \"aud\" holds a non-string");
            found = found || strcmp(json_string_value(item), client_id) == 0;
        }
    } else {
        return logto_error_set(err, LOGTO_E_TOKEN, "claim \"aud\" is not a string or array");
    }
    if (!found)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token aud does not name client_id %s",
                               client_id);
    if (json_is_array(aud) && json_array_size(aud) > 1 && !azp)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token has several aud values but no azp");
    if (azp && (!json_is_string(azp) || strcmp(json_string_value(azp), client_id) != 0))
        return logto_error_set(err, LOGTO_E_TOKEN, "the token azp is not client_id %s", client_id);
    return 0;
}

static int check_nonce(const json_t *claims, const char *expected, struct logto_error *err)
{
    json_t *v = json_object_get(claims, "nonce");
    size_t n = strlen(expected);

    if (!json_is_string(v) || json_string_length(v) != n ||
        !logto_memeq_consttime(json_string_value(v), expected, n))
        return logto_error_set(err, LOGTO_E_TOKEN, "the token nonce does not match");
    return 0;
}

static int check_claims(const json_t *claims, const struct logto_jwt_expect *x,
                        struct logto_error *err)
{
    const char *iss = NULL, *sub = NULL;
    char got[128], want[128];
    int r;

    if ((r = required_string(claims, "iss", &iss, err)) < 0)
        return r;
    if (strcmp(iss, x->issuer) != 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "the token iss %s is not the issuer %s",
                               shown(got, sizeof(got), iss), shown(want, sizeof(want), x->issuer));
    if ((r = required_string(claims, "sub", &sub, err)) < 0 ||
        (r = check_audience(claims, x->client_id, err)) < 0 ||
        (r = check_times(claims, x, err)) < 0)
        return r;
    return x->nonce ? check_nonce(claims, x->nonce, err) : 0;
}

/* ------------------------------------------------------------------ verification */

struct bytes {
    unsigned char *p;
    size_t n;
};

static void bytes_wipe(struct bytes *b)
{
    if (b->p)
        logto_freezero(b->p, b->n + 1);
    *b = (struct bytes){ 0 };
}

static int parse_payload(const struct bytes *raw, json_t **ret, struct logto_error *err)
{
    int r = logto_json_parse_object((const char *)raw->p, raw->n, LOGTO_JWT_MAX_LEN,
                                    LOGTO_JSON_MAX_DEPTH, "the token payload", ret, err);
    return r < 0 ? token_fail(err, r) : 0;
}

int logto_jwt_verify(const char *token, const struct logto_jwks *jwks,
                     const struct logto_jwt_expect *expect, struct json_t **ret_claims,
                     struct logto_error *err)
{
    _cleanup_json_ json_t *header = NULL, *claims = NULL;
    _cleanup_(bytes_wipe) struct bytes payload = { 0 };
    const struct alg_info *alg = NULL;
    const struct jwk *key = NULL;
    const char *kid = NULL;
    struct segments s = { 0 };
    int r;

    if (!jwks || !expect || !expect->issuer || !expect->client_id)
        return logto_error_set(err, LOGTO_E_INVAL, "token verification needs keys, iss and aud");
    /* Shape, strict encoding and the algorithm first: nothing malformed reaches cjose. */
    if ((r = split_token(token, &s, err)) < 0 || (r = parse_header(&s, &header, err)) < 0 ||
        (r = check_header(header, &alg, &kid, err)) < 0 ||
        (r = decode_segment(&s, 1, "payload", &payload.p, &payload.n, err)) < 0)
        return r;
    r = kid ? select_by_kid(jwks, alg, kid, &key, err) : select_only_fit(jwks, alg, &key, err);
    if (r < 0)
        return r;
    /* Only a signed payload is parsed as JSON (logto_jwt_peek_iat aside, which decides only
     * on a JWKS refetch). */
    if ((r = verify_signature(token, &s, alg, key, err)) < 0 ||
        (r = parse_payload(&payload, &claims, err)) < 0 ||
        (r = check_claims(claims, expect, err)) < 0)
        return r;
    *ret_claims = TAKE_PTR(claims);
    return 0;
}

/* The payload's iat, unverified, for one decision only: whether a key set fetched before the
 * token was issued may be fetched again (see oidc.c). Parsed with the limits logto_jwt_verify
 * applies after the signature; nothing else of the payload is looked at or returned. */
int logto_jwt_peek_iat(const char *token, int64_t *ret_iat, struct logto_error *err)
{
    _cleanup_json_ json_t *claims = NULL;
    _cleanup_free_ unsigned char *raw = NULL;
    struct segments s = { 0 };
    size_t len = 0;
    int r;

    *ret_iat = 0;
    r = split_token(token, &s, err);
    if (r >= 0)
        r = decode_segment(&s, 1, "payload", &raw, &len, err);
    if (r >= 0) {
        r = logto_json_parse_object((const char *)raw, len, LOGTO_JWT_MAX_LEN, LOGTO_JSON_MAX_DEPTH,
                                    "the token payload", &claims, err);
        if (r < 0)
            r = token_fail(err, r);
    }
    if (raw)
        logto_erase(raw, len);
    if (r >= 0)
        r = numeric_date(claims, "iat", ret_iat, err);
    return r < 0 ? r : 0;
}
