/* lympho — the Docker Engine backend (API 1.41 to 1.51, negotiated with the
 * engine: see "API version negotiation" below): its op plumbing, the
 * negotiation, open and close, and the ops tables. The same code is the
 * Podman backend (runtime_podman_ops, Podman's Docker-compatible API): what
 * Podman does differently is a struct docker_quirks chosen at open
 * (podman.c), so the two tables share every operation. The operations
 * themselves are in docker-containers.c, docker-create.c, docker-images.c
 * and docker-events.c (docker-int.h says which file owns what).
 *
 * Every operation is a struct op in flight: one or more engine requests,
 * then the caller's callback exactly once. Failures found before any request
 * is sent are delivered from a 0 ms loop timer, never from inside the call.
 * May call: docker-http, docker-version, docker-spec, the loop. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/config.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-int.h"
#include "docker-version.h"

static const struct docker_quirks docker_quirks = {
  .name = "docker",
  /* The engine runs ps on the host and keeps the container's rows; it needs
   * a PID column. args is the full command line. */
  .top_args = "-eo%20pid%2Cuser%2Cargs",
};

/* ---- op plumbing ---- */

struct op *
docker_op_new (struct runtime *rt, void *ud, int conflict, const char *fmt, ...)
{
  struct op *op = xmalloc0 (sizeof *op);
  op->rt = rt;
  op->ud = ud;
  op->conflict = conflict;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&op->what, fmt, ap) < 0)
    abort ();
  va_end (ap);
  LIST_INSERT_HEAD (&rt->ops, op, link);
  return op;
}

void
docker_op_unlink (struct op *op)
{
  LIST_UNLINK (op, link);
}

void
docker_op_free (struct op *op)
{
  dhttp_cancel (op->req);
  if (op->timer && op->rt)
    loop_cancel_timer (op->rt->loop, op->timer);
  docker_spec_plan_free (&op->plan);
  for (size_t i = 0; i < op->n_mounts; i++)
    free (op->mounts[i]);
  free (op->mounts);
  docker_spec_nets_free (op->pub, op->n_pub);
  free (op->park_path);
  free (op->park_body);
  free (op->new_id);
  free (op->new_name);
  free (op->ref);
  free (op->what);
  free (op);
}

static void
op_on_http (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct op *op = ud;
  op->req = NULL;
  op->resp (op, ret, err, status, body, len);
}

/* method: a string literal. Waits for the API version when it is not
 * negotiated yet. */
void
docker_op_send (struct op *op, const char *method, const char *path, const char *body, long timeout_ms, op_resp_fn resp)
{
  op->resp = resp;
  if (op->rt->api == 0)
    {
      op->parked = true;
      op->park_method = method;
      op->park_path = xstrdup (path);
      op->park_body = body ? xstrdup (body) : NULL;
      op->park_timeout_ms = timeout_ms;
      docker_negotiate (op->rt);
      return;
    }
  op->req = dhttp_request (op->rt->http, method, path, body, timeout_ms > 0 ? timeout_ms : op->rt->call_timeout_ms,
                           op_on_http, op);
}

static void
op_on_timer (struct loop *l, void *ud)
{
  struct op *op = ud;
  op->timer = 0;
  lympho_error_t err = op->later_err;
  op->resp (op, op->later_ret, &err, 0, "", 0);
}

/* Report a failure found before any request: from the loop, as promised. */
void
docker_op_fail_later (struct op *op, const lympho_error_t *err, op_resp_fn resp)
{
  op->resp = resp;
  op->later_err = *err;
  op->later_ret = err->status ? -err->status : -EIO;
  op->timer = loop_add_timer (op->rt->loop, 0, op_on_timer, op);
}

/* The answer's error, if any, with the op's context: ret < 0 from the
 * transfer, or a status outside 2xx (304 counts as success: "already"). */
int
docker_op_check (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                 lympho_error_t *out)
{
  if (ret < 0)
    {
      *out = *in;
      return lympho_error_prefix (out, "%s", op->what);
    }
  if ((status >= 200 && status < 300) || status == 304)
    return 0;
  if (status == 500 && op->rt->q->causes)
    {
      cleanup_json json_val v = NULL;
      lympho_error_t ignored = { 0 };
      const char *cause = json_parse (body, len, &v, &ignored) == 0 ? json_str (json_get (v, "cause")) : NULL;
      for (const struct docker_cause *c = op->rt->q->causes; cause && c->cause; c++)
        if (strcmp (cause, c->cause) == 0)
          status = c->status;
    }
  dhttp_status_error (status, body, len, op->conflict, out);
  return lympho_error_prefix (out, "%s", op->what);
}

