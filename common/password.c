/* SPDX-License-Identifier: MIT */
/* Password flows: Experience API, PAT exchange, Management API check, OAuth password grant. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "memory.h"
#include "mgmt.h"
#include "oidc.h"
#include "password.h"
#include "pkce.h"
#include "text.h"
#include "util.h"

#define CALLBACK_VALUE_MAX 4096

/* ------------------------------------------------------------------ callback parsing */

/* Length of the redirect_uri prefix of location if location is a redirect to it, else 0. */
static size_t callback_prefix(const char *location, const char *redirect_uri)
{
    size_t n;
    char next;

    if (!location || !redirect_uri || !redirect_uri[0])
        return 0;
    n = strlen(redirect_uri);
    if (strncmp(location, redirect_uri, n) != 0)
        return 0;
    next = location[n];
    if (next == '\0' || next == '#')
        return n;
    /* The parameters start with '?', or with '&' when redirect_uri carries a query itself. */
    if (next == '?' && !strchr(redirect_uri, '?'))
        return n;
    if (next == '&' && strchr(redirect_uri, '?'))
        return n;
    return 0;
}

bool logto_password_is_callback(const char *location, const char *redirect_uri)
{
    return callback_prefix(location, redirect_uri) > 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict application/x-www-form-urlencoded decoding of s[0..len): no NUL, no control
 * characters, valid escapes only. NULL on error (or allocation failure: *oom set). */
static char *query_decode(const char *s, size_t len, bool *oom)
{
    char *out, *p;

    *oom = false;
    if (len > CALLBACK_VALUE_MAX * 3)
        return NULL;
    out = malloc(len + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    p = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1, lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                goto bad;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+')
            c = ' ';
        if (c < 0x20 || c == 0x7f)
            goto bad;
        *p++ = (char)c;
    }
    *p = '\0';
    if ((size_t)(p - out) > CALLBACK_VALUE_MAX)
        goto bad;
    return out;
bad:
    logto_freezero(out, len + 1);
    return NULL;
}

/* An OAuth error code is a short run of %x20-21 / %x23-5B / %x5D-7E (RFC 6749 4.1.2.1); we
 * only show plain ones. */
static const char *shown_error(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n == 0 || n > 64 ||
        strspn(e, "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ.:-") != n)
        return "(unprintable)";
    return e;
}

int logto_password_parse_callback(const char *location, const char *redirect_uri,
                                  const char *expected_state, const char *issuer, char **ret_code,
                                  struct logto_error *err)
{
    static const char *const names[] = { "code", "state", "iss", "error" };
    char *values[ELEMENTSOF(names)] = { NULL };
    size_t start = callback_prefix(location, redirect_uri), end;
    const char *p;
    int r = 0;

