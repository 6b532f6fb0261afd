/* The exec backend against real plugin processes: small sh scripts written
 * for each case. A plugin that hangs is killed with its whole process
 * group and reports ETIMEDOUT without having changed anything; one that
 * answers garbage reports EIO; answers, errors, oversized answers, polled
 * and streamed events go through runtime_exec_ops as lymphd sees them. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"

static char dir[] = "/tmp/lympho-exec-test-XXXXXX";
static struct loop *loop;

static char *
plugin (const char *name, const char *body)
{
  char *path = xasprintf ("%s/%s", dir, name);
  cleanup_free char *text = xasprintf ("#!/bin/sh\nD=%s\n%s\n", dir, body);
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
  chmod (path, 0755);
  return path;
}

struct res
{
  bool done, returned;
  int ret;
  lympho_error_t err;
  size_t n;
  char *first_name;
};

static void
on_done (void *ud, int ret, const lympho_error_t *err)
{
  struct res *r = ud;
  assert_true (r->returned); /* never from inside the call */
  r->done = true;
  r->ret = ret;
  if (err)
    r->err = *err;
}

static void
on_list (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  struct res *r = ud;
  on_done (ud, ret, err);
  r->n = n;
  if (n > 0)
    r->first_name = xstrdup (v[0].name);
}

static void
on_top (void *ud, int ret, const lympho_error_t *err, const struct rt_process *v, size_t n)
{
  (void) v;
  struct res *r = ud;
  on_done (ud, ret, err);
  r->n = n;
}

static void
wait_for (struct res *r, int max_ms)
{
  uint64_t end = now_mono_ms () + (uint64_t) max_ms;
  lympho_error_t err = { 0 };
  while (!r->done && now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 50, &err), 0);
  assert_true (r->done);
}

static void
spin (int ms)
{
  uint64_t end = now_mono_ms () + (uint64_t) ms;
  lympho_error_t err = { 0 };
  while (now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 20, &err), 0);
}

static struct runtime *
open_plugin (const char *path)
{
  struct runtime *rt = NULL;
  lympho_error_t err = { 0 };
  cleanup_free char *name = xasprintf ("exec:%s", path);
  const struct runtime_ops *ops = runtime_lookup (name);
  assert_ptr_equal (ops, &runtime_exec_ops);
  assert_int_equal (ops->open (loop, runtime_endpoint (name, "unused"), &rt, &err), 0);
  return rt;
}

