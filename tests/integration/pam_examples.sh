#!/bin/sh
# SPDX-License-Identifier: MIT
# The shipped PAM service examples (etc/pam.d/{sshd,sudo,login,gdm-password}) do what
# pam_logto(8) says, with this system's common-* files included as they are: pam_logto.so is
# replaced by the built module (config= added), nothing else is changed.
#   sshd:  device flow over SSH ("press Enter"), roles admin|developer: alice in, dave denied;
#   sudo:  Logto password, role admin: alice in, bob signed in but denied; root (local) goes
#          to pam_unix untouched;
#   login: flow = both, Enter starts the device flow (erin);
#   gdm-password: flow = both, a password on display :0 (alice).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

for f in common-auth common-account common-session common-session-noninteractive \
    common-password; do
    [ -f "/etc/pam.d/$f" ] || skip "/etc/pam.d/$f is missing (not a Debian-style PAM setup)"
done
if grep -q pam_logto /etc/pam.d/common-auth /etc/pam.d/common-account; then
    skip "this system's common-* files already include pam_logto"
fi
idp_start || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
pam_write_config "$dir/logto.conf" "$dir" "[service sshd]
flow = device
qr = no
require_roles = admin developer
[service sudo]
flow = password
require_roles = admin
[service login]
flow = both
qr = no
allow_any_user = yes
[service gdm-password]
flow = both
allow_any_user = yes"
mkdir -p "$dir/pam.d"
for f in common-auth common-account common-session common-session-noninteractive \
    common-password; do
    cp "/etc/pam.d/$f" "$dir/pam.d/$f"
done
for f in sshd sudo login gdm-password; do
    sed "s|pam_logto\.so|$LOGTO_PAM_MODULE config=$dir/logto.conf|" \
        "$top_srcdir/etc/pam.d/$f" >"$dir/pam.d/$f"
    grep -q "$LOGTO_PAM_MODULE" "$dir/pam.d/$f" || fail "etc/pam.d/$f has no pam_logto line"
done
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$dir/pam.d/other"
# common-account's pam_unix looks the user up: Logto users resolve through libnss_logto.so.2
# (loaded by nss_wrapper, reading this test's snapshot), local ones from copies of the files.
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-})
[ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] || skip "nss_wrapper is not installed"
cp /etc/passwd "$dir/passwd"
cp /etc/group "$dir/group"
PAM_EXTRA_PRELOAD=$NSS_WRAPPER_LIB
NSS_WRAPPER_PASSWD=$dir/passwd NSS_WRAPPER_GROUP=$dir/group
NSS_WRAPPER_MODULE_SO_PATH=$LOGTO_NSS_MODULE NSS_WRAPPER_MODULE_FN_PREFIX=logto
LOGTO_NSS_SNAPSHOT=$dir/state/directory.snapshot
export PAM_EXTRA_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP NSS_WRAPPER_MODULE_SO_PATH \
    NSS_WRAPPER_MODULE_FN_PREFIX LOGTO_NSS_SNAPSHOT

# device SERVICE USER APPROVER [pamtester options]: authenticate + acct_mgmt through the device
# flow ("\n" answers a "press Enter" prompt), approved as APPROVER. Sets F and ST.
device() {
    d_svc=$1 d_user=$2 d_by=$3
    shift 3
    F=$dir/out.$d_svc.$d_user
    printf '\n' >"$dir/$d_svc.$d_user.in"
    pamtester_run "$dir/pam.d" "$@" "$d_svc" "$d_user" authenticate acct_mgmt \
        <"$dir/$d_svc.$d_user.in" >"$F" 2>&1 &
    d_pid=$!
    d_code=$(wait_for_code "$F") || { kill $d_pid; fail "$d_svc: no device code: $(cat "$F")"; }
    idp_ctl POST /device/approve "{\"user_code\":\"$d_code\",\"username\":\"$d_by\"}" >/dev/null
    wait $d_pid
    ST=$?
}

# ---- sshd
device sshd alice alice -I rhost=192.0.2.10
pam_expect_ok "sshd: alice"
assert_contains "$(cat "$F")" "Press Enter once you have signed in" "sshd: alice"
assert_contains "$(cat "$F")" "account management done" "sshd: alice"
# dave (auditor) is refused as soon as his ID token is verified: nothing stored, grant revoked.
device sshd dave dave -I rhost=192.0.2.10
pam_expect PAM_AUTH_ERR "sshd: dave (auditor)" "dave may not use sshd: requires role admin or developer"
assert_logged "$F" '^auth-refused user=dave sub=[a-z0-9]+ service=sshd reason="requires role admin or developer"$'
assert_logged "$F" '^auth-grant-revoked user=dave$'
assert_eq "$(idp_json_field "$(idp_ctl GET /users/dave/grants)" active)" 0 "dave's live refresh tokens"
[ ! -e "$dir/state/tokens/dave" ] || fail "a token record of the refused dave"

# ---- sudo
pam_try sudo alice "authenticate acct_mgmt" alice-pass-1
pam_expect_ok "sudo: alice"
assert_logged "$F" "^auth-ok user=alice service=sudo method=experience "
pam_try sudo alice authenticate wrong-password-1
pam_expect PAM_AUTH_ERR "sudo: alice, wrong password"
# This host has no [sync]: bob never signed in here, so he is no Logto user of it. His password
# goes to no IdP; pam_unix asks for it and refuses.
idp_ctl POST /stats/reset >/dev/null
pam_try sudo bob authenticate bob-pass-1
pam_expect PAM_AUTH_ERR "sudo: bob, unknown on this host"
assert_logged "$F" '^user-unknown user=bob service=sudo reason="not in the directory snapshot, and no \[sync\] credentials to look it up"$'
assert_not_contains "$(cat "$F")" "Logto" "what bob is shown"
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for bob"
# A local account never reaches Logto: pam_unix asks and refuses the wrong password.
pam_try sudo root authenticate wrong-password-2
pam_expect PAM_AUTH_ERR "sudo: root with a wrong password"
assert_logged "$F" "^authentication failure; .* user=root$" "pam_unix"
assert_not_logged "$F" "^(auth|account)-[a-z-]+ user=root"

# ---- login: an empty password starts the device flow
device login erin erin
pam_expect_ok "login: erin through the device flow"
assert_contains "$(cat "$F")" "Password (or press Enter to sign in with a code): " "login"
assert_logged "$F" "^auth-ok user=erin service=login method=device "

# ---- gdm-password: a password on an X display
pam_try -I tty=:0 gdm-password alice "authenticate acct_mgmt" alice-pass-1
pam_expect_ok "gdm-password: alice"

pam_test_done "$dir" alice-pass-1 bob-pass-1 wrong-password-1 wrong-password-2
