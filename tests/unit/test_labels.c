/* Unit tests: durations and the label policy (INTERFACE.md "Container labels"). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/labels.h"
#include "lympho/util.h"

static void
expect_duration (const char *s, uint64_t ms)
{
  lympho_error_t err = { 0 };
  uint64_t got = 12345;
  int ret = duration_parse (s, &got, &err);
  if (ret != 0)
    fail_msg ("duration_parse (\"%s\") failed: %s", s, err.msg);
  if (got != ms)
    fail_msg ("duration_parse (\"%s\") = %llu, want %llu", s, (unsigned long long) got,
              (unsigned long long) ms);
}

static void
expect_bad_duration (const char *s, const char *msg)
{
  lympho_error_t err = { 0 };
  uint64_t got = 777;
  int ret = duration_parse (s, &got, &err);
  if (ret != -EINVAL)
    fail_msg ("duration_parse (\"%s\") = %d, want -EINVAL", s ? s : "(null)", ret);
  assert_int_equal (got, 777); /* untouched on failure */
  assert_string_equal (err.msg, msg);
}

static void
test_duration_good (void **state)
{
  (void) state;
  expect_duration ("90s", 90000);
  expect_duration ("10m", 600000);
  expect_duration ("2h", 7200000);
  expect_duration ("1d", 86400000);
  expect_duration ("250ms", 250);
  expect_duration ("1h30m", 5400000);
  expect_duration ("1d2h3m4s5ms", 86400000ull + 7200000 + 180000 + 4000 + 5);
  expect_duration ("1m90s", 150000);
  expect_duration ("0s", 0);
  expect_duration ("007s", 7000);
  expect_duration ("1s500ms", 1500);
  /* The largest value that fits, in ms. */
  expect_duration ("18446744073709551615ms", UINT64_MAX);
}

static void
test_duration_bad (void **state)
{
  (void) state;
  expect_bad_duration ("", "empty duration");
  expect_bad_duration (NULL, "empty duration");
  expect_bad_duration ("90", "missing unit after \"90\" (ms, s, m, h or d)");
  expect_bad_duration ("1h30", "missing unit after \"1h30\" (ms, s, m, h or d)");
  expect_bad_duration ("5x", "unknown unit \"x\"");
  expect_bad_duration ("5sec", "unknown unit \"sec\"");
  expect_bad_duration ("5S", "unknown unit \"S\"");
  expect_bad_duration ("-5s", "negative durations are not allowed");
  expect_bad_duration ("+5s", "expected a number at \"+5s\"");
  expect_bad_duration ("s", "expected a number at \"s\"");
  expect_bad_duration ("1.5h", "fractions are not allowed (write 1h30m, not 1.5h)");
  expect_bad_duration ("0,5s", "fractions are not allowed (write 1h30m, not 1.5h)");
  expect_bad_duration ("1h.5m", "expected a number at \".5m\"");
  expect_bad_duration (" 5s", "whitespace is not allowed");
  expect_bad_duration ("5s ", "whitespace is not allowed");
  expect_bad_duration ("1h 30m", "whitespace is not allowed");
  expect_bad_duration ("30m1h", "unit \"h\" out of order (largest first, each once)");
  expect_bad_duration ("1m1m", "unit \"m\" out of order (largest first, each once)");
  /* Overflow: in the number, in the multiplication, in the sum. */
  expect_bad_duration ("18446744073709551616ms", "too large");
  expect_bad_duration ("99999999999999999999999s", "too large");
  expect_bad_duration ("213503982335d", "too large");
  expect_bad_duration ("213503982334d23h59m59s999ms", "too large");
}

static void
expect_format (uint64_t ms, const char *want)
{
  char *s = duration_format (ms);
  assert_string_equal (s, want);
  /* What we print must parse back to the same value. */
  uint64_t back;
  assert_int_equal (duration_parse (s, &back, NULL), 0);
  assert_int_equal (back, ms);
  free (s);
}

