/* Journal replay at every crash point, and the recovery decision, for the
 * records of both strategies in the order shim/regen.c writes them (checked
 * against the journal a regeneration writes on the fake engine of
 * fake-runtime.c, so that the tables below cannot drift from the code
 * again). */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake-runtime.h"
#include "lympho/config.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/regen.h"
#include "lympho/util.h"
#include "unit-util.h"

/* Damaged journal records skipped by the last replay. */
static size_t damaged;

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
          assert_int_equal (journal_replay (text, strlen (text), &v, &n, &damaged, &err), 0);
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
      assert_int_equal (journal_replay (torn, strlen (torn), &v, &n, &damaged, &err), 0);
      assert_int_equal (n, 1);
      assert_string_equal (v[0].last_step, "created");
      free_txns (v, n);
    }
}

/* A damaged record is skipped and counted, the first one described; the
 * transactions of the others are still recovered. Before, one torn line in
 * the middle (a write cut by a full disk, then another append) refused the
 * whole journal and skipped every recovery. */
static void
test_corruption_skipped (void **state)
{
  (void) state;
  const char *torn_middle = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"gen\":1}\n"
                            "{\"op\":\"step\",\"txn\":\"a\",\"st{\"op\":\"begin\",\"txn\":\"t1\"\n"
                            "{\"op\":\"begin\",\"txn\":\"b\",\"name\":\"two\",\"gen\":4}\n"
                            "{\"op\":\"frobnicate\",\"txn\":\"b\"}\n"
                            "{\"op\":\"begin\",\"txn\":\"c\",\"name\":\"x\"}\n"
                            "{\"op\":\"step\",\"txn\":\"b\",\"step\":\"created\",\"id\":\"n2\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (torn_middle, strlen (torn_middle), &v, &n, &damaged, &err), 0);
  assert_int_equal (damaged, 3);
  assert_non_null (strstr (err.msg, "journal line 2"));
  assert_int_equal (n, 2);
  assert_string_equal (v[0].name, "one");
  assert_string_equal (v[1].name, "two");
  assert_string_equal (v[1].last_step, "created");
  assert_string_equal (v[1].new_id, "n2");
  free_txns (v, n);
}

/* The file itself: a torn tail is cut on open, and an append that fails
 * part way is rolled back, so the next record starts on a line of its own. */
static void
test_torn_tail_cut (void **state)
{
  (void) state;
  char dir[] = "/tmp/lympho-test-journal-XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *path = xasprintf ("%s/journal", dir);
  const char *good = "{\"op\":\"begin\",\"txn\":\"a\",\"name\":\"one\",\"gen\":1}\n";
  cleanup_free char *text = xasprintf ("%s{\"op\":\"step\",\"txn\":\"a\",\"st", good);
  lympho_error_t err = { 0 };
  assert_int_equal (write_file_atomic (path, text, strlen (text), 0600, &err), 0);
  struct journal *j = NULL;
  assert_int_equal (journal_open (dir, &j, &err), 0);
  assert_int_equal (journal_step (j, "a", "created", "n1", &err), 0);
  struct txn *v = NULL;
  size_t n = 0;
  assert_int_equal (journal_load (dir, &v, &n, &damaged, &err), 0);
  assert_int_equal (damaged, 0);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].last_step, "created");
  free_txns (v, n);

  /* A write the file size limit cuts short (as a full disk would). */
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      signal (SIGXFSZ, SIG_IGN);
      struct stat st;
      if (stat (path, &st) < 0)
        _exit (10);
      struct rlimit rl = { (rlim_t) st.st_size + 10, (rlim_t) st.st_size + 10 };
      if (setrlimit (RLIMIT_FSIZE, &rl) < 0)
        _exit (11);
      lympho_error_t e = { 0 };
      _exit (journal_step (j, "a", "renamed-old", "n1", &e) < 0 ? 0 : 12);
    }
  int status = 0;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  assert_int_equal (journal_end (j, "a", "ok", &err), 0);
  journal_close (j);
  assert_int_equal (journal_load (dir, &v, &n, &damaged, &err), 0);
  assert_int_equal (damaged, 0);
  assert_int_equal (n, 0);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
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
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &damaged, &err), 0);
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
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &damaged, &err), 0);
  assert_int_equal (n, 2);
  assert_true (v[0].keep_old_down);
  assert_false (v[1].keep_old_down);
  free_txns (v, n);
}

/* An incident's record opens a transaction of its own, told apart from a
 * regeneration's; its end closes it; one left open is replayed. */
