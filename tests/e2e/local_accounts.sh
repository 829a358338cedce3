#!/bin/sh
# SPDX-License-Identifier: MIT
# Local accounts are never locked out, Logto users never let in by accident: Debian's own
# /etc/pam.d with `pam-auth-update --enable logto` (the shipped profile), one sshd, one test IdP.
# For each way the Logto side can break,
#     typo      a one-character typo in logto.conf (clientid = ...)
#     missing   no logto.conf
#     sample    the package's commented sample as shipped
#     nomodule  pam_logto.so missing from the module directory
#     idpdown   the IdP refuses connections
# and each local account (root and e2elocal), every client signs in:
#     login     Debian's login over a pseudo-terminal, with the password
#     su        su -c ... from e2elocal, with the target's password
#     sudo      e2elocal: sudo -S with its password; root: sudo -u e2elocal (no password)
#     ssh-pw    sshd, keyboard-interactive with the password (pam_unix through PAM)
#     ssh-key   sshd, public key from authorized_keys (PAM account and session only)
# while alice (a Logto user with role admin) is refused: over SSH with a key in her
# authorized_keys (the account phase must refuse) and through Debian's login stack with her
# Logto password (test_pam_codes: the exact code). A first round with the configuration intact
# shows that every one of these cells can succeed, alice's included. Then:
#   - an unprivileged local user runs pamtester against a 0644 (and a 0600) logto.conf: their own
#     password works; for alice, with no logto-helper socket, the module says clearly that
#     sign-in is not available to unprivileged programs here (screen_lock.sh: with the helper);
#   - nothing pam_logto logged concerned root or e2elocal (no configuration was read for them).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"
need_cmd pamtester openssl
codes=$top_builddir/tests/module/test_pam_codes
[ -x "$codes" ] || skip "tests/module/test_pam_codes is not built (needs libpamtest)"
# elapsed SINCE: seconds since SINCE (date +%s.%N), one decimal.
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(date +%s.%N)

# login and sshd record logins in /var/log (wtmp, btmp, lastlog): keep that in the namespace.
mount -t tmpfs -o mode=0755 e2e /var/log

# claims_max_age = 0 and offline_grace = 0: with the IdP down, nothing cached may admit alice.
CONFIG="[service *]
flow = password
require_roles = admin
claims_max_age = 0
offline_grace = 0"
e2e_idp_start
e2e_config "$CONFIG"
cp /etc/logto/logto.conf "$R/logto.conf.good"
e2e_pam_auth_update logto
e2e_sync

ROOT_PW=root-Pass-1 LOCAL_PW=local-Pass-1 ALICE_PW=alice-pass-1
export ROOT_PW LOCAL_PW ALICE_PW
e2e_local_user e2elocal "$LOCAL_PW" 4242
sed -i "s|^root:[^:]*:|root:$(openssl passwd -6 "$ROOT_PW"):|" /etc/shadow
printf 'e2elocal ALL=(ALL:ALL) ALL\n' >/etc/sudoers.d/e2e
chmod 0440 /etc/sudoers.d/e2e

# One client key, authorized for root, e2elocal and alice (alice's home as pam_mkhomedir would
# make it: hers).
ssh-keygen -q -t ed25519 -N '' -C e2e -f "$R/id_key"
alice_uid=$(id -u alice) || fail "alice does not resolve"
for u in root e2elocal alice; do
    h=$(getent passwd "$u" | cut -d: -f6)
    mkdir -p "$h/.ssh"
    cp "$R/id_key.pub" "$h/.ssh/authorized_keys"
    chown -R "$(id -u "$u"):$(id -g "$u")" "$h"
    chmod 0700 "$h" "$h/.ssh"
done
# ssh asks for passwords through this (SSH_ASKPASS_REQUIRE=force): no terminal needed.
cat >"$R/bin/askpass" <<'EOF'
#!/bin/sh
printenv CELL_PW
EOF
chmod 0755 "$R/bin/askpass"
e2e_sshd_start "PermitRootLogin yes"

sd=$(e2e_securedir)
cp "$sd/pam_logto.so" "$R/pam_logto.so"
port_down=$(e2e_free_port) # nobody listens: connections are refused at once

# set_case CASE: break the Logto side one way (and repair what the previous case broke).
set_case() {
    cp "$R/logto.conf.good" /etc/logto/logto.conf
    chmod 0644 /etc/logto/logto.conf
    [ -f "$sd/pam_logto.so" ] || install -m 0644 "$R/pam_logto.so" "$sd/pam_logto.so"
    case "$1" in
    good) ;;
    typo) sed -i 's/^client_id =/clientid =/' /etc/logto/logto.conf ;;
    missing) rm /etc/logto/logto.conf ;;
    sample) cp "$top_srcdir/etc/logto.conf" /etc/logto/logto.conf ;;
    nomodule) rm "$sd/pam_logto.so" ;;
    idpdown) sed -i "s|^endpoint = .*|endpoint = https://127.0.0.1:$port_down|" /etc/logto/logto.conf ;;
    *) fail "set_case: $1" ;;
    esac
}

# ---------------------------------------------------------------- the cells
PROMPT='[$#] $'
# shellcheck disable=SC2016 # expanded by the remote or inner shell
MARK='echo MARK-$((6*7))'
N=0

