/* SPDX-License-Identifier: MIT */
/* Token responses, OAuth errors, refresh with rotation, userinfo and revocation. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "memory.h"
#include "oidc.h"
#include "text.h"
#include "tokens.h"
#include "util.h"

#define EXPIRES_IN_MAX (10LL * 365 * 86400)

void logto_tokens_clear(struct logto_tokens *t)
{
    if (!t)
        return;
    logto_free_secret(t->access_token);
    logto_free_secret(t->refresh_token);
    logto_free_secret(t->id_token);
    free(t->token_type);
    free(t->scope);
    *t = (struct logto_tokens){ 0 };
}

/* ------------------------------------------------------------------ OAuth errors */

static const struct {
    const char *error;
    enum logto_errc code;
    const char *meaning;
} oauth_errors[] = {
    { "invalid_grant", LOGTO_E_DENIED,
      "the code or refresh token is invalid, expired, revoked or already used" },
    { "access_denied", LOGTO_E_DENIED, "the sign-in was denied" },
    { "insufficient_scope", LOGTO_E_DENIED, "the grant lacks a required scope" },
    { "invalid_token", LOGTO_E_DENIED, "the access token is invalid or expired" },
    { "expired_token", LOGTO_E_EXPIRED, "the sign-in code expired" },
    { "invalid_client", LOGTO_E_CONFIG, "the provider does not accept this client or secret" },
    { "unauthorized_client", LOGTO_E_CONFIG, "this client may not use this grant" },
    { "invalid_scope", LOGTO_E_CONFIG, "a requested scope is not allowed" },
    { "invalid_target", LOGTO_E_CONFIG, "the requested resource is not allowed" },
    { "unsupported_grant_type", LOGTO_E_UNSUPPORTED, "the provider does not offer this grant" },
    { "unsupported_token_type", LOGTO_E_UNSUPPORTED, "the provider cannot revoke this token" },
    { "server_error", LOGTO_E_UNREACHABLE, "the provider failed" },
    { "temporarily_unavailable", LOGTO_E_UNREACHABLE, "the provider is unavailable" },
    { "invalid_request", LOGTO_E_PROTOCOL, "the provider found the request malformed" },
    { "authorization_pending", LOGTO_E_PROTOCOL, "the sign-in is not finished" },
    { "slow_down", LOGTO_E_PROTOCOL, "the provider asks to poll more slowly" },
};

/* RFC 6749 5.2: error codes are printable ASCII without '"' and '\'. */
static bool valid_error_code(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof(((struct logto_oauth_error *)0)->error))
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* The `error` of an answer body, if it is JSON and has a well-formed one. */
static void read_error_code(const struct logto_http_response *resp, struct logto_oauth_error *o)
{
    _cleanup_json_ json_t *doc = NULL;
    const char *code = NULL;

    o->error[0] = '\0';
    o->description[0] = '\0';
    o->status = resp->status;
    if (logto_http_response_json(resp, "the error answer", (struct json_t **)&doc, NULL) < 0 ||
        logto_json_get_string(doc, "error", 0, &code, NULL) < 0 || !code || !valid_error_code(code))
        return;
    snprintf(o->error, sizeof(o->error), "%s", code);
    logto_text_clean(o->description, sizeof(o->description),
                     json_string_value(json_object_get(doc, "error_description")),
                     LOGTO_TEXT_ASCII);
}

int logto_oauth_error_from_response(const struct logto_http_response *resp, const char *endpoint,
                                    struct logto_oauth_error *oerr, struct logto_error *err)
{
    struct logto_oauth_error local;
    struct logto_oauth_error *o = oerr ? oerr : &local;

    read_error_code(resp, o);
    if (!o->error[0])
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s answered HTTP %ld without an OAuth error",
                               endpoint, resp->status);
    for (size_t i = 0; i < ELEMENTSOF(oauth_errors); i++)
        if (strcmp(o->error, oauth_errors[i].error) == 0)
            return logto_error_set(err, oauth_errors[i].code, "%s refused the request: %s (%s)%s%s",
                                   endpoint, o->error, oauth_errors[i].meaning,
                                   o->description[0] ? ": " : "", o->description);
    return logto_error_set(err, LOGTO_E_PROTOCOL, "%s refused the request: HTTP %ld, error %s%s%s",
                           endpoint, resp->status, o->error, o->description[0] ? ": " : "",
                           o->description);
}

/* ------------------------------------------------------------------ token responses */

