/* SPDX-License-Identifier: MIT */
/* Unit tests for the pure parts of common/mgmt.c: IDs, Total-Number, Link and Retry-After
 * headers, URL building, status mapping, the rate-limit backoff and the claims built from a
 * Management API user. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "json.h"
#include "mgmt.h"
#include "util.h"

static void test_id_valid(void)
{
    CHECK(logto_mgmt_id_valid("e738g7numf03"));
    CHECK(logto_mgmt_id_valid("A_b-9"));
    CHECK(!logto_mgmt_id_valid(""));
    CHECK(!logto_mgmt_id_valid(NULL));
    CHECK(!logto_mgmt_id_valid("../users"));
    CHECK(!logto_mgmt_id_valid("a/b"));
    CHECK(!logto_mgmt_id_valid("a?b"));
    CHECK(!logto_mgmt_id_valid("a%2fb"));
    CHECK(!logto_mgmt_id_valid("a b"));
    CHECK(!logto_mgmt_id_valid("\xc3\xa9"));
    char long_id[130];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[129] = '\0';
    CHECK(!logto_mgmt_id_valid(long_id));
    long_id[128] = '\0';
    CHECK(logto_mgmt_id_valid(long_id));
}

static void test_parse_total(void)
{
    struct logto_error err = { 0 };
    uint64_t n = 42;

    CHECK_INT(logto_mgmt_parse_total("0", &n, &err), 0);
    CHECK_INT(n, 0);
    CHECK_INT(logto_mgmt_parse_total("10008", &n, &err), 0);
    CHECK_INT(n, 10008);
    CHECK_INT(logto_mgmt_parse_total("1000000", &n, &err), 0);
    CHECK_INT(n, 1000000);
    n = 7;
    static const char *const bad[] = { NULL,
                                       "",
                                       "-1",
                                       "+5",
                                       "01",
                                       "1e3",
                                       "1 0",
                                       " 1",
                                       "1.0",
                                       "1000001",
                                       "99999999999999999999",
                                       "0x10",
                                       "abc" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        CHECK_INT(logto_mgmt_parse_total(bad[i], &n, &err), -LOGTO_E_PROTOCOL);
        CHECK_INT(n, 7);
    }
}

static void test_parse_link(void)
{
    struct logto_error err = { 0 };
    char *url = NULL;
    const char *logto = "<https://h/api/users?page=1&page_size=100>; rel=\"first\", "
                        "<https://h/api/users?page=1&page_size=100>; rel=\"prev\", "
                        "<https://h/api/users?page=101&page_size=100>; rel=\"last\", "
                        "<https://h/api/users?page=3&page_size=100>; rel=\"next\"";

    CHECK_INT(logto_mgmt_parse_link(logto, "next", &url, &err), 0);
    CHECK_STR(url, "https://h/api/users?page=3&page_size=100");
    free(url);
    CHECK_INT(logto_mgmt_parse_link(logto, "last", &url, &err), 0);
    CHECK_STR(url, "https://h/api/users?page=101&page_size=100");
    free(url);
    /* No such relation. */
    url = strdup("x");
    free(url);
    CHECK_INT(logto_mgmt_parse_link("<https://h/a>; rel=\"first\"", "next", &url, &err), 0);
    CHECK(url == NULL);
    CHECK_INT(logto_mgmt_parse_link(NULL, "next", &url, &err), 0);
    CHECK(url == NULL);
    CHECK_INT(logto_mgmt_parse_link("", "next", &url, &err), 0);
    CHECK(url == NULL);
    /* Unquoted, several relation types, other parameters, case. */
    CHECK_INT(
        logto_mgmt_parse_link("<u1>; title=\"a, b; c\"; REL=\"prev next\"", "next", &url, &err), 0);
    CHECK_STR(url, "u1");
    free(url);
    CHECK_INT(logto_mgmt_parse_link("<u2>;rel=next", "next", &url, &err), 0);
    CHECK_STR(url, "u2");
    free(url);
    /* "nextpage" is not "next". */
    CHECK_INT(logto_mgmt_parse_link("<u3>; rel=\"nextpage\"", "next", &url, &err), 0);
    CHECK(url == NULL);
    /* Malformed. */
    static const char *const bad[] = { "https://h/a; rel=next",
                                       "<https://h/a; rel=next",
                                       "<u>; rel=\"next",
                                       "<u> rel=next",
                                       "<u>; =x",
                                       "<u>; rel=next junk" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        url = NULL;
        CHECK_INT(logto_mgmt_parse_link(bad[i], "next", &url, &err), -LOGTO_E_PROTOCOL);
        CHECK(url == NULL);
    }
}

