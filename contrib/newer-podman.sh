#!/bin/bash
# lympho — run Podman 5 (Debian 13's) on a Debian 12 host, for the engine
# matrix, without installing it. Its binaries need a newer glibc than
# Debian 12's, so they cannot run from an unpacked prefix as the newer
# Docker Engines do (contrib/newer-engine.sh): the suite is bootstrapped
# into a root filesystem once, imported as an image into the default
# engine, and Podman's Docker-compatible service runs in a container of
# it that shares the host's pids and network. Its containers are then
# the host's processes as any engine's (State.Pid is a host pid,
# /proc/PID/root is readable), and lymphd reaches the service on a socket
# in a host folder.
#
#   contrib/newer-podman.sh fetch SUITE     bootstrap and import (once)
#   contrib/newer-podman.sh start SUITE     start the service, wait for it
#   contrib/newer-podman.sh restart SUITE   stop and start it: its
#                                           containers die, as at a reboot
#   contrib/newer-podman.sh stop SUITE      remove the container, its
#                                           storage and its firewall rules
#   contrib/newer-podman.sh sock SUITE      the socket's path
#   contrib/newer-podman.sh cli SUITE ARGS  podman ARGS in that container
#
# SUITE: trixie (Podman 5.4) or sid. Needs root, the default engine
# answering on its socket (contrib/engine.sh), and debootstrap (installed
# from Debian 12 when missing). The mirror is the system's own.
#
# How it runs (../shared knowledge, checked on these machines): the
# container cannot be --privileged (CAP_SYS_RESOURCE is not in the
# bounding set here), so it gets every other capability, no seccomp or
# AppArmor profile, unmasked system paths and every device; its entry
# remounts /sys and the cgroup mounts read-write. containers.conf: runc
# (crun refuses this host's hybrid cgroups, as contrib/podman.sh says), the
# ulimits runc needs here, cgroupfs, events in a file, and netavark's
# iptables driver (its nftables one is not there, and Docker's FORWARD
# policy would drop its traffic). The host's /tmp is its /tmp: a test's
# bind mounts (folders under /tmp) are found at the same paths.
#
# Environment: LYMPHO_ENGINES_DIR (default /var/cache/lympho/engines),
#              LYMPHO_ENGINE_WAIT seconds (default 60).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${LYMPHO_ENGINES_DIR:-/var/cache/lympho/engines}
wait_s=${LYMPHO_ENGINE_WAIT:-60}
docker=/usr/bin/docker
export DOCKER_API_VERSION=${DOCKER_API_VERSION:-1.41}

usage () { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 suite=$2
shift 2
case $suite in trixie | sid) ;; *) echo "newer-podman: unknown suite $suite (trixie or sid)" >&2; exit 2 ;; esac
top=$dir/podman-$suite
image=lympho-podman:$suite
name=lympho-podman-$suite
volume=lympho-podman-$suite
rundir=/run/lympho-podman-$suite
sock=$rundir/podman.sock

ping_podman ()
{
  [ -S "$sock" ] && [ "$(curl -s --max-time 5 --unix-socket "$sock" http://podman/_ping 2>/dev/null)" = OK ]
}

