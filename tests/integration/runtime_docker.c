/* A runtime backend against its real engine: every operation of its
 * runtime_ops through a struct loop, checked by what the engine then reports
 * (through the backend and through the engine's own CLI). One suite for
 * every backend that speaks the Docker API:
 *
 *   LYMPHO_TEST_RUNTIME   docker (default) or podman
 *   LYMPHO_TEST_ENDPOINT  the engine; else $DOCKER_HOST for docker, else the
 *                         backend's default (unix:///var/run/docker.sock,
 *                         unix:///run/podman/podman.sock)
 *
 * Needs the engine, its CLI (/usr/bin/docker or podman) and /bin/busybox;
 * exits 77 (skip) without them. Everything it creates is named
 * lrt-it-<pid>-... (lpd-it-<pid>-... under Podman) and removed at the end.
 * Where Podman answers differently by design, the check says so. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"

static const struct runtime_ops *ops = &runtime_docker_ops;
static bool podman;       /* LYMPHO_TEST_RUNTIME=podman */
/* Podman's CLI needs them to start anything here (../shared/ENGINE.md). */
static const char *run_opts = "";
static struct loop *loop;
static struct runtime *rt;
static const char *endpoint;
static const char *docker_cli;
static char prefix[64];
static char image[128];
static int host_port;
static char *anon_volumes; /* the source's volumes, removed at the end */

/* ---- the docker CLI, for setting up and for a second opinion ---- */

static int
run (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
static int
run (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *cmd = NULL;
  if (vasprintf (&cmd, fmt, ap) < 0)
    abort ();
  va_end (ap);
  cleanup_free char *full = xasprintf ("DOCKER_API_VERSION=1.41 %s %s >/dev/null 2>&1", docker_cli, cmd);
  return system (full);
}

static char *
capture (const char *fmt, ...) LYMPHO_PRINTF (1, 2);
static char *
capture (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *cmd = NULL;
  if (vasprintf (&cmd, fmt, ap) < 0)
    abort ();
  va_end (ap);
  cleanup_free char *full = xasprintf ("DOCKER_API_VERSION=1.41 %s %s 2>/dev/null", docker_cli, cmd);
  FILE *f = popen (full, "r");
  assert_non_null (f);
  struct buf b;
  buf_init (&b);
  char chunk[4096];
  size_t n;
  while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
    buf_append (&b, chunk, n);
  pclose (f);
  return buf_steal (&b);
}

/* `docker inspect NAME` as a tree (the first element). */
static json_val
cli_inspect (const char *name, json_val *root)
{
  cleanup_free char *out = capture ("inspect %s", name);
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (out, strlen (out), root, &err), 0);
  assert_int_equal (json_arr_len (*root), 1);
  return json_arr_at (*root, 0);
}

static bool
arr_has (json_val arr, const char *s)
{
  for (size_t i = 0; i < json_arr_len (arr); i++)
    if (json_str (json_arr_at (arr, i)) && strcmp (json_str (json_arr_at (arr, i)), s) == 0)
      return true;
  return false;
}

/* ---- calling an op and running the loop until its callback ---- */

struct res
{
  bool done;
  bool returned;     /* the op had returned when the callback ran */
  int ret;
  lympho_error_t err;
  char *id;
  struct rt_container c;
  struct rt_snapshot s;
  size_t n;
  bool found;
  char kind;
  int64_t bytes;
};
static struct res r;

static void
res_reset (void)
{
  free (r.id);
  rt_container_free (&r.c);
  rt_snapshot_free (&r.s);
  memset (&r, 0, sizeof r);
}

static void
got (int ret, const lympho_error_t *err)
{
  assert_false (r.done); /* exactly once */
  assert_true (r.returned);
  r.done = true;
  r.ret = ret;
  if (ret < 0)
    {
      assert_non_null (err);
      r.err = *err;
    }
}

static void
wait_done (void)
{
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + 60000;
  while (!r.done && now_mono_ms () < deadline)
    assert_int_equal (loop_run_once (loop, 200, &err), 0);
  assert_true (r.done);
}

#define CALL(expr)                                                                                                   \
  do                                                                                                                 \
    {                                                                                                                \
      res_reset ();                                                                                                  \
      expr;                                                                                                          \
      assert_false (r.done);                                                                                         \
      r.returned = true;                                                                                             \
      wait_done ();                                                                                                  \
    }                                                                                                                \
  while (0)
#define OK(expr)                                                                                                     \
  do                                                                                                                 \
    {                                                                                                                \
      CALL (expr);                                                                                                   \
      if (r.ret != 0)                                                                                                \
        fail_msg ("%s: %s", #expr, r.err.msg);                                                                       \
    }                                                                                                                \
  while (0)
#define FAILS(expr, e)                                                                                               \
  do                                                                                                                 \
    {                                                                                                                \
      CALL (expr);                                                                                                   \
      assert_int_equal (r.ret, -(e));                                                                                \
      assert_int_equal (r.err.status, (e));                                                                          \
      assert_true (r.err.msg[0] != '\0');                                                                            \
    }                                                                                                                \
  while (0)

static void
on_done (void *ud, int ret, const lympho_error_t *err)
{
  got (ret, err);
}

static void
on_id (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  got (ret, err);
  if (ret == 0)
    {
      assert_non_null (id);
      r.id = xstrdup (id);
    }
}

static void
on_container (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  got (ret, err);
  if (ret < 0)
    return;
  rt_container_copy (&r.c, c);
}

static const char *want_name;

static void
on_list (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n)
{
  got (ret, err);
  r.n = n;
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].name, want_name) == 0)
      {
        r.found = true;
        r.c.state = v[i].state;
        r.id = xstrdup (v[i].id);
        assert_true (str_has_prefix (v[i].image_id, "sha256:"));
      }
}

static void
on_snapshot (void *ud, int ret, const lympho_error_t *err, struct rt_snapshot *s)
{
  got (ret, err);
  if (ret == 0)
    {
      r.s = *s;
      memset (s, 0, sizeof *s); /* taking ownership, as allowed */
    }
}

static const char *want_path;

static void
on_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  got (ret, err);
  r.n = n;
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].path, want_path) == 0)
      {
        r.found = true;
        r.kind = v[i].kind;
      }
}

