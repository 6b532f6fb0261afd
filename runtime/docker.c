/* lympho — the Docker Engine backend (API 1.41 to 1.51, negotiated with the
 * engine: see "API version negotiation" below): runtime_ops over
 * docker-http, with the create specification from docker-spec. The same code
 * is the Podman backend (runtime_podman_ops, Podman's Docker-compatible API):
 * what Podman does differently is a struct docker_quirks chosen at open, so
 * the two tables share every operation.
 *
 * Every operation is a struct op in flight: one or more engine requests,
 * then the caller's callback exactly once. Failures found before any request
 * is sent are delivered from a 0 ms loop timer, never from inside the call. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lympho/config.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-http.h"
#include "docker-spec.h"
#include "docker-version.h"

#define EVENTS_BACKOFF_MIN_MS 100
#define EVENTS_BACKOFF_MAX_MS 5000
#define EVENTS_MAX_LINE (1u << 20)

struct docker_cause
{
  const char *cause;
  long status;
};

/* What sets an engine that speaks the Docker API apart from Docker. */
struct docker_quirks
{
  const char *name;             /* in log lines */
  const char *default_endpoint; /* taken instead of DEFAULT_DOCKER_HOST; NULL: as given */
  /* Create bodies go through docker_spec_podman_create: ulimits named as
   * Podman parses them, nofile/nproc added where the spec has none. */
  bool podman_create;
  /* The event stream ends by itself now and then while the engine is fine:
   * reconnect quietly while /_ping answers. */
  bool stream_ends;
  /* Inspect answers are translated with DOCKER_SPEC_PODMAN. */
  bool podman_inspect;
  /* Some answers come as 500 with a "cause": {cause, status}, NULL-ended. */
  const struct docker_cause *causes;
  /* Image ids may come without "sha256:" (Podman's /commit). */
  bool bare_image_ids;
  /* /commit ignores the body's Labels: pass them as changes=LABEL. */
  bool commit_label_changes;
  /* Event actions renamed to Docker's: pairs of {theirs, ours}, NULL-ended. */
  const char *const (*actions)[2];
  /* /changes lists the directories it made mount points in (/etc for
   * hosts and resolv.conf, every mount's destination) as added or changed;
   * Docker keeps those in a hidden init layer. Drop the container's mount
   * destinations (inspected first), and 'C' entries with nothing listed
   * below them: a real change inside a directory is listed itself. */
  bool changes_lone_dirs;
  /* ps_args of /top (escaped), giving a host PID column. */
  const char *top_args;
  /* Healthchecks run only where a systemd timer runs them: the backend runs
   * each running container's check itself (libpod's healthcheck route) at
   * its interval, and the engine's "health_status" events, which carry the
   * status apart from the action, become Docker's "health_status: X" on a
   * change. See "Podman: healthchecks" below. */
  bool run_healthchecks;
  /* An operator's stop has no "stop" event: a death is held until what
   * follows tells a stop from a crash. See "Podman: unannounced deaths". */
  bool unannounced_deaths;
  /* Stopping a paused container is refused (state improper): kill it. */
  bool stop_paused_kills;
  /* The compat API takes every field it knows whatever the version in the
   * path: nothing is dropped for being newer than the version spoken
   * (Podman 5 shows HostConfig.Annotations, of API 1.43, while it serves
   * 1.41 at most, and keeps them at create). */
  bool fields_unversioned;
};

static const struct docker_cause podman_causes[] = {
  { "container state improper", 409 }, { "that name is already in use", 409 },
  { "container already exists", 409 }, { "no such container", 404 }, { NULL, 0 },
};

static const char *const podman_actions[][2] = { { "died", "die" }, { "remove", "destroy" },
                                                  { "exec_died", "exec_die" }, { NULL, NULL } };

static const struct docker_quirks docker_quirks = {
  .name = "docker",
  /* The engine runs ps on the host and keeps the container's rows; it needs
   * a PID column. args is the full command line. */
  .top_args = "-eo%20pid%2Cuser%2Cargs",
};

/* Podman 4.3 (Debian 12), from ../shared/ENGINE.md and what its compat API
 * answers here. */
static const struct docker_quirks podman_quirks = {
  .name = "podman",
  .default_endpoint = "unix:///run/podman/podman.sock",
  /* Podman hands runc the rlimits of its own process unless told; on these
   * machines (containers, reduced hard limits) runc then fails with "error
   * setting rlimits". Docker takes dockerd's, which work. */
  .podman_create = true,
  .stream_ends = true,
  .podman_inspect = true,
  .causes = podman_causes,
  .bare_image_ids = true,
  .commit_label_changes = true,
  .changes_lone_dirs = true,
  .actions = podman_actions,
  /* Podman's top takes ps(1)-like descriptors, not ps options ("-eo ..."
   * answers 200 with an empty body); hpid is the host's PID, like Docker's. */
  .top_args = "hpid%2Cuser%2Cargs",
  .run_healthchecks = true,
  .unannounced_deaths = true,
  .stop_paused_kills = true,
  .fields_unversioned = true,
};

struct op;
typedef void (*op_resp_fn) (struct op *op, int ret, const lympho_error_t *err, long status, const char *body,
                            size_t len);

struct runtime
{
  const struct docker_quirks *q;
  struct loop *loop;
  struct dhttp *http;
  struct op *ops;

  /* The API version (see "API version negotiation"). */
  int api;                   /* spoken now; 0 until negotiated */
  int api_pinned;            /* DOCKER_API_VERSION, 0 when unset */
  int engine_min, engine_max;
  char info_text[3][16];     /* engine_info's answers */
  char *engine_product, *engine_version;
  struct dhttp_req *neg_req; /* a negotiation in flight */
  bool events_wait;          /* the event stream waits for it */
  char *problem;             /* why the engine cannot be used; NULL when it can */
  char *endpoint;            /* as lymphd was told it */
  bool refused;

  /* The event stream. */
  bool subscribed;
  rt_event_cb ev_cb;
  rt_conn_cb conn_cb;
  void *ev_ud;
  struct dhttp_req *ev_req;
  uint64_t ev_timer;
  uint64_t backoff_ms;
  int conn_state;       /* -1 not reported yet, 0 down, 1 up */
  uint64_t last_nano;   /* newest event delivered */
  uint64_t open_nano;   /* realtime when the stream last opened (stream_ends) */
  uint64_t open_ms;     /* monotonic, the same */
  uint64_t replay_upto; /* after a reconnect, skip what was delivered already */
  struct buf ev_line;
  int cb_depth;         /* inside core callbacks: close() defers the free (cb_leave) */
  bool closed;

  /* run_healthchecks */
  struct hc *hcs;
  size_t n_hcs;
  struct dhttp_req *hc_list_req;
  /* unannounced_deaths */
  struct held *helds;
  size_t n_helds;
  struct announced
  {
    char id[72];
    uint64_t mono;
  } announced[32];
  size_t announced_next;
};

struct op
{
  struct runtime *rt;
  struct op *prev, *next;
  op_resp_fn resp;
  union
  {
    rt_done_cb done;
    rt_id_cb id;
    rt_container_cb container;
    rt_list_cb list;
    rt_snapshot_cb snapshot;
    rt_changes_cb changes;
    rt_top_cb top;
  } cb;
  void *ud;
  char *what;            /* context of error messages: "start web" */
  int conflict;          /* errno for a 409 */
  struct dhttp_req *req;
  uint64_t timer;
  int later_ret;
  lympho_error_t later_err;
  /* Waiting for the negotiation: the request to send after it. method is
   * a string literal. */
  bool parked;
  const char *park_method;
  char *park_path, *park_body;
  long park_timeout_ms;

  /* changes (changes_lone_dirs): the mount destinations */
  char **mounts;
  size_t n_mounts;

  /* create, publish */
  struct docker_spec_plan plan;
  size_t net_i;
  char *new_id, *new_name;
  bool by_ref; /* created from plan.image_ref: verify the image */
  struct docker_spec_net *pub;
  size_t n_pub, pub_step;
  int first_ret;
  lympho_error_t first_err;
};

/* ---- op plumbing ---- */

static struct op *
op_new (struct runtime *rt, void *ud, int conflict, const char *fmt, ...) LYMPHO_PRINTF (4, 5);

