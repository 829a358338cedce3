#!/bin/sh
# SPDX-License-Identifier: MIT
# make check: every seed corpus file and every crash ever found (tests/fuzz/regressions/NAME/)
# through its fuzz target, built with a plain main() (tests/fuzz/replay.c), under
# $LOGTO_TEST_WRAPPER when set (valgrind) and with the sanitizers of an ASan build. A crash, a
# sanitizer report or a valgrind error fails the test. Nothing of the inputs is printed.
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
fuzz=$top_srcdir/tests/fuzz
status=0 ran=0
for prog in "$top_builddir"/tests/fuzz/replay_*; do
    [ -x "$prog" ] || continue
    name=${prog##*/replay_}
    base=${name%_oom}
    set --
    for d in "$fuzz/corpus/$base" "$fuzz/regressions/$base"; do
        [ -d "$d" ] && set -- "$@" "$d"
    done
    [ $# -gt 0 ] || continue
    ran=$((ran + 1))
    # shellcheck disable=SC2086
    if ! ${LOGTO_TEST_WRAPPER:-} "$prog" "$@"; then
        echo "FAIL: replay_$name" >&2
        status=1
    fi
done
[ "$ran" -gt 0 ] || { echo "no replay programs in $top_builddir/tests/fuzz" >&2; exit 99; }
exit $status