    *ret_code = NULL;
    if (!start)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the sign-in did not return to redirect_uri");
    for (p = location; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f)
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "the authorization response holds control characters");
    end = strcspn(location, "#");
    if (start >= end)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the authorization response has no "
                               "parameters");
    p = location + start + 1; /* after '?' or '&' */
    while (p < location + end && r >= 0) {
        size_t len = strcspn(p, "&#"), name_len;
        const char *eq = memchr(p, '=', len);
        bool oom;

        name_len = eq ? (size_t)(eq - p) : len;
        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
            if (strlen(names[k]) != name_len || strncmp(p, names[k], name_len) != 0)
                continue;
            if (values[k]) {
                r = logto_error_set(err, LOGTO_E_PROTOCOL,
                                    "the authorization response repeats \"%s\"", names[k]);
                break;
            }
            values[k] = query_decode(eq ? eq + 1 : p + len, eq ? len - name_len - 1 : 0, &oom);
            if (!values[k])
                r = oom ? LOGTO_OOM(err)
                        : logto_error_set(err, LOGTO_E_PROTOCOL,
                                          "the authorization response has a malformed \"%s\"",
                                          names[k]);
            break;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (r >= 0 && (!values[1] || !expected_state || strlen(values[1]) != strlen(expected_state) ||
                   !logto_memeq_consttime(values[1], expected_state, strlen(expected_state))))
        r = logto_error_set(err, LOGTO_E_PROTOCOL,
                            "the authorization response does not carry our state");
    if (r >= 0 && values[2] && (!issuer || strcmp(values[2], issuer) != 0))
        r = logto_error_set(err, LOGTO_E_PROTOCOL,
                            "the authorization response comes from another issuer (iss)");
    if (r >= 0 && values[3]) {
        if (strcmp(values[3], "access_denied") == 0)
            r = logto_error_set(err, LOGTO_E_DENIED, "the sign-in was refused (access_denied)");
        else
            r = logto_error_set(err, LOGTO_E_PROTOCOL, "the authorization request failed: %s",
                                shown_error(values[3]));
    }
    if (r >= 0 && (!values[0] || !values[0][0] ||
                   strspn(values[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-._~+/=") != strlen(values[0])))
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "the authorization response has no usable code");
    if (r >= 0)
        *ret_code = TAKE_PTR(values[0]);
    for (size_t k = 0; k < ELEMENTSOF(names); k++)
        logto_free_secret(values[k]);
    return r;
}

/* ------------------------------------------------------------------ error mapping */

/* "in 59 minutes" from Logto's "... Please try again in 59 minutes." (sanitised, short). */
static void lockout_when(const char *message, char *buf, size_t n)
{
    const char *p = message ? strstr(message, "try again ") : NULL;
    size_t k = 0;

    buf[0] = '\0';
    if (!p)
        return;
    p += strlen("try again ");
    while (*p && *p != '.' && k + 1 < n && k < 40) {
        unsigned char c = (unsigned char)*p++;
        if (!logto_ascii_alnum(c) && c != ' ')
            break;
        buf[k++] = (char)c;
    }
    buf[k] = '\0';
    if (k == 0 || !strchr(buf, ' '))
        buf[0] = '\0';
}

static bool code_is(const char *code, const char *want)
{
    return code && strcmp(code, want) == 0;
}

int logto_password_experience_error(long status, const char *code, const char *message,
                                    const char *identifier_type, struct logto_error *err)
{
    char when[48];

    if (status >= 500)
        return logto_error_set(err, LOGTO_E_UNREACHABLE, "the sign-in service answered HTTP %ld",
                               status);
    if (code_is(code, "session.invalid_credentials") || code_is(code, "user.user_not_exist"))
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    if (code_is(code, "session.verification_blocked_too_many_attempts")) {
        lockout_when(message, when, sizeof(when));
        if (when[0])
            return logto_error_set(err, LOGTO_E_LOCKED,
                                   "too many failed attempts: sign-in is locked; try again %s",
                                   when);
        return logto_error_set(err, LOGTO_E_LOCKED,
                               "too many failed attempts: sign-in is locked for now");
    }
    if (code_is(code, "user.suspended"))
        return logto_error_set(err, LOGTO_E_SUSPENDED, "the account is suspended");
    if (code_is(code, "password.expired"))
        return logto_error_set(err, LOGTO_E_DENIED, "password expired: change it in the browser");
    if (code_is(code, "session.captcha_required"))
        return logto_error_set(err, LOGTO_E_CAPTCHA,
                               "this tenant requires a captcha: use the device flow");
    if (code_is(code, "session.mfa.require_mfa_verification"))
        return logto_error_set(err, LOGTO_E_MFA,
                               "a second factor is required that cannot be given here: use the "
                               "device flow");
    if (code_is(code, "session.mfa.invalid_totp_code"))
        return logto_error_set(err, LOGTO_E_DENIED, "wrong one-time code");
    if (code_is(code, "user.missing_profile"))
        return logto_error_set(err, LOGTO_E_DENIED,
                               "the account needs more profile data: sign in once in the browser");
    if (code_is(code, "user.missing_mfa"))
        return logto_error_set(err, LOGTO_E_MFA,
                               "this account must set up 2-step verification first: set it up "
                               "once in the browser, or use the device flow");
    if (code_is(code, "user.suggest_mfa"))
        /* Only when skipping it failed (experience_signin skips it like Logto's Skip button). */
        return logto_error_set(err, LOGTO_E_MFA,
                               "Logto asks this account to set up 2-step verification: set it up "
                               "or skip it once in the browser, or use the device flow");
    if (code_is(code, "user.sign_in_method_not_enabled")) {
        bool email = logto_streq(identifier_type, "email");
        bool known = email || logto_streq(identifier_type, "username");
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "Logto's sign-in experience does not enable password sign-in with "
                               "%s: the administrator must enable it (Console, Sign-in "
                               "experience, Sign-up and sign-in: %s and password)",
                               !known  ? "this identifier"
                               : email ? "an e-mail address"
                                       : "a username",
                               !known  ? "username or e-mail address"
                               : email ? "e-mail address"
                                       : "username");
    }
    if (code_is(code, "session.not_found") || code_is(code, "session.interaction_not_found"))
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the sign-in session was lost (%s): cookies or interaction expired",
                               code);
    if (code && status >= 400 && status < 500) {
        /* Any other verdict: Logto's own words (sanitised, short), never "unavailable". */
        char said[LOGTO_PASSWORD_MESSAGE_MAX];
        logto_text_clean(said, sizeof(said), message, LOGTO_TEXT_ASCII);
        if (said[0])
            return logto_error_set(err, LOGTO_E_DENIED, "Logto refused the sign-in: %s (%s)", said,
                                   shown_error(code));
        return logto_error_set(err, LOGTO_E_DENIED, "Logto refused the sign-in (%s)",
                               shown_error(code));
    }
    if (code)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the sign-in service answered HTTP %ld (%s)",
                               status, shown_error(code));
    return logto_error_set(err, LOGTO_E_PROTOCOL, "the sign-in service answered HTTP %ld", status);
}

/* ------------------------------------------------------------------ results */

