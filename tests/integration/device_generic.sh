#!/bin/sh
# SPDX-License-Identifier: MIT
# The device flow against the generic-profile test IdP (RS256, an `interval` in the answer):
# slow_down makes us wait 5 s longer between polls, and it stays that way. Polls are counted
# at the IdP, not timed: with a 1 s interval, slow_down after the first poll leaves at most
# one more poll in the next 4 seconds (there would be about four otherwise).
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup --profile generic --device-interval 1

token_route=/protocol/openid-connect/token

# --- plain approval; refresh and userinfo work against this provider too
device_login bob
claims=$(tail -n 1 "$T/login-bob.out")
assert_contains "$claims" '"preferred_username":"bob"' "claims"
assert_contains "$claims" '"aud":"generic-app"' "claims"
assert_contains "$(cat "$T/login-bob.err")" "device-flow-started expires_in=600 interval=1"
sub=$(printf '%s' "$claims" | sed -n 's/.*"sub":"\([^"]*\)".*/\1/p')
[ -n "$sub" ] || fail "no sub in the claims"
expect_ok refresh --tokens "$TOKENS" --sub "$sub" refresh
expect_ok userinfo --tokens "$TOKENS" --sub "$sub" userinfo
assert_contains "$(cat "$T/userinfo.out")" '"preferred_username":"bob"'
# userinfo for another subject is refused
expect_error userinfo-other-sub bad-token --tokens "$TOKENS" --sub someone-else userinfo

# --- slow_down
idp_ctl POST /stats/reset >/dev/null
idp_ctl POST /faults '{"endpoint":"token","fault":"slow_down","count":1}' >/dev/null
device_start slow
sleep 4
early=$(route_count "$token_route")
[ "$early" -ge 1 ] || fail "no poll at all in 4 s"
[ "$early" -le 2 ] || fail "$early polls in 4 s after slow_down: the interval did not grow"
approve bob
device_wait || { show_run slow; fail "device flow with slow_down failed"; }
assert_contains "$(cat "$T/slow.err")" "device-flow-slow-down interval=6"
total=$(route_count "$token_route")
[ "$total" -le 3 ] || fail "$total polls in all: the slower interval did not stick"

# --- discovery that leaves out the device grant it serves: grant_types_supported is advisory,
# so the flow is requested all the same (and works)
idp_ctl POST /settings '{"device_grant_listed":false}' >/dev/null || fail "device_grant_listed"
rm -f "$T/cache/discovery.json"
device_start unlisted --tokens "$TOKENS" --debug
approve bob
device_wait || { show_run unlisted; fail "the device flow with the grant unlisted in discovery failed"; }
assert_contains "$(cat "$T/unlisted.err")" "device-grant-unlisted"
remember_tokens
idp_ctl POST /settings '{"device_grant_listed":true}' >/dev/null || fail "device_grant_listed"
rm -f "$T/cache/discovery.json"

# --- a confidential client (client_secret_basic): refresh and revocation authenticate with
# the secret from client_secret_file; the tokens come from the password grant (flowtest
# password), since this client has no device grant.
printf 'generic-secret\n' >"$T/client.secret"
chmod 0600 "$T/client.secret"
set_config_key client_id generic-confidential
printf 'client_secret_file = %s\n' "$T/client.secret" >"$T/secret.conf"
sed -i "/^\[logto\]/r $T/secret.conf" "$CFG"
printf 'bob-pass-1\n' | wrap "$FLOWTEST" --config "$CFG" --tokens "$TOKENS" password \
    --method grant --user bob >"$T/password.out" 2>"$T/password.err" ||
    { show_run password; fail "password grant for the confidential client failed"; }
remember_tokens
expect_ok confidential-refresh --tokens "$TOKENS" --sub "$sub" refresh
remember_tokens
expect_ok confidential-revoke --tokens "$TOKENS" revoke
expect_error confidential-refresh-revoked denied --tokens "$TOKENS" refresh
printf 'wrong-secret\n' >"$T/client.secret"
expect_error wrong-secret config --tokens "$TOKENS" refresh
assert_contains "$(error_message wrong-secret)" "invalid_client"
for f in "$T"/*.out "$T"/*.err; do
    grep -q 'generic-secret' "$f" && fail "the client secret leaked into $(basename "$f")"
done

assert_no_token_leaks
exit 0
