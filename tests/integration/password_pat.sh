#!/bin/sh
# SPDX-License-Identifier: MIT
# Personal access token typed as the password (logto-protocol.md §3.4): token exchange, then
# userinfo with the opaque access token. Success, unknown, expired, suspended user, and a
# string that is not a PAT (refused before any request).
. "$top_srcdir/tests/integration/password_lib.sh"

pw_start

ALICE_PAT=pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx
BOB_EXPIRED_PAT=pat_nVmLRCrd6ifqWRapdWqMEtYQMtshaFZb
ALICE_ID=$(idp_json_field "$(idp_ctl GET /users/alice)" id)

# --- success ----------------------------------------------------------------------------------
ft_lines "$ALICE_PAT" --tokens "$T/pat.tokens" --method pat --user alice password
expect_ok "alice's PAT"
assert_eq "$(jget "$OUT" .method)" pat "method"
assert_eq "$(jget "$OUT" .claims.sub)" "$ALICE_ID" "sub from userinfo"
assert_eq "$(jget "$OUT" .claims.custom_data.loginShell)" /bin/bash "custom_data from userinfo"
assert_eq "$(jget "$OUT" .access_token)" true "access token"
assert_eq "$(jget "$OUT" .refresh_token)" false "no refresh token from an exchange"
assert_eq "$(jget "$OUT" .id_token)" false "no ID token from an exchange"
assert_eq "$(idp_stat 'GET /oidc/me')" 1 "one userinfo request"

# A PAT made through the control API, with an expiry in the future.
new=$(idp_ctl POST /users/erin/pats "{\"name\":\"ssh-test\",\"expires_at\":$(($(date +%s) + 3600))000}")
ERIN_PAT=$(idp_json_field "$new" value)
case "$ERIN_PAT" in pat_*) ;; *) fail "no PAT from the control API: $new" ;; esac
pw pat erin "$ERIN_PAT"
expect_ok "erin's new PAT"
assert_eq "$(jget "$OUT" .claims.username)" erin "erin's claims"

# --- refused ----------------------------------------------------------------------------------
pw pat alice pat_00000000000000000000000000000000
expect_error denied "personal access token is unknown, expired or revoked" "unknown PAT"
pw pat bob "$BOB_EXPIRED_PAT"
expect_error denied "personal access token is unknown, expired or revoked" "expired PAT"
new=$(idp_ctl POST /users/carol/pats '{"name":"ssh"}') || fail "PAT for carol"
CAROL_PAT=$(idp_json_field "$new" value)
pw pat carol "$CAROL_PAT"
expect_error denied "" "PAT of a suspended user"

# Suspending erin kills her PAT sign-in too.
idp_ctl PATCH /users/erin '{"suspended":true}' >/dev/null || fail "suspend erin"
pw pat erin "$ERIN_PAT"
expect_error denied "" "PAT of a user suspended after it was made"
idp_ctl PATCH /users/erin '{"suspended":false}' >/dev/null

# Token exchange switched off for the app (new Logto apps): the administrator is told.
idp_ctl POST /settings '{"allow_token_exchange":false}' >/dev/null
pw pat alice "$ALICE_PAT"
expect_error config "password_client_id native-app may not exchange personal access tokens (invalid_request: requested grant type is not allowed for this client): the administrator must enable token exchange" "token exchange off"
idp_ctl POST /settings '{"allow_token_exchange":true}' >/dev/null

# A password typed where a PAT is expected never reaches the token endpoint.
before=$(idp_stat 'POST /oidc/token')
pw pat alice alice-pass-1
expect_error denied "not a personal access token" "a password instead of a PAT"
assert_eq "$(idp_stat 'POST /oidc/token')" "$before" "token requests for a non-PAT"

# shellcheck disable=SC2046
check_secrets "$ALICE_PAT" "$BOB_EXPIRED_PAT" "$ERIN_PAT" "$CAROL_PAT" alice-pass-1 \
    $(token_values "$T/pat.tokens")
exit 0
