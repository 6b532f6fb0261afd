#!/bin/sh
# lymphctl's command line, without a daemon: usage errors exit 2 with a hint,
# a daemon that is not there exits 1 with one clear line, --help and
# --version exit 0. Usage: lymphctl-usage.sh [PATH-TO-LYMPHCTL]
# (default $LYMPHCTL, else ./lymphctl). Exit 77 (skip) when it is not built.
set -u
LYMPHCTL=${1:-${LYMPHCTL:-./lymphctl}}
[ -x "$LYMPHCTL" ] || { echo "skip: no lymphctl at $LYMPHCTL"; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Nobody listens here, so a command that gets past its usage check fails (1).
nosock="$tmp/none.sock"
unset LYMPHO_SOCKET
failures=0

# expect STATUS STDERR-SUBSTRING ARGS...
expect () {
  want=$1 text=$2
  shift 2
  "$LYMPHCTL" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: lymphctl $*: exit $got, wanted $want; stderr: $(cat "$tmp/err")"
    failures=$((failures + 1))
  elif [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/err"; then
    echo "FAIL: lymphctl $*: stderr lacks '$text': $(cat "$tmp/err")"
    failures=$((failures + 1))
  else
    echo "ok: lymphctl $* -> $got"
  fi
}

# Usage errors: 2, a message naming the problem, and the hint.
expect 2 "no command given"
expect 2 "unknown command" frobnicate
expect 2 "Try 'lymphctl --help'" frobnicate
expect 2 "unknown option \`--frob\`" --frob ls
expect 2 "option \`--socket\` needs a value" ls --socket
expect 2 "regen: a container NAME is required" regen
expect 2 "unexpected argument \`two\`" regen one two
expect 2 "ls: unexpected argument" ls extra
expect 2 "status: unexpected argument" status extra
expect 2 "history: unexpected argument" history a b
expect 2 "--reason applies only to regen and alert" status --reason x
expect 2 "--severity applies only to alert" regen web --severity 3
expect 2 "alert: --severity N is required" alert web
expect 2 "must be an integer from 0 to 10" alert web --severity 11
expect 2 "must be an integer from 0 to 10" alert web --severity -1
expect 2 "must be an integer from 0 to 10" alert web --severity 3x
expect 2 "must be an integer from 0 to 10" alert web --severity ""
expect 2 "alert: a container NAME is required" alert --severity 3
# Usage is checked before any connection: no daemon needed to get 2.
expect 2 "unknown command" --socket "$nosock" frobnicate

# No daemon: 1, one line naming the socket and the likely cause.
expect 1 "lymphctl: cannot connect to lymphd at $nosock: No such file or directory (is lymphd running?)" \
  --socket "$nosock" status
expect 1 "cannot connect to lymphd at $nosock" ls --socket "$nosock" --json
expect 1 "cannot connect to lymphd at $nosock" regen web --reason "why not" --socket "$nosock"
expect 1 "cannot connect to lymphd at $nosock" alert web --severity 0 --socket "$nosock"
expect 1 "cannot connect to lymphd at $nosock" history web --socket "$nosock"
if [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
  echo "FAIL: the failure message is not one line"
  failures=$((failures + 1))
fi
# $LYMPHO_SOCKET is the default; --socket wins over it.
LYMPHO_SOCKET="$tmp/env.sock" expect 1 "at $tmp/env.sock:" status
LYMPHO_SOCKET="$tmp/env.sock" expect 1 "at $nosock:" status --socket "$nosock"
# A stale socket file (nobody listening) is refused the same way.
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$tmp/stale.sock" 2>/dev/null &&
  expect 1 "cannot connect to lymphd at $tmp/stale.sock: Connection refused (is lymphd running?)" \
    --socket "$tmp/stale.sock" ls

# --help and --version: 0, on stdout.
expect 0 "" --help
grep -q "regen NAME \[--reason TEXT\]" "$tmp/out" || { echo "FAIL: --help lacks the command list"; failures=$((failures + 1)); }
expect 0 "" --version
grep -Eq '^lymphctl [0-9]+\.[0-9]+' "$tmp/out" || { echo "FAIL: --version: $(cat "$tmp/out")"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all lymphctl usage checks passed"
