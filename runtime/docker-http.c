/* lympho — Docker Engine API client on curl multi, driven by struct loop.
 *
 * curl's callbacks (socket, timer, header, write) only record state; user
 * callbacks run afterwards from dispatch(), outside curl, so that they may
 * start or cancel requests freely.
 * May call: libcurl, the loop: a leaf of the Docker backend. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <strings.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/util.h"
#include "docker-http.h"

struct dhttp_req
{
  struct dhttp *h;
  LIST_ENTRY (dhttp_req) link; /* in dhttp.reqs */
  CURL *easy;
  struct curl_slist *headers;
  char *body_out;
  struct buf resp;        /* whole body, or a stream's undelivered part */
  bool stream;
  bool headers_done;      /* final (non-1xx) header block seen */
  bool open_sent;
  bool too_big;
  long status;
  dhttp_done_cb done;
  dhttp_ping_cb ping;     /* instead of done, for dhttp_ping */
  char *api_version;      /* the answer's Api-Version header */
  dhttp_open_cb open;
  dhttp_data_cb data;
  void *ud;
  char errbuf[CURL_ERROR_SIZE];
};

struct dhttp
{
  struct loop *loop;
  CURLM *multi;
  char *base;             /* "http://localhost" */
  char *version;          /* "/v1.44", or "" */
  char *unix_path;        /* NULL for TCP */
  LIST_HEAD (, dhttp_req) reqs;
  uint64_t timer;
  int busy;               /* dispatch depth: frees wait until it is 0 */
  bool closing;
};

static void dispatch (struct dhttp *h);

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

static void
req_free (struct dhttp_req *r)
{
  if (r->easy)
    {
      curl_multi_remove_handle (r->h->multi, r->easy);
      curl_easy_cleanup (r->easy);
    }
  curl_slist_free_all (r->headers);
  free (r->body_out);
  free (r->api_version);
  buf_free (&r->resp);
  free (r);
}

static void
req_unlink (struct dhttp_req *r)
{
  LIST_UNLINK (r, link);
}

void
dhttp_cancel (struct dhttp_req *r)
{
  if (r == NULL)
    return;
  req_unlink (r);
  req_free (r);
}

/* ---- curl -> loop plumbing ---- */

static void
on_fd (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct dhttp *h = ud;
  int mask = 0, running = 0;
  if (events & EPOLLIN)
    mask |= CURL_CSELECT_IN;
  if (events & EPOLLOUT)
    mask |= CURL_CSELECT_OUT;
  if (events & (EPOLLERR | EPOLLHUP))
    mask |= CURL_CSELECT_ERR;
  curl_multi_socket_action (h->multi, fd, mask, &running);
  dispatch (h);
}

static int
sock_cb (CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
  struct dhttp *h = userp;
  lympho_error_t err = { 0 };
  if (what == CURL_POLL_REMOVE)
    {
      if (socketp)
        loop_del_fd (h->loop, s);
      curl_multi_assign (h->multi, s, NULL);
      return 0;
    }
  uint32_t ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    ev |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    ev |= EPOLLOUT;
  if (socketp)
    {
      if (loop_mod_fd (h->loop, s, ev, &err) < 0)
        log_warn ("docker: %s", err.msg);
      return 0;
    }
  if (loop_add_fd (h->loop, s, ev, on_fd, h, &err) < 0)
    {
      log_warn ("docker: %s", err.msg);
      return -1;
    }
  /* Any non-NULL marker: this socket is watched by the loop. */
  curl_multi_assign (h->multi, s, h);
  return 0;
}

static void
on_timer (struct loop *l, void *ud)
{
  struct dhttp *h = ud;
  int running = 0;
  h->timer = 0;
  curl_multi_socket_action (h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  dispatch (h);
}

static int
timer_cb (CURLM *multi, long timeout_ms, void *userp)
{
  struct dhttp *h = userp;
  loop_cancel_timer (h->loop, h->timer);
  h->timer = 0;
  if (timeout_ms >= 0)
    h->timer = loop_add_timer (h->loop, (uint64_t) timeout_ms, on_timer, h);
  return 0;
}

/* ---- per-transfer callbacks: record only ---- */

static size_t
header_cb (char *data, size_t size, size_t n, void *ud)
{
  struct dhttp_req *r = ud;
  size_t len = size * n;
  static const char api[] = "api-version:";
  if (len > sizeof api - 1 && strncasecmp (data, api, sizeof api - 1) == 0)
    {
      /* One per header block; a later block (after a 1xx) replaces it. */
      const char *v = data + sizeof api - 1;
      size_t vl = len - (sizeof api - 1);
      while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
      while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      free (r->api_version);
      r->api_version = xstrndup (v, vl > 32 ? 32 : vl);
    }
  if (len <= 2 && (len == 0 || data[0] == '\r' || data[0] == '\n'))
    {
      long code = 0;
      curl_easy_getinfo (r->easy, CURLINFO_RESPONSE_CODE, &code);
      if (code >= 200)
        {
          r->status = code;
          r->headers_done = true;
        }
    }
  return len;
}

static size_t
write_cb (char *data, size_t size, size_t n, void *ud)
{
  struct dhttp_req *r = ud;
  size_t len = size * n;
  if (r->resp.len + len > DHTTP_MAX_BODY)
    {
      r->too_big = true;
      return 0; /* curl aborts the transfer with a write error */
    }
  buf_append (&r->resp, data, len);
  return len;
}

/* ---- delivering to users ---- */

/* Why a transfer could not connect, from the connect's own errno, and the
 * errno to report: EACCES where lymphd's user may not, else ECONNREFUSED.
 * NULL for an errno without a cause worth naming. */
static const char *
connect_cause (long os_errno, int *report)
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
    default:
      return NULL;
    }
}

