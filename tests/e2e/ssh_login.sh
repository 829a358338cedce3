#!/bin/sh
# SPDX-License-Identifier: MIT
# SSH login via Logto with OpenSSH's real sshd and ssh (keyboard-interactive, through a
# pseudo-terminal), the shipped etc/pam.d/sshd and etc/ssh/sshd_config.d-logto.conf:
#  1. alice, known from `logtoctl sync` and never signed in on this host, signs in with the
#     device flow (code read from the prompt, approved through the IdP, Enter pressed) and runs
#     id remotely: UID, GID and groups are what the NSS module serves;
#  2. bob the same with a password (Experience API); zelda, whom Logto does not know, is left to
#     pam_unix without her password reaching the IdP;
#  3. dave (role auditor: he exists on this host through [service su]), without a role sshd
#     requires, is refused as soon as his device sign-in is verified, with a message saying why;
#     nothing is stored and his grant is revoked at the IdP;
#  4. carol, suspended in Logto, holding a valid public key in authorized_keys, is refused by
#     the account phase (public-key logins skip PAM auth);
#  5. the device flow as a second factor (the drop-in's AuthenticationMethods
#     publickey,keyboard-interactive): without alice's key no code is ever shown or requested
#     from the IdP; with it, the device flow follows; the code names user, service and host;
#  6. with the IdP unreachable the client is told so in plain words, without URL or network
#     error (those are in syslog).
# No password, token or device code ends up in sshd's log or syslog.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"

e2e_idp_start
su_rule="[service su]
require_roles = auditor"
e2e_config "[service sshd]
flow = device
require_roles = admin developer
$su_rule"
e2e_pam_example sshd
e2e_sync

# Known from sync, never signed in: sshd can look them up before PAM runs.
getent passwd alice >/dev/null || fail "alice does not resolve after logtoctl sync"
getent passwd carol >/dev/null || fail "carol (suspended) does not resolve after logtoctl sync"
[ ! -e /var/lib/logto/tokens/alice.json ] || fail "alice has a token record before signing in"
want_alice=$(e2e_id_norm "$(id alice)")
want_bob=$(e2e_id_norm "$(id bob)")

e2e_sshd_start
CODE_RX='(?P<code>[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})'

# ---------------------------------------------------------------- 1. device flow
cat >"$R/device.pty" <<EOF
expect This code signs in alice to sshd on $(hostname)\\. Approve it only if you started this yourself\\.
expect To sign in, open
expect $CODE_RX
expect Press Enter once you have signed in:
run idp-approve {code} alice
sendline
expect uid=\\d+\\(alice\\)
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/device.pty" "$R/ssh-device.log" $(e2e_ssh_cmd keyboard-interactive alice) id ||
    fail "alice could not sign in with the device flow (see $R/ssh-device.log)"
got=$(e2e_id_norm "$(cat "$R/ssh-device.log")")
assert_eq "$got" "$want_alice" "remote id of alice"
assert_contains "$got" "(logto-admin)" "alice's groups (role admin)"
assert_contains "$(cat "$R/ssh-device.log")" "█" "the device prompt over SSH (QR code)"
grep -q 'auth-ok user=alice service=sshd method=device' "$E2E_SYSLOG" ||
    fail "no auth-ok for alice's device sign-in in syslog"
[ -f /var/lib/logto/tokens/alice.json ] || fail "no token record after alice signed in"
echo "ok 1 device flow: $got"

# ---------------------------------------------------------------- 2. password flow
e2e_config "[service sshd]
flow = password
password_method = experience
require_roles = admin developer
$su_rule"
BOB_PW=bob-pass-1
export BOB_PW
cat >"$R/password.pty" <<'EOF'
expect Password:
secret BOB_PW
expect uid=\d+\(bob\)
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/password.pty" "$R/ssh-password.log" $(e2e_ssh_cmd keyboard-interactive bob) id ||
    fail "bob could not sign in with his password (see $R/ssh-password.log)"
