#!/bin/bash
# lympho — podman as the tests' engine CLI (DOCKER=this): the same commands,
# with the explicit ulimits that runc needs on these machines to start
# anything ("error setting rlimits" otherwise, see ../shared/ENGINE.md) added
# to run and create.
case "${1:-}" in
  run | create)
    sub=$1
    shift
    exec podman "$sub" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
    ;;
esac
exec podman "$@"