# Wait until the service answers, while its container runs. WHEN names
# the moment in the failure's words.
await () # WHEN
{
  local i
  for ((i = 0; i < wait_s * 2; i++)); do
    ping_podman && return 0
    [ "$("$docker" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
    sleep 0.5
  done
  echo "newer-podman: no answer on $sock$1" >&2
  "$docker" logs --tail 20 "$name" >&2 2>&1 || true
  return 1
}

fetch ()
{
  if "$docker" image inspect "$image" >/dev/null 2>&1; then
    echo "newer-podman: $image is there"
    return 0
  fi
  command -v debootstrap >/dev/null || "$here/deps.sh" debootstrap >&2
  local root=$top/root tar=$top/root.tar
  if [ ! -s "$tar" ]; then
    local m
    m=$("$here/debian-mirror.sh")
    # A folder of its own with nothing mounted under it: debootstrap
    # mounts nothing with --variant=minbase into a folder it only fills.
    rm -rf "$root"
    mkdir -p "$root"
    echo "newer-podman: bootstrapping $suite's podman into $root (a few minutes)"
    debootstrap --variant=minbase \
      --include=podman,crun,runc,conmon,netavark,aardvark-dns,fuse-overlayfs,ca-certificates,iptables,catatonit \
      "$suite" "$root" "$m" >"$top/debootstrap.log" 2>&1 ||
      { tail -n 5 "$top/debootstrap.log" >&2; return 1; }
    tar -C "$root" -cf "$tar.new" .
    mv "$tar.new" "$tar"
    rm -rf "$root"
  fi
  "$docker" import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$image" >/dev/null
  echo "newer-podman: $image imported"
}

start ()
{
  fetch
  if ping_podman; then
    echo "newer-podman: $suite's service answers on $sock already"
    return 0
  fi
  "$docker" rm -f "$name" >/dev/null 2>&1 || true
  mkdir -p "$rundir"
  rm -f "$sock"
  # What the host's firewall has of netavark's before this one adds its own.
  { netavark_rules; command -v nft >/dev/null && nft list table inet netavark >/dev/null 2>&1 && echo 'nft netavark'; } \
    >"$rundir/firewall.before" || true
  cat >"$rundir/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
firewall_driver = "iptables"
EOF
  # Podman's service, with /sys and the cgroup mounts writable (a mount
  # that cannot be remounted, a controller bound twice, is said and left).
  cat >"$rundir/entry" <<'EOF'
#!/bin/sh
mount -o remount,rw /sys || exit 1
awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | while read -r m; do
  # Read-only per mount (a bind): only a bind remount clears that.
  mount -o remount,bind,rw "$m" 2>/dev/null || mount -o remount,rw "$m" || echo "entry: $m stays read-only"
done
exec podman system service --time=0 "unix://$1"
EOF
  chmod 755 "$rundir/entry"
  "$docker" run -d --name "$name" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
    --pid host --network host \
    -v "$volume:/var/lib/containers" --tmpfs /run -v /tmp:/tmp \
    -v "$rundir:$rundir" -v "$rundir/containers.conf:/etc/containers/containers.conf:ro" \
    "$image" "$rundir/entry" "$sock" >/dev/null
  await "" || return 1
  echo "newer-podman: $(cli podman --version) answering on $sock"
}

# netavark's part of the host's firewall: its chains and every rule that
# names one, "TABLE RULE" per line (as iptables -S prints it).
netavark_rules ()
{
  local t
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | awk -v t="$t" '/NETAVARK/ { print t, $0 }'
  done
}

# What netavark leaves in the host's firewall once its containers are
# gone, but what was there before this Podman started (a Podman of the
# host's own, on netavark too, keeps its part): the rules it added, then
# the chains it added.
firewall_clean ()
{
  local before=$rundir/firewall.before added t rule
  [ -f "$before" ] || return 0
  added=$(netavark_rules | grep -vxF -f "$before")
  while read -r t rule; do
    case $rule in
      # iptables -S quotes a rule's words as a shell would read them.
      -A\ *) eval "iptables -t $t ${rule/-A /-D }" 2>/dev/null || true ;;
    esac
  done <<<"$added"
  while read -r t rule; do
    case $rule in -N\ *) iptables -t "$t" -F "${rule#-N }" 2>/dev/null || true ;; esac
  done <<<"$added"
  while read -r t rule; do
    case $rule in -N\ *) iptables -t "$t" -X "${rule#-N }" 2>/dev/null || true ;; esac
  done <<<"$added"
  if command -v nft >/dev/null && ! grep -qx 'nft netavark' "$before"; then
    nft delete table inet netavark 2>/dev/null || true
  fi
  rm -f "$before"
}

stop ()
{
  "$docker" rm -f "$name" >/dev/null 2>&1 || true
  "$docker" volume rm -f "$volume" >/dev/null 2>&1 || true
  firewall_clean
  rm -f "$sock"
  echo "newer-podman: $suite stopped"
}

# The engine restarts: the container stops (every process in it, the
# containers it runs among them: it shares the host's pids, so the engine
# kills them all) and starts again on the same storage.
restart ()
{
  "$docker" stop -t 10 "$name" >/dev/null
  rm -f "$sock"
  "$docker" start "$name" >/dev/null
  await " after a restart"
}

cli ()
{
  # stdin only where a command reads it (an image from a tar).
  local i=()
  case " $* " in *" import "* | *" load "*) i=(-i) ;; esac
  exec "$docker" exec "${i[@]}" "$name" "$@"
}

case $cmd in
  fetch) fetch ;;
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  sock) echo "$sock" ;;
  cli) cli podman "$@" ;;
  *) usage ;;
esac
