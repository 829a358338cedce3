#!/bin/sh
# SPDX-License-Identifier: MIT
# sudo authorized by Logto role or organization role, with the real sudo (setuid, through a
# pseudo-terminal), the shipped etc/pam.d/sudo and etc/sudoers.d-logto (%logto-admin
# ALL=(ALL:ALL) ALL, role admin's group served by NSS):
#  1. alice (role admin) runs `sudo id` after typing her Logto password;
#  2. the role is removed in Logto: within claims_max_age (2 s here) the next sudo in the same
#     terminal (sudo's cached credentials: no new sign-in) is refused by the account phase, and
#     alice, whom no service admits any more, is no passwd entry from then on;
#  3. bob (role developer: a user of this host through [service sshd]; a test sudoers rule lets
#     group developer through) is refused as soon as his password sign-in is verified: sudoers
#     alone does not grant root, nothing is stored, his grant is revoked at the IdP;
#  4. gina (a new Logto user without roles) is no user of this host at all: no service admits
#     her, so sync serves no passwd entry for her;
#  5. an organization-role rule (require_org_roles): bob, admin of Globex, is allowed (sudoers
#     rule by his organization-role group), alice is refused at sign-in; after bob's
#     organization role is removed in Logto, he is refused within claims_max_age.
# Passwords never reach the terminal, sudo's log or syslog.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"

GLOBEX=qmmg1gvtd5ib
e2e_idp_start
# Developers may SSH in (so they exist here); sudo is the rule under test.
ssh_rule="[service sshd]
require_roles = admin developer"
e2e_config "[service sudo]
flow = password
require_roles = admin
claims_max_age = 2
$ssh_rule"
e2e_pam_example sudo
idp_ctl POST /users '{"username":"gina","password":"gina-pass-1","email":"gina@example.com"}' >/dev/null
e2e_sync

[ -f "$top_srcdir/etc/sudoers.d-logto" ] || fail "etc/sudoers.d-logto is not in the tree"
install -m 0440 "$top_srcdir/etc/sudoers.d-logto" /etc/sudoers.d/logto
# Test-only rules: let group logto-developer and Globex admins through sudoers, so the PAM account
# phase is what refuses them.
orgadmin=$(id -Gn bob | tr ' ' '\n' | grep -E "^org-$GLOBEX.admin$") ||
    fail "bob has no organization-role group for Globex admin: $(id -Gn bob)"
printf '%s\n' 'Defaults lecture=never' '%logto-developer ALL=(ALL:ALL) ALL' \
    "%$orgadmin ALL=(ALL:ALL) ALL" >/etc/sudoers.d/zz-e2e
chmod 0440 /etc/sudoers.d/zz-e2e
visudo -c -q || fail "visudo rejects the sudoers files"
id -Gn alice | tr ' ' '\n' | grep -qx logto-admin ||
    fail "alice is not in group logto-admin: $(id -Gn alice)"
# The shipped sudoers line names the prefixed group; an unprefixed "admin" group is not served.
getent group admin >/dev/null && fail "a Logto group admin is served: $(getent group admin)"

ALICE_PW=alice-pass-1 BOB_PW=bob-pass-1
export ALICE_PW BOB_PW

# shell_as USER SCRIPT LOG: an interactive shell of USER in a pseudo-terminal, driven by SCRIPT.
shell_as() {
    e2e_pty "$2" "$3" setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups --reset-env \
        -- env PS1='e2e$ ' /bin/sh -i
}

# ---------------------------------------------------------------- 1. + 2. role admin, removed
cat >"$R/alice.pty" <<'EOF'
expect e2e\$ 
sendline sudo id
expect \[sudo\] password for alice:
secret ALICE_PW
expect uid=0\(root\) gid=0\(root\)
expect e2e\$ 
run idp-ctl PATCH /users/alice '{"roles":[]}'
sleep 3
sendline sudo id; echo "second sudo: $?"
expect second sudo: (?P<st>\d+)
reject second sudo: 0
expect e2e\$ 
sendline exit
eof
EOF
shell_as alice "$R/alice.pty" "$R/sudo-alice.log" || fail "alice's sudo session (see above)"
log=$(tr -d '\r' <"$R/sudo-alice.log")
assert_eq "$(printf '%s\n' "$log" | grep -c 'password for alice')" 1 "password prompts for alice"
assert_contains "$log" "sudo: PAM account management error" "the refused sudo"
assert_not_contains "$log" "$ALICE_PW" "alice's terminal"
assert_eq "$(grep -c 'pam_logto(sudo:auth): auth-ok user=alice' "$E2E_SYSLOG")" 1 "sign-ins of alice"
grep -q 'pam_logto(sudo:account): account-denied user=alice service=sudo error=denied reason="requires role admin"' \
    "$E2E_SYSLOG" || fail "the account phase did not refuse alice after the role was removed"
grep -q 'directory-not-admitted user=alice ' "$E2E_SYSLOG" ||
    fail "alice, whom no service admits any more, was not taken out of the snapshot"
