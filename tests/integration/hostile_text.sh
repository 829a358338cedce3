#!/bin/sh
# SPDX-License-Identifier: MIT
# Text from the IdP reaches people clean (issue 12.6): an IdP that puts C1 controls (U+009B, the
# 8-bit CSI, encoded and as a raw byte), bidi overrides and marks (U+202E, U+200F) and terminal
# escapes into every string that is shown (the device answer's URIs and user code, a denied
# poll's error_description, a user's name, a role name, an organization name) gets none of them
# onto the terminal: through the PAM conversation (pamtester), the module's log, logtoctl's
# output and getent. URIs are percent-encoded (and still work), other text shows '?'.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require
need_root
[ -x "${LOGTOCTL:-}" ] || skip "LOGTOCTL is not set (run through make check)"

# Codes nobody approves (the refused ones never show one) expire fast.
idp_start --device-ttl 20 || exit $?
dir=$(test_tmpdir)
printf 'm2m-secret\n' >"$dir/m2m.secret"
chmod 0600 "$dir/m2m.secret"
pam_write_config "$dir/logto.conf" "$dir" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $dir/m2m.secret
[service *]
allow_any_user = yes
flow = device
qr = no"
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
pam_service "$dir/pam.d" logto-device "auth required $mod" "account required $mod"

RLO=$(printf '\342\200\256')  # U+202E RIGHT-TO-LEFT OVERRIDE
RLM=$(printf '\342\200\217')  # U+200F RIGHT-TO-LEFT MARK
CSI8=$(printf '\302\233')     # U+009B, UTF-8 encoded
CSI_RAW=$(printf '\233')      # 0x9b alone
ESC=$(printf '\033')

# assert_clean FILE WHAT: none of the hostile characters (nor an ESC, nor a lone 0x9b) is in FILE.
assert_clean() {
    for ac_c in "$RLO" "$RLM" "$CSI8" "$ESC"; do
        ! LC_ALL=C grep -qF -- "$ac_c" "$1" ||
            fail "$2: a hostile character reached the output: $(od -c "$1" | grep -m3 -E '342|302|033')"
    done
    ! LC_ALL=C grep -q -- "$CSI_RAW" "$1" || fail "$2: a raw 0x9b byte reached the output"
}

# signin USER FAULT ENDPOINT: one pamtester device sign-in with FAULT injected once; approves the
# code when one is shown. Output in $dir/out.FAULT, status in ST.
signin() {
    F=$dir/out.$2
    idp_ctl POST /faults "{\"endpoint\":\"$3\",\"fault\":\"$2\",\"count\":1}" >/dev/null ||
        fail "cannot inject $2"
    pamtester_run "$dir/pam.d" logto-device "$1" authenticate </dev/null >"$F" 2>&1 &
    pid=$!
    # Wait for a code, or for pamtester to give up (refused answers show no code).
    code=""
    while [ -z "$code" ] && kill -0 $pid 2>/dev/null; do
        code=$(grep -oE '[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}' "$F" | head -1)
        [ -n "$code" ] || sleep 0.1
    done
    if [ -n "$code" ] && [ "$2" != hostile_error ]; then
        idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"$1\"}" \
            >/dev/null || fail "$2: the approval failed"
    fi
    wait $pid
    ST=$?
    idp_ctl DELETE /faults >/dev/null
}

