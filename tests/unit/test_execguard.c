/* The exec guard's pure parts: the interpreter a file needs (ELF PT_INTERP,
 * "#!"), the answer-time quantiles; and proctree's judgement of who
 * started a process, on real processes in a mount namespace of the test's
 * own (root only: skipped otherwise). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/execguard.h"
#include "lympho/proctree.h"

/* A file holding len bytes of buf, open for reading. */
static int
file_of (const void *buf, size_t len)
{
  char path[] = "/tmp/lympho-test-exec.XXXXXX";
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  unlink (path);
  assert_int_equal (write (fd, buf, len), (ssize_t) len);
  return fd;
}

static int
interp_of (const void *buf, size_t len, char *out, size_t outlen)
{
  int fd = file_of (buf, len);
  int ret = exec_interpreter (fd, out, outlen);
  close (fd);
  return ret;
}

static void
test_script (void **state)
{
  (void) state;
  char out[256];
  assert_int_equal (interp_of ("#!/bin/sh -e\necho\n", 18, out, sizeof out), 0);
  assert_string_equal (out, "/bin/sh");
  assert_int_equal (interp_of ("#!  /usr/bin/env python3\n", 25, out, sizeof out), 0);
  assert_string_equal (out, "/usr/bin/env");
  assert_int_equal (interp_of ("#!/bin/busybox", 14, out, sizeof out), 0); /* EOF ends it */
  assert_string_equal (out, "/bin/busybox");
  assert_int_equal (interp_of ("#!sh\n", 5, out, sizeof out), -EINVAL);   /* not absolute */
  assert_int_equal (interp_of ("#!\n", 3, out, sizeof out), -EINVAL);
  assert_int_equal (interp_of ("#!/bin/sh\n", 10, out, 4), -EINVAL);      /* does not fit */
  char longline[300];
  memset (longline, 'a', sizeof longline);
  memcpy (longline, "#!/", 3);
  assert_int_equal (interp_of (longline, sizeof longline, out, sizeof out), -EINVAL);
  assert_int_equal (interp_of ("echo hi\n", 8, out, sizeof out), -ENOENT);
  assert_int_equal (interp_of ("", 0, out, sizeof out), -ENOENT);
}

static void
put (unsigned char *p, uint64_t v, int n, bool be)
{
  for (int i = 0; i < n; i++)
    p[be ? n - 1 - i : i] = (unsigned char) (v >> (8 * i));
}

/* An ELF file with nph program headers, the interpreter (when given) in
 * the second. */
static size_t
make_elf (unsigned char *buf, size_t cap, bool is64, bool be, const char *interp, size_t nph)
{
  memset (buf, 0, cap);
  memcpy (buf, "\177ELF", 4);
  buf[4] = is64 ? 2 : 1;
  buf[5] = be ? 2 : 1;
  size_t eh = is64 ? 64 : 52, phsz = is64 ? 56 : 32;
  size_t phoff = eh, data = phoff + nph * phsz;
  if (is64)
    {
      put (buf + 32, phoff, 8, be);
      put (buf + 54, phsz, 2, be);
      put (buf + 56, nph, 2, be);
    }
  else
    {
      put (buf + 28, phoff, 4, be);
      put (buf + 42, phsz, 2, be);
      put (buf + 44, nph, 2, be);
    }
  for (size_t i = 0; i < nph; i++)
    {
      unsigned char *ph = buf + phoff + i * phsz;
      bool is_interp = interp && i == 1;
      put (ph, is_interp ? 3 : 1, 4, be);
      if (!is_interp)
        continue;
      size_t sz = strlen (interp) + 1;
      if (is64)
        {
          put (ph + 8, data, 8, be);
          put (ph + 32, sz, 8, be);
        }
      else
        {
          put (ph + 4, data, 4, be);
          put (ph + 16, sz, 4, be);
        }
      memcpy (buf + data, interp, sz);
    }
  assert_true (data + 64 <= cap);
  return data + 64;
}

