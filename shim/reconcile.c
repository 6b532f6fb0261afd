/* lympho — reconciliation with the engine: what it lists, inspects and
 * reports as events is matched against the entries. A protected container
 * is adopted or refreshed, one removed outside lympho is let go, one
 * stopped outside lympho is left stopped; a sync recovers every open
 * journal transaction before it lists. Also the engine connection coming
 * and going. Calls entry.c, adopt.c, admission.c (schedule, regenerate,
 * the end of a recovery), detect.c (events about a protected container),
 * the journal, and the engine through d->ops. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/journal.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/notify.h"
#include "lympho/regen.h"
#include "lympho/store.h"
#include "lympho/util.h"

#include "daemon-int.h"

static void release (struct daemon *d, struct entry *e, const char *why);

/* A task of the swarm slot key (in any state) among v[0..n). */
static bool
slot_listed (const struct rt_container *v, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *k = swarm_key_of (&v[i].labels);
      if (k && strcmp (k, key) == 0)
        return true;
    }
  return false;
}

static unsigned
generation_of (const struct rt_container *c)
{
  const char *g = rt_labels_get (&c->labels, LABEL_GENERATION);
  if (g == NULL)
    return 0;
  char *end;
  unsigned long v = strtoul (g, &end, 10);
  return (*end || v > 1000000000ul) ? 0 : (unsigned) v;
}

static void
refresh (struct daemon *d, struct entry *e, const struct rt_container *c)
{
  entry_set_id (d, e, c->id);
  /* A swarm task carries no label of ours: its entry counts. */
  if (e->swarm == NULL)
    e->generation = generation_of (c);
  e->pid = c->pid;
  strv_free (e->networks, e->n_networks);
  e->networks = strv_dup (c->networks, c->n_networks);
  e->n_networks = c->n_networks;
  free (e->upper_dir);
  e->upper_dir = c->upper_dir ? xstrdup (c->upper_dir) : NULL;
  strv_free (e->mounts, e->n_mounts);
  e->mounts = strv_dup (c->mounts, c->n_mounts);
  e->n_mounts = c->n_mounts;
  bool running = c->state == RT_STATE_RUNNING || c->state == RT_STATE_PAUSED || c->state == RT_STATE_RESTARTING;
  enum entry_state before = e->state;
  if (!running && e->engine_took && e->golden.name)
    {
      /* It served when the connection to the engine was lost and is
       * stopped now: the engine's restart stopped it, or it died while its
       * events could not reach us. Bring the service back, as a fresh
       * generation. */
      e->engine_took = false;
      e->state = ES_RUNNING;
      log_info ("%s gen=%u: found stopped after the engine connection was lost; regenerating", e->name,
                e->generation);
      admission_request_regen (d, e, "engine restart", false, NULL);
      return;
    }
  e->engine_took = false;
  e->state = running ? ES_RUNNING : ES_STOPPED;
  if (!running)
    {
      if (e->timer)
        loop_cancel_timer (d->loop, e->timer);
      e->timer = 0;
      e->due_mono = 0;
      if (before == ES_RUNNING)
        log_info ("%s gen=%u: stopped outside lympho; left stopped", e->name, e->generation);
    }
  else if (e->timer == 0 && !e->queued)
    admission_schedule_from (d, e, c->started_at_ms, false);
  if (e->state == ES_RUNNING)
    detect_running (d, e);
  if (e->resume_txn)
    incident_resume (d, e);
}

/* Compose (2.x, recreateContainer) replaces a container by creating the
 * new one as "<the old one's id, 12 digits>_<name>", then stopping and
 * removing the old one, then renaming the new one to the name. The entry
 * whose container such a name replaces, or NULL. */