static struct op *
op_new (struct runtime *rt, void *ud, int conflict, const char *fmt, ...)
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
  op->next = rt->ops;
  if (rt->ops)
    rt->ops->prev = op;
  rt->ops = op;
  return op;
}

static void
op_unlink (struct op *op)
{
  if (op->rt == NULL)
    return;
  if (op->prev)
    op->prev->next = op->next;
  else
    op->rt->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->prev = op->next = NULL;
}

static void
op_free (struct op *op)
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

static void negotiate (struct runtime *rt);

/* method: a string literal. Waits for the API version when it is not
 * negotiated yet. */
static void
op_send (struct op *op, const char *method, const char *path, const char *body, long timeout_ms, op_resp_fn resp)
{
  op->resp = resp;
  if (op->rt->api == 0)
    {
      op->parked = true;
      op->park_method = method;
      op->park_path = xstrdup (path);
      op->park_body = body ? xstrdup (body) : NULL;
      op->park_timeout_ms = timeout_ms;
      negotiate (op->rt);
      return;
    }
  op->req = dhttp_request (op->rt->http, method, path, body, timeout_ms > 0 ? timeout_ms : DHTTP_DEFAULT_TIMEOUT_MS,
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
static void
op_fail_later (struct op *op, const lympho_error_t *err, op_resp_fn resp)
{
  op->resp = resp;
  op->later_err = *err;
  op->later_ret = err->status ? -err->status : -EIO;
  op->timer = loop_add_timer (op->rt->loop, 0, op_on_timer, op);
}

/* The answer's error, if any, with the op's context: ret < 0 from the
 * transfer, or a status outside 2xx (304 counts as success: "already"). */
static int
op_check (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
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
      cleanup_json yajl_val v = NULL;
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
static int
op_parse (struct op *op, const char *body, size_t len, yajl_val *out, lympho_error_t *err)
{
  if (json_parse (body, len, out, err) < 0)
    return lympho_error_prefix (err, "%s: engine answer", op->what);
  return 0;
}

static void
resp_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  op_unlink (op);
  op->cb.done (op->ud, ret, ret < 0 ? &err : NULL);
  op_free (op);
}

static void
finish_id (struct op *op, int ret, const lympho_error_t *err, const char *id)
{
  op_unlink (op);
  op->cb.id (op->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : id);
  op_free (op);
}

/* A plain request whose answer only matters as success or failure. */
static void
simple (struct runtime *rt, const char *method, const char *path, const char *body, long timeout_ms, int conflict,
        const char *what, rt_done_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, conflict, "%s", what);
  op->cb.done = cb;
  op_send (op, method, path, body, timeout_ms, resp_done);
}

/* Leave a stretch of core callbacks entered with rt->cb_depth++. False when
 * one of them closed the runtime (freed here once the outermost stretch
 * ends): the caller touches rt no more. */
static bool
cb_leave (struct runtime *rt)
{
  rt->cb_depth--;
  if (!rt->closed)
    return true;
  if (rt->cb_depth == 0)
    free (rt);
  return false;
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

static void events_connect (struct runtime *rt);
static void events_down (struct runtime *rt, const lympho_error_t *e, bool problem_changed);

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
  for (struct op *op = rt->ops; op; op = op->next)
    count += op->parked;
  struct op **v = xmalloc0 ((count + 1) * sizeof *v);
  size_t i = count;
  for (struct op *op = rt->ops; op; op = op->next)
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
   * cb_depth). */
  rt->cb_depth++;
  for (size_t i = 0; i < n && !rt->closed; i++)
    {
      struct op *op = v[i];
      lympho_error_t e = *err;
      op->resp (op, -(err->status ? err->status : EIO), &e, 0, "", 0);
    }
  if (!cb_leave (rt))
    return;
  if (rt->events_wait)
    {
      rt->events_wait = false;
      events_down (rt, err, changed);
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
      op_send (op, op->park_method, op->park_path, op->park_body, op->park_timeout_ms, op->resp);
    }
  if (rt->events_wait)
    {
      rt->events_wait = false;
      events_connect (rt);
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
  cleanup_json yajl_val v = NULL;
  if (status != 200 || json_parse (body, len, &v, &err) < 0 || !YAJL_IS_OBJECT (v))
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
  yajl_val comps = json_get (v, "Components");
  for (size_t i = 0; product == NULL && i < json_arr_len (comps); i++)
    {
      const char *name = json_str (json_get (comps->u.array.values[i], "Name"));
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

static void
negotiate (struct runtime *rt)
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

/* ---- parsing engine objects ---- */

static enum rt_state
parse_state (const char *s)
{
  static const struct
  {
    const char *name;
    enum rt_state st;
  } map[] = { { "created", RT_STATE_CREATED }, { "running", RT_STATE_RUNNING }, { "paused", RT_STATE_PAUSED },
              { "restarting", RT_STATE_RESTARTING }, { "removing", RT_STATE_REMOVING },
              { "exited", RT_STATE_EXITED }, { "dead", RT_STATE_DEAD } };
  for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++)
    if (strcmp (s, map[i].name) == 0)
      return map[i].st;
  return RT_STATE_UNKNOWN;
}

static enum rt_health
parse_health (const char *s)
{
  if (s == NULL)
    return RT_HEALTH_NONE;
  if (strcmp (s, "starting") == 0)
    return RT_HEALTH_STARTING;
  if (strcmp (s, "healthy") == 0)
    return RT_HEALTH_HEALTHY;
  if (strcmp (s, "unhealthy") == 0)
    return RT_HEALTH_UNHEALTHY;
  return RT_HEALTH_NONE;
}

/* RFC 3339 as the engine writes it ("2024-05-01T10:00:00.123456789Z"),
 * to realtime ms; 0 for the zero time or anything unparsable. */
static uint64_t
parse_time_ms (const char *s)
{
  struct tm tm = { 0 };
  int n = 0;
  if (s == NULL
      || sscanf (s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                 &tm.tm_sec, &n)
             != 6
      || tm.tm_year < 1970)
    return 0;
  const char *p = s + n;
  uint64_t ms = 0;
  if (*p == '.')
    {
      int digits = 0;
      for (p++; *p >= '0' && *p <= '9'; p++)
        if (digits++ < 3)
          ms = ms * 10 + (uint64_t) (*p - '0');
      for (; digits < 3; digits++)
        ms *= 10;
    }
  long off = 0;
  if (*p == '+' || *p == '-')
    {
      int hh = 0, mm = 0;
      if (sscanf (p + 1, "%2d:%2d", &hh, &mm) != 2)
        return 0;
      off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
    }
  else if (*p != 'Z')
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm (&tm);
  if (t == (time_t) -1)
    return 0;
  return (uint64_t) (t - off) * 1000 + ms;
}

static void
parse_labels (yajl_val obj, struct rt_labels *out)
{
  for (size_t i = 0; i < json_obj_len (obj); i++)
    {
      const char *v = json_str (obj->u.object.values[i]);
      if (v)
        rt_labels_set (out, obj->u.object.keys[i], v);
    }
}

static int
parse_inspect (yajl_val v, struct rt_container *c, lympho_error_t *err)
{
  memset (c, 0, sizeof *c);
  const char *id = json_str (json_get (v, "Id"));
  const char *name = json_str (json_get (v, "Name"));
  yajl_val state = json_get (v, "State");
  if (id == NULL || name == NULL || state == NULL || !YAJL_IS_OBJECT (state))
    return lympho_error_set (err, EINVAL, "malformed inspect answer");
  c->id = xstrdup (id);
  c->name = xstrdup (name[0] == '/' ? name + 1 : name);
  c->image_id = xstrdup (json_str (json_get (v, "Image")));
  c->state = parse_state (json_str (json_get (state, "Status")));
  c->health = parse_health (json_str (json_path (state, "Health", "Status", NULL)));
  parse_labels (json_path (v, "Config", "Labels", NULL), &c->labels);
  int64_t n;
  c->pid = json_as_int64 (json_get (state, "Pid"), &n) ? (int) n : 0;
  c->exit_code = json_as_int64 (json_get (state, "ExitCode"), &n) ? (int) n : 0;
  c->oom_killed = json_is_true (json_get (state, "OOMKilled"));
  c->started_at_ms = parse_time_ms (json_str (json_get (state, "StartedAt")));
  yajl_val nets = json_path (v, "NetworkSettings", "Networks", NULL);
  for (size_t i = 0; i < json_obj_len (nets); i++)
    {
      c->networks = xrealloc (c->networks, (c->n_networks + 1) * sizeof *c->networks);
      c->networks[c->n_networks++] = xstrdup (nets->u.object.keys[i]);
    }
  yajl_val mounts = json_get (v, "Mounts");
  for (size_t i = 0; i < json_arr_len (mounts); i++)
    {
      const char *dst = json_str (json_get (mounts->u.array.values[i], "Destination"));
      if (dst == NULL)
        continue;
      c->mounts = xrealloc (c->mounts, (c->n_mounts + 1) * sizeof *c->mounts);
      c->mounts[c->n_mounts++] = xstrdup (dst);
    }
  /* tmpfs mounts are listed in HostConfig only. */
  yajl_val tmpfs = json_path (v, "HostConfig", "Tmpfs", NULL);
  for (size_t i = 0; i < json_obj_len (tmpfs); i++)
    {
      c->mounts = xrealloc (c->mounts, (c->n_mounts + 1) * sizeof *c->mounts);
      c->mounts[c->n_mounts++] = xstrdup (tmpfs->u.object.keys[i]);
    }
  return 0;
}

/* ---- ping, list, inspect, snapshot ---- */

static void
docker_ping (struct runtime *rt, rt_done_cb cb, void *ud)
{
  simple (rt, "GET", "/_ping", NULL, 10000, EBUSY, "ping engine", cb, ud);
}

static void
resp_list (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  struct rt_container *cs = NULL;
  size_t n = 0;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  if (ret == 0 && !YAJL_IS_ARRAY (v))
    ret = lympho_error_set (&err, EIO, "%s: engine answer is not a list", op->what);
  if (ret == 0)
    {
      cs = xmalloc0 ((v->u.array.len + 1) * sizeof *cs);
      for (size_t i = 0; i < v->u.array.len; i++)
        {
          yajl_val e = v->u.array.values[i];
          const char *id = json_str (json_get (e, "Id"));
          if (id == NULL)
            continue;
          struct rt_container *c = &cs[n++];
          c->id = xstrdup (id);
          /* Names also lists legacy link names ("/other/alias"); the
           * container's own is the one without a second slash. */
          yajl_val names = json_get (e, "Names");
          for (size_t j = 0; j < json_arr_len (names) && c->name == NULL; j++)
            {
              const char *nm = json_str (names->u.array.values[j]);
              if (nm && strchr (nm + 1, '/') == NULL)
                c->name = xstrdup (nm[0] == '/' ? nm + 1 : nm);
            }
          c->image_id = xstrdup (json_str (json_get (e, "ImageID")));
          c->state = parse_state (json_str (json_get (e, "State")));
          parse_labels (json_get (e, "Labels"), &c->labels);
        }
    }
  op_unlink (op);
  op->cb.list (op->ud, ret, ret < 0 ? &err : NULL, cs, n);
  for (size_t i = 0; i < n; i++)
    rt_container_free (&cs[i]);
  free (cs);
  op_free (op);
}

static void
docker_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "list containers");
  op->cb.list = cb;
  cleanup_free char *path = NULL;
  if (label_filter)
    {
      cleanup_jgen yajl_gen g = json_gen_new (false);
      yajl_gen_map_open (g);
      json_gen_str (g, "label");
      yajl_gen_array_open (g);
      json_gen_str (g, label_filter);
      yajl_gen_array_close (g);
      yajl_gen_map_close (g);
      cleanup_free char *f = json_gen_text (g);
      cleanup_free char *fe = dhttp_escape (f);
      path = xasprintf ("/containers/json?all=1&filters=%s", fe);
    }
  else
    path = xstrdup ("/containers/json?all=1");
  op_send (op, "GET", path, NULL, 0, resp_list);
}

