#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl token: an access token from a user's cached session. The refresh token rotates and the
# new one is stored before the access token is printed (the IdP detects reuse at once here, so a
# lost rotation would fail the next call); a plain token works at userinfo; RFC 8707 resource
# tokens (an API of [logto] resources, the organization resource), narrowed by --scope; refused
# before any request: a resource not requested at sign-in, an organization the user is not in,
# organization tokens without the organization scopes; who may ask (root with --user; never
# through sudo, doas or pkexec, whatever their variables say); app-level access control
# (access_denied: token kept); a revoked session; --json. Organization tokens (refresh_token +
# organization_id): a member's JWT for urn:logto:organization:<id> with her organization-role
# permissions (with --resource: the API's JWT carrying organization_id); the checks before the
# request and Logto's refusals (non-member, MFA required: their reasons are shown).
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup --refresh-reuse-leeway 0
sed -i 's|^\[paths\]|scopes = openid offline_access profile email roles custom_data identities urn:logto:scope:organizations urn:logto:scope:organization_roles read write read:org manage:org\nresources = https://api.example.com\n[paths]|' "$CFG"
ctl config check >/dev/null 2>"$T/err" || fail "configuration: $(cat "$T/err")"
ACME=pbl95zlwkzx4
GLOBEX=qmmg1gvtd5ib

password_login alice alice-pass-1 || fail "alice could not sign in: $(cat "$T/err")"
rt0=$(record_refresh_token "$TOKENS/alice.json")
remember_secret "$rt0"

jwt_payload() { # JWT: its payload as JSON
    python3 -c 'import base64,sys; p=sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1"
}
# with_env VAR=VALUE... -- WANT WHAT ARGS...: expect_rc with those variables in the environment.
with_env() {
    (
        while [ "$1" != -- ]; do
            export "${1%%=*}=${1#*=}"
            shift
        done
        shift
        expect_rc "$@"
    ) || exit 1
}
token_requests() {
    idp_ctl GET /stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["by_route"].get("POST /oidc/token", 0))'
}

# 1. A plain token: only the token on stdout; it works at userinfo; the refresh token rotated and
#    the new one is on disk (a second call with it succeeds: reuse would be refused at once).
expect_rc 0 "plain token" token --user alice
at=$(cat "$T/out")
assert_eq "$(wc -l <"$T/out")" 1 "lines on stdout"
[ -n "$at" ] || fail "no token printed"
assert_eq "$(cat "$T/err")" "" "stderr of a successful token"
me=$(curl -sS --cacert "$IDP_CA" -H "Authorization: Bearer $at" "$IDP_ISSUER/me")
assert_eq "$(printf '%s' "$me" | jget 'd["sub"]')" e738g7numf03 "userinfo sub with the token"
rt1=$(record_refresh_token "$TOKENS/alice.json")
remember_secret "$rt1"
[ -n "$rt1" ] && [ "$rt1" != "$rt0" ] || fail "the rotated refresh token was not stored"
expect_rc 0 "second token (the stored rotation works)" token --user alice
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"

# 2. An API resource (RFC 8707 on the refresh grant): a JWT for it with alice's scopes; --json.
expect_rc 0 "resource token" --json token --user alice --resource https://api.example.com
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'sorted(d)')" \
    '["access_token", "expires_in", "organization_id", "resource", "scope", "token_type", "user"]' "fields"
assert_eq "$(printf '%s' "$json" | jget 'd["token_type"]')" Bearer "token_type"
assert_eq "$(printf '%s' "$json" | jget 'd["expires_in"]')" 3600 "expires_in"
assert_eq "$(printf '%s' "$json" | jget 'd["scope"]')" "read write" "scope"
assert_eq "$(printf '%s' "$json" | jget 'd["resource"]')" https://api.example.com "resource"
payload=$(jwt_payload "$(printf '%s' "$json" | jget 'd["access_token"]')")
assert_eq "$(printf '%s' "$payload" | jget 'd["aud"]')" https://api.example.com "aud"
assert_eq "$(printf '%s' "$payload" | jget 'd["sub"]')" e738g7numf03 "sub"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
expect_rc 0 "resource token, --scope read" --json token --user alice --resource https://api.example.com --scope read
assert_eq "$(jget 'd["scope"]' <"$T/out")" read "narrowed scope"
expect_rc 0 "organization resource" token --user alice --resource urn:logto:resource:organizations
assert_eq "$(jwt_payload "$(cat "$T/out")" | jget 'd["aud"]')" urn:logto:resource:organizations "aud"
# bob (role developer) gets read only.
password_login bob bob-pass-1 || fail "bob could not sign in: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"
expect_rc 0 "bob's resource token" --json token --user bob --resource https://api.example.com
assert_eq "$(jget 'd["scope"]' <"$T/out")" read "bob's scope"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"

