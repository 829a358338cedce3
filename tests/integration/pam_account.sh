#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto's account phase (pam_sm_acct_mgmt) through pamtester against the test IdP:
#   each rule (require_roles, require_orgs, require_org_roles, allow_users, deny_users), their
#   combination, rules given as PAM arguments, unique values only (never display names);
#   fresh cached claims decide with no request to the IdP;
#   claims older than claims_max_age are refreshed first: a role removed in Logto stops the
#   service, one given back restores it; so are claims `logtoctl cache expire --user` made stale; suspended and deleted users are denied;
#   refresh-token reuse: the IdP revokes the grant, the module says the session ended;
#   app-level access control (refresh access_denied): no access to the application, token kept;
#   SSH public-key style (no auth phase, no token record): the Management API decides when
#   [sync] has M2M credentials; without them a Logto user is denied, and that denial cannot be
#   skipped by a stack that ignores user_unknown.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

idp_start --refresh-reuse-leeway 0 || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
services="[service *]
allow_any_user = yes
flow = password
qr = no
claims_max_age = 1h
[service roles-admin]
require_roles = admin
[service roles-any]
require_roles = admin developer
[service orgs-acme]
require_orgs = pbl95zlwkzx4
[service orgs-byname]
require_orgs = Globex
[service orgrole-globex-admin]
require_org_roles = qmmg1gvtd5ib:admin
[service orgrole-byname]
require_org_roles = Globex:admin
[service allow-alice]
allow_users = alice
[service deny-bob]
deny_users = bob
[service combo]
require_roles = admin developer
require_orgs = pbl95zlwkzx4
deny_users = erin
[service sudo]
require_roles = admin
claims_max_age = 2
[service quick]
claims_max_age = 2
[service always]
claims_max_age = 0"
pam_write_config "$dir/logto.conf" "$dir" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $dir/m2m.secret
$services"
# The same host without M2M credentials (same state, other file).
mkdir -p "$dir/nosync"
pam_write_config "$dir/nosync/logto.conf" "$dir" "$services"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in login roles-admin roles-any orgs-acme orgs-byname orgrole-globex-admin orgrole-byname \
    allow-alice deny-bob combo sudo quick always; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
pam_service "$dir/pam.d" args-developer "account required $mod require_roles=developer"
pam_service "$dir/pam.d" nosync "account required $LOGTO_PAM_MODULE config=$dir/nosync/logto.conf"
# A pam-auth-update style stack that lets user_unknown fall through to the next module (as
# etc/pam-configs/logto does for users that are not Logto's): a Logto denial must still deny.
pam_service "$dir/pam.d" sync-stack \
    "account [success=ok ignore=ignore user_unknown=ignore default=die] $mod" \
    "account required pam_permit.so"
pam_service "$dir/pam.d" nosync-stack \
    "account [success=ok ignore=ignore user_unknown=ignore default=die] $LOGTO_PAM_MODULE config=$dir/nosync/logto.conf" \
    "account required pam_permit.so"

