/* Network quarantine against the real engine: a busybox httpd container on
 * the default bridge and on a user network is reachable from the host, is
 * not once quarantine_cut_network() returns, and is again after
 * quarantine_restore_network(); a neighbour on the same user network stays
 * reachable throughout; host-network and no-network containers give 0; a
 * missing process gives a clear error. Prints p50/p99 of cut and restore.
 *
 * Exit 0 pass, 1 fail, 77 skip (not root, or no engine). Every engine
 * object is named lqc<pid>-... and removed at exit. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lympho/quarantine.h"
#include "lympho/util.h"

#define DOCKER "DOCKER_API_VERSION=1.41 /usr/bin/docker"
#define ROUNDS 50

static char pfx[32];
static char workdir[64];
static int failures;

static void
cleanup (void)
{
  char cmd[512];
  snprintf (cmd, sizeof cmd,
            DOCKER " rm -f %sbr %snb %shost %snone >/dev/null 2>&1;"
            DOCKER " network rm %snet >/dev/null 2>&1;"
            DOCKER " rmi %simg:1 >/dev/null 2>&1",
            pfx, pfx, pfx, pfx, pfx, pfx);
  if (system (cmd) != 0)
    fprintf (stderr, "cleanup: some objects were already gone\n");
  if (workdir[0])
    {
      snprintf (cmd, sizeof cmd, "rm -rf '%s'", workdir);
      if (system (cmd) != 0)
        fprintf (stderr, "cleanup: rm %s failed\n", workdir);
    }
}

/* Each condition is evaluated once: some of them run engine commands. */
#define CHECK(cond, ...) check_ ((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE(cond, ...)                                                 \
  do                                                                       \
    {                                                                      \
      if (!CHECK (cond, __VA_ARGS__))                                      \
        exit (1);                                                          \
    }                                                                      \
  while (0)

static bool
check_ (bool ok, const char *what, const char *file, int line, const char *fmt, ...) LYMPHO_PRINTF (5, 6);
static bool
check_ (bool ok, const char *what, const char *file, int line, const char *fmt, ...)
{
  if (ok)
    {
      printf ("ok   %.100s\n", what);
      return true;
    }
  va_list ap;
  va_start (ap, fmt);
  printf ("FAIL %s:%d: %.100s: ", file, line, what);
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  failures++;
  return false;
}

static int
run (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
static int
run (const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  int r = system (cmd);
  return r == 0 ? 0 : -1;
}

/* First line of a command's output, trimmed; NULL on failure. */
static char *
capture (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
static char *
capture (const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  FILE *f = popen (cmd, "r");
  if (f == NULL)
    return NULL;
  char line[1024] = "";
  char *got = fgets (line, sizeof line, f);
  int st = pclose (f);
  if (got == NULL || st != 0)
    return NULL;
  line[strcspn (line, "\r\n")] = '\0';
  return xstrdup (line);
}

/* GET / from ip:80 within about a second; true on a 200. */
static bool
http_ok (const char *ip)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (80) };
  if (inet_pton (AF_INET, ip, &sa.sin_addr) != 1)
    return false;
  cleanup_close int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno != EINPROGRESS)
    return false;
  struct pollfd p = { .fd = fd, .events = POLLOUT };
  if (poll (&p, 1, 1000) != 1)
    return false;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
    return false;
  const char req[] = "GET / HTTP/1.0\r\n\r\n";
  if (write (fd, req, sizeof req - 1) != (ssize_t) (sizeof req - 1))
    return false;
  char buf[64] = "";
  size_t got = 0;
  while (got < 12)
    {
      p.events = POLLIN;
      if (poll (&p, 1, 1000) != 1)
        return false;
      ssize_t n = read (fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  return got >= 12 && strncmp (buf, "HTTP/1.", 7) == 0 && strncmp (buf + 9, "200", 3) == 0;
}

/* Reachable within `ms`, polling: a fresh container's httpd or a restored
 * bridge port needs a moment. */
static bool
http_ok_within (const char *ip, int ms)
{
  uint64_t end = now_mono_ms () + (uint64_t) ms;
  do
    {
      if (http_ok (ip))
        return true;
      usleep (50 * 1000);
    }
  while (now_mono_ms () < end);
  return false;
}

static int
container_pid (const char *name)
{
  cleanup_free char *s = capture (DOCKER " inspect -f '{{.State.Pid}}' %s", name);
  return s ? atoi (s) : -1;
}

static char *
container_ip (const char *name, const char *network)
{
  return capture (DOCKER " inspect -f '{{(index .NetworkSettings.Networks \"%s\").IPAddress}}' %s",
                  network, name);
}

/* The host ifindex that the container's `dev` is paired with, as the
 * container's own sysfs says: an independent check of what was cut. */
static int
container_iflink (const char *name, const char *dev)
{
  cleanup_free char *s = capture (DOCKER " exec %s cat /sys/class/net/%s/iflink", name, dev);
  return s ? atoi (s) : -1;
}

static bool
host_link_up (const char *ifname)
{
  char path[128];
  snprintf (path, sizeof path, "/sys/class/net/%s/flags", ifname);
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return false;
  unsigned long flags = 0;
  int ok = fscanf (f, "%lx", &flags);
  fclose (f);
  return ok == 1 && (flags & IFF_UP);
}

static bool
names_has_ifindex (const char *names, int ifindex)
{
  cleanup_free char *copy = xstrdup (names);
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    if ((int) if_nametoindex (t) == ifindex)
      return true;
  return false;
}

static bool
all_names_down (const char *names, bool want_up)
{
  cleanup_free char *copy = xstrdup (names);
  char *save = NULL;
  int n = 0;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save), n++)
    if (host_link_up (t) != want_up)
      return false;
  return n > 0;
}

