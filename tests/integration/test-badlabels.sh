#!/bin/bash
# A container with an invalid lympho label is left alone, with a history
# entry naming the label; containers without lympho.enable=true are never
# touched. A well-labelled container with a short TTL runs alongside to prove
# lymphd was really at work during the wait.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

bad1="${LYT_PFX}bad-ttl"      # there before lymphd starts
bad2="${LYT_PFX}bad-strategy" # appears while lymphd runs
plain="${LYT_PFX}plain"
off="${LYT_PFX}off"
good="${LYT_PFX}good"

case_begin setup
dk run -d --name "$bad1" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=banana "$LYT_IMAGE" >/dev/null || die "run $bad1"
dk run -d --name "$plain" --network "$LYT_NET" --label lympho.ttl=5s "$LYT_IMAGE" >/dev/null || die "run $plain"
dk run -d --name "$off" --network "$LYT_NET" --label lympho.enable=false --label lympho.ttl=5s --label lympho.jitter=0 "$LYT_IMAGE" >/dev/null ||
  die "run $off"
dk run -d --name "$good" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=6s --label lympho.jitter=0 "$LYT_IMAGE" >/dev/null ||
  die "run $good"
lymphd_start || die "lymphd does not start"
dk run -d --name "$bad2" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=6s --label lympho.strategy=sideways "$LYT_IMAGE" \
  >/dev/null || die "run $bad2"
declare -A id0
for x in "$bad1" "$bad2" "$plain" "$off" "$good"; do id0[$x]=$(c_id "$x"); done
ok "containers created"
case_end

case_begin control-regenerates
gid0=${id0[$good]}
if wait_for '[ "$(c_id "$good")" != "$gid0" ] && [ "$(c_gen "$good")" = 1 ]' 30; then
  ok "$good regenerated (lymphd was working)"
else
  _afail "$good not regenerated within 30 s"
fi
# Bad2 appeared later; give it more than its would-be TTL as well.
sleep 8
case_end

case_begin bad-label-untouched
for x in "$bad1" "$bad2"; do
  assert_eq "${id0[$x]}" "$(c_id "$x")" "$x keeps its id"
  assert_true "$x still runs" c_running "$x"
  assert_eq "" "$(c_gen "$x")" "$x has no lympho.generation label"
  assert_eq 1 "$(c_family "$x" | grep -c .)" "$x has no second generation or temporary"
done
case_end

case_begin bad-label-history
h1=$(history_json "$bad1")
h2=$(history_json "$bad2")
say "history $bad1: $(printf '%s' "$h1" | jq -c '.[0]')"
say "history $bad2: $(printf '%s' "$h2" | jq -c '.[0]')"
assert_ge 1 "$(printf '%s' "$h1" | jq '[.[] | select(tostring | contains("lympho.ttl"))] | length')" \
  "a history entry for $bad1 names lympho.ttl"
assert_ge 1 "$(printf '%s' "$h2" | jq '[.[] | select(tostring | contains("lympho.strategy"))] | length')" \
  "a history entry for $bad2 names lympho.strategy"
assert_eq 0 "$(printf '%s' "$h1" | jq '[.[] | select(.result == "ok")] | length')" "no successful action on $bad1"
case_end

case_begin unlabelled-untouched
for x in "$plain" "$off"; do
  assert_eq "${id0[$x]}" "$(c_id "$x")" "$x keeps its id"
  assert_true "$x still runs" c_running "$x"
  assert_eq "" "$(c_gen "$x")" "$x has no lympho.generation label"
    # An unknown name may also be an error: no output counts as no entries.
  assert_eq 0 "$(history_json "$x" | jq -s 'if length == 0 then 0 else .[0] | length end')" "no history for $x"
  assert_eq "" "$(ls_field "$x" name)" "$x not in ls"
done
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
case_end

finish
