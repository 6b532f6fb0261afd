#!/bin/bash
# Falco (http_output) and falcosidekick payloads: a critical event names its
# container by name or by 12-hex id and regenerates it; a Notice (0) and a
# host event change nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

n1="${LYT_PFX}byname"
n2="${LYT_PFX}byid"
n3="${LYT_PFX}sidekick"
n4="${LYT_PFX}quiet"

case_begin setup
for n in "$n1" "$n2" "$n3" "$n4"; do
  dk run -d --name "$n" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $n"
done
inc_start || die "lymphd does not start"
wait_for "in_ls $n1 && in_ls $n2 && in_ls $n3 && in_ls $n4" 15 || die "not adopted: $(ls_json)"
ok adopted
case_end

# expect_regen NAME BODY WHAT
expect_regen ()
{
  local n=$1 body=$2 what=$3 id0 out inc
  id0=$(c_id "$n")
  out=$(post /v1/alerts/falco "$body")
  say "POST ($what): $out"
  assert_eq '202 {"accepted":1,"ignored":0}' "$out" "$what: answer"
  if wait_gen "$n" 1 20; then ok "$what: generation 1 runs"; else _afail "$what: generation of $n is '$(c_gen "$n")' 20 s after the event"; fi
  assert_ne "$id0" "$(c_id "$n")" "$what: engine id changed"
  wait_replaced "$n" falco 10
  inc=$(last_incident "$n" falco)
  say "incident: $inc"
  assert_eq 3 "$(jq -r .severity <<<"$inc")" "$what: severity"
  assert_eq regenerate "$(jq -r .action <<<"$inc")" "$what: action"
}

case_begin by-name
expect_regen "$n1" "$(falco_body "$n1" Critical "Terminal shell in container")" "container.name"
assert_match "Terminal shell in container" "$(last_incident "$n1" falco | jq -r .signature)" "signature names the rule"
case_end

case_begin by-id
body=$(falco_body "$n2" Emergency "lyt by id" | jq -c 'del(.output_fields["container.name"])')
expect_regen "$n2" "$body" "container.id only"
case_end

case_begin sidekick
body=$(jq -c --arg c "$n3" '.output_fields["container.name"] = $c' "$INC_DATA/falco-sidekick-critical.json")
expect_regen "$n3" "$body" "falcosidekick payload"
assert_match "/tmp/xmrig|xmrig" "$(last_incident "$n3" falco | jq -r .signature)" "signature names the program"
case_end

case_begin notice-and-host-change-nothing
id0=$(c_id "$n4")
out=$(post /v1/alerts/falco "$(falco_body "$n4" Notice "lyt notice")")
say "Notice: $out"
assert_eq 202 "${out%% *}" "Notice accepted"
out=$(post /v1/alerts/falco "@$INC_DATA/falco-host.json")
say "host event: $out"
assert_eq '202 {"accepted":0,"ignored":1}' "$out" "host event ignored"
sleep 3
assert_eq "$id0" "$(c_id "$n4")" "engine id unchanged"
assert_eq 0 "$(c_level "$n4")" "threat level stays 0"
case_end

lymphd_stop
finish
