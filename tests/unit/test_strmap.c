/* The string index: random puts and removals against a plain array of the
 * same pairs, on tables small enough that probes wrap around and removals
 * shift runs back; keys that share a long prefix, as container ids and
 * names do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/strmap.h"

#define NKEYS 300

static char keys[NKEYS][80];

static void
make_keys (void)
{
  /* 64 hex characters, the same 56 first: an engine's ids of one run. */
  for (int i = 0; i < NKEYS; i++)
    snprintf (keys[i], sizeof keys[i], "cf78f5cc0123456789abcdef0123456789abcdef0123456789abcdef%08x", (unsigned) i * 7919u);
}

static void
test_basic (void **state)
{
  (void) state;
  struct strmap m = { 0 };
  int a = 1, b = 2;
  assert_null (strmap_get (&m, "web"));
  assert_null (strmap_get (&m, NULL));
  assert_false (strmap_del (&m, "web", NULL));
  strmap_put (&m, "web", &a);
  assert_ptr_equal (strmap_get (&m, "web"), &a);
  assert_null (strmap_get (&m, "we"));
  assert_null (strmap_get (&m, "webb"));
  /* A second put replaces. */
  strmap_put (&m, "web", &b);
  assert_int_equal (m.n, 1);
  assert_ptr_equal (strmap_get (&m, "web"), &b);
  /* Removed only when it maps to the value named. */
  assert_false (strmap_del (&m, "web", &a));
  assert_ptr_equal (strmap_get (&m, "web"), &b);
  assert_true (strmap_del (&m, "web", &b));
  assert_null (strmap_get (&m, "web"));
  assert_int_equal (m.n, 0);
  strmap_put (&m, "", &a);
  assert_ptr_equal (strmap_get (&m, ""), &a);
  assert_true (strmap_del (&m, "", NULL));
  strmap_free (&m);
  assert_null (strmap_get (&m, "web"));
}

/* The model: vals[i] is what keys[i] maps to, NULL when absent. */
static void
check_all (const struct strmap *m, void *const *vals)
{
  size_t n = 0;
  for (int i = 0; i < NKEYS; i++)
    {
      assert_ptr_equal (strmap_get (m, keys[i]), vals[i]);
      n += vals[i] != NULL;
    }
  assert_int_equal (m->n, n);
  /* At most 3/4 full: every probe ends at an empty slot. */
  assert_true (m->n * 4 <= m->cap * 3);
}

static void
test_random (void **state)
{
  (void) state;
  make_keys ();
  static int targets[NKEYS];
  void *vals[NKEYS] = { 0 };
  struct strmap m = { 0 };
  srand (20261206);
  for (int round = 0; round < 20000; round++)
    {
      int i = rand () % NKEYS;
      /* Few keys live at once early (the table stays small, runs wrap),
       * more later (it grows). */
      int keep = round < 5000 ? 12 : NKEYS / 2;
      int live = 0;
      for (int k = 0; k < NKEYS; k++)
        live += vals[k] != NULL;
      if (vals[i] == NULL && live < keep)
        {
          strmap_put (&m, keys[i], &targets[i]);
          vals[i] = &targets[i];
        }
      else if (vals[i] != NULL)
        {
          assert_true (strmap_del (&m, keys[i], vals[i]));
          vals[i] = NULL;
        }
      else
        assert_false (strmap_del (&m, keys[i], NULL));
      if (round % 97 == 0)
        check_all (&m, vals);
    }
  check_all (&m, vals);
  strmap_free (&m);
}

/* Keys of two neighbouring home slots: with 16 slots, 12 of them (the most
 * 16 slots hold) make one run that wraps past the end of the table; each
 * removed from the middle leaves the others found. */
static void
test_one_run (void **state)
{
  (void) state;
  make_keys ();
  int picked[12], np = 0;
  uint64_t home = strmap_hash (keys[0]) & 15;
  for (int i = 0; i < NKEYS && np < 12; i++)
    if ((strmap_hash (keys[i]) & 15) == (home + 15) % 16 || (strmap_hash (keys[i]) & 15) == home)
      picked[np++] = i;
  assert_int_equal (np, 12);
  struct strmap m = { 0 };
  int targets[12];
  for (int k = 0; k < 12; k++)
    strmap_put (&m, keys[picked[k]], &targets[k]);
  assert_int_equal (m.cap, 16);
  for (int r = 0; r < 12; r += 2)
    {
      assert_true (strmap_del (&m, keys[picked[r]], &targets[r]));
      for (int k = 0; k < 12; k++)
        assert_ptr_equal (strmap_get (&m, keys[picked[k]]), k <= r && k % 2 == 0 ? NULL : &targets[k]);
    }
  strmap_free (&m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_basic),
    cmocka_unit_test (test_random),
    cmocka_unit_test (test_one_run),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