static void
test_incident_replayed (void **state)
{
  (void) state;
  const char *text = "{\"op\":\"incident\",\"txn\":\"i1\",\"name\":\"web\",\"old_id\":\"abc\",\"gen\":2,"
                     "\"reason\":\"alert: generic: x\",\"keep_old_down\":true}\n"
                     "{\"op\":\"begin\",\"txn\":\"r1\",\"name\":\"web\",\"old_id\":\"abc\",\"gen\":2,\"keep_old_down\":true}\n"
                     "{\"op\":\"end\",\"txn\":\"r1\",\"result\":\"rolled-back\"}\n"
                     "{\"op\":\"incident\",\"txn\":\"i2\",\"name\":\"db\",\"old_id\":\"def\",\"gen\":0}\n"
                     "{\"op\":\"end\",\"txn\":\"i2\",\"result\":\"ok\"}\n";
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_replay (text, strlen (text), &v, &n, &damaged, &err), 0);
  assert_int_equal (damaged, 0);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].txn, "i1");
  assert_true (v[0].incident);
  assert_true (v[0].keep_old_down);
  assert_string_equal (v[0].old_id, "abc");
  assert_string_equal (v[0].reason, "alert: generic: x");
  assert_int_equal (v[0].generation, 2);
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

/* --- the same records from shim/regen.c, on the fake engine ------------ */

/* What each engine call is checked against when it is made. */
struct watch
{
  const char *journal_path;
  const char *old_id;
  unsigned errors; /* calls without their journal record just before, renames onto a taken name */
};

/* The journal's last record must announce this step on the container id
 * (fsync'd before it is taken); step NULL: no record may have been written
 * yet. */
static void
expect_intent (struct watch *w, const struct fake_call *call, const char *step, const char *id)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (read_file (w->journal_path, 1 << 20, &text, &len, NULL) < 0)
    len = 0;
  if (step == NULL)
    {
      if (len != 0)
        {
          fprintf (stderr, "engine call %s after a journal record\n", call->line);
          w->errors++;
        }
      return;
    }
  if (len == 0 || text[len - 1] != '\n')
    {
      fprintf (stderr, "engine call %s without a whole journal record before it\n", call->line);
      w->errors++;
      return;
    }
  size_t start = len - 1;
  while (start > 0 && text[start - 1] != '\n')
    start--;
  cleanup_json json_val rec = NULL;
  if (json_parse (text + start, len - 1 - start, &rec, NULL) < 0)
    {
      w->errors++;
      return;
    }
  const char *op = json_str (json_get (rec, "op"));
  const char *s = json_str (json_get (rec, "step"));
  const char *rid = json_str (json_get (rec, "id"));
  bool ok = op && strcmp (op, "step") == 0 && s && strcmp (s, step) == 0
            && (id == NULL ? rid == NULL : rid && strcmp (rid, id) == 0);
  if (!ok)
    {
      fprintf (stderr, "engine call %s for %s after record %.*s\n", call->line, step, (int) (len - start),
               text + start);
      w->errors++;
    }
}

static bool
name_taken (struct runtime *rt, const char *name)
{
  for (size_t i = 0; i < fake_count (rt); i++)
    if (strcmp (fake_at (rt, i)->name, name) == 0)
      return true;
  return false;
}

/* Each engine call, as regen makes it: before it returns, nothing taken yet. */
static void
on_call (struct runtime *rt, const struct fake_call *call, void *ud)
{
  struct watch *w = ud;
  switch (call->op)
    {
    case FAKE_IMAGE_INSPECT:
      expect_intent (w, call, NULL, NULL);
      break;
    case FAKE_CREATE:
    case FAKE_CREATE_HIDDEN:
      expect_intent (w, call, "create", NULL);
      break;
    case FAKE_START:
      expect_intent (w, call, "start-new", call->ref);
      break;
    case FAKE_PUBLISH:
      expect_intent (w, call, "publish", call->ref);
      break;
    case FAKE_RENAME:
      expect_intent (w, call, call->ref && strcmp (call->ref, w->old_id) == 0 ? "rename-old" : "rename-new",
                     call->ref);
      /* The name must be free: an engine refuses a rename onto a taken name. */
      if (call->arg == NULL || name_taken (rt, call->arg))
        {
          fprintf (stderr, "engine call %s onto a taken name\n", call->line);
          w->errors++;
        }
      break;
    case FAKE_NETWORK_DISCONNECT:
      expect_intent (w, call, "drain-old", call->ref);
      break;
    case FAKE_STOP:
      expect_intent (w, call, "stop-old", call->ref);
      break;
    case FAKE_REMOVE:
      expect_intent (w, call, "remove-old", call->ref);
      break;
    case FAKE_INSPECT:
      /* By the id of a container the engine holds. */
      if (call->id == NULL || call->ref == NULL || strcmp (call->id, call->ref) != 0)
        {
          fprintf (stderr, "engine call %s: no such container id\n", call->line);
          w->errors++;
        }
      break;
    default:
      fprintf (stderr, "engine call %s: not one a regeneration makes\n", call->line);
      w->errors++;
      break;
    }
}

