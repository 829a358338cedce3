#!/bin/sh
# SPDX-License-Identifier: MIT
# Failed password attempts, through pamtester against the test IdP (which counts the requests
# it gets and locks an identifier after 5 failures in an hour, like Logto's sentinel):
#   the host limit (issue 13.6): five wrong `su bob`-like attempts send at most
#     host_lockout_attempts (3) passwords to the IdP, the rest and then the right password are
#     refused here (PAM_MAXTRIES, auth-host-lockout) without a request, until the window passes
#     (a second configuration on the same state with a 2 s window); six concurrent attempts are
#     counted exactly (three reach the IdP, three are refused); the user's own successes in
#     between do not buy an attacker more tries (the IdP counts every failure of its hour, and
#     locks at 5: it never does here); a count file that cannot be read refuses the user
#     (attempts-unreadable) and sends nothing;
#   offline passwords follow the online truth (issue 13.5): bob's password changed at the IdP,
#     the old one refused online removes his verifier (verifier-removed), and with the IdP down
#     the old password is refused offline too; offline guessing gets three answers, then a wait
#     (auth-offline-delay), and with offline_lock_after = 3 offline sign-in is switched off
#     (auth-offline-locked) until the next online sign-in; offline tries never count against
#     the host limit.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require
need_cmd python3

idp_start || exit $?
dir=$(test_tmpdir)
PAM_DIR=$dir
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
idp_ctl POST /users '{"username":"rita","password":"rita-pass-1","roles":["developer"]}' \
    >/dev/null || fail "create rita"
services="[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $dir/m2m.secret
[service *]
allow_any_user = yes
flow = password
qr = no
[service logto-nodelay]
offline_delay = 0
offline_lock_after = 3"
pam_write_config "$dir/logto.conf" "$dir" "$services"
# The same state with a 2 s window: the window passing, without waiting an hour.
pam_write_config "$dir/short.conf" "$dir" "[logto]
host_lockout_window = 2s
$services"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in logto-pw logto-nodelay; do
    pam_service "$dir/pam.d" $s "auth required $mod"
done
pam_service "$dir/pam.d" logto-short "auth required $LOGTO_PAM_MODULE config=$dir/short.conf"

down() { idp_ctl POST /down >/dev/null || fail "POST /down"; }
up() { idp_ctl POST /up >/dev/null || fail "POST /up"; }
# Password checks the IdP has received (the Experience API's password step).
sent() {
    idp_ctl GET /stats | python3 -c 'import json, sys
print(json.load(sys.stdin)["by_route"].get("POST /api/experience/verification/password", 0))'
}
# The times counted against the host limit in USER's count file.
counted() {
    python3 -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["failures"]))' "$dir/state/tokens/$1.attempts"
}
expect_host_lockout() { # USER WHAT
    pam_expect PAM_MAXTRIES "$2" "too many failed sign-in attempts for $1 on this host: try again in"
    assert_logged "$F" "^auth-host-lockout user=$1 failures=3 retry_in=[0-9]+$" "$2"
    assert_logged "$F" "^auth-failed user=$1 service=[a-z-]+ error=locked " "$2"
}

# ================================================================ the host limit
idp_ctl POST /stats/reset >/dev/null
for i in 1 2 3; do
    pam_try logto-pw bob authenticate "bad-pass-$i"
    pam_expect PAM_AUTH_ERR "bob, wrong password $i" "wrong user name or password"
done
for i in 4 5; do
    pam_try logto-pw bob authenticate "bad-pass-$i"
    expect_host_lockout bob "bob, wrong password $i"
done
assert_eq "$(sent)" 3 "passwords the IdP got for five wrong attempts"
pam_try logto-pw bob authenticate bob-pass-1
expect_host_lockout bob "bob's right password within the window"
assert_eq "$(sent)" 3 "passwords the IdP got for the right one within the window"

# Six attempts at once: exactly three reach the IdP, three are refused here.
before=$(sent)
printf 'bad-pass-c\n' >"$dir/c.in"
k=0
pids=
while [ $k -lt 6 ]; do
    k=$((k + 1))
    pamtester_run "$dir/pam.d" logto-pw erin authenticate <"$dir/c.in" >"$dir/out.c$k" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
locked=0 refused=0
for k in 1 2 3 4 5 6; do
    if grep -q "too many failed sign-in attempts for erin on this host" "$dir/out.c$k"; then
        assert_pam_code "$dir/out.c$k" PAM_MAXTRIES "concurrent attempt $k"
        locked=$((locked + 1))
    elif grep -q "wrong user name or password" "$dir/out.c$k"; then
        assert_pam_code "$dir/out.c$k" PAM_AUTH_ERR "concurrent attempt $k"
        refused=$((refused + 1))
    else
        fail "concurrent attempt $k: $(cat "$dir/out.c$k")"
    fi
done
assert_eq "$locked/$refused" "3/3" "concurrent attempts refused here / by the IdP"
assert_eq "$(($(sent) - before))" 3 "passwords the IdP got for six attempts at once"
assert_eq "$(counted erin)" 3 "erin's count"

# The user's own success in between does not erase the failures before it: the IdP would not
# either, and an attacker's tries between two of them would add up there. Two failures, a
# success, one failure: the next try is refused here.
for i in 1 2; do
    pam_try logto-pw rita authenticate "bad-pass-r$i"
    pam_expect PAM_AUTH_ERR "rita, failure $i" "wrong user name or password"
