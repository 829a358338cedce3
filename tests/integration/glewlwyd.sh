#!/bin/sh
# SPDX-License-Identifier: MIT
# The generic profile against a real third-party OpenID provider: Glewlwyd 2.7 from Debian's
# archive (package glewlwyd, installed by tools/bootstrap; without it this test is skipped).
#
# How: tests/lib/glewlwyd.sh starts one private glewlwyd for the whole test (SQLite database
# from the package's schema, HTTPS with a per-run CA, a free port of 127.0.0.1, a temp dir,
# killed on every exit path) and configures it through its admin REST API as an administrator
# would: a `groups` user property, the OpenID Connect plugin (RS256, device / password / refresh
# grants, one-use refresh tokens, device interval 1 s), a public client (linux-hosts) and a
# confidential one (linux-conf), users alice (groups admin) and bob (groups developer). A person
# approving a device code is scripted against Glewlwyd's own HTTP API (sign in, consent, enter
# the code), as its login page does. pam_logto runs under pamtester and pam_wrapper, NSS through
# nss_wrapper and the built libnss_logto.so.2, as in the other PAM tests; logtoctl directly.
#
# Cases: discovery and `logtoctl config check` / `status`; device flow, then getent and id;
# a wrong approver refused; role rules from the groups claim, refreshed every time
# (claims_max_age = 0) with Glewlwyd's one-use refresh tokens (the used one disabled at the
# provider), a demotion and a promotion at the provider; a refresh token revoked by its user at
# the provider; revocation (logtoctl logout, revoke_on_close) with a public and a confidential
# client; the password grant (discovery does not list it) with the confidential client, a wrong
# password, and the public client that Glewlwyd refuses; a key rotation RS256 -> ES256 during a
# device sign-in that also meets slow_down (the provider's interval raised from 1 to 5 s while
# the module polls).
# No sleeps: every wait polls for what it waits for. About 25 s.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
. "$top_srcdir/tests/lib/glewlwyd.sh"
pam_require
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-})
[ -n "${NSS_WRAPPER_LIB:-}" ] && [ -e "$NSS_WRAPPER_LIB" ] || skip "nss_wrapper is not installed"

glew_start
glew_setup
dir=$(test_tmpdir)
# (test_tmpdir registers the removal in its command substitution's subshell, where it is lost.)
at_exit "rm -rf '$dir'"
PAM_DIR=$dir

# Two hosts: one with the public client, one with the confidential client (refresh tokens are
# bound to the client that got them). write_config reads the provider from IDP_*.
IDP_PROFILE=generic IDP_ISSUER=$GLEW_ISSUER IDP_CA=$GLEW_CA
pam_write_config "$dir/logto.conf" "$dir" "[log]
debug = yes
[identity]
role_group_prefix = g-
[service *]
qr = no
flow = device
allow_any_user = yes
[service g-admin]
require_roles = admin
claims_max_age = 0
[service g-roc]
allow_any_user = yes
revoke_on_close = yes
[service g-ppw]
allow_any_user = yes
flow = password"
sed -i 's/^client_id = generic-app$/client_id = linux-hosts/' "$dir/logto.conf"
grep -q '^client_id = linux-hosts$' "$dir/logto.conf" || fail "could not write the public config"
mkdir -p "$dir/conf"
pam_write_config "$dir/conf/logto.conf" "$dir/conf" "[log]
debug = yes
[service *]
qr = no
flow = device
allow_any_user = yes
[service g-pw]
flow = password
allow_any_user = yes
[service g-croc]
allow_any_user = yes
revoke_on_close = yes"
cp "$GLEW_DIR/client.secret" "$dir/conf/client.secret"
chmod 0600 "$dir/conf/client.secret"
sed -i "s|^client_id = generic-app\$|client_id = linux-conf\nclient_secret_file = $dir/conf/client.secret|" \
    "$dir/conf/logto.conf"
grep -q '^client_secret_file = ' "$dir/conf/logto.conf" || fail "could not write the confidential config"
SECRET=$(cat "$GLEW_DIR/client.secret")

mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in g-device g-admin g-roc g-ppw; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod" \
        "session required $mod"
done
cmod="$LOGTO_PAM_MODULE config=$dir/conf/logto.conf"
for s in g-conf g-pw g-croc; do
    pam_service "$dir/pam.d" $s "auth required $cmod" "account required $cmod" \
        "session required $cmod"
done

