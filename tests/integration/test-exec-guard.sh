#!/bin/bash
# The exec guard: in deny mode a program outside lympho.exec.allow, started
# by the container's own init, is refused by the kernel before it runs (the
# file it would have written never appears, on a bind mount the test
# reads from the host) and the container is regenerated; in detect mode
# the same program runs first, judged by the guard while it waits (a file
# written over a listed path is not passed by its name). A file written over an allowed path is
# refused too; a program run through `docker exec` is not judged. What the
# guard cannot see, the detector still catches: a program run from a memfd
# is an incident, and a child forked after its parent's main thread exited
# (pthread_exit) is judged, and so is a program run in a mount namespace of
# its own inside the container (unshare -m). A list is learned only from a generation
# lympho started, scripts by their own path included, and then denies. An infected container
# that ignores SIGTERM is killed, not waited for through its stop timeout.
#
# The judge here is fanotify's, on every machine: where the kernel runs BPF
# LSM programs lymphd would judge in the kernel instead, and that judge has
# its own test, in Debian's kernels (tests/kernel/run-vm.sh).
here=$(cd "$(dirname "$0")" && pwd)
export LYMPHO_EXEC_JUDGE=fanotify
. "$here/lib-incident.sh"
inc_init

d="${LYT_PFX}deny"
t="${LYT_PFX}detect"
o="${LYT_PFX}over"
m="${LYT_PFX}memfd"
k="${LYT_PFX}trick"
ns="${LYT_PFX}nested"
l="${LYT_PFX}learn"
s="${LYT_PFX}stubborn"
v="${LYT_PFX}mounts"
pg="${LYT_PFX}pingood"
pb="${LYT_PFX}pinbad"
ro="${LYT_PFX}readonly"
IMG="${LYT_PFX}guard:1"
STUBBORN_IMG="${LYT_PFX}stubborn:1"

# The image: busybox, a second real program /bin/tool, the helper, and an
# init loop that runs what the cases plant. Nothing else runs in it.
build_guard_image ()
{
  local root
  root=$(mktemp -d "$LYT_TMP/root.XXXXXX")
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/out"
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  cp "$(command -v busybox)" "$root/bin/tool"
  cp "$LYT_TMP/exec_helper" "$root/bin/helper"
  for a in sh sleep cat touch ls test echo mkdir rm cp chmod true printf unshare; do ln -s busybox "$root/bin/$a"; done
  cat >"$root/bin/init" <<'EOF'
#!/bin/sh
trap "exit 0" TERM
while true; do
  [ -x /tmp/touch ] && /tmp/touch /out/planted
  [ -x /tmp/plant ] && /tmp/plant plant /out/planted
  [ -x /tmp/n/touch ] && unshare -m /tmp/n/touch /out/nested
  [ -f /tmp/run-tool ] && rm /tmp/run-tool && { /bin/tool touch /out/tool; touch /tmp/tool-done; }
  [ -f /tmp/run-memfd ] && rm /tmp/run-memfd && /bin/helper memfd /bin/busybox sleep 30
  [ -f /tmp/run-trick ] && rm /tmp/run-trick && /bin/helper trick /tmp/d/sleep 30
  for m in vol bnd scratch late; do
    [ -f /tmp/go-$m ] && [ -x /$m/touch ] && /$m/touch /out/$m
  done
  /bin/tick
  sleep 1 &
  wait $!
done
EOF
  printf '#!/bin/sh\ntrue\n' >"$root/bin/tick"
  chmod 755 "$root/bin/init" "$root/bin/tick"
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["/bin/init"]' - "$IMG" >/dev/null || return 1
  # Ignores SIGTERM, as a busybox httpd as PID 1 does.
  cat >"$root/bin/init" <<'EOF'
#!/bin/sh
trap "" TERM
while true; do sleep 1; done
EOF
  tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["/bin/init"]' - "$STUBBORN_IMG" >/dev/null || return 1
  rm -rf "$root"
}
guard_images_rm () { "$DOCKER" rmi -f "$IMG" "$STUBBORN_IMG" >/dev/null 2>&1; return 0; }

