/* The event loop: timers in deadline order, cancellation (also from inside
 * a callback), 0 ms timers added by a timer callback waiting for the next
 * turn, fd watches on a pipe (add, mod, del, EEXIST, ENOENT, a watch removed
 * by an earlier callback of the same turn), loop_run_once's timeout and
 * loop_stop. Waits are bounded by the loop's own timers, a few ms each. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/loop.h"
#include "lympho/util.h"

struct fixture
{
  struct loop *loop;
  int p[2];       /* a pipe: p[0] read end, p[1] write end */
  int q[2];       /* a second one */
  /* what the callbacks saw */
  int order[16];
  size_t n_order;
  unsigned reads, writes, other_reads;
  uint32_t last_events;
  int last_fd;
  void *last_ud;
};

static int
setup (void **state)
{
  struct fixture *f = xmalloc0 (sizeof *f);
  lympho_error_t err = { 0 };
  if (loop_new (&f->loop, &err) < 0)
    {
      fprintf (stderr, "loop_new: %s\n", err.msg);
      return -1;
    }
  if (pipe2 (f->p, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2 (f->q, O_CLOEXEC | O_NONBLOCK) < 0)
    return -1;
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  loop_free (f->loop);
  close (f->p[0]);
  close (f->p[1]);
  close (f->q[0]);
  close (f->q[1]);
  free (f);
  return 0;
}

/* One loop turn; the loop's own failure fails the test. */
static void
turn (struct fixture *f, int max_wait_ms)
{
  lympho_error_t err = { 0 };
  if (loop_run_once (f->loop, max_wait_ms, &err) < 0)
    fail_msg ("loop_run_once: %s", err.msg);
}

static void
put_byte (int fd)
{
  assert_int_equal (write (fd, "x", 1), 1);
}

/* --- timers ------------------------------------------------------------ */

struct tag
{
  struct fixture *f;
  int n;
};

static void
record_cb (struct loop *l, void *ud)
{
  (void) l;
  struct tag *t = ud;
  assert_true (t->f->n_order < sizeof t->f->order / sizeof t->f->order[0]);
  t->f->order[t->f->n_order++] = t->n;
}

/* Turns until `want` callbacks were recorded, at most 2 s of the loop's time. */
static void
run_until_recorded (struct fixture *f, size_t want)
{
  uint64_t until = now_mono_ms () + 2000;
  while (f->n_order < want && now_mono_ms () < until)
    turn (f, 100);
  assert_int_equal (f->n_order, want);
}

static void
test_timers_in_deadline_order (void **state)
{
  struct fixture *f = *state;
  /* Added out of order; two with the same delay keep the order they were
   * added in (equal deadlines fall back to the id). */
  struct tag t30 = { f, 30 }, t10 = { f, 10 }, t20a = { f, 20 }, t0 = { f, 0 }, t20b = { f, 21 };
  uint64_t ids[5];
  ids[0] = loop_add_timer (f->loop, 30, record_cb, &t30);
  ids[1] = loop_add_timer (f->loop, 10, record_cb, &t10);
  ids[2] = loop_add_timer (f->loop, 20, record_cb, &t20a);
  ids[3] = loop_add_timer (f->loop, 0, record_cb, &t0);
  ids[4] = loop_add_timer (f->loop, 20, record_cb, &t20b);
  for (size_t i = 0; i < 5; i++)
    {
      assert_true (ids[i] > 0);
      for (size_t j = 0; j < i; j++)
        assert_true (ids[i] != ids[j]);
    }
  uint64_t t_start = now_mono_ms ();
  run_until_recorded (f, 5);
  const int want[] = { 0, 10, 20, 21, 30 };
  assert_memory_equal (f->order, want, sizeof want);
  /* Nothing fired early: the last one waited its 30 ms. */
  assert_true (now_mono_ms () - t_start >= 30);
  /* And nothing is left to fire. */
  turn (f, 0);
  assert_int_equal (f->n_order, 5);
}

/* Many timers through the heap: fired sorted by deadline whatever the order
 * of insertion. */
static void
test_timers_heap_order (void **state)
{
  struct fixture *f = *state;
  static const int delays[] = { 7, 3, 12, 1, 9, 5, 11, 2, 8, 4, 10, 6 };
  struct tag tags[12];
  for (size_t i = 0; i < 12; i++)
    {
      tags[i] = (struct tag) { f, delays[i] };
      (void) loop_add_timer (f->loop, (uint64_t) delays[i] * 2, record_cb, &tags[i]);
    }
  run_until_recorded (f, 12);
  for (size_t i = 0; i < 12; i++)
    assert_int_equal (f->order[i], (int) i + 1);
}

struct canceller
{
  struct fixture *f;
  uint64_t victim;
};

static void
cancel_other_cb (struct loop *l, void *ud)
{
  struct canceller *c = ud;
  c->f->order[c->f->n_order++] = 100;
  loop_cancel_timer (l, c->victim);
}

static void
test_cancelled_timer_never_fires (void **state)
{
  struct fixture *f = *state;
  struct tag a = { f, 1 }, b = { f, 2 }, c = { f, 3 }, d = { f, 4 };
  uint64_t ida = loop_add_timer (f->loop, 5, record_cb, &a);
  uint64_t idb = loop_add_timer (f->loop, 10, record_cb, &b);
  (void) loop_add_timer (f->loop, 20, record_cb, &c);
  loop_cancel_timer (f->loop, idb);
  /* A callback cancels a timer that is due in the same turn. */
  struct canceller k = { f, 0 };
  (void) loop_add_timer (f->loop, 15, cancel_other_cb, &k);
  k.victim = loop_add_timer (f->loop, 15, record_cb, &d);
  run_until_recorded (f, 3);
  const int want[] = { 1, 100, 3 };
  assert_memory_equal (f->order, want, sizeof want);
  /* Cancelling what fired, what was cancelled, 0 and an unknown id is harmless. */
  loop_cancel_timer (f->loop, ida);
  loop_cancel_timer (f->loop, idb);
  loop_cancel_timer (f->loop, 0);
  loop_cancel_timer (f->loop, 999999);
  turn (f, 30);
  assert_int_equal (f->n_order, 3);
}

struct rearm
{
  struct fixture *f;
  unsigned fired;
  unsigned max;
};

static void
rearm_cb (struct loop *l, void *ud)
{
  struct rearm *r = ud;
  r->fired++;
  if (r->fired < r->max)
    (void) loop_add_timer (l, 0, rearm_cb, r);
}

/* A 0 ms timer added by a timer callback waits for the next turn (loop.c's
 * run_due_timers), so a timer that re-arms itself cannot starve the fds. */
static void
test_zero_timer_from_callback_waits (void **state)
{
  struct fixture *f = *state;
  struct rearm r = { f, 0, 4 };
  (void) loop_add_timer (f->loop, 0, rearm_cb, &r);
  turn (f, 0);
  assert_int_equal (r.fired, 1);
  /* Each turn fires it once; the turn does not wait for it (deadline 0). */
  uint64_t t0 = now_mono_ms ();
  turn (f, 1000);
  assert_int_equal (r.fired, 2);
  turn (f, 1000);
  assert_int_equal (r.fired, 3);
  turn (f, 1000);
  assert_int_equal (r.fired, 4);
  assert_true (now_mono_ms () - t0 < 500);
  /* It stopped re-arming: a turn now waits its full time and fires nothing. */
  turn (f, 20);
  assert_int_equal (r.fired, 4);
}

/* --- fd watches --------------------------------------------------------- */

static void
read_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) l;
  struct fixture *f = ud;
  f->reads++;
  f->last_fd = fd;
  f->last_events = events;
  f->last_ud = ud;
}

