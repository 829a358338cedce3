#!/bin/sh
# SPDX-License-Identifier: MIT
# A fleet against the local test IdP (issue 18), with real logtoctl processes, in two parts
# (bench/fleet_bench.py is the driver; see bench/README.md):
#
#  1. the tenant's load per sync period: HOSTS hosts (default 1 and 100, each with its own
#     configuration and state directory) run `logtoctl sync`, once straight against the
#     Management API (direct) and once from a relay (`logtoctl publish` once per period at the
#     tenant, the hosts' conditional GETs at the static server); requests and bytes counted by the
#     test IdP's /stats, in a period with and without a change; 10,000 hosts extrapolated from the
#     largest measured fleet, with the formula printed next to the figure;
#  2. the host-side cost of one relay sync (wall time, CPU, peak RSS, bytes fetched), with a
#     change and without (304), against a direct sync of the same directory measured in the same
#     run (the ratios), at each size of SIZES users.
#
# Needs root (sync writes root-owned snapshots and reads a 0600 secret), node and the test IdP's
# `npm ci`, python3, curl, openssl. The host is not changed: all state lives in a temp dir.
#
# usage: bench/fleet-bench.sh          1 and 100 hosts on a 1,000-user tenant; host cost at 10,000
#                                      users, 3 runs of each kind (a few minutes)
#        bench/fleet-bench.sh --big    the host cost at 10,000 and 100,000 users too
#        BUILD_DIR=/path/to/build HOSTS="1 100" TENANT_USERS=1000 SIZES="10000" RUNS=3 PARALLEL=2
#        (HOSTS="": only part 2; SIZES="": only part 1)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD_DIR:-$top}
logtoctl=$build/cli/logtoctl
hosts=${HOSTS-1 100}
tenant_users=${TENANT_USERS:-1000}
sizes=${SIZES:-10000}
runs=${RUNS:-3}
[ "${1:-}" != --big ] || sizes=${SIZES:-10000 100000}

die() {
    echo "fleet-bench: $*" >&2
    exit 1
}

for v in $hosts $tenant_users $sizes $runs ${PARALLEL:-2}; do
    case $v in '' | *[!0-9]*) die "HOSTS, TENANT_USERS, SIZES, RUNS and PARALLEL must be numbers" ;; esac
done
[ "$(id -u)" = 0 ] || die "needs root (sync writes a root-owned snapshot)"
[ -x "$logtoctl" ] || die "$logtoctl is not built (make, or BUILD_DIR=...)"
for c in curl openssl "${PYTHON3:-python3}"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
done

top_srcdir=$top
export top_srcdir
. "$top/tests/lib/idp.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/logto-fleet-bench.XXXXXX")
trap 'idp_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP
chmod 0755 "$tmp"

# phase NAME USERS ARGS...: the test IdP with a generated tenant and a relay directory, then
# the driver; each phase gets a fresh IdP, relay directory and hosts.
phase() {
    name=$1 users=$2
    shift 2
    mkdir -m 0755 "$tmp/$name" "$tmp/$name/pub"
    echo "fleet-bench: $name: starting the test IdP with $users users" >&2
    rc=0
    idp_start --generate "users=$users,roles=50,orgs=50" --static-dir "$tmp/$name/pub" || rc=$?
    # 77: node, openssl, curl or the IdP's node_modules are missing (tests/lib/idp.sh)
    [ "$rc" != 77 ] || { echo "fleet-bench: the test IdP cannot run here" >&2; exit 77; }
    [ "$rc" = 0 ] || die "the test IdP did not start"
    trap 'idp_stop; rm -rf "$tmp"' EXIT
    IDP_URL=$IDP_URL IDP_CA=$IDP_CA IDP_CONTROL=$IDP_CONTROL RELAY_DIR=$tmp/$name/pub \
        USERS=$users PARALLEL=${PARALLEL:-2} \
        "${PYTHON3:-python3}" "$here/fleet_bench.py" "$name" "$logtoctl" "$tmp/$name" "$@"
    idp_stop
}

echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"), node $(node --version), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "build: $build ($(sed -n 's/^CFLAGS = //p' "$build/Makefile" 2>/dev/null || echo '?'))"
echo
if [ -n "$hosts" ]; then
    echo "== 1. the tenant's load per sync period, direct vs relay"
    # shellcheck disable=SC2086 # HOSTS is a list
    phase tenant "$tenant_users" $hosts
fi
for n in $sizes; do
    echo
    echo "== 2. the host-side cost of a relay sync, $n users"
    phase "host" "$n" "$runs"
    rm -rf "$tmp/host"
done