static void
resp_inspect (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  struct rt_container c = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  if (ret == 0 && parse_inspect (v, &c, &err) < 0)
    ret = lympho_error_prefix (&err, "%s", op->what);
  op_unlink (op);
  op->cb.container (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? NULL : &c);
  rt_container_free (&c);
  op_free (op);
}

static char *
container_path (const char *ref, const char *suffix)
{
  cleanup_free char *e = dhttp_escape (ref);
  return xasprintf ("/containers/%s%s", e, suffix);
}

static void
docker_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "inspect %s", ref);
  op->cb.container = cb;
  cleanup_free char *path = container_path (ref, "/json");
  op_send (op, "GET", path, NULL, 0, resp_inspect);
}

static void
resp_snapshot (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  struct rt_snapshot s = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  enum docker_spec_dialect d = op->rt->q->podman_inspect ? DOCKER_SPEC_PODMAN : DOCKER_SPEC_DOCKER;
  if (ret == 0 && docker_spec_from_inspect_as (d, body, len, &s, &err) < 0)
    ret = lympho_error_prefix (&err, "%s", op->what);
  op_unlink (op);
  op->cb.snapshot (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? NULL : &s);
  rt_snapshot_free (&s);
  op_free (op);
}

static void
docker_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "snapshot %s", ref);
  op->cb.snapshot = cb;
  cleanup_free char *path = container_path (ref, "/json");
  op_send (op, "GET", path, NULL, 0, resp_snapshot);
}

/* ---- create: create, connect the further networks, or undo ---- */

static void create_connect_next (struct op *op);

static void
resp_create_undone (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  if (ret < 0 || (status >= 300 && status != 404))
    log_warn ("%s: %s: could not remove the half-made container %s", op->rt->q->name, op->what, op->new_id);
  lympho_error_t err = op->first_err;
  finish_id (op, op->first_ret, &err, NULL);
}

static void
create_undo (struct op *op, int ret, const lympho_error_t *err)
{
  op->first_ret = ret;
  op->first_err = *err;
  /* Not v=1: the volumes are the protected container's, attached by name. */
  cleanup_free char *path = container_path (op->new_id, "?force=1");
  op_send (op, "DELETE", path, NULL, 0, resp_create_undone);
}

static void
resp_create_connected (struct op *op, int ret, const lympho_error_t *in, long status, const char *body,
                       size_t len)
{
  lympho_error_t err = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
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
      finish_id (op, 0, NULL, id);
      return;
    }
  const struct docker_spec_net *net = &op->plan.nets[op->net_i];
  cleanup_free char *e = dhttp_escape (net->name);
  cleanup_free char *path = xasprintf ("/networks/%s/connect", e);
  cleanup_free char *body = docker_spec_connect_body (net, op->new_id);
  op_send (op, "POST", path, body, 0, resp_create_connected);
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
      finish_id (op, -EIO, &err, NULL);
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
  cleanup_json yajl_val v = NULL;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
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
  cleanup_free char *path = container_path (op->new_id, "?force=1");
  op_send (op, "DELETE", path, NULL, 0, resp_create_ref_undone);
}

static void
resp_create (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  const char *id = json_str (json_get (v, "Id"));
  if (ret == 0 && id == NULL)
    ret = lympho_error_set (&err, EIO, "%s: engine answer without an Id", op->what);
  if (ret < 0)
    {
      finish_id (op, ret, &err, NULL);
      return;
    }
  op->new_id = xstrdup (id);
  if (op->by_ref)
    {
      cleanup_free char *path = container_path (op->new_id, "/json");
      op_send (op, "GET", path, NULL, 0, resp_create_verified);
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
      finish_id (op, -EINVAL, &err, NULL);
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
  op_send (op, "POST", path, op->plan.create_body, 0, resp_create);
}

/* What the user's reference names now: created with it while it is the
 * pin, else from the pin itself (the tag moved on). Without a reference,
 * the answer on the pin only means the API version is known. */
static void
resp_create_ref (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  /* No answer on the image (the engine away, no version in common, an
   * error of its own): the create fails with it, and is retried as any.
   * Only "no such image" says the reference names nothing now. */
  if (ret < 0 && (ret != -ENOENT || op->plan.image_ref == NULL))
    {
      finish_id (op, ret, &err, NULL);
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
resp_fail_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = *in;
  lympho_error_prefix (&err, "%s", op->what);
  finish_id (op, ret, &err, NULL);
}

static void
create_as (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels, bool hidden,
           rt_id_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EEXIST, "create %s", name);
  op->cb.id = cb;
  lympho_error_t err = { 0 };
  if (docker_spec_plan (spec, extra_labels, &op->plan, &err) < 0
      || (hidden && docker_spec_hide (&op->plan, &op->pub, &op->n_pub, &err) < 0))
    {
      op_fail_later (op, &err, resp_fail_id);
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
  op_send (op, "GET", path, NULL, 0, resp_create_ref);
}

static void
docker_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
               rt_id_cb cb, void *ud)
{
  create_as (rt, spec, name, extra_labels, false, cb, ud);
}

/* Attached to its networks without their aliases: nobody who looks the
 * service up by an alias finds it before publish. */
static void
docker_create_hidden (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
                      rt_id_cb cb, void *ud)
{
  create_as (rt, spec, name, extra_labels, true, cb, ud);
}

/* ---- publish: rejoin the aliased networks with their aliases ---- */

static void publish_next (struct op *op);

static void
finish_done (struct op *op, int ret, const lympho_error_t *err)
{
  op_unlink (op);
  op->cb.done (op->ud, ret, ret < 0 ? err : NULL);
  op_free (op);
}

static void
resp_publish (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret < 0)
    {
      finish_done (op, ret, &err);
      return;
    }
  op->pub_step++;
  publish_next (op);
}

