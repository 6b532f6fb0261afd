/* The regeneration state machine (shim/regen.c) against the fake engine
 * (fake-runtime.c) on the real loop, with a real journal in a temporary
 * state dir.
 *
 * The forward path of each strategy is a table of the engine calls it
 * makes, in order; the forward test asserts the calls are exactly the
 * table, so a step added to regen.c without a row here fails it. From each
 * table the cases are generated: every call failing in turn (before the
 * commit: rolled back, the old generation serves again; after: rolled
 * forward), every rollback call failing in turn after that (broken, the
 * journal keeps the transaction, and recovery from it settles the engine),
 * and a shutdown requested at every call. Every engine call that changes
 * something is checked to have its intent journalled first. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fake-runtime.h"
#include "lympho/config.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/store.h"
#include "lympho/util.h"
#include "unit-util.h"

/* Damaged journal records skipped by the last replay. */
static size_t damaged;

#define IMG "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DB_IMG "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define INJECTED "injected by the test"
#define OLD_GEN 3

/* ---- a world: loop, fake engine, journal, config ---- */

struct world
{
  char dir[128];
  struct loop *loop;
  struct runtime *rt;
  struct journal *journal;
  struct config cfg;
  struct regen_timing timing;
  struct runtime_ops ops; /* a copy a test may trim */
  struct regen_env env;
  struct golden golden;
  char *old_id; /* "web" before the regeneration; NULL for a first generation */
  char *db_id;  /* a bystander nothing may touch */
  const void *kase;

  /* the regeneration in flight */
  struct regen *r;
  char *txn;
  bool in_start;
  bool done;
  unsigned n_done;
  struct regen_result res; /* strings below */
  char *res_name, *res_txn, *res_new_id, *res_reason;
  size_t calls_at_done;
};

static void
on_done (void *ud, const struct regen_result *res)
{
  struct world *w = ud;
  assert_false (w->in_start); /* never before regen_start returned */
  w->n_done++;
  w->done = true;
  w->res = *res;
  free (w->res_name);
  free (w->res_txn);
  free (w->res_new_id);
  free (w->res_reason);
  w->res_name = xstrdup (res->name);
  w->res_txn = xstrdup (res->txn);
  w->res_new_id = xstrdup (res->new_id);
  w->res_reason = xstrdup (res->reason);
  w->res.name = w->res_name;
  w->res.txn = w->res_txn;
  w->res.new_id = w->res_new_id;
  w->res.reason = w->res_reason;
  w->calls_at_done = fake_n_calls (w->rt);
  w->r = NULL;
}

/* The last journal record of the txn, for the intent check. */
struct record
{
  char op[16];
  char step[32];
  char id[80];
  bool has_id;
};

/* "begin|step create|step created|...|commit|end ok": the records of txn. */
static char *
journal_trail (struct world *w, const char *txn, struct record *last)
{
  cleanup_free char *path = xasprintf ("%s/journal", w->dir);
  cleanup_free char *text = NULL;
  size_t len = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (read_file (path, 1 << 20, &text, &len, &err), 0);
  struct buf b;
  buf_init (&b);
  if (last)
    memset (last, 0, sizeof *last);
  for (char *line = text, *nl; line < text + len; line = nl + 1)
    {
      nl = strchr (line, '\n');
      assert_non_null (nl); /* every record is whole */
      cleanup_json json_val v = NULL;
      assert_int_equal (json_parse (line, (size_t) (nl - line), &v, &err), 0);
      const char *t = json_str (json_get (v, "txn"));
      if (t == NULL || strcmp (t, txn) != 0)
        continue;
      const char *op = json_str (json_get (v, "op"));
      const char *step = json_str (json_get (v, "step"));
      const char *result = json_str (json_get (v, "result"));
      const char *id = json_str (json_get (v, "id"));
      buf_printf (&b, "%s%s%s%s%s", b.len ? "|" : "", op, step || result ? " " : "", step ? step : "",
                  result ? result : "");
      if (last)
        {
          snprintf (last->op, sizeof last->op, "%s", op);
          snprintf (last->step, sizeof last->step, "%s", step ? step : "");
          snprintf (last->id, sizeof last->id, "%s", id ? id : "");
          last->has_id = id != NULL;
        }
    }
  return buf_steal (&b);
}

/* Every engine call that changes something has its intent on disk before
 * it is made (a hook at the call, not at the answer):
 * the txn's last record names the step and the container it acts on. */
static void
hook_intent (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct world *w = ud;
  (void) rt;
  if (w->txn == NULL)
    return; /* a test's own call */
  struct record last;
  cleanup_free char *trail = journal_trail (w, w->txn, &last);
  static const struct
  {
    enum fake_op op;
    const char *steps;
  } allowed[] = {
    { FAKE_CREATE, " create " },
    { FAKE_CREATE_HIDDEN, " create " },
    { FAKE_START, " start-new rollback-start-old " },
    { FAKE_STOP, " stop-old " },
    { FAKE_RENAME, " rename-old rename-new rollback-rename-old " },
    { FAKE_REMOVE, " remove-old rollback-remove-new " },
    { FAKE_PUBLISH, " publish " },
    { FAKE_NETWORK_DISCONNECT, " drain-old " },
  };
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    {
      if (allowed[i].op != call->op)
        continue;
      cleanup_free char *word = xasprintf (" %s ", last.step);
      if (strcmp (last.op, "step") != 0 || last.step[0] == '\0' || strstr (allowed[i].steps, word) == NULL)
        fail_msg ("`%s` taken with no intent journalled: the txn's records are %s", call->line, trail);
      /* The container it acts on: by its id, or as given when it is gone. */
      const char *target = call->id ? call->id : call->ref;
      if (call->op != FAKE_CREATE && call->op != FAKE_CREATE_HIDDEN
          && (!last.has_id || target == NULL || strcmp (last.id, target) != 0))
        fail_msg ("`%s` acts on %.12s, its intent %s names %.12s", call->line, target ? target : "?", last.step,
                  last.id);
    }
}

static const char *const golden_nets[] = { "front", "back", NULL };

