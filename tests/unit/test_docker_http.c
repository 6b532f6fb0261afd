/* The engine client's transport (runtime/docker-http.c) against a scripted
 * peer on a Unix socket of the test's own: what it sends (request line,
 * Host, Connection: close, the body's length), answers framed every way and
 * cut in pieces, streams, and each failure with its errno: no socket, no
 * answer, a malformed one, one past the size cap, a deadline. Callbacks
 * never run inside a dhttp_* call, and a callback may cancel its request or
 * free the whole client (ASan watches both).
 *
 * What the engine itself answers is the integration suite's business
 * (tests/integration/runtime_docker.c, against a real engine); here only
 * the bytes on the wire are scripted. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/loop.h"
#include "lympho/util.h"
#include "runtime/docker-http.h"

enum peer_mode
{
  PEER_ANSWER, /* send the pieces, then close */
  PEER_HOLD,   /* send the pieces, then hold the connection until the client closes it */
  PEER_CLOSE,  /* close at once, no answer */
  PEER_HUGE,   /* a 200 with a length past the cap, its body until the client gives up */
};

struct peer
{
  char path[108];
  int lfd;
  pthread_t thread;
  enum peer_mode mode;
  const char *pieces[64]; /* sent one write each */
  int conns;              /* connections to take, 1 when 0 */
  const char *hold_match; /* a request whose line holds this is never answered */
  struct buf request;     /* what the client sent, head and body */
};

struct fx
{
  struct loop *loop;
  struct dhttp *h;
  struct peer peer;
  /* what the callbacks saw */
  bool done;
  int ret;
  lympho_error_t err;
  long status;
  struct buf body;
  char api_version[40];
  bool opened;
  long open_status;
  struct buf streamed;
  unsigned data_calls;
  bool cancel_on_data;
  bool free_on_done;
  struct dhttp_req *req;
};

/* Reads one request: its head, and as many body bytes as Content-Length. */
static void
peer_read_request (struct peer *p, int fd)
{
  char b[4096];
  size_t want = 0;
  bool head = false;
  for (;;)
    {
      if (head && p->request.len >= want)
        return;
      ssize_t n = read (fd, b, sizeof b);
      if (n <= 0)
        return;
      buf_append (&p->request, b, (size_t) n);
      if (!head)
        {
          const char *end = memmem (p->request.data, p->request.len, "\r\n\r\n", 4);
          if (end == NULL)
            continue;
          head = true;
          want = (size_t) (end + 4 - p->request.data);
          const char *cl = strcasestr (p->request.data, "\r\nContent-Length: ");
          if (cl && cl < end)
            want += strtoul (cl + strlen ("\r\nContent-Length: "), NULL, 10);
        }
    }
}

/* True when the request is held unanswered (the connection kept open). */
static bool
peer_serve (struct peer *p, int fd)
{
  if (p->mode == PEER_CLOSE)
    return false;
  size_t from = p->request.len;
  peer_read_request (p, fd);
  if (p->hold_match && p->request.len > from)
    {
      const char *eol = memchr (p->request.data + from, '\n', p->request.len - from);
      cleanup_free char *line = xstrndup (p->request.data + from, eol ? (size_t) (eol - (p->request.data + from)) : 0);
      if (strstr (line, p->hold_match))
        return true;
    }
  for (size_t i = 0; i < 64 && p->pieces[i]; i++)
    {
      if (send (fd, p->pieces[i], strlen (p->pieces[i]), MSG_NOSIGNAL) < 0)
        break;
      usleep (2000); /* each piece its own read on the other side, mostly */
    }
  if (p->mode == PEER_HUGE)
    {
      static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1099511627775\r\n\r\n";
      static char zeros[1 << 16];
      if (send (fd, head, sizeof head - 1, MSG_NOSIGNAL) > 0)
        while (send (fd, zeros, sizeof zeros, MSG_NOSIGNAL) > 0)
          ;
    }
  if (p->mode == PEER_HOLD)
    {
      char b[64];
      while (read (fd, b, sizeof b) > 0)
        ;
    }
  return false;
}

