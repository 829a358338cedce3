#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl login: the device flow on a terminal (a pty: link, code, QR code), approved by the
# right and by the wrong user; a password typed on the terminal (echo off) and piped in; a
# one-time code asked for on the terminal (MFA); flow = both with an empty password; the
# account decision of --service (allow and deny); --json; the refusals (local account, bad
# method, not root, IdP down). Nothing secret in any output.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup
cat >>"$CFG" <<'EOF'
[service logtoctl]
flow = both
[service sudo]
flow = password
require_roles = admin
[service sshd]
flow = device
EOF
export IDP_CONTROL

# pty_login SCRIPT ARGS...: logtoctl ARGS on a terminal driven by SCRIPT (ptydrive.py); the
# transcript in $T/pty.log; the exit status.
pty_login() {
    pl_script=$1
    shift
    : >"$T/pty.log"
    # shellcheck disable=SC2086
    python3 "$PTYDRIVE" --timeout "$PTY_TIMEOUT" --log "$T/pty.log" "$pl_script" -- \
        ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" --config "$CFG" "$@" 2>"$T/pty.err"
}

approve_script() { # APPROVER
    cat >"$T/approve.$1" <<EOF
expect (?P<code>[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})
run curl -sS --fail -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary '{"user_code":"{code}","username":"$1"}' "\$IDP_CONTROL/device/approve"
eof
EOF
    echo "$T/approve.$1"
}

QR_BLOCK=$(printf '\342\226\210') # U+2588 FULL BLOCK: only a QR code draws it

# 1. The device flow (--service sshd: its flow), approved by alice on her phone: the link, the
#    code and a QR code (a terminal), then who she is and how that was decided; the record and
#    the snapshot are written as a real sign-in writes them; sshd's account phase allows her.
pty_login "$(approve_script alice)" login --service sshd alice
rc=$?
log=$(cat "$T/pty.log")
[ "$rc" = 0 ] || fail "device login exited $rc: $log $(cat "$T/pty.err")"
assert_contains "$log" "$IDP_URL/device?user_code="
assert_contains "$log" "$QR_BLOCK" "the transcript (QR code on a terminal)"
assert_contains "$log" "signed in: alice (method device)"
assert_contains "$log" "from claim username"
assert_contains "$log" "from hash of sub"
assert_contains "$log" "admin"
assert_contains "$log" "service sshd: allowed (decided: cached)"
[ "$(stat -c '%a %U' "$TOKENS/alice.json")" = "600 root" ] || fail "no 0600 token record for alice"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
expect_rc 0 "alice in the snapshot" user --offline alice
assert_contains "$(cat "$T/out")" "sub       e738g7numf03"
no_secrets "$T/pty.log" "$T/pty.err"

# 2. bob approves the code alice asked for: refused, nothing written for alice by it.
before=$(stat -c %Y "$TOKENS/alice.json")
sleep 1
pty_login "$(approve_script bob)" login --method device alice
rc=$?
[ "$rc" = 1 ] || fail "a code approved by bob: exit $rc, expected 1: $(cat "$T/pty.log")"
assert_contains "$(cat "$T/pty.log")" "signed in to Logto as bob, not as alice"
assert_eq "$(stat -c %Y "$TOKENS/alice.json")" "$before" "alice's record (wrong approver)"

# 3. A password typed on the terminal: asked with echo off (it is not in the transcript); bob
#    lacks role admin, so sudo's rules refuse the sign-in itself: exit 5, nothing stored, the
#    grant revoked at the IdP.
cat >"$T/password.script" <<'EOF'
expect Password: $
secret BOB_PASSWORD
expect bob may not use sudo: requires role admin
eof
EOF
BOB_PASSWORD=bob-pass-1 pty_login "$T/password.script" login --method experience --service sudo bob
rc=$?
[ "$rc" = 5 ] || fail "bob at sudo: exit $rc, expected 5: $(cat "$T/pty.log")"
assert_not_contains "$(cat "$T/pty.log")" "signed in: bob" "bob's refused sign-in"
assert_not_contains "$(cat "$T/pty.log")" "bob-pass-1" "the transcript (echo off)"
[ ! -e "$TOKENS/bob.json" ] || fail "a token record of bob, whom sudo's rules refuse"
assert_eq "$(idp_json_field "$(idp_ctl GET /users/bob/grants)" active)" 0 "bob's live refresh tokens"

