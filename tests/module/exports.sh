#!/bin/sh
# SPDX-License-Identifier: MIT
# The dynamic symbol tables of both modules equal their version scripts exactly; the NSS module
# needs no libcurl, OpenSSL, jansson or cjose; the PAM module is pinned in memory (NODELETE).
set -eu
fail=0
command -v nm >/dev/null && command -v readelf >/dev/null || { echo "SKIP: binutils missing"; exit 77; }

exported() { nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRW]$/ { sub(/@.*/, "", $3); print $3 }' | sort; }
declared() { sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);[[:space:]]*$/\1/p' "$1" | sort; }

check_set() {
    if ! diff -u "$2" "$1" >/dev/null; then
        echo "FAIL: $3 exports differ from its version script:"
        diff -u "$2" "$1" || true
        fail=1
    else
        echo "ok $3 exports exactly: $(tr '\n' ' ' <"$1")"
    fi
}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
exported "$LOGTO_PAM_MODULE" >"$tmp/pam.got"; declared "$top_srcdir/pam/pam_logto.sym" >"$tmp/pam.want"
exported "$LOGTO_NSS_MODULE" >"$tmp/nss.got"; declared "$top_srcdir/nss/nss_logto.sym" >"$tmp/nss.want"
check_set "$tmp/pam.got" "$tmp/pam.want" pam_logto.so
check_set "$tmp/nss.got" "$tmp/nss.want" libnss_logto.so.2
exported "$LOGTO_PAM_NET_MODULE" >"$tmp/net.got"; declared "$top_srcdir/pam/pam_logto_net.sym" >"$tmp/net.want"
check_set "$tmp/net.got" "$tmp/net.want" pam_logto_net.so

# Deciding from cached claims must not map the network stack into sudo or sshd: that half is
# loaded on demand from pam_logto_net.so.
needed=$(readelf -d "$LOGTO_PAM_MODULE" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in
*curl* | *crypto* | *ssl* | *cjose* | *qrencode*)
    echo "FAIL: pam_logto.so links $needed"; fail=1 ;;
*) echo "ok pam_logto.so needs only: $needed" ;;
esac

needed=$(readelf -d "$LOGTO_NSS_MODULE" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in
*curl* | *crypto* | *ssl* | *jansson* | *cjose* | *pam*)
    echo "FAIL: libnss_logto.so.2 links $needed"; fail=1 ;;
*) echo "ok libnss_logto.so.2 needs only: $needed" ;;
esac
soname=$(readelf -d "$LOGTO_NSS_MODULE" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libnss_logto.so.2 ] && echo "ok SONAME $soname" || { echo "FAIL: SONAME is '$soname'"; fail=1; }

if readelf -d "$LOGTO_PAM_MODULE" | grep -q 'FLAGS_1.*NODELETE'; then
    echo "ok pam_logto.so is NODELETE"
else
    echo "FAIL: pam_logto.so is not linked -z nodelete"; fail=1
fi
exit $fail
