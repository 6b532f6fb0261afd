/* lympho — alert payload parsers; the contract is in include/lympho/alerts.h.
 *
 * Strictness differs by who owns the format. Our own generic body is refused
 * on any unknown key. Alertmanager's and Falco's payloads grow new keys from
 * release to release (truncatedAlerts, uuid, tags, ...), so there unknown keys
 * are tolerated, but every key we read must have the documented type, and
 * anything wrong refuses the whole payload: nothing is half-applied.
 * May call: nothing but json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lympho/alerts.h"
#include "lympho/json.h"
#include "lympho/util.h"

#define CONTAINER_MAX 256
#define REASON_MAX 4096
#define SEVERITY_MAX 10

const char *
alert_source_name (enum alert_source s)
{
  switch (s)
    {
    case ALERT_SRC_GENERIC:
      return "generic";
    case ALERT_SRC_ALERTMANAGER:
      return "alertmanager";
    case ALERT_SRC_FALCO:
      return "falco";
    case ALERT_SRC_CLI:
      return "cli";
    case ALERT_SRC_EXEC:
      return "exec";
    case ALERT_SRC_DRIFT:
      return "drift";
    case ALERT_SRC_HEALTH:
      return "health";
    case ALERT_SRC_EXIT:
      return "exit";
    }
  return "unknown";
}

static void
alert_clear (struct alert *a)
{
  free (a->container);
  free (a->reason);
  free (a->rule);
  free (a->program);
  free (a->path);
  free (a->fingerprint);
  free (a->node);
  free (a->group);
  memset (a, 0, sizeof *a);
}

void
alert_list_free (struct alert_list *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    alert_clear (&l->v[i]);
  free (l->v);
  l->v = NULL;
  l->n = 0;
  l->ignored = 0;
}

static void
cleanup_alert_listp (struct alert_list *l)
{
  alert_list_free (l);
}
#define cleanup_alert_list __attribute__ ((cleanup (cleanup_alert_listp)))

/* Takes ownership of every string in *a. */
static void
list_push (struct alert_list *l, struct alert *a)
{
  l->v = xrealloc (l->v, (l->n + 1) * sizeof *l->v);
  l->v[l->n++] = *a;
  memset (a, 0, sizeof *a);
}

/* A copy of s cut to at most max bytes without splitting a UTF-8 sequence:
 * detectors' texts (Falco's output carries whole command lines) may be long,
 * and a reason is for humans. */
/* Docker's names are [a-zA-Z0-9][a-zA-Z0-9_.-]+ and ids are hex; the engine
 * reports names with a leading '/', which detectors sometimes copy. Anything
 * else cannot name a container and is refused rather than looked up. On
 * success *out is the name without the slash. */
static int
check_container (const char *s, char **out, const char *what, lympho_error_t *err)
{
  if (s[0] == '/')
    s++;
  size_t n = strlen (s);
  if (n == 0)
    return lympho_error_set (err, EINVAL, "%s: container is empty", what);
  if (n > CONTAINER_MAX)
    return lympho_error_set (err, EINVAL, "%s: container is longer than %d characters", what, CONTAINER_MAX);
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || (i > 0 && (c == '_' || c == '.' || c == '-'));
      if (!ok)
        return lympho_error_set (err, EINVAL, "%s: container `%.64s` is not a container name or id", what, s);
    }
  *out = xstrdup (s);
  return 0;
}

/* Reads key from obj as an optional string: absent -> *out NULL; present
 * with another type -> error. */
