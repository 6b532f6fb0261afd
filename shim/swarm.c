/* lympho — Docker Swarm task containers, as their labels tell them
 * (swarm.h). Pure logic. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/swarm.h"
#include "lympho/util.h"

/* A swarm id or slot: letters and digits only. */
static bool
plain (const char *s, size_t n)
{
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
      return false;
  return true;
}

int
swarm_task_from_labels (const struct rt_labels *l, struct swarm_task *out, lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  const char *task_id = rt_labels_get (l, SWARM_LABEL_TASK_ID);
  if (task_id == NULL)
    return 0;
  const char *sid = rt_labels_get (l, SWARM_LABEL_SERVICE_ID);
  const char *svc = rt_labels_get (l, SWARM_LABEL_SERVICE_NAME);
  const char *tname = rt_labels_get (l, SWARM_LABEL_TASK_NAME);
  if (sid == NULL || svc == NULL || tname == NULL)
    return lympho_error_set (err, EINVAL, "swarm task %s: labels %s, %s and %s are not all there", task_id,
                             SWARM_LABEL_SERVICE_ID, SWARM_LABEL_SERVICE_NAME, SWARM_LABEL_TASK_NAME);
  if (!plain (task_id, strlen (task_id)) || !plain (sid, strlen (sid)))
    return lympho_error_set (err, EINVAL, "swarm task: ids are not plain: %.80s, %.80s", task_id, sid);
  /* "<service>.<slot>.<task id>" */
  size_t ns = strlen (svc), nt = strlen (tname), ni = strlen (task_id);
  if (nt < ns + ni + 3 || strncmp (tname, svc, ns) != 0 || tname[ns] != '.' || tname[nt - ni - 1] != '.'
      || strcmp (tname + nt - ni, task_id) != 0 || !plain (tname + ns + 1, nt - ni - 1 - (ns + 1)))
    return lympho_error_set (err, EINVAL, "swarm task name %.120s is not %s.<slot>.%s", tname, svc, task_id);
  char *key = xstrndup (tname, nt - ni - 1);
  if (!rt_name_valid (key))
    {
      lympho_error_set (err, EINVAL, "swarm task %s: %.120s is not a container name", task_id, key);
      free (key);
      return -EINVAL;
    }
  out->service_id = xstrdup (sid);
  out->service = xstrdup (svc);
  out->slot = xstrndup (tname + ns + 1, nt - ni - 1 - (ns + 1));
  out->task_id = xstrdup (task_id);
  out->key = key;
  return 1;
}

void
swarm_task_copy (struct swarm_task *dst, const struct swarm_task *src)
{
  dst->service_id = xstrdup (src->service_id);
  dst->service = xstrdup (src->service);
  dst->slot = xstrdup (src->slot);
  dst->task_id = xstrdup (src->task_id);
  dst->key = xstrdup (src->key);
}

void
swarm_task_free (struct swarm_task *t)
{
  free (t->service_id);
  free (t->service);
  free (t->slot);
  free (t->task_id);
  free (t->key);
  memset (t, 0, sizeof *t);
}

char *
swarm_key_of (const struct rt_labels *l)
{
  struct swarm_task t;
  lympho_error_t err = { 0 };
  if (swarm_task_from_labels (l, &t, &err) <= 0)
    return NULL;
  char *key = t.key;
  t.key = NULL;
  swarm_task_free (&t);
  return key;
}

uint64_t
swarm_replace_within_ms (int64_t delay_ms)
{
  if (delay_ms < 0)
    delay_ms = SWARM_DEFAULT_RESTART_DELAY_MS;
  if (delay_ms > 86400000) /* a day: what a service may say is not a wait */
    delay_ms = 86400000;
  return (uint64_t) delay_ms + SWARM_REPLACE_MARGIN_MS;
}
