/* lympho — the Docker Engine API client: HTTP/1.1 over the engine's Unix
 * socket (or plain TCP), driven by struct loop, one connection a request
 * ("Connection: close"); answers are read by http-parse.
 *
 * Not libcurl (#21): the engine is reached over a local socket, and lymphd
 * needs none of TLS, proxies, redirects, cookies or a resolver there; libcurl
 * brought TLS and its dependencies into every lymphd, pages that no other
 * program on the host shares, for nothing used.
 *
 * User callbacks run only from the loop (an fd's or a timer's callback),
 * never from inside a dhttp_* call. A request cancelled while a callback
 * runs is unlinked at once and freed once the outermost callback returns
 * (h->busy), so the code below it may still look at it.
 * May call: the loop, http-parse: a leaf of the Docker backend. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lympho/http-parse.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/util.h"
#include "docker-http.h"

#define CONNECT_TIMEOUT_MS 10000
#define CONNECT_RETRY_MS 10   /* a Unix socket's full backlog (EAGAIN): try again */
#define READ_CHUNK 16384
#define READS_PER_WAKE 16     /* then back to the loop: one large answer does not starve the rest */

enum phase
{
  PH_CONNECT, /* waiting for connect() (TCP), or to retry it (EAGAIN) */
  PH_WRITE,
  PH_READ,
};

struct dhttp_req
{
  struct dhttp *h;
  LIST_ENTRY (dhttp_req) link; /* in dhttp.reqs, then in dhttp.dead once cancelled */
  int fd;
  enum phase phase;
  bool cancelled;       /* never called back again */
  bool stream;
  bool open_sent;
  bool too_big;
  char *what;           /* "GET /v1.44/containers/json", for the log */
  struct buf out;       /* the request, as sent */
  size_t out_off;
  struct http_parse parse;
  struct buf resp;      /* whole body, or a stream's undelivered part */
  long status;          /* the final answer's, once its head is read */
  char *api_version;    /* the answer's Api-Version header */
  dhttp_done_cb done;
  dhttp_ping_cb ping;   /* instead of done, for dhttp_ping */
  dhttp_open_cb open;
  dhttp_data_cb data;
  void *ud;
  long timeout_ms;
  uint64_t deadline_timer;
  uint64_t step_timer;  /* the first connect, a connect retry, or an early failure's delivery */
  uint64_t connect_by;  /* monotonic ms */
  int fail;             /* < 0: the failure to deliver */
  lympho_error_t err;
};

struct dhttp
{
  struct loop *loop;
  char *version;          /* "/v1.44", or "" */
  char *unix_path;        /* NULL for TCP */
  char *host;             /* TCP: "host:port"; the Host header in both */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  LIST_HEAD (, dhttp_req) reqs;
  LIST_HEAD (, dhttp_req) dead; /* cancelled while busy */
  int busy;               /* callback depth: frees wait until it is 0 */
  bool closing;
};


char *
dhttp_escape (const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  struct buf b;
  buf_init (&b);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'
          || *p == '.' || *p == '_' || *p == '~')
        buf_append (&b, p, 1);
      else
        {
          char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
          buf_append (&b, e, 3);
        }
    }
  return buf_steal (&b);
}

int
dhttp_status_error (long status, const char *body, size_t len, int conflict_errno, lympho_error_t *err)
{
  /* The engine answers errors as {"message": "..."}; fall back to the raw
   * text when it did not. */
  cleanup_json json_val v = NULL;
  const char *msg = NULL;
  lympho_error_t ignored = { 0 };
  if (body && len > 0 && json_parse (body, len, &v, &ignored) == 0)
    msg = json_str (json_get (v, "message"));
  cleanup_free char *raw = NULL;
  if (msg == NULL)
    {
      raw = xstrndup (body ? body : "", len > 200 ? 200 : len);
      for (char *p = raw; *p; p++)
        if (*p == '\n' || *p == '\r')
          *p = ' ';
      msg = raw;
    }
  int e;
  if (status == 404)
    e = ENOENT;
  else if (status == 409)
    e = conflict_errno;
  else if (status == 400)
    e = EINVAL;
  else if (status == 401)
    e = EACCES;
  else if (status == 403)
    e = EPERM; /* the engine's "not allowed in this state or config" */
  else
    e = EIO;
  return lympho_error_set (err, e, "engine answered %ld: %s", status, msg[0] ? msg : "(no message)");
}