static int
opt_string (json_val obj, const char *key, const char **out, const char *what, lympho_error_t *err)
{
  json_val v = json_get (obj, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return lympho_error_set (err, EINVAL, "%s: `%s` must be a string", what, key);
  *out = json_str (v);
  return 0;
}

static int
req_string (json_val obj, const char *key, const char **out, const char *what, lympho_error_t *err)
{
  if (opt_string (obj, key, out, what, err) < 0)
    return -EINVAL;
  if (*out == NULL)
    return lympho_error_set (err, EINVAL, "%s: `%s` is missing", what, key);
  return 0;
}

/* An object whose values are all strings (Alertmanager's labels and
 * annotations), or absent when optional. */
static int
string_map (json_val obj, const char *key, bool required, json_val *out, const char *what, lympho_error_t *err)
{
  json_val v = json_get (obj, key);
  *out = NULL;
  if (v == NULL)
    return required ? lympho_error_set (err, EINVAL, "%s: `%s` is missing", what, key) : 0;
  if (!json_is_object (v))
    return lympho_error_set (err, EINVAL, "%s: `%s` must be an object", what, key);
  for (size_t i = 0; i < json_obj_len (v); i++)
    if (!json_is_string (json_obj_value (v, i)))
      return lympho_error_set (err, EINVAL, "%s: %s `%.64s` must be a string", what, key, json_obj_key (v, i));
  *out = v;
  return 0;
}

static int
parse_object (const char *body, size_t len, json_val *out, lympho_error_t *err)
{
  if (json_parse (body, len, out, err) < 0)
    return -EINVAL;
  if (!json_is_object (*out))
    return lympho_error_set (err, EINVAL, "body must be a JSON object");
  return 0;
}

/* ---- generic: {"container": NAME_OR_ID, "severity": N, "reason": TEXT} ---- */

static int
parse_generic (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  cleanup_json json_val root = NULL;
  if (parse_object (body, len, &root, err) < 0)
    return -EINVAL;

  /* Our own format: every key known, none twice (yajl keeps duplicates,
   * and which one would win is not something to leave to chance). */
  json_val container = NULL, severity = NULL, reason = NULL;
  for (size_t i = 0; i < json_obj_len (root); i++)
    {
      const char *k = json_obj_key (root, i);
      json_val *slot = strcmp (k, "container") == 0  ? &container
                       : strcmp (k, "severity") == 0 ? &severity
                       : strcmp (k, "reason") == 0   ? &reason
                                                     : NULL;
      if (slot == NULL)
        return lympho_error_set (err, EINVAL, "unknown key `%.64s`", k);
      if (*slot != NULL)
        return lympho_error_set (err, EINVAL, "duplicate key `%s`", k);
      *slot = json_obj_value (root, i);
    }

  if (container == NULL)
    return lympho_error_set (err, EINVAL, "`container` is missing");
  if (!json_is_string (container))
    return lympho_error_set (err, EINVAL, "`container` must be a string");
  if (severity == NULL)
    return lympho_error_set (err, EINVAL, "`severity` is missing");
  int64_t sev;
  if (!json_as_int64 (severity, &sev))
    return lympho_error_set (err, EINVAL, "`severity` must be an integer");
  if (sev < 0 || sev > SEVERITY_MAX)
    return lympho_error_set (err, EINVAL, "`severity` must be between 0 and %d", SEVERITY_MAX);
  if (reason != NULL && !json_is_string (reason))
    return lympho_error_set (err, EINVAL, "`reason` must be a string");
  if (reason != NULL && strlen (json_str (reason)) > REASON_MAX)
    return lympho_error_set (err, EINVAL, "`reason` is longer than %d bytes", REASON_MAX);

  struct alert a = { .source = ALERT_SRC_GENERIC, .severity = (int) sev };
  if (check_container (json_str (container), &a.container, "alert", err) < 0)
    return -EINVAL;
  a.reason = reason ? xstrdup (json_str (reason)) : NULL;

  struct alert_list l = { 0 };
  list_push (&l, &a);
  *out = l;
  return 0;
}

/* ---- Alertmanager webhook, version 4 ---- */

static int
am_severity (json_val labels, int *out, const char *what, lympho_error_t *err)
{
  const char *num = json_str (json_get (labels, "lympho_severity"));
  if (num != NULL)
    {
      /* Set on purpose by the operator for lympho, so it wins; a value that
       * is not a number in range is their mistake to hear about. */
      char *end;
      errno = 0;
      long v = strtol (num, &end, 10);
      if (num[0] < '0' || num[0] > '9' || *end != '\0' || errno != 0 || v < 0 || v > SEVERITY_MAX)
        return lympho_error_set (err, EINVAL, "%s: label lympho_severity `%.16s` must be an integer 0..%d", what,
                                 num, SEVERITY_MAX);
      *out = (int) v;
      return 0;
    }
  const char *s = json_str (json_get (labels, "severity"));
  if (s == NULL)
    *out = 0;
  else if (strcasecmp (s, "critical") == 0 || strcasecmp (s, "page") == 0)
    *out = 3;
  else if (strcasecmp (s, "error") == 0)
    *out = 2;
  else if (strcasecmp (s, "warning") == 0)
    *out = 1;
  else
    *out = 0;
  return 0;
}

static bool
is_firing_or_resolved (const char *s)
{
  return strcmp (s, "firing") == 0 || strcmp (s, "resolved") == 0;
}

static int
am_alert (json_val v, size_t idx, struct alert_list *l, lympho_error_t *err)
{
  char what[96];
  if (!json_is_object (v))
    return lympho_error_set (err, EINVAL, "alerts[%zu] must be an object", idx);

  json_val labels, annotations;
  snprintf (what, sizeof what, "alerts[%zu]", idx);
  if (string_map (v, "labels", true, &labels, what, err) < 0)
    return -EINVAL;
  /* Name the alert in every later message: the operator knows alertnames,
   * not array indexes. */
  const char *alertname = json_str (json_get (labels, "alertname"));
  if (alertname)
    snprintf (what, sizeof what, "alerts[%zu] (%.64s)", idx, alertname);

  const char *status, *fingerprint, *starts;
  if (req_string (v, "status", &status, what, err) < 0 || opt_string (v, "fingerprint", &fingerprint, what, err) < 0
      || opt_string (v, "startsAt", &starts, what, err) < 0
      || string_map (v, "annotations", false, &annotations, what, err) < 0)
    return -EINVAL;
  if (!is_firing_or_resolved (status))
    return lympho_error_set (err, EINVAL, "%s: status `%.16s` is neither firing nor resolved", what, status);

  int severity = 0;
  if (am_severity (labels, &severity, what, err) < 0)
    return -EINVAL;

  /* Label precedence as documented; Prometheus drops empty labels, so an
   * empty value counts as absent. */
  static const char *const keys[] = { "container", "container_name", "name", "lympho_container" };
  const char *container = NULL;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0] && container == NULL; i++)
    {
      const char *c = json_str (json_get (labels, keys[i]));
      if (c != NULL && c[0] != '\0')
        container = c;
    }

  /* A resolved alert changes nothing; it was still checked above so that a
   * broken payload is refused whatever its status. */
  if (strcmp (status, "resolved") == 0)
    {
      l->ignored++;
      return 0;
    }
  /* Sent by a lymphd (lympho_node): about its node's container, never one
   * of this node's of the same name. Its incidents warn the group here;
   * its threshold crossings are for people, and are not answered (an
   * answer would echo round the fleet). */
  const char *node = json_str (json_get (labels, "lympho_node"));
  if (node && node[0])
    {
      const char *group = json_str (json_get (labels, "lympho_group"));
      if (alertname == NULL || strcmp (alertname, FLEET_ALERT_INCIDENT) != 0 || group == NULL || group[0] == '\0')
        {
          l->ignored++;
          return 0;
        }
      struct alert a = { .source = ALERT_SRC_ALERTMANAGER, .severity = severity };
      cleanup_free char *remote = NULL;
      if (check_container (node, &a.node, what, err) < 0 || check_container (group, &a.group, what, err) < 0
          || (container && check_container (container, &remote, what, err) < 0))
        {
          free (a.node);
          free (a.group);
          return -EINVAL;
        }
      const char *summary = json_str (json_get (annotations, "summary"));
      cleanup_free char *reason = xasprintf ("%s/%s: %s", a.node, remote ? remote : "?",
                                             summary && summary[0] ? summary : "incident");
      a.reason = xstrdup_capped (reason, REASON_MAX);
      a.rule = xstrdup (alertname);
      a.fingerprint = (fingerprint && fingerprint[0]) ? xstrdup (fingerprint) : NULL;
      list_push (l, &a);
      return 0;
    }
  /* A firing alert with no container label is about something else (a node,
   * a service). It is skipped, not refused: one receiver often gets a whole
   * group, and refusing the payload would also drop the container alerts
   * grouped with it, while Alertmanager does not retry a 4xx. The skip is
   * counted and reported in the 202 answer ("ignored"). */
  if (container == NULL)
    {
      l->ignored++;
      return 0;
    }

  struct alert a = { .source = ALERT_SRC_ALERTMANAGER, .severity = severity };
  if (check_container (container, &a.container, what, err) < 0)
    return -EINVAL;
  const char *summary = json_str (json_get (annotations, "summary"));
  const char *description = json_str (json_get (annotations, "description"));
  const char *reason = (summary && summary[0]) ? summary : (description && description[0]) ? description : alertname;
  a.reason = xstrdup_capped (reason ? reason : "alertmanager alert", REASON_MAX);
  a.rule = xstrdup (alertname);
  /* Kept so that the daemon can count a repeated notification of the same
   * firing alert once; dedup is its job, not the parser's. */
  a.fingerprint = (fingerprint && fingerprint[0]) ? xstrdup (fingerprint) : NULL;
  list_push (l, &a);
  return 0;
}

