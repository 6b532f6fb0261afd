#!/bin/bash
# lympho — run a newer Docker Engine than Debian 12's, for the engine matrix,
# without installing it: Debian's newer suites' packages are downloaded
# through a private sources list and unpacked into a private prefix, and
# that engine runs on the usual socket with its own data and exec roots.
# One engine at a time: `start` refuses when anything answers on the socket.
#
#   contrib/newer-engine.sh fetch SUITE          download and unpack (once)
#   contrib/newer-engine.sh start SUITE [--min-api V] [--containerd-store]
#   contrib/newer-engine.sh stop SUITE           stop it (by its pid file)
#   contrib/newer-engine.sh env SUITE            DOCKER=... (its CLI),
#                                                ENGINE_BIN=... (its binaries'
#                                                folder) and COMPOSE=... (its
#                                                docker-compose), for eval
#
# SUITE: trixie (Docker 26.1) or sid (Docker 28.5). --min-api sets the
# engine's API floor (DOCKER_MIN_API_VERSION: 1.44 is Docker 29.0-29.2's);
# --containerd-store gives it the containerd image store (Docker 29's
# default). The engine runs on the system's runc: the newer suites' runc
# needs a newer glibc than Debian 12's. The mirror is the system's own
# (its APT sources).
#
# Environment: LYMPHO_ENGINES_DIR (default /var/cache/lympho/engines),
#              LYMPHO_DOCKER_SOCK (default /var/run/docker.sock),
#              LYMPHO_ENGINE_WAIT seconds (default 60).
set -euo pipefail

dir=${LYMPHO_ENGINES_DIR:-/var/cache/lympho/engines}
sock=${LYMPHO_DOCKER_SOCK:-/var/run/docker.sock}
wait_s=${LYMPHO_ENGINE_WAIT:-60}

usage () { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 suite=$2
shift 2
case $suite in trixie | sid) ;; *) echo "newer-engine: unknown suite $suite (trixie or sid)" >&2; exit 2 ;; esac
top=$dir/$suite
prefix=$top/root
run=/run/lympho-engines/$suite
data=/var/lib/lympho-engines/$suite

ping_engine ()
{
  [ -S "$sock" ] && [ "$(curl -s --max-time 5 --unix-socket "$sock" http://engine/_ping 2>/dev/null)" = OK ]
}


fetch ()
{
  if [ -x "$prefix/usr/sbin/dockerd" ] && [ -x "$prefix/usr/bin/docker" ] && [ -x "$prefix/usr/bin/docker-compose" ]; then
    echo "newer-engine: $suite already in $prefix"
    return 0
  fi
  local apt=(env "APT_CONFIG=$top/apt.conf" apt-get)
  mkdir -p "$top/debs"
  echo "newer-engine: fetching $suite's docker.io, docker-cli, containerd, docker-compose"
  "$(dirname "$0")/suite-apt.sh" "$top" "$suite" || return 1
  # The suite's own versions: apt-get download picks the newest candidate,
  # and the private lists hold only this suite.
  # docker-init (for --init) is tini's static build: its own package in
  # sid, part of tini in trixie.
  (cd "$top/debs" && "${apt[@]}" download docker.io docker-cli containerd docker-compose &&
    { "${apt[@]}" download tini-static || "${apt[@]}" download tini; }) >>"$top/apt.log" 2>&1 ||
    { tail -n 5 "$top/apt.log" >&2; return 1; }
  rm -rf "$prefix.new"
  mkdir -p "$prefix.new"
  local f
  for f in "$top"/debs/*.deb; do dpkg-deb -x "$f" "$prefix.new"; done
  rm -rf "$prefix"
  mv "$prefix.new" "$prefix"
  rm -f "$top"/debs/*.deb
  "$prefix/usr/sbin/dockerd" --version
}

start ()
{
  local min_api= store=no
  while [ $# -gt 0 ]; do
    case $1 in
      --min-api) min_api=$2; shift ;;
      --containerd-store) store=yes ;;
      *) usage ;;
    esac
    shift
  done
  [ -x "$prefix/usr/sbin/dockerd" ] || fetch
  if ping_engine; then
    echo "newer-engine: an engine answers on $sock already; stop it first" >&2
    return 1
  fi
  mkdir -p "$run" "$data"
  local conf=$run/daemon.json
  if [ "$store" = yes ]; then
    echo '{"features": {"containerd-snapshotter": true}}' >"$conf"
  else
    echo '{}' >"$conf"
  fi
  # Its own data root for each image store: images of one are not seen
  # by the other.
  local root=$data/overlay2
  [ "$store" = yes ] && root=$data/containerd-store
  local env=(PATH="$prefix/usr/bin:$prefix/usr/sbin:$PATH")
  [ -n "$min_api" ] && env+=(DOCKER_MIN_API_VERSION="$min_api")
  # Its own roots: images and containers of different engines never mix.
  # docker-init: the suite's static tini, for --init.
  local init=$prefix/usr/bin/docker-init
  [ -x "$init" ] || init=$prefix/usr/bin/tini-static
  env "${env[@]}" "$(dirname "$0")/detach.sh" "$run/dockerd.log" \
    "$prefix/usr/sbin/dockerd" --host "unix://$sock" --config-file "$conf" \
    --data-root "$root" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    --init-path "$init" >/dev/null
  local i
  for ((i = 0; i < wait_s * 2; i++)); do
    if ping_engine; then
      echo "newer-engine: $("$prefix/usr/sbin/dockerd" --version) answering on $sock" \
        "(API floor ${min_api:-default}, containerd image store $store)"
      return 0
    fi
    sleep 0.5
  done
  echo "newer-engine: no answer on $sock after ${wait_s}s" >&2
  tail -n 20 "$run/dockerd.log" >&2
  return 1
}

stop ()
{
  local pid
  pid=$(cat "$run/dockerd.pid" 2>/dev/null) || { echo "newer-engine: $suite is not running"; return 0; }
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$prefix/usr/sbin/dockerd" ]; then
    echo "newer-engine: pid $pid is not $suite's dockerd"
    rm -f "$run/dockerd.pid"
    return 0
  fi
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || { echo "newer-engine: $suite stopped"; return 0; }
    sleep 0.5
  done
  echo "newer-engine: $suite's dockerd (pid $pid) still runs after 60 s" >&2
  return 1
}

case $cmd in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop ;;
  env) echo "DOCKER=$prefix/usr/bin/docker ENGINE_BIN=$prefix/usr/bin COMPOSE=$prefix/usr/bin/docker-compose" ;;
  *) usage ;;
esac