got=$(e2e_id_norm "$(cat "$R/ssh-password.log")")
assert_eq "$got" "$want_bob" "remote id of bob"
grep -q 'auth-ok user=bob service=sshd method=experience' "$E2E_SYSLOG" ||
    fail "no auth-ok for bob's password sign-in in syslog"
echo "ok 2 password flow: $got"

# A wrong password is refused (and no shell runs).
cat >"$R/wrong.pty" <<'EOF'
expect Password:
sendline not-bobs-password
expect Permission denied
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/wrong.pty" "$R/ssh-wrong.log" $(e2e_ssh_cmd keyboard-interactive bob) id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status after a wrong password"
assert_not_contains "$(cat "$R/ssh-wrong.log")" "uid=" "ssh output after a wrong password"
echo "ok 2b wrong password refused"

# A name no Logto user has (sshd runs PAM for any name a client sends): pam_logto leaves it to
# pam_unix and no password reaches the IdP (one Management API lookup, within the budget).
idp_ctl POST /stats/reset >/dev/null
cat >"$R/unknown.pty" <<'EOF'
expect Password:
sendline zelda-pass-1
expect Permission denied
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/unknown.pty" "$R/ssh-unknown.log" $(e2e_ssh_cmd keyboard-interactive zelda) id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status for zelda"
grep -q 'user-unknown user=zelda service=sshd reason="no Logto user has this user name"' \
    "$E2E_SYSLOG" || fail "no user-unknown for zelda in syslog"
stats=$(idp_ctl GET /stats)
assert_not_contains "$stats" "experience" "IdP requests for zelda"
echo "ok 2c a name that is no Logto user: left to pam_unix, no password sent"

# ---------------------------------------------------------------- 3. no required role
e2e_config "[service sshd]
flow = device
require_roles = admin developer
$su_rule"
cat >"$R/norole.pty" <<EOF
expect $CODE_RX
expect Press Enter once you have signed in:
run idp-approve {code} dave
sendline
expect dave may not use sshd: requires role admin or developer
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/norole.pty" "$R/ssh-norole.log" $(e2e_ssh_cmd keyboard-interactive dave) id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status for dave"
assert_not_contains "$(cat "$R/ssh-norole.log")" "uid=" "ssh output for dave"
grep -q 'auth-refused user=dave sub=[a-z0-9]* service=sshd reason="requires role admin or developer"' \
    "$E2E_SYSLOG" || fail "no auth-refused for dave in syslog"
grep -q 'auth-grant-revoked user=dave' "$E2E_SYSLOG" || fail "dave's grant was not revoked"
assert_eq "$(idp_json_field "$(idp_ctl GET /users/dave/grants)" active)" 0 "dave's live refresh tokens"
[ ! -e /var/lib/logto/tokens/dave.json ] || fail "a token record of the refused dave"
echo "ok 3 refused without a required role: $(tr -d '\r' <"$R/ssh-norole.log" | grep -m1 'may not use')"

# ---------------------------------------------------------------- 4. suspended, with a key
ssh-keygen -q -t ed25519 -N '' -C carol@e2e -f "$R/carol_key"
home=$(getent passwd carol | cut -d: -f6)
mkdir -p "$home/.ssh"
cp "$R/carol_key.pub" "$home/.ssh/authorized_keys"
chown -R "$(id -u carol):$(id -g carol)" "$home"
chmod 0755 "$home"
chmod 0700 "$home/.ssh"
chmod 0600 "$home/.ssh/authorized_keys"
printf '%s\n' "expect Access denied by Logto: the Logto account is suspended" eof >"$R/key.pty"
# shellcheck disable=SC2046
e2e_pty "$R/key.pty" "$R/ssh-suspended.log" $(e2e_ssh_cmd publickey carol -o IdentitiesOnly=yes \
    -i "$R/carol_key") id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status for carol"
assert_not_contains "$(cat "$R/ssh-suspended.log")" "uid=" "ssh output for carol"
grep -q "Accepted key ED25519 .* found at $home/.ssh/authorized_keys" "$E2E_SSHD_LOG" ||
    fail "sshd did not accept carol's key (the account phase was not what refused her)"