static int
parse_alertmanager (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  cleanup_json json_val root = NULL;
  if (parse_object (body, len, &root, err) < 0)
    return -EINVAL;

  const char *version, *status;
  if (req_string (root, "version", &version, "payload", err) < 0)
    return -EINVAL;
  if (strcmp (version, "4") != 0)
    return lympho_error_set (err, EINVAL, "payload: webhook version `%.16s` is not supported (want 4)", version);
  if (req_string (root, "status", &status, "payload", err) < 0)
    return -EINVAL;
  if (!is_firing_or_resolved (status))
    return lympho_error_set (err, EINVAL, "payload: status `%.16s` is neither firing nor resolved", status);
  json_val alerts = json_get (root, "alerts");
  if (alerts == NULL)
    return lympho_error_set (err, EINVAL, "payload: `alerts` is missing");
  if (!json_is_array (alerts))
    return lympho_error_set (err, EINVAL, "payload: `alerts` must be an array");

  cleanup_alert_list struct alert_list l = { 0 };
  for (size_t i = 0; i < json_arr_len (alerts); i++)
    if (am_alert (json_arr_at (alerts, i), i, &l, err) < 0)
      return -EINVAL;
  *out = l;
  memset (&l, 0, sizeof l);
  return 0;
}

/* ---- Falco http_output / falcosidekick webhook ---- */

