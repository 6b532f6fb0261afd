/* lympho — small helpers shared by every module: allocation that aborts on
 * failure, cleanup attributes for early returns, a growable buffer, time. */
#ifndef LYMPHO_UTIL_H
#define LYMPHO_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <unistd.h>

#include "lympho/error.h"

void *xmalloc (size_t n);
void *xmalloc0 (size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);       /* NULL in, NULL out */
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
char *xvasprintf (const char *fmt, va_list ap) LYMPHO_PRINTF (1, 0);

static inline void cleanup_freep (void *p) { free (*(void **) p); }
static inline void cleanup_closep (int *fd) { if (*fd >= 0) close (*fd); }
static inline void cleanup_fclosep (FILE **f) { if (*f) fclose (*f); }
#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_fclose __attribute__ ((cleanup (cleanup_fclosep)))

/* FNV-1a, continued from h (FNV_OFFSET to begin): over n bytes, over a
 * string (not its ending zero), over a 64-bit value's 8 bytes, least
 * significant first. */
#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL
static inline uint64_t
fnv1a (uint64_t h, const void *p, size_t n)
{
  for (const unsigned char *c = p; n--; c++)
    h = (h ^ *c) * FNV_PRIME;
  return h;
}
static inline uint64_t
fnv1a_str (uint64_t h, const char *s)
{
  for (const unsigned char *c = (const unsigned char *) s; *c; c++)
    h = (h ^ *c) * FNV_PRIME;
  return h;
}
static inline uint64_t
fnv1a_u64 (uint64_t h, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    h = (h ^ ((v >> (8 * i)) & 0xff)) * FNV_PRIME;
  return h;
}
/* splitmix64's finalizer: each bit of h moves about half the bits of the
 * result, so that low bits pick slots and sums of hashes do not cancel. */
static inline uint64_t
hash_mix (uint64_t h)
{
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

/* Hand ownership on: returns the value and resets the variable. */
#define steal_pointer(pp) ({ __typeof__ (*(pp)) _p = *(pp); *(pp) = NULL; _p; })
/* <sys/queue.h>'s LIST_REMOVE, once: an element in no list (le_prev NULL,
 * as xmalloc0 leaves it and as this leaves it) is left alone. */
#define LIST_UNLINK(elm, field)          \
  do                                     \
    {                                    \
      if ((elm)->field.le_prev != NULL)  \
        {                                \
          LIST_REMOVE (elm, field);      \
          (elm)->field.le_prev = NULL;   \
        }                                \
    }                                    \
  while (0)
#define steal_fd(pfd) ({ int _fd = *(pfd); *(pfd) = -1; _fd; })

/* Growable byte buffer, always NUL-terminated. */
struct buf
{
  char *data;
  size_t len;
  size_t cap;
};
void buf_init (struct buf *b);
void buf_append (struct buf *b, const void *data, size_t len);
void buf_appends (struct buf *b, const char *s);
void buf_printf (struct buf *b, const char *fmt, ...) LYMPHO_PRINTF (2, 3);
void buf_reset (struct buf *b);
void buf_free (struct buf *b);
char *buf_steal (struct buf *b);
static inline void cleanup_bufp (struct buf *b) { buf_free (b); }
#define cleanup_buf __attribute__ ((cleanup (cleanup_bufp)))

/* Clocks, in milliseconds. Monotonic for deadlines, realtime for records. */
uint64_t now_mono_ms (void);
uint64_t now_real_ms (void);

/* Write a whole file atomically: tmp file in the same dir, fsync, rename,
 * fsync dir. */
int write_file_atomic (const char *path, const void *data, size_t len, int mode, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Read a whole file (max `limit` bytes); *out is NUL-terminated. */
int read_file (const char *path, size_t limit, char **out, size_t *len, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* A copy of at most max bytes of s, cut before a UTF-8 sequence it would
 * split. */
char *xstrdup_capped (const char *s, size_t max);
/* The length of the well-formed UTF-8 sequence at s (1..4 bytes, of at
 * most n), or 0 when the byte at s starts none: a stray continuation byte,
 * an overlong form, a surrogate, beyond U+10FFFF, or cut short. */
size_t utf8_seq_len (const unsigned char *s, size_t n);
/* s with each byte that starts no well-formed UTF-8 sequence replaced by
 * U+FFFD, newly allocated; NULL when s is well-formed already (the common
 * case costs no copy). JSON text must be UTF-8: a file name's stray byte
 * would make a history line or a reply unreadable. */
char *utf8_sanitize (const char *s);
/* Into dst (NUL-terminated, cut on a character when too long): src for one
 * log line, each control character (newlines included) and each byte of
 * malformed UTF-8 written as \xNN, a backslash as \\; a message cannot
 * start a line of its own (a forged journald priority) or end one early. */
void text_escape (char *dst, size_t dstlen, const char *src);
/* The same, whole and newly allocated: for a terminal, which a name's
 * escape sequence must not drive. */
char *text_escape_dup (const char *src);
/* Make path free for a Unix socket to bind: absent is fine; a socket no
 * one answers on (left by a crash) is removed (*removed set); one someone
 * answers on is -EADDRINUSE; anything but a socket is -EEXIST. */
int unix_path_claim (const char *path, bool *removed, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The last `cap` bytes of a file (all of it when smaller); *out is
 * NUL-terminated. */
int read_tail (const char *path, size_t cap, char **out, size_t *len, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* At most one line per period: rate_limit_pass says whether this one may
 * be logged, and how many were held back since the last one that was. */
struct rate_limit
{
  uint64_t last_ms; /* monotonic; 0: never */
  unsigned held;
};
bool rate_limit_pass (struct rate_limit *rl, uint64_t period_ms, unsigned *held_back);
/* A state file lymphd cannot use, moved out of its way (PATH.bad, else
 * PATH.bad.1 .. PATH.bad.9), kept for whoever wants to see it. *to (may be
 * NULL): the new path. 0, or -errno. */
int move_aside (const char *path, char **to);
/* mkdir -p with mode for the created components. */
int mkdir_p (const char *path, int mode, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Uniform random double in [0,1) from getrandom-seeded state. */
double random_unit (void);
/* Fill with random bytes from the kernel. */
int random_bytes (void *buf, size_t len, lympho_error_t *err) LYMPHO_MUST_CHECK;

bool str_has_prefix (const char *s, const char *prefix);

/* Arrays of n strings: a deep copy (never NULL), and freeing one. */
char **strv_dup (char *const *v, size_t n);
void strv_free (char **v, size_t n);

/* Keys seen recently, by their hash (FNV-1a), at most cap of them: the
 * oldest is forgotten first. v points to cap slots the caller owns,
 * zeroed. */
struct recent_slot
{
  uint64_t hash;
  uint64_t at_ms;
};
struct recent
{
  struct recent_slot *v;
  size_t cap, n, next;
};
/* True the first time key is seen within window_ms before now_ms (it is
 * remembered then); false when it was. */
bool recent_first (struct recent *r, const char *key, uint64_t now_ms, uint64_t window_ms);

#endif
