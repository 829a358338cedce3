#!/bin/sh
# SPDX-License-Identifier: MIT
# Planted files: every file the module, the NSS module and logtoctl read or write under
# state_dir (/var/lib/logto) and cache_dir (/var/cache/logto) is replaced, one at a time, by a
# symbolic link or a hard link to a victim file (a copy of /etc/shadow), by a file owned by
# nobody, or given a loose mode; the directories themselves are made world-writable, given to
# nobody, or replaced by a symbolic link. Then the operations that use the file run (PAM
# sign-in and account, getent, logtoctl sync, status and keys) and each case checks:
#   - the documented outcome, decided per file:
#       refuse   (fail closed, with a message naming the file): what holds a session or
#                decides access and cannot be rebuilt without losing or inventing something:
#                token records and their locks, the snapshot's locks, the SSH key cache when
#                read by sshd's AuthorizedKeysCommand (logtoctl keys --cached), the snapshot
#                for readers (NSS: Logto users do not resolve, local accounts still do), and
#                every directory (state_dir, tokens/, keys/) that is a link, foreign or open;
#       replace  (the bad file is ignored, logged, and atomically replaced by a good one):
#                caches and records that are rebuilt from the IdP anyway: discovery.json,
#                jwks.json, m2m-token.json, sync.status, keys/<name> when sync rewrites them,
#                and the snapshot when sync (the source of truth) rewrites it;
#                a cache_dir that cannot be trusted is not used (everything from memory);
#   - the victim is never read (its access time stays in the past) nor written (content,
#     modification time and link count unchanged), through any link;
#   - nothing is left pointing at it when the outcome is "replace".
# Last, token records are never readable by other users: 0600 in a 0700 directory even when
# the writer runs under umask 000, and an open as nobody fails.
. "$top_srcdir/tests/lib/hard.sh"
hard_enter "$@"
need_cmd setpriv stat
hard_idp_start
hard_secret alice-pass-1 bob-pass-1 erin-pass-1
hard_config "[service *]
allow_any_user = yes
flow = password
qr = no
claims_max_age = 1h"
hard_services pw

# The victims: copies of /etc/shadow on the same file systems as state_dir and cache_dir (a
# hard link needs that), owned by root, 0600, with an access time in the past so that any read
# shows (tmpfs updates atime on the first read after the last modification).
mkdir -m 0700 /var/lib/victim /var/cache/victim
VS=/var/lib/victim/shadow VC=/var/cache/victim/shadow
for v in $VS $VC; do
    cp /etc/shadow "$v"
    chmod 0600 "$v"
done
victim_reset() {
    for v in $VS $VC; do
        cp /etc/shadow "$v"
        touch -m -d '2001-01-01 00:00:00' "$v"
        touch -a -d '2000-01-01 00:00:00' "$v"
    done
}
# Inode, size, access and modification times first (not the link count: planting a hard link
# changes it), then the content (which reads it:
# the access time is put back to the past afterwards).
victim_state() {
    stat -c '%i %s %X %Y' $VS $VC | tr '\n' ' '
    sha256sum $VS $VC | cut -c1-16 | tr '\n' ' '
    touch -a -d '2000-01-01 00:00:00' $VS $VC
}
# The detector works: reading a victim changes its state.
victim_reset
v0=$(victim_state)
cat $VS >/dev/null
[ "$(victim_state)" != "$v0" ] || skip "reads do not update access times on this file system"
victim_reset

# ---------------------------------------------------------------- a good state to start from
# alice and bob signed in (token records, snapshot, caches); erin's SSH keys cached by sync.
for u in alice bob; do
    hard_pam pw $u authenticate $u-pass-1
    pam_expect_ok "$u signs in"
done
hard_ctl sync
[ "$RC" = 0 ] || fail "first sync: $ERR"
[ -s "$KEYS/erin" ] || fail "no key cache for erin"
[ -s "$STATE/m2m-token.json" ] || fail "no cached M2M token"
hard_harvest
cp -a "$STATE" "$P/good-state"
cp -a "$CACHE" "$P/good-cache"
restore() {
    rm -rf "$STATE" "$CACHE" "$STATE.real" "$CACHE.real"
    cp -a "$P/good-state" "$STATE"
    cp -a "$P/good-cache" "$CACHE"
}