# NSS: local accounts from copies of the host's files, ours from the snapshot of the public host.
cp /etc/passwd "$dir/passwd"
cp /etc/group "$dir/group"
nss() {
    LD_PRELOAD=$(module_preload "$NSS_WRAPPER_LIB") NSS_WRAPPER_PASSWD=$dir/passwd \
        NSS_WRAPPER_GROUP=$dir/group NSS_WRAPPER_MODULE_SO_PATH=$LOGTO_NSS_MODULE \
        NSS_WRAPPER_MODULE_FN_PREFIX=logto LOGTO_NSS_SNAPSHOT=$dir/state/directory.snapshot \
        wrap "$@"
}
ctl() { wrap "$LOGTOCTL" --config "$dir/logto.conf" "$@"; }
cctl() { wrap "$LOGTOCTL" --config "$dir/conf/logto.conf" "$@"; }

# The signing key Glewlwyd publishes (kid, alg).
jwks_kid() { curl -sS --cacert "$GLEW_CA" "$GLEW_ISSUER/jwks" | jq -r '.keys[0].kid'; }
# The refresh token in a token record (root-only file of the module).
record_rt() { jq -r .refresh_token "$1"; }
# A refresh at Glewlwyd with a given token, as CLIENT (public: client_id; conf: basic auth);
# prints the HTTP status.
glew_refresh_status() { # TOKEN public|conf
    if [ "$2" = conf ]; then
        set -- "$1" -u "linux-conf:$SECRET"
    else
        set -- "$1" -d client_id=linux-hosts
    fi
    t=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --cacert "$GLEW_CA" "$@" \
        -d grant_type=refresh_token --data-urlencode "refresh_token=$t" "$GLEW_ISSUER/token"
}

