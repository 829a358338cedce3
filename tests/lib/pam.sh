# SPDX-License-Identifier: MIT
# Helpers for tests that drive pam_logto.so through pamtester and pam_wrapper (no /etc change).
# Source after testenv.sh and idp.sh.
#
#   pam_require                         skip (77) unless root, pamtester, pam_wrapper, the module
#   pam_service DIR NAME LINE...        write a PAM service file NAME in DIR (pam_wrapper's dir)
#   pamtester_run DIR SERVICE USER OP... [pamtester -I/-E options go first: -I tty=/dev/pts/1]
#                                       run pamtester under pam_wrapper (and $LOGTO_TEST_WRAPPER;
#                                       $PAM_EXTRA_PRELOAD is preloaded too, e.g. nss_wrapper);
#                                       stdin is the conversation. The module's pam_syslog lines
#                                       are in its stderr as "SYSLOG(prio): event ..." (pam_wrapper
#                                       prints them at PAM_WRAPPER_DEBUGLEVEL=2), so redirecting
#                                       2>&1 into a file captures the conversation and the log.
#   pam_write_config FILE STATE_DIR [INI]  write_config (testenv.sh), plus a conf.d drop-in with
#                                       long network timeouts under $LOGTO_TEST_WRAPPER (TLS
#                                       handshakes under valgrind take seconds)
#   pam_slow                            true under $LOGTO_TEST_WRAPPER (scale waits with it)
#   pam_seed_snapshot STATE USER...     write STATE/directory.snapshot holding these test IdP
#                                       users (their real subs), as an earlier sign-in on this
#                                       host would: a host without [sync] sends a password only
#                                       for a name in its snapshot (logto_auth_gate)
#   pam_try [-I item=value]... SERVICE USER OPS [ANSWER...]
#                                       pamtester_run with $PAM_DIR/pam.d, OPS one word list
#                                       ("authenticate acct_mgmt"), the answers as stdin lines
#                                       (kept in $PAM_DIR/N.in); sets F (the output) and ST
#   pam_expect_ok WHAT                  the last pam_try succeeded
#   pam_expect CODE WHAT [TEXT]         it failed with CODE and showed TEXT to the user
#   pam_log FILE                        the module's log lines in a captured output
#   assert_logged FILE REGEX [WHAT]     one of them matches the extended REGEX
#   assert_not_logged FILE REGEX [WHAT]
#   assert_pam_code FILE CODE [WHAT]    pamtester reported the PAM code CODE (PAM_AUTH_ERR...)
#                                       for the last operation (matched through pam_strerror)
#   wait_for_code FILE                  the device user code once it appears (20 s at most)
#   wait_for_text FILE TEXT [SECONDS]   wait until FILE contains TEXT (both wait 6 times longer
#                                       under $LOGTO_TEST_WRAPPER)
#   pam_codes_setup DIR                 skip (77) unless tests/module/test_pam_codes is built; copy
#                                       it into DIR (which must hold pam.d/), for pam_code
#   pam_code [--nobody] [--direct ARG... --] SERVICE USER OP EXPECTED [ANSWER...]
#                                       one test_pam_codes case (the exact PAM code; see its
#                                       header) under pam_wrapper with DIR/pam.d, $PAM_EXTRA_PRELOAD
#                                       preloaded too; --nobody runs it as UID 65534. Fails the
#                                       test unless the code is EXPECTED; F is its output
#   pam_test_done DIR SECRET...         end of a test: no valgrind error was reported by any
#                                       pamtester_run, and no SECRET appears in any file under
#                                       DIR (captured outputs, logs; not state/, *.secret, *.in)
#                                       or in the IdP's log; prints ok
#
# Why pam_wrapper's log capture: libpam's pam_syslog is the only way the module logs (common/log
# goes through the sink pam_logto installs), and pam_wrapper replaces pam_syslog/pam_vsyslog,
# so every line the module would send to syslog lands in the captured output without root,
# without a syslog daemon and without touching /dev/log. PAM_WRAPPER_DEBUGLEVEL stays at 2:
# level 3 (trace) makes pam_wrapper itself print PAM_AUTHTOK values.

# pam_require: every PAM test's first call. Skips (77) unless it can run: root (pam_logto trusts
# only root's files: configuration, token store), pamtester, stdbuf, pam_wrapper, the module.
pam_require() {
    need_root
    need_cmd stdbuf
    [ -n "${PAMTESTER:-}" ] && [ -x "$PAMTESTER" ] || skip "pamtester is not installed"
    [ -n "${PAM_WRAPPER_LIB:-}" ] || skip "pam_wrapper is not installed"
    [ -f "${LOGTO_PAM_MODULE:-}" ] || skip "pam_logto.so is not built (LOGTO_PAM_MODULE)"
}

