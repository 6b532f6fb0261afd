/* Journal replay at every crash point, and the recovery decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/journal.h"
#include "lympho/regen.h"
#include "lympho/util.h"

static const char *const records[] = {
  "{\"op\":\"begin\",\"txn\":\"t1\",\"name\":\"web\",\"old_id\":\"aaa\",\"gen\":3,\"new_name\":\"web-lympho-new-t1\","
  "\"old_name\":\"web-lympho-old-t1\",\"strategy\":\"replace\",\"reason\":\"ttl\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"create\",\"id\":null}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"created\",\"id\":\"bbb\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"stop-old\",\"id\":\"aaa\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"rename-old\",\"id\":\"aaa\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"rename-new\",\"id\":\"bbb\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"start-new\",\"id\":\"bbb\"}\n",
  "{\"op\":\"commit\",\"txn\":\"t1\",\"new_id\":\"bbb\"}\n",
  "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"remove-old\",\"id\":\"aaa\"}\n",
  "{\"op\":\"end\",\"txn\":\"t1\",\"result\":\"ok\"}\n",
};
#define NREC (sizeof records / sizeof records[0])

static char *
prefix (size_t upto)
{
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < upto; i++)
    buf_appends (&b, records[i]);
  return buf_steal (&b);
}

static void
free_txns (struct txn *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    txn_free (&v[i]);
  free (v);
}

/* A crash after k records: before the end, one open transaction with what
 * was recorded so far; after the end, none. */
static void
test_every_crash_point (void **state)
{
  (void) state;
  for (size_t k = 0; k <= NREC; k++)
    {
      char *text = prefix (k);
      struct txn *v = NULL;
      size_t n = 0;
      lympho_error_t err = { 0 };
      assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
      if (k == 0 || k == NREC)
        assert_int_equal (n, 0);
      else
        {
          assert_int_equal (n, 1);
          assert_string_equal (v[0].txn, "t1");
          assert_string_equal (v[0].name, "web");
          assert_string_equal (v[0].old_id, "aaa");
          assert_string_equal (v[0].new_name, "web-lympho-new-t1");
          assert_int_equal (v[0].generation, 3);
          assert_int_equal (v[0].committed, k >= 8);
          if (k >= 3)
            assert_string_equal (v[0].new_id, "bbb");
          else
            assert_null (v[0].new_id);
        }
      free_txns (v, n);
      free (text);
    }
}

static void
test_torn_last_line_ignored (void **state)
{
  (void) state;
  char *text = prefix (3);
  /* The crash hit while "stop-old" was being written. */
  size_t len = strlen (text);
  char *torn = xasprintf ("%s%.20s", text, records[3]);
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (torn, strlen (torn), &v, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].last_step, "created");
  free_txns (v, n);
  free (torn);
  (void) len;
  free (text);
}

static void
test_corruption_refused (void **state)
{
  (void) state;
  const char *bad = "{\"op\":\"begin\",\"txn\":\"t1\"\n{\"op\":\"end\",\"txn\":\"t1\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_true (journal_replay (bad, strlen (bad), &v, &n, &err) < 0);
  assert_non_null (strstr (err.msg, "line 1"));
  const char *unknown = "{\"op\":\"frobnicate\",\"txn\":\"t1\"}\n";
  const char *begin = records[0];
  char *both = xasprintf ("%s%s", begin, unknown);
  assert_true (journal_replay (both, strlen (both), &v, &n, &err) < 0);
  assert_non_null (strstr (err.msg, "unknown op"));
  free (both);
  const char *nogen = "{\"op\":\"begin\",\"txn\":\"t2\",\"name\":\"x\"}\n";
  assert_true (journal_replay (nogen, strlen (nogen), &v, &n, &err) < 0);
}

static void
test_interleaved_transactions (void **state)
{
  (void) state;
  const char *text
      = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"old_id\":\"1\",\"gen\":1}\n"
        "{\"op\":\"begin\",\"txn\":\"b\",\"name\":\"two\",\"old_id\":\"2\",\"gen\":5}\n"
        "{\"op\":\"end\",\"txn\":\"a\",\"result\":\"ok\"}\n"
        "{\"op\":\"step\",\"txn\":\"zz\",\"step\":\"create\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].name, "two");
  assert_int_equal (v[0].generation, 5);
  free_txns (v, n);
}

/* An infected generation's rollback keeps it down, recovered too; journals
 * written before the field say nothing, which is false. */
static void
test_keep_old_down_replayed (void **state)
{
  (void) state;
  const char *text = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"gen\":1,\"keep_old_down\":true}\n"
                     "{\"op\":\"begin\",\"txn\":\"b\",\"name\":\"two\",\"gen\":1}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_true (v[0].keep_old_down);
  assert_false (v[1].keep_old_down);
  free_txns (v, n);
}

/* What recovery does for the engine states each crash point can leave. */
static void
test_recover_decisions (void **state)
{
  (void) state;
  /* Crash before or during create: the old one runs under its name. */
  struct recover_obs o = { .old_exists = true, .old_running = true, .old_holds_name = true };
  assert_int_equal (recover_decide (&o, false), RECOVER_BACK);
  /* Created, not yet touched the old one. */
  o.new_exists = true;
  assert_int_equal (recover_decide (&o, false), RECOVER_BACK);
  /* Old stopped and renamed away, new not yet renamed. */
  o.old_running = false;
  o.old_holds_name = false;
  assert_int_equal (recover_decide (&o, false), RECOVER_BACK);
  /* New holds the name (replace: not yet started). */
  o.new_holds_name = true;
  assert_int_equal (recover_decide (&o, false), RECOVER_FORWARD);
  /* Committed, crash while removing the old one. */
  o.new_running = true;
  assert_int_equal (recover_decide (&o, true), RECOVER_FORWARD);
  /* Old already removed. */
  o.old_exists = false;
  assert_int_equal (recover_decide (&o, true), RECOVER_FORWARD);
  /* Old gone but new still under its temporary name: the new one is all there is. */
  struct recover_obs p = { .new_exists = true };
  assert_int_equal (recover_decide (&p, false), RECOVER_FORWARD);
  /* Neither: recreate from the snapshot, nothing may end up missing. */
  struct recover_obs q = { 0 };
  assert_int_equal (recover_decide (&q, false), RECOVER_RECREATE);
}

static void
test_names (void **state)
{
  (void) state;
  char *a = regen_new_name ("web", "0a1b2c3d");
  char *b = regen_old_name ("web", "0a1b2c3d");
  assert_string_equal (a, "web-lympho-new-0a1b2c3d");
  assert_string_equal (b, "web-lympho-old-0a1b2c3d");
  free (a);
  free (b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_crash_point),   cmocka_unit_test (test_torn_last_line_ignored),
    cmocka_unit_test (test_corruption_refused),  cmocka_unit_test (test_interleaved_transactions),
    cmocka_unit_test (test_recover_decisions),   cmocka_unit_test (test_names),
    cmocka_unit_test (test_keep_old_down_replayed),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
