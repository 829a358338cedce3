#!/bin/sh
# SPDX-License-Identifier: MIT
# Signing-key rotation (Logto can switch between EC and RSA): an ID token under a new kid makes
# us fetch the JWKS again at once. Only these refetches count against the limit (once per 60 s,
# once per 10 s for a token issued after the key set was fetched), never a routine fetch; a flood
# of made-up kids stays bounded (the clock is shifted with --now-offset rather than waited for).
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup

kid_of() { # NAME-OF-A-RUN whose stderr has the debug line "id-token-ok alg=... kid=..."
    sed -n 's/.*id-token-ok alg=[A-Z0-9]* kid=\([^ ]*\).*/\1/p' "$T/$1.err" | tail -n 1
}

# Our clock runs 50 s behind the IdP's (--now-offset -50 and more), so that the IdP's tokens are
# newer than our key set however fast or slow the test runs; later steps move it on.
device_start login-alice --now-offset -50 --tokens "$TOKENS"
approve alice
device_wait || { show_run login-alice; fail "device flow for alice failed"; }
remember_tokens
expect_ok verify --debug --now-offset -50 --tokens "$TOKENS" verify-id-token
assert_contains "$(cat "$T/verify.err")" "id-token-ok alg=ES384"
ec_kid=$(kid_of verify)
jwks=$(route_count /oidc/jwks)

# --- rotate to RSA right after that routine fetch: a routine fetch spends none of the refetch
# limit, so the refreshed ID token (RS256, new kid) costs one JWKS fetch and verifies at once.
rsa_kid=$(idp_json_field "$(idp_ctl POST /keys/rotate '{"type":"RSA"}')" kid)
[ -n "$rsa_kid" ] && [ "$rsa_kid" != "$ec_kid" ] || fail "rotation gave no new kid"
expect_ok refresh-rsa --debug --now-offset -50 --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(cat "$T/refresh-rsa.err")" "oidc-jwks-refetch reason=unknown-kid kid=$rsa_kid"
assert_contains "$(cat "$T/refresh-rsa.err")" "id-token-ok alg=RS256 kid=$rsa_kid"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 1)) "JWKS fetches after the rotation"
# The new keys are cached, with the time of that refetch: the next process needs no fetch.
expect_ok verify-rsa-cached --now-offset -50 --tokens "$TOKENS" verify-id-token
assert_eq "$(route_count /oidc/jwks)" $((jwks + 1)) "JWKS fetches with the new keys cached"
[ -n "$(json_get "$T/cache/jwks.json" refetched_at)" ] || fail "jwks.json does not keep the refetch time"

# --- a second rotation 15 s later: within the minute of that refetch, but the token was issued
# after the key set was fetched, so 10 s suffice.
ec2_kid=$(idp_json_field "$(idp_ctl POST /keys/rotate '{"type":"EC"}')" kid)
expect_ok refresh-ec --debug --now-offset -35 --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(cat "$T/refresh-ec.err")" "oidc-jwks-refetch reason=unknown-kid kid=$ec2_kid"
assert_contains "$(cat "$T/refresh-ec.err")" "id-token-ok alg=ES384 kid=$ec2_kid"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 2)) "JWKS fetches after the second rotation"

# --- a flood of tokens under made-up kids (unsigned: an unknown kid fails before the signature),
# 8 in one process 15 s later: the first refetches, the 7 others may not (10 s).
b64u() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
forged() { # KID [IAT]
    forged__iat=${2:+"\"iat\":$2,"}
    echo "$(b64u "{\"alg\":\"ES384\",\"kid\":\"$1\"}").$(b64u "{$forged__iat\"sub\":\"x\"}").c2ln"
}
now=$(date +%s)
set --
for i in 1 2 3 4 5 6 7 8; do set -- "$@" "$(forged "forged-$i" "$now")"; done
expect_error flood bad-token --now-offset -20 --tokens "$TOKENS" verify-id-token "$@"
assert_eq "$(grep -c '^TOKEN [0-9] ERROR bad-token: .*no key with kid=forged-' "$T/flood.out")" 8 \
    "forged tokens refused"
assert_eq "$(grep -c '^TOKEN.*not again for' "$T/flood.out")" 7 "forged tokens refused without a refetch"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 3)) "JWKS fetches for 8 forged kids"
# A token that is not newer than the key set (no iat, or one beyond the clock skew allowed) is
# held to the minute, by the next process too (the refetch time is in the cache file).
expect_error forged-no-iat bad-token --now-offset 10 verify-id-token "$(forged forged-9)"
assert_contains "$(error_message forged-no-iat)" "not again for"
expect_error forged-future bad-token --now-offset 10 verify-id-token \
    "$(forged forged-10 $((now + 3600)))"
assert_contains "$(error_message forged-future)" "not again for"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 3)) "JWKS fetches for old or future forged kids"
expect_error forged-later bad-token --now-offset 41 verify-id-token "$(forged forged-11)"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 4)) "JWKS fetches for a forged kid a minute later"

# --- a token the IdP signed under a kid it never published: one refetch at most, then refused.
idp_ctl POST /faults '{"endpoint":"token","fault":"unknown_kid","count":1}' >/dev/null
expect_error unknown-kid bad-token --now-offset 200 --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(error_message unknown-kid)" "no key with kid="
assert_eq "$(route_count /oidc/jwks)" $((jwks + 5)) "JWKS fetches for a rogue kid"
expect_error unknown-kid-again bad-token --now-offset 210 --tokens "$TOKENS" verify-id-token
assert_eq "$(route_count /oidc/jwks)" $((jwks + 5)) "JWKS fetches for the same rogue kid 10 s later"

assert_no_token_leaks
exit 0