static void
on_top (void *ud, int ret, const lympho_error_t *err, const struct rt_process *v, size_t n)
{
  got (ret, err);
  r.n = n;
  for (size_t i = 0; i < n; i++)
    if (v[i].pid > 0 && strstr (v[i].cmd, "httpd") && v[i].user && strcmp (v[i].user, "root") == 0)
      r.found = true;
}

/* ---- events ---- */

static char *watch_id;
static struct buf seen; /* "start die:137 " for watch_id */
static int ups, downs;

static void
on_event (void *ud, const struct rt_event *ev)
{
  if (watch_id == NULL || ev->type != RT_EV_CONTAINER || strcmp (ev->id, watch_id) != 0)
    return;
  assert_true (ev->time_nano > 0);
  /* Docker's carry the command ("exec_create: sh -c kill 1"). */
  if (str_has_prefix (ev->action, "exec_"))
    return;
  if (strcmp (ev->action, "die") == 0)
    buf_printf (&seen, "die:%d ", ev->exit_code);
  else
    buf_printf (&seen, "%s ", ev->action);
}

static void
on_conn (void *ud, bool up)
{
  if (up)
    ups++;
  else
    downs++;
}

static void
wait_seen (const char *what)
{
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + 20000;
  while ((seen.data == NULL || strstr (seen.data, what) == NULL) && now_mono_ms () < deadline)
    assert_int_equal (loop_run_once (loop, 200, &err), 0);
  if (seen.data == NULL || strstr (seen.data, what) == NULL)
    fail_msg ("event %s not seen (saw: %s)", what, seen.data ? seen.data : "");
}

/* ---- setup ---- */

static int
free_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || getsockname (fd, (struct sockaddr *) &a, &len) < 0)
    abort ();
  close (fd);
  return ntohs (a.sin_port);
}