static void
test_duration_format (void **state)
{
  (void) state;
  expect_format (0, "0s");
  expect_format (250, "250ms");
  expect_format (90000, "1m30s");
  expect_format (5400000, "1h30m");
  expect_format (86400000ull * 30, "30d");
  expect_format (86400000ull + 1, "1d1ms");
  expect_format (UINT64_MAX, "213503982334d14h25m51s615ms"); /* checked by the round trip too */
}

/* Labels from "key", "value" pairs, NULL-terminated. */
static struct rt_labels
make_labels (const char *first, ...)
{
  struct rt_labels l = { 0 };
  va_list ap;
  va_start (ap, first);
  for (const char *k = first; k; k = va_arg (ap, const char *))
    {
      const char *v = va_arg (ap, const char *);
      rt_labels_set (&l, k, v);
    }
  va_end (ap);
  return l;
}

static void
test_defaults (void **state)
{
  (void) state;
  struct rt_labels l = make_labels (LABEL_ENABLE, "true", "com.example.other", "anything", NULL);
  struct policy p;
  lympho_error_t err = { 0 };
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_true (p.enabled);
  assert_int_equal (p.ttl_ms, 3600000);
  assert_int_equal (p.jitter_pct, 10);
  assert_null (p.group);
  assert_int_equal (p.strategy, STRATEGY_AUTO);
  assert_int_equal (p.threshold, 3);
  assert_false (p.exec_allow_set);
  assert_int_equal (p.n_exec_allow, 0);
  assert_int_equal (p.n_drift_allow, 0);
  assert_int_equal (p.drift_interval_ms, 30000);
  assert_int_equal (p.quarantine, QUARANTINE_NETWORK | QUARANTINE_FORENSICS);
  policy_free (&p);
  rt_labels_free (&l);
}

static void
test_not_enabled (void **state)
{
  (void) state;
  struct policy p;
  lympho_error_t err = { 0 };

  assert_int_equal (policy_from_labels (NULL, &p, &err), 0);
  assert_false (p.enabled);
  policy_free (&p);

  struct rt_labels l = make_labels ("maintainer", "x", NULL);
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_false (p.enabled);
  policy_free (&p);
  rt_labels_free (&l);

  l = make_labels (LABEL_ENABLE, "false", LABEL_TTL, "2h", NULL);
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_false (p.enabled);
  assert_int_equal (p.ttl_ms, 7200000);
  policy_free (&p);
  rt_labels_free (&l);
}

static void
test_all_labels (void **state)
{
  (void) state;
  struct rt_labels l = make_labels (LABEL_ENABLE, "true", LABEL_TTL, "1h30m", LABEL_JITTER, "25%",
                                    LABEL_GROUP, "web-tier_1.a", LABEL_STRATEGY, "swap",
                                    LABEL_THRESHOLD, "100", LABEL_EXEC_ALLOW, "/bin/httpd,/bin/sh",
                                    LABEL_DRIFT_ALLOW, "/tmp", LABEL_DRIFT_INTERVAL, "1m",
                                    LABEL_QUARANTINE, "forensics,pause", LABEL_GENERATION, "4",
                                    LABEL_NAME, "web", LABEL_TXN, "17", NULL);
  struct policy p;
  lympho_error_t err = { 0 };
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_true (p.enabled);
  assert_int_equal (p.ttl_ms, 5400000);
  assert_int_equal (p.jitter_pct, 25);
  assert_string_equal (p.group, "web-tier_1.a");
  assert_int_equal (p.strategy, STRATEGY_SWAP);
  assert_int_equal (p.threshold, 100);
  assert_true (p.exec_allow_set);
  assert_int_equal (p.n_exec_allow, 2);
  assert_string_equal (p.exec_allow[0], "/bin/httpd");
  assert_string_equal (p.exec_allow[1], "/bin/sh");
  assert_int_equal (p.n_drift_allow, 1);
  assert_string_equal (p.drift_allow[0], "/tmp");
  assert_int_equal (p.drift_interval_ms, 60000);
  assert_int_equal (p.quarantine, QUARANTINE_PAUSE | QUARANTINE_FORENSICS);
  policy_free (&p);
  rt_labels_free (&l);
}

