/* Unit tests: which container a /proc/<pid>/cgroup file names. The first
 * cases are files recorded on the development machine (Docker 20.10,
 * cgroupfs driver, cgroup v1 with the unified hierarchy mounted beside it);
 * the others follow the layouts the engines document for cgroup v2 and the
 * systemd driver (docker-<id>.scope, libpod-<id>.scope, kubelet's
 * kubepods.slice with cri-containerd- and crio- scopes). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/procwatch.h"

#define ID_A "6c45753a6db2614880a22eb1e2b90aa0cc64ae28ee3712d318ed3d4088e43a80"
#define ID_B "ab44db87d4b975b9bf3b0df2707f35941cf27ce46f61837ceab108d6d3a3e10d"
#define ID_C "7fd53d10255f814818b0de3a20b1eb4a43db7c01645cbaa936407f797e5194d9"

static void
expect_id (const char *text, const char *want)
{
  char id[PROCWATCH_ID_LEN + 1] = "untouched";
  int ret = procwatch_container_of_cgroup (text, id);
  if (ret != 1)
    fail_msg ("procwatch_container_of_cgroup (\"%s\") = %d, want 1", text, ret);
  assert_string_equal (id, want);
}

static void
expect_none (const char *text)
{
  char id[PROCWATCH_ID_LEN + 1] = "untouched";
  int ret = procwatch_container_of_cgroup (text, id);
  if (ret != 0)
    fail_msg ("procwatch_container_of_cgroup (\"%s\") = %d, want 0", text, ret);
  assert_string_equal (id, "untouched");
}

static void
expect_bad (const char *text)
{
  char id[PROCWATCH_ID_LEN + 1] = "untouched";
  int ret = procwatch_container_of_cgroup (text, id);
  if (ret != -EINVAL)
    fail_msg ("procwatch_container_of_cgroup (\"%s\") = %d, want -EINVAL", text ? text : "(null)", ret);
  assert_string_equal (id, "untouched");
}

/* Recorded: a container's init and a `docker exec` in it (same file). */
static void
test_recorded_docker_v1 (void **state)
{
  (void) state;
  expect_id ("9:name=systemd:/docker/" ID_A "\n"
             "8:pids:/docker/" ID_A "\n"
             "7:blkio:/docker/" ID_A "\n"
             "6:freezer:/docker/" ID_A "\n"
             "5:devices:/docker/" ID_A "\n"
             "4:memory:/docker/" ID_A "\n"
             "3:cpuset:/docker/" ID_A "\n"
             "2:cpuacct:/docker/" ID_A "\n"
             "1:cpu:/docker/" ID_A "\n"
             "0::/docker/" ID_A "\n",
             ID_A);
}

/* Recorded: `docker run --cgroup-parent=/pw-parent`. */
static void
test_recorded_cgroup_parent (void **state)
{
  (void) state;
  expect_id ("9:name=systemd:/pw-parent/" ID_B "\n"
             "8:pids:/pw-parent/" ID_B "\n"
             "7:blkio:/pw-parent/" ID_B "\n"
             "6:freezer:/pw-parent/" ID_B "\n"
             "5:devices:/pw-parent/" ID_B "\n"
             "4:memory:/pw-parent/" ID_B "\n"
             "3:cpuset:/pw-parent/" ID_B "\n"
             "2:cpuacct:/pw-parent/" ID_B "\n"
             "1:cpu:/pw-parent/" ID_B "\n"
             "0::/pw-parent/" ID_B "\n",
             ID_B);
}

/* Recorded: dockerd and containerd-shim (a 32-hex memory cgroup made by the
 * VM's init, not a container), and pid 1. */
static void
test_recorded_host (void **state)
{
  (void) state;
  expect_none ("9:name=systemd:/\n"
               "8:pids:/\n"
               "7:blkio:/\n"
               "6:freezer:/\n"
               "5:devices:/\n"
               "4:memory:/process_api/bad40e6c7f51329c50bd6ddb5191430a\n"
               "3:cpuset:/\n"
               "2:cpuacct:/\n"
               "1:cpu:/\n"
               "0::/\n");
  expect_none ("9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/\n"
               "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n");
}

static void
test_v2_systemd (void **state)
{
  (void) state;
  expect_id ("0::/system.slice/docker-" ID_A ".scope\n", ID_A);
  /* A container running its own init below its scope. */
  expect_id ("0::/system.slice/docker-" ID_A ".scope/init.scope\n", ID_A);
  expect_id ("0::/docker/" ID_A "\n", ID_A);
  /* No trailing newline. */
  expect_id ("0::/docker/" ID_A, ID_A);
  expect_none ("0::/system.slice/docker.service\n");
  expect_none ("0::/system.slice/containerd.service\n");
  expect_none ("0::/user.slice/user-1000.slice/session-3.scope\n");
  expect_none ("0::/init.scope\n");
  expect_none ("0::/\n");
}

