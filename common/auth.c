/* SPDX-License-Identifier: MIT */
/* The sign-in and account pipelines (see auth.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attempts.h"
#include "auth.h"
#include "directory.h"
#include "fileio.h"
#include "identity.h"
#include "json.h"
#include "localdb.h"
#include "lookup.h"
#include "memory.h"
#include "net.h"
#include "password.h"
#include "relayclaims.h"
#include "authz.h"
#include "owners.h"
#include "slots.h"
#include "snapshot.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "verifier.h"

#define LOCK_TIMEOUT_MS 10000

void logto_auth_result_free(struct logto_auth_result *res)
{
    if (!res)
        return;
    logto_identity_free(res->identity);
    free(res);
}

/* Messages for people name the provider as the profile says (conf.h logto_idp_text): never
 * "Logto" for a provider that is not. */
static bool generic(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->profile == LOGTO_PROFILE_GENERIC;
}

static const char *idp_user(const struct logto_ctx *ctx)
{
    return generic(ctx) ? "user of the identity provider" : "Logto user";
}

static const char *session_ended_text(const struct logto_ctx *ctx)
{
    return generic(ctx) ? "the session at the identity provider ended (revoked, suspended or "
                          "deleted): sign in again"
                        : "the Logto session ended (revoked, suspended or deleted): sign in again";
}
static int new_result(const char *method, struct logto_auth_result **ret, struct logto_error *err)
{
    struct logto_auth_result *res = calloc(1, sizeof(*res));

    if (!res)
        return LOGTO_OOM(err);
    res->method = method;
    *ret = res;
    return 0;
}

static const char *state_dir(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

int logto_auth_is_local_user(const struct logto_ctx *ctx, const char *name, bool *ret,
                             struct logto_error *err)
{
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    int r = logto_localdb_load(ctx, &db, err);

    if (r < 0)
        return r;
    *ret = logto_localdb_has_user(db, name);
    return 0;
}

static bool session_ended(const struct logto_record *rec);
static bool record_of_holder(const struct logto_ctx *ctx, const struct logto_record *rec,
                             const struct logto_holder *h);

/* ---------------------------------------------------------------- the directory snapshot */

static char *snapshot_path(const struct logto_ctx *ctx)
{
    return logto_asprintf("%s/%s", state_dir(ctx), LOGTO_SNAPSHOT_NAME);
}

static void dir_user_from_identity(const struct logto_identity *id, int64_t now,
                                   struct logto_dir_user *u)
{
    *u = (struct logto_dir_user){
        .name = id->name,
        .uid = id->uid,
        .gid = id->gid,
        .gecos = id->gecos,
        .home = id->home,
        .shell = id->shell,
        .sub = id->sub,
        .flags = id->suspended ? LOGTO_USER_SUSPENDED : 0,
        .updated_at = now,
    };
}

/*
 * Add or update the user in the snapshot so NSS serves them. The read-modify-write holds a lock
 * of its own (the snapshot writer locks only around the write), so two sign-ins at once cannot
 * lose each other's update. Only users some service of this host admits exist here (authz.h):
 * anybody else is taken out of the snapshot instead (a role removed since the last sync).
 */
static int directory_update(const struct logto_ctx *ctx, const struct logto_service *svc,
                            const struct logto_identity *id, char *const *displaced,
                            struct logto_error *err)
{
    bool admitted = logto_authz_admits(svc, id) || logto_authz_config_admits(ctx->cfg, id);
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_free_ char *path = snapshot_path(ctx);
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    struct logto_dir_group *groups = NULL;
    struct logto_dir_user user;
    size_t n_groups = 0;
    int r;

    if (!path)
        return LOGTO_OOM(err);
    r = logto_dir_ensure(state_dir(ctx), 0755, false, &dirfd, err);
    if (r < 0)
        return r;
    r = logto_lock_at(dirfd, LOGTO_DIRECTORY_UPDATE_LOCK, LOGTO_DIRECTORY_UPDATE_LOCK,
                      LOCK_TIMEOUT_MS, &lockfd, err);
    if (r < 0)
        return r;

    r = logto_snapshot_read(path, &dir, err);
    if (r == -LOGTO_E_NOTFOUND) {
        dir = logto_directory_new();
        if (!dir)
            return LOGTO_OOM(err);
    } else if (r < 0)
        return r;

    if (!admitted) {
        if (!logto_directory_find_user(dir, id->sub))
            return 0;
        logto_log(&ctx->log, LOG_NOTICE,
                  "directory-not-admitted user=%s sub=%s reason=\"no service on this host admits "
                  "them\"",
                  id->name, id->sub);
        if (logto_directory_remove_user(dir, id->sub) < 0)
            return LOGTO_OOM(err);
        dir->generated_at = logto_now(ctx);
        logto_directory_set_enumerate(dir, !(ctx->cfg && ctx->cfg->no_enumerate));
        return logto_snapshot_write(path, dir, err);
    }
    /* The Management API confirmed that the previous holder of the name no longer has it. */
    for (size_t i = 0; displaced && displaced[i]; i++)
        (void)logto_directory_remove_user(dir, displaced[i]);
    r = logto_identity_groups(ctx, id, &groups, &n_groups, err);
    if (r < 0)
        return r;
    /* Whoever holds an ID they chose, or a role group's name or GID, yields; then the newcomer
     * must fit what is left (identity.h). */
    r = logto_identity_evict_yielding(ctx, dir, id, groups, n_groups, err);
    if (r >= 0)
        r = logto_identity_check_directory(dir, id, err);
    if (r >= 0) {
        dir_user_from_identity(id, logto_now(ctx), &user);
        r = logto_directory_upsert_user(dir, &user, groups, n_groups, err);
    }
    logto_identity_groups_free(groups, n_groups);
    if (r < 0)
        return r;
    r = logto_directory_drop_local(dir, ctx->passwd_path, ctx->group_path, &ctx->log);
    if (r < 0)
        return logto_error_set(err, logto_errc_from(r), "cannot read the local account files");
    dir->generated_at = logto_now(ctx);
    logto_directory_set_enumerate(dir, !(ctx->cfg && ctx->cfg->no_enumerate));
    return logto_snapshot_write(path, dir, err);
}

/* ---------------------------------------------------------------- the token record */

struct signin {
    enum logto_auth_method method;
    const char *refresh_token; /* may be NULL (PAT and management methods) */
    const char *password;      /* set for password methods: the offline verifier */
};

/* Write what this sign-in learned into the user's record (under the user's lock). */
static int record_signin(const struct logto_ctx *ctx, const struct logto_identity *id,
                         const json_t *claims, const struct signin *in, char *const *displaced,
                         struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    _cleanup_secret_ char *verifier = NULL;
    int64_t now = logto_now(ctx);
    int r;

    if (in->password && (r = logto_verifier_create(in->password, &verifier, err)) < 0)
        return r;

    if ((r = logto_store_open(ctx, &store, err)) < 0 ||
        (r = logto_store_lock(store, id->name, LOCK_TIMEOUT_MS, &lock, err)) < 0)
        return r;
    r = logto_store_load(lock, &rec, err);
    /* A record of another Logto user is replaced only when that user was confirmed to have lost
     * the name (check_owner); a record that appeared since is never taken over. */
    if (r == 0 && !logto_streq(rec->sub, id->sub)) {
        if (!logto_strv_contains(displaced, rec->sub)) {
            logto_log(&ctx->log, LOG_WARNING, "auth-name-held user=%s sub=%s holder_sub=%s",
                      id->name, id->sub, rec->sub);
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "the name %s belongs to another %s on this host", id->name,
                                   idp_user(ctx));
        }
        logto_log(&ctx->log, LOG_NOTICE, "record-replaced user=%s old_sub=%s new_sub=%s", id->name,
                  rec->sub, id->sub);
        logto_record_free(TAKE_PTR(rec));
    } else if (r < 0 && r != -LOGTO_E_NOTFOUND)
        return r;
    if (!rec && !(rec = logto_record_new()))
        return LOGTO_OOM(err);

    free(rec->name);
    free(rec->sub);
    rec->name = strdup(id->name);
    rec->sub = strdup(id->sub);
    json_decref(rec->claims);
    rec->claims = json_deep_copy(claims);
    if (!rec->name || !rec->sub || !rec->claims)
        return LOGTO_OOM(err);
    rec->uid = id->uid;
    rec->claims_at = rec->auth_at = now;
    rec->auth_method = in->method;
    rec->suspended = id->suspended;
    logto_record_set_refresh_failure(rec, 0, NULL);
    /* A flow without a refresh token (PAT, management) leaves no grant to refresh. */
    if (logto_record_set_refresh_token(rec, in->refresh_token) < 0)
        return LOGTO_OOM(err);
    rec->refresh_token_at = rec->refresh_token ? now : 0;
    if (verifier) {
        if (logto_record_set_verifier(rec, verifier) < 0)
            return LOGTO_OOM(err);
        rec->verifier_at = now;
    }
    return logto_store_save(lock, rec, err);
}

