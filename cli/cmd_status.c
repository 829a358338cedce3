/* SPDX-License-Identifier: MIT */
/*
 * logtoctl status: is this host's Logto setup healthy? The configuration, the IdP (a fresh
 * discovery fetch, timed), the discovery and JWKS caches, the directory snapshot NSS answers
 * from, the last sync and the token records (root only). Nothing here writes anything, and no
 * secret is shown: not the refresh tokens, not the verifiers, not the signing keys.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "directory.h"
#include "fileio.h"
#include "http.h"
#include "json.h"
#include "localset.h"
#include "lookup.h"
#include "mgmt.h"
#include "oidc.h"
#include "owners.h"
#include "relay.h"
#include "snapshot.h"
#include "store.h"
#include "sync.h"
#include "syncstatus.h"
#include "util.h"

#define NSS_SNAPSHOT LOGTO_STATE_DIR "/" LOGTO_SNAPSHOT_NAME

struct status {
    int64_t now;
    json_t *problems, *warnings; /* arrays of strings */
    bool config_ok, unreachable;
    bool root;              /* only root sees the secrets, the M2M token, the records */
    int64_t sync_denied_at; /* the last sync failed: the Management API refused (0: no) */
};

static void problem(struct status *st, const char *fmt, ...) _printf_(2, 3);
static void problem(struct status *st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(st->problems, json_string(buf));
}

static void warning(struct status *st, const char *fmt, ...) _printf_(2, 3);
static void warning(struct status *st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(st->warnings, json_string(buf));
}

static json_t *jtime(int64_t t)
{
    return t > 0 ? json_integer(t) : json_null();
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "3d 4h", "5m 12s", "12s": a duration for people. */
static const char *duration_text(int64_t s, char *buf, size_t n)
{
    if (s < 0)
        s = -s;
    if (s >= 86400)
        snprintf(buf, n, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, n, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, n, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, n, "%" PRId64 "s", s);
    return buf;
}

/* "5m 12s ago", "in 3h", "never". */
static const char *when_text(const struct status *st, int64_t t, char *buf, size_t n)
{
    char d[64];

    if (t <= 0)
        snprintf(buf, n, "never");
    else if (t > st->now)
        snprintf(buf, n, "in %s", duration_text(t - st->now, d, sizeof(d)));
    else
        snprintf(buf, n, "%s ago", duration_text(st->now - t, d, sizeof(d)));
    return buf;
}

/* ---------------------------------------------------------------- configuration */

static json_t *config_part(const char *path, struct logto_config **ret_cfg, struct status *st)
{
    _cleanup_strv_ char **errors = NULL;
    json_t *files, *errs;
    int n = logto_config_check(path, ret_cfg, &errors);

    if (n < 0) {
        problem(st, "configuration: cannot be checked (%s)", logto_errc_name(logto_errc_from(n)));
        return json_pack("{s:b, s:[], s:[s]}", "ok", 0, "files", "errors",
                         logto_errc_name(logto_errc_from(n)));
    }
    st->config_ok = n == 0;
    files = json_array();
    errs = json_array();
    for (size_t i = 0; *ret_cfg && (*ret_cfg)->sources && (*ret_cfg)->sources[i]; i++)
        json_array_append_new(files, json_string((*ret_cfg)->sources[i]));
    for (size_t i = 0; errors && errors[i]; i++)
        json_array_append_new(errs, json_string(errors[i]));
    if (n > 0)
        problem(st, "configuration: %d error%s", n, n == 1 ? "" : "s");
    return json_pack("{s:b, s:o, s:o}", "ok", n == 0, "files", files, "errors", errs);
}

/* ---------------------------------------------------------------- the IdP */

static char *discovery_url(const char *issuer)
{
    size_t n = strlen(issuer);

    while (n > 0 && issuer[n - 1] == '/')
        n--;
    return logto_asprintf("%.*s/.well-known/openid-configuration", (int)n, issuer);
}

/* A public client at a provider whose discovery says it revokes only for authenticated clients
 * (revocation_endpoint_auth_methods_supported without "none", as Glewlwyd's): logout and
 * revoke_on_close will be refused. */
static void revocation_warning(const struct logto_ctx *ctx, const struct logto_oidc *oidc,
                               const json_t *doc, struct status *st)
{
    const json_t *methods = json_object_get(doc, "revocation_endpoint_auth_methods_supported");
    const json_t *m;
    size_t i;

    if (!oidc->revocation_endpoint || ctx->cfg->client_secret_file || !json_is_array(methods))
        return;
    json_array_foreach(methods, i, m) if (logto_streq(json_string_value(m), "none")) return;
    warning(st, "IdP: the provider revokes tokens only for authenticated clients "
                "(revocation_endpoint_auth_methods_supported has no \"none\"): logtoctl logout and "
                "revoke_on_close cannot revoke with this public client; set client_secret_file");
}

/* A fresh discovery fetch (never the cache), with the configured timeouts and CA, checked as
 * sign-ins check it. */
static json_t *idp_part(const struct logto_ctx *ctx, bool offline, struct status *st)
{
    _cleanup_free_ char *issuer = NULL, *url = NULL;
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_oidc_ struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };
    int64_t t0, ms;
    int r;

    if (!ctx->cfg)
        return json_pack("{s:b, s:s}", "checked", 0, "skipped", "configuration invalid");
    if (offline)
        return json_pack("{s:b, s:s}", "checked", 0, "skipped", "--offline");
    issuer = logto_oidc_expected_issuer(ctx->cfg);
    url = issuer ? discovery_url(issuer) : NULL;
    if (!url) {
        problem(st, "IdP: no issuer configured");
        return json_pack("{s:b, s:s}", "checked", 0, "skipped", "no issuer");
    }
    t0 = monotonic_ms();
    r = logto_http_new(ctx, 0, &http, &err);
    if (r >= 0)
        r = logto_http_get(http, url, NULL, &resp, &err);
    if (r >= 0 && resp.status != 200)
        r = logto_error_set(&err, LOGTO_E_PROTOCOL,
                            "the discovery document at %s answered HTTP %ld", url, resp.status);
    if (r >= 0)
        r = logto_http_response_json(&resp, "the discovery document", &doc, &err);
    ms = monotonic_ms() - t0;
    if (r >= 0)
        r = logto_oidc_from_discovery(ctx->cfg, issuer, doc, &oidc, &err);
    if (r == -LOGTO_E_UNREACHABLE) {
        st->unreachable = true;
        problem(st, "IdP: unreachable: %s", err.message);
    } else if (r < 0)
        problem(st, "IdP: the discovery document was refused: %s", err.message);
    else
        revocation_warning(ctx, oidc, doc, st);
    return json_pack("{s:b, s:s, s:s, s:b, s:b, s:I, s:o, s:o}", "checked", 1, "issuer", issuer,
                     "url", url, "reachable", r != -LOGTO_E_UNREACHABLE, "ok", r >= 0, "elapsed_ms",
                     (json_int_t)ms, "device_flow",
                     oidc ? json_boolean(oidc->device_authorization_endpoint != NULL) : json_null(),
                     "error",
                     r < 0 ? json_pack("{s:s, s:s}", "code", logto_errc_name(logto_errc_from(r)),
                                       "message", err.message)
                           : json_null());
}

