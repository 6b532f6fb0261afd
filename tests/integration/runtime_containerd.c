/* The containerd plugin (contrib/runtimes/lympho-containerd) driven through
 * runtime_exec_ops, as lymphd drives it, against a real standalone
 * containerd that this test starts with its own root, state and socket
 * (never the one dockerd uses), in the plugin's namespace `lympho`. Once
 * containerd runs, the test drops its privileges as lymphd does with an
 * exec: runtime, so that the plugin runs with what lymphd would give it.
 *
 * Needs root, containerd, ctr, python3 and /bin/busybox; exits 77 (skip)
 * without them. Everything lives under /tmp/lct-<pid>-*, removed at the end. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lympho/loop.h"
#include "lympho/privs.h"
#include "lympho/runtime.h"
#include "lympho/util.h"

#define SRCDIR TEST_DATA_DIR "/../.."
#define PLUGIN SRCDIR "/contrib/runtimes/lympho-containerd"
#define IMAGE "docker.io/library/lctbox:1"
#define NAME_LABEL "io.lympho.containerd.name"
/* Stops at once on SIGTERM; the flags are the command's, not ctr's. */
#define LOOP_CMD "sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"

static const struct runtime_ops *ops = &runtime_exec_ops;
static struct loop *loop;
static struct runtime *rt;
static char dir[64];
static char sock[128];
static pid_t containerd_pid;

static int
sh (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
static int
sh (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *cmd = NULL;
  if (vasprintf (&cmd, fmt, ap) < 0)
    abort ();
  va_end (ap);
  cleanup_free char *full = xasprintf ("%s >/dev/null 2>&1", cmd);
  return system (full);
}

struct res
{
  bool done, returned;
  int ret;
  lympho_error_t err;
  char *id;
  struct rt_container c;
  struct rt_snapshot s;
  size_t n;
  char names[1024]; /* list: "name=id " for every container */
  char changes[4096]; /* changes: "K path\n" for every change */
};
static struct res r;

static void
reset (void)
{
  free (r.id);
  rt_container_free (&r.c);
  rt_snapshot_free (&r.s);
  memset (&r, 0, sizeof r);
}

static void
got (int ret, const lympho_error_t *err)
{
  assert_true (r.returned);
  r.done = true;
  r.ret = ret;
  if (err)
    r.err = *err;
}
static void
on_done (void *ud, int ret, const lympho_error_t *err)
{
  got (ret, err);
}
static void
on_id (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  got (ret, err);
  r.id = xstrdup (id);
}
static void
on_container (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  got (ret, err);
  if (c)
    {
      r.c.id = xstrdup (c->id);
      r.c.name = xstrdup (c->name);
      r.c.image_id = xstrdup (c->image_id);
      r.c.state = c->state;
      r.c.pid = c->pid;
      rt_labels_copy (&r.c.labels, &c->labels);
      r.c.mounts = strv_dup (c->mounts, c->n_mounts);
      r.c.n_mounts = c->n_mounts;
    }
}

static bool
has_mount (const char *dest)
{
  for (size_t i = 0; i < r.c.n_mounts; i++)
    if (strcmp (r.c.mounts[i], dest) == 0)
      return true;
  return false;
}

/* No label of the plugin's own ever shows. */
static void
no_private_labels (const struct rt_labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    if (str_has_prefix (l->v[i].key, "io.lympho.containerd."))
      fail_msg ("the plugin's label %s leaked", l->v[i].key);
}
static void
on_list (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  got (ret, err);
  r.n = n;
  if (n > 0)
    r.c.name = xstrdup (v[0].name);
  for (size_t i = 0; i < n; i++)
    {
      no_private_labels (&v[i].labels);
      size_t used = strlen (r.names);
      snprintf (r.names + used, sizeof r.names - used, "%s=%s ", v[i].name, v[i].id);
    }
}
static void
on_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  got (ret, err);
  for (size_t i = 0; i < n; i++)
    {
      size_t used = strlen (r.changes);
      snprintf (r.changes + used, sizeof r.changes - used, "%c %s\n", v[i].kind, v[i].path);
    }
}
static void
on_snapshot (void *ud, int ret, const lympho_error_t *err, struct rt_snapshot *s)
{
  got (ret, err);
  if (s)
    {
      r.s = *s;
      memset (s, 0, sizeof *s);
    }
}