const char *logto_password_method_name(enum logto_password_method method)
{
    switch (method) {
    case LOGTO_PW_EXPERIENCE:
        return "experience";
    case LOGTO_PW_PAT:
        return "pat";
    case LOGTO_PW_MANAGEMENT:
        return "management";
    case LOGTO_PW_GRANT:
        return "grant";
    }
    return NULL;
}

void logto_password_result_free(struct logto_password_result *res)
{
    if (!res)
        return;
    logto_tokens_clear(&res->tokens);
    logto_json_wipe_decref(res->claims);
    free(res);
}

/* ------------------------------------------------------------------ shared */

/* Short printable identifiers from the network (verification IDs): 1..256 of %x21-7E. */
static bool printable_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 256)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static int new_session(const struct logto_ctx *ctx, unsigned flags, struct logto_http **http,
                       struct logto_oidc **oidc, struct logto_error *err)
{
    int r = logto_http_new(ctx, flags, http, err);

    if (r >= 0)
        r = logto_oidc_discover(ctx, *http, oidc, err);
    return r;
}

/* ------------------------------------------------------------------ Experience API */

struct experience {
    const struct logto_ctx *ctx;
    struct logto_http *http;
    struct logto_oidc *oidc;
    const char *user;
    struct logto_password_login login; /* what the Experience API is sent */
    char *api;                         /* <endpoint>/api/experience */
};

/* Logto's `code` and `message` of an error answer (borrowed from *holder). */
static void api_error_fields(const struct logto_http_response *resp, json_t **holder,
                             const char **code, const char **message)
{
    *holder = NULL;
    *code = *message = NULL;
    if (!resp->body || !logto_http_response_is_json(resp) ||
        logto_http_response_json(resp, "the error answer", holder, NULL) < 0)
        return;
    (void)logto_json_get_string(*holder, "code", 0, code, NULL);
    (void)logto_json_get_string(*holder, "message", 0, message, NULL);
}

static int experience_error(const struct experience *x, const char *step,
                            const struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_json_ json_t *holder = NULL;
    const char *code, *message;
    int r;

    api_error_fields(resp, &holder, &code, &message);
    r = logto_password_experience_error(resp->status, code, message, x->login.type, err);
    logto_log_debug(&x->ctx->log, "password-experience-step step=%s status=%ld result=%s", step,
                    resp->status, logto_errc_name(logto_errc_from(r)));
    return r;
}

/* One Experience API call; resp holds the answer (any status below 500). */
/* A request to the Experience API; body may be NULL ({}), secret_key names a member added
 * outside jansson (the password, a one-time code: json.h). */
static int experience_send(struct experience *x, const char *method, const char *path,
                           const json_t *body, const char *secret_key, const char *secret,
                           struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_free_ char *url = logto_asprintf("%s%s", x->api, path);
    _cleanup_json_ json_t *empty = NULL;
    int r;

    if (!url)
        return LOGTO_OOM(err);
    if (!body) {
        empty = json_object();
        if (!empty)
            return LOGTO_OOM(err);
        body = empty;
    }
    r = logto_http_send_json_secrets(x->http, method, url, body, &secret_key, &secret,
                                     secret_key ? 1 : 0, NULL, resp, err);
    if (r < 0)
        logto_error_prefix(err, "sign-in step %s %s", method, path[0] ? path : "/");
    return r;
}

static int experience_call(struct experience *x, const char *method, const char *path,
                           const json_t *body, struct logto_http_response *resp,
                           struct logto_error *err)
{
    return experience_send(x, method, path, body, NULL, NULL, resp, err);
}

/* The verificationId of a 200 answer. Caller frees. */
static int verification_id(const struct experience *x, const char *step,
                           const struct logto_http_response *resp, char **ret,
                           struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    const char *id = NULL;
    int r;

    if (resp->status != 200)
        return experience_error(x, step, resp, err);
    r = logto_http_response_json(resp, "the verification answer", &doc, err);
    if (r >= 0)
        r = logto_json_get_string(doc, "verificationId", LOGTO_JSON_REQUIRED, &id, err);
    if (r >= 0 && !printable_id(id))
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "verificationId is not an identifier");
    if (r < 0) {
        logto_error_prefix(err, "sign-in step %s", step);
        return r;
    }
    *ret = strdup(id);
    return *ret ? 0 : LOGTO_OOM(err);
}

/* Logto answers these steps with 204; a 200 is tolerated if what it carries is a JSON object. */
static int expect_no_content(const struct experience *x, const char *step,
                             const struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    int r;

    if (resp->status == 204)
        return 0;
    if (resp->status != 200)
        return experience_error(x, step, resp, err);
    if (resp->body_len == 0)
        return 0;
    r = logto_http_response_json(resp, "the answer", &doc, err);
    if (r < 0)
        logto_error_prefix(err, "sign-in step %s", step);
    return r;
}

/* A step Logto answers with 204: the call (body may be NULL) and expect_no_content. */
static int experience_step(struct experience *x, const char *method, const char *path,
                           const json_t *body, const char *step, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    int r = experience_call(x, method, path, body, &resp, err);

    return r < 0 ? r : expect_no_content(x, step, &resp, err);
}

