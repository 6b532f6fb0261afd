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

bool
sched_admit (const char *group, const struct sched_slot *slots, size_t n, unsigned max_concurrent)
{
  unsigned running = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (!slots[i].running)
        continue;
      running++;
      if (group && slots[i].group && strcmp (group, slots[i].group) == 0)
        return false;
    }
  return running < max_concurrent;
}
