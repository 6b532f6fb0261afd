/* lympho — swarm services regenerated as a whole, on a manager: a service
 * labelled lympho.ttl (a service label, not its containers') gets a forced
 * rolling update (TaskTemplate.ForceUpdate, as `docker service update
 * --force`) on that TTL, with its jitter: the swarm replaces every task as
 * the service's own update config says (parallelism, delay, order, failure
 * action). So does a group alert at the threshold of a protected task of
 * any service (services_roll, from incident.c). Never more than one update
 * of a service in flight: none is forced while the service updates (by
 * anyone), and the next TTL is counted from the end of the last. The swarm
 * keeps what is needed (the update's state and end): nothing is stored.
 * Calls the engine through d->ops and daemon.c (history, status). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/sched.h"
#include "lympho/util.h"

#include "daemon-int.h"

/* How often the manager's services are looked at: often enough for a TTL
 * of a few seconds to be kept within one look, seldom enough to cost
 * nothing (one GET a look, filtered by the label). */
#define SERVICES_POLL_MS 2000
/* Not a manager (or in no swarm): looked at again this much later. */
#define SERVICES_IDLE_POLL_MS 60000
/* A forced update the engine refused: tried again this much later. */
#define SERVICES_RETRY_MS 30000
/* A forced update the engine took but never showed as updating nor
 * ended: given up after this. */
#define SERVICES_GIVE_UP_MS (10 * 60 * 1000)

struct service_entry
{
  char *id;
  char *name;
  uint64_t ttl_ms;
  unsigned jitter_pct;
  uint64_t due_real_ms;     /* the next forced update */
  bool forcing;             /* asked of the engine, not answered yet */
  bool ours;                /* the update in flight is one lymphd forced */
  uint64_t forced_mono;     /* when it was asked */
  uint64_t forced_real_ms;  /* the same, realtime: an update that ended after it is ours */
  uint64_t forced;          /* forced updates asked by this lymphd */
  bool seen;                /* in the last list */
  bool by_alert;            /* not labelled lympho.ttl: followed for the update a group alert forced, then let go */
  bool inspecting;          /* a by_alert one's state asked of the engine */
  char *why;                /* the reason of the forced update in flight: "ttl (service)", a group alert's */
  char *problem;            /* its labels, or the engine's last refusal */
  LIST_ENTRY (service_entry) link;
};

struct services
{
  struct daemon *d;
  uint64_t timer;
  bool listing;
  bool manager;             /* the last list was answered: this node is a manager */
  char *problem;            /* why no service is looked at (not a manager), NULL when they are */
  LIST_HEAD (, service_entry) list;
};

static void arm (struct services *s, uint64_t ms);

static void
entry_gone (struct service_entry *x)
{
  LIST_REMOVE (x, link);
  free (x->id);
  free (x->name);
  free (x->why);
  free (x->problem);
  free (x);
}

static struct service_entry *
find (struct services *s, const char *id)
{
  struct service_entry *x;
  LIST_FOREACH (x, &s->list, link)
  if (strcmp (x->id, id) == 0)
    return x;
  return NULL;
}

static void
plan_next (struct service_entry *x, uint64_t from_real_ms)
{
  x->due_real_ms = from_real_ms + sched_jittered_ttl (x->ttl_ms, x->jitter_pct, random_unit ());
}

/* One forced update of x in the history, under the service's name. */
static void
record (struct services *s, const struct service_entry *x, const char *result, int64_t generation,
        const char *reason, const char *error, int64_t duration_ms)
{
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = x->name, .kind = "regen", .result = result,
                             .generation = generation, .reason = reason, .error = error, .duration_ms = duration_ms,
                             .strategy = "rolling-update" };
  daemon_record (s->d, &h);
}

/* The swarm refused to roll the service a group alert named: what the
 * alert asked is still done, task by task, by removal (its protected
 * tasks are one group: one at a time). */
static void
tasks_one_by_one (struct services *s, struct service_entry *x)
{
  struct daemon *d = s->d;
  unsigned n = 0;
  DAEMON_EACH (e, d)
    {
      if (e->swarm == NULL || e->golden.name == NULL || strcmp (e->swarm->service_id, x->id) != 0)
        continue;
      admission_request_regen (d, e, x->why, false, NULL);
      n++;
    }
  log_error ("service %s: forced update refused: %s; its %u protected task%s regenerated one by one instead", x->name,
             x->problem, n, n == 1 ? "" : "s");
}

