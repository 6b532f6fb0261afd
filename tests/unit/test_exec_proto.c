/* The plugin protocol's strict reading of answers and events, and the
 * events synthesised from two polled lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/util.h"
#include "runtime/exec-proto.h"

static int
answer (const char *text, json_val *v, lympho_error_t *err)
{
  return exec_proto_answer (text, strlen (text), v, err);
}

static void
assert_garbage (const char *text, const char *why)
{
  json_val v = NULL;
  lympho_error_t err = { 0 };
  int ret = answer (text, &v, &err);
  if (ret != -EIO)
    fail_msg ("accepted %s (ret %d)", text, ret);
  assert_null (v);
  assert_int_equal (err.status, EIO);
  assert_non_null (strstr (err.msg, "plugin answered garbage"));
  if (why && strstr (err.msg, why) == NULL)
    fail_msg ("message for %s: %s (expected %s)", text, err.msg, why);
}

static void
test_answer_garbage (void **state)
{
  (void) state;
  assert_garbage ("", "empty");
  assert_garbage ("hello world\n", "malformed");
  assert_garbage ("{\"version\":1,\"ok\":true", "malformed");
  assert_garbage ("{\"version\":1,\"ok\":true} trailing", "malformed");
  assert_garbage ("{\"version\":1,\"ok\":true}{\"version\":1,\"ok\":true}", "malformed");
  assert_garbage ("[{\"version\":1,\"ok\":true}]", "not a JSON object");
  assert_garbage ("{\"ok\":true}", "version");
  assert_garbage ("{\"version\":\"1\",\"ok\":true}", "version");
  assert_garbage ("{\"version\":2,\"ok\":true}", "protocol version 2");
  assert_garbage ("{\"version\":0,\"ok\":true}", "protocol version 0");
  assert_garbage ("{\"version\":1}", "ok");
  assert_garbage ("{\"version\":1,\"ok\":\"yes\"}", "ok");
  assert_garbage ("{\"version\":1,\"ok\":false}", "error");
  assert_garbage ("{\"version\":1,\"ok\":false,\"error\":\"x\",\"errno\":2}", "errno");
  const char nul[] = "{\"version\":1,\"ok\":true}\0";
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (exec_proto_answer (nul, sizeof nul - 1, &v, &err), -EIO);
}

static void
test_answer_oversized (void **state)
{
  (void) state;
  size_t len = EXEC_PROTO_MAX_ANSWER + 1;
  char *big = xmalloc (len + 1);
  memset (big, ' ', len);
  memcpy (big, "{\"version\":1,\"ok\":true}", 23);
  big[len] = '\0';
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (exec_proto_answer (big, len, &v, &err), -EIO);
  assert_non_null (strstr (err.msg, "more than"));
  /* The same answer under the cap, trailing whitespace included, is fine. */
  assert_int_equal (exec_proto_answer (big, 4096, &v, &err), 0);
  json_free (v);
  free (big);
}

static void
test_answer_ok_and_errors (void **state)
{
  (void) state;
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (answer ("{\"version\":1,\"ok\":true,\"id\":\"abc\",\"future\":[1]}\n", &v, &err), 0);
  char *id = NULL;
  assert_int_equal (exec_proto_id (v, &id, &err), 0);
  assert_string_equal (id, "abc");
  free (id);
  json_free (v);

  assert_int_equal (answer ("{\"version\":1,\"ok\":false,\"error\":\"no such container x\",\"errno\":\"ENOENT\"}",
                            &v, &err),
                    -ENOENT);
  assert_null (v);
  assert_string_equal (err.msg, "no such container x");
  assert_int_equal (answer ("{\"version\":1,\"ok\":false,\"error\":\"taken\",\"errno\":\"EEXIST\"}", &v, &err),
                    -EEXIST);
  /* Without an errno, or one lymphd does not know: EIO, message kept. */
  assert_int_equal (answer ("{\"version\":1,\"ok\":false,\"error\":\"boom\"}", &v, &err), -EIO);
  assert_string_equal (err.msg, "boom");
  assert_int_equal (answer ("{\"version\":1,\"ok\":false,\"error\":\"odd\",\"errno\":\"EWHAT\"}", &v, &err), -EIO);
  assert_int_equal (exec_proto_errno ("ETIMEDOUT"), ETIMEDOUT);
  assert_string_equal (exec_proto_errno_name (ENOENT), "ENOENT");

  /* ok:true without the member the operation needs. */
  assert_int_equal (answer ("{\"version\":1,\"ok\":true}", &v, &err), 0);
  assert_int_equal (exec_proto_id (v, &id, &err), -EIO);
  assert_non_null (strstr (err.msg, "\"id\""));
  json_free (v);
}