static void
test_elf (void **state)
{
  (void) state;
  unsigned char elf[1024];
  char out[256];
  size_t n = make_elf (elf, sizeof elf, true, false, "/lib/ld-musl-x86_64.so.1", 3);
  assert_int_equal (interp_of (elf, n, out, sizeof out), 0);
  assert_string_equal (out, "/lib/ld-musl-x86_64.so.1");
  n = make_elf (elf, sizeof elf, false, true, "/lib/ld.so.1", 2);
  assert_int_equal (interp_of (elf, n, out, sizeof out), 0);
  assert_string_equal (out, "/lib/ld.so.1");
  /* Static: no PT_INTERP. */
  n = make_elf (elf, sizeof elf, true, false, NULL, 3);
  assert_int_equal (interp_of (elf, n, out, sizeof out), -ENOENT);
  /* The interpreter does not fit the caller's buffer. */
  n = make_elf (elf, sizeof elf, true, false, "/lib/ld-musl-x86_64.so.1", 3);
  assert_int_equal (interp_of (elf, n, out, 8), -EINVAL);
  /* Cut before its program headers. */
  assert_int_equal (interp_of (elf, 64 + 30, out, sizeof out), -EINVAL);
  /* A NUL inside the interpreter's name, or a relative one. */
  n = make_elf (elf, sizeof elf, true, false, "/lib/ld.so", 3);
  elf[64 + 3 * 56 + 4] = '\0';
  assert_int_equal (interp_of (elf, n, out, sizeof out), -EINVAL);
  n = make_elf (elf, sizeof elf, true, false, "lib/ld.so", 3);
  assert_int_equal (interp_of (elf, n, out, sizeof out), -EINVAL);
  /* A bad class. */
  n = make_elf (elf, sizeof elf, true, false, "/lib/ld.so", 3);
  elf[4] = 7;
  assert_int_equal (interp_of (elf, n, out, sizeof out), -EINVAL);
  /* Too many program headers to be believed. */
  n = make_elf (elf, sizeof elf, true, false, "/lib/ld.so", 3);
  put (elf + 56, 60000, 2, false);
  assert_int_equal (interp_of (elf, n, out, sizeof out), -EINVAL);
}

static void
test_quantiles (void **state)
{
  (void) state;
  struct execguard_stats st;
  memset (&st, 0, sizeof st);
  assert_int_equal (execguard_quantile_us (&st, 0.99), 0);
  st.hist[execguard_hist_bucket (5)] = 98;
  st.hist[execguard_hist_bucket (600)] = 2; /* [512, 640) us */
  assert_int_equal (execguard_quantile_us (&st, 0.50), 6);
  assert_int_equal (execguard_quantile_us (&st, 0.98), 6);
  assert_int_equal (execguard_quantile_us (&st, 0.99), 640);
  assert_int_equal (execguard_quantile_us (&st, 1.0), 640);
  /* 41 us and 49 us are told apart from 64 us: [40, 48), [48, 56). */
  assert_int_equal (execguard_hist_upper (execguard_hist_bucket (41)), 48);
  assert_int_equal (execguard_hist_upper (execguard_hist_bucket (49)), 56);
  assert_int_equal (execguard_hist_upper (execguard_hist_bucket (64)), 80);
}

/* Every duration falls in one bucket, whose bound is above it and within a
 * quarter of it; buckets grow with the duration; the last holds the rest. */
static void
test_hist_buckets (void **state)
{
  (void) state;
  for (uint64_t us = 0; us < (1u << 24); us = us < 4096 ? us + 1 : us + us / 97 + 1)
    {
      unsigned b = execguard_hist_bucket (us);
      assert_true (b < EXECGUARD_HIST);
      uint64_t up = execguard_hist_upper (b);
      assert_true (up > us);
      assert_true (up <= us + us / 4 + 1);
      assert_true (b == 0 || execguard_hist_upper (b - 1) <= us);
    }
  assert_int_equal (execguard_hist_bucket (UINT64_MAX), EXECGUARD_HIST - 1);
  assert_int_equal (execguard_hist_bucket (1u << 30), EXECGUARD_HIST - 1);
}

/* --- proctree on real processes ------------------------------------ */

