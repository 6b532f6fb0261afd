/* The golden snapshot store in a temporary state directory: every field
 * through save and load, the listing, removal, missing directories and
 * files, malformed or truncated snapshots refused whole (and reported
 * through the `bad` hook while the good ones still load), and atomic writes
 * that leave no temporary file behind, also when the rename fails. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/store.h"
#include "lympho/util.h"
#include "unit-util.h"

struct fixture
{
  char dir[64];
  char *snapdir;
  /* what the `bad` hook saw */
  unsigned n_bad;
  char bad_path[512];
  lympho_error_t bad_err;
};

static struct fixture *current; /* for the `bad` hook, which has no user data */

static int
setup (void **state)
{
  struct fixture *f = xmalloc0 (sizeof *f);
  strcpy (f->dir, "/tmp/lympho-test-store-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  f->snapdir = xasprintf ("%s/snapshots", f->dir);
  current = f;
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  unit_rmtree (f->dir);
  free (f->snapdir);
  free (f);
  current = NULL;
  return 0;
}

static void
init_store (struct fixture *f)
{
  lympho_error_t err = { 0 };
  if (store_init (f->dir, &err) < 0)
    fail_msg ("store_init: %s", err.msg);
}

static void
bad_hook (const char *path, const lympho_error_t *e)
{
  current->n_bad++;
  snprintf (current->bad_path, sizeof current->bad_path, "%s", path);
  current->bad_err = *e;
}

/* The names in the snapshots directory, sorted, joined by spaces. */
static char *
dir_listing (const char *dir)
{
  DIR *d = opendir (dir);
  assert_non_null (d);
  char *names[64];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      {
        assert_true (n < 64);
        names[n++] = xstrdup (de->d_name);
      }
  closedir (d);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp (names[j - 1], names[j]) > 0; j--)
      {
        char *t = names[j];
        names[j] = names[j - 1];
        names[j - 1] = t;
      }
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < n; i++)
    {
      buf_printf (&b, "%s%s", i ? " " : "", names[i]);
      free (names[i]);
    }
  char *s = buf_steal (&b);
  return s ? s : xstrdup ("");
}

static void
write_text (const char *dir, const char *file, const char *text)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
  close (fd);
}

/* A golden with every field set, and characters JSON has to escape. */
static void
full_golden (struct golden *g, const char *name)
{
  memset (g, 0, sizeof *g);
  g->name = xstrdup (name);
  g->source_id = xstrdup ("4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffe");
  g->image_id = xstrdup ("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  g->pin_ref = xstrdup ("lympho-pin/web:0123456789ab");
  g->n_old_pins = 2;
  g->old_pins = xmalloc (2 * sizeof *g->old_pins);
  g->old_pins[0] = xstrdup ("lympho-pin/web:aaaaaaaaaaaa");
  g->old_pins[1] = xstrdup ("lympho-pin/web:bbbbbbbbbbbb");
  g->spec = xstrdup ("{\"Image\":\"sha256:0123\",\"Cmd\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\\n\"],\"Env\":[\"A=é\"]}");
  rt_labels_set (&g->labels, "lympho.protect", "true");
  rt_labels_set (&g->labels, "com.example/quote\"d", "tab\there, newline\nthere");
  g->has_healthcheck = true;
  g->swap_blocker = xstrdup ("publishes host port 80");
  g->stop_timeout_s = 25;
  g->adopted_at_ms = 1700000000123ull;
}

static void
assert_golden_equal (const struct golden *a, const struct golden *b)
{
#define STR_EQ(field)                                                                                                  \
  do                                                                                                                   \
    {                                                                                                                  \
      if (a->field == NULL || b->field == NULL)                                                                        \
        assert_ptr_equal (a->field, b->field);                                                                         \
      else                                                                                                             \
        assert_string_equal (a->field, b->field);                                                                      \
    }                                                                                                                  \
  while (0)
  STR_EQ (name);
  STR_EQ (source_id);
  STR_EQ (image_id);
  STR_EQ (pin_ref);
  STR_EQ (spec);
  STR_EQ (swap_blocker);
#undef STR_EQ
  assert_int_equal (a->n_old_pins, b->n_old_pins);
  for (size_t i = 0; i < a->n_old_pins; i++)
    assert_string_equal (a->old_pins[i], b->old_pins[i]);
  assert_int_equal (a->labels.n, b->labels.n);
  for (size_t i = 0; i < a->labels.n; i++)
    {
      assert_string_equal (a->labels.v[i].key, b->labels.v[i].key);
      assert_string_equal (a->labels.v[i].value, b->labels.v[i].value);
    }
  assert_int_equal (a->has_healthcheck, b->has_healthcheck);
  assert_int_equal (a->stop_timeout_s, b->stop_timeout_s);
  assert_int_equal (a->adopted_at_ms, b->adopted_at_ms);
}

static void
free_all (struct golden *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    golden_free (&v[i]);
  free (v);
}

static void
load_all (struct fixture *f, struct golden **v, size_t *n)
{
  lympho_error_t err = { 0 };
  if (store_load_all (f->dir, v, n, bad_hook, &err) < 0)
    fail_msg ("store_load_all: %s", err.msg);
}

static struct golden *
find (struct golden *v, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].name, name) == 0)
      return &v[i];
  return NULL;
}

