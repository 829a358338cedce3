#!/bin/sh
# SPDX-License-Identifier: MIT
# The benchmark scripts still run, and every lookup and sync in them still succeeds. Not a
# timing test: tiny sizes, 50 ms per operation, one round, and no figure is asserted (the
# measurements live in bench/README.md). Plain build only: under a sanitizer or valgrind the
# scripts would time the instrumentation.
. "$top_srcdir/tests/lib/testenv.sh"

need_root
need_cmd unshare ldconfig makedb awk
if [ -n "${LOGTO_SANITIZE:-}" ] || [ -n "${LOGTO_TEST_WRAPPER:-}" ]; then
    skip "the benchmarks run on the plain build only"
fi
bench=$top_builddir/bench/nss_bench
[ -x "$bench" ] || fail "$bench is not built"
# nss-bench.sh mounts a private tmpfs over /var/lib for the module's compiled-in path.
case $("$bench" path) in
/var/lib/*) ;;
*) skip "the module's snapshot path is not under /var/lib (configure --localstatedir=/var)" ;;
esac
T=$(test_tmpdir)

NSS_BENCH_BUDGET_MS=50 ROUNDS=1 FRESH_ROUNDS=2 BUILD_DIR=$top_builddir \
    sh "$top_srcdir/bench/nss-bench.sh" 30 300 >"$T/nss.out" 2>"$T/nss.err" ||
    { cat "$T/nss.err" "$T/nss.out" >&2; fail "bench/nss-bench.sh failed"; }
if grep -i 'fail' "$T/nss.err" >&2; then
    fail "bench/nss-bench.sh reported failed lookups"
fi
# Every backend answered every operation at both sizes (a cell is "-" when nothing was measured).
awk '/^(getpwnam_r|getpwuid_r|getgrnam_r|getgrgid_r|getgrnam_r-role|getgrouplist|enumerate) / {
        rows++; line = $0; sub(/^[^ ]+ +/, "", line)
        if (line ~ /(^| )- \/ -/) { print "empty cell: " $0; bad++ } }
     END { if (rows != 14 || bad) { print rows " rows, " bad + 0 " with empty cells"; exit 1 } }' \
    "$T/nss.out" >&2 || { cat "$T/nss.out" >&2; fail "bench/nss-bench.sh left operations unmeasured"; }
# Every backend ran a whole process at both sizes (a cell is "0 us" when none did).
awk '/^(getent passwd|id), [0-9]+ / { rows++; if ($0 ~ / 0 us/) bad++ }
     END { if (rows != 4 || bad) { print rows " process rows, " bad + 0 " with empty cells"; exit 1 } }' \
    "$T/nss.out" >&2 || { cat "$T/nss.out" >&2; fail "bench/nss-bench.sh left processes unmeasured"; }
for want in 'target: median getpwnam_r <= 1 us at 300 users' 'scaling, 1 back-to-back rounds' \
    'files / logto' 'whole processes, 2 rounds' 'target: a fresh process at 300 users within'; do
    grep -qF "$want" "$T/nss.out" || { cat "$T/nss.out" >&2; fail "nss-bench output lacks '$want'"; }
done

rc=0
USERS=200 ROLES=3 ORGS=3 BUILD_DIR=$top_builddir \
    sh "$top_srcdir/bench/sync-bench.sh" 1 >"$T/sync.out" 2>"$T/sync.err" || rc=$?
[ "$rc" != 77 ] || skip "the test IdP cannot run here"
[ "$rc" = 0 ] || { cat "$T/sync.err" "$T/sync.out" >&2; fail "bench/sync-bench.sh failed (exit $rc)"; }
grep -q '^target: sync of the 20[0-9]-user tenant under 10 s: ' "$T/sync.out" ||
    { cat "$T/sync.out" >&2; fail "sync-bench output lacks its target line"; }
cat "$T/nss.out" "$T/sync.out" >&2
exit 0
