#!/bin/bash
# A protected container renamed by its operator (docker rename) is followed
# (issue 14): listed once, under its new name, with its snapshot, and
# regenerated under that name; never listed twice, and never taken for a
# leftover of lymphd's own (a generation of lymphd's carries lympho.name,
# which a rename does not change). The name it left is free again: a new
# container taking it is adopted on its own.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

a="${LYT_PFX}a"
a2="${LYT_PFX}a-renamed"
b="${LYT_PFX}b"
b2="${LYT_PFX}b-renamed"
run () { dk run -d --name "$1" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h "$LYT_IMAGE" >/dev/null; }
listed () { ls_json | jq -r --arg p "$LYT_PFX" '[.[] | select(.name | startswith($p)) | .name] | sort | join(" ")'; }

case_begin setup
lymphd_start || die "lymphd does not start"
run "$a" || die "run $a"
run "$b" || die "run $b"
wait_for "lymphd_idle $a && lymphd_idle $b" 20 || die "not adopted: $(ls_json)"
# b is a generation of lymphd's own (lympho.name=b) before its rename.
ctl regen "$b" >/dev/null || die "regen $b"
wait_for "lymphd_idle $b" 20 || die "$b not idle after its regeneration"
assert_eq "$b" "$(c_label "$b" lympho.name)" "$b is lymphd's generation (lympho.name)"
case_end

case_begin rename-followed
ida=$(c_id "$a")
dk rename "$a" "$a2" || _afail "docker rename $a"
wait_for "in_ls $a2" 15 || _afail "$a2 not listed: $(listed)"
assert_eq "$a-renamed $b" "$(listed)" "listed once, under the new name"
assert_eq "$ida" "$(ls_field "$a2" id)" "the same container"
assert_eq "renamed from $a outside lympho" "$(history_json "$a2" | jq -r '[.[] | select(.kind == "rename")][0].reason')" \
  "history: the rename"
case_end

case_begin generation-of-ours-renamed-not-removed
idb=$(c_id "$b")
dk rename "$b" "$b2" || _afail "docker rename $b"
wait_for "in_ls $b2" 15 || _afail "$b2 not listed: $(listed)"
# Before: its lympho.name label said b, its name did not: removed as a
# leftover under its operator's feet.
assert_true "$b2 still runs, as it was" test "$(c_id "$b2")" = "$idb"
assert_true "$b2 runs" c_running "$b2"
assert_eq "$a2 $b2" "$(listed)" "listed once, under the new name"
case_end

case_begin regenerated-under-the-new-name
gen=$(c_gen "$b2")
ctl regen "$b2" >/dev/null || _afail "regen $b2"
wait_for "lymphd_idle $b2" 20 || _afail "$b2 not idle"
assert_eq $((gen + 1)) "$(c_gen "$b2")" "$b2 regenerated"
assert_eq "$b2" "$(c_label "$b2" lympho.name)" "the new generation carries its new name"
assert_single "$b2"
assert_eq "" "$(c_id "$b")" "nothing under the old name"
assert_eq "$a2 $b2" "$(listed)" "still listed once each"
case_end

case_begin old-name-free-again
run "$a" || _afail "run $a again"
wait_for "lymphd_idle $a" 20 || _afail "the new $a not adopted: $(listed)"
assert_eq "$a $a2 $b2" "$(listed)" "the new container under the old name is its own entry"
assert_ne "$(ls_field "$a" id)" "$(ls_field "$a2" id)" "two containers, two entries"
case_end

case_begin follows-across-restart
lymphd_stop || _afail "lymphd does not stop"
dk rename "$a2" "${LYT_PFX}a-third" || _afail "rename while lymphd is down"
lymphd_start || die "lymphd does not start again"
wait_for "lymphd_idle ${LYT_PFX}a-third" 20 || _afail "not adopted after the restart: $(listed)"
assert_eq "$a ${LYT_PFX}a-third $b2" "$(listed)" "listed once, under the name it has now"
case_end

finish
