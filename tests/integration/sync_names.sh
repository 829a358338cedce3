#!/bin/sh
# SPDX-License-Identifier: MIT
# Who owns a name, and hashed UID collisions, as sync decides them (owners.h, sync.h):
#  - `Alice` (a case-only duplicate, allowed by Logto's case-sensitive usernames) never takes
#    `alice` from the user whose username is identical to it;
#  - `Carl` and `CARL`, or `GINA` and the e-mail gina@example.com, block their name for everybody:
#    in blocked.json, `logtoctl status` not healthy (exit 1), `logtoctl user` lists the claimants;
#    renaming one of them in Logto frees the name at the next sync;
#  - two users whose sub hashes to the same UID: with --no-persist-uids both are refused and the
#    UID is blocked; by default the older account keeps the hash, the other gets the first free
#    probe value, written to its custom_data; a second host (another state directory) synced
#    from the same tenant gives both users the same UIDs;
#  - sync --user NAME: one user's entry refreshed by the same rules, nothing else touched; every
#    name the rules refuse (hostile or not) refused with a message and nothing written.
. "$top_srcdir/tests/integration/sync_lib.sh"

sync_setup

idp_ctl POST /users '{"id":"alicecase001","username":"Alice"}' >/dev/null || fail "create Alice"
idp_ctl POST /users '{"id":"carlupper001","username":"Carl"}' >/dev/null || fail "create Carl"
idp_ctl POST /users '{"id":"carlupper002","username":"CARL"}' >/dev/null || fail "create CARL"
idp_ctl POST /users '{"id":"ginaemail001","username":null,"email":"gina@example.com"}' >/dev/null ||
    fail "create gina's e-mail"
idp_ctl POST /users '{"id":"ginaupper001","username":"GINA"}' >/dev/null || fail "create GINA"
# Two subs whose hashes collide in the default id_range (found offline; hashed_uid shows it).
old=uidc00003397 new=uidc00015642
uid=$(hashed_uid $old)
assert_eq "$(hashed_uid $new)" "$uid" "the two subs collide"
idp_ctl POST /users "{\"id\":\"$new\",\"username\":\"newer\",\"created_at\":1700000002000}" >/dev/null ||
    fail "create newer"
idp_ctl POST /users "{\"id\":\"$old\",\"username\":\"older\",\"created_at\":1700000001000}" >/dev/null ||
    fail "create older"

# ---- --no-persist-uids: the collision stays; both refused, the UID blocked
json=$(ctl sync --no-persist-uids --json) || fail "sync --no-persist-uids: $json"
assert_eq "$(printf '%s' "$json" | jget '[(u["uid"], sorted(c["name"] for c in u["claimants"])) for u in d["blocked"]["uids"]]')" \
    "[[$uid, [\"newer\", \"older\"]]]" "UID blocked without persistence"
for u in older newer; do
    ctl user --offline "$u" >/dev/null 2>&1
    assert_eq "$?" 6 "$u is not served while the UID is in collision"
done
assert_eq "$(idp_ctl GET /users/newer | jget 'd["custom_data"]')" "{}" "nothing persisted"

# ---- names
assert_eq "$(printf '%s' "$json" | jget '" ".join(sorted(s["sub"] for s in d["skipped"] if s["kind"] == "name"))')" \
    "alicecase001 carlupper001 carlupper002 ginaemail001 ginaupper001" "users refused by the name rule"
assert_contains "$(printf '%s' "$json" | jget '[s["reason"] for s in d["skipped"] if s["sub"] == "alicecase001"][0]')" \
    "the name alice belongs to alice (sub e738g7numf03), whose user name is identical to it"
assert_eq "$(printf '%s' "$json" | jget '[(b["name"], sorted(c["sub"] for c in b["claimants"])) for b in d["blocked"]["names"]]')" \
    '[["carl", ["carlupper001", "carlupper002"]], ["gina", ["ginaemail001", "ginaupper001"]]]' "blocked names"
a=$(ctl user --offline --json alice) || fail "alice is served"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["sub"]')" e738g7numf03 "alice is the identical username's"
for u in carl gina; do
    ctl user --offline "$u" >/dev/null || fail "logtoctl user $u (blocked) exits 0"
done
grep -q '"carl"' "$STATE/blocked.json" || fail "blocked.json names carl"
assert_eq "$(stat -c '%a %U' "$STATE/blocked.json")" "644 root" "blocked.json mode"
assert_not_contains "$(cat "$STATE/blocked.json")" "gina@example.com" "no e-mail address in blocked.json"

# status: every blocked name and UID is a problem (exit 1)
out=$(ctl status --offline 2>&1)
assert_eq "$?" 1 "status exit code with blocked names"
assert_contains "$out" "problem: name carl is blocked: 2 Logto users claim the name carl"
assert_contains "$out" "problem: name gina is blocked"
assert_contains "$out" "problem: UID $uid is blocked"
assert_contains "$out" "NOT healthy"
# user: who claims it, from the blocked file and live from the Management API
out=$(ctl user carl) || fail "logtoctl user carl: $out"
assert_contains "$out" "BLOCKED: the name carl belongs to nobody"
assert_contains "$out" "carl (sub carlupper001, field username 'Carl')"
assert_contains "$out" "claimed in Logto by 2 users:"
assert_contains "$out" "nobody owns it"
out=$(ctl user --json alice) || fail "logtoctl user alice"
assert_eq "$(printf '%s' "$out" | jget '[(c["sub"], c["owner"]) for c in d["claimants"]]')" \
    '[["alicecase001", false], ["e738g7numf03", true]]' "alice's claimants, live"

