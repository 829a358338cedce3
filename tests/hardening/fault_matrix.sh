#!/bin/sh
# SPDX-License-Identifier: MIT
# The fault matrix: every IdP endpoint the module uses, under every fault the test IdP injects,
# driven through the real front ends: pamtester (device-flow sign-in; password sign-in through
# the Experience API and through the Management API check; the account phase with stale claims,
# which refreshes; the account phase of a user without a record, which asks the Management API;
# the session close that revokes) and logtoctl sync with getent reading the snapshot. For each
# cell it asserts
#   - the PAM result (or sync's exit code) and the error= of the log line (unreachable for no
#     answer, a hang, a 5xx, a cut-off answer or a refused connection; protocol for malformed
#     and oversized answers; bad-token for every forged ID token),
#   - that the call returned within its bound (a hang is cut by the configured timeout:
#     timeout = 2s in the hang cells, 30 s in the others; bound = hung requests x timeout +
#     waits + a 6 s margin),
#   - that nothing under state_dir changed beyond what that outcome allows (a failed sign-in
#     writes nothing; a refresh whose ID token is refused keeps the rotated refresh token and
#     nothing else; a failed sync leaves the snapshot byte for byte, and getent keeps answering
#     from it),
# then prints the table. An IdP that answers badly is never taken for an unreachable one: with
# offline_grace set, only unreachable faults decide from cached claims, and key rotation
# (EC -> RSA -> EC) in the middle of a session keeps refreshes and sign-ins working.
# Under $LOGTO_TEST_WRAPPER (valgrind) a reduced matrix runs (every fault once per operation,
# no hang: its timeouts would be minutes there).
. "$top_srcdir/tests/lib/hard.sh"
hard_enter "$@"
hard_idp_start
for u in rita mona; do
    idp_ctl POST /users "{\"username\":\"$u\",\"password\":\"$u-pass-1\",\"roles\":[\"developer\"]}" \
        >/dev/null || fail "create $u"
done
hard_secret alice-pass-1 bob-pass-1 erin-pass-1 rita-pass-1 mona-pass-1
hard_config "[service *]
allow_any_user = yes
flow = password
qr = no
offline_grace = 0
[service dev]
flow = device
[service mg]
password_method = management
[service refresh]
claims_max_age = 0
[service acct]
claims_max_age = 0
[service close]
revoke_on_close = yes
[service grace]
claims_max_age = 0
offline_grace = 1h"
hard_services dev pw mg refresh acct grace
# cell_timeouts CONNECT TOTAL: the configuration's network timeouts, in seconds (each pamtester
# and logtoctl reads the file anew). Only a hang cell waits for them: it gets hard_config's short
# ones; everything else (the set-up steps, every other cell) long ones, so that a loaded machine
# (the sanitizer stage runs two tests at once) is never taken for a hung IdP. Under valgrind
# hard_config's long ones stay.
cell_timeouts() {
    hard_slow && return 0
    sed -i -e "s/^connect_timeout = .*/connect_timeout = ${1}s/" -e "s/^timeout = .*/timeout = ${2}s/" \
        "$CFG"
}
LONG_TIMEOUTS="10 30"
# shellcheck disable=SC2086
cell_timeouts $LONG_TIMEOUTS
pam_service "$PAM_DIR/pam.d" close "auth required $LOGTO_PAM_MODULE" \
    "session required $LOGTO_PAM_MODULE"

# Records for the account phase (rita, by password) and a first sync of the others.
hard_pam pw rita authenticate rita-pass-1
pam_expect_ok "rita's first sign-in"
hard_ctl sync
[ "$RC" = 0 ] || fail "first sync: $ERR"
rm -f "$STATE/tokens/mona.json"
hard_pam acct mona acct_mgmt
pam_expect_ok "mona, Management API lookup"
assert_logged "$F" "decided=mgmt-lookup"

