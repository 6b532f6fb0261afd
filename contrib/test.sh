#!/bin/bash
# lympho — command 2: the full test suite on a fresh Debian 12 host.
#
#   sudo ./contrib/test.sh [tests/run-all.sh options]
#
# Installs what is missing, starts the Docker Engine when it is not running,
# then runs tests/run-all.sh: a sanitizer build (ASan + UBSan, -Werror) in
# build-asan/, the unit tests, the integration tests against the real engine
# and a short fuzzing run. The last line is "N passed, N failed, N skipped";
# the exit status is non-zero when anything failed.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "test: run as root (sudo $0): the tests drive the container engine" >&2
  exit 1
fi

"$src/contrib/deps.sh"
# The engine-restart test stops and starts the engine: only allowed when this
# script started the engine itself (nothing of the user's runs on it), or in CI.
if [ "$(curl -s --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping 2>/dev/null)" != OK ] \
   || [ "${CI:-}" = true ]; then
  export LYMPHO_TEST_ENGINE_RESTART=${LYMPHO_TEST_ENGINE_RESTART:-1}
fi
"$src/contrib/engine.sh"
exec "$src/tests/run-all.sh" "$@"
