#!/bin/bash
# lympho — command 1: set up and run the demo on a fresh Debian 12 host.
#
#   sudo ./contrib/setup.sh [--install]
#
# Installs what is missing (build dependencies, Docker Engine), builds lympho
# in build/, starts the engine when it is not running, builds the demo image
# locally, starts a demo web container labelled for protection with a 30 s TTL
# and runs lymphd in the foreground so you can watch it regenerate. Running it
# again replaces the demo container.
#
# --install  also `make install` and, when systemd runs, enable and start
#            lymphd.service instead of running lymphd in the foreground.
#
# Environment: LYMPHO_DEMO_PORT (host port of the demo, default 8080).
set -euo pipefail

usage ()
{
  sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'
}

install=no
for arg in "$@"; do
  case $arg in
    --install) install=yes ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (sudo $0)" >&2
  exit 1
fi

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build
docker=/usr/bin/docker
port=${LYMPHO_DEMO_PORT:-8080}
name=lympho-demo
image=lympho-demo:latest
state_dir=/var/lib/lympho
socket=/run/lympho/lymphd.sock

step () { printf '\n==> %s\n' "$*"; }

step "dependencies"
"$src/contrib/deps.sh"

step "build (in build/)"
cd "$src"
if [ ! -x configure ] || [ ! -f build-aux/install-sh ] || [ configure.ac -nt configure ]; then
  autoreconf -fi
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
  # Paths as INTERFACE.md fixes them (/etc/lympho, /var/lib/lympho,
  # /run/lympho); binaries go under /usr/local on `make install`.
  "$src/configure" --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var \
    --runstatedir=/run -q
fi
make -j"$(nproc)" -s
cd "$src"

step "container engine"
"$src/contrib/engine.sh"

step "demo image"
"$src/contrib/demo-image.sh" "$image"

step "demo container $name"
# Every generation lymphd creates copies the labels, so this label finds the
# demo's leftovers of any earlier run, whatever their names.
old=$("$docker" ps -aq --filter label=lympho-demo=1)
if [ -n "$old" ]; then
  # shellcheck disable=SC2086
  "$docker" rm -f $old >/dev/null
  echo "removed the earlier demo container(s)"
fi
# Its own network, with an alias, so the demo also shows that networks and
# aliases come back with every generation.
if ! "$docker" network inspect "$name" >/dev/null 2>&1; then
  "$docker" network create "$name" >/dev/null
fi
if ! "$docker" run -d --name "$name" \
  --network "$name" --network-alias web \
  --label lympho.enable=true \
  --label lympho.ttl=30s \
  --label lympho.drift.interval=5s \
  --label lympho-demo=1 \
  --publish "127.0.0.1:$port:80" \
  --health-cmd 'wget -q -O /dev/null http://127.0.0.1/ || exit 1' \
  --health-interval 5s --health-timeout 3s --health-retries 3 --health-start-period 2s \
  --restart unless-stopped \
  "$image" >/dev/null; then
  "$docker" rm -f "$name" >/dev/null 2>&1 || true
  echo "setup: the demo container did not start; if port $port is taken," \
    "choose another: LYMPHO_DEMO_PORT=8081 $0" >&2
  exit 1
fi
echo "started $name on http://localhost:$port/ (labels lympho.enable=true, lympho.ttl=30s)"

ctl=$build/lymphctl
if [ "$install" = yes ]; then
  step "install"
  make -C "$build" -s install
  if [ -d /run/systemd/system ]; then
    systemd-sysusers 2>/dev/null || true
    systemd-tmpfiles --create lympho.conf 2>/dev/null || true
    systemctl daemon-reload
    systemctl enable --now lymphd.service
    ctl=lymphctl
    cat <<MSG

lymphd runs as a systemd service. Follow it with:
  journalctl -fu lymphd
Then try:
  lymphctl ls
  curl -s localhost:$port
  lymphctl regen $name
MSG
    exit 0
  fi
  echo "systemd is not running here: installed, and running lymphd in the foreground"
  ctl=lymphctl
fi

if [ -S "$socket" ] && "$ctl" --socket "$socket" status >/dev/null 2>&1; then
  echo "setup: a lymphd already answers on $socket; stop it first (Ctrl-C in its terminal)" >&2
  exit 1
fi

install -d -m 0755 "$(dirname "$socket")"
install -d -m 0700 "$state_dir"

cat <<MSG

==> lymphd (foreground; Ctrl-C stops it, the containers keep running)
In another terminal, try:
  $ctl ls                        # the demo, its generation and next regeneration
  curl -s localhost:$port         # the page names the container serving it
  $ctl regen $name          # regenerate now; prints the new container id
  $ctl history $name        # what happened, newest first
  $docker exec $name sh -c 'echo planted > /www/planted.html'
                                  # a change in the writable layer: gone after the next generation
Every 30 s (TTL, with jitter) lymphd replaces $name with a fresh container
built from the golden snapshot taken at adoption.

MSG
exec "$build/lymphd" --state-dir "$state_dir" --socket "$socket" --log-level info
