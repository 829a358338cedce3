/* SPDX-License-Identifier: MIT */
/* Unit tests for common/pkce.c and the pure parts of common/password.c: PKCE S256 (RFC 7636
 * appendix B), random tokens, authorization-response parsing (with hostile values) and the
 * Experience API error table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "memory.h"
#include "password.h"
#include "pkce.h"
#include "util.h"

static const char *const B64URL =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void test_base64url(void)
{
    /* RFC 4648 section 10 vectors, in the URL alphabet without padding. */
    static const struct {
        const char *in, *out;
    } v[] = {
        { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },         { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" }
    };
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        _cleanup_free_ char *s = logto_base64url_encode(v[i].in, strlen(v[i].in));
        CHECK_STR(s, v[i].out);
    }
    /* Bytes that need the URL alphabet: 0xfb 0xff -> "-_8" */
    _cleanup_free_ char *s = logto_base64url_encode("\xfb\xff", 2);
    CHECK_STR(s, "-_8");
}

static void test_pkce_rfc7636(void)
{
    struct logto_error err = { 0 };
    _cleanup_free_ char *challenge = NULL;

    /* RFC 7636 appendix B. */
    CHECK_INT(logto_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &challenge, &err),
              0);
    CHECK_STR(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");

    /* Verifiers outside 43..128 unreserved characters are refused. */
    char *c = NULL;
    CHECK_INT(logto_pkce_challenge("short", &c, &err), -LOGTO_E_INVAL);
    CHECK_INT(logto_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX!", &c, &err),
              -LOGTO_E_INVAL);
    CHECK(c == NULL);
}

static void test_pkce_new(void)
{
    struct logto_error err = { 0 };
    _cleanup_pkce_ struct logto_pkce a = { 0 };
    _cleanup_pkce_ struct logto_pkce b = { 0 };
    _cleanup_free_ char *again = NULL;

    CHECK_INT(logto_pkce_new(&a, &err), 0);
    CHECK_INT(logto_pkce_new(&b, &err), 0);
    CHECK(a.verifier && strlen(a.verifier) == 43);
    CHECK(strspn(a.verifier, B64URL) == 43);
    CHECK(strcmp(a.verifier, b.verifier) != 0);
    CHECK(a.challenge && strlen(a.challenge) == 43);
    CHECK_INT(logto_pkce_challenge(a.verifier, &again, &err), 0);
    CHECK_STR(again, a.challenge);
    logto_pkce_clear(&a);
    CHECK(a.verifier == NULL && a.challenge == NULL);
}

static void test_random_token(void)
{
    struct logto_error err = { 0 };
    _cleanup_free_ char *s1 = NULL, *s2 = NULL;
    char *bad = NULL;

    CHECK_INT(logto_random_token(LOGTO_RANDOM_TOKEN_BYTES, &s1, &err), 0);
    CHECK_INT(logto_random_token(LOGTO_RANDOM_TOKEN_BYTES, &s2, &err), 0);
    CHECK_INT(strlen(s1), 32);
    CHECK_INT(strspn(s1, B64URL), 32);
    CHECK(strcmp(s1, s2) != 0);
    CHECK_INT(logto_random_token(0, &bad, &err), -LOGTO_E_INVAL);
    CHECK_INT(logto_random_token(65, &bad, &err), -LOGTO_E_INVAL);
}

#define RURI   "http://127.0.0.1/callback"
#define ISSUER "https://auth.example.com/oidc"
#define STATE  "st4te-Value_1"

static int parse(const char *loc, char **code, struct logto_error *err)
{
    return logto_password_parse_callback(loc, RURI, STATE, ISSUER, code, err);
}