static void
resp_fail_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = *in;
  lympho_error_prefix (&err, "%s", op->what);
  finish_done (op, ret, &err);
}

static void
resp_publish_nothing (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  finish_done (op, 0, NULL);
}

static void
publish_next (struct op *op)
{
  size_t i = op->pub_step / 2;
  if (i >= op->n_pub)
    {
      finish_done (op, 0, NULL);
      return;
    }
  const struct docker_spec_net *net = &op->pub[i];
  cleanup_free char *e = dhttp_escape (net->name);
  if (op->pub_step % 2 == 0)
    {
      /* An endpoint's aliases are fixed when it joins: leave, then join
       * again with them. The container is not serving anyone yet. */
      cleanup_free char *path = xasprintf ("/networks/%s/disconnect", e);
      cleanup_jgen yajl_gen g = json_gen_new (false);
      yajl_gen_map_open (g);
      json_gen_kstr (g, "Container", op->new_id);
      json_gen_kbool (g, "Force", true);
      yajl_gen_map_close (g);
      cleanup_free char *body = json_gen_text (g);
      op_send (op, "POST", path, body, 0, resp_publish);
      return;
    }
  cleanup_free char *path = xasprintf ("/networks/%s/connect", e);
  cleanup_free char *body = docker_spec_connect_body (net, op->new_id);
  op_send (op, "POST", path, body, 0, resp_publish);
}

static void
docker_publish (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "publish %s", id);
  op->cb.done = cb;
  op->new_id = xstrdup (id);
  lympho_error_t err = { 0 };
  if (docker_spec_plan (spec, NULL, &op->plan, &err) < 0
      || docker_spec_hide (&op->plan, &op->pub, &op->n_pub, &err) < 0)
    {
      op_fail_later (op, &err, resp_fail_done);
      return;
    }
  if (op->n_pub == 0)
    {
      lympho_error_t none = { 0 };
      op_fail_later (op, &none, resp_publish_nothing);
      return;
    }
  publish_next (op);
}

/* ---- lifecycle ---- */

static void
docker_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = container_path (id, "/start");
  cleanup_free char *what = xasprintf ("start %s", id);
  simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

/* stop_paused_kills: the stop was refused as "state improper" (409), which
 * is what a paused container gets; SIGKILL works on one, and Podman answers
 * a SIGKILL only once the container has exited. A kill refused in turn
 * means it is not running (stopped meanwhile): the stop's promise holds. */
static void
resp_stop_killed (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == -EBUSY)
    ret = 0;
  finish_done (op, ret, &err);
}

static void
resp_stop (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret != -EBUSY)
    {
      finish_done (op, ret, &err);
      return;
    }
  log_info ("%s: %s: refused as state improper (paused?), killing it instead", op->rt->q->name, op->what);
  cleanup_free char *path = container_path (op->new_id, "/kill?signal=SIGKILL");
  op_send (op, "POST", path, NULL, 0, resp_stop_killed);
}

static void
docker_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = NULL;
  long limit_ms;
  if (timeout_s >= 0)
    {
      cleanup_free char *q = xasprintf ("/stop?t=%d", timeout_s);
      path = container_path (id, q);
      limit_ms = (timeout_s + 30L) * 1000L;
    }
  else
    {
      /* The container's own timeout, unknown here: be generous. */
      path = container_path (id, "/stop");
      limit_ms = 600L * 1000L;
    }
  if (rt->q->stop_paused_kills)
    {
      struct op *op = op_new (rt, ud, EBUSY, "stop %s", id);
      op->cb.done = cb;
      op->new_id = xstrdup (id);
      op_send (op, "POST", path, NULL, limit_ms, resp_stop);
      return;
    }
  cleanup_free char *what = xasprintf ("stop %s", id);
  simple (rt, "POST", path, NULL, limit_ms, EBUSY, what, cb, ud);
}

static void
docker_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = NULL;
  if (signal)
    {
      cleanup_free char *s = dhttp_escape (signal);
      cleanup_free char *q = xasprintf ("/kill?signal=%s", s);
      path = container_path (id, q);
    }
  else
    path = container_path (id, "/kill");
  cleanup_free char *what = xasprintf ("kill %s", id);
  simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
docker_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  cleanup_free char *q = xasprintf ("?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
  cleanup_free char *path = container_path (id, q);
  cleanup_free char *what = xasprintf ("remove %s", id);
  simple (rt, "DELETE", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
docker_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud)
{
  cleanup_free char *n = dhttp_escape (new_name);
  cleanup_free char *q = xasprintf ("/rename?name=%s", n);
  cleanup_free char *path = container_path (id, q);
  cleanup_free char *what = xasprintf ("rename %s to %s", id, new_name);
  simple (rt, "POST", path, NULL, 0, EEXIST, what, cb, ud);
}

static void
docker_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = container_path (id, "/pause");
  cleanup_free char *what = xasprintf ("pause %s", id);
  simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
docker_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = container_path (id, "/unpause");
  cleanup_free char *what = xasprintf ("unpause %s", id);
  simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

/* ---- images ---- */

static void
resp_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  const char *id = json_str (json_get (v, "Id"));
  if (ret == 0 && id == NULL)
    ret = lympho_error_set (&err, EIO, "%s: engine answer without an Id", op->what);
  /* Image ids are "sha256:..." for the core, whoever answers. */
  cleanup_free char *full = NULL;
  if (ret == 0 && op->rt->q->bare_image_ids && strlen (id) == 64 && strspn (id, "0123456789abcdef") == 64)
    id = full = xasprintf ("sha256:%s", id);
  finish_id (op, ret, &err, id);
}

static void
docker_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "inspect image %s", ref);
  op->cb.id = cb;
  cleanup_free char *e = dhttp_escape (ref);
  cleanup_free char *path = xasprintf ("/images/%s/json", e);
  op_send (op, "GET", path, NULL, 0, resp_id);
}

