#!/bin/bash
# Drift: every lympho.drift.interval the container's changes are read from
# the engine (unless its writable layer is as the last answer found it); a file added or changed outside lympho.drift.allow (and its
# volumes) regenerates it and the history names the path; writes under the
# allowed paths and in a volume do not. $c and $v have no start-up set
# (lympho.drift.learn=0s): every change is judged from the first check.
#
# An application's own start-up writes ($s writes two files when it starts)
# are learned per image from the first generation lympho starts: before that
# drift is reported only (an adopted container never teaches), after it the
# start-up writes are not drift, anything else is, and so is a start-up file
# rewritten after the start-up window. The set outlives a restart of lymphd.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

c="${LYT_PFX}d"
v="${LYT_PFX}v"
s="${LYT_PFX}s"
vol="${LYT_PFX}vol"
# The workload of $s writes these at start, then serves.
startup_cmd='echo "$HOSTNAME" >/www/who; echo 1 >/etc/app.pid; exec /bin/serve'

case_begin setup
dk volume create "$vol" >/dev/null || die "volume create"
dk run -d --name "$c" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s --label lympho.drift.allow=/tmp,/data \
  --label lympho.drift.learn=0s "$LYT_IMAGE" >/dev/null || die "run $c"
# The image has no /vol: the engine makes the mount point in the container's
# writable layer, and the volume's contents are the container's own.
dk run -d --name "$v" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s --label lympho.drift.allow=/tmp \
  --label lympho.drift.learn=0s -v "$vol:/vol" "$LYT_IMAGE" >/dev/null || die "run $v"
dk run -d --name "$s" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s \
  "$LYT_IMAGE" sh -c "$startup_cmd" >/dev/null || die "run $s"
dk exec "$c" true || die "exec into $c"
inc_start || die "lymphd does not start"
wait_for "in_ls $c && in_ls $v && in_ls $s" 15 || die "not adopted: $(ls_json)"
ok adopted
case_end

case_begin volume-is-not-drift
id0=$(c_id "$v")
dk exec "$v" sh -c 'echo v >/vol/ok; mkdir -p /vol/d; echo w >/vol/d/f' || _afail "cannot write into the volume"
sleep 5
assert_eq "$id0" "$(c_id "$v")" "a volume (mount point and contents) is not drift: engine id unchanged"
inc=$(last_incident "$v" drift)
[ -n "$inc" ] && say "incident: $(jq -c '{reason, action}' <<<"$inc")"
assert_eq 0 "$(incident_count "$v" drift)" "no drift incident"
case_end

case_begin allowed-writes
id0=$(c_id "$c")
dk exec "$c" sh -c 'echo a >/tmp/ok; mkdir -p /tmp/d/e; echo b >/tmp/d/e/f; echo c >/data/ok' || die "write"
sleep 5
assert_eq "$id0" "$(c_id "$c")" "writes under /tmp and /data: engine id unchanged"
assert_eq 0 "$(incident_count "$c")" "no incident"
case_end

# A layer that does not change is not walked by the engine at every
# interval: the check finds it as the last answer did (its entries' names,
# inodes and change times) and asks the engine at least every tenth time.
# That needs the engine to name the layer: an overlay's upper directory
# (Docker's overlay2, Podman's overlay). Where it names none (Docker's
# containerd image store), every check asks the engine.
case_begin quiet-layer-not-asked
driver=$(dk inspect -f '{{.GraphDriver.Name}}' "$c")
upper=$(dk inspect -f '{{with .GraphDriver.Data}}{{.UpperDir}}{{end}}' "$c" 2>/dev/null)
say "storage: '$driver', upper directory named: ${upper:+yes}"
a0=$(ls_field "$c" drift.checks_asked)
u0=$(ls_field "$c" drift.checks_unchanged)
if { [ "$driver" = overlay2 ] || [ "$driver" = overlay ]; } && [ -n "$upper" ]; then
  assert_eq true "$(ls_field "$c" drift.layer_known)" "the engine names its writable layer ($driver): lymphd knows it"
  wait_for "[ \"\$(ls_field $c drift.checks_unchanged)\" -ge $((u0 + 12)) ]" 30 ||
    _afail "checks answered by the layer: '$(ls_field "$c" drift.checks_unchanged)' (from $u0) after 30 s at 1 s"
  a1=$(ls_field "$c" drift.checks_asked)
  u1=$(ls_field "$c" drift.checks_unchanged)
  say "asked $a0 -> $a1, answered by the layer $u0 -> $u1"
  # Never more than 9 in a row answered by the layer: 12 of them span one
  # question to the engine at least, two at most.
  assert_ge 1 $((a1 - a0)) "the engine still asked (at least every tenth check)"
  assert_le 2 $((a1 - a0)) "the engine asked at most twice in 12 checks of an unchanged layer"
