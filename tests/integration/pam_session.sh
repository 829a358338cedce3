#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto sessions: pam_sm_open_session records the login (log line); pam_sm_close_session
# revokes the user's refresh token at the IdP only with revoke_on_close = yes (checked through
# the control API's grant count), for device-flow and Experience-API sign-ins alike; without it
# the grant stays. A revoked session cannot be refreshed afterwards. When the IdP cannot be
# told, the token is forgotten anyway and the session still closes. Local users are ignored.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

idp_start || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
pam_write_config "$dir/logto.conf" "$dir" "[service *]
allow_any_user = yes
flow = password
qr = no
claims_max_age = 1
[service sess-revoke]
revoke_on_close = yes
[service sess-device]
flow = device
revoke_on_close = yes"
pam_seed_snapshot "$dir/state" alice erin
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in sess-keep sess-revoke sess-device; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod" \
        "session required $mod" "session required pam_permit.so"
done
grants() { idp_json_field "$(idp_ctl GET "/users/$1/grants")" active; }
has_rt() { grep -q '"refresh_token":"' "$dir/state/tokens/$1.json"; }

# ---- without revoke_on_close: open and close are recorded, the grant stays.
pam_try sess-keep erin "authenticate open_session close_session" erin-pass-1
pam_expect_ok "erin: sign-in, session open and close"
assert_contains "$(cat "$F")" "successfully opened a session"
assert_contains "$(cat "$F")" "session has successfully been closed"
assert_logged "$F" "^session-open user=erin$"
assert_logged "$F" "^session-close user=erin$"
assert_not_logged "$F" "session-revoked"
assert_eq "$(grants erin)" 1 "erin's live refresh tokens after close (revoke_on_close = no)"
has_rt erin || fail "erin's refresh token was dropped without revoke_on_close"

# ---- with revoke_on_close: the refresh token is revoked at the IdP (Experience API client).
pam_try sess-revoke alice "authenticate open_session" alice-pass-1
pam_expect_ok "alice: sign-in and session open"
assert_eq "$(grants alice)" 1 "alice's live refresh tokens while the session is open"
pam_try sess-revoke alice close_session
pam_expect_ok "alice: session close"
assert_logged "$F" "^session-revoked user=alice idp=ok$"
assert_eq "$(grants alice)" 0 "alice's live refresh tokens after close"
has_rt alice && fail "alice's record still holds the revoked refresh token"
# Nothing left to refresh: once the claims are old the account phase asks for a new sign-in.
sleep 2
pam_try sess-revoke alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice after her session was revoked" "sign in again"

# ---- the same for a device-flow sign-in (the device app's client).
f=$dir/out.device
pamtester_run "$dir/pam.d" sess-device bob authenticate open_session close_session \
    </dev/null >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown"; }
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"bob\"}" >/dev/null
wait $pid || fail "bob's device sign-in and session: $(cat "$f")"
assert_logged "$f" "^session-revoked user=bob idp=ok$"
assert_eq "$(grants bob)" 0 "bob's live refresh tokens after close"

# ---- the IdP cannot be told: the token is forgotten anyway, the session closes.
pam_try sess-revoke erin "authenticate open_session" erin-pass-1
pam_expect_ok "erin: sign-in with revoke_on_close"
idp_ctl POST /down >/dev/null
pam_try sess-revoke erin close_session
idp_ctl POST /up >/dev/null
pam_expect_ok "erin: session close while the IdP is down"
assert_logged "$F" "^session-revoked user=erin idp=unreachable$"
has_rt erin && fail "erin's record still holds the refresh token after a close"

# ---- local users are pam_unix's: ignored (the stack's pam_permit decides).
pam_try sess-revoke root "open_session close_session"
pam_expect_ok "root's session"
assert_not_logged "$F" "session-"

pam_test_done "$dir" alice-pass-1 erin-pass-1
