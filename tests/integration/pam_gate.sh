#!/bin/sh
# SPDX-License-Identifier: MIT
# Who is a Logto user of this host, and who may use a service (issues 13.3, 13.4, 13.7, 12.8),
# through pamtester against the test IdP:
#   host A ([sync]; services admit roles admin or developer, gate-none names nobody):
#   - sync serves only users some service admits: a fresh account without roles is no passwd
#     entry (getent through libnss_logto), `logtoctl user` says why; with a role it is one;
#   - deny by default: a sign-in that the service's rules refuse (no rule at all, or a missing
#     role) fails right after the ID token is verified: nothing stored (no token record, no
#     snapshot entry), the refresh token revoked at the IdP;
#   - the gate: a name no Logto user has, or one no service admits, is PAM_USER_UNKNOWN before
#     any prompt; the IdP sees one Management API lookup, remembered for the next attempts; a
#     spent lookup budget asks nothing;
#   host B (no [sync]): a password name not in the snapshot sends nothing; device flows start
#   for any name but are capped per name and per host, a killed holder frees its slot, and a
#   refused attempt reaches no IdP.
# Every refusal: the PAM result, the log line, what the person sees.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-})
[ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] || skip "nss_wrapper is not installed"
[ -x "${LOGTOCTL:-}" ] || skip "LOGTOCTL is not set (run through make check)"
need_cmd python3 pkill

idp_start || exit $?
dir=$(test_tmpdir)
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
rules="[service gate-pw]
flow = password
require_roles = admin developer
[service gate-admin]
flow = password
require_roles = admin
[service gate-none]
flow = password"
pam_write_config "$dir/a.conf" "$dir/a" "[sync]
m2m_client_id = m2m-app
request_interval = 0
m2m_client_secret_file = $dir/m2m.secret
lookup_burst = 4
lookup_rate = 1
$rules"
pam_write_config "$dir/b.conf" "$dir/b" "[logto]
max_device_flows = 2
max_device_flows_per_user = 1
[service gate-dev]
flow = device
qr = no
require_roles = admin developer
[service gate-nobody]
flow = device
$rules"
# One PAM service directory per host: the PAM service names are the [service] names.
for h in a b; do
    for s in gate-pw gate-admin gate-none gate-dev gate-nobody; do
        pam_service "$dir/$h/pam.d" "$s" "auth required $LOGTO_PAM_MODULE config=$dir/$h.conf" \
            "account required $LOGTO_PAM_MODULE config=$dir/$h.conf"
    done
done
cp /etc/passwd "$dir/passwd"
cp /etc/group "$dir/group"

A=$dir/a/state
ctl() { wrap "$LOGTOCTL" --config "$dir/a.conf" "$@"; }
# getent passwd NAME on host A: local copies of the files, then libnss_logto on its snapshot.
getent_a() {
    LD_PRELOAD=$(module_preload "$NSS_WRAPPER_LIB") \
        NSS_WRAPPER_PASSWD=$dir/passwd NSS_WRAPPER_GROUP=$dir/group \
        NSS_WRAPPER_MODULE_SO_PATH=$LOGTO_NSS_MODULE NSS_WRAPPER_MODULE_FN_PREFIX=logto \
        LOGTO_NSS_SNAPSHOT=$A/directory.snapshot getent passwd "$1"
}
stat_of() { idp_ctl GET /stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["by_route"].get(sys.argv[1], 0))' "$1"; }
# re TEXT: TEXT as an extended regular expression that matches only itself.
re() { printf '%s' "$1" | sed 's/[][().*^$+?{}|\\]/\\&/g'; }
# shown FILE: what the person saw (the conversation), without the log lines.
shown() { grep -v -e 'SYSLOG(' -e '^PWRAP_' "$1"; }
active_grants() { idp_json_field "$(idp_ctl GET "/users/$1/grants")" active; }
# refused USER SERVICE REASON: the sign-in of USER failed in the auth phase and left nothing.
refused() {
    pam_expect PAM_AUTH_ERR "$1 at $2" "Logto sign-in failed: $1 may not use $2: $3"
    assert_logged "$F" "^auth-refused user=$1 sub=[a-z0-9]+ service=$2 reason=\"$(re "$3")\"\$"
    assert_logged "$F" "^auth-grant-revoked user=$1\$"
    assert_eq "$(active_grants "$1")" 0 "$1's live refresh tokens at the IdP"
    [ ! -e "$A/tokens/$1.json" ] || fail "$1 at $2: a token record was stored"
}
# unknown USER SERVICE REASON: PAM_USER_UNKNOWN before any prompt, logged, nothing shown.
unknown() {
    pam_expect PAM_USER_UNKNOWN "$1 at $2"
    assert_logged "$F" "^user-unknown user=$1 service=$2 reason=\"$(re "$3")\"\$"
    assert_not_contains "$(shown "$F")" "Password" "what $1 is shown"
    assert_not_contains "$(shown "$F")" "Logto" "what $1 is shown"
}