static void *
peer_run (void *ud)
{
  struct peer *p = ud;
  int held[8], n_held = 0;
  for (int c = 0; c < (p->conns ? p->conns : 1) && c < 8; c++)
    {
      int fd = accept4 (p->lfd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
        break;
      if (peer_serve (p, fd))
        held[n_held++] = fd; /* closed at the end: a held request stays unanswered */
      else
        close (fd);
    }
  for (int i = 0; i < n_held; i++)
    close (held[i]);
  return NULL;
}

static void
peer_start (struct fx *f)
{
  struct peer *p = &f->peer;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (p->path, sizeof p->path, "/tmp/lympho-dhttp-%d.sock", (int) getpid ());
  unlink (p->path);
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", p->path);
  p->lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true (p->lfd >= 0);
  assert_int_equal (bind (p->lfd, (struct sockaddr *) &sa, sizeof sa), 0);
  assert_int_equal (listen (p->lfd, 4), 0);
  assert_int_equal (pthread_create (&p->thread, NULL, peer_run, p), 0);
  lympho_error_t err = { 0 };
  cleanup_free char *ep = xasprintf ("unix://%s", p->path);
  assert_int_equal (dhttp_new (f->loop, ep, &f->h, &err), 0);
}

static int
setup (void **state)
{
  struct fx *f = xmalloc0 (sizeof *f);
  lympho_error_t err = { 0 };
  if (loop_new (&f->loop, &err) < 0)
    return -1;
  buf_init (&f->body);
  buf_init (&f->streamed);
  buf_init (&f->peer.request);
  f->peer.lfd = -1;
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fx *f = *state;
  dhttp_free (f->h);
  if (f->peer.lfd >= 0)
    {
      /* A peer still waiting for its connection is let go. */
      shutdown (f->peer.lfd, SHUT_RDWR);
      pthread_join (f->peer.thread, NULL);
      close (f->peer.lfd);
      unlink (f->peer.path);
    }
  loop_free (f->loop);
  buf_free (&f->body);
  buf_free (&f->streamed);
  buf_free (&f->peer.request);
  free (f);
  return 0;
}

static void
on_done (void *ud, int ret, const lympho_error_t *err, long status, const char *body, size_t len)
{
  struct fx *f = ud;
  assert_false (f->done); /* at most once */
  f->done = true;
  f->ret = ret;
  if (err)
    f->err = *err;
  f->status = status;
  assert_non_null (body);
  assert_int_equal (body[len], '\0');
  buf_append (&f->body, body, len);
  if (f->free_on_done)
    {
      dhttp_free (f->h);
      f->h = NULL;
    }
}

static void
on_ping (void *ud, int ret, const lympho_error_t *err, long status, const char *api_version, const char *body,
         size_t len)
{
  struct fx *f = ud;
  snprintf (f->api_version, sizeof f->api_version, "%s", api_version ? api_version : "(none)");
  on_done (ud, ret, err, status, body, len);
}

static void
on_open (void *ud, long status)
{
  struct fx *f = ud;
  assert_false (f->opened);
  f->opened = true;
  f->open_status = status;
}

static void
on_data (void *ud, const char *data, size_t len)
{
  struct fx *f = ud;
  assert_true (f->opened);
  f->data_calls++;
  buf_append (&f->streamed, data, len);
  if (f->cancel_on_data)
    {
      dhttp_cancel (f->req);
      f->req = NULL;
      f->done = true; /* what the test waits for: nothing more comes */
    }
}

static void
run_until_done (struct fx *f)
{
  lympho_error_t err = { 0 };
  for (int i = 0; i < 20000 && !f->done; i++)
    assert_int_equal (loop_run_once (f->loop, 100, &err), 0);
  assert_true (f->done);
}

static void
test_length_answer_and_request (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n";
  f->peer.pieces[1] = "{\"Id\":\"abc123\"}";
  peer_start (f);
  dhttp_set_api_version (f->h, "1.44");
  f->req = dhttp_request (f->h, "POST", "/containers/create?name=x", "{\"Image\":\"busybox\"}", 5000, on_done, f);
  assert_false (f->done); /* never from inside the call */
  run_until_done (f);
  assert_int_equal (f->ret, 0);
  assert_int_equal (f->status, 201);
  assert_string_equal (f->body.data, "{\"Id\":\"abc123\"}");
  const char *rq = f->peer.request.data;
  assert_non_null (rq);
  assert_true (str_has_prefix (rq, "POST /v1.44/containers/create?name=x HTTP/1.1\r\n"));
  assert_non_null (strstr (rq, "\r\nHost: localhost\r\n"));
  assert_non_null (strstr (rq, "\r\nConnection: close\r\n"));
  assert_non_null (strstr (rq, "\r\nContent-Type: application/json\r\n"));
  assert_non_null (strstr (rq, "\r\nContent-Length: 19\r\n\r\n{\"Image\":\"busybox\"}"));
}

static void
test_chunked_in_pieces (void **state)
{
  struct fx *f = *state;
  const char *p[] = { "HTTP/1.1 200 OK\r\nTransfer-Enc", "oding: chunked\r\n\r\n5\r\nhel", "lo\r\n", "1;x=y\r", "\n,",
                      "\r\n6\r\n world\r\n0\r\n", "\r\n" };
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    f->peer.pieces[i] = p[i];
  peer_start (f);
  f->req = dhttp_request (f->h, "GET", "/containers/json?all=1", NULL, 5000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, 0);
  assert_int_equal (f->status, 200);
  assert_string_equal (f->body.data, "hello, world");
  /* A GET carries no body and says no length; no version prefix unset. */
  assert_true (str_has_prefix (f->peer.request.data, "GET /containers/json?all=1 HTTP/1.1\r\n"));
  assert_null (strstr (f->peer.request.data, "Content-Length"));
}

static void
test_close_framed_and_ping (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.0 200 OK\r\nApi-Version:  1.51 \r\nServer: Docker/28.5.2 (linux)\r\n\r\nO";
  f->peer.pieces[1] = "K";
  peer_start (f);
  dhttp_set_api_version (f->h, "1.44"); /* a ping goes below no version */
  f->req = dhttp_ping (f->h, 5000, on_ping, f);
  run_until_done (f);
  assert_int_equal (f->ret, 0);
  assert_int_equal (f->status, 200);
  assert_string_equal (f->body.data, "OK");
  assert_string_equal (f->api_version, "1.51");
  assert_true (str_has_prefix (f->peer.request.data, "GET /_ping HTTP/1.1\r\n"));
}

static void
test_error_status_is_an_answer (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 29\r\n\r\n"
                      "{\"message\":\"No such thing\"}\r\n";
  peer_start (f);
  f->req = dhttp_request (f->h, "DELETE", "/containers/x?force=1", NULL, 5000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, 0);
  assert_int_equal (f->status, 404);
  lympho_error_t err = { 0 };
  assert_int_equal (dhttp_status_error (f->status, f->body.data, f->body.len, EEXIST, &err), -ENOENT);
  assert_non_null (strstr (err.msg, "No such thing"));
}

static void
test_stream (void **state)
{
  struct fx *f = *state;
  f->peer.mode = PEER_ANSWER;
  f->peer.pieces[0] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  f->peer.pieces[1] = "6\r\n{\"a\":1\r\n";
  f->peer.pieces[2] = "2\r\n}\n\r\n";
  f->peer.pieces[3] = "8\r\n{\"b\":2}\n\r\n";
  peer_start (f);
  f->req = dhttp_stream (f->h, "/events", on_open, on_data, on_done, f);
  run_until_done (f);
  assert_true (f->opened);
  assert_int_equal (f->open_status, 200);
  assert_string_equal (f->streamed.data, "{\"a\":1}\n{\"b\":2}\n");
  /* The engine went away mid-stream: always a failure. */
  assert_int_equal (f->ret, -EIO);
  assert_non_null (strstr (f->err.msg, "stream ended"));
}

static void
test_stream_refused (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 20\r\n\r\n{\"message\":\"bad\"}   ";
  peer_start (f);
  f->req = dhttp_stream (f->h, "/events?filters=x", on_open, on_data, on_done, f);
  run_until_done (f);
  assert_true (f->opened);
  assert_int_equal (f->open_status, 400);
  assert_int_equal (f->data_calls, 0);
  assert_int_equal (f->ret, 0); /* the caller maps the status */
  assert_int_equal (f->status, 400);
  assert_string_equal (f->body.data, "{\"message\":\"bad\"}   ");
}

static void
test_cancel_from_data (void **state)
{
  struct fx *f = *state;
  f->peer.mode = PEER_HOLD;
  f->peer.pieces[0] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n";
  f->peer.pieces[1] = "3\r\ntwo\r\n";
  f->cancel_on_data = true;
  peer_start (f);
  f->req = dhttp_stream (f->h, "/events", on_open, on_data, on_done, f);
  run_until_done (f);
  assert_int_equal (f->data_calls, 1);
  /* Nothing more is delivered for a cancelled stream. */
  lympho_error_t err = { 0 };
  for (int i = 0; i < 5; i++)
    assert_int_equal (loop_run_once (f->loop, 5, &err), 0);
  assert_int_equal (f->data_calls, 1);
}

static void
test_free_from_done (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 204 No Content\r\n\r\n";
  f->peer.conns = 2;
  f->peer.hold_match = " /info ";
  f->free_on_done = true;
  peer_start (f);
  f->req = dhttp_request (f->h, "POST", "/containers/x/start", NULL, 5000, on_done, f);
  /* A second request, pending when the client is freed: never called. */
  struct fx other = { 0 };
  buf_init (&other.body);
  dhttp_request (f->h, "GET", "/info", NULL, 5000, on_done, &other);
  run_until_done (f);
  assert_int_equal (f->ret, 0);
  assert_int_equal (f->status, 204);
  assert_null (f->h);
  assert_false (other.done);
  assert_non_null (strstr (f->peer.request.data, "\r\nContent-Length: 0\r\n"));
}

static void
test_no_socket (void **state)
{
  struct fx *f = *state;
  lympho_error_t err = { 0 };
  cleanup_free char *ep = xasprintf ("unix:///tmp/lympho-dhttp-none-%d.sock", (int) getpid ());
  assert_int_equal (dhttp_new (f->loop, ep, &f->h, &err), 0);
  f->req = dhttp_request (f->h, "GET", "/info", NULL, 5000, on_done, f);
  assert_false (f->done);
  run_until_done (f);
  assert_int_equal (f->ret, -ECONNREFUSED);
  assert_non_null (strstr (f->err.msg, "no socket there"));
}

static void
test_closed_without_answer (void **state)
{
  struct fx *f = *state;
  f->peer.mode = PEER_CLOSE;
  peer_start (f);
  f->req = dhttp_request (f->h, "POST", "/containers/create", "{}", 5000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, -EIO);
  assert_int_equal (f->status, 0);
}

static void
test_malformed (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nOK";
  peer_start (f);
  f->req = dhttp_request (f->h, "GET", "/info", NULL, 5000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, -EIO);
  assert_non_null (strstr (f->err.msg, "malformed answer"));
}

static void
test_cut_short (void **state)
{
  struct fx *f = *state;
  f->peer.pieces[0] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
  peer_start (f);
  f->req = dhttp_request (f->h, "GET", "/info", NULL, 5000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, -EIO);
}

static void
test_too_big (void **state)
{
  struct fx *f = *state;
  f->peer.mode = PEER_HUGE;
  peer_start (f);
  f->req = dhttp_request (f->h, "GET", "/containers/x/changes", NULL, 60000, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, -EFBIG);
}

static void
test_deadline (void **state)
{
  struct fx *f = *state;
  f->peer.mode = PEER_HOLD;
  peer_start (f);
  f->req = dhttp_request (f->h, "POST", "/containers/x/start", NULL, 50, on_done, f);
  run_until_done (f);
  assert_int_equal (f->ret, -ETIMEDOUT);
  assert_non_null (strstr (f->err.msg, "no answer"));
}

static void
test_bad_path_and_endpoints (void **state)
{
  struct fx *f = *state;
  peer_start (f);
  f->req = dhttp_request (f->h, "GET", "/containers/a b/json", NULL, 5000, on_done, f);
  assert_false (f->done);
  run_until_done (f);
  assert_int_equal (f->ret, -EINVAL);
  lympho_error_t err = { 0 };
  struct dhttp *h = NULL;
  assert_int_equal (dhttp_new (f->loop, "unix://relative.sock", &h, &err), -EINVAL);
  assert_int_equal (dhttp_new (f->loop, "ssh://host", &h, &err), -EINVAL);
  assert_int_equal (dhttp_new (f->loop, "tcp://", &h, &err), -EINVAL);
  assert_int_equal (dhttp_new (f->loop, "tcp://127.0.0.1:2375", &h, &err), 0);
  dhttp_free (h);
  assert_int_equal (dhttp_new (f->loop, "tcp://[::1]", &h, &err), 0);
  dhttp_free (h);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_length_answer_and_request, setup, teardown),
    cmocka_unit_test_setup_teardown (test_chunked_in_pieces, setup, teardown),
    cmocka_unit_test_setup_teardown (test_close_framed_and_ping, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_status_is_an_answer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cancel_from_data, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_from_done, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_socket, setup, teardown),
    cmocka_unit_test_setup_teardown (test_closed_without_answer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cut_short, setup, teardown),
    cmocka_unit_test_setup_teardown (test_too_big, setup, teardown),
    cmocka_unit_test_setup_teardown (test_deadline, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bad_path_and_endpoints, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
