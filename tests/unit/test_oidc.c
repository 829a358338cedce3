/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/oidc.c without a provider: discovery and JWKS caches written by hand in
 * a temp cache_dir, endpoints on 127.0.0.1:1 (nothing listens there), so a test can tell a
 * cache hit (success) from a network attempt (connection refused). ID tokens come from the
 * known-answer vectors of tests/data/jwt, with the injected clock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../lib/check.h"
#include "fileio.h"
#include "json.h"
#include "jwt.h"
#include "oidc.h"
#include "util.h"

#define NOWHERE       "https://127.0.0.1:1"
#define VECTOR_ISSUER "https://auth.example.com/oidc"

static int64_t fake_now;
static char nowhere[] = NOWHERE, no_dir[] = "/nonexistent/logto/cache";
static char logged[8192];

static int64_t now_fn(void)
{
    return fake_now;
}

static void capture_log(void *data, int priority, const char *line)
{
    size_t len = strlen(logged);
    (void)data;
    (void)priority;
    snprintf(logged + len, sizeof(logged) - len, "%s\n", line);
}

struct fixture {
    char dir[64];
    struct logto_config cfg;
    struct logto_ctx ctx;
    struct logto_http *http;
};

static void fixture_init(struct fixture *f, enum logto_profile profile, const char *issuer)
{
    struct logto_error err = { 0 };

    memset(f, 0, sizeof(*f));
    strcpy(f->dir, "/tmp/logto-oidc-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    chmod(f->dir, 0755);
    f->cfg.profile = profile;
    f->cfg.issuer = (char *)(uintptr_t)issuer;
    f->cfg.cache_dir = f->dir;
    f->cfg.connect_timeout_ms = 2000;
    f->cfg.timeout_ms = 3000;
    f->ctx = (struct logto_ctx){ .cfg = &f->cfg, .now = now_fn, .log = { .fn = capture_log } };
    fake_now = 1800000000;
    logged[0] = '\0';
    CHECK_INT(logto_http_new(&f->ctx, 0, &f->http, &err), 0);
}

static void fixture_done(struct fixture *f)
{
    char cmd[128];

    logto_http_free(f->http);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    CHECK_INT(system(cmd), 0);
}

/* A cache file as oidc.c writes it; refetched > 0 adds the time of an unknown-kid refetch. */
static void write_cache_refetched(struct fixture *f, const char *name, const char *key,
                                  int64_t fetched, int64_t expires, int64_t refetched, json_t *doc,
                                  mode_t mode)
{
    struct logto_error err = { 0 };
    char path[128];
    json_t *file =
        json_pack("{s:i, s:s, s:I, s:I, s:o}", "format", 1, "key", key, "fetched_at",
                  (json_int_t)fetched, "expires_at", (json_int_t)expires, "document", doc);
    char *text;

    if (refetched > 0)
        json_object_set_new(file, "refetched_at", json_integer(refetched));
    text = json_dumps(file, JSON_COMPACT);

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    CHECK_INT(logto_file_write_atomic(path, text, strlen(text), mode, &err), 0);
    chmod(path, mode);
    free(text);
    json_decref(file);
}

static void write_cache(struct fixture *f, const char *name, const char *key, int64_t fetched,
                        int64_t expires, json_t *doc, mode_t mode)
{
    write_cache_refetched(f, name, key, fetched, expires, 0, doc, mode);
}

static json_t *discovery_doc(const char *issuer, const char *base)
{
    char token[256], jwks[256], device[256], userinfo[256];

    snprintf(token, sizeof(token), "%s/oidc/token", base);
    snprintf(jwks, sizeof(jwks), "%s/oidc/jwks", base);
    snprintf(device, sizeof(device), "%s/oidc/device/auth", base);
    snprintf(userinfo, sizeof(userinfo), "%s/oidc/me", base);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s,s]}", "issuer", issuer, "token_endpoint",
                     token, "jwks_uri", jwks, "device_authorization_endpoint", device,
                     "userinfo_endpoint", userinfo, "grant_types_supported", "refresh_token",
                     "urn:ietf:params:oauth:grant-type:device_code");
}

/* ------------------------------------------------------------------ configuration helpers */

