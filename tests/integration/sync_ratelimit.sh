#!/bin/sh
# SPDX-License-Identifier: MIT
# A direct sync under a rate limit (issue 18.3), against one test IdP with 150 extra users (two
# pages of /api/users): 429s with Retry-After on page 2 of the user listing and on the token
# endpoint, a 503 with Retry-After and a 429 without it are waited out and the walk resumes at
# the refused page (the IdP counts the requests); the requests are paced; a Retry-After beyond
# the budget fails at once, naming the rate limit, with the snapshot kept byte for byte; a
# directory that changes under the walk is walked again (and a directory that never holds still
# fails cleanly); a second sync with nothing changed leaves the snapshot's inode and mtime alone.
# Waits are Retry-After: 1 (and one backoff of at most 1 s).
. "$top_srcdir/tests/integration/sync_lib.sh"

sync_setup --generate "users=150"
# Pacing on (30 ms, checked below), a 6-second budget.
sed -i -e 's/^request_interval = 0$/request_interval = 30ms\nrate_limit_budget = 6s/' "$CFG"
grep -q '^rate_limit_budget = 6s$' "$CFG" || fail "config edit"

fault() { idp_ctl POST /faults "$1" >/dev/null || fail "inject $1"; }
route() { idp_ctl GET /stats | jget "d['by_route'].get('$1', 0)"; }
# What must not change when a sync fails (the token cache and the status may).
state() { tree_state "$STATE" | grep -v -e 'm2m-token.json' -e 'sync.status'; }

# ---- 429 on page 2 of /api/users and on the token endpoint, 503 + Retry-After and a bare 429
# on later listings: the sync completes, every wait logged, the walk resumed where it stopped.
idp_ctl POST /stats/reset >/dev/null
fault '{"endpoint":"token","fault":"http429","count":1,"retry_after":1}'
fault '{"endpoint":"mgmt","fault":"http429","count":1,"retry_after":1,"after":1}'
fault '{"endpoint":"mgmt","fault":"http503","count":1,"retry_after":1,"after":3}'
fault '{"endpoint":"mgmt","fault":"http429","count":1,"after":6}'
json=$(ctl sync --json 2>"$T/err") || fail "sync through the rate limit failed: $(cat "$T/err") $json"
err=$(cat "$T/err")
assert_contains "$err" 'mgmt-rate-limited status=429 what="POST /oidc/token" retry_after=1 wait_ms=1000'
assert_contains "$err" 'mgmt-rate-limited status=429 what="GET /api/users" retry_after=1 wait_ms=1000'
assert_contains "$err" 'mgmt-rate-limited status=503 what="GET /api/'
assert_contains "$err" 'status=429 what="GET /api/'
assert_contains "$err" 'retry_after=-1 wait_ms='
case $err in *Too\ many* | *Service\ unavailable*) fail "a response body was logged: $err" ;; esac
# Two pages of users plus the one refused: page 1 was not asked for again.
assert_eq "$(route 'GET /api/users')" 3 "GET /api/users requests (resumed at page 2)"
assert_eq "$(route 'POST /oidc/token')" 2 "token requests (one refused)"
total=$(printf '%s' "$json" | jget 'd["requests"]')
assert_eq "$(idp_requests)" "$total" "requests (IdP vs report)"
assert_eq "$(printf '%s' "$json" | jget 'd["fetched"]["users"]')" \
    "$(idp_ctl GET /users | jget 'len(d)')" "users fetched"
# Pacing: the starts of N requests are at least (N - 1) x 30 ms apart, plus three 1 s waits.
elapsed=$(printf '%s' "$json" | jget 'd["elapsed_ms"]')
[ "$elapsed" -ge $(((total - 1) * 30 + 3000)) ] ||
    fail "sync took $elapsed ms for $total requests: not paced"

