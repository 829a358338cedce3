#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto device-flow sign-in through pamtester: approved by the right user, by the wrong
# user, denied, expired, timed out (the approval stalls at consent: app-level access control);
# the IdP going down mid-poll (briefly: recovered; for good: PAM_AUTHINFO_UNAVAIL); what the
# user sees (link, code, QR code only for terminals and never with qr=no, the "press Enter"
# prompt with enter_prompt=yes and over SSH); then the account phase from the fresh record (no
# network call).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

# Device codes live 12 s here (60 s under valgrind), so a code nobody approves times out quickly.
ttl=12
pam_slow && ttl=60
idp_start --device-ttl $ttl || exit $?
dir=$(test_tmpdir)
# [sync] enumerate = no: sign-in writes it into the snapshot too (checked after step 1).
pam_write_config "$dir/logto.conf" "$dir" "[sync]
enumerate = no
[service *]
allow_any_user = yes
flow = device
qr = no
[service logto-qr]
qr = yes
[service logto-enter]
enter_prompt = yes"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in logto-device logto-qr logto-enter; do
    pam_service "$dir/pam.d" $s "auth required $mod" "account required $mod"
done
pam_service "$dir/pam.d" logto-noqr "auth required $mod qr=no" "account required $mod"

QR_BLOCK=$(printf '\342\226\210') # U+2588 FULL BLOCK: only a QR code draws it

# device_signin USER APPROVER|deny|expire|stall [SERVICE [pamtester options]]: run pamtester,
# act on the code, print pamtester's status. The output is in $dir/out.USER.APPROVER.
device_signin() {
    ds_user=$1 ds_act=$2 ds_svc=${3:-logto-device}
    shift 2
    [ $# -gt 0 ] && shift
    out="$dir/out.$ds_user.$ds_act"
    : >"$out"
    pamtester_run "$dir/pam.d" "$@" "$ds_svc" "$ds_user" authenticate acct_mgmt </dev/null \
        >"$out" 2>&1 &
    pid=$!
    code=$(wait_for_code "$out") || { kill $pid; cat "$out"; fail "no device code shown"; }
    case "$ds_act" in
    deny) idp_ctl POST /device/deny "{\"user_code\":\"$code\"}" >/dev/null ;;
    expire) idp_ctl POST /device/expire "{\"user_code\":\"$code\"}" >/dev/null ;;
    stall) # app-level access control: bob's browser sign-in stops at Logto's consent page
        # (logto-real-1.42.md D12), the approval never completes and the code stays pending.
        idp_ctl PUT /apps/device-app/access-control '{"roles":["admin"]}' >/dev/null &&
            ! idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"bob\"}" \
                >"$dir/stall.json" 2>&1 &&
            grep -q 'stopped at the consent page' "$dir/stall.json" &&
            idp_ctl DELETE /apps/device-app/access-control >/dev/null
        ;;
    *) idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"$ds_act\"}" >/dev/null ;;
    esac || fail "control API refused $ds_act"
    wait $pid
    echo $?
}

# 1. alice approves her own code: authenticated, and the account phase allows.
st=$(device_signin alice alice)
f=$dir/out.alice.alice
assert_eq "$st" 0 "pamtester status (alice)"
out=$(cat "$f")
assert_contains "$out" "successfully authenticated"
assert_contains "$out" "account management"
# One message: the complete link (with the code in it), then the code to compare.
code=$(wait_for_code "$f")
assert_contains "$out" "$IDP_URL/device?user_code=$code" "the message"
assert_contains "$out" "confirm the code $code" "the message"
assert_not_contains "$out" "$QR_BLOCK" "output without a terminal (no QR code expected)"
assert_not_contains "$out" "Press Enter" "output of a service that does not buffer"
assert_logged "$f" "^device-flow-started "
assert_logged "$f" "^auth-ok user=alice service=logto-device method=device uid=[0-9]+$"
assert_logged "$f" "^account-ok user=alice service=logto-device decided=cached"
[ -f "$dir/state/tokens/alice.json" ] || fail "no token record for alice"
[ "$(stat -c %a "$dir/state/tokens/alice.json")" = 600 ] || fail "token record is not 0600"
[ -f "$dir/state/directory.snapshot" ] || fail "no directory snapshot after sign-in"
assert_contains "$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$dir/state/directory.snapshot")" \
    "enumerate:no" "snapshot written by sign-in with [sync] enumerate = no"

