/* The HTTP answer parser (http-parse.h): answers as the engine sends them,
 * each also fed split at every byte offset and byte by byte, which must
 * change nothing that is seen; and a table of refused answers, each with
 * its errno, refused the same way whatever the split. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/http-parse.h"
#include "lympho/util.h"

/* What the callbacks saw. */
struct rec
{
  struct buf log;  /* "name: value\n" per header, then "head 200\n" */
  struct buf body;
  int status;
  unsigned heads;
  bool head_done_in_head; /* http_parse_head_done was false inside head */
  struct http_parse *p;
};

static void
rec_header (void *ud, const char *name, size_t name_len, const char *value, size_t value_len)
{
  struct rec *r = ud;
  assert_true (name_len > 0);
  assert_int_equal (r->heads, 0);
  buf_append (&r->log, name, name_len);
  buf_appends (&r->log, ": ");
  buf_append (&r->log, value, value_len);
  buf_appends (&r->log, "\n");
}

static void
rec_head (void *ud, int status)
{
  struct rec *r = ud;
  assert_true (status >= 200 && status <= 999);
  r->status = status;
  r->heads++;
  buf_printf (&r->log, "head %d\n", status);
}

static void
rec_body (void *ud, const char *data, size_t len)
{
  struct rec *r = ud;
  assert_true (len > 0);
  assert_int_equal (r->heads, 1);
  buf_append (&r->body, data, len);
}

static const struct http_parse_cb rec_cb = { rec_header, rec_head, rec_body };

static void
rec_init (struct rec *r)
{
  memset (r, 0, sizeof *r);
  buf_init (&r->log);
  buf_init (&r->body);
}

static void
rec_free (struct rec *r)
{
  buf_free (&r->log);
  buf_free (&r->body);
}

/* How the input is cut: in two at cut (step 0), or in pieces of step. */
struct split
{
  size_t step;
  size_t cut;
};

/* Feed in[0..len) as split says, then the end of the connection; the
 * first failure's return, or 0. */
static int
run (const char *in, size_t len, bool no_body, struct split s, struct rec *r, lympho_error_t *err)
{
  static struct http_parse p; /* 8 KiB: not on the stack of each case */
  http_parse_init (&p, no_body, &rec_cb, r);
  r->p = &p;
  size_t off = 0;
  while (off < len)
    {
      size_t n = s.step ? s.step : (off < s.cut ? s.cut - off : len - off);
      if (n > len - off)
        n = len - off;
      int ret = http_parse_feed (&p, in + off, n, err);
      if (ret < 0)
        {
          assert_int_equal (p.state, HTTP_PARSE_FAILED);
          return ret;
        }
      off += n;
    }
  int ret = http_parse_eof (&p, err);
  if (ret == 0)
    assert_true (http_parse_done (&p) && http_parse_head_done (&p));
  return ret;
}

/* An accepted answer: headers and head as log says, body as body says;
 * the same for every cut and byte by byte. */
static void
accept_len (const char *in, size_t len, bool no_body, const char *log, int status, const char *body,
            size_t body_len)
{
  struct rec r;
  lympho_error_t err = { 0 };
  rec_init (&r);
  int ret = run (in, len, no_body, (struct split) { 0, len }, &r, &err);
  if (ret < 0)
    fail_msg ("refused (%d): %s", ret, err.msg);
  assert_string_equal (r.log.data, log);
  assert_int_equal (r.status, status);
  assert_int_equal (r.heads, 1);
  assert_int_equal (r.body.len, body_len);
  assert_memory_equal (r.body.data, body, body_len);
  for (size_t cut = 0; cut <= len + 1; cut++)
    {
      /* cut == len + 1: byte by byte */
      struct split s = cut <= len ? (struct split) { 0, cut } : (struct split) { 1, 0 };
      struct rec r2;
      rec_init (&r2);
      ret = run (in, len, no_body, s, &r2, &err);
      if (ret < 0)
        fail_msg ("refused when cut at %zu (%d): %s", cut, ret, err.msg);
      assert_string_equal (r2.log.data, log);
      assert_int_equal (r2.status, status);
      assert_int_equal (r2.body.len, body_len);
      assert_memory_equal (r2.body.data, body, body_len);
      rec_free (&r2);
    }
  rec_free (&r);
}

