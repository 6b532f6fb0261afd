# lympho — shared helpers for the black-box integration tests (sourced by
# every tests/integration/test-*.sh and by bench/run.sh).
#
# The tests drive the real lymphd only through lymphctl and the real engine,
# and assert on what the engine reports (/usr/bin/docker inspect), never on
# lymphd's own opinion alone.
#
# Environment:
#   LYMPHD, LYMPHCTL    binaries under test (make integration sets them)
#   LYT_IMAGE           test image built by run.sh; built here when unset
#   LYT_RUN             run id shared by the tests of one run.sh invocation
#   LYT_VERBOSE=1       echo every docker/lymphctl step
#   LYT_KEEP=1          keep the temp dir even when everything passed
# shellcheck shell=bash

set -u
set -o pipefail

LYT_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LYT_SRCDIR=$(cd "$LYT_LIBDIR/../.." && pwd)
DOCKER=${DOCKER:-/usr/bin/docker}
# The engine is 20.10 (API 1.41); a newer client on PATH would ask for more.
export DOCKER_API_VERSION=${DOCKER_API_VERSION-1.41}
LYT_DOCKER_HOST=${LYT_DOCKER_HOST:-unix:///var/run/docker.sock}

LYT_TEST=${LYT_TEST:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
LYT_RUN=${LYT_RUN:-lyt$$}
# Every engine object a test creates starts with this prefix; cleanup removes
# exactly those (other people share this engine).
LYT_PFX="${LYT_RUN}-${LYT_TEST#test-}-"
LYT_TMP=$(mktemp -d "/tmp/${LYT_PFX}XXXXXX")
# Reachable by uid nobody: test-auth must exercise lymphd's own peer check,
# not the file system's.
chmod 755 "$LYT_TMP"
LYT_SOCK="$LYT_TMP/lymphd.sock"
LYT_STATE="$LYT_TMP/state"
LYT_CONFIG="$LYT_TMP/lymphd.conf"
: >"$LYT_CONFIG"
LYMPHD_LOG="$LYT_TMP/lymphd.log"
LYMPHD_PID=
LYMPHD_RC=
LYT_PIDS=()          # every lymphd started, for cleanup
LYT_OWN_IMAGE=0
LYT_CASE=
LYT_CASE_FAILS=0
LYT_NFAIL=0
LYT_NPASS=0
LYT_PORTS=" "

say () { printf '  %s\n' "$*"; }
# On fd 3 (the test's stderr): callers capture stdout and stderr of dk and ctl.
exec 3>&2
vsay () { [ "${LYT_VERBOSE:-0}" = 1 ] && say "$@" >&3; return 0; }

# ---------------------------------------------------------------- results

pass () { echo "PASS: $1"; LYT_NPASS=$((LYT_NPASS + 1)); }
fail ()
{
  echo "FAIL: $1: $2"
  LYT_NFAIL=$((LYT_NFAIL + 1))
}

# A case groups assertions under one PASS/FAIL line; an assertion failure is
# printed at once (what was expected, what was seen) and the case goes on so
# one run reports everything that is wrong.
case_begin ()
{
  LYT_CASE="$LYT_TEST/$1"
  LYT_CASE_FAILS=0
  LYT_CASE_MSGS=
  say "--- $LYT_CASE"
}
case_end ()
{
  if [ "$LYT_CASE_FAILS" -eq 0 ]; then
    pass "$LYT_CASE"
  else
    fail "$LYT_CASE" "$LYT_CASE_FAILS assertion(s) failed:$LYT_CASE_MSGS"
  fi
  LYT_CASE=
}
_afail ()
{
  say "not ok: $1"
  LYT_CASE_FAILS=$((LYT_CASE_FAILS + 1))
  LYT_CASE_MSGS="$LYT_CASE_MSGS [$1]"
}
ok () { say "ok: $1"; }

assert_eq () # EXPECTED SEEN WHAT
{
  if [ "$1" = "$2" ]; then ok "$3 ($2)"; else _afail "$3: expected '$1', saw '$2'"; fi
}
assert_ne () # UNEXPECTED SEEN WHAT
{
  if [ "$1" != "$2" ]; then ok "$3 ($2 != $1)"; else _afail "$3: expected anything but '$1'"; fi
}
assert_true () # WHAT CMD...
{
  local what=$1
  shift
  if "$@"; then ok "$what"; else _afail "$what (command failed: $*)"; fi
}
assert_match () # REGEX SEEN WHAT
{
  if grep -Eqi -- "$1" <<<"$2"; then ok "$3"; else _afail "$3: '$2' does not match /$1/"; fi
}
assert_ge () # MIN SEEN WHAT
{
  if [ "$2" -ge "$1" ] 2>/dev/null; then ok "$3 ($2 >= $1)"; else _afail "$3: expected >= $1, saw '$2'"; fi
}
assert_le () # MAX SEEN WHAT
{
  if [ "$2" -le "$1" ] 2>/dev/null; then ok "$3 ($2 <= $1)"; else _afail "$3: expected <= $1, saw '$2'"; fi
}

# A setup step failed: nothing meaningful can be asserted any more.
die ()
{
  fail "${LYT_CASE:-$LYT_TEST}" "setup: $*"
  exit 1
}

# End of a test script: exit status from the cases.
finish ()
{
  say "$LYT_TEST: $LYT_NPASS passed, $LYT_NFAIL failed"
  [ "$LYT_NFAIL" -eq 0 ]
  exit $?
}

# ---------------------------------------------------------------- tools

need_cmd () # CMD PACKAGE
{
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ -x "$LYT_SRCDIR/contrib/deps.sh" ] && [ "$(id -u)" -eq 0 ]; then
    "$LYT_SRCDIR/contrib/deps.sh" "$2" >&2 || true
  elif command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    apt-get install -y "$2" >&2 || true
  fi
  command -v "$1" >/dev/null 2>&1
}

# wait_for CONDITION TIMEOUT_S: poll a shell condition every 0.2 s.
wait_for ()
{
  local cond=$1 timeout=$2 end
  end=$(($(date +%s%N) / 1000000 + timeout * 1000))
  while :; do
    if eval "$cond" >/dev/null 2>&1; then return 0; fi
    [ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
    sleep 0.2
  done
}

now_ms () { echo $(($(date +%s%N) / 1000000)); }

# A TCP port nobody listens on, different from those given out before.
free_port ()
{
  local p hex
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 25000))
    case "$LYT_PORTS" in *" $p "*) continue ;; esac
    hex=$(printf ':%04X ' "$p")
    if ! grep -q -- "$hex" < <(awk '{print $2" "}' /proc/net/tcp /proc/net/tcp6 2>/dev/null); then
      LYT_PORTS="$LYT_PORTS$p "
      echo "$p"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- engine

