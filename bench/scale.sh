#!/bin/bash
# lympho at scale (issue 21): many protected containers on one node, every
# figure printed beside the engine's own capacity, measured in the same run.
#
#   make bench-scale                       (BENCH_SCALE_N=500, every phase)
#   BENCH_SCALE_N=50 BENCH_SCALE_CHECK=1   CI's version: correctness only
#
# Phases (BENCH_SCALE_PHASES, in this order; default all):
#   capacity   the engine's sustained replacement rate for the bench's
#              container (create + remove + start through the API, at
#              lymphd's concurrency cap, no lymphd), and its mean time.
#   footprint  RSS, PSS, private memory and the cgroup's charge of lymphd
#              at 20, 200 and N protected containers; idle CPU at N;
#              adoption of all N after a restart of lymphd.
#   inside     N containers started at the rate their TTL needs, the TTL
#              chosen so that rate is half the capacity (jitter 10 %), then
#              BENCH_SCALE_WINDOW_S of steady state: TTL lateness p50/p99,
#              the cap held, lymphd's CPU per regeneration, its time per
#              regeneration against the engine's own.
#   past       N containers with a 60 s TTL (BENCH_SCALE_PAST_TTL), far past
#              the capacity: lateness by the minute, memory, an alert
#              during the backlog (it goes first), lymphd saying once that
#              the TTLs cannot be met, then no regeneration lost or done
#              twice.
#   downtime   a published port's unavailability during lymphctl regen
#              against docker restart with the same stop timeout, median of
#              9 each, interleaved (target ratio <= 1.0).
# BENCH_SCALE_CHECK=1 runs capacity and past only and asserts (PASS/FAIL
# lines): nothing lost, nothing duplicated, the cap held, the alert first,
# said once. Otherwise it prints and never fails on a target.
#
# Containers: static busybox sleep, no network, lympho.strategy=replace,
# lympho.quarantine=network. Every container, image and cgroup it made is
# removed at the end, also when it is interrupted (make runs it under a
# time cap, BENCH_SCALE_MAX_S).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LYT_TEST=${LYT_TEST:-scale}
# shellcheck source=../tests/integration/lib.sh
. "$here/../tests/integration/lib.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"

N=${BENCH_SCALE_N:-500}
CHECK=${BENCH_SCALE_CHECK:-0}
CAP=${BENCH_SCALE_CAP:-2}
WINDOW_S=${BENCH_SCALE_WINDOW_S:-600}
PAST_TTL=${BENCH_SCALE_PAST_TTL:-60}
IDLE_S=${BENCH_SCALE_IDLE_S:-30}
# The bench's containers' lympho.drift.interval (default: the label's own,
# 30 s); a long one (24h) takes drift checks out of the idle figures.
DRIFT=${BENCH_SCALE_DRIFT:-}
if [ "$CHECK" = 1 ]; then
  PHASES=${BENCH_SCALE_PHASES:-capacity past}
  PAST_TTL=${BENCH_SCALE_PAST_TTL:-10}
else
  PHASES=${BENCH_SCALE_PHASES:-capacity footprint inside past downtime}
