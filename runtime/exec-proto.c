/* lympho — the plugin protocol's parsing and building (see exec-proto.h).
 * May call: json and runtime.h's plain data: a leaf. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/util.h"
#include "exec-proto.h"

static const struct
{
  const char *name;
  int value;
} errnos[] = {
  { "ENOENT", ENOENT },       { "EEXIST", EEXIST },   { "EINVAL", EINVAL },         { "EIO", EIO },
  { "EBUSY", EBUSY },         { "ENOTSUP", ENOTSUP }, { "EPERM", EPERM },           { "EACCES", EACCES },
  { "ETIMEDOUT", ETIMEDOUT }, { "ENOSPC", ENOSPC },   { "ECONNREFUSED", ECONNREFUSED }, { "EAGAIN", EAGAIN },
  { "ENOEXEC", ENOEXEC },
};

int
exec_proto_errno (const char *name)
{
  for (size_t i = 0; name && i < sizeof errnos / sizeof errnos[0]; i++)
    if (strcmp (errnos[i].name, name) == 0)
      return errnos[i].value;
  return EIO;
}

const char *
exec_proto_errno_name (int e)
{
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].value == e)
      return errnos[i].name;
  return "EIO";
}

#define garbage(err, ...) lympho_error_set ((err), EIO, "plugin answered garbage: " __VA_ARGS__)

/* A short, printable excerpt of what the plugin said, for the message. */
static void
excerpt (const char *text, size_t len, char *out, size_t size)
{
  size_t j = 0;
  for (size_t i = 0; i < len && j + 4 < size; i++)
    out[j++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
  if (len > 0 && j + 4 >= size)
    {
      memcpy (out + j, "...", 3);
      j += 3;
    }
  out[j] = '\0';
}

static int
check_version (json_val v, lympho_error_t *err)
{
  int64_t version = 0;
  if (!json_is_object (v))
    return garbage (err, "not a JSON object");
  if (!json_as_int64 (json_get (v, "version"), &version))
    return garbage (err, "no integer \"version\"");
  if (version != EXEC_PROTO_VERSION)
    return garbage (err, "protocol version %lld, lymphd speaks %d", (long long) version, EXEC_PROTO_VERSION);
  return 0;
}

int
exec_proto_answer (const char *text, size_t len, json_val *data, lympho_error_t *err)
{
  *data = NULL;
  if (len > EXEC_PROTO_MAX_ANSWER)
    return garbage (err, "answer of more than %u bytes", EXEC_PROTO_MAX_ANSWER);
  if (len == 0)
    return garbage (err, "empty answer");
  cleanup_json json_val v = NULL;
  lympho_error_t perr = { 0 };
  if (json_parse (text, len, &v, &perr) < 0)
    {
      char ex[64];
      excerpt (text, len, ex, sizeof ex);
      /* json_parse refuses trailing bytes and several documents too. */
      return garbage (err, "%s: \"%s\"", perr.msg, ex);
    }
  if (check_version (v, err) < 0)
    return -EIO;
  json_val ok = json_get (v, "ok");
  if (ok == NULL || !(json_is_true (ok) || json_is_false (ok)))
    return garbage (err, "no boolean \"ok\"");
  if (json_is_false (ok))
    {
      const char *msg = json_str (json_get (v, "error"));
      json_val en = json_get (v, "errno");
      if (msg == NULL)
        return garbage (err, "ok is false without an \"error\" message");
      if (en != NULL && json_str (en) == NULL)
        return garbage (err, "\"errno\" is not a string");
      return lympho_error_set (err, exec_proto_errno (json_str (en)), "%s", msg);
    }
  *data = steal_pointer (&v);
  return 0;
}

static int
parse_labels (json_val v, const char *what, struct rt_labels *out, lympho_error_t *err)
{
  lympho_error_t e = { 0 };
  if (rt_labels_from_json (v, true, what, out, &e) < 0)
    return garbage (err, "%s", e.msg);
  return 0;
}

/* Optional members: absent or null is fine, the wrong type is not. */
static int
opt_int (json_val v, const char *key, int64_t *out, lympho_error_t *err)
{
  json_val m = json_get (v, key);
  if (m == NULL || json_is_null (m))
    return 0;
  if (!json_as_int64 (m, out))
    return garbage (err, "\"%s\" is not an integer", key);
  return 0;
}

static int
opt_str (json_val v, const char *key, const char **out, lympho_error_t *err)
{
  json_val m = json_get (v, key);
  *out = NULL;
  if (m == NULL || json_is_null (m))
    return 0;
  if ((*out = json_str (m)) == NULL)
    return garbage (err, "\"%s\" is not a string", key);
  return 0;
}

static int
need_str (json_val v, const char *key, const char *what, const char **out, lympho_error_t *err)
{
  if ((*out = json_str (json_get (v, key))) == NULL || **out == '\0')
    return garbage (err, "%s without a string \"%s\"", what, key);
  return 0;
}

/* An optional list of strings ("networks", "mounts"): absent or null is
 * empty; anything but strings in it is garbage. ITEM names one element. */
static int
check_str_list (json_val v, const char *key, const char *item, lympho_error_t *err)
{
  if (v && !json_is_null (v) && !json_is_array (v))
    return garbage (err, "\"%s\" is not a list", key);
  for (size_t i = 0; i < json_arr_len (v); i++)
    if (json_str (json_arr_at (v, i)) == NULL)
      return garbage (err, "%s is not a string", item);
  return 0;
}

/* A copy of a list check_str_list accepted; NULL when empty. */
static char **
copy_str_list (json_val v, size_t *n)
{
  size_t len = json_arr_len (v);
  *n = len;
  if (len == 0)
    return NULL;
  char **out = xmalloc0 ((len + 1) * sizeof *out);
  for (size_t i = 0; i < len; i++)
    out[i] = xstrdup (json_str (json_arr_at (v, i)));
  return out;
}

/* A plugin's name and image id become file names under the state
 * directory and keys everywhere: Docker's charset for names, a content id
 * for images (image may be NULL: a container's is optional). */
static int
check_name_and_image (const char *id, const char *name, const char *image, lympho_error_t *err)
{
  if (!rt_name_valid (name[0] == '/' ? name + 1 : name))
    return garbage (err, "container %.64s: name \"%.64s\" is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", id,
                    name);
  if (image && !rt_image_id_valid (image))
    return garbage (err, "container %.64s: image_id \"%.80s\" is not a content id ([ALGO:]HEX)", id, image);
  return 0;
}

int
exec_proto_container (json_val v, bool full, struct rt_container *c, lympho_error_t *err)
{
  memset (c, 0, sizeof *c);
  const char *id, *name, *state, *image = NULL, *health = NULL;
  int64_t pid = 0, exit_code = 0, started = 0;
  if (!json_is_object (v))
    return garbage (err, "a container is not an object");
  if (need_str (v, "id", "container", &id, err) < 0 || need_str (v, "name", "container", &name, err) < 0
      || need_str (v, "state", "container", &state, err) < 0 || opt_str (v, "image_id", &image, err) < 0
      || opt_str (v, "health", &health, err) < 0 || opt_int (v, "pid", &pid, err) < 0
      || opt_int (v, "exit_code", &exit_code, err) < 0 || opt_int (v, "started_at_ms", &started, err) < 0)
    return -EIO;
  enum rt_state st = rt_state_parse (state);
  if (st == RT_STATE_UNKNOWN)
    return garbage (err, "container %s in unknown state \"%s\"", id, state);
  if (check_name_and_image (id, name, NULL, err) < 0)
    return -EIO;
  /* A container's image id is a hint (a snapshot's is what lymphd keeps):
   * one that is not a content id is left out, the container kept. */
  if (image && !rt_image_id_valid (image))
    image = NULL;
  json_val nets = json_get (v, "networks");
  json_val mounts = json_get (v, "mounts");
  if (check_str_list (nets, "networks", "a network name", err) < 0
      || check_str_list (mounts, "mounts", "a mount destination", err) < 0)
    return -EIO;
  struct rt_container tmp = { 0 };
  if (parse_labels (json_get (v, "labels"), "labels", &tmp.labels, err) < 0)
    {
      rt_labels_free (&tmp.labels);
      return -EIO;
    }
  tmp.id = xstrdup (id);
  tmp.name = xstrdup (name[0] == '/' ? name + 1 : name);
  tmp.image_id = xstrdup (image);
  tmp.state = st;
  if (full)
    {
      tmp.health = health == NULL                         ? RT_HEALTH_NONE
                   : strcmp (health, "starting") == 0     ? RT_HEALTH_STARTING
                   : strcmp (health, "healthy") == 0      ? RT_HEALTH_HEALTHY
                   : strcmp (health, "unhealthy") == 0    ? RT_HEALTH_UNHEALTHY
                                                          : RT_HEALTH_NONE;
      tmp.pid = (int) pid;
      tmp.exit_code = (int) exit_code;
      tmp.oom_killed = json_is_true (json_get (v, "oom_killed"));
      tmp.started_at_ms = started > 0 ? (uint64_t) started : 0;
      tmp.networks = copy_str_list (nets, &tmp.n_networks);
      tmp.mounts = copy_str_list (mounts, &tmp.n_mounts);
    }
  *c = tmp;
  return 0;
}

int
exec_proto_snapshot (json_val v, struct rt_snapshot *s, lympho_error_t *err)
{
  memset (s, 0, sizeof *s);
  const char *id, *name, *image, *blocker = NULL;
  int64_t stop_timeout = -1;
  if (!json_is_object (v))
    return garbage (err, "\"snapshot\" is not an object");
  if (need_str (v, "id", "snapshot", &id, err) < 0 || need_str (v, "name", "snapshot", &name, err) < 0
      || need_str (v, "image_id", "snapshot", &image, err) < 0 || opt_str (v, "swap_blocker", &blocker, err) < 0
      || opt_int (v, "stop_timeout", &stop_timeout, err) < 0)
    return -EIO;
  if (check_name_and_image (id, name, image, err) < 0)
    return -EIO;
  json_val spec = json_get (v, "spec");
  if (spec == NULL || json_is_null (spec))
    return garbage (err, "snapshot without a \"spec\"");
  struct rt_snapshot tmp = { 0 };
  if (parse_labels (json_get (v, "labels"), "labels", &tmp.labels, err) < 0)
    {
      rt_labels_free (&tmp.labels);
      return -EIO;
    }
  tmp.id = xstrdup (id);
  tmp.name = xstrdup (name[0] == '/' ? name + 1 : name);
  tmp.image_id = xstrdup (image);
  /* The spec is the plugin's own; the core stores it as text and create
   * sends it back as the same JSON value. */
  tmp.spec = json_to_string (spec);
  tmp.has_healthcheck = json_is_true (json_get (v, "has_healthcheck"));
  tmp.swap_blocker = xstrdup (blocker);
  tmp.stop_timeout_s = stop_timeout < 0 || stop_timeout > 86400 ? -1 : (int) stop_timeout;
  *s = tmp;
  return 0;
}

int
exec_proto_id (json_val answer, char **id, lympho_error_t *err)
{
  const char *s;
  if (need_str (answer, "id", "answer", &s, err) < 0)
    return -EIO;
  *id = xstrdup (s);
  return 0;
}

int
exec_proto_event (const char *line, size_t len, struct rt_event *ev, json_val *tree, struct rt_labels *attrs,
                  lympho_error_t *err)
{
  memset (ev, 0, sizeof *ev);
  *tree = NULL;
  if (len > EXEC_PROTO_MAX_EVENT_LINE)
    return garbage (err, "event of more than %u bytes", EXEC_PROTO_MAX_EVENT_LINE);
  cleanup_json json_val v = NULL;
  lympho_error_t perr = { 0 };
  if (json_parse (line, len, &v, &perr) < 0)
    return garbage (err, "event: %s", perr.msg);
  if (check_version (v, err) < 0)
    return -EIO;
  const char *type, *action, *id, *name = NULL;
  int64_t exit_code = -1, nano = 0;
  if (need_str (v, "type", "event", &type, err) < 0 || need_str (v, "action", "event", &action, err) < 0
      || need_str (v, "id", "event", &id, err) < 0 || opt_str (v, "name", &name, err) < 0
      || opt_int (v, "exit_code", &exit_code, err) < 0 || opt_int (v, "time_nano", &nano, err) < 0)
    return -EIO;
  if (parse_labels (json_get (v, "attributes"), "attributes", attrs, err) < 0)
    {
      rt_labels_free (attrs);
      return -EIO;
    }
  ev->type = strcmp (type, "container") == 0 ? RT_EV_CONTAINER
             : strcmp (type, "image") == 0   ? RT_EV_IMAGE
             : strcmp (type, "network") == 0 ? RT_EV_NETWORK
                                             : RT_EV_OTHER;
  ev->action = action;
  ev->id = id;
  ev->name = name ? name : rt_labels_get (attrs, "name");
  ev->attrs = attrs;
  ev->exit_code = strcmp (action, "die") == 0 ? (int) exit_code : -1;
  ev->time_nano = nano > 0 ? (uint64_t) nano : 0;
  *tree = steal_pointer (&v);
  return 0;
}

static const struct rt_container *
find (const struct rt_container *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, id) == 0)
      return &v[i];
  return NULL;
}

