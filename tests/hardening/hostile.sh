#!/bin/sh
# SPDX-License-Identifier: MIT
# Hostile claims and names, end to end, through both ways a Logto user reaches this host: a PAM
# sign-in (device flow, approved in the "browser" as that user) and `logtoctl sync` followed by
# getent through glibc. Logto's own username rule (^[A-Z_a-z]\w*$) keeps ':', '/', '.' and
# newlines out of usernames, so those arrive where Logto allows them: e-mail local parts (the
# name claim's fallback, in a domain listed in email_domains), display names (gecos), custom_data (UID, GID, shell), role names,
# organization names and organization role names. What DESIGN.md says happens, and is checked:
#   - names: folded to lower case, then a portable name of at most 32 characters or refused
#     (never truncated, never "cleaned" into another name); refused users never resolve;
#   - local accounts (root, daemon, bin, a local UID): a Logto user named or numbered like one
#     is refused by sync and by sign-in, and getent keeps answering with the local entry;
#   - UIDs/GIDs from custom_data: 0, system IDs, Debian's and systemd's reserved blocks, nspawn's
#     range, values beyond 2^31, negative numbers and non-numbers are refused; two users with
#     the same uidNumber are both refused by sync, which blocks the UID, so neither signs in
#     (never the first to try), and a sign-in never takes a UID that the snapshot gives
#     someone else;
#   - claims too large (1100 roles) refuse the user; a megabyte of custom_data is carried
#     without harm;
#   - gecos and shell: ':' and control characters never reach a passwd line; a shell not in
#     /etc/shells is replaced by the default;
#   - groups: role and organization-role names are sanitised ('_' for every other character) and
#     dropped when they are not portable or too long; names that sanitise alike clash and ALL
#     of them are dropped; organizations are keyed by ID, so display names that look alike (or
#     carry ':' and newlines) change nothing, and authorization never matches a display name.
# Every passwd and group line served is re-parsed and must be well formed.
. "$top_srcdir/tests/lib/hard.sh"
hard_enter "$@"
hard_idp_start
# A local account with an ordinary UID, to collide with.
e2e_local_user localbob localbob-pass-1 4242
hard_secret localbob-pass-1
hard_config "[identity]
email_domains = example.com
[service *]
allow_any_user = yes
flow = device
qr = no
[service orgs]
require_orgs = Acme
claims_max_age = 1h"
hard_services dev orgs

n=0
mk() { # JSON: create a Logto user (password hostile-pass-N), print its id
    n=$((n + 1))
    hard_secret "hostile-pass-$n"
    printf '%s' "$1" | python3 -c '
import http.client, json, sys, urllib.parse
d = json.load(sys.stdin)
d["password"] = "hostile-pass-%s" % sys.argv[2]
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("POST", "/users", json.dumps(d), {"Content-Type": "application/json"})
r = c.getresponse()
b = r.read()
if r.status >= 400:
    sys.exit("POST /users: %d %s" % (r.status, b[:200]))
print(json.loads(b)["id"])' "$IDP_CONTROL" "$n" || fail "create user $n"
}
role() { idp_ctl POST /roles "$(python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1]}))' "$1")" >/dev/null || fail "role $1"; }

# ---------------------------------------------------------------- the hostile tenant
# Names.
colon=$(mk '{"email":"evil:0:0@example.com"}')                # ':' (passwd field separator)
slash=$(mk '{"email":"../../etc/shadow@example.com"}')        # '/' and '..'
dotdot=$(mk '{"email":"..@example.com"}')                     # '..'
mk '{"username":"MixedCase"}' >/dev/null                      # folded: mixedcase
mk '{"username":"a_name_of_thirty_three_characters"}' >/dev/null # 33 characters
longmail=$(mk '{"email":"this.local.part.is.much.too.long.for.posix@example.com"}')
mk '{"username":"exactly_thirty_two_characters_ok"}' >/dev/null # 32: allowed
mk '{"username":"root"}' >/dev/null                        # local accounts
mk '{"username":"Daemon"}' >/dev/null                      # folds to a local name
mk '{"email":"bin@example.com"}' >/dev/null
# gecos and shell.
mk '{"username":"gecosx","name":"Evil\nroot::0:0:root:/root:/bin/sh"}' >/dev/null
mk '{"username":"shellx","custom_data":{"loginShell":"/bin/sh\nroot::0:0::/:/bin/sh"}}' >/dev/null
mk '{"username":"shelly","custom_data":{"loginShell":"/tmp/../bin/sh"}}' >/dev/null
# UIDs and GIDs from custom_data.
for v in 0 999 65534 60000 1879048191 4294967296 -1 '"12abc"' 2147483648 4242; do
    u=$(printf 'uid_%s' "$v" | tr -d '"-' | tr 'a-z' 'a-z')
    mk "{\"username\":\"$u\",\"custom_data\":{\"uidNumber\":$v}}" >/dev/null
