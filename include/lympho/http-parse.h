/* lympho — a strict, incremental parser of HTTP/1.1 answers, a client's side.
 *
 * Pure: bytes in, events out, no I/O and no allocation after init. Feed it
 * what the connection gives, in pieces of any size; it skips 1xx answers,
 * hands over the final answer's headers one by one, then its body with the
 * framing removed (Content-Length, chunked, or until the connection ends).
 *
 * Strict: anything not a well-formed answer is refused whole (EPROTO), as
 * are a line or a header block over its limit (E2BIG). Refused: a status
 * line that is not "HTTP/1.x NNN ...", obs-fold, a header without a name or
 * ':' or with space before the ':', Content-Length that is not digits or
 * disagrees with another, Content-Length beside Transfer-Encoding, any
 * transfer coding but "chunked" alone, a chunk size not in hex or past 2^40,
 * a chunk without its CRLF, 101 (no protocol switch is ever asked for).
 * Bytes after a complete answer are refused too (the client sends
 * "Connection: close" and asks one thing per connection). */
#ifndef LYMPHO_HTTP_PARSE_H
#define LYMPHO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"

#define HTTP_PARSE_LINE_MAX 8192  /* a status, header, chunk-size or trailer line */
#define HTTP_PARSE_HEADERS_MAX 100 /* headers in one block (each 1xx block counts alone) */

struct http_parse_cb
{
  /* One header of the final answer (never of a 1xx): the name as sent,
   * the value with surrounding blanks trimmed. Not NUL-terminated. */
  void (*header) (void *ud, const char *name, size_t name_len, const char *value, size_t value_len);
  /* The final answer's header block is complete; status is 200..999. */
  void (*head) (void *ud, int status);
  /* Body bytes, framing removed. Never called with len 0. */
  void (*body) (void *ud, const char *data, size_t len);
};

enum http_parse_state
{
  HTTP_PARSE_STATUS,      /* reading a status line */
  HTTP_PARSE_HEADERS,     /* reading header lines */
  HTTP_PARSE_BODY_LENGTH, /* Content-Length bytes left */
  HTTP_PARSE_BODY_CLOSE,  /* the body runs until the connection ends */
  HTTP_PARSE_CHUNK_SIZE,
  HTTP_PARSE_CHUNK_DATA,
  HTTP_PARSE_CHUNK_CRLF,  /* the CRLF after a chunk's data */
  HTTP_PARSE_TRAILERS,
  HTTP_PARSE_DONE,
  HTTP_PARSE_FAILED,
};

struct http_parse
{
  enum http_parse_state state;
  const struct http_parse_cb *cb;
  void *ud;
  bool no_body;      /* the request was HEAD: a final answer has no body */
  int status;        /* of the block being read, then of the final answer */
  bool final;        /* the block being read is the final answer's */
  bool chunked;
  bool has_length;
  uint64_t length;   /* Content-Length, then what is left of it or of a chunk */
  unsigned headers;  /* in the block being read */
  bool head_sent;    /* head was called */
  int error;         /* FAILED: the errno every further call repeats (the message stays in line) */
  size_t line_len;
  char line[HTTP_PARSE_LINE_MAX];
};

/* no_body: the request was HEAD. cb and its members may not be NULL. */
void http_parse_init (struct http_parse *p, bool no_body, const struct http_parse_cb *cb, void *ud);

/* Feed bytes as they arrived. Returns 0, or a negative errno with err set
 * (EPROTO for a malformed answer, E2BIG for a limit); after a failure every
 * further call fails the same way. Callbacks run from inside. */
int http_parse_feed (struct http_parse *p, const char *data, size_t len, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* The connection ended. Completes an answer whose body runs until the end;
 * fails (EPROTO, "cut short") for one that is not complete, including no
 * answer at all. */
int http_parse_eof (struct http_parse *p, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* The final answer is complete (its last body byte is delivered). */
bool http_parse_done (const struct http_parse *p);
/* The final answer's headers are complete (head was called). */
bool http_parse_head_done (const struct http_parse *p);

#endif