static void
world_golden (struct world *w, bool health)
{
  golden_free (&w->golden);
  memset (&w->golden, 0, sizeof w->golden);
  w->golden.name = xstrdup ("web");
  w->golden.source_id = xstrdup (w->old_id ? w->old_id : "0000");
  w->golden.image_id = xstrdup (IMG);
  w->golden.pin_ref = xstrdup ("lympho-pin/web:111111111111");
  rt_labels_set (&w->golden.labels, LABEL_ENABLE, "true");
  w->golden.spec = fake_spec (IMG, golden_nets, health, &w->golden.labels);
  w->golden.has_healthcheck = health;
  w->golden.stop_timeout_s = 10;
}

/* A fresh world: "web" (generation 3, made by an earlier regeneration) and
 * "db" run; the pinned image and the networks exist. */
static struct world *
world_new (bool health, bool no_old)
{
  struct world *w = xmalloc0 (sizeof *w);
  const char *tmp = getenv ("TMPDIR");
  snprintf (w->dir, sizeof w->dir, "%s/lympho-test-regen-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  assert_non_null (mkdtemp (w->dir));
  lympho_error_t err = { 0 };
  assert_int_equal (loop_new (&w->loop, &err), 0);
  assert_int_equal (fake_runtime_ops.open (w->loop, "fake", &w->rt, &err), 0);
  assert_int_equal (journal_open (w->dir, &w->journal, &err), 0);
  config_init (&w->cfg);
  w->cfg.settle_ms = 0;
  w->cfg.health_timeout_ms = 5000;
  w->timing.verify_delay_ms = 0;
  w->timing.ready_poll_ms = 0;
  w->ops = fake_runtime_ops;
  w->env = (struct regen_env){ .loop = w->loop, .ops = &w->ops, .rt = w->rt, .journal = w->journal,
                               .cfg = &w->cfg, .timing = &w->timing };

  fake_add_image (w->rt, IMG, "lympho-pin/web:111111111111");
  fake_add_image (w->rt, DB_IMG, "postgres:16");
  fake_add_network (w->rt, "front");
  fake_add_network (w->rt, "back");
  const char *const db_nets[] = { "back", NULL };
  cleanup_free char *db_spec = fake_spec (DB_IMG, db_nets, false, NULL);
  w->db_id = xstrdup (fake_add_container (w->rt, "db", db_spec, NULL, true));
  if (!no_old)
    {
      struct rt_labels l = { 0 };
      rt_labels_set (&l, LABEL_ENABLE, "true");
      rt_labels_set (&l, LABEL_GENERATION, "3");
      rt_labels_set (&l, LABEL_NAME, "web");
      rt_labels_set (&l, LABEL_TXN, "0ld0ld00");
      cleanup_free char *spec = fake_spec (IMG, golden_nets, health, NULL);
      w->old_id = xstrdup (fake_add_container (w->rt, "web", spec, &l, true));
      rt_labels_free (&l);
    }
  world_golden (w, health);

  static const enum fake_op mutating[] = { FAKE_CREATE, FAKE_CREATE_HIDDEN, FAKE_START, FAKE_STOP,
                                           FAKE_RENAME, FAKE_REMOVE, FAKE_PUBLISH, FAKE_NETWORK_DISCONNECT };
  for (size_t i = 0; i < sizeof mutating / sizeof mutating[0]; i++)
    fake_hook_call (w->rt, mutating[i], 0, hook_intent, w);
  return w;
}

static void
world_free (struct world *w)
{
  fake_runtime_ops.close (w->rt);
  journal_close (w->journal);
  loop_free (w->loop);
  config_free (&w->cfg);
  golden_free (&w->golden);
  free (w->old_id);
  free (w->db_id);
  free (w->txn);
  free (w->res_name);
  free (w->res_txn);
  free (w->res_new_id);
  free (w->res_reason);
  unit_rmtree (w->dir);
  free (w);
}

static int
teardown (void **state)
{
  world_free (*state);
  return 0;
}

/* Run the loop until the regeneration called back, then a few more turns:
 * nothing else may follow (no second callback, no engine call). */
static void
run (struct world *w)
{
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + 5000;
  while (!w->done)
    {
      if (now_mono_ms () > deadline)
        fail_msg ("no result within 5 s; last call: %s", fake_call_line (w->rt, fake_n_calls (w->rt) - 1));
      assert_int_equal (loop_run_once (w->loop, 50, &err), 0);
    }
  for (int i = 0; i < 3; i++)
    assert_int_equal (loop_run_once (w->loop, 1, &err), 0);
  assert_int_equal (w->n_done, 1);
  assert_int_equal (fake_n_calls (w->rt), w->calls_at_done);
  assert_int_equal (fake_pending (w->rt), 0);
}

static void
start (struct world *w, enum strategy strategy, bool keep_old_down)
{
  static char *const old_nets[] = { "front", "back" };
  struct regen_params p = {
    .golden = &w->golden,
    .old_id = w->old_id,
    .old_generation = w->old_id ? OLD_GEN : 0,
    .strategy = strategy,
    .reason = "test",
    .keep_old_down = keep_old_down,
    .old_networks = old_nets,
    .n_old_networks = 2,
  };
  w->done = false;
  w->n_done = 0;
  w->in_start = true;
  w->r = regen_start (&w->env, &p, on_done, w);
  w->in_start = false;
  assert_false (w->done);
  free (w->txn);
  w->txn = xstrdup (regen_txn (w->r));
  assert_int_equal (strlen (w->txn), 8);
}

/* A line of a table with '@' standing for the txn. */
static char *
expand (const struct world *w, const char *pattern)
{
  struct buf b;
  buf_init (&b);
  for (const char *p = pattern; *p; p++)
    if (*p == '@')
      buf_appends (&b, w->txn);
    else
      buf_append (&b, p, 1);
  return buf_steal (&b);
}

/* The calls from index `from` are exactly `want` (NULL-terminated). */
static void
assert_calls (struct world *w, size_t from, const char *const *want)
{
  size_t n = 0;
  while (want[n])
    n++;
  bool same = fake_n_calls (w->rt) - from == n;
  for (size_t i = 0; same && i < n; i++)
    {
      cleanup_free char *line = expand (w, want[i]);
      same = strcmp (fake_call_line (w->rt, from + i), line) == 0;
    }
  if (same)
    return;
  for (size_t i = from; i < fake_n_calls (w->rt); i++)
    print_message ("  called:   %s\n", fake_call_line (w->rt, i));
  for (size_t i = 0; i < n; i++)
    print_message ("  expected: %s\n", want[i]);
  fail_msg ("the engine calls from #%zu differ from the expected ones (@ = %s)", from, w->txn);
}

static size_t
count_named_like (struct world *w, const char *part)
{
  size_t n = 0;
  for (size_t i = 0; i < fake_count (w->rt); i++)
    n += strstr (fake_at (w->rt, i)->name, part) != NULL;
  return n;
}

/* The engine has settled: `holder` (NULL: nobody) holds the name, running
 * or not; no temporary generation is left; the bystander is untouched. */
static void
assert_settled (struct world *w, const char *holder, bool running)
{
  const struct fake_container *web = fake_find (w->rt, "web");
  if (holder == NULL)
    assert_null (web);
  else
    {
      assert_non_null (web);
      assert_string_equal (web->name, "web");
      assert_string_equal (web->id, holder);
      assert_int_equal (web->state, running ? RT_STATE_RUNNING : RT_STATE_EXITED);
      assert_false (web->hidden);
    }
  assert_int_equal (count_named_like (w, "-lympho-"), 0);
  const struct fake_container *db = fake_find (w->rt, w->db_id);
  assert_non_null (db);
  assert_string_equal (db->name, "db");
  assert_int_equal (db->state, RT_STATE_RUNNING);
  assert_int_equal (fake_count (w->rt), holder ? 2 : 1);
}

/* The new generation holds the name, runs, carries its labels; the old one is gone. */
static void
assert_new_serves (struct world *w, unsigned generation)
{
  assert_non_null (w->res.new_id);
  if (w->old_id)
    assert_string_not_equal (w->res.new_id, w->old_id);
  assert_settled (w, w->res.new_id, true);
  const struct fake_container *web = fake_find (w->rt, "web");
  char gen[16];
  snprintf (gen, sizeof gen, "%u", generation);
  assert_string_equal (rt_labels_get (&web->labels, LABEL_GENERATION), gen);
  assert_string_equal (rt_labels_get (&web->labels, LABEL_NAME), "web");
  assert_string_equal (rt_labels_get (&web->labels, LABEL_ENABLE), "true");
  assert_int_equal (web->n_networks, 2);
  assert_int_equal (w->res.generation, generation);
}

static size_t
open_txns (struct world *w)
{
  return unit_open_txns (w->dir);
}

/* The txn's records end as given ("|end ok"), and nothing is open. */
static void
assert_journal_closed (struct world *w, const char *end)
{
  cleanup_free char *trail = journal_trail (w, w->txn, NULL);
  size_t lt = strlen (trail), le = strlen (end);
  if (lt < le || strcmp (trail + lt - le, end) != 0)
    fail_msg ("the journal says %s, expected it to end with %s", trail, end);
  assert_int_equal (open_txns (w), 0);
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

/* lymphd's own temporary names, and nothing else (an operator's rename of
 * a generation of ours keeps its lympho.name label). */
static void
test_temp_names (void **state)
{
  (void) state;
  char *n = regen_new_name ("web", "0a1b2c3d"), *o = regen_old_name ("web", "0a1b2c3d");
  assert_true (regen_is_temp_name (n, "web"));
  assert_true (regen_is_temp_name (o, "web"));
  assert_false (regen_is_temp_name (n, "we"));
  assert_false (regen_is_temp_name (n, "web2"));
  free (n);
  free (o);
  assert_false (regen_is_temp_name ("web", "web"));
  assert_false (regen_is_temp_name ("web-renamed", "web"));
  assert_false (regen_is_temp_name ("web-lympho-new-", "web"));
  assert_false (regen_is_temp_name ("web-lympho-new-0A1B", "web"));
  assert_false (regen_is_temp_name ("web-lympho-new-0a1b/x", "web"));
  assert_false (regen_is_temp_name ("web-lympho-mid-0a1b", "web"));
  assert_false (regen_is_temp_name ("0a1b2c3d4e5f_web", "web"));
}

/* ---- the forward paths, call by call ---- */

#define RB REGEN_ROLLED_BACK
#define OK REGEN_OK

struct after
{
  const char *call;             /* as recorded; @ stands for the txn */
  enum regen_outcome recovery;  /* when this call fails too: where recovery from the open txn ends */
};

struct step
{
  const char *call;             /* the forward call, as recorded; @ stands for the txn */
  const char *phase;            /* regen's name for the step, which begins its error */
  enum regen_outcome outcome;   /* when the call fails (OK: past the commit, it rolls forward) */
  bool old_down;                /* the old generation is stopped by then */
  enum regen_outcome on_stop;   /* when a shutdown is asked for as the call is answered */
  struct after after[4];        /* the calls that follow its failure: the rollback, or the rest forward */
};

/* Replace: the old generation serves until it is stopped, just before the
 * new one starts. */
static const struct step replace_steps[] = {
  { "image_inspect " IMG, "check-image", REGEN_REFUSED, false, RB, { { NULL } } },
  { "create web-lympho-new-@", "create", RB, false, RB, { { NULL } } },
  { "rename web web-lympho-old-@", "rename-old", RB, false, RB, { { "remove web-lympho-new-@", RB } } },
  { "rename web-lympho-new-@ web", "rename-new", RB, false, RB,
    { { "remove web-lympho-new-@", RB }, { "rename web-lympho-old-@ web", RB } } },
  { "stop web-lympho-old-@", "stop-old", RB, false, RB,
    { { "remove web", OK }, { "rename web-lympho-old-@ web", RB } } },
  { "start web", "start-new", RB, true, RB,
    { { "remove web", OK }, { "rename web-lympho-old-@ web", RB }, { "start web", RB } } },
  { "inspect web", "verify", RB, true, OK,
    { { "remove web", OK }, { "rename web-lympho-old-@ web", RB }, { "start web", RB } } },
  { "remove web-lympho-old-@", "remove-old", OK, true, OK, { { "remove web-lympho-old-@", OK } } },
};

/* Swap: the new generation starts hidden beside the old one, and joins the
 * aliases once ready. */
#define SWAP_HEAD                                                                                                  \
  { "image_inspect " IMG, "check-image", REGEN_REFUSED, false, RB, { { NULL } } },                                 \
  { "create_hidden web-lympho-new-@", "create", RB, false, RB, { { NULL } } },                                     \
  { "start web-lympho-new-@", "start-new", RB, false, RB, { { "remove web-lympho-new-@", RB } } }
#define SWAP_TAIL                                                                                                  \
  { "publish web-lympho-new-@", "publish", RB, false, RB, { { "remove web-lympho-new-@", RB } } },                 \
  { "rename web web-lympho-old-@", "rename-old", RB, false, RB, { { "remove web-lympho-new-@", RB } } },           \
  { "rename web-lympho-new-@ web", "rename-new", RB, false, RB,                                                     \
    { { "remove web-lympho-new-@", RB }, { "rename web-lympho-old-@ web", RB } } },                                 \
  { "inspect web", "verify", RB, false, OK, { { "remove web", OK }, { "rename web-lympho-old-@ web", RB } } },    \
  { "network_disconnect web-lympho-old-@ front", "drain-old", OK, false, OK,                                       \
    { { "network_disconnect web-lympho-old-@ back", OK }, { "stop web-lympho-old-@", OK },                        \
      { "remove web-lympho-old-@", OK } } },                                                                       \
  { "network_disconnect web-lympho-old-@ back", "drain-old", OK, false, OK,                                        \
    { { "stop web-lympho-old-@", OK }, { "remove web-lympho-old-@", OK } } },                                      \
  { "stop web-lympho-old-@", "stop-old", OK, false, OK, { { "remove web-lympho-old-@", OK } } },                   \
  { "remove web-lympho-old-@", "remove-old", OK, true, OK, { { "remove web-lympho-old-@", OK } } }

/* Without a healthcheck, ready is running for the settle period (0 here). */
static const struct step swap_steps[] = {
  SWAP_HEAD,
  { "inspect web-lympho-new-@", "wait-ready", RB, false, RB, { { "remove web-lympho-new-@", RB } } },
  SWAP_TAIL,
};

/* With one, it is healthy: the fake says "starting" once first. */
static const struct step swap_health_steps[] = {
  SWAP_HEAD,
  { "inspect web-lympho-new-@", "wait-ready", RB, false, RB, { { "remove web-lympho-new-@", RB } } },
  { "inspect web-lympho-new-@", "wait-ready", RB, false, RB, { { "remove web-lympho-new-@", RB } } },
  SWAP_TAIL,
};

/* Nothing holds the name yet (a first generation, or a recreation): the new
 * one is made under the name itself. */
static const struct step first_steps[] = {
  { "image_inspect " IMG, "check-image", REGEN_REFUSED, false, RB, { { NULL } } },
  { "create web", "create", RB, false, RB, { { NULL } } },
  { "start web", "start-new", RB, false, RB, { { "remove web", OK } } },
  { "inspect web", "verify", RB, false, OK, { { "remove web", OK } } },
};

#define REPLACE_TRAIL                                                                                              \
  "begin|step create|step created|step rename-old|step rename-new|step stop-old|step start-new|commit|"            \
  "step remove-old|end ok"
#define SWAP_TRAIL                                                                                                 \
  "begin|step create|step created|step start-new|step publish|step rename-old|step rename-new|commit|"             \
  "step drain-old|step stop-old|step remove-old|end ok"

struct variant
{
  const char *name;
  enum strategy strategy;
  bool health;
  bool keep_old_down;
  bool no_old;
  const struct step *steps;
  size_t n_steps;
  const char *trail; /* the journal of the forward path */
};

#define STEPS(t) t, sizeof t / sizeof t[0]
static const struct variant variants[] = {
  { "replace", STRATEGY_REPLACE, false, false, false, STEPS (replace_steps), REPLACE_TRAIL },
  { "replace, keep the old one down", STRATEGY_REPLACE, false, true, false, STEPS (replace_steps), REPLACE_TRAIL },
  { "swap", STRATEGY_SWAP, false, false, false, STEPS (swap_steps), SWAP_TRAIL },
  { "swap with a healthcheck", STRATEGY_SWAP, true, false, false, STEPS (swap_health_steps), SWAP_TRAIL },
  { "first generation", STRATEGY_REPLACE, false, false, true, STEPS (first_steps),
    "begin|step create|step created|step start-new|commit|end ok" },
};
enum { V_REPLACE, V_KEEP_DOWN, V_SWAP, V_SWAP_HEALTH, V_FIRST };

struct kase
{
  const struct variant *v;
  size_t step;
  int rb; /* -1, or the index of the call after the failure that fails too */
};

/* The calls that follow step s's failure: with keep_old_down, a rollback
 * does not start the old one again. */
static size_t
after_calls (const struct variant *v, const struct step *s, const struct after **out)
{
  size_t n = 0;
  for (size_t i = 0; i < 4 && s->after[i].call; i++)
    {
      if (v->keep_old_down && s->outcome != OK && str_has_prefix (s->after[i].call, "start "))
        continue;
      out[n++] = &s->after[i];
    }
  return n;
}

/* Which call of its op the forward step (and then the rb-th call after it) is. */
static unsigned
nth_call (const struct variant *v, size_t step, const struct after *const *after, int rb, enum fake_op op)
{
  unsigned n = 0;
  for (size_t i = 0; i <= step; i++)
    n += fake_op_parse (v->steps[i].call) == (int) op;
  for (int j = 0; j <= rb; j++)
    n += fake_op_parse (after[j]->call) == (int) op;
  return n;
}

static void
assert_error (struct world *w, int status, const char *phase, const char *part)
{
  assert_int_equal (w->res.err.status, status);
  cleanup_free char *prefix = xasprintf ("%s: ", phase);
  if (!str_has_prefix (w->res.err.msg, prefix) || (part && strstr (w->res.err.msg, part) == NULL))
    fail_msg ("error `%s`: expected it to begin with `%s` and name `%s`", w->res.err.msg, prefix,
              part ? part : "");
}

/* The old generation holds the name again, running unless kept down. */
static void
assert_old_serves (struct world *w, bool down)
{
  assert_true (w->old_id == NULL ? w->res.new_id == NULL : strcmp (w->res.new_id, w->old_id) == 0);
  assert_int_equal (w->res.generation, w->old_id ? OLD_GEN : 0);
  assert_settled (w, w->old_id, !down);
  if (w->old_id)
    assert_string_equal (rt_labels_get (&fake_find (w->rt, "web")->labels, LABEL_GENERATION), "3");
}

static void
test_forward (void **state)
{
  struct world *w = *state;
  const struct kase *k = w->kase;
  const struct variant *v = k->v;
  start (w, v->strategy, v->keep_old_down);
  run (w);
  const char *want[16] = { 0 };
  for (size_t i = 0; i < v->n_steps; i++)
    want[i] = v->steps[i].call;
  /* A step added to regen.c without its row in the table fails here. */
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_OK);
  assert_int_equal (w->res.err.status, 0);
  assert_false (w->res.recovered);
  assert_int_equal (w->res.strategy, v->strategy);
  assert_string_equal (w->res.name, "web");
  assert_string_equal (w->res.txn, w->txn);
  assert_string_equal (w->res.reason, "test");
  assert_true (w->res.running_mono_ms > 0);
  assert_new_serves (w, v->no_old ? 0 : OLD_GEN + 1);
  assert_string_equal (rt_labels_get (&fake_find (w->rt, "web")->labels, LABEL_TXN), w->txn);
  cleanup_free char *trail = journal_trail (w, w->txn, NULL);
  assert_string_equal (trail, v->trail);
  assert_int_equal (open_txns (w), 0);
}

/* Recover the transaction a broken regeneration left open, as lymphd does
 * at its next sync, and check where the engine ends. */
static void
recover (struct world *w, enum regen_outcome want, bool old_down)
{
  struct txn *open = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_load (w->dir, &open, &n, &damaged, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (open[0].txn, w->txn);
  assert_false (open[0].committed);
  size_t from = fake_n_calls (w->rt);
  w->done = false;
  w->n_done = 0;
  w->in_start = true;
  w->r = regen_recover (&w->env, &open[0], &w->golden, on_done, w);
  w->in_start = false;
  run (w);
  /* It looks before it acts: the old one, then what the txn created. */
  if (w->old_id)
    assert_int_equal (fake_call_op (w->rt, from++), FAKE_INSPECT);
  cleanup_free char *list = xasprintf ("list " LABEL_TXN "=%s", w->txn);
  assert_string_equal (fake_call_line (w->rt, from), list);

  assert_true (w->res.recovered);
  assert_string_equal (w->res.reason, "recovery");
  if (w->res.outcome != want)
    fail_msg ("recovery ended %s (%s), expected %s", regen_outcome_name (w->res.outcome), w->res.err.msg,
              regen_outcome_name (want));
  if (want == OK)
    {
      assert_non_null (open[0].new_id);
      assert_string_equal (w->res.new_id, open[0].new_id);
      assert_settled (w, open[0].new_id, true);
      assert_journal_closed (w, w->old_id ? "|commit|step remove-old|end ok" : "|commit|end ok");
    }
  else
    {
      assert_old_serves (w, old_down);
      assert_journal_closed (w, "|end rolled-back");
    }
  for (size_t i = 0; i < n; i++)
    txn_free (&open[i]);
  free (open);
}

static void
test_step_fails (void **state)
{
  struct world *w = *state;
  const struct kase *k = w->kase;
  const struct variant *v = k->v;
  const struct step *s = &v->steps[k->step];
  const struct after *after[4];
  size_t n_after = after_calls (v, s, after);
  enum fake_op op = fake_op_parse (s->call);
  fake_fail (w->rt, op, nth_call (v, k->step, after, -1, op), 1, EIO, INJECTED);
  if (k->rb >= 0)
    {
      enum fake_op op2 = fake_op_parse (after[k->rb]->call);
      fake_fail (w->rt, op2, nth_call (v, k->step, after, k->rb, op2), 1, EIO, INJECTED " (rollback)");
    }
  start (w, v->strategy, v->keep_old_down);
  run (w);

  const char *want[24] = { 0 };
  size_t n = 0;
  for (size_t i = 0; i <= k->step; i++)
    want[n++] = v->steps[i].call;
  for (size_t j = 0; j < n_after && (k->rb < 0 || (int) j <= k->rb); j++)
    want[n++] = after[j]->call;
  assert_calls (w, 0, want);

  bool down = v->keep_old_down && s->old_down;
  if (k->rb >= 0)
    {
      /* The rollback failed: the first error is told, and the journal keeps
       * the transaction open for recovery. */
      assert_int_equal (w->res.outcome, REGEN_BROKEN);
      assert_error (w, EIO, s->phase, INJECTED);
      assert_int_equal (open_txns (w), 1);
      cleanup_free char *trail = journal_trail (w, w->txn, NULL);
      assert_null (strstr (trail, "end"));
      recover (w, after[k->rb]->recovery, down);
      return;
    }
  switch (s->outcome)
    {
    case REGEN_REFUSED:
      {
        assert_int_equal (w->res.outcome, REGEN_REFUSED);
        assert_error (w, EIO, s->phase, INJECTED);
        assert_old_serves (w, false);
        /* Nothing was begun. */
        cleanup_free char *trail = journal_trail (w, w->txn, NULL);
        assert_string_equal (trail, "");
        break;
      }
    case REGEN_ROLLED_BACK:
      assert_int_equal (w->res.outcome, REGEN_ROLLED_BACK);
      assert_error (w, EIO, s->phase, INJECTED);
      assert_old_serves (w, down);
      assert_journal_closed (w, "|end rolled-back");
      break;
    case REGEN_OK:
      /* Past the commit a failure is logged and the way forward goes on. */
      assert_int_equal (w->res.outcome, REGEN_OK);
      assert_int_equal (w->res.err.status, 0);
      assert_new_serves (w, OLD_GEN + 1);
      assert_journal_closed (w, "|step remove-old|end ok");
      break;
    default:
      fail ();
    }
}

static void
hook_stop (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct world *w = ud;
  (void) rt;
  (void) call;
  assert_non_null (w->r);
  regen_request_stop (w->r);
}

/* lymphd shuts down while the call is in flight: before the commit the
 * regeneration rolls back after the step in flight, after it goes on. */
static void
test_step_stop (void **state)
{
  struct world *w = *state;
  const struct kase *k = w->kase;
  const struct variant *v = k->v;
  const struct step *s = &v->steps[k->step];
  enum fake_op op = fake_op_parse (s->call);
  fake_hook (w->rt, op, nth_call (v, k->step, NULL, -1, op), hook_stop, w);
  start (w, v->strategy, v->keep_old_down);
  run (w);
  if (w->res.outcome != s->on_stop)
    fail_msg ("ended %s (%s), expected %s", regen_outcome_name (w->res.outcome), w->res.err.msg,
              regen_outcome_name (s->on_stop));
  if (s->on_stop == RB)
    {
      assert_int_equal (w->res.err.status, ECANCELED);
      assert_old_serves (w, false);
      assert_journal_closed (w, "|end rolled-back");
    }
  else
    {
      assert_int_equal (w->res.err.status, 0);
      assert_new_serves (w, v->no_old ? 0 : OLD_GEN + 1);
      assert_journal_closed (w, "|end ok");
    }
}

/* ---- single cases ---- */

/* The pinned image is gone: refused, and nothing touched, not even the journal. */
static void
test_image_missing (void **state)
{
  struct world *w = *state;
  free (w->golden.image_id);
  w->golden.image_id = xstrdup ("sha256:9999999999999999999999999999999999999999999999999999999999999999");
  start (w, STRATEGY_REPLACE, false);
  run (w);
  const char *want[] = { "image_inspect sha256:9999999999999999999999999999999999999999999999999999999999999999",
                         NULL };
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_REFUSED);
  assert_error (w, ENOENT, "check-image", "pinned image");
  assert_old_serves (w, false);
  struct stat st;
  cleanup_free char *path = xasprintf ("%s/journal", w->dir);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_size, 0);
}

