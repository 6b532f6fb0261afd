/* lympho — the exec guard (execguard.h): one fanotify group, the thread
 * that answers its permission events, the table of guarded containers it
 * reads, the pipe its reports reach the main loop through, and the watchdog
 * that drops the group when answers stall.
 *
 * The table is a list under one mutex. The main loop holds it only to link
 * or unlink a rule it built beforehand (resolving the allowed files, the
 * slow part, happens outside it); the thread holds it for one lookup. The
 * thread calls nothing that waits on the main loop, the engine or the disk:
 * fstat of the descriptor it was handed, reads of /proc, one write of the
 * answer and, rarely, one non-blocking write of a report.
 * May call: proctree, loop (from the main loop only). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>

#include "lympho/allow.h"
#include "lympho/execguard.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/proctree.h"
#include "lympho/util.h"
#include "shim/execguard-int.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* A guarded container's list resolves to at most this many files. */
#define MAX_IDENTS 4096
/* How deep interpreters may chain (script -> shell -> loader). */
#define MAX_INTERP_DEPTH 4
#define WATCHDOG_EVERY_MS 250
/* Programs a learning container reported lately, not reported again. */
#define LEARN_SEEN 64
/* Mounts of one container marked besides its root, at most. */
#define MAX_MOUNT_MARKS 64
/* Allowed files of one read-only root whose answer the kernel keeps, at
 * most (each an inode mark, which holds its inode until the container's
 * filesystem goes). */
#define CACHE_MAX_PER_ROOT 4096
/* Digests of pinned files kept, by the file's identity on a container's
 * root (a ring): each generation of an image hashes nothing again. */
#define HASHED_MAX 256

struct rule
{
  char id[72];
  int pid;
  struct proc_ns ns;
  struct proc_ns engine; /* the namespace of its init's parent (the shim) */
  dev_t root_dev;
  bool root_read_only; /* mounted read-only: nothing in the container can change a file there */
  unsigned n_cached;   /* ignore marks set on its allowed files (under mu) */
  uint64_t n_asked;    /* permission events of its programs answered (under mu) */
  enum execguard_mode mode;
  uint64_t since_ns;   /* CLOCK_MONOTONIC when its root was marked (or the kernel judge took it); 0 before */
  bool kernel;         /* judged by the kernel judge (no fanotify mark), as slot kslot */
  uint32_t kslot;
  struct ident *allow; /* sorted by device and inode */
  size_t n_allow;
  char **paths;        /* allowed names with no file when guarded: by name */
  size_t n_paths;
  struct
  {
    unsigned long id;
    char *point;
  } *mounts;           /* marked besides its root (main loop only) */
  size_t n_mounts;
  unsigned long *left; /* ids of its mounts that could not be marked (main loop only) */
  size_t n_left;
  struct
  {
    dev_t dev;
    ino_t ino;
  } seen[LEARN_SEEN];
  unsigned n_seen;
  struct rule *next;
};

struct execguard
{
  struct loop *loop;
  execguard_report_cb cb;
  void *ud;
  struct kjudge *kj;           /* the kernel judge; NULL: fanotify judges every rule */
  char *kj_why;                /* why there is none */
  uint32_t next_slot;
  int fan_fd;
  int wake_fd;
  int rep_rd, rep_wr;
  bool rep_watched;
  int null_fd;
  dev_t host_devs[2];          /* the roots of the host's init and of lymphd */
  size_t n_host_devs;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  struct rule *rules;          /* under mu */
  _Atomic uint64_t busy_since_us; /* an answer is being worked out since; 0: idle */
  atomic_bool dropped;
  char *problem;
  uint64_t wd_timer;
  _Atomic uint64_t allowed, denied, detected, engine, learned, unmatched, lost, max_us, answer_errors, cached;
  atomic_int rt_error; /* why the thread is not at real-time priority; 0: it is */
  /* The SHA-256 of pinned files by identity: main loop only. A file of an
   * image's layer has the same inode, size and times in every container of
   * that image (overlay gives the layer's inode); the device differs, and
   * only files on a container's root are kept. ctime is the kernel's own,
   * never set by a caller: a file changed since has another. */
  struct
  {
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
    char hex[65];
  } hashed[HASHED_MAX];
  unsigned n_hashed;
  _Atomic uint64_t hashes; /* pinned files read and hashed */
  _Atomic uint64_t hist[EXECGUARD_HIST]; /* answers by duration (execguard_hist_bucket) */
};

static uint64_t
mono_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static uint64_t
mono_us (void)
{
  return mono_ns () / 1000u;
}

static int64_t
ts_ns (struct timespec t)
{
  return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

static void
ident_of (const struct stat *st, struct ident *out)
{
  out->dev = st->st_dev;
  out->ino = st->st_ino;
  out->size = st->st_size;
  out->mtime_ns = ts_ns (st->st_mtim);
  out->ctime_ns = ts_ns (st->st_ctim);
}

static int
ident_cmp (const void *a, const void *b)
{
  const struct ident *x = a, *y = b;
  if (x->dev != y->dev)
    return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return 0;
}

/* The file is one of the list, unchanged since it was guarded. */
static bool
rule_allows (const struct rule *r, const struct stat *st)
{
  struct ident k;
  ident_of (st, &k);
  const struct ident *m = bsearch (&k, r->allow, r->n_allow, sizeof *r->allow, ident_cmp);
  return m && m->size == k.size && m->mtime_ns == k.mtime_ns && m->ctime_ns == k.ctime_ns;
}

static int str_cmp (const void *a, const void *b);

/* The file's name, as the container sees it, is one the list allows by
 * name (it had no file when the container was guarded). */
static bool
rule_allows_name (const struct rule *r, int fd)
{
  char link[64], name[PATH_MAX];
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink (link, name, sizeof name - 1);
  if (n <= 0)
    return false;
  name[n] = '\0';
  const char *key = name;
  return bsearch (&key, r->paths, r->n_paths, sizeof *r->paths, str_cmp) != NULL;
}

/* --- interpreters ---------------------------------------------------- */

static uint64_t
get_u (const unsigned char *p, int n, bool be)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v |= (uint64_t) p[be ? n - 1 - i : i] << (8 * i);
  return v;
}