static int dup_field(const json_t *doc, const char *key, unsigned flags, char **ret,
                     struct logto_error *err)
{
    const char *v = NULL;
    int r = logto_json_get_string(doc, key, flags | LOGTO_JSON_NONEMPTY, &v, err);

    if (r < 0 || !v)
        return r;
    *ret = strdup(v);
    return *ret ? 0 : LOGTO_OOM(err);
}

/* The members of a token answer that jansson never sees (json.h): cut out of the text. */
enum { TOKEN_ACCESS, TOKEN_REFRESH, TOKEN_ID, N_TOKEN_SECRETS };

static int parse_token_fields(const json_t *doc, struct logto_json_secret *sec,
                              struct logto_tokens *t, struct logto_error *err)
{
    const char *scope = NULL;
    int r;

    if (!sec[TOKEN_ACCESS].value)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"access_token\" is missing");
    if ((r = dup_field(doc, "token_type", LOGTO_JSON_REQUIRED, &t->token_type, err)) < 0 ||
        (r = logto_json_get_string(doc, "scope", 0, &scope, err)) < 0 ||
        (r = logto_json_get_int(doc, "expires_in", 0, 0, EXPIRES_IN_MAX, &t->expires_in, err)) < 0)
        return r;
    t->access_token = TAKE_PTR(sec[TOKEN_ACCESS].value);
    t->refresh_token = TAKE_PTR(sec[TOKEN_REFRESH].value);
    t->id_token = TAKE_PTR(sec[TOKEN_ID].value);
    /* "" is a token without scopes (an API resource token of a user holding none of its
     * permissions): legal, and refusing it would drop a rotated refresh token. */
    if (scope && !(t->scope = strdup(scope)))
        return LOGTO_OOM(err);
    /* Only bearer tokens are understood (no DPoP, no MAC). */
    if (logto_ascii_strcasecmp(t->token_type, "Bearer") != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "token_type is not Bearer");
    return 0;
}

int logto_refresh_client(const struct logto_config *cfg, enum logto_auth_method method,
                         struct logto_client *client, char **ret_secret, struct logto_error *err)
{
    *ret_secret = NULL;
    *client = (struct logto_client){ .client_id = cfg->client_id };
    if (method == LOGTO_AUTH_EXPERIENCE)
        client->client_id = cfg->password_client_id;
    else if (cfg->client_secret_file) {
        int r = logto_config_read_secret(cfg->client_secret_file, ret_secret, err);
        if (r < 0)
            return r;
        client->client_secret = *ret_secret;
    }
    if (!client->client_id)
        return logto_error_set(err, LOGTO_E_CONFIG, "no client ID configured for %s sign-ins",
                               logto_auth_method_name(method));
    return 0;
}

int logto_tokens_from_response(const struct logto_ctx *ctx, const struct logto_http_response *resp,
                               const char *endpoint, struct logto_tokens *ret,
                               struct logto_oauth_error *oerr, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    _cleanup_json_ json_t *doc = NULL;
    struct logto_json_secret sec[N_TOKEN_SECRETS] = {
        [TOKEN_ACCESS] = { .key = "access_token" },
        [TOKEN_REFRESH] = { .key = "refresh_token" },
        [TOKEN_ID] = { .key = "id_token" },
    };
    int r;

    if (oerr)
        *oerr = (struct logto_oauth_error){ .status = resp->status };
    if (resp->status != 200)
        return logto_oauth_error_from_response(resp, endpoint, oerr, err);
    r = logto_json_parse_object_secrets(resp->body, resp->body_len, resp->body_len + 1,
                                        LOGTO_JSON_MAX_DEPTH, "the token answer", sec,
                                        N_TOKEN_SECRETS, LOGTO_TOKEN_MAX, &doc, err);
    if (r >= 0)
        r = parse_token_fields(doc, sec, &t, err);
    logto_json_secrets_clear(sec, N_TOKEN_SECRETS);
    if (r < 0) {
        logto_error_prefix(err, "%s", endpoint);
        return r;
    }
    t.received_at = logto_now(ctx);
    logto_tokens_clear(ret);
    *ret = t;
    t = (struct logto_tokens){ 0 };
    return 0;
}

