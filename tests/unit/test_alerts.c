/* Unit tests: alert payload parsers (issue 3 "Intake"), on bodies recorded
 * from Alertmanager 0.25 and on Falco events built from its documented
 * http_output / falcosidekick format. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/alerts.h"
#include "lympho/util.h"

typedef int (*parser_fn) (const char *, size_t, struct alert_list *, lympho_error_t *);

static char *
load (const char *name, size_t *len)
{
  lympho_error_t err = { 0 };
  cleanup_free char *path = xasprintf ("%s/%s", TEST_DATA_DIR, name);
  char *data = NULL;
  if (read_file (path, 1 << 20, &data, len, &err) < 0)
    fail_msg ("%s", err.msg);
  return data;
}

static void
parse_ok (parser_fn fn, const char *body, struct alert_list *l)
{
  lympho_error_t err = { 0 };
  memset (l, 0xAA, sizeof *l); /* garbage in: the parser must set it all */
  if (fn (body, strlen (body), l, &err) != 0)
    fail_msg ("parse failed on %s: %s", body, err.msg);
}

static void
parse_file_ok (parser_fn fn, const char *name, struct alert_list *l)
{
  size_t len;
  cleanup_free char *body = load (name, &len);
  lympho_error_t err = { 0 };
  if (fn (body, len, l, &err) != 0)
    fail_msg ("parse of %s failed: %s", name, err.msg);
}

/* Refused with EINVAL and a one-line message containing `needle`. */
static void
parse_bad (parser_fn fn, const char *body, const char *needle)
{
  lympho_error_t err = { 0 };
  struct alert_list l = { 0 };
  int ret = fn (body, strlen (body), &l, &err);
  if (ret != -EINVAL)
    fail_msg ("parse of %s = %d, want -EINVAL", body, ret);
  if (strstr (err.msg, needle) == NULL)
    fail_msg ("message `%s` lacks `%s`", err.msg, needle);
  assert_null (strchr (err.msg, '\n'));
  assert_int_equal (l.n, 0);
  assert_null (l.v);
}

static void
assert_str_or_null (const char *got, const char *want)
{
  if (want == NULL)
    assert_null (got);
  else
    {
      assert_non_null (got);
      assert_string_equal (got, want);
    }
}

/* ---- generic ---- */

static void
test_generic_ok (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_generic, "generic-ok.json", &l);
  assert_int_equal (l.n, 1);
  assert_int_equal (l.ignored, 0);
  assert_int_equal (l.v[0].source, ALERT_SRC_GENERIC);
  assert_string_equal (l.v[0].container, "web-1");
  assert_int_equal (l.v[0].severity, 5);
  assert_string_equal (l.v[0].reason, "canary file touched");
  assert_null (l.v[0].rule);
  assert_null (l.v[0].fingerprint);
  alert_list_free (&l);

  parse_file_ok (alerts_parse_generic, "generic-minimal.json", &l);
  assert_int_equal (l.n, 1);
  assert_string_equal (l.v[0].container, "3ad7b26ded6d");
  assert_int_equal (l.v[0].severity, 0);
  assert_null (l.v[0].reason);
  alert_list_free (&l);

  /* The engine's own spelling of a name, with its slash, and the bounds. */
  parse_ok (alerts_parse_generic, "{\"container\":\"/web-1\",\"severity\":10,\"reason\":\"\"}", &l);
  assert_string_equal (l.v[0].container, "web-1");
  assert_int_equal (l.v[0].severity, 10);
  alert_list_free (&l);
}

