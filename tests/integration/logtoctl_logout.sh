#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl logout: the refresh token is revoked at the IdP (its grants drop to none), the record
# removed, the snapshot entry kept; with the IdP down the record goes anyway, with a warning and
# exit 4; a provider that refuses revocation for public clients: exit 5, said as such; --forget also removes the snapshot entry and the SSH key cache; a record without a
# refresh token (PAT sign-in); unknown users; --json.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup
printf '[service pat]\nflow = password\npassword_method = pat\n' >>"$CFG"

ctl sync >/dev/null 2>"$T/err" || fail "sync failed: $(cat "$T/err")"

# 1. alice signs in, logs out: her grant is revoked, her record gone, she still resolves.
password_login alice alice-pass-1 || fail "alice could not sign in: $(cat "$T/err")"
token=$(record_refresh_token "$TOKENS/alice.json")
remember_secret "$token"
[ "$(active_grants alice)" -ge 1 ] || fail "alice has no live refresh token at the IdP"
expect_rc 0 "logout alice" logout alice
assert_contains "$(cat "$T/out")" "alice: token record removed; refresh token revoked at the IdP"
assert_contains "$(cat "$T/out")" "still resolves through NSS"
assert_eq "$(active_grants alice)" 0 "alice's live refresh tokens after logout"
[ ! -e "$TOKENS/alice.json" ] || fail "alice's record is still there"
expect_rc 0 "alice still in the snapshot" user --offline alice
# The revoked token is dead for good.
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$IDP_CA" -d grant_type=refresh_token \
    -d client_id=native-app --data-urlencode "refresh_token=$token" "$IDP_ISSUER/token")
assert_eq "$code" 400 "refresh with the revoked token (HTTP status)"

# 2. Again: nothing to log out, exit 6.
expect_rc 6 "logout without a record" logout alice
assert_contains "$(cat "$T/err")" "no token record for alice"

# 3. The IdP down: the record is removed all the same, with a warning, exit 4; the grant lives.
password_login bob bob-pass-1 || fail "bob could not sign in: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/bob.json")"
idp_ctl POST /down >/dev/null
expect_rc 4 "logout with the IdP down" logout bob
assert_contains "$(cat "$T/err")" "could not be revoked"
assert_contains "$(cat "$T/out")" "NOT revoked"
[ ! -e "$TOKENS/bob.json" ] || fail "bob's record is still there"
idp_ctl POST /up >/dev/null
assert_eq "$(active_grants bob)" 1 "bob's grant (not revoked)"
idp_ctl POST /users/bob/revoke >/dev/null

# 3b. A provider that revokes only for authenticated clients (Glewlwyd: 401) refuses the public
# client: said as such (denied, exit 5), never as an unreachable IdP; the record goes anyway.
for mode in bare_401 invalid_client; do
    idp_ctl POST /settings "{\"revocation_public\":\"$mode\"}" >/dev/null
    password_login bob bob-pass-1 || fail "bob could not sign in: $(cat "$T/err")"
    remember_secret "$(record_refresh_token "$TOKENS/bob.json")"
    expect_rc 5 "logout refused by the IdP ($mode)" logout bob
    assert_contains "$(cat "$T/err")" "refused to revoke for the public client native-app (HTTP 401"
    assert_contains "$(cat "$T/err")" "this provider revokes only for a confidential client (set client_secret_file)"
    assert_contains "$(cat "$T/out")" "NOT revoked"
    [ ! -e "$TOKENS/bob.json" ] || fail "bob's record is still there ($mode)"
    assert_eq "$(active_grants bob)" 1 "bob's grant (revocation refused, $mode)"
    idp_ctl POST /users/bob/revoke >/dev/null
done
idp_ctl POST /settings '{"revocation_public":"allow"}' >/dev/null

# 4. --forget: erin's snapshot entry and cached SSH keys go too; --json.
[ -f "$STATE/keys/erin" ] || fail "sync cached no SSH keys for erin"
password_login erin erin-pass-1 || fail "erin could not sign in: $(cat "$T/err")"
remember_secret "$(record_refresh_token "$TOKENS/erin.json")"
expect_rc 0 "logout --forget erin" --json logout --forget erin
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["user"]')" erin "user"
assert_eq "$(printf '%s' "$json" | jget 'd["record_removed"]')" true "record_removed"
assert_eq "$(printf '%s' "$json" | jget 'd["revoked"]')" yes "revoked"
assert_eq "$(printf '%s' "$json" | jget 'd["revoke_error"]')" null "revoke_error"
assert_eq "$(printf '%s' "$json" | jget 'd["forgotten"]')" true "forgotten"
assert_eq "$(active_grants erin)" 0 "erin's live refresh tokens"
expect_rc 6 "erin gone from the snapshot" user --offline erin
[ ! -e "$STATE/keys/erin" ] || fail "erin's SSH key cache survived --forget"
expect_rc 0 "others still in the snapshot" user --offline bob

# 5. --forget for a user with no record (only synced): the entry goes, exit 0.
expect_rc 0 "forget a synced user" logout --forget dave
assert_contains "$(cat "$T/out")" "dave: removed from the directory snapshot"
expect_rc 6 "dave gone from the snapshot" user --offline dave
expect_rc 6 "forget an unknown user" logout --forget nosuchuser
assert_contains "$(cat "$T/err")" "no token record for nosuchuser and no snapshot entry"

# 6. A PAT sign-in keeps no refresh token: nothing to revoke.
pat=$(idp_json_field "$(idp_ctl POST /users/alice/pats '{"name":"logout-test"}')" value)
remember_secret "$pat"
printf '%s\n' "$pat" | ctl login --service pat alice >"$T/out" 2>"$T/err" ||
    fail "PAT sign-in: $(cat "$T/err")"
expect_rc 0 "logout after a PAT sign-in" --json logout alice
assert_eq "$(jget 'd["revoked"]' <"$T/out")" none "revoked (PAT)"

# 7. Usage and privilege.
expect_rc 2 "bad name" logout 'Bad Name'
expect_rc 2 "no name" logout
if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$LOGTOCTL" --config "$CFG" logout bob \
        >"$T/out" 2>"$T/err"
    assert_eq "$?" 1 "logout as nobody"
fi

no_secrets "$T/out" "$T/err"
echo "ok logtoctl logout"
