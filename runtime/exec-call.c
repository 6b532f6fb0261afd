/* lympho — one plugin call, driven from the daemon's loop.
 *
 * Every call is a child process in a process group of its own: its stdin,
 * stdout and stderr are non-blocking fds on the loop, and its exit is seen
 * through a pidfd (a polling timer on kernels without pidfd_open), because
 * SIGCHLD belongs to the daemon. A call that outlives its time limit has its
 * whole process group killed and reports ETIMEDOUT; whatever it printed is
 * thrown away. Its answer (exec-proto) goes to the caller's callback. May
 * call: exec-proto, exec-events (a stream call's output), the loop.
 * May call: exec-proto, exec-events.c (a stream call's output), privs
 * (capabilities for plugins), the loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/privs.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "exec-int.h"
#include "exec-proto.h"

extern char **environ;

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
  LIST_ENTRY (reaper) link;
};

/* Every reaper still waiting, so that closing the runtime can finish them
 * before the loop they wait on goes away. */
static LIST_HEAD (, reaper) reapers;

static void
reaper_free (struct reaper *r)
{
  LIST_UNLINK (r, link);
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

void
exec_fd_close (struct loop *l, int *fd)
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
  exec_fd_close (c->loop, &c->in_fd);
  exec_fd_close (c->loop, &c->out_fd);
  exec_fd_close (c->loop, &c->err_fd);
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
      LIST_INSERT_HEAD (&reapers, r, link);
      if (c->pidfd >= 0)
        {
          lympho_error_t e = { 0 };
          loop_del_fd (c->loop, c->pidfd);
          if (loop_add_fd (c->loop, c->pidfd, EPOLLIN, reaper_on_pidfd, r, &e) == 0)
            r->pidfd = steal_fd (&c->pidfd);
        }
      reaper_try (r);
    }
  exec_fd_close (c->loop, &c->pidfd);
  c->pid = 0;
}

void
exec_call_unlink (struct call *c)
{
  if (c->rt == NULL)
    return;
  LIST_UNLINK (c, link);
  c->rt = NULL;
}

void
exec_call_free (struct call *c)
{
  call_detach (c);
  buf_free (&c->req);
  buf_free (&c->out);
  buf_free (&c->errb);
  free (c->what);
  free (c);
}

/* ---- finishing a call: the answer to the caller's callback ---- */

int
exec_parse_list (json_val a, const char *key, bool full, struct rt_container **out, size_t *n,
                 lympho_error_t *err)
{
  json_val arr = json_get (a, key);
  *out = NULL;
  *n = 0;
  if (arr == NULL || !json_is_array (arr))
    return lympho_error_set (err, EIO, "plugin answered garbage: no \"%s\" list", key);
  *out = xmalloc0 ((json_arr_len (arr) + 1) * sizeof **out);
  for (size_t i = 0; i < json_arr_len (arr); i++)
    {
      if (exec_proto_container (json_arr_at (arr, i), full, &(*out)[i], err) < 0)
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
deliver (struct call *c, struct runtime *rt, int ret, lympho_error_t *err, json_val a)
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
        if (ret == 0 && (ret = exec_parse_list (a, "containers", false, &v, &n, err)) < 0)
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
        json_val arr = json_get (a, "changes");
        struct rt_change *v = NULL;
        size_t n = 0;
        if (ret == 0 && (arr == NULL || !json_is_array (arr)))
          ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: no \"changes\" list", c->what);
        if (ret == 0)
          {
            v = xmalloc0 ((json_arr_len (arr) + 1) * sizeof *v);
            for (size_t i = 0; i < json_arr_len (arr) && ret == 0; i++)
              {
                const char *k = json_str (json_get (json_arr_at (arr, i), "kind"));
                const char *p = json_str (json_get (json_arr_at (arr, i), "path"));
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
        json_val arr = json_get (a, "processes");
        struct rt_process *v = NULL;
        size_t n = 0;
        if (ret == 0 && (arr == NULL || !json_is_array (arr)))
          ret = lympho_error_set (err, EIO, "%s: plugin answered garbage: no \"processes\" list", c->what);
        if (ret == 0)
          {
            v = xmalloc0 ((json_arr_len (arr) + 1) * sizeof *v);
            for (size_t i = 0; i < json_arr_len (arr) && ret == 0; i++)
              {
                json_val p = json_arr_at (arr, i);
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
      c->internal (rt, ret, ret < 0 ? err : NULL, a);
      break;
    }
}

/* The last line the plugin wrote on stderr, for messages. */
const char *
exec_stderr_tail (struct call *c, char *out, size_t size)
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
  cleanup_json json_val a = NULL;
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
                                    exec_stderr_tail (c, tail, sizeof tail));
          else
            ret = lympho_error_set (&err, EIO, "plugin exited with status %d without an answer: %s",
                                    WEXITSTATUS (c->status), exec_stderr_tail (c, tail, sizeof tail));
        }
      else if (ret == 0 && !clean)
        ret = lympho_error_set (&err, EIO, "plugin answered ok but exited with status %d",
                                WIFEXITED (c->status) ? WEXITSTATUS (c->status) : 128 + WTERMSIG (c->status));
    }
  if (ret < 0 && err.status == 0)
    err.status = -ret;
  struct runtime *rt = c->rt;
  exec_call_unlink (c);
  deliver (c, rt, ret, &err, a);
  exec_call_free (c);
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
  exec_fd_close (l, &c->in_fd);
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
          exec_fd_close (c->loop, fd);
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

static void
call_on_out (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct call *c = ud;
  if (c->kind == K_STREAM)
    {
      exec_stream_on_data (c);
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

static void
call_on_exit (struct call *c)
{
  /* Everything it wrote before exiting is in the pipes now: drain them
   * rather than wait for an EOF a stray grandchild could hold back. */
  if (c->kind == K_STREAM)
    {
      exec_stream_on_exit (c);
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
struct call *
exec_call_start (struct runtime *rt, const char *sub, json_gen g, uint64_t limit_ms, enum kind kind,
                 void *ud, const char *fmt, ...)
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
  json_gen_map_close (g);
  cleanup_free char *text = json_gen_text (g);
  buf_appends (&c->req, text);
  buf_appends (&c->req, "\n");
  LIST_INSERT_HEAD (&rt->calls, c, link);
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


/* The runtime closes and its loop may go with it: wait (a second at most)
 * for the children killed on that loop, rather than leave their reapers on
 * a loop nobody runs. */
void
exec_reap_now (struct loop *loop)
{
  uint64_t end = now_mono_ms () + 1000;
  struct reaper *r = LIST_FIRST (&reapers);
  while (r)
    {
      struct reaper *next = LIST_NEXT (r, link);
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
