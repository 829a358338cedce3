#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl status: healthy, IdP down, IdP answering wrongly, configuration broken, snapshot
# damaged, last sync failed and recovered, token records (root only, no secrets), the caches
# (ages, key IDs, never key material), --offline, and the --json document parsed.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup

# 1. Nothing synced or signed in yet: healthy, with warnings (no snapshot; NSS reads another
#    path than this test's state_dir).
expect_rc 0 "fresh host" status
out=$(cat "$T/out")
assert_contains "$out" "configuration: OK ($CFG)"
assert_contains "$out" "IdP: reachable, discovery fetched and valid in"
assert_contains "$out" "last sync: never (run logtoctl sync"
assert_contains "$out" "token records ($TOKENS): 0"
assert_contains "$out" "warning: snapshot: $SNAP does not exist"
assert_contains "$out" "warning: snapshot: the NSS module reads "
assert_contains "$out" "healthy"
[ ! -e "$TOKENS" ] || fail "status created the token directory"

# 2. After a sync: the snapshot's counts and the sync record.
ctl sync >/dev/null 2>"$T/err" || fail "sync failed: $(cat "$T/err")"
[ "$(stat -c '%a %U' "$STATE/sync.status")" = "644 root" ] || fail "sync.status is not root 0644"
expect_rc 0 "after sync" --json status
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["healthy"]')" true "healthy"
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["users"]')" 8 "snapshot users"
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["path"]')" "$SNAP" "snapshot path"
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["size"]')" "$(stat -c %s "$SNAP")" "snapshot size"
# Sync checked the snapshot against this host's /etc/passwd and /etc/group and recorded them
# (unknown only if they changed in the 2 s before it).
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["local_files"] in ("unchanged", "unknown")')" true "local files"
assert_eq "$(printf '%s' "$json" | jget 'd["sync"]["last"]["ok"]')" true "last sync ok"
assert_eq "$(printf '%s' "$json" | jget 'd["sync"]["last"]["users"]')" 8 "last sync users"
assert_eq "$(printf '%s' "$json" | jget 'd["sync"]["configured"]')" true "sync configured"
assert_eq "$(printf '%s' "$json" | jget 'd["idp"]["reachable"] and d["idp"]["ok"]')" true "IdP ok"
assert_eq "$(printf '%s' "$json" | jget 'type(d["idp"]["elapsed_ms"]).__name__')" int "elapsed_ms"
assert_eq "$(printf '%s' "$json" | jget 'd["idp"]["device_flow"]')" true "device flow endpoint"
assert_eq "$(printf '%s' "$json" | jget 'd["problems"]')" "[]" "problems"
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["nss_path"] != d["snapshot"]["path"] and any("NSS module reads" in w for w in d["warnings"])')" true "NSS path warning"

# 3. A sync that fails (the Management API answers 500): status says so, exit 1; the next good
#    sync clears it. The failure is recorded, the snapshot is not touched.
idp_ctl POST /faults '{"endpoint":"mgmt","fault":"http500"}' >/dev/null
ctl sync >/dev/null 2>&1 && fail "sync succeeded against a failing Management API"
idp_ctl DELETE /faults >/dev/null
expect_rc 1 "last sync failed" --json status
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["sync"]["last"]["ok"]')" false "last sync ok"
assert_eq "$(printf '%s' "$json" | jget 'd["sync"]["last"]["error"]["code"]')" unreachable "sync error code"
assert_eq "$(printf '%s' "$json" | jget 'd["healthy"]')" false "healthy"
assert_eq "$(printf '%s' "$json" | jget 'any("last sync failed" in p for p in d["problems"])')" true "problem listed"
expect_rc 1 "last sync failed (text)" status
assert_contains "$(cat "$T/out")" "last sync: FAILED"
ctl sync --dry-run >/dev/null 2>&1 || fail "dry run failed"
expect_rc 1 "a dry run records nothing" status
ctl sync >/dev/null 2>&1 || fail "sync failed"
expect_rc 0 "sync recovered" status
assert_contains "$(cat "$T/out")" "last sync: OK"
assert_contains "$(cat "$T/out")" "  local files: "

