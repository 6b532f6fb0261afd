/* Real-kernel, real-engine check of the process-events watcher.
 *
 * 1. `docker exec` two programs in a busybox container (a copy of busybox at
 *    /opt/pw/sleep, and the /bin/sleep applet link) and require both exec
 *    events, mapped to that container with the path as the container sees it
 *    and argv[0], within 5 s.
 * 2. Exec storms on the host, outside containers, while this process only
 *    services the loop: report the watcher's CPU time per 1000 events and as
 *    a share of one core (target: under 5 % at thousands of execs/s).
 *
 * Exits 77 when not root or when no Docker engine answers. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/procwatch.h"
#include "lympho/util.h"

#define DOCKER "/usr/bin/docker"

extern char **environ;

struct seen
{
  char want_id[PROCWATCH_ID_LEN + 1];
  bool probe, sleep_applet;
  uint64_t in_container, overruns, max_delay_ns;
};

static void
on_exec (void *ud, const struct proc_exec *ev)
{
  struct seen *s = ud;
  s->in_container++;
  if (strcmp (ev->container_id, s->want_id) != 0)
    return;
  uint64_t d = ev->read_ns - ev->exec_ns;
  if (ev->read_ns < ev->exec_ns)
    {
      fprintf (stderr, "FAIL: read_ns %llu before exec_ns %llu\n", (unsigned long long) ev->read_ns,
               (unsigned long long) ev->exec_ns);
      exit (1);
    }
  if (d > s->max_delay_ns)
    s->max_delay_ns = d;
  printf ("exec pid=%d container=%.12s exe=%s argv0=%s kernel->read=%.1f us\n", (int) ev->pid,
          ev->container_id, ev->exe ? ev->exe : "(gone)", ev->argv0 ? ev->argv0 : "(gone)", d / 1e3);
  if (ev->exe && strcmp (ev->exe, "/opt/pw/sleep") == 0 && ev->argv0 && strcmp (ev->argv0, "/opt/pw/sleep") == 0)
    s->probe = true;
  if (ev->exe && strcmp (ev->exe, "/bin/busybox") == 0 && ev->argv0 && strcmp (ev->argv0, "/bin/sleep") == 0)
    s->sleep_applet = true;
}

static void
on_overrun (void *ud)
{
  struct seen *s = ud;
  s->overruns++;
}

static int
run_quiet (const char *cmd)
{
  int st = system (cmd);
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static char *
capture (const char *cmd)
{
  FILE *f = popen (cmd, "r");
  if (f == NULL)
    return NULL;
  char line[256] = "";
  if (fgets (line, sizeof line, f) == NULL)
    line[0] = '\0';
  if (pclose (f) != 0)
    return NULL;
  line[strcspn (line, "\n")] = '\0';
  return xstrdup (line);
}

static pid_t
spawn (char *const argv[])
{
  pid_t pid;
  if (posix_spawn (&pid, argv[0], NULL, NULL, argv, environ) != 0)
    return -1;
  return pid;
}

static double
cpu_s (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The storm: for `secs` seconds spawn `prog` as fast as possible, keeping at
 * most `parallel` children alive. Exits with nothing useful; the count goes
 * to the pipe. */
static pid_t
start_storm (int secs, int parallel, char *const argv[], int *count_fd)
{
  int p[2];
  if (pipe (p) < 0)
    return -1;
  pid_t pid = fork ();
  if (pid != 0)
    {
      close (p[1]);
      *count_fd = p[0];
      return pid;
    }
  close (p[0]);
  uint64_t end = now_mono_ms () + (uint64_t) secs * 1000, n = 0;
  int alive = 0;
  while (now_mono_ms () < end)
    {
      while (alive >= parallel)
        {
          if (wait (NULL) > 0)
            alive--;
        }
      if (spawn (argv) > 0)
        {
          alive++;
          n++;
        }
    }
  while (alive > 0 && wait (NULL) > 0)
    alive--;
  if (write (p[1], &n, sizeof n) != (ssize_t) sizeof n)
    _exit (1);
  _exit (0);
}