# device SERVICE USER APPROVER PASSWORD [PLUGIN_CHANGE]: authenticate + acct_mgmt through the
# device flow, approved in "the browser" as APPROVER. With PLUGIN_CHANGE (a jq filter), the
# provider's oidc plugin is changed while the module polls, and the code is approved once the
# module has logged slow_down. Sets F, ST and CODE.
DEV_N=0
device() {
    d_svc=$1 d_user=$2 d_by=$3 d_pw=$4
    DEV_N=$((DEV_N + 1))
    F=$dir/out.dev$DEV_N.$d_svc.$d_user
    pamtester_run "$dir/pam.d" "$d_svc" "$d_user" authenticate acct_mgmt </dev/null >"$F" 2>&1 &
    d_pid=$!
    # The code as the person sees it: in verification_uri_complete (Glewlwyd: 4+4 of A-Z0-9).
    d_i=0 d_n=200
    pam_slow && d_n=1200
    CODE=
    while [ -z "$CODE" ]; do
        CODE=$(sed -n 's/.*?code=\([A-Z0-9]\{4\}-[A-Z0-9]\{4\}\).*/\1/p' "$F" | head -1)
        d_i=$((d_i + 1))
        [ -n "$CODE" ] || [ $d_i -lt $d_n ] || { kill $d_pid; fail "$d_svc/$d_user: no code: $(cat "$F")"; }
        [ -n "$CODE" ] || sleep 0.1
    done
    if [ $# -ge 5 ]; then
        glew_plugin "$5"
        wait_for_text "$F" "device-flow-slow-down" 20 || { kill $d_pid; fail "no slow_down: $(cat "$F")"; }
    fi
    d_prompt=$(glew_approve "$d_by" "$d_pw" "$CODE") || { kill $d_pid; fail "approving $CODE as $d_by"; }
    assert_eq "$d_prompt" deviceComplete "Glewlwyd's answer to $d_by entering $CODE"
    wait $d_pid
    ST=$?
}

# ---- 1. discovery, config check, status
out=$(ctl config check 2>&1) || fail "config check: $out"
printf '%s\n' "$out" >"$dir/out.config-check"
assert_contains "$out" "configuration OK" "config check"
assert_contains "$out" "$GLEW_ISSUER" "config check"
out=$(ctl status 2>&1) || fail "status: $out"
printf '%s\n' "$out" >"$dir/out.status"
assert_contains "$out" "IdP: reachable, discovery fetched and valid" "status"
# A wrong issuer: Glewlwyd has no discovery document there, status says so.
sed "s|^issuer = .*|issuer = $GLEW_URL/oidc2|" "$dir/logto.conf" >"$dir/bad.conf"
chmod 0644 "$dir/bad.conf"
out=$(wrap "$LOGTOCTL" --config "$dir/bad.conf" status 2>&1) && fail "status with a wrong issuer: $out"
assert_contains "$out" "problem: IdP: the discovery document was refused" "status with a wrong issuer"
assert_contains "$out" "NOT healthy" "status with a wrong issuer"

# ---- 2. device flow: alice, then getent and id through the snapshot
kid1=$(jwks_kid)
[ -n "$kid1" ] && [ "$kid1" != null ] || fail "Glewlwyd publishes no key"
device g-device alice alice alice-pass-1
[ "$ST" = 0 ] || fail "alice's device sign-in: $(cat "$F")"
assert_contains "$(cat "$F")" "$GLEW_URL/oidc/device?code=$CODE" "what alice sees"
assert_logged "$F" "^device-flow-started expires_in=600 interval=1$"
assert_logged "$F" "^id-token-ok alg=RS256 kid=$kid1$"
assert_logged "$F" "^auth-ok user=alice service=g-device method=device uid=[0-9]+$"
uid=$(pam_log "$F" | sed -n 's/^auth-ok user=alice .* uid=\([0-9]*\)$/\1/p')
sub=$(pam_log "$F" | sed -n 's/^identity-mapped sub=\([^ ]*\) user=alice .*/\1/p' | head -1)
[ -n "$sub" ] || fail "no identity-mapped line for alice"
assert_eq "$(jq -r .sub "$dir/state/tokens/alice.json")" "$sub" "sub in alice's token record"
assert_eq "$(stat -c '%a %U' "$dir/state/tokens/alice.json")" "600 root" "alice's token record"
out=$(nss getent passwd alice) || fail "getent passwd alice: not found"
assert_eq "$out" "alice:*:$uid:$uid:Alice Liddell:/home/alice:/bin/bash" "getent passwd alice"
out=$(nss id alice) || fail "id alice failed"
assert_contains "$out" "uid=$uid(alice) gid=$uid(alice) groups=$uid(alice)," "id alice"
assert_contains "$out" "(g-admin)" "id alice (group g-admin from the groups claim)"
gid_admin=$(nss getent group g-admin | cut -d: -f3)
assert_eq "$(nss getent group g-admin)" "g-admin:*:$gid_admin:alice" "getent group g-admin"

# ---- 3. the wrong approver: bob approves alice's code
sum=$(sha256sum <"$dir/state/tokens/alice.json")
device g-device alice bob bob-pass-1
pam_expect PAM_AUTH_ERR "alice's code approved by bob"
assert_logged "$F" "^auth-wrong-user user=alice signed_in_as=bob sub=[A-Za-z0-9_-]+$"
assert_contains "$(cat "$F")" "as bob, not as alice" "what alice is shown"
assert_not_logged "$F" "^auth-ok "
assert_eq "$(sha256sum <"$dir/state/tokens/alice.json")" "$sum" "alice's record after bob's approval"
[ ! -e "$dir/state/tokens/bob.json" ] || fail "a token record for bob from alice's sign-in"

# ---- 4. role rules from the groups claim, refreshed every time, rotation at the provider
device g-device bob bob bob-pass-1
[ "$ST" = 0 ] || fail "bob's device sign-in: $(cat "$F")"
rt0=$(record_rt "$dir/state/tokens/alice.json")
pam_try g-admin alice acct_mgmt
pam_expect_ok "alice (groups admin) on g-admin"
assert_logged "$F" "^token-refreshed .*rotated=yes"
assert_logged "$F" "^account-ok user=alice service=g-admin decided=refreshed$"
rt1=$(record_rt "$dir/state/tokens/alice.json")
[ -n "$rt1" ] && [ "$rt1" != "$rt0" ] || fail "the refresh token was not rotated in alice's record"
# Glewlwyd's one-use refresh tokens: the used one is disabled at the provider, one is live.
# (Not replayed here: Glewlwyd answers a replay by disabling the whole chain, the live one too.)
tokens=$(glew_as alice alice-pass-1 GET /oidc/token | jq -c '[.[] | select(.client_id == "linux-hosts") | .enabled]')
assert_eq "$(printf '%s' "$tokens" | jq '[.[] | select(.)] | length')" 1 "alice's live refresh tokens at Glewlwyd ($tokens)"
assert_eq "$(printf '%s' "$tokens" | jq '[.[] | select(. | not)] | length')" 1 "alice's used refresh tokens at Glewlwyd ($tokens)"
pam_try g-admin bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob (groups developer) on g-admin" "requires role admin"
assert_logged "$F" "^account-denied user=bob service=g-admin error=denied "
# Demoted at the provider: the next decision refreshes and denies; NSS follows.
glew_admin PUT /user/alice '{"name":"Alice Liddell","email":"alice@example.test","enabled":true,
    "groups":["developer"],"scope":["openid","profile","email","offline_access","g_profile"]}' >/dev/null ||
    fail "cannot change alice's groups"