int
exec_interpreter (int fd, char *out, size_t outlen)
{
  unsigned char h[256];
  if (outlen < 2)
    return -EINVAL;
  ssize_t n = pread (fd, h, sizeof h, 0);
  if (n < 0)
    return -errno;
  if (n >= 2 && h[0] == '#' && h[1] == '!')
    {
      /* "#!" [spaces] PATH [spaces ARG] "\n", within the kernel's limit. */
      size_t i = 2;
      while (i < (size_t) n && (h[i] == ' ' || h[i] == '\t'))
        i++;
      size_t s = i;
      while (i < (size_t) n && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\0')
        i++;
      if (i == s || h[s] != '/' || (i == (size_t) n && n == (ssize_t) sizeof h) || i - s >= outlen)
        return -EINVAL;
      memcpy (out, h + s, i - s);
      out[i - s] = '\0';
      return 0;
    }
  if (n < 52 || memcmp (h, "\177ELF", 4) != 0)
    return -ENOENT;
  bool is64 = h[4] == 2, be = h[5] == 2;
  if ((h[4] != 1 && h[4] != 2) || (h[5] != 1 && h[5] != 2) || (is64 && n < 64))
    return -EINVAL;
  uint64_t phoff = is64 ? get_u (h + 32, 8, be) : get_u (h + 28, 4, be);
  unsigned phentsize = (unsigned) get_u (h + (is64 ? 54 : 42), 2, be);
  unsigned phnum = (unsigned) get_u (h + (is64 ? 56 : 44), 2, be);
  if (phnum == 0)
    return -ENOENT;
  if (phentsize < (is64 ? 56u : 32u) || phnum > 512 || phoff > (uint64_t) INT64_MAX / 2)
    return -EINVAL;
  for (unsigned i = 0; i < phnum; i++)
    {
      unsigned char ph[56];
      size_t want = is64 ? 56 : 32;
      if (pread (fd, ph, want, (off_t) (phoff + (uint64_t) i * phentsize)) != (ssize_t) want)
        return -EINVAL;
      if (get_u (ph, 4, be) != 3 /* PT_INTERP */)
        continue;
      uint64_t off = is64 ? get_u (ph + 8, 8, be) : get_u (ph + 4, 4, be);
      uint64_t sz = is64 ? get_u (ph + 32, 8, be) : get_u (ph + 16, 4, be);
      if (sz < 2 || sz > outlen || off > (uint64_t) INT64_MAX / 2)
        return -EINVAL;
      if (pread (fd, out, sz, (off_t) off) != (ssize_t) sz)
        return -EINVAL;
      out[sz - 1] = '\0'; /* PT_INTERP holds its own NUL */
      if (out[0] != '/' || strlen (out) != sz - 1)
        return -EINVAL;
      return 0;
    }
  return -ENOENT;
}

/* --- building a rule (main loop) ------------------------------------- */

struct idents
{
  struct ident *v;
  size_t n;
};

int
execguard_sha256_fd (int fd, char hex[65])
{
  /* nettle, not OpenSSL: libmicrohttpd's GnuTLS already maps it, so
   * hashing costs no library of its own (#21). */
  struct sha256_ctx c;
  sha256_init (&c);
  static unsigned char buf[1 << 16]; /* the main loop's alone */
  off_t off = 0;
  ssize_t n;
  while ((n = pread (fd, buf, sizeof buf, off)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      {
        sha256_update (&c, (size_t) n, buf);
        off += n;
      }
  if (n < 0)
    return -errno;
  unsigned char md[SHA256_DIGEST_SIZE];
  sha256_digest (&c, sizeof md, md);
  for (unsigned i = 0; i < sizeof md; i++)
    snprintf (hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

enum added
{
  ADDED = 1,  /* the file (and its interpreters); not 0, which a stray "false" would be */
  NO_FILE,    /* the path names no file in the container */
  NOT_PINNED, /* its contents are not those its sha256 pins */
};

/* The SHA-256 of fd, whose identity is st, into hex: kept from an earlier
 * generation when st is on a container's root (root_dev), else read. */
static int
pinned_sha256 (struct execguard *g, dev_t root_dev, int fd, const struct stat *st, char hex[65])
{
  bool on_root = st->st_dev == root_dev;
  int64_t m = ts_ns (st->st_mtim), c = ts_ns (st->st_ctim);
  for (unsigned i = 0; on_root && i < g->n_hashed && i < HASHED_MAX; i++)
    if (g->hashed[i].ino == st->st_ino && g->hashed[i].size == st->st_size && g->hashed[i].mtime_ns == m
        && g->hashed[i].ctime_ns == c)
      {
        memcpy (hex, g->hashed[i].hex, 65);
        return 0;
      }
  int ret = execguard_sha256_fd (fd, hex);
  atomic_fetch_add (&g->hashes, 1);
  if (ret < 0 || !on_root)
    return ret;
  unsigned k = g->n_hashed++ % HASHED_MAX;
  g->hashed[k].ino = st->st_ino;
  g->hashed[k].size = st->st_size;
  g->hashed[k].mtime_ns = m;
  g->hashed[k].ctime_ns = c;
  memcpy (g->hashed[k].hex, hex, 65);
  return 0;
}

/* Adds path's file, and the interpreters it needs. sha256: the pin of its
 * contents, or NULL. */
static enum added
idents_add_path (struct execguard *g, dev_t root_dev, int rootfd, const char *path, const char *sha256,
                 struct idents *out, int depth)
{
  if (out->n >= MAX_IDENTS || depth > MAX_INTERP_DEPTH)
    return ADDED;
  /* Inside the container's root: an absolute symbolic link resolves
   * there, never on the host. */
  struct open_how how = {
    .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int) syscall (SYS_openat2, rootfd, path, &how, sizeof how);
  if (fd < 0)
    return NO_FILE;
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return NO_FILE;
    }
  char hex[65];
  if (sha256 && (pinned_sha256 (g, root_dev, fd, &st, hex) < 0 || strcmp (hex, sha256) != 0))
    {
      close (fd);
      return NOT_PINNED;
    }
  out->v = xrealloc (out->v, (out->n + 1) * sizeof *out->v);
  ident_of (&st, &out->v[out->n++]);
  char interp[PATH_MAX];
  int ret = exec_interpreter (fd, interp, sizeof interp);
  close (fd);
  if (ret == 0)
    (void) idents_add_path (g, root_dev, rootfd, interp, NULL, out, depth + 1);
  return ADDED;
}

static int
str_cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The host's own root filesystems, read when the guard opens (lymphd
 * still holds every privilege then): a container root on one of them is
 * never marked. */
static int
check_not_host (struct execguard *g, const struct stat *root, lympho_error_t *err)
{
  for (size_t i = 0; i < g->n_host_devs; i++)
    if (g->host_devs[i] == root->st_dev)
      return lympho_error_set (err, EPERM, "its root is on the host's root filesystem: not marked");
  struct stat st;
  if (stat ("/", &st) < 0)
    return lympho_error_set (err, errno, "cannot read lymphd's root: %s", strerror (errno));
  if (st.st_dev == root->st_dev)
    return lympho_error_set (err, EPERM, "its root is lymphd's own root filesystem: not marked");
  return 0;
}

static void
rule_unlink_locked (struct execguard *g, const char *id, struct rule **out)
{
  *out = NULL;
  for (struct rule **p = &g->rules; *p; p = &(*p)->next)
    if (strcmp ((*p)->id, id) == 0)
      {
        *out = *p;
        *p = (*p)->next;
        (*out)->next = NULL;
        return;
      }
}

static void
rule_free (struct rule *r)
{
  if (r == NULL)
    return;
  free (r->allow);
  strv_free (r->paths, r->n_paths);
  for (size_t i = 0; i < r->n_mounts; i++)
    free (r->mounts[i].point);
  free (r->mounts);
  free (r->left);
  free (r);
}

/* A rule unlinked: what the kernel judge holds of it goes, then the rule. */
static void
rule_drop (struct execguard *g, struct rule *r)
{
  if (r && r->kernel && g->kj)
    kjudge_unset (g->kj, r->kslot, (uint64_t) r->ns.ino, r->allow, r->n_allow, r->paths, r->n_paths);
  rule_free (r);
}

/* The mount point `point` of the container whose root is rootfd, opened
 * (O_PATH) and checked to be mount `id` itself, not what a symbolic link,
 * a later mount over it or a race put there: a descriptor, or -errno. */
static int
open_mount (int rootfd, const char *point, unsigned long id)
{
  const char *rel = point;
  while (*rel == '/')
    rel++;
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int) syscall (SYS_openat2, rootfd, rel, &how, sizeof how);
  if (fd < 0)
    return -errno;
  struct statx sx;
  if (statx (fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID)
      || sx.stx_mnt_id != id)
    {
      close (fd);
      return -ESTALE;
    }
  return fd;
}

/* fanotify_mark on the mount that fd (open_mount's) is the root of. A
 * directory is marked through ".", a file bound alone through a read
 * descriptor of its own (fanotify takes no O_PATH descriptor alone). */
static int
mark_mount_fd (struct execguard *g, unsigned int flags, uint64_t mask, int fd)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return -errno;
  int ret = 0;
  if (S_ISDIR (st.st_mode))
    ret = fanotify_mark (g->fan_fd, flags | FAN_MARK_MOUNT, mask, fd, ".");
  else if (S_ISREG (st.st_mode))
    {
      char self[64];
      snprintf (self, sizeof self, "/proc/self/fd/%d", fd);
      int rfd = open (self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      if (rfd < 0)
        return -errno;
      ret = fanotify_mark (g->fan_fd, flags | FAN_MARK_MOUNT, mask, rfd, NULL);
      int e = errno;
      close (rfd);
      errno = e;
    }
  else
    return -EOPNOTSUPP;
  return ret < 0 ? -errno : 0;
}

/* The root of r's container, still the one it was guarded on (O_PATH), or
 * -errno: -ESRCH when its pid now shows another root. */
static int
rule_root_open (const struct rule *r)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/root", r->pid);
  int rootfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return -errno;
  struct stat st;
  if (fstat (rootfd, &st) < 0 || st.st_dev != r->root_dev)
    {
      close (rootfd);
      return -ESRCH;
    }
  return rootfd;
}

/* Remove the marks of r while pid's root still is the root r saw. */
static void
unmark (struct execguard *g, const struct rule *r)
{
  /* Gone: its superblock and mounts, and their marks with them. */
  int rootfd = rule_root_open (r);
  if (rootfd < 0)
    return;
  if (fanotify_mark (g->fan_fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM, rootfd, ".")
          < 0
      && errno != ENOENT)
    log_warn ("exec guard: cannot remove the mark of pid %d: %s", r->pid, strerror (errno));
  for (size_t i = 0; i < r->n_mounts; i++)
    {
      int fd = open_mount (rootfd, r->mounts[i].point, r->mounts[i].id);
      if (fd < 0)
        continue; /* gone or covered: nothing of ours to reach */
      int ret = mark_mount_fd (g, FAN_MARK_REMOVE, FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM, fd);
      if (ret < 0 && ret != -ENOENT)
        log_warn ("exec guard: cannot remove the mark of %s in pid %d: %s", r->mounts[i].point, r->pid,
                  strerror (-ret));
      close (fd);
    }
  close (rootfd);
}

/* The events a rule's marks ask for: learning only listens. */
static uint64_t
mode_mask (enum execguard_mode mode)
{
  return mode == EXECGUARD_MODE_LEARN ? FAN_OPEN_EXEC : FAN_OPEN_EXEC_PERM;
}

/* The ids of the mounts of a mountinfo file (lymphd's own): a container's
 * mount is never one of them. */
static size_t
mount_ids (const char *path, unsigned long **out)
{
  *out = NULL;
  cleanup_free char *text = NULL;
  size_t len = 0, n = 0;
  lympho_error_t err = { 0 };
  if (read_file (path, 4u << 20, &text, &len, &err) < 0)
    return 0;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      struct proc_mount m;
      if (proctree_mount_parse (line, &m) < 0)
        continue;
      *out = xrealloc (*out, (n + 1) * sizeof **out);
      (*out)[n++] = m.id;
    }
  return n;
}

