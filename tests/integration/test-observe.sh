#!/bin/bash
# Observe mode (issue 14): lympho.mode=observe on a container, `mode =
# observe` for the daemon. Everything is detected, judged, scheduled and
# recorded as in enforce, and history says what would have been done; but
# the container is never touched: not regenerated on its TTL, not cut off,
# paused or committed on an alert, and a program outside its list runs
# (judged, reported, not denied). An operator's own lymphctl regen still
# acts. The daemon's mode changes on SIGHUP, without a restart, for the
# containers that have no lympho.mode of their own. Last, the Grafana
# dashboard in contrib/ is checked against the metrics this lymphd serves.
here=$(cd "$(dirname "$0")" && pwd)
export LYMPHO_EXEC_JUDGE=fanotify
. "$here/lib-incident.sh"
inc_init

ob="${LYT_PFX}observed"
pl="${LYT_PFX}plain"
mode_of () { ls_field "$1" mode; }
exec_field () { ctl --json status 2>/dev/null | jq -r --arg n "$1" ".exec[] | select(.name == \$n) | .$2"; }
# observed_entries NAME KIND: how many history entries of KIND say "observed".
observed_entries () { history_json "$1" | jq --arg k "$2" '[.[] | select(.kind == $k and .result == "observed")] | length'; }
observed_metric () { curl -s --max-time 5 "$INC_URL/metrics" | awk -v n="$1" -v a="$2" \
  'index($0, "lympho_observed_total{") == 1 && index($0, "container=\"" n "\"") && index($0, "action=\"" a "\"") { s += $NF } END { print s + 0 }'; }
# What would show a cut or a pause: eth0's state inside, and the engine's.
eth0_up () { [ "$(dk exec "$1" cat /sys/class/net/eth0/operstate 2>/dev/null)" = up ]; }
c_paused () { [ "$("$DOCKER" inspect -f '{{.State.Paused}}' "$1" 2>/dev/null)" = true ]; }

case_begin setup
# The init loop runs /tmp/go once when it appears, then removes it: a
# program outside the list that runs once, where it is not denied.
exec_image_up '[ -x /tmp/go ] && { /tmp/go; rm -f /tmp/go; }' || die "cannot build the exec image"
dk run -d --name "$ob" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=5s --label lympho.jitter=0 \
  --label lympho.drift.allow=/ --label lympho.exec.allow=/bin/busybox,/bin/init --label lympho.mode=observe \
  "$INC_EXEC_IMAGE" >/dev/null || die "run $ob"
dk run -d --name "$pl" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $pl"
inc_start || die "lymphd does not start"
wait_for "lymphd_idle $ob && lymphd_idle $pl" 20 || die "not adopted: $(ls_json)"
id0=$(c_id "$ob")
case_end

case_begin ls-shows-the-mode
assert_eq observe "$(mode_of "$ob")" "lympho.mode=observe: ls says observe"
assert_eq enforce "$(mode_of "$pl")" "no label, the daemon's default: enforce"
assert_match " observe " "$(ctl ls | grep "^$ob ")" "the text table has it too"
case_end

case_begin ttl-would-regenerate
# Its TTL (5 s) comes twice: each time recorded, nothing replaced, the
# next one planned.
if wait_for "[ \"\$(observed_entries $ob regen)\" -ge 2 ]" 20; then ok "two TTLs recorded as observed"
else _afail "observed regen entries: $(observed_entries "$ob" regen)"; fi
h=$(history_json "$ob" | jq -c '[.[] | select(.kind == "regen")][0]')
say "history: $h"
assert_match "^would have regenerated: ttl" "$(jq -r .reason <<<"$h")" "history says what would have been done"
assert_eq "$id0" "$(c_id "$ob")" "the same container"
assert_eq "" "$(c_gen "$ob")" "no generation label: never regenerated"
assert_true "it runs" c_running "$ob"
assert_ge 2 "$(observed_metric "$ob" regenerate)" "counted in /metrics (lympho_observed_total)"
assert_true "the next TTL is planned" test -n "$(ls_field "$ob" next_regen_in_s | grep -v null)"
case_end

case_begin alert-would-cut-and-replace
r=$(ctl alert "$ob" --severity 10 --reason observe-me)
say "alert: $r"
assert_match "action observed$" "$r" "the alert is taken; its action: observed"
wait_for "[ \"\$(incident_count $ob)\" -ge 1 ]" 10 || _afail "no incident recorded"
inc=$(last_incident "$ob")
say "incident: $inc"
assert_eq observed "$(jq -r .result <<<"$inc")" "result observed"
assert_match "^would have cut its network, kept forensics, regenerated: alert: cli: observe-me" \
  "$(jq -r .reason <<<"$inc")" "it says what would have been done"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "and which action"