static void
docker_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                  void *ud)
{
  cleanup_free char *ei = dhttp_escape (image_id);
  cleanup_free char *er = dhttp_escape (repo);
  cleanup_free char *et = dhttp_escape (tag ? tag : "latest");
  cleanup_free char *path = xasprintf ("/images/%s/tag?repo=%s&tag=%s", ei, er, et);
  cleanup_free char *what = xasprintf ("tag image %s as %s:%s", image_id, repo, tag ? tag : "latest");
  simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
docker_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud)
{
  cleanup_free char *e = dhttp_escape (ref);
  cleanup_free char *path = xasprintf ("/images/%s?noprune=1", e);
  cleanup_free char *what = xasprintf ("remove image %s", ref);
  simple (rt, "DELETE", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
docker_commit (struct runtime *rt, const char *id, const char *repo, const char *tag,
               const struct rt_labels *labels, rt_id_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "commit %s", id);
  op->cb.id = cb;
  cleanup_free char *ec = dhttp_escape (id);
  cleanup_free char *er = dhttp_escape (repo);
  cleanup_free char *et = dhttp_escape (tag ? tag : "latest");
  cleanup_free char *path = xasprintf ("/commit?container=%s&repo=%s&tag=%s&pause=1", ec, er, et);
  if (rt->q->commit_label_changes)
    {
      for (size_t i = 0; labels && i < labels->n; i++)
        {
          /* Its LABEL parser keeps backslashes: refuse what it would alter. */
          if (strpbrk (labels->v[i].key, "\"\\\n") || strpbrk (labels->v[i].value, "\"\\\n"))
            {
              lympho_error_t err = { 0 };
              lympho_error_set (&err, EINVAL, "label %s: quotes, backslashes and newlines cannot be committed here",
                                labels->v[i].key);
              op_fail_later (op, &err, resp_fail_id);
              return;
            }
          cleanup_free char *change = xasprintf ("LABEL \"%s\"=\"%s\"", labels->v[i].key, labels->v[i].value);
          cleanup_free char *ce = dhttp_escape (change);
          cleanup_free char *longer = xasprintf ("%s&changes=%s", path, ce);
          free (path);
          path = steal_pointer (&longer);
        }
    }
  /* The body is a container config the engine merges over the container's
   * own; only the labels are ours. */
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_map_open (g);
  json_gen_str (g, "Labels");
  yajl_gen_map_open (g);
  for (size_t i = 0; labels && i < labels->n; i++)
    json_gen_kstr (g, labels->v[i].key, labels->v[i].value);
  yajl_gen_map_close (g);
  yajl_gen_map_close (g);
  cleanup_free char *body = json_gen_text (g);
  /* Committing a large layer takes a while. */
  op_send (op, "POST", path, body, 300L * 1000L, resp_id);
}

/* ---- changes, top ---- */

static void
resp_changes (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  struct rt_change *cs = NULL;
  size_t n = 0;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  if (ret == 0 && !YAJL_IS_NULL (v) && !YAJL_IS_ARRAY (v))
    ret = lympho_error_set (&err, EIO, "%s: engine answer is not a list", op->what);
  if (ret == 0)
    {
      size_t total = json_arr_len (v);
      cs = xmalloc0 ((total + 1) * sizeof *cs);
      for (size_t i = 0; i < total; i++)
        {
          const char *path = json_str (json_get (v->u.array.values[i], "Path"));
          int64_t kind = -1;
          json_as_int64 (json_get (v->u.array.values[i], "Kind"), &kind);
          if (path == NULL || kind < 0 || kind > 2)
            continue;
          cs[n].kind = "CAD"[kind];
          cs[n].path = (char *) path; /* borrowed from the tree for the callback */
          n++;
        }
      if (op->rt->q->changes_lone_dirs)
        {
          size_t kept = 0;
          for (size_t i = 0; i < n; i++)
            {
              bool mount = false;
              for (size_t m = 0; m < op->n_mounts && !mount; m++)
                mount = cs[i].kind != 'D' && strcmp (cs[i].path, op->mounts[m]) == 0;
              if (mount)
                continue;
              bool lone = cs[i].kind == 'C';
              size_t plen = strlen (cs[i].path);
              for (size_t j = 0; lone && j < n; j++)
                lone = !(strncmp (cs[j].path, cs[i].path, plen) == 0
                         && (cs[j].path[plen] == '/' || (plen == 1 && cs[j].path[1] != '\0')));
              if (!lone)
                cs[kept++] = cs[i];
            }
          n = kept;
        }
    }
  op_unlink (op);
  op->cb.changes (op->ud, ret, ret < 0 ? &err : NULL, cs, n);
  free (cs);
  op_free (op);
}

static void
resp_changes_inspect (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  const char *id = json_str (json_get (v, "Id"));
  if (ret == 0 && id == NULL)
    ret = lympho_error_set (&err, EIO, "%s: engine answer without an Id", op->what);
  if (ret < 0)
    {
      /* Reported by resp_changes, from the loop, like a failed /changes. */
      op_fail_later (op, &err, resp_changes);
      return;
    }
  yajl_val mounts = json_get (v, "Mounts");
  op->mounts = xmalloc0 ((json_arr_len (mounts) + 1) * sizeof *op->mounts);
  for (size_t i = 0; i < json_arr_len (mounts); i++)
    {
      const char *dst = json_str (json_get (mounts->u.array.values[i], "Destination"));
      if (dst)
        op->mounts[op->n_mounts++] = xstrdup (dst);
    }
  cleanup_free char *path = container_path (id, "/changes");
  op_send (op, "GET", path, NULL, 0, resp_changes);
}

static void
docker_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "changes of %s", id);
  op->cb.changes = cb;
  if (rt->q->changes_lone_dirs)
    {
      cleanup_free char *path = container_path (id, "/json");
      op_send (op, "GET", path, NULL, 0, resp_changes_inspect);
      return;
    }
  cleanup_free char *path = container_path (id, "/changes");
  op_send (op, "GET", path, NULL, 0, resp_changes);
}

static int
title_index (yajl_val titles, const char *const *names)
{
  for (size_t i = 0; i < json_arr_len (titles); i++)
    {
      const char *t = json_str (titles->u.array.values[i]);
      for (const char *const *n = names; t && *n; n++)
        if (strcmp (t, *n) == 0)
          return (int) i;
    }
  return -1;
}

static void
resp_top (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  static const char *const pid_names[] = { "PID", "HPID", NULL };
  static const char *const user_names[] = { "USER", "UID", NULL };
  static const char *const cmd_names[] = { "COMMAND", "CMD", "ARGS", NULL };
  lympho_error_t err = { 0 };
  cleanup_json yajl_val v = NULL;
  struct rt_process *ps = NULL;
  size_t n = 0;
  ret = op_check (op, ret, in, status, body, len, &err);
  if (ret == 0)
    ret = op_parse (op, body, len, &v, &err);
  yajl_val titles = json_get (v, "Titles");
  yajl_val procs = json_get (v, "Processes");
  int ipid = title_index (titles, pid_names), iuser = title_index (titles, user_names),
      icmd = title_index (titles, cmd_names);
  if (ret == 0 && (ipid < 0 || icmd < 0))
    ret = lympho_error_set (&err, EIO, "%s: engine answer without PID and command columns", op->what);
  if (ret == 0)
    {
      size_t total = json_arr_len (procs);
      ps = xmalloc0 ((total + 1) * sizeof *ps);
      for (size_t i = 0; i < total; i++)
        {
          yajl_val row = procs->u.array.values[i];
          size_t cols = json_arr_len (row);
          if ((size_t) ipid >= cols || (size_t) icmd >= cols)
            continue;
          const char *pid = json_str (row->u.array.values[ipid]);
          if (pid == NULL)
            continue;
          ps[n].pid = atoi (pid);
          ps[n].cmd = (char *) json_str (row->u.array.values[icmd]);
          ps[n].user = iuser >= 0 && (size_t) iuser < cols ? (char *) json_str (row->u.array.values[iuser]) : NULL;
          if (ps[n].cmd)
            n++;
        }
    }
  op_unlink (op);
  op->cb.top (op->ud, ret, ret < 0 ? &err : NULL, ps, n);
  free (ps);
  op_free (op);
}

static void
docker_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud)
{
  struct op *op = op_new (rt, ud, EBUSY, "top of %s", id);
  op->cb.top = cb;
  cleanup_free char *q = xasprintf ("/top?ps_args=%s", rt->q->top_args);
  cleanup_free char *path = container_path (id, q);
  op_send (op, "GET", path, NULL, 0, resp_top);
}

static void
docker_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  cleanup_free char *e = dhttp_escape (network);
  cleanup_free char *path = xasprintf ("/networks/%s/disconnect", e);
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_map_open (g);
  json_gen_kstr (g, "Container", id);
  json_gen_kbool (g, "Force", true);
  yajl_gen_map_close (g);
  cleanup_free char *body = json_gen_text (g);
  cleanup_free char *what = xasprintf ("disconnect %s from %s", id, network);
  simple (rt, "POST", path, body, 0, EBUSY, what, cb, ud);
}

/* ---- events ---- */

static void events_connect (struct runtime *rt);

static void
events_report (struct runtime *rt, bool up, bool force)
{
  if (rt->conn_state == (up ? 1 : 0) && !force)
    return;
  rt->conn_state = up ? 1 : 0;
  if (rt->conn_cb)
    rt->conn_cb (rt->ev_ud, up);
}