static void
drain_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  char b[64];
  read_cb (l, fd, events, ud);
  while (read (fd, b, sizeof b) > 0)
    ;
}

static void
write_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) l;
  struct fixture *f = ud;
  f->writes++;
  f->last_fd = fd;
  f->last_events = events;
}

static void
other_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) l;
  (void) fd;
  (void) events;
  struct fixture *f = ud;
  f->other_reads++;
}

static void
test_fd_readable (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, drain_cb, f, &err), 0);
  /* Nothing written: no callback. */
  turn (f, 0);
  assert_int_equal (f->reads, 0);
  put_byte (f->p[1]);
  turn (f, 1000);
  assert_int_equal (f->reads, 1);
  assert_int_equal (f->last_fd, f->p[0]);
  assert_true (f->last_events & EPOLLIN);
  assert_ptr_equal (f->last_ud, f);
  /* Drained: quiet again. */
  turn (f, 0);
  assert_int_equal (f->reads, 1);
  /* The write end of an empty pipe is writable at once. */
  assert_int_equal (loop_add_fd (f->loop, f->p[1], EPOLLOUT, write_cb, f, &err), 0);
  turn (f, 1000);
  assert_int_equal (f->writes, 1);
  assert_int_equal (f->last_fd, f->p[1]);
  assert_true (f->last_events & EPOLLOUT);
  assert_int_equal (f->reads, 1);
}

