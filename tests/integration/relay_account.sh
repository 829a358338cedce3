#!/bin/sh
# SPDX-License-Identifier: MIT
# A relay host holds no Management API credential (issue 18, point 5) and still decides for
# users who never signed in on it, from the signed directory (common/relayclaims.h): SSH keys
# (logtoctl keys), the account phase (roles, organizations, organization roles, suspension),
# revocation after publish + sync, a stale directory failing closed, a local account's name
# never served; the configuration refuses the Management API password method, [sync]
# credentials and --persist-uids on a relay host.
. "$top_srcdir/tests/integration/sync_lib.sh"
. "$top_srcdir/tests/lib/pam.sh"
pam_require
need_cmd openssl unshare

T0=$(test_tmpdir)
PUB=$T0/pub
mkdir -m 0755 "$PUB"
sync_setup --static-dir "$PUB"
openssl genpkey -algorithm ed25519 -out "$T/sign.pem" 2>/dev/null || fail "openssl genpkey"
chmod 0600 "$T/sign.pem"
openssl pkey -in "$T/sign.pem" -pubout -out "$T/sign.pub" 2>/dev/null || fail "openssl pkey"
printf '[publish]\nsign_key_file = %s\n' "$T/sign.pem" >>"$CFG"
publish() { out=$(ctl publish "$PUB" 2>&1) || fail "publish: $out"; }

# The relay host: no [sync] section at all. Services: roles, organizations, organization roles,
# and one that admits carol (suspended) by name. Acme Corp is pbl95zlwkzx4, Globex qmmg1gvtd5ib.
H=$T/h
mkdir -p "$H"
HCFG=$H/logto.conf
RELAY_INI="[relay]
url = $IDP_URL/relay
public_key_file = $T/sign.pub
[identity]
email_domains = example.com"
pam_write_config "$HCFG" "$H" "$RELAY_INI
[service logto-admin]
require_roles = admin
[service logto-dev]
require_roles = developer
[service logto-acme]
require_orgs = pbl95zlwkzx4
[service logto-globex-admin]
require_org_roles = qmmg1gvtd5ib:admin
[service logto-carol]
allow_users = carol
[service logto-pw]
flow = password
require_roles = admin
[service logto-pw-frank]
flow = password
allow_users = frank"
grep -q '^\[sync\]' "$HCFG" && fail "the relay host's configuration has a [sync] section"
PAM_DIR=$H
mod="$LOGTO_PAM_MODULE config=$HCFG"
for s in logto-admin logto-dev logto-acme logto-globex-admin logto-carol; do
    pam_service "$H/pam.d" "$s" "account required $mod"
done
for s in logto-pw logto-pw-frank; do
    pam_service "$H/pam.d" "$s" "auth required $mod" "account required $mod"
done
hctl() { wrap "$LOGTOCTL" --config "$HCFG" "$@"; }
hsync() { out=$(hctl sync 2>&1) || fail "relay sync: $out"; }
CLAIMS=$H/state/relay.claims

publish
hsync
[ "$(stat -c '%a %U' "$CLAIMS")" = "600 root" ] || fail "relay.claims is $(stat -c '%a %U' "$CLAIMS")"
if have_nss_wrapper; then
    SNAP=$H/state/directory.snapshot
    assert_contains "$(nss_getent passwd bob)" "bob:" "getent passwd bob on the relay host"
    echo "ok getent on the relay host, for a user who never signed in there"
fi

# ---- logtoctl keys (sshd's AuthorizedKeysCommand) from the signed directory
out=$(hctl keys erin 2>&1) || fail "keys erin: $out"
assert_contains "$out" "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ1W8tZf0Q4xZ2m1kq8m6J0a4yZrJ0b6Hq9v2nK3pLd" "erin's key"
echo "ok logtoctl keys: the directory's keys, no Management API credential"

# ---- the account phase of users who never signed in here (no token record)
[ -e "$H/state/tokens/alice.json" ] && fail "alice has a token record on the relay host"
pam_try logto-admin alice acct_mgmt
pam_expect_ok "alice (role admin) on logto-admin"
assert_logged "$F" "^account-ok user=alice service=logto-admin decided=relay$"
pam_try logto-admin bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob (developer) on logto-admin" "requires role admin"
pam_try logto-dev bob acct_mgmt
pam_expect_ok "bob (role developer) on logto-dev"
pam_try logto-globex-admin bob acct_mgmt
pam_expect_ok "bob (Globex admin) on logto-globex-admin"
pam_try logto-globex-admin erin acct_mgmt
pam_expect PAM_PERM_DENIED "erin on logto-globex-admin" "requires organization role"
pam_try logto-acme erin acct_mgmt
pam_expect_ok "erin (Acme Corp) on logto-acme"
pam_try logto-carol carol acct_mgmt
pam_expect PAM_ACCT_EXPIRED "carol (suspended)" "suspended"
[ -e "$H/state/tokens/alice.json" ] && fail "the account phase wrote a token record"
echo "ok account phase from the directory: roles, organizations, organization roles, suspension"

