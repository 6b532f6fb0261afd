/* Inspect -> create specification, fed with inspect answers recorded from
 * real containers on Docker Engine 20.10 (tests/data/inspect-*.json):
 *  full:  published ports, named + anonymous volume + bind, tmpfs, two user
 *         networks with aliases and a static IP, healthcheck, env, restart
 *         policy, user-set hostname, stop signal and timeout;
 *  host:  host network;
 *  plain: one user network with an alias, read-only volume, auto hostname,
 *         healthcheck disabled. */
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

static char *
load (const char *name, size_t *len)
{
  cleanup_free char *path = xasprintf ("%s/%s", TEST_DATA_DIR, name);
  char *text = NULL;
  lympho_error_t err = { 0 };
  if (read_file (path, 1 << 24, &text, len, &err) < 0)
    fail_msg ("%s", err.msg);
  return text;
}

struct parsed
{
  struct rt_snapshot snap;
  json_val spec;
  json_val create;
  json_val host;
  json_val nets;
};

static void
translate (const char *file, struct parsed *p)
{
  size_t len = 0;
  cleanup_free char *text = load (file, &len);
  lympho_error_t err = { 0 };
  memset (p, 0, sizeof *p);
  if (docker_spec_from_inspect (text, len, &p->snap, &err) < 0)
    fail_msg ("%s: %s", file, err.msg);
  assert_int_equal (json_parse (p->snap.spec, strlen (p->snap.spec), &p->spec, &err), 0);
  p->create = json_get (p->spec, "Create");
  p->host = json_get (p->create, "HostConfig");
  p->nets = json_get (p->spec, "Networks");
  assert_non_null (p->create);
  assert_non_null (p->host);
  assert_non_null (p->nets);
}

static void
parsed_free (struct parsed *p)
{
  rt_snapshot_free (&p->snap);
  json_free (p->spec);
}

static bool
arr_has (json_val arr, const char *s)
{
  for (size_t i = 0; i < json_arr_len (arr); i++)
    if (json_str (json_arr_at (arr, i)) && strcmp (json_str (json_arr_at (arr, i)), s) == 0)
      return true;
  return false;
}

static void
test_full_config (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  const char *image = "sha256:07e47794509854e4a3c5dfb65653821c2cc2c36b5f62ac5bec4f50fa4d2978e2";
  assert_string_equal (p.snap.image_id, image);
  /* Pinned by id, never by the tag the user typed. */
  assert_string_equal (json_str (json_get (p.create, "Image")), image);
  assert_string_equal (p.snap.name, "lrt-rec-full");
  assert_string_equal (p.snap.id, "d8c9ee90e39932e2c3513edb0b1bcaf39a5a788686b8f086a98003e1c8f311ac");
  /* A hostname the user chose stays. */
  assert_string_equal (json_str (json_get (p.create, "Hostname")), "webhost");
  json_val env = json_get (p.create, "Env");
  assert_true (arr_has (env, "FOO=bar"));
  assert_true (arr_has (env, "GREETING=hello world"));
  assert_string_equal (json_str (json_get (p.create, "StopSignal")), "SIGTERM");
  assert_int_equal (p.snap.stop_timeout_s, 7);
  assert_true (p.snap.has_healthcheck);
  json_val test = json_path (p.create, "Healthcheck", "Test", NULL);
  assert_string_equal (json_str (json_arr_at (test, 0)), "CMD-SHELL");
  assert_string_equal (rt_labels_get (&p.snap.labels, "app"), "web");
  assert_string_equal (rt_labels_get (&p.snap.labels, "lympho.enable"), "true");
  assert_null (json_get (p.create, "OnBuild"));

  assert_string_equal (json_str (json_path (p.host, "RestartPolicy", "Name", NULL)), "unless-stopped");
  assert_string_equal (json_str (json_obj_value (json_arr_at (json_path (p.host, "PortBindings", "80/tcp", NULL), 0), 1)),
                       "18080");
  assert_string_equal (json_str (json_path (p.host, "Tmpfs", "/run", NULL)), "size=1m");
  assert_true (arr_has (json_get (p.host, "CapAdd"), "NET_ADMIN"));
  assert_null (json_get (p.host, "ContainerIDFile"));
  int64_t mem = 0;
  assert_true (json_as_int64 (json_get (p.host, "Memory"), &mem));
  assert_int_equal (mem, 64 << 20);
  parsed_free (&p);
}

