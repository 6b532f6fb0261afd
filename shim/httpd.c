/* lympho — the HTTP listener; the contract is in include/lympho/httpd.h and
 * INTERFACE.md "HTTP listener".
 *
 * libmicrohttpd runs without threads of its own (MHD_USE_EPOLL, external
 * polling): its epoll fd is one more fd in the daemon's loop, MHD_run is
 * called when that fd is readable, and a loop timer follows MHD_get_timeout
 * so that idle connections time out and already-buffered work is finished.
 *
 * Answers: errors are text/plain, one line ending in "\n" (what curl and an
 * operator's terminal show best); 202 carries {"accepted":N,"ignored":M}.
 * May call: alerts (the payload parsers), the loop, libmicrohttpd; the
 * daemon through its callbacks. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lympho/alerts.h"
#include "lympho/httpd.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/util.h"

#define BODY_MAX (1024 * 1024)
/* MHD renamed its constant for 413 across versions; the number is stable. */
#define HTTP_TOO_LARGE 413
#define TOKEN_MAX 256
/* A slow client (slowloris) can only hold a bounded number of connections
 * for a bounded idle time; MHD never blocks the loop on any of them. */
#define CONN_LIMIT 64
#define CONN_PER_IP 32
#define CONN_TIMEOUT_S 10
/* A request, headers and body, arrives whole within this long of its
 * connection's start or of the last request it carried, however slowly
 * it trickles in (the idle timeout above alone lets a byte every 9 s hold
 * a slot for ever). */
#define REQUEST_DEADLINE_MS 10000

enum route
{
  ROUTE_ALERTS = 0, /* index = enum alert_source for the three POST routes */
  ROUTE_ALERTMANAGER,
  ROUTE_FALCO,
  ROUTE_METRICS,
  ROUTE_HEALTHZ,
};

static const struct
{
  const char *path;
  bool post;
} routes[] = {
  [ROUTE_ALERTS] = { "/v1/alerts", true },   [ROUTE_ALERTMANAGER] = { "/v1/alerts/alertmanager", true },
  [ROUTE_FALCO] = { "/v1/alerts/falco", true }, [ROUTE_METRICS] = { "/metrics", false },
  [ROUTE_HEALTHZ] = { "/healthz", false },
};
#define N_POST 3

/* HTTP answers to alert POSTs, counted per route for /metrics. */
static const unsigned int counted_codes[] = { 202, 400, 401, 404, 405, 413, 500, 503 };
#define N_CODES (sizeof counted_codes / sizeof counted_codes[0])

/* One listening socket and the MHD daemon that serves it; every listener
 * of an httpd shares its token, counters, connections and deadline. */
struct listener
{
  struct httpd *h;
  struct MHD_Daemon *mhd;
  int epfd;
  int listen_fd;    /* owned by MHD once started; kept for the port */
  uint64_t timer;
  char *addr;       /* as configured, for log lines */
  char *unix_path;  /* a Unix socket's path, removed at close; NULL for TCP */
  int family;       /* AF_INET, AF_INET6 or AF_UNIX */
  bool loopback;    /* bound to a loopback address: Host is checked */
  bool metrics_auth; /* GET /metrics needs the token */
};

struct httpd
{
  struct loop *loop;
  struct listener ls[HTTPD_MAX_LISTEN];
  size_t n_ls;
  char *token;
  size_t token_len;
  struct httpd_callbacks cb;
  uint64_t requests[N_POST][N_CODES];
  uint64_t alerts_accepted[N_POST];
  uint64_t alerts_ignored[N_POST];
  /* Open connections, for the request deadline. */
  struct tracked
  {
    struct MHD_Connection *c;
    int fd;
    uint64_t since_ms; /* its start, or the end of its last request */
    bool cut;
  } *conns;
  size_t n_conns;
  uint64_t deadline_ms;
  uint64_t deadline_timer;
  uint64_t cut_total;
  struct rate_limit refusals; /* 401 and 403 lines, at most one per 10 s */
};

struct request
{
  int route;
  bool answered; /* a response was queued before the body was read */
  bool overflow;
  size_t discarded; /* bytes read past the cap, chunked bodies only */
  struct buf body;
};

/* ---- token ---- */

/* Constant time over the expected token's length, whatever the presented
 * one is: copy it into a fixed buffer first, so neither the position of the
 * first difference nor the presented length shows in the timing. */
