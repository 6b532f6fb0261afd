/* lympho — the protection policy a container asks for through its labels
 * (INTERFACE.md, "Container labels"), and durations. Parsing is strict: a
 * label with a bad value makes the whole policy invalid and the message names
 * the label and what was wrong. */
#ifndef LYMPHO_LABELS_H
#define LYMPHO_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/runtime.h"

#define LABEL_ENABLE "lympho.enable"
#define LABEL_TTL "lympho.ttl"
#define LABEL_JITTER "lympho.jitter"
#define LABEL_GROUP "lympho.group"
#define LABEL_STRATEGY "lympho.strategy"
#define LABEL_THRESHOLD "lympho.threshold"
#define LABEL_EXEC_ALLOW "lympho.exec.allow"
#define LABEL_EXEC_MODE "lympho.exec.mode"
#define LABEL_DRIFT_ALLOW "lympho.drift.allow"
#define LABEL_DRIFT_INTERVAL "lympho.drift.interval"
#define LABEL_DRIFT_LEARN "lympho.drift.learn"
#define LABEL_QUARANTINE "lympho.quarantine"
#define LABEL_MODE "lympho.mode"
#define LABEL_AFTER "lympho.after"
/* Compose's own labels: the default of lympho.after in a compose project. */
#define LABEL_COMPOSE_PROJECT "com.docker.compose.project"
#define LABEL_COMPOSE_SERVICE "com.docker.compose.service"
#define LABEL_COMPOSE_DEPENDS_ON "com.docker.compose.depends_on"
#define AFTER_MAX 16
/* Set by lympho on every container it creates. */
#define LABEL_GENERATION "lympho.generation"
/* Internal: the protected name a generation belongs to, and the regeneration
 * (journal transaction) that created it, so recovery can find it. */
#define LABEL_NAME "lympho.name"
#define LABEL_TXN "lympho.txn"

/* SWARM: a swarm task, removed for the swarm to replace (swarm.h); never
 * asked for by a label, the task being one decides it. */
enum strategy { STRATEGY_AUTO = 0, STRATEGY_REPLACE, STRATEGY_SWAP, STRATEGY_SWARM };
const char *strategy_name (enum strategy s);

/* lympho.exec.mode: what a program outside the allow list meets. AUTO (no
 * label): deny once a list is given or learned, detect while learning. */
enum exec_mode { EXEC_MODE_AUTO = 0, EXEC_MODE_DENY, EXEC_MODE_DETECT, EXEC_MODE_OFF };
const char *exec_mode_name (enum exec_mode m);

/* lympho.mode: ENFORCE acts; OBSERVE detects, judges, schedules and
 * records everything and changes nothing. DEFAULT (no label): the
 * daemon's `mode`. */
enum lympho_mode { LYMPHO_MODE_DEFAULT = 0, LYMPHO_MODE_ENFORCE, LYMPHO_MODE_OBSERVE };
const char *lympho_mode_name (enum lympho_mode m);

enum quarantine_flags
{
  QUARANTINE_NETWORK = 1u << 0,
  QUARANTINE_PAUSE = 1u << 1,
  QUARANTINE_FORENSICS = 1u << 2,
};
/* "network,forensics" (flags in a fixed order) or "none"; caller frees. */
char *quarantine_format (unsigned flags);

struct policy
{
  bool enabled;               /* lympho.enable=true */
  uint64_t ttl_ms;            /* default 1h */
  unsigned jitter_pct;        /* default 10, 0..50 */
  char *group;                /* NULL: none */
  enum strategy strategy;     /* default auto */
  unsigned threshold;         /* default 3, >= 1 */
  bool exec_allow_set;        /* false: learned */
  char **exec_allow;          /* absolute paths */
  size_t n_exec_allow;
  enum exec_mode exec_mode;   /* lympho.exec.mode; default auto */
  char **drift_allow;         /* absolute paths */
  size_t n_drift_allow;
  uint64_t drift_interval_ms; /* default 30s */
  bool drift_learn_set;       /* false: the start-up window follows the health check or the interval */
  uint64_t drift_learn_ms;    /* lympho.drift.learn; 0: no start-up set, every change is drift */
  unsigned quarantine;        /* QUARANTINE_* bits; default network|forensics */
  enum lympho_mode mode;      /* lympho.mode; default: the daemon's */
  char **after;               /* lympho.after: regenerated after these (protected names) */
  size_t n_after;
  bool after_compose;         /* no lympho.after: `after` holds compose's depends_on services */
};

/* Bounds, documented in lymphd(8). */
#define TTL_MIN_MS (5ull * 1000)
#define TTL_MAX_MS (30ull * 24 * 3600 * 1000)
#define DRIFT_LEARN_MAX_MS (3600ull * 1000)

void policy_defaults (struct policy *p);
/* Fill *out from labels. Containers without lympho.enable=true get
 * enabled=false and return 0. Any invalid lympho.* label: -EINVAL with a
 * message such as "label lympho.ttl=\"5x\": unknown unit \"x\"", and *out
 * holds the defaults (nothing to free) with `enabled` telling whether the
 * container asked for protection, so the caller can record why it is left
 * alone. Unknown lympho.* labels are errors; lympho.generation, lympho.name
 * and lympho.txn are ours and ignored. */
int policy_from_labels (const struct rt_labels *labels, struct policy *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void policy_free (struct policy *p);
/* Compose's depends_on label ("db:service_started:false,cache:...", or
 * without the conditions in older compose): the service names, at most
 * AFTER_MAX. Returns -EINVAL on an empty or malformed item. */
int compose_depends_on_parse (const char *v, char ***out, size_t *n_out, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* "90s", "10m", "2h", "1h30m", "250ms", "1d". A bare number is refused (a
 * unit is required). Overflow, empty, negative: -EINVAL. */
int duration_parse (const char *s, uint64_t *out_ms, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Human form, largest units first: "1h30m", "90s" -> "1m30s", "250ms". */
char *duration_format (uint64_t ms);

#endif
