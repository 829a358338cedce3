#!/bin/sh
# SPDX-License-Identifier: MIT
# Identity that a hostile tenant user cannot bend (issue 12, points 4 and 7), with glibc's getent
# and Debian's own tools, after a real `logtoctl sync`:
#  1. IDs from custom_data never displace anything: mallory's gidNumber is the GID of the role
#     group logto-admin, thief's uidNumber is alice's UID, trudy's gidNumber is a local group's
#     GID: each of them is refused with the holder named; logto-admin, alice and the local group
#     stay as they were.
#  2. System names are never served: a tenant user named mysql (and redis) is refused; role
#     docker is the group logto-docker, never docker. Then the package idioms run as a
#     maintainer script would: `getent passwd mysql || adduser --system ... mysql` and a chown,
#     `addgroup --system docker`, `useradd -r redis`, systemd-sysusers (group wireshark, user
#     wireshark held in Logto): each creates the local account or group, and the chown gives the
#     data to the local account (chown only under $E2E_ROOT).
#  3. A local account that appears later with a name Logto holds (appsvc, added the way vipw
#     would): the NSS module stops serving the Logto entry at once, by name and by UID, and the
#     next sync drops it and says so.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
e2e_enter "$@"
need_cmd adduser addgroup useradd groupadd

e2e_idp_start
e2e_config

# The documented hash (identity.h), for the IDs a user would pick to take something over.
hash_id() { # DOMAIN VALUE
    "$E2E_PY" -c '
import hashlib, sys
lo, hi = 1879048192, 2147352575
h = int.from_bytes(hashlib.sha256((sys.argv[1] + sys.argv[2]).encode()).digest()[:8], "big")
print(lo + h % (hi - lo + 1))' "$1" "$2"
}
alice_sub=$(idp_json_field "$(idp_ctl GET /users/alice)" id)
alice_uid=$(hash_id logto-uid: "$alice_sub")
admin_gid=$(hash_id logto-gid:role: admin)
groupadd -g 4242 localteam || fail "groupadd localteam"

add_user() { # JSON
    idp_ctl POST /users "$1" >/dev/null || fail "cannot add $1"
}
add_user "{\"username\":\"mallory\",\"custom_data\":{\"gidNumber\":$admin_gid}}"
add_user "{\"username\":\"thief\",\"custom_data\":{\"uidNumber\":$alice_uid}}"
add_user '{"username":"trudy","custom_data":{"uidNumber":1900000123,"gidNumber":4242}}'
add_user '{"username":"mysql","name":"Mallory the DBA"}'
add_user '{"username":"redis"}'
add_user '{"username":"wireshark"}'
add_user '{"username":"appsvc"}'
idp_ctl POST /roles '{"name":"docker"}' >/dev/null || fail "role docker"
idp_ctl PATCH /users/alice '{"roles":["admin","docker"]}' >/dev/null || fail "alice's roles"

e2e_sync
sync_log=$(cat "$R/sync.out")

# ---------------------------------------------------------------- 1. chosen IDs
assert_contains "$(getent group logto-admin)" "logto-admin:*:$admin_gid:" "the admin role group"
assert_contains "$(getent group "$admin_gid")" "alice" "the admin role group by GID"
assert_eq "$(getent passwd alice | cut -d: -f3)" "$alice_uid" "alice's UID"
assert_eq "$(getent group 4242)" "localteam:x:4242:" "the local group"
for u in mallory thief trudy; do
    getent passwd "$u" >/dev/null && fail "$u (a chosen ID in use) is served: $(getent passwd "$u")"
done
assert_contains "$sync_log" "sync-skip-chosen-id user=mallory" "the sync's log"
assert_contains "$sync_log" "GID $admin_gid from custom_data is the GID of role group logto-admin"
assert_contains "$sync_log" "sync-skip-chosen-id user=thief"
assert_contains "$sync_log" "from custom_data is in use by alice"
assert_contains "$sync_log" "sync-skip-local user=trudy"
echo "ok 1 chosen IDs: mallory, thief and trudy refused; logto-admin, alice, localteam intact"

