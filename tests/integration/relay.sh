#!/bin/sh
# SPDX-License-Identifier: MIT
# Fleets (issue 18): `logtoctl publish DIR` against the test IdP, DIR served over HTTPS by the
# test IdP's static route (--static-dir, ETag/304), two relay hosts that sync from it without any
# Management API credential; every tampering and outage case keeps the old snapshot byte for byte.
. "$top_srcdir/tests/integration/sync_lib.sh"
need_cmd openssl

T0=$(test_tmpdir)
PUB=$T0/pub
mkdir -m 0755 "$PUB"
sync_setup --static-dir "$PUB"
RELAY=$IDP_URL/relay

openssl genpkey -algorithm ed25519 -out "$T/sign.pem" 2>/dev/null || fail "openssl genpkey"
chmod 0600 "$T/sign.pem"
openssl pkey -in "$T/sign.pem" -pubout -out "$T/sign.pub" 2>/dev/null || fail "openssl pkey -pubout"
openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/other.pem" -pubout -out "$T/other.pub" 2>/dev/null
printf '[publish]\nsign_key_file = %s\n' "$T/sign.pem" >>"$CFG"

publish() { wrap "$LOGTOCTL" --config "$CFG" publish "$@" "$PUB"; }

# ---- the signing key is a root-trusted file: a group-readable key is refused by name
chmod 0640 "$T/sign.pem"
out=$(publish 2>&1) && fail "publish with a 0640 key succeeded"
assert_contains "$out" "sign.pem"
chmod 0600 "$T/sign.pem"

# ---- publish: a manifest and an object named by its hash; a second run writes nothing
json=$(publish --json) || fail "publish failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["written"]')" true "first publish"
sha=$(printf '%s' "$json" | jget 'd["sha256"]')
[ -f "$PUB/directory-$sha.json.zz" ] || fail "no object directory-$sha.json.zz in DIR: $(ls "$PUB")"
assert_eq "$(sha256sum <"$PUB/directory-$sha.json.zz" | cut -d' ' -f1)" "$sha" "object hash"
# the same tenant gives the same bytes: canonical JSON, compressed without a timestamp
python3 -c 'import json, sys, zlib; d = zlib.decompress(open(sys.argv[1], "rb").read()); assert json.dumps(json.loads(d), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == d' \
    "$PUB/directory-$sha.json.zz" || fail "the object is not canonical JSON"
before=$(tree_state "$PUB")
json=$(publish --json) || fail "second publish failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["written"]')" false "publish with nothing changed"
assert_eq "$(tree_state "$PUB")" "$before" "DIR after a publish with nothing changed"
echo "ok publish: object named by its SHA-256, a second run writes nothing"

# ---- two relay hosts: no [sync] at all
host_config() { # NAME PUBKEY [IDENTITY-LINE]
    write_config "$T/$1.conf" "$T/$1" "[relay]
url = $RELAY
public_key_file = $2
[identity]
email_domains = example.com
${3:-}"
    # Under valgrind every TLS handshake is slow (and the 10 MB cases read a while): long timeouts.
    [ -z "${LOGTO_TEST_WRAPPER:-}" ] ||
        sed -i -e 's/^timeout = .*/timeout = 60s/' -e 's/^connect_timeout = .*/connect_timeout = 30s/' "$T/$1.conf"
}
host_config h1 "$T/sign.pub"
# h2 has another id_range: the users and UIDs are still the publisher's (hosts never re-decide
# them); derived group GIDs come from each host's [identity] (a fleet shares it).
host_config h2 "$T/sign.pub" "id_range = 1879048192-1979048191"
grep -q m2m "$T/h1.conf" && fail "relay host config holds M2M credentials"
hsync() { wrap "$LOGTOCTL" --config "$T/$1.conf" sync 2>&1; }
hsnap() { echo "$T/$1/state/directory.snapshot"; }

# The publisher's own direct sync is the reference.
out=$(ctl sync 2>&1) || fail "publisher's direct sync failed: $out"
for h in h1 h2; do
    out=$(hsync "$h") || fail "relay sync on $h failed: $out"
