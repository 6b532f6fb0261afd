# lympho — helpers for the incident tests (alerts, quarantine, memory, local
# detectors) and bench/incident.sh, on top of lib.sh. Source this instead of
# lib.sh.
#
# The engine endpoint comes from LYT_DOCKER_HOST, else DOCKER_HOST, else the
# default socket, so the same tests run on a private engine of one's own and
# on CI's one engine.
# shellcheck shell=bash

LYT_DOCKER_HOST=${LYT_DOCKER_HOST:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
export DOCKER_HOST=$LYT_DOCKER_HOST
_inc_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib.sh names the test after the script that sourced *it*; keep the caller's.
LYT_TEST=${LYT_TEST:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
# shellcheck source=lib.sh
. "$_inc_dir/lib.sh"

INC_DATA="$LYT_SRCDIR/tests/data"
INC_PORT=
INC_URL=
INC_TOKEN=

# Labels that keep the other detectors quiet, for tests about one of them:
# drift anywhere is allowed, busybox is the only program (the test images
# run nothing else), and the TTL never comes due during a test.
INC_QUIET=(--label lympho.enable=true --label lympho.ttl=1h --label lympho.drift.allow=/
           --label lympho.exec.allow=/bin/busybox)

# inc_start [EXTRA LYMPHD ARGS]: lymphd with the HTTP listener on a free port,
# a short learning window and the documented half-life; INC_URL and
# INC_TOKEN are set when it answers. The later --listen wins over lib.sh's.
inc_start ()
{
  INC_PORT=${INC_PORT:-$(free_port)} || return 1
  lymphd_start --listen "127.0.0.1:$INC_PORT" --learn-window "${INC_LEARN:-5s}" \
    --threat-half-life "${INC_HALF_LIFE:-10m}" "$@" || return 1
  INC_URL="http://127.0.0.1:$INC_PORT"
  wait_for "[ -s '$LYT_STATE/webhook.token' ]" 10 || { say "no token file"; return 1; }
  INC_TOKEN=$(cat "$LYT_STATE/webhook.token")
  wait_for "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $INC_URL/healthz)\" = 200 ]" 15 ||
    { say "GET /healthz does not answer 200"; return 1; }
}

# post PATH BODY [CURL ARGS...]: POST BODY (a string; @FILE for a file) with
# the token; prints "CODE BODY" (body on one line).
post ()
{
  local path=$1 body=$2 out code
  shift 2
  out=$(mktemp "$LYT_TMP/post.XXXXXX")
  code=$(curl -s --max-time 10 -o "$out" -w '%{http_code}' -H "Authorization: Bearer $INC_TOKEN" \
    -H 'Content-Type: application/json' --data-binary "$body" "$@" "$INC_URL$path")
  echo "$code $(tr '\n' ' ' <"$out" | sed 's/ *$//')"
  rm -f "$out"
}
post_noauth ()
{
  local path=$1 body=$2
  shift 2
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$body" "$@" "$INC_URL$path"
}

generic_body () # NAME SEVERITY REASON
{
  jq -nc --arg c "$1" --argjson s "$2" --arg r "$3" '{container: $c, severity: $s, reason: $r}'
}

# am_body NAME SEVERITY FINGERPRINT [STATUS [ALERTNAME]]: the recorded
# firing payload, its container label and fingerprint replaced.
am_body ()
{
  local st=${4:-firing} an=${5:-WebShellDetected}
  jq -c --arg c "$1" --arg s "$2" --arg fp "$3" --arg st "$st" --arg an "$an" '
    .status = $st
    | .alerts |= map(.labels.container = $c | .labels.severity = $s | .labels.alertname = $an
                     | .fingerprint = $fp | .status = $st
                     | (if $st == "resolved" then .endsAt = "2026-11-25T10:40:09.916083387Z" else . end))
    | .commonLabels.container = $c | .commonLabels.severity = $s | .commonLabels.alertname = $an
    | .groupLabels.alertname = $an' "$INC_DATA/alertmanager-firing.json"
}

# falco_body NAME PRIORITY RULE [EXEPATH]: falco-shell.json for container
# NAME (by name; its 12-hex id field is the container's own).
falco_body ()
{
  local id
  id=$(c_id "$1")
  jq -c --arg c "$1" --arg id "${id:0:12}" --arg p "$2" --arg r "$3" --arg x "${4:-/bin/busybox}" '
    .priority = $p | .rule = $r
    | .output_fields["container.name"] = $c | .output_fields["container.id"] = $id
    | .output_fields["proc.exepath"] = $x' "$INC_DATA/falco-shell.json"
}

# Fields of a protected container from ls, numbers as the engine sees them.
c_level () { ls_field "$1" threat_level; }
# level_between NAME LO HI
level_between ()
{
  awk -v x="$(c_level "$1")" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x + 0 >= lo && x + 0 <= hi) }'
}

