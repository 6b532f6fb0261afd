/* A fake container engine on the real loop (see fake-runtime.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fake-runtime.h"
#include "lympho/json.h"
#include "lympho/loop.h"
#include "lympho/util.h"

static const char *const op_names[] = {
  "ping",    "list",    "inspect",       "snapshot",     "create",       "create_hidden", "publish",
  "start",   "stop",    "kill",          "remove",       "rename",       "pause",         "unpause",
  "image_inspect", "image_tag", "image_remove", "commit", "changes", "top", "network_disconnect",
};
_Static_assert (sizeof op_names / sizeof op_names[0] == FAKE_OP_COUNT, "a name for every op");

struct image
{
  char *id;
  char **refs;
  size_t n_refs;
};

enum script_kind { S_FAIL, S_LIE, S_HOOK, S_CALL_HOOK };

struct script
{
  enum script_kind kind;
  enum fake_op op;
  unsigned nth, times;
  int status;
  char *msg;
  fake_hook_fn fn;
  void *ud;
};

struct pending
{
  struct runtime *rt;
  enum fake_op op;
  unsigned nth;
  uint64_t timer;
  char *ref;     /* container or image reference, as given */
  char *arg;     /* rename: new name; network; signal; repo */
  char *arg2;    /* tag */
  char *line;
  char *name;    /* the container's name when called */
  char *id;      /* the container's id when called */
  char *spec;    /* create */
  struct rt_labels labels;
  bool force;
  int timeout_s;
  union rt_callback cb;
  void *ud;
  struct pending *next;
};

struct event
{
  const char *action;
  char *id;
  char *name;
  int exit_code;
  struct rt_labels attrs;
};

struct runtime
{
  struct loop *loop;
  struct fake_container **c;
  size_t n_c;
  struct image *img;
  size_t n_img;
  char **nets;
  size_t n_nets;
  struct script *s;
  size_t n_s;
  uint64_t delay[FAKE_OP_COUNT];
  unsigned count[FAKE_OP_COUNT];
  char **lines;
  enum fake_op *line_ops;
  size_t n_lines;
  struct pending *pending;
  unsigned next_id, next_pid, next_image;
  unsigned health_delay;
  /* callbacks running; close() inside one defers the free */
  unsigned depth;
  bool closed;
  /* events */
  rt_event_cb ev_cb;
  rt_conn_cb conn_cb;
  void *ev_ud;
  bool subscribed;
  struct event *ev;
  size_t n_ev;
  uint64_t ev_timer;
};

const char *
fake_op_name (enum fake_op op)
{
  return (unsigned) op < FAKE_OP_COUNT ? op_names[op] : "?";
}

int
fake_op_parse (const char *line)
{
  size_t len = strcspn (line, " ");
  for (int i = 0; i < FAKE_OP_COUNT; i++)
    if (strlen (op_names[i]) == len && strncmp (op_names[i], line, len) == 0)
      return i;
  return -1;
}

/* ---- the model ---- */

static void
container_free (struct fake_container *c)
{
  free (c->id);
  free (c->name);
  free (c->image_id);
  free (c->spec);
  rt_labels_free (&c->labels);
  strv_free (c->networks, c->n_networks);
  free (c);
}

static struct fake_container *
find (struct runtime *rt, const char *ref)
{
  if (ref == NULL || ref[0] == '\0')
    return NULL;
  for (size_t i = 0; i < rt->n_c; i++)
    if (strcmp (rt->c[i]->id, ref) == 0)
      return rt->c[i];
  const char *name = ref[0] == '/' ? ref + 1 : ref;
  for (size_t i = 0; i < rt->n_c; i++)
    if (strcmp (rt->c[i]->name, name) == 0)
      return rt->c[i];
  struct fake_container *hit = NULL;
  for (size_t i = 0; i < rt->n_c; i++)
    if (str_has_prefix (rt->c[i]->id, ref))
      {
        if (hit)
          return NULL; /* ambiguous */
        hit = rt->c[i];
      }
  return hit;
}

static struct fake_container *
find_name (struct runtime *rt, const char *name)
{
  for (size_t i = 0; i < rt->n_c; i++)
    if (strcmp (rt->c[i]->name, name) == 0)
      return rt->c[i];
  return NULL;
}

static struct image *
find_image (struct runtime *rt, const char *ref)
{
  if (ref == NULL)
    return NULL;
  for (size_t i = 0; i < rt->n_img; i++)
    {
      struct image *im = &rt->img[i];
      if (strcmp (im->id, ref) == 0 || (str_has_prefix (im->id, "sha256:") && strcmp (im->id + 7, ref) == 0))
        return im;
      for (size_t j = 0; j < im->n_refs; j++)
        if (strcmp (im->refs[j], ref) == 0)
          return im;
    }
  return NULL;
}

static bool
has_network (struct runtime *rt, const char *name)
{
  for (size_t i = 0; i < rt->n_nets; i++)
    if (strcmp (rt->nets[i], name) == 0)
      return true;
  return false;
}