static void
test_generic_bad (void **state)
{
  (void) state;
  parse_bad (alerts_parse_generic, "", "malformed JSON");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1", "malformed JSON");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1} x", "malformed JSON");
  parse_bad (alerts_parse_generic, "[]", "must be a JSON object");
  parse_bad (alerts_parse_generic, "{\"severity\":1}", "`container` is missing");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\"}", "`severity` is missing");
  parse_bad (alerts_parse_generic, "{\"container\":7,\"severity\":1}", "`container` must be a string");
  parse_bad (alerts_parse_generic, "{\"container\":\"\",\"severity\":1}", "container is empty");
  parse_bad (alerts_parse_generic, "{\"container\":\"/\",\"severity\":1}", "container is empty");
  parse_bad (alerts_parse_generic, "{\"container\":\"a b\",\"severity\":1}", "not a container name");
  parse_bad (alerts_parse_generic, "{\"container\":\"-a\",\"severity\":1}", "not a container name");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":\"3\"}", "must be an integer");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":2.5}", "must be an integer");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":true}", "must be an integer");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":11}", "between 0 and 10");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":-1}", "between 0 and 10");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":99999999999999999999}", "must be an integer");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1,\"reason\":null}", "`reason` must be a string");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1,\"why\":\"x\"}", "unknown key `why`");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1,\"w\\r\\ny\":\"x\"}", "unknown key `w??y`");
  parse_bad (alerts_parse_generic, "{\"container\":\"a\",\"severity\":1,\"severity\":9}", "duplicate key `severity`");

  /* Embedded NUL: refused, not silently parsed up to it. */
  static const char nul[] = "{\"container\":\"a\",\"severity\":1}\0{";
  lympho_error_t err = { 0 };
  struct alert_list l = { 0 };
  assert_int_equal (alerts_parse_generic (nul, sizeof nul - 1, &l, &err), -EINVAL);

  /* Lengths: 256 characters of container pass, 257 do not; 4096 bytes of
   * reason pass, 4097 do not. */
  char name[300], body[5000];
  memset (name, 'c', 256);
  name[256] = '\0';
  snprintf (body, sizeof body, "{\"container\":\"%s\",\"severity\":1}", name);
  parse_ok (alerts_parse_generic, body, &l);
  alert_list_free (&l);
  name[256] = 'c';
  name[257] = '\0';
  snprintf (body, sizeof body, "{\"container\":\"%s\",\"severity\":1}", name);
  parse_bad (alerts_parse_generic, body, "longer than 256");

  char reason[4100];
  memset (reason, 'r', 4096);
  reason[4096] = '\0';
  snprintf (body, sizeof body, "{\"container\":\"a\",\"severity\":1,\"reason\":\"%s\"}", reason);
  parse_ok (alerts_parse_generic, body, &l);
  assert_int_equal (strlen (l.v[0].reason), 4096);
  alert_list_free (&l);
  reason[4096] = 'r';
  reason[4097] = '\0';
  snprintf (body, sizeof body, "{\"container\":\"a\",\"severity\":1,\"reason\":\"%s\"}", reason);
  parse_bad (alerts_parse_generic, body, "longer than 4096");
}

/* ---- Alertmanager ---- */

static void
test_am_firing (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-firing.json", &l);
  assert_int_equal (l.n, 1);
  assert_int_equal (l.ignored, 0);
  struct alert *a = &l.v[0];
  assert_int_equal (a->source, ALERT_SRC_ALERTMANAGER);
  assert_string_equal (a->container, "web-1");
  assert_int_equal (a->severity, 3); /* critical */
  assert_string_equal (a->reason, "web shell spawned in web-1"); /* summary before description */
  assert_string_equal (a->rule, "WebShellDetected");
  assert_string_equal (a->fingerprint, "0d8d7556d206ff47");
  assert_null (a->program);
  assert_null (a->path);
  alert_list_free (&l);
}

static void
test_am_grouped (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-grouped.json", &l);
  assert_int_equal (l.n, 2);
  /* container_name; warning -> 1; no summary -> description. */
  assert_string_equal (l.v[0].container, "api-1");
  assert_int_equal (l.v[0].severity, 1);
  assert_string_equal (l.v[0].reason, "5xx ratio above 5% for api-1");
  assert_string_equal (l.v[0].fingerprint, "c1793dcb12926d70");
  /* name; lympho_severity 7 wins over severity=page; no annotations ->
   * alertname. */
  assert_string_equal (l.v[1].container, "api-2");
  assert_int_equal (l.v[1].severity, 7);
  assert_string_equal (l.v[1].reason, "HighErrorRate");
  assert_string_equal (l.v[1].rule, "HighErrorRate");
  alert_list_free (&l);
}