# 4. flow = both ([service logtoctl]): Enter at the password prompt starts the device flow.
#    erin's [user erin] override (issue 17.6) is what the sign-in shows and writes.
printf '[user erin]\nshell = /bin/sh\nhome = /srv/erin\ngecos = Erin Override\n' >>"$CFG"
cat >"$T/both.script" <<'EOF'
expect Password \(or press Enter to sign in with a code\): $
sendline
expect (?P<code>[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})
run curl -sS --fail -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary '{"user_code":"{code}","username":"erin"}' "$IDP_CONTROL/device/approve"
expect signed in: erin \(method device\)
eof
EOF
pty_login "$T/both.script" login erin || fail "flow both: $(cat "$T/pty.log")"
assert_contains "$(cat "$T/pty.log")" "from custom_data.uidNumber"
assert_contains "$(cat "$T/pty.log")" "override from [user erin] at $CFG:"
expect_rc 0 "erin in the snapshot" user --offline --json erin
assert_eq "$(python3 -c 'import json,sys; u = json.load(sys.stdin)["snapshot"]; print(u["home"], u["shell"], u["gecos"])' <"$T/out")" \
    "/srv/erin /bin/sh Erin Override" "the snapshot entry the sign-in wrote"
remember_secret "$(record_refresh_token "$TOKENS/erin.json")"

# 5. MFA: dave's password, then the one-time code on the terminal (echo off too).
# The code of the current 30 s step; the IdP also accepts the next step's, which covers the time
# the sign-in takes.
# Under valgrind the sign-in is slow: start at the beginning of a step.
if [ -n "${LOGTO_TEST_WRAPPER:-}" ] && [ $(($(date +%s) % 30)) -gt 5 ]; then
    sleep $((31 - $(date +%s) % 30))
fi
DAVE_TOTP=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
cat >"$T/mfa.script" <<'EOF'
expect Password: $
secret DAVE_PASSWORD
expect (?i)code: $
secret DAVE_TOTP
expect signed in: dave \(method experience\)
eof
EOF
DAVE_PASSWORD=dave-pass-1 DAVE_TOTP=$DAVE_TOTP pty_login "$T/mfa.script" login --method experience dave ||
    fail "MFA login: $(cat "$T/pty.log") $(cat "$T/pty.err")"
assert_not_contains "$(cat "$T/pty.log")" "dave-pass-1" "the transcript (echo off)"
assert_not_contains "$(cat "$T/pty.log")" "code: $DAVE_TOTP" "the transcript (one-time code, echo off)"
remember_secret "$(record_refresh_token "$TOKENS/dave.json")"

# 6. A password on a pipe, --json: the identity, its provenance and sudo's decision.
password_login alice alice-pass-1 --service sudo --json || fail "piped login: $(cat "$T/err")"
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["ok"]')" true "ok"
assert_eq "$(printf '%s' "$json" | jget 'd["method"]')" experience "method"
assert_eq "$(printf '%s' "$json" | jget 'd["identity"]["name"]')" alice "name"
assert_eq "$(printf '%s' "$json" | jget 'd["identity"]["sub"]')" e738g7numf03 "sub"
assert_eq "$(printf '%s' "$json" | jget 'd["identity"]["from"]["name"]')" "claim username" "name from"
assert_eq "$(printf '%s' "$json" | jget 'd["identity"]["roles"]')" '["admin"]' "roles"
assert_eq "$(printf '%s' "$json" | jget '[g["kind"] for g in d["identity"]["groups"] if g["primary"]]')" '["private"]' "primary group"
assert_eq "$(printf '%s' "$json" | jget 'd["account"]["allowed"]')" true "sudo allowed"
assert_eq "$(printf '%s' "$json" | jget 'd["account"]["decided"]')" cached "decided"
assert_eq "$(printf '%s' "$json" | jget 'd["record"]')" "$TOKENS/alice.json" "record"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"