/* Docker's rule for container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
static bool
valid_name (const char *n)
{
  if (n == NULL)
    return false;
  if (n[0] == '/')
    n++;
  size_t len = strlen (n);
  if (len < 2)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char ch = n[i];
      bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
      if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
        return false;
    }
  return true;
}

static bool
running (const struct fake_container *c)
{
  return c->state == RT_STATE_RUNNING || c->state == RT_STATE_PAUSED || c->state == RT_STATE_RESTARTING;
}

static void
queue_event (struct runtime *rt, const char *action, const struct fake_container *c, int exit_code);

static int
conflict (const char *name, const struct fake_container *holder, lympho_error_t *err)
{
  return lympho_error_set (err, EEXIST,
                           "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have "
                           "to remove (or rename) that container to be able to reuse that name.",
                           name, holder->id);
}

static int
no_such_container (const char *ref, lympho_error_t *err)
{
  return lympho_error_set (err, ENOENT, "No such container: %s", ref ? ref : "");
}

/* Make a container from a spec; nothing is left behind on failure. */
static int
model_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra, bool hidden,
              struct fake_container **out, lympho_error_t *err)
{
  if (!valid_name (name))
    return lympho_error_set (err, EINVAL, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             name ? name : "");
  if (name[0] == '/')
    name++;
  cleanup_json json_val v = NULL;
  lympho_error_t e = { 0 };
  if (spec == NULL || json_parse (spec, strlen (spec), &v, &e) < 0)
    return lympho_error_set (err, EINVAL, "bad create specification: %s", spec ? e.msg : "none");
  const char *image = json_str (json_get (v, "Image"));
  if (image == NULL)
    return lympho_error_set (err, EINVAL, "bad create specification: no Image");
  struct image *im = find_image (rt, image);
  if (im == NULL)
    return lympho_error_set (err, ENOENT, "No such image: %s", image);
  json_val nets = json_get (v, "Networks");
  for (size_t i = 0; i < json_arr_len (nets); i++)
    {
      const char *n = json_str (json_arr_at (nets, i));
      if (n == NULL)
        return lympho_error_set (err, EINVAL, "bad create specification: a network is not a string");
      if (!has_network (rt, n))
        return lympho_error_set (err, ENOENT, "network %s not found", n);
    }
  struct fake_container *holder = find_name (rt, name);
  if (holder)
    return conflict (name, holder, err);

  struct fake_container *c = xmalloc0 (sizeof *c);
  rt->next_id++;
  c->id = xasprintf ("%08x%08x%08x%08x%08x%08x%08x%08x", rt->next_id, rt->next_id, rt->next_id, rt->next_id,
                     rt->next_id, rt->next_id, rt->next_id, rt->next_id);
  c->name = xstrdup (name);
  c->image_id = xstrdup (im->id);
  c->spec = xstrdup (spec);
  c->state = RT_STATE_CREATED;
  c->has_healthcheck = json_is_true (json_get (v, "Healthcheck"));
  c->hidden = hidden;
  json_val labels = json_get (v, "Labels");
  for (size_t i = 0; i < json_obj_len (labels); i++)
    rt_labels_set (&c->labels, json_obj_key (labels, i), json_str (json_obj_value (labels, i)));
  rt_labels_copy (&c->labels, extra);
  for (size_t i = 0; i < json_arr_len (nets); i++)
    {
      c->networks = xrealloc (c->networks, (c->n_networks + 1) * sizeof *c->networks);
      c->networks[c->n_networks++] = xstrdup (json_str (json_arr_at (nets, i)));
    }
  rt->c = xrealloc (rt->c, (rt->n_c + 1) * sizeof *rt->c);
  rt->c[rt->n_c++] = c;
  queue_event (rt, "create", c, -1);
  *out = c;
  return 0;
}

static void
model_start (struct runtime *rt, struct fake_container *c)
{
  c->state = RT_STATE_RUNNING;
  c->pid = (int) (1000 + rt->next_pid++);
  c->exit_code = 0;
  c->started_at_ms = now_real_ms ();
  c->health = c->has_healthcheck ? RT_HEALTH_STARTING : RT_HEALTH_NONE;
  c->starting_left = rt->health_delay;
  queue_event (rt, "start", c, -1);
}

static void
model_exit (struct runtime *rt, struct fake_container *c, int exit_code)
{
  c->state = RT_STATE_EXITED;
  c->pid = 0;
  c->exit_code = exit_code;
  queue_event (rt, "die", c, exit_code);
}

static void
model_remove (struct runtime *rt, struct fake_container *c)
{
  queue_event (rt, "destroy", c, -1);
  for (size_t i = 0; i < rt->n_c; i++)
    if (rt->c[i] == c)
      {
        memmove (&rt->c[i], &rt->c[i + 1], (rt->n_c - i - 1) * sizeof *rt->c);
        rt->n_c--;
        break;
      }
  container_free (c);
}

static void
image_add_ref (struct image *im, const char *ref)
{
  im->refs = xrealloc (im->refs, (im->n_refs + 1) * sizeof *im->refs);
  im->refs[im->n_refs++] = xstrdup (ref);
}

static bool
image_drop_ref (struct image *im, const char *ref)
{
  for (size_t j = 0; j < im->n_refs; j++)
    if (strcmp (im->refs[j], ref) == 0)
      {
        free (im->refs[j]);
        memmove (&im->refs[j], &im->refs[j + 1], (im->n_refs - j - 1) * sizeof *im->refs);
        im->n_refs--;
        return true;
      }
  return false;
}