/* Parse an answer that must be JSON. */
int
docker_op_parse (struct op *op, const char *body, size_t len, json_val *out, lympho_error_t *err)
{
  if (json_parse (body, len, out, err) < 0)
    return lympho_error_prefix (err, "%s: engine answer", op->what);
  return 0;
}

char *
docker_filtered_path (const char *path, const char *query, const char *key, const char *value)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_str (g, key);
  json_gen_array_open (g);
  json_gen_str (g, value);
  json_gen_array_close (g);
  json_gen_map_close (g);
  cleanup_free char *f = json_gen_text (g);
  cleanup_free char *fe = dhttp_escape (f);
  return xasprintf ("%s?%s%sfilters=%s", path, query ? query : "", query ? "&" : "", fe);
}

int
docker_op_answer (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                  json_val *tree, lympho_error_t *err)
{
  ret = docker_op_check (op, ret, in, status, body, len, err);
  if (ret == 0)
    ret = docker_op_parse (op, body, len, tree, err);
  return ret;
}

/* An answer that must be a JSON list (or null, where null_ok), into
 * *tree (the caller's to free). */
int
docker_op_list_answer (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                       bool null_ok, json_val *tree, lympho_error_t *err)
{
  ret = docker_op_answer (op, ret, in, status, body, len, tree, err);
  if (ret == 0 && !json_is_array (*tree) && !(null_ok && json_is_null (*tree)))
    ret = lympho_error_set (err, EIO, "%s: engine answer is not a list", op->what);
  return ret;
}

/* The "Id" of an answer that must carry one, pointing into *tree (the
 * parsed answer, the caller's to free). */
int
docker_op_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
              json_val *tree, const char **id, lympho_error_t *err)
{
  *id = NULL;
  ret = docker_op_answer (op, ret, in, status, body, len, tree, err);
  if (ret < 0)
    return ret;
  *id = json_str (json_get (*tree, "Id"));
  if (*id == NULL)
    return lympho_error_set (err, EIO, "%s: engine answer without an Id", op->what);
  return 0;
}

void
docker_resp_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  docker_op_unlink (op);
  op->cb.done (op->ud, ret, ret < 0 ? &err : NULL);
  docker_op_free (op);
}

void
docker_finish_id (struct op *op, int ret, const lympho_error_t *err, const char *id)
{
  docker_op_unlink (op);
  op->cb.id (op->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : id);
  docker_op_free (op);
}

/* A plain request whose answer only matters as success or failure. */
void
docker_simple (struct runtime *rt, const char *method, const char *path, const char *body, long timeout_ms,
               int conflict, const char *what, rt_done_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, conflict, "%s", what);
  op->cb.done = cb;
  docker_op_send (op, method, path, body, timeout_ms, docker_resp_done);
}

char *
docker_container_path (const char *ref, const char *suffix)
{
  cleanup_free char *e = dhttp_escape (ref);
  return xasprintf ("/containers/%s%s", e, suffix);
}

void
docker_resp_fail_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = *in;
  lympho_error_prefix (&err, "%s", op->what);
  docker_finish_id (op, ret, &err, NULL);
}

void
docker_finish_done (struct op *op, int ret, const lympho_error_t *err)
{
  docker_op_unlink (op);
  op->cb.done (op->ud, ret, ret < 0 ? err : NULL);
  docker_op_free (op);
}

void
docker_resp_fail_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = *in;
  lympho_error_prefix (&err, "%s", op->what);
  docker_finish_done (op, ret, &err);
}

/* ---- API version negotiation ----
 * As Docker's own client does it: before the first request on a connection
 * to the engine, GET /_ping (its Api-Version header: the engine's newest
 * API) and GET /version (MinAPIVersion: its oldest; the engine's name and
 * version), both below no version prefix, which every engine answers; then
 * every request goes under the newest version both sides speak
 * (docker-version.h), or DOCKER_API_VERSION's where the operator pinned one.
 * Operations started meanwhile wait (op->parked) and fail with the
 * negotiation's error when it fails. The event stream negotiates again each
 * time it reconnects after the engine was away: an engine may come back
 * upgraded.
 *
 * An engine that answers but cannot be used (no version fits, not a Docker
 * API, permission denied on the socket) is refused: one error line for each
 * different reason, kept for engine_info (lymphctl status, /healthz, the
 * service's STATUS=), and tried again at the event stream's backoff, so that
 * fixing the engine is enough. An engine that does not answer is only
 * unreachable: a warning, once for each different reason. */