struct force_ctx
{
  struct services *s;
  char *id;
};

static void
on_forced (void *ud, int ret, const lympho_error_t *err)
{
  struct force_ctx *c = ud;
  struct services *s = c->s;
  struct service_entry *x = find (s, c->id);
  free (c->id);
  free (c);
  if (x == NULL)
    return;
  x->forcing = false;
  free (x->problem);
  x->problem = NULL;
  if (ret < 0 && err && err->status == EALREADY)
    {
      /* Someone's update is in flight: it replaces the tasks; none is
       * forced over it. A TTL counts again from now. */
      x->ours = false;
      log_info ("service %s: %s; no update forced over it (%s)", x->name, err->msg, x->why);
      record (s, x, "absorbed", -1, x->why, err->msg, -1);
      if (!x->by_alert)
        plan_next (x, now_real_ms ());
      return;
    }
  if (ret < 0)
    {
      x->ours = false;
      x->problem = xstrdup (err ? err->msg : "failed");
      record (s, x, "failed", -1, x->why, x->problem, -1);
      if (x->by_alert)
        tasks_one_by_one (s, x);
      else
        {
          log_warn ("service %s: forced update refused: %s; again in %d s", x->name, x->problem,
                    SERVICES_RETRY_MS / 1000);
          x->due_real_ms = now_real_ms () + SERVICES_RETRY_MS;
        }
      return;
    }
  x->forced++;
  log_info ("service %s: forced rolling update started (%s)", x->name, x->why);
}

static void
force (struct services *s, struct service_entry *x, const char *why)
{
  struct daemon *d = s->d;
  free (x->why);
  x->why = xstrdup (why);
  if (d->cfg->observe)
    {
      log_info ("service %s: observed: would have forced a rolling update (%s)", x->name, why);
      cleanup_free char *would = xasprintf ("would have regenerated: %s", why);
      record (s, x, "observed", -1, would, NULL, -1);
      if (!x->by_alert)
        plan_next (x, now_real_ms ());
      return;
    }
  x->forcing = true;
  x->ours = true;
  x->forced_mono = now_mono_ms ();
  x->forced_real_ms = now_real_ms ();
  struct force_ctx *c = xmalloc0 (sizeof *c);
  c->s = s;
  c->id = xstrdup (x->id);
  d->ops->service_force_update (d->rt, x->id, on_forced, c);
}

static void follow (struct services *s, struct service_entry *x, const struct rt_service *v, uint64_t now);

/* One service labelled lympho.ttl, as the engine lists it now. */
static void
look_at (struct services *s, const struct rt_service *v, uint64_t now)
{
  struct service_entry *x = find (s, v->id);
  if (x && x->by_alert && !x->forcing && !x->ours)
    {
      /* Labelled since a group alert rolled it: followed for its TTL. */
      entry_gone (x);
      x = NULL;
    }
  if (x == NULL)
    {
      struct policy p;
      lympho_error_t err = { 0 };
      x = xmalloc0 (sizeof *x);
      /* Its labels read as a container's: lympho.ttl and lympho.jitter. */
      if (policy_from_labels (&v->labels, &p, &err) < 0)
        {
          log_error ("service %s: lympho.ttl not followed: %s", v->name, err.msg);
          x->problem = xstrdup (err.msg);
          x->due_real_ms = UINT64_MAX;
        }
      else
        {
          x->ttl_ms = p.ttl_ms;
          x->jitter_pct = p.jitter_pct;
          policy_free (&p);
          /* From the end of its last update (or its creation): a restart
           * of lymphd does not push the TTL back. */
          plan_next (x, v->updated_ms ? v->updated_ms : now);
          cleanup_free char *ttl = duration_format (x->ttl_ms);
          log_info ("service %s: regenerated as a whole every %s (a forced rolling update)", v->name, ttl);
        }
      x->id = xstrdup (v->id);
      x->name = xstrdup (v->name);
      LIST_INSERT_HEAD (&s->list, x, link);
    }
  x->seen = true;
  follow (s, x, v, now);
}