/* Process groups the cases start, killed whole after each case, failed or
 * not: a failed assertion must not leave a process behind. */
static pid_t groups[8];
static size_t n_groups;

static void
own_group (pid_t pid)
{
  setpgid (pid, pid); /* both sides, whichever runs first */
  if (pid != 0 && n_groups < sizeof groups / sizeof groups[0])
    groups[n_groups++] = pid;
}

static int
kill_groups (void **state)
{
  (void) state;
  for (size_t i = 0; i < n_groups; i++)
    {
      kill (-groups[i], SIGKILL);
      while (waitpid (groups[i], NULL, 0) < 0 && errno == EINTR)
        ;
    }
  n_groups = 0;
  return 0;
}

static int
wait_readable (int fd, int *out)
{
  ssize_t n = read (fd, out, sizeof *out);
  return n == (ssize_t) sizeof *out ? 0 : -1;
}

/* The "container": a process in a mount namespace of its own, its init. */
struct box
{
  pid_t init;
  struct proc_ns ns, engine;
};

/* Start a "container" init in a process group and a mount namespace of its
 * own. In there, `inside` (when not NULL) starts what the case needs and
 * writes one pid to `out`; without it the init writes its own pid. Returns
 * the init's pid; *told is the pid written, or -1 where unshare is not
 * allowed (no CAP_SYS_ADMIN: the case skips). */
static pid_t
spawn_box (void (*inside) (int out), int *told)
{
  int p[2];
  assert_int_equal (pipe (p), 0);
  pid_t init = fork ();
  assert_true (init >= 0);
  if (init == 0)
    {
      setpgid (0, 0);
      close (p[0]);
      int pid = -1;
      if (unshare (CLONE_NEWNS) < 0)
        _exit (write (p[1], &pid, sizeof pid) == (ssize_t) sizeof pid ? 0 : 1);
      if (inside)
        inside (p[1]);
      else
        {
          pid = getpid ();
          if (write (p[1], &pid, sizeof pid) != (ssize_t) sizeof pid)
            _exit (1);
        }
      for (;;)
        pause ();
    }
  own_group (init);
  close (p[1]);
  assert_int_equal (wait_readable (p[0], told), 0);
  close (p[0]);
  if (*told < 0)
    waitpid (init, NULL, 0);
  return init;
}

static bool
box_start (struct box *b)
{
  int told;
  b->init = spawn_box (NULL, &told);
  if (told < 0)
    return false;
  assert_int_equal (proctree_mntns (b->init, &b->ns), 0);
  /* The engine's namespace is its parent's: this test's. */
  assert_int_equal (proctree_engine_ns (b->init, &b->engine), 0);
  return true;
}

static void
box_stop (struct box *b)
{
  kill (b->init, SIGKILL);
  waitpid (b->init, NULL, 0);
}

/* fork: the child in a process group of its own, killed by the teardown. */
static pid_t
fork_own_group (void)
{
  pid_t p = fork ();
  assert_true (p >= 0);
  if (p == 0)
    setpgid (0, 0);
  else
    own_group (p);
  return p;
}

/* The box's mount namespace, to enter as `docker exec` does. */
static int
box_nsfd (const struct box *b)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/ns/mnt", b->init);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  return fd;
}

static void
test_engine_and_workload (void **state)
{
  (void) state;
  struct box b;
  if (!box_start (&b))
    skip (); /* unshare needs CAP_SYS_ADMIN */
  struct proc_ns self;
  assert_int_equal (proctree_mntns (getpid (), &self), 0);
  assert_false (self.dev == b.ns.dev && self.ino == b.ns.ino);

  /* Entered from outside, as `docker exec` does: its parent (this test)
   * is in another namespace. */
  int nsfd = box_nsfd (&b);
  pid_t e = fork_own_group ();
  if (e == 0)
    {
      if (setns (nsfd, CLONE_NEWNS) < 0)
        _exit (1);
      for (;;)
        pause ();
    }
  close (nsfd);
  struct proc_ns ens;
  for (int i = 0; i < 2000; i++)
    {
      if (proctree_mntns (e, &ens) == 0 && ens.ino == b.ns.ino)
        break;
      usleep (1000);
    }
  assert_int_equal (ens.ino, b.ns.ino);
  assert_true (proctree_started_by_engine (e, b.init, &b.engine));
  /* The container's init itself, and no namespace known: judged. */
  assert_false (proctree_started_by_engine (b.init, b.init, &b.engine));
  assert_false (proctree_started_by_engine (e, 0, &b.engine));
  kill (e, SIGKILL);
  waitpid (e, NULL, 0);
  /* Gone: unreadable, so judged (fail closed). */
  assert_false (proctree_started_by_engine (e, b.init, &b.engine));
  box_stop (&b);
}

