#!/bin/bash
# lympho — podman as the tests' engine CLI (DOCKER=this): the same commands,
# with what run and create need on these machines added:
#  - explicit ulimits, which runc needs to start anything ("error setting
#    rlimits" otherwise, see ../shared/ENGINE.md);
#  - the OCI runtime the service runs (contrib/podman.sh picks runc where
#    crun cannot run), so that the CLI's containers behave as lymphd's.
# Environment: LYMPHO_PODMAN_SOCK (default /run/podman/podman.sock);
#   LYMPHO_PODMAN_SUITE: the podman of the newer Podman that
#   contrib/newer-podman.sh runs in a container, run in that container
#   (LYMPHO_PODMAN_SOCK is then its socket).
podman=(podman)
[ -n "${LYMPHO_PODMAN_SUITE:-}" ] &&
  podman=(bash "$(dirname "$0")/../../contrib/newer-podman.sh" cli "$LYMPHO_PODMAN_SUITE")
case "${1:-}" in
  run | create)
    sub=$1
    shift
    sock=${LYMPHO_PODMAN_SOCK:-/run/podman/podman.sock}
    rt=$(curl -s --max-time 5 --unix-socket "$sock" http://d/v4.0.0/libpod/info 2>/dev/null \
      | sed -n 's/.*"ociRuntime":{"name":"\([^"]*\)".*/\1/p')
    exec "${podman[@]}" ${rt:+--runtime "$rt"} "$sub" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
    ;;
esac
exec "${podman[@]}" "$@"