NETWORK="reset hang http500 malformed truncated huge"
IDTOKEN="wrong_issuer bad_signature unknown_kid expired_id_token alg_none alg_hs256 wrong_aud"
# A sync that went through would add her: every failed sync must leave her out.
idp_ctl POST /users '{"username":"newbie","password":"newbie-pass-1"}' >/dev/null || fail "newbie"
hard_secret newbie-pass-1

class() { # FAULT -> the error= the module must report
    case "$1" in
    reset | hang | http500 | truncated | down) echo unreachable ;;
    malformed | huge) echo protocol ;;
    *) echo bad-token ;;
    esac
}

# The state a cell compares: every file under state_dir with mode, owner and checksum (lock
# files are created empty on first use and never carry data; a user's failed-attempt counts
# change with every password attempt, answered or not (pam_attempts.sh checks them): left out).
state_now() { tree_state "$STATE" | grep -v '\.lock \|\.attempts ' ; }

# ---------------------------------------------------------------- operations
# Each sets ST (PAM status or logtoctl exit code), F (its captured output), MS, GOT (PAM code
# name or exit code) and ERRNAME (the error= it logged).
pam_code_of() { # FILE -> PAM_* name from pamtester's last line
    last=$(grep '^pamtester: ' "$1" | tail -1)
    case "$last" in *"account management done"*) echo PAM_SUCCESS; return ;; esac
    for c in PAM_SUCCESS PAM_AUTH_ERR PAM_USER_UNKNOWN PAM_AUTHINFO_UNAVAIL PAM_CRED_INSUFFICIENT \
        PAM_MAXTRIES PAM_PERM_DENIED PAM_ACCT_EXPIRED PAM_SERVICE_ERR PAM_SYSTEM_ERR; do
        case "$last" in *"$(pam_code_text $c)"*) echo $c; return ;; esac
    done
    echo "?"
}
logged_error() { # FILE -> the error= value of the first auth-failed/account-denied line
    pam_log "$1" | sed -n 's/^\(auth-failed\|account-denied\) .* error=\([a-z-]*\).*/\2/p' | head -1
}
op_dev() { hard_device dev alice alice; }
op_pw() { hard_pam pw bob authenticate bob-pass-1; }
op_mg() { hard_pam mg erin authenticate erin-pass-1; }
op_refresh() { hard_pam refresh rita acct_mgmt; }
op_acct() { hard_pam acct mona acct_mgmt; }
prep_acct() { rm -f "$STATE/tokens/mona.json"; }
op_grace() { hard_pam grace rita acct_mgmt; }
# A fresh session to close (signed in without faults), then the close under the fault.
prep_close() {
    hard_pam pw alice authenticate alice-pass-1
    pam_expect_ok "alice signs in before the close"
    [ -n "$(record_field alice refresh_token)" ] || fail "alice has no refresh token to revoke"
}
op_close() { hard_pam close alice "open_session close_session"; }
op_sync() {
    t0=$(hard_ms)
    hard_ctl --json sync
    MS=$(($(hard_ms) - t0))
    ST=$RC
    F=$H/ctl.$HARD_CTL_N.out.err
}

record_field() { # USER FIELD
    python3 -c '
import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    v = None
print("" if v is None else v)' "$STATE/tokens/$1.json" "$2"
}

# ---------------------------------------------------------------- a cell
CELLS=0
FAILED=0
TABLE=$H/table
: >"$TABLE"
cell_fail() {
    FAILED=$((FAILED + 1))
    VERDICT="FAIL($1)"
    echo "FAIL: $OP $EP $FAULT: $1" >&2
    [ -z "${F:-}" ] || sed 's/^/    /' "$F" | tail -n 12 >&2
}

inject() {
    idp_ctl DELETE /faults >/dev/null
    if [ "$FAULT" = down ]; then
        idp_ctl POST /down >/dev/null || fail "down"
    else
        c=
        [ -z "$COUNT" ] || c=",\"count\":$COUNT"
        idp_ctl POST /faults "{\"endpoint\":\"$EP\",\"fault\":\"$FAULT\"$c}" >/dev/null ||
            fail "inject $FAULT on $EP"
    fi
}