static void
hook_exit (struct runtime *rt, const struct fake_call *call, void *ud)
{
  (void) ud;
  fake_set_state (rt, call->id, RT_STATE_EXITED, 1);
}

/* The new generation dies at once: verify sees it before the commit. */
static void
test_new_dies_at_once (void **state)
{
  struct world *w = *state;
  fake_hook (w->rt, FAKE_START, 1, hook_exit, NULL);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  const char *want[] = { "image_inspect " IMG, "create web-lympho-new-@", "rename web web-lympho-old-@",
                         "rename web-lympho-new-@ web", "stop web-lympho-old-@", "start web", "inspect web",
                         "remove web", "rename web-lympho-old-@ web", "start web", NULL };
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_ROLLED_BACK);
  assert_error (w, EIO, "verify", "exited (exit code 1)");
  assert_old_serves (w, false);
  assert_journal_closed (w, "|end rolled-back");
}

/* An engine that acknowledges a rename it did not do: verify sees the new
 * generation under its temporary name and nothing is committed. */
static void
test_rename_not_done (void **state)
{
  struct world *w = *state;
  fake_lie (w->rt, FAKE_RENAME, 2);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  assert_int_equal (w->res.outcome, REGEN_ROLLED_BACK);
  assert_error (w, EIO, "verify", "is named web-lympho-new-");
  assert_old_serves (w, false);
  assert_journal_closed (w, "|end rolled-back");
}

