/* Threat decay, effective TTL, threshold, and immune memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/memory.h"
#include "lympho/threat.h"
#include "lympho/util.h"

#define HL (10 * 60 * 1000ull)

static void
test_decay_half_life (void **state)
{
  (void) state;
  struct threat t = { 0 };
  assert_true (threat_add (&t, 2, 1000, HL) == 2.0);
  /* One half-life later half remains; two, a quarter. */
  double l1 = threat_level (&t, 1000 + HL, HL);
  double l2 = threat_level (&t, 1000 + 2 * HL, HL);
  assert_true (l1 > 0.999 && l1 < 1.001);
  assert_true (l2 > 0.499 && l2 < 0.501);
  /* Contributions add on top of what is left. */
  double l = threat_add (&t, 1, 1000 + HL, HL);
  assert_true (l > 1.999 && l < 2.001);
  /* Far in the future it is zero, not a tiny positive. */
  assert_true (threat_level (&t, 1000 + 100 * HL, HL) == 0.0);
  threat_reset (&t);
  assert_true (threat_level (&t, 5000, HL) == 0.0);
}

static void
test_threshold (void **state)
{
  (void) state;
  struct threat t = { 0 };
  threat_add (&t, 1.5, 0, HL);
  assert_false (threat_reached (threat_level (&t, 0, HL), 3));
  threat_add (&t, 1.5, 0, HL);
  assert_true (threat_reached (threat_level (&t, 0, HL), 3));
  /* Decay takes it back under. */
  assert_false (threat_reached (threat_level (&t, HL / 2, HL), 3));
  assert_true (threat_reached (3, 3));
  /* Three severity-1 alerts a second apart: 2.995 reaches 3. */
  struct threat u = { 0 };
  threat_add (&u, 1, 0, HL);
  threat_add (&u, 1, 1000, HL);
  assert_true (threat_reached (threat_add (&u, 1, 2000, HL), 3));
  assert_true (threat_reached (2.96, 3));
  assert_false (threat_reached (2.9, 3));
}

static void
test_effective_ttl (void **state)
{
  (void) state;
  assert_int_equal (threat_effective_ttl (3600000, 0), 3600000);
  assert_int_equal (threat_effective_ttl (3600000, 1), 1800000);
  assert_int_equal (threat_effective_ttl (3600000, 2), 1200000);
  assert_int_equal (threat_effective_ttl (6000, 100), THREAT_TTL_FLOOR_MS);
  /* Never longer than the TTL itself. */
  assert_int_equal (threat_effective_ttl (2000, 0.5), 2000);
}

/* A fresh state directory for the immune memory, its file's path, and the
 * window the cases use. */
struct memfix
{
  char dir[32];
  char *path;
  struct memory m;
  lympho_error_t err;
};

static const uint64_t week = 7 * 24 * 3600 * 1000ull;

