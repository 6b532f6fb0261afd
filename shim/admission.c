/* lympho — scheduling and admission: when each entry regenerates (its TTL,
 * a retry's backoff, a recovery's), whether it may start now (the global
 * cap, one per group, none while recoveries run) or waits in the queue,
 * and what follows its end: the entry's new state, history, metrics, the
 * answers to the requests waiting on it, the next TTL or retry. Calls
 * entry.c, reconcile.c (a sync after recoveries, the inspect of a new
 * generation), detect.c (a generation started), incident.c (a regeneration
 * ended), daemon.c (history, status, exit, a regeneration's env), sched.c,
 * regen.c, and the journal (compacted once nothing is in flight). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/sched.h"
#include "lympho/util.h"

#include "daemon-int.h"

static void
on_due (struct loop *l, void *ud)
{
  struct entry *e = ud;
  e->timer = 0;
  /* When it came due, not when the loop got to it: lateness counts both. */
  e->came_due_mono = e->due_mono ? e->due_mono : now_mono_ms ();
  e->due_mono = 0;
  admission_request_regen (e->d, e, e->failures ? "retry" : "ttl", e->keep_old_down, NULL);
  /* Slots still free: a TTL due soon may take one (due_soonest). */
  admission_start_queued (e->d);
}

void
admission_arm (struct daemon *d, struct entry *e, uint64_t delay_ms)
{
  if (e->timer)
    loop_cancel_timer (d->loop, e->timer);
  e->due_mono = now_mono_ms () + delay_ms;
  e->timer = loop_add_timer (d->loop, delay_ms, on_due, e);
}

uint64_t
admission_remaining_ms (struct daemon *d, struct entry *e)
{
  uint64_t now = now_mono_ms ();
  return e->due_mono > now ? e->due_mono - now : 0;
}

/* Plan the next TTL regeneration of a running entry, counted from when the
 * current generation started, so that a restart of lymphd does not push
 * every container's end further away. */
void
admission_schedule_from (struct daemon *d, struct entry *e, uint64_t started_real_ms, bool fresh)
{
  if (e->state != ES_RUNNING || d->shutting_down)
    return;
  e->started_real_ms = started_real_ms;
  detect_generation_started (d, e, fresh);
  double level = threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms);
  uint64_t ttl = sched_jittered_ttl (threat_effective_ttl (e->policy.ttl_ms, level), e->policy.jitter_pct,
                                     random_unit ());
  uint64_t now = now_real_ms ();
  uint64_t age = started_real_ms && started_real_ms < now ? now - started_real_ms : 0;
  admission_arm (d, e, age >= ttl ? 0 : ttl - age);
}

static void
schedule (struct daemon *d, struct entry *e)
{
  admission_schedule_from (d, e, now_real_ms (), true);
}

enum strategy
admission_resolve_strategy (struct entry *e)
{
  if (e->swarm)
    return STRATEGY_SWARM;
  if (e->policy.strategy == STRATEGY_REPLACE)
    return STRATEGY_REPLACE;
  if (e->golden.swap_blocker)
    {
      if (e->policy.strategy == STRATEGY_SWAP)
        log_warn ("%s: swap not possible (%s), replacing instead", e->name, e->golden.swap_blocker);
      return STRATEGY_REPLACE;
    }
  return STRATEGY_SWAP;
}

/* What is in flight now. */
static void
load_of (struct daemon *d, struct sched_load *l)
{
  memset (l, 0, sizeof *l);
  ENTRY_FOREACH (x, d)
    if (x->regen)
      sched_load_add (l, x->policy.group);
}

static bool
admits (struct daemon *d, const struct sched_load *l, struct entry *e)
{
  return d->recovering == 0 && sched_load_admits (l, e->policy.group, d->cfg->max_concurrent);
}

/* What a regeneration's reason makes it, for the metrics and the queue:
 * "ttl", "retry", "manual" (an operator's), else "incident". */
static const char *
reason_kind (const char *reason)
{
  return str_has_prefix (reason, "manual") ? "manual"
         : str_has_prefix (reason, "ttl")   ? "ttl"
         : str_has_prefix (reason, "retry") ? "retry"
                                            : "incident";
}

/* Whatever is not a TTL or a retry goes ahead of them in the queue. */
static bool
urgent_reason (const char *reason)
{
  const char *k = reason_kind (reason);
  return strcmp (k, "ttl") != 0 && strcmp (k, "retry") != 0;
}