static void
hook_unhealthy (struct runtime *rt, const struct fake_call *call, void *ud)
{
  (void) ud;
  fake_set_health (rt, call->id, RT_HEALTH_UNHEALTHY);
}

static void
test_swap_unhealthy (void **state)
{
  struct world *w = *state;
  fake_hook (w->rt, FAKE_START, 1, hook_unhealthy, NULL);
  start (w, STRATEGY_SWAP, false);
  run (w);
  const char *want[] = { "image_inspect " IMG, "create_hidden web-lympho-new-@", "start web-lympho-new-@",
                         "inspect web-lympho-new-@", "remove web-lympho-new-@", NULL };
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_ROLLED_BACK);
  assert_error (w, EIO, "wait-ready", "unhealthy");
  assert_old_serves (w, false);
}

/* Never healthy: it gives up after health-timeout, polling meanwhile. */
static void
test_swap_health_timeout (void **state)
{
  struct world *w = *state;
  fake_set_health_delay (w->rt, UINT_MAX);
  w->cfg.health_timeout_ms = 30;
  w->timing.ready_poll_ms = 5;
  uint64_t t0 = now_mono_ms ();
  start (w, STRATEGY_SWAP, false);
  run (w);
  assert_true (now_mono_ms () - t0 >= 30);
  assert_int_equal (w->res.outcome, REGEN_ROLLED_BACK);
  assert_error (w, ETIMEDOUT, "wait-ready", "not healthy within 30 ms");
  assert_true (fake_calls_of (w->rt, FAKE_INSPECT) >= 3);
  assert_int_equal (fake_calls_of (w->rt, FAKE_PUBLISH), 0);
  assert_old_serves (w, false);
}

