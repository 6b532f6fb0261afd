#!/bin/bash
# Programs that should not run: the workload's own process tree starting a
# program outside lympho.exec.allow is regenerated at once and the history
# names the program; allowed programs and programs started through the
# engine (docker exec) are not; without the label the list is learned in
# the learning window (5 s here) of a generation lympho started (never of
# an adopted one), kept per image in the state directory and still in
# force after a lymphd restart.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

x="${LYT_PFX}deny"
y="${LYT_PFX}allow"
e="${LYT_PFX}engine"
l="${LYT_PFX}learn"

case_begin setup
exec_image_up || die "cannot build the exec image"
run_exec "$x" --label lympho.exec.allow=/bin/busybox || die "run $x"
run_exec "$y" --label lympho.exec.allow=/bin/busybox,/tmp/go || die "run $y"
run_exec "$e" --label lympho.exec.allow=/bin/busybox || die "run $e"
inc_start || die "lymphd does not start"
wait_for "in_ls $x && in_ls $y && in_ls $e" 15 || die "not adopted: $(ls_json)"
grep -q "exec detection unavailable" "$LYMPHD_LOG" && die "lymphd has no exec detection: $(grep 'exec detection' "$LYMPHD_LOG")"
assert_eq label "$(ls_field "$x" exec_allow.source)" "ls shows the list's source"
assert_eq '["/bin/busybox","/tmp/go"]' "$(ls_field "$y" exec_allow.programs | jq -c .)" "ls shows the allowed programs"
sleep 2
case_end

case_begin disallowed-regenerates
id0=$(c_id "$x")
t0=$(now_ms)
plant_go "$x" || die "plant /tmp/go"
if wait_gen "$x" 1 20; then ok "regenerated $(($(now_ms) - t0)) ms after the plant"; else _afail "generation of $x is '$(c_gen "$x")' 20 s after /tmp/go appeared"; fi
assert_ne "$id0" "$(c_id "$x")" "engine id changed"
wait_replaced "$x" exec 10
inc=$(last_incident "$x" exec)
say "incident: $(jq -c 'del(.detail.processes)' <<<"$inc")"
assert_match "/tmp/go" "$(jq -r .reason <<<"$inc")" "history names the program"
assert_match "/tmp/go" "$(jq -r .signature <<<"$inc")" "signature names the program"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "action"
assert_ge 0 "$(jq -r '.cut_ms // -1' <<<"$inc")" "network cut recorded"
assert_eq "" "$(dk exec "$x" ls /tmp/go 2>/dev/null)" "the new generation has no /tmp/go"
case_end

case_begin allowed-does-not
id0=$(c_id "$y")
plant_go "$y" || die "plant /tmp/go"
sleep 5
assert_eq "$id0" "$(c_id "$y")" "an allowed /tmp/go runs, nothing happens"
assert_eq 0 "$(incident_count "$y")" "no incident"
case_end

case_begin engine-exec-not-judged
id0=$(c_id "$e")
# busybox names its applet after argv0: /tmp/true is a program of its own
# path. Many times: right after `docker exec` started the shell, its parent
# (runc) is exiting, and the program exits at once, before the detector
# reads it (stop 40's CI: one such run in about 50 was judged).
for i in $(seq 1 25); do
  dk exec "$e" /bin/busybox sh -c 'cp /bin/busybox /tmp/true; /tmp/true; sh -c /tmp/true' ||
    { _afail "docker exec failed"; break; }
  [ "$(incident_count "$e")" = 0 ] || break
done
sleep 3
assert_eq "$id0" "$(c_id "$e")" "a program run through docker exec is not judged (25 runs)"
assert_eq 0 "$(incident_count "$e")" "no incident"
case_end

case_begin learned
run_exec "$l" || die "run $l"
wait_for "lymphd_idle $l" 15 || die "$l not adopted"
say "right after adoption: $(ls_field "$l" exec_allow | jq -c .)"
# Never learned from a container lympho did not start: what runs there
# may be an intruder's already.
assert_eq none "$(ls_field "$l" exec_allow.source)" "nothing is learned from an adopted container"
ctl regen "$l" >/dev/null || die "regen $l"
src=$(ls_field "$l" exec_allow.source)
assert_match "learning|learned" "$src" "list is being learned from the generation lympho started"
# The window is 5 s from the generation's start; the loop runs busybox every second.
if wait_for '[ "$(ls_field "$l" exec_allow.source)" = learned ]' 15; then ok "learning ended"; else _afail "still '$(ls_field "$l" exec_allow.source)' after 15 s"; fi
progs=$(ls_field "$l" exec_allow.programs | jq -c .)
say "learned: $progs"
assert_match '"/bin/busybox"' "$progs" "busybox learned"
assert_true "a learned list in $LYT_STATE/learned/" sh -c 'ls "$1"/learned/* >/dev/null 2>&1' _ "$LYT_STATE"
id0=$(c_id "$l")
plant_go "$l" || die "plant /tmp/go"
if wait_gen "$l" 2 20; then ok "a program not learned regenerates"; else _afail "generation of $l is '$(c_gen "$l")' 20 s after /tmp/go appeared"; fi
wait_replaced "$l" exec 10
assert_match "/tmp/go" "$(last_incident "$l" exec | jq -r .reason)" "history names the program"
case_end

case_begin learned-after-restart
lymphd_stop
inc_start || die "lymphd does not start again"
# idle: synced with the engine, its pid known to the exec detector.
wait_for "lymphd_idle $l" 15 || die "$l not adopted again"
assert_eq learned "$(ls_field "$l" exec_allow.source)" "the list is loaded, not learned again"
assert_match '"/bin/busybox"' "$(ls_field "$l" exec_allow.programs | jq -c .)" "same programs"
plant_go "$l" || die "plant /tmp/go"
if wait_gen "$l" 3 20; then ok "the learned list still holds after the restart"; else _afail "generation of $l is '$(c_gen "$l")' 20 s after /tmp/go appeared"; fi
wait_replaced "$l" exec 10
assert_match "/tmp/go" "$(last_incident "$l" exec | jq -r .reason)" "history names the program"
case_end

lymphd_stop
finish
