#!/bin/bash
# lympho — the conformance suite: one set of cases, written once, run against
# every runtime backend. Each backend has a driver, backend-NAME.sh, that says
# how to reach the engine, start a container, read what the engine itself
# reports, restart the engine and put a faulty runtime in front of it (the
# interface is at the top of backend-docker.sh). Everything is asserted on
# what the engine reports, not on what lymphd says.
#
#   LYMPHD=... LYMPHCTL=... tests/conformance/conformance.sh BACKEND [CASE...]
#
# Cases: adopt, regen, ttl, crash-recovery, engine-restart, bad-runtime, exit.
# Prints PASS:/FAIL:/SKIP: lines (conformance/BACKEND/CASE); exits 77 when
# the backend cannot come up here, 1 when a case failed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

CF_BACKEND=${1:?usage: conformance.sh BACKEND [CASE...]}
shift
CF_DIR=$(cd "$(dirname "$0")" && pwd)
[ -f "$CF_DIR/backend-$CF_BACKEND.sh" ] || { echo "conformance: no driver backend-$CF_BACKEND.sh" >&2; exit 2; }

LYT_TEST="test-cf-$CF_BACKEND"
LYT_RUN=${LYT_RUN:-cf$$}
# shellcheck source=../integration/lib.sh
. "$CF_DIR/../integration/lib.sh"
LYT_TEST="conformance/$CF_BACKEND"
CF_PFX=$LYT_PFX
CF_TMP=$LYT_TMP
CF_FAULT=$CF_TMP/fault
: >"$CF_FAULT"
BE_LYMPHD_ARGS=()
BE_LYMPHD_ENV=()
BE_FAULT_LYMPHD_ARGS=()
BE_FAULT_LYMPHD_ENV=()
BE_IMAGE=
CF_FAULTY=0
# shellcheck source=backend-docker.sh
. "$CF_DIR/backend-$CF_BACKEND.sh"

# How long one regeneration may take on this backend (the plugin over ctr
# is slow), and how long a hanging call lasts before the runtime gives up.
CF_REGEN_S=${CF_REGEN_S:-60}

