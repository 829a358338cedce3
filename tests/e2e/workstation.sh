#!/bin/sh
# SPDX-License-Identifier: MIT
# Workstation sign-in with the packaged stack: pam-auth-update enables the shipped
# etc/pam-configs/logto and Debian's mkhomedir profile; Debian's own /etc/pam.d/su and login,
# and gdm3's gdm-password, are used unchanged. Through a pseudo-terminal:
#  1. `su - alice` from a local account, password flow: a login shell as alice, in the home
#     directory pam_mkhomedir just created (owned by her, from /etc/skel), with NSS's identity;
#  2. `su - bob` with the device flow (code shown at once, no Enter prompt off SSH);
#  3. pamtester as `login` with flow = both, Enter at the password prompt: the device flow, for
#     erin; her home is created with her custom_data UID;
#  4. pamtester as `gdm-password` (gdm3's stack) on display :0 with flow = both: a password,
#     or an empty answer for the device flow (no QR code and no Enter prompt off a terminal);
#  5. offline: with the IdP stopped, alice's password works within offline_grace, a wrong one
#     does not, and past the grace even the right one is refused; back online it works again.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"
need_cmd pamtester

GRACE=5
# ws_config FLOW: the services of a workstation; `su -` is the PAM service su-l on Debian.
ws_config() {
    e2e_config "[service *]
allow_any_user = yes
flow = password

[service su]
flow = $1
offline_grace = $GRACE

[service su-l]
flow = $1
offline_grace = $GRACE

[service login]
flow = both

[service gdm-password]
flow = both"
}
e2e_idp_start
ws_config password
e2e_pam_auth_update logto mkhomedir
install -m 0644 "$E2E_DIR/gdm-password" /etc/pam.d/gdm-password
idp_ctl POST /users '{"username":"gina","password":"gina-pass-1","email":"gina@example.com"}' >/dev/null
e2e_sync
e2e_local_user e2elocal 'local-Pass-1' 4242
for u in alice bob erin gina; do
    [ ! -e "/home/$u" ] || fail "/home/$u exists before the first sign-in"
done

ALICE_PW=alice-pass-1 GINA_PW=gina-pass-1
export ALICE_PW GINA_PW
CODE_RX='(?P<code>[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})'

# su_as_local SCRIPT LOG TARGET: `su - TARGET` typed by the local user e2elocal.
su_as_local() {
    e2e_pty "$1" "$2" setpriv --reuid=e2elocal --regid=e2elocal --init-groups --reset-env \
        -- su - "$3"
}
# The commands a signed-in shell runs, once it prompts (PAM flushes what is typed earlier): the
# marker proves the shell ran them.
SHELL_STEPS='expect \$ $
sendline echo "MARK-$((6*7))"; id; pwd; exit
expect MARK-42
eof'

