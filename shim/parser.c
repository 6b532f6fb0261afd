/* lympho — the parser process (see parser.h): lymphd's side starts it,
 * sends it one body at a time and checks what comes back; the child's side
 * confines itself and parses.
 *
 * Protocol on a stream socket, integers in host order (both ends are one
 * binary on one machine):
 *   after the fork, before the exec:  u32 confinement bits (CONF_NETNS)
 *   the parser, once started:         u32 PARSER_HELLO, u32 confinement bits
 *   (both to lymphd)
 *   request:  u32 source (0..2), u32 length, the body
 *   answer:   i32 status (0 or -errno), u32 ignored, u32 n, str error,
 *             n times: u32 source, i32 severity, 8 str (container, reason,
 *             rule, program, path, fingerprint, node, group); container
 *             is none only for a fleet warning, which has node and group
 *   str:      u32 length (STR_NULL: none), the bytes
 * May call: alerts.c (child), util; the kernel. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/parser.h"
#include "lympho/privs.h"
#include "lympho/util.h"

#define PARSER_HELLO 0x6c79706aU /* "lypj" */
#define STR_NULL 0xffffffffU
#define STR_MAX (64u * 1024u)         /* one field of one alert */
#define ALERTS_MAX 4096u              /* alerts in one answer */
#define ANSWER_MAX (16u * 1024u * 1024u)
#define BODY_MAX (1024u * 1024u)      /* as the listener's own cap */
#define NOBODY 65534

enum
{
  CONF_NETNS = 1u << 0,  /* its own network namespace: no network */
  CONF_UID = 1u << 1,    /* uid and gid 65534, no groups */
  CONF_NOCAPS = 1u << 2, /* no capability in any set */
  CONF_NNP = 1u << 3,    /* no_new_privs */
  CONF_NPROC = 1u << 4,  /* cannot start a process */
};

struct parser
{
  int fd;
  pid_t pid;
  unsigned restarts;
  unsigned conf;
  char confinement[160];
};

/* ---- both sides ---------------------------------------------------- */

/* Read (out false) or write (out true) exactly len bytes by the deadline
 * (monotonic ms; 0: none, as the parser waits for its next request). */
