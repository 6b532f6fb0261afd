/* The yajl wrapper: strict parsing, typed access, generation round trip,
 * and the golden snapshot's on-disk form. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/store.h"
#include "lympho/util.h"

static void
test_parse_strict (void **state)
{
  (void) state;
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_true (json_parse ("{\"a\":", 5, &v, &err) < 0);
  assert_non_null (strstr (err.msg, "malformed JSON"));
  assert_null (strchr (err.msg, '\n'));
  assert_true (json_parse ("{} x", 4, &v, &err) < 0);
  const char with_nul[] = "{\"a\":1}\0garbage";
  assert_true (json_parse (with_nul, sizeof with_nul - 1, &v, &err) < 0);
  assert_int_equal (json_parse ("{\"a\":{\"b\":[1,\"x\"]}}", 19, &v, &err), 0);
  json_val b = json_path (v, "a", "b", NULL);
  assert_int_equal (json_arr_len (b), 2);
  int64_t n = 0;
  assert_true (json_as_int64 (json_arr_at (b, 0), &n));
  assert_int_equal (n, 1);
  assert_string_equal (json_str (json_arr_at (b, 1)), "x");
  assert_null (json_str (json_arr_at (b, 0)));
  assert_null (json_path (v, "a", "missing", NULL));
  assert_null (json_get (b, "a"));
  json_free (v);
}

/* A document nested deeper than JSON_MAX_DEPTH is refused before a tree is
 * built: yajl builds and frees its tree by recursion, and 262,144 open
 * brackets overflowed the stack in yajl_tree_free. Brackets inside strings
 * do not count. */
static void
test_parse_depth (void **state)
{
  (void) state;
  json_val v = NULL;
  lympho_error_t err = { 0 };
  size_t deep = 262144;
  char *s = xmalloc (2 * deep + 1);
  memset (s, '[', deep);
  memset (s + deep, ']', deep);
  assert_true (json_parse (s, 2 * deep, &v, &err) < 0);
  assert_int_equal (err.status, E2BIG);
  assert_non_null (strstr (err.msg, "nested deeper than 64"));
  lympho_error_clear (&err);
  /* At the limit: parsed. One more: refused, objects or arrays alike. */
  char *at = xasprintf ("%.*s%.*s", JSON_MAX_DEPTH, s, JSON_MAX_DEPTH, s + deep);
  assert_int_equal (json_parse (at, strlen (at), &v, &err), 0);
  json_free (v);
  char *over = xasprintf ("{\"a\":%.*s%.*s}", JSON_MAX_DEPTH, s, JSON_MAX_DEPTH, s + deep);
  assert_true (json_parse (over, strlen (over), &v, &err) < 0);
  lympho_error_clear (&err);
  /* Brackets in strings, escaped quotes included, are text. */
  char *text = xasprintf ("{\"k\":\"\\\"%.*s\"}", JSON_MAX_DEPTH + 10, s);
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  json_free (v);
  free (text);
  free (over);
  free (at);
  free (s);
}

/* A string with a byte that is not UTF-8 (a file name, a plugin's answer)
 * is written as U+FFFD: the document parses again, where before the
 * generator wrote the byte raw and yajl's parser refused the whole text
 * (a history line lost). Control characters are escaped. */
static void
test_gen_invalid_utf8 (void **state)
{
  (void) state;
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "path", "/tmp/\xff\x80x");
  json_gen_kstr (g, "argv", "a\nb\x01");
  json_gen_map_close (g);
  cleanup_free char *text = json_gen_text (g);
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  assert_string_equal (json_str (json_get (v, "path")), "/tmp/\xef\xbf\xbd\xef\xbf\xbdx");
  assert_string_equal (json_str (json_get (v, "argv")), "a\nb\x01");
  assert_null (strchr (text, '\n'));
  json_free (v);
}

static void
test_roundtrip_keeps_numbers (void **state)
{
  (void) state;
  const char *text = "{\"big\":1.50,\"i\":-3,\"t\":true,\"n\":null,\"s\":\"q\\\"\",\"arr\":[{},[]]}";
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  char *out = json_to_string (v);
  assert_string_equal (out, "{\"big\":1.50,\"i\":-3,\"t\":true,\"n\":null,\"s\":\"q\\\"\",\"arr\":[{},[]]}");
  free (out);
  json_free (v);
}

static void
test_golden_roundtrip (void **state)
{
  (void) state;
  struct golden g = { 0 };
  g.name = xstrdup ("web");
  g.source_id = xstrdup ("0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef");
  g.image_id = xstrdup ("sha256:feedfacefeedface");
  g.pin_ref = xstrdup ("lympho-pin/web:feedfacefeed");
  g.spec = xstrdup ("{\"Create\":{\"Image\":\"sha256:feedfacefeedface\"}}");
  rt_labels_set (&g.labels, "lympho.enable", "true");
  rt_labels_set (&g.labels, "lympho.ttl", "10m");
  g.swap_blocker = xstrdup ("publishes host port 8080/tcp");
  g.stop_timeout_s = 7;
  g.adopted_at_ms = 1700000000000ull;
  char *text = golden_to_json (&g);
  struct golden h;
  lympho_error_t err = { 0 };
  assert_int_equal (golden_from_json (text, strlen (text), &h, &err), 0);
  assert_string_equal (h.name, "web");
  assert_string_equal (h.image_id, g.image_id);
  assert_string_equal (h.spec, g.spec);
  assert_string_equal (h.swap_blocker, g.swap_blocker);
  assert_string_equal (rt_labels_get (&h.labels, "lympho.ttl"), "10m");
  assert_int_equal (h.stop_timeout_s, 7);
  assert_int_equal (h.adopted_at_ms, 1700000000000ull);
  golden_free (&h);
  /* A snapshot missing its spec is refused whole. */
  const char *bad = "{\"version\":1,\"name\":\"x\",\"source_id\":\"y\",\"image_id\":\"z\",\"labels\":{}}";
  assert_true (golden_from_json (bad, strlen (bad), &h, &err) < 0);
  assert_non_null (strstr (err.msg, "spec"));
  free (text);
  golden_free (&g);
}

static void
test_pin_repo_lowercase (void **state)
{
  (void) state;
  char *r = store_pin_repo ("My_Web.1");
  assert_string_equal (r, "lympho-pin/my_web.1");
  free (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_strict),
    cmocka_unit_test (test_parse_depth),
    cmocka_unit_test (test_gen_invalid_utf8),
    cmocka_unit_test (test_roundtrip_keeps_numbers),
    cmocka_unit_test (test_golden_roundtrip),
    cmocka_unit_test (test_pin_repo_lowercase),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
