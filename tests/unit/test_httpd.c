/* Unit tests: the HTTP listener on a real loop and a real socket
 * (127.0.0.1, a free port). The loop runs in the main thread as in lymphd;
 * a client thread speaks HTTP with libcurl and records the answers, which
 * the main thread checks once the client is done. */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lympho/alerts.h"
#include "lympho/httpd.h"
#include "lympho/loop.h"
#include "lympho/util.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- what the daemon side saw ---- */

struct seen
{
  int n_known, n_alerts;
  struct alert alerts[8];
  bool healthy;
  int alert_ret;
};
static struct seen seen;

static bool
cb_known (void *ud, const char *c)
{
  (void) ud;
  seen.n_known++;
  return strcmp (c, "web-1") == 0 || strcmp (c, "api-2") == 0 || strcmp (c, "3ad7b26ded6d") == 0;
}

static int
cb_alert (void *ud, const struct alert *a, lympho_error_t *err)
{
  (void) ud;
  if (seen.alert_ret < 0)
    return lympho_error_set (err, -seen.alert_ret, "engine said no");
  if (seen.n_alerts < 8)
    {
      struct alert *c = &seen.alerts[seen.n_alerts];
      c->source = a->source;
      c->severity = a->severity;
      c->container = xstrdup (a->container);
      c->reason = xstrdup (a->reason);
      c->rule = xstrdup (a->rule);
      c->program = xstrdup (a->program);
      c->path = xstrdup (a->path);
      c->fingerprint = xstrdup (a->fingerprint);
    }
  seen.n_alerts++;
  return 0;
}

static char *
cb_metrics (void *ud)
{
  (void) ud;
  return xstrdup ("# TYPE lympho_protected_containers gauge\nlympho_protected_containers 2\n");
}

static char *
cb_unhealthy (void *ud)
{
  (void) ud;
  return seen.healthy ? NULL : xstrdup ("engine unreachable: permission denied on the engine's socket");
}

static const struct httpd_callbacks callbacks = {
  .alert = cb_alert, .known = cb_known, .metrics = cb_metrics, .unhealthy = cb_unhealthy,
};

static void
seen_reset (void)
{
  struct alert_list l = { .n = (size_t) (seen.n_alerts < 8 ? seen.n_alerts : 8), .v = NULL };
  for (size_t i = 0; i < l.n; i++)
    {
      free (seen.alerts[i].container);
      free (seen.alerts[i].reason);
      free (seen.alerts[i].rule);
      free (seen.alerts[i].program);
      free (seen.alerts[i].path);
      free (seen.alerts[i].fingerprint);
    }
  memset (&seen, 0, sizeof seen);
  seen.healthy = true;
}

/* ---- client side ---- */

struct call
{
  const char *method, *path, *auth;
  const char *body; /* NULL: no body */
  size_t body_len;  /* 0: strlen (body) */
  bool chunked;
  /* results */
  long code;
  struct buf resp;
  char ctype[128], www_auth[128], allow[64];
};

struct client
{
  int port;
  struct call *calls;
  size_t n;
  int efd;
  int slow_fd; /* a half-sent request kept open during the calls */
};

static size_t
on_body (char *p, size_t size, size_t n, void *ud)
{
  buf_append (ud, p, size * n);
  return size * n;
}

static void
keep_header (const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
  size_t nl = strlen (name);
  if (len <= nl || strncasecmp (line, name, nl) != 0)
    return;
  line += nl;
  len -= nl;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    len--;
  snprintf (dst, dstlen, "%.*s", (int) len, line);
}

static size_t
on_header (char *p, size_t size, size_t n, void *ud)
{
  struct call *c = ud;
  keep_header (p, size * n, "Content-Type: ", c->ctype, sizeof c->ctype);
  keep_header (p, size * n, "WWW-Authenticate: ", c->www_auth, sizeof c->www_auth);
  keep_header (p, size * n, "Allow: ", c->allow, sizeof c->allow);
  return size * n;
}

struct reader
{
  const char *p;
  size_t left;
};

static size_t
on_read (char *dst, size_t size, size_t n, void *ud)
{
  struct reader *r = ud;
  size_t k = size * n < r->left ? size * n : r->left;
  if (k > 4096) /* many small chunks */
    k = 4096;
  memcpy (dst, r->p, k);
  r->p += k;
  r->left -= k;
  return k;
}