static int
container (const char *text, bool full, struct rt_container *c, lympho_error_t *err)
{
  cleanup_json json_val v = NULL;
  assert_int_equal (json_parse (text, strlen (text), &v, err), 0);
  return exec_proto_container (v, full, c, err);
}

static void
test_container (void **state)
{
  (void) state;
  struct rt_container c;
  lympho_error_t err = { 0 };
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"/web\",\"image_id\":\"sha256:aa\",\"state\":\"running\","
                               "\"labels\":{\"lympho.enable\":\"true\"},\"pid\":42,\"health\":\"healthy\","
                               "\"networks\":[\"n1\",\"n2\"],\"mounts\":[\"/data\",\"/run\"],"
                               "\"started_at_ms\":1700000000000}",
                               true, &c, &err),
                    0);
  assert_string_equal (c.id, "c1");
  assert_string_equal (c.name, "web");
  assert_int_equal (c.state, RT_STATE_RUNNING);
  assert_int_equal (c.health, RT_HEALTH_HEALTHY);
  assert_int_equal (c.pid, 42);
  assert_int_equal (c.n_networks, 2);
  assert_int_equal (c.n_mounts, 2);
  assert_string_equal (c.mounts[0], "/data");
  assert_string_equal (c.mounts[1], "/run");
  assert_string_equal (rt_labels_get (&c.labels, "lympho.enable"), "true");
  rt_container_free (&c);

  /* A name or an image id that would be a path under the state directory. */
  assert_true (rt_name_valid ("web-1.blue_2"));
  assert_true (rt_name_valid ("a"));
  assert_false (rt_name_valid (""));
  assert_false (rt_name_valid ("-x"));
  assert_false (rt_name_valid ("caf\xc3\xa9"));
  assert_false (rt_name_valid ("a b"));
  assert_true (rt_image_id_valid ("sha256:8e91ab"));
  assert_true (rt_image_id_valid ("8e91ab"));
  assert_false (rt_image_id_valid ("sha256:"));
  assert_false (rt_image_id_valid (":ab"));
  assert_false (rt_image_id_valid ("SHA256:ab"));
  assert_false (rt_image_id_valid ("sha256:AB"));
  assert_false (rt_image_id_valid ("sha256:ab/.."));
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"../../etc/x\",\"state\":\"running\"}", false, &c, &err), -EIO);
  assert_non_null (strstr (err.msg, "not a container name"));
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"a/b\",\"state\":\"running\"}", false, &c, &err), -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\".hidden\",\"state\":\"running\"}", false, &c, &err), -EIO);
  /* A container's image id that is not a content id is left out. */
  assert_int_equal (
      container ("{\"id\":\"c1\",\"name\":\"w\",\"image_id\":\"sha256:../../x\",\"state\":\"running\"}", false, &c, &err),
      0);
  assert_null (c.image_id);
  rt_container_free (&c);

  /* Missing fields, wrong types, unknown states: refused whole. */
  assert_int_equal (container ("{\"name\":\"web\",\"state\":\"running\"}", false, &c, &err), -EIO);
  assert_non_null (strstr (err.msg, "\"id\""));
  assert_int_equal (container ("{\"id\":\"c1\",\"state\":\"running\"}", false, &c, &err), -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\"}", false, &c, &err), -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"sleeping\"}", false, &c, &err), -EIO);
  assert_non_null (strstr (err.msg, "sleeping"));
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"exited\",\"labels\":{\"a\":1}}", false, &c,
                               &err),
                    -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"exited\",\"pid\":\"1\"}", true, &c, &err),
                    -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"exited\",\"networks\":\"n\"}", true, &c,
                               &err),
                    -EIO);
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"exited\",\"mounts\":\"/data\"}", true,
                               &c, &err),
                    -EIO);
  assert_non_null (strstr (err.msg, "\"mounts\" is not a list"));
  assert_int_equal (container ("{\"id\":\"c1\",\"name\":\"w\",\"state\":\"exited\",\"mounts\":[1]}", true, &c,
                               &err),
                    -EIO);
  assert_non_null (strstr (err.msg, "a mount destination is not a string"));
  assert_int_equal (container ("{\"id\":\"\",\"name\":\"w\",\"state\":\"exited\"}", true, &c, &err), -EIO);
}