static void
accept (const char *in, bool no_body, const char *log, int status, const char *body)
{
  accept_len (in, strlen (in), no_body, log, status, body, strlen (body));
}

/* The refusal being checked, for a failure's message. */
static const char *refusing = "";

/* A refused answer: errno status, whatever the split. */
static void
refuse_len (const char *in, size_t len, bool no_body, int status, const char *msg_part)
{
  for (size_t cut = 0; cut <= len + 1; cut++)
    {
      struct split s = cut <= len ? (struct split) { 0, cut } : (struct split) { 1, 0 };
      struct rec r;
      lympho_error_t err = { 0 };
      rec_init (&r);
      int ret = run (in, len, no_body, s, &r, &err);
      if (ret != -status)
        fail_msg ("%s: cut at %zu: %d, not %d (%s)", refusing, cut, ret, -status, err.msg);
      assert_int_equal (err.status, status);
      if (msg_part && strstr (err.msg, msg_part) == NULL)
        fail_msg ("%s: message \"%s\" lacks \"%s\"", refusing, err.msg, msg_part);
      rec_free (&r);
    }
}

static void
refuse (const char *in, bool no_body, int status, const char *msg_part)
{
  refuse_len (in, strlen (in), no_body, status, msg_part);
}

/* --- accepted ------------------------------------------------------------ */

static void
test_content_length (void **state)
{
  (void) state;
  accept ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"Id\":\"abc\"}\n", false,
          "Content-Type: application/json\nContent-Length: 13\nhead 200\n", 200, "{\"Id\":\"abc\"}\n");
  /* HTTP/1.0, no reason, blanks around a value, a bare LF, an empty value. */
  accept ("HTTP/1.0 404\nX-A: \t  spaced out \t\r\nX-Empty:\r\ncontent-length:  0 \r\n\r\n", false,
          "X-A: spaced out\nX-Empty: \ncontent-length: 0\nhead 404\n", 404, "");
  /* Repeated Content-Length that agrees; a reason with UTF-8 in it. */
  accept ("HTTP/1.1 500 Erreur \xc3\xa9trange\r\nContent-Length: 2\r\nContent-Length: 002\r\n\r\nno", false,
          "Content-Length: 2\nContent-Length: 002\nhead 500\n", 500, "no");
}

static void
test_chunked (void **state)
{
  (void) state;
  accept ("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
          "5;name=value\r\nhello\r\n"
          "1\nA\n"
          "0a\r\n, world!\r\n\r\n"
          "0;last\r\nX-Trailer: 1\r\nOther: two\r\n\r\n",
          false, "Transfer-Encoding: Chunked\nhead 200\n", 200, "helloA, world!\r\n");
  /* Hex both cases, a zero-size answer with no trailer. */
  accept ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0000B\r\n0123456789a\r\n0\r\n\r\n", false,
          "transfer-encoding: chunked\nhead 200\n", 200, "0123456789a");
  accept ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false,
          "Transfer-Encoding: chunked\nhead 200\n", 200, "");
}

static void
test_close_framed (void **state)
{
  (void) state;
  accept ("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it\r\n\r\nuntil the end", false, "Server: old\nhead 200\n", 200,
          "all of it\r\n\r\nuntil the end");
  accept ("HTTP/1.1 200 OK\r\n\r\n", false, "head 200\n", 200, "");
}

static void
test_interim_skipped (void **state)
{
  (void) state;
  accept ("HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
          "HTTP/1.1 102 Processing\r\n\r\n"
          "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
          false, "Content-Length: 3\nhead 201\n", 201, "abc");
  /* A 1xx block's Content-Length or coding frames nothing. */
  accept ("HTTP/1.1 199 Odd\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
          false, "Content-Length: 1\nhead 200\n", 200, "x");
}