/* Mark r's container's own mounts a program could run from (volumes,
 * binds, tmpfs), each through its root: only mounts of the container's
 * own mount namespace (neither lymphd's nor the engine's), never one
 * lymphd's namespace holds, each checked to be the very mount reached.
 * r->mounts becomes what is marked now; returns how many could not be.
 * host: the ids of lymphd's own mounts (mount_ids), n_host of them.
 * refresh: a look again, every 10 s, for mounts the container made since
 * (it needs CAP_SYS_ADMIN): what is marked already is marked again (an
 * added mark changes nothing), a mount is named in a warning only the
 * first time it cannot be marked, and one newly marked is logged. */
static size_t
mark_mounts (struct execguard *g, struct rule *r, int rootfd, uint64_t mask, const unsigned long *host, size_t n_host,
             bool refresh)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/mountinfo", r->pid);
  cleanup_free char *text = NULL;
  size_t len = 0, left = 0;
  lympho_error_t err = { 0 };
  if (read_file (path, 4u << 20, &text, &len, &err) < 0)
    {
      log_warn ("exec guard: %.12s: its mounts cannot be read (%s): only its root is marked", r->id, err.msg);
      return 1;
    }
  /* Read from the process the rule was built for (not a pid reused since),
   * and a namespace of the container's own. */
  struct proc_ns now, self;
  if (proctree_mntns (r->pid, &now) < 0 || !proctree_ns_eq (&now, &r->ns) || proctree_mntns (getpid (), &self) < 0
      || proctree_ns_eq (&self, &r->ns) || proctree_ns_eq (&r->engine, &r->ns))
    {
      log_warn ("exec guard: %.12s: not in a mount namespace of its own: only its root is marked", r->id);
      return 1;
    }
  __typeof__ (r->mounts) now_marked = NULL;
  size_t n_now = 0;
  cleanup_free unsigned long *now_left = NULL;
  size_t n_now_left = 0;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      struct proc_mount m;
      if (proctree_mount_parse (line, &m) < 0 || !proctree_mount_runnable (&m))
        continue;
      bool known = false, was_left = false;
      for (size_t i = 0; i < r->n_mounts && !known; i++)
        known = r->mounts[i].id == m.id && strcmp (r->mounts[i].point, m.point) == 0;
      for (size_t i = 0; i < r->n_left && !was_left; i++)
        was_left = r->left[i] == m.id;
      bool quiet = refresh && was_left;
      bool hosts = false;
      for (size_t i = 0; i < n_host && !hosts; i++)
        hosts = host[i] == m.id;
      const char *why = hosts                      ? "lymphd's own namespace holds that mount"
                        : n_now >= MAX_MOUNT_MARKS ? "too many mounts"
                                                   : NULL;
      int ret = 0;
      if (why == NULL)
        {
          int fd = open_mount (rootfd, m.point, m.id);
          ret = fd < 0 ? fd : 0;
          if (ret == 0)
            {
              if (!refresh)
                (void) mark_mount_fd (g, FAN_MARK_REMOVE, FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM, fd);
              ret = mark_mount_fd (g, FAN_MARK_ADD, mask, fd);
              close (fd);
            }
          if (ret < 0)
            why = strerror (-ret);
        }
      if (why)
        {
          if (!quiet)
            log_warn ("exec guard: %.12s: %s not marked: %s", r->id, m.point, why);
          now_left = xrealloc (now_left, (n_now_left + 1) * sizeof *now_left);
          now_left[n_now_left++] = m.id;
          left++;
          continue;
        }
      if (refresh && !known)
        log_info ("exec guard: %.12s: %s, mounted since it was guarded, is marked now", r->id, m.point);
      now_marked = xrealloc (now_marked, (n_now + 1) * sizeof *now_marked);
      now_marked[n_now].id = m.id;
      now_marked[n_now].point = xstrdup (m.point);
      n_now++;
    }
  for (size_t i = 0; i < r->n_mounts; i++)
    free (r->mounts[i].point);
  free (r->mounts);
  r->mounts = now_marked;
  r->n_mounts = n_now;
  free (r->left);
  r->left = now_left;
  r->n_left = n_now_left;
  now_left = NULL;
  return left;
}