/* Run the loop until the callback of the op just started. */
static void
wait_op (void)
{
  r.returned = true;
  lympho_error_t err = { 0 };
  uint64_t end = now_mono_ms () + 60000;
  while (!r.done && now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 100, &err), 0);
  assert_true (r.done);
}

#define OP(call)                                                                                                      \
  do                                                                                                                  \
    {                                                                                                                 \
      reset ();                                                                                                       \
      call;                                                                                                           \
      wait_op ();                                                                                                     \
    }                                                                                                                 \
  while (0)

static void
expect_ok (const char *what)
{
  if (r.ret != 0)
    fail_msg ("%s: %s", what, r.err.msg);
}

static char evlog[4096];
static int conn_up = -1;
static bool subscribed;

/* Every event as it reached the callback, for order and latency. */
struct seen_event
{
  char action[32];
  char id[96];
  int exit_code;
  uint64_t time_nano;
  uint64_t arrived_real_ms;
};
static struct seen_event seen[512];
static size_t n_seen;

static void
on_event (void *ud, const struct rt_event *ev)
{
  char one[160];
  snprintf (one, sizeof one, "%s:%s ", ev->action, ev->name ? ev->name : "?");
  strncat (evlog, one, sizeof evlog - strlen (evlog) - 1);
  if (n_seen < sizeof seen / sizeof seen[0])
    {
      struct seen_event *s = &seen[n_seen++];
      snprintf (s->action, sizeof s->action, "%s", ev->action);
      snprintf (s->id, sizeof s->id, "%s", ev->id ? ev->id : "");
      s->exit_code = ev->exit_code;
      s->time_nano = ev->time_nano;
      s->arrived_real_ms = now_real_ms ();
    }
}
static void
on_conn (void *ud, bool up)
{
  conn_up = up;
}

/* One subscription for all cases, whichever runs first. */
static void
subscribe_once (void)
{
  lympho_error_t err = { 0 };
  if (subscribed)
    return;
  assert_int_equal (ops->subscribe (rt, on_event, on_conn, NULL, &err), 0);
  subscribed = true;
}

static void
spin_until (const char *needle, int max_ms)
{
  lympho_error_t err = { 0 };
  uint64_t end = now_mono_ms () + (uint64_t) max_ms;
  while (strstr (evlog, needle) == NULL && now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 100, &err), 0);
  if (strstr (evlog, needle) == NULL)
    fail_msg ("no event %s in: %s", needle, evlog);
}

static char *ctr_cmd; /* "ctr --address ... --namespace lympho" */