struct outcome
{
  bool done;
  enum regen_outcome outcome;
  char new_id[80];
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

/* One run's values of what the tables write as stand-ins. */
struct actual
{
  const char *txn;
  const char *old_id;
  const char *new_id;
};

/* "t1" in an expected string stands for the transaction's id, "aaa" and
 * "bbb" for the old and the new generation's ids. */
static bool
same_str (const char *want, const char *got, const struct actual *a)
{
  size_t wl = strlen (want);
  if (strcmp (want, "aaa") == 0)
    return strcmp (a->old_id, got) == 0;
  if (strcmp (want, "bbb") == 0)
    return strcmp (a->new_id, got) == 0;
  if (wl >= 2 && strcmp (want + wl - 2, "t1") == 0 && (wl == 2 || want[wl - 3] == '-'))
    {
      cleanup_free char *w = xasprintf ("%.*s%s", (int) (wl - 2), want, a->txn);
      return strcmp (w, got) == 0;
    }
  return strcmp (want, got) == 0;
}

/* The record regen wrote has exactly the members of the expected one, with
 * the same values. */
static void
assert_same_record (const char *want_line, const char *got_line, size_t got_len, const struct actual *a)
{
  cleanup_json json_val want = NULL, got = NULL;
  assert_int_equal (json_parse (want_line, strlen (want_line), &want, NULL), 0);
  if (json_parse (got_line, got_len, &got, NULL) < 0)
    fail_msg ("regen wrote no JSON: %.*s", (int) got_len, got_line);
  bool ok = json_obj_len (want) == json_obj_len (got);
  for (size_t i = 0; ok && i < json_obj_len (want); i++)
    {
      json_val w = json_obj_value (want, i), g = json_get (got, json_obj_key (want, i));
      int64_t x, y;
      if (json_is_string (w))
        ok = json_is_string (g) && same_str (json_str (w), json_str (g), a);
      else if (json_is_null (w))
        ok = json_is_null (g);
      else
        ok = json_as_int64 (w, &x) && json_as_int64 (g, &y) && x == y;
    }
  if (!ok)
    fail_msg ("regen wrote %.*s, the table says %s", (int) got_len, got_line, want_line);
}

/* The engine's calls, "-t1" in the expected ones standing for "-" and the
 * transaction's id. */
static void
assert_calls (struct runtime *rt, const char *want, const char *txn)
{
  struct buf w, g;
  buf_init (&w);
  buf_init (&g);
  for (const char *s = want, *t1; *s; s = t1 + 3)
    {
      t1 = strstr (s, "-t1");
      if (t1 == NULL)
        {
          buf_appends (&w, s);
          break;
        }
      buf_printf (&w, "%.*s-%s", (int) (t1 - s), s, txn);
    }
  for (size_t i = 0; i < fake_n_calls (rt); i++)
    buf_printf (&g, "%s%s", i ? ", " : "", fake_call_line (rt, i));
  cleanup_free char *ws = buf_steal (&w);
  cleanup_free char *gs = buf_steal (&g);
  assert_string_equal (gs ? gs : "", ws ? ws : "");
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
  unit_rmtree (dir);
  free (dir);
  return 0;
}

static void
run_regen (const char *dir, const struct strategy_case *sc, const char *want_calls)
{
  lympho_error_t err = { 0 };
  struct loop *loop = NULL;
  if (loop_new (&loop, &err) < 0)
    fail_msg ("loop_new: %s", err.msg);
  struct runtime *rt = NULL;
  assert_int_equal (fake_runtime_ops.open (loop, "fake", &rt, &err), 0);
  struct journal *j = NULL;
  if (journal_open (dir, &j, &err) < 0)
    fail_msg ("journal_open: %s", err.msg);
  cleanup_free char *journal_path = xasprintf ("%s/journal", dir);

  /* The old generation runs under the name, on the network it is drained from. */
  static const char *const nets[] = { "frontend", NULL };
  fake_add_image (rt, "sha256:img", NULL);
  fake_add_network (rt, "frontend");
  cleanup_free char *spec = fake_spec ("sha256:img", nets, false, NULL);
  cleanup_free char *old_id = xstrdup (fake_add_container (rt, "web", spec, NULL, true));
  struct watch w = { .journal_path = journal_path, .old_id = old_id };
  for (int op = 0; op < FAKE_OP_COUNT; op++)
    fake_hook_call (rt, (enum fake_op) op, 0, on_call, &w);

  struct config cfg = { .settle_ms = 0, .health_timeout_ms = 5000 };
  struct regen_timing timing = { 0 };
  struct regen_env env = {
    .loop = loop, .ops = &fake_runtime_ops, .rt = rt, .journal = j, .cfg = &cfg, .timing = &timing,
  };
  struct golden g = {
    .name = (char *) "web", .source_id = old_id, .image_id = (char *) "sha256:img", .spec = spec,
    .stop_timeout_s = -1,
  };
  char *old_nets[] = { (char *) "frontend" };
  struct regen_params p = {
    .golden = &g, .old_id = old_id, .old_generation = 2, .reason = "ttl", .old_networks = old_nets,
    .n_old_networks = 1, .strategy = strcmp (sc->strategy, "swap") == 0 ? STRATEGY_SWAP : STRATEGY_REPLACE,
  };
  struct outcome o = { 0 };
  struct regen *r = regen_start (&env, &p, on_done, &o);
  assert_non_null (r);
  cleanup_free char *txn = xstrdup (regen_txn (r));
  uint64_t until = now_mono_ms () + 5000;
  while (!o.done && now_mono_ms () < until)
    if (loop_run_once (loop, 100, &err) < 0)
      fail_msg ("loop: %s", err.msg);
  assert_true (o.done);
  if (o.outcome != REGEN_OK)
    fail_msg ("%s: %s %s", sc->strategy, regen_outcome_name (o.outcome), o.msg);
  assert_int_equal (w.errors, 0);
  assert_calls (rt, want_calls, txn);
  /* The engine holds the new generation alone, running under the name, made
   * by this transaction. */
  assert_int_equal (fake_count (rt), 1);
  const struct fake_container *c = fake_find (rt, "web");
  assert_non_null (c);
  assert_string_equal (c->name, "web");
  assert_string_equal (c->id, o.new_id);
  assert_string_not_equal (c->id, old_id);
  assert_int_equal (c->state, RT_STATE_RUNNING);
  assert_false (c->hidden);
  assert_non_null (rt_labels_get (&c->labels, LABEL_TXN));
  assert_string_equal (rt_labels_get (&c->labels, LABEL_TXN), txn);

  /* The journal holds the table's records, in its order. */
  struct actual a = { .txn = txn, .old_id = old_id, .new_id = o.new_id };
  cleanup_free char *text = NULL;
  size_t len = 0;
  assert_int_equal (read_file (journal_path, 1 << 20, &text, &len, NULL), 0);
  size_t k = 0;
  for (const char *line = text; line < text + len; k++)
    {
      const char *nl = memchr (line, '\n', (size_t) (text + len - line));
      assert_non_null (nl);
      if (k >= sc->n)
        fail_msg ("%s: regen wrote more records than the table: %.*s", sc->strategy, (int) (nl - line), line);
      assert_same_record (sc->recs[k].line, line, (size_t) (nl - line), &a);
      line = nl + 1;
    }
  assert_int_equal (k, sc->n);

  fake_runtime_ops.close (rt);
  journal_close (j);
  loop_free (loop);
}

static void
test_regen_writes_replace_records (void **state)
{
  run_regen (*state, &cases[0], "image_inspect sha256:img, create web-lympho-new-t1, rename web web-lympho-old-t1, "
                                "rename web-lympho-new-t1 web, stop web-lympho-old-t1, start web, inspect web, "
                                "remove web-lympho-old-t1");
}

static void
test_regen_writes_swap_records (void **state)
{
  run_regen (*state, &cases[1], "image_inspect sha256:img, create_hidden web-lympho-new-t1, start web-lympho-new-t1, "
                                "inspect web-lympho-new-t1, publish web-lympho-new-t1, rename web web-lympho-old-t1, "
                                "rename web-lympho-new-t1 web, inspect web, network_disconnect web-lympho-old-t1 "
                                "frontend, stop web-lympho-old-t1, remove web-lympho-old-t1");
}

int
main (void)
{
  log_set_level (LOG_LVL_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_crash_point),
    cmocka_unit_test (test_torn_last_line_ignored),
    cmocka_unit_test (test_corruption_skipped),
    cmocka_unit_test (test_torn_tail_cut),
    cmocka_unit_test (test_interleaved_transactions),
    cmocka_unit_test (test_recover_decisions),
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_keep_old_down_replayed),
    cmocka_unit_test (test_incident_replayed),
    cmocka_unit_test_setup_teardown (test_regen_writes_replace_records, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown (test_regen_writes_swap_records, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
