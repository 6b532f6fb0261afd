/* lympho bench — an exec storm: fork and exec PROGRAM (default /bin/true;
 * a static busybox is cheaper) as fast as possible for SECONDS with up to
 * JOBS children at once; prints "execs=N rate=R/s". With JOBS 1 each exec
 * is timed, from fork to its child reaped, and the line goes on with
 * "p50_us=A p90_us=B p99_us=C": a median per exec is what an added cost
 * per exec is read from, where the rate's mean moves with every stall of
 * the machine. Used by bench/incident.sh (on the host) and
 * bench/execguard.sh (inside protected containers). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TIMED (1u << 20)

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The P-th percentile (nearest rank) of the N sorted values V. */
static double
percentile (const double *v, size_t n, double p)
{
  size_t r = (size_t) (p / 100.0 * (double) n + 0.999999);
  if (r < 1)
    r = 1;
  if (r > n)
    r = n;
  return v[r - 1];
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

extern char **environ;

int
main (int argc, char **argv)
{
  /* Run as "true" (PROGRAM may be execstorm itself): do nothing. */
  const char *base = strrchr (argv[0], '/');
  if (strcmp (base ? base + 1 : argv[0], "true") == 0)
    return 0;
  double secs = argc > 1 ? atof (argv[1]) : 20.0;
  int jobs = argc > 2 ? atoi (argv[2]) : 4;
  const char *prog = argc > 3 ? argv[3] : "/bin/true";
  if (secs <= 0 || jobs < 1)
    {
      fprintf (stderr, "usage: execstorm [SECONDS [JOBS [PROGRAM]]]\n");
      return 2;
    }
  double *lat = jobs == 1 ? malloc (MAX_TIMED * sizeof *lat) : NULL;
  size_t nlat = 0;
  double t0 = now_s (), end = t0 + secs, started = 0;
  unsigned long n = 0;
  int running = 0;
  while (now_s () < end)
    {
      while (running < jobs)
        {
          if (lat)
            started = now_s ();
          /* posix_spawn: a vfork, so that the time is the exec's more
           * than the copy of this process. argv0 "true": a static busybox
           * runs its true applet, execstorm returns at once. */
          char *const child_argv[] = { (char *) "true", NULL };
          pid_t p;
          if (posix_spawn (&p, prog, NULL, NULL, child_argv, environ) != 0)
            break;
          running++;
        }
      int st;
      if (wait (&st) > 0)
        {
          if (lat && nlat < MAX_TIMED)
            lat[nlat++] = (now_s () - started) * 1e6;
          running--;
          n++;
        }
      else if (errno == ECHILD)
        running = 0;
    }
  while (running > 0 && wait (NULL) > 0)
    {
      running--;
      n++;
    }
  double t = now_s () - t0;
  printf ("execs=%lu rate=%.0f/s", n, (double) n / t);
  if (lat && nlat > 0)
    {
      qsort (lat, nlat, sizeof *lat, cmp_double);
      printf (" p50_us=%.1f p90_us=%.1f p99_us=%.1f", percentile (lat, nlat, 50), percentile (lat, nlat, 90),
              percentile (lat, nlat, 99));
    }
  printf ("\n");
  free (lat);
  return 0;
}
