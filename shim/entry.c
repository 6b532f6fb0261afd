/* lympho — the daemon's entries: one per protected name, in d->entries,
 * indexed by name and by id (strmap.h; the list keeps their order).
 * Finds them (by name, by id, by the reference a user types), creates,
 * frees and unlinks them, counts them, and answers the control requests
 * waiting on one. Calls only the hooks that free what detect.c and
 * incident.c hang on an entry, and control.h to answer its waiters. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/loop.h"
#include "lympho/strmap.h"
#include "lympho/util.h"

#include "daemon-int.h"

struct entry *
entry_find (struct daemon *d, const char *name)
{
  return strmap_get (&d->entry_names, name);
}

/* By name, full id, or an id prefix of at least 12 characters. */
struct entry *
entry_lookup (struct daemon *d, const char *ref)
{
  if (ref == NULL)
    return NULL;
  struct entry *e = entry_find (d, ref);
  if (e)
    return e;
  size_t len = strlen (ref);
  /* A swarm task's container by its own name, "<service>.<slot>.<task
   * id>" (what Falco and the engine call it): the slot's entry while that
   * task runs in it. */
  ENTRY_FOREACH (x, d)
    {
      size_t k = x->swarm ? strlen (x->name) : 0;
      if (k && len > k + 1 && strncmp (ref, x->name, k) == 0 && ref[k] == '.'
          && strcmp (ref + k + 1, x->swarm->task_id) == 0)
        return x;
    }
  if (len < 12)
    return NULL;
  ENTRY_FOREACH (x, d)
    if (x->id && strncmp (x->id, ref, len) == 0)
      return x;
  return NULL;
}

struct entry *
entry_by_id (struct daemon *d, const char *id)
{
  return strmap_get (&d->entry_ids, id);
}

/* key leaves the index m if it is e's there. Two entries never hold one
 * name or one id for long (reconcile.c releases the one that held it
 * before), but should one still hold it, it is found from now on. */
static void
unindex (struct daemon *d, struct strmap *m, const char *key, struct entry *e, bool by_id)
{
  if (key == NULL || !strmap_del (m, key, e))
    return;
  ENTRY_FOREACH (x, d)
    {
      const char *k = by_id ? x->id : x->name;
      if (x != e && k && strcmp (k, key) == 0)
        {
          strmap_put (m, k, x);
          return;
        }
    }
}

void
entry_set_id (struct daemon *d, struct entry *e, const char *id)
{
  unindex (d, &d->entry_ids, e->id, e, true);
  char *was = e->id;
  e->id = id ? xstrdup (id) : NULL;
  free (was);
  if (e->id)
    strmap_put (&d->entry_ids, e->id, e);
}

void
entry_set_name (struct daemon *d, struct entry *e, const char *name)
{
  unindex (d, &d->entry_names, e->name, e, false);
  char *was = e->name;
  e->name = xstrdup (name);
  free (was);
  strmap_put (&d->entry_names, e->name, e);
}

struct entry *
entry_new (struct daemon *d, const char *name)
{
  struct entry *e = xmalloc0 (sizeof *e);
  e->d = d;
  e->name = xstrdup (name);
  policy_defaults (&e->policy);
  LIST_INSERT_HEAD (&d->entries, e, link);
  strmap_put (&d->entry_names, e->name, e);
  return e;
}

void
entry_reply_waiters (struct entry *e, bool ok, const char *result, int status, const char *msg)
{
  struct waiter *w = SLIST_FIRST (&e->waiters);
  SLIST_INIT (&e->waiters);
  while (w)
    {
      struct waiter *n = SLIST_NEXT (w, link);
      if (ok)
        control_reply_ok (w->req, result);
      else
        control_reply_error (w->req, status, msg);
      free (w);
      w = n;
    }
}

void
entry_add_waiter (struct entry *e, struct control_request *req, bool joined)
{
  if (req == NULL)
    return;
  struct waiter *w = xmalloc0 (sizeof *w);
  w->req = req;
  w->joined = joined;
  SLIST_INSERT_HEAD (&e->waiters, w, link);
}

void
entry_free (struct daemon *d, struct entry *e)
{
  if (e->timer)
    loop_cancel_timer (d->loop, e->timer);
  if (e->recover_timer)
    loop_cancel_timer (d->loop, e->recover_timer);
  if (e->slot_timer)
    loop_cancel_timer (d->loop, e->slot_timer);
  entry_reply_waiters (e, false, NULL, ENOENT, "the container is no longer protected");
  incident_entry_free (e);
  detect_entry_free (d, e);
  strv_free (e->networks, e->n_networks);
  strv_free (e->mounts, e->n_mounts);
  free (e->upper_dir);
  golden_free (&e->golden);
  policy_free (&e->policy);
  free (e->name);
  free (e->replaced_by);
  if (e->swarm)
    swarm_task_free (e->swarm);
  free (e->swarm);
  free (e->id);
  free (e->queued_reason);
  free (e->last_error);
  free (e);
}

void
entry_remove (struct daemon *d, struct entry *e)
{
  LIST_UNLINK (e, link);
  unindex (d, &d->entry_names, e->name, e, false);
  unindex (d, &d->entry_ids, e->id, e, true);
  entry_free (d, e);
}

unsigned
entry_count (struct daemon *d, enum entry_state only, bool any)
{
  unsigned n = 0;
  ENTRY_FOREACH (e, d)
    if (any || e->state == only)
      n++;
  return n;
}