static struct entry *
replacement_of (struct daemon *d, const char *name)
{
  const char *us = strchr (name, '_');
  if (us == NULL || us - name != 12)
    return NULL;
  for (const char *p = name; p < us; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return NULL;
  struct entry *e = entry_find (d, us + 1);
  if (e == NULL || e->id == NULL || e->golden.name == NULL || strncmp (e->id, name, 12) != 0)
    return NULL;
  return e;
}

/* Its operator renamed e's container (docker rename): the entry, its
 * snapshot and its history go on under the new name; listed once. */
static void
follow_rename (struct daemon *d, struct entry *e, const char *to)
{
  char *from = xstrdup (e->name);
  log_info ("%s gen=%u: renamed to %s outside lympho; protected under its new name", from, e->generation, to);
  entry_set_name (d, e, to);
  free (e->golden.name);
  e->golden.name = xstrdup (to);
  lympho_error_t err = { 0 };
  if (store_save (d->cfg->state_dir, &e->golden, &err) < 0)
    log_error ("%s: %s", to, err.msg);
  else if (store_remove (d->cfg->state_dir, from, &err) < 0)
    log_error ("%s: %s", from, err.msg);
  cleanup_free char *why = xasprintf ("renamed from %s outside lympho", from);
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = to, .kind = "rename", .result = "ok", .generation = e->generation,
                             .old_id = e->id, .new_id = e->id, .reason = why, .duration_ms = -1 };
  daemon_record (d, &h);
  free (from);
  daemon_update_status (d);
}

/* A container that asked for protection and cannot have it hears why,
 * once: logged and in the history under name. */
static void
refuse (struct daemon *d, const char *name, const char *id, const char *why)
{
  if (adopt_refused_before (d, id))
    return;
  log_error ("%s id=%.12s: not protected: %s", name, id, why);
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = name, .kind = "refuse", .result = "refused",
                             .generation = -1, .new_id = id, .error = why, .duration_ms = -1 };
  daemon_record (d, &h);
}

/* c's policy when it asks for protection and its labels are right: true,
 * *p filled; else false (a refusal said, under name, when it asked). */
static bool
wanted (struct daemon *d, const struct rt_container *c, const char *name, struct policy *p)
{
  lympho_error_t err = { 0 };
  if (policy_from_labels (&c->labels, p, &err) < 0)
    {
      /* Only containers that asked for protection hear why they lack it. */
      if (p->enabled)
        refuse (d, name, c->id, err.msg);
      return false;
    }
  if (!p->enabled)
    {
      policy_free (p);
      return false;
    }
  return true;
}

static void
set_swarm (struct entry *e, const struct swarm_task *t)
{
  if (e->swarm == NULL)
    e->swarm = xmalloc0 (sizeof *e->swarm);
  else
    swarm_task_free (e->swarm);
  swarm_task_copy (e->swarm, t);
}

/* A swarm task's container: protected as its slot, "<service>.<slot>",
 * whichever task of the slot runs now (swarm.h). The swarm keeps the
 * slot's ended tasks' containers, exited, as its history: those are not
 * adopted. */
static void
handle_swarm_task (struct daemon *d, const struct rt_container *c, const struct swarm_task *t)
{
  struct entry *e = entry_find (d, t->key);
  if (e && (e->regen || e->busy))
    return;
  bool running = c->state == RT_STATE_RUNNING || c->state == RT_STATE_PAUSED || c->state == RT_STATE_RESTARTING;
  if (e && e->golden.name
      && ((e->id && strcmp (e->id, c->id) == 0) || (e->id == NULL && strcmp (e->golden.source_id, c->id) == 0)))
    {
      set_swarm (e, t);
      refresh (d, e, c);
      return;
    }
  if (!running)
    return;
  struct policy p;
  if (!wanted (d, c, t->key, &p))
    return;
  /* The tasks of one service are one group unless they say otherwise:
   * regenerated one at a time (never two replicas down at once), and
   * warned together. */
  if (p.group == NULL)
    p.group = xstrdup (t->service);
  unsigned generation = 0;
  if (e && e->golden.name)
    {
      /* The swarm started a new task in the slot (a task that failed, a
       * rolling update): the slot's entry and its history go on with it. */
      log_info ("%s gen=%u: the swarm runs a new task %s (%.12s) in the slot; adopting it", t->key, e->generation,
                t->task_id, c->id);
      generation = e->generation + 1;
      /* A fresh container from the service's pinned spec, as after a
       * regeneration: its level starts again (immune memory stays). */
      threat_reset (&e->threat);
    }
  adopt_container (d, c, t->key, &p, generation);
  policy_free (&p);
  e = entry_find (d, t->key);
  if (e)
    set_swarm (e, t);
}

