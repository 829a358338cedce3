#!/bin/sh
# SPDX-License-Identifier: MIT
# nss_files vs nss_db (Debian's libnss-db) vs nss_logto, through glibc, at several directory
# sizes, in one run. See bench/README.md. Needs root (a private mount namespace: the host's
# /etc/nsswitch.conf, /etc/passwd, /etc/group, /etc/ld.so.cache and /var/lib are never changed),
# unshare, ldconfig, makedb (libnss-db) and awk.
#
# usage: bench/nss-bench.sh [SIZE...]         (default: 1000 10000 100000)
#        BUILD_DIR=/path/to/build bench/nss-bench.sh ...   (default: the source tree)
#        ROUNDS=N bench/nss-bench.sh ...    back-to-back rounds of the smallest and largest
#                                           size for the scaling ratio (default 5)
#        FRESH_ROUNDS=N bench/nss-bench.sh ...  rounds of whole processes, every backend and
#                                           size in a shuffled order in each (default 31)
#        GUARD=changed bench/nss-bench.sh ...  the snapshots carry no fingerprint of the local
#                                           files, as after a local account was added and before
#                                           the next sync: the module's guard reads /etc/passwd
#                                           and /etc/group and checks every entry it serves
#                                           (default: unchanged, the snapshots are stamped with
#                                           the host files' fingerprint, as sync writes them)
set -eu
rounds=${ROUNDS:-5}
fresh_rounds=${FRESH_ROUNDS:-31}
guard=${GUARD:-unchanged}
case $guard in unchanged | changed) ;; *) echo "nss-bench: GUARD must be unchanged or changed" >&2; exit 1 ;; esac
case $rounds$fresh_rounds in '' | *[!0-9]*) echo "nss-bench: ROUNDS and FRESH_ROUNDS must be numbers" >&2; exit 1 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD_DIR:-$top}
bench=$build/bench/nss_bench
module=$build/nss/.libs/libnss_logto.so.2
. "$top/tests/lib/nss_ns.sh"

die() {
    echo "nss-bench: $*" >&2
    exit 1
}

