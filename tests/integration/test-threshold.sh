#!/bin/bash
# Proportional response: below lympho.threshold an alert only raises the
# threat level (and shortens the effective TTL); at or above it the
# container is regenerated at once. The level decays (half-life 10 min).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

t="${LYT_PFX}t3"
f="${LYT_PFX}t5"
s="${LYT_PFX}sum"

case_begin setup
dk run -d --name "$t" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $t"
dk run -d --name "$f" --network "$LYT_NET" "${INC_QUIET[@]}" --label lympho.threshold=5 "$LYT_IMAGE" >/dev/null || die "run $f"
dk run -d --name "$s" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $s"
inc_start || die "lymphd does not start"
wait_for "in_ls $t && in_ls $f && in_ls $s" 15 || die "not adopted: $(ls_json)"
assert_eq 3 "$(ls_field "$t" threshold)" "default threshold"
assert_eq 5 "$(ls_field "$f" threshold)" "threshold from the label"
assert_eq 0 "$(c_level "$t")" "level starts at 0"
case_end

case_begin below-holds
id0=$(c_id "$t")
next0=$(ls_field "$t" next_regen_in_s)
out=$(post /v1/alerts "$(generic_body "$t" 2 "lyt two")")
assert_eq 202 "${out%% *}" "alert accepted [$out]"
sleep 3
assert_eq "$id0" "$(c_id "$t")" "severity 2 below threshold 3: engine id unchanged"
assert_true "threat level about 2 (saw $(c_level "$t"))" level_between "$t" 1.99 2.0001
inc=$(last_incident "$t" generic)
assert_eq shortened-ttl "$(jq -r .action <<<"$inc")" "action recorded [$inc]"
next1=$(ls_field "$t" next_regen_in_s)
say "next_regen_in_s: $next0 -> $next1"
# TTL 1 h at level 2: 3600 / (1 + 2) = 1200 s (docs/lymphd.8).
assert_true "effective TTL shortened to at most 1200 s (saw $next1, was $next0)" \
  awk -v x="$next1" 'BEGIN { exit !(x != "" && x <= 1200) }'
assert_match "lympho_threat_level\\{container=\"$t\"\\} (1\\.99|2)" "$(curl -s "$INC_URL/metrics" | grep "container=\"$t\"" | grep threat)" "metrics show the level"
case_end

case_begin at-threshold-fires
out=$(post /v1/alerts "$(generic_body "$t" 2 "lyt two more")")
assert_eq 202 "${out%% *}" "alert accepted [$out]"
if wait_gen "$t" 1 20; then ok "level 2 + 2 >= 3 regenerates"; else _afail "generation of $t is '$(c_gen "$t")' 20 s after level 4"; fi
wait_replaced "$t" generic 10
assert_eq regenerate "$(last_incident "$t" generic | jq -r .action)" "action"
# A fresh generation starts clean.
assert_true "level back near 0 after the regeneration (saw $(c_level "$t"))" level_between "$t" 0 0.01
case_end

case_begin label-threshold
id0=$(c_id "$f")
# Reasons of their own: a reason seen at a regeneration before (above) is
# answered at once by immune memory, whatever the threshold.
out=$(ctl alert "$f" --severity 4 --reason "lyt label four" 2>&1)
assert_eq 0 $? "lymphctl alert [$out]"
sleep 3
assert_eq "$id0" "$(c_id "$f")" "severity 4 below threshold 5: engine id unchanged"
out=$(ctl alert "$f" --severity 1 --reason "lyt label one" 2>&1)
assert_eq 0 $? "lymphctl alert [$out]"
if wait_gen "$f" 1 20; then ok "4 + 1 reaches threshold 5 and regenerates"; else _afail "generation of $f is '$(c_gen "$f")' at level $(c_level "$f")"; fi
case_end

case_begin exact-sum
# Three severity-1 alerts within a second at threshold 3. With decay the sum
# is a hair under 3 (each has lost 1 - 2^(-t/10min)); the threshold is
# reached within 0.05 (docs/lymphd.8), so alerts seconds apart add up.
id0=$(c_id "$s")
for i in 1 2 3; do post /v1/alerts "$(generic_body "$s" 1 "lyt sum $i")" >/dev/null; done
if wait_gen "$s" 1 20; then ok "1 + 1 + 1 within a second reaches threshold 3"; else _afail "generation of $s is '$(c_gen "$s")' at level $(c_level "$s") after 1 + 1 + 1"; fi
case_end

lymphd_stop
finish
