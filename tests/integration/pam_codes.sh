#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_logto's exact return codes per phase (tests/module/test_pam_codes: libpamtest through
# libpam, or the module's entry point called directly where libpam would hide the code):
#   local accounts: PAM_IGNORE in every phase (more in pam_local_first.sh);
#   invalid user names: PAM_USER_UNKNOWN; configuration errors and bad module arguments:
#   PAM_SERVICE_ERR (the account phase fails closed: PAM_PERM_DENIED);
#   sign-in: PAM_SUCCESS, PAM_AUTH_ERR, PAM_MAXTRIES, PAM_AUTHINFO_UNAVAIL (IdP down),
#   PAM_USER_UNKNOWN for a name that is no Logto user of this host (not in its snapshot, and
#   this host has no [sync]): no password is sent;
#   account: PAM_SUCCESS, PAM_PERM_DENIED (rules), PAM_ACCT_EXPIRED (suspended),
#   PAM_USER_UNKNOWN (nobody's name); setcred and sessions: PAM_SUCCESS;
#   an unprivileged caller with no logto-helper socket: PAM_AUTHINFO_UNAVAIL before any request
#   reaches the IdP (with the helper: tests/e2e/screen_lock.sh).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

need_cmd setpriv
[ -x "$top_builddir/tests/module/test_pam_codes" ] ||
    skip "tests/module/test_pam_codes is not built (needs libpamtest)"
idp_start || exit $?
dir=$(test_tmpdir)
pam_codes_setup "$dir"
# The host's failed-attempt limit (pam_attempts.sh) above the wrong passwords tried here.
pam_write_config "$dir/logto.conf" "$dir" "[logto]
host_lockout_attempts = 20
[service *]
allow_any_user = yes
flow = password
qr = no
[service codes-admin]
require_roles = admin
[service codes-now]
claims_max_age = 0
[service codes-offline0]
offline_grace = 0"
mkdir -p "$dir/bad"
printf '[logto]\nendpoint = %s\nclient_id = device-app\nfrobnicate = yes\n' "$IDP_URL" \
    >"$dir/bad/logto.conf"
mkdir -p "$dir/mgmtstar"
pam_write_config "$dir/mgmtstar/logto.conf" "$dir" "[service *]
allow_any_user = yes
flow = password
password_method = management"
chmod 0644 "$dir/bad/logto.conf"
pam_seed_snapshot "$dir/state" alice bob carol erin
mod="$LOGTO_PAM_MODULE config=$dir/logto.conf"
for s in codes codes-admin codes-now codes-offline0; do
    pam_service "$dir/pam.d" $s "auth required $mod" \
        "account required $mod" "session required $mod"
done
for c in bad mgmtstar; do
    m="$LOGTO_PAM_MODULE config=$dir/$c/logto.conf"
    pam_service "$dir/pam.d" codes-$c "auth required $m" "account required $m" "session required $m"
done
pam_service "$dir/pam.d" codes-badarg "auth required $mod frobnicate=1" \
    "account required $mod require_roles=admin claims_max_age=forever"


# ---- local accounts are pam_unix's
pam_code --direct "config=$dir/logto.conf" -- codes root auth PAM_IGNORE anything
pam_code --direct "config=$dir/logto.conf" -- codes root account PAM_IGNORE
pam_code --direct "config=$dir/logto.conf" -- codes root open_session PAM_IGNORE
pam_code --direct "config=$dir/logto.conf" -- codes root close_session PAM_IGNORE
pam_code --direct "config=$dir/logto.conf" -- codes daemon account PAM_IGNORE

# ---- names that can never be Logto users
pam_code codes 'Bad/Name' auth PAM_USER_UNKNOWN anything
assert_logged "$F" '^user-invalid service=codes user="Bad/Name"$'
pam_code codes ALICE auth PAM_USER_UNKNOWN anything
pam_code codes ALICE account PAM_USER_UNKNOWN
pam_code codes "$(printf 'al\tice')" auth PAM_USER_UNKNOWN anything

# ---- configuration errors fail closed, naming the problem
pam_code codes-bad alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "^config-error .*logto.conf:4: .*frobnicate"
pam_code codes-bad alice account PAM_PERM_DENIED
pam_code --direct "config=$dir/bad/logto.conf" -- codes-bad alice account PAM_PERM_DENIED
pam_code codes-mgmtstar alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "management"
pam_code codes-badarg alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "^config-error service=codes-badarg .*frobnicate"
pam_code codes-badarg alice account PAM_PERM_DENIED
pam_code --direct "config=$dir/logto.conf" "config=$dir/missing.conf" -- codes alice auth \
    PAM_SERVICE_ERR anything

