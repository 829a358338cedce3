#!/bin/sh
# SPDX-License-Identifier: MIT
# `logtoctl sync` of a generated tenant (default: the 10,000-user fixture of
# tests/integration/sync_scale.sh, with 50 roles and 50 organizations) against the local test IdP,
# timed against a baseline measured in the same run: the very same Management API requests made
# by a minimal client (Python's http.client on one kept-alive TLS connection, decoding the JSON
# and nothing else). The baseline is what the IdP and the network cost; the ratio is what sync
# adds on top (its HTTP client, validation, the identity mapping, the snapshot and its write).
# Both run RUNS times, alternating, after one untimed warm-up sync. Fails unless every sync made
# exactly the baseline's number of requests. See bench/README.md.
#
# Needs root (sync writes a root-owned snapshot and reads a 0600 secret), node and the test
# IdP's `npm ci`, python3, curl, openssl. The host is not changed: state lives in a temp dir.
#
# usage: bench/sync-bench.sh [RUNS]                 (default 5)
#        BUILD_DIR=/path/to/build USERS=10000 ROLES=50 ORGS=50 bench/sync-bench.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD_DIR:-$top}
logtoctl=$build/cli/logtoctl
runs=${1:-5}
users=${USERS:-10000} roles=${ROLES:-50} orgs=${ORGS:-50}

die() {
    echo "sync-bench: $*" >&2
    exit 1
}

for v in "$runs" "$users" "$roles" "$orgs"; do
    case $v in '' | *[!0-9]*) die "RUNS, USERS, ROLES and ORGS must be numbers" ;; esac
done
[ "$(id -u)" = 0 ] || die "needs root (sync writes a root-owned snapshot)"
[ -x "$logtoctl" ] || die "$logtoctl is not built (make, or BUILD_DIR=...)"
for c in curl openssl "${PYTHON3:-python3}"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
done

top_srcdir=$top
export top_srcdir
. "$top/tests/lib/idp.sh"
echo "sync-bench: starting the test IdP with $users users, $roles roles, $orgs organizations" >&2
rc=0
idp_start --generate "users=$users,roles=$roles,orgs=$orgs" || rc=$?
# 77: node, openssl, curl or the IdP's node_modules are missing (tests/lib/idp.sh)
[ "$rc" != 77 ] || { echo "sync-bench: the test IdP cannot run here" >&2; exit 77; }
[ "$rc" = 0 ] || die "the test IdP did not start"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/logto-sync-bench.XXXXXX")
trap 'idp_stop; rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir -m 0755 "$tmp/state" "$tmp/cache"
printf 'm2m-secret\n' >"$tmp/m2m.secret"
chmod 0600 "$tmp/m2m.secret"
cat >"$tmp/logto.conf" <<EOF
[logto]
endpoint = $IDP_URL
client_id = device-app
ca_file = $IDP_CA
timeout = 60s
[paths]
state_dir = $tmp/state
cache_dir = $tmp/cache
[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $tmp/m2m.secret
# The fetch's own cost, not the pacing a tenant needs (logto.conf(5) request_interval).
request_interval = 0
# Every user is served (the largest snapshot): services deny by default.
[service *]
allow_any_user = yes
EOF
chmod 0644 "$tmp/logto.conf"

echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"), node $(node --version)"
echo "build: $build ($(sed -n 's/^CFLAGS = //p' "$build/Makefile" 2>/dev/null || echo '?'))"
IDP_URL=$IDP_URL IDP_CA=$IDP_CA IDP_CONTROL=$IDP_CONTROL \
    "${PYTHON3:-python3}" - "$runs" "$logtoctl" "$tmp/logto.conf" <<'EOF'
import base64, http.client, json, os, ssl, statistics, subprocess, sys, time, urllib.parse

runs, logtoctl, config = int(sys.argv[1]), sys.argv[2], sys.argv[3]
url = urllib.parse.urlsplit(os.environ["IDP_URL"])
control = os.environ["IDP_CONTROL"]
tls = ssl.create_default_context(cafile=os.environ["IDP_CA"])

def control_call(method, path):
    u = urllib.parse.urlsplit(control)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request(method, path)
    body = c.getresponse().read()
    c.close()
    return json.loads(body) if body else None

def baseline():
    """The requests sync makes, on one connection: token, then every page of every listing."""
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=tls)
    requests = 0

    def call(method, path, body=None, headers={}):
        nonlocal requests
        requests += 1
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            sys.exit(f"sync-bench: baseline {method} {path}: HTTP {resp.status}")
        return json.loads(data), resp.headers

    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "all",
                                   "resource": "https://default.logto.app/api"})
    basic = base64.b64encode(b"m2m-app:m2m-secret").decode()
    token, _ = call("POST", "/oidc/token", form, {
        "Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"})
    auth = {"Authorization": "Bearer " + token["access_token"]}

    def everything(path):
        items, page = [], 1
        while True:
            sep = "&" if "?" in path else "?"
            batch, headers = call("GET", f"/api{path}{sep}page={page}&page_size=100", None, auth)
            items += batch
            if len(items) >= int(headers["Total-Number"]) or not batch:
                return items
            page += 1

    n_users = len(everything("/users"))
    roles = everything("/roles?type=User")
    for r in roles:
        everything(f"/roles/{r['id']}/users")
    orgs = everything("/organizations")
    for o in orgs:
        everything(f"/organizations/{o['id']}/users")
    conn.close()
    return requests, n_users, len(roles), len(orgs)

