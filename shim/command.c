/* lympho — the control commands: lymphd's answers to lymphctl (status, ls,
 * regen, alert, history), one function each, behind one table that names
 * each command, the arguments it takes (name, JSON type, required) and its
 * handler. The dispatcher checks the arguments against the table before a
 * handler runs: a missing or wrongly typed one is a usage error (EINVAL).
 * Reads the entries and the daemon's counters; acts only through
 * admission.c (regen) and incident.c (alert); replies through control.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/control.h"
#include "lympho/fleet.h"
#include "lympho/history.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/parser.h"
#include "lympho/regen.h"
#include "lympho/util.h"

#include "daemon-int.h"

static const char *const entry_state_names[] = { "unknown", "running", "stopped", "regenerating", "broken" };

static const char *
entry_state_name (const struct entry *e)
{
  return entry_state_names[e->state];
}

/* A retry of a failed regeneration is armed (and not yet started). */
static bool
retry_pending (const struct entry *e)
{
  return e->failures > 0 && e->timer != 0 && e->regen == NULL;
}

/* Nothing lymphd will do to e on its own but its next TTL: the engine is
 * connected and synced, no regeneration, recovery, adoption or incident in
 * flight, none queued or due, no retry or recovery armed. What a caller
 * waits for before it acts again. */
static bool
entry_idle (const struct daemon *d, const struct entry *e, uint64_t now)
{
  if (!d->connected || d->syncing || e->engine_took)
    return false; /* what the engine did meanwhile is not known yet */
  if (e->due_mono != 0 && e->due_mono <= now)
    return false; /* due, its timer about to fire */
  return e->regen == NULL && !e->queued && !e->busy && e->incident == NULL && !retry_pending (e)
         && e->state != ES_BROKEN && e->state != ES_REGENERATING && e->state != ES_UNKNOWN;
}

static int64_t
ms_until (uint64_t due_mono, uint64_t now)
{
  return (int64_t) (due_mono > now ? due_mono - now : 0);
}

/* What is in flight or pending for e, each null when there is none. */
static void
gen_pending (json_gen g, const struct daemon *d, const struct entry *e, uint64_t now)
{
  json_gen_str (g, "regen");
  if (e->regen)
    {
      json_gen_map_open (g);
      json_gen_kstr (g, "txn", regen_txn (e->regen));
      json_gen_kstr (g, "reason", regen_reason (e->regen));
      json_gen_kstr (g, "step", regen_phase_name (e->regen));
      json_gen_map_close (g);
    }
  else
    json_gen_null (g);
  json_gen_kstr (g, "queued", e->queued ? (e->queued_reason ? e->queued_reason : "ttl") : NULL);
  json_gen_str (g, "retry");
  if (retry_pending (e))
    {
      json_gen_map_open (g);
      json_gen_kint (g, "in_ms", ms_until (e->due_mono, now));
      json_gen_kint (g, "attempt", e->failures + 1);
      json_gen_kstr (g, "error", e->last_error);
      json_gen_map_close (g);
    }
  else
    json_gen_null (g);
  json_gen_str (g, "recovery");
  if (e->state == ES_BROKEN)
    {
      json_gen_map_open (g);
      /* Unarmed: it waits for the engine to come back. */
      json_gen_str (g, "in_ms");
      if (e->recover_timer)
        json_gen_int (g, ms_until (e->recover_due_mono, now));
      else
        json_gen_null (g);
      json_gen_kint (g, "attempt", e->recover_tries + 1);
      json_gen_kstr (g, "error", e->last_error);
      json_gen_map_close (g);
    }
  else
    json_gen_null (g);
  json_gen_kstr (g, "last_error", e->last_error);
  json_gen_str (g, "idle");
  json_gen_bool (g, entry_idle (d, e, now));
}