static void
test_full_volumes (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  json_val binds = json_get (p.host, "Binds");
  assert_true (arr_has (binds, "/tmp/lrt-bind:/bind:ro"));
  assert_true (arr_has (binds, "lrt-vol1:/vol"));
  /* The anonymous volume comes back by name, with its data. */
  assert_true (arr_has (binds, "4a3d3e9265997950c7c86856eb3d9656967b4833407c6bacd55aae6b984b363e:/data"));
  assert_int_equal (json_arr_len (binds), 3);
  parsed_free (&p);
}

static void
test_full_networks (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  assert_string_equal (json_str (json_get (p.host, "NetworkMode")), "lrt-net1");
  json_val eps = json_path (p.create, "NetworkingConfig", "EndpointsConfig", NULL);
  /* API 1.41 takes one network at create: the primary only. */
  assert_int_equal (json_obj_len (eps), 1);
  json_val primary = json_get (eps, "lrt-net1");
  assert_non_null (primary);
  json_val aliases = json_get (primary, "Aliases");
  assert_true (arr_has (aliases, "web"));
  assert_true (arr_has (aliases, "www"));
  /* The old short id and the hostname are the engine's, not the user's. */
  assert_false (arr_has (aliases, "d8c9ee90e399"));
  assert_false (arr_has (aliases, "webhost"));
  assert_int_equal (json_arr_len (aliases), 2);
  assert_string_equal (json_str (json_path (primary, "IPAMConfig", "IPv4Address", NULL)), "172.31.201.50");

  assert_int_equal (json_arr_len (p.nets), 1);
  json_val other = json_arr_at (p.nets, 0);
  assert_string_equal (json_str (json_get (other, "Name")), "lrt-net2");
  json_val oal = json_path (other, "EndpointConfig", "Aliases", NULL);
  assert_int_equal (json_arr_len (oal), 1);
  assert_true (arr_has (oal, "api"));
  /* An empty IPAMConfig is no static address and is not sent. */
  assert_null (json_path (other, "EndpointConfig", "IPAMConfig", NULL));
  parsed_free (&p);
}

static void
test_blockers (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  assert_non_null (p.snap.swap_blocker);
  assert_non_null (strstr (p.snap.swap_blocker, "host port"));
  parsed_free (&p);

  translate ("inspect-host.json", &p);
  assert_non_null (p.snap.swap_blocker);
  assert_string_equal (p.snap.swap_blocker, "uses the host network");
  parsed_free (&p);

  /* A user network alias and a read-only volume: two generations may run
   * side by side. */
  translate ("inspect-plain.json", &p);
  assert_null (p.snap.swap_blocker);
  parsed_free (&p);
}

static void
test_blocker_static_ip_and_volume (void **state)
{
  (void) state;
  /* The same recorded container with its ports taken away: what still
   * forbids a swap is the static address, then the writable volume. */
  size_t len = 0;
  cleanup_free char *text = load ("inspect-full.json", &len);
  char *pb = strstr (text, "\"PortBindings\":{");
  assert_non_null (pb);
  memcpy (pb, "\"PortBindingX\"", 14);
  struct rt_snapshot s;
  lympho_error_t err = { 0 };
  assert_int_equal (docker_spec_from_inspect (text, len, &s, &err), 0);
  assert_non_null (s.swap_blocker);
  assert_non_null (strstr (s.swap_blocker, "172.31.201.50"));
  rt_snapshot_free (&s);

  char *ip = strstr (text, "\"IPv4Address\":\"172.31.201.50\"");
  assert_non_null (ip);
  memcpy (ip, "\"IPv4AddresX\"", 13);
  assert_int_equal (docker_spec_from_inspect (text, len, &s, &err), 0);
  assert_non_null (s.swap_blocker);
  assert_non_null (strstr (s.swap_blocker, "writable volume"));
  rt_snapshot_free (&s);
}

static void
test_host_network (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-host.json", &p);
  assert_string_equal (json_str (json_get (p.host, "NetworkMode")), "host");
  /* The host's own name is not the container's to keep. */
  assert_null (json_get (p.create, "Hostname"));
  assert_null (json_get (p.create, "NetworkingConfig"));
  assert_int_equal (json_arr_len (p.nets), 0);
  assert_false (p.snap.has_healthcheck);
  assert_int_equal (p.snap.stop_timeout_s, -1);
  parsed_free (&p);
}

