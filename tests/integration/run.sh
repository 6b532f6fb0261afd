#!/bin/bash
# lympho — run every integration test against the real lymphd and the real
# engine, each in its own process with a timeout.
#
#   LYMPHD=... LYMPHCTL=... tests/integration/run.sh [test-NAME ...]
#
# Prints one PASS/FAIL/SKIP line per case, the full output of any test that
# failed, and "integration: N passed, N failed". Exit 77 when no engine can be
# started, 1 when anything failed. LYT_TIMEOUT (default 300 s) per test, or
# the test's own "# lyt-timeout: SECONDS" line.
# make runs this with $(SHELL), which may be dash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
export LYT_RUN="lyt$$"
export LYT_TEST=run
# shellcheck source=lib.sh
. "$here/lib.sh"

# Cleanup covers every test's objects, in case one was killed by the timeout
# before its own cleanup ran; lymphd pids are collected in LYT_PIDLOG.
LYT_PFX="${LYT_RUN}-"
export LYT_PIDLOG="$LYT_TMP/lymphd.pids"
: >"$LYT_PIDLOG"
trap lyt_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_cmd jq jq || { echo "integration: jq is missing and cannot be installed"; exit 1; }
# On a machine where other lymphd processes share the engine they adopt the
# test containers too and race the lymphd under test: LYT_PRIVATE_ENGINE=1
# runs the tests against a dockerd of their own, stopped at the end.
if [ "${LYT_PRIVATE_ENGINE:-0}" = 1 ]; then
  private_engine_up || { echo "integration: cannot start a private engine"; exit 1; }
fi
engine_up
if [ $? -ne 0 ]; then
  echo "integration: no Docker Engine answers and none could be started: skipped"
  exit 77
fi
if ! lyt_bins; then
  echo "integration: 0 passed, 1 failed (binaries not found)"
  exit 1
fi
image_up || { echo "integration: cannot build the test image"; exit 1; }
export LYMPHD LYMPHCTL LYT_IMAGE

timeout_s=${LYT_TIMEOUT:-300}
tests=()
if [ $# -gt 0 ]; then
  for t in "$@"; do tests+=("$here/${t%.sh}.sh"); done
else
  for t in "$here"/test-*.sh; do tests+=("$t"); done
fi

npass=0
nfail=0
nskip=0
for t in "${tests[@]}"; do
  name=$(basename "$t" .sh)
  out="$LYT_TMP/$name.out"
  echo "# $name"
  start=$(date +%s)
  # A test that needs longer says so in a "# lyt-timeout: SECONDS" line.
  t_s=$(sed -n 's/^# lyt-timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
  t_s=${t_s:-$timeout_s}
  LYT_TEST=$name timeout -k 20 "$t_s" bash "$t" >"$out" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  echo "# $name: ${secs} s"
  # The case lines the test printed itself.
  p=$(grep -c '^PASS: ' "$out")
  f=$(grep -c '^FAIL: ' "$out")
  s=$(grep -c '^SKIP: ' "$out")
  grep -E '^(PASS|FAIL|SKIP): ' "$out"
  if [ $rc -eq 77 ]; then
    [ "$s" -eq 0 ] && echo "SKIP: $name"
    nskip=$((nskip + (s > 0 ? s : 1)))
    npass=$((npass + p))
    continue
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    # Died without saying why (timeout, crash of the script): count it.
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      echo "FAIL: $name: timed out after ${t_s}s"
    else
      echo "FAIL: $name: exited with status $rc"
    fi
    f=1
  fi
  if [ $rc -eq 0 ] && [ "$p" -eq 0 ]; then
    echo "FAIL: $name: passed without asserting anything"
    f=1
  fi
  npass=$((npass + p))
  nfail=$((nfail + f))
  if [ "$f" -ne 0 ] || [ "${LYT_VERBOSE:-0}" = 1 ]; then
    echo "----- output of $name (${secs}s, status $rc)"
    sed 's/^/  /' "$out"
    echo "-----"
  fi
done

echo "integration: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
