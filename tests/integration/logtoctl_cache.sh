#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl cache clear: the default (discovery and JWKS), each option (--tokens USER,
# --all-tokens, --attempts USER, --m2m-token, --keys, --snapshot, --lookups), --json; symbolic links planted in place of a
# cache file, a token record and a key file are removed as links, their targets never touched;
# a symlinked cache directory and a directory in place of a file are refused; nothing outside
# cache_dir and state_dir changes.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup

# Every file under DIR with its checksum (what "nothing else changed" means).
tree_sums() {
    (cd "$1" && find . \( -type f -o -type l \) ! -name '*.lock' | LC_ALL=C sort | while read -r f; do
        if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(sha256sum <"$f" | cut -c1-16)"; fi
    done)
}

ctl sync >/dev/null 2>"$T/err" || fail "sync failed: $(cat "$T/err")"
password_login alice alice-pass-1 || fail "alice could not sign in: $(cat "$T/err")"
password_login bob bob-pass-1 || fail "bob could not sign in: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"
[ -f "$CACHE/discovery.json" ] && [ -f "$CACHE/jwks.json" ] || fail "the sign-ins cached no discovery/JWKS"
[ -f "$STATE/m2m-token.json" ] || fail "sync cached no M2M token"
[ -f "$STATE/keys/erin" ] || fail "sync cached no SSH keys for erin"
VICTIM=$T/victim
echo "not to be removed" >"$VICTIM"

# 1. The default: discovery and JWKS, nothing else.
tree_sums "$STATE" >"$T/state.before"
expect_rc 0 "default clear" cache clear
out=$(cat "$T/out")
assert_contains "$out" "discovery  removed          $CACHE/discovery.json"
assert_contains "$out" "jwks       removed          $CACHE/jwks.json"
[ ! -e "$CACHE/discovery.json" ] && [ ! -e "$CACHE/jwks.json" ] || fail "the caches survived"
tree_sums "$STATE" >"$T/state.after"
cmp -s "$T/state.before" "$T/state.after" || fail "cache clear changed state_dir: $(diff "$T/state.before" "$T/state.after")"
expect_rc 0 "clearing again" --json cache clear
assert_eq "$(jget '[i["result"] for i in d["cleared"]]' <"$T/out")" '["absent", "absent"]' "results"
# Sign-ins fetch them again.
expect_rc 0 "token refetches discovery" token --user alice
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
[ -f "$CACHE/discovery.json" ] || fail "discovery was not fetched again"

# 2. A symbolic link planted as jwks.json: the link goes, its target stays.
rm -f "$CACHE/jwks.json"
ln -s "$VICTIM" "$CACHE/jwks.json"
expect_rc 0 "symlinked jwks.json" --json cache clear --jwks
assert_eq "$(jget 'd["cleared"][0]["result"]' <"$T/out")" removed-symlink "result"
assert_eq "$(jget 'd["cleared"][0]["what"]' <"$T/out")" jwks "what"
assert_eq "$(jget 'd["ok"]' <"$T/out")" true "ok"
[ ! -L "$CACHE/jwks.json" ] || fail "the planted link is still there"
assert_eq "$(cat "$VICTIM")" "not to be removed" "the link's target"

# 3. A directory where a cache file should be: left alone, exit 1.
rm -f "$CACHE/discovery.json"
mkdir "$CACHE/discovery.json"
touch "$CACHE/discovery.json/inside"
expect_rc 1 "a directory as discovery.json" cache clear --discovery
assert_contains "$(cat "$T/out")" "skipped"
[ -f "$CACHE/discovery.json/inside" ] || fail "the directory was emptied"
rm -rf "$CACHE/discovery.json"

# 4. cache_dir itself a symbolic link: refused whole, the files it points to survive.
mkdir "$T/elsewhere"
echo '{}' >"$T/elsewhere/discovery.json"
echo '{}' >"$T/elsewhere/jwks.json"
mv "$CACHE" "$T/cache.real"
ln -s "$T/elsewhere" "$CACHE"
expect_rc 1 "symlinked cache_dir" --json cache clear
assert_eq "$(jget 'd["ok"]' <"$T/out")" false "ok"
assert_contains "$(jget 'd["cleared"][0]["message"]' <"$T/out")" "symbolic link"
[ -f "$T/elsewhere/discovery.json" ] && [ -f "$T/elsewhere/jwks.json" ] || fail "files behind a symlinked cache_dir were removed"
rm "$CACHE"
mv "$T/cache.real" "$CACHE"

