/* The control socket, over real Unix sockets in a temporary directory and a
 * real loop: immediate and deferred answers, order on one connection, bad
 * and oversized lines, a second daemon on the same path, stale sockets,
 * clients that leave early, idle connections, caps, and peers that are
 * neither root nor in the group (a forked child that drops to nobody). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/control.h"
#include "lympho/json.h"
#include "lympho/loop.h"
#include "lympho/proto.h"
#include "lympho/util.h"

struct fixture
{
  char dir[64];
  char *path;
  struct loop *loop;
  struct control *ctl;
  unsigned handled;
  struct control_request *held;  /* a request the test answers itself */
  uid_t last_uid;
};

/* --- the handler ------------------------------------------------------- */

static void
later_cb (struct loop *l, void *ud)
{
  control_reply_ok (ud, "{\"late\":true}");
}

static void
handler (void *ud, struct control_request *req, const char *cmd, json_val args)
{
  struct fixture *f = ud;
  f->handled++;
  f->last_uid = control_request_uid (req);
  if (strcmp (cmd, "echo") == 0)
    {
      cleanup_free char *text = json_to_string (args);
      control_reply_ok (req, text);
    }
  else if (strcmp (cmd, "later") == 0)
    loop_add_timer (f->loop, 50, later_cb, req);
  else if (strcmp (cmd, "hold") == 0)
    f->held = req;
  else if (strcmp (cmd, "follow") == 0)
    control_reply_stream (req, "[]", json_str (json_get (args, "name")));
  else
    control_reply_error (req, EINVAL, "unknown command");
}

/* --- setup ------------------------------------------------------------- */

static int
setup (void **state)
{
  struct fixture *f = xmalloc0 (sizeof *f);
  strcpy (f->dir, "/tmp/lympho-test-control-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  /* The unprivileged child must reach the socket to be refused by it. */
  chmod (f->dir, 0755);
  f->path = xasprintf ("%s/lymphd.sock", f->dir);
  lympho_error_t err = { 0 };
  if (loop_new (&f->loop, &err) < 0)
    return -1;
  if (control_open (f->loop, f->path, handler, f, &f->ctl, &err) < 0)
    {
      fprintf (stderr, "control_open: %s\n", err.msg);
      return -1;
    }
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  control_close (f->ctl);
  loop_free (f->loop);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", f->dir);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", f->dir);
  free (f->path);
  free (f);
  return 0;
}

/* --- a client in the same process, driving the loop while it waits ----- */

struct client
{
  int fd;
  struct buf in;
};

static void
client_open (struct client *cl, const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy (sa.sun_path, path);
  cl->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true (cl->fd >= 0);
  assert_int_equal (connect (cl->fd, (struct sockaddr *) &sa, sizeof sa), 0);
  buf_init (&cl->in);
}

static void
client_close (struct client *cl)
{
  if (cl->fd >= 0)
    close (cl->fd);
  cl->fd = -1;
  buf_free (&cl->in);
}

static void
drive (struct fixture *f, int ms)
{
  uint64_t end = now_mono_ms () + (uint64_t) ms;
  while (now_mono_ms () < end)
    {
      lympho_error_t err = { 0 };
      assert_int_equal (loop_run_once (f->loop, 5, &err), 0);
    }
}

/* Writes all of it, turning the loop whenever the socket is full. Returns
 * the number of bytes written before the peer went away. */
static size_t
client_send (struct fixture *f, struct client *cl, const char *data, size_t len)
{
  size_t done = 0;
  uint64_t deadline = now_mono_ms () + 10000;
  while (done < len && now_mono_ms () < deadline)
    {
      ssize_t n = send (cl->fd, data + done, len - done, MSG_NOSIGNAL);
      if (n > 0)
        done += (size_t) n;
      else if (n < 0 && errno != EAGAIN)
        break;
      else
        drive (f, 1);
    }
  return done;
}

static void
client_sends (struct fixture *f, struct client *cl, const char *line)
{
  assert_int_equal (client_send (f, cl, line, strlen (line)), strlen (line));
}

