/* lympho — the external plugin backend: `--runtime exec:PATH` runs
 * `PATH SUBCOMMAND` for every operation, one JSON request on its stdin, one
 * JSON answer on its stdout (docs/lympho-runtime-plugin.7).
 *
 * Every call is a child process in a process group of its own, driven from
 * the daemon's loop: its stdin, stdout and stderr are non-blocking fds on
 * the loop, and its exit is seen through a pidfd (a polling timer on kernels
 * without pidfd_open), because SIGCHLD belongs to the daemon. A call that
 * outlives its time limit has its whole process group killed and reports
 * ETIMEDOUT; whatever it printed is thrown away. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/privs.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "exec-proto.h"

extern char **environ;

#define CALL_TIMEOUT_MS (30u * 1000u)
#define STOP_MARGIN_MS (15u * 1000u)
#define COMMIT_TIMEOUT_MS (300u * 1000u)
#define POLL_MS 2000u
#define STDERR_KEEP 4096u
#define REAP_POLL_MS 50u
#define EVENTS_BACKOFF_MIN_MS 200u
#define EVENTS_BACKOFF_MAX_MS 10000u

enum kind { K_DONE, K_ID, K_LIST, K_CONTAINER, K_SNAPSHOT, K_CHANGES, K_TOP, K_INTERNAL, K_STREAM };

struct call;
typedef void (*internal_fn) (struct runtime *rt, int ret, const lympho_error_t *err, yajl_val answer);

struct runtime
{
  struct loop *loop;
  char *path;
  uint64_t timeout_ms;
  uint64_t poll_ms;
  struct call *calls;

  /* Events: a stream from the plugin, or a list polled every poll_ms. */
  bool subscribed;
  rt_event_cb ev_cb;
  rt_conn_cb conn_cb;
  void *ev_ud;
  int mode;             /* 0 not known yet, 1 stream, 2 poll */
  struct call *stream;
  bool stream_hello;
  uint64_t ev_timer;
  uint64_t backoff_ms;
  int conn_state;       /* -1 not reported yet, 0 down, 1 up */
  uint64_t last_nano;
  struct rt_container *seen; /* poll: the last list */
  size_t n_seen;
  bool have_seen;
  int cb_depth;         /* inside event delivery: close() defers the free */
  bool closed;
};

