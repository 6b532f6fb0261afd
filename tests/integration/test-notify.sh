#!/bin/bash
# Notifications out (issue 14): notify-url receives one JSON POST per
# regeneration, incident and refusal, with the notify-token-file's bearer
# token; a receiver that fails is retried with backoff; one that hangs
# never holds back lymphd (a regeneration runs and ends while the POST
# hangs); an identical event is sent once. The receiver is a real HTTP
# server (notify-receiver.py).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

c="${LYT_PFX}noted"
ob="${LYT_PFX}watched"
RLOG="$LYT_TMP/received.jsonl"
RMODE="$LYT_TMP/receiver.mode"
# The POSTs the receiver answered (not the held ones), as JSON lines.
posts () { jq -c 'select(.body != null and (.held // false) == false)' "$RLOG" 2>/dev/null; }
posts_about () { posts | jq -c --arg n "$1" --arg k "$2" 'select(.body.event.name == $n and .body.event.kind == $k)'; }
notify_stat () { ctl --json status 2>/dev/null | jq -r ".notify.$1 // empty"; }

case_begin setup
need_cmd python3 python3 || die "no python3"
port=$(free_port) || die "no free port"
echo ok >"$RMODE"
: >"$RLOG"
python3 "$here/notify-receiver.py" "$port" "$RLOG" "$RMODE" >"$LYT_TMP/receiver.out" 2>&1 &
LYT_PIDS+=("$!")
wait_for "curl -s -o /dev/null -X POST --max-time 2 http://127.0.0.1:$port/ping" 10 || die "the receiver does not answer"
: >"$RLOG"
printf 'notify-secret-42\n' >"$LYT_TMP/notify.token"
chmod 600 "$LYT_TMP/notify.token"
cat >"$LYT_CONFIG" <<EOF
notify-url = http://127.0.0.1:$port/hook
notify-token-file = $LYT_TMP/notify.token
EOF
dk run -d --name "$c" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $c"
dk run -d --name "$ob" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=5s --label lympho.jitter=0 \
  --label lympho.mode=observe --label lympho.drift.allow=/ --label lympho.exec.allow=/bin/busybox \
  "$LYT_IMAGE" >/dev/null || die "run $ob"
inc_start || die "lymphd does not start"
wait_for "lymphd_idle $c && lymphd_idle $ob" 20 || die "not adopted: $(ls_json)"
assert_eq 1 "$(notify_stat receivers)" "status: one receiver"
case_end

case_begin regeneration-posted
ctl regen "$c" >/dev/null || _afail "regen $c"
wait_for "[ -n \"\$(posts_about $c regen)\" ]" 15 || _afail "nothing received: $(tail -n 2 "$RLOG")"
p=$(posts_about "$c" regen | tail -n 1)
say "received: $(jq -c '{path, auth, text: .body.text, node: .body.node, kind: .body.event.kind, result: .body.event.result, generation: .body.event.generation}' <<<"$p")"
assert_eq /hook "$(jq -r .path <<<"$p")" "POSTed to the URL's path"
assert_eq "Bearer notify-secret-42" "$(jq -r .auth <<<"$p")" "with the token file's bearer"
assert_eq ok "$(jq -r .body.event.result <<<"$p")" "the event: regen ok"
assert_eq 1 "$(jq -r .body.event.generation <<<"$p")" "its generation"
assert_eq "$(history_json "$c" | jq -c '.[0]')" "$(jq -c .body.event <<<"$p")" "the event as history keeps it"
assert_match "^$c: regen ok, generation 1: manual" "$(jq -r .body.text <<<"$p")" "one line of text for chat webhooks"
assert_eq "$(hostname)" "$(jq -r .body.node <<<"$p")" "and the node"
assert_ge 1 "$(notify_stat sent)" "status counts it sent"
case_end

case_begin incident-posted
n0=$(posts | wc -l)
ctl alert "$c" --severity 10 --reason notify-me >/dev/null || _afail "alert $c"
wait_for "[ -n \"\$(posts_about $c incident)\" ] && [ \"\$(posts_about $c regen | wc -l)\" -ge 2 ]" 20 ||
  _afail "no incident and regen posted: $(tail -n 2 "$RLOG")"