/* ---------------------------------------------------------------- sign-in */

/*
 * Keep the SSH key cache (what `logtoctl keys` serves while the IdP is down) in step with what
 * this sign-in learned. A failure here only costs the offline copy: logged, not fatal.
 */
static void cache_ssh_keys(const struct logto_ctx *ctx, const struct logto_identity *id)
{
    _cleanup_strv_ char **keys = NULL;
    struct logto_error e = { 0 };

    if (logto_sync_ssh_keys(ctx, id, &keys, NULL, &e) < 0 ||
        logto_sync_keys_store(ctx, id->name, id->sub, keys, &e) < 0)
        logto_log(&ctx->log, LOG_WARNING, "keys-cache-failed user=%s reason=\"%s\"", id->name,
                  e.message);
}

/* ---------------------------------------------------------------- who owns the name */

static bool have_mgmt(const struct logto_ctx *ctx);

/* A token record on this host other than name's that holds uid for another subject. */
static int uid_in_records(const struct logto_ctx *ctx, const struct logto_identity *id,
                          struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_strv_ char **names = NULL;
    int r;

    if ((r = logto_store_open(ctx, &store, err)) < 0 ||
        (r = logto_store_list(store, &names, err)) < 0)
        return r;
    for (size_t i = 0; names[i]; i++) {
        _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
        if (strcmp(names[i], id->name) == 0 || logto_store_read(store, names[i], &rec, NULL) < 0)
            continue;
        if (rec->uid != id->uid || logto_streq(rec->sub, id->sub))
            continue;
        logto_log(&ctx->log, LOG_WARNING,
                  "auth-uid-held user=%s sub=%s uid=%u holder=%s holder_sub=%s", id->name, id->sub,
                  id->uid, rec->name, rec->sub);
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "the UID %u of %s belongs to another %s on this host (%s)", id->uid,
                               id->name, idp_user(ctx), rec->name);
    }
    return 0;
}

/* The Management API names every claimant of the name; the rule of owners.h picks the owner. */
static int owner_by_mgmt(const struct logto_ctx *ctx, const struct logto_identity *id,
                         const char *const *others, char ***ret_displaced, struct logto_error *err)
{
    const struct logto_net_ops *net;
    struct logto_identity **ids = NULL;
    const struct logto_identity **all = NULL;
    size_t n = 0, m = 0;
    ssize_t owner;
    int r;

    if ((r = logto_net_get(ctx, &net, err)) < 0 ||
        (r = net->name_claimants(ctx, id->name, others, &ids, &n, err)) < 0) {
        logto_error_prefix(err, "cannot check who else claims the name %s", id->name);
        return r;
    }
    all = calloc(n + 2, sizeof(*all));
    if (!all)
        r = LOGTO_OOM(err);
    /* The signer as the ID token describes them, and every other claimant. */
    for (size_t i = 0; all && i < n; i++)
        if (!logto_streq(ids[i]->sub, id->sub))
            all[m++] = ids[i];
    if (all)
        all[m++] = id;
    owner = all ? logto_owner_pick(all, m) : -1;
    if (r >= 0 && (owner < 0 || all[owner] != id)) {
        const struct logto_identity *o = owner >= 0 ? all[owner] : NULL;
        logto_log(&ctx->log, LOG_WARNING, "auth-name-not-owner user=%s sub=%s owner_sub=%s",
                  id->name, id->sub, o ? o->sub : "none");
        r = o ? logto_error_set(err, LOGTO_E_COLLISION,
                                "the name %s belongs to another Logto user, whose user name is "
                                "identical to it",
                                id->name)
              : logto_error_set(err, LOGTO_E_COLLISION,
                                "the name %s is claimed by %zu Logto users and none by a user name "
                                "identical to it, so it belongs to nobody",
                                id->name, m);
    }
    /* The signer owns the name: every previous holder lost it (deleted, renamed, or its claim
     * yields to the signer's). */
    for (size_t k = 0; r >= 0 && others && others[k]; k++) {
        bool claims_it = false;
        for (size_t i = 0; i < n; i++)
            claims_it = claims_it || logto_streq(ids[i]->sub, others[k]);
        logto_log(&ctx->log, LOG_NOTICE, "name-reassigned user=%s old_sub=%s new_sub=%s old=%s",
                  id->name, others[k], id->sub, claims_it ? "yields" : "gone-or-renamed");
        if (logto_strv_push(ret_displaced, others[k]) < 0)
            r = LOGTO_OOM(err);
    }
    for (size_t i = 0; i < n; i++)
        logto_identity_free(ids[i]);
    free(ids);
    free(all);
    return r;
}

/*
 * A name (or a UID, when uid is not 0) that sync blocked (owners.h) is refused for every
 * claimant, with who claims it; sub is the claimant's when known ("-" before any sign-in).
 */
static int refuse_blocked(const struct logto_ctx *ctx, const char *name, const char *sub,
                          uint32_t uid, struct logto_error *err)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = NULL;
    const struct logto_blocked_entry *e;
    _cleanup_free_ char *who = NULL;
    int r;

    if ((r = logto_blocked_read(ctx, &b, err)) < 0)
        return r;
    if (!(e = logto_blocked_find_name(b, name)) && !(uid && (e = logto_blocked_find_uid(b, uid))))
        return 0;
    who = logto_blocked_claimants_text(e);
    logto_log(&ctx->log, LOG_WARNING, "auth-name-blocked user=%s sub=%s uid=%u reason=\"%s\"", name,
              sub, uid, e->reason);
    if (e->uid)
        return logto_error_set(err, LOGTO_E_COLLISION, "the UID %u of %s is blocked: %s (%s)", uid,
                               name, e->reason, who ? who : "");
    return logto_error_set(err, LOGTO_E_COLLISION,
                           "the name %s is blocked: %s (%s); an administrator must rename these "
                           "users %s",
                           name, e->reason, who ? who : "", logto_idp_text(ctx->cfg, LOGTO_IDP_IN));
}

/*
 * May id have its name (and UID) on this host? Never a blocked name or UID; never a name or UID
 * the snapshot or a token record holds for another subject, unless the Management API confirms
 * that the previous holder lost it (*ret_displaced lists them then); and without the Management
 * API only a claim identical to the name takes a name nobody here holds yet (a folded user name
 * or an e-mail could belong to someone whose claim is better: owners.h).
 */
