/* lympho — the regeneration state machine (see regen.h): the forward path
 * of both strategies, rollback, and the machine that runs every phase;
 * crash recovery's observation and decision are regen-recover.c
 * (regen-int.h). May call: the runtime ops, the journal, the loop. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/config.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/util.h"
#include "regen-int.h"

const struct regen_timing regen_default_timing = {
  .verify_delay_ms = 300,
  .ready_poll_ms = 200,
  .swarm_poll_ms = 250,
};

static const char *const phase_names[] = {
  "check-image", "begin", "create", "start-new", "wait-ready", "publish", "stop-old", "rename-old", "rename-new",
  "start-new", "verify", "commit", "drain-old", "remove-old", "done", "rollback-remove-new", "rollback-rename-old",
  "rollback-start-old", "rolled-back", "observe-old", "observe-new", "decide", "ask-service", "remove-task",
  "wait-replacement",
};
_Static_assert (sizeof phase_names / sizeof phase_names[0] == P_SW_WAIT + 1, "a name for every phase");


static void advance (struct regen *r);

const char *
regen_outcome_name (enum regen_outcome o)
{
  static const char *const names[] = { "ok", "refused", "rolled-back", "broken" };
  return (unsigned) o < 4 ? names[o] : "unknown";
}

const char *
regen_name (const struct regen *r)
{
  return r->name;
}

const char *
regen_phase_name (const struct regen *r)
{
  return phase_names[r->phase];
}

const char *
regen_txn (const struct regen *r)
{
  return r->txn;
}

const char *
regen_reason (const struct regen *r)
{
  return r->recovering ? "recovery" : r->reason;
}

char *
regen_new_name (const char *name, const char *txn)
{
  return xasprintf ("%s-lympho-new-%s", name, txn);
}

char *
regen_old_name (const char *name, const char *txn)
{
  return xasprintf ("%s-lympho-old-%s", name, txn);
}

bool
regen_is_temp_name (const char *name, const char *base)
{
  size_t n = strlen (base);
  if (strncmp (name, base, n) != 0)
    return false;
  name += n;
  if (!str_has_prefix (name, "-lympho-new-") && !str_has_prefix (name, "-lympho-old-"))
    return false;
  name += strlen ("-lympho-new-");
  if (*name == '\0')
    return false;
  for (; *name; name++)
    if (!((*name >= '0' && *name <= '9') || (*name >= 'a' && *name <= 'f')))
      return false;
  return true;
}

static void
regen_free (struct regen *r)
{
  if (r->timer)
    loop_cancel_timer (r->env.loop, r->timer);
  golden_free (&r->golden);
  swarm_task_free (&r->swarm);
  free (r->name);
  free (r->txn);
  free (r->old_id);
  free (r->new_id);
  free (r->new_name);
  free (r->old_name);
  free (r->reason);
  for (size_t i = 0; i < r->n_drain; i++)
    free (r->drain[i]);
  free (r->drain);
  free (r);
}

static void
told (struct regen *r, const char *step, const char *id, const char *detail)
{
  if (r->env.on_step == NULL)
    return;
  struct regen_step s = { r->name, r->txn, step, id, detail, r->generation };
  r->env.on_step (r->env.step_ud, &s);
}

void
regen_finish (struct regen *r, enum regen_outcome outcome)
{
  const char *result = outcome == REGEN_OK ? "ok" : outcome == REGEN_ROLLED_BACK ? "rolled-back" : "failed";
  if (r->begun && outcome != REGEN_BROKEN)
    {
      lympho_error_t e = { 0 };
      if (journal_end (r->env.journal, r->txn, result, &e) < 0)
        log_error ("%s txn=%s: %s", r->name, r->txn, e.msg);
      told (r, "end", NULL, result);
    }
  struct regen_result res = {
    .outcome = outcome,
    .name = r->name,
    .txn = r->txn,
    .reason = regen_reason (r),
    .strategy = r->strategy,
    .duration_ms = now_mono_ms () - r->started_mono,
    .recovered = r->recovering,
    .running_mono_ms = r->running_mono,
    /* With OK: what failed past the commit (the old one left behind). */
    .err = r->failure,
  };
  if (outcome == REGEN_OK)
    {
      res.new_id = r->new_id;
      res.generation = r->generation;
    }
  else
    {
      res.new_id = r->old_exists ? r->old_id : NULL;
      res.generation = r->old_generation;
    }
  regen_done_cb cb = r->cb;
  void *ud = r->ud;
  cb (ud, &res);
  regen_free (r);
}