static void
test_plain (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-plain.json", &p);
  /* Auto-assigned hostname (the short id) is dropped. */
  assert_null (json_get (p.create, "Hostname"));
  /* Healthcheck {"Test":["NONE"]} means none. */
  assert_false (p.snap.has_healthcheck);
  json_val ep = json_path (p.create, "NetworkingConfig", "EndpointsConfig", "lrt-net2", NULL);
  assert_non_null (ep);
  json_val aliases = json_get (ep, "Aliases");
  assert_int_equal (json_arr_len (aliases), 1);
  assert_true (arr_has (aliases, "svc"));
  assert_true (arr_has (json_get (p.host, "Binds"), "lrt-vol1:/ro:ro"));
  assert_int_equal (json_arr_len (p.nets), 0);
  parsed_free (&p);
}

static void
test_malformed (void **state)
{
  (void) state;
  static const char *const bad[] = {
    "",
    "[]",
    "{\"Id\":\"abc\"}",
    "{\"Id\":\"d8c9ee90e39932e2\",\"Name\":\"/x\",\"Image\":\"lrt-img:1\",\"Config\":{},\"HostConfig\":{\"NetworkMode\":"
    "\"default\"},\"NetworkSettings\":{}}",
    "{\"Id\":\"d8c9ee90e39932e2\",\"Name\":\"/x\",\"Image\":\"sha256:aa\",\"Config\":{\"Labels\":{\"a\":1}},"
    "\"HostConfig\":{\"NetworkMode\":\"default\"},\"NetworkSettings\":{}}",
    "{\"Id\":\"d8c9ee90e39932e2\",\"Name\":\"/x\",\"Image\":\"sha256:aa\",\"Config\":{},\"HostConfig\":{},"
    "\"NetworkSettings\":{}}",
    "{\"Id\":\"d8c9ee90e39932e2\",\"Name\":\"/x\",\"Image\":\"sha256:aa\",\"Config\":{},\"HostConfig\":{"
    "\"NetworkMode\":\"default\"},\"NetworkSettings\":{},\"Mounts\":[{\"Type\":\"volume\",\"Destination\":\"/d\"}]}",
    NULL,
  };
  for (const char *const *b = bad; *b; b++)
    {
      struct rt_snapshot s;
      lympho_error_t err = { 0 };
      assert_int_equal (docker_spec_from_inspect (*b, strlen (*b), &s, &err), -EINVAL);
      assert_int_equal (err.status, EINVAL);
      /* Nothing half-filled. */
      assert_null (s.spec);
      assert_null (s.id);
    }
  /* Truncated real input. */
  size_t len = 0;
  cleanup_free char *text = load ("inspect-full.json", &len);
  struct rt_snapshot s;
  lympho_error_t err = { 0 };
  assert_true (docker_spec_from_inspect (text, len / 2, &s, &err) < 0);
  assert_null (s.spec);
}

static void
test_plan (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  struct rt_labels extra = { 0 };
  rt_labels_set (&extra, "lympho.generation", "3");
  rt_labels_set (&extra, "app", "web2");
  struct docker_spec_plan plan;
  lympho_error_t err = { 0 };
  assert_int_equal (docker_spec_plan (p.snap.spec, &extra, &plan, &err), 0);
  json_val body = NULL;
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  assert_string_equal (json_str (json_path (body, "Labels", "lympho.generation", NULL)), "3");
  assert_string_equal (json_str (json_path (body, "Labels", "app", NULL)), "web2");
  assert_string_equal (json_str (json_path (body, "Labels", "lympho.enable", NULL)), "true");
  assert_string_equal (json_str (json_get (body, "Image")), p.snap.image_id);
  /* The reference the user gave travels beside the pin. */
  assert_string_equal (json_str (json_get (p.spec, "ImageRef")), "lrt-img:1");
  assert_string_equal (plan.image_id, p.snap.image_id);
  assert_string_equal (plan.image_ref, "lrt-img:1");
  assert_int_equal (plan.n_nets, 1);
  assert_string_equal (plan.nets[0].name, "lrt-net2");
  cleanup_free char *cb = docker_spec_connect_body (&plan.nets[0], "0123abc");
  assert_string_equal (cb, "{\"Container\":\"0123abc\",\"EndpointConfig\":{\"Aliases\":[\"api\"]}}");
  json_free (body);
  docker_spec_plan_free (&plan);
  rt_labels_free (&extra);
  parsed_free (&p);

  /* Specs that are not ours are refused whole. */
  static const char *const bad[] = { "", "{}", "{\"Version\":2,\"Create\":{\"Image\":\"x\"},\"Networks\":[]}",
                                     "{\"Version\":1,\"Create\":{},\"Networks\":[]}",
                                     "{\"Version\":1,\"Create\":{\"Image\":\"x\"}}",
                                     "{\"Version\":1,\"Create\":{\"Image\":\"x\"},\"Networks\":[{\"Name\":\"n\"}]}",
                                     "{\"Version\":1,\"Create\":{\"Image\":\"x\"},\"Networks\":[],\"ImageRef\":7}",
                                     "{\"Version\":1,\"Create\":{\"Image\":\"x\"},\"Networks\":[],\"ImageRef\":\"\"}",
                                     NULL };
  for (const char *const *b = bad; *b; b++)
    {
      assert_int_equal (docker_spec_plan (*b, NULL, &plan, &err), -EINVAL);
      assert_null (plan.create_body);
    }
}