static void
do_call (int port, struct call *c)
{
  CURL *e = curl_easy_init ();
  char url[128];
  snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, c->path);
  buf_init (&c->resp);
  curl_easy_setopt (e, CURLOPT_URL, url);
  curl_easy_setopt (e, CURLOPT_CUSTOMREQUEST, c->method);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, &c->resp);
  curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (e, CURLOPT_HEADERDATA, c);
  curl_easy_setopt (e, CURLOPT_TIMEOUT, 10L);
  struct curl_slist *h = NULL;
  char auth[512];
  if (c->auth)
    {
      snprintf (auth, sizeof auth, "Authorization: %s", c->auth);
      h = curl_slist_append (h, auth);
    }
  struct reader rd = { 0 };
  if (c->body && c->chunked)
    {
      rd.p = c->body;
      rd.left = c->body_len ? c->body_len : strlen (c->body);
      h = curl_slist_append (h, "Transfer-Encoding: chunked");
      curl_easy_setopt (e, CURLOPT_POST, 1L);
      curl_easy_setopt (e, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt (e, CURLOPT_READDATA, &rd);
    }
  else if (c->body)
    {
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, c->body);
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (c->body_len ? c->body_len : strlen (c->body)));
    }
  if (strcmp (c->method, "HEAD") == 0)
    curl_easy_setopt (e, CURLOPT_NOBODY, 1L);
  curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
  CURLcode rc = curl_easy_perform (e);
  if (rc == CURLE_OK)
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &c->code);
  else
    c->code = -(long) rc;
  curl_slist_free_all (h);
  curl_easy_cleanup (e);
}

static void *
client_main (void *ud)
{
  struct client *cl = ud;
  for (size_t i = 0; i < cl->n; i++)
    do_call (cl->port, &cl->calls[i]);
  uint64_t one = 1;
  if (write (cl->efd, &one, sizeof one) < 0)
    abort ();
  return NULL;
}

static void
on_client_done (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) events;
  (void) ud;
  uint64_t v;
  if (read (fd, &v, sizeof v) < 0)
    abort ();
  loop_stop (l);
}

static bool timed_out;

static void
on_deadline (struct loop *l, void *ud)
{
  (void) ud;
  timed_out = true;
  loop_stop (l);
}

/* Open a listener, run the calls against it from a thread while the loop
 * runs here, then close it. */
static void
run_calls (struct call *calls, size_t n, bool slowloris)
{
  lympho_error_t err = { 0 };
  struct loop *loop;
  assert_int_equal (loop_new (&loop, &err), 0);
  struct httpd *h;
  if (httpd_open (loop, (const char *[]) { "127.0.0.1:0" }, 1, TOKEN, &callbacks, &h, &err) < 0)
    fail_msg ("httpd_open: %s", err.msg);
  assert_non_null (h);

  struct client cl = { .port = httpd_port (h), .calls = calls, .n = n, .slow_fd = -1 };
  assert_true (cl.port > 0);
  cl.efd = eventfd (0, EFD_CLOEXEC);
  assert_true (cl.efd >= 0);
  assert_int_equal (loop_add_fd (loop, cl.efd, EPOLLIN, on_client_done, NULL, &err), 0);

  if (slowloris)
    {
      /* Half a request that never ends: the loop must keep serving. */
      cl.slow_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) cl.port) };
      sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      assert_int_equal (connect (cl.slow_fd, (struct sockaddr *) &sa, sizeof sa), 0);
      static const char part[] = "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Le";
      assert_int_equal (write (cl.slow_fd, part, sizeof part - 1), (ssize_t) sizeof part - 1);
    }

  timed_out = false;
  uint64_t deadline = loop_add_timer (loop, 30000, on_deadline, NULL);
  pthread_t th;
  assert_int_equal (pthread_create (&th, NULL, client_main, &cl), 0);
  assert_int_equal (loop_run (loop, &err), 0);
  pthread_join (th, NULL);
  assert_false (timed_out);

  loop_cancel_timer (loop, deadline);
  loop_del_fd (loop, cl.efd);
  close (cl.efd);
  if (cl.slow_fd >= 0)
    close (cl.slow_fd);
  httpd_close (h);
  loop_free (loop);
}

/* ---- a client trickling one byte at a time ---- */

struct trickle
{
  int fd;
  uint64_t t0, closed_ms;
  uint64_t timer;
  unsigned sent;
};

static void
on_trickle (struct loop *l, void *ud)
{
  struct trickle *t = ud;
  /* One byte of a header line that never ends: never idle long. */
  if (send (t->fd, "a", 1, MSG_NOSIGNAL) == 1)
    t->sent++;
  t->timer = loop_add_timer (l, 100, on_trickle, t);
}

static void
on_trickle_readable (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) events;
  struct trickle *t = ud;
  char buf[512];
  ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0 || (n < 0 && errno == EAGAIN))
    return;
  t->closed_ms = now_mono_ms () - t->t0;
  loop_stop (l);
}