/* --- round trips ------------------------------------------------------- */

static void
test_round_trip_every_field (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  struct golden g;
  full_golden (&g, "web");
  lympho_error_t err = { 0 };
  assert_int_equal (store_save (f->dir, &g, &err), 0);

  /* One file, named after the container, private to lymphd. */
  cleanup_free char *path = xasprintf ("%s/web.json", f->snapdir);
  struct stat st;
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  cleanup_free char *ls = dir_listing (f->snapdir);
  assert_string_equal (ls, "web.json");

  struct golden *v = NULL;
  size_t n = 0;
  load_all (f, &v, &n);
  assert_int_equal (n, 1);
  assert_int_equal (f->n_bad, 0);
  assert_golden_equal (&v[0], &g);
  free_all (v, n);
  golden_free (&g);
}

/* The optional fields unset come back unset, not as empty strings or 0. */
static void
test_round_trip_minimal (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  struct golden g = {
    .name = xstrdup ("db"), .source_id = xstrdup ("1234"), .image_id = xstrdup ("sha256:beef"),
    .spec = xstrdup ("{}"), .stop_timeout_s = -1,
  };
  lympho_error_t err = { 0 };
  assert_int_equal (store_save (f->dir, &g, &err), 0);
  struct golden *v = NULL;
  size_t n = 0;
  load_all (f, &v, &n);
  assert_int_equal (n, 1);
  assert_null (v[0].pin_ref);
  assert_null (v[0].swap_blocker);
  assert_int_equal (v[0].n_old_pins, 0);
  assert_null (v[0].old_pins);
  assert_int_equal (v[0].labels.n, 0);
  assert_false (v[0].has_healthcheck);
  assert_int_equal (v[0].stop_timeout_s, -1);
  assert_golden_equal (&v[0], &g);
  free_all (v, n);
  golden_free (&g);
}

/* golden_to_json and golden_from_json alone, without the disk. */
static void
test_json_round_trip (void **state)
{
  (void) state;
  struct golden g, back;
  full_golden (&g, "api");
  cleanup_free char *text = golden_to_json (&g);
  lympho_error_t err = { 0 };
  assert_int_equal (golden_from_json (text, strlen (text), &back, &err), 0);
  assert_golden_equal (&back, &g);
  /* Printing what was read gives the same text. */
  cleanup_free char *again = golden_to_json (&back);
  assert_string_equal (again, text);
  golden_free (&back);
  golden_free (&g);
}

/* Saving again replaces the file whole; no temporary file stays. */
static void
test_save_replaces_atomically (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  struct golden g;
  full_golden (&g, "web");
  lympho_error_t err = { 0 };
  assert_int_equal (store_save (f->dir, &g, &err), 0);
  free (g.image_id);
  g.image_id = xstrdup ("sha256:feedfeed");
  g.has_healthcheck = false;
  g.stop_timeout_s = 3;
  rt_labels_set (&g.labels, "lympho.protect", "false");
  assert_int_equal (store_save (f->dir, &g, &err), 0);
  cleanup_free char *ls = dir_listing (f->snapdir);
  assert_string_equal (ls, "web.json");
  struct golden *v = NULL;
  size_t n = 0;
  load_all (f, &v, &n);
  assert_int_equal (n, 1);
  assert_golden_equal (&v[0], &g);
  free_all (v, n);
  golden_free (&g);
}

