#!/bin/sh
# SPDX-License-Identifier: MIT
# The built Debian packages, installed as an administrator would: into a minimal Debian 12
# system bootstrapped with mmdebstrap, with the real dpkg, maintainer scripts, pam-auth-update,
# ldconfig trigger and deb-systemd-helper. Not part of `make check` (it needs the .debs and
# downloads a base system): tools/check's `package` stage builds the packages with
# dpkg-buildpackage and runs it.
#
#   tests/packaging/install.sh [--cache DIR] DEBDIR
#
# DEBDIR holds libpam-logto_*.deb, libnss-logto_*.deb and logtoctl_*.deb. With --cache, the
# bootstrapped base system is kept as a tarball in DIR and reused while it is less than a day
# old (a run then takes seconds instead of a minute or two). $LOGTO_DEBIAN_MIRROR overrides the
# mirror (http://deb.debian.org/debian).
#
# Everything happens as root inside a private mount and PID namespace, in a tmpfs that dies
# with it: the base system, the test IdP (tests/lib/idp.sh; started on the host's loopback, which
# the chroot shares) and a syslog sink on the chroot's /dev/log. The host is fingerprinted
# before and after (/etc/nsswitch.conf, /etc/pam.d, the module directories, dpkg's database,
# /var/lib/logto, mounts...) and must not have changed. Checked:
#   1. dpkg -i of the three packages (their Depends resolve within Debian 12);
#   2. the layout: modules in the multiarch directories, the NSS module in ld.so.cache, the
#      pam-auth-update profile registered, logto added after files to passwd and group in
#      nsswitch.conf (nothing else touched), /etc/logto/logto.conf a conffile (root 0644, only
#      comments), /var/lib/logto 0755, /var/cache/logto, the sync units present but not enabled,
#      every man page and example of the tree in its package; glibc lookups still work with no snapshot;
#      debian/tests/smoke (the autopkgtest) passes inside;
#   3. a device-flow sign-in of alice through the installed module with pamtester, via the
#      profile enabled with pam-auth-update (code approved through the IdP's control API), then
#      `getent passwd alice`, `getent group alice` and `id alice` through the installed NSS module;
#   4. reinstalling (the upgrade path) keeps the profile and the timer an administrator enabled
#      and adds no second "logto";
#      an administrator who took logto out of nsswitch.conf keeps it out across upgrades;
#   5. dpkg --purge: the modules, /etc/logto, /var/lib/logto, /var/cache/logto, the nsswitch
#      entries and the pam_logto lines are gone, and the system's files are as before the install.
# Exit status: 0 pass, 1 fail, 77 skip (not root, no mmdebstrap/unshare, no test IdP).

set -u
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir

say() { printf '%s\n' "install.sh: $*" >&2; }