static void
handle_container (struct daemon *d, const struct rt_container *c)
{
  /* A container the engine is removing may come without a name. */
  if (rt_labels_get (&c->labels, LABEL_ENABLE) == NULL || c->name == NULL || c->name[0] == '\0')
    return;
  struct swarm_task task;
  lympho_error_t terr = { 0 };
  int is_task = swarm_task_from_labels (&c->labels, &task, &terr);
  if (is_task < 0)
    {
      refuse (d, c->name, c->id, terr.msg);
      return;
    }
  if (is_task > 0)
    {
      handle_swarm_task (d, c, &task);
      swarm_task_free (&task);
      return;
    }
  const char *ours = rt_labels_get (&c->labels, LABEL_NAME);
  if (ours)
    {
      struct entry *e = entry_find (d, ours);
      if (e && (e->regen || e->busy))
        return;
      if (regen_is_temp_name (c->name, ours))
        {
          if (d->recovering == 0)
            {
              /* A temporary generation no open transaction owns. */
              log_info ("%s step=cleanup: removing leftover %s (%.12s)", ours, c->name, c->id);
              d->ops->remove (d->rt, c->id, true, false, adopt_leftover_removed, xstrdup (c->name));
            }
          return;
        }
    }
  /* The entry that holds this container, under whatever name. */
  struct entry *held = entry_by_id (d, c->id);
  if (held && (held->regen || held->busy))
    return;
  struct entry *old = replacement_of (d, c->name);
  if (old)
    {
      /* Not adopted under the passing name: when it takes the name, it
       * is adopted afresh into old's entry, as a new snapshot. */
      if (old->replaced_by == NULL || strcmp (old->replaced_by, c->id) != 0)
        {
          log_info ("%s gen=%u: its operator replaces it with %.12s (%s); adopted when it takes the name", old->name,
                    old->generation, c->id, c->name);
          free (old->replaced_by);
          old->replaced_by = xstrdup (c->id);
        }
      return;
    }
  if (held && held->golden.name && strcmp (held->name, c->name) != 0)
    {
      struct entry *other = entry_find (d, c->name);
      if (other && (other->regen || other->busy))
        return; /* the name is in use by a regeneration: settled when it ends */
      if (other)
        {
          /* Two entries cannot hold one name: the one that held it before
           * has no container under it any more. */
          release (d, other, "its name was taken by a renamed container");
        }
      follow_rename (d, held, c->name);
    }
  if (ours && strcmp (c->name, ours) == 0)
    {
      struct entry *e = entry_find (d, ours);
      if (e && e->golden.name)
        {
          refresh (d, e, c);
          return;
        }
    }
  struct policy p;
  if (!wanted (d, c, c->name, &p))
    return;
  struct entry *e = entry_find (d, c->name);
  if (e && (e->regen || e->busy))
    {
      policy_free (&p);
      return;
    }
  if (e && e->golden.name
      && ((e->id && strcmp (e->id, c->id) == 0) || strcmp (e->golden.source_id, c->id) == 0 || ours))
    {
      /* Known: labels cannot change on a container, so the policy is too. */
      policy_free (&e->policy);
      e->policy = p;
      refresh (d, e, c);
      return;
    }
  cleanup_free char *cycle = after_cycle (d, c->name, &p, &c->labels);
  if (cycle)
    {
      cleanup_free char *why = xasprintf ("lympho.after: a dependency cycle: %s", cycle);
      refuse (d, c->name, c->id, why);
      policy_free (&p);
      return;
    }
  if (e && e->golden.name)
    log_info ("%s: a new container %.12s took the name; adopting it afresh", c->name, c->id);
  adopt_container (d, c, c->name, &p, generation_of (c));
  policy_free (&p);
}

