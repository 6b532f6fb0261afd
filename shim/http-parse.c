/* lympho — a strict, incremental parser of HTTP/1.1 answers (see
 * http-parse.h). Every decision depends on the bytes alone, never on how
 * they were split: line bytes go one at a time through the line buffer,
 * body bytes straight from the input to the callback.
 *
 * In FAILED the struct keeps what a further call must repeat: the errno in
 * error, the message in line.
 * Messages never quote the input: it is the engine's, or an attacker's.
 * May call: error; nothing else. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/http-parse.h"

#define BODY_SIZE_MAX (UINT64_C (1) << 40) /* a Content-Length or a chunk */

void
http_parse_init (struct http_parse *p, bool no_body, const struct http_parse_cb *cb, void *ud)
{
  memset (p, 0, offsetof (struct http_parse, line));
  p->state = HTTP_PARSE_STATUS;
  p->cb = cb;
  p->ud = ud;
  p->no_body = no_body;
}

static int LYMPHO_PRINTF (4, 5)
fail (struct http_parse *p, lympho_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (p->line, sizeof p->line, fmt, ap);
  va_end (ap);
  p->state = HTTP_PARSE_FAILED;
  p->line_len = strlen (p->line);
  p->error = status;
  return lympho_error_set (err, status, "%s", p->line);
}

static int
fail_again (struct http_parse *p, lympho_error_t *err)
{
  return lympho_error_set (err, p->error, "%s", p->line);
}

/* RFC 9110's tchar. */
static bool
is_tchar (unsigned char c)
{
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return true;
  return c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A control character other than tab: refused in values and reasons, as
 * a NUL or an escape would travel on into logs. Bytes >= 0x80 are text. */
static bool
has_ctl (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return true;
    }
  return false;
}

/* s (n bytes) equals the lowercase literal lit, ASCII case aside. */
static bool
ascii_caseeq (const char *s, size_t n, const char *lit)
{
  if (n != strlen (lit))
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (c >= 'A' && c <= 'Z')
        c = (char) (c - 'A' + 'a');
      if (c != lit[i])
        return false;
    }
  return true;
}

