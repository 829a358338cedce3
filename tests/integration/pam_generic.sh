#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto with a generic OIDC provider (the test IdP's Keycloak-like profile): the OAuth
# password grant (public and confidential client: right and wrong password, disabled account),
# the device flow honouring the provider's interval and a slow_down answer, and the account
# phase deciding require_roles from the groups claim, refreshing with the refresh token.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

idp_start --profile generic --device-interval 1 || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
pam_write_config "$dir/logto.conf" "$dir" "[service *]
allow_any_user = yes
flow = password
qr = no
[service g-device]
flow = device
[service g-admin]
require_roles = admin
claims_max_age = 1
[service g-org]
require_orgs = pbl95zlwkzx4"
# The confidential client: same provider, client secret in a root-only file, a host of its own
# (refresh tokens are bound to the client that got them).
mkdir -p "$dir/conf"
printf 'generic-secret\n' >"$dir/client.secret"
chmod 0600 "$dir/client.secret"
pam_write_config "$dir/conf/logto.conf" "$dir/conf" "[service *]
allow_any_user = yes
flow = password"
sed -i 's/^client_id = generic-app$/client_id = generic-confidential\nclient_secret_file = '"$(echo "$dir" | sed 's/[\/&]/\\&/g')"'\/client.secret/' \
    "$dir/conf/logto.conf"
grep -q '^client_secret_file = ' "$dir/conf/logto.conf" || fail "could not write the confidential config"
# Generic providers have no Management API: the host knows whom its snapshot holds.
pam_seed_snapshot "$dir/state" alice bob carol
pam_seed_snapshot "$dir/conf/state" bob
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in g-pw g-device g-admin g-org; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
pam_service "$dir/pam.d" g-conf "auth required $LOGTO_PAM_MODULE config=$dir/conf/logto.conf"

# ---- the password grant
pam_try g-pw alice authenticate alice-pass-1
pam_expect_ok "alice, password grant"
assert_logged "$F" "^password-signin-ok method=grant user=alice "
assert_logged "$F" "^auth-ok user=alice service=g-pw method=grant uid=[0-9]+$"
pam_try g-pw alice authenticate wrong-password-1
pam_expect PAM_AUTH_ERR "alice, wrong password" "wrong user name or password"
pam_try g-pw carol authenticate carol-pass-1
pam_expect PAM_AUTH_ERR "carol, disabled account"
pam_try g-conf bob authenticate bob-pass-1
pam_expect_ok "bob, password grant with a confidential client"
pam_try g-pw bob authenticate bob-pass-1
pam_expect_ok "bob, password grant"

# ---- the device flow: the provider's interval (1 s), then slow_down adds 5 s.
idp_ctl POST /faults '{"endpoint":"token","fault":"slow_down","count":1}' >/dev/null
f=$dir/out.device
pamtester_run "$dir/pam.d" g-device erin authenticate </dev/null >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown"; }
assert_contains "$(cat "$f")" "/realms/test/device" "the verification link"
i=0
until pam_log "$f" | grep -q '^device-flow-slow-down interval=6$'; do
    i=$((i + 1))
    [ $i -lt 300 ] || { kill $pid; fail "slow_down was not honoured: $(cat "$f")"; }
    sleep 0.1
done
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"erin\"}" >/dev/null
wait $pid || fail "erin's device sign-in (generic): $(cat "$f")"
assert_logged "$f" "^device-flow-started expires_in=[0-9]+ interval=1$"
assert_logged "$f" "^auth-ok user=erin service=g-device method=device "

# ---- account: roles are the groups claim; the refresh token renews them.
pam_try g-admin alice acct_mgmt
pam_expect_ok "alice (group admin)"
pam_try g-admin bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob (no group admin)" "requires role admin"
pam_try g-org alice acct_mgmt
pam_expect PAM_PERM_DENIED "organizations with a generic provider" "requires membership"
idp_ctl PATCH /users/alice '{"groups":["staff"]}' >/dev/null
sleep 2
pam_try g-admin alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice after losing group admin" "requires role admin"
assert_logged "$F" "^account-denied user=alice service=g-admin error=denied "
idp_ctl PATCH /users/alice '{"groups":["admin"]}' >/dev/null
sleep 2
pam_try g-admin alice acct_mgmt
pam_expect_ok "alice with group admin again"
assert_logged "$F" "decided=refreshed"

pam_test_done "$dir" alice-pass-1 bob-pass-1 carol-pass-1 wrong-password-1 generic-secret
