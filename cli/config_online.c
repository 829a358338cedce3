/* SPDX-License-Identifier: MIT */
/*
 * logtoctl config check --online: ask the provider what the files cannot tell. Discovery and
 * JWKS (fetched now, bypassing the cache); with the Logto profile and an M2M app, its token and
 * Management API permission, that every role, organization and organization role a rule names
 * exists (a typo is a rule that silently never matches), and that the applications can do what
 * the configured methods need. What cannot be known is said to be "not checked".
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "http.h"
#include "json.h"
#include "mgmt.h"
#include "oidc.h"
#include "util.h"

struct findings {
    json_t *list; /* [{check, result, message, file?, line?}] */
    int errors;
    bool unreachable;
};

static void add(struct findings *f, const char *result, const char *check,
                const struct logto_origin *at, const char *fmt, ...) _printf_(5, 6);
static void add(struct findings *f, const char *result, const char *check,
                const struct logto_origin *at, const char *fmt, ...)
{
    char msg[1024];
    json_t *item;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (strcmp(result, "error") == 0)
        f->errors++;
    item = json_pack("{s:s, s:s, s:s}", "check", check, "result", result, "message", msg);
    if (item && at && at->file) {
        json_object_set_new(item, "file", json_string(at->file));
        json_object_set_new(item, "line", json_integer(at->line));
    }
    json_array_append_new(f->list, item);
}

/* Discovery and keys; false when the provider could not be asked (the rest is not checked). */
static bool check_provider(const struct logto_ctx *ctx, struct findings *f)
{
    const char *idp = logto_idp_name(ctx->cfg);
    _cleanup_free_ char *issuer = logto_oidc_expected_issuer(ctx->cfg);
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };
    int r;

    r = logto_http_new(ctx, 0, &http, &err);
    if (r >= 0)
        r = logto_oidc_discover_fresh(ctx, http, &oidc, &err);
    if (r == -LOGTO_E_UNREACHABLE) {
        f->unreachable = true;
        add(f, "error", "discovery", NULL, "%s is unreachable at %s: %s", idp,
            issuer ? issuer : "?", err.message);
        return false;
    }
    if (r < 0) {
        add(f, "error", "discovery", NULL, "the discovery document of %s was refused: %s",
            issuer ? issuer : "?", err.message);
        return false;
    }
    add(f, "ok", "discovery", NULL, "discovery document of %s (device flow %s)", oidc->issuer,
        oidc->device_authorization_endpoint ? "offered" : "not offered");
    r = logto_oidc_load_jwks(ctx, http, oidc, true, &err);
    if (r < 0) {
        add(f, "error", "jwks", NULL, "the signing keys of %s were refused: %s", idp, err.message);
        return false;
    }
    add(f, "ok", "jwks", NULL, "signing keys fetched and valid");
    return true;
}

/* The names of a listing's items ("name" or "id"), for lookups. */
static char **names_of(const json_t *items, const char *key)
{
    char **v = NULL;
    size_t i;
    const json_t *item;

    json_array_foreach(items, i, item)
    {
        const char *s = json_string_value(json_object_get(item, key));
        if (s && logto_strv_push_take(&v, strdup(s)) < 0) {
            logto_strv_free(v);
            return NULL;
        }
    }
    return v ? v : calloc(1, sizeof(char *));
}

struct tenant {
    char **roles, **orgs, **org_roles; /* NULL: not fetched */
};

static void check_list(struct findings *f, const struct logto_service *svc, const char *key,
                       char *const *items, const struct logto_origin *at, char *const *known,
                       const char *what, unsigned *n_checked)
{
    for (size_t i = 0; items && known && items[i]; i++) {
        /* "orgId:role" (checked by the parser): the role part; the ID is check_org_role_orgs's */
        const char *colon = strcmp(key, "require_org_roles") == 0 ? strchr(items[i], ':') : NULL;
        const char *name = colon ? colon + 1 : items[i];

        (*n_checked)++;
        if (!logto_strv_contains(known, name))
            add(f, "error", "rules", at,
                "[service %s] %s: %s \"%s\" does not exist in the Logto tenant: this rule never "
                "matches (a typo?)",
                svc->name, key, what, name);
    }
}

/* Every organization ID of require_org_roles must exist too. */
static void check_org_role_orgs(struct findings *f, const struct logto_service *svc,
                                const struct tenant *t, unsigned *n_checked)
{
    for (size_t i = 0; svc->require_org_roles && t->orgs && svc->require_org_roles[i]; i++) {
        const char *item = svc->require_org_roles[i], *colon = strchr(item, ':');
        char org[129];

        snprintf(org, sizeof(org), "%.*s", (int)(colon - item), item);
        (*n_checked)++;
        if (!logto_strv_contains(t->orgs, org))
            add(f, "error", "rules", &svc->require_org_roles_at,
                "[service %s] require_org_roles: organization \"%s\" does not exist in the Logto "
                "tenant: this rule never matches (a typo?)",
                svc->name, org);
    }
}

