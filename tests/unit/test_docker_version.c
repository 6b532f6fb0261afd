/* lympho — the choice of a Docker Engine API version (runtime/docker-version.c). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/docker-version.h"

static void
test_parse (void **state)
{
  (void) state;
  assert_int_equal (docker_api_parse ("1.41"), 1041);
  assert_int_equal (docker_api_parse ("1.9"), 1009);
  assert_int_equal (docker_api_parse ("1.100"), 1100);
  assert_int_equal (docker_api_parse ("2.0"), 2000);
  static const char *const bad[] = { NULL, "", "1", "1.", ".41", "1.41.0", "v1.41", "1.41 ", " 1.41",
                                     "1.4a", "0.41", "1.1000", "1234.1", "-1.41", "1,41" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal (docker_api_parse (bad[i]), -1);
  char buf[16];
  assert_string_equal (docker_api_text (1044, buf), "1.44");
  assert_string_equal (docker_api_text (1009, buf), "1.9");
  assert_string_equal (docker_api_text (DOCKER_API_MIN, buf), "1.41");
}

static void
test_choose (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  /* Docker 20.10: 1.12 to 1.41. */
  assert_int_equal (docker_api_choose (1012, 1041, 0, &err), 1041);
  /* Docker 28.5 with Docker 29's floor: the newest both speak. */
  assert_int_equal (docker_api_choose (1044, 1051, 0, &err), 1051);
  /* Docker 26.1 (1.45), inside the range. */
  assert_int_equal (docker_api_choose (1024, 1045, 0, &err), 1045);
  /* Docker 29 (1.52): lympho's ceiling. */
  assert_int_equal (docker_api_choose (1044, 1052, 0, &err), DOCKER_API_MAX);
  /* No floor stated: any version up to the engine's newest. */
  assert_int_equal (docker_api_choose (0, 1043, 0, &err), 1043);
  /* A floor above the ceiling is not believed (a confused engine). */
  assert_int_equal (docker_api_choose (1060, 1043, 0, &err), 1043);
}

static void
test_refuse (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  /* Too old: Docker 19.03. */
  assert_int_equal (docker_api_choose (1012, 1040, 0, &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "newest API is 1.40"));
  assert_non_null (strstr (err.msg, "upgrade the engine"));
  /* A floor above lympho's ceiling. */
  memset (&err, 0, sizeof err);
  assert_int_equal (docker_api_choose (1052, 1054, 0, &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "oldest API is 1.52"));
  assert_non_null (strstr (err.msg, "DOCKER_MIN_API_VERSION=1.51"));
  /* No Api-Version at all. */
  memset (&err, 0, sizeof err);
  assert_int_equal (docker_api_choose (0, 0, 0, &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "not a Docker Engine API"));
}

static void
test_pinned (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  assert_int_equal (docker_api_choose (1012, 1051, 1041, &err), 1041);
  assert_int_equal (docker_api_choose (1044, 1051, 1044, &err), 1044);
  /* The engine: a 1.44 floor, and a client at 1.41. */
  assert_int_equal (docker_api_choose (1044, 1051, 1041, &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "refuses API 1.41"));
  assert_non_null (strstr (err.msg, "its oldest is 1.44"));
  memset (&err, 0, sizeof err);
  assert_int_equal (docker_api_choose (1012, 1041, 1044, &err), -EPROTONOSUPPORT);
  assert_non_null (strstr (err.msg, "DOCKER_API_VERSION=1.44 is newer than the engine's newest API (1.41)"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse),
    cmocka_unit_test (test_choose),
    cmocka_unit_test (test_refuse),
    cmocka_unit_test (test_pinned),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
