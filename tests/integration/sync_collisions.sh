#!/bin/sh
# SPDX-License-Identifier: MIT
# What sync refuses, and reports: both users of a UID or name collision (never the first
# come), Logto users with system names, groups whose names clash (a role group named like an
# organization group: the role's goes), a user named like a role (the role's group keeps its
# name). Role groups without a prefix here, so that roles, organizations and users can clash at
# all (the default prefix logto- keeps them apart). Last, [organization ID] group = acme through
# the real NSS module, a role and a user named like it, and the sections config check refuses.
. "$top_srcdir/tests/integration/sync_lib.sh"

sync_setup
printf '[identity]\nrole_group_prefix =\n' >>"$CFG"

# Two users with the same uidNumber; a user whose e-mail local part is another user's name;
# Logto users named like accounts in this machine's /etc/passwd.
idp_ctl PATCH /users/alice '{"custom_data":{"uidNumber":71234}}' >/dev/null || fail "patch alice"
idp_ctl PATCH /users/dave '{"custom_data":{"uidNumber":71234}}' >/dev/null || fail "patch dave"
idp_ctl POST /users '{"id":"bobemail0001","username":null,"email":"bob@elsewhere.example"}' >/dev/null ||
    fail "create the e-mail bob"
for local in daemon games; do
    grep -q "^$local:" /etc/passwd || skip "/etc/passwd has no $local"
    idp_ctl POST /users "{\"username\":\"$local\"}" >/dev/null || fail "create $local"
done
# A role named like the organization group of Acme Corp, held by erin (who is also in Acme),
# and a role named like a user, held by henry.
idp_ctl POST /roles '{"name":"org-pbl95zlwkzx4"}' >/dev/null || fail "create role"
idp_ctl POST /roles '{"name":"frank"}' >/dev/null || fail "create role frank"
idp_ctl PATCH /users/erin '{"roles":["developer","org-pbl95zlwkzx4"]}' >/dev/null || fail "erin"
idp_ctl PATCH /users/henry '{"roles":["frank"]}' >/dev/null || fail "henry"

json=$(ctl sync --json) || fail "sync failed: $json"
printf '%s\n' "$json" >"$T/report.json"

# ---- UID collision: both refused, reported as a pair
skipped=$(printf '%s' "$json" | jget '" ".join(sorted(s["name"] or "-" for s in d["skipped"] if s["kind"] == "collision"))')
assert_eq "$skipped" "alice dave frank" "users refused for collisions (frank: below)"
assert_eq "$(printf '%s' "$json" | jget '[c["value"] for c in d["collisions"] if c["kind"] == "uid"]')" '["71234"]'
assert_eq "$(printf '%s' "$json" | jget '[c for c in d["collisions"] if c["kind"] == "name"]')" '[]'
assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["name"] == "alice"][0]')" \
    "shares its uid 71234 with dave"
assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["sub"] == "bobemail0001"][0]')" \
    "its domain is not listed in [identity] email_domains"
ctl user --offline bob >/dev/null || fail "bob (username) keeps his name"
# The UID in collision is blocked (custom_data UIDs: sync cannot move them), and status says so.
assert_eq "$(printf '%s' "$json" | jget '[(u["uid"], sorted(c["name"] for c in u["claimants"])) for u in d["blocked"]["uids"]]')" \
    '[[71234, ["alice", "dave"]]]'
out=$(ctl status --offline 2>&1) && fail "status must not be healthy with a blocked UID"
assert_contains "$out" "problem: UID 71234 is blocked: 2 Logto users have the UID 71234"
for u in alice dave; do
    ctl user --offline "$u" >/dev/null 2>&1
    assert_eq "$?" 6 "$u must not be in the snapshot"
done
ctl user --offline erin >/dev/null || fail "erin (no collision) must be there"

# ---- system names (also local accounts here): refused when mapped, whatever /etc/passwd says
sys_reasons=$(printf '%s' "$json" | jget '" | ".join(sorted(s["reason"] for s in d["skipped"] if s["kind"] == "identity"))')
assert_contains "$sys_reasons" "maps to the name daemon, which is never served"
assert_contains "$sys_reasons" "maps to the name games, which is never served"
out=$(ctl user --offline --json daemon) || :
assert_eq "$(printf '%s' "$out" | jget 'd["local_account"]')" true
assert_eq "$(printf '%s' "$out" | jget 'd["snapshot"]')" null "daemon is not served"

