/* lympho — adoption: a container that asks for protection is snapshotted,
 * its image pinned under a tag of ours (earlier pins kept up to the
 * retention, the rest untagged), the golden snapshot stored, and its entry
 * filled and scheduled. Also the containers whose labels were refused
 * (reported once), and the end of a leftover's removal (a temporary
 * generation no transaction owns, found by reconcile.c). Calls entry.c,
 * admission.c (the schedule), reconcile.c (the inspect that follows), the
 * store, and the engine through d->ops. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/store.h"
#include "lympho/util.h"

#include "daemon-int.h"

struct adopt_ctx
{
  struct daemon *d;
  LIST_ENTRY (adopt_ctx) link; /* in d->adoptions while the engine answers */
  char *name;
  char *id;
  char *image_id;
  struct policy policy;
  unsigned generation;
  enum rt_state state;
  uint64_t started_at_ms;
  struct golden golden;
};

static void
adopt_ctx_free (struct adopt_ctx *a)
{
  LIST_REMOVE (a, link);
  free (a->name);
  free (a->id);
  free (a->image_id);
  policy_free (&a->policy);
  golden_free (&a->golden);
  free (a);
}

static void
adopt_failed (struct adopt_ctx *a, const char *step, const lympho_error_t *err)
{
  struct daemon *d = a->d;
  log_error ("%s step=adopt-%s id=%.12s: %s", a->name, step, a->id, err->msg);
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = a->name, .kind = "adopt", .result = "failed", .generation = a->generation,
                             .new_id = a->id, .error = err->msg, .duration_ms = -1 };
  daemon_record (d, &h);
  struct entry *e = entry_find (d, a->name);
  if (e)
    {
      e->busy = false;
      if (e->golden.name == NULL)
        entry_remove (d, e);
    }
  adopt_ctx_free (a);
}

static void
untag_done (void *ud, int ret, const lympho_error_t *err)
{
  char *ref = ud;
  if (ret < 0 && ret != -ENOENT)
    log_warn ("untag %s: %s", ref, err->msg);
  free (ref);
}

void
adopt_untag (struct daemon *d, const char *ref)
{
  if (ref)
    d->ops->image_remove (d->rt, ref, untag_done, xstrdup (ref));
}

static void
adopt_tagged (void *ud, int ret, const lympho_error_t *err)
{
  struct adopt_ctx *a = ud;
  struct daemon *d = a->d;
  if (ret < 0)
    {
      adopt_failed (a, "pin", err);
      return;
    }
  struct entry *e = entry_find (d, a->name);
  if (e == NULL)
    e = entry_new (d, a->name);
  /* Keep earlier pins up to the retention, newest first; drop the rest. */
  if (e->golden.pin_ref && strcmp (e->golden.pin_ref, a->golden.pin_ref) != 0)
    {
      size_t keep = d->cfg->pin_retention > 1 ? d->cfg->pin_retention - 1 : 0;
      size_t n = 0;
      char **pins = xmalloc0 ((e->golden.n_old_pins + 1) * sizeof *pins);
      pins[n++] = xstrdup (e->golden.pin_ref);
      for (size_t i = 0; i < e->golden.n_old_pins; i++)
        if (strcmp (e->golden.old_pins[i], a->golden.pin_ref) != 0)
          pins[n++] = xstrdup (e->golden.old_pins[i]);
      for (size_t i = keep; i < n; i++)
        {
          adopt_untag (d, pins[i]);
          free (pins[i]);
        }
      a->golden.old_pins = pins;
      a->golden.n_old_pins = n < keep ? n : keep;
    }
  else if (e->golden.pin_ref)
    {
      a->golden.old_pins = e->golden.old_pins;
      a->golden.n_old_pins = e->golden.n_old_pins;
      e->golden.old_pins = NULL;
      e->golden.n_old_pins = 0;
    }
  lympho_error_t serr = { 0 };
  if (store_save (d->cfg->state_dir, &a->golden, &serr) < 0)
    {
      adopt_failed (a, "store", &serr);
      return;
    }
  golden_free (&e->golden);
  e->golden = a->golden;
  memset (&a->golden, 0, sizeof a->golden);
  policy_free (&e->policy);
  e->policy = a->policy;
  memset (&a->policy, 0, sizeof a->policy);
  entry_set_id (d, e, a->id);
  e->generation = a->generation;
  e->state = a->state == RT_STATE_RUNNING || a->state == RT_STATE_PAUSED ? ES_RUNNING : ES_STOPPED;
  e->failures = 0;
  e->busy = false;
  free (e->replaced_by);
  e->replaced_by = NULL;
  cleanup_free char *ttl = duration_format (e->policy.ttl_ms);
  log_info ("%s gen=%u step=adopt id=%.12s image=%.19s ttl=%s strategy=%s%s%s", e->name, e->generation, e->id,
            e->golden.image_id, ttl, strategy_name (e->policy.strategy), e->golden.swap_blocker ? " swap-blocker=" : "",
            e->golden.swap_blocker ? e->golden.swap_blocker : "");
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = e->name, .kind = "adopt", .result = "ok", .generation = e->generation,
                             .new_id = e->id, .duration_ms = -1 };
  daemon_record (d, &h);
  admission_schedule_from (d, e, a->started_at_ms, false);
  daemon_update_status (d);
  d->ops->inspect (d->rt, e->id, reconcile_on_inspected, d);
  adopt_ctx_free (a);
}

