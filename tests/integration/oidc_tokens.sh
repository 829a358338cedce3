#!/bin/sh
# SPDX-License-Identifier: MIT
# Token endpoint operations against the Logto-profile IdP: refresh with rotation (stored before
# use; reusing a spent refresh token revokes the grant), a refusal without an OAuth body (a
# refused grant for 400/401), a failing store, userinfo with
# custom_data, revocation.
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup --refresh-reuse-leeway 0

grants_of() { idp_json_field "$(idp_ctl GET "/users/$1/grants")" "$2"; }

# --- userinfo is where custom_data comes from
device_login erin
sub=$(sed -n 's/.*"sub":"\([^"]*\)".*/\1/p' "$T/login-erin.out")
expect_ok userinfo --tokens "$TOKENS" --sub "$sub" userinfo
assert_contains "$(cat "$T/userinfo.out")" '"custom_data":{"gidNumber":70001,"loginShell":"/bin/zsh"'
assert_contains "$(cat "$T/userinfo.out")" '"uidNumber":70001'
expect_error userinfo-other-sub bad-token --tokens "$TOKENS" --sub e738g7numf03 userinfo

# --- rotation: every refresh gives a new refresh token, written before it is used
rt0=$(json_get "$TOKENS" refresh_token)
cp "$TOKENS" "$T/tokens-0.json"
expect_ok refresh-1 --tokens "$TOKENS" --sub "$sub" refresh
remember_tokens
rt1=$(json_get "$TOKENS" refresh_token)
[ -n "$rt1" ] && [ "$rt1" != "$rt0" ] || fail "the refresh token did not rotate"
assert_contains "$(cat "$T/refresh-1.out")" "\"sub\":\"$sub\""
assert_eq "$(stat -c %a "$TOKENS")" 600 "tokens file mode after refresh"
expect_ok userinfo-after-refresh --tokens "$TOKENS" userinfo
assert_eq "$(grants_of erin grants)" 1 "erin's grants"
# Another user's sub is refused even though the refresh itself worked.
cp "$TOKENS" "$T/tokens-1.json"
expect_error refresh-wrong-sub bad-token --tokens "$TOKENS" --sub e738g7numf03 refresh
assert_contains "$(error_message refresh-wrong-sub)" "another sub"
remember_tokens

# A spent refresh token used again: invalid_grant, and the IdP revokes the whole grant.
expect_error reuse denied --tokens "$T/tokens-0.json" refresh
assert_contains "$(error_message reuse)" "invalid_grant"
assert_eq "$(grants_of erin grants)" 0 "erin's grants after reuse"
expect_error after-reuse denied --tokens "$TOKENS" refresh

# --- a store that fails: the refresh fails, and the new tokens are not used
device_login alice login-alice
cp "$TOKENS" "$T/tokens-alice.json"
expect_error no-store io --fail-persist --tokens "$TOKENS" refresh
assert_contains "$(error_message no-store)" "the rotated refresh token could not be stored"
assert_contains "$(cat "$T/no-store.err")" "token-refresh-not-stored error=io"
cmp -s "$TOKENS" "$T/tokens-alice.json" || fail "the tokens file changed although storing failed"
# (which is why storing comes first: the old token is spent, and reusing it ends the grant)
expect_error no-store-then-reuse denied --tokens "$TOKENS" refresh
assert_eq "$(grants_of alice grants)" 0 "alice's grants after reusing the spent token"

# --- revocation (RFC 7009)
device_login bob login-bob
expect_ok revoke --tokens "$TOKENS" revoke
assert_eq "$(cat "$T/revoke.out")" '{"revoked":"refresh_token"}' "revoke output"
expect_error refresh-revoked denied --tokens "$TOKENS" refresh
# Revoking is idempotent for the caller: an already revoked token is still "revoked".
expect_ok revoke-again --tokens "$TOKENS" revoke
device_login bob login-bob-2
expect_ok revoke-access --tokens "$TOKENS" --hint access_token revoke
expect_error userinfo-revoked denied --tokens "$TOKENS" userinfo
assert_contains "$(error_message userinfo-revoked)" "invalid_token"

# --- a refusal without an OAuth error body (Glewlwyd answers an empty 400; others HTML) is a
# refused refresh token, not a protocol error; a 403 without one stays a protocol error.
device_login dave login-dave
for f in bare_400 bare_401 html_400; do
    idp_ctl POST /faults "{\"endpoint\":\"token\",\"fault\":\"$f\",\"count\":1}" >/dev/null
    expect_error "refresh-$f" denied --tokens "$TOKENS" refresh
    assert_contains "$(error_message "refresh-$f")" "/oidc/token refused the refresh token (HTTP 40"
done
idp_ctl POST /faults '{"endpoint":"token","fault":"bare_403","count":1}' >/dev/null
expect_error refresh-bare_403 protocol --tokens "$TOKENS" refresh
assert_contains "$(error_message refresh-bare_403)" "answered HTTP 403 without an OAuth error"
expect_ok refresh-after-bare --tokens "$TOKENS" refresh
remember_tokens

assert_no_token_leaks
exit 0