static struct image *
model_add_image (struct runtime *rt, const char *id)
{
  rt->img = xrealloc (rt->img, (rt->n_img + 1) * sizeof *rt->img);
  struct image *im = &rt->img[rt->n_img++];
  memset (im, 0, sizeof *im);
  im->id = xstrdup (id);
  return im;
}

static void
model_remove_image (struct runtime *rt, struct image *im)
{
  size_t i = (size_t) (im - rt->img);
  free (im->id);
  strv_free (im->refs, im->n_refs);
  memmove (&rt->img[i], &rt->img[i + 1], (rt->n_img - i - 1) * sizeof *rt->img);
  rt->n_img--;
}

static bool
image_in_use (struct runtime *rt, const struct image *im)
{
  for (size_t i = 0; i < rt->n_c; i++)
    if (strcmp (rt->c[i]->image_id, im->id) == 0)
      return true;
  return false;
}

/* A copy for a callback, as a backend answers it. */
static void
container_view (const struct fake_container *c, bool full, struct rt_container *out)
{
  memset (out, 0, sizeof *out);
  out->id = xstrdup (c->id);
  out->name = xstrdup (c->name);
  out->image_id = xstrdup (c->image_id);
  out->state = c->state;
  rt_labels_copy (&out->labels, &c->labels);
  if (!full)
    return; /* a list carries no health, pid, networks */
  out->health = c->health;
  out->pid = c->pid;
  out->exit_code = c->exit_code;
  out->started_at_ms = c->started_at_ms;
  out->networks = strv_dup (c->networks, c->n_networks);
  out->n_networks = c->n_networks;
}

/* ---- events ---- */

static void
deliver_events (struct loop *l, void *ud)
{
  struct runtime *rt = ud;
  rt->ev_timer = 0;
  size_t n = rt->n_ev;
  struct event *v = steal_pointer (&rt->ev);
  rt->n_ev = 0;
  rt->depth++;
  for (size_t i = 0; i < n; i++)
    {
      if (!rt->closed && rt->ev_cb)
        {
          struct rt_event ev = {
            .type = RT_EV_CONTAINER,
            .action = v[i].action,
            .id = v[i].id,
            .name = v[i].name,
            .attrs = &v[i].attrs,
            .exit_code = v[i].exit_code,
            .time_nano = now_real_ms () * 1000000ull,
          };
          rt->ev_cb (rt->ev_ud, &ev);
        }
      free (v[i].id);
      free (v[i].name);
      rt_labels_free (&v[i].attrs);
    }
  free (v);
  rt->depth--;
  if (rt->closed && rt->depth == 0)
    free (rt);
  (void) l;
}

static void
queue_event (struct runtime *rt, const char *action, const struct fake_container *c, int exit_code)
{
  if (!rt->subscribed)
    return;
  rt->ev = xrealloc (rt->ev, (rt->n_ev + 1) * sizeof *rt->ev);
  struct event *e = &rt->ev[rt->n_ev++];
  memset (e, 0, sizeof *e);
  e->action = action;
  e->id = xstrdup (c->id);
  e->name = xstrdup (c->name);
  e->exit_code = exit_code;
  rt_labels_copy (&e->attrs, &c->labels);
  rt_labels_set (&e->attrs, "name", c->name);
  if (rt->ev_timer == 0)
    rt->ev_timer = loop_add_timer (rt->loop, 0, deliver_events, rt);
}

static void
on_connected (struct loop *l, void *ud)
{
  struct runtime *rt = ud;
  (void) l;
  rt->ev_timer = 0;
  if (rt->n_ev > 0)
    rt->ev_timer = loop_add_timer (rt->loop, 0, deliver_events, rt);
  rt->depth++;
  if (rt->conn_cb)
    rt->conn_cb (rt->ev_ud, true);
  rt->depth--;
  if (rt->closed && rt->depth == 0)
    free (rt);
}

/* ---- scripts ---- */

static const struct script *
script_for (struct runtime *rt, enum script_kind kind, enum fake_op op, unsigned nth)
{
  for (size_t i = 0; i < rt->n_s; i++)
    {
      const struct script *s = &rt->s[i];
      if (s->kind != kind || s->op != op)
        continue;
      if (s->nth == 0 || (nth >= s->nth && (s->times == 0 || nth < s->nth + s->times)))
        return s;
    }
  return NULL;
}

static struct script *
script_add (struct runtime *rt, enum script_kind kind, enum fake_op op, unsigned nth)
{
  rt->s = xrealloc (rt->s, (rt->n_s + 1) * sizeof *rt->s);
  struct script *s = &rt->s[rt->n_s++];
  memset (s, 0, sizeof *s);
  s->kind = kind;
  s->op = op;
  s->nth = nth;
  return s;
}

void
fake_fail (struct runtime *rt, enum fake_op op, unsigned nth, unsigned times, int status, const char *msg)
{
  struct script *s = script_add (rt, S_FAIL, op, nth);
  s->times = times;
  s->status = status;
  s->msg = xstrdup (msg);
}

static bool
answers_done (enum fake_op op)
{
  switch (op)
    {
    case FAKE_PING:
    case FAKE_PUBLISH:
    case FAKE_START:
    case FAKE_STOP:
    case FAKE_KILL:
    case FAKE_REMOVE:
    case FAKE_RENAME:
    case FAKE_PAUSE:
    case FAKE_UNPAUSE:
    case FAKE_IMAGE_TAG:
    case FAKE_IMAGE_REMOVE:
    case FAKE_NETWORK_DISCONNECT:
      return true;
    default:
      return false;
    }
}