static void
gen_entry (struct daemon *d, json_gen g, struct entry *e)
{
  uint64_t now = now_mono_ms ();
  json_gen_map_open (g);
  json_gen_kstr (g, "name", e->name);
  json_gen_kstr (g, "id", e->id);
  json_gen_kstr (g, "image_id", e->golden.image_id);
  json_gen_kint (g, "generation", e->generation);
  json_gen_kint (g, "ttl_s", (int64_t) (e->policy.ttl_ms / 1000));
  json_gen_str (g, "next_regen_in_s");
  if (e->due_mono)
    json_gen_int (g, (int64_t) ((e->due_mono > now ? e->due_mono - now : 0) / 1000));
  else if (e->queued)
    json_gen_int (g, 0);
  else
    json_gen_null (g);
  json_gen_str (g, "threat_level");
  json_gen_fixed (g, threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms), 2);
  json_gen_kstr (g, "state", entry_state_name (e));
  json_gen_kstr (g, "group", e->policy.group);
  json_gen_kstr (g, "strategy", strategy_name (e->policy.strategy));
  json_gen_kstr (g, "mode", entry_observed (d, e) ? "observe" : "enforce");
  json_gen_str (g, "after");
  json_gen_array_open (g);
  for (size_t i = 0; i < e->policy.n_after; i++)
    json_gen_str (g, e->policy.after[i]);
  json_gen_array_close (g);
  json_gen_kstr (g, "replaced_by", e->replaced_by);
  /* A swarm task's slot: its service, slot and the task running in it. */
  json_gen_kstr (g, "service", e->swarm ? e->swarm->service : NULL);
  json_gen_kstr (g, "slot", e->swarm ? e->swarm->slot : NULL);
  json_gen_kstr (g, "task", e->swarm ? e->swarm->task_id : NULL);
  json_gen_kstr (g, "effective_strategy", strategy_name (admission_resolve_strategy (e)));
  json_gen_kstr (g, "swap_blocker", e->golden.swap_blocker);
  json_gen_kint (g, "jitter_pct", e->policy.jitter_pct);
  json_gen_kint (g, "failures", e->failures);
  json_gen_kint (g, "threshold", e->policy.threshold);
  json_gen_kstr (g, "pinned_image", e->golden.pin_ref);
  gen_pending (g, d, e, now);
  detect_gen (d, e, g);
  json_gen_map_close (g);
}

/* For qsort: the list is newest first, the reverse of most names' order,
 * and an insertion sort of 500 entries was 125,000 comparisons an ls. */
static int
by_name (const void *a, const void *b)
{
  return strcmp ((*(struct entry *const *) a)->name, (*(struct entry *const *) b)->name);
}

static void
cmd_ls (struct daemon *d, struct control_request *req, json_val args)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_array_open (g);
  /* Sorted by name for stable output. */
  size_t n = 0;
  ENTRY_FOREACH (e, d)
    n++;
  struct entry **v = xmalloc0 ((n ? n : 1) * sizeof *v);
  size_t i = 0;
  ENTRY_FOREACH (e, d)
    v[i++] = e;
  qsort (v, n, sizeof *v, by_name);
  for (i = 0; i < n; i++)
    if (v[i]->golden.name)
      gen_entry (d, g, v[i]);
  free (v);
  json_gen_array_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static void
cmd_status (struct daemon *d, struct control_request *req, json_val args)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "version", PACKAGE_VERSION);
  json_gen_kint (g, "uptime_s", (int64_t) ((now_mono_ms () - d->started_mono) / 1000));
  json_gen_kstr (g, "runtime", d->ops->name);
  {
    struct rt_engine_info info;
    daemon_engine_info (d, &info);
    json_gen_kstr (g, "engine", d->connected ? "connected" : info.refused ? "refused" : "disconnected");
    if (info.product || info.version)
      {
        cleanup_free char *v = xasprintf ("%s%s%s", info.product ? info.product : "",
                                          info.product && info.version ? " " : "", info.version ? info.version : "");
        json_gen_kstr (g, "engine_version", v);
      }
    if (info.api_version)
      json_gen_kstr (g, "api_version", info.api_version);
    if (info.api_max)
      {
        cleanup_free char *range = xasprintf ("%s to %s", info.api_min ? info.api_min : "?", info.api_max);
        json_gen_kstr (g, "engine_api", range);
      }
    if (!d->connected && info.problem)
      json_gen_kstr (g, "engine_problem", info.problem);
  }
  json_gen_kint (g, "protected", entry_count (d, 0, true));
  json_gen_kint (g, "regenerating", d->in_flight);
  json_gen_kint (g, "event_followers", (int64_t) control_streams (d->control));
  daemon_notify_status (d, g);
  services_status_gen (d, g);
  if (d->cfg->n_alertmanager_url)
    fleet_status_gen (d->fleet, g);
  if (d->parser)
    {
      /* The process that parses the listener's bodies (parser.h). */
      json_gen_str (g, "parser");
      json_gen_map_open (g);
      json_gen_kint (g, "pid", parser_pid (d->parser));
      json_gen_kint (g, "restarts", parser_restarts (d->parser));
      json_gen_kstr (g, "confinement", parser_confinement (d->parser));
      json_gen_map_close (g);
    }
  {
    int64_t queued = 0, retrying = 0;
    ENTRY_FOREACH (e, d)
      {
        queued += e->queued;
        retrying += retry_pending (e);
      }
    json_gen_kint (g, "queued", queued);
    json_gen_kint (g, "retry_pending", retrying);
    json_gen_kint (g, "recovery_pending", entry_count (d, ES_BROKEN, false));
  }
  json_gen_kint (g, "regenerations", (int64_t) d->regenerations);
  json_gen_kint (g, "failures", (int64_t) d->failures);
  admission_status_gen (d, g);
  json_gen_kstr (g, "state_dir", d->cfg->state_dir);
  detect_status_gen (d, g);
  json_gen_map_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static const char *
