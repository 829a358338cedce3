# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Start / stop / drive Glewlwyd (Debian's `glewlwyd` package), a real third-party OpenID
# provider, from shell tests. Source it after tests/lib/testenv.sh and tests/lib/idp.sh (for the
# per-run CA, idp__make_certs, and server_wait / server_stop).
#
#   glew_start
#       Runs $GLEWLWYD (default: glewlwyd from PATH). Skips (exit 77) when it, sqlite3, jq,
#       curl, openssl, python3 or setpriv is missing. Makes a private temp dir (removed at exit),
#       a fresh CA and server certificate, a SQLite database from the package's own
#       schema (/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz: creates admin/password),
#       and a configuration of its own (never /etc/glewlwyd); starts glewlwyd on a free port of
#       127.0.0.1 over HTTPS and waits (at most 20 s) until it answers. Exports GLEW_URL
#       (https://127.0.0.1:PORT/api) GLEW_ISSUER GLEW_CA GLEW_DIR GLEW_PID GLEW_LOG.
#   glew_stop
#       TERM, KILL after 5 s, reap, remove GLEW_DIR. Idempotent; registered with at_exit.
#       Should the test's shell die without running its traps (SIGKILL), glewlwyd gets SIGTERM
#       from the kernel (setpriv --pdeathsig), so it never outlives the test.
#   glew_admin METHOD PATH [JSON]
#       Glewlwyd's admin REST API (PATH under /api), signed in as admin (cookie jar); prints the
#       body; non-zero when the status is >= 400.
#   glew_setup
#       The provider as the tests need it (see glew_setup below): a `groups` user property, the
#       scopes, the OpenID Connect plugin "oidc" (RS256, device/password/refresh grants, one-use
#       refresh tokens, device interval 1 s), a public client linux-hosts and a confidential
#       client linux-conf (secret in GLEW_DIR/client.secret), users alice (groups admin) and
#       bob (groups developer).
#   glew_plugin JQ_FILTER
#       Changes the oidc plugin's parameters (jq filter on .parameters) and resets the plugin,
#       as an administrator does in Glewlwyd's admin page.
#   glew_approve USER PASSWORD USER_CODE
#       What the person does in the browser: signs in to Glewlwyd (POST /api/auth/), consents
#       to the client's scopes (PUT /api/auth/grant/CLIENT) and enters the code
#       (GET /api/oidc/device?code=...&g_continue). Prints the `prompt` of the page Glewlwyd
#       redirects to (deviceComplete when the code was accepted). Client: $GLEW_APPROVE_CLIENT
#       (default linux-hosts).
#   glew_as USER PASSWORD METHOD PATH
#       Glewlwyd's API in USER's own browser session (what its profile page calls).
#
# Glewlwyd facts these rely on (measured with 2.7.5): a user
# module change needs PUT /api/mod/user/database/reset, a plugin change PUT
# /api/mod/plugin/oidc/reset, before the running instance uses it; the password grant needs the
# plugin's allow-non-oidc and a confidential client.

GLEW_PID=${GLEW_PID:-}
GLEW_DIR=${GLEW_DIR:-}
GLEW_APPROVE_CLIENT=${GLEW_APPROVE_CLIENT:-linux-hosts}

glew__say() { echo "glewlwyd.sh: $*" >&2; }

glew__free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

glew__config() { # PORT
    cat <<EOF
port=$1
bind_address="127.0.0.1"
external_url="https://127.0.0.1:$1"
login_url="login.html"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="INFO"
cookie_secure=1
cookie_same_site="empty"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
use_secure_connection=true
secure_connection_key_file="$GLEW_DIR/server.key"
secure_connection_pem_file="$GLEW_DIR/server.pem"
hash_algorithm="SHA512"
database = { type = "sqlite3"; path = "$GLEW_DIR/glewlwyd.db"; };
EOF
}

