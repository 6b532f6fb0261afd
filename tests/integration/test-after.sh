#!/bin/bash
# Dependants (issue 14): lympho.after=NAME[,NAME…]. When a protected
# container has been regenerated, those that name it are regenerated after
# it (a chain goes down in order: each starts after the one before it
# ended, in the order lymphd's own event stream gives, not by comparing
# two clocks), whatever regenerated it; a dependency cycle is refused at
# adoption, with a history entry that names it. ls shows the list.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

a="${LYT_PFX}db"
b="${LYT_PFX}api"
c="${LYT_PFX}web"
x="${LYT_PFX}x"
y="${LYT_PFX}y"
run () # NAME [LABELS...]
{
  local n=$1
  shift
  dk run -d --name "$n" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h "$@" "$LYT_IMAGE" >/dev/null
}
# The line number, in the follower's stream, of NAME's first STEP.
step_line ()
{
  jq -n --arg n "$1" --arg s "$2" '[inputs] | to_entries
    | map(select(.value.kind == "step" and .value.name == $n and .value.step == $s))
    | .[0].key // empty' "$LYT_TMP/steps.json" 2>/dev/null
}
# The newest regen entry of NAME, as JSON.
last_regen () { history_json "$1" | jq -c '[.[] | select(.kind == "regen")][0] // empty'; }

case_begin setup
lymphd_start || die "lymphd does not start"
run "$a" || die "run $a"
run "$b" --label "lympho.after=$a" || die "run $b"
run "$c" --label "lympho.after=$b" || die "run $c"
wait_for "lymphd_idle $a && lymphd_idle $b && lymphd_idle $c" 20 || die "not adopted: $(ls_json)"
assert_eq "[\"$a\"]" "$(ls_field "$b" after | jq -c .)" "ls: $b is after $a"
assert_eq "[]" "$(ls_field "$a" after | jq -c .)" "ls: $a after nothing"
case_end

case_begin chain-follows-in-order
# The order of steps, as lymphd streams them (lymphctl events --follow):
# the history's time and duration_ms come from two clocks at millisecond
# resolution, so "began after" is read from the stream's order instead.
"$LYMPHCTL" --socket "$LYT_SOCK" --json events --follow >"$LYT_TMP/steps.json" 2>"$LYT_TMP/steps.err" &
fol=$!
LYT_PIDS+=("$fol")
wait_for "[ \"\$(ctl --json status 2>/dev/null | jq -r '.event_followers // empty')\" = 1 ]" 10 ||
  _afail "the follower did not attach"
ctl regen "$a" >/dev/null || _afail "regen $a"
if wait_for "[ \"\$(c_gen $c)\" = 1 ] && lymphd_idle $b && lymphd_idle $c" 30; then ok "the chain went down"
else _afail "generations: $a $(c_gen "$a"), $b $(c_gen "$b"), $c $(c_gen "$c")"; fi
assert_eq 1 "$(c_gen "$b")" "$b regenerated once"
ra=$(last_regen "$a") rb=$(last_regen "$b") rc=$(last_regen "$c")
say "ends: $a $(jq .time <<<"$ra"), $b $(jq .time <<<"$rb") ($(jq -r .reason <<<"$rb")), $c $(jq .time <<<"$rc") ($(jq -r .reason <<<"$rc"))"
assert_eq "after $a" "$(jq -r .reason <<<"$rb")" "$b: reason after $a"
assert_eq "after $b" "$(jq -r .reason <<<"$rc")" "$c: reason after $b"
wait_for "[ -n \"\$(step_line $c end)\" ]" 10 || _afail "the follower saw no end of $c"
say "stream: $(jq -r 'select(.kind == "step" and (.step == "begin" or .step == "end")) | "\(.name):\(.step)"' \
  "$LYT_TMP/steps.json" | tr '\n' ' ')"
assert_true "$b began after $a ended" test "$(step_line "$b" begin)" -gt "$(step_line "$a" end)"
assert_true "$c began after $b ended" test "$(step_line "$c" begin)" -gt "$(step_line "$b" end)"
kill -INT "$fol" 2>/dev/null
wait "$fol" 2>/dev/null
for n in "$a" "$b" "$c"; do assert_single "$n"; done
case_end

case_begin dependant-alone-goes-alone
# Regenerating the last of the chain touches nothing before it.
ctl regen "$c" >/dev/null || _afail "regen $c"
wait_for "lymphd_idle $a && lymphd_idle $b" 10
assert_eq 1 "$(c_gen "$a")" "$a untouched"
assert_eq 1 "$(c_gen "$b")" "$b untouched"
case_end

case_begin cycle-refused
run "$x" --label "lympho.after=$y" || die "run $x"
wait_for "lymphd_idle $x" 15 || die "$x not adopted"
run "$y" --label "lympho.after=$x" || die "run $y"
wait_for "[ -n \"\$(history_json $y | jq -c '.[] | select(.kind == \"refuse\")')\" ]" 15 ||
  _afail "no refusal for $y: $(history_json "$y" | jq -c .)"
why=$(history_json "$y" | jq -r '[.[] | select(.kind == "refuse")][0].error')
say "refused: $why"
assert_eq "lympho.after: a dependency cycle: $y -> $x -> $y" "$why" "the refusal names the cycle"
assert_eq "" "$(ls_field "$y" name)" "$y is not protected"
assert_true "$x still is" in_ls "$x"
run "${LYT_PFX}self" --label "lympho.after=${LYT_PFX}self" || die "run self"
wait_for "[ -n \"\$(history_json ${LYT_PFX}self | jq -c '.[] | select(.kind == \"refuse\")')\" ]" 15 ||
  _afail "a container after itself was not refused"
case_end

finish
