/* lympho — scheduling arithmetic.
 * May call: nothing: pure arithmetic. */
#include "config.h"

#include <string.h>

#include "lympho/sched.h"

uint64_t
sched_jittered_ttl (uint64_t ttl_ms, unsigned jitter_pct, double u)
{
  if (jitter_pct > 100)
    jitter_pct = 100;
  double spread = (double) jitter_pct / 100.0 * (2.0 * u - 1.0);
  double v = (double) ttl_ms * (1.0 + spread);
  if (v < 1000.0)
    v = 1000.0;
  return (uint64_t) v;
}

bool
sched_may_start_early (uint64_t age_ms, uint64_t ttl_ms, unsigned jitter_pct, uint64_t remaining_ms)
{
  if (jitter_pct == 0 || remaining_ms > SCHED_EARLY_MAX_MS)
    return false;
  /* Never before the lowest TTL the jitter could have drawn. */
  return age_ms >= sched_jittered_ttl (ttl_ms, jitter_pct, 0.0);
}

uint64_t
sched_backoff (unsigned failures, uint64_t min_ms, uint64_t max_ms, double u)
{
  if (failures == 0)
    return 0;
  uint64_t d = min_ms;
  for (unsigned i = 1; i < failures && d < max_ms; i++)
    d *= 2;
  if (d > max_ms)
    d = max_ms;
  double spread = 0.2 * (2.0 * u - 1.0);
  double v = (double) d * (1.0 + spread);
  return v < 1.0 ? 1 : (uint64_t) v;
}

void
sched_load_add (struct sched_load *l, const char *group)
{
  l->running++;
  if (group == NULL)
    return;
  if (l->n_groups < SCHED_MAX_CONCURRENT)
    l->groups[l->n_groups] = group;
  l->n_groups++;
}

bool
sched_load_admits (const struct sched_load *l, const char *group, unsigned max_concurrent)
{
  if (l->running >= max_concurrent)
    return false;
  if (group == NULL)
    return true;
  if (l->n_groups > SCHED_MAX_CONCURRENT)
    return false;
  for (unsigned i = 0; i < l->n_groups; i++)
    if (strcmp (group, l->groups[i]) == 0)
      return false;
  return true;
}

void
sched_rate_add (struct sched_rate *r, uint64_t now_ms)
{
  r->t[r->next] = now_ms;
  r->next = (r->next + 1) % SCHED_RATE_RING;
  if (r->n < SCHED_RATE_RING)
    r->n++;
}

double
sched_rate_per_s (const struct sched_rate *r, uint64_t now_ms, uint64_t window_ms)
{
  uint64_t span = window_ms;
  if (now_ms > r->since && now_ms - r->since < span)
    span = now_ms - r->since;
  size_t count = 0;
  uint64_t oldest = now_ms;
  for (size_t i = 0; i < r->n; i++)
    {
      /* Newest first. */
      uint64_t t = r->t[(r->next + SCHED_RATE_RING - 1 - i) % SCHED_RATE_RING];
      if (t > now_ms || now_ms - t > span)
        break;
      count++;
      oldest = t;
    }
  /* The ring is full and all of it within the window: it holds only the
   * span since its oldest end. */
  if (count == SCHED_RATE_RING && now_ms - oldest < span)
    {
      span = now_ms - oldest;
      count--;
    }
  if (span < 1000)
    return 0;
  return (double) count * 1000.0 / (double) span;
}

int
sched_ttl_watch (struct sched_ttl_watch *w, uint64_t now_ms, bool backlog, double needed_per_s,
                 double achieved_per_s, uint64_t hold_ms)
{
  if (backlog)
    {
      w->clear_since = 0;
      if (w->backlog_since == 0)
        w->backlog_since = now_ms;
      if (!w->behind && now_ms - w->backlog_since >= hold_ms && needed_per_s > achieved_per_s * 1.1)
        {
          w->behind = true;
          return 1;
        }
      return 0;
    }
  w->backlog_since = 0;
  if (w->clear_since == 0)
    w->clear_since = now_ms;
  if (w->behind && now_ms - w->clear_since >= hold_ms)
    {
      w->behind = false;
      return -1;
    }
  return 0;
}

void
sched_ttl_watch_pause (struct sched_ttl_watch *w)
{
  w->backlog_since = 0;
  w->clear_since = 0;
}