struct call
{
  struct runtime *rt;
  struct loop *loop;
  struct call *prev, *next;
  enum kind kind;
  union
  {
    rt_done_cb done;
    rt_id_cb id;
    rt_container_cb container;
    rt_list_cb list;
    rt_snapshot_cb snapshot;
    rt_changes_cb changes;
    rt_top_cb top;
    internal_fn internal;
  } cb;
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

/* ---- child processes ---- */

/* A child whose call is over but that has not been reaped yet (killed at a
 * time limit or at close): it is waited for on its own, outliving both. */
struct reaper
{
  struct loop *loop;
  pid_t pid;
  int pidfd;
  uint64_t timer;
  unsigned tries;
  struct reaper *prev, *next;
};

/* Every reaper still waiting, so that closing the runtime can finish them
 * before the loop they wait on goes away. */
static struct reaper *reapers;

static void
reaper_free (struct reaper *r)
{
  if (r->prev)
    r->prev->next = r->next;
  else
    reapers = r->next;
  if (r->next)
    r->next->prev = r->prev;
  if (r->pidfd >= 0)
    {
      loop_del_fd (r->loop, r->pidfd);
      close (r->pidfd);
    }
  if (r->timer)
    loop_cancel_timer (r->loop, r->timer);
  free (r);
}

static void reaper_on_timer (struct loop *l, void *ud);

static void
reaper_try (struct reaper *r)
{
  int st;
  pid_t p = waitpid (r->pid, &st, WNOHANG);
  if (p == r->pid || (p < 0 && errno == ECHILD))
    {
      reaper_free (r);
      return;
    }
  /* Give up after a minute: a process stuck in the kernel stays a zombie
   * rather than a timer forever. */
  if (r->pidfd < 0 && r->tries++ < 1200)
    r->timer = loop_add_timer (r->loop, REAP_POLL_MS, reaper_on_timer, r);
}

static void
reaper_on_timer (struct loop *l, void *ud)
{
  struct reaper *r = ud;
  r->timer = 0;
  reaper_try (r);
}

static void
reaper_on_pidfd (struct loop *l, int fd, uint32_t events, void *ud)
{
  reaper_try (ud);
}

static int
pidfd_open_compat (pid_t pid)
{
#ifdef SYS_pidfd_open
  int fd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    fcntl (fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  errno = ENOSYS;
  return -1;
#endif
}

static void
fd_close (struct loop *l, int *fd)
{
  if (*fd < 0)
    return;
  loop_del_fd (l, *fd);
  close (*fd);
  *fd = -1;
}

/* Stop watching the call's child: kill its group if it still runs, and hand
 * the pid to a reaper unless it was reaped already. */
static void
call_detach (struct call *c)
{
  fd_close (c->loop, &c->in_fd);
  fd_close (c->loop, &c->out_fd);
  fd_close (c->loop, &c->err_fd);
  if (c->timer)
    loop_cancel_timer (c->loop, c->timer);
  if (c->reap_timer)
    loop_cancel_timer (c->loop, c->reap_timer);
  c->timer = c->reap_timer = 0;
  if (c->pid > 0 && !c->exited)
    {
      kill (-c->pid, SIGKILL);
      struct reaper *r = xmalloc0 (sizeof *r);
      r->loop = c->loop;
      r->pid = c->pid;
      r->pidfd = -1;
      r->next = reapers;
      if (reapers)
        reapers->prev = r;
      reapers = r;
      if (c->pidfd >= 0)
        {
          lympho_error_t e = { 0 };
          loop_del_fd (c->loop, c->pidfd);
          if (loop_add_fd (c->loop, c->pidfd, EPOLLIN, reaper_on_pidfd, r, &e) == 0)
            r->pidfd = steal_fd (&c->pidfd);
        }
      reaper_try (r);
    }
  fd_close (c->loop, &c->pidfd);
  c->pid = 0;
}

static void
call_unlink (struct call *c)
{
  if (c->rt == NULL)
    return;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->rt->calls = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  c->rt = NULL;
}

static void
call_free (struct call *c)
{
  call_detach (c);
  buf_free (&c->req);
  buf_free (&c->out);
  buf_free (&c->errb);
  free (c->what);
  free (c);
}

/* ---- finishing a call: the answer to the caller's callback ---- */

static int
parse_list (yajl_val a, const char *key, bool full, struct rt_container **out, size_t *n,
            lympho_error_t *err)
{
  yajl_val arr = json_get (a, key);
  *out = NULL;
  *n = 0;
  if (arr == NULL || !YAJL_IS_ARRAY (arr))
    return lympho_error_set (err, EIO, "plugin answered garbage: no \"%s\" list", key);
  *out = xmalloc0 ((arr->u.array.len + 1) * sizeof **out);
  for (size_t i = 0; i < arr->u.array.len; i++)
    {
      if (exec_proto_container (arr->u.array.values[i], full, &(*out)[i], err) < 0)
        {
          for (size_t j = 0; j < i; j++)
            rt_container_free (&(*out)[j]);
          free (*out);
          *out = NULL;
          return -EIO;
        }
      (*n)++;
    }
  return 0;
}

static void
deliver (struct call *c, struct runtime *rt, int ret, lympho_error_t *err, yajl_val a)
{
  if (ret < 0)
    lympho_error_prefix (err, "%s", c->what);
  switch (c->kind)
    {
    case K_DONE:
      c->cb.done (c->ud, ret, ret < 0 ? err : NULL);
      break;
    case K_ID:
      {
        cleanup_free char *id = NULL;
        if (ret == 0 && (ret = exec_proto_id (a, &id, err)) < 0)
          lympho_error_prefix (err, "%s", c->what);
        c->cb.id (c->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : id);
        break;
      }
    case K_LIST:
      {
        struct rt_container *v = NULL;
        size_t n = 0;
        if (ret == 0 && (ret = parse_list (a, "containers", false, &v, &n, err)) < 0)
          lympho_error_prefix (err, "%s", c->what);
        c->cb.list (c->ud, ret, ret < 0 ? err : NULL, v, n);
        for (size_t i = 0; i < n; i++)
          rt_container_free (&v[i]);
        free (v);
        break;
      }
    case K_CONTAINER:
      {
        struct rt_container ct = { 0 };
        if (ret == 0 && (ret = exec_proto_container (json_get (a, "container"), true, &ct, err)) < 0)
          lympho_error_prefix (err, "%s", c->what);
        c->cb.container (c->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : &ct);
        rt_container_free (&ct);
        break;
      }
    case K_SNAPSHOT:
      {
        struct rt_snapshot s = { 0 };
        if (ret == 0 && (ret = exec_proto_snapshot (json_get (a, "snapshot"), &s, err)) < 0)
          lympho_error_prefix (err, "%s", c->what);
        c->cb.snapshot (c->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : &s);
        rt_snapshot_free (&s);
        break;
      }
    case K_CHANGES:
      {
        yajl_val arr = json_get (a, "changes");
        struct rt_change *v = NULL;
        size_t n = 0;
        if (ret == 0 && (arr == NULL || !YAJL_IS_ARRAY (arr)))
          ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: no \"changes\" list", c->what);
        if (ret == 0)
          {
            v = xmalloc0 ((arr->u.array.len + 1) * sizeof *v);
            for (size_t i = 0; i < arr->u.array.len && ret == 0; i++)
              {
                const char *k = json_str (json_get (arr->u.array.values[i], "kind"));
                const char *p = json_str (json_get (arr->u.array.values[i], "path"));
                if (k == NULL || p == NULL || strlen (k) != 1 || strchr ("ACD", k[0]) == NULL)
                  ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: a change without kind A, C "
                                                    "or D and a path", c->what);
                else
                  v[n++] = (struct rt_change) { .kind = k[0], .path = (char *) p };
              }
          }
        c->cb.changes (c->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : v, ret < 0 ? 0 : n);
        free (v);
        break;
      }
    case K_TOP:
      {
        yajl_val arr = json_get (a, "processes");
        struct rt_process *v = NULL;
        size_t n = 0;
        if (ret == 0 && (arr == NULL || !YAJL_IS_ARRAY (arr)))
          ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: no \"processes\" list", c->what);
        if (ret == 0)
          {
            v = xmalloc0 ((arr->u.array.len + 1) * sizeof *v);
            for (size_t i = 0; i < arr->u.array.len && ret == 0; i++)
              {
                yajl_val p = arr->u.array.values[i];
                int64_t pid;
                const char *cmd = json_str (json_get (p, "cmd"));
                if (!json_as_int64 (json_get (p, "pid"), &pid) || cmd == NULL)
                  ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: a process without pid and cmd",
                                          c->what);
                else
                  v[n++] = (struct rt_process) { .pid = (int) pid, .cmd = (char *) cmd,
                                                 .user = (char *) json_str (json_get (p, "user")) };
              }
          }
        c->cb.top (c->ud, ret, ret < 0 ? err : NULL, ret < 0 ? NULL : v, ret < 0 ? 0 : n);
        free (v);
        break;
      }
    case K_INTERNAL:
    case K_STREAM:
      c->cb.internal (rt, ret, ret < 0 ? err : NULL, a);
      break;
    }
}

