/* Journal replay at every crash point, and the recovery decision, for the
 * records of both strategies in the order shim/regen.c writes them (checked
 * against the journal a regeneration writes on a fake engine, so that the
 * tables below cannot drift from the code again). */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lympho/config.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/util.h"

/* --- the records of one regeneration, crash point by crash point ------- */

/* What the engine holds once the step a record announces was taken. */
enum effect
{
  FX_NONE = 0,
  FX_NEW_EXISTS,  /* created under its temporary name, stopped */
  FX_NEW_RUNNING,
  FX_OLD_RENAMED, /* the old one moved away from the name (still running) */
  FX_NEW_NAMED,   /* the new one holds the name */
  FX_OLD_STOPPED,
  FX_OLD_GONE,
};

struct rec
{
  const char *line;      /* the record, txn "t1" */
  enum effect effect;
  /* What journal_replay reports for a crash right after this record. */
  const char *last_step;
  bool committed;
  const char *new_id;
  /* What recovery decides when the record's step was not taken yet, and
   * when it was (the same for records that announce no step). */
  enum recover_way not_taken, taken;
};

#define BEGIN(strategy)                                                                                                \
  "{\"op\":\"begin\",\"txn\":\"t1\",\"name\":\"web\",\"old_id\":\"aaa\",\"gen\":3,"                                   \
  "\"new_name\":\"web-lympho-new-t1\",\"old_name\":\"web-lympho-old-t1\","                                       \
  "\"strategy\":\"" strategy "\",\"reason\":\"ttl\"}\n"
#define STEP(step, id) "{\"op\":\"step\",\"txn\":\"t1\",\"step\":\"" step "\",\"id\":" id "}\n"
#define COMMIT "{\"op\":\"commit\",\"txn\":\"t1\",\"new_id\":\"bbb\"}\n"
#define END "{\"op\":\"end\",\"txn\":\"t1\",\"result\":\"ok\"}\n"
#define OLD "\"aaa\""
#define NEW "\"bbb\""
#define BACK RECOVER_BACK
#define FWD RECOVER_FORWARD

/* Replace: names move while the old one still serves; the window without
 * service is stop-old + start-new. */
static const struct rec replace_recs[] = {
  { BEGIN ("replace"), FX_NONE, NULL, false, NULL, BACK, BACK },
  { STEP ("create", "null"), FX_NEW_EXISTS, "create", false, NULL, BACK, BACK },
  { STEP ("created", NEW), FX_NONE, "created", false, "bbb", BACK, BACK },
  { STEP ("rename-old", OLD), FX_OLD_RENAMED, "rename-old", false, "bbb", BACK, BACK },
  { STEP ("rename-new", NEW), FX_NEW_NAMED, "rename-new", false, "bbb", BACK, FWD },
  { STEP ("stop-old", OLD), FX_OLD_STOPPED, "stop-old", false, "bbb", FWD, FWD },
  { STEP ("start-new", NEW), FX_NEW_RUNNING, "start-new", false, "bbb", FWD, FWD },
  { COMMIT, FX_NONE, "start-new", true, "bbb", FWD, FWD },
  { STEP ("remove-old", OLD), FX_OLD_GONE, "remove-old", true, "bbb", FWD, FWD },
  { END, FX_NONE, NULL, false, NULL, 0, 0 },
};

/* Swap: the new one is created hidden, started and ready, published, and
 * takes the name; the old one leaves its networks, stops and goes. */
