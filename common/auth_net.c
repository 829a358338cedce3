/* SPDX-License-Identifier: MIT */
/*
 * The network half of the sign-in and account pipelines (net.h): flows, refresh, userinfo,
 * Management API lookups and revocation. Built into pam_logto_net.so and into logtoctl.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "device.h"
#include "http.h"
#include "json.h"
#include "memory.h"
#include "mgmt.h"
#include "net.h"
#include "oidc.h"
#include "password.h"
#include "store.h"
#include "tokens.h"
#include "util.h"

/* Userinfo adds what the ID token lacks (Logto: custom_data, identities, organization_data). */
static int add_userinfo(const struct logto_ctx *ctx, struct logto_idp *idp,
                        const char *access_token, json_t *claims, struct logto_error *err)
{
    _cleanup_json_ json_t *info = NULL;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *key;
    json_t *value;
    int r;

    if (!idp->oidc->userinfo_endpoint || !access_token)
        return 0;
    r = logto_userinfo(ctx, idp->http, idp->oidc, access_token, sub, &info, err);
    if (r < 0)
        return r;
    json_object_foreach(info, key, value)
    {
        if (!json_object_get(claims, key) && json_object_set(claims, key, value) < 0)
            return LOGTO_OOM(err);
    }
    return 0;
}

/* Hand the claims and the refresh token (if any) over; the tokens are wiped by the caller. */
static int take_signin(json_t **claims, const struct logto_tokens *tokens, const char *method,
                       struct logto_net_signin *out, struct logto_error *err)
{
    *out = (struct logto_net_signin){ .method = method };
    if (tokens && tokens->refresh_token && !(out->refresh_token = strdup(tokens->refresh_token)))
        return LOGTO_OOM(err);
    out->claims = TAKE_PTR(*claims);
    return 0;
}

static int net_device_signin(const struct logto_ctx *ctx, const struct logto_service *svc,
                             const struct logto_ui *ui, struct logto_net_signin *out,
                             struct logto_error *err)
{
    _cleanup_json_ json_t *claims = NULL;
    _cleanup_tokens_ struct logto_tokens tokens = { 0 };
    struct logto_idp idp;
    int r;

    r = logto_idp_open(ctx, &idp, err);
    if (r == 0)
        r = logto_device_signin(ctx, idp.http, idp.oidc, svc, ui, &tokens, &claims, err);
    if (r == 0)
        r = add_userinfo(ctx, &idp, tokens.access_token, claims, err);
    logto_idp_close(&idp);
    return r < 0 ? r : take_signin(&claims, &tokens, "device", out, err);
}

static int net_password_signin(const struct logto_ctx *ctx, enum logto_password_method method,
                               const char *user, const struct logto_password_login *login,
                               const char *password, const struct logto_ui *ui,
                               struct logto_net_signin *out, struct logto_error *err)
{
    _cleanup_(logto_password_result_freep) struct logto_password_result *pw = NULL;
    int r;

    r = logto_password_signin(ctx, method, user, login, password, ui, &pw, err);
    if (r < 0)
        return r;
    /* The Experience API and the password grant give an access token: userinfo adds
     * custom_data. PAT claims come from userinfo already; management has no user token. */
    if (method != LOGTO_PW_MANAGEMENT && method != LOGTO_PW_PAT && pw->tokens.access_token) {
        struct logto_idp idp;
        r = logto_idp_open(ctx, &idp, err);
        if (r == 0)
            r = add_userinfo(ctx, &idp, pw->tokens.access_token, pw->claims, err);
        logto_idp_close(&idp);
        if (r < 0)
            return r;
    }
    return take_signin(&pw->claims, &pw->tokens, pw->method, out, err);
}

struct persist_adapter {
    const struct logto_net_refresh *req;
};

static int persist_rotated(void *data, const struct logto_tokens *tokens, struct logto_error *err)
{
    const struct logto_net_refresh *req = ((struct persist_adapter *)data)->req;
    return req->persist(req->persist_data, tokens->refresh_token, err);
}

static int net_refresh(const struct logto_ctx *ctx, const struct logto_net_refresh *req,
                       struct logto_net_signin *out, struct logto_error *err)
{
    _cleanup_json_ json_t *claims = NULL;
    _cleanup_tokens_ struct logto_tokens tokens = { 0 };
    _cleanup_secret_ char *secret = NULL;
    struct persist_adapter pa = { .req = req };
    struct logto_oauth_error oerr = { 0 };
    struct logto_client client;
    struct logto_idp idp = { 0 };
    int r;

    r = logto_refresh_client(ctx->cfg, req->method, &client, &secret, err);
    if (r == 0)
        r = logto_idp_open(ctx, &idp, err);
    if (r == 0) {
        struct logto_refresh_request rr = {
            .client = &client,
            .refresh_token = req->refresh_token,
            .expected_sub = req->expected_sub,
            .persist = persist_rotated,
            .persist_data = &pa,
            .oerr = &oerr,
        };
        r = logto_tokens_refresh(ctx, idp.http, idp.oidc, &rr, &tokens, &claims, err);
        if (req->ret_no_access)
            *req->ret_no_access = r == -LOGTO_E_DENIED && strcmp(oerr.error, "access_denied") == 0;
    }
    if (r == 0 && !claims && !(claims = json_object()))
        r = LOGTO_OOM(err);
    if (r == 0)
        r = add_userinfo(ctx, &idp, tokens.access_token, claims, err);
    logto_idp_close(&idp);
    /* The rotated refresh token went to persist; nothing else leaves. */
    return r < 0 ? r : take_signin(&claims, NULL, "refresh", out, err);
}

