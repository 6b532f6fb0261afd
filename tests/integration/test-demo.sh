#!/bin/bash
# lyt-timeout: 600
# The README's first command, as a newcomer runs it: contrib/setup.sh builds
# lympho in build/, starts the demo container `lympho-demo` (TTL 30 s) and
# runs lymphd in the foreground. For two TTLs the demo is regenerated on its
# TTL only: its own start-up writes (the page it writes naming its container)
# are learned from the first generation lympho starts, never an incident, and
# no forensic image is kept. Then the README's "plant a file" step is exactly
# one drift incident: cut off, forensic image, a fresh generation, the planted
# page gone.
#
# It uses what the script uses: /run/lympho/lymphd.sock, /var/lib/lympho, the
# engine's default socket. It will not run next to a lymphd that already
# answers there (a demo started by hand): that one is left alone.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lyt_init

name=lympho-demo
sock=/run/lympho/lymphd.sock
demo_ctl_bin=$LYT_SRCDIR/build/lymphctl
setup_log=$LYT_TMP/setup.log

demo_ctl () { "$demo_ctl_bin" --socket "$sock" "$@"; }
demo_field () { demo_ctl --json ls 2>/dev/null | jq -r --arg n "$name" ".[] | select(.name == \$n) | .$1" 2>/dev/null; }
demo_idle () { [ "$(demo_field idle)" = true ]; }
# This run's history of the demo (the state directory outlives runs).
demo_history () { demo_ctl --json history "$name" 2>/dev/null | jq -c --argjson t "$t0" '[.[] | select(.time >= $t)]'; }
count_kind () { demo_history | jq --arg k "$1" '[.[] | select(.kind == $k)] | length'; }
forensic_images () { "$DOCKER" images -q --no-trunc "lympho-forensics/$name" 2>/dev/null | sort -u; }

# A log line as the README shows it and as lymphd prints it, without what
# differs from run to run: the time, ids and numbers other than generations.
# A demo run before on this host remembers the planted file, so its alert
# says "immune memory".
log_shape ()
{
  perl -pe 's/^[0-9:.]+ //; s/immune memory: /alert: /g; s/veth[0-9a-f]+/vethH/g; s/\b[0-9a-f]{8,}\b/H/g;
            s/(?<!gen=)(?<!gen-)(?<![0-9])[0-9]+/N/g'
}
# readme_lines MARKER: the log lines of the README between its markers.
readme_lines () { sed -n "/<!-- $1:begin -->/,/<!-- $1:end -->/p" "$LYT_SRCDIR/README.md" | grep -E '^[0-9]{2}:'; }
# assert_readme_log MARKER: the README's lines appear in lymphd's log, in
# that order (the README leaves lines out, never adds or changes one).
assert_readme_log ()
{
  local want missing
  want=$(readme_lines "$1" | log_shape)
  [ -n "$want" ] || { _afail "README.md has no lines between its $1 markers"; return; }
  missing=$(awk 'BEGIN { i = 0; n = 0 } NR == FNR { want[n++] = $0; next } i < n && $0 == want[i] { i++ } END { if (i < n) print "#" want[i] }' \
    <(printf '%s\n' "$want") <(grep -E '^[0-9]{2}:' "$setup_log" | log_shape))
  if [ -z "$missing" ]; then
    ok "lymphd printed the README's $(printf '%s\n' "$want" | grep -c .) lines ($1), in order"
  else
    _afail "the README's line '${missing#\#}' ($1) is not in lymphd's log, in order"
  fi
}