/* ---------------------------------------------------------------- the caches */

/* One cache file of oidc.c: {"format","key","fetched_at","expires_at","document"}. */
static json_t *cache_file(const struct logto_ctx *ctx, int dirfd, const char *dir, const char *name,
                          const char *expected_key, bool is_jwks, struct status *st)
{
    _cleanup_free_ char *path = logto_asprintf("%s/%s", dir, name);
    _cleanup_json_ json_t *file = NULL;
    struct logto_error err = { 0 };
    const char *key = NULL;
    json_t *doc = NULL, *keys = NULL, *out;
    int64_t fetched = 0, expires = 0;
    size_t len = 0;
    int r;

    (void)ctx;
    if (!path)
        return NULL;
    _cleanup_free_ char *buf = NULL;
    r = dirfd < 0 ? -LOGTO_E_NOTFOUND
                  : logto_file_read_at(dirfd, name, path, LOGTO_FILE_PUBLIC, LOGTO_OIDC_CACHE_MAX,
                                       &buf, &len, &err);
    if (r == -LOGTO_E_NOTFOUND)
        return json_pack("{s:s, s:b}", "path", path, "present", 0);
    if (r >= 0)
        r = logto_json_parse_object(buf, len, LOGTO_OIDC_CACHE_MAX, LOGTO_JSON_MAX_DEPTH, path,
                                    &file, &err);
    if (r >= 0)
        r = logto_json_get_string(file, "key", LOGTO_JSON_REQUIRED, &key, &err);
    if (r >= 0)
        r = logto_json_get_int(file, "fetched_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &fetched,
                               &err);
    if (r >= 0)
        r = logto_json_get_int(file, "expires_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &expires,
                               &err);
    if (r >= 0)
        r = logto_json_get_object(file, "document", LOGTO_JSON_REQUIRED, &doc, &err);
    if (r < 0) {
        /* Sign-ins ignore such a file and fetch again; worth a look, not an outage. */
        warning(st, "cache: %s is not usable: %s", path, err.message);
        return json_pack("{s:s, s:b, s:s}", "path", path, "present", 1, "problem", err.message);
    }
    out = json_pack("{s:s, s:b, s:s, s:I, s:I, s:b}", "path", path, "present", 1, "key", key,
                    "fetched_at", (json_int_t)fetched, "expires_at", (json_int_t)expires, "fresh",
                    fetched <= st->now && st->now < expires);
    if (out && expected_key && strcmp(key, expected_key) != 0) {
        warning(st, "cache: %s is for %s, not %s (it will be replaced)", path, key, expected_key);
        json_object_set_new(out, "problem", json_string("for another issuer or key set"));
    }
    if (out && is_jwks) {
        json_t *kids = json_array(), *k;
        size_t i;
        (void)logto_json_get_array(doc, "keys", 0, &keys, &err);
        json_array_foreach(keys, i, k)
        {
            const char *kid = json_string_value(json_object_get(k, "kid"));
            json_array_append_new(kids, cli_json_string_or_null(kid));
        }
        json_object_set_new(out, "keys", json_integer((json_int_t)json_array_size(keys)));
        json_object_set_new(out, "kids", kids ? kids : json_null());
    }
    return out;
}