/* Does a 403 session.mfa.require_mfa_verification answer offer TOTP? */
static bool mfa_offers_totp(const struct logto_http_response *resp)
{
    _cleanup_json_ json_t *doc = NULL;
    json_t *factors, *v;
    const char *code = NULL;
    size_t i;

    if (logto_http_response_json(resp, "the MFA answer", &doc, NULL) < 0 ||
        logto_json_get_string(doc, "code", 0, &code, NULL) < 0 || !code ||
        strcmp(code, "session.mfa.require_mfa_verification") != 0)
        return false;
    factors = json_object_get(json_object_get(doc, "data"), "availableFactors");
    json_array_foreach(factors, i, v) if (json_is_string(v) &&
                                          strcmp(json_string_value(v), "Totp") == 0) return true;
    return false;
}

static bool is_mfa_required(const struct logto_http_response *resp)
{
    _cleanup_json_ json_t *holder = NULL;
    const char *code, *message;

    api_error_fields(resp, &holder, &code, &message);
    return resp->status == 403 && code_is(code, "session.mfa.require_mfa_verification");
}

static bool is_error_code(const struct logto_http_response *resp, long status, const char *want)
{
    _cleanup_json_ json_t *holder = NULL;
    const char *code, *message;

    api_error_fields(resp, &holder, &code, &message);
    return resp->status == status && code_is(code, want);
}

/*
 * 422 user.suggest_mfa: MFA is optional under the tenant's policy and this user has neither set
 * it up nor skipped it. Do what the Skip button of Logto's sign-in page does (Logto remembers the
 * skip on the user) and tell the person, once, that it can be set up.
 */
static int experience_skip_mfa(struct experience *x, const struct logto_ui *ui,
                               struct logto_error *err)
{
    int r = experience_step(x, "POST", "/profile/mfa/mfa-skipped", NULL, "mfa-skipped", err);

    if (r < 0)
        return r;
    logto_log(&x->ctx->log, LOG_NOTICE, "password-experience-mfa-skipped user=%s", x->user);
    if (ui && ui->info)
        (void)ui->info(ui->data, "2-step verification is not set up for this account; you can "
                                 "set it up in your account settings in the browser.");
    return 0;
}

/* Ask the one-time code and verify it. */
static int experience_totp(struct experience *x, const struct logto_ui *ui, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_secret_ char *answer = NULL;
    _cleanup_free_ char *vid = NULL;
    char *code;
    int r;

    if (!ui || !ui->prompt)
        return logto_error_set(err, LOGTO_E_MFA,
                               "a one-time code is required, but cannot be asked here");
    r = ui->prompt(ui->data, false, "One-time code: ", &answer);
    if (r < 0 || !answer)
        return logto_error_set(err, LOGTO_E_MFA, "no one-time code was given");
    code = logto_strip(answer);
    if (!code[0])
        return logto_error_set(err, LOGTO_E_MFA, "no one-time code was given");
    if (strlen(code) > 16 || strspn(code, "0123456789") != strlen(code))
        return logto_error_set(err, LOGTO_E_DENIED, "wrong one-time code");
    r = experience_send(x, "POST", "/verification/totp/verify", NULL, "code", code, &resp, err);
    if (r < 0)
        return r;
    return verification_id(x, "totp", &resp, &vid, err);
}

/* Follow redirectTo and the Location headers after it to the redirect_uri; the code. */
static int experience_follow(struct experience *x, const char *redirect_to, const char *state,
                             char **ret_code, struct logto_error *err)
{
    const struct logto_config *cfg = x->ctx->cfg;
    _cleanup_free_ char *url = NULL;
    int r;

    r = logto_url_resolve_same_origin(x->api, redirect_to, &url, err);
    if (r < 0) {
        logto_error_prefix(err, "the sign-in redirect");
        return r;
    }
    for (int hop = 0; hop < LOGTO_PASSWORD_MAX_HOPS; hop++) {
        _cleanup_http_response_ struct logto_http_response resp = { 0 };
        char *next = NULL;

        r = logto_http_get(x->http, url, NULL, &resp, err);
        if (r < 0)
            return r;
        if ((resp.status == 302 || resp.status == 303) && resp.location) {
            if (logto_password_is_callback(resp.location, cfg->redirect_uri))
                return logto_password_parse_callback(resp.location, cfg->redirect_uri, state,
                                                     x->oidc->issuer, ret_code, err);
            r = logto_http_location(x->http, &resp, &next, err);
            if (r < 0) {
                logto_error_prefix(err, "the sign-in redirects");
                return r;
            }
            free(url);
            url = next;
            continue;
        }
        /* An error page instead of a redirect: OAuth error or Logto session error. */
        {
            _cleanup_json_ json_t *holder = NULL;
            const char *code, *message;
            api_error_fields(&resp, &holder, &code, &message);
            if (code)
                return experience_error(x, "redirect", &resp, err);
        }
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the sign-in redirects ended at HTTP %ld instead of redirect_uri",
                               resp.status);
    }
    return logto_error_set(err, LOGTO_E_PROTOCOL, "the sign-in took more than %d redirects",
                           LOGTO_PASSWORD_MAX_HOPS);
}

