#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto password sign-in through pamtester, every method against the test IdP:
#   experience: right and wrong password, unknown user, suspended carol, dave's TOTP asked through
#     the conversation (right and wrong code), lockout -> PAM_MAXTRIES, captcha, optional MFA
#     skipped, mandatory MFA and a disabled sign-in method refused with what to do;
#   pat: a personal access token typed as the password (own, expired, someone else's);
#   management: the Management API check (named [service] with the [sync] M2M app);
#   flow=both: a password signs in, an empty answer starts the device flow;
#   use_first_pass: the password typed for an earlier module is used, never asked again.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

idp_start || exit $?
dir=$(test_tmpdir)
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
# The host's own limit (pam_attempts.sh) above the IdP's, so that its lockout shows here.
pam_write_config "$dir/logto.conf" "$dir" "[logto]
host_lockout_attempts = 10
[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $dir/m2m.secret
# zelda's answer is still remembered at the management check, however slowly the steps in
# between run (valgrind).
lookup_cache_ttl = 1h
[service *]
allow_any_user = yes
flow = password
qr = no
[service logto-pat]
password_method = pat
[service logto-mgmt]
password_method = management
[service logto-both]
flow = both"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in logto-pw logto-pat logto-mgmt logto-both; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
pam_service "$dir/pam.d" logto-debug "auth required $mod debug" "account required $mod debug"
# pam_unix asks for the password (also for users it does not know) and leaves it in PAM_AUTHTOK.
pam_service "$dir/pam.d" logto-first \
    "auth [success=done default=ignore] pam_unix.so" \
    "auth required $mod use_first_pass"

PAM_DIR=$dir
pw_auth() { # SERVICE USER [ANSWER...]
    pa_s=$1 pa_u=$2
    shift 2
    pam_try "$pa_s" "$pa_u" authenticate "$@"
}
expect_ok() { # WHAT
    pam_expect_ok "$1"
    assert_contains "$(cat "$F")" "successfully authenticated" "$1"
}
expect_code() { pam_expect "$@"; }
rec() { echo "$dir/state/tokens/$1.json"; }

# ---- experience (the default method)
pw_auth logto-pw alice alice-pass-1
expect_ok "alice, right password"
assert_contains "$(cat "$F")" "Password: " "the prompt"
assert_logged "$F" "^password-signin-ok method=experience user=alice sub=e738g7numf03$"
assert_logged "$F" "^auth-ok user=alice service=logto-pw method=experience uid=[0-9]+$"
grep -q '"verifier":"\$y\$' "$(rec alice)" || fail "no yescrypt offline verifier in alice's record"
grep -q '"refresh_token":"' "$(rec alice)" || fail "no refresh token in alice's record"

pw_auth logto-pw alice wrong-password-1
expect_code PAM_AUTH_ERR "alice, wrong password" "wrong user name or password"
assert_logged "$F" '^auth-failed user=alice service=logto-pw error=denied reason="wrong user name or password"$'

# A name no Logto user has is left to the rest of the stack: no prompt, no password sent (the
# Management API lookup is all the IdP sees).
idp_ctl POST /stats/reset >/dev/null
pw_auth logto-pw zelda whatever-pass
expect_code PAM_USER_UNKNOWN "unknown user"
assert_logged "$F" '^user-unknown user=zelda service=logto-pw reason="no Logto user has this user name"$'
assert_not_contains "$(cat "$F")" "Password: " "zelda's conversation"
assert_not_contains "$(idp_ctl GET /stats)" "experience" "IdP requests for zelda"
[ ! -f "$(rec zelda)" ] || fail "a record for an unknown user"

pw_auth logto-pw carol carol-pass-1
expect_code PAM_AUTH_ERR "suspended carol" "the account is suspended"
assert_logged "$F" "^auth-failed user=carol service=logto-pw error=suspended "
[ ! -f "$(rec carol)" ] || fail "a record for suspended carol"

pw_auth logto-pw alice ""
expect_code PAM_AUTH_ERR "empty password" "an empty password is never accepted"

# MFA: the one-time code is asked through the conversation, echo off, after the password.
totp=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
pw_auth logto-pw dave dave-pass-1 "$totp"
expect_ok "dave, password and TOTP"
assert_contains "$(cat "$F")" "One-time code: " "the MFA prompt"
used_totp=$totp
totp=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
t=$(echo "$totp" | sed 's/^0*//')
bad=$(printf '%06d' $(((${t:-0} + 500000) % 1000000)))
pw_auth logto-pw dave dave-pass-1 "$bad"
expect_code PAM_AUTH_ERR "dave, wrong TOTP" "wrong one-time code"
pw_auth logto-pw dave dave-pass-1 ""
expect_code PAM_AUTH_ERR "dave, no TOTP" "no one-time code was given"

# Lockout: the IdP blocks bob after 5 failures; then even the right password gets
# PAM_MAXTRIES, until an administrator unlocks him.
for i in 1 2 3 4; do
    pw_auth logto-pw bob "bad-pass-$i"
    expect_code PAM_AUTH_ERR "bob, failure $i"
done
pw_auth logto-pw bob bad-pass-5
[ "$ST" != 0 ] || fail "bob signed in with a wrong password"
pw_auth logto-pw bob bob-pass-1
expect_code PAM_MAXTRIES "bob locked out" "too many failed attempts"
assert_logged "$F" "^auth-failed user=bob service=logto-pw error=locked "
idp_ctl POST /users/bob/unlock >/dev/null
pw_auth logto-pw bob bob-pass-1
expect_ok "bob after the unlock"

# Captcha: a tenant that demands one cannot be served by a terminal: say so.
idp_ctl POST /settings '{"captcha":true}' >/dev/null
pw_auth logto-pw erin erin-pass-1
expect_code PAM_AUTH_ERR "captcha" "requires a captcha: use the device flow"
idp_ctl POST /settings '{"captcha":false}' >/dev/null
pw_auth logto-pw erin erin-pass-1
expect_ok "erin without the captcha"

# Logto's MFA policy (logto-real-1.42.md D1, D2): TOTP as a factor under the seeded default
# (UserControlled) suggests it to erin, who has none: skipped as Logto's Skip button does, she
# signs in and is told once; Logto remembers the skip; dave, who has TOTP, signs in with it.
# Mandatory: a clear refusal.
idp_ctl POST /settings '{"mfa_factors":["Totp"],"mfa_policy":"UserControlled"}' >/dev/null
pw_auth logto-pw erin erin-pass-1
expect_ok "erin, optional MFA suggested"
assert_contains "$(cat "$F")" "2-step verification is not set up for this account; you can set it up" "the hint"
assert_logged "$F" "^password-experience-mfa-skipped user=erin$"
pw_auth logto-pw erin erin-pass-1
expect_ok "erin again (the skip is remembered)"
assert_not_contains "$(cat "$F")" "2-step verification" "the second sign-in"
# dave, who has TOTP, under the same default policy: password and one-time code, no hint.
totp=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
pw_auth logto-pw dave dave-pass-1 "$totp"
expect_ok "dave, TOTP under optional MFA"
assert_not_contains "$(cat "$F")" "2-step verification" "dave's sign-in"
idp_ctl POST /settings '{"mfa_policy":"Mandatory"}' >/dev/null
pw_auth logto-pw alice alice-pass-1
expect_code PAM_AUTH_ERR "alice, mandatory MFA" "must set up 2-step verification first: set it up once in the browser, or use the device flow"
assert_logged "$F" "^auth-failed user=alice service=logto-pw error=mfa-required "
idp_ctl POST /settings '{"mfa_factors":[],"mfa_policy":"UserControlled"}' >/dev/null
idp_ctl PATCH /users/erin '{"mfa_skipped":false}' >/dev/null

# Logto usernames are case-sensitive (logto-real-1.42.md D5): Grace_Hopper signs in as
# grace_hopper with her name as Logto stores it, from the Management API the first time, from
# her token record after that.
pw_auth logto-pw grace_hopper grace-pass-1
expect_ok "Grace_Hopper as grace_hopper (first sign-in)"
assert_logged "$F" "^auth-ok user=grace_hopper service=logto-pw method=experience "
idp_ctl POST /stats/reset >/dev/null
pw_auth logto-debug grace_hopper grace-pass-1
expect_ok "Grace_Hopper as grace_hopper (from her token record)"
assert_logged "$F" "^password-experience-identifier user=grace_hopper type=username$"
assert_not_contains "$(idp_ctl GET /stats)" '"GET /api/users' "Management API requests with a record"

# A tenant without username + password sign-in: the administrator is told what to enable.
idp_ctl POST /settings '{"password_sign_in":["email"]}' >/dev/null
pw_auth logto-pw alice alice-pass-1
expect_code PAM_SERVICE_ERR "username sign-in not enabled" "the system log says why"
assert_logged "$F" "^auth-failed user=alice service=logto-pw error=config reason=\"Logto's sign-in experience does not enable password sign-in with a username: the administrator must enable"
idp_ctl POST /settings '{"password_sign_in":["username","email","phone"]}' >/dev/null

# ---- personal access tokens
alice_pat=pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx
bob_pat=pat_nVmLRCrd6ifqWRapdWqMEtYQMtshaFZb # expired
rm -f "$(rec alice)"
pw_auth logto-pat alice "$alice_pat"
expect_ok "alice's PAT"
assert_logged "$F" "^auth-ok user=alice service=logto-pat method=pat "
pw_auth logto-pat bob "$bob_pat"
expect_code PAM_AUTH_ERR "bob's expired PAT" "personal access token is unknown, expired or revoked"
pw_auth logto-pat bob "$alice_pat"
expect_code PAM_AUTH_ERR "alice's PAT for bob" "signed in to Logto as alice, not as bob"
assert_logged "$F" "^auth-wrong-user user=bob signed_in_as=alice "
pw_auth logto-pat alice alice-pass-1
expect_code PAM_AUTH_ERR "a password where a PAT is expected" "not a personal access token"
new_pat=$(idp_json_field "$(idp_ctl POST /users/erin/pats '{"name":"pam"}')" value)
pw_auth logto-pat erin "$new_pat"
expect_ok "erin's new PAT"

# ---- Management API check (opt-in per named service; no MFA, no lockout)
pw_auth logto-mgmt alice alice-pass-1
expect_ok "alice, management"
assert_logged "$F" "^auth-ok user=alice service=logto-mgmt method=management "
pw_auth logto-mgmt alice wrong-password-2
expect_code PAM_AUTH_ERR "alice, management, wrong password" "wrong user name or password"
pw_auth logto-mgmt carol carol-pass-1
expect_code PAM_AUTH_ERR "carol, management" "suspended"
pw_auth logto-mgmt zelda whatever-pass
expect_code PAM_USER_UNKNOWN "unknown user, management (the remembered answer)"
assert_logged "$F" '^user-unknown user=zelda service=logto-mgmt reason="not a Logto user of this host \(remembered answer\)"$'
pw_auth logto-mgmt dave dave-pass-1
expect_ok "dave, management (MFA is bypassed, as documented)"
assert_not_contains "$(cat "$F")" "One-time code" "the management method"

# ---- flow=both: a password signs in; an empty answer starts the device flow.
pw_auth logto-both alice alice-pass-1
expect_ok "alice, flow=both with a password"
assert_contains "$(cat "$F")" "Password (or press Enter to sign in with a code): " "the prompt"
assert_logged "$F" "method=experience"
F=$dir/out.both-device
printf '\n' >"$dir/both.in"
pamtester_run "$dir/pam.d" logto-both erin authenticate <"$dir/both.in" >"$F" 2>&1 &
pid=$!
code=$(wait_for_code "$F") || { kill $pid; fail "flow=both: no device code after an empty answer"; }
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"erin\"}" >/dev/null
wait $pid || fail "flow=both device sign-in failed: $(cat "$F")"
assert_logged "$F" "^auth-ok user=erin service=logto-both method=device "

# ---- debug: every request and step is logged, still without a secret (checked at the end).
pw_auth logto-pw alice alice-pass-1
assert_not_logged "$F" "^http-request "
totp=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
debug_totp=$totp
pw_auth logto-debug dave dave-pass-1 "$totp"
expect_ok "dave with debug"
assert_logged "$F" "^http-request method=POST url=https://127.0.0.1:[0-9]+/api/experience/verification/totp/verify status=200$"
assert_logged "$F" "^password-experience-step "
assert_logged "$F" "^id-token-ok alg=ES384 kid="

# ---- use_first_pass: one prompt (pam_unix's); pam_logto uses that password.
pw_auth logto-first bob bob-pass-1
expect_ok "bob, use_first_pass"
[ "$(grep -o 'Password: ' "$F" | wc -l)" = 1 ] || fail "use_first_pass: asked more than once: $(cat "$F")"

pam_test_done "$dir" alice-pass-1 bob-pass-1 carol-pass-1 dave-pass-1 erin-pass-1 \
    grace-pass-1 wrong-password-1 wrong-password-2 bad-pass-1 bad-pass-5 whatever-pass "$alice_pat" "$bob_pat" \
    "$new_pat" "$used_totp" "$bad" "$debug_totp" m2m-secret