static json_t *cache_part(const struct logto_ctx *ctx, struct status *st)
{
    const char *dir = ctx->cfg && ctx->cfg->cache_dir ? ctx->cfg->cache_dir : LOGTO_CACHE_DIR;
    _cleanup_free_ char *issuer = ctx->cfg ? logto_oidc_expected_issuer(ctx->cfg) : NULL;
    _cleanup_close_ int dirfd = -1;
    struct logto_error err = { 0 };
    json_t *disc, *jwks;
    int r = logto_dir_open_trusted(dir, false, &dirfd, &err);

    if (r < 0 && r != -LOGTO_E_NOTFOUND)
        problem(st, "cache: %s", err.message);
    disc = cache_file(ctx, dirfd, dir, LOGTO_DISCOVERY_FILE, issuer, false, st);
    jwks = cache_file(ctx, dirfd, dir, LOGTO_JWKS_FILE, NULL, true, st);
    return json_pack("{s:s, s:o, s:o, s:o}", "dir", dir, "problem",
                     r < 0 && r != -LOGTO_E_NOTFOUND ? json_string(err.message) : json_null(),
                     "discovery", disc ? disc : json_null(), "jwks", jwks ? jwks : json_null());
}

/* ---------------------------------------------------------------- the snapshot */

/* Whether the local files are still those the snapshot's writer checked (localset.h): then the
 * NSS module reads neither; otherwise it checks every entry against them until the next write. */
static const char *local_files_state(const struct logto_snapshot *snap)
{
    uint64_t fp = logto_snapshot_local_files(snap);

    if (fp == 0)
        return "unknown";
    return logto_local_fingerprint_at(NULL, NULL) == fp ? "unchanged" : "changed";
}

