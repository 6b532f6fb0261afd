/* Unit tests: what lymphd sends Alertmanager for the fleet (fleet_body),
 * read back as Alertmanager's webhook hands it to another node
 * (alerts_parse_alertmanager): a fleet warning for the group, never an
 * alert about a container of the receiving node; a threshold crossing is
 * not one; a repeated notification counts once (fleet_first_seen). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/alerts.h"
#include "lympho/fleet.h"
#include "lympho/json.h"
#include "lympho/util.h"

/* Alertmanager's webhook (version 4) around the alerts of a body sent to
 * /api/v2/alerts, as it delivers them: status, fingerprint added. */
static char *
webhook (const char *sent, const char *fingerprint)
{
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (sent, strlen (sent), &v, &err), 0);
  assert_int_equal (json_arr_len (v), 1);
  json_val a = json_arr_at (v, 0);
  json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "version", "4");
  json_gen_kstr (g, "status", "firing");
  json_gen_str (g, "alerts");
  json_gen_array_open (g);
  json_gen_map_open (g);
  json_gen_kstr (g, "status", "firing");
  json_gen_str (g, "labels");
  json_gen_value (g, json_get (a, "labels"));
  json_gen_str (g, "annotations");
  json_gen_value (g, json_get (a, "annotations"));
  json_gen_kstr (g, "startsAt", json_str (json_get (a, "startsAt")));
  json_gen_kstr (g, "fingerprint", fingerprint);
  json_gen_map_close (g);
  json_gen_array_close (g);
  json_gen_map_close (g);
  char *out = json_gen_text (g);
  json_gen_free (g);
  json_free (v);
  return out;
}

static void
test_incident_round_trip (void **state)
{
  (void) state;
  struct fleet_event ev = { FLEET_ALERT_INCIDENT, "web-1", "frontend", 3, 3.0, "falco", "a shell", "regenerate" };
  char *body = fleet_body ("node-a", &ev, "node-a-1", 1764950400000ull);
  json_val v = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (json_parse (body, strlen (body), &v, &err), 0);
  json_val labels = json_get (json_arr_at (v, 0), "labels");
  assert_string_equal (json_str (json_get (labels, "alertname")), FLEET_ALERT_INCIDENT);
  assert_string_equal (json_str (json_get (labels, "lympho_node")), "node-a");
  assert_string_equal (json_str (json_get (labels, "lympho_group")), "frontend");
  assert_string_equal (json_str (json_get (labels, "container")), "web-1");
  assert_string_equal (json_str (json_get (labels, "severity")), "critical");
  assert_string_equal (json_str (json_get (labels, "lympho_severity")), "3");
  assert_string_equal (json_str (json_get (labels, "lympho_incident")), "node-a-1");
  /* Short: it ends FLEET_ENDS_MS after it starts. */
  assert_string_equal (json_str (json_get (json_arr_at (v, 0), "startsAt")), "2025-12-05T16:00:00.000Z");
  assert_string_equal (json_str (json_get (json_arr_at (v, 0), "endsAt")), "2025-12-05T16:05:00.000Z");
  json_free (v);

  char *hook = webhook (body, "0123456789abcdef");
  struct alert_list l = { 0 };
  assert_int_equal (alerts_parse_alertmanager (hook, strlen (hook), &l, &err), 0);
  assert_int_equal (l.n, 1);
  /* No container of the receiving node: its group is warned. */
  assert_null (l.v[0].container);
  assert_string_equal (l.v[0].node, "node-a");
  assert_string_equal (l.v[0].group, "frontend");
  assert_int_equal (l.v[0].severity, 3);
  assert_string_equal (l.v[0].fingerprint, "0123456789abcdef");
  assert_non_null (strstr (l.v[0].reason, "node-a/web-1"));
  alert_list_free (&l);
  free (hook);
  free (body);
}

/* A threshold crossing, and an incident of a container in no group: well
 * formed, and nothing to warn. */
static void
test_not_warnings (void **state)
{
  (void) state;
  struct fleet_event th = { FLEET_ALERT_THRESHOLD, "web-1", "frontend", 2, 3.5, "drift", "x", "regenerate" };
  struct fleet_event lone = { FLEET_ALERT_INCIDENT, "db", NULL, 1, 1.0, "cli", "x", "shortened-ttl" };
  const struct fleet_event *evs[] = { &th, &lone };
  for (size_t i = 0; i < 2; i++)
    {
      char *body = fleet_body ("node-a", evs[i], "id", 1764950400000ull);
      char *hook = webhook (body, "fp");
      struct alert_list l = { 0 };
      lympho_error_t err = { 0 };
      assert_int_equal (alerts_parse_alertmanager (hook, strlen (hook), &l, &err), 0);
      assert_int_equal (l.n, 0);
      assert_int_equal (l.ignored, 1);
      alert_list_free (&l);
      free (hook);
      free (body);
    }
}

/* A node's or group's label that is not a name refuses the payload. */
static void
test_bad_fleet_labels (void **state)
{
  (void) state;
  struct fleet_event ev = { FLEET_ALERT_INCIDENT, "web-1", "front end", 1, 1.0, "cli", "x", "none" };
  char *body = fleet_body ("node-a", &ev, "id", 1764950400000ull);
  char *hook = webhook (body, "fp");
  struct alert_list l = { 0 };
  lympho_error_t err = { 0 };
  assert_int_equal (alerts_parse_alertmanager (hook, strlen (hook), &l, &err), -EINVAL);
  assert_int_equal (l.n, 0);
  free (hook);
  free (body);
}

static void
test_first_seen (void **state)
{
  (void) state;
  struct fleet *f = NULL;
  lympho_error_t err = { 0 };
  assert_int_equal (fleet_new (NULL, 0, "node-b", &f, &err), 0);
  assert_string_equal (fleet_node (f), "node-b");
  assert_true (fleet_first_seen (f, "fp1", 1000));
  assert_false (fleet_first_seen (f, "fp1", 2000));
  assert_true (fleet_first_seen (f, "fp2", 2000));
  assert_true (fleet_first_seen (f, "fp1", 1000 + FLEET_SEEN_MS)); /* long past: a new one */
  assert_true (fleet_first_seen (f, NULL, 3000));
  assert_true (fleet_first_seen (f, NULL, 3000));
  /* Bounded: the oldest are forgotten first. */
  char fp[32];
  for (int i = 0; i < FLEET_SEEN_MAX; i++)
    {
      snprintf (fp, sizeof fp, "flood-%d", i);
      assert_true (fleet_first_seen (f, fp, 5000));
    }
  assert_true (fleet_first_seen (f, "fp2", 5000));
  assert_false (fleet_first_seen (f, "flood-511", 5000));
  fleet_free (f);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_incident_round_trip),
    cmocka_unit_test (test_not_warnings),
    cmocka_unit_test (test_bad_fleet_labels),
    cmocka_unit_test (test_first_seen),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