static const struct rec swap_recs[] = {
  { BEGIN ("swap"), FX_NONE, NULL, false, NULL, BACK, BACK },
  { STEP ("create", "null"), FX_NEW_EXISTS, "create", false, NULL, BACK, BACK },
  { STEP ("created", NEW), FX_NONE, "created", false, "bbb", BACK, BACK },
  { STEP ("start-new", NEW), FX_NEW_RUNNING, "start-new", false, "bbb", BACK, BACK },
  { STEP ("publish", NEW), FX_NONE, "publish", false, "bbb", BACK, BACK },
  { STEP ("rename-old", OLD), FX_OLD_RENAMED, "rename-old", false, "bbb", BACK, BACK },
  { STEP ("rename-new", NEW), FX_NEW_NAMED, "rename-new", false, "bbb", BACK, FWD },
  { COMMIT, FX_NONE, "rename-new", true, "bbb", FWD, FWD },
  { STEP ("drain-old", OLD), FX_NONE, "drain-old", true, "bbb", FWD, FWD },
  { STEP ("stop-old", OLD), FX_OLD_STOPPED, "stop-old", true, "bbb", FWD, FWD },
  { STEP ("remove-old", OLD), FX_OLD_GONE, "remove-old", true, "bbb", FWD, FWD },
  { END, FX_NONE, NULL, false, NULL, 0, 0 },
};

struct strategy_case
{
  const char *strategy;
  const struct rec *recs;
  size_t n;
};
static const struct strategy_case cases[] = {
  { "replace", replace_recs, sizeof replace_recs / sizeof replace_recs[0] },
  { "swap", swap_recs, sizeof swap_recs / sizeof swap_recs[0] },
};

static char *
prefix (const struct rec *recs, size_t upto)
{
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < upto; i++)
    buf_appends (&b, recs[i].line);
  char *s = buf_steal (&b);
  return s ? s : xstrdup ("");
}

static void
free_txns (struct txn *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    txn_free (&v[i]);
  free (v);
}

static void
apply (struct recover_obs *o, enum effect fx)
{
  switch (fx)
    {
    case FX_NONE:
      break;
    case FX_NEW_EXISTS:
      o->new_exists = true;
      break;
    case FX_NEW_RUNNING:
      o->new_running = true;
      break;
    case FX_OLD_RENAMED:
      o->old_holds_name = false;
      break;
    case FX_NEW_NAMED:
      o->new_holds_name = true;
      break;
    case FX_OLD_STOPPED:
      o->old_running = false;
      break;
    case FX_OLD_GONE:
      o->old_exists = o->old_running = o->old_holds_name = false;
      break;
    }
}

/* What recovery decides must keep something to serve: it rolls back only to
 * an old generation that exists, forward only to a new one that exists. */
static void
check_way (const struct recover_obs *o, bool committed, enum recover_way want, const char *strategy, size_t k,
           const char *when)
{
  enum recover_way got = recover_decide (o, committed);
  if (got != want)
    fail_msg ("%s, crash after record %zu, step %s: recover_decide %d, want %d", strategy, k, when, got, want);
  if (got == RECOVER_BACK)
    assert_true (o->old_exists);
  if (got == RECOVER_FORWARD)
    assert_true (o->new_exists);
}

/* A crash after k records: before the end, one open transaction with what
 * was recorded so far; after the end, none. For each, the engine states the
 * crash can leave (the last announced step taken or not) and what recovery
 * decides about them. */