/* The plan per API version: below 1.44 one network at create and the
 * others connected; from 1.44 all of them at create, with a static MAC in
 * the primary endpoint. The image is the pin or the verified reference. */
static void
test_for_api (void **state)
{
  (void) state;
  struct parsed p;
  translate ("inspect-full.json", &p);
  lympho_error_t err = { 0 };
  struct docker_spec_plan plan;
  json_val body = NULL;

  assert_int_equal (docker_spec_plan (p.snap.spec, NULL, &plan, &err), 0);
  cleanup_free char *before = xstrdup (plan.create_body);
  assert_int_equal (docker_spec_for_api (&plan, 1041, NULL, &err), 0);
  assert_int_equal (plan.n_nets, 1);
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  assert_int_equal (json_obj_len (json_path (body, "NetworkingConfig", "EndpointsConfig", NULL)), 1);
  assert_string_equal (json_str (json_get (body, "Image")), p.snap.image_id);
  json_free (body);
  docker_spec_plan_free (&plan);

  assert_int_equal (docker_spec_plan (p.snap.spec, NULL, &plan, &err), 0);
  assert_int_equal (docker_spec_for_api (&plan, 1044, "lrt-img:1", &err), 0);
  assert_int_equal (plan.n_nets, 0);
  assert_null (plan.nets);
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  assert_string_equal (json_str (json_get (body, "Image")), "lrt-img:1");
  json_val eps = json_path (body, "NetworkingConfig", "EndpointsConfig", NULL);
  assert_int_equal (json_obj_len (eps), 2);
  assert_true (arr_has (json_path (eps, "lrt-net1", "Aliases", NULL), "web"));
  assert_true (arr_has (json_path (eps, "lrt-net2", "Aliases", NULL), "api"));
  assert_string_equal (json_str (json_path (eps, "lrt-net1", "IPAMConfig", "IPv4Address", NULL)), "172.31.201.50");
  /* Nothing else changed. */
  assert_string_equal (json_str (json_path (body, "HostConfig", "NetworkMode", NULL)), "lrt-net1");
  assert_non_null (json_get (body, "Healthcheck"));
  json_free (body);
  /* Translating again changes nothing. */
  cleanup_free char *once = xstrdup (plan.create_body);
  assert_int_equal (docker_spec_for_api (&plan, 1044, NULL, &err), 0);
  assert_string_equal (plan.create_body, once);
  assert_string_not_equal (once, before);
  docker_spec_plan_free (&plan);

  /* Hidden, then translated: no endpoint carries its aliases at create. */
  struct docker_spec_net *pub = NULL;
  size_t n_pub = 0;
  assert_int_equal (docker_spec_plan (p.snap.spec, NULL, &plan, &err), 0);
  assert_int_equal (docker_spec_hide (&plan, &pub, &n_pub, &err), 0);
  assert_int_equal (docker_spec_for_api (&plan, 1051, NULL, &err), 0);
  assert_int_equal (n_pub, 2);
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  eps = json_path (body, "NetworkingConfig", "EndpointsConfig", NULL);
  assert_int_equal (json_obj_len (eps), 2);
  assert_null (json_path (eps, "lrt-net1", "Aliases", NULL));
  assert_null (json_path (eps, "lrt-net2", "Aliases", NULL));
  json_free (body);
  docker_spec_nets_free (pub, n_pub);
  docker_spec_plan_free (&plan);
  parsed_free (&p);

  /* A static MAC: in Config below 1.44, in the primary endpoint from 1.44,
   * unless the endpoint names its own. */
  static const char *const mac_spec
      = "{\"Version\":1,\"Create\":{\"Image\":\"sha256:aa\",\"MacAddress\":\"02:42:ac:11:00:09\","
        "\"HostConfig\":{\"NetworkMode\":\"n1\"},\"NetworkingConfig\":{\"EndpointsConfig\":{\"n1\":{}}}},"
        "\"Networks\":[{\"Name\":\"n2\",\"EndpointConfig\":{}}]}";
  assert_int_equal (docker_spec_plan (mac_spec, NULL, &plan, &err), 0);
  assert_null (plan.image_ref);
  assert_int_equal (docker_spec_for_api (&plan, 1043, NULL, &err), 0);
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  assert_string_equal (json_str (json_get (body, "MacAddress")), "02:42:ac:11:00:09");
  assert_null (json_path (body, "NetworkingConfig", "EndpointsConfig", "n1", "MacAddress", NULL));
  json_free (body);
  docker_spec_plan_free (&plan);
  assert_int_equal (docker_spec_plan (mac_spec, NULL, &plan, &err), 0);
  assert_int_equal (docker_spec_for_api (&plan, 1044, NULL, &err), 0);
  assert_int_equal (json_parse (plan.create_body, strlen (plan.create_body), &body, &err), 0);
  assert_null (json_get (body, "MacAddress"));
  assert_string_equal (json_str (json_path (body, "NetworkingConfig", "EndpointsConfig", "n1", "MacAddress", NULL)),
                       "02:42:ac:11:00:09");
  assert_null (json_path (body, "NetworkingConfig", "EndpointsConfig", "n2", "MacAddress", NULL));
  assert_non_null (json_path (body, "NetworkingConfig", "EndpointsConfig", "n2", NULL));
  json_free (body);
  docker_spec_plan_free (&plan);

  /* A body that is not ours is refused and left as it was. */
  plan.create_body = xstrdup ("{\"NetworkingConfig\":[]}");
  assert_int_equal (docker_spec_for_api (&plan, 1044, NULL, &err), -EINVAL);
  assert_string_equal (plan.create_body, "{\"NetworkingConfig\":[]}");
  docker_spec_plan_free (&plan);
}