static void
test_snapshot (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct rt_snapshot s;
  cleanup_json json_val v = NULL;
  const char *ok = "{\"id\":\"c1\",\"name\":\"web\",\"image_id\":\"sha256:aa\",\"spec\":{\"args\":[\"/bin/sh\"]},"
                   "\"labels\":{\"a\":\"b\"},\"stop_timeout\":7,\"swap_blocker\":\"host network\"}";
  assert_int_equal (json_parse (ok, strlen (ok), &v, &err), 0);
  assert_int_equal (exec_proto_snapshot (v, &s, &err), 0);
  assert_string_equal (s.spec, "{\"args\":[\"/bin/sh\"]}");
  assert_int_equal (s.stop_timeout_s, 7);
  assert_string_equal (s.swap_blocker, "host network");
  assert_false (s.has_healthcheck);
  rt_snapshot_free (&s);
  json_free (v);
  v = NULL;
  const char *nospec = "{\"id\":\"c1\",\"name\":\"web\",\"image_id\":\"sha256:aa\"}";
  assert_int_equal (json_parse (nospec, strlen (nospec), &v, &err), 0);
  assert_int_equal (exec_proto_snapshot (v, &s, &err), -EIO);
  assert_non_null (strstr (err.msg, "spec"));
  json_free (v);
  v = NULL;
  /* The snapshot's image id names the learned lists' file: a path is refused. */
  const char *bad = "{\"id\":\"c1\",\"name\":\"web\",\"image_id\":\"sha256:../../../etc/cron.d/x\",\"spec\":{}}";
  assert_int_equal (json_parse (bad, strlen (bad), &v, &err), 0);
  assert_int_equal (exec_proto_snapshot (v, &s, &err), -EIO);
  assert_non_null (strstr (err.msg, "not a content id"));
  json_free (v);
  v = NULL;
  const char *badname = "{\"id\":\"c1\",\"name\":\"../web\",\"image_id\":\"sha256:aa\",\"spec\":{}}";
  assert_int_equal (json_parse (badname, strlen (badname), &v, &err), 0);
  assert_int_equal (exec_proto_snapshot (v, &s, &err), -EIO);
  assert_non_null (strstr (err.msg, "not a container name"));
}

static void
test_event (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct rt_event ev;
  json_val tree = NULL;
  struct rt_labels attrs = { 0 };
  const char *line = "{\"version\":1,\"type\":\"container\",\"action\":\"die\",\"id\":\"c1\",\"exit_code\":3,"
                     "\"time_nano\":5,\"attributes\":{\"name\":\"web\"}}";
  assert_int_equal (exec_proto_event (line, strlen (line), &ev, &tree, &attrs, &err), 0);
  assert_int_equal (ev.type, RT_EV_CONTAINER);
  assert_string_equal (ev.action, "die");
  assert_string_equal (ev.name, "web");
  assert_int_equal (ev.exit_code, 3);
  assert_int_equal (ev.time_nano, 5);
  json_free (tree);
  rt_labels_free (&attrs);
  const char *bad[] = { "{\"type\":\"container\",\"action\":\"die\",\"id\":\"c1\"}",
                        "{\"version\":1,\"action\":\"die\",\"id\":\"c1\"}",
                        "{\"version\":1,\"type\":\"container\",\"action\":\"die\",\"id\":\"c1\"} x",
                        "{\"version\":1,\"type\":\"container\",\"action\":\"die\",\"id\":\"c1\",\"exit_code\":\"3\"}" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      assert_int_equal (exec_proto_event (bad[i], strlen (bad[i]), &ev, &tree, &attrs, &err), -EIO);
      assert_null (tree);
    }
}

static char seen[512];

static void
record (void *ud, const struct rt_event *ev)
{
  (void) ud;
  char one[64];
  snprintf (one, sizeof one, "%s:%s ", ev->action, ev->name);
  strncat (seen, one, sizeof seen - strlen (seen) - 1);
}

static void
test_diff (void **state)
{
  (void) state;
  struct rt_container old[] = {
    { .id = "a", .name = "web", .state = RT_STATE_RUNNING },
    { .id = "b", .name = "db", .state = RT_STATE_RUNNING },
    { .id = "c", .name = "tmp", .state = RT_STATE_EXITED },
    { .id = "d", .name = "gone", .state = RT_STATE_RUNNING },
    { .id = "e", .name = "p", .state = RT_STATE_RUNNING },
  };
  struct rt_container cur[] = {
    { .id = "a", .name = "web", .state = RT_STATE_RUNNING },
    { .id = "b", .name = "db", .state = RT_STATE_EXITED },
    { .id = "c", .name = "tmp2", .state = RT_STATE_RUNNING },
    { .id = "e", .name = "p", .state = RT_STATE_PAUSED },
    { .id = "f", .name = "new", .state = RT_STATE_CREATED },
  };
  seen[0] = '\0';
  exec_proto_diff (old, 5, cur, 5, 1, record, NULL);
  assert_string_equal (seen, "die:db rename:tmp2 start:tmp2 pause:p create:new die:gone destroy:gone ");
  seen[0] = '\0';
  exec_proto_diff (cur, 5, cur, 5, 1, record, NULL);
  assert_string_equal (seen, "");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_answer_garbage), cmocka_unit_test (test_answer_oversized),
    cmocka_unit_test (test_answer_ok_and_errors), cmocka_unit_test (test_container),
    cmocka_unit_test (test_snapshot), cmocka_unit_test (test_event), cmocka_unit_test (test_diff),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
