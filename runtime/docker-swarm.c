/* lympho — the Docker backend's one look at Docker Swarm: a service as a
 * manager tells it (GET /services/ID), for what a task container's
 * regeneration needs to know: whether and after how long the swarm
 * replaces a task that ends. May call: the op plumbing (docker-int.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-int.h"

static enum rt_restart_condition
restart_condition (const char *s)
{
  if (s == NULL || strcmp (s, "any") == 0) /* the swarm's default */
    return RT_RESTART_ANY;
  if (strcmp (s, "on-failure") == 0)
    return RT_RESTART_ON_FAILURE;
  if (strcmp (s, "none") == 0)
    return RT_RESTART_NONE;
  return RT_RESTART_UNKNOWN;
}

static void
resp_service (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_service s = { 0 };
  s.restart_delay_ms = -1;
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  if (ret == 0)
    {
      json_val spec = json_get (v, "Spec");
      json_val policy = json_get (json_get (spec, "TaskTemplate"), "RestartPolicy");
      s.id = json_str (json_get (v, "ID"));
      s.name = json_str (json_get (spec, "Name"));
      s.restart = restart_condition (json_str (json_get (policy, "Condition")));
      int64_t ns;
      if (json_as_int64 (json_get (policy, "Delay"), &ns) && ns >= 0)
        s.restart_delay_ms = ns / 1000000;
      rt_labels_from_json (json_get (spec, "Labels"), false, "service labels", &s.labels, NULL);
      if (s.id == NULL || s.name == NULL)
        ret = lympho_error_set (&err, EIO, "%s: engine answer names no service", op->what);
    }
  docker_op_unlink (op);
  op->cb.service (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? NULL : &s);
  rt_labels_free (&s.labels);
  docker_op_free (op);
}

void
docker_service_inspect (struct runtime *rt, const char *id, rt_service_cb cb, void *ud)
{
  /* A worker, or a node outside a swarm, answers 503 ("not a swarm
   * manager"): the core takes any failure as "cannot tell". */
  struct op *op = docker_op_new (rt, ud, EBUSY, "inspect service %s", id);
  op->cb.service = cb;
  cleanup_free char *e = dhttp_escape (id);
  cleanup_free char *path = xasprintf ("/services/%s", e);
  docker_op_send (op, "GET", path, NULL, 0, resp_service);
}
