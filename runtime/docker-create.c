/* lympho — the Docker backend's create and publish: create from a snapshot
 * spec (pinned image, verified when created by reference), connect the
 * further networks, or undo the create on any failure; publish rejoins the
 * networks a hidden create left without aliases. May call: the op plumbing
 * (docker-int.h), docker-spec. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-int.h"
#include "docker-version.h"

/* ---- create: create, connect the further networks, or undo ---- */

static void create_connect_next (struct op *op);

static void
resp_create_undone (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  if (ret < 0 || (status >= 300 && status != 404))
    log_warn ("%s: %s: could not remove the half-made container %s", op->rt->q->name, op->what, op->new_id);
  lympho_error_t err = op->first_err;
  docker_finish_id (op, op->first_ret, &err, NULL);
}

static void
create_undo (struct op *op, int ret, const lympho_error_t *err)
{
  op->first_ret = ret;
  op->first_err = *err;
  /* Not v=1: the volumes are the protected container's, attached by name. */
  cleanup_free char *path = docker_container_path (op->new_id, "?force=1");
  docker_op_send (op, "DELETE", path, NULL, 0, resp_create_undone);
}

static void
resp_create_connected (struct op *op, int ret, const lympho_error_t *in, long status, const char *body,
                       size_t len)
{
  lympho_error_t err = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  if (ret < 0)
    {
      lympho_error_prefix (&err, "connect to network %s", op->plan.nets[op->net_i].name);
      create_undo (op, ret, &err);
      return;
    }
  op->net_i++;
  create_connect_next (op);
}

static void
create_connect_next (struct op *op)
{
  if (op->net_i == op->plan.n_nets)
    {
      cleanup_free char *id = steal_pointer (&op->new_id);
      docker_finish_id (op, 0, NULL, id);
      return;
    }
  const struct docker_spec_net *net = &op->plan.nets[op->net_i];
  cleanup_free char *e = dhttp_escape (net->name);
  cleanup_free char *path = xasprintf ("/networks/%s/connect", e);
  cleanup_free char *body = docker_spec_connect_body (net, op->new_id);
  docker_op_send (op, "POST", path, body, 0, resp_create_connected);
}

static void create_send (struct op *op, const char *image);

/* Created from the user's reference, which moved to another image between
 * the check and the create: that container is gone; create from the pin. */
static void
resp_create_ref_undone (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  if (ret < 0 || (status >= 300 && status != 404))
    {
      lympho_error_t err = { 0 };
      lympho_error_set (&err, EIO, "%s: %s moved to another image during the create, and the container made from "
                        "it (%s) could not be removed", op->what, op->plan.image_ref, op->new_id);
      docker_finish_id (op, -EIO, &err, NULL);
      return;
    }
  free (op->new_id);
  op->new_id = NULL;
  create_send (op, op->plan.image_id);
}

/* Made from the user's reference: it must run the pinned image. */
static void
resp_create_verified (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  if (ret < 0)
    {
      create_undo (op, ret, &err);
      return;
    }
  const char *image = json_str (json_get (v, "Image"));
  if (docker_spec_same_image (image, op->plan.image_id))
    {
      create_connect_next (op);
      return;
    }
  log_info ("%s: %s moved to %s during the create; creating from the pinned image %s", op->what,
            op->plan.image_ref, image ? image : "(none)", op->plan.image_id);
  op->by_ref = false;
  cleanup_free char *path = docker_container_path (op->new_id, "?force=1");
  docker_op_send (op, "DELETE", path, NULL, 0, resp_create_ref_undone);
}

static void
resp_create (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  const char *id = NULL;
  ret = docker_op_id (op, ret, in, status, body, len, &v, &id, &err);
  if (ret < 0)
    {
      docker_finish_id (op, ret, &err, NULL);
      return;
    }
  op->new_id = xstrdup (id);
  if (op->by_ref)
    {
      cleanup_free char *path = docker_container_path (op->new_id, "/json");
      docker_op_send (op, "GET", path, NULL, 0, resp_create_verified);
      return;
    }
  create_connect_next (op);
}

/* The create, from image (the pin or the verified reference), for the API
 * version spoken. */
static void
create_send (struct op *op, const char *image)
{
  lympho_error_t err = { 0 };
  if (docker_spec_for_api (&op->plan, op->rt->api, image, &err) < 0
      || (op->rt->q->podman_create && docker_spec_podman_create (&op->plan.create_body, &err) < 0))
    {
      lympho_error_prefix (&err, "%s", op->what);
      docker_finish_id (op, -EINVAL, &err, NULL);
      return;
    }
  cleanup_free char *lost = op->rt->q->fields_unversioned ? NULL : docker_spec_unsupported (&op->plan, op->rt->api);
  if (lost)
    {
      char v[16];
      log_warn ("%s: API %s, spoken with this engine%s, does not know %s: the engine drops or refuses %s",
                op->what, docker_api_text (op->rt->api, v), op->rt->api_pinned ? " (DOCKER_API_VERSION)" : "", lost,
                strchr (lost, ',') ? "them" : "it");
    }
  cleanup_free char *e = dhttp_escape (op->new_name);
  cleanup_free char *path = xasprintf ("/containers/create?name=%s", e);
  docker_op_send (op, "POST", path, op->plan.create_body, 0, resp_create);
}

