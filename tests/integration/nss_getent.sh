#!/bin/sh
# SPDX-License-Identifier: MIT
# getent, id and ls against the built libnss_logto.so.2, in two layers:
#  (a) unprivileged, through nss_wrapper (the module is loaded by nss_wrapper, local accounts
#      come from fixture files);
#  (b) as root inside `unshare --mount`: glibc itself loads the module (a private ld.so.cache
#      bind-mounted over /etc/ld.so.cache), nsswitch.conf says "files logto", and the snapshot
#      is bind-mounted at the module's compiled-in directory. The host is checked to be
#      unchanged afterwards.
# Layer (b) needs root and unshare; without them the test reports SKIP (77) after (a).
set -eu
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/nss_ns.sh"

: "${LOGTO_NSS_MODULE:?run through make check}"
MKSNAPSHOT=$top_builddir/tests/lib/mksnapshot
DATA=$top_srcdir/tests/data/nss
failures=0

check() { # NAME WANT COMMAND...: the command's output (stdout and stderr) must equal WANT
    name=$1 want=$2
    shift 2
    got=$("$@" 2>&1) && rc=0 || rc=$?
    if [ "$got" = "$want" ] && [ $rc = 0 ]; then
        echo "ok $name"
    else
        echo "FAIL $name (exit $rc)"
        echo "  got:  $(printf '%s' "$got" | sed '2,$s/^/        /')"
        echo "  want: $(printf '%s' "$want" | sed '2,$s/^/        /')"
        failures=$((failures + 1))
    fi
}

check_rc() { # NAME RC COMMAND...: the command must exit RC (getent: 2 = not found)
    name=$1 want=$2
    shift 2
    "$@" >/dev/null 2>&1 && rc=0 || rc=$?
    if [ "$rc" = "$want" ]; then echo "ok $name"; else
        echo "FAIL $name: exit $rc, want $want"
        failures=$((failures + 1))
    fi
}

LOGTO_USERS='alice:*:10001:10001:Alice Liddell:/home/alice:/bin/bash
bob:*:10002:10002:Bob (suspended):/home/bob:/bin/sh
carol:*:10003:10003::/home/carol:/bin/bash'
LOGTO_GROUPS='alice:*:10001:
bob:*:10002:
carol:*:10003:
developers:*:20001:alice,bob
org-acme:*:20002:alice,carol
acme_admin:*:20003:carol'

# The checks both layers share. $1 is the local passwd file (its names come first).
common_checks() {
    local_passwd=$1 local_group=$2
    check "getent passwd alice" "$(echo "$LOGTO_USERS" | sed -n 1p)" wrap getent passwd alice
    check "getent passwd by UID" "$(echo "$LOGTO_USERS" | sed -n 1p)" wrap getent passwd 10001
    check "suspended users resolve" "$(echo "$LOGTO_USERS" | sed -n 2p)" wrap getent passwd bob
    check "getent group developers" "developers:*:20001:alice,bob" wrap getent group developers
    check "getent group by GID" "acme_admin:*:20003:carol" wrap getent group 20003
    check "private group" "carol:*:10003:" wrap getent group carol
    check "id alice" "uid=10001(alice) gid=10001(alice) groups=10001(alice),20001(developers),20002(org-acme)" \
        wrap id alice
    check "id carol" "uid=10003(carol) gid=10003(carol) groups=10003(carol),20002(org-acme),20003(acme_admin)" \
        wrap id carol
    check_rc "unknown user" 2 wrap getent passwd mallory
    check_rc "invalid name" 2 wrap getent passwd 'Alice:x'
    check_rc "unknown UID" 2 wrap getent passwd 10009
    # Local accounts win, and drop_local kept the Logto "daemon" and "adm" out of the snapshot.
    check "local daemon" "$(grep '^daemon:' "$local_passwd")" wrap getent passwd daemon
    check_rc "Logto daemon dropped" 2 wrap getent passwd 10050
    check "local adm" "$(grep '^adm:' "$local_group")" wrap getent group adm
    check_rc "Logto adm dropped" 2 wrap getent group 20009
    # Enumeration: local entries first, then ours in UID/GID order.
    # The filters run without LD_PRELOAD: in the ASan build LeakSanitizer would report leaks of
    # tail itself (to a stderr it has closed) and fail the pipeline.
    check "getent passwd" "$(grep -v '^#' "$local_passwd" | cut -d: -f1; echo "$LOGTO_USERS" | cut -d: -f1)" \
        sh -c 'getent passwd | env -u LD_PRELOAD cut -d: -f1'
    check "getent passwd (ours)" "$LOGTO_USERS" sh -c 'getent passwd | env -u LD_PRELOAD tail -n 3'
    check "getent group (ours)" "$LOGTO_GROUPS" sh -c 'getent group | env -u LD_PRELOAD tail -n 6'
}

