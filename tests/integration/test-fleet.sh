#!/bin/bash
# Warnings across nodes through a real Alertmanager (issue 13): two lymphd
# on this machine, each a "node" on its own engine: node-a on the Docker
# Engine, node-b on Podman's service; each sends its incidents to one
# Alertmanager (alertmanager-url), whose webhook goes to both.
#   - an incident on node-a's frontend member raises node-b's frontend
#     members by the group share, and no one else;
#   - node-a's own incident, coming back, is not counted twice;
#   - a silence in Alertmanager stops the warning (Alertmanager reports it
#     suppressed; an unsilenced one sent after it arrives);
#   - node-b's incident raises node-a's member, and node-a sends nothing on
#     (no loop: Alertmanager holds node-b's alert alone for that group);
#   - a threshold crossing reaches Alertmanager and warns no node.
# The time an incident takes from node-a to node-b is bench/fleet.sh's.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
. "$here/lib-fleet.sh"
inc_init

fleet_init

a_front="${LYT_PFX}a-front"
a_front2="${LYT_PFX}a-front2"
a_back="${LYT_PFX}a-back"
a_edge="${LYT_PFX}a-edge"
a_hot="${LYT_PFX}a-hot"
b_front="${LYT_PFX}b-front"
b_front2="${LYT_PFX}b-front2"
b_back="${LYT_PFX}b-back"
b_edge="${LYT_PFX}b-edge"
b_hot="${LYT_PFX}b-hot"
# Threshold 10: levels rise, nothing is regenerated (but a-hot: 3).
member () # CLI NAME GROUP [THRESHOLD]
{
  "$1" run -d --name "$2" "${INC_QUIET[@]}" --label lympho.group="$3" --label lympho.threshold="${4:-10}" \
    "${5:-$LYT_IMAGE}" >/dev/null
}

case_begin setup
member "$DOCKER" "$a_front" frontend || die "run $a_front"
member "$DOCKER" "$a_front2" frontend || die "run $a_front2"
member "$DOCKER" "$a_back" backend || die "run $a_back"
member "$DOCKER" "$a_edge" edge || die "run $a_edge"
member "$DOCKER" "$a_hot" hot 3 || die "run $a_hot"
for n in "$b_front:frontend" "$b_front2:frontend" "$b_back:backend" "$b_edge:edge" "$b_hot:hot"; do
  member "$PODMAN" "${n%%:*}" "${n#*:}" 10 "${LYT_PFX}img:1" || die "podman run ${n%%:*}"
done
fleet_nodes_up || die "the nodes do not start"
wait_for "lymphd_idle $a_front && lymphd_idle $a_front2 && lymphd_idle $a_back && lymphd_idle $a_edge && lymphd_idle $a_hot" 30 ||
  die "node-a: not adopted"
wait_for "[ \"\$(ctlb --json ls | jq '[.[] | select(.idle)] | length')\" = 5 ]" 60 || die "node-b: not adopted: $(ctlb ls)"
assert_eq node-a "$(ctl --json status | jq -r .fleet.node)" "node-a's name"
assert_eq node-b "$(ctlb --json status | jq -r .fleet.node)" "node-b's name"
case_end

case_begin incident-warns-the-other-node
out=$(ctl alert "$a_front" --severity 2 --reason "lyt fleet canary") || _afail "lymphctl alert: $out"
if wait_for "between \"\$(level_b $b_front)\" 0.9 1.1 && between \"\$(level_b $b_front2)\" 0.9 1.1" 30; then
  ok "node-b's frontend members raised by the share (2 x 0.5)"
else
  _afail "node-b not warned: $(ctlb --json ls | jq -c '[.[] | {name, threat_level}]')"
fi
assert_eq 1 "$(am_count "{\"alertname\":\"LymphoIncident\",\"lympho_node\":\"node-a\",\"container\":\"$a_front\",\"lympho_group\":\"frontend\",\"severity\":\"error\"}")" \
  "Alertmanager holds node-a's incident, labelled"
h=$(ctlb --json history "$b_front" | jq -c '[.[] | select(.kind == "incident")][0]')
assert_match "^fleet warning from node-a: node-a/$a_front" "$(jq -r .reason <<<"$h")" "node-b's history says where from"
for n in "$b_back" "$b_edge"; do
  assert_eq 0 "$(level_b "$n")" "$n: another group, untouched"
done
assert_eq 1 "$(ctlb --json status | jq -r .fleet.warnings_received)" "node-b counted one warning"
case_end

