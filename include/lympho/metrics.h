/* lympho — Prometheus text exposition (format 0.0.4): labelled counters,
 * gauges set at render time, and fixed-bucket histograms. Pure and small. */
#ifndef LYMPHO_METRICS_H
#define LYMPHO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lympho/util.h"

#define METRICS_NBUCKETS 12

struct metrics_counter
{
  char *name;     /* metric name */
  char *labels;   /* rendered label set, e.g. container="web",result="ok" */
  uint64_t value;
};

struct metrics_histogram
{
  uint64_t buckets[METRICS_NBUCKETS]; /* cumulative at render, per bucket here */
  uint64_t count;
  double sum;
};

struct metrics
{
  struct metrics_counter *c;
  size_t n;
  struct metrics_histogram regen_seconds;
  struct metrics_histogram alert_to_replaced_seconds;
  struct metrics_histogram alert_to_cut_seconds;
  struct metrics_histogram ttl_late_seconds;
};

extern const double metrics_bounds[METRICS_NBUCKETS]; /* upper bounds, seconds; the last is +Inf */

/* Increment name{k1="v1",k2="v2"...}; keys and values as NULL-terminated
 * pairs. Values are escaped. */
void metrics_inc (struct metrics *m, const char *name, ...) __attribute__ ((sentinel));
void metrics_observe (struct metrics_histogram *h, double seconds);
/* Append HELP/TYPE and samples of everything kept here. */
void metrics_render (const struct metrics *m, struct buf *out);
void metrics_render_histogram (const struct metrics_histogram *h, const char *name, const char *help,
                               struct buf *out);
/* Escape a label value (backslash, quote, newline). */
void metrics_escape (struct buf *out, const char *s);
void metrics_free (struct metrics *m);

#endif
