#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl sync against the test IdP's default fixtures: what lands in the snapshot (read back
# through logtoctl user and the snapshot reader), dry runs, request counts, and how deletions,
# suspensions and role changes in Logto reach the snapshot.
. "$top_srcdir/tests/integration/sync_lib.sh"

sync_setup

# ---- no credentials: a clear configuration error, nothing written
write_config "$T/nocreds.conf" "$T/nocreds"
out=$(wrap "$LOGTOCTL" --config "$T/nocreds.conf" sync 2>&1) && fail "sync without [sync] succeeded"
rc=$?
assert_eq "$rc" 3 "exit code without credentials"
assert_contains "$out" "m2m_client_id"
assert_contains "$out" "m2m_client_secret_file"
assert_eq "$(checksum "$T/nocreds/state/directory.snapshot")" absent "snapshot without credentials"

# ---- dry run: the report, and nothing on disk (not even the M2M token cache)
before=$(tree_state "$STATE")
expected=$(expected_requests)
out=$(ctl sync --dry-run) || fail "dry run failed: $out"
assert_contains "$out" "changes: users +8 -0 ~0"
assert_contains "$out" "+ user alice (sub e738g7numf03)"
assert_contains "$out" "+ member logto-admin: grace_hopper"
assert_contains "$out" "dry run:"
assert_eq "$(tree_state "$STATE")" "$before" "state directory after a dry run"
assert_eq "$(idp_requests)" "$expected" "requests of the dry run"

# ---- the real sync: the request count the Management API client promises
idp_ctl POST /stats/reset >/dev/null
json=$(ctl sync --json) || fail "sync failed: $json"
assert_eq "$(printf '%s' "$json" | jget 'd["ok"]')" true
assert_eq "$(printf '%s' "$json" | jget 'd["written"]')" true
assert_eq "$(printf '%s' "$json" | jget 'd["users"]')" 8 "users"
assert_eq "$(printf '%s' "$json" | jget 'd["suspended"]')" 1 "suspended users"
assert_eq "$(printf '%s' "$json" | jget 'd["skipped"]')" "[]" "skipped"
assert_eq "$(printf '%s' "$json" | jget 'd["requests"]')" "$expected" "requests (report)"
assert_eq "$(idp_requests)" "$expected" "requests (IdP)"
assert_eq "$(printf '%s' "$json" | jget 'd["counts"]["user-added"]')" 8
assert_eq "$(stat -c '%a %U' "$SNAP")" "644 root" "snapshot mode"

# ---- read back: alice, every value and where it came from
a=$(ctl user --offline --json alice) || fail "user alice: $a"
uid=$(hashed_uid e738g7numf03)
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["uid"]')" "$uid" "alice's UID (hash of sub)"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["gid"]')" "$uid" "alice's GID"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["home"]')" /home/alice
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["shell"]')" /bin/bash
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["gecos"]')" "Alice Liddell"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["sub"]')" e738g7numf03
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["suspended"]')" false
groups=$(printf '%s' "$a" | jget '" ".join(sorted(g["kind"] + ":" + g["name"] for g in d["snapshot"]["groups"]))')
assert_eq "$groups" "org-role:org-pbl95zlwkzx4-member org:org-pbl95zlwkzx4 private:alice role:logto-admin" "alice's groups"
assert_eq "$(printf '%s' "$a" | jget 'd["live"]')" null "--offline asks nobody"

# live: provenance from the Management API
a=$(ctl user --json alice) || fail "user alice (live): $a"
assert_contains "$(printf '%s' "$a" | jget 'd["live"]["uid_from"]')" "hash of sub"
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["name_from"]')" "field username"
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["shell_from"]')" "customData.loginShell"
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["roles"]')" '["admin"]'
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["organizations"]')" '[{"id": "pbl95zlwkzx4", "name": "Acme Corp"}]'
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["organization_roles"]')" '["pbl95zlwkzx4:member"]'
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["local_collision"]')" null
assert_eq "$(printf '%s' "$a" | jget 'd["live"]["differs_from_snapshot"]')" "[]"
out=$(ctl user alice) || fail "user alice (text): $out"
assert_contains "$out" "from hash of sub"
assert_contains "$out" "pbl95zlwkzx4 (Acme Corp)"
assert_contains "$out" "snapshot  matches"

