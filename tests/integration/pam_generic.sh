#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto with a generic OIDC provider (the test IdP's Keycloak-like profile): the OAuth
# password grant (public and confidential client: right and wrong password, disabled account),
# the device flow honouring the provider's interval and a slow_down answer, and the account
# phase deciding require_roles from the groups claim, refreshing with the refresh token; a
# refresh refused with an empty-bodied 400 ends the session; revocation refused for a public
# client (idp=refused, config check and status explain client_secret_file); what the person
# sees and what logtoctl tells the administrator (status, user, token, login, keys, cache)
# say "the identity provider", never "Logto".
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
require_orgs = pbl95zlwkzx4
[service g-always]
claims_max_age = 0
[service g-roc]
revoke_on_close = yes"
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
for s in g-pw g-device g-admin g-org g-always; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
pam_service "$dir/pam.d" g-roc "auth required $mod" "session required $mod"
# What the person sees (not the log lines) never names Logto under the generic profile.
seen() { grep -v 'SYSLOG(' "$F"; }
assert_no_logto() { # WHAT
    ! seen | grep -q Logto || fail "$1: the person was told about Logto: $(seen)"
}
pam_service "$dir/pam.d" g-conf "auth required $LOGTO_PAM_MODULE config=$dir/conf/logto.conf"

# ---- the password grant
pam_try g-pw alice authenticate alice-pass-1
pam_expect_ok "alice, password grant"
assert_logged "$F" "^password-signin-ok method=grant user=alice "
assert_logged "$F" "^auth-ok user=alice service=g-pw method=grant uid=[0-9]+$"
pam_try g-pw alice authenticate wrong-password-1
pam_expect PAM_AUTH_ERR "alice, wrong password" "Sign-in failed: wrong user name or password"
assert_no_logto "alice, wrong password"
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
# The wrong approver (bob approves alice's code): refused, in words that do not say Logto.
f=$dir/out.device-wrong
pamtester_run "$dir/pam.d" g-device alice authenticate </dev/null >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown"; }
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"bob\"}" >/dev/null
wait $pid && fail "alice was signed in by bob's approval: $(cat "$f")"
F=$f
assert_contains "$(seen)" "Sign-in failed: signed in to the identity provider as bob, not as alice"
assert_no_logto "the wrong approver"

# ---- account: roles are the groups claim; the refresh token renews them.
pam_try g-admin alice acct_mgmt
pam_expect_ok "alice (group admin)"
pam_try g-admin bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob (no group admin)" \
    "Access denied by the identity provider: requires role admin"
assert_no_logto "bob (no group admin)"
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

# ---- a refresh refused with an empty-bodied 400 (Glewlwyd): the session ended, said without
# "Logto"; the dead refresh token is dropped, not retried at every check.
pam_try g-always bob acct_mgmt
pam_expect_ok "bob, refreshed on every decision"
idp_ctl POST /faults '{"endpoint":"token","fault":"bare_400","count":1}' >/dev/null
pam_try g-always bob acct_mgmt
pam_expect PAM_ACCT_EXPIRED "bob, refresh refused without an OAuth body" \
    "Access denied by the identity provider: the session at the identity provider ended (revoked, suspended or deleted): sign in again"
assert_logged "$F" "^refresh-refused user=bob sub=[^ ]+ reason=\".*refused the refresh token \(HTTP 400 without an OAuth error\)"
assert_no_logto "bob, refresh refused"
grep -q '"refresh_token":"' "$dir/state/tokens/bob.json" && fail "the refused refresh token was kept"

# ---- revocation that the provider refuses for a public client (Glewlwyd: 401): said as such
# at session close, never idp=unreachable; config check and status explain client_secret_file.
idp_ctl POST /settings '{"revocation_public":"bare_401"}' >/dev/null
pam_try g-roc alice "authenticate open_session close_session" alice-pass-1
pam_expect_ok "alice: session with revoke_on_close, revocation refused"
assert_logged "$F" "^session-revoked user=alice idp=refused reason=\".*refused to revoke for the public client generic-app \(HTTP 401\): this provider revokes only for a confidential client \(set client_secret_file\)\"$"
assert_not_logged "$F" "idp=unreachable"
wrap "$LOGTOCTL" --config "$dir/logto.conf" config check >"$dir/check.out" 2>"$dir/check.err" ||
    fail "config check: $(cat "$dir/check.err")"
assert_contains "$(cat "$dir/check.err")" "notice: no client_secret_file: logtoctl logout and revoke_on_close revoke refresh tokens as a public client, which some providers refuse (Glewlwyd: HTTP 401); revocation needs client_secret_file at such providers"
assert_contains "$(cat "$dir/check.out")" "admits every user of the identity provider (allow_any_user = yes)"
wrap "$LOGTOCTL" --config "$dir/conf/logto.conf" config check >"$dir/check.out" 2>"$dir/check.err" ||
    fail "config check (confidential): $(cat "$dir/check.err")"
assert_not_contains "$(cat "$dir/check.err")" "client_secret_file"
wrap "$LOGTOCTL" --config "$dir/logto.conf" status >"$dir/status.out" 2>&1
assert_contains "$(cat "$dir/status.out")" "the provider revokes tokens only for authenticated clients (revocation_endpoint_auth_methods_supported has no \"none\"): logtoctl logout and revoke_on_close cannot revoke with this public client; set client_secret_file"
idp_ctl POST /settings '{"revocation_public":"allow"}' >/dev/null
wrap "$LOGTOCTL" --config "$dir/logto.conf" status >"$dir/status.out" 2>&1
assert_not_contains "$(cat "$dir/status.out")" "revokes tokens only for authenticated clients"

# ---- what logtoctl tells the administrator does not name Logto either: a user the provider
# cannot be asked about, sessions that ended or never were, a local account, the keys command.
ctl() { # NAME ARGS...: one logtoctl run under the generic profile, its output in $dir/ctl.NAME
    n=$1
    shift
    wrap "$LOGTOCTL" --config "$dir/logto.conf" "$@" >"$dir/ctl.$n" 2>&1 || true
    ! grep -q Logto "$dir/ctl.$n" || fail "logtoctl $*: names Logto: $(cat "$dir/ctl.$n")"
}
ctl user user alice
assert_contains "$(cat "$dir/ctl.user")" "identity-provider: not asked (profile generic has no Management API)"
ctl nouser user nosuch
assert_contains "$(cat "$dir/ctl.nouser")" "no user nosuch in the snapshot"
ctl ended token --user bob
assert_contains "$(cat "$dir/ctl.ended")" "bob has no identity-provider session on this host (it ended; sign in again)"
ctl never token --user carol
assert_contains "$(cat "$dir/ctl.never")" "carol has no identity-provider session on this host (never signed in here)"
ctl root token
assert_contains "$(cat "$dir/ctl.root")" "root has no session of its own: name the user with --user NAME"
ctl local login root
assert_contains "$(cat "$dir/ctl.local")" "root is a local account (passwd file): the identity provider never signs it in"
ctl status status
ctl keys keys alice
ctl cache cache clear --lookups

pam_test_done "$dir" alice-pass-1 bob-pass-1 carol-pass-1 wrong-password-1 generic-secret