/* What the user's reference names now: created with it while it is the
 * pin, else from the pin itself (the tag moved on). Without a reference,
 * the answer on the pin only means the API version is known. */
static void
resp_create_ref (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  /* No answer on the image (the engine away, no version in common, an
   * error of its own): the create fails with it, and is retried as any.
   * Only "no such image" says the reference names nothing now. */
  if (ret < 0 && (ret != -ENOENT || op->plan.image_ref == NULL))
    {
      docker_finish_id (op, ret, &err, NULL);
      return;
    }
  const char *id = ret == 0 ? json_str (json_get (v, "Id")) : NULL;
  op->by_ref = op->plan.image_ref && docker_spec_same_image (id, op->plan.image_id);
  if (op->plan.image_ref && !op->by_ref)
    log_info ("%s: %s now names %s, not the pinned image %s: creating from the pin", op->what,
              op->plan.image_ref, id ? id : "no image", op->plan.image_id);
  create_send (op, op->by_ref ? op->plan.image_ref : op->plan.image_id);
}

static void
create_as (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels, bool hidden,
           rt_id_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EEXIST, "create %s", name);
  op->cb.id = cb;
  lympho_error_t err = { 0 };
  if (docker_spec_plan (spec, extra_labels, &op->plan, &err) < 0
      || (hidden && docker_spec_hide (&op->plan, &op->pub, &op->n_pub, &err) < 0))
    {
      docker_op_fail_later (op, &err, docker_resp_fail_id);
      return;
    }
  op->new_name = xstrdup (name);
  /* The body depends on the API version: made once it is known, after
   * the request on the image (parked until then). Without a reference,
   * the pin is asked only to wait for the version. */
  const char *ask = op->plan.image_ref ? op->plan.image_ref : rt->api == 0 ? op->plan.image_id : NULL;
  if (ask == NULL)
    {
      create_send (op, op->plan.image_id);
      return;
    }
  cleanup_free char *e = dhttp_escape (ask);
  cleanup_free char *path = xasprintf ("/images/%s/json", e);
  docker_op_send (op, "GET", path, NULL, 0, resp_create_ref);
}

void
docker_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
               rt_id_cb cb, void *ud)
{
  create_as (rt, spec, name, extra_labels, false, cb, ud);
}

/* Attached to its networks without their aliases: nobody who looks the
 * service up by an alias finds it before publish. */
void
docker_create_hidden (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
                      rt_id_cb cb, void *ud)
{
  create_as (rt, spec, name, extra_labels, true, cb, ud);
}

/* ---- publish: rejoin the aliased networks with their aliases ---- */

static void publish_next (struct op *op);

static void
resp_publish (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  if (ret < 0)
    {
      docker_finish_done (op, ret, &err);
      return;
    }
  op->pub_step++;
  publish_next (op);
}

static void
resp_publish_nothing (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  docker_finish_done (op, 0, NULL);
}

static void
publish_next (struct op *op)
{
  size_t i = op->pub_step / 2;
  if (i >= op->n_pub)
    {
      docker_finish_done (op, 0, NULL);
      return;
    }
  const struct docker_spec_net *net = &op->pub[i];
  cleanup_free char *e = dhttp_escape (net->name);
  if (op->pub_step % 2 == 0)
    {
      /* An endpoint's aliases are fixed when it joins: leave, then join
       * again with them. The container is not serving anyone yet. */
      cleanup_free char *path = xasprintf ("/networks/%s/disconnect", e);
      cleanup_jgen json_gen g = json_gen_new (false);
      json_gen_map_open (g);
      json_gen_kstr (g, "Container", op->new_id);
      json_gen_kbool (g, "Force", true);
      json_gen_map_close (g);
      cleanup_free char *body = json_gen_text (g);
      docker_op_send (op, "POST", path, body, 0, resp_publish);
      return;
    }
  cleanup_free char *path = xasprintf ("/networks/%s/connect", e);
  cleanup_free char *body = docker_spec_connect_body (net, op->new_id);
  docker_op_send (op, "POST", path, body, 0, resp_publish);
}

void
docker_publish (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "publish %s", id);
  op->cb.done = cb;
  op->new_id = xstrdup (id);
  lympho_error_t err = { 0 };
  if (docker_spec_plan (spec, NULL, &op->plan, &err) < 0
      || docker_spec_hide (&op->plan, &op->pub, &op->n_pub, &err) < 0)
    {
      docker_op_fail_later (op, &err, docker_resp_fail_done);
      return;
    }
  if (op->n_pub == 0)
    {
      lympho_error_t none = { 0 };
      docker_op_fail_later (op, &none, resp_publish_nothing);
      return;
    }
  publish_next (op);
}

