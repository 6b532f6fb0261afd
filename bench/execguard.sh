#!/bin/bash
# lympho exec guard benchmarks against the real lymphd and the real engine.
# Prints numbers, targets and ratios measured in the same run; never fails
# on a target (only on a broken run).
#
#   LYMPHD=... LYMPHCTL=... bench/execguard.sh      (or: make bench-execguard)
#
# (a) the cost of the guard's answer on an allowed exec: an exec storm
#     inside a protected container (bench/execstorm.c, one exec at a time),
#     in BENCH_ROUNDS (default 25) rounds of BENCH_STORM_S (default 1 s) on
#     each of five containers under the same lymphd, in turn, the order
#     rotating each round: exec mode off (the baseline: no mark), deny and
#     detect (both the guard), and off and deny on a read-only root (where
#     the kernel keeps the guard's answers). Each exec is timed (fork to
#     reaped); the added time per exec is the median over the rounds of
#     the difference, within a round, between a mode's median exec time and
#     its baseline's (target <= 50 us): the two ran seconds apart, so a
#     drift of the machine's speed between rounds falls out. The medians
#     of each kind's own figures and the rates are printed beside them; lymphd's own measure of its answers (p50, p99:
#     target p99 <= 50 us, as a power-of-two bound), its priority, its CPU;
#     execs/s without lymphd at all, before and after, for scale.
# (b) alert -> new generation running, for a container that ignores SIGTERM
#     (stop timeout 30 s) and one that handles it, BENCH_ALERTS (default 10)
#     each, interleaved: target p50 <= 1 s and p99 <= 1.5 s for the first.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LYT_TEST=bench-execguard
# shellcheck source=../tests/integration/lib-incident.sh
. "$here/../tests/integration/lib-incident.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
inc_init

STORM_S=${BENCH_STORM_S:-1}
NA=${BENCH_ALERTS:-10}
IMG="${LYT_PFX}storm:1"


need_cmd busybox busybox-static || die "no busybox"
cc -static -O2 -Wall -Wextra -Werror -o "$LYT_TMP/execstorm" "$here/execstorm.c" || die "cannot build execstorm"
root=$(mktemp -d "$LYT_TMP/root.XXXXXX")
mkdir -p "$root/bin" "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$LYT_TMP/execstorm" "$root/bin/execstorm"
for a in sh sleep true; do ln -s busybox "$root/bin/$a"; done
printf '#!/bin/sh\ntrap "exit 0" TERM\nwhile true; do sleep 1 & wait $!; done\n' >"$root/bin/init"
printf '#!/bin/sh\ntrap "" TERM\nwhile true; do sleep 1; done\n' >"$root/bin/stubborn"
chmod 755 "$root/bin/init" "$root/bin/stubborn"
tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["/bin/init"]' - "$IMG" >/dev/null || die "cannot build the image"
rm -rf "$root"
trap '_inc_rc=$?; "$DOCKER" rmi -f "$IMG" >/dev/null 2>&1; inc_cleanup_images; (exit $_inc_rc); lyt_cleanup' EXIT

echo "lympho exec guard benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), engine $("$DOCKER" version -f '{{.Server.Version}}')"
echo "lymphd: $LYMPHD"

g="${LYT_PFX}guarded"
q="${LYT_PFX}quits"
s="${LYT_PFX}stubborn"
ALLOW=/bin/busybox,/bin/init,/bin/stubborn,/bin/execstorm
ROUNDS=${BENCH_ROUNDS:-25}
# The containers of (a): KEY NAME MODE [read-only]. off is the baseline of
# deny and detect, off-ro that of deny-ro (a read-only root, where the
# kernel keeps the guard's answers).
kinds=(off deny detect off-ro deny-ro)
declare -A cname=([off]="${LYT_PFX}unguarded" [deny]="$g" [detect]="${LYT_PFX}detected"
  [off-ro]="${LYT_PFX}ro-unguarded" [deny-ro]="${LYT_PFX}ro-guarded")
for k in "${kinds[@]}"; do
  mode=${k%-ro}
  ro=()
  [ "$k" = "$mode" ] || ro=(--read-only --tmpfs /tmp)
  dk run -d --name "${cname[$k]}" --network none "${ro[@]}" --label lympho.enable=true --label lympho.ttl=1h \
    --label lympho.drift.allow=/ --label lympho.exec.allow=$ALLOW --label lympho.exec.mode="$mode" "$IMG" >/dev/null ||
    die "run ${cname[$k]}"
done

# storm [NAME]: "RATE P50_US" of one storm, one exec at a time.
storm () { dk exec "${1:-$g}" /bin/execstorm "$STORM_S" 1 /bin/execstorm | sed -nE 's/.*rate=([0-9.]+).* p50_us=([0-9.]+).*/\1 \2/p'; }
col () { awk -v c="$1" '{ print $c }' "$2"; }

echo
echo "(a) exec storm inside a protected container, one exec at a time, $ROUNDS rounds of ${STORM_S} s on each of ${kinds[*]}"
base1=$(storm)
echo "  without lymphd:             ${base1% *} execs/s, median exec ${base1#* } us"
inc_start || die "lymphd does not start"
mode_of () { ctl --json status 2>/dev/null | jq -r --arg n "$1" '.exec[] | select(.name == $n) | .mode'; }
wait_for "[ \"\$(mode_of $g)\" = deny ] && [ \"\$(mode_of ${cname[deny-ro]})\" = deny ] && [ \"\$(mode_of ${cname[off]})\" = off ]" 20 ||
  die "not in their modes: $(ctl status | grep exec)"