/* Write the intent of a mutating step; a journal that cannot be written
 * stops the regeneration before the step is taken. */
bool
regen_intend (struct regen *r, const char *step, const char *id)
{
  lympho_error_t e = { 0 };
  if (journal_step (r->env.journal, r->txn, step, id, &e) < 0)
    {
      regen_fail (r, -e.status, &e);
      return false;
    }
  log_info ("%s gen=%u txn=%s step=%s%s%s", r->name, r->generation, r->txn, step, id ? " id=" : "",
            id ? id : "");
  told (r, step, id, NULL);
  return true;
}

void
regen_go (struct regen *r, enum phase p)
{
  r->phase = p;
  advance (r);
}

static enum phase
next_forward (struct regen *r, enum phase p)
{
  /* Names move while the old generation still serves (a rename does not
   * touch a running container), so the window without service is only
   * stop + start. */
  static const enum phase replace[] = { P_CHECK_IMAGE, P_BEGIN, P_CREATE, P_RENAME_OLD, P_RENAME_NEW, P_STOP_OLD,
                                        P_START_NEW, P_VERIFY, P_COMMIT, P_REMOVE_OLD, P_DONE };
  static const enum phase swap[] = { P_CHECK_IMAGE, P_BEGIN,     P_CREATE,     P_START_SWAP, P_WAIT_READY,
                                     P_PUBLISH,     P_RENAME_OLD, P_RENAME_NEW, P_VERIFY,     P_COMMIT,
                                     P_DRAIN_OLD,   P_STOP_OLD,   P_REMOVE_OLD, P_DONE };
  static const enum phase swarm[] = { P_SW_SERVICE, P_BEGIN, P_SW_REMOVE, P_SW_WAIT, P_COMMIT, P_DONE };
  const enum phase *seq = r->strategy == STRATEGY_SWAP && !r->recovering ? swap : replace;
  size_t n = r->strategy == STRATEGY_SWAP && !r->recovering ? sizeof swap / sizeof swap[0]
                                                             : sizeof replace / sizeof replace[0];
  if (r->strategy == STRATEGY_SWARM)
    {
      seq = swarm;
      n = sizeof swarm / sizeof swarm[0];
    }
  for (size_t i = 0; i + 1 < n; i++)
    if (seq[i] == p)
      return seq[i + 1];
  return P_DONE;
}

void
regen_step_forward (struct regen *r)
{
  regen_go (r, next_forward (r, r->phase));
}

static void
start_rollback (struct regen *r)
{
  log_warn ("%s gen=%u txn=%s step=rollback: %s", r->name, r->generation, r->txn, r->failure.msg);
  regen_go (r, P_RB_REMOVE_NEW);
}

void
regen_fail (struct regen *r, int ret, const lympho_error_t *err)
{
  if (r->failure.status == 0)
    {
      if (err)
        r->failure = *err;
      else
        lympho_error_set (&r->failure, -ret, "failed");
      lympho_error_prefix (&r->failure, "%s", phase_names[r->phase]);
    }
  if (r->phase >= P_RB_REMOVE_NEW && r->phase <= P_RB_DONE)
    {
      /* Rollback itself failed: leave the transaction open in the journal,
       * recovery finishes it when the engine answers again. */
      log_error ("%s txn=%s step=%s: rollback failed: %s", r->name, r->txn, phase_names[r->phase],
                 err ? err->msg : "?");
      regen_finish (r, REGEN_BROKEN);
      return;
    }
  if (!r->begun)
    {
      regen_finish (r, REGEN_REFUSED);
      return;
    }
  if (r->committed)
    {
      /* Past the point of no return the new generation serves; what is left
       * (removing the old one) is retried, then recorded. */
      log_error ("%s gen=%u txn=%s step=%s: %s", r->name, r->generation, r->txn, phase_names[r->phase],
                 r->failure.msg);
      regen_finish (r, REGEN_OK);
      return;
    }
  start_rollback (r);
}

