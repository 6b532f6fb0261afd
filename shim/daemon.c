/* lympho — the daemon core (see daemon.h). One loop; every engine call is
 * asynchronous; each protected name is an `entry`. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "lympho/control.h"
#include "lympho/daemon.h"
#include "lympho/history.h"
#include "lympho/httpd.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/notify.h"
#include "lympho/privs.h"
#include "lympho/regen.h"
#include "lympho/runtime.h"
#include "lympho/sched.h"
#include "lympho/store.h"
#include "lympho/util.h"

#include "daemon-int.h"

static const char *const entry_state_names[] = { "unknown", "running", "stopped", "regenerating", "broken" };


void
daemon_record (struct daemon *d, const struct history_entry *h)
{
  lympho_error_t err = { 0 };
  if (history_append (d->cfg->state_dir, h, &err) < 0)
    log_error ("history: %s", err.msg);
}

static void
engine_info (struct daemon *d, struct rt_engine_info *info)
{
  memset (info, 0, sizeof *info);
  if (d->ops->engine_info && d->rt)
    d->ops->engine_info (d->rt, info);
}

/* Why the engine cannot be used now, one line, malloc'd; NULL when it can. */
static char *
engine_trouble (struct daemon *d)
{
  if (d->connected)
    return NULL;
  struct rt_engine_info info;
  engine_info (d, &info);
  if (info.problem)
    return xasprintf ("engine %s: %s", info.refused ? "refused" : "unreachable", info.problem);
  return xstrdup ("engine unreachable");
}

void
daemon_update_status (struct daemon *d)
{
  cleanup_free char *trouble = engine_trouble (d);
  notify_status ("protecting %u containers, %u regenerating, %s", entry_count (d, 0, true), d->in_flight,
                 trouble ? trouble : "engine connected");
}