# 4. A sign-in: the record is listed (method, ages), the caches have been written; no secret
#    and no key material in the output.
password_login alice alice-pass-1 || fail "alice could not sign in: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
expect_rc 0 "with a record" status
out=$(cat "$T/out")
assert_contains "$out" "token records ($TOKENS): 1"
assert_contains "$out" "alice            sub e738g7numf03"
assert_contains "$out" "experience sign-in"
assert_contains "$out" "discovery  fetched"
assert_contains "$out" "jwks       fetched"
expect_rc 0 "with a record (json)" --json status
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget '[r["name"] for r in d["tokens"]["records"]]')" '["alice"]' "records"
assert_eq "$(printf '%s' "$json" | jget 'd["tokens"]["records"][0]["auth_method"]')" experience "method"
assert_eq "$(printf '%s' "$json" | jget 'd["tokens"]["records"][0]["refresh_token"]')" true "has refresh token"
assert_eq "$(printf '%s' "$json" | jget 'd["tokens"]["records"][0]["verifier"]')" true "has verifier"
assert_eq "$(printf '%s' "$json" | jget 'd["cache"]["discovery"]["fresh"] and d["cache"]["jwks"]["fresh"]')" true "caches fresh"
kid=$(idp_json_field "$(idp_ctl GET /keys)" kid)
assert_eq "$(printf '%s' "$json" | jget 'd["cache"]["jwks"]["kids"][0]')" "$kid" "key ID"
# The key's public coordinates are in the cache file, never in the output.
x=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["document"]["keys"][0]["x"])' "$CACHE/jwks.json")
assert_not_contains "$json" "$x" "status --json (key material)"
ctl status >"$T/text" 2>&1
assert_not_contains "$(cat "$T/text")" "$x" "status (key material)"
no_secrets "$T/out" "$T/err" "$T/text"

# 5. The IdP down: exit 4 (CLI_UNAVAIL), how long it took; --offline skips the check.
idp_ctl POST /down >/dev/null
expect_rc 4 "IdP down" status
assert_contains "$(cat "$T/out")" "IdP: UNREACHABLE after"
expect_rc 4 "IdP down (json)" --json status
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["idp"]["reachable"]')" false "reachable"
assert_eq "$(printf '%s' "$json" | jget 'd["idp"]["error"]["code"]')" unreachable "error code"
expect_rc 0 "IdP down, --offline" status --offline
assert_contains "$(cat "$T/out")" "IdP: not checked (--offline)"
idp_ctl POST /up >/dev/null

# 6. The IdP answers with a discovery document for another issuer: refused, exit 1.
idp_ctl POST /faults '{"endpoint":"discovery","fault":"wrong_issuer"}' >/dev/null
expect_rc 1 "wrong issuer" status
assert_contains "$(cat "$T/out")" "IdP: answered, but wrongly"
assert_contains "$(cat "$T/out")" "not the configured"
idp_ctl DELETE /faults >/dev/null

# 7. A damaged snapshot: a problem, exit 1.
cp "$SNAP" "$T/snap.good"
printf 'garbage' | dd of="$SNAP" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_rc 1 "damaged snapshot" --json status
assert_eq "$(jget 'd["snapshot"]["problem"] is not None' <"$T/out")" true "snapshot problem"
#    Damage past the header, which opening the file does not read (lookups check it when they
#    read it): status checks every byte.
cp "$T/snap.good" "$SNAP"
printf 'garbage' | dd of="$SNAP" bs=1 seek=$(($(stat -c %s "$SNAP") / 2)) conv=notrunc 2>/dev/null
expect_rc 1 "damaged snapshot body" --json status
assert_contains "$(jget 'd["snapshot"]["problem"]' <"$T/out")" "checksum mismatch in region"
cp "$T/snap.good" "$SNAP"