static void test_build_url(void)
{
    _cleanup_free_ char *a = logto_mgmt_build_url("https://h", "/users", 1, 100);
    _cleanup_free_ char *b = logto_mgmt_build_url("https://h", "/roles?type=User", 3, 100);
    _cleanup_free_ char *c = logto_mgmt_build_url("https://h:8443", "/users/abc", 0, 0);

    CHECK_STR(a, "https://h/api/users?page=1&page_size=100");
    CHECK_STR(b, "https://h/api/roles?type=User&page=3&page_size=100");
    CHECK_STR(c, "https://h:8443/api/users/abc");
}

static void test_status_error(void)
{
    static const struct {
        long status;
        const char *code;
        int want;
        const char *text;
    } cases[] = {
        { 401, "auth.unauthorized", -LOGTO_E_DENIED, "permission `all`" },
        { 403, "auth.forbidden", -LOGTO_E_DENIED, "permission `all`" },
        { 401, NULL, -LOGTO_E_DENIED, "M2M app" },
        { 404, "entity.not_exists_with_id", -LOGTO_E_NOTFOUND, "not found" },
        { 400, "guard.invalid_pagination", -LOGTO_E_PROTOCOL, "pagination" },
        { 400, "request.invalid_input", -LOGTO_E_PROTOCOL, "HTTP 400 (request.invalid_input)" },
        { 302, NULL, -LOGTO_E_PROTOCOL, "HTTP 302" },
        { 500, NULL, -LOGTO_E_UNREACHABLE, "HTTP 500" },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct logto_error err = { 0 };
        CHECK_INT(logto_mgmt_status_error(cases[i].status, cases[i].code, "GET /api/users", &err),
                  cases[i].want);
        CHECK_CONTAINS(err.message, cases[i].text);
        CHECK_CONTAINS(err.message, "GET /api/users");
    }
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return j;
}