/* One reply line (newline stripped): 1, or 0 on EOF, -1 on timeout. */
static int
client_read (struct fixture *f, struct client *cl, int timeout_ms, char **out)
{
  uint64_t deadline = now_mono_ms () + (uint64_t) timeout_ms;
  *out = NULL;
  for (;;)
    {
      char *nl = cl->in.len > 0 ? memchr (cl->in.data, '\n', cl->in.len) : NULL;
      if (nl)
        {
          size_t len = (size_t) (nl - cl->in.data);
          *out = xstrndup (cl->in.data, len);
          memmove (cl->in.data, nl + 1, cl->in.len - len - 1);
          cl->in.len -= len + 1;
          return 1;
        }
      char chunk[4096];
      ssize_t n = recv (cl->fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0)
        {
          buf_append (&cl->in, chunk, (size_t) n);
          continue;
        }
      if (n == 0 || (n < 0 && errno != EAGAIN))
        return 0;
      if (now_mono_ms () >= deadline)
        return -1;
      drive (f, 2);
    }
}

/* Reads one reply and decodes it: the return of proto_reply_decode. */
static int
client_reply (struct fixture *f, struct client *cl, char **result_text, lympho_error_t *err)
{
  cleanup_free char *line = NULL;
  assert_int_equal (client_read (f, cl, 5000, &line), 1);
  json_val tree = NULL, result = NULL;
  int ret = proto_reply_decode (line, strlen (line), &tree, &result, err);
  if (result_text)
    *result_text = ret == 0 ? json_to_string (result) : NULL;
  if (tree)
    json_free (tree);
  return ret;
}

/* --- tests ------------------------------------------------------------- */

static void
test_socket_mode (void **state)
{
  struct fixture *f = *state;
  struct stat st;
  assert_int_equal (lstat (f->path, &st), 0);
  assert_true (S_ISSOCK (st.st_mode));
  assert_int_equal (st.st_mode & 0777, 0666);

  /* A missing parent is created, reachable by everyone, even under the
   * daemon's umask 077. */
  mode_t old = umask (077);
  cleanup_free char *deep = xasprintf ("%s/run/lympho/x.sock", f->dir);
  struct control *c2 = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (control_open (f->loop, deep, handler, f, &c2, &err), 0);
  umask (old);
  cleanup_free char *parent = xasprintf ("%s/run/lympho", f->dir);
  assert_int_equal (stat (parent, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0755);
  control_close (c2);
  /* Closing removes the socket. */
  assert_int_equal (lstat (deep, &st), -1);
  assert_int_equal (errno, ENOENT);
}

static void
test_immediate_and_deferred_in_order (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  /* Both lines in one write: the deferred answer holds back the quick one. */
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"later\"}\n{\"v\":1,\"cmd\":\"echo\",\"args\":{\"n\":2}}\n");
  char *result = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (client_reply (f, &cl, &result, &err), 0);
  assert_string_equal (result, "{\"late\":true}");
  free (result);
  assert_int_equal (client_reply (f, &cl, &result, &err), 0);
  assert_string_equal (result, "{\"n\":2}");
  free (result);
  assert_int_equal (f->handled, 2);
  assert_int_equal (f->last_uid, getuid ());

  /* And the connection serves another request after that. */
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"n\":3}}\n");
  assert_int_equal (client_reply (f, &cl, &result, &err), 0);
  assert_string_equal (result, "{\"n\":3}");
  free (result);
  client_close (&cl);
}

static void
test_malformed_line (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  lympho_error_t err = { 0 };
  client_sends (f, &cl, "this is not json\n");
  assert_int_equal (client_reply (f, &cl, NULL, &err), -EINVAL);
  assert_non_null (strstr (err.msg, "malformed"));
  client_sends (f, &cl, "{\"v\":9,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &cl, NULL, &err), -EPROTONOSUPPORT);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\",\"args\":[]}\n");
  assert_int_equal (client_reply (f, &cl, NULL, &err), -EINVAL);
  /* None of them reached the handler, and the connection is still good. */
  assert_int_equal (f->handled, 0);
  char *result = NULL;
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &cl, &result, &err), 0);
  assert_string_equal (result, "{}");
  free (result);
  client_close (&cl);
}

/* A peer that sends and never reads: once 64 KiB of its replies wait,
 * lymphd reads no more from it, so its requests cannot grow lymphd's
 * memory (before, 256 KiB of newlines kept 32 MiB). Once it reads, every
 * line it sent is answered, in order, and the connection still serves. */
