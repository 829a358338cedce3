#!/bin/sh
# SPDX-License-Identifier: MIT
# Every fault the test IdP can inject, on every endpoint we call (discovery, JWKS, device
# authorization, token, userinfo, revocation): the right error, a message that names the
# endpoint or the failed check, a hang bounded by the configured timeout, and no token in any
# output.
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup
timeout=$(sed -n 's/^timeout = //p' "$CFG")
# Short enough to keep the test quick, long enough for a handshake under valgrind.
hang_timeout=2
[ -z "${LOGTO_TEST_WRAPPER:-}" ] || hang_timeout=10

# The error and a word of the message each network fault must give.
network_expect() { # FAULT -> "error|message word"
    case "$1" in
    reset) echo "unreachable|cannot reach" ;;
    hang) echo "unreachable|timed out" ;;
    http500) echo "unreachable|answered HTTP 500" ;;
    malformed) echo "protocol|not valid JSON" ;;
    truncated) echo "unreachable|before the whole answer arrived" ;;
    huge) echo "protocol|exceeds" ;;
    esac
}

# The flowtest run that exercises an endpoint, and the path its message must name.
run_for() { # ENDPOINT NAME ERROR
    case "$1" in
    discovery | jwks)
        rm -f "$T/cache/discovery.json" "$T/cache/jwks.json"
        expect_error "$2" "$3" discover
        ;;
    device_auth) expect_error "$2" "$3" device ;;
    token) expect_error "$2" "$3" --tokens "$TOKENS" refresh ;;
    userinfo) expect_error "$2" "$3" --tokens "$TOKENS" userinfo ;;
    revocation) expect_error "$2" "$3" --tokens "$TOKENS" --hint access_token revoke ;;
    esac
}

path_of() { # ENDPOINT
    case "$1" in
    discovery) echo /oidc/.well-known/openid-configuration ;;
    jwks) echo /oidc/jwks ;;
    device_auth) echo /oidc/device/auth ;;
    token) echo /oidc/token ;;
    userinfo) echo /oidc/me ;;
    revocation) echo /oidc/token/revocation ;;
    esac
}

device_login alice
expect_ok warm-cache discover

# ---------------------------------------------------------------- network faults
for endpoint in discovery jwks device_auth token userinfo revocation; do
    for fault in reset hang http500 malformed truncated huge; do
        under_wrapper && [ "$fault" = hang ] && continue
        expected=$(network_expect "$fault")
        error=${expected%%|*} word=${expected#*|}
        name="$endpoint-$fault"
        # Every request to the endpoint fails until the rule is deleted (libcurl retries a
        # request once by itself when a reused connection dies).
        idp_ctl POST /faults "{\"endpoint\":\"$endpoint\",\"fault\":\"$fault\"}" >/dev/null ||
            fail "could not inject $fault"
        if [ "$endpoint-$fault" = revocation-malformed ]; then
            # RFC 7009 2.2: the status says it all and the body is ignored, so a 200 with
            # garbage is a successful revocation.
            expect_ok "$name" --tokens "$TOKENS" --hint access_token revoke
            idp_ctl DELETE /faults >/dev/null
            continue
        fi
        [ "$fault" != hang ] || set_config_key timeout "${hang_timeout}s"
        start=$(date +%s)
        run_for "$endpoint" "$name" "$error"
        elapsed=$(($(date +%s) - start))
        set_config_key timeout "$timeout"
        idp_ctl DELETE /faults >/dev/null
        message=$(error_message "$name")
        assert_contains "$message" "$word" "$name"
        assert_contains "$message" "$(path_of "$endpoint")" "$name"
        # A hang ends at the configured timeout: a loose bound (process start, valgrind), but
        # never "forever".
        [ "$fault" != hang ] || [ "$elapsed" -le $((hang_timeout + 15)) ] ||
            fail "$name took $elapsed s with timeout = ${hang_timeout}s"
    done
done
# The tokens survived all of that: no fault reached the provider.
expect_ok after-network-faults --tokens "$TOKENS" userinfo

# ---------------------------------------------------------------- ID-token faults
id_token_word() { # FAULT
    case "$1" in
    wrong_issuer) echo "iss https://evil.example.com/oidc is not the issuer" ;;
    bad_signature) echo "signature does not verify" ;;
    unknown_kid) echo "no key with kid=" ;;
    expired_id_token) echo "expired at" ;;
    alg_none) echo "alg none is not allowed" ;;
    alg_hs256) echo "alg HS256 is not allowed" ;;
    wrong_aud) echo "aud does not name client_id device-app" ;;
    esac
}

for fault in wrong_issuer bad_signature unknown_kid expired_id_token alg_none alg_hs256 wrong_aud; do
    idp_ctl POST /faults "{\"endpoint\":\"token\",\"fault\":\"$fault\",\"count\":1}" >/dev/null
    # The refreshed token is stored first (the old one is spent), then the ID token refused.
    expect_error "refresh-$fault" bad-token --tokens "$TOKENS" refresh
    remember_tokens
    assert_contains "$(error_message "refresh-$fault")" "$(id_token_word "$fault")" "refresh-$fault"
    assert_contains "$(cat "$T/refresh-$fault.err")" "id-token-rejected"
done
idp_ctl DELETE /faults >/dev/null
expect_ok refresh-after-id-token-faults --tokens "$TOKENS" refresh

# The device flow verifies its ID token the same way.
for fault in bad_signature alg_none; do
    idp_ctl POST /faults "{\"endpoint\":\"token\",\"fault\":\"$fault\",\"count\":1}" >/dev/null
    device_start "device-$fault"
    approve bob
    device_wait && fail "device flow accepted an ID token with $fault"
    grep -q '^ERROR bad-token: ' "$T/device-$fault.out" || { show_run "device-$fault"; fail "device-$fault"; }
    assert_contains "$(error_message "device-$fault")" "$(id_token_word "$fault")"
done
idp_ctl DELETE /faults >/dev/null

assert_no_token_leaks
exit 0
