/* lympho — the Docker backend's container operations: what inspect and
 * list answer, translated into struct rt_container; ping, list, inspect,
 * snapshot (through docker-spec), start, stop, kill, remove, rename, pause,
 * changes, top and network disconnect. May call: the op plumbing
 * (docker-int.h), docker-spec. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-int.h"

/* ---- parsing engine objects ---- */

/* RFC 3339 as the engine writes it ("2024-05-01T10:00:00.123456789Z"),
 * to realtime ms; 0 for the zero time or anything unparsable. */
uint64_t
docker_parse_time_ms (const char *s)
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

static int
parse_inspect (json_val v, struct rt_container *c, lympho_error_t *err)
{
  memset (c, 0, sizeof *c);
  const char *id = json_str (json_get (v, "Id"));
  const char *name = json_str (json_get (v, "Name"));
  json_val state = json_get (v, "State");
  if (id == NULL || name == NULL || state == NULL || !json_is_object (state))
    return lympho_error_set (err, EINVAL, "malformed inspect answer");
  c->id = xstrdup (id);
  c->name = xstrdup (name[0] == '/' ? name + 1 : name);
  c->image_id = xstrdup (json_str (json_get (v, "Image")));
  c->state = rt_state_parse (json_str (json_get (state, "Status")));
  c->health = rt_health_parse (json_str (json_path (state, "Health", "Status", NULL)));
  rt_labels_from_json (json_path (v, "Config", "Labels", NULL), false, NULL, &c->labels, NULL);
  int64_t n;
  c->pid = json_as_int64 (json_get (state, "Pid"), &n) ? (int) n : 0;
  c->exit_code = json_as_int64 (json_get (state, "ExitCode"), &n) ? (int) n : 0;
  c->oom_killed = json_is_true (json_get (state, "OOMKilled"));
  c->started_at_ms = docker_parse_time_ms (json_str (json_get (state, "StartedAt")));
  json_val nets = json_path (v, "NetworkSettings", "Networks", NULL);
  for (size_t i = 0; i < json_obj_len (nets); i++)
    {
      c->networks = xrealloc (c->networks, (c->n_networks + 1) * sizeof *c->networks);
      c->networks[c->n_networks++] = xstrdup (json_obj_key (nets, i));
    }
  /* Another container's network namespace: no network of its own, and
   * quarantine must not cut that container's veth. */
  const char *net_mode = json_str (json_path (v, "HostConfig", "NetworkMode", NULL));
  if (net_mode && str_has_prefix (net_mode, "container:"))
    {
      c->networks = xrealloc (c->networks, (c->n_networks + 1) * sizeof *c->networks);
      c->networks[c->n_networks++] = xstrdup (net_mode);
    }
  json_val mounts = json_get (v, "Mounts");
  for (size_t i = 0; i < json_arr_len (mounts); i++)
    {
      const char *dst = json_str (json_get (json_arr_at (mounts, i), "Destination"));
      if (dst == NULL)
        continue;
      c->mounts = xrealloc (c->mounts, (c->n_mounts + 1) * sizeof *c->mounts);
      c->mounts[c->n_mounts++] = xstrdup (dst);
    }
  /* Its writable layer, where the storage driver is an overlay (Docker's
   * overlay2, Podman's overlay): the drift check looks there first. */
  const char *driver = json_str (json_path (v, "GraphDriver", "Name", NULL));
  const char *upper = json_str (json_path (v, "GraphDriver", "Data", "UpperDir", NULL));
  if (driver && (strcmp (driver, "overlay2") == 0 || strcmp (driver, "overlay") == 0) && upper && upper[0] == '/')
    c->upper_dir = xstrdup (upper);
  /* tmpfs mounts are listed in HostConfig only. */
  json_val tmpfs = json_path (v, "HostConfig", "Tmpfs", NULL);
  for (size_t i = 0; i < json_obj_len (tmpfs); i++)
    {
      c->mounts = xrealloc (c->mounts, (c->n_mounts + 1) * sizeof *c->mounts);
      c->mounts[c->n_mounts++] = xstrdup (json_obj_key (tmpfs, i));
    }
  return 0;
}

/* ---- ping, list, inspect, snapshot ---- */