# ---------------------------------------------------------------- 2. system names
for u in mysql redis wireshark; do
    getent passwd "$u" >/dev/null && fail "the tenant user $u is served"
done
getent group docker >/dev/null && fail "a Logto group docker is served"
assert_contains "$(getent group logto-docker)" "alice" "role docker's group"
assert_contains "$sync_log" "mysql, which is never served: it is the name of a well-known system"

# The maintainer-script idiom: the account is created locally; the data goes to it.
mkdir -p "$R/var-lib-mysql"
getent passwd mysql >/dev/null ||
    adduser --system --group --no-create-home --home /nonexistent mysql >"$R/adduser.out" 2>&1 ||
    fail "adduser --system mysql: $(cat "$R/adduser.out")"
chown mysql:mysql "$R/var-lib-mysql" || fail "chown mysql"
local_mysql=$(grep '^mysql:' /etc/passwd | cut -d: -f3)
[ -n "$local_mysql" ] && [ "$local_mysql" -lt 1000 ] || fail "no local system account mysql"
assert_eq "$(stat -c %u "$R/var-lib-mysql")" "$local_mysql" "owner of the service's data"
assert_eq "$(getent passwd mysql | cut -d: -f3)" "$local_mysql" "mysql resolves to the local account"

addgroup --system docker >"$R/addgroup.out" 2>&1 || fail "addgroup --system docker: $(cat "$R/addgroup.out")"
assert_eq "$(getent group docker | cut -d: -f1,3)" "docker:$(grep '^docker:' /etc/group | cut -d: -f3)" \
    "group docker is the local one"
assert_contains "$(getent group logto-docker)" "alice" "role docker's group after addgroup"

useradd -r -M -s /usr/sbin/nologin redis || fail "useradd -r redis"
assert_eq "$(getent passwd redis | cut -d: -f3)" "$(grep '^redis:' /etc/passwd | cut -d: -f3)" "redis"

if command -v systemd-sysusers >/dev/null 2>&1; then
    printf 'g wireshark -\nu wireshark - "Wireshark capture" /nonexistent\n' >"$R/wireshark.conf"
    systemd-sysusers "$R/wireshark.conf" >"$R/sysusers.out" 2>&1 ||
        fail "systemd-sysusers: $(cat "$R/sysusers.out")"
    grep -q '^wireshark:' /etc/group || fail "systemd-sysusers created no group wireshark"
    grep -q '^wireshark:' /etc/passwd || fail "systemd-sysusers created no user wireshark"
    assert_eq "$(getent group wireshark | cut -d: -f3)" "$(grep '^wireshark:' /etc/group | cut -d: -f3)" \
        "group wireshark"
    echo "ok 2 system names: adduser, addgroup, useradd -r and systemd-sysusers create local accounts"
else
    echo "ok 2 system names: adduser, addgroup and useradd -r create local accounts" \
        "(systemd-sysusers is not installed)"
fi

# ---------------------------------------------------------------- 3. a local account appears later
logto_uid=$(getent passwd appsvc | cut -d: -f3)
[ -n "$logto_uid" ] && [ "$logto_uid" -ge 1879048192 ] || fail "appsvc is not a Logto user"
echo "appsvc:x:990:990:local service:/nonexistent:/usr/sbin/nologin" >>/etc/passwd
assert_eq "$(getent passwd appsvc | cut -d: -f3)" 990 "appsvc by name"
getent passwd "$logto_uid" >/dev/null && fail "the Logto appsvc is still served by UID"
getent passwd | grep -q "^appsvc:.*:$logto_uid:" && fail "the Logto appsvc is still listed"
e2e_sync
assert_contains "$(cat "$R/sync.out")" "sync-skip-local user=appsvc" "the next sync's log"
"$LOGTOCTL" user --offline appsvc >/dev/null 2>&1
assert_eq "$?" 6 "appsvc is out of the snapshot"
echo "ok 3 a local account that appears later wins at once; the next sync drops the Logto one"
