#!/bin/sh
# SPDX-License-Identifier: MIT
# The cost of pam_logto's account phase on its fast path: a whole pamtester transaction
# (`pamtester SERVICE alice acct_mgmt`: process start, libpam, the stack, exit) with
#   logto:  account required pam_logto.so  +  account required pam_permit.so
#           (alice signed in once; her cached claims are fresh: claims_max_age = 1h)
#   permit: account required pam_permit.so
# run alternately in one run, N times each. Prints the median and p99 of both, their ratio and
# the difference (what pam_logto adds). Then the same two stacks in one process
# (bench/pam_bench: pam_start + pam_acct_mgmt + pam_end in a loop), which leaves out loading the
# module and its libraries: the module's own work per decision. Fails unless the test IdP saw 0
# requests during all timed runs (the fast path makes no network call). See bench/README.md.
#
# Needs root: the services live in a private mount namespace (a bind mount over /etc/pam.d), so
# libpam is measured as installed, without pam_wrapper, and the host is never changed.
#
# usage: bench/pam-bench.sh [N]              (default 300 transactions of each kind)
#        BUILD_DIR=/path/to/build bench/pam-bench.sh   (default: the source tree)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD_DIR:-$top}
module=$build/pam/.libs/pam_logto.so
n=${1:-300}

die() {
    echo "pam-bench: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- in the namespace
if [ "${1:-}" = --inside ]; then
    tmp=$2 n=$3 driver=$4
    mount --make-rprivate /
    mount --bind "$tmp/pam.d" /etc/pam.d
    # One sign-in (Experience API, alice's password) writes her token record and claims.
    printf 'alice-pass-1\n' | pamtester bench-logto alice authenticate >"$tmp/signin.out" 2>&1 ||
        { cat "$tmp/signin.out" >&2; die "alice's sign-in failed"; }
    # Both stacks must allow alice, and the fast path must be the one taken.
    pamtester bench-logto alice acct_mgmt >/dev/null 2>&1 || die "the pam_logto stack refuses alice"
    pamtester bench-permit alice acct_mgmt >/dev/null 2>&1 || die "the pam_permit stack refuses alice"
    curl -sS --fail -X POST "$IDP_CONTROL/stats/reset" >/dev/null || die "cannot reset the IdP's counters"
    "${PYTHON3:-python3}" - "$n" <<'EOF'
import statistics, subprocess, sys, time

n = int(sys.argv[1])
cmds = {
    "logto": ["pamtester", "bench-logto", "alice", "acct_mgmt"],
    "permit": ["pamtester", "bench-permit", "alice", "acct_mgmt"],
}
times = {k: [] for k in cmds}
for _ in range(10):  # warm the page cache and the dynamic loader's caches
    for c in cmds.values():
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
for i in range(n):
    # Alternate the order so drift (frequency scaling, other load) hits both alike.
    for k in (("logto", "permit") if i % 2 == 0 else ("permit", "logto")):
        t0 = time.perf_counter_ns()
        r = subprocess.run(cmds[k], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter_ns()
        if r.returncode != 0:
            sys.exit(f"pam-bench: {' '.join(cmds[k])} failed (exit {r.returncode})")
        times[k].append((t1 - t0) / 1e6)

def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]

med = {k: statistics.median(v) for k, v in times.items()}
print(f"transactions: {n} of each kind, alternating")
print(f"{'stack':<28}{'median ms':>10}{'p99 ms':>10}{'min ms':>10}")
for k, label in (("permit", "pam_permit.so alone"), ("logto", "pam_logto.so + pam_permit.so")):
    print(f"{label:<28}{med[k]:>10.3f}{p99(times[k]):>10.3f}{min(times[k]):>10.3f}")
print(f"ratio of medians (logto/permit): {med['logto'] / med['permit']:.3f}")
print(f"pam_logto adds (difference of medians): {med['logto'] - med['permit']:.3f} ms")
EOF
    echo
    "$driver" "$n" alice bench-logto bench-permit || die "in-process transactions failed"
    exit 0
fi

# ---------------------------------------------------------------- outside
[ "$(id -u)" = 0 ] || die "needs root (a private mount namespace over /etc/pam.d)"
[ -f "$module" ] || die "$module is not built (make, or BUILD_DIR=...)"
driver=$build/bench/pam_bench
[ -x "$driver" ] || make -C "$build" bench/pam_bench >/dev/null || die "cannot build $driver"
for c in pamtester unshare curl "${PYTHON3:-python3}"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
done
top_srcdir=$top
export top_srcdir
. "$top/tests/lib/idp.sh"
idp_start || die "the test IdP did not start"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/logto-pam-bench.XXXXXX")
trap 'idp_stop; rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir -m 0755 "$tmp/state" "$tmp/cache" "$tmp/pam.d"
printf 'm2m-secret\n' >"$tmp/m2m.secret"
chmod 0600 "$tmp/m2m.secret"
# [sync]: the sign-in's check that alice is a Logto user of this host asks the Management API.
cat >"$tmp/logto.conf" <<EOF
[logto]
endpoint = $IDP_URL
client_id = device-app
password_client_id = native-app
ca_file = $IDP_CA
[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $tmp/m2m.secret
[paths]
state_dir = $tmp/state
cache_dir = $tmp/cache
[service bench-logto]
flow = password
require_roles = admin
claims_max_age = 1h
EOF
chmod 0644 "$tmp/logto.conf"
printf 'auth required %s config=%s\naccount required %s config=%s\naccount required pam_permit.so\n' \
    "$module" "$tmp/logto.conf" "$module" "$tmp/logto.conf" >"$tmp/pam.d/bench-logto"
printf 'account required pam_permit.so\n' >"$tmp/pam.d/bench-permit"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$tmp/pam.d/other"
chmod 0644 "$tmp/pam.d"/*

echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "build: $build ($(sed -n 's/^CFLAGS = //p' "$build/Makefile" 2>/dev/null || echo '?'))"
IDP_CONTROL=$IDP_CONTROL unshare --mount --propagation private "$0" --inside "$tmp" "$n" "$driver"

requests=$(curl -sS --fail "$IDP_CONTROL/stats" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
echo "IdP requests during the timed transactions: ${requests:-?}"
[ "$requests" = 0 ] || die "the fast path made $requests request(s) to the IdP"