void
reconcile_on_inspected (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  struct daemon *d = ud;
  if (ret < 0)
    {
      if (ret != -ENOENT)
        log_warn ("inspect: %s", err->msg);
      return;
    }
  handle_container (d, c);
}

static void
release (struct daemon *d, struct entry *e, const char *why)
{
  log_info ("%s gen=%u: %s; no longer protected", e->name, e->generation, why);
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = e->name, .kind = "release", .result = "ok", .generation = e->generation,
                             .old_id = e->id, .reason = why, .duration_ms = -1 };
  daemon_record (d, &h);
  lympho_error_t err = { 0 };
  if (store_remove (d->cfg->state_dir, e->name, &err) < 0)
    log_error ("%s: %s", e->name, err.msg);
  adopt_untag (d, e->golden.pin_ref);
  for (size_t i = 0; i < e->golden.n_old_pins; i++)
    adopt_untag (d, e->golden.old_pins[i]);
  entry_remove (d, e);
  daemon_update_status (d);
}

static void
on_listed (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct daemon *d = ud;
  if (ret < 0)
    {
      log_warn ("listing protected containers: %s", err->msg);
      return;
    }
  /* Names that vanished while we were away were removed by someone: let
   * them go. Entries busy or regenerating are left to finish. */
  for (struct entry *e = LIST_FIRST (&d->entries), *next; e; e = next)
    {
      next = LIST_NEXT (e, link);
      if (e->regen || e->busy || e->golden.name == NULL)
        continue;
      /* Under its name; under another (renamed by its operator: followed
       * when it is inspected below); or its replacement is there, to take
       * the name. */
      bool present = false;
      for (size_t i = 0; i < n && !present; i++)
        present = (v[i].name && strcmp (v[i].name, e->name) == 0) || (e->id && strcmp (v[i].id, e->id) == 0)
                  || (e->replaced_by && strcmp (v[i].id, e->replaced_by) == 0);
      /* A swarm slot is there while any task of it is, even one ended:
       * the swarm replaces it. */
      if (!present && !slot_listed (v, n, e->name))
        release (d, e, "container removed outside lympho");
    }
  /* A container being removed is listed without a name: nothing to adopt. */
  for (size_t i = 0; i < n; i++)
    if (v[i].name && v[i].name[0])
      d->ops->inspect (d->rt, v[i].id, reconcile_on_inspected, d);
  if (!d->ready_sent)
    {
      d->ready_sent = true;
      notify_ready ();
      log_info ("ready: %u protected, engine connected", entry_count (d, 0, true));
    }
  daemon_update_status (d);
}