/* ---- Podman: healthchecks (run_healthchecks) ----
 * Podman 4.3 runs a container's healthcheck from a systemd timer; without
 * systemd nothing runs it and its health never changes. The backend keeps
 * one struct hc per running container with a healthcheck (found by a
 * filtered list when the stream opens, and by "start" events), each with one
 * loop timer at the container's interval and at most one request in flight:
 * GET /libpod/containers/{id}/healthcheck runs the check (Podman accepts
 * its routes below any version prefix, /v1.41 included). The engine's
 * "health_status" event that every check emits, ours or a timer's, gives
 * the status (events_health). Freed on die / remove, when a re-inspect finds
 * the container neither running nor paused, and on close. */

#define HC_DEFAULT_INTERVAL_MS 30000ULL
#define HC_DEFAULT_TIMEOUT_MS 30000ULL
#define HC_MAX 4096 /* containers tracked at once; more are logged, not checked */

struct hc
{
  struct runtime *rt;
  struct hc *prev, *next;
  char *id;
  uint64_t interval_ms, timeout_ms;
  uint64_t timer;
  struct dhttp_req *req;
  enum rt_health last; /* as last reported (or inspected) */
};

static void hc_inspect (struct hc *h);
static void hc_arm (struct hc *h, uint64_t delay_ms);

static struct hc *
hc_find (struct runtime *rt, const char *id)
{
  for (struct hc *h = rt->hcs; h; h = h->next)
    if (strcmp (h->id, id) == 0)
      return h;
  return NULL;
}

static void
hc_free (struct hc *h)
{
  struct runtime *rt = h->rt;
  if (h->prev)
    h->prev->next = h->next;
  else
    rt->hcs = h->next;
  if (h->next)
    h->next->prev = h->prev;
  rt->n_hcs--;
  dhttp_cancel (h->req);
  loop_cancel_timer (rt->loop, h->timer);
  free (h->id);
  free (h);
}

static void
hc_on_check (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct hc *h = ud;
  h->req = NULL;
  if (ret == 0 && status == 200)
    {
      hc_arm (h, h->interval_ms);
      return;
    }
  lympho_error_t e = { 0 };
  if (ret < 0)
    e = *err;
  else
    dhttp_status_error (status, body, len, EBUSY, &e);
  log_debug ("%s: healthcheck of %.12s: %s", h->rt->q->name, h->id, e.msg);
  if (ret == 0 && status == 404)
    {
      hc_free (h);
      return;
    }
  /* Paused, stopped with its death unseen, or the engine busy: look again
   * before the next check. */
  hc_inspect (h);
}

static void
hc_on_timer (struct loop *l, void *ud)
{
  struct hc *h = ud;
  h->timer = 0;
  if (h->req)
    return; /* a check or an inspect is still out: it re-arms */
  cleanup_free char *path = container_path (h->id, "/healthcheck");
  cleanup_free char *libpod = xasprintf ("/libpod%s", path);
  h->req = dhttp_request (h->rt->http, "GET", libpod, NULL, (long) (h->timeout_ms + 10000), hc_on_check, h);
}

static void
hc_arm (struct hc *h, uint64_t delay_ms)
{
  loop_cancel_timer (h->rt->loop, h->timer);
  h->timer = loop_add_timer (h->rt->loop, delay_ms, hc_on_timer, h);
}

/* Durations in the inspect answer are nanoseconds; 0 or missing: the
 * default. */
static uint64_t
hc_duration_ms (yajl_val v, uint64_t dflt)
{
  int64_t ns = 0;
  if (!json_as_int64 (v, &ns) || ns <= 0)
    return dflt;
  uint64_t ms = (uint64_t) ns / 1000000ULL;
  return ms > 0 ? ms : 1;
}

static void
hc_on_inspect (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct hc *h = ud;
  h->req = NULL;
  cleanup_json yajl_val v = NULL;
  lympho_error_t e = { 0 };
  if (ret < 0 || status != 200 || json_parse (body, len, &v, &e) < 0)
    {
      if (ret < 0 || status >= 500)
        {
          /* The engine is away: try again later, the stream resyncs too. */
          hc_arm (h, h->interval_ms ? h->interval_ms : HC_DEFAULT_INTERVAL_MS);
          return;
        }
      hc_free (h);
      return;
    }
  yajl_val test = json_path (v, "Config", "Healthcheck", "Test", NULL);
  const char *first = json_arr_len (test) ? json_str (test->u.array.values[0]) : NULL;
  const char *state = json_str (json_path (v, "State", "Status", NULL));
  if (first == NULL || strcmp (first, "NONE") == 0 || state == NULL
      || (strcmp (state, "running") != 0 && strcmp (state, "paused") != 0))
    {
      hc_free (h);
      return;
    }
  yajl_val hcfg = json_path (v, "Config", "Healthcheck", NULL);
  bool first_time = h->interval_ms == 0;
  h->interval_ms = hc_duration_ms (json_get (hcfg, "Interval"), HC_DEFAULT_INTERVAL_MS);
  h->timeout_ms = hc_duration_ms (json_get (hcfg, "Timeout"), HC_DEFAULT_TIMEOUT_MS);
  if (first_time)
    h->last = parse_health (json_str (json_path (v, "State", "Health", "Status", NULL)));
  hc_arm (h, h->interval_ms);
}

static void
hc_inspect (struct hc *h)
{
  cleanup_free char *path = container_path (h->id, "/json");
  h->req = dhttp_request (h->rt->http, "GET", path, NULL, 0, hc_on_inspect, h);
}

/* A container that may have a healthcheck was seen running. */
static void
hc_track (struct runtime *rt, const char *id)
{
  if (hc_find (rt, id))
    return;
  if (rt->n_hcs >= HC_MAX)
    {
      log_warn ("%s: %zu containers with a healthcheck already; not running %.12s's", rt->q->name, rt->n_hcs, id);
      return;
    }
  struct hc *h = xmalloc0 (sizeof *h);
  h->rt = rt;
  h->id = xstrdup (id);
  h->next = rt->hcs;
  if (rt->hcs)
    rt->hcs->prev = h;
  rt->hcs = h;
  rt->n_hcs++;
  hc_inspect (h);
}

static void
hc_untrack (struct runtime *rt, const char *id)
{
  struct hc *h = hc_find (rt, id);
  if (h)
    hc_free (h);
}

static void
hc_on_list (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct runtime *rt = ud;
  rt->hc_list_req = NULL;
  cleanup_json yajl_val v = NULL;
  lympho_error_t e = { 0 };
  if (ret < 0 || status != 200 || json_parse (body, len, &v, &e) < 0 || !YAJL_IS_ARRAY (v))
    {
      log_warn ("%s: cannot list the containers with a healthcheck; their checks start with their next start",
                rt->q->name);
      return;
    }
  for (size_t i = 0; i < v->u.array.len; i++)
    {
      const char *id = json_str (json_get (v->u.array.values[i], "Id"));
      if (id)
        hc_track (rt, id);
    }
}

/* The stream (re)opened after the engine was away: every running container
 * with a healthcheck. */
static void
hc_sync (struct runtime *rt)
{
  dhttp_cancel (rt->hc_list_req);
  cleanup_free char *f = dhttp_escape ("{\"health\":[\"starting\",\"healthy\",\"unhealthy\"]}");
  cleanup_free char *path = xasprintf ("/containers/json?filters=%s", f);
  rt->hc_list_req = dhttp_request (rt->http, "GET", path, NULL, 0, hc_on_list, rt);
}

/* ---- Podman: unannounced deaths (unannounced_deaths) ----
 * `podman stop` (CLI or API) sends no "stop" event through the compat
 * stream, only what a crash sends too: "die", then "cleanup". Seen on
 * Podman 4.3: a stop is followed by TWO "cleanup" events (the stopper's and
 * conmon's, within ~100 ms), a death nobody asked for by one; `podman kill`
 * announces itself with "kill" before "die"; `rm -f` sends "die",
 * "cleanup", "remove". So a "die" without a "kill" just before is held for
 * at most DEATH_HOLD_MS: a second "cleanup" makes it "stop" + "die", a
 * "remove" makes it "kill" + "die" (+ "destroy"), as Docker would have sent
 * them; else it goes on as the plain "die" it is when the bound expires (a
 * crash is reported up to DEATH_HOLD_MS late), or as soon as any other
 * event of that container comes. At most DEATH_HELD_MAX are held. */

#define DEATH_HOLD_MS 3000
#define DEATH_HELD_MAX 256
#define ANNOUNCED_MS 60000 /* a "kill" announces a death this long */