/* Where x's update is, as v tells it; a TTL due forces the next. */
static void
follow (struct services *s, struct service_entry *x, const struct rt_service *v, uint64_t now)
{
  if (x->forcing || (x->ttl_ms == 0 && !x->ours))
    return;
  if (rt_service_updating (v))
    return; /* one at a time, whoever started it */
  if (x->ours && v->updated_ms + 1000 < x->forced_real_ms)
    {
      /* Asked, and no update has ended since: the engine may not show
       * it updating yet. One that never shows is given up after a while. */
      if (now_mono_ms () - x->forced_mono < SERVICES_GIVE_UP_MS)
        return;
      log_warn ("service %s: the forced update (%s) never showed%s", x->name, x->why,
                x->by_alert ? "" : "; the next one at its TTL");
      x->ours = false;
      if (!x->by_alert)
        plan_next (x, now);
      return;
    }
  if (x->ours)
    {
      /* Ours ended: said, and the next counted from its end. */
      bool ok = v->update_state && strcmp (v->update_state, "completed") == 0;
      cleanup_free char *why = ok ? NULL : xasprintf ("the update ended %s", v->update_state ? v->update_state : "unsaid");
      record (s, x, ok ? "ok" : "failed", (int64_t) v->force_update, x->why, why,
              (int64_t) (now_mono_ms () - x->forced_mono));
      log_msg (ok ? LOG_LVL_INFO : LOG_LVL_WARN, "service %s: forced rolling update (%s) %s", x->name, x->why,
               ok ? "completed" : why);
      x->ours = false;
      if (!x->by_alert)
        plan_next (x, v->updated_ms ? v->updated_ms : now);
      return;
    }
  if (x->ttl_ms && now >= x->due_real_ms)
    force (s, x, "ttl (service)");
}

struct inspect_ctx
{
  struct services *s;
  char *id;
};

static void
on_inspected (void *ud, int ret, const lympho_error_t *err, const struct rt_service *v)
{
  struct inspect_ctx *c = ud;
  struct services *s = c->s;
  struct service_entry *x = find (s, c->id);
  free (c->id);
  free (c);
  if (x == NULL || s->d->shutting_down)
    return;
  x->inspecting = false;
  if (ret < 0)
    {
      /* Removed meanwhile: its tasks went with it. Anything else is
       * asked again at the next look. */
      if (err && err->status == ENOENT && x->ours)
        {
          log_info ("service %s: removed during the update a group alert forced", x->name);
          record (s, x, "failed", -1, x->why, "the service was removed", (int64_t) (now_mono_ms () - x->forced_mono));
          x->ours = false;
        }
      return;
    }
  follow (s, x, v, now_real_ms ());
}

static void
on_listed (void *ud, int ret, const lympho_error_t *err, const struct rt_service *v, size_t n)
{
  struct services *s = ud;
  struct daemon *d = s->d;
  s->listing = false;
  if (d->shutting_down)
    return;
  if (ret < 0)
    {
      /* A worker, a node in no swarm, an engine with no swarm at all:
       * services are a manager's. Said once. */
      if (s->problem == NULL || strcmp (s->problem, err->msg) != 0)
        log_debug ("services: %s (service-level lympho.ttl is followed by a manager)", err->msg);
      free (s->problem);
      s->problem = xstrdup (err->msg);
      s->manager = false;
      arm (s, SERVICES_IDLE_POLL_MS);
      return;
    }
  free (s->problem);
  s->problem = NULL;
  s->manager = true;
  uint64_t now = now_real_ms ();
  struct service_entry *x, *next;
  LIST_FOREACH (x, &s->list, link)
  x->seen = false;
  for (size_t i = 0; i < n; i++)
    look_at (s, &v[i], now);
  for (x = LIST_FIRST (&s->list); x; x = next)
    {
      next = LIST_NEXT (x, link);
      if (x->seen || x->forcing)
        continue;
      if (x->by_alert && x->ours)
        {
          /* Not labelled: its state asked alone, until its update ends. */
          if (!x->inspecting)
            {
              struct inspect_ctx *c = xmalloc0 (sizeof *c);
              c->s = s;
              c->id = xstrdup (x->id);
              x->inspecting = true;
              d->ops->service_inspect (d->rt, x->id, on_inspected, c);
            }
          continue;
        }
      /* An answer still on its way finds it gone (by id): dropped. */
      if (!x->by_alert)
        log_info ("service %s: gone or no longer labelled lympho.ttl", x->name);
      entry_gone (x);
    }
  arm (s, SERVICES_POLL_MS);
}

