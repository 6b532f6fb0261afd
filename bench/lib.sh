# lympho — what the benchmarks share (sourced by bench/*.sh after
# tests/integration/lib.sh): summaries of numbers on stdin, a target's
# verdict, a ratio, and the downtime probe.
# shellcheck shell=bash

# median: of the numbers on stdin ("nan" when none).
median () { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# pct P: the P-th percentile (nearest rank) of the numbers on stdin.
pct () { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; print v[r] }'; }
# mean: of the numbers on stdin, one decimal.
mean () { awk '{ s += $1; n++ } END { if (n) printf "%.1f\n", s / n; else print "nan" }'; }
# ratio A B: A / B, two decimals.
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "nan" }'; }
# verdict X TARGET: whether X is at most TARGET.
verdict () { awk -v x="$1" -v t="$2" 'BEGIN { print (x != "nan" && x + 0 <= t) ? "meets" : "misses" }'; }
# below X TARGET: whether X is under TARGET (a target written "< TARGET").
below () { awk -v x="$1" -v t="$2" 'BEGIN { print (x != "nan" && x + 0 < t) ? "meets" : "misses" }'; }

# cpu_ticks PID: the user and system CPU time of PID, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the command's name,
# which may hold spaces).
cpu_ticks () { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# probe_build: bench/httpprobe.c into $LYT_TMP/httpprobe.
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
probe_build () { cc -O2 -Wall -Wextra -Werror -o "$LYT_TMP/httpprobe" "$BENCH_DIR/httpprobe.c"; }

# measure PORT CMD...: run CMD while probing 127.0.0.1:PORT every 10 ms;
# prints "max_gap_ms failed requests cmd_ms".
measure ()
{
  local port=$1 stop="$LYT_TMP/probe.stop" out="$LYT_TMP/probe.out" pp t0 t1
  shift
  rm -f "$stop"
  "$LYT_TMP/httpprobe" 127.0.0.1 "$port" 10 "$stop" >"$out" &
  pp=$!
  sleep 0.5
  t0=$(now_ms)
  # Diagnostics to stderr: stdout is the measurement.
  "$@" >/dev/null 2>"$LYT_TMP/cmd.err" || say "command failed: $* ($(cat "$LYT_TMP/cmd.err"))" >&2
  t1=$(now_ms)
  wait_for "http_ok $port" 15 || say "port $port still down 15 s after: $*" >&2
  sleep 0.3
  touch "$stop"
  wait "$pp"
  sed -E 's/requests=([0-9]+) failed=([0-9]+) max_gap_ms=([0-9.]+)/\3 \2 \1/' "$out" | tr -d '\n'
  echo " $((t1 - t0))"
}
