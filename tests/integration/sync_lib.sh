# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared setup of the sync integration tests: the test IdP and a configuration with the M2M
# app's credentials in [sync]. Source it after setting nothing; it exits 77 when it cannot run.
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"

# logtoctl sync replaces root's snapshot and reads a root-only (0600) secret.
need_root
need_cmd python3 curl sha256sum
[ -x "${LOGTOCTL:-}" ] || skip "LOGTOCTL is not set (run through make check)"

# sync_setup [idp_start options...]: IdP up; T, CFG, STATE, SNAP, KEYS set.
sync_setup() {
    idp_start "$@"
    rc=$?
    [ "$rc" = 77 ] && exit 77
    [ "$rc" = 0 ] || fail "the test IdP did not start"
    T=$(test_tmpdir)
    printf 'm2m-secret\n' >"$T/m2m.secret"
    chmod 0600 "$T/m2m.secret"
    CFG=$T/logto.conf
    # frank has no username: his verified e-mail in a listed domain names him.
    write_config "$CFG" "$T" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $T/m2m.secret
# No pacing: these tests count requests, not time (sync_ratelimit.sh checks the pacing).
request_interval = 0
[identity]
email_domains = example.com"
    STATE=$T/state
    SNAP=$STATE/directory.snapshot
    KEYS=$STATE/keys
    # Under valgrind every TLS handshake is slow: give requests time.
    [ -z "${LOGTO_TEST_WRAPPER:-}" ] || sync_timeouts 60s
}

# sync_timeouts T: request timeout T (connect timeout likewise, at most 30 s); under
# $LOGTO_TEST_WRAPPER never below 30 s.
sync_timeouts() {
    t=$1
    [ -n "${LOGTO_TEST_WRAPPER:-}" ] && [ "${t%s}" -lt 30 ] && t=30s
    ct=$t
    [ "${ct%s}" -gt 30 ] && ct=30s
    sed -i -e "s/^timeout = .*/timeout = $t/" -e "s/^connect_timeout = .*/connect_timeout = $ct/" "$CFG"
}

# Our programs run under $LOGTO_TEST_WRAPPER (valgrind) when it is set.
ctl() { wrap "$LOGTOCTL" --config "$CFG" "$@"; }

# jq-like reading with python: `printf '%s' "$json" | jget 'd["users"]'` prints the value
# (strings bare, everything else as JSON).
jget() {
    python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1"
}

checksum() { if [ -e "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo absent; fi; }

# Every file under a directory with its checksum, mode and owner (what "nothing changed" means).
tree_state() {
    (cd "$1" 2>/dev/null && find . -type f -o -type d | LC_ALL=C sort | while read -r f; do
        if [ -f "$f" ]; then
            printf '%s %s %s\n' "$f" "$(stat -c '%a %U' "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
        else
            printf '%s %s\n' "$f" "$(stat -c '%a %U' "$f")"
        fi
    done)
}

# Total Management API + token requests the IdP counted since the last reset.
idp_requests() { idp_ctl GET /stats | jget 'd["total"]'; }

# The UID the identity module documents for a sub: id_min + SHA-256("logto-uid:" sub)[0:8] mod n.
hashed_uid() {
    python3 -c '
import hashlib, sys
lo, hi = 1879048192, 2147352575
h = int.from_bytes(hashlib.sha256(b"logto-uid:" + sys.argv[1].encode()).digest()[:8], "big")
print(lo + h % (hi - lo + 1))' "$1"
}

# The request count common/mgmt.h promises for a directory fetch, from the counts the IdP itself
# reports (Total-Number of every listing): 1 token request + ceil(U/100) + ceil(R/100) + sum over
# roles of ceil(members/100) + ceil(O/100) + sum over organizations of ceil(members/100), every
# listing at least one page. Resets the IdP's counters afterwards (these requests count too).
expected_requests() {
    python3 - "$IDP_URL" "$IDP_CA" <<'PY'
import base64, json, math, ssl, sys, urllib.parse, urllib.request
url, ca = sys.argv[1], sys.argv[2]
tls = ssl.create_default_context(cafile=ca)
form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "all",
                               "resource": "https://default.logto.app/api"}).encode()
req = urllib.request.Request(url + "/oidc/token", data=form, headers={
    "Authorization": "Basic " + base64.b64encode(b"m2m-app:m2m-secret").decode()})
token = json.load(urllib.request.urlopen(req, context=tls))["access_token"]

def get(path, page, size):
    sep = "&" if "?" in path else "?"
    r = urllib.request.Request("%s/api%s%spage=%d&page_size=%d" % (url, path, sep, page, size),
                               headers={"Authorization": "Bearer " + token})
    resp = urllib.request.urlopen(r, context=tls)
    return json.load(resp), int(resp.headers["Total-Number"])

def everything(path):
    items, page = [], 1
    while True:
        batch, total = get(path, page, 100)
        items += batch
        if len(items) >= total or not batch:
            return items
        page += 1

pages = lambda n: max(1, math.ceil(n / 100))
count = lambda path: get(path, 1, 1)[1]
roles = everything("/roles?type=User")
orgs = everything("/organizations")
n = 1 + pages(count("/users")) + pages(len(roles)) + pages(len(orgs))
n += sum(pages(count("/roles/%s/users" % r["id"])) for r in roles)
n += sum(pages(count("/organizations/%s/users" % o["id"])) for o in orgs)
print(n)
PY
    idp_ctl POST /stats/reset >/dev/null
}

# nss_run CMD...: CMD with nss_wrapper: local accounts from the fixture files, ours from the
# module and $SNAP. nss_getent ARGS: getent so. have_nss_wrapper: can they run here?
# shellcheck disable=SC2086
NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-}) # pkg-config leaves a trailing blank
nss_run() {
    env LD_PRELOAD="$(module_preload "$NSS_WRAPPER_LIB")" NSS_WRAPPER_PASSWD="$top_srcdir/tests/data/nss/passwd" \
        NSS_WRAPPER_GROUP="$top_srcdir/tests/data/nss/group" NSS_WRAPPER_MODULE_SO_PATH="$LOGTO_NSS_MODULE" \
        NSS_WRAPPER_MODULE_FN_PREFIX=logto LOGTO_NSS_SNAPSHOT="$SNAP" "$@"
}
nss_getent() { nss_run getent "$@"; }
have_nss_wrapper() {
    [ -n "$NSS_WRAPPER_LIB" ] && [ -e "$NSS_WRAPPER_LIB" ] && [ -n "${LOGTO_NSS_MODULE:-}" ]
}
