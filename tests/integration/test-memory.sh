#!/bin/bash
# Immune memory: a signature (source + rule + program) that once caused a
# regeneration answers at its first sighting afterwards, severity 1 being
# enough, for the container and for its group, after a restart of lymphd;
# a signature never seen still only adds to the level.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

m="${LYT_PFX}m"
p="${LYT_PFX}peer"
grp="${LYT_PFX}grp"
rule="lyt crypto miner"

case_begin setup
dk run -d --name "$m" --network "$LYT_NET" "${INC_QUIET[@]}" --label lympho.group="$grp" "$LYT_IMAGE" >/dev/null || die "run $m"
dk run -d --name "$p" --network "$LYT_NET" "${INC_QUIET[@]}" --label lympho.group="$grp" --label lympho.threshold=10 "$LYT_IMAGE" >/dev/null || die "run $p"
inc_start || die "lymphd does not start"
wait_for "in_ls $m && in_ls $p" 15 || die "not adopted: $(ls_json)"
ok adopted
case_end

case_begin learn-signature
out=$(post /v1/alerts/falco "$(falco_body "$m" Critical "$rule" /tmp/xmrig)")
assert_eq 202 "${out%% *}" "critical event accepted [$out]"
if wait_gen "$m" 1 20; then ok "regenerated"; else _afail "generation of $m is '$(c_gen "$m")'"; fi
wait_replaced "$m" falco 10
inc=$(last_incident "$m" falco)
sig=$(jq -r .signature <<<"$inc")
say "signature: $sig"
assert_match "$rule" "$sig" "signature names the rule"
assert_match "/tmp/xmrig" "$sig" "signature names the program"
case_end

case_begin restart
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0"
inc_start || die "lymphd does not start again"
# idle, not only listed: the entries are listed from the state directory
# before lymphd has synced with the engine.
wait_for "lymphd_idle $m && lymphd_idle $p" 15 || die "not adopted again: $(ls_json)"
assert_eq 1 "$(ls_field "$m" generation)" "generation survives"
case_end

case_begin unknown-signature-accumulates
id0=$(c_id "$m")
out=$(post /v1/alerts/falco "$(falco_body "$m" Warning "lyt other rule" /tmp/xmrig)")
assert_eq 202 "${out%% *}" "warning accepted [$out]"
sleep 3
assert_eq "$id0" "$(c_id "$m")" "a new signature at severity 1 does not regenerate"
assert_eq shortened-ttl "$(last_incident "$m" falco | jq -r .action)" "its action"
case_end

case_begin known-signature-at-once
id0=$(c_id "$m")
t0=$(now_ms)
out=$(post /v1/alerts/falco "$(falco_body "$m" Warning "$rule" /tmp/xmrig)")
assert_eq 202 "${out%% *}" "warning accepted [$out]"
if wait_gen "$m" 2 20; then ok "regenerated at severity 1 after $(($(now_ms) - t0)) ms"; else _afail "generation of $m is '$(c_gen "$m")' after a known signature at severity 1"; fi
assert_ne "$id0" "$(c_id "$m")" "engine id changed"
wait_replaced "$m" falco 10
inc=$(last_incident "$m" falco)
say "incident: $(jq -c 'del(.detail)' <<<"$inc")"
assert_eq memory "$(jq -r .action <<<"$inc")" "action"
assert_eq 1 "$(jq -r .severity <<<"$inc")" "severity 1 was enough"
case_end

case_begin known-signature-in-group
id0=$(c_id "$p")
out=$(post /v1/alerts/falco "$(falco_body "$p" Warning "$rule" /tmp/xmrig)")
assert_eq 202 "${out%% *}" "warning accepted [$out]"
if wait_gen "$p" 1 20; then ok "group peer regenerated at its first sighting"; else _afail "generation of $p is '$(c_gen "$p")' (level $(c_level "$p"), threshold 10)"; fi
wait_replaced "$p" falco 10
assert_eq memory "$(last_incident "$p" falco | jq -r .action)" "action"
case_end

lymphd_stop
finish