# 5. One user's token record; a symlinked record (as if planted) goes as a link.
expect_rc 0 "--tokens alice" cache clear --tokens alice
assert_contains "$(cat "$T/out")" "token      removed          $TOKENS/alice.json"
[ ! -e "$TOKENS/alice.json" ] && [ -f "$TOKENS/bob.json" ] || fail "--tokens alice removed the wrong records"
ln -s "$VICTIM" "$TOKENS/carol.json"
expect_rc 0 "--tokens carol (a link)" cache clear --tokens carol
assert_contains "$(cat "$T/out")" "removed-symlink"
assert_eq "$(cat "$VICTIM")" "not to be removed" "the link's target"
expect_rc 0 "--tokens for nobody" cache clear --tokens nosuchuser
assert_contains "$(cat "$T/out")" "absent"

# 6. Every record.
password_login alice alice-pass-1 || fail "alice could not sign in again: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
expect_rc 0 "--all-tokens" --json cache clear --all-tokens
assert_eq "$(jget 'sorted(i["path"].rsplit("/", 1)[1] for i in d["cleared"] if i["result"] == "removed")' <"$T/out")" \
    '["alice.json", "bob.json"]' "records removed"
[ -z "$(find "$TOKENS" -name '*.json')" ] || fail "records survived --all-tokens"

# 7. The SSH key cache (a planted link goes as a link) and the M2M token.
ln -s "$VICTIM" "$STATE/keys/mallory"
expect_rc 0 "--keys --m2m-token" --json cache clear --keys --m2m-token
assert_eq "$(jget 'sorted((i["what"], i["path"].rsplit("/", 1)[1], i["result"]) for i in d["cleared"])' <"$T/out")" \
    '[["keys", "erin", "removed"], ["keys", "mallory", "removed-symlink"], ["m2m-token", "m2m-token.json", "removed"]]' "keys and M2M token"
assert_eq "$(cat "$VICTIM")" "not to be removed" "the link's target"
# The remembered lookups (logtoctl keys remembers Logto's answer).
ctl keys erin >/dev/null 2>&1 || fail "keys erin"
[ -f "$STATE/lookups" ] || fail "keys erin remembered nothing"
expect_rc 0 "--lookups" --json cache clear --lookups
assert_eq "$(jget '[(i["what"], i["path"].rsplit("/", 1)[1], i["result"]) for i in d["cleared"]]' <"$T/out")" \
    '[["lookups", "lookups", "removed"]]' "the remembered lookups"

# 7b. A user's failed sign-in counts (a torn file refuses the user's passwords until removed):
# only that user's, a planted link as a link.
[ -f "$TOKENS/alice.attempts" ] || fail "alice's sign-in left no count file"
printf '{"version":1,"fail' >"$TOKENS/bob.attempts"
chmod 0600 "$TOKENS/bob.attempts"
expect_rc 0 "--attempts bob" --json cache clear --attempts bob
assert_eq "$(jget '[(i["what"], i["path"].rsplit("/", 1)[1], i["result"]) for i in d["cleared"]]' <"$T/out")" \
    '[["attempts", "bob.attempts", "removed"]]' "bob's counts"
[ ! -e "$TOKENS/bob.attempts" ] && [ -f "$TOKENS/alice.attempts" ] || fail "--attempts bob removed the wrong files"
expect_rc 0 "--attempts bob again" --json cache clear --attempts bob
assert_eq "$(jget 'd["cleared"][0]["result"]' <"$T/out")" absent "bob's counts, again"
ln -s "$VICTIM" "$TOKENS/carol.attempts"
expect_rc 0 "--attempts carol (a link)" cache clear --attempts carol
[ ! -L "$TOKENS/carol.attempts" ] || fail "the planted link is still there"
assert_eq "$(cat "$VICTIM")" "not to be removed" "the link's target"

# 8. The snapshot: emptied (not removed: processes that mapped it notice the new one at once).
expect_rc 0 "--snapshot" cache clear --snapshot
assert_contains "$(cat "$T/out")" "snapshot   emptied"
expect_rc 0 "status after --snapshot" --json status --offline
assert_eq "$(jget 'd["snapshot"]["users"]' <"$T/out")" 0 "users in the snapshot"
expect_rc 6 "alice gone from NSS" user --offline alice
ctl sync >/dev/null 2>&1 || fail "sync after --snapshot failed"
expect_rc 0 "alice back after a sync" user --offline alice

# 9. Usage and privilege.
expect_rc 2 "no subcommand" cache
expect_rc 2 "unknown subcommand" cache purge
expect_rc 2 "--tokens and --all-tokens" cache clear --tokens alice --all-tokens
expect_rc 2 "bad user name" cache clear --tokens '../../etc/passwd'
expect_rc 2 "bad user name for --attempts" cache clear --attempts '../../etc/passwd'
expect_rc 2 "extra argument" cache clear now
if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$LOGTOCTL" --config "$CFG" cache clear \
        >"$T/out" 2>"$T/err"
    assert_eq "$?" 1 "cache clear as nobody"
fi

assert_eq "$(cat "$VICTIM")" "not to be removed" "the victim file"
no_secrets "$T/out" "$T/err"
echo "ok logtoctl cache"