/* An alert's regeneration is being prepared (its container cut off,
 * paused, its forensics taken): a slot that frees meanwhile waits for it
 * rather than go to a TTL, so that nothing but other alerts starts between
 * an alert and its container's regeneration. At most INCIDENT_HOLD_MS. */
static bool
alert_preparing (struct daemon *d)
{
  uint64_t now = now_mono_ms ();
  ENTRY_FOREACH (x, d)
    if (incident_preparing (x, now))
      return true;
  return false;
}

/* The answer to regen: the regeneration's result, and for a request that
 * joined one already in flight, which one it joined. */
static char *
regen_result_json (const struct regen_result *res, bool joined)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "name", res->name);
  json_gen_kstr (g, "id", res->new_id);
  json_gen_kint (g, "generation", res->generation);
  json_gen_kint (g, "duration_ms", (int64_t) res->duration_ms);
  json_gen_kstr (g, "strategy", strategy_name (res->strategy));
  json_gen_kstr (g, "txn", res->txn);
  json_gen_kstr (g, "reason", res->reason);
  json_gen_str (g, "joined");
  json_gen_bool (g, joined);
  json_gen_map_close (g);
  return json_gen_text (g);
}

/* Answer every request waiting on e's regeneration with its result. One that
 * joined a regeneration already in flight is told which one: its answer is
 * that regeneration's, which its own request did not start. */
static void
reply_regen_waiters (struct entry *e, const struct regen_result *res)
{
  struct waiter *w = SLIST_FIRST (&e->waiters);
  SLIST_INIT (&e->waiters);
  while (w)
    {
      struct waiter *n = SLIST_NEXT (w, link);
      if (res->outcome == REGEN_OK)
        {
          cleanup_free char *json = regen_result_json (res, w->joined);
          control_reply_ok (w->req, json);
        }
      else if (w->joined)
        {
          cleanup_free char *msg = xasprintf ("joined the regeneration in flight (txn %s, reason: %s): %s", res->txn,
                                              res->reason, res->err.msg);
          control_reply_error (w->req, res->err.status ? res->err.status : EIO, msg);
        }
      else
        control_reply_error (w->req, res->err.status ? res->err.status : EIO, res->err.msg);
      free (w);
      w = n;
    }
}

/* A recovery failed while the engine stayed connected: try it again. */
static void
on_recover_due (struct loop *l, void *ud)
{
  (void) l;
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->recover_timer = 0;
  e->recover_due_mono = 0;
  e->recover_blocked = false;
  if (d->connected && !d->shutting_down && !d->syncing && e->regen == NULL)
    reconcile_sync_engine (d);
}

