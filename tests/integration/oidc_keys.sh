#!/bin/sh
# SPDX-License-Identifier: MIT
# Signing-key rotation (Logto can switch between EC and RSA): an ID token under a new kid makes
# us fetch the JWKS again at once, but not more than once per 60 s (the clock is shifted with
# --now-offset rather than waited for).
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"
oidc_setup

kid_of() { # NAME-OF-A-RUN whose stderr has the debug line "id-token-ok alg=... kid=..."
    sed -n 's/.*id-token-ok alg=[A-Z0-9]* kid=\([^ ]*\).*/\1/p' "$T/$1.err" | tail -n 1
}

device_login alice
expect_ok verify --debug --tokens "$TOKENS" verify-id-token
assert_contains "$(cat "$T/verify.err")" "id-token-ok alg=ES384"
ec_kid=$(kid_of verify)
jwks=$(route_count /oidc/jwks)

# --- rotate to RSA: the refreshed ID token is signed RS256 under a new kid.
rsa_kid=$(idp_json_field "$(idp_ctl POST /keys/rotate '{"type":"RSA"}')" kid)
[ -n "$rsa_kid" ] && [ "$rsa_kid" != "$ec_kid" ] || fail "rotation gave no new kid"
# Within 60 s of the last JWKS fetch the new kid cannot be looked up yet: refused, but the
# rotated refresh token is stored before the ID token is even looked at.
old_rt=$(json_get "$TOKENS" refresh_token)
expect_error refresh-too-soon bad-token --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(error_message refresh-too-soon)" "no key with kid=$rsa_kid"
assert_contains "$(error_message refresh-too-soon)" "not again for"
[ "$(json_get "$TOKENS" refresh_token)" != "$old_rt" ] || fail "the rotated refresh token was not stored"
assert_eq "$(route_count /oidc/jwks)" "$jwks" "JWKS fetches while rate-limited"
# A minute later the unknown kid fetches the JWKS once, and the token verifies.
expect_ok verify-rsa --debug --now-offset 61 --tokens "$TOKENS" verify-id-token
assert_contains "$(cat "$T/verify-rsa.err")" "oidc-jwks-refetch reason=unknown-kid kid=$rsa_kid"
assert_contains "$(cat "$T/verify-rsa.err")" "id-token-ok alg=RS256 kid=$rsa_kid"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 1)) "JWKS fetches after the rotation"
# The new keys are cached: the next process needs no fetch.
expect_ok verify-rsa-cached --now-offset 62 --tokens "$TOKENS" verify-id-token
assert_eq "$(route_count /oidc/jwks)" $((jwks + 1)) "JWKS fetches with the new keys cached"

# --- rotate back to EC, this time with the rate limit long past: it just works.
ec2_kid=$(idp_json_field "$(idp_ctl POST /keys/rotate '{"type":"EC"}')" kid)
expect_ok refresh-ec --debug --now-offset 130 --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(cat "$T/refresh-ec.err")" "id-token-ok alg=ES384 kid=$ec2_kid"
assert_eq "$(route_count /oidc/jwks)" $((jwks + 2)) "JWKS fetches after the second rotation"

# --- a token under a kid the IdP never published: one refetch at most, then refused.
idp_ctl POST /faults '{"endpoint":"token","fault":"unknown_kid","count":1}' >/dev/null
expect_error unknown-kid bad-token --now-offset 200 --tokens "$TOKENS" refresh
remember_tokens
assert_contains "$(error_message unknown-kid)" "no key with kid="
assert_eq "$(route_count /oidc/jwks)" $((jwks + 3)) "JWKS fetches for a rogue kid"
expect_error unknown-kid-again bad-token --now-offset 210 --tokens "$TOKENS" verify-id-token
assert_eq "$(route_count /oidc/jwks)" $((jwks + 3)) "JWKS fetches for the same rogue kid 10 s later"

assert_no_token_leaks
exit 0
