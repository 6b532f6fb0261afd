/* The fake engine (fake-runtime.c) on the real loop: it keeps the rules a
 * real engine keeps, answers only from the loop, and runs its scripts. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fake-runtime.h"
#include "lympho/labels.h"
#include "lympho/loop.h"
#include "lympho/util.h"

#define IMG "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DB_IMG "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define INJECTED "injected by the test"

struct world
{
  struct loop *loop;
  struct runtime *rt;
  struct runtime_ops ops;
};

static const char *const golden_nets[] = { "front", "back", NULL };

/* "web" and "db" run; an image and the networks exist. */
static int
setup (void **state)
{
  struct world *w = xmalloc0 (sizeof *w);
  lympho_error_t err = { 0 };
  assert_int_equal (loop_new (&w->loop, &err), 0);
  assert_int_equal (fake_runtime_ops.open (w->loop, "fake", &w->rt, &err), 0);
  w->ops = fake_runtime_ops;
  fake_add_image (w->rt, IMG, "lympho-pin/web:111111111111");
  fake_add_image (w->rt, DB_IMG, "postgres:16");
  fake_add_network (w->rt, "front");
  fake_add_network (w->rt, "back");
  const char *const db_nets[] = { "back", NULL };
  cleanup_free char *db_spec = fake_spec (DB_IMG, db_nets, false, NULL);
  fake_add_container (w->rt, "db", db_spec, NULL, true);
  struct rt_labels l = { 0 };
  rt_labels_set (&l, LABEL_NAME, "web");
  cleanup_free char *spec = fake_spec (IMG, golden_nets, false, NULL);
  fake_add_container (w->rt, "web", spec, &l, true);
  rt_labels_free (&l);
  *state = w;
  return 0;
}

static int
teardown (void **state)
{
  struct world *w = *state;
  fake_runtime_ops.close (w->rt);
  loop_free (w->loop);
  free (w);
  return 0;
}

/* ---- the fake engine keeps a real engine's rules ---- */

struct answer
{
  bool done;
  int ret;
  lympho_error_t err;
  char *id;
  enum rt_state state;
  enum rt_health health;
  size_t n;
};

static void
answer_done (void *ud, int ret, const lympho_error_t *err)
{
  struct answer *a = ud;
  assert_false (a->done);
  a->done = true;
  a->ret = ret;
  if (err)
    a->err = *err;
}

static void
answer_id (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  struct answer *a = ud;
  answer_done (ud, ret, err);
  a->id = xstrdup (id);
}

static void
answer_container (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  struct answer *a = ud;
  answer_done (ud, ret, err);
  if (c)
    {
      a->state = c->state;
      a->health = c->health;
      a->id = xstrdup (c->id);
    }
}

static void
answer_list (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct answer *a = ud;
  answer_done (ud, ret, err);
  a->n = n;
  (void) v;
}

/* Wait for one answer; it never comes before the call returned. */
static int
wait_answer (struct world *w, struct answer *a)
{
  assert_false (a->done);
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + 2000;
  while (!a->done)
    {
      assert_true (now_mono_ms () < deadline);
      assert_int_equal (loop_run_once (w->loop, 50, &err), 0);
    }
  return a->ret;
}

static int
do_create (struct world *w, const char *name, const char *spec, char **id)
{
  struct answer a = { 0 };
  w->ops.create (w->rt, spec, name, NULL, answer_id, &a);
  int ret = wait_answer (w, &a);
  if (id)
    *id = a.id;
  else
    free (a.id);
  return ret;
}

#define DO_DONE(w, call)                                                                                            \
  ({                                                                                                                \
    struct answer _a = { 0 };                                                                                       \
    call;                                                                                                           \
    wait_answer ((w), &_a);                                                                                         \
  })