done
pam_try logto-pw rita authenticate rita-pass-1
pam_expect_ok "rita between the failures"
pam_try logto-pw rita authenticate bad-pass-r3
pam_expect PAM_AUTH_ERR "rita, failure 3" "wrong user name or password"
pam_try logto-pw rita authenticate rita-pass-1
expect_host_lockout rita "rita after three failures and a success"

# The window passes (2 s here): the right passwords work, so the IdP locked none of them (its
# limit, 5 failures in an hour, was never reached from this host).
sleep 2
before=$(sent)
for u in bob erin rita; do
    pam_try logto-short $u authenticate "$u-pass-1"
    pam_expect_ok "$u after the window"
    assert_eq "$(counted $u)" 0 "$u's count after the window"
done
assert_eq "$(($(sent) - before))" 3 "passwords the IdP got after the window"

# A count file that cannot be read never resets the count: the user is refused, nothing sent.
before=$(sent)
printf '{"version":1,"failures":[1,2' >"$dir/state/tokens/alice.attempts"
chmod 0600 "$dir/state/tokens/alice.attempts"
pam_try logto-pw alice authenticate alice-pass-1
pam_expect PAM_MAXTRIES "alice with a torn count file" \
    "the failed sign-in count of alice on this host cannot be used"
assert_logged "$F" "^attempts-unreadable user=alice reason=\".*alice.attempts"
assert_eq "$(sent)" "$before" "passwords the IdP got for alice"
rm "$dir/state/tokens/alice.attempts"
pam_try logto-pw alice authenticate alice-pass-1
pam_expect_ok "alice once the file is removed"

# ================================================================ offline passwords
# Anybody's wrong password for rita, refused online, leaves rita's verifier (and so her offline
# sign-in) alone.
grep -q '"verifier":"' "$dir/state/tokens/rita.json" || fail "rita has no verifier to begin with"
pam_try logto-short rita authenticate not-ritas-password
pam_expect PAM_AUTH_ERR "a wrong password for rita online" "wrong user name or password"
assert_not_logged "$F" "^verifier-removed "
grep -q '"verifier":"' "$dir/state/tokens/rita.json" || fail "a wrong password removed rita's verifier"
# bob's password is changed at the IdP: the old one, refused online, is gone offline too.
grep -q '"verifier":"' "$dir/state/tokens/bob.json" || fail "bob has no verifier to begin with"
idp_ctl PATCH /users/bob '{"password":"bob-pass-2"}' >/dev/null || fail "change bob's password"
pam_try logto-pw bob authenticate bob-pass-1
pam_expect PAM_AUTH_ERR "bob's old password online" "wrong user name or password"
assert_logged "$F" "^verifier-removed user=bob error=denied$"
! grep -q '"verifier":"' "$dir/state/tokens/bob.json" || fail "bob's verifier is still there"
down
pam_try logto-pw bob authenticate bob-pass-1
pam_expect PAM_AUTHINFO_UNAVAIL "bob's old password offline"
assert_not_logged "$F" "^auth-(ok|offline) "
assert_logged "$F" "^auth-failed user=bob service=logto-pw error=unreachable "
assert_not_contains "$(cat "$F")" "successfully authenticated" "bob's old password offline"

# Offline guessing: three wrong passwords are answered, then every try must wait (even with the
# right password, which is not checked then).
for i in 1 2 3; do
    pam_try logto-pw alice authenticate "guess-$i"
    pam_expect PAM_AUTH_ERR "alice offline, guess $i" "wrong password (checked offline"
    assert_logged "$F" "^auth-offline-failed user=alice failures=$i$"
done
pam_try logto-pw alice authenticate alice-pass-1
pam_expect PAM_MAXTRIES "alice offline after three guesses" \
    "too many wrong passwords for alice while the IdP cannot be reached: try again in"
assert_logged "$F" "^auth-offline-delay user=alice failures=3 retry_in=[0-9]+$"
assert_eq "$(counted alice)" 0 "alice's host count (offline tries never reach the IdP)"

# With offline_lock_after = 3 (and no waits) the third wrong password switches offline sign-in off.
for i in 1 2 3; do
    pam_try logto-nodelay erin authenticate "guess-$i"
    pam_expect PAM_AUTH_ERR "erin offline, guess $i" "wrong password (checked offline"
done
pam_try logto-nodelay erin authenticate erin-pass-1
pam_expect PAM_MAXTRIES "erin offline after three guesses" \
    "offline sign-in of erin is off after 3 wrong passwords"
assert_logged "$F" "^auth-offline-locked user=erin failures=3$"
# The next online sign-in turns it back on.
up
pam_try logto-nodelay erin authenticate erin-pass-1
pam_expect_ok "erin online"
down
pam_try logto-nodelay erin authenticate erin-pass-1
pam_expect_ok "erin offline after the online sign-in"
assert_logged "$F" "^auth-offline user=erin verifier_age=[0-9]+$"
up

pam_test_done "$dir" alice-pass-1 bob-pass-1 bob-pass-2 erin-pass-1 rita-pass-1 bad-pass-1 \
    bad-pass-c bad-pass-r1 not-ritas-password guess-1 m2m-secret
