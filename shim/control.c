/* lympho — the control socket (OpenSMTPD control.c is the model).
 *
 * Everything runs on the daemon's loop: the listener and every connection are
 * non-blocking fds, idle connections are reaped by a timer. A connection
 * carries a FIFO of requests; replies leave in request order, so a deferred
 * answer (regen) holds back the replies queued behind it. A request outlives
 * its connection: when the client goes away, unanswered requests move to an
 * orphan list and their answer is dropped.
 * May call: proto (the wire format), the loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lympho/control.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/proto.h"
#include "lympho/util.h"

#define CONTROL_MAX_CONN 256
#define CONTROL_MAX_CONN_PER_UID 16
/* Root's scripts may fan out more, but still not without bound. */
#define CONTROL_MAX_CONN_ROOT 64
/* Requests a connection may have in flight before we stop reading from it. */
#define CONTROL_MAX_PENDING 32
#define CONTROL_READ_CHUNK 65536
#define CONTROL_ACCEPT_PAUSE_MS 1000
/* Replies waiting for a peer that does not read: past this, no more of its
 * requests are read (nor answered) until it reads. */
#define CONTROL_MAX_OUT 65536
/* Slots only root may take: users of the group cannot lock root out. */
#define CONTROL_ROOT_RESERVED 16
/* The group's id is looked up again at most this often (it may be created
 * after lymphd starts), never per request. */
#define CONTROL_GROUP_TTL_MS 60000
/* Refusals are logged at most once in this long, with how many were not. */
#define CONTROL_REFUSAL_LOG_MS 10000

struct conn;

struct control_request
{
  struct control *c;
  struct conn *conn;             /* NULL once the client went away */
  TAILQ_ENTRY (control_request) link; /* in its connection's FIFO, or the orphans */
  char *reply;                   /* the encoded answer, once there is one */
  uid_t uid;
};

struct conn
{
  struct control *c;
  LIST_ENTRY (conn) link; /* in control.conns */
  int fd;
  struct ucred cred;
  struct buf in;
  size_t in_off;
  struct buf out;
  size_t out_off;
  TAILQ_HEAD (, control_request) requests; /* oldest first: replies go out in order */
  size_t unanswered;
  bool eof;      /* the client sent its last byte */
  bool closing;  /* no more requests: close once everything is answered and sent */
  bool stream;   /* answered; now carries event lines (control_reply_stream) */
  char *stream_name; /* the one name it wants; NULL: all */
  uint64_t dropped;  /* events it had no room for, not said yet */
  uint32_t events;
  uint64_t timer;
  uint64_t last_activity;
};

struct control
{
  struct loop *loop;
  int fd;
  char *path;
  dev_t dev;
  ino_t ino;
  control_handler handler;
  void *ud;
  LIST_HEAD (, conn) conns;
  size_t nconns;
  size_t nstreams;
  TAILQ_HEAD (, control_request) orphans; /* their client went away */
  char *group;
  uint64_t idle_ms;
  uint64_t accept_timer;
  gid_t gid;              /* the group's, when gid_known */
  bool gid_known;
  uint64_t gid_checked_ms; /* when the group was last looked up; 0: never */
  struct rate_limit refusals; /* their log lines */
};

static void conn_update_events (struct conn *k);

/* --- authorisation ----------------------------------------------------- */

static bool
gid_in_list (gid_t gid, const gid_t *list, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (list[i] == gid)
      return true;
  return false;
}

/* The supplementary groups of the peer process, from /proc. Returns 1 when
 * `gid` is among them, 0 when not, -1 when /proc cannot tell (the process
 * is gone, or the pid now names someone else). */
