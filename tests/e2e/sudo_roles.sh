#!/bin/sh
# SPDX-License-Identifier: MIT
# sudo authorized by Logto role or organization role, with the real sudo (setuid, through a
# pseudo-terminal), the shipped etc/pam.d/sudo and etc/sudoers.d-logto (%logto-admin
# ALL=(ALL:ALL) ALL, role admin's group served by NSS):
#  1. alice (role admin) runs `sudo id` after typing her Logto password;
#  2. the role is removed in Logto: within claims_max_age (2 s here) the next sudo in the same
#     terminal (sudo's cached credentials: no new sign-in) is refused by the account phase;
#  3. bob (role developer; a test sudoers rule lets group developer through) is refused by the
#     account phase: sudoers alone does not grant root;
#  4. gina (a new Logto user without roles), in no sudoers group, is refused by sudoers;
#  5. an organization-role rule (require_org_roles): bob, admin of Globex, is allowed (sudoers
#     rule by his organization-role group), alice is refused; after bob's organization role is
#     removed in Logto, he is refused within claims_max_age.
# Passwords never reach the terminal, sudo's log or syslog.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"

GLOBEX=qmmg1gvtd5ib
e2e_idp_start
e2e_config "[service sudo]
flow = password
require_roles = admin
claims_max_age = 2"
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
echo "ok 1 alice (role admin) runs sudo id"
echo "ok 2 role removed in Logto: the next sudo is refused within claims_max_age, without a sign-in"

# ---------------------------------------------------------------- 3. role developer
cat >"$R/bob.pty" <<'EOF'
expect e2e\$ 
sendline sudo id; echo "sudo: $?"
expect \[sudo\] password for bob:
secret BOB_PW
expect sudo: (?P<st>\d+)
reject uid=0\(root\)
expect e2e\$ 
sendline exit
eof
EOF
shell_as bob "$R/bob.pty" "$R/sudo-bob.log" || fail "bob's sudo session (see above)"
log=$(tr -d '\r' <"$R/sudo-bob.log")
assert_contains "$log" "sudo: PAM account management error" "bob's refused sudo"
assert_contains "$log" "sudo: 1" "bob's sudo exit status"
grep -q 'account-denied user=bob service=sudo error=denied reason="requires role admin"' \
    "$E2E_SYSLOG" || fail "the account phase did not refuse bob"
echo "ok 3 bob (role developer) is refused by the account phase"

# ---------------------------------------------------------------- 4. not in sudoers
GINA_PW=gina-pass-1
export GINA_PW
printf '%s\n' 'expect e2e\$ ' 'sendline sudo id; echo "sudo: $?"' 'expect \[sudo\] password for gina:' \
    'secret GINA_PW' 'expect sudo: (?P<st>\d+)' \
    'reject uid=0\(root\)' 'expect e2e\$ ' 'sendline exit' eof >"$R/gina.pty"
shell_as gina "$R/gina.pty" "$R/sudo-gina.log" || fail "gina's sudo session (see above)"
assert_contains "$(tr -d '\r' <"$R/sudo-gina.log")" "sudo: 1" "gina's sudo exit status"
grep -q 'gina : user NOT in sudoers' "$E2E_SYSLOG" || fail "sudo did not log gina as not in sudoers"
echo "ok 4 gina (no role, in no sudoers group) is refused by sudoers"

# ---------------------------------------------------------------- 5. organization role
e2e_config "[service sudo]
flow = password
require_org_roles = $GLOBEX:admin
claims_max_age = 2"
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
    'secret ALICE_PW' 'expect sudo: (?P<st>\d+)' 'reject uid=0\(root\)' 'expect e2e\$ ' \
    'sendline exit' eof >"$R/alice-org.pty"
idp_ctl PATCH /users/alice '{"roles":["admin"]}' >/dev/null
shell_as alice "$R/alice-org.pty" "$R/sudo-alice-org.log" || fail "alice's organization sudo session"
assert_contains "$(tr -d '\r' <"$R/sudo-alice-org.log")" "sudo: 1" "alice's sudo exit status"
grep -q "account-denied user=alice service=sudo error=denied reason=\"requires organization role $GLOBEX:admin\"" \
    "$E2E_SYSLOG" || fail "the organization rule did not refuse alice"
echo "ok 5b organization role: alice (admin role, no Globex role) is refused"

e2e_assert_no_secrets "$ALICE_PW" "$BOB_PW" "$GINA_PW" m2m-secret
echo "ok no password in the terminals, sudo's log or syslog"
