/* SPDX-License-Identifier: MIT */
/* Unit tests for common/tokens.c: strict token answers and the OAuth error mapping, on answers
 * built in memory (the network side is covered by tests/integration). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "../lib/jansson_guard.h"
#include "json.h"
#include "memory.h"
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
        /* error_description is kept (issue 14.3): often the only reason given. */
        CHECK_CONTAINS(err.message, "DESCRIPTION-");
        CHECK_CONTAINS(oerr.description, "DESCRIPTION-");
        /* Logto's generic message is not. */
        CHECK(strstr(err.message, "An OIDC error occurred") == NULL);
    }
}

static void test_oauth_error_description(void)
{
    struct logto_error err = { 0 };
    struct logto_oauth_error oerr = { 0 };
    struct logto_tokens t = { 0 };
    char body[1024], longer[400];

    /* Logto 1.42's token-exchange refusal, word for word. */
    CHECK_INT(parse(400,
                    "{\"error\":\"invalid_request\",\"error_description\":\"requested grant type "
                    "is not allowed for this client\"}",
                    &t, &oerr, &err),
              -LOGTO_E_PROTOCOL);
    CHECK_STR(oerr.description, "requested grant type is not allowed for this client");
    CHECK_CONTAINS(err.message, "invalid_request (the provider found the request malformed): "
                                "requested grant type is not allowed for this client");
    /* Hostile text: escapes, bidi, C1, newlines become '?'; long text is cut. */
    CHECK_INT(parse(403,
                    "{\"error\":\"access_denied\",\"error_description\":\"not\\u001b[31m a "
                    "member\\n\\u202e\\u009b\"}",
                    &t, &oerr, &err),
              -LOGTO_E_DENIED);
    CHECK(strchr(err.message, '\x1b') == NULL && strchr(err.message, '\n') == NULL);
    CHECK(strstr(err.message, "\xe2\x80\xae") == NULL && strstr(err.message, "\xc2\x9b") == NULL);
    CHECK_CONTAINS(err.message, "access_denied (the sign-in was denied): not?[31m a member?");
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"error\":\"access_denied\",\"error_description\":\"%s\"}",
             longer);
    CHECK_INT(parse(400, body, &t, &oerr, &err), -LOGTO_E_DENIED);
    CHECK_INT(strlen(oerr.description), LOGTO_OAUTH_DESCRIPTION_MAX - 1);
    /* No description, or not a string: nothing added. */
    CHECK_INT(parse(400, "{\"error\":\"invalid_grant\",\"error_description\":7}", &t, &oerr, &err),
              -LOGTO_E_DENIED);
    CHECK_STR(oerr.description, "");
    CHECK(err.message[strlen(err.message) - 1] == ')');
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

/* ------------------------------------------------------------------ secrets and jansson */

/* Long enough that jansson's lexer buffer (16 bytes at first) is copied as it grows. */
#define SECRET_AT "at-SECRET-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnop"
#define SECRET_RT "rt-SECRET-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnop"
#define SECRET_ID "eyJhbGciOiJFUzM4NCJ9.id-SECRET-0123456789abcdefghijklmnopqrstuvwxyz.sig"
#define SECRET_PW "pw-S\"ECRET\\ 0123456789 \xc3\xa9t\xc3\xa9 \x01 abcdefghijklmnopqrstuvwxyz"