# ---------------------------------------------------------------- operations
# Each sets GOT to "ok" or "refused: <the first line of its message>" (in this shell, not a
# subshell, so every captured output keeps its own file for the secrets check).
pam_outcome() { # the log events that carry the reason
    if [ "$ST" = 0 ]; then GOT=ok; else
        GOT="refused: $(pam_log "$F" | grep -m1 -E "^($1|local-check-failed|config-error)")"
    fi
}
op_signin() { hard_pam pw bob authenticate bob-pass-1; pam_outcome auth-failed; }
op_account() { hard_pam pw bob acct_mgmt; pam_outcome account-denied; }
op_mgmt() { hard_pam mg erin authenticate erin-pass-1; pam_outcome auth-failed; }
op_getent() {
    n=$(wc -l <"$E2E_SYSLOG")
    if hard_getent passwd bob >"$H/getent.$CASES.out" 2>&1; then GOT=ok; else
        GOT="refused: $(e2e_syslog_after "$n" 'snapshot-refused' | grep -o 'snapshot-refused.*')"
    fi
}
op_local() { # a local account resolves whatever happens to the snapshot
    if hard_getent passwd root >/dev/null; then GOT=ok; else GOT="refused: root"; fi
}
ctl_outcome() {
    if [ "$RC" = 0 ]; then GOT=ok; else GOT="refused: $(printf '%s' "$ERR" | head -n 1)"; fi
}
op_sync() { hard_ctl sync; ctl_outcome; }
# A sync with something to write (an unchanged directory is not rewritten, and takes no lock).
op_sync_change() {
    idp_ctl PATCH /users/bob "{\"name\":\"Bob $CASES\"}" >/dev/null || fail "rename bob"
    op_sync
}
# status runs and reports (exit 0 or 1: "something needs attention"), never crashes or follows.
op_status() { hard_ctl status --offline; [ "$RC" -le 1 ] && GOT=ok || ctl_outcome; }
op_keys() { hard_ctl keys --cached erin; ctl_outcome; }
pam_service "$PAM_DIR/pam.d" mg "auth required $LOGTO_PAM_MODULE"
cat >>"$CFG" <<'EOF'
[service mg]
password_method = management
EOF