done
# The snapshot as text, without the times it was written at (the directory, each user).
dump() { wrap "$top_builddir/tests/lib/mksnapshot" --dump "$1" | grep -v '^generated:' | sed '/^user:/s/:[0-9]*$//'; }
ref=$(dump "$SNAP")
assert_eq "$(dump "$(hsnap h1)")" "$ref" "h1's directory against the publisher's"
assert_eq "$(dump "$(hsnap h2)" | grep '^user:')" "$(echo "$ref" | grep '^user:')" "h2's users against the publisher's"
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-})
if [ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] && [ -n "${LOGTO_NSS_MODULE:-}" ]; then
    nss_getent() { # SNAPSHOT ARGS...
        s=$1
        shift
        env LD_PRELOAD="$(module_preload "$NSS_WRAPPER_LIB")" NSS_WRAPPER_PASSWD="$top_srcdir/tests/data/nss/passwd" \
            NSS_WRAPPER_GROUP="$top_srcdir/tests/data/nss/group" NSS_WRAPPER_MODULE_SO_PATH="$LOGTO_NSS_MODULE" \
            NSS_WRAPPER_MODULE_FN_PREFIX=logto LOGTO_NSS_SNAPSHOT="$s" getent "$@"
    }
    assert_eq "$(nss_getent "$(hsnap h1)" passwd)" "$(nss_getent "$SNAP" passwd)" "getent passwd on h1"
    assert_eq "$(nss_getent "$(hsnap h1)" group)" "$(nss_getent "$SNAP" group)" "getent group on h1"
    assert_eq "$(nss_getent "$(hsnap h2)" passwd)" "$(nss_getent "$SNAP" passwd)" "getent passwd on h2"
    assert_contains "$(nss_getent "$(hsnap h2)" passwd alice)" "alice:" "getent passwd alice on h2"
    echo "ok getent passwd/group on the relay hosts match the publisher's"
fi
echo "ok two relay hosts: the publisher's directory, no Management API credential"

# SSH keys travel in the signed directory: sshd's AuthorizedKeysCommand answers on a relay host
# without any Management API credential (from the key cache the relay sync wrote).
out=$(wrap "$LOGTOCTL" --config "$T/h1.conf" keys erin 2>&1) || fail "keys erin on h1: $out"
assert_contains "$out" "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ1W8tZf0Q4xZ2m1kq8m6J0a4yZrJ0b6Hq9v2nK3pLd" "erin's key on h1"
echo "ok logtoctl keys on a relay host: the published keys"

# ---- a 304 costs one request and writes nothing
idp_ctl POST /stats/reset >/dev/null
s1=$(checksum "$(hsnap h1)")
out=$(hsync h1) || fail "unchanged relay sync failed: $out"
assert_eq "$(idp_ctl GET /stats | jget 'd["relay"]')" 1 "requests of an unchanged relay sync"
assert_eq "$(idp_ctl GET /stats | jget 'd["total"]')" 0 "IdP requests of a relay sync"
assert_eq "$(checksum "$(hsnap h1)")" "$s1" "snapshot after a 304"
echo "ok 304: one request, nothing written"

# ---- a changed role shows up after the next publish + sync, through a delta: the manifest and
# the changed entries, two requests
hsyncj() { wrap "$LOGTOCTL" --config "$T/$1.conf" sync --json 2>/dev/null; }
relay_requests() { idp_ctl GET /stats | jget 'd["relay"]'; }
idp_ctl PATCH /users/alice '{"roles":[]}' >/dev/null || fail "cannot change alice's roles"
json=$(publish --json) || fail "publish after a change failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["written"]')" true "publish after a change"
assert_eq "$(printf '%s' "$json" | jget 'd["delta_written"]')" true "a delta published"
assert_eq "$(printf '%s' "$json" | jget 'd["delta_size"] < d["size"]')" true "the delta is smaller than the object: $json"
idp_ctl POST /stats/reset >/dev/null
json=$(hsyncj h1) || fail "relay sync after a change failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["relay_via"]')" delta "h1 took the delta"
assert_eq "$(relay_requests)" 2 "requests of a relay sync through a delta"
assert_not_contains "$(dump "$(hsnap h1)" | grep 'logto-admin')" "alice" "alice left logto-admin on h1"
out=$(ctl sync 2>&1) || fail "publisher's direct sync failed: $out"
assert_eq "$(dump "$(hsnap h1)")" "$(dump "$SNAP")" "h1 after the change"
echo "ok a changed role reaches the relay host after publish + sync, through a delta"