static void test_secrets_not_left_by_jansson(void)
{
    /* Tails: a buffer jansson reuses keeps the end of a long token after a shorter one
     * overwrote its start. */
    static const char *const watched[] = { "xyz-0123456789abcdefghijklmnop", "0123456789abcdefghi",
                                           "stuvwxyz.sig", "0123456789 \xc3\xa9t\xc3\xa9", NULL };
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    struct logto_error err = { 0 };

    jansson_guard_install();
    /* Positive control: jansson itself leaves what it parsed and what it serialised. */
    jansson_guard_watch(watched);
    {
        json_t *doc = json_loads("{\"access_token\":\"" SECRET_AT "\"}", 0, NULL);
        logto_json_wipe_string(doc, "access_token"); /* its own copy is wiped, the lexer's not */
        json_decref(doc);
        doc = json_pack("{s:s}", "password", SECRET_PW);
        free(json_dumps(doc, 0));
        json_decref(doc);
    }
    CHECK(jansson_guard_hits >= 2);

    /* A token answer: the tokens never reach jansson. */
    jansson_guard_watch(watched);
    CHECK_INT(parse(200,
                    "{\"access_token\":\"" SECRET_AT
                    "\",\"expires_in\":3600,\"id_token\":\"" SECRET_ID
                    "\",\"refresh_token\":\"" SECRET_RT "\",\"scope\":\"openid\","
                    "\"token_type\":\"Bearer\"}",
                    &t, NULL, &err),
              0);
    CHECK_STR(t.access_token, SECRET_AT);
    CHECK_STR(t.refresh_token, SECRET_RT);
    CHECK_STR(t.id_token, SECRET_ID);
    CHECK_INT(jansson_guard_hits, 0);

    /* A refused answer leaves nothing either. */
    CHECK_INT(
        parse(200, "{\"access_token\":\"" SECRET_AT "\",\"token_type\":\"DPoP\"}", &t, NULL, &err),
        -LOGTO_E_PROTOCOL);
    CHECK_INT(jansson_guard_hits, 0);

    /* A request body with a password (Experience API, Management API check). */
    {
        static const char *const keys[] = { "password" };
        const char *values[] = { SECRET_PW };
        json_t *pub = json_pack("{s:{s:s, s:s}}", "identifier", "type", "username", "value", "bob");
        char *text = NULL;
        size_t len = 0;
        CHECK_INT(logto_json_dump_secrets(pub, keys, values, 1, &text, &len, &err), 0);
        json_decref(pub);
        CHECK_INT(jansson_guard_hits, 0);
        /* It is the JSON jansson would have written. */
        CHECK_INT(len, text ? strlen(text) : 0);
        json_t *back = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        CHECK_STR(json_string_value(json_object_get(back, "password")), SECRET_PW);
        CHECK_STR(json_string_value(json_object_get(json_object_get(back, "identifier"), "value")),
                  "bob");
        json_decref(back); /* (this parse is the test's own: the watch ends here) */
        logto_free_secret(text);
    }
}

/* Secret members that cannot be cut out are refused, never handed to jansson. */
static void test_secret_members_strict(void)
{
    static const struct {
        const char *body;
        const char *word;
    } bad[] = {
        /* An escaped spelling of the key: jansson would decode it to access_token. */
        { "{\"access\\u005ftoken\":\"SECRET-AT\",\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"SECRET-AT\",\"access\\u005ftoken\":\"SECRET-2\","
          "\"token_type\":\"Bearer\"}",
          "" },
        { "{\"access_token\":\"SECRET-AT\",\"access_token\":\"SECRET-2\",\"token_type\":"
          "\"Bearer\"}",
          "access_token" },
        { "{\"access_token\":\"SECRET\\u0041T\",\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"SECRET\\nAT\",\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"SECRET\xc3\xa9\",\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":[\"SECRET-AT\"],\"token_type\":\"Bearer\"}", "access_token" },
        { "{\"access_token\":\"SECRET-AT\",\"token_type\":\"Bearer\",\"x\":[}", "valid JSON" },
    };
    struct logto_error err = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct logto_tokens t = { 0 };
        CHECK_INT(parse(200, bad[i].body, &t, NULL, &err), -LOGTO_E_PROTOCOL);
        CHECK_CONTAINS(err.message, bad[i].word);
        CHECK(strstr(err.message, "SECRET") == NULL);
        CHECK(t.access_token == NULL);
    }
    /* Escapes a JSON writer may use in a token: \/ (and \" \\, which no token has). */
    {
        _cleanup_tokens_ struct logto_tokens t = { 0 };
        CHECK_INT(
            parse(200, "{\"access_token\":\"a\\/b\",\"token_type\":\"Bearer\"}", &t, NULL, &err),
            0);
        CHECK_STR(t.access_token, "a/b");
    }
    /* A password that is not UTF-8 is not sent. */
    {
        static const char *const keys[] = { "password" };
        const char *values[] = { "caf\xe9" };
        json_t *pub = json_object();
        char *text = NULL;
        CHECK_INT(logto_json_dump_secrets(pub, keys, values, 1, &text, NULL, &err), -LOGTO_E_INVAL);
        CHECK_CONTAINS(err.message, "password is not valid UTF-8");
        CHECK(text == NULL);
        /* With no public member the object still closes. */
        values[0] = "x";
        CHECK_INT(logto_json_dump_secrets(pub, keys, values, 1, &text, NULL, &err), 0);
        CHECK_STR(text, "{\"password\":\"x\"}");
        logto_free_secret(text);
        json_decref(pub);
    }
}

TEST_MAIN(TEST(test_token_answer_ok), TEST(test_token_answer_strict), TEST(test_oauth_errors),
          TEST(test_oauth_error_description), TEST(test_oauth_error_malformed), TEST(test_clear),
          TEST(test_secrets_not_left_by_jansson), TEST(test_secret_members_strict))
