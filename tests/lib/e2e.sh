# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# End-to-end tests with the real clients (sshd and ssh, sudo, su, pamtester, pam-auth-update):
# every test runs as root in its own private mount and PID namespace and leaves the host as it
# found it. Source after testenv.sh and idp.sh, then call `e2e_enter "$@"` first thing:
#
#   outside  need_root, fingerprint the host (e2e_host_fingerprint), re-run the script inside
#            `unshare --mount --pid --fork --mount-proc`, fingerprint again and fail if anything
#            changed or a mount leaked; the exit status is the inner script's.
#   inside   e2e_enter returns after building a private world over the host's:
#              $E2E_ROOT          a tmpfs (all test files live here and vanish with the namespace)
#              /etc               a copy of the host's /etc (edit freely: passwd, shadow,
#                                 nsswitch.conf, pam.d, ssh, sudoers, ld.so.cache, logto/)
#              /var/lib, /var/cache, /dev, the PAM module directory
#                                 a tmpfs holding bind mounts of the host's entries, so entries
#                                 can be added (/var/lib/logto, /var/cache/logto, /dev/log,
#                                 pam_logto.so) or made private (/var/lib/pam, /var/lib/sudo)
#              /run, /home, /root empty tmpfs (/run/sshd for sshd's privilege separation)
#            libnss_logto.so.2 reaches glibc through a private ld.so.cache (setuid programs
#            too), pam_logto.so sits in the PAM module directory, nsswitch.conf says
#            "passwd: files logto", logtoctl is at $E2E_SBIN/logtoctl (a root-only path, as
#            sshd's AuthorizedKeysCommand demands), and a syslog sink on /dev/log records
#            everything logged to $E2E_SYSLOG (a moment later: e2e_syslog_after waits for a line).
#
# The namespace's init is the test shell: when it exits, every process started inside (sshd,
# the test IdP, the syslog sink, a hung client) is killed by the kernel.

: "${LOGTO_PAM_MODULE:?run through make check}"
: "${LOGTO_NSS_MODULE:?run through make check}"
: "${LOGTOCTL:?run through make check}"

. "$top_srcdir/tests/lib/nss_ns.sh"

E2E_PY=${PYTHON3:-python3}
[ -x /usr/bin/python3 ] && E2E_PY=/usr/bin/python3 # never a pyenv shim inside the namespace
E2E_DIR=$top_srcdir/tests/e2e

# ---------------------------------------------------------------- the host

# Everything a test could touch by mistake: file contents, modes and owners, and the mounts.
e2e_host_fingerprint() {
    for p in /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/nsswitch.conf /etc/pam.d \
        /etc/pam.conf /etc/ssh /etc/sudoers /etc/sudoers.d /etc/sudo.conf /etc/logto \
        /etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d /etc/ld.so.preload /etc/security \
        /etc/shells /etc/skel /var/lib/logto /var/cache/logto /var/lib/pam /var/lib/sudo \
        /var/cache/ldconfig /var/cache/debconf /usr/share/pam-configs /run/sshd /run/sudo \
        /dev/log "$(e2e_securedir)"; do
        if [ -e "$p" ] || [ -L "$p" ]; then
            find "$p" -xdev -printf '%p %M %U:%G %l\n' 2>&1 | sort
            find "$p" -xdev -type f -exec sha256sum {} + 2>&1 | sort
        else
            echo "absent $p"
        fi
    done
    find /home /root -xdev -maxdepth 2 -printf '%p %M %U:%G\n' 2>&1 | sort
    # Every path a test sees through a bind mount (read-only, see e2e_shadow): owner, mode,
    # size and change time of every entry, so even a chown shows.
    find /var/lib /var/cache -xdev -printf '%p %M %U:%G %s %C@\n' 2>&1 | sort
    awk '{ print $5 }' /proc/self/mountinfo | sort
}