void
admission_on_regen_done (void *ud, const struct regen_result *res)
{
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->regen = NULL;
  d->in_flight--;
  sched_rate_add (&d->regen_ends, now_mono_ms ());
  if (res->outcome != REGEN_BROKEN)
    e->recover_tries = 0;
  if (res->outcome == REGEN_OK)
    e->keep_old_down = false;
  incident_regen_done (d, e, res);
  metrics_observe (&d->metrics.regen_seconds, (double) res->duration_ms / 1000.0);
  {
    const char *kind = res->recovered ? "recovery" : reason_kind (e->queued_reason ? e->queued_reason : "");
    metrics_inc (&d->metrics, "lympho_regenerations_total", "container", e->name, "reason", kind, "result",
                 regen_outcome_name (res->outcome), NULL);
  }
  if (res->recovered && d->recovering > 0)
    d->recovering--;

  struct history_entry h = {
    HISTORY_NO_INCIDENT,
    .name = e->name,
    .kind = res->recovered ? "recover" : "regen",
    .generation = res->generation,
    .new_id = res->new_id,
    .reason = e->queued_reason,
    .duration_ms = (int64_t) res->duration_ms,
    .strategy = strategy_name (res->strategy),
    .has_late = e->late_ms >= 0,
    .late_ms = e->late_ms,
  };
  switch (res->outcome)
    {
    case REGEN_OK:
      {
        d->regenerations++;
        entry_set_id (d, e, res->new_id);
        e->generation = res->generation;
        e->state = ES_RUNNING;
        e->failures = 0;
        free (e->last_error);
        e->last_error = NULL;
        threat_reset (&e->threat);
        h.result = "ok";
        if (res->err.status)
          h.error = res->err.msg; /* e.g. the old one could not be removed */
        daemon_record (d, &h);
        reply_regen_waiters (e, res);
        schedule (d, e);
        /* Learn the new generation's pid and networks for quarantine. */
        d->ops->inspect (d->rt, e->id, reconcile_on_inspected, d);
        after_regenerated (d, e);
        break;
      }
    case REGEN_REFUSED:
    case REGEN_ROLLED_BACK:
      d->failures++;
      e->failures++;
      h.result = res->outcome == REGEN_REFUSED ? "refused" : "failed";
      h.error = res->err.msg;
      if (res->new_id)
        {
          entry_set_id (d, e, res->new_id);
        }
      else if (res->strategy == STRATEGY_SWARM && res->outcome == REGEN_ROLLED_BACK)
        {
          /* Its task was removed and the swarm did not replace it: nothing
           * runs in the slot. Said, and left for the swarm: the slot's next
           * task is adopted into the entry when it runs. */
          entry_set_id (d, e, NULL);
          log_error ("%s: %s; nothing runs in the slot", e->name, res->err.msg);
          if (!d->shutting_down)
            reconcile_slot_check (d, e);
        }
      e->state = e->id ? ES_RUNNING : e->swarm ? ES_STOPPED : ES_UNKNOWN;
      free (e->last_error);
      e->last_error = xstrdup (res->err.msg);
      daemon_record (d, &h);
      reply_regen_waiters (e, res);
      if (e->id && !d->shutting_down && res->strategy == STRATEGY_SWARM && res->outcome == REGEN_REFUSED
          && res->err.status == EPERM)
        {
          /* Its service never replaces a task: no retry would change
           * that. Said at each of its TTLs, its task left running. */
          log_warn ("%s: regeneration refused (%s); asked again at its next TTL", e->name, res->err.msg);
          e->failures = 0; /* nothing to retry: its TTL, not a backoff, comes next */
          admission_schedule_from (d, e, now_real_ms (), false);
        }
      else if (e->id && !d->shutting_down)
        {
          uint64_t delay = sched_backoff (e->failures, d->cfg->backoff_min_ms, d->cfg->backoff_max_ms,
                                          random_unit ());
          log_warn ("%s: regeneration %s (%s); retry in %llu ms", e->name, h.result, res->err.msg,
                    (unsigned long long) delay);
          admission_arm (d, e, delay);
        }
      break;
    case REGEN_BROKEN:
      d->failures++;
      e->failures++;
      e->state = ES_BROKEN;
      e->recover_blocked = true;
      h.result = "failed";
      h.error = res->err.msg;
      free (e->last_error);
      e->last_error = xstrdup (res->err.msg);
      daemon_record (d, &h);
      reply_regen_waiters (e, res);
      /* The journal keeps the transaction open; the next sync recovers it.
       * That is the next reconnect when the engine went away, but an engine
       * still connected (a start that hangs, say) may never reconnect: try
       * again on a backoff of its own, or the service stays down. */
      if (!d->shutting_down)
        {
          uint64_t delay = sched_backoff (++e->recover_tries, d->cfg->backoff_min_ms, d->cfg->backoff_max_ms,
                                          random_unit ());
          if (e->recover_timer)
            loop_cancel_timer (d->loop, e->recover_timer);
          e->recover_timer = loop_add_timer (d->loop, delay, on_recover_due, e);
          e->recover_due_mono = now_mono_ms () + delay;
          log_warn ("%s: could not roll back (%s); recovery again in %llu ms", e->name, res->err.msg,
                    (unsigned long long) delay);
        }
      break;
    }
  free (e->queued_reason);
  e->queued_reason = NULL;
  daemon_update_status (d);
  if (d->in_flight == 0 && !d->shutting_down)
    {
      bool keep = false; /* a broken entry's or an incident's transaction is open */
      ENTRY_FOREACH (x, d)
        keep |= x->state == ES_BROKEN || incident_journal_open (x);
      lympho_error_t err = { 0 };
      if (!keep && journal_compact (d->journal, &err) < 0)
        log_warn ("journal: %s", err.msg);
    }
  if (d->recovering == 0 && d->syncing)
    {
      d->syncing = false;
      reconcile_sync_engine (d);
    }
  admission_start_queued (d);
  daemon_maybe_exit (d);
}