# ---------------------------------------------------------------- outside the namespace
if [ "${1:-}" != --inside ]; then
    cache=
    while [ $# -gt 0 ]; do
        case "$1" in
        --cache) cache=$2; shift 2 ;;
        -*) echo "usage: $0 [--cache DIR] DEBDIR" >&2; exit 2 ;;
        *) break ;;
        esac
    done
    [ $# = 1 ] || { echo "usage: $0 [--cache DIR] DEBDIR" >&2; exit 2; }
    debdir=$(cd "$1" && pwd) || exit 1
    if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root" >&2; exit 77; fi
    for c in unshare mmdebstrap dpkg-deb chroot sha256sum python3 node openssl curl; do
        command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c is not installed" >&2; exit 77; }
    done
    for p in libpam-logto libnss-logto logtoctl; do
        n=$(find "$debdir" -maxdepth 1 -name "${p}_*.deb" | wc -l)
        [ "$n" = 1 ] || { echo "FAIL: want one ${p}_*.deb in $debdir, found $n" >&2; exit 1; }
    done
    [ -d "$top_srcdir/tests/idp/node_modules/oidc-provider" ] ||
        [ -d "${LOGTO_IDP_NODE_MODULES:-/nonexistent}/oidc-provider" ] ||
        { echo "SKIP: tests/idp/node_modules is missing (tools/bootstrap runs npm ci)" >&2; exit 77; }
    unshare --mount --pid --fork --mount-proc true 2>/dev/null ||
        { echo "SKIP: cannot make mount and PID namespaces here" >&2; exit 77; }

    ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
    fingerprint() {
        for p in /etc/nsswitch.conf /etc/pam.d /etc/logto /etc/ld.so.cache /etc/systemd/system \
            /usr/share/pam-configs /var/lib/pam /var/lib/logto /var/cache/logto \
            /var/lib/dpkg/status /var/lib/systemd/deb-systemd-helper-enabled \
            "/lib/$ma/security/pam_logto.so" "/lib/$ma/security/pam_logto_net.so" \
            "/lib/$ma/libnss_logto.so.2" "/usr/lib/$ma/security/pam_logto.so" \
            "/usr/lib/$ma/security/pam_logto_net.so" "/usr/lib/$ma/libnss_logto.so.2" \
            /lib/systemd/system/logto-sync.service /lib/systemd/system/logto-sync.timer \
            /usr/sbin/logtoctl; do
            if [ -e "$p" ] || [ -L "$p" ]; then
                find "$p" -xdev -printf '%p %M %U:%G %l\n' 2>&1 | sort
                find "$p" -xdev -type f -exec sha256sum {} + 2>&1 | sort
            else
                echo "absent $p"
            fi
        done
        awk '{ print $5 }' /proc/self/mountinfo | sort
    }
    work=$(mktemp -d "${TMPDIR:-/tmp}/logto-pkgtest.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    before=$(fingerprint)
    start=$(date +%s)
    unshare --mount --pid --fork --mount-proc sh "$self" --inside "$work" "$debdir" "$cache"
    rc=$?
    after=$(fingerprint)
    if [ "$before" != "$after" ]; then
        say "the host changed:"
        printf '%s\n' "$before" >"$work.before"
        printf '%s\n' "$after" | diff "$work.before" - >&2
        rm -f "$work.before"
        rc=1
    fi
    [ $rc != 0 ] || say "host unchanged; $(($(date +%s) - start)) s in all"
    exit $rc
fi

# ---------------------------------------------------------------- inside: private mounts and PIDs
work=$2 debdir=$3 cache=$4
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$work" || exit 1
TMPDIR=$work
export TMPDIR
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"
. "$top_srcdir/tests/lib/pam.sh"

R=$work/root
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
mirror=${LOGTO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
t0=$(date +%s)
step() { echo "ok $*"; }
# in_root CMD...: run CMD in the installed system, with a clean environment.
in_root() {
    chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# ---------------------------------------------------------------- 0. the base system
# What the packages depend on (first alternatives, our own packages left out) goes into the
# base system, so dpkg -i below needs no network and proves the Depends are satisfiable; plus
# the test's own tools: pamtester, and systemd to ask systemctl whether the units are enabled.
deps=$(for d in "$debdir"/*.deb; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' |
    sed -E 's/\|.*//; s/\(.*\)//; s/:[a-z0-9]+//; s/[[:space:]]//g' |
    grep -vE '^(|libpam-logto|libnss-logto|logtoctl)$' | sort -u | tr '\n' ',')
include="${deps}pamtester,systemd"
key=$(printf '%s %s\n' "$mirror" "$include" | sha256sum | cut -c1-16)
tarball=${cache:+$cache/bookworm-$key.tar}
if [ -n "$tarball" ] && [ -n "$(find "$tarball" -mmin -1440 2>/dev/null)" ]; then
    mkdir -p "$R" || fail "mkdir $R"
    tar -C "$R" -xf "$tarball" || fail "cannot unpack $tarball"
    step "0 base system from $tarball"
else
    mmdebstrap --variant=apt --include="$include" --aptopt='Acquire::Retries "3"' \
        bookworm "$R" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
        { tail -30 "$work/mmdebstrap.log" >&2; fail "mmdebstrap could not bootstrap Debian 12"; }
    if [ -n "$tarball" ]; then
        mkdir -p "$cache" && tar -C "$R" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    fi
    step "0 base system bootstrapped with mmdebstrap in $(($(date +%s) - t0)) s ($include)"
fi
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || :
# The module logs through syslog(3): a sink on the chroot's /dev/log keeps its lines (and keeps
# them out of the host's journal).
syslog=$work/syslog.txt
python3 "$top_srcdir/tests/e2e/syslogd.py" "$R/dev/log" "$syslog" "$work/syslog.ready" &
i=0
while [ ! -e "$work/syslog.ready" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the syslog sink did not start"
    sleep 0.1
done
at_exit "rm -f '$R/dev/log'"
show_log() { echo "--- syslog:" >&2; cat "$syslog" >&2; }

# The state before the packages: every file of the system but the bookkeeping that installing
# and purging always changes (dpkg's database, debconf's cache, logs, apt's caches).
system_files() {
    (cd "$R" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./run -o -path ./dev \
        -o -path ./var/lib/dpkg -o -path ./var/cache/debconf -o -path ./var/log \
        -o -path ./var/cache/apt -o -path ./var/lib/apt \
        -o -path ./var/cache/ldconfig -o -path ./etc/ld.so.cache \) -prune -o \
        -printf '%p %M %U:%G %l\n' | sort
    find . -xdev \( -path ./proc -o -path ./tmp -o -path ./run -o -path ./dev \
        -o -path ./var/lib/dpkg -o -path ./var/cache/debconf -o -path ./var/log \
        -o -path ./var/cache/apt -o -path ./var/lib/apt \
        -o -path ./var/cache/ldconfig -o -path ./etc/ld.so.cache \) -prune -o \
        -type f -exec sha256sum {} + | sort)
}
system_files >"$work/files.before"
cp "$R/etc/nsswitch.conf" "$work/nsswitch.before"

# ---------------------------------------------------------------- 1. install
mkdir -p "$R/tmp/debs"
cp "$debdir"/libpam-logto_*.deb "$debdir"/libnss-logto_*.deb "$debdir"/logtoctl_*.deb "$R/tmp/debs/"
in_root sh -c 'dpkg -i /tmp/debs/*.deb' >"$work/install.out" 2>&1 ||
    { cat "$work/install.out" >&2; fail "dpkg -i of the packages failed"; }
# shellcheck disable=SC2016 # (dpkg-query's fields, not shell variables)
st=$(in_root dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' libpam-logto libnss-logto logtoctl)
assert_eq "$(echo "$st" | grep -c ' ii $')" 3 "installed packages ($st)"
step "1 dpkg -i libpam-logto libnss-logto logtoctl"

# ---------------------------------------------------------------- 2. the layout
owner() { in_root dpkg -S "$1" 2>/dev/null | cut -d: -f1; }
mode() { stat -c '%a %U:%G' "$R$1"; }
assert_eq "$(owner "/lib/$ma/security/pam_logto.so")" libpam-logto "owner of pam_logto.so"
assert_eq "$(mode "/lib/$ma/security/pam_logto.so")" "644 root:root" "pam_logto.so"
assert_eq "$(owner "/lib/$ma/security/pam_logto_net.so")" libpam-logto "owner of pam_logto_net.so"
assert_eq "$(mode "/lib/$ma/security/pam_logto_net.so")" "644 root:root" "pam_logto_net.so"
assert_eq "$(owner "/lib/$ma/libnss_logto.so.2")" libnss-logto "owner of libnss_logto.so.2"
in_root ldconfig -p | grep -q "libnss_logto.so.2 .*/$ma/libnss_logto.so.2" ||
    fail "libnss_logto.so.2 is not in the installed system's ld.so.cache"
assert_eq "$(owner /usr/sbin/logtoctl)" logtoctl "owner of logtoctl"

# Only comments, blank lines and section headers: the sample configures nothing.
assert_eq "$(mode /etc/logto/logto.conf)" "644 root:root" "/etc/logto/logto.conf"
grep -qx /etc/logto/logto.conf "$R/var/lib/dpkg/info/logtoctl.conffiles" ||
    fail "/etc/logto/logto.conf is not a conffile"
set_keys=$(grep -vE '^[[:space:]]*(#|$|\[)' "$R/etc/logto/logto.conf" || true)
[ -z "$set_keys" ] || fail "the shipped logto.conf sets keys: $set_keys"
cmp -s "$R/etc/logto/logto.conf" "$top_srcdir/etc/logto.conf" ||
    fail "/etc/logto/logto.conf is not the tree's etc/logto.conf"
assert_eq "$(mode /var/lib/logto)" "755 root:root" "/var/lib/logto"
[ -d "$R/var/cache/logto" ] || fail "no /var/cache/logto"

# Every man page of the tree, in the package of its subject.
for m in "$top_srcdir"/man/*.[0-9]; do
    [ -e "$m" ] || continue
    n=$(basename "$m")
    case "$n" in
    pam_logto.*) want=libpam-logto ;;
    nss_logto.*) want=libnss-logto ;;
    *) want=logtoctl ;;
    esac
    assert_eq "$(owner "/usr/share/man/man${n##*.}/$n.gz")" "$want" "owner of $n"
done

# The examples: PAM services with the module, the rest with logtoctl.
for f in "$top_srcdir"/etc/pam.d/*; do
    [ -e "$f" ] || continue
    assert_eq "$(owner "/usr/share/doc/libpam-logto/examples/pam.d/$(basename "$f")")" \
        libpam-logto "owner of the example pam.d/$(basename "$f")"
done
for f in "$top_srcdir"/etc/logto.conf "$top_srcdir"/etc/ssh/sshd_config.d-logto.conf \
    "$top_srcdir"/etc/sudoers.d-logto; do
    [ -e "$f" ] || continue
    assert_eq "$(owner "/usr/share/doc/logtoctl/examples/$(basename "$f")")" logtoctl \
        "owner of the example $(basename "$f")"
done

# The sync units: shipped, static service, timer not enabled (deb-systemd-helper knows them).
if [ -f "$top_srcdir/etc/systemd/logto-sync.timer" ]; then
    for u in logto-sync.service logto-sync.timer; do
        assert_eq "$(owner "/lib/systemd/system/$u")" logtoctl "owner of $u"
    done
    assert_eq "$(in_root systemctl is-enabled logto-sync.timer 2>&1)" disabled "logto-sync.timer"
    ls "$R"/etc/systemd/system/*/logto-sync.* >/dev/null 2>&1 &&
        fail "a logto-sync unit is enabled: $(ls "$R"/etc/systemd/system/*/logto-sync.*)"
    sync_units="units not enabled"
else
    sync_units="no sync units in this tree yet"
fi
# The root helper: its socket enabled by the package, the template service never enabled itself.
if [ -f "$top_srcdir/etc/systemd/logto-helper.socket" ]; then
    for u in logto-helper.socket logto-helper@.service; do
        assert_eq "$(owner "/lib/systemd/system/$u")" logtoctl "owner of $u"
    done
    assert_eq "$(owner /usr/libexec/nss-pam-logto/logto-helper)" logtoctl "owner of logto-helper"
    assert_eq "$(in_root systemctl is-enabled logto-helper.socket 2>&1)" enabled "logto-helper.socket"
fi

# pam-auth-update: the profile is registered (seen), and whether it is enabled by default
# follows its Default: field.
if [ -f "$top_srcdir/etc/pam-configs/logto" ]; then
    profile=yes
    assert_eq "$(owner /usr/share/pam-configs/logto)" libpam-logto "owner of the profile"
    grep -qx logto "$R/var/lib/pam/seen" || fail "pam-auth-update did not register the profile"
    if grep -qiE '^Default:[[:space:]]*yes' "$R/usr/share/pam-configs/logto"; then
        grep -q pam_logto "$R/etc/pam.d/common-auth" || fail "the profile (Default: yes) is not enabled"
        profile_state="profile registered and enabled (Default: yes)"
    else
        grep -l pam_logto "$R"/etc/pam.d/* && fail "a Default: no profile was enabled on install"
        profile_state="profile registered, not enabled (Default: no)"
    fi
else
    profile_state="no pam-auth-update profile in this tree yet"
    profile=no
fi

# nsswitch.conf: logto appended to passwd and group, every other line as it was.
for db in passwd group; do
    grep -qE "^$db:[[:space:]]+files( .*)? logto$" "$R/etc/nsswitch.conf" ||
        fail "nsswitch.conf $db: $(grep "^$db:" "$R/etc/nsswitch.conf")"
done
sed -E '/^(passwd|group):/ s/ logto$//' "$R/etc/nsswitch.conf" | cmp -s - "$work/nsswitch.before" ||
    fail "nsswitch.conf changed beyond passwd and group: $(diff "$work/nsswitch.before" "$R/etc/nsswitch.conf")"
# No snapshot yet: local lookups work, Logto names are simply unknown.
in_root getent passwd root >/dev/null || fail "getent passwd root fails with logto in nsswitch.conf"
in_root getent passwd alice >/dev/null && fail "alice resolves before any sign-in"
# The autopkgtest (debian/tests/smoke) checks the same fresh installation from inside.
cp "$top_srcdir/debian/tests/smoke" "$R/tmp/smoke"
in_root sh /tmp/smoke >"$work/smoke.out" 2>&1 || { cat "$work/smoke.out" >&2; fail "debian/tests/smoke"; }
step "2 layout: modules in /lib/$ma, conffile, state dirs, man pages, $sync_units, $profile_state," \
    "nsswitch: $(grep '^passwd:' "$R/etc/nsswitch.conf" | tr -s ' ')"

# ---------------------------------------------------------------- 3. sign in
idp_start || exit $?
cp "$IDP_CA" "$R/usr/local/share/logto-test-ca.pem"
chmod 0644 "$R/usr/local/share/logto-test-ca.pem"
cat >"$R/etc/logto/logto.conf" <<EOF
[logto]
endpoint = $IDP_URL
client_id = device-app
ca_file = /usr/local/share/logto-test-ca.pem
poll_interval = 1s
connect_timeout = 2s
timeout = 10s
[service *]
flow = device
qr = no
require_roles = admin
EOF
in_root logtoctl config check >"$work/config.out" 2>&1 ||
    { cat "$work/config.out" >&2; fail "logtoctl config check"; }

if [ "$profile" = yes ]; then
    in_root pam-auth-update --enable logto >"$work/pam-auth-update.out" 2>&1 ||
        { cat "$work/pam-auth-update.out" >&2; fail "pam-auth-update --enable logto"; }
    for f in common-auth common-account; do
        grep -q 'pam_logto\.so' "$R/etc/pam.d/$f" || fail "pam-auth-update left pam_logto out of $f"
    done
    # A service as Debian's own ones are: nothing but the common stacks.
    printf '@include common-auth\n@include common-account\n' >"$R/etc/pam.d/logto-pkgtest"
    how="the pam-auth-update profile"
else
    # No profile in this tree yet: a service naming the module the way libpam finds it, by name
    # in its multiarch directory.
    printf 'auth required pam_logto.so\naccount required pam_logto.so\n' \
        >"$R/etc/pam.d/logto-pkgtest"
    how="a service file (no pam-auth-update profile in this tree yet)"
fi
out=$work/signin.out
# An empty first answer for whatever module asks for a password before pam_logto (pam_unix);
# line-buffered, so the code can be read while the module polls.
printf '\n' >"$work/answers"
in_root stdbuf -oL -e0 pamtester -v logto-pkgtest alice authenticate acct_mgmt <"$work/answers" >"$out" 2>&1 &
pid=$!
code=$(wait_for_code "$out") || { kill $pid; cat "$out" >&2; show_log; fail "no device code shown"; }
idp_ctl POST /device/approve "{\"user_code\":\"$code\",\"username\":\"alice\"}" >/dev/null ||
    fail "the IdP refused to approve $code"
wait $pid || { cat "$out" >&2; show_log; fail "alice could not sign in"; }
assert_contains "$(cat "$out")" "successfully authenticated"
grep -q 'auth-ok user=alice service=logto-pkgtest method=device' "$syslog" ||
    { show_log; fail "pam_logto did not log auth-ok for alice"; }
assert_eq "$(mode /var/lib/logto/tokens)" "700 root:root" "/var/lib/logto/tokens"
assert_eq "$(mode /var/lib/logto/tokens/alice.json)" "600 root:root" "alice's token record"
step "3a alice signed in through the installed pam_logto.so ($how), device code $code"

pw=$(in_root getent passwd alice) || fail "getent passwd alice: not found after the sign-in"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -gt 65535 ] || fail "alice's UID $uid: $pw"
in_root getent group alice >/dev/null || fail "getent group alice: no private group"
assert_contains "$(in_root id alice)" "uid=$uid(alice)" "id alice"
step "3b getent passwd alice through the installed libnss_logto.so.2: $pw"

# ---------------------------------------------------------------- 4. upgrades
# The administrator enables the sync timer (systemctl works offline in a chroot).
if [ "$sync_units" = "units not enabled" ]; then
    in_root systemctl enable logto-sync.timer >"$work/enable.out" 2>&1 ||
        { cat "$work/enable.out" >&2; fail "systemctl enable logto-sync.timer"; }
fi
in_root sh -c 'dpkg -i /tmp/debs/*.deb' >"$work/reinstall.out" 2>&1 ||
    { cat "$work/reinstall.out" >&2; fail "reinstalling the packages failed"; }
for db in passwd group; do
    assert_eq "$(grep "^$db:" "$R/etc/nsswitch.conf" | grep -o logto | wc -l)" 1 \
        "logto entries in $db after an upgrade"
done
if [ "$profile" = yes ]; then
    grep -q 'pam_logto\.so' "$R/etc/pam.d/common-auth" ||
        fail "an upgrade disabled the profile the administrator had enabled"
fi
in_root getent passwd alice >/dev/null || fail "alice is gone after an upgrade"
if [ "$sync_units" = "units not enabled" ]; then
    assert_eq "$(in_root systemctl is-enabled logto-sync.timer 2>&1)" enabled \
        "logto-sync.timer, enabled by the administrator, after an upgrade"
fi
# An administrator takes logto out of nsswitch.conf: upgrades leave it out.
sed -i -E '/^(passwd|group):/ s/ logto$//' "$R/etc/nsswitch.conf"
in_root dpkg -i "/tmp/debs/$(basename "$debdir"/libnss-logto_*.deb)" >"$work/reinstall2.out" 2>&1 ||
    { cat "$work/reinstall2.out" >&2; fail "reinstalling libnss-logto failed"; }
grep -qE '^(passwd|group):.*logto' "$R/etc/nsswitch.conf" &&
    fail "an upgrade put logto back into nsswitch.conf"
sed -i -E '/^(passwd|group):/ s/$/ logto/' "$R/etc/nsswitch.conf"
step "4 upgrades keep the PAM stack, an enabled timer and one logto entry, and respect an" \
    "administrator's removal from nsswitch.conf"

# ---------------------------------------------------------------- 5. purge
# What the test itself added goes first; what the packages and the modules made must go by purge.
rm -f "$R/etc/pam.d/logto-pkgtest" "$R/usr/local/share/logto-test-ca.pem"
in_root dpkg --purge libpam-logto libnss-logto logtoctl >"$work/purge.out" 2>&1 ||
    { cat "$work/purge.out" >&2; fail "dpkg --purge failed"; }
for p in /etc/logto /var/lib/logto /var/cache/logto "/lib/$ma/security/pam_logto.so" \
    "/lib/$ma/security/pam_logto_net.so" "/lib/$ma/libnss_logto.so.2" /usr/share/pam-configs/logto /usr/sbin/logtoctl; do
    [ ! -e "$R$p" ] || fail "$p is still there after the purge: $(ls -la "$R$p")"
done
# shellcheck disable=SC2016
in_root dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' 'libpam-logto' 'libnss-logto' \
    'logtoctl' 2>/dev/null | grep -v ' n $' | grep . && fail "dpkg still knows the packages"
cmp -s "$R/etc/nsswitch.conf" "$work/nsswitch.before" ||
    fail "nsswitch.conf after the purge: $(diff "$work/nsswitch.before" "$R/etc/nsswitch.conf")"
grep -l 'pam_logto' "$R"/etc/pam.d/* && fail "pam_logto is still in the PAM stacks"
in_root ldconfig -p | grep -q libnss_logto && fail "libnss_logto is still in ld.so.cache"
system_files >"$work/files.after"
diff "$work/files.before" "$work/files.after" >"$work/files.diff" ||
    { cat "$work/files.diff" >&2; fail "the purge left the system different from before the install"; }
step "5 dpkg --purge: state, configuration, nsswitch and PAM entries gone; system as before"

echo "ok: packages installed, signed alice in and purged in $(($(date +%s) - t0)) s"