# the others: custom_data IDs, e-mail names, folded case, suspension
e=$(ctl user --offline --json erin) || fail "user erin"
assert_eq "$(printf '%s' "$e" | jget 'd["snapshot"]["uid"]')" 70001 "erin's UID from custom_data"
if grep -qx /bin/zsh /etc/shells; then shell=/bin/zsh; else shell=/bin/bash; fi
assert_eq "$(printf '%s' "$e" | jget 'd["snapshot"]["shell"]')" "$shell" "erin's shell"
f=$(ctl user --offline --json frank) || fail "frank (e-mail local part) is missing"
assert_eq "$(printf '%s' "$f" | jget 'd["snapshot"]["sub"]')" bieqqr5zcavw
g=$(ctl user --offline --json grace_hopper) || fail "grace_hopper is missing"
assert_contains "$(printf '%s' "$g" | jget '[x["name"] for x in d["snapshot"]["groups"]]')" '"logto-auditor"'
c=$(ctl user --offline --json carol) || fail "suspended carol must stay resolvable"
assert_eq "$(printf '%s' "$c" | jget 'd["snapshot"]["suspended"]')" true "carol's suspended flag"

# an independent reader of the file agrees on the counts
if [ -x "$top_builddir/tests/lib/mksnapshot" ]; then
    dump=$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$SNAP") || fail "mksnapshot --dump"
    assert_eq "$(printf '%s\n' "$dump" | grep -c '^user:')" 8 "users in the file"
    # flags field: carol is suspended (LOGTO_USER_SUSPENDED = 1), alice is not
    assert_contains "$dump" ":5hlgypnhkh1y:1:"
    assert_contains "$dump" ":e738g7numf03:0:"
fi

# ---- again: nothing changes; the cached M2M token saves the token request
idp_ctl POST /stats/reset >/dev/null
json=$(ctl sync --json) || fail "second sync failed"
assert_eq "$(printf '%s' "$json" | jget 'd["changes"]')" "[]" "changes of an idle sync"
assert_eq "$(printf '%s' "$json" | jget 'd["token_requests"]')" 0 "token requests with a cached token"
assert_eq "$(idp_requests)" "$((expected - 1))" "requests with a cached token"

# ---- changes in Logto
idp_ctl DELETE /users/bob >/dev/null || fail "delete bob"
idp_ctl PATCH /users/alice '{"suspended":true}' >/dev/null || fail "suspend alice"
idp_ctl PATCH /users/Grace_Hopper '{"roles":["auditor"]}' >/dev/null || fail "grace loses admin"
idp_ctl DELETE /roles/developer >/dev/null || fail "delete role developer"

# a dry run shows them and leaves the file alone
sum=$(checksum "$SNAP")
out=$(ctl sync --dry-run) || fail "dry run failed"
assert_contains "$out" "- user bob (sub cnicb7t6a00l)"
assert_contains "$out" "~ user alice (sub e738g7numf03): suspended no->yes"
assert_contains "$out" "- member logto-admin: grace_hopper"
assert_contains "$out" "- group logto-developer"
assert_eq "$(checksum "$SNAP")" "$sum" "snapshot after a dry run"

json=$(ctl sync --json) || fail "sync after changes failed"
assert_eq "$(printf '%s' "$json" | jget 'd["counts"]["user-removed"]')" 1
assert_eq "$(printf '%s' "$json" | jget 'd["counts"]["user-changed"]')" 1
assert_eq "$(printf '%s' "$json" | jget '[c["fields"] for c in d["changes"] if c["kind"] == "user-changed"]')" '[["suspended"]]'
assert_eq "$(printf '%s' "$json" | jget '" ".join(c["name"] for c in d["changes"] if c["kind"] == "group-removed")')" \
    "bob logto-developer org-qmmg1gvtd5ib-member" "groups removed (bob was Globex's only member)"