case_begin own-not-counted-twice
# The same webhook comes back to node-a: said, not counted.
wait_for "[ \"\$(ctl --json status | jq -r .fleet.own_ignored)\" -ge 1 ]" 30 || _afail "node-a never heard its own back"
assert_true "$a_front: its own incident once (2)" between "$(level_a "$a_front")" 1.9 2.1
assert_true "$a_front2: the local group warning once (1)" between "$(level_a "$a_front2")" 0.9 1.1
assert_eq 0 "$(ctl --json status | jq -r .fleet.warnings_received)" "node-a took no warning from itself"
case_end

case_begin silence-stops-it
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
sil=$(curl -s -X POST -H 'Content-Type: application/json' "$AM/api/v2/silences" --data \
  "{\"matchers\":[{\"name\":\"lympho_group\",\"value\":\"frontend\",\"isRegex\":false}],\"startsAt\":\"$now\",\"endsAt\":\"$end\",\"createdBy\":\"lyt\",\"comment\":\"test\"}" |
  jq -r .silenceID)
assert_match '^[0-9a-f-]{36}$' "$sil" "silence created"
before=$(level_b "$b_front")
ctl alert "$a_front" --severity 2 --reason "lyt silenced" >/dev/null || _afail "lymphctl alert (silenced)"
ctl alert "$a_back" --severity 2 --reason "lyt witness" >/dev/null || _afail "lymphctl alert (witness)"
wait_for "between \"\$(level_b $b_back)\" 0.9 1.1" 30 || _afail "the witness never reached node-b"
m="{\"lympho_node\":\"node-a\",\"container\":\"$a_front\",\"lympho_group\":\"frontend\"}"
wait_for "[ \"\$(curl -s $AM/api/v2/alerts | jq -r --argjson m '$m' '[.[] | select(.labels | contains(\$m)) | .status.state] | map(select(. == \"suppressed\")) | length')\" -ge 1 ]" 15 ||
  _afail "Alertmanager does not show the frontend incident suppressed"
assert_true "$b_front not raised by the silenced incident ($before -> $(level_b "$b_front"))" \
  between "$(level_b "$b_front")" 0 "$before"
assert_eq 2 "$(ctlb --json status | jq -r .fleet.warnings_received)" "node-b counted the witness alone"
case_end

case_begin other-node-back-without-loop
ctlb alert "$b_edge" --severity 2 --reason "lyt from b" >/dev/null || _afail "lymphctl alert on node-b"
if wait_for "between \"\$(level_a $a_edge)\" 0.9 1.1" 30; then ok "node-a's edge member warned"; else _afail "node-a not warned: $(level_a "$a_edge")"; fi
wait_for "[ \"\$(ctlb --json status | jq -r .fleet.own_ignored)\" -ge 1 ]" 30 || _afail "node-b never heard its own back"
assert_eq 1 "$(ctl --json status | jq -r .fleet.warnings_received)" "node-a: one warning"
# Nothing went on from node-a: the edge group's alerts are node-b's one.
assert_eq 1 "$(am_count '{"lympho_group":"edge"}')" "Alertmanager: the edge group holds node-b's incident alone"
assert_eq 0 "$(am_count '{"lympho_group":"edge","lympho_node":"node-a"}')" "node-a sent nothing on"
assert_true "$b_edge: its own incident once" between "$(level_b "$b_edge")" 1.9 2.1
case_end

case_begin threshold-crossing-for-people
ctl alert "$a_hot" --severity 3 --reason "lyt hot" >/dev/null || _afail "lymphctl alert $a_hot"
m="{\"alertname\":\"LymphoThreshold\",\"lympho_node\":\"node-a\",\"container\":\"$a_hot\"}"
wait_for "[ \"\$(am_count '$m')\" = 1 ]" 30 || _afail "no threshold crossing in Alertmanager"
wait_for "between \"\$(level_b $b_hot)\" 1.4 1.6" 30 || _afail "node-b's hot member: $(level_b "$b_hot") (the incident's 3 x 0.5)"
wait_for "lymphd_idle $a_hot" 60 || _afail "$a_hot not regenerated"
# node-b took the crossing's webhook, as ignored; had it warned, the level
# would be 3.
ignored () { curl -s "http://127.0.0.1:$PB/metrics" | awk -F' ' '/^lympho_http_alerts_total\{source="alertmanager",result="ignored"\}/ {print $2}'; }
wait_for "[ \"\$(ignored)\" -ge 1 ] 2>/dev/null" 30 || _afail "node-b never heard of the crossing: $(ignored)"
assert_true "$b_hot warned by the incident alone" between "$(level_b "$b_hot")" 1.4 1.6
case_end

finish