/* The authorization request URL: code + PKCE S256, prompt=consent (else Logto drops
 * offline_access), state and nonce, and the resources (logto_oidc_add_resources). */
static char *authorization_url(const struct logto_config *cfg, const struct logto_oidc *oidc,
                               const struct logto_pkce *pkce, const char *state, const char *nonce)
{
    _cleanup_form_ struct logto_form q = { 0 };
    _cleanup_free_ char *scope = logto_oidc_scope(cfg);

    if (!scope)
        return NULL;
    logto_form_add(&q, "client_id", cfg->password_client_id);
    logto_form_add(&q, "redirect_uri", cfg->redirect_uri);
    logto_form_add(&q, "response_type", "code");
    logto_form_add(&q, "scope", scope);
    logto_form_add(&q, "prompt", "consent");
    logto_form_add(&q, "code_challenge", pkce->challenge);
    logto_form_add(&q, "code_challenge_method", "S256");
    logto_form_add(&q, "state", state);
    logto_form_add(&q, "nonce", nonce);
    logto_oidc_add_resources(cfg, &q);
    if (q.failed)
        return NULL;
    return logto_asprintf("%s%s%s", oidc->authorization_endpoint,
                          strchr(oidc->authorization_endpoint, '?') ? "&" : "?", q.buf);
}

/* Start the interaction: GET the authorization endpoint and expect a redirect to the sign-in
 * page (which is not fetched: it is the SPA). */
static int experience_start(struct experience *x, const char *url, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *shown = logto_url_for_message(x->oidc->authorization_endpoint);
    int r;

    if (!shown)
        return LOGTO_OOM(err);
    r = logto_http_get(x->http, url, NULL, &resp, err);
    if (r < 0)
        return r;
    if ((resp.status == 302 || resp.status == 303) && resp.location) {
        if (logto_password_is_callback(resp.location, x->ctx->cfg->redirect_uri))
            /* Only an error can come back at once: we have no session yet. */
            return logto_error_set(err, LOGTO_E_CONFIG,
                                   "%s refused the request at once: check password_client_id, "
                                   "redirect_uri and scopes",
                                   shown);
        return 0;
    }
    if (resp.status >= 400) {
        r = logto_oauth_error_from_response(&resp, shown, NULL, err);
        if (r == -LOGTO_E_PROTOCOL && resp.status == 400)
            return logto_error_set(err, LOGTO_E_CONFIG,
                                   "%s refused the request (HTTP 400): check password_client_id "
                                   "and redirect_uri",
                                   shown);
        return r;
    }
    return logto_error_set(err, LOGTO_E_PROTOCOL,
                           "%s answered HTTP %ld instead of redirecting to the sign-in page", shown,
                           resp.status);
}

/* The identifier Logto stores for the user with ID sub (Management API): the username, else the
 * primary e-mail. Borrowed from *holder. */
static int stored_login(const struct logto_ctx *ctx, const char *sub, json_t **holder,
                        const char **ret_type, const char **ret_value)
{
    _cleanup_mgmt_ struct logto_mgmt *m = NULL;
    const char *v;
    int r;

    if (!ctx->cfg->m2m_client_id || !ctx->cfg->m2m_client_secret_file)
        return -LOGTO_E_UNSUPPORTED;
    r = logto_mgmt_new(ctx, &m, NULL);
    if (r == 0)
        r = logto_mgmt_get_user(m, sub, holder, NULL);
    if (r < 0) {
        logto_log_debug(&ctx->log, "password-experience-identifier sub=%s lookup=failed", sub);
        return r;
    }
    v = json_string_value(json_object_get(*holder, "username"));
    *ret_type = "username";
    if (!v || !v[0]) {
        v = json_string_value(json_object_get(*holder, "primaryEmail"));
        *ret_type = "email";
    }
    if (!v || !v[0])
        return -LOGTO_E_NOTFOUND;
    *ret_value = v;
    return 0;
}

