# lympho conformance — the Podman driver (sourced by conformance.sh): lymphd
# with --runtime podman on Podman's Docker-compatible API, the podman CLI
# (tests/integration/podman-cli.sh: ulimits and the service's OCI runtime
# added to run/create) for everything the cases ask of the engine itself.
# The interface is at the top of backend-docker.sh.
#
# Environment: LYMPHO_PODMAN_SOCK (default /run/podman/podman.sock).
# shellcheck shell=bash

BE_PODMAN_SOCK=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}

be_sock () { printf '%s' "$BE_PODMAN_SOCK"; }

be_up ()
{
  LYMPHO_PODMAN_SOCK=$BE_PODMAN_SOCK "$LYT_SRCDIR/contrib/podman.sh" >&2 || return 1
  LYT_DOCKER_HOST="unix://$BE_PODMAN_SOCK"
  DOCKER="$LYT_SRCDIR/tests/integration/podman-cli.sh"
  export LYMPHO_PODMAN_SOCK=$BE_PODMAN_SOCK
  engine_ping || return 1
  image_up || return 1
  BE_IMAGE=$LYT_IMAGE
  BE_LYMPHD_ARGS=(--runtime podman --docker-host "$LYT_DOCKER_HOST")
  BE_LYMPHD_ENV=()
}

be_down ()
{
  local ids
  ids=$("$DOCKER" ps -aq --filter "name=$CF_PFX" 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
  if [ "$LYT_OWN_IMAGE" = 1 ]; then
    ids=$("$DOCKER" image inspect -f '{{.Id}}' "$LYT_IMAGE" 2>/dev/null)
    [ -n "$ids" ] && "$DOCKER" rmi -f "$ids" >/dev/null 2>&1
  fi
  return 0
}

be_run ()
{
  local name=$1 l args=()
  shift
  for l in "$@"; do args+=(--label "$l"); done
  "$DOCKER" run -d --name "$name" "${args[@]}" --network none "$BE_IMAGE" \
    sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' >/dev/null
}

be_rm () { "$DOCKER" rm -f "$@" >/dev/null 2>&1; }

# Podman's own words for states and image ids, in the suite's: its states
# beyond Docker's (configured, initialized, stopped, stopping) and its bare
# image ids ("sha256:" added, as lymphd reports them).
be_ps ()
{
  local ids
  ids=$("$DOCKER" ps -aq --no-trunc 2>/dev/null)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  "$DOCKER" inspect -f '{{.Name}}	{{.Id}}	{{.State.Status}}	{{.Image}}	{{with index .Config.Labels "lympho.generation"}}{{.}}{{else}}-{{end}}' $ids 2>/dev/null |
    awk -F '\t' -v OFS='\t' '{
      sub(/^\//, "", $1)
      if ($3 == "configured" || $3 == "initialized") $3 = "created"
      else if ($3 == "stopped" || $3 == "stopping") $3 = "exited"
      if ($4 !~ /^sha256:/ && $4 ~ /^[0-9a-f]+$/) $4 = "sha256:" $4
      print
    }'
}

be_image_id ()
{
  local id
  id=$("$DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null) || return 1
  [ -n "$id" ] || return 1
  case $id in sha256:*) printf '%s\n' "$id" ;; *) printf 'sha256:%s\n' "$id" ;; esac
}

# The service stops; what ran dies with it, as at a reboot (Podman's
# containers outlive its service, conmon holds them: their init processes
# are killed, which no operator asked for); the service starts again with
# the same settings (contrib/podman.sh).
be_engine_restart ()
{
  local pid c p
  pid=$(pgrep -o -f "^podman (--runtime [^ ]+ )?system service .*unix://$BE_PODMAN_SOCK\$") || return 1
  kill -TERM "$pid"
  wait_for "! kill -0 $pid" 60 || return 1
  for c in $("$DOCKER" ps -q --no-trunc --filter "name=$CF_PFX" 2>/dev/null); do
    p=$("$DOCKER" inspect -f '{{.State.Pid}}' "$c" 2>/dev/null)
    [ -n "$p" ] && [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null
  done
  sleep 2
  LYMPHO_PODMAN_SOCK=$BE_PODMAN_SOCK "$LYT_SRCDIR/contrib/podman.sh" >&2 || return 1
  wait_for engine_ping 60
}

be_fault_on ()
{
  local sock=$CF_TMP/faulty.sock
  python3 "$CF_DIR/faulty-engine.py" --listen "$sock" --engine "$(be_sock)" --fault-file "$CF_FAULT" \
    >"$CF_TMP/faulty.log" 2>&1 &
  CF_FAULTY_PID=$!
  wait_for "[ -S '$sock' ]" 10 || return 1
  BE_FAULT_LYMPHD_ARGS=(--runtime podman --docker-host "unix://$sock")
  BE_FAULT_LYMPHD_ENV=()
}

be_fault_off ()
{
  [ -n "${CF_FAULTY_PID:-}" ] && kill "$CF_FAULTY_PID" 2>/dev/null && wait "$CF_FAULTY_PID" 2>/dev/null
  CF_FAULTY_PID=
  return 0
}
