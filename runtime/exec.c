/* lympho — the external plugin backend: `--runtime exec:PATH` runs
 * `PATH SUBCOMMAND` for every operation, one JSON request on its stdin, one
 * JSON answer on its stdout (docs/lympho-runtime-plugin.7). This file: the
 * operations, each one call (exec-call.c), open and close; events are
 * exec-events.c. exec-int.h says which file owns what.
 * May call: exec-call.c, exec-events.c, exec-proto, privs. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/privs.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "exec-int.h"
#include "exec-proto.h"

/* ---- the operations ---- */

static void
simple (struct runtime *rt, const char *sub, json_gen g, uint64_t limit_ms, rt_done_cb cb, void *ud,
        const char *what)
{
  struct call *c = exec_call_start (rt, sub, g, limit_ms, K_DONE, ud, "%s", what);
  c->cb.done = cb;
}

static json_gen
req_id (const char *key, const char *id)
{
  json_gen g = exec_proto_request ();
  json_gen_kstr (g, key, id);
  return g;
}

static void
exec_ping (struct runtime *rt, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = exec_proto_request ();
  simple (rt, "ping", g, rt->timeout_ms, cb, ud, "ping plugin");
}

static void
exec_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud)
{
  cleanup_jgen json_gen g = exec_proto_request ();
  json_gen_kstr (g, "label", label_filter);
  struct call *c = exec_call_start (rt, "list", g, rt->timeout_ms, K_LIST, ud, "list containers");
  c->cb.list = cb;
}

static void
exec_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("ref", ref);
  struct call *c = exec_call_start (rt, "inspect", g, rt->timeout_ms, K_CONTAINER, ud, "inspect %s", ref);
  c->cb.container = cb;
}

static void
exec_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("ref", ref);
  struct call *c = exec_call_start (rt, "snapshot", g, rt->timeout_ms, K_SNAPSHOT, ud, "snapshot %s", ref);
  c->cb.snapshot = cb;
}

static void
exec_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
             rt_id_cb cb, void *ud)
{
  cleanup_jgen json_gen g = exec_proto_request ();
  cleanup_json json_val sv = NULL;
  lympho_error_t err = { 0 };
  /* The spec came from this plugin's snapshot as JSON; send it back as the
   * same value. A spec that no longer parses is reported by the call. */
  json_gen_str (g, "spec");
  if (json_parse (spec, strlen (spec), &sv, &err) == 0)
    json_gen_value (g, sv);
  else
    json_gen_str (g, spec);
  json_gen_kstr (g, "name", name);
  rt_labels_gen (g, "labels", extra_labels);
  struct call *c = exec_call_start (rt, "create", g, rt->timeout_ms, K_ID, ud, "create %s", name);
  c->cb.id = cb;
}

static void
exec_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("start %s", id);
  simple (rt, "start", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kint (g, "timeout", timeout_s);
  cleanup_free char *what = xasprintf ("stop %s", id);
  /* The plugin waits up to the stop timeout before it kills. */
  uint64_t limit = (uint64_t) (timeout_s < 0 ? 10 : timeout_s) * 1000u + STOP_MARGIN_MS;
  simple (rt, "stop", g, limit > rt->timeout_ms ? limit : rt->timeout_ms, cb, ud, what);
}

