#!/bin/sh
# SPDX-License-Identifier: MIT
# logtoctl config check --online against the test IdP: a good configuration passes; a typo'd
# role, an unknown organization ID and organization role are each named with file:line; the
# applications are asked what the methods need (redirect URI, token exchange); an unreachable
# IdP is reported clearly (exit 4); --json carries the same findings; nothing hostile or secret
# reaches the terminal.
. "$top_srcdir/tests/integration/logtoctl_lib.sh"
ctl_setup

# 1. The configuration of every logtoctl test, with rules naming what exists and both password
#    methods in use: every check passes, exit 0.
cat >>"$CFG" <<'INI'
[service sshd]
require_roles = admin developer
require_orgs = pbl95zlwkzx4
require_org_roles = qmmg1gvtd5ib:member
flow = password
password_method = experience
[service su]
allow_any_user = yes
flow = password
password_method = pat
INI
expect_rc 0 "good configuration" config check --online
out=$(cat "$T/out")
assert_contains "$out" "ok: discovery document of $IDP_URL/oidc"
assert_contains "$out" "ok: signing keys fetched and valid"
assert_contains "$out" "ok: M2M token obtained"
assert_contains "$out" "ok: every role, organization and organization role the rules name exists in the tenant (5 checked)"
assert_contains "$out" "ok: [logto] password_client_id: redirect_uri is registered"
assert_contains "$out" "ok: [logto] password_client_id: token exchange is enabled"
assert_contains "$out" "ok: [logto] client_id: a Native app with the device flow"
assert_eq "$(cat "$T/err")" "" "stderr of a good check"

# 2. Typos: a role, an organization ID, an organization role; the password app with token
#    exchange off and another redirect URI. Each is an error with file:line, exit 1; --json
#    carries the same findings. The GET /api/applications answer holds the app secret: never
#    shown.
sed -i -e 's/^require_roles = admin developer/require_roles = admni developer/' \
    -e 's/^require_orgs = pbl95zlwkzx4/require_orgs = pbl95zlwkzx5/' \
    -e 's/^require_org_roles = .*/require_org_roles = qmmg1gvtd5ib:memebr/' \
    -e 's|^redirect_uri = .*|redirect_uri = http://127.0.0.1/other|' "$CFG"
idp_ctl POST /settings '{"allow_token_exchange":false}' >/dev/null
line_of() { grep -n "^$1 = " "$CFG" | cut -d: -f1; }
expect_rc 1 "typos" config check --online
err=$(cat "$T/err")
assert_contains "$err" "error: $CFG:$(line_of require_roles): [service sshd] require_roles: role \"admni\" does not exist in the Logto tenant: this rule never matches"
assert_contains "$err" "error: $CFG:$(line_of require_orgs): [service sshd] require_orgs: organization \"pbl95zlwkzx5\" does not exist"
assert_contains "$err" "error: $CFG:$(line_of require_org_roles): [service sshd] require_org_roles: organization role \"memebr\" does not exist"
assert_contains "$err" "error: [logto] redirect_uri: \"http://127.0.0.1/other\" is not a redirect URI of the application \"native-app\""
assert_contains "$err" "error: [logto] password_client_id: token exchange is disabled on \"native-app\""
case "$err" in *developer*) fail "an existing role was reported: $err" ;; esac
expect_rc 1 "typos (json)" --json config check --online
json=$(cat "$T/out")
assert_eq "$(printf '%s' "$json" | jget 'd["ok"]')" false "json ok"
assert_eq "$(printf '%s' "$json" | jget '[(f["line"], f["message"].split()[2].rstrip(":")) for f in d["online"] if f["result"] == "error" and f["check"] == "rules"]')" \
    "[[$(line_of require_roles), \"require_roles\"], [$(line_of require_orgs), \"require_orgs\"], [$(line_of require_org_roles), \"require_org_roles\"]]" "json rule findings"
assert_eq "$(printf '%s' "$json" | jget 'sum(f["result"] == "error" for f in d["online"])')" 5 "json errors"
idp_ctl POST /settings '{"allow_token_exchange":true}' >/dev/null
no_secrets "$T/out" "$T/err"
case "$(cat "$T/out" "$T/err")" in *app-secret-never-shown*) fail "the application secret was shown" ;; esac

# 3. A role name with control characters is refused offline (exit 3) and never reaches the
#    terminal raw; nothing is asked online.
printf '[service sudo]\nrequire_roles = adm\033[2Jin\n' >>"$CFG"
expect_rc 3 "hostile role name" config check --online
err=$(cat "$T/err")
assert_contains "$err" "not checked online: the configuration has errors"
case "$err" in *"$(printf '\033')"*) fail "an escape character reached the terminal: $err" ;; esac
sed -i '/^\[service sudo\]/,$d' "$CFG"

# 4. The IdP unreachable (a closed port): said clearly, exit 4, the rest not checked.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s|^endpoint = .*|endpoint = https://127.0.0.1:$port|" "$CFG"
expect_rc 4 "unreachable IdP" config check --online
assert_contains "$(cat "$T/err")" "error: Logto is unreachable at https://127.0.0.1:$port/oidc: "
assert_contains "$(cat "$T/out")" "not checked: the rest: Logto could not be asked"
# Offline, the same configuration is fine.
expect_rc 0 "offline check" config check
# The generic profile names no Logto.
cat >"$CFG" <<INI
[logto]
profile = generic
issuer = https://127.0.0.1:$port
client_id = generic-app
connect_timeout = 2s
[paths]
state_dir = $STATE
cache_dir = $CACHE
INI
expect_rc 4 "unreachable generic IdP" config check --online
assert_contains "$(cat "$T/err")" "error: the identity provider is unreachable at https://127.0.0.1:$port: "
case "$(cat "$T/out" "$T/err")" in *Logto*) fail "the generic profile names Logto: $(cat "$T/err")" ;; esac
echo "ok logtoctl config"