def sync(dry_run=False):
    cmd = [logtoctl, "--config", config, "sync", "--json"] + (["--dry-run"] if dry_run else [])
    # Every sync gets its M2M token afresh, as the baseline does (a cached one would save the
    # token request; sync keeps it for its lifetime, an hour on Logto).
    subprocess.run([logtoctl, "--config", config, "cache", "clear", "--m2m-token"],
                   capture_output=True, check=True)
    control_call("POST", "/stats/reset")
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"sync-bench: logtoctl sync failed (exit {r.returncode}): {r.stderr.strip()}")
    report = json.loads(r.stdout)
    counted = control_call("GET", "/stats")["total"]
    return elapsed, report, counted

sync(dry_run=True)  # warm-up: node's JIT, the page cache, the IdP's caches
base, whole, phases = [], [], {}
for i in range(runs):
    for kind in (("baseline", "sync") if i % 2 == 0 else ("sync", "baseline")):
        if kind == "baseline":
            t0 = time.perf_counter()
            b_requests, n_users, n_roles, n_orgs = baseline()
            base.append(time.perf_counter() - t0)
        else:
            elapsed, report, counted = sync()
            whole.append(elapsed)
            for k, v in report["timing_ms"].items():
                phases.setdefault(k, []).append(v / 1000)
for name, v in (("requests counted by the IdP", counted), ("requests in the report", report["requests"])):
    if v != b_requests:
        sys.exit(f"sync-bench: {name}: {v}, the baseline made {b_requests}")

print(f"tenant: {n_users} users, {n_roles} roles, {n_orgs} organizations; snapshot: "
      f"{report['users']} users, {report['groups']} groups; {b_requests} requests per sync")
print(f"runs: {runs} of each, alternating, after one warm-up sync\n")
print(f"{'':<46}{'median s':>10}{'min s':>8}{'max s':>8}")
def row(label, v):
    print(f"{label:<46}{statistics.median(v):>10.2f}{min(v):>8.2f}{max(v):>8.2f}")
row(f"baseline: the {b_requests} requests, python http.client", base)
row("logtoctl sync, whole process", whole)
for k in ("fetch", "map", "diff", "build", "write"):
    if k in phases:
        row(f"  {k}", phases[k])
ratio = statistics.median(whole) / statistics.median(base)
print(f"\nratio of medians (sync / baseline): {ratio:.2f}x")
m = statistics.median(whole)
print(f"target: sync of the {n_users}-user tenant under 10 s: {m:.2f} s ({'met' if m < 10 else 'MISSED'})")
EOF
