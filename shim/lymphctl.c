/* lymphctl — the command-line client of lymphd. It only speaks the control
 * protocol over the Unix socket: one request, one reply, then prints it for a
 * human or (--json) as the daemon's JSON; `events --follow` then prints the
 * event lines that follow the reply until lymphd stops or Ctrl-C. Exit: 0
 * success, 1 failure, 2 usage.
 * May call: proto (the wire format); never libshim's daemon. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "lympho/json.h"
#include "lympho/proto.h"
#include "lympho/util.h"

#define DEFAULT_SOCKET "/run/lympho/lymphd.sock"
#define CONNECT_TIMEOUT_S 5
/* Everything but regen answers at once; regen waits for the new generation. */
#define REPLY_TIMEOUT_S 60
#define HISTORY_LIMIT 1000

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
  "Usage: lymphctl [--socket PATH] [--json] COMMAND\n"
  "\n"
  "Commands:\n"
  "  status                         daemon version, uptime, runtime, counts\n"
  "  ls                             protected containers\n"
  "  regen NAME [--reason TEXT]     regenerate now; waits until done, prints the new id\n"
  "  alert NAME --severity N [--reason TEXT]\n"
  "                                 report an incident (severity 0..10)\n"
  "  history [NAME]                 past regenerations and incidents, newest first\n"
  "  events [--follow] [NAME]       the history as it happens: the last 20 entries,\n"
  "                                 then (--follow) each entry and each step of a\n"
  "                                 regeneration as it comes, until Ctrl-C or lymphd stops\n"
  "\n"
  "Options:\n"
  "  --socket PATH   control socket (default $LYMPHO_SOCKET, else " DEFAULT_SOCKET ")\n"
  "  --json          print the daemon's answer as JSON (events: one object a line)\n"
  "  --help          show this help\n"
  "  --version       show the version\n";

static int __attribute__ ((noreturn)) LYMPHO_PRINTF (1, 2)
usage_error (const char *fmt, ...)
{
  va_list ap;
  fputs ("lymphctl: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputs ("\nTry 'lymphctl --help' for more information.\n", stderr);
  exit (EXIT_USAGE);
}

/* Every line of text mode is written through here: what lymphd sends
 * carries names, paths and reasons an intruder chose, and a control
 * character among them would drive the reader's terminal. Each is shown as
 * \xNN, malformed UTF-8 too (util: text_escape). */
static void LYMPHO_PRINTF (2, 3)
print_line (FILE *f, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *line = xvasprintf (fmt, ap);
  va_end (ap);
  cleanup_free char *shown = text_escape_dup (line);
  fprintf (f, "%s\n", shown);
}

static int
fail (const char *msg)
{
  print_line (stderr, "lymphctl: %s", msg);
  return EXIT_FAIL;
}

/* --- talking to lymphd --------------------------------------------------- */

static int
connect_daemon (const char *path, lympho_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return lympho_error_set (err, ENAMETOOLONG, "socket path `%s` is too long", path);
  memcpy (sa.sun_path, path, strlen (path) + 1);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "socket");
  /* A Unix connect() waits for backlog room up to the send timeout. */
  struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      if (e == EAGAIN || e == EINPROGRESS)
        return lympho_error_set (err, ETIMEDOUT, "cannot connect to lymphd at %s: timed out after %d s", path,
                                 CONNECT_TIMEOUT_S);
      if (e == ENOENT || e == ECONNREFUSED)
        return lympho_error_set (err, e, "cannot connect to lymphd at %s: %s (is lymphd running?)", path,
                                 strerror (e));
      return lympho_error_set_errno (err, e, "cannot connect to lymphd at %s", path);
    }
  tv.tv_sec = 0;
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return steal_fd (&fd);
}

