#!/bin/bash
# SIGKILL lymphd in the middle of `lymphctl regen`, at several moments, then
# start it again: once it settles, exactly one container holds the protected
# name and runs, it carries lympho.generation, no temporary container is left,
# and named-volume data is intact. Also during a swap waiting for health.
#
# LYT_CRASH_DELAYS (ms, default "0 50 150 300 600 1000"), LYT_CRASH_SWAPS
# (default 2) set how many kills.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

c="${LYT_PFX}rep"
s="${LYT_PFX}swap"
net="${LYT_PFX}net"
vol="${LYT_PFX}vol"
delays=${LYT_CRASH_DELAYS:-0 50 150 300 600 1000}
swaps=${LYT_CRASH_SWAPS:-2}

pin_count () { "$DOCKER" image inspect -f '{{len .RepoTags}}' "$LYT_IMAGE"; }

case_begin setup
dk network create "$net" >/dev/null || die "network create"
dk volume create "$vol" >/dev/null || die "volume create"
dk run -d --name "$c" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=replace \
  -v "$vol:/data" --network "$net" "$LYT_IMAGE" >/dev/null || die "run $c"
# Healthy only 3 s after start, so a swap spends a while waiting for health.
dk run -d --name "$s" --label lympho.enable=true --label lympho.ttl=1h --label lympho.strategy=swap \
  --network "$net" --network-alias swapweb \
  --health-cmd 'test -e /tmp/ready' --health-interval 1s --health-retries 30 \
  "$LYT_IMAGE" sh -c 'sleep 3; touch /tmp/ready; exec /bin/serve' >/dev/null || die "run $s"
lymphd_start || die "lymphd does not start"
wait_for "in_ls $c && in_ls $s" 15 || die "not adopted: $(ls_json)"
wait_for '[ "$(c_health "$s")" = healthy ]' 20 || die "$s never healthy"
# One clean regeneration first, so every container from here on was created
# by lympho and must carry lympho.generation whichever way recovery goes.
ctl regen "$c" >/dev/null || die "first regen of $c failed"
ctl regen "$s" >/dev/null || die "first regen of $s failed"
assert_eq 1 "$(c_gen "$c")" "$c generation after the first regen"
assert_eq 1 "$(c_gen "$s")" "$s generation after the first regen"
pins0=$(pin_count)
case_end

# settle_check NAME GEN_BEFORE DATA: the post-recovery assertions.
settle_check ()
{
  local n=$1 g0=$2 data=$3 g
  # lymphd idle too: a recovery that rolled back arms a retry, which would
  # otherwise run under the next round's writes and regen.
  if wait_for "c_settled $n && lymphd_idle $n && [ \"\$(ls_field $n generation)\" = \"\$(c_gen $n)\" ]" 60; then
    ok "$n settled"
  else
    _afail "$n not settled after 60 s: family [$(echo $(c_family "$n"))], ls generation '$(ls_field "$n" generation)', pending $(ls_json | jq -c --arg n "$n" '.[] | select(.name == $n) | [.regen, .queued, .retry, .recovery]')"
  fi
  assert_single "$n"
  g=$(c_gen "$n")
  assert_true "lympho.generation of $n is $g0 or $((g0 + 1)) (saw '$g')" \
    sh -c '[ "$1" = "$2" ] || [ "$1" = "$3" ]' _ "$g" "$g0" "$((g0 + 1))"
  assert_eq "$g" "$(ls_field "$n" generation)" "ls generation agrees with the engine"
  assert_eq "$(c_id "$n" | cut -c1-12)" "$(ls_field "$n" id | cut -c1-12)" "ls id agrees with the engine"
  if [ -n "$data" ]; then
    assert_eq "$data" "$(dk exec "$n" cat /data/keep 2>&1)" "named volume data intact"
  fi
}

# A container of NAME's family other than the one holding the name runs.
tmp_running ()
{
  local t
  t=$(c_family "$1" | awk -v n="$1" '$1 != n {print $1}' | head -n 1)
  [ -n "$t" ] && c_running "$t"
}

# regen_then_kill NAME WHEN: WHEN is a delay in ms, or "health" to kill while
# the new generation of a swap waits for health.
regen_then_kill ()
{
  local n=$1 when=$2 rp i
  ctl regen "$n" >"$LYT_TMP/regen.out" 2>&1 &
  rp=$!
  if [ "$when" = health ]; then
    if wait_for "tmp_running $n" 15; then
      ok "new generation of $n runs under a temporary name: $(echo $(c_family "$n"))"
      sleep 0.5
    else
      _afail "no running temporary container for $n within 15 s: [$(echo $(c_family "$n"))]"
    fi
  else
    sleep "$(awk -v ms="$when" 'BEGIN { printf "%.3f", ms / 1000 }')"
  fi
  lymphd_kill9
  say "killed at $when: family [$(echo $(c_family "$n"))]"
  # lymphctl must notice its daemon died, not hang.
  for ((i = 0; i < 100; i++)); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$rp" 2>/dev/null; then
    _afail "lymphctl regen still waits 10 s after lymphd was killed"
    kill -9 "$rp" 2>/dev/null
  fi
  wait "$rp" 2>/dev/null
  say "lymphctl regen: status $?, '$(tr '\n' ' ' <"$LYT_TMP/regen.out")'"
}

round=0
for d in $delays; do
  round=$((round + 1))
  case_begin "kill-replace-after-${d}ms"
  data="round-$round-$RANDOM"
  dk exec "$c" sh -c "echo $data >/data/keep" || _afail "cannot write to the volume"
  g0=$(c_gen "$c")
  regen_then_kill "$c" "$d"
  lymphd_start || die "lymphd does not start after the kill"
  settle_check "$c" "$g0" "$data"
  settle_check "$s" "$(c_gen "$s")" ""
  case_end
done

for ((k = 1; k <= swaps; k++)); do
  case_begin "kill-swap-waiting-for-health-$k"
  g0=$(c_gen "$s")
  regen_then_kill "$s" health
  lymphd_start || die "lymphd does not start after the kill"
  settle_check "$s" "$g0" ""
  assert_eq lyt-ok "$(dk run --rm --network "$net" "$LYT_IMAGE" wget -qO- http://swapweb/ 2>&1)" "swapweb answers on $net"
  settle_check "$c" "$(c_gen "$c")" "$data"
  case_end
done

case_begin after-crashes
# Works normally again, and no pin tag piles up.
out=$(ctl regen "$c" 2>&1)
assert_eq 0 $? "a regen after the crashes works [$out]"
assert_single "$c"
pins=$(pin_count)
say "tags on the test image: before $pins0, after $pins: $("$DOCKER" image inspect -f '{{.RepoTags}}' "$LYT_IMAGE")"
assert_true "at most 2 more tags on the image than before the crashes ($pins0 -> $pins)" [ "$pins" -le $((pins0 + 2)) ]
assert_ge 1 "$(history_json | jq '[.[] | select(.kind == "recover")] | length')" "history has recover entries"
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
case_end

finish
