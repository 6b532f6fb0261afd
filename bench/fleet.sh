#!/bin/bash
# lympho fleet benchmark: an incident on node-a's frontend member -> node-b's
# frontend member warned, through a real Alertmanager (the setup of
# tests/integration/test-fleet.sh: node-a on the Docker Engine, node-b on
# Podman's service, one Alertmanager, tests/integration/lib-fleet.sh).
# Prints p50 and p99 over BENCH_INCIDENTS (default 20) incidents, with the
# route's group_wait (BENCH_GROUP_WAIT, default 1s) beside them: the target
# is group_wait + 1 s. Each delay is read from the two lymphd's own
# histories (one clock: both run here): node-a's incident entry to
# node-b's fleet-warning entry. Never fails on a target, only on a broken
# run.
#
#   LYMPHD=... LYMPHCTL=... bench/fleet.sh
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LYT_TEST=bench-fleet
# shellcheck source=../tests/integration/lib-incident.sh
. "$here/../tests/integration/lib-incident.sh"
# shellcheck source=../tests/integration/lib-fleet.sh
. "$here/../tests/integration/lib-fleet.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
inc_init
N=${BENCH_INCIDENTS:-20}
FLEET_GROUP_WAIT=${BENCH_GROUP_WAIT:-1s}
fleet_init


a="${LYT_PFX}a-front"
b="${LYT_PFX}b-front"
# A threshold no incident of the run reaches: levels rise, nothing else.
dk run -d --name "$a" "${INC_QUIET[@]}" --label lympho.group=frontend --label lympho.threshold=100 "$LYT_IMAGE" >/dev/null ||
  die "run $a"
"$PODMAN" run -d --name "$b" "${INC_QUIET[@]}" --label lympho.group=frontend --label lympho.threshold=100 \
  "${LYT_PFX}img:1" >/dev/null || die "podman run $b"
fleet_nodes_up || die "the nodes do not start"
wait_for "lymphd_idle $a && [ \"\$(lsb_field $b idle)\" = true ]" 60 || die "not adopted"

echo "lympho fleet benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Alertmanager $("$am_bin" --version 2>&1 | awk 'NR == 1 { print $3 }'), route group_wait $FLEET_GROUP_WAIT; node-a on Docker $("$DOCKER" version -f '{{.Server.Version}}'), node-b on Podman $("$PODMAN" version -f '{{.Server.Version}}' 2>/dev/null)"
: >"$LYT_TMP/delays"
for i in $(seq 1 "$N"); do
  ctl alert "$a" --severity 1 --reason "bench $i" >/dev/null || die "alert $i"
  sent=$(history_json "$a" | jq -r --arg r "bench $i" '[.[] | select(.kind == "incident" and .reason == $r)][0].time // empty')
  # node-b's entry names node-a's reason: "fleet warning from node-a: node-a/<a>: cli: bench i"
  got () { ctlb --json history "$b" | jq -r --arg r "bench $i" '[.[] | select(.kind == "incident" and (.reason | endswith(": " + $r)))][0].time // empty'; }
  wait_for "[ -n \"\$(got)\" ]" 30 || die "incident $i never reached node-b"
  echo $(($(got) - sent)) >>"$LYT_TMP/delays"
done
p50=$(pct 50 <"$LYT_TMP/delays")
p99=$(pct 99 <"$LYT_TMP/delays")
gw_ms=$(awk -v g="$FLEET_GROUP_WAIT" 'BEGIN { v = g + 0; if (g ~ /ms$/) print v; else if (g ~ /m$/) print v * 60000; else print v * 1000 }')
target=$((gw_ms + 1000))
printf 'incident on node-a -> node-b warned, %d incidents: p50 %d ms, p99 %d ms (target: group_wait %d ms + 1 s = %d ms: %s)\n' \
  "$N" "$p50" "$p99" "$gw_ms" "$target" "$(verdict "$p99" "$target")"
echo "all (ms): $(sort -n "$LYT_TMP/delays" | tr '\n' ' ')"
