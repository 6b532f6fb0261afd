#!/bin/bash
# lympho — install the Debian packages needed to build, run and test lympho,
# only those missing. With package names as arguments, only those.
#
# Run as root on Debian 12. The package index is refreshed once, and only
# when something has to be installed, so a second run costs nothing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential autoconf automake libtool pkg-config
  libcurl4-openssl-dev libyajl-dev libcap-dev libnl-3-dev libnl-route-3-dev
  libmicrohttpd-dev nettle-dev
  # the exec guard's kernel judge (a BPF LSM program, compiled by clang)
  libbpf-dev
  # tests: unit tests, fuzzing (libFuzzer ships in libclang-rt)
  libcmocka-dev clang libclang-rt-dev
  # the engine, the demo and integration tests
  docker.io busybox-static iproute2 curl ca-certificates jq
  # the other runtimes of the conformance suite: Podman's Docker-compatible
  # service (on runc, as dockerd: contrib/podman.sh), containerd through the
  # plugin (python3), the fault injector; Podman's --init (catatonit)
  podman runc containerd python3 catatonit
  # the kernel judge's test in Debian's kernels (tests/kernel/run-vm.sh)
  qemu-system-x86 cpio
  # the fleet's bus between two nodes (tests/integration/test-fleet.sh runs
  # its own, on a port of its own)
  prometheus-alertmanager
)
if [ $# -gt 0 ]; then
  PACKAGES=("$@")
fi

installed ()
{
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
log=$(mktemp /tmp/lympho-apt.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
# No init system may be running: keep package scripts from trying to start
# services (the engine is started by contrib/engine.sh when needed).
if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! { apt-get update -q && apt-get install -y -q -o Dpkg::Use-Pty=0 "${missing[@]}"; } </dev/null >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "deps: apt-get failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "deps: installed ${#missing[@]} packages"
