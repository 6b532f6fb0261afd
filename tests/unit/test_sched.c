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
/* An early start stays inside the jitter's window, and within
 * SCHED_EARLY_MAX_MS of the timer. */
static void
test_start_early (void **state)
{
  (void) state;
  /* TTL 100 s, jitter 10 %: the lowest draw is 90 s. */
  assert_false (sched_may_start_early (89999, 100000, 10, 5000));
  assert_true (sched_may_start_early (90000, 100000, 10, 5000));
  assert_true (sched_may_start_early (95000, 100000, 10, SCHED_EARLY_MAX_MS));
  assert_false (sched_may_start_early (95000, 100000, 10, SCHED_EARLY_MAX_MS + 1));
  /* No jitter: the TTL is exact, never early. */
  assert_false (sched_may_start_early (99999, 100000, 0, 1));
  /* Every age the rule allows is one sched_jittered_ttl could have drawn. */
  for (unsigned j = 1; j <= 50; j += 7)
    for (uint64_t ttl = 1000; ttl < 3000000; ttl = ttl * 3 + 17)
      {
        uint64_t lowest = sched_jittered_ttl (ttl, j, 0.0);
        assert_false (sched_may_start_early (lowest - 1, ttl, j, 0));
        assert_true (sched_may_start_early (lowest + 1, ttl, j, 0));
      }
  /* The 1 s floor holds too. */
  assert_false (sched_may_start_early (999, 1000, 50, 0));
}

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
  struct sched_load l = { 0 };
  sched_load_add (&l, "db");
  sched_load_add (&l, NULL);
  /* One per group at a time. */
  assert_false (sched_load_admits (&l, "db", 8));
  assert_true (sched_load_admits (&l, "web", 8));
  assert_true (sched_load_admits (&l, NULL, 8));
  /* Global cap counts everything in flight. */
  assert_false (sched_load_admits (&l, "web", 2));
  assert_false (sched_load_admits (&l, NULL, 2));
  assert_true (sched_load_admits (&l, NULL, 3));
  struct sched_load empty = { 0 };
  assert_true (sched_load_admits (&empty, "x", 1));
  assert_false (sched_load_admits (&empty, "x", 0));
  /* More groups than the load holds: it cannot tell, so nothing in a
   * group starts; one without a group still may, within the cap. */
  struct sched_load full = { 0 };
  for (int i = 0; i <= SCHED_MAX_CONCURRENT; i++)
    sched_load_add (&full, "g");
  assert_false (sched_load_admits (&full, "other", 1000));
  assert_true (sched_load_admits (&full, NULL, 1000));
}

static void
test_rate (void **state)
{
  (void) state;
  struct sched_rate r = { .since = 100000 };
  /* Nothing yet, and under a second of counting: 0. */
  assert_true (sched_rate_per_s (&r, 100500, 60000) == 0);
  assert_true (sched_rate_per_s (&r, 110000, 60000) == 0);
  /* One end every 2 s for 60 s: 0.5/s over a 60 s window. */
  for (uint64_t t = 102000; t <= 160000; t += 2000)
    sched_rate_add (&r, t);
  double v = sched_rate_per_s (&r, 160000, 60000);
  assert_true (v > 0.48 && v < 0.52);
  /* Nothing more for 41 s: the window holds 10 of them. */
  v = sched_rate_per_s (&r, 201000, 60000);
  assert_true (v > 0.16 && v < 0.17);
  /* Counted since 100 s, 20 s ago: over those 20 s, not the window. */
  struct sched_rate s = { .since = 100000 };
  for (uint64_t t = 102000; t <= 120000; t += 2000)
    sched_rate_add (&s, t);
  v = sched_rate_per_s (&s, 120000, 60000);
  assert_true (v > 0.49 && v < 0.51);
  /* Ten a second, more than the ring holds in the window: the rate is
   * that of the span the ring holds. */
  struct sched_rate f = { .since = 0 };
  for (uint64_t t = 1000; t <= 61000; t += 100)
    sched_rate_add (&f, t);
  v = sched_rate_per_s (&f, 61000, 60000);
  assert_true (v > 9.9 && v < 10.1);
}