getent passwd alice >/dev/null && fail "alice without a role is still a passwd entry"
echo "ok 1 alice (role admin) runs sudo id"
echo "ok 2 role removed in Logto: the next sudo is refused within claims_max_age, without a sign-in;" \
    "alice is no passwd entry any more"

# ---------------------------------------------------------------- 3. role developer
# sudo prints its prompt before it switches the terminal (a flushing tcsetattr), which drops a ^C
# typed in between: the ^C waits half a second (a lost one hung here until ptydrive's timeout).
cat >"$R/bob.pty" <<'EOF'
expect e2e\$ 
sendline sudo id; echo "sudo: $?"
expect \[sudo\] password for bob:
secret BOB_PW
expect Sorry, try again.
expect \[sudo\] password for bob:
sleep 0.5
send \x03
expect sudo: (?P<st>\d+)
reject uid=0\(root\)
expect e2e\$ 
sendline exit
eof
EOF
shell_as bob "$R/bob.pty" "$R/sudo-bob.log" || fail "bob's sudo session (see above)"
log=$(tr -d '\r' <"$R/sudo-bob.log")
assert_not_contains "$log" "sudo: 0" "bob's sudo exit status"
grep -q 'auth-refused user=bob sub=[a-z0-9]* service=sudo reason="requires role admin"' \
    "$E2E_SYSLOG" || fail "bob's sign-in was not refused by sudo's rules"
assert_eq "$(idp_json_field "$(idp_ctl GET /users/bob/grants)" active)" 0 "bob's live refresh tokens"
[ ! -e /var/lib/logto/tokens/bob.json ] || fail "a token record of the refused bob"
# sudo shows no message of the module here: the reason is in the log.
echo "ok 3 bob (role developer) is refused at sign-in: nothing stored, grant revoked"

# ---------------------------------------------------------------- 4. no role: nobody here
getent passwd gina >/dev/null && fail "gina (no role) is a passwd entry"
wrap "$E2E_SBIN/logtoctl" user gina >"$R/user-gina.out" 2>&1
assert_contains "$(cat "$R/user-gina.out")" "no service on this host admits them" "logtoctl user gina"
echo "ok 4 gina (a new Logto user without roles) is no user of this host"

# ---------------------------------------------------------------- 5. organization role
e2e_config "[service sudo]
flow = password
require_org_roles = $GLOBEX:admin
claims_max_age = 2
$ssh_rule"
# Fresh terminals: no cached sudo credentials.
cat >"$R/bob-org.pty" <<EOF
expect e2e\\\$ 
sendline sudo id
expect \\[sudo\\] password for bob:
secret BOB_PW
expect uid=0\\(root\\) gid=0\\(root\\)
expect e2e\\\$ 
run idp-ctl PATCH /users/bob '{"organizations":[{"id":"$GLOBEX","roles":["member"]}]}'
sleep 3
sendline sudo id; echo "second sudo: \$?"
expect second sudo: (?P<st>\\d+)
reject second sudo: 0
expect e2e\\\$ 
sendline exit
eof
EOF
shell_as bob "$R/bob-org.pty" "$R/sudo-bob-org.log" || fail "bob's organization sudo session"
log=$(tr -d '\r' <"$R/sudo-bob-org.log")
assert_eq "$(printf '%s\n' "$log" | grep -c 'password for bob')" 1 "password prompts for bob"
assert_contains "$log" "sudo: PAM account management error" "bob's refused sudo"
grep -q "account-denied user=bob service=sudo error=denied reason=\"requires organization role $GLOBEX:admin\"" \
    "$E2E_SYSLOG" || fail "the account phase did not refuse bob after his organization role was removed"
echo "ok 5a organization role: bob allowed, then refused within claims_max_age"

printf '%s\n' 'expect e2e\$ ' 'sendline sudo id; echo "sudo: $?"' 'expect \[sudo\] password for alice:' \
    'secret ALICE_PW' 'expect Sorry, try again.' 'expect \[sudo\] password for alice:' \
    'sleep 0.5' 'send \x03' 'expect sudo: (?P<st>\d+)' \
    'reject uid=0\(root\)' 'expect e2e\$ ' 'sendline exit' eof >"$R/alice-org.pty"
idp_ctl PATCH /users/alice '{"roles":["admin"]}' >/dev/null
e2e_sync # alice, admin again, is a user of this host again
shell_as alice "$R/alice-org.pty" "$R/sudo-alice-org.log" || fail "alice's organization sudo session"
assert_not_contains "$(tr -d '\r' <"$R/sudo-alice-org.log")" "sudo: 0" "alice's sudo exit status"
grep -q "auth-refused user=alice sub=[a-z0-9]* service=sudo reason=\"requires organization role $GLOBEX:admin\"" \
    "$E2E_SYSLOG" || fail "the organization rule did not refuse alice"
echo "ok 5b organization role: alice (admin role, no Globex role) is refused"

e2e_assert_no_secrets "$ALICE_PW" "$BOB_PW" gina-pass-1 m2m-secret
echo "ok no password in the terminals, sudo's log or syslog"