/* --- control --------------------------------------------------------- */

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
gen_pending (yajl_gen g, const struct daemon *d, const struct entry *e, uint64_t now)
{
  json_gen_str (g, "regen");
  if (e->regen)
    {
      yajl_gen_map_open (g);
      json_gen_kstr (g, "txn", regen_txn (e->regen));
      json_gen_kstr (g, "reason", regen_reason (e->regen));
      json_gen_kstr (g, "step", regen_phase_name (e->regen));
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_kstr (g, "queued", e->queued ? (e->queued_reason ? e->queued_reason : "ttl") : NULL);
  json_gen_str (g, "retry");
  if (retry_pending (e))
    {
      yajl_gen_map_open (g);
      json_gen_kint (g, "in_ms", ms_until (e->due_mono, now));
      json_gen_kint (g, "attempt", e->failures + 1);
      json_gen_kstr (g, "error", e->last_error);
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_str (g, "recovery");
  if (e->state == ES_BROKEN)
    {
      yajl_gen_map_open (g);
      /* Unarmed: it waits for the engine to come back. */
      json_gen_str (g, "in_ms");
      if (e->recover_timer)
        json_gen_int (g, ms_until (e->recover_due_mono, now));
      else
        yajl_gen_null (g);
      json_gen_kint (g, "attempt", e->recover_tries + 1);
      json_gen_kstr (g, "error", e->last_error);
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  json_gen_kstr (g, "last_error", e->last_error);
  json_gen_str (g, "idle");
  yajl_gen_bool (g, entry_idle (d, e, now));
}

static void
gen_entry (struct daemon *d, yajl_gen g, struct entry *e)
{
  uint64_t now = now_mono_ms ();
  yajl_gen_map_open (g);
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
    yajl_gen_null (g);
  json_gen_str (g, "threat_level");
  json_gen_fixed (g, threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms), 2);
  json_gen_kstr (g, "state", entry_state_name (e));
  json_gen_kstr (g, "group", e->policy.group);
  json_gen_kstr (g, "strategy", strategy_name (e->policy.strategy));
  json_gen_kstr (g, "effective_strategy", strategy_name (admission_resolve_strategy (e)));
  json_gen_kstr (g, "swap_blocker", e->golden.swap_blocker);
  json_gen_kint (g, "jitter_pct", e->policy.jitter_pct);
  json_gen_kint (g, "failures", e->failures);
  json_gen_kint (g, "threshold", e->policy.threshold);
  json_gen_kstr (g, "pinned_image", e->golden.pin_ref);
  gen_pending (g, d, e, now);
  detect_gen (d, e, g);
  yajl_gen_map_close (g);
}

static void
cmd_ls (struct daemon *d, struct control_request *req)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_array_open (g);
  /* Sorted by name for stable output. */
  size_t n = 0;
  for (struct entry *e = d->entries; e; e = e->next)
    n++;
  struct entry **v = xmalloc0 ((n ? n : 1) * sizeof *v);
  size_t i = 0;
  for (struct entry *e = d->entries; e; e = e->next)
    v[i++] = e;
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && strcmp (v[b - 1]->name, v[b]->name) > 0; b--)
      {
        struct entry *t = v[b];
        v[b] = v[b - 1];
        v[b - 1] = t;
      }
  for (i = 0; i < n; i++)
    if (v[i]->golden.name)
      gen_entry (d, g, v[i]);
  free (v);
  yajl_gen_array_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static void
cmd_status (struct daemon *d, struct control_request *req)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  yajl_gen_map_open (g);
  json_gen_kstr (g, "version", PACKAGE_VERSION);
  json_gen_kint (g, "uptime_s", (int64_t) ((now_mono_ms () - d->started_mono) / 1000));
  json_gen_kstr (g, "runtime", d->ops->name);
  {
    struct rt_engine_info info;
    engine_info (d, &info);
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
  {
    int64_t queued = 0, retrying = 0;
    for (struct entry *e = d->entries; e; e = e->next)
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
  json_gen_kstr (g, "state_dir", d->cfg->state_dir);
  yajl_gen_map_close (g);
  cleanup_free char *json = json_gen_text (g);
  control_reply_ok (req, json);
}

static const char *
arg_str (yajl_val args, const char *key)
{
  return json_str (json_get (args, key));
}

static void
on_control (void *ud, struct control_request *req, const char *cmd, yajl_val args)
{
  struct daemon *d = ud;
  if (strcmp (cmd, "status") == 0)
    cmd_status (d, req);
  else if (strcmp (cmd, "ls") == 0)
    cmd_ls (d, req);
  else if (strcmp (cmd, "regen") == 0)
    {
      const char *name = arg_str (args, "name");
      if (name == NULL)
        {
          control_reply_error (req, EINVAL, "regen: `name` is required");
          return;
        }
      struct entry *e = daemon_entry_lookup (d, name);
      if (e == NULL || e->golden.name == NULL)
        {
          cleanup_free char *msg = xasprintf ("no protected container named `%s`", name);
          control_reply_error (req, ENOENT, msg);
          return;
        }
      const char *reason = arg_str (args, "reason");
      cleanup_free char *why = xasprintf ("manual%s%s", reason ? ": " : "", reason ? reason : "");
      log_info ("%s: regeneration requested by uid %u (%s)", e->name, (unsigned) control_request_uid (req), why);
      daemon_request_regen (d, e, why, false, req);
    }
  else if (strcmp (cmd, "alert") == 0)
    {
      const char *name = arg_str (args, "name");
      int64_t sev = -1;
      if (name == NULL || !json_as_int64 (json_get (args, "severity"), &sev) || sev < 0 || sev > 10)
        {
          control_reply_error (req, EINVAL, "alert: `name` and an integer `severity` 0..10 are required");
          return;
        }
      struct alert a = { .source = ALERT_SRC_CLI, .container = (char *) name, .severity = (int) sev,
                         .reason = (char *) arg_str (args, "reason") };
      cleanup_free char *action = NULL;
      lympho_error_t err = { 0 };
      if (incident_alert (d, &a, now_mono_ms (), &action, &err) < 0)
        {
          control_reply_error (req, err.status, err.msg);
          return;
        }
      struct entry *e = daemon_entry_lookup (d, name);
      cleanup_jgen yajl_gen g = json_gen_new (false);
      yajl_gen_map_open (g);
      json_gen_kstr (g, "name", e ? e->name : name);
      json_gen_str (g, "threat_level");
      json_gen_fixed (g, e ? threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms) : 0.0, 2);
      json_gen_kstr (g, "action", action);
      yajl_gen_map_close (g);
      cleanup_free char *json = json_gen_text (g);
      control_reply_ok (req, json);
    }
  else if (strcmp (cmd, "history") == 0)
    {
      const char *name = arg_str (args, "name");
      int64_t limit = 0;
      json_as_int64 (json_get (args, "limit"), &limit);
      cleanup_free char *json = NULL;
      lympho_error_t err = { 0 };
      if (history_read (d->cfg->state_dir, name, limit > 0 ? (size_t) limit : 0, &json, &err) < 0)
        control_reply_error (req, err.status, err.msg);
      else
        control_reply_ok (req, json);
    }
  else
    {
      cleanup_free char *msg = xasprintf ("unknown command `%s`", cmd);
      control_reply_error (req, EINVAL, msg);
    }
}

/* --- signals, watchdog, shutdown ------------------------------------- */

/* --- HTTP listener glue ---------------------------------------------- */

static int
http_alert (void *ud, const struct alert *a, lympho_error_t *err)
{
  struct daemon *d = ud;
  cleanup_free char *action = NULL;
  return incident_alert (d, a, now_mono_ms (), &action, err);
}

static bool
http_known (void *ud, const char *container)
{
  struct daemon *d = ud;
  struct entry *e = daemon_entry_lookup (d, container);
  return e != NULL && e->golden.name != NULL;
}

static char *
http_metrics (void *ud)
{
  return incident_metrics (ud);
}

static char *
http_unhealthy (void *ud)
{
  return engine_trouble (ud);
}

void
daemon_maybe_exit (struct daemon *d)
{
  if (d->shutting_down && d->in_flight == 0)
    loop_stop (d->loop);
}

static void
on_grace_over (struct loop *l, void *ud)
{
  struct daemon *d = ud;
  log_warn ("shutdown: %u regenerations still in flight after %d s; the journal will finish them", d->in_flight,
            SHUTDOWN_GRACE_MS / 1000);
  loop_stop (l);
}

static void
begin_shutdown (struct daemon *d, const char *why)
{
  if (d->shutting_down)
    return;
  d->shutting_down = true;
  notify_stopping ();
  log_info ("shutting down (%s); %u regenerations in flight", why, d->in_flight);
  for (struct entry *e = d->entries; e; e = e->next)
    {
      if (e->timer)
        loop_cancel_timer (d->loop, e->timer);
      e->timer = 0;
      if (e->regen)
        regen_request_stop (e->regen);
    }
  loop_add_timer (d->loop, SHUTDOWN_GRACE_MS, on_grace_over, d);
  daemon_maybe_exit (d);
}

static void
reload (struct daemon *d)
{
  lympho_error_t err = { 0 };
  if (config_reload (d->cfg, &err) < 0)
    {
      log_error ("reload: %s (keeping the running configuration)", err.msg);
      return;
    }
  log_set_level (d->cfg->log_level);
  log_info ("configuration reloaded (socket, state dir, engine and listener changes need a restart)");
}

static void
on_signal (struct loop *l, int fd, uint32_t events, void *ud)
{
  struct daemon *d = ud;
  struct signalfd_siginfo si;
  while (read (fd, &si, sizeof si) == (ssize_t) sizeof si)
    {
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
        begin_shutdown (d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
      else if (si.ssi_signo == SIGHUP)
        reload (d);
    }
}

static void
on_watchdog (struct loop *l, void *ud)
{
  struct daemon *d = ud;
  notify_watchdog ();
  uint64_t usec = notify_watchdog_usec ();
  d->watchdog_timer = loop_add_timer (l, usec / 2000 ? usec / 2000 : 1, on_watchdog, d);
}

static void
bad_snapshot (const char *path, const lympho_error_t *e)
{
  log_error ("snapshot %s unreadable, skipped: %s", path, e->msg);
}

static int
setup_signals (struct daemon *d, lympho_error_t *err)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return lympho_error_set_errno (err, errno, "sigprocmask");
  signal (SIGPIPE, SIG_IGN);
  d->sigfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (d->sigfd < 0)
    return lympho_error_set_errno (err, errno, "signalfd");
  return loop_add_fd (d->loop, d->sigfd, EPOLLIN, on_signal, d, err);
}

int
daemon_run (struct config *cfg, lympho_error_t *err)
{
  struct daemon dd = { 0 };
  struct daemon *d = &dd;
  int ret;
  d->cfg = cfg;
  d->sigfd = -1;
  d->started_mono = now_mono_ms ();
  log_set_level (cfg->log_level);

  d->ops = runtime_lookup (cfg->runtime);
  if (d->ops == NULL)
    return lympho_error_set (err, ENOTSUP, "runtime `%s` is not available in this build", cfg->runtime);
  umask (077);
  if ((ret = mkdir_p (cfg->state_dir, 0700, err)) < 0 || (ret = store_init (cfg->state_dir, err)) < 0)
    return lympho_error_prefix (err, "state directory");
  if ((ret = loop_new (&d->loop, err)) < 0)
    return ret;
  if ((ret = setup_signals (d, err)) < 0)
    goto out;
  if ((ret = journal_open (cfg->state_dir, &d->journal, err)) < 0)
    goto out;
  if ((ret = control_open (d->loop, cfg->socket_path, on_control, d, &d->control, err)) < 0)
    goto out;
  if ((ret = d->ops->open (d->loop, runtime_endpoint (cfg->runtime, cfg->docker_host), &d->rt, err)) < 0)
    {
      lympho_error_prefix (err, "runtime %s", d->ops->name);
      goto out;
    }
  if (cfg->listen)
    {
      cleanup_free char *token = NULL;
      if ((ret = httpd_load_token (cfg->token_file, &token, err)) < 0)
        {
          lympho_error_prefix (err, "token file");
          goto out;
        }
      struct httpd_callbacks cb = { http_alert, http_known, http_metrics, http_unhealthy, d };
      if ((ret = httpd_open (d->loop, cfg->listen, token, &cb, &d->httpd, err)) < 0)
        {
          goto out; /* the message names the address */
        }
    }
  if ((ret = detect_open (d, err)) < 0)
    goto out;
  if ((ret = memory_open (cfg->state_dir, cfg->memory_window_ms, now_real_ms (), &d->memory, err)) < 0)
    {
      lympho_error_prefix (err, "immune memory");
      goto out;
    }
  if ((ret = privs_drop (err)) < 0)
    goto out;

  struct golden *gs = NULL;
  size_t ng = 0;
  if ((ret = store_load_all (cfg->state_dir, &gs, &ng, bad_snapshot, err)) < 0)
    goto out;
  for (size_t i = 0; i < ng; i++)
    {
      struct entry *e = entry_new (d, gs[i].name);
      e->golden = gs[i];
      struct policy p;
      lympho_error_t perr = { 0 };
      if (policy_from_labels (&e->golden.labels, &p, &perr) == 0)
        {
          policy_free (&e->policy);
          e->policy = p;
        }
    }
  free (gs);
  log_info ("lymphd %s starting: runtime %s at %s, state %s, %zu snapshots", PACKAGE_VERSION, d->ops->name,
            runtime_endpoint (cfg->runtime, cfg->docker_host), cfg->state_dir, ng);

  if ((ret = d->ops->subscribe (d->rt, reconcile_on_event, reconcile_on_conn, d, err)) < 0)
    goto out;
  if (notify_watchdog_usec () > 0)
    on_watchdog (d->loop, d);
  daemon_update_status (d);

  ret = loop_run (d->loop, err);
  log_info ("stopped");

out:
  if (d->httpd)
    httpd_close (d->httpd);
  detect_close (d);
  if (d->rt)
    d->ops->close (d->rt);
  /* Entries answer their waiting requests as they go; the control socket
   * closes after them so those answers are still sent. */
  while (d->entries)
    {
      struct entry *e = d->entries;
      d->entries = e->next;
      entry_free (d, e);
    }
  if (d->control)
    control_close (d->control);
  for (size_t i = 0; i < d->n_refused; i++)
    free (d->refused_ids[i]);
  free (d->refused_ids);
  journal_close (d->journal);
  memory_close (&d->memory);
  metrics_free (&d->metrics);
  if (d->sigfd >= 0)
    close (d->sigfd);
  loop_free (d->loop);
  return ret;
}