static int
proc_has_group (const struct ucred *cr, gid_t gid)
{
  if (cr->pid <= 0)
    return -1;
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/status", (int) cr->pid);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_file (path, 65536, &text, &len, NULL) < 0)
    return -1;
  bool uid_ok = false, gid_ok = false;
  int found = -1;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      unsigned long real, eff;
      if (sscanf (line, "Uid: %lu %lu", &real, &eff) == 2)
        uid_ok = eff == (unsigned long) cr->uid;
      else if (sscanf (line, "Gid: %lu %lu", &real, &eff) == 2)
        gid_ok = eff == (unsigned long) cr->gid;
      else if (str_has_prefix (line, "Groups:"))
        {
          found = 0;
          char *p = line + strlen ("Groups:");
          for (;;)
            {
              char *end;
              while (*p == ' ' || *p == '\t')
                p++;
              if (*p < '0' || *p > '9')
                break;
              unsigned long g = strtoul (p, &end, 10);
              if (g == (unsigned long) gid)
                found = 1;
              p = end;
            }
        }
    }
  /* SO_PEERCRED is from connect time; trust /proc only while it still
   * describes the same identity. */
  if (!uid_ok || !gid_ok)
    return -1;
  return found;
}

static bool
passwd_has_group (uid_t uid, gid_t gid)
{
  struct passwd *pw = getpwuid (uid);
  if (pw == NULL)
    return false;
  int n = 64;
  for (int tries = 0; tries < 4; tries++)
    {
      cleanup_free gid_t *groups = xmalloc ((size_t) n * sizeof *groups);
      int want = n;
      if (getgrouplist (pw->pw_name, pw->pw_gid, groups, &want) >= 0)
        return gid_in_list (gid, groups, (size_t) want);
      n = want > n ? want : n * 2;
    }
  return false;
}

/* The group's id, looked up at most every CONTROL_GROUP_TTL_MS: the admin
 * may create the group after lymphd starts, and a lookup may block (LDAP,
 * SSSD), so it is not done for every connection. */
static bool
group_gid (struct control *c, gid_t *gid)
{
  uint64_t now = now_mono_ms ();
  if (c->gid_checked_ms == 0 || now - c->gid_checked_ms >= CONTROL_GROUP_TTL_MS)
    {
      struct group *gr = getgrnam (c->group);
      c->gid_known = gr != NULL;
      if (gr)
        c->gid = gr->gr_gid;
      c->gid_checked_ms = now ? now : 1;
    }
  *gid = c->gid;
  return c->gid_known;
}

/* The peer's supplementary groups as the kernel recorded them at connect
 * (SO_PEERGROUPS): 1 when gid is among them, 0 when not, -1 when the
 * kernel cannot tell. */
static int
peer_groups_have (int fd, gid_t gid)
{
#ifdef SO_PEERGROUPS
  gid_t groups[256];
  socklen_t len = sizeof groups;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
    return gid_in_list (gid, groups, len / sizeof groups[0]) ? 1 : 0;
#else
  (void) fd;
  (void) gid;
#endif
  return -1;
}

static bool
peer_allowed (struct control *c, int fd, const struct ucred *cr)
{
  if (cr->uid == 0)
    return true;
  gid_t gid;
  if (!group_gid (c, &gid))
    return false;
  if (cr->gid == gid)
    return true;
  int r = peer_groups_have (fd, gid);
  if (r >= 0)
    return r == 1;
  r = proc_has_group (cr, gid);
  if (r >= 0)
    return r == 1;
  return passwd_has_group (cr->uid, gid);
}

/* One warn line per CONTROL_REFUSAL_LOG_MS at most. */
static void
log_refusal (struct control *c, const char *what)
{
  log_refusal_limited (&c->refusals, CONTROL_REFUSAL_LOG_MS, "control", what);
}

/* --- requests and replies ---------------------------------------------- */

static void
request_free (struct control_request *r)
{
  free (r->reply);
  free (r);
}

/* Move the answered requests at the head of the FIFO to the output. */
static void
conn_collect_replies (struct conn *k)
{
  struct control_request *r;
  while ((r = TAILQ_FIRST (&k->requests)) != NULL && r->reply)
    {
      TAILQ_REMOVE (&k->requests, r, link);
      buf_appends (&k->out, r->reply);
      request_free (r);
    }
}