static void
test_containerd (void **state)
{
  subscribe_once ();

  /* A source container made with ctr itself, as a user would, with a bind
   * mount and a command whose flags are its own. */
  assert_int_equal (sh ("mkdir -p %s/vol && %s containers create --label " NAME_LABEL "=lct-src "
                        "--label lympho.enable=true --env LCT=1 "
                        "--mount type=bind,src=%s/vol,dst=/vol,options=rbind:rw -- %s lct-src-id " LOOP_CMD,
                        dir, ctr_cmd, dir, IMAGE),
                    0);
  OP (ops->ping (rt, on_done, NULL));
  expect_ok ("ping");
  OP (ops->start (rt, "lct-src", on_done, NULL));
  expect_ok ("start source");
  OP (ops->inspect (rt, "lct-src", on_container, NULL));
  expect_ok ("inspect source");
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  assert_true (r.c.pid > 0);
  /* Not made by the plugin: its id is marked so that it equals no name. */
  assert_string_equal (r.c.id, "ctr:lct-src-id");
  assert_string_equal (r.c.name, "lct-src");
  assert_true (str_has_prefix (r.c.image_id, "sha256:"));
  no_private_labels (&r.c.labels);
  /* Mount destinations, for drift: the bind and what runc mounts. */
  assert_true (has_mount ("/vol"));
  assert_true (has_mount ("/proc"));
  assert_true (has_mount ("/run"));

  OP (ops->snapshot (rt, "lct-src", on_snapshot, NULL));
  expect_ok ("snapshot");
  struct rt_snapshot snap = r.s;
  memset (&r.s, 0, sizeof r.s);
  assert_string_equal (snap.name, "lct-src");
  assert_string_equal (rt_labels_get (&snap.labels, "lympho.enable"), "true");
  assert_null (rt_labels_get (&snap.labels, NAME_LABEL));
  assert_non_null (strstr (snap.spec, "LCT=1"));

  /* As lymphd creates a generation: lympho.name is lymphd's own label (the
   * protected name), not the container's name. */
  struct rt_labels extra = { 0 };
  rt_labels_set (&extra, "lympho.generation", "2");
  rt_labels_set (&extra, "lympho.name", "lct-src");
  OP (ops->create (rt, snap.spec, "lct-gen2", &extra, on_id, NULL));
  expect_ok ("create");
  cleanup_free char *id = xstrdup (r.id);
  OP (ops->create (rt, snap.spec, "lct-gen2", &extra, on_id, NULL));
  assert_int_equal (r.ret, -EEXIST);
  rt_labels_free (&extra);

  OP (ops->inspect (rt, "lct-gen2", on_container, NULL));
  expect_ok ("inspect new");
  assert_string_equal (r.c.id, id);
  assert_string_equal (r.c.name, "lct-gen2");
  assert_int_equal (r.c.state, RT_STATE_CREATED);
  assert_string_equal (rt_labels_get (&r.c.labels, "lympho.generation"), "2");
  assert_string_equal (rt_labels_get (&r.c.labels, "lympho.enable"), "true");
  assert_string_equal (rt_labels_get (&r.c.labels, "lympho.name"), "lct-src");
  no_private_labels (&r.c.labels);
  assert_string_equal (r.c.image_id, snap.image_id);
  assert_true (has_mount ("/vol"));
  /* The source is still the only lct-src. */
  OP (ops->inspect (rt, "lct-src", on_container, NULL));
  assert_string_equal (r.c.id, "ctr:lct-src-id");

  OP (ops->start (rt, id, on_done, NULL));
  expect_ok ("start new");
  OP (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  /* The fresh generation runs the snapshot's process and environment. */
  cleanup_free char *envcmd = xasprintf ("grep -qz '^LCT=1$' /proc/%d/environ", r.c.pid);
  assert_int_equal (sh ("%s", envcmd), 0);
  cleanup_free char *argcmd = xasprintf ("tr '\\0' ' ' </proc/%d/cmdline | grep -q '^sh -c trap'", r.c.pid);
  assert_int_equal (sh ("%s", argcmd), 0);
  spin_until ("start:lct-gen2", 20000);
  assert_int_equal (conn_up, 1);

  OP (ops->list (rt, "lympho.generation=2", on_list, NULL));
  expect_ok ("list");
  assert_int_equal (r.n, 1);
  assert_string_equal (r.c.name, "lct-gen2");
  OP (ops->list (rt, NAME_LABEL, on_list, NULL));
  expect_ok ("list by a private label");
  assert_int_equal (r.n, 0);

  /* Rename: a label, the id stays; names stay unique. */
  OP (ops->rename (rt, id, "lct-src", on_done, NULL));
  assert_int_equal (r.ret, -EEXIST);
  OP (ops->rename (rt, id, "lct-renamed", on_done, NULL));
  expect_ok ("rename");
  OP (ops->inspect (rt, "lct-renamed", on_container, NULL));
  expect_ok ("inspect renamed");
  assert_string_equal (r.c.id, id);
  OP (ops->inspect (rt, "lct-gen2", on_container, NULL));
  assert_int_equal (r.ret, -ENOENT);
  spin_until ("rename:lct-renamed", 20000);

  OP (ops->stop (rt, id, 5, on_done, NULL));
  expect_ok ("stop");
  OP (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_EXITED);
  assert_int_equal (r.c.pid, 0);
  spin_until ("die:lct-renamed", 20000);
  OP (ops->stop (rt, id, 1, on_done, NULL));
  expect_ok ("stop a stopped container");

  OP (ops->remove (rt, id, true, false, on_done, NULL));
  expect_ok ("remove");
  OP (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.ret, -ENOENT);
  OP (ops->remove (rt, id, true, false, on_done, NULL));
  assert_int_equal (r.ret, -ENOENT);
  spin_until ("destroy:lct-renamed", 20000);

  /* Images: pin by id, untag. */
  OP (ops->image_inspect (rt, IMAGE, on_id, NULL));
  expect_ok ("image inspect");
  assert_string_equal (r.id, snap.image_id);
  OP (ops->image_tag (rt, snap.image_id, "lympho-pin/lct-src", "g1", on_done, NULL));
  expect_ok ("image tag");
  OP (ops->image_inspect (rt, "lympho-pin/lct-src:g1", on_id, NULL));
  expect_ok ("inspect pin");
  assert_string_equal (r.id, snap.image_id);
  OP (ops->image_remove (rt, "lympho-pin/lct-src:g1", on_done, NULL));
  expect_ok ("image remove");
  OP (ops->image_inspect (rt, "lympho-pin/lct-src:g1", on_id, NULL));
  assert_int_equal (r.ret, -ENOENT);

  OP (ops->commit (rt, "lct-src", "x", "y", NULL, on_id, NULL));
  assert_int_equal (r.ret, -ENOTSUP);

  OP (ops->remove (rt, "lct-src", true, false, on_done, NULL));
  expect_ok ("remove source");

  /* sleep as pid 1 ignores SIGTERM: stop must kill after the timeout. */
  assert_int_equal (sh ("%s containers create -- %s lct-stubborn /bin/sleep 3600", ctr_cmd, IMAGE), 0);
  OP (ops->start (rt, "lct-stubborn", on_done, NULL));
  expect_ok ("start stubborn");
  OP (ops->stop (rt, "lct-stubborn", 1, on_done, NULL));
  expect_ok ("stop stubborn");
  OP (ops->inspect (rt, "lct-stubborn", on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_EXITED);
  OP (ops->remove (rt, "lct-stubborn", false, false, on_done, NULL));
  expect_ok ("remove stubborn");
  rt_snapshot_free (&snap);
  reset ();
}

/* A container made with ctr under the id lct-web and no name label is named
 * lct-web. Regenerated, the old one is renamed and a new one takes the
 * name: the name is free for it, and the old one's id still means the old
 * one, so that lymphd removes the right container. */
static void
test_foreign_id (void **state)
{
  assert_int_equal (sh ("%s containers create --label lympho.enable=true -- %s lct-web " LOOP_CMD, ctr_cmd, IMAGE),
                    0);
  OP (ops->inspect (rt, "lct-web", on_container, NULL));
  expect_ok ("inspect by id");
  assert_string_equal (r.c.name, "lct-web");
  cleanup_free char *old = xstrdup (r.c.id);
  assert_string_equal (old, "ctr:lct-web");
  OP (ops->snapshot (rt, old, on_snapshot, NULL));
  expect_ok ("snapshot");
  struct rt_snapshot snap = r.s;
  memset (&r.s, 0, sizeof r.s);

  OP (ops->create (rt, snap.spec, "lct-web", NULL, on_id, NULL));
  assert_int_equal (r.ret, -EEXIST);
  OP (ops->rename (rt, old, "lct-web-old", on_done, NULL));
  expect_ok ("rename the original");
  OP (ops->create (rt, snap.spec, "lct-web", NULL, on_id, NULL));
  expect_ok ("create under the original's id");
  cleanup_free char *fresh = xstrdup (r.id);
  OP (ops->inspect (rt, "lct-web", on_container, NULL));
  expect_ok ("inspect by name");
  assert_string_equal (r.c.id, fresh);
  OP (ops->inspect (rt, old, on_container, NULL));
  assert_string_equal (r.c.name, "lct-web-old");
  /* Names never take the form of ids. */
  OP (ops->rename (rt, fresh, "ctr:lct-x", on_done, NULL));
  assert_int_equal (r.ret, -EINVAL);

  OP (ops->remove (rt, old, true, false, on_done, NULL));
  expect_ok ("remove the original by its id");
  OP (ops->inspect (rt, "lct-web", on_container, NULL));
  expect_ok ("the new one stays");
  assert_string_equal (r.c.id, fresh);
  OP (ops->remove (rt, fresh, true, false, on_done, NULL));
  expect_ok ("remove the new one");
  rt_snapshot_free (&snap);
  reset ();
}

/* lymphd removes containers while other calls walk the list: a container
 * gone between `ctr c ls` and `ctr c info` is skipped, not an error. A ctr
 * in front of the real one deletes lct-vanish just before info asks. */
static void
test_vanish (void **state)
{
  cleanup_free char *wrapper = xasprintf ("%s/ctr-vanish", dir);
  cleanup_free char *script = xasprintf ("#!/bin/sh\n"
                                         "case \"$*\" in *'containers info lct-vanish'*)\n"
                                         "  %s containers delete lct-vanish >/dev/null 2>&1;; esac\n"
                                         "exec ctr \"$@\"\n",
                                         ctr_cmd);
  lympho_error_t err = { 0 };
  assert_int_equal (write_file_atomic (wrapper, script, strlen (script), 0755, &err), 0);
  for (int i = 0; i < 2; i++)
    {
      assert_int_equal (sh ("%s containers create --label " NAME_LABEL "=lct-vname -- %s lct-vanish " LOOP_CMD,
                            ctr_cmd, IMAGE),
                        0);
      assert_int_equal (sh ("%s containers create --label " NAME_LABEL "=lct-stays -- %s lct-stays-id " LOOP_CMD,
                            ctr_cmd, IMAGE),
                        0);
      setenv ("LYMPHO_CTR", wrapper, 1);
      if (i == 0)
        {
          OP (ops->list (rt, NULL, on_list, NULL));
          expect_ok ("list while a container vanishes");
          assert_int_equal (r.n, 1);
          assert_string_equal (r.names, "lct-stays=ctr:lct-stays-id ");
        }
      else
        {
          OP (ops->rename (rt, "lct-stays", "lct-vname", on_done, NULL));
          expect_ok ("rename to the name of a container that vanishes");
        }
      unsetenv ("LYMPHO_CTR");
      OP (ops->inspect (rt, "lct-vanish", on_container, NULL));
      assert_int_equal (r.ret, -ENOENT);
      OP (ops->remove (rt, "ctr:lct-stays-id", true, false, on_done, NULL));
      expect_ok ("remove");
    }
  reset ();
}

static bool
has_change (const char *line)
{
  cleanup_free char *all = xasprintf ("\n%s", r.changes);
  cleanup_free char *needle = xasprintf ("\n%s\n", line);
  return strstr (all, needle) != NULL;
}

/* changes: the container's overlayfs upper directory against its image,
 * whiteouts as deletions, directories holding a change as changed. */
static void
test_changes (void **state)
{
  assert_int_equal (sh ("%s containers create --label " NAME_LABEL "=lct-drift -- %s lct-drift sh -c "
                        "'mkdir -p /data/x && echo x >/data/x/f && rm /etc/passwd && touch /tmp/t && touch /done; "
                        "trap \"exit 0\" TERM; while :; do sleep 1; done'",
                        ctr_cmd, IMAGE),
                    0);
  OP (ops->changes (rt, "lct-drift", on_changes, NULL));
  expect_ok ("changes before start");
  assert_string_equal (r.changes, "");
  OP (ops->start (rt, "lct-drift", on_done, NULL));
  expect_ok ("start");
  uint64_t end = now_mono_ms () + 20000;
  do
    OP (ops->changes (rt, "lct-drift", on_changes, NULL));
  while (r.ret == 0 && !has_change ("A /done") && now_mono_ms () < end && usleep (100000) == 0);
  expect_ok ("changes");
  if (!(has_change ("A /data") && has_change ("A /data/x") && has_change ("A /data/x/f") && has_change ("C /etc")
        && has_change ("D /etc/passwd") && has_change ("C /tmp") && has_change ("A /tmp/t") && has_change ("A /done")))
    fail_msg ("changes: %s", r.changes);
  if (has_change ("C /bin") || has_change ("A /bin/sh"))
    fail_msg ("unchanged files listed: %s", r.changes);
  OP (ops->remove (rt, "lct-drift", true, false, on_done, NULL));
  expect_ok ("remove");
  OP (ops->changes (rt, "lct-drift", on_changes, NULL));
  assert_int_equal (r.ret, -ENOENT);
  reset ();
}

/* The first event action for id at index from or later; SIZE_MAX when none
 * came within max_ms. */
static size_t
wait_event (const char *action, const char *id, size_t from, int max_ms)
{
  lympho_error_t err = { 0 };
  uint64_t end = now_mono_ms () + (uint64_t) max_ms;
  for (;;)
    {
      for (size_t i = from; i < n_seen; i++)
        if (strcmp (seen[i].action, action) == 0 && strcmp (seen[i].id, id) == 0)
          return i;
      if (now_mono_ms () >= end)
        return SIZE_MAX;
      assert_int_equal (loop_run_once (loop, 20, &err), 0);
    }
}

/* An event of a change made at [before, after] (realtime ms): it came
 * within 1 s of the change (lymphd polled every 2 s before plugins could
 * stream), stamped with containerd's time of the change. */
static void
assert_prompt (size_t i, const char *what, uint64_t before, uint64_t after)
{
  if (i == SIZE_MAX)
    fail_msg ("%s: no event within 1 s; events: %s", what, evlog);
  if (seen[i].arrived_real_ms > after + 1000)
    fail_msg ("%s: the event came %llu ms after the change", what,
              (unsigned long long) (seen[i].arrived_real_ms - after));
  uint64_t t = seen[i].time_nano / 1000000u;
  /* Clocks of one host: stamped after the change began and before the
   * event came, give or take the rounding to ms. */
  if (t + 5 < before || t > seen[i].arrived_real_ms + 5)
    fail_msg ("%s: stamped %llu, the change began at %llu, the event came at %llu", what, (unsigned long long) t,
              (unsigned long long) before, (unsigned long long) seen[i].arrived_real_ms);
}

/* Events are streamed: a container started with ctr, its task killed with
 * SIGKILL from outside (as a crash), then removed with ctr, gives start,
 * die (exit code 137) and destroy, in this order, under the id list
 * reports, each within 1 s. A process exec'd into it that exits is no
 * death of the container. */
static void
test_stream (void **state)
{
  subscribe_once ();
  const char *id = "ctr:lct-ev-id";
  uint64_t wait_end = now_mono_ms () + 30000;
  lympho_error_t err = { 0 };
  /* The stream answers once subscribed and listed: start from there. */
  while (conn_up != 1 && now_mono_ms () < wait_end)
    assert_int_equal (loop_run_once (loop, 50, &err), 0);
  assert_int_equal (conn_up, 1);
  size_t from = n_seen;
  assert_int_equal (sh ("%s containers create --label " NAME_LABEL "=lct-ev --label lympho.enable=true -- %s "
                        "lct-ev-id " LOOP_CMD,
                        ctr_cmd, IMAGE),
                    0);
  size_t created = wait_event ("create", id, from, 1000);
  assert_true (created != SIZE_MAX);

  uint64_t before = now_real_ms ();
  assert_int_equal (sh ("%s tasks start -d --null-io lct-ev-id", ctr_cmd), 0);
  uint64_t after = now_real_ms ();
  size_t started = wait_event ("start", id, created, 1000);
  assert_prompt (started, "start", before, after);

  OP (ops->inspect (rt, id, on_container, NULL));
  expect_ok ("inspect");
  assert_string_equal (r.c.name, "lct-ev");
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  int pid = r.c.pid;
  assert_true (pid > 1);

  assert_int_equal (sh ("%s tasks exec --exec-id lct-ev-exec lct-ev-id sh -c 'exit 3'", ctr_cmd), 3 << 8);
  assert_int_equal (wait_event ("die", id, started, 300), SIZE_MAX);

  before = now_real_ms ();
  assert_int_equal (kill (pid, SIGKILL), 0);
  after = now_real_ms ();
  size_t died = wait_event ("die", id, started, 1000);
  assert_prompt (died, "die", before, after);
  assert_int_equal (seen[died].exit_code, 137);

  before = now_real_ms ();
  assert_int_equal (sh ("{ %s tasks delete lct-ev-id && %s containers delete lct-ev-id; }", ctr_cmd, ctr_cmd), 0);
  after = now_real_ms ();
  size_t destroyed = wait_event ("destroy", id, died, 1000);
  assert_prompt (destroyed, "destroy", before, after);

  /* Nothing else of it in between: one start, one die, one destroy. */
  for (size_t i = created + 1; i < destroyed; i++)
    if (strcmp (seen[i].id, id) == 0 && i != started && i != died)
      fail_msg ("an unexpected event %s of %s between create and destroy", seen[i].action, id);
  reset ();
}

static bool
have (const char *prog)
{
  cleanup_free char *cmd = xasprintf ("command -v %s", prog);
  return sh ("%s", cmd) == 0;
}

static int
setup (void **state)
{
  lympho_error_t err = { 0 };
  snprintf (dir, sizeof dir, "/tmp/lct-%d", (int) getpid ());
  snprintf (sock, sizeof sock, "%s/c.sock", dir);
  assert_int_equal (mkdir_p (dir, 0700, &err), 0);
  cleanup_free char *conf = xasprintf ("version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                       "[grpc]\n  address = \"%s\"\n[ttrpc]\n  address = \"%s.ttrpc\"\n"
                                       "[debug]\n  address = \"\"\n",
                                       sock, sock);
  cleanup_free char *confpath = xasprintf ("%s/config.toml", dir);
  assert_int_equal (write_file_atomic (confpath, conf, strlen (conf), 0600, &err), 0);
  containerd_pid = fork ();
  assert_true (containerd_pid >= 0);
  if (containerd_pid == 0)
    {
      cleanup_free char *root = xasprintf ("%s/root", dir);
      cleanup_free char *st = xasprintf ("%s/state", dir);
      cleanup_free char *log = xasprintf ("%s/containerd.log", dir);
      if (freopen (log, "w", stderr) == NULL || freopen ("/dev/null", "w", stdout) == NULL)
        _exit (127);
      execlp ("containerd", "containerd", "--config", confpath, "--root", root, "--state", st, "--address", sock,
              (char *) NULL);
      _exit (127);
    }
  cleanup_free char *ctr = xasprintf ("ctr --address %s", sock);
  int up = -1;
  for (int i = 0; i < 100 && up != 0; i++)
    {
      usleep (100000);
      up = sh ("%s version", ctr);
    }
  if (up != 0)
    fail_msg ("containerd did not come up; see %s/containerd.log", dir);
  assert_int_equal (sh ("%s/contrib/runtimes/oci-busybox.sh %s/img.tar %s", SRCDIR, dir, IMAGE), 0);
  assert_int_equal (sh ("%s --namespace lympho image import %s/img.tar", ctr, dir), 0);
  ctr_cmd = xasprintf ("%s --namespace lympho", ctr);
  setenv ("LYMPHO_CONTAINERD_ADDRESS", sock, 1);
  assert_int_equal (loop_new (&loop, &err), 0);
  assert_int_equal (ops->open (loop, PLUGIN, &rt, &err), 0);
  /* From here on with lymphd's privileges (the exec: runtime asked for the
   * plugins' share in open): ctr's mounts must still work. */
  if (privs_drop (&err) < 0)
    fail_msg ("privs_drop: %s", err.msg);
  return 0;
}

static int
teardown (void **state)
{
  if (rt)
    ops->close (rt);
  lympho_error_t err = { 0 };
  for (int i = 0; i < 5; i++)
    assert_int_equal (loop_run_once (loop, 20, &err), 0);
  loop_free (loop);
  /* Whatever a failed run left. */
  sh ("for c in $(%s c ls -q); do %s t delete -f $c; %s c delete $c; done", ctr_cmd, ctr_cmd, ctr_cmd);
  free (ctr_cmd);
  if (containerd_pid > 0)
    {
      kill (containerd_pid, SIGTERM);
      waitpid (containerd_pid, NULL, 0);
    }
  sh ("umount -R %s/state/* %s/root/* 2>/dev/null; rm -rf %s", dir, dir, dir);
  return 0;
}

int
main (void)
{
  if (geteuid () != 0 || !have ("containerd") || !have ("ctr") || !have ("python3") || access ("/bin/busybox", X_OK))
    {
      fprintf (stderr, "runtime_containerd: needs root, containerd, ctr, python3 and /bin/busybox; skipped\n");
      return 77;
    }
  /* One containerd for all: the privileges dropped in setup stay dropped. */
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_containerd),
    cmocka_unit_test (test_foreign_id),
    cmocka_unit_test (test_vanish),
    cmocka_unit_test (test_changes),
    cmocka_unit_test (test_stream),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
