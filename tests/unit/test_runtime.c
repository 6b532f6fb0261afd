/* The plain data both backends share (runtime.h): the one parser of engine
 * states, health and labels. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "runtime/event-stream.h"

static void
test_states (void **state)
{
  (void) state;
  for (int i = RT_STATE_CREATED; i <= RT_STATE_DEAD; i++)
    assert_int_equal (rt_state_parse (rt_state_name ((enum rt_state) i)), i);
  assert_int_equal (rt_state_parse ("running"), RT_STATE_RUNNING);
  assert_int_equal (rt_state_parse ("Running"), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse ("unknown"), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse (""), RT_STATE_UNKNOWN);
  assert_int_equal (rt_state_parse (NULL), RT_STATE_UNKNOWN);
}

static void
test_health (void **state)
{
  (void) state;
  for (int i = RT_HEALTH_STARTING; i <= RT_HEALTH_UNHEALTHY; i++)
    assert_int_equal (rt_health_parse (rt_health_name ((enum rt_health) i)), i);
  assert_int_equal (rt_health_parse ("healthy"), RT_HEALTH_HEALTHY);
  assert_int_equal (rt_health_parse ("none"), RT_HEALTH_NONE);
  assert_int_equal (rt_health_parse ("sick"), RT_HEALTH_NONE);
  assert_int_equal (rt_health_parse (NULL), RT_HEALTH_NONE);
}

static json_val
parse (const char *text)
{
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  return v;
}

static void
test_labels (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  struct rt_labels l = { 0 };

  /* Strings are taken by both; a later key replaces an earlier value. */
  cleanup_json json_val good = parse ("{\"a\":\"1\",\"lympho.ttl\":\"10m\",\"a\":\"2\"}");
  assert_int_equal (rt_labels_from_json (good, true, "labels", &l, &err), 0);
  assert_int_equal (l.n, 2);
  assert_string_equal (rt_labels_get (&l, "a"), "2");
  assert_string_equal (rt_labels_get (&l, "lympho.ttl"), "10m");
  rt_labels_free (&l);

  /* Absent and null are none, in both modes. */
  assert_int_equal (rt_labels_from_json (NULL, true, "labels", &l, &err), 0);
  cleanup_json json_val null = parse ("null");
  assert_int_equal (rt_labels_from_json (null, true, "labels", &l, &err), 0);
  assert_int_equal (l.n, 0);

  /* A value that is not a string: strict refuses the whole object, naming
   * the key; lenient skips that one value. */
  cleanup_json json_val mixed = parse ("{\"a\":\"1\",\"n\":3,\"b\":\"2\"}");
  assert_int_equal (rt_labels_from_json (mixed, true, "attributes", &l, &err), -EINVAL);
  assert_string_equal (err.msg, "attributes \"n\" is not a string");
  assert_int_equal (l.n, 0);
  assert_int_equal (rt_labels_from_json (mixed, false, NULL, &l, NULL), 0);
  assert_int_equal (l.n, 2);
  assert_null (rt_labels_get (&l, "n"));
  rt_labels_free (&l);

  /* Not an object at all. */
  cleanup_json json_val arr = parse ("[\"a\"]");
  assert_int_equal (rt_labels_from_json (arr, true, "labels", &l, &err), -EINVAL);
  assert_string_equal (err.msg, "\"labels\" is not an object");
  assert_int_equal (rt_labels_from_json (arr, false, NULL, &l, NULL), 0);
  assert_int_equal (l.n, 0);
}

/* The quadratic filter it replaced, as the reference. */
static size_t
lone_reference (struct rt_change *cs, size_t n, char *const *mounts, size_t n_mounts)
{
  size_t kept = 0;
  struct rt_change *in = xmalloc0 ((n ? n : 1) * sizeof *in);
  memcpy (in, cs, n * sizeof *in);
  for (size_t i = 0; i < n; i++)
    {
      bool mount = false;
      for (size_t m = 0; m < n_mounts && !mount; m++)
        mount = in[i].kind != 'D' && strcmp (in[i].path, mounts[m]) == 0;
      if (mount)
        continue;
      bool lone = in[i].kind == 'C';
      size_t plen = strlen (in[i].path);
      for (size_t j = 0; lone && j < n; j++)
        lone = !(strncmp (in[j].path, in[i].path, plen) == 0
                 && (in[j].path[plen] == '/' || (plen == 1 && in[j].path[1] != '\0')));
      if (!lone)
        cs[kept++] = in[i];
    }
  free (in);
  return kept;
}