void
fake_lie (struct runtime *rt, enum fake_op op, unsigned nth)
{
  if (!answers_done (op))
    {
      fprintf (stderr, "fake_lie: %s has an answer to make up; script a hook instead\n", fake_op_name (op));
      abort ();
    }
  script_add (rt, S_LIE, op, nth)->times = 1;
}

void
fake_hook (struct runtime *rt, enum fake_op op, unsigned nth, fake_hook_fn fn, void *ud)
{
  struct script *s = script_add (rt, S_HOOK, op, nth);
  s->times = 1;
  s->fn = fn;
  s->ud = ud;
}

void
fake_hook_call (struct runtime *rt, enum fake_op op, unsigned nth, fake_hook_fn fn, void *ud)
{
  struct script *s = script_add (rt, S_CALL_HOOK, op, nth);
  s->fn = fn;
  s->ud = ud;
}

void
fake_delay (struct runtime *rt, enum fake_op op, uint64_t ms)
{
  rt->delay[op] = ms;
}

void
fake_script_clear (struct runtime *rt)
{
  for (size_t i = 0; i < rt->n_s; i++)
    free (rt->s[i].msg);
  free (rt->s);
  rt->s = NULL;
  rt->n_s = 0;
  memset (rt->delay, 0, sizeof rt->delay);
}

/* ---- calls ---- */

static void
pending_free (struct pending *p)
{
  free (p->ref);
  free (p->arg);
  free (p->arg2);
  free (p->line);
  free (p->name);
  free (p->id);
  free (p->spec);
  rt_labels_free (&p->labels);
  free (p);
}

static void answer (struct loop *l, void *ud);

/* Run the hooks of kind for p's call, in the order they were scripted. */
static void
run_hooks (struct runtime *rt, enum script_kind kind, const struct pending *p, int ret)
{
  for (size_t i = 0; i < rt->n_s && !rt->closed; i++)
    if (rt->s[i].kind == kind && rt->s[i].op == p->op && (rt->s[i].nth == 0 || rt->s[i].nth == p->nth))
      {
        struct fake_call fc = {
          .op = p->op, .nth = p->nth, .ref = p->ref, .name = p->name, .id = p->id, .arg = p->arg,
          .line = p->line, .ret = ret,
        };
        rt->s[i].fn (rt, &fc, rt->s[i].ud);
      }
}

/* Record the call and answer it from the loop. `ref` names a container
 * (resolved for the record) unless image is set. */
static struct pending *
call (struct runtime *rt, enum fake_op op, const char *ref, bool image, const char *arg, const char *arg2, void *ud)
{
  struct pending *p = xmalloc0 (sizeof *p);
  p->rt = rt;
  p->op = op;
  p->nth = ++rt->count[op];
  p->ref = xstrdup (ref);
  p->arg = xstrdup (arg);
  p->arg2 = xstrdup (arg2);
  p->ud = ud;
  const struct fake_container *c = image ? NULL : find (rt, ref);
  if (c)
    {
      p->name = xstrdup (c->name);
      p->id = xstrdup (c->id);
    }
  else if (op == FAKE_CREATE || op == FAKE_CREATE_HIDDEN)
    p->name = xstrdup (ref); /* the name asked for */
  struct buf b;
  buf_init (&b);
  buf_appends (&b, op_names[op]);
  const char *target = c ? c->name : ref;
  if (target)
    buf_printf (&b, " %s", target);
  if (arg)
    buf_printf (&b, " %s", arg);
  if (arg2)
    buf_printf (&b, ":%s", arg2);
  p->line = buf_steal (&b);
  rt->lines = xrealloc (rt->lines, (rt->n_lines + 1) * sizeof *rt->lines);
  rt->line_ops = xrealloc (rt->line_ops, (rt->n_lines + 1) * sizeof *rt->line_ops);
  rt->lines[rt->n_lines] = xstrdup (p->line);
  rt->line_ops[rt->n_lines] = op;
  rt->n_lines++;
  p->next = rt->pending;
  rt->pending = p;
  p->timer = loop_add_timer (rt->loop, rt->delay[op], answer, p);
  run_hooks (rt, S_CALL_HOOK, p, 0);
  return p;
}

static void
unlink_pending (struct runtime *rt, struct pending *p)
{
  for (struct pending **pp = &rt->pending; *pp; pp = &(*pp)->next)
    if (*pp == p)
      {
        *pp = p->next;
        return;
      }
}

/* What an answer carries besides ret and err. */
struct result
{
  char *id;
  struct rt_container c;
  bool have_c;
  struct rt_container *list;
  size_t n_list;
  struct rt_snapshot snap;
  struct rt_process proc;
};

static bool
label_matches (const struct fake_container *c, const char *filter)
{
  if (filter == NULL)
    return true;
  const char *eq = strchr (filter, '=');
  cleanup_free char *key = eq ? xstrndup (filter, (size_t) (eq - filter)) : xstrdup (filter);
  const char *v = rt_labels_get (&c->labels, key);
  return v && (eq == NULL || strcmp (v, eq + 1) == 0);
}

