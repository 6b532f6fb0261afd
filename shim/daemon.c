/* lympho — the daemon core (see daemon.h). One loop; every engine call is
 * asynchronous; each protected name is an `entry`. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "lympho/control.h"
#include "lympho/daemon.h"
#include "lympho/history.h"
#include "lympho/httpd.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/notify.h"
#include "lympho/privs.h"
#include "lympho/regen.h"
#include "lympho/runtime.h"
#include "lympho/sched.h"
#include "lympho/store.h"
#include "lympho/util.h"

#include "daemon-int.h"

static const char *const entry_state_names[] = { "unknown", "running", "stopped", "regenerating", "broken" };

static void schedule (struct daemon *d, struct entry *e);
static void maybe_exit (struct daemon *d);

void
daemon_record (struct daemon *d, const struct history_entry *h)
{
  lympho_error_t err = { 0 };
  if (history_append (d->cfg->state_dir, h, &err) < 0)
    log_error ("history: %s", err.msg);
}

static void
engine_info (struct daemon *d, struct rt_engine_info *info)
{
  memset (info, 0, sizeof *info);
  if (d->ops->engine_info && d->rt)
    d->ops->engine_info (d->rt, info);
}

/* Why the engine cannot be used now, one line, malloc'd; NULL when it can. */
static char *
engine_trouble (struct daemon *d)
{
  if (d->connected)
    return NULL;
  struct rt_engine_info info;
  engine_info (d, &info);
  if (info.problem)
    return xasprintf ("engine %s: %s", info.refused ? "refused" : "unreachable", info.problem);
  return xstrdup ("engine unreachable");
}

void
daemon_update_status (struct daemon *d)
{
  cleanup_free char *trouble = engine_trouble (d);
  notify_status ("protecting %u containers, %u regenerating, %s", entry_count (d, 0, true), d->in_flight,
                 trouble ? trouble : "engine connected");
}

/* --- scheduling ------------------------------------------------------ */

static void
on_due (struct loop *l, void *ud)
{
  struct entry *e = ud;
  e->timer = 0;
  e->due_mono = 0;
  daemon_request_regen (e->d, e, e->failures ? "retry" : "ttl", e->keep_old_down, NULL);
}

void
daemon_arm (struct daemon *d, struct entry *e, uint64_t delay_ms)
{
  if (e->timer)
    loop_cancel_timer (d->loop, e->timer);
  e->due_mono = now_mono_ms () + delay_ms;
  e->timer = loop_add_timer (d->loop, delay_ms, on_due, e);
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
  daemon_arm (d, e, age >= ttl ? 0 : ttl - age);
}

static void
schedule (struct daemon *d, struct entry *e)
{
  admission_schedule_from (d, e, now_real_ms (), true);
}

static enum strategy
resolve_strategy (struct entry *e)
{
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

static bool
admit (struct daemon *d, struct entry *e)
{
  size_t n = 0;
  for (struct entry *x = d->entries; x; x = x->next)
    n++;
  struct sched_slot *slots = xmalloc0 ((n ? n : 1) * sizeof *slots);
  size_t i = 0;
  for (struct entry *x = d->entries; x; x = x->next, i++)
    {
      slots[i].group = x->policy.group;
      slots[i].running = x->regen != NULL;
    }
  bool ok = sched_admit (e->policy.group, slots, n, d->cfg->max_concurrent) && d->recovering == 0;
  free (slots);
  return ok;
}

/* The answer to regen: the regeneration's result, and for a request that
 * joined one already in flight, which one it joined. */
static char *
regen_result_json (const struct regen_result *res, bool joined)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_map_open (g);
  json_gen_kstr (g, "name", res->name);
  json_gen_kstr (g, "id", res->new_id);
  json_gen_kint (g, "generation", res->generation);
  json_gen_kint (g, "duration_ms", (int64_t) res->duration_ms);
  json_gen_kstr (g, "strategy", strategy_name (res->strategy));
  json_gen_kstr (g, "txn", res->txn);
  json_gen_kstr (g, "reason", res->reason);
  json_gen_str (g, "joined");
  yajl_gen_bool (g, joined);
  yajl_gen_map_close (g);
  return json_gen_text (g);
}

/* Answer every request waiting on e's regeneration with its result. One that
 * joined a regeneration already in flight is told which one: its answer is
 * that regeneration's, which its own request did not start. */
