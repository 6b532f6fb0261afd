/* lympho — error reporting; the contract is in include/lympho/error.h.
 * May call: nothing: a leaf. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lympho/error.h"

/* "a: b" into dst, cut at its size: truncation of a long message is wanted. */
static void
join (char *dst, size_t size, const char *a, const char *b)
{
  size_t la = strnlen (a, size - 1);
  memmove (dst, a, la);
  size_t off = la;
  for (const char *sep = ": "; *sep && off < size - 1; sep++)
    dst[off++] = *sep;
  size_t lb = strlen (b);
  if (lb > size - 1 - off)
    lb = size - 1 - off;
  memmove (dst + off, b, lb);
  dst[off + lb] = '\0';
}

static int
status_of (int status)
{
  return status > 0 ? status : EIO;
}

int
lympho_error_set (lympho_error_t *err, int status, const char *fmt, ...)
{
  if (err)
    {
      va_list ap;
      va_start (ap, fmt);
      vsnprintf (err->msg, sizeof err->msg, fmt, ap);
      va_end (ap);
      err->status = status_of (status);
    }
  return -status_of (status);
}

int
lympho_error_set_errno (lympho_error_t *err, int errno_value, const char *fmt, ...)
{
  if (err)
    {
      char tmp[sizeof err->msg];
      va_list ap;
      va_start (ap, fmt);
      vsnprintf (tmp, sizeof tmp, fmt, ap);
      va_end (ap);
      join (err->msg, sizeof err->msg, tmp, strerror (errno_value));
      err->status = status_of (errno_value);
    }
  return -status_of (errno_value);
}

static void
vprefix (lympho_error_t *err, const char *fmt, va_list ap)
{
  char prefix[sizeof err->msg];
  char old[sizeof err->msg];
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  memcpy (old, err->msg, sizeof old);
  join (err->msg, sizeof err->msg, prefix, old);
}

int
lympho_error_prefix (lympho_error_t *err, const char *fmt, ...)
{
  if (err == NULL)
    return -EIO;
  va_list ap;
  va_start (ap, fmt);
  vprefix (err, fmt, ap);
  va_end (ap);
  err->status = status_of (err->status);
  return -err->status;
}

int
lympho_error_pass (int ret, lympho_error_t *err, const char *fmt, ...)
{
  ret = ret < 0 ? ret : -EIO;
  if (err)
    {
      va_list ap;
      va_start (ap, fmt);
      vprefix (err, fmt, ap);
      va_end (ap);
      err->status = -ret;
    }
  return ret;
}

void
lympho_error_clear (lympho_error_t *err)
{
  if (err)
    {
      err->status = 0;
      err->msg[0] = '\0';
    }
}
