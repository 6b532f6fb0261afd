/* lympho — warnings across nodes, through Alertmanager (fleet.h). Uses
 * the notifier's queue and thread for the POSTs. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lympho/alerts.h"
#include "lympho/fleet.h"
#include "lympho/notifier.h"
#include "lympho/util.h"

struct fleet
{
  char *node;
  size_t n_urls;
  struct notifier *out;   /* NULL: no Alertmanager */
  uint64_t next_id;
  uint64_t sent_incidents, sent_thresholds, received, own_ignored;
  struct recent_slot seen_v[FLEET_SEEN_MAX];
  struct recent seen;       /* warnings' fingerprints, over seen_v */
};

int
fleet_new (char *const *urls, size_t n, const char *node, struct fleet **out, lympho_error_t *err)
{
  struct fleet *f = xmalloc0 (sizeof *f);
  f->seen = (struct recent) { .v = f->seen_v, .cap = FLEET_SEEN_MAX };
  char host[256] = "";
  if (node == NULL && gethostname (host, sizeof host - 1) < 0)
    snprintf (host, sizeof host, "unknown");
  f->node = xstrdup (node ? node : host);
  if (n > 0)
    {
      /* The API's path after each base URL. */
      char **full = xmalloc0 (n * sizeof *full);
      for (size_t i = 0; i < n; i++)
        {
          size_t len = strlen (urls[i]);
          while (len > 0 && urls[i][len - 1] == '/')
            len--;
          full[i] = xasprintf ("%.*s/api/v2/alerts", (int) len, urls[i]);
        }
      int ret = notifier_new (full, n, NULL, &f->out, err);
      for (size_t i = 0; i < n; i++)
        free (full[i]);
      free (full);
      if (ret < 0)
        {
          fleet_free (f);
          *out = NULL;
          return lympho_error_prefix (err, "alertmanager-url");
        }
    }
  f->n_urls = n;
  *out = f;
  return 0;
}

void
fleet_free (struct fleet *f)
{
  if (f == NULL)
    return;
  notifier_free (f->out);
  free (f->node);
  free (f);
}

const char *
fleet_node (const struct fleet *f)
{
  return f->node;
}

static void
rfc3339 (char *buf, size_t len, uint64_t ms)
{
  time_t s = (time_t) (ms / 1000);
  struct tm tm;
  gmtime_r (&s, &tm);
  snprintf (buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (ms % 1000));
}

char *
fleet_body (const char *node, const struct fleet_event *ev, const char *id, uint64_t now_real_ms)
{
  static const char *const words[] = { "info", "warning", "error", "critical" };
  int sev = ev->severity < 0 ? 0 : ev->severity > 3 ? 3 : ev->severity;
  char starts[80], ends[80], lsev[12], level[32];
  rfc3339 (starts, sizeof starts, now_real_ms);
  rfc3339 (ends, sizeof ends, now_real_ms + FLEET_ENDS_MS);
  snprintf (lsev, sizeof lsev, "%d", sev);
  snprintf (level, sizeof level, "%.2f", ev->level);
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_array_open (g);
  json_gen_map_open (g);
  json_gen_str (g, "labels");
  json_gen_map_open (g);
  json_gen_kstr (g, "alertname", ev->alertname);
  json_gen_kstr (g, "lympho_node", node);
  if (ev->group)
    json_gen_kstr (g, "lympho_group", ev->group);
  json_gen_kstr (g, "container", ev->container);
  json_gen_kstr (g, "severity", words[sev]);
  json_gen_kstr (g, "lympho_severity", lsev);
  json_gen_kstr (g, "lympho_incident", id);
  json_gen_map_close (g);
  json_gen_str (g, "annotations");
  json_gen_map_open (g);
  cleanup_free char *summary = xasprintf ("%s: %s", ev->source ? ev->source : "?", ev->reason ? ev->reason : "");
  json_gen_kstr (g, "summary", summary);
  json_gen_kstr (g, "threat_level", level);
  if (ev->action)
    json_gen_kstr (g, "action", ev->action);
  json_gen_map_close (g);
  json_gen_kstr (g, "startsAt", starts);
  json_gen_kstr (g, "endsAt", ends);
  json_gen_map_close (g);
  json_gen_array_close (g);
  return json_gen_text (g);
}

void
fleet_send (struct fleet *f, const struct fleet_event *ev, uint64_t now_real_ms)
{
  if (f == NULL || f->out == NULL)
    return;
  bool incident = strcmp (ev->alertname, FLEET_ALERT_INCIDENT) == 0;
  cleanup_free char *id = xasprintf ("%s-%llx-%llu", f->node, (unsigned long long) now_real_ms,
                                     (unsigned long long) ++f->next_id);
  cleanup_free char *body = fleet_body (f->node, ev, id, now_real_ms);
  /* The id is in the key: no two incidents are one. */
  notifier_post_raw (f->out, id, body);
  if (incident)
    f->sent_incidents++;
  else
    f->sent_thresholds++;
}

bool
fleet_first_seen (struct fleet *f, const char *fingerprint, uint64_t now_mono_ms)
{
  return fingerprint == NULL || recent_first (&f->seen, fingerprint, now_mono_ms, FLEET_SEEN_MS);
}

void
fleet_count_received (struct fleet *f, bool own)
{
  if (own)
    f->own_ignored++;
  else
    f->received++;
}

void
fleet_status_gen (struct fleet *f, json_gen g)
{
  if (f == NULL)
    return;
  json_gen_str (g, "fleet");
  json_gen_map_open (g);
  json_gen_kstr (g, "node", f->node);
  json_gen_kint (g, "alertmanagers", (int64_t) f->n_urls);
  json_gen_kint (g, "incidents_sent", (int64_t) f->sent_incidents);
  json_gen_kint (g, "thresholds_sent", (int64_t) f->sent_thresholds);
  json_gen_kint (g, "warnings_received", (int64_t) f->received);
  json_gen_kint (g, "own_ignored", (int64_t) f->own_ignored);
  if (f->out)
    {
      struct notifier_stats st;
      notifier_stats (f->out, &st);
      json_gen_kint (g, "delivered", (int64_t) st.sent);
      json_gen_kint (g, "failed", (int64_t) st.failed);
      json_gen_kint (g, "dropped", (int64_t) st.dropped);
      json_gen_kint (g, "queued", (int64_t) st.queued);
    }
  json_gen_map_close (g);
}