void
reconcile_sync_engine (struct daemon *d)
{
  if (!d->connected || d->shutting_down)
    return;
  struct txn *open = NULL;
  size_t n = 0, bad = 0;
  lympho_error_t err = { 0 };
  if (journal_load (d->cfg->state_dir, &open, &n, &bad, &err) < 0)
    log_error ("journal: %s (recovery skipped)", err.msg);
  else if (bad)
    log_warn ("journal: %zu damaged record%s skipped (the first: %s); the other transactions are recovered", bad,
              bad == 1 ? "" : "s", err.msg);
  for (size_t i = 0; i < n; i++)
    {
      struct entry *e = entry_find (d, open[i].name);
      if (open[i].incident)
        {
          /* Not a regeneration to replay: the generation it was replacing
           * is replaced when the listing below shows it (refresh). */
          if (e && e->golden.name)
            incident_interrupted (d, e, &open[i]);
          else
            {
              lympho_error_t jerr = { 0 };
              log_info ("%s txn=%s: an interrupted incident of a container no longer protected: closed", open[i].name,
                        open[i].txn);
              if (journal_end (d->journal, open[i].txn, "gone", &jerr) < 0)
                log_error ("journal: %s", jerr.msg);
            }
          continue;
        }
      if (e && (e->regen || e->recover_blocked))
        continue; /* in flight in this process, or waiting for the engine */
      if (open[i].strategy && strcmp (open[i].strategy, strategy_name (STRATEGY_SWARM)) == 0)
        {
          /* A swarm task's: nothing of lymphd's to finish or undo (it
           * never creates a task), the swarm replaces a removed task, and
           * the listing below adopts what runs in the slot. */
          lympho_error_t jerr = { 0 };
          log_info ("%s txn=%s: an interrupted regeneration of a swarm task: left to the swarm", open[i].name,
                    open[i].txn);
          if (journal_end (d->journal, open[i].txn, "swarm", &jerr) < 0)
            log_error ("journal: %s", jerr.msg);
          continue;
        }
      if (e == NULL)
        e = entry_new (d, open[i].name);
      struct regen_env env = daemon_regen_env (d);
      log_info ("%s txn=%s step=recover: open since a crash or an unreachable engine", open[i].name, open[i].txn);
      /* An infected generation stays down after the recovery too. */
      e->keep_old_down = e->keep_old_down || open[i].keep_old_down;
      e->regen = regen_recover (&env, &open[i], e->golden.name ? &e->golden : NULL, admission_on_regen_done, e);
      e->state = ES_REGENERATING;
      d->in_flight++;
      d->recovering++;
    }
  for (size_t i = 0; i < n; i++)
    txn_free (&open[i]);
  free (open);
  if (d->recovering > 0)
    {
      d->syncing = true; /* admission_on_regen_done calls us again when all are done */
      return;
    }
  char filter[] = LABEL_ENABLE;
  /* Our own generations carry the enable label too, temporary ones
   * included, so one list finds leftovers as well. */
  d->ops->list (d->rt, filter, on_listed, d);
}

/* e's container is gone and another comes to take its place (compose's
 * replacement, the swarm's next task): e waits for it, stopped, with no
 * container and nothing planned. */
static void
wait_for_successor (struct daemon *d, struct entry *e)
{
  if (e->timer)
    loop_cancel_timer (d->loop, e->timer);
  e->timer = 0;
  e->due_mono = 0;
  e->queued = false;
  e->state = ES_STOPPED;
  entry_set_id (d, e, NULL);
  daemon_update_status (d);
}

struct slot_check
{
  struct daemon *d;
  char *name;
};

static void
on_slot_listed (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct slot_check *c = ud;
  struct daemon *d = c->d;
  struct entry *e = d->shutting_down ? NULL : entry_find (d, c->name);
  free (c->name);
  free (c);
  /* Gone meanwhile, or a task of the slot adopted already. */
  if (e == NULL || e->swarm == NULL || e->id || e->regen || e->busy)
    return;
  if (ret < 0)
    {
      log_warn ("%s: its slot's tasks not listed: %s; looked for again later", e->name, err->msg);
      reconcile_slot_check (d, e);
      return;
    }
  /* Any task of the slot, even one ended: the swarm is at it. */
  if (slot_listed (v, n, e->name))
    {
      reconcile_slot_check (d, e);
      return;
    }
  release (d, e, "no task of the slot on this node since its last was removed (the service removed or scaled "
                 "down, or its task placed on another node)");
}

static void
on_slot_check (struct loop *l, void *ud)
{
  (void) l;
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->slot_timer = 0;
  if (d->shutting_down || e->swarm == NULL || e->id || e->regen || e->busy)
    return;
  if (!d->connected)
    {
      reconcile_slot_check (d, e); /* the sync at the reconnection settles it too */
      return;
    }
  struct slot_check *c = xmalloc0 (sizeof *c);
  c->d = d;
  c->name = xstrdup (e->name);
  cleanup_free char *filter = xasprintf ("%s=%s", SWARM_LABEL_SERVICE_ID, e->swarm->service_id);
  d->ops->list (d->rt, filter, on_slot_listed, c);
}