static void
test_output_bounded (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  size_t len = 1u << 20;
  char *data = xmalloc (len);
  for (size_t i = 0; i < len; i++)
    data[i] = i % 2 ? '\n' : 'x';
  size_t done = 0;
  uint64_t progress = now_mono_ms ();
  while (done < len && now_mono_ms () - progress < 500)
    {
      ssize_t n = send (cl.fd, data + done, len - done, MSG_NOSIGNAL);
      if (n > 0)
        {
          done += (size_t) n;
          progress = now_mono_ms ();
        }
      else
        {
          assert_true (n < 0 && errno == EAGAIN);
          drive (f, 2);
        }
    }
  assert_true (done < len);
  size_t lines = 0;
  for (size_t i = 0; i < done; i++)
    lines += data[i] == '\n';
  for (size_t i = 0; i < lines; i++)
    {
      cleanup_free char *line = NULL;
      int r = client_read (f, &cl, 5000, &line);
      if (r != 1)
        fprintf (stderr, "reply %zu of %zu: %d\n", i, lines, r);
      assert_int_equal (r, 1);
      assert_non_null (strstr (line, "malformed"));
    }
  lympho_error_t err = { 0 };
  char *result = NULL;
  if (done % 2)
    client_sends (f, &cl, "\n"); /* ends the half line sent */
  if (done % 2)
    assert_int_equal (client_reply (f, &cl, NULL, &err), -EINVAL);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &cl, &result, &err), 0);
  assert_string_equal (result, "{}");
  free (result);
  free (data);
  client_close (&cl);
}

static void
test_oversized_line (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  size_t len = PROTO_MAX_LINE + 4096;
  char *big = xmalloc (len);
  memset (big, 'x', len);
  client_send (f, &cl, big, len);
  free (big);
  lympho_error_t err = { 0 };
  assert_int_equal (client_reply (f, &cl, NULL, &err), -EMSGSIZE);
  assert_non_null (strstr (err.msg, "too long"));
  /* Then the daemon hangs up. */
  char *line = NULL;
  assert_int_equal (client_read (f, &cl, 2000, &line), 0);
  assert_int_equal (f->handled, 0);
  client_close (&cl);
}

static void
test_second_open_refused (void **state)
{
  struct fixture *f = *state;
  struct control *c2 = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (control_open (f->loop, f->path, handler, f, &c2, &err), -EADDRINUSE);
  assert_null (c2);
  cleanup_free char *want = xasprintf ("another lymphd is running on %s", f->path);
  assert_string_equal (err.msg, want);
  /* The first one still answers: the refusal did not remove its socket. */
  struct client cl;
  client_open (&cl, f->path);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &cl, NULL, &err), 0);
  client_close (&cl);
}

static void
test_stale_socket_replaced (void **state)
{
  struct fixture *f = *state;
  /* What a crashed daemon leaves: a socket file nobody listens on. */
  cleanup_free char *stale = xasprintf ("%s/stale.sock", f->dir);
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy (sa.sun_path, stale);
  assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof sa), 0);
  close (fd);
  struct control *c2 = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (control_open (f->loop, stale, handler, f, &c2, &err), 0);
  struct client cl;
  client_open (&cl, stale);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &cl, NULL, &err), 0);
  client_close (&cl);
  control_close (c2);

  /* Something that is not a socket is never removed. */
  cleanup_free char *plain = xasprintf ("%s/plain", f->dir);
  int pf = open (plain, O_CREAT | O_WRONLY, 0600);
  assert_true (pf >= 0);
  close (pf);
  assert_int_equal (control_open (f->loop, plain, handler, f, &c2, &err), -EEXIST);
  struct stat st;
  assert_int_equal (lstat (plain, &st), 0);
  assert_true (S_ISREG (st.st_mode));
}

static void
test_client_leaves_before_reply (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"hold\"}\n");
  for (int i = 0; i < 200 && f->held == NULL; i++)
    drive (f, 5);
  assert_non_null (f->held);
  client_close (&cl);
  drive (f, 50);
  /* The request is still valid; its answer goes nowhere. */
  assert_int_equal (control_request_uid (f->held), getuid ());
  control_reply_ok (steal_pointer (&f->held), "{\"late\":true}");
  drive (f, 20);

  /* A request still held when the client left is freed by control_close
   * (the teardown), which ASan checks. */
  client_open (&cl, f->path);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"hold\"}\n");
  for (int i = 0; i < 200 && f->held == NULL; i++)
    drive (f, 5);
  assert_non_null (f->held);
  client_close (&cl);
  drive (f, 20);
}