# ---- a delta that cannot be used costs the object, never the directory: a tampered delta, a
# damaged local copy, a host more than one change behind
flip() { python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1; open(sys.argv[1], "wb").write(b)' "$1"; }
delta_file=$(ls "$PUB"/delta-*)
flip "$delta_file"
idp_ctl POST /stats/reset >/dev/null
json=$(hsyncj h2) || fail "relay sync with a tampered delta failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["relay_via"]')" object "h2 with a tampered delta"
assert_eq "$(relay_requests)" 3 "requests with a tampered delta (manifest, delta, object)"
assert_eq "$(dump "$(hsnap h2)" | grep '^user:')" "$(dump "$SNAP" | grep '^user:')" "h2 after a tampered delta"
flip "$delta_file"
idp_ctl PATCH /users/bob '{"roles":["auditor"]}' >/dev/null || fail "cannot change bob's roles"
json=$(publish --json) || fail "publish after a second change failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["delta_written"]')" true "a second delta"
flip "$T/h2/state/relay.object"
idp_ctl POST /stats/reset >/dev/null
json=$(hsyncj h2) || fail "relay sync with a damaged local copy failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["relay_via"]')" object "h2 with a damaged local copy"
assert_eq "$(relay_requests)" 2 "requests with a damaged local copy (manifest, object)"
idp_ctl PATCH /users/bob '{"roles":[]}' >/dev/null || fail "cannot change bob's roles"
publish >/dev/null || fail "publish after a third change failed"
json=$(hsyncj h1) || fail "relay sync two changes behind failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["relay_via"]')" object "h1 two changes behind"
json=$(hsyncj h2) || fail "relay sync one change behind failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["relay_via"]')" delta "h2 one change behind, after a fallback"
out=$(ctl sync 2>&1) || fail "publisher's direct sync failed: $out"
for h in h1 h2; do
    assert_eq "$(dump "$(hsnap "$h")" | grep '^user:')" "$(dump "$SNAP" | grep '^user:')" "$h after three changes"
done
echo "ok an unusable delta (tampered, damaged base, older base) costs one object fetch, nothing else"

# ---- tenant-wide decisions are the publisher's: a UID collision refuses both users on every
# host, with the publisher's reason and blocked list
idp_ctl PATCH /users/alice '{"custom_data":{"uidNumber":71234}}' >/dev/null || fail "patch alice"
idp_ctl PATCH /users/dave '{"custom_data":{"uidNumber":71234}}' >/dev/null || fail "patch dave"
json=$(publish --json) || fail "publish with a collision failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["refused"]')" 2 "users the publisher refused"
out=$(ctl sync 2>&1) || fail "publisher's direct sync failed: $out"
for h in h1 h2; do
    json=$(wrap "$LOGTOCTL" --config "$T/$h.conf" sync --json 2>/dev/null) || fail "relay sync on $h: $json"
    assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["sub"] == "e738g7numf03"]')" \
        "shares its uid 71234 with dave" "alice's refusal on $h"
    assert_eq "$(dump "$(hsnap "$h")" | grep '^user:')" "$(dump "$SNAP" | grep '^user:')" "$h after a collision"
    assert_eq "$(jget '[u["uid"] for u in d["uids"]]' <"$T/$h/state/blocked.json")" "[71234]" "blocked UIDs on $h"
done
echo "ok the publisher's collision decisions hold on every host, whatever its id_range"

