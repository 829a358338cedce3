# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Start / stop / drive the test IdP (tests/idp, see tests/idp/README.md) from shell tests.
# Source it:  . "$top_srcdir/tests/lib/idp.sh"
#
#   idp_start [--profile logto|generic] [--fixtures FILE] [other server.js options...]
#       Makes a temp dir, a fresh CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost),
#       starts the server and waits (at most 20 s) until it is ready. Exports
#       IDP_URL IDP_ISSUER IDP_CA IDP_CONTROL IDP_PID IDP_DIR IDP_PROFILE IDP_LOG.
#       Returns 77 (automake SKIP) when node, openssl, curl or tests/idp/node_modules is missing.
#   idp_stop
#       Stops the server (TERM, then KILL after 5 s), reaps it, removes IDP_DIR. Idempotent.
#   idp_ctl METHOD PATH [JSON]
#       Calls the control API; prints the response body; non-zero when the HTTP status >= 400.
#   server_wait PID TRIES CMD [ARGS...] / server_stop PID
#       Wait for a server we started (CMD: its readiness check, every 0.1 s) / stop it. Shared
#       with tests/lib/glewlwyd.sh; here, not in testenv.sh, because this file also serves
#       without it (bench/, tools/demo, tests/idp/test/idp-sh.test.js).
#   idp_json_field JSON KEY
#       Prints the value of the first "KEY" member in JSON (a string without quotes, or the
#       raw number/boolean/null). Meant for the flat objects the control API returns.
#
# Cleanup: when tests/lib/testenv.sh was sourced first, idp_stop is registered with its
# at_exit list. Otherwise idp_start installs `trap idp_stop EXIT` (plus HUP/INT/TERM), which
# replaces an EXIT trap the caller had; a caller with its own EXIT trap must call idp_stop
# from it (idp_stop may run any number of times). Should the shell die without running any
# trap (SIGKILL, SIGPIPE), the server notices (--watch-pid) and stops within a second; only
# IDP_DIR is left behind then.

IDP_PID=${IDP_PID:-}
IDP_DIR=${IDP_DIR:-}

idp__say() { echo "idp.sh: $*" >&2; }

idp__srcdir() {
    if [ -n "${top_srcdir:-}" ] && [ -f "$top_srcdir/tests/idp/server.js" ]; then
        (cd "$top_srcdir/tests/idp" && pwd)
        return 0
    fi
    # The path of this file: bash knows it; POSIX sh does not, so also try the usual spots
    # relative to the calling script (tests/<kind>/x.sh) and to the working directory.
    for idp__c in ${BASH_SOURCE:+"$(dirname "${BASH_SOURCE:-}")/../idp"} \
        "$(dirname "$0")/../idp" "$(dirname "$0")/../../tests/idp" tests/idp ../idp idp; do
        if [ -f "$idp__c/server.js" ]; then
            (cd "$idp__c" && pwd)
            return 0
        fi
    done
    return 1
}

