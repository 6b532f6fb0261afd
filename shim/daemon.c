/* lympho — the daemon core (see daemon.h). One loop; every engine call is
 * asynchronous; each protected name is an `entry`. This file starts and
 * stops it all: daemon_run, signals, reload, shutdown, the watchdog, the
 * status systemd shows, and the HTTP listener's callbacks. The rest is cut
 * by duty (daemon-int.h says which file owns what): entry.c, admission.c,
 * adopt.c, reconcile.c, command.c, detect.c and incident.c.
 * May call: every other file of the daemon (it wires them: daemon-int.h),
 * control, httpd, journal, store, notify, privs, the runtime ops. */
#include "config.h"

#include <errno.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "lympho/control.h"
#include "lympho/daemon.h"
#include "lympho/execguard.h"
#include "lympho/history.h"
#include "lympho/httpd.h"
#include "lympho/journal.h"
#include "lympho/labels.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/notifier.h"
#include "lympho/notify.h"
#include "lympho/parser.h"
#include "lympho/privs.h"
#include "lympho/fleet.h"
#include "lympho/regen.h"
#include "lympho/runtime.h"
#include "lympho/store.h"
#include "lympho/util.h"

#include "daemon-int.h"

/* What notify-url receivers hear of: regenerations (rollbacks and what
 * observe mode would have done among them), recoveries, incidents and
 * refusals. */
static void
notify_out (struct daemon *d, const struct history_entry *h, const char *entry)
{
  static const char *const kinds[] = { "regen", "recover", "incident", "refuse", NULL };
  bool wanted = false;
  for (size_t i = 0; kinds[i] && !wanted; i++)
    wanted = h->kind && strcmp (h->kind, kinds[i]) == 0;
  if (d->notifier == NULL || !wanted)
    return;
  /* The event without its time: the same one again is sent once. */
  cleanup_free char *key = xasprintf ("%s\n%s\n%s\n%lld\n%s\n%s\n%s\n%s", h->name, h->kind, h->result ? h->result : "",
                                      (long long) h->generation, h->reason ? h->reason : "",
                                      h->action ? h->action : "", h->source ? h->source : "",
                                      h->error ? h->error : "");
  cleanup_free char *gen = h->generation >= 0 ? xasprintf (", generation %lld", (long long) h->generation)
                                              : xstrdup ("");
  const char *why = h->reason ? h->reason : h->error;
  cleanup_free char *text = xasprintf ("%s: %s %s%s%s%s", h->name, h->kind, h->result ? h->result : "", gen,
                                       why ? ": " : "", why ? why : "");
  notifier_post (d->notifier, key, entry, text);
}

void
daemon_record (struct daemon *d, const struct history_entry *h)
{
  lympho_error_t err = { 0 };
  cleanup_free char *entry = history_entry_json (h);
  if (history_append_json (d->cfg->state_dir, entry, &err) < 0)
    log_error ("history: %s", err.msg);
  /* Followed as it happens (lymphctl events --follow), written or not. */
  control_broadcast (d->control, h->name, entry);
  notify_out (d, h, entry);
}

/* The notify-url receivers, as the configuration says now. A token file
 * that cannot be read: nothing is sent, and status says why. */
static void
notifier_setup (struct daemon *d)
{
  notifier_free (d->notifier);
  d->notifier = NULL;
  free (d->notify_problem);
  d->notify_problem = NULL;
  const struct config *cfg = d->cfg;
  if (cfg->n_notify_url == 0)
    return;
  lympho_error_t err = { 0 };
  cleanup_free char *token = NULL;
  if (cfg->notify_token_file)
    {
      size_t len = 0;
      if (read_file (cfg->notify_token_file, 4096, &token, &len, &err) < 0)
        {
          d->notify_problem = xasprintf ("notify-token-file: %s", err.msg);
          log_error ("notify: %s; nothing is sent", d->notify_problem);
          return;
        }
      while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' '))
        token[--len] = '\0';
      for (size_t i = 0; i < len; i++)
        if ((unsigned char) token[i] < ' ' || token[i] == 0x7f)
          {
            d->notify_problem = xstrdup ("notify-token-file: the token has a control character");
            log_error ("notify: %s; nothing is sent", d->notify_problem);
            return;
          }
    }
  if (notifier_new (cfg->notify_url, cfg->n_notify_url, token && token[0] ? token : NULL, &d->notifier, &err) < 0)
    {
      d->notify_problem = xstrdup (err.msg);
      log_error ("notify: %s; nothing is sent", err.msg);
      return;
    }
  log_info ("notify: %zu receiver%s", cfg->n_notify_url, cfg->n_notify_url == 1 ? "" : "s");
}

/* The fleet's Alertmanagers and this node's name, as the configuration
 * says now. One that cannot be set up: nothing is sent, and it is said. */