# ---- default sync: the collision resolved and persisted, the same on a second host
json=$(ctl sync --json) || fail "sync: $json"
probe=$(python3 -c '
import hashlib, sys
lo, hi = 1879048192, 2147352575
h = lambda s: lo + int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") % (hi - lo + 1)
print(h("logto-uid:" + sys.argv[1] + "#1"))' $new)
assert_eq "$(printf '%s' "$json" | jget '[(m["name"], m["hashed_uid"], m["uid"], m["probe"], m["keeper_name"], m["persisted"]) for m in d["uid_moves"]]')" \
    "[[\"newer\", $uid, $probe, 1, \"older\", true]]" "the newer account moved to probe 1"
assert_eq "$(printf '%s' "$json" | jget 'd["blocked"]["uids"]')" "[]" "no UID blocked any more"
assert_eq "$(idp_ctl GET /users/newer | jget 'd["custom_data"]["uidNumber"]')" "$probe" "persisted"
assert_eq "$(idp_ctl GET /users/older | jget 'd["custom_data"]')" "{}" "the keeper's hash is not written"
assert_eq "$(ctl user --offline --json older | jget 'd["snapshot"]["uid"]')" "$uid"
assert_eq "$(ctl user --offline --json newer | jget 'd["snapshot"]["uid"]')" "$probe"

T2=$(test_tmpdir)
CFG2=$T2/logto.conf
write_config "$CFG2" "$T2" "[sync]
m2m_client_id = m2m-app
request_interval = 0
m2m_client_secret_file = $T/m2m.secret
[identity]
email_domains = example.com"
json=$(wrap "$LOGTOCTL" --config "$CFG2" sync --json) || fail "second host: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["uid_moves"]')" "[]" "nothing left to move on the second host"
for u in older newer; do
    assert_eq "$(wrap "$LOGTOCTL" --config "$CFG2" user --offline --json $u | jget 'd["snapshot"]["uid"]')" \
        "$(ctl user --offline --json $u | jget 'd["snapshot"]["uid"]')" "$u has the same UID on both hosts"
done

# ---- the tenant changes: CARL renamed, so Carl is carl's only claimant
idp_ctl PATCH /users/carlupper002 '{"username":"carl_b"}' >/dev/null || fail "rename CARL"
json=$(ctl sync --json) || fail "sync after the rename"
assert_eq "$(printf '%s' "$json" | jget '[b["name"] for b in d["blocked"]["names"]]')" '["gina"]'
assert_eq "$(ctl user --offline --json carl | jget 'd["snapshot"]["sub"]')" carlupper001 "Carl has carl now"

# ---- sync --user NAME (issue 17.5)
# refuse_user WHAT WANT_RC TEXT NAME: refused with that exit status and message, nothing written.
refuse_user() {
    before=$(tree_state "$STATE")
    ctl sync --user "$4" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = "$2" ] || fail "sync --user ($1) exited $rc, expected $2: $(cat "$T/err")"
    assert_contains "$(cat "$T/err")" "$3" "sync --user ($1)"
    assert_not_contains "$(cat "$T/err")" "$(printf '\033')" "sync --user ($1): raw escape"
    assert_eq "$(tree_state "$STATE")" "$before" "sync --user ($1) wrote nothing"
}
refuse_user "case variant" 1 "names are lower case (the name would be alice)" Alice
refuse_user "control character" 1 "is not a valid user name" "$(printf 'al\033[31mice')"
refuse_user "local account" 1 "root is a local account of this host" root
refuse_user "system name" 1 "systemd-evil is a reserved name" systemd-evil
refuse_user "blocked" 1 "gina: the name is blocked" gina
refuse_user "unknown" 6 "no Logto user of this host is named nosuch" nosuch
# carl is carlupper001's in the snapshot; Logto now gives it to carlupper002.
idp_ctl PATCH /users/carlupper001 '{"username":"carl_a"}' >/dev/null || fail "rename Carl"
idp_ctl PATCH /users/carlupper002 '{"username":"carl"}' >/dev/null || fail "rename carl_b"
refuse_user "held by another subject" 1 "carl is held on this host by Logto user carlupper001" carl
# A new user: added, nobody else touched (ivy, also new, stays out until a full sync).
idp_ctl POST /users '{"id":"hankuser0001","username":"hank"}' >/dev/null || fail "create hank"
idp_ctl POST /users '{"id":"ivyuser00001","username":"ivy"}' >/dev/null || fail "create ivy"
json=$(ctl sync --user hank --json) || fail "sync --user hank: $json"
assert_eq "$(printf '%s' "$json" | jget 'sorted({c["name"] for c in d["changes"]})')" '["hank"]' "only hank changed"
assert_eq "$(printf '%s' "$json" | jget 'd["user"]')" hank "the report names the user"
assert_eq "$(ctl user --offline --json hank | jget 'd["snapshot"]["sub"]')" hankuser0001 "hank served"
ctl user --offline ivy >/dev/null 2>&1
assert_eq "$?" 6 "ivy untouched"
assert_eq "$(ctl user --offline --json carl | jget 'd["snapshot"]["sub"]')" carlupper001 "carl untouched"
# Gone from Logto: removed.
idp_ctl DELETE /users/hank >/dev/null || fail "delete hank"
ctl sync --user hank >"$T/out" 2>"$T/err" || fail "sync --user hank (deleted): $(cat "$T/err")"
assert_contains "$(cat "$T/out")" "user hank: only this entry was refreshed"
ctl user --offline hank >/dev/null 2>&1
assert_eq "$?" 6 "hank removed"
exit 0