static int
storm (struct loop *l, struct procwatch *pw, const char *name, int secs, int parallel, char *const argv[])
{
  struct procwatch_stats before, after;
  lympho_error_t err = { 0 };
  int fd = -1;

  /* Drain what is queued so the measure starts clean. */
  for (int i = 0; i < 3; i++)
    if (loop_run_once (l, 20, &err) < 0)
      return -1;
  procwatch_get_stats (pw, &before);
  double c0 = cpu_s ();
  uint64_t t0 = now_mono_ms ();
  pid_t child = start_storm (secs, parallel, argv, &fd);
  if (child < 0)
    return -1;
  int st;
  while (waitpid (child, &st, WNOHANG) == 0)
    if (loop_run_once (l, 100, &err) < 0)
      return -1;
  /* Events still queued belong to the storm. */
  for (int i = 0; i < 5; i++)
    if (loop_run_once (l, 20, &err) < 0)
      return -1;
  double c1 = cpu_s ();
  uint64_t t1 = now_mono_ms ();
  procwatch_get_stats (pw, &after);
  uint64_t spawned = 0;
  if (read (fd, &spawned, sizeof spawned) != (ssize_t) sizeof spawned)
    spawned = 0;
  close (fd);
  uint64_t execs = after.execs - before.execs;
  double wall = (t1 - t0) / 1e3, cpu = c1 - c0;
  printf ("storm %-24s spawned %6llu (%5.0f/s)  exec events %6llu (host ns %llu, gone %llu)  wake-ups %llu  "
          "overruns %llu\n",
          name, (unsigned long long) spawned, spawned / wall, (unsigned long long) execs,
          (unsigned long long) (after.host_execs - before.host_execs),
          (unsigned long long) (after.unattributed - before.unattributed),
          (unsigned long long) (after.wakeups - before.wakeups), (unsigned long long) (after.overruns - before.overruns));
  printf ("storm %-24s watcher CPU %.3f s over %.2f s = %.2f %% of one core; %.2f ms CPU per 1000 events\n", name,
          cpu, wall, 100.0 * cpu / wall, execs ? 1000.0 * 1000.0 * cpu / (double) execs : 0.0);
  if (spawned == 0 || execs < spawned)
    {
      fprintf (stderr, "FAIL: %s: saw %llu exec events for %llu spawns\n", name, (unsigned long long) execs,
               (unsigned long long) spawned);
      return -1;
    }
  return 0;
}

/* The per-event cost alone, whatever rate this machine can spawn at: let a
 * storm queue up in the socket buffer while the loop is not serviced, then
 * time the drain. This is the batched mode the watcher runs in under a
 * storm of thousands per second. */
static int
drain_cost (struct loop *l, struct procwatch *pw, int secs, char *const argv[], double *per_event_us)
{
  struct procwatch_stats before, after;
  lympho_error_t err = { 0 };
  int fd = -1, st;
  for (int i = 0; i < 3; i++)
    if (loop_run_once (l, 20, &err) < 0)
      return -1;
  pid_t child = start_storm (secs, 4, argv, &fd);
  if (child < 0)
    return -1;
  waitpid (child, &st, 0);
  uint64_t spawned = 0;
  if (read (fd, &spawned, sizeof spawned) != (ssize_t) sizeof spawned)
    spawned = 0;
  close (fd);
  procwatch_get_stats (pw, &before);
  double c0 = cpu_s ();
  for (;;)
    {
      uint64_t n = 0;
      procwatch_get_stats (pw, &after);
      n = after.messages;
      if (loop_run_once (l, 10, &err) < 0)
        return -1;
      procwatch_get_stats (pw, &after);
      if (after.messages == n && after.wakeups > before.wakeups)
        break;
    }
  double cpu = cpu_s () - c0;
  uint64_t execs = after.execs - before.execs;
  printf ("drain: %llu queued exec events (spawned %llu) handled in %.3f s CPU over %llu wake-ups = %.1f us "
          "per event; overruns %llu\n",
          (unsigned long long) execs, (unsigned long long) spawned, cpu,
          (unsigned long long) (after.wakeups - before.wakeups), execs ? 1e6 * cpu / (double) execs : 0.0,
          (unsigned long long) (after.overruns - before.overruns));
  if (execs < spawned || execs == 0)
    {
      fprintf (stderr, "FAIL: drain saw %llu exec events for %llu spawns\n", (unsigned long long) execs,
               (unsigned long long) spawned);
      return -1;
    }
  *per_event_us = 1e6 * cpu / (double) execs;
  return 0;
}