/* The pthread_exit trick: inside the box, a process whose main thread
 * has exited while another thread forks a child. Its leader's namespace
 * link cannot be read any more; the child must still be the workload's. */
struct trick
{
  int out;
};

static void *
trick_thread (void *arg)
{
  struct trick *t = arg;
  pid_t c = fork ();
  if (c == 0)
    {
      for (;;)
        pause ();
    }
  /* Wait for the main thread to be gone before telling. */
  char path[64];
  struct stat st;
  snprintf (path, sizeof path, "/proc/%d/ns/mnt", getpid ());
  for (int i = 0; i < 2000 && stat (path, &st) == 0; i++)
    usleep (1000);
  int pid = c;
  if (write (t->out, &pid, sizeof pid) != (ssize_t) sizeof pid)
    _exit (1);
  for (;;)
    pause ();
  return NULL;
}

/* `unshare -m` inside the container: a namespace of its own whose
 * processes are still the workload's (the old check took any other
 * namespace for the engine's). */
/* Inside the box: a process that makes a namespace of its own, and a
 * child of it there (told). */
static void
inside_nested (int out)
{
  pid_t n = fork ();
  if (n != 0)
    return;
  if (unshare (CLONE_NEWNS) < 0)
    _exit (1);
  pid_t w = fork ();
  if (w == 0)
    {
      for (;;)
        pause ();
    }
  int pid = w;
  if (write (out, &pid, sizeof pid) < 0)
    _exit (1);
  for (;;)
    pause ();
}

static void
test_nested_namespace (void **state)
{
  (void) state;
  int w;
  pid_t init = spawn_box (inside_nested, &w);
  if (w < 0)
    skip ();
  struct proc_ns ns, wns, engine;
  assert_int_equal (proctree_mntns (init, &ns), 0);
  assert_int_equal (proctree_mntns (w, &wns), 0);
  assert_int_equal (proctree_engine_ns (init, &engine), 0);
  assert_false (proctree_ns_eq (&ns, &wns)); /* the precondition: a namespace of its own */
  assert_false (proctree_started_by_engine (w, init, &engine));
  /* Its ancestors' namespaces lead to the container's. */
  struct proc_ns chain[16];
  size_t nc = proctree_ancestor_ns (w, chain, 16);
  bool found = false, found_engine = false;
  for (size_t i = 0; i < nc; i++)
    {
      found = found || proctree_ns_eq (&chain[i], &ns);
      found_engine = found_engine || proctree_ns_eq (&chain[i], &engine);
    }
  assert_true (found);
  assert_true (found_engine); /* and on, to this test's */
}

/* Inside the box: the trick, whose forked child is told. */
static void
inside_trick (int out)
{
  pid_t z = fork ();
  if (z != 0)
    return;
  static struct trick t;
  t.out = out;
  pthread_t th;
  if (pthread_create (&th, NULL, trick_thread, &t) != 0)
    _exit (1);
  pthread_exit (NULL);
}