/* --- callbacks ------------------------------------------------------- */

static void
on_image (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  struct regen *r = ud;
  if (ret < 0 || id == NULL || strcmp (id, r->golden.image_id) != 0)
    {
      lympho_error_t e = { 0 };
      if (ret == -ENOENT || (ret >= 0 && id && strcmp (id, r->golden.image_id) != 0))
        lympho_error_set (&e, ENOENT, "pinned image %s is gone: refusing to start an unknown image",
                          r->golden.image_id);
      else
        e = *err;
      regen_fail (r, -e.status, &e);
      return;
    }
  regen_step_forward (r);
}

static void
on_created (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  struct regen *r = ud;
  if (ret < 0)
    {
      regen_fail (r, ret, err);
      return;
    }
  r->new_id = xstrdup (id);
  r->new_created = true;
  lympho_error_t e = { 0 };
  if (journal_step (r->env.journal, r->txn, "created", id, &e) < 0)
    {
      regen_fail (r, -e.status, &e);
      return;
    }
  told (r, "created", id, NULL);
  if (r->old_id == NULL)
    r->new_named = true; /* created under the protected name directly */
  regen_step_forward (r);
}

static void
on_done_forward (void *ud, int ret, const lympho_error_t *err)
{
  struct regen *r = ud;
  if (ret < 0 && r->committed && (r->phase == P_DRAIN_OLD || r->phase == P_STOP_OLD))
    {
      /* The new generation serves; the old one goes with the forced
       * removal whatever this step left. */
      log_warn ("%s gen=%u txn=%s step=%s: %s (going on)", r->name, r->generation, r->txn, phase_names[r->phase],
                err ? err->msg : "?");
      ret = 0;
    }
  if (r->phase == P_DRAIN_OLD)
    {
      r->drain_i++;
      advance (r);
      return;
    }
  if (ret < 0 && !(r->phase == P_REMOVE_OLD && ret == -ENOENT))
    {
      if (r->phase == P_REMOVE_OLD && ++r->remove_tries < 3)
        {
          advance (r);
          return;
        }
      regen_fail (r, ret, err);
      return;
    }
  switch (r->phase)
    {
    case P_START_SWAP:
    case P_START_NEW:
      r->new_started = true;
      r->running_mono = now_mono_ms ();
      break;
    case P_STOP_OLD:
      r->old_stopped = true;
      break;
    case P_RENAME_OLD:
      r->old_renamed = true;
      break;
    case P_RENAME_NEW:
      r->new_named = true;
      break;
    case P_REMOVE_OLD:
      r->old_exists = false;
      break;
    default:
      break;
    }
  if (r->stop_requested && !r->committed && r->phase < P_COMMIT)
    {
      lympho_error_set (&r->failure, ECANCELED, "daemon shutting down");
      start_rollback (r);
      return;
    }
  regen_step_forward (r);
}

static void
on_done_rollback (void *ud, int ret, const lympho_error_t *err)
{
  struct regen *r = ud;
  if (ret < 0 && ret != -ENOENT)
    {
      regen_fail (r, ret, err);
      return;
    }
  switch (r->phase)
    {
    case P_RB_REMOVE_NEW:
      r->new_created = false;
      regen_go (r, P_RB_RENAME_OLD);
      break;
    case P_RB_RENAME_OLD:
      r->old_renamed = false;
      regen_go (r, P_RB_START_OLD);
      break;
    case P_RB_START_OLD:
      r->old_stopped = false;
      regen_go (r, P_RB_DONE);
      break;
    default:
      regen_go (r, P_RB_DONE);
      break;
    }
}

static void
poll_timer (struct loop *l, void *ud)
{
  struct regen *r = ud;
  r->timer = 0;
  advance (r);
}

