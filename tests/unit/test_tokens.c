/* SPDX-License-Identifier: MIT */
/* Unit tests for common/tokens.c: strict token answers and the OAuth error mapping, on answers
 * built in memory (the network side is covered by tests/integration). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "tokens.h"

#define ENDPOINT "https://idp.example/oidc/token"

static int64_t now_fn(void)
{
    return 1700000000;
}

static const struct logto_ctx ctx = { .now = now_fn };

/* An answer with a copy of body (the parser may only read it). */
static struct logto_http_response answer(long status, const char *body, const char *ctype)
{
    struct logto_http_response r = { .status = status };

    r.body = body ? strdup(body) : NULL;
    r.body_len = body ? strlen(body) : 0;
    r.content_type = ctype ? strdup(ctype) : NULL;
    return r;
}

static int parse(long status, const char *body, struct logto_tokens *t,
                 struct logto_oauth_error *oerr, struct logto_error *err)
{
    struct logto_http_response r = answer(status, body, "application/json");
    int ret = logto_tokens_from_response(&ctx, &r, ENDPOINT, t, oerr, err);

    logto_http_response_clear(&r);
    return ret;
}

static void test_token_answer_ok(void)
{
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    struct logto_error err = { 0 };

    CHECK_INT(parse(200,
                    "{\"access_token\":\"AT\",\"expires_in\":3600,\"id_token\":\"a.b.c\","
                    "\"refresh_token\":\"RT\",\"scope\":\"openid offline_access\","
                    "\"token_type\":\"Bearer\"}",
                    &t, NULL, &err),
              0);
    CHECK_STR(t.access_token, "AT");
    CHECK_STR(t.refresh_token, "RT");
    CHECK_STR(t.id_token, "a.b.c");
    CHECK_STR(t.scope, "openid offline_access");
    CHECK_INT(t.expires_in, 3600);
    CHECK_INT(t.received_at, 1700000000);

    /* Minimal, and a lower-case token_type (RFC 6749 7.1: case-insensitive). */
    CHECK_INT(parse(200, "{\"access_token\":\"X\",\"token_type\":\"bearer\"}", &t, NULL, &err), 0);
    CHECK_STR(t.access_token, "X");
    CHECK(t.refresh_token == NULL && t.id_token == NULL && t.scope == NULL);
    CHECK_INT(t.expires_in, 0);

    /* An empty scope: an API token of a user holding none of its permissions (refusing the
     * answer would drop the rotated refresh token that came with it). */
    CHECK_INT(parse(200,
                    "{\"access_token\":\"J\",\"token_type\":\"Bearer\",\"scope\":\"\","
                    "\"refresh_token\":\"RT2\"}",
                    &t, NULL, &err),
              0);
    CHECK_STR(t.scope, "");
    CHECK_STR(t.refresh_token, "RT2");
}

static void test_token_answer_strict(void)
{
    static const struct {
        const char *body;
        const char *word;
    } bad[] = {
        { "{\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"\",\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":7,\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"A\"}", "token_type" },
        { "{\"access_token\":\"A\",\"token_type\":\"DPoP\"}", "not Bearer" },
        { "{\"access_token\":\"A\",\"token_type\":\"Bearer\",\"expires_in\":-1}", "expires_in" },
        { "{\"access_token\":\"A\",\"token_type\":\"Bearer\",\"expires_in\":\"3600\"}",
          "expires_in" },
        { "{\"access_token\":\"A\",\"token_type\":\"Bearer\",\"refresh_token\":\"\"}",
          "refresh_token" },
        { "{\"access_token\":\"A\",\"token_type\":\"Bearer\",\"id_token\":null}", "id_token" },
        { "[\"access_token\"]", "not a JSON object" },
        { "{\"access_token\":\"SECRET-AT\",\"token_type\":\"Bearer\"", "not valid JSON" },
        { "", "empty" },
    };
    struct logto_error err = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct logto_tokens t = { 0 };
        CHECK_INT(parse(200, bad[i].body, &t, NULL, &err), -LOGTO_E_PROTOCOL);
        CHECK_CONTAINS(err.message, bad[i].word);
        CHECK_CONTAINS(err.message, ENDPOINT);
        CHECK(strstr(err.message, "SECRET") == NULL);
        CHECK(t.access_token == NULL);
    }
}

static void test_oauth_errors(void)
{
    static const struct {
        long status;
        const char *error;
        enum logto_errc code;
    } map[] = {
        { 400, "invalid_grant", LOGTO_E_DENIED },
        { 400, "access_denied", LOGTO_E_DENIED },
        { 400, "expired_token", LOGTO_E_EXPIRED },
        { 401, "invalid_client", LOGTO_E_CONFIG },
        { 400, "unauthorized_client", LOGTO_E_CONFIG },
        { 400, "invalid_scope", LOGTO_E_CONFIG },
        { 400, "unsupported_grant_type", LOGTO_E_UNSUPPORTED },
        { 400, "authorization_pending", LOGTO_E_PROTOCOL },
        { 400, "slow_down", LOGTO_E_PROTOCOL },
        { 401, "invalid_token", LOGTO_E_DENIED },
        { 400, "something_new", LOGTO_E_PROTOCOL },
    };
    struct logto_error err = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(map); i++) {
        struct logto_oauth_error oerr = { 0 };
        struct logto_tokens t = { 0 };
        char body[512];

        /* Logto's decorated error body: code and message are ignored. */
        snprintf(body, sizeof(body),
                 "{\"code\":\"oidc.%s\",\"message\":\"An OIDC error occurred\",\"error\":\"%s\","
                 "\"error_description\":\"DESCRIPTION-%s\"}",
                 map[i].error, map[i].error, map[i].error);
        CHECK_INT(parse(map[i].status, body, &t, &oerr, &err), -(int)map[i].code);
        CHECK_STR(oerr.error, map[i].error);
        CHECK_INT(oerr.status, map[i].status);
        CHECK_CONTAINS(err.message, map[i].error);
        CHECK_CONTAINS(err.message, ENDPOINT);
        CHECK(strstr(err.message, "DESCRIPTION") == NULL);
    }
}

static void test_oauth_error_malformed(void)
{
    static const char *const bodies[] = {
        "{\"error\":\"bad\\\"quote\"}",
        "{\"error\":\"tab\\there\"}",
        "{\"error\":42}",
        "{\"error\":\"\"}",
        "<html>Not found</html>",
        NULL,
        "{\"error\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
    };
    struct logto_error err = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
        struct logto_oauth_error oerr = { 0 };
        struct logto_tokens t = { 0 };
        CHECK_INT(parse(404, bodies[i], &t, &oerr, &err), -LOGTO_E_PROTOCOL);
        CHECK_STR(oerr.error, "");
        CHECK_CONTAINS(err.message, "answered HTTP 404 without an OAuth error");
    }
}

static void test_clear(void)
{
    struct logto_tokens t = { 0 };

    t.access_token = strdup("a");
    t.refresh_token = strdup("r");
    t.token_type = strdup("Bearer");
    logto_tokens_clear(&t);
    CHECK(t.access_token == NULL && t.refresh_token == NULL && t.token_type == NULL);
    logto_tokens_clear(&t); /* twice is fine */
    logto_tokens_clear(NULL);
}

TEST_MAIN(TEST(test_token_answer_ok), TEST(test_token_answer_strict), TEST(test_oauth_errors),
          TEST(test_oauth_error_malformed), TEST(test_clear))