static void
test_am_labels (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-labels.json", &l);
  assert_int_equal (l.n, 2);
  /* lympho_container alone; error -> 2. */
  assert_string_equal (l.v[0].container, "db-1");
  assert_int_equal (l.v[0].severity, 2);
  /* container wins over lympho_container; unknown severity -> 0. */
  assert_string_equal (l.v[1].container, "5f0c2b1e9a7d");
  assert_int_equal (l.v[1].severity, 0);
  assert_string_equal (l.v[1].reason, "suspicious CPU use");
  alert_list_free (&l);
}

static void
test_am_resolved_and_skipped (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-resolved.json", &l);
  assert_int_equal (l.n, 0);
  assert_int_equal (l.ignored, 1);
  alert_list_free (&l);

  /* A group still firing, with one of its alerts resolved. */
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-mixed.json", &l);
  assert_int_equal (l.n, 1);
  assert_int_equal (l.ignored, 1);
  assert_string_equal (l.v[0].container, "api-2");
  alert_list_free (&l);

  /* A node alert: no container label, skipped. */
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-nocontainer.json", &l);
  assert_int_equal (l.n, 0);
  assert_int_equal (l.ignored, 1);
  alert_list_free (&l);
}

#define AM_HEAD "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":["
#define AM_TAIL "]}"

static void
test_am_severity_table (void **state)
{
  (void) state;
  static const struct
  {
    const char *labels;
    int want;
  } cases[] = {
    { "\"severity\":\"critical\"", 3 }, { "\"severity\":\"CRITICAL\"", 3 }, { "\"severity\":\"page\"", 3 },
    { "\"severity\":\"error\"", 2 },    { "\"severity\":\"warning\"", 1 },  { "\"severity\":\"Warning\"", 1 },
    { "\"severity\":\"info\"", 0 },     { "\"severity\":\"none\"", 0 },     { "\"severity\":\"\"", 0 },
    { "\"x\":\"y\"", 0 },               { "\"lympho_severity\":\"0\",\"severity\":\"critical\"", 0 },
    { "\"lympho_severity\":\"10\"", 10 }, { "\"severity\":\"warning\",\"lympho_severity\":\"4\"", 4 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char body[512];
      snprintf (body, sizeof body,
                AM_HEAD "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"container\":\"c\",%s}}" AM_TAIL,
                cases[i].labels);
      struct alert_list l;
      parse_ok (alerts_parse_alertmanager, body, &l);
      assert_int_equal (l.n, 1);
      if (l.v[0].severity != cases[i].want)
        fail_msg ("labels {%s}: severity %d, want %d", cases[i].labels, l.v[0].severity, cases[i].want);
      alert_list_free (&l);
    }
}

static void
test_am_precedence (void **state)
{
  (void) state;
  static const struct
  {
    const char *labels;
    const char *want;
  } cases[] = {
    { "\"lympho_container\":\"d\",\"name\":\"c\",\"container_name\":\"b\",\"container\":\"a\"", "a" },
    { "\"lympho_container\":\"d\",\"name\":\"c\",\"container_name\":\"b\"", "b" },
    { "\"lympho_container\":\"d\",\"name\":\"c\"", "c" },
    { "\"lympho_container\":\"d\"", "d" },
    { "\"container\":\"\",\"name\":\"c\"", "c" }, /* empty counts as absent */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char body[512];
      snprintf (body, sizeof body, AM_HEAD "{\"status\":\"firing\",\"labels\":{%s}}" AM_TAIL, cases[i].labels);
      struct alert_list l;
      parse_ok (alerts_parse_alertmanager, body, &l);
      assert_int_equal (l.n, 1);
      assert_string_equal (l.v[0].container, cases[i].want);
      /* No alertname, no annotations: still a human reason, no rule. */
      assert_string_equal (l.v[0].reason, "alertmanager alert");
      assert_null (l.v[0].rule);
      alert_list_free (&l);
    }
}

static void
test_am_bad (void **state)
{
  (void) state;
  parse_bad (alerts_parse_alertmanager, "{\"status\":\"firing\",\"alerts\":[]}", "`version` is missing");
  parse_bad (alerts_parse_alertmanager, "{\"version\":4,\"status\":\"firing\",\"alerts\":[]}", "must be a string");
  parse_bad (alerts_parse_alertmanager, "{\"version\":\"3\",\"status\":\"firing\",\"alerts\":[]}", "want 4");
  parse_bad (alerts_parse_alertmanager, "{\"version\":\"4\",\"status\":\"burning\",\"alerts\":[]}",
             "neither firing nor resolved");
  parse_bad (alerts_parse_alertmanager, "{\"version\":\"4\",\"status\":\"firing\"}", "`alerts` is missing");
  parse_bad (alerts_parse_alertmanager, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":{}}",
             "must be an array");
  parse_bad (alerts_parse_alertmanager, AM_HEAD "1" AM_TAIL, "alerts[0] must be an object");
  parse_bad (alerts_parse_alertmanager, AM_HEAD "{\"status\":\"firing\"}" AM_TAIL, "`labels` is missing");
  parse_bad (alerts_parse_alertmanager, AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":1}}" AM_TAIL,
             "labels `container` must be a string");
  parse_bad (alerts_parse_alertmanager, AM_HEAD "{\"labels\":{\"alertname\":\"X\",\"container\":\"a\"}}" AM_TAIL,
             "alerts[0] (X): `status` is missing");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":\"a\"},\"annotations\":[]}" AM_TAIL,
             "`annotations` must be an object");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":\"a\"},\"fingerprint\":5}" AM_TAIL,
             "`fingerprint` must be a string");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"alertname\":\"Y\",\"container\":\"a\",\"lympho_severity\":"
                     "\"high\"}}" AM_TAIL,
             "alerts[0] (Y): label lympho_severity `high` must be an integer 0..10");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":\"a\",\"lympho_severity\":\"11\"}}" AM_TAIL,
             "lympho_severity");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":\"a\",\"lympho_severity\":\"-1\"}}" AM_TAIL,
             "lympho_severity");
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"alertname\":\"Z\",\"container\":\"a;b\"}}" AM_TAIL,
             "alerts[0] (Z): container `a;b` is not a container name or id");
  /* The second alert is broken: the first is not returned either. */
  parse_bad (alerts_parse_alertmanager,
             AM_HEAD "{\"status\":\"firing\",\"labels\":{\"container\":\"a\"}},{\"status\":\"x\",\"labels\":{}}" AM_TAIL,
             "alerts[1]");
  /* A resolved alert is checked like any other. */
  parse_bad (alerts_parse_alertmanager,
             "{\"version\":\"4\",\"status\":\"resolved\",\"alerts\":[{\"status\":\"resolved\",\"labels\":[]}]}",
             "`labels` must be an object");
}