# cell OP ENDPOINT FAULT WANT [COUNT]: WANT is the PAM code (or sync exit code) expected.
cell() {
    OP=$1 EP=$2 FAULT=$3 WANT=$4 COUNT=${5:-}
    if hard_slow && [ "$FAULT" = hang ]; then return 0; fi
    CELLS=$((CELLS + 1))
    VERDICT=ok
    want_err=$(class "$FAULT")
    # Make the cached documents and tokens miss, so the request reaches the faulty endpoint.
    case "$EP" in
    discovery) rm -f "$CACHE/discovery.json" "$CACHE/jwks.json" ;;
    jwks) rm -f "$CACHE/jwks.json" ;;
    token) [ "$OP" = mg ] || [ "$OP" = acct ] || [ "$OP" = sync ] && rm -f "$STATE/m2m-token.json" ;;
    esac
    if command -v "prep_$OP" >/dev/null; then "prep_$OP"; fi
    before=$(state_now)
    claims_before=$(record_field rita claims_at)
    rt_rita=$(record_field rita refresh_token)
    [ "$OP" = sync ] && snap_before=$(checksum "$SNAP") getent_before=$(hard_getent passwd | sort)
    [ "$FAULT" = hang ] && cell_timeouts "$HARD_CONNECT" "$HARD_TIMEOUT"
    inject
    # A hung request is cut at the configured timeout; should it not be, /down releases it after
    # twice the bound, and the cell fails on its time.
    hangs=0
    [ "$FAULT" = hang ] && hangs=2
    bound=$(((hangs * HARD_TIMEOUT + 6) * 1000))
    [ "$OP" = dev ] && bound=$((bound + 4000)) # poll interval and one retry wait
    hard_slow && bound=$((bound * 10))
    (sleep $((2 * bound / 1000)) && idp_ctl POST /down >/dev/null && sleep 1 &&
        idp_ctl POST /up >/dev/null) >/dev/null 2>&1 &
    watchdog=$!
    "op_$OP"
    kill $watchdog 2>/dev/null
    wait $watchdog 2>/dev/null
    # shellcheck disable=SC2086
    [ "$FAULT" = hang ] && cell_timeouts $LONG_TIMEOUTS
    [ "$FAULT" = down ] && { idp_ctl POST /up >/dev/null || fail "up"; }
    idp_ctl DELETE /faults >/dev/null
    if [ "$OP" = sync ]; then
        GOT=$ST
        ERRNAME=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["error"]["code"])