pid=$(pgrep -n -f "$LYMPHD") || die "no lymphd pid"
for k in "${kinds[@]}"; do : >"$LYT_TMP/a.$k"; done
t0=$(cpu_ticks "$pid")
# Interleaved, the order rotating each round: a drift of the machine's
# speed falls on every kind alike.
nk=${#kinds[@]}
for ((r = 0; r < ROUNDS; r++)); do
  for ((i = 0; i < nk; i++)); do
    k=${kinds[$(((i + r) % nk))]}
    storm "${cname[$k]}" >>"$LYT_TMP/a.$k"
  done
done
t1=$(cpu_ticks "$pid")
st=$(ctl --json status)
lymphd_stop
base2=$(storm)
declare -A rate lat
for k in "${kinds[@]}"; do
  rate[$k]=$(col 1 "$LYT_TMP/a.$k" | pct 50)
  lat[$k]=$(col 2 "$LYT_TMP/a.$k" | pct 50)
  printf '  %-8s median exec per round (us): %s; medians: %s us, %s execs/s\n' "$k" "$(col 2 "$LYT_TMP/a.$k" | xargs)" \
    "${lat[$k]}" "${rate[$k]}"
done
echo "  without lymphd, again:      ${base2% *} execs/s, median exec ${base2#* } us"
# paired KIND BASE: the median over the rounds of KIND's less BASE's.
paired () { paste -d' ' <(col 2 "$LYT_TMP/a.$1") <(col 2 "$LYT_TMP/a.$2") | awk '{ print $1 - $2 }' | pct 50; }
hz=$(getconf CLK_TCK)
awk -v ld="$(paired deny off)" -v lt="$(paired detect off)" -v lr="$(paired deny-ro off-ro)" \
  -v g="${rate[deny]}" -v o="${rate[off]}" -v t="$((t1 - t0))" -v hz="$hz" \
  -v s="$((STORM_S * ROUNDS * ${#kinds[@]}))" -v prio="$(jq -r '.exec_guard_stats.priority // "?"' <<<"$st")" \
  -v p50="$(jq -r .exec_guard_stats.p50_answer_us <<<"$st")" -v p99="$(jq -r .exec_guard_stats.p99_answer_us <<<"$st")" \
  -v max="$(jq -r .exec_guard_stats.max_answer_us <<<"$st")" -v n="$(jq -r .exec_guard_stats.allowed <<<"$st")" \
  -v kept="$(jq -r '.exec_guard_stats.kept_by_kernel // 0' <<<"$st")" 'BEGIN {
    printf "  added time per exec, medians of the rounds paired (target <= 50 us):\n"
    printf "    deny on a read-only root against off-ro: %.1f us (%s; the kernel keeps %d answers)\n", lr, (lr <= 50) ? "meets" : "misses", kept
    printf "    deny on a writable root against off:     %.1f us (%s)\n", ld, (ld <= 50) ? "meets" : "misses"
    printf "    detect (the guard too) against off:      %.1f us\n", lt
    if (o > 0 && g > 0)
      printf "    deny against off from the rates instead (1/deny - 1/off): %.1f us\n", 1e6 / g - 1e6 / o
    printf "  lymphd answers: %d allowed; p50 < %d us, p99 < %d us (target p99 <= 50 us: %s), slowest %d us; priority %s\n", n, p50, p99, (p99 <= 50 && p99 > 0) ? "meets" : "misses", max, prio
    printf "  lymphd CPU during the storms: %.1f %% of one core\n", 100 * t / hz / s
  }'

echo
echo "(b) alert -> new generation running, $NA alerts each, interleaved"
dk run -d --name "$s" --network "$LYT_NET" --stop-timeout 30 "${INC_QUIET[@]}" --label lympho.exec.allow=$ALLOW \
  "$IMG" /bin/stubborn >/dev/null || die "run $s"
dk run -d --name "$q" --network "$LYT_NET" --stop-timeout 30 "${INC_QUIET[@]}" --label lympho.exec.allow=$ALLOW \
  "$IMG" >/dev/null || die "run $q"
inc_start || die "lymphd does not start"
wait_for "lymphd_idle $s && lymphd_idle $q" 20 || die "not adopted: $(ls_json)"
: >"$LYT_TMP/b.s"; : >"$LYT_TMP/b.q"
for i in $(seq 1 "$NA"); do
  for n in "$s" "$q"; do
    gen=$(c_gen "$n")
    gen=${gen:-0}
    out=$(post /v1/alerts "$(generic_body "$n" 3 "bench $i")")
    [ "${out%% *}" = 202 ] || die "alert refused: $out"
    wait_gen "$n" $((gen + 1)) 60 || die "$n not replaced"
    wait_replaced "$n" generic 10 || die "$n: no replaced_ms"
    ms=$(last_incident "$n" generic | jq -r .replaced_ms)
    if [ "$n" = "$s" ]; then echo "$ms" >>"$LYT_TMP/b.s"; else echo "$ms" >>"$LYT_TMP/b.q"; fi
    # The incident backoff and the threat level must not carry over.
    wait_for "lymphd_idle $n" 20 || die "$n not idle"
  done
done
s50=$(pct 50 <"$LYT_TMP/b.s"); s99=$(pct 99 <"$LYT_TMP/b.s")
q50=$(pct 50 <"$LYT_TMP/b.q"); q99=$(pct 99 <"$LYT_TMP/b.q")
echo "  ignores SIGTERM: p50 $s50 ms (target <= 1000: $(verdict "$s50" 1000)), p99 $s99 ms (target <= 1500: $(verdict "$s99" 1500))"
echo "  handles SIGTERM: p50 $q50 ms, p99 $q99 ms"
lymphd_stop
finish
