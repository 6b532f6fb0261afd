#!/bin/bash
# lympho benchmarks against the real lymphd and the real engine. Prints
# numbers and their targets; never fails on a target (only on a broken run).
#
#   LYMPHD=... LYMPHCTL=... bench/run.sh      (or: make bench)
#
# (a) unavailability of a published HTTP port during `lymphctl regen` against
#     `docker restart -t 0` of an identical container: median of BENCH_N
#     (default 5) each, interleaved in the same run; target ratio <= 1.0.
# (b) a swap-eligible container reached through a network alias: failed
#     requests while it is regenerated BENCH_N times; target 0.
# (c) lymphd's resident memory and CPU over BENCH_IDLE_S (default 60) idle
#     seconds with 20 protected containers, and 200 with BENCH_FULL=1;
#     target < 10 MiB and < 1 % CPU.
# make runs this with $(SHELL), which may be dash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LYT_TEST=bench
# shellcheck source=../tests/integration/lib.sh
. "$here/../tests/integration/lib.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
lyt_init

N=${BENCH_N:-5}
IDLE_S=${BENCH_IDLE_S:-60}
probe_build || die "cannot build httpprobe"

echo "lympho benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, engine $("$DOCKER" version -f '{{.Server.Version}}')"
echo "lymphd: $LYMPHD"

# ------------------------------------------------------------------ (a)
pa=$(free_port) || die "no free port"
pb=$(free_port) || die "no free port"
A="${LYT_PFX}regen"
B="${LYT_PFX}restart"
dk run -d --name "$A" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=24h -p "127.0.0.1:$pa:80" "$LYT_IMAGE" >/dev/null ||
  die "run $A"
dk run -d --name "$B" --network "$LYT_NET" -p "127.0.0.1:$pb:80" "$LYT_IMAGE" >/dev/null || die "run $B"
lymphd_start || die "lymphd does not start"
wait_for "in_ls $A" 15 || die "$A not adopted"
wait_for "http_ok $pa && http_ok $pb" 15 || die "ports do not answer"

echo
echo "(a) unavailability of a published port (probe every 10 ms), $N runs each"
printf '  %-4s %-28s %-28s\n' run "lymphctl regen: gap/fail/cmd" "docker restart -t 0: gap/fail/cmd"
: >"$LYT_TMP/a.regen"
: >"$LYT_TMP/a.restart"
for ((i = 1; i <= N; i++)); do
  r=$(measure "$pa" ctl regen "$A")
  s=$(measure "$pb" "$DOCKER" restart -t 0 "$B")
  echo "$r" >>"$LYT_TMP/a.regen"
  echo "$s" >>"$LYT_TMP/a.restart"
  set -- $r
  rs="${1} ms / ${2} / ${4} ms"
  set -- $s
  printf '  %-4s %-28s %-28s\n' "$i" "$rs" "${1} ms / ${2} / ${4} ms"
  sleep 1