/* A rename that fails (the target is a directory) leaves the target as it
 * was and removes the temporary file. */
static void
test_failed_save_leaves_no_temp (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  cleanup_free char *target = xasprintf ("%s/web.json", f->snapdir);
  assert_int_equal (mkdir (target, 0700), 0);
  struct golden g;
  full_golden (&g, "web");
  lympho_error_t err = { 0 };
  int ret = store_save (f->dir, &g, &err);
  assert_true (ret < 0);
  assert_int_equal (ret, -err.status);
  assert_int_equal (err.status, EISDIR);
  assert_non_null (strstr (err.msg, "rename"));
  cleanup_free char *ls = dir_listing (f->snapdir);
  assert_string_equal (ls, "web.json");
  struct stat st;
  assert_int_equal (stat (target, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  golden_free (&g);
}

/* --- listing and removal ----------------------------------------------- */

static void
test_list_and_remove (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  lympho_error_t err = { 0 };
  const char *names[] = { "alpha", "beta", "gamma" };
  for (size_t i = 0; i < 3; i++)
    {
      struct golden g;
      full_golden (&g, names[i]);
      g.stop_timeout_s = (int) i;
      assert_int_equal (store_save (f->dir, &g, &err), 0);
      golden_free (&g);
    }
  /* Not snapshots: other suffixes, a leftover temporary file, a bare ".json". */
  write_text (f->snapdir, "notes.txt", "hello");
  write_text (f->snapdir, "delta.json.tmp.4242", "{");
  write_text (f->snapdir, ".json", "{");

  struct golden *v = NULL;
  size_t n = 0;
  load_all (f, &v, &n);
  assert_int_equal (n, 3);
  assert_int_equal (f->n_bad, 0);
  for (size_t i = 0; i < 3; i++)
    {
      struct golden *g = find (v, n, names[i]);
      assert_non_null (g);
      assert_int_equal (g->stop_timeout_s, (int) i);
    }
  free_all (v, n);

  assert_int_equal (store_remove (f->dir, "beta", &err), 0);
  cleanup_free char *ls = dir_listing (f->snapdir);
  assert_string_equal (ls, ".json alpha.json delta.json.tmp.4242 gamma.json notes.txt");
  load_all (f, &v, &n);
  assert_int_equal (n, 2);
  assert_null (find (v, n, "beta"));
  assert_non_null (find (v, n, "alpha"));
  assert_non_null (find (v, n, "gamma"));
  free_all (v, n);

  /* Removing what is not there is not a failure. */
  assert_int_equal (store_remove (f->dir, "beta", &err), 0);
  assert_int_equal (store_remove (f->dir, "never-saved", &err), 0);
}

/* --- missing things ---------------------------------------------------- */

static void
test_missing (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  /* No snapshots directory yet: an empty store. */
  struct golden *v = (struct golden *) 1;
  size_t n = 99;
  assert_int_equal (store_load_all (f->dir, &v, &n, bad_hook, &err), 0);
  assert_int_equal (n, 0);
  assert_null (v);
  /* Nothing to save into before store_init: ENOENT, naming the file. */
  struct golden g;
  full_golden (&g, "web");
  assert_int_equal (store_save (f->dir, &g, &err), -ENOENT);
  assert_int_equal (err.status, ENOENT);
  assert_non_null (strstr (err.msg, "web.json"));
  /* Removing from a store that does not exist is harmless. */
  assert_int_equal (store_remove (f->dir, "web", &err), 0);
  /* store_init makes the directory (private) and is idempotent. */
  init_store (f);
  init_store (f);
  struct stat st;
  assert_int_equal (stat (f->snapdir, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (st.st_mode & 0777, 0700);
  assert_int_equal (store_save (f->dir, &g, &err), 0);
  golden_free (&g);
}

/* A state directory that is a file: the listing fails with the reason. */
static void
test_unreadable_store (void **state)
{
  struct fixture *f = *state;
  write_text (f->dir, "snapshots", "not a directory");
  struct golden *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (store_load_all (f->dir, &v, &n, bad_hook, &err), -ENOTDIR);
  assert_int_equal (err.status, ENOTDIR);
  assert_non_null (strstr (err.msg, "snapshots"));
}

/* snapshots/ that is a file is said at init, not at the first save. */
static void
test_init_on_a_file (void **state)
{
  struct fixture *f = *state;
  write_text (f->dir, "snapshots", "not a directory");
  lympho_error_t err = { 0 };
  assert_int_equal (store_init (f->dir, &err), -ENOTDIR);
  assert_non_null (strstr (err.msg, "snapshots"));
}

/* A name cannot lead out of snapshots/, whatever an engine would allow. */
static void
test_names_stay_inside (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  const char *bad[] = { "../x", "a/b", ".hidden", "", "..", "/etc/passwd" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct golden g = { .name = (char *) bad[i], .source_id = (char *) "aaa", .image_id = (char *) "sha256:i",
                          .spec = (char *) "{}", .stop_timeout_s = -1 };
      lympho_error_t err = { 0 };
      assert_int_equal (store_save (f->dir, &g, &err), -EINVAL);
      assert_non_null (strstr (err.msg, "not a container name"));
      assert_int_equal (store_remove (f->dir, bad[i], &err), -EINVAL);
    }
  cleanup_free char *outside = xasprintf ("%s/x.json", f->dir);
  assert_int_equal (access (outside, F_OK), -1);
}

/* --- malformed snapshots ----------------------------------------------- */

/* Each text must be refused whole: EINVAL, a message saying what is wrong,
 * and nothing left in the golden. */
static void
assert_refused (const char *text, const char *why)
{
  struct golden g;
  memset (&g, 0x5a, sizeof g); /* golden_from_json must not trust what it gets */
  lympho_error_t err = { 0 };
  int ret = golden_from_json (text, strlen (text), &g, &err);
  if (ret == 0)
    {
      golden_free (&g);
      fail_msg ("accepted: %s", text);
    }
  assert_int_equal (ret, -EINVAL);
  assert_int_equal (err.status, EINVAL);
  assert_true (str_has_prefix (err.msg, "snapshot"));
  if (strstr (err.msg, why) == NULL)
    fail_msg ("message `%s` does not say `%s` for %s", err.msg, why, text);
  assert_null (g.name);
  assert_null (g.source_id);
  assert_null (g.image_id);
  assert_null (g.pin_ref);
  assert_null (g.old_pins);
  assert_int_equal (g.n_old_pins, 0);
  assert_null (g.spec);
  assert_int_equal (g.labels.n, 0);
  assert_null (g.labels.v);
  assert_null (g.swap_blocker);
}

#define GOOD_HEAD "{\"version\":1,\"name\":\"web\",\"source_id\":\"s\",\"image_id\":\"sha256:i\",\"pin_ref\":null,"
#define GOOD_TAIL "\"has_healthcheck\":true,\"swap_blocker\":null,\"stop_timeout_s\":10,\"adopted_at_ms\":5}"

static void
test_malformed_refused (void **state)
{
  (void) state;
  /* The baseline the variants below break is accepted. */
  const char *good = GOOD_HEAD "\"old_pins\":[\"p\"],\"spec\":\"{}\",\"labels\":{\"a\":\"b\"}," GOOD_TAIL;
  struct golden g;
  lympho_error_t err = { 0 };
  assert_int_equal (golden_from_json (good, strlen (good), &g, &err), 0);
  assert_string_equal (g.name, "web");
  assert_int_equal (g.stop_timeout_s, 10);
  golden_free (&g);

  assert_refused ("", "malformed JSON");
  assert_refused ("not json", "malformed JSON");
  /* Truncated anywhere, e.g. by a full disk before the atomic write existed. */
  for (size_t cut = 1; cut < strlen (good); cut += 7)
    {
      cleanup_free char *half = xstrndup (good, cut);
      assert_refused (half, "snapshot");
    }
  assert_refused ("{\"version\":1,\"name\":\"web\"} trailing", "malformed JSON");
  assert_refused ("[1,2,3]", "version");
  assert_refused ("{\"name\":\"web\"}", "version");
  assert_refused ("{\"version\":2,\"name\":\"web\"}", "version");
  assert_refused ("{\"version\":\"1\",\"name\":\"web\"}", "version");
  /* Required strings missing or of another type. */
  assert_refused ("{\"version\":1,\"source_id\":\"s\",\"image_id\":\"i\",\"spec\":\"{}\",\"labels\":{}}", "`name`");
  assert_refused ("{\"version\":1,\"name\":7,\"source_id\":\"s\",\"image_id\":\"i\",\"spec\":\"{}\",\"labels\":{}}",
                  "`name`");
  assert_refused ("{\"version\":1,\"name\":\"w\",\"source_id\":\"s\",\"image_id\":null,\"spec\":\"{}\",\"labels\":{}}",
                  "`image_id`");
  assert_refused ("{\"version\":1,\"name\":\"w\",\"source_id\":\"s\",\"image_id\":\"i\",\"labels\":{}}", "`spec`");
  assert_refused ("{\"version\":1,\"name\":\"w\",\"source_id\":\"s\",\"image_id\":\"i\",\"spec\":\"{}\","
                  "\"pin_ref\":5,\"labels\":{}}",
                  "`pin_ref`");
  /* Collections. */
  assert_refused (GOOD_HEAD "\"old_pins\":[\"p\",3],\"spec\":\"{}\",\"labels\":{}," GOOD_TAIL, "old_pins");
  assert_refused (GOOD_HEAD "\"old_pins\":[],\"spec\":\"{}\"," GOOD_TAIL, "labels");
  assert_refused (GOOD_HEAD "\"old_pins\":[],\"spec\":\"{}\",\"labels\":[]," GOOD_TAIL, "labels");
  assert_refused (GOOD_HEAD "\"old_pins\":[],\"spec\":\"{}\",\"labels\":{\"a\":\"b\",\"n\":1}," GOOD_TAIL, "`n`");
}

/* Members whose value has the wrong type are refused too, rather than read
 * as their defaults: a corrupt "has_healthcheck" or "stop_timeout_s" would
 * otherwise change how the next generation is started and stopped. */
static void
test_wrong_types_refused (void **state)
{
  (void) state;
#define BODY GOOD_HEAD "\"spec\":\"{}\",\"labels\":{},\"swap_blocker\":null,"
  assert_refused (BODY "\"old_pins\":\"p\",\"has_healthcheck\":true,\"stop_timeout_s\":10,\"adopted_at_ms\":5}",
                  "old_pins");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":\"yes\",\"stop_timeout_s\":10,\"adopted_at_ms\":5}",
                  "has_healthcheck");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":1,\"stop_timeout_s\":10,\"adopted_at_ms\":5}",
                  "has_healthcheck");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":true,\"stop_timeout_s\":\"10\",\"adopted_at_ms\":5}",
                  "stop_timeout_s");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":true,\"stop_timeout_s\":2.5,\"adopted_at_ms\":5}",
                  "stop_timeout_s");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":true,\"stop_timeout_s\":4294967306,\"adopted_at_ms\":5}",
                  "stop_timeout_s");
  assert_refused (BODY "\"old_pins\":[],\"has_healthcheck\":true,\"stop_timeout_s\":10,\"adopted_at_ms\":\"5\"}",
                  "adopted_at_ms");
  /* Absent, they keep their defaults. */
  const char *bare = GOOD_HEAD "\"spec\":\"{}\",\"labels\":{}}";
  struct golden g;
  lympho_error_t err = { 0 };
  assert_int_equal (golden_from_json (bare, strlen (bare), &g, &err), 0);
  assert_int_equal (g.n_old_pins, 0);
  assert_false (g.has_healthcheck);
  assert_int_equal (g.stop_timeout_s, -1);
  assert_int_equal (g.adopted_at_ms, 0);
  golden_free (&g);
