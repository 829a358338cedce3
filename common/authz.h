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
 * Each require_* list is "any of"; when several kinds are set, ALL kinds must be satisfied.
 * A list that is set but empty matches nobody (fail closed). Role names are case-sensitive
 * (Logto keeps them unique as typed): "Admin" does not satisfy "admin".
 */
#pragma once

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