# 7. A wrong password: exit 5 (the IdP said no), --json names the error.
password_login alice wrong-password --json
assert_eq "$?" 5 "wrong password"
assert_eq "$(jget 'd["error"]["code"]' <"$T/out")" denied "error code"
assert_eq "$(jget 'd["ok"]' <"$T/out")" false "ok"
# The IdP's "no" to a password that is not the one alice's offline verifier holds leaves the
# verifier (anybody can type a wrong password; logto.conf(5) offline_lock_after); her next
# online sign-in with the right password sets a new one, which section 9 checks offline.
python3 -c 'import json, sys; sys.exit("verifier" not in json.load(open(sys.argv[1])))' \
    "$TOKENS/alice.json" || fail "a wrong password removed alice's offline verifier"
password_login alice alice-pass-1 || fail "alice's sign-in after the wrong password: $(cat "$T/err")"

# An e-mail-only Logto user (frank: no username, named by his e-mail in a listed domain) is sent
# to the Experience API with his e-mail (logto-real-1.42.md D6): after a sync, from the
# Management API by the snapshot's sub; then from his token record.
ctl sync >"$T/out" 2>"$T/err" || fail "sync: $(cat "$T/err")"
printf '%s\n' frank-pass-1 | ctl --debug login --method experience frank >"$T/out" 2>"$T/err" ||
    fail "frank, e-mail identifier (sync): $(cat "$T/out") $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "password-experience-identifier user=frank type=email"
printf '%s\n' frank-pass-1 | ctl --debug login --method experience frank >"$T/out" 2>"$T/err" ||
    fail "frank, e-mail identifier (record): $(cat "$T/out") $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "password-experience-identifier user=frank type=email"
assert_not_contains "$(cat "$T/err")" "/api/users/" "Management API requests with a record"

# 8. A client_id that is no device-flow app (the password app): the provider's refusal comes with
#    what to check (README "Troubleshooting").
sed 's/^client_id = device-app$/client_id = native-app/' "$CFG" >"$T/native.conf"
wrap "$LOGTOCTL" --config "$T/native.conf" login --method device alice </dev/null >"$T/out" 2>"$T/err"
assert_eq "$?" 1 "device flow with a non-device app"
assert_contains "$(cat "$T/err")" "/oidc/device/auth refused the request: invalid_request"
assert_contains "$(cat "$T/err")" "is client_id a Native app with the device flow enabled"

# 9. Refusals: a local account, a bad method, a bad name, not root; the IdP down.
expect_rc 1 "local account" login --method experience root </dev/null
assert_contains "$(cat "$T/err")" "root is a local account"
expect_rc 2 "bad method" login --method telepathy alice
expect_rc 2 "bad name" login 'Alice!'
expect_rc 2 "no user" login
if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$LOGTOCTL" --config "$CFG" login alice \
        </dev/null >"$T/out" 2>"$T/err"
    assert_eq "$?" 1 "login as nobody"
    assert_contains "$(cat "$T/err")" "login must run as root"
fi
# The IdP down: erin never used a password here, so nothing can check hers: exit 4. alice did:
# her password is checked against the verifier of that sign-in (offline_grace), as pam_logto
# would.
idp_ctl POST /down >/dev/null
password_login erin erin-pass-1
assert_eq "$?" 4 "login with the IdP down (no verifier)"
assert_contains "$(cat "$T/err")" "cannot reach"
password_login alice alice-pass-1 || fail "offline login of alice: $(cat "$T/err")"
assert_contains "$(cat "$T/out")" "signed in: alice (method offline, offline: checked against the cached verifier)"
password_login alice wrong-password
assert_eq "$?" 5 "a wrong password offline"
idp_ctl POST /up >/dev/null

no_secrets "$T/out" "$T/err" "$T/pty.log" "$T/pty.err"
echo "ok logtoctl login"