static void test_is_callback(void)
{
    CHECK(logto_password_is_callback(RURI "?code=x", RURI));
    CHECK(logto_password_is_callback(RURI, RURI));
    CHECK(logto_password_is_callback(RURI "#frag", RURI));
    CHECK(!logto_password_is_callback(RURI "evil?code=x", RURI));
    CHECK(!logto_password_is_callback(RURI "/x?code=x", RURI));
    CHECK(!logto_password_is_callback("http://127.0.0.1/callbac?code=x", RURI));
    CHECK(!logto_password_is_callback("https://127.0.0.1/callback?code=x", RURI));
    CHECK(!logto_password_is_callback("/callback?code=x", RURI));
    CHECK(!logto_password_is_callback(NULL, RURI));
    CHECK(!logto_password_is_callback(RURI "?x", ""));
    /* redirect_uri with its own query: our parameters follow with '&'. */
    CHECK(logto_password_is_callback("http://h/cb?a=1&code=x", "http://h/cb?a=1"));
    CHECK(!logto_password_is_callback("http://h/cb?a=12&code=x", "http://h/cb?a=1"));
}

static void test_parse_callback_ok(void)
{
    struct logto_error err = { 0 };
    char *code = NULL;

    CHECK_INT(parse(RURI "?code=abc-DEF_123.x&state=" STATE
                         "&iss=https%3A%2F%2Fauth.example.com%2Foidc",
                    &code, &err),
              0);
    CHECK_STR(code, "abc-DEF_123.x");
    logto_free_secret(code);

    /* iss is optional; unknown parameters are ignored; order does not matter. */
    CHECK_INT(parse(RURI "?session_state=zz&state=" STATE "&code=Q1", &code, &err), 0);
    CHECK_STR(code, "Q1");
    logto_free_secret(code);

    /* A fragment is not part of the query. */
    CHECK_INT(parse(RURI "?code=Q2&state=" STATE "#code=evil", &code, &err), 0);
    CHECK_STR(code, "Q2");
    logto_free_secret(code);

    /* Percent-escaped state. */
    CHECK_INT(parse(RURI "?code=Q3&state=st4te%2DValue%5F1", &code, &err), 0);
    CHECK_STR(code, "Q3");
    logto_free_secret(code);
}