else
  assert_eq false "$(ls_field "$c" drift.layer_known)" "no writable layer named by the engine: lymphd knows none"
  wait_for "[ \"\$(ls_field $c drift.checks_asked)\" -ge $((a0 + 5)) ]" 20 ||
    _afail "checks asked: '$(ls_field "$c" drift.checks_asked)' (from $a0) after 20 s at 1 s"
  assert_eq "$u0" "$(ls_field "$c" drift.checks_unchanged)" "every check asked the engine"
fi
case_end

# A layer lymphd cannot read whole (a directory of another user, mode 0700:
# lymphd keeps no CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH) has no digest: the
# engine is asked at every check, as before there was one.
case_begin unreadable-layer-asked
dk exec "$c" sh -c 'mkdir /tmp/priv && echo x >/tmp/priv/f && chown -R 1000:1000 /tmp/priv && chmod 700 /tmp/priv' ||
  die "cannot make /tmp/priv"
# The first check after the write asks the engine (the layer changed); from
# the next one on, none is answered by the layer.
a0=$(ls_field "$c" drift.checks_asked)
wait_for "[ \"\$(ls_field $c drift.checks_asked)\" -ge $((a0 + 1)) ]" 10 || _afail "no check asked after the write"
a0=$(ls_field "$c" drift.checks_asked)
u0=$(ls_field "$c" drift.checks_unchanged)
wait_for "[ \"\$(ls_field $c drift.checks_asked)\" -ge $((a0 + 5)) ]" 20 ||
  _afail "checks asked: '$(ls_field "$c" drift.checks_asked)' (from $a0) after 20 s at 1 s"
say "asked $a0 -> $(ls_field "$c" drift.checks_asked), answered by the layer $u0 -> $(ls_field "$c" drift.checks_unchanged)"
assert_eq "$u0" "$(ls_field "$c" drift.checks_unchanged)" "no check answered by a layer lymphd cannot read"
assert_eq 0 "$(incident_count "$c")" "no incident: /tmp is allowed"
dk exec "$c" rm -rf /tmp/priv || die "cannot remove /tmp/priv"
case_end

case_begin drift-regenerates
id0=$(c_id "$c")
t0=$(now_ms)
dk exec "$c" sh -c 'echo evil >/etc/lyt-evil' || die "write /etc/lyt-evil"
if wait_gen "$c" 1 20; then ok "regenerated $(($(now_ms) - t0)) ms after the write"; else _afail "generation of $c is '$(c_gen "$c")' 20 s after /etc/lyt-evil"; fi
assert_ne "$id0" "$(c_id "$c")" "engine id changed"
wait_replaced "$c" drift 10
inc=$(last_incident "$c" drift)
say "incident: $(jq -c 'del(.detail.processes)' <<<"$inc")"
assert_match "/etc/lyt-evil" "$(jq -r .reason <<<"$inc")" "history names the path"
assert_true "the reason does not name allowed paths" sh -c '! printf "%s" "$1" | grep -q "/tmp/ok\|/data/ok"' _ "$(jq -r .reason <<<"$inc")"
assert_eq "" "$(dk exec "$c" cat /etc/lyt-evil 2>/dev/null)" "the new generation is clean"
case_end

