#!/bin/sh
# SPDX-License-Identifier: MIT
# Discovery and JWKS against both IdP profiles: the on-disk cache (files, modes, reuse, the
# refetch rate limit), an unprivileged caller that cannot write the cache, TLS trust (ca_file is
# needed, and enough), and a discovery document naming another issuer.
set -u
. "$top_srcdir/tests/integration/oidc_lib.sh"

check_discovery() { # PROFILE-PATH-PREFIX
    expect_ok discover discover
    out=$(cat "$T/discover.out")
    assert_contains "$out" "\"issuer\":\"$IDP_ISSUER\""
    assert_contains "$out" "\"token_endpoint\":\"$IDP_URL$1/"
    assert_contains "$out" "\"device_authorization_endpoint\":\"$IDP_URL$1/"
    assert_contains "$out" '"jwks_keys":1'
    for f in discovery.json jwks.json; do
        assert_eq "$(stat -c '%a %U' "$T/cache/$f")" "644 root" "mode of cache/$f"
        grep -q '"fetched_at":[0-9]' "$T/cache/$f" || fail "cache/$f has no fetched_at"
        grep -q '"expires_at":[0-9]' "$T/cache/$f" || fail "cache/$f has no expires_at"
    done
    grep -q "\"key\":\"$IDP_ISSUER\"" "$T/cache/discovery.json" || fail "discovery cache key"
}

# ================================================================= Logto profile
oidc_setup
need_root
check_discovery /oidc
assert_eq "$(route_count /.well-known/openid-configuration)" 1 "discovery fetches"
assert_eq "$(route_count /oidc/jwks)" 1 "JWKS fetches"

# A second run is served from the cache.
expect_ok discover-again discover
assert_eq "$(route_count /.well-known/openid-configuration)" 1 "discovery fetches after a cached run"
assert_eq "$(route_count /oidc/jwks)" 1 "JWKS fetches after a cached run"

# A forced JWKS refetch (what an unknown kid does) is not held back by a routine fetch, but
# waits 60 s after the last forced one (of any process: it is in the file).
expect_ok jwks-forced --force jwks
assert_eq "$(route_count /oidc/jwks)" 2 "JWKS fetches after a forced refetch"
expect_error jwks-too-soon busy --force jwks
assert_contains "$(error_message jwks-too-soon)" "not again for"
assert_eq "$(route_count /oidc/jwks)" 2 "JWKS fetches after a refused refetch"
expect_ok jwks-later --now-offset 61 --force jwks
assert_eq "$(route_count /oidc/jwks)" 3 "JWKS fetches after 61 s"
# ... and the cache expires: discovery after 24 h, JWKS after 1 h.
expect_ok discover-next-day --now-offset 86461 discover
assert_eq "$(route_count /.well-known/openid-configuration)" 2 "discovery fetches a day later"
assert_eq "$(route_count /oidc/jwks)" 4 "JWKS fetches a day later"

# An unprivileged caller reads root's cache but cannot write it: it works from memory.
if command -v setpriv >/dev/null 2>&1; then
    rm -f "$T/cache/discovery.json" "$T/cache/jwks.json"
    before=$(route_count /.well-known/openid-configuration)
    chmod 0755 "$T"
    # shellcheck disable=SC2086
    setpriv --reuid=65534 --regid=65534 --clear-groups ${LOGTO_TEST_WRAPPER:-} \
        "$FLOWTEST" --config "$CFG" discover >"$T/nobody.out" 2>"$T/nobody.err" ||
        { show_run nobody; fail "discovery as nobody failed"; }
    assert_contains "$(cat "$T/nobody.out")" "\"issuer\":\"$IDP_ISSUER\""
    [ ! -e "$T/cache/discovery.json" ] || fail "nobody wrote the root cache"
    assert_eq "$(route_count /.well-known/openid-configuration)" $((before + 1)) "fetches as nobody"
fi

# TLS: without ca_file the test CA is not trusted, and nothing turns verification off.
sed -i '/^ca_file = /d' "$CFG"
rm -f "$T/cache/discovery.json" "$T/cache/jwks.json"
expect_error untrusted unreachable discover
assert_contains "$(error_message untrusted)" "cannot reach $IDP_URL/oidc/.well-known/openid-configuration: the TLS certificate is not trusted"
echo "ca_file = $IDP_CA" >"$T/ca.conf"
sed -i "/^\[logto\]/r $T/ca.conf" "$CFG"

# A discovery document for another issuer is refused (and not cached).
idp_ctl POST /faults '{"endpoint":"discovery","fault":"wrong_issuer","count":1}' >/dev/null
expect_error wrong-issuer protocol discover
assert_contains "$(error_message wrong-issuer)" "names issuer https://evil.example.com/oidc, not the configured $IDP_ISSUER"
[ ! -e "$T/cache/discovery.json" ] || fail "a refused discovery document was cached"
expect_ok discover-after-fault discover
idp_stop

# ================================================================= generic profile (RS256)
oidc_setup --profile generic
check_discovery /realms/test
expect_ok discover-generic-again discover
assert_eq "$(route_count /.well-known/openid-configuration)" 1 "generic discovery fetches"
exit 0