static void
test_pthread_exit_trick (void **state)
{
  (void) state;
  /* The box's init forks the trick: its tree is the workload's. */
  int child;
  pid_t init = spawn_box (inside_trick, &child);
  if (child < 0)
    skip ();
  struct proc_ns engine;
  assert_int_equal (proctree_engine_ns (init, &engine), 0);
  /* The precondition that fooled the old check: the child's parent (the
   * leader whose main thread exited) has no readable namespace. */
  char ppath[64];
  snprintf (ppath, sizeof ppath, "/proc/%d", child);
  int dfd = open (ppath, O_PATH | O_DIRECTORY);
  assert_true (dfd >= 0);
  int ppid = proctree_ppid_at (dfd);
  close (dfd);
  assert_true (ppid > 0 && ppid != init);
  struct proc_ns pns;
  assert_true (proctree_mntns (ppid, &pns) < 0);
  assert_false (proctree_started_by_engine (child, init, &engine));
  kill (child, SIGKILL);
  kill (ppid, SIGKILL);
  kill (init, SIGKILL);
  waitpid (init, NULL, 0);
}

/* `docker exec` as runc does it: the process is started in the container
 * by a process of the engine's namespace whose main thread then exits while
 * its other threads end. For that moment the started process's parent is
 * a leader with no namespace left; its parent is the engine's. (The exec
 * guard denied a program of a `docker exec` shell run then: stop 40's CI.) */
struct runc_like
{
  int done; /* the leader is gone: told here, apart from the child's pid */
  int nsfd;
};

static void *
runc_like_thread (void *arg)
{
  struct runc_like *r = arg;
  char path[64];
  struct stat st;
  snprintf (path, sizeof path, "/proc/%d/ns/mnt", getpid ());
  for (int i = 0; i < 2000 && stat (path, &st) == 0; i++)
    usleep (1000);
  int done = 1;
  if (write (r->done, &done, sizeof done) != (ssize_t) sizeof done)
    _exit (1);
  for (;;)
    pause ();
  return NULL;
}

static void
test_engine_parent_exiting (void **state)
{
  (void) state;
  struct box b;
  if (!box_start (&b))
    skip ();
  int nsfd = box_nsfd (&b);
  /* Two pipes: the child's pid and the leader's end come in either order. */
  int told[2], gone[2];
  assert_int_equal (pipe (told), 0);
  assert_int_equal (pipe (gone), 0);
  pid_t r = fork_own_group ();
  if (r == 0)
    {
      close (told[0]);
      close (gone[0]);
      static struct runc_like rl;
      rl.done = gone[1];
      rl.nsfd = nsfd;
      pid_t c = fork ();
      if (c == 0)
        {
          if (setns (rl.nsfd, CLONE_NEWNS) < 0)
            _exit (1);
          int pid = getpid ();
          if (write (told[1], &pid, sizeof pid) != (ssize_t) sizeof pid)
            _exit (1);
          for (;;)
            pause ();
        }
      pthread_t th;
      if (c < 0 || pthread_create (&th, NULL, runc_like_thread, &rl) != 0)
        _exit (1);
      pthread_exit (NULL);
    }
  close (told[1]);
  close (gone[1]);
  close (nsfd);
  int c, done;
  assert_int_equal (wait_readable (told[0], &c), 0);
  assert_int_equal (wait_readable (gone[0], &done), 0);
  close (told[0]);
  close (gone[0]);
  struct proc_ns cns = { 0, 0 }, rns;
  for (int i = 0; i < 2000; i++)
    {
      if (proctree_mntns (c, &cns) == 0 && proctree_ns_eq (&cns, &b.ns))
        break;
      usleep (1000);
    }
  assert_true (proctree_ns_eq (&cns, &b.ns));
  /* The precondition: its parent is that leader, with no namespace left. */
  char path[64];
  snprintf (path, sizeof path, "/proc/%d", c);
  int dfd = open (path, O_PATH | O_DIRECTORY);
  assert_true (dfd >= 0);
  assert_int_equal (proctree_ppid_at (dfd), r);
  close (dfd);
  assert_true (proctree_mntns (r, &rns) < 0);
  assert_true (proctree_started_by_engine (c, b.init, &b.engine));
  box_stop (&b);
}

/* An exec detector reads after the fact: a program `docker exec` started
 * may have exited, and been reaped, by then. What was seen of it while it
 * ran (its parent, its start) still says whose it was. */