static int
write_all (int fd, const char *data, size_t len, lympho_error_t *err)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return lympho_error_set_errno (err, errno, "sending the request to lymphd");
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Reads exactly one reply line into *out (without its newline). */
static int
read_reply (int fd, bool wait_forever, struct buf *out, lympho_error_t *err)
{
  struct timeval tv = { .tv_sec = wait_forever ? 0 : REPLY_TIMEOUT_S };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return lympho_error_set (err, ETIMEDOUT, "lymphd did not answer within %d s", REPLY_TIMEOUT_S);
      if (n < 0)
        return lympho_error_set_errno (err, errno, "reading the reply from lymphd");
      if (n == 0)
        return lympho_error_set (err, EPROTO, "lymphd closed the connection without a complete answer");
      buf_append (out, chunk, (size_t) n);
      char *nl = memchr (out->data, '\n', out->len);
      if (nl)
        {
          /* One request, one reply: anything after it is a protocol error. */
          if ((size_t) (nl - out->data) + 1 != out->len)
            return lympho_error_set (err, EPROTO, "lymphd sent more than one reply");
          out->len--;
          out->data[out->len] = '\0';
          return 0;
        }
      if (out->len > PROTO_MAX_LINE)
        return lympho_error_set (err, EMSGSIZE, "the reply from lymphd is too long");
    }
}

/* Sends one request and returns the reply's tree; *result points into it. */
static int
call (const char *socket_path, const char *cmd, const char *args_json, bool wait_forever, json_val *tree,
      json_val *result, lympho_error_t *err)
{
  cleanup_close int fd = connect_daemon (socket_path, err);
  if (fd < 0)
    return fd;
  cleanup_free char *line = proto_request_encode (cmd, args_json);
  if (line == NULL)
    return lympho_error_set (err, EINVAL, "internal error: bad arguments for `%s`", cmd);
  int ret = write_all (fd, line, strlen (line), err);
  cleanup_buf struct buf reply;
  buf_init (&reply);
  if (ret < 0)
    {
      /* lymphd refuses a peer that may not act as it connects: one reply,
       * then the close, perhaps before the request was sent. That reply
       * says more than the broken pipe. */
      lympho_error_t rerr = { 0 };
      if ((err->status != EPIPE && err->status != ECONNRESET)
          || read_reply (fd, false, &reply, &rerr) < 0)
        return ret;
      lympho_error_clear (err);
    }
  else if ((ret = read_reply (fd, wait_forever, &reply, err)) < 0)
    return ret;
  return proto_reply_decode (reply.data, reply.len, tree, result, err);
}

/* --- printing ------------------------------------------------------------ */

/* A scalar as text; "-" for missing or null. */
static char *
value_text (json_val v)
{
  if (v == NULL || json_is_null (v))
    return xstrdup ("-");
  if (json_is_string (v))
    return xstrdup (json_str (v)[0] ? json_str (v) : "-");
  int64_t n;
  if (json_as_int64 (v, &n))
    return xasprintf ("%lld", (long long) n);
  if (json_is_number (v))
    return xstrdup (json_number_text (v));
  if (json_is_true (v))
    return xstrdup ("true");
  if (json_is_false (v))
    return xstrdup ("false");
  return json_to_string (v);
}