static int
falco_priority (const char *p)
{
  if (strcasecmp (p, "emergency") == 0 || strcasecmp (p, "alert") == 0 || strcasecmp (p, "critical") == 0)
    return 3;
  if (strcasecmp (p, "error") == 0)
    return 2;
  if (strcasecmp (p, "warning") == 0)
    return 1;
  return 0;
}

/* An output field we use: a string, or null / "<NA>" (Falco's "no value"),
 * which read as absent. Any other type refuses the payload. */
static int
falco_field (json_val fields, const char *key, const char **out, lympho_error_t *err)
{
  json_val v = json_get (fields, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return lympho_error_set (err, EINVAL, "output_fields `%s` must be a string", key);
  if (json_str (v)[0] != '\0' && strcmp (json_str (v), "<NA>") != 0)
    *out = json_str (v);
  return 0;
}

static bool
is_hex (const char *s, size_t n)
{
  if (strlen (s) != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

static int
parse_falco (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  cleanup_json json_val root = NULL;
  if (json_parse (body, len, &root, err) < 0)
    {
      /* The usual cause: Falco sends text unless json_output is on. */
      if (len > 0 && body[0] != '{' && body[0] != ' ')
        return lympho_error_set (err, EINVAL, "body is not JSON (set `json_output: true` in falco.yaml)");
      return -EINVAL;
    }
  if (!json_is_object (root))
    return lympho_error_set (err, EINVAL, "body must be a JSON object");

  const char *rule, *priority, *time, *output, *hostname, *source, *uuid;
  if (req_string (root, "rule", &rule, "event", err) < 0 || req_string (root, "priority", &priority, "event", err) < 0
      || req_string (root, "time", &time, "event", err) < 0 || opt_string (root, "output", &output, "event", err) < 0
      || opt_string (root, "hostname", &hostname, "event", err) < 0
      || opt_string (root, "source", &source, "event", err) < 0 || opt_string (root, "uuid", &uuid, "event", err) < 0)
    return -EINVAL;
  if (rule[0] == '\0')
    return lympho_error_set (err, EINVAL, "event: `rule` is empty");
  json_val tags = json_get (root, "tags");
  if (tags != NULL && !json_is_null (tags))
    {
      if (!json_is_array (tags))
        return lympho_error_set (err, EINVAL, "event: `tags` must be an array");
      for (size_t i = 0; i < json_arr_len (tags); i++)
        if (!json_is_string (json_arr_at (tags, i)))
          return lympho_error_set (err, EINVAL, "event: `tags` must hold strings");
    }
  json_val fields = json_get (root, "output_fields");
  if (fields == NULL)
    return lympho_error_set (err, EINVAL, "event: `output_fields` is missing");
  if (!json_is_object (fields))
    return lympho_error_set (err, EINVAL, "event: `output_fields` must be an object");

  const char *full_id, *id, *name, *exepath, *pname, *fdname;
  if (falco_field (fields, "container.full_id", &full_id, err) < 0
      || falco_field (fields, "container.id", &id, err) < 0 || falco_field (fields, "container.name", &name, err) < 0
      || falco_field (fields, "proc.exepath", &exepath, err) < 0
      || falco_field (fields, "proc.name", &pname, err) < 0 || falco_field (fields, "fd.name", &fdname, err) < 0)
    return lympho_error_prefix (err, "event (%.64s)", rule);

  struct alert_list l = { 0 };
  /* Falco says "host" for an event outside any container, and a rule that
   * does not print container fields gives none: both concern no container
   * lympho could regenerate, so the event is accepted and ignored, like an
   * Alertmanager alert without a container label. */
  bool host = (id && strcmp (id, "host") == 0) || (full_id && strcmp (full_id, "host") == 0);
  const char *container = host ? NULL : full_id ? full_id : id ? id : name;
  if (container == NULL)
    {
      l.ignored = 1;
      *out = l;
      return 0;
    }
  /* Falco's container.id is the 12-character prefix and full_id the whole
   * 64: say so when they are not what they claim, not just "unknown". */
  if (container == full_id && !is_hex (full_id, 64))
    return lympho_error_set (err, EINVAL, "event (%.64s): container.full_id `%.80s` is not a 64-hex id", rule,
                             full_id);
  if (container == id && !is_hex (id, 12))
    return lympho_error_set (err, EINVAL, "event (%.64s): container.id `%.80s` is not a 12-hex id", rule, id);

  char what[96];
  snprintf (what, sizeof what, "event (%.64s)", rule);
  struct alert a = { .source = ALERT_SRC_FALCO, .severity = falco_priority (priority) };
  if (check_container (container, &a.container, what, err) < 0)
    return -EINVAL;
  a.reason = xstrdup_capped ((output && output[0]) ? output : rule, REASON_MAX);
  a.rule = xstrdup (rule);
  a.program = xstrdup (exepath ? exepath : pname);
  a.path = xstrdup (fdname);
  list_push (&l, &a);
  *out = l;
  return 0;
}

/* Messages quote what the sender wrote (keys, label values); keep them one
 * line whatever it holds, as the listener answers them verbatim. */
static int
one_line (int ret, lympho_error_t *err)
{
  if (ret < 0 && err)
    for (char *p = err->msg; *p; p++)
      if ((unsigned char) *p < ' ' || *p == 0x7f)
        *p = '?';
  return ret;
}

int
alerts_parse_generic (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  return one_line (parse_generic (body, len, out, err), err);
}

int
alerts_parse_alertmanager (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  return one_line (parse_alertmanager (body, len, out, err), err);
}

int
alerts_parse_falco (const char *body, size_t len, struct alert_list *out, lympho_error_t *err)
{
  return one_line (parse_falco (body, len, out, err), err);
}

char *
alert_signature (const struct alert *a)
{
  struct buf b;
  buf_init (&b);
  buf_appends (&b, alert_source_name (a->source));
  const char *parts[] = { a->rule, a->program, a->path };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (parts[i] && parts[i][0])
      {
        buf_appends (&b, "|");
        buf_appends (&b, parts[i]);
      }
  return buf_steal (&b);
}