/* A rule replaced (a list learned, another mode) or released: the answers
 * the kernel keeps for its files were its list's. Inode marks are the
 * cache's alone: every root's go, and refill from their next executions. */
static void
flush_kept (struct execguard *g, const struct rule *old)
{
  if (old->n_cached && fanotify_mark (g->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) < 0)
    log_warn ("exec guard: %.12s: the kernel's kept answers cannot be flushed: %s", old->id, strerror (errno));
}

static void sweep (struct execguard *g);

void
execguard_refresh (struct execguard *g)
{
  if (g == NULL || g->rules == NULL)
    return;
  /* A container gone leaves no rule in the kernel judge for long: its
   * namespace's number may become another's. */
  sweep (g);
  if (atomic_load (&g->dropped))
    return;
  /* lymphd's own mount table, read once for every rule. The main loop
   * alone links, frees and marks rules: the list is walked without the
   * lock, which only keeps the answering thread's reads whole. */
  cleanup_free unsigned long *host = NULL;
  size_t n_host = mount_ids ("/proc/self/mountinfo", &host);
  for (struct rule *r = g->rules; r; r = r->next)
    {
      if (r->kernel)
        continue; /* the kernel judge judges by process: every mount is covered */
      int rootfd = rule_root_open (r);
      if (rootfd < 0)
        continue; /* gone, or another process since: the sweep forgets it */
      (void) mark_mounts (g, r, rootfd, mode_mask (r->mode), host, n_host, true);
      close (rootfd);
    }
}

/* Forget the rules of containers that are gone: their process is no more,
 * or no longer in the namespace it was guarded in. Checked outside the
 * lock, unlinked under it. */
static void
sweep (struct execguard *g)
{
  size_t n = 0, cap = 0;
  struct
  {
    char id[72];
    int pid;
    struct proc_ns ns;
  } *v = NULL;
  pthread_mutex_lock (&g->mu);
  for (struct rule *r = g->rules; r; r = r->next)
    {
      if (n == cap)
        {
          cap = cap ? 2 * cap : 16;
          v = xrealloc (v, cap * sizeof *v);
        }
      memcpy (v[n].id, r->id, sizeof v[n].id);
      v[n].pid = r->pid;
      v[n].ns = r->ns;
      n++;
    }
  pthread_mutex_unlock (&g->mu);
  for (size_t i = 0; i < n; i++)
    {
      struct proc_ns now;
      if (proctree_mntns (v[i].pid, &now) == 0 && now.dev == v[i].ns.dev && now.ino == v[i].ns.ino)
        continue;
      struct rule *old;
      pthread_mutex_lock (&g->mu);
      rule_unlink_locked (g, v[i].id, &old);
      pthread_mutex_unlock (&g->mu);
      if (old)
        log_debug ("exec guard: %.12s is gone", old->id);
      rule_drop (g, old);
    }
  free (v);
}

/* From now on every program started from r's root is judged as it
 * starts (execguard_judges). */
static void
rule_judged_since (struct execguard *g, struct rule *r)
{
  uint64_t now = mono_ns ();
  pthread_mutex_lock (&g->mu);
  r->since_ns = now;
  pthread_mutex_unlock (&g->mu);
}

