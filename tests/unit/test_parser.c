/* The parser process's answers, read as a hostile peer's (parser_decode):
 * a well-formed answer gives its alerts; anything that breaks the protocol
 * is refused as such, never half taken. The process itself (confinement,
 * restart) is tested against the real lymphd (test-hostile.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lympho/parser.h"
#include "lympho/util.h"

static void
u32 (struct buf *b, uint32_t v)
{
  buf_append (b, &v, sizeof v);
}

static void
str (struct buf *b, const char *s)
{
  if (s == NULL)
    {
      u32 (b, 0xffffffffu);
      return;
    }
  u32 (b, (uint32_t) strlen (s));
  buf_append (b, s, strlen (s));
}

/* One alert of source src for container c (or, from node, for group). */
static void
fleet_alert (struct buf *b, uint32_t src, int32_t sev, const char *c, const char *r, const char *node,
             const char *group)
{
  u32 (b, src);
  u32 (b, (uint32_t) sev);
  str (b, c);
  str (b, r);
  str (b, "rule");
  str (b, NULL);
  str (b, "/bin/sh");
  str (b, NULL);
  str (b, node);
  str (b, group);
}

/* One alert of source src for container c, reason r. */
static void
alert (struct buf *b, uint32_t src, int32_t sev, const char *c, const char *r)
{
  fleet_alert (b, src, sev, c, r, NULL, NULL);
}

static void
head (struct buf *b, int32_t status, uint32_t ignored, uint32_t n, const char *msg)
{
  u32 (b, (uint32_t) status);
  u32 (b, ignored);
  u32 (b, n);
  str (b, msg);
}

static int
decode (struct buf *b, struct alert_list *l, lympho_error_t *err)
{
  memset (l, 0, sizeof *l);
  return parser_decode (b->data ? b->data : "", b->len, ALERT_SRC_FALCO, l, err);
}

static void
test_well_formed (void **state)
{
  (void) state;
  struct buf b;
  buf_init (&b);
  head (&b, 0, 2, 3, NULL);
  alert (&b, ALERT_SRC_FALCO, 3, "web", "a shell in \"web\"\n(twice)");
  alert (&b, ALERT_SRC_FALCO, 0, "db", NULL);
  fleet_alert (&b, ALERT_SRC_FALCO, 2, NULL, "node-a/web: a shell", "node-a", "frontend");
  struct alert_list l;
  lympho_error_t err = { 0 };
  assert_int_equal (decode (&b, &l, &err), 0);
  assert_int_equal (l.n, 3);
  assert_null (l.v[0].node);
  assert_null (l.v[0].group);
  assert_null (l.v[2].container);
  assert_string_equal (l.v[2].node, "node-a");
  assert_string_equal (l.v[2].group, "frontend");
  assert_int_equal (l.ignored, 2);
  assert_string_equal (l.v[0].container, "web");
  assert_string_equal (l.v[0].reason, "a shell in \"web\"\n(twice)");
  assert_string_equal (l.v[0].rule, "rule");
  assert_null (l.v[0].program);
  assert_string_equal (l.v[0].path, "/bin/sh");
  assert_int_equal (l.v[0].severity, 3);
  assert_int_equal (l.v[0].source, ALERT_SRC_FALCO);
  assert_null (l.v[1].reason);
  alert_list_free (&l);
  buf_free (&b);
}

static void
test_parser_error_passed_on (void **state)
{
  (void) state;
  struct buf b;
  buf_init (&b);
  head (&b, -EINVAL, 0, 0, "output_fields: not an object");
  struct alert_list l;
  lympho_error_t err = { 0 };
  assert_int_equal (decode (&b, &l, &err), -EINVAL);
  assert_string_equal (err.msg, "output_fields: not an object");
  assert_int_equal (l.n, 0);
  buf_free (&b);
}