static void
test_close_answers_pending (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"hold\"}\n");
  for (int i = 0; i < 200 && f->held == NULL; i++)
    drive (f, 5);
  assert_non_null (f->held);
  control_close (f->ctl);
  f->ctl = NULL;
  f->held = NULL;
  /* Read without driving: the closed control no longer uses the loop. */
  char chunk[512];
  ssize_t n = recv (cl.fd, chunk, sizeof chunk - 1, 0);
  assert_true (n > 0);
  chunk[n] = '\0';
  json_val tree = NULL, result = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (chunk[n - 1], '\n');
  assert_int_equal (proto_reply_decode (chunk, (size_t) n - 1, &tree, &result, &err), -ECANCELED);
  assert_string_equal (err.msg, "daemon shutting down");
  assert_int_equal (recv (cl.fd, chunk, sizeof chunk, 0), 0);
  client_close (&cl);
  struct stat st;
  assert_int_equal (lstat (f->path, &st), -1);
}

static void
test_idle_timeout (void **state)
{
  struct fixture *f = *state;
  control_set_idle_timeout (f->ctl, 100);
  struct client idle, partial, waiting;
  client_open (&idle, f->path);
  client_open (&partial, f->path);
  client_open (&waiting, f->path);
  client_sends (f, &partial, "{\"v\":1,\"cmd\":");
  client_sends (f, &waiting, "{\"v\":1,\"cmd\":\"hold\"}\n");
  drive (f, 400);
  char *line = NULL;
  assert_int_equal (client_read (f, &idle, 10, &line), 0);
  assert_int_equal (client_read (f, &partial, 10, &line), 0);
  /* Waiting for a deferred answer is not idleness. */
  assert_int_equal (client_read (f, &waiting, 10, &line), -1);
  assert_non_null (f->held);
  control_reply_ok (steal_pointer (&f->held), "1");
  lympho_error_t err = { 0 };
  char *result = NULL;
  assert_int_equal (client_reply (f, &waiting, &result, &err), 0);
  assert_string_equal (result, "1");
  free (result);
  client_close (&idle);
  client_close (&partial);
  client_close (&waiting);
}

static void
test_connection_cap (void **state)
{
  struct fixture *f = *state;
  /* Root's cap is the largest; one past it gets a clear refusal. */
  enum { N = 65 };
  struct client cl[N];
  for (int i = 0; i < N; i++)
    {
      client_open (&cl[i], f->path);
      /* Accept in connect order, so the last one is the one refused. */
      drive (f, 1);
    }
  drive (f, 20);
  lympho_error_t err = { 0 };
  int refused = -1;
  for (int i = 0; i < N; i++)
    {
      char *line = NULL;
      if (client_read (f, &cl[i], 5, &line) == 1)
        {
          json_val tree = NULL, result = NULL;
          assert_int_equal (proto_reply_decode (line, strlen (line), &tree, &result, &err), -EAGAIN);
          assert_non_null (strstr (err.msg, "too many control connections"));
          free (line);
          assert_int_equal (refused, -1);
          refused = i;
        }
    }
  if (getuid () == 0)
    assert_int_equal (refused, N - 1);
  for (int i = 0; i < N; i++)
    client_close (&cl[i]);
  drive (f, 20);
  /* Closed connections free their slots. */
  struct client again;
  client_open (&again, f->path);
  client_sends (f, &again, "{\"v\":1,\"cmd\":\"echo\"}\n");
  assert_int_equal (client_reply (f, &again, NULL, &err), 0);
  client_close (&again);
}

/* In a child: drop to uid/gid 65534 with the given supplementary groups,
 * send one request, and exit 0 when the answer's status is `want` (0 for
 * success). The parent keeps the loop turning. */
