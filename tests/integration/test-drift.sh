#!/bin/bash
# Drift: every lympho.drift.interval the container's changes are read from
# the engine; a file added or changed outside lympho.drift.allow (and its
# volumes) regenerates it and the history names the path; writes under the
# allowed paths and in a volume do not.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

c="${LYT_PFX}d"
v="${LYT_PFX}v"
vol="${LYT_PFX}vol"

case_begin setup
dk volume create "$vol" >/dev/null || die "volume create"
dk run -d --name "$c" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s --label lympho.drift.allow=/tmp,/data \
  "$LYT_IMAGE" >/dev/null || die "run $c"
# The image has no /vol: the engine makes the mount point in the container's
# writable layer, and the volume's contents are the container's own.
dk run -d --name "$v" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
  --label lympho.exec.allow=/bin/busybox --label lympho.drift.interval=1s --label lympho.drift.allow=/tmp \
  -v "$vol:/vol" "$LYT_IMAGE" >/dev/null || die "run $v"
dk exec "$c" true || die "exec into $c"
inc_start || die "lymphd does not start"
wait_for "in_ls $c && in_ls $v" 15 || die "not adopted: $(ls_json)"
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

lymphd_stop
finish
