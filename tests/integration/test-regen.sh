#!/bin/bash
# `lymphctl regen NAME` regenerates at once, waits, prints the new id; the
# engine agrees; history records it; unknown names and bad usage fail cleanly.
# The container appears after lymphd started (adoption on the create event).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

c="${LYT_PFX}app"

case_begin adopt-on-appear
lymphd_start || die "lymphd does not start"
dk run -d --name "$c" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h -e LYT=1 "$LYT_IMAGE" >/dev/null ||
  die "run $c"
id0=$(c_id "$c")
if wait_for "in_ls $c" 15; then ok "$c appears in ls"; else _afail "$c not in ls after 15 s: $(ls_json)"; fi
entry=$(ls_json | jq -c --arg n "$c" '.[] | select(.name == $n)')
say "ls: $entry"
for f in name id image_id generation ttl_s next_regen_in_s threat_level state; do
  assert_eq true "$(printf '%s' "$entry" | jq --arg f "$f" 'has($f)')" "ls --json has field $f"
done
assert_match "^${id0:0:12}" "$(ls_field "$c" id)" "ls id is the engine's id"
assert_eq 0 "$(ls_field "$c" generation)" "ls generation"
assert_eq 3600 "$(ls_field "$c" ttl_s)" "ls ttl_s"
next=$(ls_field "$c" next_regen_in_s)
assert_true "next_regen_in_s in (3000, 3960] (1 h, jitter 10 %; saw $next)" awk -v x="$next" 'BEGIN { exit !(x > 3000 && x <= 3960) }'
# Nothing in flight or pending, and ls says so.
assert_true "lymphd reports $c idle" wait_for "lymphd_idle $c" 15
assert_eq 'null null null null null' "$(ls_json | jq -r --arg n "$c" '.[] | select(.name == $n) |
  [.regen, .queued, .retry, .recovery, .last_error] | map(tostring) | join(" ")')" "nothing pending, no failure"
case_end

case_begin regen
t0=$(now_ms)
out=$(ctl regen "$c" 2>"$LYT_TMP/err")
rc=$?
say "regen took $(($(now_ms) - t0)) ms, printed '$out', stderr '$(cat "$LYT_TMP/err")'"
assert_eq 0 "$rc" "lymphctl regen exit status"
assert_eq "" "$(cat "$LYT_TMP/err")" "nothing on stderr: this request started the regeneration"
id1=$(c_id "$c")
assert_ne "$id0" "$id1" "engine id changed"
assert_true "printed id '$out' is the engine's id of $c ($id1)" \
  sh -c '[ ${#1} -ge 12 ] && case "$2" in "$1"*) true ;; *) false ;; esac' _ "$out" "$id1"
assert_eq 1 "$(c_gen "$c")" "label lympho.generation"
assert_eq 1 "$(ls_field "$c" generation)" "ls generation"
assert_single "$c"
h=$(history_json "$c" | jq -c '.[0]')
say "history[0]: $h"
assert_eq regen "$(printf '%s' "$h" | jq -r .kind)" "history newest kind"
assert_eq ok "$(printf '%s' "$h" | jq -r .result)" "history newest result"
assert_eq 1 "$(printf '%s' "$h" | jq -r .generation)" "history newest generation"
assert_eq "$c" "$(printf '%s' "$h" | jq -r .name)" "history newest name"
case_end

case_begin regen-with-reason
out=$(ctl regen "$c" --reason "lyt reason 42" 2>"$LYT_TMP/err")
assert_eq 0 $? "lymphctl regen --reason exit status"
assert_eq "$(c_id "$c")" "$(c_id "$out")" "printed id names the container holding $c"
assert_eq 2 "$(c_gen "$c")" "label lympho.generation"
h=$(history_json "$c" | jq -c '.[0]')
assert_match "lyt reason 42" "$(printf '%s' "$h" | jq -r .reason)" "history reason carries the text given"
assert_eq 2 "$(printf '%s' "$h" | jq -r .generation)" "history generation"
# Newest first, over all names too.
all=$(history_json)
assert_eq true "$(printf '%s' "$all" | jq '[.[].time] as $t | $t == ($t | sort | reverse)')" "history is newest first"
assert_ge 2 "$(printf '%s' "$all" | jq --arg n "$c" '[.[] | select(.name == $n and .kind == "regen")] | length')" \
  "history (all names) holds both regens"
case_end

# A second regen while one is in flight joins it: one regeneration, both
# requests get its id, the second says it joined. The swap (no host port)
# waits the settle period with the new generation running, so the first is
# in flight for seconds: long enough to be seen in ls.
case_begin regen-joins
assert_true "lymphd reports $c idle" wait_for "lymphd_idle $c" 30
gen0=$(ls_field "$c" generation)
ctl regen "$c" --reason first >"$LYT_TMP/first" 2>"$LYT_TMP/first.err" &
first=$!
if wait_for "[[ \"\$(ls_field $c regen.reason)\" == 'manual: first'* ]]" 30; then
  ok "ls shows the regeneration in flight: $(ls_field "$c" regen | jq -c .)"
  txn=$(ls_field "$c" regen.txn)
  assert_match '^[0-9a-f]{8}$' "$txn" "with its txn"
  assert_eq false "$(ls_field "$c" idle)" "and not idle"
  out=$(ctl regen "$c" --reason second 2>"$LYT_TMP/err")
  assert_eq 0 $? "the second regen succeeds"
  assert_eq "lymphctl: joined the regeneration in flight (txn $txn, reason: manual: first)" "$(cat "$LYT_TMP/err")" \
    "and says on stderr which regeneration it joined"
  wait "$first"
  assert_eq 0 $? "the first regen succeeds"
  assert_eq "" "$(cat "$LYT_TMP/first.err")" "the first did not join"
  assert_eq "$(cat "$LYT_TMP/first")" "$out" "both print the same id"
  assert_eq "$(c_id "$c")" "$(c_id "$out")" "the id holds $c"
  assert_eq "$((gen0 + 1))" "$(ls_field "$c" generation)" "one regeneration, not two"
  assert_true "lymphd's log says the second joined" grep -q "manual: second joins the regeneration in flight (txn=$txn, reason manual: first)" "$LYMPHD_LOG"
else
  _afail "the regeneration never showed in ls: $(ls_json)"
  wait "$first"
fi
assert_single "$c"
case_end

case_begin regen-unknown
out=$(ctl regen "${LYT_PFX}nosuch" 2>"$LYT_TMP/err")
rc=$?
err=$(cat "$LYT_TMP/err")
assert_eq 1 "$rc" "exit status for an unknown name"
assert_ne "" "$err" "a message on stderr"
assert_eq "" "$out" "nothing on stdout"
ctl regen >/dev/null 2>&1
assert_eq 2 $? "exit status of regen without a name (usage)"
ctl frobnicate >/dev/null 2>&1
assert_eq 2 $? "exit status of an unknown command (usage)"
case_end

case_begin status
out=$(ctl --json status 2>&1)
assert_eq 0 $? "status exit status"
assert_true "status --json is a JSON object [$out]" sh -c 'printf "%s" "$1" | jq -e "type == \"object\"" >/dev/null' _ "$out"
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
ctl ls >/dev/null 2>"$LYT_TMP/err"
assert_eq 1 $? "lymphctl ls without a daemon exits 1"
assert_ne "" "$(cat "$LYT_TMP/err")" "and says why"
case_end

finish