/* ---- a request's life ---- */

static void
enter (struct dhttp *h)
{
  h->busy++;
}

static void really_free (struct dhttp *h);
static void req_destroy (struct dhttp_req *r);

/* The end of a callback from the loop: free what was cancelled under it,
 * and the client itself when dhttp_free was called under it. */
static void
leave (struct dhttp *h)
{
  if (--h->busy > 0)
    return;
  while (!LIST_EMPTY (&h->dead))
    {
      struct dhttp_req *r = LIST_FIRST (&h->dead);
      LIST_UNLINK (r, link);
      req_destroy (r);
    }
  if (h->closing)
    really_free (h);
}

/* Close the connection and stop every timer; the memory stays. */
static void
req_release (struct dhttp_req *r)
{
  struct dhttp *h = r->h;
  if (r->fd >= 0)
    {
      loop_del_fd (h->loop, r->fd);
      close (r->fd);
      r->fd = -1;
    }
  loop_cancel_timer (h->loop, r->deadline_timer);
  loop_cancel_timer (h->loop, r->step_timer);
  r->deadline_timer = r->step_timer = 0;
}

static void
req_destroy (struct dhttp_req *r)
{
  req_release (r);
  free (r->what);
  free (r->api_version);
  buf_free (&r->out);
  buf_free (&r->resp);
  free (r);
}

void
dhttp_cancel (struct dhttp_req *r)
{
  if (r == NULL || r->cancelled)
    return;
  struct dhttp *h = r->h;
  r->cancelled = true;
  LIST_UNLINK (r, link);
  req_release (r);
  if (h->busy > 0)
    LIST_INSERT_HEAD (&h->dead, r, link);
  else
    req_destroy (r);
}

/* Deliver the end of r, once, and drop it. Runs inside enter/leave. */
static void
finish (struct dhttp_req *r)
{
  struct dhttp *h = r->h;
  int ret = r->fail;
  if (ret == 0 && r->stream && r->status == 200)
    /* A stream always ends in failure: the engine went away. */
    ret = lympho_error_set (&r->err, EIO, "engine stream ended: EOF");
  if (log_get_level () >= LOG_LVL_DEBUG)
    log_debug ("docker: %s -> %ld%s%s", r->what, r->status, ret < 0 ? ": " : "", ret < 0 ? r->err.msg : "");
  /* Off the list before the callback, which may start, cancel or free. */
  r->cancelled = true;
  LIST_UNLINK (r, link);
  req_release (r);
  LIST_INSERT_HEAD (&h->dead, r, link);
  const char *body = r->resp.data ? r->resp.data : "";
  if (r->ping)
    r->ping (r->ud, ret, ret < 0 ? &r->err : NULL, r->status, r->api_version, body, r->resp.len);
  else
    r->done (r->ud, ret, ret < 0 ? &r->err : NULL, r->status, body, r->resp.len);
}

static void
fail (struct dhttp_req *r, int ret)
{
  r->fail = ret;
  finish (r);
}

/* Why a connect failed, from its errno, and the errno to report: EACCES
 * where lymphd's user may not, else ECONNREFUSED. */
static const char *
connect_cause (int os_errno, int *report)
{
  *report = ECONNREFUSED;
  switch (os_errno)
    {
    case ENOENT:
      return "no socket there (is the engine running?)";
    case EACCES:
    case EPERM:
      *report = EACCES;
      return "permission denied on the engine's socket (run lymphd as root, or in the socket's group)";
    case ECONNREFUSED:
      return "nothing listens there (is the engine running?)";
    case ENOTSOCK:
      return "not a socket";
    case EAGAIN:
      return "the engine takes no new connection (its backlog stayed full)";
    default:
      return strerror (os_errno);
    }
}