# ---- group clashes: a role named like an organization's group loses the name, reported; the
# organization group stays (before, both went: a role could take an organization's group away)
gs=$(printf '%s' "$json" | jget '" ".join(sorted(g["kind"] + ":" + g["source"] for g in d["groups_skipped"]))')
assert_eq "$gs" "role:org-pbl95zlwkzx4" "skipped groups"
e=$(ctl user --offline --json erin) || fail "erin"
names=$(printf '%s' "$e" | jget '" ".join(sorted(g["kind"] + ":" + g["name"] for g in d["snapshot"]["groups"]))')
assert_eq "$names" "org-role:org-pbl95zlwkzx4-member org:org-pbl95zlwkzx4 private:erin role:developer" \
    "erin's groups (org-pbl95zlwkzx4 is the organization's)"
# frank (named like the role) is refused; the role's group keeps the name, for henry
assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["name"] == "frank"][0]')" \
    "keeps its name and GID"
ctl user --offline frank >/dev/null 2>&1
assert_eq "$?" 6 "frank must not be in the snapshot"
h=$(ctl user --offline --json henry) || fail "henry"
assert_contains "$(printf '%s' "$h" | jget '[(g["name"], g["kind"]) for g in d["snapshot"]["groups"]]')" '["frank", "role"]' \
    "henry's role group frank"

# ---- the same input in another order gives the same result: run it again
json2=$(ctl sync --json) || fail "second sync failed"
assert_eq "$(printf '%s' "$json2" | jget 'd["changes"]')" "[]" "a second sync changes nothing"

# ---- resolving the collision lets both back in
idp_ctl PATCH /users/dave '{"custom_data":{}}' >/dev/null || fail "unpatch dave"
json=$(ctl sync --json) || fail "sync failed"
assert_eq "$(printf '%s' "$json" | jget '" ".join(sorted(c["name"] for c in d["changes"] if c["kind"] == "user-added"))')" \
    "alice dave" "users back after the collision was resolved"
a=$(ctl user --offline --json alice) || fail "alice"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["uid"]')" 71234

# ---- --persist-uids: the UIDs of users in the snapshot without custom_data.uidNumber are
# written there; refused users (the two bobs, the local names) never are.
[ -x "$top_builddir/tests/lib/mksnapshot" ] || skip "tests/lib/mksnapshot is not built"
snapshot_uids() { # sub uid, one per line
    wrap "$top_builddir/tests/lib/mksnapshot" --dump "$SNAP" | awk -F: '$1 == "user" {print $8, $3}' | sort
}
logto_uids() { # sub uidNumber for every Logto user that has one
    idp_ctl GET /users | jget '" ".join(u["id"] for u in d)' | tr ' ' '\n' | while read -r id; do
        idp_ctl GET "/users/$id" | jget '"%s %s" % (d["id"], d["custom_data"].get("uidNumber")) if d["custom_data"] and "uidNumber" in d["custom_data"] else ""'
    done | grep -v '^$' | sort
}
before=$(logto_uids)
want=$(snapshot_uids | while read -r sub uid; do
    printf '%s\n' "$before" | grep -q "^$sub " || echo "$sub"
done | wc -l)
[ "$want" -gt 0 ] || fail "no user without a uidNumber: the test would prove nothing"
json=$(ctl sync --dry-run --persist-uids --json) || fail "dry run --persist-uids"
assert_eq "$(printf '%s' "$json" | jget 'd["uids"]')" "{\"persisted\": 0, \"to_persist\": $want}"
assert_eq "$(logto_uids)" "$before" "custom_data after a dry run"
json=$(ctl sync --persist-uids --json) || fail "sync --persist-uids: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["uids"]')" "{\"persisted\": $want, \"to_persist\": $want}"
assert_eq "$(logto_uids)" "$(snapshot_uids)" "every snapshot user's UID is in Logto now, and nobody else's"
json=$(ctl sync --persist-uids --json) || fail "second sync --persist-uids"
assert_eq "$(printf '%s' "$json" | jget 'd["uids"]')" '{"persisted": 0, "to_persist": 0}'
assert_eq "$(printf '%s' "$json" | jget 'd["changes"]')" "[]" "persisting changed no UID"

