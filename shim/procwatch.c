/* lympho — the process-events connector watcher (contract in procwatch.h).
 * May call: the loop, netlink (libnl), proctree (a parser): a leaf of lymphd. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "lympho/log.h"
#include "lympho/procwatch.h"
#include "lympho/proctree.h"
#include "lympho/util.h"

/* Since Linux 6.6 a listener may ask the kernel to send it only some event
 * types (struct proc_input); older headers lack it. The kernel tells the two
 * forms apart by length; an older one ignores a length it does not know. */
struct procwatch_proc_input
{
  uint32_t mcast_op;
  uint32_t event_type;
};

/* The kernel queues one small skb per event; a big buffer rides out a burst
 * while the loop is busy elsewhere. SO_RCVBUFFORCE passes rmem_max as root. */
#define RCVBUF_BYTES (8 * 1024 * 1024)
#define BATCH 32
#define MSG_BYTES 512
/* Messages handled per wake-up before returning to the loop, so a storm
 * cannot starve the other fds (level-triggered: we are called again). */
#define MAX_PER_WAKE 512
/* Under load, wake-ups rather than events dominate the cost (each one is an
 * epoll_wait, a context switch and an empty recvmmsg). When events keep
 * coming less than COALESCE_NS apart, stop watching the fd for PAUSE_MS so
 * the kernel queues a batch. Idle, the first exec is handled at once; under
 * a storm detection waits at most PAUSE_MS longer. */
#define COALESCE_NS (5ull * 1000 * 1000)
#define PAUSE_MS 4
#define ACK_WAIT_MS 250
#define RETRY_MS 1000
#define OVERRUN_LOG_NS (10ull * 1000 * 1000 * 1000)

struct procwatch
{
  struct loop *loop;
  struct procwatch_callbacks cb;
  struct nl_sock *sk;
  int fd;       /* of sk, -1 while closed */
  int procfd;   /* /proc, for openat */
  char host_mntns[64]; /* "mnt:[ino]" of pid 1, "" when unknown */
  uint32_t seq; /* of our connector control messages */
  uint64_t retry_timer;
  uint64_t resume_timer;
  uint64_t last_wake_ns;
  uint64_t overrun_logged_ns;
  uint64_t overruns_unlogged;
  struct procwatch_stats st;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_nl from[BATCH];
  char bufs[BATCH][MSG_BYTES];
};

static inline void
cleanup_nl_sockp (struct nl_sock **sk)
{
  if (*sk)
    nl_socket_free (*sk);
}
#define cleanup_nl_sock __attribute__ ((cleanup (cleanup_nl_sockp)))

static uint64_t
mono_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* ---- the cgroup parser ---- */