struct held
{
  struct runtime *rt;
  struct held *prev, *next;
  char *id, *name;
  struct rt_labels attrs;
  int exit_code;
  uint64_t nano;
  int cleanups;
  uint64_t timer;
};

static struct held *
held_find (struct runtime *rt, const char *id)
{
  for (struct held *h = rt->helds; h; h = h->next)
    if (strcmp (h->id, id) == 0)
      return h;
  return NULL;
}

static void
held_unlink (struct held *h)
{
  struct runtime *rt = h->rt;
  if (h->prev)
    h->prev->next = h->next;
  else
    rt->helds = h->next;
  if (h->next)
    h->next->prev = h->prev;
  h->prev = h->next = NULL;
  rt->n_helds--;
  loop_cancel_timer (rt->loop, h->timer);
  h->timer = 0;
}

static void
held_free (struct held *h)
{
  rt_labels_free (&h->attrs);
  free (h->id);
  free (h->name);
  free (h);
}

/* Hand an event to the core. The callback may close the runtime: false
 * then, and the caller touches nothing of rt but what cb_depth guards. */
static bool
events_deliver (struct runtime *rt, const struct rt_event *ev)
{
  rt->cb_depth++;
  rt->ev_cb (rt->ev_ud, ev);
  rt->cb_depth--;
  return !rt->closed;
}

/* Deliver what a held death turned out to be: `first` ("stop", "kill") then
 * "die", or only "die" when first is NULL. h is unlinked and freed. */
static bool
held_release (struct held *h, const char *first)
{
  struct runtime *rt = h->rt;
  held_unlink (h);
  struct rt_event ev = {
    .type = RT_EV_CONTAINER, .id = h->id, .name = h->name, .attrs = &h->attrs, .exit_code = -1, .time_nano = h->nano,
  };
  bool open = true;
  if (first)
    {
      log_debug ("%s: death of %.12s reported as %s", rt->q->name, h->id, first);
      ev.action = first;
      open = events_deliver (rt, &ev);
    }
  if (open)
    {
      ev.action = "die";
      ev.exit_code = h->exit_code;
      open = events_deliver (rt, &ev);
    }
  held_free (h);
  return open;
}

static void
held_on_timer (struct loop *l, void *ud)
{
  struct held *h = ud;
  struct runtime *rt = h->rt;
  h->timer = 0;
  rt->cb_depth++;
  held_release (h, NULL);
  cb_leave (rt);
}

static void
announced_note (struct runtime *rt, const char *id)
{
  struct announced *a = &rt->announced[rt->announced_next++ % (sizeof rt->announced / sizeof rt->announced[0])];
  snprintf (a->id, sizeof a->id, "%s", id);
  a->mono = now_mono_ms ();
}

/* A "kill" (or "stop") came for id lately; forgotten once asked. */
static bool
announced_take (struct runtime *rt, const char *id)
{
  uint64_t now = now_mono_ms ();
  for (size_t i = 0; i < sizeof rt->announced / sizeof rt->announced[0]; i++)
    {
      struct announced *a = &rt->announced[i];
      if (a->id[0] && strcmp (a->id, id) == 0 && now - a->mono < ANNOUNCED_MS)
        {
          a->id[0] = '\0';
          return true;
        }
    }
  return false;
}

/* Podman's events before they go to the core. Returns true when ev was
 * dealt with here (held, or delivered with what it stands for); false to
 * deliver it as it is. Nothing of rt is touched once the core closed it. */
static bool
events_podman (struct runtime *rt, yajl_val v, const struct rt_event *ev)
{
  if (ev->type != RT_EV_CONTAINER)
    return false;
  const char *a = ev->action;
  if (rt->q->run_healthchecks)
    {
      if (strcmp (a, "start") == 0 || strcmp (a, "restart") == 0 || strcmp (a, "unpause") == 0)
        hc_track (rt, ev->id);
      else if (strcmp (a, "die") == 0 || strcmp (a, "destroy") == 0)
        hc_untrack (rt, ev->id);
      else if (strcmp (a, "health_status") == 0)
        {
          const char *status = json_str (json_get (v, "HealthStatus"));
          if (status == NULL)
            return false;
          enum rt_health now = parse_health (status);
          struct hc *h = hc_find (rt, ev->id);
          enum rt_health before = h ? h->last : RT_HEALTH_NONE;
          if (h)
            {
              h->last = now;
              /* Checked just now, by us or by a systemd timer: the next
               * one is an interval from here, never two at once. */
              if (h->req == NULL && h->interval_ms)
                hc_arm (h, h->interval_ms);
            }
          if (now == before || (now != RT_HEALTH_HEALTHY && now != RT_HEALTH_UNHEALTHY))
            return true;
          struct rt_event hev = *ev;
          hev.action = now == RT_HEALTH_HEALTHY ? "health_status: healthy" : "health_status: unhealthy";
          events_deliver (rt, &hev);
          return true;
        }
    }
  if (!rt->q->unannounced_deaths)
    return false;
  struct held *h = held_find (rt, ev->id);
  if (h && strcmp (a, "cleanup") == 0)
    {
      if (++h->cleanups < 2)
        return false;
      if (held_release (h, "stop"))
        events_deliver (rt, ev);
      return true;
    }
  if (h && (strcmp (a, "stop") == 0 || strcmp (a, "kill") == 0))
    {
      /* Announced after all (Docker sends its stop after the die). */
      held_release (h, a);
      return true;
    }
  if (h && strcmp (a, "destroy") == 0)
    {
      if (held_release (h, "kill"))
        events_deliver (rt, ev);
      return true;
    }
  if (h)
    {
      /* Anything else of that container: the death was what it was. */
      if (held_release (h, NULL))
        events_deliver (rt, ev);
      return true;
    }
  if (strcmp (a, "kill") == 0 || strcmp (a, "stop") == 0)
    {
      announced_note (rt, ev->id);
      return false;
    }
  if (strcmp (a, "die") != 0 || announced_take (rt, ev->id))
    return false;
  if (rt->n_helds >= DEATH_HELD_MAX)
    {
      log_warn ("%s: %zu deaths held already; %.12s's goes on as a death", rt->q->name, rt->n_helds, ev->id);
      return false;
    }
  h = xmalloc0 (sizeof *h);
  h->rt = rt;
  h->id = xstrdup (ev->id);
  h->name = ev->name ? xstrdup (ev->name) : NULL;
  rt_labels_copy (&h->attrs, ev->attrs);
  h->exit_code = ev->exit_code;
  h->nano = ev->time_nano;
  h->timer = loop_add_timer (rt->loop, DEATH_HOLD_MS, held_on_timer, h);
  h->next = rt->helds;
  if (rt->helds)
    rt->helds->prev = h;
  rt->helds = h;
  rt->n_helds++;
  return true;
}

static void
events_line (struct runtime *rt, const char *line, size_t len)
{
  cleanup_json yajl_val v = NULL;
  lympho_error_t err = { 0 };
  if (len == 0)
    return;
  if (json_parse (line, len, &v, &err) < 0)
    {
      log_warn ("%s: event stream: %s", rt->q->name, err.msg);
      return;
    }
  int64_t nano = 0;
  if (!json_as_int64 (json_get (v, "timeNano"), &nano) || nano <= 0)
    {
      int64_t sec = 0;
      if (json_as_int64 (json_get (v, "time"), &sec))
        nano = sec * 1000000000LL;
    }
  if (rt->replay_upto && (uint64_t) nano <= rt->replay_upto)
    return; /* delivered before the reconnect */
  rt->replay_upto = 0;

  const char *type = json_str (json_get (v, "Type"));
  const char *action = json_str (json_get (v, "Action"));
  if (action == NULL)
    action = json_str (json_get (v, "status"));
  yajl_val actor = json_get (v, "Actor");
  const char *id = json_str (json_get (actor, "ID"));
  if (id == NULL)
    id = json_str (json_get (v, "id"));
  if (type == NULL || action == NULL || id == NULL)
    return;

  struct rt_labels attrs = { 0 };
  parse_labels (json_get (actor, "Attributes"), &attrs);
  struct rt_event ev = { 0 };
  ev.type = strcmp (type, "container") == 0 ? RT_EV_CONTAINER
            : strcmp (type, "image") == 0   ? RT_EV_IMAGE
            : strcmp (type, "network") == 0 ? RT_EV_NETWORK
                                            : RT_EV_OTHER;
  ev.action = action;
  for (size_t i = 0; rt->q->actions && rt->q->actions[i][0]; i++)
    if (strcmp (action, rt->q->actions[i][0]) == 0)
      ev.action = rt->q->actions[i][1];
  ev.id = id;
  ev.name = rt_labels_get (&attrs, "name");
  ev.attrs = &attrs;
  ev.exit_code = -1;
  const char *code = rt_labels_get (&attrs, "exitCode");
  if (strcmp (ev.action, "die") == 0 && code)
    ev.exit_code = atoi (code);
  ev.time_nano = (uint64_t) nano;
  if ((uint64_t) nano > rt->last_nano)
    rt->last_nano = (uint64_t) nano;
  if (!events_podman (rt, v, &ev))
    events_deliver (rt, &ev);
  rt_labels_free (&attrs);
}