#undef BODY
}

/* On disk: a corrupt file is reported through `bad` with its path and why,
 * skipped, and the good snapshots next to it still load. */
static void
test_corrupt_file_skipped (void **state)
{
  struct fixture *f = *state;
  init_store (f);
  struct golden g;
  full_golden (&g, "good");
  lympho_error_t err = { 0 };
  assert_int_equal (store_save (f->dir, &g, &err), 0);
  cleanup_free char *text = golden_to_json (&g);
  golden_free (&g);
  /* A copy cut in the middle, as a crash in a non-atomic write would leave. */
  cleanup_free char *half = xstrndup (text, strlen (text) / 2);
  write_text (f->snapdir, "torn.json", half);

  struct golden *v = NULL;
  size_t n = 0;
  load_all (f, &v, &n);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].name, "good");
  free_all (v, n);
  assert_int_equal (f->n_bad, 1);
  assert_non_null (strstr (f->bad_path, "/snapshots/torn.json"));
  assert_int_equal (f->bad_err.status, EINVAL);
  assert_true (str_has_prefix (f->bad_err.msg, "snapshot: malformed JSON"));

  /* A ".json" that cannot be read at all (a directory) is reported too. */
  f->n_bad = 0;
  cleanup_free char *d = xasprintf ("%s/dir.json", f->snapdir);
  assert_int_equal (mkdir (d, 0700), 0);
  load_all (f, &v, &n);
  assert_int_equal (n, 1);
  free_all (v, n);
  assert_int_equal (f->n_bad, 2);

  /* Without a hook the corrupt files are skipped all the same. */
  assert_int_equal (store_load_all (f->dir, &v, &n, NULL, &err), 0);
  assert_int_equal (n, 1);
  free_all (v, n);
}