/* One valid value of one label, on an enabled container. */
static struct policy
good (const char *key, const char *value)
{
  struct rt_labels l = make_labels (LABEL_ENABLE, "true", key, value, NULL);
  struct policy p;
  lympho_error_t err = { 0 };
  int ret = policy_from_labels (&l, &p, &err);
  if (ret != 0)
    fail_msg ("%s=%s refused: %s", key, value, err.msg);
  rt_labels_free (&l);
  return p;
}

/* One invalid value: refused whole with exactly this message. */
static void
bad (const char *key, const char *value, const char *msg)
{
  struct rt_labels l = make_labels (LABEL_ENABLE, "true", LABEL_TTL, "2h", key, value, NULL);
  struct policy p;
  lympho_error_t err = { 0 };
  int ret = policy_from_labels (&l, &p, &err);
  if (ret != -EINVAL)
    fail_msg ("%s=\"%s\" accepted (ret %d)", key, value, ret);
  assert_string_equal (err.msg, msg);
  assert_int_equal (err.status, EINVAL);
  /* Never half-applied: defaults, but the caller still learns it was enabled. */
  if (strcmp (key, LABEL_ENABLE) != 0)
    assert_true (p.enabled);
  assert_int_equal (p.ttl_ms, 3600000);
  assert_null (p.group);
  assert_null (p.exec_allow);
  policy_free (&p);
  rt_labels_free (&l);
}

static void
test_enable (void **state)
{
  (void) state;
  struct policy p = good (LABEL_ENABLE, "true");
  assert_true (p.enabled);
  bad (LABEL_ENABLE, "True", "label lympho.enable=\"True\": must be \"true\" or \"false\"");
  bad (LABEL_ENABLE, "1", "label lympho.enable=\"1\": must be \"true\" or \"false\"");
  bad (LABEL_ENABLE, "", "label lympho.enable=\"\": must be \"true\" or \"false\"");
  bad (LABEL_ENABLE, "yes", "label lympho.enable=\"yes\": must be \"true\" or \"false\"");

  /* A bad enable on its own: error, and not enabled. */
  struct rt_labels l = make_labels (LABEL_ENABLE, "ture", NULL);
  lympho_error_t err = { 0 };
  assert_int_equal (policy_from_labels (&l, &p, &err), -EINVAL);
  assert_false (p.enabled);
  assert_string_equal (err.msg, "label lympho.enable=\"ture\": must be \"true\" or \"false\"");
  rt_labels_free (&l);
}

static void
test_ttl (void **state)
{
  (void) state;
  struct policy p = good (LABEL_TTL, "5s");
  assert_int_equal (p.ttl_ms, 5000);
  p = good (LABEL_TTL, "30d");
  assert_int_equal (p.ttl_ms, 30ull * 86400000);
  p = good (LABEL_TTL, "90s");
  assert_int_equal (p.ttl_ms, 90000);
  bad (LABEL_TTL, "5x", "label lympho.ttl=\"5x\": unknown unit \"x\"");
  bad (LABEL_TTL, "4s999ms", "label lympho.ttl=\"4s999ms\": must be between 5s and 30d");
  bad (LABEL_TTL, "30d1ms", "label lympho.ttl=\"30d1ms\": must be between 5s and 30d");
  bad (LABEL_TTL, "0s", "label lympho.ttl=\"0s\": must be between 5s and 30d");
  bad (LABEL_TTL, "3600", "label lympho.ttl=\"3600\": missing unit after \"3600\" (ms, s, m, h or d)");
  bad (LABEL_TTL, "", "label lympho.ttl=\"\": empty duration");
  bad (LABEL_TTL, "-1h", "label lympho.ttl=\"-1h\": negative durations are not allowed");
  bad (LABEL_TTL, "99999999999999999999d", "label lympho.ttl=\"99999999999999999999d\": too large");
}

