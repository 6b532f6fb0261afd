#!/bin/bash
# lympho — make sure Podman's Docker-compatible API answers on its socket:
# install Debian's podman when it is missing, start `podman system service`
# when nothing answers, and wait until GET /_ping answers OK.
#
# For CI and for `lymphd --runtime podman`. Idempotent: never stops or
# restarts a service that already answers. Prints the endpoint on its last
# line ("podman: answering on unix:///run/podman/podman.sock").
#
# It does not touch /etc/containers/containers.conf: the ulimits runc needs on
# these machines are set by lympho's Podman backend on each create (see
# runtime/docker-plan.c), and scripts that use the podman CLI pass --ulimit.
#
# The OCI runtime: runc, the one dockerd runs on this host, whenever it is
# installed. Debian's podman takes crun, which refuses to run anything on a
# host with cgroups in hybrid mode (v1 controllers, and a cgroup2 mount at
# /sys/fs/cgroup/unified with a controller): "cgroups in hybrid mode not
# supported"; runc runs wherever Docker does. Containers keep the runtime
# they were created with, so the podman CLI only needs it on run/create
# (tests/integration/podman-cli.sh asks the service which).
#
# Environment: LYMPHO_PODMAN_SOCK (default /run/podman/podman.sock),
#              LYMPHO_PODMAN_LOG (default /var/log/lympho-podman.log),
#              LYMPHO_PODMAN_RUNTIME (default runc where installed, else podman's own),
#              LYMPHO_ENGINE_WAIT seconds (default 60).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
sock=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}
log=${LYMPHO_PODMAN_LOG:-/var/log/lympho-podman.log}
wait_s=${LYMPHO_ENGINE_WAIT:-60}

ping_engine ()
{
  [ -S "$sock" ] || return 1
  [ "$(curl -s --max-time 5 --unix-socket "$sock" http://engine/_ping 2>/dev/null)" = OK ]
}

if command -v curl >/dev/null && ping_engine; then
  echo "podman: answering on unix://$sock"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "podman: nothing answers on $sock; run as root to start the service" >&2
  exit 1
fi

if ! command -v podman >/dev/null || ! command -v curl >/dev/null; then
  if [ -x "$here/deps.sh" ]; then
    "$here/deps.sh" podman curl
  else
    apt-get install -y podman curl
  fi
fi

runtime=${LYMPHO_PODMAN_RUNTIME:-}
if [ -z "$runtime" ] && command -v runc >/dev/null; then
  runtime=runc
fi

if pgrep -f "^podman (--runtime [^ ]+ )?system service .*unix://$sock\$" >/dev/null; then
  # Started already (still coming up): only wait for it.
  echo "podman: the service is running, waiting for $sock"
else
  echo "podman: starting podman system service (log: $log)"
  mkdir -p "$(dirname "$sock")" "$(dirname "$log")"
  # A socket file left by a service that died would make bind() fail.
  [ -S "$sock" ] && rm -f "$sock"
  # --time=0: never exit when idle. setsid and no inherited descriptors: the
  # service must outlive this script and not hold a CI pipe open.
  "$here/detach.sh" "$log" podman ${runtime:+--runtime "$runtime"} system service --time=0 "unix://$sock" >/dev/null
fi

for ((i = 0; i < wait_s * 2; i++)); do
  if ping_engine; then
    echo "podman: answering on unix://$sock after $((i / 2))s"
    exit 0
  fi
  sleep 0.5
done
echo "podman: no answer on $sock after ${wait_s}s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