glew_start() {
    GLEWLWYD=${GLEWLWYD:-glewlwyd}
    command -v "$GLEWLWYD" >/dev/null 2>&1 ||
        skip "$GLEWLWYD is not installed (tools/bootstrap installs Debian's glewlwyd package)"
    for glew__c in sqlite3 jq curl openssl python3 setpriv; do
        command -v "$glew__c" >/dev/null 2>&1 || skip "$glew__c is not installed (needed to run Glewlwyd)"
    done
    glew__schema=/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz
    [ -f "$glew__schema" ] || skip "$glew__schema is missing (glewlwyd package incomplete)"
    GLEW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/logto-glewlwyd.XXXXXX") || fail "mktemp"
    chmod 0755 "$GLEW_DIR"
    at_exit glew_stop
    idp__make_certs "$GLEW_DIR" || fail "could not create certificates with openssl"
    zcat "$glew__schema" | sqlite3 "$GLEW_DIR/glewlwyd.db" || fail "could not create the database"
    GLEW_CA=$GLEW_DIR/ca.pem
    GLEW_LOG=$GLEW_DIR/glewlwyd.log
    # A free port can be taken between the check and the bind: try a few.
    glew__try=0
    while :; do
        glew__try=$((glew__try + 1))
        glew__port=$(glew__free_port) || fail "no free port"
        glew__config "$glew__port" >"$GLEW_DIR/glewlwyd.conf"
        (
            unset LD_PRELOAD
            exec setpriv --pdeathsig TERM "$GLEWLWYD" -c "$GLEW_DIR/glewlwyd.conf" </dev/null \
                >"$GLEW_LOG" 2>&1
        ) &
        GLEW_PID=$!
        GLEW_URL=https://127.0.0.1:$glew__port/api
        server_wait "$GLEW_PID" 200 glew__answers && break
        glew__say "glewlwyd did not start on port $glew__port (try $glew__try); its log:"
        sed 's/^/  /' "$GLEW_LOG" >&2
        server_stop "$GLEW_PID"
        GLEW_PID=
        [ "$glew__try" -lt 3 ] || fail "glewlwyd would not start"
    done
    GLEW_ISSUER=$GLEW_URL/oidc
    export GLEW_URL GLEW_ISSUER GLEW_CA GLEW_DIR GLEW_PID GLEW_LOG
    glew__curl -c "$GLEW_DIR/admin.jar" -H 'Content-Type: application/json' \
        --data-binary '{"username":"admin","password":"password"}' "$GLEW_URL/auth/" >/dev/null ||
        fail "cannot sign in to Glewlwyd's admin API"
}

# Any HTTP answer over TLS with our CA: the server is up (/api/ itself is a 404).
glew__answers() {
    glew__st=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$GLEW_CA" "$GLEW_URL/" \
        2>/dev/null) || glew__st=000
    [ "$glew__st" != 000 ]
}

glew_stop() {
    if [ -n "${GLEW_PID:-}" ]; then
        server_stop "$GLEW_PID"
        GLEW_PID=
    fi
    if [ -n "${GLEW_DIR:-}" ]; then
        rm -rf "$GLEW_DIR"
        GLEW_DIR=
    fi
    return 0
}

# curl with the per-run CA; fails on HTTP >= 400 (printing the body).
glew__curl() {
    curl -sS --fail-with-body --max-time 30 --cacert "$GLEW_CA" "$@"
}

glew_admin() { # METHOD PATH [JSON]
    if [ $# -ge 3 ]; then
        glew__curl -b "$GLEW_DIR/admin.jar" -X "$1" -H 'Content-Type: application/json' \
            --data-binary "$3" "$GLEW_URL$2"
    else
        glew__curl -b "$GLEW_DIR/admin.jar" -X "$1" "$GLEW_URL$2"
    fi
}

# glew__key rsa|ec NAME: GLEW_DIR/NAME.key and a self-signed NAME.pem for the plugin (jwt-type
# rsa or ecdsa: RS256 with jwt-key-size 256, or ES256 with a P-256 key).
glew__key() { # rsa|ec NAME
    case "$1" in
    rsa) openssl genrsa -out "$GLEW_DIR/$2.key" 2048 2>/dev/null ;;
    ec) openssl ecparam -name prime256v1 -genkey -noout -out "$GLEW_DIR/$2.key" 2>/dev/null ;;
    esac &&
        openssl req -x509 -new -key "$GLEW_DIR/$2.key" -subj "/CN=$2" -days 2 \
            -out "$GLEW_DIR/$2.pem" 2>/dev/null || fail "openssl: cannot make the $2 key"
}

