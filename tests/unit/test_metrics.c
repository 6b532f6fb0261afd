/* Prometheus exposition: counters, escaping, histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/metrics.h"

static void
test_counters_and_escaping (void **state)
{
  (void) state;
  struct metrics m = { 0 };
  metrics_inc (&m, "lympho_regenerations_total", "container", "web", "reason", "ttl", "result", "ok", NULL);
  metrics_inc (&m, "lympho_regenerations_total", "container", "web", "reason", "ttl", "result", "ok", NULL);
  metrics_inc (&m, "lympho_alerts_total", "source", "fal\"co\n", "result", "accepted", NULL);
  metrics_inc (&m, "lympho_regenerations_total", "container", "db", "reason", "alert", "result", "failed", NULL);
  struct buf b;
  buf_init (&b);
  metrics_render (&m, &b);
  assert_non_null (strstr (b.data, "lympho_regenerations_total{container=\"web\",reason=\"ttl\",result=\"ok\"} 2\n"));
  assert_non_null (strstr (b.data, "lympho_regenerations_total{container=\"db\",reason=\"alert\",result=\"failed\"} 1\n"));
  assert_non_null (strstr (b.data, "lympho_alerts_total{source=\"fal\\\"co\\n\",result=\"accepted\"} 1\n"));
  /* One TYPE line per metric name. */
  const char *t = strstr (b.data, "# TYPE lympho_regenerations_total counter");
  assert_non_null (t);
  assert_null (strstr (t + 1, "# TYPE lympho_regenerations_total counter"));
  buf_free (&b);
  metrics_free (&m);
}

static void
test_histogram_cumulative (void **state)
{
  (void) state;
  struct metrics_histogram h = { 0 };
  metrics_observe (&h, 0.004);
  metrics_observe (&h, 0.3);
  metrics_observe (&h, 0.3);
  metrics_observe (&h, 100);
  struct buf b;
  buf_init (&b);
  metrics_render_histogram (&h, "x_seconds", "help", &b);
  assert_non_null (strstr (b.data, "x_seconds_bucket{le=\"0.005\"} 1\n"));
  assert_non_null (strstr (b.data, "x_seconds_bucket{le=\"0.25\"} 1\n"));
  assert_non_null (strstr (b.data, "x_seconds_bucket{le=\"0.5\"} 3\n"));
  assert_non_null (strstr (b.data, "x_seconds_bucket{le=\"10\"} 3\n"));
  assert_non_null (strstr (b.data, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
  assert_non_null (strstr (b.data, "x_seconds_count 4\n"));
  assert_non_null (strstr (b.data, "x_seconds_sum 100.604000\n"));
  buf_free (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_counters_and_escaping),
    cmocka_unit_test (test_histogram_cumulative),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