# ---------------------------------------------------------------- (a) nss_wrapper
layer_a() {
    # shellcheck disable=SC2086
    NSS_WRAPPER_LIB=$(echo ${NSS_WRAPPER_LIB:-}) # pkg-config leaves a trailing blank
    if [ -z "$NSS_WRAPPER_LIB" ] || [ ! -e "$NSS_WRAPPER_LIB" ]; then
        echo "SKIP (a): nss_wrapper is not installed"
        return 1
    fi
    tmp=$(test_tmpdir)
    mkdir -m 0755 "$tmp/state"
    "$MKSNAPSHOT" --local "$DATA/passwd" "$DATA/group" "$DATA/directory.txt" \
        "$tmp/state/directory.snapshot" 2>"$tmp/mksnapshot.log"
    # (daemon and adm are system names too: dropped whatever the local files say)
    check "drop_local logged" "mksnapshot: directory-skip-local name=daemon reason=system-name
mksnapshot: directory-skip-local name=adm reason=system-name
mksnapshot: directory-skip-local name=daemon reason=system-name" cat "$tmp/mksnapshot.log"

    LD_PRELOAD=$(module_preload "$NSS_WRAPPER_LIB")
    NSS_WRAPPER_PASSWD=$DATA/passwd NSS_WRAPPER_GROUP=$DATA/group
    NSS_WRAPPER_MODULE_SO_PATH=$LOGTO_NSS_MODULE NSS_WRAPPER_MODULE_FN_PREFIX=logto
    LOGTO_NSS_SNAPSHOT=$tmp/state/directory.snapshot
    export LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP NSS_WRAPPER_MODULE_SO_PATH \
        NSS_WRAPPER_MODULE_FN_PREFIX LOGTO_NSS_SNAPSHOT
    echo "# (a) nss_wrapper"
    common_checks "$DATA/passwd" "$DATA/group"
    # Replaced under a running system: the next process sees the new file.
    sed 's/Alice Liddell/Alice Pleasance Liddell/' "$DATA/directory.txt" >"$tmp/next.txt"
    "$MKSNAPSHOT" "$tmp/next.txt" "$tmp/state/directory.snapshot"
    check "replaced snapshot" "alice:*:10001:10001:Alice Pleasance Liddell:/home/alice:/bin/bash" \
        wrap getent passwd alice
    # [sync] enumerate = no (the snapshot's flag): the lists hold only local entries, lookups
    # by name and ID still answer.
    { cat "$tmp/next.txt"; echo enumerate:no; } >"$tmp/noenum.txt"
    "$MKSNAPSHOT" "$tmp/noenum.txt" "$tmp/state/directory.snapshot"
    check "enumerate=no: getent passwd" "$(grep -v '^#' "$DATA/passwd" | cut -d: -f1)" \
        sh -c 'getent passwd | env -u LD_PRELOAD cut -d: -f1'
    check "enumerate=no: getent group" "$(grep -v '^#' "$DATA/group" | cut -d: -f1)" \
        sh -c 'getent group | env -u LD_PRELOAD cut -d: -f1'
    check "enumerate=no: getent passwd alice" \
        "alice:*:10001:10001:Alice Pleasance Liddell:/home/alice:/bin/bash" wrap getent passwd alice
    check "enumerate=no: by UID" "$(echo "$LOGTO_USERS" | sed -n 3p)" wrap getent passwd 10003
    check "enumerate=no: getent group developers" "developers:*:20001:alice,bob" \
        wrap getent group developers
    # Not an absolute path: the override is refused (the module is unavailable), locals resolve.
    check_rc "relative LOGTO_NSS_SNAPSHOT" 2 env LOGTO_NSS_SNAPSHOT=directory.snapshot getent passwd alice
    check "relative override, local user" "$(grep '^root:' "$DATA/passwd")" \
        env LOGTO_NSS_SNAPSHOT=directory.snapshot getent passwd root
    # Missing: local accounts still resolve, ours do not.
    rm "$tmp/state/directory.snapshot"
    check "local user without snapshot" "$(grep '^root:' "$DATA/passwd")" wrap getent passwd root
    check_rc "no snapshot" 2 wrap getent passwd alice
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP NSS_WRAPPER_MODULE_SO_PATH \
        NSS_WRAPPER_MODULE_FN_PREFIX LOGTO_NSS_SNAPSHOT
    return 0
}