static void test_parse_callback_hostile(void)
{
    static const struct {
        const char *loc;
        int want;
    } cases[] = {
        { RURI "?code=abc", -LOGTO_E_PROTOCOL },                              /* no state */
        { RURI "?code=abc&state=other", -LOGTO_E_PROTOCOL },                  /* wrong state */
        { RURI "?code=abc&state=" STATE "x", -LOGTO_E_PROTOCOL },             /* longer */
        { RURI "?code=abc&state=st4te", -LOGTO_E_PROTOCOL },                  /* prefix */
        { RURI "?code=abc&state=" STATE "&state=" STATE, -LOGTO_E_PROTOCOL }, /* repeated */
        { RURI "?code=a&code=b&state=" STATE, -LOGTO_E_PROTOCOL },            /* two codes */
        { RURI "?state=" STATE, -LOGTO_E_PROTOCOL },                          /* no code */
        { RURI "?code=&state=" STATE, -LOGTO_E_PROTOCOL },                    /* empty code */
        { RURI "?code=a%00b&state=" STATE, -LOGTO_E_PROTOCOL },               /* NUL */
        { RURI "?code=a%0d%0aSet-Cookie:x&state=" STATE, -LOGTO_E_PROTOCOL }, /* CRLF */
        { RURI "?code=a%zzb&state=" STATE, -LOGTO_E_PROTOCOL },               /* bad escape */
        { RURI "?code=a%4&state=" STATE, -LOGTO_E_PROTOCOL },                 /* cut escape */
        { RURI "?code=a+b&state=" STATE, -LOGTO_E_PROTOCOL },                 /* space */
        { RURI "?code=a\"b&state=" STATE, -LOGTO_E_PROTOCOL },                /* quote */
        { RURI "?code=a\tb&state=" STATE, -LOGTO_E_PROTOCOL },                /* raw tab */
        { RURI "?code=abc&state=" STATE "&iss=https%3A%2F%2Fevil.example.com%2Foidc",
          -LOGTO_E_PROTOCOL },                                        /* mix-up */
        { RURI "?code=abc&state=" STATE "&iss=", -LOGTO_E_PROTOCOL }, /* empty iss */
        { RURI "?error=access_denied&state=" STATE, -LOGTO_E_DENIED },
        { RURI "?error=invalid_scope&state=" STATE, -LOGTO_E_PROTOCOL },
        { RURI "?error=access_denied&state=other", -LOGTO_E_PROTOCOL }, /* forged */
        { RURI "evil?code=abc&state=" STATE, -LOGTO_E_PROTOCOL },       /* not ours */
        { "https://evil.example.com/callback?code=abc&state=" STATE, -LOGTO_E_PROTOCOL },
        { RURI, -LOGTO_E_PROTOCOL },
        { RURI "?", -LOGTO_E_PROTOCOL },
        { RURI "#code=abc&state=" STATE, -LOGTO_E_PROTOCOL },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct logto_error err = { 0 };
        static char untouched[] = "untouched";
        char *code = untouched;
        int r = parse(cases[i].loc, &code, &err);
        if (r != cases[i].want)
            fprintf(stderr, "case %zu: %s -> %d (%s)\n", i, cases[i].loc, r, err.message);
        CHECK_INT(r, cases[i].want);
        CHECK(code == NULL);
        CHECK(err.message[0] != '\0');
        /* Nothing from the response is echoed into the message. */
        CHECK(!strstr(err.message, "abc"));
    }

    /* A very long value is refused. */
    size_t n = 20000;
    _cleanup_free_ char *loc = malloc(n + 100);
    CHECK(loc != NULL);
    if (loc) {
        strcpy(loc, RURI "?state=" STATE "&code=");
        size_t k = strlen(loc);
        memset(loc + k, 'a', n);
        loc[k + n] = '\0';
        char *code = NULL;
        struct logto_error err = { 0 };
        CHECK_INT(parse(loc, &code, &err), -LOGTO_E_PROTOCOL);
        CHECK(code == NULL);
    }
}