/* ---- Falco ---- */

static void
test_falco_recorded (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_falco, "falco-shell.json", &l);
  assert_int_equal (l.n, 1);
  struct alert *a = &l.v[0];
  assert_int_equal (a->source, ALERT_SRC_FALCO);
  assert_string_equal (a->container, "3ad7b26ded6d"); /* container.id before name */
  assert_int_equal (a->severity, 0);                  /* Notice */
  assert_string_equal (a->rule, "Terminal shell in container");
  assert_string_equal (a->program, "/bin/busybox"); /* exepath before name */
  assert_null (a->path);
  assert_true (str_has_prefix (a->reason, "22:13:20.000000000: Notice A shell was spawned"));
  assert_null (a->fingerprint);
  alert_list_free (&l);

  parse_file_ok (alerts_parse_falco, "falco-write-etc.json", &l);
  assert_int_equal (l.n, 1);
  assert_string_equal (l.v[0].container, "3ad7b26ded6d4c1f9e0a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e");
  assert_int_equal (l.v[0].severity, 2); /* Error */
  assert_string_equal (l.v[0].path, "/etc/shadow");
  alert_list_free (&l);

  parse_file_ok (alerts_parse_falco, "falco-sidekick-critical.json", &l);
  assert_int_equal (l.n, 1);
  assert_string_equal (l.v[0].container, "api-1"); /* only the name */
  assert_int_equal (l.v[0].severity, 3);           /* Critical */
  assert_string_equal (l.v[0].program, "xmrig");   /* proc.name without exepath */
  alert_list_free (&l);

  parse_file_ok (alerts_parse_falco, "falco-host.json", &l);
  assert_int_equal (l.n, 0);
  assert_int_equal (l.ignored, 1);
  alert_list_free (&l);
}