static void
test_jitter (void **state)
{
  (void) state;
  struct policy p = good (LABEL_JITTER, "0");
  assert_int_equal (p.jitter_pct, 0);
  p = good (LABEL_JITTER, "50");
  assert_int_equal (p.jitter_pct, 50);
  p = good (LABEL_JITTER, "7%");
  assert_int_equal (p.jitter_pct, 7);
  const char *m = "must be a whole percentage from 0 to 50";
  char want[256];
  const char *bads[] = { "51", "51%", "-1", "5.5", "%", "", "10%%", " 10", "0x10", "99999999999999999999" };
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
    {
      snprintf (want, sizeof want, "label lympho.jitter=\"%s\": %s", bads[i], m);
      bad (LABEL_JITTER, bads[i], want);
    }
}

static void
test_group (void **state)
{
  (void) state;
  struct policy p = good (LABEL_GROUP, "a");
  assert_string_equal (p.group, "a");
  policy_free (&p);
  char max[65];
  memset (max, 'g', 64);
  max[64] = '\0';
  p = good (LABEL_GROUP, max);
  assert_string_equal (p.group, max);
  policy_free (&p);

  char toolong[66];
  memset (toolong, 'g', 65);
  toolong[65] = '\0';
  char want[256];
  snprintf (want, sizeof want, "label lympho.group=\"%s\": must be 1 to 64 characters", toolong);
  bad (LABEL_GROUP, toolong, want);
  bad (LABEL_GROUP, "", "label lympho.group=\"\": must be 1 to 64 characters");
  bad (LABEL_GROUP, "a b", "label lympho.group=\"a b\": only letters, digits, '_', '.' and '-' are allowed");
  bad (LABEL_GROUP, "a/b", "label lympho.group=\"a/b\": only letters, digits, '_', '.' and '-' are allowed");
}

static void
test_strategy (void **state)
{
  (void) state;
  assert_int_equal (good (LABEL_STRATEGY, "auto").strategy, STRATEGY_AUTO);
  assert_int_equal (good (LABEL_STRATEGY, "replace").strategy, STRATEGY_REPLACE);
  assert_int_equal (good (LABEL_STRATEGY, "swap").strategy, STRATEGY_SWAP);
  assert_string_equal (strategy_name (STRATEGY_AUTO), "auto");
  assert_string_equal (strategy_name (STRATEGY_REPLACE), "replace");
  assert_string_equal (strategy_name (STRATEGY_SWAP), "swap");
  bad (LABEL_STRATEGY, "Swap", "label lympho.strategy=\"Swap\": must be auto, replace or swap");
  bad (LABEL_STRATEGY, "", "label lympho.strategy=\"\": must be auto, replace or swap");
  bad (LABEL_STRATEGY, "restart", "label lympho.strategy=\"restart\": must be auto, replace or swap");
}

static void
test_threshold (void **state)
{
  (void) state;
  assert_int_equal (good (LABEL_THRESHOLD, "1").threshold, 1);
  assert_int_equal (good (LABEL_THRESHOLD, "100").threshold, 100);
  const char *bads[] = { "0", "101", "-3", "3.0", "", "three", "1e2" };
  char want[256];
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
    {
      snprintf (want, sizeof want, "label lympho.threshold=\"%s\": must be a whole number from 1 to 100",
                bads[i]);
      bad (LABEL_THRESHOLD, bads[i], want);
    }
}

