/* lympho — who started a process inside a container (proctree.h). Called
 * from the main loop (the exec detector) and from the exec guard's answer
 * thread: no allocation, no lock, nothing but reads of /proc. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lympho/proctree.h"

/* /proc/<pid> as a directory descriptor: each process on a walk is read
 * through one. -1 with errno when it cannot be opened. */
static int
proc_dir (int pid)
{
  char path[32];
  snprintf (path, sizeof path, "/proc/%d", pid);
  return open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int
proctree_mntns (int pid, struct proc_ns *out)
{
  char path[64];
  struct stat st;
  snprintf (path, sizeof path, "/proc/%d/ns/mnt", pid);
  if (stat (path, &st) < 0)
    return -errno;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return 0;
}

bool
proctree_ns_eq (const struct proc_ns *a, const struct proc_ns *b)
{
  return a->dev == b->dev && a->ino == b->ino;
}

int
proctree_engine_ns (int init_pid, struct proc_ns *out)
{
  int dfd = proc_dir (init_pid);
  if (dfd < 0)
    return -errno;
  int ppid = proctree_ppid_at (dfd);
  close (dfd);
  if (ppid <= 0)
    return ppid < 0 ? ppid : -ESRCH;
  return proctree_mntns (ppid, out);
}

size_t
proctree_ancestor_ns (int pid, struct proc_ns *out, size_t max)
{
  size_t n = 0;
  int dfd = proc_dir (pid);
  while (dfd >= 0 && n < max)
    {
      int ppid = proctree_ppid_at (dfd);
      close (dfd);
      dfd = -1;
      if (ppid <= 0)
        break;
      dfd = proc_dir (ppid);
      struct stat st;
      if (dfd < 0 || fstatat (dfd, "ns/mnt", &st, 0) < 0)
        break;
      out[n].dev = st.st_dev;
      out[n].ino = st.st_ino;
      n++;
    }
  if (dfd >= 0)
    close (dfd);
  return n;
}

int
proctree_stat_parse (const char *line, struct proc_seen *out)
{
  /* comm may hold spaces and parentheses: parse after the last ')'. Then
   * (3) state, (4) ppid, ... (22) starttime. */
  const char *p = strrchr (line, ')');
  char state = 0;
  int ppid = -1;
  unsigned long long start = 0;
  if (p == NULL
      || sscanf (p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &state,
                 &ppid, &start)
             != 3)
    return -EIO;
  out->ppid = ppid;
  out->state = state;
  out->start = start;
  return 0;
}

/* The stat line of the process whose /proc directory is dirfd. */
static int
seen_at (int dirfd, struct proc_seen *out)
{
  char buf[512];
  int fd = openat (dirfd, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  int saved = errno;
  close (fd);
  if (n <= 0)
    return n < 0 ? -saved : -EIO;
  buf[n] = '\0';
  return proctree_stat_parse (buf, out);
}

int
proctree_ppid_at (int dirfd)
{
  struct proc_seen s;
  int r = seen_at (dirfd, &s);
  if (r < 0)
    return r;
  return s.ppid > 0 ? s.ppid : -ESRCH;
}

/* From a process to its ancestors. child_dfd is the /proc directory of the
 * process the walk is at (-1 once it is gone: then only what was seen of
 * it), child what was read of it. A parent that has exited (a leader left
 * a zombie while its other threads end, as runc's is just after `docker
 * exec` started its process) has no namespace left: its own parent tells.
 * A parent gone, or whose pid a process started after the child has now,
 * may have had the child reparented meanwhile: the child's parent is read
 * again. Anything else unreadable: the workload's. */
static bool
walk_up (int child_dfd, struct proc_seen child, int init_pid, const struct proc_ns *engine)
{
  bool by_engine = false;
  int rereads = 2;
  int ppid = child.ppid;
  for (int depth = 0; depth < 64; depth++)
    {
      if (ppid <= 0 || ppid == init_pid)
        break;
      int dfd = proc_dir (ppid);
      struct proc_seen p;
      if (dfd < 0 || seen_at (dfd, &p) < 0 || p.start > child.start)
        {
          if (dfd >= 0)
            close (dfd);
          struct proc_seen again;
          if (rereads-- > 0 && child_dfd >= 0 && seen_at (child_dfd, &again) == 0 && again.ppid != ppid)
            {
              ppid = again.ppid;
              continue;
            }
          break;
        }
      struct stat st;
      if (fstatat (dfd, "ns/mnt", &st, 0) == 0)
        {
          struct proc_ns pns = { st.st_dev, st.st_ino };
          if (proctree_ns_eq (&pns, engine))
            {
              by_engine = true; /* an ancestor in the engine's namespace */
              close (dfd);
              break;
            }
          /* The container's, or one of its own inside it: walk on. */
        }
      else if (p.state != 'Z' && p.state != 'X')
        {
          close (dfd);
          break; /* alive and unreadable: the workload's */
        }
      if (child_dfd >= 0)
        close (child_dfd);
      child_dfd = dfd;
      child = p;
      ppid = p.ppid;
    }
  if (child_dfd >= 0)
    close (child_dfd);
  return by_engine;
}

/* Whether pid can be the engine's at all: not the container's init, and
 * the engine's namespace known. */
static bool
walkable (int pid, int init_pid, const struct proc_ns *engine)
{
  return init_pid > 0 && engine != NULL && engine->ino != 0 && pid != init_pid;
}

bool
proctree_started_by_engine (int pid, int init_pid, const struct proc_ns *engine)
{
  if (!walkable (pid, init_pid, engine))
    return false;
  int dfd = proc_dir (pid);
  struct proc_seen s;
  if (dfd >= 0 && seen_at (dfd, &s) == 0)
    return walk_up (dfd, s, init_pid, engine);
  if (dfd >= 0)
    close (dfd);
  return false;
}

bool
proctree_started_by_engine_seen (int pid, const struct proc_seen *seen, int init_pid, const struct proc_ns *engine)
{
  if (!walkable (pid, init_pid, engine) || seen->ppid <= 0)
    return false;
  /* Still that process: from it as it is now (reparented, maybe). */
  int dfd = proc_dir (pid);
  struct proc_seen now;
  if (dfd >= 0 && seen_at (dfd, &now) == 0 && now.start == seen->start)
    return walk_up (dfd, now, init_pid, engine);
  if (dfd >= 0)
    close (dfd);
  /* Gone, or its pid another's: from the parent it had when it was seen. */
  return walk_up (-1, *seen, init_pid, engine);
}

/* Decode mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape (char *s)
{
  char *w = s;
  for (char *r = s; *r; r++)
    {
      if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7')
        {
          *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
          r += 3;
        }
      else
        *w++ = *r;
    }
  *w = '\0';
}

/* The next space-separated field of *p, NUL-terminated; NULL at the end. */
static char *
field (char **p)
{
  char *s = *p;
  while (*s == ' ')
    s++;
  if (*s == '\0' || *s == '\n')
    return NULL;
  char *e = s;
  while (*e && *e != ' ' && *e != '\n')
    e++;
  *p = *e ? e + 1 : e;
  *e = '\0';
  return s;
}

int
proctree_mount_parse (char *line, struct proc_mount *out)
{
  /* id parent major:minor root point options [optional...] - fstype source super */
  char *p = line;
  char *id = field (&p), *parent = field (&p), *devno = field (&p), *root = field (&p);
  char *point = field (&p), *options = field (&p);
  if (!id || !parent || !devno || !root || !point || !options)
    return -EINVAL;
  char *f;
  while ((f = field (&p)) != NULL && strcmp (f, "-") != 0)
    ;
  char *fstype = f ? field (&p) : NULL;
  if (fstype == NULL || point[0] != '/')
    return -EINVAL;
  char *end;
  errno = 0;
  unsigned long v = strtoul (id, &end, 10);
  if (errno || *end || end == id)
    return -EINVAL;
  unescape (point);
  out->id = v;
  out->point = point;
  out->options = options;
  out->fstype = fstype;
  return 0;
}

static bool
has_option (const char *options, const char *opt)
{
  size_t n = strlen (opt);
  for (const char *s = options; s && *s;)
    {
      const char *c = strchr (s, ',');
      size_t len = c ? (size_t) (c - s) : strlen (s);
      if (len == n && strncmp (s, opt, n) == 0)
        return true;
      s = c ? c + 1 : NULL;
    }
  return false;
}

static bool
under (const char *point, const char *dir)
{
  size_t n = strlen (dir);
  return strncmp (point, dir, n) == 0 && (point[n] == '\0' || point[n] == '/');
}

bool
proctree_mount_runnable (const struct proc_mount *m)
{
  static const char *const kernel[] = { "proc",   "sysfs",  "cgroup",    "cgroup2", "devpts",  "mqueue", "securityfs",
                                        "debugfs", "tracefs", "fusectl", "configfs", "bpf",    "nsfs",   "binfmt_misc",
                                        "pstore",  "efivarfs", "hugetlbfs", "autofs" };
  if (strcmp (m->point, "/") == 0 || under (m->point, "/proc") || under (m->point, "/sys"))
    return false;
  for (size_t i = 0; i < sizeof kernel / sizeof kernel[0]; i++)
    if (strcmp (m->fstype, kernel[i]) == 0)
      return false;
  return !has_option (m->options, "noexec");
}