struct stamps
{
  uint64_t started, published;
};

static void
hook_stamp_start (struct runtime *rt, const struct fake_call *call, void *ud)
{
  (void) rt;
  (void) call;
  ((struct stamps *) ud)->started = now_mono_ms ();
}

static void
hook_stamp_publish (struct runtime *rt, const struct fake_call *call, void *ud)
{
  (void) rt;
  (void) call;
  ((struct stamps *) ud)->published = now_mono_ms ();
}

/* Without a healthcheck, swap publishes once the new one ran for settle. */
static void
test_swap_settle (void **state)
{
  struct world *w = *state;
  struct stamps st = { 0 };
  w->cfg.settle_ms = 30;
  w->timing.ready_poll_ms = 5;
  fake_hook (w->rt, FAKE_START, 1, hook_stamp_start, &st);
  fake_hook (w->rt, FAKE_PUBLISH, 1, hook_stamp_publish, &st);
  start (w, STRATEGY_SWAP, false);
  run (w);
  assert_int_equal (w->res.outcome, REGEN_OK);
  assert_true (st.started > 0 && st.published >= st.started + 30);
  /* inspects of the new one before the publish, and one to verify */
  assert_true (fake_calls_of (w->rt, FAKE_INSPECT) >= 3);
  assert_new_serves (w, OLD_GEN + 1);
}

