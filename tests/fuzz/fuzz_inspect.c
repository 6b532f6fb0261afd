/* lympho — libFuzzer target for the engine's inspect answer turned into a
 * golden snapshot and back into create requests (runtime/docker-spec.c,
 * runtime/docker-plan.c; tests/fuzz/run.sh): whoever can start a container
 * writes much of what its inspect says. Both dialects, Docker and Podman;
 * a spec that translates is planned, hidden and, for Podman, its create
 * body rewritten, as a regeneration does. */
#include "config.h"

#include <stdint.h>

#include "lympho/runtime.h"
#include "runtime/docker-spec.h"
#include "tests/fuzz/fuzz-runtime.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *json = (const char *) data;
  for (int dialect = DOCKER_SPEC_DOCKER; dialect <= DOCKER_SPEC_PODMAN; dialect++)
    {
      struct rt_snapshot s;
      lympho_error_t err = { 0 };
      if (docker_spec_from_inspect_as ((enum docker_spec_dialect) dialect, json, size, &s, &err) < 0)
        continue;
      struct docker_spec_plan plan;
      if (docker_spec_plan (s.spec, &s.labels, &plan, &err) == 0)
        {
          struct docker_spec_net *publish = NULL;
          size_t n_publish = 0;
          if (docker_spec_hide (&plan, &publish, &n_publish, &err) == 0)
            docker_spec_nets_free (publish, n_publish);
          if (dialect == DOCKER_SPEC_PODMAN)
            (void) docker_spec_podman_create (&plan.create_body, &err);
          docker_spec_plan_free (&plan);
        }
      rt_snapshot_free (&s);
    }
  return 0;
}