engine_ping () { [ "$(curl -s --max-time 5 --unix-socket "${LYT_DOCKER_HOST#unix://}" http://engine/_ping 2>/dev/null)" = OK ]; }

# Make sure an engine answers; return 77 when none can be started.
engine_up ()
{
  need_cmd curl curl || { echo "no curl" >&2; return 77; }
  engine_ping && return 0
  if [ -x "$LYT_SRCDIR/contrib/engine.sh" ]; then
    "$LYT_SRCDIR/contrib/engine.sh" >&2 || return 77
  elif command -v dockerd >/dev/null && [ "$(id -u)" -eq 0 ]; then
    "$LYT_SRCDIR/contrib/detach.sh" /var/log/lyt-dockerd.log dockerd --host "$LYT_DOCKER_HOST" >/dev/null
    wait_for engine_ping 60 || return 77
  else
    return 77
  fi
  engine_ping || return 77
}

# A dockerd of our own (no default bridge, no iptables: user networks and the
# userland proxy for published ports still work), for shared machines.
LYT_ENGINE_PID=
private_engine_up ()
{
  local d="$LYT_TMP/engine"
  mkdir -p "$d"
  LYT_DOCKER_HOST="unix://$d/docker.sock"
  setsid dockerd --host "$LYT_DOCKER_HOST" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/docker.pid" --bridge none --iptables=false \
    --containerd-namespace "${LYT_RUN}" --containerd-plugins-namespace "${LYT_RUN}p" \
    </dev/null >"$d/dockerd.log" 2>&1 3>&- &
  LYT_ENGINE_PID=$!
  # test-engine-restart finds (and replaces) the engine through its pidfile.
  export LYT_ENGINE_PIDFILE="$d/docker.pid"
  export LYT_DOCKER_HOST DOCKER_HOST="$LYT_DOCKER_HOST"
  wait_for engine_ping 60 || { tail -n 20 "$d/dockerd.log" >&2; return 1; }
  say "private engine: pid $LYT_ENGINE_PID at $LYT_DOCKER_HOST"
}
private_engine_down ()
{
  [ -n "$LYT_ENGINE_PID" ] || return 0
  # A restart test may have replaced the process we started.
  [ -s "$LYT_ENGINE_PIDFILE" ] && LYT_ENGINE_PID=$(cat "$LYT_ENGINE_PIDFILE")
  kill -TERM "$LYT_ENGINE_PID" 2>/dev/null
  for ((i = 0; i < 300; i++)); do kill -0 "$LYT_ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$LYT_ENGINE_PID" 2>/dev/null
  wait "$LYT_ENGINE_PID" 2>/dev/null
  # Its data root holds overlay mounts until dockerd has gone.
  umount -R "$LYT_TMP/engine/data" 2>/dev/null
  umount -R "$LYT_TMP/engine/exec" 2>/dev/null
  LYT_ENGINE_PID=
}

dk () { vsay "docker $*"; "$DOCKER" "$@"; }

# ---------------------------------------------------------------- image

# busybox-static root with httpd serving /www (CMD /bin/serve), and the
# tools the tests use.
build_image () # TAG
{
  local tag=$1 root
  need_cmd busybox busybox-static || return 1
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc" "$root/data"
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for a in sh httpd sleep wget cat touch ls test usleep echo mkdir rm seq kill date printf grep true false env timeout; do
    ln -s busybox "$root/bin/$a"
  done
  # PID 1 gets no default signal actions: without the trap, SIGTERM would be
  # ignored and every graceful stop would wait out the 10 s timeout.
  cat >"$root/bin/serve" <<'EOF'
#!/bin/sh
trap 'kill $pid 2>/dev/null; exit 0' TERM INT
httpd -f -p 80 -h /www &
pid=$!
wait $pid
EOF
  chmod 755 "$root/bin/serve"
  echo "lyt-ok" >"$root/www/index.html"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["/bin/serve"]' - "$tag" >/dev/null
  local rc=$?
  rm -rf "$root"
  return $rc
}

image_up ()
{
  if [ -n "${LYT_IMAGE:-}" ] && "$DOCKER" image inspect "$LYT_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  LYT_IMAGE="${LYT_PFX}img:1"
  build_image "$LYT_IMAGE" || return 1
  LYT_OWN_IMAGE=1
}

# ---------------------------------------------------------------- faults

# faulty_engine_up SOCK: the conformance suite's faulty engine in front of
# the test's engine, listening on SOCK, its fault read from
# $LYT_TMP/fault (empty: pass everything through), its log in
# $LYT_TMP/faulty.log; FAULTY_PID is its pid (stopped with the test).
faulty_engine_up ()
{
  local fsock=$1
  [ -e "$LYT_TMP/fault" ] || : >"$LYT_TMP/fault"
  python3 "$LYT_SRCDIR/tests/conformance/faulty-engine.py" --listen "$fsock" \
    --engine "${LYT_DOCKER_HOST#unix://}" --fault-file "$LYT_TMP/fault" >"$LYT_TMP/faulty.log" 2>&1 &
  FAULTY_PID=$!
  LYT_PIDS+=("$FAULTY_PID")
  wait_for "[ -S '$fsock' ]" 10
}

# ---------------------------------------------------------------- lymphd

lyt_bins ()
{
  LYMPHD=${LYMPHD:-$(command -v lymphd || true)}
  LYMPHCTL=${LYMPHCTL:-$(command -v lymphctl || true)}
  if [ -z "$LYMPHD" ] || [ ! -x "$LYMPHD" ] || [ -z "$LYMPHCTL" ] || [ ! -x "$LYMPHCTL" ]; then
    echo "set LYMPHD and LYMPHCTL to the built binaries (make integration does)" >&2
    return 1
  fi
}

ctl () { vsay "lymphctl $*"; "$LYMPHCTL" --socket "$LYT_SOCK" "$@"; }

ctl_alive () { "$LYMPHCTL" --socket "$LYT_SOCK" --json ls >/dev/null 2>&1; }

# lymphd_start [EXTRA ARGS]: start lymphd on LYT_SOCK/LYT_STATE and wait
# until it answers on the socket. Fails when it exits first.
lymphd_start ()
{
  mkdir -p "$LYT_STATE"
  echo "===== lymphd start $(date +%T.%N) $*" >>"$LYMPHD_LOG"
  # DOCKER_API_VERSION above is for the docker CLI: lymphd negotiates its own
  # unless a test pins one (LYT_LYMPHD_API_VERSION).
  DOCKER_API_VERSION=${LYT_LYMPHD_API_VERSION:-} \
  "$LYMPHD" --config "$LYT_CONFIG" --socket "$LYT_SOCK" --state-dir "$LYT_STATE" --listen none \
    --docker-host "$LYT_DOCKER_HOST" --log-level debug "$@" >>"$LYMPHD_LOG" 2>&1 3>&- &
  LYMPHD_PID=$!
  LYT_PIDS+=("$LYMPHD_PID")
  [ -n "${LYT_PIDLOG:-}" ] && echo "$LYMPHD_PID" >>"$LYT_PIDLOG"
  vsay "lymphd pid $LYMPHD_PID"
  local i
  for ((i = 0; i < 150; i++)); do
    if ! kill -0 "$LYMPHD_PID" 2>/dev/null; then
      wait "$LYMPHD_PID"
      LYMPHD_RC=$?
      say "lymphd exited at start with status $LYMPHD_RC"
      LYMPHD_PID=
      return 1
    fi
    ctl_alive && return 0
    sleep 0.2
  done
  say "lymphd does not answer on $LYT_SOCK after 30 s"
  return 1
}

# SIGTERM and wait (30 s) for exit; LYMPHD_RC gets the status.
lymphd_stop ()
{
  local pid=${1:-$LYMPHD_PID} i
  LYMPHD_RC=
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    # A zombie child counts as exited.
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    say "lymphd $pid still runs 30 s after SIGTERM; killing it"
    kill -9 "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  LYMPHD_RC=$?
  echo "===== lymphd $pid stopped (TERM), status $LYMPHD_RC" >>"$LYMPHD_LOG"
  [ "$pid" = "$LYMPHD_PID" ] && LYMPHD_PID=
  return 0
}

lymphd_kill9 ()
{
  local pid=${1:-$LYMPHD_PID}
  [ -n "$pid" ] || return 0
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  echo "===== lymphd $pid killed (KILL) $(date +%T.%N)" >>"$LYMPHD_LOG"
  [ "$pid" = "$LYMPHD_PID" ] && LYMPHD_PID=
  return 0
}

lymphd_log_dump ()
{
  [ -s "$LYMPHD_LOG" ] || return 0
  echo "----- lymphd log ($LYMPHD_LOG), last 150 lines"
  tail -n 150 "$LYMPHD_LOG" | sed 's/^/  | /'
  echo "-----"
}

# ---------------------------------------------------------------- queries

ls_json () { ctl --json ls 2>/dev/null; }
# ls_field NAME FIELD: one field of one protected container from `ls --json`.
ls_field () { ls_json | jq -r --arg n "$1" ".[] | select(.name == \$n) | .$2" 2>/dev/null; }
in_ls () { [ -n "$(ls_field "$1" name)" ]; }
# lymphd reports nothing in flight or pending for NAME: no regeneration,
# queued one, retry, recovery, incident or adoption. What a case waits for
# before it acts again, since what the engine shows (one generation running)
# is true already while a retry is pending.
lymphd_idle () { [ "$(ls_field "$1" idle)" = true ]; }
# history_json [NAME]
history_json () { ctl --json history "$@" 2>/dev/null; }

c_id () { "$DOCKER" inspect -f '{{.Id}}' "$1" 2>/dev/null; }
c_label () { "$DOCKER" inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null; }
c_gen () { c_label "$1" lympho.generation; }
c_running () { [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
c_health () { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }
c_json () { "$DOCKER" inspect -f "{{json $2}}" "$1" 2>/dev/null; }

# Every container that belongs to protected name NAME: the one holding the
# name, temporaries "<NAME>-lympho-*", and anything labelled lympho.name=NAME.
# Prints "name id" lines, sorted.
c_family ()
{
  local n=$1
  {
    "$DOCKER" ps -a --filter "name=$n" --format '{{.Names}} {{.ID}}' |
      awk -v n="$n" '$1 == n || index($1, n "-lympho-") == 1'
    "$DOCKER" ps -a --filter "label=lympho.name=$n" --format '{{.Names}} {{.ID}}'
  } | sort -u
}

# Is the container holding NAME the only member of its family, running?
c_settled ()
{
  local n=$1 fam
  fam=$(c_family "$n")
  [ "$(printf '%s\n' "$fam" | grep -c .)" -eq 1 ] || return 1
  [ "${fam%% *}" = "$n" ] || return 1
  c_running "$n"
}

# Assert "exactly one container for NAME, it holds the name, it runs".
assert_single () # NAME
{
  local fam count
  fam=$(c_family "$1")
  count=$(printf '%s\n' "$fam" | grep -c .)
  assert_eq 1 "$count" "exactly one container in the family of $1 [$(echo $fam)]"
  assert_true "$1 runs" c_running "$1"
}

http_get () # PORT -> body
{
  curl -s --max-time 3 "http://127.0.0.1:$1/"
}
http_ok () { [ "$(http_get "$1")" = lyt-ok ]; }

# ---------------------------------------------------------------- cleanup

# The scratch directory goes, unless something failed (then lymphd's log is
# shown and the directory kept) or LYT_KEEP=1.
lyt_tmp_done () # RC
{
  if [ "$1" -ne 0 ] || [ "$LYT_NFAIL" -ne 0 ]; then
    lymphd_log_dump
    echo "  (kept $LYT_TMP)"
  elif [ "${LYT_KEEP:-0}" != 1 ]; then
    rm -rf "$LYT_TMP"
  fi
}

lyt_cleanup ()
{
  local rc=$? pid ids i
  trap - EXIT INT TERM
  if [ "$LYT_TEST" = run ] && [ -s "${LYT_PIDLOG:-}" ]; then
    # Orphans of a test killed by the timeout: only pids we started that
    # still run the lymphd binary.
    while read -r pid; do
      [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$LYMPHD")" ] && LYT_PIDS+=("$pid")
    done <"$LYT_PIDLOG"
  fi
  for pid in "${LYT_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  ids=$("$DOCKER" ps -aq --filter "name=$LYT_PFX" 2>/dev/null)
  ids="$ids $("$DOCKER" ps -a --filter label=lympho.name --format '{{.ID}} {{.Label "lympho.name"}}' 2>/dev/null |
    awk -v p="$LYT_PFX" 'index($2, p) == 1 {print $1}')"
  # -v: anonymous volumes go with their container; but one that lymphd
  # attached again by its name to a new generation (so that its data
  # stays) is the container's named volume now, and stays: removed by name.
  local anon=
  if [ -n "${ids// /}" ]; then
    anon=$("$DOCKER" inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' $ids 2>/dev/null |
      tr ' ' '\n' | grep -E '^[0-9a-f]{64}$' | sort -u)
    "$DOCKER" rm -f -v $ids >/dev/null 2>&1
  fi
  for i in $anon; do "$DOCKER" volume rm "$i" >/dev/null 2>&1; done
  ids=$("$DOCKER" network ls -q --filter "name=$LYT_PFX" 2>/dev/null)
  [ -n "$ids" ] && "$DOCKER" network rm $ids >/dev/null 2>&1
  ids=$("$DOCKER" volume ls -q --filter "name=$LYT_PFX" 2>/dev/null)
  [ -n "$ids" ] && "$DOCKER" volume rm -f $ids >/dev/null 2>&1
  # Image names a test gave (an image goes with its last name).
  ids=$("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -F "$LYT_PFX" |
    awk -v p="$LYT_PFX" 'index($0, p) == 1 || index($0, "/" p) > 0')
  # One at a time: Podman's rmi gives up on all of them at the first it
  # cannot remove.
  for i in $ids; do "$DOCKER" rmi "$i" >/dev/null 2>&1; done
  if [ "$LYT_OWN_IMAGE" = 1 ]; then
    # By id with -f: the pin tags lymphd added go too.
    ids=$("$DOCKER" image inspect -f '{{.Id}}' "$LYT_IMAGE" 2>/dev/null)
    [ -n "$ids" ] && "$DOCKER" rmi -f "$ids" >/dev/null 2>&1
  fi
  private_engine_down
  # A lymphd of this test that left a sanitizer's report (a leak at its
  # exit, most often: written as it exits, after the test's own checks) is a
  # failure of the test, whoever stopped it.
  local report
  report=$(grep -h -m 1 -E '^==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: ' "$LYT_TMP"/*.log 2>/dev/null | head -n 1)
  if [ -n "$report" ]; then
    echo "FAIL: $LYT_TEST/sanitizer: $report"
    [ "$rc" -eq 0 ] && rc=1
  fi
  lyt_tmp_done "$rc"
  exit "$rc"
}

# lyt_init: tools, engine, image, binaries; installs the cleanup trap.
lyt_init ()
{
  trap lyt_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  need_cmd jq jq || { echo "FAIL: $LYT_TEST: setup: jq missing"; exit 1; }
  engine_up
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "SKIP: $LYT_TEST: no Docker Engine answers and none could be started"
    exit 77
  fi
  lyt_bins || { echo "FAIL: $LYT_TEST: setup: binaries not found"; exit 1; }
  image_up || { echo "FAIL: $LYT_TEST: setup: cannot build the test image"; exit 1; }
  # Containers that need no particular network go on this one rather than
  # the default bridge: the tests then do not depend on docker0 (which
  # another engine user can break) and stay apart from others' containers.
  LYT_NET="${LYT_PFX}default"
  "$DOCKER" network create "$LYT_NET" >/dev/null || { echo "FAIL: $LYT_TEST: setup: network create $LYT_NET"; exit 1; }
  # Another lymphd on this engine adopts our containers too and races ours.
  local others=
  [ -z "${LYT_ENGINE_PIDFILE:-}" ] && others=$(pgrep -x lymphd 2>/dev/null | tr '\n' ' ')
  [ -n "$others" ] && say "warning: other lymphd processes share this engine ($others); they act on the test containers too (LYT_PRIVATE_ENGINE=1 avoids that)"
  return 0
}
