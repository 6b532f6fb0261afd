/* The Podman side of the create specification, fed with an inspect answer
 * recorded from Podman 4.3's compat API (tests/data/inspect-podman.json: two
 * user networks with aliases, a named and an anonymous volume, a published
 * port, healthcheck, --ulimit nofile/nproc 1024), and Podman's create body
 * fixups (ulimit names, defaults where there are none). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/json.h"
#include "lympho/util.h"
#include "runtime/docker-spec.h"

static json_val
parse_or_fail (const char *text)
{
  json_val v = NULL;
  lympho_error_t err = { 0 };
  if (json_parse (text, strlen (text), &v, &err) < 0)
    fail_msg ("%s", err.msg);
  return v;
}

static bool
arr_has (json_val arr, const char *s)
{
  for (size_t i = 0; i < json_arr_len (arr); i++)
    if (json_str (json_arr_at (arr, i)) && strcmp (json_str (json_arr_at (arr, i)), s) == 0)
      return true;
  return false;
}

/* The inspect answer recorded from Podman 4.3. */
static char *
load_inspect (size_t *len)
{
  cleanup_free char *path = xasprintf ("%s/inspect-podman.json", TEST_DATA_DIR);
  char *text = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (read_file (path, 1 << 24, &text, len, &err), 0);
  return text;
}

static void
test_podman_inspect (void **state)
{
  size_t len = 0;
  lympho_error_t err = { 0 };
  cleanup_free char *text = load_inspect (&len);
  struct rt_snapshot s = { 0 };
  assert_int_equal (docker_spec_from_inspect_as (DOCKER_SPEC_PODMAN, text, len, &s, &err), 0);
  cleanup_json json_val spec = parse_or_fail (s.spec);
  json_val create = json_get (spec, "Create");
  /* "bridge" named the network it stands for, with its alias, at create. */
  const char *mode = json_str (json_path (create, "HostConfig", "NetworkMode", NULL));
  assert_non_null (mode);
  assert_true (strcmp (mode, "lpd-n1") == 0 || strcmp (mode, "lpd-n2") == 0);
  json_val eps = json_path (create, "NetworkingConfig", "EndpointsConfig", NULL);
  assert_int_equal (json_obj_len (eps), 1);
  assert_string_equal (json_obj_key (eps, 0), mode);
  json_val aliases = json_get (json_obj_value (eps, 0), "Aliases");
  assert_int_equal (json_arr_len (aliases), 1);
  assert_true (arr_has (aliases, strcmp (mode, "lpd-n1") == 0 ? "web" : "api"));
  /* The other one is connected before start, not "bridge" nor the same. */
  json_val nets = json_get (spec, "Networks");
  assert_int_equal (json_arr_len (nets), 1);
  assert_string_not_equal (json_str (json_get (json_arr_at (nets, 0), "Name")), mode);
  /* The old hostname left the environment; the rest stayed. */
  json_val env = json_path (create, "Env", NULL);
  assert_true (arr_has (env, "FOO=bar"));
  for (size_t i = 0; i < json_arr_len (env); i++)
    assert_false (str_has_prefix (json_str (json_arr_at (env, i)), "HOSTNAME="));
  /* Docker's reading of the same answer knows no primary network. */
  struct rt_snapshot d = { 0 };
  assert_int_equal (docker_spec_from_inspect (text, len, &d, &err), 0);
  cleanup_json json_val dspec = parse_or_fail (d.spec);
  assert_null (json_path (dspec, "Create", "NetworkingConfig", NULL));
  rt_snapshot_free (&d);

  /* The plan's create body, through Podman's create: names it parses. */
  struct docker_spec_plan plan = { 0 };
  assert_int_equal (docker_spec_plan (s.spec, NULL, &plan, &err), 0);
  assert_int_equal (docker_spec_podman_create (&plan.create_body, &err), 0);
  cleanup_json json_val body = parse_or_fail (plan.create_body);
  json_val ul = json_path (body, "HostConfig", "Ulimits", NULL);
  assert_int_equal (json_arr_len (ul), 2);
  assert_string_equal (json_str (json_get (json_arr_at (ul, 0), "Name")), "nofile");
  assert_string_equal (json_str (json_get (json_arr_at (ul, 1), "Name")), "nproc");
  int64_t n = 0;
  assert_true (json_as_int64 (json_get (json_arr_at (ul, 0), "Hard"), &n));
  assert_int_equal (n, 1024);
  assert_string_equal (json_str (json_path (body, "HostConfig", "NetworkMode", NULL)), mode);
  docker_spec_plan_free (&plan);
  rt_snapshot_free (&s);
}