static int
io_by (int fd, void *buf, size_t len, bool out, uint64_t deadline)
{
  char *p = buf;
  while (len > 0)
    {
      uint64_t now = now_mono_ms ();
      if (deadline && now >= deadline)
        return -ETIMEDOUT;
      struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
      int r = poll (&pfd, 1, deadline ? (int) (deadline - now) : -1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -errno;
      if (r == 0)
        return -ETIMEDOUT;
      ssize_t n = out ? send (fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : read (fd, p, len);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        return -EPIPE;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

static int
read_by (int fd, void *buf, size_t len, uint64_t deadline)
{
  return io_by (fd, buf, len, false, deadline);
}

static int
write_by (int fd, const void *buf, size_t len, uint64_t deadline)
{
  return io_by (fd, (void *) buf, len, true, deadline);
}

/* ---- the child ---------------------------------------------------- */

static void
put_u32 (struct buf *b, uint32_t v)
{
  buf_append (b, (const char *) &v, sizeof v);
}

static void
put_str (struct buf *b, const char *s)
{
  if (s == NULL)
    {
      put_u32 (b, STR_NULL);
      return;
    }
  size_t len = strlen (s);
  if (len > STR_MAX)
    len = STR_MAX; /* the parsers' own caps are far below */
  put_u32 (b, (uint32_t) len);
  buf_append (b, s, len);
}

static unsigned
child_confine (void)
{
  unsigned conf = 0;
  struct rlimit zero = { 0, 0 };
  if (setrlimit (RLIMIT_NPROC, &zero) == 0)
    conf |= CONF_NPROC;
  setrlimit (RLIMIT_CORE, &zero);
  struct rlimit files = { 4, 4 }; /* stdin, stdout, stderr, its socket */
  setrlimit (RLIMIT_NOFILE, &files);
#if !defined(__SANITIZE_ADDRESS__)
  /* The sanitizers reserve terabytes of address space: no cap there. */
  struct rlimit as = { 256u << 20, 256u << 20 };
  setrlimit (RLIMIT_AS, &as);
#endif
  prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  cap_t none = cap_init ();
  if (none)
    {
      cap_set_proc (none);
      cap_free (none);
    }
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  cap_t now = cap_get_proc ();
  cap_t empty = cap_init ();
  if (now && empty && cap_compare (now, empty) == 0)
    conf |= CONF_NOCAPS;
  cap_free (now);
  cap_free (empty);
  if (prctl (PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
    conf |= CONF_NNP;
  if (getuid () == NOBODY && geteuid () == NOBODY && getgid () == NOBODY && getegid () == NOBODY)
    conf |= CONF_UID;
  return conf;
}

int
parser_child_main (void)
{
  const int fd = 3;
  unsigned conf = child_confine ();
  uint32_t hello[2] = { PARSER_HELLO, conf };
  if (write_by (fd, hello, sizeof hello, 0) < 0)
    _exit (1);
  static int (*const parsers[]) (const char *, size_t, struct alert_list *, lympho_error_t *) = {
    [ALERT_SRC_GENERIC] = alerts_parse_generic,
    [ALERT_SRC_ALERTMANAGER] = alerts_parse_alertmanager,
    [ALERT_SRC_FALCO] = alerts_parse_falco,
  };
  for (;;)
    {
      uint32_t head[2];
      if (read_by (fd, head, sizeof head, 0) < 0)
        _exit (0); /* lymphd closed it */
      if (head[0] > ALERT_SRC_FALCO || head[1] > BODY_MAX)
        _exit (1);
      char *body = xmalloc (head[1] + 1);
      if (read_by (fd, body, head[1], 0) < 0)
        _exit (1);
      body[head[1]] = '\0';
      struct alert_list l = { 0 };
      lympho_error_t err = { 0 };
      int status = parsers[head[0]](body, head[1], &l, &err);
      free (body);
      struct buf b;
      buf_init (&b);
      put_u32 (&b, (uint32_t) (status < 0 ? status : 0));
      put_u32 (&b, (uint32_t) l.ignored);
      put_u32 (&b, status < 0 ? 0 : (uint32_t) l.n);
      put_str (&b, status < 0 ? err.msg : NULL);
      for (size_t i = 0; status >= 0 && i < l.n; i++)
        {
          const struct alert *a = &l.v[i];
          put_u32 (&b, (uint32_t) a->source);
          put_u32 (&b, (uint32_t) a->severity);
          put_str (&b, a->container);
          put_str (&b, a->reason);
          put_str (&b, a->rule);
          put_str (&b, a->program);
          put_str (&b, a->path);
          put_str (&b, a->fingerprint);
          put_str (&b, a->node);
          put_str (&b, a->group);
        }
      alert_list_free (&l);
      uint32_t len = (uint32_t) b.len;
      bool ok = write_by (fd, &len, sizeof len, 0) == 0 && write_by (fd, b.data, b.len, 0) == 0;
      buf_free (&b);
      if (!ok)
        _exit (1);
    }
}

/* ---- lymphd's side ------------------------------------------------- */

static void
kill_child (struct parser *p)
{
  if (p->fd >= 0)
    close (p->fd);
  p->fd = -1;
  if (p->pid > 0)
    {
      kill (p->pid, SIGKILL);
      while (waitpid (p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  p->pid = 0;
}

static void
describe (struct parser *p)
{
  snprintf (p->confinement, sizeof p->confinement, "%s, %s, %s, %s, %s",
            (p->conf & CONF_UID) ? "uid 65534" : "lymphd's uid (not root: no other to take)",
            (p->conf & CONF_NOCAPS) ? "no capabilities" : "CAPABILITIES LEFT",
            (p->conf & CONF_NETNS) ? "no network" : "the host's network",
            (p->conf & CONF_NNP) ? "no_new_privs" : "new privileges possible",
            (p->conf & CONF_NPROC) ? "no new processes" : "may start processes");
}

static int
spawn (struct parser *p, lympho_error_t *err)
{
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return lympho_error_set_errno (err, errno, "parser: socketpair");
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  char *const argv[] = { (char *) PARSER_ARGV0, NULL };
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (sv[0]);
      close (sv[1]);
      if (devnull >= 0)
        close (devnull);
      return lympho_error_set_errno (err, e, "parser: fork");
    }
  if (pid == 0)
    {
      /* Async-signal-safe calls only until the exec: lymphd has threads. */
      sigset_t none;
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      /* The socket out of the way first (any of 0, 1 and 3 may be it or
       * /dev/null), then stdin and stdout, then the socket as 3, without
       * close-on-exec (dup2 onto itself would keep it). */
      int sock = fcntl (sv[1], F_DUPFD, 10);
      if (sock < 0)
        _exit (127);
      if (devnull >= 0)
        {
          dup2 (devnull, 0);
          dup2 (devnull, 1);
        }
      if (dup2 (sock, 3) < 0)
        _exit (127);
      if (syscall (SYS_close_range, 4u, ~0u, 0u) < 0)
        for (int fd = 4; fd < 65536; fd++)
          close (fd);
      uint32_t pre = 0;
      /* No network at all: a namespace of its own, holding only a loopback
       * that is down. Needs CAP_SYS_ADMIN, which lymphd holds. */
      if (unshare (CLONE_NEWNET) == 0)
        pre |= CONF_NETNS;
      /* Raw calls: in this forked copy only one thread exists, and glibc's
       * wrappers would signal the others. The order matters: groups and
       * gid while still root. */
      if (getuid () == 0 || geteuid () == 0)
        {
          /* lymphd keeps these permitted for this moment only. */
          privs_parser_raise ();
          if (syscall (SYS_setgroups, 0, NULL) < 0 || syscall (SYS_setresgid, NOBODY, NOBODY, NOBODY) < 0
              || syscall (SYS_setresuid, NOBODY, NOBODY, NOBODY) < 0)
            _exit (126);
        }
      if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit (126);
      if (write (3, &pre, sizeof pre) != (ssize_t) sizeof pre)
        _exit (127);
      execve ("/proc/self/exe", argv, environ);
      _exit (127);
    }
  close (sv[1]);
  if (devnull >= 0)
    close (devnull);
  p->fd = sv[0];
  p->pid = pid;
  /* What the fork's side did before the exec (its network namespace),
   * then the parser's greeting with what it did itself. */
  uint32_t pre = 0, hello[2] = { 0, 0 };
  uint64_t deadline = now_mono_ms () + 10 * PARSER_DEADLINE_MS;
  int r = read_by (p->fd, &pre, sizeof pre, deadline);
  if (r == 0)
    r = read_by (p->fd, hello, sizeof hello, deadline);
  if (r < 0 || hello[0] != PARSER_HELLO)
    {
      int st = 0;
      pid_t was = p->pid;
      close (p->fd);
      p->fd = -1;
      while (waitpid (was, &st, 0) < 0 && errno == EINTR)
        ;
      p->pid = 0;
      return lympho_error_set (err, r < 0 ? -r : EPROTO, "parser process: no greeting (%s; %s %d)",
                               r < 0 ? strerror (-r) : "a wrong one",
                               WIFEXITED (st) ? "exit status" : "signal",
                               WIFEXITED (st) ? WEXITSTATUS (st) : WTERMSIG (st));
    }
  p->conf = (hello[1] & ~(uint32_t) CONF_NETNS) | (pre & CONF_NETNS);
  describe (p);
  if (!(p->conf & CONF_NOCAPS))
    {
      kill_child (p);
      return lympho_error_set (err, EPERM, "parser process: it kept capabilities; refusing to use it");
    }
  log_debug ("parser process %d: %s", (int) p->pid, p->confinement);
  return 0;
}

int
parser_open (struct parser **out, lympho_error_t *err)
{
  struct parser *p = xmalloc0 (sizeof *p);
  p->fd = -1;
  int ret = spawn (p, err);
  if (ret < 0)
    {
      free (p);
      return ret;
    }
  log_info ("parser process %d: %s", (int) p->pid, p->confinement);
  *out = p;
  return 0;
}

void
parser_close (struct parser *p)
{
  if (p == NULL)
    return;
  kill_child (p);
  free (p);
}

pid_t
parser_pid (const struct parser *p)
{
  return p ? p->pid : 0;
}

unsigned
parser_restarts (const struct parser *p)
{
  return p ? p->restarts : 0;
}

const char *
parser_confinement (const struct parser *p)
{
  return p ? p->confinement : "";
}

/* A hostile peer's answer: every length and value is checked. */
struct reader
{
  const char *p, *end;
};

static bool
get_u32 (struct reader *r, uint32_t *v)
{
  if ((size_t) (r->end - r->p) < sizeof *v)
    return false;
  memcpy (v, r->p, sizeof *v);
  r->p += sizeof *v;
  return true;
}

/* A string: at most STR_MAX bytes of well-formed UTF-8 with no NUL (what
 * the parsers hand out: they replace malformed bytes); NULL allowed when
 * may_null. */
static bool
get_str (struct reader *r, char **out, bool may_null)
{
  uint32_t len;
  *out = NULL;
  if (!get_u32 (r, &len))
    return false;
  if (len == STR_NULL)
    return may_null;
  if (len > STR_MAX || (size_t) (r->end - r->p) < len)
    return false;
  for (uint32_t i = 0; i < len;)
    {
      size_t n = r->p[i] ? utf8_seq_len ((const unsigned char *) r->p + i, len - i) : 0;
      if (n == 0)
        return false;
      i += (uint32_t) n;
    }
  *out = xstrndup (r->p, len);
  r->p += len;
  return true;
}

/* A node's or a group's name as the parser lets it through: what becomes
 * a label and a log field. */
static bool
name_ok (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || (i > 0 && (c == '_' || c == '.' || c == '-'))))
        return false;
    }
  return true;
}

int
parser_decode (const char *buf, size_t len, enum alert_source src, struct alert_list *out, lympho_error_t *err)
{
  struct reader r = { buf, buf + len };
  uint32_t status, ignored, n;
  char *msg = NULL;
  if (!get_u32 (&r, &status) || !get_u32 (&r, &ignored) || !get_u32 (&r, &n) || !get_str (&r, &msg, true))
    goto bad;
  if ((int32_t) status < 0)
    {
      if ((int32_t) status != -EINVAL || n != 0 || msg == NULL || r.p != r.end)
        goto bad;
      lympho_error_set (err, EINVAL, "%s", msg);
      free (msg);
      return -EINVAL;
    }
  if (status != 0 || msg != NULL || n > ALERTS_MAX || ignored > BODY_MAX)
    goto bad;
  out->v = n ? xmalloc0 (n * sizeof *out->v) : NULL;
  out->n = 0;
  out->ignored = ignored;
  for (uint32_t i = 0; i < n; i++)
    {
      struct alert *a = &out->v[i];
      uint32_t source, severity;
      if (!get_u32 (&r, &source) || !get_u32 (&r, &severity))
        goto bad;
      out->n++;
      a->source = src;
      a->severity = (int) (int32_t) severity;
      if (source != (uint32_t) src || a->severity < 0 || a->severity > 10 || !get_str (&r, &a->container, true)
          || !get_str (&r, &a->reason, true) || !get_str (&r, &a->rule, true) || !get_str (&r, &a->program, true)
          || !get_str (&r, &a->path, true) || !get_str (&r, &a->fingerprint, true) || !get_str (&r, &a->node, true)
          || !get_str (&r, &a->group, true))
        goto bad;
      /* A container, or a fleet warning (node and group, no container),
       * never both nor neither; and each name as the parser checks it. */
      bool fleet = a->node != NULL;
      if (fleet ? (a->container != NULL || a->group == NULL || !name_ok (a->node) || !name_ok (a->group))
                : (a->container == NULL || a->container[0] == '\0' || a->group != NULL))
        goto bad;
    }
  if (r.p != r.end)
    goto bad;
  return 0;
bad:
  free (msg);
  alert_list_free (out);
  memset (out, 0, sizeof *out);
  return lympho_error_set (err, EPROTO, "the parser process broke its protocol");
}

static int
ask (struct parser *p, enum alert_source src, const char *body, size_t len, struct alert_list *out,
     lympho_error_t *err)
{
  if (p->fd < 0)
    {
      if (spawn (p, err) < 0)
        return lympho_error_set (err, EIO, "%s", err->msg);
      p->restarts++;
      log_warn ("parser process restarted (%u so far): %d", p->restarts, (int) p->pid);
    }
  uint64_t deadline = now_mono_ms () + PARSER_DEADLINE_MS;
  uint32_t head[2] = { (uint32_t) src, (uint32_t) len };
  int r = write_by (p->fd, head, sizeof head, deadline);
  if (r == 0)
    r = write_by (p->fd, body, len, deadline);
  uint32_t alen = 0;
  if (r == 0)
    r = read_by (p->fd, &alen, sizeof alen, deadline);
  if (r == 0 && alen > ANSWER_MAX)
    r = -EPROTO;
  cleanup_free char *abuf = NULL;
  if (r == 0)
    {
      abuf = xmalloc (alen ? alen : 1);
      r = read_by (p->fd, abuf, alen, deadline);
    }
  if (r < 0)
    {
      pid_t was = p->pid;
      kill_child (p);
      return lympho_error_set (err, EIO, "the parser process %d failed: %s", (int) was,
                               r == -ETIMEDOUT ? "no answer in time" : r == -EPIPE ? "it died" : strerror (-r));
    }
  int ret = parser_decode (abuf, alen, src, out, err);
  if (ret < 0 && ret != -EINVAL)
    {
      kill_child (p);
      return lympho_error_set (err, EIO, "%s", err->msg);
    }
  return ret;
}

int
parser_parse (struct parser *p, enum alert_source src, const char *body, size_t len, struct alert_list *out,
              lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  if (src > ALERT_SRC_FALCO || len > BODY_MAX)
    return lympho_error_set (err, EINVAL, "no parser for this body");
  int ret = ask (p, src, body, len, out, err);
  if (ret == -EIO)
    {
      /* Once more in a fresh parser: the one that failed may have been
       * killed from outside; a body it dies of fails there too. */
      log_warn ("http: %s; trying once more in a fresh one", err->msg);
      lympho_error_t again = { 0 };
      ret = ask (p, src, body, len, out, &again);
      if (ret < 0)
        *err = again;
    }
  return ret;
}