static void
exec_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kstr (g, "signal", signal ? signal : "SIGKILL");
  cleanup_free char *what = xasprintf ("kill %s", id);
  simple (rt, "kill", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kbool (g, "force", force);
  json_gen_kbool (g, "volumes", volumes);
  cleanup_free char *what = xasprintf ("remove %s", id);
  simple (rt, "remove", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kstr (g, "name", new_name);
  cleanup_free char *what = xasprintf ("rename %s to %s", id, new_name);
  simple (rt, "rename", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("pause %s", id);
  simple (rt, "pause", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("unpause %s", id);
  simple (rt, "unpause", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("ref", ref);
  struct call *c = exec_call_start (rt, "image-inspect", g, rt->timeout_ms, K_ID, ud, "inspect image %s", ref);
  c->cb.id = cb;
}

static void
exec_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                void *ud)
{
  cleanup_jgen json_gen g = req_id ("image", image_id);
  json_gen_kstr (g, "repo", repo);
  json_gen_kstr (g, "tag", tag ? tag : "latest");
  cleanup_free char *what = xasprintf ("tag image %s as %s:%s", image_id, repo, tag ? tag : "latest");
  simple (rt, "image-tag", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("ref", ref);
  cleanup_free char *what = xasprintf ("remove image %s", ref);
  simple (rt, "image-remove", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_commit (struct runtime *rt, const char *id, const char *repo, const char *tag, const struct rt_labels *labels,
             rt_id_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kstr (g, "repo", repo);
  json_gen_kstr (g, "tag", tag ? tag : "latest");
  rt_labels_gen (g, "labels", labels);
  uint64_t limit = COMMIT_TIMEOUT_MS > rt->timeout_ms ? COMMIT_TIMEOUT_MS : rt->timeout_ms;
  struct call *c = exec_call_start (rt, "commit", g, limit, K_ID, ud, "commit %s", id);
  c->cb.id = cb;
}

static void
exec_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  struct call *c = exec_call_start (rt, "changes", g, rt->timeout_ms, K_CHANGES, ud, "changes of %s", id);
  c->cb.changes = cb;
}

static void
exec_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  struct call *c = exec_call_start (rt, "top", g, rt->timeout_ms, K_TOP, ud, "top of %s", id);
  c->cb.top = cb;
}

static void
exec_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  cleanup_jgen json_gen g = req_id ("id", id);
  json_gen_kstr (g, "network", network);
  cleanup_free char *what = xasprintf ("disconnect %s from %s", id, network);
  simple (rt, "network-disconnect", g, rt->timeout_ms, cb, ud, what);
}

/* ---- open, close ---- */

static uint64_t
env_ms (const char *name, uint64_t fallback)
{
  const char *s = getenv (name);
  char *end;
  if (s == NULL || *s == '\0')
    return fallback;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 10);
  return errno == 0 && *end == '\0' && v > 0 ? (uint64_t) v : fallback;
}

static int
exec_open (struct loop *loop, const char *endpoint, struct runtime **out, lympho_error_t *err)
{
  if (endpoint == NULL || endpoint[0] != '/')
    return lympho_error_set (err, EINVAL, "plugin path `%s` is not absolute", endpoint ? endpoint : "");
  if (access (endpoint, X_OK) < 0)
    return lympho_error_set_errno (err, errno, "plugin %s", endpoint);
  struct runtime *rt = xmalloc0 (sizeof *rt);
  rt->loop = loop;
  rt->path = xstrdup (endpoint);
  exec_events_init (rt);
  rt->timeout_ms = env_ms ("LYMPHO_PLUGIN_TIMEOUT_MS", CALL_TIMEOUT_MS);
  rt->poll_ms = env_ms ("LYMPHO_PLUGIN_POLL_MS", POLL_MS);
  /* Plugins need capabilities lymphd itself does not use (privs.c). */
  privs_for_plugins ();
  *out = rt;
  return 0;
}

static void
exec_close (struct runtime *rt)
{
  if (rt == NULL || rt->s.closed)
    return;
  while (!LIST_EMPTY (&rt->calls))
    {
      struct call *c = LIST_FIRST (&rt->calls);
      exec_call_unlink (c);
      exec_call_free (c);
    }
  exec_reap_now (rt->loop);
  rt->stream = NULL;
  for (size_t i = 0; i < rt->n_seen; i++)
    rt_container_free (&rt->seen[i]);
  free (rt->seen);
  free (rt->path);
  if (rt_stream_close (&rt->s))
    free (rt);
}

const struct runtime_ops runtime_exec_ops = {
  .name = "exec",
  .open = exec_open,
  .close = exec_close,
  .ping = exec_ping,
  .list = exec_list,
  .inspect = exec_inspect,
  .snapshot = exec_snapshot,
  .create = exec_create,
  .start = exec_start,
  .stop = exec_stop,
  .kill = exec_kill,
  .remove = exec_remove,
  .rename = exec_rename,
  .pause = exec_pause,
  .unpause = exec_unpause,
  .image_inspect = exec_image_inspect,
  .image_tag = exec_image_tag,
  .image_remove = exec_image_remove,
  .commit = exec_commit,
  .changes = exec_changes,
  .top = exec_top,
  .network_disconnect = exec_network_disconnect,
  .subscribe = exec_subscribe,
};