void
reconcile_slot_check (struct daemon *d, struct entry *e)
{
  if (e->slot_timer)
    loop_cancel_timer (d->loop, e->slot_timer);
  e->slot_timer = loop_add_timer (d->loop, swarm_replace_within_ms (-1), on_slot_check, e);
}

void
reconcile_on_event (void *ud, const struct rt_event *ev)
{
  struct daemon *d = ud;
  if (ev->type != RT_EV_CONTAINER || ev->id == NULL || ev->action == NULL || d->shutting_down)
    return;
  log_debug ("event %s %.12s %s", ev->action, ev->id, ev->name ? ev->name : "");
  struct entry *e = entry_by_id (d, ev->id);
  if (e && (e->regen || e->busy))
    return; /* our own steps; the regeneration knows what it did */
  if (e && e->golden.name && detect_event (d, e, ev))
    return;
  const char *a = ev->action;
  if (strcmp (a, "destroy") == 0)
    {
      if (e && e->replaced_by)
        {
          /* Its replacement takes the name next and is adopted into this
           * entry; until then the entry waits, stopped. */
          log_info ("%s gen=%u: removed by its operator; its replacement %.12s takes the name next", e->name,
                    e->generation, e->replaced_by);
          wait_for_successor (d, e);
        }
      else if (e && e->swarm)
        {
          /* The swarm removes a slot's ended tasks, and replaces one
           * removed: the slot's next task is adopted into the entry. A
           * slot no task of which is left on this node once the swarm
           * would have replaced it (the service removed or scaled down,
           * its task placed on another node) is let go then. */
          log_info ("%s gen=%u: task %s removed outside lympho; the slot's next task is adopted when it runs",
                    e->name, e->generation, e->swarm->task_id);
          wait_for_successor (d, e);
          reconcile_slot_check (d, e);
        }
      else if (e)
        release (d, e, "container removed outside lympho");
      return;
    }
  if (strcmp (a, "die") == 0 || strcmp (a, "stop") == 0)
    {
      if (e && e->state == ES_RUNNING)
        {
          e->state = ES_STOPPED;
          e->stopped_mono = now_mono_ms ();
          if (e->timer)
            loop_cancel_timer (d->loop, e->timer);
          e->timer = 0;
          e->due_mono = 0;
          e->queued = false;
          log_info ("%s gen=%u: stopped outside lympho (exit code %d); left stopped", e->name, e->generation,
                    ev->exit_code);
        }
      return;
    }
  if (strcmp (a, "create") == 0 || strcmp (a, "start") == 0 || strcmp (a, "rename") == 0
      || strcmp (a, "unpause") == 0 || strcmp (a, "restart") == 0)
    {
      const char *enable = ev->attrs ? rt_labels_get (ev->attrs, LABEL_ENABLE) : NULL;
      if (e == NULL && enable == NULL)
        return; /* neither ours nor asking to be */
      d->ops->inspect (d->rt, ev->id, reconcile_on_inspected, d);
    }
}

void
reconcile_on_conn (void *ud, bool connected)
{
  struct daemon *d = ud;
  if (connected == d->connected)
    {
      /* Still down, for a new reason (the backend logged it). */
      daemon_update_status (d);
      return;
    }
  d->connected = connected;
  if (!connected)
    {
      /* What serves now (or stopped in the moments before, as an engine
       * shutting down stops its containers) should serve again after. */
      uint64_t now = now_mono_ms ();
      ENTRY_FOREACH (e, d)
        e->engine_took = e->state == ES_RUNNING || e->state == ES_REGENERATING
                         || (e->state == ES_STOPPED && now - e->stopped_mono < 30000);
      log_warn ("engine connection lost; reconnecting");
      daemon_update_status (d);
      return;
    }
  log_info ("engine connected");
  ENTRY_FOREACH (e, d)
    e->recover_blocked = false;
  daemon_update_status (d);
  reconcile_sync_engine (d);
  admission_start_queued (d);
}
