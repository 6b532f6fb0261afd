#!/bin/bash
# lympho — the engine matrix: the engines users run today, newer than
# Debian 12's, each taken from one of Debian's newer suites without
# installing it, and run in turn:
#
#   SUITE[@MIN_API][+containerd-store]
#       that suite's Docker Engine (contrib/newer-engine.sh: unpacked into a
#       private prefix, run on the usual socket in place of the default
#       engine, which is started again at the end): the API negotiation and
#       snapshot fidelity tests (test-engine-api, test-fidelity), the suite's
#       own docker compose against it (test-compose) and, on the engines
#       named in $LYMPHO_MATRIX_CONFORMANCE (default "sid@1.44"), the
#       conformance suite. It runs on the oldest engine (Docker 20.10, in
#       the default pass) and the newest (28.5, the newest API lymphd
#       speaks) only, for CI's time: trixie's 26.1 is negotiated and
#       snapshotted by test-engine-api and test-fidelity, and what the
#       containerd image store changes (images: pins, commits, the writable
#       layer's changes) is run there by test-drift and test-quarantine.
#       "trixie" is Docker 26.1 (Debian 13's), "sid@1.44"
#       Docker 28.5 with the API floor of Docker 29.0-29.2,
#       "sid+containerd-store" the same with the containerd image store
#       (Docker 29's default on new installs), where test-drift and
#       test-quarantine run too.
#   podman:SUITE
#       that suite's Podman 5 (contrib/newer-podman.sh: its service in a
#       container of the default engine, sharing the host's pids and
#       network): the snapshot fidelity test and the conformance suite,
#       lymphd --runtime podman.
#   containerd:SUITE
#       that suite's containerd (from the same prefix as its Docker), driven
#       through the plugin contrib/runtimes/lympho-containerd: the
#       conformance suite.
#
#   LYMPHD=... LYMPHCTL=... tests/engine-matrix.sh [ENGINE...]
#
# Default: $LYMPHO_TEST_ENGINES, else the whole list above ("trixie
# sid@1.44 sid+containerd-store podman:trixie containerd:sid"). Each
# engine's header line names its version and, for a Docker API, the
# versions it serves and the one lymphd negotiates with it. PASS:/FAIL:/SKIP:
# lines are prefixed with the engine ("sid@1.44/test-engine-api/negotiated").
#
# It stops the engine that runs: only as root, and only where
# LYMPHO_TEST_ENGINE_RESTART=1 says nothing of a user's runs on it
# (contrib/test.sh sets it when it started the engine itself, and in CI).
# Exits 77 when it may not, 1 when something failed.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
read -r -a engines <<<"${*:-${LYMPHO_TEST_ENGINES:-trixie sid@1.44 sid+containerd-store podman:trixie containerd:sid}}"
sock=/var/run/docker.sock

if [ "$(id -u)" -ne 0 ] || [ "${LYMPHO_TEST_ENGINE_RESTART:-0}" != 1 ]; then
  echo "SKIP: engine-matrix: needs root and LYMPHO_TEST_ENGINE_RESTART=1 (it stops the running engine)"
  exit 77
fi
: "${LYMPHD:?}" "${LYMPHCTL:?}"