static void
launch (struct daemon *d, struct entry *e, const char *reason)
{
  struct regen_params p = {
    .golden = &e->golden,
    .old_id = e->id,
    .old_generation = e->generation,
    /* An infected generation is cut off already: overlapping it with the
     * new one (swap) gains nothing and waits for readiness; replace brings
     * the service back soonest. */
    .strategy = e->keep_old_down ? STRATEGY_REPLACE : admission_resolve_strategy (e),
    .reason = reason,
    .keep_old_down = e->keep_old_down,
    .old_networks = e->networks,
    .n_old_networks = e->n_networks,
  };
  if (e->swarm)
    {
      /* The swarm recreates its task from the service's spec. */
      p.strategy = STRATEGY_SWARM;
      p.swarm = e->swarm;
    }
  if (e->timer)
    {
      loop_cancel_timer (d->loop, e->timer);
      e->timer = 0;
    }
  e->queued = false;
  e->queued_urgent = false;
  free (e->queued_reason);
  e->queued_reason = xstrdup (reason);
  /* How late a TTL (or retry) started: the queue's wait and the loop's. */
  e->late_ms = -1;
  if (e->came_due_mono && !urgent_reason (reason))
    {
      uint64_t now = now_mono_ms ();
      e->late_ms = now > e->came_due_mono ? (int64_t) (now - e->came_due_mono) : 0;
      metrics_observe (&d->metrics.ttl_late_seconds, (double) e->late_ms / 1000.0);
    }
  e->came_due_mono = 0;
  struct regen_env env = daemon_regen_env (d);
  e->regen = regen_start (&env, &p, admission_on_regen_done, e);
  e->state = ES_REGENERATING;
  d->in_flight++;
  daemon_update_status (d);
}

/* Observed: what would have been done is recorded and counted, nothing
 * is touched, and the next TTL is planned as if it had been done. */
static void
observe_regen (struct daemon *d, struct entry *e, const char *reason)
{
  cleanup_free char *why = xasprintf ("would have regenerated: %s", reason);
  log_info ("%s gen=%u: observe: %s", e->name, e->generation, why);
  struct history_entry h = {
    .name = e->name, .kind = "regen", .result = "observed", .generation = e->generation, .old_id = e->id,
    .reason = why, .duration_ms = -1, .severity = -1, .threat_level = -1, .cut_ms = -1, .replaced_ms = -1,
  };
  d->act->record (d, &h);
  metrics_inc (&d->metrics, "lympho_observed_total", "container", e->name, "action", "regenerate", NULL);
  if (e->state != ES_RUNNING)
    return;
  double level = threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms);
  admission_arm (d, e,
                 sched_jittered_ttl (threat_effective_ttl (e->policy.ttl_ms, level), e->policy.jitter_pct,
                                     random_unit ()));
}

void
admission_request_regen (struct daemon *d, struct entry *e, const char *reason, bool keep_old_down,
                      struct control_request *req)
{
  if (d->shutting_down)
    {
      if (req)
        control_reply_error (req, ECANCELED, "lymphd is shutting down");
      return;
    }
  /* lymphd's own decisions on an observed container are recorded only; an
   * operator's request (req) acts. */
  if (req == NULL && entry_observed (d, e))
    {
      observe_regen (d, e, reason);
      return;
    }
  if (e->regen)
    {
      /* Join the regeneration in flight: its result is the answer, and the
       * caller is told that it joined (a retry of an earlier failure may be
       * what succeeds or fails). */
      log_msg (req ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s: %s joins the regeneration in flight (txn=%s, reason %s)",
               e->name, reason, regen_txn (e->regen), regen_reason (e->regen));
      entry_add_waiter (e, req, true);
      return;
    }
  if (e->replaced_by)
    {
      /* Its operator (compose) is replacing it: a regeneration now would
       * take the name from under the replacement. */
      log_msg (req ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s: %s: not regenerated; its operator is replacing it with %.12s",
               e->name, reason, e->replaced_by);
      if (req)
        control_reply_error (req, EBUSY, "its operator is replacing the container; it is adopted anew when that ends");
      return;
    }
  if (e->state != ES_RUNNING || e->id == NULL || e->busy)
    {
      if (req)
        control_reply_error (req, EBUSY, e->state == ES_STOPPED ? "the container is stopped; start it first"
                                             : "the container is not ready for regeneration yet");
      return;
    }
  if (e->queued)
    {
      /* Join the regeneration waiting for admission: it keeps the reason
       * it was queued with, which its first requests are answered with, and
       * an infected generation queued to stay down stays down whoever asks
       * after it. */
      log_msg (req ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s: %s joins the queued regeneration (reason %s)", e->name,
               reason, e->queued_reason);
      entry_add_waiter (e, req, true);
      e->keep_old_down |= keep_old_down;
      /* An alert on a container waiting for its TTL takes it to the
       * front: it does not wait behind the TTL backlog. */
      if (urgent_reason (reason) && !e->queued_urgent)
        {
          e->queued_urgent = true;
          /* A hold for this alert ends: the slots it kept go to the queue. */
          admission_start_queued (d);
        }
      return;
    }
  entry_add_waiter (e, req, false);
  e->keep_old_down = keep_old_down;
  struct sched_load load;
  load_of (d, &load);
  if (!d->connected || !admits (d, &load, e) || (!urgent_reason (reason) && alert_preparing (d)))
    {
      e->queued = true;
      e->queued_urgent = urgent_reason (reason);
      e->queued_seq = ++d->queue_seq;
      free (e->queued_reason);
      e->queued_reason = xstrdup (reason);
      log_debug ("%s: regeneration queued (%s)", e->name, reason);
      /* An alert's, ending a hold: the slots it kept go to the queue. */
      if (e->queued_urgent)
        admission_start_queued (d);
      return;
    }
  launch (d, e, reason);
  if (urgent_reason (reason))
    admission_start_queued (d);
}