# 2. bob approves a code that alice asked for: refused, with a log line naming both.
st=$(device_signin alice bob)
[ "$st" != 0 ] || fail "a code approved by bob signed alice in"
f=$dir/out.alice.bob
assert_contains "$(cat "$f")" "signed in to Logto as bob, not as alice"
assert_pam_code "$f" PAM_AUTH_ERR "wrong approver"
assert_logged "$f" "^auth-wrong-user user=alice signed_in_as=bob sub="

# 3. denied, 4. expired (the IdP says expired_token) and 5. timed out (the approval stalls at
# the consent page, nobody completes it until the code's lifetime is over): each refused with a message saying which.
# The person reads plain words; the endpoint and the OAuth error go to the log.
told() { grep '^Logto sign-in failed: ' "$1"; }
expired="Logto sign-in failed: the sign-in code expired before it was confirmed; start again for a new code"
st=$(device_signin bob deny)
[ "$st" != 0 ] || fail "a denied code signed bob in"
assert_eq "$(told "$dir/out.bob.deny")" "Logto sign-in failed: the sign-in was denied in the browser" \
    "message for a denied code"
assert_logged "$dir/out.bob.deny" '^auth-failed user=bob service=logto-device error=denied reason=".*access_denied'
assert_pam_code "$dir/out.bob.deny" PAM_AUTH_ERR "denied code"
st=$(device_signin bob expire)
[ "$st" != 0 ] || fail "an expired code signed bob in"
assert_eq "$(told "$dir/out.bob.expire")" "$expired" "message for an expired code"
assert_logged "$dir/out.bob.expire" '^auth-failed user=bob service=logto-device error=expired reason=".*expired_token'
assert_pam_code "$dir/out.bob.expire" PAM_AUTH_ERR "expired code"
# Timed out: bob's approval stalls at the consent page (app-level access control, he lacks the
# role), so nobody completes the code before its lifetime is over.
st=$(device_signin bob stall)
[ "$st" != 0 ] || fail "a code nobody approved signed bob in"
# (Whichever notices first, the IdP's expired_token or the module's own deadline, says so.)
assert_eq "$(told "$dir/out.bob.stall")" "$expired" "message for a timed-out code"
assert_pam_code "$dir/out.bob.stall" PAM_AUTH_ERR "timed-out code"
[ ! -f "$dir/state/tokens/bob.json" ] || fail "a failed sign-in left a token record for bob"

# 6. QR code: drawn for a terminal (PAM_TTY), never for an X display or with qr=no.
st=$(device_signin bob bob logto-qr -I tty=/dev/pts/7)
assert_eq "$st" 0 "pamtester status (bob, QR)"
assert_contains "$(cat "$dir/out.bob.bob")" "$QR_BLOCK" "output for a terminal"
st=$(device_signin erin erin logto-qr -I tty=:0)
assert_eq "$st" 0 "pamtester status (erin, X display)"
assert_not_contains "$(cat "$dir/out.erin.erin")" "$QR_BLOCK" "output for an X display"
rm -f "$dir/state/tokens/bob.json"
st=$(device_signin bob bob logto-noqr -I tty=/dev/pts/7)
assert_eq "$st" 0 "pamtester status (bob, qr=no argument)"
assert_not_contains "$(cat "$dir/out.bob.bob")" "$QR_BLOCK" "output with qr=no"

