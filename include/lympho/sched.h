/* lympho — scheduling arithmetic, pure: TTL with jitter, retry backoff, and
 * admission (a global cap on concurrent regenerations, one per group). */
#ifndef LYMPHO_SCHED_H
#define LYMPHO_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ttl spread uniformly over ttl * (1 +- jitter_pct/100); u in [0,1). Never
 * below 1 s. */
uint64_t sched_jittered_ttl (uint64_t ttl_ms, unsigned jitter_pct, double u);
/* Delay before retry number `failures` (1-based): min * 2^(failures-1),
 * capped at max, then spread by +-20 % with u so that a group's retries do
 * not synchronise. */
uint64_t sched_backoff (unsigned failures, uint64_t min_ms, uint64_t max_ms, double u);

struct sched_slot
{
  const char *group;  /* NULL: no group */
  bool running;       /* a regeneration of it is in flight */
};
/* May a regeneration of `group` start now, given what is in flight? */
bool sched_admit (const char *group, const struct sched_slot *slots, size_t n, unsigned max_concurrent);

#endif
