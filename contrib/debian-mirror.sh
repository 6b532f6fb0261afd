#!/bin/bash
# lympho — print the first Debian mirror of the system's own APT sources
# (deb822 .sources first, then one-line .list files; security mirrors
# left out), for the scripts that take packages from Debian's newer suites
# (newer-engine.sh, newer-podman.sh). Exits 1 when there is none.
set -euo pipefail
m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)
[ -n "$m" ] || m=$(awk '$1 == "deb" && $2 !~ /security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)
[ -n "$m" ] || { echo "no Debian mirror in the system's APT sources" >&2; exit 1; }
printf '%s\n' "$m"