static void test_expected_issuer(void)
{
    char endpoint[] = "https://auth.example.com/", issuer[] = "https://given.example/oidc";
    struct logto_config cfg = { .profile = LOGTO_PROFILE_LOGTO, .endpoint = endpoint };
    char *s;

    s = logto_oidc_expected_issuer(&cfg);
    CHECK_STR(s, "https://auth.example.com/oidc");
    free(s);
    cfg.issuer = issuer;
    s = logto_oidc_expected_issuer(&cfg);
    CHECK_STR(s, "https://given.example/oidc");
    free(s);
    cfg = (struct logto_config){ .profile = LOGTO_PROFILE_GENERIC, .endpoint = endpoint };
    CHECK(logto_oidc_expected_issuer(&cfg) == NULL);
    CHECK(logto_oidc_expected_issuer(NULL) == NULL);
}

static void test_scope(void)
{
    char openid[] = "openid", org[] = "urn:logto:scope:organizations", profile[] = "profile";
    char *orgs[] = { openid, org, NULL };
    char *plain[] = { openid, profile, NULL };
    struct logto_config cfg = { .profile = LOGTO_PROFILE_LOGTO, .scopes = orgs };
    char *s = logto_oidc_scope(&cfg);

    CHECK_STR(s, "openid urn:logto:scope:organizations");
    free(s);
    CHECK(logto_oidc_wants_org_resource(&cfg));
    cfg.profile = LOGTO_PROFILE_GENERIC;
    CHECK(!logto_oidc_wants_org_resource(&cfg));
    cfg = (struct logto_config){ .profile = LOGTO_PROFILE_LOGTO, .scopes = plain };
    CHECK(!logto_oidc_wants_org_resource(&cfg));
    cfg.scopes = NULL;
    s = logto_oidc_scope(&cfg);
    CHECK_STR(s, "openid");
    free(s);
}

/* ------------------------------------------------------------------ discovery cache */

static int discover(struct fixture *f, struct logto_oidc **ret, struct logto_error *err)
{
    return logto_oidc_discover(&f->ctx, f->http, ret, err);
}

static void test_discovery_cache_hit(void)
{
    struct fixture f;
    struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };
    const char *issuer = NOWHERE "/oidc";

    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 100, fake_now + 100,
                discovery_doc(issuer, NOWHERE), 0644);
    CHECK_INT(discover(&f, &oidc, &err), 0);
    if (oidc) {
        CHECK_STR(oidc->issuer, issuer);
        CHECK_STR(oidc->token_endpoint, NOWHERE "/oidc/token");
        CHECK_STR(oidc->device_authorization_endpoint, NOWHERE "/oidc/device/auth");
        CHECK(oidc->revocation_endpoint == NULL);
        CHECK(logto_oidc_supports_grant(oidc, "refresh_token"));
        CHECK(!logto_oidc_supports_grant(oidc, "password"));
        CHECK_INT(oidc->expires_at, fake_now + 100);
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

/* Each of these cache files must be passed over: discovery then goes to the network. */
static void expect_refetch(struct fixture *f, const char *log_word)
{
    struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };

    CHECK_INT(discover(f, &oidc, &err), -LOGTO_E_UNREACHABLE);
    CHECK_CONTAINS(err.message, "/.well-known/openid-configuration: connection refused");
    CHECK(oidc == NULL);
    if (log_word)
        CHECK_CONTAINS(logged, log_word);
}

static void test_discovery_cache_misses(void)
{
    const char *issuer = NOWHERE "/oidc";
    struct fixture f;

    /* expired */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 100, fake_now,
                discovery_doc(issuer, NOWHERE), 0644);
    expect_refetch(&f, NULL);
    fixture_done(&f);
    /* fetched "in the future": the clock went back */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now + 10, fake_now + 100,
                discovery_doc(issuer, NOWHERE), 0644);
    expect_refetch(&f, NULL);
    fixture_done(&f);
    /* for another issuer */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, NOWHERE "/other", fake_now - 1, fake_now + 100,
                discovery_doc(NOWHERE "/other", NOWHERE), 0644);
    expect_refetch(&f, NULL);
    fixture_done(&f);
    /* the document inside names another issuer */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 1, fake_now + 100,
                discovery_doc("https://evil.example/oidc", NOWHERE), 0644);
    expect_refetch(&f, "names issuer https://evil.example/oidc");
    fixture_done(&f);
    /* an endpoint that is not https */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 1, fake_now + 100,
                discovery_doc(issuer, "http://127.0.0.1:1"), 0644);
    expect_refetch(&f, "token_endpoint is not an https URL");
    fixture_done(&f);
    /* a file anyone may write */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 1, fake_now + 100,
                discovery_doc(issuer, NOWHERE), 0666);
    expect_refetch(&f, "writable by group or others");
    fixture_done(&f);
    /* garbage */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    {
        struct logto_error err = { 0 };
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", f.dir, LOGTO_DISCOVERY_FILE);
        CHECK_INT(logto_file_write_atomic(path, "{\"format\":1,", 12, 0644, &err), 0);
    }
    expect_refetch(&f, "oidc-cache-ignored");
    fixture_done(&f);
}

