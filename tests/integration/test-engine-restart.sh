#!/bin/bash
# The engine restarts under lymphd: lymphd reconnects (ls works, the event
# stream resumes, the next TTL regeneration happens) and still keeps exactly
# one generation.
#
# Restarting dockerd disturbs everyone on the engine, so this only runs with
# LYMPHO_TEST_ENGINE_RESTART=1 (CI and contrib/test.sh set it).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# A private engine of run.sh (LYT_PRIVATE_ENGINE=1) is ours to restart.
if [ "${LYMPHO_TEST_ENGINE_RESTART:-0}" != 1 ] && [ -z "${LYT_ENGINE_PIDFILE:-}" ]; then
  echo "SKIP: $LYT_TEST: set LYMPHO_TEST_ENGINE_RESTART=1 to restart the engine"
  rm -rf "$LYT_TMP"
  exit 77
fi
lyt_init

c="${LYT_PFX}web"
vol="${LYT_PFX}vol"
port=$(free_port) || die "no free port"

# Restart dockerd exactly as it was started: same command line, same
# environment, detached from this script.
engine_restart ()
{
  local pid cmd i
  if [ -n "${LYT_ENGINE_PIDFILE:-}" ]; then
    pid=$(cat "$LYT_ENGINE_PIDFILE")
  else
    pid=$(pidof dockerd | awk '{print $1}')
  fi
  [ -n "$pid" ] || return 1
  mapfile -d '' cmd <"/proc/$pid/cmdline"
  say "engine: stopping dockerd $pid (${cmd[*]})"
  kill -TERM "$pid"
  for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && return 1
  wait_for '! engine_ping' 5
  # Leave it down a moment so lymphd sees the stream end and a failed connect.
  sleep 2
  say "engine: starting ${cmd[*]}"
  local log=/var/log/lyt-dockerd.log
  [ -n "${LYT_ENGINE_PIDFILE:-}" ] && log="$(dirname "$LYT_ENGINE_PIDFILE")/dockerd.log"
  "$LYT_SRCDIR/contrib/detach.sh" "$log" "${cmd[@]}" >/dev/null
  wait_for engine_ping 60
}

case_begin setup
dk volume create "$vol" >/dev/null || die "volume create"
# restart=always: the engine brings the container back itself after it
# restarts, as in production; lymphd must cope with that.
dk run -d --name "$c" --network "$LYT_NET" --restart always --label lympho.enable=true --label lympho.ttl=6s --label lympho.jitter=0 \
  -p "127.0.0.1:$port:80" -v "$vol:/data" "$LYT_IMAGE" >/dev/null || die "run $c"
dk exec "$c" sh -c 'echo engine-data >/data/keep' || die "write"
lymphd_start || die "lymphd does not start"
wait_for "in_ls $c" 15 || die "not adopted"
wait_for '[ "$(c_gen "$c")" = 1 ] && lymphd_idle "$c"' 30 || die "no first TTL regeneration"
ok "first TTL regeneration before the engine restart"
case_end

case_begin reconnects
# Restart right after a regeneration is done (lymphd idle: the label shows
# generation 1 from the rename on, before the commit). The next TTL may come
# due while the engine is down: it waits for the engine.
engine_restart || die "could not restart the engine"
ok "engine answers again"
assert_true "lymphd still runs" kill -0 "$LYMPHD_PID"
assert_true "lymphctl ls works" ctl_alive
# The engine restarts the container itself (restart=always); read its
# generation once it runs again.
wait_for "c_running $c" 30 || _afail "$c not running 30 s after the engine restart"
g=$(c_gen "$c")
g=${g:-0}
id=$(c_id "$c")
say "after the restart: generation $g, id $id"
if wait_for "c_running $c && [ \"\$(c_id $c)\" != \"$id\" ] && [ \"\$(c_gen $c)\" -gt $g ]" 45; then
  ok "a TTL regeneration after the engine came back ($(c_gen "$c"))"
else
  _afail "no regeneration within 45 s of the engine restart (gen '$(c_gen "$c")')"
fi
# The event stream resumed: a container that appears now is adopted.
dk run -d --name "${c}2" --network "$LYT_NET" --label lympho.enable=true --label lympho.ttl=1h "$LYT_IMAGE" >/dev/null || _afail "run ${c}2"
if wait_for "in_ls ${c}2" 20; then ok "a new container is adopted after the restart"; else _afail "${c}2 not adopted within 20 s"; fi
lymphd_stop
assert_eq 0 "$LYMPHD_RC" "lymphd exits 0 on SIGTERM"
assert_single "$c"
assert_eq engine-data "$(dk exec "$c" cat /data/keep 2>&1)" "named volume data"
if wait_for "http_ok $port" 10; then ok "port answers"; else _afail "port $port does not answer"; fi
case_end

finish
