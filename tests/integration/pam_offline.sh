#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto when the IdP cannot be reached (POST /down, 5xx) as opposed to when it says no:
#   sign-in: the yescrypt verifier from the last online password sign-in decides within
#     offline_grace (right password: offline success; wrong: PAM_AUTH_ERR); past the grace, with
#     offline_grace = 0, without a verifier, and for the device flow: PAM_AUTHINFO_UNAVAIL;
#   an IdP that answers "no" (changed password, suspension, lockout) is never bypassed by the
#     verifier;
#   account: cached claims decide within offline_grace, and deny after it or when they are dated
#     in the future (a clock set back).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

idp_start || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
# The host's own limit (pam_attempts.sh) above the IdP's, so that its lockout shows here.
pam_write_config "$dir/logto.conf" "$dir" "[logto]
host_lockout_attempts = 10
[service *]
allow_any_user = yes
flow = password
qr = no
[service logto-short]
offline_grace = 3
claims_max_age = 1
[service logto-nograce]
offline_grace = 0
[service logto-acct]
claims_max_age = 1
[service logto-device]
flow = device"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in logto-pw logto-short logto-nograce logto-acct logto-device; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
down() { idp_ctl POST /down >/dev/null || fail "POST /down"; }
up() { idp_ctl POST /up >/dev/null || fail "POST /up"; }

# Online sign-ins leave a verifier for alice, bob and erin (known to this host without [sync]).
pam_seed_snapshot "$dir/state" alice bob erin
for u in alice bob erin; do
    pam_try logto-pw $u authenticate "$u-pass-1"
    pam_expect_ok "$u online"
    assert_not_logged "$F" "offline"
done

# ---- the IdP is down
down
pam_try logto-pw alice authenticate alice-pass-1
pam_expect_ok "alice offline, within the grace"
assert_logged "$F" "^auth-offline user=alice verifier_age=[0-9]+$"
assert_logged "$F" "^auth-ok user=alice service=logto-pw method=offline uid=[0-9]+ offline=yes$"

pam_try logto-pw alice authenticate wrong-password-1
pam_expect PAM_AUTH_ERR "alice offline, wrong password" "checked offline"

pam_try logto-pw dave authenticate dave-pass-1
pam_expect PAM_USER_UNKNOWN "dave offline, never signed in here"
assert_logged "$F" '^user-unknown user=dave service=logto-pw '

pam_try logto-nograce bob authenticate bob-pass-1
pam_expect PAM_AUTHINFO_UNAVAIL "bob offline with offline_grace = 0" "cannot reach"

pam_try logto-device erin authenticate
pam_expect PAM_AUTHINFO_UNAVAIL "device flow while the IdP is down" "cannot reach"

# Account phase offline: claims older than claims_max_age cannot be refreshed; within the grace
# the cached ones decide.
sleep 2
pam_try logto-acct alice acct_mgmt
pam_expect_ok "alice account offline, within the grace"
assert_logged "$F" "^account-ok user=alice service=logto-acct decided=cached offline=yes$"

# Claims dated in the future (the clock was set back after they were stored) never decide: the
# step would stretch the grace. The record is edited as a clock step would leave it.
rec=$dir/state/tokens/alice.json
cp -p "$rec" "$dir/alice.json.saved"
python3 - "$rec" <<'EOF'
import json, sys, time
p = sys.argv[1]
r = json.load(open(p))
r["claims_at"] = int(time.time()) + 3600
open(p, "w").write(json.dumps(r))
EOF
pam_try logto-acct alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice account offline, claims from the future" "in the future"
assert_logged "$F" "^account-denied user=alice service=logto-acct error=unreachable .*dated 3[0-9]+s in the future"
cp -p "$dir/alice.json.saved" "$rec"

# Past the grace (3 s here), both the verifier and the cached claims stop working.
sleep 4
pam_try logto-short bob authenticate bob-pass-1
pam_expect PAM_AUTHINFO_UNAVAIL "bob offline past the grace" "cannot reach"
pam_try logto-short alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice account offline past the grace" "cached claims are too old"
assert_logged "$F" "^account-denied user=alice service=logto-short error=unreachable "
up

# ---- a 5xx is "cannot be reached" too (HACKING.md): the verifier decides.
idp_ctl POST /faults '{"endpoint":"*","fault":"http500"}' >/dev/null
pam_try logto-pw erin authenticate erin-pass-1
pam_expect_ok "erin while the IdP answers 500"
assert_logged "$F" "method=offline uid=[0-9]+ offline=yes$"
idp_ctl DELETE /faults >/dev/null

# ---- the IdP says no: never offline, whatever the verifier says.
idp_ctl PATCH /users/alice '{"password":"alice-pass-2"}' >/dev/null
pam_try logto-pw alice authenticate alice-pass-1
pam_expect PAM_AUTH_ERR "alice's old password after a change" "wrong user name or password"
assert_not_logged "$F" "offline"
pam_try logto-pw alice authenticate alice-pass-2
pam_expect_ok "alice's new password"

idp_ctl PATCH /users/erin '{"suspended":true}' >/dev/null
pam_try logto-pw erin authenticate erin-pass-1
pam_expect PAM_AUTH_ERR "suspended erin" "suspended"
assert_not_logged "$F" "offline"
idp_ctl PATCH /users/erin '{"suspended":false}' >/dev/null

for i in 1 2 3 4 5; do pam_try logto-pw bob authenticate "bad-pass-$i"; done
pam_try logto-pw bob authenticate bob-pass-1
pam_expect PAM_MAXTRIES "locked-out bob" "too many failed attempts"
assert_not_logged "$F" "offline"

pam_test_done "$dir" alice-pass-1 alice-pass-2 bob-pass-1 erin-pass-1 dave-pass-1 \
    wrong-password-1 bad-pass-1