#define NEGOTIATE_TIMEOUT_MS 10000

/* Record why the engine cannot be used; true when that is news. */
static bool
set_problem (struct runtime *rt, const char *problem, bool refused)
{
  if (problem && rt->problem && strcmp (problem, rt->problem) == 0 && refused == rt->refused)
    return false;
  if (problem == NULL && rt->problem == NULL)
    return false;
  free (rt->problem);
  rt->problem = problem ? xstrdup (problem) : NULL;
  rt->refused = problem && refused;
  if (problem && refused)
    log_error ("%s: cannot use the engine: %s", rt->q->name, problem);
  else if (problem)
    log_warn ("%s: engine unreachable: %s; retrying", rt->q->name, problem);
  return true;
}

/* The parked operations, oldest first; the caller frees the array. */
static struct op **
parked_ops (struct runtime *rt, size_t *n)
{
  size_t count = 0;
  struct op *op;
  LIST_FOREACH (op, &rt->ops, link)
    count += op->parked;
  struct op **v = xmalloc0 ((count + 1) * sizeof *v);
  size_t i = count;
  LIST_FOREACH (op, &rt->ops, link)
    if (op->parked)
      v[--i] = op; /* rt->ops is newest first */
  *n = count;
  return v;
}

static void
negotiation_failed (struct runtime *rt, lympho_error_t *err, bool refused)
{
  bool changed = set_problem (rt, err->msg, refused);
  size_t n;
  cleanup_free struct op **v = parked_ops (rt, &n);
  for (size_t i = 0; i < n; i++)
    v[i]->parked = false;
  /* The callbacks may start (and park) new operations, or close the
   * runtime (which frees the ops not failed yet; the free of rt waits for
   * the stretch to end). */
  rt_stream_enter (&rt->s);
  for (size_t i = 0; i < n && !rt->s.closed; i++)
    {
      struct op *op = v[i];
      lympho_error_t e = *err;
      op->resp (op, -(err->status ? err->status : EIO), &e, 0, "", 0);
    }
  if (!rt_stream_leave (&rt->s))
    return;
  if (rt->events_wait)
    {
      rt->events_wait = false;
      docker_events_down (rt, err, changed);
    }
}

static void
negotiated (struct runtime *rt)
{
  set_problem (rt, NULL, false);
  size_t n;
  cleanup_free struct op **v = parked_ops (rt, &n);
  for (size_t i = 0; i < n; i++)
    {
      struct op *op = v[i];
      op->parked = false;
      docker_op_send (op, op->park_method, op->park_path, op->park_body, op->park_timeout_ms, op->resp);
    }
  if (rt->events_wait)
    {
      rt->events_wait = false;
      docker_events_connect (rt);
    }
}

/* The end of a negotiation request: true when it could not be done (and
 * the negotiation failed). A socket lymphd's user may not open is a
 * refusal, other transfer failures leave the engine unreachable. */
static bool
negotiation_transfer_failed (struct runtime *rt, int ret, const lympho_error_t *in)
{
  rt->neg_req = NULL;
  if (ret >= 0)
    return false;
  lympho_error_t err = *in;
  negotiation_failed (rt, &err, err.status == EACCES);
  return true;
}