static void
on_inspect_new (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  struct regen *r = ud;
  if (ret < 0)
    {
      regen_fail (r, ret, err);
      return;
    }
  uint64_t now = now_mono_ms ();
  if (c->state != RT_STATE_RUNNING && c->state != RT_STATE_PAUSED)
    {
      lympho_error_t e = { 0 };
      lympho_error_set (&e, EIO, "new generation %.12s is %s (exit code %d%s)", c->id, rt_state_name (c->state),
                        c->exit_code, c->oom_killed ? ", OOM-killed" : "");
      regen_fail (r, -EIO, &e);
      return;
    }
  if (r->phase == P_VERIFY)
    {
      /* An engine may acknowledge a rename it did not do; committing then
       * would leave the service without its name, and then without a
       * container once the old one is removed. */
      if (c->name == NULL || strcmp (c->name, r->name) != 0)
        {
          lympho_error_t e = { 0 };
          lympho_error_set (&e, EIO, "new generation %.12s is named %s, not %s", c->id, c->name ? c->name : "(none)",
                            r->name);
          regen_fail (r, -EIO, &e);
          return;
        }
      regen_step_forward (r);
      return;
    }
  /* P_WAIT_READY */
  bool ready;
  if (c->health != RT_HEALTH_NONE)
    {
      if (c->health == RT_HEALTH_UNHEALTHY)
        {
          lympho_error_t e = { 0 };
          lympho_error_set (&e, EIO, "new generation %.12s is unhealthy", c->id);
          regen_fail (r, -EIO, &e);
          return;
        }
      ready = c->health == RT_HEALTH_HEALTHY;
    }
  else
    {
      if (r->running_since == 0)
        r->running_since = now;
      ready = now - r->running_since >= r->env.cfg->settle_ms;
    }
  if (ready)
    {
      regen_step_forward (r);
      return;
    }
  if (now >= r->ready_deadline)
    {
      lympho_error_t e = { 0 };
      lympho_error_set (&e, ETIMEDOUT, "new generation %.12s not healthy within %llu ms", c->id,
                        (unsigned long long) r->env.cfg->health_timeout_ms);
      regen_fail (r, -ETIMEDOUT, &e);
      return;
    }
  if (r->stop_requested)
    {
      lympho_error_set (&r->failure, ECANCELED, "daemon shutting down");
      start_rollback (r);
      return;
    }
  r->timer = loop_add_timer (r->env.loop, r->env.timing->ready_poll_ms, poll_timer, r);
}

/* --- recovery observation -------------------------------------------- */

/* --- the engine of the machine --------------------------------------- */

