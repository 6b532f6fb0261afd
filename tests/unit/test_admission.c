/* The daemon's admission (shim/admission.c): the global cap on
 * regenerations in flight, one per group, the queue, a request joining
 * the regeneration in flight, the retry backoff, the TTL and shutdown.
 *
 * A struct daemon is built by hand as daemon_run would build it, around
 * the fake engine (fake-runtime.c) on the real loop, with a real journal
 * and history in a temporary state dir, a configuration from the
 * defaults with millisecond backoffs, and regen's waits at 0 (d->timing).
 * Each entry is made with entry_new, its golden snapshot pinning an image
 * of its own, and its container exists in the fake engine first. The
 * engine is not subscribed to: the daemon is told it is connected. The
 * control socket is open with the daemon's own handler, so that a `regen`
 * request waits on the regeneration and hears what it joined.
 *
 * The invariants are checked after every loop turn and every engine
 * answer: never more regenerations in flight than the cap, never two of
 * one group, d->in_flight equal to the entries regenerating, a queued
 * entry not regenerating. The engine's call log is checked too: a
 * regeneration runs on the engine from the check of its image to the
 * removal of its old generation, and no more of those overlap than the
 * cap allows. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake-runtime.h"
#include "lympho/config.h"
#include "lympho/control.h"
#include "lympho/history.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/proto.h"
#include "lympho/regen.h"
#include "lympho/util.h"
#include "shim/daemon-int.h"
#include "unit-util.h"

/* Damaged journal records skipped by the last replay. */
static size_t damaged;

#define INJECTED "injected by the test"
#define MAX_ENTRIES 8
#define MAX_STARTS 8
#define BACKOFF_MIN 20
#define BACKOFF_MAX 80
#define MAX_CLIENTS 4

struct client
{
  int fd;
  struct buf in;
};

struct world
{
  char dir[128];
  struct config cfg;
  struct regen_timing timing;
  struct daemon d;
  char *socket_path;
  struct client cl[MAX_CLIENTS];
  struct entry *e[MAX_ENTRIES];
  char *image[MAX_ENTRIES];
  char *first_id[MAX_ENTRIES]; /* the generation each entry started with */
  size_t n;
  unsigned peak;               /* most regenerations in flight at once */
  unsigned checks;
  /* when the engine answered each entry's image checks: a regeneration's
   * first call */
  uint64_t began_mono[MAX_ENTRIES][MAX_STARTS];
  size_t n_began[MAX_ENTRIES];
  /* a case's own look at each engine answer (one hook per call) */
  void (*on_answer) (struct world *w, const struct fake_call *call);
  unsigned ends_seen, ends_armed;
  bool draining;               /* teardown: a failed case's regenerations end unchecked */
};

/* ---- the invariants ---- */

static size_t
index_of (struct world *w, const struct entry *e)
{
  for (size_t i = 0; i < w->n; i++)
    if (w->e[i] == e)
      return i;
  fail_msg ("not an entry of the test");
  return 0;
}

static void
check (struct world *w)
{
  struct daemon *d = &w->d;
  unsigned regenerating = 0;
  ENTRY_FOREACH (e, d)
    {
      if (e->regen == NULL)
        continue;
      regenerating++;
      assert_false (e->queued);
      assert_int_equal (e->state, ES_REGENERATING);
      if (e->policy.group == NULL)
        continue;
      for (struct entry *x = LIST_NEXT (e, link); x; x = LIST_NEXT (x, link))
        if (x->regen && x->policy.group && strcmp (x->policy.group, e->policy.group) == 0)
          fail_msg ("%s and %s of group %s regenerate at once", e->name, x->name, e->policy.group);
    }
  assert_int_equal (regenerating, d->in_flight);
  /* The index holds every entry under its name and id, and nothing else,
   * while ids change with each generation. */
  size_t n = 0, ids = 0;
  ENTRY_FOREACH (e, d)
    {
      n++;
      assert_ptr_equal (entry_find (d, e->name), e);
      if (e->id)
        {
          ids++;
          assert_ptr_equal (entry_by_id (d, e->id), e);
        }
    }
  assert_int_equal (d->entry_names.n, n);
  assert_int_equal (d->entry_ids.n, ids);
  if (d->in_flight > d->cfg->max_concurrent)
    fail_msg ("%u regenerations in flight, the cap is %u", d->in_flight, d->cfg->max_concurrent);
  if (d->in_flight > w->peak)
    w->peak = d->in_flight;
  w->checks++;
}

/* Every engine answer, after its effect, before its callback. */
static void
hook_check (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct world *w = ud;
  (void) rt;
  if (w->draining)
    return;
  if (call->op == FAKE_IMAGE_INSPECT)
    for (size_t i = 0; i < w->n; i++)
      if (strcmp (call->ref, w->image[i]) == 0 && w->n_began[i] < MAX_STARTS)
        w->began_mono[i][w->n_began[i]++] = now_mono_ms ();
  check (w);
  if (w->on_answer)
    w->on_answer (w, call);
}

/* The entry whose container, or temporary generation, a call line names;
 * for an image check, whose pinned image it checks. -1: none. */
static int
line_entry (struct world *w, const char *line)
{
  const char *sp = strchr (line, ' ');
  if (sp == NULL)
    return -1;
  const char *target = sp + 1;
  size_t len = strcspn (target, " ");
  for (size_t i = 0; i < w->n; i++)
    {
      if (str_has_prefix (line, "image_inspect ") && strcmp (target, w->image[i]) == 0)
        return (int) i;
      size_t nl = strlen (w->e[i]->name);
      if (len >= nl && strncmp (target, w->e[i]->name, nl) == 0
          && (len == nl || str_has_prefix (target + nl, "-lympho-")))
        return (int) i;
    }
  return -1;
}

