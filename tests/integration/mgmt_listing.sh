#!/bin/sh
# SPDX-License-Identifier: MIT
# The directory fetch against a large tenant (--generate users=10000,roles=50,orgs=50): every
# user, role membership and organization membership arrives, in exactly
#   1 token + ceil(U/100) + ceil(R/100) + sum_roles max(1, ceil(members/100))
#           + ceil(O/100) + sum_orgs max(1, ceil(members/100))
# requests, counted by the IdP. The expected numbers come from the IdP itself (Total-Number
# and usersCount, fetched with curl and a token of our own), not from the code under test. The
# Link headers are wrong (Logto 1.42 drops the /api prefix): never followed.
. "$top_srcdir/tests/integration/password_lib.sh"

need_cmd curl
pw_start --generate users=10000,roles=50,orgs=50

# --- the truth, from the IdP -------------------------------------------------------------------
tok=$(curl -sS --fail --cacert "$IDP_CA" -u m2m-app:m2m-secret \
    -d grant_type=client_credentials -d resource=https://default.logto.app/api -d scope=all \
    "$IDP_ISSUER/token") || fail "test-side M2M token"
AT=$(jget "$tok" .access_token)
api() { curl -sS --fail --cacert "$IDP_CA" -H "Authorization: Bearer $AT" -D "$T/headers" "$IDP_URL/api$1"; }
api '/users?page=1&page_size=1' >/dev/null || fail "users total"
U=$(sed -n 's/^[Tt]otal-[Nn]umber: *\([0-9]*\).*/\1/p' "$T/headers")
# The IdP's Link is as wrong as Logto 1.42's (no /api prefix): the exact request counts below
# show that the listing pages by page/Total-Number and never follows Link.
grep -qi '^link: <https://[^>]*[0-9]/users?page=1&page_size=1>; rel="first"' "$T/headers" ||
    fail "the IdP does not serve Logto's Link header: $(grep -i '^link:' "$T/headers")"
api '/roles?type=User&page=1&page_size=100' >"$T/roles.json" || fail "roles"
api '/organizations?showFeatured=true&page=1&page_size=100' >"$T/orgs.json" || fail "orgs"
sums=$("$NODE" -e '
const fs = require("fs");
const roles = JSON.parse(fs.readFileSync(process.argv[1])), orgs = JSON.parse(fs.readFileSync(process.argv[2]));
const pages = (n) => Math.max(1, Math.ceil(n / 100));
const sum = (a, f) => a.reduce((s, x) => s + f(x), 0);
console.log(roles.length, orgs.length, sum(roles, (r) => pages(r.usersCount)), sum(orgs, (o) => pages(o.usersCount)),
            sum(roles, (r) => r.usersCount), sum(orgs, (o) => o.usersCount));' "$T/roles.json" "$T/orgs.json")
# shellcheck disable=SC2086
set -- $sums
R=$1 O=$2 RP=$3 OP=$4 RM=$5 OM=$6
[ "$U" -ge 10000 ] && [ "$R" -ge 50 ] && [ "$O" -ge 50 ] || fail "the generated tenant is not there (U=$U R=$R O=$O)"
[ "$R" -le 100 ] && [ "$O" -le 100 ] || fail "more than one page of roles/orgs: adjust the formula"
EXPECTED=$((1 + (U + 99) / 100 + 1 + RP + 1 + OP))
echo "tenant: $U users, $R roles ($RM memberships), $O organizations ($OM memberships); expected $EXPECTED requests" >&2

# --- the fetch --------------------------------------------------------------------------------
idp_ctl POST /stats/reset >/dev/null
t0=$(date +%s%N)
ft --user user00030 mgmt-directory
t1=$(date +%s%N)
expect_ok "mgmt-directory on 10,000 users"
echo "mgmt-directory: $(jget "$OUT" .requests) requests in $(((t1 - t0) / 1000000)) ms${LOGTO_TEST_WRAPPER:+ (under $LOGTO_TEST_WRAPPER)}" >&2
assert_eq "$(jget "$OUT" .requests)" "$EXPECTED" "requests counted by the client"
assert_eq "$(idp_stat total)" "$EXPECTED" "requests seen by the IdP"
assert_eq "$(idp_stat 'POST /oidc/token')" 1 "token requests"
assert_eq "$(idp_stat 'GET /api/users')" $(((U + 99) / 100)) "user pages"
assert_eq "$(jget "$OUT" .users)" "$U" "users"
assert_eq "$(jget "$OUT" .roles)" "$R" "roles"
assert_eq "$(jget "$OUT" .organizations)" "$O" "organizations"
assert_eq "$(jget "$OUT" .role_memberships)" "$RM" "role memberships"
assert_eq "$(jget "$OUT" .org_memberships)" "$OM" "organization memberships"
# user00030 (n = 30): roles grole030 and grole011 (n divisible by 3: role (7n mod 50) + 1),
# organization 030 (n - 1 mod 50) with member and admin (n divisible by 10).
assert_eq "$(jget "$OUT" .user.roles)" '["grole011","grole030"]' "user00030's roles"
assert_eq "$(jget "$OUT" .user.organizations.length)" 1 "user00030's organizations"
assert_eq "$(jget "$OUT" .user.organizations.0.name)" "Generated Org 030" "user00030's organization"
assert_eq "$(jget "$OUT" .user.organizations.0.roles)" '["admin","member"]' "user00030's org roles"

# --- again: the cached M2M token, no token request ----------------------------------------------
idp_ctl POST /stats/reset >/dev/null
ft mgmt-directory
expect_ok "second mgmt-directory"
assert_eq "$(jget "$OUT" .token_requests)" 0 "no token request the second time"
assert_eq "$(idp_stat total)" $((EXPECTED - 1)) "requests of the second fetch"

check_secrets "$M2M_SECRET" "$AT" "$(jget "$(cat "$T/state/m2m-token.json")" .access_token)"
exit 0
