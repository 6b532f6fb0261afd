#!/bin/bash
# lympho incident benchmarks against the real lymphd and the real engine.
# Prints numbers, targets and ratios; never fails on a target (only on a
# broken run).
#
#   LYMPHD=... LYMPHCTL=... [DOCKER_HOST=...] bench/incident.sh
#
# (a) alert received -> network cut (target p99 <= 10 ms) and -> new
#     generation running (target p50 <= 1 s) over BENCH_ALERTS (default 20)
#     alerts, from the history's cut_ms / replaced_ms, interleaved with as
#     many `lymphctl regen` of the same container (wall time).
# (b) disallowed exec -> cut (target p99 <= 10 ms) and -> running (target
#     p50 <= 1.5 s) over BENCH_EXECS (default 20) trials, beside the polling
#     alternative measured in the same run: the engine's process list
#     (docker top) every second, time from the exec to its detection.
# (c) lymphd's CPU under an exec storm on the host outside containers
#     (bench/execstorm.c, BENCH_STORM_S default 20 s): target < 5 % of one core.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LYT_TEST=bench-incident
# shellcheck source=../tests/integration/lib-incident.sh
. "$here/../tests/integration/lib-incident.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
inc_init

NA=${BENCH_ALERTS:-20}
NE=${BENCH_EXECS:-20}
STORM_S=${BENCH_STORM_S:-20}
storm="$LYT_TMP/execstorm"
cc -O2 -Wall -Wextra -Werror -o "$storm" "$here/execstorm.c" || die "cannot build execstorm"

echo "lympho incident benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), engine $("$DOCKER" version -f '{{.Server.Version}}') at $LYT_DOCKER_HOST"
echo "lymphd: $LYMPHD"
plant () { dk exec "$1" /bin/busybox sh -c 'cp /bin/busybox /tmp/sleep; chmod 755 /tmp/sleep'; }

a="${LYT_PFX}alert"
e="${LYT_PFX}exec"
p="${LYT_PFX}poll"
# The planted program lasts, so the engine's process list can show it;
# lymphd sees its exec either way. Once per appearance. It is busybox under
# an applet's name (busybox picks the applet by argv0).
exec_image_up 'if [ -x /tmp/sleep ] && [ ! -e /tmp/.ran ]; then : >/tmp/.ran; /tmp/sleep 30 & fi' ||
  die "cannot build the exec image"
dk run -d --name "$a" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $a"
run_exec "$e" --label lympho.exec.allow=/bin/busybox || die "run $e"
# Not protected: the polling alternative watches this one.
dk run -d --name "$p" --network "$LYT_NET" "$INC_EXEC_IMAGE" >/dev/null || die "run $p"
inc_start || die "lymphd does not start"
wait_for "in_ls $a && in_ls $e" 15 || die "not adopted: $(ls_json)"
echo "strategy of $a: $(ls_field "$a" effective_strategy) (swap blocker: $(ls_field "$a" swap_blocker))"

# ------------------------------------------------------------------ (a)
echo
echo "(a) alert received -> network cut -> new generation running, $NA alerts, interleaved with lymphctl regen"
: >"$LYT_TMP/a.cut"; : >"$LYT_TMP/a.rep"; : >"$LYT_TMP/a.regen"; : >"$LYT_TMP/a.post"
for ((i = 1; i <= NA; i++)); do
  g=$(ls_field "$a" generation)
  t0=$(now_ms)
  out=$(post /v1/alerts "$(generic_body "$a" 3 "bench alert $i")")
  t1=$(now_ms)
  [ "${out%% *}" = 202 ] || { say "alert $i: $out"; continue; }
  if ! wait_gen "$a" $((g + 1)) 30 || ! wait_for "[ \"\$(last_incident $a generic | jq -r '.replaced_ms // -1')\" -ge 0 ] && [ \"\$(last_incident $a generic | jq -r .generation)\" = $g ]" 15; then
    say "alert $i: no replacement recorded"
    continue
  fi
  inc=$(last_incident "$a" generic)
  c=$(jq -r .cut_ms <<<"$inc"); r=$(jq -r .replaced_ms <<<"$inc")
  echo "$c" >>"$LYT_TMP/a.cut"; echo "$r" >>"$LYT_TMP/a.rep"; echo $((t1 - t0)) >>"$LYT_TMP/a.post"
  wait_for "c_settled $a" 15
  t0=$(now_ms)
  ctl regen "$a" >/dev/null 2>&1 || say "regen $i failed"
  rg=$(($(now_ms) - t0))
  echo "$rg" >>"$LYT_TMP/a.regen"
  printf '  %2d: cut %4s ms, running %5s ms, POST answered in %4s ms | lymphctl regen %5s ms\n' "$i" "$c" "$r" "$(tail -n1 "$LYT_TMP/a.post")" "$rg"
  wait_for "c_settled $a" 15
done
n=$(grep -c . "$LYT_TMP/a.cut")
cut99=$(pct 99 <"$LYT_TMP/a.cut"); cut50=$(pct 50 <"$LYT_TMP/a.cut")
rep50=$(pct 50 <"$LYT_TMP/a.rep"); rep99=$(pct 99 <"$LYT_TMP/a.rep")
reg50=$(pct 50 <"$LYT_TMP/a.regen")
echo "  $n alerts: cut p50 $cut50 ms, p99 $cut99 ms (target p99 <= 10 ms: $(verdict "$cut99" 10))"
echo "  running p50 $rep50 ms, p99 $rep99 ms (target p50 <= 1000 ms: $(verdict "$rep50" 1000))"
echo "  lymphctl regen p50 $reg50 ms; alert-to-running / regen = $(ratio "$rep50" "$reg50")"