assert_eq "$id0" "$(c_id "$ob")" "the same container"
assert_true "its network is not cut (eth0 up inside)" eth0_up "$ob"
assert_true "not paused" sh -c '! "$1" inspect -f "{{.State.Paused}}" "$2" | grep -q true' _ "$DOCKER" "$ob"
assert_eq "" "$("$DOCKER" images -q "lympho-forensics/$ob" 2>/dev/null)" "no forensic image"
level=$(c_level "$ob")
assert_true "the threat level is counted ($level)" awk -v x="$level" 'BEGIN { exit !(x >= 9) }'
case_end

case_begin program-would-be-denied
assert_eq detect "$(exec_field "$ob" mode)" "the exec guard judges in detect mode"
assert_match "would be denied" "$(exec_field "$ob" note)" "and says that deny is what enforce would do"
n0=$(incident_count "$ob" exec)
# A script of its own (the guard judges the file run: the script itself).
dk exec "$ob" sh -c 'printf "#!/bin/sh\ntouch /tmp/went\n" >/tmp/g.x; chmod 755 /tmp/g.x; mv /tmp/g.x /tmp/go' ||
  die "plant /tmp/go"
if wait_for "dk exec $ob test -e /tmp/went" 15; then ok "the program ran"; else _afail "/tmp/go never ran"; fi
wait_for "[ \"\$(incident_count $ob exec)\" -gt $n0 ]" 10 || _afail "no exec incident"
inc=$(last_incident "$ob" exec)
say "incident: $(jq -c '{result, action, reason}' <<<"$inc")"
assert_eq observed "$(jq -r .result <<<"$inc")" "result observed"
assert_match "would have denied program /tmp/go" "$(jq -r .reason <<<"$inc")" "it would have been denied"
assert_eq "$id0" "$(c_id "$ob")" "the same container"
case_end

case_begin operator-regen-acts
new=$(ctl regen "$ob") || _afail "lymphctl regen $ob"
assert_ne "$id0" "$(c_id "$ob")" "an operator's regen replaces it"
assert_eq 1 "$(c_gen "$ob")" "generation 1"
assert_match "^${new:0:12}" "$(c_id "$ob")" "the id regen printed"
assert_eq observe "$(mode_of "$ob")" "and it stays observed"
case_end

case_begin daemon-mode-on-reload
idp=$(c_id "$pl")
echo "mode = observe" >"$LYT_CONFIG"
kill -HUP "$LYMPHD_PID"
if wait_for "[ \"\$(mode_of $pl)\" = observe ]" 10; then ok "mode = observe and SIGHUP: $pl observed"; else _afail "mode of $pl: $(mode_of "$pl")"; fi
r=$(ctl alert "$pl" --severity 10 --reason while-observed)
assert_match "action observed$" "$r" "an alert on it is observed ($r)"
assert_eq "$idp" "$(c_id "$pl")" "not replaced"
echo "mode = enforce" >"$LYT_CONFIG"
kill -HUP "$LYMPHD_PID"
if wait_for "[ \"\$(mode_of $pl)\" = enforce ]" 10; then ok "mode = enforce and SIGHUP: enforced again, no restart"; else _afail "mode of $pl: $(mode_of "$pl")"; fi
assert_eq observe "$(mode_of "$ob")" "a container's own lympho.mode wins over the daemon's"
r=$(ctl alert "$pl" --severity 10 --reason now-enforced)
say "alert: $r"
if wait_gen "$pl" 1 30; then ok "the next alert regenerates it"; else _afail "generation of $pl: '$(c_gen "$pl")'"; fi
wait_for "lymphd_idle $pl" 20 || _afail "$pl not settled"
assert_single "$pl"
case_end

# contrib/grafana/lympho-dashboard.json asks for what /metrics really
# serves: every metric name in its queries is a series of this lymphd,
# which by now has regenerated, cut and replaced, and observed.
case_begin dashboard-metrics-served
dash="$LYT_SRCDIR/contrib/grafana/lympho-dashboard.json"
assert_true "the dashboard is JSON with panels" jq -e '.panels | length > 0' "$dash"
assert_eq 0 "$(jq '[.panels[] | select((.title // "") == "" or (.targets | length) == 0)] | length' "$dash")" \
  "every panel has a title and a query"
m=$(curl -s --max-time 5 "$INC_URL/metrics")
names=$(jq -r '.panels[].targets[].expr' "$dash" | grep -o 'lympho_[a-z_]*' | sort -u)
say "asked: $(echo $names)"
assert_ge 8 "$(wc -w <<<"$names")" "the dashboard asks for lymphd's metrics"
for n in $names; do
  assert_true "/metrics serves $n" grep -qE "^$n(\{| )" <<<"$m"
done
case_end

finish
