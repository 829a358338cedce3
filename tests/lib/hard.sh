# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared set-up of the hardening tests (tests/hardening/*.sh). Source it, then call
# `hard_enter "$@"` first thing. Built on the end-to-end world (tests/lib/e2e.sh): the test runs
# as root in a private mount and PID namespace with a copy of /etc, private /var/lib/logto and
# /var/cache/logto (the modules' compiled-in state_dir and cache_dir), glibc loading
# libnss_logto.so.2 for getent, and a syslog sink on /dev/log ($E2E_SYSLOG). PAM runs through
# pamtester and pam_wrapper (tests/lib/pam.sh), so every line the module logs lands in the
# captured output, also in the ASan build (the sanitizer runtime is preloaded into pamtester and
# getent). The host is fingerprinted before and after and must be unchanged.
#
#   hard_enter "$@"                 skip (77) unless root, pamtester, pam_wrapper and the module;
#                                   enter the namespace; sets H (captured outputs), P (private
#                                   files: hold secrets, never scanned), STATE, CACHE, CFG, SNAP,
#                                   KEYS, PAM_DIR
#   hard_idp_start [idp options]    the test IdP, its CA at /etc/logto/ca.pem, m2m.secret
#   hard_config [INI]               /etc/logto/logto.conf with short network timeouts
#                                   (connect HARD_CONNECT s, total HARD_TIMEOUT s; long ones
#                                   under $LOGTO_TEST_WRAPPER) and the given sections
#   hard_services NAME...           PAM services NAME (auth + account, pam_logto with the default
#                                   configuration) in $PAM_DIR/pam.d
#   hard_pam [-I item=v] SVC USER OPS [ANSWER...]
#                                   pam_try, timed: sets F, ST and MS (elapsed milliseconds)
#   hard_device SVC USER APPROVER [OPS]
#                                   a device-flow sign-in through pamtester; APPROVER approves
#                                   the code shown ("-": nobody). Sets F, ST, MS, CODE ("" when
#                                   no code was shown)
#   hard_getent ARGS...             getent through glibc and libnss_logto (under the wrapper)
#   hard_ctl ARGS...                logtoctl with stdout/stderr captured under $H; sets OUT
#                                   (stdout), ERR (stderr) and RC
#   hard_ms                         milliseconds since the epoch
#   hard_secret VALUE...            remember secrets the test knows (passwords, PATs, codes)
#   hard_harvest                    remember every secret in the state now: refresh tokens and
#                                   verifiers of every token record, the M2M access token, and
#                                   the IdP's key IDs (allowed: logged by design)
#   hard_check_secrets              fail if any remembered secret, or anything shaped like a
#                                   token (a JWT, a 43-character random base64url string, a
#                                   PAT), appears in syslog or any file under $H
#   hard_done                       hard_check_secrets, no valgrind error reported; prints ok
#
# Why this layout: $H holds only what the test captured (conversation, PAM log lines, logtoctl
# output, getent answers), so "no secret in $H or syslog" is the whole claim; copies of token
# records and the typed answers live in $P.

. "$top_srcdir/tests/integration/sync_lib.sh"
. "$top_srcdir/tests/lib/pam.sh"
. "$top_srcdir/tests/lib/e2e.sh"

hard_enter() {
    pam_require
    need_cmd python3 sha256sum
    if [ "${LOGTO_E2E_INNER:-}" != 1 ]; then
        # tests/lib/e2e.sh skips ASan builds because its real clients (setuid sudo and su, sshd)
        # cannot load instrumented modules. These tests start only pamtester, getent and our
        # own programs, with the sanitizer runtime preloaded (module_preload), so they run.
        HARD_SANITIZE=${LOGTO_SANITIZE:-}
        export HARD_SANITIZE
        unset LOGTO_SANITIZE
    fi
    e2e_enter "$@"
    if [ -n "${HARD_SANITIZE:-}" ]; then
        LOGTO_SANITIZE=$HARD_SANITIZE
        export LOGTO_SANITIZE
    fi
    H=$R/hard
    P=$R/private
    mkdir -m 0755 "$H"
    mkdir -m 0700 "$P"
    PAM_DIR=$H
    HARD_SECRETS=$P/secrets
    HARD_ALLOWED=$P/allowed
    : >"$HARD_SECRETS"
    : >"$HARD_ALLOWED"
    STATE=/var/lib/logto
    CACHE=/var/cache/logto
    CFG=/etc/logto/logto.conf
    SNAP=$STATE/directory.snapshot
    KEYS=$STATE/keys
    export H P STATE CACHE CFG SNAP KEYS
    # pam_test_done's valgrind error list lives in the namespace's tmpfs.
    PAM_WRAPPER_ERRORS=$P/wrapper-errors
    : >"$PAM_WRAPPER_ERRORS"
    # A failure also shows the last lines of the IdP's log and of syslog.
    fail() {
        echo "FAIL: $*" >&2
        if [ -n "${IDP_LOG:-}" ] && [ -s "$IDP_LOG" ]; then
            echo "---- last lines of the IdP log" >&2
            tail -n 15 "$IDP_LOG" >&2
        fi
        if [ -s "${E2E_SYSLOG:-}" ]; then
            echo "---- last lines of syslog" >&2
            tail -n 15 "$E2E_SYSLOG" >&2
        fi
        exit 1
    }
}

