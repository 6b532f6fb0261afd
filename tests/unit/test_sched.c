/* Scheduling arithmetic: jitter bounds and spread, backoff, admission. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lympho/sched.h"
#include "lympho/util.h"

static void
test_jitter_bounds (void **state)
{
  (void) state;
  const uint64_t ttl = 3600000;
  assert_int_equal (sched_jittered_ttl (ttl, 0, 0.0), ttl);
  assert_int_equal (sched_jittered_ttl (ttl, 0, 0.999), ttl);
  assert_int_equal (sched_jittered_ttl (ttl, 10, 0.0), ttl * 9 / 10);
  assert_int_equal (sched_jittered_ttl (ttl, 10, 0.5), ttl);
  assert_true (sched_jittered_ttl (ttl, 10, 0.9999999) <= ttl * 11 / 10);
  assert_true (sched_jittered_ttl (ttl, 10, 0.9999999) > ttl * 109 / 100);
  /* Never under a second, whatever the jitter. */
  assert_int_equal (sched_jittered_ttl (1000, 50, 0.0), 1000);
}

/* Replicas must not expire together: with 10 % jitter over many draws the
 * spread covers most of the window and the mean sits near the TTL. */
static void
test_jitter_spread (void **state)
{
  (void) state;
  const uint64_t ttl = 600000;
  uint64_t lo = UINT64_MAX, hi = 0;
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; i++)
    {
      uint64_t v = sched_jittered_ttl (ttl, 10, random_unit ());
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      sum += (double) v;
    }
  assert_true (lo >= 540000 && lo < 545000);
  assert_true (hi <= 660000 && hi > 655000);
  double mean = sum / n;
  assert_true (mean > 597000 && mean < 603000);
}

static void
test_backoff (void **state)
{
  (void) state;
  assert_int_equal (sched_backoff (0, 5000, 600000, 0.5), 0);
  assert_int_equal (sched_backoff (1, 5000, 600000, 0.5), 5000);
  assert_int_equal (sched_backoff (2, 5000, 600000, 0.5), 10000);
  assert_int_equal (sched_backoff (4, 5000, 600000, 0.5), 40000);
  assert_int_equal (sched_backoff (30, 5000, 600000, 0.5), 600000);
  assert_int_equal (sched_backoff (1000, 5000, 600000, 0.5), 600000);
  /* spread of +-20 % */
  assert_int_equal (sched_backoff (1, 5000, 600000, 0.0), 4000);
  assert_true (sched_backoff (1, 5000, 600000, 0.999999) <= 6000);
}

static void
test_admission (void **state)
{
  (void) state;
  struct sched_slot slots[] = {
    { "db", true },
    { "web", false },
    { NULL, true },
    { "web", false },
  };
  /* One per group at a time. */
  assert_false (sched_admit ("db", slots, 4, 8));
  assert_true (sched_admit ("web", slots, 4, 8));
  assert_true (sched_admit (NULL, slots, 4, 8));
  /* Global cap counts everything in flight. */
  assert_false (sched_admit ("web", slots, 4, 2));
  assert_false (sched_admit (NULL, slots, 4, 2));
  assert_true (sched_admit (NULL, slots, 4, 3));
  assert_true (sched_admit ("x", NULL, 0, 1));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_jitter_bounds),
    cmocka_unit_test (test_jitter_spread),
    cmocka_unit_test (test_backoff),
    cmocka_unit_test (test_admission),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
