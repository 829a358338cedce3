/* SPDX-License-Identifier: MIT */
/* OIDC discovery and JWKS with an on-disk cache, and ID-token verification on top of jwt.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "memory.h"
#include "oidc.h"
#include "util.h"

#define CACHE_FORMAT 1

/* ------------------------------------------------------------------ configuration */

char *logto_oidc_expected_issuer(const struct logto_config *cfg)
{
    size_t n;

    if (!cfg)
        return NULL;
    if (cfg->issuer)
        return strdup(cfg->issuer);
    if (cfg->profile != LOGTO_PROFILE_LOGTO || !cfg->endpoint)
        return NULL;
    n = strlen(cfg->endpoint);
    while (n > 0 && cfg->endpoint[n - 1] == '/')
        n--;
    return logto_asprintf("%.*s/oidc", (int)n, cfg->endpoint);
}

char *logto_oidc_scope(const struct logto_config *cfg)
{
    if (!cfg || !cfg->scopes || !cfg->scopes[0])
        return strdup("openid");
    return logto_strv_join(cfg->scopes, " ");
}

bool logto_oidc_wants_org_resource(const struct logto_config *cfg)
{
    return cfg && cfg->profile == LOGTO_PROFILE_LOGTO &&
           (logto_strv_contains(cfg->scopes, "urn:logto:scope:organizations") ||
            logto_strv_contains(cfg->scopes, "urn:logto:scope:organization_roles"));
}

bool logto_oidc_requests_resource(const struct logto_config *cfg, const char *uri)
{
    if (!cfg || !uri)
        return false;
    if (logto_oidc_wants_org_resource(cfg) && strcmp(uri, LOGTO_ORGANIZATION_RESOURCE) == 0)
        return true;
    return logto_strv_contains(cfg->resources, uri);
}

int logto_oidc_add_resources(const struct logto_config *cfg, struct logto_form *form)
{
    bool org = logto_oidc_wants_org_resource(cfg);

    if (org && logto_form_add(form, "resource", LOGTO_ORGANIZATION_RESOURCE) < 0)
        return -LOGTO_E_NOMEM;
    for (size_t i = 0; cfg && cfg->resources && cfg->resources[i]; i++) {
        if (org && strcmp(cfg->resources[i], LOGTO_ORGANIZATION_RESOURCE) == 0)
            continue;
        if (logto_form_add(form, "resource", cfg->resources[i]) < 0)
            return -LOGTO_E_NOMEM;
    }
    return 0;
}

bool logto_oidc_supports_grant(const struct logto_oidc *oidc, const char *grant_type)
{
    return !oidc->grant_types_supported ||
           logto_strv_contains(oidc->grant_types_supported, grant_type);
}

/* ------------------------------------------------------------------ the cache directory */

static void open_cache(const struct logto_ctx *ctx, struct logto_oidc *oidc)
{
    const char *dir = ctx->cfg && ctx->cfg->cache_dir ? ctx->cfg->cache_dir : LOGTO_CACHE_DIR;
    struct logto_error err = { 0 };
    int r;

    /* Root creates it; anyone else may only read what root wrote. */
    if (geteuid() == 0)
        r = logto_dir_ensure(dir, 0755, false, &oidc->cache_dirfd, &err);
    else
        r = logto_dir_open_trusted(dir, false, &oidc->cache_dirfd, &err);
    if (r < 0) {
        oidc->cache_dirfd = -1;
        logto_log_debug(&ctx->log, "oidc-cache-unavailable reason=\"%s\"", err.message);
    }
}