/* An engine without hidden creation: swap creates it plainly and has
 * nothing to publish. */
static void
test_swap_without_hidden_create (void **state)
{
  struct world *w = *state;
  w->ops.create_hidden = NULL;
  w->ops.publish = NULL;
  start (w, STRATEGY_SWAP, false);
  run (w);
  const char *want[] = { "image_inspect " IMG,
                         "create web-lympho-new-@",
                         "start web-lympho-new-@",
                         "inspect web-lympho-new-@",
                         "rename web web-lympho-old-@",
                         "rename web-lympho-new-@ web",
                         "inspect web",
                         "network_disconnect web-lympho-old-@ front",
                         "network_disconnect web-lympho-old-@ back",
                         "stop web-lympho-old-@",
                         "remove web-lympho-old-@",
                         NULL };
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_OK);
  assert_new_serves (w, OLD_GEN + 1);
  cleanup_free char *trail = journal_trail (w, w->txn, NULL);
  assert_null (strstr (trail, "publish"));
}

static void
hook_drop_old (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct world *w = ud;
  (void) call;
  fake_drop (rt, w->old_id);
}

/* Someone removed the old generation meanwhile: its removal finds nothing,
 * which is what it wanted. */
static void
test_old_removed_meanwhile (void **state)
{
  struct world *w = *state;
  fake_hook (w->rt, FAKE_INSPECT, 1, hook_drop_old, w);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  assert_int_equal (w->res.outcome, REGEN_OK);
  assert_int_equal (w->res.err.status, 0);
  assert_int_equal (fake_calls_of (w->rt, FAKE_REMOVE), 1);
  assert_new_serves (w, OLD_GEN + 1);
  assert_journal_closed (w, "|commit|step remove-old|end ok");
}

