/* lympho — the Docker backend's event stream: one long GET /events,
 * split into lines, translated into struct rt_event, delivered to the core;
 * reconnected with backoff, resumed with since= where it stopped, and
 * negotiated again after the engine was away. Podman's events pass through
 * podman_events first. May call: docker-http, the negotiation, podman.c. */
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

#define EVENTS_BACKOFF_MIN_MS 100
#define EVENTS_BACKOFF_MAX_MS 5000
#define EVENTS_MAX_LINE (1u << 20)

/* ---- events ---- */

static void
events_line (struct runtime *rt, const char *line, size_t len)
{
  cleanup_json json_val v = NULL;
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
  const char *type = json_str (json_get (v, "Type"));
  const char *action = json_str (json_get (v, "Action"));
  if (action == NULL)
    action = json_str (json_get (v, "status"));
  json_val actor = json_get (v, "Actor");
  const char *id = json_str (json_get (actor, "ID"));
  if (id == NULL)
    id = json_str (json_get (v, "id"));
  if (type == NULL || action == NULL || id == NULL)
    return;
  /* Sent again (after a reconnect, or by the engine itself): not passed
   * on twice. */
  if (!rt_stream_first_time (&rt->s, nano > 0 ? (uint64_t) nano : 0, id, action))
    return;

  struct rt_labels attrs = { 0 };
  rt_labels_from_json (json_get (actor, "Attributes"), false, NULL, &attrs, NULL);
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
  if (!podman_events (rt, v, &ev))
    rt_stream_deliver (&rt->s, &ev);
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
    rt_stream_backoff_reset (&rt->s);
  /* First open, or back after the engine was away: what runs now. */
  if (rt->q->run_healthchecks && rt->s.conn_state != 1)
    podman_hc_sync (rt);
  rt_stream_report (&rt->s, true, false);
}

static void
events_on_data (void *ud, const char *data, size_t len)
{
  struct runtime *rt = ud;
  buf_append (&rt->ev_line, data, len);
  size_t start = 0;
  char *nl;
  /* ev_cb may call close(): stop as soon as that happened. */
  rt_stream_enter (&rt->s);
  while (!rt->s.closed && (nl = memchr (rt->ev_line.data + start, '\n', rt->ev_line.len - start)) != NULL)
    {
      size_t end = (size_t) (nl - rt->ev_line.data);
      cleanup_free char *line = xstrndup (rt->ev_line.data + start, end - start);
      start = end + 1;
      events_line (rt, line, strlen (line));
    }
  if (!rt_stream_leave (&rt->s))
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

/* The stream is down, the engine away: whatever answers next is negotiated
 * with again. problem_changed: tell the core even when it knows the engine
 * is down: engine_info has a new reason. */
void
docker_events_down (struct runtime *rt, const lympho_error_t *e, bool problem_changed)
{
  rt->api = 0;
  log_debug ("%s: event stream down (%s), retrying in %llu ms", rt->q->name, e->msg,
             (unsigned long long) rt->s.backoff_ms);
  rt_stream_retry (&rt->s);
  /* Last: the callback may close the runtime. */
  rt_stream_report (&rt->s, false, problem_changed);
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
      docker_events_down (rt, &e, false);
      return;
    }
  /* A closed stream is not an unreachable engine: resume with since=,
   * without telling the core. At once after a stream that lived a while;
   * backing off when streams keep ending as soon as they open. */
  if (now_mono_ms () - rt->open_ms >= 10000)
    rt_stream_backoff_reset (&rt->s);
  log_debug ("%s: event stream ended, engine answers; resuming in %llu ms", rt->q->name,
             (unsigned long long) rt->s.backoff_ms);
  rt_stream_retry (&rt->s);
}

static void
events_on_done (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct runtime *rt = ud;
  rt->ev_req = NULL;
  buf_reset (&rt->ev_line);
  if (rt->q->stream_ends && rt->s.conn_state == 1)
    {
      rt->ev_req = dhttp_request (rt->http, "GET", "/_ping", NULL, 10000, events_on_ping, rt);
      return;
    }
  lympho_error_t e = { 0 };
  if (ret < 0)
    e = *err;
  else
    dhttp_status_error (status, body, len, EIO, &e);
  docker_events_down (rt, &e, false);
}

void
docker_events_connect (struct runtime *rt)
{
  if (rt->api == 0)
    {
      rt->events_wait = true;
      docker_negotiate (rt);
      return;
    }
  cleanup_free char *filters = dhttp_escape ("{\"type\":[\"container\",\"image\"]}");
  cleanup_free char *path = NULL;
  /* Resumed a little before the newest event delivered (events are not
   * always recorded in the order of their times), the replays skipped by
   * the recent ones. Where streams end by themselves, even a stream that
   * delivered nothing resumes from when it opened, so that nothing falls
   * in the gap; what came before is not the core's. */
  uint64_t since = rt_stream_resume_since (&rt->s);
  rt->s.replay_floor = 0;
  if (since == 0 && rt->q->stream_ends && rt->open_nano)
    rt->s.replay_floor = since = rt->open_nano;
  if (since)
    path = xasprintf ("/events?filters=%s&since=%llu.%09llu", filters, (unsigned long long) (since / 1000000000ULL),
                      (unsigned long long) (since % 1000000000ULL));
  else
    path = xasprintf ("/events?filters=%s", filters);
  rt->ev_req = dhttp_stream (rt->http, path, events_on_open, events_on_data, events_on_done, rt);
}

int
docker_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  int ret = rt_stream_subscribe (&rt->s, ev_cb, conn_cb, ud, err);
  if (ret < 0)
    return ret;
  docker_events_connect (rt);
  return 0;
}

static void
events_connect_cb (void *owner)
{
  docker_events_connect (owner);
}

static void
release (void *owner)
{
  free (owner);
}

void
docker_events_init (struct runtime *rt)
{
  rt_stream_init (&rt->s, rt->loop, rt->q->name, EVENTS_BACKOFF_MIN_MS, EVENTS_BACKOFF_MAX_MS, events_connect_cb,
                  release, rt);
}