#define FALCO(prio, fields)                                                                                       \
  "{\"rule\":\"R\",\"priority\":\"" prio "\",\"time\":\"2023-11-14T22:13:20Z\",\"output_fields\":{" fields "}}"

static void
test_falco_priorities (void **state)
{
  (void) state;
  static const struct
  {
    const char *p;
    int want;
  } cases[] = {
    { "Emergency", 3 }, { "Alert", 3 },  { "Critical", 3 },      { "CRITICAL", 3 }, { "Error", 2 },
    { "error", 2 },     { "Warning", 1 }, { "Notice", 0 },       { "Informational", 0 }, { "Info", 0 },
    { "Debug", 0 },     { "", 0 },        { "Bogus", 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char body[512];
      snprintf (body, sizeof body,
                "{\"rule\":\"R\",\"priority\":\"%s\",\"time\":\"t\",\"output_fields\":{\"container.name\":\"c\"}}",
                cases[i].p);
      struct alert_list l;
      parse_ok (alerts_parse_falco, body, &l);
      assert_int_equal (l.n, 1);
      if (l.v[0].severity != cases[i].want)
        fail_msg ("priority %s: severity %d, want %d", cases[i].p, l.v[0].severity, cases[i].want);
      /* Without output, the rule is the reason. */
      assert_string_equal (l.v[0].reason, "R");
      alert_list_free (&l);
    }
}

static void
test_falco_ids (void **state)
{
  (void) state;
  struct alert_list l;
  /* <NA> and null read as absent and fall through to the next field. */
  parse_ok (alerts_parse_falco,
            FALCO ("Error", "\"container.full_id\":null,\"container.id\":\"<NA>\",\"container.name\":\"web-1\""), &l);
  assert_string_equal (l.v[0].container, "web-1");
  alert_list_free (&l);
  parse_ok (alerts_parse_falco, FALCO ("Error", "\"container.id\":\"0123456789ab\",\"container.name\":\"web-1\""),
            &l);
  assert_string_equal (l.v[0].container, "0123456789ab");
  alert_list_free (&l);
  /* host, whatever the other fields say: ignored. */
  parse_ok (alerts_parse_falco, FALCO ("Critical", "\"container.id\":\"host\",\"container.name\":\"web-1\""), &l);
  assert_int_equal (l.n, 0);
  assert_int_equal (l.ignored, 1);
  alert_list_free (&l);
  /* No container fields at all (a rule that prints none): ignored. */
  parse_ok (alerts_parse_falco, FALCO ("Critical", "\"proc.name\":\"sh\""), &l);
  assert_int_equal (l.n, 0);
  assert_int_equal (l.ignored, 1);
  alert_list_free (&l);

  parse_bad (alerts_parse_falco, FALCO ("Error", "\"container.id\":\"0123456789abcdef\""), "not a 12-hex id");
  parse_bad (alerts_parse_falco, FALCO ("Error", "\"container.id\":\"0123456789AB\""), "not a 12-hex id");
  parse_bad (alerts_parse_falco, FALCO ("Error", "\"container.full_id\":\"0123456789ab\""), "not a 64-hex id");
  parse_bad (alerts_parse_falco, FALCO ("Error", "\"container.id\":42"),
             "event (R): output_fields `container.id` must be a string");
  parse_bad (alerts_parse_falco, FALCO ("Error", "\"proc.exepath\":[\"/bin/sh\"]"), "`proc.exepath` must be a string");
  parse_bad (alerts_parse_falco, FALCO ("Error", "\"container.name\":\"a/b\""), "not a container name");
}

static void
test_falco_bad (void **state)
{
  (void) state;
  /* Falco without json_output sends its text line. */
  parse_bad (alerts_parse_falco, "22:13:20.000000000: Notice A shell was spawned", "json_output: true");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\"", "malformed JSON");
  parse_bad (alerts_parse_falco, "[1]", "must be a JSON object");
  parse_bad (alerts_parse_falco, "{\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{}}", "`rule` is missing");
  parse_bad (alerts_parse_falco, "{\"rule\":\"\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{}}",
             "`rule` is empty");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\",\"time\":\"t\",\"output_fields\":{}}", "`priority` is missing");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\",\"priority\":3,\"time\":\"t\",\"output_fields\":{}}",
             "`priority` must be a string");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\",\"priority\":\"Error\",\"output_fields\":{}}", "`time` is missing");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\"}", "`output_fields` is missing");
  parse_bad (alerts_parse_falco, "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":[]}",
             "`output_fields` must be an object");
  parse_bad (alerts_parse_falco,
             "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{},\"output\":1}",
             "`output` must be a string");
  parse_bad (alerts_parse_falco,
             "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{},\"tags\":\"x\"}",
             "`tags` must be an array");
  parse_bad (alerts_parse_falco,
             "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{},\"tags\":[1]}",
             "`tags` must hold strings");
  parse_bad (alerts_parse_falco,
             "{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output_fields\":{},\"hostname\":{}}",
             "`hostname` must be a string");
}