static void
reply_line (struct control_request *req, char *line)
{
  struct conn *k = req->conn;
  if (k == NULL)
    {
      /* The client left; the answer has nobody to go to. */
      TAILQ_REMOVE (&req->c->orphans, req, link);
      free (line);
      request_free (req);
      return;
    }
  if (req->reply)
    {
      log_error ("control: a request was answered twice; the second answer is dropped");
      free (line);
      return;
    }
  req->reply = line;
  k->unanswered--;
  k->last_activity = now_mono_ms ();
  conn_collect_replies (k);
  /* Sent from the connection's own callback, never from here: the caller
   * may be in the middle of that connection's dispatch. */
  conn_update_events (k);
}

void
control_reply_ok (struct control_request *req, const char *result_json)
{
  reply_line (req, proto_reply_ok (result_json));
}

void
control_reply_error (struct control_request *req, int status, const char *msg)
{
  reply_line (req, proto_reply_error (status, msg));
}

void
control_reply_stream (struct control_request *req, const char *result_json, const char *name)
{
  struct conn *k = req->conn;
  /* Only the head of its FIFO can become a stream: nothing may be queued
   * behind it, as nothing more is read. */
  bool alone = k && TAILQ_FIRST (&k->requests) == req && TAILQ_NEXT (req, link) == NULL;
  reply_line (req, proto_reply_ok (result_json));
  if (!alone || k->closing || k->stream)
    return;
  k->stream = true;
  k->stream_name = name ? xstrdup (name) : NULL;
  k->c->nstreams++;
  conn_update_events (k);
}

/* Appends a line for k's reader, or counts it when k holds too much. */
static void
stream_push (struct conn *k, const char *line)
{
  if (k->out.len - k->out_off + strlen (line) > CONTROL_MAX_OUT)
    {
      k->dropped++;
      return;
    }
  if (k->dropped)
    {
      cleanup_free char *ev = xasprintf ("{\"time\":%llu,\"kind\":\"dropped\",\"count\":%llu}",
                                         (unsigned long long) now_real_ms (), (unsigned long long) k->dropped);
      cleanup_free char *d = proto_event_line (ev);
      buf_appends (&k->out, d);
      k->dropped = 0;
    }
  buf_appends (&k->out, line);
  conn_update_events (k);
}

void
control_broadcast (struct control *c, const char *name, const char *event_json)
{
  if (c == NULL || c->nstreams == 0)
    return;
  cleanup_free char *line = proto_event_line (event_json);
  struct conn *k;
  LIST_FOREACH (k, &c->conns, link)
    if (k->stream && !k->eof && (k->stream_name == NULL || (name && strcmp (k->stream_name, name) == 0)))
      stream_push (k, line);
}

size_t
control_streams (const struct control *c)
{
  return c ? c->nstreams : 0;
}

uid_t
control_request_uid (const struct control_request *req)
{
  return req->uid;
}

static struct control_request *
conn_push_request (struct conn *k)
{
  struct control_request *r = xmalloc0 (sizeof *r);
  r->c = k->c;
  r->conn = k;
  r->uid = k->cred.uid;
  TAILQ_INSERT_TAIL (&k->requests, r, link);
  k->unanswered++;
  return r;
}

/* --- connections ------------------------------------------------------- */

/* A whole request line waits in the input buffer. */
static bool
conn_has_line (const struct conn *k)
{
  return k->in.len > k->in_off && memchr (k->in.data + k->in_off, '\n', k->in.len - k->in_off) != NULL;
}

/* It may be handed another line now: nothing bounds it. */
static bool
conn_can_take (const struct conn *k)
{
  return !k->closing && !k->stream && k->unanswered < CONTROL_MAX_PENDING && k->out.len - k->out_off < CONTROL_MAX_OUT;
}

