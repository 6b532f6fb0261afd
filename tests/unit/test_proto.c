/* The control protocol: round trips, and every rule that makes the parser
 * refuse a line whole. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/proto.h"
#include "lympho/util.h"

/* Decode a request given as a C string (without its newline). */
static int
req (const char *line, lympho_error_t *err)
{
  json_val tree = NULL, args = NULL;
  const char *cmd = NULL;
  int ret = proto_request_decode (line, strlen (line), &tree, &cmd, &args, err);
  if (ret == 0)
    {
      assert_non_null (tree);
      assert_non_null (cmd);
      assert_true (json_is_object (args));
      json_free (tree);
    }
  else
    assert_null (tree);
  return ret;
}

static void
test_request_roundtrip (void **state)
{
  (void) state;
  char *line = proto_request_encode ("regen", "{\n  \"name\": \"web\",\n  \"reason\": \"a\\nb\"\n}");
  assert_non_null (line);
  size_t len = strlen (line);
  assert_true (len > 0 && line[len - 1] == '\n');
  /* One line, whatever the args text looked like. */
  assert_ptr_equal (strchr (line, '\n'), line + len - 1);

  json_val tree = NULL, args = NULL;
  const char *cmd = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (proto_request_decode (line, len - 1, &tree, &cmd, &args, &err), 0);
  assert_string_equal (cmd, "regen");
  assert_string_equal (json_str (json_get (args, "name")), "web");
  assert_string_equal (json_str (json_get (args, "reason")), "a\nb");
  json_free (tree);
  free (line);

  /* No args: an empty object either way. */
  line = proto_request_encode ("status", NULL);
  assert_string_equal (line, "{\"v\":1,\"cmd\":\"status\",\"args\":{}}\n");
  free (line);
  assert_int_equal (proto_request_decode ("{\"v\":1,\"cmd\":\"ls\"}", 18, &tree, &cmd, &args, &err), 0);
  assert_string_equal (cmd, "ls");
  assert_true (json_is_object (args));
  assert_int_equal (json_obj_len (args), 0);
  json_free (tree);

  /* args must be an object to be encoded at all. */
  assert_null (proto_request_encode ("ls", "[1]"));
  assert_null (proto_request_encode ("ls", "{"));
}

static void
test_request_strict (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"args\":{}}", &err), 0);

  assert_int_equal (req ("{\"v\":2,\"cmd\":\"ls\"}", &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "version 2"));
  assert_int_equal (req ("{\"v\":\"1\",\"cmd\":\"ls\"}", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1.0,\"cmd\":\"ls\"}", &err), -EINVAL);
  assert_int_equal (req ("{\"cmd\":\"ls\"}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "missing `v`"));
  assert_int_equal (req ("{\"v\":1}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "missing `cmd`"));
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"\"}", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1,\"cmd\":3}", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"extra\":0}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "unknown key `extra`"));
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"cmd\":\"status\"}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "duplicate key"));
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"args\":[]}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "`args` is not an object"));
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"args\":null}", &err), -EINVAL);
  assert_int_equal (req ("[1]", &err), -EINVAL);
  assert_int_equal (req ("", &err), -EINVAL);
  assert_int_equal (req ("not json", &err), -EINVAL);
  /* Trailing bytes: a second value, garbage, a second line. */
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\"}{}", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\"} x", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\"}\n{\"v\":1,\"cmd\":\"ls\"}", &err), -EINVAL);
  assert_non_null (strstr (err.msg, "trailing bytes"));
  const char with_nul[] = "{\"v\":1,\"cmd\":\"ls\"}\0x";
  json_val tree = NULL, args = NULL;
  const char *cmd = NULL;
  assert_true (proto_request_decode (with_nul, sizeof with_nul - 1, &tree, &cmd, &args, &err) < 0);
  assert_null (tree);
  /* Comments are a yajl extension, not JSON. A slash inside a string is fine. */
  assert_int_equal (req ("{\"v\":1,/* c */\"cmd\":\"ls\"}", &err), -EINVAL);
  assert_int_equal (req ("{\"v\":1,\"cmd\":\"ls\",\"args\":{\"name\":\"a/b\\\"/\"}}", &err), 0);
}

/* A valid request of exactly `total` bytes (without newline). */
static char *
padded_request (size_t total)
{
  const char *head = "{\"v\":1,\"cmd\":\"ls\",\"args\":{\"pad\":\"";
  const char *tail = "\"}}";
  size_t hl = strlen (head), tl = strlen (tail);
  char *line = xmalloc (total + 1);
  memcpy (line, head, hl);
  memset (line + hl, 'a', total - hl - tl);
  memcpy (line + total - tl, tail, tl);
  line[total] = '\0';
  return line;
}

static void
test_request_too_long (void **state)
{
  (void) state;
  /* Exactly at the limit with its newline is fine; one more byte is not. */
  lympho_error_t err = { 0 };
  char *line = padded_request (PROTO_MAX_LINE - 1);
  assert_int_equal (req (line, &err), 0);
  free (line);
  line = padded_request (PROTO_MAX_LINE);
  assert_int_equal (req (line, &err), -EMSGSIZE);
  assert_non_null (strstr (err.msg, "too long"));
  free (line);
}

