#!/bin/sh
# SPDX-License-Identifier: MIT
# Screen lockers (issue 15): Debian's vlock, a real locker that runs PAM as the user who locked
# (vlock-main is setuid root but authenticates with the user's privileges), driven over a pty
# as that user, with /etc/pam.d/vlock including the common-auth that pam-auth-update builds from
# the shipped profile. pam_logto, unprivileged, asks logto-helper (systemd-socket-activate runs
# the unit's ExecStart= on /run/logto/helper.sock, as logto-helper.socket does):
#  1. alice (a Logto user) unlocks with her password online; a wrong one is refused with the
#     IdP's reason and the lock stays;
#  2. the IdP down: her password unlocks within offline_grace (the offline verifier), a wrong
#     one is refused;
#  3. the local user unlocks through pam_unix as always;
#  4. the socket absent: alice is refused with the message (PAM_AUTHINFO_UNAVAIL), the local
#     user is not affected; the socket back: alice unlocks;
#  5. the account phase (pam_acct_mgmt) of an unprivileged pamtester on a service whose rule
#     admits alice only, decided by the helper (op=account): alice authenticates and passes it;
#     bob (no rule admits him there) is refused at the account phase; alice naming bob is
#     refused (not-own, logged); the socket absent: alice refused with the message, the local
#     user passes as before;
#  6. a raw client running as alice asks to check bob's password: refused (not-own), a name
#     nobody holds: unknown (PAM_USER_UNKNOWN, left to the rest of the stack); malformed
#     password requests (not hex, a NUL byte, a token key, too long): refused; a service
#     name that forges a log field: refused; her own password: yes; wrong passwords count
#     towards the host lockout as pam_logto's do, until even the right one gets "locked".
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"
need_cmd vlock systemd-socket-activate
HELPER=$top_builddir/cli/logto-helper
[ -x "$HELPER" ] || fail "logto-helper is not built"

e2e_idp_start
e2e_config "[service vlock]
allow_any_user = yes
flow = password
offline_grace = 60

[service e2e-locker]
allow_users = alice
flow = password"
e2e_pam_auth_update logto
printf '@include common-auth\n' >/etc/pam.d/vlock
# A locker that also runs the account phase (xscreensaver does): the common-* files.
printf '@include common-auth\n@include common-account\n' >/etc/pam.d/e2e-locker
chmod 0644 /etc/pam.d/vlock /etc/pam.d/e2e-locker
e2e_sync
e2e_local_user e2elocal 'local-Pass-1' 4242
# Debian installs vlock-main setuid root (for -a and -n) and it then authenticates as root;
# lockers run as the user (vlock elsewhere, swaylock, i3lock...): a copy without the setuid bit
# in its place here, so that PAM runs with the locking user's privileges.
cp /usr/sbin/vlock-main "$E2E_ROOT/vlock-main"
chmod 0755 "$E2E_ROOT/vlock-main"
mount --bind "$E2E_ROOT/vlock-main" /usr/sbin/vlock-main

# The helper as PID 1 would start it: the unit's command line, one process per connection.
exec_start=$(sed -n 's/^ExecStart=//p' "$top_builddir/etc/systemd/logto-helper@.service")
assert_eq "${exec_start##*/}" logto-helper "ExecStart= of logto-helper@.service"
SOCK=/run/logto/helper.sock
mkdir -p /run/logto && chmod 0755 /run/logto
vg=
[ -n "${LOGTO_TEST_WRAPPER:-}" ] && vg="$LOGTO_TEST_WRAPPER --log-file=$R/helper-vg.%p"
# shellcheck disable=SC2086
(exec systemd-socket-activate -l "$SOCK" --accept --inetd $vg "$HELPER") 2>"$R/activate.out" &
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "systemd-socket-activate did not listen: $(cat "$R/activate.out")"
chmod 0666 "$SOCK" # SocketMode=0666 of logto-helper.socket

ALICE_PW=alice-pass-1 LOCAL_PW=local-Pass-1 WRONG_PW=not-alices-password
export ALICE_PW LOCAL_PW WRONG_PW
# lock USER SCRIPT NAME: vlock run by USER over a pty (the transcript in $R/NAME.log).
lock() {
    printf '%s\n' "$2" >"$R/$3.pty"
    e2e_pty "$R/$3.pty" "$R/$3.log" setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups \
        --reset-env -- vlock || fail "vlock as $1 ($3, see above); syslog: $(tail -n 15 "$E2E_SYSLOG")"
}
# vlock prints its prompt, then turns echo off flushing the input (TCSAFLUSH): a password typed
# in between is lost, so the script waits a moment after each prompt.
UNLOCK='expect Please press \[ENTER\] to unlock
sendline
expect [Pp]assword: $
sleep 0.3'
# After the user's own password fails, vlock asks for root's (pam_unix cannot check it here).
ROOT_TOO="expect root's Password: $
sleep 0.3
sendline"