static int
kill_exit_code (const char *signal, bool *dies)
{
  static const struct { const char *name; int n; } sigs[] = {
    { "SIGKILL", 9 }, { "KILL", 9 }, { "9", 9 }, { "SIGTERM", 15 }, { "TERM", 15 }, { "15", 15 },
    { "SIGINT", 2 },  { "INT", 2 },  { "2", 2 },
  };
  if (signal == NULL)
    signal = "SIGKILL";
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (strcmp (sigs[i].name, signal) == 0)
      {
        *dies = true;
        return 128 + sigs[i].n;
      }
  *dies = false; /* the process handles it and keeps running */
  return 0;
}

/* The operation's effect on the model and its answer. */
static int
apply (struct runtime *rt, struct pending *p, struct result *res, lympho_error_t *err)
{
  struct fake_container *c = NULL;
  switch (p->op)
    {
    case FAKE_PING:
      return 0;

    case FAKE_LIST:
      for (size_t i = 0; i < rt->n_c; i++)
        if (label_matches (rt->c[i], p->arg))
          {
            res->list = xrealloc (res->list, (res->n_list + 1) * sizeof *res->list);
            container_view (rt->c[i], false, &res->list[res->n_list++]);
          }
      return 0;

    case FAKE_CREATE:
    case FAKE_CREATE_HIDDEN:
      {
        int ret = model_create (rt, p->spec, p->ref, &p->labels, p->op == FAKE_CREATE_HIDDEN, &c, err);
        if (ret < 0)
          return ret;
        res->id = xstrdup (c->id);
        free (p->id);
        p->id = xstrdup (c->id);
        return 0;
      }

    case FAKE_IMAGE_INSPECT:
      {
        struct image *im = find_image (rt, p->ref);
        if (im == NULL)
          return lympho_error_set (err, ENOENT, "No such image: %s", p->ref ? p->ref : "");
        res->id = xstrdup (im->id);
        return 0;
      }

    case FAKE_IMAGE_TAG:
      {
        struct image *im = find_image (rt, p->ref);
        if (im == NULL)
          return lympho_error_set (err, ENOENT, "No such image: %s", p->ref ? p->ref : "");
        cleanup_free char *ref = xasprintf ("%s:%s", p->arg, p->arg2 ? p->arg2 : "latest");
        for (size_t i = 0; i < rt->n_img; i++)
          image_drop_ref (&rt->img[i], ref); /* a tag names one image */
        image_add_ref (im, ref);
        return 0;
      }

    case FAKE_IMAGE_REMOVE:
      {
        struct image *im = find_image (rt, p->ref);
        if (im == NULL)
          return lympho_error_set (err, ENOENT, "No such image: %s", p->ref ? p->ref : "");
        if (image_drop_ref (im, p->ref))
          {
            if (im->n_refs == 0 && !image_in_use (rt, im))
              model_remove_image (rt, im);
            return 0;
          }
        if (image_in_use (rt, im))
          return lympho_error_set (err, EBUSY, "conflict: unable to delete %.19s - image is being used by a container",
                                   im->id);
        model_remove_image (rt, im);
        return 0;
      }

    default:
      break;
    }

  /* The rest act on one container. */
  c = find (rt, p->ref);
  if (c == NULL)
    return no_such_container (p->ref, err);
  switch (p->op)
    {
    case FAKE_INSPECT:
      if (c->health == RT_HEALTH_STARTING && running (c))
        {
          if (c->starting_left > 0)
            {
              if (c->starting_left != UINT_MAX)
                c->starting_left--;
            }
          else
            c->health = RT_HEALTH_HEALTHY;
        }
      container_view (c, true, &res->c);
      res->have_c = true;
      return 0;

    case FAKE_SNAPSHOT:
      res->snap.id = xstrdup (c->id);
      res->snap.name = xstrdup (c->name);
      res->snap.image_id = xstrdup (c->image_id);
      {
        /* What it is now, as an engine's inspect would translate it. */
        char **nets = xmalloc0 ((c->n_networks + 1) * sizeof *nets);
        memcpy (nets, c->networks, c->n_networks * sizeof *nets);
        res->snap.spec = fake_spec (c->image_id, (const char *const *) nets, c->has_healthcheck, &c->labels);
        free (nets);
      }
      rt_labels_copy (&res->snap.labels, &c->labels);
      res->snap.has_healthcheck = c->has_healthcheck;
      res->snap.stop_timeout_s = -1;
      return 0;

    case FAKE_PUBLISH:
      c->hidden = false;
      return 0;

    case FAKE_START:
      if (c->state == RT_STATE_PAUSED)
        return lympho_error_set (err, EBUSY, "cannot start a paused container, try unpause instead");
      if (c->state != RT_STATE_RUNNING)
        model_start (rt, c);
      return 0; /* already running: 304, success */

    case FAKE_STOP:
      if (running (c))
        {
          model_exit (rt, c, 0);
          queue_event (rt, "stop", c, -1);
        }
      return 0; /* stopping a stopped container succeeds */

    case FAKE_KILL:
      {
        if (!running (c))
          return lympho_error_set (err, EBUSY, "Cannot kill container: %s: Container %s is not running", p->ref,
                                   c->id);
        bool dies;
        int code = kill_exit_code (p->arg, &dies);
        queue_event (rt, "kill", c, -1);
        if (dies)
          model_exit (rt, c, code);
        return 0;
      }

    case FAKE_REMOVE:
      if (running (c) && !p->force)
        return lympho_error_set (err, EBUSY,
                                 "You cannot remove a running container %s. Stop the container before attempting "
                                 "removal or force remove",
                                 c->id);
      model_remove (rt, c);
      return 0;

    case FAKE_RENAME:
      {
        if (!valid_name (p->arg))
          return lympho_error_set (err, EINVAL, "Invalid container name (%s)", p->arg ? p->arg : "");
        const char *to = p->arg[0] == '/' ? p->arg + 1 : p->arg;
        if (strcmp (to, c->name) == 0)
          return lympho_error_set (err, EINVAL, "Renaming a container with the same name as its current name");
        struct fake_container *holder = find_name (rt, to);
        if (holder)
          return conflict (to, holder, err);
        free (c->name);
        c->name = xstrdup (to);
        queue_event (rt, "rename", c, -1);
        return 0;
      }

    case FAKE_PAUSE:
      if (c->state == RT_STATE_PAUSED)
        return lympho_error_set (err, EBUSY, "Container %s is already paused", c->id);
      if (c->state != RT_STATE_RUNNING)
        return lympho_error_set (err, EBUSY, "Container %s is not running", c->id);
      c->state = RT_STATE_PAUSED;
      queue_event (rt, "pause", c, -1);
      return 0;

    case FAKE_UNPAUSE:
      if (c->state != RT_STATE_PAUSED)
        return lympho_error_set (err, EBUSY, "Container %s is not paused", c->id);
      c->state = RT_STATE_RUNNING;
      queue_event (rt, "unpause", c, -1);
      return 0;

    case FAKE_COMMIT:
      {
        cleanup_free char *id = xasprintf ("sha256:%064x", ++rt->next_image);
        cleanup_free char *ref = xasprintf ("%s:%s", p->arg, p->arg2 ? p->arg2 : "latest");
        for (size_t i = 0; i < rt->n_img; i++)
          image_drop_ref (&rt->img[i], ref);
        image_add_ref (model_add_image (rt, id), ref);
        res->id = xstrdup (id);
        return 0;
      }

    case FAKE_CHANGES:
      return 0; /* a fresh writable layer */

    case FAKE_TOP:
      if (!running (c))
        return lympho_error_set (err, EBUSY, "Container %s is not running", c->id);
      res->proc.pid = c->pid;
      res->proc.user = xstrdup ("root");
      res->proc.cmd = xstrdup ("/fake");
      return 0;

    case FAKE_NETWORK_DISCONNECT:
      if (!has_network (rt, p->arg))
        return lympho_error_set (err, ENOENT, "network %s not found", p->arg);
      for (size_t i = 0; i < c->n_networks; i++)
        if (strcmp (c->networks[i], p->arg) == 0)
          {
            free (c->networks[i]);
            memmove (&c->networks[i], &c->networks[i + 1], (c->n_networks - i - 1) * sizeof *c->networks);
            c->n_networks--;
            return 0;
          }
      return lympho_error_set (err, EPERM, "container %s is not connected to network %s", c->id, p->arg);

    default:
      return lympho_error_set (err, ENOSYS, "fake: %s", op_names[p->op]);
    }
}