case_begin deletion-regenerates
id0=$(c_id "$c")
dk exec "$c" rm -f /www/index.html || die "rm"
if wait_gen "$c" 2 20; then ok "a deleted file regenerates"; else _afail "generation of $c is '$(c_gen "$c")' 20 s after deleting /www/index.html"; fi
wait_replaced "$c" drift 10
assert_match "/www/index.html" "$(last_incident "$c" drift | jq -r .reason)" "history names the deleted path"
case_end

kinds () { history_json "$1" | jq --arg k "$2" '[.[] | select(.kind == $k)]'; }

case_begin adopted-reports-only
# $s was started by hand, not by lympho: its writes are reported, not acted on.
wait_for "[ \"\$(kinds $s detect | jq length)\" -ge 1 ]" 20 || _afail "no drift report for $s: $(history_json "$s")"
det=$(kinds "$s" detect | jq -c '.[-1]')
say "report: $(jq -c '{reason, action}' <<<"$det")"
assert_match "detect only" "$(jq -r .reason <<<"$det")" "reported as detect only"
assert_match "/www/who" "$(jq -r .reason <<<"$det")" "naming its start-up writes"
assert_eq 0 "$(incident_count "$s")" "no incident"
assert_eq 0 "$(ls_field "$s" generation)" "still generation 0"
assert_eq detect "$(ls_field "$s" drift.mode)" "ls: drift mode detect"
assert_eq not-learned "$(ls_field "$s" drift.startup_source)" "ls: no start-up set"
assert_eq 0 "$(kinds "$s" learn | jq length)" "an adopted container teaches nothing"
case_end

case_begin fresh-generation-teaches
ctl regen "$s" >/dev/null || _afail "regen $s"
wait_for "[ \"\$(kinds $s learn | jq length)\" -ge 1 ]" 20 || _afail "nothing learned from generation 1: $(history_json "$s")"
learn=$(kinds "$s" learn | jq -c '.[0]')
say "learned: $(jq -c '{generation, reason}' <<<"$learn")"
assert_eq 1 "$(jq .generation <<<"$learn")" "from generation 1"
assert_eq "C /etc,A /etc/app.pid,C /www,A /www/who" "$(jq -r '.detail.changes | map(.kind + " " + .path) | join(",")' <<<"$learn")" \
  "the start-up set is what the workload wrote at start"
assert_eq enforce "$(ls_field "$s" drift.mode)" "ls: drift enforced"
assert_eq learned "$(ls_field "$s" drift.startup_source)" "ls: learned"
assert_true "kept in the state directory" sh -c 'ls "$1"/learned/*.drift.json' _ "$LYT_STATE"
# A second fresh generation writes the same at start: judged, and not drift.
ctl regen "$s" >/dev/null || _afail "regen $s again"
wait_for "[ \"\$(ls_field $s drift.startup_window_over)\" = true ] && lymphd_idle $s" 20 ||
  _afail "generation 2's start-up window did not close: $(ls_json)"
assert_eq 2 "$(c_gen "$s")" "generation 2 runs"
assert_eq 0 "$(incident_count "$s")" "its start-up writes are no incident"
case_end

case_begin outside-the-startup-set
gen=$(c_gen "$s")
dk exec "$s" sh -c 'echo evil >/etc/lyt-evil' || die "write /etc/lyt-evil"
wait_gen "$s" $((gen + 1)) 20 || _afail "not regenerated 20 s after /etc/lyt-evil"
wait_replaced "$s" drift 10
reason=$(last_incident "$s" drift | jq -r .reason)
say "incident: $reason"
assert_match "A /etc/lyt-evil" "$reason" "the planted file is drift"
assert_true "the start-up writes are not named" sh -c '! printf "%s" "$1" | grep -q "/www/who\|/etc/app.pid"' _ "$reason"
case_end

case_begin startup-file-rewritten
wait_for "[ \"\$(ls_field $s drift.startup_window_over)\" = true ] && lymphd_idle $s" 20 ||
  _afail "the start-up window did not close: $(ls_json)"