pam_try g-admin alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice after losing group admin" "requires role admin"
assert_logged "$F" "^account-denied user=alice service=g-admin error=denied "
assert_not_contains "$(nss id alice)" "(g-admin)" "id alice after the demotion"
assert_contains "$(nss id alice)" "(g-developer)" "id alice after the demotion"
glew_admin PUT /user/alice '{"name":"Alice Liddell","email":"alice@example.test","enabled":true,
    "groups":["admin"],"scope":["openid","profile","email","offline_access","g_profile"]}' >/dev/null ||
    fail "cannot change alice's groups"
pam_try g-admin alice acct_mgmt
pam_expect_ok "alice with group admin again"
assert_logged "$F" "^account-ok user=alice service=g-admin decided=refreshed$"
rt2=$(record_rt "$dir/state/tokens/alice.json")
[ "$rt2" != "$rt1" ] || fail "the refresh token was not rotated again"

# ---- 5. a refresh token revoked at the provider: alice disables her sessions in her Glewlwyd
# profile page (GET/DELETE /api/oidc/token in her own session).
n=0
for h in $(glew_as alice alice-pass-1 GET /oidc/token |
    jq -r '.[] | select(.enabled and .client_id == "linux-hosts") | .token_hash | @uri'); do
    glew_as alice alice-pass-1 DELETE "/oidc/token/$h" >/dev/null || fail "cannot disable a token of alice"
    n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "Glewlwyd lists no live refresh token of alice"
assert_eq "$(glew_refresh_status "$rt2" public)" 400 "Glewlwyd's answer to the revoked refresh token"
pam_try g-admin alice acct_mgmt
# Denied at the next decision. Glewlwyd answers the refresh 400 with an empty body: a refused
# grant (the session ended), as for invalid_grant, not a protocol error.
pam_expect PAM_ACCT_EXPIRED "alice with a refresh token revoked at Glewlwyd" "sign in again"
assert_logged "$F" "^account-denied user=alice service=g-admin "
assert_not_logged "$F" "^account-ok "

# ---- 6. revocation: logtoctl logout with the public client (Glewlwyd refuses: 401) ...
device g-device alice alice alice-pass-1
[ "$ST" = 0 ] || fail "alice's second device sign-in: $(cat "$F")"
rt=$(record_rt "$dir/state/tokens/alice.json")
out=$(ctl logout alice 2>&1) || :
printf '%s\n' "$out" >"$dir/out.logout-public"
[ ! -e "$dir/state/tokens/alice.json" ] || fail "logout (public client) kept alice's record"
assert_contains "$out" "could not be revoked" "logout with the public client"
assert_contains "$out" "401" "logout with the public client"
assert_contains "$out" "refresh token NOT revoked" "logout with the public client"
# ... and it is true: the token still works at Glewlwyd.
assert_eq "$(glew_refresh_status "$rt" public)" 200 "the public client's token after logout"
# ... with the confidential client: revoked at the provider.
GLEW_APPROVE_CLIENT=linux-conf
device g-conf alice alice alice-pass-1
GLEW_APPROVE_CLIENT=linux-hosts
[ "$ST" = 0 ] || fail "alice's device sign-in with the confidential client: $(cat "$F")"
rt=$(record_rt "$dir/conf/state/tokens/alice.json")
out=$(cctl logout alice 2>&1) || fail "logout (confidential client): $out"
printf '%s\n' "$out" >"$dir/out.logout-conf"
[ ! -e "$dir/conf/state/tokens/alice.json" ] || fail "logout (confidential client) kept alice's record"
assert_contains "$out" "refresh token revoked at the IdP" "logout with the confidential client"
assert_eq "$(glew_refresh_status "$rt" conf)" 400 "the confidential client's token after logout"

