/* lympho — the exec guard's kernel judge (shim/execguard.bpf.c) against a
 * real kernel, with no engine: a "container" made by hand (an overlay over
 * a lower directory, a mount namespace of its own, chroot into it), guarded
 * through the exec guard's own interface as lymphd guards one (execguard.h:
 * the judge loaded before privileges would drop, the list resolved in the
 * container, reports by container id), whose program starts must be
 * allowed or refused as its list says.
 *
 *   kjudge_check DIR      (root; DIR on a filesystem overlay can sit on)
 *
 * DIR/lower/bin must hold a static busybox as `ok`, `bad`, `ok2` to `ok4`
 * (tests/kernel/run-vm.sh builds it). Prints one line per check; exits 0
 * when all pass, 1 when one fails, 77 when the kernel runs no BPF LSM
 * program (the VM that runs this boots one that does: 77 is a failure
 * there). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lympho/execguard.h"
#include "lympho/loop.h"

static int failures, checks;
static struct loop *loop;
static struct execguard_report last;
static int n_reports;

static void
check (int ok, const char *what)
{
  checks++;
  if (!ok)
    failures++;
  printf ("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
  fflush (stdout);
}

static void
on_report (void *ud, const struct execguard_report *r)
{
  (void) ud;
  last = *r;
  n_reports++;
}

/* Reports waiting in the ring, read now. */
static void
drain (void)
{
  lympho_error_t e;
  for (int i = 0; i < 5; i++)
    if (loop_run_once (loop, 20, &e) < 0)
      break;
}

/* The container's init: takes one command a line from `in`, answers one
 * number a line on `out`: the exit status of a child that did it (an exec
 * that failed exits 100 + errno). */