static int experience_signin(const struct logto_ctx *ctx, const char *user,
                             const struct logto_password_login *login, const char *password,
                             const struct logto_ui *ui, struct logto_password_result *res,
                             struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    _cleanup_pkce_ struct logto_pkce pkce = { 0 };
    _cleanup_free_ char *state = NULL, *nonce = NULL, *url = NULL, *vid = NULL, *redirect = NULL;
    _cleanup_free_ char *api = NULL;
    _cleanup_secret_ char *code = NULL;
    _cleanup_form_ struct logto_form form = { 0 };
    struct logto_client client = { .client_id = cfg->password_client_id };
    struct experience x = { .ctx = ctx,
                            .user = user,
                            .login = { .type = "username", .value = user } };
    int r;

    _cleanup_json_ json_t *stored = NULL;

    if (login && !login->type && login->sub) {
        const char *type = NULL, *value = NULL;
        if (stored_login(ctx, login->sub, &stored, &type, &value) == 0) {
            x.login.type = type;
            x.login.value = value;
        }
    } else if (login && login->type && login->value) {
        x.login = *login;
    }
    if (!x.login.value[0] || strlen(x.login.value) > 256 ||
        (strcmp(x.login.type, "username") != 0 && strcmp(x.login.type, "email") != 0))
        x.login = (struct logto_password_login){ "username", user, NULL };

    if (cfg->profile != LOGTO_PROFILE_LOGTO || !cfg->endpoint)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "password_method experience needs profile logto and an endpoint");
    if (!cfg->password_client_id || !cfg->redirect_uri)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "password_method experience needs password_client_id and "
                               "redirect_uri");
    r = new_session(ctx, LOGTO_HTTP_COOKIES, &http, &oidc, err);
    if (r < 0)
        return r;
    if (!oidc->authorization_endpoint)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the provider has no authorization "
                               "endpoint");
    x.http = http;
    x.oidc = oidc;
    api = logto_asprintf("%s/api/experience", cfg->endpoint);
    if (!api)
        return LOGTO_OOM(err);
    x.api = api;

    if (strcmp(x.login.type, "username") != 0 || strcmp(x.login.value, user) != 0)
        logto_log_debug(&ctx->log, "password-experience-identifier user=%s type=%s", user,
                        x.login.type);
    r = logto_pkce_new(&pkce, err);
    if (r >= 0)
        r = logto_random_token(LOGTO_RANDOM_TOKEN_BYTES, &state, err);
    if (r >= 0)
        r = logto_random_token(LOGTO_RANDOM_TOKEN_BYTES, &nonce, err);
    if (r < 0)
        return r;
    url = authorization_url(cfg, oidc, &pkce, state, nonce);
    if (!url)
        return LOGTO_OOM(err);
    r = experience_start(&x, url, err);
    if (r < 0)
        return r;

    {
        _cleanup_json_ json_t *body = json_pack("{s:s}", "interactionEvent", "SignIn");
        if (!body)
            return LOGTO_OOM(err);
        r = experience_step(&x, "PUT", "", body, "start", err);
        if (r < 0)
            return r;
    }
    {
        _cleanup_http_response_ struct logto_http_response resp = { 0 };
        _cleanup_json_ json_t *body =
            json_pack("{s:{s:s, s:s}}", "identifier", "type", x.login.type, "value", x.login.value);
        if (!body)
            return LOGTO_OOM(err);
        r = experience_send(&x, "POST", "/verification/password", body, "password", password, &resp,
                            err);
        if (r >= 0)
            r = verification_id(&x, "password", &resp, &vid, err);
        if (r < 0)
            return r;
    }
    {
        _cleanup_json_ json_t *body = json_pack("{s:s}", "verificationId", vid);
        if (!body)
            return LOGTO_OOM(err);
        r = experience_step(&x, "POST", "/identification", body, "identification", err);
        if (r < 0)
            return r;
    }
    for (bool totp_done = false, mfa_skipped = false;;) {
        _cleanup_http_response_ struct logto_http_response resp = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        const char *to = NULL;

        r = experience_call(&x, "POST", "/submit", NULL, &resp, err);
        if (r < 0)
            return r;
        if (!totp_done && is_mfa_required(&resp)) {
            if (!mfa_offers_totp(&resp))
                return logto_error_set(err, LOGTO_E_MFA,
                                       "the account needs a second factor other than a one-time "
                                       "code: use the device flow");
            logto_log_debug(&ctx->log, "password-experience-step step=submit mfa=totp");
            r = experience_totp(&x, ui, err);
            if (r < 0)
                return r;
            totp_done = true;
            continue;
        }
        if (!mfa_skipped && is_error_code(&resp, 422, "user.suggest_mfa")) {
            r = experience_skip_mfa(&x, ui, err);
            if (r < 0)
                return r;
            mfa_skipped = true;
            continue;
        }
        if (resp.status != 200)
            return experience_error(&x, "submit", &resp, err);
        r = logto_http_response_json(&resp, "the submit answer", &doc, err);
        if (r >= 0)
            r = logto_json_get_string(doc, "redirectTo", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY,
                                      &to, err);
        if (r < 0) {
            logto_error_prefix(err, "sign-in step submit");
            return r;
        }
        redirect = strdup(to);
        if (!redirect)
            return LOGTO_OOM(err);
        break;
    }
    r = experience_follow(&x, redirect, state, &code, err);
    if (r < 0)
        return r;

    if (logto_form_add(&form, "grant_type", "authorization_code") < 0 ||
        logto_form_add(&form, "code", code) < 0 ||
        logto_form_add(&form, "redirect_uri", cfg->redirect_uri) < 0 ||
        logto_form_add(&form, "code_verifier", pkce.verifier) < 0)
        return LOGTO_OOM(err);
    r = logto_token_request(ctx, http, oidc, &client, &form, &res->tokens, NULL, err);
    if (r < 0)
        return r;
    if (!res->tokens.id_token)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the token answer has no ID token (is "
                               "openid among the scopes?)");
    return logto_oidc_verify_id_token(ctx, http, oidc, cfg->password_client_id,
                                      res->tokens.id_token, nonce, &res->claims, err);
}