static void
conn_update_events (struct conn *k)
{
  uint32_t want = 0;
  /* Read only when no whole line waits: the buffer holds at most one
   * line being received and one read. */
  if (!k->eof && conn_can_take (k) && !conn_has_line (k))
    want |= EPOLLIN;
  /* A stream reads only to learn that its client went away. */
  if (k->stream && !k->eof)
    want |= EPOLLIN;
  if (k->out.len > k->out_off)
    want |= EPOLLOUT;
  if (want == k->events)
    return;
  lympho_error_t err = { 0 };
  if (loop_mod_fd (k->c->loop, k->fd, want, &err) < 0)
    log_error ("control: %s", err.msg);
  else
    k->events = want;
}

static void
conn_close (struct conn *k)
{
  struct control *c = k->c;
  LIST_REMOVE (k, link);
  c->nconns--;
  if (k->stream)
    c->nstreams--;
  free (k->stream_name);
  loop_del_fd (c->loop, k->fd);
  close (k->fd);
  loop_cancel_timer (c->loop, k->timer);
  struct control_request *r;
  while ((r = TAILQ_FIRST (&k->requests)) != NULL)
    {
      TAILQ_REMOVE (&k->requests, r, link);
      if (r->reply)
        request_free (r);
      else
        {
          r->conn = NULL;
          TAILQ_INSERT_TAIL (&c->orphans, r, link);
        }
    }
  buf_free (&k->in);
  buf_free (&k->out);
  free (k);
}