static void
test_fake_engine_rules (void **state)
{
  struct world *w = *state;
  cleanup_free char *spec = fake_spec (IMG, golden_nets, false, NULL);
  size_t n0 = fake_count (w->rt);

  /* A name in use: EEXIST, nothing made. */
  assert_int_equal (do_create (w, "web", spec, NULL), -EEXIST);
  assert_int_equal (fake_count (w->rt), n0);
  /* A missing image or network: ENOENT, nothing left behind. */
  cleanup_free char *no_image = fake_spec ("sha256:0000", NULL, false, NULL);
  assert_int_equal (do_create (w, "other", no_image, NULL), -ENOENT);
  const char *const bad_nets[] = { "front", "nowhere", NULL };
  cleanup_free char *no_net = fake_spec (IMG, bad_nets, false, NULL);
  assert_int_equal (do_create (w, "other", no_net, NULL), -ENOENT);
  assert_int_equal (do_create (w, "bad/name", spec, NULL), -EINVAL);
  assert_int_equal (fake_count (w->rt), n0);

  cleanup_free char *id = NULL;
  assert_int_equal (do_create (w, "other", spec, &id), 0);
  assert_int_equal (strlen (id), 64);
  assert_int_equal (fake_find (w->rt, id)->state, RT_STATE_CREATED);
  /* Unknown ids. */
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, "f00dfeed", answer_done, &_a)), -ENOENT);
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, "f00dfeed", 1, answer_done, &_a)), -ENOENT);
  assert_int_equal (DO_DONE (w, w->ops.remove (w->rt, "f00dfeed", true, false, answer_done, &_a)), -ENOENT);
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, "f00dfeed", "x1", answer_done, &_a)), -ENOENT);
  assert_int_equal (DO_DONE (w, w->ops.inspect (w->rt, "f00dfeed", answer_container, &_a)), -ENOENT);
  /* A rename to a taken name, or to its own. */
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, id, "db", answer_done, &_a)), -EEXIST);
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, id, "other", answer_done, &_a)), -EINVAL);
  assert_string_equal (fake_find (w->rt, id)->name, "other");
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, id, "other2", answer_done, &_a)), 0);
  assert_string_equal (fake_find (w->rt, id)->name, "other2");
  /* Stopping a stopped container succeeds; starting twice too. */
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, id, 1, answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, id, answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, id, answer_done, &_a)), 0);
  assert_int_equal (fake_find (w->rt, id)->state, RT_STATE_RUNNING);
  /* A running container is removed only by force. */
  assert_int_equal (DO_DONE (w, w->ops.remove (w->rt, id, false, false, answer_done, &_a)), -EBUSY);
  assert_non_null (fake_find (w->rt, id));
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, id, 1, answer_done, &_a)), 0);
  assert_int_equal (fake_find (w->rt, id)->state, RT_STATE_EXITED);
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, id, 1, answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.remove (w->rt, id, false, false, answer_done, &_a)), 0);
  assert_null (fake_find (w->rt, id));
  /* A missing container does not start; removing it again is ENOENT. */
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, id, answer_done, &_a)), -ENOENT);
  assert_int_equal (DO_DONE (w, w->ops.remove (w->rt, id, true, false, answer_done, &_a)), -ENOENT);
  /* Pause rules, and a running container's forced removal. */
  assert_int_equal (DO_DONE (w, w->ops.pause (w->rt, "db", answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.pause (w->rt, "db", answer_done, &_a)), -EBUSY);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, "db", answer_done, &_a)), -EBUSY);
  assert_int_equal (DO_DONE (w, w->ops.unpause (w->rt, "db", answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.unpause (w->rt, "db", answer_done, &_a)), -EBUSY);
  /* Networks leave one by one; leaving twice is refused. */
  assert_int_equal (DO_DONE (w, w->ops.network_disconnect (w->rt, "web", "front", answer_done, &_a)), 0);
  assert_int_equal (fake_find (w->rt, "web")->n_networks, 1);
  assert_int_equal (DO_DONE (w, w->ops.network_disconnect (w->rt, "web", "front", answer_done, &_a)), -EPERM);
  /* Images by id or reference; an image in use is not removed. */
  struct answer a = { 0 };
  w->ops.image_inspect (w->rt, "lympho-pin/web:111111111111", answer_id, &a);
  assert_int_equal (wait_answer (w, &a), 0);
  assert_string_equal (a.id, IMG);
  free (a.id);
  assert_int_equal (DO_DONE (w, w->ops.image_remove (w->rt, IMG, answer_done, &_a)), -EBUSY);
  assert_int_equal (DO_DONE (w, w->ops.image_remove (w->rt, "postgres:16", answer_done, &_a)), 0);
  assert_true (fake_has_image (w->rt, DB_IMG)); /* db still uses it */
  assert_false (fake_has_image (w->rt, "postgres:16"));
  /* Every call was recorded, by name, in order. */
  assert_string_equal (fake_call_line (w->rt, 0), "create web");
  assert_string_equal (fake_call_line (w->rt, 5), "start f00dfeed");
  assert_string_equal (fake_call_line (w->rt, 7), "remove f00dfeed");
  assert_int_equal (fake_calls_of (w->rt, FAKE_CREATE), 5);
}