# ---- [organization pbl95zlwkzx4] group = acme: Acme Corp is the group acme, its role member
# acme-member, with the GIDs of the ID form; Globex keeps the ID form. A role named acme (henry,
# not in Acme) loses the name to the organization; a Logto user named acme is refused.
idp_ctl POST /roles '{"name":"acme"}' >/dev/null || fail "create role acme"
idp_ctl PATCH /users/henry '{"roles":["frank","acme"]}' >/dev/null || fail "henry"
idp_ctl POST /users '{"id":"acmeuser0001","username":"acme"}' >/dev/null || fail "create user acme"
gid_org=$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$SNAP" | awk -F: '$1 == "group" && $2 == "org-pbl95zlwkzx4" {print $3}')
cp "$CFG" "$T/acme.conf"
printf '[organization pbl95zlwkzx4]\ngroup = acme\n' >>"$T/acme.conf"
json=$(wrap "$LOGTOCTL" --config "$T/acme.conf" sync --json) || fail "sync with acme: $json"
gs=$(printf '%s' "$json" | jget '" ".join(sorted(g["kind"] + ":" + g["source"] for g in d["groups_skipped"]))')
assert_eq "$gs" "role:acme" "skipped groups with acme (the role org-pbl95zlwkzx4 clashes no more)"
assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["sub"] == "acmeuser0001"][0]')" \
    "is the group 'acme' of [organization pbl95zlwkzx4]"
if have_nss_wrapper; then
    out=$(nss_getent group acme) || fail "getent group acme: $out"
    assert_eq "$out" "acme:*:$gid_org:alice,erin" "getent group acme (the ID form's GID)"
    out=$(nss_getent group acme-member) || fail "getent group acme-member: $out"
    assert_contains "$out" "acme-member:*:"
    assert_contains "$(nss_getent group org-qmmg1gvtd5ib)" ":bob" "Globex keeps the ID form"
    # the name is free of the organization now: erin's role of that name has it
    out=$(nss_getent group org-pbl95zlwkzx4) || fail "getent group org-pbl95zlwkzx4: $out"
    assert_contains "$out" ":erin" "org-pbl95zlwkzx4 is the role's group"
    assert_not_contains "$out" ":$gid_org:" "org-pbl95zlwkzx4 is not the organization's"
    out=$(nss_run id erin) || fail "id erin: $out"
    assert_contains "$out" "(acme),"
    assert_contains "$out" "(acme-member)"
    out=$(nss_run id henry) || fail "id henry: $out"
    assert_not_contains "$out" "acme" "henry's role acme is no group"
    echo "ok [organization] group = acme through the NSS module"
else
    echo "# nss_wrapper or the module missing: acme checked in the snapshot only"
fi

# ---- sections config check refuses, each named by file, line and key
cp "$CFG" "$T/bad.conf"
printf '[organization bad/id]\ngroup = x\n[organization qmmg1gvtd5ib]\ngroup = acme\n[organization pbl95zlwkzx4]\ngroup = acme\n[organization g3]\ngroup = www-data\n' >>"$T/bad.conf"
base=$(wc -l <"$CFG")
out=$(wrap "$LOGTOCTL" --config "$T/bad.conf" config check 2>&1) && fail "config check passed: $out"
assert_contains "$out" "$T/bad.conf:$((base + 1)): [organization]: \"bad/id\" is not an organization ID"
assert_contains "$out" "$T/bad.conf:$((base + 6)): [organization pbl95zlwkzx4] group: \"acme\" is already the group of [organization qmmg1gvtd5ib]"
assert_contains "$out" "$T/bad.conf:$((base + 8)): [organization g3] group: \"www-data\" is reserved for the system"
out=$(wrap "$LOGTOCTL" --config "$T/bad.conf" sync 2>&1) && fail "sync with a bad configuration: $out"
nss_getent group acme >/dev/null 2>&1 || ! have_nss_wrapper || fail "the snapshot stays as it was"
exit 0