# home_ok USER: the home directory pam_mkhomedir made: the user's, with /etc/skel's files.
home_ok() {
    h=$(getent passwd "$1" | cut -d: -f6)
    [ -d "$h" ] || fail "no home directory $h for $1"
    assert_eq "$(stat -c %u:%g "$h")" "$(id -u "$1"):$(id -g "$1")" "owner of $h"
    for f in /etc/skel/.[!.]* /etc/skel/*; do
        [ -e "$f" ] || continue
        [ -e "$h/${f#/etc/skel/}" ] || fail "$h/${f#/etc/skel/} was not copied from /etc/skel"
    done
}

# ---------------------------------------------------------------- 1. su, password
cat >"$R/su-alice.pty" <<EOF
expect Password:
secret ALICE_PW
$SHELL_STEPS
EOF
su_as_local "$R/su-alice.pty" "$R/su-alice.log" alice || fail "su - alice (see above)"
log=$(tr -d '\r' <"$R/su-alice.log")
assert_eq "$(e2e_id_norm "$log")" "$(e2e_id_norm "$(id alice)")" "id in alice's su shell"
assert_contains "$log" "
/home/alice
" "working directory of alice's login shell"
home_ok alice
grep -q 'auth-ok user=alice service=su-l method=experience' "$E2E_SYSLOG" || fail "no auth-ok for su"
echo "ok 1 su - alice (password): login shell in the new home $(stat -c '%U:%G %a' /home/alice)"

# ---------------------------------------------------------------- 2. su, device flow
ws_config device
cat >"$R/su-bob.pty" <<EOF
expect To sign in, open
expect $CODE_RX
run idp-approve {code} bob
reject Press Enter
$SHELL_STEPS
EOF
su_as_local "$R/su-bob.pty" "$R/su-bob.log" bob || fail "su - bob (see above)"
log=$(tr -d '\r' <"$R/su-bob.log")
assert_eq "$(e2e_id_norm "$log")" "$(e2e_id_norm "$(id bob)")" "id in bob's su shell"
assert_contains "$log" "█" "QR code on a terminal"
home_ok bob
echo "ok 2 su - bob (device flow)"

# ---------------------------------------------------------------- 3. login, device flow
cat >"$R/login-erin.pty" <<EOF
expect Password \\(or press Enter to sign in with a code\\):
sendline
expect $CODE_RX
run idp-approve {code} erin
expect successfully authenticated
expect account management done
expect successfully opened a session
eof
EOF
e2e_pty "$R/login-erin.pty" "$R/login-erin.log" pamtester -v login erin authenticate acct_mgmt \
    open_session close_session || fail "pamtester login erin (see above)"
home_ok erin
assert_eq "$(stat -c %u /home/erin)" 70001 "owner of /home/erin (custom_data uidNumber)"
echo "ok 3 pamtester login erin (flow both, device): home owned by 70001"

# ---------------------------------------------------------------- 4. display manager
cat >"$R/gdm-gina.pty" <<'EOF'
expect Password \(or press Enter to sign in with a code\):
secret GINA_PW
expect successfully authenticated
expect successfully opened a session
eof
EOF
e2e_pty "$R/gdm-gina.pty" "$R/gdm-gina.log" pamtester -v -I tty=:0 gdm-password gina \
    authenticate acct_mgmt open_session close_session || fail "pamtester gdm-password gina"
home_ok gina
cat >"$R/gdm-alice.pty" <<EOF
expect Password \\(or press Enter to sign in with a code\\):
sendline
expect $CODE_RX
run idp-approve {code} alice
expect successfully authenticated
expect successfully opened a session
eof
EOF
e2e_pty "$R/gdm-alice.pty" "$R/gdm-alice.log" pamtester -v -I tty=:0 gdm-password alice \
    authenticate acct_mgmt open_session close_session || fail "pamtester gdm-password alice"
log=$(cat "$R/gdm-alice.log")
assert_not_contains "$log" "█" "device flow on :0 (QR code)"
assert_not_contains "$log" "Press Enter" "device flow on :0 (Enter prompt)"
grep -q 'auth-ok user=alice service=gdm-password method=device' "$E2E_SYSLOG" ||
    fail "alice did not sign in at the display manager with the device flow"
echo "ok 4 pamtester gdm-password on :0 (flow both): gina's password, alice's empty answer (device)"

# ---------------------------------------------------------------- 5. offline
ws_config password
su_as_local "$R/su-alice.pty" "$R/su-online.log" alice || fail "su - alice online (see above)"
online_at=$(date +%s)
idp_ctl POST /down >/dev/null
su_as_local "$R/su-alice.pty" "$R/su-offline.log" alice ||
    fail "su - alice within the offline grace (see above)"
[ $(($(date +%s) - online_at)) -lt "$GRACE" ] || fail "the offline sign-in came too late to count"
grep -q 'auth-offline user=alice' "$E2E_SYSLOG" || fail "the sign-in within the grace was not offline"
printf '%s\n' 'expect Password:' 'sendline not-alices-password' \
    'expect Logto sign-in failed: wrong password \(checked offline' 'expect su: Authentication failure' \
    eof >"$R/su-wrong.pty"
su_as_local "$R/su-wrong.pty" "$R/su-offline-wrong.log" alice && rc=0 || rc=$?
assert_eq "$rc" 1 "su's exit status for a wrong password offline"
while [ $(($(date +%s) - online_at)) -le $((GRACE + 1)) ]; do sleep 0.5; done
cat >"$R/su-past.pty" <<'EOF'
expect Password:
secret ALICE_PW
expect Logto sign-in failed: cannot reach
expect su: Authentication service cannot retrieve authentication info
eof
EOF
su_as_local "$R/su-past.pty" "$R/su-past-grace.log" alice && rc=0 || rc=$?
assert_eq "$rc" 1 "su's exit status past the offline grace"
assert_not_contains "$(cat "$R/su-past-grace.log")" "MARK-42" "su past the grace"
idp_ctl POST /up >/dev/null
su_as_local "$R/su-alice.pty" "$R/su-back.log" alice || fail "su - alice back online"
echo "ok 5 offline: within the grace, wrong password, past the grace, back online"

e2e_assert_no_secrets "$ALICE_PW" "$GINA_PW" not-alices-password m2m-secret
echo "ok no password in the terminals or syslog"
