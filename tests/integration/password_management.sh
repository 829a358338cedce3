#!/bin/sh
# SPDX-License-Identifier: MIT
# Management API password check (logto-protocol.md §3.2) and the M2M token cache: success,
# wrong password, unknown user, suspended user (the route itself does not check), the token
# cached in memory and on disk (root 0600; a second run makes no token request), a cached token
# for another client is never used, a stale cached token is replaced once, and a token without
# the Management API permission is a clear error.
. "$top_srcdir/tests/integration/password_lib.sh"

pw_start
TOKEN_FILE=$T/state/m2m-token.json
ALICE_ID=$(idp_json_field "$(idp_ctl GET /users/alice)" id)

# --- success; the claims have the ID token's shape --------------------------------------------
idp_ctl POST /stats/reset >/dev/null
pw management alice alice-pass-1
expect_ok "alice via the Management API"
assert_eq "$(jget "$OUT" .method)" management "method"
assert_eq "$(jget "$OUT" .claims.sub)" "$ALICE_ID" "sub"
assert_eq "$(jget "$OUT" .claims.username)" alice "username"
assert_eq "$(jget "$OUT" .claims.email)" alice@example.com "email"
assert_eq "$(jget "$OUT" .claims.roles)" '["admin"]' "roles"
assert_eq "$(jget "$OUT" .claims.organizations)" '["pbl95zlwkzx4"]' "organizations"
assert_eq "$(jget "$OUT" .claims.organization_roles)" '["pbl95zlwkzx4:member"]' "org roles"
assert_eq "$(jget "$OUT" .claims.custom_data.department)" engineering "custom_data"
assert_eq "$(jget "$OUT" .access_token)" false "no user tokens"
assert_eq "$(jget "$OUT" .refresh_token)" false "no refresh token"
assert_eq "$(idp_stat 'POST /oidc/token')" 1 "one M2M token request"
assert_eq "$(idp_stat 'POST /api/users/:id/password/verify')" 1 "one password check"
[ -f "$TOKEN_FILE" ] || fail "the M2M token was not cached on disk"
assert_eq "$(stat -c '%a %U' "$TOKEN_FILE")" "600 $(id -un)" "cache file mode and owner"
assert_eq "$(jget "$(cat "$TOKEN_FILE")" .client_id)" m2m-app "cache: client"
assert_eq "$(jget "$(cat "$TOKEN_FILE")" .resource)" https://default.logto.app/api "cache: resource"
M2M_TOKEN=$(jget "$(cat "$TOKEN_FILE")" .access_token)

# Grace_Hopper is found case-insensitively (exact match, as Logto keeps usernames unique).
pw management grace_hopper grace-pass-1
expect_ok "Grace_Hopper found as grace_hopper"
assert_eq "$(jget "$OUT" .claims.username)" Grace_Hopper "canonical username"

# --- the cached token is reused: no token request ----------------------------------------------
pw management alice alice-pass-1
expect_ok "second run"
assert_eq "$(idp_stat 'POST /oidc/token')" 1 "token requests after the second run"
ft mgmt-token
expect_ok "mgmt-token"
assert_eq "$(jget "$OUT" .token_requests)" 0 "mgmt-token uses the cache"

# --- refused ----------------------------------------------------------------------------------
pw management alice wrong-password
expect_error denied "wrong user name or password" "wrong password"
pw management nosuchuser some-password
expect_error denied "wrong user name or password" "unknown user"
pw management henry some-password
expect_error denied "wrong user name or password" "user without a password"
pw management carol carol-pass-1
expect_error suspended "suspended" "suspended user with the right password"
pw management carol wrong-password
expect_error denied "wrong user name or password" "suspended user, wrong password"
# MFA is bypassed (documented: opt-in only).
pw management dave dave-pass-1
expect_ok "dave (TOTP) via the Management API"
# No lockout on this route (§3.2): six failures, then the right password works.
for i in 1 2 3 4 5 6; do pw management bob "wrong-$i"; done
pw management bob bob-pass-1
expect_ok "no lockout on the Management API check"

# --- a stale cached token is replaced once -----------------------------------------------------
before=$(idp_stat 'POST /oidc/token')
sed "s/\"access_token\":\"[^\"]*\"/\"access_token\":\"stale.token.value\"/" "$TOKEN_FILE" >"$T/tok"
cat "$T/tok" >"$TOKEN_FILE" # keeps mode and owner
pw management alice alice-pass-1
expect_ok "a stale cached token is replaced"
assert_eq "$(idp_stat 'POST /oidc/token')" $((before + 1)) "one new token request"
assert_not_contains "$(cat "$TOKEN_FILE")" stale.token.value "the cache holds the new token"
M2M_TOKEN2=$(jget "$(cat "$TOKEN_FILE")" .access_token)

# --- an unsafe cache file is ignored (and replaced) --------------------------------------------
chmod 644 "$TOKEN_FILE"
before=$(idp_stat 'POST /oidc/token')
ft mgmt-token
expect_ok "mgmt-token with a world-readable cache file"
assert_eq "$(jget "$OUT" .token_requests)" 1 "a 0644 cache file is not trusted"
assert_eq "$(stat -c %a "$TOKEN_FILE")" 600 "the cache file is rewritten 0600"
M2M_TOKEN3=$(jget "$(cat "$TOKEN_FILE")" .access_token)

# --- a cached token of another client is never used --------------------------------------------
before=$(idp_stat 'POST /oidc/token')
sed 's/^m2m_client_id = .*/m2m_client_id = other-app/' "$CFG" >"$T/other.conf"
CFG_SAVED=$CFG
CFG=$T/other.conf
pw management alice alice-pass-1
expect_error config "" "another client id with the cached token of m2m-app"
assert_eq "$(idp_stat 'POST /oidc/token')" $((before + 1)) "the other client asked for its own token"
CFG=$CFG_SAVED

# --- a token without the Management API permission ---------------------------------------------
sed 's|^\[sync\]$|[sync]\nmanagement_resource = https://api.example.com|' "$CFG" >"$T/noperm.conf"
CFG=$T/noperm.conf
rm -f "$TOKEN_FILE"
pw management alice alice-pass-1
expect_error denied "the M2M app needs the Management API permission \`all\`" "wrong API resource"
CFG=$CFG_SAVED

# --- a wrong M2M secret ------------------------------------------------------------------------
printf 'not-the-secret\n' >"$T/m2m.secret"
rm -f "$TOKEN_FILE"
pw management alice alice-pass-1
expect_error config "" "wrong M2M secret"
[ ! -f "$TOKEN_FILE" ] || fail "a token was cached after a refused token request"
printf '%s\n' "$M2M_SECRET" >"$T/m2m.secret"

check_secrets alice-pass-1 grace-pass-1 carol-pass-1 dave-pass-1 bob-pass-1 wrong-password \
    "$M2M_SECRET" not-the-secret "$M2M_TOKEN" "$M2M_TOKEN2" "$M2M_TOKEN3"
exit 0