static json_t *snapshot_part(const struct logto_ctx *ctx, struct status *st)
{
    const char *sd = ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    _cleanup_free_ char *path = logto_asprintf("%s/%s", sd, LOGTO_SNAPSHOT_NAME);
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    struct logto_error err = { 0 };
    struct stat sb;
    json_t *out;
    int r = -LOGTO_E_BUSY;

    if (!path)
        return NULL;
    if (strcmp(path, NSS_SNAPSHOT) != 0)
        warning(st,
                "snapshot: the NSS module reads %s, but this configuration writes %s "
                "(state_dir): sign-ins and syncs here are invisible to getent",
                NSS_SNAPSHOT, path);
    for (int i = 0; i < 3 && r == -LOGTO_E_BUSY; i++)
        r = logto_snapshot_open(path, &snap, &err);
    /* Readers check what they read, lazily; here every byte is checked (O(size), once). */
    if (r == 0 && (r = logto_snapshot_verify(snap, &err)) < 0)
        logto_snapshot_unref(TAKE_PTR(snap));
    out = json_pack("{s:s, s:s, s:b}", "path", path, "nss_path", NSS_SNAPSHOT, "present",
                    r != -LOGTO_E_NOTFOUND);
    if (!out)
        return NULL;
    if (r == -LOGTO_E_NOTFOUND) {
        warning(st,
                "snapshot: %s does not exist: no %s user resolves through NSS (run "
                "logtoctl sync, or sign someone in)",
                path, logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
        return out;
    }
    if (r < 0) {
        problem(st, "snapshot: %s", err.message);
        json_object_set_new(out, "problem", json_string(err.message));
        return out;
    }
    if (lstat(path, &sb) == 0)
        json_object_set_new(out, "size", json_integer((json_int_t)sb.st_size));
    json_object_update_new(out, json_pack("{s:o, s:I, s:I, s:I, s:s}", "written_at",
                                          jtime(logto_snapshot_created_at(snap)), "users",
                                          (json_int_t)logto_snapshot_n_users(snap), "groups",
                                          (json_int_t)logto_snapshot_n_groups(snap), "generation",
                                          (json_int_t)logto_snapshot_generation(snap),
                                          "local_files", local_files_state(snap)));
    return out;
}

/* ---------------------------------------------------------------- the last sync */

static json_t *sync_part(const struct logto_ctx *ctx, struct status *st)
{
    _cleanup_(logto_sync_status_freep) struct logto_sync_status *s = NULL;
    struct logto_error err = { 0 };
    bool relay = ctx->cfg && ctx->cfg->relay_url;
    bool configured = relay || (ctx->cfg && ctx->cfg->profile == LOGTO_PROFILE_LOGTO &&
                                ctx->cfg->m2m_client_id && ctx->cfg->m2m_client_secret_file);
    int r = logto_sync_status_read(ctx, &s, &err);

    if (r == -LOGTO_E_NOTFOUND)
        return json_pack("{s:b, s:n}", "configured", configured, "last");
    if (r < 0) {
        problem(st, "sync: the status of the last sync is unreadable: %s", err.message);
        return json_pack("{s:b, s:n, s:s}", "configured", configured, "last", "problem",
                         err.message);
    }
    if (!s->ok)
        problem(st, "sync: the last sync%s failed: %s", relay ? " from the relay" : "",
                s->error_message ? s->error_message : "?");
    else if (s->skipped || s->collisions)
        problem(st,
                "sync: the last sync left out %" PRIu64 " user%s (%" PRIu64
                " collision%s): they cannot sign in here; logtoctl sync --dry-run --verbose says "
                "who and why",
                s->skipped, s->skipped == 1 ? "" : "s", s->collisions,
                s->collisions == 1 ? "" : "s");
    if (!s->ok && logto_streq(s->error_code, logto_errc_name(LOGTO_E_DENIED)))
        st->sync_denied_at = s->finished_at;
    return json_pack("{s:b, s:{s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
                     "configured", configured, "last", "finished_at", (json_int_t)s->finished_at,
                     "ok", s->ok, "written", s->written, "elapsed_ms", (json_int_t)s->elapsed_ms,
                     "users", (json_int_t)s->users, "groups", (json_int_t)s->groups, "changes",
                     (json_int_t)s->changes, "skipped", (json_int_t)s->skipped, "collisions",
                     (json_int_t)s->collisions, "requests", (json_int_t)s->requests, "error",
                     s->ok ? json_null()
                           : json_pack("{s:s, s:s}", "code", s->error_code ? s->error_code : "",
                                       "message", s->error_message ? s->error_message : ""));
}

/* ---------------------------------------------------------------- the relay */

/* A relay host ([relay] url): the published directory installed last (relay.state). A relay
 * sync refuses a manifest past its not_after, so when the publisher falls silent or the relay
 * cannot be fetched, the last one stays installed and ages: past not_after it is a problem. */
static json_t *relay_part(const struct logto_ctx *ctx, struct status *st)
{
    struct logto_relay_installed in = { 0 };
    struct logto_error err = { 0 };
    char a[64];
    json_t *out;
    int r;

    if (!ctx->cfg || !ctx->cfg->relay_url)
        return json_null();
    r = logto_relay_installed_read(ctx, &in, &err);
    out = json_pack("{s:s, s:b}", "url", ctx->cfg->relay_url, "installed", r >= 0);
    if (!out)
        return NULL;
    if (r == -LOGTO_E_NOTFOUND) {
        warning(st, "relay: no directory published at %s is installed yet (run logtoctl sync)",
                ctx->cfg->relay_url);
        return out;
    }
    if (r < 0) {
        problem(st, "relay: %s", err.message);
        json_object_set_new(out, "problem", json_string(err.message));
        return out;
    }
    json_object_update_new(
        out, json_pack("{s:I, s:s, s:o, s:o, s:o, s:o}", "serial", (json_int_t)in.serial, "sha256",
                       in.sha256, "generated_at", jtime(in.generated_at), "not_after",
                       jtime(in.not_after), "age_s",
                       in.generated_at > 0 ? json_integer(st->now - in.generated_at) : json_null(),
                       "expired",
                       in.not_after > 0 ? json_boolean(in.not_after < st->now) : json_null()));
    if (in.not_after > 0 && in.not_after < st->now)
        problem(st,
                "relay: the installed directory (serial %" PRId64 ") EXPIRED %s (not_after %" PRId64
                "): the publisher has not published since or this host cannot fetch it; users "
                "still resolve from it",
                in.serial, when_text(st, in.not_after, a, sizeof(a)), in.not_after);
    else if (in.not_after > 0 && in.generated_at > 0 &&
             in.not_after - st->now < (in.not_after - in.generated_at) / 4)
        warning(st,
                "relay: the installed directory (serial %" PRId64 ") expires %s; the publisher "
                "publishes again at half its validity: check it and this host's syncs",
                in.serial, when_text(st, in.not_after, a, sizeof(a)));
    return out;
}

/* ---------------------------------------------------------------- blocked names and UIDs */

static json_t *blocked_entries(const struct logto_config *cfg, const struct logto_blocked_entry *v,
                               size_t n, bool uids, struct status *st)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        _cleanup_free_ char *who = logto_blocked_claimants_text(&v[i]);
        json_t *cl = json_array();
        for (size_t k = 0; cl && k < v[i].n_claimants; k++)
            json_array_append_new(cl, json_pack("{s:s, s:s, s:s}", "sub", v[i].claimants[k].sub,
                                                "name", v[i].claimants[k].name, "claim",
                                                v[i].claimants[k].claim));
        if (uids)
            problem(st, "UID %" PRIu32 " is blocked: %s: %s", v[i].uid, v[i].reason,
                    who ? who : "?");
        else
            problem(st, "name %s is blocked: %s: %s (rename them %s, then run logtoctl sync)",
                    v[i].name, v[i].reason, who ? who : "?", logto_idp_text(cfg, LOGTO_IDP_IN));
        json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:o}", "name", v[i].name, "uid",
                                           (json_int_t)v[i].uid, "reason", v[i].reason, "claimants",
                                           cl ? cl : json_null()));
    }
    return a;
}

/* What the last sync blocked (owners.h): every entry is a problem, someone cannot sign in. */
static json_t *blocked_part(const struct logto_ctx *ctx, struct status *st)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = NULL;
    struct logto_error err = { 0 };
    int r = logto_blocked_read(ctx, &b, &err);

    if (r < 0) {
        problem(st, "blocked names: %s", err.message);
        return json_pack("{s:s}", "problem", err.message);
    }
    return json_pack("{s:o, s:o}", "names",
                     blocked_entries(ctx->cfg, b->names, b->n_names, false, st), "uids",
                     blocked_entries(ctx->cfg, b->uids, b->n_uids, true, st));
}

/* ---------------------------------------------------------------- token records */

static json_t *record_json(const char *name, const struct logto_record *rec, int r,
                           const struct logto_error *err)
{
    if (r < 0)
        return json_pack("{s:s, s:s}", "name", name, "problem", err->message);
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:b, s:o, s:b, s:o, s:b, s:o, s:o}", "name",
                     name, "sub", rec->sub, "uid", (json_int_t)rec->uid, "auth_method",
                     logto_auth_method_name(rec->auth_method), "auth_at", jtime(rec->auth_at),
                     "claims_at", jtime(rec->claims_at), "refresh_token",
                     rec->refresh_token != NULL, "refresh_token_at", jtime(rec->refresh_token_at),
                     "verifier", rec->verifier != NULL, "verifier_at", jtime(rec->verifier_at),
                     "suspended", rec->suspended, "refresh_failed_at",
                     jtime(rec->refresh_failed_at), "refresh_error",
                     cli_json_string_or_null(rec->refresh_error));
}