static void
test_every_crash_point (void **state)
{
  (void) state;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    {
      const struct strategy_case *sc = &cases[c];
      /* Before anything: the old generation runs under its name. */
      struct recover_obs done = { .old_exists = true, .old_running = true, .old_holds_name = true };
      for (size_t k = 0; k <= sc->n; k++)
        {
          cleanup_free char *text = prefix (sc->recs, k);
          struct txn *v = NULL;
          size_t n = 0;
          lympho_error_t err = { 0 };
          assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
          if (k == 0 || k == sc->n)
            {
              assert_int_equal (n, 0);
              free_txns (v, n);
              continue;
            }
          const struct rec *r = &sc->recs[k - 1];
          assert_int_equal (n, 1);
          assert_string_equal (v[0].txn, "t1");
          assert_string_equal (v[0].name, "web");
          assert_string_equal (v[0].old_id, "aaa");
          assert_string_equal (v[0].new_name, "web-lympho-new-t1");
          assert_string_equal (v[0].old_name, "web-lympho-old-t1");
          assert_string_equal (v[0].strategy, sc->strategy);
          assert_string_equal (v[0].reason, "ttl");
          assert_int_equal (v[0].generation, 3);
          assert_int_equal (v[0].committed, r->committed);
          if (r->new_id)
            assert_string_equal (v[0].new_id, r->new_id);
          else
            assert_null (v[0].new_id);
          if (r->last_step)
            assert_string_equal (v[0].last_step, r->last_step);
          else
            assert_null (v[0].last_step);

          /* The engine as the crash left it, with the replayed commit flag. */
          check_way (&done, v[0].committed, r->not_taken, sc->strategy, k, "not taken");
          apply (&done, r->effect);
          check_way (&done, v[0].committed, r->taken, sc->strategy, k, "taken");
          free_txns (v, n);
        }
      /* At the end the new generation alone holds the name and runs. */
      assert_false (done.old_exists);
      assert_true (done.new_exists && done.new_running && done.new_holds_name);
    }
}

static void
test_torn_last_line_ignored (void **state)
{
  (void) state;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    {
      const struct rec *recs = cases[c].recs;
      cleanup_free char *text = prefix (recs, 3);
      /* The crash hit while the record after "created" was being written. */
      cleanup_free char *torn = xasprintf ("%s%.20s", text, recs[3].line);
      struct txn *v = NULL;
      size_t n = 0;
      lympho_error_t err = { 0 };
      assert_int_equal (journal_replay (torn, strlen (torn), &v, &n, &err), 0);
      assert_int_equal (n, 1);
      assert_string_equal (v[0].last_step, "created");
      free_txns (v, n);
    }
}

static void
test_corruption_refused (void **state)
{
  (void) state;
  const char *bad = "{\"op\":\"begin\",\"txn\":\"t1\"\n{\"op\":\"end\",\"txn\":\"t1\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_true (journal_replay (bad, strlen (bad), &v, &n, &err) < 0);
  assert_non_null (strstr (err.msg, "line 1"));
  const char *unknown = "{\"op\":\"frobnicate\",\"txn\":\"t1\"}\n";
  cleanup_free char *both = xasprintf ("%s%s", replace_recs[0].line, unknown);
  assert_true (journal_replay (both, strlen (both), &v, &n, &err) < 0);
  assert_non_null (strstr (err.msg, "unknown op"));
  assert_non_null (strstr (err.msg, "line 2"));
  const char *nogen = "{\"op\":\"begin\",\"txn\":\"t2\",\"name\":\"x\"}\n";
  assert_true (journal_replay (nogen, strlen (nogen), &v, &n, &err) < 0);
  assert_non_null (strstr (err.msg, "bad begin"));
}

static void
test_interleaved_transactions (void **state)
{
  (void) state;
  const char *text
      = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"old_id\":\"1\",\"gen\":1}\n"
        "{\"op\":\"begin\",\"txn\":\"b\",\"name\":\"two\",\"old_id\":\"2\",\"gen\":5}\n"
        "{\"op\":\"end\",\"txn\":\"a\",\"result\":\"ok\"}\n"
        "{\"op\":\"step\",\"txn\":\"zz\",\"step\":\"create\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].name, "two");
  assert_int_equal (v[0].generation, 5);
  free_txns (v, n);
}

/* An infected generation's rollback keeps it down, recovered too; journals
 * written before the field say nothing, which is false. */
static void
test_keep_old_down_replayed (void **state)
{
  (void) state;
  const char *text = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"gen\":1,\"keep_old_down\":true}\n"
                     "{\"op\":\"begin\",\"txn\":\"b\",\"name\":\"two\",\"gen\":1}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_true (v[0].keep_old_down);
  assert_false (v[1].keep_old_down);
  free_txns (v, n);
}