acct() { pam_try "$1" "$2" acct_mgmt; } # SERVICE USER
allowed() { # SERVICE USER...
    a_svc=$1
    shift
    for u in "$@"; do
        acct "$a_svc" "$u"
        pam_expect_ok "$a_svc allows $u"
        assert_contains "$(cat "$F")" "account management" "$a_svc/$u"
    done
}
denied() { # SERVICE CODE TEXT USER...
    d_svc=$1 d_code=$2 d_text=$3
    shift 3
    for u in "$@"; do
        acct "$d_svc" "$u"
        pam_expect "$d_code" "$d_svc denies $u" "$d_text"
        assert_logged "$F" "^account-denied user=$u service=$d_svc error="
    done
}
requests() { idp_json_field "$(idp_ctl GET /stats)" total; }
grants() { idp_json_field "$(idp_ctl GET "/users/$1/grants")" active; }
rt_of() { sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$dir/state/tokens/$1.json"; }

# Sign alice, bob, erin and dave in (Experience API; dave answers his TOTP).
for u in alice bob erin; do
    pam_try login $u authenticate "$u-pass-1"
    pam_expect_ok "sign-in of $u"
done
pam_try login dave authenticate dave-pass-1 "$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)"
pam_expect_ok "sign-in of dave"

# ---- each rule, from fresh cached claims: no request reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
allowed roles-admin alice
denied roles-admin PAM_PERM_DENIED "requires role admin" bob dave
allowed roles-any alice bob erin
denied roles-any PAM_PERM_DENIED "requires role admin or developer" dave
allowed orgs-acme alice erin
denied orgs-acme PAM_PERM_DENIED "requires membership of organization pbl95zlwkzx4" bob dave
# Organization display names are not identifiers: "Globex" matches nobody.
denied orgs-byname PAM_PERM_DENIED "requires membership of organization Globex" bob
allowed orgrole-globex-admin bob
denied orgrole-globex-admin PAM_PERM_DENIED "requires organization role qmmg1gvtd5ib:admin" alice erin
denied orgrole-byname PAM_PERM_DENIED "requires organization role Globex:admin" bob
allowed allow-alice alice
denied allow-alice PAM_PERM_DENIED "bob is not in allow_users" bob
allowed deny-bob alice erin
denied deny-bob PAM_PERM_DENIED "bob is in deny_users" bob
# Combination: every kind must hold (role admin|developer AND Acme), deny_users wins.
allowed combo alice
denied combo PAM_PERM_DENIED "requires membership of organization" bob
denied combo PAM_PERM_DENIED "requires role" dave
denied combo PAM_PERM_DENIED "erin is in deny_users" erin
# A rule given as a PAM argument overrides the configuration for that line.
allowed args-developer bob erin
denied args-developer PAM_PERM_DENIED "requires role developer" alice
assert_logged "$F" "^account-denied user=alice service=args-developer error=denied "
assert_eq "$(requests)" 0 "IdP requests made by decisions from fresh claims"

# ---- a role removed in Logto stops sudo once the claims are older than claims_max_age (2 s).
allowed sudo alice
idp_ctl PATCH /users/alice '{"roles":[]}' >/dev/null
# A service with a longer claims_max_age (1 h here) still decides from the cached claims.
allowed roles-admin alice
# ...until logtoctl cache expire --user alice makes them stale (issue 17.5): the next check asks
# the IdP (a refresh) and denies at once; the session goes on (the grant is still active).
wrap "$LOGTOCTL" --config "$dir/logto.conf" cache expire --user alice >"$dir/expire.out" 2>&1 ||
    fail "cache expire --user alice: $(cat "$dir/expire.out")"
denied roles-admin PAM_PERM_DENIED "requires role admin" alice
[ "$(grants alice)" -ge 1 ] || fail "cache expire ended alice's session"
sleep 3
denied sudo PAM_PERM_DENIED "requires role admin" alice
assert_logged "$F" "error=denied reason=\"requires role admin\""
assert_not_logged "$F" "refresh-refused"
idp_ctl PATCH /users/alice '{"roles":["admin"]}' >/dev/null
sleep 3
allowed sudo alice
assert_logged "$F" "^account-ok user=alice service=sudo decided=refreshed$"

# ---- claims_max_age = 0 refreshes on every decision, also within the second of the last one.
for i in 1 2 3 4 5; do
    allowed always alice
    assert_logged "$F" "^account-ok user=alice service=always decided=refreshed$"
done

# ---- app-level access control: Logto answers bob's refresh access_denied. That is no access to
# this application (PAM_PERM_DENIED), not a session that ended: the refresh token is kept, and
# once access is granted the same grant refreshes again.
rt_before=$(rt_of bob)
idp_ctl PUT /apps/native-app/access-control '{"roles":["admin"]}' >/dev/null
denied always PAM_PERM_DENIED "bob has no access to this application in Logto: an administrator must grant it there (signing in again will not help)" bob
assert_logged "$F" "^refresh-no-access user=bob sub=[a-z0-9]* reason=\".*access_denied"
assert_not_logged "$F" "refresh-refused|session ended"
assert_eq "$(rt_of bob)" "$rt_before" "bob's refresh token after access_denied"
# Fresh cached claims (1 h) decide nothing while the IdP says no: asked again, denied again.
denied roles-any PAM_PERM_DENIED "no access to this application in Logto" bob
assert_logged "$F" "^refresh-no-access user=bob "
# alice holds the role: unaffected.
allowed always alice
idp_ctl DELETE /apps/native-app/access-control >/dev/null
allowed always bob
assert_logged "$F" "^account-ok user=bob service=always decided=refreshed$"
[ "$(rt_of bob)" != "$rt_before" ] || fail "bob's grant did not refresh after access was granted"

# ---- suspended through the Management API (PATCH /api/users/{id}/is-suspended, as an
# administrator does; Logto's signOutUser revokes every grant, logto-real-1.42.md): the next
# refresh is refused; access ends with "sign in again" and the dead refresh token is dropped.
is_suspended() { # true|false
    m2m=$(curl -sS --cacert "$IDP_CA" -u m2m-app:m2m-secret -d grant_type=client_credentials \
        --data-urlencode resource=https://default.logto.app/api -d scope=all "$IDP_URL/oidc/token")
    curl -sS --cacert "$IDP_CA" -o "$dir/suspend.json" -w '%{http_code}' -X PATCH \
        -H "Authorization: Bearer $(idp_json_field "$m2m" access_token)" \
        -H 'Content-Type: application/json' -d "{\"isSuspended\":$1}" \
        "$IDP_URL/api/users/pjxljgyvlay2/is-suspended" >"$dir/suspend.status"
    assert_eq "$(cat "$dir/suspend.status")" 200 "status of is-suspended=$1"
    assert_contains "$(cat "$dir/suspend.json")" "\"isSuspended\":$1" "is-suspended=$1 answer"
}
assert_eq "$(grants erin)" 1 "erin's live refresh tokens before the suspension"
is_suspended true
assert_eq "$(grants erin)" 0 "erin's live refresh tokens after the suspension"
denied always PAM_ACCT_EXPIRED "the Logto session ended (revoked, suspended or deleted): sign in again" erin
assert_logged "$F" "^refresh-refused user=erin sub=pjxljgyvlay2 "
grep -q '"refresh_token":"' "$dir/state/tokens/erin.json" && fail "the refused refresh token was kept"
# Reinstated: the grant is gone, so with M2M credentials the Management API decides now (as for
# SSH public-key users); a new sign-in gives a new grant.
is_suspended false
allowed quick erin
assert_logged "$F" "^account-ok user=erin service=quick decided=mgmt-lookup$"
pam_try login erin authenticate erin-pass-1
pam_expect_ok "erin signs in again"
sleep 3
allowed quick erin
assert_logged "$F" "^account-ok user=erin service=quick decided=refreshed$"

# ---- refresh-token reuse: a stolen, already rotated refresh token is replayed; the IdP
# revokes the whole grant (leeway 0 here) and the module's next refresh is refused.
old_rt=$(rt_of bob)
[ -n "$old_rt" ] || fail "no refresh token in bob's record"
sleep 3
allowed quick bob
assert_logged "$F" "decided=refreshed"
new_rt=$(rt_of bob)
[ -n "$new_rt" ] && [ "$new_rt" != "$old_rt" ] || fail "the refresh did not rotate bob's token"
assert_eq "$(grants bob)" 1 "bob's live refresh tokens after the rotation"
curl -sS --cacert "$IDP_CA" -o "$dir/replay.json" -w '%{http_code}' \
    -d grant_type=refresh_token -d client_id=native-app --data-urlencode "refresh_token=$old_rt" \
    "$IDP_URL/oidc/token" >"$dir/replay.status"
assert_eq "$(cat "$dir/replay.status")" 400 "status of the replayed refresh token"
assert_contains "$(cat "$dir/replay.json")" invalid_grant "the replay answer"
assert_eq "$(grants bob)" 0 "bob's live refresh tokens after the replay"
sleep 3
denied quick PAM_ACCT_EXPIRED "the Logto session ended (revoked, suspended or deleted): sign in again" bob
assert_logged "$F" "^refresh-refused user=bob "

# ---- deleted in Logto: denied at the next refresh.
idp_ctl POST /users '{"username":"frank2","password":"frank2-pass-1","roles":["developer"]}' >/dev/null
pam_try login frank2 authenticate frank2-pass-1
pam_expect_ok "sign-in of frank2"
idp_ctl DELETE /users/frank2 >/dev/null
sleep 3
denied quick PAM_ACCT_EXPIRED "the Logto session ended" frank2

# ---- a Logto user without an e-mail (the ID token says "email": null, "email_verified": false,
# as Logto 1.42 does): signs in by username, decides from refreshed claims.
idp_ctl POST /users '{"username":"nomail","password":"nomail-pass-1","roles":["developer"]}' >/dev/null
pam_try login nomail authenticate nomail-pass-1
pam_expect_ok "sign-in of nomail (no e-mail)"
allowed always nomail
assert_logged "$F" "^account-ok user=nomail service=always decided=refreshed$"

# ---- SSH public-key style: no sign-in on this host, no token record.
idp_ctl POST /users '{"username":"ivan","password":"ivan-pass-1","roles":["developer"]}' >/dev/null
idp_ctl POST /users '{"username":"judy","password":"judy-pass-1","roles":["developer"],"suspended":true}' >/dev/null
[ ! -f "$dir/state/tokens/ivan.json" ] || fail "ivan has a record before any sign-in"
idp_ctl POST /stats/reset >/dev/null
allowed roles-any ivan
assert_logged "$F" "^account-ok user=ivan service=roles-any decided=mgmt-lookup$"
[ "$(requests)" -gt 0 ] || fail "the Management API was not asked about ivan"
denied roles-admin PAM_PERM_DENIED "requires role admin" ivan
assert_logged "$F" "decided=cached|error=denied"
denied roles-any PAM_ACCT_EXPIRED "suspended" judy
acct roles-any zelda
pam_expect PAM_USER_UNKNOWN "zelda (in neither Logto nor this host)"
# The lookup was remembered: ivan now resolves through NSS (snapshot) and decides from cache.
idp_ctl POST /stats/reset >/dev/null
allowed roles-any ivan
assert_eq "$(requests)" 0 "IdP requests for ivan's second decision"
# Deleted in Logto: the Management API says so once the claims are old.
idp_ctl POST /users '{"username":"kim","password":"kim-pass-1","roles":["developer"]}' >/dev/null
allowed quick kim
idp_ctl DELETE /users/kim >/dev/null
sleep 3
denied quick PAM_ACCT_EXPIRED "the Logto account no longer exists" kim
# The same without a record (deleted after the lookup, still in the snapshot until the next
# sync): also through a stack that skips user_unknown.
idp_ctl POST /users '{"username":"lena","password":"lena-pass-1","roles":["developer"]}' >/dev/null
allowed sync-stack lena
rm -f "$dir/state/tokens/lena.json"
idp_ctl DELETE /users/lena >/dev/null
acct sync-stack lena
pam_expect PAM_ACCT_EXPIRED "deleted lena through a stack that ignores user_unknown" \
    "the Logto account no longer exists"

# Without M2M credentials a Logto user with no record cannot be checked: denied, also through a
# stack that skips user_unknown. A name that is nobody's stays PAM_USER_UNKNOWN.
rm -f "$dir/state/tokens/ivan.json"
denied nosync PAM_PERM_DENIED "no Management API credentials" ivan
acct nosync-stack ivan
pam_expect PAM_PERM_DENIED "ivan through a stack that ignores user_unknown"
acct nosync zelda
pam_expect PAM_USER_UNKNOWN "zelda without M2M credentials"

pam_test_done "$dir" nomail-pass-1 alice-pass-1 bob-pass-1 erin-pass-1 dave-pass-1 frank2-pass-1 \
    "$old_rt" "$new_rt" m2m-secret