/* The running entry whose TTL regeneration may start early now, the one
 * due soonest: as on_due would start it (not observed, not a retry, not
 * waiting on anything), and admitted by its group. */
static struct entry *
due_soonest (struct daemon *d, const struct sched_load *load)
{
  struct entry *best = NULL;
  uint64_t now = now_mono_ms (), now_real = now_real_ms ();
  ENTRY_FOREACH (e, d)
    {
      if (e->timer == 0 || e->failures || e->queued || e->regen || e->state != ES_RUNNING || e->id == NULL
          || e->busy || e->replaced_by || e->due_mono == 0 || (best && e->due_mono >= best->due_mono))
        continue;
      uint64_t remaining = e->due_mono > now ? e->due_mono - now : 0;
      uint64_t age = e->started_real_ms && e->started_real_ms < now_real ? now_real - e->started_real_ms : 0;
      double level = threat_level (&e->threat, now_real, d->cfg->threat_half_life_ms);
      if (sched_may_start_early (age, threat_effective_ttl (e->policy.ttl_ms, level), e->policy.jitter_pct, remaining)
          && !entry_observed (d, e) && admits (d, load, e))
        best = e;
    }
  return best;
}

void
admission_start_queued (struct daemon *d)
{
  if (!d->connected || d->shutting_down)
    return;
  /* Whatever is not a TTL or a retry (an alert, an incident, an operator)
   * first, then first come, first served: the longest waiting that may
   * start now goes first (one held back by its group does not hold back
   * the others). What is in flight is gathered once a launch, so a long
   * backlog costs the cap for each waiting entry, not every entry. */
  struct sched_load load;
  load_of (d, &load);
  bool hold = alert_preparing (d);
  for (;;)
    {
      if (!sched_load_admits (&load, NULL, d->cfg->max_concurrent) || d->recovering)
        return;
      struct entry *first = NULL;
      ENTRY_FOREACH (e, d)
        if (e->queued && e->regen == NULL && e->state == ES_RUNNING && (e->queued_urgent || !hold)
            && (first == NULL || (e->queued_urgent && !first->queued_urgent)
                || (e->queued_urgent == first->queued_urgent && e->queued_seq < first->queued_seq))
            && admits (d, &load, e))
          first = e;
      if (first == NULL && !hold && (first = due_soonest (d, &load)) != NULL)
        {
          /* Nothing waits and a slot is free: the TTL due soonest starts
           * now, inside its jitter, rather than collide later with
           * another (sched_may_start_early). */
          log_debug ("%s: TTL regeneration started %" PRIu64 " ms early, a slot being free", first->name,
                     admission_remaining_ms (d, first));
          first->came_due_mono = now_mono_ms (); /* not late: 0 in its history */
          first->due_mono = 0;
          launch (d, first, "ttl");
          if (first->regen)
            sched_load_add (&load, first->policy.group);
          continue;
        }
      if (first == NULL)
        return;
      cleanup_free char *reason = xstrdup (first->queued_reason ? first->queued_reason : "ttl");
      launch (d, first, reason);
      if (first->regen)
        sched_load_add (&load, first->policy.group);
    }
}