static void
fail_connect (struct dhttp_req *r, int os_errno)
{
  int report = ECONNREFUSED;
  const char *cause = connect_cause (os_errno, &report);
  fail (r, lympho_error_set (&r->err, report, "engine at %s: %s", r->h->unix_path ? r->h->unix_path : r->h->host,
                             cause));
}

/* ---- parser events: record only ---- */

static void
on_header (void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
  struct dhttp_req *r = ud;
  if (name_len == strlen ("Api-Version") && strncasecmp (name, "Api-Version", name_len) == 0)
    {
      free (r->api_version);
      r->api_version = xstrndup (value, value_len > 32 ? 32 : value_len);
    }
}

static void
on_head (void *ud, int status)
{
  struct dhttp_req *r = ud;
  r->status = status;
}

static void
on_body (void *ud, const char *data, size_t len)
{
  struct dhttp_req *r = ud;
  if (r->too_big || r->resp.len + len > DHTTP_MAX_BODY)
    {
      r->too_big = true;
      return;
    }
  buf_append (&r->resp, data, len);
}

static const struct http_parse_cb parse_cb = { on_header, on_head, on_body };

/* A stream's open notice and pending data. False when r is gone. */
static bool
stream_flush (struct dhttp_req *r)
{
  if (!http_parse_head_done (&r->parse))
    return true;
  if (!r->open_sent)
    {
      r->open_sent = true;
      if (r->open)
        {
          r->open (r->ud, r->status);
          if (r->cancelled)
            return false;
        }
    }
  if (r->status == 200 && r->resp.len > 0)
    {
      /* Hand the bytes over first: the callback may cancel r. */
      struct buf chunk = r->resp;
      buf_init (&r->resp);
      r->data (r->ud, chunk.data, chunk.len);
      buf_free (&chunk);
      return !r->cancelled;
    }
  return true;
}

/* ---- the connection ---- */

/* The connection failed or ended too soon: for a running stream, its end
 * (always a failure); for anything else, the answer lost (context: what
 * was being done). */
static void
fail_read (struct dhttp_req *r, const char *context, const char *why)
{
  if (r->stream && r->status == 200)
    fail (r, lympho_error_set (&r->err, EIO, "engine stream ended: %s", why));
  else
    fail (r, lympho_error_set (&r->err, EIO, "engine: %s%s", context, why));
}