/* A byte every 100 ms keeps a connection from ever being idle: before, it
 * held its slot for as long as it liked (and 64 of them every slot). The
 * request deadline cuts it. */
static void
test_trickle_cut (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct loop *loop;
  assert_int_equal (loop_new (&loop, &err), 0);
  struct httpd *h;
  if (httpd_open (loop, (const char *[]) { "127.0.0.1:0" }, 1, TOKEN, &callbacks, &h, &err) < 0)
    fail_msg ("httpd_open: %s", err.msg);
  httpd_set_request_deadline (h, 400);
  struct trickle t = { .fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) httpd_port (h)) };
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  assert_int_equal (connect (t.fd, (struct sockaddr *) &sa, sizeof sa), 0);
  static const char part[] = "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  assert_int_equal (send (t.fd, part, sizeof part - 1, MSG_NOSIGNAL), (ssize_t) sizeof part - 1);
  t.t0 = now_mono_ms ();
  assert_int_equal (loop_add_fd (loop, t.fd, EPOLLIN | EPOLLRDHUP, on_trickle_readable, &t, &err), 0);
  t.timer = loop_add_timer (loop, 100, on_trickle, &t);
  timed_out = false;
  uint64_t deadline = loop_add_timer (loop, 5000, on_deadline, NULL);
  assert_int_equal (loop_run (loop, &err), 0);
  assert_false (timed_out);
  assert_true (t.closed_ms >= 400);
  assert_true (t.closed_ms < 3000);
  assert_true (t.sent >= 2);
  loop_cancel_timer (loop, deadline);
  loop_cancel_timer (loop, t.timer);
  loop_del_fd (loop, t.fd);
  close (t.fd);
  httpd_close (h);
  loop_free (loop);
}

/* ---- one raw request, answered while the loop runs here ---- */

struct raw
{
  int fd;
  struct buf in;
  bool done;
};

static void
on_raw_readable (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) events;
  struct raw *r = ud;
  char buf[4096];
  ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0)
    buf_append (&r->in, buf, (size_t) n);
  (void) l;
  if (n == 0 || (n < 0 && errno != EAGAIN) || (r->in.len && memmem (r->in.data, r->in.len, "\r\n\r\n", 4)))
    r->done = true;
}

/* The status code of TEXT sent as it is to the listener at sa. */
static int
raw_status_at (struct loop *loop, const struct sockaddr *sa, socklen_t salen, const char *text)
{
  lympho_error_t err = { 0 };
  struct raw r = { .fd = socket (sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0) };
  buf_init (&r.in);
  assert_int_equal (connect (r.fd, sa, salen), 0);
  assert_int_equal (send (r.fd, text, strlen (text), MSG_NOSIGNAL), (ssize_t) strlen (text));
  assert_int_equal (loop_add_fd (loop, r.fd, EPOLLIN | EPOLLRDHUP, on_raw_readable, &r, &err), 0);
  /* Turns of the loop, not loop_run: loop_stop would outlast this call. */
  uint64_t end = now_mono_ms () + 5000;
  while (!r.done && now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 10, &err), 0);
  assert_true (r.done);
  loop_del_fd (loop, r.fd);
  close (r.fd);
  int code = 0;
  if (r.in.len > 12)
    sscanf (r.in.data, "HTTP/1.%*c %d", &code);
  buf_free (&r.in);
  return code;
}

/* The same to h's TCP port on 127.0.0.1. */
static int
raw_status (struct loop *loop, struct httpd *h, const char *text)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) httpd_port (h)) };
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return raw_status_at (loop, (struct sockaddr *) &sa, sizeof sa, text);
}

/* The same to the Unix socket at path. */
static int
raw_status_unix (struct loop *loop, const char *path, const char *text)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  return raw_status_at (loop, (struct sockaddr *) &sa, sizeof sa, text);
}

/* A listener on 127.0.0.1 with a loop of its own, nothing seen yet. */
static struct httpd *
listener_open (struct loop **loop)
{
  lympho_error_t err = { 0 };
  assert_int_equal (loop_new (loop, &err), 0);
  struct httpd *h;
  if (httpd_open (*loop, (const char *[]) { "127.0.0.1:0" }, 1, TOKEN, &callbacks, &h, &err) < 0)
    fail_msg ("httpd_open: %s", err.msg);
  seen_reset ();
  return h;
}

/* A loopback listener answers only requests for a loopback Host: a page
 * of another site rebound to 127.0.0.1 (DNS rebinding) sends its own. */