hard_idp_start() {
    e2e_idp_start "$@"
    hard_secret m2m-secret
}

# Under valgrind a TLS handshake takes seconds: long timeouts then (and the hang faults, which
# wait for them, are left out by the tests that use them).
hard_slow() { [ -n "${LOGTO_TEST_WRAPPER:-}" ]; }
# The fault matrix wants short timeouts (its hang cells wait for them); tests that load the
# machine (threads, many processes) set longer ones before hard_config.
HARD_CONNECT=${HARD_CONNECT:-1}
HARD_TIMEOUT=${HARD_TIMEOUT:-2}

hard_config() {
    e2e_config "${1:-}"
    if hard_slow; then
        HARD_CONNECT=60 HARD_TIMEOUT=120
    fi
    sed -i -e "s/^connect_timeout = .*/connect_timeout = ${HARD_CONNECT}s/" \
        -e "s/^timeout = .*/timeout = ${HARD_TIMEOUT}s/" "$CFG"
}

hard_services() {
    for s in "$@"; do
        pam_service "$PAM_DIR/pam.d" "$s" "auth required $LOGTO_PAM_MODULE" \
            "account required $LOGTO_PAM_MODULE"
    done
}

hard_ms() { echo $(($(date +%s%N) / 1000000)); }

# pam_try keeps the typed answers in $PAM_DIR/N.in: move them to $P (passwords).
hard_pam() {
    hp_t0=$(hard_ms)
    pam_try "$@"
    MS=$(($(hard_ms) - hp_t0))
    mv "$PAM_DIR/$PAM_TRY_N.in" "$P/$PAM_TRY_N.in" 2>/dev/null || :
}

hard_device() { # SVC USER APPROVER [OPS]
    hd_svc=$1 hd_user=$2 hd_by=$3 hd_ops=${4:-authenticate}
    PAM_TRY_N=$((PAM_TRY_N + 1))
    F=$PAM_DIR/out.$PAM_TRY_N.$hd_svc.$hd_user
    hp_t0=$(hard_ms)
    # shellcheck disable=SC2086
    pamtester_run "$PAM_DIR/pam.d" "$hd_svc" "$hd_user" $hd_ops </dev/null >"$F" 2>&1 &
    hd_pid=$!
    CODE=
    # A code appears, or pamtester ends first (a fault before the code was shown).
    hd_i=0
    while kill -0 $hd_pid 2>/dev/null; do
        CODE=$(grep -oE '[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}' "$F" 2>/dev/null | head -1)
        [ -z "$CODE" ] || break
        hd_i=$((hd_i + 1))
        [ $hd_i -lt 1200 ] || { kill $hd_pid; fail "no device code and no end: $(cat "$F")"; }
        sleep 0.05
    done
    if [ -n "$CODE" ] && [ "$hd_by" != - ]; then
        idp_ctl POST /device/approve "{\"user_code\":\"$CODE\",\"username\":\"$hd_by\"}" \
            >"$P/approve.out" 2>&1 || fail "the control API did not approve $CODE: $(cat "$P/approve.out")"
    fi
    wait $hd_pid
    ST=$?
    MS=$(($(hard_ms) - hp_t0))
}

hard_getent() {
    LD_PRELOAD=$(module_preload) wrap getent "$@"
}

HARD_CTL_N=0
hard_ctl() {
    HARD_CTL_N=$((HARD_CTL_N + 1))
    hc_out=$H/ctl.$HARD_CTL_N.out
    wrap "$LOGTOCTL" "$@" >"$hc_out" 2>"$hc_out.err"
    RC=$?
    OUT=$(cat "$hc_out")
    ERR=$(cat "$hc_out.err")
    if [ "$RC" = 99 ] && hard_slow; then
        echo "logtoctl $*" >>"$PAM_WRAPPER_ERRORS"
    fi
    return 0
}