static void
cleanup_engine (void)
{
  if (prefix[0] == '\0')
    return;
  cleanup_free char *ids = capture ("ps -aq --filter label=lrt.test=%s", prefix);
  for (char *p = strtok (ids, "\n"); p; p = strtok (NULL, "\n"))
    run ("rm -f %s", p);
  /* One at a time: podman stops at the first name it does not know. */
  static const char *const names[] = { "src", "src-old", "copy", "bad", "ev", "hc", "st", "ps", "rot" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    run ("rm -f %s-%s", prefix, names[i]);
  run ("network rm %s-n1", prefix);
  run ("network rm %s-n2", prefix);
  run ("volume rm -f %s-vol", prefix);
  for (char *p = anon_volumes ? strtok (anon_volumes, " \n") : NULL; p; p = strtok (NULL, " \n"))
    if (strlen (p) == 64) /* anonymous ones only */
      run ("volume rm -f %s", p);
  run ("rmi %s/commit:t1", prefix);
  run ("rmi %s/copy:t2", prefix);
  run ("rmi %s", image);
}

static struct res ping_res;

static void
on_ping (void *ud, int ret, const lympho_error_t *err)
{
  ping_res.done = true;
  ping_res.ret = ret;
}

static int
setup (void **state)
{
  const char *name = getenv ("LYMPHO_TEST_RUNTIME");
  if (name && name[0])
    {
      ops = runtime_lookup (name);
      if (ops == NULL)
        {
          fprintf (stderr, "LYMPHO_TEST_RUNTIME: no runtime %s\n", name);
          exit (1);
        }
    }
  podman = strcmp (ops->name, "podman") == 0;
  endpoint = getenv ("LYMPHO_TEST_ENDPOINT");
  if ((endpoint == NULL || endpoint[0] == '\0') && !podman)
    endpoint = getenv ("DOCKER_HOST");
  if (endpoint == NULL || endpoint[0] == '\0')
    endpoint = podman ? "unix:///run/podman/podman.sock" : "unix:///var/run/docker.sock";
  if (podman)
    {
      /* The CLI as root works on the same storage as the service. */
      docker_cli = "podman";
      /* The OCI runtime the service runs too (contrib/podman.sh picks runc
       * where crun cannot run): the CLI's containers behave as the API's. */
      cleanup_free char *oci = NULL;
      cleanup_free char *ask = xasprintf ("podman --remote --url %s info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null",
                                          endpoint);
      FILE *f = popen (ask, "r");
      char name_buf[64] = "";
      if (f && fgets (name_buf, sizeof name_buf, f))
        name_buf[strcspn (name_buf, "\n")] = '\0';
      if (f)
        pclose (f);
      oci = name_buf[0] && strspn (name_buf, "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen (name_buf)
                ? xasprintf (" --runtime %s", name_buf)
                : xstrdup ("");
      static char opts[128];
      snprintf (opts, sizeof opts, "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024");
      run_opts = opts;
      static char cli[128];
      snprintf (cli, sizeof cli, "podman%s", oci);
      docker_cli = cli;
    }
  else
    docker_cli = access ("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "docker";
  lympho_error_t err = { 0 };
  if (loop_new (&loop, &err) < 0 || ops->open (loop, endpoint, &rt, &err) < 0)
    {
      fprintf (stderr, "SKIP: %s\n", err.msg);
      exit (77);
    }
  ops->ping (rt, on_ping, NULL);
  uint64_t deadline = now_mono_ms () + 5000;
  while (!ping_res.done && now_mono_ms () < deadline)
    assert_int_equal (loop_run_once (loop, 200, &err), 0);
  if (!ping_res.done || ping_res.ret != 0 || access ("/bin/busybox", X_OK) != 0)
    {
      fprintf (stderr, "SKIP: no %s engine at %s (or no /bin/busybox)\n", ops->name, endpoint);
      exit (77);
    }

  snprintf (prefix, sizeof prefix, "%s-it-%d", podman ? "lpd" : "lrt", (int) getpid ());
  snprintf (image, sizeof image, "%s/img:1", prefix);
  host_port = free_port ();
  cleanup_free char *mk = xasprintf (
      "set -e; d=$(mktemp -d); mkdir -p $d/bin $d/www $d/tmp; cp /bin/busybox $d/bin/; "
      "for c in sh httpd sleep wget cat echo touch; do ln -s busybox $d/bin/$c; done; echo hi > $d/www/index.html; "
      /* Podman names users from the container's own passwd. */
      "mkdir -p $d/etc; echo root:x:0:0:root:/:/bin/sh > $d/etc/passwd; "
      "tar -C $d -c . | DOCKER_API_VERSION=1.41 %s import -c 'CMD [\"/bin/httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"]' "
      "- %s >/dev/null; rm -rf $d",
      docker_cli, image);
  assert_int_equal (system (mk), 0);
  assert_int_equal (run ("network create --label lrt.test=%s %s-n1", prefix, prefix), 0);
  assert_int_equal (run ("network create --label lrt.test=%s %s-n2", prefix, prefix), 0);
  assert_int_equal (run ("volume create --label lrt.test=%s %s-vol", prefix, prefix), 0);
  assert_int_equal (run ("run -d %s --name %s-src --label lrt.test=%s --label lrt.enable=true -e FOO=bar "
                         "-p 127.0.0.1:%d:80 -v %s-vol:/vol -v /anon --network %s-n1 --network-alias web "
                         "--health-cmd 'wget -q -O- http://127.0.0.1/ || exit 1' --health-interval 1s %s",
                         run_opts, prefix, prefix, host_port, prefix, prefix, image),
                    0);
  assert_int_equal (run ("network connect --alias api %s-n2 %s-src", prefix, prefix), 0);
  anon_volumes = capture ("inspect -f '{{range .Mounts}}{{.Name}} {{end}}' %s-src", prefix);
  assert_int_equal (ops->subscribe (rt, on_event, on_conn, NULL, &err), 0);
  assert_int_equal (ops->subscribe (rt, on_event, on_conn, NULL, &err), -EBUSY);
  OK (ops->ping (rt, on_done, NULL));
  return 0;
}

static int
teardown (void **state)
{
  res_reset ();
  cleanup_engine ();
  if (rt)
    ops->close (rt);
  loop_free (loop);
  free (watch_id);
  free (anon_volumes);
  buf_free (&seen);
  return 0;
}

/* ---- the tests, in order ---- */

static char *src_id;
static char *copy_id;
static char *src_image;

static void
test_list_inspect (void **state)
{
  cleanup_free char *filter = xasprintf ("lrt.test=%s", prefix);
  cleanup_free char *name = xasprintf ("%s-src", prefix);
  want_name = name;
  OK (ops->list (rt, filter, on_list, NULL));
  assert_true (r.found);
  assert_int_equal (r.n, 1);
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  src_id = xstrdup (r.id);

  OK (ops->inspect (rt, name, on_container, NULL));
  assert_string_equal (r.c.id, src_id);
  assert_string_equal (r.c.name, name);
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  assert_true (r.c.health != RT_HEALTH_NONE);
  assert_true (r.c.pid > 0);
  assert_string_equal (rt_labels_get (&r.c.labels, "lrt.enable"), "true");
  uint64_t now = now_real_ms ();
  assert_true (r.c.started_at_ms > now - 120000 && r.c.started_at_ms <= now + 1000);
  src_image = xstrdup (r.c.image_id);
  /* Its writable layer, where the engine's storage is an overlay: a
   * directory of the host (the drift check reads it). */
  if (r.c.upper_dir)
    {
      struct stat us;
      assert_true (r.c.upper_dir[0] == '/');
      assert_int_equal (lstat (r.c.upper_dir, &us), 0);
      assert_true (S_ISDIR (us.st_mode));
    }

  FAILS (ops->inspect (rt, "lrt-it-no-such-container", on_container, NULL), ENOENT);
  FAILS (ops->snapshot (rt, "lrt-it-no-such-container", on_snapshot, NULL), ENOENT);
  FAILS (ops->start (rt, "lrt-it-no-such-container", on_done, NULL), ENOENT);
  FAILS (ops->remove (rt, "lrt-it-no-such-container", true, false, on_done, NULL), ENOENT);
  FAILS (ops->image_inspect (rt, "lrt-it-no-such-image:none", on_id, NULL), ENOENT);
}

static void
on_size (void *ud, int ret, const lympho_error_t *err, int64_t bytes)
{
  r.bytes = bytes;
  got (ret, err);
}

static void
test_changes_top_commit_images (void **state)
{
  assert_int_equal (run ("exec %s-src sh -c 'echo x > /tmp/planted && echo keep > /anon/f'", prefix), 0);
  want_path = "/tmp/planted";
  OK (ops->changes (rt, src_id, on_changes, NULL));
  assert_true (r.found);
  assert_int_equal (r.kind, 'A');

  OK (ops->top (rt, src_id, on_top, NULL));
  assert_true (r.n >= 1);
  assert_true (r.found);

  /* The writable layer's size: 2 MiB written are in it. */
  OK (ops->layer_size (rt, src_id, on_size, NULL));
  int64_t before = r.bytes;
  assert_true (before >= 0);
  assert_int_equal (run ("exec %s-src busybox sh -c 'busybox head -c 2097152 /dev/zero > /tmp/fill'", prefix), 0);
  OK (ops->layer_size (rt, src_id, on_size, NULL));
  assert_true (r.bytes >= before + 2097152);
  FAILS (ops->layer_size (rt, "lrt-it-no-such-container", on_size, NULL), ENOENT);

  cleanup_free char *repo = xasprintf ("%s/commit", prefix);
  cleanup_free char *ref = xasprintf ("%s/commit:t1", prefix);
  struct rt_labels labels = { 0 };
  rt_labels_set (&labels, "lrt.test", prefix);
  rt_labels_set (&labels, "lympho.forensics", "yes");
  OK (ops->commit (rt, src_id, repo, "t1", &labels, on_id, NULL));
  rt_labels_free (&labels);
  cleanup_free char *commit_id = xstrdup (r.id);
  assert_true (str_has_prefix (commit_id, "sha256:"));
  OK (ops->image_inspect (rt, ref, on_id, NULL));
  assert_string_equal (r.id, commit_id);
  cleanup_free char *lbl = capture ("image inspect -f '{{index .Config.Labels \"lympho.forensics\"}}' %s", ref);
  assert_string_equal (lbl, "yes\n");
  /* The container kept running through the commit. */
  OK (ops->inspect (rt, src_id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_RUNNING);

  cleanup_free char *repo2 = xasprintf ("%s/copy", prefix);
  cleanup_free char *ref2 = xasprintf ("%s/copy:t2", prefix);
  OK (ops->image_tag (rt, commit_id, repo2, "t2", on_done, NULL));
  OK (ops->image_inspect (rt, ref2, on_id, NULL));
  assert_string_equal (r.id, commit_id);
  OK (ops->image_remove (rt, ref2, on_done, NULL));
  FAILS (ops->image_inspect (rt, ref2, on_id, NULL), ENOENT);
  /* Untagging one name left the image and its other name alone. */
  OK (ops->image_inspect (rt, ref, on_id, NULL));
  assert_string_equal (r.id, commit_id);
  OK (ops->image_remove (rt, ref, on_done, NULL));
  FAILS (ops->image_remove (rt, ref, on_done, NULL), ENOENT);
}

static void
test_snapshot_and_copy (void **state)
{
  cleanup_free char *name = xasprintf ("%s-src", prefix);
  cleanup_free char *old = xasprintf ("%s-src-old", prefix);
  OK (ops->snapshot (rt, name, on_snapshot, NULL));
  struct rt_snapshot snap = r.s;
  memset (&r.s, 0, sizeof r.s);
  assert_string_equal (snap.id, src_id);
  assert_string_equal (snap.name, name);
  assert_string_equal (snap.image_id, src_image);
  assert_true (snap.has_healthcheck);
  assert_non_null (snap.swap_blocker);
  assert_non_null (strstr (snap.swap_blocker, "host port"));
  /* Podman reports its default (10 s) as the container's own. */
  assert_int_equal (snap.stop_timeout_s, podman ? 10 : -1);

  /* Name conflict: nothing is created. */
  FAILS (ops->create (rt, snap.spec, name, NULL, on_id, NULL), EEXIST);
  /* A spec that is not one: refused, from the loop. */
  FAILS (ops->create (rt, "{\"Version\":1}", name, NULL, on_id, NULL), EINVAL);
  /* A further network the engine refuses (a static address on a network
   * without a configured subnet; an unknown network it would accept until
   * start): the half-made container is removed. Podman takes any address
   * until start, but refuses an unknown network at once. */
  {
    cleanup_free char *bad_name = xasprintf ("%s-bad", prefix);
    char *p = strstr (snap.spec, "\"Networks\":[");
    assert_non_null (p);
    cleanup_free char *bad
        = podman ? xasprintf ("%.*s\"Networks\":[{\"Name\":\"%s-n2-missing\",\"EndpointConfig\":{}}]}",
                              (int) (p - snap.spec), snap.spec, prefix)
                 : xasprintf ("%.*s\"Networks\":[{\"Name\":\"%s-n2\",\"EndpointConfig\":{\"IPAMConfig\":{"
                              "\"IPv4Address\":\"10.254.0.5\"}}}]}",
                              (int) (p - snap.spec), snap.spec, prefix);
    CALL (ops->create (rt, bad, bad_name, NULL, on_id, NULL));
    assert_true (r.ret < 0);
    assert_null (r.id);
    assert_non_null (strstr (r.err.msg, "-n2"));
    FAILS (ops->inspect (rt, bad_name, on_container, NULL), ENOENT);
  }

  /* Replace: stop and rename the source, create the copy under its name. */
  OK (ops->stop (rt, src_id, 1, on_done, NULL));
  OK (ops->stop (rt, src_id, 1, on_done, NULL)); /* stopping a stopped one succeeds */
  OK (ops->rename (rt, src_id, old, on_done, NULL));
  struct rt_labels extra = { 0 };
  rt_labels_set (&extra, "lympho.generation", "1");
  OK (ops->create (rt, snap.spec, name, &extra, on_id, NULL));
  rt_labels_free (&extra);
  copy_id = xstrdup (r.id);
  watch_id = xstrdup (copy_id);
  FAILS (ops->rename (rt, copy_id, old, on_done, NULL), EEXIST);

  OK (ops->start (rt, copy_id, on_done, NULL));
  OK (ops->start (rt, copy_id, on_done, NULL)); /* already started */
  wait_seen ("start");

  OK (ops->inspect (rt, name, on_container, NULL));
  assert_string_equal (r.c.id, copy_id);
  assert_int_equal (r.c.state, RT_STATE_RUNNING);
  assert_string_equal (r.c.image_id, src_image);
  assert_string_equal (rt_labels_get (&r.c.labels, "lympho.generation"), "1");
  assert_string_equal (rt_labels_get (&r.c.labels, "lrt.enable"), "true");

  /* A second opinion from the CLI on everything that must have come back. */
  json_val root_src = NULL, root = NULL;
  json_val s = cli_inspect (old, &root_src);
  json_val c = cli_inspect (name, &root);
  assert_true (arr_has (json_path (c, "Config", "Env", NULL), "FOO=bar"));
  {
    /* Its own hostname, in its environment too (Podman writes it there). */
    cleanup_free char *mine = xasprintf ("HOSTNAME=%.12s", copy_id);
    cleanup_free char *theirs = xasprintf ("HOSTNAME=%.12s", src_id);
    assert_false (arr_has (json_path (c, "Config", "Env", NULL), theirs));
    if (podman)
      assert_true (arr_has (json_path (c, "Config", "Env", NULL), mine));
    assert_string_equal (json_str (json_path (c, "Config", "Hostname", NULL)), mine + strlen ("HOSTNAME="));
  }
  json_val pb = json_path (c, "HostConfig", "PortBindings", "80/tcp", NULL);
  assert_int_equal (json_arr_len (pb), 1);
  char port[16];
  snprintf (port, sizeof port, "%d", host_port);
  assert_string_equal (json_str (json_get (json_arr_at (pb, 0), "HostPort")), port);
  assert_string_equal (json_str (json_arr_at (json_path (c, "Config", "Healthcheck", "Test", NULL), 1)),
                       "wget -q -O- http://127.0.0.1/ || exit 1");
  cleanup_free char *n1 = xasprintf ("%s-n1", prefix);
  cleanup_free char *n2 = xasprintf ("%s-n2", prefix);
  json_val nets = json_path (c, "NetworkSettings", "Networks", NULL);
  assert_int_equal (json_obj_len (nets), 2);
  json_val a1 = json_path (nets, n1, "Aliases", NULL);
  json_val a2 = json_path (nets, n2, "Aliases", NULL);
  assert_true (arr_has (a1, "web"));
  assert_true (arr_has (a2, "api"));
  char old_short[13];
  memcpy (old_short, src_id, 12);
  old_short[12] = '\0';
  assert_false (arr_has (a1, old_short));
  /* Same volumes, the anonymous one included. */
  json_val sm = json_get (s, "Mounts"), cm = json_get (c, "Mounts");
  assert_int_equal (json_arr_len (cm), json_arr_len (sm));
  for (size_t i = 0; i < json_arr_len (sm); i++)
    {
      const char *vn = json_str (json_get (json_arr_at (sm, i), "Name"));
      const char *dst = json_str (json_get (json_arr_at (sm, i), "Destination"));
      bool found = false;
      for (size_t j = 0; j < json_arr_len (cm); j++)
        found |= strcmp (json_str (json_get (json_arr_at (cm, j), "Name")), vn) == 0
                 && strcmp (json_str (json_get (json_arr_at (cm, j), "Destination")), dst) == 0;
      if (!found)
        fail_msg ("volume %s at %s did not come back", vn, dst);
    }
  json_free (root_src);
  json_free (root);

  /* Volume data kept, writable layer gone. */
  cleanup_free char *kept = capture ("exec %s cat /anon/f", name);
  assert_string_equal (kept, "keep\n");
  want_path = "/tmp/planted";
  OK (ops->changes (rt, copy_id, on_changes, NULL));
  assert_false (r.found);
  /* Nor what the engine itself did to start it (Podman: mount points). */
  want_path = "/etc";
  OK (ops->changes (rt, copy_id, on_changes, NULL));
  assert_false (r.found);

  rt_snapshot_free (&snap);
}

static void
test_lifecycle (void **state)
{
  OK (ops->pause (rt, copy_id, on_done, NULL));
  OK (ops->inspect (rt, copy_id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_PAUSED);
  FAILS (ops->pause (rt, copy_id, on_done, NULL), EBUSY);
  OK (ops->unpause (rt, copy_id, on_done, NULL));
  OK (ops->inspect (rt, copy_id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_RUNNING);

  cleanup_free char *n2 = xasprintf ("%s-n2", prefix);
  OK (ops->network_disconnect (rt, copy_id, n2, on_done, NULL));
  cleanup_free char *nets = capture ("inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' %s",
                                     copy_id);
  assert_null (strstr (nets, n2));
  assert_non_null (strstr (nets, "-n1"));

  OK (ops->kill (rt, copy_id, "SIGKILL", on_done, NULL));
  wait_seen ("die:137");
  OK (ops->inspect (rt, copy_id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_EXITED);
  assert_int_equal (r.c.exit_code, 137);
  assert_int_equal (r.c.pid, 0);
  FAILS (ops->kill (rt, copy_id, "SIGKILL", on_done, NULL), EBUSY);

  OK (ops->remove (rt, copy_id, true, false, on_done, NULL));
  wait_seen ("destroy");
  FAILS (ops->remove (rt, copy_id, true, false, on_done, NULL), ENOENT);
  FAILS (ops->inspect (rt, copy_id, on_container, NULL), ENOENT);
  assert_true (ups >= 1);
}

/* ---- health, stops and deaths as the core must see them ---- */

static size_t count (const char *hay, const char *needle);

/* Run `run -d ... IMAGE ARGS` with the test's label; watch the new
 * container's events from now on. Returns its id. */
static char *
watch_new (const char *name_suffix, const char *opts, const char *args)
{
  cleanup_free char *out = capture ("run -d %s --name %s-%s --label lrt.test=%s %s %s %s", run_opts, prefix,
                                    name_suffix, prefix, opts, image, args);
  if (strlen (out) < 64)
    fail_msg ("run %s-%s: %s", prefix, name_suffix, out);
  free (watch_id);
  watch_id = xstrndup (out, 64);
  buf_reset (&seen);
  return xstrdup (watch_id);
}

/* Run the loop for ms, whatever comes. */
static void
run_for (int ms)
{
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + (uint64_t) ms;
  while (now_mono_ms () < deadline)
    assert_int_equal (loop_run_once (loop, 100, &err), 0);
}

static const char *
seen_text (void)
{
  return seen.data ? seen.data : "";
}

/* "health_status: healthy" / "unhealthy" come on a change of health, from
 * the engine's own checks (Docker) or from the backend's (Podman without
 * systemd), at the container's interval. */
static void
test_health_events (void **state)
{
  cleanup_free char *id
      = watch_new ("hc", "--health-cmd 'test ! -e /tmp/sick' --health-interval 1s --health-retries 1",
                   "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'");
  wait_seen ("health_status: healthy");
  OK (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.health, RT_HEALTH_HEALTHY);
  assert_int_equal (run ("exec %s-hc touch /tmp/sick", prefix), 0);
  wait_seen ("health_status: unhealthy");
  OK (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.health, RT_HEALTH_UNHEALTHY);
  assert_int_equal (run ("exec %s-hc busybox rm /tmp/sick", prefix), 0);
  buf_reset (&seen);
  wait_seen ("health_status: healthy");
  /* On a change only: checks go on every second, no further event. */
  run_for (3000);
  if (count (seen_text (), "health_status") != 1)
    fail_msg ("health events other than the one change: %s", seen_text ());
  /* Checks stop with the container; nothing is left behind (ASan). */
  assert_int_equal (run ("rm -f %s-hc", prefix), 0);
  wait_seen ("destroy");
}

static const char *loop_cmd = "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'";

/* An operator's stop reaches the core as a "stop" before the "die"
 * (Podman sends none: the backend tells it from what follows the death);
 * a death from inside the container as a "die" alone. */
static void
test_stop_is_not_a_crash (void **state)
{
  cleanup_free char *id = watch_new ("st", "", loop_cmd);
  wait_seen ("start");
  assert_int_equal (run ("stop -t 5 %s-st", prefix), 0);
  wait_seen ("die:0");
  wait_seen ("stop");
  /* Podman: the stop comes first, as the core needs it (Docker sends it
   * after the die; the core takes either). */
  if (podman)
    assert_non_null (strstr (seen_text (), "stop die:0"));

  /* Through the backend's own stop: the same. */
  assert_int_equal (run ("start %s-st", prefix), 0);
  wait_seen ("start");
  buf_reset (&seen);
  OK (ops->stop (rt, id, 5, on_done, NULL));
  wait_seen ("die:0");
  wait_seen ("stop");

  /* The init exits by itself: a death, no stop nor kill, even well after
   * the backend's bound for holding a death. */
  assert_int_equal (run ("start %s-st", prefix), 0);
  wait_seen ("start");
  buf_reset (&seen);
  assert_int_equal (run ("exec %s-st sh -c 'kill 1'", prefix), 0);
  wait_seen ("die:0");
  run_for (4000);
  assert_null (strstr (seen_text (), "stop"));
  assert_null (strstr (seen_text (), "kill"));
  assert_int_equal (count (seen_text (), "die:"), 1);

  /* A kill is announced: "kill" then "die". */
  assert_int_equal (run ("start %s-st", prefix), 0);
  wait_seen ("start");
  buf_reset (&seen);
  assert_int_equal (run ("kill %s-st", prefix), 0);
  wait_seen ("die:137");
  assert_non_null (strstr (seen_text (), "kill"));
  assert_true (strstr (seen_text (), "kill") < strstr (seen_text (), "die:137"));

  /* Removed while running: the death is the operator's too. */
  assert_int_equal (run ("start %s-st", prefix), 0);
  wait_seen ("start");
  buf_reset (&seen);
  assert_int_equal (run ("rm -f %s-st", prefix), 0);
  wait_seen ("destroy");
  assert_non_null (strstr (seen_text (), "die:"));
  assert_true (strstr (seen_text (), "kill") != NULL || strstr (seen_text (), "stop") != NULL);
  assert_true (strstr (seen_text (), "die:") < strstr (seen_text (), "destroy"));
}

/* Stopping a paused container succeeds (Podman refuses: the backend kills
 * it), so that a paused or quarantined container can be replaced. */
static void
test_stop_paused (void **state)
{
  cleanup_free char *id = watch_new ("ps", "", loop_cmd);
  wait_seen ("start");
  OK (ops->pause (rt, id, on_done, NULL));
  OK (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_PAUSED);
  OK (ops->stop (rt, id, 2, on_done, NULL));
  OK (ops->inspect (rt, id, on_container, NULL));
  assert_int_equal (r.c.state, RT_STATE_EXITED);
  OK (ops->stop (rt, id, 2, on_done, NULL)); /* and again: stopped already */
  OK (ops->remove (rt, id, false, false, on_done, NULL));
}

/* ---- Podman rotates its event log ----
 * Past events_logfile_max_size (1m by default) the process writing the
 * next event keeps the newer half of the log and renames it into place;
 * the service's live streams read the log again from its start and send
 * that half once more. What the backend delivered already must not reach
 * the core twice (a second "start", a second "die"). */

#define PODMAN_EVENTS_LOG "/run/libpod/events/events.log"

static off_t
file_size (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 ? st.st_size : -1;
}

/* Append events of type "system" (no stream of the backend asks for them)
 * to Podman's log until it holds `upto` bytes, under the log's own lock
 * as Podman's writers take it. */
static void
pad_events_log (off_t upto)
{
  cleanup_close int lock = open (PODMAN_EVENTS_LOG ".lock", O_RDWR | O_CLOEXEC);
  assert_true (lock >= 0);
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  assert_int_equal (fcntl (lock, F_SETLKW, &fl), 0);
  cleanup_close int fd = open (PODMAN_EVENTS_LOG, O_WRONLY | O_APPEND | O_CLOEXEC);
  assert_true (fd >= 0);
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char when[64];
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  cleanup_free char *line = xasprintf ("{\"Name\":\"%s-padding\",\"Status\":\"refresh\",\"Time\":\"%s.%09ldZ\","
                                       "\"Type\":\"system\",\"Attributes\":null}\n",
                                       prefix, when, ts.tv_nsec);
  struct buf b;
  buf_init (&b);
  off_t size = file_size (PODMAN_EVENTS_LOG);
  while (size + (off_t) b.len < upto)
    buf_append (&b, line, strlen (line));
  assert_int_equal (write (fd, b.data ? b.data : "", b.len), (ssize_t) b.len);
  buf_free (&b);
  fl.l_type = F_UNLCK;
  fcntl (lock, F_SETLK, &fl);
}

static void
test_log_rotation_resends (void **state)
{
  if (!podman)
    skip ();
  cleanup_free char *logger = capture ("info --format '{{.Host.EventLogger}}'");
  if (!str_has_prefix (logger, "file") || access (PODMAN_EVENTS_LOG, W_OK) != 0)
    {
      print_message ("no events log file here (%s): not run\n", logger);
      skip ();
    }
  /* Below the limit (whether 1m counts 10^6 or 2^20 bytes), with room for
   * the container's events. */
  pad_events_log (990000);
  off_t before = file_size (PODMAN_EVENTS_LOG);
  cleanup_free char *id = watch_new ("rot", "", loop_cmd);
  wait_seen ("start");
  assert_true (file_size (PODMAN_EVENTS_LOG) > before); /* not rotated yet */
  /* Past it: the next event rotates the log, the container's events among
   * the half kept. */
  pad_events_log (1100000);
  assert_int_equal (run ("pause %s-rot", prefix), 0);
  wait_seen ("pause");
  if (file_size (PODMAN_EVENTS_LOG) >= 1100000)
    {
      print_message ("the events log was not rotated (events_logfile_max_size above 1.1 MB?): not run\n");
      skip ();
    }
  /* Whatever was sent again came before the pause; and a little more. */
  run_for (1000);
  if (count (seen_text (), "create") != 1 || count (seen_text (), "start") != 1 || count (seen_text (), "pause") != 1)
    fail_msg ("events delivered twice after Podman rotated its log: %s", seen_text ());
  assert_int_equal (run ("rm -f %s-rot", prefix), 0);
}

/* ---- an engine that goes away and comes back ----
 * A relay on a Unix socket in front of the real engine: closing it (and
 * its connections) is, for the backend, the engine vanishing. */

struct relay_pair
{
  int a, b;
  bool used;
};
static struct relay_pair pairs[64];
static int relay_fd = -1;
static char relay_path[108];

static void
pair_close (struct relay_pair *p)
{
  loop_del_fd (loop, p->a);
  loop_del_fd (loop, p->b);
  close (p->a);
  close (p->b);
  p->used = false;
}

static void
on_relay_data (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct relay_pair *p = ud;
  int to = fd == p->a ? p->b : p->a;
  char chunk[65536];
  ssize_t n = read (fd, chunk, sizeof chunk);
  if (n <= 0)
    {
      pair_close (p);
      return;
    }
  for (ssize_t off = 0; off < n;)
    {
      ssize_t w = write (to, chunk + off, (size_t) (n - off));
      if (w <= 0)
        {
          pair_close (p);
          return;
        }
      off += w;
    }
}

static void
on_relay_accept (struct loop *l, int fd, uint32_t events, void *ud)
{
  /* CLOEXEC: a CLI run meanwhile must not keep the engine's side open
   * (podman leaves conmon behind, holding what it inherited). */
  int a = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  if (a < 0)
    return;
  const char *engine = str_has_prefix (endpoint, "unix://") ? endpoint + strlen ("unix://") : endpoint;
  int b = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", engine);
  if (b < 0 || connect (b, (struct sockaddr *) &sa, sizeof sa) < 0)
    fail_msg ("relay: cannot reach the engine at %s", engine);
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (!pairs[i].used)
      {
        pairs[i] = (struct relay_pair) { .a = a, .b = b, .used = true };
        lympho_error_t err = { 0 };
        assert_int_equal (loop_add_fd (loop, a, EPOLLIN, on_relay_data, &pairs[i], &err), 0);
        assert_int_equal (loop_add_fd (loop, b, EPOLLIN, on_relay_data, &pairs[i], &err), 0);
        return;
      }
  fail_msg ("relay: too many connections");
}

static void
relay_up (void)
{
  relay_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", relay_path);
  unlink (relay_path);
  assert_true (relay_fd >= 0);
  assert_int_equal (bind (relay_fd, (struct sockaddr *) &sa, sizeof sa), 0);
  assert_int_equal (listen (relay_fd, 16), 0);
  lympho_error_t err = { 0 };
  assert_int_equal (loop_add_fd (loop, relay_fd, EPOLLIN, on_relay_accept, NULL, &err), 0);
}

static void
relay_down (void)
{
  loop_del_fd (loop, relay_fd);
  close (relay_fd);
  relay_fd = -1;
  unlink (relay_path);
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (pairs[i].used)
      pair_close (&pairs[i]);
}

static int r2_ups, r2_downs;
static struct buf r2_seen;
static char *r2_watch;

static void
on_event2 (void *ud, const struct rt_event *ev)
{
  if (r2_watch && ev->type == RT_EV_CONTAINER && strcmp (ev->id, r2_watch) == 0)
    buf_printf (&r2_seen, "%s ", ev->action);
}

static void
on_conn2 (void *ud, bool up)
{
  if (up)
    r2_ups++;
  else
    r2_downs++;
}

static void
run_until (bool (*cond) (void), int ms)
{
  lympho_error_t err = { 0 };
  uint64_t deadline = now_mono_ms () + (uint64_t) ms;
  while (!cond () && now_mono_ms () < deadline)
    assert_int_equal (loop_run_once (loop, 100, &err), 0);
}

static bool
r2_up_once (void)
{
  return r2_ups == 1;
}
static bool
r2_down_once (void)
{
  return r2_downs == 1;
}
static bool
r2_up_twice (void)
{
  return r2_ups == 2;
}
static struct runtime *r2_rt; /* the backend behind the relay */
/* The backend has told why the engine is unreachable. */
static bool
r2_problem_known (void)
{
  struct rt_engine_info info;
  ops->engine_info (r2_rt, &info);
  return info.problem != NULL;
}
static bool
r2_saw_start (void)
{
  return r2_seen.data && strstr (r2_seen.data, "start");
}
static bool
r2_saw_all (void)
{
  return r2_seen.data && strstr (r2_seen.data, "die") && strstr (r2_seen.data, "destroy");
}

static size_t
count (const char *hay, const char *needle)
{
  size_t n = 0;
  for (const char *p = hay; p && (p = strstr (p, needle)) != NULL; p += strlen (needle))
    n++;
  return n;
}

static void r2_expect (int ups, int downs, const char *when);

/* A second backend, through the relay, subscribed and up. */
static struct runtime *
r2_open (void)
{
  snprintf (relay_path, sizeof relay_path, "/tmp/%s-relay.sock", prefix);
  relay_up ();
  cleanup_free char *ep = xasprintf ("unix://%s", relay_path);
  lympho_error_t err = { 0 };
  r2_ups = r2_downs = 0;
  assert_int_equal (ops->open (loop, ep, &r2_rt, &err), 0);
  assert_int_equal (ops->subscribe (r2_rt, on_event2, on_conn2, NULL, &err), 0);
  run_until (r2_up_once, 10000);
  r2_expect (1, 0, "subscribed through the relay");
  return r2_rt;
}

/* The backend behind the relay reported up and down so many times; on a
 * failure, what it knows and what it saw. */
static void
r2_expect (int ups, int downs, const char *when)
{
  if (r2_ups == ups && r2_downs == downs)
    return;
  struct rt_engine_info info;
  ops->engine_info (r2_rt, &info);
  fail_msg ("%s: the backend reported up %d and down %d times, not %d and %d (its problem: %s; events of the "
            "container: %s)",
            when, r2_ups, r2_downs, ups, downs, info.problem ? info.problem : "none",
            r2_seen.data ? r2_seen.data : "");
}

static void
r2_expect_seen (bool (*cond) (void), const char *what)
{
  if (!cond ())
    fail_msg ("%s not seen: the backend reported up %d and down %d times; events of the container: %s", what, r2_ups,
              r2_downs, r2_seen.data ? r2_seen.data : "");
}

/* After each relay case, passed or failed: nothing of it is left to count
 * in the next one. */
static int
r2_teardown (void **state)
{
  if (r2_rt)
    ops->close (r2_rt);
  r2_rt = NULL;
  if (relay_fd >= 0)
    relay_down ();
  free (r2_watch);
  r2_watch = NULL;
  buf_free (&r2_seen);
  r2_ups = r2_downs = 0;
  /* The container of the case, gone by the case's end when it passed. */
  run ("rm -f %s-ev", prefix);
  return 0;
}

static void
test_events_resume (void **state)
{
  if (!str_has_prefix (endpoint, "unix://"))
    skip ();
  struct runtime *rt2 = r2_open ();

  /* An event seen live, so that the stream has a point to resume from. */
  cleanup_free char *out = capture ("run -d %s --name %s-ev --label lrt.test=%s %s /bin/sleep 600", run_opts, prefix,
                                    prefix, image);
  assert_true (strlen (out) >= 64);
  r2_watch = xstrndup (out, 64);
  run_until (r2_saw_start, 10000);
  r2_expect_seen (r2_saw_start, "the start");

  /* The engine goes away; what happens meanwhile must not be lost. */
  relay_down ();
  run_until (r2_down_once, 10000);
  r2_expect (1, 1, "the relay down");
  assert_int_equal (run ("rm -f %s-ev", prefix), 0);
  /* The first reconnect finds no socket: reported once more, with the
   * reason (engine_info's problem changed). */
  run_until (r2_problem_known, 10000);
  struct rt_engine_info info;
  ops->engine_info (rt2, &info);
  assert_non_null (info.problem);
  assert_non_null (strstr (info.problem, "no socket there"));
  assert_false (info.refused);
  r2_expect (1, 2, "the first reconnect");
  /* Let a few more reconnects fail the same way. */
  run_until (r2_up_twice, 1500);
  r2_expect (1, 2, "more reconnects"); /* once for each reason, not per attempt */

  relay_up ();
  run_until (r2_up_twice, 10000);
  r2_expect (2, 2, "the relay back");
  run_until (r2_saw_all, 10000);
  r2_expect_seen (r2_saw_all, "the die and the destroy");
  /* Resumed with since=: each event once, none replayed twice. */
  if (count (r2_seen.data, "start") != 1 || count (r2_seen.data, "destroy") != 1)
    fail_msg ("an event lost or replayed twice: %s", r2_seen.data);

  /* The backend also works through the new connection, and the reason is
   * gone. */
  ops->engine_info (rt2, &info);
  assert_null (info.problem);
  OK (ops->ping (rt2, on_done, NULL));
}

/* Podman ends event streams now and then while it runs: the backend resumes
 * quietly (no conn_cb(false): the engine still answers /_ping), losing
 * nothing. Docker's backend reports any end of the stream, by design. */
static void
test_stream_ends_quietly (void **state)
{
  if (!podman || !str_has_prefix (endpoint, "unix://"))
    skip ();
  r2_open ();

  cleanup_free char *out = capture ("run -d %s --name %s-ev --label lrt.test=%s %s /bin/sleep 600", run_opts, prefix,
                                    prefix, image);
  assert_true (strlen (out) >= 64);
  r2_watch = xstrndup (out, 64);
  run_until (r2_saw_start, 10000);
  r2_expect_seen (r2_saw_start, "the start");

  /* The stream's connection ends; the engine stays. What happens in the
   * gap comes through the resumed stream. */
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (pairs[i].used)
      pair_close (&pairs[i]);
  assert_int_equal (run ("rm -f %s-ev", prefix), 0);
  run_until (r2_saw_all, 15000);
  r2_expect_seen (r2_saw_all, "the die and the destroy");
  r2_expect (1, 0, "the stream's end");
  if (count (r2_seen.data, "start") != 1 || count (r2_seen.data, "destroy") != 1)
    fail_msg ("an event lost or replayed twice: %s", r2_seen.data);
}

/* LYMPHO_ENGINE_TIMEOUT_MS: a bad value keeps the backend from opening,
 * with a message naming it; a good one opens. (The conformance suite's
 * create-hang and start-hang cases see a call given up after it.) */
static void
test_call_timeout_env (void **state)
{
  (void) state;
  static const char *bad[] = { "abc", "99", "600001", "-5", "5000ms" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct runtime *r = NULL;
      lympho_error_t err = { 0 };
      setenv ("LYMPHO_ENGINE_TIMEOUT_MS", bad[i], 1);
      assert_true (ops->open (loop, endpoint, &r, &err) < 0);
      assert_null (r);
      assert_int_equal (err.status, EINVAL);
      assert_non_null (strstr (err.msg, "LYMPHO_ENGINE_TIMEOUT_MS"));
    }
  setenv ("LYMPHO_ENGINE_TIMEOUT_MS", "5000", 1);
  struct runtime *r = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (ops->open (loop, endpoint, &r, &err), 0);
  unsetenv ("LYMPHO_ENGINE_TIMEOUT_MS");
  ops->close (r);
}

static void
never_called (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  fail_msg ("callback after close");
}

static void
test_close_cancels (void **state)
{
  /* close() with work in flight: no callback, no leak (ASan says). */
  ops->inspect (rt, src_id, never_called, NULL);
  ops->inspect (rt, "lrt-it-no-such-container", never_called, NULL);
  ops->close (rt);
  rt = NULL;
  lympho_error_t err = { 0 };
  for (int i = 0; i < 5; i++)
    assert_int_equal (loop_run_once (loop, 50, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_list_inspect),
    cmocka_unit_test (test_changes_top_commit_images),
    cmocka_unit_test (test_snapshot_and_copy),
    cmocka_unit_test (test_lifecycle),
    cmocka_unit_test (test_health_events),
    cmocka_unit_test (test_stop_is_not_a_crash),
    cmocka_unit_test (test_stop_paused),
    cmocka_unit_test (test_log_rotation_resends),
    cmocka_unit_test_teardown (test_events_resume, r2_teardown),
    cmocka_unit_test_teardown (test_stream_ends_quietly, r2_teardown),
    cmocka_unit_test (test_call_timeout_env),
    cmocka_unit_test (test_close_cancels),
  };
  /* LYMPHO_TEST_DEBUG=1: the backend's debug log on stderr. */
  if (getenv ("LYMPHO_TEST_DEBUG"))
    log_set_level (LOG_LVL_DEBUG);
  /* LYMPHO_TEST_FILTER=PATTERN: only the cases whose names match. */
  if (getenv ("LYMPHO_TEST_FILTER"))
    cmocka_set_test_filter (getenv ("LYMPHO_TEST_FILTER"));
  int ret = cmocka_run_group_tests (tests, setup, teardown);
  free (src_id);
  free (copy_id);
  free (src_image);
  return ret;
}
