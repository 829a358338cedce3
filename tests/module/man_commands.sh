#!/bin/sh
# SPDX-License-Identifier: MIT
# Every command of logtoctl's dispatcher table (`logtoctl help`) is documented in logtoctl(8)
# under COMMANDS (a .SS entry whose first word is the command), with every option its usage
# lines show (the table's and the command's own --help); the page documents no command the
# program lacks; every exit code of cli/cli.h is under EXIT STATUS and no other. Negative runs
# prove the check can fail.
set -eu

src=${top_srcdir:-.}
man=$src/man/logtoctl.8
clih=$src/cli/cli.h
[ -n "${LOGTOCTL:-}" ] && [ -x "$LOGTOCTL" ] || { echo "SKIP: LOGTOCTL is not set or not built"; exit 77; }
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[ -r "$man" ] || { echo "FAIL: $man is missing"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The program's view: the table, then each command's own usage (on stdout or stderr).
# shellcheck disable=SC2086
${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" help >"$tmp/help"
awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' "$tmp/help" >"$tmp/commands"
n=$(wc -l <"$tmp/commands")
[ "$n" -ge 9 ] || { echo "FAIL: logtoctl help listed only $n commands"; cat "$tmp/help"; exit 1; }
mkdir "$tmp/usage"
while read -r c; do
    # shellcheck disable=SC2086
    ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" "$c" --help >"$tmp/usage/$c" 2>&1 </dev/null || :
    awk -v c="$c" '/^commands:/ { on = 1; next } on && /^$/ { exit }
        on && $1 == c { print; getline; if ($0 ~ /^   /) print }' "$tmp/help" >>"$tmp/usage/$c"
done <"$tmp/commands"

# Every command answers --help, and `logtoctl help COMMAND`, on stdout with its own usage (a
# "usage: logtoctl" line naming it), exit 0, before any configuration is read (there is none
# here). --version is `version`; --json is honoured before and after the command name.
fail=0
run() { ${LOGTO_TEST_WRAPPER:-} "$LOGTOCTL" "$@" </dev/null; }
while read -r c; do
    if ! run "$c" --help >"$tmp/h1" 2>"$tmp/h1.err"; then
        echo "FAIL: logtoctl $c --help exits non-zero: $(cat "$tmp/h1.err")"
        fail=1
    elif ! grep -Eq "^ *(usage: )?logtoctl( \[--[a-z]+\])* $c( |\$)" "$tmp/h1"; then
        echo "FAIL: logtoctl $c --help shows no usage naming $c:"
        cat "$tmp/h1"
        fail=1
    fi
    run help "$c" >"$tmp/h2" 2>&1 || { echo "FAIL: logtoctl help $c exits non-zero"; fail=1; }
    cmp -s "$tmp/h1" "$tmp/h2" || { echo "FAIL: logtoctl help $c differs from $c --help"; fail=1; }
done <"$tmp/commands"
[ "$fail" = 0 ] && echo "ok every command answers --help and help COMMAND with its usage"
for sub in check keys; do
    run config "$sub" --help >"$tmp/h1" 2>&1 || { echo "FAIL: logtoctl config $sub --help exits non-zero"; fail=1; }
    grep -q "logtoctl .*config $sub" "$tmp/h1" || { echo "FAIL: config $sub --help shows no usage of it"; fail=1; }
done
[ "$(run --version)" = "$(run version)" ] || { echo "FAIL: --version is not logtoctl version"; fail=1; }
for args in "--json version" "version --json" "--version --json" "--json config keys" "config keys --json" "config --json keys"; do
    # shellcheck disable=SC2086
    if run $args >"$tmp/j" 2>"$tmp/j.err" && "$py" -m json.tool "$tmp/j" >/dev/null 2>&1; then
        echo "ok logtoctl $args prints JSON"
    else
        echo "FAIL: logtoctl $args: no JSON document on stdout: $(cat "$tmp/j" "$tmp/j.err")"
        fail=1
    fi
done

# check COMMANDS USAGEDIR MANPAGE CLI_H: one FAIL line per problem; exit status 1 if any.
check() {
    "$py" - "$@" <<'EOF'
import os, re, sys

commands_file, usage_dir, man_file, cli_h = sys.argv[1:5]
commands = [l.strip() for l in open(commands_file) if l.strip()]
bad = []

def norm(s):
    s = re.sub(r'\\f[BIRP]', '', s)
    s = s.replace('\\-', '-').replace('\\&', '').replace('\\e', '\\')
    return s

# The page, by .SH section; COMMANDS by .SS entry.
sections, cur = {}, None
entries, entry = {}, None
for line in open(man_file, encoding='utf-8'):
    line = line.rstrip('\n')
    if line.startswith('.\\"'):
        continue
    if line.startswith('.SH'):
        cur = norm(line[3:]).strip().strip('"')
        sections[cur] = []
        entry = None
        continue
    if cur is None:
        continue
    sections[cur].append(line)
    if cur == 'COMMANDS' and line.startswith('.SS'):
        head = norm(line[3:]).strip().strip('"')
        entry = head.split()[0] if head.split() else ''
        entries.setdefault(entry, []).append(head)  # a command may have several (cache clear, cache expire)
        continue
    if entry is not None:
        entries[entry].append(norm(line))

if 'COMMANDS' not in sections:
    bad.append('FAIL: the page has no COMMANDS section')
for c in commands:
    if c not in entries:
        bad.append('FAIL: command %s is not documented (no .SS entry under COMMANDS)' % c)
        continue
    text = '\n'.join(entries[c])
    usage = open(os.path.join(usage_dir, c)).read() if os.path.exists(os.path.join(usage_dir, c)) else ''
    # Global options (OPTIONS) are not repeated per command.
    opts = sorted(set(re.findall(r'(?<![\w-])--[a-z][a-z0-9-]*', usage)) - {'--json', '--help', '--quiet'})
    for o in opts:
        if not re.search(r'(?<![\w-])' + re.escape(o) + r'(?![\w-])', text):
            bad.append('FAIL: %s: option %s is not documented in its entry' % (c, o))
for e in entries:
    if e not in commands:
        bad.append('FAIL: %s is documented but not a command' % e)

# Exit codes: cli.h's enum against .TP / .B N entries under EXIT STATUS.
codes = {int(v): k for k, v in re.findall(r'\b(CLI_[A-Z]+)\s*=\s*(\d+)', open(cli_h).read())}
if not codes:
    bad.append('FAIL: no exit codes found in %s' % cli_h)
documented, lines = set(), sections.get('EXIT STATUS', [])
for i, l in enumerate(lines):
    if l.startswith('.TP') and i + 1 < len(lines):
        m = re.match(r'^\.B\s+(\d+)\s*$', lines[i + 1])
        if m:
            documented.add(int(m.group(1)))
for v, k in sorted(codes.items()):
    if v not in documented:
        bad.append('FAIL: exit code %d (%s) is not documented under EXIT STATUS' % (v, k))
for v in sorted(documented - set(codes)):
    bad.append('FAIL: exit code %d is documented but not in cli.h' % v)

for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

if check "$tmp/commands" "$tmp/usage" "$man" "$clih" >"$tmp/out"; then
    echo "ok all $n commands, their options and the exit codes are documented in logtoctl(8)"
else
    cat "$tmp/out"
    fail=1
fi

# Negative runs: each must fail, naming what is wrong.
expect_fail() { # what, commands, usage dir, man, cli.h, pattern
    if check "$2" "$3" "$4" "$5" >"$tmp/neg"; then
        echo "FAIL: the check passed with $1"
        fail=1
    elif ! grep -q -- "$6" "$tmp/neg"; then
        echo "FAIL: with $1 the check did not report \"$6\":"
        cat "$tmp/neg"
        fail=1
    else
        echo "ok the check fails with $1"
    fi
}

{ cat "$tmp/commands"; echo frobnicate; } >"$tmp/commands.more"
expect_fail "an undocumented command" "$tmp/commands.more" "$tmp/usage" "$man" "$clih" \
    "command frobnicate is not documented"

sed '/^\.SS "token /,/^\.SS /{/^\.SS "token /d}' "$man" >"$tmp/man.notoken"
cmp -s "$man" "$tmp/man.notoken" && { echo "FAIL: could not remove the token entry"; fail=1; }
expect_fail "an entry removed from the page" "$tmp/commands" "$tmp/usage" "$tmp/man.notoken" "$clih" \
    "command token is not documented"

cp -R "$tmp/usage" "$tmp/usage.more"
echo "usage: logtoctl logout [--no-such-option] USER" >>"$tmp/usage.more/logout"
expect_fail "an undocumented option" "$tmp/commands" "$tmp/usage.more" "$man" "$clih" \
    "logout: option --no-such-option is not documented"

sed 's/^\.SH "EXIT STATUS"$/.SS "frobnicate [--now]"\nDoes nothing.\n.SH "EXIT STATUS"/' "$man" >"$tmp/man.extra"
cmp -s "$man" "$tmp/man.extra" && { echo "FAIL: could not add an entry"; fail=1; }
expect_fail "a documented command the program lacks" "$tmp/commands" "$tmp/usage" "$tmp/man.extra" "$clih" \
    "frobnicate is documented but not a command"

sed 's/CLI_NOROOT = 7,/CLI_NOROOT = 7,\n    CLI_NEW = 8,/' "$clih" >"$tmp/cli.h"
cmp -s "$clih" "$tmp/cli.h" && { echo "FAIL: could not add an exit code"; fail=1; }
expect_fail "an undocumented exit code" "$tmp/commands" "$tmp/usage" "$man" "$tmp/cli.h" \
    "exit code 8 (CLI_NEW) is not documented"

exit $fail
