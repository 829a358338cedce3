#!/bin/sh
# SPDX-License-Identifier: MIT
# Who may sign in as a name, through pamtester and the device flow (owners.h; issue 12):
#   without [sync] (host A): a claimant whose claim is not identical to the name (the e-mail
#   alice@example.com in a listed domain, the username `Alice`) never takes `alice`; alice does;
#   afterwards nobody else does, and a new account named alice (the old one deleted in Logto)
#   gets the name only after the administrator frees it (logtoctl logout --forget);
#   with [sync] (host B): the Management API names the owner before and after a sync: the
#   e-mail and `Alice` are refused, alice signs in; alice deleted and created again takes the
#   name from the deleted account (name-reassigned); the record the deleted account left is never
#   used by the account phase or logtoctl token, and status shows it; a blocked name (`Carl`,
#   `CARL`) is refused for each claimant in auth and account; the account phase gives a name it
#   does not serve yet only to its owner;
#   a record whose refresh the IdP refused decides nothing from its cached claims any more.
# Every refusal: the PAM code, the log line and what the person is told.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require
[ -x "${LOGTOCTL:-}" ] || skip "LOGTOCTL is not set (run through make check)"

idp_start || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
services="[identity]
email_domains = example.com
[service *]
flow = device
qr = no
claims_max_age = 1h
allow_users = alice carl
[service a-fresh]
claims_max_age = 0
[service b-fresh]
claims_max_age = 0"
mkdir -p "$dir/a" "$dir/b"
pam_write_config "$dir/a/logto.conf" "$dir/a" "$services"
pam_write_config "$dir/b/logto.conf" "$dir/b" "[sync]
m2m_client_id = m2m-app
request_interval = 0
m2m_client_secret_file = $dir/m2m.secret
$services"
for h in a b; do
    mod="$LOGTO_PAM_MODULE config=$dir/$h/logto.conf"
    pam_service "$dir/pam.d" "$h" "auth required $mod" "account required $mod"
    pam_service "$dir/pam.d" "$h-acct" "account required $mod"
    pam_service "$dir/pam.d" "$h-fresh" "account required $mod"
done
ctl_a() { wrap "$LOGTOCTL" --config "$dir/a/logto.conf" "$@"; }
ctl_b() { wrap "$LOGTOCTL" --config "$dir/b/logto.conf" "$@"; }

idp_ctl PATCH /users/e738g7numf03 '{"email":"alice.a@example.com"}' >/dev/null || fail "move alice's e-mail"
idp_ctl POST /users '{"id":"malloryemail","password":"pw-malloryemail","username":null,"email":"alice@example.com"}' >/dev/null ||
    fail "give the e-mail alice@example.com to mallory"
idp_ctl POST /users '{"id":"alicecase001","password":"pw-alicecase001","username":"Alice"}' >/dev/null || fail "create Alice"
alice=e738g7numf03

# signin HOST USER APPROVER: device sign-in of USER on HOST, the code approved by APPROVER (a
# username or user ID); F is the output, ST pamtester's status.
N=0
signin() {
    N=$((N + 1))
    F=$dir/out.$N.$1.$2.$3
    : >"$F"
    pamtester_run "$dir/pam.d" "$1" "$2" authenticate </dev/null >"$F" 2>&1 &
    si_pid=$!
    si_code=$(wait_for_code "$F") || { kill $si_pid; fail "no device code: $(cat "$F")"; }
    idp_ctl POST /device/approve "{\"user_code\":\"$si_code\",\"username\":\"$3\"}" >/dev/null ||
        fail "approve as $3"
    wait $si_pid
    ST=$?
}
# refused WHAT LOG TEXT: the last sign-in failed with PAM_AUTH_ERR, logged LOG, showed TEXT.
refused() {
    pam_expect PAM_AUTH_ERR "$1" "$3"
    assert_logged "$F" "$2" "$1"
    assert_logged "$F" "^auth-failed user=alice service=[ab] error=collision" "$1"
}
no_record() { [ ! -e "$dir/$1/state/tokens/$2.json" ] || fail "a token record of $2 on host $1"; }
holder() { ctl_"$1" user --offline --json "$2" | python3 -c 'import json,sys; d=json.load(sys.stdin); print((d["snapshot"] or {}).get("sub"))'; }
jget_uid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot"]["uid"])'; }
record_sub() { sed -n 's/.*"sub":"\([^"]*\)".*/\1/p' "$dir/$1/state/tokens/$2.json"; }

# ==== host A: no [sync]
signin a alice malloryemail
refused "A: the e-mail claimant of alice" \
    '^auth-name-unconfirmed user=alice sub=malloryemail from="claim email \(local part\)"' \
    "the name alice comes from claim email (local part), not from a user name identical to it, and without [sync]"