# The newest incident of NAME (optionally with a given source), as JSON.
last_incident () # NAME [SOURCE]
{
  history_json "$1" | jq -c --arg s "${2:-}" \
    '[.[] | select(.kind == "incident" and ($s == "" or .source == $s))][0] // empty'
}
incident_count () # NAME [SOURCE]
{
  history_json "$1" | jq --arg s "${2:-}" '[.[] | select(.kind == "incident" and ($s == "" or .source == $s))] | length'
}
# wait_gen NAME GEN TIMEOUT: the engine holds generation GEN under NAME, running.
wait_gen ()
{
  wait_for "[ \"\$(c_gen $1)\" = $2 ] && c_running $1" "$3"
}
# wait_replaced NAME SOURCE TIMEOUT: the newest incident of SOURCE is the one
# that made the container now holding NAME, and its replacement ran
# (replaced_ms set). The engine shows the new generation before lymphd
# records the incident, and an older incident must not be taken for it.
wait_replaced ()
{
  wait_for "[ \"\$(last_incident $1 $2 | jq -r --arg id \"\$(c_id $1)\" 'if .new_id == \$id then .replaced_ms // -1 else -1 end')\" -ge 0 ]" "$3"
}

# The container's address on network NET.
c_ip () # NAME NET
{
  "$DOCKER" inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1" 2>/dev/null
}

# An image whose init is a shell loop that runs /tmp/go when it appears, so
# the workload's own process tree (not an engine exec) runs a program.
# Busybox is its only program otherwise.
# bench/incident.sh passes its own line to run instead (a lasting process
# the engine's process list can show).
build_exec_image () # TAG [RUN-LINE]
{
  local tag=$1 run=${2:-'[ -x /tmp/go ] && /tmp/go true'} root a
  need_cmd busybox busybox-static || return 1
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/data"
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for a in sh sleep cat touch ls test echo mkdir rm kill cp true false env wget; do
    ln -s busybox "$root/bin/$a"
  done
  cat >"$root/bin/init" <<EOF
#!/bin/sh
trap "exit 0" TERM
while true; do
  $run
  sleep 1 &
  wait \$!
done
EOF
  chmod 755 "$root/bin/init"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["/bin/init"]' - "$tag" >/dev/null
  local rc=$?
  rm -rf "$root"
  return $rc
}

INC_EXEC_IMAGE=
exec_image_up () # [RUN-LINE]
{
  INC_EXEC_IMAGE="${LYT_PFX}exec:1"
  build_exec_image "$INC_EXEC_IMAGE" "$@" || return 1
}
# Also removes the exec image and forensic images of this test's containers.
inc_cleanup_images ()
{
  local ids
  # Containers first (as lyt_cleanup does, which runs after): an image a
  # container still uses is not removed.
  ids=$("$DOCKER" ps -aq --filter "name=$LYT_PFX" 2>/dev/null)
  ids="$ids $("$DOCKER" ps -a --filter label=lympho.name --format '{{.ID}} {{.Label "lympho.name"}}' 2>/dev/null |
    awk -v p="$LYT_PFX" 'index($2, p) == 1 {print $1}')"
  [ -n "${ids// /}" ] && "$DOCKER" rm -f -v $ids >/dev/null 2>&1
  if [ -n "$INC_EXEC_IMAGE" ]; then
    ids=$("$DOCKER" image inspect -f '{{.Id}}' "$INC_EXEC_IMAGE" 2>/dev/null)
    [ -n "$ids" ] && "$DOCKER" rmi -f "$ids" >/dev/null 2>&1
  fi
  ids=$("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep "^lympho-forensics/${LYT_PFX}")
  [ -n "$ids" ] && "$DOCKER" rmi -f $ids >/dev/null 2>&1
  return 0
}

# Drop a program the image does not have where the init loop runs it.
plant_go () # NAME
{
  dk exec "$1" /bin/busybox sh -c 'mkdir -p /tmp; cp /bin/busybox /tmp/go; chmod 755 /tmp/go'
}

# run_exec NAME [LABELS...]: a protected container of the exec image.
run_exec ()
{
  local n=$1
  shift
  dk run -d --name "$n" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h \
    --label lympho.drift.allow=/ "$@" "$INC_EXEC_IMAGE" >/dev/null
}

# inc_init: lyt_init, plus removal of this file's images at exit.
inc_init ()
{
  lyt_init
  # lyt_cleanup takes the exit status from $?: hand it on.
  trap '_inc_rc=$?; inc_cleanup_images; (exit $_inc_rc); lyt_cleanup' EXIT
}
