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

/* s from a service's JSON (pointing into v); false when it names none. */
static bool
service_from_json (json_val v, struct rt_service *s)
{
  memset (s, 0, sizeof *s);
  s->restart_delay_ms = -1;
  json_val spec = json_get (v, "Spec");
  json_val tmpl = json_get (spec, "TaskTemplate");
  json_val policy = json_get (tmpl, "RestartPolicy");
  s->id = json_str (json_get (v, "ID"));
  s->name = json_str (json_get (spec, "Name"));
  s->restart = restart_condition (json_str (json_get (policy, "Condition")));
  int64_t n;
  if (json_as_int64 (json_get (policy, "Delay"), &n) && n >= 0)
    s->restart_delay_ms = n / 1000000;
  if (json_as_int64 (json_get (tmpl, "ForceUpdate"), &n) && n >= 0)
    s->force_update = (uint64_t) n;
  rt_labels_from_json (json_get (spec, "Labels"), false, "service labels", &s->labels, NULL);
  json_val us = json_get (v, "UpdateStatus");
  s->update_state = json_str (json_get (us, "State"));
  s->updated_ms = docker_parse_time_ms (json_str (json_get (us, "CompletedAt")));
  if (s->updated_ms == 0)
    s->updated_ms = docker_parse_time_ms (json_str (json_get (v, "CreatedAt")));
  return s->id && s->name && rt_name_valid (s->name);
}

static void
resp_service (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_service s = { 0 };
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  if (ret == 0 && !service_from_json (v, &s))
    ret = lympho_error_set (&err, EIO, "%s: engine answer names no service", op->what);
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

static void
resp_services (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_service *sv = NULL;
  size_t n = 0;
  ret = docker_op_list_answer (op, ret, in, status, body, len, true, &v, &err);
  if (ret == 0 && json_arr_len (v) > 0)
    {
      sv = xmalloc0 (json_arr_len (v) * sizeof *sv);
      for (size_t i = 0; i < json_arr_len (v); i++)
        if (service_from_json (json_arr_at (v, i), &sv[n]))
          n++;
        else
          rt_labels_free (&sv[n].labels);
    }
  docker_op_unlink (op);
  op->cb.services (op->ud, ret, ret < 0 ? &err : NULL, sv, n);
  for (size_t i = 0; i < n; i++)
    rt_labels_free (&sv[i].labels);
  free (sv);
  docker_op_free (op);
}

void
docker_service_list (struct runtime *rt, const char *label, rt_service_list_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "list services labelled %s", label);
  op->cb.services = cb;
  cleanup_free char *path = docker_filtered_path ("/services", NULL, "label", label);
  docker_op_send (op, "GET", path, NULL, 0, resp_services);
}

/* The spec as it is, its TaskTemplate's ForceUpdate one more: what
 * `docker service update --force` sends. Every other field goes back as
 * the engine gave it, so the service's own update config is honoured. */
static char *
forced_spec (json_val spec, uint64_t force)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (spec); i++)
    {
      const char *k = json_obj_key (spec, i);
      json_val val = json_obj_value (spec, i);
      json_gen_str (g, k);
      if (strcmp (k, "TaskTemplate") != 0)
        {
          json_gen_value (g, val);
          continue;
        }
      json_gen_map_open (g);
      for (size_t j = 0; j < json_obj_len (val); j++)
        if (strcmp (json_obj_key (val, j), "ForceUpdate") != 0)
          {
            json_gen_str (g, json_obj_key (val, j));
            json_gen_value (g, json_obj_value (val, j));
          }
      json_gen_kint (g, "ForceUpdate", (int64_t) (force + 1));
      json_gen_map_close (g);
    }
  json_gen_map_close (g);
  return json_gen_text (g);
}

static void
resp_force_spec (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_service s = { 0 };
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  int64_t version = 0;
  json_val spec = json_get (v, "Spec");
  if (ret == 0 && (!service_from_json (v, &s) || !json_is_object (json_get (spec, "TaskTemplate"))
                   || !json_as_int64 (json_path (v, "Version", "Index", NULL), &version) || version < 0))
    ret = lympho_error_set (&err, EIO, "%s: engine answer has no service spec and version", op->what);
  /* Never a second update over one in flight, whoever started it: the
   * swarm would abandon the first half done. */
  if (ret == 0 && rt_service_updating (&s))
    ret = lympho_error_set (&err, EALREADY, "%s: an update of the service is in flight (%s)", op->what,
                            s.update_state);
  rt_labels_free (&s.labels);
  if (ret < 0)
    {
      docker_finish_done (op, ret, &err);
      return;
    }
  cleanup_free char *body_out = forced_spec (spec, s.force_update);
  cleanup_free char *e = dhttp_escape (op->ref);
  /* The version read: an update by anyone else meanwhile is refused by
   * the engine (EBUSY), never overwritten. */
  cleanup_free char *path = xasprintf ("/services/%s/update?version=%lld", e, (long long) version);
  docker_op_send (op, "POST", path, body_out, 0, docker_resp_done);
}

void
docker_service_force_update (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "force update of service %s", id);
  op->cb.done = cb;
  op->ref = xstrdup (id);
  cleanup_free char *e = dhttp_escape (id);
  cleanup_free char *path = xasprintf ("/services/%s", e);
  docker_op_send (op, "GET", path, NULL, 0, resp_force_spec);
}