static void
run_as_nobody (struct fixture *f, gid_t gid, const gid_t *groups, size_t ngroups, int want,
               const char *want_msg)
{
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (setgroups (ngroups, groups) < 0 || setresgid (gid, gid, gid) < 0 || setresuid (65534, 65534, 65534) < 0)
        _exit (10);
      alarm (10);
      int fd = socket (AF_UNIX, SOCK_STREAM, 0);
      struct sockaddr_un sa = { .sun_family = AF_UNIX };
      strcpy (sa.sun_path, f->path);
      if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
        _exit (11);
      const char *req = "{\"v\":1,\"cmd\":\"echo\"}\n";
      /* A peer that may not act is answered and closed as it connects:
       * the write may find the socket closed, and the reply is there. */
      signal (SIGPIPE, SIG_IGN);
      if (write (fd, req, strlen (req)) != (ssize_t) strlen (req) && (want != EPERM || (errno != EPIPE && errno != ECONNRESET)))
        _exit (12);
      char line[1024];
      size_t len = 0;
      while (len < sizeof line - 1)
        {
          ssize_t n = read (fd, line + len, sizeof line - 1 - len);
          if (n <= 0)
            _exit (13);
          len += (size_t) n;
          if (line[len - 1] == '\n')
            break;
        }
      json_val tree = NULL, result = NULL;
      lympho_error_t err = { 0 };
      int ret = proto_reply_decode (line, len - 1, &tree, &result, &err);
      if (ret != -want)
        {
          fprintf (stderr, "child: got %d (%s), wanted %d\n", ret, err.msg, -want);
          _exit (14);
        }
      if (want_msg && strcmp (err.msg, want_msg) != 0)
        {
          fprintf (stderr, "child: got message `%s`\n", err.msg);
          _exit (15);
        }
      _exit (0);
    }
  int status = 0;
  for (int i = 0; i < 2000; i++)
    {
      drive (f, 5);
      if (waitpid (pid, &status, WNOHANG) == pid)
        break;
    }
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
}

static void
test_unauthorised_peer (void **state)
{
  struct fixture *f = *state;
  if (geteuid () != 0)
    skip ();
  /* The default group most likely does not exist here: only root may act,
   * whatever the nobody user belongs to. */
  control_set_group (f->ctl, "lympho-test-no-such-group");
  run_as_nobody (f, 65534, NULL, 0, EPERM,
                 "permission denied: uid 65534 is neither root nor in group lympho-test-no-such-group");
  assert_int_equal (f->handled, 0);

  /* getgrnam's answer is overwritten by the next call: keep the gids. */
  struct group *gr = getgrnam ("nogroup");
  if (gr == NULL)
    return;
  gid_t nogroup = gr->gr_gid;
  if ((gr = getgrnam ("daemon")) == NULL)
    return;
  gid_t daemon_gid = gr->gr_gid;
  control_set_group (f->ctl, "nogroup");
  /* Allowed by the primary gid. */
  run_as_nobody (f, nogroup, NULL, 0, 0, NULL);
  assert_int_equal (f->handled, 1);
  assert_int_equal (f->last_uid, 65534);
  /* Allowed by a supplementary group, read from /proc. */
  gid_t sup[] = { nogroup };
  run_as_nobody (f, daemon_gid, sup, 1, 0, NULL);
  assert_int_equal (f->handled, 2);
  /* Neither: refused, and the message names the group. */
  run_as_nobody (f, daemon_gid, NULL, 0, EPERM, "permission denied: uid 65534 is neither root nor in group nogroup");
  assert_int_equal (f->handled, 2);
}

/* Reads event lines until none comes for 100 ms: how many, and the
 * "dropped" count said among them. Fails on anything but an event. */
static size_t
client_events (struct fixture *f, struct client *cl, const char *want_name, uint64_t *dropped)
{
  size_t n = 0;
  char *line = NULL;
  while (client_read (f, cl, 100, &line) == 1)
    {
      json_val tree = NULL, ev = NULL;
      lympho_error_t err = { 0 };
      assert_int_equal (proto_event_decode (line, strlen (line), &tree, &ev, &err), 0);
      const char *kind = json_str (json_get (ev, "kind"));
      int64_t count = 0;
      if (kind && strcmp (kind, "dropped") == 0 && json_as_int64 (json_get (ev, "count"), &count))
        *dropped += (uint64_t) count;
      else
        {
          if (want_name)
            assert_string_equal (json_str (json_get (ev, "name")), want_name);
          n++;
        }
      json_free (tree);
      free (steal_pointer (&line));
    }
  return n;
}

