/* Network quarantine: which container links are host veths, and whether a
 * host link may be cut on their behalf. The link attributes are recorded
 * from Docker 20.10 on kernel 6.18 (`ip -d link` on both sides of a
 * container on the default bridge, beside other containers' veths). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/quarantine.h"
#include "lympho/util.h"

/* Inside the container: "59: eth0@if60 ... link-netnsid 0 ... veth". */
static const struct quarantine_link inside_eth0 = {
  .ifindex = 59, .peer_ifindex = 60, .peer_netnsid = 0, .veth = true, .name = "eth0",
};
/* Its peer in the host: "60: vetha7d92a8@if59 ... master docker0 ...
 * link-netnsid 2"; the host numbers the container's namespace 2. */
static const struct quarantine_link host_peer = {
  .ifindex = 60, .peer_ifindex = 59, .peer_netnsid = 2, .veth = true, .name = "vetha7d92a8",
};
#define OUR_ID_THERE 0
#define THEIR_ID_HERE 2

static void
test_host_veth (void **state)
{
  (void) state;
  assert_true (quarantine_is_host_veth (&inside_eth0, OUR_ID_THERE));

  /* A pair the container made for itself: no IFLA_LINK_NETNSID. */
  struct quarantine_link own_pair = inside_eth0;
  own_pair.peer_netnsid = -1;
  assert_false (quarantine_is_host_veth (&own_pair, OUR_ID_THERE));

  /* A veth whose peer is in a third namespace (a sidecar's, a nested
   * engine's): its ifindex means nothing in ours. */
  struct quarantine_link elsewhere = inside_eth0;
  elsewhere.peer_netnsid = 1;
  assert_false (quarantine_is_host_veth (&elsewhere, OUR_ID_THERE));

  /* Our namespace has no id there: nothing can point at it. */
  assert_false (quarantine_is_host_veth (&inside_eth0, -1));

  /* macvlan/ipvlan: IFLA_LINK names the parent, but it is no veth. */
  struct quarantine_link macvlan = { .ifindex = 2, .peer_ifindex = 4, .peer_netnsid = 0, .veth = false, .name = "eth0" };
  assert_false (quarantine_is_host_veth (&macvlan, OUR_ID_THERE));

  struct quarantine_link lo = { .ifindex = 1, .loopback = true, .peer_netnsid = -1, .name = "lo" };
  assert_false (quarantine_is_host_veth (&lo, OUR_ID_THERE));
}

static void
test_check_peer_ok (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (quarantine_check_peer (&inside_eth0, &host_peer, THEIR_ID_HERE, &err), 0);
  assert_int_equal (err.status, 0);
}

static void
test_check_peer_refuses (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };

  /* The ifindex now names the bridge (the veth went away, index reused). */
  struct quarantine_link bridge = { .ifindex = 60, .peer_ifindex = 0, .peer_netnsid = -1, .name = "docker0" };
  assert_int_equal (quarantine_check_peer (&inside_eth0, &bridge, THEIR_ID_HERE, &err), -ESRCH);
  assert_non_null (strstr (err.msg, "not a veth"));

  /* Another container's veth: "18: veth3e396dd@if17 ... link-netnsid 0". */
  struct quarantine_link other = { .ifindex = 60, .peer_ifindex = 17, .peer_netnsid = 0, .veth = true, .name = "veth3e396dd" };
  lympho_error_clear (&err);
  assert_int_equal (quarantine_check_peer (&inside_eth0, &other, THEIR_ID_HERE, &err), -ESRCH);
  assert_non_null (strstr (err.msg, "veth3e396dd points at ifindex 17"));

  /* Same peer ifindex by chance, but in another container's namespace. */
  struct quarantine_link same_index = host_peer;
  same_index.peer_netnsid = 1;
  lympho_error_clear (&err);
  assert_int_equal (quarantine_check_peer (&inside_eth0, &same_index, THEIR_ID_HERE, &err), -ESRCH);
  assert_non_null (strstr (err.msg, "namespace id 1, not the container's (2)"));

  /* The host's peer sits in the host itself (a plain veth pair). */
  struct quarantine_link local = host_peer;
  local.peer_netnsid = -1;
  assert_int_equal (quarantine_check_peer (&inside_eth0, &local, THEIR_ID_HERE, NULL), -ESRCH);

  /* The container's namespace has no id here: cannot be verified. */
  assert_int_equal (quarantine_check_peer (&inside_eth0, &host_peer, -1, NULL), -ESRCH);

  /* A host link that is not the one the container named. */
  struct quarantine_link wrong = host_peer;
  wrong.ifindex = 61;
  assert_int_equal (quarantine_check_peer (&inside_eth0, &wrong, THEIR_ID_HERE, NULL), -ESRCH);
}

static void
test_join_names (void **state)
{
  (void) state;
  struct quarantine_link l[2] = { host_peer, host_peer };
  strcpy (l[1].name, "veth3e396dd");
  char *s = quarantine_join_names (l, 0);
  assert_string_equal (s, "");
  free (s);
  s = quarantine_join_names (l, 1);
  assert_string_equal (s, "vetha7d92a8");
  free (s);
  s = quarantine_join_names (l, 2);
  assert_string_equal (s, "vetha7d92a8,veth3e396dd");
  free (s);
}

static void
test_bad_pid (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  char *names = (char *) "unchanged";
  assert_int_equal (quarantine_cut_network (0, &names, &err), -EINVAL);
  assert_null (names);
  assert_non_null (strstr (err.msg, "invalid pid 0"));
  assert_int_equal (quarantine_restore_network (-3, NULL, NULL), -EINVAL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_host_veth),
    cmocka_unit_test (test_check_peer_ok),
    cmocka_unit_test (test_check_peer_refuses),
    cmocka_unit_test (test_join_names),
    cmocka_unit_test (test_bad_pid),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