static void
test_ttl_watch (void **state)
{
  (void) state;
  struct sched_ttl_watch w = { 0 };
  /* A backlog, but not yet for the hold: not behind. */
  assert_int_equal (sched_ttl_watch (&w, 1000, true, 8, 1, 30000), 0);
  assert_int_equal (sched_ttl_watch (&w, 30000, true, 8, 1, 30000), 0);
  assert_false (w.behind);
  /* Held 30 s with 8/s needed and 1/s done: behind, said once. */
  assert_int_equal (sched_ttl_watch (&w, 31000, true, 8, 1, 30000), 1);
  assert_true (w.behind);
  assert_int_equal (sched_ttl_watch (&w, 60000, true, 8, 1, 30000), 0);
  /* A moment with nothing waiting is not catching up. */
  assert_int_equal (sched_ttl_watch (&w, 61000, false, 8, 1, 30000), 0);
  assert_int_equal (sched_ttl_watch (&w, 62000, true, 8, 1, 30000), 0);
  assert_true (w.behind);
  /* Nothing waiting for the hold: met again, said once. */
  assert_int_equal (sched_ttl_watch (&w, 70000, false, 1, 1, 30000), 0);
  assert_int_equal (sched_ttl_watch (&w, 100000, false, 1, 1, 30000), -1);
  assert_false (w.behind);
  assert_int_equal (sched_ttl_watch (&w, 200000, false, 1, 1, 30000), 0);
  /* The engine away in the middle of a backlog: its hold starts again
   * when the engine is back; behind, it stays behind meanwhile. */
  struct sched_ttl_watch p = { 0 };
  assert_int_equal (sched_ttl_watch (&p, 1000, true, 8, 1, 30000), 0);
  sched_ttl_watch_pause (&p);
  assert_int_equal (sched_ttl_watch (&p, 40000, true, 8, 0, 30000), 0);
  assert_int_equal (sched_ttl_watch (&p, 69000, true, 8, 0, 30000), 0);
  assert_false (p.behind);
  assert_int_equal (sched_ttl_watch (&p, 70000, true, 8, 0, 30000), 1);
  sched_ttl_watch_pause (&p);
  assert_true (p.behind);
  assert_int_equal (sched_ttl_watch (&p, 80000, false, 8, 0, 30000), 0);
  sched_ttl_watch_pause (&p);
  assert_int_equal (sched_ttl_watch (&p, 100000, false, 8, 0, 30000), 0);
  assert_int_equal (sched_ttl_watch (&p, 129000, false, 8, 0, 30000), 0);
  assert_true (p.behind);
  assert_int_equal (sched_ttl_watch (&p, 130000, false, 8, 0, 30000), -1);
  /* A long backlog at the rate the engine keeps (a burst after a restart
   * of lymphd, all due at once) is not falling behind. */
  struct sched_ttl_watch b = { 0 };
  assert_int_equal (sched_ttl_watch (&b, 1000, true, 1.0, 1.0, 30000), 0);
  assert_int_equal (sched_ttl_watch (&b, 90000, true, 1.05, 1.0, 30000), 0);
  assert_false (b.behind);
  /* An engine that ends nothing while TTLs wait: behind. */
  assert_int_equal (sched_ttl_watch (&b, 120000, true, 0.2, 0, 30000), 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_jitter_bounds),
    cmocka_unit_test (test_jitter_spread),
    cmocka_unit_test (test_start_early),
    cmocka_unit_test (test_backoff),
    cmocka_unit_test (test_admission),
    cmocka_unit_test (test_rate),
    cmocka_unit_test (test_ttl_watch),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