/* Level-triggered: data left unread calls again on every turn. */
static void
test_fd_level_triggered (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, read_cb, f, &err), 0);
  put_byte (f->p[1]);
  turn (f, 1000);
  turn (f, 1000);
  turn (f, 1000);
  assert_int_equal (f->reads, 3);
}

static void
test_fd_mod (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, read_cb, f, &err), 0);
  put_byte (f->p[1]);
  /* Interest in nothing: the pending byte calls no one. */
  assert_int_equal (loop_mod_fd (f->loop, f->p[0], 0, &err), 0);
  turn (f, 20);
  assert_int_equal (f->reads, 0);
  /* Back to EPOLLIN: the same byte is seen. */
  assert_int_equal (loop_mod_fd (f->loop, f->p[0], EPOLLIN, &err), 0);
  turn (f, 1000);
  assert_int_equal (f->reads, 1);
  /* An fd that is not watched cannot be modified. */
  lympho_error_t e2 = { 0 };
  assert_int_equal (loop_mod_fd (f->loop, f->q[0], EPOLLIN, &e2), -ENOENT);
  assert_int_equal (e2.status, ENOENT);
  assert_non_null (strstr (e2.msg, "not watched"));
}

static void
test_fd_twice_is_eexist (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, drain_cb, f, &err), 0);
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, other_cb, f, &err), -EEXIST);
  assert_int_equal (err.status, EEXIST);
  assert_non_null (strstr (err.msg, "already watched"));
  /* The first watch is untouched. */
  put_byte (f->p[1]);
  turn (f, 1000);
  assert_int_equal (f->reads, 1);
  assert_int_equal (f->other_reads, 0);
}

/* An fd epoll refuses (a regular file) is not left half-registered. */
static void
test_fd_refused_by_epoll (void **state)
{
  struct fixture *f = *state;
  char path[] = "/tmp/lympho-test-loop-XXXXXX";
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  unlink (path);
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, fd, EPOLLIN, read_cb, f, &err), -EPERM);
  assert_int_equal (err.status, EPERM);
  lympho_error_t e2 = { 0 };
  assert_int_equal (loop_mod_fd (f->loop, fd, EPOLLIN, &e2), -ENOENT);
  loop_del_fd (f->loop, fd);
  close (fd);
}

static void
test_fd_del (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, read_cb, f, &err), 0);
  put_byte (f->p[1]);
  turn (f, 1000);
  assert_int_equal (f->reads, 1);
  /* The byte is still there, but nobody watches any more. */
  loop_del_fd (f->loop, f->p[0]);
  turn (f, 20);
  assert_int_equal (f->reads, 1);
  /* Deleting again, or an fd never watched, is harmless. */
  loop_del_fd (f->loop, f->p[0]);
  loop_del_fd (f->loop, f->q[0]);
  loop_del_fd (f->loop, 987654);
  /* The fd can be watched again afterwards, with another callback. */
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, other_cb, f, &err), 0);
  turn (f, 1000);
  assert_int_equal (f->other_reads, 1);
  assert_int_equal (f->reads, 1);
}

/* Two fds ready in the same turn; whichever callback runs first removes the
 * other watch, whose event of this turn must then be dropped. */
static void
del_other_cb (struct loop *l, int fd, uint32_t events, void *ud)
{
  (void) events;
  struct fixture *f = ud;
  f->reads++;
  loop_del_fd (l, fd == f->p[0] ? f->q[0] : f->p[0]);
}

static void
test_fd_removed_by_earlier_callback (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, del_other_cb, f, &err), 0);
  assert_int_equal (loop_add_fd (f->loop, f->q[0], EPOLLIN, del_other_cb, f, &err), 0);
  put_byte (f->p[1]);
  put_byte (f->q[1]);
  /* Both readable before the turn: epoll reports both in one wait. */
  turn (f, 1000);
  assert_int_equal (f->reads, 1);
}