/* What recovery does for engine states outside the two step orders. */
static void
test_recover_decisions (void **state)
{
  (void) state;
  /* Nothing done yet: the old one runs under its name. */
  struct recover_obs o = { .old_exists = true, .old_running = true, .old_holds_name = true };
  assert_int_equal (recover_decide (&o, false), RECOVER_BACK);
  /* The old one stopped but still named (an engine that stopped it on its own). */
  o.old_running = false;
  o.new_exists = true;
  assert_int_equal (recover_decide (&o, false), RECOVER_BACK);
  /* Committed: forward, whoever holds the name. */
  assert_int_equal (recover_decide (&o, true), RECOVER_FORWARD);
  /* Old gone but new still under its temporary name: the new one is all there is. */
  struct recover_obs p = { .new_exists = true };
  assert_int_equal (recover_decide (&p, false), RECOVER_FORWARD);
  /* Neither: recreate from the snapshot, nothing may end up missing. */
  struct recover_obs q = { 0 };
  assert_int_equal (recover_decide (&q, false), RECOVER_RECREATE);
  assert_int_equal (recover_decide (&q, true), RECOVER_RECREATE);
  /* Committed, but the new one vanished: the old one comes back. */
  struct recover_obs r = { .old_exists = true };
  assert_int_equal (recover_decide (&r, true), RECOVER_BACK);
}

static void
test_names (void **state)
{
  (void) state;
  char *a = regen_new_name ("web", "0a1b2c3d");
  char *b = regen_old_name ("web", "0a1b2c3d");
  assert_string_equal (a, "web-lympho-new-0a1b2c3d");
  assert_string_equal (b, "web-lympho-old-0a1b2c3d");
  free (a);
  free (b);
}

/* --- the same records from shim/regen.c, on a fake engine -------------- */

struct ctr
{
  char id[8];
  char name[96];
  bool running;
  bool live;
};

struct runtime
{
  struct loop *loop;
  char *journal_path;
  struct ctr ctrs[2];       /* [0] the old generation "aaa", [1] the new "bbb" */
  char calls[1024];         /* the engine calls, in order */
  unsigned errors;          /* calls without their journal record just before, refused renames */
};

struct pending
{
  struct runtime *rt;
  rt_done_cb done;
  rt_id_cb idcb;
  rt_container_cb ccb;
  void *ud;
  const char *id;
  const struct ctr *ctr;
};

static void
call (struct runtime *rt, const char *what, const char *arg)
{
  size_t off = strlen (rt->calls);
  snprintf (rt->calls + off, sizeof rt->calls - off, "%s%s %s", off ? ", " : "", what, arg ? arg : "-");
}

static struct ctr *
by_id (struct runtime *rt, const char *id)
{
  for (size_t i = 0; i < 2; i++)
    if (rt->ctrs[i].live && strcmp (rt->ctrs[i].id, id) == 0)
      return &rt->ctrs[i];
  return NULL;
}

/* The journal's last record must announce this step (fsync'd before it is
 * taken); step NULL: no record may have been written yet. */
static void
expect_intent (struct runtime *rt, const char *step, const char *id)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_file (rt->journal_path, 1 << 20, &text, &len, NULL) < 0)
    len = 0;
  if (step == NULL)
    {
      if (len != 0)
        rt->errors++;
      return;
    }
  if (len == 0 || text[len - 1] != '\n')
    {
      rt->errors++;
      return;
    }
  size_t start = len - 1;
  while (start > 0 && text[start - 1] != '\n')
    start--;
  cleanup_json json_val rec = NULL;
  if (json_parse (text + start, len - 1 - start, &rec, NULL) < 0)
    {
      rt->errors++;
      return;
    }
  const char *op = json_str (json_get (rec, "op"));
  const char *s = json_str (json_get (rec, "step"));
  const char *rid = json_str (json_get (rec, "id"));
  bool ok = op && strcmp (op, "step") == 0 && s && strcmp (s, step) == 0
            && (id == NULL ? rid == NULL : rid && strcmp (rid, id) == 0);
  if (!ok)
    {
      fprintf (stderr, "engine call for %s %s after record %.*s\n", step, id ? id : "-", (int) (len - start),
               text + start);
      rt->errors++;
    }
}