done
med_r=$(awk '{print $1}' "$LYT_TMP/a.regen" | median)
med_s=$(awk '{print $1}' "$LYT_TMP/a.restart" | median)
med_rc=$(awk '{print $4}' "$LYT_TMP/a.regen" | median)
ratio=$(awk -v a="$med_r" -v b="$med_s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }')
echo "  median unavailability: regen ${med_r} ms, restart ${med_s} ms; ratio regen/restart = $ratio (target <= 1.0)"
echo "  median lymphctl regen wall time: ${med_rc} ms; generation now $(c_gen "$A")"
dk rm -f "$A" "$B" >/dev/null

# ------------------------------------------------------------------ (b)
echo
echo "(b) swap-eligible container behind a network alias, $N regenerations"
net="${LYT_PFX}net"
S="${LYT_PFX}swap"
cl="${LYT_PFX}client"
dk network create "$net" >/dev/null || die "network create"
dk run -d --name "$S" --label lympho.enable=true --label lympho.ttl=24h --network "$net" --network-alias web \
  --health-cmd 'wget -qO- http://127.0.0.1/ >/dev/null || exit 1' --health-interval 1s --health-timeout 2s \
  "$LYT_IMAGE" >/dev/null || die "run $S"
wait_for "in_ls $S" 15 || die "$S not adopted"
wait_for '[ "$(c_health "$S")" = healthy ]' 20 || die "$S not healthy"
dk run -d --name "$cl" --network "$net" "$LYT_IMAGE" sh -c \
  'while :; do if timeout 3 wget -q -O /dev/null http://web/; then echo ok; else echo FAIL; fi; usleep 10000; done' \
  >/dev/null || die "run client"
wait_for "[ \$(\"$DOCKER\" logs $cl 2>&1 | grep -c ok) -ge 10 ]" 15 || die "client gets no answers"
total_fail=0
for ((i = 1; i <= N; i++)); do
  before=$("$DOCKER" logs "$cl" 2>&1 | grep -c FAIL)
  nb=$("$DOCKER" logs "$cl" 2>&1 | grep -c .)
  # A generation that has just started may not be regenerated at once
  # ("not ready"): retry that (nothing is touched) rather than count it.
  for ((k = 0; k < 30; k++)); do
    t0=$(now_ms)
    out=$(ctl regen "$S" 2>&1)
    rrc=$?
    t1=$(now_ms)
    [ $rrc -eq 0 ] || ! grep -q 'not ready' <<<"$out" || { sleep 1; continue; }
    break
  done
  [ $rrc -eq 0 ] || { say "regen failed: $out"; LYT_KEEP=1; }
  sleep 2
  after=$("$DOCKER" logs "$cl" 2>&1 | grep -c FAIL)
  na=$("$DOCKER" logs "$cl" 2>&1 | grep -c .)
  total_fail=$((total_fail + after - before))
  strat=$(history_json "$S" | jq -r '.[0].strategy // "?"')
  echo "  run $i: $((after - before)) failed of $((na - nb)) requests, regen status $rrc in $((t1 - t0)) ms, strategy $strat"
done
echo "  failed requests in total: $total_fail (target 0)"
dk rm -f "$cl" "$S" >/dev/null
dk network rm "$net" >/dev/null

# ------------------------------------------------------------------ (c)
idle_measure () # COUNT
{
  local n=$1 pid t0 ticks0 ticks1 hz rss hwm cpu adopt_ms
  lymphd_stop
  local have
  have=$("$DOCKER" ps -q --filter "name=${LYT_PFX}idle-" | grep -c .)
  seq $((have + 1)) "$n" | xargs -P 4 -I{} "$DOCKER" run -d --name "${LYT_PFX}idle-{}" --network "$LYT_NET" \
    --label lympho.enable=true --label lympho.ttl=24h "$LYT_IMAGE" sleep 100000000 >/dev/null ||
    die "cannot start $n idle containers"
  t0=$(now_ms)
  lymphd_start || die "lymphd does not start"
  pid=$LYMPHD_PID
  wait_for "[ \$(ls_json | jq '[.[] | select(.name | startswith(\"${LYT_PFX}idle-\"))] | length') -ge $n ]" 120 ||
    say "only $(ls_json | jq length) containers in ls after 120 s"
  adopt_ms=$(($(now_ms) - t0))
  sleep 5
  hz=$(getconf CLK_TCK)
  ticks0=$(cpu_ticks "$pid")
  sleep "$IDLE_S"
  ticks1=$(cpu_ticks "$pid")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$hz" -v s="$IDLE_S" 'BEGIN { printf "%.3f", d / hz / s * 100 }')
  printf '  %4d containers: RSS %6.2f MiB (peak %.2f MiB), idle CPU %s %% over %d s, adopted in %d ms  (targets: < 10 MiB, < 1 %%)\n' \
    "$n" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" \
    "$cpu" "$IDLE_S" "$adopt_ms"
}

echo
echo "(c) lymphd resident memory and idle CPU"
idle_measure 20
if [ "${BENCH_FULL:-0}" = 1 ]; then
  idle_measure 200
else
  echo "  200 containers: not measured (set BENCH_FULL=1)"
fi
lymphd_stop
echo
[ "${LYT_KEEP:-0}" = 1 ] && echo "bench: something failed; lymphd log kept in $LYMPHD_LOG"
echo "bench: done"
