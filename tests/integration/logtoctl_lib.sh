# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared setup of the logtoctl_*.sh tests (status, login, logout, token, cache): the test IdP, a
# configuration with the M2M app in [sync], and helpers. Source it; it exits 77 when it cannot
# run. Every logtoctl runs under $LOGTO_TEST_WRAPPER (valgrind: exit status 99 on an error).
. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"

# login, logout, token and cache clear write root's token records, snapshot and caches.
need_root
need_cmd python3 curl
[ -x "${LOGTOCTL:-}" ] || skip "LOGTOCTL is not set (run through make check)"

# ctl_setup [idp_start options...]: IdP up; T, CFG, STATE, CACHE, SNAP, TOKENS set.
ctl_setup() {
    idp_start "$@"
    rc=$?
    [ "$rc" = 77 ] && exit 77
    [ "$rc" = 0 ] || fail "the test IdP did not start"
    T=$(test_tmpdir)
    printf 'm2m-secret\n' >"$T/m2m.secret"
    chmod 0600 "$T/m2m.secret"
    CFG=$T/logto.conf
    # frank (no username) is named by his verified e-mail in a listed domain.
    write_config "$CFG" "$T" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $T/m2m.secret
request_interval = 0
[identity]
email_domains = example.com"
    STATE=$T/state
    CACHE=$T/cache
    SNAP=$STATE/directory.snapshot
    TOKENS=$STATE/tokens
    # Under valgrind every TLS handshake is slow.
    if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        sed -i -e 's/^timeout = .*/timeout = 60s/' -e 's/^connect_timeout = .*/connect_timeout = 30s/' "$CFG"
    fi
}

# ctl ARGS...: logtoctl with the test configuration; its exit status. A valgrind error fails the
# test at once (valgrind's exit status 99 is no logtoctl exit code).
ctl() {
    wrap "$LOGTOCTL" --config "$CFG" "$@"
    ctl_rc=$?
    if [ "$ctl_rc" = 99 ] && [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        fail "$LOGTO_TEST_WRAPPER reported errors for: logtoctl $*"
    fi
    return $ctl_rc
}

# expect_rc WANT WHAT ARGS...: run ctl ARGS with stdout in $T/out and stderr in $T/err, and fail
# unless the exit status is WANT.
expect_rc() {
    er_want=$1 er_what=$2
    shift 2
    ctl "$@" >"$T/out" 2>"$T/err"
    er_rc=$?
    [ "$er_rc" = "$er_want" ] ||
        fail "$er_what: logtoctl $* exited $er_rc, expected $er_want; stdout: $(cat "$T/out"); stderr: $(cat "$T/err")"
}

# jget EXPR < JSON: a value of the JSON document (d), strings bare, everything else as JSON.
jget() {
    python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1"
}

# The refresh token in a token record, as the test (root) reads the file: for leak checks.
record_refresh_token() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("refresh_token") or "")' "$1"
}

# active_grants USER: live refresh tokens of USER at the IdP.
active_grants() {
    idp_json_field "$(idp_ctl GET "/users/$1/grants")" active
}

# password_login USER PASSWORD [ARGS...]: logtoctl login --method experience, the password on a
# pipe (no terminal: no prompt). Output in $T/out, $T/err; the exit status.
password_login() {
    pl_user=$1 pl_pw=$2
    shift 2
    printf '%s\n' "$pl_pw" | ctl login --method experience "$@" "$pl_user" >"$T/out" 2>"$T/err"
}

# The pty driver of the end-to-end tests: a program on a terminal, as a person uses it.
PTYDRIVE=$top_srcdir/tests/e2e/ptydrive.py
PTY_TIMEOUT=30
[ -z "${LOGTO_TEST_WRAPPER:-}" ] || PTY_TIMEOUT=180

# no_secrets FILE...: none of the fixture users' passwords, the M2M secret or a refresh token
# seen in a record so far ($SEEN_SECRETS) appears in FILE.
SEEN_SECRETS=""
remember_secret() { [ -n "$1" ] && SEEN_SECRETS="$SEEN_SECRETS $1"; }
no_secrets() {
    # shellcheck disable=SC2086
    assert_no_secrets "$@" -- alice-pass-1 bob-pass-1 m2m-secret $SEEN_SECRETS
}