/* Dead or a zombie waiting for init: not running any more. */
static bool
gone (int pid)
{
  cleanup_free char *p = xasprintf ("/proc/%d/stat", pid);
  cleanup_free char *text = NULL;
  size_t len;
  lympho_error_t err = { 0 };
  if (read_file (p, 4096, &text, &len, &err) < 0)
    return true;
  const char *close_paren = strrchr (text, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static void
test_lookup (void **state)
{
  (void) state;
  assert_null (runtime_lookup ("exec:relative/path"));
  assert_null (runtime_lookup ("exec:"));
  assert_ptr_equal (runtime_lookup ("exec:/usr/bin/x"), &runtime_exec_ops);
  assert_string_equal (runtime_endpoint ("exec:/usr/bin/x", "unix:///s"), "/usr/bin/x");
  assert_string_equal (runtime_endpoint ("docker", "unix:///s"), "unix:///s");
  struct runtime *rt = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (runtime_exec_ops.open (loop, "/nonexistent/plugin", &rt, &err), -ENOENT);
}

static void
test_hang_is_killed (void **state)
{
  (void) state;
  /* It records its pid and a child's, then would change the "runtime"
   * (a file) after a long sleep: the time limit must come first. */
  cleanup_free char *path = plugin ("hang", "echo $$ > $D/hang.pids\n"
                                            "sleep 300 & echo $! >> $D/hang.pids\n"
                                            "sleep 5; touch $D/hang.changed; wait");
  setenv ("LYMPHO_PLUGIN_TIMEOUT_MS", "700", 1);
  struct runtime *rt = open_plugin (path);
  unsetenv ("LYMPHO_PLUGIN_TIMEOUT_MS");
  struct res r = { 0 };
  uint64_t t0 = now_mono_ms ();
  runtime_exec_ops.start (rt, "c1", on_done, &r);
  r.returned = true;
  wait_for (&r, 5000);
  uint64_t took = now_mono_ms () - t0;
  assert_int_equal (r.ret, -ETIMEDOUT);
  assert_int_equal (r.err.status, ETIMEDOUT);
  assert_non_null (strstr (r.err.msg, "start c1"));
  assert_non_null (strstr (r.err.msg, "process group was killed"));
  assert_true (took >= 600 && took < 3000);

  spin (300);
  cleanup_free char *pidsfile = xasprintf ("%s/hang.pids", dir);
  cleanup_free char *pids = NULL;
  size_t len;
  lympho_error_t err = { 0 };
  assert_int_equal (read_file (pidsfile, 4096, &pids, &len, &err), 0);
  int p1 = 0, p2 = 0;
  assert_int_equal (sscanf (pids, "%d %d", &p1, &p2), 2);
  assert_true (gone (p1));
  assert_true (gone (p2));
  /* Past the plugin's own sleep: nothing was changed. */
  spin (5000);
  cleanup_free char *changed = xasprintf ("%s/hang.changed", dir);
  assert_int_equal (access (changed, F_OK), -1);
  runtime_exec_ops.close (rt);
}

static void
test_garbage_is_eio (void **state)
{
  (void) state;
  cleanup_free char *path = plugin ("garbage", "cat >/dev/null; echo 'Error: something broke'; exit 0");
  struct runtime *rt = open_plugin (path);
  struct res r = { 0 };
  runtime_exec_ops.start (rt, "c1", on_done, &r);
  r.returned = true;
  wait_for (&r, 5000);
  assert_int_equal (r.ret, -EIO);
  assert_non_null (strstr (r.err.msg, "plugin answered garbage"));
  assert_non_null (strstr (r.err.msg, "Error: something broke"));

  struct res l = { 0 };
  runtime_exec_ops.list (rt, NULL, on_list, &l);
  l.returned = true;
  wait_for (&l, 5000);
  assert_int_equal (l.ret, -EIO);
  runtime_exec_ops.close (rt);
}

static void
test_answers (void **state)
{
  (void) state;
  /* The request is checked too: it must carry the version and the id. */
  cleanup_free char *path = plugin (
      "answers",
      "req=$(cat)\n"
      "case \"$1\" in\n"
      "start) case \"$req\" in *'\"version\":1'*'\"id\":\"c1\"'*) echo '{\"version\":1,\"ok\":true}';; "
      "*) echo '{\"version\":1,\"ok\":false,\"error\":\"bad request\",\"errno\":\"EINVAL\"}';; esac;;\n"
      "stop) echo '{\"version\":1,\"ok\":false,\"error\":\"no such container c2\",\"errno\":\"ENOENT\"}';;\n"
      "kill) echo 'oops' >&2; exit 3;;\n"
      "pause) echo '{\"version\":1,\"ok\":true}'; exit 1;;\n"
      "list) echo '{\"version\":1,\"ok\":true,\"containers\":[{\"id\":\"c1\",\"name\":\"web\",\"state\":\"running\"}]}';;\n"
      "top) head -c 17000000 /dev/zero | tr '\\0' ' ';;\n"
      "esac");
  struct runtime *rt = open_plugin (path);
  struct res a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 }, f = { 0 };
  runtime_exec_ops.start (rt, "c1", on_done, &a);
  runtime_exec_ops.stop (rt, "c2", 1, on_done, &b);
  runtime_exec_ops.kill (rt, "c3", "SIGTERM", on_done, &c);
  runtime_exec_ops.pause (rt, "c4", on_done, &d);
  runtime_exec_ops.list (rt, "lympho.enable=true", on_list, &e);
  a.returned = b.returned = c.returned = d.returned = e.returned = true;
  wait_for (&a, 5000);
  wait_for (&b, 5000);
  wait_for (&c, 5000);
  wait_for (&d, 5000);
  wait_for (&e, 5000);
  assert_int_equal (a.ret, 0);
  assert_int_equal (b.ret, -ENOENT);
  assert_non_null (strstr (b.err.msg, "no such container c2"));
  assert_int_equal (c.ret, -EIO);
  assert_non_null (strstr (c.err.msg, "status 3"));
  assert_non_null (strstr (c.err.msg, "oops"));
  assert_int_equal (d.ret, -EIO); /* ok but a failing exit status */
  assert_int_equal (e.ret, 0);
  assert_int_equal (e.n, 1);
  assert_string_equal (e.first_name, "web");
  free (e.first_name);

  runtime_exec_ops.top (rt, "c1", on_top, &f);
  f.returned = true;
  wait_for (&f, 10000);
  assert_int_equal (f.ret, -EIO);
  assert_non_null (strstr (f.err.msg, "more than"));
  runtime_exec_ops.close (rt);
}

struct evs
{
  char log[1024];
  int up;
};

static void
on_event (void *ud, const struct rt_event *ev)
{
  struct evs *s = ud;
  char one[128];
  snprintf (one, sizeof one, "%s:%s ", ev->action, ev->name ? ev->name : "?");
  strncat (s->log, one, sizeof s->log - strlen (s->log) - 1);
}

static void
on_conn (void *ud, bool up)
{
  struct evs *s = ud;
  s->up = up ? 1 : 0;
}

static void
write_text (const char *name, const char *text)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, name);
  lympho_error_t err = { 0 };
  assert_int_equal (write_file_atomic (p, text, strlen (text), 0644, &err), 0);
}

