/* The error contract (docs/error-handling.md): messages that grow from the
 * outside in, a fixed buffer that cuts long messages safely, status 0 read as
 * EIO, and the difference between lympho_error_prefix and lympho_error_pass
 * where err is NULL. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/error.h"
#include "lympho/util.h"

#define MSG_MAX (sizeof ((lympho_error_t *) 0)->msg - 1)

static void
test_set (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (lympho_error_set (&err, EINVAL, "label `%s`: %d bad", "lympho.ttl", 3), -EINVAL);
  assert_int_equal (err.status, EINVAL);
  assert_string_equal (err.msg, "label `lympho.ttl`: 3 bad");
  /* err may be NULL: the return value still says what happened. */
  assert_int_equal (lympho_error_set (NULL, ENOENT, "gone"), -ENOENT);
}

static void
test_set_errno (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (lympho_error_set_errno (&err, ENOENT, "open `%s`", "/x"), -ENOENT);
  assert_int_equal (err.status, ENOENT);
  cleanup_free char *want = xasprintf ("open `/x`: %s", strerror (ENOENT));
  assert_string_equal (err.msg, want);
  assert_int_equal (lympho_error_set_errno (NULL, EACCES, "open"), -EACCES);
}

/* Each caller prepends what it was doing: the chain reads outside-in, and the
 * status of the innermost failure travels up unchanged. */
static void
test_prefix_chain (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  int ret = lympho_error_set (&err, ENOENT, "No such image: %s", "sha256:abc");
  assert_int_equal (lympho_error_prefix (&err, "engine"), ret);
  assert_int_equal (lympho_error_prefix (&err, "create"), ret);
  assert_int_equal (lympho_error_prefix (&err, "regen %s", "web"), -ENOENT);
  assert_string_equal (err.msg, "regen web: create: engine: No such image: sha256:abc");
  assert_int_equal (err.status, ENOENT);

  /* A prefix whose arguments are the message itself reads the old text. */
  lympho_error_t e2 = { 0 };
  assert_int_equal (lympho_error_set (&e2, EINVAL, "inner"), -EINVAL);
  assert_int_equal (lympho_error_prefix (&e2, "[%s]", e2.msg), -EINVAL);
  assert_string_equal (e2.msg, "[inner]: inner");
}

static void
test_set_errno_chain (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (lympho_error_set_errno (&err, EACCES, "write `%s`", "journal"), -EACCES);
  assert_int_equal (lympho_error_prefix (&err, "step %s", "create"), -EACCES);
  cleanup_free char *want = xasprintf ("step create: write `journal`: %s", strerror (EACCES));
  assert_string_equal (err.msg, want);
}

/* Messages longer than the buffer are cut to its size, terminated, and the
 * bytes past the end are never written (ASan watches the guards). */