/* --cpus on Podman: its inspect shows the CPU period and quota it derived
 * from NanoCpus beside NanoCpus, and its create refuses the three together
 * ("NanoCpus conflicts with CpuPeriod and CpuQuota"): the snapshot keeps
 * NanoCpus alone. Period and quota the user gave without --cpus stay. */
static char *
with_cpus (const char *text, long long nano, long long period, long long quota)
{
  const char *keys[] = { "\"NanoCpus\": 0,", "\"CpuPeriod\": 0,", "\"CpuQuota\": 0," };
  long long vals[] = { nano, period, quota };
  char *out = xstrdup (text);
  for (size_t i = 0; i < 3; i++)
    {
      char *at = strstr (out, keys[i]);
      assert_non_null (at);
      *at = '\0';
      char *next = xasprintf ("%s%.*s %lld,%s", out, (int) (strchr (keys[i], ':') - keys[i] + 1), keys[i], vals[i],
                              at + strlen (keys[i]));
      free (out);
      out = next;
    }
  return out;
}

static void
test_podman_nano_cpus (void **state)
{
  size_t len = 0;
  lympho_error_t err = { 0 };
  cleanup_free char *text = load_inspect (&len);
  static const struct
  {
    long long nano, period, quota;
    bool kept;
  } cases[] = { { 500000000, 100000, 50000, false }, { 0, 100000, 50000, true } };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      cleanup_free char *t = with_cpus (text, cases[i].nano, cases[i].period, cases[i].quota);
      struct rt_snapshot s = { 0 };
      assert_int_equal (docker_spec_from_inspect_as (DOCKER_SPEC_PODMAN, t, strlen (t), &s, &err), 0);
      cleanup_json json_val spec = parse_or_fail (s.spec);
      json_val host = json_path (spec, "Create", "HostConfig", NULL);
      int64_t n = -1;
      assert_true (json_as_int64 (json_get (host, "NanoCpus"), &n));
      assert_int_equal (n, cases[i].nano);
      if (cases[i].kept)
        {
          assert_true (json_as_int64 (json_get (host, "CpuPeriod"), &n));
          assert_int_equal (n, cases[i].period);
          assert_true (json_as_int64 (json_get (host, "CpuQuota"), &n));
          assert_int_equal (n, cases[i].quota);
        }
      else
        {
          assert_null (json_get (host, "CpuPeriod"));
          assert_null (json_get (host, "CpuQuota"));
        }
      rt_snapshot_free (&s);
    }
  (void) state;
}

static void
test_podman_create_defaults (void **state)
{
  lympho_error_t err = { 0 };
  /* No HostConfig at all, and an empty Ulimits: both get the defaults. */
  const char *bodies[] = { "{\"Image\":\"sha256:x\"}", "{\"Image\":\"sha256:x\",\"HostConfig\":{\"Ulimits\":[]}}",
                           "{\"Image\":\"sha256:x\",\"HostConfig\":{\"Ulimits\":null,\"Memory\":5}}" };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    {
      char *b = xstrdup (bodies[i]);
      assert_int_equal (docker_spec_podman_create (&b, &err), 0);
      cleanup_json json_val v = parse_or_fail (b);
      assert_string_equal (json_str (json_get (v, "Image")), "sha256:x");
      json_val ul = json_path (v, "HostConfig", "Ulimits", NULL);
      assert_int_equal (json_arr_len (ul), 2);
      assert_string_equal (json_str (json_get (json_arr_at (ul, 0), "Name")), "nofile");
      assert_string_equal (json_str (json_get (json_arr_at (ul, 1), "Name")), "nproc");
      if (i == 2)
        assert_non_null (json_path (v, "HostConfig", "Memory", NULL));
      free (b);
    }
  /* The user's own limits are kept as they are, only named for Podman. */
  char *b = xstrdup ("{\"HostConfig\":{\"Ulimits\":[{\"Name\":\"RLIMIT_CORE\",\"Soft\":0,\"Hard\":0}]}}");
  assert_int_equal (docker_spec_podman_create (&b, &err), 0);
  cleanup_json json_val v = parse_or_fail (b);
  json_val ul = json_path (v, "HostConfig", "Ulimits", NULL);
  assert_int_equal (json_arr_len (ul), 1);
  assert_string_equal (json_str (json_get (json_arr_at (ul, 0), "Name")), "core");
  free (b);
  /* Malformed: refused, the body left alone. */
  const char *bad[] = { "[1]", "{\"HostConfig\":[]}", "{\"HostConfig\":{\"Ulimits\":{}}}",
                        "{\"HostConfig\":{\"Ulimits\":[1]}}", "{" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char *x = xstrdup (bad[i]);
      assert_true (docker_spec_podman_create (&x, &err) < 0);
      assert_string_equal (x, bad[i]);
      free (x);
    }
}