except Exception: print("-")' "$H/ctl.$HARD_CTL_N.out")
    else
        GOT=$(pam_code_of "$F")
        ERRNAME=$(logged_error "$F")
    fi
    [ -n "$ERRNAME" ] || ERRNAME=-
    after=$(state_now)
    changed=$(printf '%s\n%s\n' "$before" "$after" | sort | uniq -u | awk '{print $1}' | sort -u |
        sed 's|^\./||' | tr '\n' ' ')

    # ---- the result and the log line
    [ "$GOT" = "$WANT" ] || cell_fail "result $GOT, expected $WANT"
    if [ "$WANT" != PAM_SUCCESS ] && [ "$WANT" != 0 ]; then
        [ "$ERRNAME" = "$want_err" ] || cell_fail "error=$ERRNAME, expected $want_err"
    fi
    # ---- time
    [ "$MS" -le "$bound" ] || cell_fail "took $MS ms, bound $bound ms"
    # ---- state_dir: what may change
    allowed=""
    case "$OP:$GOT" in
    *:PAM_SUCCESS | sync:0) allowed="*" ;;
    mg:* | acct:*) allowed="m2m-token.json" ;;
    dev:*) allowed="device-flows" ;; # the device-flow slots' directory, made by the first flow
    sync:*) allowed="m2m-token.json sync.status" ;;
    refresh:* | grace:*) allowed="tokens/rita.json" ;;
    close:*) allowed="tokens/alice.json" ;;
    esac
    for c in $changed; do
        case " $allowed " in *" $c "* | *" * "*) ;; *) cell_fail "$c changed" ;; esac
    done
    case "$OP" in
    refresh | grace)
        if [ "$GOT" != PAM_SUCCESS ]; then
            # A refused ID token keeps the claims; the rotated refresh token is kept (the old
            # one is spent), never dropped.
            [ "$(record_field rita claims_at)" = "$claims_before" ] || cell_fail "claims changed"
            [ -n "$(record_field rita refresh_token)" ] || cell_fail "refresh token dropped"
        fi
        ;;
    sync)
        [ "$(checksum "$SNAP")" = "$snap_before" ] || cell_fail "snapshot changed"
        [ "$(hard_getent passwd | sort)" = "$getent_before" ] || cell_fail "getent answers changed"
        hard_getent passwd newbie >/dev/null && cell_fail "newbie resolves: the sync went through"
        ;;
    close)
        # Bookkeeping never blocks a session; the token is forgotten even when the IdP could
        # not be told.
        [ -z "$(record_field alice refresh_token)" ] || cell_fail "refresh token kept after close"
        # RFC 7009 2.2: the status says it all, a 200 with a garbled body is a revocation. An
        # oversized answer is an answer (error protocol, with its reason), not an unreachable IdP.
        idp=unreachable
        [ "$FAULT" = malformed ] && idp=ok
        [ "$FAULT" = huge ] && idp='protocol reason=".*exceeds [0-9]* bytes"'
        pam_log "$F" | grep -qx "session-revoked user=alice idp=$idp" ||
            cell_fail "no session-revoked idp=$idp line"
        ;;
    esac
    hard_harvest
    printf '%-8s %-11s %-17s %-21s %-21s %-12s %6s %6s  %-24s %s\n' "$OP" "$EP" "$FAULT" "$WANT" \
        "$GOT" "$ERRNAME" "$MS" "$bound" "${changed:--}" "$VERDICT" >>"$TABLE"
}

# row OP WANT_UNREACHABLE WANT_PROTOCOL ENDPOINT...: every network fault on every endpoint,
# then the IdP refusing connections. Under valgrind: one fault per endpoint, rotating, so the
# operations together still meet every fault.
ROT=0
row() {
    r_op=$1 r_u=$2 r_p=$3
    shift 3
    for ep in "$@"; do
        ROT=$((ROT + 1))
        i=0
        for f in $NETWORK; do
            i=$((i + 1))
            hard_slow && [ $((ROT % 6 + 1)) != $i ] && continue
            case $(class "$f") in unreachable) w=$r_u ;; *) w=$r_p ;; esac
            cell "$r_op" "$ep" "$f" "$w"
        done
    done
    cell "$r_op" "*" down "$r_u"
}

AU=PAM_AUTHINFO_UNAVAIL
# ---- device flow: discovery, device authorization, token (poll), JWKS, userinfo. A poll that
# cannot reach the IdP is retried (count 1: it recovers); a garbled poll answer ends the flow.
row dev $AU $AU discovery device_auth jwks userinfo
for f in $NETWORK; do
    case $(class "$f") in unreachable) w=PAM_SUCCESS ;; *) w=$AU ;; esac
    hard_slow && [ "$f" != http500 ] && [ "$f" != huge ] && continue
    cell dev token "$f" "$w" 1
done
for f in $IDTOKEN; do
    hard_slow && [ "$f" != alg_none ] && continue
    cell dev token "$f" PAM_AUTH_ERR 1
done
# ---- password: Experience API sign-in (authorization request, Experience API, code exchange)
row pw $AU $AU discovery auth experience token jwks userinfo
for f in $IDTOKEN; do
    hard_slow && [ "$f" != bad_signature ] && continue
    cell pw token "$f" PAM_AUTH_ERR
