#!/bin/sh
# SPDX-License-Identifier: MIT
# A tenant of 10,000 generated users (2,000 under valgrind), 50 roles and 50 organizations (plus
# the fixtures): the exact request count of the directory fetch, every user in the snapshot but
# those legitimately refused, a spot check of one user against the IdP's own record, and the time it took (reported,
# not asserted: no wall-clock assertions in tests; see bench/ for measurements).
. "$top_srcdir/tests/integration/sync_lib.sh"

# Under valgrind a tenant of 2,000: the same pages, mappings and writes, a fifth of the time.
N=10000
under_wrapper && N=2000
sync_setup --generate "users=$N,roles=50,orgs=50"
spot=$(printf 'user%05d' $((N / 2)))

expected=$(expected_requests)
# A dry run first: the same fetch against a cold IdP (node warms up), counted the same way.
cold=$(ctl sync --dry-run --json) || fail "dry run failed"
assert_eq "$(printf '%s' "$cold" | jget 'd["requests"]')" "$expected" "requests of the dry run (report)"
assert_eq "$(idp_requests)" "$expected" "requests of the dry run (IdP)"
idp_ctl POST /stats/reset >/dev/null
start=$(date +%s%N)
json=$(ctl sync --json) || fail "sync failed"
end=$(date +%s%N)
printf '%s\n' "$json" >"$T/report.json"

fetched=$(idp_ctl GET /users | jget 'len(d)')
assert_eq "$(printf '%s' "$json" | jget 'd["fetched"]["users"]')" "$fetched" "users fetched"
assert_eq "$(printf '%s' "$json" | jget 'd["requests"]')" "$expected" "requests (report)"
assert_eq "$(idp_requests)" "$expected" "requests (IdP)"

# Everybody is in, except users refused for a reason the report gives. With hashed UIDs among
# 10,008 users a hash collision is possible (then both are refused): check that it is a real one.
users=$(printf '%s' "$json" | jget 'd["users"]')
skipped=$(printf '%s' "$json" | jget 'len(d["skipped"])')
assert_eq "$((users + skipped))" "$fetched" "users + skipped"
printf '%s' "$json" | python3 -c '
import hashlib, json, sys
d = json.load(sys.stdin)
lo, hi = 1879048192, 2147352575
def uid(sub):
    h = int.from_bytes(hashlib.sha256(b"logto-uid:" + sub.encode()).digest()[:8], "big")
    return lo + h % (hi - lo + 1)
for s in d["skipped"]:
    assert s["kind"] == "collision", s
for c in d["collisions"]:
    assert c["kind"] in ("uid", "gid"), c
    assert uid(c["a"]["sub"]) == uid(c["b"]["sub"]) == int(c["value"]), c
refused = {s["sub"] for s in d["skipped"]}
paired = {c["a"]["sub"] for c in d["collisions"]} | {c["b"]["sub"] for c in d["collisions"]}
assert refused == paired, (refused, paired)
' || fail "skipped users are not all genuine collisions"

# The file agrees (an independent reader), and a dry run right after sees no change.
if [ -x "$top_builddir/tests/lib/mksnapshot" ]; then
    n=$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$SNAP" | grep -c '^user:')
    assert_eq "$n" "$users" "users in the snapshot file"
fi
again=$(ctl sync --dry-run --json) || fail "dry run failed"
assert_eq "$(printf '%s' "$again" | jget 'd["previous"]["users"]')" "$users" "users read back"
assert_eq "$(printf '%s' "$again" | jget 'd["changes"]')" "[]" "changes right after a sync"

# One generated user against the IdP's own record of it.
rec=$(idp_ctl GET "/users/$spot") || fail "control API $spot"
sub=$(printf '%s' "$rec" | jget 'd["id"]')
if ! printf '%s' "$json" | jget '[s["sub"] for s in d["skipped"]]' | grep -q "\"$sub\""; then
    u=$(ctl user --offline --json "$spot") || fail "$spot is not in the snapshot"
    assert_eq "$(printf '%s' "$u" | jget 'd["snapshot"]["uid"]')" "$(hashed_uid "$sub")" "$spot's UID"
    # Group names with the default prefixes (logtoctl config keys lists them).
    prefix() { wrap "$LOGTOCTL" config keys | awk -F'\t' -v k="$1" '$2 == k {print ($4 == "\"\"" ? "" : $4)}'; }
    want=$(printf '%s' "$rec" | python3 -c '
import json, sys
d = json.load(sys.stdin)
rp, op, orp = sys.argv[1:4]
names = [rp + r for r in d["roles"]] + [op + o["id"] for o in d["organizations"]]
names += [orp + o["id"] + "-" + r for o in d["organizations"] for r in o["roles"]]
print(" ".join(sorted(names)))' "$(prefix role_group_prefix)" "$(prefix org_group_prefix)" "$(prefix org_role_group_prefix)")
    got=$(printf '%s' "$u" | jget '" ".join(sorted(g["name"] for g in d["snapshot"]["groups"] if g["kind"] != "private"))')
    assert_eq "$got" "$want" "$spot's groups"
fi

ms=$(((end - start) / 1000000))
echo "sync-scale: $fetched users fetched, $users in the snapshot, $skipped refused," \
    "$(printf '%s' "$json" | jget 'd["groups"]') groups, $expected requests;" \
    "cold dry run $(printf '%s' "$cold" | jget 'd["timing_ms"]') ms;" \
    "sync $(printf '%s' "$json" | jget 'd["timing_ms"]') ms, whole process $ms ms" \
    "${LOGTO_TEST_WRAPPER:+(under $LOGTO_TEST_WRAPPER)}" >&2
exit 0