# pam_service DIR NAME LINE...: write a PAM service file NAME in DIR (a pam_wrapper service dir).
pam_service() {
    # Prefixed names: POSIX sh has no locals, and callers have their own d and n.
    ps_d=$1 ps_n=$2
    shift 2
    mkdir -p "$ps_d"
    : >"$ps_d/$ps_n"
    for ps_l in "$@"; do printf '%s\n' "$ps_l" >>"$ps_d/$ps_n"; done
    # pam_wrapper warns without a default service.
    [ -f "$ps_d/other" ] ||
        printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$ps_d/other"
}

# Where pamtester_run notes wrapper (valgrind) errors; pam_test_done fails if it is not empty.
PAM_WRAPPER_ERRORS=${PAM_WRAPPER_ERRORS:-${TMPDIR:-/tmp}/logto-pam-wrapper-errors.$$}
at_exit "rm -f '$PAM_WRAPPER_ERRORS'"

# pamtester_run DIR [-I item=value | -E var=value]... SERVICE USER OP...: run pamtester under
# pam_wrapper with DIR as the service directory; stdin is the conversation input. Output is
# line-buffered so tests can read the device code while the module polls (stdbuf's library,
# preloaded: valgrind checks pamtester itself).
pamtester_run() {
    d=$1
    shift
    need_cmd pamtester stdbuf
    [ -n "${PAM_WRAPPER_LIB:-}" ] || skip "pam_wrapper is not installed"
    # pam_wrapper copies the service files to /tmp/pam.<one character> chosen from the pid, and
    # two pamtesters of parallel tests can pick the same one: the loser exits in pam_start with
    # "Failed to copy config files", or another one takes a directory just made (its pid file not
    # yet written) for stale and removes it ("error reading PAM configuration file", or a crash
    # in pam_wrapper's constructor). A pamtester that never got past pam_start is retried (no
    # module of the stack ran, nothing was asked or sent), and so is one whose pam_wrapper
    # reported trouble with its directory (it took another one's, or removed one) and in which
    # pam_logto logged no event (auth-failed, ...): its stack never ran either. stderr (where
    # pamtester and misc_conv write) still streams; tee keeps a copy to look at.
    # pamtester's output is line-buffered by stdbuf's library, preloaded into pamtester itself:
    # a stdbuf process would load pam_wrapper too and leave its /tmp/pam.X behind at the exec,
    # for a later pam_wrapper to clean up as stale while racing with fresh ones.
    pr_pre=$PAM_WRAPPER_LIB pr_stdbuf="stdbuf -oL -e0"
    for pr_lib in /usr/libexec/coreutils/libstdbuf.so /usr/lib/coreutils/libstdbuf.so; do
        if [ -r "$pr_lib" ]; then
            pr_pre="$PAM_WRAPPER_LIB $pr_lib" pr_stdbuf=
            break
        fi
    done
    pr_err=$(mktemp "${TMPDIR:-/tmp}/logto-pamtester.XXXXXX") || fail "mktemp"
    pr_fifo=$pr_err.fifo
    pr_try=0
    while :; do
        rm -f "$pr_fifo"
        mkfifo "$pr_fifo" || fail "mkfifo"
        tee "$pr_err" <"$pr_fifo" >&2 &
        pr_tee=$!
        # shellcheck disable=SC2046,SC2086
        LD_PRELOAD="$(module_preload "$pr_pre${PAM_EXTRA_PRELOAD:+ $PAM_EXTRA_PRELOAD}")" \
            _STDBUF_O=L _STDBUF_E=0 PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d" \
            PAM_WRAPPER_DEBUGLEVEL=2 $pr_stdbuf ${LOGTO_TEST_WRAPPER:-} "$PAMTESTER" -v "$@" \
            2>"$pr_fifo"
        pr_rc=$?
        wait "$pr_tee"
        pr_try=$((pr_try + 1))
        if [ "$pr_rc" != 0 ] && [ "$pr_try" -lt 5 ] &&
            { ! grep -q 'pamtester: performing operation' "$pr_err" ||
                { grep -qE 'PWRAP_ERROR.*(config dir|parse pid|copy config|no default config)' "$pr_err" &&
                    ! grep -qE 'SYSLOG\([0-9]+\): [a-z]+-[a-z-]+ ' "$pr_err"; }; }; then
            echo "pamtester_run: pam_wrapper lost a race for its /tmp/pam.X directory; again" >&2
            sleep "0.$(($$ % 7 + pr_try))"
            continue
        fi
        break
    done
    rm -f "$pr_err" "$pr_fifo"
    if [ "$pr_rc" = 99 ] && [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
        echo "pamtester_run: $LOGTO_TEST_WRAPPER reported errors for: $*" >&2
        echo "$*" >>"$PAM_WRAPPER_ERRORS"
    fi
    return $pr_rc
}

pam_slow() { [ -n "${LOGTO_TEST_WRAPPER:-}" ]; }

pam_write_config() { # FILE STATE_DIR [INI]
    write_config "$@"
    if pam_slow; then
        mkdir -p "$(dirname "$1")/conf.d"
        printf '[logto]\nconnect_timeout = 60s\ntimeout = 120s\n' \
            >"$(dirname "$1")/conf.d/50-slow.conf"
        chmod 0644 "$(dirname "$1")/conf.d/50-slow.conf"
    fi
}

pam_seed_snapshot() { # STATE USER...
    pss_state=$1
    shift
    pss_uid=1900000000
    : >"$pss_state/seed.txt"
    for pss_u in "$@"; do
        pss_sub=$(idp_json_field "$(idp_ctl GET "/users/$pss_u")" sub)
        [ -n "$pss_sub" ] || fail "pam_seed_snapshot: no sub for $pss_u"
        pss_uid=$((pss_uid + 1))
        printf 'user:%s:%s:%s::/home/%s:/bin/bash:%s\n' "$pss_u" "$pss_uid" "$pss_uid" "$pss_u" \
            "$pss_sub" >>"$pss_state/seed.txt"
    done
    "$top_builddir/tests/lib/mksnapshot" "$pss_state/seed.txt" "$pss_state/directory.snapshot" ||
        fail "pam_seed_snapshot: mksnapshot failed"
}

PAM_TRY_N=0
pam_try() {
    pt_opts=""
    while [ "$1" = -I ] || [ "$1" = -E ]; do
        pt_opts="$pt_opts $1 $2"
        shift 2
    done
    pt_svc=$1 pt_user=$2 pt_ops=$3
    shift 3
    PAM_TRY_N=$((PAM_TRY_N + 1))
    F=$PAM_DIR/out.$PAM_TRY_N.$pt_svc.$pt_user
    : >"$PAM_DIR/$PAM_TRY_N.in"
    for a in "$@"; do printf '%s\n' "$a" >>"$PAM_DIR/$PAM_TRY_N.in"; done
    # shellcheck disable=SC2086
    pamtester_run "$PAM_DIR/pam.d" $pt_opts "$pt_svc" "$pt_user" $pt_ops \
        <"$PAM_DIR/$PAM_TRY_N.in" >"$F" 2>&1
    ST=$?
}

pam_expect_ok() { # WHAT
    [ "$ST" = 0 ] || fail "$1: expected success: $(cat "$F")"
}

pam_expect() { # CODE WHAT [TEXT]
    [ "$ST" != 0 ] || fail "$2: succeeded, expected $1: $(cat "$F")"
    assert_pam_code "$F" "$1" "$2"
    [ $# -lt 3 ] || assert_contains "$(cat "$F")" "$3" "$2"
}

# pam_log FILE: the lines the module logged (pam_syslog) in a captured pamtester output.
pam_log() {
    sed -n 's/^.*SYSLOG([0-9]*): //p' "$1"
}

assert_logged() { # FILE REGEX [WHAT]
    pam_log "$1" | grep -qE -- "$2" ||
        fail "${3:-the module} did not log /$2/; its log: $(pam_log "$1" | tr '\n' '|')"
}

assert_not_logged() { # FILE REGEX [WHAT]
    ! pam_log "$1" | grep -qE -- "$2" || fail "${3:-the module} logged /$2/"
}

# The pam_strerror text of a PAM code (Linux-PAM's wording), for pamtester's messages.
pam_code_text() {
    case "$1" in
    PAM_SUCCESS) echo "successfully" ;;
    PAM_AUTH_ERR) echo "Authentication failure" ;;
    PAM_USER_UNKNOWN) echo "User not known to the underlying authentication module" ;;
    PAM_AUTHINFO_UNAVAIL) echo "Authentication service cannot retrieve authentication info" ;;
    PAM_CRED_INSUFFICIENT) echo "Insufficient credentials to access authentication data" ;;
    PAM_MAXTRIES) echo "Have exhausted maximum number of retries for service" ;;
    PAM_PERM_DENIED) echo "Permission denied" ;;
    PAM_ACCT_EXPIRED) echo "User account has expired" ;;
    PAM_SERVICE_ERR) echo "Error in service module" ;;
    PAM_SYSTEM_ERR) echo "System error" ;;
    PAM_ABORT) echo "Critical error - immediate abort" ;;
    *) fail "pam_code_text: unknown code $1" ;;
    esac
}