/* client_id in the body for a public client, HTTP Basic for a confidential one. */
static int add_client(struct logto_form *form, const struct logto_client *client,
                      struct logto_error *err)
{
    if (!client || !client->client_id)
        return logto_error_set(err, LOGTO_E_CONFIG, "no client_id is configured");
    if (!client->client_secret && logto_form_add(form, "client_id", client->client_id) < 0)
        return LOGTO_OOM(err);
    return 0;
}

int logto_client_post_form(struct logto_http *http, const char *url,
                           const struct logto_client *client, struct logto_form *form,
                           struct logto_http_response *resp, struct logto_error *err)
{
    int r = add_client(form, client, err);

    if (r < 0)
        return r;
    return logto_http_post_form(http, url, form, client->client_secret ? client->client_id : NULL,
                                client->client_secret, resp, err);
}

int logto_token_request(const struct logto_ctx *ctx, struct logto_http *http,
                        const struct logto_oidc *oidc, const struct logto_client *client,
                        struct logto_form *form, struct logto_tokens *ret,
                        struct logto_oauth_error *oerr, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *shown = logto_url_for_message(oidc->token_endpoint);
    int r;

    if (oerr)
        *oerr = (struct logto_oauth_error){ 0 };
    if (!shown)
        return LOGTO_OOM(err);
    r = logto_client_post_form(http, oidc->token_endpoint, client, form, &resp, err);
    if (r < 0)
        return r;
    return logto_tokens_from_response(ctx, &resp, shown, ret, oerr, err);
}

/* ------------------------------------------------------------------ refresh */

static int check_refreshed_id_token(const struct logto_ctx *ctx, struct logto_http *http,
                                    struct logto_oidc *oidc,
                                    const struct logto_refresh_request *req, const char *id_token,
                                    json_t **ret_claims, struct logto_error *err)
{
    _cleanup_json_ json_t *claims = NULL;
    const char *sub;
    int r;

    r = logto_oidc_verify_id_token(ctx, http, oidc, req->client->client_id, id_token, NULL,
                                   (struct json_t **)&claims, err);
    if (r < 0)
        return r;
    /* OIDC Core 12.2: a refreshed ID token is about the same person. */
    sub = json_string_value(json_object_get(claims, "sub"));
    if (req->expected_sub && (!sub || strcmp(sub, req->expected_sub) != 0))
        return logto_error_set(err, LOGTO_E_TOKEN, "the refreshed ID token is for another sub");
    *ret_claims = TAKE_PTR(claims);
    return 0;
}

int logto_tokens_refresh(const struct logto_ctx *ctx, struct logto_http *http,
                         struct logto_oidc *oidc, const struct logto_refresh_request *req,
                         struct logto_tokens *ret, struct json_t **ret_claims,
                         struct logto_error *err)
{
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    _cleanup_json_ json_t *claims = NULL;
    bool rotated;
    struct logto_oauth_error oerr = { 0 };
    int r;

    if (!req || !req->refresh_token || !req->persist)
        return logto_error_set(err, LOGTO_E_INVAL,
                               "a refresh needs a token and a way to store "
                               "the rotated one");
    logto_form_add(&form, "grant_type", "refresh_token");
    logto_form_add(&form, "refresh_token", req->refresh_token);
    if (req->resource)
        logto_form_add(&form, "resource", req->resource);
    if (req->organization_id)
        logto_form_add(&form, "organization_id", req->organization_id);
    if (req->scope)
        logto_form_add(&form, "scope", req->scope);
    if (form.failed)
        return LOGTO_OOM(err);
    r = logto_token_request(ctx, http, oidc, req->client, &form, &t, &oerr, err);
    if (req->oerr)
        *req->oerr = oerr;
    if (r == -LOGTO_E_PROTOCOL && !oerr.error[0] && (oerr.status == 400 || oerr.status == 401)) {
        /* Providers may refuse without an OAuth body: the grant is refused all the same. */
        _cleanup_free_ char *shown = logto_url_for_message(oidc->token_endpoint);
        r = logto_error_set(err, LOGTO_E_DENIED,
                            "%s refused the refresh token (HTTP %ld without an OAuth error)",
                            shown ? shown : "the token endpoint", oerr.status);
    }
    if (r < 0)
        return r;
    /* A provider that does not rotate leaves the old token valid: keep that one. */
    if (!t.refresh_token && !(t.refresh_token = strdup(req->refresh_token)))
        return LOGTO_OOM(err);
    /* Compared before persist: req->refresh_token may be the very string persist replaces (the
     * token record's), so it must not be read after that. */
    rotated = strcmp(t.refresh_token, req->refresh_token) != 0;
    r = req->persist(req->persist_data, &t, err);
    if (r < 0) {
        logto_error_prefix(err, "the rotated refresh token could not be stored");
        logto_log(&ctx->log, LOG_ERR, "token-refresh-not-stored error=%s",
                  logto_errc_name(logto_errc_from(r)));
        return r;
    }
    if (t.id_token) {
        r = check_refreshed_id_token(ctx, http, oidc, req, t.id_token, &claims, err);
        if (r < 0)
            return r;
    }
    logto_log_debug(&ctx->log, "token-refreshed rotated=%s id_token=%s", rotated ? "yes" : "no",
                    t.id_token ? "yes" : "no");
    logto_tokens_clear(ret);
    *ret = t;
    t = (struct logto_tokens){ 0 };
    if (ret_claims)
        *ret_claims = TAKE_PTR(claims);
    return 0;
}

