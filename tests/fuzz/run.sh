#!/bin/sh
# SPDX-License-Identifier: MIT
# Run libFuzzer targets briefly (make fuzz-run), from the build directory:
#   srcdir=SRCDIR tests/fuzz/run.sh NAME...      runs tests/fuzz/fuzz_NAME for each NAME
# Each target works on a fresh copy of its seed corpus (tests/fuzz/corpus/NAME; a NAME_oom
# target shares NAME's) with its dictionary (tests/fuzz/dict/NAME.dict, if any), for
# FUZZ_TIME seconds (default 20), -timeout=10 -rss_limit_mb=2048, up to FUZZ_JOBS targets at a
# time (default: the number of CPUs). Logs, the grown corpus and crash files go to
# tests/fuzz/run/NAME/. Any crash, leak, timeout, out-of-memory or sanitizer report fails the
# run; the failing target's report is shown without libFuzzer's dump of the input.
# FUZZ_ARGS adds libFuzzer options (e.g. FUZZ_ARGS=-only_ascii=1).
set -u
srcdir=${srcdir:-.}
time=${FUZZ_TIME:-20}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
out=tests/fuzz/run
[ $# -gt 0 ] || { echo "usage: srcdir=DIR $0 NAME..." >&2; exit 2; }
mkdir -p "$out" || exit 1

run_one() { # NAME
    name=$1 base=${1%_oom}
    dir=$out/$name
    rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/crashes" || return 1
    if [ -d "$srcdir/tests/fuzz/corpus/$base" ]; then
        cp "$srcdir/tests/fuzz/corpus/$base"/* "$dir/corpus/" 2>/dev/null
    fi
    dict=
    [ -f "$srcdir/tests/fuzz/dict/$base.dict" ] && dict=-dict=$srcdir/tests/fuzz/dict/$base.dict
    # The log may hold libFuzzer's dump of a crashing input; what we print leaves it out.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:symbolize=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "tests/fuzz/fuzz_$name" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/" $dict ${FUZZ_ARGS:-} \
        "$dir/corpus" >"$dir/log" 2>&1
    echo $? >"$dir/status"
}

summary() { # NAME: one line from libFuzzer's final statistics
    name=$1 dir=$out/$1
    st=$(cat "$dir/status" 2>/dev/null || echo '?')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$dir/log" | tail -1)
    crashes=$(find "$dir/crashes" -type f | wc -l)
    printf '%-22s %s  execs=%s exec/s=%s %s crashes=%s\n' "$name" \
        "$([ "$st" = 0 ] && echo ok || echo "FAIL($st)")" "${execs:-?}" "${rate:-?}" \
        "${cov:-cov: ?}" "$crashes"
}

# A simple job pool: start up to $jobs targets, wait for the oldest, go on.
names="$*"
pids=""
for name in $names; do
    if [ ! -x "tests/fuzz/fuzz_$name" ]; then
        echo "run.sh: tests/fuzz/fuzz_$name is not built" >&2
        exit 1
    fi
    run_one "$name" &
    pids="$pids $!"
    set -- $pids
    if [ $# -ge "$jobs" ]; then
        wait "$1"
        shift
        pids="$*"
    fi
done
wait

failed=0
for name in $names; do
    dir=$out/$name
    summary "$name"
    if [ "$(cat "$dir/status" 2>/dev/null)" != 0 ]; then
        failed=$((failed + 1))
        echo "---- $name: report (input dump omitted); crash files in $dir/crashes"
        grep -Ev '^(0x[0-9a-f]{2},)|^Base64:|^\\x|^[0-9a-f ]{20,}$' "$dir/log" | tail -60
    fi
done
[ "$failed" = 0 ]