ALLOW=/bin/busybox,/bin/init,/bin/tick,/bin/tool,/bin/helper
# run_guarded NAME OUTDIR [LABELS...]
run_guarded ()
{
  local n=$1 out=$2
  shift 2
  mkdir -p "$out"
  dk run -d --name "$n" --network "$LYT_NET" -v "$out:/out" --label lympho.enable=true --label lympho.ttl=1h \
    --label lympho.drift.allow=/ "$@" "$IMG" >/dev/null
}
# A program the image does not have, where the init loop runs it.
plant_touch () { dk exec "$1" sh -c 'cp /bin/busybox /tmp/t.x; chmod 755 /tmp/t.x; mv /tmp/t.x /tmp/touch'; }
exec_line () { ctl status 2>/dev/null | grep "^exec: $1 "; }
# exec_field NAME FIELD: of NAME's entry in status' exec list.
exec_field () { ctl --json status 2>/dev/null | jq -r --arg n "$1" ".exec[] | select(.name == \$n) | .$2"; }
mode_of () { ctl --json status 2>/dev/null | jq -r --arg n "$1" '.exec[] | select(.name == $n) | .mode'; }
# The guard's count of denials: counted before the kernel is answered.
denied_count () { ctl --json status 2>/dev/null | jq -r '.exec_guard_stats.denied'; }
# run_tool NAME: the init loop runs /bin/tool once; returns once it has
# (when it is allowed: a denial replaces the container first).
run_tool ()
{
  dk exec "$1" sh -c 'rm -f /tmp/tool-done; touch /tmp/run-tool' || return 1
  wait_for "dk exec '$1' test -e /tmp/tool-done" 15
}
# expect_tool_allowed NAME WHAT: /bin/tool runs in NAME and nothing
# follows: no denial counted, the same generation, no incident.
expect_tool_allowed ()
{
  local id0 den0
  id0=$(c_id "$1")
  den0=$(denied_count)
  run_tool "$1" || die "/bin/tool did not run in $1"
  assert_eq "$den0" "$(denied_count)" "$2: nothing denied"
  assert_eq "$id0" "$(c_id "$1")" "nothing happens"
  assert_eq 0 "$(incident_count "$1")" "no incident"
}
# The program incident on NAME: generation GEN within 20 s (else WHY is
# said), the replacement settled, and the last program incident's reason
# matching PATTERN.
# expect_exec_incident NAME GEN PATTERN WHAT [WHY]
expect_exec_incident ()
{
  local n=$1 gen=$2 pat=$3 what=$4 why=${5:-}
  if wait_gen "$n" "$gen" 20; then ok "regenerated"; else _afail "generation of $n is '$(c_gen "$n")'${why:+: $why}"; fi
  wait_replaced "$n" exec 10
  local inc
  inc=$(last_incident "$n" exec)
  say "incident: $(jq -c 'del(.detail.processes)' <<<"$inc")"
  assert_match "$pat" "$(jq -r .reason <<<"$inc")" "$what"
}

case_begin setup
need_cmd busybox busybox-static || die "no busybox"
cc -static -O2 -Wall -Wextra -o "$LYT_TMP/exec_helper" "$here/exec_helper.c" -lpthread || die "cannot build the helper"
build_guard_image || die "cannot build the test images"
trap '_inc_rc=$?; guard_images_rm; inc_cleanup_images; (exit $_inc_rc); lyt_cleanup' EXIT
run_guarded "$d" "$LYT_TMP/out-d" --label lympho.exec.allow=$ALLOW || die "run $d"
run_guarded "$t" "$LYT_TMP/out-t" --label lympho.exec.allow=$ALLOW --label lympho.exec.mode=detect || die "run $t"
run_guarded "$o" "$LYT_TMP/out-o" --label lympho.exec.allow=$ALLOW || die "run $o"
run_guarded "$m" "$LYT_TMP/out-m" --label lympho.exec.allow=$ALLOW || die "run $m"
run_guarded "$k" "$LYT_TMP/out-k" --label lympho.exec.allow=$ALLOW --label lympho.exec.mode=detect || die "run $k"
# May enter a mount namespace of its own (unshare -m needs CAP_SYS_ADMIN).
run_guarded "$ns" "$LYT_TMP/out-ns" --label lympho.exec.allow=$ALLOW --cap-add SYS_ADMIN \
  --security-opt apparmor=unconfined || die "run $ns"