static void
test_no_body (void **state)
{
  (void) state;
  accept ("HTTP/1.1 204 No Content\r\nServer: Docker/20.10.24 (linux)\r\n\r\n", false,
          "Server: Docker/20.10.24 (linux)\nhead 204\n", 204, "");
  accept ("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, "Content-Length: 10\nhead 304\n", 304, "");
  /* HEAD: the length is the GET's, no body follows. */
  accept ("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, "Content-Length: 1234\nhead 200\n", 200, "");
  accept ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, "Transfer-Encoding: chunked\nhead 200\n", 200,
          "");
  /* Not even one byte may follow them. */
  refuse ("HTTP/1.1 204 No Content\r\n\r\n\r\n", false, EPROTO, "after the answer");
  refuse ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", true, EPROTO, "after the answer");
}

#define PING                                                  \
  "HTTP/1.1 200 OK\r\n"                                       \
  "Api-Version: 1.41\r\n"                                     \
  "Cache-Control: no-cache, no-store, must-revalidate\r\n"    \
  "Docker-Experimental: false\r\n"                            \
  "Ostype: linux\r\n"                                         \
  "Pragma: no-cache\r\n"                                      \
  "Server: Docker/20.10.24 (linux)\r\n"                       \
  "Date: Wed, 06 Dec 2023 09:14:02 GMT\r\n"                   \
  "Content-Length: 2\r\n"                                     \
  "Content-Type: text/plain; charset=utf-8\r\n"               \
  "\r\n"                                                      \
  "OK"

/* The engine's /_ping answer as Docker 20.10 sends it (Go's net/http: the
 * handler's headers sorted, then Date, Content-Length, Content-Type). */
static void
test_docker_ping (void **state)
{
  (void) state;
  accept (PING, false,
          "Api-Version: 1.41\n"
          "Cache-Control: no-cache, no-store, must-revalidate\n"
          "Docker-Experimental: false\n"
          "Ostype: linux\n"
          "Pragma: no-cache\n"
          "Server: Docker/20.10.24 (linux)\n"
          "Date: Wed, 06 Dec 2023 09:14:02 GMT\n"
          "Content-Length: 2\n"
          "Content-Type: text/plain; charset=utf-8\n"
          "head 200\n",
          200, "OK");
}

/* /events: one chunk per event, over as many reads as the socket gives;
 * each event is delivered as soon as its bytes are in, the stream never
 * ends by itself and closing it is a cut in a chunk. */
static void
test_event_stream (void **state)
{
  (void) state;
  static const char *const feeds[] = {
    ("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
     "Date: Wed, 06 Dec 2023 09:14:02 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "2e\r\n{\"status\":\"die\",\"id\":\"c1\",\"Type\":\"container\"}\n\r\n",
    "30\r\n{\"status\":\"start\",\"id\":\"c1\",\"Type\":\"con",
    "tainer\"}\n\r",
    "\n2f\r\n{\"status\":\"kill\",\"id\":\"c2\",\"Type\":\"container\"}\n\r\n2",
  };
  static const char *const bodies[] = {
    "",
    "{\"status\":\"die\",\"id\":\"c1\",\"Type\":\"container\"}\n",
    "{\"status\":\"die\",\"id\":\"c1\",\"Type\":\"container\"}\n{\"status\":\"start\",\"id\":\"c1\",\"Type\":\"con",
    "{\"status\":\"die\",\"id\":\"c1\",\"Type\":\"container\"}\n{\"status\":\"start\",\"id\":\"c1\",\"Type\":\"container\"}\n",
    ("{\"status\":\"die\",\"id\":\"c1\",\"Type\":\"container\"}\n{\"status\":\"start\",\"id\":\"c1\",\"Type\":\"container\"}\n"
     "{\"status\":\"kill\",\"id\":\"c2\",\"Type\":\"container\"}\n"),
  };
  struct http_parse p;
  struct rec r;
  lympho_error_t err = { 0 };
  rec_init (&r);
  http_parse_init (&p, false, &rec_cb, &r);
  assert_false (http_parse_head_done (&p));
  for (size_t i = 0; i < sizeof feeds / sizeof *feeds; i++)
    {
      if (http_parse_feed (&p, feeds[i], strlen (feeds[i]), &err) < 0)
        fail_msg ("feed %zu: %s", i, err.msg);
      assert_true (http_parse_head_done (&p));
      assert_false (http_parse_done (&p));
      assert_int_equal (r.body.len, strlen (bodies[i]));
      assert_memory_equal (r.body.data, bodies[i], r.body.len);
    }
  assert_string_equal (r.log.data, "Api-Version: 1.41\nContent-Type: application/json\n"
                                   "Date: Wed, 06 Dec 2023 09:14:02 GMT\nTransfer-Encoding: chunked\nhead 200\n");
  assert_int_equal (http_parse_eof (&p, &err), -EPROTO);
  assert_non_null (strstr (err.msg, "in a chunk"));
  /* head was called: still so after the failure. */
  assert_true (http_parse_head_done (&p));
  rec_free (&r);

  /* And the whole stream, properly ended, split every way. */
  struct buf all;
  buf_init (&all);
  for (size_t i = 0; i < sizeof feeds / sizeof *feeds; i++)
    buf_appends (&all, feeds[i]);
  buf_appends (&all, "\r\nok\r\n0\r\n\r\n"); /* the last feed's "2" is its size */
  struct buf want;
  buf_init (&want);
  buf_appends (&want, bodies[4]);
  buf_appends (&want, "ok");
  accept_len (all.data, all.len, false,
              "Api-Version: 1.41\nContent-Type: application/json\n"
              "Date: Wed, 06 Dec 2023 09:14:02 GMT\nTransfer-Encoding: chunked\nhead 200\n",
              200, want.data, want.len);
  buf_free (&all);
  buf_free (&want);
}

/* The limits are inclusive: a line of HTTP_PARSE_LINE_MAX bytes with its
 * CR, HTTP_PARSE_HEADERS_MAX headers in the final block, as many in each
 * 1xx block and in the trailers. */
static void
test_limits_reached (void **state)
{
  (void) state;
  struct buf in, log;
  buf_init (&in);
  buf_init (&log);
  buf_appends (&in, "HTTP/1.1 100 Continue\r\n");
  for (int i = 0; i < HTTP_PARSE_HEADERS_MAX; i++)
    buf_printf (&in, "I%d: x\r\n", i);
  buf_appends (&in, "\r\nHTTP/1.1 200 OK\r\n");
  /* "X: " + value + CR = HTTP_PARSE_LINE_MAX */
  buf_appends (&in, "X: ");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX - 4; i++)
    buf_appends (&in, "v");
  buf_appends (&in, "\r\n");
  buf_appends (&log, "X: ");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX - 4; i++)
    buf_appends (&log, "v");
  buf_appends (&log, "\n");
  /* Without a CR, one more byte fits. */
  buf_appends (&in, "Y: ");
  buf_appends (&log, "Y: ");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX - 3; i++)
    {
      buf_appends (&in, "w");
      buf_appends (&log, "w");
    }
  buf_appends (&in, "\n");
  buf_appends (&log, "\n");
  for (int i = 2; i < HTTP_PARSE_HEADERS_MAX - 1; i++)
    {
      buf_printf (&in, "H%d: %d\r\n", i, i);
      buf_printf (&log, "H%d: %d\n", i, i);
    }
  buf_appends (&in, "Transfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n");
  buf_appends (&log, "Transfer-Encoding: chunked\nhead 200\n");
  for (int i = 0; i < HTTP_PARSE_HEADERS_MAX; i++)
    buf_printf (&in, "T%d: t\r\n", i);
  buf_appends (&in, "\r\n");

  /* Whole and byte by byte (every cut of 900 kB would take minutes). */
  for (size_t step = 0; step <= 1; step++)
    {
      struct rec r;
      lympho_error_t err = { 0 };
      rec_init (&r);
      int ret = run (in.data, in.len, false, (struct split) { step, in.len }, &r, &err);
      if (ret < 0)
        fail_msg ("refused: %s", err.msg);
      assert_string_equal (r.log.data, log.data);
      assert_int_equal (r.body.len, 1);
      rec_free (&r);
    }
  buf_free (&in);
  buf_free (&log);
}