/* A self-re-arming 0 ms timer and a readable fd share the turns. */
static void
test_zero_timer_does_not_starve_fds (void **state)
{
  struct fixture *f = *state;
  lympho_error_t err = { 0 };
  struct rearm r = { f, 0, 1000 };
  (void) loop_add_timer (f->loop, 0, rearm_cb, &r);
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, read_cb, f, &err), 0);
  put_byte (f->p[1]);
  for (int i = 0; i < 5; i++)
    turn (f, 1000);
  assert_int_equal (f->reads, 5);
  assert_int_equal (r.fired, 5);
}

/* --- loop_run_once's timeout, loop_run and loop_stop ------------------- */

static void
test_run_once_timeout (void **state)
{
  struct fixture *f = *state;
  /* Nothing to wait for and 0 ms: back at once. */
  uint64_t t0 = now_mono_ms ();
  turn (f, 0);
  assert_true (now_mono_ms () - t0 < 50);
  /* Nothing to wait for: the full max_wait_ms. */
  t0 = now_mono_ms ();
  turn (f, 60);
  uint64_t el = now_mono_ms () - t0;
  assert_true (el >= 60);
  assert_true (el < 1000);
  /* A timer nearer than max_wait_ms shortens the wait and fires. */
  struct tag t = { f, 7 };
  (void) loop_add_timer (f->loop, 30, record_cb, &t);
  t0 = now_mono_ms ();
  turn (f, 5000);
  el = now_mono_ms () - t0;
  assert_int_equal (f->n_order, 1);
  assert_true (el >= 30);
  assert_true (el < 1000);
  /* -1 waits until something: here the timer. */
  (void) loop_add_timer (f->loop, 20, record_cb, &t);
  t0 = now_mono_ms ();
  turn (f, -1);
  assert_int_equal (f->n_order, 2);
  assert_true (now_mono_ms () - t0 < 1000);
  /* A timer further away than max_wait_ms does not fire early. */
  uint64_t id = loop_add_timer (f->loop, 5000, record_cb, &t);
  t0 = now_mono_ms ();
  turn (f, 20);
  el = now_mono_ms () - t0;
  assert_true (el >= 20);
  assert_true (el < 1000);
  assert_int_equal (f->n_order, 2);
  loop_cancel_timer (f->loop, id);
  /* A readable fd ends the wait at once. */
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (f->loop, f->p[0], EPOLLIN, drain_cb, f, &err), 0);
  put_byte (f->p[1]);
  t0 = now_mono_ms ();
  turn (f, 5000);
  assert_int_equal (f->reads, 1);
  assert_true (now_mono_ms () - t0 < 1000);
}

static void
stop_cb (struct loop *l, void *ud)
{
  record_cb (l, ud);
  loop_stop (l);
}

/* loop_run returns once a callback stops the loop; timers due in the same
 * turn after the stop do not run. */
static void
test_stop (void **state)
{
  struct fixture *f = *state;
  struct tag a = { f, 1 }, b = { f, 2 }, c = { f, 3 }, d = { f, 4 };
  /* All three 0 ms timers are due in the first turn, in this order. */
  (void) loop_add_timer (f->loop, 0, record_cb, &a);
  (void) loop_add_timer (f->loop, 0, stop_cb, &b);
  (void) loop_add_timer (f->loop, 0, record_cb, &c);
  (void) loop_add_timer (f->loop, 5, record_cb, &d);
  assert_false (loop_stopped (f->loop));
  lympho_error_t err = { 0 };
  assert_int_equal (loop_run (f->loop, &err), 0);
  assert_true (loop_stopped (f->loop));
  const int want[] = { 1, 2 };
  assert_int_equal (f->n_order, 2);
  assert_memory_equal (f->order, want, sizeof want);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_timers_in_deadline_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_timers_heap_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cancelled_timer_never_fires, setup, teardown),
    cmocka_unit_test_setup_teardown (test_zero_timer_from_callback_waits, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_readable, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_level_triggered, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_mod, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_twice_is_eexist, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_refused_by_epoll, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_del, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fd_removed_by_earlier_callback, setup, teardown),
    cmocka_unit_test_setup_teardown (test_zero_timer_does_not_starve_fds, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_once_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
