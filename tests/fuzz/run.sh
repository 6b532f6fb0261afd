#!/bin/sh
# lympho — build the parser fuzz targets with libFuzzer, ASan and
# UBSan straight from the sources (no autotools needed), seed each from the
# recorded payloads in tests/data, and run each for SECONDS.
#
#   tests/fuzz/run.sh [SECONDS]      (default 10; `make fuzz` uses 60)
#
# Environment: CLANG (default clang), FUZZ_DIR (work dir; default a fresh
# /tmp dir, kept so a crash's input can be replayed: ./fuzz_NAME crash-...).
# Exit status: 0 clean, 1 a target crashed or failed to build, 77 no clang.
set -u

secs=${1:-10}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CLANG:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found, skipping" >&2
  exit 77
fi
work=${FUZZ_DIR:-$(mktemp -d /tmp/lympho-fuzz.XXXXXX)}
mkdir -p "$work"

# The parsers need only what configure would say about the platform.
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n#define SYSCONFDIR "/etc"\n' >"$work/config.h"

yajl_cflags=$(pkg-config --cflags yajl 2>/dev/null || true)
yajl_libs=$(pkg-config --libs yajl 2>/dev/null || echo -lyajl)
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

status=0
for t in generic alertmanager falco plugin control labels config inspect answer http; do
  bin=$work/fuzz_$t
  # What each target parses with, beside json.c, util.c and error.c.
  case $t in
    plugin) parser="$src/runtime/exec-proto.c $src/runtime/runtime.c" ;;
    control) parser="$src/shim/proto.c" ;;
    labels) parser="$src/shim/labels.c $src/shim/allow.c $src/runtime/runtime.c" ;;
    inspect) parser="$src/runtime/docker-spec.c $src/runtime/docker-plan.c $src/runtime/docker-version.c $src/runtime/runtime.c" ;;
    config) parser="$src/shim/config.c $src/shim/labels.c $src/shim/allow.c $src/runtime/runtime.c $src/shim/log.c" ;;
    answer) parser="$src/shim/parser.c $src/shim/alerts.c $src/shim/privs.c $src/shim/log.c -lcap" ;;
    http) parser="$src/shim/http-parse.c" ;;
    *) parser="$src/shim/alerts.c" ;;
  esac
  # shellcheck disable=SC2086 # flag and file lists are meant to split
  if ! "$cc" $flags -I"$work" -I"$src/include" -I"$src" $yajl_cflags -o "$bin" \
    "$src/tests/fuzz/fuzz_$t.c" $parser "$src/shim/json.c" "$src/shim/util.c" \
    "$src/shim/error.c" $yajl_libs; then
    echo "fuzz: building fuzz_$t failed" >&2
    status=1
    continue
  fi
  corpus=$work/corpus_$t
  seeds=$work/seeds_$t
  mkdir -p "$corpus" "$seeds"
  cp "$src"/tests/data/"$t"-* "$seeds"/ 2>/dev/null || true
  echo "fuzz: fuzz_$t for ${secs}s (seeds: $(ls "$seeds" | wc -l))"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/$t-" -print_final_stats=1 "$corpus" "$seeds" >"$work/$t.log" 2>&1; then
    echo "fuzz: fuzz_$t FAILED; see $work/$t.log and $work/$t-*" >&2
    tail -40 "$work/$t.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units' "$work/$t.log" | sed "s/^/fuzz: fuzz_$t /"
  fi
done
[ $status -eq 0 ] && echo "fuzz: all targets clean ($work)"
exit $status