static void test_experience_errors(void)
{
    static const struct {
        long status;
        const char *code, *message;
        int want;
        const char *text;
    } cases[] = {
        { 422, "session.invalid_credentials", "Incorrect account or password.", -LOGTO_E_DENIED,
          "wrong user name or password" },
        { 400, "session.verification_blocked_too_many_attempts",
          "Too many attempts in a short time. Please try again in 59 minutes.", -LOGTO_E_LOCKED,
          "try again in 59 minutes" },
        { 400, "session.verification_blocked_too_many_attempts", NULL, -LOGTO_E_LOCKED,
          "sign-in is locked" },
        { 400, "session.verification_blocked_too_many_attempts", "Please try again <script>\n",
          -LOGTO_E_LOCKED, "sign-in is locked for now" },
        { 401, "user.suspended", "This account is suspended.", -LOGTO_E_SUSPENDED, "suspended" },
        { 422, "password.expired", NULL, -LOGTO_E_DENIED,
          "password expired: change it in the browser" },
        { 422, "session.captcha_required", NULL, -LOGTO_E_CAPTCHA,
          "this tenant requires a captcha: use the device flow" },
        { 403, "session.mfa.require_mfa_verification", NULL, -LOGTO_E_MFA, "second factor" },
        { 400, "session.mfa.invalid_totp_code", NULL, -LOGTO_E_DENIED, "wrong one-time code" },
        { 400, "session.not_found", NULL, -LOGTO_E_PROTOCOL, "session.not_found" },
        { 401, "session.not_found", NULL, -LOGTO_E_PROTOCOL, "session" },
        { 404, "user.user_not_exist", NULL, -LOGTO_E_DENIED, "wrong user name or password" },
        { 500, NULL, NULL, -LOGTO_E_UNREACHABLE, "HTTP 500" },
        { 503, "oidc.server_error", NULL, -LOGTO_E_UNREACHABLE, "503" },
        { 400, "guard.invalid_input", NULL, -LOGTO_E_DENIED,
          "Logto refused the sign-in (guard.invalid_input)" },
        { 418, NULL, NULL, -LOGTO_E_PROTOCOL, "HTTP 418" },
        { 400, "evil\ncode", NULL, -LOGTO_E_DENIED, "(unprintable)" },
        { 422, "user.missing_mfa", "You need to bind additional MFA before signing-in.",
          -LOGTO_E_MFA, "set it up once in the browser, or use the device flow" },
        { 422, "user.suggest_mfa", NULL, -LOGTO_E_MFA, "set it up or skip it once in the browser" },
        { 422, "user.sign_in_method_not_enabled", "This sign-in method is not enabled.",
          -LOGTO_E_CONFIG, "the administrator must enable it" },
        /* Any other verdict: Logto's message, sanitised, never "unavailable". */
        { 422, "session.sso_enabled", "Single sign-on is enabled for this e-mail domain.",
          -LOGTO_E_DENIED,
          "Logto refused the sign-in: Single sign-on is enabled for this e-mail domain. "
          "(session.sso_enabled)" },
        { 403, "user.passkey_preferred", "Use a passkey\n\x1b[31m\xe2\x80\xae", -LOGTO_E_DENIED,
          "Logto refused the sign-in: Use a passkey?" },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct logto_error err = { 0 };
        CHECK_INT(logto_password_experience_error(cases[i].status, cases[i].code, cases[i].message,
                                                  NULL, &err),
                  cases[i].want);
        CHECK_CONTAINS(err.message, cases[i].text);
        CHECK(!strchr(err.message, '\n'));
        CHECK(!strchr(err.message, '\x1b'));
        CHECK(!strstr(err.message, "\xe2\x80\xae"));
        CHECK(!strstr(err.message, "<script>"));
        /* A verdict is shown to the person: pam_logto hides texts that name HTTP. */
        CHECK(cases[i].want != -LOGTO_E_DENIED || !strstr(err.message, "HTTP"));
    }

    /* user.sign_in_method_not_enabled names the sign-in method to enable from the identifier
     * type the sign-in sent (one mapping, no override in the caller). */
    static const struct {
        const char *type, *method, *enable;
    } types[] = {
        { "username", "with a username:", "Sign-up and sign-in: username and password)" },
        { "email", "with an e-mail address:", "Sign-up and sign-in: e-mail address and password)" },
        { NULL, "with this identifier:", "username or e-mail address and password)" },
        { "phone", "with this identifier:", "username or e-mail address and password)" },
    };
    for (size_t i = 0; i < ELEMENTSOF(types); i++) {
        struct logto_error err = { 0 };
        CHECK_INT(logto_password_experience_error(422, "user.sign_in_method_not_enabled",
                                                  "This sign-in method is not enabled.",
                                                  types[i].type, &err),
                  -LOGTO_E_CONFIG);
        CHECK_CONTAINS(err.message, types[i].method);
        CHECK_CONTAINS(err.message, types[i].enable);
    }
}

static void test_method_names(void)
{
    CHECK_STR(logto_password_method_name(LOGTO_PW_EXPERIENCE), "experience");
    CHECK_STR(logto_password_method_name(LOGTO_PW_PAT), "pat");
    CHECK_STR(logto_password_method_name(LOGTO_PW_MANAGEMENT), "management");
    CHECK_STR(logto_password_method_name(LOGTO_PW_GRANT), "grant");
    CHECK(logto_password_method_name((enum logto_password_method)99) == NULL);
}

TEST_MAIN(TEST(test_base64url), TEST(test_pkce_rfc7636), TEST(test_pkce_new),
          TEST(test_random_token), TEST(test_is_callback), TEST(test_parse_callback_ok),
          TEST(test_parse_callback_hostile), TEST(test_experience_errors), TEST(test_method_names))