# 8. A damaged sync record: a problem, exit 1.
cp "$STATE/sync.status" "$T/sync.good"
printf '{"version":1' >"$STATE/sync.status"
expect_rc 1 "damaged sync record" status
assert_contains "$(cat "$T/out")" "last sync: unknown:"
cp "$T/sync.good" "$STATE/sync.status"
expect_rc 0 "repaired" status

# 9. A broken configuration: exit 3, every error listed, the compiled-in paths shown.
cp "$CFG" "$T/good.conf"
printf 'bogus_key = 1\n' >>"$CFG"
expect_rc 3 "broken configuration" status
out=$(cat "$T/out")
assert_contains "$out" "configuration: INVALID"
assert_contains "$out" "unknown key \"bogus_key\""
assert_contains "$out" "IdP: not checked (configuration invalid)"
expect_rc 3 "broken configuration (json)" --json status
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["config"]["ok"]')" false "config ok"
assert_eq "$(printf '%s' "$json" | jget 'any("bogus_key" in e for e in d["config"]["errors"])')" true "config errors"
assert_eq "$(printf '%s' "$json" | jget 'd["snapshot"]["path"] == d["snapshot"]["nss_path"]')" true "default snapshot path"
cp "$T/good.conf" "$CFG"

# 10. Not root: what anybody may see, never "healthy": exit 7 and "run as root". A configuration
#     only root may read: "run as root" too, not "configuration: INVALID".
if command -v setpriv >/dev/null 2>&1; then
    sed '/^\[sync\]/,$d' "$CFG" >"$T/user.conf"
    chmod 0644 "$T/user.conf"
    cfg_mode=$(stat -c %a "$CFG")
    chmod 0600 "$CFG"
    setpriv --reuid=65534 --regid=65534 --clear-groups ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" \
        --config "$T/user.conf" --json status >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = 7 ] || fail "status as nobody exited $rc, expected 7: $(cat "$T/err")"
    assert_eq "$(jget 'd["tokens"]["readable"]' <"$T/out")" false "tokens readable as nobody"
    assert_contains "$(jget 'd["tokens"]["skipped"]' <"$T/out")" "root only"
    assert_eq "$(jget 'd["snapshot"]["users"]' <"$T/out")" 8 "snapshot as nobody"
    assert_eq "$(jget 'd["root"] or d["healthy"]' <"$T/out")" false "healthy as nobody"
    assert_eq "$(jget 'any("run logtoctl status as root" in p for p in d["problems"])' <"$T/out")" true "run as root (json)"
    setpriv --reuid=65534 --regid=65534 --clear-groups ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" \
        --config "$CFG" status >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = 7 ] || fail "status as nobody ([sync]) exited $rc, expected 7: $(cat "$T/err")"
    assert_contains "$(cat "$T/out")" "configuration: cannot be checked as this user: run logtoctl status as root"
    assert_not_contains "$(cat "$T/out")" "INVALID" "status as nobody"
    assert_contains "$(cat "$T/out")" "NOT checked in full"
    chmod "$cfg_mode" "$CFG"
fi