static int check_owner(const struct logto_ctx *ctx, const struct logto_identity *id,
                       char ***ret_displaced, struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_holder h;
    const char *others[3] = { NULL };
    size_t n_others = 0;
    bool confirmed = false;
    int r;

    if ((r = refuse_blocked(ctx, id->name, id->sub, id->uid, err)) < 0)
        return r;
    if ((r = logto_owner_holder(ctx, id->name, &h, err)) < 0)
        return r;
    if (h.kind == LOGTO_HOLDER_SUBJECT && strcmp(h.sub, id->sub) != 0)
        others[n_others++] = h.sub;
    confirmed = h.kind == LOGTO_HOLDER_SUBJECT && strcmp(h.sub, id->sub) == 0;
    if ((r = logto_store_open(ctx, &store, err)) < 0)
        return r;
    r = logto_store_read(store, id->name, &rec, err);
    if (r < 0 && r != -LOGTO_E_NOTFOUND)
        return r;
    if (r == 0 && !logto_streq(rec->sub, id->sub) &&
        !(n_others && strcmp(others[0], rec->sub) == 0))
        others[n_others++] = rec->sub;
    if ((r = uid_in_records(ctx, id, err)) < 0)
        return r;

    if (n_others == 0 && (confirmed || id->name_rank == LOGTO_NAME_EXACT))
        return 0;
    if (have_mgmt(ctx))
        return owner_by_mgmt(ctx, id, others, ret_displaced, err);
    if (n_others) {
        logto_log(&ctx->log, LOG_WARNING, "auth-name-held user=%s sub=%s holder_sub=%s", id->name,
                  id->sub, others[0]);
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "the name %s belongs to another %s on this host; if that "
                               "account is gone, an administrator frees the name with "
                               "`logtoctl logout --forget %s`",
                               id->name, idp_user(ctx), id->name);
    }
    logto_log(&ctx->log, LOG_WARNING, "auth-name-unconfirmed user=%s sub=%s from=\"%s\"", id->name,
              id->sub, id->name_from);
    return logto_error_set(err, LOGTO_E_COLLISION,
                           "the name %s comes from %s, not from a user name identical to it, and "
                           "without [sync] Management API credentials this host cannot check "
                           "that no other %s claims it",
                           id->name, id->name_from, idp_user(ctx));
}

/*
 * A sign-in that is refused after the IdP issued tokens leaves no grant behind: its refresh
 * token is revoked at the IdP (never stored here). A failure is logged; the token is forgotten
 * either way.
 */
static void revoke_grant(const struct logto_ctx *ctx, const char *user,
                         enum logto_auth_method method, const char *refresh_token)
{
    const struct logto_net_ops *net;
    struct logto_error e = { 0 };
    int r;

    if (!refresh_token)
        return;
    r = logto_net_get(ctx, &net, &e);
    if (r == 0)
        r = net->revoke(ctx, method, refresh_token, &e);
    if (r < 0)
        logto_log(&ctx->log, LOG_WARNING, "auth-revoke-failed user=%s reason=\"%s\"", user,
                  e.message);
    else
        logto_log(&ctx->log, LOG_NOTICE, "auth-grant-revoked user=%s", user);
}

/*
 * Map, check and persist a successful sign-in. claims are verified (and merged with userinfo).
 * Every refusal happens before anything is stored: no token record, no snapshot entry.
 */
static int finish_signin(const struct logto_ctx *ctx, const struct logto_service *svc,
                         const char *user, const json_t *claims, const struct signin *in,
                         struct logto_auth_result *res, struct logto_error *err)
{
    _cleanup_strv_ char **displaced = NULL;
    int r;

    r = logto_identity_from_claims(ctx, claims, &res->identity, err);
    if (r < 0)
        return r;
    /* Nobody signs in as someone else by approving a code with their own account. */
    if (strcmp(res->identity->name, user) != 0) {
        logto_log(&ctx->log, LOG_WARNING, "auth-wrong-user user=%s signed_in_as=%s sub=%s", user,
                  res->identity->name, res->identity->sub);
        return logto_error_set(err, LOGTO_E_IDENTITY, "signed in to %s as %s, not as %s",
                               logto_idp_name(ctx->cfg), res->identity->name, user);
    }
    if (res->identity->suspended)
        return logto_error_set(err, LOGTO_E_SUSPENDED, "the %saccount %s is suspended%s",
                               generic(ctx) ? "" : "Logto ", user,
                               generic(ctx) ? " at the identity provider" : "");
    /* The service's rules decide now, not in the account phase: a user they refuse gets
     * nothing on this host (deny by default: a service that names nobody admits nobody). */
    if (logto_authz_check(svc, res->identity, res->reason, sizeof(res->reason)) < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "auth-refused user=%s sub=%s service=%s reason=\"%s\"",
                  user, res->identity->sub, svc->name, res->reason);
        return logto_error_set(err, LOGTO_E_DENIED, "%s may not use %s: %s", user, svc->name,
                               res->reason);
    }
    r = logto_identity_check_local(ctx, res->identity, err);
    if (r < 0)
        return r;
    r = check_owner(ctx, res->identity, &displaced, err);
    if (r < 0)
        return r;
    /* The snapshot first: it refuses a name, UID or GID that it gives to another sub, and a
     * refused sign-in must leave no token record (nor replace the record of that name). */
    r = directory_update(ctx, svc, res->identity, displaced, err);
    if (r < 0)
        return r;
    r = record_signin(ctx, res->identity, claims, in, displaced, err);
    if (r < 0)
        return r;
    cache_ssh_keys(ctx, res->identity);
    return 0;
}

/* finish_signin, and the grant revoked when it refuses. */
static int finish_or_revoke(const struct logto_ctx *ctx, const struct logto_service *svc,
                            const char *user, const struct logto_net_signin *in,
                            const struct signin *how, struct logto_auth_result *res,
                            struct logto_error *err)
{
    int r = finish_signin(ctx, svc, user, in->claims, how, res, err);

    if (r < 0)
        revoke_grant(ctx, user, how->method, in->refresh_token);
    return r;
}

/* ---------------------------------------------------------------- the gate */

/* Is user in the directory snapshot? 1 yes, 0 no, or an error (unreadable snapshot). */
static int in_snapshot(const struct logto_ctx *ctx, const char *user, struct logto_error *err)
{
    _cleanup_free_ char *path = snapshot_path(ctx);
    struct logto_snap_user u;
    int r = -LOGTO_E_BUSY;

    if (!path)
        return -LOGTO_E_NOMEM;
    for (int attempt = 0; attempt < 3 && r == -LOGTO_E_BUSY; attempt++) {
        _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
        r = logto_snapshot_open(path, &snap, err);
        if (r == 0)
            r = logto_snapshot_user_by_name(snap, user, &u);
    }
    return r == 0 ? 1 : r == -LOGTO_E_NOTFOUND ? 0 : r;
}

static bool have_mgmt(const struct logto_ctx *ctx)
{
    return ctx->cfg->profile == LOGTO_PROFILE_LOGTO && ctx->cfg->m2m_client_id &&
           ctx->cfg->m2m_client_secret_file;
}

/* A relay host holds no Management API credential (relay.h): the signed directory speaks for
 * users who never signed in here (relayclaims.h). */
static bool relay_host(const struct logto_ctx *ctx)
{
    return ctx->cfg->relay_url != NULL;
}

/* Claims from the Management API: the way to decide for users without a token record. */
static int mgmt_claims(const struct logto_ctx *ctx, const char *user, json_t **ret_claims,
                       bool *ret_suspended, struct logto_error *err)
{
    const struct logto_net_ops *net;
    int r = logto_net_get(ctx, &net, err);

    return r < 0 ? r : net->mgmt_claims(ctx, user, ret_claims, ret_suspended, err);
}

/*
 * Ask the Management API whether user is a Logto user of this host: a user whose name maps to
 * exactly user, and whom some service here admits. 1 yes (sub set), 0 no (why set), or an error
 * (nothing learned).
 */
