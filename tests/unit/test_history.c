/* The history in a temporary state directory: entries come back newest
 * first, filtered by name and cut at the limit (also across the rotation to
 * history.1), the detail hook's value embedded as JSON, optional fields left
 * out when unset, and corrupt lines skipped while the others still read. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/history.h"
#include "lympho/json.h"
#include "lympho/util.h"
#include "unit-util.h"

struct fixture
{
  char dir[64];
  char *path;  /* <dir>/history */
  char *old;   /* <dir>/history.1 */
};

static int
setup (void **state)
{
  struct fixture *f = xmalloc0 (sizeof *f);
  strcpy (f->dir, "/tmp/lympho-test-history-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  f->path = xasprintf ("%s/history", f->dir);
  f->old = xasprintf ("%s/history.1", f->dir);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  unit_rmtree (f->dir);
  free (f->path);
  free (f->old);
  free (f);
  return 0;
}

/* An entry that is not an incident, with no optional field set. */
static struct history_entry
plain (uint64_t time_ms, const char *name)
{
  return (struct history_entry) {
    .time_ms = time_ms, .name = name, .kind = "regen", .result = "ok", .generation = -1, .duration_ms = -1,
    HISTORY_NO_INCIDENT,
  };
}

static void
append (struct fixture *f, const struct history_entry *e)
{
  lympho_error_t err = { 0 };
  if (history_append (f->dir, e, &err) < 0)
    fail_msg ("history_append: %s", err.msg);
}

/* history_read, parsed; always an array. */
static json_val
read_parsed (struct fixture *f, const char *name, size_t limit)
{
  cleanup_free char *text = history_read (f->dir, name, limit);
  assert_non_null (text);
  json_val v = NULL;
  lympho_error_t err = { 0 };
  if (json_parse (text, strlen (text), &v, &err) < 0)
    fail_msg ("history_read gave no JSON: %s: %.200s", err.msg, text);
  assert_true (json_is_array (v));
  return v;
}

static int64_t
int_of (json_val v, const char *key)
{
  int64_t n = 0;
  if (!json_as_int64 (json_get (v, key), &n))
    fail_msg ("`%s` missing or not an integer", key);
  return n;
}

/* The "time" members of what history_read returns, e.g. "3 2 1". */
static char *
times_of (struct fixture *f, const char *name, size_t limit)
{
  cleanup_json json_val v = read_parsed (f, name, limit);
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < json_arr_len (v); i++)
    buf_printf (&b, "%s%lld", i ? " " : "", (long long) int_of (json_arr_at (v, i), "time"));
  char *s = buf_steal (&b);
  return s ? s : xstrdup ("");
}

#define ASSERT_TIMES(f, name, limit, want)                                                                             \
  do                                                                                                                   \
    {                                                                                                                  \
      cleanup_free char *got_ = times_of ((f), (name), (limit));                                                       \
      assert_string_equal (got_, (want));                                                                              \
    }                                                                                                                  \
  while (0)

static void
write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
  close (fd);
}

/* --- order, filter, limit ---------------------------------------------- */

static void
fill_abc (struct fixture *f)
{
  struct history_entry a1 = plain (1000, "a"), b = plain (2000, "b"), a2 = plain (3000, "a"), c = plain (4000, "c");
  append (f, &a1);
  append (f, &b);
  append (f, &a2);
  append (f, &c);
}

