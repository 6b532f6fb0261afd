# lympho conformance — the Podman driver (sourced by conformance.sh): lymphd
# with --runtime podman on Podman's Docker-compatible API, the podman CLI
# (tests/integration/podman-cli.sh: ulimits and the service's OCI runtime
# added to run/create) for everything the cases ask of the engine itself.
# The interface is at the top of backend-docker.sh.
#
# Environment: LYMPHO_PODMAN_SOCK (default /run/podman/podman.sock);
#   LYMPHO_PODMAN_SUITE: a newer Podman, Debian's SUITE's, run in a
#   container by contrib/newer-podman.sh (the engine matrix): its socket,
#   its CLI (through that container) and its restart (of that container).
# shellcheck shell=bash

BE_RUNTIME=podman
# shellcheck source=backend-docker.sh
. "$CF_DIR/backend-docker.sh"

BE_PODMAN_SUITE=${LYMPHO_PODMAN_SUITE:-}
BE_NEWER_PODMAN=$LYT_SRCDIR/contrib/newer-podman.sh
if [ -n "$BE_PODMAN_SUITE" ]; then
  BE_PODMAN_SOCK=$(bash "$BE_NEWER_PODMAN" sock "$BE_PODMAN_SUITE")
else
  BE_PODMAN_SOCK=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}
fi

be_sock () { printf '%s' "$BE_PODMAN_SOCK"; }

be_up ()
{
  if [ -n "$BE_PODMAN_SUITE" ]; then
    bash "$BE_NEWER_PODMAN" start "$BE_PODMAN_SUITE" >&2 || return 1
    # Started for the matrix, stopped by it: ours to restart.
    CF_OWN_ENGINE=1
  else
    LYMPHO_PODMAN_SOCK=$BE_PODMAN_SOCK "$LYT_SRCDIR/contrib/podman.sh" >&2 || return 1
  fi
  LYT_DOCKER_HOST="unix://$BE_PODMAN_SOCK"
  DOCKER="$LYT_SRCDIR/tests/integration/podman-cli.sh"
  export LYMPHO_PODMAN_SOCK=$BE_PODMAN_SOCK
  engine_ping || return 1
  be_api_up
}

# Podman's own words for states and image ids, in the suite's: its states
# beyond Docker's (configured, initialized, stopped, stopping) and its bare
# image ids ("sha256:" added, as lymphd reports them).
be_ps_words ()
{
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
  if [ -n "$BE_PODMAN_SUITE" ]; then
    bash "$BE_NEWER_PODMAN" restart "$BE_PODMAN_SUITE" >&2 || return 1
    wait_for engine_ping 60
    return
  fi
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