/* The last line the plugin wrote on stderr, for messages. */
static const char *
stderr_tail (struct call *c, char *out, size_t size)
{
  size_t len = c->errb.len;
  while (len > 0 && (c->errb.data[len - 1] == '\n' || c->errb.data[len - 1] == ' '))
    len--;
  size_t start = len;
  while (start > 0 && c->errb.data[start - 1] != '\n')
    start--;
  size_t n = len - start < size - 1 ? len - start : size - 1;
  memcpy (out, c->errb.data ? c->errb.data + start : "", n);
  out[n] = '\0';
  return out;
}

/* ret < 0 with err: the call failed before an answer could be read. */
static void
call_finish (struct call *c, int ret, const lympho_error_t *why)
{
  lympho_error_t err = { 0 };
  cleanup_json yajl_val a = NULL;
  call_detach (c);
  if (ret < 0)
    err = *why;
  else
    {
      char tail[200];
      ret = exec_proto_answer (c->out.data ? c->out.data : "", c->out.len, &a, &err);
      bool clean = WIFEXITED (c->status) && WEXITSTATUS (c->status) == 0;
      if (ret == -EIO && c->out.len == 0 && !clean)
        {
          if (WIFSIGNALED (c->status))
            ret = lympho_error_set (&err, EIO, "plugin killed by signal %d: %s", WTERMSIG (c->status),
                                    stderr_tail (c, tail, sizeof tail));
          else
            ret = lympho_error_set (&err, EIO, "plugin exited with status %d without an answer: %s",
                                    WEXITSTATUS (c->status), stderr_tail (c, tail, sizeof tail));
        }
      else if (ret == 0 && !clean)
        ret = lympho_error_set (&err, EIO, "plugin answered ok but exited with status %d",
                                WIFEXITED (c->status) ? WEXITSTATUS (c->status) : 128 + WTERMSIG (c->status));
    }
  if (ret < 0 && err.status == 0)
    err.status = -ret;
  struct runtime *rt = c->rt;
  call_unlink (c);
  deliver (c, rt, ret, &err, a);
  call_free (c);
}