/* A version below what the spec needs is named, field by field. */
static void
test_unsupported (void **state)
{
  (void) state;
  struct docker_spec_plan plan = { 0 };
  plan.create_body = xstrdup (
      "{\"Image\":\"sha256:aa\",\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"StartInterval\":2000000000},"
      "\"HostConfig\":{\"Annotations\":{\"a\":\"b\"},\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\","
      "\"Target\":\"/s\",\"VolumeOptions\":{\"Subpath\":\"sub\"}},{\"Type\":\"tmpfs\",\"Target\":\"/t\","
      "\"TmpfsOptions\":{\"Options\":[[\"exec\"]]}}]}}");
  cleanup_free char *at41 = docker_spec_unsupported (&plan, 1041);
  assert_string_equal (at41, "HostConfig.Annotations (API 1.43), Healthcheck.StartInterval (API 1.44), "
                             "volume subpaths (API 1.45), tmpfs options (API 1.46)");
  cleanup_free char *at44 = docker_spec_unsupported (&plan, 1044);
  assert_string_equal (at44, "volume subpaths (API 1.45), tmpfs options (API 1.46)");
  assert_null (docker_spec_unsupported (&plan, 1046));
  assert_null (docker_spec_unsupported (&plan, 1051));
  docker_spec_plan_free (&plan);
  /* Empty or zero is nothing to lose. */
  plan.create_body = xstrdup ("{\"Healthcheck\":{\"StartInterval\":0},\"HostConfig\":{\"Annotations\":{},"
                              "\"Mounts\":[{\"VolumeOptions\":{\"Subpath\":\"\"}}]}}");
  assert_null (docker_spec_unsupported (&plan, 1041));
  docker_spec_plan_free (&plan);
}

static void
test_same_image (void **state)
{
  (void) state;
  assert_true (docker_spec_same_image ("sha256:abc", "abc"));
  assert_true (docker_spec_same_image ("abc", "sha256:abc"));
  assert_true (docker_spec_same_image ("sha256:abc", "sha256:abc"));
  assert_false (docker_spec_same_image ("sha256:abc", "sha256:abd"));
  assert_false (docker_spec_same_image ("sha256:", ""));
  assert_false (docker_spec_same_image (NULL, "abc"));
  assert_false (docker_spec_same_image ("abc", NULL));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_full_config),   cmocka_unit_test (test_full_volumes),
    cmocka_unit_test (test_full_networks), cmocka_unit_test (test_blockers),
    cmocka_unit_test (test_blocker_static_ip_and_volume), cmocka_unit_test (test_host_network),
    cmocka_unit_test (test_plain),         cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_plan),         cmocka_unit_test (test_for_api),
    cmocka_unit_test (test_same_image),   cmocka_unit_test (test_unsupported),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
