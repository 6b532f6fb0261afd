/* lympho — warnings across nodes, through Alertmanager: each incident and
 * each threshold crossing of this node goes to the Alertmanagers
 * configured (alertmanager-url, POST /api/v2/alerts), which route, group,
 * deduplicate and silence them for the fleet; their webhook brings other
 * nodes' incidents back (POST /v1/alerts/alertmanager), where they warn
 * the members of the incident's group (incident.c).
 *
 * An alert carries the labels alertname (FLEET_ALERT_INCIDENT or
 * FLEET_ALERT_THRESHOLD, alerts.h), lympho_node, lympho_group (when the
 * container has a group), container, severity (Alertmanager's words:
 * critical, error, warning, info), lympho_severity (0..3) and
 * lympho_incident (one id an incident: Alertmanager keeps two incidents
 * apart), and ends FLEET_ENDS_MS after it starts: an incident is an event,
 * not a state. Only incidents warn other nodes; a threshold crossing is
 * for people. Sent from the notifier's thread (notifier.h): never blocks
 * the daemon. */
#ifndef LYMPHO_FLEET_H
#define LYMPHO_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/json.h"

#define FLEET_ENDS_MS (5 * 60 * 1000)
/* Fleet warnings remembered by fingerprint, so that a notification
 * repeated by Alertmanager warns once. */
#define FLEET_SEEN_MAX 512
#define FLEET_SEEN_MS (60 * 60 * 1000)

struct fleet;

struct fleet_event
{
  const char *alertname;  /* FLEET_ALERT_INCIDENT or FLEET_ALERT_THRESHOLD */
  const char *container;
  const char *group;      /* NULL: none */
  int severity;           /* 0..10, sent as 0..3 */
  double level;           /* its threat level after */
  const char *source;     /* alert_source_name */
  const char *reason;
  const char *action;     /* what was done: regenerate, shortened-ttl, ... */
};

/* urls: Alertmanagers' base URLs (n may be 0: nothing is sent, warnings
 * are still recognised); node: this node's name, NULL for the host's. */
int fleet_new (char *const *urls, size_t n, const char *node, struct fleet **out, lympho_error_t *err)
  LYMPHO_MUST_CHECK;
void fleet_free (struct fleet *f);
const char *fleet_node (const struct fleet *f);
/* Queue one alert for every Alertmanager; never blocks. */
void fleet_send (struct fleet *f, const struct fleet_event *ev, uint64_t now_real_ms);
/* The body of POST /api/v2/alerts for ev from node: a JSON array of one
 * alert (malloc'd). Pure; id makes the incident's lympho_incident. */
char *fleet_body (const char *node, const struct fleet_event *ev, const char *id, uint64_t now_real_ms);
/* A fleet warning with this fingerprint (NULL: none) arrived: true the
 * first time in FLEET_SEEN_MS. */
bool fleet_first_seen (struct fleet *f, const char *fingerprint, uint64_t now_mono_ms);
/* Counted as they are handled (incident.c). */
void fleet_count_received (struct fleet *f, bool own);
/* status' "fleet": the node, the Alertmanagers and what was sent and heard. */
void fleet_status_gen (struct fleet *f, json_gen g);

#endif
