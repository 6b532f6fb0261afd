/* httpprobe — a tight HTTP client loop for the downtime benchmark.
 *
 *   httpprobe HOST PORT INTERVAL_MS STOPFILE
 *
 * Sends "GET /" every INTERVAL_MS (each request times out after 1 s) until
 * STOPFILE exists, then prints
 *   requests=N failed=N max_gap_ms=X
 * where max_gap_ms is the longest outage: from the start of the first failed
 * request after a success to the start of the next successful one. Built by
 * bench/run.sh with cc; no dependencies beyond libc. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Wait for fd to be ready for events until deadline; 1 ready, 0 not. */
static int
wait_fd (int fd, short events, double deadline)
{
  for (;;)
    {
      double left = deadline - now_ms ();
      if (left <= 0)
        return 0;
      struct pollfd p = { .fd = fd, .events = events };
      int r = poll (&p, 1, (int) left + 1);
      if (r < 0 && errno == EINTR)
        continue;
      return r > 0;
    }
}

/* One request; 1 when the answer is an HTTP 200. */
static int
probe (const struct sockaddr_in *sa)
{
  double deadline = now_ms () + 1000;
  int ok = 0;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  if (connect (fd, (const struct sockaddr *) sa, sizeof *sa) < 0 && errno != EINPROGRESS)
    goto out;
  if (!wait_fd (fd, POLLOUT, deadline))
    goto out;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
    goto out;
  static const char req[] = "GET / HTTP/1.0\r\nHost: probe\r\n\r\n";
  if (write (fd, req, sizeof req - 1) != (ssize_t) (sizeof req - 1))
    goto out;
  char buf[512];
  size_t got = 0;
  while (got < sizeof buf - 1 && wait_fd (fd, POLLIN, deadline))
    {
      ssize_t n = read (fd, buf + got, sizeof buf - 1 - got);
      if (n < 0 && errno == EAGAIN)
        continue;
      if (n <= 0)
        break;
      got += n;
      if (got >= 12)
        break;
    }
  buf[got] = '\0';
  ok = strncmp (buf, "HTTP/1.", 7) == 0 && strncmp (buf + 8, " 200", 4) == 0;
out:
  close (fd);
  return ok;
}

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: httpprobe HOST PORT INTERVAL_MS STOPFILE\n");
      return 2;
    }
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (atoi (argv[2])) };
  if (inet_pton (AF_INET, argv[1], &sa.sin_addr) != 1)
    {
      fprintf (stderr, "httpprobe: bad address %s\n", argv[1]);
      return 2;
    }
  double interval = atof (argv[3]);
  const char *stop = argv[4];
  unsigned long requests = 0, failed = 0;
  double max_gap = 0, fail_start = -1;

  while (access (stop, F_OK) != 0)
    {
      double t = now_ms ();
      int ok = probe (&sa);
      requests++;
      if (!ok)
        {
          failed++;
          if (fail_start < 0)
            fail_start = t;
        }
      else if (fail_start >= 0)
        {
          if (t - fail_start > max_gap)
            max_gap = t - fail_start;
          fail_start = -1;
        }
      double next = t + interval - now_ms ();
      if (next > 0)
        usleep ((useconds_t) (next * 1000));
    }
  /* Still down at the end: the outage lasts at least until now. */
  if (fail_start >= 0 && now_ms () - fail_start > max_gap)
    max_gap = now_ms () - fail_start;
  printf ("requests=%lu failed=%lu max_gap_ms=%.1f\n", requests, failed, max_gap);
  return 0;
}