/* From the call log alone: a regeneration of entry i runs on the engine
 * from its image check to the removal of its old generation. Fills each
 * entry's first and last call of that span (-1: none) and returns the most
 * spans open at once. Only for runs where every regeneration succeeds. */
static unsigned
engine_overlap (struct world *w, long first[], long last[])
{
  bool open[MAX_ENTRIES] = { false };
  unsigned now = 0, peak = 0;
  for (size_t i = 0; i < w->n; i++)
    first[i] = last[i] = -1;
  for (size_t k = 0; k < fake_n_calls (w->d.rt); k++)
    {
      const char *line = fake_call_line (w->d.rt, k);
      int i = line_entry (w, line);
      if (i < 0)
        continue;
      if (str_has_prefix (line, "image_inspect "))
        {
          if (open[i])
            fail_msg ("call #%zu `%s`: %s begins again before its regeneration ended", k, line, w->e[i]->name);
          open[i] = true;
          if (++now > peak)
            peak = now;
          if (first[i] < 0)
            first[i] = (long) k;
        }
      else if (str_has_prefix (line, "remove ") && strstr (line, "-lympho-old-"))
        {
          if (!open[i])
            fail_msg ("call #%zu `%s`: no regeneration of %s open", k, line, w->e[i]->name);
          open[i] = false;
          now--;
          last[i] = (long) k;
        }
      else if (!open[i] && !str_has_prefix (line, "inspect "))
        fail_msg ("call #%zu `%s`: %s is not regenerating", k, line, w->e[i]->name);
    }
  assert_int_equal (now, 0);
  return peak;
}

/* ---- a daemon around the fake engine ---- */