static void
test_host_checked (void **state)
{
  (void) state;
  struct loop *loop;
  struct httpd *h = listener_open (&loop);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n"), 403);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1.evil.example\r\n\r\n"), 403);
  assert_int_equal (raw_status (loop, h, "POST /v1/alerts HTTP/1.1\r\nHost: evil.example\r\n"
                                         "Authorization: Bearer " TOKEN "\r\nContent-Length: 2\r\n\r\n{}"),
                    403);
  assert_int_equal (seen.n_alerts, 0);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"), 200);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n"), 200);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: [::1]:9\r\n\r\n"), 200);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
  httpd_close (h);
  loop_free (loop);
}

/* /metrics names containers and their threat levels: anonymous on a
 * loopback listener by default, else (and with metrics-token = yes) only
 * with the bearer token. */
static void
test_metrics_token (void **state)
{
  (void) state;
  struct loop *loop;
  struct httpd *h = listener_open (&loop);
  const char *anon = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const char *with = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
  const char *wrong = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\n\r\n";
  assert_int_equal (raw_status (loop, h, anon), 200);
  httpd_set_metrics_token (h, 1);
  assert_int_equal (raw_status (loop, h, anon), 401);
  assert_int_equal (raw_status (loop, h, wrong), 401);
  assert_int_equal (raw_status (loop, h, with), 200);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
  httpd_set_metrics_token (h, -1); /* by the address: loopback */
  assert_int_equal (raw_status (loop, h, anon), 200);
  httpd_close (h);
  loop_free (loop);
}

static void
calls_free (struct call *calls, size_t n)
{
  for (size_t i = 0; i < n; i++)
    buf_free (&calls[i].resp);
}

static char *
load (const char *name)
{
  lympho_error_t err = { 0 };
  cleanup_free char *path = xasprintf ("%s/%s", TEST_DATA_DIR, name);
  char *data = NULL;
  if (read_file (path, 1 << 20, &data, NULL, &err) < 0)
    fail_msg ("%s", err.msg);
  return data;
}

#define BEARER "Bearer " TOKEN
#define N(a) (sizeof (a) / sizeof (a)[0])

static void
expect (const struct call *c, long code, const char *body_part)
{
  if (c->code != code)
    fail_msg ("%s %s: %ld, want %ld (%s)", c->method, c->path, c->code, code, c->resp.data ? c->resp.data : "");
  if (body_part && (c->resp.data == NULL || strstr (c->resp.data, body_part) == NULL))
    fail_msg ("%s %s: answer `%s` lacks `%s`", c->method, c->path, c->resp.data ? c->resp.data : "", body_part);
}

static void
expect_one_line (const struct call *c)
{
  assert_non_null (c->resp.data);
  assert_true (c->resp.len > 1);
  assert_int_equal (c->resp.data[c->resp.len - 1], '\n');
  assert_null (memchr (c->resp.data, '\n', c->resp.len - 1));
  assert_true (str_has_prefix (c->ctype, "text/plain"));
}

/* ---- tests ---- */

static void
test_auth (void **state)
{
  (void) state;
  seen_reset ();
  static const char *body = "{\"container\":\"web-1\",\"severity\":9}";
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts", .body = body },
    { .method = "POST", .path = "/v1/alerts", .body = body, .auth = "Bearer wrong" },
    { .method = "POST", .path = "/v1/alerts", .body = body, .auth = "Bearer " TOKEN "0" },
    { .method = "POST", .path = "/v1/alerts", .body = body, .auth = "Bearer 0123456789abcdef" },
    { .method = "POST", .path = "/v1/alerts/falco", .body = body, .auth = "Basic " TOKEN },
    { .method = "POST", .path = "/v1/alerts/alertmanager", .body = body, .auth = TOKEN },
    { .method = "POST", .path = "/v1/alerts", .body = body, .auth = "Bearer " },
    /* The scheme is case-insensitive; this one passes. */
    { .method = "POST", .path = "/v1/alerts", .body = body, .auth = "bearer " TOKEN },
  };
  run_calls (calls, N (calls), false);
  for (size_t i = 0; i + 1 < N (calls); i++)
    {
      expect (&calls[i], 401, "bearer token");
      assert_string_equal (calls[i].www_auth, "Bearer realm=\"lympho\"");
      expect_one_line (&calls[i]);
    }
  expect (&calls[N (calls) - 1], 202, "\"accepted\":1");
  /* Only the authorized request reached the daemon side. */
  assert_int_equal (seen.n_alerts, 1);
  assert_int_equal (seen.n_known, 1);
  calls_free (calls, N (calls));
  seen_reset ();
}

