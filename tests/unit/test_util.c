/* util.c's pure helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
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

/* utf8_seq_len: well-formed sequences only (RFC 3629). */
static void
test_utf8_seq_len (void **state)
{
  (void) state;
  const struct
  {
    const char *s;
    size_t want;
  } cases[] = {
    { "a", 1 },           { "\xc3\xa9", 2 },         { "\xe2\x82\xac", 3 },     { "\xf0\x9f\x98\x80", 4 },
    { "\x80", 0 },        { "\xc0\xaf", 0 },         { "\xc1\xbf", 0 },         { "\xe0\x80\xaf", 0 },
    { "\xed\xa0\x80", 0 }, { "\xf4\x90\x80\x80", 0 }, { "\xf5\x80\x80\x80", 0 }, { "\xff", 0 },
    { "\xc3", 0 },        { "\xe2\x82", 0 },         { "\xc3(", 0 },            { "\xef\xbf\xbd", 3 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal (utf8_seq_len ((const unsigned char *) cases[i].s, strlen (cases[i].s)), cases[i].want);
  assert_int_equal (utf8_seq_len ((const unsigned char *) "\xc3\xa9", 1), 0);
  assert_int_equal (utf8_seq_len ((const unsigned char *) "", 0), 0);
}

/* utf8_sanitize: NULL when well-formed; each bad byte one U+FFFD. */
static void
test_utf8_sanitize (void **state)
{
  (void) state;
  assert_null (utf8_sanitize ("/usr/bin/caf\xc3\xa9"));
  assert_null (utf8_sanitize (""));
  char *s = utf8_sanitize ("/tmp/\xff\xfe.sh");
  assert_string_equal (s, "/tmp/\xef\xbf\xbd\xef\xbf\xbd.sh");
  free (s);
  /* A sequence cut short: each of its bytes is replaced. */
  s = utf8_sanitize ("a\xe2\x82" "b");
  assert_string_equal (s, "a\xef\xbf\xbd\xef\xbf\xbd" "b");
  free (s);
  s = utf8_sanitize ("\xed\xa0\x80");
  assert_string_equal (s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  free (s);
}

/* text_escape: one log line whatever the input. */
static void
test_text_escape (void **state)
{
  (void) state;
  char out[64];
  text_escape (out, sizeof out, "plain caf\xc3\xa9");
  assert_string_equal (out, "plain caf\xc3\xa9");
  text_escape (out, sizeof out, "a\n<3>forged\r\tb");
  assert_string_equal (out, "a\\x0A<3>forged\\x0D\\x09b");
  text_escape (out, sizeof out, "bad \xff byte, back\\slash, del \x7f");
  assert_string_equal (out, "bad \\xFF byte, back\\\\slash, del \\x7F");
  /* Cut on a character: never half an escape or a UTF-8 sequence. */
  char small[6];
  text_escape (small, sizeof small, "ab\ncd");
  assert_string_equal (small, "ab");
  text_escape (small, sizeof small, "abcd\xc3\xa9");
  assert_string_equal (small, "abcd");
  text_escape (small, 1, "abc");
  assert_string_equal (small, "");
  /* Whole, however many escapes: each byte may take four. */
  char worst[257];
  memset (worst, 0x1b, 256);
  worst[256] = '\0';
  cleanup_free char *all = text_escape_dup (worst);
  assert_int_equal (strlen (all), 1024);
  assert_memory_equal (all + 1020, "\\x1B", 4);
  cleanup_free char *term = text_escape_dup ("web\x1b]0;owned\x07 \xe2\x9c\x93");
  assert_string_equal (term, "web\\x1B]0;owned\\x07 \xe2\x9c\x93");
}

/* move_aside: PATH.bad, then PATH.bad.1 ..; never over an earlier one. */
static void
test_move_aside (void **state)
{
  (void) state;
  char dir[] = "/tmp/lympho-test-aside-XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *path = xasprintf ("%s/memory", dir);
  for (int i = 0; i < 3; i++)
    {
      FILE *fp = fopen (path, "w");
      assert_non_null (fp);
      fprintf (fp, "%d", i);
      fclose (fp);
      char *to = NULL;
      assert_int_equal (move_aside (path, &to), 0);
      cleanup_free char *want = i == 0 ? xasprintf ("%s.bad", path) : xasprintf ("%s.bad.%d", path, i);
      assert_string_equal (to, want);
      free (to);
      assert_int_equal (access (path, F_OK), -1);
    }
  assert_int_equal (move_aside (path, NULL), -ENOENT);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
}

/* rate_limit_pass: one per period, and a count of those held back. */
static void
test_rate_limit (void **state)
{
  (void) state;
  struct rate_limit rl = { 0 };
  unsigned held = 99;
  assert_true (rate_limit_pass (&rl, 3600000, &held));
  assert_int_equal (held, 0);
  for (int i = 0; i < 5; i++)
    assert_false (rate_limit_pass (&rl, 3600000, &held));
  /* A period already over (0 ms): this one passes, and says five waited. */
  assert_true (rate_limit_pass (&rl, 0, &held));
  assert_int_equal (held, 5);
  assert_true (rate_limit_pass (&rl, 0, &held));
  assert_int_equal (held, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_strdup_capped),
    cmocka_unit_test (test_utf8_seq_len),
    cmocka_unit_test (test_utf8_sanitize),
    cmocka_unit_test (test_text_escape),
    cmocka_unit_test (test_move_aside),
    cmocka_unit_test (test_rate_limit),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
