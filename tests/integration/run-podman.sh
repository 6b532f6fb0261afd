#!/bin/bash
# lympho — the black-box integration tests (run.sh) against Podman: lymphd
# runs with --runtime podman on Podman's Docker-compatible API, and the tests'
# engine CLI is podman. Nothing in run.sh or lib.sh knows about Podman; this
# only sets what they already take from the environment:
#
#   LYT_DOCKER_HOST   Podman's socket (contrib/podman.sh starts the service)
#   DOCKER            tests/integration/podman-cli.sh: podman, with the ulimits
#                     runc needs on these machines added to run/create
#   LYMPHD            a wrapper adding --runtime podman
#   LYT_ENGINE_PIDFILE  the service's pid, so that test-engine-restart
#                     restarts Podman's service, not dockerd
#
#   LYMPHD=... LYMPHCTL=... tests/integration/run-podman.sh [test-NAME ...]
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${LYMPHO_PODMAN_SUITE:-}" ]; then
  # A newer Podman in a container (contrib/newer-podman.sh; the engine
  # matrix starts and stops it): podman-cli.sh runs its CLI there.
  sock=$(bash "$here/../../contrib/newer-podman.sh" sock "$LYMPHO_PODMAN_SUITE")
  if ! bash "$here/../../contrib/newer-podman.sh" start "$LYMPHO_PODMAN_SUITE" >&2; then
    echo "integration: Podman of $LYMPHO_PODMAN_SUITE does not start: skipped"
    exit 77
  fi
else
  sock=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}
  if ! LYMPHO_PODMAN_SOCK="$sock" "$here/../../contrib/podman.sh" >&2; then
    echo "integration: no Podman service answers and none could be started: skipped"
    exit 77
  fi
fi
: "${LYMPHD:?set LYMPHD and LYMPHCTL to the built binaries}"
tmp=$(mktemp -d /tmp/lyt-podman-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec %q --runtime podman "$@"\n' "$(readlink -f "$LYMPHD")" >"$tmp/lymphd"
chmod 755 "$tmp/lymphd"
pid=
[ -n "${LYMPHO_PODMAN_SUITE:-}" ] || pid=$(pgrep -o -f "^podman (--runtime [^ ]+ )?system service .*unix://$sock\$")
[ -n "$pid" ] && echo "$pid" >"$tmp/podman.pid" && export LYT_ENGINE_PIDFILE="$tmp/podman.pid"
export LYT_DOCKER_HOST="unix://$sock" LYMPHO_PODMAN_SOCK="$sock" DOCKER="$here/podman-cli.sh" LYMPHD="$tmp/lymphd"
"$here/run.sh" "$@"
