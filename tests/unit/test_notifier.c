/* The notifier's queue: first in, first out; bounded, the oldest dropped and
 * counted; an identical event within NOTIFY_DEDUP_MS queued once. The
 * thread and its POSTs are tested against a real receiver
 * (tests/integration/test-notify.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/notifier.h"
#include "lympho/util.h"

static struct nq *
fresh (void)
{
  return xmalloc0 (sizeof (struct nq));
}

static void
test_fifo (void **state)
{
  (void) state;
  struct nq *q = fresh ();
  assert_int_equal (nq_push (q, "a", xstrdup ("1"), 1000), 1);
  assert_int_equal (nq_push (q, "b", xstrdup ("2"), 1000), 1);
  assert_int_equal (nq_push (q, "c", xstrdup ("3"), 1000), 1);
  static const char *const want[] = { "1", "2", "3" };
  for (size_t i = 0; i < 3; i++)
    {
      char *b = nq_pop (q);
      assert_non_null (b);
      assert_string_equal (b, want[i]);
      free (b);
    }
  assert_null (nq_pop (q));
  assert_int_equal (q->dropped, 0);
  free (q);
}

static void
test_identical_once (void **state)
{
  (void) state;
  struct nq *q = fresh ();
  assert_int_equal (nq_push (q, "web regen ok 3", xstrdup ("x"), 1000), 1);
  /* Sent already or not, the same event again soon is not queued again. */
  free (nq_pop (q));
  assert_int_equal (nq_push (q, "web regen ok 3", xstrdup ("x"), 1000 + NOTIFY_DEDUP_MS - 1), 0);
  assert_int_equal (q->duplicates, 1);
  assert_int_equal (q->n, 0);
  assert_int_equal (nq_push (q, "web regen ok 4", xstrdup ("y"), 2000), 1);
  /* Past the window it is news again. */
  assert_int_equal (nq_push (q, "web regen ok 3", xstrdup ("x"), 1000 + NOTIFY_DEDUP_MS), 1);
  assert_int_equal (q->n, 2);
  nq_clear (q);
  assert_int_equal (q->n, 0);
  free (q);
}

static void
test_bounded (void **state)
{
  (void) state;
  struct nq *q = fresh ();
  size_t extra = 5;
  for (size_t i = 0; i < NOTIFY_QUEUE_MAX + extra; i++)
    {
      char key[32];
      snprintf (key, sizeof key, "k%zu", i);
      assert_int_equal (nq_push (q, key, xasprintf ("%zu", i), 1000 + i), 1);
    }
  assert_int_equal (q->n, NOTIFY_QUEUE_MAX);
  assert_int_equal (q->dropped, extra);
  /* The oldest went: the first left is the sixth. */
  char *b = nq_pop (q);
  assert_string_equal (b, "5");
  free (b);
  nq_clear (q);
  free (q);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fifo),
    cmocka_unit_test (test_identical_once),
    cmocka_unit_test (test_bounded),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
