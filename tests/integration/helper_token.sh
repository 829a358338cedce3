#!/bin/sh
# SPDX-License-Identifier: MIT
# logto-helper (issue 15): `logtoctl token` as an ordinary user, through the root helper's socket,
# with systemd-socket-activate standing in for PID 1 and running the shipped unit's command line
# (ExecStart= of logto-helper@.service, one process per connection, the socket on standard
# input: Accept=yes + StandardInput=socket is --accept --inetd; only --config is added, for the
# test's configuration; systemd-analyze verifies both units). The caller is known from
# SO_PEERCRED alone:
#   - a Logto user (setpriv to her UID) gets her own token: plain, --resource, --organization,
#     --user naming herself; the rotation is stored (the next call works with reuse detection on);
#   - she asks for bob's token: nothing; bob gets his own; a local UID that is no Logto user and
#     nobody get nothing; the SETENV attack (SUDO_UID, SUDO_USER in the client's environment)
#     changes nothing;
#   - op=account: malformed requests refused, a local UID asking about alice's account "not own",
#     root naming her answered;
#   - raw clients: another protocol version, unknown and repeated keys, control bytes, an
#     oversized request, a disconnect midway, idle connections that hold the helper until its
#     read timeout: each refused (the idle ones after 5 s, in the background), and the next
#     client is served meanwhile; a fifth connection of one UID is refused at once (per-UID cap);
#   - no password, refresh token or secret in anything a client sees.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
need_cmd systemd-socket-activate setpriv
HELPER=$top_builddir/cli/logto-helper
UNIT=$top_builddir/etc/systemd/logto-helper@.service
[ -x "$HELPER" ] && [ -f "$UNIT" ] || fail "logto-helper or its unit is not built"
ctl_setup --refresh-reuse-leeway 0
sed -i 's|^\[paths\]|scopes = openid offline_access profile email roles custom_data identities urn:logto:scope:organizations urn:logto:scope:organization_roles read write read:org manage:org\nresources = https://api.example.com\n[paths]|' "$CFG"
ACME=pbl95zlwkzx4

# The unit's command line: the helper and no argument; the socket on standard input.
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
assert_eq "${exec_start##*/}" logto-helper "ExecStart= of logto-helper@.service"
grep -qx 'StandardInput=socket' "$UNIT" || fail "the service does not take the socket on stdin"
grep -qx 'Accept=yes' "$top_srcdir/etc/systemd/logto-helper.socket" || fail "the socket is not Accept=yes"
grep -qx 'ListenStream=/run/logto/helper.sock' "$top_srcdir/etc/systemd/logto-helper.socket" ||
    fail "the socket is not at /run/logto/helper.sock"
