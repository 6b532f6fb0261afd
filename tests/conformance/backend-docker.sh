# lympho conformance — the Docker Engine driver (sourced by conformance.sh).
#
# A driver defines these functions; every container a case makes is named
# "$CF_PFX..." and conformance.sh gives it a scratch directory, $CF_TMP.
#
#   be_up              make the engine answer (start it when it may); set
#                      BE_LYMPHD_ARGS / BE_LYMPHD_ENV (lymphd's options and
#                      environment for this backend) and BE_IMAGE (a busybox
#                      image in the engine). Non-zero: the backend is skipped.
#   be_down            remove the containers named $CF_PFX*, stop what be_up
#                      started for itself (never a shared engine)
#   be_run NAME LABEL=VALUE...
#                      create and start NAME from BE_IMAGE with exactly these
#                      labels, running a shell loop that exits on SIGTERM
#   be_rm NAME...      remove containers, running or not
#   be_ps              one line per container, tab-separated:
#                      NAME ID STATE IMAGE_ID GENERATION, STATE one of
#                      running/exited/created/paused, GENERATION the label
#                      lympho.generation or -
#   be_image_id REF    the id of an image, as be_ps and lymphctl print it
#   be_engine_restart  stop the engine and start it again (its containers
#                      die with it, as at a reboot); wait until it answers
#   be_fault_on        put a faulty runtime in front of the engine, steered
#                      by the word in $CF_FAULT (empty: pass through); set
#                      BE_FAULT_LYMPHD_ARGS / BE_FAULT_LYMPHD_ENV. Faults:
#                      create-garbage, create-lost, create-exit,
#                      create-endless, create-hang, rename-noop, start-hang
#   be_fault_off       stop the injector
# shellcheck shell=bash

# The engine's CLI is $DOCKER; backend-podman.sh reuses all of this with
# BE_RUNTIME=podman and its own engine, states and restart.
BE_RUNTIME=${BE_RUNTIME:-docker}

be_sock () { printf '%s' "${LYT_DOCKER_HOST#unix://}"; }

# The part of be_up every engine with a Docker API shares, once it answers.
be_api_up ()
{
  image_up || return 1
  BE_IMAGE=$LYT_IMAGE
  BE_LYMPHD_ARGS=(--runtime "$BE_RUNTIME" --docker-host "$LYT_DOCKER_HOST")
  BE_LYMPHD_ENV=()
}

be_up ()
{
  engine_up || return 1
  be_api_up
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

# The engine's inspect lines, put in the suite's words by be_ps_words.
be_ps ()
{
  local ids
  ids=$("$DOCKER" ps -aq --no-trunc 2>/dev/null)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  "$DOCKER" inspect -f '{{.Name}}	{{.Id}}	{{.State.Status}}	{{.Image}}	{{with index .Config.Labels "lympho.generation"}}{{.}}{{else}}-{{end}}' $ids 2>/dev/null |
    be_ps_words
}
be_ps_words () { sed 's|^/||'; }

be_image_id () { "$DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null; }

be_engine_restart ()
{
  local pid cmd envs
  pid=$(pgrep -xo dockerd) || return 1
  # The same engine again: its command line and its environment (a newer
  # engine of the matrix finds its containerd on PATH, and keeps its API
  # floor, DOCKER_MIN_API_VERSION).
  mapfile -d '' -t cmd <"/proc/$pid/cmdline"
  mapfile -d '' -t envs <"/proc/$pid/environ"
  kill -TERM "$pid"
  wait_for "! kill -0 $pid" 60 || return 1
  sleep 2
  env -i "${envs[@]}" "$LYT_SRCDIR/contrib/detach.sh" /var/log/lympho-dockerd.log "${cmd[@]}" >/dev/null
  wait_for engine_ping 60
}

be_fault_on ()
{
  local sock=$CF_TMP/faulty.sock
  python3 "$CF_DIR/faulty-engine.py" --listen "$sock" --engine "$(be_sock)" --fault-file "$CF_FAULT" \
    >"$CF_TMP/faulty.log" 2>&1 &
  CF_FAULTY_PID=$!
  wait_for "[ -S '$sock' ]" 10 || return 1
  BE_FAULT_LYMPHD_ARGS=(--runtime "$BE_RUNTIME" --docker-host "unix://$sock")
  # A hanging call is given up after 8 s, not the default 30: the
  # create-hang and start-hang cases wait for it twice.
  BE_FAULT_LYMPHD_ENV=("LYMPHO_ENGINE_TIMEOUT_MS=${CF_ENGINE_TIMEOUT_MS:-8000}")
}

be_fault_off ()
{
  [ -n "${CF_FAULTY_PID:-}" ] && kill "$CF_FAULTY_PID" 2>/dev/null && wait "$CF_FAULTY_PID" 2>/dev/null
  CF_FAULTY_PID=
  return 0
}
