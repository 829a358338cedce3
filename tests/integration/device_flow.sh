#!/bin/sh
# SPDX-License-Identifier: MIT
# The device flow against the Logto-profile test IdP: approved, denied, expired, the IdP going
# down mid-poll, the QR code and the Enter prompt; no token in any output.
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup

# --- approved: verified claims, tokens stored 0600, the grant stays alive (no poll after
# success), organization scopes granted (resource=urn:logto:resource:organizations was sent).
device_start approved --tokens "$TOKENS"
case "$USER_CODE" in
????-????) ;;
*) fail "user code $USER_CODE does not look like Logto's" ;;
esac
assert_contains "$(cat "$T/approved.out")" "VERIFICATION_URI $IDP_URL/device?user_code=$USER_CODE"
approve alice
device_wait || { show_run approved; fail "approved device flow failed"; }
remember_tokens
claims=$(tail -n 1 "$T/approved.out")
assert_contains "$claims" '"username":"alice"' "claims"
assert_contains "$claims" "\"iss\":\"$IDP_ISSUER\"" "claims"
assert_contains "$claims" '"aud":"device-app"' "claims"
assert_contains "$claims" '"organizations":["pbl95zlwkzx4"]' "claims"
assert_contains "$(cat "$T/approved.err")" "log<6>: device-flow-approved"
assert_eq "$(stat -c %a "$TOKENS")" 600 "tokens file mode"
[ -n "$(json_get "$TOKENS" refresh_token)" ] || fail "no refresh token was issued"
polls=$(route_count "POST /oidc/token")
sleep 2
assert_eq "$(route_count "POST /oidc/token")" "$polls" "token requests after success"
grants=$(idp_ctl GET /users/alice/grants)
assert_contains "$grants" '"grants":1' "alice's grants after sign-in"
expect_ok refresh-after-login --tokens "$TOKENS" refresh

# --- denied by the user
device_start denied
idp_ctl POST /device/deny "{\"user_code\":\"$USER_CODE\"}" >/dev/null || fail "deny failed"
device_wait && fail "a denied device flow succeeded"
grep -q '^ERROR denied: .*access_denied' "$T/denied.out" || { show_run denied; fail "denied: wrong error"; }

# --- the code expires before anyone approves it
device_start expired
idp_ctl POST /device/expire "{\"user_code\":\"$USER_CODE\"}" >/dev/null || fail "expire failed"
device_wait && fail "an expired device flow succeeded"
grep -q '^ERROR expired: .*expired_token' "$T/expired.out" || { show_run expired; fail "expired: wrong error"; }

# --- the IdP goes away while we poll: a few retries with backoff, then "unreachable"
device_start down
idp_ctl POST /down >/dev/null || fail "could not take the IdP down"
device_wait && fail "polling a dead IdP succeeded"
idp_ctl POST /up >/dev/null || fail "could not bring the IdP back"
grep -q '^ERROR unreachable: cannot reach https://127.0.0.1:[0-9]*/oidc/token: ' "$T/down.out" ||
    { show_run down; fail "down: wrong error"; }
assert_contains "$(cat "$T/down.err")" "device-flow-poll-failed retry=3"
assert_not_contains "$(cat "$T/down.err")" "retry=4"

# --- a short outage costs nothing: one poll fails (HTTP 500), the next one gets through.
# (A reset connection would not do: libcurl itself retries a request on a fresh connection
# when a reused one dies before any answer.)
idp_ctl POST /faults '{"endpoint":"token","fault":"http500","count":1}' >/dev/null
device_start blip
sleep 3
approve bob
device_wait || { show_run blip; fail "a single failed poll ended the device flow"; }
assert_contains "$(cat "$T/blip.err")" "device-flow-poll-failed retry=1"
assert_contains "$(tail -n 1 "$T/blip.out")" '"username":"bob"'
idp_ctl DELETE /faults >/dev/null

# --- QR code on a terminal, none otherwise; the Enter prompt when asked for
device_start qr --qr
approve bob
device_wait || { show_run qr; fail "device flow with --qr failed"; }
grep -q "$(printf '\342\226\210\342\226\210')" "$T/qr.err" || fail "no QR code was drawn"
grep -q "$(printf '\342\226\210')" "$T/approved.err" && fail "a QR code was drawn for a non-terminal"
wrap "$FLOWTEST" --config "$CFG" --enter-prompt device >"$T/enter.out" 2>"$T/enter.err" <<EOF &

EOF
DEV_PID=$!
i=0
while [ -z "$(sed -n 's/^USER_CODE //p' "$T/enter.out" 2>/dev/null)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
USER_CODE=$(sed -n 's/^USER_CODE //p' "$T/enter.out")
approve bob
device_wait || { show_run enter; fail "device flow with the Enter prompt failed"; }
assert_contains "$(cat "$T/enter.err")" "Press Enter once you have signed in"

assert_no_token_leaks
exit 0