static int
setup (void **state)
{
  struct world *w = xmalloc0 (sizeof *w);
  const char *tmp = getenv ("TMPDIR");
  snprintf (w->dir, sizeof w->dir, "%s/lympho-test-admission-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  assert_non_null (mkdtemp (w->dir));

  config_init (&w->cfg);
  free (w->cfg.state_dir);
  w->cfg.state_dir = xstrdup (w->dir);
  w->cfg.max_concurrent = 2;
  w->cfg.backoff_min_ms = BACKOFF_MIN;
  w->cfg.backoff_max_ms = BACKOFF_MAX;
  w->cfg.settle_ms = 0;
  w->cfg.health_timeout_ms = 5000;
  w->timing.verify_delay_ms = 0;
  w->timing.ready_poll_ms = 0;

  struct daemon *d = &w->d;
  lympho_error_t err = { 0 };
  d->cfg = &w->cfg;
  d->sigfd = -1;
  d->started_mono = now_mono_ms ();
  d->timing = &w->timing;
  d->ops = &fake_runtime_ops;
  LIST_INIT (&d->entries);
  assert_int_equal (loop_new (&d->loop, &err), 0);
  assert_int_equal (d->ops->open (d->loop, "fake", &d->rt, &err), 0);
  assert_int_equal (journal_open (w->dir, &d->journal, &err), 0);
  w->socket_path = xasprintf ("%s/lymphd.sock", w->dir);
  assert_int_equal (control_open (d->loop, w->socket_path, command_dispatch, d, &d->control, &err), 0);
  d->connected = true;
  for (size_t i = 0; i < MAX_CLIENTS; i++)
    w->cl[i].fd = -1;
  for (int op = 0; op < FAKE_OP_COUNT; op++)
    fake_hook (d->rt, (enum fake_op) op, 0, hook_check, w);
  *state = w;
  return 0;
}

static int
teardown (void **state)
{
  struct world *w = *state;
  struct daemon *d = &w->d;
  /* A case that failed midway leaves regenerations in flight: let them end,
   * or they are reported as leaks on top of the failure. */
  w->draining = true;
  uint64_t deadline = now_mono_ms () + 2000;
  while (d->in_flight > 0 && now_mono_ms () < deadline)
    {
      lympho_error_t err = { 0 };
      if (loop_run_once (d->loop, 5, &err) < 0)
        break;
    }
  /* As daemon_run ends. */
  detect_close (d);
  d->ops->close (d->rt);
  while (!LIST_EMPTY (&d->entries))
    entry_remove (d, LIST_FIRST (&d->entries));
  strmap_free (&d->entry_names);
  strmap_free (&d->entry_ids);
  control_close (d->control);
  for (size_t i = 0; i < MAX_CLIENTS; i++)
    {
      if (w->cl[i].fd >= 0)
        close (w->cl[i].fd);
      buf_free (&w->cl[i].in);
    }
  free (w->socket_path);
  journal_close (d->journal);
  metrics_free (&d->metrics);
  loop_free (d->loop);
  config_free (&w->cfg);
  for (size_t i = 0; i < w->n; i++)
    {
      free (w->image[i]);
      free (w->first_id[i]);
    }
  int ret = unit_rmtree (w->dir);
  free (w);
  return ret;
}

/* A protected entry as adoption leaves it: its golden snapshot pins an
 * image of its own; its container (generation 1) runs in the engine. */
static struct entry *
add_entry (struct world *w, const char *name, const char *group)
{
  assert_true (w->n < MAX_ENTRIES);
  size_t i = w->n++;
  char hex[65];
  memset (hex, (int) ('1' + i), 64);
  hex[64] = '\0';
  w->image[i] = xasprintf ("sha256:%s", hex);
  cleanup_free char *pin = xasprintf ("lympho-pin/%s:%.12s", name, hex);
  fake_add_image (w->d.rt, w->image[i], pin);

  struct rt_labels l = { 0 };
  rt_labels_set (&l, LABEL_ENABLE, "true");
  rt_labels_set (&l, LABEL_NAME, name);
  rt_labels_set (&l, LABEL_GENERATION, "1");
  rt_labels_set (&l, LABEL_TXN, "0ld0ld00");
  cleanup_free char *spec = fake_spec (w->image[i], NULL, false, NULL);
  w->first_id[i] = xstrdup (fake_add_container (w->d.rt, name, spec, &l, true));
  rt_labels_free (&l);

  struct entry *e = entry_new (&w->d, name);
  e->golden.name = xstrdup (name);
  e->golden.source_id = xstrdup (w->first_id[i]);
  e->golden.image_id = xstrdup (w->image[i]);
  e->golden.pin_ref = xstrdup (pin);
  rt_labels_set (&e->golden.labels, LABEL_ENABLE, "true");
  e->golden.spec = fake_spec (w->image[i], NULL, false, &e->golden.labels);
  e->golden.stop_timeout_s = 1;
  e->policy.enabled = true;
  e->policy.strategy = STRATEGY_REPLACE;
  e->policy.drift_interval_ms = 0; /* no drift checks: not what is tested */
  e->policy.group = group ? xstrdup (group) : NULL;
  entry_set_id (&w->d, e, w->first_id[i]);
  e->generation = 1;
  e->state = ES_RUNNING;
  e->started_real_ms = now_real_ms ();
  w->e[i] = e;
  return e;
}

/* One loop turn, then the invariants. */
static void
turn (struct world *w, int max_wait_ms)
{
  lympho_error_t err = { 0 };
  assert_int_equal (loop_run_once (w->d.loop, max_wait_ms, &err), 0);
  check (w);
}

#define RUN_UNTIL(w, cond, ms)                                                                                      \
  do                                                                                                                \
    {                                                                                                               \
      uint64_t _deadline = now_mono_ms () + (ms);                                                                   \
      while (!(cond))                                                                                               \
        {                                                                                                           \
          if (now_mono_ms () > _deadline)                                                                           \
            fail_msg ("not within %d ms: %s", (int) (ms), #cond);                                                   \
          turn ((w), 5);                                                                                            \
        }                                                                                                           \
    }                                                                                                               \
  while (0)

static bool
quiet (struct world *w)
{
  if (w->d.in_flight > 0 || fake_pending (w->d.rt) > 0)
    return false;
  ENTRY_FOREACH (e, &w->d)
    if (e->queued)
      return false;
  return true;
}

/* Until nothing is in flight, queued or waiting on the engine. */
static void
settle (struct world *w)
{
  RUN_UNTIL (w, quiet (w), 3000);
  for (int i = 0; i < 3; i++)
    turn (w, 0);
  assert_true (quiet (w));
}

/* "result reason|result reason|..." of e's regenerations, oldest first,
 * from lymphd's history. */
static char *
history_of (struct world *w, const char *name)
{
  cleanup_free char *text = history_read (w->dir, name, 0);
  cleanup_json json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (text, strlen (text), &v, &err), 0);
  struct buf b;
  buf_init (&b);
  for (size_t i = json_arr_len (v); i-- > 0;)
    {
      json_val h = json_arr_at (v, i);
      if (strcmp (json_str (json_get (h, "kind")), "regen") != 0)
        continue;
      const char *reason = json_str (json_get (h, "reason"));
      buf_printf (&b, "%s%s %s", b.len ? "|" : "", json_str (json_get (h, "result")), reason ? reason : "-");
    }
  return buf_steal (&b);
}

static size_t
open_txns (struct world *w)
{
  return unit_open_txns (w->dir);
}

/* e was regenerated once more: the engine's `name` is its new generation. */
static void
assert_regenerated (struct world *w, struct entry *e, unsigned generation)
{
  size_t i = index_of (w, e);
  assert_int_equal (e->state, ES_RUNNING);
  assert_null (e->regen);
  assert_false (e->queued);
  assert_int_equal (e->generation, generation);
  assert_int_equal (e->failures, 0);
  assert_null (e->last_error);
  assert_string_not_equal (e->id, w->first_id[i]);
  const struct fake_container *c = fake_find (w->d.rt, e->name);
  assert_non_null (c);
  assert_string_equal (c->id, e->id);
  assert_int_equal (c->state, RT_STATE_RUNNING);
  assert_null (fake_find (w->d.rt, w->first_id[i]));
}

/* ---- lymphctl's side of the control socket ---- */

static struct client *
client_open (struct world *w)
{
  struct client *cl = NULL;
  for (size_t i = 0; i < MAX_CLIENTS && cl == NULL; i++)
    if (w->cl[i].fd < 0)
      cl = &w->cl[i];
  assert_non_null (cl);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  assert_true (strlen (w->socket_path) < sizeof sa.sun_path);
  strcpy (sa.sun_path, w->socket_path);
  cl->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true (cl->fd >= 0);
  assert_int_equal (connect (cl->fd, (struct sockaddr *) &sa, sizeof sa), 0);
  buf_init (&cl->in);
  return cl;
}

static size_t
n_waiters (const struct entry *e)
{
  size_t n = 0;
  struct waiter *x;
  SLIST_FOREACH (x, &e->waiters, link)
    n++;
  return n;
}

/* `lymphctl regen NAME --reason REASON`: sent, and read by the daemon. */
static void
client_regen (struct world *w, struct client *cl, const char *name, const char *reason)
{
  cleanup_free char *args = xasprintf ("{\"name\":\"%s\",\"reason\":\"%s\"}", name, reason);
  cleanup_free char *line = proto_request_encode ("regen", args);
  size_t len = strlen (line);
  assert_int_equal (send (cl->fd, line, len, MSG_NOSIGNAL), (ssize_t) len);
}

/* As client_regen, then the loop turns until the request waits on e. */
static void
client_regen_waits (struct world *w, struct client *cl, struct entry *e, const char *reason)
{
  size_t before = n_waiters (e);
  client_regen (w, cl, e->name, reason);
  RUN_UNTIL (w, n_waiters (e) == before + 1, 1000);
}

struct reply
{
  int ret;          /* 0, or -status */
  char error[512];
  char reason[128];
  bool joined;
  int64_t generation;
};

/* The one reply line, decoded; the loop turns meanwhile. */
static void
client_reply (struct world *w, struct client *cl, struct reply *r)
{
  memset (r, 0, sizeof *r);
  uint64_t deadline = now_mono_ms () + 3000;
  char *nl;
  while ((nl = cl->in.len ? memchr (cl->in.data, '\n', cl->in.len) : NULL) == NULL)
    {
      char chunk[4096];
      ssize_t n = recv (cl->fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0)
        {
          buf_append (&cl->in, chunk, (size_t) n);
          continue;
        }
      assert_true (n < 0 && errno == EAGAIN); /* not closed */
      if (now_mono_ms () > deadline)
        fail_msg ("no reply within 3 s");
      turn (w, 2);
    }
  size_t len = (size_t) (nl - cl->in.data);
  json_val tree = NULL, result = NULL;
  lympho_error_t err = { 0 };
  r->ret = proto_reply_decode (cl->in.data, len, &tree, &result, &err);
  memmove (cl->in.data, nl + 1, cl->in.len - len - 1);
  cl->in.len -= len + 1;
  if (r->ret < 0)
    snprintf (r->error, sizeof r->error, "%s", err.msg);
  else
    {
      const char *reason = json_str (json_get (result, "reason"));
      snprintf (r->reason, sizeof r->reason, "%s", reason ? reason : "");
      r->joined = json_is_true (json_get (result, "joined"));
      assert_true (json_as_int64 (json_get (result, "generation"), &r->generation));
    }
  json_free (tree);
}

/* ---- the cases ---- */

/* max_concurrent = 2 and five asked at once: two run, three wait, and all
 * five are done in the end, never more than two at once. */
static void
test_global_cap (void **state)
{
  struct world *w = *state;
  static const char *const names[] = { "svc-a", "svc-b", "svc-c", "svc-d", "svc-e" };
  for (size_t i = 0; i < 5; i++)
    add_entry (w, names[i], NULL);
  fake_delay (w->d.rt, FAKE_START, 2); /* each regeneration spans a few turns */

  for (size_t i = 0; i < 5; i++)
    {
      admission_request_regen (&w->d, w->e[i], "manual", false, NULL);
      check (w);
    }
  assert_int_equal (w->d.in_flight, 2);
  unsigned queued = 0;
  for (size_t i = 0; i < 5; i++)
    if (w->e[i]->queued)
      {
        queued++;
        assert_null (w->e[i]->regen);
        assert_string_equal (w->e[i]->queued_reason, "manual");
      }
  assert_int_equal (queued, 3);
  assert_int_equal (fake_n_calls (w->d.rt), 0); /* a regeneration starts on the next turn */

  settle (w);
  assert_int_equal (w->peak, 2);
  assert_true (w->checks > 20);
  for (size_t i = 0; i < 5; i++)
    {
      assert_regenerated (w, w->e[i], 2);
      cleanup_free char *h = history_of (w, names[i]);
      assert_string_equal (h, "ok manual");
    }
  assert_int_equal (w->d.regenerations, 5);
  assert_int_equal (w->d.failures, 0);
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_CREATE), 5);
  assert_int_equal (open_txns (w), 0);
  long first[MAX_ENTRIES], last[MAX_ENTRIES];
  assert_int_equal (engine_overlap (w, first, last), 2);
}