# ---- refusals: each keeps the snapshot byte for byte, and sync.status says why
GOOD=$T/good
cp -a "$PUB" "$GOOD"
keep=$(checksum "$(hsnap h1)")
refused() { # WHAT EXPECTED-TEXT [HOST]
    h=${3:-h1}
    out=$(hsync "$h") && fail "$1: relay sync succeeded"
    assert_contains "$out" "$2" "$1"
    assert_eq "$(checksum "$(hsnap "$h")")" "$keep" "snapshot after $1"
    st=$(wrap "$LOGTOCTL" --config "$T/$h.conf" status --offline --json 2>/dev/null || true)
    assert_contains "$st" "$2" "status after $1"
    echo "ok refused: $1"
}
restore() { rm -rf "$PUB"/*; cp -a "$GOOD"/. "$PUB"/; }
mfile=$PUB/manifest.json

# a manifest signed with our key, payload fields changed (python: compact, sorted keys)
resign() { # KEY PYTHON-EXPR-ON-p
    python3 - "$mfile" "$2" >"$T/payload" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
p = json.loads(m["signed"])
exec(sys.argv[2])
sys.stdout.write(json.dumps(p, sort_keys=True, separators=(",", ":")))
PY
    openssl pkeyutl -sign -inkey "$1" -rawin -in "$T/payload" -out "$T/sig" 2>/dev/null || fail "openssl pkeyutl"
    python3 - "$T/payload" "$T/sig" >"$mfile.new" <<'PY'
import base64, json, sys
print(json.dumps({"signed": open(sys.argv[1]).read(), "signature": base64.b64encode(open(sys.argv[2], "rb").read()).decode()}))
PY
    mv "$mfile.new" "$mfile"
}

sed -i 's/"serial\\":/"serial\\":1/' "$mfile"
refused "tampered manifest" "signature does not verify"
restore
# Object cases on h5, a host with h1's snapshot that has not installed this directory yet (a
# host fetches no object whose hash it installed already, whatever the serial).
host_config h5 "$T/sign.pub"
cp "$(hsnap h1)" "$(hsnap h5)"
for f in "$PUB"/directory-*; do flip "$f"; done
refused "tampered object" "does not match the signed manifest" h5
restore
resign "$T/other.pem" 'p["serial"] += 1'
refused "manifest signed by another key" "signature does not verify"
restore
resign "$T/sign.pem" 'p["serial"] -= 1'
refused "rolled-back serial" "rollback"
restore
resign "$T/sign.pem" 'p["not_after"] = p["generated_at"] - 1'
refused "expired not_after" "expired"
restore
head -c 10485760 /dev/urandom >"$mfile"
refused "10 MB of garbage as the manifest" "exceeds"
restore
for f in "$PUB"/directory-*; do head -c 10485760 /dev/urandom >"$f"; done
refused "10 MB of garbage as the object" "exceeds" h5
restore
# an object the publisher's key vouches for (hash and size) that is not zlib data
head -c 4096 /dev/urandom >"$T/junk"
jsha=$(sha256sum <"$T/junk" | cut -d' ' -f1)
cp "$T/junk" "$PUB/directory-$jsha.json.zz"
resign "$T/sign.pem" "p['serial'] += 1; p['sha256'] = '$jsha'; p['object'] = 'directory-$jsha.json.zz'; p['size'] = 4096"
refused "a signed object that is not zlib data" "not valid zlib data" h5
restore
host_config h3 "$T/sign.pub"
sed -i "s|^url = .*|url = https://127.0.0.1:1/relay|" "$T/h3.conf"
cp "$(hsnap h1)" "$(hsnap h3)"
refused "relay down" "cannot reach" h3
host_config h4 "$T/other.pub"
cp "$(hsnap h1)" "$(hsnap h4)"
refused "a host pinning another key" "signature does not verify" h4

# after all that, the good directory installs again, and a directory signed again with a newer
# serial costs the manifest only
out=$(hsync h5) || fail "relay sync after the refusals failed: $out"
assert_eq "$(dump "$(hsnap h5)")" "$(dump "$(hsnap h1)")" "h5 after the refusals"
resign "$T/sign.pem" 'p["serial"] += 5'
idp_ctl POST /stats/reset >/dev/null
out=$(hsync h1) || fail "relay sync of a re-signed manifest failed: $out"
assert_eq "$(idp_ctl GET /stats | jget 'd["relay"]')" 1 "requests for a re-signed directory"
assert_eq "$(checksum "$(hsnap h1)")" "$keep" "snapshot after a re-signed directory"
resign "$T/sign.pem" 'p["serial"] -= 1'
refused "the serial before the re-signed one" "rollback"
echo "ok the relay hosts recover; a re-signed directory moves only the serial"

# ---- logtoctl status on a relay host: the relay's URL, the installed serial, generated_at,
# not_after and age; a failed relay sync, or an installed directory past not_after, is a problem
# (exit non-zero). The expiry is injected in relay.state (what a host holds once the publisher
# has been silent past not_after) instead of waiting for it.
rstatus() {
    h=$1
    shift
    wrap "$LOGTOCTL" --config "$T/$h.conf" status --offline "$@"
}
st=$(rstatus h1 --json 2>/dev/null) && fail "status healthy after a refused relay sync"
assert_contains "$(printf '%s' "$st" | jget 'd["problems"]')" "the last sync from the relay failed" "status after a rollback"
assert_contains "$(printf '%s' "$st" | jget 'd["problems"]')" "rollback" "status names the reason"
# the collision undone, so that nothing else is wrong on h5
idp_ctl PATCH /users/alice '{"custom_data":{}}' >/dev/null || fail "patch alice"
idp_ctl PATCH /users/dave '{"custom_data":{}}' >/dev/null || fail "patch dave"
json=$(publish --json) || fail "publish without the collision failed: $json"
out=$(hsync h5) || fail "relay sync on h5: $out"
payload() { python3 -c 'import json, sys; p = json.loads(json.load(open(sys.argv[1]))["signed"]); print(p[sys.argv[2]])' "$mfile" "$1"; }
st=$(rstatus h5 --json) || fail "status on a healthy relay host: $st"
for k in serial generated_at not_after; do
    assert_eq "$(printf '%s' "$st" | jget "d['relay']['$k']")" "$(payload $k)" "status: relay $k"
done
assert_eq "$(printf '%s' "$st" | jget 'd["relay"]["url"]')" "$RELAY" "status: relay url"
assert_eq "$(printf '%s' "$st" | jget 'd["relay"]["expired"]')" false "status: relay expired"
age=$(printf '%s' "$st" | jget 'd["relay"]["age_s"]')
[ "$age" -ge 0 ] && [ "$age" -lt 600 ] || fail "status: relay age_s $age"
out=$(rstatus h5) || fail "status text on a healthy relay host: $out"
assert_contains "$out" "relay: $RELAY" "status text"
assert_contains "$out" "installed serial $(payload serial), generated " "status text"
assert_contains "$out" "valid until in " "status text"
python3 - "$T/h5/state/relay.state" <<'PY'
import json, sys, time
s = json.load(open(sys.argv[1]))
s["generated_at"], s["not_after"] = int(time.time()) - 93600, int(time.time()) - 7200
open(sys.argv[1], "w").write(json.dumps(s))
PY
rc=0
out=$(rstatus h5) || rc=$?
[ "$rc" != 0 ] || fail "status healthy with an expired relay directory: $out"
assert_contains "$out" "problem: relay: the installed directory (serial $(payload serial)) EXPIRED 2h 0m ago" "status text when expired"
assert_contains "$out" "NOT healthy" "status text when expired"
assert_eq "$(rstatus h5 --json 2>/dev/null | jget 'd["relay"]["expired"]')" true "status: relay expired"
# the relay still serves that manifest (a 304): the sync fails too, and keeps the snapshot
keep=$(checksum "$(hsnap h5)")
idp_ctl POST /stats/reset >/dev/null
refused "a 304 for the installed manifest past its not_after" "the relay still serves the installed manifest" h5
assert_eq "$(idp_ctl GET /stats | jget 'd["relay"]')" 1 "requests of a relay sync answered 304"
echo "ok status on a relay host: serial, generated_at, not_after, age; expired or failed is unhealthy"