/* A stream: answered, then carries the events of its name (or all), reads
 * nothing as a request, is never idle, and ends with its client. */
static void
test_stream (void **state)
{
  struct fixture *f = *state;
  control_set_idle_timeout (f->ctl, 100);
  struct client all, one;
  client_open (&all, f->path);
  client_open (&one, f->path);
  client_sends (f, &all, "{\"v\":1,\"cmd\":\"follow\"}\n");
  client_sends (f, &one, "{\"v\":1,\"cmd\":\"follow\",\"args\":{\"name\":\"x\"}}\n");
  lympho_error_t err = { 0 };
  char *result = NULL;
  assert_int_equal (client_reply (f, &all, &result, &err), 0);
  assert_string_equal (result, "[]");
  free (result);
  assert_int_equal (client_reply (f, &one, NULL, &err), 0);
  assert_int_equal (control_streams (f->ctl), 2);
  /* What a stream's client sends is no request: no answer, nothing handled. */
  unsigned handled = f->handled;
  client_sends (f, &all, "{\"v\":1,\"cmd\":\"echo\"}\n");
  drive (f, 400); /* past the idle timeout */
  assert_int_equal (f->handled, handled);
  control_broadcast (f->ctl, "x", "{\"name\":\"x\",\"kind\":\"regen\"}");
  control_broadcast (f->ctl, "y", "{\"name\":\"y\",\"kind\":\"regen\"}");
  uint64_t dropped = 0;
  assert_int_equal (client_events (f, &all, NULL, &dropped), 2);
  assert_int_equal (client_events (f, &one, "x", &dropped), 1);
  assert_int_equal (dropped, 0);
  client_close (&one);
  drive (f, 50);
  assert_int_equal (control_streams (f->ctl), 1);
  client_close (&all);
  drive (f, 50);
  assert_int_equal (control_streams (f->ctl), 0);
}

/* A reader that does not read: lymphd holds at most CONTROL_MAX_OUT for
 * it, counts what had no room and says it once there is room again;
 * nothing is lost without being counted. */
static void
test_stream_bounded (void **state)
{
  struct fixture *f = *state;
  struct client cl;
  client_open (&cl, f->path);
  client_sends (f, &cl, "{\"v\":1,\"cmd\":\"follow\"}\n");
  lympho_error_t err = { 0 };
  assert_int_equal (client_reply (f, &cl, NULL, &err), 0);
  char ev[300];
  size_t total = 20000; /* about 5 MiB */
  for (size_t i = 0; i < total; i++)
    {
      snprintf (ev, sizeof ev, "{\"name\":\"x\",\"kind\":\"regen\",\"n\":%zu,\"pad\":\"%0200d\"}", i, 0);
      control_broadcast (f->ctl, "x", ev);
      if (i % 64 == 0)
        drive (f, 1); /* the socket fills; the client reads nothing */
    }
  uint64_t dropped = 0;
  size_t got = client_events (f, &cl, "x", &dropped);
  assert_int_equal (dropped, 0); /* said with the next event that has room */
  control_broadcast (f->ctl, "x", "{\"name\":\"x\",\"kind\":\"last\"}");
  got += client_events (f, &cl, "x", &dropped);
  assert_true (dropped > 0);
  assert_int_equal (got + dropped, total + 1);
  client_close (&cl);
}

int
main (void)
{
  /* A client that leaves early must not kill the test with SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_socket_mode, setup, teardown),
    cmocka_unit_test_setup_teardown (test_immediate_and_deferred_in_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed_line, setup, teardown),
    cmocka_unit_test_setup_teardown (test_oversized_line, setup, teardown),
    cmocka_unit_test_setup_teardown (test_output_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown (test_second_open_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stale_socket_replaced, setup, teardown),
    cmocka_unit_test_setup_teardown (test_client_leaves_before_reply, setup, teardown),
    cmocka_unit_test_setup_teardown (test_close_answers_pending, setup, teardown),
    cmocka_unit_test_setup_teardown (test_idle_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown (test_connection_cap, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unauthorised_peer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_bounded, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