int
execguard_protect (struct execguard *g, const char *id, int pid, enum execguard_mode mode, char *const *allow,
                   size_t n_allow, struct execguard_marked *marked, lympho_error_t *err)
{
  if (marked)
    memset (marked, 0, sizeof *marked);
  bool kernel = g->kj != NULL && mode != EXECGUARD_MODE_LEARN;
  if (atomic_load (&g->dropped) && !kernel)
    return lympho_error_set (err, ENOSYS, "%s", g->problem ? g->problem : "the exec guard was dropped");
  if (strlen (id) >= sizeof ((struct rule *) 0)->id)
    return lympho_error_set (err, EINVAL, "container id too long");
  if (pid <= 1)
    return lympho_error_set (err, ESRCH, "its main process is not known");
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/root", pid);
  int rootfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return lympho_error_set (err, errno, "cannot open the root of pid %d: %s", pid, strerror (errno));
  struct stat rst;
  struct statfs sf;
  if (fstat (rootfd, &rst) < 0 || fstatfs (rootfd, &sf) < 0)
    {
      int e = errno;
      close (rootfd);
      return lympho_error_set (err, e, "cannot read the root of pid %d: %s", pid, strerror (e));
    }
  if ((unsigned long) sf.f_type != (unsigned long) OVERLAYFS_SUPER_MAGIC)
    {
      close (rootfd);
      return lympho_error_set (err, EOPNOTSUPP,
                               "its root filesystem is not an overlay (type 0x%lx): only a container's own overlay is marked",
                               (unsigned long) sf.f_type);
    }
  int ret = check_not_host (g, &rst, err);
  if (ret < 0)
    {
      close (rootfd);
      return ret;
    }
  struct rule *r = xmalloc0 (sizeof *r);
  snprintf (r->id, sizeof r->id, "%s", id);
  r->pid = pid;
  r->mode = mode;
  r->root_dev = rst.st_dev;
  r->root_read_only = (sf.f_flags & ST_RDONLY) != 0;
  ret = proctree_mntns (pid, &r->ns);
  if (ret == 0 && proctree_engine_ns (pid, &r->engine) < 0)
    {
      /* Nothing is taken for the engine's then: docker exec is judged. */
      log_warn ("exec guard: %.12s: the engine's namespace cannot be read: every program is judged", id);
      memset (&r->engine, 0, sizeof r->engine);
    }
  if (ret < 0)
    {
      close (rootfd);
      rule_free (r);
      return lympho_error_set (err, -ret, "cannot read the mount namespace of pid %d: %s", pid, strerror (-ret));
    }
  struct idents ids = { NULL, 0 };
  if (mode != EXECGUARD_MODE_LEARN)
    for (size_t i = 0; i < n_allow; i++)
      {
        const char *sha256;
        cleanup_free char *p = xstrndup (allow[i], allow_entry_path_len (allow[i], &sha256));
        switch (idents_add_path (g, rst.st_dev, rootfd, p, sha256, &ids, 0))
          {
          case ADDED:
            break;
          case NOT_PINNED:
            /* Not what the operator pinned: judged outside the list, even by name. */
            log_warn ("exec guard: %.12s: %s is not the file its sha256 pins: it is %s", id, p,
                      mode == EXECGUARD_MODE_DENY ? "denied" : "an incident when it runs");
            if (marked)
              marked->not_pinned++;
            break;
          case NO_FILE:
            if (sha256)
              {
                log_warn ("exec guard: %.12s: %s is not in the container: a pinned program is never allowed by "
                          "name",
                          id, p);
                break;
              }
            /* Named by the list, not in the container now: a file that
             * appears there later is allowed by its name alone. */
            log_info ("exec guard: %.12s: %s is not in the container; allowed by name", id, p);
            r->paths = xrealloc (r->paths, (r->n_paths + 1) * sizeof *r->paths);
            r->paths[r->n_paths++] = xstrdup (p);
            break;
          }
      }
  if (r->n_paths > 1)
    qsort (r->paths, r->n_paths, sizeof *r->paths, str_cmp);
  if (ids.n > 1)
    qsort (ids.v, ids.n, sizeof *ids.v, ident_cmp);
  r->allow = ids.v;
  r->n_allow = ids.n;
  if (marked)
    marked->files = ids.n;

  sweep (g);
  if (kernel)
    {
      lympho_error_t kerr = { 0, "" };
      r->kslot = ++g->next_slot;
      if (kjudge_set (g->kj, r->kslot, (uint64_t) r->ns.ino, mode == EXECGUARD_MODE_DENY, pid,
                      (uint64_t) r->engine.ino, r->allow, r->n_allow, r->paths, r->n_paths, &kerr)
          == 0)
        r->kernel = true;
      else
        log_warn ("exec guard: %.12s: the kernel judge cannot take its list (%s): fanotify judges it", id,
                  kerr.msg);
    }
  /* The rule before the mark: the first event finds it. */
  struct rule *old;
  pthread_mutex_lock (&g->mu);
  rule_unlink_locked (g, id, &old);
  r->next = g->rules;
  g->rules = r;
  pthread_mutex_unlock (&g->mu);
  if (old && !old->kernel && !atomic_load (&g->dropped) && r->kernel)
    unmark (g, old); /* its mounts' marks too: the kernel judge covers them */
  if (old)
    flush_kept (g, old);
  rule_drop (g, old);
  if (r->kernel)
    {
      rule_judged_since (g, r);
      close (rootfd);
      return 0;
    }
  /* One kind of mark at a time: a learning container turns guarded. */
  if (fanotify_mark (g->fan_fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM, rootfd,
                     ".") < 0 && errno != ENOENT)
    log_debug ("exec guard: removing the old mark of %.12s: %s", id, strerror (errno));
  /* Detect mode asks too: its process waits while it is judged, so that
   * one that exits at once, or a file written over a listed path, is
   * judged by the file it runs, never missed or passed by its name. */
  uint64_t mask = mode_mask (mode);
  if (fanotify_mark (g->fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, rootfd, ".") < 0)
    {
      int e = errno;
      close (rootfd);
      pthread_mutex_lock (&g->mu);
      rule_unlink_locked (g, id, &old);
      pthread_mutex_unlock (&g->mu);
      rule_free (old);
      return lympho_error_set (err, e, "cannot mark its root filesystem: %s", strerror (e));
    }
  rule_judged_since (g, r);
  /* Its volumes, binds and tmpfs. The rule is linked: the main loop alone
   * touches its mounts. */
  cleanup_free unsigned long *host = NULL;
  size_t n_host = mount_ids ("/proc/self/mountinfo", &host);
  size_t left = mark_mounts (g, r, rootfd, mask, host, n_host, false);
  if (marked)
    {
      marked->mounts = r->n_mounts;
      marked->mounts_left = left;
    }
  close (rootfd);
  return 0;
}

bool
execguard_judges (struct execguard *g, const char *id, dev_t dev, uint64_t exec_ns)
{
  if (g == NULL || id == NULL || atomic_load (&g->dropped))
    return false;
  pthread_mutex_lock (&g->mu);
  struct rule *r = g->rules;
  while (r && strcmp (r->id, id) != 0)
    r = r->next;
  bool judges = r && r->mode != EXECGUARD_MODE_LEARN && r->since_ns && r->since_ns <= exec_ns && r->root_dev == dev;
  pthread_mutex_unlock (&g->mu);
  return judges;
}

bool
execguard_counts (struct execguard *g, const char *id, uint64_t *asked, unsigned *kept, size_t *mounts)
{
  bool found = false;
  *asked = 0;
  *kept = 0;
  *mounts = 0;
  if (g == NULL || id == NULL)
    return false;
  pthread_mutex_lock (&g->mu);
  struct rule *r = g->rules;
  while (r && strcmp (r->id, id) != 0)
    r = r->next;
  if (r)
    {
      found = true;
      *asked = r->kernel ? kjudge_asked (g->kj, (uint64_t) r->ns.ino) : r->n_asked;
      *kept = r->n_cached;
      *mounts = r->n_mounts; /* the main loop's: read on the main loop */
    }
  pthread_mutex_unlock (&g->mu);
  return found;
}

void
execguard_release (struct execguard *g, const char *id)
{
  if (g == NULL || id == NULL)
    return;
  struct rule *old;
  pthread_mutex_lock (&g->mu);
  rule_unlink_locked (g, id, &old);
  pthread_mutex_unlock (&g->mu);
  if (old == NULL)
    return;
  if (!atomic_load (&g->dropped) && !old->kernel)
    {
      unmark (g, old);
      flush_kept (g, old);
    }
  rule_drop (g, old);
}

/* --- the answering thread -------------------------------------------- */

static void
report (struct execguard *g, uint32_t kind, int pid, const char *id, int fd)
{
  struct execguard_report r;
  memset (&r, 0, sizeof r);
  r.kind = kind;
  r.pid = pid;
  snprintf (r.id, sizeof r.id, "%s", id);
  char link[64];
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink (link, r.path, sizeof r.path - 1);
  if (n <= 0)
    snprintf (r.path, sizeof r.path, "?");
  else
    r.path[n] = '\0';
  if (write (g->rep_wr, &r, sizeof r) != (ssize_t) sizeof r)
    atomic_fetch_add (&g->lost, 1);
}

static bool
learn_seen_locked (struct rule *r, const struct stat *st)
{
  for (unsigned i = 0; i < r->n_seen && i < LEARN_SEEN; i++)
    if (r->seen[i].dev == st->st_dev && r->seen[i].ino == st->st_ino)
      return true;
  unsigned k = r->n_seen++ % LEARN_SEEN;
  r->seen[k].dev = st->st_dev;
  r->seen[k].ino = st->st_ino;
  return false;
}