/* The queue is first come, first served: with room for one, entries asked
 * in the order c, a, d, b regenerate in that order, not in the order they
 * were adopted. */
static void
test_queue_order (void **state)
{
  struct world *w = *state;
  w->d.cfg->max_concurrent = 1;
  static const char *const names[] = { "svc-a", "svc-b", "svc-c", "svc-d" };
  for (size_t i = 0; i < 4; i++)
    add_entry (w, names[i], NULL);
  static const size_t asked[] = { 2, 0, 3, 1 };
  for (size_t i = 0; i < 4; i++)
    {
      admission_request_regen (&w->d, w->e[asked[i]], "manual", false, NULL);
      check (w);
    }
  assert_int_equal (w->d.in_flight, 1);
  settle (w);
  assert_int_equal (w->peak, 1);
  long first[MAX_ENTRIES], last[MAX_ENTRIES];
  assert_int_equal (engine_overlap (w, first, last), 1);
  for (size_t i = 0; i < 4; i++)
    assert_regenerated (w, w->e[i], 2);
  for (size_t i = 1; i < 4; i++)
    assert_true (first[asked[i - 1]] < first[asked[i]]);
}

/* Two entries of one group never regenerate at once; an entry of another
 * group goes on beside the first. The cap (3) is not what holds the
 * second back. */