# ---------------------------------------------------------------- secrets

hard_secret() {
    for s in "$@"; do
        [ -n "$s" ] && printf '%s\n' "$s" >>"$HARD_SECRETS"
    done
    return 0
}

# Values that look like tokens but are logged by design (key IDs: RFC 7638 thumbprints).
hard_allow() {
    for s in "$@"; do
        [ -n "$s" ] && printf '%s\n' "$s" >>"$HARD_ALLOWED"
    done
    return 0
}

hard_harvest() {
    python3 - "$STATE" >>"$HARD_SECRETS" <<'PY'
import glob, json, os, sys
state = sys.argv[1]
files = glob.glob(os.path.join(state, "tokens", "*.json")) + [os.path.join(state, "m2m-token.json")]
for f in files:
    try:
        d = json.load(open(f))
    except Exception:
        continue
    for k in ("refresh_token", "verifier", "access_token"):
        if isinstance(d.get(k), str) and d[k]:
            print(d[k])
PY
    # Key IDs are logged by design (kid=...), also those of forged tokens (the unknown_kid fault).
    grep -rhoE 'kid=[A-Za-z0-9_-]+' "$H" 2>/dev/null | sed 's/^kid=//' >>"$HARD_ALLOWED"
    if [ -n "${IDP_CONTROL:-}" ]; then
        idp_ctl GET /keys 2>/dev/null | python3 -c '
import json, sys
for k in json.load(sys.stdin):
    print(k["kid"])' >>"$HARD_ALLOWED" 2>/dev/null
    fi
    return 0
}

hard_check_secrets() {
    hard_harvest
    sort -u -o "$HARD_SECRETS" "$HARD_SECRETS"
    sort -u -o "$HARD_ALLOWED" "$HARD_ALLOWED"
    find "$H" -type f >"$P/scanned"
    [ -s "${E2E_SYSLOG:-}" ] && echo "$E2E_SYSLOG" >>"$P/scanned"
    [ -s "$P/scanned" ] || fail "hard_check_secrets: nothing was captured"
    python3 - "$HARD_SECRETS" "$HARD_ALLOWED" "$P/scanned" <<'PY' || fail "a secret leaked (see above)"
import re, sys
secrets = [s for s in open(sys.argv[1]).read().split("\n") if s]
allowed = set(s for s in open(sys.argv[2]).read().split("\n") if s)
files = [f for f in open(sys.argv[3]).read().split("\n") if f]
# Shapes: a JWT (header.payload.), a personal access token, and a 43-character base64url string
# with upper case, lower case and digits (oidc-provider's opaque access, refresh and ID tokens,
# device codes, authorization codes: 32 random bytes) that is not an allowed value (key IDs).
jwt = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
pat = re.compile(rb"pat_[A-Za-z0-9]{32}")
b64 = re.compile(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
pwrap = re.compile(rb"^PWRAP_[A-Z]*\[[^]]*\] - ", re.M)
bad = 0
for f in files:
    try:
        data = pwrap.sub(b"", open(f, "rb").read())
    except OSError:
        continue
    for i, s in enumerate(secrets):
        b = s.encode()
        hit = re.search(rb"(?<![0-9])" + re.escape(b) + rb"(?![0-9])", data) if s.isdigit() else (b in data)
        if hit:
            print("secret #%d (%s...) found in %s" % (i, s[:4], f))
            bad += 1
    for rx, what in ((jwt, "a JWT"), (pat, "a personal access token")):
        m = rx.search(data)
        if m:
            print("%s found in %s" % (what, f))
            bad += 1
    for m in b64.finditer(data):
        v = m.group(0)
        if v.decode() in allowed:
            continue
        if re.search(rb"[a-z]", v) and re.search(rb"[A-Z]", v) and re.search(rb"[0-9]", v):
            print("a token-shaped string (%s...) found in %s" % (v[:4].decode(), f))
            bad += 1
            break
sys.exit(1 if bad else 0)
PY
    echo "secrets: $(wc -l <"$HARD_SECRETS") known secrets and every token shape checked in $(wc -l <"$P/scanned") captured files"
}

hard_done() {
    if [ -s "$PAM_WRAPPER_ERRORS" ]; then
        fail "$LOGTO_TEST_WRAPPER reported errors in: $(tr '\n' ';' <"$PAM_WRAPPER_ERRORS")"
    fi
    hard_check_secrets
    echo ok
}