/* --- the rest of the header -------------------------------------------- */

static void
test_from_snapshot (void **state)
{
  (void) state;
  struct rt_snapshot s = {
    .id = xstrdup ("cid"), .name = xstrdup ("web"), .image_id = xstrdup ("sha256:i"), .spec = xstrdup ("{}"),
    .has_healthcheck = true, .swap_blocker = xstrdup ("host network"), .stop_timeout_s = 7,
  };
  rt_labels_set (&s.labels, "k", "v");
  uint64_t before = now_real_ms ();
  struct golden g;
  golden_from_snapshot (&g, &s);
  uint64_t after = now_real_ms ();
  assert_string_equal (g.name, "web");
  assert_string_equal (g.source_id, "cid");
  assert_string_equal (g.image_id, "sha256:i");
  assert_string_equal (g.spec, "{}");
  assert_string_equal (rt_labels_get (&g.labels, "k"), "v");
  assert_true (g.has_healthcheck);
  assert_string_equal (g.swap_blocker, "host network");
  assert_int_equal (g.stop_timeout_s, 7);
  assert_null (g.pin_ref);
  assert_true (g.adopted_at_ms >= before && g.adopted_at_ms <= after);
  /* The snapshot is left empty: nothing freed twice. */
  assert_null (s.id);
  assert_null (s.name);
  assert_null (s.image_id);
  assert_null (s.spec);
  assert_null (s.swap_blocker);
  assert_int_equal (s.labels.n, 0);
  rt_snapshot_free (&s);
  golden_free (&g);
}

static void
test_pin_repo (void **state)
{
  (void) state;
  cleanup_free char *a = store_pin_repo ("Web_App-1");
  assert_string_equal (a, "lympho-pin/web_app-1");
  cleanup_free char *b = store_pin_repo ("db");
  assert_string_equal (b, "lympho-pin/db");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_round_trip_every_field, setup, teardown),
    cmocka_unit_test_setup_teardown (test_round_trip_minimal, setup, teardown),
    cmocka_unit_test (test_json_round_trip),
    cmocka_unit_test_setup_teardown (test_save_replaces_atomically, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failed_save_leaves_no_temp, setup, teardown),
    cmocka_unit_test_setup_teardown (test_list_and_remove, setup, teardown),
    cmocka_unit_test_setup_teardown (test_missing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unreadable_store, setup, teardown),
    cmocka_unit_test (test_malformed_refused),
    cmocka_unit_test (test_wrong_types_refused),
    cmocka_unit_test_setup_teardown (test_corrupt_file_skipped, setup, teardown),
    cmocka_unit_test (test_from_snapshot),
    cmocka_unit_test (test_pin_repo),
    cmocka_unit_test_setup_teardown (test_init_on_a_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_names_stay_inside, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