static void
test_podman (void **state)
{
  (void) state;
  expect_id ("0::/machine.slice/libpod-" ID_B ".scope\n", ID_B);
  expect_id ("0::/machine.slice/libpod-" ID_B ".scope/container\n", ID_B);
  expect_id ("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_B ".scope\n", ID_B);
  /* cgroupfs manager. */
  expect_id ("0::/libpod_parent/libpod-" ID_B "\n", ID_B);
  expect_id ("1:name=systemd:/libpod_parent/libpod-" ID_B "\n0::/\n", ID_B);
  /* Conmon watches the container from outside it. */
  expect_none ("0::/machine.slice/libpod-conmon-" ID_B ".scope\n");
  expect_none ("0::/libpod_parent/conmon\n");
}

static void
test_kubernetes (void **state)
{
  (void) state;
  expect_id ("0::/kubepods.slice/kubepods-burstable.slice/"
             "kubepods-burstable-pod0d3c1f5e_8d42_4a4b_9c7e_2f1a5b6c7d8e.slice/cri-containerd-" ID_C ".scope\n",
             ID_C);
  expect_id ("0::/kubepods.slice/kubepods-besteffort.slice/"
             "kubepods-besteffort-pod0d3c1f5e_8d42_4a4b_9c7e_2f1a5b6c7d8e.slice/crio-" ID_C ".scope\n",
             ID_C);
  expect_id ("0::/kubepods/besteffort/pod0d3c1f5e-8d42-4a4b-9c7e-2f1a5b6c7d8e/" ID_C "\n", ID_C);
  expect_id ("11:memory:/kubepods/burstable/pod0d3c1f5e-8d42-4a4b-9c7e-2f1a5b6c7d8e/" ID_C "\n", ID_C);
  expect_id ("0::/system.slice/containerd-" ID_C ".scope\n", ID_C);
  expect_none ("0::/kubepods.slice/kubepods-burstable.slice/"
               "kubepods-burstable-pod0d3c1f5e_8d42_4a4b_9c7e_2f1a5b6c7d8e.slice/crio-conmon-" ID_C ".scope\n");
  expect_none ("0::/kubepods.slice/kubepods-burstable.slice\n");
}

static void
test_precedence (void **state)
{
  (void) state;
  /* Unified hierarchy at the root, v1 controllers in a container. */
  expect_id ("3:cpu:/docker/" ID_A "\n0::/\n", ID_A);
  /* Lines disagree: the unified line wins, whatever the order. */
  expect_id ("3:cpu:/docker/" ID_B "\n0::/docker/" ID_A "\n", ID_A);
  expect_id ("0::/docker/" ID_A "\n3:cpu:/docker/" ID_B "\n", ID_A);
  /* Among v1 lines the first. */
  expect_id ("4:memory:/docker/" ID_B "\n3:cpu:/docker/" ID_A "\n0::/\n", ID_B);
  /* Docker in docker: the outermost container is the node engine's. */
  expect_id ("0::/docker/" ID_A "/docker/" ID_B "\n", ID_A);
  expect_id ("0::/system.slice/docker-" ID_A ".scope/docker/" ID_B "\n", ID_A);
  /* A named v1 hierarchy is not the unified one. */
  expect_id ("0:name=x:/docker/" ID_B "\n0::/docker/" ID_A "\n", ID_A);
  /* The path may hold colons. */
  expect_id ("1:name=x:/a:b/docker/" ID_A "\n", ID_A);
}

static void
test_near_misses (void **state)
{
  (void) state;
  char shorter[] = "0::/docker/" ID_A;
  shorter[strlen (shorter) - 1] = '\0';
  expect_none (shorter);
  expect_none ("0::/docker/" ID_A "0\n");
  expect_none ("0::/docker/6C45753A6DB2614880A22EB1E2B90AA0CC64AE28EE3712D318ED3D4088E43A80\n");
  expect_none ("0::/docker/6c45753a6db2614880a22eb1e2b90aa0cc64ae28ee3712d318ed3d4088e43g80\n");
  expect_none ("0::/system.slice/docker-" ID_A ".scopex\n");
  expect_none ("0::/system.slice/docker-" ID_A ".slice\n");
  expect_none ("0::/system.slice/docker" ID_A ".scope\n");
  expect_none ("0::/system.slice/moby-" ID_A ".scope\n");
  expect_none ("0::/system.slice/" ID_A ".scope\n");
  expect_none ("0::/system.slice/xdocker-" ID_A ".scope\n");
  expect_none ("");
}

static void
test_malformed (void **state)
{
  (void) state;
  expect_bad (NULL);
  expect_bad ("garbage\n");
  expect_bad ("0:/docker/" ID_A "\n");
  expect_bad ("x::/docker/" ID_A "\n");
  expect_bad (":cpu:/docker/" ID_A "\n");
  expect_bad ("-1::/docker/" ID_A "\n");
  expect_bad ("0::docker/" ID_A "\n");
  expect_bad ("0::\n");
  expect_bad ("0::/\n\n1:cpu:/\n");
  expect_bad ("\n");
  /* Rejected whole even when another line names a container. */
  expect_bad ("0::/docker/" ID_A "\nnonsense\n");
  expect_bad ("nonsense\n0::/docker/" ID_A "\n");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_recorded_docker_v1), cmocka_unit_test (test_recorded_cgroup_parent),
    cmocka_unit_test (test_recorded_host),      cmocka_unit_test (test_v2_systemd),
    cmocka_unit_test (test_podman),             cmocka_unit_test (test_kubernetes),
    cmocka_unit_test (test_precedence),         cmocka_unit_test (test_near_misses),
    cmocka_unit_test (test_malformed),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
