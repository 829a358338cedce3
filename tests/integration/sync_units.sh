#!/bin/sh
# SPDX-License-Identifier: MIT
# The systemd units: systemd-analyze verify (syntax, directives, the timer's service), the
# hardening score, and that the sync still works inside the same restrictions as far as they can
# be reproduced without a running systemd: no capabilities at all, no new privileges, and a file
# system that is read-only except for the state directory.
. "$top_srcdir/tests/integration/sync_lib.sh"

need_cmd systemd-analyze
unit=$top_builddir/etc/systemd/logto-sync.service
timer=$top_srcdir/etc/systemd/logto-sync.timer
[ -f "$unit" ] || skip "$unit is not built (make all)"
D=$(test_tmpdir)

grep -q '@[a-z]*@' "$unit" && fail "unsubstituted @variables@ in $unit"
grep -q '^ExecStart=/.*/logtoctl sync$' "$unit" || fail "ExecStart is not an absolute logtoctl sync"
grep -q '^WantedBy=timers.target$' "$timer" || fail "the timer cannot be enabled"
grep -q '^\[Install\]' "$unit" && fail "the service must not be enabled on its own (the timer starts it)"

# verify wants ExecStart to exist: point it at the built logtoctl in a copy.
sed "s|^ExecStart=.*|ExecStart=$LOGTOCTL sync|" "$unit" >"$D/logto-sync.service"
cp "$timer" "$D/logto-sync.timer"
out=$(cd "$D" && systemd-analyze verify --man=no ./logto-sync.service ./logto-sync.timer 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"
for key in OnBootSec=1min OnUnitActiveSec=15min RandomizedDelaySec=15min FixedRandomDelay=yes Persistent=true; do
    grep -q "^$key\$" "$timer" || fail "timer: $key is missing"
done

# The exposure score systemd computes from the unit (offline analysis).
if sec=$(cd "$D" && systemd-analyze security --offline=yes ./logto-sync.service 2>&1); then
    score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for logto-sync.service: \([0-9.]*\).*/\1/p')
    echo "systemd-analyze security: exposure $score" >&2
    [ -n "$score" ] || fail "no exposure score: $sec"
    # "OK" is below 4.0 in systemd's scale; the unit is meant to stay well inside it.
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 2.5 else 1)' "$score" ||
        fail "exposure $score: the unit lost some hardening"
fi

# ---- the sync under the unit's restrictions
need_cmd setpriv unshare mount
sync_setup
export CFG STATE LOGTOCTL
out=$(in_namespace '
    set -e
    mount --make-rprivate /
    mount --bind "$STATE" "$STATE"
    mount -o remount,bind,ro /
    for m in $(awk "\$2 ~ \"^/(tmp|var|etc|usr|home)(/|\$)\" {print \$2}" /proc/self/mounts); do
        [ "$m" = "$STATE" ] || mount -o remount,bind,ro "$m" 2>/dev/null || :
    done
    if touch /etc/logto-sync-probe 2>/dev/null; then echo "PROBE: / is writable"; exit 1; fi
    # PrivateTmp=yes: a private, writable /var/tmp (valgrind keeps its files there)
    mount -t tmpfs -o mode=1777 tmpfs /var/tmp
    export TMPDIR=/var/tmp
    setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all \
        $LOGTO_TEST_WRAPPER "$LOGTOCTL" --config "$CFG" sync
' 2>&1) || fail "sync under the unit restrictions failed: $out"
assert_contains "$out" "written: $STATE/directory.snapshot"
[ -s "$STATE/directory.snapshot" ] || fail "no snapshot written"
exit 0