grep -q 'account-denied user=carol service=sshd error=suspended' "$E2E_SYSLOG" ||
    fail "the account phase did not refuse carol as suspended"
grep -q 'Access denied for user carol by PAM account configuration' "$E2E_SSHD_LOG" ||
    fail "sshd did not report the PAM account denial for carol"
echo "ok 4 suspended user with a valid key refused by the account phase"

# ---------------------------------------------------------------- 5. a key first
e2e_sshd_stop
e2e_sshd_start "AuthenticationMethods publickey,keyboard-interactive"
ssh-keygen -q -t ed25519 -N '' -C alice@e2e -f "$R/alice_key"
home=$(getent passwd alice | cut -d: -f6)
mkdir -p "$home/.ssh"
cp "$R/alice_key.pub" "$home/.ssh/authorized_keys"
chown -R "$(id -u alice):$(id -g alice)" "$home"
chmod 0700 "$home" "$home/.ssh"
idp_ctl POST /stats/reset >/dev/null
printf '%s\n' 'reject To sign in' 'expect Permission denied \(publickey\)' eof >"$R/nokey.pty"
# shellcheck disable=SC2046
e2e_pty "$R/nokey.pty" "$R/ssh-nokey.log" $(e2e_ssh_cmd keyboard-interactive alice) id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status for alice without her key"
stats=$(idp_ctl GET /stats)
assert_eq "$(idp_json_field "$stats" total)" 0 "IdP requests for a client without the key: $stats"
cat >"$R/twofactor.pty" <<EOF
expect This code signs in alice to sshd on
expect $CODE_RX
expect Press Enter once you have signed in:
run idp-approve {code} alice
sendline
expect uid=\\d+\\(alice\\)
eof
EOF
# shellcheck disable=SC2046
e2e_pty "$R/twofactor.pty" "$R/ssh-twofactor.log" $(e2e_ssh_cmd publickey,keyboard-interactive \
    alice -o IdentitiesOnly=yes -i "$R/alice_key") id ||
    fail "alice could not sign in with her key and the device flow (see $R/ssh-twofactor.log)"
grep -q "Partial publickey for alice" "$E2E_SSHD_LOG" || fail "sshd did not take the key first"
echo "ok 5 publickey,keyboard-interactive: no key, no code (0 IdP requests); key, then device flow"

# ---------------------------------------------------------------- 6. IdP unreachable
e2e_sshd_stop
e2e_sshd_start
sed -i "s|^endpoint = .*|endpoint = https://127.0.0.1:$(e2e_free_port)|" /etc/logto/logto.conf
printf '%s\n' 'expect Logto sign-in failed: cannot reach the sign-in service; try again later' \
    eof >"$R/down.pty"
# shellcheck disable=SC2046
e2e_pty "$R/down.pty" "$R/ssh-down.log" $(e2e_ssh_cmd keyboard-interactive alice) id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status with the IdP unreachable"
for leak in https:// 127.0.0.1: refused; do
    assert_not_contains "$(grep 'sign-in' "$R/ssh-down.log")" "$leak" "what the client saw"
done
grep -q 'auth-failed user=alice service=sshd error=unreachable reason=".*https://127.0.0.1:' \
    "$E2E_SYSLOG" || fail "syslog does not name the unreachable endpoint"
echo "ok 6 IdP unreachable: $(tr -d '\r' <"$R/ssh-down.log" | grep -m1 'sign-in failed')"

# ---------------------------------------------------------------- secrets
rt=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' /var/lib/logto/tokens/alice.json)
[ -n "$rt" ] || fail "no refresh token in alice's record"
code=$(grep -oE '[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}' "$R/ssh-device.log" | head -1)
assert_not_contains "$(cat "$E2E_SYSLOG" "$E2E_SSHD_LOG")" "$code" "sshd log and syslog (device code)"
e2e_assert_no_secrets "$BOB_PW" not-bobs-password zelda-pass-1 alice-pass-1 m2m-secret "$rt"
echo "ok secrets stay out of sshd's log, syslog and the terminal"