# A named volume, a bind from the host, and a tmpfs one may run programs from.
mkdir -p "$LYT_TMP/bind-v"
run_guarded "$v" "$LYT_TMP/out-v" --label lympho.exec.allow=$ALLOW -v "${LYT_PFX}vol:/vol" -v "$LYT_TMP/bind-v:/bnd" \
  --tmpfs /scratch:exec,size=16m || die "run $v"
# /bin/tool (busybox's copy) pinned by its contents: rightly, and to another
# file's (the helper's).
bb_sha=$(sha256sum "$(command -v busybox)" | cut -d' ' -f1)
helper_sha=$(sha256sum "$LYT_TMP/exec_helper" | cut -d' ' -f1)
run_guarded "$pg" "$LYT_TMP/out-pg" \
  --label lympho.exec.allow=/bin/busybox@sha256:$bb_sha,/bin/init,/bin/tick,/bin/tool@sha256:$bb_sha ||
  die "run $pg"
run_guarded "$pb" "$LYT_TMP/out-pb" --label lympho.exec.allow=/bin/busybox,/bin/init,/bin/tick,/bin/tool@sha256:$helper_sha ||
  die "run $pb"
# A read-only root (its init's triggers on a tmpfs that may run programs).
run_guarded "$ro" "$LYT_TMP/out-ro" --label lympho.exec.allow=$ALLOW --read-only --tmpfs /tmp:exec,mode=1777 ||
  die "run $ro"
inc_start || die "lymphd does not start"
wait_for "in_ls $d && in_ls $t && in_ls $o && in_ls $m && in_ls $k && in_ls $ns && in_ls $v && in_ls $pg && in_ls $pb && in_ls $ro" 15 || die "not adopted: $(ls_json)"
if wait_for "[ \"\$(mode_of $d)\" = deny ] && [ \"\$(mode_of $o)\" = deny ] && [ \"\$(mode_of $m)\" = deny ]" 15; then
  ok "deny mode: $(exec_line "$d")"
else
  die "not in deny mode: $(ctl status | grep exec)"
fi
assert_eq detect "$(mode_of "$t")" "lympho.exec.mode=detect is detect"
assert_match "^exec: $t detect \(lympho.exec.mode=detect\)" "$(exec_line "$t")" "status says why"
assert_eq on "$(ctl --json status | jq -r .exec_guard)" "status: the guard is on"
assert_eq "fanotify LYMPHO_EXEC_JUDGE=fanotify" \
  "$(ctl --json status | jq -r '.exec_guard_stats | "\(.judge) \(.judge_note)"')" "status: which judge, and why"
case_end

case_begin denied-before-it-runs
id0=$(c_id "$d")
# Planted and run through docker exec: the engine's, not judged. Then put
# where the init loop runs it. (A copy of busybox runs the applet its
# name says.)
out=$(dk exec "$d" sh -c 'mkdir /tmp/x; cp /bin/busybox /tmp/x/echo; /tmp/x/echo ran-through-engine; mv /tmp/x/echo /tmp/touch')
assert_eq ran-through-engine "$out" "a program run through docker exec is not judged"
expect_exec_incident "$d" 1 "^denied program /tmp/touch " "history: the program was denied" "20 s after /tmp/touch appeared"
assert_true "its planted file never appeared" test ! -e "$LYT_TMP/out-d/planted"
assert_eq deny "$(mode_of "$d")" "the new generation is guarded too"
case_end

case_begin detect-runs-first
# A copy of the helper: it writes its file, then lasts long enough to be
# read by the detector.
dk exec "$t" sh -c 'cp /bin/helper /tmp/p.x; chmod 755 /tmp/p.x; mv /tmp/p.x /tmp/plant' || die "plant /tmp/plant"
expect_exec_incident "$t" 1 "^unexpected program /tmp/plant" "history: detected after it started"
assert_true "in detect mode the program ran: its file is there" test -e "$LYT_TMP/out-t/planted"
case_end