/* ------------------------------------------------------------------ personal access tokens */

static int pat_signin(const struct logto_ctx *ctx, const char *pat,
                      struct logto_password_result *res, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_free_ char *scope = logto_oidc_scope(cfg);
    struct logto_client client = { .client_id = cfg->password_client_id };
    struct logto_oauth_error oerr = { 0 };
    int r;

    if (cfg->profile != LOGTO_PROFILE_LOGTO || !cfg->password_client_id)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "password_method pat needs profile logto and password_client_id");
    /* Logto PATs are "pat_" and 32 characters; nothing else is sent as a subject token (a
     * password typed by mistake stays here). */
    if (!logto_startswith(pat, "pat_") || strlen(pat) > 512 || !printable_id(pat))
        return logto_error_set(err, LOGTO_E_DENIED,
                               "that is not a personal access token (pat_...)");
    if (!scope)
        return LOGTO_OOM(err);
    r = new_session(ctx, 0, &http, &oidc, err);
    if (r < 0)
        return r;
    if (logto_form_add(&form, "grant_type", LOGTO_TOKEN_EXCHANGE) < 0 ||
        logto_form_add(&form, "subject_token", pat) < 0 ||
        logto_form_add(&form, "subject_token_type", LOGTO_PAT_TOKEN_TYPE) < 0 ||
        logto_form_add(&form, "scope", scope) < 0)
        return LOGTO_OOM(err);
    r = logto_token_request(ctx, http, oidc, &client, &form, &res->tokens, &oerr, err);
    if (r < 0) {
        if (strcmp(oerr.error, "invalid_grant") == 0)
            return logto_error_set(err, LOGTO_E_DENIED,
                                   "the personal access token is unknown, expired or revoked, or "
                                   "its user is suspended");
        /* Logto 1.42 answers an app without allowTokenExchange with invalid_request
         * "requested grant type is not allowed for this client" (logto-real-1.42.md D4). */
        if (strcmp(oerr.error, "unauthorized_client") == 0 ||
            strcmp(oerr.error, "unsupported_grant_type") == 0 ||
            (strcmp(oerr.error, "invalid_request") == 0 &&
             strstr(oerr.description, "grant type is not allowed")))
            return logto_error_set(err, LOGTO_E_CONFIG,
                                   "password_client_id %s may not exchange personal access tokens "
                                   "(%s%s%s): the administrator must enable token exchange for "
                                   "this app in Logto",
                                   cfg->password_client_id, oerr.error,
                                   oerr.description[0] ? ": " : "", oerr.description);
        return r;
    }
    /*
     * The exchange gives an opaque access token and no ID token, so there is no signature to
     * check: the claims are trusted because userinfo is fetched over verified TLS from the
     * configured issuer's own userinfo endpoint (taken from its discovery document) with the
     * token that issuer just handed us.
     */
    r = logto_userinfo(ctx, http, oidc, res->tokens.access_token, NULL, &res->claims, err);
    if (r < 0)
        logto_error_prefix(err, "userinfo after the token exchange");
    return r;
}

/* ------------------------------------------------------------------ Management API check */

static int management_signin(const struct logto_ctx *ctx, const char *user, const char *password,
                             struct logto_password_result *res, struct logto_error *err)
{
    _cleanup_mgmt_ struct logto_mgmt *m = NULL;
    _cleanup_json_ json_t *found = NULL, *full = NULL, *roles = NULL, *orgs = NULL;
    const char *id;
    bool suspended = false;
    int r;

    r = logto_mgmt_new(ctx, &m, err);
    if (r < 0)
        return r;
    r = logto_mgmt_find_user(m, user, &found, err);
    if (r == -LOGTO_E_NOTFOUND) {
        logto_log_debug(&ctx->log, "password-management user=%s found=no", user);
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    }
    if (r < 0)
        return r;
    id = json_string_value(json_object_get(found, "id"));
    r = logto_mgmt_verify_password(m, id, password, err);
    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    if (r < 0)
        return r;
    /* The route checks neither suspension nor anything else (§3.2): we do. */
    r = logto_mgmt_get_user(m, id, &full, err);
    if (r >= 0)
        r = logto_json_get_bool(full, "isSuspended", LOGTO_JSON_REQUIRED, &suspended, err);
    if (r < 0)
        return r;
    if (suspended)
        return logto_error_set(err, LOGTO_E_SUSPENDED, "the account is suspended");
    r = logto_mgmt_user_roles(m, id, &roles, err);
    if (r >= 0)
        r = logto_mgmt_user_organizations(m, id, &orgs, err);
    if (r >= 0)
        r = logto_mgmt_user_claims(full, roles, orgs, &res->claims, err);
    return r;
}

/* ------------------------------------------------------------------ OAuth password grant */

