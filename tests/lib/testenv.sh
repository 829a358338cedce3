# SPDX-License-Identifier: MIT
# Shared helpers for shell tests. Source it: `. "$top_srcdir/tests/lib/testenv.sh"`.
# Tests exit 0 (pass), 1 (fail) or 77 (skip, with the reason on stderr).

: "${top_srcdir:?run through make check (top_srcdir is not set)}"
: "${top_builddir:=$top_srcdir}"

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need_cmd() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"; done; }

# A temp dir removed at exit (registered with the cleanup list below).
LOGTO_TEST_CLEANUP=""
at_exit() { LOGTO_TEST_CLEANUP="$*; $LOGTO_TEST_CLEANUP"; }
run_cleanup() { eval "$LOGTO_TEST_CLEANUP"; LOGTO_TEST_CLEANUP=""; }
trap 'run_cleanup' EXIT
trap 'exit 130' INT TERM
# Called as d=$(test_tmpdir), in a subshell whose at_exit is lost: the dirs carry the test's
# PID ($$ is the test shell's in a subshell too) and the test shell removes them all at exit.
LOGTO_TEST_TMPBASE=${TMPDIR:-/tmp}/logto-test.$$
at_exit "rm -rf '$LOGTO_TEST_TMPBASE'.*"
test_tmpdir() {
    d=$(mktemp -d "$LOGTO_TEST_TMPBASE.XXXXXX") || fail "mktemp"
    chmod 0755 "$d"
    echo "$d"
}

# Run one of our programs (logtoctl, test drivers) or a program that loads our modules
# (pamtester, getent) under $LOGTO_TEST_WRAPPER (valgrind) when set.
wrap() {
    # shellcheck disable=SC2086
    if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then $LOGTO_TEST_WRAPPER "$@"; else "$@"; fi
}

# Under $LOGTO_TEST_WRAPPER (valgrind) our programs run 20-50 times slower and get long network
# timeouts. Tests then leave out what only waits for a timeout (the IdP's "hang" fault): its C path
# ends where a refused connection's does (LOGTO_E_UNREACHABLE after curl gives up), which the
# same loops check under valgrind; the build and ASan stages run the hangs themselves.
under_wrapper() { [ -n "${LOGTO_TEST_WRAPPER:-}" ]; }

# For programs that dlopen our modules: in the ASan build the sanitizer runtime must come first.
module_preload() {
    if [ "${LOGTO_SANITIZE:-}" = asan ]; then
        asan=$(${CC:-gcc} -print-file-name=libasan.so)
        ubsan=$(${CC:-gcc} -print-file-name=libubsan.so)
        echo "$asan $ubsan${1:+ $1}"
    else
        echo "${1:-}"
    fi
}

assert_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"; }
assert_contains() { printf '%s' "$1" | grep -qF -- "$2" || fail "${3:-output} does not contain '$2': $1"; }
assert_not_contains() { ! printf '%s' "$1" | grep -qF -- "$2" || fail "${3:-output} contains '$2'"; }
# Fail if any of the given secrets appears in the given file(s).
assert_no_secrets() { # file... -- secret...
    files=""
    while [ $# -gt 0 ] && [ "$1" != -- ]; do files="$files $1"; shift; done
    [ "${1:-}" = -- ] && shift
    for s in "$@"; do
        [ -n "$s" ] || continue
        # shellcheck disable=SC2086
        if grep -qF -- "$s" $files 2>/dev/null; then fail "a secret leaked into$files"; fi
    done
}

# Write a configuration for the running test IdP (tests/lib/idp.sh exports IDP_*).
# Usage: write_config FILE STATE_DIR [extra INI text]
# Services deny by default (a section without rules admits nobody). Extra text without any
# [service] section gets "[service *] allow_any_user = yes", so that tests about something else
# may sign in any test user; a test that writes [service] sections states its own rules.
write_config() {
    cfg=$1 state=$2
    mkdir -p "$state/state" "$state/cache"
    chmod 0755 "$state/state" "$state/cache"
    {
        echo "[logto]"
        if [ "${IDP_PROFILE:-logto}" = generic ]; then
            echo "profile = generic"
            echo "issuer = $IDP_ISSUER"
            echo "client_id = generic-app"
        else
            echo "endpoint = $IDP_URL"
            echo "client_id = device-app"
            echo "password_client_id = native-app"
            echo "redirect_uri = http://127.0.0.1/callback"
        fi
        echo "ca_file = $IDP_CA"
        echo "poll_interval = 1"
        echo "connect_timeout = 2s"
        echo "timeout = 5s"
        echo "[paths]"
        echo "state_dir = $state/state"
        echo "cache_dir = $state/cache"
        [ $# -ge 3 ] && printf '%s\n' "$3"
        test_open_services "${3:-}"
    } >"$cfg"
    chmod 0644 "$cfg"
}

# test_open_services INI: print "[service *] allow_any_user = yes" unless INI has a [service]
# section (write_config, e2e_config).
test_open_services() {
    case "$1" in
    *"[service "*) ;;
    *) printf '[service *]\nallow_any_user = yes\n' ;;
    esac
}

# Run a script inside a private mount namespace (root only): the host's mounts never change.
# Usage: in_namespace 'shell commands'
in_namespace() {
    need_root
    need_cmd unshare
    unshare --mount --propagation private sh -c "$1"
}
