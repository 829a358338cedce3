# SPDX-License-Identifier: MIT
# Helpers for tests that drive pam_logto.so through pamtester and pam_wrapper (no /etc change).
# Source after testenv.sh and idp.sh.

# pam_service DIR NAME LINE...: write a PAM service file NAME in DIR (a pam_wrapper service dir).
pam_service() {
    d=$1 n=$2
    shift 2
    mkdir -p "$d"
    : >"$d/$n"
    for l in "$@"; do printf '%s\n' "$l" >>"$d/$n"; done
    # pam_wrapper warns without a default service.
    [ -f "$d/other" ] || printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$d/other"
}

# pamtester_run DIR SERVICE USER OP...: run pamtester under pam_wrapper with DIR as the service
# directory; stdin is the conversation input. Output is line-buffered so tests can read the
# device code while the module polls.
pamtester_run() {
    d=$1
    shift
    need_cmd pamtester stdbuf
    [ -n "${PAM_WRAPPER_LIB:-}" ] || skip "pam_wrapper is not installed"
    # shellcheck disable=SC2046
    LD_PRELOAD="$(module_preload "$PAM_WRAPPER_LIB")" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$d" \
        wrap stdbuf -oL -eL "$PAMTESTER" -v "$@"
}

# wait_for_code FILE: print the device user code once it appears in FILE (at most 20 s).
wait_for_code() {
    i=0
    while [ $i -lt 200 ]; do
        c=$(grep -oE '[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}' "$1" 2>/dev/null | head -1)
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