demo_cleanup ()
{
  local ids
  if [ -n "${setup_pid:-}" ] && kill -0 "$setup_pid" 2>/dev/null; then
    # Removed while lymphd watches, the demo is released: its snapshot and
    # pin go too, and no later lymphd on this state directory brings it back.
    ids=$("$DOCKER" ps -aq --filter label=lympho-demo=1 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
    wait_for '[ -z "$(demo_field name)" ]' 15 || say "lymphd did not release $name"
    # timeout hands SIGTERM on to lymphd, which finishes its step and exits.
    kill -TERM "$setup_pid" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 "$setup_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$setup_pid" 2>/dev/null
  fi
  ids=$("$DOCKER" ps -aq --filter label=lympho-demo=1 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
  "$DOCKER" network rm "$name" >/dev/null 2>&1
  # The images this run made: forensic images, lymphd's pin and the demo image.
  ids=$(comm -13 <(printf '%s\n' "${forensic_before:-}") <(forensic_images))
  # shellcheck disable=SC2086
  [ -n "$ids" ] && "$DOCKER" rmi -f $ids >/dev/null 2>&1
  ids=$("$DOCKER" image inspect -f '{{.Id}}' "$name:latest" 2>/dev/null)
  [ -n "$ids" ] && "$DOCKER" rmi -f "$ids" >/dev/null 2>&1
  [ -s "$setup_log" ] && cp "$setup_log" "$LYMPHD_LOG"
}
trap 'rc=$?; demo_cleanup; (exit $rc); lyt_cleanup' EXIT

case_begin setup
if [ -S "$sock" ] && "$LYMPHCTL" --socket "$sock" status >/dev/null 2>&1; then
  echo "SKIP: $LYT_TEST: a lymphd already answers on $sock (a demo started by hand?); stop it to run this test"
  trap lyt_cleanup EXIT
  exit 77
fi
port=8080
if grep -q "$(printf ':%04X$' $port)" < <(awk '{print $2}' /proc/net/tcp /proc/net/tcp6 2>/dev/null); then
  port=$(free_port) || die "no free port"
fi
forensic_before=$(forensic_images)
t0=$(now_ms)
# As the README has it, with the port it documents for a taken 8080.
LYMPHO_DEMO_PORT=$port timeout -k 10 540 "$LYT_SRCDIR/contrib/setup.sh" >"$setup_log" 2>&1 3>&- &
setup_pid=$!
# The first run builds lympho in build/. setup.sh ends only by failing
# (lymphd runs in the foreground): then there is nothing to wait for.
wait_for '[ "$(demo_field name)" = "$name" ] || ! kill -0 $setup_pid' 400
if [ "$(demo_field name)" != "$name" ]; then
  if kill -0 "$setup_pid" 2>/dev/null; then
    why="setup.sh still runs after 400 s"
  else
    wait "$setup_pid"
    why="setup.sh exited with status $?"
  fi
  say "setup.sh's last lines:"
  tail -n 20 "$setup_log" | sed 's/^/    /'
  die "the demo is not protected: $why; its last line: $(grep . "$setup_log" | tail -n 1)"
fi
ok "setup.sh built lympho, started $name and lymphd adopted it ($(($(now_ms) - t0)) ms)"
assert_eq 0 "$(demo_field generation)" "the adopted original is generation 0"
assert_match "lympho demo" "$(curl -s --max-time 3 "http://127.0.0.1:$port/")" "the page answers on port $port"
case_end

case_begin two-ttls
# Two TTL regenerations (30 s each, with jitter), then nothing pending.
wait_for '[ "$(demo_field generation)" -ge 2 ] && demo_idle' 150 ||
  _afail "generation is '$(demo_field generation)' after 150 s (want 2): $(demo_history)"
h=$(demo_history)
say "history: $(jq -c '[.[] | {kind, generation, reason}]' <<<"$h")"
assert_eq 0 "$(jq '[.[] | select(.kind == "incident")] | length' <<<"$h")" "no incident"
assert_eq 2 "$(jq '[.[] | select(.kind == "regen")] | length' <<<"$h")" "two regenerations"
assert_eq "ttl ttl" "$(jq -r '[.[] | select(.kind == "regen") | .reason] | join(" ")' <<<"$h")" \
  "both on the TTL"
assert_eq 1 "$(jq '[.[] | select(.kind == "learn")] | length' <<<"$h")" "the start-up set was learned once"
assert_eq 1 "$(jq '[.[] | select(.kind == "learn") | .generation] | first' <<<"$h")" \
  "from generation 1, the first one lympho started"
assert_eq "" "$(comm -13 <(printf '%s\n' "$forensic_before") <(forensic_images))" "no forensic image"
assert_eq enforce "$(demo_field drift.mode)" "drift is enforced now"
assert_match "/www/index.html" "$(demo_field 'drift.startup.changes | map(.kind + " " + .path) | join(",")')" \
  "the page the demo writes at start is in its start-up set"
# lymphd's own lines only: the build before it compiles quarantine.c.
assert_true "lymphd said nothing about quarantine" \
  sh -c '! grep -E "^[0-9]{2}:" "$1" | grep -E "quarantine|forensics|alert:"' _ "$setup_log"
assert_single "$name"
assert_readme_log demo-log
assert_eq "$(demo_field generation)" "$(c_gen "$name")" "the engine's generation label agrees"
id=$(c_id "$name")
assert_match "${id:0:12}" "$(curl -s --max-time 3 "http://127.0.0.1:$port/")" "the page names the container serving it"
case_end

case_begin plant-a-file
g=$(demo_field generation)
fb=$(forensic_images)
# The README's step, word for word.
/usr/bin/docker exec lympho-demo sh -c 'echo planted > /www/planted.html' || die "docker exec"
assert_eq planted "$(curl -s --max-time 3 "http://127.0.0.1:$port/planted.html")" "the planted page is served"
wait_for '[ "$(count_kind incident)" -ge 1 ]' 30 || _afail "no incident 30 s after planting: $(demo_history)"
wait_for "[ \"\$(demo_field generation)\" -gt $g ] && demo_idle" 30 ||
  _afail "not regenerated 30 s after planting (generation '$(demo_field generation)')"
h=$(demo_history)
inc=$(jq -c '[.[] | select(.kind == "incident")]' <<<"$h")
say "incidents: $(jq -c 'map({source, reason, action, forensic_image})' <<<"$inc")"
assert_eq 1 "$(jq length <<<"$inc")" "exactly one incident"
assert_eq drift "$(jq -r '.[0].source' <<<"$inc")" "a drift incident"
assert_match "A /www/planted\.html" "$(jq -r '.[0].reason' <<<"$inc")" "it names the planted file"
assert_true "and nothing the demo writes itself" sh -c '! printf "%s" "$1" | grep -q index.html' _ "$(jq -r '.[0].reason' <<<"$inc")"
assert_eq 1 "$(comm -13 <(printf '%s\n' "$fb") <(forensic_images) | grep -c .)" "one forensic image"
assert_true "the forensic image is generation $g's" "$DOCKER" image inspect "lympho-forensics/$name:gen-$g"
assert_single "$name"
assert_eq $((g + 1)) "$(c_gen "$name")" "a fresh generation holds the name"
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$port/planted.html")" \
  "the planted page is gone"
assert_match "lympho demo" "$(curl -s --max-time 3 "http://127.0.0.1:$port/")" "the demo serves its page again"
assert_readme_log demo-plant-log
case_end

finish