arg_str (json_val args, const char *key)
{
  return json_str (json_get (args, key));
}

static void
cmd_regen (struct daemon *d, struct control_request *req, json_val args)
{
  const char *name = arg_str (args, "name");
  struct entry *e = entry_lookup (d, name);
  if (e == NULL || e->golden.name == NULL)
    {
      cleanup_free char *msg = xasprintf ("no protected container named `%s`", name);
      control_reply_error (req, ENOENT, msg);
      return;
    }
  const char *reason = arg_str (args, "reason");
  cleanup_free char *why = xasprintf ("manual%s%s", reason ? ": " : "", reason ? reason : "");
  log_info ("%s: regeneration requested by uid %u (%s)", e->name, (unsigned) control_request_uid (req), why);
  admission_request_regen (d, e, why, false, req);
}

#define ALERT_USAGE "alert: `name` and an integer `severity` 0..10 are required"

static void
cmd_alert (struct daemon *d, struct control_request *req, json_val args)
{
  const char *name = arg_str (args, "name");
  int64_t sev = -1;
  json_as_int64 (json_get (args, "severity"), &sev); /* an integer, says the table; its range is ours */
  if (sev < 0 || sev > 10)
    {
      control_reply_error (req, EINVAL, ALERT_USAGE);
      return;
    }
  struct alert a = { .source = ALERT_SRC_CLI, .container = (char *) name, .severity = (int) sev,
                     .reason = (char *) arg_str (args, "reason") };
  cleanup_free char *action = NULL;
  lympho_error_t err = { 0 };
  uint64_t received = now_real_ms ();
  if (incident_alert (d, &a, now_mono_ms (), &action, &err) < 0)
    {
      control_reply_error (req, err.status, err.msg);
      return;
    }
  struct entry *e = entry_lookup (d, name);
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "name", e ? e->name : name);
  json_gen_str (g, "threat_level");
  json_gen_fixed (g, e ? threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms) : 0.0, 2);
  json_gen_kstr (g, "action", action);
  /* When lymphd took it (realtime ms): what came after it is its doing. */
  json_gen_kint (g, "received_ms", (int64_t) received);
  json_gen_map_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static void
cmd_history (struct daemon *d, struct control_request *req, json_val args)
{
  const char *name = arg_str (args, "name");
  int64_t limit = 0;
  json_as_int64 (json_get (args, "limit"), &limit);
  cleanup_free char *json = history_read (d->cfg->state_dir, name, limit > 0 ? (size_t) limit : 0);
  control_reply_ok (req, json);
}

/* The last entries of the history (20 unless `limit` says), then, with
 * `follow`, the connection carries each new entry and each step of a
 * regeneration as it happens (control_reply_stream). */
static void
cmd_events (struct daemon *d, struct control_request *req, json_val args)
{
  const char *name = arg_str (args, "name");
  int64_t limit = 20;
  json_as_int64 (json_get (args, "limit"), &limit);
  /* 0: none of the past, only what follows. */
  cleanup_free char *json = limit > 0 ? history_read (d->cfg->state_dir, name, (size_t) limit) : xstrdup ("[]");
  if (json_is_true (json_get (args, "follow")))
    control_reply_stream (req, json, name);
  else
    control_reply_ok (req, json);
}

/* --- the table --------------------------------------------------------- */

/* A container name (Docker's at most 255 bytes), a reason as history keeps
 * it (1024 bytes), a page of history. */
#define ARG_NAME(req) { "name", COMMAND_ARG_STRING, req, 0, 0, 255 }
#define ARG_REASON { "reason", COMMAND_ARG_STRING, false, 0, 0, 1024 }
#define ARG_END { NULL, 0, false, 0, 0, 0 }

static const struct command_arg no_args[] = { ARG_END };

static const struct command_arg regen_args[] = { ARG_NAME (true), ARG_REASON, ARG_END };