static void
test_one_per_group (void **state)
{
  struct world *w = *state;
  w->cfg.max_concurrent = 3;
  struct entry *a1 = add_entry (w, "api-1", "api");
  struct entry *a2 = add_entry (w, "api-2", "api");
  struct entry *b = add_entry (w, "db", "store");
  fake_delay (w->d.rt, FAKE_START, 2);

  admission_request_regen (&w->d, a1, "manual", false, NULL);
  admission_request_regen (&w->d, a2, "manual", false, NULL);
  admission_request_regen (&w->d, b, "manual", false, NULL);
  check (w);
  assert_non_null (a1->regen);
  assert_non_null (b->regen);
  assert_null (a2->regen);
  assert_true (a2->queued);
  assert_int_equal (w->d.in_flight, 2); /* below the cap of 3 */

  settle (w);
  assert_regenerated (w, a1, 2);
  assert_regenerated (w, a2, 2);
  assert_regenerated (w, b, 2);

  long first[MAX_ENTRIES], last[MAX_ENTRIES];
  assert_int_equal (engine_overlap (w, first, last), 2);
  size_t i1 = index_of (w, a1), i2 = index_of (w, a2), ib = index_of (w, b);
  assert_true (last[i1] < first[i2]);                     /* one of the group after the other */
  assert_true (first[ib] < last[i1] && first[i1] < last[ib]); /* the other group alongside */
}

/* A request for an entry regenerating joins that regeneration, whenever
 * it comes, from lymphctl or a detector: no second one starts, the reason
 * stays the first, and each lymphctl request hears the one result, the
 * second told that it joined. */
static void
ask_again (struct world *w, const struct fake_call *call)
{
  if (call->op != FAKE_RENAME || call->nth != 1)
    return;
  struct entry *e = w->e[0];
  struct regen *r = e->regen;
  assert_non_null (r);
  admission_request_regen (&w->d, e, "unhealthy", false, NULL); /* as a detector asks */
  assert_ptr_equal (e->regen, r);
  assert_false (e->queued);
  assert_int_equal (w->d.in_flight, 1);
  assert_string_equal (regen_reason (r), "manual: first");
  w->on_answer = NULL;
}

static void
test_join_in_flight (void **state)
{
  struct world *w = *state;
  struct entry *e = add_entry (w, "web", NULL);
  struct client *c1 = client_open (w), *c2 = client_open (w);
  fake_delay (w->d.rt, FAKE_CREATE, 30); /* the second request comes while it runs */
  client_regen_waits (w, c1, e, "first");
  struct regen *r = e->regen;
  assert_non_null (r);
  assert_string_equal (regen_reason (r), "manual: first");
  client_regen_waits (w, c2, e, "second");
  assert_ptr_equal (e->regen, r);
  assert_false (e->queued);
  assert_int_equal (w->d.in_flight, 1);
  assert_string_equal (regen_reason (r), "manual: first");
  w->on_answer = ask_again; /* and once mid-way */

  struct reply r1, r2;
  client_reply (w, c1, &r1);
  client_reply (w, c2, &r2);
  assert_int_equal (r1.ret, 0);
  assert_int_equal (r2.ret, 0);
  assert_false (r1.joined);
  assert_true (r2.joined);
  assert_string_equal (r1.reason, "manual: first");
  assert_string_equal (r2.reason, "manual: first");
  assert_int_equal (r1.generation, 2);
  assert_int_equal (r2.generation, 2);
  settle (w);
  assert_null (w->on_answer); /* it did ask */
  assert_regenerated (w, e, 2);
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_IMAGE_INSPECT), 1);
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_CREATE), 1);
  cleanup_free char *h = history_of (w, "web");
  assert_string_equal (h, "ok manual: first");
  assert_int_equal (w->d.regenerations, 1);
}

/* A request for an entry waiting in the queue joins it: the queued
 * regeneration keeps the reason it was queued with, each lymphctl request
 * hears it (the later one told it joined), and an infected generation
 * queued to stay down stays down whoever asks after (replace, never swap;
 * journalled keep_old_down). */
static void
queued_begins (struct world *w, const struct fake_call *call)
{
  struct entry *q = w->e[1];
  if (call->op != FAKE_CREATE && call->op != FAKE_CREATE_HIDDEN)
    return;
  if (q->regen == NULL || !str_has_prefix (call->ref, "svc-q-lympho-new-"))
    return;
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_load (w->dir, &v, &n, &damaged, &err), 0);
  bool found = false;
  for (size_t i = 0; i < n; i++)
    {
      if (strcmp (v[i].name, "svc-q") == 0)
        {
          found = true;
          assert_true (v[i].keep_old_down);
          assert_string_equal (v[i].reason, "manual: first");
        }
      txn_free (&v[i]);
    }
  free (v);
  assert_true (found);
  w->on_answer = NULL;
}