void
docker_ping (struct runtime *rt, rt_done_cb cb, void *ud)
{
  docker_simple (rt, "GET", "/_ping", NULL, 10000, EBUSY, "ping engine", cb, ud);
}

static void
resp_list (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_container *cs = NULL;
  size_t n = 0;
  ret = docker_op_list_answer (op, ret, in, status, body, len, false, &v, &err);
  if (ret == 0)
    {
      cs = xmalloc0 ((json_arr_len (v) + 1) * sizeof *cs);
      for (size_t i = 0; i < json_arr_len (v); i++)
        {
          json_val e = json_arr_at (v, i);
          const char *id = json_str (json_get (e, "Id"));
          if (id == NULL)
            continue;
          struct rt_container *c = &cs[n++];
          c->id = xstrdup (id);
          /* Names also lists legacy link names ("/other/alias"); the
           * container's own is the one without a second slash. */
          json_val names = json_get (e, "Names");
          for (size_t j = 0; j < json_arr_len (names) && c->name == NULL; j++)
            {
              const char *nm = json_str (json_arr_at (names, j));
              if (nm && strchr (nm + 1, '/') == NULL)
                c->name = xstrdup (nm[0] == '/' ? nm + 1 : nm);
            }
          c->image_id = xstrdup (json_str (json_get (e, "ImageID")));
          c->state = rt_state_parse (json_str (json_get (e, "State")));
          rt_labels_from_json (json_get (e, "Labels"), false, NULL, &c->labels, NULL);
        }
    }
  docker_op_unlink (op);
  op->cb.list (op->ud, ret, ret < 0 ? &err : NULL, cs, n);
  for (size_t i = 0; i < n; i++)
    rt_container_free (&cs[i]);
  free (cs);
  docker_op_free (op);
}

void
docker_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "list containers");
  op->cb.list = cb;
  cleanup_free char *path = NULL;
  if (label_filter)
    path = docker_filtered_path ("/containers/json", "all=1", "label", label_filter);
  else
    path = xstrdup ("/containers/json?all=1");
  docker_op_send (op, "GET", path, NULL, 0, resp_list);
}

static void
resp_inspect (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_container c = { 0 };
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  if (ret == 0 && parse_inspect (v, &c, &err) < 0)
    ret = lympho_error_prefix (&err, "%s", op->what);
  docker_op_unlink (op);
  op->cb.container (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? NULL : &c);
  rt_container_free (&c);
  docker_op_free (op);
}

void
docker_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "inspect %s", ref);
  op->cb.container = cb;
  cleanup_free char *path = docker_container_path (ref, "/json");
  docker_op_send (op, "GET", path, NULL, 0, resp_inspect);
}

static void
resp_layer_size (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  int64_t bytes = -1;
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  if (ret == 0 && (!json_as_int64 (json_get (v, "SizeRw"), &bytes) || bytes < 0))
    ret = lympho_error_set (&err, EPROTO, "%s: the answer has no SizeRw", op->what);
  docker_op_unlink (op);
  op->cb.size (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? -1 : bytes);
  docker_op_free (op);
}

void
docker_layer_size (struct runtime *rt, const char *id, rt_size_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "size of %s", id);
  op->cb.size = cb;
  /* The engine walks the writable layer for it: no default time limit. */
  cleanup_free char *path = docker_container_path (id, "/json?size=true");
  docker_op_send (op, "GET", path, NULL, 300L * 1000L, resp_layer_size);
}

static void
resp_snapshot (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  struct rt_snapshot s = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  enum docker_spec_dialect d = op->rt->q->podman_inspect ? DOCKER_SPEC_PODMAN : DOCKER_SPEC_DOCKER;
  if (ret == 0 && docker_spec_from_inspect_as (d, body, len, &s, &err) < 0)
    ret = lympho_error_prefix (&err, "%s", op->what);
  docker_op_unlink (op);
  op->cb.snapshot (op->ud, ret, ret < 0 ? &err : NULL, ret < 0 ? NULL : &s);
  rt_snapshot_free (&s);
  docker_op_free (op);
}