# A user whose profile is hostile: display name, a role name, an organization name.
idp_ctl POST /roles "{\"name\":\"ops\\u202e\\u009b\"}" >/dev/null || fail "cannot add the role"
org=$(idp_json_field "$(idp_ctl POST /organizations \
    "{\"name\":\"Initech\\u202e\\u009b31m\\u200f\"}")" id)
[ -n "$org" ] || fail "cannot add the organization"
idp_ctl POST /users "{\"username\":\"mallory\",\"password\":\"mallory-pass-1\",
    \"name\":\"Mallory\\u202e\\u009b31m\\u200fevil\",\"roles\":[\"developer\",\"ops\\u202e\\u009b\"],
    \"organizations\":[{\"id\":\"$org\",\"roles\":[\"member\"]}]}" >/dev/null ||
    fail "cannot add mallory"

# 1. verification_uri_complete with U+202E, U+009B and U+200F: shown percent-encoded, and the
# sign-in works (mallory's hostile name, role and organization name are now in the directory).
signin mallory hostile_uri device_auth
[ "$ST" = 0 ] || fail "sign-in with a hostile URI: $(cat "$F")"
assert_contains "$(cat "$F")" "&note=%E2%80%AE%C2%9B31m%E2%80%8Fevil" "the link shown"
assert_clean "$F" "hostile_uri"

# 2. The same with a raw 0x9b byte (the body is not UTF-8, so not JSON): refused, cleanly.
signin mallory hostile_uri_bytes device_auth
[ "$ST" != 0 ] || fail "a device answer that is not UTF-8 was used"
assert_pam_code "$F" PAM_AUTHINFO_UNAVAIL "not UTF-8"
assert_contains "$(cat "$F")" "Logto sign-in failed: " "the message (not UTF-8)"
assert_clean "$F" "hostile_uri_bytes"

# 3. ESC and BEL in the URI (terminal escapes): no URI holds a control character: refused.
signin mallory hostile_uri_control device_auth
[ "$ST" != 0 ] || fail "a URI with escapes was used"
assert_pam_code "$F" PAM_AUTHINFO_UNAVAIL "escape in the URI"
assert_contains "$(cat "$F")" "verification_uri_complete holds control characters or spaces"
assert_logged "$F" '^auth-failed user=mallory .*verification_uri_complete holds control'
assert_clean "$F" "hostile_uri_control"

# 4. A user code with bidi and C1 characters: refused (a code is short printable ASCII).
signin mallory hostile_user_code device_auth
[ "$ST" != 0 ] || fail "a hostile user code was shown"
assert_contains "$(cat "$F")" "user_code is not short printable text"
assert_clean "$F" "hostile_user_code"

# 5. A denied poll whose error_description carries them: plain words for the person; the
# description is never shown, nor logged raw.
signin mallory hostile_error token
[ "$ST" != 0 ] || fail "a denied sign-in succeeded"
assert_pam_code "$F" PAM_AUTH_ERR "denied"
assert_contains "$(cat "$F")" "Logto sign-in failed: the sign-in was denied in the browser"
assert_clean "$F" "hostile_error"

# 6. What logtoctl prints about mallory (gecos, role, organization name) and getent's gecos.
wrap "$LOGTOCTL" --config "$dir/logto.conf" user mallory >"$dir/user.out" 2>&1 ||
    fail "logtoctl user mallory: $(cat "$dir/user.out")"
# (gecos: C0 and C1 become spaces, as ':' and ',' do; the rest '?'.)
assert_contains "$(cat "$dir/user.out")" "Mallory? 31m?evil" "logtoctl user (gecos)"
assert_contains "$(cat "$dir/user.out")" " ops??" "logtoctl user (role)"
assert_contains "$(cat "$dir/user.out")" "(Initech? 31m?)" "logtoctl user (organization)"
assert_clean "$dir/user.out" "logtoctl user"
# --json keeps the data, escaped: \u escapes are plain ASCII.
wrap "$LOGTOCTL" --config "$dir/logto.conf" --json user mallory >"$dir/user.json" 2>&1 ||
    fail "logtoctl --json user mallory: $(cat "$dir/user.json")"
assert_contains "$(cat "$dir/user.json")" 'ops\u202E\u009B' "logtoctl --json user (role)"
assert_clean "$dir/user.json" "logtoctl --json user"
# An error message that quotes what the person typed is cleaned too.
wrap "$LOGTOCTL" --config "$dir/logto.conf" user "x${RLO}y${CSI_RAW}" >"$dir/bad.out" 2>&1 &&
    fail "logtoctl user accepted a hostile name"
assert_clean "$dir/bad.out" "logtoctl user (bad name)"

pam_test_done "$dir" mallory-pass-1
