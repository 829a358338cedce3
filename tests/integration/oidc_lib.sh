# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Helpers for the oidc_*.sh and device_*.sh integration tests, which drive
# tests/integration/flowtest against the test IdP. Source it after setting nothing:
#   . "$top_srcdir/tests/integration/oidc_lib.sh"
#   oidc_setup [idp_start arguments...]      # IdP up, $T (temp dir), $CFG (config) written
#
#   ft NAME [flowtest options] COMMAND [ARG]  # output in $T/NAME.out, $T/NAME.err; returns rc
#   expect_ok NAME ...                        # ft, and fail unless it succeeded
#   expect_error NAME ERROR-NAME ...          # ft, and fail unless it printed "ERROR <name>:"
#   device_start NAME [flowtest options]      # "flowtest device" in the background: $DEV_PID,
#                                             # $USER_CODE once it is printed
#   device_login USER [NAME]                  # a whole approved device flow; tokens in $TOKENS
#   route_count SUBSTRING                     # requests the IdP saw on routes containing it
#   json_get FILE KEY                         # a top-level string/number of a JSON file
#   assert_no_token_leaks                     # no token of $TOKENS in any output of the test
#   set_config_key KEY VALUE                  # change a [logto] key of $CFG

. "$top_srcdir/tests/lib/testenv.sh"
. "$top_srcdir/tests/lib/idp.sh"

FLOWTEST=$top_builddir/tests/integration/flowtest
[ -x "$FLOWTEST" ] || fail "$FLOWTEST is not built"
need_cmd node

oidc_setup() {
    idp_start "$@" || { r=$?; [ "$r" = 77 ] && exit 77; fail "the test IdP did not start"; }
    T=$(test_tmpdir)
    CFG=$T/logto.conf
    TOKENS=$T/tokens.json
    write_config "$CFG" "$T"
    # Under valgrind a TLS handshake (loading the system CA bundle) alone can take seconds.
    if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        set_config_key connect_timeout 30s
        set_config_key timeout 60s
    fi
    # Everything a test keeps (tokens) is collected here for the leak check.
    SECRETS_SEEN=$T/secrets
    : >"$SECRETS_SEEN"
}

set_config_key() { # KEY VALUE
    sed -i "s|^$1 = .*|$1 = $2|" "$CFG"
    grep -q "^$1 = $2\$" "$CFG" || fail "set_config_key: no key $1 in $CFG"
}

ft() { # NAME [flowtest args...]
    ft__name=$1
    shift
    wrap "$FLOWTEST" --config "$CFG" "$@" >"$T/$ft__name.out" 2>"$T/$ft__name.err"
}

show_run() { # NAME
    echo "--- $1 stdout:" >&2
    cat "$T/$1.out" >&2
    echo "--- $1 stderr:" >&2
    cat "$T/$1.err" >&2
}

expect_ok() { # NAME [flowtest args...]
    ft "$@"
    eo__rc=$?
    if [ "$eo__rc" != 0 ]; then
        show_run "$1"
        fail "$1: flowtest failed with status $eo__rc"
    fi
}

expect_error() { # NAME ERROR-NAME [flowtest args...]
    ee__name=$1 ee__error=$2
    shift 2
    ft "$ee__name" "$@"
    ee__rc=$?
    # 10 + error code; valgrind's own failures (99) and crashes are not "the right error".
    if [ "$ee__rc" -lt 10 ] || [ "$ee__rc" -ge 64 ] ||
        ! grep -q "^ERROR $ee__error: " "$T/$ee__name.out"; then
        show_run "$ee__name"
        fail "$ee__name: expected ERROR $ee__error, got status $ee__rc"
    fi
}

# The message of the ERROR line of run NAME.
error_message() { sed -n 's/^ERROR [a-z-]*: //p' "$T/$1.out"; }

device_start() { # NAME [flowtest args...]
    ds__name=$1
    shift
    wrap "$FLOWTEST" --config "$CFG" "$@" device >"$T/$ds__name.out" 2>"$T/$ds__name.err" &
    DEV_PID=$!
    USER_CODE=
    ds__i=0
    while [ "$ds__i" -lt 600 ]; do
        USER_CODE=$(sed -n 's/^USER_CODE //p' "$T/$ds__name.out" 2>/dev/null)
        [ -n "$USER_CODE" ] && return 0
        kill -0 "$DEV_PID" 2>/dev/null || break
        sleep 0.1
        ds__i=$((ds__i + 1))
    done
    show_run "$ds__name"
    fail "$ds__name: flowtest device printed no USER_CODE"
}

device_wait() { # -> flowtest's exit status
    wait "$DEV_PID"
}

approve() { # USER
    idp_ctl POST /device/approve "{\"user_code\":\"$USER_CODE\",\"username\":\"$1\"}" >/dev/null ||
        fail "could not approve $USER_CODE as $1"
}

device_login() { # USER [NAME]
    dl__name=${2:-login-$1}
    device_start "$dl__name" --tokens "$TOKENS"
    approve "$1"
    device_wait || { show_run "$dl__name"; fail "device flow for $1 failed"; }
    remember_tokens
}

json_get() { # FILE KEY
    node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]];
             if (v !== undefined && v !== null) console.log(typeof v === "object" ? JSON.stringify(v) : v);' "$1" "$2"
}

route_count() { # SUBSTRING
    idp_ctl GET /stats | node -e 'let s = ""; process.stdin.on("data", (d) => { s += d; });
        process.stdin.on("end", () => { const r = JSON.parse(s).by_route; let n = 0;
        for (const [k, v] of Object.entries(r)) if (k.includes(process.argv[1])) n += v;
        console.log(n); });' "$1"
}

# Keep every token we ever held, so the leak check covers rotated ones too.
remember_tokens() {
    [ -f "$TOKENS" ] || return 0
    for rt__k in access_token refresh_token; do
        json_get "$TOKENS" "$rt__k" >>"$SECRETS_SEEN"
    done
    # An ID token is not a credential, but it must not be printed whole either: its signature.
    json_get "$TOKENS" id_token | sed 's/.*\.//' >>"$SECRETS_SEEN"
}

assert_no_token_leaks() {
    remember_tokens
    anl__n=0
    while IFS= read -r anl__s; do
        [ -n "$anl__s" ] || continue
        anl__n=$((anl__n + 1))
        for anl__f in "$T"/*.out "$T"/*.err; do
            [ -f "$anl__f" ] || continue
            if grep -qF -- "$anl__s" "$anl__f"; then
                fail "a token leaked into $(basename "$anl__f")"
            fi
        done
    done <"$SECRETS_SEEN"
    [ "$anl__n" -gt 0 ] || fail "assert_no_token_leaks: no tokens were collected"
}