/* ------------------------------------------------------------------ userinfo, revocation */

static int parse_userinfo(const struct logto_http_response *resp, const char *shown,
                          const char *expected_sub, json_t **ret, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    const char *sub = NULL;
    int r;

    if (resp->content_type &&
        logto_ascii_strncasecmp(resp->content_type, "application/jwt", 15) == 0)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED,
                               "%s answered with a signed JWT, which "
                               "is not supported",
                               shown);
    r = logto_http_response_json(resp, "the userinfo answer", (struct json_t **)&doc, err);
    if (r >= 0)
        r = logto_json_get_string(doc, "sub", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY, &sub, err);
    if (r < 0) {
        logto_error_prefix(err, "%s", shown);
        return r;
    }
    if (expected_sub && strcmp(sub, expected_sub) != 0)
        return logto_error_set(err, LOGTO_E_TOKEN, "%s answered for another sub", shown);
    *ret = TAKE_PTR(doc);
    return 0;
}

int logto_userinfo(const struct logto_ctx *ctx, struct logto_http *http,
                   const struct logto_oidc *oidc, const char *access_token,
                   const char *expected_sub, struct json_t **ret, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *shown = NULL;
    int r;

    if (!oidc->userinfo_endpoint)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED, "the provider has no userinfo endpoint");
    shown = logto_url_for_message(oidc->userinfo_endpoint);
    if (!shown)
        return LOGTO_OOM(err);
    r = logto_http_get(http, oidc->userinfo_endpoint, access_token, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200)
        return logto_oauth_error_from_response(&resp, shown, NULL, err);
    r = parse_userinfo(&resp, shown, expected_sub, (json_t **)ret, err);
    if (r >= 0)
        logto_log_debug(&ctx->log, "userinfo-ok");
    return r;
}

int logto_tokens_revoke(const struct logto_ctx *ctx, struct logto_http *http,
                        const struct logto_oidc *oidc, const struct logto_client *client,
                        const char *token, const char *hint, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_free_ char *shown = NULL;
    int r;

    if (!oidc->revocation_endpoint)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED, "the provider has no revocation endpoint");
    shown = logto_url_for_message(oidc->revocation_endpoint);
    if (!shown || logto_form_add(&form, "token", token ? token : "") < 0 ||
        (hint && logto_form_add(&form, "token_type_hint", hint) < 0))
        return LOGTO_OOM(err);
    r = logto_client_post_form(http, oidc->revocation_endpoint, client, &form, &resp, err);
    if (r < 0)
        return r;
    /* RFC 7009 2.2: 200 also for tokens that were already invalid. */
    if (resp.status != 200) {
        struct logto_oauth_error o = { 0 };
        r = logto_oauth_error_from_response(&resp, shown, &o, err);
        /* Some providers (Glewlwyd) revoke only for authenticated clients: they answer a
         * public one 401, with or without invalid_client. A refusal, not an outage. */
        if (!client->client_secret &&
            (resp.status == 401 || resp.status == 403 || strcmp(o.error, "invalid_client") == 0))
            return logto_error_set(err, LOGTO_E_DENIED,
                                   "%s refused to revoke for the public client %s (HTTP %ld%s%s): "
                                   "this provider revokes only for a confidential client (set "
                                   "client_secret_file)",
                                   shown, client->client_id, resp.status, o.error[0] ? ", " : "",
                                   o.error);
        return r;
    }
    logto_log_debug(&ctx->log, "token-revoked hint=%s", hint ? hint : "-");
    return 0;
}