static void
reply_regen_waiters (struct entry *e, const struct regen_result *res)
{
  struct waiter *w = e->waiters;
  e->waiters = NULL;
  while (w)
    {
      struct waiter *n = w->next;
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
  if (res->outcome != REGEN_BROKEN)
    e->recover_tries = 0;
  if (res->outcome == REGEN_OK)
    e->keep_old_down = false;
  incident_regen_done (d, e, res);
  metrics_observe (&d->metrics.regen_seconds, (double) res->duration_ms / 1000.0);
  {
    const char *why = e->queued_reason ? e->queued_reason : "";
    const char *kind = res->recovered                    ? "recovery"
                       : str_has_prefix (why, "manual")  ? "manual"
                       : str_has_prefix (why, "ttl")     ? "ttl"
                       : str_has_prefix (why, "retry")   ? "retry"
                                                         : "incident";
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
  };
  switch (res->outcome)
    {
    case REGEN_OK:
      {
        d->regenerations++;
        free (e->id);
        e->id = xstrdup (res->new_id);
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
          free (e->id);
          e->id = xstrdup (res->new_id);
        }
      e->state = e->id ? ES_RUNNING : ES_UNKNOWN;
      free (e->last_error);
      e->last_error = xstrdup (res->err.msg);
      daemon_record (d, &h);
      reply_regen_waiters (e, res);
      if (e->id && !d->shutting_down)
        {
          uint64_t delay = sched_backoff (e->failures, d->cfg->backoff_min_ms, d->cfg->backoff_max_ms,
                                          random_unit ());
          log_warn ("%s: regeneration %s (%s); retry in %llu ms", e->name, h.result, res->err.msg,
                    (unsigned long long) delay);
          daemon_arm (d, e, delay);
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
      bool broken = false;
      for (struct entry *x = d->entries; x; x = x->next)
        broken |= x->state == ES_BROKEN;
      lympho_error_t err = { 0 };
      if (!broken && journal_compact (d->journal, &err) < 0)
        log_warn ("journal: %s", err.msg);
    }
  if (d->recovering == 0 && d->syncing)
    {
      d->syncing = false;
      reconcile_sync_engine (d);
    }
  admission_start_queued (d);
  maybe_exit (d);
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
    .strategy = e->keep_old_down ? STRATEGY_REPLACE : resolve_strategy (e),
    .reason = reason,
    .keep_old_down = e->keep_old_down,
    .old_networks = e->networks,
    .n_old_networks = e->n_networks,
  };
  if (e->timer)
    {
      loop_cancel_timer (d->loop, e->timer);
      e->timer = 0;
    }
  e->queued = false;
  free (e->queued_reason);
  e->queued_reason = xstrdup (reason);
  struct regen_env env = { d->loop, d->ops, d->rt, d->journal, d->cfg };
  lympho_error_t err = { 0 };
  if (regen_start (&env, &p, admission_on_regen_done, e, &e->regen, &err) < 0)
    {
      entry_reply_waiters (e, false, NULL, err.status, err.msg);
      return;
    }
  e->state = ES_REGENERATING;
  d->in_flight++;
  daemon_update_status (d);
}

void
daemon_request_regen (struct daemon *d, struct entry *e, const char *reason, bool keep_old_down,
                      struct control_request *req)
{
  if (d->shutting_down)
    {
      if (req)
        control_reply_error (req, ECANCELED, "lymphd is shutting down");
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
  if (e->state != ES_RUNNING || e->id == NULL || e->busy)
    {
      if (req)
        control_reply_error (req, EBUSY, e->state == ES_STOPPED ? "the container is stopped; start it first"
                                             : "the container is not ready for regeneration yet");
      return;
    }
  entry_add_waiter (e, req, false);
  e->keep_old_down = keep_old_down;
  if (!d->connected || !admit (d, e))
    {
      e->queued = true;
      free (e->queued_reason);
      e->queued_reason = xstrdup (reason);
      log_debug ("%s: regeneration queued (%s)", e->name, reason);
      return;
    }
  launch (d, e, reason);
}

void
admission_start_queued (struct daemon *d)
{
  if (!d->connected || d->shutting_down)
    return;
  for (struct entry *e = d->entries; e; e = e->next)
    if (e->queued && e->regen == NULL && e->state == ES_RUNNING && admit (d, e))
      {
        cleanup_free char *reason = xstrdup (e->queued_reason ? e->queued_reason : "ttl");
        launch (d, e, reason);
      }
}

/* --- control --------------------------------------------------------- */

static const char *
entry_state_name (const struct entry *e)
{
  return entry_state_names[e->state];
}

/* A retry of a failed regeneration is armed (and not yet started). */
static bool
retry_pending (const struct entry *e)
{
  return e->failures > 0 && e->timer != 0 && e->regen == NULL;
}

/* Nothing lymphd will do to e on its own but its next TTL: the engine is
 * connected and synced, no regeneration, recovery, adoption or incident in
 * flight, none queued or due, no retry or recovery armed. What a caller
 * waits for before it acts again. */
static bool
entry_idle (const struct daemon *d, const struct entry *e, uint64_t now)
{
  if (!d->connected || d->syncing || e->engine_took)
    return false; /* what the engine did meanwhile is not known yet */
  if (e->due_mono != 0 && e->due_mono <= now)
    return false; /* due, its timer about to fire */
  return e->regen == NULL && !e->queued && !e->busy && e->incident == NULL && !retry_pending (e)
         && e->state != ES_BROKEN && e->state != ES_REGENERATING && e->state != ES_UNKNOWN;
}

static int64_t
ms_until (uint64_t due_mono, uint64_t now)
{
  return (int64_t) (due_mono > now ? due_mono - now : 0);
}

/* What is in flight or pending for e, each null when there is none. */
static void
gen_pending (yajl_gen g, const struct daemon *d, const struct entry *e, uint64_t now)
{
  json_gen_str (g, "regen");
  if (e->regen)
    {
      yajl_gen_map_open (g);
      json_gen_kstr (g, "txn", regen_txn (e->regen));
      json_gen_kstr (g, "reason", regen_reason (e->regen));
      json_gen_kstr (g, "step", regen_phase_name (e->regen));
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_kstr (g, "queued", e->queued ? (e->queued_reason ? e->queued_reason : "ttl") : NULL);
  json_gen_str (g, "retry");
  if (retry_pending (e))
    {
      yajl_gen_map_open (g);
      json_gen_kint (g, "in_ms", ms_until (e->due_mono, now));
      json_gen_kint (g, "attempt", e->failures + 1);
      json_gen_kstr (g, "error", e->last_error);
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_str (g, "recovery");
  if (e->state == ES_BROKEN)
    {
      yajl_gen_map_open (g);
      /* Unarmed: it waits for the engine to come back. */
      json_gen_str (g, "in_ms");
      if (e->recover_timer)
        json_gen_int (g, ms_until (e->recover_due_mono, now));
      else
        yajl_gen_null (g);
      json_gen_kint (g, "attempt", e->recover_tries + 1);
      json_gen_kstr (g, "error", e->last_error);
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_kstr (g, "last_error", e->last_error);
  json_gen_str (g, "idle");
  yajl_gen_bool (g, entry_idle (d, e, now));
}

static void
gen_entry (struct daemon *d, yajl_gen g, struct entry *e)
{
  uint64_t now = now_mono_ms ();
  yajl_gen_map_open (g);
  json_gen_kstr (g, "name", e->name);
  json_gen_kstr (g, "id", e->id);
  json_gen_kstr (g, "image_id", e->golden.image_id);
  json_gen_kint (g, "generation", e->generation);
  json_gen_kint (g, "ttl_s", (int64_t) (e->policy.ttl_ms / 1000));
  json_gen_str (g, "next_regen_in_s");
  if (e->due_mono)
    json_gen_int (g, (int64_t) ((e->due_mono > now ? e->due_mono - now : 0) / 1000));
  else if (e->queued)
    json_gen_int (g, 0);
  else
    yajl_gen_null (g);
  json_gen_str (g, "threat_level");
  json_gen_fixed (g, threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms), 2);
  json_gen_kstr (g, "state", entry_state_name (e));
  json_gen_kstr (g, "group", e->policy.group);
  json_gen_kstr (g, "strategy", strategy_name (e->policy.strategy));
  json_gen_kstr (g, "effective_strategy", strategy_name (resolve_strategy (e)));
  json_gen_kstr (g, "swap_blocker", e->golden.swap_blocker);
  json_gen_kint (g, "jitter_pct", e->policy.jitter_pct);
  json_gen_kint (g, "failures", e->failures);
  json_gen_kint (g, "threshold", e->policy.threshold);
  json_gen_kstr (g, "pinned_image", e->golden.pin_ref);
  gen_pending (g, d, e, now);
  detect_gen (d, e, g);
  yajl_gen_map_close (g);
}

static void
cmd_ls (struct daemon *d, struct control_request *req)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_array_open (g);
  /* Sorted by name for stable output. */
  size_t n = 0;
  for (struct entry *e = d->entries; e; e = e->next)
    n++;
  struct entry **v = xmalloc0 ((n ? n : 1) * sizeof *v);
  size_t i = 0;
  for (struct entry *e = d->entries; e; e = e->next)
    v[i++] = e;
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && strcmp (v[b - 1]->name, v[b]->name) > 0; b--)
      {
        struct entry *t = v[b];
        v[b] = v[b - 1];
        v[b - 1] = t;
      }
  for (i = 0; i < n; i++)
    if (v[i]->golden.name)
      gen_entry (d, g, v[i]);
  free (v);
  yajl_gen_array_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static void
cmd_status (struct daemon *d, struct control_request *req)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_map_open (g);
  json_gen_kstr (g, "version", PACKAGE_VERSION);
  json_gen_kint (g, "uptime_s", (int64_t) ((now_mono_ms () - d->started_mono) / 1000));
  json_gen_kstr (g, "runtime", d->ops->name);
  {
    struct rt_engine_info info;
    engine_info (d, &info);
    json_gen_kstr (g, "engine", d->connected ? "connected" : info.refused ? "refused" : "disconnected");
    if (info.product || info.version)
      {
        cleanup_free char *v = xasprintf ("%s%s%s", info.product ? info.product : "",
                                          info.product && info.version ? " " : "", info.version ? info.version : "");
        json_gen_kstr (g, "engine_version", v);
      }
    if (info.api_version)
      json_gen_kstr (g, "api_version", info.api_version);
    if (info.api_max)
      {
        cleanup_free char *range = xasprintf ("%s to %s", info.api_min ? info.api_min : "?", info.api_max);
        json_gen_kstr (g, "engine_api", range);
      }
    if (!d->connected && info.problem)
      json_gen_kstr (g, "engine_problem", info.problem);
  }
  json_gen_kint (g, "protected", entry_count (d, 0, true));
  json_gen_kint (g, "regenerating", d->in_flight);
  {
    int64_t queued = 0, retrying = 0;
    for (struct entry *e = d->entries; e; e = e->next)
      {
        queued += e->queued;
        retrying += retry_pending (e);
      }
    json_gen_kint (g, "queued", queued);
    json_gen_kint (g, "retry_pending", retrying);
    json_gen_kint (g, "recovery_pending", entry_count (d, ES_BROKEN, false));
  }
  json_gen_kint (g, "regenerations", (int64_t) d->regenerations);
  json_gen_kint (g, "failures", (int64_t) d->failures);
  json_gen_kstr (g, "state_dir", d->cfg->state_dir);
  yajl_gen_map_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static const char *
arg_str (yajl_val args, const char *key)
{
  return json_str (json_get (args, key));
}

static void
on_control (void *ud, struct control_request *req, const char *cmd, yajl_val args)
{
  struct daemon *d = ud;
  if (strcmp (cmd, "status") == 0)
    cmd_status (d, req);
  else if (strcmp (cmd, "ls") == 0)
    cmd_ls (d, req);
  else if (strcmp (cmd, "regen") == 0)
    {
      const char *name = arg_str (args, "name");
      if (name == NULL)
        {
          control_reply_error (req, EINVAL, "regen: `name` is required");
          return;
        }
      struct entry *e = daemon_entry_lookup (d, name);
      if (e == NULL || e->golden.name == NULL)
        {
          cleanup_free char *msg = xasprintf ("no protected container named `%s`", name);
          control_reply_error (req, ENOENT, msg);
          return;
        }
      const char *reason = arg_str (args, "reason");
      cleanup_free char *why = xasprintf ("manual%s%s", reason ? ": " : "", reason ? reason : "");
      log_info ("%s: regeneration requested by uid %u (%s)", e->name, (unsigned) control_request_uid (req), why);
      daemon_request_regen (d, e, why, false, req);
    }
  else if (strcmp (cmd, "alert") == 0)
    {
      const char *name = arg_str (args, "name");
      int64_t sev = -1;
      if (name == NULL || !json_as_int64 (json_get (args, "severity"), &sev) || sev < 0 || sev > 10)
        {
          control_reply_error (req, EINVAL, "alert: `name` and an integer `severity` 0..10 are required");
          return;
        }
      struct alert a = { .source = ALERT_SRC_CLI, .container = (char *) name, .severity = (int) sev,
                         .reason = (char *) arg_str (args, "reason") };
      cleanup_free char *action = NULL;
      lympho_error_t err = { 0 };
      if (incident_alert (d, &a, now_mono_ms (), &action, &err) < 0)
        {
          control_reply_error (req, err.status, err.msg);
          return;
        }
      struct entry *e = daemon_entry_lookup (d, name);
      cleanup_jgen yajl_gen g = json_gen_new (false);
      yajl_gen_map_open (g);
      json_gen_kstr (g, "name", e ? e->name : name);
      json_gen_str (g, "threat_level");
      json_gen_fixed (g, e ? threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms) : 0.0, 2);
      json_gen_kstr (g, "action", action);
      yajl_gen_map_close (g);
      cleanup_free char *json = json_gen_text (g);
      control_reply_ok (req, json);
    }
  else if (strcmp (cmd, "history") == 0)
    {
      const char *name = arg_str (args, "name");
      int64_t limit = 0;
      json_as_int64 (json_get (args, "limit"), &limit);
      cleanup_free char *json = NULL;
      lympho_error_t err = { 0 };
      if (history_read (d->cfg->state_dir, name, limit > 0 ? (size_t) limit : 0, &json, &err) < 0)
        control_reply_error (req, err.status, err.msg);
      else
        control_reply_ok (req, json);
    }
  else
    {
      cleanup_free char *msg = xasprintf ("unknown command `%s`", cmd);
      control_reply_error (req, EINVAL, msg);
    }
}

/* --- signals, watchdog, shutdown ------------------------------------- */

uint64_t
daemon_remaining_ms (struct daemon *d, struct entry *e)
{
  uint64_t now = now_mono_ms ();
  return e->due_mono > now ? e->due_mono - now : 0;
}

/* --- HTTP listener glue ---------------------------------------------- */

static int
http_alert (void *ud, const struct alert *a, lympho_error_t *err)
{
  struct daemon *d = ud;
  cleanup_free char *action = NULL;
  return incident_alert (d, a, now_mono_ms (), &action, err);
}

static bool
http_known (void *ud, const char *container)
{
  struct daemon *d = ud;
  struct entry *e = daemon_entry_lookup (d, container);
  return e != NULL && e->golden.name != NULL;
}

static char *
http_metrics (void *ud)
{
  return incident_metrics (ud);
}

static char *
http_unhealthy (void *ud)
{
  return engine_trouble (ud);
}

static void
maybe_exit (struct daemon *d)
{
  if (d->shutting_down && d->in_flight == 0)
    loop_stop (d->loop);
}

static void
on_grace_over (struct loop *l, void *ud)
{
  struct daemon *d = ud;
  log_warn ("shutdown: %u regenerations still in flight after %d s; the journal will finish them", d->in_flight,
            SHUTDOWN_GRACE_MS / 1000);
  loop_stop (l);
}

static void
begin_shutdown (struct daemon *d, const char *why)
{
  if (d->shutting_down)
    return;
  d->shutting_down = true;
  notify_stopping ();
  log_info ("shutting down (%s); %u regenerations in flight", why, d->in_flight);
  for (struct entry *e = d->entries; e; e = e->next)
    {
      if (e->timer)
        loop_cancel_timer (d->loop, e->timer);
      e->timer = 0;
      if (e->regen)
        regen_request_stop (e->regen);
    }
  loop_add_timer (d->loop, SHUTDOWN_GRACE_MS, on_grace_over, d);
  maybe_exit (d);
}

static void
reload (struct daemon *d)
{
  lympho_error_t err = { 0 };
  if (config_reload (d->cfg, &err) < 0)
    {
      log_error ("reload: %s (keeping the running configuration)", err.msg);
      return;
    }
  log_set_level (d->cfg->log_level);
  log_info ("configuration reloaded (socket, state dir, engine and listener changes need a restart)");
}

static void
on_signal (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct daemon *d = ud;
  struct signalfd_siginfo si;
  while (read (fd, &si, sizeof si) == (ssize_t) sizeof si)
    {
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
        begin_shutdown (d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
      else if (si.ssi_signo == SIGHUP)
        reload (d);
    }
}

static void
on_watchdog (struct loop *l, void *ud)
{
  struct daemon *d = ud;
  notify_watchdog ();
  uint64_t usec = notify_watchdog_usec ();
  d->watchdog_timer = loop_add_timer (l, usec / 2000 ? usec / 2000 : 1, on_watchdog, d);
}

static void
bad_snapshot (const char *path, const lympho_error_t *e)
{
  log_error ("snapshot %s unreadable, skipped: %s", path, e->msg);
}

static int
setup_signals (struct daemon *d, lympho_error_t *err)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return lympho_error_set_errno (err, errno, "sigprocmask");
  signal (SIGPIPE, SIG_IGN);
  d->sigfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (d->sigfd < 0)
    return lympho_error_set_errno (err, errno, "signalfd");
  return loop_add_fd (d->loop, d->sigfd, EPOLLIN, on_signal, d, err);
}

int
daemon_run (struct config *cfg, lympho_error_t *err)
{
  struct daemon dd = { 0 };
  struct daemon *d = &dd;
  int ret;
  d->cfg = cfg;
  d->sigfd = -1;
  d->started_mono = now_mono_ms ();
  log_set_level (cfg->log_level);

  d->ops = runtime_lookup (cfg->runtime);
  if (d->ops == NULL)
    return lympho_error_set (err, ENOTSUP, "runtime `%s` is not available in this build", cfg->runtime);
  umask (077);
  if ((ret = mkdir_p (cfg->state_dir, 0700, err)) < 0 || (ret = store_init (cfg->state_dir, err)) < 0)
    return lympho_error_prefix (err, "state directory");
  if ((ret = loop_new (&d->loop, err)) < 0)
    return ret;
  if ((ret = setup_signals (d, err)) < 0)
    goto out;
  if ((ret = journal_open (cfg->state_dir, &d->journal, err)) < 0)
    goto out;
  if ((ret = control_open (d->loop, cfg->socket_path, on_control, d, &d->control, err)) < 0)
    goto out;
  if ((ret = d->ops->open (d->loop, runtime_endpoint (cfg->runtime, cfg->docker_host), &d->rt, err)) < 0)
    {
      lympho_error_prefix (err, "runtime %s", d->ops->name);
      goto out;
    }
  if (cfg->listen)
    {
      cleanup_free char *token = NULL;
      if ((ret = httpd_load_token (cfg->token_file, &token, err)) < 0)
        {
          lympho_error_prefix (err, "token file");
          goto out;
        }
      struct httpd_callbacks cb = { http_alert, http_known, http_metrics, http_unhealthy, d };
      if ((ret = httpd_open (d->loop, cfg->listen, token, &cb, &d->httpd, err)) < 0)
        {
          goto out; /* the message names the address */
        }
    }
  if ((ret = detect_open (d, err)) < 0)
    goto out;
  if ((ret = memory_open (cfg->state_dir, cfg->memory_window_ms, now_real_ms (), &d->memory, err)) < 0)
    {
      lympho_error_prefix (err, "immune memory");
      goto out;
    }
  if ((ret = privs_drop (err)) < 0)
    goto out;

  struct golden *gs = NULL;
  size_t ng = 0;
  if ((ret = store_load_all (cfg->state_dir, &gs, &ng, bad_snapshot, err)) < 0)
    goto out;
  for (size_t i = 0; i < ng; i++)
    {
      struct entry *e = entry_new (d, gs[i].name);
      e->golden = gs[i];
      struct policy p;
      lympho_error_t perr = { 0 };
      if (policy_from_labels (&e->golden.labels, &p, &perr) == 0)
        {
          policy_free (&e->policy);
          e->policy = p;
        }
    }
  free (gs);
  log_info ("lymphd %s starting: runtime %s at %s, state %s, %zu snapshots", PACKAGE_VERSION, d->ops->name,
            runtime_endpoint (cfg->runtime, cfg->docker_host), cfg->state_dir, ng);

  if ((ret = d->ops->subscribe (d->rt, reconcile_on_event, reconcile_on_conn, d, err)) < 0)
    goto out;
  if (notify_watchdog_usec () > 0)
    on_watchdog (d->loop, d);
  daemon_update_status (d);

  ret = loop_run (d->loop, err);
  log_info ("stopped");

out:
  if (d->httpd)
    httpd_close (d->httpd);
  detect_close (d);
  if (d->rt)
    d->ops->close (d->rt);
  /* Entries answer their waiting requests as they go; the control socket
   * closes after them so those answers are still sent. */
  while (d->entries)
    {
      struct entry *e = d->entries;
      d->entries = e->next;
      entry_free (d, e);
    }
  if (d->control)
    control_close (d->control);
  for (size_t i = 0; i < d->n_refused; i++)
    free (d->refused_ids[i]);
  free (d->refused_ids);
  journal_close (d->journal);
  memory_close (&d->memory);
  metrics_free (&d->metrics);
  if (d->sigfd >= 0)
    close (d->sigfd);
  loop_free (d->loop);
  return ret;
}