done
# ---- password: Management API check (M2M token, then the API; it needs no discovery)
row mg $AU $AU token mgmt
# ---- account phase, stale claims: the refresh grant, the ID token's keys, userinfo
row refresh PAM_PERM_DENIED PAM_PERM_DENIED discovery token jwks userinfo
for f in $IDTOKEN; do
    hard_slow && [ "$f" != unknown_kid ] && continue
    cell refresh token "$f" PAM_PERM_DENIED
done
# ---- account phase without a record: the Management API
row acct PAM_PERM_DENIED PAM_PERM_DENIED token mgmt
# ---- session close with revoke_on_close: the revocation endpoint
row close PAM_SUCCESS PAM_SUCCESS revocation
# ---- sync: M2M token and Management API (exit 4: unreachable, 1: anything else)
row sync 4 1 token mgmt

# ---- offline_grace: only an unreachable IdP lets cached claims decide; an IdP that answers
# wrongly (garbled, oversized, forged ID token) never does.
for f in http500 truncated down; do cell grace token "$f" PAM_SUCCESS; done
for f in malformed huge; do cell grace token "$f" PAM_PERM_DENIED; done
for f in bad_signature alg_none; do cell grace token "$f" PAM_PERM_DENIED; done
grep -q '^grace .*PAM_SUCCESS .*ok$' "$TABLE" || fail "no offline decision was made"
assert_logged "$(ls "$PAM_DIR"/out.*.grace.rita | head -1)" "decided=cached offline=yes$" "grace"

echo "fault matrix: $CELLS cells"
printf '%-8s %-11s %-17s %-21s %-21s %-12s %6s %6s  %-24s %s\n' op endpoint fault expected got \
    error ms bound "state changed" verdict
cat "$TABLE"
[ "$FAILED" = 0 ] || fail "$FAILED check(s) failed in the fault matrix"

# ---- after all of it every operation works again, and no session was lost
hard_device dev alice alice
pam_expect_ok "device sign-in after the faults"
hard_pam pw bob authenticate bob-pass-1
pam_expect_ok "password sign-in after the faults"
hard_pam mg erin authenticate erin-pass-1
pam_expect_ok "management sign-in after the faults"
hard_pam refresh rita acct_mgmt
pam_expect_ok "rita's session survived every fault"
assert_logged "$F" "decided=refreshed"
hard_ctl sync
[ "$RC" = 0 ] || fail "sync after the faults: $ERR"
hard_getent passwd newbie >/dev/null || fail "newbie does not resolve after a good sync"

# ---- key rotation in the middle of a session: EC -> RSA -> EC. The module refetches the JWKS
# for an unknown kid at most once a minute (the last such refetch of any process counts; 10 s for
# a token newer than the key set): the cached copy is made two minutes older first, as if the
# rotation came later in a quiet system.
age_jwks_cache() {
    python3 - "$CACHE/jwks.json" <<'PY' || fail "could not age the JWKS cache"
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
doc["fetched_at"] -= 120
if "refetched_at" in doc:
    doc["refetched_at"] -= 120
with open(path, "r+") as f:
    f.seek(0)
    f.write(json.dumps(doc))
    f.truncate()
PY
}
for kty in RSA EC; do
    age_jwks_cache
    kid=$(idp_json_field "$(idp_ctl POST /keys/rotate "{\"type\":\"$kty\"}")" kid)
    hard_allow "$kid"
    hard_pam refresh rita acct_mgmt
    pam_expect_ok "refresh after rotating to $kty"
    assert_logged "$F" "^oidc-jwks-refetch reason=unknown-kid kid=$kid$" "refresh after rotating to $kty"
    hard_device dev alice alice
    pam_expect_ok "device sign-in after rotating to $kty"
    hard_pam pw bob authenticate bob-pass-1
    pam_expect_ok "password sign-in after rotating to $kty"
    hard_pam refresh rita acct_mgmt
    pam_expect_ok "second refresh with $kty keys"
    assert_not_logged "$F" "oidc-jwks-refetch"
done

hard_done
