/* lympho — dependants (lympho.after): when a protected container has been
 * regenerated, the containers that name it in their lympho.after (or, in a
 * compose project without it, whose compose depends_on names its service)
 * are regenerated after it. A dependency cycle is refused at adoption.
 * Calls entry.c (the entries) and admission.c (the requests). */
#include "config.h"

#include <string.h>

#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/util.h"

#include "daemon-int.h"

/* Whether dep's policy (with its labels) names `on` (a protected name with
 * its labels). */
static bool
names (const struct policy *dep, const struct rt_labels *dep_labels, const char *on,
       const struct rt_labels *on_labels)
{
  if (dep->after_compose)
    {
      /* depends_on names services of its own project. */
      const char *pd = rt_labels_get (dep_labels, LABEL_COMPOSE_PROJECT);
      const char *po = rt_labels_get (on_labels, LABEL_COMPOSE_PROJECT);
      const char *svc = rt_labels_get (on_labels, LABEL_COMPOSE_SERVICE);
      if (pd == NULL || po == NULL || svc == NULL || strcmp (pd, po) != 0)
        return false;
      on = svc;
    }
  for (size_t i = 0; i < dep->n_after; i++)
    if (strcmp (dep->after[i], on) == 0)
      return true;
  return false;
}

void
after_regenerated (struct daemon *d, struct entry *e)
{
  if (d->shutting_down)
    return;
  ENTRY_FOREACH (x, d)
    if (x != e && x->golden.name && x->policy.n_after > 0
        && names (&x->policy, &x->golden.labels, e->name, &e->golden.labels))
      {
        cleanup_free char *why = xasprintf ("after %s", e->name);
        log_info ("%s: %s was regenerated: regenerating it after", x->name, e->name);
        admission_request_regen (d, x, why, false, NULL);
      }
}

/* Depth-first from `at`, along what it is after; true when `target` is
 * reached. path collects the names on the way. */
static bool
reaches (struct daemon *d, const struct policy *p, const struct rt_labels *labels, const char *target,
         const struct rt_labels *target_labels, struct buf *path, unsigned depth)
{
  if (depth > 64)
    return false;
  ENTRY_FOREACH (x, d)
    {
      if (x->golden.name == NULL || strcmp (x->name, target) == 0)
        continue;
      if (!names (p, labels, x->name, &x->golden.labels))
        continue;
      size_t mark = path->len;
      buf_printf (path, " -> %s", x->name);
      if (names (&x->policy, &x->golden.labels, target, target_labels)
          || reaches (d, &x->policy, &x->golden.labels, target, target_labels, path, depth + 1))
        return true;
      path->len = mark;
      path->data[mark] = '\0';
    }
  return false;
}

char *
after_cycle (struct daemon *d, const char *name, const struct policy *p, const struct rt_labels *labels)
{
  if (p->n_after == 0)
    return NULL;
  /* After itself, by name (compose cannot: it refuses cycles itself). */
  if (!p->after_compose)
    for (size_t i = 0; i < p->n_after; i++)
      if (strcmp (p->after[i], name) == 0)
        return xasprintf ("%s -> %s", name, name);
  struct buf path;
  buf_init (&path);
  buf_appends (&path, name);
  if (reaches (d, p, labels, name, labels, &path, 0))
    {
      buf_printf (&path, " -> %s", name);
      return buf_steal (&path);
    }
  buf_free (&path);
  return NULL;
}