static int fetch_names(struct logto_mgmt *m,
                       int (*list)(struct logto_mgmt *, json_t **, struct logto_error *),
                       const char *key, char ***ret, struct logto_error *err)
{
    _cleanup_json_ json_t *items = NULL;
    int r = list(m, &items, err);

    if (r < 0)
        return r;
    *ret = names_of(items, key);
    return *ret ? 0 : LOGTO_OOM(err);
}

static void check_rules(const struct logto_config *cfg, struct logto_mgmt *m, struct tenant *t,
                        struct findings *f)
{
    bool orgs = false, org_roles = false;
    struct logto_error err = { 0 };
    unsigned n = 0;
    int errors = f->errors;

    for (size_t s = 0; s < cfg->n_services; s++) {
        orgs |= cfg->services[s]->require_orgs || cfg->services[s]->require_org_roles;
        org_roles |= cfg->services[s]->require_org_roles != NULL;
    }
    if ((orgs && fetch_names(m, logto_mgmt_list_organizations, "id", &t->orgs, &err) < 0) ||
        (org_roles &&
         fetch_names(m, logto_mgmt_list_organization_roles, "name", &t->org_roles, &err) < 0)) {
        add(f, "error", "rules", NULL, "organizations could not be listed: %s", err.message);
        return;
    }
    for (size_t s = 0; s < cfg->n_services; s++) {
        const struct logto_service *svc = cfg->services[s];
        check_list(f, svc, "require_roles", svc->require_roles, &svc->require_roles_at, t->roles,
                   "role", &n);
        check_list(f, svc, "require_orgs", svc->require_orgs, &svc->require_orgs_at, t->orgs,
                   "organization", &n);
        check_org_role_orgs(f, svc, t, &n);
        check_list(f, svc, "require_org_roles", svc->require_org_roles, &svc->require_org_roles_at,
                   t->org_roles, "organization role", &n);
    }
    if (f->errors == errors)
        add(f, "ok", "rules", NULL,
            "every role, organization and organization role the rules "
            "name exists in the tenant (%u checked)",
            n);
}

/* Which password methods the [service] sections (and the defaults) use with a password flow. */
static unsigned methods_in_use(const struct logto_config *cfg)
{
    unsigned used = 0;

    for (size_t s = 0; s <= cfg->n_services; s++) {
        _cleanup_(logto_service_freep) struct logto_service *eff = NULL;
        struct logto_error err = { 0 };
        const char *name = s < cfg->n_services ? cfg->services[s]->name : "*";

        if (logto_config_service(cfg, name, 0, NULL, &eff, &err) >= 0 &&
            (eff->flow & LOGTO_FLOW_PASSWORD))
            used |= 1u << eff->password_method;
    }
    return used;
}

static const json_t *jpath(const json_t *o, const char *a, const char *b)
{
    return json_object_get(json_object_get(o, a), b);
}

/* GET /api/applications/{id}; NULL (and a finding) when it cannot be had. */
static json_t *get_app(struct logto_mgmt *m, const char *key, const char *id, struct findings *f)
{
    struct logto_error err = { 0 };
    json_t *app = NULL;
    int r = logto_mgmt_get_application(m, id, &app, &err);

    if (r == -LOGTO_E_NOTFOUND)
        add(f, "error", "applications", NULL,
            "[logto] %s: there is no application \"%s\" in the tenant", key, id);
    else if (r < 0)
        add(f, "not checked", "applications", NULL,
            "[logto] %s: the application could not be read: %s", key, err.message);
    return r < 0 ? NULL : app;
}

static void check_device_app(const struct logto_config *cfg, struct logto_mgmt *m,
                             struct findings *f)
{
    _cleanup_json_ json_t *app = get_app(m, "client_id", cfg->client_id, f);
    const json_t *flag = jpath(app, "customClientMetadata", "isDeviceFlow");

    if (!app)
        return;
    if (!logto_streq(json_string_value(json_object_get(app, "type")), "Native") ||
        json_is_false(flag))
        add(f, "error", "applications", NULL,
            "[logto] client_id: \"%s\" is not a Native app with the device flow enabled (Logto "
            "Console: Native app, \"Device flow\" / customClientMetadata.isDeviceFlow)",
            cfg->client_id);
    else if (!json_is_true(flag))
        add(f, "not checked", "applications", NULL,
            "[logto] client_id: the application does not say whether the device flow is enabled");
    else
        add(f, "ok", "applications", NULL, "[logto] client_id: a Native app with the device flow");
}

