/* SPDX-License-Identifier: MIT */
/*
 * Authorization: may this identity use this PAM service? Decided on unique values only (user
 * names, Logto role names, organization IDs, "orgId:role"), compared byte for byte: never on
 * organization display names or on the sanitised names of derived groups (an IdP admin can
 * give anything a lookalike display name; himmelblau CVE-2025-49012).
 *
 * Rules, in order:
 *   1. deny_users contains the name            -> denied (matched ignoring ASCII case, so a
 *                                                 miscapitalised deny entry still denies)
 *   2. allow_users is set and lacks the name   -> denied (exact match)
 *   3. the account is suspended                -> denied
 *   4. require_roles is set: none of them is among id->roles               -> denied
 *   5. require_orgs is set: id is a member of none of them (org IDs)       -> denied
 *   6. require_org_roles is set: none of them is among id->org_roles       -> denied
 *   7. none of allow_users, require_roles, require_orgs, require_org_roles is set, and
 *      allow_any_user is off                                              -> denied (a service
 *                                                 that names nobody admits nobody)
 * Each require_* list is "any of"; when several kinds are set, ALL kinds must be satisfied.
 * A list that is set but empty matches nobody (fail closed). Role names are case-sensitive
 * (Logto keeps them unique as typed): "Admin" does not satisfy "admin".
 *
 * The host's admission (who exists on this host at all, DESIGN.md "Data flow" 4): the union of
 * what every [service NAME] section and [service *] (standing for every service without a
 * section) admit, suspension aside. The snapshot holds only those users.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "error.h"
#include "identity.h"

/*
 * 0 when allowed; -LOGTO_E_DENIED with reason set (e.g. "requires role admin or developer",
 * "user is in deny_users", "account is suspended"), short enough for a log line and fit to show
 * the user. reason may be NULL. A missing service or identity is denied.
 */
int logto_authz_check(const struct logto_service *svc, const struct logto_identity *id,
                      char *reason, size_t reason_len);

/* The rules that need no claims (deny_users, allow_users, a service that names nobody): 0 when
 * they let name through, else -LOGTO_E_DENIED with reason. Sign-ins ask before the IdP does. */
int logto_authz_check_name(const struct logto_service *svc, const char *name, char *reason,
                           size_t reason_len);

/* Whether svc's rules admit id, suspension aside. */
bool logto_authz_admits(const struct logto_service *svc, const struct logto_identity *id);

/* Whether svc names nobody (no allow_users and no require_* list), and so admits every user of
 * the tenant when allow_any_user is on, and nobody when it is off. */
bool logto_authz_names_nobody(const struct logto_service *svc);

/* Whether svc admits every user of the tenant (deny_users aside). */
bool logto_authz_admits_anyone(const struct logto_service *svc);

/* The resolved rules of every service section of a configuration. */
struct logto_authz_host {
    struct logto_service **services; /* "*" first, then the [service NAME] sections */
    size_t n_services;
};

int logto_authz_host_new(const struct logto_config *cfg, struct logto_authz_host **ret,
                         struct logto_error *err);
void logto_authz_host_free(struct logto_authz_host *host);
static inline void logto_authz_host_freep(struct logto_authz_host **host)
{
    logto_authz_host_free(*host);
}

/*
 * Whether some service of the host would admit id, suspension aside (a suspended user keeps
 * resolving until the account phase refuses them). ret_names, when not NULL, receives the names
 * of the services that admit id ("*" for services without a section).
 */
bool logto_authz_host_admits(const struct logto_authz_host *host, const struct logto_identity *id,
                             char ***ret_names);

/* The same for one configuration, resolved for this call (sign-in paths: one identity). A
 * configuration whose services cannot be resolved admits nobody. */
bool logto_authz_config_admits(const struct logto_config *cfg, const struct logto_identity *id);