# ---------------------------------------------------------------- host A: sync admits
PAM_DIR=$dir/a
idp_ctl POST /users '{"username":"gina","password":"gina-pass-1","email":"gina@example.com"}' \
    >/dev/null || fail "create gina"
ctl sync >"$dir/sync.out" 2>&1 || fail "sync: $(cat "$dir/sync.out")"
assert_contains "$(cat "$dir/sync.out")" "users whom no service on this host admits (not served)"
getent_a alice >/dev/null || fail "alice (role admin) is no passwd entry"
getent_a bob >/dev/null || fail "bob (role developer) is no passwd entry"
! getent_a gina >/dev/null || fail "gina (no role) is a passwd entry"
! getent_a dave >/dev/null || fail "dave (role auditor only) is a passwd entry"
ctl user gina >"$dir/user.out" 2>&1
assert_contains "$(cat "$dir/user.out")" "snapshot: no user gina in $A/directory.snapshot: no service on this host admits them"
assert_contains "$(cat "$dir/user.out")" "services  none: no service on this host admits them"
ctl user bob >"$dir/user.out" 2>&1 || fail "logtoctl user bob: $(cat "$dir/user.out")"
assert_contains "$(cat "$dir/user.out")" "services  admitted by gate-pw"
idp_ctl PATCH /users/gina '{"roles":["developer"]}' >/dev/null || fail "gina gets developer"
ctl sync >/dev/null 2>&1 || fail "second sync"
getent_a gina >/dev/null || fail "gina (now developer) is no passwd entry"
idp_ctl PATCH /users/gina '{"roles":[]}' >/dev/null || fail "gina loses developer"
ctl sync >/dev/null 2>&1 || fail "third sync"
! getent_a gina >/dev/null || fail "gina (no role again) is still a passwd entry"
echo "ok sync serves only users some service admits"

# ---------------------------------------------------------------- host A: deny by default
# A service that names nobody refuses before the IdP is asked anything (the password too).
idp_ctl POST /stats/reset >/dev/null
why="service gate-none admits nobody (no require_roles, require_orgs, require_org_roles or allow_users, and allow_any_user is off)"
pam_try gate-none alice authenticate alice-pass-1
pam_expect PAM_AUTH_ERR "alice at gate-none" "Logto sign-in failed: alice may not use gate-none: $why"
assert_logged "$F" "^auth-refused user=alice service=gate-none reason=\"$(re "$why")\"\$"
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for alice at gate-none"
pam_try gate-admin bob authenticate bob-pass-1
refused bob gate-admin "requires role admin"
pam_try gate-admin alice "authenticate acct_mgmt" alice-pass-1
pam_expect_ok "alice at gate-admin"
[ -e "$A/tokens/alice.json" ] || fail "no token record for alice"
echo "ok a sign-in the service's rules refuse stores nothing and its grant is revoked"

# ---------------------------------------------------------------- host A: the gate
idp_ctl POST /stats/reset >/dev/null
pam_try gate-pw zelda authenticate zelda-pass-1
unknown zelda gate-pw "no Logto user has this user name"
assert_eq "$(stat_of 'GET /api/users')" 1 "user searches for zelda"
assert_eq "$(stat_of 'POST /api/experience/verification/password')" 0 "passwords sent for zelda"
for i in 1 2 3; do
    pam_try gate-pw zelda authenticate zelda-pass-1
    unknown zelda gate-pw "not a Logto user of this host (remembered answer)"
done
assert_eq "$(stat_of 'GET /api/users')" 1 "user searches after 3 more attempts for zelda"
pam_try gate-pw gina authenticate gina-pass-1
unknown gina gate-pw "no service on this host admits them"
# hank, created after the sync, is found (developer: gate-pw admits him) and may send his
# password, but gate-admin refuses him: no snapshot entry either.
idp_ctl POST /users '{"username":"hank","password":"hank-pass-1","roles":["developer"]}' \
    >/dev/null || fail "create hank"
pam_try gate-admin hank authenticate hank-pass-1
refused hank gate-admin "requires role admin"
! getent_a hank >/dev/null || fail "the refused hank is a passwd entry"
# The budget (4) is spent by one more lookup: then nothing is asked at all.
pam_try gate-pw yuri authenticate yuri-pass-1
unknown yuri gate-pw "no Logto user has this user name"
before=$(idp_json_field "$(idp_ctl GET /stats)" total)
pam_try gate-pw walt authenticate walt-pass-1
unknown walt gate-pw "not looked up: the Management API lookup budget is spent (lookup_rate = 1 a minute, lookup_burst = 4)"
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" "$before" "IdP requests for walt"
assert_eq "$(stat -c '%a %U' "$A/lookups")" "600 root" "the lookup cache"
echo "ok names that are no Logto user of this host are left to the stack, within a budget"

