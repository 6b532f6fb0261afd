/* Unit tests: a swarm task's container as its labels tell it (swarm.h),
 * with labels as Docker 20.10 and 28.5 set them on a task's container. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/swarm.h"
#include "lympho/util.h"

#define SID "nppwwfp66xcgrntqd3n1rwn4a"
#define TID "wunbx64wanl4hrszo0n3xdo0o"
#define NODE "biu9emat4dnnyyh1ptk90qre7"

static void
task_labels (struct rt_labels *l, const char *service, const char *task_name)
{
  memset (l, 0, sizeof *l);
  rt_labels_set (l, "com.docker.swarm.node.id", NODE);
  rt_labels_set (l, SWARM_LABEL_SERVICE_ID, SID);
  rt_labels_set (l, SWARM_LABEL_SERVICE_NAME, service);
  rt_labels_set (l, "com.docker.swarm.task", "");
  rt_labels_set (l, SWARM_LABEL_TASK_ID, TID);
  rt_labels_set (l, SWARM_LABEL_TASK_NAME, task_name);
  rt_labels_set (l, "lympho.enable", "true");
}

static void
test_replicated (void **state)
{
  (void) state;
  struct rt_labels l;
  task_labels (&l, "web", "web.2." TID);
  struct swarm_task t;
  lympho_error_t err = { 0 };
  assert_int_equal (swarm_task_from_labels (&l, &t, &err), 1);
  assert_string_equal (t.service, "web");
  assert_string_equal (t.service_id, SID);
  assert_string_equal (t.slot, "2");
  assert_string_equal (t.task_id, TID);
  assert_string_equal (t.key, "web.2");
  struct swarm_task c = { 0 };
  swarm_task_copy (&c, &t);
  swarm_task_free (&t);
  assert_null (t.key);
  assert_string_equal (c.key, "web.2");
  swarm_task_free (&c);
  char *key = swarm_key_of (&l);
  assert_string_equal (key, "web.2");
  free (key);
  rt_labels_free (&l);
}

/* A global service's slot is its node; a service's name may hold dots. */
static void
test_global_and_dotted (void **state)
{
  (void) state;
  struct rt_labels l;
  task_labels (&l, "edge.agent", "edge.agent." NODE "." TID);
  struct swarm_task t;
  lympho_error_t err = { 0 };
  assert_int_equal (swarm_task_from_labels (&l, &t, &err), 1);
  assert_string_equal (t.slot, NODE);
  assert_string_equal (t.key, "edge.agent." NODE);
  swarm_task_free (&t);
  rt_labels_free (&l);
}

static void
test_not_a_task (void **state)
{
  (void) state;
  struct rt_labels l = { 0 };
  rt_labels_set (&l, "lympho.enable", "true");
  rt_labels_set (&l, SWARM_LABEL_SERVICE_NAME, "web"); /* set by hand: not a task without its id */
  struct swarm_task t;
  lympho_error_t err = { 0 };
  assert_int_equal (swarm_task_from_labels (&l, &t, &err), 0);
  assert_null (t.key);
  assert_null (swarm_key_of (&l));
  rt_labels_free (&l);
}

static void
expect_bad (const char *service, const char *task_name, const char *msg_part)
{
  struct rt_labels l;
  task_labels (&l, service, task_name);
  struct swarm_task t;
  lympho_error_t err = { 0 };
  if (swarm_task_from_labels (&l, &t, &err) != -EINVAL)
    fail_msg ("task name \"%s\" of \"%s\" was taken", task_name, service);
  if (strstr (err.msg, msg_part) == NULL)
    fail_msg ("task name \"%s\": \"%s\" does not say \"%s\"", task_name, err.msg, msg_part);
  assert_null (t.key);
  assert_null (swarm_key_of (&l));
  rt_labels_free (&l);
}

static void
test_bad_names (void **state)
{
  (void) state;
  expect_bad ("web", "web.." TID, "is not web.<slot>." TID);           /* no slot */
  expect_bad ("web", "web.1", "is not web.<slot>." TID);               /* no task id */
  expect_bad ("web", "api.1." TID, "is not web.<slot>." TID);          /* another service's */
  expect_bad ("web", "web.1.x" TID, "is not web.<slot>." TID);         /* another task's */
  expect_bad ("web", "web.1/../../etc." TID, "is not web.<slot>." TID); /* a path in the slot */
  expect_bad ("/x", "/x.1." TID, "is not a container name");         /* the key becomes a file name */
  struct rt_labels l;
  task_labels (&l, "web", "web.1." TID);
  rt_labels_set (&l, SWARM_LABEL_SERVICE_ID, "../etc");
  struct swarm_task t;
  lympho_error_t err = { 0 };
  assert_int_equal (swarm_task_from_labels (&l, &t, &err), -EINVAL);
  rt_labels_free (&l);
  task_labels (&l, "web", "web.1." TID);
  rt_labels_set (&l, SWARM_LABEL_TASK_NAME, "");
  assert_int_equal (swarm_task_from_labels (&l, &t, &err), -EINVAL);
  rt_labels_free (&l);
}

static void
test_replace_within (void **state)
{
  (void) state;
  assert_int_equal (swarm_replace_within_ms (-1), SWARM_DEFAULT_RESTART_DELAY_MS + SWARM_REPLACE_MARGIN_MS);
  assert_int_equal (swarm_replace_within_ms (0), SWARM_REPLACE_MARGIN_MS);
  assert_int_equal (swarm_replace_within_ms (1000), 1000 + SWARM_REPLACE_MARGIN_MS);
  assert_int_equal (swarm_replace_within_ms (INT64_MAX), 86400000ull + SWARM_REPLACE_MARGIN_MS);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_replicated), cmocka_unit_test (test_global_and_dotted), cmocka_unit_test (test_not_a_task),
    cmocka_unit_test (test_bad_names),  cmocka_unit_test (test_replace_within),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