/* The journal's disk fills up. Found through /proc: the journal's fd is
 * private to journal.c. */
static int
journal_fd (struct world *w)
{
  cleanup_free char *want = xasprintf ("%s/journal", w->dir);
  char real[PATH_MAX];
  assert_non_null (realpath (want, real));
  DIR *d = opendir ("/proc/self/fd");
  assert_non_null (d);
  int found = -1;
  for (struct dirent *e; found < 0 && (e = readdir (d));)
    {
      char link[PATH_MAX], path[PATH_MAX];
      snprintf (path, sizeof path, "/proc/self/fd/%s", e->d_name);
      ssize_t n = readlink (path, link, sizeof link - 1);
      if (n <= 0)
        continue;
      link[n] = '\0';
      if (strcmp (link, real) == 0)
        found = atoi (e->d_name);
    }
  closedir (d);
  assert_true (found >= 0);
  return found;
}

struct full
{
  struct world *w;
  int fd, saved;
};

static void
hook_disk_full (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct full *f = ud;
  (void) rt;
  (void) call;
  f->fd = journal_fd (f->w);
  f->saved = dup (f->fd);
  int full = open ("/dev/full", O_WRONLY | O_CLOEXEC);
  assert_true (f->saved >= 0 && full >= 0);
  assert_true (dup2 (full, f->fd) == f->fd);
  close (full);
}

static void
disk_freed (struct full *f)
{
  assert_true (dup2 (f->saved, f->fd) == f->fd);
  close (f->saved);
}

/* The commit cannot be written: no step is taken without its intent on disk,
 * not even the rollback's, so it stops broken, the new generation holding the
 * name; once the disk has room, recovery rolls forward. */
static void
test_journal_full_at_commit (void **state)
{
  struct world *w = *state;
  struct full f = { w, -1, -1 };
  fake_hook (w->rt, FAKE_INSPECT, 1, hook_disk_full, &f);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  disk_freed (&f);
  const char *want[] = { "image_inspect " IMG, "create web-lympho-new-@", "rename web web-lympho-old-@",
                         "rename web-lympho-new-@ web", "stop web-lympho-old-@", "start web", "inspect web", NULL };
  assert_calls (w, 0, want);
  assert_int_equal (w->res.outcome, REGEN_BROKEN);
  assert_error (w, ENOSPC, "commit", "journal");
  assert_int_equal (fake_find (w->rt, "web")->state, RT_STATE_RUNNING);
  recover (w, OK, false);
}

/* The begin record cannot be written: refused, nothing touched. */
static void
test_journal_full_at_begin (void **state)
{
  struct world *w = *state;
  struct full f = { w, -1, -1 };
  fake_hook (w->rt, FAKE_IMAGE_INSPECT, 1, hook_disk_full, &f);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  disk_freed (&f);
  assert_int_equal (fake_n_calls (w->rt), 1);
  assert_int_equal (w->res.outcome, REGEN_REFUSED);
  assert_int_equal (w->res.err.status, ENOSPC);
  assert_old_serves (w, false);
  assert_int_equal (open_txns (w), 0);
}

/* An open transaction whose containers are both gone: recovery makes the
 * service again from the snapshot; without a snapshot it says so. */
static void
test_recover_recreates (void **state)
{
  struct world *w = *state;
  lympho_error_t err = { 0 };
  struct txn t = {
    .txn = (char *) "c0ffee00", .name = (char *) "web", .old_id = w->old_id,
    .new_name = (char *) "web-lympho-new-c0ffee00", .old_name = (char *) "web-lympho-old-c0ffee00",
    .strategy = (char *) "replace", .reason = (char *) "test", .generation = OLD_GEN + 1,
  };
  assert_int_equal (journal_begin (w->journal, &t, &err), 0);
  assert_int_equal (journal_step (w->journal, t.txn, "create", NULL, &err), 0);
  fake_drop (w->rt, w->old_id);
  w->txn = xstrdup (t.txn);

  struct txn *open = NULL;
  size_t n = 0;
  assert_int_equal (journal_load (w->dir, &open, &n, &damaged, &err), 0);
  assert_int_equal (n, 1);
  w->in_start = true;
  w->r = regen_recover (&w->env, &open[0], NULL, on_done, w);
  w->in_start = false;
  run (w);
  assert_int_equal (w->res.outcome, REGEN_REFUSED);
  assert_true (w->res.recovered);
  assert_int_equal (w->res.err.status, ENOENT);
  assert_int_equal (fake_count (w->rt), 1); /* db alone */
  assert_journal_closed (w, "|end failed");

  /* Begun again: this time with the snapshot. */
  assert_int_equal (journal_begin (w->journal, &t, &err), 0);
  w->done = false;
  w->n_done = 0;
  size_t from = fake_n_calls (w->rt);
  w->r = regen_recover (&w->env, &open[0], &w->golden, on_done, w);
  run (w);
  cleanup_free char *inspect_old = xasprintf ("inspect %s", w->old_id); /* gone: named by its id */
  const char *want[] = { inspect_old, "list " LABEL_TXN "=@", "image_inspect " IMG, "create web", "start web",
                         "inspect web", NULL };
  assert_calls (w, from, want);
  assert_int_equal (w->res.outcome, REGEN_OK);
  /* lymphd counts the recoveries in flight by this flag: until none is
   * left it admits no regeneration and does not sync the engine. */
  assert_true (w->res.recovered);
  assert_string_equal (w->res.reason, "recovery");
  assert_settled (w, w->res.new_id, true);
  assert_journal_closed (w, "|commit|end ok");
  for (size_t i = 0; i < n; i++)
    txn_free (&open[i]);
  free (open);
}