static void
test_path_lists (void **state)
{
  (void) state;
  struct policy p = good (LABEL_EXEC_ALLOW, "/usr/sbin/nginx");
  assert_true (p.exec_allow_set);
  assert_int_equal (p.n_exec_allow, 1);
  assert_string_equal (p.exec_allow[0], "/usr/sbin/nginx");
  policy_free (&p);
  p = good (LABEL_DRIFT_ALLOW, "/var/cache/nginx,/tmp,/run");
  assert_int_equal (p.n_drift_allow, 3);
  assert_string_equal (p.drift_allow[2], "/run");
  assert_false (p.exec_allow_set);
  policy_free (&p);

  bad (LABEL_EXEC_ALLOW, "", "label lympho.exec.allow=\"\": empty item");
  bad (LABEL_EXEC_ALLOW, "/bin/sh,", "label lympho.exec.allow=\"/bin/sh,\": empty item");
  bad (LABEL_EXEC_ALLOW, "/bin/sh,,/bin/ls", "label lympho.exec.allow=\"/bin/sh,,/bin/ls\": empty item");
  bad (LABEL_EXEC_ALLOW, "bin/sh", "label lympho.exec.allow=\"bin/sh\": \"bin/sh\": not an absolute path");
  bad (LABEL_EXEC_ALLOW, "/bin/sh, /bin/ls",
       "label lympho.exec.allow=\"/bin/sh, /bin/ls\": \" /bin/ls\": not an absolute path");
  bad (LABEL_DRIFT_ALLOW, "/tmp/a b", "label lympho.drift.allow=\"/tmp/a b\": \"/tmp/a b\": whitespace is not allowed");
  /* A program pinned by its contents. */
  p = good (LABEL_EXEC_ALLOW, "/bin/sh,/app/server@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal (p.n_exec_allow, 2);
  assert_string_equal (p.exec_allow[1], "/app/server@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  policy_free (&p);
  bad (LABEL_EXEC_ALLOW, "/app/server@sha256:abc",
       "label lympho.exec.allow=\"/app/server@sha256:abc\": \"/app/server@sha256:abc\": a sha256 is 64 lower-case hex digits");
  bad (LABEL_EXEC_ALLOW, "/a@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
       "label lympho.exec.allow=\"/a@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\": \"/a@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\": a sha256 is 64 lower-case hex digits");
  bad (LABEL_DRIFT_ALLOW, ",/tmp", "label lympho.drift.allow=\",/tmp\": empty item");
}

static void
test_drift_interval (void **state)
{
  (void) state;
  assert_int_equal (good (LABEL_DRIFT_INTERVAL, "1s").drift_interval_ms, 1000);
  assert_int_equal (good (LABEL_DRIFT_INTERVAL, "5m").drift_interval_ms, 300000);
  bad (LABEL_DRIFT_INTERVAL, "999ms", "label lympho.drift.interval=\"999ms\": must be at least 1s");
  bad (LABEL_DRIFT_INTERVAL, "0s", "label lympho.drift.interval=\"0s\": must be at least 1s");
  bad (LABEL_DRIFT_INTERVAL, "30", "label lympho.drift.interval=\"30\": missing unit after \"30\" (ms, s, m, h or d)");
}

static void
test_drift_learn (void **state)
{
  (void) state;
  struct policy p = good (LABEL_DRIFT_INTERVAL, "5s");
  assert_false (p.drift_learn_set);
  p = good (LABEL_DRIFT_LEARN, "20s");
  assert_true (p.drift_learn_set);
  assert_int_equal (p.drift_learn_ms, 20000);
  /* 0s: no start-up set, every change is judged from the first check. */
  p = good (LABEL_DRIFT_LEARN, "0s");
  assert_true (p.drift_learn_set);
  assert_int_equal (p.drift_learn_ms, 0);
  assert_int_equal (good (LABEL_DRIFT_LEARN, "1h").drift_learn_ms, 3600000);
  bad (LABEL_DRIFT_LEARN, "61m", "label lympho.drift.learn=\"61m\": must be at most 1h");
  bad (LABEL_DRIFT_LEARN, "10", "label lympho.drift.learn=\"10\": missing unit after \"10\" (ms, s, m, h or d)");
  bad (LABEL_DRIFT_LEARN, "", "label lympho.drift.learn=\"\": empty duration");
}

static void
test_quarantine (void **state)
{
  (void) state;
  assert_int_equal (good (LABEL_QUARANTINE, "none").quarantine, 0);
  assert_int_equal (good (LABEL_QUARANTINE, "network").quarantine, QUARANTINE_NETWORK);
  assert_int_equal (good (LABEL_QUARANTINE, "pause,network,forensics").quarantine,
                    QUARANTINE_NETWORK | QUARANTINE_PAUSE | QUARANTINE_FORENSICS);
  bad (LABEL_QUARANTINE, "none,network", "label lympho.quarantine=\"none,network\": \"none\" cannot be combined with other actions");
  bad (LABEL_QUARANTINE, "network,none", "label lympho.quarantine=\"network,none\": \"none\" cannot be combined with other actions");
  bad (LABEL_QUARANTINE, "network,network", "label lympho.quarantine=\"network,network\": \"network\" given twice");
  bad (LABEL_QUARANTINE, "kill", "label lympho.quarantine=\"kill\": unknown action \"kill\" (network, pause, forensics or none)");
  bad (LABEL_QUARANTINE, "", "label lympho.quarantine=\"\": empty item");
  bad (LABEL_QUARANTINE, "network,", "label lympho.quarantine=\"network,\": empty item");
  bad (LABEL_QUARANTINE, "Network", "label lympho.quarantine=\"Network\": unknown action \"Network\" (network, pause, forensics or none)");

  char *s = quarantine_format (QUARANTINE_NETWORK | QUARANTINE_FORENSICS);
  assert_string_equal (s, "network,forensics");
  free (s);
  s = quarantine_format (0);
  assert_string_equal (s, "none");
  free (s);
}

static void
test_exec_mode (void **state)
{
  (void) state;
  struct policy p;
  policy_defaults (&p);
  assert_int_equal (p.exec_mode, EXEC_MODE_AUTO);
  assert_int_equal (good (LABEL_EXEC_MODE, "deny").exec_mode, EXEC_MODE_DENY);
  assert_int_equal (good (LABEL_EXEC_MODE, "detect").exec_mode, EXEC_MODE_DETECT);
  assert_int_equal (good (LABEL_EXEC_MODE, "off").exec_mode, EXEC_MODE_OFF);
  bad (LABEL_EXEC_MODE, "Deny", "label lympho.exec.mode=\"Deny\": must be deny, detect or off");
  bad (LABEL_EXEC_MODE, "", "label lympho.exec.mode=\"\": must be deny, detect or off");
  bad (LABEL_EXEC_MODE, "auto", "label lympho.exec.mode=\"auto\": must be deny, detect or off");
  assert_string_equal (exec_mode_name (EXEC_MODE_AUTO), "auto");
  assert_string_equal (exec_mode_name (EXEC_MODE_DENY), "deny");
}

static void
test_mode (void **state)
{
  (void) state;
  struct policy p;
  policy_defaults (&p);
  assert_int_equal (p.mode, LYMPHO_MODE_DEFAULT);
  assert_int_equal (good (LABEL_MODE, "observe").mode, LYMPHO_MODE_OBSERVE);
  assert_int_equal (good (LABEL_MODE, "enforce").mode, LYMPHO_MODE_ENFORCE);
  bad (LABEL_MODE, "watch", "label lympho.mode=\"watch\": must be enforce or observe");
  bad (LABEL_MODE, "", "label lympho.mode=\"\": must be enforce or observe");
  assert_string_equal (lympho_mode_name (LYMPHO_MODE_OBSERVE), "observe");
  assert_string_equal (lympho_mode_name (LYMPHO_MODE_DEFAULT), "default");
}

static void
test_after (void **state)
{
  (void) state;
  struct policy p = good (LABEL_AFTER, "db,cache-1");
  assert_int_equal (p.n_after, 2);
  assert_string_equal (p.after[0], "db");
  assert_string_equal (p.after[1], "cache-1");
  assert_false (p.after_compose);
  policy_free (&p);
  bad (LABEL_AFTER, "", "label lympho.after=\"\": empty item");
  bad (LABEL_AFTER, "db,,x", "label lympho.after=\"db,,x\": empty item");
  bad (LABEL_AFTER, "db,db", "label lympho.after=\"db,db\": \"db\": given twice");
  bad (LABEL_AFTER, "-db", "label lympho.after=\"-db\": \"-db\": must start with a letter or a digit");
  bad (LABEL_AFTER, "a b", "label lympho.after=\"a b\": \"a b\": only letters, digits, '_', '.' and '-' are allowed");
  bad (LABEL_AFTER, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
       "label lympho.after=\"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\": \"q\": too many names");

  /* In a compose project without lympho.after: compose's depends_on. */
  struct rt_labels l = make_labels (LABEL_ENABLE, "true", LABEL_COMPOSE_PROJECT, "shop", LABEL_COMPOSE_DEPENDS_ON,
                                    "db:service_started:false,cache:service_healthy:true", NULL);
  lympho_error_t err = { 0 };
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_true (p.after_compose);
  assert_int_equal (p.n_after, 2);
  assert_string_equal (p.after[0], "db");
  assert_string_equal (p.after[1], "cache");
  policy_free (&p);
  rt_labels_free (&l);
  /* lympho.after wins; outside a project depends_on means nothing. */
  l = make_labels (LABEL_ENABLE, "true", LABEL_COMPOSE_PROJECT, "shop", LABEL_COMPOSE_DEPENDS_ON, "db:service_started",
                   LABEL_AFTER, "web", NULL);
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_false (p.after_compose);
  assert_string_equal (p.after[0], "web");
  policy_free (&p);
  rt_labels_free (&l);
  l = make_labels (LABEL_ENABLE, "true", LABEL_COMPOSE_DEPENDS_ON, "db:service_started", NULL);
  assert_int_equal (policy_from_labels (&l, &p, &err), 0);
  assert_int_equal (p.n_after, 0);
  policy_free (&p);
  rt_labels_free (&l);
  /* Older compose: names alone; a malformed one is compose's, not an error. */
  char **v;
  size_t n;
  assert_int_equal (compose_depends_on_parse ("db,redis", &v, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (v[1], "redis");
  free (v[0]);
  free (v[1]);
  free (v);
  assert_int_equal (compose_depends_on_parse ("db,:x", &v, &n, &err), -EINVAL);
}

static void
test_unknown_label (void **state)
{
  (void) state;
  bad ("lympho.foo", "1", "label lympho.foo=\"1\": unknown lympho label");
  bad ("lympho.TTL", "1h", "label lympho.TTL=\"1h\": unknown lympho label");
  bad ("lympho.ttl.extra", "1h", "label lympho.ttl.extra=\"1h\": unknown lympho label");
  /* Not in our namespace: someone else's business. */
  struct policy p = good ("lymphocyte", "x");
  assert_true (p.enabled);
  p = good ("org.lympho.x", "y");
  assert_true (p.enabled);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_duration_good),  cmocka_unit_test (test_duration_bad),
    cmocka_unit_test (test_duration_format), cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_not_enabled),    cmocka_unit_test (test_all_labels),
    cmocka_unit_test (test_enable),         cmocka_unit_test (test_ttl),
    cmocka_unit_test (test_jitter),         cmocka_unit_test (test_group),
    cmocka_unit_test (test_strategy),       cmocka_unit_test (test_threshold),
    cmocka_unit_test (test_path_lists),     cmocka_unit_test (test_drift_interval), cmocka_unit_test (test_drift_learn),
    cmocka_unit_test (test_quarantine),     cmocka_unit_test (test_unknown_label), cmocka_unit_test (test_exec_mode), cmocka_unit_test (test_mode), cmocka_unit_test (test_after),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