static int mgmt_knows(const struct logto_ctx *ctx, const char *user, char *sub, size_t sub_len,
                      char *why, size_t why_len, struct logto_error *err)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    _cleanup_json_ json_t *claims = NULL;
    struct logto_error e = { 0 };
    bool suspended = false;
    int r;

    r = mgmt_claims(ctx, user, &claims, &suspended, err);
    if (r == -LOGTO_E_NOTFOUND) {
        snprintf(why, why_len, "no Logto user has this user name");
        return 0;
    }
    if (r < 0)
        return r;
    r = logto_identity_from_claims(ctx, claims, &id, &e);
    if (r == -LOGTO_E_IDENTITY || (r == 0 && strcmp(id->name, user) != 0)) {
        snprintf(why, why_len, "the Logto user with this user name maps to %s",
                 r == 0 ? id->name : "no acceptable name");
        return 0;
    }
    if (r < 0) {
        if (err)
            *err = e;
        return r;
    }
    if (!logto_authz_config_admits(ctx->cfg, id)) {
        snprintf(why, why_len, "no service on this host admits them");
        return 0;
    }
    snprintf(sub, sub_len, "%s", id->sub);
    return 1;
}

/* With [sync]: the lookup cache, else the Management API within the lookup budget. */
static int lookup_user(const struct logto_ctx *ctx, const char *user, char *why, size_t why_len)
{
    struct logto_lookup_answer a;
    struct logto_error e = { 0 };
    char sub[LOGTO_LOOKUP_SUB_MAX + 1] = "";
    int r;

    if (logto_lookup_cached(ctx, LOGTO_LOOKUP_USER, user, &a, NULL) == 0) {
        logto_log_debug(&ctx->log, "user-lookup user=%s source=cache found=%s", user,
                        a.found ? "yes" : "no");
        if (!a.found)
            snprintf(why, why_len, "not a %s user of this host (remembered answer)",
                     logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
        return a.found ? 1 : 0;
    }
    r = logto_lookup_take(ctx, &e);
    if (r < 0) {
        snprintf(why, why_len, "not looked up: %.300s", e.message);
        return 0;
    }
    r = mgmt_knows(ctx, user, sub, sizeof(sub), why, why_len, &e);
    if (r < 0) {
        /* Nothing learned (IdP down, a protocol error): not remembered, and not ours now. */
        snprintf(why, why_len, "the Management API lookup failed: %.300s", e.message);
        return 0;
    }
    logto_log(&ctx->log, LOG_INFO, "user-lookup user=%s source=mgmt found=%s", user,
              r ? "yes" : "no");
    if (logto_lookup_remember(ctx, LOGTO_LOOKUP_USER, user, r == 1, r ? sub : NULL, &e) < 0)
        logto_log(&ctx->log, LOG_WARNING, "lookups-write-failed reason=\"%s\"", e.message);
    return r;
}

static int user_unknown(const struct logto_ctx *ctx, const struct logto_service *svc,
                        const char *user, const char *why, struct logto_error *err)
{
    logto_log(&ctx->log, LOG_NOTICE, "user-unknown user=%s service=%s reason=\"%s\"", user,
              svc ? svc->name : "?", why);
    return logto_error_set(err, LOGTO_E_NOTFOUND, "%s is not a %s user of this host: %s", user,
                           logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL), why);
}

/* logto_auth_gate; 1 when the name is known to be ours, 0 when it is only let through (a device
 * flow on a host without [sync]). */
static int gate(const struct logto_ctx *ctx, const struct logto_service *svc, const char *user,
                bool sends_secret, struct logto_error *err)
{
    char why[384] = "";
    int r = in_snapshot(ctx, user, err);

    /* A snapshot that cannot be read decides nothing: fail, naming it (never "unknown"). */
    if (r != 0)
        return r;
    /* A name sync blocked is nobody's: refused at once, before any request, with the reason. */
    if ((r = refuse_blocked(ctx, user, "-", 0, err)) < 0)
        return r;
    if (have_mgmt(ctx)) {
        if (lookup_user(ctx, user, why, sizeof(why)) == 1)
            return 1;
    } else if (!sends_secret) {
        /* Nothing else could ever make a first sign-in possible here, and a device flow sends
         * no secret: it may start (within the device-flow caps). */
        return 0;
    } else {
        snprintf(why, sizeof(why),
                 "not in the directory snapshot, and no [sync] credentials to look it up");
    }
    return user_unknown(ctx, svc, user, why, err);
}

int logto_auth_gate(const struct logto_ctx *ctx, const struct logto_service *svc, const char *user,
                    bool sends_secret, struct logto_error *err)
{
    int r = gate(ctx, svc, user, sends_secret, err);
    return r < 0 ? r : 0;
}

/*
 * What the service's rules say before the IdP is asked anything: the rules that need no claims
 * (a service that names nobody, deny_users, allow_users) refuse at once. A name the gate only let
 * through (known is false) and that this service could never admit is not ours: user-unknown,
 * so that the rest of the stack (pam_sss...) decides.
 */
static int check_name(const struct logto_ctx *ctx, const struct logto_service *svc,
                      const char *user, bool known, struct logto_auth_result *res,
                      struct logto_error *err)
{
    if (logto_authz_check_name(svc, user, res->reason, sizeof(res->reason)) == 0)
        return 0;
    if (!known) {
        char why[384];
        snprintf(why, sizeof(why), "not in the directory snapshot, and %s cannot admit it: %s",
                 svc->name, res->reason);
        return user_unknown(ctx, svc, user, why, err);
    }
    logto_log(&ctx->log, LOG_NOTICE, "auth-refused user=%s service=%s reason=\"%s\"", user,
              svc->name, res->reason);
    return logto_error_set(err, LOGTO_E_DENIED, "%s may not use %s: %s", user, svc->name,
                           res->reason);
}

/* ---------------------------------------------------------------- sign-in */

int logto_auth_device(const struct logto_ctx *ctx, const struct logto_service *svc,
                      const char *user, const struct logto_ui *ui, struct logto_auth_result **ret,
                      struct logto_error *err)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    _cleanup_(logto_net_signin_clear) struct logto_net_signin in = { 0 };
    struct logto_device_slots slots = LOGTO_DEVICE_SLOTS_INIT;
    const struct logto_net_ops *net;
    int r;

    if ((r = new_result("device", &res, err)) < 0 || (r = gate(ctx, svc, user, false, err)) < 0 ||
        (r = check_name(ctx, svc, user, r == 1, res, err)) < 0)
        return r;
    /* Every flow holds a process and polls the IdP for minutes: a bounded number at once. */
    r = logto_device_slots_take(ctx, user, &slots, err);
    if (r < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "device-flow-refused user=%s service=%s reason=\"%s\"",
                  user, svc->name, err ? err->message : logto_errc_name(logto_errc_from(r)));
        return r;
    }
    if ((r = logto_net_get(ctx, &net, err)) == 0)
        r = net->device_signin(ctx, svc, ui, &in, err);
    logto_device_slots_release(&slots);
    if (r < 0)
        return r;
    r = finish_or_revoke(
        ctx, svc, user, &in,
        &(struct signin){ .method = LOGTO_AUTH_DEVICE, .refresh_token = in.refresh_token }, res,
        err);
    if (r < 0)
        return r;
    /* Online again: offline password sign-in starts afresh (attempts.h). */
    logto_attempts_online(ctx, user);
    *ret = TAKE_PTR(res);
    return 0;
}

static enum logto_auth_method method_of(enum logto_password_method m)
{
    switch (m) {
    case LOGTO_PW_EXPERIENCE:
        return LOGTO_AUTH_EXPERIENCE;
    case LOGTO_PW_PAT:
        return LOGTO_AUTH_PAT;
    case LOGTO_PW_MANAGEMENT:
        return LOGTO_AUTH_MANAGEMENT;
    default:
        return LOGTO_AUTH_GRANT;
    }
}