idp__json_field() { # JSON KEY -- value after the first "KEY": (string unquoted, else the raw token)
    printf '%s\n' "$1" | awk -v k="\"$2\"" '{
        i = index($0, k); if (i == 0) next
        s = substr($0, i + length(k)); sub(/^[ \t]*:[ \t]*/, "", s)
        if (substr(s, 1, 1) == "\"") { s = substr(s, 2); sub(/".*/, "", s) } else { sub(/[,}\]].*/, "", s) }
        print s; exit
    }'
}

idp_json_field() { idp__json_field "$@"; }

# server_wait PID TRIES CMD [ARGS...]: run CMD every 0.1 s until it succeeds, at most TRIES
# times, while PID lives. 0: ready; 1: PID exited first; 2: not ready after TRIES checks.
server_wait() {
    srv__pid=$1
    srv__max=$2
    shift 2
    srv__i=0
    until "$@"; do
        kill -0 "$srv__pid" 2>/dev/null || return 1
        srv__i=$((srv__i + 1))
        [ "$srv__i" -lt "$srv__max" ] || return 2
        sleep 0.1
    done
    return 0
}

# server_stop PID: TERM, KILL when it is still there after 5 s, then reap it.
server_stop() {
    if kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || :
        srv__i=0
        while kill -0 "$1" 2>/dev/null && [ "$srv__i" -lt 50 ]; do
            sleep 0.1
            srv__i=$((srv__i + 1))
        done
        kill -KILL "$1" 2>/dev/null || :
    fi
    wait "$1" 2>/dev/null || :
}

idp__make_certs() { # DIR
    d=$1
    cat >"$d/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
    cat >"$d/ca.ext" <<'EOF'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null &&
        openssl req -new -key "$d/ca.key" -subj "/CN=nss-pam-logto test CA $$" -out "$d/ca.csr" 2>/dev/null &&
        openssl x509 -req -in "$d/ca.csr" -signkey "$d/ca.key" -days 2 -sha256 \
            -extfile "$d/ca.ext" -out "$d/ca.pem" 2>/dev/null &&
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/server.key" 2>/dev/null &&
        openssl req -new -key "$d/server.key" -subj "/CN=127.0.0.1" -out "$d/server.csr" 2>/dev/null &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 -sha256 \
            -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null &&
        chmod 0644 "$d/ca.pem" "$d/server.pem" && chmod 0600 "$d/ca.key" "$d/server.key"
}

idp_start() {
    if [ -n "$IDP_PID" ] && kill -0 "$IDP_PID" 2>/dev/null; then
        idp__say "already running (pid $IDP_PID)"
        return 1
    fi
    idp__profile=logto
    idp__fixtures=
    idp__n=$#
    while [ "$idp__n" -gt 0 ]; do
        idp__a=$1
        shift
        idp__n=$((idp__n - 1))
        case "$idp__a" in
        --profile) idp__profile=$1; shift; idp__n=$((idp__n - 1)) ;;
        --profile=*) idp__profile=${idp__a#--profile=} ;;
        --fixtures) idp__fixtures=$1; shift; idp__n=$((idp__n - 1)) ;;
        --fixtures=*) idp__fixtures=${idp__a#--fixtures=} ;;
        *) set -- "$@" "$idp__a" ;;
        esac
    done

    for idp__cmd in node openssl curl; do
        if ! command -v "$idp__cmd" >/dev/null 2>&1; then
            echo "SKIP: $idp__cmd is not installed (needed by the test IdP)" >&2
            return 77
        fi
    done
    if ! idp__src=$(idp__srcdir); then
        echo "SKIP: tests/idp not found (set top_srcdir)" >&2
        return 77
    fi
    # A build from a tarball (make distcheck) has no node_modules of its own: configure's
    # --with-idp-node-modules names an installed copy, and the IdP runs from a copy next to it.
    idp__modules=
    if [ ! -d "$idp__src/node_modules/oidc-provider" ]; then
        if [ -n "${LOGTO_IDP_NODE_MODULES:-}" ] && [ -d "$LOGTO_IDP_NODE_MODULES/oidc-provider" ]; then
            idp__modules=$LOGTO_IDP_NODE_MODULES
        else
            echo "SKIP: $idp__src/node_modules is missing (run 'npm ci' in tests/idp)" >&2
            return 77
        fi
    fi
    [ -n "$idp__fixtures" ] || idp__fixtures=$idp__src/fixtures/default.json

    IDP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/logto-idp.XXXXXX") || { idp__say "mktemp failed"; return 1; }
    chmod 0755 "$IDP_DIR"
    if [ -n "$idp__modules" ]; then
        mkdir "$IDP_DIR/app" && cp -R "$idp__src/server.js" "$idp__src/package.json" \
            "$idp__src/lib" "$IDP_DIR/app/" && ln -s "$idp__modules" "$IDP_DIR/app/node_modules" ||
            { idp__say "cannot copy the IdP next to $idp__modules"; rm -rf "$IDP_DIR"; IDP_DIR=; return 1; }
        idp__src=$IDP_DIR/app
    fi
    if ! idp__make_certs "$IDP_DIR"; then
        idp__say "could not create certificates with openssl"
        rm -rf "$IDP_DIR"
        IDP_DIR=
        return 1
    fi
    IDP_CA=$IDP_DIR/ca.pem
    IDP_LOG=$IDP_DIR/server.log
    IDP_PROFILE=$idp__profile

    if command -v at_exit >/dev/null 2>&1; then
        if [ -z "${IDP__AT_EXIT:-}" ]; then
            at_exit idp_stop
            IDP__AT_EXIT=1
        fi
    else
        trap 'idp_stop' EXIT
        trap 'idp_stop; exit 129' HUP
        trap 'idp_stop; exit 130' INT
        trap 'idp_stop; exit 143' TERM
    fi

    # The IdP never runs under the test's preloads (sanitizer runtimes, nss/pam/uid_wrapper),
    # and it stops by itself when this shell ($$) dies without running its traps (SIGKILL,
    # SIGPIPE, a harness timeout).
    (
        unset LD_PRELOAD
        exec node "$idp__src/server.js" --profile "$idp__profile" \
            --cert "$IDP_DIR/server.pem" --key "$IDP_DIR/server.key" \
            --fixtures "$idp__fixtures" --ready-file "$IDP_DIR/ready.json" \
            --watch-pid "$$" "$@" </dev/null >"$IDP_LOG" 2>&1
    ) &
    IDP_PID=$!

    server_wait "$IDP_PID" 200 test -s "$IDP_DIR/ready.json"
    case $? in
    1)
        idp__say "the test IdP exited before it was ready; its log:"
        sed 's/^/  /' "$IDP_LOG" >&2
        idp_stop
        return 1
        ;;
    2)
        idp__say "the test IdP was not ready after 20 s; its log:"
        sed 's/^/  /' "$IDP_LOG" >&2
        idp_stop
        return 1
        ;;
    esac

    idp__ready=$(cat "$IDP_DIR/ready.json")
    IDP_URL=$(idp__json_field "$idp__ready" url)
    IDP_ISSUER=$(idp__json_field "$idp__ready" issuer)
    IDP_CONTROL=$(idp__json_field "$idp__ready" control)
    export IDP_URL IDP_ISSUER IDP_CA IDP_CONTROL IDP_PID IDP_DIR IDP_PROFILE IDP_LOG
    return 0
}

idp_stop() {
    if [ -n "${IDP_PID:-}" ]; then
        server_stop "$IDP_PID"
        IDP_PID=
    fi
    if [ -n "${IDP_DIR:-}" ]; then
        rm -rf "$IDP_DIR"
        IDP_DIR=
    fi
    return 0
}

idp_ctl() { # METHOD PATH [JSON]
    if [ -z "${IDP_CONTROL:-}" ]; then
        idp__say "idp_ctl: the test IdP is not running"
        return 1
    fi
    if [ $# -ge 3 ]; then
        curl -sS --fail-with-body --max-time 90 -w '\n' -X "$1" \
            -H 'Content-Type: application/json' --data-binary "$3" "$IDP_CONTROL$2"
    else
        curl -sS --fail-with-body --max-time 90 -w '\n' -X "$1" "$IDP_CONTROL$2"
    fi
}