# ---------------------------------------------------------------- plants
plant() { # KIND PATH
    p=$2
    case "$p" in /var/cache/*) v=$VC ;; *) v=$VS ;; esac
    case "$1" in
    symlink) rm -f "$p" && ln -s "$v" "$p" ;;
    hardlink) rm -f "$p" && ln "$v" "$p" ;;
    nobody) [ -e "$p" ] || : >"$p"; chown nobody "$p" ;;
    0644 | 0666 | 0600 | 0777 | 0755 | 0700) chmod "$1" "$p" ;;
    dirlink) mv "$p" "$p.real" && ln -s "$(basename "$p").real" "$p" ;;
    *) fail "unknown plant $1" ;;
    esac
}

CASES=0
FAILED=0
TABLE=$H/table
: >"$TABLE"
# case FILE KIND OP EXPECT [WORD]: EXPECT is refuse (the op fails, its message contains WORD,
# default: the file's name) or replace (the op succeeds; afterwards FILE is a regular root file
# again) or ok (the op succeeds and FILE is left as it is: e.g. getent with a bad cache file).
# Under valgrind two kinds per file: a symbolic link (refused at open, O_NOFOLLOW) and a foreign
# owner (refused after fstat); a hard link and a loose mode end in the same branch of that check,
# which the build and ASan stages run for every file.
case_() {
    file=$1 kind=$2 op=$3 want=$4 word=${5:-$(basename "$1")}
    if under_wrapper; then
        case "$kind" in symlink | nobody) ;; *) return 0 ;; esac
    fi
    CASES=$((CASES + 1))
    restore
    victim_reset
    v_before=$(victim_state)
    plant "$kind" "$file" || fail "cannot plant $kind at $file"
    GOT=
    "op_$op"
    got=$GOT
    verdict=ok
    case "$want" in
    refuse)
        case "$got" in
        refused:*"$word"*) ;;
        *) verdict="FAIL(expected a refusal naming $word)" ;;
        esac
        ;;
    replace | ok)
        [ "$got" = ok ] || verdict="FAIL(expected success)"
        if [ "$want" = replace ]; then
            if [ -L "$file" ] || [ "$(stat -c '%U %h' "$file" 2>/dev/null)" != "root 1" ]; then
                verdict="FAIL(not replaced: $(stat -c '%F %U %h %a' "$file" 2>&1))"
            fi
        fi
        ;;
    esac
    [ "$(victim_state)" = "$v_before" ] || verdict="FAIL(the victim was read or written)"
    [ "$verdict" = ok ] || { FAILED=$((FAILED + 1)); echo "FAIL: $file $kind $op: $got" >&2; }
    printf '%-42s %-9s %-7s %-8s %-6s %s\n' "${file#/var/}" "$kind" "$op" "$want" \
        "$([ "$verdict" = ok ] && echo ok || echo FAIL)" "$(printf '%.110s' "$got")" >>"$TABLE"
    [ "$verdict" = ok ] || echo "  $verdict" >>"$TABLE"
}

T=$STATE/tokens
# ---- token records and their locks: refused, never followed
for k in symlink hardlink nobody 0644; do
    case_ "$T/bob.json" $k signin refuse
    case_ "$T/bob.json" $k account refuse
done
case_ "$T/bob.json" symlink status ok
for k in symlink hardlink nobody; do
    case_ "$T/bob.lock" $k signin refuse
    case_ "$T/bob.lock" $k account refuse
done
# ---- the snapshot: NSS refuses it (local accounts still resolve); sync replaces it; a sign-in
# (read, add, write) refuses a snapshot it cannot trust.
for k in symlink hardlink nobody 0666; do
    case_ "$SNAP" $k getent refuse "$(basename "$SNAP")"
    case_ "$SNAP" $k local ok
    case_ "$SNAP" $k sync replace
    case_ "$SNAP" $k signin refuse
    case_ "$SNAP" $k status ok
done
for l in directory.lock directory.update.lock; do
    for k in symlink hardlink nobody; do
        case_ "$STATE/$l" $k sync_change refuse
        case_ "$STATE/$l" $k signin refuse
    done
done
# ---- caches and records rebuilt from the IdP: ignored and replaced
for k in symlink hardlink nobody 0644; do
    case_ "$STATE/m2m-token.json" $k sync replace
done
case_ "$STATE/m2m-token.json" symlink mgmt replace
for k in symlink hardlink nobody 0666; do
    case_ "$STATE/sync.status" $k sync replace
    case_ "$STATE/sync.status" $k status ok
done
for k in symlink hardlink nobody 0644; do
    case_ "$KEYS/erin" $k keys refuse erin
    case_ "$KEYS/erin" $k sync replace
done
for f in discovery.json jwks.json; do
    for k in symlink hardlink nobody 0666; do
        case_ "$CACHE/$f" $k signin replace
        case_ "$CACHE/$f" $k status ok
    done
done
# ---- directories
for k in 0777 nobody dirlink; do
    case_ "$STATE" $k signin refuse "$STATE"
    case_ "$STATE" $k account refuse "$STATE"
    case_ "$STATE" $k sync refuse "$STATE"
    case_ "$STATE" $k getent refuse "$STATE"
done
for k in 0777 0755 nobody dirlink; do
    case_ "$T" $k signin refuse "$T"
    case_ "$T" $k account refuse "$T"
done
for k in 0777 0755 nobody dirlink; do
    case_ "$KEYS" $k keys refuse "$KEYS"
done
# An untrusted cache_dir is not used: sign-ins work from memory.
for k in 0777 nobody dirlink; do
    case_ "$CACHE" $k signin ok
done

echo "planted files: $CASES cases"
printf '%-42s %-9s %-7s %-8s %-6s %s\n' file plant op expected result "what happened"
cat "$TABLE"
[ "$FAILED" = 0 ] || fail "$FAILED case(s) failed"

# ---------------------------------------------------------------- token records stay private
restore
( umask 000 && hard_pam pw alice authenticate alice-pass-1 && pam_expect_ok "alice under umask 000" )
for f in "$T"/*.json "$STATE/m2m-token.json" "$KEYS"/*; do
    assert_eq "$(stat -c '%a %U' "$f")" "600 root" "mode of $f"
done
assert_eq "$(stat -c '%a %U' "$T")" "700 root" "mode of $T"
assert_eq "$(stat -c '%a %U' "$KEYS")" "700 root" "mode of $KEYS"
for f in "$T/alice.json" "$STATE/m2m-token.json"; do
    if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$f" >/dev/null 2>&1; then
        fail "nobody can read $f"
    fi
done
# A record whose mode was loosened is never used (and so never handed out).
chmod 0640 "$T/alice.json"
hard_pam pw alice acct_mgmt
pam_expect PAM_PERM_DENIED "alice's record readable by group"
hard_done