/*
 * The IdP cannot be reached: the verifier stored at the last online password sign-in decides,
 * under the user's lock and within the offline limits (attempts.h).
 */
static int offline_password(const struct logto_ctx *ctx, const struct logto_service *svc,
                            const char *user, const char *password, struct logto_auth_result *res,
                            struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_holder holder;
    int64_t now = logto_now(ctx);
    int r;

    if (svc->offline_grace <= 0)
        return -LOGTO_E_UNREACHABLE;
    if ((r = logto_store_open(ctx, &store, err)) < 0 ||
        (r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, err)) < 0 ||
        (r = logto_store_load(lock, &rec, err)) < 0)
        return -LOGTO_E_UNREACHABLE;
    if (!rec->verifier || !rec->claims || now - rec->verifier_at > svc->offline_grace ||
        rec->verifier_at > now)
        return -LOGTO_E_UNREACHABLE;
    /* Only the record of the name's current holder, and only while its session lives. */
    if ((r = logto_owner_holder(ctx, user, &holder, err)) < 0)
        return r;
    if (!record_of_holder(ctx, rec, &holder) || session_ended(rec))
        return logto_error_set(err, LOGTO_E_DENIED,
                               "the cached sign-in of %s is not usable (the IdP cannot be "
                               "reached)",
                               user);
    r = logto_attempts_offline_check(ctx, svc, lock, user, password, rec->verifier, err);
    if (r < 0)
        return r;
    r = logto_identity_from_claims(ctx, rec->claims, &res->identity, err);
    if (r < 0)
        return r;
    if (strcmp(res->identity->name, user) != 0 || res->identity->suspended || rec->suspended)
        return logto_error_set(err, LOGTO_E_DENIED, "the cached sign-in of %s is not usable", user);
    r = logto_identity_check_local(ctx, res->identity, err);
    if (r < 0)
        return r;
    res->method = "offline";
    res->offline = true;
    logto_log(&ctx->log, LOG_NOTICE, "auth-offline user=%s verifier_age=%lld", user,
              (long long)(now - rec->verifier_at));
    return 0;
}

/*
 * The Experience API identifier of user (logto-real-1.42.md D5, D6): Logto's username as stored
 * (case-sensitive at Logto, folded here), or the e-mail of a user without one. From the token
 * record of the name's holder; else, for a holder in the snapshot, the Management API by its
 * sub (*ret_sub: the network half asks); else the Management API by user name; nothing found:
 * the name itself. *ret_value and *ret_sub are freed by the caller; type is static.
 */
static void experience_login(const struct logto_ctx *ctx, const char *user, const char **ret_type,
                             char **ret_value, char **ret_sub)
{
    _cleanup_json_ json_t *claims = NULL;
    struct logto_holder h = { 0 };
    const char *v;

    *ret_type = NULL;
    *ret_value = *ret_sub = NULL;
    if (logto_owner_holder(ctx, user, &h, NULL) < 0)
        h.kind = LOGTO_HOLDER_NONE;
    if (h.kind == LOGTO_HOLDER_SUBJECT) {
        _cleanup_(logto_store_closep) struct logto_store *store = NULL;
        _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
        if (logto_store_open(ctx, &store, NULL) == 0 &&
            logto_store_read(store, user, &rec, NULL) == 0 && rec->claims &&
            logto_streq(rec->sub, h.sub) && rec->uid == h.uid) {
            claims = json_incref(rec->claims);
        } else if (have_mgmt(ctx)) {
            *ret_sub = strdup(h.sub);
            return;
        }
    }
    if (!claims && have_mgmt(ctx)) {
        bool suspended = false;
        if (mgmt_claims(ctx, user, &claims, &suspended, NULL) < 0)
            claims = NULL;
    }
    if (!claims && h.kind == LOGTO_HOLDER_SUBJECT && relay_host(ctx)) {
        /* The signed directory has Logto's username of the holder, or the e-mail of a holder
         * without one (only an identifier: Logto checks the password). */
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_relay_stamp stamp;
        struct logto_relay_login login = { 0 };
        if (logto_relay_claims_find(ctx, user, &id, &stamp, &login, NULL) == 0 &&
            strcmp(id->sub, h.sub) == 0 && login.value) {
            *ret_type = login.type;
            *ret_value = login.value;
            return;
        }
        free(login.value);
    }
    if (!claims)
        return;
    v = json_string_value(json_object_get(claims, "username"));
    if (v && v[0]) {
        *ret_type = "username";
    } else {
        v = json_string_value(json_object_get(claims, "email"));
        if (!v || !v[0])
            return;
        *ret_type = "email";
    }
    *ret_value = strdup(v);
    if (!*ret_value)
        *ret_type = NULL;
}

int logto_auth_password(const struct logto_ctx *ctx, const struct logto_service *svc,
                        const char *user, const char *password, const struct logto_ui *ui,
                        struct logto_auth_result **ret, struct logto_error *err)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    _cleanup_(logto_net_signin_clear) struct logto_net_signin in = { 0 };
    enum logto_password_method m = (enum logto_password_method)svc->password_method;
    struct logto_error online_err = { 0 };
    struct logto_password_login login = { 0 };
    _cleanup_free_ char *login_value = NULL, *login_sub = NULL;
    const struct logto_net_ops *net;
    int64_t attempt = 0;
    int r;

    /* Refused before anything is counted or sent: no IdP could say yes to these. */
    if (!password || !*password)
        return logto_error_set(err, LOGTO_E_DENIED, "an empty password is never accepted");
    if (strlen(password) > LOGTO_PASSWORD_MAX_LEN)
        return logto_error_set(err, LOGTO_E_DENIED, "the password is too long");
    /* No password leaves the host for a name that is not a Logto user of this host. */
    if ((r = new_result(logto_auth_method_name(method_of(m)), &res, err)) < 0 ||
        (r = gate(ctx, svc, user, true, err)) < 0 ||
        (r = check_name(ctx, svc, user, true, res, err)) < 0 ||
        (r = logto_net_get(ctx, &net, err)) < 0)
        return r;
    /* Counted on this host before it is sent (a local user cannot spend the tenant's lockout
     * budget), settled with the answer: the provider's "no" to the verifier's password also
     * removes the offline verifier. */
    if (m == LOGTO_PW_EXPERIENCE)
        experience_login(ctx, user, &login.type, &login_value, &login_sub);
    login.value = login_value;
    login.sub = login_sub;
    if ((r = logto_attempts_begin(ctx, user, &attempt, err)) < 0)
        return r;
    r = net->password_signin(ctx, m, user, login.type || login.sub ? &login : NULL, password, ui,
                             &in, &online_err);
    logto_attempts_finish(ctx, user, attempt, r, password);
    if (r == -LOGTO_E_UNREACHABLE) {
        /* Only when the IdP cannot be reached, never when it said no. */
        int o = offline_password(ctx, svc, user, password, res, err);
        if (o == -LOGTO_E_UNREACHABLE) {
            if (err)
                *err = online_err;
            return r;
        }
        if (o < 0)
            return o;
        *ret = TAKE_PTR(res);
        return 0;
    }
    if (r < 0) {
        if (err)
            *err = online_err;
        return r;
    }
    r = finish_or_revoke(ctx, svc, user, &in,
                         &(struct signin){ .method = method_of(m),
                                           .refresh_token = in.refresh_token,
                                           .password = password },
                         res, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(res);
    return 0;
}

/* ---------------------------------------------------------------- account decisions */

/* Decide from an identity: suspension first, then the service's rules. */
static int decide(const struct logto_ctx *ctx, const struct logto_service *svc,
                  const struct logto_identity *id, struct logto_auth_result *res,
                  struct logto_error *err)
{
    if (id->suspended) {
        snprintf(res->reason, sizeof(res->reason), "the %s account is suspended",
                 logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
        return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
    }
    if (logto_authz_check(svc, id, res->reason, sizeof(res->reason)) < 0)
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    return 0;
}

/* Map cached or fresh claims and make sure they still describe this user on this host. */
static int identity_for(const struct logto_ctx *ctx, const char *user, const json_t *claims,
                        struct logto_auth_result *res, struct logto_error *err)
{
    int r;