grep -q '@[a-z]*@' "$UNIT" && fail "unsubstituted @variables@ in $UNIT"
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir "$T/units"
    sed "s|^ExecStart=.*|ExecStart=$HELPER|" "$UNIT" >"$T/units/logto-helper@.service"
    cp "$top_srcdir/etc/systemd/logto-helper.socket" "$T/units/"
    out=$(cd "$T/units" && systemd-analyze verify --man=no ./logto-helper.socket ./logto-helper@.service 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify complained: $out"
fi

password_login alice alice-pass-1 || fail "alice could not sign in: $(cat "$T/err")"
password_login bob bob-pass-1 || fail "bob could not sign in: $(cat "$T/err")"
uid_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uid"])' "$TOKENS/$1.json"; }
ALICE=$(uid_of alice) BOB=$(uid_of bob)
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"

RUN=$T/run
[ ${#RUN} -lt 90 ] || { RUN=$(mktemp -d /tmp/logto-helper.XXXXXX) && at_exit "rm -rf '$RUN'"; }
mkdir -p "$RUN" && chmod 0755 "$RUN"
SOCK=$RUN/helper.sock
# Under valgrind each helper writes its report to a file of its own (stderr is the client's).
vg=
[ -n "${LOGTO_TEST_WRAPPER:-}" ] && vg="$LOGTO_TEST_WRAPPER --log-file=$T/helper-vg.%p"
# shellcheck disable=SC2086
(exec systemd-socket-activate -l "$SOCK" --accept --inetd $vg "$HELPER" --config "$CFG") \
    2>"$T/activate.err" &
activate=$!
at_exit "kill $activate 2>/dev/null"
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "systemd-socket-activate did not listen: $(cat "$T/activate.err")"
chmod 0666 "$SOCK" # SocketMode=0666 of logto-helper.socket

# as UID WANT WHAT [VAR=VALUE...] -- ARGS...: logtoctl ARGS as UID (not root), stdout in $T/out,
# stderr in $T/err; fail unless it exits WANT.
# (setpriv runs env, which sets the variables and runs logtoctl.)
as() {
    as_uid=$1 as_want=$2 as_what=$3
    shift 3
    as_env="LOGTO_HELPER_SOCKET=$SOCK"
    while [ "$1" != -- ]; do as_env="$as_env $1"; shift; done
    shift
    # shellcheck disable=SC2086
    setpriv --reuid="$as_uid" --regid="$as_uid" --clear-groups env $as_env \
        ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" "$@" >"$T/out" 2>"$T/err" </dev/null
    as_rc=$?
    [ "$as_rc" = "$as_want" ] ||
        fail "$as_what: logtoctl $* as uid $as_uid exited $as_rc, expected $as_want; stdout: $(cat "$T/out"); stderr: $(cat "$T/err")"
}
jwt_payload() {
    python3 -c 'import base64,sys; p=sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1"
}
userinfo_sub() {
    curl -sS --cacert "$IDP_CA" -H "Authorization: Bearer $1" "$IDP_ISSUER/me" | jget 'd["sub"]'
}

# Idle clients hold helpers until the read timeout; they run in the background while the rest
# of the test is served (one answer each, read at the end).
raw_client='
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
if sys.argv[2] == "half":
    s.sendall(b"logto-helper 1\nop=tok")
    sys.exit(0)
if sys.argv[2] == "send":
    try:
        s.sendall(sys.stdin.buffer.read())
    except OSError:
        pass
s.settimeout(20)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
sys.stdout.write(data.decode("utf-8", "replace"))
'
PY=/usr/bin/python3 # (root's python3 may be a shim other users cannot run)
raw() { # UID MODE < REQUEST: the helper's raw answer on stdout
    setpriv --reuid="$1" --regid="$1" --clear-groups "$PY" -c "$raw_client" "$SOCK" "$2"
}
# A local user (uid 4243) holds four idle connections: the helper's per-UID cap (4) refuses the
# fifth at once, and the others are served meanwhile.
for n in 1 2 3 4; do
    raw 4243 idle >"$T/idle.$n" 2>&1 &
    eval "idle_$n=\$!"
done
i=0
held() { set -- "$STATE"/helper-slots/uid.4243.*; [ -e "$1" ] && echo $# || echo 0; }
while [ "$(held)" -lt 4 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
raw 4243 idle >"$T/raw"
assert_contains "$(cat "$T/raw")" "uid 4243 already has 4 requests running" "the fifth connection of uid 4243"

# 1. alice, as herself: her own tokens, and each rotation stored before the token came back.
as "$ALICE" 0 "alice's plain token" -- token
at=$(cat "$T/out")
assert_eq "$(wc -l <"$T/out")" 1 "lines on stdout"
assert_eq "$(userinfo_sub "$at")" e738g7numf03 "userinfo sub with alice's token"
rt=$(record_refresh_token "$TOKENS/alice.json")
remember_secret "$rt"
as "$ALICE" 0 "alice's resource token" -- --json token --resource https://api.example.com
assert_eq "$(jget 'd["scope"]' <"$T/out")" "read write" "alice's resource scope"
assert_eq "$(jget 'd["user"]' <"$T/out")" alice "user in --json"
assert_eq "$(jwt_payload "$(jget 'd["access_token"]' <"$T/out")" | jget 'd["aud"]')" https://api.example.com "aud"
[ "$(record_refresh_token "$TOKENS/alice.json")" != "$rt" ] || fail "the helper did not store the rotation"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
as "$ALICE" 0 "alice's organization token" -- token --organization "$ACME"
assert_eq "$(jwt_payload "$(cat "$T/out")" | jget 'd["aud"]')" "urn:logto:organization:$ACME" "organization aud"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
as "$ALICE" 0 "alice naming herself" -- token --user alice
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
as "$ALICE" 5 "alice's refused organization" -- token --organization qmmg1gvtd5ib
assert_contains "$(cat "$T/err")" "not a member of organization qmmg1gvtd5ib"

# 2. Nobody gets anyone else's: alice asking for bob's; bob gets his own; a local UID and nobody
#    (no Logto user in the snapshot) get nothing; the SETENV attack's variables change nothing.
bob_rt=$(record_refresh_token "$TOKENS/bob.json")
as "$ALICE" 5 "alice asking for bob's token" -- token --user bob
assert_eq "$(cat "$T/out")" "" "stdout of alice asking for bob's"
assert_contains "$(cat "$T/err")" "only root may ask for another user's token"
as "$ALICE" 5 "the SETENV attack through the helper" SUDO_UID=0 SUDO_USER=root -- token --user bob
assert_eq "$(cat "$T/out")" "" "stdout of the SETENV attack"
as 4242 6 "a local UID" SUDO_UID="$ALICE" -- token
assert_eq "$(cat "$T/out")" "" "stdout of a local UID"
assert_contains "$(cat "$T/err")" "uid 4242 is not a Logto user on this host"
as 4242 6 "a local UID naming alice" -- token --user alice
assert_eq "$(cat "$T/out")" "" "stdout of a local UID naming alice"
as 65534 6 "nobody" -- token --user bob
assert_eq "$(record_refresh_token "$TOKENS/bob.json")" "$bob_rt" "bob's refresh token after the refused calls"
as "$BOB" 0 "bob's own token" -- token
assert_eq "$(userinfo_sub "$(cat "$T/out")")" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sub"])' "$TOKENS/bob.json")" "bob's token sub"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"

# 3. Raw clients: refused with a reason, and the helper's work for the next client goes on.
refused() { # WHAT REASON < answer (not in a pipeline: fail must end the test)
    ans=$(cat)
    assert_contains "$ans" "logto-helper 1 status=2 out=0 err=" "$1: answer"
    assert_contains "$ans" "$2" "$1: reason"
}
printf 'logto-helper 2\nop=token\n\n' | raw "$ALICE" send >"$T/raw"
refused "version 2" "not protocol version 1" <"$T/raw"
printf 'logto-helper 1\nop=shell\n\n' | raw "$ALICE" send >"$T/raw"
refused "unknown op" "unknown operation" <"$T/raw"
printf 'logto-helper 1\nop=token\nuid=0\n\n' | raw "$ALICE" send >"$T/raw"
refused "a uid key" "unknown key" <"$T/raw"
printf 'logto-helper 1\nop=token\nuser=alice\nuser=bob\n\n' | raw "$ALICE" send >"$T/raw"
refused "user twice" "user given twice" <"$T/raw"
printf 'logto-helper 1\nop=token\nuser=bo\033b\n\n' | raw "$ALICE" send >"$T/raw"
refused "control byte" "not printable ASCII" <"$T/raw"
printf 'logto-helper 1\nop=token\n\nuser=bob\n\n' | raw "$ALICE" send >"$T/raw"
refused "after the end" "bytes after its end" <"$T/raw"
python3 -c 'import sys; sys.stdout.write("logto-helper 1\nop=token\nscope=" + "x" * 8000 + "\n\n")' |
    raw "$ALICE" send >"$T/raw"
refused "oversized" "the request is too long" <"$T/raw"
printf 'logto-helper 1\nop=token\nuser=bob\n\n' | raw "$ALICE" send >"$T/raw"
assert_contains "$(cat "$T/raw")" "logto-helper 1 status=5 out=0 err=" "alice's raw request for bob"
# op=account (a locker's pam_acct_mgmt): no password or token key, user and service required;
# a local UID asking about alice's account is "not own" (23), root may name her (0).
printf 'logto-helper 1\nop=account\nuser=alice\nservice=login\npassword=61\n\n' | raw "$ALICE" send >"$T/raw"
refused "account with a password" "unknown key for op=account" <"$T/raw"
printf 'logto-helper 1\nop=account\nuser=alice\nresource=x\n\n' | raw "$ALICE" send >"$T/raw"
refused "account with a token key" "unknown key for op=account" <"$T/raw"
printf 'logto-helper 1\nop=account\nuser=alice\n\n' | raw "$ALICE" send >"$T/raw"
refused "account without a service" "op=account needs user and service" <"$T/raw"
printf 'logto-helper 1\nop=account\nuser=alice\nservice=login\n\n' | raw 4242 send >"$T/raw"
assert_contains "$(cat "$T/raw")" "logto-helper 1 status=23 out=0 err=" "a local UID asking about alice's account"
printf 'logto-helper 1\nop=account\nuser=alice\nservice=login\n\n' | raw 0 send >"$T/raw"
assert_contains "$(cat "$T/raw")" "logto-helper 1 status=0 out=0 err=0" "root asking about alice's account"
raw "$ALICE" half
as "$ALICE" 0 "alice after the garbage" -- token
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"

# The idle clients: each refused at the read timeout, while everything above was served.
for n in 1 2 3 4; do
    eval "wait \$idle_$n"
    refused "idle client $n" "the request did not arrive in time" <"$T/idle.$n"
done
kill "$activate" 2>/dev/null
wait "$activate" 2>/dev/null
if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
    for f in "$T"/helper-vg.*; do
        [ -s "$f" ] && fail "valgrind reported errors in logto-helper: $(cat "$f")"
    done
fi
no_secrets "$T/out" "$T/err" "$T/raw" "$T/activate.err" "$T"/idle.*
echo "ok helper token"
