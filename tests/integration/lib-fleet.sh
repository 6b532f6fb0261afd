# lympho — two "nodes" and one Alertmanager on this machine, for the
# fleet's test and bench (tests/integration/test-fleet.sh, bench/fleet.sh),
# on top of lib-incident.sh (source both, then call fleet_init after
# inc_init):
#   node-a  lymphd on the Docker Engine (lib.sh's ctl, ls_field, ...),
#           listening on PA;
#   node-b  lymphd --runtime podman on Podman's service (ctlb, lsb_field),
#           listening on PB; its CLI is $PODMAN;
#   AM      Debian's Alertmanager on AM_PORT, with the fleet's route as
#           contrib/alertmanager-fleet.yml gives it (each alert its own
#           group, sent FLEET_GROUP_WAIT after it arrives), both nodes its
#           receivers.
# fleet_init exits 77 (skipped) without an Alertmanager or Podman;
# fleet_nodes_up starts both lymphd once their containers run.
# shellcheck shell=bash

FLEET_GROUP_WAIT=${FLEET_GROUP_WAIT:-1s}

fleet_down ()
{
  local ids
  ids=$("$PODMAN" ps -aq --filter "name=$LYT_PFX" 2>/dev/null)
  [ -n "$ids" ] && "$PODMAN" rm -f $ids >/dev/null 2>&1
  "$PODMAN" rmi -f "${LYT_PFX}img:1" >/dev/null 2>&1
  return 0
}

fleet_init ()
{
  am_bin=$(command -v prometheus-alertmanager || command -v alertmanager)
  if [ -z "$am_bin" ]; then
    echo "SKIP: $LYT_TEST: no Alertmanager (Debian's prometheus-alertmanager)"
    exit 77
  fi
  PSOCK=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}
  if ! LYMPHO_PODMAN_SOCK="$PSOCK" bash "$_inc_dir/../../contrib/podman.sh" >/dev/null 2>&1; then
    echo "SKIP: $LYT_TEST: no Podman service for the second node"
    exit 77
  fi
  PODMAN="$_inc_dir/podman-cli.sh"
  export LYMPHO_PODMAN_SOCK=$PSOCK
  B="$LYT_TMP/node-b"
  mkdir -p "$B/state" "$LYT_STATE" "$LYT_TMP/am"
  trap '_f_rc=$?; fleet_down; inc_cleanup_images; (exit $_f_rc); lyt_cleanup' EXIT

  AM_PORT=$(free_port) && PA=$(free_port) && PB=$(free_port) || die "no free port"
  [ "$AM_PORT" != "$PA" ] && [ "$PA" != "$PB" ] && [ "$AM_PORT" != "$PB" ] || die "ports not distinct"
  AM="http://127.0.0.1:$AM_PORT"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$LYT_STATE/webhook.token"
  chmod 600 "$LYT_STATE/webhook.token"
  cp "$LYT_STATE/webhook.token" "$B/state/webhook.token"
  cat >"$LYT_TMP/am/am.yml" <<EOF
route:
  receiver: lympho-fleet
  group_by: ['...']
  group_wait: $FLEET_GROUP_WAIT
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: lympho-fleet
    webhook_configs:
      - url: http://127.0.0.1:$PA/v1/alerts/alertmanager
        send_resolved: false
        http_config:
          authorization:
            credentials_file: $LYT_STATE/webhook.token
      - url: http://127.0.0.1:$PB/v1/alerts/alertmanager
        send_resolved: false
        http_config:
          authorization:
            credentials_file: $LYT_STATE/webhook.token
EOF
  "$am_bin" --config.file="$LYT_TMP/am/am.yml" --storage.path="$LYT_TMP/am/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$LYT_TMP/am/log" 2>&1 &
  LYT_PIDS+=($!)
  wait_for "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $AM/-/ready)\" = 200 ]" 30 ||
    die "Alertmanager not ready: $(tail -n 3 "$LYT_TMP/am/log")"
  DOCKER="$PODMAN" build_image "${LYT_PFX}img:1" || die "the test image for Podman"
}

# fleet_nodes_up: node-a, then node-b; both answer when it returns 0.
fleet_nodes_up ()
{
  INC_PORT=$PA inc_start --alertmanager-url "$AM" --node-name node-a || { say "node-a does not start"; return 1; }
  "$LYMPHD" --runtime podman --docker-host "unix://$PSOCK" --config "$LYT_CONFIG" --socket "$B/sock" \
    --state-dir "$B/state" --listen "127.0.0.1:$PB" --alertmanager-url "$AM" --node-name node-b \
    --learn-window 5s --log-level debug >>"$LYT_TMP/lymphd-b.log" 2>&1 &
  LYT_PIDS+=($!)
  wait_for "ctlb --json ls >/dev/null 2>&1" 30 || { say "node-b does not answer"; return 1; }
}

ctlb () { "$LYMPHCTL" --socket "$B/sock" "$@"; }
lsb_field () { ctlb --json ls 2>/dev/null | jq -r --arg n "$1" ".[] | select(.name == \$n) | .$2"; }
level_a () { ls_field "$1" threat_level; }
level_b () { lsb_field "$1" threat_level; }
# between V LO HI: is V a number within [LO, HI]?
between () { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'; }
# Alertmanager's alerts whose labels hold the JSON object M: how many.
am_count () { curl -s "$AM/api/v2/alerts" | jq --argjson m "$1" '[.[] | select(.labels | contains($m))] | length'; }
