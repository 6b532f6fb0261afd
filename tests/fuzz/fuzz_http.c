/* lympho — libFuzzer target for http-parse: the engine's answer as a
 * hostile peer's (tests/fuzz/run.sh). Whatever the bytes, fed whole, in
 * pieces whose sizes the input's first bytes choose, or byte by byte, the
 * parser sees the same answer: the same return, status, headers and body;
 * it returns 0, -EPROTO or -E2BIG only; the body is never longer than the
 * input; the callbacks keep their order; a failure sticks. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/http-parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

struct seen
{
  uint64_t headers_hash, body_hash;
  size_t headers, body_len;
  int status;
  unsigned heads;
  int ret;
  int err_status;
  bool done, head_done;
};

static uint64_t
fnv (uint64_t h, const void *data, size_t len)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static void
on_header (void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
  struct seen *s = ud;
  if (s->heads != 0 || name_len == 0 || memchr (name, ':', name_len) != NULL)
    abort ();
  for (size_t i = 0; i < value_len; i++)
    {
      unsigned char c = (unsigned char) value[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        abort ();
    }
  if (value_len > 0 && (value[0] == ' ' || value[0] == '\t' || value[value_len - 1] == ' '
                        || value[value_len - 1] == '\t'))
    abort ();
  /* The lengths go in too: "a: bc" and "ab: c" must not hash alike. */
  uint64_t lens[2] = { name_len, value_len };
  s->headers_hash = fnv (s->headers_hash, lens, sizeof lens);
  s->headers_hash = fnv (s->headers_hash, name, name_len);
  s->headers_hash = fnv (s->headers_hash, value, value_len);
  s->headers++;
}

static void
on_head (void *ud, int status)
{
  struct seen *s = ud;
  if (s->heads != 0 || status < 200 || status > 999)
    abort ();
  s->status = status;
  s->heads++;
}

static void
on_body (void *ud, const char *data, size_t len)
{
  struct seen *s = ud;
  if (s->heads != 1 || len == 0)
    abort ();
  s->body_hash = fnv (s->body_hash, data, len);
  s->body_len += len;
}

static const struct http_parse_cb cb = { on_header, on_head, on_body };

/* One run: pieces of step bytes (0: whole; SIZE_MAX: the sizes the input's
 * first bytes say), then the end of the connection. */
static void
run (const uint8_t *data, size_t size, bool no_body, size_t step, struct seen *s)
{
  static struct http_parse p;
  lympho_error_t err = { 0 };
  *s = (struct seen) { 0 };
  s->headers_hash = s->body_hash = 0xcbf29ce484222325ULL;
  http_parse_init (&p, no_body, &cb, s);
  size_t off = 0, i = 0;
  int ret = 0;
  while (off < size && ret == 0)
    {
      size_t n = size - off;
      if (step == SIZE_MAX)
        n = (size_t) data[i++ % (size < 16 ? size : 16)] % 31 + 1;
      else if (step > 0)
        n = step;
      if (n > size - off)
        n = size - off;
      ret = http_parse_feed (&p, (const char *) data + off, n, &err);
      off += n;
    }
  if (ret == 0)
    ret = http_parse_eof (&p, &err);
  if (ret != 0 && ret != -EPROTO && ret != -E2BIG)
    abort ();
  if (ret < 0)
    {
      if (err.status != -ret || p.state != HTTP_PARSE_FAILED)
        abort ();
      /* Messages are ours alone: no byte of the input gets into one. */
      for (const char *c = err.msg; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
          abort ();
      lympho_error_t again = { 0 };
      if (http_parse_feed (&p, "x", 1, &again) != ret || http_parse_eof (&p, NULL) != ret
          || strcmp (again.msg, err.msg) != 0)
        abort ();
    }
  else if (!http_parse_done (&p) || s->heads != 1)
    abort ();
  if (s->body_len > size || s->heads > 1 || (http_parse_head_done (&p) != (s->heads == 1)))
    abort ();
  s->ret = ret;
  s->err_status = err.status;
  s->done = http_parse_done (&p);
  s->head_done = http_parse_head_done (&p);
}

static void
same (const struct seen *a, const struct seen *b)
{
  if (a->headers_hash != b->headers_hash || a->body_hash != b->body_hash || a->headers != b->headers
      || a->body_len != b->body_len || a->status != b->status || a->heads != b->heads || a->ret != b->ret
      || a->err_status != b->err_status || a->done != b->done || a->head_done != b->head_done)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  for (int no_body = 0; no_body <= 1; no_body++)
    {
      struct seen whole, cut;
      run (data, size, no_body, 0, &whole);
      run (data, size, no_body, SIZE_MAX, &cut);
      same (&whole, &cut);
      if (size <= 4096)
        {
          run (data, size, no_body, 1, &cut);
          same (&whole, &cut);
        }
    }
  return 0;
}
