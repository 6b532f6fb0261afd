/* lympho — the plugin backend's internals, shared by its files and no one
 * else (not a public header). The backend, by duty:
 *   exec.c         the operations (one call each), open, close, the ops table
 *   exec-call.c    a call: the child process, its pipes on the loop, its
 *                  exit (pidfd or polling), time limits, reaping, and the
 *                  answer to the caller's callback
 *   exec-events.c  events: the plugin's stream, or polling its list
 * The wire format is exec-proto (docs/lympho-runtime-plugin.7). */
#ifndef LYMPHO_EXEC_INT_H
#define LYMPHO_EXEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "event-stream.h"

#define CALL_TIMEOUT_MS (30u * 1000u)
#define STOP_MARGIN_MS (15u * 1000u)
#define COMMIT_TIMEOUT_MS (300u * 1000u)
#define POLL_MS 2000u
#define STDERR_KEEP 4096u
#define REAP_POLL_MS 50u

enum kind { K_DONE, K_ID, K_LIST, K_CONTAINER, K_SNAPSHOT, K_CHANGES, K_TOP, K_INTERNAL, K_STREAM };

struct call;
typedef void (*internal_fn) (struct runtime *rt, int ret, const lympho_error_t *err, json_val answer);

struct runtime
{
  struct loop *loop;
  char *path;
  uint64_t timeout_ms;
  uint64_t poll_ms;
  LIST_HEAD (, call) calls;

  /* Events: a stream from the plugin, or a list polled every poll_ms; its
   * supervision (the core's callbacks, connection state, backoff, the
   * callback guard: s.cb_depth, s.closed). */
  struct rt_stream s;
  int mode;             /* 0 not known yet, 1 stream, 2 poll */
  struct call *stream;
  bool stream_hello;
  struct rt_container *seen; /* poll: the last list */
  size_t n_seen;
  bool have_seen;
};

struct call
{
  struct runtime *rt;
  struct loop *loop;
  LIST_ENTRY (call) link; /* in runtime.calls while rt is set */
  enum kind kind;
  union rt_callback cb;  /* the caller's, by kind */
  internal_fn internal;  /* K_INTERNAL, K_STREAM: the backend's own */
  void *ud;
  char *what;           /* context of messages: "start web" */
  const char *sub;
  pid_t pid;
  int pidfd, in_fd, out_fd, err_fd;
  struct buf req;
  size_t req_off;
  struct buf out;
  struct buf errb;
  uint64_t timer;       /* time limit, or the 0 ms timer of an early failure */
  uint64_t reap_timer;  /* without pidfd */
  uint64_t limit_ms;
  bool exited;
  int status;
  int early_ret;
  lympho_error_t early_err;
};

/* ---- exec-call.c ---- */
/* Start `PATH sub` with the request g (an open map, closed here); the
 * answer goes to the callback of kind, or fails from the loop. */
struct call *exec_call_start (struct runtime *rt, const char *sub, json_gen g, uint64_t limit_ms, enum kind kind,
                              void *ud, const char *fmt, ...) LYMPHO_PRINTF (7, 8);
void exec_call_unlink (struct call *c);
void exec_call_free (struct call *c);
void exec_fd_close (struct loop *l, int *fd);
/* The list `key` of an answer, as containers (full: as inspect gives them). */
int exec_parse_list (json_val a, const char *key, bool full, struct rt_container **out, size_t *n,
                     lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The end of what the child wrote on stderr, for messages. */
const char *exec_stderr_tail (struct call *c, char *out, size_t size);
/* Wait (a second at most) for the children killed on loop (close). */
void exec_reap_now (struct loop *loop);

/* ---- exec-events.c ---- */
/* The events' supervision, at open. */
void exec_events_init (struct runtime *rt);
int exec_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The events stream call's output and exit (K_STREAM). */
void exec_stream_on_data (struct call *c);
void exec_stream_on_exit (struct call *c);

#endif