static void
test_malformed (void **state)
{
  (void) state;
  seen_reset ();
  cleanup_free char *resolved = load ("alertmanager-resolved.json");
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = "{" },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = "{\"container\":\"web-1\",\"severity\":\"high\"}" },
    /* A newline in a client's key must not split the one-line answer. */
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = "{\"a\\nb\":1}" },
    { .method = "POST", .path = "/v1/alerts/alertmanager", .auth = BEARER, .body = "{\"version\":\"3\"}" },
    { .method = "POST", .path = "/v1/alerts/falco", .auth = BEARER, .body = "Notice A shell was spawned" },
    /* Well-formed for the wrong route. */
    { .method = "POST", .path = "/v1/alerts/falco", .auth = BEARER, .body = resolved },
  };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 400, "malformed JSON");
  expect (&calls[1], 400, "malformed JSON");
  expect (&calls[2], 400, "`severity` must be an integer");
  expect (&calls[3], 400, "unknown key `a?b`");
  expect (&calls[4], 400, "want 4");
  expect (&calls[5], 400, "json_output: true");
  expect (&calls[6], 400, "`rule` is missing");
  for (size_t i = 0; i < N (calls); i++)
    expect_one_line (&calls[i]);
  assert_int_equal (seen.n_alerts, 0);
  assert_int_equal (seen.n_known, 0);
  calls_free (calls, N (calls));
}

static void
test_too_large (void **state)
{
  (void) state;
  seen_reset ();
  size_t cap = 1024 * 1024;
  /* Valid JSON padded with spaces to exactly the cap, and one byte more. */
  cleanup_free char *big = xmalloc (cap + 2);
  static const char doc[] = "{\"container\":\"web-1\",\"severity\":1}";
  memset (big, ' ', cap + 1);
  memcpy (big, doc, sizeof doc - 1);
  big[cap + 1] = '\0';
  cleanup_free char *huge = xmalloc (6 * cap + 1);
  memset (huge, ' ', 6 * cap);
  huge[6 * cap] = '\0';
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = big, .body_len = cap + 1 },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = huge, .body_len = 4 * cap },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = big, .body_len = cap + 1, .chunked = true },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = big, .body_len = cap },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = big, .body_len = cap, .chunked = true },
    /* A chunked body far past the cap (4 MiB read on): the connection is cut. */
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = huge, .body_len = 6 * cap, .chunked = true },
  };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 413, "larger than 1048576");
  expect (&calls[1], 413, "larger than 1048576");
  expect (&calls[2], 413, "larger than 1048576");
  expect (&calls[3], 202, "\"accepted\":1");
  expect (&calls[4], 202, "\"accepted\":1");
  /* Nothing is queued on that path: curl sees the cut (send error or
   * empty reply), never an answer. */
  if (calls[5].code >= 0)
    fail_msg ("endless chunked body: answered %ld, want a cut connection", calls[5].code);
  assert_int_equal (seen.n_alerts, 2);
  calls_free (calls, N (calls));
  seen_reset ();
}

static void
test_unknown_container (void **state)
{
  (void) state;
  seen_reset ();
  /* api-1 is unknown, api-2 known: nothing of the payload is applied. */
  cleanup_free char *grouped = load ("alertmanager-grouped.json");
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts/alertmanager", .auth = BEARER, .body = grouped },
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = "{\"container\":\"nosuch\",\"severity\":3}" },
  };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 404, "unknown container `api-1`");
  expect (&calls[1], 404, "unknown container `nosuch`");
  expect_one_line (&calls[0]);
  assert_int_equal (seen.n_alerts, 0);
  assert_true (seen.n_known >= 2);
  calls_free (calls, N (calls));
}

static void
test_accepted (void **state)
{
  (void) state;
  seen_reset ();
  cleanup_free char *am = load ("alertmanager-firing.json");
  cleanup_free char *resolved = load ("alertmanager-resolved.json");
  cleanup_free char *falco = load ("falco-shell.json");
  cleanup_free char *host = load ("falco-host.json");
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER,
      .body = "{\"container\":\"web-1\",\"severity\":5,\"reason\":\"canary\"}" },
    { .method = "POST", .path = "/v1/alerts/alertmanager", .auth = BEARER, .body = am },
    { .method = "POST", .path = "/v1/alerts/falco", .auth = BEARER, .body = falco },
    { .method = "POST", .path = "/v1/alerts/alertmanager", .auth = BEARER, .body = resolved },
    { .method = "POST", .path = "/v1/alerts/falco", .auth = BEARER, .body = host },
  };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 202, "{\"accepted\":1,\"ignored\":0}");
  assert_string_equal (calls[0].ctype, "application/json");
  expect (&calls[1], 202, "{\"accepted\":1,\"ignored\":0}");
  expect (&calls[2], 202, "{\"accepted\":1,\"ignored\":0}");
  expect (&calls[3], 202, "{\"accepted\":0,\"ignored\":1}");
  expect (&calls[4], 202, "{\"accepted\":0,\"ignored\":1}");
  assert_int_equal (seen.n_alerts, 3);

  assert_int_equal (seen.alerts[0].source, ALERT_SRC_GENERIC);
  assert_string_equal (seen.alerts[0].container, "web-1");
  assert_int_equal (seen.alerts[0].severity, 5);
  assert_string_equal (seen.alerts[0].reason, "canary");

  assert_int_equal (seen.alerts[1].source, ALERT_SRC_ALERTMANAGER);
  assert_string_equal (seen.alerts[1].container, "web-1");
  assert_int_equal (seen.alerts[1].severity, 3);
  assert_string_equal (seen.alerts[1].rule, "WebShellDetected");
  assert_string_equal (seen.alerts[1].fingerprint, "0d8d7556d206ff47");

  assert_int_equal (seen.alerts[2].source, ALERT_SRC_FALCO);
  assert_string_equal (seen.alerts[2].container, "3ad7b26ded6d");
  assert_string_equal (seen.alerts[2].program, "/bin/busybox");
  assert_string_equal (seen.alerts[2].rule, "Terminal shell in container");
  calls_free (calls, N (calls));
  seen_reset ();
}

