#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl keys, sshd's AuthorizedKeysCommand: valid keys only, nothing for unknown, local,
# suspended or deleted users, live from Logto, and from the cache only when Logto cannot be
# reached; a cache file never serves another Logto user. Bounded work (sshd runs it for every
# key an unauthenticated client offers): names not in the snapshot cost no request, answers
# (keys or none) are remembered for lookup_cache_ttl, lookups spend a per-host budget, and a
# spent budget is answered from the key cache.
. "$top_srcdir/tests/integration/sync_lib.sh"

need_cmd ssh-keygen
sync_setup
sync_timeouts 2s
# Live answers every time for the first part (the bounded part is at the end).
sed -i 's/^\[sync\]$/[sync]\nlookup_cache_ttl = 0\nlookup_burst = 1000/' "$CFG"

k1=$(ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f "$T/k1" && cat "$T/k1.pub") || fail "ssh-keygen"
k2=$(ssh-keygen -q -t ecdsa -b 256 -N '' -C alice@desk -f "$T/k2" && cat "$T/k2.pub") || fail "ssh-keygen"
k3=$(ssh-keygen -q -t rsa -b 2048 -N '' -C 'rsa key' -f "$T/k3" && cat "$T/k3.pub") || fail "ssh-keygen"
body1=$(printf '%s' "$k1" | cut -d' ' -f2)
keys=$(python3 -c '
import json, sys
k1, k2, k3, body1 = sys.argv[1:5]
print(json.dumps({"sshPublicKeys": [
    k1,
    "command=\"/bin/sh\" " + k2,          # authorized_keys options: refused
    "ssh-rsa " + body1 + " wrong type",    # an ed25519 blob labelled ssh-rsa
    "ssh-ed25519 AAAA!!!! broken",         # not base64
    k2 + "\nssh-ed25519 " + body1 + " smuggled",  # a second line
    k3,
    k1,                                    # a duplicate
]}))' "$k1" "$k2" "$k3" "$body1")
idp_ctl PATCH /users/alice "{\"custom_data\":$keys}" >/dev/null || fail "give alice keys"
idp_ctl PATCH /users/carol "{\"custom_data\":{\"sshPublicKeys\":[\"$k1\"]}}" >/dev/null ||
    fail "give carol keys"

out=$(ctl sync) || fail "sync failed: $out"
assert_contains "$out" "SSH keys: 2 users with keys" # alice, erin; suspended carol is not cached

# ---- live: exactly the valid keys, normalised, in order
ctl keys alice >"$T/alice.out" 2>"$T/alice.err" || fail "keys alice failed: $(cat "$T/alice.err")"
printf '%s\n%s\n' "$k1" "$k3" >"$T/alice.want"
cmp -s "$T/alice.out" "$T/alice.want" || fail "keys alice: got $(cat "$T/alice.out")"
# sshd logs what the command writes on stderr at every login: a normal lookup writes nothing
# there (the warnings go to syslog); --debug shows them
assert_eq "$(cat "$T/alice.err")" "" "stderr of a normal key lookup"
ctl --debug keys alice >/dev/null 2>"$T/alice.err" || fail "keys --debug alice failed: $(cat "$T/alice.err")"
# options, wrong type, bad base64: refused here; the two-line key already by the identity module
assert_eq "$(grep -c 'keys-skip user=alice' "$T/alice.err")" 3 "bad keys logged"
assert_eq "$(grep -c 'identity-skip-value sub=e738g7numf03 claim=customData.sshPublicKeys' "$T/alice.err")" 1 \
    "the key with a newline"
ctl keys erin | grep -q '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ1W8tZf0Q4xZ2m1kq8m6J0a4yZrJ0b6Hq9v2nK3pLd erin@laptop$' ||
    fail "erin's fixture key"
# the cache the sync wrote holds the same keys, root-only
assert_eq "$(stat -c '%a %U' "$KEYS")" "700 root" "key cache directory"
assert_eq "$(stat -c '%a %U' "$KEYS/alice")" "600 root" "key cache file"
assert_eq "$(tail -n +2 "$KEYS/alice")" "$(cat "$T/alice.want")" "cached keys"

# ---- nothing, and exit 0, for names we do not serve
for who in nosuchuser root daemon carol '../../etc/passwd' 'Alice' ''; do
    out=$(ctl keys "$who" 2>/dev/null)
    assert_eq "$?" 0 "keys '$who' exit code"
    assert_eq "$out" "" "keys for '$who'"
done

# ---- a key removed in Logto stops working at once (live), and the cache follows
idp_ctl PATCH /users/alice "{\"custom_data\":{\"sshPublicKeys\":[\"$k3\"]}}" >/dev/null ||
    fail "alice drops k1"
assert_eq "$(ctl keys alice)" "$k3" "keys after removal"
assert_eq "$(tail -n +2 "$KEYS/alice")" "$k3" "cache after a live lookup"
assert_eq "$(ctl keys --cached alice)" "$k3" "keys --cached"

# ---- Logto unreachable: the cache serves; a hanging Logto too (bounded by the timeouts)
idp_ctl POST /down >/dev/null || fail "down"
out=$(ctl keys alice 2>"$T/err") || fail "keys with the IdP down: $(cat "$T/err")"
assert_eq "$out" "$k3" "keys from the cache"
assert_eq "$(cat "$T/err")" "" "stderr of a lookup answered from the cache"
ctl --debug keys alice >/dev/null 2>"$T/err" || fail "keys --debug with the IdP down: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "keys-offline user=alice"
idp_ctl POST /up >/dev/null || fail "up"
idp_ctl POST /faults '{"endpoint":"mgmt","fault":"hang","count":1}' >/dev/null
rm -f "$STATE/m2m-token.json"
assert_eq "$(ctl keys alice 2>/dev/null)" "$k3" "keys with a hanging IdP"
idp_ctl DELETE /faults >/dev/null

# ---- a protocol error is no reason to fall back: nothing, and a failure for sshd
idp_ctl POST /faults '{"endpoint":"mgmt","fault":"malformed","count":1}' >/dev/null
out=$(ctl keys alice 2>/dev/null) && fail "keys with a malformed answer succeeded"
assert_eq "$out" "" "keys with a malformed answer"
idp_ctl DELETE /faults >/dev/null

# ---- a cache file bound to another sub serves nothing
cp "$KEYS/erin" "$KEYS/alice"
idp_ctl POST /down >/dev/null || fail "down"
assert_eq "$(ctl keys alice 2>/dev/null)" "" "erin's cache under alice's name"
idp_ctl POST /up >/dev/null || fail "up"

# ---- suspended and deleted users get nothing, live
idp_ctl PATCH /users/erin '{"suspended":true}' >/dev/null || fail "suspend erin"
assert_eq "$(ctl keys erin 2>/dev/null)" "" "keys of a user suspended in Logto (not yet synced)"
idp_ctl PATCH /users/erin '{"suspended":false}' >/dev/null || fail "unsuspend erin"
ctl keys erin >/dev/null || fail "keys erin"
[ -s "$KEYS/erin" ] || fail "erin's cache"
idp_ctl DELETE /users/erin >/dev/null || fail "delete erin"
assert_eq "$(ctl keys erin 2>/dev/null)" "" "keys of a user deleted in Logto"
[ -e "$KEYS/erin" ] && fail "a deleted user's cache must go"

# ---- sync prunes caches of users without keys or without an entry
touch "$KEYS/ghost" && chmod 0600 "$KEYS/ghost"
ctl sync >/dev/null || fail "sync"
[ -e "$KEYS/ghost" ] && fail "sync must remove caches of unknown users"
ls "$KEYS" >"$T/left"
assert_eq "$(cat "$T/left")" "alice" "key caches after the sync (suspended carol is not cached)"

# ---- bounded: 12 calls each for unknown names, a known one, one deleted in Logto (remembered
# as "none"), then a spent budget answered from the key cache
idp_ctl PATCH /users/bob "{\"custom_data\":{\"sshPublicKeys\":[\"$k2\"]}}" >/dev/null ||
    fail "give bob a key"
ctl sync >/dev/null || fail "sync (bob's key cached)"
sed -i -e 's/^lookup_cache_ttl = .*/lookup_cache_ttl = 60s/' \
    -e 's/^lookup_burst = .*/lookup_burst = 3\nlookup_rate = 1/' "$CFG"
idp_ctl DELETE /users/dave >/dev/null || fail "delete dave"
idp_ctl POST /stats/reset >/dev/null
lookups() { idp_ctl GET /stats | jget 'd["by_route"].get("GET /api/users/:id", 0)'; }
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    assert_eq "$(ctl keys "nosuch$i" 2>/dev/null)" "" "keys for an unknown name"
done
assert_eq "$(idp_requests)" 0 "IdP requests for 12 unknown names"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    assert_eq "$(ctl keys alice 2>/dev/null)" "$k3" "alice's keys, call $i"
done
assert_eq "$(lookups)" 1 "user lookups for 12 calls for alice"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    assert_eq "$(ctl keys dave 2>/dev/null)" "" "keys of dave, deleted in Logto, call $i"
done
assert_eq "$(lookups)" 2 "user lookups after 12 calls for dave (the answer 'none' remembered)"
assert_eq "$(ctl keys henry 2>/dev/null)" "" "keys of henry (none)"
assert_eq "$(lookups)" 3 "user lookups: the budget of 3 is spent"
for i in 1 2 3 4 5 6; do
    ctl keys bob >"$T/bob.out" 2>"$T/bob.err" || fail "keys bob with the budget spent: $(cat "$T/bob.err")"
    assert_eq "$(cat "$T/bob.out")" "$k2" "bob's keys from the key cache, call $i"
    assert_eq "$(cat "$T/bob.err")" "" "stderr of a lookup with the budget spent, call $i"
done
ctl --debug keys bob >/dev/null 2>"$T/bob.err" || fail "keys --debug bob: $(cat "$T/bob.err")"
assert_contains "$(cat "$T/bob.err")" 'keys-limited user=bob reason="the Management API lookup budget is spent (lookup_rate = 1 a minute, lookup_burst = 3)" source=cache'
assert_eq "$(lookups)" 3 "user lookups with the budget spent"
assert_eq "$(stat -c '%a %U' "$STATE/lookups")" "600 root" "the lookup cache file"

# ---- not root
if command -v setpriv >/dev/null 2>&1; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$LOGTOCTL" --config "$CFG" keys alice 2>&1) &&
        fail "keys as nobody succeeded"
    assert_contains "$out" "AuthorizedKeysCommandUser root"
fi
exit 0