static void
complete (struct loop *l, void *ud)
{
  (void) l;
  struct pending *p = ud;
  if (p->done)
    p->done (p->ud, 0, NULL);
  else if (p->idcb)
    p->idcb (p->ud, 0, NULL, p->id);
  else
    {
      struct rt_container c = {
        .id = (char *) p->ctr->id, .name = (char *) p->ctr->name, .image_id = (char *) "sha256:img",
        .state = p->ctr->running ? RT_STATE_RUNNING : RT_STATE_EXITED,
      };
      p->ccb (p->ud, 0, NULL, &c);
    }
  free (p);
}

/* Callbacks never run before the operation returns: on the next turn. */
static void
later (struct runtime *rt, struct pending p)
{
  struct pending *q = xmalloc (sizeof *q);
  *q = p;
  q->rt = rt;
  (void) loop_add_timer (rt->loop, 0, complete, q);
}

static void
fake_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  call (rt, "image-inspect", ref);
  expect_intent (rt, NULL, NULL);
  later (rt, (struct pending) { .idcb = cb, .ud = ud, .id = "sha256:img" });
}

static void
do_create (struct runtime *rt, const char *what, const char *name, rt_id_cb cb, void *ud)
{
  /* The temporary name holds the random txn: logged as a pattern. */
  call (rt, what, str_has_prefix (name, "web-lympho-new-") ? "web-lympho-new-*" : name);
  expect_intent (rt, "create", NULL);
  struct ctr *n = &rt->ctrs[1];
  assert_false (n->live);
  *n = (struct ctr) { .id = "bbb", .live = true };
  snprintf (n->name, sizeof n->name, "%s", name);
  later (rt, (struct pending) { .idcb = cb, .ud = ud, .id = "bbb" });
}

static void
fake_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra, rt_id_cb cb,
             void *ud)
{
  (void) spec;
  assert_non_null (rt_labels_get (extra, LABEL_TXN));
  do_create (rt, "create", name, cb, ud);
}

static void
fake_create_hidden (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra,
                    rt_id_cb cb, void *ud)
{
  (void) spec;
  (void) extra;
  do_create (rt, "create-hidden", name, cb, ud);
}

static void
fake_publish (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud)
{
  (void) spec;
  call (rt, "publish", id);
  expect_intent (rt, "publish", id);
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static void
fake_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud)
{
  call (rt, "start", id);
  expect_intent (rt, "start-new", id);
  by_id (rt, id)->running = true;
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static void
fake_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud)
{
  (void) timeout_s;
  call (rt, "stop", id);
  expect_intent (rt, "stop-old", id);
  by_id (rt, id)->running = false;
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static void
fake_rename (struct runtime *rt, const char *id, const char *name, rt_done_cb cb, void *ud)
{
  call (rt, "rename", id);
  expect_intent (rt, strcmp (id, "aaa") == 0 ? "rename-old" : "rename-new", id);
  struct ctr *c = by_id (rt, id);
  /* The name must be free: an engine refuses a rename onto a taken name. */
  for (size_t i = 0; i < 2; i++)
    if (rt->ctrs[i].live && strcmp (rt->ctrs[i].name, name) == 0)
      rt->errors++;
  snprintf (c->name, sizeof c->name, "%s", name);
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static void
fake_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud)
{
  call (rt, "inspect", ref);
  assert_non_null (by_id (rt, ref));
  later (rt, (struct pending) { .ccb = cb, .ud = ud, .ctr = by_id (rt, ref) });
}

static void
fake_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud)
{
  call (rt, "disconnect", network);
  expect_intent (rt, "drain-old", id);
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static void
fake_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud)
{
  (void) force;
  (void) volumes;
  call (rt, "remove", id);
  expect_intent (rt, "remove-old", id);
  by_id (rt, id)->live = false;
  later (rt, (struct pending) { .done = cb, .ud = ud });
}