static json_t *tokens_part(const struct logto_ctx *ctx, struct status *st)
{
    const char *sd = ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", sd, LOGTO_TOKENS_SUBDIR);
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_strv_ char **names = NULL;
    struct logto_error err = { 0 };
    struct stat sb;
    json_t *records;
    int r;

    if (!dir)
        return NULL;
    if (geteuid() != 0)
        return json_pack("{s:s, s:b, s:s}", "dir", dir, "readable", 0, "skipped",
                         "root only (the records hold refresh tokens)");
    /* Only look: logto_store_open would create a missing directory. */
    if (lstat(dir, &sb) < 0 && errno == ENOENT)
        return json_pack("{s:s, s:b, s:[]}", "dir", dir, "readable", 1, "records");
    r = logto_store_open(ctx, &store, &err);
    if (r >= 0)
        r = logto_store_list(store, &names, &err);
    if (r < 0) {
        problem(st, "token records: %s", err.message);
        return json_pack("{s:s, s:b, s:s}", "dir", dir, "readable", 0, "problem", err.message);
    }
    records = json_array();
    for (size_t i = 0; records && names[i]; i++) {
        _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
        struct logto_error e = { 0 };
        struct logto_holder h = { 0 };
        struct logto_error he = { 0 };
        json_t *rj;
        int rr = logto_store_read(store, names[i], &rec, &e);
        bool holds = false;
        if (rr < 0)
            warning(st, "token record %s: %s", names[i], e.message);
        else if (logto_owner_holder(ctx, names[i], &h, &he) < 0)
            warning(st, "token record %s: cannot tell who holds the name: %s", names[i],
                    he.message);
        else if (!(holds = h.kind == LOGTO_HOLDER_SUBJECT && strcmp(h.sub, rec->sub) == 0 &&
                           h.uid == rec->uid))
            problem(st,
                    "token record %s: belongs to %s user %s (uid %" PRIu32 "), but the name %s%s "
                    "(logtoctl logout %s removes the record)",
                    names[i], logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL), rec->sub, rec->uid,
                    h.kind == LOGTO_HOLDER_BLOCKED ? "is blocked"
                    : h.kind == LOGTO_HOLDER_NONE  ? "is not served on this host"
                    : strcmp(h.sub, rec->sub) != 0 ? "now belongs to "
                                                   : "has another uid in the snapshot, held by ",
                    h.kind == LOGTO_HOLDER_SUBJECT ? h.sub : "", names[i]);
        else if (rec->refresh_failed_at && rec->refresh_token &&
                 logto_streq(rec->refresh_error, LOGTO_REFRESH_NO_ACCESS))
            warning(st,
                    "token record %s: %s gives this user no access to the application "
                    "(access_denied on refresh): grant it there; signing in again will not help",
                    names[i], logto_idp_name(ctx->cfg));
        else if (rec->refresh_failed_at)
            warning(st, "token record %s: the last refresh failed (%s): the user signs in again",
                    names[i], rec->refresh_error ? rec->refresh_error : "?");
        rj = record_json(names[i], rec, rr, &e);
        if (rj && rr >= 0)
            json_object_set_new(rj, "holder_matches", json_boolean(holds));
        json_array_append_new(records, rj);
    }
    return json_pack("{s:s, s:b, s:o}", "dir", dir, "readable", 1, "records",
                     records ? records : json_null());
}

/* ---------------------------------------------------------------- other cached state */

/* When a state file was last written (its mtime; nothing of it is read: the M2M token and the
 * lookups are secrets). */
static json_t *state_file(const struct logto_ctx *ctx, const char *name, int64_t *ret_at)
{
    const char *sd = ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    _cleanup_free_ char *path = logto_asprintf("%s/%s", sd, name);
    struct stat sb;

    *ret_at = 0;
    if (!path)
        return NULL;
    if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return json_pack("{s:s, s:b}", "path", path, "present", 0);
    *ret_at = (int64_t)sb.st_mtime;
    return json_pack("{s:s, s:b, s:I}", "path", path, "present", 1, "written_at",
                     (json_int_t)sb.st_mtime);
}

/* The cached M2M token: how old. A token obtained before the Management API refused the last
 * sync is still used until it expires, so a permission granted since does not show yet. */
static json_t *m2m_part(const struct logto_ctx *ctx, struct status *st)
{
    int64_t at = 0;
    json_t *out = state_file(ctx, LOGTO_MGMT_TOKEN_FILE, &at);
    char a[64], b[64];

    if (out && at && st->sync_denied_at && at <= st->sync_denied_at) {
        problem(st,
                "M2M token: the cached token (obtained %s) predates the Management API's refusal "
                "of the last sync (%s) and is used until it expires: after granting the "
                "permission, run logtoctl cache clear --m2m-token, then logtoctl sync",
                when_text(st, at, a, sizeof(a)), when_text(st, st->sync_denied_at, b, sizeof(b)));
        json_object_set_new(out, "predates_denial", json_true());
    }
    return out;
}