/* Read a cache file written by cache_store: its document if it is for `key`, not expired. */
static int cache_load(const struct logto_ctx *ctx, struct logto_oidc *oidc, const char *name,
                      const char *key, int64_t *ret_fetched, int64_t *ret_expires,
                      int64_t *ret_refetched, json_t **ret)
{
    _cleanup_json_ json_t *file = NULL;
    struct logto_error err = { 0 };
    const char *stored_key = NULL;
    int64_t format = 0;
    json_t *doc = NULL;
    size_t len = 0;
    int r;

    if (oidc->cache_dirfd < 0)
        return -1;
    _cleanup_free_ char *buf = NULL;
    r = logto_file_read_at(oidc->cache_dirfd, name, name, LOGTO_FILE_PUBLIC, LOGTO_OIDC_CACHE_MAX,
                           &buf, &len, &err);
    if (r < 0) {
        if (r != -LOGTO_E_NOTFOUND)
            logto_log(&ctx->log, LOG_NOTICE, "oidc-cache-ignored file=%s reason=\"%s\"", name,
                      err.message);
        return -1;
    }
    if (logto_json_parse_object(buf, len, LOGTO_OIDC_CACHE_MAX, LOGTO_JSON_MAX_DEPTH, name, &file,
                                &err) < 0 ||
        logto_json_get_int(file, "format", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &format, &err) < 0 ||
        logto_json_get_string(file, "key", LOGTO_JSON_REQUIRED, &stored_key, &err) < 0 ||
        logto_json_get_int(file, "fetched_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, ret_fetched,
                           &err) < 0 ||
        logto_json_get_int(file, "expires_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, ret_expires,
                           &err) < 0 ||
        (ret_refetched &&
         logto_json_get_int(file, "refetched_at", 0, 0, INT64_MAX, ret_refetched, &err) < 0) ||
        logto_json_get_object(file, "document", LOGTO_JSON_REQUIRED, &doc, &err) < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "oidc-cache-ignored file=%s reason=\"%s\"", name,
                  err.message);
        return -1;
    }
    if (format != CACHE_FORMAT || strcmp(stored_key, key) != 0)
        return -1;
    *ret = json_incref(doc);
    return 0;
}

static bool cache_fresh(const struct logto_ctx *ctx, int64_t fetched, int64_t expires)
{
    int64_t now = logto_now(ctx);
    /* A clock that went backwards makes the entry stale rather than fresh for longer. */
    return fetched <= now && now < expires;
}

/* refetched > 0 (the JWKS only): the time of the last unknown-kid refetch, kept with it. */
static void cache_store(const struct logto_ctx *ctx, struct logto_oidc *oidc, const char *name,
                        const char *key, int64_t fetched, int64_t expires, int64_t refetched,
                        json_t *doc)
{
    _cleanup_json_ json_t *file = NULL;
    _cleanup_free_ char *text = NULL;
    struct logto_error err = { 0 };

    if (oidc->cache_dirfd < 0 || oidc->cache_failed)
        return;
    file = json_pack("{s:i, s:s, s:I, s:I, s:O}", "format", CACHE_FORMAT, "key", key, "fetched_at",
                     (json_int_t)fetched, "expires_at", (json_int_t)expires, "document", doc);
    if (file && refetched > 0 &&
        json_object_set_new(file, "refetched_at", json_integer((json_int_t)refetched)) < 0)
        json_decref(TAKE_PTR(file));
    text = file ? logto_json_dump(file) : NULL;
    if (!text ||
        logto_file_write_at(oidc->cache_dirfd, name, name, text, strlen(text), 0644, &err) < 0) {
        /* Not fatal: unprivileged callers work from memory. */
        oidc->cache_failed = true;
        logto_log_debug(&ctx->log, "oidc-cache-not-written file=%s reason=\"%s\"", name,
                        text ? err.message : "out of memory");
    }
}

/* ------------------------------------------------------------------ fetching */

/* GET url and return its JSON object; what names it in messages. */
static int fetch_json(struct logto_http *http, const char *url, const char *what, json_t **ret,
                      struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *shown = logto_url_for_message(url);
    int r;

    r = logto_http_get(http, url, NULL, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s at %s answered HTTP %ld", what,
                               shown ? shown : "?", resp.status);
    r = logto_http_response_json(&resp, what, (struct json_t **)ret, err);
    if (r < 0)
        logto_error_prefix(err, "%s", shown ? shown : "?");
    return r;
}

/* ------------------------------------------------------------------ discovery */

