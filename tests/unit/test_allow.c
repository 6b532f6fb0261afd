/* Allow lists: path prefixes, learned lists on disk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/allow.h"
#include "lympho/util.h"

static void
test_path_is_under (void **state)
{
  (void) state;
  char *v[] = { "/var/log", "/tmp/", "/run/app.pid" };
  assert_true (path_is_under ("/var/log", v, 3));
  assert_true (path_is_under ("/var/log/nginx/access.log", v, 3));
  assert_false (path_is_under ("/var/logs", v, 3));
  assert_false (path_is_under ("/var", v, 3));
  assert_true (path_is_under ("/tmp", v, 3));
  assert_true (path_is_under ("/tmp/x", v, 3));
  assert_true (path_is_under ("/run/app.pid", v, 3));
  assert_false (path_is_under ("/run/app.pid2", v, 3));
  assert_false (path_is_under ("/etc/passwd", v, 3));
  assert_false (path_is_under ("/etc/passwd", NULL, 0));
  char *root[] = { "/" };
  assert_true (path_is_under ("/anything/at/all", root, 1));
}

static void
test_list (void **state)
{
  (void) state;
  struct allow_list l = { 0 };
  assert_true (allow_list_add (&l, "/bin/busybox"));
  assert_false (allow_list_add (&l, "/bin/busybox"));
  assert_true (allow_list_add (&l, "/usr/sbin/nginx"));
  assert_false (allow_list_add (&l, NULL));
  assert_true (allow_list_has (&l, "/usr/sbin/nginx"));
  assert_false (allow_list_has (&l, "/usr/sbin/nginx2"));
  assert_false (allow_list_has (&l, NULL));
  assert_int_equal (l.n, 2);
  allow_list_free (&l);
}

/* Learning keeps at most ALLOW_LEARN_MAX programs of ALLOW_PATH_MAX bytes. */
static void
test_caps (void **state)
{
  (void) state;
  struct allow_list l = { 0 };
  char p[ALLOW_PATH_MAX + 8];
  memset (p, 'a', sizeof p);
  p[0] = '/';
  p[ALLOW_PATH_MAX + 1] = '\0';
  assert_false (allow_list_add (&l, p));
  p[ALLOW_PATH_MAX] = '\0';
  assert_true (allow_list_add (&l, p));
  assert_int_equal (l.refused, 1);
  for (int i = 1; i < ALLOW_LEARN_MAX; i++)
    {
      char q[32];
      snprintf (q, sizeof q, "/bin/p%d", i);
      assert_true (allow_list_add (&l, q));
    }
  assert_int_equal (l.n, ALLOW_LEARN_MAX);
  assert_false (allow_list_add (&l, "/bin/one-more"));
  assert_false (allow_list_has (&l, "/bin/one-more"));
  assert_int_equal (l.refused, 2);
  allow_list_free (&l);
}

static void
test_learned_roundtrip (void **state)
{
  (void) state;
  char dir[] = "/tmp/lympho-allow-XXXXXX";
  assert_non_null (mkdtemp (dir));
  lympho_error_t err = { 0 };
  struct allow_list l = { 0 };
  assert_int_equal (allow_learned_load (dir, "sha256:abcd", &l, &err), -ENOENT);
  allow_list_add (&l, "/bin/busybox");
  allow_list_add (&l, "/bin/httpd");
  l.learned_at_ms = 1234;
  assert_int_equal (allow_learned_save (dir, "sha256:abcd", &l, &err), 0);
  allow_list_free (&l);
  assert_int_equal (allow_learned_load (dir, "sha256:abcd", &l, &err), 0);
  assert_int_equal (l.n, 2);
  assert_true (l.frozen);
  assert_int_equal (l.learned_at_ms, 1234);
  assert_true (allow_list_has (&l, "/bin/httpd"));
  allow_list_free (&l);
  /* A corrupt file is refused whole, never half-read. */
  char *path = xasprintf ("%s/learned/abcd.json", dir);
  FILE *f = fopen (path, "w");
  fputs ("{\"learned_at_ms\":1,\"programs\":[\"/bin/ok\",\"relative\"]}", f);
  fclose (f);
  assert_true (allow_learned_load (dir, "sha256:abcd", &l, &err) < 0);
  assert_non_null (strstr (err.msg, "not an absolute path"));
  assert_int_equal (l.n, 0);
  /* Past the caps: refused whole. */
  f = fopen (path, "w");
  fputs ("{\"learned_at_ms\":1,\"programs\":[", f);
  for (int i = 0; i <= ALLOW_LEARN_MAX; i++)
    fprintf (f, "%s\"/bin/p%d\"", i ? "," : "", i);
  fputs ("]}", f);
  fclose (f);
  assert_int_equal (allow_learned_load (dir, "sha256:abcd", &l, &err), -EINVAL);
  assert_non_null (strstr (err.msg, "more than 1024 programs"));
  f = fopen (path, "w");
  fprintf (f, "{\"learned_at_ms\":1,\"programs\":[\"/%0*d\"]}", ALLOW_PATH_MAX, 7);
  fclose (f);
  assert_int_equal (allow_learned_load (dir, "sha256:abcd", &l, &err), -EINVAL);
  unlink (path);
  free (path);
  char *sub = xasprintf ("%s/learned", dir);
  rmdir (sub);
  free (sub);
  rmdir (dir);
}

/* Entries of lympho.exec.allow that pin a file's contents. */
static void
test_pinned_entries (void **state)
{
  (void) state;
  const char *hex = NULL;
  const char *pinned = "/app/server@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  assert_int_equal (allow_entry_path_len (pinned, &hex), strlen ("/app/server"));
  assert_string_equal (hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal (allow_entry_path_len ("/bin/sh", &hex), 7);
  assert_null (hex);
  assert_true (allow_entry_names (pinned, "/app/server"));
  assert_false (allow_entry_names (pinned, "/app/serve"));
  assert_false (allow_entry_names (pinned, "/app/server2"));
  assert_true (allow_entry_names ("/bin/sh", "/bin/sh"));
  assert_false (allow_entry_names ("/bin/sh", "/bin/shx"));
  lympho_error_t err = { 0 };
  assert_int_equal (allow_entry_check (pinned, &err), 0);
  assert_int_equal (allow_entry_check ("/bin/sh", &err), 0);
  assert_int_equal (allow_entry_check ("/a@sha256:", &err), -EINVAL);
  assert_int_equal (allow_entry_check ("@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &err),
                    -EINVAL);
  assert_int_equal (allow_entry_check ("/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g", &err),
                    -EINVAL);
  assert_int_equal (allow_entry_check ("/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", &err),
                    -EINVAL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_path_is_under),
    cmocka_unit_test (test_list),
    cmocka_unit_test (test_learned_roundtrip),
    cmocka_unit_test (test_caps),
    cmocka_unit_test (test_pinned_entries),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