/* The SSH key cache: how many files, the oldest and newest. */
static json_t *keys_part(const struct logto_ctx *ctx)
{
    const char *sd = ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", sd, LOGTO_KEYS_SUBDIR);
    _cleanup_close_ int fd = -1;
    struct logto_error err = { 0 };
    int64_t oldest = 0, newest = 0;
    size_t files = 0;
    DIR *d;
    struct dirent *de;
    int r;

    if (!dir)
        return NULL;
    r = logto_dir_open_trusted(dir, true, &fd, &err);
    if (r == -LOGTO_E_NOTFOUND)
        return json_pack("{s:s, s:b}", "dir", dir, "present", 0);
    if (r < 0 || !(d = fdopendir(fd)))
        return json_pack("{s:s, s:b, s:s}", "dir", dir, "present", 1, "problem",
                         r < 0 ? err.message : strerror(errno));
    fd = -1; /* d owns it */
    while ((de = readdir(d))) {
        struct stat sb;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        files++;
        if (!oldest || sb.st_mtime < oldest)
            oldest = (int64_t)sb.st_mtime;
        if (sb.st_mtime > newest)
            newest = (int64_t)sb.st_mtime;
    }
    closedir(d);
    return json_pack("{s:s, s:b, s:I, s:o, s:o}", "dir", dir, "present", 1, "files",
                     (json_int_t)files, "oldest_at", jtime(oldest), "newest_at", jtime(newest));
}

/* ---------------------------------------------------------------- text output */

static const char *jget_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int64_t jget_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void print_cache_file(const struct status *st, const char *label, const json_t *f)
{
    char a[64], b[64];

    if (!json_is_true(json_object_get(f, "present"))) {
        printf("  %-10s absent\n", label);
        return;
    }
    if (jget_str(f, "problem") && !json_object_get(f, "fetched_at")) {
        printf("  %-10s unusable: %s\n", label, jget_str(f, "problem"));
        return;
    }
    printf("  %-10s fetched %s, %s %s", label,
           when_text(st, jget_int(f, "fetched_at"), a, sizeof(a)),
           json_is_true(json_object_get(f, "fresh")) ? "fresh, expires" : "stale since",
           when_text(st, jget_int(f, "expires_at"), b, sizeof(b)));
    if (json_object_get(f, "keys")) {
        const json_t *kid;
        size_t i;
        printf(", %" PRId64 " key%s", jget_int(f, "keys"), jget_int(f, "keys") == 1 ? "" : "s");
        json_array_foreach(json_object_get(f, "kids"), i, kid)
        {
            printf("%s%s", i ? " " : " (kid ", json_is_string(kid) ? json_string_value(kid) : "-");
        }
        if (json_array_size(json_object_get(f, "kids")))
            printf(")");
    }
    printf("%s%s\n", jget_str(f, "problem") ? ": " : "",
           jget_str(f, "problem") ? jget_str(f, "problem") : "");
}

/* "M2M token (path): obtained 5m 3s ago" or "absent". */
static void print_state_file(const struct status *st, const char *label, const json_t *f,
                             const char *verb)
{
    char a[64];

    if (!json_is_true(json_object_get(f, "present")))
        printf("%s (%s): absent\n", label, jget_str(f, "path"));
    else
        printf("%s (%s): %s %s%s\n", label, jget_str(f, "path"), verb,
               when_text(st, jget_int(f, "written_at"), a, sizeof(a)),
               json_is_true(json_object_get(f, "predates_denial"))
                   ? ", BEFORE the Management API refused the last sync"
                   : "");
}

