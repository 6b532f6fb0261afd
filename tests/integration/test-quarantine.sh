#!/bin/bash
# Quarantine before replacement: right after the alert POST returns, the
# infected container's address no longer answers from the host while the
# old generation still holds the name; cut_ms < replaced_ms; the forensic
# image exists, is labelled, holds the file an intruder planted, and only
# the newest --forensics-keep images are kept, regenerations between
# incidents or not. A container without a veth
# (network none) is paused instead and the incident says so, and one with a
# second interface the cut cannot reach, or that shares another container's
# network namespace, is paused as well.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

q="${LYT_PFX}q"
n="${LYT_PFX}nonet"
fimg () { echo "lympho-forensics/$q:gen-$1"; }
img_exists () { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

case_begin setup
dk run -d --name "$q" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $q"
dk run -d --name "$n" --network none "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $n"
# Every incident here takes its image: no backoff (its own case is last).
inc_start --forensics-keep 2 --forensics-backoff 0s || die "lymphd does not start"
wait_for "in_ls $q && in_ls $n" 15 || die "not adopted: $(ls_json)"
ip=$(c_ip "$q" "$LYT_NET")
say "$q at $ip"
[ -n "$ip" ] || die "no address for $q on $LYT_NET"
if wait_for "[ \"\$(curl -s --max-time 1 http://$ip/)\" = lyt-ok ]" 10; then ok "$q answers at $ip from the host"; else die "$q does not answer at $ip"; fi
case_end

case_begin network-cut-before-replacement
dk exec "$q" sh -c 'echo lyt-intruder-was-here >/planted; mkdir -p /www/x; echo evil >/www/x/shell' || die "plant"
id0=$(c_id "$q")
out=$(post /v1/alerts "$(generic_body "$q" 3 "lyt intruder")")
t_post=$(now_ms)
# The old generation still holds the name when the probe starts, and the
# probe (0.5 s) ends well before a replacement would be running.
id_at_probe=$(c_id "$q")
gen_at_probe=$(c_gen "$q")
probe=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 "http://$ip/")
t_probe=$(now_ms)
say "POST: $out; probe of $ip after $((t_probe - t_post)) ms: '$probe'; name held by ${id_at_probe:0:12} gen '$gen_at_probe'"
assert_eq 202 "${out%% *}" "alert accepted"
assert_ne 200 "$probe" "old address no longer answers right after the POST returned"
assert_eq "$id0" "$id_at_probe" "the infected generation still held the name when the probe started"
if wait_gen "$q" 1 20; then ok "generation 1 runs"; else _afail "generation of $q is '$(c_gen "$q")'"; fi
wait_replaced "$q" generic 10
inc=$(last_incident "$q" generic)
say "incident: $(jq -c 'del(.detail.processes)' <<<"$inc")"
cut=$(jq -r '.cut_ms // -1' <<<"$inc")
rep=$(jq -r '.replaced_ms // -1' <<<"$inc")
assert_ge 0 "$cut" "cut_ms recorded"
assert_true "cut_ms ($cut) < replaced_ms ($rep)" [ "$cut" -ge 0 -a "$cut" -lt "$rep" ]
assert_match "network cut|veth" "$(jq -r '.detail.quarantine // ""' <<<"$inc")" "detail says how it was cut"
assert_true "the old container is gone" sh -c '! "$1" inspect "$2" >/dev/null 2>&1' _ "$DOCKER" "$id0"
ip1=$(c_ip "$q" "$LYT_NET")
if wait_for "[ \"\$(curl -s --max-time 1 http://$ip1/)\" = lyt-ok ]" 10; then ok "the new generation answers at $ip1"; else _afail "the new generation does not answer at $ip1"; fi
case_end