static void
events_on_open (void *ud, long status)
{
  struct runtime *rt = ud;
  if (status != 200)
    return; /* done follows with the engine's message */
  rt->open_ms = now_mono_ms ();
  rt->open_nano = now_real_ms () * 1000000ULL;
  /* Where streams end by themselves, one that opens and ends at once must
   * still back off: events_on_ping resets the backoff instead. */
  if (!rt->q->stream_ends)
    rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
  /* First open, or back after the engine was away: what runs now. */
  if (rt->q->run_healthchecks && rt->conn_state != 1)
    hc_sync (rt);
  events_report (rt, true, false);
}

static void
events_on_data (void *ud, const char *data, size_t len)
{
  struct runtime *rt = ud;
  buf_append (&rt->ev_line, data, len);
  size_t start = 0;
  char *nl;
  /* ev_cb may call close(): stop as soon as that happened. */
  rt->cb_depth++;
  while (!rt->closed && (nl = memchr (rt->ev_line.data + start, '\n', rt->ev_line.len - start)) != NULL)
    {
      size_t end = (size_t) (nl - rt->ev_line.data);
      cleanup_free char *line = xstrndup (rt->ev_line.data + start, end - start);
      start = end + 1;
      events_line (rt, line, strlen (line));
    }
  if (!cb_leave (rt))
    return;
  if (start > 0)
    {
      size_t rest = rt->ev_line.len - start;
      memmove (rt->ev_line.data, rt->ev_line.data + start, rest);
      rt->ev_line.len = rest;
      rt->ev_line.data[rest] = '\0';
    }
  if (rt->ev_line.len > EVENTS_MAX_LINE)
    {
      log_warn ("%s: event stream: dropping an event longer than %u bytes", rt->q->name, EVENTS_MAX_LINE);
      buf_reset (&rt->ev_line);
    }
}

static void
events_on_timer (struct loop *l, void *ud)
{
  struct runtime *rt = ud;
  rt->ev_timer = 0;
  events_connect (rt);
}

static void
events_backoff (struct runtime *rt)
{
  rt->ev_timer = loop_add_timer (rt->loop, rt->backoff_ms, events_on_timer, rt);
  rt->backoff_ms = rt->backoff_ms * 2 > EVENTS_BACKOFF_MAX_MS ? EVENTS_BACKOFF_MAX_MS : rt->backoff_ms * 2;
}

/* The stream is down, the engine away: whatever answers next is negotiated
 * with again. problem_changed: tell the core even when it knows the engine
 * is down: engine_info has a new reason. */
static void
events_down (struct runtime *rt, const lympho_error_t *e, bool problem_changed)
{
  rt->api = 0;
  log_debug ("%s: event stream down (%s), retrying in %llu ms", rt->q->name, e->msg,
             (unsigned long long) rt->backoff_ms);
  events_backoff (rt);
  /* Last: the callback may close the runtime. */
  events_report (rt, false, problem_changed);
}

/* stream_ends: the stream that was up has ended; the engine answered /_ping
 * (or not). */
static void
events_on_ping (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct runtime *rt = ud;
  rt->ev_req = NULL;
  lympho_error_t e = { 0 };
  if (ret < 0)
    e = *err;
  else if (status != 200)
    dhttp_status_error (status, body, len, EIO, &e);
  if (e.msg[0])
    {
      events_down (rt, &e, false);
      return;
    }
  /* A closed stream is not an unreachable engine: resume with since=,
   * without telling the core. At once after a stream that lived a while;
   * backing off when streams keep ending as soon as they open. */
  if (now_mono_ms () - rt->open_ms >= 10000)
    rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
  log_debug ("%s: event stream ended, engine answers; resuming in %llu ms", rt->q->name,
             (unsigned long long) rt->backoff_ms);
  events_backoff (rt);
}

static void
events_on_done (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct runtime *rt = ud;
  rt->ev_req = NULL;
  buf_reset (&rt->ev_line);
  if (rt->q->stream_ends && rt->conn_state == 1)
    {
      rt->ev_req = dhttp_request (rt->http, "GET", "/_ping", NULL, 10000, events_on_ping, rt);
      return;
    }
  lympho_error_t e = { 0 };
  if (ret < 0)
    e = *err;
  else
    dhttp_status_error (status, body, len, EIO, &e);
  events_down (rt, &e, false);
}

static void
events_connect (struct runtime *rt)
{
  if (rt->api == 0)
    {
      rt->events_wait = true;
      negotiate (rt);
      return;
    }
  cleanup_free char *filters = dhttp_escape ("{\"type\":[\"container\",\"image\"]}");
  cleanup_free char *path = NULL;
  /* Where streams end by themselves, even a stream that delivered nothing
   * resumes from when it opened, so that nothing falls in the gap. */
  uint64_t since = rt->last_nano ? rt->last_nano : rt->q->stream_ends ? rt->open_nano : 0;
  if (since)
    {
      path = xasprintf ("/events?filters=%s&since=%llu.%09llu", filters, (unsigned long long) (since / 1000000000ULL),
                        (unsigned long long) (since % 1000000000ULL));
      rt->replay_upto = since;
    }
  else
    path = xasprintf ("/events?filters=%s", filters);
  rt->ev_req = dhttp_stream (rt->http, path, events_on_open, events_on_data, events_on_done, rt);
}

static int
docker_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  if (rt->subscribed)
    return lympho_error_set (err, EBUSY, "already subscribed to engine events");
  rt->subscribed = true;
  rt->ev_cb = ev_cb;
  rt->conn_cb = conn_cb;
  rt->ev_ud = ud;
  rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
  events_connect (rt);
  return 0;
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
  struct runtime *rt = xmalloc0 (sizeof *rt);
  rt->q = q;
  rt->loop = loop;
  rt->api_pinned = pinned;
  rt->endpoint = xstrdup (endpoint);
  rt->conn_state = -1;
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
  if (rt == NULL || rt->closed)
    return;
  while (rt->ops)
    {
      struct op *op = rt->ops;
      op_unlink (op);
      op_free (op);
    }
  dhttp_cancel (rt->ev_req);
  rt->ev_req = NULL;
  dhttp_cancel (rt->hc_list_req);
  rt->hc_list_req = NULL;
  while (rt->hcs)
    hc_free (rt->hcs);
  while (rt->helds)
    {
      /* Dropped unreported, like any event after close. */
      struct held *h = rt->helds;
      held_unlink (h);
      held_free (h);
    }
  loop_cancel_timer (rt->loop, rt->ev_timer);
  buf_free (&rt->ev_line);
  dhttp_cancel (rt->neg_req);
  rt->neg_req = NULL;
  free (rt->problem);
  free (rt->endpoint);
  free (rt->engine_product);
  free (rt->engine_version);
  dhttp_free (rt->http);
  rt->http = NULL;
  rt->closed = true;
  if (rt->cb_depth == 0)
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
  .commit = docker_commit, .changes = docker_changes, .top = docker_top,                                    \
  .network_disconnect = docker_network_disconnect, .subscribe = docker_subscribe,                            \
  .engine_info = docker_engine_info

const struct runtime_ops runtime_docker_ops = {
  .name = "docker",
  .open = docker_open,
  DOCKER_COMPATIBLE_OPS,
};

/* Podman's Docker-compatible API (`podman system service`). */
const struct runtime_ops runtime_podman_ops = {
  .name = "podman",
  .open = podman_open,
  DOCKER_COMPATIBLE_OPS,
};