static void
do_read (struct dhttp_req *r)
{
  char chunk[READ_CHUNK];
  for (int i = 0; i < READS_PER_WAKE; i++)
    {
      ssize_t n = read (r->fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      lympho_error_t perr = { 0 };
      if (n < 0)
        {
          fail_read (r, "reading the answer: ", strerror (errno));
          return;
        }
      if (n == 0)
        {
          if (http_parse_eof (&r->parse, &perr) < 0)
            {
              fail_read (r, "", perr.msg);
              return;
            }
          if (r->stream && !stream_flush (r))
            return;
          finish (r);
          return;
        }
      if (http_parse_feed (&r->parse, chunk, (size_t) n, &perr) < 0)
        {
          fail (r, lympho_error_set (&r->err, EIO, "engine: malformed answer: %s", perr.msg));
          return;
        }
      if (r->too_big)
        {
          fail (r, lympho_error_set (&r->err, EFBIG, "engine answer larger than %u bytes", DHTTP_MAX_BODY));
          return;
        }
      if (r->stream && !stream_flush (r))
        return;
      if (http_parse_done (&r->parse))
        {
          finish (r);
          return;
        }
    }
}

static void
do_write (struct dhttp_req *r)
{
  while (r->out_off < r->out.len)
    {
      ssize_t n = send (r->fd, r->out.data + r->out_off, r->out.len - r->out_off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return; /* EPOLLOUT brings us back */
      if (n < 0 && errno != EPIPE && errno != ECONNRESET)
        {
          fail (r, lympho_error_set (&r->err, EIO, "engine: sending %s: %s", r->what, strerror (errno)));
          return;
        }
      if (n < 0)
        break; /* the engine closed early: read what it said, if anything */
      r->out_off += (size_t) n;
    }
  r->phase = PH_READ;
  lympho_error_t e = { 0 };
  if (loop_mod_fd (r->h->loop, r->fd, EPOLLIN, &e) < 0)
    {
      fail (r, lympho_error_set (&r->err, EIO, "engine: %s", e.msg));
      return;
    }
}

static void
on_io (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct dhttp_req *r = ud;
  struct dhttp *h = r->h;
  enter (h);
  if (r->phase == PH_CONNECT)
    {
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
      if (soerr != 0)
        {
          fail_connect (r, soerr);
          goto out;
        }
      loop_cancel_timer (h->loop, r->step_timer);
      r->step_timer = 0;
      r->phase = PH_WRITE;
    }
  if (r->phase == PH_WRITE)
    do_write (r);
  else
    do_read (r);
out:
  leave (h);
}

static void on_connect_step (struct loop *l, void *ud);

static void
on_connect_timeout (struct loop *l, void *ud)
{
  struct dhttp_req *r = ud;
  struct dhttp *h = r->h;
  r->step_timer = 0;
  enter (h);
  fail (r, lympho_error_set (&r->err, ETIMEDOUT, "engine at %s: no connection within %d ms", h->host,
                             CONNECT_TIMEOUT_MS));
  leave (h);
}

/* Connect, from the loop. A Unix socket connects at once or not at all;
 * TCP finishes on EPOLLOUT. */
static void
connect_now (struct dhttp_req *r)
{
  struct dhttp *h = r->h;
  r->fd = socket (h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (r->fd < 0)
    {
      fail (r, lympho_error_set (&r->err, EIO, "engine: socket: %s", strerror (errno)));
      return;
    }
  int rc;
  do
    rc = connect (r->fd, (const struct sockaddr *) &h->addr, h->addr_len);
  while (rc < 0 && errno == EINTR);
  int e = rc < 0 ? errno : 0;
  if (e == EAGAIN && h->unix_path && now_mono_ms () < r->connect_by)
    {
      /* The listener's backlog is full: it is busy, not gone. */
      close (r->fd);
      r->fd = -1;
      r->step_timer = loop_add_timer (h->loop, CONNECT_RETRY_MS, on_connect_step, r);
      return;
    }
  if (e != 0 && e != EINPROGRESS)
    {
      fail_connect (r, e);
      return;
    }
  lympho_error_t err = { 0 };
  if (loop_add_fd (h->loop, r->fd, EPOLLOUT, on_io, r, &err) < 0)
    {
      close (r->fd);
      r->fd = -1;
      fail (r, lympho_error_set (&r->err, EIO, "engine: %s", err.msg));
      return;
    }
  if (e == EINPROGRESS)
    r->step_timer = loop_add_timer (h->loop, CONNECT_TIMEOUT_MS, on_connect_timeout, r);
  else
    {
      r->phase = PH_WRITE;
      do_write (r);
    }
}

static void
on_connect_step (struct loop *l, void *ud)
{
  struct dhttp_req *r = ud;
  struct dhttp *h = r->h;
  r->step_timer = 0;
  enter (h);
  if (r->fail < 0)
    finish (r); /* refused before it was sent: said from the loop */
  else
    connect_now (r);
  leave (h);
}

static void
on_deadline (struct loop *l, void *ud)
{
  struct dhttp_req *r = ud;
  struct dhttp *h = r->h;
  r->deadline_timer = 0;
  enter (h);
  fail (r, lympho_error_set (&r->err, ETIMEDOUT, "engine: no answer to %s within %ld ms", r->what, r->timeout_ms));
  leave (h);
}

/* ---- public ---- */

static void
really_free (struct dhttp *h)
{
  while (!LIST_EMPTY (&h->reqs))
    dhttp_cancel (LIST_FIRST (&h->reqs));
  while (!LIST_EMPTY (&h->dead))
    {
      struct dhttp_req *r = LIST_FIRST (&h->dead);
      LIST_UNLINK (r, link);
      req_destroy (r);
    }
  free (h->version);
  free (h->unix_path);
  free (h->host);
  free (h);
}

/* "host:port", "[v6]:port" or "host" (port dflt) into a socket address,
 * once, when the client is made: the loop never waits on a resolver. */
static int
resolve (struct dhttp *h, const char *hostport, size_t n, const char *dflt, const char *endpoint, lympho_error_t *err)
{
  cleanup_free char *hp = xstrndup (hostport, n);
  char *host = hp, *port = NULL;
  if (host[0] == '[')
    {
      char *end = strchr (host, ']');
      if (end == NULL || (end[1] != '\0' && end[1] != ':'))
        return lympho_error_set (err, EINVAL, "docker host %s: bad address", endpoint);
      *end = '\0';
      host++;
      port = end[1] == ':' ? end + 2 : NULL;
    }
  else if ((port = strrchr (host, ':')) != NULL)
    *port++ = '\0';
  if (port == NULL || port[0] == '\0')
    port = (char *) dflt;
  if (host[0] == '\0')
    return lympho_error_set (err, EINVAL, "docker host %s: no host", endpoint);
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
  struct addrinfo *res = NULL;
  int rc = getaddrinfo (host, port, &hints, &res);
  if (rc != 0)
    return lympho_error_set (err, ECONNREFUSED, "docker host %s: %s", endpoint, gai_strerror (rc));
  memcpy (&h->addr, res->ai_addr, res->ai_addrlen);
  h->addr_len = res->ai_addrlen;
  freeaddrinfo (res);
  return 0;
}

int
dhttp_new (struct loop *loop, const char *endpoint, struct dhttp **out, lympho_error_t *err)
{
  struct dhttp *h = xmalloc0 (sizeof *h);
  h->loop = loop;
  h->version = xstrdup ("");
  LIST_INIT (&h->reqs);
  LIST_INIT (&h->dead);
  const char *path = NULL;
  if (str_has_prefix (endpoint, "unix://"))
    path = endpoint + strlen ("unix://");
  else if (endpoint[0] == '/')
    path = endpoint;
  if (path)
    {
      struct sockaddr_un *sun = (struct sockaddr_un *) &h->addr;
      if (path[0] != '/')
        {
          really_free (h);
          return lympho_error_set (err, EINVAL, "docker host %s: socket path must be absolute", endpoint);
        }
      if (strlen (path) >= sizeof sun->sun_path)
        {
          really_free (h);
          return lympho_error_set (err, EINVAL, "docker host %s: socket path longer than %zu bytes", endpoint,
                                   sizeof sun->sun_path - 1);
        }
      sun->sun_family = AF_UNIX;
      strcpy (sun->sun_path, path);
      h->addr_len = sizeof *sun;
      h->unix_path = xstrdup (path);
      h->host = xstrdup ("localhost");
    }
  else if (str_has_prefix (endpoint, "tcp://") || str_has_prefix (endpoint, "http://"))
    {
      const char *hp = strstr (endpoint, "://") + 3;
      size_t n = strcspn (hp, "/");
      int ret = n == 0 ? lympho_error_set (err, EINVAL, "docker host %s: no host", endpoint)
                       : resolve (h, hp, n, str_has_prefix (endpoint, "tcp://") ? "2375" : "80", endpoint, err);
      if (ret < 0)
        {
          really_free (h);
          return ret;
        }
      h->host = xstrndup (hp, n);
    }
  else
    {
      really_free (h);
      return lympho_error_set (err, EINVAL, "docker host %s: expected unix:// or tcp://", endpoint);
    }
  *out = h;
  return 0;
}

void
dhttp_set_api_version (struct dhttp *h, const char *version)
{
  free (h->version);
  h->version = version && version[0] ? xasprintf ("/v%s", version) : xstrdup ("");
}

void
dhttp_free (struct dhttp *h)
{
  if (h == NULL)
    return;
  if (h->busy > 0)
    {
      /* Called from one of our callbacks: drop the requests now, free the
       * rest when it unwinds. */
      h->closing = true;
      while (!LIST_EMPTY (&h->reqs))
        dhttp_cancel (LIST_FIRST (&h->reqs));
      return;
    }
  really_free (h);
}

static struct dhttp_req *
start (struct dhttp *h, const char *method, const char *path_query, const char *body, long timeout_ms, bool stream,
       bool unversioned, dhttp_open_cb open, dhttp_data_cb data, dhttp_done_cb done, void *ud)
{
  struct dhttp_req *r = xmalloc0 (sizeof *r);
  r->h = h;
  r->fd = -1;
  r->phase = PH_CONNECT;
  r->stream = stream;
  r->open = open;
  r->data = data;
  r->done = done;
  r->ud = ud;
  r->timeout_ms = timeout_ms;
  buf_init (&r->out);
  buf_init (&r->resp);
  http_parse_init (&r->parse, strcmp (method, "HEAD") == 0, &parse_cb, r);
  const char *version = unversioned ? "" : h->version;
  r->what = xasprintf ("%s %s%s", method, version, path_query);
  if (path_query[0] != '/' || strpbrk (path_query, " \t\r\n") != NULL)
    /* Callers escape what they put in a path; a request line is never split. */
    r->fail = lympho_error_set (&r->err, EINVAL, "engine request: a path must start with '/' and hold no blank");
  buf_printf (&r->out, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lympho/%s\r\nConnection: close\r\n", method,
              version, path_query, h->host, PACKAGE_VERSION);
  if (body)
    buf_printf (&r->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen (body), body);
  else if (strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0)
    buf_appends (&r->out, "Content-Length: 0\r\n\r\n");
  else
    buf_appends (&r->out, "\r\n");
  LIST_INSERT_HEAD (&h->reqs, r, link);
  r->connect_by = now_mono_ms () + CONNECT_TIMEOUT_MS;
  /* Nothing happens inside this call: the connect, and any failure, come
   * from the loop after we have returned. */
  r->step_timer = loop_add_timer (h->loop, 0, on_connect_step, r);
  if (timeout_ms > 0)
    r->deadline_timer = loop_add_timer (h->loop, (uint64_t) timeout_ms, on_deadline, r);
  return r;
}

struct dhttp_req *
dhttp_request (struct dhttp *h, const char *method, const char *path_query, const char *body, long timeout_ms,
               dhttp_done_cb done, void *ud)
{
  return start (h, method, path_query, body, timeout_ms, false, false, NULL, NULL, done, ud);
}

struct dhttp_req *
dhttp_get_unversioned (struct dhttp *h, const char *path_query, long timeout_ms, dhttp_done_cb done, void *ud)
{
  return start (h, "GET", path_query, NULL, timeout_ms, false, true, NULL, NULL, done, ud);
}

struct dhttp_req *
dhttp_ping (struct dhttp *h, long timeout_ms, dhttp_ping_cb done, void *ud)
{
  struct dhttp_req *r = start (h, "GET", "/_ping", NULL, timeout_ms, false, true, NULL, NULL, NULL, ud);
  r->ping = done;
  return r;
}

struct dhttp_req *
dhttp_stream (struct dhttp *h, const char *path_query, dhttp_open_cb open, dhttp_data_cb data, dhttp_done_cb done,
              void *ud)
{
  return start (h, "GET", path_query, NULL, 0, true, false, open, data, done, ud);
}