static const struct {
    const char *name;
    size_t offset;
    bool required;
} endpoints[] = {
    { "token_endpoint", offsetof(struct logto_oidc, token_endpoint), true },
    { "jwks_uri", offsetof(struct logto_oidc, jwks_uri), true },
    { "authorization_endpoint", offsetof(struct logto_oidc, authorization_endpoint), false },
    { "userinfo_endpoint", offsetof(struct logto_oidc, userinfo_endpoint), false },
    { "revocation_endpoint", offsetof(struct logto_oidc, revocation_endpoint), false },
    { "device_authorization_endpoint", offsetof(struct logto_oidc, device_authorization_endpoint),
      false },
    { "introspection_endpoint", offsetof(struct logto_oidc, introspection_endpoint), false },
    { "end_session_endpoint", offsetof(struct logto_oidc, end_session_endpoint), false },
};

static int take_endpoint(const struct logto_config *cfg, const json_t *doc, size_t i,
                         struct logto_oidc *oidc, struct logto_error *err)
{
    char **slot = (char **)((char *)oidc + endpoints[i].offset);
    const char *url = NULL;
    int r;

    r = logto_json_get_string(doc, endpoints[i].name,
                              endpoints[i].required ? LOGTO_JSON_REQUIRED : 0, &url, err);
    if (r < 0 || !url)
        return r;
    r = logto_url_check_https(url, endpoints[i].name, err);
    if (r < 0)
        return r;
    /* Logto serves everything from its own origin; anything else is not Logto. */
    if (cfg->profile == LOGTO_PROFILE_LOGTO && cfg->endpoint &&
        !logto_url_same_origin(url, cfg->endpoint))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not on the origin of endpoint %s",
                               endpoints[i].name, cfg->endpoint);
    *slot = strdup(url);
    return *slot ? 0 : LOGTO_OOM(err);
}

/* Fill oidc from a discovery document, checking everything. */
static int apply_discovery(const struct logto_config *cfg, const char *issuer, const json_t *doc,
                           struct logto_oidc *oidc, struct logto_error *err)
{
    const char *got = NULL;
    char shown[256];
    int r;

    r = logto_json_get_string(doc, "issuer", LOGTO_JSON_REQUIRED, &got, err);
    if (r < 0)
        return r;
    if (strcmp(got, issuer) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the discovery document names issuer %s, not the configured %s",
                               logto_log_sanitize(shown, sizeof(shown), got), issuer);
    oidc->issuer = strdup(issuer);
    if (!oidc->issuer)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < ELEMENTSOF(endpoints); i++) {
        r = take_endpoint(cfg, doc, i, oidc, err);
        if (r < 0)
            return r;
    }
    r = logto_json_get_strv(doc, "grant_types_supported", 0, &oidc->grant_types_supported, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "scopes_supported", 0, &oidc->scopes_supported, err);
    return r;
}

static char *discovery_url(const char *issuer)
{
    size_t n = strlen(issuer);

    /* OIDC Discovery 4: a trailing slash of the issuer is dropped before the suffix. */
    while (n > 0 && issuer[n - 1] == '/')
        n--;
    return logto_asprintf("%.*s/.well-known/openid-configuration", (int)n, issuer);
}

static int discovery_from_cache(const struct logto_ctx *ctx, const char *issuer,
                                struct logto_oidc *oidc)
{
    _cleanup_json_ json_t *doc = NULL;
    struct logto_error err = { 0 };
    int64_t fetched = 0, expires = 0;

    if (cache_load(ctx, oidc, LOGTO_DISCOVERY_FILE, issuer, &fetched, &expires, NULL, &doc) < 0 ||
        !cache_fresh(ctx, fetched, expires))
        return -1;
    /* The cached copy passes the same checks as a fresh one. */
    if (apply_discovery(ctx->cfg, issuer, doc, oidc, &err) < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "oidc-cache-ignored file=%s reason=\"%s\"",
                  LOGTO_DISCOVERY_FILE, err.message);
        return -1;
    }
    oidc->fetched_at = fetched;
    oidc->expires_at = expires;
    return 0;
}

static int discovery_fetch(const struct logto_ctx *ctx, struct logto_http *http, const char *issuer,
                           struct logto_oidc *oidc, struct logto_error *err)
{
    _cleanup_free_ char *url = discovery_url(issuer);
    _cleanup_json_ json_t *doc = NULL;
    int r;

