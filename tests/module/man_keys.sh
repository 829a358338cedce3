#!/bin/sh
# SPDX-License-Identifier: MIT
# Every key of the configuration schema (`logtoctl config keys`) is documented in logto.conf(5)
# under its section, with its type, its default and an example, and the page documents no key
# the program does not know. Negative runs prove the check can fail.
set -eu

man="${top_srcdir:-.}/man/logto.conf.5"
[ -n "${LOGTOCTL:-}" ] && [ -x "$LOGTOCTL" ] || { echo "SKIP: LOGTOCTL is not set or not built"; exit 77; }
[ -r "$man" ] || { echo "FAIL: $man is missing"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check KEYS MANPAGE: prints one FAIL line per problem; exit status 1 if there was any.
check() {
    awk -F'\t' '
    function norm(s) {
        gsub(/\\f[BIRP]/, "", s); gsub(/\\-/, "-", s); gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
        gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s)
        return s
    }
    # The man page: ".SS [section]" headers; under them ".TP" then "\fBkey\fR = type" entries.
    FNR == NR {
        if ($0 ~ /^\.(SH|SS|PP|TP)/) cur = ""
        if ($0 ~ /^\.SH/) sec = ""
        if ($0 ~ /^\.SS/) { sec = ""; if (match($0, /\[[a-z]+/)) sec = substr($0, RSTART + 1, RLENGTH - 1) }
        if ($0 ~ /^\.TP/) { want = 1; next }
        if (want) {
            want = 0
            h = norm($0)
            if (sec != "" && split(h, part, " = ") >= 2 && part[1] ~ /^[a-z0-9_]+$/) {
                cur = sec "." part[1]
                header[cur] = h
                block[cur] = ""
                next
            }
        }
        if (cur != "" && $0 !~ /^\.\\"/) block[cur] = block[cur] " " norm($0)
        next
    }
    # The schema: section, key, type, default ("-": none, "\"\"": empty), description.
    {
        id = $1 "." $2; type = $3; def = $4; seen[id] = 1
        if (!(id in header)) { print "FAIL: [" $1 "] " $2 " is not documented"; bad = 1; next }
        if (index(header[id], $2 " = " type) != 1) {
            print "FAIL: [" $1 "] " $2 ": entry \"" header[id] "\" does not give type " type; bad = 1
        }
        b = block[id]
        if (b !~ /Default/) { print "FAIL: [" $1 "] " $2 ": no default documented"; bad = 1 }
        if (b !~ /Example: /) { print "FAIL: [" $1 "] " $2 ": no example"; bad = 1 }
        if (def == "-" || def == "\"\"") next
        # Profile-dependent defaults read "X; generic: Y"; paths depend on ./configure.
        n = split(def, defs, "; generic: ")
        for (i = 1; i <= n; i++) {
            d = defs[i]
            if (d == "unset") continue
            if ($1 == "paths") sub(/^.*\/var\//, "/var/", d)
            if (!index(b, d)) { print "FAIL: [" $1 "] " $2 ": default \"" d "\" not documented"; bad = 1 }
        }
    }
    END {
        for (id in header)
            if (!(id in seen)) { print "FAIL: " id " is documented but not a key"; bad = 1 }
        exit bad
    }' "$2" "$1"
}

# shellcheck disable=SC2086
${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" config keys >"$tmp/keys"
n=$(wc -l <"$tmp/keys")
[ "$n" -ge 40 ] || { echo "FAIL: logtoctl config keys printed only $n keys"; exit 1; }

fail=0
if check "$tmp/keys" "$man" >"$tmp/out"; then
    echo "ok all $n keys documented in logto.conf(5) with type, default and example"
else
    cat "$tmp/out"; fail=1
fi

# Negative runs: each must fail, naming what is wrong.
expect_fail() { # what, keys, man, pattern
    if check "$2" "$3" >"$tmp/neg"; then
        echo "FAIL: the check passed with $1"; fail=1
    elif ! grep -q -- "$4" "$tmp/neg"; then
        echo "FAIL: with $1 the check did not report \"$4\":"; cat "$tmp/neg"; fail=1
    else
        echo "ok the check fails with $1"
    fi
}

{ cat "$tmp/keys"; printf 'logto\tno_such_key_for_test\tstring\t-\tfake\n'; } >"$tmp/keys.fake"
expect_fail "an undocumented key" "$tmp/keys.fake" "$man" "no_such_key_for_test is not documented"

grep -v 'no_such_key_for_test' "$tmp/keys" | grep -v "^logto	timeout	" >"$tmp/keys.less"
expect_fail "a documented key the schema lacks" "$tmp/keys.less" "$man" "logto.timeout is documented but not a key"

sed 's/^\\fBpoll_interval\\fR = .*$/poll interval/' "$man" >"$tmp/man.nokey"
cmp -s "$man" "$tmp/man.nokey" && { echo "FAIL: could not remove poll_interval from the page"; fail=1; }
expect_fail "an entry removed from the page" "$tmp/keys" "$tmp/man.nokey" "poll_interval is not documented"

sed 's/^Default: \\fB15s\\fR\.$/Default: \\fB16s\\fR./' "$man" >"$tmp/man.baddef"
cmp -s "$man" "$tmp/man.baddef" && { echo "FAIL: could not change the timeout default"; fail=1; }
expect_fail "a wrong default" "$tmp/keys" "$tmp/man.baddef" 'timeout: default "15s" not documented'

sed 's/^\\fBqr\\fR = \\fIbool\\fR$/\\fBqr\\fR = \\fIstring\\fR/' "$man" >"$tmp/man.badtype"
cmp -s "$man" "$tmp/man.badtype" && { echo "FAIL: could not change the type of qr"; fail=1; }
expect_fail "a wrong type" "$tmp/keys" "$tmp/man.badtype" "qr: entry"

exit $fail
