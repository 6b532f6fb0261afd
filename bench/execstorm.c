/* lympho bench — an exec storm on the host, outside any container: fork and
 * exec PROGRAM (default /bin/true; a static busybox is cheaper) as fast as possible for SECONDS with up
 * to JOBS children at once; prints "execs=N rate=R/s". Used by
 * bench/incident.sh to measure what lymphd's exec watcher costs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  double secs = argc > 1 ? atof (argv[1]) : 20.0;
  int jobs = argc > 2 ? atoi (argv[2]) : 4;
  const char *prog = argc > 3 ? argv[3] : "/bin/true";
  if (secs <= 0 || jobs < 1)
    {
      fprintf (stderr, "usage: execstorm [SECONDS [JOBS [PROGRAM]]]\n");
      return 2;
    }
  double t0 = now_s (), end = t0 + secs;
  unsigned long n = 0;
  int running = 0;
  while (now_s () < end)
    {
      while (running < jobs)
        {
          pid_t p = fork ();
          if (p < 0)
            break;
          if (p == 0)
            {
              /* argv0 "true": a static busybox runs its true applet. */
              execl (prog, "true", (char *) NULL);
              _exit (127);
            }
          running++;
        }
      int st;
      if (wait (&st) > 0)
        {
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
  printf ("execs=%lu rate=%.0f/s\n", n, (double) n / t);
  return 0;
}