static void
test_seen_after_exit (void **state)
{
  (void) state;
  struct box b;
  if (!box_start (&b))
    skip ();
  int nsfd = box_nsfd (&b);
  int told[2], go[2];
  assert_int_equal (pipe (told), 0);
  assert_int_equal (pipe (go), 0);
  /* e: the shell `docker exec` started, in the container; c its program. */
  pid_t e = fork_own_group ();
  if (e == 0)
    {
      if (setns (nsfd, CLONE_NEWNS) < 0)
        _exit (1);
      pid_t c = fork ();
      if (c == 0)
        {
          int pid = getpid (), x;
          if (write (told[1], &pid, sizeof pid) != (ssize_t) sizeof pid || read (go[0], &x, sizeof x) < 0)
            _exit (1);
          _exit (0);
        }
      while (waitpid (c, NULL, 0) < 0 && errno == EINTR)
        ;
      for (;;)
        pause ();
    }
  close (nsfd);
  int c;
  assert_int_equal (wait_readable (told[0], &c), 0);
  char line[512], path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", c);
  FILE *f = fopen (path, "r");
  assert_non_null (f);
  assert_non_null (fgets (line, sizeof line, f));
  fclose (f);
  struct proc_seen seen;
  assert_int_equal (proctree_stat_parse (line, &seen), 0);
  assert_int_equal (seen.ppid, e);
  int x = 1;
  assert_int_equal (write (go[1], &x, sizeof x), (ssize_t) sizeof x);
  snprintf (path, sizeof path, "/proc/%d", c);
  struct stat st;
  for (int i = 0; i < 2000 && stat (path, &st) == 0; i++)
    usleep (1000);
  assert_int_not_equal (stat (path, &st), 0); /* reaped */
  assert_false (proctree_started_by_engine (c, b.init, &b.engine));
  assert_true (proctree_started_by_engine_seen (c, &seen, b.init, &b.engine));
  /* A parent that started after the child is a pid used again: judged. */
  struct proc_seen early = seen;
  early.start = 0;
  assert_false (proctree_started_by_engine_seen (c, &early, b.init, &b.engine));
  /* A child of the container's init: the workload's. */
  struct proc_seen of_init = seen;
  of_init.ppid = b.init;
  assert_false (proctree_started_by_engine_seen (c, &of_init, b.init, &b.engine));
  close (told[0]);
  close (told[1]);
  close (go[0]);
  close (go[1]);
  box_stop (&b);
}

static void
test_stat_parse (void **state)
{
  (void) state;
  struct proc_seen s;
  assert_int_equal (proctree_stat_parse ("4242 (a) (b c) S 17 4242 4242 0 -1 4194560 99 0 0 0 1 2 0 0 20 0 2 0 "
                                         "900739 2322432 348 18446744073709551615\n",
                                         &s),
                    0);
  assert_int_equal (s.ppid, 17);
  assert_int_equal (s.state, 'S');
  assert_int_equal (s.start, 900739);
  assert_int_equal (proctree_stat_parse ("4242 (z) Z 17 4242", &s), -EIO); /* cut short */
  assert_int_equal (proctree_stat_parse ("no parenthesis", &s), -EIO);
}