    if (!url)
        return LOGTO_OOM(err);
    r = fetch_json(http, url, "the discovery document", &doc, err);
    if (r >= 0)
        r = apply_discovery(ctx->cfg, issuer, doc, oidc, err);
    if (r < 0) {
        logto_log(&ctx->log, LOG_WARNING, "oidc-discovery-failed issuer=%s error=%s", issuer,
                  logto_errc_name(logto_errc_from(r)));
        return r;
    }
    oidc->fetched_at = logto_now(ctx);
    oidc->expires_at = oidc->fetched_at + LOGTO_DISCOVERY_TTL;
    cache_store(ctx, oidc, LOGTO_DISCOVERY_FILE, issuer, oidc->fetched_at, oidc->expires_at, 0,
                doc);
    logto_log_debug(&ctx->log, "oidc-discovery-fetched issuer=%s", issuer);
    return 0;
}

/* Drop what a rejected cached document may have filled in. */
static void clear_discovery(struct logto_oidc *oidc)
{
    for (size_t i = 0; i < ELEMENTSOF(endpoints); i++) {
        char **slot = (char **)((char *)oidc + endpoints[i].offset);
        free(*slot);
        *slot = NULL;
    }
    free(oidc->issuer);
    oidc->issuer = NULL;
    logto_strv_freep(&oidc->grant_types_supported);
    logto_strv_freep(&oidc->scopes_supported);
}

/* Discovery: from the cache (use_cache) if fresh and valid, else fetched (and cached when a
 * cache directory is open). */
static int discover(const struct logto_ctx *ctx, struct logto_http *http, bool use_cache,
                    struct logto_oidc **ret, struct logto_error *err)
{
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    _cleanup_free_ char *issuer = logto_oidc_expected_issuer(ctx->cfg);
    int r;