/* text with every `from` replaced by `to`. */
static char *
replace_all (const char *text, const char *from, const char *to)
{
  struct buf b;
  buf_init (&b);
  const char *p = text, *q;
  while ((q = strstr (p, from)) != NULL)
    {
      buf_append (&b, p, (size_t) (q - p));
      buf_appends (&b, to);
      p = q + strlen (from);
    }
  buf_appends (&b, p);
  return buf_steal (&b);
}

/* The HOSTNAME entries of the spec's create Env, space-separated. */
static char *
spec_hostname_env (enum docker_spec_dialect d, const char *text, const char **hostname)
{
  lympho_error_t err = { 0 };
  struct rt_snapshot s = { 0 };
  assert_int_equal (docker_spec_from_inspect_as (d, text, strlen (text), &s, &err), 0);
  cleanup_json json_val spec = parse_or_fail (s.spec);
  json_val env = json_path (spec, "Create", "Env", NULL);
  struct buf b;
  buf_init (&b);
  buf_appends (&b, "");
  for (size_t i = 0; i < json_arr_len (env); i++)
    if (str_has_prefix (json_str (json_arr_at (env, i)), "HOSTNAME="))
      buf_printf (&b, "%s ", json_str (json_arr_at (env, i)));
  static char host[64];
  const char *h = json_str (json_path (spec, "Create", "Hostname", NULL));
  snprintf (host, sizeof host, "%s", h ? h : "");
  *hostname = host;
  rt_snapshot_free (&s);
  return buf_steal (&b);
}

/* Podman puts HOSTNAME=<hostname> in every container's Env; a new
 * generation must get its own hostname, not the old one's in its env. */
static void
test_podman_hostname_env (void **state)
{
  size_t len = 0;
  cleanup_free char *text = load_inspect (&len);
  assert_non_null (strstr (text, "\"HOSTNAME=dc429b0e82b7\""));
  const char *host = NULL;

  /* The engine's hostname (the short id): neither it nor its env entry. */
  cleanup_free char *env = spec_hostname_env (DOCKER_SPEC_PODMAN, text, &host);
  assert_string_equal (env, "");
  assert_string_equal (host, "");

  /* A hostname of the user's: kept as the hostname, Podman writes the env. */
  cleanup_free char *named0 = replace_all (text, "\"Hostname\": \"dc429b0e82b7\"", "\"Hostname\": \"web\"");
  cleanup_free char *named = replace_all (named0, "\"HOSTNAME=dc429b0e82b7\"", "\"HOSTNAME=web\"");
  assert_string_not_equal (named, named0);
  cleanup_free char *env2 = spec_hostname_env (DOCKER_SPEC_PODMAN, named, &host);
  assert_string_equal (env2, "");
  assert_string_equal (host, "web");

  /* A HOSTNAME the user set apart from the hostname stays. */
  cleanup_free char *own = replace_all (text, "\"HOSTNAME=dc429b0e82b7\"", "\"HOSTNAME=mine\"");
  cleanup_free char *env3 = spec_hostname_env (DOCKER_SPEC_PODMAN, own, &host);
  assert_string_equal (env3, "HOSTNAME=mine ");

  /* The short id of another container (the one this was made from) is not
   * this one's: only the user can have put it there. */
  cleanup_free char *other = replace_all (text, "\"HOSTNAME=dc429b0e82b7\"", "\"HOSTNAME=0123456789ab\"");
  cleanup_free char *env4 = spec_hostname_env (DOCKER_SPEC_PODMAN, other, &host);
  assert_string_equal (env4, "HOSTNAME=0123456789ab ");

  /* Docker's dialect leaves the environment as it is. */
  cleanup_free char *env5 = spec_hostname_env (DOCKER_SPEC_DOCKER, text, &host);
  assert_string_equal (env5, "HOSTNAME=dc429b0e82b7 ");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_podman_inspect),
    cmocka_unit_test (test_podman_nano_cpus), cmocka_unit_test (test_podman_create_defaults),
    cmocka_unit_test (test_podman_hostname_env),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
