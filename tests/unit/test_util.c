/* util.c's pure helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/util.h"

/* xstrdup_capped: at most max bytes, never half a UTF-8 sequence. */
static void
test_strdup_capped (void **state)
{
  (void) state;
  char *s = xstrdup_capped ("abcdef", 10);
  assert_string_equal (s, "abcdef");
  free (s);
  s = xstrdup_capped ("abcdef", 3);
  assert_string_equal (s, "abc");
  free (s);
  s = xstrdup_capped ("abcdef", 0);
  assert_string_equal (s, "");
  free (s);
  /* "é" is two bytes (c3 a9): cut before it, not in it. */
  s = xstrdup_capped ("ab\xc3\xa9z", 3);
  assert_string_equal (s, "ab");
  free (s);
  s = xstrdup_capped ("ab\xc3\xa9z", 4);
  assert_string_equal (s, "ab\xc3\xa9");
  free (s);
  /* A four-byte sequence (U+1F600) cut anywhere inside goes whole. */
  for (size_t max = 1; max < 4; max++)
    {
      s = xstrdup_capped ("\xf0\x9f\x98\x80!", max);
      assert_string_equal (s, "");
      free (s);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_strdup_capped),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
