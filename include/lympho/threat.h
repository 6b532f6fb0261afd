/* lympho — the threat level of a container and its proportional response.
 *
 * Model: every alert adds its severity; contributions decay exponentially
 * with a half-life (default 10 min), so the level at time t is
 *     L(t) = sum_i s_i * 2^(-(t - t_i) / half_life).
 * It is kept as one (level, time) pair and decayed on every read.
 * At or above the container's threshold (within THREAT_SLACK) it is
 * regenerated at once. While the
 * level is above zero its TTL shrinks:
 *     ttl_eff = ttl / (1 + L)
 * (level 1 halves the lifetime, level 2 leaves a third), never below
 * THREAT_TTL_FLOOR_MS. The level returns to 0 with every fresh generation. */
#ifndef LYMPHO_THREAT_H
#define LYMPHO_THREAT_H

#include <stdbool.h>
#include <stdint.h>

#define THREAT_TTL_FLOOR_MS 5000
/* The threshold is reached within this much, so that alerts close together
 * add up as an operator counts them despite a few seconds of decay. */
#define THREAT_SLACK 0.05
/* Below this a level counts as zero (it would take ages to decay to 0). */
#define THREAT_EPSILON 0.01

struct threat
{
  double level;      /* as of at_ms */
  uint64_t at_ms;
};

double threat_level (const struct threat *t, uint64_t now_ms, uint64_t half_life_ms);
/* Add a contribution; returns the new level. */
double threat_add (struct threat *t, double severity, uint64_t now_ms, uint64_t half_life_ms);
void threat_reset (struct threat *t);
uint64_t threat_effective_ttl (uint64_t ttl_ms, double level);
bool threat_reached (double level, unsigned threshold);

#endif