static void
adopt_snapshot (void *ud, int ret, const lympho_error_t *err, struct rt_snapshot *s)
{
  struct adopt_ctx *a = ud;
  struct daemon *d = a->d;
  if (ret < 0)
    {
      adopt_failed (a, "snapshot", err);
      return;
    }
  golden_from_snapshot (&a->golden, s);
  /* The snapshot must describe the protected name even when it was taken
   * from a generation of ours. */
  free (a->golden.name);
  a->golden.name = xstrdup (a->name);
  char *repo = store_pin_repo (a->name);
  const char *hex = str_has_prefix (a->golden.image_id, "sha256:") ? a->golden.image_id + 7 : a->golden.image_id;
  char tag[13];
  snprintf (tag, sizeof tag, "%.12s", hex);
  a->golden.pin_ref = xasprintf ("%s:%s", repo, tag);
  d->ops->image_tag (d->rt, a->golden.image_id, repo, tag, adopt_tagged, a);
  free (repo);
}

void
adopt_container (struct daemon *d, const struct rt_container *c, const char *name, struct policy *policy,
                 unsigned generation)
{
  struct entry *e = entry_find (d, name);
  if (e == NULL)
    e = entry_new (d, name);
  e->busy = true;
  struct adopt_ctx *a = xmalloc0 (sizeof *a);
  a->d = d;
  LIST_INSERT_HEAD (&d->adoptions, a, link);
  a->name = xstrdup (name);
  a->id = xstrdup (c->id);
  a->image_id = xstrdup (c->image_id);
  a->policy = *policy;
  memset (policy, 0, sizeof *policy);
  a->generation = generation;
  a->state = c->state;
  a->started_at_ms = c->started_at_ms;
  log_debug ("%s step=adopt-snapshot id=%.12s", name, c->id);
  d->ops->snapshot (d->rt, c->id, adopt_snapshot, a);
}

void
adopt_close (struct daemon *d)
{
  while (!LIST_EMPTY (&d->adoptions))
    adopt_ctx_free (LIST_FIRST (&d->adoptions));
}

bool
adopt_refused_before (struct daemon *d, const char *id)
{
  for (size_t i = 0; i < d->n_refused; i++)
    if (strcmp (d->refused_ids[i], id) == 0)
      return true;
  d->refused_ids = xrealloc (d->refused_ids, (d->n_refused + 1) * sizeof *d->refused_ids);
  d->refused_ids[d->n_refused++] = xstrdup (id);
  return false;
}

void
adopt_leftover_removed (void *ud, int ret, const lympho_error_t *err)
{
  char *what = ud;
  if (ret < 0 && ret != -ENOENT)
    log_warn ("%s: removing leftover failed: %s", what, err->msg);
  free (what);
}
