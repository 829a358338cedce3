/* SPDX-License-Identifier: MIT */
/*
 * The sign-in and account pipelines behind pam_logto and `logtoctl login` (DESIGN.md "Data
 * flow" steps 1 and 2). The front ends only translate: PAM items and conversation in, PAM codes
 * out. Everything here is independent of PAM.
 *
 * Sign-in: flow (device or password method) -> tokens -> verified ID token -> userinfo ->
 * identity -> the mapped name must equal the requested user (nobody signs in as someone else by
 * approving a code with their own account) -> not a local account, no collision -> token record
 * written (rotated refresh token, claims, offline verifier) -> directory snapshot updated.
 *
 * Account: claims younger than claims_max_age decide at once (no network). Older claims are
 * refreshed first (refresh token rotated and stored before use; a refused refresh means the
 * grant is gone: deny). Without a token record (SSH public-key logins) the Management API is
 * asked when sync credentials exist; with neither, deny. When the IdP cannot be reached,
 * claims confirmed within offline_grace still decide; older ones deny.
 */
#pragma once

#include <stdbool.h>

#include "conf.h"
#include "context.h"
#include "error.h"
#include "identity.h"
#include "ui.h"

struct logto_auth_result {
    struct logto_identity *identity; /* who signed in / was checked */
    const char *method;              /* "device", "experience", "pat", "management", "grant",
                                        "offline", "cached", "refreshed", "mgmt-lookup" */
    bool offline;                    /* decided from cached data: the IdP was unreachable */
    char reason[256];                /* why a decision was negative (log line and user text) */
};

void logto_auth_result_free(struct logto_auth_result *res);
static inline void logto_auth_result_freep(struct logto_auth_result **res)
{
    logto_auth_result_free(*res);
}

/* True if name is a local account (passwd file): Logto never signs it in or serves it. */
int logto_auth_is_local_user(const struct logto_ctx *ctx, const char *name, bool *ret,
                             struct logto_error *err);

/*
 * Is user a Logto user of this host? Asked before any password leaves the host and before any
 * device flow starts, so that names that are not ours (an LDAP or sssd user, a typo at the
 * console) reach the IdP in no form and are left to the rest of the PAM stack:
 *  - a name in the directory snapshot is ours;
 *  - with [sync] credentials, the Management API is asked (within the host's lookup budget, its
 *    answer remembered for lookup_cache_ttl; lookup.h) for a user whose name maps to exactly
 *    user and whom some service of this host admits;
 *  - without them, a name not in the snapshot is ours only for a flow that sends no secret
 *    (sends_secret false: the device flow), since nothing else could make a first sign-in here.
 * 0 when it is ours; -LOGTO_E_NOTFOUND (logged as user-unknown, with the reason) when not.
 * logto_auth_device and logto_auth_password ask it themselves.
 */
int logto_auth_gate(const struct logto_ctx *ctx, const struct logto_service *svc, const char *user,
                    bool sends_secret, struct logto_error *err);

/* Sign user in with the device authorization flow, within the device-flow caps (slots.h:
 * -LOGTO_E_BUSY when they are reached, logged as device-flow-refused). A sign-in that svc's
 * rules refuse stores nothing and its grant is revoked at the IdP (auth-refused). */
int logto_auth_device(const struct logto_ctx *ctx, const struct logto_service *svc,
                      const char *user, const struct logto_ui *ui, struct logto_auth_result **ret,
                      struct logto_error *err);

/*
 * Sign user in with svc->password_method. When the IdP cannot be reached (LOGTO_E_UNREACHABLE
 * only, never when it says no) the stored offline verifier decides, if it was set within
 * svc->offline_grace. ui is used for a one-time code when the IdP demands one. Nothing is sent
 * for a name logto_auth_gate does not know; a sign-in svc's rules refuse stores nothing and its
 * grant is revoked.
 */
int logto_auth_password(const struct logto_ctx *ctx, const struct logto_service *svc,
                        const char *user, const char *password, const struct logto_ui *ui,
                        struct logto_auth_result **ret, struct logto_error *err);

/*
 * May user use this service? 0 when allowed. -LOGTO_E_DENIED (rules, or a user this host serves
 * who cannot be checked), -LOGTO_E_SUSPENDED (suspended or deleted in the IdP, or the grant was
 * revoked), -LOGTO_E_NOTFOUND (neither a token record, nor in the directory snapshot, nor known to
 * the Management API: not a Logto user of this host), -LOGTO_E_UNREACHABLE (IdP down and
 * nothing recent enough to decide). The result (when ret is not NULL) says how it was decided
 * and why.
 */
int logto_auth_account(const struct logto_ctx *ctx, const struct logto_service *svc,
                       const char *user, struct logto_auth_result **ret, struct logto_error *err);

/* True when r says the sign-in could not be decided (the provider unreachable or answering
 * nonsense, local state unusable, a cap reached): PAM_AUTHINFO_UNAVAIL, not a refusal. */
bool logto_auth_undecided(int r);

/*
 * What the person (over SSH: anyone who connects) is told about a failure r with message: the
 * IdP's verdicts, the rules and the identity checks in common/'s own words when they name nothing
 * of the network (as printable ASCII, in buf); fixed texts for the network, the configuration and
 * local state (their details stay in the log).
 */
const char *logto_auth_public_reason(int r, const char *message, char *buf, size_t size);

/* Record a session opening / closing; closing revokes the tokens when svc->revoke_on_close. */
int logto_auth_session_open(const struct logto_ctx *ctx, const struct logto_service *svc,
                            const char *user, struct logto_error *err);
int logto_auth_session_close(const struct logto_ctx *ctx, const struct logto_service *svc,
                             const char *user, struct logto_error *err);
