#!/bin/sh
# SPDX-License-Identifier: MIT
# SSH public keys from Logto through sshd's AuthorizedKeysCommand (`logtoctl keys %u`, as the
# shipped etc/ssh/sshd_config.d-logto.conf configures it), with no authorized_keys anywhere:
#  1. erin's key, kept in her custom_data (sshPublicKeys), logs her in; `id` remotely shows the
#     UID, GID and groups NSS serves (custom_data uidNumber/gidNumber);
#  2. a key that is not hers is refused;
#  3. the key removed in Logto is refused at once (a live lookup, no sync in between; with
#     lookup_cache_ttl = 0, else within that time);
#  4. `logtoctl keys` prints nothing (exit 0) for a user without keys, a local user, an unknown
#     name, and refuses to run as anyone but root;
#  5. dave holds a valid key in custom_data but not the required role (he exists on the host
#     through [service su]): sshd accepts the key, the PAM account phase refuses him.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"

e2e_idp_start
e2e_config "[sync]
lookup_cache_ttl = 0
[service sshd]
flow = device
require_roles = developer
[service su]
require_roles = auditor"
e2e_pam_example sshd

ssh-keygen -q -t ed25519 -N '' -C erin@e2e -f "$R/erin_key"
ssh-keygen -q -t ed25519 -N '' -C other@e2e -f "$R/other_key"
ssh-keygen -q -t ed25519 -N '' -C dave@e2e -f "$R/dave_key"
erin_pub=$(cut -d' ' -f1,2 "$R/erin_key.pub")
custom() { # the fixture's custom_data with the given JSON array of keys
    printf '{"custom_data":{"uidNumber":70001,"gidNumber":70001,"loginShell":"/bin/sh","sshPublicKeys":%s}}' "$1"
}
idp_ctl PATCH /users/erin "$(custom "[\"$erin_pub erin@e2e\"]")" >/dev/null
idp_ctl PATCH /users/dave "{\"custom_data\":{\"sshPublicKeys\":[\"$(cut -d' ' -f1,2 "$R/dave_key.pub")\"]}}" \
    >/dev/null
e2e_sync
want_erin=$(e2e_id_norm "$(id erin)")
assert_contains "$want_erin" "uid=70001(erin) gid=70001(erin)" "id erin (custom_data)"
[ ! -e /home/erin ] || fail "erin has a home directory already"

# The command sshd runs, as sshd runs it.
keys=$(wrap "$E2E_SBIN/logtoctl" keys erin) || fail "logtoctl keys erin failed"
assert_eq "$(echo "$keys" | cut -d' ' -f1,2)" "$erin_pub" "logtoctl keys erin"

e2e_sshd_start "AuthenticationMethods publickey"

# ---------------------------------------------------------------- 1. her key
printf '%s\n' 'expect uid=\d+\(erin\)' eof >"$R/key.pty"
# shellcheck disable=SC2046
e2e_pty "$R/key.pty" "$R/ssh-key.log" $(e2e_ssh_cmd publickey erin -o IdentitiesOnly=yes \
    -i "$R/erin_key") id || fail "erin could not log in with her Logto key (see $R/ssh-key.log)"
got=$(e2e_id_norm "$(cat "$R/ssh-key.log")")
assert_eq "$got" "$want_erin" "remote id of erin"
grep -q "Accepted publickey for erin" "$E2E_SSHD_LOG" || fail "sshd did not log erin's key login"
grep -q 'account-ok user=erin service=sshd' "$E2E_SYSLOG" ||
    fail "the account phase did not run for erin's key login"
echo "ok 1 key from custom_data: $got"

# ---------------------------------------------------------------- 2. not her key
printf '%s\n' 'expect Permission denied \(publickey\)' eof >"$R/other.pty"
# shellcheck disable=SC2046
e2e_pty "$R/other.pty" "$R/ssh-other.log" $(e2e_ssh_cmd publickey erin -o IdentitiesOnly=yes \
    -i "$R/other_key") id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status with a key that is not erin's"
assert_not_contains "$(cat "$R/ssh-other.log")" "uid=" "ssh output with another key"
echo "ok 2 a key not in custom_data is refused"

# ---------------------------------------------------------------- 3. key removed in Logto
idp_ctl PATCH /users/erin "$(custom "[]")" >/dev/null
[ -z "$(wrap "$E2E_SBIN/logtoctl" keys erin)" ] || fail "logtoctl keys erin still prints a removed key"
# shellcheck disable=SC2046
e2e_pty "$R/other.pty" "$R/ssh-removed.log" $(e2e_ssh_cmd publickey erin -o IdentitiesOnly=yes \
    -i "$R/erin_key") id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status with a key removed in Logto"
assert_not_contains "$(cat "$R/ssh-removed.log")" "uid=" "ssh output with a removed key"
echo "ok 3 a key removed in Logto is refused without a sync"

# ---------------------------------------------------------------- 4. nothing to print
for u in bob root nosuchuser 'bad:name'; do
    out=$(wrap "$E2E_SBIN/logtoctl" keys "$u" 2>/dev/null) || fail "logtoctl keys $u failed"
    assert_eq "$out" "" "logtoctl keys $u"
done
# sshd logs the command's stderr at every login: a lookup logs to syslog, never to stderr
out=$(wrap "$E2E_SBIN/logtoctl" keys 'bad:name' 2>&1) || fail "logtoctl keys bad:name failed"
assert_eq "$out" "" "logtoctl keys bad:name, stderr included"
grep -q 'logtoctl.*keys-none user=(invalid)' "$E2E_SYSLOG" ||
    fail "logtoctl keys did not log the invalid name to syslog"
e2e_local_user e2elocal 'local-Pass-1' 4242
if out=$(e2e_as e2elocal "$E2E_SBIN/logtoctl" keys erin 2>/dev/null); then
    fail "logtoctl keys succeeded as an unprivileged user"
fi
assert_eq "$out" "" "logtoctl keys erin as an unprivileged user"
echo "ok 4 logtoctl keys: empty for users without keys, root only"

# ---------------------------------------------------------------- 5. key, but no role
printf '%s\n' 'expect Access denied by Logto: requires role developer' eof >"$R/dave.pty"
# shellcheck disable=SC2046
e2e_pty "$R/dave.pty" "$R/ssh-dave.log" $(e2e_ssh_cmd publickey dave -o IdentitiesOnly=yes \
    -i "$R/dave_key") id && rc=0 || rc=$?
assert_eq "$rc" 255 "ssh exit status for dave"
assert_not_contains "$(cat "$R/ssh-dave.log")" "uid=" "ssh output for dave"
fp=$(ssh-keygen -l -f "$R/dave_key.pub" | cut -d' ' -f2)
grep -qF "Accepted key ED25519 $fp found at $E2E_SBIN/logtoctl keys" "$E2E_SSHD_LOG" ||
    fail "sshd did not accept dave's key from logtoctl keys"
grep -q 'account-denied user=dave service=sshd error=denied reason="requires role developer"' \
    "$E2E_SYSLOG" || fail "the account phase did not refuse dave"
echo "ok 5 a valid Logto key without the required role: refused by the account phase"

e2e_assert_no_secrets m2m-secret