cf_cleanup ()
{
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${LYT_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  [ "$CF_FAULTY" = 1 ] && be_fault_off
  be_down
  lyt_tmp_done "$rc"
  exit "$rc"
}
trap cf_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_cmd jq jq || { echo "FAIL: $LYT_TEST: setup: jq missing"; exit 1; }
lyt_bins || { echo "FAIL: $LYT_TEST: setup: binaries not found"; exit 1; }
if ! be_up; then
  echo "SKIP: $LYT_TEST: the $CF_BACKEND runtime cannot run here"
  exit 77
fi
LYMPHD_REAL=$(readlink -f "$LYMPHD")

# lymphd goes through a wrapper adding the backend's options and environment
# (or the fault injector's, once it is on). Its options come after the
# test's own, so that its --docker-host is the one that counts.
cf_wrap ()
{
  local -n args=$1 envs=$2
  {
    echo '#!/bin/sh'
    printf 'exec env'
    [ ${#envs[@]} -eq 0 ] || printf ' %q' "${envs[@]}"
    printf ' %q "$@"' "$LYMPHD_REAL"
    printf ' %q' "${args[@]}"
    echo
  } >"$CF_TMP/lymphd"
  chmod 755 "$CF_TMP/lymphd"
  LYMPHD=$CF_TMP/lymphd
}
cf_wrap BE_LYMPHD_ARGS BE_LYMPHD_ENV
# Short retries: the bad-runtime case waits for one after the fault ends.
printf 'backoff-min = 2s\nbackoff-max = 10s\n' >"$LYT_CONFIG"

# ---------------------------------------------------------------- engine view

# What the engine reports for the containers of NAME: its own and lymphd's
# temporaries for it (their names start with NAME-lympho-).
family () # NAME -> lines of be_ps
{
  be_ps | awk -F '\t' -v n="$1" '$1 == n || index($1, n "-lympho-") == 1'
}
holder () # NAME FIELD(2 id, 3 state, 4 image, 5 generation)
{
  be_ps | awk -F '\t' -v n="$1" -v f="$2" '$1 == n { print $f }'
}
# Exactly one container for NAME, running under the name, from IMAGE_ID.
settled () # NAME IMAGE_ID
{
  local lines
  lines=$(family "$1")
  [ "$(printf '%s\n' "$lines" | grep -c .)" = 1 ] || return 1
  [ "$(printf '%s' "$lines" | cut -f1)" = "$1" ] &&
    [ "$(printf '%s' "$lines" | cut -f3)" = running ] &&
    [ "$(printf '%s' "$lines" | cut -f4)" = "$2" ]
}
assert_settled () # NAME IMAGE_ID WAIT_S WHAT
{
  if wait_for "settled '$1' '$2'" "$3"; then
    ok "$4: one generation runs under $1, from the pinned image"
  else
    _afail "$4: not exactly one running generation of $1 from $2 after $3 s: $(family "$1" | tr '\t\n' ' |')"
  fi
}

# The log lines lymphd wrote since mark_log.
mark_log () { CF_MARK=$(wc -l <"$LYMPHD_LOG"); }
log_since () { tail -n +"$((CF_MARK + 1))" "$LYMPHD_LOG"; }
# log_has PATTERN: a line since the mark matches (grep -q is not fed through
# a pipe: under pipefail its early exit would fail the writer with SIGPIPE).
log_has () { grep -q -- "$1" < <(log_since); }

cf_want () # CASE: whether to run it
{
  [ ${#CF_CASES[@]} -eq 0 ] && return 0
  local c
  for c in "${CF_CASES[@]}"; do [ "$c" = "$1" ] && return 0; done
  return 1
}
CF_CASES=("$@")

A=${CF_PFX}a
IMG=$(be_image_id "$BE_IMAGE")
[ -n "$IMG" ] || die "image id of $BE_IMAGE"
be_run "$A" lympho.enable=true lympho.ttl=1h lympho.strategy=replace || die "start $A"
lymphd_start || die "lymphd does not start on $CF_BACKEND"

# ---------------------------------------------------------------- adopt
if cf_want adopt; then
  case_begin adopt
  assert_true "lymphctl ls lists $A" wait_for "in_ls '$A'" 30
  assert_eq running "$(holder "$A" 3)" "$A runs"
  assert_eq "$(holder "$A" 2)" "$(ls_field "$A" id)" "lymphctl's id is the engine's"
  assert_eq "$IMG" "$(ls_field "$A" image_id)" "the pinned image is the one it runs"
  assert_settled "$A" "$IMG" 5 adopt
  case_end
fi

# ---------------------------------------------------------------- regen
if cf_want regen; then
  case_begin regen
  wait_for "in_ls '$A'" 30
  assert_true "lymphd has nothing pending for $A" wait_for "lymphd_idle '$A'" "$CF_REGEN_S"
  before=$(holder "$A" 2)
  gen_before=$(ls_field "$A" generation)
  out=$(ctl regen "$A" 2>&1)
  assert_eq 0 "$?" "lymphctl regen $A succeeds ($out)"
  assert_settled "$A" "$IMG" 10 regen
  assert_ne "$before" "$(holder "$A" 2)" "a new container holds the name"
  assert_eq "$((gen_before + 1))" "$(ls_field "$A" generation)" "the generation went up by one"
  assert_eq "$(ls_field "$A" generation)" "$(holder "$A" 5)" "the engine's generation label agrees"
  case_end
fi

# ---------------------------------------------------------------- ttl
if cf_want ttl; then
  case_begin ttl
  T=${CF_PFX}t
  ttl=${CF_TTL_S:-8}
  be_run "$T" lympho.enable=true "lympho.ttl=${ttl}s" lympho.jitter=0 lympho.strategy=replace || die "start $T"
  ids=()
  t0=$(now_ms)
  # Two regenerations in a row, each after about one TTL.
  for _ in 1 2 3; do
    if ! wait_for "[ -n \"\$(holder '$T' 2)\" ] && [ \"\$(holder '$T' 3)\" = running ]" "$CF_REGEN_S"; then
      break
    fi
    id=$(holder "$T" 2)
    ids+=("$id")
    [ ${#ids[@]} -eq 3 ] && break
    wait_for "[ \"\$(holder '$T' 2)\" != '$id' ]" $((ttl * 3 + CF_REGEN_S))
  done
  took=$(($(now_ms) - t0))
  assert_eq 3 "$(printf '%s\n' "${ids[@]}" | sort -u | grep -c .)" "three distinct generations seen (${ids[*]})"
  assert_ge "$((2 * ttl * 1000 * 8 / 10))" "$took" "two TTLs went by before the second regeneration"
  assert_settled "$T" "$IMG" "$CF_REGEN_S" ttl
  case_end
  be_rm "$T"
fi

# ---------------------------------------------------------------- crash recovery
# lymphd killed with SIGKILL at three moments of a regeneration: just after
# it asked for the new generation, at its rename, after the commit. A new
# lymphd finishes or undoes the work: one generation, under the name.
if cf_want crash-recovery; then
  for step in create rename-new commit; do
    case_begin "crash-recovery@$step"
    # The recovery before may still be adopting what it left: a regen now
    # would be refused as not ready.
    assert_true "lymphd has nothing pending for $A" wait_for "lymphd_idle '$A'" "$CF_REGEN_S"
    wait_for "settled '$A' '$IMG'" "$CF_REGEN_S"
    mark_log
    ctl regen "$A" >/dev/null 2>&1 &
    regen_pid=$!
    if wait_for "log_has 'step=$step\\b'" "$CF_REGEN_S"; then
      lymphd_kill9
      ok "killed lymphd at step=$step"
    else
      _afail "lymphd never logged step=$step"
      lymphd_kill9
    fi
    wait "$regen_pid" 2>/dev/null
    mark_log
    lymphd_start || _afail "lymphd starts again after the crash"
    # After the commit the work may be over before the kill lands.
    [ "$step" = commit ] ||
      assert_true "the new lymphd recovers the open transaction" wait_for "log_has step=recover" 30
    assert_settled "$A" "$IMG" "$CF_REGEN_S" "after a crash at $step"
    assert_true "lymphctl ls lists $A again" wait_for "[ \"\$(ls_field '$A' id)\" = \"\$(holder '$A' 2)\" ]" 30
    case_end
  done
fi

# ---------------------------------------------------------------- engine restart
if cf_want engine-restart; then
  case_begin engine-restart
  if [ "${LYMPHO_TEST_ENGINE_RESTART:-0}" != 1 ] && [ "${CF_OWN_ENGINE:-0}" != 1 ]; then
    say "the engine is shared (set LYMPHO_TEST_ENGINE_RESTART=1 to allow restarting it)"
    echo "SKIP: $LYT_TEST/engine-restart: not allowed to restart a shared engine"
    LYT_CASE=
  else
    assert_true "lymphd has nothing pending for $A" wait_for "lymphd_idle '$A'" "$CF_REGEN_S"
    wait_for "settled '$A' '$IMG'" "$CF_REGEN_S"
    before=$(holder "$A" 2)
    assert_true "the engine restarts" be_engine_restart
    assert_true "lymphd is still there" ctl_alive
    # The restart stopped what ran; lymphd brings it back.
    assert_settled "$A" "$IMG" $((CF_REGEN_S * 2)) "after the engine restart"
    assert_true "lymphctl ls follows" wait_for "[ \"\$(ls_field '$A' id)\" = \"\$(holder '$A' 2)\" ]" 30
    assert_ne "$before" "$(holder "$A" 2)" "a fresh generation, not the stopped one started again"
    assert_true "lymphd has nothing pending for $A" wait_for "lymphd_idle '$A'" "$CF_REGEN_S"
    case_end
  fi
fi

# ---------------------------------------------------------------- bad runtime
# A runtime that answers garbage, loses answers, hangs or lies. Each time
# lymphctl regen fails with a message, lymphd keeps running, reports the
# retry (or recovery) it armed, and while the fault lasts the old generation
# alone holds the name. Once the runtime is well again, lymphd's retry runs
# and exactly one generation runs, from the pinned image. Each case waits
# for lymphd to report nothing pending before it arms the next fault: the
# engine shows one generation running while a retry is still to come, and a
# retry that fires under the next fault would be joined by its regen.
if cf_want bad-runtime; then
  lymphd_stop
  if ! be_fault_on; then
    echo "FAIL: $LYT_TEST/bad-runtime: setup: the fault injector does not start"
    LYT_NFAIL=$((LYT_NFAIL + 1))
  else
    CF_FAULTY=1
    cf_wrap BE_FAULT_LYMPHD_ARGS BE_FAULT_LYMPHD_ENV
    lymphd_start || die "lymphd does not start through the fault injector"
    wait_for "in_ls '$A'" 30
    for fault in ${CF_FAULTS:-create-garbage create-lost create-exit create-endless create-hang rename-noop start-hang}; do
      case_begin "bad-runtime/$fault"
      assert_true "lymphd has nothing pending for $A" wait_for "lymphd_idle '$A'" $((CF_REGEN_S * 2))
      assert_settled "$A" "$IMG" "$CF_REGEN_S" "before the fault"
      old=$(holder "$A" 2)
      echo "$fault" >"$CF_FAULT"
      if [ "$fault" = create-hang ]; then
        # A second request while the first hangs joins it, and says so.
        ctl regen "$A" >"$CF_TMP/first.out" 2>&1 &
        first=$!
        assert_true "lymphd reports the regeneration in flight" \
          wait_for "[[ \"\$(ls_field '$A' regen.reason)\" == manual* ]]" 30
        txn=$(ls_field "$A" regen.txn)
        out=$(ctl regen "$A" 2>&1)
        rc=$?
        assert_match "joined the regeneration in flight \\(txn $txn, reason: manual" "$out" \
          "a second regen joins the one in flight ($out)"
        assert_ne 0 "$rc" "and fails with it"
        wait "$first"
        rc=$?
        out=$(cat "$CF_TMP/first.out")
        assert_eq "" "$(grep joined "$CF_TMP/first.out")" "the first regen did not join"
      else
        out=$(ctl regen "$A" 2>&1)
        rc=$?
      fi
      assert_ne 0 "$rc" "lymphctl regen fails"
      assert_match '.' "$out" "with a message ($out)"
      assert_true "lymphd still answers" ctl_alive
      # While the fault lasts a retry (or recovery) is armed or running, and
      # lymphd says why.
      assert_eq false "$(ls_field "$A" idle)" "lymphd reports work pending after the failure"
      assert_match '.' "$(ls_field "$A" last_error)" "with the failure ($(ls_field "$A" last_error))"
      assert_eq "$old" "$(holder "$A" 2)" "the old generation alone holds the name"
      : >"$CF_FAULT"
      assert_true "lymphd's retry has run and nothing is pending" wait_for "lymphd_idle '$A'" $((CF_REGEN_S * 2))
      assert_settled "$A" "$IMG" "$CF_REGEN_S" "once the runtime is well"
      assert_eq null "$(ls_field "$A" last_error)" "the failure is cleared by the retry's success"
      case_end
    done
    lymphd_stop
    be_fault_off
    CF_FAULTY=0
  fi
fi

# ---------------------------------------------------------------- exit
# SIGTERM: lymphd ends cleanly (status 0: under the sanitizers, no leak),
# and what it protects keeps running without it.
if cf_want exit; then
  case_begin exit
  [ -n "$LYMPHD_PID" ] || lymphd_start || _afail "lymphd starts"
  wait_for "in_ls '$A'" 30
  lymphd_stop
  assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
  assert_settled "$A" "$IMG" 5 "without lymphd"
  case_end
fi

finish
