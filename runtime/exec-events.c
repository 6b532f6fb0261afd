/* lympho — the plugin backend's events: the plugin's own stream when its
 * capabilities say it has one, else its list polled and compared; reported
 * up and down, retried with backoff. May call: exec-call, exec-proto. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "exec-int.h"
#include "exec-proto.h"

#define EVENTS_BACKOFF_MIN_MS 200u
#define EVENTS_BACKOFF_MAX_MS 10000u

/* ---- events: a stream from the plugin, or polling its list ---- */

static void events_begin (struct runtime *rt);

static void
events_retry (struct runtime *rt, const lympho_error_t *err)
{
  log_debug ("exec: events from %s: %s; retrying in %llu ms", rt->path, err ? err->msg : "stream ended",
             (unsigned long long) rt->s.backoff_ms);
  rt_stream_retry (&rt->s);
  rt_stream_enter (&rt->s);
  rt_stream_report (&rt->s, false, false);
  rt_stream_leave (&rt->s);
}

static void
poll_emit (void *ud, const struct rt_event *ev)
{
  struct runtime *rt = ud;
  rt_stream_deliver (&rt->s, ev);
}

static void
poll_on_list (struct runtime *rt, int ret, const lympho_error_t *err, json_val a)
{
  struct rt_container *v = NULL;
  size_t n = 0;
  lympho_error_t e = { 0 };
  if (ret == 0 && exec_parse_list (a, "containers", false, &v, &n, &e) < 0)
    {
      ret = -EIO;
      err = &e;
    }
  if (ret < 0)
    {
      /* Keep the last list: the next good one explains what changed
       * while the plugin could not answer. */
      events_retry (rt, err);
      return;
    }
  rt_stream_backoff_reset (&rt->s);
  rt_stream_enter (&rt->s);
  rt_stream_report (&rt->s, true, false);
  if (rt->have_seen && !rt->s.closed)
    exec_proto_diff (rt->seen, rt->n_seen, v, n, now_real_ms () * 1000000u, poll_emit, rt);
  bool alive = rt_stream_leave (&rt->s);
  if (alive)
    {
      for (size_t i = 0; i < rt->n_seen; i++)
        rt_container_free (&rt->seen[i]);
      free (rt->seen);
      rt->seen = steal_pointer (&v);
      rt->n_seen = n;
      rt->have_seen = true;
      rt_stream_again (&rt->s, rt->poll_ms);
      return;
    }
  for (size_t i = 0; i < n; i++)
    rt_container_free (&v[i]);
  free (v);
}

static void
stream_line (struct runtime *rt, const char *line, size_t len)
{
  lympho_error_t err = { 0 };
  if (!rt->stream_hello)
    {
      cleanup_json json_val a = NULL;
      if (exec_proto_answer (line, len, &a, &err) < 0)
        {
          /* An engine that is down is reported once, as the connection
           * going down, not at every retry. */
          if (err.status == ECONNREFUSED)
            log_debug ("exec: events from %s: %s", rt->path, err.msg);
          else
            log_warn ("exec: events from %s: %s", rt->path, err.msg);
          if (rt->stream)
            kill (-rt->stream->pid, SIGKILL); /* its exit retries */
          return;
        }
      rt->stream_hello = true;
      rt_stream_backoff_reset (&rt->s);
      if (rt->stream && rt->stream->timer)
        {
          loop_cancel_timer (rt->loop, rt->stream->timer);
          rt->stream->timer = 0;
        }
      rt_stream_report (&rt->s, true, false);
      return;
    }
  struct rt_event ev;
  cleanup_json json_val tree = NULL;
  struct rt_labels attrs = { 0 };
  if (exec_proto_event (line, len, &ev, &tree, &attrs, &err) < 0)
    {
      log_warn ("exec: events from %s: %s", rt->path, err.msg);
      return;
    }
  /* A plugin that sends again what it sent (a resumed stream's margin, a
   * replay of its own): not passed on twice. */
  if (rt_stream_first_time (&rt->s, ev.time_nano, ev.id, ev.action))
    rt_stream_deliver (&rt->s, &ev);
  rt_labels_free (&attrs);
}