static void
container_init (const char *merged, int in, int out)
{
  /* The host's mount namespace, held as a privileged container may reach
   * it (nsenter -t 1 -m): for "hostns". */
  int hostns = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (hostns < 0 || unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
      || chroot (merged) < 0 || chdir ("/") < 0)
    _exit (3);
  FILE *fi = fdopen (in, "r");
  int hold[2] = { -1, -1 }, held[2] = { -1, -1 };
  pid_t holder = -1;
  char line[512];
  while (fgets (line, sizeof line, fi))
    {
      line[strcspn (line, "\n")] = '\0';
      char *arg = strchr (line, ' ');
      if (arg)
        *arg++ = '\0';
      if (strcmp (line, "hold") == 0)
        {
          /* hold PATH: a process of the container opens PATH for writing
           * and maps it shared, now; it writes through the mapping at
           * "poke", with no open then. */
          if (pipe (hold) < 0 || pipe (held) < 0)
            _exit (8);
          holder = fork ();
          if (holder == 0)
            {
              int fd = open (arg, O_RDWR);
              char *m = fd < 0 ? MAP_FAILED : mmap (NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
              /* The mapping stays, the descriptor goes: a file open for
               * writing cannot be run at all (ETXTBSY). */
              if (m == MAP_FAILED || msync (m, 4096, MS_SYNC) < 0 || close (fd) < 0)
                _exit (9);
              char c = 0;
              if (write (held[1], "h", 1) != 1 || read (hold[0], &c, 1) != 1)
                _exit (10);
              /* A file's times move by the clock's grain (a tick where
               * changes are not fine-grained): one after the copy. */
              usleep (20000);
              ((volatile char *) m)[100] = m[100]; /* a store, kept */
              msync (m, 4096, MS_SYNC);
              _exit (write (held[1], "p", 1) == 1 ? 0 : 11);
            }
          char c = 0;
          dprintf (out, "%d\n", read (held[0], &c, 1) == 1 && c == 'h' ? 0 : 1);
          continue;
        }
      if (strcmp (line, "poke") == 0)
        {
          char c = 0;
          int st = 0;
          int ok = write (hold[1], "p", 1) == 1 && read (held[0], &c, 1) == 1 && c == 'p';
          waitpid (holder, &st, 0);
          dprintf (out, "%d\n", ok && WIFEXITED (st) && WEXITSTATUS (st) == 0 ? 0 : 1);
          continue;
        }
      pid_t p = fork ();
      if (p == 0)
        {
          char *argv[] = { (char *) "true", NULL }; /* busybox: the applet */
          if (strcmp (line, "exec") == 0)
            execv (arg, argv);
          else if (strcmp (line, "nested") == 0)
            {
              if (unshare (CLONE_NEWNS) == 0)
                execv (arg, argv);
            }
          else if (strcmp (line, "hostns") == 0)
            {
              /* Into the host's namespace (its root and working folder
               * become the host's), then a host program. */
              if (setns (hostns, CLONE_NEWNS) == 0)
                execv (arg, argv);
            }
          else if (strcmp (line, "copy") == 0)
            {
              /* copy SRC DST: a new file, then renamed over DST. */
              char *dst = strchr (arg, ' ');
              *dst++ = '\0';
              int s = open (arg, O_RDONLY), d = open ("/bin/.new", O_WRONLY | O_CREAT | O_TRUNC, 0755);
              char buf[65536];
              ssize_t n;
              while (s >= 0 && d >= 0 && (n = read (s, buf, sizeof buf)) > 0)
                if (write (d, buf, (size_t) n) != n)
                  _exit (4);
              close (d);
              _exit (rename ("/bin/.new", dst) == 0 ? 0 : 5);
            }
          else if (strcmp (line, "storm") == 0)
            {
              /* storm N PATH: N programs started one after another; the
               * time each took, from fork to reaped, in ns on average. */
              char *path = strchr (arg, ' ');
              *path++ = '\0';
              int n = atoi (arg);
              struct timespec t0, t1;
              clock_gettime (CLOCK_MONOTONIC, &t0);
              for (int i = 0; i < n; i++)
                {
                  pid_t q = fork ();
                  if (q == 0)
                    {
                      execv (path, argv);
                      _exit (100 + errno);
                    }
                  int qs;
                  waitpid (q, &qs, 0);
                  if (!WIFEXITED (qs) || WEXITSTATUS (qs) != 0)
                    _exit (1);
                }
              clock_gettime (CLOCK_MONOTONIC, &t1);
              long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
              int fd = open ("/storm", O_WRONLY | O_CREAT | O_TRUNC, 0644);
              dprintf (fd, "%lld\n", ns / n);
              close (fd);
              _exit (0);
            }
          else if (strcmp (line, "openrw") == 0)
            {
              /* Opened for writing, nothing written: what the judge
               * watches, whatever follows. */
              int fd = open (arg, O_RDWR);
              _exit (fd >= 0 && close (fd) == 0 ? 0 : 6);
            }
          _exit (100 + errno);
        }
      int st = 0;
      waitpid (p, &st, 0);
      dprintf (out, "%d\n", WIFEXITED (st) ? WEXITSTATUS (st) : 200);
    }
  _exit (0);
}

static int to_init, from_init;

static int
ask (const char *cmd)
{
  dprintf (to_init, "%s\n", cmd);
  char buf[32];
  ssize_t n = 0;
  while (n < (ssize_t) sizeof buf - 1)
    {
      ssize_t r = read (from_init, buf + n, 1);
      if (r <= 0)
        return -1;
      if (buf[n++] == '\n')
        break;
    }
  buf[n] = '\0';
  drain ();
  return atoi (buf);
}


int
main (int argc, char **argv)
{
  if (argc == 2 && strcmp (argv[1], "--version") == 0)
    return 0; /* the judge's own check that the kernel runs it */
  if (argc != 2)
    {
      fprintf (stderr, "usage: kjudge_check DIR\n");
      return 2;
    }
  const char *dir = argv[1];
  lympho_error_t e = { 0, "" };
  if (loop_new (&loop, &e) < 0)
    return 1;
  execguard_prepare ();
  struct execguard *g;
  int ret = execguard_open (loop, on_report, NULL, &g, &e);
  execguard_prepared ();
  if (ret < 0)
    {
      printf ("# no exec guard: %s\n", e.msg);
      return 1;
    }
  const char *why;
  if (strcmp (execguard_judge (g, &why), "bpf-lsm") != 0)
    {
      printf ("# no kernel judge: %s\n", why ? why : "?");
      execguard_close (g);
      return 77;
    }
  char lower[512], upper[512], work[512], merged[512], opts[2048];
  snprintf (lower, sizeof lower, "%s/lower", dir);
  snprintf (upper, sizeof upper, "%s/upper", dir);
  snprintf (work, sizeof work, "%s/work", dir);
  snprintf (merged, sizeof merged, "%s/merged", dir);
  mkdir (upper, 0755);
  mkdir (work, 0755);
  mkdir (merged, 0755);
  snprintf (opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (mount ("overlay", merged, "overlay", 0, opts) < 0)
    {
      printf ("# cannot mount the overlay: %s\n", strerror (errno));
      return 1;
    }
  int a[2], b[2];
  if (pipe (a) < 0 || pipe (b) < 0)
    return 1;
  pid_t init = fork ();
  if (init == 0)
    {
      close (a[1]);
      close (b[0]);
      container_init (merged, a[0], b[1]);
    }
  close (a[0]);
  close (b[1]);
  to_init = a[1];
  from_init = b[0];
  /* Its namespace is made: it answers a first command. */
  check (ask ("exec /bin/ok") == 0, "before any rule, a program runs");
  /* ok3 copied up to the upper layer now: opened for writing again
   * later, with nothing written, only the judge's write watch sees it. */
  check (ask ("openrw /bin/ok3") == 0, "a listed file is opened for writing before the rule");
  check (ask ("hold /bin/ok4") == 0, "a listed file is mapped shared and writable from before the rule");

  char nspath[64];
  snprintf (nspath, sizeof nspath, "/proc/%d/ns/mnt", init);
  char *allow[] = { (char *) "/bin/ok", (char *) "/bin/ok2", (char *) "/bin/ok3", (char *) "/bin/ok4",
                    (char *) "/bin/later" };
  struct execguard_marked marked;
  ret = execguard_protect (g, "c1", init, EXECGUARD_MODE_DENY, allow, 5, &marked, &e);
  if (ret < 0)
    printf ("# %s\n", e.msg);
  check (ret == 0 && marked.files == 4 && marked.mounts == 0, "guarded in deny mode: four files, /bin/later by name");
  n_reports = 0;
  check (ask ("exec /bin/ok") == 0, "a listed program runs");
  check (n_reports == 0, "and is not reported");
  check (ask ("exec /bin/bad") == 100 + EPERM, "a program outside the list is refused (EPERM)");
  check (n_reports == 1 && last.kind == EXECGUARD_DENIED && strcmp (last.id, "c1") == 0
           && strcmp (last.path, "/bin/bad") == 0 && last.pid > init,
         "one report: denied, its container, the path as the container sees it, its process");
  check (ask ("nested /bin/bad") == 100 + EPERM, "in a mount namespace made inside, still refused");
  check (ask ("hostns /bin/busybox") == 100 + EPERM,
         "a process of the container that joined the host's mount namespace is still judged: a host program is refused");
  check (ask ("exec /bin/ok2") == 0, "a second listed program runs");
  check (ask ("copy /bin/bad /bin/ok2") == 0 && ask ("exec /bin/ok2") == 100 + EPERM,
         "another file renamed over a listed path is refused");
  check (ask ("exec /bin/ok3") == 0, "a third listed program runs");
  check (ask ("openrw /bin/ok3") == 0 && ask ("exec /bin/ok3") == 100 + EPERM,
         "opened for writing since the rule, nothing written: refused");
  check (ask ("exec /bin/ok4") == 0, "the mapped file runs: unchanged");
  char ok4[64];
  snprintf (ok4, sizeof ok4, "/proc/%d/root/bin/ok4", init);
  struct stat before, after;
  int poked = stat (ok4, &before) == 0 && ask ("poke") == 0 && stat (ok4, &after) == 0;
  check (poked && (before.st_mtim.tv_sec != after.st_mtim.tv_sec || before.st_mtim.tv_nsec != after.st_mtim.tv_nsec),
         "written through the mapping: its times as stat reads them moved");
  check (poked && ask ("exec /bin/ok4") == 100 + EPERM,
         "written through the mapping made before the rule (no open since): refused");
  n_reports = 0;
  check (ask ("copy /bin/bad /bin/later") == 0 && ask ("exec /bin/later") == 0,
         "a file at a path the list names, made later, runs (by name)");
  if (n_reports)
    printf ("# reported: %s\n", last.path);

  /* Started from outside (the engine's namespace, as docker exec is):
   * not judged. */
  pid_t x = fork ();
  if (x == 0)
    {
      int fd = open (nspath, O_RDONLY);
      if (fd < 0 || setns (fd, CLONE_NEWNS) < 0)
        _exit (3);
      char p[600];
      snprintf (p, sizeof p, "%s/bin/bad", merged);
      char *av[] = { (char *) "true", NULL };
      execv (p, av);
      _exit (100 + errno);
    }
  int st = 0;
  waitpid (x, &st, 0);
  drain ();
  check (WIFEXITED (st) && WEXITSTATUS (st) == 0, "a program started from the engine's namespace is not judged");

  char host_bad[600];
  snprintf (host_bad, sizeof host_bad, "%s/bin/bad", lower);
  x = fork ();
  if (x == 0)
    {
      char *av[] = { (char *) "true", NULL };
      execv (host_bad, av);
      _exit (100 + errno);
    }
  waitpid (x, &st, 0);
  check (WIFEXITED (st) && WEXITSTATUS (st) == 0, "a host program is not judged");

  struct execguard_stats c;
  execguard_stats (g, &c);
  uint64_t asked;
  unsigned kept;
  size_t mounts;
  uint64_t answered = 0;
  for (unsigned i = 0; i < EXECGUARD_HIST; i++)
    answered += c.hist[i];
  check (execguard_counts (g, "c1", &asked, &kept, &mounts) && asked >= 11 && answered == 0,
         "its program starts were judged in the kernel, none through fanotify");
  check (c.kernel_judge && c.denied >= 5 && c.allowed >= 5 && c.engine >= 1, "the guard's counters saw them");
  printf ("# judged %llu allowed %llu denied %llu detected %llu engine %llu lost %llu, %llu asked of c1\n",
          (unsigned long long) c.kernel_judged, (unsigned long long) c.allowed, (unsigned long long) c.denied,
          (unsigned long long) c.detected, (unsigned long long) c.engine, (unsigned long long) c.lost_reports,
          (unsigned long long) asked);

  /* Detect mode: reported, allowed. The new rule replaces the old one. */
  ret = execguard_protect (g, "c1", init, EXECGUARD_MODE_DETECT, allow, 1, NULL, &e);
  check (ret == 0, "guarded again, in detect mode");
  n_reports = 0;
  check (ask ("exec /bin/bad") == 0, "detect: a program outside the list runs");
  check (n_reports == 1 && last.kind == EXECGUARD_DETECTED && strcmp (last.id, "c1") == 0,
         "and is reported, detected");
  check (ask ("exec /bin/ok2") == 0 && n_reports == 2, "the old list is gone: a program only it named is reported");
  execguard_release (g, "c1");
  n_reports = 0;
  check (ask ("exec /bin/bad") == 0 && n_reports == 0, "released: nothing is judged");
  check (!execguard_counts (g, "c1", &asked, &kept, &mounts), "and the guard has no rule for it");

  /* What an allowed program start costs, judged in the kernel and through
   * fanotify, beside none, in rounds that take turns (under emulation:
   * the ratios, not the times, say something). */
  setenv ("LYMPHO_EXEC_JUDGE", "fanotify", 1);
  execguard_prepare ();
  struct execguard *fg;
  ret = execguard_open (loop, on_report, NULL, &fg, &e);
  execguard_prepared ();
  check (ret == 0 && strcmp (execguard_judge (fg, &why), "fanotify") == 0, "a second guard judges through fanotify");
  char storm_file[600];
  snprintf (storm_file, sizeof storm_file, "%s/upper/storm", dir);
  long long sum[3] = { 0, 0, 0 };
  const int rounds = 5, per = 200;
  int storms_ok = ret == 0;
  for (int round = 0; round < rounds && storms_ok; round++)
    for (int m = 0; m < 3 && storms_ok; m++)
      {
        int which = (m + round) % 3; /* 0 none, 1 kernel, 2 fanotify */
        if (which == 1)
          storms_ok = execguard_protect (g, "c1", init, EXECGUARD_MODE_DENY, allow, 1, NULL, &e) == 0;
        else if (which == 2)
          storms_ok = execguard_protect (fg, "c1", init, EXECGUARD_MODE_DENY, allow, 1, NULL, &e) == 0;
        char cmd[64];
        snprintf (cmd, sizeof cmd, "storm %d /bin/ok", per);
        storms_ok = storms_ok && ask (cmd) == 0;
        FILE *f = fopen (storm_file, "r");
        long long ns = 0;
        if (f == NULL || fscanf (f, "%lld", &ns) != 1)
          storms_ok = 0;
        if (f)
          fclose (f);
        sum[which] += ns;
        execguard_release (which == 2 ? fg : g, "c1");
      }
  check (storms_ok, "program starts timed: unguarded, judged in the kernel, judged through fanotify");
  if (storms_ok)
    printf ("# an allowed program start, mean of %d x %d: %lld us unguarded, %lld us judged in the kernel "
            "(+%lld), %lld us through fanotify (+%lld)\n",
            rounds, per, sum[0] / rounds / 1000, sum[1] / rounds / 1000, (sum[1] - sum[0]) / rounds / 1000,
            sum[2] / rounds / 1000, (sum[2] - sum[0]) / rounds / 1000);
  execguard_close (fg);

  close (to_init);
  waitpid (init, &st, 0);
  execguard_close (g);
  loop_free (loop);
  umount (merged);
  printf ("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
