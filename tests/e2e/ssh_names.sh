#!/bin/sh
# SPDX-License-Identifier: MIT
# The attack of issue 12 over real sshd and ssh: a tenant account with no username and the
# e-mail alice@example.com (a verified address in a domain the administrator lists) approves the
# device code of `ssh alice@host`. alice (username alice) has signed in on this host before.
#  1. without [sync]: refused, the name is held by alice (auth-name-held);
#  2. with [sync], before any sync: refused, the Management API names alice as the owner;
#  3. after a sync: refused the same way; `logtoctl status` blocks nothing;
#  4. alice herself signs in over ssh, and is uid=...(alice) with her own UID.
# Each refusal: ssh's exit status, what the client was told, the log line in syslog.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"

e2e_idp_start
idp_ctl PATCH /users/alice '{"email":"alice.a@example.com"}' >/dev/null || fail "move alice's e-mail"
idp_ctl POST /users '{"id":"malloryemail","password":"mallory-pass-1","username":null,"email":"alice@example.com"}' >/dev/null ||
    fail "give the e-mail alice@example.com to mallory"
SVC="[identity]
email_domains = example.com
[service sshd]
flow = device
allow_users = alice"
# no_sync: the configuration without the [sync] section (this host cannot ask Logto).
no_sync() { e2e_config "$SVC" && sed -i '/^\[sync\]$/,/^request_interval/d' /etc/logto/logto.conf; }
no_sync
grep -q m2m /etc/logto/logto.conf && fail "the configuration still has [sync]"
e2e_pam_example sshd
e2e_sshd_start
CODE_RX='(?P<code>[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})'

# ssh_as NAME APPROVER EXPECT LOG: ssh NAME@host with the device flow, the code approved by
# APPROVER; EXPECT is the last thing the client must see.
ssh_as() {
    cat >"$R/$4.pty" <<EOF
expect $CODE_RX
expect Press Enter once you have signed in:
run idp-approve {code} $2
sendline
expect $3
eof
EOF
    # shellcheck disable=SC2046
    e2e_pty "$R/$4.pty" "$R/$4.log" $(e2e_ssh_cmd keyboard-interactive "$1") id
}

# alice signed in before (at the console: sshd serves only names that resolve), so this host
# serves alice: the snapshot holds her. (A password goes only to a Logto user of this host: the
# Management API, [sync], vouches for her this first time.)
e2e_config "$SVC"
printf 'alice-pass-1\n' | "$E2E_SBIN/logtoctl" login --method experience --service sshd alice >"$R/alice-first.log" 2>&1 ||
    fail "alice could not sign in: $(cat "$R/alice-first.log")"
uid=$(id -u alice) || fail "alice does not resolve after her sign-in"
no_sync

# ---------------------------------------------------------------- 1. without [sync]
ssh_as alice malloryemail 'belongs to another Logto user on this host' mallory-nosync && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status (no [sync])"
assert_not_contains "$(cat "$R/mallory-nosync.log")" "uid=" "ssh output (no [sync])"
assert_contains "$(tr -d '\r' <"$R/mallory-nosync.log")" \
    "Logto sign-in failed: the name alice belongs to another Logto user on this host" "what mallory sees"
grep -q "auth-name-held user=alice sub=malloryemail holder_sub=" "$E2E_SYSLOG" ||
    fail "no auth-name-held line in syslog"
echo "ok 1 without [sync]: the e-mail claimant is refused"

# ---------------------------------------------------------------- 2. [sync], before a sync
e2e_config "$SVC"
[ ! -e /var/lib/logto/sync.status ] || fail "a sync ran already"
ssh_as alice malloryemail 'whose user name is identical to it' mallory-presync && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status ([sync], before a sync)"
assert_not_contains "$(cat "$R/mallory-presync.log")" "uid=" "ssh output (before a sync)"
grep -q "auth-name-not-owner user=alice sub=malloryemail owner_sub=e738g7numf03" "$E2E_SYSLOG" ||
    fail "no auth-name-not-owner line in syslog"
echo "ok 2 [sync], before a sync: refused, alice owns the name"

# ---------------------------------------------------------------- 3. after a sync
e2e_sync
ssh_as alice malloryemail 'whose user name is identical to it' mallory-postsync && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status (after a sync)"
assert_eq "$(grep -c 'auth-name-not-owner user=alice sub=malloryemail' "$E2E_SYSLOG")" 2 \
    "refusals after the sync"
out=$("$E2E_SBIN/logtoctl" status --offline 2>&1) || :
assert_not_contains "$out" "is blocked" "status after the sync"
echo "ok 3 after a sync: refused the same way"

# ---------------------------------------------------------------- 4. alice still gets in
ssh_as alice alice 'uid=\d+\(alice\)' alice-last || fail "alice could not sign in (see $R/alice-last.log)"
assert_contains "$(cat "$R/alice-last.log")" "uid=$uid(alice)" "alice keeps her UID"
echo "ok 4 alice signs in as herself"