void
exec_stream_on_data (struct call *c)
{
  struct runtime *rt = c->rt;
  char chunk[65536];
  ssize_t n = read (c->out_fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      exec_fd_close (c->loop, &c->out_fd);
      return; /* its exit (pidfd) ends the stream */
    }
  buf_append (&c->out, chunk, (size_t) n);
  size_t start = 0;
  char *nl;
  rt_stream_enter (&rt->s);
  while (!rt->s.closed && (nl = memchr (c->out.data + start, '\n', c->out.len - start)) != NULL)
    {
      size_t end = (size_t) (nl - c->out.data);
      stream_line (rt, c->out.data + start, end - start);
      start = end + 1;
    }
  if (!rt_stream_leave (&rt->s))
    return;
  if (start > 0)
    {
      memmove (c->out.data, c->out.data + start, c->out.len - start);
      c->out.len -= start;
      c->out.data[c->out.len] = '\0';
    }
  if (c->out.len > EXEC_PROTO_MAX_EVENT_LINE)
    {
      log_warn ("exec: events from %s: a line longer than %u bytes; restarting the stream", rt->path,
                EXEC_PROTO_MAX_EVENT_LINE);
      kill (-c->pid, SIGKILL);
      buf_reset (&c->out);
    }
}

void
exec_stream_on_exit (struct call *c)
{
  struct runtime *rt = c->rt;
  char tail[200];
  lympho_error_t e = { 0 };
  lympho_error_set (&e, EIO, "the events subcommand ended (status %d): %s", c->status,
                    exec_stderr_tail (c, tail, sizeof tail));
  rt->stream = NULL;
  exec_call_unlink (c);
  exec_call_free (c);
  events_retry (rt, &e);
}

static void
stream_on_internal (struct runtime *rt, int ret, const lympho_error_t *err, json_val a)
{
  /* Only a failure before the hello gets here: spawn failed or no hello
   * within the time limit. */
  rt->stream = NULL;
  events_retry (rt, err);
}

static void
caps_on_answer (struct runtime *rt, int ret, const lympho_error_t *err, json_val a)
{
  lympho_error_t e = { 0 };
  if (ret == 0)
    {
      const char *ev = json_str (json_get (a, "events"));
      if (ev && strcmp (ev, "stream") == 0)
        rt->mode = 1;
      else if (ev && strcmp (ev, "poll") == 0)
        rt->mode = 2;
      else
        {
          ret = lympho_error_set (&e, EIO, "capabilities: plugin answered garbage: \"events\" is neither "
                                           "\"stream\" nor \"poll\"");
          err = &e;
        }
    }
  if (ret < 0)
    {
      events_retry (rt, err);
      return;
    }
  log_debug ("exec: %s %s its events", rt->path, rt->mode == 1 ? "streams" : "is polled for");
  events_begin (rt);
}

static void
events_begin (struct runtime *rt)
{
  cleanup_jgen json_gen g = exec_proto_request ();
  struct call *c;
  uint64_t since;
  switch (rt->mode)
    {
    case 0:
      c = exec_call_start (rt, "capabilities", g, rt->timeout_ms, K_INTERNAL, NULL, "capabilities");
      c->internal = caps_on_answer;
      break;
    case 1:
      since = rt_stream_resume_since (&rt->s);
      if (since)
        json_gen_kint (g, "since", (int64_t) since);
      /* The time limit holds until the hello line, then the stream is
       * open-ended. */
      rt->stream_hello = false;
      rt->stream = exec_call_start (rt, "events", g, rt->timeout_ms, K_STREAM, NULL, "events");
      rt->stream->internal = stream_on_internal;
      break;
    default:
      c = exec_call_start (rt, "list", g, rt->timeout_ms, K_INTERNAL, NULL, "list containers (polling)");
      c->internal = poll_on_list;
      break;
    }
}

int
exec_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  int ret = rt_stream_subscribe (&rt->s, ev_cb, conn_cb, ud, err);
  if (ret < 0)
    return ret;
  events_begin (rt);
  return 0;
}

static void
events_begin_cb (void *owner)
{
  events_begin (owner);
}

static void
release (void *owner)
{
  free (owner);
}

void
exec_events_init (struct runtime *rt)
{
  rt_stream_init (&rt->s, rt->loop, "exec", EVENTS_BACKOFF_MIN_MS, EVENTS_BACKOFF_MAX_MS, events_begin_cb, release,
                  rt);
}