static int grant_signin(const struct logto_ctx *ctx, const char *user, const char *password,
                        struct logto_password_result *res, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_free_ char *scope = logto_oidc_scope(cfg);
    _cleanup_secret_ char *secret = NULL;
    struct logto_oauth_error oerr = { 0 };
    struct logto_client client = {
        .client_id = cfg->password_client_id ? cfg->password_client_id : cfg->client_id,
    };
    int r;

    if (!scope)
        return LOGTO_OOM(err);
    /* Logto has no password grant (logto-protocol.md §3): it never sees the password. */
    if (cfg->profile == LOGTO_PROFILE_LOGTO)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED,
                               "Logto has no password grant: use password_method experience or "
                               "pat, or the device flow");
    r = new_session(ctx, 0, &http, &oidc, err);
    if (r < 0)
        return r;
    /* grant_types_supported is advisory: some providers serve grants they do not list
     * (Glewlwyd lists neither password nor refresh_token). The answer decides. */
    if (!logto_oidc_supports_grant(oidc, "password"))
        logto_log_debug(&ctx->log, "password-grant-unlisted (discovery omits it; sent anyway)");
    if (cfg->client_secret_file) {
        r = logto_config_read_secret(cfg->client_secret_file, &secret, err);
        if (r < 0)
            return r;
        client.client_secret = secret;
    }
    if (logto_form_add(&form, "grant_type", "password") < 0 ||
        logto_form_add(&form, "username", user) < 0 ||
        logto_form_add(&form, "password", password) < 0 ||
        logto_form_add(&form, "scope", scope) < 0)
        return LOGTO_OOM(err);
    r = logto_token_request(ctx, http, oidc, &client, &form, &res->tokens, &oerr, err);
    if (r < 0) {
        if (strcmp(oerr.error, "invalid_grant") == 0)
            return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
        if (strcmp(oerr.error, "unsupported_grant_type") == 0 ||
            strcmp(oerr.error, "unauthorized_client") == 0)
            return logto_error_set(err, LOGTO_E_CONFIG,
                                   "the provider does not allow the password grant for client "
                                   "%s (%s%s%s): enable it for the client at the provider, or use "
                                   "the device flow",
                                   client.client_id, oerr.error, oerr.description[0] ? ": " : "",
                                   oerr.description);
        /* An error answer without an OAuth error (an empty body: Glewlwyd) is still a no. */
        if (!oerr.error[0] && (oerr.status == 400 || oerr.status == 401 || oerr.status == 403))
            return logto_error_set(err, LOGTO_E_DENIED,
                                   "the provider refused the user name or password (status %ld, "
                                   "no reason given)%s",
                                   oerr.status,
                                   client.client_secret ? ""
                                                        : "; some providers refuse the password "
                                                          "grant to public clients: see "
                                                          "client_secret_file");
        return r;
    }
    if (!res->tokens.id_token)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the token answer has no ID token (is "
                               "openid among the scopes?)");
    return logto_oidc_verify_id_token(ctx, http, oidc, client.client_id, res->tokens.id_token, NULL,
                                      &res->claims, err);
}

/* ------------------------------------------------------------------ entry point */

int logto_password_signin(const struct logto_ctx *ctx, enum logto_password_method method,
                          const char *user, const struct logto_password_login *login,
                          const char *password, const struct logto_ui *ui,
                          struct logto_password_result **ret, struct logto_error *err)
{
    _cleanup_(logto_password_result_freep) struct logto_password_result *res = NULL;
    const char *name = logto_password_method_name(method);
    const char *sub;
    int r;

    if (!ctx || !ctx->cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "no configuration");
    if (!name)
        return logto_error_set(err, LOGTO_E_CONFIG, "unknown password_method");
    if (!user || !user[0] || strlen(user) > 256)
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    if (!password || !password[0] || strlen(password) > LOGTO_PASSWORD_MAX_LEN)
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    res = calloc(1, sizeof(*res));
    if (!res)
        return LOGTO_OOM(err);
    res->method = name;

    switch (method) {
    case LOGTO_PW_EXPERIENCE:
        r = experience_signin(ctx, user, login, password, ui, res, err);
        break;
    case LOGTO_PW_PAT:
        r = pat_signin(ctx, password, res, err);
        break;
    case LOGTO_PW_MANAGEMENT:
        r = management_signin(ctx, user, password, res, err);
        break;
    case LOGTO_PW_GRANT:
        r = grant_signin(ctx, user, password, res, err);
        break;
    default:
        r = logto_error_set(err, LOGTO_E_CONFIG, "unknown password_method");
    }
    if (r < 0) {
        logto_log_debug(&ctx->log, "password-signin-failed method=%s user=%s error=%s", name, user,
                        logto_errc_name(logto_errc_from(r)));
        return r;
    }
    if (!res->claims)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the sign-in gave no claims");
    sub = json_string_value(json_object_get(res->claims, "sub"));
    logto_log(&ctx->log, LOG_INFO, "password-signin-ok method=%s user=%s sub=%s", name, user,
              sub ? sub : "?");
    *ret = TAKE_PTR(res);
    return 0;
}
