#!/bin/bash
# lympho — the one test runner: a sanitizer build (ASan + UBSan, -Werror),
# the cmocka unit tests (`make check`), the integration tests against the
# real engine (`make integration`), the conformance suite against every
# runtime backend (tests/conformance; LYMPHO_TEST_BACKENDS, default "docker
# podman containerd"), the engine and kernel check programs, the engine
# matrix (tests/engine-matrix.sh; LYMPHO_TEST_ENGINES), and a short
# fuzzing run of every fuzz target (tests/fuzz/run.sh), then one closing
# line counting every test:
#
#   N passed, N failed, N skipped
#
# Counted: each cmocka test case (its "[ RUN ]" line and the result after
# it), each "PASS: name" / "FAIL: name" / "SKIP: name" line printed by
# tests/integration/run.sh, tests/conformance/conformance.sh and
# tests/fuzz/run.sh. A step that fails without
# naming a failed test (a build error, a crash before the first case, a leak
# report at exit, a timeout) counts as one failure of its own. Exits 1 when
# anything failed.
#
# Usage: tests/run-all.sh [--build-dir DIR] [--fuzz-seconds N]
#                         [--no-integration] [--no-fuzz]
# Needs the build dependencies (contrib/deps.sh) and, for the integration
# tests, a running engine (contrib/engine.sh); contrib/test.sh does both.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-asan
fuzz_seconds=10
do_integration=yes
do_fuzz=yes
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$(mkdir -p "$2" && cd "$2" && pwd); shift ;;
    --fuzz-seconds) fuzz_seconds=$2; shift ;;
    --no-integration) do_integration=no ;;
    --no-fuzz) do_fuzz=no ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-all: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

# Time limits per step, so that a hang still ends in a counted failure and a
# closing line, well inside CI's budget.
t_build=${LYMPHO_TIMEOUT_BUILD:-20m}
t_check=${LYMPHO_TIMEOUT_CHECK:-15m}
t_integration=${LYMPHO_TIMEOUT_INTEGRATION:-40m}
t_fuzz=${LYMPHO_TIMEOUT_FUZZ:-10m}
t_conformance=${LYMPHO_TIMEOUT_CONFORMANCE:-20m}
read -r -a backends <<<"${LYMPHO_TEST_BACKENDS:-docker podman containerd}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export DOCKER_API_VERSION=${DOCKER_API_VERSION:-1.41}

passed=0 failed=0 skipped=0
failures=()