static void
answer (struct loop *l, void *ud)
{
  struct pending *p = ud;
  struct runtime *rt = p->rt;
  (void) l;
  unlink_pending (rt, p);
  lympho_error_t err = { 0 };
  struct result res = { 0 };
  int ret;
  const struct script *s = script_for (rt, S_FAIL, p->op, p->nth);
  if (s)
    ret = lympho_error_set (&err, s->status, "%s", s->msg);
  else if (script_for (rt, S_LIE, p->op, p->nth))
    ret = 0;
  else
    ret = apply (rt, p, &res, &err);

  rt->depth++;
  run_hooks (rt, S_HOOK, p, ret);

  const lympho_error_t *e = ret < 0 ? &err : NULL;
  if (!rt->closed)
    switch (p->op)
      {
      case FAKE_LIST:
        p->cb.list (p->ud, ret, e, ret < 0 ? NULL : res.list, ret < 0 ? 0 : res.n_list);
        break;
      case FAKE_INSPECT:
        p->cb.container (p->ud, ret, e, res.have_c ? &res.c : NULL);
        break;
      case FAKE_SNAPSHOT:
        p->cb.snapshot (p->ud, ret, e, ret < 0 ? NULL : &res.snap);
        break;
      case FAKE_CREATE:
      case FAKE_CREATE_HIDDEN:
      case FAKE_IMAGE_INSPECT:
      case FAKE_COMMIT:
        p->cb.id (p->ud, ret, e, ret < 0 ? NULL : res.id);
        break;
      case FAKE_CHANGES:
        p->cb.changes (p->ud, ret, e, NULL, 0);
        break;
      case FAKE_TOP:
        p->cb.top (p->ud, ret, e, ret < 0 ? NULL : &res.proc, ret < 0 ? 0 : 1);
        break;
      default:
        p->cb.done (p->ud, ret, e);
        break;
      }
  rt->depth--;

  free (res.id);
  rt_container_free (&res.c);
  for (size_t i = 0; i < res.n_list; i++)
    rt_container_free (&res.list[i]);
  free (res.list);
  rt_snapshot_free (&res.snap);
  free (res.proc.user);
  free (res.proc.cmd);
  pending_free (p);
  if (rt->closed && rt->depth == 0)
    free (rt);
}