int
main (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  lympho_error_t err = { 0 };
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (geteuid () != 0)
    {
      printf ("SKIP: needs root (CAP_NET_ADMIN for the connector)\n");
      return 77;
    }
  if (access (DOCKER, X_OK) != 0 || run_quiet (DOCKER " version >/dev/null 2>&1") != 0)
    {
      printf ("SKIP: no Docker engine answers\n");
      return 77;
    }

  char name[64], img[64], cmd[1024];
  snprintf (name, sizeof name, "pwchk-%d", (int) getpid ());
  snprintf (img, sizeof img, "pwchk-img:%d", (int) getpid ());
  snprintf (cmd, sizeof cmd,
            "set -e; d=$(mktemp -d); mkdir -p $d/bin $d/opt; cp /bin/busybox $d/bin/busybox;"
            " ln -s busybox $d/bin/sh; ln -s busybox $d/bin/sleep; mkdir -p $d/opt/pw; cp /bin/busybox $d/opt/pw/sleep;"
            " tar -C $d -c . | " DOCKER " import -c 'CMD [\"/bin/sleep\",\"600\"]' - %s >/dev/null; rm -rf $d;"
            " " DOCKER " run -d --name %s %s >/dev/null",
            img, name, img);
  int rc = 1;
  struct loop *l = NULL;
  struct procwatch *pw = NULL;
  struct seen s = { 0 };
  if (run_quiet (cmd) != 0)
    {
      fprintf (stderr, "FAIL: cannot build and run the test container\n");
      goto out;
    }
  snprintf (cmd, sizeof cmd, DOCKER " inspect -f '{{.Id}}' %s", name);
  char *id = capture (cmd);
  if (id == NULL || strlen (id) != PROCWATCH_ID_LEN)
    {
      fprintf (stderr, "FAIL: no id for %s\n", name);
      free (id);
      goto out;
    }
  memcpy (s.want_id, id, sizeof s.want_id);
  free (id);

  if (loop_new (&l, &err) < 0)
    goto fail;
  struct procwatch_callbacks cb = { .on_exec = on_exec, .on_overrun = on_overrun, .ud = &s };
  if (procwatch_open (l, &cb, &pw, &err) < 0)
    goto fail;
  struct procwatch_stats st;
  procwatch_get_stats (pw, &st);

  char *ex1[] = { DOCKER, "exec", name, "/opt/pw/sleep", "0.2", NULL };
  char *ex2[] = { DOCKER, "exec", name, "/bin/sleep", "0.2", NULL };
  pid_t p1 = spawn (ex1), p2 = spawn (ex2);
  uint64_t deadline = now_mono_ms () + 5000;
  while (!(s.probe && s.sleep_applet) && now_mono_ms () < deadline)
    if (loop_run_once (l, 100, &err) < 0)
      goto fail;
  waitpid (p1, NULL, 0);
  waitpid (p2, NULL, 0);
  if (!s.probe || !s.sleep_applet)
    {
      fprintf (stderr, "FAIL: exec events not seen for %s: /opt/pw/sleep %s, /bin/sleep %s\n", name,
               s.probe ? "seen" : "missing", s.sleep_applet ? "seen" : "missing");
      goto out;
    }
  printf ("ok: both execs mapped to %.12s (max kernel->read %.1f us)\n", s.want_id, s.max_delay_ns / 1e3);

  /* Storms outside containers: short-lived (mostly gone before they are
   * looked at) and longer-lived ones (every exec costs a cgroup read). */
  uint64_t in_container = s.in_container;
  char *t[] = { "/bin/true", NULL };
  char *bt[] = { "/bin/busybox", "true", NULL };
  char *sl[] = { "/bin/busybox", "sleep", "0.05", NULL };
  if (storm (l, pw, "/bin/true x1", 5, 1, t) < 0 || storm (l, pw, "busybox true x4", 5, 4, bt) < 0
      || storm (l, pw, "busybox sleep 0.05 x64", 5, 64, sl) < 0)
    goto out;
  double per_event_us = 0;
  if (drain_cost (l, pw, 5, bt, &per_event_us) < 0)
    goto out;
  printf ("projection: at 3000 execs/s, %.2f %% of one core for handling plus at most ~250 wake-ups/s (4 ms pauses)\n",
          per_event_us * 3000 / 1e4);
  if (s.in_container - in_container > 100)
    {
      fprintf (stderr, "FAIL: host storm reported as %llu container execs\n",
               (unsigned long long) (s.in_container - in_container));
      goto out;
    }
  procwatch_get_stats (pw, &st);
  printf ("totals: messages %llu (not exec: %llu) execs %llu container %llu unattributed %llu overruns %llu "
          "reopens %llu\n",
          (unsigned long long) st.messages, (unsigned long long) st.other_events, (unsigned long long) st.execs, (unsigned long long) st.container_execs,
          (unsigned long long) st.unattributed, (unsigned long long) st.overruns, (unsigned long long) st.reopens);
  rc = 0;
  goto out;
fail:
  fprintf (stderr, "FAIL: %s\n", err.msg);
out:
  procwatch_close (pw);
  loop_free (l);
  snprintf (cmd, sizeof cmd, DOCKER " rm -f %s >/dev/null 2>&1; " DOCKER " rmi %s >/dev/null 2>&1", name, img);
  run_quiet (cmd);
  return rc;
}