fail () { failed=$((failed + 1)); failures+=("$1"); }
# Each section ends with the time it took, for whoever keeps CI's budget.
sec_name= sec_t0=$SECONDS
section_time () { [ -z "$sec_name" ] || printf '   (%s: %d s)\n' "$sec_name" $((SECONDS - sec_t0)); }
section () { section_time; sec_name=${1%% (*} sec_t0=$SECONDS; printf '\n== %s\n' "$*"; }

finish ()
{
  section_time
  sec_name=
  if [ ${#failures[@]} -gt 0 ]; then
    section "failed"
    printf '  %s\n' "${failures[@]}"
  fi
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit $?
}

# Each failed cmocka case of a log with its messages, one line each, for
# the summary at the end (a section's own output may be cut off where only
# the end of CI's output is kept).
cmocka_why ()
{
  awk '
    /^\[ RUN      \] / { name = $4; msg = "" }
    /^ERROR: |^\[  ERROR   \] |error: |runtime error: / {
      line = $0
      gsub(/\[  ERROR   \] --- |\[   LINE   \] --- /, "", line)
      if (length(msg) < 400) msg = msg (msg == "" ? "" : " | ") line
    }
    /^\[  FAILED  \] [^0-9]/ && !done[$4]++ { printf "\n     %s: %s", $4, substr(msg, 1, 600) }
  ' "$1"
}

# Count PASS:/FAIL:/SKIP: lines of a log; adds to the totals.
count_lines ()
{
  local what=$1 log=$2 p f s line
  p=$(grep -c -E '^PASS: ' "$log")
  f=$(grep -c -E '^FAIL: ' "$log")
  s=$(grep -c -E '^SKIP: ' "$log")
  passed=$((passed + p)) skipped=$((skipped + s))
  while IFS= read -r line; do
    fail "$what: ${line#FAIL: }"
  done < <(grep -E '^FAIL: ' "$log")
  printf '   %s: passed %d, failed %d, skipped %d\n' "$what" "$p" "$f" "$s"
  COUNTED_FAILS=$f
}

# ---------------------------------------------------------------- build
section "sanitizer build in ${build#"$src"/}"
mkdir -p "$build"
blog=$build/build.log
: > "$blog"
# shellcheck disable=SC2016 # expanded by the inner shell
SRC=$src BUILD=$build timeout -k 30s "$t_build" bash -ec '
  cd "$SRC"
  if [ ! -x configure ] || [ ! -f build-aux/install-sh ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi
  fi
  cd "$BUILD"
  if [ ! -f Makefile ] || [ "$SRC/configure" -nt config.status ]; then
    "$SRC/configure" --enable-sanitizers --enable-werror
  fi
  make -j"$(nproc)"
' >>"$blog" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
  grep -E 'error:' "$blog" | head -n 30
  tail -n 20 "$blog"
  if [ "$rc" -eq 124 ]; then
    fail "build timed out after $t_build (log: $blog)"
  else
    fail "build (log: $blog)"
  fi
  # Without a Makefile nothing can run; otherwise the unit tests may still
  # build on their own (they do not need lymphd), and say more than one line.
  [ -f "$build/Makefile" ] || finish
  built=no
else
  built=yes
  echo "   built: lymphd, lymphctl"
fi

# ---------------------------------------------------------------- unit
section "unit tests (make check)"
clog=$build/check.log
# Results of an earlier run must not be counted again.
find "$build" \( -name '*.trs' -o -name 'test-suite.log' \) -delete
# check-TESTS builds each test program through its log rule, without
# `all`: after a failed build the unit tests still run.
target=check
[ "$built" = yes ] || target="-k check-TESTS"
# shellcheck disable=SC2086
timeout -k 30s "$t_check" make -C "$build" -j"$(nproc)" $target >"$clog" 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR): ' "$clog" | sed 's/^/   /'
if [ "$rc" -eq 124 ]; then
  fail "make check timed out after $t_check"
fi
u_pass=0 u_fail=0 u_skip=0 n_trs=0
while IFS= read -r -d '' trs; do
  n_trs=$((n_trs + 1))
  log=${trs%.trs}.log
  prog=${trs#"$build"/}; prog=${prog%.trs}
  result=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
  # One result line after each "[ RUN ]" line; later lines (the summary
  # repeats names) are not counted. A case left without a result crashed.
  counts=$(awk '
    /^\[ RUN      \] / { if (pending) { print "CRASH " name }; pending = 1; name = substr ($0, 14); next }
    pending && /^\[       OK \] / { print "OK"; pending = 0; next }
    pending && /^\[  FAILED  \] / { print "FAIL " substr ($0, 14); pending = 0; next }
    pending && /^\[  SKIPPED \] / { print "SKIP"; pending = 0; next }
    pending && /^\[  ERROR   \] / && !/^\[  ERROR   \] --- / { print "FAIL " substr ($0, 14); pending = 0; next }
    END { if (pending) print "CRASH " name }
  ' "$log" 2>/dev/null)
  ok=$(grep -c '^OK' <<<"$counts")
  sk=$(grep -c '^SKIP' <<<"$counts")
  nf=0
  while IFS= read -r line; do
    case $line in
      FAIL\ *) fail "$prog: ${line#FAIL }"; nf=$((nf + 1)) ;;
      CRASH\ *) fail "$prog: ${line#CRASH } (crashed; see $log)"; nf=$((nf + 1)) ;;
    esac
  done <<<"$counts"
  case $result in
    FAIL|ERROR|XPASS)
      if [ $nf -eq 0 ]; then
        fail "$prog: exited with failure outside any test case (see $log)"
        nf=1
      fi ;;
  esac
  u_pass=$((u_pass + ok)) u_skip=$((u_skip + sk)) u_fail=$((u_fail + nf))
done < <(find "$build" -name '*.trs' -print0 | sort -z)
passed=$((passed + u_pass)) skipped=$((skipped + u_skip))
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ $u_fail -eq 0 ]; then
  grep -E 'error:' "$clog" | head -n 30
  tail -n 20 "$clog"
  fail "make check failed outside any test case (log: $clog)"
fi
printf '   unit: %d programs; passed %d, failed %d, skipped %d\n' "$n_trs" "$u_pass" "$u_fail" "$u_skip"

# Run one suite that prints PASS:/FAIL:/SKIP: lines, shown as it runs and
# counted from its log. A timeout, or an exit without a FAIL line, is a
# failure of its own; exit 77 means the suite could not run here (skipped).
# run_suite NAME LOG TIMEOUT CMD...
run_suite ()
{
  local what=$1 log=$2 limit=$3 rc
  shift 3
  timeout -k 30s "$limit" "$@" 2>&1 | tee "$log" | sed -u 's/^/   /'
  rc=${PIPESTATUS[0]}
  count_lines "$what" "$log"
  if [ "$rc" -eq 124 ]; then
    fail "$what timed out after $limit (log: $log)"
  elif [ "$rc" -eq 77 ]; then
    skipped=$((skipped + 1))
    echo "   $what: skipped itself ($(grep -E '^SKIP: ' "$log" | tail -n 1))"
  elif [ "$rc" -ne 0 ] && [ "$COUNTED_FAILS" -eq 0 ]; then
    fail "$what: exited $rc without a FAIL line (log: $log)"
  fi
}

# ---------------------------------------------------------------- kernel judge, started
# The exec guard's kernel judge (a BPF LSM program) in Debian's own kernels,
# booted under qemu (tests/kernel/run-vm.sh): this machine's kernel may
# refuse BTF-based programs, and users run each of these. It needs no
# engine, and its emulated CPU would take one core for minutes, so it runs
# beside the engine's tests at the lowest priority: on two cores they leave
# about one idle (measured: 44 % busy through four integration tests), and
# nice 19 gives the emulator only what they leave. Its section below waits
# for it and counts it.
# shellcheck disable=SC2206 # a list of names, split on purpose
kernel_suites=(${LYMPHO_TEST_KERNELS:-bookworm trixie sid})
kernel_pid=
klog=$build/kernel-judge.log
if [ "$built" = yes ]; then
  nice -n 19 timeout -k 30s "${LYMPHO_TIMEOUT_KERNELS:-25m}" \
    bash "$src/tests/kernel/run-vm.sh" "$build" "${kernel_suites[@]}" >"$klog" 2>&1 </dev/null &
  kernel_pid=$!
fi

# ---------------------------------------------------------------- integration
section "integration tests (make integration)"
if [ "$do_integration" = no ]; then
  echo "   not run (--no-integration)"
elif [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  run_suite integration "$build/integration.log" "$t_integration" make -C "$build" -s integration
fi

# ---------------------------------------------------------------- scale
# bench/scale.sh with 50 containers, correctness only (issue 21): past the
# engine's capacity nothing is lost or done twice, the cap holds, an alert
# goes ahead of the TTL backlog, and lymphd says once that the TTLs cannot
# be met. The 500-container figures are make bench-scale's, outside CI.
section "scale: 50 containers past the engine's capacity (bench/scale.sh, correctness only)"
if [ "$do_integration" = no ]; then
  echo "   not run (--no-integration)"
elif [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  run_suite scale "$build/scale.log" 15m \
    env LYMPHD="$build/lymphd" LYMPHCTL="$build/lymphctl" BENCH_SCALE_N=50 BENCH_SCALE_CHECK=1 bash "$src/bench/scale.sh"
fi

# ---------------------------------------------------------------- integration on Podman
# The black-box tests of what Podman does differently (run through
# run-podman.sh: lymphd --runtime podman, the podman CLI): healthchecks run
# by the backend, operator stops told from crashes, quarantine's pause and
# forensic commit, /changes with its mount-point directories, a snapshot
# that keeps the configuration but Podman's HOSTNAME, and the snapshot
# fidelity test (containers made by the docker CLI, as the users of
# Podman's Docker-compatible service make them). The rest of run.sh is
# engine-neutral and covered on Podman by the conformance suite below (the
# whole of it passes on Podman too: tests/integration/run-podman.sh).
# shellcheck disable=SC2206 # a list of names, split on purpose
podman_tests=(${LYMPHO_TEST_PODMAN:-test-health test-exits test-quarantine test-drift test-ttl test-fidelity})
section "integration on Podman (${podman_tests[*]})"
if [ "$do_integration" = no ]; then
  echo "   not run (--no-integration)"
elif [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  run_suite integration-podman "$build/integration-podman.log" "$t_integration" \
    env LYMPHD="$build/lymphd" LYMPHCTL="$build/lymphctl" bash "$src/tests/integration/run-podman.sh" "${podman_tests[@]}"
fi

# ---------------------------------------------------------------- conformance
# The same cases against every runtime backend (tests/conformance): Docker,
# Podman's Docker-compatible service, and containerd through the plugin.
section "conformance (${backends[*]})"
if [ "$do_integration" = no ]; then
  echo "   not run (--no-integration)"
elif [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  for be in "${backends[@]}"; do
    run_suite "conformance-$be" "$build/conformance-$be.log" "$t_conformance" \
      env LYMPHD="$build/lymphd" LYMPHCTL="$build/lymphctl" bash "$src/tests/conformance/conformance.sh" "$be"
  done
fi

# ---------------------------------------------------------------- kernel judge
# Started after the build, above; here its result is waited for and counted.
section "kernel judge in Debian's kernels (${kernel_suites[*]})"
if [ -z "$kernel_pid" ]; then
  echo "   not run: the build failed"
else
  wait "$kernel_pid"
  rc=$?
  sed 's/^/   /' "$klog"
  count_lines kernel-judge "$klog"
  if [ "$rc" -eq 124 ]; then
    fail "kernel-judge timed out after ${LYMPHO_TIMEOUT_KERNELS:-25m} (log: $klog)"
  elif [ "$rc" -ne 0 ] && [ "$COUNTED_FAILS" -eq 0 ]; then
    fail "kernel-judge: exited $rc without a FAIL line (log: $klog)"
  fi
fi

# ---------------------------------------------------------------- engine checks
# Programs that drive each backend and kernel interface against the real
# thing (the Docker backend's every operation, the netlink network cut, the
# exec-event watcher, the containerd plugin), and the CLI's usage checks.
# Each exits 77 when what it needs is not here. cmocka cases are counted one
# by one; a program without cases counts once.
section "engine and kernel checks"
if [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  # Podman's service for the runtime suite's second run (started by the
  # sections above already, unless they were skipped).
  podman_up=no
  bash "$src/contrib/podman.sh" >"$build/podman-up.log" 2>&1 && podman_up=yes
  for prog in tests/integration/runtime_docker tests/integration/runtime_docker@podman \
              tests/integration/quarantine_check \
              tests/integration/procwatch_check tests/integration/runtime_containerd \
              tests/unit/lymphctl-usage.sh; do
    name=${prog##*/}
    elog=$build/check-$name.log
    # PROG@podman: the same program, run against Podman's service.
    run_env=()
    if [ "${prog%@podman}" != "$prog" ]; then
      prog=${prog%@podman}
      if [ "$podman_up" = no ]; then
        skipped=$((skipped + 1))
        echo "   $name: skipped (no Podman service: $(tail -n 1 "$build/podman-up.log"))"
        continue
      fi
      run_env=(LYMPHO_TEST_RUNTIME=podman LYMPHO_TEST_ENDPOINT=unix:///run/podman/podman.sock)
    fi
    case $prog in
      *.sh) cmd=(bash "$src/$prog" "$build/lymphctl") ;;
      *)
        if ! make -C "$build" -s "$prog" >"$elog" 2>&1; then
          fail "$name: does not build (log: $elog)"
          continue
        fi
        cmd=(env "${run_env[@]}" "$build/$prog") ;;
    esac
    (cd "$build" && timeout -k 10s "$t_check" "${cmd[@]}") >"$elog" 2>&1
    rc=$?
    cases=$(grep -c '^\[       OK \] ' "$elog")
    nfail=$(grep -c '^\[  FAILED  \] [^0-9]' "$elog")
    if [ "$rc" -eq 77 ]; then
      skipped=$((skipped + 1))
      echo "   $name: skipped ($(tail -n 1 "$elog"))"
    elif [ "$rc" -eq 0 ]; then
      n=$((cases > 0 ? cases : 1))
      passed=$((passed + n))
      echo "   $name: passed $n"
    else
      passed=$((passed + cases))
      [ "$nfail" -gt 0 ] || nfail=1
      fail "$name: exit $rc, $nfail failed (log: $elog)$(cmocka_why "$elog")"
      failed=$((failed + nfail - 1))
      tail -n 15 "$elog" | sed 's/^/     /'
    fi
  done
fi

# ---------------------------------------------------------------- fuzz, started
# The fuzz targets need no engine: they run beside the engine matrix, which
# mostly waits on engines starting and containers being made, at the lowest
# priority, as the kernel judge does beside the integration tests (CI's
# budget: about 130 s off its wall time). Each target runs for its time by
# the clock, so a busy machine gives it fewer runs, not a longer section.
# Its section below waits for it and counts it.
fuzz_pid=
flog=$build/fuzz.log
if [ "$do_fuzz" = yes ] && [ -f "$src/tests/fuzz/run.sh" ]; then
  (cd "$src" && LYMPHO_SRCDIR=$src LYMPHO_BUILDDIR=$build \
     nice -n 19 timeout -k 30s "$t_fuzz" bash tests/fuzz/run.sh "$fuzz_seconds") >"$flog" 2>&1 </dev/null &
  fuzz_pid=$!
fi

# ---------------------------------------------------------------- engine matrix
# The engines of Debian 13 and sid, taken without installing anything
# (tests/engine-matrix.sh): Docker 26.1 and 28.5 (its API floor of 1.44, its
# containerd image store) in place of the default engine, with the API
# negotiation and snapshot fidelity tests, compose, and on the newest the
# conformance suite (the oldest has it above); Podman
# 5 in a container, with the fidelity test and the conformance suite;
# containerd 2 through the plugin, with the conformance suite.
section "engine matrix (${LYMPHO_TEST_ENGINES:-trixie sid@1.44 sid+containerd-store podman:trixie containerd:sid})"
if [ "$do_integration" = no ]; then
  echo "   not run (--no-integration)"
elif [ "$built" = no ]; then
  echo "   not run: the build failed"
else
  run_suite engine-matrix "$build/engine-matrix.log" "$t_integration" \
    env LYMPHD="$build/lymphd" LYMPHCTL="$build/lymphctl" bash "$src/tests/engine-matrix.sh"
fi

# ---------------------------------------------------------------- fuzz
section "fuzzing (${fuzz_seconds}s per target)"
if [ "$do_fuzz" = no ]; then
  echo "   not run (--no-fuzz)"
elif [ ! -f "$src/tests/fuzz/run.sh" ]; then
  echo "   tests/fuzz/run.sh is not there yet"
else
  wait "$fuzz_pid"
  rc=$?
  sed 's/^/   /' "$flog"
  if grep -qE '^(PASS|FAIL|SKIP): ' "$flog"; then
    count_lines fuzz "$flog"
  else
    # run.sh's own lines: "fuzz: fuzz_NAME for Ns", "fuzz: fuzz_NAME FAILED",
    # "fuzz: building fuzz_NAME failed". One test per target.
    f_run=$(grep -cE '^fuzz: fuzz_[A-Za-z0-9_]+ for ' "$flog")
    f_bad=0
    while IFS= read -r t; do
      fail "fuzz: $t"
      f_bad=$((f_bad + 1))
    done < <(sed -nE 's/^fuzz: (fuzz_[A-Za-z0-9_]+) FAILED.*/\1 crashed/p; s/^fuzz: building (fuzz_[A-Za-z0-9_]+) failed.*/\1 did not build/p' "$flog")
    f_runbad=$(grep -cE '^fuzz: fuzz_[A-Za-z0-9_]+ FAILED' "$flog")
    passed=$((passed + f_run - f_runbad))
    printf '   fuzz: passed %d, failed %d, skipped 0\n' "$((f_run - f_runbad))" "$f_bad"
    COUNTED_FAILS=$f_bad
  fi
  if [ "$rc" -eq 77 ]; then
    skipped=$((skipped + 1))
    echo "   fuzzing skipped itself (no clang?)"
  elif [ "$rc" -eq 124 ]; then
    fail "fuzz timed out after $t_fuzz"
  elif [ "$rc" -ne 0 ] && [ "$COUNTED_FAILS" -eq 0 ]; then
    fail "fuzz: run.sh exited $rc without a FAIL line (log: $flog)"
  fi
fi

finish
