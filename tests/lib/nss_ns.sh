# SPDX-License-Identifier: MIT
# Helpers for running glibc's NSS against the built libnss_logto.so.2 inside a private mount
# namespace (root): sourced by tests/integration/nss_getent.sh and bench/nss-bench.sh, and only
# ever called after `unshare --mount` and `mount --make-rprivate /`. Nothing here touches the
# host: every change is a mount that dies with the namespace.

# nss_ns_use_module TMP MODULE
# glibc loads NSS modules with dlopen("libnss_logto.so.2"), which looks in /etc/ld.so.cache.
# Build a private cache that also lists TMP/lib (holding a copy of MODULE) and bind-mount it
# over /etc/ld.so.cache. No file is created in the system library directories, and setuid
# programs find the module too (unlike LD_LIBRARY_PATH).
nss_ns_use_module() {
    mkdir -p "$1/lib"
    cp "$2" "$1/lib/libnss_logto.so.2"
    chmod 0644 "$1/lib/libnss_logto.so.2"
    printf '%s\ninclude /etc/ld.so.conf.d/*.conf\n' "$1/lib" >"$1/ld.so.conf"
    # ldconfig rewrites /var/cache/ldconfig/aux-cache even with -i: give it a private one.
    if [ -d /var/cache/ldconfig ]; then
        mount -t tmpfs -o mode=0700 tmpfs /var/cache/ldconfig
    fi
    ldconfig -i -X -C "$1/ld.so.cache" -f "$1/ld.so.conf"
    mount --bind "$1/ld.so.cache" /etc/ld.so.cache
    # A running nscd would answer from the host's view: hide its socket.
    for d in /run/nscd /var/run/nscd; do
        if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
    done
}

# nss_ns_nsswitch TMP "passwd: files logto" "group: files logto" ...
nss_ns_nsswitch() {
    tmp=$1
    shift
    printf '%s\n' "$@" >"$tmp/nsswitch.conf"
    mount --bind "$tmp/nsswitch.conf" /etc/nsswitch.conf
}

# nss_ns_bind_dir SRC DEST
# Bind SRC at DEST. When DEST does not exist (no /var/lib/logto on this host), a tmpfs over its
# parent makes room for it; the parent's other entries are then hidden in this namespace.
nss_ns_bind_dir() {
    if [ ! -d "$2" ]; then
        parent=$(dirname "$2")
        [ -d "$parent" ] || return 1
        mount -t tmpfs -o mode=0755 tmpfs "$parent"
        mkdir -m 0755 "$2"
    fi
    mount --bind "$1" "$2"
}

# nss_ns_host_fingerprint: what must be identical on the host before and after a test.
nss_ns_host_fingerprint() {
    for f in /etc/nsswitch.conf /etc/ld.so.cache /var/cache/ldconfig/aux-cache /etc/passwd \
        /etc/group; do
        if [ -e "$f" ]; then sha256sum "$f"; else echo "absent $f"; fi
    done
    for d in /var/lib/logto /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib; do
        if [ -d "$d" ]; then
            echo "$d: $(ls -A "$d" | grep -c nss_logto || true) nss_logto file(s)"
        else
            echo "absent $d"
        fi
    done
    ls -la /var/lib/logto 2>/dev/null || true
    for m in /var/lib /var/lib/logto /var/cache/ldconfig /etc/nsswitch.conf /etc/ld.so.cache; do
        if mountpoint -q "$m" 2>/dev/null; then echo "mountpoint $m"; fi
    done
}