static bool
is_hex_id (const char *s, size_t n)
{
  if (n != PROCWATCH_ID_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* One path component: "<id>", or "<prefix><id>" with an optional ".scope". */
static bool
component_id (const char *c, size_t n, char out[PROCWATCH_ID_LEN + 1])
{
  static const char *const prefixes[] = { "docker-", "libpod-", "cri-containerd-", "crio-", "containerd-" };
  static const char scope[] = ".scope";
  const size_t scope_len = sizeof scope - 1;

  if (n > scope_len && memcmp (c + n - scope_len, scope, scope_len) == 0)
    n -= scope_len;
  else if (is_hex_id (c, n))
    goto found;
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    {
      size_t pl = strlen (prefixes[i]);
      if (n == pl + PROCWATCH_ID_LEN && memcmp (c, prefixes[i], pl) == 0 && is_hex_id (c + pl, n - pl))
        {
          c += pl;
          goto found;
        }
    }
  return false;
found:
  memcpy (out, c, PROCWATCH_ID_LEN);
  out[PROCWATCH_ID_LEN] = '\0';
  return true;
}

/* The outermost container id in a cgroup path, if any. */
static bool
path_id (const char *p, size_t n, char out[PROCWATCH_ID_LEN + 1])
{
  size_t i = 0;
  while (i < n)
    {
      while (i < n && p[i] == '/')
        i++;
      size_t start = i;
      while (i < n && p[i] != '/')
        i++;
      if (i > start && component_id (p + start, i - start, out))
        return true;
    }
  return false;
}

int
procwatch_container_of_cgroup (const char *text, char out_id[PROCWATCH_ID_LEN + 1])
{
  char unified[PROCWATCH_ID_LEN + 1] = "", legacy[PROCWATCH_ID_LEN + 1] = "";
  const char *s = text;

  if (text == NULL)
    return -EINVAL;
  while (*s)
    {
      const char *eol = strchr (s, '\n');
      size_t len = eol ? (size_t) (eol - s) : strlen (s);
      const char *c1 = memchr (s, ':', len);
      if (c1 == NULL || c1 == s)
        return -EINVAL;
      for (const char *d = s; d < c1; d++)
        if (*d < '0' || *d > '9')
          return -EINVAL;
      const char *c2 = memchr (c1 + 1, ':', len - (size_t) (c1 + 1 - s));
      /* The path follows the second colon; it may itself hold colons. */
      if (c2 == NULL || c2 + 1 >= s + len || c2[1] != '/')
        return -EINVAL;
      const char *path = c2 + 1;
      size_t plen = len - (size_t) (path - s);
      bool is_unified = c1 - s == 1 && *s == '0' && c2 == c1 + 1;
      char id[PROCWATCH_ID_LEN + 1];
      if (path_id (path, plen, id))
        {
          if (is_unified && unified[0] == '\0')
            memcpy (unified, id, sizeof id);
          else if (!is_unified && legacy[0] == '\0')
            memcpy (legacy, id, sizeof id);
        }
      if (eol == NULL)
        break;
      s = eol + 1;
    }
  if (unified[0])
    memcpy (out_id, unified, sizeof unified);
  else if (legacy[0])
    memcpy (out_id, legacy, sizeof legacy);
  else
    return 0;
  return 1;
}

/* ---- the socket ---- */

static void on_readable (struct loop *l, int fd, uint32_t events, void *ud);

static int
send_mcast (struct procwatch *pw, uint32_t op, bool filtered, uint32_t *ack_out, lympho_error_t *err)
{
  union
  {
    struct cn_msg msg;
    char raw[sizeof (struct cn_msg) + sizeof (struct procwatch_proc_input)];
  } u;
  memset (&u, 0, sizeof u);
  struct procwatch_proc_input in = { .mcast_op = op, .event_type = PROC_EVENT_EXEC };
  size_t plen = filtered ? sizeof in : sizeof in.mcast_op;
  u.msg.id.idx = CN_IDX_PROC;
  u.msg.id.val = CN_VAL_PROC;
  /* The kernel answers with its own seq and our ack + 1. */
  u.msg.seq = ++pw->seq;
  u.msg.ack = pw->seq;
  u.msg.len = (uint16_t) plen;
  memcpy (u.raw + sizeof (struct cn_msg), &in, plen);
  int ret = nl_send_simple (pw->sk, NLMSG_DONE, 0, u.raw, (int) (sizeof (struct cn_msg) + plen));
  if (ret < 0)
    return lympho_error_set (err, EIO, "send to the process-events connector: %s", nl_geterror (ret));
  if (ack_out)
    *ack_out = u.msg.ack + 1;
  return 0;
}

/* Wait for the connector's answer carrying `ack`. Returns 1 with
 * *kerr set when it answered, 0 when it did not within ACK_WAIT_MS. Other
 * messages arriving meanwhile are dropped: we are not subscribed yet as far
 * as the caller is concerned. Blocking, but only while opening: a kernel
 * that knows the message answers within microseconds. */
static int
wait_ack (struct procwatch *pw, uint32_t ack, uint32_t *kerr, lympho_error_t *err)
{
  uint64_t deadline = now_mono_ms () + ACK_WAIT_MS;
  char buf[MSG_BYTES];
  for (;;)
    {
      uint64_t now = now_mono_ms ();
      if (now >= deadline)
        return 0;
      struct pollfd p = { .fd = pw->fd, .events = POLLIN };
      int n = poll (&p, 1, (int) (deadline - now));
      if (n < 0 && errno != EINTR)
        return lympho_error_set_errno (err, errno, "poll the process-events connector");
      if (n <= 0)
        continue;
      struct sockaddr_nl from;
      socklen_t fl = sizeof from;
      ssize_t r = recvfrom (pw->fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
      if (r < 0)
        {
          if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
            continue;
          return lympho_error_set_errno (err, errno, "receive from the process-events connector");
        }
      if (from.nl_pid != 0)
        continue;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, (size_t) r); h = NLMSG_NEXT (h, r))
        {
          if (h->nlmsg_len < NLMSG_LENGTH (sizeof (struct cn_msg) + sizeof (struct proc_event)))
            continue;
          struct cn_msg *m = NLMSG_DATA (h);
          struct proc_event ev;
          memcpy (&ev, m->data, sizeof ev); /* m->data is only 4-byte aligned */
          if (m->id.idx == CN_IDX_PROC && ev.what == PROC_EVENT_NONE && m->ack == ack)
            {
              *kerr = ev.event_data.ack.err;
              return 1;
            }
        }
    }
}

/* Open, subscribe (asking for exec events only where the kernel can filter)
 * and register on the loop. */
static int
watch_connect (struct procwatch *pw, lympho_error_t *err)
{
  cleanup_nl_sock struct nl_sock *sk = nl_socket_alloc ();
  if (sk == NULL)
    return lympho_error_set (err, ENOMEM, "nl_socket_alloc");
  /* Connector messages carry no netlink acks or sequence numbers of libnl's
   * kind; we read them ourselves (below) and never through nl_recvmsgs. */
  nl_socket_disable_seq_check (sk);
  nl_socket_disable_auto_ack (sk);
  int ret = nl_connect (sk, NETLINK_CONNECTOR);
  if (ret < 0)
    return lympho_error_set (err, EIO, "connect to the process-events connector: %s", nl_geterror (ret));
  ret = nl_socket_add_membership (sk, CN_IDX_PROC);
  if (ret < 0)
    return lympho_error_set (err, EIO, "join the process-events group: %s", nl_geterror (ret));
  int fd = nl_socket_get_fd (sk);
  int sz = RCVBUF_BYTES;
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
    {
      log_debug ("procwatch: SO_RCVBUFFORCE: %s; falling back to SO_RCVBUF", strerror (errno));
      ret = nl_socket_set_buffer_size (sk, RCVBUF_BYTES, 0);
      if (ret < 0)
        log_warn ("procwatch: cannot grow the receive buffer: %s", nl_geterror (ret));
    }

  pw->sk = sk;
  pw->fd = fd;
  /* The short form first: every kernel answers it, which tells us we are
   * subscribed (or why not). Then narrow to exec events: a kernel >= 6.6
   * filters for us from then on (its answer is filtered away too); an older
   * one ignores the request and we drop the other events ourselves. */
  uint32_t ack = 0, kerr = 0;
  ret = send_mcast (pw, PROC_CN_MCAST_LISTEN, false, &ack, err);
  if (ret == 0)
    ret = wait_ack (pw, ack, &kerr, err);
  if (ret == 0)
    ret = lympho_error_set (err, ETIMEDOUT, "the process-events connector did not answer (CAP_NET_ADMIN?)");
  if (ret > 0 && kerr != 0)
    ret = lympho_error_set_errno (err, (int) kerr, "subscribe to process events");
  if (ret > 0)
    ret = send_mcast (pw, PROC_CN_MCAST_LISTEN, true, NULL, err);
  if (ret < 0)
    {
      send_mcast (pw, PROC_CN_MCAST_IGNORE, false, NULL, NULL);
      pw->sk = NULL;
      pw->fd = -1;
      return ret;
    }

  ret = nl_socket_set_nonblocking (sk);
  if (ret >= 0)
    ret = loop_add_fd (pw->loop, fd, EPOLLIN, on_readable, pw, err);
  else
    ret = lympho_error_set (err, EIO, "nl_socket_set_nonblocking: %s", nl_geterror (ret));
  if (ret < 0)
    {
      send_mcast (pw, PROC_CN_MCAST_IGNORE, false, NULL, NULL);
      pw->sk = NULL;
      pw->fd = -1;
      return ret;
    }
  sk = NULL;
  return 0;
}

static void
watch_disconnect (struct procwatch *pw)
{
  if (pw->sk == NULL)
    return;
  loop_cancel_timer (pw->loop, pw->resume_timer);
  pw->resume_timer = 0;
  loop_del_fd (pw->loop, pw->fd);
  /* Older kernels count listeners globally and never uncount a closed socket:
   * say goodbye so they stop producing events for nobody. */
  send_mcast (pw, PROC_CN_MCAST_IGNORE, false, NULL, NULL);
  nl_socket_free (pw->sk);
  pw->sk = NULL;
  pw->fd = -1;
}

static void
retry_connect (struct loop *l, void *ud)
{
  struct procwatch *pw = ud;
  lympho_error_t err = { 0 };
  (void) l;
  pw->retry_timer = 0;
  if (watch_connect (pw, &err) < 0)
    {
      log_error ("procwatch: reopen failed, exec events are not seen: %s; retrying in %d ms", err.msg,
                 RETRY_MS);
      pw->retry_timer = loop_add_timer (pw->loop, RETRY_MS, retry_connect, pw);
      return;
    }
  pw->st.reopens++;
  log_warn ("procwatch: process-events connector reopened; rescanning containers for what was missed");
  if (pw->cb.on_overrun)
    pw->cb.on_overrun (pw->cb.ud);
}

/* ---- events ---- */

static int
read_small (int dirfd, const char *path, char *buf, size_t size)
{
  int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  size_t len = 0;
  while (len < size - 1)
    {
      ssize_t r = read (fd, buf + len, size - 1 - len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      len += (size_t) r;
    }
  close (fd);
  buf[len] = '\0';
  return (int) len;
}

/* The process pid: attributed to its container and, for a container's,
 * reported through on_exec with its program and argv[0]. Host processes
 * stop at the first readlink. A process whose main thread is gone
 * (pthread_exit) has its program read through another of its threads.
 * Returns whether it was a container's. */
static bool
report_process (struct procwatch *pw, pid_t pid, uint64_t exec_ns, uint64_t read_ns, bool scanned)
{
  char path[64], text[8192];
  /* The cheapest test first: most execs on a node are host processes, which
   * share pid 1's mount namespace, and every engine gives a container its
   * own. One readlink costs a third of reading a cgroup v1 file. Only a
   * process with CAP_SYS_ADMIN on the host can join pid 1's namespace, and
   * such a one could as well leave its cgroup. */
  if (pw->host_mntns[0])
    {
      char ns[64];
      snprintf (path, sizeof path, "%d/ns/mnt", (int) pid);
      ssize_t nl = readlinkat (pw->procfd, path, ns, sizeof ns - 1);
      if (nl > 0)
        {
          ns[nl] = '\0';
          if (strcmp (ns, pw->host_mntns) == 0)
            {
              if (!scanned)
                pw->st.host_execs++;
              return false;
            }
        }
    }
  snprintf (path, sizeof path, "%d/cgroup", (int) pid);
  int len = read_small (pw->procfd, path, text, sizeof text);
  if (len <= 0)
    {
      if (!scanned)
        pw->st.unattributed++;
      return false;
    }
  if (len == (int) sizeof text - 1)
    {
      /* Cut a line that did not fit rather than parse half a path. */
      char *nl = strrchr (text, '\n');
      if (nl)
        nl[1] = '\0';
    }
  struct proc_exec pe = { .pid = pid, .exec_ns = exec_ns, .read_ns = read_ns, .scanned = scanned };
  int ret = procwatch_container_of_cgroup (text, pe.container_id);
  if (ret < 0)
    log_debug ("procwatch: pid %d: unreadable cgroup file", (int) pid);
  if (ret <= 0)
    return false;
  if (!scanned)
    pw->st.container_execs++;

  /* Its parent and start, before its program: whose it was can be told
   * after it exited (proctree_started_by_engine_seen). */
  snprintf (path, sizeof path, "%d/stat", (int) pid);
  char st[512];
  pe.have_seen = read_small (pw->procfd, path, st, sizeof st) > 0 && proctree_stat_parse (st, &pe.seen) == 0;
  char exe[4096], cmd[4096];
  snprintf (path, sizeof path, "%d/exe", (int) pid);
  ssize_t n = readlinkat (pw->procfd, path, exe, sizeof exe - 1);
  if (n < 0)
    {
      /* Its main thread exited: the program is every thread's. */
      snprintf (path, sizeof path, "%d/task", (int) pid);
      int tfd = openat (pw->procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      DIR *dir = tfd >= 0 ? fdopendir (tfd) : NULL;
      if (dir == NULL && tfd >= 0)
        close (tfd);
      for (struct dirent *de; dir && n < 0 && (de = readdir (dir)) != NULL;)
        if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
          {
            char tp[320];
            snprintf (tp, sizeof tp, "%d/task/%s/exe", (int) pid, de->d_name);
            n = readlinkat (pw->procfd, tp, exe, sizeof exe - 1);
          }
      if (dir)
        closedir (dir);
    }
  if (n >= 0)
    {
      exe[n] = '\0';
      pe.exe = exe;
      struct stat xs;
      snprintf (path, sizeof path, "%d/exe", (int) pid);
      if (fstatat (pw->procfd, path, &xs, 0) == 0)
        {
          pe.have_exe_dev = true;
          pe.exe_dev = xs.st_dev;
        }
    }
  snprintf (path, sizeof path, "%d/cmdline", (int) pid);
  /* argv[0] ends at the first NUL; an empty cmdline (zombie) means gone. */
  if (read_small (pw->procfd, path, cmd, sizeof cmd) > 0)
    pe.argv0 = cmd;
  if (pw->cb.on_exec)
    pw->cb.on_exec (pw->cb.ud, &pe);
  return true;
}

static void
handle_exec (struct procwatch *pw, const struct proc_event *ev, uint64_t read_ns)
{
  pw->st.execs++;
  report_process (pw, ev->event_data.exec.process_tgid, ev->timestamp_ns, read_ns, false);
}

size_t
procwatch_scan (struct procwatch *pw, size_t max)
{
  if (pw == NULL)
    return 0;
  int dfd = dup (pw->procfd);
  DIR *dir = dfd >= 0 ? fdopendir (dfd) : NULL;
  if (dir == NULL)
    {
      if (dfd >= 0)
        close (dfd);
      return 0;
    }
  rewinddir (dir);
  size_t seen = 0, found = 0;
  uint64_t now = mono_ns ();
  for (struct dirent *de; seen < max && (de = readdir (dir)) != NULL;)
    {
      char *end;
      long pid = strtol (de->d_name, &end, 10);
      if (*end || pid <= 1)
        continue;
      seen++;
      found += report_process (pw, (pid_t) pid, now, now, true);
    }
  closedir (dir);
  pw->st.scans++;
  pw->st.scanned += seen;
  return found;
}

static void
handle_message (struct procwatch *pw, const char *buf, size_t len, uint64_t read_ns)
{
  for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK (h, len); h = NLMSG_NEXT (h, len))
    {
      if (h->nlmsg_len < NLMSG_LENGTH (sizeof (struct cn_msg) + sizeof (struct proc_event)))
        continue;
      const struct cn_msg *m = NLMSG_DATA (h);
      if (m->id.idx != CN_IDX_PROC || m->id.val != CN_VAL_PROC)
        continue;
      /* The event follows a 20-byte header: copy it out to align its u64. */
      struct proc_event ev;
      memcpy (&ev, m->data, sizeof ev);
      pw->st.messages++;
      if (ev.what == PROC_EVENT_EXEC)
        handle_exec (pw, &ev, read_ns);
      else if (ev.what != PROC_EVENT_NONE)
        pw->st.other_events++;
    }
}

static void
note_overrun (struct procwatch *pw)
{
  uint64_t now = mono_ns ();
  pw->st.overruns++;
  pw->overruns_unlogged++;
  if (pw->overrun_logged_ns == 0 || now - pw->overrun_logged_ns >= OVERRUN_LOG_NS)
    {
      log_warn ("procwatch: process-events connector overran (%llu time(s)); exec events were lost, "
                "rescanning containers",
                (unsigned long long) pw->overruns_unlogged);
      pw->overrun_logged_ns = now;
      pw->overruns_unlogged = 0;
    }
}

static void
resume_watching (struct loop *l, void *ud)
{
  struct procwatch *pw = ud;
  lympho_error_t err = { 0 };
  (void) l;
  pw->resume_timer = 0;
  if (pw->sk && loop_mod_fd (pw->loop, pw->fd, EPOLLIN, &err) < 0)
    log_error ("procwatch: %s", err.msg);
}

static void
on_readable (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct procwatch *pw = ud;
  bool overrun = false;
  int handled = 0;
  (void) l;
  (void) events;

  /* recvmmsg rather than libnl's nl_recv, which allocates a buffer per
   * message: this is the hot path under an exec storm. */
  pw->st.wakeups++;
  while (handled < MAX_PER_WAKE)
    {
      for (int i = 0; i < BATCH; i++)
        {
          pw->iov[i] = (struct iovec) { .iov_base = pw->bufs[i], .iov_len = MSG_BYTES };
          pw->msgs[i].msg_hdr = (struct msghdr) { .msg_name = &pw->from[i],
                                                  .msg_namelen = sizeof pw->from[i],
                                                  .msg_iov = &pw->iov[i],
                                                  .msg_iovlen = 1 };
        }
      int n = recvmmsg (fd, pw->msgs, BATCH, MSG_DONTWAIT, NULL);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          if (errno == ENOBUFS)
            {
              /* The kernel dropped events; the socket itself is fine. */
              note_overrun (pw);
              overrun = true;
              continue;
            }
          log_error ("procwatch: receive from the process-events connector: %s; reopening",
                     strerror (errno));
          watch_disconnect (pw);
          retry_connect (pw->loop, pw);
          return;
        }
      if (n == 0)
        break;
      uint64_t now = mono_ns ();
      for (int i = 0; i < n; i++)
        {
          /* Only the kernel speaks on this socket: anyone may send to our
           * port, and a forged exec must not end a container. */
          if (pw->from[i].nl_pid != 0 || (pw->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
            continue;
          handle_message (pw, pw->bufs[i], pw->msgs[i].msg_len, now);
        }
      handled += n;
      if (n < BATCH)
        break;
    }
  uint64_t now = mono_ns ();
  if (handled < MAX_PER_WAKE && pw->resume_timer == 0 && now - pw->last_wake_ns < COALESCE_NS)
    {
      lympho_error_t err = { 0 };
      if (loop_mod_fd (pw->loop, fd, 0, &err) == 0)
        pw->resume_timer = loop_add_timer (pw->loop, PAUSE_MS, resume_watching, pw);
    }
  pw->last_wake_ns = now;
  if (overrun && pw->cb.on_overrun)
    pw->cb.on_overrun (pw->cb.ud);
}

/* ---- public ---- */

int
procwatch_open (struct loop *l, const struct procwatch_callbacks *cb, struct procwatch **out, lympho_error_t *err)
{
  struct procwatch *pw = xmalloc0 (sizeof *pw);
  pw->loop = l;
  pw->cb = *cb;
  pw->fd = -1;
  /* A random start keeps our acks apart from another listener's. */
  if (random_bytes (&pw->seq, sizeof pw->seq, NULL) < 0)
    pw->seq = 0; /* any start works: randomness only keeps the acks apart */
  pw->procfd = open ("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pw->procfd < 0)
    {
      int e = errno;
      free (pw);
      return lympho_error_set_errno (err, e, "open /proc");
    }
  /* pid 1's namespace is the host's. Reading it needs capabilities that
   * cover pid 1's (or CAP_SYS_PTRACE); without them ours is the next best
   * guess. A wrong guess costs time, never an event: every exec then has
   * its cgroup file read. */
  ssize_t nl = readlinkat (pw->procfd, "1/ns/mnt", pw->host_mntns, sizeof pw->host_mntns - 1);
  if (nl <= 0)
    {
      log_debug ("procwatch: cannot read pid 1's mount namespace (%s); comparing with ours", strerror (errno));
      nl = readlinkat (pw->procfd, "self/ns/mnt", pw->host_mntns, sizeof pw->host_mntns - 1);
    }
  pw->host_mntns[nl > 0 ? nl : 0] = '\0';
  int ret = watch_connect (pw, err);
  if (ret < 0)
    {
      close (pw->procfd);
      free (pw);
      return lympho_error_pass (ret, err, "procwatch");
    }
  log_debug ("procwatch: subscribed to process events");
  *out = pw;
  return 0;
}

void
procwatch_close (struct procwatch *pw)
{
  if (pw == NULL)
    return;
  loop_cancel_timer (pw->loop, pw->retry_timer);
  watch_disconnect (pw);
  close (pw->procfd);
  free (pw);
}

void
procwatch_get_stats (const struct procwatch *pw, struct procwatch_stats *out)
{
  *out = pw->st;
}