/* ---- driving a call on the loop ---- */

static void call_on_exit (struct call *c);

static void
call_on_in (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct call *c = ud;
  while (c->req_off < c->req.len)
    {
      ssize_t n = send (fd, c->req.data + c->req_off, c->req.len - c->req_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n < 0)
        break; /* it closed its stdin: its answer says whether it cared */
      c->req_off += (size_t) n;
    }
  fd_close (l, &c->in_fd);
}

/* Read what is there; returns false when the call is over (finished). */
static bool
call_read (struct call *c, int *fd, struct buf *b, size_t cap)
{
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read (*fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true;
      if (n <= 0)
        {
          fd_close (c->loop, fd);
          return true;
        }
      if (b == &c->errb)
        {
          /* Keep only the end of stderr: it is for messages. */
          if (b->len > STDERR_KEEP)
            buf_reset (b);
          buf_append (b, chunk, (size_t) n);
          continue;
        }
      if (b->len + (size_t) n > cap)
        {
          lympho_error_t e = { 0 };
          lympho_error_set (&e, EIO, "plugin answered garbage: answer of more than %zu bytes", cap);
          call_finish (c, -EIO, &e);
          return false;
        }
      buf_append (b, chunk, (size_t) n);
    }
}

static void stream_on_data (struct call *c);

static void
call_on_out (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct call *c = ud;
  if (c->kind == K_STREAM)
    {
      stream_on_data (c);
      return;
    }
  call_read (c, &c->out_fd, &c->out, EXEC_PROTO_MAX_ANSWER);
}

static void
call_on_err (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct call *c = ud;
  call_read (c, &c->err_fd, &c->errb, 0);
}

static void stream_on_exit (struct call *c);

static void
call_on_exit (struct call *c)
{
  /* Everything it wrote before exiting is in the pipes now: drain them
   * rather than wait for an EOF a stray grandchild could hold back. */
  if (c->kind == K_STREAM)
    {
      stream_on_exit (c);
      return;
    }
  if (c->out_fd >= 0 && !call_read (c, &c->out_fd, &c->out, EXEC_PROTO_MAX_ANSWER))
    return;
  if (c->err_fd >= 0)
    call_read (c, &c->err_fd, &c->errb, 0);
  call_finish (c, 0, NULL);
}

