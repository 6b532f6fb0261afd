/* lympho — crash recovery of a regeneration: an open journal transaction
 * (lymphd died, or the engine went away, in the middle) is replayed against
 * what the engine shows. Observe the old container and the new one (by the
 * transaction's label), then recover_decide: roll forward when the new
 * generation exists and holds the name (or the old one is gone, or the
 * commit was recorded), roll back when the old one is there, else create
 * afresh from the snapshot. Rolling forward or back runs regen.c's own
 * phases, each of which skips what is done already. May call: the runtime
 * ops, regen.c's machine (regen-int.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/util.h"
#include "regen-int.h"

enum recover_way
recover_decide (const struct recover_obs *o, bool committed)
{
  if (o->new_exists && (o->new_holds_name || committed || !o->old_exists))
    return RECOVER_FORWARD;
  if (o->old_exists)
    return RECOVER_BACK;
  return RECOVER_RECREATE;
}

static void
on_obs_old (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  struct regen *r = ud;
  if (ret < 0 && ret != -ENOENT)
    {
      regen_fail (r, ret, err);
      return;
    }
  r->old_exists = ret == 0;
  if (r->old_exists)
    {
      r->old_stopped = c->state != RT_STATE_RUNNING && c->state != RT_STATE_PAUSED;
      r->old_renamed = strcmp (c->name, r->name) != 0;
    }
  regen_go (r, P_OBS_NEW);
}

static void
on_obs_new (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct regen *r = ud;
  if (ret < 0)
    {
      regen_fail (r, ret, err);
      return;
    }
  r->new_created = false;
  for (size_t i = 0; i < n; i++)
    {
      if (r->new_created)
        {
          /* Two containers of one transaction cannot be: the create is one
           * request. Say so rather than guess. */
          log_warn ("%s txn=%s: more than one new container, keeping %.12s", r->name, r->txn, r->new_id);
          break;
        }
      r->new_created = true;
      free (r->new_id);
      r->new_id = xstrdup (v[i].id);
      r->new_started = v[i].state == RT_STATE_RUNNING || v[i].state == RT_STATE_PAUSED;
      r->new_named = strcmp (v[i].name, r->name) == 0;
    }
  regen_go (r, P_OBS_DECIDE);
}

void
regen_decide (struct regen *r)
{
  struct recover_obs o = {
    .old_exists = r->old_exists,
    .old_running = r->old_exists && !r->old_stopped,
    .old_holds_name = r->old_exists && !r->old_renamed,
    .new_exists = r->new_created,
    .new_running = r->new_started,
    .new_holds_name = r->new_named,
  };
  enum recover_way way = recover_decide (&o, r->committed);
  log_info ("%s txn=%s step=recover: old %s%s, new %s%s -> %s", r->name, r->txn,
            o.old_exists ? (o.old_running ? "running" : "stopped") : "gone",
            o.old_holds_name ? " holding the name" : "", o.new_exists ? (o.new_running ? "running" : "stopped") : "absent",
            o.new_holds_name ? " holding the name" : "",
            way == RECOVER_FORWARD ? "roll forward" : way == RECOVER_BACK ? "roll back" : "recreate");
  switch (way)
    {
    case RECOVER_FORWARD:
      if (!r->old_exists)
        {
          free (r->old_id);
          r->old_id = NULL;
        }
      regen_go (r, P_RENAME_OLD); /* each step of the replace order skips what is done */
      return;
    case RECOVER_BACK:
      lympho_error_set (&r->failure, EINTR, "interrupted by a restart of lymphd");
      regen_go (r, P_RB_REMOVE_NEW);
      return;
    case RECOVER_RECREATE:
    case RECOVER_NOTHING:
      if (!r->have_golden)
        {
          lympho_error_set (&r->failure, ENOENT, "no container and no snapshot left for %s", r->name);
          regen_finish (r, REGEN_REFUSED);
          return;
        }
      /* A fresh creation from the snapshot, under the name itself; still
       * reported as the recovery it is: lymphd counts the recoveries in
       * flight by their results' `recovered`. */
      free (r->old_id);
      r->old_id = NULL;
      r->strategy = STRATEGY_REPLACE;
      regen_go (r, P_CHECK_IMAGE);
      return;
    }
}

void
regen_observe_old (struct regen *r)
{
  if (r->old_id == NULL)
    {
      r->old_exists = false;
      regen_go (r, P_OBS_NEW);
      return;
    }
  r->env.ops->inspect (r->env.rt, r->old_id, on_obs_old, r);
}

void
regen_observe_new (struct regen *r)
{
  cleanup_free char *filter = xasprintf ("%s=%s", LABEL_TXN, r->txn);
  r->env.ops->list (r->env.rt, filter, on_obs_new, r);
}

struct regen *
regen_recover (const struct regen_env *env, const struct txn *t, const struct golden *golden, regen_done_cb cb,
               void *ud)
{
  struct regen *r = xmalloc0 (sizeof *r);
  r->env = *env;
  if (r->env.timing == NULL)
    r->env.timing = &regen_default_timing;
  if (golden)
    {
      regen_golden_copy (&r->golden, golden);
      r->have_golden = true;
    }
  r->name = xstrdup (t->name);
  r->txn = xstrdup (t->txn);
  r->old_id = xstrdup (t->old_id);
  r->new_name = xstrdup (t->new_name);
  r->old_name = xstrdup (t->old_name);
  r->reason = xstrdup (t->reason);
  r->generation = t->generation;
  r->old_generation = t->generation > 0 ? t->generation - 1 : 0;
  r->strategy = STRATEGY_REPLACE;
  r->keep_old_down = t->keep_old_down;
  r->recovering = true;
  r->begun = true;
  r->committed = t->committed;
  r->phase = P_OBS_OLD;
  r->started_mono = now_mono_ms ();
  r->cb = cb;
  r->ud = ud;
  r->timer = loop_add_timer (env->loop, 0, regen_kick, r);
  return r;
}