# 7. enter_prompt=yes: the code is shown, then an echo-off "press Enter" prompt; polling starts
# only after the answer. The conversation's stdin is a FIFO we hold open.
mkfifo "$dir/enter.fifo"
f=$dir/out.enter
pamtester_run "$dir/pam.d" logto-enter alice authenticate <"$dir/enter.fifo" >"$f" 2>&1 &
pid=$!
exec 3>"$dir/enter.fifo"
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown (enter_prompt): $(cat "$f")"; }
wait_for_text "$f" "Press Enter once you have signed in" ||
    { kill $pid; fail "no 'press Enter' prompt: $(cat "$f")"; }
idp_ctl POST /stats/reset >/dev/null
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"alice\"}" >/dev/null ||
    fail "approve (enter_prompt)"
sleep 2
polls=$(idp_json_field "$(idp_ctl GET /stats)" "POST /oidc/token")
[ -z "$polls" ] || [ "$polls" = 0 ] || fail "the module polled ($polls) before Enter was pressed"
echo >&3
exec 3>&-
wait $pid || fail "enter_prompt sign-in failed: $(cat "$f")"
polls=$(idp_json_field "$(idp_ctl GET /stats)" "POST /oidc/token")
[ "${polls:-0}" -ge 1 ] || fail "no poll after Enter"

# 8. Over SSH (sshd or a remote host) enter_prompt=auto asks too: OpenSSH buffers PAM text.
f=$dir/out.rhost
printf '\n' >"$dir/enter.txt"
pamtester_run "$dir/pam.d" -I rhost=192.0.2.1 logto-device alice authenticate <"$dir/enter.txt" \
    >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown (rhost)"; }
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"alice\"}" >/dev/null
wait $pid || fail "remote sign-in failed: $(cat "$f")"
assert_contains "$(cat "$f")" "Press Enter once you have signed in" "output for a remote host"

# 9. The IdP goes down mid-poll and comes back: polling retries, the sign-in succeeds.
f=$dir/out.down-up
pamtester_run "$dir/pam.d" logto-device alice authenticate </dev/null >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown (down/up)"; }
idp_ctl POST /down >/dev/null
i=0
until pam_log "$f" | grep -q '^device-flow-poll-failed retry=1'; do
    i=$((i + 1))
    [ $i -lt 200 ] || { kill $pid; fail "no failed poll logged while the IdP was down: $(cat "$f")"; }
    sleep 0.1
done
idp_ctl POST /up >/dev/null
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"alice\"}" >/dev/null
wait $pid || fail "sign-in after the IdP came back failed: $(cat "$f")"

# 10. The IdP goes down mid-poll for good: a few retries, then PAM_AUTHINFO_UNAVAIL and a
# message that says the IdP cannot be reached (never "wrong password"-like text).
f=$dir/out.down
pamtester_run "$dir/pam.d" logto-device alice authenticate </dev/null >"$f" 2>&1 &
pid=$!
code=$(wait_for_code "$f") || { kill $pid; fail "no device code shown (down)"; }
idp_ctl POST /down >/dev/null
wait $pid && fail "signed in while the IdP was down"
idp_ctl POST /up >/dev/null
assert_pam_code "$f" PAM_AUTHINFO_UNAVAIL "IdP down mid-poll"
assert_contains "$(cat "$f")" "Logto sign-in failed: cannot reach"
assert_logged "$f" "^device-flow-poll-failed retry=3 "
assert_logged "$f" "^auth-failed user=alice service=logto-device error=unreachable "

# 11. The account phase right after sign-in decides from the record: no request reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
pamtester_run "$dir/pam.d" logto-device alice acct_mgmt </dev/null >"$dir/acct.out" 2>&1 ||
    { cat "$dir/acct.out"; fail "account phase for alice"; }
total=$(idp_json_field "$(idp_ctl GET /stats)" total)
assert_eq "$total" 0 "IdP requests made by a fresh-claims account check"

# Nothing secret reached the output or the log.
rt=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$dir/state/tokens/alice.json")
[ -n "$rt" ] || fail "no refresh token in alice's record"
pam_test_done "$dir" "$rt" alice-pass-1 bob-pass-1 erin-pass-1