void
docker_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "snapshot %s", ref);
  op->cb.snapshot = cb;
  cleanup_free char *path = docker_container_path (ref, "/json");
  docker_op_send (op, "GET", path, NULL, 0, resp_snapshot);
}

/* ---- lifecycle ---- */

/* POST /containers/{id}/{verb} with no body, as "verb id" in messages. */
static void
container_post (struct runtime *rt, const char *id, const char *verb, rt_done_cb cb, void *ud)
{
  cleanup_free char *suffix = xasprintf ("/%s", verb);
  cleanup_free char *path = docker_container_path (id, suffix);
  cleanup_free char *what = xasprintf ("%s %s", verb, id);
  docker_simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

void
docker_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  container_post (rt, id, "start", cb, ud);
}

/* stop_paused_kills: the stop was refused as "state improper" (409), which
 * is what a paused container gets; SIGKILL works on one, and Podman answers
 * a SIGKILL only once the container has exited. A kill refused in turn
 * means it is not running (stopped meanwhile): the stop's promise holds. */
static void
resp_stop_killed (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  if (ret == -EBUSY)
    ret = 0;
  docker_finish_done (op, ret, &err);
}

static void
resp_stop (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  ret = docker_op_check (op, ret, in, status, body, len, &err);
  if (ret != -EBUSY)
    {
      docker_finish_done (op, ret, &err);
      return;
    }
  log_info ("%s: %s: refused as state improper (paused?), killing it instead", op->rt->q->name, op->what);
  cleanup_free char *path = docker_container_path (op->new_id, "/kill?signal=SIGKILL");
  docker_op_send (op, "POST", path, NULL, 0, resp_stop_killed);
}

void
docker_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = NULL;
  long limit_ms;
  if (timeout_s >= 0)
    {
      cleanup_free char *q = xasprintf ("/stop?t=%d", timeout_s);
      path = docker_container_path (id, q);
      limit_ms = (timeout_s + 30L) * 1000L;
    }
  else
    {
      /* The container's own timeout, unknown here: be generous. */
      path = docker_container_path (id, "/stop");
      limit_ms = 600L * 1000L;
    }
  if (rt->q->stop_paused_kills)
    {
      struct op *op = docker_op_new (rt, ud, EBUSY, "stop %s", id);
      op->cb.done = cb;
      op->new_id = xstrdup (id);
      docker_op_send (op, "POST", path, NULL, limit_ms, resp_stop);
      return;
    }
  cleanup_free char *what = xasprintf ("stop %s", id);
  docker_simple (rt, "POST", path, NULL, limit_ms, EBUSY, what, cb, ud);
}

void
docker_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud)
{
  cleanup_free char *path = NULL;
  if (signal)
    {
      cleanup_free char *s = dhttp_escape (signal);
      cleanup_free char *q = xasprintf ("/kill?signal=%s", s);
      path = docker_container_path (id, q);
    }
  else
    path = docker_container_path (id, "/kill");
  cleanup_free char *what = xasprintf ("kill %s", id);
  docker_simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

void
docker_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  cleanup_free char *q = xasprintf ("?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
  cleanup_free char *path = docker_container_path (id, q);
  cleanup_free char *what = xasprintf ("remove %s", id);
  docker_simple (rt, "DELETE", path, NULL, 0, EBUSY, what, cb, ud);
}

void
docker_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud)
{
  cleanup_free char *n = dhttp_escape (new_name);
  cleanup_free char *q = xasprintf ("/rename?name=%s", n);
  cleanup_free char *path = docker_container_path (id, q);
  cleanup_free char *what = xasprintf ("rename %s to %s", id, new_name);
  docker_simple (rt, "POST", path, NULL, 0, EEXIST, what, cb, ud);
}

void
docker_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  container_post (rt, id, "pause", cb, ud);
}

void
docker_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  container_post (rt, id, "unpause", cb, ud);
}

/* ---- changes, top ---- */