static void
test_lone_dirs (void **state)
{
  (void) state;
  char *mounts[] = { "/data", "/etc/hosts" };
  struct rt_change v[] = {
    { 'C', "/etc" },  { 'C', "/etc/hosts" }, { 'C', "/run" }, { 'C', "/a" },       { 'A', "/a-b" },
    { 'C', "/tmp" },  { 'A', "/tmp/x" },     { 'C', "/data" }, { 'D', "/data" },   { 'C', "/" },
    { 'C', "/var" },  { 'C', "/var/log" },   { 'A', "/var/log/x" },
  };
  size_t n = rt_changes_drop_lone_dirs (v, sizeof v / sizeof v[0], mounts, 2);
  /* /run and /a hold nothing listed ("/a-b" is beside /a, not under it),
   * the mount points /etc/hosts and /data (changed) are dropped; /etc
   * holds a listed path, kept as the engine said it. */
  const char *want[] = { "/etc", "/a-b", "/tmp", "/tmp/x", "/data", "/", "/var", "/var/log", "/var/log/x" };
  assert_int_equal (n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < n; i++)
    assert_string_equal (v[i].path, want[i]);
  assert_int_equal (v[4].kind, 'D');
  struct rt_change root[] = { { 'C', "/" } };
  assert_int_equal (rt_changes_drop_lone_dirs (root, 1, NULL, 0), 0);
  assert_int_equal (rt_changes_drop_lone_dirs (NULL, 0, NULL, 0), 0);

  /* Random trees against the reference. */
  srand (7);
  static const char *const parts[] = { "a", "b", "a-b", "a.b", "c" };
  for (int round = 0; round < 200; round++)
    {
      size_t k = (size_t) (rand () % 12);
      struct rt_change a[12], b[12];
      char *paths[12];
      for (size_t i = 0; i < k; i++)
        {
          int depth = 1 + rand () % 3;
          char buf[64] = "";
          for (int dpt = 0; dpt < depth; dpt++)
            {
              strcat (buf, "/");
              strcat (buf, parts[rand () % 5]);
            }
          paths[i] = xstrdup (rand () % 10 == 0 ? "/" : buf);
          a[i].kind = "CAD"[rand () % 3];
          a[i].path = paths[i];
        }
      memcpy (b, a, sizeof a);
      char *m[] = { "/a/b" };
      size_t na = rt_changes_drop_lone_dirs (a, k, m, 1);
      size_t nb = lone_reference (b, k, m, 1);
      assert_int_equal (na, nb);
      for (size_t i = 0; i < na; i++)
        {
          assert_int_equal (a[i].kind, b[i].kind);
          assert_string_equal (a[i].path, b[i].path);
        }
      for (size_t i = 0; i < k; i++)
        free (paths[i]);
    }

  /* 50,000 changed directories, each alone: done once each, not 2.5e9 comparisons. */
  size_t big = 50000;
  struct rt_change *w = xmalloc0 (big * sizeof *w);
  char **bp = xmalloc0 (big * sizeof *bp);
  for (size_t i = 0; i < big; i++)
    {
      bp[i] = xasprintf ("/d%zu", i);
      w[i].kind = 'C';
      w[i].path = bp[i];
    }
  assert_int_equal (rt_changes_drop_lone_dirs (w, big, NULL, 0), 0);
  for (size_t i = 0; i < big; i++)
    free (bp[i]);
  free (bp);
  free (w);
}

/* A stream resumed before its newest event, or sent again by the engine:
 * what was delivered is known again, what was recorded late with an
 * earlier time is not; what is older than the margin, or older than
 * everything kept once some were forgotten, counts as delivered. */
static void
test_recent_events (void **state)
{
  (void) state;
  static struct rt_recent r;
  memset (&r, 0, sizeof r);
  uint64_t t0 = 1700000000ULL * 1000000000ULL, ms = 1000000ULL;
  uint64_t a = rt_event_key (t0, "c1", "start");
  assert_int_not_equal (a, rt_event_key (t0, "c1", "die"));
  assert_int_not_equal (a, rt_event_key (t0, "c2", "start"));
  assert_int_not_equal (a, rt_event_key (t0 + 1, "c1", "start"));
  /* The id and the action are not run together. */
  assert_int_not_equal (rt_event_key (t0, "ab", "c"), rt_event_key (t0, "a", "bc"));
  /* Nothing delivered yet: nothing is a replay. */
  assert_false (rt_recent_has (&r, 0, t0, a));
  rt_recent_add (&r, t0, a);
  assert_true (rt_recent_has (&r, t0, t0, a));
  /* Newer than the newest: new. */
  assert_false (rt_recent_has (&r, t0, t0 + 1, rt_event_key (t0 + 1, "c1", "die")));
  /* Recorded after it with a time 200 ms before it: not delivered yet. */
  uint64_t late = t0 - 200 * ms;
  assert_false (rt_recent_has (&r, t0, late, rt_event_key (late, "c2", "die")));
  /* More than the margin before the newest: from before, delivered. */
  uint64_t old = t0 - RT_RESUME_MARGIN_NS - 1;
  assert_true (rt_recent_has (&r, t0, old, rt_event_key (old, "c2", "die")));
  /* The set full: the oldest forgotten, anything older counts as seen. */
  for (uint64_t i = 1; i <= RT_RECENT_MAX; i++)
    rt_recent_add (&r, t0 + i, rt_event_key (t0 + i, "c3", "exec"));
  uint64_t newest = t0 + RT_RECENT_MAX;
  assert_true (rt_recent_has (&r, newest, t0, a));
  assert_true (rt_recent_has (&r, newest, newest, rt_event_key (newest, "c3", "exec")));
  assert_false (rt_recent_has (&r, newest, t0 + 2, rt_event_key (t0 + 2, "c4", "exec")));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_states),
    cmocka_unit_test (test_lone_dirs),
    cmocka_unit_test (test_health),
    cmocka_unit_test (test_labels),
    cmocka_unit_test (test_recent_events),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