static bool
token_equal (const struct httpd *h, const char *given, size_t given_len)
{
  unsigned char pad[TOKEN_MAX] = { 0 };
  size_t n = given_len < TOKEN_MAX ? given_len : TOKEN_MAX;
  memcpy (pad, given, n);
  unsigned char diff = (unsigned char) (given_len != h->token_len);
  for (size_t i = 0; i < TOKEN_MAX; i++)
    diff |= (unsigned char) (pad[i] ^ (i < h->token_len ? (unsigned char) h->token[i] : 0));
  return diff == 0;
}

static bool
authorized (const struct httpd *h, struct MHD_Connection *c)
{
  const char *v = MHD_lookup_connection_value (c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  /* The scheme is case-insensitive (RFC 7235); the token is not. */
  if (v == NULL || strncasecmp (v, "Bearer ", 7) != 0)
    return false;
  v += 7;
  while (*v == ' ')
    v++;
  size_t len = strlen (v);
  while (len > 0 && v[len - 1] == ' ')
    len--;
  return token_equal (h, v, len);
}

static bool
token_chars_ok (const char *t)
{
  for (; *t; t++)
    if ((unsigned char) *t <= ' ' || (unsigned char) *t >= 0x7f)
      return false;
  return true;
}

static int
token_create (const char *path, char **token, lympho_error_t *err)
{
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  if (slash && slash != dir)
    {
      *slash = '\0';
      if (mkdir_p (dir, 0700, err) < 0)
        return lympho_error_prefix (err, "create token file `%s`", path);
    }
  unsigned char raw[32];
  if (random_bytes (raw, sizeof raw, err) < 0)
    return -EIO;
  char hex[2 * sizeof raw + 2];
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (hex + 2 * i, 3, "%02x", raw[i]);
  hex[2 * sizeof raw] = '\n';
  hex[2 * sizeof raw + 1] = '\0';

  /* O_EXCL: never truncate a token another process just wrote. */
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "create token file `%s`", path);
  size_t len = 2 * sizeof raw + 1;
  if (write (fd, hex, len) != (ssize_t) len || fsync (fd) < 0)
    {
      int e = errno;
      unlink (path);
      return lympho_error_set_errno (err, e ? e : EIO, "write token file `%s`", path);
    }
  hex[2 * sizeof raw] = '\0';
  *token = xstrdup (hex);
  return 0;
}