static void
test_poll_events (void **state)
{
  (void) state;
  cleanup_free char *path = plugin ("poller", "cat >/dev/null\n"
                                              "case \"$1\" in\n"
                                              "capabilities) echo '{\"version\":1,\"ok\":true,\"events\":\"poll\"}';;\n"
                                              "list) printf '{\"version\":1,\"ok\":true,\"containers\":%s}' \"$(cat $D/list)\";;\n"
                                              "*) exit 2;;\n"
                                              "esac");
  write_text ("list", "[{\"id\":\"a\",\"name\":\"web\",\"state\":\"running\"}]");
  setenv ("LYMPHO_PLUGIN_POLL_MS", "100", 1);
  struct runtime *rt = open_plugin (path);
  unsetenv ("LYMPHO_PLUGIN_POLL_MS");
  struct evs s = { .up = -1 };
  lympho_error_t err = { 0 };
  assert_int_equal (runtime_exec_ops.subscribe (rt, on_event, on_conn, &s, &err), 0);
  spin (500);
  assert_int_equal (s.up, 1);
  assert_string_equal (s.log, "");
  write_text ("list", "[{\"id\":\"a\",\"name\":\"web\",\"state\":\"exited\"},"
                      "{\"id\":\"b\",\"name\":\"web-next\",\"state\":\"running\"}]");
  spin (500);
  assert_string_equal (s.log, "die:web create:web-next start:web-next ");
  /* A garbage list: the connection is reported down, nothing is made up. */
  write_text ("list", "nonsense");
  spin (500);
  assert_int_equal (s.up, 0);
  write_text ("list", "[{\"id\":\"b\",\"name\":\"web\",\"state\":\"running\"}]");
  spin (1500);
  assert_int_equal (s.up, 1);
  assert_string_equal (s.log, "die:web create:web-next start:web-next rename:web destroy:web ");
  runtime_exec_ops.close (rt);
}