static void
test_newest_first (void **state)
{
  struct fixture *f = *state;
  fill_abc (f);
  ASSERT_TIMES (f, NULL, 0, "4000 3000 2000 1000");
  cleanup_json json_val v = read_parsed (f, NULL, 0);
  assert_string_equal (json_str (json_get (json_arr_at (v, 0), "name")), "c");
  assert_string_equal (json_str (json_get (json_arr_at (v, 3), "name")), "a");
  /* On disk, newest last, one line each, private to lymphd. */
  cleanup_free char *text = NULL;
  size_t len = 0;
  assert_int_equal (read_file (f->path, 1 << 20, &text, &len, NULL), 0);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  assert_int_equal (lines, 4);
  assert_int_equal (text[len - 1], '\n');
  assert_true (str_has_prefix (text, "{\"time\":1000,"));
  struct stat st;
  assert_int_equal (stat (f->path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
}

static void
test_name_filter (void **state)
{
  struct fixture *f = *state;
  fill_abc (f);
  ASSERT_TIMES (f, "a", 0, "3000 1000");
  ASSERT_TIMES (f, "b", 0, "2000");
  ASSERT_TIMES (f, "nobody", 0, "");
  /* The empty name is a name too, that no entry has. */
  ASSERT_TIMES (f, "", 0, "");
  cleanup_free char *none = history_read (f->dir, "nobody", 0);
  assert_string_equal (none, "[]");
}

static void
test_limit (void **state)
{
  struct fixture *f = *state;
  fill_abc (f);
  ASSERT_TIMES (f, NULL, 1, "4000");
  ASSERT_TIMES (f, NULL, 3, "4000 3000 2000");
  ASSERT_TIMES (f, NULL, 4, "4000 3000 2000 1000");
  /* A limit larger than the count is all of them. */
  ASSERT_TIMES (f, NULL, 100, "4000 3000 2000 1000");
  /* With a name, the limit counts that name's entries only. */
  ASSERT_TIMES (f, "a", 1, "3000");
  ASSERT_TIMES (f, "a", 2, "3000 1000");
  ASSERT_TIMES (f, "a", 5, "3000 1000");
}

/* No history yet, or no state directory at all: an empty array. Writing
 * where there is no directory fails with the reason. */
static void
test_missing (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *empty = history_read (f->dir, NULL, 0);
  assert_string_equal (empty, "[]");
  cleanup_free char *nodir = xasprintf ("%s/absent", f->dir);
  cleanup_free char *empty2 = history_read (nodir, "x", 3);
  assert_string_equal (empty2, "[]");
  struct history_entry e = plain (1, "x");
  lympho_error_t err = { 0 };
  assert_int_equal (history_append (nodir, &e, &err), -ENOENT);
  assert_int_equal (err.status, ENOENT);
  assert_non_null (strstr (err.msg, "absent/history"));
}

/* --- rotation ---------------------------------------------------------- */

/* Past HISTORY_MAX_BYTES the next append moves the file to history.1 and
 * starts a new one; reading goes on into history.1, limit and filter
 * included. Big reasons keep the number of appends small. */
static void
test_rotation (void **state)
{
  struct fixture *f = *state;
  const size_t big_len = 64 << 10;
  char *big = xmalloc (big_len + 1);
  memset (big, 'r', big_len);
  big[big_len] = '\0';
  struct stat st;
  int64_t nbig = 0;
  do
    {
      struct history_entry e = plain ((uint64_t) (1000 + nbig), "bulk");
      e.generation = nbig;
      e.reason = big;
      append (f, &e);
      nbig++;
      assert_int_equal (stat (f->path, &st), 0);
      assert_true (nbig < 200);
    }
  while ((uint64_t) st.st_size <= HISTORY_MAX_BYTES);
  free (big);
  /* Over the bound, not rotated yet: that is the next append's work. */
  assert_int_equal (stat (f->old, &st), -1);
  assert_int_equal (errno, ENOENT);

  struct history_entry w1 = plain (5000, "web"), w2 = plain (6000, "web");
  append (f, &w1);
  assert_int_equal (stat (f->old, &st), 0);
  assert_true ((uint64_t) st.st_size > HISTORY_MAX_BYTES);
  assert_int_equal (stat (f->path, &st), 0);
  assert_true (st.st_size < 1024);
  append (f, &w2);

  /* A limit that spans both files. */
  cleanup_free char *span = xasprintf ("6000 5000 %lld %lld", (long long) (1000 + nbig - 1),
                                       (long long) (1000 + nbig - 2));
  ASSERT_TIMES (f, NULL, 4, span);
  /* Everything, newest first, none lost or doubled. */
  {
    cleanup_json json_val v = read_parsed (f, NULL, 0);
    assert_int_equal (json_arr_len (v), (size_t) nbig + 2);
    for (int64_t i = 0; i < nbig; i++)
      {
        json_val e = json_arr_at (v, (size_t) (i + 2));
        assert_int_equal (int_of (e, "generation"), nbig - 1 - i);
        assert_int_equal (strlen (json_str (json_get (e, "reason"))), big_len);
      }
  }
  /* The filter reaches into history.1 alone, or stays in history. */
  cleanup_free char *bulk2 = xasprintf ("%lld %lld", (long long) (1000 + nbig - 1), (long long) (1000 + nbig - 2));
  ASSERT_TIMES (f, "bulk", 2, bulk2);
  ASSERT_TIMES (f, "web", 10, "6000 5000");
}

/* --- what a line holds ------------------------------------------------- */

struct change
{
  char kind;
  const char *path;
};
struct changes
{
  const struct change *v;
  size_t n;
  unsigned calls;
};

static void
changes_detail (json_gen g, const void *arg)
{
  struct changes *c = (struct changes *) arg;
  c->calls++;
  json_gen_map_open (g);
  json_gen_str (g, "changes");
  json_gen_array_open (g);
  for (size_t i = 0; i < c->n; i++)
    {
      char kind[2] = { c->v[i].kind, '\0' };
      json_gen_map_open (g);
      json_gen_kstr (g, "kind", kind);
      json_gen_kstr (g, "path", c->v[i].path);
      json_gen_map_close (g);
    }
  json_gen_array_close (g);
  json_gen_kint (g, "count", (int64_t) c->n);
  json_gen_map_close (g);
}

static void
list_detail (json_gen g, const void *arg)
{
  (void) arg;
  json_gen_array_open (g);
  json_gen_str (g, "/bin/sh");
  json_gen_str (g, "line\nbreak \"quoted\"");
  json_gen_array_close (g);
}

static void
test_detail_hook (void **state)
{
  struct fixture *f = *state;
  static const struct change ch[] = { { 'A', "/tmp/dropper" }, { 'C', "/etc/passwd" } };
  struct changes c = { ch, 2, 0 };
  struct history_entry e = plain (10, "web");
  e.kind = "incident";
  e.detail = changes_detail;
  e.detail_arg = &c;
  append (f, &e);
  assert_int_equal (c.calls, 1);
  struct history_entry e2 = plain (20, "web");
  e2.detail = list_detail;
  append (f, &e2);
  struct history_entry e3 = plain (30, "web");
  append (f, &e3);

  cleanup_json json_val v = read_parsed (f, "web", 0);
  assert_int_equal (json_arr_len (v), 3);
  /* No hook, no detail. */
  assert_null (json_get (json_arr_at (v, 0), "detail"));
  /* Any JSON value the hook writes, embedded as a value, not as text. */
  json_val d2 = json_get (json_arr_at (v, 1), "detail");
  assert_true (json_is_array (d2));
  assert_int_equal (json_arr_len (d2), 2);
  assert_string_equal (json_str (json_arr_at (d2, 1)), "line\nbreak \"quoted\"");
  json_val d = json_get (json_arr_at (v, 2), "detail");
  assert_true (json_is_object (d));
  assert_int_equal (int_of (d, "count"), 2);
  json_val changes = json_get (d, "changes");
  assert_int_equal (json_arr_len (changes), 2);
  assert_string_equal (json_str (json_get (json_arr_at (changes, 0), "kind")), "A");
  assert_string_equal (json_str (json_get (json_arr_at (changes, 0), "path")), "/tmp/dropper");
  assert_string_equal (json_str (json_get (json_arr_at (changes, 1), "path")), "/etc/passwd");
  assert_string_equal (json_str (json_get (json_arr_at (v, 2), "kind")), "incident");
}

/* Unset optional fields (-1, NULL) are left out, not written as null or -1;
 * time 0 means now. */
static void
test_optional_fields_omitted (void **state)
{
  struct fixture *f = *state;
  struct history_entry e = plain (0, "web");
  uint64_t before = now_real_ms ();
  append (f, &e);
  uint64_t after = now_real_ms ();
  cleanup_json json_val v = read_parsed (f, NULL, 0);
  assert_int_equal (json_arr_len (v), 1);
  json_val o = json_arr_at (v, 0);
  assert_int_equal (json_obj_len (o), 4);
  int64_t t = int_of (o, "time");
  assert_true ((uint64_t) t >= before && (uint64_t) t <= after);
  assert_string_equal (json_str (json_get (o, "name")), "web");
  assert_string_equal (json_str (json_get (o, "kind")), "regen");
  assert_string_equal (json_str (json_get (o, "result")), "ok");
}

/* Every field set, the numbers at their smallest set value (0), strings
 * that need escaping: all written, one line per entry still. */
static void
test_all_fields_written (void **state)
{
  struct fixture *f = *state;
  struct history_entry e = {
    .time_ms = 77, .name = "web", .kind = "incident", .result = "failed", .generation = 0, .old_id = "old1",
    .new_id = "new1", .reason = "alert \"High CPU\"\nsecond line", .error = "create: engine: No such image",
    .duration_ms = 0, .strategy = "swap", .source = "falco", .severity = 0, .threat_level = 2.5,
    .signature = "sig", .action = "regenerate", .cut_ms = 0, .replaced_ms = 1234,
    .forensic_image = "lympho-forensic/web:1", .detail = list_detail,
  };
  append (f, &e);
  struct history_entry z = plain (78, "web");
  z.threat_level = 0;
  append (f, &z);
  cleanup_json json_val v = read_parsed (f, NULL, 0);
  assert_int_equal (json_arr_len (v), 2);
  json_val zo = json_arr_at (v, 0);
  assert_int_equal (json_obj_len (zo), 5);
  assert_string_equal (json_number_text (json_get (zo, "threat_level")), "0.00");

  json_val o = json_arr_at (v, 1);
  assert_int_equal (json_obj_len (o), 20);
  assert_int_equal (int_of (o, "time"), 77);
  assert_string_equal (json_str (json_get (o, "result")), "failed");
  assert_int_equal (int_of (o, "generation"), 0);
  assert_string_equal (json_str (json_get (o, "old_id")), "old1");
  assert_string_equal (json_str (json_get (o, "new_id")), "new1");
  assert_string_equal (json_str (json_get (o, "reason")), "alert \"High CPU\"\nsecond line");
  assert_string_equal (json_str (json_get (o, "error")), "create: engine: No such image");
  assert_int_equal (int_of (o, "duration_ms"), 0);
  assert_string_equal (json_str (json_get (o, "strategy")), "swap");
  assert_string_equal (json_str (json_get (o, "source")), "falco");
  assert_int_equal (int_of (o, "severity"), 0);
  assert_string_equal (json_number_text (json_get (o, "threat_level")), "2.50");
  assert_string_equal (json_str (json_get (o, "signature")), "sig");
  assert_string_equal (json_str (json_get (o, "action")), "regenerate");
  assert_int_equal (int_of (o, "cut_ms"), 0);
  assert_int_equal (int_of (o, "replaced_ms"), 1234);
  assert_string_equal (json_str (json_get (o, "forensic_image")), "lympho-forensic/web:1");
  assert_true (json_is_array (json_get (o, "detail")));
}

/* --- corrupt files ----------------------------------------------------- */

static void
test_corrupt_lines_skipped (void **state)
{
  struct fixture *f = *state;
  write_text (f->path, "{\"time\":1,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}\n"
                       "not json at all\n"
                       "{\"time\":2,\"name\":\"a\",\"ki\n"
                       "\n"
                       "{\"time\":3,\"name\":\"b\",\"kind\":\"regen\",\"result\":\"ok\"}\n"
                       "{\"time\":4,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}}\n"
                       "\x01\x02\xff\n"
                       "{\"time\":5,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}\n");
  ASSERT_TIMES (f, NULL, 0, "5 3 1");
  /* Corrupt lines do not count against the limit. */
  ASSERT_TIMES (f, NULL, 2, "5 3");
  ASSERT_TIMES (f, "a", 0, "5 1");
  /* Appending after them still works. */
  struct history_entry e = plain (6, "b");
  append (f, &e);
  ASSERT_TIMES (f, NULL, 0, "6 5 3 1");
}

/* A line cut short by a crash or a full disk (no newline) must not swallow
 * the entry appended after it. */
static void
test_torn_last_line_keeps_next (void **state)
{
  struct fixture *f = *state;
  write_text (f->path, "{\"time\":1,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}\n"
                       "{\"time\":2,\"name\":\"a\",\"ki");
  ASSERT_TIMES (f, NULL, 0, "1");
  struct history_entry e = plain (3, "a");
  append (f, &e);
  ASSERT_TIMES (f, NULL, 0, "3 1");
  struct history_entry e2 = plain (4, "a");
  append (f, &e2);
  ASSERT_TIMES (f, NULL, 0, "4 3 1");
}

/* A file grown past what is read whole (written by something else, or a
 * rotation that failed) still gives its newest entries: its tail is read,
 * the first line cut there skipped. Before, it read as no history at all. */
static void
test_oversized_file_tail_read (void **state)
{
  struct fixture *f = *state;
  FILE *fp = fopen (f->path, "w");
  assert_non_null (fp);
  size_t n = 0, written = 0;
  while (written <= (size_t) HISTORY_MAX_BYTES * 2 + 4096)
    {
      int w = fprintf (fp, "{\"time\":%zu,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\",\"reason\":\"%0200d\"}\n",
                       ++n, 0);
      assert_true (w > 0);
      written += (size_t) w;
    }
  assert_int_equal (fclose (fp), 0);
  cleanup_free char *want = xasprintf ("%zu %zu", n, n - 1);
  ASSERT_TIMES (f, NULL, 2, want);
}

/* A line that parses but is not an entry (not an object) is corrupt too:
 * it is neither returned nor counted against the limit. */
static void
test_non_object_lines_skipped (void **state)
{
  struct fixture *f = *state;
  write_text (f->path, "{\"time\":1,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}\n"
                       "42\n"
                       "[{\"time\":9,\"name\":\"a\"}]\n"
                       "\"text\"\n"
                       "null\n"
                       "{\"time\":2,\"name\":\"a\",\"kind\":\"regen\",\"result\":\"ok\"}\n");
  ASSERT_TIMES (f, NULL, 0, "2 1");
  ASSERT_TIMES (f, NULL, 2, "2 1");
  cleanup_json json_val v = read_parsed (f, NULL, 0);
  assert_int_equal (json_arr_len (v), 2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_newest_first, setup, teardown),
    cmocka_unit_test_setup_teardown (test_name_filter, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_missing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rotation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_detail_hook, setup, teardown),
    cmocka_unit_test_setup_teardown (test_optional_fields_omitted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_all_fields_written, setup, teardown),
    cmocka_unit_test_setup_teardown (test_corrupt_lines_skipped, setup, teardown),
    cmocka_unit_test_setup_teardown (test_torn_last_line_keeps_next, setup, teardown),
    cmocka_unit_test_setup_teardown (test_non_object_lines_skipped, setup, teardown),
    cmocka_unit_test_setup_teardown (test_oversized_file_tail_read, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