static void
test_long_messages_cut (void **state)
{
  (void) state;
  struct
  {
    lympho_error_t err;
    char guard[64];
  } s;
  memset (&s, 0, sizeof s);
  memset (s.guard, 'G', sizeof s.guard);

  char big[2000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';

  assert_int_equal (lympho_error_set (&s.err, E2BIG, "%s", big), -E2BIG);
  assert_int_equal (strlen (s.err.msg), MSG_MAX);
  assert_int_equal (s.err.status, E2BIG);

  assert_int_equal (lympho_error_set_errno (&s.err, ENOSPC, "%s", big), -ENOSPC);
  assert_int_equal (strlen (s.err.msg), MSG_MAX);
  assert_int_equal (s.err.msg[0], 'x');

  /* A short prefix on a full message: the prefix comes first, the tail goes. */
  assert_int_equal (lympho_error_set (&s.err, EIO, "%s", big), -EIO);
  assert_int_equal (lympho_error_prefix (&s.err, "outer"), -EIO);
  assert_int_equal (strlen (s.err.msg), MSG_MAX);
  assert_memory_equal (s.err.msg, "outer: xxx", 10);

  /* A prefix longer than the buffer: cut, still terminated. */
  assert_int_equal (lympho_error_set (&s.err, EIO, "inner"), -EIO);
  assert_int_equal (lympho_error_prefix (&s.err, "%s", big), -EIO);
  assert_int_equal (strlen (s.err.msg), MSG_MAX);
  assert_null (strstr (s.err.msg, "inner"));

  /* lympho_error_pass cuts the same way. */
  assert_int_equal (lympho_error_set (&s.err, EIO, "%s", big), -EIO);
  assert_int_equal (lympho_error_pass (-ENOENT, &s.err, "%s", big), -ENOENT);
  assert_int_equal (strlen (s.err.msg), MSG_MAX);

  for (size_t i = 0; i < sizeof s.guard; i++)
    assert_int_equal (s.guard[i], 'G');
}

/* A status of 0 (or below) is not a failure a caller could test for: it
 * becomes EIO, so that the return value is always negative. */
static void
test_status_zero_is_eio (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (lympho_error_set (&err, 0, "no status"), -EIO);
  assert_int_equal (err.status, EIO);
  assert_int_equal (lympho_error_set (&err, -3, "negative"), -EIO);
  assert_int_equal (err.status, EIO);
  assert_int_equal (lympho_error_set_errno (&err, 0, "errno 0"), -EIO);
  assert_int_equal (err.status, EIO);
  assert_int_equal (lympho_error_set (NULL, 0, "no status"), -EIO);
  /* A prefix on an error whose status was never set returns -EIO too. */
  lympho_error_t blank = { 0 };
  assert_int_equal (lympho_error_prefix (&blank, "ctx"), -EIO);
  assert_int_equal (blank.status, EIO);
  assert_string_equal (blank.msg, "ctx: ");
}

/* With err NULL, lympho_error_prefix cannot know the status and returns
 * -EIO (documented in error.h); lympho_error_pass returns the callee's value. */
static void
test_pass_keeps_status (void **state)
{
  (void) state;
  assert_int_equal (lympho_error_prefix (NULL, "ctx %d", 1), -EIO);
  assert_int_equal (lympho_error_pass (-ENOENT, NULL, "ctx %d", 1), -ENOENT);
  assert_int_equal (lympho_error_pass (-ECONNREFUSED, NULL, "ctx"), -ECONNREFUSED);

  lympho_error_t err = { 0 };
  int ret = lympho_error_set (&err, ENOENT, "no such container");
  assert_int_equal (lympho_error_pass (ret, &err, "inspect %s", "web"), -ENOENT);
  assert_int_equal (err.status, ENOENT);
  assert_string_equal (err.msg, "inspect web: no such container");

  /* The callee's return value wins over a status left in err. */
  lympho_error_t stale = { 0 };
  assert_int_equal (lympho_error_set (&stale, EINVAL, "earlier"), -EINVAL);
  assert_int_equal (lympho_error_pass (-ETIMEDOUT, &stale, "wait"), -ETIMEDOUT);
  assert_int_equal (stale.status, ETIMEDOUT);
  assert_string_equal (stale.msg, "wait: earlier");

  /* A "failure" that is not negative is still reported as one. */
  assert_int_equal (lympho_error_pass (0, NULL, "ctx"), -EIO);
  lympho_error_t z = { 0 };
  assert_int_equal (lympho_error_set (&z, EINVAL, "x"), -EINVAL);
  assert_int_equal (lympho_error_pass (3, &z, "ctx"), -EIO);
  assert_int_equal (z.status, EIO);
}

static void
test_clear (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (lympho_error_set (&err, EPERM, "denied"), -EPERM);
  lympho_error_clear (&err);
  assert_int_equal (err.status, 0);
  assert_string_equal (err.msg, "");
  lympho_error_clear (NULL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_set),
    cmocka_unit_test (test_set_errno),
    cmocka_unit_test (test_prefix_chain),
    cmocka_unit_test (test_set_errno_chain),
    cmocka_unit_test (test_long_messages_cut),
    cmocka_unit_test (test_status_zero_is_eio),
    cmocka_unit_test (test_pass_keeps_status),
    cmocka_unit_test (test_clear),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
