/* Drift: the start-up set, its file on disk, stamps and the judge. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/drift.h"
#include "lympho/layer.h"
#include "lympho/util.h"

static void
test_set (void **state)
{
  (void) state;
  struct drift_set s = { 0 };
  assert_true (drift_set_add (&s, 'A', "/www/index.html"));
  assert_true (drift_set_add (&s, 'C', "/www"));
  assert_true (drift_set_add (&s, 'A', "/run/app.pid"));
  assert_false (drift_set_add (&s, 'A', "/www/index.html"));
  /* The same path with another kind is another change. */
  assert_true (drift_set_add (&s, 'D', "/www/index.html"));
  assert_false (drift_set_add (&s, 'X', "/etc"));
  assert_false (drift_set_add (&s, 'A', "relative"));
  assert_false (drift_set_add (&s, 'A', NULL));
  assert_int_equal (s.n, 4);
  /* Sorted by path, then kind. */
  assert_string_equal (s.v[0].path, "/run/app.pid");
  assert_string_equal (s.v[1].path, "/www");
  assert_string_equal (s.v[2].path, "/www/index.html");
  assert_int_equal (s.v[2].kind, 'A');
  assert_int_equal (s.v[3].kind, 'D');
  assert_true (drift_set_has (&s, 'C', "/www"));
  assert_false (drift_set_has (&s, 'A', "/www"));
  assert_false (drift_set_has (&s, 'A', "/www/index.htm"));
  drift_set_free (&s);
  assert_int_equal (s.n, 0);
}

static char *
tmpdir (void)
{
  char tmpl[] = "/tmp/lympho-drift-XXXXXX";
  assert_non_null (mkdtemp (tmpl));
  return xstrdup (tmpl);
}

static void
rm_tree (const char *dir)
{
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
}

static void
write_text (const char *path, const char *text)
{
  lympho_error_t err = { 0 };
  assert_int_equal (write_file_atomic (path, text, strlen (text), 0600, &err), 0);
}

static void
test_roundtrip (void **state)
{
  (void) state;
  cleanup_free char *dir = tmpdir ();
  lympho_error_t err = { 0 };
  struct drift_set s = { 0 };
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "web", &s, &err), -ENOENT);
  drift_set_add (&s, 'A', "/www/index.html");
  drift_set_add (&s, 'C', "/www");
  s.learned_at_ms = 1700000000000ull;
  s.name = xstrdup ("web");
  s.from_generation = 1;
  assert_int_equal (drift_set_save (dir, "sha256:abcd", &s, &err), 0);
  cleanup_free char *path = xasprintf ("%s/learned/abcd.drift.json", dir);
  struct stat st;
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);

  /* The same image as another name: a set of its own, beside the first. */
  struct drift_set w = { 0 };
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "worker", &w, &err), -ENOENT);
  drift_set_add (&w, 'A', "/run/worker.pid");
  w.name = xstrdup ("worker");
  w.from_generation = 3;
  assert_int_equal (drift_set_save (dir, "sha256:abcd", &w, &err), 0);

  struct drift_set t = { 0 };
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "web", &t, &err), 0);
  assert_int_equal (t.n, 2);
  assert_true (drift_set_has (&t, 'A', "/www/index.html"));
  assert_true (drift_set_has (&t, 'C', "/www"));
  assert_false (drift_set_has (&t, 'A', "/run/worker.pid"));
  assert_int_equal (t.learned_at_ms, 1700000000000ull);
  assert_string_equal (t.name, "web");
  assert_int_equal (t.from_generation, 1);
  drift_set_free (&t);
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "worker", &t, &err), 0);
  assert_int_equal (t.n, 1);
  assert_int_equal (t.from_generation, 3);
  drift_set_free (&t);

  /* Learned again for web: replaced, worker's kept. */
  drift_set_add (&s, 'A', "/run/web.pid");
  assert_int_equal (drift_set_save (dir, "sha256:abcd", &s, &err), 0);
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "web", &t, &err), 0);
  assert_int_equal (t.n, 3);
  drift_set_free (&t);
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "worker", &t, &err), 0);
  assert_int_equal (t.n, 1);
  drift_set_free (&t);

  /* The file of one image does not pass for another's. */
  cleanup_free char *other = xasprintf ("%s/learned/ef01.drift.json", dir);
  assert_int_equal (rename (path, other), 0);
  assert_int_equal (drift_set_load (dir, "sha256:ef01", "web", &t, &err), -EINVAL);
  assert_non_null (strstr (err.msg, "belong to image sha256:abcd"));
  drift_set_free (&s);
  drift_set_free (&w);
  rm_tree (dir);
}