static void
test_queued_keeps_reason (void **state)
{
  struct world *w = *state;
  w->cfg.max_concurrent = 1;
  struct entry *p = add_entry (w, "svc-p", NULL);
  struct entry *q = add_entry (w, "svc-q", NULL);
  q->policy.strategy = STRATEGY_AUTO; /* swap, unless it must stay down */
  fake_delay (w->d.rt, FAKE_CREATE, 30); /* p holds the one slot meanwhile */
  admission_request_regen (&w->d, p, "manual", false, NULL);
  assert_non_null (p->regen);

  struct client *c1 = client_open (w), *c2 = client_open (w);
  client_regen_waits (w, c1, q, "first");
  assert_true (q->queued);
  assert_string_equal (q->queued_reason, "manual: first");
  client_regen_waits (w, c2, q, "second");
  assert_true (q->queued);
  assert_string_equal (q->queued_reason, "manual: first");
  admission_request_regen (&w->d, q, "incident: test", true, NULL); /* as incident.c asks */
  assert_true (q->queued);
  assert_true (q->keep_old_down);
  admission_request_regen (&w->d, q, "unhealthy", false, NULL); /* as a detector asks */
  assert_true (q->queued);
  assert_true (q->keep_old_down);
  assert_string_equal (q->queued_reason, "manual: first");
  assert_non_null (p->regen); /* all of it while p held the slot */
  w->on_answer = queued_begins;

  struct reply r1, r2;
  client_reply (w, c1, &r1);
  client_reply (w, c2, &r2);
  assert_int_equal (r1.ret, 0);
  assert_int_equal (r2.ret, 0);
  assert_string_equal (r1.reason, "manual: first");
  assert_string_equal (r2.reason, "manual: first");
  assert_false (r1.joined);
  assert_true (r2.joined);
  settle (w);
  assert_null (w->on_answer); /* q's create was seen */
  assert_regenerated (w, p, 2);
  assert_regenerated (w, q, 2);
  assert_false (q->keep_old_down); /* a fresh generation */
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_CREATE_HIDDEN), 0);
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_CREATE), 2);
  cleanup_free char *h = history_of (w, "svc-q");
  assert_string_equal (h, "ok manual: first");
}

/* Create fails four times: each failure is retried after sched_backoff's
 * delay (20, 40, 80, 80 ms, spread by +-20 %), through the loop timer; the
 * fifth succeeds and clears the count. The old generation serves all along. */
static void
test_retry_backoff (void **state)
{
  struct world *w = *state;
  struct entry *e = add_entry (w, "web", NULL);
  size_t i = index_of (w, e);
  fake_fail (w->d.rt, FAKE_CREATE, 1, 4, EIO, INJECTED);
  admission_request_regen (&w->d, e, "manual", false, NULL);

  for (unsigned k = 1; k <= 4; k++)
    {
      /* The turn in which the k-th failure is counted, and the timer armed. */
      uint64_t before = 0, after = 0;
      uint64_t deadline = now_mono_ms () + 2000;
      while (e->failures < k)
        {
          assert_true (now_mono_ms () < deadline);
          before = now_mono_ms ();
          turn (w, 5);
          after = now_mono_ms ();
        }
      assert_int_equal (e->failures, k);
      assert_int_equal (w->d.failures, k);
      assert_null (e->regen);
      assert_false (e->queued);
      assert_int_equal (e->state, ES_RUNNING);
      assert_string_equal (e->id, w->first_id[i]); /* rolled back: the old one serves */
      assert_int_equal (fake_find (w->d.rt, "web")->state, RT_STATE_RUNNING);
      assert_non_null (e->last_error);
      assert_non_null (strstr (e->last_error, INJECTED));
      assert_true (e->timer != 0);
      uint64_t base = BACKOFF_MIN << (k - 1);
      if (base > BACKOFF_MAX)
        base = BACKOFF_MAX;
      /* armed between `before` and `after` with a delay in [0.8, 1.2) x base */
      if (e->due_mono < before + base * 4 / 5 || e->due_mono > after + base * 6 / 5)
        fail_msg ("failure %u: retry due %lld ms after the failure's turn, sched_backoff gives [%llu, %llu]", k,
                  (long long) (e->due_mono - before), (unsigned long long) (base * 4 / 5),
                  (unsigned long long) (base * 6 / 5));
      uint64_t due = e->due_mono;
      /* Nothing until it is due; then the retry itself, from the timer. */
      RUN_UNTIL (w, w->n_began[i] > k, 1000);
      assert_true (w->began_mono[i][k] >= due);
      assert_int_equal (fake_calls_of (w->d.rt, FAKE_IMAGE_INSPECT), k + 1);
    }
  settle (w);
  assert_regenerated (w, e, 2);
  assert_int_equal (fake_calls_of (w->d.rt, FAKE_CREATE), 5);
  assert_int_equal (w->d.failures, 4);
  assert_int_equal (w->d.regenerations, 1);
  cleanup_free char *h = history_of (w, "web");
  assert_string_equal (h, "failed manual|failed retry|failed retry|failed retry|ok retry");
  /* Past the success the timer is the TTL again (an hour), not a retry. */
  assert_true (e->timer != 0);
  assert_true (admission_remaining_ms (&w->d, e) > 3000000);
  assert_int_equal (open_txns (w), 0);
}

/* The engine's answer to the inspect that follows a success: the TTL was
 * planned by then, by the success itself. */
static void
armed_at_end (struct world *w, const struct fake_call *call)
{
  if (call->op != FAKE_INSPECT || call->id == NULL)
    return;
  for (size_t i = 0; i < w->n; i++)
    if (w->e[i]->regen == NULL && w->e[i]->id && strcmp (w->e[i]->id, call->id) == 0 && w->e[i]->generation == 2)
      {
        w->ends_seen++;
        w->ends_armed += w->e[i]->timer != 0;
      }
}

/* The TTL, counted from when the generation started: one started 960 ms
 * ago with a TTL of 1 s is due in 40 ms, one older than its TTL at once;
 * both regenerate when due and are planned a TTL ahead again. */