signin a alice Alice
refused "A: Alice for alice" '^auth-name-unconfirmed user=alice sub=alicecase001' \
    "comes from claim username"
no_record a alice
[ ! -e "$dir/a/state/directory.snapshot" ] || assert_eq "$(holder a alice)" None "A: nobody holds alice"

signin a alice alice
pam_expect_ok "A: alice signs in as alice"
assert_eq "$(holder a alice)" "$alice" "A: alice holds alice"
signin a alice Alice
refused "A: Alice after alice" "^auth-name-held user=alice sub=alicecase001 holder_sub=$alice" \
    "the name alice belongs to another Logto user on this host; if that account is gone, an administrator frees the name with \`logtoctl logout --forget alice\`"
assert_eq "$(record_sub a alice)" "$alice" "A: alice's record is untouched"

# alice deleted in Logto, a new account named alice: refused until the administrator frees it.
idp_ctl DELETE /users/alice >/dev/null || fail "delete alice"
idp_ctl POST /users '{"id":"alicenew0001","password":"pw-alicenew0001","username":"alice"}' >/dev/null || fail "create the new alice"
signin a alice alicenew0001
refused "A: the new alice before logout --forget" "^auth-name-held user=alice sub=alicenew0001 holder_sub=$alice" \
    "logtoctl logout --forget alice"
out=$(ctl_a logout --forget alice 2>&1) || fail "logout --forget: $out"
assert_contains "$out" "removed from the directory snapshot"
signin a alice alicenew0001
pam_expect_ok "A: the new alice after the name was freed"
assert_eq "$(holder a alice)" alicenew0001
assert_eq "$(record_sub a alice)" alicenew0001

# Her UID changes in Logto: the refresh moves the snapshot and her record together, so the
# record still belongs to the holder and keeps deciding.
idp_ctl PATCH /users/alicenew0001 '{"custom_data":{"uidNumber":75123}}' >/dev/null || fail "uidNumber"
pam_try a-fresh alice acct_mgmt
pam_expect_ok "A: refreshed with the new UID"
assert_eq "$(ctl_a user --offline --json alice | jget_uid)" 75123 "A: the snapshot has the new UID"
assert_eq "$(sed -n 's/.*"uid":\([0-9]*\).*/\1/p' "$dir/a/state/tokens/alice.json")" 75123 "A: the record too"

# A record whose refresh the IdP refused decides nothing from its cached claims any more: the
# claims are seconds old (claims_max_age 1h), yet after the refused refresh the answer is no.
pam_try a-acct alice acct_mgmt
pam_expect_ok "A: fresh cached claims decide"
assert_logged "$F" "^account-ok user=alice service=a-acct decided=cached"
idp_ctl POST /users/alicenew0001/revoke >/dev/null || fail "revoke"
pam_try a-fresh alice acct_mgmt
pam_expect PAM_ACCT_EXPIRED "A: the refresh is refused" "the Logto session ended"
assert_logged "$F" "^refresh-refused user=alice sub=alicenew0001"
pam_try a-acct alice acct_mgmt
pam_expect PAM_ACCT_EXPIRED "A: cached claims after the session ended" "the Logto session ended"
assert_logged "$F" "^account-denied user=alice service=a-acct error=suspended"

# ==== host B: [sync]; the same people again, the new alice is alice now
signin b alice malloryemail
refused "B: the e-mail claimant, before any sync" \
    "^auth-name-not-owner user=alice sub=malloryemail owner_sub=alicenew0001" \
    "the name alice belongs to another Logto user, whose user name is identical to it"
signin b alice Alice
refused "B: Alice" "^auth-name-not-owner user=alice sub=alicecase001 owner_sub=alicenew0001" \
    "whose user name is identical to it"
no_record b alice
signin b alice alicenew0001
pam_expect_ok "B: alice (identical username) signs in"

# After a sync, the same.
ctl_b sync >/dev/null 2>&1 || fail "sync on B"
signin b alice malloryemail
refused "B: the e-mail claimant, after a sync" "^auth-name-not-owner user=alice sub=malloryemail" \
    "belongs to another Logto user"

# Deleted and created again: the new account takes the name (the API confirms the old one is
# gone), before a sync...
idp_ctl DELETE /users/alicenew0001 >/dev/null || fail "delete"
idp_ctl POST /users '{"id":"alicenew0002","password":"pw-alicenew0002","username":"alice"}' >/dev/null || fail "create"
signin b alice alicenew0002
pam_expect_ok "B: the re-created alice, before a sync"
assert_logged "$F" "^name-reassigned user=alice old_sub=alicenew0001 new_sub=alicenew0002 old=gone-or-renamed"
assert_logged "$F" "^record-replaced user=alice old_sub=alicenew0001 new_sub=alicenew0002"
assert_eq "$(holder b alice)" alicenew0002