case_begin detect-judges-the-file-not-its-name
# Detect mode judges through the guard too: the file that runs, while its
# process waits, not a name read from /proc afterwards. A script written
# over the listed /bin/tool runs (detect), and is an incident all the same.
wait_for "[ \"\$(mode_of $t)\" = detect ] && lymphd_idle $t" 20 || _afail "$t not settled: $(exec_line "$t")"
det0=$(ctl --json status 2>/dev/null | jq -r '.exec_guard_stats.detected')
dk exec "$t" sh -c 'printf "#!/bin/sh\ntouch /out/tool\n" >/bin/tool' || die "overwrite"
dk exec "$t" touch /tmp/run-tool || die "touch"
expect_exec_incident "$t" 2 "^unexpected program /bin/tool " "history names the changed file" \
  "a file written over a listed path passed detect mode by its name"
assert_true "in detect mode it ran: its file is there" test -e "$LYT_TMP/out-t/tool"
assert_true "the guard counted it" test "$(ctl --json status | jq -r '.exec_guard_stats.detected')" -gt "${det0:-0}"
case_end

case_begin copied-over-allowed-path
expect_tool_allowed "$o" "the allowed /bin/tool runs"
# The same path, other contents: a script that would write /out/tool.
dk exec "$o" sh -c 'printf "#!/bin/sh\ntouch /out/tool\n" >/bin/tool' || die "overwrite"
# Tried again: denied, the incident replaces it before the loop goes on.
dk exec "$o" touch /tmp/run-tool || die "touch"
expect_exec_incident "$o" 1 "^denied program /bin/tool " "history names the changed file"
assert_true "the changed /bin/tool never ran" test ! -e "$LYT_TMP/out-o/tool"
case_end

case_begin memfd-is-an-incident
# It lasts: the detector reads a program's file when its exec is told, and
# one that is gone by then is not judged (lymphd(8), PROGRAMS).
dk exec "$m" touch /tmp/run-memfd || die "touch"
expect_exec_incident "$m" 1 "^program without a file /memfd:" "history: a program with no file"
case_end

case_begin pthread-exit-trick-is-judged
# The child lives long enough to be read (one that exits first is the
# detector's known gap: deny mode closes it in the kernel).
dk exec "$k" sh -c 'mkdir /tmp/d; cp /bin/busybox /tmp/d/sleep; chmod 755 /tmp/d/sleep; touch /tmp/run-trick' || die "plant"
expect_exec_incident "$k" 1 "unexpected program /tmp/d/sleep" "history names the child's program" "the child of a zombie leader was not judged"
case_end

case_begin nested-namespace-still-denied
wait_for "[ \"\$(mode_of $ns)\" = deny ]" 10 || _afail "$ns not in deny mode: $(exec_line "$ns")"
dk exec "$ns" sh -c 'mkdir -p /tmp/n; cp /bin/busybox /tmp/n/t.x; chmod 755 /tmp/n/t.x; mv /tmp/n/t.x /tmp/n/touch' || die "plant"
expect_exec_incident "$ns" 1 "^denied program /tmp/n/touch " "history: denied" "a program in a namespace of its own ran unjudged"
assert_true "the program never ran in its own namespace" test ! -e "$LYT_TMP/out-ns/nested"
case_end

case_begin mount-made-later-is-marked
# With CAP_SYS_ADMIN a container may mount a tmpfs of its own once it
# runs: lymphd looks at its mounts again every 10 s and marks it.
wait_for "[ \"\$(mode_of $ns)\" = deny ] && lymphd_idle $ns" 20 || _afail "$ns not settled: $(exec_line "$ns")"
m0=$(exec_field "$ns" mounts_marked)
dk exec "$ns" sh -c 'mkdir -p /late && mount -t tmpfs -o exec,size=16m tmpfs /late' || die "mount a tmpfs in $ns"
if wait_for "[ \"\$(exec_field $ns mounts_marked)\" -gt ${m0:-0} ]" 25; then
  ok "the new mount is marked ($(exec_field "$ns" mounts_marked) marked, $m0 before)"
else
  _afail "mounts marked in $ns stay '$(exec_field "$ns" mounts_marked)' ($m0 before)"