static void
test_reply_roundtrip (void **state)
{
  (void) state;
  json_val tree = NULL, result = NULL;
  lympho_error_t err = { 0 };

  char *line = proto_reply_ok ("[\n {\"name\":\"web\",\"generation\":3}\n]");
  assert_string_equal (line, "{\"v\":1,\"ok\":true,\"result\":[{\"name\":\"web\",\"generation\":3}]}\n");
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), 0);
  assert_true (json_is_array (result));
  assert_string_equal (json_str (json_get (json_arr_at (result, 0), "name")), "web");
  json_free (tree);
  free (line);

  line = proto_reply_ok (NULL);
  assert_string_equal (line, "{\"v\":1,\"ok\":true,\"result\":null}\n");
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), 0);
  assert_true (json_is_null (result));
  json_free (tree);
  free (line);

  /* A refusal comes back as -status with the daemon's own message. */
  line = proto_reply_error (ENOENT, "no protected container named `x`\nsecond line");
  assert_ptr_equal (strchr (line, '\n'), line + strlen (line) - 1);
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), -ENOENT);
  assert_null (tree);
  assert_null (result);
  assert_int_equal (err.status, ENOENT);
  assert_string_equal (err.msg, "no protected container named `x`\nsecond line");
  free (line);

  /* A status of 0 would read as success; it is sent as EIO. */
  line = proto_reply_error (0, "");
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), -EIO);
  free (line);

  /* A result that is not JSON is the daemon's bug, reported as such. */
  line = proto_reply_ok ("{oops");
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), -EIO);
  assert_non_null (strstr (err.msg, "internal error"));
  free (line);
}

static int
rep (const char *line, lympho_error_t *err)
{
  json_val tree = NULL, result = NULL;
  int ret = proto_reply_decode (line, strlen (line), &tree, &result, err);
  if (tree)
    json_free (tree);
  return ret;
}

static void
test_reply_strict (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1}", &err), 0);
  assert_int_equal (rep ("{\"v\":3,\"ok\":true,\"result\":1}", &err), -EPROTONOSUPPORT);
  assert_int_equal (rep ("{\"ok\":true,\"result\":1}", &err), -EINVAL);
  assert_int_equal (rep ("{\"v\":1,\"result\":1}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":1,\"result\":1}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1,\"error\":\"x\"}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1,\"more\":1}", &err), -EINVAL);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"status\":2}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"error\":\"x\"}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"status\":0,\"error\":\"x\"}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"status\":-1,\"error\":\"x\"}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"status\":2,\"error\":\"x\",\"result\":1}", &err), -EPROTO);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1} ", &err), 0);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1}\n", &err), -EINVAL);
  assert_int_equal (rep ("{\"v\":1,\"ok\":true,\"result\":1}x", &err), -EINVAL);
  assert_int_equal (rep ("{\"v\":1,\"ok\":false,\"status\":13,\"error\":\"permission denied\"}", &err), -EACCES);
  assert_string_equal (err.msg, "permission denied");
}

static void
test_reply_too_large (void **state)
{
  (void) state;
  size_t n = PROTO_MAX_LINE;
  char *big = xmalloc (n + 3);
  big[0] = '"';
  memset (big + 1, 'x', n);
  big[n + 1] = '"';
  big[n + 2] = '\0';
  char *line = proto_reply_ok (big);
  json_val tree = NULL, result = NULL;
  lympho_error_t err = { 0 };
  assert_true (strlen (line) <= PROTO_MAX_LINE);
  assert_int_equal (proto_reply_decode (line, strlen (line) - 1, &tree, &result, &err), -EMSGSIZE);
  free (line);
  free (big);
}

/* An event line: the daemon's object, whole; anything else refused. */
static void
test_event (void **state)
{
  (void) state;
  cleanup_free char *line = proto_event_line ("{\"name\":\"web\",\"kind\":\"step\",\"step\":\"commit\"}");
  assert_string_equal (line, "{\"v\":1,\"event\":{\"name\":\"web\",\"kind\":\"step\",\"step\":\"commit\"}}\n");
  json_val tree = NULL, ev = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (proto_event_decode (line, strlen (line) - 1, &tree, &ev, &err), 0);
  assert_string_equal (json_str (json_get (ev, "step")), "commit");
  json_free (tree);
  static const char *const bad[] = {
    "{\"v\":1,\"event\":[]}",           /* not an object */
    "{\"v\":1}",                         /* none */
    "{\"v\":1,\"event\":{},\"ok\":true}", /* a key of a reply */
    "{\"v\":2,\"event\":{}}",           /* another version */
    "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      lympho_error_clear (&err);
      assert_true (proto_event_decode (bad[i], strlen (bad[i]), &tree, &ev, &err) < 0);
      assert_null (tree);
      assert_null (ev);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_request_roundtrip), cmocka_unit_test (test_request_strict),
    cmocka_unit_test (test_request_too_long),  cmocka_unit_test (test_reply_roundtrip),
    cmocka_unit_test (test_reply_strict),      cmocka_unit_test (test_reply_too_large),
    cmocka_unit_test (test_event),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
