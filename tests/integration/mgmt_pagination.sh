#!/bin/sh
# SPDX-License-Identifier: MIT
# Management API pagination against a server that lies (tests/integration/mgmt_liar.mjs):
# loops, pages larger than asked for, absurd or garbled Total-Number, a list that shifts while
# we page, Link-only and header-less pagination, bodies that are not arrays, items without a
# usable id, and the status mapping (403 -> denied with the permission hint, 400
# guard.invalid_pagination -> protocol). Request counts come from the server.
. "$top_srcdir/tests/integration/password_lib.sh"

need_cmd curl
pw_start # for its CA and 127.0.0.1 certificate (and as a sanity check of the set-up)

"$NODE" "$top_srcdir/tests/integration/mgmt_liar.mjs" "$IDP_DIR/server.pem" "$IDP_DIR/server.key" \
    "$T/liar.json" </dev/null >"$T/liar.log" 2>&1 &
LIAR_PID=$!
at_exit "kill $LIAR_PID 2>/dev/null; wait $LIAR_PID 2>/dev/null"
i=0
while [ ! -s "$T/liar.json" ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "the lying server did not start: $(cat "$T/liar.log")"
    sleep 0.1
done
LIAR=$(idp_json_field "$(cat "$T/liar.json")" url)
IDP_URL_SAVED=$IDP_URL
IDP_URL=$LIAR
write_config "$CFG" "$T" "[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = $T/m2m.secret"
IDP_URL=$IDP_URL_SAVED
if [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
    sed -e 's/^connect_timeout = .*/connect_timeout = 20s/' -e 's/^timeout = .*/timeout = 30s/' \
        "$CFG" >"$CFG.new" && mv "$CFG.new" "$CFG"
fi
grep -q "^endpoint = $LIAR\$" "$CFG" || fail "config does not point at the lying server"

scenario() {
    curl -sS --fail --cacert "$IDP_CA" -X POST "$LIAR/scenario/$1" >/dev/null || fail "scenario $1"
}
liar_requests() {
    jget "$(curl -sS --fail --cacert "$IDP_CA" "$LIAR/requests")" .requests
}

# --- honest answers ----------------------------------------------------------------------------
scenario honest
ft mgmt-users
expect_ok "honest listing"
assert_eq "$(jget "$OUT" .count)" 250 "items"
assert_eq "$(liar_requests)" 4 "token + 3 pages"

scenario empty
ft mgmt-users
expect_ok "empty listing"
assert_eq "$(jget "$OUT" .count)" 0 "no items"
assert_eq "$(liar_requests)" 1 "one page, cached token"

scenario shifted
ft mgmt-users
expect_ok "a list that shifts while we page"
assert_eq "$(jget "$OUT" .count)" 150 "each item once"
assert_eq "$(liar_requests)" 2 "two pages"

scenario link-only
ft mgmt-users
expect_ok "Link-only pagination"
assert_eq "$(jget "$OUT" .count)" 200 "items"
assert_eq "$(liar_requests)" 2 "stops when Link has no next"

scenario no-headers
ft mgmt-users
expect_ok "pagination without headers"
assert_eq "$(jget "$OUT" .count)" 207 "items"
assert_eq "$(liar_requests)" 3 "stops at the short page"

# --- lies ------------------------------------------------------------------------------------
scenario loop
ft mgmt-users
expect_error protocol "pagination loop" "the same page again and again"
assert_eq "$(liar_requests)" 2 "the loop is noticed on the second page"

scenario oversize
ft mgmt-users
expect_error protocol "more than the 100 asked for" "a page larger than asked for"
scenario huge-total
ft mgmt-users
expect_error protocol "Total-Number" "Total-Number over the limit"
assert_eq "$(liar_requests)" 1 "no second page after an absurd total"
scenario bad-total
ft mgmt-users
expect_error protocol "Total-Number" "garbled Total-Number"
scenario not-array
ft mgmt-users
expect_error protocol "not a JSON array" "an object instead of an array"
scenario no-id
ft mgmt-users
expect_error protocol "id" "an item without id"
scenario bad-id
ft mgmt-users
expect_error protocol "invalid \"id\"" "an id that would change the URL path"
scenario bad-username
ft mgmt-users
expect_error protocol "username" "a username that is not a string"
scenario forbidden
ft mgmt-users
expect_error denied "the M2M app needs the Management API permission \`all\`" "403"
scenario pagination
ft mgmt-users
expect_error protocol "refused our pagination" "400 guard.invalid_pagination"

check_secrets "$M2M_SECRET" liar-token
exit 0
