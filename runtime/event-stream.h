/* lympho — what both backends' event streams share (not a public header):
 * the core's callbacks, the connection state reported to it, the retry
 * timer with its exponential backoff, and the guard that lets a core
 * callback close the runtime while the backend is inside a stretch of
 * callbacks (the backend's memory is freed when the outermost one ends).
 *
 * Each backend embeds one struct rt_stream in its struct runtime and keeps
 * only what its engine needs: the Docker backend a long HTTP GET, the plugin
 * backend a child process or a polled list. May call: the loop. */
#ifndef LYMPHO_EVENT_STREAM_H
#define LYMPHO_EVENT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/runtime.h"

struct loop;

/* The events delivered lately, so that none is delivered twice: a stream
 * is resumed a little before the newest event delivered, since engines
 * that write their events from several processes (Podman) record some
 * out of the order of their times (by up to a fifth of a second as
 * measured), and a stream resumed exactly after the newest one would lose
 * those written after it with an earlier time; and an engine may send
 * again what it sent (Podman's stream rereads its log). */
#define RT_RECENT_MAX 256
#define RT_RESUME_MARGIN_NS 2000000000ULL
struct rt_recent
{
  uint64_t nano[RT_RECENT_MAX];
  uint64_t key[RT_RECENT_MAX];
  unsigned next, n;
};
/* An event's identity: its time, the container or image, the action. */
uint64_t rt_event_key (uint64_t nano, const char *id, const char *action);
void rt_recent_add (struct rt_recent *r, uint64_t nano, uint64_t key);
/* Whether an event at nano was delivered already, newest being the newest
 * delivered: one of those kept; or one from more than the margin before
 * the newest, or older than all those kept while some were forgotten. One
 * not newer than the newest but within the margin and not kept is one
 * recorded late: not delivered yet. */
bool rt_recent_has (const struct rt_recent *r, uint64_t newest, uint64_t nano, uint64_t key);

struct rt_stream
{
  struct loop *loop;
  const char *name;        /* in log lines */
  rt_event_cb ev_cb;
  rt_conn_cb conn_cb;
  void *ud;
  bool subscribed;
  int conn_state;          /* -1 not reported yet, 0 down, 1 up */
  uint64_t last_nano;      /* newest event delivered */
  uint64_t replay_floor;   /* what is not newer came before the stream opened: not the core's */
  struct rt_recent recent; /* delivered lately, never twice (rt_stream_first_time) */
  uint64_t timer;          /* the next (re)connection */
  uint64_t backoff_ms, backoff_min_ms, backoff_max_ms;
  void (*connect) (void *owner); /* called by the timer */
  void (*release) (void *owner); /* frees the owner once closed and left */
  void *owner;
  int cb_depth;            /* inside core callbacks */
  bool closed;
};

/* owner: the backend's runtime, handed to connect and release. */
void rt_stream_init (struct rt_stream *s, struct loop *loop, const char *name, uint64_t backoff_min_ms,
                     uint64_t backoff_max_ms, void (*connect) (void *owner), void (*release) (void *owner),
                     void *owner);
/* Take the core's callbacks; EBUSY when taken already. Does not connect. */
int rt_stream_subscribe (struct rt_stream *s, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
    __attribute__ ((warn_unused_result));
/* Tell the core the stream went up or down, when that is news (or always,
 * with force). The callback may close the runtime: call inside a stretch. */
void rt_stream_report (struct rt_stream *s, bool up, bool force);
/* Before an event is handed on: true the first time it comes (then it is
 * kept, and the newest time moves), false when it came before
 * (rt_recent_has) or is not newer than replay_floor. An event without a
 * time (nano 0) cannot be told from another: always true, nothing kept. */
bool rt_stream_first_time (struct rt_stream *s, uint64_t nano, const char *id, const char *action);
/* The time a stream is resumed from: a margin before the newest event
 * delivered (rt_stream_first_time skips what comes again); 0 when none
 * was delivered. */
uint64_t rt_stream_resume_since (const struct rt_stream *s);
/* Hand an event to the core; false when the core closed the runtime. */
bool rt_stream_deliver (struct rt_stream *s, const struct rt_event *ev);
/* Connect again after the current backoff, which then doubles (bounded). */
void rt_stream_retry (struct rt_stream *s);
/* Connect again after delay_ms, the backoff untouched (polling). */
void rt_stream_again (struct rt_stream *s, uint64_t delay_ms);
/* The stream works: the next failure retries at the shortest backoff. */
void rt_stream_backoff_reset (struct rt_stream *s);
/* A stretch of core callbacks: enter, call, leave. leave is false when one
 * of them closed the runtime (then released here once the outermost stretch
 * ends): the caller touches the owner no more. */
void rt_stream_enter (struct rt_stream *s);
bool rt_stream_leave (struct rt_stream *s);
/* close(): cancel the timer; true when the owner may be freed now (no
 * stretch is open); else the outermost leave releases it. */
bool rt_stream_close (struct rt_stream *s) __attribute__ ((warn_unused_result));

#endif