inc=$(posts_about "$c" incident | tail -n 1)
assert_match "notify-me" "$(jq -r .body.event.reason <<<"$inc")" "the incident, with its reason"
assert_eq regenerate "$(jq -r .body.event.action <<<"$inc")" "and what was done"
assert_eq 0 "$(posts | jq -s --arg n "$c" '[.[] | select(.body.event.name == $n and (.body.event.kind == "adopt" or .body.event.kind == "learn" or .body.event.kind == "detect"))] | length')" \
  "adoptions and learning are not posted"
say "$(( $(posts | wc -l) - n0 )) posts for the alert"
case_end

case_begin failing-receiver-retried
echo "fail 2" >"$RMODE"
r0=$(notify_stat retried)
gen=$(c_gen "$c")
ctl regen "$c" >/dev/null || _afail "regen $c"
wait_for "[ \"\$(posts_about $c regen | jq -s --argjson g $((gen + 1)) '[.[] | select(.body.event.generation == \$g)] | length')\" -ge 3 ]" 20 ||
  _afail "not retried until taken: $(tail -n 3 "$RLOG")"
codes=$(posts_about "$c" regen | jq -r --argjson g $((gen + 1)) 'select(.body.event.generation == $g) | .code' | tr '\n' ' ')
assert_eq "500 500 204 " "$codes" "two 500s, then taken (the same event each time)"
assert_ge $((r0 + 2)) "$(notify_stat retried)" "status counts the retries"
echo ok >"$RMODE"
case_end

case_begin hanging-receiver-holds-nothing-back
echo hang >"$RMODE"
gen=$(c_gen "$c")
ctl regen "$c" >/dev/null || _afail "regen $c"
wait_for "[ \"\$(jq -s 'map(select(.held)) | length' '$RLOG')\" -ge 1 ]" 15 || _afail "no POST held"
held_at=$(jq -s 'map(select(.held)) | last | .at' "$RLOG")
# While the POST hangs (up to its 5 s timeout), lymphd answers and
# regenerates: the next regeneration starts before that POST gives up.
assert_true "lymphd answers while a POST hangs" ctl_alive
ctl regen "$c" >/dev/null || _afail "regen $c while the receiver hangs"
h=$(history_json "$c" | jq -c '[.[] | select(.kind == "regen")][0]')
start=$(jq -r '.time - .duration_ms' <<<"$h")
say "POST held at $held_at; the next regeneration ran from $start to $(jq -r .time <<<"$h")"
assert_eq $((gen + 2)) "$(jq -r .generation <<<"$h")" "the next regeneration ran"
assert_true "it started before the held POST gave up (held at $held_at, start $start)" test "$start" -lt $((held_at + 5000))
echo ok >"$RMODE"
wait_for "[ \"\$(posts_about $c regen | jq -s --argjson g $((gen + 2)) '[.[] | select(.body.event.generation == \$g)] | length')\" -ge 1 ]" 30 ||
  _afail "the later event was not sent once the receiver answered again"
case_end

case_begin identical-event-sent-once
# The observed container's TTL: the same "would have regenerated" again
# and again in one generation; sent once, the rest counted.
wait_for "[ \"\$(history_json $ob | jq '[.[] | select(.kind == \"regen\" and .result == \"observed\")] | length')\" -ge 2 ]" 20 ||
  _afail "no two observed TTLs"
wait_for "[ \"\$(notify_stat duplicates)\" -ge 1 ]" 10 || _afail "no duplicate counted"
wait_for "[ \"\$(posts_about $ob regen | wc -l)\" -ge 1 ]" 10 || _afail "the first was not sent"
assert_eq 1 "$(posts_about "$ob" regen | wc -l)" "sent once"
assert_match "would have regenerated" "$(posts_about "$ob" regen | jq -r .body.text)" "what observe mode would have done"
case_end

case_begin bad-token-file-said
lymphd_stop
printf 'bad\001token\n' >"$LYT_TMP/notify.token"
inc_start || die "lymphd does not start with a bad token file"
assert_match "control character" "$(notify_stat problem)" "status says why nothing is sent"
case_end

finish