static void
test_load_refuses (void **state)
{
  (void) state;
  cleanup_free char *dir = tmpdir ();
  cleanup_free char *ldir = xasprintf ("%s/learned", dir);
  assert_int_equal (mkdir (ldir, 0700), 0);
  cleanup_free char *path = xasprintf ("%s/learned/abcd.drift.json", dir);
#define GOOD_SET "{\"name\":\"web\",\"learned_at_ms\":1,\"from_generation\":1,\"changes\":[]}"
  static const char *const bad[] = {
    "not json",
    "{}",
    "{\"image_id\":\"sha256:abcd\"}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":{}}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":[{\"name\":\"web\",\"learned_at_ms\":1,\"changes\":[]}]}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":[{\"learned_at_ms\":1,\"from_generation\":1,\"changes\":[]}]}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":[{\"name\":\"web\",\"learned_at_ms\":1,\"from_generation\":1,"
    "\"changes\":[{\"kind\":\"A\",\"path\":\"relative\"}]}]}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":[{\"name\":\"web\",\"learned_at_ms\":1,\"from_generation\":1,"
    "\"changes\":[{\"kind\":\"AC\",\"path\":\"/x\"}]}]}",
    "{\"image_id\":\"sha256:abcd\",\"sets\":[{\"name\":\"web\",\"learned_at_ms\":1,\"from_generation\":1,"
    "\"changes\":[{\"kind\":\"A\",\"path\":\"/x\"},7]}]}",
    /* The set asked for is fine, another one in the file is not. */
    "{\"image_id\":\"sha256:abcd\",\"sets\":[" GOOD_SET ",{\"name\":\"worker\"}]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      write_text (path, bad[i]);
      lympho_error_t err = { 0 };
      struct drift_set s = { 0 };
      assert_int_equal (drift_set_load (dir, "sha256:abcd", "web", &s, &err), -EINVAL);
      assert_int_equal (s.n, 0);
      assert_null (s.name);
      assert_non_null (strstr (err.msg, "learned start-up sets"));
      drift_set_free (&s);
    }
  /* Saving over a damaged file replaces it with what is known. */
  struct drift_set s = { 0 };
  s.name = xstrdup ("web");
  drift_set_add (&s, 'A', "/x");
  lympho_error_t err = { 0 };
  assert_int_equal (drift_set_save (dir, "sha256:abcd", &s, &err), 0);
  drift_set_free (&s);
  assert_int_equal (drift_set_load (dir, "sha256:abcd", "web", &s, &err), 0);
  assert_true (drift_set_has (&s, 'A', "/x"));
  drift_set_free (&s);
  rm_tree (dir);
}

static void
test_ignored (void **state)
{
  (void) state;
  char *allow[] = { "/tmp" };
  char *mounts[] = { "/srv/data", "/vol" };
  assert_true (drift_ignored ("/tmp/x", allow, 1, mounts, 2));
  assert_true (drift_ignored ("/vol/f", allow, 1, mounts, 2));
  assert_true (drift_ignored ("/srv", allow, 1, mounts, 2));  /* made for the mount */
  assert_false (drift_ignored ("/sr", allow, 1, mounts, 2));
  assert_false (drift_ignored ("/srv/other", allow, 1, mounts, 2));
  assert_false (drift_ignored ("/etc/passwd", allow, 1, mounts, 2));
  assert_false (drift_ignored ("/etc/passwd", NULL, 0, NULL, 0));
}

/* A fake container root: a directory with the demo's start-up files. */
struct root
{
  char *dir;
  int fd;
};

static void
root_make (struct root *r)
{
  r->dir = tmpdir ();
  cleanup_free char *www = xasprintf ("%s/www", r->dir);
  assert_int_equal (mkdir (www, 0755), 0);
  cleanup_free char *page = xasprintf ("%s/www/index.html", r->dir);
  write_text (page, "<h1>demo</h1>");
  r->fd = open (r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true (r->fd >= 0);
}

static void
root_free (struct root *r)
{
  close (r->fd);
  rm_tree (r->dir);
  free (r->dir);
}

static void
demo_set (struct drift_set *s)
{
  memset (s, 0, sizeof *s);
  drift_set_add (s, 'C', "/www");
  drift_set_add (s, 'A', "/www/index.html");
}

static void
test_judge_without_set (void **state)
{
  (void) state;
  struct rt_change v[] = { { 'C', "/www" }, { 'A', "/www/index.html" }, { 'A', "/tmp/x" } };
  char *allow[] = { "/tmp" };
  struct drift_rules r = { .allow = allow, .n_allow = 1, .root_fd = -1 };
  struct drift_finding *f = NULL;
  assert_int_equal (drift_judge (&r, v, 3, &f), 2);
  assert_string_equal (f[0].path, "/www");
  assert_string_equal (f[1].path, "/www/index.html");
  assert_int_equal (f[1].why, DRIFT_WHY_OUTSIDE);
  cleanup_free char *text = drift_findings_text (f, 2, 5);
  assert_string_equal (text, "C /www, A /www/index.html");
  free (f);
  /* Nothing to find: nothing allocated. */
  assert_int_equal (drift_judge (&r, v + 2, 1, &f), 0);
  assert_null (f);
}

static void
test_judge_startup (void **state)
{
  (void) state;
  struct root root;
  root_make (&root);
  struct drift_set s;
  demo_set (&s);
  struct drift_stamps st;
  drift_stamps_take (root.fd, &s, &st);
  assert_int_equal (st.n, 2);
  struct rt_change start[] = { { 'C', "/www" }, { 'A', "/www/index.html" } };
  struct drift_rules r = { .startup = &s, .root_fd = root.fd };
  struct drift_finding *f = NULL;

  /* In the window: the start-up changes are the image's own. */
  assert_int_equal (drift_judge (&r, start, 2, &f), 0);
  /* After it, unchanged: still nothing. */
  r.stamps = &st;
  assert_int_equal (drift_judge (&r, start, 2, &f), 0);

  /* A planted file is outside the set; the directory it went into is not
   * judged by its times. */
  cleanup_free char *planted = xasprintf ("%s/www/planted.html", root.dir);
  write_text (planted, "planted");
  struct rt_change plant[] = { { 'C', "/www" }, { 'A', "/www/index.html" }, { 'A', "/www/planted.html" } };
  assert_int_equal (drift_judge (&r, plant, 3, &f), 1);
  assert_string_equal (f[0].path, "/www/planted.html");
  assert_int_equal (f[0].why, DRIFT_WHY_OUTSIDE);
  free (f);

  /* The start-up file rewritten after the window is drift, even with the
   * same inode, the same size and its old mtime put back: ctime tells. */
  cleanup_free char *page = xasprintf ("%s/www/index.html", root.dir);
  struct stat before;
  assert_int_equal (stat (page, &before), 0);
  struct timespec pause = { 0, 20 * 1000 * 1000 };
  nanosleep (&pause, NULL);
  /* In place: same inode, same size, the old mtime put back. */
  FILE *fp = fopen (page, "r+");
  assert_non_null (fp);
  assert_int_equal (fputs ("<h1>evil</h1>", fp), 1);
  assert_int_equal (fclose (fp), 0);
  struct timespec times[2] = { before.st_atim, before.st_mtim };
  assert_int_equal (utimensat (AT_FDCWD, page, times, 0), 0);
  struct stat after;
  assert_int_equal (stat (page, &after), 0);
  assert_int_equal (after.st_ino, before.st_ino);
  assert_int_equal (after.st_size, before.st_size);
  assert_int_equal (after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  assert_int_equal (drift_judge (&r, start, 2, &f), 1);
  assert_string_equal (f[0].path, "/www/index.html");
  assert_int_equal (f[0].why, DRIFT_WHY_AFTER_START);
  cleanup_free char *text = drift_findings_text (f, 1, 5);
  assert_string_equal (text, "A /www/index.html (after start-up)");
  free (f);

  /* Removed after the window: the engine no longer lists it at all. */
  assert_int_equal (unlink (page), 0);
  assert_int_equal (drift_judge (&r, start, 1, &f), 1);
  assert_string_equal (f[0].path, "/www/index.html");
  assert_int_equal (f[0].why, DRIFT_WHY_REMOVED);
  free (f);

  drift_stamps_free (&st);
  drift_set_free (&s);
  root_free (&root);
}

/* An absent start-up file that appears after the window is drift too. */
static void
test_judge_appears (void **state)
{
  (void) state;
  struct root root;
  root_make (&root);
  struct drift_set s = { 0 };
  drift_set_add (&s, 'A', "/run/app.pid");
  struct drift_stamps st;
  drift_stamps_take (root.fd, &s, &st);
  assert_int_equal (st.v[0].state, DRIFT_STAMP_ABSENT);
  cleanup_free char *run = xasprintf ("%s/run", root.dir);
  assert_int_equal (mkdir (run, 0755), 0);
  cleanup_free char *pid = xasprintf ("%s/run/app.pid", root.dir);
  write_text (pid, "1");
  struct rt_change v[] = { { 'A', "/run" }, { 'A', "/run/app.pid" } };
  struct drift_rules r = { .startup = &s, .stamps = &st, .root_fd = root.fd };
  struct drift_finding *f = NULL;
  assert_int_equal (drift_judge (&r, v, 2, &f), 2);
  assert_string_equal (f[0].path, "/run");
  assert_int_equal (f[0].why, DRIFT_WHY_OUTSIDE);
  assert_string_equal (f[1].path, "/run/app.pid");
  assert_int_equal (f[1].why, DRIFT_WHY_AFTER_START);
  free (f);
  drift_stamps_free (&st);
  drift_set_free (&s);
  root_free (&root);
}

/* Stamps never leave the root: an absolute symlink resolves inside it, and
 * the last component is the link itself. */
static void
test_stamp_stays_inside (void **state)
{
  (void) state;
  struct root root;
  root_make (&root);
  cleanup_free char *link = xasprintf ("%s/escape", root.dir);
  assert_int_equal (symlink ("/etc", link), 0);
  struct drift_stamp st;
  /* The host's /etc/passwd exists; inside the root /etc does not. */
  drift_stamp_take (root.fd, "/escape/passwd", &st);
  assert_int_equal (st.state, DRIFT_STAMP_ABSENT);
  free (st.path);
  drift_stamp_take (root.fd, "/escape", &st);
  assert_int_equal (st.state, DRIFT_STAMP_PRESENT);
  assert_true (S_ISLNK (st.mode));
  free (st.path);
  drift_stamp_take (root.fd, "/www", &st);
  assert_int_equal (st.state, DRIFT_STAMP_DIR);
  free (st.path);
  drift_stamp_take (-1, "/www", &st);
  assert_int_equal (st.state, DRIFT_STAMP_UNKNOWN);
  free (st.path);
  root_free (&root);
}

static void
test_findings_text_caps (void **state)
{
  (void) state;
  struct drift_finding f[7];
  char paths[7][8];
  for (int i = 0; i < 7; i++)
    {
      snprintf (paths[i], sizeof paths[i], "/f%d", i);
      f[i] = (struct drift_finding){ 'A', paths[i], DRIFT_WHY_OUTSIDE };
    }
  cleanup_free char *t = drift_findings_text (f, 7, 5);
  assert_string_equal (t, "A /f0, A /f1, A /f2, A /f3, A /f4 ...");
}

/* --- the writable layer's digest ------------------------------------------ */

static void
put (const char *dir, const char *rel, const char *text)
{
  char p[512];
  snprintf (p, sizeof p, "%s/%s", dir, rel);
  int fd = open (p, O_WRONLY | O_CREAT | O_APPEND, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
  close (fd);
}

static uint64_t
digest_of (const char *upper)
{
  uint64_t h = 0;
  assert_int_equal (layer_digest (upper, &h), 0);
  return h;
}

static void
test_layer_digest (void **state)
{
  (void) state;
  char top[] = "/tmp/lympho-layer-XXXXXX";
  assert_non_null (mkdtemp (top));
  char upper[600], outside[600], p[700];
  snprintf (upper, sizeof upper, "%s/upper", top);
  snprintf (outside, sizeof outside, "%s/outside", top);
  assert_int_equal (mkdir (upper, 0755), 0);
  assert_int_equal (mkdir (outside, 0755), 0);
  snprintf (p, sizeof p, "%s/etc", upper);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/etc/app", upper);
  assert_int_equal (mkdir (p, 0755), 0);
  put (upper, "etc/app/conf", "a=1\n");
  put (upper, "log", "");
  /* A symlink out of the layer is an entry, never followed. */
  snprintf (p, sizeof p, "%s/away", upper);
  assert_int_equal (symlink (outside, p), 0);

  uint64_t h0 = digest_of (upper);
  assert_int_equal (digest_of (upper), h0); /* the same layer, the same digest */
  put (outside, "elsewhere", "x");
  assert_int_equal (digest_of (upper), h0); /* what the symlink points at is not the layer's */

  /* A file written again: its change time moves (waited for: the clock's
   * tick may be coarse), so does the digest. */
  snprintf (p, sizeof p, "%s/etc/app/conf", upper);
  struct stat before, now;
  assert_int_equal (stat (p, &before), 0);
  for (int i = 0; i < 1000; i++)
    {
      put (upper, "etc/app/conf", "b=2\n");
      assert_int_equal (stat (p, &now), 0);
      if (now.st_ctim.tv_sec != before.st_ctim.tv_sec || now.st_ctim.tv_nsec != before.st_ctim.tv_nsec)
        break;
      usleep (1000);
    }
  assert_false (now.st_ctim.tv_sec == before.st_ctim.tv_sec && now.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
  uint64_t h1 = digest_of (upper);
  assert_int_not_equal (h1, h0);

  /* An entry made deep down, removed, renamed: each moves it. */
  put (upper, "etc/app/new", "");
  uint64_t h2 = digest_of (upper);
  assert_int_not_equal (h2, h1);
  snprintf (p, sizeof p, "%s/etc/app/new", upper);
  assert_int_equal (unlink (p), 0);
  uint64_t h3 = digest_of (upper);
  assert_int_not_equal (h3, h2);
  char q[700];
  snprintf (p, sizeof p, "%s/log", upper);
  snprintf (q, sizeof q, "%s/log.1", upper);
  assert_int_equal (rename (p, q), 0);
  assert_int_not_equal (digest_of (upper), h3);

  /* Bounds and bad input: no digest, never a wrong one. */
  uint64_t h;
  assert_int_equal (layer_digest ("relative/upper", &h), -EINVAL);
  snprintf (p, sizeof p, "%s/missing", top);
  assert_int_equal (layer_digest (p, &h), -ENOENT);
  size_t len = (size_t) snprintf (p, sizeof p, "%s", upper);
  for (int i = 0; i <= LAYER_MAX_DEPTH + 1 && len + 3 < sizeof p; i++)
    {
      len += (size_t) snprintf (p + len, sizeof p - len, "/d");
      assert_int_equal (mkdir (p, 0755), 0);
    }
  assert_int_equal (layer_digest (upper, &h), -E2BIG);
  char cmd[700];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", top);
  assert_int_equal (system (cmd), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_set),
    cmocka_unit_test (test_roundtrip),
    cmocka_unit_test (test_load_refuses),
    cmocka_unit_test (test_ignored),
    cmocka_unit_test (test_judge_without_set),
    cmocka_unit_test (test_judge_startup),
    cmocka_unit_test (test_judge_appears),
    cmocka_unit_test (test_stamp_stays_inside),
    cmocka_unit_test (test_findings_text_caps),
    cmocka_unit_test (test_layer_digest),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