/* SHA-256 of a file's contents, against the standard's test vectors. */
static void
test_sha256 (void **state)
{
  (void) state;
  static const struct
  {
    const char *text;
    size_t repeat;
    const char *hex;
  } v[] = {
    { "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    {
      char path[] = "/tmp/lympho-sha-XXXXXX";
      int fd = mkstemp (path);
      assert_true (fd >= 0);
      unlink (path);
      for (size_t k = 0; k < v[i].repeat; k++)
        assert_int_equal (write (fd, v[i].text, strlen (v[i].text)), (ssize_t) strlen (v[i].text));
      char hex[65];
      assert_int_equal (execguard_sha256_fd (fd, hex), 0);
      assert_string_equal (hex, v[i].hex);
      close (fd);
    }
  char hex[65];
  assert_true (execguard_sha256_fd (-1, hex) < 0);
}

/* mountinfo lines as a container's /proc/<pid>/mountinfo shows them. */
static void
test_mountinfo (void **state)
{
  (void) state;
  struct proc_mount m;
  char l1[] = "1205 1204 0:98 / / rw,relatime master:571 - overlay overlay rw,lowerdir=/x,upperdir=/y,workdir=/z\n";
  assert_int_equal (proctree_mount_parse (l1, &m), 0);
  assert_int_equal (m.id, 1205);
  assert_string_equal (m.point, "/");
  assert_string_equal (m.fstype, "overlay");
  assert_false (proctree_mount_runnable (&m)); /* the root: marked as a filesystem */
  char l2[] = "1230 1205 254:1 /var/lib/docker/volumes/v/_data /my\\040data rw,relatime - ext4 /dev/vda1 rw";
  assert_int_equal (proctree_mount_parse (l2, &m), 0);
  assert_string_equal (m.point, "/my data");
  assert_string_equal (m.options, "rw,relatime");
  assert_string_equal (m.fstype, "ext4");
  assert_true (proctree_mount_runnable (&m)); /* a volume */
  char l3[] = "1231 1205 0:120 / /scratch rw,nosuid,nodev,relatime shared:1 master:2 - tmpfs tmpfs rw";
  assert_int_equal (proctree_mount_parse (l3, &m), 0);
  assert_string_equal (m.point, "/scratch");
  assert_true (proctree_mount_runnable (&m)); /* a tmpfs, optional fields skipped */
  char l4[] = "1210 1205 0:104 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k";
  assert_int_equal (proctree_mount_parse (l4, &m), 0);
  assert_false (proctree_mount_runnable (&m)); /* noexec */
  char l5[] = "1206 1205 0:101 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw";
  assert_int_equal (proctree_mount_parse (l5, &m), 0);
  assert_false (proctree_mount_runnable (&m));
  char l6[] = "1220 1206 0:102 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw";
  assert_int_equal (proctree_mount_parse (l6, &m), 0);
  assert_false (proctree_mount_runnable (&m)); /* under /proc */
  char l7[] = "1209 1208 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw";
  assert_int_equal (proctree_mount_parse (l7, &m), 0);
  assert_false (proctree_mount_runnable (&m));
  char l8[] = "1211 1205 0:105 / /dev/pts rw,nosuid - devpts devpts rw";
  assert_int_equal (proctree_mount_parse (l8, &m), 0);
  assert_false (proctree_mount_runnable (&m)); /* a kernel filesystem */
  char l9[] = "1212 1205 0:106 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755";
  assert_int_equal (proctree_mount_parse (l9, &m), 0);
  assert_true (proctree_mount_runnable (&m)); /* /dev is a tmpfs a program can be copied to */
  char l10[] = "1213 1205 0:107 / /procdata rw - ext4 /dev/vda1 rw";
  assert_int_equal (proctree_mount_parse (l10, &m), 0);
  assert_true (proctree_mount_runnable (&m)); /* not under /proc */
  /* Malformed: too short, no separator, no fstype, a relative point, a bad id. */
  char b1[] = "1205 1204 0:98 /";
  char b2[] = "1205 1204 0:98 / / rw master:1";
  char b3[] = "1205 1204 0:98 / / rw -";
  char b4[] = "1205 1204 0:98 / rel rw - ext4 x rw";
  char b5[] = "12x 1204 0:98 / / rw - ext4 x rw";
  char b6[] = "";
  char *bad[] = { b1, b2, b3, b4, b5, b6 };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal (proctree_mount_parse (bad[i], &m), -EINVAL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_script),
    cmocka_unit_test (test_elf),
    cmocka_unit_test (test_quantiles),
    cmocka_unit_test (test_hist_buckets),
    cmocka_unit_test (test_mountinfo),
    cmocka_unit_test (test_sha256),
    cmocka_unit_test_teardown (test_engine_and_workload, kill_groups),
    cmocka_unit_test_teardown (test_pthread_exit_trick, kill_groups),
    cmocka_unit_test_teardown (test_nested_namespace, kill_groups),
    cmocka_unit_test_teardown (test_engine_parent_exiting, kill_groups),
    cmocka_unit_test_teardown (test_seen_after_exit, kill_groups),
    cmocka_unit_test (test_stat_parse),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