static int
mem_setup (void **state)
{
  struct memfix *f = xmalloc0 (sizeof *f);
  strcpy (f->dir, "/tmp/lympho-memory-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  f->path = xasprintf ("%s/memory", f->dir);
  *state = f;
  return 0;
}

static int
mem_teardown (void **state)
{
  struct memfix *f = *state;
  unlink (f->path);
  rmdir (f->dir);
  free (f->path);
  free (f);
  return 0;
}

/* memory_open on the fixture's directory at time `now`. */
static void
mem_open (struct memfix *f, uint64_t now)
{
  assert_int_equal (memory_open (f->dir, week, now, &f->m, &f->err), 0);
}

/* A memory file lymphd cannot read (here a directory in its place) is
 * moved aside and kept, and lymphd starts with an empty memory: before,
 * memory_open failed and lymphd did not start at all. */
static void
test_memory_unreadable (void **state)
{
  struct memfix *f = *state;
  assert_int_equal (mkdir (f->path, 0700), 0);
  mem_open (f, 1000);
  assert_false (memory_recall (&f->m, "falco|x", "web", NULL, 1000, week));
  assert_int_equal (memory_remember (&f->m, "falco|x", "web", NULL, 1000, &f->err), 0);
  memory_close (&f->m);
  cleanup_free char *aside = xasprintf ("%s.bad", f->path);
  struct stat st;
  assert_int_equal (stat (aside, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (rmdir (aside), 0);
}

static void
test_memory (void **state)
{
  struct memfix *f = *state;
  struct memory *m = &f->m;
  mem_open (f, 1000);
  assert_false (memory_recall (m, "falco|Shell in container", "web", NULL, 1000, week));
  assert_int_equal (memory_remember (m, "falco|Shell in container", "web", "front", 1000, &f->err), 0);
  assert_true (memory_recall (m, "falco|Shell in container", "web", NULL, 2000, week));
  /* A group member remembers what happened to a neighbour. */
  assert_true (memory_recall (m, "falco|Shell in container", "api", "front", 2000, week));
  assert_false (memory_recall (m, "falco|Shell in container", "api", "back", 2000, week));
  assert_false (memory_recall (m, "falco|other", "web", NULL, 2000, week));
  /* Past the window it is forgotten. */
  assert_false (memory_recall (m, "falco|Shell in container", "web", NULL, 1001 + week, week));
  memory_close (m);
  /* It survives a restart, and a reopen past the window drops it from disk. */
  mem_open (f, 5000);
  assert_int_equal (m->n, 1);
  assert_true (memory_recall (m, "falco|Shell in container", "web", NULL, 5000, week));
  memory_close (m);
  mem_open (f, 2 * week);
  assert_int_equal (m->n, 0);
  memory_close (m);
  char *text = NULL;
  size_t len = 99;
  assert_int_equal (read_file (f->path, 1 << 20, &text, &len, &f->err), 0);
  assert_int_equal (len, 0);
  free (text);
}

/* Incidents cannot fill the host: at most MEMORY_MAX_CELLS cells, the
 * oldest forgotten first; a file past MEMORY_FILE_MAX is read from its end
 * and compacted instead of keeping lymphd from starting. */
static void
test_memory_caps (void **state)
{
  struct memfix *f = *state;
  struct memory *m = &f->m;
  mem_open (f, 1000);
  for (int i = 0; i < MEMORY_MAX_CELLS + 10; i++)
    {
      char sig[32];
      snprintf (sig, sizeof sig, "generic|%d", i);
      assert_int_equal (memory_remember (m, sig, "web", NULL, 1000 + (uint64_t) i, &f->err), 0);
      assert_true (m->n <= MEMORY_MAX_CELLS);
    }
  char last[32];
  snprintf (last, sizeof last, "generic|%d", MEMORY_MAX_CELLS + 9);
  assert_true (memory_recall (m, last, "web", NULL, 20000, week));
  assert_false (memory_recall (m, "generic|0", "web", NULL, 20000, week));
  memory_close (m);
  mem_open (f, 20000);
  assert_true (m->n <= MEMORY_MAX_CELLS);
  assert_true (memory_recall (m, last, "web", NULL, 20000, week));
  memory_close (m);

  /* 17 MiB: lines of garbage, then two real cells at its end. */
  FILE *fp = fopen (f->path, "w");
  assert_non_null (fp);
  char junk[1024];
  memset (junk, 'x', sizeof junk - 1);
  junk[sizeof junk - 1] = '\0';
  for (int i = 0; i < 17 * 1024; i++)
    fprintf (fp, "%s\n", junk);
  fprintf (fp, "{\"signature\":\"falco|a\",\"name\":\"web\",\"time\":5000}\n");
  fprintf (fp, "{\"signature\":\"falco|b\",\"name\":\"api\",\"time\":5001}\n");
  fclose (fp);
  mem_open (f, 6000);
  assert_int_equal (m->n, 2);
  assert_true (memory_recall (m, "falco|b", "api", NULL, 6000, week));
  memory_close (m);
  struct stat st;
  assert_int_equal (stat (f->path, &st), 0);
  assert_true (st.st_size < 4096); /* compacted */
}

/* read_tail, which reads an oversized memory file: the last `cap` bytes, or
 * all of a smaller file, NUL-terminated; a missing file is an error. */
static void
test_read_tail (void **state)
{
  struct memfix *f = *state;
  char *text = NULL;
  size_t len = 0;
  assert_int_equal (write_file_atomic (f->path, "0123456789", 10, 0600, &f->err), 0);
  assert_int_equal (read_tail (f->path, 4, &text, &len, &f->err), 0);
  assert_int_equal (len, 4);
  assert_string_equal (text, "6789");
  free (text);
  assert_int_equal (read_tail (f->path, 100, &text, &len, &f->err), 0);
  assert_int_equal (len, 10);
  assert_string_equal (text, "0123456789");
  free (text);
  unlink (f->path);
  lympho_error_t err = { 0 };
  assert_true (read_tail (f->path, 4, &text, &len, &err) < 0);
  assert_int_equal (err.status, ENOENT);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_decay_half_life),
    cmocka_unit_test (test_threshold),
    cmocka_unit_test (test_effective_ttl),
    cmocka_unit_test_setup_teardown (test_memory, mem_setup, mem_teardown),
    cmocka_unit_test_setup_teardown (test_memory_unreadable, mem_setup, mem_teardown),
    cmocka_unit_test_setup_teardown (test_memory_caps, mem_setup, mem_teardown),
    cmocka_unit_test_setup_teardown (test_read_tail, mem_setup, mem_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
