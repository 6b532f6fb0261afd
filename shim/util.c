/* lympho — allocation, buffers, files, clocks and randomness.
 * May call: nothing: a leaf. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "lympho/util.h"

static void
oom (void)
{
  static const char msg[] = "lympho: out of memory\n";
  if (write (2, msg, sizeof msg - 1) < 0)
    { /* nothing left to do */ }
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (p == NULL)
    oom ();
  return p;
}

void *
xmalloc0 (size_t n)
{
  void *p = calloc (1, n ? n : 1);
  if (p == NULL)
    oom ();
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (p == NULL)
    oom ();
  return p;
}

char *
xstrdup (const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup (s);
  if (r == NULL)
    oom ();
  return r;
}

char *
xstrndup (const char *s, size_t n)
{
  if (s == NULL)
    return NULL;
  char *r = strndup (s, n);
  if (r == NULL)
    oom ();
  return r;
}

char *
xvasprintf (const char *fmt, va_list ap)
{
  char *r;
  if (vasprintf (&r, fmt, ap) < 0)
    oom ();
  return r;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *r = xvasprintf (fmt, ap);
  va_end (ap);
  return r;
}

void
buf_init (struct buf *b)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

static void
buf_reserve (struct buf *b, size_t extra)
{
  if (b->len + extra + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1)
    cap *= 2;
  b->data = xrealloc (b->data, cap);
  b->cap = cap;
}

void
buf_append (struct buf *b, const void *data, size_t len)
{
  buf_reserve (b, len);
  if (len)
    memcpy (b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void
buf_appends (struct buf *b, const char *s)
{
  buf_append (b, s, strlen (s));
}

void
buf_printf (struct buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  buf_reserve (b, (size_t) n);
  va_start (ap, fmt);
  vsnprintf (b->data + b->len, (size_t) n + 1, fmt, ap);
  va_end (ap);
  b->len += (size_t) n;
}

void
buf_reset (struct buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void
buf_free (struct buf *b)
{
  free (b->data);
  buf_init (b);
}

char *
buf_steal (struct buf *b)
{
  char *r = b->data ? b->data : xstrdup ("");
  buf_init (b);
  return r;
}

static uint64_t
clock_ms (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
now_mono_ms (void)
{
  return clock_ms (CLOCK_MONOTONIC);
}

uint64_t
now_real_ms (void)
{
  return clock_ms (CLOCK_REALTIME);
}

static int
fsync_dir_of (const char *path, lympho_error_t *err)
{
  cleanup_free char *copy = xstrdup (path);
  cleanup_close int dfd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return lympho_error_set_errno (err, errno, "open directory of `%s`", path);
  if (fsync (dfd) < 0)
    return lympho_error_set_errno (err, errno, "fsync directory of `%s`", path);
  return 0;
}

int
write_file_atomic (const char *path, const void *data, size_t len, int mode, lympho_error_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp.%d", path, (int) getpid ());
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "create `%s`", tmp);
  const char *p = data;
  size_t left = len;
  while (left > 0)
    {
      ssize_t n = write (fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          unlink (tmp);
          return lympho_error_set_errno (err, e, "write `%s`", tmp);
        }
      p += n;
      left -= (size_t) n;
    }
  if (fsync (fd) < 0)
    {
      int e = errno;
      unlink (tmp);
      return lympho_error_set_errno (err, e, "fsync `%s`", tmp);
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return lympho_error_set_errno (err, e, "rename `%s` to `%s`", tmp, path);
    }
  return fsync_dir_of (path, err);
}

int
read_file (const char *path, size_t limit, char **out, size_t *len, lympho_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "open `%s`", path);
  struct buf b;
  buf_init (&b);
  char chunk[8192];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          buf_free (&b);
          return lympho_error_set_errno (err, e, "read `%s`", path);
        }
      if (n == 0)
        break;
      if (b.len + (size_t) n > limit)
        {
          buf_free (&b);
          return lympho_error_set (err, EFBIG, "`%s` is larger than %zu bytes", path, limit);
        }
      buf_append (&b, chunk, (size_t) n);
    }
  if (len)
    *len = b.len;
  *out = buf_steal (&b);
  return 0;
}

