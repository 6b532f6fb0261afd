#!/bin/bash
# The control socket: only root and group lympho may act; a second lymphd on
# the same socket refuses to start and the first keeps working; a stale socket
# left by a SIGKILL is replaced.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

as_nobody () { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

case_begin setup
# So that a uid in group lympho can be tried; harmless when it exists.
getent group lympho >/dev/null || groupadd --system lympho || die "groupadd lympho"
lympho_gid=$(getent group lympho | cut -d: -f3)
lymphd_start || die "lymphd does not start"
assert_true "socket $LYT_SOCK exists" test -S "$LYT_SOCK"
say "socket: $(stat -c '%A %U:%G' "$LYT_SOCK")"
case_end

case_begin root-allowed
out=$(ctl --json ls 2>&1)
assert_eq 0 $? "root: ls exit status [$out]"
assert_true "root: ls prints a JSON array" sh -c 'printf "%s" "$1" | jq -e "type == \"array\"" >/dev/null' _ "$out"
case_end

case_begin nobody-refused
# Whatever the socket's mode, nobody must be refused with a clear message.
out=$(as_nobody "$LYMPHCTL" --socket "$LYT_SOCK" ls 2>&1)
rc=$?
say "nobody: status $rc, '$out'"
assert_eq 1 "$rc" "nobody: ls exit status"
assert_match 'permi|denied|not allowed|refus|unauthori|forbidden' "$out" "nobody: message says why"
case_end

case_begin nobody-refused-by-peer-check
# With the socket world-writable the file system lets nobody connect, so the
# refusal must come from lymphd's own SO_PEERCRED check.
chmod 0666 "$LYT_SOCK" || die "chmod socket"
out=$(as_nobody "$LYMPHCTL" --socket "$LYT_SOCK" ls 2>&1)
rc=$?
say "nobody via 0666 socket: status $rc, '$out'"
assert_eq 1 "$rc" "nobody: ls exit status"
assert_match 'permi|denied|not allowed|refus|unauthori|forbidden' "$out" "nobody: message says why"
out=$(as_nobody "$LYMPHCTL" --socket "$LYT_SOCK" regen "${LYT_PFX}x" 2>&1)
assert_eq 1 $? "nobody: regen exit status [$out]"
assert_true "daemon still answers root" ctl_alive
case_end

case_begin group-lympho-allowed
out=$(setpriv --reuid=65534 --regid="$lympho_gid" --clear-groups "$LYMPHCTL" --socket "$LYT_SOCK" --json ls 2>&1)
assert_eq 0 $? "uid 65534 gid lympho ($lympho_gid): ls exit status [$out]"
out=$(setpriv --reuid=65534 --regid=65534 --groups="$lympho_gid" "$LYMPHCTL" --socket "$LYT_SOCK" --json ls 2>&1)
say "uid 65534 with supplementary group lympho: status $?, '$out' (informational: SO_PEERCRED carries no supplementary groups)"
case_end

case_begin second-daemon-refused
st2="$LYT_TMP/state2"
mkdir -p "$st2"
timeout 20 "$LYMPHD" --config "$LYT_CONFIG" --socket "$LYT_SOCK" --state-dir "$st2" --listen none \
  --docker-host "$LYT_DOCKER_HOST" --log-level debug >"$LYT_TMP/second.log" 2>&1
rc=$?
say "second lymphd: status $rc, '$(tail -n 3 "$LYT_TMP/second.log" | tr '\n' ' ')'"
assert_ne 0 "$rc" "second lymphd exits non-zero"
assert_ne 124 "$rc" "second lymphd exits by itself (not killed by the 20 s timeout)"
assert_match 'socket|running|in use|already' "$(cat "$LYT_TMP/second.log")" "second lymphd says why"
assert_true "first lymphd still runs" kill -0 "$LYMPHD_PID"
assert_true "first lymphd still answers" ctl_alive
assert_true "socket still there" test -S "$LYT_SOCK"
case_end

case_begin stale-socket-replaced
lymphd_kill9
assert_true "socket file left behind by SIGKILL" test -S "$LYT_SOCK"
ctl ls >/dev/null 2>&1
assert_eq 1 $? "ls on a stale socket exits 1"
if lymphd_start; then ok "lymphd starts over a stale socket"; else _afail "lymphd does not start over a stale socket: $(tail -n 3 "$LYMPHD_LOG")"; fi
assert_true "it answers" ctl_alive
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
[ -e "$LYT_SOCK" ] && say "note: the socket file stays after a clean exit"
case_end

case_begin bad-option
rm -f "$LYT_SOCK"
"$LYMPHD" --socket "$LYT_SOCK" --state-dir "$LYT_STATE" --listen none --log-level loud >"$LYT_TMP/bad.log" 2>&1
rc=$?
assert_ne 0 "$rc" "lymphd --log-level loud exits non-zero"
assert_match 'log-level' "$(cat "$LYT_TMP/bad.log")" "message names the option"
assert_true "no socket left by a refused start" test ! -e "$LYT_SOCK"
case_end

finish