static void
advance (struct regen *r)
{
  const struct runtime_ops *ops = r->env.ops;
  struct runtime *rt = r->env.rt;
  lympho_error_t e = { 0 };

  switch (r->phase)
    {
    case P_CHECK_IMAGE:
      ops->image_inspect (rt, r->golden.image_id, on_image, r);
      return;

    case P_BEGIN:
      if (!r->begun)
        {
          struct txn t = {
            .txn = r->txn, .name = r->name, .old_id = r->old_id, .new_name = r->new_name,
            .old_name = r->old_name, .strategy = (char *) strategy_name (r->strategy), .reason = r->reason,
            .generation = r->generation, .keep_old_down = r->keep_old_down,
          };
          if (journal_begin (r->env.journal, &t, &e) < 0)
            {
              regen_fail (r, -e.status, &e);
              return;
            }
          r->begun = true;
          told (r, "begin", r->old_id, regen_reason (r));
        }
      regen_step_forward (r);
      return;

    case P_CREATE:
      {
        if (!regen_intend (r, "create", NULL))
          return;
        struct rt_labels extra = { 0 };
        char gen[16];
        snprintf (gen, sizeof gen, "%u", r->generation);
        rt_labels_set (&extra, LABEL_GENERATION, gen);
        rt_labels_set (&extra, LABEL_NAME, r->name);
        rt_labels_set (&extra, LABEL_TXN, r->txn);
        if (r->strategy == STRATEGY_SWAP && !r->recovering && ops->create_hidden && ops->publish)
          ops->create_hidden (rt, r->golden.spec, r->new_name, &extra, on_created, r);
        else
          ops->create (rt, r->golden.spec, r->old_id ? r->new_name : r->name, &extra, on_created, r);
        rt_labels_free (&extra);
        return;
      }

    case P_START_SWAP:
      if (!regen_intend (r, "start-new", r->new_id))
        return;
      ops->start (rt, r->new_id, on_done_forward, r);
      return;

    case P_WAIT_READY:
      if (r->ready_deadline == 0)
        r->ready_deadline = now_mono_ms () + r->env.cfg->health_timeout_ms;
      ops->inspect (rt, r->new_id, on_inspect_new, r);
      return;

    case P_PUBLISH:
      if (ops->publish == NULL || ops->create_hidden == NULL)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "publish", r->new_id))
        return;
      ops->publish (rt, r->new_id, r->golden.spec, on_done_forward, r);
      return;

    case P_STOP_OLD:
      if (r->old_id == NULL || r->old_stopped)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "stop-old", r->old_id))
        return;
      /* An infected generation (quarantined, its forensics taken) has no
       * right to a graceful stop: killed at once. */
      ops->stop (rt, r->old_id, r->keep_old_down ? 0 : r->golden.stop_timeout_s, on_done_forward, r);
      return;

    case P_RENAME_OLD:
      if (r->old_id == NULL || r->old_renamed)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "rename-old", r->old_id))
        return;
      ops->rename (rt, r->old_id, r->old_name, on_done_forward, r);
      return;

    case P_RENAME_NEW:
      if (r->new_named)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "rename-new", r->new_id))
        return;
      ops->rename (rt, r->new_id, r->name, on_done_forward, r);
      return;

    case P_START_NEW:
      if (r->new_started)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "start-new", r->new_id))
        return;
      ops->start (rt, r->new_id, on_done_forward, r);
      return;

    case P_VERIFY:
      /* Give a generation that dies at once the chance to show it before
       * the point of no return; this adds nothing to the downtime. */
      if (!r->verify_waited)
        {
          r->verify_waited = true;
          r->timer = loop_add_timer (r->env.loop, r->env.timing->verify_delay_ms, poll_timer, r);
          return;
        }
      ops->inspect (rt, r->new_id, on_inspect_new, r);
      return;

    case P_COMMIT:
      if (journal_commit (r->env.journal, r->txn, r->new_id, &e) < 0)
        {
          regen_fail (r, -e.status, &e);
          return;
        }
      r->committed = true;
      log_info ("%s gen=%u txn=%s step=commit id=%.12s", r->name, r->generation, r->txn, r->new_id);
      told (r, "commit", r->new_id, NULL);
      regen_step_forward (r);
      return;

    case P_DRAIN_OLD:
      if (r->old_id == NULL || r->drain_i >= r->n_drain)
        {
          regen_step_forward (r);
          return;
        }
      if (r->drain_i == 0 && !regen_intend (r, "drain-old", r->old_id))
        return;
      ops->network_disconnect (rt, r->old_id, r->drain[r->drain_i], on_done_forward, r);
      return;

    case P_REMOVE_OLD:
      if (r->old_id == NULL || !r->old_exists)
        {
          regen_step_forward (r);
          return;
        }
      if (!regen_intend (r, "remove-old", r->old_id))
        return;
      /* Volumes stay: they were re-attached to the new generation. */
      ops->remove (rt, r->old_id, true, false, on_done_forward, r);
      return;

    case P_DONE:
      log_info ("%s gen=%u txn=%s step=done id=%.12s in %llu ms", r->name, r->generation, r->txn, r->new_id,
                (unsigned long long) (now_mono_ms () - r->started_mono));
      regen_finish (r, REGEN_OK);
      return;

    case P_RB_REMOVE_NEW:
      if (!r->new_created)
        {
          regen_go (r, P_RB_RENAME_OLD);
          return;
        }
      if (!regen_intend (r, "rollback-remove-new", r->new_id))
        return;
      ops->remove (rt, r->new_id, true, false, on_done_rollback, r);
      return;

    case P_RB_RENAME_OLD:
      if (r->old_id == NULL || !r->old_exists || !r->old_renamed)
        {
          regen_go (r, P_RB_START_OLD);
          return;
        }
      if (!regen_intend (r, "rollback-rename-old", r->old_id))
        return;
      ops->rename (rt, r->old_id, r->name, on_done_rollback, r);
      return;

    case P_RB_START_OLD:
      if (r->old_id == NULL || !r->old_exists || !r->old_stopped || r->keep_old_down)
        {
          regen_go (r, P_RB_DONE);
          return;
        }
      if (!regen_intend (r, "rollback-start-old", r->old_id))
        return;
      ops->start (rt, r->old_id, on_done_rollback, r);
      return;

    case P_RB_DONE:
      if (r->old_exists)
        log_warn ("%s gen=%u txn=%s step=rolled-back: generation %u keeps serving", r->name, r->generation, r->txn,
                  r->old_generation);
      else
        log_warn ("%s gen=%u txn=%s step=failed: nothing serves under the name", r->name, r->generation, r->txn);
      regen_finish (r, REGEN_ROLLED_BACK);
      return;

    case P_OBS_OLD:
      regen_observe_old (r);
      return;

    case P_OBS_NEW:
      regen_observe_new (r);
      return;

    case P_OBS_DECIDE:
      regen_decide (r);
      return;

    case P_SW_SERVICE:
    case P_SW_REMOVE:
    case P_SW_WAIT:
      regen_swarm_advance (r);
      return;
    }
}

