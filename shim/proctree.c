/* lympho — who started a process inside a container (proctree.h). Called
 * from the main loop (the exec detector) and from the exec guard's answer
 * thread: no allocation, no lock, nothing but reads of /proc. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lympho/proctree.h"

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
  char path[32];
  snprintf (path, sizeof path, "/proc/%d", init_pid);
  int dfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
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
  char path[32];
  snprintf (path, sizeof path, "/proc/%d", pid);
  int dfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  while (dfd >= 0 && n < max)
    {
      int ppid = proctree_ppid_at (dfd);
      close (dfd);
      dfd = -1;
      if (ppid <= 0)
        break;
      snprintf (path, sizeof path, "/proc/%d", ppid);
      dfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
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
proctree_ppid_at (int dirfd)
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
  /* comm may hold spaces and parentheses: parse after the last ')'. */
  char *p = strrchr (buf, ')');
  int ppid = -1;
  if (p == NULL || sscanf (p + 1, " %*c %d", &ppid) != 1)
    return -EIO;
  return ppid > 0 ? ppid : -ESRCH;
}

bool
proctree_started_by_engine (int pid, int init_pid, const struct proc_ns *engine)
{
  if (init_pid <= 0 || engine == NULL || engine->ino == 0 || pid == init_pid)
    return false;
  char path[32];
  snprintf (path, sizeof path, "/proc/%d", pid);
  int dfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (int depth = 0; dfd >= 0 && depth < 64; depth++)
    {
      int ppid = proctree_ppid_at (dfd);
      close (dfd);
      dfd = -1;
      if (ppid <= 0 || ppid == init_pid)
        return false;
      /* The parent, opened once: its namespace, then its own parent. */
      snprintf (path, sizeof path, "/proc/%d", ppid);
      dfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        return false;
      struct stat st;
      if (fstatat (dfd, "ns/mnt", &st, 0) < 0)
        break;       /* unreadable (a zombie leader, gone): the workload's */
      struct proc_ns pns = { st.st_dev, st.st_ino };
      if (proctree_ns_eq (&pns, engine))
        {
          close (dfd);
          return true; /* an ancestor in the engine's namespace */
        }
      /* The container's, or one of its own inside it: walk on. */
    }
  if (dfd >= 0)
    close (dfd);
  return false;
}