# ... and revoke_on_close: bob's session (public client, his record from 4.) closes; Glewlwyd
# refuses the revocation (401: it lets only confidential clients revoke), the module forgets
# the token anyway, and the token stays valid at Glewlwyd.
rt=$(record_rt "$dir/state/tokens/bob.json")
[ -n "$rt" ] && [ "$rt" != null ] || fail "bob's record holds no refresh token"
pam_try g-roc bob "open_session close_session"
assert_logged "$F" "^http-request method=POST url=$GLEW_ISSUER/revoke status=401$"
assert_logged "$F" "^session-revoked user=bob idp=refused "
assert_eq "$(record_rt "$dir/state/tokens/bob.json")" null "bob's refresh token after the session closed"
assert_eq "$(glew_refresh_status "$rt" public)" 200 "the public client's token after revoke_on_close"
# With the confidential client the session's token is revoked at Glewlwyd.
GLEW_APPROVE_CLIENT=linux-conf
device g-conf bob bob bob-pass-1
GLEW_APPROVE_CLIENT=linux-hosts
[ "$ST" = 0 ] || fail "bob's device sign-in with the confidential client: $(cat "$F")"
rt=$(record_rt "$dir/conf/state/tokens/bob.json")
pam_try g-croc bob "open_session close_session"
pam_expect_ok "bob's session with revoke_on_close (confidential client)"
assert_logged "$F" "^http-request method=POST url=$GLEW_ISSUER/revoke status=200$"
assert_logged "$F" "^session-revoked user=bob idp=ok$"
assert_eq "$(glew_refresh_status "$rt" conf)" 400 "the confidential client's token after revoke_on_close"

# ---- 7. the password grant. Glewlwyd's discovery lists no "password" in grant_types_supported
# although it serves the grant (the list is advisory: the module sends it anyway).
assert_eq "$(curl -sS --cacert "$GLEW_CA" "$GLEW_ISSUER/.well-known/openid-configuration" |
    jq -c '.grant_types_supported | index("password")')" null "password in Glewlwyd's grant_types_supported"
# The confidential client: the right password signs alice in, a wrong one is a wrong password
# (Glewlwyd answers 403 with an empty body).
pam_try g-pw alice "authenticate acct_mgmt" alice-pass-1
pam_expect_ok "alice, password grant (confidential client)"
assert_logged "$F" "^password-grant-unlisted "
assert_logged "$F" "^password-signin-ok method=grant user=alice "
assert_logged "$F" "^auth-ok user=alice service=g-pw method=grant uid=[0-9]+$"
pam_try g-pw alice authenticate wrong-password-1
pam_expect PAM_AUTH_ERR "alice, wrong password (confidential client)" \
    "the provider refused the user name or password (status 403"
assert_logged "$F" "^auth-failed user=alice service=g-pw error=denied "
# The public client: Glewlwyd refuses the grant to any public client (403, empty body), the
# right password included.
pam_try g-ppw alice authenticate alice-pass-1
pam_expect PAM_AUTH_ERR "alice, password grant with the public client" \
    "some providers refuse the password grant to public clients: see client_secret_file"
assert_logged "$F" "^http-request method=POST url=$GLEW_ISSUER/token status=403$"

# ---- 8. key rotation RS256 -> ES256, while the module polls; the provider's interval goes
# from 1 to 5 s at the same time, so the next poll is answered slow_down.
# Right after this test's earlier sign-ins fetched the key set: a routine fetch spends no
# refetch, so the unknown kid is fetched at once (issue 14 point 5).
glew__key ec es256
device g-device bob bob bob-pass-1 ".\"jwt-type\" = \"ecdsa\" | .key = $(jq -Rs . <"$GLEW_DIR/es256.key")
    | .cert = $(jq -Rs . <"$GLEW_DIR/es256.pem") | .\"device-authorization-interval\" = 5"
[ "$ST" = 0 ] || fail "bob's device sign-in across the key rotation: $(cat "$F")"
kid2=$(jwks_kid)
[ "$kid2" != "$kid1" ] || fail "Glewlwyd still publishes the old key"
assert_logged "$F" "^device-flow-slow-down interval=6$"
assert_logged "$F" "^oidc-jwks-refetch reason=unknown-kid kid=$kid2"
assert_logged "$F" "^id-token-ok alg=ES256 kid=$kid2$"
assert_logged "$F" "^auth-ok user=bob service=g-device method=device "

pam_test_done "$dir" alice-pass-1 bob-pass-1 wrong-password-1 "$SECRET" "$rt0" "$rt1" "$rt2"