static void
resp_changes (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  struct rt_change *cs = NULL;
  size_t n = 0;
  ret = docker_op_list_answer (op, ret, in, status, body, len, true, &v, &err);
  if (ret == 0)
    {
      size_t total = json_arr_len (v);
      cs = xmalloc0 ((total + 1) * sizeof *cs);
      for (size_t i = 0; i < total; i++)
        {
          const char *path = json_str (json_get (json_arr_at (v, i), "Path"));
          int64_t kind = -1;
          json_as_int64 (json_get (json_arr_at (v, i), "Kind"), &kind);
          if (path == NULL || kind < 0 || kind > 2)
            continue;
          cs[n].kind = "CAD"[kind];
          cs[n].path = (char *) path; /* borrowed from the tree for the callback */
          n++;
        }
      if (op->rt->q->changes_lone_dirs)
        n = rt_changes_drop_lone_dirs (cs, n, op->mounts, op->n_mounts);
    }
  docker_op_unlink (op);
  op->cb.changes (op->ud, ret, ret < 0 ? &err : NULL, cs, n);
  free (cs);
  docker_op_free (op);
}

static void
resp_changes_inspect (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  const char *id = NULL;
  ret = docker_op_id (op, ret, in, status, body, len, &v, &id, &err);
  if (ret < 0)
    {
      /* Reported by resp_changes, from the loop, like a failed /changes. */
      docker_op_fail_later (op, &err, resp_changes);
      return;
    }
  json_val mounts = json_get (v, "Mounts");
  op->mounts = xmalloc0 ((json_arr_len (mounts) + 1) * sizeof *op->mounts);
  for (size_t i = 0; i < json_arr_len (mounts); i++)
    {
      const char *dst = json_str (json_get (json_arr_at (mounts, i), "Destination"));
      if (dst)
        op->mounts[op->n_mounts++] = xstrdup (dst);
    }
  cleanup_free char *path = docker_container_path (id, "/changes");
  docker_op_send (op, "GET", path, NULL, 0, resp_changes);
}

void
docker_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "changes of %s", id);
  op->cb.changes = cb;
  if (rt->q->changes_lone_dirs)
    {
      cleanup_free char *path = docker_container_path (id, "/json");
      docker_op_send (op, "GET", path, NULL, 0, resp_changes_inspect);
      return;
    }
  cleanup_free char *path = docker_container_path (id, "/changes");
  docker_op_send (op, "GET", path, NULL, 0, resp_changes);
}

static int
title_index (json_val titles, const char *const *names)
{
  for (size_t i = 0; i < json_arr_len (titles); i++)
    {
      const char *t = json_str (json_arr_at (titles, i));
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
  cleanup_json json_val v = NULL;
  struct rt_process *ps = NULL;
  size_t n = 0;
  ret = docker_op_answer (op, ret, in, status, body, len, &v, &err);
  json_val titles = json_get (v, "Titles");
  json_val procs = json_get (v, "Processes");
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
          json_val row = json_arr_at (procs, i);
          size_t cols = json_arr_len (row);
          if ((size_t) ipid >= cols || (size_t) icmd >= cols)
            continue;
          const char *pid = json_str (json_arr_at (row, ipid));
          if (pid == NULL)
            continue;
          ps[n].pid = atoi (pid);
          ps[n].cmd = (char *) json_str (json_arr_at (row, icmd));
          ps[n].user = iuser >= 0 && (size_t) iuser < cols ? (char *) json_str (json_arr_at (row, iuser)) : NULL;
          if (ps[n].cmd)
            n++;
        }
    }
  docker_op_unlink (op);
  op->cb.top (op->ud, ret, ret < 0 ? &err : NULL, ps, n);
  free (ps);
  docker_op_free (op);
}

void
docker_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "top of %s", id);
  op->cb.top = cb;
  cleanup_free char *q = xasprintf ("/top?ps_args=%s", rt->q->top_args);
  cleanup_free char *path = docker_container_path (id, q);
  docker_op_send (op, "GET", path, NULL, 0, resp_top);
}

void
docker_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  cleanup_free char *e = dhttp_escape (network);
  cleanup_free char *path = xasprintf ("/networks/%s/disconnect", e);
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "Container", id);
  json_gen_kbool (g, "Force", true);
  json_gen_map_close (g);
  cleanup_free char *body = json_gen_text (g);
  cleanup_free char *what = xasprintf ("disconnect %s from %s", id, network);
  docker_simple (rt, "POST", path, body, 0, EBUSY, what, cb, ud);
}

