/* lympho — threat level arithmetic (model in threat.h).
 * May call: nothing: pure arithmetic. */
#include "config.h"

#include <math.h>

#include "lympho/threat.h"

double
threat_level (const struct threat *t, uint64_t now_ms, uint64_t half_life_ms)
{
  if (t->level <= 0.0)
    return 0.0;
  if (half_life_ms == 0 || now_ms <= t->at_ms)
    return t->level;
  double l = t->level * exp2 (-(double) (now_ms - t->at_ms) / (double) half_life_ms);
  return l < THREAT_EPSILON ? 0.0 : l;
}

double
threat_add (struct threat *t, double severity, uint64_t now_ms, uint64_t half_life_ms)
{
  double l = threat_level (t, now_ms, half_life_ms);
  if (severity > 0)
    l += severity;
  t->level = l;
  t->at_ms = now_ms;
  return l;
}

void
threat_reset (struct threat *t)
{
  t->level = 0.0;
  t->at_ms = 0;
}

uint64_t
threat_effective_ttl (uint64_t ttl_ms, double level)
{
  if (level <= 0.0)
    return ttl_ms;
  double v = (double) ttl_ms / (1.0 + level);
  if (v < THREAT_TTL_FLOOR_MS)
    v = THREAT_TTL_FLOOR_MS;
  return v > (double) ttl_ms ? ttl_ms : (uint64_t) v;
}

bool
threat_reached (double level, unsigned threshold)
{
  /* Within THREAT_SLACK: alerts seconds apart have barely decayed (three
   * severity-1 alerts a second apart make 2.995, not 3), and an operator
   * counting them expects the third to fire. */
  return level + THREAT_SLACK >= (double) threshold;
}