# 11. Status tells the truth (issue 17.4): the ages of the M2M token, key and lookup caches;
#     a sync that left users out; a token record the snapshot disagrees with (here: alice's UID
#     changed in Logto, applied by sync --user); a cached M2M token older than the Management
#     API's refusal. Each is a problem: exit 1.
expect_rc 0 "ages" --json status
assert_eq "$(jget 'd["m2m_token"]["present"] and d["m2m_token"]["written_at"] > 0' <"$T/out")" true "M2M token age"
assert_eq "$(jget '"files" in d["keys"] and "present" in d["lookups"]' <"$T/out")" true "key and lookup caches"
idp_ctl POST /users '{"id":"badname00001","username":"averyveryverylongusername_beyond_32_chars"}' >/dev/null || fail "create a user whose name is too long"
ctl sync >/dev/null 2>&1 || fail "sync with an unmappable user"
expect_rc 1 "a user left out" status
assert_contains "$(cat "$T/out")" "last sync: INCOMPLETE"
assert_contains "$(cat "$T/out")" "problem: sync: the last sync left out 1 user (0 collisions)"
idp_ctl DELETE /users/averyveryverylongusername_beyond_32_chars >/dev/null || fail "delete averyveryverylongusername_beyond_32_chars"
ctl sync >/dev/null 2>&1 || fail "sync"
idp_ctl PATCH /users/alice '{"custom_data":{"uidNumber":424242}}' >/dev/null || fail "alice's uid"
ctl sync --user alice >/dev/null 2>"$T/err" || fail "sync --user alice: $(cat "$T/err")"
expect_rc 1 "record and snapshot disagree" --json status
assert_eq "$(jget '[r["holder_matches"] for r in d["tokens"]["records"] if r["name"] == "alice"]' <"$T/out")" "[false]" "holder"
assert_eq "$(jget 'any("token record alice" in p and "another uid" in p for p in d["problems"])' <"$T/out")" true "record problem"
idp_ctl PATCH /users/alice '{"custom_data":{}}' >/dev/null || fail "alice's uid back"
ctl sync >/dev/null 2>&1 || fail "sync"
idp_ctl POST /faults '{"endpoint":"mgmt","fault":"bare_403"}' >/dev/null
ctl sync >/dev/null 2>&1 && fail "sync succeeded although the Management API refused"
idp_ctl DELETE /faults >/dev/null
expect_rc 1 "cached M2M token older than the refusal" --json status
assert_eq "$(jget 'd["m2m_token"]["predates_denial"]' <"$T/out")" true "predates_denial"
assert_eq "$(jget 'any("cache clear --m2m-token" in p for p in d["problems"])' <"$T/out")" true "M2M problem"
ctl sync >/dev/null 2>&1 || fail "sync after the refusal"
expect_rc 0 "healthy again" status

# 12. cache expire --user: alice's cached claims become stale, her session (refresh token) stays.
expect_rc 0 "cache expire" cache expire --user alice
assert_contains "$(cat "$T/out")" "alice: cached claims expired"
assert_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["claims_at"], bool(r.get("refresh_token")))' "$TOKENS/alice.json")" "0 True" "claims_at after expire"
expect_rc 6 "cache expire, no record" cache expire --user nosuchuser
assert_contains "$(cat "$T/err")" "nosuchuser has no token record"
expect_rc 2 "cache expire, a bad name" cache expire --user "$(printf 'al\033ice')"
assert_not_contains "$(cat "$T/err")" "$(printf '\033')" "no raw control character"

# Every read-only command honours --json before and after its name (logtoctl(8)): one JSON
# document on stdout, whatever the exit status.
for args in "version" "config check" "config keys" "status --offline" "user --offline alice" \
    "keys alice" "keys nosuchuser"; do
    # shellcheck disable=SC2086
    set -- $args
    c=$1
    shift
    for where in before after; do
        if [ "$where" = before ]; then
            ctl --json "$c" "$@" >"$T/j" 2>"$T/j.err" || :
        else
            ctl "$c" "$@" --json >"$T/j" 2>"$T/j.err" || :
        fi
        python3 -m json.tool "$T/j" >/dev/null 2>&1 ||
            fail "logtoctl $args with --json $where the command name: not JSON: $(cat "$T/j" "$T/j.err")"
    done
done
ctl keys nosuchuser --json >"$T/j" 2>/dev/null || fail "keys --json for an unknown name failed"
assert_eq "$(jget 'd["keys"]' <"$T/j")" "[]" "keys --json for an unknown name"
echo "ok --json before and after the command name"

no_secrets "$T/out" "$T/err"
echo "ok logtoctl status"