char *
xstrdup_capped (const char *s, size_t max)
{
  size_t n = strlen (s);
  if (n <= max)
    return xstrdup (s);
  n = max;
  while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
    n--;
  return xstrndup (s, n);
}

int
read_tail (const char *path, size_t cap, char **out, size_t *len, lympho_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    return lympho_error_set_errno (err, errno, "open `%s`", path);
  off_t from = st.st_size > (off_t) cap ? st.st_size - (off_t) cap : 0;
  char *buf = xmalloc0 (cap + 1);
  size_t got = 0;
  while (got < cap)
    {
      ssize_t n = pread (fd, buf + got, cap - got, from + (off_t) got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          free (buf);
          return lympho_error_set_errno (err, e, "read `%s`", path);
        }
      if (n == 0)
        break;
      got += (size_t) n;
    }
  *out = buf;
  *len = got;
  return 0;
}

int
mkdir_p (const char *path, int mode, lympho_error_t *err)
{
  cleanup_free char *copy = xstrdup (path);
  for (char *p = copy + 1; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (copy, mode) < 0 && errno != EEXIST)
        return lympho_error_set_errno (err, errno, "mkdir `%s`", copy);
      *p = '/';
    }
  if (mkdir (copy, mode) < 0 && errno != EEXIST)
    return lympho_error_set_errno (err, errno, "mkdir `%s`", copy);
  /* What was there already must be a directory. */
  struct stat st;
  if (stat (copy, &st) < 0)
    return lympho_error_set_errno (err, errno, "stat `%s`", copy);
  if (!S_ISDIR (st.st_mode))
    return lympho_error_set_errno (err, ENOTDIR, "mkdir `%s`", copy);
  return 0;
}