static void
fleet_setup (struct daemon *d)
{
  fleet_free (d->fleet);
  d->fleet = NULL;
  lympho_error_t err = { 0 };
  if (fleet_new (d->cfg->alertmanager_url, d->cfg->n_alertmanager_url, d->cfg->node_name, &d->fleet, &err) < 0)
    {
      log_error ("fleet: %s; nothing is sent", err.msg);
      if (fleet_new (NULL, 0, d->cfg->node_name, &d->fleet, &err) < 0)
        log_error ("fleet: %s", err.msg);
      return;
    }
  if (d->cfg->n_alertmanager_url)
    log_info ("fleet: node %s, %zu Alertmanager%s", fleet_node (d->fleet), d->cfg->n_alertmanager_url,
              d->cfg->n_alertmanager_url == 1 ? "" : "s");
}

void
daemon_notify_status (struct daemon *d, json_gen g)
{
  if (d->cfg->n_notify_url == 0)
    return;
  struct notifier_stats st;
  notifier_stats (d->notifier, &st);
  json_gen_str (g, "notify");
  json_gen_map_open (g);
  json_gen_kint (g, "receivers", (int64_t) d->cfg->n_notify_url);
  if (d->notify_problem)
    json_gen_kstr (g, "problem", d->notify_problem);
  json_gen_kint (g, "sent", (int64_t) st.sent);
  json_gen_kint (g, "failed", (int64_t) st.failed);
  json_gen_kint (g, "retried", (int64_t) st.retried);
  json_gen_kint (g, "dropped", (int64_t) st.dropped);
  json_gen_kint (g, "duplicates", (int64_t) st.duplicates);
  json_gen_kint (g, "queued", (int64_t) st.queued);
  json_gen_map_close (g);
}

void
daemon_engine_info (struct daemon *d, struct rt_engine_info *info)
{
  memset (info, 0, sizeof *info);
  if (d->ops->engine_info && d->rt)
    d->ops->engine_info (d->rt, info);
}

/* A step of a regeneration, to whoever follows events. */
static void
on_regen_step (void *ud, const struct regen_step *s)
{
  struct daemon *d = ud;
  if (control_streams (d->control) == 0)
    return;
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "time", (int64_t) now_real_ms ());
  json_gen_kstr (g, "name", s->name);
  json_gen_kstr (g, "kind", "step");
  json_gen_kint (g, "generation", s->generation);
  json_gen_kstr (g, "txn", s->txn);
  json_gen_kstr (g, "step", s->step);
  if (s->id)
    json_gen_kstr (g, "id", s->id);
  if (s->detail)
    json_gen_kstr (g, "detail", s->detail);
  json_gen_map_close (g);
  cleanup_free char *ev = json_gen_text (g);
  control_broadcast (d->control, s->name, ev);
}

struct regen_env
daemon_regen_env (struct daemon *d)
{
  return (struct regen_env){ d->loop, d->ops, d->rt, d->journal, d->cfg, d->timing, on_regen_step, d };
}

