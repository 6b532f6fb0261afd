#!/bin/bash
# The generic alert intake (POST /v1/alerts) and `lymphctl alert` each
# regenerate their container at its threshold, and the incident is in the
# history; bad requests (malformed JSON, no or wrong token, over 1 MiB,
# unknown container) are refused with the documented code and change
# nothing: same engine id, generation, threat level, no incident.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

g="${LYT_PFX}gen"
k="${LYT_PFX}cli"
b="${LYT_PFX}bad"

case_begin setup
for n in "$g" "$k" "$b"; do
  dk run -d --name "$n" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $n"
done
inc_start || die "lymphd does not start"
wait_for "in_ls $g && in_ls $k && in_ls $b" 15 || die "not adopted: $(ls_json)"
assert_eq 600 "$(stat -c %a "$LYT_STATE/webhook.token")" "token file mode"
assert_ge 16 "${#INC_TOKEN}" "token length"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$INC_URL/healthz")" "GET /healthz"
case_end

case_begin generic-regenerates
id0=$(c_id "$g")
out=$(post /v1/alerts "$(generic_body "$g" 3 "lyt canary touched")")
say "POST /v1/alerts: $out"
assert_eq 202 "${out%% *}" "status"
assert_eq '{"accepted":1,"ignored":0}' "${out#* }" "answer body"
if wait_gen "$g" 1 20; then ok "generation 1 runs"; else _afail "generation of $g is '$(c_gen "$g")' 20 s after the alert"; fi
assert_ne "$id0" "$(c_id "$g")" "engine id changed"
wait_for "c_settled $g" 20
assert_single "$g"
wait_replaced "$g" generic 10
inc=$(last_incident "$g" generic)
say "incident: $inc"
assert_eq generic "$(jq -r .source <<<"$inc")" "incident source"
assert_eq 3 "$(jq -r .severity <<<"$inc")" "incident severity"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "incident action"
assert_match "lyt canary touched" "$(jq -r .reason <<<"$inc")" "incident reason"
assert_ge 0 "$(jq -r '.cut_ms // -1' <<<"$inc")" "cut_ms recorded"
assert_ge 0 "$(jq -r '.replaced_ms // -1' <<<"$inc")" "replaced_ms recorded"
assert_match "^lympho-forensics/$g:gen-0$" "$(jq -r '.forensic_image // ""' <<<"$inc")" "forensic image named"
assert_match "^${id0:0:12}" "$(jq -r '.old_id // ""' <<<"$inc")" "incident old_id is the infected container"
assert_eq true "$(c_json "$g" .Config.Labels | jq 'has("lympho.generation")')" "new generation labelled"
case_end

case_begin cli-regenerates
id0=$(c_id "$k")
out=$(ctl alert "$k" --severity 3 --reason "lyt from the cli" 2>&1)
assert_eq 0 $? "lymphctl alert exit status [$out]"
if wait_gen "$k" 1 20; then ok "generation 1 runs"; else _afail "generation of $k is '$(c_gen "$k")' 20 s after lymphctl alert"; fi
assert_ne "$id0" "$(c_id "$k")" "engine id changed"
wait_replaced "$k" cli 10
inc=$(last_incident "$k" cli)
say "incident: $inc"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "incident action"
assert_match "lyt from the cli" "$(jq -r .reason <<<"$inc")" "incident reason"
out=$(ctl alert "${LYT_PFX}nosuch" --severity 3 2>&1)
assert_eq 1 $? "lymphctl alert on an unknown name exits 1 [$out]"
ctl alert "$k" >/dev/null 2>&1
assert_eq 2 $? "lymphctl alert without --severity is a usage error"
ctl alert "$k" --severity 11 >/dev/null 2>&1
assert_ne 0 $? "lymphctl alert --severity 11 is refused"
case_end

# snapshot NAME: what must not change.
snapshot () { echo "$(c_id "$1") $(c_gen "$1") $(c_level "$1") $(incident_count "$1")"; }

