#!/bin/bash
# lympho — start a long-running service (dockerd, Podman's service, a private
# containerd) in the background, detached from whoever asked for it:
#
#   contrib/detach.sh LOG CMD [ARG...]
#
# The service gets its own session, / as its working directory, /dev/null
# as stdin, LOG as stdout and stderr, and no other inherited descriptor.
# (A service left in the caller's directory breaks once that directory is
# removed: Podman's conmon fails "to get working directory" and no
# container it creates can start.) A service started from a test
# would otherwise keep the test runner's pipes open (tee, CI's log) and the
# runner would wait on it for ever. Prints the service's pid.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: detach.sh LOG CMD [ARG...]" >&2
  exit 2
fi
log=$1
shift
# Close every descriptor above 2 in the child before it becomes the service.
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c '
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  cd / || exit 1
  exec "$@"
' detach "$@" </dev/null >>"$log" 2>&1 &
echo $!
