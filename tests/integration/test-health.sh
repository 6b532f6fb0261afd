#!/bin/bash
# health_status: unhealthy -> regenerated as a new container (not a restart
# of the sick one), the history says why.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-incident.sh"
inc_init

c="${LYT_PFX}h"

case_begin setup
dk run -d --name "$c" --network "$LYT_NET" "${INC_QUIET[@]}" \
  --health-cmd 'test ! -e /tmp/sick' --health-interval 1s --health-timeout 1s --health-retries 2 \
  "$LYT_IMAGE" >/dev/null || die "run $c"
inc_start || die "lymphd does not start"
wait_for "in_ls $c" 15 || die "not adopted: $(ls_json)"
wait_for '[ "$(c_health "$c")" = healthy ]' 20 || die "$c never healthy"
ok "healthy"
case_end

case_begin unhealthy-regenerates
id0=$(c_id "$c")
dk exec "$c" touch /tmp/sick || die "touch /tmp/sick"
if wait_gen "$c" 1 30; then ok "regenerated"; else _afail "generation of $c is '$(c_gen "$c")' 30 s after it was made sick (health '$(c_health "$c")')"; fi
assert_ne "$id0" "$(c_id "$c")" "a new container, not a restart"
# The name moves to the new generation before the old one is stopped and
# removed (swap): wait for lymphd to finish before looking for it.
wait_for "c_settled $c" 20
assert_true "the sick container is gone" sh -c '! "$1" inspect "$2" >/dev/null 2>&1' _ "$DOCKER" "$id0"
assert_single "$c"
inc=$(last_incident "$c" health)
say "incident: $inc"
assert_match "unhealthy" "$(jq -r .reason <<<"$inc")" "history says unhealthy"
assert_eq regenerate "$(jq -r .action <<<"$inc")" "action"
if wait_for '[ "$(c_health "$c")" = healthy ]' 20; then ok "the new generation is healthy"; else _afail "the new generation is '$(c_health "$c")'"; fi
sleep 3
assert_eq 1 "$(c_gen "$c")" "and stays (no second regeneration)"
case_end

lymphd_stop
finish
