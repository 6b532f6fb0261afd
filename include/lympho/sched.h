/* lympho — scheduling arithmetic, pure: TTL with jitter, retry backoff, and
 * admission (a global cap on concurrent regenerations, one per group), the
 * rate regenerations end at, and whether the TTLs are being met. */
#ifndef LYMPHO_SCHED_H
#define LYMPHO_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ttl spread uniformly over ttl * (1 +- jitter_pct/100); u in [0,1). Never
 * below 1 s. */
uint64_t sched_jittered_ttl (uint64_t ttl_ms, unsigned jitter_pct, double u);
/* A TTL is a deadline: while a slot is free and nothing waits, the TTL
 * regeneration due soonest may start early, so that two coming due
 * together do not make one of them late. Never earlier than the jitter
 * allows (age at least ttl * (1 - jitter)), never more than
 * SCHED_EARLY_MAX_MS before it is due. age_ms: of the running generation;
 * ttl_ms: the TTL in force (threat included); remaining_ms: until its timer. */
#define SCHED_EARLY_MAX_MS 10000
bool sched_may_start_early (uint64_t age_ms, uint64_t ttl_ms, unsigned jitter_pct, uint64_t remaining_ms);

/* Delay before retry number `failures` (1-based): min * 2^(failures-1),
 * capped at max, then spread by +-20 % with u so that a group's retries do
 * not synchronise. */
uint64_t sched_backoff (unsigned failures, uint64_t min_ms, uint64_t max_ms, double u);

/* Admission: at most max_concurrent regenerations in flight, one per group.
 * What is in flight is gathered once, so that choosing among many waiting
 * costs the cap, not the number of containers, for each candidate. */
#define SCHED_MAX_CONCURRENT 64
struct sched_load
{
  unsigned running;
  unsigned n_groups;
  const char *groups[SCHED_MAX_CONCURRENT];
};
void sched_load_add (struct sched_load *l, const char *group);
/* May a regeneration of `group` (NULL: none) start now? A load with more
 * groups in flight than it holds admits none in a group (it cannot tell). */
bool sched_load_admits (const struct sched_load *l, const char *group, unsigned max_concurrent);

/* The rate regenerations end at, over a window: the last SCHED_RATE_RING
 * end times (monotonic ms), counted from `since` (when counting began). */
#define SCHED_RATE_RING 256
struct sched_rate
{
  uint64_t since;
  uint64_t t[SCHED_RATE_RING];
  size_t n, next;
};
void sched_rate_add (struct sched_rate *r, uint64_t now_ms);
/* Ends per second over the last window_ms (or since counting began, or
 * over the span the ring holds, whichever is shortest); 0 before 1 s. */
double sched_rate_per_s (const struct sched_rate *r, uint64_t now_ms, uint64_t window_ms);

/* Whether the TTLs are being met: behind once TTL regenerations have been
 * waiting (`backlog`) without a break for hold_ms while the rate needed
 * exceeds the rate achieved by a tenth; met again once nothing has waited
 * for hold_ms. */
struct sched_ttl_watch
{
  bool behind;
  uint64_t backlog_since;  /* 0: no backlog */
  uint64_t clear_since;    /* 0: not clear */
};
/* +1 when it falls behind now, -1 when it catches up now, 0 otherwise. */
int sched_ttl_watch (struct sched_ttl_watch *w, uint64_t now_ms, bool backlog, double needed_per_s,
                     double achieved_per_s, uint64_t hold_ms);
/* The engine is away: nothing is judged meanwhile; a backlog or a clear
 * spell counts its hold again from when it is back. Behind stays as it
 * was. */
void sched_ttl_watch_pause (struct sched_ttl_watch *w);

#endif
