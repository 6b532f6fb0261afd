#!/bin/sh
# The daemon's layering (shim/daemon-int.h, docs/design.md), checked on the
# objects the build made: the detectors and the incident path call no
# function of the daemon's own files (entry, admission, adopt, reconcile,
# command, daemon): they ask through struct daemon_actions. The runtime
# backends call nothing of the daemon, the detectors or the incidents.
# Fails naming each object and symbol that breaks a rule.
set -u
b=${builddir:-.}
status=0
check () # OBJECT REGEX WHAT
{
  if [ ! -f "$b/$1" ]; then
    echo "layering: no $b/$1 (not built?)"
    status=1
    return
  fi
  bad=$(nm -u "$b/$1" | awk '{print $NF}' | grep -E "$2")
  if [ -n "$bad" ]; then
    echo "layering: $1 calls $3:" $bad
    status=1
  fi
}
daemon='^(entry|admission|adopt|reconcile|command|daemon)_'
for o in shim/detect.o shim/detect-programs.o shim/detect-drift.o shim/incident.o; do
  check "$o" "$daemon" "the daemon's own files"
done
for o in runtime/docker.o runtime/docker-containers.o runtime/docker-create.o runtime/docker-images.o runtime/docker-swarm.o \
         runtime/docker-events.o runtime/podman.o runtime/exec.o runtime/exec-call.o runtime/exec-events.o; do
  check "$o" "$daemon|^(detect|incident)_" "the daemon"
done
[ $status -eq 0 ] && echo "layering: detectors and incidents ask the daemon through its actions; backends know no daemon"
exit $status