static void print_text(const struct status *st, const json_t *doc)
{
    const json_t *cfg = json_object_get(doc, "config"), *idp = json_object_get(doc, "idp"),
                 *cache = json_object_get(doc, "cache"), *snap = json_object_get(doc, "snapshot"),
                 *sync = json_object_get(doc, "sync"), *tok = json_object_get(doc, "tokens"), *item;
    char a[64], b[64], c[64];
    size_t i;

    if (json_is_true(json_object_get(cfg, "ok"))) {
        printf("configuration: OK (");
        json_array_foreach(json_object_get(cfg, "files"), i, item)
        {
            printf("%s%s", i ? ", " : "", json_string_value(item));
        }
        printf(")\n");
    } else if (!st->root) {
        printf("configuration: cannot be checked as this user: run logtoctl status as root\n");
        json_array_foreach(json_object_get(cfg, "errors"), i, item)
        {
            printf("  as this user: %s\n", json_string_value(item));
        }
    } else {
        printf("configuration: INVALID\n");
        json_array_foreach(json_object_get(cfg, "errors"), i, item)
        {
            printf("  %s\n", json_string_value(item));
        }
    }

    if (!json_is_true(json_object_get(idp, "checked")))
        printf("IdP: not checked (%s)\n", jget_str(idp, "skipped"));
    else if (json_is_true(json_object_get(idp, "ok")))
        printf("IdP: reachable, discovery fetched and valid in %" PRId64 " ms (%s)%s\n",
               jget_int(idp, "elapsed_ms"), jget_str(idp, "issuer"),
               json_is_false(json_object_get(idp, "device_flow")) ? "; no device flow endpoint"
                                                                  : "");
    else
        printf("IdP: %s after %" PRId64 " ms: %s\n",
               json_is_true(json_object_get(idp, "reachable")) ? "answered, but wrongly"
                                                               : "UNREACHABLE",
               jget_int(idp, "elapsed_ms"), jget_str(json_object_get(idp, "error"), "message"));

    printf("cache (%s):%s%s\n", jget_str(cache, "dir"), jget_str(cache, "problem") ? " " : "",
           jget_str(cache, "problem") ? jget_str(cache, "problem") : "");
    print_cache_file(st, "discovery", json_object_get(cache, "discovery"));
    print_cache_file(st, "jwks", json_object_get(cache, "jwks"));

    printf("snapshot: %s\n", jget_str(snap, "path"));
    if (!json_is_true(json_object_get(snap, "present")))
        printf("  absent\n");
    else if (jget_str(snap, "problem"))
        printf("  UNUSABLE: %s\n", jget_str(snap, "problem"));
    else
        printf("  written %s, %" PRId64 " bytes, %" PRId64 " users, %" PRId64
               " groups, generation %" PRId64 "\n",
               when_text(st, jget_int(snap, "written_at"), a, sizeof(a)), jget_int(snap, "size"),
               jget_int(snap, "users"), jget_int(snap, "groups"), jget_int(snap, "generation"));
    if (jget_str(snap, "local_files"))
        printf("  local files: %s\n",
               logto_streq(jget_str(snap, "local_files"), "unchanged")
                   ? "as the writer checked them (NSS reads neither)"
               : logto_streq(jget_str(snap, "local_files"), "changed")
                   ? "changed since it was written (NSS checks every entry against "
                     "them until the next sync or sign-in)"
                   : "not fingerprinted (NSS checks every entry against them until the "
                     "next sync or sign-in)");
    printf("  NSS reads %s\n", jget_str(snap, "nss_path"));

    item = json_object_get(sync, "last");
    if (json_is_object(item) && json_is_true(json_object_get(item, "ok")))
        printf("last sync: %s, %s: %" PRId64 " users, %" PRId64 " groups, %" PRId64
               " changes, %" PRId64 " skipped, %" PRId64 " collisions, %.1f s\n",
               jget_int(item, "skipped") || jget_int(item, "collisions") ? "INCOMPLETE" : "OK",
               when_text(st, jget_int(item, "finished_at"), a, sizeof(a)), jget_int(item, "users"),
               jget_int(item, "groups"), jget_int(item, "changes"), jget_int(item, "skipped"),
               jget_int(item, "collisions"), (double)jget_int(item, "elapsed_ms") / 1000.0);
    else if (json_is_object(item))
        printf("last sync: FAILED, %s: %s%s\n",
               when_text(st, jget_int(item, "finished_at"), a, sizeof(a)),
               jget_str(json_object_get(item, "error"), "message"),
               json_is_true(json_object_get(item, "written")) ? " (the snapshot was written)" : "");
    else if (jget_str(sync, "problem"))
        printf("last sync: unknown: %s\n", jget_str(sync, "problem"));
    else
        printf("last sync: never%s\n", json_is_true(json_object_get(sync, "configured"))
                                           ? " (run logtoctl sync, or enable logto-sync.timer)"
                                           : " ([sync] is not configured)");

    item = json_object_get(doc, "relay");
    if (json_is_object(item)) {
        printf("relay: %s\n", jget_str(item, "url"));
        if (jget_str(item, "problem"))
            printf("  UNREADABLE: %s\n", jget_str(item, "problem"));
        else if (!json_is_true(json_object_get(item, "installed")))
            printf("  nothing installed yet\n");
        else if (!jget_int(item, "not_after"))
            printf("  installed serial %" PRId64 " (generated_at and not_after not recorded: "
                   "the next sync that installs a directory records them)\n",
                   jget_int(item, "serial"));
        else
            printf("  installed serial %" PRId64 ", generated %s (generated_at %" PRId64
                   "), %s %s (not_after %" PRId64 ")\n",
                   jget_int(item, "serial"),
                   when_text(st, jget_int(item, "generated_at"), a, sizeof(a)),
                   jget_int(item, "generated_at"),
                   json_is_true(json_object_get(item, "expired")) ? "EXPIRED" : "valid until",
                   when_text(st, jget_int(item, "not_after"), b, sizeof(b)),
                   jget_int(item, "not_after"));
    }

    if (!json_is_true(json_object_get(tok, "readable"))) {
        printf("token records (%s): %s\n", jget_str(tok, "dir"),
               jget_str(tok, "skipped") ? jget_str(tok, "skipped") : jget_str(tok, "problem"));
    } else {
        const json_t *recs = json_object_get(tok, "records");
        printf("token records (%s): %zu\n", jget_str(tok, "dir"), json_array_size(recs));
        json_array_foreach(recs, i, item)
        {
            if (jget_str(item, "problem")) {
                printf("  %-16s UNREADABLE: %s\n", jget_str(item, "name"),
                       jget_str(item, "problem"));
                continue;
            }
            printf("  %-16s sub %s, uid %" PRId64 ", %s sign-in %s%s%s\n", jget_str(item, "name"),
                   jget_str(item, "sub"), jget_int(item, "uid"), jget_str(item, "auth_method"),
                   when_text(st, jget_int(item, "auth_at"), a, sizeof(a)),
                   json_is_true(json_object_get(item, "suspended")) ? ", SUSPENDED" : "",
                   json_is_false(json_object_get(item, "holder_matches"))
                       ? ", NOT the name's holder (unused)"
                       : "");
            printf("  %-16s claims %s; refresh token %s; verifier %s\n", "",
                   when_text(st, jget_int(item, "claims_at"), b, sizeof(b)),
                   json_is_true(json_object_get(item, "refresh_token"))
                       ? when_text(st, jget_int(item, "refresh_token_at"), c, sizeof(c))
                       : "none",
                   json_is_true(json_object_get(item, "verifier"))
                       ? when_text(st, jget_int(item, "verifier_at"), a, sizeof(a))
                       : "none");
            if (jget_int(item, "refresh_failed_at"))
                printf("  %-16s refresh FAILED %s (%s)\n", "",
                       when_text(st, jget_int(item, "refresh_failed_at"), a, sizeof(a)),
                       jget_str(item, "refresh_error") ? jget_str(item, "refresh_error") : "?");
        }
    }

    print_state_file(st, "M2M token", json_object_get(doc, "m2m_token"), "obtained");
    item = json_object_get(doc, "keys");
    if (jget_str(item, "problem"))
        printf("SSH key cache (%s): %s\n", jget_str(item, "dir"), jget_str(item, "problem"));
    else if (!json_is_true(json_object_get(item, "present")) || !jget_int(item, "files"))
        printf("SSH key cache (%s): empty\n", jget_str(item, "dir"));
    else
        printf("SSH key cache (%s): %" PRId64 " file%s, newest written %s, oldest %s\n",
               jget_str(item, "dir"), jget_int(item, "files"),
               jget_int(item, "files") == 1 ? "" : "s",
               when_text(st, jget_int(item, "newest_at"), a, sizeof(a)),
               when_text(st, jget_int(item, "oldest_at"), b, sizeof(b)));
    print_state_file(st, "lookup cache", json_object_get(doc, "lookups"), "written");

    json_array_foreach(json_object_get(doc, "warnings"), i, item)
    {
        printf("warning: %s\n", json_string_value(item));
    }
    json_array_foreach(json_object_get(doc, "problems"), i, item)
    {
        printf("problem: %s\n", json_string_value(item));
    }
    printf("%s\n", !st->root                                       ? "NOT checked in full"
                   : json_is_true(json_object_get(doc, "healthy")) ? "healthy"
                                                                   : "NOT healthy");
}