# ---- a first password sign-in there: Logto's username (Grace_Hopper, case-sensitive at Logto)
# comes from the directory. Her record then decides while fresh; once it cannot be refreshed the
# directory does; a refused refresh (newer than any directory) is never overruled by it.
pam_try logto-pw grace_hopper "authenticate acct_mgmt" grace-pass-1
pam_expect_ok "grace_hopper's first password sign-in on the relay host"
rec=$H/state/tokens/grace_hopper.json
edit_rec() { # PYTHON-EXPR-ON-r
    python3 - "$rec" "$1" <<'PY'
import json, sys, time
r = json.load(open(sys.argv[1]))
exec(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(r))
PY
}
edit_rec 'r.pop("refresh_token", None); r["claims_at"] = int(time.time()) - 3600'
pam_try logto-admin grace_hopper acct_mgmt
pam_expect_ok "grace_hopper with stale claims and no refresh token"
assert_logged "$F" "^account-ok user=grace_hopper service=logto-admin decided=relay$"
edit_rec 'r["refresh_failed_at"] = int(time.time()); r["refresh_error"] = "denied"'
pam_try logto-admin grace_hopper acct_mgmt
pam_expect PAM_ACCT_EXPIRED "grace_hopper after a refused refresh, whatever the directory says"
# frank has no username at Logto (named by his e-mail): the directory gives his e-mail as the
# identifier, never the Linux name.
grep -q "$(printf '^frank\t.*"login_email":"frank@example.com"')" "$CLAIMS" || fail "frank's claims have no login_email"
pam_try logto-pw-frank frank "authenticate acct_mgmt" frank-pass-1
pam_expect_ok "frank's first password sign-in on the relay host (his e-mail as the identifier)"
echo "ok password sign-in with the directory's username, or e-mail without one; records the IdP cannot refresh"

# ---- revocation reaches the host after publish + sync, not before
idp_ctl PATCH /users/alice '{"roles":[]}' >/dev/null || fail "cannot remove alice's roles"
idp_ctl PATCH /users/erin '{"suspended":true}' >/dev/null || fail "cannot suspend erin"
pam_try logto-admin alice acct_mgmt
pam_expect_ok "alice before the publish (the directory is what the host knows)"
publish
hsync
pam_try logto-admin alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice after her role was removed, published and synced" "requires role admin"
pam_try logto-acme erin acct_mgmt
pam_expect PAM_ACCT_EXPIRED "erin after her suspension was published and synced" "suspended"
out=$(hctl keys erin 2>&1) || fail "keys erin (suspended): $out"
assert_eq "$out" "" "keys of a suspended user"
echo "ok a removed role and a suspension reach the relay host after publish + sync"

# ---- a directory signed again only restamps the claims; a stale one fails closed
restamp() { # PYTHON-EXPR-ON-s (the stamp)
    python3 - "$CLAIMS" "$1" <<'PY'
import json, sys
p = sys.argv[1]
head, rest = open(p).read().split("\n", 1)
prefix = "# logto-relay-claims v1 "
s = json.loads(head[len(prefix):])
exec(sys.argv[2])
open(p + ".new", "w").write(prefix + json.dumps(s, sort_keys=True, separators=(",", ":")) + "\n" + rest)
PY
    chmod 0600 "$CLAIMS.new" && mv "$CLAIMS.new" "$CLAIMS"
}
cp -p "$CLAIMS" "$T/claims.good"
restamp 'import time; s["not_after"] = int(time.time()) - 1'
pam_try logto-dev bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob with an expired directory" "expired"
assert_logged "$F" "^account-relay-refused user=bob code=expired reason=\"the relay directory on this host expired"
restamp 'import time; s["generated_at"] = int(time.time()) + 3600'
pam_try logto-dev bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob with a directory dated in the future" "in the future"
cp -p "$T/claims.good" "$CLAIMS"
chmod 0644 "$CLAIMS"
pam_try logto-dev bob acct_mgmt
pam_expect PAM_PERM_DENIED "bob with a group-readable claims file" "relay.claims"
chmod 0600 "$CLAIMS"
# The host syncs a manifest signed again (same object, later not_after): the stamp moves, the
# users stay.
python3 - "$PUB/manifest.json" >"$T/payload" <<'PY'
import json, sys
p = json.loads(json.load(open(sys.argv[1]))["signed"])
p["serial"] += 1; p["not_after"] += 60
sys.stdout.write(json.dumps(p, sort_keys=True, separators=(",", ":")))
PY
openssl pkeyutl -sign -inkey "$T/sign.pem" -rawin -in "$T/payload" -out "$T/sig" 2>/dev/null || fail "sign"
python3 -c 'import base64, json, sys; print(json.dumps({"signed": open(sys.argv[1]).read(), "signature": base64.b64encode(open(sys.argv[2], "rb").read()).decode()}))' \
    "$T/payload" "$T/sig" >"$PUB/manifest.json"