    logto_identity_free(res->identity);
    res->identity = NULL;
    r = logto_identity_from_claims(ctx, claims, &res->identity, err);
    if (r < 0)
        return r;
    if (strcmp(res->identity->name, user) != 0) {
        /* Renamed in Logto: this host's name now belongs to nobody or to someone else. */
        snprintf(res->reason, sizeof(res->reason), "the %s account is now named %s",
                 logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL), res->identity->name);
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    }
    return logto_identity_check_local(ctx, res->identity, err);
}

struct persist_data {
    const struct logto_ctx *ctx;
    const struct logto_store_lock *lock;
    struct logto_record *rec;
};

/* The rotated refresh token is stored before anything uses the new tokens (tokens.h). */
static int persist_rotated(void *data, const char *refresh_token, struct logto_error *err)
{
    struct persist_data *p = data;

    if (logto_record_set_refresh_token(p->rec, refresh_token) < 0)
        return LOGTO_OOM(err);
    p->rec->refresh_token_at = logto_now(p->ctx);
    return logto_store_save(p->lock, p->rec, err);
}

/* Refresh the record's claims with its refresh token (the caller holds the user's lock). */
static int refresh_claims(const struct logto_ctx *ctx, const struct logto_store_lock *lock,
                          struct logto_record *rec, bool *ret_no_access, struct logto_error *err)
{
    _cleanup_(logto_net_signin_clear) struct logto_net_signin out = { 0 };
    struct persist_data pd = { .ctx = ctx, .lock = lock, .rec = rec };
    const struct logto_net_ops *net;
    struct logto_net_refresh req = {
        .method = rec->auth_method,
        .refresh_token = rec->refresh_token,
        .expected_sub = rec->sub,
        .persist = persist_rotated,
        .persist_data = &pd,
        .ret_no_access = ret_no_access,
    };
    int r;

    if ((r = logto_net_get(ctx, &net, err)) < 0 || (r = net->refresh(ctx, &req, &out, err)) < 0)
        return r;
    if (!logto_streq(json_string_value(json_object_get(out.claims, "sub")), rec->sub))
        return logto_error_set(err, LOGTO_E_TOKEN, "refreshed claims are for another user");
    json_decref(rec->claims);
    rec->claims = TAKE_PTR(out.claims);
    rec->claims_at = logto_now(ctx);
    rec->suspended = false;
    logto_record_set_refresh_failure(rec, 0, NULL);
    return logto_store_save(lock, rec, err);
}

/* A refused refresh means the grant is gone: revoked, reused, or the user suspended/deleted. */
static int refresh_refused(const struct logto_ctx *ctx, const struct logto_store_lock *lock,
                           struct logto_record *rec, const struct logto_error *why,
                           struct logto_auth_result *res, struct logto_error *err)
{
    struct logto_error ignored = { 0 };

    logto_log(&ctx->log, LOG_NOTICE, "refresh-refused user=%s sub=%s reason=\"%s\"", rec->name,
              rec->sub, why->message);
    logto_record_set_refresh_token(rec, NULL);
    logto_record_set_refresh_failure(rec, logto_now(ctx), logto_errc_name(why->code));
    logto_store_save(lock, rec, &ignored);
    snprintf(res->reason, sizeof(res->reason), "%s", session_ended_text(ctx));
    return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
}

/*
 * The IdP answered the refresh access_denied: the grant is alive, but the provider keeps this
 * user out of the application (Logto's app-level access control). Signing in again cannot help,
 * so the refresh token is kept (the next decision asks again, and succeeds once access is
 * granted) and the cached claims decide nothing until then.
 */
static int refresh_no_access(const struct logto_ctx *ctx, const struct logto_store_lock *lock,
                             struct logto_record *rec, const struct logto_error *why,
                             struct logto_auth_result *res, struct logto_error *err)
{
    struct logto_error ignored = { 0 };

    logto_log(&ctx->log, LOG_NOTICE, "refresh-no-access user=%s sub=%s reason=\"%s\"", rec->name,
              rec->sub, why->message);
    logto_record_set_refresh_failure(rec, logto_now(ctx), LOGTO_REFRESH_NO_ACCESS);
    logto_store_save(lock, rec, &ignored);
    snprintf(res->reason, sizeof(res->reason),
             "%s has no access to this application %s: an administrator must grant it there "
             "(signing in again will not help)",
             rec->name, logto_idp_text(ctx->cfg, LOGTO_IDP_IN));
    return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
}

/* The last refresh was answered access_denied (refresh_no_access): claims need asking again. */
static bool no_access(const struct logto_record *rec)
{
    return rec->refresh_failed_at != 0 && rec->refresh_token &&
           logto_streq(rec->refresh_error, LOGTO_REFRESH_NO_ACCESS);
}

/* The IdP refused the record's refresh: its cached claims decide nothing any more. */
static bool session_ended(const struct logto_record *rec)
{
    return rec->refresh_failed_at != 0 && !rec->refresh_token;
}

/* Cached claims may decide while the IdP is down, within the grace. */
static int decide_offline(const struct logto_ctx *ctx, const struct logto_service *svc,
                          const char *user, const struct logto_record *rec,
                          const struct logto_error *why, struct logto_auth_result *res,
                          struct logto_error *err)
{
    int64_t age = logto_now(ctx) - rec->claims_at;
    int r;

    if (session_ended(rec)) {
        snprintf(res->reason, sizeof(res->reason), "%s", session_ended_text(ctx));
        return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
    }
    if (no_access(rec)) {
        snprintf(res->reason, sizeof(res->reason),
                 "%s had no access to this application %s at the last refresh, and it cannot be "
                 "reached to ask again",
                 rec->name, logto_idp_text(ctx->cfg, LOGTO_IDP_IN));
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    }
    /* Claims dated in the future mean the clock went back: their age is unknown, and trusting
     * them would stretch the grace by the size of the step. */
    if (!rec->claims || svc->offline_grace <= 0 || age > svc->offline_grace || age < 0) {
        if (age < 0)
            snprintf(res->reason, sizeof(res->reason),
                     "the IdP cannot be reached and the cached claims are dated %llds in the "
                     "future (was the clock set back?)",
                     (long long)-age);
        else
            snprintf(res->reason, sizeof(res->reason),
                     "the IdP cannot be reached and the cached claims are too old (%llds)",
                     (long long)age);
        if (err)
            *err = *why;
        return -LOGTO_E_UNREACHABLE;
    }
    r = identity_for(ctx, user, rec->claims, res, err);
    if (r < 0)
        return r;
    res->identity->suspended |= rec->suspended;
    res->method = "cached";
    res->offline = true;
    return decide(ctx, svc, res->identity, res, err);
}

static int account_from_relay(const struct logto_ctx *ctx, const struct logto_service *svc,
                              const char *user, const struct logto_holder *holder,
                              struct logto_auth_result *res, struct logto_error *err);

/* A token record exists: fast path, refresh, the Management API or the relay's directory, then
 * decide. */
static int account_with_record(const struct logto_ctx *ctx, const struct logto_service *svc,
                               const char *user, const struct logto_store_lock *lock,
                               struct logto_record *rec, struct logto_auth_result *res,
                               struct logto_error *err)
{
    struct logto_error why = { 0 };
    int64_t age = logto_now(ctx) - rec->claims_at;
    /* claims_max_age = 0 refreshes every time (logto.conf(5)), also within the same second. */
    bool fresh = rec->claims && svc->claims_max_age > 0 && age >= 0 && age <= svc->claims_max_age &&
                 !session_ended(rec) && !no_access(rec);
    bool denied_app = false;
    int r;