/* ---------------------------------------------------------------- the command */

static void status_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] [--quiet] status [--offline]\n");
}

int cli_cmd_status(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "offline", no_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *doc = NULL;
    struct status st = { 0 };
    struct logto_ctx ctx;
    bool offline = false;
    json_t *config;
    int64_t lookups_at;
    int c, status;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+oh", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            offline = true;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            status_usage(stdout);
            return CLI_OK;
        default:
            status_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        status_usage(stderr);
        return CLI_USAGE;
    }
    if (cli_absolute_path(cli->config_path, &path) < 0)
        return cli_fail(cli, -LOGTO_E_IO, NULL);

    st.now = logto_now(&cli->ctx);
    st.root = geteuid() == 0;
    st.problems = json_array();
    st.warnings = json_array();
    doc = json_object();
    if (!st.problems || !st.warnings || !doc) {
        json_decref(st.problems);
        json_decref(st.warnings);
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    }
    config = config_part(path, &cfg, &st);
    ctx = cli->ctx;
    /* With an invalid configuration, the compiled-in paths are shown. */
    ctx.cfg = st.config_ok ? cfg : NULL;
    ctx.log.debug = cli->debug || (cfg && cfg->debug);
    json_object_set_new(doc, "now", json_integer(st.now));
    json_object_set_new(doc, "config", config ? config : json_null());
    json_object_set_new(doc, "idp", idp_part(&ctx, offline, &st));
    json_object_set_new(doc, "cache", cache_part(&ctx, &st));
    json_object_set_new(doc, "snapshot", snapshot_part(&ctx, &st));
    json_object_set_new(doc, "sync", sync_part(&ctx, &st));
    json_object_set_new(doc, "relay", relay_part(&ctx, &st));
    json_object_set_new(doc, "blocked", blocked_part(&ctx, &st));
    json_object_set_new(doc, "tokens", tokens_part(&ctx, &st));
    json_object_set_new(doc, "m2m_token", m2m_part(&ctx, &st));
    json_object_set_new(doc, "keys", keys_part(&ctx));
    json_object_set_new(doc, "lookups", state_file(&ctx, LOGTO_LOOKUP_FILE, &lookups_at));
    json_object_set_new(doc, "root", json_boolean(st.root));
    if (!st.root)
        problem(&st, "not root: the configuration's secrets, the M2M token and the token records "
                     "were not checked: run logtoctl status as root");
    json_object_set_new(doc, "healthy", json_boolean(json_array_size(st.problems) == 0));
    json_object_set_new(doc, "problems", st.problems);
    json_object_set_new(doc, "warnings", st.warnings);

    status = !st.root                            ? CLI_NOROOT
             : !st.config_ok                     ? CLI_CONFIG
             : st.unreachable                    ? CLI_UNAVAIL
             : json_array_size(st.problems) != 0 ? CLI_FAIL
                                                 : CLI_OK;
    if (cli->json) {
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII) < 0)
            return CLI_FAIL;
        putchar('\n');
    } else if (!cli->quiet || status != CLI_OK) {
        print_text(&st, doc);
    }
    return fflush(stdout) == 0 ? status : CLI_FAIL;
}