# 3. Refused before the refresh token is spent: no token request reaches the IdP.
idp_ctl POST /stats/reset >/dev/null
rt=$(record_refresh_token "$TOKENS/alice.json")
expect_rc 3 "resource not requested at sign-in" token --user alice --resource https://other.example.com
assert_contains "$(cat "$T/err")" "add it to [logto] resources"
expect_rc 5 "organization alice is not in" token --user alice --organization "$GLOBEX"
assert_contains "$(cat "$T/err")" "not a member of organization $GLOBEX"
assert_eq "$(token_requests)" 0 "token requests made by refused calls"
assert_eq "$(record_refresh_token "$TOKENS/alice.json")" "$rt" "alice's refresh token after refused calls"
# An organization alice is in: the request carries organization_id; the answer is a JWT for
# urn:logto:organization:<id> with her organization-role permissions that the sign-in asked for
# (member of Acme: read:org; manage:org only comes with Acme's admin role).
expect_rc 0 "organization token request" token --user alice --organization "$ACME"
assert_eq "$(token_requests)" 1 "token requests for the organization token"
payload=$(jwt_payload "$(cat "$T/out")")
assert_eq "$(printf '%s' "$payload" | jget 'd["aud"]')" "urn:logto:organization:$ACME" "organization token aud"
assert_eq "$(printf '%s' "$payload" | jget 'd["scope"]')" read:org "organization token scope"
assert_eq "$(printf '%s' "$payload" | jget 'd["sub"]')" e738g7numf03 "organization token sub"
# With a resource too (logto-protocol.md 4.4): the API's JWT, carrying organization_id.
expect_rc 0 "organization + resource" token --user alice --organization "$ACME" --resource https://api.example.com
payload=$(jwt_payload "$(cat "$T/out")")
assert_eq "$(printf '%s' "$payload" | jget 'd["aud"]')" https://api.example.com "organization + resource aud"
assert_eq "$(printf '%s' "$payload" | jget 'd["organization_id"]')" "$ACME" "organization + resource organization_id"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
# Logto's refusals (403 access_denied) keep their reason: alice removed from Acme at Logto (her
# cached claims still list it), then Acme requiring MFA that she has not set up.
idp_ctl PATCH /users/alice '{"organizations":[]}' >/dev/null
expect_rc 5 "organization alice was removed from" token --user alice --organization "$ACME"
assert_contains "$(cat "$T/err")" "access_denied (the sign-in was denied): user is not a member of the organization"
idp_ctl PATCH /users/alice "{\"organizations\":[{\"id\":\"$ACME\",\"roles\":[\"member\"]}]}" >/dev/null
idp_ctl PATCH /organizations/$ACME '{"is_mfa_required":true}' >/dev/null
expect_rc 5 "organization requiring MFA" token --user alice --organization "$ACME"
assert_contains "$(cat "$T/err")" "organization requires MFA but user has no MFA configured"
idp_ctl PATCH /organizations/$ACME '{"is_mfa_required":false}' >/dev/null
expect_rc 0 "the refresh token survived the refusals" token --user alice --organization "$ACME"
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"
cp "$CFG" "$T/orgs.conf"
sed -i 's|^scopes = .*|scopes = openid offline_access profile email roles custom_data|' "$CFG"
expect_rc 3 "organization tokens without the organization scopes" token --user alice --organization "$ACME"
assert_contains "$(cat "$T/err")" "urn:logto:scope:organizations"
cp "$T/orgs.conf" "$CFG"

# 4. Who may ask. Root names the user. The environment is never an identity: the SETENV attack
#    (`sudo SUDO_UID=0 logtoctl token --user alice`, which printed alice's token) and every
#    variable of sudo, doas and pkexec get nothing, whatever the value; an ordinary user goes
#    through the helper (tests/integration/helper_token.sh), here absent: a clear message.
expect_rc 2 "root without --user" token
assert_contains "$(cat "$T/err")" "name the user with --user"
uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uid"])' "$TOKENS/alice.json")
for var in SUDO_UID=0 SUDO_UID=$uid SUDO_UID= SUDO_USER=alice SUDO_COMMAND=/bin/true DOAS_USER=alice PKEXEC_UID=$uid; do
    with_env "$var" -- 5 "the SETENV attack with $var" token --user alice
    assert_eq "$(cat "$T/out")" "" "stdout of the attack with $var"
    assert_contains "$(cat "$T/err")" "refused through sudo, doas or pkexec (${var%%=*} is set)"