static void
test_ttl (void **state)
{
  struct world *w = *state;
  struct entry *t = add_entry (w, "soon", NULL);
  struct entry *o = add_entry (w, "overdue", NULL);
  t->policy.ttl_ms = o->policy.ttl_ms = 1000;
  t->policy.jitter_pct = o->policy.jitter_pct = 0;
  uint64_t t0 = now_mono_ms ();
  admission_schedule_from (&w->d, t, now_real_ms () - 960, false);
  admission_schedule_from (&w->d, o, now_real_ms () - 5000, false);
  assert_true (t->timer != 0 && o->timer != 0);
  assert_true (t->due_mono > t0 && t->due_mono <= now_mono_ms () + 40);
  assert_true (t->due_mono >= t0 + 30);
  assert_true (o->due_mono <= now_mono_ms ());
  assert_int_equal (admission_remaining_ms (&w->d, o), 0);
  uint64_t due = t->due_mono;
  w->on_answer = armed_at_end;

  RUN_UNTIL (w, t->generation == 2 && o->generation == 2, 1000);
  settle (w);
  size_t it = index_of (w, t);
  assert_int_equal (w->n_began[it], 1);
  assert_true (w->began_mono[it][0] >= due);
  assert_regenerated (w, t, 2);
  assert_regenerated (w, o, 2);
  cleanup_free char *ht = history_of (w, "soon");
  cleanup_free char *ho = history_of (w, "overdue");
  assert_string_equal (ht, "ok ttl");
  assert_string_equal (ho, "ok ttl");
  assert_int_equal (w->ends_seen, 2);
  assert_int_equal (w->ends_armed, 2);
  /* Planned again: a whole TTL from the new generation's start. */
  struct entry *both[] = { t, o };
  for (size_t k = 0; k < 2; k++)
    {
      size_t i = index_of (w, both[k]);
      assert_int_equal (w->n_began[i], 1);
      assert_true (both[k]->timer != 0);
      assert_true (both[k]->due_mono >= w->began_mono[i][0] + 1000);
      assert_true (both[k]->due_mono <= now_mono_ms () + 1000);
    }
}

/* A TTL is a deadline: when a slot frees and nothing waits, the TTL due
 * soonest starts early, if its age is one its jitter could have drawn and
 * it is due within SCHED_EARLY_MAX_MS. One too young for its jitter, and
 * one without jitter, wait for their timers. */
static void
test_ttl_early (void **state)
{
  struct world *w = *state;
  w->d.cfg->max_concurrent = 1;
  struct entry *a = add_entry (w, "due", NULL);
  struct entry *b = add_entry (w, "soon", NULL);
  struct entry *c = add_entry (w, "young", NULL);
  struct entry *x = add_entry (w, "exact", NULL);
  a->policy.ttl_ms = b->policy.ttl_ms = c->policy.ttl_ms = x->policy.ttl_ms = 20000;
  a->policy.jitter_pct = b->policy.jitter_pct = c->policy.jitter_pct = 50; /* the lowest draw: 10 s */
  x->policy.jitter_pct = 0;
  uint64_t now = now_real_ms ();
  admission_schedule_from (&w->d, a, now - 40000, false); /* overdue: at once */
  admission_schedule_from (&w->d, b, now - 15000, false);
  admission_schedule_from (&w->d, c, now - 5000, false);
  admission_schedule_from (&w->d, x, now - 15000, false);
  /* Their timers, whatever the jitter drew: b, c and x within 4 s. */
  admission_arm (&w->d, b, 4000);
  admission_arm (&w->d, c, 3000);
  admission_arm (&w->d, x, 2000);
  uint64_t b_due = b->due_mono;

  RUN_UNTIL (w, b->generation == 2, 3000);
  settle (w);
  assert_regenerated (w, a, 2);
  assert_regenerated (w, b, 2);
  size_t ia = index_of (w, a), ib = index_of (w, b);
  assert_int_equal (w->n_began[ib], 1);
  /* b began after a's slot freed, before its own timer. */
  assert_true (w->began_mono[ib][0] >= w->began_mono[ia][0]);
  assert_true (w->began_mono[ib][0] < b_due);
  cleanup_free char *hb = history_of (w, "soon");
  assert_string_equal (hb, "ok ttl");
  /* c and x still wait for their own timers. */
  assert_int_equal (c->generation, 1);
  assert_int_equal (x->generation, 1);
  assert_true (c->timer != 0 && x->timer != 0);
  assert_int_equal (w->n_began[index_of (w, c)], 0);
  assert_int_equal (w->n_began[index_of (w, x)], 0);
}

/* The engine away: a request waits in the queue whatever the cap, and
 * starts once the engine is back and the queue is looked at. */
static void
test_engine_away (void **state)
{
  struct world *w = *state;
  struct entry *e = add_entry (w, "web", NULL);
  w->d.connected = false;
  admission_request_regen (&w->d, e, "manual", false, NULL);
  assert_true (e->queued);
  assert_null (e->regen);
  for (int i = 0; i < 3; i++)
    turn (w, 1);
  admission_start_queued (&w->d);
  assert_true (e->queued);
  assert_int_equal (fake_n_calls (w->d.rt), 0);

  w->d.connected = true;
  admission_start_queued (&w->d);
  assert_false (e->queued);
  assert_non_null (e->regen);
  settle (w);
  assert_regenerated (w, e, 2);
  cleanup_free char *h = history_of (w, "web");
  assert_string_equal (h, "ok manual");
}

/* Shutting down (as begin_shutdown leaves the daemon): nothing new is
 * admitted or planned, the queue is not started, the one in flight ends
 * with no retry, and the loop stops once nothing is in flight. */
