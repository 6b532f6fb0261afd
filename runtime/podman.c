/* lympho — what the Podman backend (Podman's Docker-compatible API) does
 * differently from Docker: its quirks, a healthcheck runner (nothing runs
 * Podman's checks without systemd), and deaths held until the next events
 * tell an operator's stop from a crash. Called from the Docker backend's
 * event stream (podman_events) and close. May call: docker-http, the op
 * plumbing (docker-int.h). */
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

static const struct docker_cause podman_causes[] = {
  { "container state improper", 409 }, { "that name is already in use", 409 },
  { "container already exists", 409 }, { "no such container", 404 }, { NULL, 0 },
};

static const char *const podman_actions[][2] = { { "died", "die" }, { "remove", "destroy" },
                                                  { "exec_died", "exec_die" }, { NULL, NULL } };

/* Podman 4.3 (Debian 12), from ENGINE.md and what its compat API
 * answers here. */
const struct docker_quirks podman_quirks = {
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
  LIST_ENTRY (hc) link; /* in runtime.hcs */
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
  struct hc *h;
  LIST_FOREACH (h, &rt->hcs, link)
    if (strcmp (h->id, id) == 0)
      return h;
  return NULL;
}

static void
hc_free (struct hc *h)
{
  struct runtime *rt = h->rt;
  LIST_UNLINK (h, link);
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
  cleanup_free char *path = docker_container_path (h->id, "/healthcheck");
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
hc_duration_ms (json_val v, uint64_t dflt)
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
  cleanup_json json_val v = NULL;
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
  json_val test = json_path (v, "Config", "Healthcheck", "Test", NULL);
  const char *first = json_arr_len (test) ? json_str (json_arr_at (test, 0)) : NULL;
  const char *state = json_str (json_path (v, "State", "Status", NULL));
  if (first == NULL || strcmp (first, "NONE") == 0 || state == NULL
      || (strcmp (state, "running") != 0 && strcmp (state, "paused") != 0))
    {
      hc_free (h);
      return;
    }
  json_val hcfg = json_path (v, "Config", "Healthcheck", NULL);
  bool first_time = h->interval_ms == 0;
  h->interval_ms = hc_duration_ms (json_get (hcfg, "Interval"), HC_DEFAULT_INTERVAL_MS);
  h->timeout_ms = hc_duration_ms (json_get (hcfg, "Timeout"), HC_DEFAULT_TIMEOUT_MS);
  enum rt_health now = rt_health_parse (json_str (json_path (v, "State", "Health", "Status", NULL)));
  bool news = !first_time && (now == RT_HEALTH_HEALTHY || now == RT_HEALTH_UNHEALTHY) && now != h->last;
  if (first_time || news)
    h->last = now;
  hc_arm (h, h->interval_ms);
  if (!news)
    return;
  /* Asked because an event did not say: a change is told as the event
   * would have told it. The core may close the runtime (and free h). */
  struct runtime *rt = h->rt;
  char id[72];
  snprintf (id, sizeof id, "%s", h->id);
  struct rt_event ev = {
    .type = RT_EV_CONTAINER, .id = id, .exit_code = -1, .time_nano = now_real_ms () * 1000000ULL,
    .action = now == RT_HEALTH_HEALTHY ? "health_status: healthy" : "health_status: unhealthy",
  };
  rt_stream_enter (&rt->s);
  rt_stream_deliver (&rt->s, &ev);
  rt_stream_leave (&rt->s);
}

static void
hc_inspect (struct hc *h)
{
  cleanup_free char *path = docker_container_path (h->id, "/json");
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
  LIST_INSERT_HEAD (&rt->hcs, h, link);
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
  cleanup_json json_val v = NULL;
  lympho_error_t e = { 0 };
  if (ret < 0 || status != 200 || json_parse (body, len, &v, &e) < 0 || !json_is_array (v))
    {
      log_warn ("%s: cannot list the containers with a healthcheck; their checks start with their next start",
                rt->q->name);
      return;
    }
  for (size_t i = 0; i < json_arr_len (v); i++)
    {
      const char *id = json_str (json_get (json_arr_at (v, i), "Id"));
      if (id)
        hc_track (rt, id);
    }
}

/* The stream (re)opened after the engine was away: every running container
 * with a healthcheck. */
void
podman_hc_sync (struct runtime *rt)
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
  LIST_ENTRY (held) link; /* in runtime.helds */
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
  struct held *h;
  LIST_FOREACH (h, &rt->helds, link)
    if (strcmp (h->id, id) == 0)
      return h;
  return NULL;
}

static void
held_unlink (struct held *h)
{
  struct runtime *rt = h->rt;
  LIST_UNLINK (h, link);
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
      open = rt_stream_deliver (&rt->s, &ev);
    }
  if (open)
    {
      ev.action = "die";
      ev.exit_code = h->exit_code;
      open = rt_stream_deliver (&rt->s, &ev);
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
  rt_stream_enter (&rt->s);
  held_release (h, NULL);
  rt_stream_leave (&rt->s);
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
bool
podman_events (struct runtime *rt, json_val v, const struct rt_event *ev)
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
          /* The core knows "health_status: X" only: a check whose status
           * the event does not say (or says as nothing known) is never
           * passed on as it is, and never taken as a change; the engine
           * is asked instead, where the container is tracked. */
          const char *status = json_str (json_get (v, "HealthStatus"));
          enum rt_health now = rt_health_parse (status);
          struct hc *h = hc_find (rt, ev->id);
          if (now == RT_HEALTH_NONE)
            {
              if (h && h->req == NULL)
                hc_inspect (h);
              return true;
            }
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
          rt_stream_deliver (&rt->s, &hev);
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
        rt_stream_deliver (&rt->s, ev);
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
        rt_stream_deliver (&rt->s, ev);
      return true;
    }
  if (h)
    {
      /* Anything else of that container: the death was what it was. */
      if (held_release (h, NULL))
        rt_stream_deliver (&rt->s, ev);
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
  LIST_INSERT_HEAD (&rt->helds, h, link);
  rt->n_helds++;
  return true;
}

void
podman_close (struct runtime *rt)
{
  dhttp_cancel (rt->hc_list_req);
  rt->hc_list_req = NULL;
  while (!LIST_EMPTY (&rt->hcs))
    hc_free (LIST_FIRST (&rt->hcs));
  while (!LIST_EMPTY (&rt->helds))
    {
      /* Dropped unreported, like any event after close. */
      struct held *h = LIST_FIRST (&rt->helds);
      held_unlink (h);
      held_free (h);
    }
}