/* "HTTP/1.x NNN[ reason]" of n bytes in the line buffer. */
static int
status_line (struct http_parse *p, size_t n, lympho_error_t *err)
{
  const char *l = p->line;
  if (n < 9 || memcmp (l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
    return fail (p, err, EPROTO, "status line is not HTTP/1.0 or HTTP/1.1");
  if (n < 12 || (n > 12 && l[12] != ' '))
    return fail (p, err, EPROTO, "status code is not three digits");
  int status = 0;
  for (size_t i = 9; i < 12; i++)
    {
      if (l[i] < '0' || l[i] > '9')
        return fail (p, err, EPROTO, "status code is not three digits");
      status = status * 10 + (l[i] - '0');
    }
  if (status < 100)
    return fail (p, err, EPROTO, "status code %d below 100", status);
  if (n > 12 && has_ctl (l + 13, n - 13))
    return fail (p, err, EPROTO, "control character in the reason phrase");
  /* No upgrade is ever asked for: a switch would leave HTTP behind. */
  if (status == 101)
    return fail (p, err, EPROTO, "101 switching protocols was not asked for");
  p->status = status;
  p->final = status >= 200;
  p->chunked = false;
  p->has_length = false;
  p->length = 0;
  p->headers = 0;
  p->state = HTTP_PARSE_HEADERS;
  return 0;
}

/* "name: value" of n bytes in the line buffer, a header or a trailer:
 * checked and counted against the block's limit. */
static int
field_line (struct http_parse *p, size_t n, const char **value, size_t *name_len, size_t *value_len,
            lympho_error_t *err)
{
  const char *l = p->line;
  if (++p->headers > HTTP_PARSE_HEADERS_MAX)
    return fail (p, err, E2BIG, "more than %d headers", HTTP_PARSE_HEADERS_MAX);
  /* obs-fold: a continuation of the previous line, deprecated (RFC 9112
   * 5.2) and a classic way to smuggle a header past one reader. */
  if (l[0] == ' ' || l[0] == '\t')
    return fail (p, err, EPROTO, "folded header line");
  const char *colon = memchr (l, ':', n);
  if (colon == NULL)
    return fail (p, err, EPROTO, "header line without ':'");
  size_t nl = (size_t) (colon - l);
  if (nl == 0)
    return fail (p, err, EPROTO, "header without a name");
  if (l[nl - 1] == ' ' || l[nl - 1] == '\t')
    return fail (p, err, EPROTO, "space before ':' in a header");
  for (size_t i = 0; i < nl; i++)
    if (!is_tchar ((unsigned char) l[i]))
      return fail (p, err, EPROTO, "header name with a character not allowed");
  size_t b = nl + 1, e = n;
  while (b < e && (l[b] == ' ' || l[b] == '\t'))
    b++;
  while (e > b && (l[e - 1] == ' ' || l[e - 1] == '\t'))
    e--;
  if (has_ctl (l + b, e - b))
    return fail (p, err, EPROTO, "control character in a header value");
  *name_len = nl;
  *value = l + b;
  *value_len = e - b;
  return 0;
}

/* Digits only, at most 2^40: no sign, no blank, no list. */
static bool
parse_length (const char *s, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return false;
      v = v * 10 + (uint64_t) (s[i] - '0');
      if (v > BODY_SIZE_MAX)
        return false;
    }
  *out = v;
  return true;
}

/* Content-Length and Transfer-Encoding of the final answer: the framing,
 * where two readers that disagree are how requests get smuggled. */
static int
framing (struct http_parse *p, const char *name, size_t name_len, const char *value, size_t value_len,
         lympho_error_t *err)
{
  if (ascii_caseeq (name, name_len, "content-length"))
    {
      uint64_t v;
      if (!parse_length (value, value_len, &v))
        return fail (p, err, EPROTO, "content-length is not a number up to 2^40");
      if (p->has_length && v != p->length)
        return fail (p, err, EPROTO, "content-length headers disagree");
      if (p->chunked)
        return fail (p, err, EPROTO, "both content-length and transfer-encoding");
      p->has_length = true;
      p->length = v;
    }
  else if (ascii_caseeq (name, name_len, "transfer-encoding"))
    {
      /* A second one makes a list: "chunked, chunked" is refused too. */
      if (p->chunked || !ascii_caseeq (value, value_len, "chunked"))
        return fail (p, err, EPROTO, "transfer-encoding other than chunked alone");
      if (p->has_length)
        return fail (p, err, EPROTO, "both content-length and transfer-encoding");
      p->chunked = true;
    }
  return 0;
}

/* The empty line after the header block. */
static int
head_end (struct http_parse *p)
{
  if (!p->final)
    {
      /* A 1xx answer: skipped whole, the final one comes next. */
      p->state = HTTP_PARSE_STATUS;
      return 0;
    }
  p->head_sent = true;
  p->cb->head (p->ud, p->status);
  if (p->no_body || p->status == 204 || p->status == 304)
    p->state = HTTP_PARSE_DONE;
  else if (p->chunked)
    p->state = HTTP_PARSE_CHUNK_SIZE;
  else if (p->has_length)
    p->state = p->length > 0 ? HTTP_PARSE_BODY_LENGTH : HTTP_PARSE_DONE;
  else
    p->state = HTTP_PARSE_BODY_CLOSE;
  return 0;
}

static int
header_line (struct http_parse *p, size_t n, lympho_error_t *err)
{
  if (n == 0)
    return head_end (p);
  const char *value;
  size_t name_len, value_len;
  int ret = field_line (p, n, &value, &name_len, &value_len, err);
  if (ret < 0 || !p->final)
    return ret;
  ret = framing (p, p->line, name_len, value, value_len, err);
  if (ret < 0)
    return ret;
  p->cb->header (p->ud, p->line, name_len, value, value_len);
  return 0;
}

/* "HEX[;ext]": the size of the next chunk. */
static int
chunk_size_line (struct http_parse *p, size_t n, lympho_error_t *err)
{
  const char *l = p->line;
  uint64_t v = 0;
  size_t i = 0;
  for (; i < n; i++)
    {
      char c = l[i];
      unsigned d;
      if (c >= '0' && c <= '9')
        d = (unsigned) (c - '0');
      else if (c >= 'a' && c <= 'f')
        d = (unsigned) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = (unsigned) (c - 'A' + 10);
      else
        break;
      v = v * 16 + d;
      if (v > BODY_SIZE_MAX)
        return fail (p, err, EPROTO, "chunk size past 2^40");
    }
  if (i == 0 || (i < n && l[i] != ';'))
    return fail (p, err, EPROTO, "chunk size is not hexadecimal");
  if (has_ctl (l + i, n - i))
    return fail (p, err, EPROTO, "control character in a chunk extension");
  if (v == 0)
    {
      p->headers = 0; /* the trailer block counts alone */
      p->state = HTTP_PARSE_TRAILERS;
    }
  else
    {
      p->length = v;
      p->state = HTTP_PARSE_CHUNK_DATA;
    }
  return 0;
}

static int
trailer_line (struct http_parse *p, size_t n, lympho_error_t *err)
{
  if (n == 0)
    {
      p->state = HTTP_PARSE_DONE;
      return 0;
    }
  /* Not reported, but checked as headers: a bad one is a bad answer. */
  const char *value;
  size_t name_len, value_len;
  return field_line (p, n, &value, &name_len, &value_len, err);
}

/* One byte of a line; a line's end hands its n bytes (CR removed) on. */
static int
line_byte (struct http_parse *p, char c, lympho_error_t *err)
{
  bool cr = p->line_len > 0 && p->line[p->line_len - 1] == '\r';
  if (c == '\n')
    {
      size_t n = p->line_len - (cr ? 1 : 0);
      p->line_len = 0;
      switch (p->state)
        {
        case HTTP_PARSE_STATUS:
          return status_line (p, n, err);
        case HTTP_PARSE_HEADERS:
          return header_line (p, n, err);
        case HTTP_PARSE_CHUNK_SIZE:
          return chunk_size_line (p, n, err);
        case HTTP_PARSE_TRAILERS:
          return trailer_line (p, n, err);
        default:
          abort ();
        }
    }
  /* A CR is only the first half of a line's end: readers that took a
   * bare one as a line's end would see other headers than this one. */
  if (cr)
    return fail (p, err, EPROTO, "bare CR in a line");
  /* The CR, when there is one, counts against the limit. */
  if (p->line_len == sizeof p->line)
    return fail (p, err, E2BIG, "line longer than %d bytes", HTTP_PARSE_LINE_MAX);
  p->line[p->line_len++] = c;
  return 0;
}

/* One byte of the CRLF after a chunk's data; line_len 1 after the CR. */
static int
chunk_crlf_byte (struct http_parse *p, char c, lympho_error_t *err)
{
  if (c == '\r' && p->line_len == 0)
    {
      p->line_len = 1;
      return 0;
    }
  if (c != '\n')
    return fail (p, err, EPROTO, "no CRLF after a chunk's data");
  p->line_len = 0;
  p->state = HTTP_PARSE_CHUNK_SIZE;
  return 0;
}

int
http_parse_feed (struct http_parse *p, const char *data, size_t len, lympho_error_t *err)
{
  size_t i = 0;
  while (i < len || p->state == HTTP_PARSE_FAILED)
    {
      int ret = 0;
      size_t n = len - i;
      switch (p->state)
        {
        case HTTP_PARSE_FAILED:
          return fail_again (p, err);
        case HTTP_PARSE_DONE:
          /* One request per connection: more is not an answer of ours. */
          return fail (p, err, EPROTO, "bytes after the answer");
        case HTTP_PARSE_BODY_CLOSE:
          p->cb->body (p->ud, data + i, n);
          i = len;
          break;
        case HTTP_PARSE_BODY_LENGTH:
        case HTTP_PARSE_CHUNK_DATA:
          if (n > p->length)
            n = (size_t) p->length;
          p->cb->body (p->ud, data + i, n);
          i += n;
          p->length -= n;
          if (p->length == 0)
            p->state = p->state == HTTP_PARSE_BODY_LENGTH ? HTTP_PARSE_DONE : HTTP_PARSE_CHUNK_CRLF;
          break;
        case HTTP_PARSE_CHUNK_CRLF:
          ret = chunk_crlf_byte (p, data[i++], err);
          break;
        case HTTP_PARSE_STATUS:
        case HTTP_PARSE_HEADERS:
        case HTTP_PARSE_CHUNK_SIZE:
        case HTTP_PARSE_TRAILERS:
          ret = line_byte (p, data[i++], err);
          break;
        }
      if (ret < 0)
        return ret;
    }
  return 0;
}

int
http_parse_eof (struct http_parse *p, lympho_error_t *err)
{
  switch (p->state)
    {
    case HTTP_PARSE_FAILED:
      return fail_again (p, err);
    case HTTP_PARSE_DONE:
      return 0;
    case HTTP_PARSE_BODY_CLOSE:
      p->state = HTTP_PARSE_DONE;
      return 0;
    case HTTP_PARSE_STATUS:
      /* status stays 0 until a status line, 1xx included, was read. */
      if (p->line_len == 0 && p->status == 0)
        return fail (p, err, EPROTO, "no answer");
      return fail (p, err, EPROTO, "answer cut short before the status line");
    case HTTP_PARSE_HEADERS:
      return fail (p, err, EPROTO, "answer cut short in the headers");
    case HTTP_PARSE_BODY_LENGTH:
      return fail (p, err, EPROTO, "answer cut short in the body: %" PRIu64 " bytes missing", p->length);
    case HTTP_PARSE_CHUNK_SIZE:
    case HTTP_PARSE_CHUNK_DATA:
    case HTTP_PARSE_CHUNK_CRLF:
      return fail (p, err, EPROTO, "answer cut short in a chunk");
    case HTTP_PARSE_TRAILERS:
      return fail (p, err, EPROTO, "answer cut short in the trailers");
    }
  abort ();
}

bool
http_parse_done (const struct http_parse *p)
{
  return p->state == HTTP_PARSE_DONE;
}

bool
http_parse_head_done (const struct http_parse *p)
{
  return p->head_sent;
}
