#!/bin/sh
# SPDX-License-Identifier: MIT
# Crash safety: SIGKILL at random points of the three writers of state_dir, 1,000 times in all
# (fewer in the ASan and valgrind builds):
#   sign-in   logtoctl login (the PAM module's flows: token record, snapshot, SSH key cache),
#   refresh   logtoctl token (the refresh grant: the rotated refresh token is stored before the
#             access token is used),
#   sync      logtoctl sync (snapshot, key caches, sync status, M2M token), while the directory
#             in Logto alternates between two states.
# Each kill lands at a random moment of the operation's measured duration, half of them in its
# last quarter where the files are written (crash_run). After
# every kill, crash_check reads every file through the product's own readers: each must be
# whole (the old or the new version, never torn); the snapshot must be one of the two directory
# states; and an unkilled refresh right after must work, so a rotated refresh token was never
# lost (a kill after the IdP rotated but before the write leaves the old one, which Logto
# honours for 3 s: its reuse leeway, reproduced by the test IdP). Killed writers' temporary
# files are counted, then aged past LOGTO_TEMP_STALE: the next writes must remove them.
# Killed and restarted writers load the machine: network timeouts of 5 and 30 s.
HARD_CONNECT=5 HARD_TIMEOUT=30
. "$top_srcdir/tests/lib/hard.sh"
hard_enter "$@"
hard_idp_start
# A sign-in killed after its password was counted and before the answer keeps the count (by
# design: tokens/rita.attempts, checked whole below); a 1 s window keeps 300 of them from
# locking rita.
hard_config "[logto]
host_lockout_attempts = 100
host_lockout_window = 1s
[service *]
allow_any_user = yes
flow = password
qr = no"
ssh-keygen -q -t ed25519 -N '' -C rita@crash -f "$P/rita_key" || fail "ssh-keygen"
idp_ctl POST /users "{\"username\":\"rita\",\"password\":\"rita-pass-1\",\"roles\":[\"developer\"],\"custom_data\":{\"sshPublicKeys\":[\"$(cat "$P/rita_key.pub")\"]}}" \
    >/dev/null || fail "create rita"
hard_secret rita-pass-1
CRASH_RUN=$top_builddir/tests/hardening/crash_run
CRASH_CHECK=$top_builddir/tests/hardening/crash_check
need_cmd shuf

if hard_slow; then
    N_SIGNIN=10 N_REFRESH=15 N_SYNC=15
    # valgrind: the refresh after a kill may come later than Logto's 3 s.
    idp_ctl POST /settings '{"refresh_reuse_leeway":60}' >/dev/null || fail "leeway"
elif [ -n "${LOGTO_SANITIZE:-}" ]; then
    N_SIGNIN=60 N_REFRESH=80 N_SYNC=60
else
    N_SIGNIN=300 N_REFRESH=400 N_SYNC=300
fi

# The programs run under $LOGTO_TEST_WRAPPER (valgrind) when set; output that could carry a
# token (logtoctl token prints one) goes to $P, never to $H.
ctl_cmd() { echo ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL"; }
signin() { printf 'rita-pass-1\n' | "$@" $(ctl_cmd) login --method experience rita; }
refresh() { "$@" $(ctl_cmd) token --user rita; }
sync_dir() { "$@" $(ctl_cmd) sync; }

STATE_N=0
# check_state: every file whole; sets SNAPDIGEST, RITA_RT (hash of the stored refresh token)
# and TEMPS.
check_state() {
    STATE_N=$((STATE_N + 1))
    "$CRASH_CHECK" "$CFG" >"$P/state.$STATE_N" 2>&1 ||
        fail "after $1: a file is not whole: $(grep '^bad' "$P/state.$STATE_N")"
    SNAPDIGEST=$(sed -n 's/^snapshot .*digest=//p' "$P/state.$STATE_N")
    RITA_RT=$(sed -n 's/^record rita rt=\([^ ]*\) .*/\1/p' "$P/state.$STATE_N")
    TEMPS=$(sed -n 's/^temp //p' "$P/state.$STATE_N")
}

# micros COMMAND...: how long an unkilled run takes, in microseconds (it must succeed).
micros() {
    t0=$(date +%s%N)
    "$@" >"$P/calibrate.out" 2>"$P/calibrate.err" || fail "calibration run failed: $(cat "$P/calibrate.err")"
    echo $((($(date +%s%N) - t0) / 1000))
}

# kill_at OP VAR: run OP under crash_run at a random point of its duration (the variable VAR,
# in microseconds): every other run anywhere in it, the others in its last quarter (+5 %), where
# the files are written. A run that ends before the kill updates VAR with how long it took, so
# the estimate follows the machine's load. Counts kills.
KILLS=0 EXITED=0 FAILED_RUNS=0 KILL_N=0
kill_at() {
    KILL_N=$((KILL_N + 1))
    eval "ka_max=\$$2"
    if [ $((KILL_N % 2)) = 0 ]; then
        delay=$(shuf -i "0-$ka_max" -n 1)
    else
        delay=$(shuf -i "$((ka_max * 3 / 4))-$((ka_max * 105 / 100))" -n 1)
    fi
    res=$($1 "$CRASH_RUN" "$delay" 2>>"$P/killed.err" </dev/null | tail -n 1)
    case "$res" in
    killed*) KILLS=$((KILLS + 1)) ;;
    "exited 0 "*)
        EXITED=$((EXITED + 1))
        eval "$2=${res##* }"
        ;;
    exited*) EXITED=$((EXITED + 1)) FAILED_RUNS=$((FAILED_RUNS + 1)) ;;
    *) fail "crash_run: $res" ;;
    esac
}