/* Each: a broken answer, refused as a protocol breach. */
static void
test_breaches (void **state)
{
  (void) state;
  for (int k = 0; k < 19; k++)
    {
      struct buf b;
      buf_init (&b);
      switch (k)
        {
        case 0: /* nothing */
          break;
        case 1: /* cut short in an alert */
          head (&b, 0, 0, 1, NULL);
          u32 (&b, ALERT_SRC_FALCO);
          break;
        case 2: /* more alerts announced than sent */
          head (&b, 0, 0, 2, NULL);
          alert (&b, ALERT_SRC_FALCO, 1, "web", "x");
          break;
        case 3: /* bytes left over */
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, 1, "web", "x");
          u32 (&b, 7);
          break;
        case 4: /* another source than asked */
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_EXEC, 1, "web", "x");
          break;
        case 5: /* severity out of range */
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, 11, "web", "x");
          break;
        case 6:
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, -1, "web", "x");
          break;
        case 7: /* no container, or an empty one */
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, 1, NULL, "x");
          break;
        case 8:
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, 1, "", "x");
          break;
        case 9: /* a string longer than the answer */
          head (&b, 0, 0, 1, NULL);
          u32 (&b, ALERT_SRC_FALCO);
          u32 (&b, 1);
          u32 (&b, 1000);
          buf_append (&b, "web", 3);
          break;
        case 10: /* a NUL inside a string */
          head (&b, 0, 0, 1, NULL);
          u32 (&b, ALERT_SRC_FALCO);
          u32 (&b, 1);
          u32 (&b, 4);
          buf_append (&b, "we\0b", 4);
          for (int i = 0; i < 7; i++)
            str (&b, NULL);
          break;
        case 11: /* malformed UTF-8 */
          head (&b, 0, 0, 1, NULL);
          alert (&b, ALERT_SRC_FALCO, 1, "web", "\xc3\x28");
          break;
        case 12: /* an error other than a malformed body, or one with alerts */
          head (&b, -ENOMEM, 0, 0, "no memory");
          break;
        case 13:
          head (&b, -EINVAL, 0, 1, "bad");
          alert (&b, ALERT_SRC_FALCO, 1, "web", "x");
          break;
        case 14: /* a fleet warning with a container of this node's */
          head (&b, 0, 0, 1, NULL);
          fleet_alert (&b, ALERT_SRC_FALCO, 1, "web", "x", "node-a", "frontend");
          break;
        case 15: /* a fleet warning with no group */
          head (&b, 0, 0, 1, NULL);
          fleet_alert (&b, ALERT_SRC_FALCO, 1, NULL, "x", "node-a", NULL);
          break;
        case 16: /* a group with no node */
          head (&b, 0, 0, 1, NULL);
          fleet_alert (&b, ALERT_SRC_FALCO, 1, "web", "x", NULL, "frontend");
          break;
        case 17: /* a node or a group that is no name */
          head (&b, 0, 0, 1, NULL);
          fleet_alert (&b, ALERT_SRC_FALCO, 1, NULL, "x", "../etc", "frontend");
          break;
        case 18:
          head (&b, 0, 0, 1, NULL);
          fleet_alert (&b, ALERT_SRC_FALCO, 1, NULL, "x", "node-a", "front end");
          break;
        }
      struct alert_list l;
      lympho_error_t err = { 0 };
      int ret = decode (&b, &l, &err);
      if (ret != -EPROTO)
        fail_msg ("case %d: %d, not -EPROTO (%s)", k, ret, err.msg);
      assert_int_equal (l.n, 0);
      assert_null (l.v);
      buf_free (&b);
    }
}

static void
test_too_many_alerts (void **state)
{
  (void) state;
  struct buf b;
  buf_init (&b);
  head (&b, 0, 0, 100000, NULL);
  struct alert_list l;
  lympho_error_t err = { 0 };
  assert_int_equal (decode (&b, &l, &err), -EPROTO);
  buf_free (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_well_formed),
    cmocka_unit_test (test_parser_error_passed_on),
    cmocka_unit_test (test_breaches),
    cmocka_unit_test (test_too_many_alerts),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