fi
# Read before the plant: its loop runs the program within a second, and the
# replacement may be done before a read after it.
g=$(c_gen "$ns")
dk exec "$ns" sh -c 'cp /bin/busybox /late/t.x; chmod 755 /late/t.x; mv /late/t.x /late/touch; touch /tmp/go-late' ||
  die "plant /late/touch"
expect_exec_incident "$ns" $((g + 1)) "^denied program /late/touch " "a program on the later mount is denied"
assert_true "it never ran" test ! -e "$LYT_TMP/out-ns/late"
case_end

# Programs on a container's volume, bind and tmpfs are denied too (a mount
# mark on each, the container's own mounts only); the host runs the same
# file from the bind's host side freely.
case_begin volumes-binds-tmpfs-denied
wait_for "[ \"\$(mode_of $v)\" = deny ]" 10 || _afail "$v not in deny mode: $(exec_line "$v")"
assert_eq "" "$(exec_line "$v" | grep 'not marked')" "every mount marked ($(exec_line "$v"))"
gen=0
for mnt in vol bnd scratch; do
  dk exec "$v" sh -c "cp /bin/busybox /$mnt/t.x; chmod 755 /$mnt/t.x; mv /$mnt/t.x /$mnt/touch; touch /tmp/go-$mnt" ||
    die "plant /$mnt/touch"
  gen=$((gen + 1))
  expect_exec_incident "$v" "$gen" "^denied program /$mnt/touch " "a program on /$mnt is denied"
  assert_true "it never ran: /out/$mnt is not there" test ! -e "$LYT_TMP/out-v/$mnt"
done
assert_true "the host runs the bind's file from its own side" "$LYT_TMP/bind-v/touch" "$LYT_TMP/host-ran"
assert_true "and it ran" test -e "$LYT_TMP/host-ran"
case_end

# lympho.exec.allow=PATH@sha256:HEX allows that file only with those
# contents: checked when the container is marked.
case_begin read-only-root-kept-by-kernel
# On a read-only root nothing in the container can change a file: the
# kernel keeps the guard's answer for each allowed file, and a program run
# again raises no event at all. The tmpfs is still judged.
wait_for "[ \"\$(mode_of $ro)\" = deny ]" 15 || _afail "$ro not in deny mode: $(exec_line "$ro")"
# Two turns of its init loop run each of its programs (busybox, /bin/tool,
# /bin/tick) at least once since it was marked.
run_tool "$ro" && run_tool "$ro" || die "/bin/tool did not run in $ro"
kept=$(exec_field "$ro" kept_by_kernel)
asked=$(exec_field "$ro" asked)
say "after two turns: $asked asked, $kept kept by the kernel"
assert_true "the kernel keeps the answers of its programs" test "${kept:-0}" -ge 3
run_tool "$ro" && run_tool "$ro" || die "/bin/tool did not run in $ro again"
assert_eq "$asked" "$(exec_field "$ro" asked)" "two more turns of its loop (and the test's docker exec) asked nothing"
assert_eq 0 "$(exec_field "$d" kept_by_kernel)" "a writable root has no answer kept"
# What is not listed is still refused: a program on its tmpfs.
plant_touch "$ro" || die "plant"
expect_exec_incident "$ro" 1 "^denied program /tmp/touch " "a program outside the list is still denied"
assert_true "it never ran" test ! -e "$LYT_TMP/out-ro/planted"
case_end

case_begin pinned-contents
wait_for "[ \"\$(mode_of $pg)\" = deny ] && [ \"\$(mode_of $pb)\" = deny ]" 10 ||
  _afail "not in deny mode: $(exec_line "$pg") / $(exec_line "$pb")"
