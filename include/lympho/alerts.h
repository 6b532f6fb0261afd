/* lympho — alerts from outside detectors, parsed strictly from their own
 * payload formats into one shape. Pure functions: no I/O, no state. */
#ifndef LYMPHO_ALERTS_H
#define LYMPHO_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"

enum alert_source
{
  ALERT_SRC_GENERIC = 0,
  ALERT_SRC_ALERTMANAGER,
  ALERT_SRC_FALCO,
  ALERT_SRC_CLI,
  /* lymphd's own detectors */
  ALERT_SRC_EXEC,
  ALERT_SRC_DRIFT,
  ALERT_SRC_HEALTH,
  ALERT_SRC_EXIT,
};
const char *alert_source_name (enum alert_source s);

struct alert
{
  enum alert_source source;
  char *container;   /* name or id (full or 12-char prefix) as the detector gave it */
  int severity;      /* 0..3 (generic / cli: 0..10 accepted) */
  char *reason;      /* human text */
  char *rule;        /* alertname / Falco rule, when present */
  char *program;     /* process path / name, when present */
  char *path;        /* file path, when present */
  char *fingerprint; /* Alertmanager fingerprint, when present */
  /* A fleet warning: an incident another lymphd sent through Alertmanager
   * (labels lympho_node, lympho_group, alertname LymphoIncident). It names
   * no container here (container NULL): its group's members are warned. */
  char *node;        /* the node it came from; NULL: not a fleet warning */
  char *group;       /* its lympho.group */
};

/* What lymphd sends to Alertmanager, and reads back from its webhook. */
#define FLEET_ALERT_INCIDENT "LymphoIncident"
#define FLEET_ALERT_THRESHOLD "LymphoThreshold"

struct alert_list
{
  size_t n;
  struct alert *v;
  /* Well-formed alerts that concern no container lympho could act on:
   * resolved ones, Alertmanager alerts without a container label, Falco
   * events on the host. Counted so the listener can report them. */
  size_t ignored;
};
void alert_list_free (struct alert_list *l);

/* Each parser rejects the whole body (EINVAL, one-line reason) if it is not
 * what it should be; a payload may yield zero alerts (e.g. all resolved). */
int alerts_parse_generic (const char *body, size_t len, struct alert_list *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
int alerts_parse_alertmanager (const char *body, size_t len, struct alert_list *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
int alerts_parse_falco (const char *body, size_t len, struct alert_list *out, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* "source|rule|program|path" with empty fields dropped: what immune memory
 * remembers. */
char *alert_signature (const struct alert *a);

#endif
