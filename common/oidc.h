/* SPDX-License-Identifier: MIT */
/*
 * OpenID Connect discovery and signing keys, cached on disk, and ID-token verification.
 *
 * The discovery document (<issuer>/.well-known/openid-configuration) must name exactly the
 * configured issuer; every endpoint in it must be https and, for the Logto profile, on the
 * endpoint's origin. Documents are cached in cache_dir (root 0755, files 0644, atomic writes):
 * discovery for 24 h, the JWKS for 1 h, and the JWKS is fetched again at once when a token names
 * an unknown kid: at most once per 60 s, or per 10 s when the token was issued after the cached
 * key set was fetched. Only these refetches count, never a routine fetch, so a rotation right
 * after one is seen at once (their time is in the cache file, so the limit holds across
 * processes). When cache_dir cannot be written (an unprivileged PAM caller),
 * everything works from memory for the life of the struct logto_oidc.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "error.h"
#include "http.h"

struct json_t;
struct logto_jwks;

#define LOGTO_DISCOVERY_TTL         (24 * 3600)
#define LOGTO_JWKS_TTL              3600
#define LOGTO_JWKS_REFETCH_MIN      60 /* s between unknown-kid refetches */
#define LOGTO_JWKS_REFETCH_NEWER    10 /* ... when the token is newer than the key set */
#define LOGTO_OIDC_CACHE_MAX        (1024 * 1024)
#define LOGTO_DISCOVERY_FILE        "discovery.json"
#define LOGTO_JWKS_FILE             "jwks.json"
#define LOGTO_ORGANIZATION_RESOURCE "urn:logto:resource:organizations"

struct logto_oidc {
    /* From the validated discovery document. Optional endpoints are NULL when not offered. */
    char *issuer;
    char *authorization_endpoint;
    char *token_endpoint; /* required */
    char *jwks_uri;       /* required */
    char *userinfo_endpoint;
    char *revocation_endpoint;
    char *device_authorization_endpoint;
    char *introspection_endpoint;
    char *end_session_endpoint;
    char **grant_types_supported; /* NULL when not advertised */
    char **scopes_supported;
    int64_t fetched_at, expires_at;

    /* Internal state: keys and the cache. */
    struct logto_jwks *jwks;
    int64_t jwks_fetched_at, jwks_expires_at;
    int64_t jwks_refetched_at; /* last unknown-kid refetch (0: none known) */
    unsigned jwks_fetches;     /* JWKS fetched from the network by this process */
    int cache_dirfd;           /* -1: no cache */
    bool cache_failed;         /* a write failed once: stop trying */
};

/* The issuer the configuration expects (cfg->issuer, or endpoint + "/oidc" for Logto).
 * Returns a new string, or NULL (no issuer configured, or out of memory). */
char *logto_oidc_expected_issuer(const struct logto_config *cfg);

/* Discovery: the cached document if it is fresh and still valid, else fetched and cached. */
int logto_oidc_discover(const struct logto_ctx *ctx, struct logto_http *http,
                        struct logto_oidc **ret, struct logto_error *err);
/* Discovery from the network, never the cache, and without caching (logtoctl config check
 * --online: what the provider answers now). Keys loaded into it later are not cached either. */
int logto_oidc_discover_fresh(const struct logto_ctx *ctx, struct logto_http *http,
                              struct logto_oidc **ret, struct logto_error *err);
/* The checks of logto_oidc_discover on one discovery document, without cache or network: a new
 * struct logto_oidc for issuer (no keys yet). For tests and the fuzzer. */
int logto_oidc_from_discovery(const struct logto_config *cfg, const char *issuer,
                              const struct json_t *doc, struct logto_oidc **ret,
                              struct logto_error *err);
void logto_oidc_free(struct logto_oidc *oidc);

/* One operation's connection to the IdP and its validated discovery document. */
struct logto_idp {
    struct logto_http *http;
    struct logto_oidc *oidc;
};
/* A new connection and discovery; on failure *idp is left empty. */
int logto_idp_open(const struct logto_ctx *ctx, struct logto_idp *idp, struct logto_error *err);
/* Frees both and empties *idp (safe to call again). */
void logto_idp_close(struct logto_idp *idp);
static inline void logto_oidc_freep(struct logto_oidc **oidc)
{
    logto_oidc_free(*oidc);
}
#define _cleanup_oidc_ _cleanup_(logto_oidc_freep)

/* The signing keys: cached if fresh, else fetched (force: fetch unless rate-limited). */
int logto_oidc_load_jwks(const struct logto_ctx *ctx, struct logto_http *http,
                         struct logto_oidc *oidc, bool force, struct logto_error *err);

/*
 * Verify an ID token issued by this provider for client_id (nonce: NULL unless one was sent).
 * An unknown kid fetches the JWKS again (rate-limited), so key rotation, also from EC to RSA
 * and back, needs nothing else. On success *ret_claims is the verified payload.
 */
int logto_oidc_verify_id_token(const struct logto_ctx *ctx, struct logto_http *http,
                               struct logto_oidc *oidc, const char *client_id, const char *id_token,
                               const char *nonce, struct json_t **ret_claims,
                               struct logto_error *err);

/* Does the provider offer grant_type? True when it does not advertise its grant types. */
bool logto_oidc_supports_grant(const struct logto_oidc *oidc, const char *grant_type);

/* The scopes to request (cfg->scopes joined by spaces; "openid" when unset). Caller frees. */
char *logto_oidc_scope(const struct logto_config *cfg);

/* Logto needs resource=urn:logto:resource:organizations with the organization scopes. */
bool logto_oidc_wants_org_resource(const struct logto_config *cfg);

/* Is uri one of the resource indicators a sign-in requests (the organization resource when
 * logto_oidc_wants_org_resource, and cfg->resources)? Only those can be asked for later with
 * the refresh token (RFC 8707 2.2: the grant is limited to what was requested). */
bool logto_oidc_requests_resource(const struct logto_config *cfg, const char *uri);

/* Append those resource indicators to a sign-in request (device or authorization request),
 * one `resource` parameter each. Returns 0 or -LOGTO_E_NOMEM. */
int logto_oidc_add_resources(const struct logto_config *cfg, struct logto_form *form);