done
mk '{"username":"gid_zero","custom_data":{"gidNumber":0}}' >/dev/null
mk '{"username":"twin_one","custom_data":{"uidNumber":71000}}' >/dev/null
mk '{"username":"twin_two","custom_data":{"uidNumber":71000}}' >/dev/null
mk '{"username":"uid_ok","custom_data":{"uidNumber":71001}}' >/dev/null
# Oversized claims: 1100 roles (more than the 1024 one identity may carry), 1 MB of custom_data.
python3 - "$IDP_CONTROL" <<'PY' || fail "cannot create 1100 roles"
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(1100):
    c.request("POST", "/roles", json.dumps({"name": "bulk%04d" % i}), {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status < 400, r.status
PY
roles=$(python3 -c 'import json; print(json.dumps(["bulk%04d" % i for i in range(1100)]))')
mk "{\"username\":\"manyroles\",\"roles\":$roles}" >/dev/null
mk "{\"username\":\"bigdata\",\"custom_data\":{\"blob\":\"$(head -c 1048576 /dev/zero | tr '\0' x)\"}}" >/dev/null
# Roles and organization roles whose names are not group names, or sanitise alike.
role 'Dev:Ops'
role dev_ops
role "$(printf 'Ops:Admin\nroot')"
role ../../etc
role root
role a_role_name_that_is_much_too_long_for_a_group
idp_ctl POST /organization-roles '{"name":"admin:root"}' >/dev/null || fail "org role"
o1=$(idp_json_field "$(idp_ctl POST /organizations '{"name":"Acme"}')" id)
o2=$(idp_json_field "$(idp_ctl POST /organizations '{"name":"ACME"}')" id)
o3=$(idp_json_field "$(idp_ctl POST /organizations '{"name":"Acme\n:root:x:0:0"}')" id)
mk "{\"username\":\"groupy\",\"roles\":[\"Dev:Ops\",\"dev_ops\",\"Ops:Admin\nroot\",\"../../etc\",\"root\",\"a_role_name_that_is_much_too_long_for_a_group\",\"developer\"],\"organizations\":[{\"id\":\"$o1\",\"roles\":[\"admin:root\",\"member\"]},{\"id\":\"$o2\",\"roles\":[\"member\"]},{\"id\":\"$o3\",\"roles\":[]}]}" >/dev/null

# ---------------------------------------------------------------- sync
before_root=$(grep '^root:' /etc/passwd)
hard_ctl --json sync
[ "$RC" = 0 ] || fail "sync failed: $ERR"
printf '%s\n' "$OUT" >"$P/sync.json"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["skipped"]:
    print("skipped %s %s (%s): %s" % (s["kind"], s.get("name") or s.get("username") or s["sub"], s["sub"], s["reason"]))
for g in d["groups_skipped"]:
    print("group skipped %s %s: %s" % (g["kind"], g["source"].encode("unicode_escape").decode(), g["reason"]))' "$P/sync.json" >"$H/sync-skipped"
cat "$H/sync-skipped"
skip_reason() { # NAME-or-USERNAME-or-SUB -> reason of its skipped entry
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["skipped"]:
    if sys.argv[2] in (s.get("name"), s.get("username"), s.get("sub")):
        print(s["kind"] + ": " + s["reason"]); break' "$P/sync.json" "$1"
}
refused_by_sync() { # KEY WORD: KEY was skipped and the reason mentions WORD
    why=$(skip_reason "$1")
    [ -n "$why" ] || fail "sync did not refuse $1"
    assert_contains "$why" "$2" "sync's reason for $1"
    echo "sync refused $1: $why" >>"$H/results"
}
refused_by_sync "$colon" "not a portable name"
refused_by_sync "$slash" "not a portable name"
refused_by_sync "$dotdot" "not a portable name"
refused_by_sync a_name_of_thirty_three_characters "longer than 32"
refused_by_sync "$longmail" "longer than 32"
refused_by_sync root "never served"
# (system names: refused when mapped, whatever /etc/passwd says)
refused_by_sync Daemon "never served"
# bin@example.com has no user name, so find it by its reason
python3 -c 'import json, sys; sys.exit(not any("maps to the name bin, which is never served" in s["reason"] for s in json.load(open(sys.argv[1]))["skipped"]))' \
    "$P/sync.json" || fail "sync did not refuse bin@example.com"
for v in 0 999 65534 60000 1879048191 4294967296 1 12abc 2147483648; do
    refused_by_sync "uid_$v" "uidNumber"
done
refused_by_sync uid_4242 "local"
refused_by_sync gid_zero "gidNumber"
refused_by_sync twin_one "71000"
refused_by_sync twin_two "71000"
refused_by_sync manyroles "role list has 1100 values"

# What getent serves: only the allowed forms.
hard_getent passwd >"$H/passwd"
hard_getent group >"$H/group"
served() { grep -q "^$1:" "$H/passwd"; }
for u in mixedcase exactly_thirty_two_characters_ok gecosx shelly uid_ok bigdata groupy; do
    served "$u" || fail "$u (allowed) is not served"
done
for u in MixedCase twin_one twin_two uid_0 uid_999 uid_4242 gid_zero manyroles evil; do
    served "$u" && fail "$u is served"
done
# Every line well formed: 7 fields, portable names, no reserved UID or GID (except the local
# accounts that come first from files), printable gecos.
python3 - "$H/passwd" "$H/group" /etc/passwd /etc/group <<'PY' || fail "a malformed entry is served"
import re, sys
name = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
def reserved(i):
    return i <= 999 or 60000 <= i <= 65535 or 524288 <= i <= 1879048191 or i >= 2147352576
local_pw = {l.split(":")[0]: l.rstrip("\n") for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")}
local_gr = {l.split(":")[0]: l.rstrip("\n") for l in open(sys.argv[4]) if l.strip() and not l.startswith("#")}
bad = 0
for l in open(sys.argv[1]).read().split("\n"):
    if not l:
        continue
    f = l.split(":")
    if f[0] in local_pw:
        if l != local_pw[f[0]]:
            print("local account shadowed:", l); bad += 1
        continue
    if len(f) != 7 or not name.match(f[0]) or reserved(int(f[2])) or reserved(int(f[3])) \
            or any(ord(c) < 32 for c in l) or not f[5].startswith("/home/") or ".." in f[5]:
        print("bad passwd line:", repr(l)); bad += 1
for l in open(sys.argv[2]).read().split("\n"):
    if not l:
        continue
    f = l.split(":")
    if f[0] in local_gr:
        if l != local_gr[f[0]]:
            print("local group shadowed:", l); bad += 1
        continue
    if len(f) != 4 or not name.match(f[0]) or reserved(int(f[2])) or any(ord(c) < 32 for c in l):
        print("bad group line:", repr(l)); bad += 1
sys.exit(1 if bad else 0)
PY
# The local accounts answer as before, by name and by number.
assert_eq "$(hard_getent passwd root)" "$before_root" "getent passwd root"
assert_eq "$(hard_getent passwd 0)" "$before_root" "getent passwd 0"
assert_eq "$(hard_getent passwd daemon)" "$(grep '^daemon:' /etc/passwd)" "getent passwd daemon"
assert_eq "$(hard_getent passwd 4242)" "$(grep '^localbob:' /etc/passwd)" "getent passwd 4242"
assert_eq "$(hard_getent group root)" "$(grep '^root:' /etc/group)" "getent group root"
# gecos and shell: sanitised, defaulted.
line=$(grep '^gecosx:' "$H/passwd")
assert_eq "$(printf '%s' "$line" | awk -F: '{print NF}')" 7 "fields of gecosx's line"
assert_not_contains "$line" "root::0" "gecosx's line"
default_shell=$(grep '^mixedcase:' "$H/passwd" | cut -d: -f7)
assert_eq "$(grep '^shelly:' "$H/passwd" | cut -d: -f7)" "$default_shell" "a shell path with '..' (not in /etc/shells)"
assert_eq "$(grep '^shellx:' "$H/passwd" | cut -d: -f7)" "$default_shell" "a shell with a newline"
# Groups: the sanitised forms that are unique stay; the ones that clash are all gone.
groups_of() { hard_getent group | awk -F: -v u="$1" '{n=split($4,m,","); for(i=1;i<=n;i++) if (m[i]==u) print $1}' | sort | tr '\n' ' '; }
g=$(groups_of groupy)
echo "groupy's groups: $g" >>"$H/results"
assert_contains " $g" " logto-developer " "groupy's groups"
# (role groups carry the prefix logto-: "root" can only ever be logto-root)
for bad in logto-dev_ops dev_ops root '.._.._etc' a_role_name_that_is_much_too_long; do
    assert_not_contains " $g" " $bad " "groupy's groups (clashing or unportable: $bad)"
done
# A role name with a control character is dropped as a value (identity-skip-value): no group,
# and it can never match a rule.
assert_not_contains "$g" "ops_admin" "a role named 'Ops:Admin\\nroot'"
assert_contains "$g" "org-$o1 " "organization groups are keyed by ID"
assert_contains "$g" "org-$o2 " "two organizations whose names differ only in case stay apart"
assert_contains "$g" "org-$o3 " "an organization with ':' and a newline in its name"
assert_contains "$g" "org-$o1-admin_root" "the organization role 'admin:root'"
assert_not_contains "$(cat "$H/group")" "Acme" "organization display names in groups"

# ---------------------------------------------------------------- PAM sign-ins
# On a host with [sync] these users never get a device flow: the Management API finds none of
# them under the PAM name, or finds one that does not map (pam_logto's check that a name is a
# Logto user of this host, tests/integration/pam_gate.sh). Without [sync] the device flow starts
# for any name, and the sign-in's own checks must refuse them: that is what is tested here.
cp "$CFG" "$P/with-sync.conf"
sed -i '/^m2m_client_/d' "$CFG"
# signin PAM_USER APPROVER: a device-flow sign-in as PAM_USER, approved by APPROVER.
signin() { hard_device dev "$1" "$2"; }
refused() { # PAM_USER APPROVER CODE ERROR [TEXT]
    rec_before=$(checksum "$STATE/tokens/$1.json")
    signin "$1" "$2"
    pam_expect "$3" "sign-in of $1 approved by $2" "${5:-}"
    [ "$4" = - ] || assert_logged "$F" "^auth-failed user=$1 service=dev error=$4 " "sign-in of $1"
    assert_eq "$(checksum "$STATE/tokens/$1.json")" "$rec_before" "$1's record after a refused sign-in"
    echo "sign-in $1 (approved by $2): refused, $(pam_log "$F" | grep -E '^auth-(failed|wrong-user)' | head -1)" >>"$H/results"
}
# A name that is not a portable name is refused with the claim named.
refused evil "evil:0:0@example.com" PAM_AUTH_ERR bad-identity "email"
refused etc "../../etc/shadow@example.com" PAM_AUTH_ERR bad-identity "not a portable name"
refused a_name_of_thirty_three_character a_name_of_thirty_three_characters PAM_AUTH_ERR bad-identity \
    "longer than 32"
# Upper case is folded: MixedCase signs in as mixedcase, never as MixedCase.
signin mixedcase MixedCase
pam_expect_ok "MixedCase signs in as mixedcase"
signin MixedCase MixedCase
pam_expect PAM_USER_UNKNOWN "PAM user MixedCase"
assert_eq "$CODE" "" "a device code for an invalid PAM user"
# Local accounts: pam_logto steps aside (PAM_IGNORE; with no other module in this stack libpam
# answers PAM_PERM_DENIED) and never asks Logto (no code is shown), whoever would approve.
for u in root daemon bin localbob; do
    signin "$u" "$( [ $u = daemon ] && echo Daemon || echo root)"
    pam_expect PAM_PERM_DENIED "sign-in as local account $u"
    assert_eq "$CODE" "" "a device code for local account $u"
    assert_not_logged "$F" "^(auth|device)-" "sign-in as local account $u"
done
# IDs: reserved ones, a local UID, a GID of 0.
for v in 0 999 65534 60000 1879048191 4294967296 2147483648; do
    refused "uid_$v" "uid_$v" PAM_AUTH_ERR bad-identity "uidNumber"
done
refused uid_1 uid_1 PAM_AUTH_ERR bad-identity "uidNumber"
refused uid_12abc uid_12abc PAM_AUTH_ERR bad-identity "uidNumber"
refused gid_zero gid_zero PAM_AUTH_ERR bad-identity "gidNumber"
refused uid_4242 uid_4242 PAM_AUTH_ERR collision
refused manyroles manyroles PAM_AUTH_ERR bad-identity "roles"
# A user approving a code asked for another name: never signed in as that name.
refused mixedcase gecosx PAM_AUTH_ERR bad-identity "signed in to Logto as gecosx, not as mixedcase"
# UID twins (the same explicit uidNumber): sync refused both and blocked the UID; neither signs
# in, whoever comes first; the next sync keeps both out.
refused twin_one twin_one PAM_AUTH_ERR collision "the UID 71000 of twin_one is blocked"
assert_logged "$F" "^auth-name-blocked user=twin_one sub=[a-z0-9]+ uid=71000 "
refused twin_two twin_two PAM_AUTH_ERR collision "the UID 71000 of twin_two is blocked"
hard_ctl sync
hard_getent passwd twin_one >/dev/null && fail "sync kept twin_one, who shares a UID with twin_two"
# Oversized custom_data: carried into the record without harm.
signin bigdata bigdata
pam_expect_ok "bigdata signs in"
[ "$(stat -c %s "$STATE/tokens/bigdata.json")" -gt 1000000 ] || fail "bigdata's custom_data was lost"
# Organizations: authorization never matches a display name (require_orgs = Acme).
hard_pam orgs groupy acct_mgmt
pam_expect PAM_PERM_DENIED "require_orgs = Acme (a display name)"

echo "---- results"
cat "$H/results"
hard_done
