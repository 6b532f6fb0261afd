#!/bin/bash
# The engine's API version is negotiated, and an engine lymphd cannot use is
# refused loudly: one error line naming the cause and the fix, `lymphctl
# status`, /healthz (503 with the reason) and the service's STATUS= all say
# why, and lymphd keeps trying, so that fixing the engine is enough.
#
# Runs on whatever engine answers at LYT_DOCKER_HOST (Docker 20.10 by
# default; the engine matrix runs it on newer ones). What lymphd says is
# checked against what the engine itself answers to GET /_ping and /version.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

sock=${LYT_DOCKER_HOST#unix://}
# The engine's own range, from its answers.
eng_max=$(curl -s -o /dev/null -D - --max-time 5 --unix-socket "$sock" http://engine/_ping |
  tr -d '\r' | awk -F': ' 'tolower($1) == "api-version" {print $2}')
eng_min=$(curl -s --max-time 5 --unix-socket "$sock" http://engine/version | jq -r '.MinAPIVersion // empty')
eng_version=$(curl -s --max-time 5 --unix-socket "$sock" http://engine/version | jq -r '.Version // empty')
[ -n "$eng_max" ] && [ -n "$eng_version" ] || die "the engine does not say its API version"
say "engine $eng_version serves API ${eng_min:-?} to $eng_max"

# Versions as numbers: 1.44 -> 1044.
vnum () { local a=${1%%.*} b=${1#*.}; echo $((a * 1000 + 10#$b)); }
vtext () { echo "$(($1 / 1000)).$(($1 % 1000))"; }
LYMPHO_MIN=1041
LYMPHO_MAX=1051
max_n=$(vnum "$eng_max")
want=$((max_n < LYMPHO_MAX ? max_n : LYMPHO_MAX))

status_field () { ctl --json status 2>/dev/null | jq -r --arg k "$1" '.[$k] // empty'; }
debug_retries () { grep -c 'event stream down' "$LYMPHD_LOG"; }
contains () { case "$1" in *"$2"*) return 0 ;; esac; return 1; }

# A notify socket, as systemd gives one: every datagram, one per line.
notify_listen () # PATH OUT
{
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", 0) as f:
    while True:
        f.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
' "$1" "$2" &
  LYT_NOTIFY_PID=$!
  wait_for "[ -S '$1' ]" 10
}
notify_stop () { [ -n "${LYT_NOTIFY_PID:-}" ] && kill "$LYT_NOTIFY_PID" 2>/dev/null; wait "${LYT_NOTIFY_PID:-}" 2>/dev/null; LYT_NOTIFY_PID=; }
api_cleanup ()
{
  local rc=$?
  notify_stop
  [ -n "${fe_pid:-}" ] && kill "$fe_pid" 2>/dev/null
  (exit "$rc")
  lyt_cleanup # takes the status from $?
}
trap api_cleanup EXIT

# ---------------------------------------------------------------------------
case_begin negotiated
port=$(free_port)
lymphd_start --listen "127.0.0.1:$port" || die "lymphd does not start"
wait_for '[ "$(status_field engine)" = connected ]' 30 || _afail "engine not connected: $(ctl status 2>&1 | tr '\n' ' ')"
assert_eq "$(vtext "$want")" "$(status_field api_version)" "negotiated API (newest of the engine's and lympho's)"
assert_true "status names the engine's version ($eng_version)" contains "$(status_field engine_version)" "$eng_version"
assert_eq "${eng_min:-?} to $eng_max" "$(status_field engine_api)" "status gives the engine's range"
assert_match "speaking $(vtext "$want")" "$(grep 'serves API' "$LYMPHD_LOG")" "one info line says what is spoken"
assert_eq ok "$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz")" "GET /healthz"
# Requests under the negotiated version work: a regeneration end to end.
c="${LYT_PFX}app"
dk run -d --name "$c" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h "$LYT_IMAGE" >/dev/null ||
  die "run $c"
wait_for 'lymphd_idle "$c"' 30 || _afail "$c not adopted"
id0=$(c_id "$c")
out=$(ctl regen "$c" 2>&1)
assert_eq 0 $? "lymphctl regen [$out]"
assert_ne "$id0" "$(c_id "$c")" "a new container under the name"
assert_eq 1 "$(c_gen "$c")" "generation label"
assert_true "it runs" c_running "$c"
assert_eq 0 "$(grep -c ' error: ' "$LYMPHD_LOG")" "no error line"
lymphd_stop
case_end

# ---------------------------------------------------------------------------
# DOCKER_API_VERSION pins a version the engine refuses: below its floor
# where it has one above lympho's oldest (Docker 29's 1.44), else above its
# newest.
case_begin refused-version
pin=
if [ -n "$eng_min" ] && [ "$(vnum "$eng_min")" -gt "$LYMPHO_MIN" ]; then
  pin=$(vtext "$LYMPHO_MIN") expect="refuses API $pin.*its oldest is $eng_min"
elif [ "$max_n" -lt "$LYMPHO_MAX" ]; then
  pin=$(vtext $((max_n + 1))) expect="DOCKER_API_VERSION=$pin is newer than the engine's newest API \($eng_max\)"
fi
if [ -z "$pin" ]; then
  echo "SKIP: $LYT_CASE: the engine serves every version lympho speaks (${eng_min:-?} to $eng_max): none to refuse"
  LYT_CASE=
else
  port=$(free_port)
  : >"$LYT_TMP/notify.log"
  notify_listen "$LYT_TMP/notify.sock" "$LYT_TMP/notify.log" || die "notify socket"
  : >"$LYMPHD_LOG"
  NOTIFY_SOCKET=$LYT_TMP/notify.sock LYT_LYMPHD_API_VERSION=$pin lymphd_start --listen "127.0.0.1:$port" ||
    die "lymphd does not start"
  # Tried again and again (the stream's backoff), said once.
  wait_for '[ "$(debug_retries)" -ge 3 ]' 30 || _afail "no retries seen"
  assert_eq 1 "$(grep -c 'error: docker: cannot use the engine' "$LYMPHD_LOG")" "one error line for $((0 + $(debug_retries))) tries"
  assert_match "$expect" "$(grep 'error: docker' "$LYMPHD_LOG")" "the error line names the cause and the fix"
  assert_eq refused "$(status_field engine)" "status: engine refused"
  assert_match "$expect" "$(status_field engine_problem)" "status: the reason"
  assert_match "^engine_problem: .*$expect" "$(ctl status 2>&1 | grep engine_problem)" "lymphctl status prints it"
  assert_eq 503 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz")" "/healthz 503"
  assert_match "^engine refused: .*$expect" "$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz")" "/healthz says why"
  wait_for "grep -q 'STATUS=.*engine refused' '$LYT_TMP/notify.log'" 10
  assert_match "STATUS=.*engine refused: .*$expect" "$(grep STATUS= "$LYT_TMP/notify.log" | tail -n 1)" "STATUS= says why"
  assert_eq 0 "$(grep -c '/v[0-9.]*/containers' "$LYMPHD_LOG")" "no container request sent at a refused version"
  lymphd_stop
  notify_stop
  case_end
fi

# ---------------------------------------------------------------------------
# A socket that is not an engine's (a wrong --docker-host), then the right
# one behind it: lymphd refuses, keeps trying, and connects when it is fixed,
# without a restart.
case_begin not-docker-then-fixed
fe_sock=$LYT_TMP/other.sock
echo not-docker >"$LYT_TMP/fault"
python3 "$LYT_SRCDIR/tests/conformance/faulty-engine.py" --listen "$fe_sock" --engine "$sock" \
  --fault-file "$LYT_TMP/fault" >"$LYT_TMP/faulty.log" 2>&1 &
fe_pid=$!
wait_for "[ -S '$fe_sock' ]" 10 || die "the faulty engine does not listen"
port=$(free_port)
: >"$LYMPHD_LOG"
lymphd_start --listen "127.0.0.1:$port" --docker-host "unix://$fe_sock" || die "lymphd does not start"
wait_for '[ "$(status_field engine)" = refused ]' 30 || _afail "not refused: $(status_field engine)"
assert_match "not a Docker Engine API at unix://$fe_sock: GET /_ping answered 404.*--docker-host" \
  "$(status_field engine_problem)" "status: not a Docker Engine API, and the fix"
assert_eq 1 "$(grep -c 'error: docker: cannot use the engine: not a Docker Engine API' "$LYMPHD_LOG")" "one error line"
assert_eq 503 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz")" "/healthz 503"
: >"$LYT_TMP/fault"
wait_for '[ "$(status_field engine)" = connected ]' 30 || _afail "not connected once fixed: $(status_field engine)"
assert_eq "$(vtext "$want")" "$(status_field api_version)" "negotiated once fixed"
assert_eq "" "$(status_field engine_problem)" "no problem left"
assert_eq ok "$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz")" "/healthz ok once fixed"
lymphd_stop
kill "$fe_pid" 2>/dev/null
wait "$fe_pid" 2>/dev/null
fe_pid=
case_end

# ---------------------------------------------------------------------------
# lymphd's user may not use the engine's socket.
case_begin permission-denied
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
  echo "SKIP: $LYT_CASE: needs root and setpriv to run lymphd as another user"
  LYT_CASE=
else
  nd=$LYT_TMP/nobody
  mkdir -p "$nd" && chown 65534:65534 "$nd"
  DOCKER_API_VERSION= setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$LYMPHD" --config "$LYT_CONFIG" --socket "$nd/lymphd.sock" --state-dir "$nd/state" --listen none \
    --docker-host "$LYT_DOCKER_HOST" >"$nd/lymphd.log" 2>&1 &
  nobody_pid=$!
  LYT_PIDS+=("$nobody_pid")
  st () { "$LYMPHCTL" --socket "$nd/lymphd.sock" --json status 2>/dev/null | jq -r --arg k "$1" '.[$k] // empty'; }
  wait_for '[ "$(st engine)" = refused ]' 30 || _afail "not refused: $(st engine) $(cat "$nd/lymphd.log")"
  assert_match "permission denied on the engine's socket \(run lymphd as root, or in the socket's group\)" \
    "$(st engine_problem)" "status: permission denied, and the fix"
  assert_eq 1 "$(grep -c "error: docker: cannot use the engine: engine at $sock: permission denied" "$nd/lymphd.log")" \
    "one error line"
  lymphd_stop "$nobody_pid"
  case_end
fi

finish
