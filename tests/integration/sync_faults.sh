#!/bin/sh
# SPDX-License-Identifier: MIT
# An IdP failure at any point of a sync leaves the snapshot (and the key cache) byte for byte as
# it was: every Management API fault at the first request (logtoctl sync) and in the middle of
# the fetch (sync_driver injects it when a progress phase is reached), token endpoint faults,
# and the IdP going away.
. "$top_srcdir/tests/integration/sync_lib.sh"

DRIVER=$top_builddir/tests/integration/sync_driver
[ -x "$DRIVER" ] || skip "$DRIVER is not built"
sync_setup
# Short timeouts: the hang fault waits for them.
sync_timeouts 2s

ctl sync >/dev/null || fail "first sync failed"
[ -s "$KEYS/erin" ] || fail "erin's keys were not cached"
# sync.status records each sync's result for `logtoctl status` (logtoctl_status.sh checks it).
good=$(tree_state "$STATE" | grep -v -e 'm2m-token.json' -e 'sync.status')
# Some changes in Logto, so a sync that wrongly went through would change the file.
idp_ctl DELETE /users/bob >/dev/null || fail "delete bob"
idp_ctl PATCH /users/erin '{"custom_data":{"uidNumber":70001,"gidNumber":70001}}' >/dev/null ||
    fail "erin loses her keys"

unchanged() { # what
    assert_eq "$(tree_state "$STATE" | grep -v -e 'm2m-token.json' -e 'sync.status')" "$good" \
        "state after $1"
}

# ---- every fault at the first Management API request
for fault in http500 hang malformed truncated reset huge; do
    under_wrapper && [ "$fault" = hang ] && continue
    idp_ctl DELETE /faults >/dev/null
    idp_ctl POST /faults "{\"endpoint\":\"mgmt\",\"fault\":\"$fault\",\"count\":1}" >/dev/null ||
        fail "inject $fault"
    out=$(ctl sync 2>&1) && fail "sync with $fault succeeded"
    rc=$?
    case $fault in
    http500 | hang | truncated | reset) want=4 ;; # no answer, 5xx: unreachable
    *) want=1 ;;                                  # an answer that breaks the protocol
    esac
    assert_eq "$rc" "$want" "exit code with $fault ($out)"
    assert_contains "$out" "/api/users"
    unchanged "mgmt $fault"
done

# ---- every fault in the middle: after users, roles and the first member listings
for phase in users roles role-members organizations organization-members; do
    for fault in http500 hang malformed truncated reset huge; do
        under_wrapper && [ "$fault" = hang ] && continue
        idp_ctl DELETE /faults >/dev/null
        out=$(wrap "$DRIVER" "$CFG" "$IDP_CONTROL" "$phase" mgmt "$fault" 2>&1) ||
            fail "mid-sync $fault after $phase: $out"
        assert_contains "$out" "injected=yes"
        unchanged "$fault after $phase"
    done
done

# ---- the token endpoint, and the IdP going away (the cached token is dropped first)
rm -f "$STATE/m2m-token.json"
for fault in http500 malformed reset; do
    idp_ctl DELETE /faults >/dev/null
    idp_ctl POST /faults "{\"endpoint\":\"token\",\"fault\":\"$fault\",\"count\":1}" >/dev/null
    ctl sync >/dev/null 2>&1 && fail "sync with a token $fault succeeded"
    unchanged "token $fault"
done
idp_ctl DELETE /faults >/dev/null
idp_ctl POST /down >/dev/null || fail "POST /down: $(tail -20 "$IDP_LOG")"
out=$(ctl sync 2>&1) && fail "sync with the IdP down succeeded"
assert_eq "$?" 4 "exit code with the IdP down"
unchanged "IdP down"
json=$(ctl sync --json 2>/dev/null) && fail "sync --json with the IdP down succeeded"
assert_eq "$(printf '%s' "$json" | jget 'd["error"]["code"]')" unreachable
idp_ctl POST /up >/dev/null || fail "up"

# ---- and once the IdP is well again, the changes arrive
out=$(ctl sync) || fail "sync after the faults failed: $out"
assert_contains "$out" "users +0 -1"
[ -e "$KEYS/erin" ] && fail "erin's key cache should be gone"
[ -e "$KEYS/bob" ] && fail "bob has no key cache"
exit 0