ctl user --offline bob >/dev/null 2>&1
assert_eq "$?" 6 "deleted bob is gone (not found)"
a=$(ctl user --offline --json alice) || fail "suspended alice must stay resolvable"
assert_eq "$(printf '%s' "$a" | jget 'd["snapshot"]["suspended"]')" true "alice's suspended flag"
g=$(ctl user --offline --json grace_hopper) || fail "grace_hopper"
assert_eq "$(printf '%s' "$g" | jget 'sorted(x["name"] for x in d["snapshot"]["groups"] if x["kind"] == "role")')" '["logto-auditor"]' "grace's role groups"
e=$(ctl user --offline --json erin) || fail "erin"
assert_not_contains "$(printf '%s' "$e" | jget '[x["name"] for x in d["snapshot"]["groups"]]')" developer

# ---- a user who signed in on this host but is not in Logto any more disappears
if [ -x "$top_builddir/tests/lib/mksnapshot" ]; then
    {
        printf '%s\n' "$(wrap "$top_builddir/tests/lib/mksnapshot" --dump "$SNAP")" | grep -v '^generated:'
        echo "user:zoe:1999999999:1999999999:Zoe:/home/zoe:/bin/sh:zoe00signedin"
    } >"$T/with-zoe.txt"
    wrap "$top_builddir/tests/lib/mksnapshot" "$T/with-zoe.txt" "$SNAP" || fail "mksnapshot"
    ctl user --offline zoe >/dev/null || fail "zoe should be in the crafted snapshot"
    out=$(ctl sync) || fail "sync failed"
    assert_contains "$out" "users +0 -1 ~0"
    ctl user --offline zoe >/dev/null 2>&1
    assert_eq "$?" 6 "zoe (not in Logto) is gone"
fi

# ---- [sync] enumerate = no: kept in the snapshot (NSS reads no configuration); getent passwd
# and getent group list no Logto entry, lookups by name still answer; back to yes, they list again
sed 's/^\[sync\]$/[sync]\nenumerate = no/' "$CFG" >"$T/noenum.conf"
grep -q '^enumerate = no$' "$T/noenum.conf" || fail "noenum.conf"
MKSNAPSHOT=$top_builddir/tests/lib/mksnapshot
out=$(wrap "$LOGTOCTL" --config "$T/noenum.conf" sync 2>&1) || fail "sync with enumerate = no failed: $out"
assert_contains "$(wrap "$MKSNAPSHOT" --dump "$SNAP")" "enumerate:no" "snapshot after enumerate = no"
if have_nss_wrapper; then
    out=$(nss_getent passwd) || fail "getent passwd: $out"
    assert_contains "$out" "root:" "getent passwd (locals)"
    assert_not_contains "$out" "erin" "getent passwd with enumerate = no"
    out=$(nss_getent group) || fail "getent group: $out"
    assert_not_contains "$out" "logto-" "getent group with enumerate = no"
    out=$(nss_getent passwd erin) || fail "getent passwd erin with enumerate = no"
    assert_contains "$out" "erin:"
    out=$(nss_getent group logto-auditor) || fail "getent group logto-auditor with enumerate = no"
    echo "ok enumerate = no: getent lists no Logto entry, lookups answer"
else
    echo "# nss_wrapper or the module missing: enumerate = no checked in the snapshot only"
fi
out=$(ctl sync 2>&1) || fail "sync with enumerate = yes failed: $out"
assert_not_contains "$(wrap "$MKSNAPSHOT" --dump "$SNAP")" "enumerate:" "snapshot after enumerate = yes"
if have_nss_wrapper; then
    assert_contains "$(nss_getent passwd)" "erin:" "getent passwd with enumerate = yes"
fi

# ---- [user NAME] overrides (issue 17.6): erin's shell, home and gecos replaced by sync and shown
# with their origin; a section for a name not in Logto, or for a local account, changes nothing
{ cat "$CFG"; printf '[user erin]\nshell = /bin/sh\nhome = /srv/erin/\ngecos = Erin Override,Room 1\n'
  printf '[user nobody_here]\nshell = /bin/sh\n[user localuser]\nhome = /srv/stolen\n'; } >"$T/override.conf"
line=$(grep -n '^\[user erin\]$' "$T/override.conf" | cut -d: -f1)
out=$(wrap "$LOGTOCTL" --config "$T/override.conf" sync 2>&1) || fail "sync with overrides failed: $out"
assert_contains "$out" "users +0 -0 ~1" "only erin changes"
e=$(wrap "$LOGTOCTL" --config "$T/override.conf" user --json erin) || fail "user erin: $e"
assert_eq "$(printf '%s' "$e" | jget 'd["snapshot"]["home"] + ":" + d["snapshot"]["shell"] + ":" + d["snapshot"]["gecos"]')" \
    "/srv/erin:/bin/sh:Erin Override,Room 1" "erin's overridden snapshot entry"