static const struct runtime_ops fake_ops = {
  .name = "fake",
  .inspect = fake_inspect,
  .create = fake_create,
  .create_hidden = fake_create_hidden,
  .publish = fake_publish,
  .start = fake_start,
  .stop = fake_stop,
  .remove = fake_remove,
  .rename = fake_rename,
  .image_inspect = fake_image_inspect,
  .network_disconnect = fake_disconnect,
};

struct outcome
{
  bool done;
  enum regen_outcome outcome;
  char new_id[16];
  char msg[512];
};

static void
on_done (void *ud, const struct regen_result *res)
{
  struct outcome *o = ud;
  o->done = true;
  o->outcome = res->outcome;
  snprintf (o->new_id, sizeof o->new_id, "%s", res->new_id ? res->new_id : "");
  snprintf (o->msg, sizeof o->msg, "%s", res->err.msg);
}

static int
rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (path);
}

/* "t1" in an expected string stands for the transaction's id. */
static bool
same_str (const char *want, const char *got, const char *txn)
{
  size_t wl = strlen (want);
  if (wl >= 2 && strcmp (want + wl - 2, "t1") == 0 && (wl == 2 || want[wl - 3] == '-'))
    {
      cleanup_free char *w = xasprintf ("%.*s%s", (int) (wl - 2), want, txn);
      return strcmp (w, got) == 0;
    }
  return strcmp (want, got) == 0;
}

/* The record regen wrote has exactly the members of the expected one, with
 * the same values. */
static void
assert_same_record (const char *want_line, const char *got_line, size_t got_len, const char *txn)
{
  cleanup_json json_val want = NULL, got = NULL;
  assert_int_equal (json_parse (want_line, strlen (want_line), &want, NULL), 0);
  if (json_parse (got_line, got_len, &got, NULL) < 0)
    fail_msg ("regen wrote no JSON: %.*s", (int) got_len, got_line);
  bool ok = json_obj_len (want) == json_obj_len (got);
  for (size_t i = 0; ok && i < json_obj_len (want); i++)
    {
      json_val w = json_obj_value (want, i), g = json_get (got, json_obj_key (want, i));
      int64_t a, b;
      if (json_is_string (w))
        ok = json_is_string (g) && same_str (json_str (w), json_str (g), txn);
      else if (json_is_null (w))
        ok = json_is_null (g);
      else
        ok = json_as_int64 (w, &a) && json_as_int64 (g, &b) && a == b;
    }
  if (!ok)
    fail_msg ("regen wrote %.*s, the table says %s", (int) got_len, got_line, want_line);
}

/* A state directory for the journal, removed also when a test fails. */
static int
setup_dir (void **state)
{
  char *dir = xstrdup ("/tmp/lympho-test-journal-XXXXXX");
  if (mkdtemp (dir) == NULL)
    return -1;
  *state = dir;
  return 0;
}