/* Write what we can. Returns -1 when the peer is gone. */
static int
conn_flush (struct conn *k)
{
  while (k->out.len > k->out_off)
    {
      ssize_t n = send (k->fd, k->out.data + k->out_off, k->out.len - k->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
      if (n < 0)
        return -1;
      k->out_off += (size_t) n;
      k->last_activity = now_mono_ms ();
    }
  buf_reset (&k->out);
  k->out_off = 0;
  return 0;
}

/* A reply that is not the answer to a handled request (malformed line, too
 * long, refused) still takes its place in the FIFO, so order holds. */
static void
conn_refuse (struct conn *k, int status, const char *msg)
{
  struct control_request *r = conn_push_request (k);
  control_reply_error (r, status, msg);
}

static void
conn_dispatch (struct conn *k, const char *line, size_t len)
{
  struct control *c = k->c;
  k->last_activity = now_mono_ms ();
  cleanup_json json_val tree = NULL;
  const char *cmd = NULL;
  json_val args = NULL;
  lympho_error_t err = { 0 };
  if (proto_request_decode (line, len, &tree, &cmd, &args, &err) < 0)
    {
      log_debug ("control: bad request from uid %u: %s", (unsigned) k->cred.uid, err.msg);
      conn_refuse (k, err.status, err.msg);
      return;
    }
  log_debug ("control: uid %u pid %d: %s", (unsigned) k->cred.uid, (int) k->cred.pid, cmd);
  struct control_request *r = conn_push_request (k);
  c->handler (c->ud, r, cmd, args);
}

static void
conn_process_lines (struct conn *k)
{
  while (conn_can_take (k))
    {
      char *start = k->in.data + k->in_off;
      size_t avail = k->in.len - k->in_off;
      char *nl = avail > 0 ? memchr (start, '\n', avail) : NULL;
      size_t len = nl ? (size_t) (nl - start) : avail;
      if (len >= PROTO_MAX_LINE)
        {
          cleanup_free char *msg = xasprintf ("request line too long (at most %d bytes)", PROTO_MAX_LINE);
          conn_refuse (k, EMSGSIZE, msg);
          k->closing = true;
          break;
        }
      if (nl == NULL)
        {
          if (k->eof && avail > 0)
            {
              conn_refuse (k, EINVAL, "incomplete request: the connection ended before the end of line");
              k->closing = true;
            }
          break;
        }
      k->in_off += len + 1;
      conn_dispatch (k, start, len);
    }
  /* Compact, so the buffer holds at most one line plus one read. */
  if (k->in_off > 0)
    {
      memmove (k->in.data, k->in.data + k->in_off, k->in.len - k->in_off);
      k->in.len -= k->in_off;
      k->in.data[k->in.len] = '\0';
      k->in_off = 0;
    }
  if (k->eof)
    k->closing = true;
}

/* Reads one chunk. Returns -1 when the connection is broken. */
static int
conn_read (struct conn *k)
{
  char chunk[CONTROL_READ_CHUNK];
  ssize_t n;
  do
    n = read (k->fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  if (n == 0)
    k->eof = true;
  else
    buf_append (&k->in, chunk, (size_t) n);
  return 0;
}

static void
conn_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct conn *k = ud;
  if (events & EPOLLERR)
    goto gone;
  if ((events & EPOLLOUT) && conn_flush (k) < 0)
    goto gone;
  if (k->stream)
    {
      /* What a stream's client sends is not read as requests: dropped. */
      if ((events & (EPOLLIN | EPOLLHUP)) && (conn_read (k) < 0 || k->eof))
        goto gone;
      buf_reset (&k->in);
      k->in_off = 0;
      if (conn_flush (k) < 0)
        goto gone;
      conn_update_events (k);
      return;
    }
  if ((events & (EPOLLIN | EPOLLHUP)) && !k->eof && !k->closing && conn_read (k) < 0)
    goto gone;
  conn_process_lines (k);
  if (events & EPOLLHUP)
    goto gone;
  if (conn_flush (k) < 0)
    goto gone;
  /* Replies went out and made room: the lines already read go on now, as
   * no event of the socket will come for them. Each turn either answers
   * lines or fills the output to its bound (then EPOLLOUT resumes it). */
  while (conn_has_line (k) && conn_can_take (k))
    {
      conn_process_lines (k);
      if (conn_flush (k) < 0)
        goto gone;
    }
  if (k->closing && TAILQ_EMPTY (&k->requests) && k->out.len == 0)
    {
      conn_close (k);
      return;
    }
  conn_update_events (k);
  return;

gone:
  /* The peer is gone: its unanswered requests become orphans. */
  conn_close (k);
}

static void
conn_timer_cb (struct loop *l, void *ud)
{
  struct conn *k = ud;
  struct control *c = k->c;
  k->timer = 0;
  uint64_t now = now_mono_ms ();
  uint64_t idle = now - k->last_activity;
  /* A client waiting for a deferred answer is not idle, nor one that
   * follows events. */
  if (k->unanswered > 0 || k->stream)
    k->timer = loop_add_timer (l, c->idle_ms, conn_timer_cb, k);
  else if (idle >= c->idle_ms)
    {
      log_debug ("control: closing idle connection of uid %u", (unsigned) k->cred.uid);
      conn_close (k);
    }
  else
    k->timer = loop_add_timer (l, c->idle_ms - idle, conn_timer_cb, k);
}

/* --- the listener -------------------------------------------------------- */

static void
refuse_connection (int fd, int status, const char *msg)
{
  cleanup_free char *line = proto_reply_error (status, msg);
  /* A fresh socket has room for one short line; if not, the close says it. */
  if (send (fd, line, strlen (line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    log_debug ("control: could not send a refusal: %s", strerror (errno));
  close (fd);
}

static size_t
conns_of_uid (struct control *c, uid_t uid)
{
  size_t n = 0;
  struct conn *k;
  LIST_FOREACH (k, &c->conns, link)
    if (k->cred.uid == uid)
      n++;
  return n;
}

static void accept_cb (struct loop *l, int fd, uint32_t events, void *ud);

static void
accept_resume_cb (struct loop *l, void *ud)
{
  struct control *c = ud;
  c->accept_timer = 0;
  lympho_error_t err = { 0 };
  if (loop_mod_fd (l, c->fd, EPOLLIN, &err) < 0)
    log_error ("control: %s", err.msg);
}

static void
accept_one (struct control *c, int fd)
{
  struct ucred cred;
  socklen_t sl = sizeof cred;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
    {
      log_warn ("control: SO_PEERCRED: %s", strerror (errno));
      close (fd);
      return;
    }
  /* Who may act is decided once, here: a peer that may not gets one
   * reply and the close, and holds nothing of lymphd's. */
  if (!peer_allowed (c, fd, &cred))
    {
      cleanup_free char *msg = xasprintf ("permission denied: uid %u is neither root nor in group %s",
                                          (unsigned) cred.uid, c->group);
      cleanup_free char *what = xasprintf ("refused a connection from uid %u pid %d: not root and not in group %s",
                                           (unsigned) cred.uid, (int) cred.pid, c->group);
      log_refusal (c, what);
      refuse_connection (fd, EPERM, msg);
      return;
    }
  size_t cap = cred.uid == 0 ? CONTROL_MAX_CONN_ROOT : CONTROL_MAX_CONN_PER_UID;
  size_t all = cred.uid == 0 ? CONTROL_MAX_CONN : CONTROL_MAX_CONN - CONTROL_ROOT_RESERVED;
  if (c->nconns >= all || conns_of_uid (c, cred.uid) >= cap)
    {
      cleanup_free char *msg = xasprintf ("too many control connections%s%u; try again later",
                                          c->nconns >= all ? " (all users); uid " : " from uid ", (unsigned) cred.uid);
      log_refusal (c, msg);
      refuse_connection (fd, EAGAIN, msg);
      return;
    }
  struct conn *k = xmalloc0 (sizeof *k);
  TAILQ_INIT (&k->requests);
  k->c = c;
  k->fd = fd;
  k->cred = cred;
  buf_init (&k->in);
  buf_init (&k->out);
  k->events = EPOLLIN;
  k->last_activity = now_mono_ms ();
  lympho_error_t err = { 0 };
  if (loop_add_fd (c->loop, fd, EPOLLIN, conn_cb, k, &err) < 0)
    {
      log_error ("control: %s", err.msg);
      buf_free (&k->in);
      buf_free (&k->out);
      free (k);
      close (fd);
      return;
    }
  k->timer = loop_add_timer (c->loop, c->idle_ms, conn_timer_cb, k);
  LIST_INSERT_HEAD (&c->conns, k, link);
  c->nconns++;
}

static void
accept_cb (struct loop *l, int lfd, uint32_t events, void *ud)
{
  struct control *c = ud;
  /* A bounded batch, so a flood cannot hold the loop. */
  for (int i = 0; i < 32; i++)
    {
      int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0)
        {
          accept_one (c, fd);
          continue;
        }
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        {
          /* Level-triggered: retrying now would spin. Pause a moment. */
          log_warn ("control: accept: %s; pausing new connections", strerror (errno));
          lympho_error_t err = { 0 };
          if (loop_mod_fd (l, lfd, 0, &err) < 0)
            log_error ("control: %s", err.msg);
          if (c->accept_timer == 0)
            c->accept_timer = loop_add_timer (l, CONTROL_ACCEPT_PAUSE_MS, accept_resume_cb, c);
        }
      else if (errno != EAGAIN && errno != EWOULDBLOCK)
        log_warn ("control: accept: %s", strerror (errno));
      return;
    }
}

static int
ensure_parent (const char *path, lympho_error_t *err)
{
  cleanup_free char *copy = xstrdup (path);
  const char *dir = dirname (copy);
  struct stat st;
  if (stat (dir, &st) == 0)
    return 0;
  if (errno != ENOENT)
    return lympho_error_set_errno (err, errno, "stat `%s`", dir);
  int ret = mkdir_p (dir, 0755, err);
  if (ret < 0)
    return ret;
  /* The daemon runs under umask 077; peers must reach the socket to be told
   * whether they may act. */
  if (chmod (dir, 0755) < 0)
    return lympho_error_set_errno (err, errno, "chmod `%s`", dir);
  return 0;
}

static int
bind_listener (struct control *c, lympho_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  memcpy (sa.sun_path, c->path, strlen (c->path) + 1);
  c->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return lympho_error_set_errno (err, errno, "socket");
  /* No window in which the socket exists with looser permissions. */
  mode_t old = umask (077);
  int r = bind (c->fd, (struct sockaddr *) &sa, sizeof sa);
  int e = errno;
  umask (old);
  if (r < 0)
    return lympho_error_set_errno (err, e, "bind `%s`", c->path);
  struct stat st;
  if (stat (c->path, &st) < 0)
    return lympho_error_set_errno (err, errno, "stat `%s`", c->path);
  c->dev = st.st_dev;
  c->ino = st.st_ino;
  /* Authorisation is by peer credentials on every request: anyone may
   * connect and get a clear answer. */
  if (chmod (c->path, 0666) < 0)
    return lympho_error_set_errno (err, errno, "chmod `%s`", c->path);
  if (listen (c->fd, 128) < 0)
    return lympho_error_set_errno (err, errno, "listen `%s`", c->path);
  return 0;
}

/* Unlink the path only while it is still our socket. */
static void
unlink_own (struct control *c)
{
  struct stat st;
  if (c->ino != 0 && lstat (c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
    unlink (c->path);
}

int
control_open (struct loop *loop, const char *path, control_handler handler, void *ud, struct control **out,
              lympho_error_t *err)
{
  *out = NULL;
  struct sockaddr_un sa;
  if (path == NULL || path[0] == '\0')
    return lympho_error_set (err, EINVAL, "control socket: empty path");
  if (strlen (path) >= sizeof sa.sun_path)
    return lympho_error_set (err, ENAMETOOLONG, "control socket `%s`: path longer than %zu bytes", path,
                             sizeof sa.sun_path - 1);
  bool removed = false;
  int ret = unix_path_claim (path, &removed, err);
  if (ret == -EADDRINUSE)
    lympho_error_set (err, EADDRINUSE, "another lymphd is running on %s", path);
  if (removed)
    log_info ("control: removed stale socket %s", path);
  if (ret < 0)
    return ret;
  if ((ret = ensure_parent (path, err)) < 0)
    return lympho_error_prefix (err, "control socket");
  struct control *c = xmalloc0 (sizeof *c);
  TAILQ_INIT (&c->orphans);
  c->loop = loop;
  c->fd = -1;
  c->path = xstrdup (path);
  c->handler = handler;
  c->ud = ud;
  c->group = xstrdup (CONTROL_GROUP);
  c->idle_ms = CONTROL_IDLE_TIMEOUT_MS;
  if ((ret = bind_listener (c, err)) < 0 || (ret = loop_add_fd (loop, c->fd, EPOLLIN, accept_cb, c, err)) < 0)
    {
      if (c->fd >= 0)
        close (c->fd);
      unlink_own (c);
      free (c->group);
      free (c->path);
      free (c);
      return ret;
    }
  log_debug ("control: listening on %s", path);
  *out = c;
  return 0;
}

void
control_set_group (struct control *c, const char *group)
{
  free (c->group);
  c->group = xstrdup (group);
  c->gid_checked_ms = 0; /* looked up at the next connection */
}

void
control_set_idle_timeout (struct control *c, unsigned ms)
{
  c->idle_ms = ms;
}

void
control_close (struct control *c)
{
  if (c == NULL)
    return;
  loop_del_fd (c->loop, c->fd);
  close (c->fd);
  loop_cancel_timer (c->loop, c->accept_timer);
  while (!LIST_EMPTY (&c->conns))
    {
      struct conn *k = LIST_FIRST (&c->conns);
      struct control_request *r;
      TAILQ_FOREACH (r, &k->requests, link)
        if (r->reply == NULL)
          {
            r->reply = proto_reply_error (ECANCELED, "daemon shutting down");
            k->unanswered--;
          }
      conn_collect_replies (k);
      /* Best effort: the loop will not turn again for this connection. */
      if (conn_flush (k) < 0)
        log_debug ("control: could not send the last replies to uid %u", (unsigned) k->cred.uid);
      conn_close (k);
    }
  /* Their clients are gone; nobody is left to tell. */
  struct control_request *r;
  while ((r = TAILQ_FIRST (&c->orphans)) != NULL)
    {
      TAILQ_REMOVE (&c->orphans, r, link);
      request_free (r);
    }
  unlink_own (c);
  free (c->group);
  free (c->path);
  free (c);
}
