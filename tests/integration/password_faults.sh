#!/bin/sh
# SPDX-License-Identifier: MIT
# Network faults during the password flows: every fault of the test IdP (reset, hang, http500,
# malformed, truncated, huge) on the authorization request, the Experience API, the token
# endpoint (code exchange, M2M token), the Management API and userinfo. No answer, a hang (cut
# by the configured timeout) or a 5xx is LOGTO_E_UNREACHABLE (the only error offline
# fallbacks act on); a garbled or oversized answer is LOGTO_E_PROTOCOL. Nothing hangs, nothing
# leaks, and the next sign-in works.
. "$top_srcdir/tests/integration/password_lib.sh"

pw_start

expected() { # FAULT -> error name
    case "$1" in
    reset | hang | http500 | truncated) echo unreachable ;;
    malformed | huge) echo protocol ;;
    esac
}

# count 2: libcurl silently retries a request once on a fresh connection when a reused one dies
# before any answer (the reset fault on a kept-alive connection), so one reset is not enough.
fault() { # ENDPOINT FAULT
    idp_ctl DELETE /faults >/dev/null
    idp_ctl POST /faults "{\"endpoint\":\"$1\",\"fault\":\"$2\",\"count\":2}" >/dev/null ||
        fail "cannot set fault $2 on $1"
}

# A first sign-in fills the discovery and JWKS caches, so the faults below hit the flow itself.
pw experience alice alice-pass-1
expect_ok "warm-up sign-in"
ft mgmt-token
expect_ok "warm-up M2M token"

for f in reset hang http500 malformed truncated huge; do
    under_wrapper && [ "$f" = hang ] && continue
    want=$(expected "$f")
    for ep in auth experience token; do
        fault "$ep" "$f"
        t0=$(date +%s)
        pw experience alice alice-pass-1
        expect_error "$want" "" "experience: $f on $ep"
        [ "$f" != hang ] || echo "hang on $ep: gave up after $(($(date +%s) - t0)) s ($(grep "^timeout" "$CFG"))" >&2
    done

    # Management API check: the API itself, and the M2M token request (cache dropped first).
    fault mgmt "$f"
    pw management alice alice-pass-1
    expect_error "$want" "" "management: $f on mgmt"
    ft mgmt-forget
    expect_ok "forget the M2M token"
    fault token "$f"
    pw management alice alice-pass-1
    expect_error "$want" "" "management: $f on the M2M token request"

    # PAT exchange: the token endpoint and userinfo.
    for ep in token userinfo; do
        fault "$ep" "$f"
        pw pat alice pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx
        expect_error "$want" "" "pat: $f on $ep"
    done
done
idp_ctl DELETE /faults >/dev/null

# Everything works again, and the failed attempts locked nobody out.
pw experience alice alice-pass-1
expect_ok "experience after the faults"
pw management alice alice-pass-1
expect_ok "management after the faults"
pw pat alice pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx
expect_ok "pat after the faults"

M2M_TOKEN=$(jget "$(cat "$T/state/m2m-token.json")" .access_token)
check_secrets alice-pass-1 pat_AdjfWRyD6ScO8TZHWiVt3o8MRzMk2rBx "$M2M_SECRET" "$M2M_TOKEN"
exit 0