static void
test_shutting_down (void **state)
{
  struct world *w = *state;
  w->cfg.max_concurrent = 1;
  struct entry *a = add_entry (w, "svc-a", NULL);
  struct entry *b = add_entry (w, "svc-b", NULL);
  struct entry *c = add_entry (w, "svc-c", NULL);
  admission_request_regen (&w->d, a, "manual", false, NULL);
  admission_request_regen (&w->d, b, "manual", false, NULL);
  assert_non_null (a->regen);
  assert_true (b->queued);
  turn (w, 0); /* a's regeneration is under way */

  w->d.shutting_down = true;
  regen_request_stop (a->regen);
  admission_request_regen (&w->d, c, "manual", false, NULL);
  assert_null (c->regen);
  assert_false (c->queued);
  admission_schedule_from (&w->d, c, now_real_ms (), false);
  assert_int_equal (c->timer, 0);
  struct client *cl = client_open (w);
  client_regen (w, cl, "svc-c", "late");
  struct reply r;
  client_reply (w, cl, &r);
  assert_int_equal (r.ret, -ECANCELED);
  assert_string_equal (r.error, "lymphd is shutting down");
  assert_null (c->regen);
  assert_false (c->queued);

  RUN_UNTIL (w, w->d.in_flight == 0, 1000);
  for (int i = 0; i < 5; i++)
    turn (w, 1);
  assert_null (a->regen);
  assert_int_equal (a->timer, 0); /* no retry, no TTL */
  assert_true (b->queued);         /* still waiting: never started */
  assert_null (b->regen);
  assert_null (c->regen);
  assert_int_equal (w->d.in_flight, 0);
  assert_true (loop_stopped (w->d.loop));
  for (size_t k = 0; k < fake_n_calls (w->d.rt); k++)
    {
      int i = line_entry (w, fake_call_line (w->d.rt, k));
      if (i != (int) index_of (w, a))
        fail_msg ("call `%s` during shutdown", fake_call_line (w->d.rt, k));
    }
  assert_int_equal (w->n_began[index_of (w, b)], 0);
  assert_int_equal (w->n_began[index_of (w, c)], 0);
  /* The old generation serves, or the new one: either way, one holds the name. */
  const struct fake_container *ca = fake_find (w->d.rt, "svc-a");
  assert_non_null (ca);
  assert_string_equal (ca->id, a->id);
  assert_int_equal (open_txns (w), 0);
}

/* Entries are found by name, id and id prefix through the index, through
 * a rename and a new id, and not once removed; should two hold one id, the
 * other is found once the first lets it go. */
static void
test_entry_index (void **state)
{
  struct world *w = *state;
  struct daemon *d = &w->d;
  struct entry *a = add_entry (w, "web-a", NULL);
  struct entry *b = add_entry (w, "web-b", NULL);
  assert_ptr_equal (entry_find (d, "web-a"), a);
  assert_ptr_equal (entry_by_id (d, w->first_id[1]), b);
  assert_ptr_equal (entry_lookup (d, w->first_id[0]), a);
  cleanup_free char *prefix = xstrndup (w->first_id[1], 12);
  assert_ptr_equal (entry_lookup (d, prefix), b);
  assert_null (entry_find (d, "web-c"));
  assert_null (entry_by_id (d, "0123456789ab"));

  entry_set_name (d, a, "web-c");
  assert_null (entry_find (d, "web-a"));
  assert_ptr_equal (entry_find (d, "web-c"), a);
  assert_string_equal (a->name, "web-c");

  entry_set_id (d, a, "feedface0001");
  assert_null (entry_by_id (d, w->first_id[0]));
  assert_ptr_equal (entry_by_id (d, "feedface0001"), a);

  /* b takes a's id for a moment: the newest setter is found; when b lets
   * it go, a is again. */
  entry_set_id (d, b, "feedface0001");
  assert_ptr_equal (entry_by_id (d, "feedface0001"), b);
  assert_null (entry_by_id (d, w->first_id[1]));
  entry_set_id (d, b, NULL);
  assert_ptr_equal (entry_by_id (d, "feedface0001"), a);
  assert_int_equal (d->entry_ids.n, 1);

  entry_remove (d, a);
  assert_null (entry_find (d, "web-c"));
  assert_null (entry_by_id (d, "feedface0001"));
  assert_int_equal (d->entry_names.n, 1);
  entry_remove (d, b);
  assert_null (entry_find (d, "web-b"));
  assert_int_equal (d->entry_names.n, 0);
  assert_int_equal (d->entry_ids.n, 0);
}

int
main (void)
{
  log_set_level (getenv ("TEST_ADMISSION_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
  unsetenv ("NOTIFY_SOCKET");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_entry_index, setup, teardown),
    cmocka_unit_test_setup_teardown (test_global_cap, setup, teardown),
    cmocka_unit_test_setup_teardown (test_queue_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_one_per_group, setup, teardown),
    cmocka_unit_test_setup_teardown (test_join_in_flight, setup, teardown),
    cmocka_unit_test_setup_teardown (test_queued_keeps_reason, setup, teardown),
    cmocka_unit_test_setup_teardown (test_retry_backoff, setup, teardown),
    cmocka_unit_test_setup_teardown (test_ttl, setup, teardown),
    cmocka_unit_test_setup_teardown (test_ttl_early, setup, teardown),
    cmocka_unit_test_setup_teardown (test_engine_away, setup, teardown),
    cmocka_unit_test_setup_teardown (test_shutting_down, setup, teardown),
  };
  return cmocka_run_group_tests_name ("admission", tests, NULL, NULL);
}