# After a kill the stored session must still be usable: an unkilled refresh works.
session_alive() {
    refresh >"$P/alive.out" 2>"$P/alive.err" ||
        fail "after a killed $1 the session was lost: $(cat "$P/alive.err")"
}

# ---- sign-in
signin >"$P/first.out" 2>"$P/first.err" || fail "first sign-in: $(cat "$P/first.err")"
hard_ctl sync
[ "$RC" = 0 ] || fail "first sync: $ERR"
check_state "the first sign-in"
d_signin=$(micros signin)
d_refresh=$(micros refresh)
echo "calibration: sign-in ${d_signin} us, refresh ${d_refresh} us"

# kill_loop OP N VAR WHAT: N runs of OP killed at random points, each followed by the checks
# and an unkilled refresh; counts how often rita's refresh token stayed and changed.
kill_loop() {
    changed=0 unchanged=0 i=0
    while [ $i -lt "$2" ]; do
        i=$((i + 1))
        before=$RITA_RT
        kill_at "$1" "$3"
        check_state "a killed $4"
        [ -n "$RITA_RT" ] && [ "$RITA_RT" != - ] || fail "a killed $4 removed rita's record"
        if [ "$RITA_RT" = "$before" ]; then unchanged=$((unchanged + 1)); else changed=$((changed + 1)); fi
        session_alive "$4"
        check_state "the refresh after a killed $4"
    done
}
kill_loop signin "$N_SIGNIN" d_signin sign-in
echo "ok sign-in: $N_SIGNIN runs killed at random points; record old $unchanged times, new $changed times, every file whole, the session alive after each"
kill_loop refresh "$N_REFRESH" d_refresh refresh
echo "ok refresh: $N_REFRESH runs killed at random points; refresh token old $unchanged times, rotated and stored $changed times, never lost"

# ---- sync: the directory alternates between two states, A and B (rita's display name).
state_a() { idp_ctl PATCH /users/rita '{"name":"Rita A"}' >/dev/null || fail "state A"; }
state_b() { idp_ctl PATCH /users/rita '{"name":"Rita B"}' >/dev/null || fail "state B"; }
state_a
sync_dir >/dev/null 2>"$P/sync.err" || fail "sync A: $(cat "$P/sync.err")"
check_state "sync A"
digest_a=$SNAPDIGEST
state_b
d_sync=$(micros sync_dir)
check_state "sync B"
digest_b=$SNAPDIGEST
[ "$digest_a" != "$digest_b" ] || fail "the two directory states give the same snapshot"
old=0 new=0
i=0
while [ $i -lt $N_SYNC ]; do
    i=$((i + 1))
    if [ $((i % 2)) = 1 ]; then state_a; else state_b; fi
    before=$SNAPDIGEST
    kill_at sync_dir d_sync
    check_state "a killed sync"
    case "$SNAPDIGEST" in
    "$before") old=$((old + 1)) ;;
    "$digest_a" | "$digest_b") new=$((new + 1)) ;;
    *) fail "after a killed sync the snapshot is neither directory state ($SNAPDIGEST)" ;;
    esac
    hard_getent passwd rita >"$P/getent.out" || fail "rita does not resolve after a killed sync"
done
echo "ok sync: $N_SYNC runs killed at random points; snapshot old $old times, new $new times, getent answered after each"
echo "sync: ${d_sync} us at the end; $KILLS runs killed, $EXITED ended before the kill ($FAILED_RUNS of those with an error)"
[ "$KILLS" -ge $(((N_SIGNIN + N_REFRESH + N_SYNC) / 2)) ] ||
    fail "too few runs were killed ($KILLS): the delays do not fall inside the operations"

# ---- temporary files left by killed writers: aged, then removed by the next writes.
check_state "all kills"
echo "temporary files left by killed writers: $TEMPS"
find "$STATE" -name '.*.????????' -type f -exec touch -d '-1 hour' {} +
signin >/dev/null 2>"$P/last.err" || fail "sign-in after the kills: $(cat "$P/last.err")"
sync_dir >/dev/null 2>"$P/last.err" || fail "sync after the kills: $(cat "$P/last.err")"
check_state "the last writes"
[ "$TEMPS" = 0 ] || fail "$TEMPS stale temporary files remain: $(find "$STATE" -name '.*.????????')"
echo "ok stale temporary files removed by the next writes"
hard_done