case_begin forensic-image
img=$(fimg 0)
assert_eq "$img" "$(jq -r .forensic_image <<<"$inc")" "incident names the image"
assert_true "image $img exists" img_exists "$img"
assert_eq lyt-intruder-was-here "$(dk run --rm --network none "$img" cat /planted 2>&1)" "the planted file is in the image"
assert_eq evil "$(dk run --rm --network none "$img" cat /www/x/shell 2>&1)" "the planted web shell is in the image"
labels=$("$DOCKER" image inspect -f '{{json .Config.Labels}}' "$img")
say "labels: $labels"
assert_match "lyt intruder" "$(jq -r '."lympho.forensics.reason" // ""' <<<"$labels")" "image labelled with the reason"
assert_match '^[0-9]{13}$' "$(jq -r '."lympho.forensics.time_ms" // ""' <<<"$labels")" "image labelled with the time"
assert_eq true "$(jq '[.detail.changes[]? | select(.path == "/planted")] | length == 1' <<<"$inc")" "change list names /planted"
assert_match "httpd" "$(jq -c '.detail.processes // []' <<<"$inc")" "process list kept"
assert_eq "" "$(dk exec "$q" cat /planted 2>/dev/null)" "the new generation has no /planted"
case_end

case_begin forensics-retention
# Two more incidents (immune memory answers "generic" at once now): with
# --forensics-keep 2 the image of generation 0 goes.
for g in 1 2; do
  post /v1/alerts "$(generic_body "$q" 1 "lyt again $g")" >/dev/null
  wait_gen "$q" $((g + 1)) 20 || _afail "generation $((g + 1)) of $q does not come (saw '$(c_gen "$q")')"
  wait_replaced "$q" generic 10
  assert_eq "$(fimg "$g")" "$(last_incident "$q" generic | jq -r .forensic_image)" "incident $g image"
done
sleep 1
assert_true "$(fimg 1) kept" img_exists "$(fimg 1)"
assert_true "$(fimg 2) kept" img_exists "$(fimg 2)"
assert_true "$(fimg 0) removed" eval '! img_exists "$(fimg 0)"' 
case_end

case_begin forensics-retention-across-regenerations
# Regenerations without an incident leave gaps between the generations
# that have images (3 and 4 here): the newest two images stay, whatever
# their numbers, and the older one goes.
for g in 4 5; do
  ctl regen "$q" >/dev/null || _afail "regen $q"
  wait_gen "$q" "$g" 20 || _afail "generation $g of $q does not come (saw '$(c_gen "$q")')"
done
wait_for "lymphd_idle $q" 15 || _afail "$q not idle"
post /v1/alerts "$(generic_body "$q" 1 "lyt after a gap")" >/dev/null
wait_gen "$q" 6 20 || _afail "generation 6 of $q does not come (saw '$(c_gen "$q")')"
wait_replaced "$q" generic 10
assert_eq "$(fimg 5)" "$(last_incident "$q" generic | jq -r .forensic_image)" "incident image of generation 5"
if wait_for '! img_exists "$(fimg 1)"' 10; then ok "$(fimg 1) removed"; else _afail "$(fimg 1) still there: $("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep "$q" | tr '\n' ' ')"; fi
assert_true "$(fimg 5) kept" img_exists "$(fimg 5)"
assert_true "$(fimg 2) kept" img_exists "$(fimg 2)"
case_end

