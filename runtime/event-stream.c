/* lympho — the event-stream supervision both backends share (see
 * event-stream.h).
 * May call: the loop, util.h's hash. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lympho/loop.h"
#include "lympho/util.h"
#include "event-stream.h"

void
rt_stream_init (struct rt_stream *s, struct loop *loop, const char *name, uint64_t backoff_min_ms,
                uint64_t backoff_max_ms, void (*connect) (void *owner), void (*release) (void *owner), void *owner)
{
  memset (s, 0, sizeof *s);
  s->loop = loop;
  s->name = name;
  s->conn_state = -1;
  s->backoff_min_ms = backoff_min_ms;
  s->backoff_max_ms = backoff_max_ms;
  s->backoff_ms = backoff_min_ms;
  s->connect = connect;
  s->release = release;
  s->owner = owner;
}

int
rt_stream_subscribe (struct rt_stream *s, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  if (s->subscribed)
    return lympho_error_set (err, EBUSY, "already subscribed to engine events");
  s->subscribed = true;
  s->ev_cb = ev_cb;
  s->conn_cb = conn_cb;
  s->ud = ud;
  s->backoff_ms = s->backoff_min_ms;
  return 0;
}

void
rt_stream_report (struct rt_stream *s, bool up, bool force)
{
  if (s->conn_state == (up ? 1 : 0) && !force)
    return;
  s->conn_state = up ? 1 : 0;
  if (s->conn_cb)
    s->conn_cb (s->ud, up);
}

bool
rt_stream_deliver (struct rt_stream *s, const struct rt_event *ev)
{
  if (s->closed)
    return false;
  s->cb_depth++;
  s->ev_cb (s->ud, ev);
  s->cb_depth--;
  return !s->closed;
}

static void
on_timer (struct loop *l, void *ud)
{
  struct rt_stream *s = ud;
  s->timer = 0;
  s->connect (s->owner);
}

void
rt_stream_retry (struct rt_stream *s)
{
  if (s->timer)
    loop_cancel_timer (s->loop, s->timer);
  s->timer = loop_add_timer (s->loop, s->backoff_ms, on_timer, s);
  s->backoff_ms = s->backoff_ms * 2 > s->backoff_max_ms ? s->backoff_max_ms : s->backoff_ms * 2;
}

void
rt_stream_again (struct rt_stream *s, uint64_t delay_ms)
{
  if (s->timer)
    loop_cancel_timer (s->loop, s->timer);
  s->timer = loop_add_timer (s->loop, delay_ms, on_timer, s);
}

void
rt_stream_backoff_reset (struct rt_stream *s)
{
  s->backoff_ms = s->backoff_min_ms;
}

void
rt_stream_enter (struct rt_stream *s)
{
  s->cb_depth++;
}

bool
rt_stream_leave (struct rt_stream *s)
{
  s->cb_depth--;
  if (!s->closed)
    return true;
  if (s->cb_depth == 0)
    s->release (s->owner);
  return false;
}

bool
rt_stream_close (struct rt_stream *s)
{
  loop_cancel_timer (s->loop, s->timer);
  s->timer = 0;
  s->closed = true;
  return s->cb_depth == 0;
}

uint64_t
rt_event_key (uint64_t nano, const char *id, const char *action)
{
  /* FNV-1a over the three, each ended by a zero byte. */
  uint64_t h = fnv1a_u64 (FNV_OFFSET, nano);
  h = fnv1a (fnv1a_str (h, id ? id : ""), "", 1);
  return fnv1a (fnv1a_str (h, action ? action : ""), "", 1);
}

void
rt_recent_add (struct rt_recent *r, uint64_t nano, uint64_t key)
{
  r->nano[r->next] = nano;
  r->key[r->next] = key;
  r->next = (r->next + 1) % RT_RECENT_MAX;
  if (r->n < RT_RECENT_MAX)
    r->n++;
}

bool
rt_recent_has (const struct rt_recent *r, uint64_t newest, uint64_t nano, uint64_t key)
{
  if (newest == 0 || nano > newest)
    return false;
  if (nano + RT_RESUME_MARGIN_NS < newest)
    return true;
  uint64_t oldest = UINT64_MAX;
  for (unsigned i = 0; i < r->n; i++)
    {
      if (r->nano[i] == nano && r->key[i] == key)
        return true;
      if (r->nano[i] < oldest)
        oldest = r->nano[i];
    }
  return r->n == RT_RECENT_MAX && nano < oldest;
}

bool
rt_stream_first_time (struct rt_stream *s, uint64_t nano, const char *id, const char *action)
{
  if (nano == 0)
    return true; /* without a time, an event cannot be told from another */
  uint64_t key = rt_event_key (nano, id, action);
  if (nano <= s->replay_floor || rt_recent_has (&s->recent, s->last_nano, nano, key))
    return false;
  rt_recent_add (&s->recent, nano, key);
  if (nano > s->last_nano)
    s->last_nano = nano;
  return true;
}

uint64_t
rt_stream_resume_since (const struct rt_stream *s)
{
  if (s->last_nano == 0)
    return 0;
  return s->last_nano > RT_RESUME_MARGIN_NS ? s->last_nano - RT_RESUME_MARGIN_NS : 1;
}