# ---------------------------------------------------------------- (b) glibc, as root
inside_namespace() { # runs in the private mount namespace; $1 = temp dir prepared outside
    tmp=$1
    mount --make-rprivate /
    nss_ns_use_module "$tmp" "$LOGTO_NSS_MODULE"
    nss_ns_nsswitch "$tmp" "passwd: files logto" "group: files logto" "shadow: files"
    unset LOGTO_NSS_SNAPSHOT
    # In the ASan build glibc's dlopen of the module needs the sanitizer runtime loaded first.
    if [ "${LOGTO_SANITIZE:-}" = asan ]; then
        LD_PRELOAD=$(module_preload)
        export LD_PRELOAD
    fi
    nss_ns_bind_dir "$tmp/state" "$(dirname "$("$MKSNAPSHOT" --default-path)")"

    echo "# (b) glibc in a private mount namespace"
    check "getent passwd root" "$(grep '^root:' /etc/passwd)" getent passwd root
    common_checks /etc/passwd /etc/group
    check "id bob (suspended)" "uid=10002(bob) gid=10002(bob) groups=10002(bob),20001(developers)" \
        wrap id bob
    touch "$tmp/owned"
    chown 10001:20001 "$tmp/owned"
    check "ls -l shows names" "alice developers" sh -c "ls -l '$tmp/owned' | env -u LD_PRELOAD awk '{print \$3, \$4}'"

    # The snapshot was checked against this host's passwd and group files (mksnapshot --local,
    # as sync does), and records their fingerprint: while they are unchanged a fresh process
    # reads neither for the module's guard (nss_files opens /etc/passwd once for "files"; a
    # passwd lookup never needs /etc/group). Then a local user and a local group appear, named
    # and numbered like Logto's carol and developers: the fingerprint no longer matches, the
    # module reads the files, and hides carol by UID and in the listing, and developers by GID,
    # in the listing and in alice's groups (otherwise alice would be a member of the local group).
    if [ "$(cat "$tmp/local-files")" = 0 ]; then
        echo "ok # SKIP no fingerprint: /etc/passwd or /etc/group changed in the 2 s before mksnapshot"
    elif ! strace -f -qq -o /dev/null true 2>/dev/null; then
        echo "ok # SKIP strace cannot trace here"
    else
        strace -f -qq -e trace=open,openat -o "$tmp/strace.same" getent passwd alice >/dev/null
        check "unchanged files: /etc/group not opened" 0 sh -c "grep -c '\"/etc/group\"' '$tmp/strace.same' || true"
        check "unchanged files: /etc/passwd opened by nss_files only" 1 \
            sh -c "grep -c '\"/etc/passwd\"' '$tmp/strace.same' || true"
    fi
    cp /etc/passwd "$tmp/passwd.added"
    echo 'carol:x:1501:1501::/home/carol-local:/bin/sh' >>"$tmp/passwd.added"
    cp /etc/group "$tmp/group.added"
    echo 'localdev:x:20001:' >>"$tmp/group.added"
    mount --bind "$tmp/passwd.added" /etc/passwd
    mount --bind "$tmp/group.added" /etc/group
    if strace -f -qq -o /dev/null true 2>/dev/null; then
        strace -f -qq -e trace=open,openat -o "$tmp/strace.added" getent passwd alice >/dev/null
        check "changed files: the guard reads /etc/group" 1 sh -c "grep -c '\"/etc/group\"' '$tmp/strace.added' || true"
    fi
    check "local carol by name" "carol:x:1501:1501::/home/carol-local:/bin/sh" getent passwd carol
    check_rc "Logto carol hidden by UID" 2 getent passwd 10003
    check "Logto carol not listed" 0 sh -c 'getent passwd | grep -c ":10003:" || true'
    check "GID 20001 is the local group" "localdev:x:20001:" getent group 20001
    check_rc "Logto developers hidden by name" 2 getent group developers
    check "Logto developers not listed" 0 sh -c 'getent group | grep -c "^developers:" || true'
    check "alice's groups without the local GID" "uid=10001(alice) gid=10001(alice) groups=10001(alice),20002(org-acme)" \
        wrap id alice
    umount /etc/group
    umount /etc/passwd

    # Without drop_local a Logto "daemon" is in the snapshot (as when a local account appears
    # after the snapshot was written): "files" wins by name, and the module's guard hides the
    # Logto entry by UID and in listings too (issue 12.7), until the next writer drops it.
    mkdir -m 0755 "$tmp/state2"
    "$MKSNAPSHOT" "$DATA/directory.txt" "$tmp/state2/directory.snapshot"
    mount --bind "$tmp/state2" "$(dirname "$("$MKSNAPSHOT" --default-path)")"
    check "files wins by name" "$(grep '^daemon:' /etc/passwd)" getent passwd daemon
    check_rc "undropped entry hidden by UID" 2 getent passwd 10050
    check "undropped entry not listed" "1" sh -c 'getent passwd | grep -c "^daemon:"'
    check_rc "undropped group hidden by GID" 2 getent group 20009
    # A local account created now with alice's name: hidden at once (a new process reads the
    # local files afresh; a long-running one re-checks them at most once a second), by UID too.
    check "alice before" "$(echo "$LOGTO_USERS" | sed -n 1p)" getent passwd 10001
    # (on a private copy bind-mounted over /etc/passwd in this namespace: the host's stays)
    cp /etc/passwd "$tmp/passwd.local"
    echo 'alice:x:1500:1500::/home/alice-local:/bin/sh' >>"$tmp/passwd.local"
    mount --bind "$tmp/passwd.local" /etc/passwd
    check_rc "alice now local: Logto alice hidden by UID" 2 getent passwd 10001
    check "alice now local: by name the local one" "alice:x:1500:1500::/home/alice-local:/bin/sh" \
        getent passwd alice
    [ "$failures" = 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside_namespace "$2"
    exit $?
fi

layer_a && ran_a=1 || ran_a=0
[ "$failures" = 0 ] || fail "$failures check(s) failed in layer (a)"

if [ "$(id -u)" != 0 ]; then
    skip "layer (b) needs root (layer (a) ran: $ran_a)"
fi
need_cmd unshare ldconfig mountpoint
statedir=$(dirname "$("$MKSNAPSHOT" --default-path)")
[ -d "$(dirname "$statedir")" ] || skip "the module's state directory $statedir has no parent here (configure --localstatedir=/var)"

tmp=$(test_tmpdir)
mkdir -m 0755 "$tmp/state"
"$MKSNAPSHOT" --local /etc/passwd /etc/group "$DATA/directory.txt" "$tmp/state/directory.snapshot" \
    2>/dev/null
"$MKSNAPSHOT" --local-files "$tmp/state/directory.snapshot" >"$tmp/local-files"
before=$(nss_ns_host_fingerprint)
unshare --mount -- sh "$0" --inside "$tmp" || failures=$((failures + 1))
after=$(nss_ns_host_fingerprint)
if [ "$before" = "$after" ]; then
    echo "ok host unchanged"
else
    echo "FAIL the host changed:"
    diff "$(printf '%s' "$before" >"$tmp/before"; echo "$tmp/before")" \
        "$(printf '%s' "$after" >"$tmp/after"; echo "$tmp/after")" || true
    failures=$((failures + 1))
fi
if grep -q "$tmp" /proc/self/mountinfo; then
    echo "FAIL a mount of $tmp is visible on the host"
    failures=$((failures + 1))
fi
[ "$failures" = 0 ] || fail "$failures check(s) failed"
[ "$ran_a" = 1 ] || skip "layer (a) could not run (nss_wrapper missing); layer (b) passed"
echo "all passed"
