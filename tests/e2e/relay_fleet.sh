#!/bin/sh
# SPDX-License-Identifier: MIT
# A fleet on a relay (issue 18), end to end: a publisher host (`logtoctl publish DIR` with the
# [sync] credentials), a real nginx from Debian's archive serving DIR over HTTPS (the per-run
# CA's certificate, ETags as nginx makes them), and two relay hosts with no [sync] section, each
# in a mount namespace of its own (its /etc/logto, /var/lib/logto, /var/cache/logto) where glibc's
# getent and id read that host's snapshot through libnss_logto:
#  1. getent passwd/group and id on both relay hosts equal the publisher's (its direct sync);
#  2. a second sync without a new publish costs one request at nginx (a GET of manifest.json
#     answered 304, counted in nginx's access log) and writes nothing;
#  3. a role change at the IdP reaches both relay hosts after the next publish + sync, once the
#     tampered object nginx served first was refused;
#  4. a manifest signed by another key is refused; 5. with nginx stopped the sync fails: each
#     with a clear message and the old snapshot kept byte for byte.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/e2e.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "nginx is not installed (tools/bootstrap installs it)"
e2e_enter "$@"

# shellcheck disable=SC2119 # the test IdP's defaults
e2e_idp_start
openssl genpkey -algorithm ed25519 -out /etc/logto/publish.key 2>/dev/null || fail "openssl genpkey"
chmod 0600 /etc/logto/publish.key
openssl pkey -in /etc/logto/publish.key -pubout -out "$R/publish.pub" 2>/dev/null || fail "pkey -pubout"
e2e_config "[publish]
sign_key_file = /etc/logto/publish.key"
PUB=$R/www/relay # DIR: what `logtoctl publish` writes and nginx serves
mkdir -m 0755 "$R/www" "$PUB"
publish() { # [DIR [logtoctl options]]: the publisher's `logtoctl publish` into DIR ($PUB)
    d=${1:-$PUB}
    [ $# -eq 0 ] || shift
    wrap "$LOGTOCTL" "$@" publish "$d" >"$R/publish.out" 2>&1 ||
        { cat "$R/publish.out" >&2; fail "logtoctl publish failed"; }
}

# ---------------------------------------------------------------- nginx
N=$R/nginx
mkdir -m 0755 "$N"
nginx_start() {
    tries=0
    while :; do
        NGINX_PORT=$(e2e_free_port)
        # Everything nginx writes is under $N (-e: the error log before the configuration is read).
        cat >"$N/nginx.conf" <<EOF
daemon off;
worker_processes 1;
user nobody nogroup;
pid $N/nginx.pid;
error_log $N/error.log;
events { worker_connections 64; }
http {
    client_body_temp_path $N/body; proxy_temp_path $N/proxy; fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi; scgi_temp_path $N/scgi;
    log_format relay '\$request_method \$uri \$status';
    access_log $N/access.log relay;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $IDP_DIR/server.pem;
        ssl_certificate_key $IDP_DIR/server.key;
        root $R/www;
    }
}
EOF
        "$NGINX" -p "$N" -e "$N/error.log" -c "$N/nginx.conf" &
        NGINX_PID=$!
        i=0
        while kill -0 "$NGINX_PID" 2>/dev/null; do
            curl -s -o /dev/null --cacert "$IDP_CA" "https://127.0.0.1:$NGINX_PORT/" && return 0
            i=$((i + 1))
            [ $i -lt 100 ] || break
            sleep 0.05
        done
        nginx_stop
        tries=$((tries + 1))
        [ $tries -lt 3 ] || { cat "$N/error.log" >&2; fail "nginx did not start"; }
    done
}
nginx_stop() {
    [ -n "${NGINX_PID:-}" ] || return 0
    kill -QUIT "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=
}
at_exit nginx_stop
nginx_start
: >"$N/access.log"
# requests_after N COUNT: the access log's lines ("METHOD URI STATUS") after its first N, once
# there are COUNT (nginx logs a request after sending the answer: maybe after the client exits).
requests_after() {
    i=0
    while [ "$(wc -l <"$N/access.log")" -lt $(($1 + $2)) ] && [ $i -lt 40 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    tail -n +$(($1 + 1)) "$N/access.log"
}

# ---------------------------------------------------------------- the relay hosts
# on_host NAME COMMAND...: COMMAND (under $LOGTO_TEST_WRAPPER) on relay host NAME: a mount
# namespace where /etc/logto, /var/lib/logto and /var/cache/logto are NAME's own.
on_host() {
    host=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount --propagation private -- /bin/sh -c 'h=$1; shift
        mount --bind "$h/etc" /etc/logto && mount --bind "$h/lib" /var/lib/logto &&
            mount --bind "$h/cache" /var/cache/logto && exec ${LOGTO_TEST_WRAPPER:-} "$@"' \
        on_host "$R/hosts/$host" "$@"
}
mkdir -m 0755 "$R/hosts"
for h in h1 h2; do
    H=$R/hosts/$h
    mkdir -m 0755 "$H" "$H/etc" "$H/lib" "$H/cache"
    cp /etc/logto/ca.pem "$R/publish.pub" "$H/etc/"
    cat >"$H/etc/logto.conf" <<EOF
# a relay host: no [sync] section, no Management API credential
[logto]
endpoint = $IDP_URL
client_id = device-app
ca_file = /etc/logto/ca.pem
connect_timeout = ${t_connect:-2s}
timeout = ${t_total:-10s}

[relay]
url = https://127.0.0.1:$NGINX_PORT/relay
public_key_file = /etc/logto/publish.pub

$(test_open_services "")
EOF
    chmod 0644 "$H/etc/logto.conf"
    assert_eq "$(cd "$H/etc" && echo *)" "ca.pem logto.conf publish.pub" "$h's /etc/logto (no M2M secret)"
done
hsync() { on_host "$1" "$LOGTOCTL" sync 2>&1; }
hsnap() { echo "$R/hosts/$1/lib/directory.snapshot"; }

# ---------------------------------------------------------------- 1. the publisher's directory
publish
e2e_sync # the publisher's own direct sync: the reference
USERS="alice bob erin grace_hopper"
view() { # [on_host NAME]: getent passwd, getent group and id of $USERS, as that host answers
    "$@" getent passwd
    "$@" getent group
    for u in $USERS; do "$@" id "$u"; done
}
ref=$(view wrap)
assert_contains "$ref" "alice:" "the publisher's getent passwd"
assert_contains "$ref" "logto-admin:" "the publisher's getent group"
for h in h1 h2; do
    n=$(wc -l <"$N/access.log")
    out=$(hsync $h) || fail "relay sync on $h failed: $out"
    assert_eq "$(requests_after "$n" 2 | sed 's/directory-[0-9a-f]*/OBJECT/')" "GET /relay/manifest.json 200
GET /relay/OBJECT.json.zz 200" "nginx's log of $h's first sync"
    assert_eq "$(view on_host $h)" "$ref" "getent passwd/group and id on $h against the publisher's"
done
echo "ok 1 getent passwd/group and id on both relay hosts equal the publisher's"

# ---------------------------------------------------------------- 2. 304: one request
# Every file of a host's state directory with its inode, size and modification time, but
# sync.status: the record of the last successful sync, which `logtoctl status` reports (a 304 is
# one), is rewritten by design.
state() { find "$R/hosts/$1/lib" -mindepth 1 ! -name sync.status -printf '%p %i %s %T@\n' | LC_ALL=C sort; }
before=$(state h1)
n=$(wc -l <"$N/access.log")
out=$(hsync h1) || fail "unchanged relay sync failed: $out"
assert_eq "$(requests_after "$n" 1)" "GET /relay/manifest.json 304" "nginx's log of an unchanged sync"
assert_eq "$(state h1)" "$before" "h1's state directory after a 304"
assert_contains "$(on_host h1 "$LOGTOCTL" status --offline 2>&1)" "last sync: OK" "h1's status after a 304"
echo "ok 2 a sync with nothing published costs one request (304) and writes nothing"

# ---------------------------------------------------------------- 3. a role change, a tampered object
# nginx's ETag is the modification time (seconds) and size: publish sets the manifest's time to
# its serial, which only grows, so a manifest published again within the same second, of the
# same size, still gets a new ETag.
signed() { "$E2E_PY" -c 'import json, sys; print(eval(sys.argv[2], {"m": json.loads(json.load(open(sys.argv[1]))["signed"])}))' "$PUB/manifest.json" "$1"; }
serial_before=$(signed 'm["serial"]')
idp_ctl PATCH /users/alice '{"roles":[]}' >/dev/null || fail "cannot change alice's roles"
publish
assert_eq "$(stat -c %Y "$PUB/manifest.json")" "$(signed 'm["serial"]')" "the manifest's modification time"
[ "$(signed 'm["serial"]')" -gt "$serial_before" ] || fail "the serial did not grow"
obj=$PUB/$(signed 'm["object"]')
delta=$PUB/$(signed 'm["delta"]["object"]')
[ -f "$delta" ] || fail "no delta published after the role change"
cp -p "$obj" "$R/object.good"
cp -p "$delta" "$R/delta.good"
keep=$(sha256sum <"$(hsnap h1)")
# the same size, one byte changed in the middle, in the delta (the host falls back to the object)
# and in the object
for f in "$delta" "$obj"; do
    "$E2E_PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1; open(sys.argv[1], "wb").write(b)' "$f"
done
out=$(hsync h1) && fail "a tampered object was installed: $out"
assert_contains "$out" "does not match the signed manifest" "the refusal of a tampered object"
assert_eq "$(sha256sum <"$(hsnap h1)")" "$keep" "h1's snapshot after a tampered object"
assert_contains "$(on_host h1 id alice)" "logto-admin" "alice's groups on h1 after a tampered object"
echo "ok 3a a tampered object is refused: $(echo "$out" | tail -n 1)"

cp -p "$R/object.good" "$obj"
cp -p "$R/delta.good" "$delta"
e2e_sync
ref=$(view wrap)
assert_not_contains "$(wrap id alice)" "logto-admin" "alice's groups on the publisher"
for h in h1 h2; do
    out=$(hsync $h) || fail "relay sync on $h after the role change failed: $out"
    assert_contains "$out" "requests: 2 to the relay (the directory: delta)" "$h's relay sync after the role change"
    assert_not_contains "$(on_host $h id alice)" "logto-admin" "alice's groups on $h"
    assert_eq "$(view on_host $h)" "$ref" "$h after the role change against the publisher"
done
echo "ok 3b the role change reaches both relay hosts after publish + sync, each through the delta"

# ---------------------------------------------------------------- 4. another key
keep1=$(sha256sum <"$(hsnap h1)")
keep2=$(sha256sum <"$(hsnap h2)")
openssl genpkey -algorithm ed25519 -out /etc/logto/other.key 2>/dev/null || fail "openssl genpkey"
chmod 0600 /etc/logto/other.key
sed 's|^sign_key_file = .*|sign_key_file = /etc/logto/other.key|' /etc/logto/logto.conf >/etc/logto/other.conf
chmod 0644 /etc/logto/other.conf
mkdir -m 0755 "$R/other"
# A whole directory as a publisher holding another key writes it, served in place of ours.
publish "$R/other" --config /etc/logto/other.conf
cp -p "$PUB/manifest.json" "$R/manifest.good"
cp "$R/other/"* "$PUB/"
out=$(hsync h1) && fail "a manifest signed by another key was accepted: $out"
assert_contains "$out" "signature does not verify" "the refusal of another key's manifest"
assert_eq "$(sha256sum <"$(hsnap h1)")" "$keep1" "h1's snapshot after another key's manifest"
echo "ok 4 a manifest signed by another key is refused: $(echo "$out" | tail -n 1)"
cp -p "$R/manifest.good" "$PUB/manifest.json"

# ---------------------------------------------------------------- 5. nginx stopped
nginx_stop
out=$(hsync h2) && fail "a sync with nginx stopped succeeded: $out"
assert_contains "$out" "cannot reach" "the sync's message with nginx stopped"
assert_eq "$(sha256sum <"$(hsnap h2)")" "$keep2" "h2's snapshot with nginx stopped"
st=$(on_host h2 "$LOGTOCTL" status --offline 2>&1 || :)
assert_contains "$st" "cannot reach" "h2's status with nginx stopped"
assert_eq "$(view on_host h2)" "$ref" "h2 with nginx stopped against the publisher"
echo "ok 5 nginx stopped: the sync fails ($(echo "$out" | tail -n 1)), h2 keeps its snapshot"

# nginx wrote only under $N (nothing in /var/log/nginx or /var/lib/nginx).
for d in /var/log/nginx /var/lib/nginx; do
    [ -z "$(find "$d" -newer "$N/nginx.conf" 2>/dev/null)" ] || fail "nginx wrote into $d"
done