assert_eq "" "$(exec_line "$pg" | grep 'sha256')" "the right pin: nothing to say ($(exec_line "$pg"))"
assert_match "1 listed program is not the file its sha256 pins: denied" "$(exec_line "$pb")" "a wrong pin is said in status"
# busybox itself is pinned: every second the init loop runs it (sleep),
# and the pinned /bin/tool once asked.
expect_tool_allowed "$pg" "programs with their pinned contents run"
hashed=$(ctl --json status | jq -r .exec_guard_stats.pins_hashed)
# pg's two files at least (pb's /bin/tool is the image's, as pg's is: it
# may be known already, as it is on Podman).
assert_true "pinned files were hashed ($hashed)" test "$hashed" -ge 2 2>/dev/null
dk exec "$pb" touch /tmp/run-tool || die "touch"
expect_exec_incident "$pb" 1 "^denied program /bin/tool " "a program whose contents are not its pin is denied"
assert_true "it never ran" test ! -e "$LYT_TMP/out-pb/tool"
# The new generation's files are the image's: their digests are known.
wait_for "[ \"\$(mode_of $pb)\" = deny ] && lymphd_idle $pb" 15 || _afail "$pb not guarded again: $(exec_line "$pb")"
assert_match "1 listed program is not the file its sha256 pins: denied" "$(exec_line "$pb")" "the new generation's pin is judged too"
assert_eq "$hashed" "$(ctl --json status | jq -r .exec_guard_stats.pins_hashed)" "and nothing was hashed again (${hashed} files so far)"
case_end

case_begin learned-from-fresh-generation-only
run_guarded "$l" "$LYT_TMP/out-l" || die "run $l"
wait_for "lymphd_idle $l" 15 || die "$l not adopted"
sleep 7 # longer than the learning window (5 s): nothing may be learned from it
assert_eq none "$(ls_field "$l" exec_allow.source)" "nothing learned from a container lympho did not start"
assert_eq detect "$(mode_of "$l")" "detect without a list"
ctl regen "$l" >/dev/null || die "regen $l"
if wait_for '[ "$(ls_field "$l" exec_allow.source)" = learned ]' 20; then ok "learned from the new generation"; else _afail "source '$(ls_field "$l" exec_allow.source)'"; fi
progs=$(ls_field "$l" exec_allow.programs | jq -c .)
say "learned: $progs"
assert_match '"/bin/busybox"' "$progs" "busybox learned"
assert_match '"/bin/tick"' "$progs" "a script learned by its own path (through the guard)"
if wait_for "[ \"\$(mode_of $l)\" = deny ]" 10; then ok "deny once learned"; else _afail "mode '$(mode_of "$l")': $(exec_line "$l")"; fi
gen=$(c_gen "$l")
plant_touch "$l" || die "plant /tmp/touch"
expect_exec_incident "$l" $((gen + 1)) "^denied program /tmp/touch " "denied by the learned list"
assert_true "its planted file never appeared" test ! -e "$LYT_TMP/out-l/planted"
case_end

case_begin infected-is-killed-not-stopped
# A stop timeout far longer than the wait below: waiting for it would fail.
dk run -d --name "$s" --network "$LYT_NET" --stop-timeout 600 "${INC_QUIET[@]}" --label lympho.exec.allow=$ALLOW \
  "$STUBBORN_IMG" >/dev/null || die "run $s"
wait_for "lymphd_idle $s" 15 || die "$s not adopted"
out=$(post /v1/alerts "$(generic_body "$s" 3 "lyt intruder")")
assert_eq 202 "${out%% *}" "alert accepted"
if wait_gen "$s" 1 60; then ok "replaced though it ignores SIGTERM"; else _afail "generation of $s is '$(c_gen "$s")' 60 s after the alert"; fi
wait_replaced "$s" generic 10
inc=$(last_incident "$s" generic)
say "incident: replaced in $(jq -r .replaced_ms <<<"$inc") ms"
case_end

# A program already running when lymphd comes (started while it was away):
# no exec event will ever tell it, and the kernel guard only holds what
# starts after the mark. lymphd's periodic look at every process finds it.
case_begin running-before-lymphd-is-found
sc="${LYT_PFX}scan"
run_guarded "$sc" "$LYT_TMP/out-sc" --label lympho.exec.allow=$ALLOW || die "run $sc"
lymphd_stop
dk exec "$sc" sh -c 'cp /bin/helper /tmp/p.x; chmod 755 /tmp/p.x; mv /tmp/p.x /tmp/plant' || die "plant /tmp/plant"
wait_for "[ -e '$LYT_TMP/out-sc/planted' ]" 10 || die "the planted program did not run"
inc_start || die "lymphd does not start again"
expect_exec_incident "$sc" 1 "^unexpected program /tmp/plant" "found though it started before lymphd" \
  "a program that was running before lymphd came was not found"
case_end

lymphd_stop
finish