int
random_bytes (void *buf, size_t len, lympho_error_t *err)
{
  unsigned char *p = buf;
  while (len > 0)
    {
      ssize_t n = getrandom (p, len, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return lympho_error_set_errno (err, errno, "getrandom");
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

double
random_unit (void)
{
  /* xorshift64*, seeded once from the kernel: jitter needs spread, not secrecy. */
  static uint64_t state;
  if (state == 0)
    {
      if (random_bytes (&state, sizeof state, NULL) < 0 || state == 0)
        state = now_real_ms () | 1;
    }
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  uint64_t r = state * 0x2545F4914F6CDD1DULL;
  return (double) (r >> 11) / (double) (1ULL << 53);
}

bool
str_has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

char **
strv_dup (char *const *v, size_t n)
{
  char **r = xmalloc0 ((n ? n : 1) * sizeof *r);
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  return r;
}

void
strv_free (char **v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    free (v[i]);
  free (v);
}

size_t
utf8_seq_len (const unsigned char *s, size_t n)
{
  if (n == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1Fu;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0Fu;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07u;
  else
    return 0; /* a continuation byte, C0/C1 (overlong), or F5..FF */
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++)
    {
      if ((s[i] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3Fu);
    }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

char *
utf8_sanitize (const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t n = strlen (s), i = 0;
  while (i < n)
    {
      size_t l = utf8_seq_len (p + i, n - i);
      if (l == 0)
        break;
      i += l;
    }
  if (i == n)
    return NULL;
  /* Each bad byte becomes three (EF BF BD). */
  char *out = xmalloc (n * 3 + 1), *o = out;
  memcpy (o, s, i);
  o += i;
  while (i < n)
    {
      size_t l = utf8_seq_len (p + i, n - i);
      if (l == 0)
        {
          memcpy (o, "\xEF\xBF\xBD", 3);
          o += 3;
          i++;
        }
      else
        {
          memcpy (o, p + i, l);
          o += l;
          i += l;
        }
    }
  *o = '\0';
  return out;
}

void
text_escape (char *dst, size_t dstlen, const char *src)
{
  if (dstlen == 0)
    return;
  const unsigned char *p = (const unsigned char *) src;
  size_t n = strlen (src), i = 0, o = 0;
  while (i < n)
    {
      size_t l = utf8_seq_len (p + i, n - i);
      char esc[5] = "";
      size_t w;
      if (l == 1 && (p[i] < 0x20 || p[i] == 0x7F))
        {
          snprintf (esc, sizeof esc, "\\x%02X", p[i]);
          w = 4;
        }
      else if (l == 1 && p[i] == '\\')
        {
          memcpy (esc, "\\\\", 3);
          w = 2;
        }
      else if (l == 0)
        {
          snprintf (esc, sizeof esc, "\\x%02X", p[i]);
          w = 4;
          l = 1;
        }
      else
        w = l;
      if (o + w >= dstlen)
        break; /* cut on a character */
      memcpy (dst + o, esc[0] ? esc : (const char *) p + i, w);
      o += w;
      i += l;
    }
  dst[o] = '\0';
}

char *
text_escape_dup (const char *src)
{
  /* At most four bytes out for each in. */
  size_t cap = strlen (src) * 4 + 1;
  char *out = xmalloc (cap);
  text_escape (out, cap, src);
  return out;
}

int
move_aside (const char *path, char **to)
{
  for (int i = 0; i < 10; i++)
    {
      cleanup_free char *dst = i == 0 ? xasprintf ("%s.bad", path) : xasprintf ("%s.bad.%d", path, i);
      struct stat st;
      if (lstat (dst, &st) == 0)
        continue;
      if (rename (path, dst) < 0)
        return -errno;
      if (to)
        *to = steal_pointer (&dst);
      return 0;
    }
  return -EEXIST;
}

bool
rate_limit_pass (struct rate_limit *rl, uint64_t period_ms, unsigned *held_back)
{
  uint64_t now = now_mono_ms ();
  if (rl->last_ms && now - rl->last_ms < period_ms)
    {
      rl->held++;
      return false;
    }
  *held_back = rl->held;
  rl->held = 0;
  rl->last_ms = now ? now : 1;
  return true;
}

int
unix_path_claim (const char *path, bool *removed, lympho_error_t *err)
{
  *removed = false;
  struct stat st;
  if (lstat (path, &st) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return lympho_error_set_errno (err, errno, "stat `%s`", path);
    }
  if (!S_ISSOCK (st.st_mode))
    return lympho_error_set (err, EEXIST, "`%s` exists and is not a socket; refusing to replace it", path);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return lympho_error_set (err, ENAMETOOLONG, "`%s` is too long for a Unix socket", path);
  memcpy (sa.sun_path, path, strlen (path) + 1);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "socket");
  /* Non-blocking: a full backlog (EAGAIN) still means someone listens. */
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0 || errno == EAGAIN)
    return lympho_error_set (err, EADDRINUSE, "another program answers on %s", path);
  if (errno != ECONNREFUSED)
    return lympho_error_set_errno (err, errno, "probe `%s`", path);
  if (unlink (path) < 0 && errno != ENOENT)
    return lympho_error_set_errno (err, errno, "remove stale socket `%s`", path);
  *removed = true;
  return 0;
}

bool
recent_first (struct recent *r, const char *key, uint64_t now_ms, uint64_t window_ms)
{
  uint64_t h = fnv1a_str (FNV_OFFSET, key);
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].hash == h && now_ms - r->v[i].at_ms < window_ms)
      return false;
  r->v[r->next].hash = h;
  r->v[r->next].at_ms = now_ms;
  r->next = (r->next + 1) % r->cap;
  if (r->n < r->cap)
    r->n++;
  return true;
}