restamp 'import time; s["not_after"] = int(time.time()) - 1'
hsync
assert_eq "$(tail -n +2 "$CLAIMS")" "$(tail -n +2 "$T/claims.good")" "the users after a restamp"
pam_try logto-dev bob acct_mgmt
pam_expect_ok "bob after the directory was signed again"
echo "ok a stale or future-dated directory fails closed; a re-signed one restamps the claims"

# ---- config: what needs the tenant-admin secret is the publisher's
conf_refused() { # WHAT INI TEXT
    write_config "$T/bad.conf" "$T/bad" "$RELAY_INI
$2"
    out=$(wrap "$LOGTOCTL" --config "$T/bad.conf" config check 2>&1) && fail "$1: config check passed"
    assert_contains "$out" "$3" "$1"
    echo "ok config check refuses $1"
}
conf_refused "password_method management on a relay host" "[service logto-pw]
flow = password
password_method = management" "management checks passwords with the Management API's M2M secret"
conf_refused "[sync] credentials on a relay host" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $T/m2m.secret" "a relay host ([relay] url) holds no Management API credential"
conf_refused "the publisher's signing key on a relay host" "[publish]
sign_key_file = $T/sign.pem" "holds no signing key"
out=$(hctl sync --persist-uids 2>&1) && fail "sync --persist-uids on a relay host succeeded"
assert_contains "$out" "--persist-uids and --no-persist-uids are for the publisher" "sync --persist-uids"
out=$(hctl sync --user alice 2>&1) && fail "sync --user on a relay host succeeded"
assert_contains "$out" "installs the signed directory as a whole" "sync --user"
echo "ok sync --persist-uids and --user are refused on a relay host"

# ---- hostile: a directory entry named like a local account of the host is never served. On
# host l (its own state), erin (SSH keys in Logto) is a local account: a private /etc/passwd in a
# mount namespace.
idp_ctl PATCH /users/erin '{"suspended":false}' >/dev/null || fail "cannot unsuspend erin"
publish
L=$T/l
mkdir -p "$L"
write_config "$L/logto.conf" "$L" "$RELAY_INI
[service logto-acme]
require_orgs = pbl95zlwkzx4"
cp /etc/passwd "$L/passwd"
echo "erin:x:4242:4242:local erin:/home/erin:/bin/sh" >>"$L/passwd"
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
in_l() { unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/passwd && exec "$@"' "$L/passwd" "$@"; }
# shellcheck disable=SC2086
out=$(in_l ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" --config "$L/logto.conf" sync 2>&1) || fail "sync on l: $out"
grep -q "$(printf '^alice\t')" "$L/state/relay.claims" || fail "alice has no claims on l"
grep -q "$(printf '^erin\t')" "$L/state/relay.claims" && fail "the local name erin has claims on l"
[ -e "$L/state/keys/erin" ] && fail "the local name erin has a key cache file on l"
dump=$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$L/state/directory.snapshot")
assert_contains "$dump" "user:alice:" "l's snapshot"
assert_not_contains "$dump" "user:erin:" "l's snapshot"
# shellcheck disable=SC2086
out=$(in_l ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" --config "$L/logto.conf" keys erin 2>&1) || fail "keys erin on l: $out"
assert_eq "$out" "" "keys of the local erin"
# h, without the local account, serves her from the same directory (the test can fail).
grep -q "$(printf '^erin\t')" "$CLAIMS" || fail "erin has no claims on h"
echo "ok a directory entry named like a local account is not served (snapshot, claims, keys)"

# ---- l's own inputs change while the relay has nothing new: the next sync rebuilds from the
# local copy (no object fetched), as a direct-sync host would. A service added to logto.conf
# admits grace_hopper (Globex); then alice becomes a local account of l.
lsync() { # EXPECTED-VIA
    # shellcheck disable=SC2086
    out=$(in_l ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" --config "$L/logto.conf" --json sync 2>"$T/lsync.err") || fail "sync on l: $out $(cat "$T/lsync.err")"
    assert_eq "$(printf '%s' "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["relay_via"])')" "$1" "l's sync"
}
lsync unchanged
grep -q "$(printf '^grace_hopper\t')" "$L/state/relay.claims" && fail "grace_hopper has claims on l before her service"
printf '[service logto-globex]\nrequire_orgs = qmmg1gvtd5ib\n' >>"$L/logto.conf"
lsync rebuilt
grep -q "$(printf '^grace_hopper\t')" "$L/state/relay.claims" || fail "grace_hopper has no claims on l after her service was added"
assert_contains "$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$L/state/directory.snapshot")" "user:grace_hopper:" "l's snapshot after a service was added"
echo "alice:x:4243:4243:local alice:/home/alice:/bin/sh" >>"$L/passwd"
lsync rebuilt
grep -q "$(printf '^alice\t')" "$L/state/relay.claims" && fail "alice, now a local account of l, still has claims there"
assert_not_contains "$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$L/state/directory.snapshot")" "user:alice:" "l's snapshot after alice became local"
lsync unchanged
echo "ok a relay host applies its own configuration and local accounts at the next sync, with nothing new from the relay"

pam_test_done "$H" m2m-secret