case_begin bad-input-changes-nothing
s0=$(snapshot "$b")
say "before: $s0"
good=$(generic_body "$b" 5 "lyt must not apply")
assert_eq 401 "$(post_noauth /v1/alerts "$good")" "no token"
assert_eq 401 "$(post_noauth /v1/alerts "$good" -H "Authorization: Bearer ${INC_TOKEN}x")" "wrong token"
assert_eq 401 "$(post_noauth /v1/alerts "$good" -H "Authorization: Bearer ${INC_TOKEN:0:$((${#INC_TOKEN} - 1))}")" "token one char short"
assert_eq 401 "$(post_noauth /v1/alerts/alertmanager "$(am_body "$b" critical fp-noauth)")" "alertmanager without token"
assert_eq 401 "$(post_noauth /v1/alerts/falco "$(falco_body "$b" Critical r)")" "falco without token"

out=$(post /v1/alerts '{"container": "'"$b"'", "severity": 5,')
assert_eq 400 "${out%% *}" "truncated JSON [$out]"
assert_ne "" "${out#* }" "400 carries a reason"
out=$(post /v1/alerts '{"container": "'"$b"'", "severity": "high"}')
assert_eq 400 "${out%% *}" "severity of the wrong type [$out]"
out=$(post /v1/alerts '{"container": "'"$b"'", "severity": 5, "bogus": 1}')
assert_eq 400 "${out%% *}" "unknown key in the generic body [$out]"
out=$(post /v1/alerts/alertmanager '{"alerts": 3}')
assert_eq 400 "${out%% *}" "alertmanager: alerts not an array [$out]"
out=$(post /v1/alerts/falco 'not json')
assert_eq 400 "${out%% *}" "falco: not JSON [$out]"

big="$LYT_TMP/big.json"
{ printf '{"container": "%s", "severity": 5, "reason": "' "$b"; head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' a; printf '"}'; } >"$big"
out=$(post /v1/alerts "@$big")
assert_eq 413 "${out%% *}" "body over 1 MiB"
out=$(post /v1/alerts "@$big" -H 'Transfer-Encoding: chunked')
assert_eq 413 "${out%% *}" "chunked body over 1 MiB"

out=$(post /v1/alerts "$(generic_body "${LYT_PFX}nosuch" 5 x)")
assert_eq 404 "${out%% *}" "unknown container [$out]"
# One known and one unknown container in one payload: nothing applied.
mixed=$(am_body "$b" critical fp-mixed | jq -c '.alerts += [.alerts[0] | .labels.container = "'"${LYT_PFX}nosuch"'" | .fingerprint = "fp-other"]')
out=$(post /v1/alerts/alertmanager "$mixed")
assert_eq 404 "${out%% *}" "alertmanager payload naming an unknown container [$out]"
out=$(post /v1/alerts/falco "$(falco_body "$b" Critical "lyt rule" | jq -c '.output_fields["container.name"] = "'"${LYT_PFX}nosuch"'" | .output_fields["container.id"] = "0123456789ab"')")
assert_eq 404 "${out%% *}" "falco event for an unknown container [$out]"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' "$INC_URL/v1/alerts")" "GET /v1/alerts"

sleep 2
s1=$(snapshot "$b")
say "after: $s1"
assert_eq "$s0" "$s1" "id, generation, threat level, incident count of $b"
assert_true "$b runs" c_running "$b"
case_end

case_begin metrics
m=$(curl -s "$INC_URL/metrics")
assert_match "^lympho_protected_containers 3" "$(grep '^lympho_protected_containers' <<<"$m")" "protected containers"
assert_match 'lympho_threat_level\{container="'"$b"'"\} 0' "$(grep lympho_threat_level <<<"$m")" "threat level of $b"
assert_match 'source="generic"' "$(grep -E '^lympho_(http_)?alerts_total' <<<"$m")" "alerts by source"
case_end

lymphd_stop
finish