assert_eq "$(printf '%s' "$e" | jget 'd["live"]["origin"]')" '{"gecos": "override", "home": "override", "shell": "override"}'
assert_eq "$(printf '%s' "$e" | jget 'd["live"]["shell_from"]')" "[user erin] at $T/override.conf:$line"
assert_eq "$(printf '%s' "$e" | jget 'd["live"]["uid"]')" 70001 "an override leaves the UID alone"
assert_eq "$(printf '%s' "$e" | jget 'd["override"]["home"]')" /srv/erin
assert_eq "$(ctl user --json grace_hopper | jget 'd["live"]["origin"]')" '{"gecos": "idp", "home": "default", "shell": "default"}'
out=$(wrap "$LOGTOCTL" --config "$T/override.conf" user erin) || fail "user erin (text): $out"
assert_contains "$out" "override from [user erin] at $T/override.conf:$line"
ctl user --offline nobody_here >/dev/null 2>&1
assert_eq "$?" 6 "a section creates no user"
if [ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] && [ -n "${LOGTO_NSS_MODULE:-}" ]; then
    assert_eq "$(nss_getent passwd erin)" "erin:*:70001:70001:Erin Override,Room 1:/srv/erin:/bin/sh"
    assert_eq "$(nss_getent passwd localuser)" "localuser:x:1000:1000:Local User:/home/localuser:/bin/bash" "a local account keeps its entry"
    nss_getent passwd nobody_here >/dev/null && fail "getent passwd nobody_here answered"
fi
# hostile values: refused with file, line and key; nothing synced with them
{ cat "$CFG"; printf '[user erin]\nuid = 0\nhome = srv/erin\nshell = /bin/sh:0:0\n'
  printf 'gecos = x\033]0;owned\007\n'; } >"$T/hostile.conf"
line=$(grep -n '^\[user erin\]$' "$T/hostile.conf" | cut -d: -f1)
out=$(wrap "$LOGTOCTL" --config "$T/hostile.conf" sync 2>&1) && fail "sync with hostile overrides succeeded"
assert_contains "$out" "$T/hostile.conf:$((line + 1)): [user erin] uid: cannot be overridden"
out=$(wrap "$LOGTOCTL" --config "$T/hostile.conf" config check 2>&1) && fail "config check passed hostile overrides"
assert_contains "$out" "$T/hostile.conf:$((line + 2)): [user erin] home: \"srv/erin\" is not an absolute path"
assert_contains "$out" "$T/hostile.conf:$((line + 3)): [user erin] shell: \"/bin/sh:0:0\" is not a shell path"
assert_contains "$out" "$T/hostile.conf:$((line + 4)): [user erin] gecos: contains a control"
assert_eq "$(ctl user --offline --json erin | jget 'd["snapshot"]["home"]')" /srv/erin "snapshot after the refused configuration"
echo "ok [user NAME] overrides: applied by sync, shown with their origin, hostile values refused"

# ---- progress: on a terminal only, redrawn in place
err=$(ctl sync --dry-run 2>&1 >/dev/null)
assert_not_contains "$err" "fetching" "stderr that is not a terminal"
if command -v script >/dev/null 2>&1; then
    script -qec "$LOGTOCTL --config '$CFG' sync --dry-run >/dev/null" "$T/typescript" >/dev/null 2>&1 ||
        fail "sync on a terminal failed"
    grep -q 'fetching users [0-9]*/[0-9]*' "$T/typescript" ||
        fail "no progress on a terminal: $(cat -v "$T/typescript")"
    grep -q "$(printf '\r')" "$T/typescript" || fail "progress is not redrawn in place"
fi

# ---- not root: a clear refusal (dry run excepted, which then fails on the secret)
if command -v setpriv >/dev/null 2>&1; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$LOGTOCTL" --config "$CFG" sync 2>&1) &&
        fail "sync as nobody succeeded"
    assert_contains "$out" "must run as root"
fi
exit 0