/* Seconds as people read them: 45s, 4m12s, 1h, 2h30m, 3d4h. */
static char *
duration_text (json_val v)
{
  int64_t s;
  if (!json_as_int64 (v, &s) || s < 0)
    return value_text (v);
  static const struct { char unit; int64_t secs; } units[] = {
    { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
  };
  if (s == 0)
    return xstrdup ("0s");
  for (size_t i = 0; i < 4; i++)
    if (s >= units[i].secs)
      {
        int64_t major = s / units[i].secs;
        int64_t minor = i + 1 < 4 ? (s % units[i].secs) / units[i + 1].secs : 0;
        if (minor > 0)
          return xasprintf ("%" PRId64 "%c%" PRId64 "%c", major, units[i].unit, minor, units[i + 1].unit);
        return xasprintf ("%" PRId64 "%c", major, units[i].unit);
      }
  return xstrdup ("0s");
}

/* A table: cells are owned strings, printed with columns padded to fit. */
struct table
{
  size_t ncols, nrows;
  char **cells;
};

static void
table_init (struct table *t, const char *const *header, size_t ncols)
{
  t->ncols = ncols;
  t->nrows = 0;
  t->cells = NULL;
  for (size_t i = 0; i < ncols; i++)
    {
      t->cells = xrealloc (t->cells, (t->nrows * ncols + i + 1) * sizeof *t->cells);
      t->cells[i] = xstrdup (header[i]);
    }
  t->nrows = 1;
}

static void
table_add (struct table *t, char **row)
{
  t->cells = xrealloc (t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
  for (size_t i = 0; i < t->ncols; i++)
    {
      /* Escaped before the widths are taken (see print_line). */
      t->cells[t->nrows * t->ncols + i] = text_escape_dup (row[i]);
      free (row[i]);
    }
  t->nrows++;
}

static void
table_print_free (struct table *t)
{
  size_t *w = xmalloc0 (t->ncols * sizeof *w);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t i = 0; i < t->ncols; i++)
      {
        size_t l = strlen (t->cells[r * t->ncols + i]);
        if (l > w[i])
          w[i] = l;
      }
  for (size_t r = 0; r < t->nrows; r++)
    {
      for (size_t i = 0; i < t->ncols; i++)
        {
          const char *cell = t->cells[r * t->ncols + i];
          if (i + 1 < t->ncols)
            printf ("%-*s   ", (int) w[i], cell);
          else
            printf ("%s\n", cell);
          free (t->cells[r * t->ncols + i]);
        }
    }
  free (w);
  free (t->cells);
}

static char *
short_id (json_val v)
{
  const char *s = json_str (v);
  if (s == NULL || s[0] == '\0')
    return xstrdup ("-");
  if (str_has_prefix (s, "sha256:"))
    s += strlen ("sha256:");
  return xstrndup (s, 12);
}

/* Milliseconds from now as "3s" (rounded up), or "?" when unknown. */
static char *
in_text (json_val v)
{
  int64_t ms;
  if (!json_as_int64 (v, &ms) || ms < 0)
    return xstrdup ("?");
  return xasprintf ("%" PRId64 "s", (ms + 999) / 1000);
}

/* What lymphd has in flight or pending for one entry of ls, in a word or
 * three: the regeneration running, a queued one, the retry of a failure, a
 * recovery; "-" when none. */
static char *
pending_text (json_val e)
{
  json_val regen = json_get (e, "regen"), queued = json_get (e, "queued");
  json_val retry = json_get (e, "retry"), recovery = json_get (e, "recovery");
  if (json_is_object (regen))
    {
      cleanup_free char *txn = value_text (json_get (regen, "txn"));
      cleanup_free char *reason = value_text (json_get (regen, "reason"));
      return xasprintf ("regen txn=%s (%s)", txn, reason);
    }
  if (json_str (queued))
    return xasprintf ("queued (%s)", json_str (queued));
  if (json_is_object (retry))
    {
      cleanup_free char *in = in_text (json_get (retry, "in_ms"));
      cleanup_free char *attempt = value_text (json_get (retry, "attempt"));
      return xasprintf ("retry #%s in %s", attempt, in);
    }
  if (json_is_object (recovery))
    {
      if (json_is_null (json_get (recovery, "in_ms")))
        return xstrdup ("recovery when the engine is back");
      cleanup_free char *in = in_text (json_get (recovery, "in_ms"));
      return xasprintf ("recovery in %s", in);
    }
  return xstrdup ("-");
}

static void
print_ls (json_val result)
{
  static const char *const header[] = { "NAME", "GEN", "ID", "IMAGE", "TTL", "NEXT", "THREAT", "STATE", "MODE", "PENDING" };
  struct table t;
  table_init (&t, header, 10);
  for (size_t i = 0; i < json_arr_len (result); i++)
    {
      json_val e = json_arr_at (result, i);
      int64_t next = 0;
      bool due = json_as_int64 (json_get (e, "next_regen_in_s"), &next) && next <= 0;
      char *row[10] = {
        value_text (json_get (e, "name")),
        value_text (json_get (e, "generation")),
        short_id (json_get (e, "id")),
        short_id (json_get (e, "image_id")),
        duration_text (json_get (e, "ttl_s")),
        due ? xstrdup ("now") : duration_text (json_get (e, "next_regen_in_s")),
        value_text (json_get (e, "threat_level")),
        value_text (json_get (e, "state")),
        value_text (json_get (e, "mode")),
        pending_text (e),
      };
      table_add (&t, row);
    }
  table_print_free (&t);
  /* Swarm tasks: the slot a NAME stands for, and its task now. */
  for (size_t i = 0; i < json_arr_len (result); i++)
    {
      json_val e = json_arr_at (result, i);
      const char *service = json_str (json_get (e, "service"));
      if (service == NULL)
        continue;
      cleanup_free char *name = value_text (json_get (e, "name"));
      cleanup_free char *slot = value_text (json_get (e, "slot"));
      cleanup_free char *task = value_text (json_get (e, "task"));
      print_line (stdout, "swarm: %s service %s slot %s task %s", name, service, slot, task);
    }
}

static void
print_status (json_val result)
{
  /* In this order; the engine's details are there only when known, and a
   * field the daemon did not send is not printed. */
  static const char *const keys[] = { "version", "uptime_s", "runtime", "engine", "engine_version", "api_version",
                                      "engine_api", "engine_problem", "protected", "regenerating", "queued",
                                      "retry_pending", "recovery_pending", "regenerations", "failures", "ttl",
                                      "event_followers", "notify", "exec_guard", "exec", NULL };
  for (size_t i = 0; keys[i]; i++)
    {
      if (json_get (result, keys[i]) == NULL)
        continue;
      if (strcmp (keys[i], "exec") == 0)
        {
          /* One line a container: "exec: web deny", "exec: db detect (learning its programs)". */
          json_val v = json_get (result, "exec");
          for (size_t j = 0; j < json_arr_len (v); j++)
            {
              json_val c = json_arr_at (v, j);
              const char *note = json_str (json_get (c, "note"));
              cleanup_free char *name = value_text (json_get (c, "name"));
              cleanup_free char *mode = value_text (json_get (c, "mode"));
              print_line (stdout, "exec: %s %s%s%s%s", name, mode, note ? " (" : "", note ? note : "", note ? ")" : "");
            }
          continue;
        }
      if (strcmp (keys[i], "ttl") == 0)
        {
          /* "ttl: behind: 8.333/s needed, 1.020/s achieved, 412 waiting, the oldest 42 s late" */
          json_val t = json_get (result, "ttl");
          cleanup_free char *st = value_text (json_get (t, "state"));
          cleanup_free char *need = value_text (json_get (t, "needed_per_s"));
          cleanup_free char *got = value_text (json_get (t, "achieved_per_s"));
          cleanup_free char *waiting = value_text (json_get (t, "waiting"));
          int64_t late = 0;
          (void) json_as_int64 (json_get (t, "oldest_late_ms"), &late);
          print_line (stdout, "ttl: %s: %s/s needed, %s/s achieved, %s waiting, the oldest %lld s late", st, need, got,
                      waiting, (long long) (late / 1000));
          continue;
        }
      cleanup_free char *v = strcmp (keys[i], "uptime_s") == 0 ? duration_text (json_get (result, keys[i]))
                                                              : value_text (json_get (result, keys[i]));
      print_line (stdout, "%s: %s", strcmp (keys[i], "uptime_s") == 0 ? "uptime" : keys[i], v);
    }
  /* Whatever else the daemon reports, after the fixed fields. */
  for (size_t i = 0; i < json_obj_len (result); i++)
    {
      const char *k = json_obj_key (result, i);
      bool known = false;
      for (size_t j = 0; keys[j]; j++)
        if (strcmp (keys[j], k) == 0)
          known = true;
      if (known)
        continue;
      cleanup_free char *v = value_text (json_obj_value (result, i));
      print_line (stdout, "%s: %s", k, v);
    }
}

static char *
time_text (json_val v)
{
  int64_t ms;
  if (!json_as_int64 (v, &ms))
    return value_text (v);
  time_t t = (time_t) (ms / 1000);
  struct tm tm;
  char out[64];
  if (localtime_r (&t, &tm) == NULL || strftime (out, sizeof out, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    return value_text (v);
  return xstrdup (out);
}

/* An incident says where it came from, how bad, what was done and how
 * fast: "exec sev 3 -> regenerate, cut 4 ms, replaced 1287 ms, forensics
 * lympho-forensics/web:gen-0: unexpected program /tmp/go". */
static char *
incident_detail (json_val e)
{
  struct buf b;
  buf_init (&b);
  const char *source = json_str (json_get (e, "source"));
  int64_t n;
  buf_appends (&b, source ? source : "?");
  if (json_as_int64 (json_get (e, "severity"), &n))
    buf_printf (&b, " sev %lld", (long long) n);
  double level;
  if (json_as_double (json_get (e, "threat_level"), &level))
    buf_printf (&b, " level %.2f", level);
  const char *action = json_str (json_get (e, "action"));
  if (action)
    buf_printf (&b, " -> %s", action);
  if (json_as_int64 (json_get (e, "cut_ms"), &n))
    buf_printf (&b, ", cut %lld ms", (long long) n);
  if (json_as_int64 (json_get (e, "replaced_ms"), &n))
    buf_printf (&b, ", replaced %lld ms", (long long) n);
  const char *img = json_str (json_get (e, "forensic_image"));
  if (img)
    buf_printf (&b, ", forensics %s", img);
  const char *reason = json_str (json_get (e, "reason"));
  const char *error = json_str (json_get (e, "error"));
  if (reason)
    buf_printf (&b, ": %s", reason);
  if (error)
    buf_printf (&b, " (%s)", error);
  return buf_steal (&b);
}

static char *
history_detail (json_val e)
{
  const char *kind = json_str (json_get (e, "kind"));
  if (kind && strcmp (kind, "incident") == 0)
    return incident_detail (e);
  const char *reason = json_str (json_get (e, "reason"));
  const char *error = json_str (json_get (e, "error"));
  if (reason && error)
    return xasprintf ("%s: %s", reason, error);
  if (reason || error)
    return xstrdup (reason ? reason : error);
  if (json_str (json_get (e, "new_id")))
    {
      cleanup_free char *id = short_id (json_get (e, "new_id"));
      return xasprintf ("new id %s", id);
    }
  return xstrdup ("-");
}

static void
print_history (json_val result)
{
  static const char *const header[] = { "TIME", "KIND", "NAME", "GEN", "RESULT", "DETAIL" };
  struct table t;
  table_init (&t, header, 6);
  for (size_t i = 0; i < json_arr_len (result); i++)
    {
      json_val e = json_arr_at (result, i);
      char *row[6] = {
        time_text (json_get (e, "time")),        value_text (json_get (e, "kind")),
        value_text (json_get (e, "name")),       value_text (json_get (e, "generation")),
        value_text (json_get (e, "result")),     history_detail (e),
      };
      table_add (&t, row);
    }
  table_print_free (&t);
}

static void
print_json (json_val result)
{
  cleanup_jgen json_gen g = json_gen_new (true);
  json_gen_value (g, result);
  cleanup_free char *text = json_gen_text (g);
  size_t len = strlen (text);
  fputs (text, stdout);
  if (len == 0 || text[len - 1] != '\n')
    putchar ('\n');
}

/* --- events --------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void
on_interrupt (int sig)
{
  (void) sig;
  interrupted = 1;
}

/* One event: with --json the object on one line, else one line for a
 * human (a step of a regeneration, or a history entry as history shows
 * it). */
static void
print_event (json_val e, bool json)
{
  if (json)
    {
      cleanup_jgen json_gen g = json_gen_new (false);
      json_gen_value (g, e);
      cleanup_free char *text = json_gen_text (g);
      fputs (text, stdout);
      putchar ('\n');
      fflush (stdout);
      return;
    }
  cleanup_free char *when = time_text (json_get (e, "time"));
  cleanup_free char *kind = value_text (json_get (e, "kind"));
  cleanup_free char *name = value_text (json_get (e, "name"));
  cleanup_free char *gen = value_text (json_get (e, "generation"));
  if (strcmp (kind, "step") == 0)
    {
      cleanup_free char *step = value_text (json_get (e, "step"));
      cleanup_free char *id = json_str (json_get (e, "id")) ? short_id (json_get (e, "id")) : NULL;
      const char *detail = json_str (json_get (e, "detail"));
      print_line (stdout, "%s  step      %s gen=%s %s%s%s%s%s", when, name, gen, step, id ? " id=" : "", id ? id : "",
                  detail ? ": " : "", detail ? detail : "");
    }
  else if (strcmp (kind, "dropped") == 0)
    {
      cleanup_free char *count = value_text (json_get (e, "count"));
      print_line (stdout, "%s  dropped   %s events: this reader was too slow for them", when, count);
    }
  else
    {
      cleanup_free char *result = value_text (json_get (e, "result"));
      cleanup_free char *detail = history_detail (e);
      print_line (stdout, "%s  %-9s %s gen=%s %s: %s", when, kind, name, gen, result, detail);
    }
  fflush (stdout);
}

/* lymphctl events: the reply (the last entries, newest first: printed
 * oldest first), then with follow every event line until lymphd closes
 * the connection (it stops: a clean end) or SIGINT/SIGTERM (a clean end
 * too). */
static int
run_events (const char *socket_path, const char *args, bool follow, bool json)
{
  lympho_error_t err = { 0 };
  cleanup_close int fd = connect_daemon (socket_path, &err);
  if (fd < 0)
    return fail (err.msg);
  cleanup_free char *line = proto_request_encode ("events", args);
  if (line == NULL || write_all (fd, line, strlen (line), &err) < 0)
    return fail (line ? err.msg : "internal error: bad arguments for `events`");
  struct sigaction sa = { .sa_handler = on_interrupt }; /* no SA_RESTART: read returns */
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  cleanup_buf struct buf in;
  buf_init (&in);
  bool replied = false;
  char chunk[65536];
  for (;;)
    {
      /* Every whole line that waits. */
      char *nl;
      while ((nl = memchr (in.data ? in.data : "", '\n', in.len)) != NULL)
        {
          size_t len = (size_t) (nl - in.data);
          json_val tree = NULL, v = NULL;
          if (!replied)
            {
              if (proto_reply_decode (in.data, len, &tree, &v, &err) < 0)
                return fail (err.msg);
              if (!json_is_array (v))
                {
                  json_free (tree);
                  return fail ("lymphd's answer to events is not a list");
                }
              for (size_t i = json_arr_len (v); i > 0; i--)
                print_event (json_arr_at (v, i - 1), json);
              json_free (tree);
              replied = true;
              if (!follow)
                return 0;
              tv.tv_sec = 0; /* from now on, as long as it takes */
              setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            }
          else
            {
              if (proto_event_decode (in.data, len, &tree, &v, &err) < 0)
                return fail (err.msg);
              print_event (v, json);
              json_free (tree);
            }
          memmove (in.data, nl + 1, in.len - len - 1);
          in.len -= len + 1;
        }
      if (in.len > PROTO_MAX_LINE)
        return fail ("a line from lymphd is too long");
      if (interrupted)
        return 0;
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return fail ("lymphd did not answer within 60 s");
      if (n < 0)
        {
          cleanup_free char *msg = xasprintf ("reading from lymphd: %s", strerror (errno));
          return fail (msg);
        }
      if (n == 0)
        {
          if (!replied)
            return fail ("lymphd closed the connection without a complete answer");
          print_line (stderr, "lymphctl: lymphd closed the stream (it stopped)");
          return 0;
        }
      buf_append (&in, chunk, (size_t) n);
    }
}

/* --- main ---------------------------------------------------------------- */

static bool
parse_severity (const char *s, int64_t *out)
{
  char *end;
  errno = 0;
  long v = strtol (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 10)
    return false;
  *out = v;
  return true;
}

int
main (int argc, char **argv)
{
  enum { OPT_SOCKET = 256, OPT_JSON, OPT_REASON, OPT_SEVERITY, OPT_HELP, OPT_VERSION, OPT_FOLLOW };
  static const struct option opts[] = {
    { "socket", required_argument, NULL, OPT_SOCKET }, { "json", no_argument, NULL, OPT_JSON },
    { "reason", required_argument, NULL, OPT_REASON }, { "severity", required_argument, NULL, OPT_SEVERITY },
    { "help", no_argument, NULL, OPT_HELP },           { "version", no_argument, NULL, OPT_VERSION },
    { "follow", no_argument, NULL, OPT_FOLLOW },       { NULL, 0, NULL, 0 },
  };
  const char *socket_path = getenv ("LYMPHO_SOCKET");
  if (socket_path == NULL || socket_path[0] == '\0')
    socket_path = DEFAULT_SOCKET;
  const char *reason = NULL, *severity_text = NULL;
  bool json = false, follow = false;

  opterr = 0;
  int opt;
  /* GNU getopt permutes, so options may follow the command. */
  while ((opt = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (opt)
      {
      case OPT_SOCKET:
        if (optarg[0] == '\0')
          usage_error ("--socket needs a path");
        socket_path = optarg;
        break;
      case OPT_JSON:
        json = true;
        break;
      case OPT_FOLLOW:
        follow = true;
        break;
      case OPT_REASON:
        reason = optarg;
        break;
      case OPT_SEVERITY:
        severity_text = optarg;
        break;
      case 'h':
      case OPT_HELP:
        fputs (usage_text, stdout);
        return 0;
      case OPT_VERSION:
        printf ("lymphctl %s\n", PACKAGE_VERSION);
        return 0;
      default:
        if (optopt >= OPT_SOCKET)
          usage_error ("option `%s` needs a value", argv[optind - 1]);
        if (optopt > 0 && optopt < 256)
          usage_error ("unknown option `-%c`", optopt);
        usage_error ("unknown option `%s`", argv[optind - 1]);
      }

  if (optind >= argc)
    usage_error ("no command given");
  const char *cmd = argv[optind++];
  const char *name = optind < argc ? argv[optind] : NULL;
  int nargs = argc - optind;
  bool takes_name = strcmp (cmd, "regen") == 0 || strcmp (cmd, "alert") == 0;
  bool may_name = takes_name || strcmp (cmd, "history") == 0 || strcmp (cmd, "events") == 0;

  if (strcmp (cmd, "status") != 0 && strcmp (cmd, "ls") != 0 && !may_name)
    usage_error ("unknown command `%s`", cmd);
  if (takes_name && nargs < 1)
    usage_error ("%s: a container NAME is required", cmd);
  if (nargs > (may_name ? 1 : 0))
    usage_error ("%s: unexpected argument `%s`", cmd, argv[optind + (may_name ? 1 : 0)]);
  if (follow && strcmp (cmd, "events") != 0)
    usage_error ("%s: --follow applies only to events", cmd);
  if (reason && !takes_name)
    usage_error ("%s: --reason applies only to regen and alert", cmd);
  if (severity_text && strcmp (cmd, "alert") != 0)
    usage_error ("%s: --severity applies only to alert", cmd);
  int64_t severity = 0;
  if (strcmp (cmd, "alert") == 0)
    {
      if (severity_text == NULL)
        usage_error ("alert: --severity N is required");
      if (!parse_severity (severity_text, &severity))
        usage_error ("alert: --severity must be an integer from 0 to 10, not `%s`", severity_text);
    }
  if (name && name[0] == '\0')
    usage_error ("%s: empty container name", cmd);

  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  if (name)
    json_gen_kstr (g, "name", name);
  if (strcmp (cmd, "alert") == 0)
    json_gen_kint (g, "severity", severity);
  if (reason)
    json_gen_kstr (g, "reason", reason);
  if (strcmp (cmd, "history") == 0)
    json_gen_kint (g, "limit", HISTORY_LIMIT);
  if (follow)
    json_gen_kbool (g, "follow", true);
  json_gen_map_close (g);
  cleanup_free char *args = json_gen_text (g);
  if (strcmp (cmd, "events") == 0)
    return run_events (socket_path, args, follow, json);

  json_val tree = NULL, result = NULL;
  lympho_error_t err = { 0 };
  if (call (socket_path, cmd, args, strcmp (cmd, "regen") == 0, &tree, &result, &err) < 0)
    return fail (err.msg);

  if (json)
    print_json (result);
  else if (strcmp (cmd, "status") == 0)
    print_status (result);
  else if (strcmp (cmd, "ls") == 0)
    print_ls (result);
  else if (strcmp (cmd, "history") == 0)
    print_history (result);
  else if (strcmp (cmd, "regen") == 0)
    {
      /* The id alone on stdout, for scripts; joining is worth knowing:
       * this request did not start the regeneration whose id it prints. */
      if (json_is_true (json_get (result, "joined")))
        {
          cleanup_free char *txn = value_text (json_get (result, "txn"));
          cleanup_free char *why = value_text (json_get (result, "reason"));
          print_line (stderr, "lymphctl: joined the regeneration in flight (txn %s, reason: %s)", txn, why);
        }
      cleanup_free char *id = value_text (json_get (result, "id"));
      print_line (stdout, "%s", id);
    }
  else
    {
      cleanup_free char *level = value_text (json_get (result, "threat_level"));
      cleanup_free char *action = value_text (json_get (result, "action"));
      print_line (stdout, "%s: threat level %s, action %s", name, level, action);
    }
  json_free (tree);
  if (fflush (stdout) != 0 || ferror (stdout))
    return fail ("cannot write the output");
  return 0;
}
