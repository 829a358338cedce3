#!/bin/sh
# SPDX-License-Identifier: MIT
# OAuth password grant for generic providers: public and confidential clients, wrong password,
# suspended user; discovery that omits the grant (sent anyway), bare 400 refusals, the grant
# switched off for the client; against the Logto profile (which has no password grant) the answer is
# LOGTO_E_UNSUPPORTED with a hint, and the password is never sent.
. "$top_srcdir/tests/integration/password_lib.sh"

# --- generic (Keycloak-like) provider ----------------------------------------------------------
pw_start --profile generic
ALICE_SUB=$(idp_json_field "$(idp_ctl GET /users/alice)" sub)
# Discovery that does not list the password grant (Glewlwyd): advisory, the grant is sent.
idp_ctl POST /settings '{"password_grant_listed":false}' >/dev/null

ft_lines alice-pass-1 --tokens "$T/grant.tokens" --method grant --user alice password
expect_ok "alice with the password grant"
assert_eq "$(jget "$OUT" .method)" grant "method"
assert_eq "$(jget "$OUT" .claims.sub)" "$ALICE_SUB" "sub (verified ID token)"
assert_eq "$(jget "$OUT" .claims.iss)" "$IDP_ISSUER" "iss"
assert_eq "$(jget "$OUT" .claims.aud)" generic-app "aud"
assert_eq "$(jget "$OUT" .claims.preferred_username)" alice "preferred_username"
assert_eq "$(jget "$OUT" .refresh_token)" true "refresh token (offline_access)"
assert_eq "$(jget "$OUT" .id_token)" true "id token"

pw grant alice wrong-password
expect_error denied "wrong user name or password" "wrong password"
pw grant nosuchuser some-password
expect_error denied "wrong user name or password" "unknown user"
pw grant carol carol-pass-1
expect_error denied "" "suspended user"

# Refusals without a body (Glewlwyd: 400/403, no OAuth error): a refused password, with the
# status, never a protocol error.
idp_ctl POST /settings '{"bare_token_errors":true}' >/dev/null
pw grant alice wrong-password
expect_error denied "the provider refused the user name or password (status 400, no reason given); some providers refuse the password grant to public clients" "bare 400"
idp_ctl POST /settings '{"bare_token_errors":false,"password_grant":false}' >/dev/null
# The grant switched off for the client: the administrator is told what to enable.
pw grant alice alice-pass-1
expect_error config "does not allow the password grant for client generic-app (unauthorized_client: requested grant type is not allowed for this client): enable it" "grant switched off"
idp_ctl POST /settings '{"password_grant":true}' >/dev/null

# A forged ID token is refused even though the password was right.
idp_ctl POST /faults '{"endpoint":"token","fault":"wrong_aud","count":1}' >/dev/null
pw grant alice alice-pass-1
expect_error bad-token "" "ID token for another audience"
idp_ctl POST /faults '{"endpoint":"token","fault":"bad_signature","count":1}' >/dev/null
pw grant alice alice-pass-1
expect_error bad-token "" "ID token with a bad signature"
idp_ctl DELETE /faults >/dev/null

# Confidential client: client_secret_basic with the secret from a 0600 file.
printf 'generic-secret\n' >"$T/client.secret"
chmod 600 "$T/client.secret"
sed "s|^client_id = generic-app\$|client_id = generic-confidential\nclient_secret_file = $T/client.secret|" \
    "$CFG" >"$T/conf.conf"
CFG=$T/conf.conf
pw grant bob bob-pass-1
expect_ok "bob with the confidential client"
assert_eq "$(jget "$OUT" .claims.aud)" generic-confidential "aud of the confidential client"
printf 'wrong-secret\n' >"$T/client.secret"
pw grant bob bob-pass-1
expect_error config "" "wrong client secret"
# shellcheck disable=SC2046
check_secrets alice-pass-1 bob-pass-1 carol-pass-1 generic-secret wrong-secret \
    $(token_values "$T/grant.tokens")
idp_stop

# --- Logto: no password grant --------------------------------------------------------------------
pw_start
idp_ctl POST /stats/reset >/dev/null
pw grant alice alice-pass-1
expect_error unsupported "Logto has no password grant: use password_method experience or pat" "password grant against Logto"
assert_eq "$(idp_stat 'POST /oidc/token')" 0 "the password was not sent to Logto"
check_secrets alice-pass-1
exit 0