static void
emit_one (exec_proto_emit_fn emit, void *ud, const struct rt_container *c, const char *action, uint64_t nano)
{
  struct rt_labels attrs = { 0 };
  rt_labels_copy (&attrs, &c->labels);
  rt_labels_set (&attrs, "name", c->name);
  struct rt_event ev = { .type = RT_EV_CONTAINER, .action = action, .id = c->id, .name = c->name,
                         .attrs = &attrs, .exit_code = -1, .time_nano = nano };
  emit (ud, &ev);
  rt_labels_free (&attrs);
}

static bool
is_up (enum rt_state s)
{
  return s == RT_STATE_RUNNING || s == RT_STATE_PAUSED || s == RT_STATE_RESTARTING;
}

void
exec_proto_diff (const struct rt_container *old, size_t n_old, const struct rt_container *cur, size_t n_cur,
                 uint64_t nano, exec_proto_emit_fn emit, void *ud)
{
  for (size_t i = 0; i < n_cur; i++)
    {
      const struct rt_container *c = &cur[i];
      const struct rt_container *o = find (old, n_old, c->id);
      if (o == NULL)
        emit_one (emit, ud, c, "create", nano);
      else if (strcmp (o->name ? o->name : "", c->name ? c->name : "") != 0)
        emit_one (emit, ud, c, "rename", nano);
      bool was_up = o && is_up (o->state), now_up = is_up (c->state);
      if (!was_up && now_up)
        emit_one (emit, ud, c, "start", nano);
      if (was_up && !now_up)
        emit_one (emit, ud, c, "die", nano);
      if (now_up && was_up && o->state != RT_STATE_PAUSED && c->state == RT_STATE_PAUSED)
        emit_one (emit, ud, c, "pause", nano);
      if (now_up && was_up && o->state == RT_STATE_PAUSED && c->state != RT_STATE_PAUSED)
        emit_one (emit, ud, c, "unpause", nano);
    }
  for (size_t i = 0; i < n_old; i++)
    if (find (cur, n_cur, old[i].id) == NULL)
      {
        /* Gone between two polls: it stopped (when it ran) and went away. */
        if (is_up (old[i].state))
          emit_one (emit, ud, &old[i], "die", nano);
        emit_one (emit, ud, &old[i], "destroy", nano);
      }
}

json_gen
exec_proto_request (void)
{
  json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "version", EXEC_PROTO_VERSION);
  return g;
}

