/* lympho bench — the control socket under a flood from a peer that sends
 * lines and never reads its replies (issue 11): the memory lymphd's control
 * module takes for it, flooding N bytes of newlines, as a process linking
 * the module itself (libshim.a) with a peer in the same process.
 *
 *   control-flood BYTES   prints "sent=S growth_kib=G"
 *
 * The peer's own buffer is allocated and touched before the first reading,
 * so G is the module's alone. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lympho/control.h"
#include "lympho/loop.h"
#include "lympho/util.h"

static void
handler (void *ud, struct control_request *req, const char *cmd, json_val args)
{
  (void) ud;
  (void) cmd;
  (void) args;
  control_reply_error (req, EINVAL, "bench");
}

static long
rss_kib (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets (line, sizeof line, f))
    if (sscanf (line, "VmRSS: %ld", &v) == 1)
      break;
  if (f)
    fclose (f);
  return v;
}

int
main (int argc, char **argv)
{
  size_t total = argc > 1 ? strtoul (argv[1], NULL, 10) : 262144;
  char dir[] = "/tmp/lympho-bench-control-XXXXXX";
  if (mkdtemp (dir) == NULL)
    return 2;
  char *path = xasprintf ("%s/lymphd.sock", dir);
  struct loop *l;
  struct control *c;
  lympho_error_t err = { 0 };
  if (loop_new (&l, &err) < 0 || control_open (l, path, handler, NULL, &c, &err) < 0)
    {
      fprintf (stderr, "control-flood: %s\n", err.msg);
      return 2;
    }
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    return 2;
  char *lines = xmalloc (total);
  memset (lines, '\n', total);
  long before = rss_kib ();
  size_t sent = 0;
  for (int i = 0; i < 4000 && sent < total; i++)
    {
      ssize_t n = send (fd, lines + sent, total - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += (size_t) n;
      if (loop_run_once (l, 1, &err) < 0)
        return 2;
    }
  for (int i = 0; i < 200; i++)
    if (loop_run_once (l, 1, &err) < 0)
      return 2;
  printf ("sent=%zu growth_kib=%ld\n", sent, rss_kib () - before);
  close (fd);
  control_close (c);
  loop_free (l);
  unlink (path);
  rmdir (dir);
  free (path);
  free (lines);
  return 0;
}
