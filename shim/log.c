/* lympho — logging to stderr. journald adds the time; when stderr is a
 * terminal we add it ourselves so a user watching lymphd sees when.
 * May call: util (text_escape, rate_limit_pass), nothing else. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/util.h"

static enum log_level current = LOG_LVL_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void
log_set_level (enum log_level lvl)
{
  current = lvl;
}

enum log_level
log_get_level (void)
{
  return current;
}

int
log_parse_level (const char *s)
{
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp (s, names[i]) == 0)
      return (int) i;
  return -1;
}

void
log_msg (enum log_level lvl, const char *fmt, ...)
{
  if (lvl > current)
    return;
  char line[2048];
  size_t off = 0;
  /* journald stamps its lines itself (it sets JOURNAL_STREAM); anywhere
   * else say when, to the millisecond, so step timings can be read. */
  static int stamp = -1;
  if (stamp < 0)
    stamp = getenv ("JOURNAL_STREAM") == NULL;
  if (stamp)
    {
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      struct tm tm;
      localtime_r (&ts.tv_sec, &tm);
      off = strftime (line, sizeof line, "%H:%M:%S", &tm);
      off += (size_t) snprintf (line + off, sizeof line - off, ".%03ld ", ts.tv_nsec / 1000000);
    }
  /* <N> prefixes let journald map our levels onto syslog priorities. */
  static const int prio[] = { 3, 4, 6, 7 };
  int n = stamp ? snprintf (line + off, sizeof line - off, "%s: ", names[lvl])
                : snprintf (line + off, sizeof line - off, "<%d>%s: ", prio[lvl], names[lvl]);
  if (n > 0)
    off += (size_t) n;
  /* The message as one line of text: what it quotes (a path, an engine's
   * or a caller's words) cannot start a line of its own, with a priority
   * journald would believe, nor end this one early. */
  char msg[sizeof line];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (off < sizeof line)
    text_escape (line + off, sizeof line - off, msg);
  size_t len = strlen (line);
  if (len + 1 < sizeof line)
    line[len++] = '\n';
  else
    line[sizeof line - 2] = '\n', len = sizeof line - 1;
  fwrite (line, 1, len, stderr);
  fflush (stderr);
}

void
log_refusal_limited (struct rate_limit *rl, uint64_t period_ms, const char *area, const char *what)
{
  unsigned held;
  if (!rate_limit_pass (rl, period_ms, &held))
    return;
  if (held)
    log_warn ("%s: %s (and %u more refused since the last such line)", area, what, held);
  else
    log_warn ("%s: %s", area, what);
}
