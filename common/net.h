/* SPDX-License-Identifier: MIT */
/*
 * The network half of the sign-in and account pipelines, behind one table of functions.
 *
 * Deciding from fresh cached claims (the common case of every sudo and SSH login) needs no
 * network code, so pam_logto.so does not link libcurl, cjose or OpenSSL: loading those (some
 * thirty libraries) cost about 5 ms per process. When a sign-in, a refresh, a Management API
 * lookup or a revocation is needed, pam_logto.so loads pam_logto_net.so from its own
 * directory (checked like every root-trusted file, loaded RTLD_NODELETE so libcurl is never
 * unloaded). logtoctl links the network half in and registers it instead.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "context.h"
#include "error.h"
#include "identity.h"
#include "password.h"
#include "store.h"
#include "ui.h"

#define LOGTO_NET_ABI     2
#define LOGTO_NET_LIBRARY "pam_logto_net.so"
#define LOGTO_NET_SYMBOL  "logto_net_ops_v1"

/* What a sign-in or a refresh learned. */
struct logto_net_signin {
    json_t *claims;      /* verified: ID token merged with userinfo, or the method's equivalent */
    char *refresh_token; /* secret; NULL when the flow issues none */
    const char *method;  /* static name: "device", "experience", "pat", "management", "grant" */
};

/* Wipe the refresh token and free everything; the struct can be reused. */
void logto_net_signin_clear(struct logto_net_signin *s);

/* Stores a rotated refresh token durably before the new tokens are used (tokens.h). */
typedef int (*logto_net_persist_fn)(void *data, const char *refresh_token, struct logto_error *err);

struct logto_net_refresh {
    enum logto_auth_method method; /* which app holds the token (tokens are bound to it) */
    const char *refresh_token;
    const char *expected_sub;
    logto_net_persist_fn persist;
    void *persist_data;
    /* Optional out: the refusal was access_denied, i.e. the provider keeps the user out of this
     * application (Logto's app-level access control); the grant itself is not revoked. */
    bool *ret_no_access;
};

struct logto_net_ops {
    uint32_t abi;      /* LOGTO_NET_ABI */
    const char *build; /* PACKAGE_VERSION of the build */
    size_t sizes[4];   /* struct logto_config, logto_service, logto_ctx, logto_ui */

    int (*device_signin)(const struct logto_ctx *ctx, const struct logto_service *svc,
                         const struct logto_ui *ui, struct logto_net_signin *out,
                         struct logto_error *err);
    /* login: the Experience API identifier (password.h), NULL for the user name itself. */
    int (*password_signin)(const struct logto_ctx *ctx, enum logto_password_method method,
                           const char *user, const struct logto_password_login *login,
                           const char *password, const struct logto_ui *ui,
                           struct logto_net_signin *out, struct logto_error *err);
    /* out->claims: the new ID token's claims merged with userinfo; out->refresh_token NULL
     * (the rotated one went to persist). */
    int (*refresh)(const struct logto_ctx *ctx, const struct logto_net_refresh *req,
                   struct logto_net_signin *out, struct logto_error *err);
    int (*mgmt_claims)(const struct logto_ctx *ctx, const char *user, json_t **ret_claims,
                       bool *ret_suspended, struct logto_error *err);
    int (*revoke)(const struct logto_ctx *ctx, enum logto_auth_method method,
                  const char *refresh_token, struct logto_error *err);
    /* Every Logto user who maps to name (identity.h), as the Management API knows them: users
     * whose username equals name ignoring case, users whose primaryEmail is name@ a domain of
     * [identity] email_domains, and the users with the IDs in subs (NULL-terminated, may be NULL;
     * one that no longer exists is left out). *ret: their identities (each and the array freed
     * by the caller); users that do not map, or map to another name, are not claimants. */
    int (*name_claimants)(const struct logto_ctx *ctx, const char *name, const char *const *subs,
                          struct logto_identity ***ret, size_t *ret_n, struct logto_error *err);
};

/*
 * The network half: the registered one (logtoctl), else pam_logto_net.so from the directory of
 * the object this code is linked into. Loaded once per process. LOGTO_E_UNSAFE or
 * LOGTO_E_IO when it cannot be loaded safely, LOGTO_E_CONFIG when it is from another build.
 */
int logto_net_get(const struct logto_ctx *ctx, const struct logto_net_ops **ret,
                  struct logto_error *err);

/* Use the network half linked into this program (no library is loaded). */
void logto_net_register(const struct logto_net_ops *ops);

/* The network half's own table (auth_net.c); programs that link it call logto_net_builtin(). */
void logto_net_builtin(void);
