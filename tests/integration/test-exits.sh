#!/bin/bash
# Exits: a protected container whose init dies without anyone asking the
# engine to stop it is regenerated; one stopped or killed by an operator
# through the engine is left stopped and `ls` says so.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

k="${LYT_PFX}died"
s="${LYT_PFX}stopped"
x="${LYT_PFX}killed"

case_begin setup
for n in "$k" "$s" "$x"; do
  dk run -d --name "$n" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $n"
done
inc_start || die "lymphd does not start"
wait_for "in_ls $k && in_ls $s && in_ls $x" 15 || die "not adopted: $(ls_json)"
ok adopted
case_end

case_begin died-from-inside-regenerates
id0=$(c_id "$k")
# The init's TERM trap exits 0: a death the engine was never asked for.
dk exec "$k" kill 1
if wait_gen "$k" 1 20; then ok "regenerated"; else _afail "generation of $k is '$(c_gen "$k")', running $(c_running "$k" && echo yes || echo no), 20 s after its init died"; fi
assert_ne "$id0" "$(c_id "$k")" "a new container"
wait_for "c_settled $k && lymphd_idle $k" 20
assert_single "$k"
inc=$(last_incident "$k" exit)
say "incident: $inc"
assert_match "died|exit" "$(jq -r .reason <<<"$inc")" "history says it died"
assert_eq running "$(ls_field "$k" state)" "ls state"
case_end

case_begin operator-stop-left-stopped
id0=$(c_id "$s")
dk stop -t 2 "$s" >/dev/null || die "docker stop"
sleep 5
assert_eq "$id0" "$(c_id "$s")" "same container"
assert_true "not running" eval '! c_running "$s"'
assert_eq "" "$(c_gen "$s")" "not regenerated"
assert_eq stopped "$(ls_field "$s" state)" "ls state"
assert_eq 1 "$(c_family "$s" | grep -c .)" "no other container for $s"
assert_eq 0 "$(incident_count "$s")" "no incident"
case_end

case_begin operator-kill-left-stopped
id0=$(c_id "$x")
dk kill "$x" >/dev/null || die "docker kill"
sleep 5
assert_eq "$id0" "$(c_id "$x")" "same container"
assert_true "not running" eval '! c_running "$x"'
assert_eq "" "$(c_gen "$x")" "not regenerated"
assert_eq stopped "$(ls_field "$x" state)" "ls state"
case_end

lymphd_stop
finish