static bool
call_reap (struct call *c)
{
  siginfo_t si = { 0 };
  int st = 0;
  if (waitid (P_PID, (id_t) c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != c->pid)
    return false;
  /* The leader has exited but is not reaped, so its pid (the group's id)
   * cannot be reused yet: kill what it left in its group, so no stray
   * process keeps a pipe open or goes on changing the runtime. */
  if (c->kind != K_STREAM)
    kill (-c->pid, SIGKILL);
  if (waitpid (c->pid, &st, WNOHANG) != c->pid)
    return false;
  c->exited = true;
  c->status = st;
  return true;
}

static void
call_on_pidfd (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct call *c = ud;
  if (call_reap (c))
    call_on_exit (c);
}

static void
call_on_reap_timer (struct loop *l, void *ud)
{
  struct call *c = ud;
  c->reap_timer = 0;
  if (call_reap (c))
    call_on_exit (c);
  else
    c->reap_timer = loop_add_timer (l, REAP_POLL_MS, call_on_reap_timer, c);
}

static void
call_on_timer (struct loop *l, void *ud)
{
  struct call *c = ud;
  c->timer = 0;
  lympho_error_t e = { 0 };
  if (c->early_ret < 0)
    {
      e = c->early_err;
      call_finish (c, c->early_ret, &e);
      return;
    }
  lympho_error_set (&e, ETIMEDOUT, "plugin %s %s gave no answer within %llu ms; its process group was killed",
                    c->rt ? c->rt->path : "", c->sub, (unsigned long long) c->limit_ms);
  call_finish (c, -ETIMEDOUT, &e);
}

static int
spawn (struct call *c, const char *path, lympho_error_t *err)
{
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
  int ret = 0;
  /* stdin is a socket so the request can be written with MSG_NOSIGNAL: a
   * plugin that closes its stdin early must not raise SIGPIPE here. */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2 (out, O_CLOEXEC) < 0
      || pipe2 (er, O_CLOEXEC) < 0)
    {
      ret = lympho_error_set_errno (err, errno, "pipes for the plugin");
      goto out;
    }
  shutdown (in[0], SHUT_RD);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, in[1], 0);
  posix_spawn_file_actions_adddup2 (&fa, out[1], 1);
  posix_spawn_file_actions_adddup2 (&fa, er[1], 2);
  posix_spawnattr_init (&attr);
  sigset_t none, def;
  sigemptyset (&none);
  sigemptyset (&def);
  int defs[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2 };
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
    sigaddset (&def, defs[i]);
  /* Its own process group (so a time limit kills everything it started),
   * no signals blocked and default handlers: the daemon's mask is not its. */
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup (&attr, 0);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &def);
  char *argv[] = { (char *) path, (char *) c->sub, NULL };
  /* The plugin gets lymphd's capabilities and the ones kept for it
   * (privs.c), whether or not lymphd runs as root. */
  privs_plugin_ambient (true);
  int e = posix_spawn (&c->pid, path, &fa, &attr, argv, environ);
  privs_plugin_ambient (false);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (e != 0)
    {
      c->pid = 0;
      ret = lympho_error_set_errno (err, e, "run plugin %s", path);
      goto out;
    }
  c->in_fd = steal_fd (&in[0]);
  c->out_fd = steal_fd (&out[0]);
  c->err_fd = steal_fd (&er[0]);
  fcntl (c->out_fd, F_SETFL, O_NONBLOCK);
  fcntl (c->err_fd, F_SETFL, O_NONBLOCK);
  fcntl (c->in_fd, F_SETFL, O_NONBLOCK);
  if ((ret = loop_add_fd (c->loop, c->in_fd, EPOLLOUT, call_on_in, c, err)) < 0
      || (ret = loop_add_fd (c->loop, c->out_fd, EPOLLIN, call_on_out, c, err)) < 0
      || (ret = loop_add_fd (c->loop, c->err_fd, EPOLLIN, call_on_err, c, err)) < 0)
    goto out;
  c->pidfd = pidfd_open_compat (c->pid);
  if (c->pidfd >= 0)
    ret = loop_add_fd (c->loop, c->pidfd, EPOLLIN, call_on_pidfd, c, err);
  else
    c->reap_timer = loop_add_timer (c->loop, REAP_POLL_MS, call_on_reap_timer, c);
out:
  for (int i = 0; i < 2; i++)
    {
      if (in[i] >= 0)
        close (in[i]);
      if (out[i] >= 0)
        close (out[i]);
      if (er[i] >= 0)
        close (er[i]);
    }
  return ret;
}

/* Start `PATH sub` with the request g (a map left open by
 * exec_proto_request). Failures come back through the callback, from the
 * loop. */
static struct call *
call_start (struct runtime *rt, const char *sub, yajl_gen g, uint64_t limit_ms, enum kind kind, void *ud,
            const char *fmt, ...) LYMPHO_PRINTF (7, 8);

static struct call *
call_start (struct runtime *rt, const char *sub, yajl_gen g, uint64_t limit_ms, enum kind kind, void *ud,
            const char *fmt, ...)
{
  struct call *c = xmalloc0 (sizeof *c);
  c->rt = rt;
  c->loop = rt->loop;
  c->kind = kind;
  c->ud = ud;
  c->sub = sub;
  c->pidfd = c->in_fd = c->out_fd = c->err_fd = -1;
  c->limit_ms = limit_ms;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&c->what, fmt, ap) < 0)
    abort ();
  va_end (ap);
  buf_init (&c->req);
  buf_init (&c->out);
  buf_init (&c->errb);
  yajl_gen_map_close (g);
  cleanup_free char *text = json_gen_text (g);
  buf_appends (&c->req, text);
  buf_appends (&c->req, "\n");
  c->next = rt->calls;
  if (rt->calls)
    rt->calls->prev = c;
  rt->calls = c;
  if (spawn (c, rt->path, &c->early_err) < 0)
    {
      call_detach (c);
      c->early_ret = c->early_err.status ? -c->early_err.status : -EIO;
      c->timer = loop_add_timer (rt->loop, 0, call_on_timer, c);
    }
  else if (limit_ms > 0)
    c->timer = loop_add_timer (rt->loop, limit_ms, call_on_timer, c);
  return c;
}