static void
test_callback_failure (void **state)
{
  (void) state;
  seen_reset ();
  seen.alert_ret = -EIO;
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts", .auth = BEARER, .body = "{\"container\":\"web-1\",\"severity\":1}" },
  };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 500, "engine said no");
  seen.alert_ret = -ENOENT;
  calls_free (calls, N (calls));
  memset (calls, 0, sizeof calls);
  calls[0] = (struct call) { .method = "POST", .path = "/v1/alerts", .auth = BEARER,
                             .body = "{\"container\":\"web-1\",\"severity\":1}" };
  run_calls (calls, N (calls), false);
  expect (&calls[0], 404, "unknown container `web-1`");
  calls_free (calls, N (calls));
  seen_reset ();
}

static void
test_get_routes (void **state)
{
  (void) state;
  seen_reset ();
  struct call calls[] = {
    { .method = "POST", .path = "/v1/alerts" }, /* counted 401, seen in metrics */
    { .method = "GET", .path = "/metrics" },
    { .method = "GET", .path = "/healthz" },
    { .method = "HEAD", .path = "/healthz" },
    { .method = "GET", .path = "/v1/alerts" },
    { .method = "PUT", .path = "/v1/alerts/falco", .auth = BEARER, .body = "{}" },
    { .method = "POST", .path = "/metrics", .auth = BEARER, .body = "{}" },
    { .method = "DELETE", .path = "/healthz" },
    { .method = "GET", .path = "/nope" },
    { .method = "GET", .path = "/v1/alerts/" },
    { .method = "POST", .path = "/v1/alerts/other", .auth = BEARER, .body = "{}" },
  };
  run_calls (calls, N (calls), true); /* with a slowloris connection open */
  expect (&calls[0], 401, NULL);
  expect (&calls[1], 200, "lympho_protected_containers 2\n");
  assert_string_equal (calls[1].ctype, "text/plain; version=0.0.4; charset=utf-8");
  expect (&calls[1], 200, "lympho_http_alert_requests_total{source=\"generic\",code=\"401\"} 1\n");
  expect (&calls[1], 200, "lympho_http_alerts_total{source=\"falco\",result=\"accepted\"} 0\n");
  expect (&calls[2], 200, NULL);
  assert_string_equal (calls[2].resp.data, "ok\n");
  expect (&calls[3], 200, NULL);
  expect (&calls[4], 405, "method not allowed");
  assert_string_equal (calls[4].allow, "POST");
  expect (&calls[5], 405, NULL);
  expect (&calls[6], 405, NULL);
  assert_string_equal (calls[6].allow, "GET, HEAD");
  expect (&calls[7], 405, NULL);
  expect (&calls[8], 404, "no such path");
  expect (&calls[9], 404, NULL);
  expect (&calls[10], 404, NULL);
  assert_int_equal (seen.n_alerts, 0);
  calls_free (calls, N (calls));

  seen.healthy = false;
  struct call sick[] = { { .method = "GET", .path = "/healthz" } };
  run_calls (sick, 1, false);
  expect (&sick[0], 503, "engine unreachable: permission denied on the engine's socket\n");
  calls_free (sick, 1);
  seen_reset ();
}

/* --listen unix:PATH beside a TCP address: one listener, one token, its
 * socket usable by any local sender (a POST still needs the token), no
 * Host check (no browser reaches a Unix socket), /metrics anonymous by
 * default as on loopback; a stale socket is replaced, a live one or
 * another file never, and the socket goes at close. */
