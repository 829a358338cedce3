#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto device-flow sign-in through pamtester: approved by the right user, by the wrong
# user, denied, expired; then the account phase from the fresh record (no network call).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"

idp_start || exit $?
dir=$(test_tmpdir)
write_config "$dir/logto.conf" "$dir" "[service *]
flow = device
qr = no"
pam_service "$dir/pam.d" logto-device \
    "auth required $LOGTO_PAM_MODULE config=$dir/logto.conf" \
    "account required $LOGTO_PAM_MODULE config=$dir/logto.conf"

# device_signin USER APPROVER|deny|expire: run pamtester, act on the code, print its status.
device_signin() {
    out="$dir/out.$1.$2"
    : >"$out"
    pamtester_run "$dir/pam.d" logto-device "$1" authenticate acct_mgmt </dev/null >"$out" 2>&1 &
    pid=$!
    code=$(wait_for_code "$out") || { kill $pid; cat "$out"; fail "no device code shown"; }
    case "$2" in
    deny) idp_ctl POST /device/deny "{\"user_code\":\"$code\"}" >/dev/null ;;
    expire) idp_ctl POST /device/expire "{\"user_code\":\"$code\"}" >/dev/null ;;
    *) idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"$2\"}" >/dev/null ;;
    esac || fail "control API refused $2"
    wait $pid
    echo $?
}

# 1. alice approves her own code: authenticated, and the account phase allows.
st=$(device_signin alice alice)
out=$(cat "$dir/out.alice.alice")
assert_eq "$st" 0 "pamtester status (alice)"
assert_contains "$out" "successfully authenticated"
assert_contains "$out" "account management"
assert_contains "$out" "/device?user_code="
[ -f "$dir/state/tokens/alice.json" ] || fail "no token record for alice"
[ "$(stat -c %a "$dir/state/tokens/alice.json")" = 600 ] || fail "token record is not 0600"
[ -f "$dir/state/directory.snapshot" ] || fail "no directory snapshot after sign-in"

# 2. bob approves a code that alice asked for: refused, nothing recorded for bob.
st=$(device_signin alice bob)
[ "$st" != 0 ] || fail "a code approved by bob signed alice in"
assert_contains "$(cat "$dir/out.alice.bob")" "not as alice"

# 3. denied and 4. expired codes.
st=$(device_signin bob deny)
[ "$st" != 0 ] || fail "a denied code signed bob in"
st=$(device_signin bob expire)
[ "$st" != 0 ] || fail "an expired code signed bob in"
[ ! -f "$dir/state/tokens/bob.json" ] || fail "a failed sign-in left a token record for bob"

# 5. The account phase right after sign-in decides from the record: no request reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
pamtester_run "$dir/pam.d" logto-device alice acct_mgmt </dev/null >"$dir/acct.out" 2>&1 ||
    { cat "$dir/acct.out"; fail "account phase for alice"; }
total=$(idp_json_field "$(idp_ctl GET /stats)" total)
assert_eq "$total" 0 "IdP requests made by a fresh-claims account check"

# Nothing secret reached the output.
rt=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$dir/state/tokens/alice.json")
[ -n "$rt" ] || fail "no refresh token in alice's record"
assert_no_secrets "$dir"/out.* "$dir/acct.out" -- "$rt"
echo "ok"