/* ---- the operations ---- */

static void
simple (struct runtime *rt, const char *sub, yajl_gen g, uint64_t limit_ms, rt_done_cb cb, void *ud,
        const char *what)
{
  struct call *c = call_start (rt, sub, g, limit_ms, K_DONE, ud, "%s", what);
  c->cb.done = cb;
}

static yajl_gen
req_id (const char *key, const char *id)
{
  yajl_gen g = exec_proto_request ();
  json_gen_kstr (g, key, id);
  return g;
}

static void
exec_ping (struct runtime *rt, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = exec_proto_request ();
  simple (rt, "ping", g, rt->timeout_ms, cb, ud, "ping plugin");
}

static void
exec_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = exec_proto_request ();
  json_gen_kstr (g, "label", label_filter);
  struct call *c = call_start (rt, "list", g, rt->timeout_ms, K_LIST, ud, "list containers");
  c->cb.list = cb;
}

static void
exec_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("ref", ref);
  struct call *c = call_start (rt, "inspect", g, rt->timeout_ms, K_CONTAINER, ud, "inspect %s", ref);
  c->cb.container = cb;
}

static void
exec_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("ref", ref);
  struct call *c = call_start (rt, "snapshot", g, rt->timeout_ms, K_SNAPSHOT, ud, "snapshot %s", ref);
  c->cb.snapshot = cb;
}

static void
exec_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
             rt_id_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = exec_proto_request ();
  cleanup_json yajl_val sv = NULL;
  lympho_error_t err = { 0 };
  /* The spec came from this plugin's snapshot as JSON; send it back as the
   * same value. A spec that no longer parses is reported by the call. */
  json_gen_str (g, "spec");
  if (json_parse (spec, strlen (spec), &sv, &err) == 0)
    json_gen_value (g, sv);
  else
    json_gen_str (g, spec);
  json_gen_kstr (g, "name", name);
  exec_proto_gen_labels (g, "labels", extra_labels);
  struct call *c = call_start (rt, "create", g, rt->timeout_ms, K_ID, ud, "create %s", name);
  c->cb.id = cb;
}

static void
exec_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("start %s", id);
  simple (rt, "start", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kint (g, "timeout", timeout_s);
  cleanup_free char *what = xasprintf ("stop %s", id);
  /* The plugin waits up to the stop timeout before it kills. */
  uint64_t limit = (uint64_t) (timeout_s < 0 ? 10 : timeout_s) * 1000u + STOP_MARGIN_MS;
  simple (rt, "stop", g, limit > rt->timeout_ms ? limit : rt->timeout_ms, cb, ud, what);
}