# assert_pam_code FILE CODE [WHAT]: pamtester's last line names CODE's pam_strerror text.
assert_pam_code() {
    apc_text=$(pam_code_text "$2")
    apc_last=$(grep '^pamtester: ' "$1" | tail -1)
    case "$apc_last" in
    *"$apc_text"*) ;;
    *) fail "${3:-pamtester}: expected $2 ('$apc_text'), got '$apc_last'; output: $(cat "$1")" ;;
    esac
}

# wait_for_code FILE: print the device user code once it appears in FILE (at most 20 s; 120 s
# under valgrind).
wait_for_code() {
    i=0 wfc_n=200
    pam_slow && wfc_n=1200
    while [ $i -lt $wfc_n ]; do
        c=$(grep -oE '[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}' "$1" 2>/dev/null | head -1)
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# wait_for_text FILE TEXT [SECONDS]: true once FILE contains TEXT (fixed string).
wait_for_text() {
    wft_n=$((${3:-20} * 10))
    pam_slow && wft_n=$((wft_n * 6))
    i=0
    while [ $i -lt "$wft_n" ]; do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

pam_codes_setup() {
    pcs_prog=$top_builddir/tests/module/test_pam_codes
    [ -x "$pcs_prog" ] || skip "tests/module/test_pam_codes is not built (needs libpamtest)"
    # A copy anyone can run, whatever the build directory's permissions (--nobody).
    PAM_CODES=$1/test_pam_codes PAM_CODES_DIR=$1 PAM_CODES_N=0
    cp "$pcs_prog" "$PAM_CODES"
    chmod 0755 "$PAM_CODES"
}

pam_code() {
    PAM_CODES_N=$((PAM_CODES_N + 1))
    pc_user=""
    if [ "$1" = --nobody ]; then
        pc_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
        shift
    fi
    F=$PAM_CODES_DIR/out.$PAM_CODES_N
    # shellcheck disable=SC2086
    LD_PRELOAD="$(module_preload "$PAM_WRAPPER_LIB${PAM_EXTRA_PRELOAD:+ $PAM_EXTRA_PRELOAD}")" \
        PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$PAM_CODES_DIR/pam.d" PAM_WRAPPER_DEBUGLEVEL=2 \
        $pc_user ${LOGTO_TEST_WRAPPER:-} "$PAM_CODES" "$@" >"$F" 2>&1
    pc_rc=$?
    [ "$pc_rc" = 99 ] && [ -n "${LOGTO_TEST_WRAPPER:-}" ] && echo "test_pam_codes $*" >>"$PAM_WRAPPER_ERRORS"
    [ "$pc_rc" = 0 ] || fail "case $PAM_CODES_N ($*): $(cat "$F")"
}

# pam_test_done DIR SECRET...: the common end of every PAM test (see the header).
pam_test_done() {
    ptd_dir=$1
    shift
    if [ -s "$PAM_WRAPPER_ERRORS" ]; then
        fail "$LOGTO_TEST_WRAPPER reported errors in: $(tr '\n' ';' <"$PAM_WRAPPER_ERRORS")"
    fi
    # Every captured output and log under DIR, except what holds secrets by design: the state
    # the module keeps (token records: refresh token, verifier), secret files, and the
    # conversation input the test typed (*.in).
    ptd_files=$(find "$ptd_dir" -type f ! -path '*/state/*' ! -name '*.secret' ! -name '*.in' \
        -print)
    [ -n "${IDP_LOG:-}" ] && [ -f "$IDP_LOG" ] && ptd_files="$ptd_files $IDP_LOG"
    [ -n "$ptd_files" ] || fail "pam_test_done: nothing was captured in $ptd_dir"
    ptd_i=0
    for ptd_s in "$@"; do
        ptd_i=$((ptd_i + 1))
        [ -n "$ptd_s" ] || continue
        # One-time codes are short numbers: match them as whole words, after dropping
        # pam_wrapper's "PWRAP_DEBUG[<unknown> (PID)] - " prefixes (a PID is no secret).
        case "$ptd_s" in
        *[!0-9]*) ptd_opt=-F ;;
        *) ptd_opt=-wF ;;
        esac
        ptd_hit=""
        for ptd_f in $ptd_files; do
            if sed 's/^PWRAP_[A-Z]*\[[^]]*\] - //' "$ptd_f" | grep -q $ptd_opt -- "$ptd_s"; then
                ptd_hit="$ptd_hit $ptd_f"
            fi
        done
        [ -z "$ptd_hit" ] || fail "secret #$ptd_i (of pam_test_done's list) leaked into:$ptd_hit"
    done
    echo "ok"
}