static void test_discovery_logto_origin(void)
{
    const char *issuer = NOWHERE "/oidc";
    struct fixture f;

    /* Logto profile: every endpoint on the endpoint's origin. */
    fixture_init(&f, LOGTO_PROFILE_LOGTO, issuer);
    f.cfg.endpoint = nowhere;
    write_cache(&f, LOGTO_DISCOVERY_FILE, issuer, fake_now - 1, fake_now + 100,
                discovery_doc(issuer, "https://127.0.0.1:2"), 0644);
    expect_refetch(&f, "not on the origin of endpoint");
    fixture_done(&f);
}

static void test_no_cache_dir(void)
{
    const char *issuer = NOWHERE "/oidc";
    struct fixture f;

    /* A missing (or unwritable) cache dir is no error: the network answers (or not). */
    fixture_init(&f, LOGTO_PROFILE_GENERIC, issuer);
    f.cfg.cache_dir = no_dir;
    expect_refetch(&f, NULL);
    fixture_done(&f);
}

/* ------------------------------------------------------------------ keys and ID tokens */

static json_t *vectors;

static const char *vector_token(const char *name)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(vectors, "cases"), i,
                       c) if (strcmp(json_string_value(json_object_get(c, "name")), name) ==
                              0) return json_string_value(json_object_get(c, "token"));
    return NULL;
}

static bool load_vectors(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];

    if (vectors)
        return true;
    snprintf(path, sizeof(path), "%s/tests/data/jwt/vectors.json", top ? top : LOGTO_TOP_SRCDIR);
    vectors = json_load_file(path, 0, NULL);
    CHECK(vectors != NULL); /* part of the source tree: missing is a failure, not a skip */
    return vectors != NULL;
}

/* Generic profile, vector issuer, discovery cached; the JWKS cached as fetched `age` s ago, and
 * refetched for an unknown kid `refetched_age` s ago (< 0: never). */
static struct logto_oidc *keyed_oidc_refetched(struct fixture *f, int64_t jwks_age,
                                               int64_t jwks_ttl, int64_t refetched_age)
{
    struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };

    fixture_init(f, LOGTO_PROFILE_GENERIC, VECTOR_ISSUER);
    fake_now = json_integer_value(json_object_get(vectors, "now"));
    write_cache(f, LOGTO_DISCOVERY_FILE, VECTOR_ISSUER, fake_now - 1, fake_now + 100,
                discovery_doc(VECTOR_ISSUER, NOWHERE), 0644);
    write_cache_refetched(f, LOGTO_JWKS_FILE, NOWHERE "/oidc/jwks", fake_now - jwks_age,
                          fake_now - jwks_age + jwks_ttl,
                          refetched_age < 0 ? 0 : fake_now - refetched_age,
                          json_deep_copy(json_object_get(vectors, "jwks")), 0644);
    CHECK_INT(discover(f, &oidc, &err), 0);
    return oidc;
}

static struct logto_oidc *keyed_oidc(struct fixture *f, int64_t jwks_age, int64_t jwks_ttl)
{
    return keyed_oidc_refetched(f, jwks_age, jwks_ttl, -1);
}

static int verify(struct fixture *f, struct logto_oidc *oidc, const char *name, json_t **claims,
                  struct logto_error *err)
{
    return logto_oidc_verify_id_token(&f->ctx, f->http, oidc, "device-app", vector_token(name),
                                      NULL, (struct json_t **)claims, err);
}