static void
exec_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kstr (g, "signal", signal ? signal : "SIGKILL");
  cleanup_free char *what = xasprintf ("kill %s", id);
  simple (rt, "kill", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kbool (g, "force", force);
  json_gen_kbool (g, "volumes", volumes);
  cleanup_free char *what = xasprintf ("remove %s", id);
  simple (rt, "remove", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kstr (g, "name", new_name);
  cleanup_free char *what = xasprintf ("rename %s to %s", id, new_name);
  simple (rt, "rename", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("pause %s", id);
  simple (rt, "pause", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  cleanup_free char *what = xasprintf ("unpause %s", id);
  simple (rt, "unpause", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("ref", ref);
  struct call *c = call_start (rt, "image-inspect", g, rt->timeout_ms, K_ID, ud, "inspect image %s", ref);
  c->cb.id = cb;
}

static void
exec_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("image", image_id);
  json_gen_kstr (g, "repo", repo);
  json_gen_kstr (g, "tag", tag ? tag : "latest");
  cleanup_free char *what = xasprintf ("tag image %s as %s:%s", image_id, repo, tag ? tag : "latest");
  simple (rt, "image-tag", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("ref", ref);
  cleanup_free char *what = xasprintf ("remove image %s", ref);
  simple (rt, "image-remove", g, rt->timeout_ms, cb, ud, what);
}

static void
exec_commit (struct runtime *rt, const char *id, const char *repo, const char *tag, const struct rt_labels *labels,
             rt_id_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kstr (g, "repo", repo);
  json_gen_kstr (g, "tag", tag ? tag : "latest");
  exec_proto_gen_labels (g, "labels", labels);
  uint64_t limit = COMMIT_TIMEOUT_MS > rt->timeout_ms ? COMMIT_TIMEOUT_MS : rt->timeout_ms;
  struct call *c = call_start (rt, "commit", g, limit, K_ID, ud, "commit %s", id);
  c->cb.id = cb;
}

static void
exec_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  struct call *c = call_start (rt, "changes", g, rt->timeout_ms, K_CHANGES, ud, "changes of %s", id);
  c->cb.changes = cb;
}

static void
exec_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  struct call *c = call_start (rt, "top", g, rt->timeout_ms, K_TOP, ud, "top of %s", id);
  c->cb.top = cb;
}

static void
exec_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  cleanup_jgen yajl_gen g = req_id ("id", id);
  json_gen_kstr (g, "network", network);
  cleanup_free char *what = xasprintf ("disconnect %s from %s", id, network);
  simple (rt, "network-disconnect", g, rt->timeout_ms, cb, ud, what);
}

/* ---- events: a stream from the plugin, or polling its list ---- */

static void events_begin (struct runtime *rt);

static void
events_report (struct runtime *rt, bool up)
{
  if (rt->conn_state == (up ? 1 : 0))
    return;
  rt->conn_state = up ? 1 : 0;
  if (rt->conn_cb)
    rt->conn_cb (rt->ev_ud, up);
}

/* Run user callbacks that may close(): returns false when rt is gone. */
static bool
events_leave (struct runtime *rt)
{
  rt->cb_depth--;
  if (rt->closed && rt->cb_depth == 0)
    {
      free (rt);
      return false;
    }
  return !rt->closed;
}

static void
events_on_timer (struct loop *l, void *ud)
{
  struct runtime *rt = ud;
  rt->ev_timer = 0;
  events_begin (rt);
}

static void
events_retry (struct runtime *rt, const lympho_error_t *err)
{
  log_debug ("exec: events from %s: %s; retrying in %llu ms", rt->path, err ? err->msg : "stream ended",
             (unsigned long long) rt->backoff_ms);
  rt->ev_timer = loop_add_timer (rt->loop, rt->backoff_ms, events_on_timer, rt);
  rt->backoff_ms = rt->backoff_ms * 2 > EVENTS_BACKOFF_MAX_MS ? EVENTS_BACKOFF_MAX_MS : rt->backoff_ms * 2;
  rt->cb_depth++;
  events_report (rt, false);
  events_leave (rt);
}

static void
poll_emit (void *ud, const struct rt_event *ev)
{
  struct runtime *rt = ud;
  if (!rt->closed)
    rt->ev_cb (rt->ev_ud, ev);
}

static void
poll_on_list (struct runtime *rt, int ret, const lympho_error_t *err, yajl_val a)
{
  struct rt_container *v = NULL;
  size_t n = 0;
  lympho_error_t e = { 0 };
  if (ret == 0 && parse_list (a, "containers", false, &v, &n, &e) < 0)
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
  rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
  rt->cb_depth++;
  events_report (rt, true);
  if (rt->have_seen && !rt->closed)
    exec_proto_diff (rt->seen, rt->n_seen, v, n, now_real_ms () * 1000000u, poll_emit, rt);
  bool alive = events_leave (rt);
  if (alive)
    {
      for (size_t i = 0; i < rt->n_seen; i++)
        rt_container_free (&rt->seen[i]);
      free (rt->seen);
      rt->seen = steal_pointer (&v);
      rt->n_seen = n;
      rt->have_seen = true;
      rt->ev_timer = loop_add_timer (rt->loop, rt->poll_ms, events_on_timer, rt);
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
      cleanup_json yajl_val a = NULL;
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
      rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
      if (rt->stream && rt->stream->timer)
        {
          loop_cancel_timer (rt->loop, rt->stream->timer);
          rt->stream->timer = 0;
        }
      events_report (rt, true);
      return;
    }
  struct rt_event ev;
  cleanup_json yajl_val tree = NULL;
  struct rt_labels attrs = { 0 };
  if (exec_proto_event (line, len, &ev, &tree, &attrs, &err) < 0)
    {
      log_warn ("exec: events from %s: %s", rt->path, err.msg);
      return;
    }
  if (ev.time_nano > rt->last_nano)
    rt->last_nano = ev.time_nano;
  rt->ev_cb (rt->ev_ud, &ev);
  rt_labels_free (&attrs);
}

static void
stream_on_data (struct call *c)
{
  struct runtime *rt = c->rt;
  char chunk[65536];
  ssize_t n = read (c->out_fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      fd_close (c->loop, &c->out_fd);
      return; /* its exit (pidfd) ends the stream */
    }
  buf_append (&c->out, chunk, (size_t) n);
  size_t start = 0;
  char *nl;
  rt->cb_depth++;
  while (!rt->closed && (nl = memchr (c->out.data + start, '\n', c->out.len - start)) != NULL)
    {
      size_t end = (size_t) (nl - c->out.data);
      stream_line (rt, c->out.data + start, end - start);
      start = end + 1;
    }
  if (!events_leave (rt))
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

static void
stream_on_exit (struct call *c)
{
  struct runtime *rt = c->rt;
  char tail[200];
  lympho_error_t e = { 0 };
  lympho_error_set (&e, EIO, "the events subcommand ended (status %d): %s", c->status,
                    stderr_tail (c, tail, sizeof tail));
  rt->stream = NULL;
  call_unlink (c);
  call_free (c);
  events_retry (rt, &e);
}

static void
stream_on_internal (struct runtime *rt, int ret, const lympho_error_t *err, yajl_val a)
{
  /* Only a failure before the hello gets here: spawn failed or no hello
   * within the time limit. */
  rt->stream = NULL;
  events_retry (rt, err);
}

static void
caps_on_answer (struct runtime *rt, int ret, const lympho_error_t *err, yajl_val a)
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
  cleanup_jgen yajl_gen g = exec_proto_request ();
  struct call *c;
  switch (rt->mode)
    {
    case 0:
      c = call_start (rt, "capabilities", g, rt->timeout_ms, K_INTERNAL, NULL, "capabilities");
      c->cb.internal = caps_on_answer;
      break;
    case 1:
      if (rt->last_nano)
        json_gen_kint (g, "since", (int64_t) rt->last_nano);
      /* The time limit holds until the hello line, then the stream is
       * open-ended. */
      rt->stream_hello = false;
      rt->stream = call_start (rt, "events", g, rt->timeout_ms, K_STREAM, NULL, "events");
      rt->stream->cb.internal = stream_on_internal;
      break;
    default:
      c = call_start (rt, "list", g, rt->timeout_ms, K_INTERNAL, NULL, "list containers (polling)");
      c->cb.internal = poll_on_list;
      break;
    }
}

static int
exec_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err)
{
  if (rt->subscribed)
    return lympho_error_set (err, EBUSY, "already subscribed to plugin events");
  rt->subscribed = true;
  rt->ev_cb = ev_cb;
  rt->conn_cb = conn_cb;
  rt->ev_ud = ud;
  rt->backoff_ms = EVENTS_BACKOFF_MIN_MS;
  events_begin (rt);
  return 0;
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
  rt->conn_state = -1;
  rt->timeout_ms = env_ms ("LYMPHO_PLUGIN_TIMEOUT_MS", CALL_TIMEOUT_MS);
  rt->poll_ms = env_ms ("LYMPHO_PLUGIN_POLL_MS", POLL_MS);
  /* Plugins need capabilities lymphd itself does not use (privs.c). */
  privs_for_plugins ();
  *out = rt;
  return 0;
}