static void
on_version (void *ud, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  struct runtime *rt = ud;
  if (negotiation_transfer_failed (rt, ret, in))
    return;
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  if (status != 200 || json_parse (body, len, &v, &err) < 0 || !json_is_object (v))
    {
      lympho_error_set (&err, EPROTONOSUPPORT,
                        "not a Docker Engine API at %s: GET /version answered %ld without the engine's versions; "
                        "point --docker-host at the engine's socket",
                        rt->endpoint, status);
      negotiation_failed (rt, &err, true);
      return;
    }
  int max = rt->engine_max > 0 ? rt->engine_max : docker_api_parse (json_str (json_get (v, "ApiVersion")));
  int min = docker_api_parse (json_str (json_get (v, "MinAPIVersion")));
  rt->engine_max = max > 0 ? max : 0;
  rt->engine_min = min > 0 ? min : 0;
  free (rt->engine_version);
  const char *version = json_str (json_get (v, "Version"));
  rt->engine_version = version ? xstrndup (version, 64) : NULL;
  free (rt->engine_product);
  /* Podman names itself among the components (its Platform.Name is the
   * host's "linux/amd64/debian-12"); Docker in Platform.Name, which
   * Debian's builds leave empty. */
  const char *product = NULL;
  json_val comps = json_get (v, "Components");
  for (size_t i = 0; product == NULL && i < json_arr_len (comps); i++)
    {
      const char *name = json_str (json_get (json_arr_at (comps, i), "Name"));
      if (name && strcmp (name, "Podman Engine") == 0)
        product = name;
    }
  if (product == NULL)
    product = json_str (json_path (v, "Platform", "Name", NULL));
  rt->engine_product = xstrndup (product && product[0] ? product : "Docker Engine", 64);
  int api = docker_api_choose (rt->engine_min, rt->engine_max, rt->api_pinned, &err);
  char min_text[16], max_text[16], api_text[16];
  const char *engine_min = rt->engine_min ? docker_api_text (rt->engine_min, min_text) : "?";
  const char *engine_max = rt->engine_max ? docker_api_text (rt->engine_max, max_text) : "?";
  if (api < 0)
    {
      lympho_error_prefix (&err, "%s %s (API %s to %s)", rt->engine_product,
                           rt->engine_version ? rt->engine_version : "?", engine_min, engine_max);
      negotiation_failed (rt, &err, true);
      return;
    }
  bool news = api != rt->api;
  rt->api = api;
  dhttp_set_api_version (rt->http, docker_api_text (api, api_text));
  if (news)
    log_info ("%s: %s %s serves API %s to %s: speaking %s%s", rt->q->name, rt->engine_product,
              rt->engine_version ? rt->engine_version : "?", engine_min, engine_max, api_text,
              rt->api_pinned ? " (DOCKER_API_VERSION)" : "");
  negotiated (rt);
}

static void
on_ping (void *ud, int ret, const lympho_error_t *in, long status, const char *api_version, const char *body,
         size_t len)
{
  struct runtime *rt = ud;
  if (negotiation_transfer_failed (rt, ret, in))
    return;
  lympho_error_t err = { 0 };
  if (status != 200 || len < 2 || strncmp (body, "OK", 2) != 0)
    {
      lympho_error_set (&err, EPROTONOSUPPORT,
                        "not a Docker Engine API at %s: GET /_ping answered %ld%s; point --docker-host at the "
                        "engine's socket",
                        rt->endpoint, status, status == 200 ? " without OK" : "");
      negotiation_failed (rt, &err, true);
      return;
    }
  int max = docker_api_parse (api_version);
  rt->engine_max = max > 0 ? max : 0;
  rt->neg_req = dhttp_get_unversioned (rt->http, "/version", NEGOTIATE_TIMEOUT_MS, on_version, rt);
}

void
docker_negotiate (struct runtime *rt)
{
  if (rt->neg_req)
    return;
  rt->engine_max = 0;
  rt->neg_req = dhttp_ping (rt->http, NEGOTIATE_TIMEOUT_MS, on_ping, rt);
}

static void
docker_engine_info (struct runtime *rt, struct rt_engine_info *out)
{
  memset (out, 0, sizeof *out);
  out->product = rt->engine_product;
  out->version = rt->engine_version;
  out->api_version = rt->api ? docker_api_text (rt->api, rt->info_text[0]) : NULL;
  out->api_min = rt->engine_min ? docker_api_text (rt->engine_min, rt->info_text[1]) : NULL;
  out->api_max = rt->engine_max ? docker_api_text (rt->engine_max, rt->info_text[2]) : NULL;
  out->problem = rt->problem;
  out->refused = rt->refused;
}
/* ---- open, close ---- */