# cell CASE USER CLIENT: sign USER in through CLIENT; true when a shell ran the marker.
cell() {
    N=$((N + 1))
    c_log=$R/cell.$N.$1.$2.$3.log
    case "$2" in root) CELL_PW=$ROOT_PW ;; *) CELL_PW=$LOCAL_PW ;; esac
    export CELL_PW
    case "$3" in
    login)
        printf '%s\n' 'expect Password:' 'secret CELL_PW' "expect $PROMPT" "sendline $MARK; exit" \
            'expect MARK-42' eof >"$R/cell.pty"
        e2e_pty "$R/cell.pty" "$c_log" login "$2" >/dev/null 2>&1
        ;;
    su)
        printf '%s\n' 'expect Password:' 'secret CELL_PW' 'expect MARK-42' eof >"$R/cell.pty"
        e2e_pty "$R/cell.pty" "$c_log" setpriv --reuid=e2elocal --regid=e2elocal --init-groups \
            --reset-env -- su -c "$MARK" "$2" >/dev/null 2>&1
        ;;
    sudo)
        if [ "$2" = root ]; then
            sudo -u e2elocal sh -c "$MARK" </dev/null >"$c_log" 2>&1
        else
            printf '%s\n' "$CELL_PW" | e2e_as e2elocal sudo -S -k -p '' sh -c "$MARK" \
                >"$c_log" 2>&1
        fi
        ;;
    ssh-pw)
        # shellcheck disable=SC2046
        SSH_ASKPASS=$R/bin/askpass SSH_ASKPASS_REQUIRE=force setsid -w \
            $(e2e_ssh_cmd keyboard-interactive "$2") "$MARK" </dev/null >"$c_log" 2>&1
        ;;
    ssh-key)
        # shellcheck disable=SC2046
        setsid -w $(e2e_ssh_cmd publickey "$2" -o IdentitiesOnly=yes -i "$R/id_key") "$MARK" \
            </dev/null >"$c_log" 2>&1
        ;;
    esac
    grep -q 'MARK-42' "$c_log"
}

# alice_refused CASE CODE: alice's key login ends in the PAM account phase, and her Logto
# password through Debian's login stack is refused with CODE.
alice_refused() {
    if cell "$1" alice ssh-key; then fail "$1: alice logged in with her key"; fi
    grep -q "Access denied for user alice by PAM account configuration" "$E2E_SSHD_LOG" ||
        fail "$1: alice was not refused by the PAM account phase"
    : >"$E2E_SSHD_LOG"
    wrap "$codes" login alice auth,account "$2" "$ALICE_PW" >"$R/alice.$1.out" 2>&1 ||
        fail "$1: alice's password through login: $(cat "$R/alice.$1.out")"
}

cases="good typo missing sample nomodule idpdown"
clients="login su sudo ssh-pw ssh-key"
for c in $cases; do
    set_case "$c"
    t0=$(date +%s.%N)
    for u in root e2elocal; do
        for cl in $clients; do
            cell "$c" "$u" "$cl" || { cat "$R/cell.$N.$c.$u.$cl.log" >&2; fail "$c: $u through $cl"; }
        done
    done
    if [ "$c" = good ]; then
        cell good alice ssh-key || fail "good: alice's key login (see $R/cell.$N.good.alice.ssh-key.log)"
        wrap "$codes" login alice auth,account PAM_SUCCESS "$ALICE_PW" >"$R/alice.good.out" 2>&1 ||
            fail "good: alice's password through login: $(cat "$R/alice.good.out")"
    else
        case "$c" in
        typo | missing | sample) alice_refused "$c" PAM_SERVICE_ERR ;; # config-error
        nomodule) alice_refused "$c" PAM_AUTH_ERR ;;                  # pam_unix: no password
        idpdown) alice_refused "$c" PAM_AUTHINFO_UNAVAIL ;;           # no offline grace
        esac
    fi
    echo "ok $c: root and e2elocal through $clients; alice $([ "$c" = good ] && echo in || echo refused)" \
        "($(elapsed "$t0") s)"
done
set_case good

# ---------------------------------------------------------------- unprivileged callers
# A screen locker's stack (what Debian's vlock falls back to: "other", the common-* files).
printf '@include common-auth\n@include common-account\n' >/etc/pam.d/e2e-locker
for mode in 0644 0600; do
    chmod "$mode" /etc/logto/logto.conf
    printf '%s\n' "$LOCAL_PW" | e2e_as e2elocal pamtester -v e2e-locker e2elocal authenticate \
        acct_mgmt >"$R/locker.$mode.out" 2>&1 ||
        fail "e2elocal's own pamtester (logto.conf $mode): $(cat "$R/locker.$mode.out")"
done
chmod 0644 /etc/logto/logto.conf
if printf '%s\n' "$ALICE_PW" | e2e_as alice pamtester -v e2e-locker alice authenticate \
    >"$R/locker.alice.out" 2>&1; then
    fail "alice signed in through an unprivileged pamtester"
fi
assert_contains "$(cat "$R/locker.alice.out")" \
    "Sign-in is not available here: this program runs without privileges and the sign-in helper (logto-helper.socket) is not running" \
    "alice's unprivileged pamtester"
grep -q "auth-unprivileged user=alice service=e2e-locker uid=$alice_uid via=helper" "$E2E_SYSLOG" ||
    fail "no auth-unprivileged line for alice"
grep -q "auth-helper-unavailable user=alice service=e2e-locker socket=/run/logto/helper.sock " \
    "$E2E_SYSLOG" || fail "no auth-helper-unavailable line for alice"
echo "ok unprivileged pamtester: e2elocal signs in (logto.conf 0644 and 0600), alice is told why not"

# ---------------------------------------------------------------- what pam_logto logged
if grep -E 'pam_logto.*(user="?(root|e2elocal)\b)' "$E2E_SYSLOG"; then
    fail "pam_logto logged about a local account (above)"
fi
e2e_assert_no_secrets "$ROOT_PW" "$LOCAL_PW" "$ALICE_PW" m2m-secret
echo "ok $N cells in $(elapsed "$started") s"