/* ---- the ops table ---- */

static int
fake_open (struct loop *loop, const char *endpoint, struct runtime **out, lympho_error_t *err)
{
  (void) endpoint;
  (void) err;
  struct runtime *rt = xmalloc0 (sizeof *rt);
  rt->loop = loop;
  rt->health_delay = 1;
  *out = rt;
  return 0;
}

static void
fake_close (struct runtime *rt)
{
  while (rt->pending)
    {
      struct pending *p = rt->pending;
      rt->pending = p->next;
      loop_cancel_timer (rt->loop, p->timer);
      pending_free (p);
    }
  if (rt->ev_timer)
    loop_cancel_timer (rt->loop, rt->ev_timer);
  for (size_t i = 0; i < rt->n_ev; i++)
    {
      free (rt->ev[i].id);
      free (rt->ev[i].name);
      rt_labels_free (&rt->ev[i].attrs);
    }
  free (rt->ev);
  for (size_t i = 0; i < rt->n_c; i++)
    container_free (rt->c[i]);
  free (rt->c);
  for (size_t i = 0; i < rt->n_img; i++)
    {
      free (rt->img[i].id);
      strv_free (rt->img[i].refs, rt->img[i].n_refs);
    }
  free (rt->img);
  strv_free (rt->nets, rt->n_nets);
  fake_script_clear (rt);
  strv_free (rt->lines, rt->n_lines);
  free (rt->line_ops);
  if (rt->depth > 0)
    {
      /* Inside one of its own callbacks: freed when that returns. */
      struct loop *loop = rt->loop;
      unsigned depth = rt->depth;
      memset (rt, 0, sizeof *rt);
      rt->loop = loop;
      rt->closed = true;
      rt->depth = depth;
      return;
    }
  free (rt);
}

static void
fake_ping (struct runtime *rt, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_PING, NULL, false, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud)
{
  call (rt, FAKE_LIST, NULL, false, label_filter, NULL, ud)->cb.list = cb;
}

static void
fake_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  call (rt, FAKE_INSPECT, ref, false, NULL, NULL, ud)->cb.container = cb;
}

static void
fake_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud)
{
  call (rt, FAKE_SNAPSHOT, ref, false, NULL, NULL, ud)->cb.snapshot = cb;
}

static void
create_common (struct runtime *rt, enum fake_op op, const char *spec, const char *name,
               const struct rt_labels *extra_labels, rt_id_cb cb, void *ud)
{
  struct pending *p = call (rt, op, name, true, NULL, NULL, ud);
  p->cb.id = cb;
  p->spec = xstrdup (spec);
  rt_labels_copy (&p->labels, extra_labels);
}

static void
fake_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
             rt_id_cb cb, void *ud)
{
  create_common (rt, FAKE_CREATE, spec, name, extra_labels, cb, ud);
}

static void
fake_create_hidden (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
                    rt_id_cb cb, void *ud)
{
  create_common (rt, FAKE_CREATE_HIDDEN, spec, name, extra_labels, cb, ud);
}

static void
fake_publish (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud)
{
  (void) spec;
  call (rt, FAKE_PUBLISH, id, false, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_START, id, false, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  struct pending *p = call (rt, FAKE_STOP, id, false, NULL, NULL, ud);
  p->cb.done = cb;
  p->timeout_s = timeout_s;
}

static void
fake_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_KILL, id, false, signal, NULL, ud)->cb.done = cb;
}

static void
fake_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  (void) volumes;
  struct pending *p = call (rt, FAKE_REMOVE, id, false, NULL, NULL, ud);
  p->cb.done = cb;
  p->force = force;
}

static void
fake_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_RENAME, id, false, new_name, NULL, ud)->cb.done = cb;
}

static void
fake_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_PAUSE, id, false, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_UNPAUSE, id, false, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  call (rt, FAKE_IMAGE_INSPECT, ref, true, NULL, NULL, ud)->cb.id = cb;
}

static void
fake_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                void *ud)
{
  call (rt, FAKE_IMAGE_TAG, image_id, true, repo, tag, ud)->cb.done = cb;
}

static void
fake_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_IMAGE_REMOVE, ref, true, NULL, NULL, ud)->cb.done = cb;
}

static void
fake_commit (struct runtime *rt, const char *id, const char *repo, const char *tag, const struct rt_labels *labels,
             rt_id_cb cb, void *ud)
{
  struct pending *p = call (rt, FAKE_COMMIT, id, false, repo, tag, ud);
  p->cb.id = cb;
  rt_labels_copy (&p->labels, labels);
}

static void
fake_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud)
{
  call (rt, FAKE_CHANGES, id, false, NULL, NULL, ud)->cb.changes = cb;
}

static void
fake_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud)
{
  call (rt, FAKE_TOP, id, false, NULL, NULL, ud)->cb.top = cb;
}

static void
fake_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  call (rt, FAKE_NETWORK_DISCONNECT, id, false, network, NULL, ud)->cb.done = cb;
}

static void
fake_engine_info (struct runtime *rt, struct rt_engine_info *out)
{
  (void) rt;
  memset (out, 0, sizeof *out);
  out->product = "Fake Engine";
  out->version = "0";
}