# ---- unchanged: the second sync leaves the file (inode, mtime, bytes) alone, and says so
before=$(stat -c '%i %y' "$SNAP")
sum=$(checksum "$SNAP")
status_before=$(stat -c %i "$STATE/sync.status")
sleep 0.01 # mtime granularity is finer than this; a rewrite would show
json=$(ctl sync --json 2>"$T/err") || fail "second sync failed: $(cat "$T/err")"
assert_eq "$(printf '%s' "$json" | jget 'd["unchanged"]')" true "report: unchanged"
assert_eq "$(printf '%s' "$json" | jget 'd["written"]')" false "report: not written"
assert_eq "$(stat -c '%i %y' "$SNAP")" "$before" "snapshot inode and mtime after an unchanged sync"
assert_eq "$(checksum "$SNAP")" "$sum" "snapshot bytes after an unchanged sync"
# The sync is still recorded as a success (a new file: written atomically).
[ "$(stat -c %i "$STATE/sync.status")" != "$status_before" ] || fail "sync.status not updated"
assert_eq "$(jget '[d["ok"], d["written"]]' <"$STATE/sync.status")" "[true, false]" "sync.status"
out=$(ctl sync 2>&1) || fail "third sync failed: $out"
assert_contains "$out" "unchanged: $SNAP already holds this directory (not rewritten)"
# ... but a snapshot whose mode went wrong (unreadable to users) is rewritten, and so repaired.
chmod 0600 "$SNAP"
ctl sync >/dev/null 2>&1 || fail "sync over a 0600 snapshot failed"
assert_eq "$(stat -c %a "$SNAP")" 644 "snapshot mode after a sync with nothing changed"

# ---- Retry-After beyond the budget: fails at once, names the rate limit, nothing written
idp_ctl DELETE /users/user00007 >/dev/null || fail "delete a user" # a sync that went through would show
good=$(state)
fault '{"endpoint":"mgmt","fault":"http429","count":1,"retry_after":3600,"after":1}'
out=$(ctl sync 2>&1) && fail "sync with Retry-After: 3600 succeeded: $out"
assert_eq "$?" 4 "exit code when the rate limit outlasts the budget"
assert_contains "$out" "GET /api/users: the Management API's rate limit (HTTP 429, Retry-After asks for 3600 s) outlasts the 6 s this sync may wait"
assert_contains "$out" 'mgmt-rate-limit-exhausted status=429 what="GET /api/users" retry_after=3600'
assert_eq "$(state)" "$good" "state after a rate limit beyond the budget"
# An HTTP date works the same way (far in the future: beyond the budget).
fault '{"endpoint":"mgmt","fault":"http503","count":1,"retry_after":"Fri, 01 Jan 2100 00:00:00 GMT"}'
out=$(ctl sync 2>&1) && fail "sync with a Retry-After date in 2100 succeeded: $out"
assert_contains "$out" "rate limit (HTTP 503, Retry-After asks for"
assert_eq "$(state)" "$good" "state after a 503 beyond the budget"

# "Retry-After: 0" for ever: no busy loop (a second per wait), then the budget ends it.
sed -i 's/^rate_limit_budget = 6s$/rate_limit_budget = 2s/' "$CFG"
idp_ctl POST /stats/reset >/dev/null
fault '{"endpoint":"mgmt","fault":"http429","retry_after":0}'
out=$(ctl sync 2>&1) && fail "sync against a 429 for ever succeeded: $out"
assert_contains "$out" "Retry-After asks for 0 s) outlasts the 2 s this sync may wait"
assert_eq "$(route 'GET /api/users')" 3 "requests against a 429 for ever (one, then one a second)"
assert_eq "$(state)" "$good" "state after a 429 for ever"
sed -i 's/^rate_limit_budget = 2s$/rate_limit_budget = 6s/' "$CFG"

# ---- the directory changes under the walk (a user added while page 2 is asked for): walked
# again, and the new user is in the snapshot
idp_ctl DELETE /faults >/dev/null
fault '{"endpoint":"mgmt","fault":"grow","count":1,"after":1}'
json=$(ctl sync -v --json 2>"$T/err") || fail "sync with a changing directory failed: $(cat "$T/err")"
err=$(cat "$T/err")
assert_contains "$err" 'mgmt-listing-changed what="GET /api/users" total_first='
assert_contains "$err" 'mgmt-directory-rewalk walk=2'
assert_eq "$(printf '%s' "$json" | jget '[c["name"] for c in d["changes"] if c["kind"] == "user-added"]')" \
    '["grown1"]' "the user added during the walk"
# A directory that never holds still: three walks, then a clear failure, snapshot kept.
good=$(state)
fault '{"endpoint":"mgmt","fault":"grow"}'
out=$(ctl sync 2>&1) && fail "sync of a directory that never holds still succeeded: $out"
assert_contains "$out" "the directory changed while it was read, in each of 3 walks"
assert_eq "$(state)" "$good" "state after a directory that kept changing"
idp_ctl DELETE /faults >/dev/null

exit 0
