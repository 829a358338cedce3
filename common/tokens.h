/* SPDX-License-Identifier: MIT */
/*
 * Token endpoint operations: token responses, OAuth error answers, refresh with rotation,
 * userinfo and revocation (RFC 6749, RFC 7009, OIDC Core).
 *
 * OAuth errors are read from `error` only (Logto adds `code`/`message`, which are ignored) and
 * mapped: invalid_grant, access_denied, insufficient_scope -> LOGTO_E_DENIED; expired_token ->
 * LOGTO_E_EXPIRED; invalid_client, unauthorized_client, invalid_scope, invalid_target ->
 * LOGTO_E_CONFIG; unsupported_grant_type, unsupported_token_type -> LOGTO_E_UNSUPPORTED;
 * server_error, temporarily_unavailable -> LOGTO_E_UNREACHABLE; anything else (including
 * authorization_pending and slow_down outside the device flow) -> LOGTO_E_PROTOCOL.
 * Messages name the endpoint (without query), the HTTP status and the error code, and add the
 * IdP's error_description sanitised (printable ASCII, at most LOGTO_OAUTH_DESCRIPTION_MAX - 1
 * bytes): often the only place that says why ("requested grant type is not allowed for this
 * client", "user is not a member of the organization"). Never a token.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "error.h"
#include "http.h"
#include "store.h"

struct json_t;
struct logto_oidc;

/* The longest token accepted in an answer (bytes of printable ASCII). */
#define LOGTO_TOKEN_MAX (256 * 1024)

struct logto_tokens {
    char *access_token;  /* secret */
    char *refresh_token; /* secret; NULL when none was issued */
    char *id_token;      /* NULL when none was issued; verify before use */
    char *token_type;    /* "Bearer" */
    char *scope;         /* granted scopes, NULL when not sent */
    int64_t expires_in;  /* seconds; 0 when not sent */
    int64_t received_at; /* logto_now() when the answer arrived */
};

/* Wipe the secrets and free everything; the struct can be reused. */
void logto_tokens_clear(struct logto_tokens *tokens);
#define _cleanup_tokens_ _cleanup_(logto_tokens_clear)

/* The OAuth error of a refused request (RFC 6749 5.2), for callers that branch on it. */
#define LOGTO_OAUTH_DESCRIPTION_MAX 161
struct logto_oauth_error {
    char error[64]; /* "" when the answer carried none */
    long status;
    char description[LOGTO_OAUTH_DESCRIPTION_MAX]; /* error_description, sanitised; "" if none */
};

/* A client at the token endpoint: public (no secret: client_id in the body) or confidential
 * (client_secret_basic). */
struct logto_client {
    const char *client_id;
    const char *client_secret;
};

/*
 * The client that holds a refresh token: refresh tokens are bound to the app that got them
 * (device flow: client_id; Experience API: password_client_id; password grant: client_id). A
 * confidential client's secret is read into *ret_secret (NULL when none), which the caller
 * wipes and frees; client->client_secret points into it. LOGTO_E_CONFIG when the app has no ID.
 */
int logto_refresh_client(const struct logto_config *cfg, enum logto_auth_method method,
                         struct logto_client *client, char **ret_secret, struct logto_error *err);

/*
 * Parse a token endpoint answer: HTTP 200 with access_token and token_type Bearer (required),
 * refresh_token, id_token, scope (optional strings), expires_in (optional, 0..10 years). Any
 * other status is an OAuth error (see above), filled into oerr when given.
 */
int logto_tokens_from_response(const struct logto_ctx *ctx, const struct logto_http_response *resp,
                               const char *endpoint, struct logto_tokens *ret,
                               struct logto_oauth_error *oerr, struct logto_error *err);

/* Map an error answer (status >= 300) to -LOGTO_E_* with a message; oerr may be NULL. */
int logto_oauth_error_from_response(const struct logto_http_response *resp, const char *endpoint,
                                    struct logto_oauth_error *oerr, struct logto_error *err);

/* POST form to url as client: client_id appended to a public client's form, HTTP Basic
 * (RFC 6749 2.3.1) for a confidential one. */
int logto_client_post_form(struct logto_http *http, const char *url,
                           const struct logto_client *client, struct logto_form *form,
                           struct logto_http_response *resp, struct logto_error *err);

/*
 * POST form (grant_type and the grant's parameters) to the token endpoint, adding client
 * authentication, and parse the answer into *ret. The form is not changed but for the client
 * fields appended to it.
 */
int logto_token_request(const struct logto_ctx *ctx, struct logto_http *http,
                        const struct logto_oidc *oidc, const struct logto_client *client,
                        struct logto_form *form, struct logto_tokens *ret,
                        struct logto_oauth_error *oerr, struct logto_error *err);

/*
 * Stores rotated tokens durably (the token record) before they are used. Return 0, or a
 * negative -LOGTO_E_* (then the new tokens are not used). tokens->id_token is not verified yet
 * at this point: store the refresh token, not claims from it.
 */
typedef int (*logto_tokens_persist_fn)(void *data, const struct logto_tokens *tokens,
                                       struct logto_error *err);

struct logto_refresh_request {
    const struct logto_client *client;
    const char *refresh_token;
    const char *expected_sub; /* a new ID token must have this sub (NULL: not checked) */
    logto_tokens_persist_fn persist;
    void *persist_data;
    /* Optional (NULL: not sent): an access token for an API resource (RFC 8707 `resource`, which
     * must have been requested at sign-in) or, with Logto, for an organization
     * (`organization_id`: aud urn:logto:organization:<id>), limited to scope. */
    const char *resource;
    const char *organization_id;
    const char *scope;
    /* Optional out: the OAuth error of a refusal ("" when none), e.g. access_denied, which Logto
     * answers when app-level access control keeps the user out of the app (the grant stays). */
    struct logto_oauth_error *oerr;
};

/*
 * Refresh with rotation. The new refresh token (or, if the IdP did not rotate, the old one) is
 * handed to persist first: the old one is spent, and losing the new one loses the grant (reusing
 * a spent refresh token makes Logto revoke it). Then a new ID token, if any, is verified and its
 * claims returned in *ret_claims (NULL when none came). Only then are the tokens returned for
 * use. If persist fails, the call fails and nothing is returned. A 400 or 401 without an OAuth
 * error in its body (empty, not JSON: Glewlwyd) is a refused grant, LOGTO_E_DENIED, as
 * invalid_grant is.
 */
int logto_tokens_refresh(const struct logto_ctx *ctx, struct logto_http *http,
                         struct logto_oidc *oidc, const struct logto_refresh_request *req,
                         struct logto_tokens *ret, struct json_t **ret_claims,
                         struct logto_error *err);

/*
 * Userinfo with an opaque access token (Logto: custom_data, identities, organization_data come
 * only from here). The answer must be a JSON object with sub; with expected_sub it must be that
 * sub (OIDC Core 5.3.2).
 */
int logto_userinfo(const struct logto_ctx *ctx, struct logto_http *http,
                   const struct logto_oidc *oidc, const char *access_token,
                   const char *expected_sub, struct json_t **ret, struct logto_error *err);

/* Revoke a token (RFC 7009); hint is "refresh_token", "access_token" or NULL. */
int logto_tokens_revoke(const struct logto_ctx *ctx, struct logto_http *http,
                        const struct logto_oidc *oidc, const struct logto_client *client,
                        const char *token, const char *hint, struct logto_error *err);