# makedb input from a passwd or group file, exactly as /var/lib/misc/Makefile (libnss-db) builds
# it: ".name" and "=id" keys, plus "0N" keys for enumeration.
makedb_from() {
    awk 'BEGIN { FS=":"; OFS=":"; cnt=0 }
         /^[ \t]*$/ { next } /^[ \t]*#/ { next }
         { printf "0%u ", cnt++; print }
         /^[^#]/ { printf ".%s ", $1; print; printf "=%s ", $3; print }' "$1" |
        makedb --quiet -o "$2" -
}

# The snapshot of size $1 at the module's path, replaced the way sync does (rename).
install_snapshot() {
    cp "$tmp/$1/directory.snapshot" "$statedir/.new" && mv "$statedir/.new" "$statedir/directory.snapshot"
}

# local_files SIZE|host: bind that size's files, or this host's own, over /etc/passwd and
# /etc/group (nothing is rewritten: the host's files keep the identity the snapshots were stamped
# with, so the module's guard finds them unchanged).
local_files() {
    if [ "$1" = host ]; then f=host-passwd g=host-group; else f=$1/passwd g=$1/group; fi
    umount /etc/passwd /etc/group
    mount --bind "$tmp/$f" /etc/passwd
    mount --bind "$tmp/$g" /etc/group
}

inside() { # in the namespace: $1 = temp dir, then the sizes
    tmp=$1
    shift
    mount --make-rprivate /
    nss_ns_use_module "$tmp" "$module"
    # /var/lib/misc (nss_db) and the snapshot directory on a private tmpfs.
    statedir=$(dirname "$("$bench" path)")
    mount -t tmpfs -o mode=0755 tmpfs /var/lib
    mkdir -m 0755 -p /var/lib/misc "$statedir"
    # This host's own passwd and group files, read-only, as themselves (same inode and times, so
    # the module's guard finds the identity the snapshots are stamped with below).
    for f in passwd group; do
        : >"$tmp/host-$f"
        mount --bind "/etc/$f" "$tmp/host-$f"
        mount -o remount,bind,ro "$tmp/host-$f"
    done
    mount --bind "$tmp/host-passwd" /etc/passwd
    mount --bind "$tmp/host-group" /etc/group
    : >"$tmp/nsswitch.conf"
    mount --bind "$tmp/nsswitch.conf" /etc/nsswitch.conf
    # As sync writes them: checked against the host's files, with their fingerprint.
    if [ "$guard" = unchanged ]; then
        for n in "$@"; do "$bench" stamp "$tmp/$n/directory.snapshot"; done
    fi
    for n in "$@"; do
        cp "$tmp/$n/passwd.db" "$tmp/$n/group.db" /var/lib/misc/
        install_snapshot "$n"
        user=$(printf 'user%06d' $((n / 2)))
        for backend in files db logto; do
            # nss_files reads the generated users from /etc/passwd; with nss_logto they are
            # Logto users, so /etc/passwd is this host's own (the module's guard hides Logto
            # entries whose names or IDs are local).
            local_files "$( [ "$backend" = files ] && echo "$n" || echo host)"
            printf 'passwd: %s\ngroup: %s\n' "$backend" "$backend" >"$tmp/nsswitch.conf"
            echo "# $backend, $n users" >&2
            "$bench" run "$backend" "$n" || echo "nss-bench: $backend at $n: some lookups failed" >&2
            "$bench" spawn "$backend" "$n" id "$user" || echo "nss-bench: id failed" >&2
        done
        echo "# logto called directly, $n users" >&2
        "$bench" direct "$n" "$module" "$statedir/directory.snapshot" || echo "nss-bench: direct failed" >&2
        # The recommended configuration: this host's own (small) files first, then logto.
        printf 'passwd: files logto\ngroup: files logto\n' >"$tmp/nsswitch.conf"
        echo "# files+logto, $n users" >&2
        "$bench" run "files+logto" "$n" || echo "nss-bench: files+logto at $n: some lookups failed" >&2
        "$bench" spawn "files+logto" "$n" id "$user" || echo "nss-bench: id failed" >&2
    done
    # Whole processes (`getent passwd USER`, `id USER`): every backend at every size, in a
    # shuffled order in each round, so the load of a shared machine hits all of them alike.
    # Each size's files on the tmpfs, bind-mounted for the one process that uses them.
    mkdir -m 0755 /var/lib/bench
    for f in host-passwd host-group; do # the host's files themselves, not copies
        : >"/var/lib/bench/$f"
        mount --bind "$tmp/$f" "/var/lib/bench/$f"
    done
    for n in "$@"; do
        mkdir -m 0755 "/var/lib/bench/$n"
        for f in passwd group passwd.db group.db directory.snapshot; do
            cp "$tmp/$n/$f" "/var/lib/bench/$n/$f"
        done
    done
    echo "# whole processes, $fresh_rounds rounds" >&2
    "$bench" fresh /var/lib/bench "$fresh_rounds" "$@" || echo "nss-bench: fresh processes failed" >&2
    umount /var/lib/bench/host-passwd /var/lib/bench/host-group
    rm -rf /var/lib/bench
    # Scaling: the smallest and the largest size measured back to back, ROUNDS times, so that
    # the load of a shared machine (which drifts over minutes) hits both sides of each ratio.
    [ $# -ge 2 ] || return 0
    small=$1
    eval "large=\${$#}"
    # Each round also enumerates the largest directory with nss_files and with nss_logto.
    r=1
    while [ "$r" -le "$rounds" ]; do
        local_files host
        for n in "$small" "$large"; do
            echo "# round $r, $n users" >&2
            printf 'passwd: logto\ngroup: logto\n' >"$tmp/nsswitch.conf"
            install_snapshot "$n"
            { "$bench" point logto "$n" && "$bench" direct-point "$n" "$module" "$statedir/directory.snapshot"; } |
                sed "s/^/round $r /" || echo "nss-bench: round $r at $n failed" >&2
        done
        for backend in files logto; do
            local_files "$( [ "$backend" = files ] && echo "$large" || echo host)"
            printf 'passwd: %s\ngroup: %s\n' "$backend" "$backend" >"$tmp/nsswitch.conf"
            "$bench" enum "$backend" "$large" | sed "s/^/round $r /" ||
                echo "nss-bench: round $r, enumeration with $backend failed" >&2
        done
        r=$((r + 1))
    done
}

if [ "${1:-}" = --inside ]; then
    shift
    inside "$@"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (it runs in a private mount namespace)"
for c in unshare ldconfig makedb awk; do
    command -v "$c" >/dev/null || die "$c is missing (makedb: apt-get install libnss-db)"
done
[ $# -gt 0 ] || set -- 1000 10000 100000
make -C "$build" -s bench/nss_bench nss/libnss_logto.la >&2 || die "cannot build in $build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nss-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
for n in "$@"; do
    mkdir -m 0755 "$tmp/$n"
    "$bench" gen "$n" "$tmp/$n"
    makedb_from "$tmp/$n/passwd" "$tmp/$n/passwd.db"
    makedb_from "$tmp/$n/group" "$tmp/$n/group.db"
    echo "# generated $n users: snapshot $(stat -c %s "$tmp/$n/directory.snapshot") bytes," \
        "passwd $(stat -c %s "$tmp/$n/passwd"), group $(stat -c %s "$tmp/$n/group")" >&2
done
ROUNDS=$rounds FRESH_ROUNDS=$fresh_rounds GUARD=$guard unshare --mount -- sh "$0" --inside "$tmp" "$@" >"$tmp/all"
grep -v '^round \|^fresh-round ' "$tmp/all" >"$tmp/results" || true
grep '^round ' "$tmp/all" >"$tmp/rounds" || true
grep '^fresh-round ' "$tmp/all" >"$tmp/fresh" || true

echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(nproc) CPUs," \
    "kernel $(uname -r), $(ldd --version | head -n1)"
echo "local guard: $guard (unchanged: the snapshots carry the fingerprint of the host files the module"
echo "finds; changed: they carry none, and the guard reads the files and checks every entry)"
echo "each cell: median / p99 of single calls through glibc (enumerate: one whole getpwent loop;"
echo "process: one whole \`id USER\` process; fresh-getent, fresh-id: one whole \`getent passwd USER\`"
echo "or \`id USER\` process, all backends and sizes interleaved); ratios are medians, files/logto"
echo "and db/logto"
awk '
function fmt(ns) {
    if (ns == "-" || ns == "") return "-"
    if (ns < 1000) return sprintf("%d ns", ns)
    if (ns < 1000000) return sprintf("%.1f us", ns / 1000)
    return sprintf("%.1f ms", ns / 1000000)
}
function ratio(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.1fx", a / b) }
{ med[$1, $2, $3] = $4; p99[$1, $2, $3] = $5; if (!($2 in seen)) { seen[$2] = 1; sizes[++ns] = $2 }
  if (!($3 in seenop)) { seenop[$3] = 1; ops[++no] = $3 } }
END {
    for (s = 1; s <= ns; s++) {
        n = sizes[s]
        printf "\n%d users\n", n
        printf "%-16s %-20s %-20s %-20s %-20s %-20s %9s %9s\n", "operation", "nss_files", "nss_db", "nss_logto", "files+logto", "logto (direct)", "files/lt", "db/lt"
        for (o = 1; o <= no; o++) {
            op = ops[o]
            printf "%-16s", op
            split("files db logto files+logto logto-direct", bs, " ")
            for (b = 1; b <= 5; b++) printf " %-20s", fmt(med[bs[b], n, op]) " / " fmt(p99[bs[b], n, op])
            printf " %9s %9s\n", ratio(med["files", n, op], med["logto", n, op]), ratio(med["db", n, op], med["logto", n, op])
        }
    }
    # The targets of the design, checked on these numbers.
    small = sizes[1]; large = sizes[ns]
    print ""
    m = med["logto", large, "getpwnam_r"]; d = med["logto-direct", large, "getpwnam_r"]
    st = med["logto", large, "nsswitch-stat"]
    printf "target: median getpwnam_r <= 1 us at %d users: through glibc %s (%s), module alone %s (%s);\n", large, fmt(m), (m <= 1000 ? "met" : "MISSED"), fmt(d), (d <= 1000 ? "met" : "MISSED")
    printf "        the stat() of /etc/nsswitch.conf that glibc makes on every lookup costs %s by itself here\n", fmt(st)
    r = m / med["logto", small, "getpwnam_r"]; rd = d / med["logto-direct", small, "getpwnam_r"]
    printf "target: %d vs %d users within 1.5x (in the table above, minutes apart): through glibc %.2fx (%s), module alone %.2fx (%s)\n", large, small, r, (r <= 1.5 ? "met" : "MISSED"), rd, (rd <= 1.5 ? "met" : "MISSED")
    e = med["logto", large, "enumerate"]; f = med["files", large, "enumerate"]
    printf "target: enumeration of %d users faster than nss_files: %s vs %s (%s)\n", large, fmt(e), fmt(f), (e < f ? "met" : "MISSED")
}' "$tmp/results"

# Whole processes: "fresh-round R BACKEND N PROGRAM ns", every case once per round.
[ -s "$tmp/fresh" ] && awk '
function median(a, k,    i, j, t) { # sorts a[1..k] in place
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function fmt(ns) { return ns < 1000000 ? sprintf("%.0f us", ns / 1000) : sprintf("%.2f ms", ns / 1000000) }
function med(b, n, p,    r, k) { k = 0; for (r = 1; r <= nr; r++) if ((r, b, n, p) in t) x[++k] = t[r, b, n, p]; return k ? median(x, k) : 0 }
# The median over rounds of the ratio a/b, each round measuring both.
function rmed(ba, na, bb, nb, p,    r, k) {
    k = 0
    for (r = 1; r <= nr; r++)
        if ((r, ba, na, p) in t && (r, bb, nb, p) in t && t[r, bb, nb, p] > 0) y[++k] = t[r, ba, na, p] / t[r, bb, nb, p]
    return k ? median(y, k) : 0
}
{ t[$2, $3, $4, $5] = $6; if ($2 > nr) nr = $2; if (!($4 in seen)) { seen[$4] = 1; sizes[++ns] = $4 + 0 } }
END {
    for (i = 2; i <= ns; i++) { v = sizes[i]; for (j = i - 1; j >= 1 && sizes[j] > v; j--) sizes[j + 1] = sizes[j]; sizes[j + 1] = v }
    split("files db logto files+logto", bs, " ")
    printf "\nwhole processes, %d rounds, every backend and size in a shuffled order in each: medians\n", nr
    printf "%-22s %12s %12s %12s %12s %9s %9s\n", "process, users", "nss_files", "nss_db", "nss_logto", "files+logto", "files/lt", "db/lt"
    for (pi = 1; pi <= 2; pi++) {
        p = pi == 1 ? "getent" : "id"
        for (s = 1; s <= ns; s++) {
            n = sizes[s]
            printf "%-22s", (p == "getent" ? "getent passwd, " : "id, ") n
            for (b = 1; b <= 4; b++) printf " %12s", fmt(med(bs[b], n, p))
            printf " %8.1fx %8.1fx\n", med("files", n, p) / med("logto", n, p), med("db", n, p) / med("logto", n, p)
        }
    }
    small = sizes[1]; large = sizes[ns]
    for (pi = 1; pi <= 2; pi++) {
        p = pi == 1 ? "getent" : "id"
        a = rmed("logto", large, "logto", small, p); f = rmed("files", large, "logto", large, p)
        d = rmed("db", large, "logto", large, p)
        printf "%-6s nss_logto at %d / at %d users: %.2fx (ratio of medians %.2fx); nss_files / nss_logto at %d: %.1fx; nss_db / nss_logto: %.1fx\n", p, large, small, a, med("logto", large, p) / med("logto", small, p), large, f, d
        if (p == "getent") {
            printf "target: a fresh process at %d users within 1.25x of %d users: %s\n", large, small, (a <= 1.25 ? "met" : "MISSED")
            printf "target: a fresh process at %d users 1.5x faster than nss_files: %s\n", large, (f >= 1.5 ? "met" : "MISSED")
        }
    }
    print "(the x ratios on these two lines are medians over the rounds of each round'"'"'s ratio)"
}' "$tmp/fresh"

# The back-to-back rounds: "round R LABEL N OP median p99 samples".
[ -s "$tmp/rounds" ] || exit 0
awk '
function header(    r) { printf "%-28s", "round"; for (r = 1; r <= nr; r++) printf " %6d", r; printf " %9s\n", "median" }
function median(a, k,    i, j, t) { # sorts a[1..k] in place
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ med[$2, $3, $4, $5] = $6; if (!($2 in seenr)) { seenr[$2] = 1; nr++ }
  if (!($4 in seenn)) { seenn[$4] = 1; sizes[++nn] = $4 } }
END {
    small = sizes[1]; large = sizes[nn]
    printf "\nscaling, %d back-to-back rounds: median at %d users / median at %d users\n", nr, large, small
    header()
    split("logto getpwnam_r logto getpwuid_r logto-direct getpwnam_r logto-direct getpwuid_r", w, " ")
    for (k = 1; k <= 8; k += 2) {
        printf "%-28s", (w[k] == "logto" ? "through glibc " : "module alone ") w[k + 1]
        c = 0
        for (r = 1; r <= nr; r++) {
            a = med[r, w[k], small, w[k + 1]]; b = med[r, w[k], large, w[k + 1]]
            if (a > 0 && b > 0) { x[++c] = b / a; printf " %5.2fx", b / a } else printf " %6s", "-"
        }
        m = c ? median(x, c) : 0
        printf " %8.2fx", m
        if (w[k + 1] == "getpwnam_r") printf "  target within 1.5x: %s", (c && m <= 1.5 ? "met" : "MISSED")
        printf "\n"
    }
    printf "\nenumeration of %d users through glibc, the same rounds: nss_files / nss_logto\n", large
    header()
    printf "%-28s", "files / logto"
    c = 0; won = 0
    for (r = 1; r <= nr; r++) {
        a = med[r, "files", large, "enumerate"]; b = med[r, "logto", large, "enumerate"]
        if (a > 0 && b > 0) { x[++c] = a / b; won += b < a; printf " %5.2fx", a / b } else printf " %6s", "-"
    }
    m = c ? median(x, c) : 0
    printf " %8.2fx  target faster than nss_files: %s (nss_logto faster in %d of %d rounds)\n", m, (c && m > 1 ? "met" : "MISSED"), won, c
}' "$tmp/rounds"
