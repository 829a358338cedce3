# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared set-up for tests/integration/password_*.sh and mgmt_*.sh (sourced, not run).
#
#   pw_start [idp_start options...]   start a test IdP, make $T, write $CFG (with the M2M app
#                                     for the Logto profile)
#   ft ARGS...                        run flowtest (under $LOGTO_TEST_WRAPPER) with $CFG, stdin
#                                     from /dev/null; sets OUT (stdout) and RC (not in a pipe!)
#   ft_lines LINES ARGS...            the same with LINES (one string, newline-separated) on stdin
#   pw METHOD USER LINE...            `flowtest password` with the lines on stdin
#   expect_ok WHAT / expect_error NAME TEXT WHAT
#   jget JSON EXPR                    a field of a JSON document (EXPR like .claims.sub)
#   idp_stat ROUTE                        the IdP's request count for ROUTE ("api" = all /api/*
#                                     outside the Experience API, "total" = all)
#   check_secrets SECRET...           none of them in anything flowtest printed

. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"

FT=$top_builddir/tests/integration/flowtest
[ -x "$FT" ] || skip "flowtest is not built ($FT)"
NODE=${NODE:-node}

pw_start() {
    idp_start "$@"
    rc=$?
    [ "$rc" = 77 ] && exit 77
    [ "$rc" = 0 ] || fail "the test IdP did not start"
    T=$(test_tmpdir)
    CFG=$T/logto.conf
    M2M_SECRET=m2m-secret
    printf '%s\n' "$M2M_SECRET" >"$T/m2m.secret"
    chmod 600 "$T/m2m.secret"
    if [ "$IDP_PROFILE" = generic ]; then
        write_config "$CFG" "$T"
    else
        write_config "$CFG" "$T" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $T/m2m.secret"
    fi
    # Under valgrind a TLS handshake alone can take seconds: give the client more time.
    if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        sed -e 's/^connect_timeout = .*/connect_timeout = 20s/' -e 's/^timeout = .*/timeout = 30s/' \
            "$CFG" >"$CFG.new" && mv "$CFG.new" "$CFG"
    fi
    : >"$T/stdout.all"
    : >"$T/stderr.all"
}

ft() {
    ft_run /dev/null "$@"
}

ft_lines() { # LINES ARGS...
    printf '%s\n' "$1" >"$T/in"
    shift
    ft_run "$T/in" "$@"
}

ft_run() { # STDIN ARGS...
    ft_in=$1
    shift
    wrap "$FT" --config "$CFG" "$@" <"$ft_in" >"$T/out" 2>"$T/err"
    RC=$?
    cat "$T/out" >>"$T/stdout.all"
    cat "$T/err" >>"$T/stderr.all"
    OUT=$(cat "$T/out")
    if [ "$RC" = 99 ]; then
        cat "$T/err" >&2
        fail "valgrind found errors in: flowtest $*"
    fi
}

pw() {
    pw_m=$1
    pw_u=$2
    shift 2
    printf '%s\n' "$@" >"$T/in"
    ft_run "$T/in" --method "$pw_m" --user "$pw_u" password
}

expect_ok() {
    [ "$RC" = 0 ] || fail "$1: exit $RC: $OUT $(tail -n 5 "$T/err")"
}

expect_error() { # NAME TEXT WHAT
    case "$OUT" in
    "ERROR $1:"*) ;;
    *) fail "$3: expected ERROR $1, got (exit $RC) $OUT" ;;
    esac
    [ -z "$2" ] || assert_contains "$OUT" "$2" "$3"
}

jget() { # JSON EXPR
    printf '%s' "$1" | "$NODE" -e '
let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => {
  let v = JSON.parse(s);
  for (const k of process.argv[1].split(".").filter(Boolean)) v = v == null ? undefined : v[k];
  console.log(v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
});' "$2"
}

idp_stat() { # ROUTE
    idp_ctl GET /stats | "$NODE" -e '
let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => {
  const j = JSON.parse(s), want = process.argv[1];
  if (want === "total") { console.log(j.total); return; }
  let n = 0;
  for (const [k, v] of Object.entries(j.by_route)) {
    const path = k.slice(k.indexOf(" ") + 1);
    if (want === "api" ? path.startsWith("/api/") && !path.startsWith("/api/experience") : k === want) n += v;
  }
  console.log(n);
});' "$1"
}

check_secrets() {
    assert_no_secrets "$T/stdout.all" "$T/stderr.all" -- "$@"
}

# The secrets of a tokens file written by `flowtest password --tokens`.
token_values() { # FILE
    for k in access_token refresh_token id_token; do
        v=$(jget "$(cat "$1")" ".$k")
        [ "$v" = undefined ] || printf '%s\n' "$v"
    done
}