# The directory libpam loads modules from (where pam_unix.so is).
e2e_securedir() {
    for d in /usr/lib/x86_64-linux-gnu/security /lib/x86_64-linux-gnu/security \
        /usr/lib/*/security /lib/*/security /usr/lib64/security /lib64/security /lib/security; do
        if [ -f "$d/pam_unix.so" ]; then
            echo "$d"
            return 0
        fi
    done
    echo /lib/security
}

e2e__outer() {
    need_root
    need_cmd unshare mount sshd ssh ssh-keygen sudo su setpriv ldconfig sha256sum "$E2E_PY"
    if [ "${LOGTO_CONF_DIR:-}" != /etc/logto ] || [ "${LOGTO_STATE_DIR:-}" != /var/lib/logto ]; then
        skip "e2e tests need a build configured with --sysconfdir=/etc --localstatedir=/var" \
            "(this one uses ${LOGTO_CONF_DIR:-?} and ${LOGTO_STATE_DIR:-?})"
    fi
    if [ "${LOGTO_SANITIZE:-}" = asan ]; then
        skip "the real clients (setuid sudo and su, sshd's sessions) cannot load" \
            "ASan-instrumented modules; the build and valgrind stages run this test"
    fi
    unshare --mount --pid --fork --mount-proc true 2>/dev/null ||
        skip "cannot create mount and PID namespaces here"

    fp=$(test_tmpdir)
    e2e_host_fingerprint >"$fp/before"
    E2E_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/logto-e2e.XXXXXX") || fail "mktemp"
    chmod 0700 "$E2E_ROOT"
    at_exit "rmdir '$E2E_ROOT' 2>/dev/null"
    started=$(date +%s)

    LOGTO_E2E_INNER=1 E2E_ROOT=$E2E_ROOT unshare --mount --pid --fork --mount-proc \
        --propagation private --kill-child=SIGKILL -- /bin/sh "$0" "$@" &
    e2e__child=$! e2e__signal=
    # unshare ignores SIGTERM while it waits; SIGKILL makes the kernel kill the namespace's init
    # (--kill-child), and with it every process inside.
    for sig in INT TERM HUP; do
        # shellcheck disable=SC2064 # $sig now, the child's pid when the signal comes
        trap "e2e__signal=$sig; kill -KILL \$e2e__child 2>/dev/null" "$sig"
    done
    rc=0
    while :; do
        wait "$e2e__child" && rc=0 || rc=$?
        kill -0 "$e2e__child" 2>/dev/null || break
    done
    trap - INT TERM HUP
    [ -z "$e2e__signal" ] || { rc=1; echo "FAIL: stopped by SIG$e2e__signal" >&2; }

    e2e_host_fingerprint >"$fp/after"
    if ! diff -u "$fp/before" "$fp/after" >"$fp/diff"; then
        cat "$fp/diff" >&2
        fail "the test changed the host (see the diff above)"
    fi
    if grep -qF "$E2E_ROOT" /proc/self/mountinfo; then
        fail "a mount of $E2E_ROOT is visible on the host"
    fi
    echo "host unchanged (test took $(($(date +%s) - started)) s)"
    exit "$rc"
}

# ---------------------------------------------------------------- the private world

# e2e_shadow [--ro] DIR [NAME...]: replace DIR, in this namespace, by a tmpfs holding bind
# mounts of DIR's entries (symbolic links copied), except the NAMEs. Entries can then be added,
# removed or replaced without touching the host. With --ro the bind mounts are read-only, so
# nothing a test runs (a chown, a package script) can write through them to the host: what a
# test must change becomes a private copy first (e2e_private).
e2e_shadow() {
    ro=no
    [ "$1" = --ro ] && { ro=yes; shift; }
    d=$1
    shift
    o=$E2E_ROOT/orig$(echo "$d" | tr / _)
    mkdir -p "$o"
    mount --rbind "$d" "$o"
    [ $ro = no ] || mount -o remount,bind,ro "$o" || fail "cannot make $o read-only"
    mount -t tmpfs -o "mode=$(stat -c %a "$d")" e2e "$d"
    find "$o" -mindepth 1 -maxdepth 1 -printf '%f\n' | while IFS= read -r e; do
        case " $* " in *" $e "*) continue ;; esac
        if [ -L "$o/$e" ]; then
            cp -P "$o/$e" "$d/$e"
        elif [ -d "$o/$e" ]; then
            mkdir "$d/$e" && mount --rbind "$o/$e" "$d/$e"
        else
            : >"$d/$e" && mount --bind "$o/$e" "$d/$e"
        fi
        if [ $ro = yes ] && [ ! -L "$o/$e" ]; then
            mount -o remount,bind,ro "$d/$e" || fail "cannot make $d/$e read-only"
        fi
    done
}

