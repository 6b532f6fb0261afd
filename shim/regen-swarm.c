/* lympho — a swarm task's regeneration (regen.h, "Forward, swarm"): the
 * swarm owns the task's slot and recreates its task from the service's
 * spec, so lymphd asks the service whether it will (on a manager), removes
 * the task's container, and waits for the swarm's new task of the same
 * slot to run. It never creates a task container itself: one made by hand
 * would be an unmanaged duplicate of the service's. Calls the engine
 * through env.ops and regen.c's machine (regen-int.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/util.h"

#include "regen-int.h"

static void
poll_due (struct loop *l, void *ud)
{
  (void) l;
  struct regen *r = ud;
  r->timer = 0;
  regen_swarm_advance (r);
}

static void
on_service (void *ud, int ret, const lympho_error_t *err, const struct rt_service *s)
{
  struct regen *r = ud;
  if (ret == -ENOENT)
    {
      /* Removed: its tasks go with it, none comes back. */
      lympho_error_t e = { 0 };
      lympho_error_set (&e, ENOENT, "its swarm service %s is gone: the task would not be replaced", r->swarm.service);
      regen_fail (r, -ENOENT, &e);
      return;
    }
  if (ret < 0)
    {
      /* A worker cannot tell: the swarm's default is to replace (and a
       * task not replaced is reported when its wait runs out). */
      log_debug ("%s: service %s: %s; waiting as for the default restart policy", r->name, r->swarm.service,
                 err ? err->msg : "?");
    }
  else if (s->restart == RT_RESTART_NONE)
    {
      lympho_error_t e = { 0 };
      lympho_error_set (&e, EPERM,
                        "its swarm service %s has restart condition none: a removed task is never replaced "
                        "(set --restart-condition any or on-failure)",
                        r->swarm.service);
      regen_fail (r, -EPERM, &e);
      return;
    }
  else
    r->swarm_delay_ms = s->restart_delay_ms;
  regen_step_forward (r);
}

static void
on_removed (void *ud, int ret, const lympho_error_t *err)
{
  struct regen *r = ud;
  if (ret < 0 && ret != -ENOENT)
    {
      regen_fail (r, ret, err);
      return;
    }
  r->old_exists = false;
  r->swarm_deadline = now_mono_ms () + swarm_replace_within_ms (r->swarm_delay_ms);
  regen_step_forward (r);
}

static void
on_listed (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct regen *r = ud;
  if (ret < 0)
    log_warn ("%s txn=%s: listing the tasks of %s: %s", r->name, r->txn, r->swarm.service, err ? err->msg : "?");
  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      if (v[i].state != RT_STATE_RUNNING || (r->old_id && strcmp (v[i].id, r->old_id) == 0))
        continue;
      cleanup_free char *key = swarm_key_of (&v[i].labels);
      if (key == NULL || strcmp (key, r->swarm.key) != 0)
        continue;
      free (r->new_id);
      /* The swarm's: new_created stays false, a rollback never removes it. */
      r->new_id = xstrdup (v[i].id);
      r->running_mono = now_mono_ms ();
      log_info ("%s gen=%u txn=%s step=replaced id=%.12s (%s)", r->name, r->generation, r->txn, v[i].id,
                v[i].name ? v[i].name : "?");
      regen_step_forward (r);
      return;
    }
  if (now_mono_ms () >= r->swarm_deadline)
    {
      lympho_error_t e = { 0 };
      lympho_error_set (&e, ETIMEDOUT,
                        "the swarm did not replace the task within %llu ms of its removal "
                        "(service %s: its restart condition, or no node can run it)",
                        (unsigned long long) swarm_replace_within_ms (r->swarm_delay_ms), r->swarm.service);
      regen_fail (r, -ETIMEDOUT, &e);
      return;
    }
  r->timer = loop_add_timer (r->env.loop, r->env.timing->swarm_poll_ms, poll_due, r);
}

void
regen_swarm_advance (struct regen *r)
{
  const struct runtime_ops *ops = r->env.ops;
  switch (r->phase)
    {
    case P_SW_SERVICE:
      if (ops->service_inspect == NULL)
        {
          regen_step_forward (r);
          return;
        }
      ops->service_inspect (r->env.rt, r->swarm.service_id, on_service, r);
      return;

    case P_SW_REMOVE:
      if (r->old_id == NULL)
        {
          on_removed (r, 0, NULL);
          return;
        }
      if (!regen_intend (r, "remove-old", r->old_id))
        return;
      /* Volumes stay: the service's next task mounts them again. */
      ops->remove (r->env.rt, r->old_id, true, false, on_removed, r);
      return;

    case P_SW_WAIT:
      {
        cleanup_free char *filter = xasprintf ("%s=%s", SWARM_LABEL_SERVICE_ID, r->swarm.service_id);
        ops->list (r->env.rt, filter, on_listed, r);
        return;
      }

    default:
      return;
    }
}