gen=$(c_gen "$s")
n0=$(incident_count "$s")
dk exec "$s" sh -c 'echo 2 >/etc/app.pid' || die "rewrite /etc/app.pid"
wait_gen "$s" $((gen + 1)) 20 || _afail "not regenerated 20 s after rewriting /etc/app.pid"
wait_replaced "$s" drift 10
assert_eq $((n0 + 1)) "$(incident_count "$s")" "one more incident"
reason=$(last_incident "$s" drift | jq -r .reason)
say "incident: $reason"
assert_match "/etc/app.pid \(after start-up\)" "$reason" "a start-up file changed after the window is drift"
case_end

case_begin learned-set-survives-restart
lymphd_stop
inc_start || die "lymphd does not start again"
wait_for "in_ls $s" 15 || die "$s not adopted again"
assert_eq enforce "$(ls_field "$s" drift.mode)" "drift enforced at once after a restart"
assert_eq 1 "$(ls_field "$s" drift.startup.from_generation)" "the set learned from generation 1"
case_end

# The start-up set's file damaged while lymphd was stopped (a torn write,
# a full disk): lymphd starts, moves it aside (kept for the operator, and
# out of the way of what is learned again) and learns the set again from
# the next generation it starts. Before: it was left in place, then
# overwritten by the new set, and the damaged one was lost.
case_begin damaged-set-moved-aside
lymphd_stop
set_file=$(ls "$LYT_STATE"/learned/*.drift.json 2>/dev/null | head -n 1)
[ -n "$set_file" ] || die "no start-up set on disk"
printf '{"sets": [' >"$set_file"
inc_start || die "lymphd does not start with a damaged start-up set"
wait_for "in_ls $s" 15 || die "$s not adopted again"
wait_for "[ -e '$set_file.bad' ]" 15 || _afail "the damaged set was not moved aside: $(ls "$LYT_STATE/learned")"
assert_ge 1 "$(grep -c 'moved to .*drift.json.bad; learning it again' "$LYMPHD_LOG")" "the log says where it went"
assert_eq not-learned "$(ls_field "$s" drift.startup_source)" "not trusted in part: no start-up set"
gen=$(c_gen "$s")
ctl regen "$s" >/dev/null || _afail "regen $s"
wait_for "[ -e '$set_file' ] && [ \"\$(ls_field $s drift.startup_source)\" = learned ]" 20 ||
  _afail "not learned again from generation $((gen + 1)): $(ls_field "$s" drift.startup_source)"
assert_eq $((gen + 1)) "$(ls_field "$s" drift.startup.from_generation)" "learned again from the generation lympho started"
assert_true "the damaged one is still kept" test -e "$set_file.bad"
case_end

# A change list past the cap on an engine answer (64 MiB): the drift check
# cannot run, and that is an incident at once, not a warning. The engine is
# the faulty one of the conformance suite, answering that for one container.
case_begin oversized-change-list-is-an-incident
lymphd_stop
big="${LYT_PFX}huge"
dk run -d --name "$big" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s --label lympho.drift.learn=0s \
  "$LYT_IMAGE" >/dev/null || die "run $big"
fsock="$LYT_TMP/faulty.sock"
ffile="$LYT_TMP/fault"
: >"$ffile"
faulty_engine_up "$fsock" || die "the faulty engine does not listen"
inc_start --docker-host "unix://$fsock" || die "lymphd does not start through the faulty engine"
wait_for "lymphd_idle $big" 15 || die "$big not adopted"
id0=$(c_id "$big")
echo "changes-huge:$id0" >"$ffile"
if wait_gen "$big" 1 30; then ok "regenerated"; else _afail "generation of $big is '$(c_gen "$big")'"; fi
wait_replaced "$big" drift 10
reason=$(last_incident "$big" drift | jq -r .reason)
say "incident: $reason"
assert_match "^drift check could not run: .*larger than" "$reason" "an oversized change list is an incident"
assert_ne "$id0" "$(c_id "$big")" "a new generation runs"
: >"$ffile"
case_end

lymphd_stop
finish