/* The runtime closes and its loop may go with it: wait (a second at most)
 * for the children killed on that loop, rather than leave their reapers on
 * a loop nobody runs. */
static void
reap_now (struct loop *loop)
{
  uint64_t end = now_mono_ms () + 1000;
  struct reaper *r = reapers;
  while (r)
    {
      struct reaper *next = r->next;
      if (r->loop == loop)
        {
          int st;
          pid_t p;
          while ((p = waitpid (r->pid, &st, WNOHANG)) == 0 && now_mono_ms () < end)
            {
              struct timespec ts = { 0, 5 * 1000 * 1000 };
              nanosleep (&ts, NULL);
            }
          reaper_free (r);
        }
      r = next;
    }
}

static void
exec_close (struct runtime *rt)
{
  if (rt == NULL || rt->closed)
    return;
  while (rt->calls)
    {
      struct call *c = rt->calls;
      call_unlink (c);
      call_free (c);
    }
  reap_now (rt->loop);
  rt->stream = NULL;
  loop_cancel_timer (rt->loop, rt->ev_timer);
  for (size_t i = 0; i < rt->n_seen; i++)
    rt_container_free (&rt->seen[i]);
  free (rt->seen);
  free (rt->path);
  rt->closed = true;
  if (rt->cb_depth == 0)
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
