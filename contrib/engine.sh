#!/bin/bash
# lympho — make sure a Docker Engine answers on its socket: install Debian's
# docker.io when dockerd is missing, start the engine when it does not answer
# (systemctl when systemd is PID 1, else dockerd in the background with a log
# file), and wait until GET /_ping answers OK.
#
# Used by contrib/setup.sh, contrib/test.sh and CI. Never stops or restarts an
# engine that already answers.
#
# Environment: LYMPHO_DOCKER_SOCK (default /var/run/docker.sock),
#              LYMPHO_DOCKERD_LOG (default /var/log/lympho-dockerd.log),
#              LYMPHO_ENGINE_WAIT seconds (default 60).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
sock=${LYMPHO_DOCKER_SOCK:-/var/run/docker.sock}
log=${LYMPHO_DOCKERD_LOG:-/var/log/lympho-dockerd.log}
wait_s=${LYMPHO_ENGINE_WAIT:-60}

ping_engine ()
{
  [ -S "$sock" ] || return 1
  [ "$(curl -s --max-time 5 --unix-socket "$sock" http://engine/_ping 2>/dev/null)" = OK ]
}

if command -v curl >/dev/null && ping_engine; then
  echo "engine: answering on $sock"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "engine: no Docker Engine answers on $sock; run as root to start one" >&2
  exit 1
fi

if ! command -v dockerd >/dev/null || ! command -v curl >/dev/null; then
  "$here/deps.sh" docker.io curl ca-certificates
fi

if [ -d /run/systemd/system ]; then
  echo "engine: systemctl start docker"
  systemctl start docker
elif pidof dockerd >/dev/null; then
  # Started already (by someone else, or still coming up): only wait for it.
  echo "engine: dockerd is running, waiting for $sock"
else
  echo "engine: starting dockerd (log: $log)"
  mkdir -p "$(dirname "$log")"
  # setsid and no inherited descriptors: the engine must outlive this script
  # and a Ctrl-C in the terminal, and must not hold a CI pipe open.
  "$here/detach.sh" "$log" dockerd --host "unix://$sock" >/dev/null
fi

for ((i = 0; i < wait_s * 2; i++)); do
  if ping_engine; then
    echo "engine: answering on $sock after $((i / 2))s"
    exit 0
  fi
  sleep 0.5
done
echo "engine: no answer on $sock after ${wait_s}s" >&2
[ -f "$log" ] && tail -n 20 "$log" >&2
exit 1