done
with_env SUDO_UID="$uid" -- 5 "a sudo caller without --user" token
assert_eq "$(cat "$T/out")" "" "stdout of a sudo caller"
if command -v setpriv >/dev/null 2>&1; then
    LOGTO_HELPER_SOCKET=$T/no-helper.sock setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$LOGTOCTL" --config "$CFG" token >"$T/out" 2>"$T/err"
    assert_eq "$?" 1 "token as nobody without the helper"
    assert_contains "$(cat "$T/err")" "the helper for other users is not available ($T/no-helper.sock:"
    assert_eq "$(cat "$T/out")" "" "stdout without the helper"
fi

# 5. Users without a session: never signed in here; a PAT sign-in (no refresh token).
expect_rc 6 "never signed in" token --user erin
assert_contains "$(cat "$T/err")" "erin has no Logto session on this host (never signed in here)"
pat=$(idp_json_field "$(idp_ctl POST /users/erin/pats '{"name":"token-test"}')" value)
remember_secret "$pat"
printf '%s\n' "$pat" | ctl login --method pat erin >"$T/out" 2>"$T/err" || fail "PAT sign-in: $(cat "$T/err")"
expect_rc 6 "after a PAT sign-in" token --user erin
assert_contains "$(cat "$T/err")" "pat and management sign-ins give no refresh token"

# Signed in without offline_access: no refresh token, and the message says what to change.
sed 's|^scopes = openid offline_access |scopes = openid |' "$CFG" >"$T/nooffline.conf"
code=$(idp_json_field "$(idp_ctl GET /users/dave/totp)" code)
printf 'dave-pass-1\n%s\n' "$code" | wrap "$LOGTOCTL" --config "$T/nooffline.conf" login --method experience dave \
    >"$T/out" 2>"$T/err" || fail "dave could not sign in: $(cat "$T/err")"
expect_rc 6 "no offline_access" token --user dave
assert_contains "$(cat "$T/err")" "the sign-in gave no refresh token: is offline_access in [logto] scopes?"

# 5b. App-level access control (Logto answers the refresh access_denied): no access to this
#     application, not an ended session; exit 5, the refresh token is kept, status explains it,
#     and the same grant works once access is granted.
rt=$(record_refresh_token "$TOKENS/alice.json")
idp_ctl PUT /apps/native-app/access-control '{"roles":["nobody-has-this"]}' >/dev/null
expect_rc 5 "no access to the application" token --user alice
assert_contains "$(cat "$T/err")" "alice has no access to this application in Logto (an administrator must grant it there)"
assert_not_contains "$(cat "$T/err")" "ended"
assert_eq "$(record_refresh_token "$TOKENS/alice.json")" "$rt" "alice's refresh token after access_denied"
expect_rc 0 "status explains it" status --offline
assert_contains "$(cat "$T/out")$(cat "$T/err")" "token record alice: Logto gives this user no access to the application (access_denied on refresh)"
idp_ctl DELETE /apps/native-app/access-control >/dev/null
expect_rc 0 "access granted again" token --user alice
remember_secret "$(record_refresh_token "$TOKENS/alice.json")"

# 6. The session revoked at the IdP: the refusal ends it here too (exit 5, the record keeps no
#    refresh token and says why), then "sign in again" (exit 6).
idp_ctl POST /users/alice/revoke >/dev/null
expect_rc 5 "revoked session" --json token --user alice
assert_eq "$(jget 'd["error"]["code"]' <"$T/out")" denied "error code"
assert_contains "$(cat "$T/err")" "ended (revoked, suspended or deleted): sign in again"
assert_eq "$(record_refresh_token "$TOKENS/alice.json")" "" "alice's refresh token after the refusal"
expect_rc 0 "status lists the failure" --json status --offline
assert_eq "$(jget '[r["refresh_error"] for r in d["tokens"]["records"] if r["name"] == "alice"]' <"$T/out")" '["denied"]' "refresh_error"
expect_rc 6 "after the revocation" token --user alice
assert_contains "$(cat "$T/err")" "it ended; sign in again"

# 7. The IdP down: exit 4, the record untouched.
rt=$(record_refresh_token "$TOKENS/bob.json")
idp_ctl POST /down >/dev/null
expect_rc 4 "IdP down" token --user bob
idp_ctl POST /up >/dev/null
assert_eq "$(record_refresh_token "$TOKENS/bob.json")" "$rt" "bob's refresh token with the IdP down"
expect_rc 0 "bob after the outage" token --user bob
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"

# Nothing but the token itself ever shows: no refresh token, no password, no M2M secret.
no_secrets "$T/out" "$T/err"
echo "ok logtoctl token"