static const struct command_arg alert_args[] = {
  ARG_NAME (true),
  { "severity", COMMAND_ARG_INTEGER, true, 0, 10, 0 },
  ARG_REASON,
  ARG_END,
};

static const struct command_arg history_args[] = {
  ARG_NAME (false),
  { "limit", COMMAND_ARG_INTEGER, false, 1, 100000, 0 },
  ARG_END,
};

static const struct command_arg events_args[] = {
  ARG_NAME (false),
  { "limit", COMMAND_ARG_INTEGER, false, 0, 100000, 0 },
  { "follow", COMMAND_ARG_BOOLEAN, false, 0, 0, 0 },
  ARG_END,
};

/* Every argument is declared: a key a command does not know is a usage
 * error, as a wrong type or a value out of range is. */
static const struct command commands[] = {
  { "status", no_args, cmd_status, NULL },
  { "ls", no_args, cmd_ls, NULL },
  { "regen", regen_args, cmd_regen, NULL },
  { "alert", alert_args, cmd_alert, ALERT_USAGE },
  { "history", history_args, cmd_history, NULL },
  { "events", events_args, cmd_events, NULL },
};

const struct command *
command_find (const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static const char *
type_wanted (enum command_arg_type type)
{
  return type == COMMAND_ARG_INTEGER ? "an integer" : type == COMMAND_ARG_BOOLEAN ? "a boolean" : "a string";
}

static const char *
type_given (json_val v)
{
  if (json_is_string (v))
    return "a string";
  if (json_is_integer (v))
    return "an integer";
  if (json_is_number (v))
    return "a number with a fraction or an exponent";
  if (json_is_true (v) || json_is_false (v))
    return "a boolean";
  if (json_is_object (v))
    return "an object";
  if (json_is_array (v))
    return "an array";
  return "null";
}

static bool
type_ok (enum command_arg_type type, json_val v)
{
  switch (type)
    {
    case COMMAND_ARG_INTEGER:
      return json_is_integer (v);
    case COMMAND_ARG_BOOLEAN:
      return json_is_true (v) || json_is_false (v);
    case COMMAND_ARG_STRING:
    default:
      return json_is_string (v);
    }
}

int
command_check (const struct command *c, json_val args, lympho_error_t *err)
{
  for (size_t i = 0; i < json_obj_len (args); i++)
    {
      const char *key = json_obj_key (args, i);
      const struct command_arg *a = c->args;
      while (a->name && strcmp (a->name, key) != 0)
        a++;
      if (a->name == NULL)
        return lympho_error_set (err, EINVAL, "%s: `%.64s` is not an argument of %s", c->name, key, c->name);
    }
  for (const struct command_arg *a = c->args; a->name; a++)
    {
      json_val v = json_get (args, a->name);
      if (v == NULL && a->required)
        {
          if (c->missing)
            return lympho_error_set (err, EINVAL, "%s", c->missing);
          return lympho_error_set (err, EINVAL, "%s: `%s` is required", c->name, a->name);
        }
      if (v != NULL && !type_ok (a->type, v))
        return lympho_error_set (err, EINVAL, "%s: `%s` must be %s, not %s", c->name, a->name, type_wanted (a->type),
                                 type_given (v));
      int64_t n;
      if (v != NULL && a->type == COMMAND_ARG_INTEGER && json_as_int64 (v, &n) && (n < a->min || n > a->max))
        {
          if (c->missing)
            return lympho_error_set (err, EINVAL, "%s", c->missing);
          return lympho_error_set (err, EINVAL, "%s: `%s` must be from %lld to %lld", c->name, a->name,
                                   (long long) a->min, (long long) a->max);
        }
      if (v != NULL && a->type == COMMAND_ARG_STRING && strlen (json_str (v)) > a->max_len)
        return lympho_error_set (err, EINVAL, "%s: `%s` is longer than %zu bytes", c->name, a->name, a->max_len);
    }
  return 0;
}

void
command_dispatch (void *ud, struct control_request *req, const char *cmd, json_val args)
{
  struct daemon *d = ud;
  const struct command *c = command_find (cmd);
  if (c == NULL)
    {
      cleanup_free char *msg = xasprintf ("unknown command `%s`", cmd);
      control_reply_error (req, EINVAL, msg);
      return;
    }
  lympho_error_t err = { 0 };
  if (command_check (c, args, &err) < 0)
    {
      control_reply_error (req, err.status, err.msg);
      return;
    }
  c->handler (d, req, args);
}
