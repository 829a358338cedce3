#!/bin/sh
# SPDX-License-Identifier: MIT
# Local accounts first, one identity per transaction (pam_logto(8) "LOCAL ACCOUNTS"), with the
# exact codes (tests/module/test_pam_codes) under pam_wrapper, and nss_wrapper standing in for
# another NSS source (sssd, LDAP): its passwd file answers before libnss_logto.so.2.
#  1. root (the passwd file) and ldapuser (another source): PAM_IGNORE in auth, account and
#     both session calls, whatever logto.conf is: valid, a typo, missing, the shipped commented
#     sample, or unreadable by the caller (a 0600 file, a program running as nobody: for root,
#     ldapuser and its own account nobody); no request reaches the IdP and no configuration
#     error is logged for them;
#  2. a Logto user (alice, in the snapshot) with each broken configuration: refused (auth
#     PAM_SERVICE_ERR, account PAM_PERM_DENIED), the log line naming file, line and key;
#  3. another source cannot make a Logto user look local: one that copies alice's name and UID
#     does not make pam_logto step aside; one that answers for alice with another UID owns the
#     name on this host (every program gets its entry), and pam_logto steps aside;
#  4. an unprivileged caller: its own local account is PAM_IGNORE; a Logto user gets a clear
#     refusal before the configuration (0600 here) or the IdP is touched;
#  5. the signed-in identity is bound across phases: after alice's sign-in, PAM_USER changed to
#     root or bob makes account (PAM_PERM_DENIED) and session (PAM_SESSION_ERR) refuse, logged
#     as user-changed; unchanged, both pass; root alone passes (the refusal is the binding).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require

need_cmd setpriv getent
[ -x "$top_builddir/tests/module/test_pam_codes" ] ||
    skip "tests/module/test_pam_codes is not built (needs libpamtest)"
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-}) # configure leaves a blank behind
[ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] || skip "nss_wrapper is not installed"
idp_start || exit $?
dir=$(test_tmpdir)
pam_codes_setup "$dir"
PAM_EXTRA_PRELOAD=$NSS_WRAPPER_LIB

# The configurations: valid (0644), a one-character typo, missing, the package's sample as
# shipped, and valid but 0600 (unreadable by unprivileged callers).
mkdir -p "$dir/good"
pam_write_config "$dir/good/logto.conf" "$dir" "[service *]
allow_any_user = yes
flow = password
qr = no"
mkdir -p "$dir/typo" "$dir/missing" "$dir/sample" "$dir/secret"
sed 's/^client_id =/clientid =/' "$dir/good/logto.conf" >"$dir/typo/logto.conf"
cp "$top_srcdir/etc/logto.conf" "$dir/sample/logto.conf"
cp "$dir/good/logto.conf" "$dir/secret/logto.conf"
chmod 0644 "$dir/typo/logto.conf" "$dir/sample/logto.conf"
chmod 0600 "$dir/secret/logto.conf"
typo_line=$(grep -n '^clientid =' "$dir/typo/logto.conf" | cut -d: -f1)
for c in good typo missing sample secret; do
    m="$LOGTO_PAM_MODULE config=$dir/$c/logto.conf"
    pam_service "$dir/pam.d" "lf-$c" "auth required $m" \
        "account required $m" "account required pam_permit.so" \
        "session required $m" "session required pam_permit.so"
done

# Another NSS source: nss_wrapper's passwd file (asked first), then libnss_logto.so.2.
cp /etc/passwd "$dir/passwd"
cp /etc/group "$dir/group"
printf 'ldapuser:x:5000:5000:LDAP user:/home/ldapuser:/bin/sh\n' >>"$dir/passwd"
NSS_WRAPPER_PASSWD=$dir/passwd NSS_WRAPPER_GROUP=$dir/group
NSS_WRAPPER_MODULE_SO_PATH=$LOGTO_NSS_MODULE NSS_WRAPPER_MODULE_FN_PREFIX=logto
LOGTO_NSS_SNAPSHOT=$dir/state/directory.snapshot
export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP NSS_WRAPPER_MODULE_SO_PATH \
    NSS_WRAPPER_MODULE_FN_PREFIX LOGTO_NSS_SNAPSHOT


# every_phase [--nobody] CONFIG USER SOURCE: PAM_IGNORE from each entry point (one handle, one
# run), the module stepping aside each time, no configuration error.
every_phase() {
    ep_nobody=
    [ "$1" = --nobody ] && { ep_nobody=--nobody; shift; }
    # shellcheck disable=SC2086
    pam_code $ep_nobody --direct "config=$dir/$1/logto.conf" debug -- "lf-$1" "$2" \
        auth,setcred,account,open_session,close_session PAM_IGNORE anything
    for op in auth account open_session close_session; do
        grep -q "^step $op: PAM_IGNORE " "$F" || fail "$op for $2 ($1): $(cat "$F")"
    done
    assert_eq "$(pam_log "$F" | grep -c "^user-local user=\"$2\" service=lf-$1 source=$3$")" 4 \
        "user-local lines for $2 ($1)"
    assert_not_logged "$F" "config-error|local-check-failed" "$2 ($1)"
}