/* spin until the event log reads WANT, or MAX_MS went by. */
static void
spin_until_log (struct evs *s, const char *want, int max_ms)
{
  uint64_t end = now_mono_ms () + (uint64_t) max_ms;
  lympho_error_t err = { 0 };
  while (strcmp (s->log, want) != 0 && now_mono_ms () < end)
    assert_int_equal (loop_run_once (loop, 20, &err), 0);
}

/* A plugin that streams: events arrive in order, a malformed line is
 * skipped, and a stream that ends is started again with since = a margin
 * before the newest time seen; what it sends again is not delivered twice. */
static void
test_stream_events (void **state)
{
  (void) state;
  cleanup_free char *path = plugin (
      "streamer",
      "req=$(cat)\n"
      "case \"$1\" in\n"
      "capabilities) echo '{\"version\":1,\"ok\":true,\"events\":\"stream\"}';;\n"
      "events)\n"
      "  echo \"$req\" >>$D/requests\n"
      "  echo '{\"version\":1,\"ok\":true}'\n"
      "  if [ ! -e $D/streamed ]; then\n"
      "    : >$D/streamed\n"
      "    echo '{\"version\":1,\"type\":\"container\",\"action\":\"start\",\"id\":\"a\",\"name\":\"web\",\"time_nano\":10000000100}'\n"
      "    echo 'this is not an event'\n"
      "    echo '{\"version\":1,\"type\":\"container\",\"action\":\"die\",\"id\":\"a\",\"name\":\"web\",\"exit_code\":137,\"time_nano\":10000000200}'\n"
      "    exit 0\n"
      "  fi\n"
      "  echo '{\"version\":1,\"type\":\"container\",\"action\":\"die\",\"id\":\"a\",\"name\":\"web\",\"exit_code\":137,\"time_nano\":10000000200}'\n"
      "  echo '{\"version\":1,\"type\":\"container\",\"action\":\"destroy\",\"id\":\"a\",\"name\":\"web\",\"time_nano\":10000000300}'\n"
      "  exec sleep 60;;\n"
      "*) exit 2;;\n"
      "esac");
  struct runtime *rt = open_plugin (path);
  struct evs s = { .up = -1 };
  lympho_error_t err = { 0 };
  assert_int_equal (runtime_exec_ops.subscribe (rt, on_event, on_conn, &s, &err), 0);
  spin_until_log (&s, "start:web die:web destroy:web ", 10000);
  assert_string_equal (s.log, "start:web die:web destroy:web ");
  assert_int_equal (s.up, 1);
  /* The first stream asked from the start, the second from 2 s before
   * the die (the die it sent again was not delivered twice). */
  cleanup_free char *reqs_path = xasprintf ("%s/requests", dir);
  cleanup_free char *reqs = NULL;
  size_t len = 0;
  assert_int_equal (read_file (reqs_path, 4096, &reqs, &len, &err), 0);
  char *second = strchr (reqs, '\n');
  assert_non_null (second);
  *second++ = '\0';
  assert_null (strstr (reqs, "\"since\""));
  assert_non_null (strstr (second, "\"since\":8000000200"));
  runtime_exec_ops.close (rt);
}

static int
setup (void **state)
{
  (void) state;
  lympho_error_t err = { 0 };
  if (mkdtemp (dir) == NULL)
    return -1;
  return loop_new (&loop, &err);
}

static int
teardown (void **state)
{
  (void) state;
  spin (100);
  loop_free (loop);
  cleanup_free char *cmd = xasprintf ("rm -rf %s", dir);
  return system (cmd) == 0 ? 0 : -1;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_lookup), cmocka_unit_test (test_garbage_is_eio), cmocka_unit_test (test_answers),
    cmocka_unit_test (test_hang_is_killed), cmocka_unit_test (test_poll_events), cmocka_unit_test (test_stream_events),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