    if (!issuer)
        return logto_error_set(err, LOGTO_E_CONFIG, "no issuer is configured");
    oidc = calloc(1, sizeof(*oidc));
    if (!oidc)
        return LOGTO_OOM(err);
    oidc->cache_dirfd = -1;
    if (use_cache)
        open_cache(ctx, oidc);
    if (!use_cache || discovery_from_cache(ctx, issuer, oidc) < 0) {
        clear_discovery(oidc);
        r = discovery_fetch(ctx, http, issuer, oidc, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(oidc);
    return 0;
}

int logto_oidc_discover(const struct logto_ctx *ctx, struct logto_http *http,
                        struct logto_oidc **ret, struct logto_error *err)
{
    return discover(ctx, http, true, ret, err);
}

int logto_oidc_discover_fresh(const struct logto_ctx *ctx, struct logto_http *http,
                              struct logto_oidc **ret, struct logto_error *err)
{
    return discover(ctx, http, false, ret, err);
}

int logto_oidc_from_discovery(const struct logto_config *cfg, const char *issuer,
                              const struct json_t *doc, struct logto_oidc **ret,
                              struct logto_error *err)
{
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    int r;

    if (!cfg || !issuer || !doc)
        return logto_error_set(err, LOGTO_E_INVAL, "discovery needs a configuration and issuer");
    oidc = calloc(1, sizeof(*oidc));
    if (!oidc)
        return LOGTO_OOM(err);
    oidc->cache_dirfd = -1;
    r = apply_discovery(cfg, issuer, doc, oidc, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(oidc);
    return 0;
}

void logto_oidc_free(struct logto_oidc *oidc)
{
    if (!oidc)
        return;
    clear_discovery(oidc);
    logto_jwks_free(oidc->jwks);
    if (oidc->cache_dirfd >= 0)
        close(oidc->cache_dirfd);
    free(oidc);
}

int logto_idp_open(const struct logto_ctx *ctx, struct logto_idp *idp, struct logto_error *err)
{
    int r;

    *idp = (struct logto_idp){ 0 };
    r = logto_http_new(ctx, 0, &idp->http, err);
    if (r >= 0)
        r = logto_oidc_discover(ctx, idp->http, &idp->oidc, err);
    if (r < 0)
        logto_idp_close(idp);
    return r;
}

void logto_idp_close(struct logto_idp *idp)
{
    logto_oidc_free(idp->oidc);
    logto_http_free(idp->http);
    *idp = (struct logto_idp){ 0 };
}

/* ------------------------------------------------------------------ keys */

static int use_jwks(struct logto_oidc *oidc, const json_t *doc, int64_t fetched, int64_t expires,
                    struct logto_error *err)
{
    struct logto_jwks *jwks = NULL;
    int r = logto_jwks_parse(doc, &jwks, err);

    if (r < 0)
        return r;
    logto_jwks_free(oidc->jwks);
    oidc->jwks = jwks;
    oidc->jwks_fetched_at = fetched;
    oidc->jwks_expires_at = expires;
    return 0;
}

/* The cached JWKS, fresh or not (its times matter for the refetch limit either way). */
static void jwks_from_cache(const struct logto_ctx *ctx, struct logto_oidc *oidc)
{
    _cleanup_json_ json_t *doc = NULL;
    struct logto_error err = { 0 };
    int64_t fetched = 0, expires = 0, refetched = 0;

    if (cache_load(ctx, oidc, LOGTO_JWKS_FILE, oidc->jwks_uri, &fetched, &expires, &refetched,
                   &doc) < 0)
        return;
    /* Only a newer copy than ours: an older one would also reset the refetch limit. */
    if (oidc->jwks && fetched <= oidc->jwks_fetched_at)
        return;
    if (use_jwks(oidc, doc, fetched, expires, &err) < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "oidc-cache-ignored file=%s reason=\"%s\"",
                  LOGTO_JWKS_FILE, err.message);
        return;
    }
    if (refetched > oidc->jwks_refetched_at)
        oidc->jwks_refetched_at = refetched;
}

/* forced: an unknown-kid refetch, which is what the refetch limit counts. */
static int jwks_fetch(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                      bool forced, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    int64_t now = logto_now(ctx);
    int r;

    r = fetch_json(http, oidc->jwks_uri, "the JWKS", &doc, err);
    if (r >= 0)
        r = use_jwks(oidc, doc, now, now + LOGTO_JWKS_TTL, err);
    if (r < 0) {
        logto_log(&ctx->log, LOG_WARNING, "oidc-jwks-failed issuer=%s error=%s", oidc->issuer,
                  logto_errc_name(logto_errc_from(r)));
        return r;
    }
    oidc->jwks_fetches++;
    if (forced)
        oidc->jwks_refetched_at = now;
    cache_store(ctx, oidc, LOGTO_JWKS_FILE, oidc->jwks_uri, now, now + LOGTO_JWKS_TTL,
                oidc->jwks_refetched_at, doc);
    logto_log_debug(&ctx->log, "oidc-jwks-fetched issuer=%s keys=%zu", oidc->issuer,
                    logto_jwks_size(oidc->jwks));
    return 0;
}

/* Seconds until a forced fetch is allowed again (0: now), and the limit that applies. Only
 * forced fetches count (of any process that shares the cache, and our own): a routine fetch
 * (expiry, first use) must not make the next rotation wait. A token issued after our key set
 * was fetched (iat, unverified, not in the future) may name a key published since: the shorter
 * limit, which still bounds a flood of tokens under made-up kids. */
static int64_t refetch_wait(const struct logto_ctx *ctx, const struct logto_oidc *oidc, int64_t iat,
                            int64_t *ret_limit)
{
    int64_t now = logto_now(ctx), last = oidc->jwks_refetched_at;
    bool newer = iat > oidc->jwks_fetched_at && iat <= now + LOGTO_JWT_LEEWAY;

    *ret_limit = newer ? LOGTO_JWKS_REFETCH_NEWER : LOGTO_JWKS_REFETCH_MIN;
    if (!oidc->jwks || last <= 0 || last > now)
        return 0;
    return now - last >= *ret_limit ? 0 : *ret_limit - (now - last);
}

/* iat: the unverified iat of the token that named an unknown kid (0: none). */
static int jwks_load(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                     bool force, int64_t iat, struct logto_error *err)
{
    int64_t wait, limit;

    if (!oidc->jwks)
        jwks_from_cache(ctx, oidc);
    if (!force && oidc->jwks && cache_fresh(ctx, oidc->jwks_fetched_at, oidc->jwks_expires_at))
        return 0;
    if (force) {
        /* Another process may have fetched the new keys already. */
        jwks_from_cache(ctx, oidc);
        wait = refetch_wait(ctx, oidc, iat, &limit);
        if (wait > 0)
            return logto_error_set(err, LOGTO_E_BUSY,
                                   "the JWKS was refetched for an unknown kid %lld s ago; not "
                                   "again for %lld s",
                                   (long long)(limit - wait), (long long)wait);
    }
    return jwks_fetch(ctx, http, oidc, force, err);
}

int logto_oidc_load_jwks(const struct logto_ctx *ctx, struct logto_http *http,
                         struct logto_oidc *oidc, bool force, struct logto_error *err)
{
    return jwks_load(ctx, http, oidc, force, 0, err);
}

/* ------------------------------------------------------------------ ID tokens */

/* The JWKS to verify a token naming kid with: refetched (rate-limited) when kid is unknown.
 * A refused refetch is not an error here: verification then reports the unknown kid. */
static int keys_for(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                    const char *token, const char *kid, char *note, size_t note_len,
                    struct logto_error *err)
{
    struct logto_error ferr = { 0 };
    int64_t iat = 0;
    unsigned fetches = oidc->jwks_fetches;
    int r;

    r = logto_oidc_load_jwks(ctx, http, oidc, false, err);
    if (r < 0 || !kid || logto_jwks_has_kid(oidc->jwks, kid))
        return r;
    /* Fetched from the network by this very call, with the token in hand: a refetch would get
     * the same keys. (Loaded from the cache, however recent, they may predate the token.) */
    if (oidc->jwks_fetches != fetches)
        return 0;
    logto_log(&ctx->log, LOG_INFO, "oidc-jwks-refetch reason=unknown-kid kid=%s", kid);
    /* A payload without a usable iat only loses the shorter limit; verification judges it. */
    (void)logto_jwt_peek_iat(token, &iat, NULL);
    r = jwks_load(ctx, http, oidc, true, iat, &ferr);
    if (r == -LOGTO_E_BUSY) {
        snprintf(note, note_len, " (%.120s)", ferr.message);
        return 0;
    }
    if (r < 0 && err)
        *err = ferr;
    return r;
}

int logto_oidc_verify_id_token(const struct logto_ctx *ctx, struct logto_http *http,
                               struct logto_oidc *oidc, const char *client_id, const char *id_token,
                               const char *nonce, struct json_t **ret_claims,
                               struct logto_error *err)
{
    _cleanup_free_ char *alg = NULL, *kid = NULL;
    struct logto_jwt_expect expect = {
        .issuer = oidc->issuer,
        .client_id = client_id,
        .nonce = nonce,
        .leeway = LOGTO_JWT_LEEWAY,
    };
    char note[160] = "", shown_kid[80];
    int r;

    if (!id_token)
        return logto_error_set(err, LOGTO_E_TOKEN, "the provider sent no ID token");
    r = logto_jwt_peek(id_token, &alg, &kid, err);
    if (r >= 0)
        r = keys_for(ctx, http, oidc, id_token, kid, note, sizeof(note), err);
    if (r >= 0) {
        expect.now = logto_now(ctx);
        r = logto_jwt_verify(id_token, oidc->jwks, &expect, (json_t **)ret_claims, err);
    }
    logto_log_sanitize(shown_kid, sizeof(shown_kid), kid ? kid : "-");
    if (r < 0) {
        if (note[0] && err && strlen(err->message) + strlen(note) < sizeof(err->message))
            strcat(err->message, note);
        if (r == -LOGTO_E_TOKEN)
            logto_error_prefix(err, "the ID token was rejected");
        logto_log(&ctx->log, LOG_WARNING, "id-token-rejected alg=%s kid=%s error=%s reason=\"%s\"",
                  alg ? alg : "-", shown_kid, logto_errc_name(logto_errc_from(r)),
                  err ? err->message : "");
        return r;
    }
    logto_log_debug(&ctx->log, "id-token-ok alg=%s kid=%s", alg, shown_kid);
    return 0;
}