static void
test_unix_listener (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct loop *loop;
  assert_int_equal (loop_new (&loop, &err), 0);
  char dir[] = "/tmp/lympho-test-httpd-XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *path = xasprintf ("%s/alerts.sock", dir);
  cleanup_free char *addr = xasprintf ("unix:%s", path);
  const char *both[] = { "127.0.0.1:0", addr };
  struct httpd *h, *b = NULL;
  if (httpd_open (loop, both, 2, TOKEN, &callbacks, &h, &err) < 0)
    fail_msg ("httpd_open: %s", err.msg);
  seen_reset ();
  struct stat st;
  assert_int_equal (stat (path, &st), 0);
  assert_true (S_ISSOCK (st.st_mode));
  assert_int_equal (st.st_mode & 0777, 0666);
  const char *post = "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
                     "\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
                     "{\"container\":\"web-1\",\"severity\":2,\"r\":1}";
  assert_int_equal (raw_status_unix (loop, path, post), 400); /* r: not a field of the generic payload */
  const char *good = "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
                     "\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n"
                     "{\"container\":\"web-1\",\"severity\":2}";
  assert_int_equal (raw_status_unix (loop, path, good), 202);
  assert_int_equal (seen.n_alerts, 1);
  assert_int_equal (raw_status_unix (loop, path, "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"),
                    401);
  assert_int_equal (raw_status_unix (loop, path, "GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n"), 200);
  assert_int_equal (raw_status_unix (loop, path, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
  assert_int_equal (raw_status (loop, h, "GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n"), 403);
  assert_int_equal (raw_status (loop, h, good), 403); /* Host x: on TCP, checked */
  const char *good_tcp = "POST /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
                         "\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n"
                         "{\"container\":\"web-1\",\"severity\":2}";
  assert_int_equal (raw_status (loop, h, good_tcp), 202);
  assert_int_equal (seen.n_alerts, 2);
  httpd_set_metrics_token (h, 1);
  assert_int_equal (raw_status_unix (loop, path, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 401);
  assert_int_equal (raw_status (loop, h, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 401);

  /* Someone answers on the path: refused, and the socket stays theirs. */
  const char *only[] = { addr };
  assert_int_equal (httpd_open (loop, only, 1, TOKEN, &callbacks, &b, &err), -EADDRINUSE);
  assert_null (b);
  assert_non_null (strstr (err.msg, path));
  assert_int_equal (raw_status_unix (loop, path, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
  httpd_close (h);
  assert_int_equal (stat (path, &st), -1);
  assert_int_equal (errno, ENOENT);

  /* A socket left by a crash (no one listens) is replaced. */
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof sa), 0);
  close (fd);
  lympho_error_clear (&err);
  if (httpd_open (loop, only, 1, TOKEN, &callbacks, &b, &err) < 0)
    fail_msg ("over a stale socket: %s", err.msg);
  assert_int_equal (httpd_port (b), -1); /* no TCP listener */
  assert_int_equal (raw_status_unix (loop, path, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
  httpd_close (b);

  /* Anything else at the path is never replaced. */
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fclose (f);
  assert_int_equal (httpd_open (loop, only, 1, TOKEN, &callbacks, &b, &err), -EEXIST);
  assert_int_equal (stat (path, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  unlink (path);
  assert_int_equal (httpd_open (loop, (const char *[]) { "unix:relative.sock" }, 1, TOKEN, &callbacks, &b, &err),
                    -EINVAL);
  assert_int_equal (rmdir (dir), 0);
  loop_free (loop);
}

static void
test_listen (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct loop *loop;
  assert_int_equal (loop_new (&loop, &err), 0);
  struct httpd *a, *b;
  assert_int_equal (httpd_open (loop, (const char *[]) { "127.0.0.1:0" }, 1, TOKEN, &callbacks, &a, &err), 0);
  char addr[64];
  snprintf (addr, sizeof addr, "127.0.0.1:%d", httpd_port (a));
  assert_true (httpd_open (loop, (const char *[]) { addr }, 1, TOKEN, &callbacks, &b, &err) < 0);
  assert_null (b);
  assert_non_null (strstr (err.msg, "bind"));
  assert_non_null (strstr (err.msg, "Address already in use"));
  assert_non_null (strstr (err.msg, addr));
  httpd_close (a);

  static const char *bad[] = { "127.0.0.1", "127.0.0.1:", ":9797", "127.0.0.1:x", "127.0.0.1:65536",
                               "::1:9797",  "[::1]9797", "[::1", "127.0.0.1:-1", "no.such.host.invalid:1" };
  for (size_t i = 0; i < N (bad); i++)
    {
      lympho_error_clear (&err);
      if (httpd_open (loop, (const char *[]) { bad[i] }, 1, TOKEN, &callbacks, &b, &err) != -EINVAL)
        fail_msg ("httpd_open (%s) accepted or failed otherwise: %s", bad[i], err.msg);
      assert_non_null (strstr (err.msg, bad[i]));
    }
  assert_int_equal (httpd_open (loop, (const char *[]) { "127.0.0.1:0" }, 1, "", &callbacks, &b, &err), -EINVAL);
  assert_int_equal (httpd_open (loop, (const char *[]) { "127.0.0.1:0" }, 1, "a b", &callbacks, &b, &err), -EINVAL);

  assert_int_equal (httpd_open (loop, (const char *[]) { "none" }, 1, TOKEN, &callbacks, &b, &err), 0);
  assert_null (b);
  httpd_close (NULL);

  /* IPv6 where the host has it. */
  lympho_error_clear (&err);
  if (httpd_open (loop, (const char *[]) { "[::1]:0" }, 1, TOKEN, &callbacks, &b, &err) == 0)
    {
      assert_true (httpd_port (b) > 0);
      httpd_close (b);
    }
  else
    assert_true (err.status == EADDRNOTAVAIL || err.status == EAFNOSUPPORT);
  loop_free (loop);
}

static void
test_token (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  char tmpl[] = "/tmp/lympho-test-token-XXXXXX";
  assert_non_null (mkdtemp (tmpl));
  cleanup_free char *path = xasprintf ("%s/state/sub/webhook.token", tmpl);

  /* Absent: created, 64 hex, 0600, parents 0700. */
  cleanup_free char *t1 = NULL;
  if (httpd_load_token (path, &t1, &err) < 0)
    fail_msg ("%s", err.msg);
  assert_int_equal (strlen (t1), 64);
  assert_int_equal (strspn (t1, "0123456789abcdef"), 64);
  struct stat st;
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  cleanup_free char *dir = xasprintf ("%s/state/sub", tmpl);
  assert_int_equal (stat (dir, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0700);

  /* Present: read back the same, newline stripped. */
  cleanup_free char *t2 = NULL;
  assert_int_equal (httpd_load_token (path, &t2, &err), 0);
  assert_string_equal (t1, t2);

  /* Each creation is random. */
  cleanup_free char *other = xasprintf ("%s/other.token", tmpl);
  cleanup_free char *t3 = NULL;
  assert_int_equal (httpd_load_token (other, &t3, &err), 0);
  assert_string_not_equal (t1, t3);

  /* Readable by group, or by others: refused. */
  assert_int_equal (chmod (path, 0640), 0);
  cleanup_free char *t4 = NULL;
  assert_int_equal (httpd_load_token (path, &t4, &err), -EPERM);
  assert_non_null (strstr (err.msg, "chmod 600"));
  assert_null (t4);
  assert_int_equal (chmod (path, 0604), 0);
  assert_int_equal (httpd_load_token (path, &t4, &err), -EPERM);

  /* Empty, or only a newline: refused, not replaced. */
  assert_int_equal (chmod (path, 0600), 0);
  assert_int_equal (write_file_atomic (path, "\n", 1, 0600, &err), 0);
  assert_int_equal (httpd_load_token (path, &t4, &err), -EINVAL);
  assert_non_null (strstr (err.msg, "empty"));
  assert_int_equal (write_file_atomic (path, "", 0, 0600, &err), 0);
  assert_int_equal (httpd_load_token (path, &t4, &err), -EINVAL);
  assert_int_equal (write_file_atomic (path, "a b\n", 4, 0600, &err), 0);
  assert_int_equal (httpd_load_token (path, &t4, &err), -EINVAL);

  /* An operator's own token, CRLF and all. */
  assert_int_equal (write_file_atomic (path, "s3cret\r\n", 8, 0600, &err), 0);
  assert_int_equal (httpd_load_token (path, &t4, &err), 0);
  assert_string_equal (t4, "s3cret");

  unlink (path);
  unlink (other);
  rmdir (dir);
  cleanup_free char *state_dir = xasprintf ("%s/state", tmpl);
  rmdir (state_dir);
  rmdir (tmpl);
}

int
main (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_auth),         cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_trickle_cut),  cmocka_unit_test (test_host_checked),
    cmocka_unit_test (test_unix_listener),
    cmocka_unit_test (test_metrics_token),
    cmocka_unit_test (test_too_large),    cmocka_unit_test (test_unknown_container),
    cmocka_unit_test (test_accepted),     cmocka_unit_test (test_callback_failure),
    cmocka_unit_test (test_get_routes),   cmocka_unit_test (test_listen),
    cmocka_unit_test (test_token),
  };
  int ret = cmocka_run_group_tests (tests, NULL, NULL);
  curl_global_cleanup ();
  return ret;
}