/* Past the commit the old generation cannot be removed: the new one serves,
 * the regeneration is OK, and the result says what was left. */
static void
test_remove_old_fails_for_good (void **state)
{
  struct world *w = *state;
  fake_fail (w->rt, FAKE_REMOVE, 1, 0, EIO, INJECTED);
  start (w, STRATEGY_REPLACE, false);
  run (w);
  assert_int_equal (w->res.outcome, REGEN_OK);
  assert_int_equal (fake_calls_of (w->rt, FAKE_REMOVE), 3); /* tried three times */
  const struct fake_container *left = fake_find (w->rt, w->old_id);
  assert_non_null (left);
  assert_true (str_has_prefix (left->name, "web-lympho-old-"));
  assert_int_equal (left->state, RT_STATE_EXITED);
  assert_string_equal (fake_find (w->rt, "web")->id, w->res.new_id);
  assert_journal_closed (w, "|step remove-old|step remove-old|step remove-old|end ok");
  /* lymphd's history records this error with the OK (admission.c reads it). */
  assert_error (w, EIO, "remove-old", INJECTED);
}

/* ---- main: the tables become cases ---- */

static const struct kase single_replace = { &variants[V_REPLACE], 0, -1 };
static const struct kase single_swap = { &variants[V_SWAP], 0, -1 };
static const struct kase single_swap_health = { &variants[V_SWAP_HEALTH], 0, -1 };

static int
setup_kase (void **state)
{
  const struct kase *k = *state;
  struct world *w = world_new (k && k->v->health, k && k->v->no_old);
  w->kase = k;
  *state = w;
  return 0;
}

#define MAX_KASES 1024

struct suite
{
  struct CMUnitTest *t;
  size_t n, cap;
  char **names;
  struct kase *k;
  size_t nk;
};

static void
add (struct suite *s, char *name, CMUnitTestFunction fn, const struct kase *k)
{
  if (s->n == s->cap)
    {
      s->cap = s->cap ? 2 * s->cap : 64;
      s->t = xrealloc (s->t, s->cap * sizeof *s->t);
      s->names = xrealloc (s->names, s->cap * sizeof *s->names);
    }
  s->names[s->n] = name;
  s->t[s->n] = (struct CMUnitTest){ .name = name, .test_func = fn, .setup_func = setup_kase,
                                    .teardown_func = teardown, .initial_state = (void *) k };
  s->n++;
}

static const struct kase *
kase (struct suite *s, const struct variant *v, size_t step, int rb)
{
  if (s->nk == MAX_KASES)
    abort ();
  s->k[s->nk] = (struct kase){ v, step, rb };
  return &s->k[s->nk++];
}

int
main (void)
{
  log_set_level (getenv ("TEST_REGEN_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
  struct suite s = { 0 };
  s.k = xmalloc0 (MAX_KASES * sizeof *s.k);

  add (&s, xstrdup ("fake engine: a real engine's rules"), test_fake_engine_rules, NULL);
  add (&s, xstrdup ("fake engine: scripts"), test_fake_scripts, NULL);
  add (&s, xstrdup ("fake engine: events, close"), test_fake_events_and_close, NULL);
  add (&s, xstrdup ("temporary names"), test_temp_names, NULL);

  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
    {
      const struct variant *v = &variants[i];
      add (&s, xasprintf ("%s: forward", v->name), test_forward, kase (&s, v, 0, -1));
      for (size_t j = 0; j < v->n_steps; j++)
        {
          const struct step *st = &v->steps[j];
          add (&s, xasprintf ("%s: `%s` fails", v->name, st->call), test_step_fails, kase (&s, v, j, -1));
          if (st->outcome != RB)
            continue;
          const struct after *after[4];
          size_t n_after = after_calls (v, st, after);
          for (size_t r = 0; r < n_after; r++)
            add (&s, xasprintf ("%s: `%s` fails, then `%s`: broken, recovered", v->name, st->call, after[r]->call),
                 test_step_fails, kase (&s, v, j, (int) r));
        }
      if (v->keep_old_down)
        continue; /* a shutdown does not depend on it */
      for (size_t j = 0; j < v->n_steps; j++)
        add (&s, xasprintf ("%s: shutdown during `%s`", v->name, v->steps[j].call), test_step_stop,
             kase (&s, v, j, -1));
    }

  add (&s, xstrdup ("pinned image missing: refused"), test_image_missing, &single_replace);
  add (&s, xstrdup ("new generation dies at once"), test_new_dies_at_once, &single_replace);
  add (&s, xstrdup ("engine acknowledges a rename it did not do"), test_rename_not_done, &single_replace);
  add (&s, xstrdup ("swap: unhealthy"), test_swap_unhealthy, &single_swap_health);
  add (&s, xstrdup ("swap: never healthy"), test_swap_health_timeout, &single_swap_health);
  add (&s, xstrdup ("swap: settle period"), test_swap_settle, &single_swap);
  add (&s, xstrdup ("swap: engine without hidden create"), test_swap_without_hidden_create, &single_swap);
  add (&s, xstrdup ("old generation removed meanwhile"), test_old_removed_meanwhile, &single_replace);
  add (&s, xstrdup ("journal full at commit: broken, recovered"), test_journal_full_at_commit, &single_replace);
  add (&s, xstrdup ("journal full at begin: refused"), test_journal_full_at_begin, &single_replace);
  add (&s, xstrdup ("recovery with both generations gone"), test_recover_recreates, &single_replace);
  add (&s, xstrdup ("old generation cannot be removed after the commit"), test_remove_old_fails_for_good,
       &single_replace);

  int ret = _cmocka_run_group_tests ("regen", s.t, s.n, NULL, NULL);
  for (size_t i = 0; i < s.n; i++)
    free (s.names[i]);
  free (s.names);
  free (s.t);
  free (s.k);
  return ret;
}