fi
have_phase () { [[ " $PHASES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- cleanup
# lymphd runs in a cgroup of its own, so that what the host is charged for
# it (memory.current, or memory.usage_in_bytes on cgroup v1) is read.
CG=
scale_cleanup ()
{
  local rc=$?
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null
  lymphd_stop
  [ -n "$CG" ] && rmdir "$CG" 2>/dev/null
  (exit "$rc")
  lyt_cleanup
}
lyt_init
trap scale_cleanup EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null && CG=/sys/fs/cgroup/${LYT_PFX}lymphd
  CG_MEM=memory.current
elif [ -d /sys/fs/cgroup/memory ]; then
  CG=/sys/fs/cgroup/memory/${LYT_PFX}lymphd
  CG_MEM=memory.usage_in_bytes
fi
if [ -n "$CG" ] && mkdir "$CG" 2>/dev/null; then
  # lymphd starts in it: pages are charged where they are first touched.
  REAL_LYMPHD=$LYMPHD
  LYMPHD=$LYT_TMP/lymphd-in-cgroup
  printf '#!/bin/sh\necho $$ >%s/cgroup.procs || exit 1\nexec %s "$@"\n' "$CG" "$REAL_LYMPHD" >"$LYMPHD"
  chmod 755 "$LYMPHD"
else
  CG=
fi
echo "max-concurrent = $CAP" >>"$LYT_CONFIG"

SOCK=${LYT_DOCKER_HOST#unix://}
api () # METHOD PATH [BODY] -> body, then the HTTP status on its own line
{
  if [ $# -ge 3 ]; then
    curl -s --max-time 120 --unix-socket "$SOCK" -X "$1" -H 'Content-Type: application/json' -d "$3" \
      -w '\n%{http_code}' "http://engine$2"
  else
    curl -s --max-time 120 --unix-socket "$SOCK" -X "$1" -w '\n%{http_code}' "http://engine$2"
  fi
}
echo "lympho scale bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f MiB", $2 / 1024}' /proc/meminfo), engine $("$DOCKER" version -f '{{.Server.Version}}' 2>/dev/null), kernel $(uname -r)"
echo "lymphd: ${REAL_LYMPHD:-$LYMPHD}; $N containers, concurrency cap $CAP; phases: $PHASES"
[ "$CHECK" = 1 ] && echo "correctness only (BENCH_SCALE_CHECK=1): no target is judged here"

IMG_ID=$("$DOCKER" image inspect -f '{{.Id}}' "$LYT_IMAGE") || die "no image"
body_of () { printf '{"Image":"%s","Cmd":["sleep","100000000"],"StopSignal":"KILL","HostConfig":{"NetworkMode":"none"}}' "$LYT_IMAGE"; }

# ---------------------------------------------------------------- capacity
# One worker per slot of the cap, each replacing its own container in turn:
# create the new one, remove the old, start the new; rate = replacements
# over the wall time, mean = one replacement's time at that concurrency.
ENGINE_RATE=
ENGINE_MS=
cap_worker () # W ROUNDS OUT
{
  local w=$1 n=$2 out=$3 k old new r t0
  old=$(cat "$LYT_TMP/cap-$w.id")
  for ((k = 1; k <= n; k++)); do
    t0=$(now_ms)
    r=$(api POST "/containers/create?name=${LYT_PFX}cap$w-$k" "$(body_of)")
    [ "$(tail -n 1 <<<"$r")" = 201 ] || { echo "create: $r" >&2; return 1; }
    new=$(sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p' <<<"$r")
    [ "$(api DELETE "/containers/$old?force=true&v=true" | tail -n 1)" = 204 ] || { echo "remove $old failed" >&2; return 1; }
    [ "$(api POST "/containers/$new/start" | tail -n 1)" = 204 ] || { echo "start $new failed" >&2; return 1; }
    echo $(($(now_ms) - t0)) >>"$out"
    old=$new
  done
  api DELETE "/containers/$old?force=true&v=true" >/dev/null
}
phase_capacity ()
{
  local rounds=${BENCH_SCALE_CAP_ROUNDS:-$([ "$CHECK" = 1 ] && echo 4 || echo 15)} w t0 t1 pids=() n
  echo
  echo "(capacity) the engine alone: create + remove + start, $CAP at a time, $((rounds * CAP)) replacements"
  for ((w = 1; w <= CAP; w++)); do
    r=$(api POST "/containers/create?name=${LYT_PFX}cap$w-0" "$(body_of)")
    sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p' <<<"$r" >"$LYT_TMP/cap-$w.id"
    api POST "/containers/$(cat "$LYT_TMP/cap-$w.id")/start" >/dev/null
  done
  : >"$LYT_TMP/cap.ms"
  # The sampler runs here as in the phases it is compared with: the same
  # load on the engine.
  sampler_start
  t0=$(now_ms)
  for ((w = 1; w <= CAP; w++)); do
    cap_worker "$w" "$rounds" "$LYT_TMP/cap.ms" &
    pids+=($!)
  done
  for w in "${pids[@]}"; do wait "$w" || die "the engine's replacement failed"; done
  t1=$(now_ms)
  sampler_stop
  n=$(grep -c . "$LYT_TMP/cap.ms")
  ENGINE_RATE=$(awk -v n="$n" -v ms=$((t1 - t0)) 'BEGIN { printf "%.3f", n * 1000 / ms }')
  ENGINE_MS=$(mean <"$LYT_TMP/cap.ms")
  echo "  engine capacity: $ENGINE_RATE replacements/s; one replacement $ENGINE_MS ms mean, p50 $(median <"$LYT_TMP/cap.ms") ms"
}

# ---------------------------------------------------------------- helpers
# mk NAME_FROM NAME_TO TTL [PARALLEL]: the bench's containers s<FROM>..s<TO>.
mk_one () # I TTL
{
  "$DOCKER" run -d --name "${LYT_PFX}s$1" --network none --stop-signal KILL \
    --label lympho.enable=true --label "lympho.ttl=$2" --label lympho.jitter=10 \
    --label lympho.strategy=replace --label lympho.quarantine=network \
    ${DRIFT:+--label "lympho.drift.interval=$DRIFT"} "$LYT_IMAGE" sleep 100000000 >/dev/null 2>"$LYT_TMP/mk-$1.err" || { cat "$LYT_TMP/mk-$1.err" >&2; return 1; }
}
mk () # FROM TO TTL: four at a time (waited for by pid: lymphd is a child too)
{
  local i p rc=0 pids=()
  for ((i = $1; i <= $2; i++)); do
    mk_one "$i" "$3" &
    pids+=($!)
    if [ ${#pids[@]} -ge 4 ] || [ "$i" -eq "$2" ]; then
      for p in "${pids[@]}"; do wait "$p" || rc=1; done
      pids=()
    fi
  done
  return $rc
}
rm_all ()
{
  lymphd_stop
  local ids
  ids=$("$DOCKER" ps -aq --filter "name=${LYT_PFX}s")
  # shellcheck disable=SC2086 # ids, split on purpose
  [ -n "$ids" ] && echo "$ids" | xargs -n 50 "$DOCKER" rm -f -v >/dev/null 2>&1
  rm -rf "$LYT_STATE"
}
n_adopted () { ls_json | jq '[.[] | select(.state == "running" or .state == "regenerating")] | length'; }
HZ=$(getconf CLK_TCK)
kib () { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
mem_line () # COUNT -> prints; sets PSS_PRIV_KB RSS_KB
{
  local r pss pc pd cg=
  r=$(awk '/^Rss:/ {print $2}' "/proc/$LYMPHD_PID/smaps_rollup")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$LYMPHD_PID/smaps_rollup")
  pc=$(awk '/^Private_Clean:/ {print $2}' "/proc/$LYMPHD_PID/smaps_rollup")
  pd=$(awk '/^Private_Dirty:/ {print $2}' "/proc/$LYMPHD_PID/smaps_rollup")
  [ -n "$CG" ] && cg="$(awk '{ printf "%.2f", $1 / 1048576 }' "$CG/$CG_MEM") MiB" || cg="(no cgroup here)"
  RSS_KB=$r
  PSS_PRIV_KB=$((pss + pc + pd))
  printf '  %4d containers: RSS %s MiB, PSS %s MiB, private %s MiB (dirty %s), PSS+private %s MiB, cgroup charge %s\n' \
    "$1" "$(kib "$r")" "$(kib "$pss")" "$(kib $((pc + pd)))" "$(kib "$pd")" "$(kib "$PSS_PRIV_KB")" "$cg"
}
# lymphd's history as one JSON array, read from its state directory: it is
# read after lymphd has stopped too (what ended as it stopped is in it).
hist_all () { cat "$LYT_STATE/history.1" "$LYT_STATE/history" 2>/dev/null | jq -s '.'; }
# The history's TTL regenerations as "start_ms late_ms duration_ms name generation result".
ttl_rows ()
{
  hist_all | jq -r '.[] | select(.kind == "regen" and (.reason // "" | startswith("ttl")))
    | "\(.time - (.duration_ms // 0)) \(.late_ms // -1) \(.duration_ms // 0) \(.name) \(.generation // -1) \(.result)"'
}

# A sampler: the most regenerations lymphd reports in flight, and the most
# containers of the bench's names the engine holds at once (old and new
# overlap during a replacement: at most N + cap).
SAMPLER_PID=
sampler_start ()
{
  : >"$LYT_TMP/sample"
  (
    while :; do
      printf '%s %s\n' "$(ctl --json status 2>/dev/null | jq -r '.regenerating // 0')" \
        "$("$DOCKER" ps -aq --filter "name=${LYT_PFX}s" 2>/dev/null | grep -c .)" >>"$LYT_TMP/sample"
      sleep 0.5
    done
  ) &
  SAMPLER_PID=$!
}
sampler_stop ()
{
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=
  MAX_INFLIGHT=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$LYT_TMP/sample")
  MAX_CONTAINERS=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$LYT_TMP/sample")
  SAMPLES=$(grep -c . "$LYT_TMP/sample")
}

# ---------------------------------------------------------------- footprint
phase_footprint ()
{
  local at t0 k0 k1 adopt_ms
  echo
  echo "(footprint) lymphd's memory with N protected containers (lympho.ttl=24h), targets at $N: PSS+private < 6 MiB, RSS < 10 MiB"
  lymphd_start || die "lymphd does not start"
  mem_line 0
  local have=0
  for at in 20 200 "$N"; do
    [ "$at" -le "$N" ] && [ "$at" -gt "$have" ] || continue
    mk $((have + 1)) "$at" 24h || die "cannot start containers"
    have=$at
    wait_for "[ \$(n_adopted) -ge $at ]" 300 || say "only $(n_adopted) adopted"
    sleep 2
    mem_line "$at"
    [ "$at" = 20 ] && base_kb=$PSS_PRIV_KB
  done
  local rest0
  rest0=$(now_ms)
  echo "  per additional container, as adopted: $(awk -v a="$PSS_PRIV_KB" -v b="${base_kb:-0}" -v n=$((N - 20)) 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "nan" }') KiB of PSS+private"
  # Steady state: every container's drift check answered once by its
  # unchanged layer (the first checks of an adopted generation, and the one
  # after its start-up window closes, ask the engine). A lymphd that does
  # not count its checks is not waited for.
  wait_for "[ \"\$(ls_json | jq '[.[] | select((.drift.checks_unchanged // 1) < 1)] | length')\" = 0 ]" 180 ||
    say "not every container's drift check was answered by its layer within 180 s"
  # What the engine spends meanwhile is the host's too: the drift checks'
  # change lists are walked by it.
  local epid e0 e1 ecpu=
  epid=$(pgrep -xo dockerd || pgrep -xo podman)
  k0=$(cpu_ticks "$LYMPHD_PID")
  [ -n "$epid" ] && e0=$(cpu_ticks "$epid")
  sleep "$IDLE_S"
  k1=$(cpu_ticks "$LYMPHD_PID")
  [ -n "$epid" ] && e1=$(cpu_ticks "$epid") &&
    ecpu=$(awk -v d=$((e1 - e0)) -v hz="$HZ" -v s="$IDLE_S" 'BEGIN { printf "%.3f", d / hz / s * 100 }')
  local idle
  idle=$(awk -v d=$((k1 - k0)) -v hz="$HZ" -v s="$IDLE_S" 'BEGIN { printf "%.3f", d / hz / s * 100 }')
  echo "  idle CPU at $N: $idle % of a core over $IDLE_S s (target < 0.5: $(below "$idle" 0.5)); the engine meanwhile ${ecpu:-?} % (drift interval ${DRIFT:-30s})"
  # At rest: the adoption's burst is over and lymphd has handed its free
  # heap back (every 30 s); what it keeps from here on is the footprint.
  local left=$((rest0 + 35000 - $(now_ms)))
  [ "$left" -gt 0 ] && sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
  echo "  at rest, $((($(now_ms) - rest0) / 1000)) s after all $N were adopted:"
  mem_line "$N"
  echo "  at $N at rest: PSS+private $(kib "$PSS_PRIV_KB") MiB (target < 6: $(below "$(kib "$PSS_PRIV_KB")" 6)), RSS $(kib "$RSS_KB") MiB (target < 10: $(below "$(kib "$RSS_KB")" 10))"
  lymphd_stop
  t0=$(now_ms)
  lymphd_start || die "lymphd does not start again"
  wait_for "[ \$(n_adopted) -ge $N ]" 300 || say "only $(n_adopted) adopted after 300 s"
  adopt_ms=$(($(now_ms) - t0))
  echo "  adoption of all $N after a restart of lymphd: $adopt_ms ms (target < 10000: $(below "$adopt_ms" 10000))"
  rm_all
}

# ---------------------------------------------------------------- inside
phase_inside ()
{
  local ttl gap t0 i k0 k1 r0 r1 rows
  [ -n "$ENGINE_RATE" ] || die "inside needs the capacity phase"
  ttl=$(awk -v n="$N" -v c="$ENGINE_RATE" 'BEGIN { t = int(n / (c / 2) + 0.5); if (t < 5) t = 5; print t }')
  gap=$(awk -v t="$ttl" -v n="$N" 'BEGIN { printf "%.3f", t / n }')
  echo
  echo "(inside capacity) $N containers, TTL ${ttl}s (needs $(awk -v n="$N" -v t="$ttl" 'BEGIN { printf "%.3f", n / t }')/s, half the engine's $ENGINE_RATE/s), jitter 10 %"
  echo "  started one every $gap s over one TTL, then $WINDOW_S s of steady state"
  lymphd_start || die "lymphd does not start"
  t0=$(now_ms)
  for ((i = 1; i <= N; i++)); do
    mk_one "$i" "${ttl}s" || die "cannot start container $i"
    local next=$((t0 + i * ttl * 1000 / N)) now
    now=$(now_ms)
    [ "$next" -gt "$now" ] && sleep "$(awk -v ms=$((next - now)) 'BEGIN { printf "%.3f", ms / 1000 }')"
  done
  local w0
  w0=$(now_ms)
  sampler_start
  k0=$(cpu_ticks "$LYMPHD_PID")
  r0=$(ctl --json status | jq '.regenerations')
  sleep "$WINDOW_S"
  k1=$(cpu_ticks "$LYMPHD_PID")
  r1=$(ctl --json status | jq '.regenerations')
  sampler_stop
  rows=$(ttl_rows | awk -v w0="$w0" '$1 >= w0')
  local n p50 p99 dur
  n=$(grep -c . <<<"$rows")
  p50=$(awk '$2 >= 0 {print $2}' <<<"$rows" | pct 50)
  p99=$(awk '$2 >= 0 {print $2}' <<<"$rows" | pct 99)
  dur=$(awk '$6 == "ok" {print $3}' <<<"$rows" | mean)
  echo "  $n TTL regenerations in the window; lateness p50 $p50 ms, p99 $p99 ms (target p99 < 1000: $(below "$p99" 1000))"
  echo "  most in flight $MAX_INFLIGHT (cap $CAP: $(verdict "$MAX_INFLIGHT" "$CAP")), most containers at once $MAX_CONTAINERS (at most $((N + CAP)): $(verdict "$MAX_CONTAINERS" $((N + CAP)))), $SAMPLES samples"
  echo "  lymphd CPU: $(awk -v d=$((k1 - k0)) -v hz="$HZ" -v n=$((r1 - r0)) 'BEGIN { if (n > 0) printf "%.1f ms", d / hz * 1000 / n; else print "nan" }') per regeneration ($((r1 - r0)) regenerations, $(awk -v d=$((k1 - k0)) -v hz="$HZ" -v s="$WINDOW_S" 'BEGIN { printf "%.2f", d / hz / s * 100 }') % of a core)"
  echo "  time per regeneration: lymphd $dur ms mean, the engine's own replacement $ENGINE_MS ms; ratio $(ratio "$dur" "$ENGINE_MS") (target <= 1.1: $(verdict "$(ratio "$dur" "$ENGINE_MS")" 1.1))"
  rm_all
}

# ---------------------------------------------------------------- past
# correctness: each name held by exactly one container, running the pinned
# image, its generation the last the history recorded for it; the history's
# generations of each name 1, 2, 3 ... with none twice and none missing; no
# container of lymphd's making left beside them.
check_no_loss ()
{
  local bad=0 i name ids gen last seqs
  # name -> its regenerated generations, in order ("1 2 3"), in one pass.
  hist_all | jq -r '[.[] | select(.kind == "regen" and .result == "ok")] | group_by(.name)[]
    | "\(.[0].name)=\([.[].generation] | sort | map(tostring) | join(" "))"' >"$LYT_TMP/gens"
  for ((i = 1; i <= N; i++)); do
    name="${LYT_PFX}s$i"
    ids=$("$DOCKER" ps -aq --filter "name=^/${name}\$")
    if [ "$(grep -c . <<<"$ids")" != 1 ]; then
      say "$name: $(grep -c . <<<"$ids") containers hold the name"
      bad=$((bad + 1))
      continue
    fi
    [ "$("$DOCKER" inspect -f '{{.State.Running}} {{.Image}}' "$name")" = "true $IMG_ID" ] ||
      { say "$name: not running the pinned image ($("$DOCKER" inspect -f '{{.State.Status}} {{.Image}}' "$name"))"; bad=$((bad + 1)); continue; }
    gen=$(c_gen "$name")
    seqs=$(grep -m 1 "^$name=" "$LYT_TMP/gens" | cut -d= -f2)
    last=${seqs##* }
    last=${last:-0}
    [ "$seqs" = "$(seq -s ' ' 1 "$last" 2>/dev/null)" ] || { say "$name: generations in the history: '$seqs'"; bad=$((bad + 1)); continue; }
    [ "${gen:-0}" = "$last" ] || { say "$name: runs generation ${gen:-0}, the history's last is $last"; bad=$((bad + 1)); }
  done
  assert_eq 0 "$bad" "every one of $N names: one container, running the pinned image, generations 1..last once each"
  local extra
  extra=$("$DOCKER" ps -a --filter label=lympho.generation --format '{{.Names}}' | grep -F "$LYT_PFX" | grep -vcE "^${LYT_PFX}s[0-9]+\$")
  assert_eq 0 "$extra" "no container of lymphd's making beside the $N names"
}

phase_past ()
{
  local t0 rows k late_at alerted x tx xs between said
  echo
  echo "(past capacity) $N containers, TTL ${PAST_TTL}s: needs $(awk -v n="$N" -v t="$PAST_TTL" 'BEGIN { printf "%.2f", n / t }')/s, the engine sustains ${ENGINE_RATE:-?}/s"
  [ "$CHECK" = 1 ] && case_begin past-capacity-setup
  lymphd_start || die "lymphd does not start"
  mk 1 "$N" "${PAST_TTL}s" || die "cannot start containers"
  wait_for "[ \$(n_adopted) -ge $N ]" 300 || die "only $(n_adopted) adopted"
  t0=$(now_ms)
  sampler_start
  local rss0=
  [ "$CHECK" = 1 ] || { mem_line "$N"; rss0=$RSS_KB; }
  [ "$CHECK" = 1 ] && case_end

  # Behind: said once, at warn, and in status.
  [ "$CHECK" = 1 ] && case_begin behind-said-once
  wait_for '[ "$(ctl --json status | jq -r .ttl.state)" = behind ]' $((PAST_TTL + 90)) ||
    _afail "status never says the TTLs are behind: $(ctl --json status | jq -c .ttl)"
  said=$(grep -c 'the TTLs cannot be met' "$LYMPHD_LOG")
  echo "  said: $(grep -m 1 -o 'warn.*the TTLs cannot be met.*' "$LYMPHD_LOG")"
  echo "  status: $(ctl status | grep '^ttl:')"
  if [ "$CHECK" = 1 ]; then
    assert_eq 1 "$said" "the warning said once"
    assert_match '^WARN|warn' "$(grep -m 1 'the TTLs cannot be met' "$LYMPHD_LOG")" "at warn"
    assert_eq "$(awk -v n="$N" -v t="$PAST_TTL" 'BEGIN { printf "%.3f", n / t }')" \
      "$(ctl --json status | jq -r .ttl.needed_per_s | awk '{ printf "%.3f", $1 }')" "status: the rate the TTLs need"
    assert_true "status: TTL regenerations wait" test "$(ctl --json status | jq -r .ttl.waiting)" -gt 0
    case_end
  fi

  # An alert during the backlog goes first: no TTL regeneration starts
  # between the alert and the alerted container's.
  [ "$CHECK" = 1 ] && case_begin alert-goes-first
  alerted=
  for k in 1 2 3; do
    x=$(ls_json | jq -r '[.[] | select(.queued == "ttl")] | last | .name // empty')
    [ -n "$x" ] || { sleep 1; continue; }
    late_at=$(ctl --json status | jq -r .ttl.oldest_late_ms)
    # From when lymphd took the alert (its answer says), not when it was
    # sent: a TTL that starts while the alert is on its way is not after it.
    tx=$(ctl --json alert "$x" --severity 5 --reason "bench: alert during the TTL backlog" | jq -r '.received_ms // empty')
    [ -n "$tx" ] || { say "alert $x failed"; continue; }
    wait_for "[ -n \"\$(history_json $x | jq -r --argjson t $tx '.[] | select(.kind == \"regen\" and .time >= \$t) | .time')\" ]" 120 ||
      { _afail "$x not regenerated within 120 s of its alert"; break; }
    xs=$(history_json "$x" | jq -r --argjson t "$tx" '[.[] | select(.kind == "regen" and .time >= $t)] | last | .time - .duration_ms')
    # It was waiting for its TTL when alerted, not already in flight: else
    # the order says nothing; take another.
    [ "$xs" -ge "$tx" ] || { say "$x had started before its alert; another"; continue; }
    alerted=$x
    break
  done
  if [ -n "$alerted" ]; then
    # A start's time is its end less its duration: to the millisecond, so
    # 5 ms of margin after the alert.
    between=$(ttl_rows | awk -v a="$((tx + 5))" -v b="$xs" -v x="$alerted" '$1 > a && $1 < b && $4 != x' | grep -c .)
    echo "  alert on $alerted (waiting for its TTL) while the oldest TTL waited $late_at ms: its regeneration started $((xs - tx)) ms after the alert; TTL regenerations started in between: $between"
    echo "  (the alert's own figures: $(history_json "$alerted" | jq -r '[.[] | select(.kind == "incident")][0] | "cut \(.cut_ms // "none (no network)") ms, replaced \(.replaced_ms // "?") ms"'))"
    [ "$CHECK" = 1 ] && assert_eq 0 "$between" "no TTL regeneration started between the alert and the alerted container's"
  else
    [ "$CHECK" = 1 ] && _afail "no container waiting for its TTL could be alerted"
  fi
  [ "$CHECK" = 1 ] && case_end

  # The rest of the window, then lateness by minute: it grows steadily.
  local until=$((t0 + (PAST_TTL + ${BENCH_SCALE_PAST_WINDOW_S:-$([ "$CHECK" = 1 ] && echo 20 || echo 300)}) * 1000)) now
  now=$(now_ms)
  [ "$until" -gt "$now" ] && sleep "$(awk -v ms=$((until - now)) 'BEGIN { printf "%.3f", ms / 1000 }')"
  if [ "$CHECK" != 1 ]; then
    mem_line "$N"
    echo "  memory over the window: RSS $(kib "$rss0") -> $(kib "$RSS_KB") MiB"
  fi
  rows=$(ttl_rows | awk -v t0="$t0" '$1 >= t0 && $2 >= 0')
  echo "  TTL lateness by minute of the run (start minute: count, p50, max ms):"
  awk -v t0="$t0" '{ m = int(($1 - t0) / 60000); n[m]++; s[m] = s[m] " " $2; if ($2 > mx[m]) mx[m] = $2 } END { for (m in n) print m, n[m], mx[m] }' <<<"$rows" | sort -n |
    while read -r m c mx; do
      printf '    minute %d: %d, p50 %s, max %s\n' "$m" "$c" "$(awk -v t0="$t0" -v m="$m" 'int(($1 - t0) / 60000) == m {print $2}' <<<"$rows" | median)" "$mx"
    done
  sampler_stop
  lymphd_stop
  echo "  most in flight $MAX_INFLIGHT (cap $CAP), most containers at once $MAX_CONTAINERS (at most $((N + CAP))), $SAMPLES samples"
  echo "  regenerations: $(ttl_rows | awk -v t0="$t0" '$1 >= t0' | grep -c .) TTL in the run; lymphd stopped, the last in flight ended"
  if [ "$CHECK" = 1 ]; then
    case_begin nothing-lost-or-twice
    check_no_loss
    assert_true "the history has regenerations" test "$(ttl_rows | grep -c ' ok$')" -gt 0
    case_end
    case_begin cap-held
    assert_ge 10 "$SAMPLES" "samples taken"
    assert_true "most in flight $MAX_INFLIGHT <= cap $CAP" test "$MAX_INFLIGHT" -le "$CAP"
    assert_true "regenerations were in flight" test "$MAX_INFLIGHT" -ge 1
    assert_true "most containers at once $MAX_CONTAINERS <= $N + $CAP" test "$MAX_CONTAINERS" -le $((N + CAP))
    case_end
  else
    check_no_loss >/dev/null
    echo "  nothing lost or done twice: $([ "$LYT_NFAIL" = 0 ] && echo yes || echo NO)"
  fi
  rm_all
}

# ---------------------------------------------------------------- downtime
# A published port's unavailability during lymphctl regen against docker
# restart of an identical container, same stop timeout (the container's:
# its process exits at SIGTERM), interleaved, median of BENCH_SCALE_DOWN_N.
phase_downtime ()
{
  local n=${BENCH_SCALE_DOWN_N:-9} pa pb A=${LYT_PFX}down-regen B=${LYT_PFX}down-restart i r s
  echo
  echo "(downtime) a published port (probed every 10 ms) during lymphctl regen and docker restart, $n each, interleaved"
  probe_build || die "cannot build httpprobe"
  pa=$(free_port) || die "no free port"
  pb=$(free_port) || die "no free port"
  dk run -d --name "$A" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=24h \
    -p "127.0.0.1:$pa:80" "$LYT_IMAGE" >/dev/null || die "run $A"
  dk run -d --name "$B" --network "$LYT_NET" -p "127.0.0.1:$pb:80" "$LYT_IMAGE" >/dev/null || die "run $B"
  lymphd_start || die "lymphd does not start"
  wait_for "in_ls $A" 30 || die "$A not adopted"
  wait_for "http_ok $pa && http_ok $pb" 15 || die "ports do not answer"
  : >"$LYT_TMP/down.regen"
  : >"$LYT_TMP/down.restart"
  for ((i = 1; i <= n; i++)); do
    wait_for "lymphd_idle $A" 30 || say "$A not idle"
    r=$(measure "$pa" ctl regen "$A")
    s=$(measure "$pb" "$DOCKER" restart "$B")
    echo "$r" >>"$LYT_TMP/down.regen"
    echo "$s" >>"$LYT_TMP/down.restart"
    printf '  run %d: regen gap %s ms, restart gap %s ms\n' "$i" "${r%% *}" "${s%% *}"
  done
  local mr ms
  mr=$(awk '{print $1}' "$LYT_TMP/down.regen" | median)
  ms=$(awk '{print $1}' "$LYT_TMP/down.restart" | median)
  echo "  median unavailability: lymphctl regen $mr ms, docker restart $ms ms; ratio $(ratio "$mr" "$ms") (target <= 1.0: $(verdict "$(ratio "$mr" "$ms")" 1.0))"
  lymphd_stop
  dk rm -f "$A" "$B" >/dev/null
}

for ph in $PHASES; do
  case $ph in
    capacity) phase_capacity ;;
    footprint) phase_footprint ;;
    inside) phase_inside ;;
    past) phase_past ;;
    downtime) phase_downtime ;;
    *) die "unknown phase $ph" ;;
  esac
done
echo
echo "bench-scale: done"
finish