static int
fake_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  (void) err;
  rt->ev_cb = ev_cb;
  rt->conn_cb = conn_cb;
  rt->ev_ud = ud;
  rt->subscribed = true;
  /* Connected: told from the loop, as a stream coming up would be. */
  if (rt->ev_timer)
    loop_cancel_timer (rt->loop, rt->ev_timer);
  rt->ev_timer = loop_add_timer (rt->loop, 0, on_connected, rt);
  return 0;
}

const struct runtime_ops fake_runtime_ops = {
  .name = "fake",
  .open = fake_open,
  .close = fake_close,
  .ping = fake_ping,
  .list = fake_list,
  .inspect = fake_inspect,
  .snapshot = fake_snapshot,
  .create = fake_create,
  .create_hidden = fake_create_hidden,
  .publish = fake_publish,
  .start = fake_start,
  .stop = fake_stop,
  .kill = fake_kill,
  .remove = fake_remove,
  .rename = fake_rename,
  .pause = fake_pause,
  .unpause = fake_unpause,
  .image_inspect = fake_image_inspect,
  .image_tag = fake_image_tag,
  .image_remove = fake_image_remove,
  .commit = fake_commit,
  .changes = fake_changes,
  .top = fake_top,
  .network_disconnect = fake_network_disconnect,
  .engine_info = fake_engine_info,
  .subscribe = fake_subscribe,
};

/* ---- test-side helpers ---- */

void
fake_add_image (struct runtime *rt, const char *id, const char *ref)
{
  struct image *im = find_image (rt, id);
  if (im == NULL)
    im = model_add_image (rt, id);
  if (ref)
    image_add_ref (im, ref);
}

void
fake_add_network (struct runtime *rt, const char *name)
{
  if (has_network (rt, name))
    return;
  rt->nets = xrealloc (rt->nets, (rt->n_nets + 1) * sizeof *rt->nets);
  rt->nets[rt->n_nets++] = xstrdup (name);
}

const char *
fake_add_container (struct runtime *rt, const char *name, const char *spec, const struct rt_labels *labels,
                    bool run)
{
  struct fake_container *c = NULL;
  lympho_error_t err = { 0 };
  if (model_create (rt, spec, name, labels, false, &c, &err) < 0)
    {
      fprintf (stderr, "fake_add_container %s: %s\n", name, err.msg);
      abort ();
    }
  if (run)
    {
      model_start (rt, c);
      c->health = c->has_healthcheck ? RT_HEALTH_HEALTHY : RT_HEALTH_NONE;
    }
  return c->id;
}

char *
fake_spec (const char *image_id, const char *const *networks, bool healthcheck, const struct rt_labels *labels)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "Image", image_id);
  json_gen_str (g, "Networks");
  json_gen_array_open (g);
  for (size_t i = 0; networks && networks[i]; i++)
    json_gen_str (g, networks[i]);
  json_gen_array_close (g);
  json_gen_kbool (g, "Healthcheck", healthcheck);
  rt_labels_gen (g, "Labels", labels);
  json_gen_map_close (g);
  return json_gen_text (g);
}

const struct fake_container *
fake_find (struct runtime *rt, const char *ref)
{
  return find (rt, ref);
}

size_t
fake_count (struct runtime *rt)
{
  return rt->n_c;
}

const struct fake_container *
fake_at (struct runtime *rt, size_t i)
{
  return i < rt->n_c ? rt->c[i] : NULL;
}

bool
fake_has_image (struct runtime *rt, const char *ref)
{
  return find_image (rt, ref) != NULL;
}

void
fake_set_state (struct runtime *rt, const char *ref, enum rt_state state, int exit_code)
{
  struct fake_container *c = find (rt, ref);
  if (c == NULL)
    return;
  if (state == RT_STATE_EXITED || state == RT_STATE_DEAD)
    {
      model_exit (rt, c, exit_code);
      c->state = state;
    }
  else if (state == RT_STATE_RUNNING && !running (c))
    model_start (rt, c);
  else
    c->state = state;
}

void
fake_drop (struct runtime *rt, const char *ref)
{
  struct fake_container *c = find (rt, ref);
  if (c)
    model_remove (rt, c);
}

void
fake_set_health (struct runtime *rt, const char *ref, enum rt_health health)
{
  struct fake_container *c = find (rt, ref);
  if (c == NULL)
    return;
  c->health = health;
  c->starting_left = health == RT_HEALTH_STARTING ? UINT_MAX : 0;
}

void
fake_set_health_delay (struct runtime *rt, unsigned inspects)
{
  rt->health_delay = inspects;
}

size_t
fake_n_calls (struct runtime *rt)
{
  return rt->n_lines;
}

const char *
fake_call_line (struct runtime *rt, size_t i)
{
  return i < rt->n_lines ? rt->lines[i] : NULL;
}

enum fake_op
fake_call_op (struct runtime *rt, size_t i)
{
  return rt->line_ops[i];
}

unsigned
fake_calls_of (struct runtime *rt, enum fake_op op)
{
  return rt->count[op];
}

size_t
fake_pending (struct runtime *rt)
{
  size_t n = 0;
  for (struct pending *p = rt->pending; p; p = p->next)
    n++;
  return n;
}
