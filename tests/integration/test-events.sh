#!/bin/bash
# `lymphctl events [--follow] [--json] [NAME]` (issue 14): the last history
# entries, oldest first; with --follow each new entry and each step of a
# regeneration as it happens, in order, for one name or all; the follower
# ends cleanly on Ctrl-C and when lymphd stops. What a case waits for is
# what lymphd reports (status: event_followers; the follower's own lines),
# never a time.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

c="${LYT_PFX}ev-a"
d="${LYT_PFX}ev-b"
followers () { ctl --json status 2>/dev/null | jq -r '.event_followers // empty'; }
# The JSON lines of a follower's file that are about NAME, of KIND.
lines_of () { jq -c --arg n "$2" --arg k "$3" 'select(.name == $n and .kind == $k)' "$1" 2>/dev/null; }
ended () { [ -n "$(jq -c --arg n "$2" 'select(.name == $n and .kind == "step" and .step == "end")' "$1" 2>/dev/null)" ]; }

case_begin setup
lymphd_start || die "lymphd does not start"
for n in "$c" "$d"; do
  dk run -d --name "$n" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h "$LYT_IMAGE" >/dev/null ||
    die "run $n"
done
wait_for "lymphd_idle $c && lymphd_idle $d" 20 || die "not adopted: $(ls_json)"
assert_eq 0 "$(followers)" "status: nobody follows"
case_end

case_begin past-entries-oldest-first
ctl regen "$c" >/dev/null || die "regen $c"
out=$(ctl --json events "$c")
assert_eq 0 $? "lymphctl events exit status"
say "events: $(printf '%s' "$out" | jq -c '[.kind, .result, .generation]' | tr '\n' ' ')"
assert_true "each line is one JSON object" sh -c 'printf "%s\n" "$1" | jq -e -s "length >= 2 and all(type == \"object\")" >/dev/null' _ "$out"
assert_eq "$(history_json "$c" | jq -c 'reverse | .[]')" "$out" "history's entries, oldest first"
assert_eq "[\"$c\"]" "$(printf '%s\n' "$out" | jq -s -c 'map(.name) | unique')" "only $c's"
text=$(ctl events "$c")
assert_match "regen +$c gen=1 ok" "$text" "text mode: one line per entry ($(printf '%s' "$text" | tail -n 1))"
case_end

case_begin follow-a-regeneration
# lymphctl itself in the background (not through a function, whose
# subshell would take the signals): $! is its pid.
"$LYMPHCTL" --socket "$LYT_SOCK" --json events --follow "$c" >"$LYT_TMP/f-c.json" 2>"$LYT_TMP/f-c.err" &
fc=$!
"$LYMPHCTL" --socket "$LYT_SOCK" --json events --follow >"$LYT_TMP/f-all.json" 2>"$LYT_TMP/f-all.err" &
fall=$!
"$LYMPHCTL" --socket "$LYT_SOCK" events --follow "$d" >"$LYT_TMP/f-d.txt" 2>"$LYT_TMP/f-d.err" &
fd=$!
LYT_PIDS+=("$fc" "$fall" "$fd")
wait_for "[ \"\$(followers)\" = 3 ]" 10 || _afail "status: $(followers) followers, not 3"
n0=$(wc -l <"$LYT_TMP/f-c.json")
gen=$(c_gen "$c")
new=$(ctl regen "$c") || _afail "regen $c"
wait_for "ended '$LYT_TMP/f-c.json' $c && [ -n \"\$(lines_of '$LYT_TMP/f-c.json' $c regen)\" ]" 10 ||
  _afail "the follower of $c saw no end: $(tail -n 3 "$LYT_TMP/f-c.json")"
fresh=$(tail -n +$((n0 + 1)) "$LYT_TMP/f-c.json")
steps=$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "step") | .step' | tr '\n' ' ')
say "steps: $steps"
assert_match "^begin .*created .*commit .*end $" "$steps" "begin, created, commit and end, in that order"
assert_eq 1 "$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "step") | .txn' | sort -u | wc -l)" "one transaction"
assert_eq "$((gen + 1))" "$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "step" and .step == "commit") | .generation')" \
  "the commit names the new generation"
assert_match "^${new:0:12}" "$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "step" and .step == "commit") | .id')" \
  "the commit names the new container, as regen printed it"
assert_eq ok "$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "step" and .step == "end") | .detail')" "it ended ok"
assert_eq ok "$(printf '%s\n' "$fresh" | jq -r 'select(.kind == "regen") | .result')" "then the history entry: regen ok"
assert_eq "$(history_json "$c" | jq -c '.[0]')" "$(printf '%s\n' "$fresh" | jq -c 'select(.kind == "regen")')" \
  "the entry as history keeps it"
# The follower of every name saw the same; the one of $d none of it.
wait_for "ended '$LYT_TMP/f-all.json' $c" 10 || _afail "the follower of all saw no end"
assert_eq "$(lines_of "$LYT_TMP/f-c.json" "$c" step | tail -n 4)" "$(lines_of "$LYT_TMP/f-all.json" "$c" step | tail -n 4)" \
  "the follower of all names saw the same steps"
ctl regen "$d" >/dev/null || _afail "regen $d"
wait_for "grep -q 'step .*$d gen=[0-9]* end' '$LYT_TMP/f-d.txt'" 10 || _afail "the follower of $d saw no end: $(tail -n 3 "$LYT_TMP/f-d.txt")"
assert_eq 0 "$(grep -c -- "$c" "$LYT_TMP/f-d.txt")" "the follower of $d saw nothing of $c"
say "text: $(grep ' step ' "$LYT_TMP/f-d.txt" | head -n 1)"
assert_match "regen +$d gen=[0-9]+ ok" "$(cat "$LYT_TMP/f-d.txt")" "text mode: the history entry's line"
case_end

case_begin ctrl-c-ends-cleanly
kill -INT "$fd"
wait "$fd"
rc=$?
assert_eq 0 "$rc" "SIGINT: exit status 0"
assert_eq "" "$(cat "$LYT_TMP/f-d.err")" "and nothing on stderr"
if wait_for "[ \"\$(followers)\" = 2 ]" 10; then ok "lymphd let it go (2 followers left)"; else _afail "status: $(followers) followers"; fi
case_end

case_begin lymphd-stop-ends-followers
lymphd_stop
for p in "$fc" "$fall"; do
  wait "$p"
  assert_eq 0 $? "a follower ends with status 0 when lymphd stops"
done
assert_match "lymphd closed the stream" "$(cat "$LYT_TMP/f-c.err")" "and says why on stderr"
case_end

case_begin usage
lymphd_start || die "lymphd does not start again"
ctl status --follow >/dev/null 2>"$LYT_TMP/err"
assert_eq 2 $? "--follow with another command: usage error"
assert_match "applies only to events" "$(cat "$LYT_TMP/err")" "said so"
ctl events a b >/dev/null 2>&1
assert_eq 2 $? "two names: usage error"
ctl events "${LYT_PFX}nobody" >"$LYT_TMP/out" 2>&1
assert_eq 0 $? "a name with no history: nothing, no error"
assert_eq "" "$(cat "$LYT_TMP/out")" "prints nothing"
case_end

finish