static int
curl_errno (CURLcode rc)
{
  switch (rc)
    {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
      return ETIMEDOUT;
    default:
      return EIO;
    }
}

/* Deliver a stream's open notice and pending data. Returns false when the
 * request is gone (cancelled by its callback, or the client is closing). */
/* After a callback that may have cancelled r (or closed everything): is r
 * still one of ours? */
static bool
req_alive (struct dhttp *h, const struct dhttp_req *r)
{
  if (h->closing)
    return false;
  struct dhttp_req *q;
  LIST_FOREACH (q, &h->reqs, link)
    if (q == r)
      return true;
  return false;
}

static bool
stream_flush (struct dhttp *h, struct dhttp_req *r)
{
  if (!r->headers_done)
    return true;
  if (!r->open_sent)
    {
      r->open_sent = true;
      if (r->open)
        {
          /* The callback may cancel r: detect it by looking it up again. */
          r->open (r->ud, r->status);
          if (!req_alive (h, r))
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
      return req_alive (h, r);
    }
  return true;
}

static void
really_free (struct dhttp *h)
{
  while (!LIST_EMPTY (&h->reqs))
    dhttp_cancel (LIST_FIRST (&h->reqs));
  curl_multi_cleanup (h->multi);
  loop_cancel_timer (h->loop, h->timer);
  free (h->base);
  free (h->version);
  free (h->unix_path);
  free (h);
}

static void
dispatch (struct dhttp *h)
{
  h->busy++;
  /* Streams first: data that arrived before a transfer ended is delivered
   * before its end. Restart the walk after each callback, which may have
   * changed the list. */
  bool again = true;
  while (again && !h->closing)
    {
      again = false;
      struct dhttp_req *r;
      LIST_FOREACH (r, &h->reqs, link)
        if (r->stream && r->headers_done && (!r->open_sent || (r->status == 200 && r->resp.len > 0)))
          {
            stream_flush (h, r);
            again = true;
            break;
          }
    }

  CURLMsg *msg;
  int left;
  while (!h->closing && (msg = curl_multi_info_read (h->multi, &left)) != NULL)
    {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct dhttp_req *r = NULL;
      curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
      CURLcode rc = msg->data.result;
      if (r->stream && !stream_flush (h, r))
        continue;
      req_unlink (r);
      lympho_error_t err = { 0 };
      int ret = 0;
      if (r->too_big)
        ret = lympho_error_set (&err, EFBIG, "engine answer larger than %u bytes", DHTTP_MAX_BODY);
      else if (rc != CURLE_OK && !(r->stream && r->headers_done))
        {
          long os_errno = 0;
          int report = 0;
          const char *cause = NULL;
          if (rc == CURLE_COULDNT_CONNECT && curl_easy_getinfo (r->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK)
            cause = connect_cause (os_errno, &report);
          if (cause && h->unix_path)
            ret = lympho_error_set (&err, report, "engine at %s: %s", h->unix_path, cause);
          else
            ret = lympho_error_set (&err, curl_errno (rc), "engine: %s",
                                    r->errbuf[0] ? r->errbuf : curl_easy_strerror (rc));
        }
      else if (rc != CURLE_OK || r->stream)
        /* A stream always ends in failure: the engine went away. */
        ret = lympho_error_set (&err, EIO, "engine stream ended: %s",
                                rc != CURLE_OK ? (r->errbuf[0] ? r->errbuf : curl_easy_strerror (rc)) : "EOF");
      if (r->status == 0 && ret == 0)
        curl_easy_getinfo (r->easy, CURLINFO_RESPONSE_CODE, &r->status);
      if (r->stream && r->status != 200 && r->headers_done && rc == CURLE_OK)
        ret = 0; /* let the caller map the engine's status */
      if (log_get_level () >= LOG_LVL_DEBUG)
        {
          char *url = NULL;
          curl_easy_getinfo (r->easy, CURLINFO_EFFECTIVE_URL, &url);
          log_debug ("docker: %s -> %ld%s%s", url ? url : "?", r->status, ret < 0 ? ": " : "", ret < 0 ? err.msg : "");
        }
      if (r->ping)
        r->ping (r->ud, ret, ret < 0 ? &err : NULL, r->status, r->api_version, r->resp.data ? r->resp.data : "",
                 r->resp.len);
      else
        r->done (r->ud, ret, ret < 0 ? &err : NULL, r->status, r->resp.data ? r->resp.data : "", r->resp.len);
      req_free (r);
    }
  h->busy--;
  if (h->closing && h->busy == 0)
    really_free (h);
}

/* ---- public ---- */

int
dhttp_new (struct loop *loop, const char *endpoint, struct dhttp **out, lympho_error_t *err)
{
  static bool global_done;
  if (!global_done)
    {
      if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return lympho_error_set (err, EIO, "curl_global_init failed");
      global_done = true;
    }
  cleanup_free char *unix_path = NULL;
  cleanup_free char *base = NULL;
  if (str_has_prefix (endpoint, "unix://"))
    unix_path = xstrdup (endpoint + strlen ("unix://"));
  else if (endpoint[0] == '/')
    unix_path = xstrdup (endpoint);
  else if (str_has_prefix (endpoint, "tcp://") || str_has_prefix (endpoint, "http://"))
    {
      const char *hp = strstr (endpoint, "://") + 3;
      size_t n = strcspn (hp, "/");
      if (n == 0)
        return lympho_error_set (err, EINVAL, "docker host %s: no host", endpoint);
      base = xasprintf ("http://%.*s", (int) n, hp);
    }
  else
    return lympho_error_set (err, EINVAL, "docker host %s: expected unix:// or tcp://", endpoint);
  if (unix_path && unix_path[0] != '/')
    return lympho_error_set (err, EINVAL, "docker host %s: socket path must be absolute", endpoint);
  if (unix_path)
    base = xstrdup ("http://localhost");

  CURLM *multi = curl_multi_init ();
  if (multi == NULL)
    return lympho_error_set (err, ENOMEM, "curl_multi_init failed");
  struct dhttp *h = xmalloc0 (sizeof *h);
  h->loop = loop;
  h->multi = multi;
  h->base = steal_pointer (&base);
  h->version = xstrdup ("");
  h->unix_path = steal_pointer (&unix_path);
  curl_multi_setopt (multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt (multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt (multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt (multi, CURLMOPT_TIMERDATA, h);
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
       * rest when dispatch() unwinds. */
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
  r->stream = stream;
  r->open = open;
  r->data = data;
  r->done = done;
  r->ud = ud;
  buf_init (&r->resp);
  r->easy = curl_easy_init ();
  if (r->easy == NULL)
    abort (); /* allocation failure */
  cleanup_free char *url = xasprintf ("%s%s%s", h->base, unversioned ? "" : h->version, path_query);
  CURL *e = r->easy;
  curl_easy_setopt (e, CURLOPT_URL, url);
  if (h->unix_path)
    curl_easy_setopt (e, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
  curl_easy_setopt (e, CURLOPT_PRIVATE, r);
  curl_easy_setopt (e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt (e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (timeout_ms > 0)
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, timeout_ms);
  r->headers = curl_slist_append (r->headers, "Expect:");
  if (body)
    {
      r->body_out = xstrdup (body);
      r->headers = curl_slist_append (r->headers, "Content-Type: application/json");
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, r->body_out);
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, (long) strlen (r->body_out));
    }
  else if (strcmp (method, "POST") == 0)
    {
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, 0L);
    }
  if (strcmp (method, "GET") != 0 && strcmp (method, "POST") != 0)
    curl_easy_setopt (e, CURLOPT_CUSTOMREQUEST, method);
  else if (strcmp (method, "POST") == 0)
    curl_easy_setopt (e, CURLOPT_POST, 1L);
  curl_easy_setopt (e, CURLOPT_HTTPHEADER, r->headers);

  LIST_INSERT_HEAD (&h->reqs, r, link);
  /* Never runs the transfer here: curl only asks for a timer, so the
   * callback comes from the loop, after we have returned. */
  CURLMcode mc = curl_multi_add_handle (h->multi, e);
  if (mc != CURLM_OK)
    {
      /* Only on misuse or allocation failure; nothing sane to report later. */
      log_error ("docker: curl_multi_add_handle: %s", curl_multi_strerror (mc));
      abort ();
    }
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