/* Claims from the Management API: the way to decide for users without a token record. */
static int net_mgmt_claims(const struct logto_ctx *ctx, const char *user, json_t **ret_claims,
                           bool *ret_suspended, struct logto_error *err)
{
    _cleanup_(logto_mgmt_freep) struct logto_mgmt *m = NULL;
    _cleanup_json_ json_t *u = NULL, *roles = NULL, *orgs = NULL;
    const char *id;
    int r;

    if ((r = logto_mgmt_new(ctx, &m, err)) < 0 || (r = logto_mgmt_find_user(m, user, &u, err)) < 0)
        return r;
    id = json_string_value(json_object_get(u, "id"));
    if (!id)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "Management API user without an id");
    if ((r = logto_mgmt_user_roles(m, id, &roles, err)) < 0 ||
        (r = logto_mgmt_user_organizations(m, id, &orgs, err)) < 0)
        return r;
    *ret_suspended = json_is_true(json_object_get(u, "isSuspended"));
    return logto_mgmt_user_claims(u, roles, orgs, ret_claims, err);
}

/* Append the users of list that are not in all yet (by id). */
static int add_users(json_t *all, const json_t *list)
{
    json_t *u, *v;
    size_t i, k;

    json_array_foreach(list, i, u)
    {
        bool seen = false;
        json_array_foreach(all, k, v)
        {
            seen = seen || logto_streq(json_string_value(json_object_get(v, "id")),
                                       json_string_value(json_object_get(u, "id")));
        }
        if (!seen && json_array_append(all, u) < 0)
            return -LOGTO_E_NOMEM;
    }
    return 0;
}

static int net_name_claimants(const struct logto_ctx *ctx, const char *name,
                              const char *const *subs, struct logto_identity ***ret, size_t *ret_n,
                              struct logto_error *err)
{
    _cleanup_(logto_mgmt_freep) struct logto_mgmt *m = NULL;
    _cleanup_json_ json_t *all = json_array();
    struct logto_identity **ids = NULL;
    size_t n = 0, i;
    json_t *u;
    int r;

    if (!all)
        return LOGTO_OOM(err);
    r = logto_mgmt_new(ctx, &m, err);
    if (r >= 0) {
        _cleanup_json_ json_t *found = NULL;
        r = logto_mgmt_search_exact(m, "username", name, &found, err);
        if (r >= 0)
            r = add_users(all, found);
    }
    for (size_t d = 0; r >= 0 && ctx->cfg->email_domains && ctx->cfg->email_domains[d]; d++) {
        _cleanup_json_ json_t *found = NULL;
        _cleanup_free_ char *email = logto_asprintf("%s@%s", name, ctx->cfg->email_domains[d]);
        r = email ? logto_mgmt_search_exact(m, "primaryEmail", email, &found, err) : LOGTO_OOM(err);
        if (r >= 0)
            r = add_users(all, found);
    }
    for (size_t k = 0; r >= 0 && subs && subs[k]; k++) {
        _cleanup_json_ json_t *user = NULL, *one = NULL;
        r = logto_mgmt_get_user(m, subs[k], &user, err);
        if (r == -LOGTO_E_NOTFOUND) {
            r = 0; /* deleted in Logto: no longer a claimant */
            continue;
        }
        one = r >= 0 ? json_pack("[O]", user) : NULL;
        if (r >= 0)
            r = one ? add_users(all, one) : LOGTO_OOM(err);
    }
    if (r < 0)
        return r == -LOGTO_E_NOMEM ? LOGTO_OOM(err) : r;

    ids = calloc(json_array_size(all) + 1, sizeof(*ids));
    if (!ids)
        return LOGTO_OOM(err);
    json_array_foreach(all, i, u)
    {
        struct logto_error e = { 0 };
        r = logto_identity_from_mgmt(ctx, u, NULL, NULL, 0, &ids[n], &e);
        if (r == -LOGTO_E_IDENTITY)
            continue; /* maps to no name at all */
        if (r < 0) {
            *err = e;
            break;
        }
        if (strcmp(ids[n]->name, name) == 0)
            n++;
        else
            logto_identity_free(TAKE_PTR(ids[n]));
    }
    if (r < 0 && r != -LOGTO_E_IDENTITY) {
        for (size_t k = 0; k <= n; k++)
            logto_identity_free(ids[k]);
        free(ids);
        return r;
    }
    *ret = ids;
    *ret_n = n;
    return 0;
}

static int net_revoke(const struct logto_ctx *ctx, enum logto_auth_method method,
                      const char *refresh_token, struct logto_error *err)
{
    _cleanup_secret_ char *secret = NULL;
    struct logto_client client;
    struct logto_idp idp = { 0 };
    int r;

    r = logto_refresh_client(ctx->cfg, method, &client, &secret, err);
    if (r == 0)
        r = logto_idp_open(ctx, &idp, err);
    if (r == 0)
        r = logto_tokens_revoke(ctx, idp.http, idp.oidc, &client, refresh_token, "refresh_token",
                                err);
    logto_idp_close(&idp);
    return r;
}

/* The one symbol pam_logto_net.so exports (pam/pam_logto_net.sym). */
__attribute__((visibility("default"))) extern const struct logto_net_ops logto_net_ops_v1;
const struct logto_net_ops logto_net_ops_v1 = {
    .abi = LOGTO_NET_ABI,
    .build = PACKAGE_VERSION,
    .sizes = { sizeof(struct logto_config), sizeof(struct logto_service), sizeof(struct logto_ctx),
               sizeof(struct logto_ui) },
    .device_signin = net_device_signin,
    .password_signin = net_password_signin,
    .refresh = net_refresh,
    .mgmt_claims = net_mgmt_claims,
    .revoke = net_revoke,
    .name_claimants = net_name_claimants,
};

void logto_net_builtin(void)
{
    logto_net_register(&logto_net_ops_v1);
}