/* --- refused ------------------------------------------------------------- */

struct refusal
{
  const char *what;
  const char *in;
  int status;
  const char *msg; /* a part of the message, or NULL */
};

static const struct refusal refusals[] = {
  { "no bytes", "", EPROTO, "no answer" },
  { "bad version", "HTTP/2.0 200 OK\r\n\r\n", EPROTO, "HTTP/1" },
  { "lowercase version", "http/1.1 200 OK\r\n\r\n", EPROTO, NULL },
  { "no space after the version", "HTTP/1.1\t200 OK\r\n\r\n", EPROTO, NULL },
  { "2-digit status", "HTTP/1.1 20 OK\r\n\r\n", EPROTO, "three digits" },
  { "4-digit status", "HTTP/1.1 2000 OK\r\n\r\n", EPROTO, "three digits" },
  { "status below 100", "HTTP/1.1 099 Hm\r\n\r\n", EPROTO, NULL },
  { "status not digits", "HTTP/1.1 2x0 OK\r\n\r\n", EPROTO, NULL },
  { "101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", EPROTO, "101" },
  { "empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", EPROTO, NULL },
  { "obs-fold", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", EPROTO, "folded" },
  { "obs-fold by tab", "HTTP/1.1 200 OK\r\nX-A: one\r\n\ttwo\r\n\r\n", EPROTO, "folded" },
  { "space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", EPROTO, "before ':'" },
  { "empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", EPROTO, "name" },
  { "no colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", EPROTO, "':'" },
  { "bad name character", "HTTP/1.1 200 OK\r\nX(a): 1\r\n\r\n", EPROTO, "name" },
  { "cl not digits", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab", EPROTO, "content-length" },
  { "cl signed", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", EPROTO, "content-length" },
  { "cl empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", EPROTO, "content-length" },
  { "cl list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab", EPROTO, "content-length" },
  { "cl past 2^40", "HTTP/1.1 200 OK\r\nContent-Length: 1099511627777\r\n\r\n", EPROTO, "content-length" },
  { "cl conflicting", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", EPROTO, "disagree" },
  { "cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", EPROTO,
    "both" },
  { "te and cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", EPROTO,
    "both" },
  { "te gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", EPROTO, "transfer-encoding" },
  { "te list", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", EPROTO,
    "transfer-encoding" },
  { "te twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    EPROTO, "transfer-encoding" },
  { "bad hex chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", EPROTO, "hexadecimal" },
  { "empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", EPROTO, "hexadecimal" },
  { "space in chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", EPROTO,
    "hexadecimal" },
  { "chunk size too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000001\r\n", EPROTO,
    "2^40" },
  { "chunk size overflowing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff1\r\n",
    EPROTO, "2^40" },
  { "no crlf after chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
    EPROTO, "CRLF" },
  { "cr cr after chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r\n0\r\n\r\n", EPROTO,
    "CRLF" },
  { "bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", EPROTO, NULL },
  { "bytes after done", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKHTTP/1.1 200 OK\r\n", EPROTO,
    "after the answer" },
  { "bytes after the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n", EPROTO,
    "after the answer" },
  { "bare cr in the status line", "HTTP/1.1 200\rOK\r\n\r\n", EPROTO, "bare CR" },
  { "bare cr in a header", "HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 0\r\n\r\n", EPROTO, "bare CR" },
  { "bare cr ending a header", "HTTP/1.1 200 OK\r\nX-A: a\r\r\n\r\n", EPROTO, "bare CR" },
  { "control char in a value", "HTTP/1.1 200 OK\r\nX-A: a\x01z\r\n\r\n", EPROTO, "control" },
  { "escape in a value", "HTTP/1.1 200 OK\r\nX-A: \x1b[31m\r\n\r\n", EPROTO, "control" },
  { "del in a value", "HTTP/1.1 200 OK\r\nX-A: \x7f\r\n\r\n", EPROTO, "control" },
  { "control char in the reason", "HTTP/1.1 200 O\x02K\r\n\r\n", EPROTO, "control" },
  { "control char in a chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n",
    EPROTO, "control" },
  { "eof before the status line", "HTTP/1.1 2", EPROTO, "before the status line" },
  { "eof after a 1xx", "HTTP/1.1 100 Continue\r\n\r\n", EPROTO, "before the status line" },
  { "eof in the headers", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", EPROTO, "in the headers" },
  { "eof in the 1xx headers", "HTTP/1.1 100 Continue\r\n", EPROTO, "in the headers" },
  { "eof in a cl body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123", EPROTO, "6 bytes missing" },
  { "eof in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", EPROTO, "in a chunk" },
  { "eof in a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5", EPROTO, "in a chunk" },
  { "eof before a chunk's crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r", EPROTO,
    "in a chunk" },
  { "eof in the trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", EPROTO,
    "trailers" },
};

static void
test_refusals (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++)
    {
      const struct refusal *t = &refusals[i];
      refusing = t->what;
      refuse (t->in, false, t->status, t->msg);
    }
  refusing = "";
}

/* A NUL is a control character like any other, in a value or a name. */
static void
test_refused_nul (void **state)
{
  (void) state;
  static const char value[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";
  static const char name[] = "HTTP/1.1 200 OK\r\nX\0A: ab\r\n\r\n";
  refuse_len (value, sizeof value - 1, false, EPROTO, "control");
  refuse_len (name, sizeof name - 1, false, EPROTO, "name");
}

static void
test_refused_limits (void **state)
{
  (void) state;
  struct buf in;
  buf_init (&in);
  /* One header too many, in the final block, in a 1xx one, in trailers. */
  static const char *const heads[] = {
    "HTTP/1.1 200 OK\r\n",
    "HTTP/1.1 100 Continue\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
  };
  for (size_t h = 0; h < 3; h++)
    {
      buf_reset (&in);
      buf_appends (&in, heads[h]);
      for (int i = 0; i <= HTTP_PARSE_HEADERS_MAX; i++)
        buf_printf (&in, "H%d: x\r\n", i);
      buf_appends (&in, "\r\n");
      refuse_len (in.data, in.len, false, E2BIG, "headers");
    }
  /* A line one byte too long: a header with its CR, then without. */
  buf_reset (&in);
  buf_appends (&in, "HTTP/1.1 200 OK\r\nX: ");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX - 3; i++)
    buf_appends (&in, "v");
  buf_appends (&in, "\r\n\r\n");
  refuse_len (in.data, in.len, false, E2BIG, "line");
  in.data[in.len - 4] = 'v';
  refuse_len (in.data, in.len, false, E2BIG, "line");
  /* An endless status line, chunk extension and trailer. */
  static const char *const starts[] = {
    "HTTP/1.1 200 ",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ",
  };
  for (size_t s = 0; s < 3; s++)
    {
      buf_reset (&in);
      buf_appends (&in, starts[s]);
      while (in.len < 3 * HTTP_PARSE_LINE_MAX)
        buf_appends (&in, "abcdefgh");
      /* Whole and byte by byte: all the cuts of 24 kB are too many. */
      for (size_t step = 0; step <= 1; step++)
        {
          struct rec r;
          lympho_error_t err = { 0 };
          rec_init (&r);
          assert_int_equal (run (in.data, in.len, false, (struct split) { step, in.len }, &r, &err), -E2BIG);
          rec_free (&r);
        }
    }
  buf_free (&in);
}

/* The first error is the one reported, wherever the cut: a bare CR before
 * the line grows too long, and the line too long before a bad character
 * at its end. */
static void
test_first_error_wins (void **state)
{
  (void) state;
  struct buf in;
  buf_init (&in);
  buf_appends (&in, "HTTP/1.1 200 OK\r\nX: a\rb");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX; i++)
    buf_appends (&in, "v");
  refuse_len (in.data, in.len, false, EPROTO, "bare CR");
  buf_reset (&in);
  buf_appends (&in, "HTTP/1.1 200 OK\r\nX: ");
  for (int i = 0; i < HTTP_PARSE_LINE_MAX; i++)
    buf_appends (&in, "v");
  buf_appends (&in, "\x01\r\n\r\n");
  refuse_len (in.data, in.len, false, E2BIG, "line");
  buf_free (&in);
}

/* After a failure, every call fails again the same way, even with no bytes,
 * and nothing more reaches the callbacks. */
static void
test_failure_sticks (void **state)
{
  (void) state;
  struct http_parse p;
  struct rec r;
  lympho_error_t err = { 0 };
  rec_init (&r);
  http_parse_init (&p, false, &rec_cb, &r);
  static const char bad[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n";
  assert_int_equal (http_parse_feed (&p, bad, strlen (bad), &err), -EPROTO);
  char first[sizeof err.msg];
  memcpy (first, err.msg, sizeof first);
  assert_false (http_parse_head_done (&p));
  assert_false (http_parse_done (&p));
  static const char good[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  lympho_error_t err2 = { 0 };
  assert_int_equal (http_parse_feed (&p, good, strlen (good), &err2), -EPROTO);
  assert_int_equal (err2.status, EPROTO);
  assert_string_equal (err2.msg, first);
  assert_int_equal (http_parse_feed (&p, good, 0, NULL), -EPROTO);
  assert_int_equal (http_parse_eof (&p, NULL), -EPROTO);
  assert_int_equal (r.heads, 0);
  assert_string_equal (r.log.data, "Content-Length: 2\n");
  rec_free (&r);

  /* E2BIG sticks as E2BIG; a failure at eof sticks too. */
  rec_init (&r);
  http_parse_init (&p, false, &rec_cb, &r);
  char line[HTTP_PARSE_LINE_MAX + 1];
  memset (line, 'x', sizeof line);
  assert_int_equal (http_parse_feed (&p, line, sizeof line, &err), -E2BIG);
  assert_int_equal (http_parse_feed (&p, "\n", 1, &err2), -E2BIG);
  assert_int_equal (err2.status, E2BIG);
  assert_int_equal (http_parse_eof (&p, &err2), -E2BIG);
  http_parse_init (&p, false, &rec_cb, &r);
  assert_int_equal (http_parse_eof (&p, &err), -EPROTO);
  assert_string_equal (err.msg, "no answer");
  assert_int_equal (http_parse_feed (&p, good, strlen (good), &err2), -EPROTO);
  assert_string_equal (err2.msg, "no answer");
  assert_int_equal (r.heads, 0);
  rec_free (&r);
}

/* The states a caller reads: head before body, done only when the last
 * byte is in, eof completes a close-framed body once and then stays 0; a
 * second eof on a complete answer is harmless, bytes after it are not. */
static void
test_states (void **state)
{
  (void) state;
  struct http_parse p;
  struct rec r;
  lympho_error_t err = { 0 };
  rec_init (&r);
  http_parse_init (&p, false, &rec_cb, &r);
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  assert_int_equal (http_parse_feed (&p, head, strlen (head) - 1, &err), 0);
  assert_false (http_parse_head_done (&p));
  assert_int_equal (http_parse_feed (&p, "\n", 1, &err), 0);
  assert_true (http_parse_head_done (&p));
  assert_false (http_parse_done (&p));
  assert_int_equal (http_parse_feed (&p, "O", 1, &err), 0);
  assert_false (http_parse_done (&p));
  assert_int_equal (http_parse_feed (&p, "K", 1, &err), 0);
  assert_true (http_parse_done (&p));
  assert_int_equal (http_parse_feed (&p, "", 0, &err), 0);
  assert_int_equal (http_parse_eof (&p, &err), 0);
  assert_int_equal (http_parse_eof (&p, &err), 0);
  assert_int_equal (http_parse_feed (&p, "x", 1, &err), -EPROTO);
  assert_true (http_parse_head_done (&p)); /* the failure came after head */
  rec_free (&r);

  rec_init (&r);
  http_parse_init (&p, false, &rec_cb, &r);
  static const char close_framed[] = "HTTP/1.1 200 OK\r\n\r\nabc";
  assert_int_equal (http_parse_feed (&p, close_framed, strlen (close_framed), &err), 0);
  assert_false (http_parse_done (&p));
  assert_int_equal (http_parse_eof (&p, &err), 0);
  assert_true (http_parse_done (&p));
  assert_int_equal (http_parse_feed (&p, "d", 1, &err), -EPROTO);
  assert_int_equal (r.body.len, 3);
  rec_free (&r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_content_length),
    cmocka_unit_test (test_chunked),
    cmocka_unit_test (test_close_framed),
    cmocka_unit_test (test_interim_skipped),
    cmocka_unit_test (test_no_body),
    cmocka_unit_test (test_docker_ping),
    cmocka_unit_test (test_event_stream),
    cmocka_unit_test (test_limits_reached),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_refused_nul),
    cmocka_unit_test (test_refused_limits),
    cmocka_unit_test (test_first_error_wins),
    cmocka_unit_test (test_failure_sticks),
    cmocka_unit_test (test_states),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