    if (!fresh && rec->refresh_token) {
        r = refresh_claims(ctx, lock, rec, &denied_app, &why);
        if (r == -LOGTO_E_UNREACHABLE)
            return decide_offline(ctx, svc, user, rec, &why, res, err);
        if (r == -LOGTO_E_DENIED && denied_app)
            return refresh_no_access(ctx, lock, rec, &why, res, err);
        if (r == -LOGTO_E_DENIED || r == -LOGTO_E_EXPIRED)
            return refresh_refused(ctx, lock, rec, &why, res, err);
        if (r < 0) {
            if (err)
                *err = why;
            return r;
        }
        res->method = "refreshed";
    } else if (!fresh && have_mgmt(ctx)) {
        _cleanup_json_ json_t *claims = NULL;
        bool suspended = false;
        r = mgmt_claims(ctx, user, &claims, &suspended, &why);
        if (r == -LOGTO_E_UNREACHABLE)
            return decide_offline(ctx, svc, user, rec, &why, res, err);
        if (r == -LOGTO_E_NOTFOUND) {
            snprintf(res->reason, sizeof(res->reason), "the Logto account no longer exists");
            return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
        }
        if (r < 0) {
            if (err)
                *err = why;
            return r;
        }
        json_decref(rec->claims);
        rec->claims = TAKE_PTR(claims);
        rec->claims_at = logto_now(ctx);
        rec->suspended = suspended;
        if ((r = logto_store_save(lock, rec, err)) < 0)
            return r;
        res->method = "mgmt-lookup";
    } else if (!fresh && session_ended(rec)) {
        snprintf(res->reason, sizeof(res->reason), "%s", session_ended_text(ctx));
        return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
    } else if (!fresh && relay_host(ctx)) {
        /* Nothing to refresh with (a refused refresh, newer than any directory, ended above):
         * the signed directory decides, as for users without a record (the record is the
         * holder's: record_of_holder). */
        struct logto_holder h = { .kind = LOGTO_HOLDER_SUBJECT, .uid = rec->uid };
        snprintf(h.sub, sizeof(h.sub), "%s", rec->sub);
        return account_from_relay(ctx, svc, user, &h, res, err);
    } else if (!fresh) {
        snprintf(res->reason, sizeof(res->reason),
                 "the cached %s claims are too old and cannot be refreshed: sign in again",
                 logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    } else
        res->method = "cached";

    r = identity_for(ctx, user, rec->claims, res, err);
    if (r < 0)
        return r;
    res->identity->suspended |= rec->suspended;
    if (strcmp(res->method, "cached") != 0 && !res->identity->suspended) {
        /* Fresh data from the IdP: keep the NSS view in step (groups follow roles), and the
         * record's UID with it (a record decides only for the holder's UID). */
        r = directory_update(ctx, svc, res->identity, NULL, err);
        if (r >= 0 && rec->uid != res->identity->uid) {
            rec->uid = res->identity->uid;
            r = logto_store_save(lock, rec, err);
        }
        if (r < 0)
            return r;
    }
    return decide(ctx, svc, res->identity, res, err);
}

/*
 * Does this host serve user through NSS (the directory snapshot)? Then the user is Logto's, and
 * an account check that cannot decide must deny, never say "unknown user": stacks skip that
 * answer (user_unknown=ignore) and the next module (pam_unix) would let the user in. A snapshot
 * that cannot be read counts as yes (fail closed).
 */
static bool served_here(const struct logto_ctx *ctx, const char *user)
{
    return in_snapshot(ctx, user, NULL) != 0;
}

/*
 * A token record decides only for the subject that holds its name on this host (the snapshot's
 * entry, same sub and UID). A record of anybody else (a previous holder of the name, or a user
 * the snapshot no longer serves) is logged and left out.
 */
static bool record_of_holder(const struct logto_ctx *ctx, const struct logto_record *rec,
                             const struct logto_holder *h)
{
    if (h->kind == LOGTO_HOLDER_SUBJECT && logto_streq(rec->sub, h->sub) && rec->uid == h->uid)
        return true;
    logto_log(&ctx->log, LOG_NOTICE,
              "record-foreign user=%s record_sub=%s record_uid=%u holder_sub=%s holder_uid=%u",
              rec->name, rec->sub, rec->uid, h->kind == LOGTO_HOLDER_SUBJECT ? h->sub : "none",
              h->kind == LOGTO_HOLDER_SUBJECT ? h->uid : 0);
    return false;
}

/*
 * Decide from the signed directory's claims (relayclaims.h): only for the subject and UID the
 * snapshot gives the name to, only while the directory is valid. A user the directory no longer
 * has, or has under another subject or UID, is refused (the next sync settles the snapshot).
 */
static int account_from_relay(const struct logto_ctx *ctx, const struct logto_service *svc,
                              const char *user, const struct logto_holder *holder,
                              struct logto_auth_result *res, struct logto_error *err)
{
    struct logto_relay_stamp stamp = { 0 };
    struct logto_error e = { 0 };
    int r;

    if (holder->kind != LOGTO_HOLDER_SUBJECT) {
        snprintf(res->reason, sizeof(res->reason), "not a %s known on this host", idp_user(ctx));
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s", res->reason);
    }
    logto_identity_free(res->identity);
    res->identity = NULL;
    r = logto_relay_claims_find(ctx, user, &res->identity, &stamp, NULL, &e);
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(err);
    if (r == 0 &&
        (strcmp(res->identity->sub, holder->sub) != 0 || res->identity->uid != holder->uid)) {
        r = logto_error_set(&e, LOGTO_E_NOTFOUND,
                            "the relay directory gives %s to Logto user %s (uid %u), the snapshot "
                            "to %s (uid %u): run logtoctl sync",
                            user, res->identity->sub, res->identity->uid, holder->sub, holder->uid);
    }
    if (r < 0) {
        /* Whatever the directory cannot vouch for is refused, never "unknown": the name is ours. */
        snprintf(res->reason, sizeof(res->reason), "%.250s", e.message);
        logto_log(&ctx->log, LOG_NOTICE, "account-relay-refused user=%s code=%s reason=\"%s\"",
                  user, logto_errc_name(logto_errc_from(r)), e.message);
        return logto_error_set(err, r == -LOGTO_E_EXPIRED ? LOGTO_E_EXPIRED : LOGTO_E_DENIED, "%s",
                               res->reason);
    }
    res->method = "relay";
    logto_log_debug(&ctx->log, "account-relay user=%s serial=%" PRId64 " age=%" PRId64, user,
                    stamp.serial, logto_now(ctx) - stamp.generated_at);
    return decide(ctx, svc, res->identity, res, err);
}

/* No token record of the holder (e.g. an SSH public-key login): only the Management API, or on
 * a relay host the signed directory, can tell. */
static int account_without_record(const struct logto_ctx *ctx, const struct logto_service *svc,
                                  const char *user, const struct logto_store_lock *lock,
                                  const struct logto_holder *holder, struct logto_auth_result *res,
                                  struct logto_error *err)
{
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    _cleanup_json_ json_t *claims = NULL;
    bool suspended = false;
    int r;