char *
regen_new_txn_id (void)
{
  unsigned char b[4];
  if (random_bytes (b, sizeof b, NULL) < 0)
    {
      uint64_t t = now_real_ms ();
      memcpy (b, &t, sizeof b);
    }
  return xasprintf ("%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

void
regen_golden_copy (struct golden *dst, const struct golden *src)
{
  memset (dst, 0, sizeof *dst);
  dst->name = xstrdup (src->name);
  dst->source_id = xstrdup (src->source_id);
  dst->image_id = xstrdup (src->image_id);
  dst->pin_ref = xstrdup (src->pin_ref);
  dst->spec = xstrdup (src->spec);
  rt_labels_copy (&dst->labels, &src->labels);
  dst->has_healthcheck = src->has_healthcheck;
  dst->swap_blocker = xstrdup (src->swap_blocker);
  dst->stop_timeout_s = src->stop_timeout_s;
  dst->adopted_at_ms = src->adopted_at_ms;
}

void
regen_kick (struct loop *l, void *ud)
{
  struct regen *r = ud;
  r->timer = 0;
  advance (r);
}

struct regen *
regen_start (const struct regen_env *env, const struct regen_params *p, regen_done_cb cb, void *ud)
{
  struct regen *r = xmalloc0 (sizeof *r);
  r->env = *env;
  if (r->env.timing == NULL)
    r->env.timing = &regen_default_timing;
  regen_golden_copy (&r->golden, p->golden);
  r->have_golden = true;
  r->name = xstrdup (p->golden->name);
  r->txn = regen_new_txn_id ();
  r->old_id = xstrdup (p->old_id);
  r->old_exists = p->old_id != NULL;
  r->old_generation = p->old_generation;
  r->generation = p->old_id ? p->old_generation + 1 : p->old_generation;
  r->new_name = regen_new_name (r->name, r->txn);
  r->old_name = regen_old_name (r->name, r->txn);
  r->reason = xstrdup (p->reason ? p->reason : "");
  r->strategy = p->strategy == STRATEGY_SWAP ? STRATEGY_SWAP : STRATEGY_REPLACE;
  if (p->strategy == STRATEGY_SWARM && p->swarm)
    {
      /* The swarm names each new task afresh: nothing is renamed. */
      r->strategy = STRATEGY_SWARM;
      swarm_task_copy (&r->swarm, p->swarm);
      r->swarm_delay_ms = -1;
    }
  r->keep_old_down = p->keep_old_down;
  for (size_t i = 0; r->strategy == STRATEGY_SWAP && i < p->n_old_networks; i++)
    {
      const char *n = p->old_networks[i];
      if (strcmp (n, "host") == 0 || strcmp (n, "none") == 0 || str_has_prefix (n, "container:"))
        continue;
      r->drain = xrealloc (r->drain, (r->n_drain + 1) * sizeof *r->drain);
      r->drain[r->n_drain++] = xstrdup (n);
    }
  r->phase = r->strategy == STRATEGY_SWARM ? P_SW_SERVICE : P_CHECK_IMAGE;
  r->started_mono = now_mono_ms ();
  r->cb = cb;
  r->ud = ud;
  log_info ("%s gen=%u txn=%s step=begin strategy=%s reason=%s", r->name, r->generation, r->txn,
            strategy_name (r->strategy), r->reason);
  /* Callbacks never run before the call returns: start on the next turn. */
  r->timer = loop_add_timer (env->loop, 0, regen_kick, r);
  return r;
}

void
regen_request_stop (struct regen *r)
{
  r->stop_requested = true;
}
