#!/bin/bash
# lympho control socket bench (issue 11): what a peer that floods lines and
# never reads its replies costs lymphd's control module, at two flood sizes
# in the same run. The module is bounded when the growth at the larger
# flood is about that at the smaller (ratio near 1; target <= 1.5), not
# 16 times it. Prints numbers and the ratio; fails only on a broken run.
#
#   BUILD=build bench/control.sh      (or: make bench-control)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:?set BUILD to the build directory (libshim.a, config.h)}
tmp=$(mktemp -d /tmp/lympho-bench-control.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046 # pkg-config's flags split on purpose
cc -O2 -I"$build" -I"$here/../include" -o "$tmp/control-flood" "$here/control-flood.c" "$build/libshim.a" \
  $(pkg-config --libs yajl) || { echo "bench-control: cannot build control-flood" >&2; exit 1; }
small=$(timeout 60 "$tmp/control-flood" 262144) || exit 1
large=$(timeout 60 "$tmp/control-flood" 4194304) || exit 1
echo "lympho control bench: $(date -u +%FT%TZ)"
echo "  flood of 256 KiB of newlines: $small"
echo "  flood of 4 MiB of newlines:   $large"
awk -v s="${small##*growth_kib=}" -v l="${large##*growth_kib=}" 'BEGIN {
  r = (s > 0) ? l / s : 0
  printf "  growth 4 MiB / 256 KiB: %.2f (target <= 1.5: %s)\n", r, (s > 0 && r <= 1.5) ? "meets" : "misses" }'