# e2e_private PATH: PATH (an entry of a shadowed directory) becomes a private copy.
e2e_private() {
    umount -l "$1"
    rm -rf "$1"
    o=$E2E_ROOT/orig$(dirname "$1" | tr / _)/$(basename "$1")
    cp -a "$o" "$1"
}

e2e__setup() {

    R=$E2E_ROOT
    mount --make-rprivate /
    # 0755: users reach the NSS module copy under $R/lib (nothing secret lies here but the
    # copy of /etc, whose shadow file keeps its own mode).
    mount -t tmpfs -o mode=0755 e2e "$R"
    mkdir -m 0755 "$R/tmp" "$R/bin"
    TMPDIR=$R/tmp
    export TMPDIR

    # /etc: a private copy (this also carries files the host bind-mounts into /etc).
    cp -a /etc "$R/etc"
    mount --bind "$R/etc" /etc
    rm -f /etc/ld.so.preload
    mkdir -p /etc/logto /etc/sudoers.d
    chmod 0755 /etc/logto

    for d in /run /home; do mount -t tmpfs -o mode=0755 e2e "$d"; done
    mount -t tmpfs -o mode=0700 e2e /root
    mkdir -m 0755 /run/sshd /run/lock
    e2e_shadow --ro /var/lib
    mkdir -m 0755 /var/lib/logto
    for p in /var/lib/pam /var/lib/sudo; do [ -e "$p" ] && e2e_private "$p"; done
    e2e_shadow --ro /var/cache
    [ -d /var/cache/ldconfig ] && e2e_private /var/cache/ldconfig
    mkdir -m 0755 /var/cache/logto

    # /dev: our own pseudo-terminals (a new devpts instance: ptmx of a bind-mounted devtmpfs node
    # would look for pts/ next to the host's /dev) and our syslog sink on /dev/log.
    e2e_shadow /dev log ptmx pts
    mkdir -m 0755 /dev/pts
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 e2e /dev/pts
    ln -s pts/ptmx /dev/ptmx
    E2E_SYSLOG=$R/syslog
    : >"$E2E_SYSLOG"
    "$E2E_PY" "$E2E_DIR/syslogd.py" /dev/log "$E2E_SYSLOG" "$R/syslog.ready" &
    i=0
    while [ ! -e "$R/syslog.ready" ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "the syslog sink did not start"
        sleep 0.05
    done

    # The modules where the system looks for them, and logtoctl on a root-only path.
    sd=$(e2e_securedir)
    e2e_shadow --ro "$sd"
    cp "$LOGTO_PAM_MODULE" "$sd/pam_logto.so"
    # The network half it loads on demand, from its own directory (common/net.h).
    cp "$(dirname "$LOGTO_PAM_MODULE")/pam_logto_net.so" "$sd/pam_logto_net.so"
    chmod 0644 "$sd/pam_logto.so" "$sd/pam_logto_net.so"
    nss_ns_use_module "$R" "$LOGTO_NSS_MODULE"
    # The README's command (idempotent): logto after whatever the host lists.
    sed -i -E '/^(passwd|group):/{/[[:space:]]logto([[:space:]]|$)/!s/$/ logto/}' /etc/nsswitch.conf
    grep -qE '^passwd:.* logto' /etc/nsswitch.conf || fail "nsswitch.conf has no passwd line"
    E2E_SBIN=/run/logto-e2e/sbin # no world-writable directory above it (sshd checks)
    mkdir -p "$E2E_SBIN"
    cp "$LOGTOCTL" "$E2E_SBIN/logtoctl"
    chmod 0755 "$E2E_SBIN/logtoctl"
    export E2E_ROOT E2E_SYSLOG E2E_SBIN
    PATH=$R/bin:$PATH
    export PATH
    e2e__helpers
    # A failure shows what sshd and syslog saw last (the namespace and its files vanish).
    fail() {
        echo "FAIL: $*" >&2
        for f in "${E2E_SSHD_LOG:-}" "$E2E_SYSLOG"; do
            [ -s "$f" ] || continue
            echo "---- last lines of $f" >&2
            tail -n 30 "$f" >&2
        done
        exit 1
    }
}

# Small commands for pty scripts (`run` steps cannot call shell functions).
e2e__helpers() {
    cat >"$R/bin/idp-approve" <<'EOF'
#!/bin/sh
# idp-approve CODE USER: USER approves the device code CODE in the browser.
exec curl -sS --fail-with-body --max-time 60 -o /dev/null -H 'Content-Type: application/json' \
    --data-binary "{\"user_code\":\"$1\",\"username\":\"$2\"}" "$IDP_CONTROL/device/approve"
EOF
    cat >"$R/bin/idp-ctl" <<'EOF'
#!/bin/sh
# idp-ctl METHOD PATH [JSON]: a control API call (tests/lib/idp.sh idp_ctl), quiet on success.
if [ $# -ge 3 ]; then
    exec curl -sS --fail-with-body --max-time 60 -o /dev/null -X "$1" \
        -H 'Content-Type: application/json' --data-binary "$3" "$IDP_CONTROL$2"
fi
exec curl -sS --fail-with-body --max-time 60 -o /dev/null -X "$1" "$IDP_CONTROL$2"
EOF
    chmod 0755 "$R/bin/idp-approve" "$R/bin/idp-ctl"
}

e2e_enter() {
    if [ "${LOGTO_E2E_INNER:-}" != 1 ]; then
        e2e__outer "$@"
        exit 1 # not reached
    fi
    e2e__setup
}

# ---------------------------------------------------------------- configuration

# e2e_idp_start [idp_start options]: the test IdP, inside the namespace, and its CA where the
# configuration names it.
e2e_idp_start() {
    idp_start "$@" || exit $?
    cp "$IDP_CA" /etc/logto/ca.pem
    chmod 0644 /etc/logto/ca.pem
    printf 'm2m-secret\n' >/etc/logto/m2m.secret
    chmod 0600 /etc/logto/m2m.secret
}

# e2e_config [INI text]: /etc/logto/logto.conf for the running test IdP (default paths, sync
# credentials, fast polling), followed by the given sections (without a [service] section:
# [service *] allow_any_user = yes, see write_config). Under $LOGTO_TEST_WRAPPER
# (valgrind runs logtoctl) TLS handshakes take seconds: long network timeouts then.
e2e_config() {
    if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        t_connect=60s t_total=120s
    else
        t_connect=2s t_total=10s
    fi
    cat >/etc/logto/logto.conf <<EOF
# written by tests/lib/e2e.sh
[logto]
endpoint = $IDP_URL
client_id = device-app
password_client_id = native-app
ca_file = /etc/logto/ca.pem
poll_interval = 1
connect_timeout = $t_connect
timeout = $t_total

[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = /etc/logto/m2m.secret
request_interval = 0

${1:-}
$(test_open_services "${1:-}")
EOF
    chmod 0644 /etc/logto/logto.conf # no secret in it (README: logto.conf is 0644)
}

# e2e_pam_example NAME [SERVICE]: install the shipped etc/pam.d/NAME as /etc/pam.d/SERVICE.
e2e_pam_example() {
    src=${E2E_PAM_EXAMPLES:-$top_srcdir/etc/pam.d}/$1
    [ -f "$src" ] || fail "etc/pam.d/$1 is not in the tree"
    cp "$src" "/etc/pam.d/${2:-$1}"
    chmod 0644 "/etc/pam.d/${2:-$1}"
}

# e2e_pam_auth_update PROFILE...: run pam-auth-update as a package's maintainer script does, with
# the shipped etc/pam-configs/logto installed among the system's profiles, enabling PROFILE...
# (e.g. logto mkhomedir). It rewrites this namespace's /etc/pam.d/common-*.
e2e_pam_auth_update() {
    src=${E2E_PAM_CONFIGS:-$top_srcdir/etc/pam-configs}/logto
    [ -f "$src" ] || fail "etc/pam-configs/logto is not in the tree"
    if [ -z "${E2E__PAM_CONFIGS:-}" ]; then
        e2e_shadow /usr/share/pam-configs
        # pam-auth-update talks to debconf, which writes its database.
        [ -d /var/cache/debconf ] && e2e_private /var/cache/debconf
        E2E__PAM_CONFIGS=1
    fi
    install -m 0644 "$src" /usr/share/pam-configs/logto
    DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable "$@" \
        >"$R/pam-auth-update.out" 2>&1 ||
        { cat "$R/pam-auth-update.out" >&2; fail "pam-auth-update --enable $*"; }
}

# e2e_local_user NAME PASSWORD UID: a local account (passwd, shadow, group, home).
e2e_local_user() {
    printf '%s:x:%s:%s:e2e local user:/home/%s:/bin/sh\n' "$1" "$3" "$3" "$1" >>/etc/passwd
    printf '%s:x:%s:\n' "$1" "$3" >>/etc/group
    printf '%s:%s:19000:0:99999:7:::\n' "$1" "$(openssl passwd -6 "$2")" >>/etc/shadow
    [ -f /etc/gshadow ] && printf '%s:!::\n' "$1" >>/etc/gshadow
    mkdir -m 0700 "/home/$1"
    chown "$3:$3" "/home/$1"
}

# e2e_as USER COMMAND...: run COMMAND as USER (resolved through NSS), with USER's groups.
e2e_as() {
    u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --reset-env -- "$@"
}

# e2e_sync: `logtoctl sync` as the timer would run it.
e2e_sync() {
    wrap "$LOGTOCTL" sync >"$R/sync.out" 2>&1 || { cat "$R/sync.out" >&2; fail "logtoctl sync failed"; }
}

# e2e_free_port: a TCP port on 127.0.0.1 nobody listens on right now.
e2e_free_port() {
    "$E2E_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- sshd and ssh

# e2e_sshd_start [sshd_config lines]: OpenSSH's sshd on 127.0.0.1 (E2E_SSH_PORT) with a
# throw-away host key. The given lines come first (the first value of a keyword wins), then the
# shipped drop-in etc/ssh/sshd_config.d-logto.conf with logtoctl's path made ours.
e2e_sshd_start() {
    d=$R/sshd
    mkdir -p "$d"
    [ -f "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C e2e-host -f "$d/host_ed25519"
    tries=0
    while :; do
        E2E_SSH_PORT=$(e2e_free_port)
        {
            printf '%s\n' "# written by tests/lib/e2e.sh"
            [ -n "${1:-}" ] && printf '%s\n' "$1"
            printf '%s\n' "Port $E2E_SSH_PORT" \
                "ListenAddress 127.0.0.1" "HostKey $d/host_ed25519" "PidFile $d/sshd.pid" \
                "LogLevel VERBOSE" "PrintMotd no" "PrintLastLog no" "PermitRootLogin no" \
                "UseDNS no" "MaxStartups 50"
            sed "s|/usr/sbin/logtoctl|$E2E_SBIN/logtoctl|g" "$top_srcdir/etc/ssh/sshd_config.d-logto.conf"
        } >"$d/sshd_config"
        /usr/sbin/sshd -t -f "$d/sshd_config" || fail "sshd rejects its configuration"
        : >"$d/sshd.log"
        /usr/sbin/sshd -D -e -f "$d/sshd_config" >>"$d/sshd.log" 2>&1 &
        E2E_SSHD_PID=$!
        i=0
        while ! grep -q "Server listening on 127.0.0.1 port $E2E_SSH_PORT" "$d/sshd.log"; do
            if ! kill -0 "$E2E_SSHD_PID" 2>/dev/null; then break; fi
            i=$((i + 1))
            [ $i -lt 200 ] || { cat "$d/sshd.log" >&2; fail "sshd did not start"; }
            sleep 0.05
        done
        kill -0 "$E2E_SSHD_PID" 2>/dev/null && break
        tries=$((tries + 1))
        [ $tries -lt 5 ] || { cat "$d/sshd.log" >&2; fail "sshd did not start"; }
    done
    E2E_SSHD_LOG=$d/sshd.log
    export E2E_SSH_PORT E2E_SSHD_LOG
}

e2e_sshd_stop() {
    if [ -n "${E2E_SSHD_PID:-}" ]; then
        kill "$E2E_SSHD_PID" 2>/dev/null
        wait "$E2E_SSHD_PID" 2>/dev/null
        E2E_SSHD_PID=
    fi
}

# e2e_ssh_cmd METHOD USER [ssh options...]: the ssh command line (root's ~/.ssh is a tmpfs).
e2e_ssh_cmd() {
    m=$1 u=$2
    shift 2
    echo ssh -F /dev/null -p "$E2E_SSH_PORT" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
        -o PreferredAuthentications="$m" -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 \
        -o ServerAliveInterval=5 "$@" "$u@127.0.0.1"
}

# e2e_pty SCRIPT LOG COMMAND...: drive COMMAND through a pseudo-terminal (tests/e2e/ptydrive.py).
e2e_pty() {
    s=$1 l=$2
    shift 2
    t=${E2E_TIMEOUT:-30}
    [ -z "${LOGTO_TEST_WRAPPER:-}" ] || t=$((t * 3))
    "$E2E_PY" "$E2E_DIR/ptydrive.py" --timeout "$t" --log "$l" "$s" -- "$@"
}

# e2e_assert_no_secrets SECRET...: none of them, and no refresh token of any token record, in
# syslog, sshd's log or the test's *.log / *.out files (pty transcripts, command output).
e2e_assert_no_secrets() {
    for f in /var/lib/logto/tokens/*.json; do
        [ -f "$f" ] || continue
        # shellcheck disable=SC2046 # one word per token
        set -- "$@" $(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$f")
    done
    # shellcheck disable=SC2046
    assert_no_secrets "$E2E_SYSLOG" $(find "$R" \( -path "$R/orig_*" -o -path "$R/tmp" \) -prune -o \
        \( -name '*.log' -o -name '*.out' \) -type f -print) -- "$@"
}

# e2e_id_norm TEXT: the first `id` line in TEXT as "uid=.. gid=.. groups=.." with the groups
# sorted (a process lists its groups in the kernel's order, `id USER` in initgroups' order).
e2e_id_norm() {
    printf '%s\n' "$1" | tr -d '\r' | grep -m1 -o 'uid=[^ ]* gid=[^ ]* groups=[^ ]*' | {
        read -r u g gr || return 1
        printf '%s %s groups=%s\n' "$u" "$g" "$(echo "${gr#groups=}" | tr , '\n' | sort | paste -sd, -)"
    }
}

# e2e_syslog_after N PATTERN: the first line after line N of $E2E_SYSLOG that matches the
# extended regular expression PATTERN. The sink writes what it receives a moment later, so this
# waits for it (5 s at most, then fails).
e2e_syslog_after() {
    e2e_n=0
    while [ $e2e_n -lt 50 ]; do
        tail -n +$(($1 + 1)) "$E2E_SYSLOG" | grep -m1 -E "$2" && return 0
        sleep 0.1
        e2e_n=$((e2e_n + 1))
    done
    return 1
}