static int
teardown_dir (void **state)
{
  char *dir = *state;
  if (nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf (stderr, "could not remove %s\n", dir);
  free (dir);
  return 0;
}

static void
run_regen (const char *dir, const struct strategy_case *sc, const char *want_calls)
{
  lympho_error_t err = { 0 };
  struct runtime rt = { 0 };
  if (loop_new (&rt.loop, &err) < 0)
    fail_msg ("loop_new: %s", err.msg);
  struct journal *j = NULL;
  if (journal_open (dir, &j, &err) < 0)
    fail_msg ("journal_open: %s", err.msg);
  rt.journal_path = xasprintf ("%s/journal", dir);
  rt.ctrs[0] = (struct ctr) { .id = "aaa", .name = "web", .running = true, .live = true };

  struct config cfg = { .settle_ms = 0, .health_timeout_ms = 5000 };
  struct regen_env env = { .loop = rt.loop, .ops = &fake_ops, .rt = &rt, .journal = j, .cfg = &cfg };
  struct golden g = {
    .name = (char *) "web", .source_id = (char *) "aaa", .image_id = (char *) "sha256:img", .spec = (char *) "{}",
    .stop_timeout_s = -1,
  };
  char *nets[] = { (char *) "frontend" };
  struct regen_params p = {
    .golden = &g, .old_id = "aaa", .old_generation = 2, .reason = "ttl", .old_networks = nets, .n_old_networks = 1,
    .strategy = strcmp (sc->strategy, "swap") == 0 ? STRATEGY_SWAP : STRATEGY_REPLACE,
  };
  struct outcome o = { 0 };
  struct regen *r = regen_start (&env, &p, on_done, &o);
  assert_non_null (r);
  cleanup_free char *txn = xstrdup (regen_txn (r));
  /* The loop's own timers pace it (the verify delay is the longest). */
  uint64_t until = now_mono_ms () + 5000;
  while (!o.done && now_mono_ms () < until)
    if (loop_run_once (rt.loop, 100, &err) < 0)
      fail_msg ("loop: %s", err.msg);
  assert_true (o.done);
  if (o.outcome != REGEN_OK)
    fail_msg ("%s: %s %s", sc->strategy, regen_outcome_name (o.outcome), o.msg);
  assert_string_equal (o.new_id, "bbb");
  assert_int_equal (rt.errors, 0);
  assert_string_equal (rt.calls, want_calls);
  /* The engine holds the new generation alone, running under the name. */
  assert_false (rt.ctrs[0].live);
  assert_true (rt.ctrs[1].live && rt.ctrs[1].running);
  assert_string_equal (rt.ctrs[1].name, "web");

  /* The journal holds the table's records, in its order. */
  cleanup_free char *text = NULL;
  size_t len = 0;
  assert_int_equal (read_file (rt.journal_path, 1 << 20, &text, &len, NULL), 0);
  size_t k = 0;
  for (const char *line = text; line < text + len; k++)
    {
      const char *nl = memchr (line, '\n', (size_t) (text + len - line));
      assert_non_null (nl);
      if (k >= sc->n)
        fail_msg ("%s: regen wrote more records than the table: %.*s", sc->strategy, (int) (nl - line), line);
      assert_same_record (sc->recs[k].line, line, (size_t) (nl - line), txn);
      line = nl + 1;
    }
  assert_int_equal (k, sc->n);

  journal_close (j);
  loop_free (rt.loop);
  free (rt.journal_path);
}

static void
test_regen_writes_replace_records (void **state)
{
  run_regen (*state, &cases[0], "image-inspect sha256:img, create web-lympho-new-*, rename aaa, rename bbb, "
                        "stop aaa, start bbb, inspect bbb, remove aaa");
}

static void
test_regen_writes_swap_records (void **state)
{
  run_regen (*state, &cases[1], "image-inspect sha256:img, create-hidden web-lympho-new-*, start bbb, inspect bbb, "
                        "publish bbb, rename aaa, rename bbb, inspect bbb, disconnect frontend, stop aaa, "
                        "remove aaa");
}

int
main (void)
{
  log_set_level (LOG_LVL_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_crash_point),
    cmocka_unit_test (test_torn_last_line_ignored),
    cmocka_unit_test (test_corruption_refused),
    cmocka_unit_test (test_interleaved_transactions),
    cmocka_unit_test (test_recover_decisions),
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_keep_old_down_replayed),
    cmocka_unit_test_setup_teardown (test_regen_writes_replace_records, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown (test_regen_writes_swap_records, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