static void check_password_app(const struct logto_config *cfg, struct logto_mgmt *m, unsigned used,
                               struct findings *f)
{
    _cleanup_json_ json_t *app = NULL;
    const json_t *uris, *exchange, *u;
    size_t i;
    bool found = false;

    if (!(used & (1u << LOGTO_PW_EXPERIENCE | 1u << LOGTO_PW_PAT)) || !cfg->password_client_id)
        return;
    app = get_app(m, "password_client_id", cfg->password_client_id, f);
    if (!app)
        return;
    uris = jpath(app, "oidcClientMetadata", "redirectUris");
    if (!(used & 1u << LOGTO_PW_EXPERIENCE)) {
    } else if (!json_is_array(uris)) {
        add(f, "not checked", "applications", NULL,
            "[logto] password_client_id: the application lists no redirect URIs");
    } else {
        json_array_foreach(uris, i, u) found |=
            logto_streq(json_string_value(u), cfg->redirect_uri);
        if (found)
            add(f, "ok", "applications", NULL,
                "[logto] password_client_id: redirect_uri is registered (password_method "
                "experience)");
        else
            add(f, "error", "applications", NULL,
                "[logto] redirect_uri: \"%s\" is not a redirect URI of the application \"%s\": "
                "password_method experience fails; register it in the Logto Console",
                cfg->redirect_uri, cfg->password_client_id);
    }
    if (!(used & 1u << LOGTO_PW_PAT))
        return;
    exchange = jpath(app, "customClientMetadata", "allowTokenExchange");
    if (json_is_true(exchange))
        add(f, "ok", "applications", NULL,
            "[logto] password_client_id: token exchange is enabled (password_method pat)");
    else if (json_is_false(exchange))
        add(f, "error", "applications", NULL,
            "[logto] password_client_id: token exchange is disabled on \"%s\": password_method "
            "pat fails; enable it (customClientMetadata.allowTokenExchange)",
            cfg->password_client_id);
    else
        add(f, "warning", "applications", NULL,
            "[logto] password_client_id: \"%s\" does not set allowTokenExchange (off by default "
            "since Logto 1.36): password_method pat needs it on",
            cfg->password_client_id);
}

/* The Management API part (profile logto with an M2M app). */
static void check_management(const struct logto_ctx *ctx, struct findings *f)
{
    const struct logto_config *cfg = ctx->cfg;
    _cleanup_mgmt_ struct logto_mgmt *m = NULL;
    struct tenant t = { 0 };
    struct logto_error err = { 0 };
    unsigned used = methods_in_use(cfg);
    int r;

    if (cfg->profile == LOGTO_PROFILE_GENERIC) {
        add(f, "not checked", "management", NULL,
            "rule names and applications: the generic profile has no API to ask");
        return;
    }
    if (!cfg->m2m_client_id) {
        add(f, "not checked", "management", NULL,
            "M2M token, rule names and applications: no [sync] m2m_client_id");
        return;
    }
    r = logto_mgmt_new(ctx, &m, &err);
    /* A token cached earlier proves nothing about the secret today. */
    if (r >= 0) {
        struct logto_error ignored = { 0 };
        (void)logto_mgmt_forget_token(m, &ignored);
    }
    if (r >= 0)
        r = logto_mgmt_authenticate(m, &err);
    if (r < 0) {
        f->unreachable |= r == -LOGTO_E_UNREACHABLE;
        add(f, "error", "m2m", NULL, "no M2M token for [sync] m2m_client_id \"%s\": %s",
            cfg->m2m_client_id, err.message);
        return;
    }
    add(f, "ok", "m2m", NULL, "M2M token obtained");
    r = fetch_names(m, logto_mgmt_list_roles, "name", &t.roles, &err);
    if (r < 0) {
        add(f, "error", "management", NULL, "the Management API refused the M2M app: %s",
            err.message);
        return;
    }
    add(f, "ok", "management", NULL, "the Management API answers the M2M app");
    check_rules(cfg, m, &t, f);
    check_device_app(cfg, m, f);
    check_password_app(cfg, m, used, f);
    logto_strv_free(t.roles);
    logto_strv_free(t.orgs);
    logto_strv_free(t.org_roles);
}

int cli_config_online(struct cli *cli, const struct logto_config *cfg, json_t **ret)
{
    struct findings f = { .list = json_array() };

    *ret = NULL;
    if (!f.list)
        return CLI_FAIL;
    cli->ctx.cfg = cfg;
    if (check_provider(&cli->ctx, &f))
        check_management(&cli->ctx, &f);
    else
        add(&f, "not checked", "management", NULL, "the rest: %s could not be asked",
            logto_idp_name(cfg));
    cli->ctx.cfg = NULL;
    *ret = f.list;
    return f.errors == 0 ? CLI_OK : f.unreachable ? CLI_UNAVAIL : CLI_FAIL;
}