/* ---- whether the TTLs are being met ---- */

#define TTL_LOOK_MS 5000
#define TTL_HOLD_MS 30000
#define TTL_RATE_WINDOW_MS 120000

struct ttl_view
{
  double needed_per_s;   /* what the TTLs of every protected entry need */
  double achieved_per_s; /* regenerations ended, whatever their reason */
  unsigned waiting;      /* TTL regenerations due and queued */
  uint64_t oldest_late_ms;
};

static void
ttl_view (struct daemon *d, struct ttl_view *v)
{
  memset (v, 0, sizeof *v);
  uint64_t now = now_mono_ms ();
  uint64_t real = now_real_ms ();
  ENTRY_FOREACH (e, d)
    {
      if (e->policy.ttl_ms && e->state != ES_STOPPED && !entry_observed (d, e))
        {
          double level = threat_level (&e->threat, real, d->cfg->threat_half_life_ms);
          uint64_t ttl = threat_effective_ttl (e->policy.ttl_ms, level);
          if (ttl < 1000)
            ttl = 1000;
          v->needed_per_s += 1000.0 / (double) ttl;
        }
      if (e->queued && !e->queued_urgent && e->came_due_mono)
        {
          v->waiting++;
          if (now > e->came_due_mono && now - e->came_due_mono > v->oldest_late_ms)
            v->oldest_late_ms = now - e->came_due_mono;
        }
    }
  /* While TTLs wait, the engine is kept busy: the rate since the backlog
   * began is what it can do (the window before it counts idle time). */
  uint64_t window = TTL_RATE_WINDOW_MS;
  uint64_t since = d->ttl_watch.backlog_since;
  if (v->waiting && since && now > since && now - since < window)
    window = now - since;
  v->achieved_per_s = sched_rate_per_s (&d->regen_ends, now, window);
}

static void
on_ttl_look (struct loop *l, void *ud)
{
  struct daemon *d = ud;
  d->ttl_timer = loop_add_timer (l, TTL_LOOK_MS, on_ttl_look, d);
  /* What a hold for an alert kept waiting (one whose incident ended
   * without a regeneration, or past INCIDENT_HOLD_MS) starts at the latest
   * now. */
  admission_start_queued (d);
  /* Without the engine nothing can be met: its own message says why. The
   * rate the engine keeps is measured again from when it is back. */
  if (!d->connected)
    {
      sched_ttl_watch_pause (&d->ttl_watch);
      d->regen_ends.since = now_mono_ms ();
      return;
    }
  struct ttl_view v;
  ttl_view (d, &v);
  int turn = sched_ttl_watch (&d->ttl_watch, now_mono_ms (), v.waiting > 0, v.needed_per_s, v.achieved_per_s,
                              TTL_HOLD_MS);
  if (turn > 0)
    log_warn ("the TTLs cannot be met: they need %.2f regenerations a second, the engine completes %.2f; %u "
              "wait, the oldest %.0f s late. TTL regenerations run late, oldest first; alerts go first",
              v.needed_per_s, v.achieved_per_s, v.waiting, (double) v.oldest_late_ms / 1000.0);
  else if (turn < 0)
    log_info ("the TTLs are met again: they need %.2f regenerations a second, the engine completes %.2f",
              v.needed_per_s, v.achieved_per_s);
}

void
admission_watch_start (struct daemon *d)
{
  d->regen_ends.since = now_mono_ms ();
  d->ttl_timer = loop_add_timer (d->loop, TTL_LOOK_MS, on_ttl_look, d);
}

void
admission_watch_stop (struct daemon *d)
{
  if (d->ttl_timer)
    loop_cancel_timer (d->loop, d->ttl_timer);
  d->ttl_timer = 0;
}

void
admission_status_gen (struct daemon *d, json_gen g)
{
  struct ttl_view v;
  ttl_view (d, &v);
  json_gen_str (g, "ttl");
  json_gen_map_open (g);
  json_gen_kstr (g, "state", d->ttl_watch.behind ? "behind" : "met");
  json_gen_str (g, "needed_per_s");
  json_gen_fixed (g, v.needed_per_s, 3);
  json_gen_str (g, "achieved_per_s");
  json_gen_fixed (g, v.achieved_per_s, 3);
  json_gen_kint (g, "waiting", v.waiting);
  json_gen_kint (g, "oldest_late_ms", (int64_t) v.oldest_late_ms);
  json_gen_map_close (g);
}