static double
elapsed_us (const struct timespec *a, const struct timespec *b)
{
  return (double) (b->tv_sec - a->tv_sec) * 1e6 + (double) (b->tv_nsec - a->tv_nsec) / 1e3;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
print_percentiles (const char *what, double *us, size_t n)
{
  qsort (us, n, sizeof *us, cmp_double);
  size_t i50 = (n - 1) / 2, i99 = (size_t) ((double) (n - 1) * 0.99 + 0.5);
  printf ("timing %-8s n=%zu p50=%.0f us p99=%.0f us max=%.0f us\n", what, n, us[i50], us[i99], us[n - 1]);
}

static void
build_image (void)
{
  snprintf (workdir, sizeof workdir, "/tmp/%sXXXXXX", pfx);
  REQUIRE (mkdtemp (workdir) != NULL, "mkdtemp: %s", strerror (errno));
  REQUIRE (run ("set -e; cd '%s'; mkdir -p r/bin r/www;"
                "cp \"$(command -v busybox || echo /bin/busybox)\" r/bin/busybox;"
                "for a in sh httpd sleep cat; do ln -s busybox r/bin/$a; done;"
                "echo quarantine > r/www/index.html;"
                "tar -C r -c . | " DOCKER " import -c 'CMD [\"/bin/httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"]' - %simg:1 >/dev/null",
                workdir, pfx) == 0,
           "cannot build the busybox image (is busybox-static installed?)");
}