/* Why the engine cannot be used now, one line, malloc'd; NULL when it can. */
static char *
engine_trouble (struct daemon *d)
{
  if (d->connected)
    return NULL;
  struct rt_engine_info info;
  daemon_engine_info (d, &info);
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

/* --- HTTP listener glue ---------------------------------------------- */

_Static_assert (CONFIG_MAX_LISTEN == HTTPD_MAX_LISTEN, "every listen address configured can be opened");

static int
http_alert (void *ud, const struct alert *a, lympho_error_t *err)
{
  struct daemon *d = ud;
  cleanup_free char *action = NULL;
  return incident_alert (d, a, now_mono_ms (), &action, err);
}

static int
http_parse (void *ud, enum alert_source src, const char *body, size_t len, struct alert_list *out,
            lympho_error_t *err)
{
  struct daemon *d = ud;
  return parser_parse (d->parser, src, body, len, out, err);
}

static bool
http_known (void *ud, const char *container)
{
  struct daemon *d = ud;
  struct entry *e = entry_lookup (d, container);
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

/* --- signals, watchdog, shutdown ------------------------------------- */

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
  admission_watch_stop (d);
  ENTRY_FOREACH (e, d)
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
  int changed = config_reload (d->cfg, &err);
  if (changed < 0)
    {
      log_error ("reload: %s (keeping the running configuration)", err.msg);
      return;
    }
  log_set_level (d->cfg->log_level);
  if (changed & CONFIG_CHANGED_NOTIFY)
    notifier_setup (d);
  if (changed & CONFIG_CHANGED_FLEET)
    fleet_setup (d);
  if (changed & CONFIG_CHANGED_MODE)
    {
      log_info ("mode %s: containers without lympho.mode follow it now", d->cfg->observe ? "observe" : "enforce");
      detect_mode_changed (d);
    }
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

/* Every HEAP_TRIM_MS the heap's free pages go back to the kernel. A burst
 * (adopting hundreds of containers, the engine's list of them, a flood of
 * alerts) leaves its parsed answers freed between what lives on (entries,
 * snapshots): glibc's malloc keeps those pages, and only returns a free top
 * of the heap. At 500 protected containers that was 5 MB of 13.5 MB
 * resident, kept for good (bench-scale, footprint). malloc_trim(0) hands
 * back every free page, the middle of the heap's too; it walks the free
 * chunks only, a few tens of microseconds for lymphd's heap. */
#define HEAP_TRIM_MS 30000

static void
on_heap_trim (struct loop *l, void *ud)
{
  struct daemon *d = ud;
#ifdef HAVE_MALLOC_TRIM
  if (malloc_trim (0))
    log_debug ("heap: free pages handed back to the kernel");
#endif
  d->trim_timer = loop_add_timer (l, HEAP_TRIM_MS, on_heap_trim, d);
}

static void
bad_snapshot (const char *path, const lympho_error_t *e)
{
  /* Out of the way, kept: the next start does not trip on it again. */
  cleanup_free char *to = NULL;
  int ret = move_aside (path, &to);
  if (ret == 0)
    log_error ("snapshot %s unreadable, moved to %s: %s", path, to, e->msg);
  else
    log_error ("snapshot %s unreadable, skipped (cannot move it aside: %s): %s", path, strerror (-ret), e->msg);
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

/* ---- what the detectors and incidents may ask (struct daemon_actions) ---- */

static void
act_regenerate (struct daemon *d, struct entry *e, const char *reason, bool keep_old_down)
{
  admission_request_regen (d, e, reason, keep_old_down, NULL);
}

static struct entry *
act_next (struct daemon *d, struct entry *e)
{
  return e ? LIST_NEXT (e, link) : LIST_FIRST (&d->entries);
}

static const struct daemon_actions actions = {
  .record = daemon_record,
  .regenerate = act_regenerate,
  .regenerate_in = admission_arm,
  .remaining_ms = admission_remaining_ms,
  .lookup = entry_lookup,
  .by_id = entry_by_id,
  .by_name = entry_find,
  .next = act_next,
};

int
daemon_run (struct config *cfg, lympho_error_t *err)
{
  struct daemon dd = { 0 };
  struct daemon *d = &dd;
  int ret;
  d->act = &actions;
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
  if ((ret = control_open (d->loop, cfg->socket_path, command_dispatch, d, &d->control, err)) < 0)
    goto out;
  if ((ret = d->ops->open (d->loop, runtime_endpoint (cfg->runtime, cfg->docker_host), &d->rt, err)) < 0)
    {
      lympho_error_prefix (err, "runtime %s", d->ops->name);
      goto out;
    }
  if (cfg->n_listen)
    {
      /* The bodies the listener takes are parsed in a confined process of
       * their own (parser.h). */
      if ((ret = parser_open (&d->parser, err)) < 0)
        goto out;
      cleanup_free char *token = NULL;
      if ((ret = httpd_load_token (cfg->token_file, &token, err)) < 0)
        {
          lympho_error_prefix (err, "token file");
          goto out;
        }
      struct httpd_callbacks cb = { http_alert, http_known, http_metrics, http_unhealthy, http_parse, d };
      if ((ret = httpd_open (d->loop, (const char *const *) cfg->listen, cfg->n_listen, token, &cb, &d->httpd, err))
          < 0)
        {
          goto out; /* the message names the address */
        }
      httpd_set_metrics_token (d->httpd, cfg->metrics_token);
    }
  if ((ret = memory_open (cfg->state_dir, cfg->memory_window_ms, now_real_ms (), &d->memory, err)) < 0)
    {
      lympho_error_prefix (err, "immune memory");
      goto out;
    }
  execguard_prepare (); /* what its thread needs, while lymphd still may */
  if ((ret = privs_drop (err)) < 0)
    goto out;
  /* After the drop: capabilities belong to each thread, and the exec
   * guard's thread must hold no more than lymphd keeps. */
  detect_open (d);
  /* After the drop too: its thread holds no capability. */
  notifier_setup (d);
  fleet_setup (d);
  services_open (d);

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
  admission_watch_start (d);
  daemon_update_status (d);
  /* The exec guard's kernel judge was loaded above, its 20 MB of BTF and
   * verifier log freed: once now, then every HEAP_TRIM_MS. */
  on_heap_trim (d->loop, d);

  ret = loop_run (d->loop, err);
  log_info ("stopped");

out:
  if (d->httpd)
    httpd_close (d->httpd);
  parser_close (d->parser);
  d->parser = NULL;
  notifier_free (d->notifier);
  d->notifier = NULL;
  fleet_free (d->fleet);
  d->fleet = NULL;
  free (d->notify_problem);
  d->notify_problem = NULL;
  detect_close (d);
  if (d->rt)
    d->ops->close (d->rt);
  /* Entries answer their waiting requests as they go; the control socket
   * closes after them so those answers are still sent. */
  while (!LIST_EMPTY (&d->entries))
    entry_remove (d, LIST_FIRST (&d->entries));
  strmap_free (&d->entry_names);
  strmap_free (&d->entry_ids);
  incident_close (d); /* after the runtime's close: no callback comes now */
  adopt_close (d);
  services_close (d);
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
