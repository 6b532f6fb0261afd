/* The control commands' table: which commands there are, and the argument
 * checks the dispatcher makes before a handler runs (a missing required
 * argument, a wrongly typed one, keys no command declares). The messages are
 * what lymphctl prints: they are checked word for word. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "shim/daemon-int.h"

#define ALERT_USAGE "alert: `name` and an integer `severity` 0..10 are required"

/* Checks args (JSON text) for the command `name`: returns command_check's
 * result and leaves its message in err. */
static int
check (const char *name, const char *args_json, lympho_error_t *err)
{
  const struct command *c = command_find (name);
  assert_non_null (c);
  cleanup_json json_val args = NULL;
  lympho_error_t perr = { 0 };
  assert_int_equal (json_parse (args_json, strlen (args_json), &args, &perr), 0);
  memset (err, 0, sizeof *err);
  return command_check (c, args, err);
}

static void
expect_usage (const char *name, const char *args_json, const char *msg)
{
  lympho_error_t err;
  assert_int_equal (check (name, args_json, &err), -EINVAL);
  assert_int_equal (err.status, EINVAL);
  assert_string_equal (err.msg, msg);
}

static void
expect_ok (const char *name, const char *args_json)
{
  lympho_error_t err;
  assert_int_equal (check (name, args_json, &err), 0);
}

static void
test_find (void **state)
{
  (void) state;
  static const char *const known[] = { "status", "ls", "regen", "alert", "history", "events" };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    {
      const struct command *c = command_find (known[i]);
      assert_non_null (c);
      assert_string_equal (c->name, known[i]);
      assert_non_null (c->args);
      assert_non_null (c->handler);
    }
  /* Unknown: the dispatcher answers "unknown command `NAME`" (EINVAL). */
  assert_null (command_find ("frobnicate"));
  assert_null (command_find (""));
  assert_null (command_find ("Regen"));
  assert_null (command_find ("regen "));
}

static void
test_missing (void **state)
{
  (void) state;
  expect_usage ("regen", "{}", "regen: `name` is required");
  expect_usage ("regen", "{\"reason\":\"x\"}", "regen: `name` is required");
  /* alert says one message for either of its two required arguments. */
  expect_usage ("alert", "{}", ALERT_USAGE);
  expect_usage ("alert", "{\"name\":\"web\"}", ALERT_USAGE);
  expect_usage ("alert", "{\"severity\":3}", ALERT_USAGE);
}

static void
test_wrong_type (void **state)
{
  (void) state;
  /* A non-string reason was once dropped without a word. */
  expect_usage ("regen", "{\"name\":\"web\",\"reason\":5}", "regen: `reason` must be a string, not an integer");
  expect_usage ("regen", "{\"name\":\"web\",\"reason\":true}", "regen: `reason` must be a string, not a boolean");
  expect_usage ("regen", "{\"name\":\"web\",\"reason\":null}", "regen: `reason` must be a string, not null");
  expect_usage ("regen", "{\"name\":[\"web\"]}", "regen: `name` must be a string, not an array");
  expect_usage ("alert", "{\"name\":\"web\",\"severity\":\"3\"}", "alert: `severity` must be an integer, not a string");
  expect_usage ("alert", "{\"name\":\"web\",\"severity\":3.5}",
                "alert: `severity` must be an integer, not a number with a fraction or an exponent");
  expect_usage ("alert", "{\"name\":{},\"severity\":3}", "alert: `name` must be a string, not an object");
  expect_usage ("alert", "{\"name\":\"web\",\"severity\":3,\"reason\":1}",
                "alert: `reason` must be a string, not an integer");
  expect_usage ("history", "{\"limit\":\"10\"}", "history: `limit` must be an integer, not a string");
  expect_usage ("history", "{\"name\":false}", "history: `name` must be a string, not a boolean");
  expect_usage ("events", "{\"follow\":1}", "events: `follow` must be a boolean, not an integer");
  expect_usage ("events", "{\"follow\":\"yes\"}", "events: `follow` must be a boolean, not a string");
}

static void
test_accepted (void **state)
{
  (void) state;
  expect_ok ("status", "{}");
  expect_ok ("ls", "{}");
  expect_ok ("regen", "{\"name\":\"web\"}");
  expect_ok ("regen", "{\"name\":\"web\",\"reason\":\"deploy\"}");
  /* An empty name is the handler's: no protected container named ``. */
  expect_ok ("regen", "{\"name\":\"\"}");
  expect_ok ("alert", "{\"name\":\"web\",\"severity\":10}");
  expect_ok ("alert", "{\"name\":\"web\",\"severity\":0}");
  expect_ok ("alert", "{\"name\":\"web\",\"severity\":3,\"reason\":\"canary\"}");
  expect_ok ("history", "{}");
  expect_ok ("history", "{\"name\":\"web\",\"limit\":100}");
  expect_ok ("events", "{}");
  expect_ok ("events", "{\"name\":\"web\",\"follow\":true,\"limit\":0}");
  expect_ok ("events", "{\"follow\":false}");
}

/* Every key declared, every integer in its range, every string bounded:
 * before, an unknown key was accepted, a bad limit ignored, and a huge
 * reason kept whole. */
static void
test_schema (void **state)
{
  (void) state;
  expect_usage ("status", "{\"verbose\":true}", "status: `verbose` is not an argument of status");
  expect_usage ("regen", "{\"name\":\"web\",\"force\":1}", "regen: `force` is not an argument of regen");
  expect_usage ("alert", "{\"name\":\"web\",\"severity\":11}", ALERT_USAGE);
  expect_usage ("alert", "{\"name\":\"web\",\"severity\":-1}", ALERT_USAGE);
  expect_usage ("history", "{\"limit\":0}", "history: `limit` must be from 1 to 100000");
  expect_usage ("history", "{\"limit\":-5}", "history: `limit` must be from 1 to 100000");
  expect_usage ("history", "{\"limit\":99999999999999999999}",
                "history: `limit` must be an integer, not a number with a fraction or an exponent");
  char big[1200];
  memset (big, 'r', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  cleanup_free char *args = xasprintf ("{\"name\":\"web\",\"reason\":\"%s\"}", big);
  expect_usage ("regen", args, "regen: `reason` is longer than 1024 bytes");
  cleanup_free char *longname = xasprintf ("{\"name\":\"%.300s\"}", big);
  expect_usage ("regen", longname, "regen: `name` is longer than 255 bytes");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_find),
    cmocka_unit_test (test_missing),
    cmocka_unit_test (test_wrong_type),
    cmocka_unit_test (test_accepted),
    cmocka_unit_test (test_schema),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