int
main (void)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (geteuid () != 0)
    {
      printf ("SKIP: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)\n");
      return 77;
    }
  if (run (DOCKER " version >/dev/null 2>&1") != 0)
    {
      printf ("SKIP: no engine answers\n");
      return 77;
    }
  snprintf (pfx, sizeof pfx, "lqc%d-", (int) getpid ());
  atexit (cleanup);
  build_image ();

  /* A on the default bridge and a user network; B, its neighbour, on the
   * user network only. */
  REQUIRE (run (DOCKER " network create %snet >/dev/null", pfx) == 0, "network create");
  REQUIRE (run (DOCKER " create --name %sbr --network bridge %simg:1 >/dev/null", pfx, pfx) == 0, "create A");
  REQUIRE (run (DOCKER " network connect %snet %sbr", pfx, pfx) == 0, "connect A");
  REQUIRE (run (DOCKER " start %sbr >/dev/null", pfx) == 0, "start A");
  REQUIRE (run (DOCKER " run -d --name %snb --network %snet %simg:1 >/dev/null", pfx, pfx, pfx) == 0, "run B");

  char a[64], b[64], net[64];
  snprintf (a, sizeof a, "%sbr", pfx);
  snprintf (b, sizeof b, "%snb", pfx);
  snprintf (net, sizeof net, "%snet", pfx);
  int pid_a = container_pid (a);
  cleanup_free char *ip_a_bridge = container_ip (a, "bridge");
  cleanup_free char *ip_a_net = container_ip (a, net);
  cleanup_free char *ip_b = container_ip (b, net);
  REQUIRE (pid_a > 0 && ip_a_bridge && *ip_a_bridge && ip_a_net && *ip_a_net && ip_b && *ip_b,
           "inspect: pid %d ips %s %s %s", pid_a, ip_a_bridge, ip_a_net, ip_b);
  printf ("A pid %d at %s (bridge) and %s (%s); B at %s\n", pid_a, ip_a_bridge, ip_a_net, net, ip_b);
  int iflink0 = container_iflink (a, "eth0"), iflink1 = container_iflink (a, "eth1");

  REQUIRE (http_ok_within (ip_a_bridge, 5000), "A not reachable on the bridge before the cut");
  REQUIRE (http_ok_within (ip_a_net, 5000), "A not reachable on %s before the cut", net);
  REQUIRE (http_ok_within (ip_b, 5000), "B not reachable before the cut");

  /* The cut. */
  lympho_error_t err = { 0 };
  cleanup_free char *names = NULL;
  int r = quarantine_cut_network (pid_a, &names, &err);
  printf ("cut pid %d -> %d, names \"%s\"%s%s\n", pid_a, r, names ? names : "(null)", r < 0 ? ": " : "",
          r < 0 ? err.msg : "");
  REQUIRE (r == 2, "expected 2 links cut, got %d", r);
  CHECK (names && strchr (names, ',') != NULL, "names \"%s\" should list two links", names);
  CHECK (names && names_has_ifindex (names, iflink0) && names_has_ifindex (names, iflink1),
         "names \"%s\" are not the container's peers (iflink %d, %d)", names, iflink0, iflink1);
  CHECK (names && all_names_down (names, false), "a cut link is still up: %s", names);
  CHECK (!http_ok (ip_a_bridge), "A still answers on the bridge after the cut");
  CHECK (!http_ok (ip_a_net), "A still answers on %s after the cut", net);
  CHECK (http_ok (ip_b), "the neighbour B was cut too");

  /* Cutting again is harmless and says the same. */
  cleanup_free char *names2 = NULL;
  r = quarantine_cut_network (pid_a, &names2, &err);
  CHECK (r == 2 && names2 && names && strcmp (names, names2) == 0, "second cut gave %d \"%s\"", r, names2);

  /* The restore. */
  cleanup_free char *restored = NULL;
  r = quarantine_restore_network (pid_a, &restored, &err);
  CHECK (r == 2, "restore gave %d: %s", r, r < 0 ? err.msg : "");
  CHECK (restored && names && strcmp (restored, names) == 0, "restored \"%s\" != cut \"%s\"", restored, names);
  CHECK (names && all_names_down (names, true), "a restored link is still down: %s", names);
  CHECK (http_ok_within (ip_a_bridge, 3000), "A unreachable on the bridge after restore");
  CHECK (http_ok_within (ip_a_net, 3000), "A unreachable on %s after restore", net);

  /* Timing over ROUNDS cut/restore pairs. */
  double cut_us[ROUNDS], restore_us[ROUNDS];
  int bad = 0;
  for (int i = 0; i < ROUNDS; i++)
    {
      struct timespec t0, t1, t2;
      clock_gettime (CLOCK_MONOTONIC, &t0);
      int rc = quarantine_cut_network (pid_a, NULL, &err);
      clock_gettime (CLOCK_MONOTONIC, &t1);
      int rr = quarantine_restore_network (pid_a, NULL, &err);
      clock_gettime (CLOCK_MONOTONIC, &t2);
      cut_us[i] = elapsed_us (&t0, &t1);
      restore_us[i] = elapsed_us (&t1, &t2);
      if (rc != 2 || rr != 2)
        bad++;
    }
  CHECK (bad == 0, "%d of %d timed rounds did not cut/restore 2 links: %s", bad, ROUNDS, err.msg);
  print_percentiles ("cut", cut_us, ROUNDS);
  print_percentiles ("restore", restore_us, ROUNDS);
  CHECK (http_ok_within (ip_a_bridge, 3000), "A unreachable after the timed rounds");

  /* Host network: nothing of its own to cut. */
  REQUIRE (run (DOCKER " run -d --name %shost --network host %simg:1 /bin/sleep 600 >/dev/null", pfx, pfx) == 0,
           "run host-network container");
  cleanup_free char *hname = xasprintf ("%shost", pfx);
  cleanup_free char *hnames = NULL;
  r = quarantine_cut_network (container_pid (hname), &hnames, &err);
  CHECK (r == 0 && hnames && strcmp (hnames, "") == 0, "host network gave %d \"%s\": %s", r, hnames,
         r < 0 ? err.msg : "");

  /* No network: only lo. */
  REQUIRE (run (DOCKER " run -d --name %snone --network none %simg:1 >/dev/null", pfx, pfx) == 0,
           "run no-network container");
  cleanup_free char *nname = xasprintf ("%snone", pfx);
  cleanup_free char *nnames = NULL;
  r = quarantine_cut_network (container_pid (nname), &nnames, &err);
  CHECK (r == 0 && nnames && strcmp (nnames, "") == 0, "network none gave %d \"%s\": %s", r, nnames,
         r < 0 ? err.msg : "");

  /* A process that does not exist. */
  int ghost = 0;
  for (int p = 4000000; p > 1000; p -= 7919)
    if (kill (p, 0) < 0 && errno == ESRCH)
      {
        ghost = p;
        break;
      }
  lympho_error_clear (&err);
  r = quarantine_cut_network (ghost, NULL, &err);
  printf ("cut pid %d -> %d: %s\n", ghost, r, err.msg);
  CHECK (r == -ESRCH && strstr (err.msg, "no such process") != NULL, "nonexistent pid gave %d: %s", r, err.msg);

  /* B was never touched. */
  CHECK (http_ok (ip_b), "B unreachable at the end");

  printf ("%s (%d failure%s)\n", failures ? "FAIL" : "PASS", failures, failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
