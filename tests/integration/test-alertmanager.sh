#!/bin/bash
# Alertmanager webhook (version 4, payloads recorded from a real
# Alertmanager): a firing critical alert regenerates its container; a
# resolved alert and a repeated notification of the same fingerprint do
# not; the other container labels and a numeric lympho_severity work.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

a="${LYT_PFX}fire"
r="${LYT_PFX}resolved"
d="${LYT_PFX}dup"
v="${LYT_PFX}variant"

case_begin setup
for n in "$a" "$r" "$d" "$v"; do
  dk run -d --name "$n" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $n"
done
inc_start || die "lymphd does not start"
wait_for "in_ls $a && in_ls $r && in_ls $d && in_ls $v" 15 || die "not adopted: $(ls_json)"
ok "adopted"
case_end

case_begin firing-regenerates
id0=$(c_id "$a")
out=$(post /v1/alerts/alertmanager "$(am_body "$a" critical "fp-$RANDOM")")
say "POST: $out"
assert_eq 202 "${out%% *}" "status"
assert_eq '{"accepted":1,"ignored":0}' "${out#* }" "answer body"
if wait_gen "$a" 1 20; then ok "generation 1 runs"; else _afail "generation of $a is '$(c_gen "$a")' 20 s after the alert"; fi
assert_ne "$id0" "$(c_id "$a")" "engine id changed"
wait_replaced "$a" alertmanager 10
inc=$(last_incident "$a" alertmanager)
say "incident: $inc"
assert_eq 3 "$(jq -r .severity <<<"$inc")" "severity of a critical alert"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "action"
assert_match "WebShellDetected" "$(jq -r '.signature // ""' <<<"$inc")" "signature names the alertname"
case_end

case_begin resolved-changes-nothing
id0=$(c_id "$r")
out=$(post /v1/alerts/alertmanager "$(am_body "$r" critical "fp-res" resolved)")
say "POST resolved: $out"
assert_eq 202 "${out%% *}" "status"
assert_eq '{"accepted":0,"ignored":1}' "${out#* }" "answer body: ignored"
# The recorded resolved payload too, pointed at $r.
out=$(post /v1/alerts/alertmanager "$(jq -c --arg c "$r" '.alerts |= map(.labels.container = $c) | .alerts |= map(.labels.name = $c)' "$INC_DATA/alertmanager-resolved.json")")
assert_eq 202 "${out%% *}" "recorded resolved payload status [$out]"
sleep 3
assert_eq "$id0" "$(c_id "$r")" "engine id unchanged"
assert_eq "" "$(c_gen "$r")" "no generation label (still the adopted original)"
assert_eq 0 "$(c_level "$r")" "threat level"
assert_eq 0 "$(incident_count "$r")" "no incident recorded"
case_end

case_begin duplicate-counts-once
id0=$(c_id "$d")
# error = 2; the same fingerprint twice must not add up to the threshold 3.
body=$(am_body "$d" error "fp-dup")
out1=$(post /v1/alerts/alertmanager "$body")
out2=$(post /v1/alerts/alertmanager "$body")
say "first: $out1; repeat: $out2"
assert_eq 202 "${out1%% *}" "first notification"
assert_eq 202 "${out2%% *}" "repeated notification"
sleep 3
assert_eq "$id0" "$(c_id "$d")" "engine id unchanged after the repeat"
assert_true "threat level about 2 (saw $(c_level "$d"))" level_between "$d" 1.9 2.01
assert_eq 1 "$(incident_count "$d" alertmanager)" "one incident recorded"
# A different fingerprint counts: 2 + 2 reaches 3.
out=$(post /v1/alerts/alertmanager "$(am_body "$d" error "fp-dup-2")")
assert_eq 202 "${out%% *}" "second fingerprint [$out]"
if wait_gen "$d" 1 20; then ok "a second fingerprint regenerates"; else _afail "generation of $d is '$(c_gen "$d")' after a second fingerprint"; fi
case_end

case_begin other-labels
id0=$(c_id "$v")
body=$(am_body "$v" info "fp-var" | jq -c --arg c "$v" '.alerts |= map(.labels |= (del(.container) | .lympho_container = $c | .lympho_severity = "3"))')
out=$(post /v1/alerts/alertmanager "$body")
assert_eq 202 "${out%% *}" "lympho_container with lympho_severity 3 [$out]"
if wait_gen "$v" 1 20; then ok "regenerated"; else _afail "generation of $v is '$(c_gen "$v")' 20 s after the alert"; fi
wait_replaced "$v" alertmanager 10
assert_eq 3 "$(last_incident "$v" alertmanager | jq -r .severity)" "severity from lympho_severity"
# container_name, warning = 1: counted, below the threshold. Another
# alertname: the first one is in immune memory now and would be answered at
# once (test-memory covers that).
g1=$(c_gen "$v")
body=$(am_body "$v" warning "fp-var-2" firing LytOtherAlert | jq -c --arg c "$v" '.alerts |= map(.labels |= (del(.container) | .container_name = $c))')
out=$(post /v1/alerts/alertmanager "$body")
assert_eq '202 {"accepted":1,"ignored":0}' "$out" "container_name label"
sleep 2
assert_eq "$g1" "$(c_gen "$v")" "warning alone does not regenerate"
assert_true "threat level about 1 (saw $(c_level "$v"))" level_between "$v" 0.9 1.01
case_end

lymphd_stop
finish