glew_setup() {
    # The user module gets a multi-valued `groups` property (reset: the running module uses it).
    glew_admin GET /mod/user/database |
        jq '.parameters["data-format"].groups = {multiple: true, read: true, write: true,
            "profile-read": true, "profile-write": false}' >"$GLEW_DIR/usermod.json" ||
        fail "cannot read Glewlwyd's user module"
    glew_admin PUT /mod/user/database "$(cat "$GLEW_DIR/usermod.json")" >/dev/null &&
        glew_admin PUT /mod/user/database/reset >/dev/null || fail "cannot change the user module"
    for s in profile email offline_access; do
        glew_admin POST /scope/ "{\"name\":\"$s\",\"display_name\":\"$s\",\"description\":\"$s\",
            \"password_required\":true,\"password_max_age\":0,\"scheme\":{}}" >/dev/null ||
            fail "cannot add the scope $s"
    done
    glew__key rsa rs256
    jq -n --arg key "$(cat "$GLEW_DIR/rs256.key")" --arg cert "$(cat "$GLEW_DIR/rs256.pem")" \
        --arg iss "$GLEW_ISSUER" '{module: "oidc", name: "oidc", display_name: "OpenID Connect",
        enabled: true, parameters: {
            iss: $iss, "jwt-type": "rsa", "jwt-key-size": "256", key: $key, cert: $cert,
            "jwks-show": true, "access-token-duration": 3600, "refresh-token-duration": 1209600,
            "code-duration": 600, "refresh-token-rolling": true, "refresh-token-one-use": "always",
            "allow-non-oidc": true, "auth-type-code-enabled": true,
            "auth-type-token-enabled": false, "auth-type-id-token-enabled": true,
            "auth-type-none-enabled": false, "auth-type-password-enabled": true,
            "auth-type-client-enabled": false, "auth-type-refresh-enabled": true,
            "auth-type-device-enabled": true, "device-authorization-interval": 1,
            "device-authorization-expiration": 600, "name-claim": "mandatory",
            "email-claim": "mandatory", "scope-claim": "no",
            claims: [
                {name: "preferred_username", "user-property": "username", type: "string",
                 mandatory: true, "on-demand": false, scopes: []},
                {name: "groups", "user-property": "groups", type: "string", mandatory: true,
                 "on-demand": false, scopes: []}],
            "introspection-revocation-allowed": true,
            "introspection-revocation-allow-target-client": true,
            "introspection-revocation-auth-scope": [], "subject-type": "public",
            "request-parameter-allow": true, "request-maximum-exp": 3600,
            "address-claim": {type: "no"}}}' >"$GLEW_DIR/plugin.json" || fail "jq"
    glew_admin POST /mod/plugin/ "$(cat "$GLEW_DIR/plugin.json")" >/dev/null ||
        fail "cannot add the OpenID Connect plugin"
    glew_client=',"enabled":true,"description":"","redirect_uri":[],
        "authorization_type":["device_authorization","password","refresh_token","delete_token"],
        "scope":["openid","profile","email","offline_access"]}'
    glew_admin POST /client/ "{\"client_id\":\"linux-hosts\",\"name\":\"linux-hosts\",
        \"confidential\":false$glew_client" >/dev/null || fail "cannot add the client linux-hosts"
    # The confidential client's secret: random per run, in a root-only file.
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$GLEW_DIR/client.secret"
    chmod 0600 "$GLEW_DIR/client.secret"
    glew_admin POST /client/ "{\"client_id\":\"linux-conf\",\"name\":\"linux-conf\",
        \"confidential\":true,\"password\":\"$(cat "$GLEW_DIR/client.secret")\",
        \"token_endpoint_auth_method\":[\"client_secret_basic\"]$glew_client" >/dev/null ||
        fail "cannot add the client linux-conf"
    glew_user alice "Alice Liddell" alice-pass-1 '["admin"]'
    glew_user bob "Bob Builder" bob-pass-1 '["developer"]'
}

glew_user() { # NAME GECOS PASSWORD GROUPS_JSON
    glew_admin POST /user/ "{\"username\":\"$1\",\"name\":\"$2\",\"email\":\"$1@example.test\",
        \"password\":\"$3\",\"enabled\":true,\"groups\":$4,
        \"scope\":[\"openid\",\"profile\",\"email\",\"offline_access\",\"g_profile\"]}" \
        >/dev/null || fail "cannot add the user $1"
}

glew_plugin() { # JQ_FILTER (on .parameters)
    glew_admin GET /mod/plugin/oidc | jq ".parameters |= ($1)" >"$GLEW_DIR/plugin.json" ||
        fail "cannot read the oidc plugin"
    glew_admin PUT /mod/plugin/oidc "$(cat "$GLEW_DIR/plugin.json")" >/dev/null &&
        glew_admin PUT /mod/plugin/oidc/reset >/dev/null || fail "cannot change the oidc plugin"
}

# glew_as USER PASSWORD METHOD PATH: Glewlwyd's API in USER's own browser session (the profile
# page's calls, e.g. GET/DELETE /api/oidc/token: the user's refresh tokens). Glewlwyd 2.7.5
# answers [] to the administrator's documented ?username= impersonation of that list.
glew_as() {
    gs_jar=$GLEW_DIR/browser.$1.jar
    glew__curl -c "$gs_jar" -b "$gs_jar" -H 'Content-Type: application/json' \
        --data-binary "{\"username\":\"$1\",\"password\":\"$2\"}" "$GLEW_URL/auth/" >/dev/null ||
        return 1
    glew__curl -c "$gs_jar" -b "$gs_jar" -X "$3" "$GLEW_URL$4"
}

glew_approve() { # USER PASSWORD USER_CODE
    ga_jar=$GLEW_DIR/browser.$1.jar
    rm -f "$ga_jar"
    glew__curl -c "$ga_jar" -b "$ga_jar" -H 'Content-Type: application/json' \
        --data-binary "{\"username\":\"$1\",\"password\":\"$2\"}" "$GLEW_URL/auth/" >/dev/null ||
        return 1
    glew__curl -c "$ga_jar" -b "$ga_jar" -X PUT -H 'Content-Type: application/json' \
        --data-binary '{"scope":"openid profile email offline_access"}' \
        "$GLEW_URL/auth/grant/$GLEW_APPROVE_CLIENT" >/dev/null || return 1
    ga_loc=$(glew__curl -c "$ga_jar" -b "$ga_jar" -o /dev/null -w '%{redirect_url}' \
        "$GLEW_URL/oidc/device?code=$3&g_continue") || return 1
    printf '%s\n' "$ga_loc" | sed -n 's/.*[?&]prompt=\([A-Za-z]*\).*/\1/p'
}
