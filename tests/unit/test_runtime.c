/* The plain data both backends share (runtime.h): the one parser of engine
 * states, health and labels. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/runtime.h"

static void
test_states (void **state)
{
  (void) state;
  for (int i = RT_STATE_CREATED; i <= RT_STATE_DEAD; i++)
    assert_int_equal (rt_state_parse (rt_state_name ((enum rt_state) i)), i);
  assert_int_equal (rt_state_parse ("running"), RT_STATE_RUNNING);
  assert_int_equal (rt_state_parse ("Running"), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse ("unknown"), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse (""), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse (NULL), RT_STATE_UNKNOWN);
}

static void
test_health (void **state)
{
  (void) state;
  for (int i = RT_HEALTH_STARTING; i <= RT_HEALTH_UNHEALTHY; i++)
    assert_int_equal (rt_health_parse (rt_health_name ((enum rt_health) i)), i);
  assert_int_equal (rt_health_parse ("healthy"), RT_HEALTH_HEALTHY);
  assert_int_equal (rt_health_parse ("none"), RT_HEALTH_NONE);
  assert_int_equal (rt_health_parse ("sick"), RT_HEALTH_NONE);
  assert_int_equal (rt_health_parse (NULL), RT_HEALTH_NONE);
}

static json_val
parse (const char *text)
{
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  return v;
}

static void
test_labels (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct rt_labels l = { 0 };

  /* Strings are taken by both; a later key replaces an earlier value. */
  cleanup_json json_val good = parse ("{\"a\":\"1\",\"lympho.ttl\":\"10m\",\"a\":\"2\"}");
  assert_int_equal (rt_labels_from_json (good, true, "labels", &l, &err), 0);
  assert_int_equal (l.n, 2);
  assert_string_equal (rt_labels_get (&l, "a"), "2");
  assert_string_equal (rt_labels_get (&l, "lympho.ttl"), "10m");
  rt_labels_free (&l);

  /* Absent and null are none, in both modes. */
  assert_int_equal (rt_labels_from_json (NULL, true, "labels", &l, &err), 0);
  cleanup_json json_val null = parse ("null");
  assert_int_equal (rt_labels_from_json (null, true, "labels", &l, &err), 0);
  assert_int_equal (l.n, 0);

  /* A value that is not a string: strict refuses the whole object, naming
   * the key; lenient skips that one value. */
  cleanup_json json_val mixed = parse ("{\"a\":\"1\",\"n\":3,\"b\":\"2\"}");
  assert_int_equal (rt_labels_from_json (mixed, true, "attributes", &l, &err), -EINVAL);
  assert_string_equal (err.msg, "attributes \"n\" is not a string");
  assert_int_equal (l.n, 0);
  assert_int_equal (rt_labels_from_json (mixed, false, NULL, &l, NULL), 0);
  assert_int_equal (l.n, 2);
  assert_null (rt_labels_get (&l, "n"));
  rt_labels_free (&l);

  /* Not an object at all. */
  cleanup_json json_val arr = parse ("[\"a\"]");
  assert_int_equal (rt_labels_from_json (arr, true, "labels", &l, &err), -EINVAL);
  assert_string_equal (err.msg, "\"labels\" is not an object");
  assert_int_equal (rt_labels_from_json (arr, false, NULL, &l, NULL), 0);
  assert_int_equal (l.n, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_states),
    cmocka_unit_test (test_health),
    cmocka_unit_test (test_labels),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