static void
on_timer (struct loop *l, void *ud)
{
  (void) l;
  struct services *s = ud;
  s->timer = 0;
  struct daemon *d = s->d;
  if (d->shutting_down || s->listing)
    return;
  if (!d->connected)
    {
      arm (s, SERVICES_POLL_MS);
      return;
    }
  s->listing = true;
  d->ops->service_list (d->rt, LABEL_TTL, on_listed, s);
}

static void
arm (struct services *s, uint64_t ms)
{
  if (s->timer)
    loop_cancel_timer (s->d->loop, s->timer);
  s->timer = loop_add_timer (s->d->loop, ms, on_timer, s);
}

void
services_open (struct daemon *d)
{
  if (d->ops->service_list == NULL || d->ops->service_force_update == NULL || d->ops->service_inspect == NULL)
    return;
  struct services *s = xmalloc0 (sizeof *s);
  s->d = d;
  LIST_INIT (&s->list);
  d->services = s;
  arm (s, SERVICES_POLL_MS);
}

void
services_close (struct daemon *d)
{
  struct services *s = d->services;
  if (s == NULL)
    return;
  if (s->timer)
    loop_cancel_timer (d->loop, s->timer);
  while (!LIST_EMPTY (&s->list))
    entry_gone (LIST_FIRST (&s->list));
  free (s->problem);
  free (s);
  d->services = NULL;
}

void
services_status_gen (struct daemon *d, json_gen g)
{
  struct services *s = d->services;
  if (s == NULL || LIST_EMPTY (&s->list))
    return;
  uint64_t now = now_real_ms ();
  json_gen_str (g, "swarm_services");
  json_gen_array_open (g);
  struct service_entry *x;
  LIST_FOREACH (x, &s->list, link)
  {
    json_gen_map_open (g);
    json_gen_kstr (g, "name", x->name);
    json_gen_kint (g, "ttl_s", (int64_t) (x->ttl_ms / 1000));
    json_gen_str (g, "next_regen_in_s");
    if (x->ttl_ms && !x->forcing && !x->ours)
      json_gen_int (g, (int64_t) ((x->due_real_ms > now ? x->due_real_ms - now : 0) / 1000));
    else
      json_gen_null (g);
    json_gen_kbool (g, "updating", x->forcing || x->ours);
    json_gen_kstr (g, "reason", x->forcing || x->ours ? x->why : NULL);
    json_gen_kint (g, "forced", (int64_t) x->forced);
    json_gen_kstr (g, "problem", x->problem);
    json_gen_map_close (g);
  }
  json_gen_array_close (g);
}

int
services_roll (struct daemon *d, const char *service_id, const char *service_name, const char *why,
               lympho_error_t *err)
{
  struct services *s = d->services;
  if (s == NULL)
    return lympho_error_set (err, ENOTSUP, "this engine has no swarm service to update");
  if (!s->manager)
    return lympho_error_set (err, ENOTSUP, "this node does not manage the swarm%s%s", s->problem ? ": " : "",
                             s->problem ? s->problem : " (not known yet)");
  struct service_entry *x = find (s, service_id);
  if (x && (x->forcing || x->ours))
    {
      log_info ("service %s: %s: absorbed in the update in flight (%s)", x->name, why, x->why);
      return 0;
    }
  if (x == NULL)
    {
      x = xmalloc0 (sizeof *x);
      x->id = xstrdup (service_id);
      x->name = xstrdup (service_name);
      x->by_alert = true;
      x->due_real_ms = UINT64_MAX;
      LIST_INSERT_HEAD (&s->list, x, link);
    }
  force (s, x, why);
  return 1;
}