rc=0
default_down ()
{
  local pid
  pid=$(pgrep -xo dockerd) || return 0
  kill -TERM "$pid"
  for ((i = 0; i < 120; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "engine-matrix: dockerd $pid does not stop" >&2
  return 1
}

# What lymphd negotiates with the engine that answers, from lymphctl status.
negotiated ()
{
  local d
  d=$(mktemp -d /tmp/lympho-matrix-XXXXXX)
  DOCKER_API_VERSION= "$LYMPHD" --config /dev/null --socket "$d/s" --state-dir "$d/state" --listen none \
    >"$d/log" 2>&1 &
  local pid=$! v=
  for ((i = 0; i < 50; i++)); do
    v=$("$LYMPHCTL" --socket "$d/s" --json status 2>/dev/null | jq -r '.api_version // .engine_problem // empty')
    [ -n "$v" ] && break
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$d"
  printf '%s' "${v:-unknown}"
}

# Run one suite for engine $1, its lines prefixed with the engine's name.
# suite ENGINE CMD...
suite ()
{
  local eng=$1 st
  shift
  DOCKER_API_VERSION= timeout -k 30s 20m "$@" 2>&1 | sed -u -E "s#^(PASS|FAIL|SKIP): #\1: $eng/#"
  st=${PIPESTATUS[0]}
  [ "$st" -eq 0 ] || [ "$st" -eq 77 ] || rc=1
}

# The suite's packages, once; a failure is the engine's failure.
fetch () # ENGINE SCRIPT SUITE
{
  local log=/tmp/lympho-matrix-fetch.log
  bash "$2" fetch "$3" >"$log" 2>&1 && return 0
  echo "FAIL: $1/fetch: $(tail -n 1 "$log")"
  rc=1
  return 1
}

docker_engine () # ENGINE
{
  local eng=$1 suite min_api= args=() out ver tests COMPOSE=
  suite=${eng%%[@+]*}
  [[ $eng == *@* ]] && { min_api=${eng#*@}; min_api=${min_api%%+*}; }
  [ -n "$min_api" ] && args+=(--min-api "$min_api")
  [[ $eng == *+containerd-store ]] && args+=(--containerd-store)
  fetch "$eng" "$src/contrib/newer-engine.sh" "$suite" || return 0
  default_down || { echo "FAIL: $eng/setup: the running engine does not stop"; rc=1; return 1; }
  if ! out=$(bash "$src/contrib/newer-engine.sh" start "$suite" "${args[@]}" 2>&1); then
    echo "FAIL: $eng/start: $(tail -n 1 <<<"$out")"
    rc=1
    return 0
  fi
  eval "$(bash "$src/contrib/newer-engine.sh" env "$suite")"
  ver=$(curl -s --max-time 5 --unix-socket "$sock" http://engine/version |
    jq -r '"Docker Engine \(.Version), API \(.MinAPIVersion) to \(.ApiVersion)"')
  echo "== engine $eng: $ver; lymphd speaks $(negotiated)"
  # The tests' docker CLI is the engine's own (the system's 20.10 CLI
  # speaks 1.41 at most), and it negotiates by itself.
  # The containerd image store keeps images apart from the graph driver's:
  # what lympho does with images (pin tags, commit for forensics, the
  # writable layer's changes for drift) is run there too.
  tests=(test-engine-api test-fidelity)
  [[ $eng == *+containerd-store ]] && tests+=(test-drift test-quarantine)
  # The suite's own docker compose (2.26 with trixie's Docker 26.1, 2.40
  # with sid's 28.5), where the image store is the graph driver's.
  [[ $eng != *+containerd-store ]] && tests+=(test-compose)
  DOCKER=$DOCKER COMPOSE=$COMPOSE suite "$eng" bash "$src/tests/integration/run.sh" "${tests[@]}"
  if [[ " ${LYMPHO_MATRIX_CONFORMANCE:-sid@1.44} " == *" $eng "* ]]; then
    DOCKER=$DOCKER suite "$eng" bash "$src/tests/conformance/conformance.sh" docker
  fi
  bash "$src/contrib/newer-engine.sh" stop "$suite" || rc=1
}

# Podman runs in a container of the default engine.
podman_engine () # ENGINE
{
  local eng=$1 suite=${1#podman:} out ver
  default_up || return 0
  fetch "$eng" "$src/contrib/newer-podman.sh" "$suite" || return 0
  if ! out=$(bash "$src/contrib/newer-podman.sh" start "$suite" 2>&1); then
    echo "FAIL: $eng/start: $(tail -n 1 <<<"$out")"
    rc=1
    return 0
  fi
  ver=$(curl -s --max-time 5 --unix-socket "$(bash "$src/contrib/newer-podman.sh" sock "$suite")" http://podman/version |
    jq -r '"Podman \(.Version), compatible API \(.MinAPIVersion) to \(.ApiVersion)"')
  echo "== engine $eng: $ver (in a container of the default engine)"
  LYMPHO_PODMAN_SUITE=$suite suite "$eng" bash "$src/tests/integration/run-podman.sh" test-fidelity
  LYMPHO_PODMAN_SUITE=$suite suite "$eng" bash "$src/tests/conformance/conformance.sh" podman
  bash "$src/contrib/newer-podman.sh" stop "$suite" || rc=1
}

# containerd comes with the suite's Docker Engine: the same prefix.
containerd_engine () # ENGINE
{
  local eng=$1 suite=${1#containerd:} DOCKER ENGINE_BIN
  fetch "$eng" "$src/contrib/newer-engine.sh" "$suite" || return 0
  eval "$(bash "$src/contrib/newer-engine.sh" env "$suite")"
  echo "== engine $eng: $("$ENGINE_BIN/containerd" --version | awk '{ print "containerd", $3 }'), through the plugin"
  PATH="$ENGINE_BIN:$PATH" suite "$eng" bash "$src/tests/conformance/conformance.sh" containerd
}

default_up ()
{
  bash "$src/contrib/engine.sh" >/dev/null && return 0
  echo "FAIL: engine-matrix/default-engine: does not start again"
  rc=1
  return 1
}

for eng in "${engines[@]}"; do
  t0=$SECONDS
  case $eng in
    podman:*) podman_engine "$eng" ;;
    containerd:*) containerd_engine "$eng" ;;
    *) docker_engine "$eng" || break ;;
  esac
  echo "== engine $eng: $((SECONDS - t0)) s"
done

# The default engine again, for whatever runs next.
default_up
exit $rc