# ---------------------------------------------------------------- 1. online
lock alice "$UNLOCK
secret WRONG_PW
expect Logto sign-in failed: wrong user name or password
$ROOT_TOO
$UNLOCK
secret ALICE_PW
eof" alice-online
grep -q 'auth-unprivileged user=alice service=vlock uid=[1-9][0-9]* via=helper' "$E2E_SYSLOG" ||
    fail "pam_logto did not run unprivileged in vlock (no auth-unprivileged)"
grep -q 'auth-ok user=alice service=vlock method=[a-z]* uid=[0-9]* via=helper$' "$E2E_SYSLOG" ||
    fail "the helper did not sign alice in online"
grep -q 'auth-failed user=alice service=vlock uid=[0-9]* via=helper error=denied' "$E2E_SYSLOG" ||
    fail "the helper did not log the wrong password"
echo "ok 1 vlock: alice unlocks with her password (after a wrong one is refused)"

# ---------------------------------------------------------------- 2. offline
idp_ctl POST /down >/dev/null
lock alice "$UNLOCK
secret WRONG_PW
expect Logto sign-in failed: wrong password \\(checked offline
$ROOT_TOO
$UNLOCK
secret ALICE_PW
eof" alice-offline
grep -q 'auth-ok user=alice service=vlock method=offline .*via=helper offline=yes' "$E2E_SYSLOG" ||
    fail "alice did not unlock offline through the helper"
idp_ctl POST /up >/dev/null
echo "ok 2 vlock offline within the grace: right password unlocks, wrong one refused"

# ---------------------------------------------------------------- 3, 4. local user; no socket
lock e2elocal "$UNLOCK
secret LOCAL_PW
eof" local
mv "$SOCK" "$SOCK.off"
lock e2elocal "$UNLOCK
secret LOCAL_PW
eof" local-nosocket
lock alice "$UNLOCK
secret ALICE_PW
expect sign-in helper \\(logto-helper.socket\\) is not running
$ROOT_TOO
run mv $SOCK.off $SOCK
$UNLOCK
secret ALICE_PW
eof" alice-nosocket
grep -q "auth-helper-unavailable user=alice service=vlock socket=$SOCK" "$E2E_SYSLOG" ||
    fail "no auth-helper-unavailable for the absent socket"
echo "ok 3 vlock: the local user unlocks, with and without the helper"
echo "ok 4 vlock without the helper's socket: alice refused with the message; back: unlocks"

# ---------------------------------------------------------------- 5. the account phase
# pt USER NAME PW WANT WHAT PHASES...: pamtester as USER for NAME on e2e-locker (PW on stdin);
# its output in $R/pt.out; fail unless it exits WANT (0 or 1; valgrind's errors: 99).
pt() {
    pt_user=$1 pt_name=$2 pt_pw=$3 pt_want=$4 pt_what=$5
    shift 5
    # shellcheck disable=SC2086
    printf '%s\n' "$pt_pw" | e2e_as "$pt_user" ${LOGTO_TEST_WRAPPER:-} pamtester -v e2e-locker \
        "$pt_name" "$@" >"$R/pt.out" 2>&1
    pt_rc=$?
    [ "$pt_rc" = "$pt_want" ] ||
        fail "$pt_what: pamtester exited $pt_rc, expected $pt_want: $(cat "$R/pt.out"); syslog: $(tail -n 8 "$E2E_SYSLOG")"
}
pt alice alice "$ALICE_PW" 0 "alice's locker (authenticate, acct_mgmt)" authenticate acct_mgmt
assert_contains "$(cat "$R/pt.out")" "account management done" "alice's acct_mgmt"
grep -q 'account-ok user=alice service=e2e-locker decided=[a-z-]* uid=[0-9]* via=helper' \
    "$E2E_SYSLOG" || fail "the helper did not decide alice's account phase"
pt bob bob bob-pass-1 1 "bob's locker on a service that admits alice only" acct_mgmt
assert_contains "$(cat "$R/pt.out")" "Permission denied" "bob's acct_mgmt"
grep -q 'account-denied user=bob service=e2e-locker uid=[0-9]* via=helper' "$E2E_SYSLOG" ||
    fail "no account-denied for bob through the helper"
pt alice bob "" 1 "alice naming bob in acct_mgmt" acct_mgmt
assert_contains "$(cat "$R/pt.out")" "only your own account can be checked here" "alice naming bob"
grep -q 'helper-account-refused uid=[0-9]* user="bob" service=e2e-locker reason=not-own' \
    "$E2E_SYSLOG" || fail "no helper-account-refused for alice naming bob"
mv "$SOCK" "$SOCK.off"
pt alice alice "" 1 "alice's acct_mgmt without the helper" acct_mgmt
assert_contains "$(cat "$R/pt.out")" \
    "The account check is not available here: this program runs without privileges and the sign-in helper (logto-helper.socket) is not running" \
    "alice's acct_mgmt without the helper"
grep -q "account-helper-unavailable user=alice service=e2e-locker socket=$SOCK" "$E2E_SYSLOG" ||
    fail "no account-helper-unavailable for the absent socket"
pt e2elocal e2elocal "$LOCAL_PW" 0 "the local user's locker without the helper" authenticate acct_mgmt
mv "$SOCK.off" "$SOCK"
echo "ok 5 acct_mgmt unprivileged: alice passes through the helper, bob refused by the rule, alice naming bob refused; no socket: alice refused, the local user passes"

# ---------------------------------------------------------------- 6. another user's password
ask='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(("logto-helper 1\nop=password\nuser=%s\nservice=%s\npassword=%s\n\n"
           % (sys.argv[2], sys.argv[4], sys.argv[3].encode().hex())).encode())
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    data += c
sys.stdout.write(data.decode())
'
out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" bob bob-pass-1 vlock)
assert_contains "$out" "logto-helper 1 status=23 " "answer to alice asking for bob's password"
assert_contains "$out" "only your own password can be checked here" "text for alice"
grep -q 'helper-password-refused uid=[0-9]* user="bob" service=vlock reason=not-own' "$E2E_SYSLOG" ||
    fail "no helper-password-refused for bob"
