/* lympho — Prometheus text exposition (see metrics.h).
 * May call: util: a leaf. */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "lympho/metrics.h"

const double metrics_bounds[METRICS_NBUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 1e300 };

static const char *
help_of (const char *name)
{
  if (strcmp (name, "lympho_regenerations_total") == 0)
    return "Regenerations by container, reason and result.";
  if (strcmp (name, "lympho_alerts_total") == 0)
    return "Alerts by source and result.";
  if (strcmp (name, "lympho_incidents_total") == 0)
    return "Incidents by container, source and action.";
  if (strcmp (name, "lympho_observed_total") == 0)
    return "What an observed container would have had done, by container and action.";
  return "lympho counter.";
}

void
metrics_escape (struct buf *out, const char *s)
{
  for (; s && *s; s++)
    {
      if (*s == '\\')
        buf_appends (out, "\\\\");
      else if (*s == '"')
        buf_appends (out, "\\\"");
      else if (*s == '\n')
        buf_appends (out, "\\n");
      else
        buf_append (out, s, 1);
    }
}

void
metrics_inc (struct metrics *m, const char *name, ...)
{
  struct buf l;
  buf_init (&l);
  va_list ap;
  va_start (ap, name);
  const char *k;
  while ((k = va_arg (ap, const char *)) != NULL)
    {
      const char *v = va_arg (ap, const char *);
      if (l.len)
        buf_appends (&l, ",");
      buf_printf (&l, "%s=\"", k);
      metrics_escape (&l, v ? v : "");
      buf_appends (&l, "\"");
    }
  va_end (ap);
  const char *labels = l.data ? l.data : "";
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->c[i].name, name) == 0 && strcmp (m->c[i].labels, labels) == 0)
      {
        m->c[i].value++;
        buf_free (&l);
        return;
      }
  m->c = xrealloc (m->c, (m->n + 1) * sizeof *m->c);
  m->c[m->n].name = xstrdup (name);
  m->c[m->n].labels = xstrdup (labels);
  m->c[m->n].value = 1;
  m->n++;
  buf_free (&l);
}

void
metrics_observe (struct metrics_histogram *h, double seconds)
{
  for (size_t i = 0; i < METRICS_NBUCKETS; i++)
    if (seconds <= metrics_bounds[i])
      {
        h->buckets[i]++;
        break;
      }
  h->count++;
  h->sum += seconds;
}

void
metrics_render_histogram (const struct metrics_histogram *h, const char *name, const char *help, struct buf *out)
{
  buf_printf (out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < METRICS_NBUCKETS; i++)
    {
      cum += h->buckets[i];
      if (i + 1 == METRICS_NBUCKETS)
        buf_printf (out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long) cum);
      else
        buf_printf (out, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bounds[i], (unsigned long long) cum);
    }
  buf_printf (out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long) h->count);
}

void
metrics_render (const struct metrics *m, struct buf *out)
{
  /* Group samples by metric name, HELP/TYPE once per name. */
  for (size_t i = 0; i < m->n; i++)
    {
      bool first = true;
      for (size_t j = 0; j < i; j++)
        if (strcmp (m->c[j].name, m->c[i].name) == 0)
          first = false;
      if (!first)
        continue;
      buf_printf (out, "# HELP %s %s\n# TYPE %s counter\n", m->c[i].name, help_of (m->c[i].name), m->c[i].name);
      for (size_t j = i; j < m->n; j++)
        if (strcmp (m->c[j].name, m->c[i].name) == 0)
          buf_printf (out, "%s{%s} %llu\n", m->c[j].name, m->c[j].labels, (unsigned long long) m->c[j].value);
    }
  metrics_render_histogram (&m->regen_seconds, "lympho_regeneration_seconds",
                            "Time from the start of a regeneration to its end.", out);
  metrics_render_histogram (&m->alert_to_cut_seconds, "lympho_alert_to_cut_seconds",
                            "Time from an alert's receipt to the network cut of its container.", out);
  metrics_render_histogram (&m->alert_to_replaced_seconds, "lympho_alert_to_replaced_seconds",
                            "Time from an alert's receipt to the new generation running.", out);
  metrics_render_histogram (&m->ttl_late_seconds, "lympho_ttl_late_seconds",
                            "Time from a TTL (or retry) coming due to its regeneration starting.", out);
}

void
metrics_free (struct metrics *m)
{
  for (size_t i = 0; i < m->n; i++)
    {
      free (m->c[i].name);
      free (m->c[i].labels);
    }
  free (m->c);
  memset (m, 0, sizeof *m);
}
