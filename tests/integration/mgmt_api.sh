#!/bin/sh
# SPDX-License-Identifier: MIT
# Management API client on the fixture tenant: listings (users, roles with members,
# organizations with members and organization roles), one user's claims, custom-data PATCH,
# the directory fetch with its exact request count, and refusals (bad IDs, wrong permission).
. "$top_srcdir/tests/integration/password_lib.sh"

pw_start

# --- listings ---------------------------------------------------------------------------------
idp_ctl POST /stats/reset >/dev/null
ft mgmt-users
expect_ok "mgmt-users"
assert_eq "$(jget "$OUT" .count)" "$(idp_ctl GET /users | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')" "user count"
assert_contains "$(jget "$OUT" .usernames)" '"alice"' "alice listed"
assert_contains "$(jget "$OUT" .usernames)" 'null' "frank (no username) listed"
assert_eq "$(jget "$OUT" .requests)" 2 "one token + one page"
assert_eq "$(idp_stat 'GET /api/users')" 1 "one page of users"

ft mgmt-roles
expect_ok "mgmt-roles"
assert_eq "$(jget "$OUT" .count)" 3 "User roles (the M2M role is not listed)"
assert_eq "$(jget "$OUT" .members.admin)" 2 "admin members (alice, Grace_Hopper)"
assert_eq "$(jget "$OUT" .members.developer)" 3 "developer members"
assert_eq "$(jget "$OUT" .token_requests)" 0 "the cached token is used"

ft mgmt-orgs
expect_ok "mgmt-orgs"
assert_eq "$(jget "$OUT" .count)" 2 "organizations"
assert_eq "$(jget "$OUT" .members.pbl95zlwkzx4)" 2 "Acme members (alice, erin)"
assert_eq "$(jget "$OUT" .members.qmmg1gvtd5ib)" 2 "Globex members (bob, Grace_Hopper)"

# --- one user ---------------------------------------------------------------------------------
ft mgmt-user bob
expect_ok "mgmt-user bob"
assert_eq "$(jget "$OUT" .claims.roles)" '["developer"]' "bob's roles"
assert_contains "$(jget "$OUT" .claims.organization_roles)" '"qmmg1gvtd5ib:member"' "bob: member"
assert_contains "$(jget "$OUT" .claims.organization_roles)" '"qmmg1gvtd5ib:admin"' "bob: admin"
assert_eq "$(jget "$OUT" .claims.organization_roles.length)" 2 "bob's organization roles"
assert_eq "$(jget "$OUT" .isSuspended)" false "bob is not suspended"
ft mgmt-user carol
assert_eq "$(jget "$OUT" .isSuspended)" true "carol is suspended"
ft mgmt-user nosuchuser
expect_error not-found "" "unknown user"
ft mgmt-user 'alice%'
expect_error not-found "" "no wildcard matching in an exact search"

# --- custom data ------------------------------------------------------------------------------
ft mgmt-patch erin '{"uidNumber":70002,"note":"patched"}'
expect_ok "PATCH custom data"
assert_eq "$(jget "$OUT" .customData.uidNumber)" 70002 "patched value"
assert_eq "$(jget "$OUT" .customData.loginShell)" /bin/zsh "other keys are kept (merge)"
assert_eq "$(jget "$(idp_ctl GET /users/erin)" .custom_data.note)" patched "the IdP has it"

# --- directory: exact request count -----------------------------------------------------------
idp_ctl POST /stats/reset >/dev/null
ft --user Grace_Hopper mgmt-directory
expect_ok "mgmt-directory"
# users: 1 page; roles: 1 page + 3 member lists; organizations: 1 page + 2 member lists.
assert_eq "$(jget "$OUT" .fetch_requests)" 8 "requests of the directory fetch"
assert_eq "$(idp_stat api)" 8 "Management API requests seen by the IdP"
assert_eq "$(idp_stat 'POST /oidc/token')" 0 "no token request (cached)"
assert_eq "$(jget "$OUT" .users)" 8 "users"
assert_eq "$(jget "$OUT" .user.roles)" '["admin","auditor"]' "Grace_Hopper's roles"
assert_eq "$(jget "$OUT" .user.organizations)" \
    '[{"id":"qmmg1gvtd5ib","name":"Globex","roles":["admin"]}]' "Grace_Hopper's organizations"

# --- refusals ---------------------------------------------------------------------------------
sed 's|^\[sync\]$|[sync]\nmanagement_resource = https://api.example.com|' "$CFG" >"$T/noperm.conf"
CFG_SAVED=$CFG
CFG=$T/noperm.conf
rm -f "$T/state/m2m-token.json"
ft mgmt-users
expect_error denied "the M2M app needs the Management API permission \`all\`" "wrong API resource"
CFG=$CFG_SAVED

M2M_TOKEN=$(jget "$(cat "$T/state/m2m-token.json" 2>/dev/null || echo '{}')" .access_token)
check_secrets "$M2M_SECRET" "$M2M_TOKEN"
exit 0