static struct rule *
rule_by_ns_locked (struct execguard *g, const struct proc_ns *ns)
{
  for (struct rule *r = g->rules; r; r = r->next)
    if (proctree_ns_eq (&r->ns, ns))
      return r;
  return NULL;
}

/* st is a file on the root of a rule judging a list (deny or detect mode),
 * and that rule allows it. *keep: the root is read-only and may have one
 * more of its answers kept by the kernel (counted here). */
static bool
allowed_on_its_root (struct execguard *g, const struct stat *st, bool *keep)
{
  bool ok = false;
  *keep = false;
  pthread_mutex_lock (&g->mu);
  for (struct rule *r = g->rules; r && !ok; r = r->next)
    {
      ok = r->mode != EXECGUARD_MODE_LEARN && r->root_dev == st->st_dev && rule_allows (r, st);
      if (ok)
        r->n_asked++;
      if (ok && r->root_read_only && r->n_cached < CACHE_MAX_PER_ROOT)
        {
          r->n_cached++;
          *keep = true;
        }
    }
  pthread_mutex_unlock (&g->mu);
  return ok;
}

/* Answer a permission event; when it was answered (what the exec waited
 * for). A refused answer is counted, not logged: a log line may wait on
 * its reader. */
static uint64_t
answer (struct execguard *g, int fd, uint32_t response)
{
  struct fanotify_response resp = { .fd = fd, .response = response };
  if (write (g->fan_fd, &resp, sizeof resp) < 0 && !atomic_load (&g->dropped))
    atomic_fetch_add (&g->answer_errors, 1);
  return mono_us ();
}

/* One event: judge, answer when it asks for an answer. */
static void
handle (struct execguard *g, const struct fanotify_event_metadata *md, uint64_t *answered_us)
{
  bool perm = (md->mask & FAN_OPEN_EXEC_PERM) != 0;
  struct stat st;
  bool have_st = fstat (md->fd, &st) == 0;
  /* The common case first, with no read of /proc: a file of a guarded
   * root that its own list allows. Whoever runs it may: a process of
   * another container or of the host would be allowed too. */
  bool keep = false;
  if (perm && have_st && allowed_on_its_root (g, &st, &keep))
    {
      atomic_fetch_add (&g->allowed, 1);
      *answered_us = answer (g, md->fd, FAN_ALLOW);
      /* On a read-only root nothing in the container can change the file:
       * the kernel keeps the answer (an ignore mask on its inode, dropped
       * should the file ever be modified) and asks no more. A writable
       * root never: a shared writable mapping changes a file with no
       * modify event, and the kept answer would outlive the change. */
      if (keep
          && fanotify_mark (g->fan_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC_PERM, md->fd, NULL) == 0)
        atomic_fetch_add (&g->cached, 1);
      return;
    }
  struct proc_ns ns;
  bool have_ns = proctree_mntns (md->pid, &ns) == 0;
  char id[72] = "";
  int init_pid = 0;
  struct proc_ns rengine = { 0, 0 };
  bool only_detect = false;
  enum
  {
    V_ALLOW,
    V_JUDGE,
    V_LEARN,
    V_UNMATCHED,
  } v = V_UNMATCHED;

  pthread_mutex_lock (&g->mu);
  struct rule *r = have_ns ? rule_by_ns_locked (g, &ns) : NULL;
  if (r == NULL)
    {
      /* Not a guarded container's namespace: one of its own inside a
       * container (`unshare -m`)? The container is that of its nearest
       * ancestor in a guarded namespace; a host process has none. */
      pthread_mutex_unlock (&g->mu);
      struct proc_ns chain[16];
      size_t nc = proctree_ancestor_ns (md->pid, chain, sizeof chain / sizeof chain[0]);
      pthread_mutex_lock (&g->mu);
      for (size_t i = 0; i < nc && r == NULL; i++)
        r = rule_by_ns_locked (g, &chain[i]);
    }
  if (r == NULL)
    v = V_UNMATCHED; /* a process outside every guarded container */
  else if (r->mode == EXECGUARD_MODE_LEARN)
    v = !perm && have_st && !learn_seen_locked (r, &st) ? V_LEARN : V_ALLOW;
  else if (!perm)
    v = V_ALLOW; /* a notification queued before the list froze: it ran, nothing to deny */
  else if (have_st && rule_allows (r, &st))
    v = V_ALLOW;
  else if (r->n_paths && rule_allows_name (r, md->fd))
    v = V_ALLOW;
  else
    v = V_JUDGE;
  if (r)
    {
      if (perm)
        r->n_asked++;
      memcpy (id, r->id, sizeof id);
      init_pid = r->pid;
      rengine = r->engine;
      only_detect = r->mode == EXECGUARD_MODE_DETECT;
    }
  pthread_mutex_unlock (&g->mu);

  bool deny = false, detected = false;
  switch (v)
    {
    case V_ALLOW:
      atomic_fetch_add (&g->allowed, 1);
      break;
    case V_UNMATCHED:
      atomic_fetch_add (&g->unmatched, 1);
      break;
    case V_LEARN:
      atomic_fetch_add (&g->learned, 1);
      report (g, EXECGUARD_LEARNED, md->pid, id, md->fd);
      break;
    case V_JUDGE:
      if (proctree_started_by_engine (md->pid, init_pid, &rengine))
        atomic_fetch_add (&g->engine, 1);
      else if (only_detect)
        {
          detected = true;
          atomic_fetch_add (&g->detected, 1);
        }
      else
        {
          deny = true;
          atomic_fetch_add (&g->denied, 1);
        }
      break;
    }
  if (perm)
    *answered_us = answer (g, md->fd, deny ? FAN_DENY : FAN_ALLOW);
  /* The answer first: the report may wait on nothing. */
  if (deny)
    report (g, EXECGUARD_DENIED, md->pid, id, md->fd);
  else if (detected)
    report (g, EXECGUARD_DETECTED, md->pid, id, md->fd);
}

static void *
guard_thread (void *arg)
{
  struct execguard *g = arg;
  sigset_t all;
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, NULL);
  /* The lowest real-time priority: ahead of every normal thread, behind
   * the kernel's own. Its work per event is bounded and it waits in poll;
   * the kernel's real-time throttling bounds it further. Not allowed (no
   * RLIMIT_RTPRIO, a unit with RestrictRealtime=, a cgroup without a
   * real-time budget): it answers at normal priority, and status says so. */
  struct sched_param sp = { .sched_priority = 1 };
  atomic_store (&g->rt_error, pthread_setschedparam (pthread_self (), SCHED_FIFO, &sp));
  /* Aligned for the kernel's metadata records. */
  static _Thread_local uint64_t buf[8192 / sizeof (uint64_t)];
  while (!atomic_load (&g->dropped))
    {
      struct pollfd p[2] = { { g->fan_fd, POLLIN, 0 }, { g->wake_fd, POLLIN, 0 } };
      int r = poll (p, 2, -1);
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[1].revents)
        break;
      if (!(p[0].revents & POLLIN))
        {
          if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
            break;
          continue;
        }
      ssize_t n = read (g->fan_fd, buf, sizeof buf);
      if (n <= 0)
        {
          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
          break;
        }
      const struct fanotify_event_metadata *md = (const void *) buf;
      for (; FAN_EVENT_OK (md, n); md = FAN_EVENT_NEXT (md, n))
        {
          if (md->vers != FANOTIFY_METADATA_VERSION)
            return NULL;
          if (md->fd < 0)
            continue; /* the queue overflowed: no permission event is lost that way */
          uint64_t t0 = mono_us (), answered = 0;
          atomic_store (&g->busy_since_us, t0);
          handle (g, md, &answered);
          close (md->fd);
          uint64_t done = mono_us ();
          atomic_store (&g->busy_since_us, 0);
          /* What the exec waited for: until its answer was written (the
           * event file's close and a report come after). A notification
           * has no answer: its whole handling. */
          uint64_t dt = (answered ? answered : done) - t0;
          atomic_fetch_add (&g->hist[execguard_hist_bucket (dt)], 1);
          uint64_t max = atomic_load (&g->max_us);
          while (dt > max && !atomic_compare_exchange_weak (&g->max_us, &max, dt))
            ;
        }
    }
  return NULL;
}

