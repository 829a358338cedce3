#!/bin/sh
# SPDX-License-Identifier: MIT
# The packaged PAM stack: `pam-auth-update --package --enable logto` with the shipped
# etc/pam-configs/logto among Debian's profiles writes /etc/pam.d/common-*; Debian's own
# /etc/pam.d/login includes them. Checked with pamtester:
#  1. the generated common-account has no bypass: the pam_logto line maps failures to bad/die,
#     never default=ignore (the pam-auth-update trap of himmelblau #1561);
#  2. a Logto user a rule refuses (dave, no role admin) and a suspended one (carol) are denied
#     by the account phase of the whole stack; alice (role admin) passes;
#  3. a local account still signs in through pam_unix (right password yes, wrong no), and
#     pam_logto stays out of its way;
#  4. the check can fail: with the pam_logto account line turned into the trap
#     ([success=ok default=ignore]) the guard after it (pam_localuser, pam_deny) still refuses
#     dave; with the guard gone as well, dave gets through.
# (tests/e2e/local_accounts.sh: the same stack when the Logto side is broken.)
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"
need_cmd pamtester

e2e_idp_start
e2e_config "[service login]
flow = password
require_roles = admin
# dave (auditor) and carol (developer, suspended) exist on this host through sshd: pam_unix's
# account phase, before pam_logto's, must know them (and the trap in 4 needs it too).
[service sshd]
require_roles = admin auditor developer"
e2e_pam_auth_update logto
e2e_sync
e2e_local_user e2elocal 'local-Pass-1' 4242

# ---------------------------------------------------------------- 1. the generated files
for f in common-auth common-account common-session; do
    grep -q 'pam_logto\.so' "/etc/pam.d/$f" || fail "pam-auth-update left pam_logto out of $f"
done
acct=$(grep -E '^[[:space:]]*account[[:space:]].*pam_logto\.so' /etc/pam.d/common-account)
[ "$(printf '%s\n' "$acct" | wc -l)" = 1 ] || fail "common-account: want one pam_logto line: $acct"
ctl=$(printf '%s\n' "$acct" | sed -E 's/^[[:space:]]*account[[:space:]]+(\[[^]]*\]|[a-z]+).*/\1/')
case "$ctl" in
required | requisite) ;;
\[*\])
    case "$ctl" in *default=ignore* | *perm_denied=ignore* | *acct_expired=ignore*)
        fail "common-account lets a Logto denial through: $acct" ;;
    esac
    case "$ctl" in *default=bad* | *default=die*) ;;
    *) fail "common-account: pam_logto failures must be bad or die: $acct" ;;
    esac
    ;;
*) fail "common-account: pam_logto is not required: $acct" ;;
esac
# Nothing before it may end the stack or jump over it on success (sufficient, done, a jump that
# lands behind it); pam_unix's new_authtok_reqd=done only concerns local accounts.
lines=$(grep -E '^[[:space:]]*account[[:space:]]' /etc/pam.d/common-account)
at=$(printf '%s\n' "$lines" | grep -n 'pam_logto\.so' | cut -d: -f1)
skips=$(printf '%s\n' "$lines" | awk -v at="$at" 'NR < at {
    if ($2 == "sufficient") { print; next }
    if (!match($0, /\[[^]]*\]/)) next
    n = split(substr($0, RSTART + 1, RLENGTH - 2), kv, /[ \t]+/)
    for (i = 1; i <= n; i++) {
        split(kv[i], p, "=")
        if ((p[2] ~ /^[0-9]+$/ && NR + p[2] >= at) || (p[2] == "done" && p[1] != "new_authtok_reqd")) {
            print; next
        }
    }
}')
[ -z "$skips" ] || fail "common-account can skip pam_logto: $skips"
# The guard: when pam_logto cannot run (module_unknown, system_err), only local accounts pass.
guard=$(printf '%s\n' "$lines" | sed -n "$((at + 1)),$((at + 2))p" |
    sed -E 's/^[[:space:]]*account[[:space:]]+//; s/[[:space:]]+/ /g; s/ $//')
assert_eq "$guard" "$(printf '%s\n' "[success=1 default=ignore] pam_localuser.so" "requisite pam_deny.so")" \
    "the lines after pam_logto in common-account"
echo "ok 1 common-account: $acct"

# acct USER: pamtester's account phase with the packaged stack (Debian's login file).
acct() {
    pamtester -v login "$1" acct_mgmt </dev/null >"$R/acct-$1.out" 2>&1
}

# ---------------------------------------------------------------- 2. Logto users
acct alice || { cat "$R/acct-alice.out"; fail "alice (role admin) was refused"; }
if acct dave; then fail "dave (no role admin) passed the packaged account stack"; fi
assert_contains "$(cat "$R/acct-dave.out")" "Permission denied" "pamtester for dave"
grep -q 'account-denied user=dave service=login error=denied reason="requires role admin"' \
    "$E2E_SYSLOG" || fail "pam_logto did not refuse dave"
if acct carol; then fail "carol (suspended) passed the packaged account stack"; fi
grep -q 'account-denied user=carol service=login error=suspended' "$E2E_SYSLOG" ||
    fail "pam_logto did not refuse carol as suspended"
echo "ok 2 the stack denies what pam_logto denies (dave: rule, carol: suspended), allows alice"

# ---------------------------------------------------------------- 3. local accounts
printf 'local-Pass-1\n' | pamtester -v login e2elocal authenticate acct_mgmt open_session \
    close_session >"$R/local.out" 2>&1 || { cat "$R/local.out"; fail "the local user cannot sign in"; }
if printf 'wrong-Pass-1\n' | pamtester -v login e2elocal authenticate >"$R/local-wrong.out" 2>&1; then
    fail "the local user signed in with a wrong password"
fi
if grep -E 'pam_logto.*(auth-failed|account-denied).*user=e2elocal' "$E2E_SYSLOG"; then
    fail "pam_logto decided for a local user"
fi
grep -q 'pam_unix(login:session): session opened for user e2elocal' "$E2E_SYSLOG" ||
    fail "pam_unix did not open the local user's session"
echo "ok 3 local accounts sign in through pam_unix"

# ---------------------------------------------------------------- 4. the trap is detected
sed -i -E 's/^([[:space:]]*account[[:space:]]+)(\[[^]]*\]|[a-z]+)([[:space:]]+pam_logto\.so)/\1[success=ok default=ignore]\3/' \
    /etc/pam.d/common-account
grep -q 'default=ignore.*pam_logto' /etc/pam.d/common-account || fail "could not plant the trap"
if acct dave; then fail "with default=ignore dave passed: the pam_localuser guard did not hold"; fi
sed -i -E '/pam_localuser\.so/d' /etc/pam.d/common-account
sed -i -E '$!N; /pam_logto\.so.*\n[^\n]*requisite[[:space:]]+pam_deny\.so/ s/\n.*//; P; D' \
    /etc/pam.d/common-account
[ "$(grep -c pam_deny /etc/pam.d/common-account)" = 1 ] || fail "could not remove the guard"
acct dave || fail "with default=ignore and no guard dave should have passed: this test would not notice a bypass"
echo "ok 4 default=ignore: the guard still refuses dave; without the guard he passes, so the check above is real"

e2e_assert_no_secrets local-Pass-1 wrong-Pass-1 m2m-secret