# ... and after one: the deleted account's record is left over; it decides nothing.
cp "$dir/b/state/tokens/alice.json" "$dir/alice-0002.json"
idp_ctl DELETE /users/alicenew0002 >/dev/null || fail "delete"
idp_ctl POST /users '{"id":"alicenew0003","password":"pw-alicenew0003","username":"alice","roles":["admin"]}' >/dev/null || fail "create"
ctl_b sync >/dev/null 2>&1 || fail "sync on B"
assert_eq "$(holder b alice)" alicenew0003 "the sync gave alice to the new account"
assert_eq "$(record_sub b alice)" alicenew0002 "the old record is still there"
out=$(ctl_b status --offline 2>&1) || :
assert_contains "$out" "token record alice: belongs to Logto user alicenew0002"
assert_contains "$out" "but the name now belongs to alicenew0003"
assert_contains "$out" "NOT the name's holder (unused)"
out=$(ctl_b token --user alice 2>&1) && fail "logtoctl token used another subject's record"
assert_contains "$out" "the token record of alice belongs to Logto user alicenew0002"
pam_try b-acct alice acct_mgmt
pam_expect_ok "B: the account phase asks the Management API for the new alice"
assert_logged "$F" "^record-foreign user=alice record_sub=alicenew0002 record_uid=[0-9]+ holder_sub=alicenew0003"
assert_logged "$F" "^account-ok user=alice service=b-acct decided=mgmt-lookup"
assert_eq "$(record_sub b alice)" alicenew0003 "the record is the holder's now"

# On host A (no Management API) a leftover record of another subject denies.
cp "$dir/alice-0002.json" "$dir/a/state/tokens/alice.json"
pam_try a-acct alice acct_mgmt
pam_expect PAM_PERM_DENIED "A: a leftover record of another subject" \
    "no Logto sign-in on this host and no Management API credentials to check"
assert_logged "$F" "^record-foreign user=alice record_sub=alicenew0002 record_uid=[0-9]+ holder_sub=alicenew0001"
assert_not_logged "$F" "^account-ok"

# ==== blocked: Carl and CARL (no carl) on host B
idp_ctl POST /users '{"id":"carlupper001","password":"pw-carlupper001","username":"Carl"}' >/dev/null || fail "create Carl"
idp_ctl POST /users '{"id":"carlupper002","password":"pw-carlupper002","username":"CARL"}' >/dev/null || fail "create CARL"
ctl_b sync >/dev/null 2>&1 || fail "sync on B"
# Refused before any request: no device code is shown, nothing reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
pam_try b carl authenticate
pam_expect PAM_AUTH_ERR "B: the blocked carl" \
    "the name carl is blocked: 2 Logto users claim the name carl"
assert_logged "$F" '^auth-name-blocked user=carl sub=- uid=0 reason="2 Logto users claim'
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for the blocked carl"
pam_try b-acct carl acct_mgmt
pam_expect PAM_PERM_DENIED "B: account phase for a blocked name" "the name carl is blocked"
no_record b carl

# A name the host does not serve yet (no sync since these users appeared): the account phase's
# Management API lookup gives it only to its owner, and `Dora` and dora@example.com are none.
idp_ctl POST /users '{"id":"doraupper001","username":"Dora"}' >/dev/null || fail "create Dora"
idp_ctl POST /users '{"id":"doraemail001","username":null,"email":"dora@example.com"}' >/dev/null ||
    fail "create dora's e-mail"
pam_try b-acct dora acct_mgmt
pam_expect PAM_PERM_DENIED "B: account phase, an unserved name with two claimants" \
    "the name dora is claimed by 2 Logto users and none by a user name identical to it"
assert_logged "$F" "^auth-name-not-owner user=dora sub=doraupper001 owner_sub=none"
assert_eq "$(holder b dora)" None "dora is not served"

# ==== with the Management API, a record whose session ended is replaced by a lookup
signin b alice alicenew0003
pam_expect_ok "B: alice signs in"
idp_ctl POST /users/alicenew0003/revoke >/dev/null || fail "revoke"
pam_try b-fresh alice acct_mgmt
pam_expect PAM_ACCT_EXPIRED "B: the refresh is refused" "the Logto session ended"
pam_try b-acct alice acct_mgmt
pam_expect_ok "B: after a refused refresh, the Management API decides"
assert_logged "$F" "^account-ok user=alice service=b-acct decided=mgmt-lookup"
pam_test_done "$dir" m2m-secret
