#!/bin/sh
# SPDX-License-Identifier: MIT
# Concurrency, with the IdP's refresh-token reuse leeway set to 0 (a second use of a consumed
# refresh token revokes the whole grant at once, so any two writers that raced on a token record
# would show):
#   - the same user signing in several times at once (logtoctl login and pamtester, the PAM
#     module's password flow) while refreshes of that user run: every one succeeds, the record is
#     whole afterwards and its refresh token still works;
#   - refreshes of one user at once: the per-user lock serialises them, none reuses a consumed
#     refresh token;
#   - getent-style lookups in many threads through glibc (nss_hammer: getpwnam_r, getpwuid_r,
#     getgrnam_r, getgrgid_r, getgrouplist) while logtoctl sync replaces the snapshot again and
#     again with a directory that changes each time: no error, no wrong ID, no torn record.
# Lookups in 16 threads and parallel writers load the machine: network timeouts of 5 and 30 s.
HARD_CONNECT=5 HARD_TIMEOUT=30
. "$top_srcdir/tests/lib/hard.sh"
hard_enter "$@"
hard_idp_start
hard_config "[service *]
allow_any_user = yes
flow = password
qr = no"
hard_services pw
idp_ctl POST /settings '{"refresh_reuse_leeway":0}' >/dev/null || fail "leeway 0"
idp_ctl POST /users '{"username":"rita","password":"rita-pass-1","roles":["developer"]}' \
    >/dev/null || fail "create rita"
hard_secret rita-pass-1
CRASH_CHECK=$top_builddir/tests/hardening/crash_check
NSS_HAMMER=$top_builddir/tests/hardening/nss_hammer
# SYNCS snapshot replacements while the lookups run (they run until the syncs are done; SECONDS_
# only bounds a hang). Valgrind: a sync takes seconds.
if hard_slow; then
    # A refresh under valgrind holds the user's lock for seconds; waiters give up after 10 s.
    ROUNDS=2 SECONDS_=600 THREADS=4 SYNCS=4 REFRESHES=2
else
    ROUNDS=10 SECONDS_=600 THREADS=16 SYNCS=20 REFRESHES=6
fi

ctl_login() { printf 'rita-pass-1\n' | wrap "$LOGTOCTL" login --method experience rita; }
ctl_refresh() { wrap "$LOGTOCTL" token --user rita; }
whole() {
    "$CRASH_CHECK" "$CFG" >"$P/check.out" 2>&1 || fail "$1: $(grep '^bad' "$P/check.out")"
}

ctl_login >/dev/null 2>"$P/first.err" || fail "first sign-in: $(cat "$P/first.err")"

# ---- the same user signing in at once (two logtoctl logins, one PAM sign-in, two refreshes)
r=0
while [ $r -lt $ROUNDS ]; do
    r=$((r + 1))
    ctl_login >/dev/null 2>"$P/a.$r.err" &
    pid_a=$!
    ctl_login >/dev/null 2>"$P/b.$r.err" &
    pid_b=$!
    ctl_refresh >"$P/t1.$r.out" 2>"$P/t1.$r.err" &
    pid_t1=$!
    ctl_refresh >"$P/t2.$r.out" 2>"$P/t2.$r.err" &
    pid_t2=$!
    hard_pam pw rita authenticate rita-pass-1
    pam_expect_ok "round $r: PAM sign-in beside two logins and two refreshes"
    wait $pid_a || fail "round $r: login A: $(cat "$P/a.$r.err")"
    wait $pid_b || fail "round $r: login B: $(cat "$P/b.$r.err")"
    wait $pid_t1 || fail "round $r: refresh 1: $(cat "$P/t1.$r.err")"
    wait $pid_t2 || fail "round $r: refresh 2: $(cat "$P/t2.$r.err")"
    whole "round $r"
    ctl_refresh >"$P/after.out" 2>"$P/after.err" || fail "round $r: the stored session is dead: $(cat "$P/after.err")"
done
echo "ok $ROUNDS rounds of 3 sign-ins and 2 refreshes of one user at once: all succeeded, the record whole and alive after each"

# ---- refreshes only, $REFRESHES at once
r=0
while [ $r -lt $ROUNDS ]; do
    r=$((r + 1))
    pids=
    for k in $(seq "$REFRESHES"); do
        ctl_refresh >"$P/r.$k.out" 2>"$P/r.$k.err" &
        pids="$pids $!"
    done
    k=0
    for pid in $pids; do
        k=$((k + 1))
        wait "$pid" || fail "round $r: refresh $k of $REFRESHES: $(cat "$P/r.$k.err")"
    done
done
echo "ok $ROUNDS rounds of $REFRESHES refreshes at once: none reused a consumed refresh token"

# ---- lookups in many threads while sync replaces the snapshot
hard_ctl sync
[ "$RC" = 0 ] || fail "first sync: $ERR"
uid_of() { hard_getent passwd "$1" | cut -d: -f3; }
gid_of() { hard_getent group "$1" | cut -d: -f3; }
alice_uid=$(uid_of alice) rita_uid=$(uid_of rita) dev_gid=$(gid_of logto-developer)
[ -n "$alice_uid" ] && [ -n "$rita_uid" ] && [ -n "$dev_gid" ] || fail "alice, rita or logto-developer does not resolve"
rm -f "$H/hammer.stop"
NSS_HAMMER_STOP=$H/hammer.stop LD_PRELOAD=$(module_preload) wrap "$NSS_HAMMER" "$SECONDS_" "$THREADS" user:alice:"$alice_uid" \
    user:rita:"$rita_uid" group:logto-developer:"$dev_gid" maybe:comet \
    >"$H/hammer.out" 2>&1 &
hammer=$!
n=0
while [ $n -lt $SYNCS ] && kill -0 $hammer 2>/dev/null; do
    n=$((n + 1))
    # Each sync sees another directory: a user comes or goes, a display name changes.
    if [ $((n % 2)) = 1 ]; then
        idp_ctl POST /users '{"username":"comet","password":"comet-pass-1"}' >/dev/null || fail "comet"
    else
        idp_ctl DELETE /users/comet >/dev/null || fail "delete comet"
    fi
    idp_ctl PATCH /users/rita "{\"name\":\"Rita $n\"}" >/dev/null || fail "rename rita"
    hard_ctl sync
    [ "$RC" = 0 ] || fail "sync $n: $ERR"
done
hard_secret comet-pass-1
kill -0 $hammer 2>/dev/null || fail "the lookups ended before the syncs did: $(cat "$H/hammer.out")"
: >"$H/hammer.stop"
wait $hammer || fail "lookups failed while sync replaced the snapshot: $(cat "$H/hammer.out")"
[ "$n" = "$SYNCS" ] || fail "only $n of $SYNCS syncs ran during the lookups"
echo "ok $n snapshot replacements during the lookups: $(tail -n 1 "$H/hammer.out")"
hard_done