int
httpd_load_token (const char *path, char **token, lympho_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    {
      int ret = token_create (path, token, err);
      if (ret != -EEXIST)
        return ret;
      /* Lost a race with another creator: read theirs. */
      fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "open token file `%s`", path);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return lympho_error_set_errno (err, errno, "stat token file `%s`", path);
  if (!S_ISREG (st.st_mode))
    return lympho_error_set (err, EINVAL, "token file `%s` is not a regular file", path);
  if (st.st_mode & 077)
    return lympho_error_set (err, EPERM, "token file `%s` is accessible by group or others (mode %03o): chmod 600 it",
                             path, (unsigned) (st.st_mode & 0777));
  char data[TOKEN_MAX + 3];
  size_t len = 0;
  for (;;)
    {
      ssize_t n = read (fd, data + len, sizeof data - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return lympho_error_set_errno (err, errno, "read token file `%s`", path);
      if (n == 0)
        break;
      len += (size_t) n;
      if (len == sizeof data - 1)
        return lympho_error_set (err, EINVAL, "token file `%s` is longer than %d bytes", path, TOKEN_MAX);
    }
  data[len] = '\0';
  if (len > 0 && data[len - 1] == '\n')
    data[--len] = '\0';
  if (len > 0 && data[len - 1] == '\r')
    data[--len] = '\0';
  if (len == 0)
    return lympho_error_set (err, EINVAL, "token file `%s` is empty", path);
  if (strlen (data) != len || !token_chars_ok (data))
    return lympho_error_set (err, EINVAL, "token file `%s` holds characters other than printable ASCII", path);
  *token = xstrdup (data);
  return 0;
}

/* ---- answers ---- */

static enum MHD_Result
reply (struct MHD_Connection *c, unsigned int code, const char *ctype, const char *body, const char *hk,
       const char *hv)
{
  struct MHD_Response *resp = MHD_create_response_from_buffer (strlen (body), (void *) body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (hk)
    MHD_add_response_header (resp, hk, hv);
  enum MHD_Result ret = MHD_queue_response (c, code, resp);
  MHD_destroy_response (resp);
  return ret;
}

/* One line of text; whatever came from the client is stripped of control
 * characters so the answer (and the log) stays one line. */
static enum MHD_Result
reply_text (struct MHD_Connection *c, unsigned int code, const char *hk, const char *hv, const char *fmt, ...)
  LYMPHO_PRINTF (5, 6);

static enum MHD_Result
reply_text (struct MHD_Connection *c, unsigned int code, const char *hk, const char *hv, const char *fmt, ...)
{
  char line[640];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  for (char *p = line; *p; p++)
    if ((unsigned char) *p < ' ' || *p == 0x7f)
      *p = '?';
  strcat (line, "\n");
  return reply (c, code, "text/plain; charset=utf-8", line, hk, hv);
}

static void
count (struct httpd *h, int route, unsigned int code)
{
  if (route < 0 || route >= N_POST)
    return;
  for (size_t i = 0; i < N_CODES; i++)
    if (counted_codes[i] == code)
      h->requests[route][i]++;
}

/* ---- routes ---- */

static enum MHD_Result
serve_get (struct httpd *h, struct MHD_Connection *c, int route)
{
  if (route == ROUTE_HEALTHZ)
    {
      cleanup_free char *why = h->cb.unhealthy ? h->cb.unhealthy (h->cb.ud) : NULL;
      return why == NULL ? reply_text (c, MHD_HTTP_OK, NULL, NULL, "ok")
                         : reply_text (c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL, "%s", why);
    }

  struct buf b;
  buf_init (&b);
  if (h->cb.metrics)
    {
      cleanup_free char *m = h->cb.metrics (h->cb.ud);
      if (m)
        buf_appends (&b, m);
    }
  /* Only the listener sees refused requests, so it counts them itself. */
  buf_appends (&b, "# HELP lympho_http_alert_requests_total Alert POSTs by route and HTTP answer.\n"
                   "# TYPE lympho_http_alert_requests_total counter\n");
  for (int r = 0; r < N_POST; r++)
    for (size_t i = 0; i < N_CODES; i++)
      buf_printf (&b, "lympho_http_alert_requests_total{source=\"%s\",code=\"%u\"} %llu\n",
                  alert_source_name ((enum alert_source) r), counted_codes[i],
                  (unsigned long long) h->requests[r][i]);
  buf_appends (&b, "# HELP lympho_http_alerts_total Alerts received over HTTP: accepted, or ignored (resolved, "
                   "no container).\n"
                   "# TYPE lympho_http_alerts_total counter\n");
  for (int r = 0; r < N_POST; r++)
    {
      const char *s = alert_source_name ((enum alert_source) r);
      buf_printf (&b, "lympho_http_alerts_total{source=\"%s\",result=\"accepted\"} %llu\n", s,
                  (unsigned long long) h->alerts_accepted[r]);
      buf_printf (&b, "lympho_http_alerts_total{source=\"%s\",result=\"ignored\"} %llu\n", s,
                  (unsigned long long) h->alerts_ignored[r]);
    }
  enum MHD_Result ret = reply (c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data, NULL, NULL);
  buf_free (&b);
  return ret;
}

static enum MHD_Result
serve_post (struct httpd *h, struct MHD_Connection *c, struct request *r)
{
  static int (*const parsers[N_POST]) (const char *, size_t, struct alert_list *, lympho_error_t *) = {
    alerts_parse_generic, alerts_parse_alertmanager, alerts_parse_falco
  };
  const char *path = routes[r->route].path;
  lympho_error_t err = { 0 };
  struct alert_list l = { 0 };
  enum MHD_Result ret;

  const char *body = r->body.data ? r->body.data : "";
  int pr = h->cb.parse ? h->cb.parse (h->cb.ud, (enum alert_source) r->route, body, r->body.len, &l, &err)
                       : parsers[r->route](body, r->body.len, &l, &err);
  if (pr == -EIO)
    {
      log_error ("http: %s: %s", path, err.msg);
      count (h, r->route, 503);
      return reply_text (c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL, "%s", err.msg);
    }
  if (pr < 0)
    {
      log_info ("http: %s: refused malformed body: %s", path, err.msg);
      count (h, r->route, 400);
      return reply_text (c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "%s", err.msg);
    }

  /* Resolve every container before applying any alert: a payload naming one
   * unknown container changes nothing at all. */
  for (size_t i = 0; i < l.n; i++)
    if (l.v[i].container != NULL /* a fleet warning names no container here */
        && (h->cb.known == NULL || !h->cb.known (h->cb.ud, l.v[i].container)))
      {
        log_info ("http: %s: refused alert for unknown container %s", path, l.v[i].container);
        count (h, r->route, 404);
        ret = reply_text (c, MHD_HTTP_NOT_FOUND, NULL, NULL, "unknown container `%s`", l.v[i].container);
        alert_list_free (&l);
        return ret;
      }

  size_t applied = 0;
  for (size_t i = 0; i < l.n; i++)
    {
      int rc = h->cb.alert ? h->cb.alert (h->cb.ud, &l.v[i], &err) : 0;
      if (rc < 0)
        {
          /* Only a container that vanished between `known` and here, or
           * an internal failure; what was applied before stays applied. */
          unsigned int code = rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
          log_warn ("http: %s: alert for %s failed after %zu applied: %s", path, l.v[i].container, applied,
                    err.msg);
          h->alerts_accepted[r->route] += applied;
          count (h, r->route, code);
          ret = code == MHD_HTTP_NOT_FOUND
                    ? reply_text (c, code, NULL, NULL, "unknown container `%s`", l.v[i].container)
                    : reply_text (c, code, NULL, NULL, "%s", err.msg[0] ? err.msg : "internal error");
          alert_list_free (&l);
          return ret;
        }
      applied++;
    }

  h->alerts_accepted[r->route] += applied;
  h->alerts_ignored[r->route] += l.ignored;
  count (h, r->route, 202);
  if (l.ignored)
    log_debug ("http: %s: %zu alert(s) accepted, %zu ignored", path, applied, l.ignored);
  char json[96];
  snprintf (json, sizeof json, "{\"accepted\":%zu,\"ignored\":%zu}\n", applied, l.ignored);
  alert_list_free (&l);
  return reply (c, MHD_HTTP_ACCEPTED, "application/json", json, NULL, NULL);
}

static int
find_route (const char *url)
{
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (strcmp (url, routes[i].path) == 0)
      return (int) i;
  return -1;
}

/* The first call for a request (headers only) decides everything that does
 * not need the body, so that a refused request is never read. */
/* 127.0.0.0/8 or ::1. */
static bool
sockaddr_is_loopback (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    return (ntohl (((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
  return sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *) sa)->sin6_addr);
}

/* Loopback or a Unix socket: only this host's callers reach it, and
 * /metrics is anonymous there by default. */
static bool
listener_local (const struct listener *L)
{
  return L->loopback || L->family == AF_UNIX;
}

/* A Host a browser on this host may send to reach a loopback listener
 * without being tricked into it: a loopback address or localhost, with any
 * port. A page of another site rebound to 127.0.0.1 (DNS rebinding) still
 * sends its own name. */
static bool
host_is_loopback (const char *host)
{
  char name[256];
  size_t n;
  if (host[0] == '[')
    {
      const char *close = strchr (host, ']');
      n = close ? (size_t) (close - host - 1) : 0;
      host++;
    }
  else
    {
      const char *colon = strchr (host, ':');
      n = colon ? (size_t) (colon - host) : strlen (host);
    }
  if (n == 0 || n >= sizeof name)
    return false;
  memcpy (name, host, n);
  name[n] = '\0';
  if (strcasecmp (name, "localhost") == 0)
    return true;
  struct sockaddr_storage ss = { 0 };
  struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
  if (inet_pton (AF_INET, name, &a4->sin_addr) == 1)
    ss.ss_family = AF_INET;
  else if (inet_pton (AF_INET6, name, &a6->sin6_addr) == 1)
    ss.ss_family = AF_INET6;
  return sockaddr_is_loopback ((struct sockaddr *) &ss);
}

/* Refusals (401, 403) are logged at most once in 10 s, with a count of
 * those that were not: a flood of them must not flood the journal. */
static void
log_refusal (struct httpd *h, const char *fmt, ...) LYMPHO_PRINTF (2, 3);
static void
log_refusal (struct httpd *h, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  log_refusal_limited (&h->refusals, 10000, "http", line);
}

static enum MHD_Result
on_headers (struct listener *L, struct MHD_Connection *c, struct request *r, const char *url, const char *method)
{
  struct httpd *h = L->h;
  const char *host = MHD_lookup_connection_value (c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  if (L->loopback && host && !host_is_loopback (host))
    {
      r->answered = true;
      r->route = -1;
      log_refusal (h, "refused a request for Host `%.64s` on a loopback listener (DNS rebinding?)", host);
      return reply_text (c, MHD_HTTP_FORBIDDEN, NULL, NULL, "Host is not this listener's");
    }
  r->route = find_route (url);
  if (r->route < 0)
    {
      r->answered = true;
      return reply_text (c, MHD_HTTP_NOT_FOUND, NULL, NULL, "no such path");
    }
  if (!routes[r->route].post)
    {
      if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 && strcmp (method, MHD_HTTP_METHOD_HEAD) != 0)
        {
          r->answered = true;
          return reply_text (c, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, "GET, HEAD",
                             "method not allowed");
        }
      /* The metrics name containers and their threat levels: an intruder
       * would read how close it is to the threshold. */
      if (r->route == ROUTE_METRICS && L->metrics_auth && !authorized (h, c))
        {
          r->answered = true;
          log_refusal (h, "/metrics: refused GET without a valid bearer token");
          return reply_text (c, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"lympho\"",
                             "missing or wrong bearer token");
        }
      return MHD_YES;
    }
  if (strcmp (method, MHD_HTTP_METHOD_POST) != 0)
    {
      r->answered = true;
      count (h, r->route, 405);
      return reply_text (c, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, "POST", "method not allowed");
    }
  if (!authorized (h, c))
    {
      r->answered = true;
      log_refusal (h, "%s: refused POST without a valid bearer token", routes[r->route].path);
      count (h, r->route, 401);
      return reply_text (c, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"lympho\"",
                         "missing or wrong bearer token");
    }
  const char *cl = MHD_lookup_connection_value (c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL)
    {
      char *end;
      errno = 0;
      unsigned long long n = strtoull (cl, &end, 10);
      if (errno != 0 || end == cl || n > BODY_MAX)
        {
          r->answered = true;
          count (h, r->route, 413);
          return reply_text (c, HTTP_TOO_LARGE, NULL, NULL, "body larger than %d bytes", BODY_MAX);
        }
    }
  return MHD_YES;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
            const char *upload_data, size_t *upload_data_size, void **con_cls)
{
  (void) version;
  struct listener *L = cls;
  struct httpd *h = L->h;
  struct request *r = *con_cls;
  if (r == NULL)
    {
      r = xmalloc0 (sizeof *r);
      buf_init (&r->body);
      *con_cls = r;
      return on_headers (L, c, r, url, method);
    }
  if (r->answered)
    {
      *upload_data_size = 0;
      return MHD_YES;
    }
  if (*upload_data_size > 0)
    {
      /* Chunked bodies have no Content-Length: stop at the cap while
       * receiving, never buffer past it. */
      if (r->overflow || r->body.len + *upload_data_size > BODY_MAX)
        {
          if (!r->overflow)
            count (h, r->route, 413);
          r->overflow = true;
          buf_free (&r->body);
          buf_init (&r->body);
          /* Read on a little so the client can get its 413, but a body
           * that never ends only gets the connection closed. */
          r->discarded += *upload_data_size;
          if (r->discarded > 4 * (size_t) BODY_MAX)
            return MHD_NO;
          *upload_data_size = 0;
          return MHD_YES;
        }
      buf_append (&r->body, upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
  if (r->overflow)
    return reply_text (c, HTTP_TOO_LARGE, NULL, NULL, "body larger than %d bytes", BODY_MAX);
  if (!routes[r->route].post)
    return serve_get (h, c, r->route);
  return serve_post (h, c, r);
}

static void
on_completed (void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  (void) toe;
  struct httpd *h = ((struct listener *) cls)->h;
  /* Its next request has a deadline of its own. */
  for (size_t i = 0; i < h->n_conns; i++)
    if (h->conns[i].c == c)
      h->conns[i].since_ms = now_mono_ms ();
  struct request *r = *con_cls;
  if (r == NULL)
    return;
  buf_free (&r->body);
  free (r);
  *con_cls = NULL;
}

static void
on_mhd_log (void *cls, const char *fmt, va_list ap)
{
  (void) cls;
  char line[512];
  vsnprintf (line, sizeof line, fmt, ap);
  line[strcspn (line, "\n")] = '\0';
  log_debug ("http: libmicrohttpd: %s", line);
}

/* ---- driving MHD from the loop ---- */

static void drive (struct httpd *h);
static void deadline_arm (struct httpd *h);

/* Connections past their request deadline are cut (shutdown: MHD sees the
 * end at its next turn and closes them as it would any). */
static void
on_deadline (struct loop *l, void *ud)
{
  (void) l;
  struct httpd *h = ud;
  h->deadline_timer = 0;
  uint64_t now = now_mono_ms ();
  unsigned cut = 0;
  for (size_t i = 0; i < h->n_conns; i++)
    if (!h->conns[i].cut && now - h->conns[i].since_ms >= h->deadline_ms)
      {
        h->conns[i].cut = true;
        if (shutdown (h->conns[i].fd, SHUT_RDWR) == 0)
          cut++;
      }
  if (cut)
    {
      h->cut_total += cut;
      log_info ("http: %u connection%s cut: no whole request within %llu ms (%llu so far)", cut, cut == 1 ? "" : "s",
                (unsigned long long) h->deadline_ms, (unsigned long long) h->cut_total);
      drive (h);
    }
  deadline_arm (h);
}

static void
deadline_arm (struct httpd *h)
{
  if (h->deadline_timer)
    return;
  uint64_t now = now_mono_ms (), next = UINT64_MAX;
  for (size_t i = 0; i < h->n_conns; i++)
    if (!h->conns[i].cut)
      {
        uint64_t at = h->conns[i].since_ms + h->deadline_ms;
        next = at < next ? at : next;
      }
  if (next != UINT64_MAX)
    h->deadline_timer = loop_add_timer (h->loop, next > now ? next - now : 0, on_deadline, h);
}

static void
on_connection (void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code)
{
  (void) socket_context;
  struct httpd *h = ((struct listener *) cls)->h;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    {
      const union MHD_ConnectionInfo *info = MHD_get_connection_info (c, MHD_CONNECTION_INFO_CONNECTION_FD);
      if (info == NULL)
        return;
      h->conns = xrealloc (h->conns, (h->n_conns + 1) * sizeof *h->conns);
      h->conns[h->n_conns++] = (struct tracked) { c, info->connect_fd, now_mono_ms (), false };
      deadline_arm (h);
      return;
    }
  for (size_t i = 0; i < h->n_conns; i++)
    if (h->conns[i].c == c)
      {
        h->conns[i] = h->conns[--h->n_conns];
        break;
      }
}

void
httpd_set_metrics_token (struct httpd *h, int yes)
{
  for (size_t i = 0; i < h->n_ls; i++)
    h->ls[i].metrics_auth = yes < 0 ? !listener_local (&h->ls[i]) : yes != 0;
}

void
httpd_set_request_deadline (struct httpd *h, unsigned ms)
{
  h->deadline_ms = ms;
}

static void drive_one (struct listener *L);

static void
on_timer (struct loop *l, void *ud)
{
  (void) l;
  struct listener *L = ud;
  L->timer = 0;
  drive_one (L);
}

static void
drive_one (struct listener *L)
{
  struct httpd *h = L->h;
  MHD_run (L->mhd);
  if (L->timer)
    loop_cancel_timer (h->loop, L->timer);
  L->timer = 0;
  MHD_UNSIGNED_LONG_LONG ms;
  if (MHD_get_timeout (L->mhd, &ms) == MHD_YES)
    L->timer = loop_add_timer (h->loop, ms, on_timer, L);
}

static void
drive (struct httpd *h)
{
  for (size_t i = 0; i < h->n_ls; i++)
    drive_one (&h->ls[i]);
}

static void
on_ready (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) l;
  (void) fd;
  (void) events;
  drive_one (ud);
}

/* "ADDR:PORT" or "[V6ADDR]:PORT"; numeric, or a host name resolved once. */
static int
parse_listen (const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, lympho_error_t *err)
{
  cleanup_free char *copy = xstrdup (addr);
  char *host = copy, *port;
  if (host[0] == '[')
    {
      char *close = strchr (host, ']');
      if (close == NULL || close[1] != ':')
        return lympho_error_set (err, EINVAL, "listen address `%s`: want [ADDR]:PORT", addr);
      *close = '\0';
      host++;
      port = close + 2;
    }
  else
    {
      port = strrchr (host, ':');
      if (port == NULL || strchr (host, ':') != port)
        return lympho_error_set (err, EINVAL, "listen address `%s`: want ADDR:PORT or [ADDR]:PORT", addr);
      *port++ = '\0';
    }
  char *end;
  errno = 0;
  unsigned long p = strtoul (port, &end, 10);
  if (host[0] == '\0' || port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || p > 65535)
    return lympho_error_set (err, EINVAL, "listen address `%s`: bad address or port", addr);

  struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *res = NULL;
  int rc = getaddrinfo (host, port, &hints, &res);
  if (rc != 0)
    return lympho_error_set (err, EINVAL, "listen address `%s`: %s", addr, gai_strerror (rc));
  memcpy (ss, res->ai_addr, res->ai_addrlen);
  *sslen = res->ai_addrlen;
  freeaddrinfo (res);
  return 0;
}

static int httpd_port_of (const struct listener *L);

/* Bind one listening socket for addr: ADDR:PORT, [V6]:PORT or unix:PATH. */
static int
bind_listener (const char *addr, struct listener *L, lympho_error_t *err)
{
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  const char *path = str_has_prefix (addr, "unix:") ? addr + 5 : NULL;
  if (path)
    {
      struct sockaddr_un *sun = (struct sockaddr_un *) &ss;
      if (path[0] != '/' || strlen (path) >= sizeof sun->sun_path)
        return lympho_error_set (err, EINVAL, "listen address `%s`: want unix:/ABSOLUTE/PATH", addr);
      memset (sun, 0, sizeof *sun);
      sun->sun_family = AF_UNIX;
      memcpy (sun->sun_path, path, strlen (path) + 1);
      sslen = sizeof *sun;
      bool removed = false;
      if (unix_path_claim (path, &removed, err) < 0)
        return lympho_error_prefix (err, "listen on %s", addr);
      if (removed)
        log_info ("http: removed stale socket %s", path);
    }
  else if (parse_listen (addr, &ss, &sslen, err) < 0)
    return -EINVAL;
  cleanup_close int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "listen on %s: socket", addr);
  int one = 1;
  if (!path)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  /* Bind it ourselves: MHD_start_daemon only says NULL, and an operator
   * wants to read "Address already in use". */
  if (bind (fd, (struct sockaddr *) &ss, sslen) < 0)
    return lympho_error_set_errno (err, errno, "listen on %s: bind", addr);
  /* Senders on this host, whoever they run as, as on a loopback port: a
   * POST needs the token all the same. (lymphd's umask is 077.) */
  if (path && chmod (path, 0666) < 0)
    {
      int e = errno;
      unlink (path);
      return lympho_error_set_errno (err, e, "listen on %s: chmod", addr);
    }
  if (listen (fd, 64) < 0)
    {
      int e = errno;
      if (path)
        unlink (path);
      return lympho_error_set_errno (err, e, "listen on %s: listen", addr);
    }
  L->listen_fd = fd;
  fd = -1;
  L->addr = xstrdup (addr);
  L->unix_path = path ? xstrdup (path) : NULL;
  L->family = ss.ss_family;
  L->loopback = sockaddr_is_loopback ((struct sockaddr *) &ss);
  L->metrics_auth = !listener_local (L);
  return 0;
}

/* Its MHD daemon, driven from the loop. */
static int
start_listener (struct httpd *h, struct listener *L, lympho_error_t *err)
{
  unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (L->family == AF_INET6 ? MHD_USE_IPv6 : 0);
  /* One Unix socket's callers share no address: the whole limit bounds them. */
  unsigned int per_ip = L->family == AF_UNIX ? 0 : (unsigned int) CONN_PER_IP;
  L->mhd = MHD_start_daemon (flags, 0, NULL, NULL, on_request, L, MHD_OPTION_LISTEN_SOCKET, L->listen_fd,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned int) CONN_LIMIT,
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned int) CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, L,
                             MHD_OPTION_NOTIFY_CONNECTION, on_connection, L, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
                             h, MHD_OPTION_END);
  if (L->mhd == NULL)
    {
      /* MHD may already have closed the socket on its failure path; leave
       * it rather than risk closing a reused fd number. */
      L->listen_fd = -1;
      return lympho_error_set (err, EIO, "listen on %s: libmicrohttpd failed to start", L->addr);
    }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info (L->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  if (info == NULL || info->epoll_fd < 0)
    return lympho_error_set (err, EIO, "listen on %s: libmicrohttpd has no epoll fd", L->addr);
  if (loop_add_fd (h->loop, info->epoll_fd, EPOLLIN, on_ready, L, err) < 0)
    return lympho_error_prefix (err, "listen on %s", L->addr);
  L->epfd = info->epoll_fd;
  return 0;
}

int
httpd_open (struct loop *loop, const char *const *listen, size_t n, const char *token,
            const struct httpd_callbacks *cb, struct httpd **out, lympho_error_t *err)
{
  *out = NULL;
  if (n == 1 && strcmp (listen[0], "none") == 0)
    n = 0;
  if (n == 0)
    return 0;
  if (n > HTTPD_MAX_LISTEN)
    return lympho_error_set (err, EINVAL, "at most %d listen addresses", HTTPD_MAX_LISTEN);
  size_t tlen = strlen (token);
  if (tlen == 0 || tlen > TOKEN_MAX || !token_chars_ok (token))
    return lympho_error_set (err, EINVAL, "bearer token must be 1..%d printable characters", TOKEN_MAX);

  struct httpd *h = xmalloc0 (sizeof *h);
  h->loop = loop;
  h->token = xstrdup (token);
  h->token_len = tlen;
  h->cb = *cb;
  h->deadline_ms = REQUEST_DEADLINE_MS;
  for (size_t i = 0; i < n; i++)
    {
      struct listener *L = &h->ls[i];
      *L = (struct listener) { .h = h, .epfd = -1, .listen_fd = -1 };
      int ret = bind_listener (listen[i], L, err);
      if (ret == 0)
        {
          h->n_ls++;
          ret = start_listener (h, L, err);
        }
      else if (ret == -EINVAL)
        {
          /* A bad address (parse_listen's word) is the caller's: -EINVAL. */
          httpd_close (h);
          return -EINVAL;
        }
      if (ret < 0)
        {
          httpd_close (h);
          return ret;
        }
    }
  drive (h);
  for (size_t i = 0; i < h->n_ls; i++)
    if (h->ls[i].unix_path)
      log_info ("http: listening on %s", h->ls[i].addr);
    else
      log_info ("http: listening on %s (port %d)", h->ls[i].addr, httpd_port_of (&h->ls[i]));
  *out = h;
  return 0;
}

static int
httpd_port_of (const struct listener *L)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (L->listen_fd < 0 || getsockname (L->listen_fd, (struct sockaddr *) &ss, &len) < 0)
    return -1;
  if (ss.ss_family == AF_INET)
    return ntohs (((struct sockaddr_in *) &ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs (((struct sockaddr_in6 *) &ss)->sin6_port);
  return -1;
}

int
httpd_port (struct httpd *h)
{
  for (size_t i = 0; h && i < h->n_ls; i++)
    {
      int p = httpd_port_of (&h->ls[i]);
      if (p >= 0)
        return p;
    }
  return -1;
}

void
httpd_close (struct httpd *h)
{
  if (h == NULL)
    return;
  for (size_t i = 0; i < h->n_ls; i++)
    {
      struct listener *L = &h->ls[i];
      if (L->epfd >= 0)
        loop_del_fd (h->loop, L->epfd);
      if (L->timer)
        loop_cancel_timer (h->loop, L->timer);
      if (L->mhd)
        MHD_stop_daemon (L->mhd); /* closes the listening socket */
      else if (L->listen_fd >= 0)
        close (L->listen_fd);
      if (L->unix_path)
        unlink (L->unix_path);
      free (L->unix_path);
      free (L->addr);
    }
  if (h->deadline_timer)
    loop_cancel_timer (h->loop, h->deadline_timer);
  free (h->conns);
  explicit_bzero (h->token, h->token_len);
  free (h->token);
  free (h);
}