    if (!have_mgmt(ctx) && relay_host(ctx))
        return account_from_relay(ctx, svc, user, holder, res, err);
    if (!have_mgmt(ctx)) {
        if (!served_here(ctx, user)) {
            snprintf(res->reason, sizeof(res->reason), "not a %s known on this host",
                     idp_user(ctx));
            return logto_error_set(err, LOGTO_E_NOTFOUND, "%s", res->reason);
        }
        snprintf(res->reason, sizeof(res->reason), "%s",
                 generic(ctx) ? "no sign-in through the identity provider on this host (generic "
                                "providers have no Management API to ask)"
                              : "no Logto sign-in on this host and no Management API credentials "
                                "to check");
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    }
    r = mgmt_claims(ctx, user, &claims, &suspended, err);
    if (r == -LOGTO_E_NOTFOUND) {
        if (served_here(ctx, user)) {
            /* Deleted in Logto, still in the snapshot until the next sync. */
            snprintf(res->reason, sizeof(res->reason), "the Logto account no longer exists");
            return logto_error_set(err, LOGTO_E_SUSPENDED, "%s", res->reason);
        }
        snprintf(res->reason, sizeof(res->reason), "no such Logto user");
        return r;
    }
    if (r < 0)
        return r;
    r = identity_for(ctx, user, claims, res, err);
    if (r < 0)
        return r;
    if (holder->kind == LOGTO_HOLDER_SUBJECT && strcmp(holder->sub, res->identity->sub) != 0) {
        /* Logto's user of that name is not the one this host serves (e.g. deleted and created
         * again): the next sync decides who has the name. */
        snprintf(res->reason, sizeof(res->reason),
                 "the name %s belongs to another %s on this host (run logtoctl sync)", user,
                 idp_user(ctx));
        return logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
    }
    res->identity->suspended |= suspended;
    res->method = "mgmt-lookup";
    /* A name this host does not serve yet goes only to its owner (owners.h), as at sign-in. */
    if (holder->kind == LOGTO_HOLDER_NONE) {
        _cleanup_strv_ char **displaced = NULL;
        if ((r = check_owner(ctx, res->identity, &displaced, err)) < 0) {
            snprintf(res->reason, sizeof(res->reason), "%.250s", err ? err->message : "");
            return r;
        }
    }

    /* Remember the answer so the next decision within claims_max_age needs no request. */
    rec = logto_record_new();
    if (!rec || !(rec->name = strdup(user)) || !(rec->sub = strdup(res->identity->sub)))
        return LOGTO_OOM(err);
    rec->uid = res->identity->uid;
    rec->claims = TAKE_PTR(claims);
    rec->claims_at = logto_now(ctx);
    rec->suspended = res->identity->suspended;
    if ((r = logto_store_save(lock, rec, err)) < 0)
        return r;
    if (!res->identity->suspended && (r = directory_update(ctx, svc, res->identity, NULL, err)) < 0)
        return r;
    return decide(ctx, svc, res->identity, res, err);
}

int logto_auth_account(const struct logto_ctx *ctx, const struct logto_service *svc,
                       const char *user, struct logto_auth_result **ret, struct logto_error *err)
{
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL;
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_holder holder;
    int r;

    if ((r = new_result("cached", &res, err)) < 0)
        return r;
    if ((r = logto_store_open(ctx, &store, err)) < 0 ||
        (r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, err)) < 0)
        goto out;
    if ((r = logto_owner_holder(ctx, user, &holder, err)) < 0)
        goto out;
    if (holder.kind == LOGTO_HOLDER_BLOCKED) {
        snprintf(res->reason, sizeof(res->reason),
                 "the name %s is blocked: several %s users claim it (logtoctl user %s)", user,
                 logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL), user);
        r = logto_error_set(err, LOGTO_E_DENIED, "%s", res->reason);
        goto out;
    }
    r = logto_store_load(lock, &rec, err);
    if (r == 0 && !record_of_holder(ctx, rec, &holder))
        r = -LOGTO_E_NOTFOUND; /* never decide from another subject's record */
    if (r == 0)
        r = account_with_record(ctx, svc, user, lock, rec, res, err);
    else if (r == -LOGTO_E_NOTFOUND)
        r = account_without_record(ctx, svc, user, lock, &holder, res, err);
out:
    if (ret)
        *ret = TAKE_PTR(res);
    return r;
}

/* ---------------------------------------------------------------- sessions */

int logto_auth_session_open(const struct logto_ctx *ctx, const struct logto_service *svc,
                            const char *user, struct logto_error *err)
{
    (void)svc, (void)err;
    logto_log(&ctx->log, LOG_INFO, "session-open user=%s", user);
    return 0;
}

int logto_auth_session_close(const struct logto_ctx *ctx, const struct logto_service *svc,
                             const char *user, struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    const struct logto_net_ops *net;
    int r;

    logto_log(&ctx->log, LOG_INFO, "session-close user=%s", user);
    if (!svc->revoke_on_close)
        return 0;
    if ((r = logto_store_open(ctx, &store, err)) < 0 ||
        (r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, err)) < 0)
        return r;
    r = logto_store_load(lock, &rec, err);
    if (r == -LOGTO_E_NOTFOUND || (r == 0 && !rec->refresh_token))
        return 0;
    if (r < 0)
        return r;
    r = logto_net_get(ctx, &net, err);
    if (r == 0)
        r = net->revoke(ctx, rec->auth_method, rec->refresh_token, err);
    /* Forget the token even if the IdP could not be told: it must not be used again. */
    logto_record_set_refresh_token(rec, NULL);
    rec->refresh_token_at = 0;
    int s = logto_store_save(lock, rec, r < 0 ? NULL : err);
    /* "unreachable" only when no answer could be had: a provider that refuses said so. */
    if (r == -LOGTO_E_UNREACHABLE || r >= 0)
        logto_log(&ctx->log, LOG_NOTICE, "session-revoked user=%s idp=%s", user,
                  r < 0 ? "unreachable" : "ok");
    else
        logto_log(&ctx->log, LOG_NOTICE, "session-revoked user=%s idp=%s reason=\"%s\"", user,
                  r == -LOGTO_E_DENIED ? "refused" : logto_errc_name(logto_errc_from(r)),
                  err ? err->message : "");
    return r < 0 ? r : s;
}

bool logto_auth_undecided(int r)
{
    switch (logto_errc_from(r)) {
    case LOGTO_E_UNREACHABLE:
    case LOGTO_E_PROTOCOL:
    case LOGTO_E_IO:
    case LOGTO_E_CORRUPT:
    case LOGTO_E_BUSY:
    case LOGTO_E_UNSUPPORTED:
    case LOGTO_E_UNSAFE:
        return true;
    default:
        return false;
    }
}

/* True if text names a URL or an HTTP exchange: details for the log, not for the client. */
static bool names_network(const char *text)
{
    return strstr(text, "://") || strstr(text, "HTTP") || strstr(text, "http") ||
           strstr(text, "/oidc") || strstr(text, "/api/");
}

/*
 * What the person (over SSH: anyone who connects) is told about a failure. The network, the
 * configuration and local state get fixed texts: their messages name URLs, endpoints, files and
 * network errors, which stay in the log. The other outcomes (the IdP's verdicts, the rules, the
 * identity checks) are common/'s own sentences, shown only when they name nothing of the
 * network, as printable ASCII; otherwise a fixed text again.
 */
const char *logto_auth_public_reason(int r, const char *message, char *buf, size_t size)
{
    switch (logto_errc_from(r)) {
    case LOGTO_E_UNREACHABLE:
        return "cannot reach the sign-in service; try again later";
    case LOGTO_E_DENIED:
    case LOGTO_E_EXPIRED:
    case LOGTO_E_TIMEOUT:
    case LOGTO_E_MFA:
    case LOGTO_E_LOCKED:
    case LOGTO_E_SUSPENDED:
    case LOGTO_E_CAPTCHA:
    case LOGTO_E_IDENTITY:
    case LOGTO_E_COLLISION:
    case LOGTO_E_NOTFOUND:
        if (!message[0] || names_network(message))
            return "the sign-in was refused";
        for (size_t i = 0; i + 1 < size; i++) {
            unsigned char c = (unsigned char)message[i];
            buf[i] = (char)(c == 0 || (c >= 0x20 && c < 0x7f) ? c : '?');
            if (!c)
                return buf;
        }
        buf[size - 1] = '\0';
        return buf;
    default:
        return "sign-in is not possible right now; the system log says why";
    }
}