static void test_user_claims(void)
{
    struct logto_error err = { 0 };
    _cleanup_json_ json_t *user = load(
        "{\"id\":\"e738g7numf03\",\"username\":\"alice\",\"primaryEmail\":\"alice@example.com\","
        "\"primaryPhone\":null,\"name\":\"Alice Liddell\",\"avatar\":null,"
        "\"customData\":{\"loginShell\":\"/bin/bash\"},\"identities\":{},"
        "\"createdAt\":1704067200000,\"updatedAt\":1704067300000,\"isSuspended\":false}");
    _cleanup_json_ json_t *roles =
        load("[{\"id\":\"r1\",\"name\":\"admin\",\"type\":\"User\"},"
             "{\"id\":\"r2\",\"name\":\"developer\",\"type\":\"User\"}]");
    _cleanup_json_ json_t *orgs =
        load("[{\"id\":\"pbl95zlwkzx4\",\"name\":\"Acme Corp\",\"description\":null,"
             "\"organizationRoles\":[{\"id\":\"o1\",\"name\":\"member\"},{\"id\":\"o2\",\"name\":"
             "\"admin\"}]}]");
    _cleanup_json_ json_t *claims = NULL;

    CHECK_INT(logto_mgmt_user_claims(user, roles, orgs, &claims, &err), 0);
    if (!claims)
        return;
    CHECK_STR(json_string_value(json_object_get(claims, "sub")), "e738g7numf03");
    CHECK_STR(json_string_value(json_object_get(claims, "username")), "alice");
    CHECK_STR(json_string_value(json_object_get(claims, "name")), "Alice Liddell");
    CHECK(json_is_null(json_object_get(claims, "picture")));
    CHECK_STR(json_string_value(json_object_get(claims, "email")), "alice@example.com");
    CHECK(json_is_true(json_object_get(claims, "email_verified")));
    CHECK(json_object_get(claims, "phone_number") == NULL);
    CHECK_INT(json_integer_value(json_object_get(claims, "created_at")), 1704067200000LL);
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(claims, "custom_data"), "loginShell")),
        "/bin/bash");
    json_t *r = json_object_get(claims, "roles");
    CHECK_INT(json_array_size(r), 2);
    CHECK_STR(json_string_value(json_array_get(r, 0)), "admin");
    CHECK_STR(json_string_value(json_array_get(r, 1)), "developer");
    json_t *o = json_object_get(claims, "organizations");
    CHECK_INT(json_array_size(o), 1);
    CHECK_STR(json_string_value(json_array_get(o, 0)), "pbl95zlwkzx4");
    json_t *orl = json_object_get(claims, "organization_roles");
    CHECK_INT(json_array_size(orl), 2);
    CHECK_STR(json_string_value(json_array_get(orl, 0)), "pbl95zlwkzx4:member");
    CHECK_STR(json_string_value(json_array_get(orl, 1)), "pbl95zlwkzx4:admin");
    json_t *od = json_array_get(json_object_get(claims, "organization_data"), 0);
    CHECK_STR(json_string_value(json_object_get(od, "name")), "Acme Corp");

    /* Without roles/orgs: those claims are left out. */
    json_decref(claims);
    claims = NULL;
    CHECK_INT(logto_mgmt_user_claims(user, NULL, NULL, &claims, &err), 0);
    CHECK(claims && !json_object_get(claims, "roles") && !json_object_get(claims, "organizations"));

    /* Hostile shapes are refused. */
    _cleanup_json_ json_t *bad_user = load("{\"id\":\"../x\",\"username\":\"a\"}");
    _cleanup_json_ json_t *bad_user2 = load("{\"id\":\"abc\",\"username\":5}");
    _cleanup_json_ json_t *bad_roles = load("[{\"id\":\"r1\",\"name\":7}]");
    _cleanup_json_ json_t *bad_orgs = load("[{\"id\":\"o1\",\"name\":\"x\"}]");
    _cleanup_json_ json_t *bad_orgs2 =
        load("[{\"id\":\"o1\",\"name\":\"x\",\"organizationRoles\":[{\"name\":\"\"}]}]");
    json_t *c = NULL;
    CHECK_INT(logto_mgmt_user_claims(bad_user, NULL, NULL, &c, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_mgmt_user_claims(bad_user2, NULL, NULL, &c, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_mgmt_user_claims(user, bad_roles, NULL, &c, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_mgmt_user_claims(user, NULL, bad_orgs, &c, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_mgmt_user_claims(user, NULL, bad_orgs2, &c, &err), -LOGTO_E_PROTOCOL);
    CHECK(c == NULL);
}

static void test_retry_after(void)
{
    const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

    CHECK_INT(logto_mgmt_parse_retry_after("0", now), 0);
    CHECK_INT(logto_mgmt_parse_retry_after("1", now), 1);
    CHECK_INT(logto_mgmt_parse_retry_after("3600", now), 3600);
    CHECK_INT(logto_mgmt_parse_retry_after("999999999", now), 999999999);
    CHECK_INT(logto_mgmt_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);
    CHECK_INT(logto_mgmt_parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), 30);
    CHECK_INT(logto_mgmt_parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), 0); /* past */
    CHECK_INT(logto_mgmt_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now), 4102444800 - now);
    CHECK_INT(logto_mgmt_parse_retry_after("Tue, 29 Feb 2000 23:59:59 GMT", 951868799), 0);
    CHECK_INT(logto_mgmt_parse_retry_after("Tue, 29 Feb 2000 23:59:59 GMT", 951868790), 9);
    /* Neither form: the caller backs off on its own. */
    static const char *const bad[] = { NULL,
                                       "",
                                       "-1",
                                       "+5",
                                       "1.5",
                                       " 1",
                                       "1 ",
                                       "1234567890",
                                       "0x10",
                                       "Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850 */
                                       "Sun Nov  6 08:49:37 1994",       /* asctime */
                                       "Sun, 06 Nov 1994 08:49:37 UTC",
                                       "Sun, 06 Now 1994 08:49:37 GMT",
                                       "Sun, 32 Nov 1994 08:49:37 GMT",
                                       "Sun, 06 Nov 1994 24:00:00 GMT",
                                       "Sun, 06 Nov 1994 08:60:00 GMT",
                                       "Sun, 06 Nov 1994 08:49:37 GMT ",
                                       "Sun, 0a Nov 1994 08:49:37 GMT" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        CHECK_INT(logto_mgmt_parse_retry_after(bad[i], now), -1);
}

static void test_backoff(void)
{
    /* 1 s doubled per attempt, capped at 60 s; the upper half is jitter. */
    CHECK_INT(logto_mgmt_backoff_ms(0, 0), 500);
    CHECK_INT(logto_mgmt_backoff_ms(0, 500), 1000);
    CHECK_INT(logto_mgmt_backoff_ms(0, 501), 500);
    CHECK_INT(logto_mgmt_backoff_ms(1, 0), 1000);
    CHECK_INT(logto_mgmt_backoff_ms(2, 0), 2000);
    CHECK_INT(logto_mgmt_backoff_ms(5, 0), 16000);
    CHECK_INT(logto_mgmt_backoff_ms(6, 0), 30000);
    CHECK_INT(logto_mgmt_backoff_ms(6, 30000), 60000);
    CHECK_INT(logto_mgmt_backoff_ms(40, 0), 30000);
    CHECK_INT(logto_mgmt_backoff_ms(UINT32_MAX, UINT32_MAX) <= 60000, 1);
    for (uint32_t r = 0; r < 100000; r += 997) {
        int64_t ms = logto_mgmt_backoff_ms(3, r);
        CHECK(ms >= 4000 && ms <= 8000);
    }
}

TEST_MAIN(TEST(test_id_valid), TEST(test_parse_total), TEST(test_parse_link), TEST(test_build_url),
          TEST(test_status_error), TEST(test_user_claims), TEST(test_retry_after),
          TEST(test_backoff))