static void
test_falco_long_output (void **state)
{
  (void) state;
  /* A long output is cut for the reason, on a UTF-8 boundary, not refused. */
  size_t n = 5001;
  cleanup_free char *out = xmalloc (n + 1);
  out[0] = 'x'; /* shifts the pairs so that byte 4096 is a continuation */
  for (size_t i = 1; i + 1 < n + 1; i += 2)
    {
      out[i] = (char) 0xC3; /* é */
      out[i + 1] = (char) 0xA9;
    }
  out[n] = '\0';
  cleanup_free char *body
      = xasprintf ("{\"rule\":\"R\",\"priority\":\"Error\",\"time\":\"t\",\"output\":\"%s\","
                   "\"output_fields\":{\"container.name\":\"c\"}}",
                   out);
  struct alert_list l;
  parse_ok (alerts_parse_falco, body, &l);
  assert_int_equal (strlen (l.v[0].reason), 4095);
  assert_int_equal ((unsigned char) l.v[0].reason[4094], 0xA9);
  alert_list_free (&l);
}

/* ---- signature ---- */

static void
test_signature (void **state)
{
  (void) state;
  struct alert_list l;
  parse_file_ok (alerts_parse_falco, "falco-write-etc.json", &l);
  cleanup_free char *s1 = alert_signature (&l.v[0]);
  assert_string_equal (s1, "falco|Write below etc|/bin/busybox|/etc/shadow");
  alert_list_free (&l);

  parse_file_ok (alerts_parse_falco, "falco-shell.json", &l);
  cleanup_free char *s2 = alert_signature (&l.v[0]);
  assert_string_equal (s2, "falco|Terminal shell in container|/bin/busybox");
  alert_list_free (&l);

  /* The fingerprint and container are not part of it: the same rule on
   * another replica or a later firing is the same signature. */
  parse_file_ok (alerts_parse_alertmanager, "alertmanager-grouped.json", &l);
  cleanup_free char *s3 = alert_signature (&l.v[0]);
  cleanup_free char *s4 = alert_signature (&l.v[1]);
  assert_string_equal (s3, "alertmanager|HighErrorRate");
  assert_string_equal (s3, s4);
  alert_list_free (&l);

  parse_file_ok (alerts_parse_generic, "generic-ok.json", &l);
  cleanup_free char *s5 = alert_signature (&l.v[0]);
  assert_string_equal (s5, "generic");
  alert_list_free (&l);

  struct alert cli = { .source = ALERT_SRC_CLI, .rule = (char *) "", .path = (char *) "/x" };
  cleanup_free char *s6 = alert_signature (&cli);
  assert_string_equal (s6, "cli|/x");
  assert_str_or_null (alert_source_name (ALERT_SRC_ALERTMANAGER), "alertmanager");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_generic_ok),        cmocka_unit_test (test_generic_bad),
    cmocka_unit_test (test_am_firing),         cmocka_unit_test (test_am_grouped),
    cmocka_unit_test (test_am_labels),         cmocka_unit_test (test_am_resolved_and_skipped),
    cmocka_unit_test (test_am_severity_table), cmocka_unit_test (test_am_precedence),
    cmocka_unit_test (test_am_bad),            cmocka_unit_test (test_falco_recorded),
    cmocka_unit_test (test_falco_priorities),  cmocka_unit_test (test_falco_ids),
    cmocka_unit_test (test_falco_bad),         cmocka_unit_test (test_falco_long_output),
    cmocka_unit_test (test_signature),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