/* --- the main loop's side -------------------------------------------- */

/* The main thread runs at real-time priority between execguard_prepare
 * and execguard_prepared: the answering thread, created in between,
 * inherits it. */
static bool main_rt;
/* The kernel judge, loaded while lymphd holds every privilege, for
 * execguard_open to take; or why not. */
static struct kjudge *prepared_kj;
static char prepared_why[512];

static void
rt_prepare (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_RTPRIO, &rl) == 0 && rl.rlim_cur >= 1)
    return;
  struct rlimit want = { 1, rl.rlim_max >= 1 ? rl.rlim_max : 1 };
  if (setrlimit (RLIMIT_RTPRIO, &want) == 0)
    return;
  /* No CAP_SYS_RESOURCE to raise the limit (a unit would give it with
   * LimitRTPRIO=), but perhaps CAP_SYS_NICE, until the drop. */
  struct sched_param sp = { .sched_priority = 1 };
  int e = pthread_setschedparam (pthread_self (), SCHED_FIFO, &sp);
  if (e == 0)
    main_rt = true;
  else
    log_debug ("exec guard: no real-time priority allowed (%s): it answers at normal priority", strerror (e));
}

void
execguard_prepared (void)
{
  /* Not taken by execguard_open (the guard is unavailable): unloaded. */
  kjudge_close (prepared_kj);
  prepared_kj = NULL;
  if (!main_rt)
    return;
  /* Back to normal: a thread may always lower itself. */
  struct sched_param sp = { .sched_priority = 0 };
  int e = pthread_setschedparam (pthread_self (), SCHED_OTHER, &sp);
  if (e != 0)
    log_error ("exec guard: the main thread cannot leave real-time priority: %s", strerror (e));
  main_rt = false;
}

static void
on_reports (struct loop *loop, int fd, uint32_t events, void *ud)
{
  (void) loop;
  (void) events;
  struct execguard *g = ud;
  static struct execguard_report r;
  for (int i = 0; i < 64; i++)
    {
      ssize_t n = read (fd, &r, sizeof r);
      if (n != (ssize_t) sizeof r)
        return;
      r.id[sizeof r.id - 1] = '\0';
      r.path[sizeof r.path - 1] = '\0';
      g->cb (g->ud, &r);
    }
}

void
execguard_prepare (void)
{
  /* LYMPHO_EXEC_JUDGE=fanotify leaves the kernel judge out (the fanotify
   * judge's tests, and a way around it should it misbehave). */
  const char *want = getenv ("LYMPHO_EXEC_JUDGE");
  lympho_error_t kerr = { 0, "" };
  prepared_why[0] = '\0';
  if (want && strcmp (want, "fanotify") == 0)
    snprintf (prepared_why, sizeof prepared_why, "LYMPHO_EXEC_JUDGE=fanotify");
  else if (kjudge_load (&prepared_kj, &kerr) < 0)
    snprintf (prepared_why, sizeof prepared_why, "%s", kerr.msg);
  rt_prepare ();
}

/* A report of the kernel judge: the rule whose slot it names. */
static void
on_kreport (void *ud, enum kjudge_verdict v, uint32_t slot, int pid, const char *path)
{
  struct execguard *g = ud;
  static struct execguard_report r;
  memset (&r, 0, sizeof r);
  r.kind = v == KJUDGE_DENIED ? EXECGUARD_DENIED : EXECGUARD_DETECTED;
  r.pid = pid;
  pthread_mutex_lock (&g->mu);
  for (struct rule *x = g->rules; x; x = x->next)
    if (x->kernel && x->kslot == slot)
      {
        memcpy (r.id, x->id, sizeof r.id);
        break;
      }
  pthread_mutex_unlock (&g->mu);
  if (r.id[0] == '\0')
    return; /* a rule replaced since: its container's report is the new rule's to make */
  snprintf (r.path, sizeof r.path, "%s", path[0] ? path : "?");
  g->cb (g->ud, &r);
}

static void
drop (struct execguard *g, const char *why)
{
  atomic_store (&g->dropped, true);
  free (g->problem);
  g->problem = xasprintf ("the exec guard was dropped: %s; programs are detected, not denied", why);
  log_error ("%s", g->problem);
  /* The group's file goes with its last descriptor: the kernel allows
   * what waits and removes every mark. The number stays taken, by
   * /dev/null, so that the thread's late answer goes nowhere. */
  if (dup2 (g->null_fd, g->fan_fd) < 0)
    log_error ("exec guard: cannot drop the group: %s", strerror (errno));
  /* Wakes the thread should it be waiting. */
  uint64_t one = 1;
  if (write (g->wake_fd, &one, sizeof one) < 0)
    log_debug ("exec guard: wake: %s", strerror (errno));
}

static void
on_watchdog (struct loop *loop, void *ud)
{
  struct execguard *g = ud;
  g->wd_timer = 0;
  uint64_t since = atomic_load (&g->busy_since_us);
  if (since && mono_us () - since > (uint64_t) EXECGUARD_STALL_MS * 1000u)
    {
      cleanup_free char *why = xasprintf ("an answer has waited for more than %d ms", EXECGUARD_STALL_MS);
      drop (g, why);
      return;
    }
  g->wd_timer = loop_add_timer (loop, WATCHDOG_EVERY_MS, on_watchdog, g);
}