# alice signs in once (a host without [sync] sends passwords only for names in its snapshot,
# so it starts with her there): the snapshot holds her as she signed in from now on.
mkdir -p "$dir/state"
pam_seed_snapshot "$dir/state" alice
pam_code lf-good alice auth PAM_SUCCESS alice-pass-1
alice_pw=$(LD_PRELOAD="$(module_preload "$NSS_WRAPPER_LIB")" getent passwd alice) || fail "alice does not resolve"
alice_uid=$(echo "$alice_pw" | cut -d: -f3)

# ---------------------------------------------------------------- 1. local accounts
idp_ctl POST /stats/reset >/dev/null
for c in good typo missing sample; do
    every_phase "$c" root files
    every_phase "$c" ldapuser nss
done
every_phase --nobody good nobody files # an unprivileged caller's own account, 0644 file
every_phase --nobody secret nobody files
every_phase --nobody secret root files
every_phase --nobody secret ldapuser nss
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests for local accounts"
echo "ok 1 root and ldapuser: PAM_IGNORE in every phase with every configuration, no request"

# ---------------------------------------------------------------- 2. Logto users fail closed
pam_code lf-typo alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "^config-error user=alice reason=\".*/typo/logto.conf:$typo_line: .*clientid"
pam_code lf-typo alice account PAM_PERM_DENIED
pam_code lf-missing alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "^config-error user=alice reason=\".*/missing"
pam_code lf-missing alice account PAM_PERM_DENIED
pam_code lf-sample alice auth PAM_SERVICE_ERR anything
assert_logged "$F" "^config-error user=alice reason=\".*/sample/logto.conf: \[logto\] endpoint: is required"
pam_code lf-sample alice account PAM_PERM_DENIED
pam_code lf-typo zelda auth PAM_SERVICE_ERR anything # nobody's name is no local account either
echo "ok 2 alice with a broken configuration: refused, the log names file, line and key"

# ---------------------------------------------------------------- 3. hostile other sources
cp "$dir/passwd" "$dir/passwd.orig"
echo "$alice_pw" | sed 's/:[^:]*:/:x:/' >>"$dir/passwd" # same name and UID: still alice
pam_code lf-typo alice auth PAM_SERVICE_ERR anything
pam_code lf-typo alice account PAM_PERM_DENIED
cp "$dir/passwd.orig" "$dir/passwd"
printf 'alice:x:5001:5001:LDAP alice:/home/ldapalice:/bin/sh\n' >>"$dir/passwd"
assert_eq "$(LD_PRELOAD="$(module_preload "$NSS_WRAPPER_LIB")" getent passwd alice | cut -d: -f3)" 5001 \
    "the UID every program gets for alice"
pam_code --direct "config=$dir/typo/logto.conf" debug -- lf-typo alice account PAM_IGNORE
assert_logged "$F" "^user-local user=\"alice\" service=lf-typo source=nss$"
cp "$dir/passwd.orig" "$dir/passwd"
echo "ok 3 a copy of alice's entry is still alice (uid $alice_uid); another UID is another account"

# ---------------------------------------------------------------- 4. unprivileged callers
idp_ctl POST /stats/reset >/dev/null
export LOGTO_HELPER_SOCKET="$dir/no-helper.sock"
pam_code --nobody lf-secret alice auth PAM_AUTHINFO_UNAVAIL alice-pass-1
unset LOGTO_HELPER_SOCKET
assert_contains "$(cat "$F")" "the sign-in helper (logto-helper.socket) is not running"
assert_logged "$F" "^auth-unprivileged user=alice service=lf-secret uid=65534 via=helper$"
assert_not_logged "$F" "config-error"
assert_eq "$(idp_json_field "$(idp_ctl GET /stats)" total)" 0 "IdP requests from unprivileged callers"
echo "ok 4 unprivileged without logto-helper: a clear refusal for alice before the configuration is read"

# ---------------------------------------------------------------- 5. one identity per transaction
pam_code lf-good alice auth,user=root,account PAM_PERM_DENIED alice-pass-1
assert_logged "$F" "^user-changed service=lf-good signed_in=alice sub=[^ ]+ user=\"root\"$"
assert_contains "$(cat "$F")" "Access denied: the user changed after the Logto sign-in"
pam_code lf-good alice auth,user=bob,account PAM_PERM_DENIED alice-pass-1
assert_logged "$F" "^user-changed service=lf-good signed_in=alice sub=[^ ]+ user=\"bob\"$"
pam_code lf-good alice auth,user=root,open_session PAM_SESSION_ERR alice-pass-1
pam_code lf-good alice auth,user=root,user=alice,account,open_session,close_session PAM_SUCCESS \
    alice-pass-1
pam_code lf-good root user=root,account PAM_SUCCESS
echo "ok 5 PAM_USER changed after alice's sign-in: account and session refuse"

pam_test_done "$dir" alice-pass-1