# A second interface the veth cut cannot reach (macvlan, on the host's
# default-route interface): the container is paused as well, never left
# half cut.
parent=$(ip route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
if [ -n "$parent" ] && ip link add "${LYT_PFX:0:8}mv" link "$parent" type macvlan mode bridge 2>/dev/null; then
  ip link del "${LYT_PFX:0:8}mv"
  case_begin second-interface-paused
  mv="${LYT_PFX}macvlan"
  mm="${LYT_PFX}multi"
  dk network create -d macvlan -o parent="$parent" --subnet 10.250.99.0/24 "$mv" >/dev/null || die "macvlan network"
  dk run -d --name "$mm" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $mm"
  dk network connect "$mv" "$mm" || die "connect $mm to $mv"
  wait_for "lymphd_idle $mm" 15 || die "$mm not adopted"
  out=$(post /v1/alerts "$(generic_body "$mm" 3 "lyt two interfaces")")
  assert_eq 202 "${out%% *}" "alert accepted"
  wait_gen "$mm" 1 20 || _afail "generation 1 of $mm does not come (saw '$(c_gen "$mm")')"
  wait_replaced "$mm" generic 10
  q_detail=$(last_incident "$mm" generic | jq -r '.detail.quarantine // ""')
  say "quarantine: $q_detail"
  assert_match "set down; .* cannot be cut .*paused as well" "$q_detail" "the veth cut and the container paused as well"
  case_end
else
  echo "SKIP: $LYT_TEST/second-interface-paused: no macvlan on the default-route interface here"
fi

# A container in another's network namespace (--network container:X):
# cutting its veth would cut X, which is not infected. It is paused instead,
# and X keeps answering.
case_begin shared-netns-not-cut
hx="${LYT_PFX}netowner"
sh_="${LYT_PFX}netguest"
dk run -d --name "$hx" --network "$LYT_NET" "$LYT_IMAGE" >/dev/null || die "run $hx"
dk run -d --name "$sh_" --network "container:$hx" "${INC_QUIET[@]}" "$LYT_IMAGE" sleep 3600 >/dev/null || die "run $sh_"
hip=$(c_ip "$hx" "$LYT_NET")
wait_for "lymphd_idle $sh_" 15 || die "$sh_ not adopted"
wait_for "[ \"\$(curl -s --max-time 1 http://$hip/)\" = lyt-ok ]" 10 || die "$hx does not answer at $hip"
id0=$(c_id "$sh_")
out=$(post /v1/alerts "$(generic_body "$sh_" 3 "lyt shared namespace")")
assert_eq 202 "${out%% *}" "alert accepted"
probe=$(curl -s --max-time 1 "http://$hip/")
assert_eq lyt-ok "$probe" "the namespace's owner still answers right after the POST"
if wait_gen "$sh_" 1 20; then ok "regenerated"; else _afail "generation of $sh_ is '$(c_gen "$sh_")'"; fi
wait_replaced "$sh_" generic 10
q_detail=$(last_incident "$sh_" generic | jq -r '.detail.quarantine // ""')
say "quarantine: $q_detail"
assert_match "shares the network namespace of container .*paused instead" "$q_detail" "not cut, paused, and says why"
assert_eq lyt-ok "$(curl -s --max-time 1 "http://$hip/")" "the owner answers after the replacement"
assert_match "^container:" "$("$DOCKER" inspect -f '{{.HostConfig.NetworkMode}}' "$sh_")" "the new generation shares it too"
assert_true "the old generation is gone" sh -c '! "$1" inspect "$2" >/dev/null 2>&1' _ "$DOCKER" "$id0"
case_end

case_begin no-veth-paused
id0=$(c_id "$n")
out=$(post /v1/alerts "$(generic_body "$n" 3 "lyt no network")")
assert_eq 202 "${out%% *}" "alert accepted"
st=$("$DOCKER" inspect -f '{{.State.Status}}' "$id0" 2>/dev/null)
say "old container right after the POST: '$st'"
if wait_gen "$n" 1 20; then ok "regenerated"; else _afail "generation of $n is '$(c_gen "$n")'"; fi
wait_replaced "$n" generic 10
inc=$(last_incident "$n" generic)
assert_match "no veth|paused|disconnect" "$(jq -r '.detail.quarantine // ""' <<<"$inc")" "incident says the network could not be cut and what was done"
assert_true "the old container is gone" sh -c '! "$1" inspect "$2" >/dev/null 2>&1' _ "$DOCKER" "$id0"
case_end

# Incidents cannot fill the host: an image is taken at most once per
# --forensics-backoff per container (the rest are still cut off and
# replaced, and say why they have no image), and no image of a writable
# layer over --forensics-max-mb.
case_begin forensics-backoff-and-size-cap
lymphd_stop
bo="${LYT_PFX}backoff"
big="${LYT_PFX}big"
dk run -d --name "$bo" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $bo"
dk run -d --name "$big" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $big"
dk exec "$big" busybox dd if=/dev/zero of=/fill bs=1M count=3 2>/dev/null || die "fill $big"
inc_start --forensics-keep 2 --forensics-backoff 10m --forensics-max-mb 1 || die "lymphd does not start again"
wait_for "lymphd_idle $bo && lymphd_idle $big" 15 || die "not adopted: $(ls_json)"
post /v1/alerts "$(generic_body "$bo" 3 "lyt first")" >/dev/null
wait_gen "$bo" 1 20 || _afail "generation 1 of $bo does not come (saw '$(c_gen "$bo")')"
wait_replaced "$bo" generic 10
assert_eq "lympho-forensics/$bo:gen-0" "$(last_incident "$bo" generic | jq -r '.forensic_image // ""')" "the first incident's image"
post /v1/alerts "$(generic_body "$bo" 3 "lyt second")" >/dev/null
wait_gen "$bo" 2 20 || _afail "generation 2 of $bo does not come (saw '$(c_gen "$bo")')"
wait_replaced "$bo" generic 10
inc=$(last_incident "$bo" generic)
say "second incident: $(jq -c 'del(.detail.processes)' <<<"$inc")"
assert_eq "" "$(jq -r '.forensic_image // ""' <<<"$inc")" "no image of the second within the backoff"
assert_match "^no image: incident backoff .*the next no sooner than in [0-9]+ s" "$(jq -r '.detail.forensics // ""' <<<"$inc")" "it says why"
assert_match "network cut|paused" "$(jq -r '.detail.quarantine // ""' <<<"$inc")" "still cut off"
assert_true "no image of generation 1" eval '! img_exists "lympho-forensics/$bo:gen-1"'
post /v1/alerts "$(generic_body "$big" 3 "lyt big")" >/dev/null
wait_gen "$big" 1 20 || _afail "generation 1 of $big does not come (saw '$(c_gen "$big")')"
wait_replaced "$big" generic 10
inc=$(last_incident "$big" generic)
assert_eq "" "$(jq -r '.forensic_image // ""' <<<"$inc")" "no image of a layer over the cap"
assert_match "^no image: the writable layer is [0-9]+ MiB, over forensics-max-mb \(1\)" "$(jq -r '.detail.forensics // ""' <<<"$inc")" "it says why"
assert_true "no image of $big" eval '! img_exists "lympho-forensics/$big:gen-0"'
case_end

# lymphd stopped while an incident's forensics wait on the engine (the
# commit never answered, by the conformance suite's faulty engine in
# front of the real one): it exits cleanly, every pending piece freed
# (the sanitizer build reports a leak as a failed exit), and the incident,
# journalled before its quarantine, is finished by the next lymphd.
case_begin stop-during-forensics
lymphd_stop
h="${LYT_PFX}held"
dk run -d --name "$h" --network "$LYT_NET" "${INC_QUIET[@]}" "$LYT_IMAGE" >/dev/null || die "run $h"
fsock="$LYT_TMP/faulty.sock"
ffile="$LYT_TMP/fault"
: >"$ffile"
faulty_engine_up "$fsock" || die "the faulty engine does not listen"
inc_start --docker-host "unix://$fsock" --forensics-backoff 0s || die "lymphd does not start through the faulty engine"
wait_for "lymphd_idle $h" 15 || die "$h not adopted"
id0=$(c_id "$h")
echo commit-hang >"$ffile"
out=$(post /v1/alerts "$(generic_body "$h" 3 "lyt held")")
assert_eq 202 "${out%% *}" "alert accepted"
wait_for "grep -q 'commit.*: commit-hang' '$LYT_TMP/faulty.log'" 15 || _afail "the commit was not asked: $(tail -n 3 "$LYT_TMP/faulty.log")"
assert_eq false "$(ls_field "$h" idle)" "the incident is in flight"
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM mid-forensics, nothing leaked"
: >"$ffile"
# The next lymphd finishes it: the generation that was being replaced is
# replaced, never adopted as clean.
inc_start --forensics-backoff 0s || die "lymphd does not start again"
if wait_gen "$h" 1 30; then ok "the next lymphd replaced it"; else _afail "generation of $h is '$(c_gen "$h")'"; fi
wait_for "lymphd_idle $h" 20 || _afail "$h not idle"
assert_true "the infected generation is gone" sh -c '! "$1" inspect "$2" >/dev/null 2>&1' _ "$DOCKER" "$id0"
say "history: $(history_json "$h" | jq -c '[.[] | {kind, result, reason}]')"
assert_eq "alert: generic: lyt held" "$(history_json "$h" | jq -r '[.[] | select(.kind == "incident" and .result == "resumed")][0].reason')" \
  "history: the incident resumed, with its reason"
assert_match "^incident cut short by a stop of lymphd" "$(history_json "$h" | jq -r '[.[] | select(.kind == "regen")][0].reason')" \
  "the regeneration says why"
assert_single "$h"
assert_eq 0 "$(wc -c <"$LYT_STATE/journal")" "the journal holds nothing open any more (compacted)"
case_end

lymphd_stop
finish