# ---- sign-in
pam_code codes alice auth PAM_SUCCESS alice-pass-1
pam_code codes alice auth PAM_AUTH_ERR wrong-password-1
pam_code codes carol auth PAM_AUTH_ERR carol-pass-1
idp_ctl POST /stats/reset >/dev/null
pam_code codes zelda auth PAM_USER_UNKNOWN whatever-pass
assert_logged "$F" '^user-unknown user=zelda service=codes reason="not in the directory snapshot, and no \[sync\] credentials to look it up"$'
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for zelda"
for i in 1 2 3 4; do pam_code codes bob auth PAM_AUTH_ERR "bad-pass-$i"; done
pam_code codes bob auth PAM_MAXTRIES bad-pass-5 # the failure that reaches the limit locks
pam_code codes bob auth PAM_MAXTRIES bob-pass-1
idp_ctl POST /users/bob/unlock >/dev/null
pam_code codes bob auth PAM_SUCCESS bob-pass-1
pam_code codes setcred-user setcred PAM_SUCCESS
pam_code --direct -- codes alice setcred PAM_SUCCESS
idp_ctl POST /down >/dev/null
pam_code codes-offline0 alice auth PAM_AUTHINFO_UNAVAIL alice-pass-1
pam_code codes-offline0 alice account PAM_SUCCESS # fresh claims: no network needed
idp_ctl POST /up >/dev/null

# ---- account and session
pam_code codes alice account PAM_SUCCESS
pam_code codes-admin alice account PAM_SUCCESS
pam_code codes-admin bob account PAM_PERM_DENIED
pam_code codes zelda account PAM_USER_UNKNOWN
pam_code codes erin auth PAM_SUCCESS erin-pass-1
idp_ctl PATCH /users/erin '{"suspended":true}' >/dev/null
pam_code codes-now erin account PAM_ACCT_EXPIRED
pam_code codes alice open_session PAM_SUCCESS
pam_code codes alice close_session PAM_SUCCESS

# ---- an unprivileged caller (a screen locker, any user's own PAM program) cannot use root's
# store: it asks logto-helper, and without its socket nothing reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
export LOGTO_HELPER_SOCKET="$dir/no-helper.sock"
pam_code --nobody codes alice auth PAM_AUTHINFO_UNAVAIL alice-pass-1
pam_code --nobody codes dave auth PAM_AUTHINFO_UNAVAIL wrong-password-2
unset LOGTO_HELPER_SOCKET
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests from unprivileged callers"
assert_logged "$F" "^auth-unprivileged user=dave service=codes uid=65534 via=helper$"
assert_logged "$F" "^auth-helper-unavailable user=dave service=codes socket=$dir/no-helper.sock "

# ---- the network half (pam_logto_net.so, loaded on demand from the module's directory):
# missing or unsafe, a sign-in cannot happen (PAM_AUTHINFO_UNAVAIL, never "unknown user"), and
# deciding from fresh cached claims does not need it at all.
mkdir -p "$dir/lone" && cp "$LOGTO_PAM_MODULE" "$dir/lone/pam_logto.so"
lone="$dir/lone/pam_logto.so config=$dir/logto.conf"
pam_service "$dir/pam.d" codes-lone "auth required $lone" "account required $lone"
pam_code codes-lone alice auth PAM_AUTHINFO_UNAVAIL alice-pass-1
assert_logged "$F" "pam_logto_net.so is missing"
pam_code codes-lone alice account PAM_SUCCESS # fresh claims: the network half is not loaded
cp "$(dirname "$LOGTO_PAM_MODULE")/pam_logto_net.so" "$dir/lone/pam_logto_net.so"
chmod 0664 "$dir/lone/pam_logto_net.so"
pam_code codes-lone alice auth PAM_AUTHINFO_UNAVAIL alice-pass-1
assert_logged "$F" "pam_logto_net.so is writable by group or others"
chmod 0644 "$dir/lone/pam_logto_net.so"
pam_code codes-lone alice auth PAM_SUCCESS alice-pass-1

pam_test_done "$dir" alice-pass-1 bob-pass-1 carol-pass-1 erin-pass-1 wrong-password-1 \
    wrong-password-2 bad-pass-1 whatever-pass