# ------------------------------------------------------------------ (b)
echo
echo "(b) disallowed exec -> cut -> running, $NE trials, beside polling docker top every second"
: >"$LYT_TMP/b.cut"; : >"$LYT_TMP/b.rep"; : >"$LYT_TMP/b.poll"
hz=$(getconf CLK_TCK)
for ((i = 1; i <= NE; i++)); do
  # lymphd: the exec event's own time is the start of cut_ms / replaced_ms.
  g=$(ls_field "$e" generation)
  n0=$(incident_count "$e" exec)
  plant "$e" >/dev/null 2>&1 || say "plant $i failed"
  if wait_gen "$e" $((g + 1)) 30 && wait_for "[ \"\$(incident_count $e exec)\" -gt $n0 ] && [ \"\$(last_incident $e exec | jq -r '.replaced_ms // -1')\" -ge 0 ]" 15; then
    inc=$(last_incident "$e" exec)
    c=$(jq -r .cut_ms <<<"$inc"); r=$(jq -r .replaced_ms <<<"$inc")
    echo "$c" >>"$LYT_TMP/b.cut"; echo "$r" >>"$LYT_TMP/b.rep"
  else
    c=-; r=-
    say "trial $i: lymphd did not replace $e"
  fi
  # Polling: plant the same program in an unprotected twin and poll its
  # process list once a second, as a poller would; latency = detection time
  # minus the process's own start time (/proc, boot clock).
    sleep 1.$((RANDOM % 10))
  plant "$p" >/dev/null 2>&1
  lat=-
  for ((k = 0; k < 30; k++)); do
    pid=$("$DOCKER" top "$p" -eo pid,args 2>/dev/null | awk '$2 == "/tmp/sleep" {print $1; exit}')
    if [ -n "$pid" ]; then
      up=$(cut -d' ' -f1 /proc/uptime)
      st=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$pid/stat" 2>/dev/null)
      [ -n "$st" ] && lat=$(awk -v u="$up" -v s="$st" -v hz="$hz" 'BEGIN { printf "%d", (u - s / hz) * 1000 }')
      break
    fi
    sleep 1
  done
  [ "$lat" != - ] && echo "$lat" >>"$LYT_TMP/b.poll"
  dk exec "$p" /bin/busybox sh -c 'for d in /proc/[0-9]*; do [ "$(readlink $d/exe)" = /tmp/sleep ] && kill ${d#/proc/}; done; rm -f /tmp/sleep /tmp/.ran' >/dev/null 2>&1
  printf '  %2d: lymphd cut %4s ms, running %5s ms | polling detected after %5s ms\n' "$i" "$c" "$r" "$lat"
  wait_for "c_settled $e" 15
  sleep 1
done
ecut99=$(pct 99 <"$LYT_TMP/b.cut"); ecut50=$(pct 50 <"$LYT_TMP/b.cut")
erep50=$(pct 50 <"$LYT_TMP/b.rep")
poll50=$(pct 50 <"$LYT_TMP/b.poll"); poll99=$(pct 99 <"$LYT_TMP/b.poll")
echo "  $(grep -c . "$LYT_TMP/b.cut") trials: exec-to-cut p50 $ecut50 ms, p99 $ecut99 ms (target p99 <= 10 ms: $(verdict "$ecut99" 10))"
echo "  exec-to-running p50 $erep50 ms (target p50 <= 1500 ms: $(verdict "$erep50" 1500))"
echo "  polling (docker top every 1 s): detection p50 $poll50 ms, p99 $poll99 ms over $(grep -c . "$LYT_TMP/b.poll") trials (detection only, no cut)"
echo "  polling detection / lymphd cut (p50) = $(ratio "$poll50" "$ecut50")"

# ------------------------------------------------------------------ (c)
echo
echo "(c) lymphd CPU under an exec storm on the host, outside containers, ${STORM_S} s"
pid=$LYMPHD_PID
t0=$(cpu_ticks "$pid"); sleep 5; t1=$(cpu_ticks "$pid")
idle=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", d / hz / 5 * 100 }')
prog=$(command -v busybox || echo /bin/true)
t0=$(cpu_ticks "$pid"); s0=$(now_ms)
res=$("$storm" "$STORM_S" "$(nproc)" "$prog")
t1=$(cpu_ticks "$pid"); s1=$(now_ms)
cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v ms=$((s1 - s0)) 'BEGIN { printf "%.2f", d / hz / (ms / 1000) * 100 }')
echo "  storm: $res ($prog as true, $(nproc) at once)"
echo "  lymphd CPU: $cpu % of one core during the storm (target < 5 %: $(below "$cpu" 5)), $idle % idle before"
grep -c "overrun" "$LYMPHD_LOG" | xargs -I{} echo "  connector overruns logged: {}"
alive=yes; kill -0 "$pid" 2>/dev/null || alive=no
echo "  lymphd still running: $alive"

lymphd_stop
echo
echo "bench-incident: done"