static int
open_with (const struct docker_quirks *q, struct loop *loop, const char *endpoint, struct runtime **out,
           lympho_error_t *err)
{
  /* The configuration falls back to Docker's socket when no endpoint was
   * given; another engine has its own default. */
  if (q->default_endpoint && strcmp (endpoint, DEFAULT_DOCKER_HOST) == 0)
    endpoint = q->default_endpoint;
  /* As Docker's client: DOCKER_API_VERSION pins the version, empty is unset. */
  const char *pin = getenv ("DOCKER_API_VERSION");
  int pinned = 0;
  if (pin && pin[0])
    {
      pinned = docker_api_parse (pin);
      if (pinned < DOCKER_API_MIN || pinned > DOCKER_API_MAX)
        {
          char a[16], b[16];
          return lympho_error_set (err, EINVAL, "DOCKER_API_VERSION=%s: lympho speaks API %s to %s", pin,
                                   docker_api_text (DOCKER_API_MIN, a), docker_api_text (DOCKER_API_MAX, b));
        }
    }
  /* How long a call without a limit of its own may hang: the engine's
   * answer to a create, an inspect, a list. */
  long call_ms = DHTTP_DEFAULT_TIMEOUT_MS;
  const char *tmo = getenv ("LYMPHO_ENGINE_TIMEOUT_MS");
  if (tmo && tmo[0])
    {
      char *end;
      errno = 0;
      unsigned long long v = strtoull (tmo, &end, 10);
      if (errno || *end || tmo[0] == '-' || v < 100 || v > 600000)
        return lympho_error_set (err, EINVAL, "LYMPHO_ENGINE_TIMEOUT_MS=%s: a number of milliseconds from 100 to 600000",
                                 tmo);
      call_ms = (long) v;
    }
  struct runtime *rt = xmalloc0 (sizeof *rt);
  rt->q = q;
  rt->loop = loop;
  rt->api_pinned = pinned;
  rt->call_timeout_ms = call_ms;
  rt->endpoint = xstrdup (endpoint);
  docker_events_init (rt);
  buf_init (&rt->ev_line);
  int ret = dhttp_new (loop, endpoint, &rt->http, err);
  if (ret < 0)
    {
      free (rt->endpoint);
      free (rt);
      return ret;
    }
  *out = rt;
  return 0;
}

static int
docker_open (struct loop *loop, const char *endpoint, struct runtime **out, lympho_error_t *err)
{
  return open_with (&docker_quirks, loop, endpoint, out, err);
}

static int
podman_open (struct loop *loop, const char *endpoint, struct runtime **out, lympho_error_t *err)
{
  return open_with (&podman_quirks, loop, endpoint, out, err);
}

static void
docker_close (struct runtime *rt)
{
  if (rt == NULL || rt->s.closed)
    return;
  while (!LIST_EMPTY (&rt->ops))
    {
      struct op *op = LIST_FIRST (&rt->ops);
      docker_op_unlink (op);
      docker_op_free (op);
    }
  dhttp_cancel (rt->ev_req);
  rt->ev_req = NULL;
  podman_close (rt);
  buf_free (&rt->ev_line);
  dhttp_cancel (rt->neg_req);
  rt->neg_req = NULL;
  free (rt->problem);
  free (rt->endpoint);
  free (rt->engine_product);
  free (rt->engine_version);
  dhttp_free (rt->http);
  rt->http = NULL;
  if (rt_stream_close (&rt->s))
    free (rt);
}

/* Every operation but open is shared: the quirks chosen at open make the
 * difference between the engines. */
#define DOCKER_COMPATIBLE_OPS                                                                                \
  .close = docker_close, .ping = docker_ping, .list = docker_list, .inspect = docker_inspect,                \
  .snapshot = docker_snapshot, .create = docker_create, .create_hidden = docker_create_hidden,              \
  .publish = docker_publish, .start = docker_start, .stop = docker_stop, .kill = docker_kill,               \
  .remove = docker_remove, .rename = docker_rename, .pause = docker_pause, .unpause = docker_unpause,       \
  .image_inspect = docker_image_inspect, .image_tag = docker_image_tag, .image_remove = docker_image_remove, \
  .image_tags = docker_image_tags, .commit = docker_commit, .changes = docker_changes, .layer_size = docker_layer_size, .top = docker_top,                                    \
  .network_disconnect = docker_network_disconnect, .subscribe = docker_subscribe,                            \
  .engine_info = docker_engine_info

const struct runtime_ops runtime_docker_ops = {
  .name = "docker",
  .open = docker_open,
  DOCKER_COMPATIBLE_OPS,
  /* Podman has no swarm. */
  .service_inspect = docker_service_inspect,
  .service_list = docker_service_list,
  .service_force_update = docker_service_force_update,
};

/* Podman's Docker-compatible API (`podman system service`). */
const struct runtime_ops runtime_podman_ops = {
  .name = "podman",
  .open = podman_open,
  DOCKER_COMPATIBLE_OPS,
};