int
execguard_open (struct loop *loop, execguard_report_cb cb, void *ud, struct execguard **out, lympho_error_t *err)
{
  *out = NULL;
  int fan = fanotify_init (FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fan < 0)
    return lympho_error_set (err, errno, "fanotify permission events unavailable: %s%s", strerror (errno),
                             errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
  /* Whether the kernel knows exec permission events (>= 5.0): removing a
   * mark that does not exist says so without placing one. */
  if (fanotify_mark (fan, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, AT_FDCWD, "/") < 0
      && errno == EINVAL)
    {
      close (fan);
      return lympho_error_set (err, ENOSYS, "this kernel has no exec permission events (FAN_OPEN_EXEC_PERM)");
    }
  struct execguard *g = xmalloc0 (sizeof *g);
  g->loop = loop;
  g->cb = cb;
  g->ud = ud;
  g->fan_fd = fan;
  g->rep_rd = g->rep_wr = -1;
  pthread_mutex_init (&g->mu, NULL);
  static const char *const host[] = { "/proc/1/root", "/" };
  for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
    {
      struct stat st;
      if (stat (host[i], &st) == 0)
        g->host_devs[g->n_host_devs++] = st.st_dev;
      else
        log_warn ("exec guard: cannot read %s: %s (the other root is checked)", host[i],
                  strerror (errno));
    }
  if (g->n_host_devs == 0)
    {
      close (fan);
      pthread_mutex_destroy (&g->mu);
      free (g);
      return lympho_error_set (err, EPERM, "cannot tell the host's root filesystem: no container is marked");
    }
  g->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  g->null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int p[2] = { -1, -1 };
  if (g->wake_fd < 0 || g->null_fd < 0 || pipe2 (p, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      int e = errno;
      execguard_close (g);
      return lympho_error_set (err, e, "exec guard: %s", strerror (e));
    }
  g->rep_rd = p[0];
  g->rep_wr = p[1];
  int ret = loop_add_fd (loop, g->rep_rd, EPOLLIN, on_reports, g, err);
  if (ret < 0)
    {
      close (g->rep_rd);
      g->rep_rd = -1;
      execguard_close (g);
      return ret;
    }
  g->rep_watched = true;
  ret = pthread_create (&g->thread, NULL, guard_thread, g);
  if (ret != 0)
    {
      execguard_close (g);
      return lympho_error_set (err, ret, "exec guard: cannot start its thread: %s", strerror (ret));
    }
  g->thread_started = true;
  g->wd_timer = loop_add_timer (loop, WATCHDOG_EVERY_MS, on_watchdog, g);
  /* The kernel judge, loaded by execguard_prepare where the kernel runs
   * it: guarded containers' program starts are judged in their own path,
   * with nothing waiting on lymphd. */
  lympho_error_t kerr = { 0, "" };
  if (prepared_kj && kjudge_start (prepared_kj, loop, on_kreport, g, &kerr) < 0)
    {
      snprintf (prepared_why, sizeof prepared_why, "%s", kerr.msg);
      kjudge_close (prepared_kj);
    }
  else
    g->kj = prepared_kj;
  prepared_kj = NULL;
  if (g->kj == NULL)
    g->kj_why = xstrdup (prepared_why[0] ? prepared_why : "not loaded");
  if (g->kj)
    log_info ("exec guard: guarded containers' programs are judged by the kernel judge (BPF LSM)");
  else
    log_info ("exec guard: programs are judged through fanotify: %s", g->kj_why);
  *out = g;
  return 0;
}

void
execguard_close (struct execguard *g)
{
  if (g == NULL)
    return;
  if (g->wd_timer)
    loop_cancel_timer (g->loop, g->wd_timer);
  if (g->rep_watched)
    loop_del_fd (g->loop, g->rep_rd);
  if (g->thread_started)
    {
      uint64_t one = 1;
      if (write (g->wake_fd, &one, sizeof one) < 0)
        log_debug ("exec guard: wake: %s", strerror (errno));
      if (atomic_load (&g->dropped))
        {
          /* It may be stuck where it stalled: never wait for it, and
           * leave it what it reads. */
          pthread_detach (g->thread);
          return;
        }
      pthread_join (g->thread, NULL);
    }
  /* Closing the group removes every mark and allows what waits. */
  if (g->fan_fd >= 0)
    close (g->fan_fd);
  if (g->wake_fd >= 0)
    close (g->wake_fd);
  if (g->null_fd >= 0)
    close (g->null_fd);
  if (g->rep_rd >= 0)
    close (g->rep_rd);
  if (g->rep_wr >= 0)
    close (g->rep_wr);
  struct rule *r;
  while ((r = g->rules) != NULL)
    {
      g->rules = r->next;
      rule_free (r); /* the kernel judge's maps go with it */
    }
  kjudge_close (g->kj);
  free (g->kj_why);
  pthread_mutex_destroy (&g->mu);
  free (g->problem);
  free (g);
}

const char *
execguard_problem (struct execguard *g)
{
  return g && atomic_load (&g->dropped) ? g->problem : NULL;
}

void
execguard_stats (struct execguard *g, struct execguard_stats *out)
{
  memset (out, 0, sizeof *out);
  if (g == NULL)
    return;
  out->allowed = atomic_load (&g->allowed);
  out->denied = atomic_load (&g->denied);
  out->detected = atomic_load (&g->detected);
  out->cached = atomic_load (&g->cached);
  out->pins_hashed = atomic_load (&g->hashes);
  out->engine = atomic_load (&g->engine);
  out->learned = atomic_load (&g->learned);
  out->unmatched = atomic_load (&g->unmatched);
  out->lost_reports = atomic_load (&g->lost);
  out->max_answer_us = atomic_load (&g->max_us);
  out->answer_errors = atomic_load (&g->answer_errors);
  out->rt_error = atomic_load (&g->rt_error);
  for (unsigned i = 0; i < EXECGUARD_HIST; i++)
    out->hist[i] = atomic_load (&g->hist[i]);
  if (g->kj)
    {
      struct kjudge_counts k;
      kjudge_counts (g->kj, &k);
      out->kernel_judge = true;
      out->allowed += k.allowed;
      out->denied += k.denied;
      out->detected += k.detected;
      out->engine += k.engine;
      out->lost_reports += k.lost;
      out->kernel_judged = k.allowed + k.denied + k.detected + k.engine;
    }
}

const char *
execguard_judge (struct execguard *g, const char **why)
{
  *why = g ? g->kj_why : NULL;
  return g && g->kj ? "bpf-lsm" : "fanotify";
}

/* Log-linear: four buckets to each power of two, so that a quantile is
 * known within a quarter (exact below 8 us). */
unsigned
execguard_hist_bucket (uint64_t us)
{
  if (us < 4)
    return (unsigned) us;
  unsigned e = 63u - (unsigned) __builtin_clzll (us); /* 2^e <= us < 2^(e+1), e >= 2 */
  unsigned b = 4u * (e - 1u) + (unsigned) ((us >> (e - 2u)) & 3u);
  return b < EXECGUARD_HIST ? b : EXECGUARD_HIST - 1;
}

uint64_t
execguard_hist_upper (unsigned b)
{
  if (b < 4)
    return b + 1u;
  unsigned e = b / 4u + 1u, sub = b % 4u;
  return (uint64_t) (5u + sub) << (e - 2u);
}

uint64_t
execguard_quantile_us (const struct execguard_stats *st, double q)
{
  uint64_t total = 0, seen = 0;
  for (unsigned i = 0; i < EXECGUARD_HIST; i++)
    total += st->hist[i];
  if (total == 0)
    return 0;
  uint64_t want = (uint64_t) (q * (double) total + 0.5);
  if (want == 0)
    want = 1;
  for (unsigned i = 0; i < EXECGUARD_HIST; i++)
    {
      seen += st->hist[i];
      if (seen >= want)
        return execguard_hist_upper (i);
    }
  return execguard_hist_upper (EXECGUARD_HIST - 1);
}
