/* lympho — lymphd's own detectors, each feeding the incident path:
 *  - programs: kernel exec events (netlink connector) mapped to their
 *    container and checked against its allow list (label, or learned per
 *    image during a window after a fresh generation starts);
 *  - drift: the engine's change list of the writable layer, every
 *    lympho.drift.interval, staggered across containers;
 *  - health and exits: `unhealthy`, or a death nobody asked the engine for.
 * Processes started through the engine (docker exec, healthchecks) are not
 * judged: whoever drives the engine already holds the host; the detector
 * watches what the workload itself runs.
 *
 * This file: health and deaths, and the life cycle the daemon calls
 * (daemon-int.h); detect-programs.c the exec detector, detect-drift.c the
 * drift detector and its start-up window (detect-int.h).
 * May call: detect-programs.c and detect-drift.c, sched; the daemon only
 * through struct daemon_actions. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon-int.h"
#include "lympho/allow.h"
#include "lympho/drift.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/procwatch.h"
#include "lympho/sched.h"
#include "lympho/util.h"
#include "detect-int.h"

/* A death within this long of an engine stop/kill request was asked for. */
#define STOP_ASKED_WINDOW_MS (15 * 60 * 1000)
/* A generation that dies younger than this counts towards crash backoff. */
#define YOUNG_MS (60 * 1000)
/* --- life cycle ------------------------------------------------------ */

void
detect_generation_started (struct daemon *d, struct entry *e, bool fresh)
{
  e->det.oom_seen = false;
  e->det.stop_asked_mono = 0;
  detect_programs_started (d, e, fresh);
  detect_drift_started (d, e, fresh);
}

void
detect_entry_free (struct daemon *d, struct entry *e)
{
  detect_programs_entry_free (d, e);
  detect_drift_entry_free (d, e);
}

void
detect_running (struct daemon *d, struct entry *e)
{
  detect_programs_running (d, e);
}

void
detect_mode_changed (struct daemon *d)
{
  DAEMON_EACH (e, d)
    if (e->golden.name && e->policy.mode == LYMPHO_MODE_DEFAULT)
      detect_programs_reapply (d, e);
}

void
detect_status_gen (struct daemon *d, json_gen g)
{
  detect_programs_status (d, g);
}

static void
regen_after_death (struct daemon *d, struct entry *e, enum alert_source src, const char *reason)
{
  uint64_t now = now_real_ms ();
  bool young = e->started_real_ms && now - e->started_real_ms < YOUNG_MS;
  e->det.crashes = young ? e->det.crashes + 1 : 0;
  struct history_entry h = {
    .name = e->name, .kind = "incident", .result = entry_observed (d, e) ? "observed" : "ok",
    .generation = e->generation, .old_id = e->id, .reason = reason, .duration_ms = -1,
    .source = alert_source_name (src), .severity = -1, .threat_level = -1,
    .action = "regenerate", .cut_ms = -1, .replaced_ms = -1,
  };
  d->act->record (d, &h);
  if (e->det.crashes > 1)
    {
      /* New generations keep failing: back off, never a crash loop. */
      uint64_t delay = sched_backoff (e->det.crashes - 1, d->cfg->backoff_min_ms, d->cfg->backoff_max_ms, random_unit ());
      log_warn ("%s gen=%u: %s; %u young generations failed in a row, regenerating in %llu ms", e->name,
                e->generation, reason, e->det.crashes, (unsigned long long) delay);
      d->act->regenerate_in (d, e, delay);
      return;
    }
  log_warn ("%s gen=%u: %s; regenerating", e->name, e->generation, reason);
  d->act->regenerate (d, e, reason, false);
}

bool
detect_event (struct daemon *d, struct entry *e, const struct rt_event *ev)
{
  const char *a = ev->action;
  if (strcmp (a, "kill") == 0 || strcmp (a, "stop") == 0)
    {
      e->det.stop_asked_mono = now_mono_ms ();
      return strcmp (a, "kill") == 0;
    }
  if (strcmp (a, "oom") == 0)
    {
      e->det.oom_seen = true;
      return true;
    }
  if (strcmp (a, "health_status: unhealthy") == 0)
    {
      if (e->state == ES_RUNNING && !e->incident)
        regen_after_death (d, e, ALERT_SRC_HEALTH, "unhealthy");
      return true;
    }
  if (strcmp (a, "die") == 0 && e->state == ES_RUNNING)
    {
      bool asked = e->det.stop_asked_mono && now_mono_ms () - e->det.stop_asked_mono < STOP_ASKED_WINDOW_MS;
      if (asked && !e->det.oom_seen)
        return false; /* stopped on purpose: the caller leaves it stopped */
      cleanup_free char *reason = e->det.oom_seen ? xstrdup ("OOM-killed")
                                              : xasprintf ("died unexpectedly (exit code %d)", ev->exit_code);
      regen_after_death (d, e, ALERT_SRC_EXIT, reason);
      return true;
    }
  return false;
}

void
detect_gen (struct daemon *d, struct entry *e, json_gen g)
{
  detect_programs_gen (d, e, g);
  detect_drift_gen (d, e, g);
}

void
detect_open (struct daemon *d)
{
  detect_programs_open (d);
}

void
detect_close (struct daemon *d)
{
  detect_programs_close (d);
  detect_drift_close (d);
}
