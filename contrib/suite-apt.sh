#!/bin/bash
# lympho — a private APT for one Debian suite, from the system's own mirror
# (debian-mirror.sh), for the scripts that take packages from Debian's
# other suites without installing them (newer-engine.sh: engines;
# tests/kernel/run-vm.sh: kernels).
#
#   contrib/suite-apt.sh DIR SUITE
#
# Writes DIR/sources.list, DIR/lists, DIR/cache and DIR/apt.conf, then
# updates the lists (log: DIR/apt.log). Nothing of the system's APT is
# written or locked, so it may run beside an install of the system's own.
# Afterwards `APT_CONFIG=DIR/apt.conf apt-get download PKG` and `apt-cache`
# see that suite alone. Exits 1, with the log's tail, when the lists cannot
# be had.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: suite-apt.sh DIR SUITE" >&2; exit 2; }
d=$1 suite=$2
m=$("$(dirname "$0")/debian-mirror.sh")
mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $m $suite main" >"$d/sources.list"
cat >"$d/apt.conf" <<CONF
quiet "1";
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "/nonexistent";
Dir::State::Lists "$d/lists";
Dir::Cache "$d/cache";
Debug::NoLocking "1";
APT::Sandbox::User "root";
CONF
APT_CONFIG=$d/apt.conf apt-get update >"$d/apt.log" 2>&1 || { tail -n 5 "$d/apt.log" >&2; exit 1; }