# ---------------------------------------------------------------- host B: no [sync]
PAM_DIR=$dir/b
idp_ctl POST /stats/reset >/dev/null
pam_try gate-pw zelda authenticate zelda-pass-1
unknown zelda gate-pw "not in the directory snapshot, and no [sync] credentials to look it up"
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for zelda on host B"

# Device flows: at most 1 waiting per name and 2 on the host. Flows sit waiting for approval.
flow() { # USER: start a device flow in the background; $FLOW_PID, $FLOW_OUT
    FLOW_OUT=$dir/flow.$1.$$.$(date +%s%N)
    : >"$dir/empty.in"
    pamtester_run "$PAM_DIR/pam.d" gate-dev "$1" authenticate <"$dir/empty.in" >"$FLOW_OUT" 2>&1 &
    FLOW_PID=$!
    wait_for_code "$FLOW_OUT" >/dev/null || fail "no device code for $1: $(cat "$FLOW_OUT")"
}
capped() { # USER TEXT: refused at once, no device authorization request
    ca_before=$(stat_of 'POST /oidc/device/auth')
    pam_try gate-dev "$1" authenticate
    pam_expect PAM_AUTHINFO_UNAVAIL "$1: a device flow past the cap" "$2"
    assert_logged "$F" "^device-flow-refused user=$1 service=gate-dev reason=\"$(re "$2")\"\$"
    assert_eq "$(stat_of 'POST /oidc/device/auth')" "$ca_before" "device authorizations for $1"
}
flow alice
alice_pid=$FLOW_PID alice_out=$FLOW_OUT
assert_not_logged "$alice_out" "user-unknown"
capped alice "1 Logto sign-in for alice is already waiting for approval (max_device_flows_per_user)"
flow bob
bob_pid=$FLOW_PID
capped erin "2 Logto sign-ins are already waiting for approval on this host (max_device_flows)"
# A holder killed outright: the kernel drops its lock, the slot is free at once.
pkill -KILL -P "$bob_pid" || fail "kill bob's pamtester"
wait "$bob_pid" 2>/dev/null
flow erin
erin_pid=$FLOW_PID erin_out=$FLOW_OUT
code=$(wait_for_code "$erin_out")
idp_ctl POST /device/deny "{\"user_code\":\"$code\"}" >/dev/null || fail "deny erin's code"
wait "$erin_pid" && fail "erin's denied flow succeeded"
code=$(wait_for_code "$alice_out")
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"alice\"}" >/dev/null ||
    fail "approve alice's code"
wait "$alice_pid" || fail "alice's device flow: $(cat "$alice_out")"
assert_logged "$alice_out" "^auth-ok user=alice service=gate-dev method=device "
# Both slots are free again.
flow dave
dave_pid=$FLOW_PID dave_out=$FLOW_OUT
code=$(wait_for_code "$dave_out")
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"dave\"}" >/dev/null ||
    fail "approve dave's code"
wait "$dave_pid" && fail "dave (auditor) signed in at gate-dev"
F=$dave_out
refused dave gate-dev "requires role admin or developer"
[ ! -e "$dir/b/state/tokens/dave.json" ] || fail "a token record of the refused dave on host B"
"$top_builddir/tests/lib/mksnapshot" --dump "$dir/b/state/directory.snapshot" >"$dir/b.dump" ||
    fail "host B's snapshot"
grep -q '^user:alice:' "$dir/b.dump" || fail "alice is not in host B's snapshot"
! grep -q '^user:dave:' "$dir/b.dump" || fail "the refused dave is in host B's snapshot"
echo "ok device flows are capped per name and per host, and a killed flow frees its slot"

# A device flow this service could never let through starts nowhere: for a name the host does
# not know it is not Logto's business (the rest of the stack decides), for alice a refusal.
idp_ctl POST /stats/reset >/dev/null
pam_try gate-nobody zed authenticate
unknown zed gate-nobody "not in the directory snapshot, and gate-nobody cannot admit it: service gate-nobody admits nobody (no require_roles, require_orgs, require_org_roles or allow_users, and allow_any_user is off)"
pam_try gate-nobody alice authenticate
pam_expect PAM_AUTH_ERR "alice at gate-nobody" "alice may not use gate-nobody: service gate-nobody admits nobody"
assert_logged "$F" '^auth-refused user=alice service=gate-nobody reason="service gate-nobody admits nobody '
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests at gate-nobody"
echo "ok a device flow that cannot be admitted does not start"

pam_test_done "$dir" alice-pass-1 bob-pass-1 gina-pass-1 hank-pass-1 zelda-pass-1 \
    yuri-pass-1 walt-pass-1 m2m-secret