static void
test_fake_scripts (void **state)
{
  struct world *w = *state;
  /* The 2nd start fails, with the message given and no effect. */
  fake_fail (w->rt, FAKE_START, 2, 1, EIO, INJECTED);
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, "db", 1, answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, "db", answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, "db", 1, answer_done, &_a)), 0);
  struct answer a = { 0 };
  w->ops.start (w->rt, "db", answer_done, &a);
  assert_int_equal (wait_answer (w, &a), -EIO);
  assert_string_equal (a.err.msg, INJECTED);
  assert_int_equal (fake_find (w->rt, "db")->state, RT_STATE_EXITED);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, "db", answer_done, &_a)), 0);

  /* A lie: success, and nothing done. */
  fake_lie (w->rt, FAKE_RENAME, 1);
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, "db", "db2", answer_done, &_a)), 0);
  assert_non_null (fake_find (w->rt, "db"));
  assert_null (fake_find (w->rt, "db2"));

  /* A delayed op answers after the quick one called after it. */
  fake_delay (w->rt, FAKE_INSPECT, 20);
  struct answer slow = { 0 }, quick = { 0 };
  uint64_t t0 = now_mono_ms ();
  w->ops.inspect (w->rt, "db", answer_container, &slow);
  w->ops.list (w->rt, NULL, answer_list, &quick);
  assert_int_equal (fake_pending (w->rt), 2);
  assert_int_equal (wait_answer (w, &quick), 0);
  assert_false (slow.done);
  assert_int_equal (wait_answer (w, &slow), 0);
  assert_true (now_mono_ms () - t0 >= 20);
  free (slow.id);
  fake_delay (w->rt, FAKE_INSPECT, 0);

  /* Health: starting for the scripted number of inspects, then healthy. */
  fake_set_health_delay (w->rt, 2);
  cleanup_free char *spec = fake_spec (IMG, NULL, true, NULL);
  cleanup_free char *id = NULL;
  assert_int_equal (do_create (w, "hc", spec, &id), 0);
  assert_int_equal (DO_DONE (w, w->ops.start (w->rt, id, answer_done, &_a)), 0);
  enum rt_health seen[3];
  for (int i = 0; i < 3; i++)
    {
      struct answer h = { 0 };
      w->ops.inspect (w->rt, id, answer_container, &h);
      assert_int_equal (wait_answer (w, &h), 0);
      seen[i] = h.health;
      free (h.id);
    }
  assert_int_equal (seen[0], RT_HEALTH_STARTING);
  assert_int_equal (seen[1], RT_HEALTH_STARTING);
  assert_int_equal (seen[2], RT_HEALTH_HEALTHY);

  /* A list by label. */
  struct answer l = { 0 };
  w->ops.list (w->rt, LABEL_NAME "=web", answer_list, &l);
  assert_int_equal (wait_answer (w, &l), 0);
  assert_int_equal (l.n, 1);
}

struct events
{
  bool connected;
  char seen[256];
};

static void
on_event (void *ud, const struct rt_event *ev)
{
  struct events *e = ud;
  size_t len = strlen (e->seen);
  snprintf (e->seen + len, sizeof e->seen - len, "%s%s %s", len ? ", " : "", ev->action, ev->name);
}

static void
on_conn (void *ud, bool connected)
{
  struct events *e = ud;
  e->connected = connected;
}

static void
test_fake_events_and_close (void **state)
{
  struct world *w = *state;
  struct events ev = { 0 };
  lympho_error_t err = { 0 };
  assert_int_equal (w->ops.subscribe (w->rt, on_event, on_conn, &ev, &err), 0);
  assert_false (ev.connected); /* from the loop, not before the call returned */
  assert_int_equal (DO_DONE (w, w->ops.stop (w->rt, "db", 1, answer_done, &_a)), 0);
  assert_int_equal (DO_DONE (w, w->ops.rename (w->rt, "db", "db2", answer_done, &_a)), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal (loop_run_once (w->loop, 1, &err), 0);
  assert_true (ev.connected);
  assert_string_equal (ev.seen, "die db, stop db, rename db2");

  /* close() cancels what is in flight without calling back. */
  struct answer a = { 0 };
  w->ops.start (w->rt, "db2", answer_done, &a);
  w->ops.close (w->rt);
  assert_int_equal (fake_runtime_ops.open (w->loop, "fake", &w->rt, &err), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal (loop_run_once (w->loop, 1, &err), 0);
  assert_false (a.done);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_fake_engine_rules, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_scripts, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_events_and_close, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
