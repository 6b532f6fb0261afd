/* lympho — error reporting contract.
 *
 * A fallible function takes `lympho_error_t *err`, returns a negative value on
 * failure and fills `err` with an errno-style status and a one-line message.
 * Callers add context with lympho_error_prefix() as the error travels up; only
 * the top level (a main, a control reply, a history entry) prints it.
 * The struct is fixed-size so that filling it never allocates and never leaks.
 * See docs/error-handling.md. */
#ifndef LYMPHO_ERROR_H
#define LYMPHO_ERROR_H

#include <stdarg.h>

typedef struct lympho_error
{
  int status;     /* errno value (EIO, ENOENT, EINVAL, ...) or 0 */
  char msg[512];  /* one line, no trailing newline */
} lympho_error_t;

#define LYMPHO_PRINTF(a, b) __attribute__ ((format (printf, a, b)))
/* On a fallible function: a caller that ignores its result is a build error
 * (-Werror), as the error contract (docs/error-handling.md) wants. */
#define LYMPHO_MUST_CHECK __attribute__ ((warn_unused_result))

/* Fill err (if non-NULL) and return -status (or -EIO when status is 0). */
int lympho_error_set (lympho_error_t *err, int status, const char *fmt, ...) LYMPHO_PRINTF (3, 4);
/* Same, appending ": strerror(errno_value)". */
int lympho_error_set_errno (lympho_error_t *err, int errno_value, const char *fmt, ...) LYMPHO_PRINTF (3, 4);
/* Prepend "context: " to the message; returns -status. With err NULL the
 * status is not known and -EIO comes back: where err may be NULL, pass the
 * callee's return value up with lympho_error_pass. */
int lympho_error_prefix (lympho_error_t *err, const char *fmt, ...) LYMPHO_PRINTF (2, 3);
/* Pass a callee's failure ret (< 0) up with context: prepends to err when
 * there is one; returns ret, whose status holds even where err is NULL. */
int lympho_error_pass (int ret, lympho_error_t *err, const char *fmt, ...) LYMPHO_PRINTF (3, 4);
void lympho_error_clear (lympho_error_t *err);

#endif
