/* lympho — sd_notify(3) by hand: one AF_UNIX datagram per message.
 * May call: nothing: a leaf. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/notify.h"
#include "lympho/util.h"

int
notify_send (const char *state)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  if (path == NULL || *path == '\0')
    return 0;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len = strlen (path);
  /* "@name" is an abstract socket: a leading NUL, and no terminator counted. */
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
    {
      log_debug ("notify: ignoring unusable NOTIFY_SOCKET `%s`", path);
      return -EINVAL;
    }
  memcpy (sa.sun_path, path, len);
  if (path[0] == '@')
    sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len + (path[0] == '/'));

  cleanup_close int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int e = errno;
      log_debug ("notify: socket: %s", strerror (e));
      return -e;
    }
  size_t n = strlen (state);
  ssize_t w;
  do
    w = sendto (fd, state, n, MSG_NOSIGNAL, (struct sockaddr *) &sa, salen);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    {
      int e = errno;
      log_debug ("notify: send to `%s`: %s", path, strerror (e));
      return -e;
    }
  return 0;
}

int
notify_ready (void)
{
  return notify_send ("READY=1");
}

int
notify_reloading (void)
{
  return notify_send ("RELOADING=1");
}

int
notify_stopping (void)
{
  return notify_send ("STOPPING=1");
}

int
notify_watchdog (void)
{
  return notify_send ("WATCHDOG=1");
}

int
notify_status (const char *fmt, ...)
{
  if (getenv ("NOTIFY_SOCKET") == NULL)
    return 0;
  char line[512];
  int off = snprintf (line, sizeof line, "STATUS=");
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (line + off, sizeof line - (size_t) off, fmt, ap);
  va_end (ap);
  /* A newline would start a new KEY=VALUE assignment. */
  for (char *p = line; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return notify_send (line);
}

static bool
parse_u64 (const char *s, uint64_t *out)
{
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  uint64_t v = 0;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9')
        return false;
      if (__builtin_mul_overflow (v, 10, &v) || __builtin_add_overflow (v, (uint64_t) (*s - '0'), &v))
        return false;
    }
  *out = v;
  return true;
}

uint64_t
notify_watchdog_usec (void)
{
  uint64_t usec, pid;
  if (!parse_u64 (getenv ("WATCHDOG_USEC"), &usec) || usec == 0)
    return 0;
  const char *p = getenv ("WATCHDOG_PID");
  if (p && (!parse_u64 (p, &pid) || pid != (uint64_t) getpid ()))
    return 0;
  return usec;
}
