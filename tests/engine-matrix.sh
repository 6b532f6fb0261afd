#!/bin/bash
# lympho — the engine matrix: the API negotiation and snapshot fidelity tests
# (test-engine-api, test-fidelity) and the conformance suite against Docker
# Engines newer than Debian 12's, each
# unpacked from one of Debian's newer suites into a private prefix
# (contrib/newer-engine.sh, never installed) and run in turn on the usual
# socket in place of the default engine, which is started again at the end.
#
#   LYMPHD=... LYMPHCTL=... tests/engine-matrix.sh [ENGINE...]
#
# ENGINE is SUITE[@MIN_API][+containerd-store]: "sid@1.44" is Docker 28.5
# with the API floor of Docker 29.0-29.2, "sid+containerd-store" the same
# with the containerd image store (Docker 29's default on new installs),
# where test-drift and test-quarantine run too. Default:
# $LYMPHO_TEST_ENGINES, else "sid@1.44 sid+containerd-store". Each engine's
# header line names its version, the API versions it serves and the one
# lymphd negotiates with it. PASS:/FAIL:/SKIP: lines
# are prefixed with the engine ("sid@1.44/test-engine-api/negotiated").
#
# It stops the engine that runs: only as root, and only where
# LYMPHO_TEST_ENGINE_RESTART=1 says nothing of a user's runs on it
# (contrib/test.sh sets it when it started the engine itself, and in CI).
# Exits 77 when it may not, 1 when something failed.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
read -r -a engines <<<"${*:-${LYMPHO_TEST_ENGINES:-sid@1.44 sid+containerd-store}}"
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

for eng in "${engines[@]}"; do
  suite=${eng%%[@+]*}
  min_api=
  [[ $eng == *@* ]] && { min_api=${eng#*@}; min_api=${min_api%%+*}; }
  args=()
  [ -n "$min_api" ] && args+=(--min-api "$min_api")
  [[ $eng == *+containerd-store ]] && args+=(--containerd-store)
  if ! bash "$src/contrib/newer-engine.sh" fetch "$suite" >/tmp/lympho-matrix-fetch.log 2>&1; then
    echo "FAIL: $eng/fetch: $(tail -n 1 /tmp/lympho-matrix-fetch.log)"
    rc=1
    continue
  fi
  default_down || { echo "FAIL: $eng/setup: the running engine does not stop"; rc=1; break; }
  if ! out=$(bash "$src/contrib/newer-engine.sh" start "$suite" "${args[@]}" 2>&1); then
    echo "FAIL: $eng/start: $(tail -n 1 <<<"$out")"
    rc=1
    continue
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
  for t in integration conformance; do
    case $t in
      integration) cmd=(bash "$src/tests/integration/run.sh" "${tests[@]}") ;;
      conformance) cmd=(bash "$src/tests/conformance/conformance.sh" docker) ;;
    esac
    DOCKER=$DOCKER DOCKER_API_VERSION= timeout -k 30s 20m "${cmd[@]}" 2>&1 |
      sed -u -E "s#^(PASS|FAIL|SKIP): #\1: $eng/#"
    st=${PIPESTATUS[0]}
    [ "$st" -eq 0 ] || [ "$st" -eq 77 ] || rc=1
  done
  bash "$src/contrib/newer-engine.sh" stop "$suite" || rc=1
done

# The default engine again, for whatever runs next.
bash "$src/contrib/engine.sh" >/dev/null || { echo "FAIL: engine-matrix/default-engine: does not start again"; rc=1; }
exit $rc