out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" nosuchuser some-password vlock)
assert_contains "$out" "logto-helper 1 status=24 " "answer for a name nobody holds here"
# Malformed password requests: refused (exit status 2 and the reason), nothing is tried.
raw='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"logto-helper 1\nop=password\nuser=alice\nservice=vlock\n" + sys.argv[2].encode() + b"\n\n")
s.shutdown(socket.SHUT_WR)
print(s.recv(4096).decode())
'
for bad in 'password=6z' 'password=6100' 'password=61
resource=https://api.example.com' "password=$(printf '%01026d' 0 | tr 0 6)"; do
    out=$(e2e_as alice "$E2E_PY" -c "$raw" "$SOCK" "$bad")
    assert_contains "$out" "logto-helper 1 status=2 " "malformed password request (${bad%%
*})"
done
# A service name that would forge a log field is no PAM service name.
out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" alice "$ALICE_PW" 'vlock reason=ok')
assert_contains "$out" "logto-helper 1 status=22 " "answer for a forged service name"
grep -q 'helper-password-refused uid=[0-9]* service="vlock reason=ok" reason=service-name' \
    "$E2E_SYSLOG" || fail "no helper-password-refused for the forged service name"
out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" alice "$ALICE_PW" vlock)
assert_contains "$out" "logto-helper 1 status=0 out=0 err=0" "alice checking her own password"
# The host lockout counts the helper's failures as pam_logto's (host_lockout_attempts = 3: one
# wrong password in 1. and two here).
for svc in vlock vlock; do
    out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" alice "$WRONG_PW" $svc)
    assert_contains "$out" "logto-helper 1 status=20 " "a wrong password through the helper ($svc)"
done
out=$(e2e_as alice "$E2E_PY" -c "$ask" "$SOCK" alice "$ALICE_PW" vlock)
assert_contains "$out" "logto-helper 1 status=21 " "the right password after the host lockout"
grep -q 'auth-host-lockout user=alice' "$E2E_SYSLOG" || fail "no auth-host-lockout for alice"
echo "ok 6 a raw client as alice: bob's password refused (not-own), a forged service name refused, her own accepted; the host lockout applies"

if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
    for f in "$R"/helper-vg.*; do
        [ -s "$f" ] && fail "valgrind reported errors in logto-helper: $(cat "$f")"
    done
fi
e2e_assert_no_secrets "$ALICE_PW" "$LOCAL_PW" "$WRONG_PW" bob-pass-1 m2m-secret
echo "ok no password in the terminals or syslog"