static void test_verify_from_cache(void)
{
    struct fixture f;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct logto_oidc *oidc;

    if (!load_vectors())
        return;
    oidc = keyed_oidc(&f, 10, 3600);
    if (oidc) {
        CHECK_INT(verify(&f, oidc, "es384", &claims, &err), 0);
        CHECK_STR(json_string_value(json_object_get(claims, "sub")), "e738g7numf03");
        json_decref(claims);
        claims = NULL;
        CHECK_INT(verify(&f, oidc, "rs256", &claims, &err), 0);
        json_decref(claims);
        claims = NULL;
        CHECK_INT(verify(&f, oidc, "expired", &claims, &err), -LOGTO_E_TOKEN);
        CHECK_CONTAINS(logged, "id-token-rejected alg=ES384");
        CHECK_INT(logto_oidc_verify_id_token(&f.ctx, f.http, oidc, "device-app", NULL, NULL,
                                             (struct json_t **)&claims, &err),
                  -LOGTO_E_TOKEN);
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

/* The vector "unknown-kid" was issued 10 s before fake_now. */
static void test_unknown_kid_rate_limited(void)
{
    struct fixture f;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct logto_oidc *oidc;

    if (!load_vectors())
        return;
    /* Refetched for an unknown kid 5 s ago (by any process: the time is in the cache file),
     * after the token was issued: no refetch for a minute. */
    oidc = keyed_oidc_refetched(&f, 5, 3600, 5);
    if (oidc) {
        CHECK_INT(verify(&f, oidc, "unknown-kid", &claims, &err), -LOGTO_E_TOKEN);
        CHECK_CONTAINS(err.message, "no key with kid=");
        CHECK_CONTAINS(err.message, "refetched for an unknown kid 5 s ago; not again for 55 s");
        CHECK_CONTAINS(logged, "oidc-jwks-refetch reason=unknown-kid");
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

/* With the JWKS fetched jwks_age s ago and last refetched for an unknown kid refetched_age s ago
 * (< 0: never), the vector "unknown-kid" sends the module to the network at once. */
static void check_unknown_kid_refetched(int64_t jwks_age, int64_t refetched_age)
{
    struct fixture f;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct logto_oidc *oidc;

    if (!load_vectors())
        return;
    oidc = keyed_oidc_refetched(&f, jwks_age, 3600, refetched_age);
    if (oidc) {
        CHECK_INT(verify(&f, oidc, "unknown-kid", &claims, &err), -LOGTO_E_UNREACHABLE);
        CHECK_CONTAINS(err.message, "/oidc/jwks: connection refused");
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

/* A routine fetch (first use, expiry) spends nothing: the rotation right after it is seen. */
static void test_unknown_kid_after_routine_fetch(void)
{
    check_unknown_kid_refetched(2, -1);
}

/* Keys loaded from a cache written this very second are not "fetched by this call": an unknown
 * kid still refetches (oidc_keys.sh failed when its steps fell in one second). */
static void test_unknown_kid_cache_same_second(void)
{
    check_unknown_kid_refetched(0, -1);
}

/* A token issued after the last refetch may name a key published since: 10 s suffice. */
static void test_unknown_kid_newer_token(void)
{
    check_unknown_kid_refetched(12, 12);
}

static void test_unknown_kid_refetches(void)
{
    struct fixture f;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct logto_oidc *oidc;

    if (!load_vectors())
        return;
    /* Fetched 61 s ago: an unknown kid goes to the network at once (fresh or not). */
    oidc = keyed_oidc(&f, 61, 3600);
    if (oidc) {
        CHECK_INT(verify(&f, oidc, "unknown-kid", &claims, &err), -LOGTO_E_UNREACHABLE);
        CHECK_CONTAINS(err.message, "/oidc/jwks: connection refused");
        /* A known kid needs no fetch. */
        CHECK_INT(verify(&f, oidc, "es256", &claims, &err), 0);
        json_decref(claims);
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

static void test_jwks_expired(void)
{
    struct fixture f;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct logto_oidc *oidc;

    if (!load_vectors())
        return;
    oidc = keyed_oidc(&f, 3700, 3600);
    if (oidc) {
        CHECK_INT(verify(&f, oidc, "es384", &claims, &err), -LOGTO_E_UNREACHABLE);
        CHECK_INT(logto_oidc_load_jwks(&f.ctx, f.http, oidc, false, &err), -LOGTO_E_UNREACHABLE);
    }
    logto_oidc_free(oidc);
    fixture_done(&f);
}

static void test_done(void)
{
    json_decref(vectors);
    vectors = NULL;
}

TEST_MAIN(TEST(test_expected_issuer), TEST(test_scope), TEST(test_discovery_cache_hit),
          TEST(test_discovery_cache_misses), TEST(test_discovery_logto_origin),
          TEST(test_no_cache_dir), TEST(test_verify_from_cache),
          TEST(test_unknown_kid_rate_limited), TEST(test_unknown_kid_after_routine_fetch),
          TEST(test_unknown_kid_cache_same_second), TEST(test_unknown_kid_newer_token),
          TEST(test_unknown_kid_refetches), TEST(test_jwks_expired), TEST(test_done))
