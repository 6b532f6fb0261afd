/* lympho — incidents: alerts from any source raise a container's threat
 * level; at its threshold (or at once, for a signature immune memory knows)
 * the container is quarantined — cut off the network, frozen, its writable
 * layer kept for forensics — and replaced by a fresh generation. Neighbours
 * in its group are warned with a share of the severity.
 * May call: quarantine, memory, threat, metrics, the runtime ops (pause,
 * commit, changes, top); the daemon only through struct daemon_actions. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "daemon-int.h"
#include "lympho/fleet.h"
#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/quarantine.h"
#include "lympho/regen.h"
#include "lympho/util.h"

struct incident
{
  struct daemon *d;
  struct entry *e;
  char *reason;          /* of the regeneration */
  char *source;
  char *signature;
  char *alert_reason;
  char *old_id;
  int severity;
  double level;
  const char *action;
  unsigned generation;
  unsigned flags;        /* QUARANTINE_* applied */
  uint64_t received_mono;
  int64_t cut_ms;
  char *cut_detail;
  char *forensic_image;
  char *forensic_note;   /* why no image was taken, when none was */
  /* What forensics saw, for the history (at most FORENSIC_ROWS each). */
  struct rt_change *changes;
  size_t n_changes;
  struct rt_process *procs;
  size_t n_procs;
  bool have_changes, have_procs;
  char *txn;             /* its journal transaction, open until it is over */
  unsigned pending;
  bool cancelled;        /* the entry went away while we worked */
  LIST_ENTRY (incident) orphan; /* cancelled with pieces pending: on d->incidents_orphaned */
};

static void
incident_free (struct incident *inc)
{
  free (inc->txn);
  free (inc->reason);
  free (inc->source);
  free (inc->signature);
  free (inc->alert_reason);
  free (inc->old_id);
  free (inc->cut_detail);
  free (inc->forensic_image);
  free (inc->forensic_note);
  for (size_t i = 0; i < inc->n_changes; i++)
    free (inc->changes[i].path);
  free (inc->changes);
  for (size_t i = 0; i < inc->n_procs; i++)
    {
      free (inc->procs[i].user);
      free (inc->procs[i].cmd);
    }
  free (inc->procs);
  free (inc);
}

/* An incident's detail in its history entry: how it was cut off, and what
 * forensics saw (the writable layer's changes, the processes). */
static void
gen_detail (json_gen g, const void *arg)
{
  const struct incident *inc = arg;
  json_gen_map_open (g);
  if (inc->cut_detail)
    json_gen_kstr (g, "quarantine", inc->cut_detail);
  if (inc->forensic_note)
    json_gen_kstr (g, "forensics", inc->forensic_note);
  if (inc->have_changes)
    {
      json_gen_str (g, "changes");
      json_gen_array_open (g);
      for (size_t i = 0; i < inc->n_changes; i++)
        {
          char kind[2] = { inc->changes[i].kind, 0 };
          json_gen_map_open (g);
          json_gen_kstr (g, "kind", kind);
          json_gen_kstr (g, "path", inc->changes[i].path);
          json_gen_map_close (g);
        }
      json_gen_array_close (g);
    }
  if (inc->have_procs)
    {
      json_gen_str (g, "processes");
      json_gen_array_open (g);
      for (size_t i = 0; i < inc->n_procs; i++)
        {
          json_gen_map_open (g);
          json_gen_kint (g, "pid", inc->procs[i].pid);
          json_gen_kstr (g, "user", inc->procs[i].user);
          json_gen_kstr (g, "cmd", inc->procs[i].cmd);
          json_gen_map_close (g);
        }
      json_gen_array_close (g);
    }
  json_gen_map_close (g);
}

/* The incident's intent is over (replaced, or nothing left to replace):
 * its journal transaction ends. Not at shutdown: an incident cut short by
 * a stop stays open, and the next lymphd finishes it. */
static void
end_txn (struct daemon *d, char **txn, const char *result)
{
  if (*txn == NULL)
    return;
  lympho_error_t err = { 0 };
  if (journal_end (d->journal, *txn, result, &err) < 0)
    log_error ("journal: %s", err.msg);
  free (*txn);
  *txn = NULL;
}

static void
record_incident (struct incident *inc, const char *result, const char *error, const char *new_id, int64_t replaced_ms)
{
  struct history_entry h = {
    .name = inc->e->name,
    .kind = "incident",
    .result = result,
    .generation = inc->generation,
    .old_id = inc->old_id,
    .new_id = new_id,
    .reason = inc->alert_reason,
    .error = error,
    .duration_ms = -1,
    .source = inc->source,
    .severity = inc->severity,
    .threat_level = inc->level,
    .signature = inc->signature,
    .action = inc->action,
    .cut_ms = inc->cut_ms,
    .replaced_ms = replaced_ms,
    .forensic_image = inc->forensic_image,
    .detail = gen_detail,
    .detail_arg = inc,
  };
  inc->d->act->record (inc->d, &h);
}

void
incident_regen_done (struct daemon *d, struct entry *e, const struct regen_result *res)
{
  struct incident *inc = e->incident;
  if (res->outcome == REGEN_OK)
    {
      /* A fresh generation starts clean: an alert still firing against it
       * counts again at its next notification. */
      for (size_t i = 0; i < e->n_firing; i++)
        free (e->firing[i]);
      e->n_firing = 0;
    }
  if (res->outcome == REGEN_OK)
    end_txn (d, &e->resume_txn, "ok"); /* an incident lymphd stopped in the middle of */
  if (inc == NULL)
    return;
  if (res->outcome != REGEN_OK)
    {
      /* The retry (with backoff) keeps the old generation quarantined; the
       * incident stays open until a generation replaces it. */
      log_warn ("%s: replacement after incident failed (%s); the infected generation stays quarantined",
                e->name, res->err.msg);
      record_incident (inc, "failed", res->err.msg, NULL, -1);
      return;
    }
  int64_t replaced = -1;
  if (res->running_mono_ms >= inc->received_mono)
    {
      replaced = (int64_t) (res->running_mono_ms - inc->received_mono);
      metrics_observe (&d->metrics.alert_to_replaced_seconds, (double) replaced / 1000.0);
    }
  record_incident (inc, "ok", NULL, res->new_id, replaced);
  log_info ("%s gen=%u: incident closed: cut after %lld ms, new generation running after %lld ms", e->name,
            res->generation, (long long) inc->cut_ms, (long long) replaced);
  end_txn (d, &inc->txn, "ok");
  e->incident = NULL;
  incident_free (inc);
}

void
incident_entry_free (struct entry *e)
{
  strv_free (e->firing, e->n_firing);
  e->firing = NULL;
  e->n_firing = 0;
  free (e->observed_sig);
  e->observed_sig = NULL;
  if (e->resume_txn && !e->d->shutting_down)
    end_txn (e->d, &e->resume_txn, "released");
  free (e->resume_txn);
  e->resume_txn = NULL;
  free (e->resume_old_id);
  e->resume_old_id = NULL;
  free (e->resume_reason);
  e->resume_reason = NULL;
  if (e->incident)
    {
      /* Callbacks still in flight find it cancelled and free it; until
       * they come it is the daemon's, which frees it when the runtime is
       * closed and none will (incident_close). */
      struct incident *inc = e->incident;
      if (!inc->d->shutting_down)
        end_txn (inc->d, &inc->txn, "released");
      inc->cancelled = true;
      if (inc->pending == 0)
        incident_free (inc);
      else
        LIST_INSERT_HEAD (&inc->d->incidents_orphaned, inc, orphan);
      e->incident = NULL;
    }
}

void
incident_interrupted (struct daemon *d, struct entry *e, const struct txn *t)
{
  if (e->incident || e->resume_txn)
    return; /* in flight in this lymphd, or known already */
  e->resume_txn = xstrdup (t->txn);
  free (e->resume_old_id);
  e->resume_old_id = t->old_id ? xstrdup (t->old_id) : NULL;
  free (e->resume_reason);
  e->resume_reason = xstrdup (t->reason ? t->reason : "an incident");
  log_warn ("%s txn=%s: an incident was cut short by a stop of lymphd (%s); its generation %.12s is replaced once "
            "seen",
            e->name, t->txn, e->resume_reason, e->resume_old_id ? e->resume_old_id : "?");
  (void) d;
}

void
incident_resume (struct daemon *d, struct entry *e)
{
  if (e->resume_txn == NULL || e->resume_started || e->incident || e->regen)
    return;
  if (e->id == NULL || e->resume_old_id == NULL || strcmp (e->id, e->resume_old_id) != 0)
    {
      log_info ("%s: the generation of the interrupted incident is gone; nothing left to replace", e->name);
      end_txn (d, &e->resume_txn, "gone");
      return;
    }
  if (e->state != ES_RUNNING)
    {
      log_info ("%s: the generation of the interrupted incident is stopped; it is replaced when it is started", e->name);
      return;
    }
  e->resume_started = true;
  cleanup_free char *why = xasprintf ("incident cut short by a stop of lymphd: %s", e->resume_reason);
  struct history_entry h = { HISTORY_NO_INCIDENT, .name = e->name, .kind = "incident", .result = "resumed",
                             .generation = e->generation, .old_id = e->id, .reason = e->resume_reason,
                             .error = "cut short by a stop of lymphd: the infected generation is replaced now",
                             .duration_ms = -1 };
  d->act->record (d, &h);
  log_warn ("%s gen=%u: %s; replacing it now", e->name, e->generation, why);
  /* Like any regeneration of an infected generation: it never serves
   * again, even if this one rolls back. */
  d->act->regenerate (d, e, why, true);
}

bool
incident_journal_open (const struct entry *e)
{
  return (e->incident && e->incident->txn) || e->resume_txn;
}

bool
incident_preparing (const struct entry *e, uint64_t now_mono)
{
  const struct incident *inc = e->incident;
  /* Its regeneration is asked for once the quarantine is done: then it is
   * in flight, or queued ahead of every TTL. */
  return inc && !inc->cancelled && e->regen == NULL && !(e->queued && e->queued_urgent)
         && now_mono - inc->received_mono < INCIDENT_HOLD_MS;
}

void
incident_close (struct daemon *d)
{
  while (!LIST_EMPTY (&d->incidents_orphaned))
    {
      struct incident *inc = LIST_FIRST (&d->incidents_orphaned);
      LIST_REMOVE (inc, orphan);
      incident_free (inc);
    }
}

/* --- quarantine, forensics, then regeneration ------------------------ */

static void
replace_now (struct incident *inc)
{
  struct daemon *d = inc->d;
  struct entry *e = inc->e;
  d->act->regenerate (d, e, inc->reason, true);
  if (e->regen == NULL && !e->queued)
    {
      record_incident (inc, "failed", "the container could not be regenerated now", NULL, -1);
      end_txn (d, &inc->txn, "failed");
      e->incident = NULL;
      incident_free (inc);
    }
}

/* One asynchronous piece of quarantine finished. */
static bool
piece_done (struct incident *inc)
{
  inc->pending--;
  if (inc->cancelled)
    {
      if (inc->pending == 0)
        {
          LIST_REMOVE (inc, orphan);
          incident_free (inc);
        }
      return false;
    }
  return inc->pending == 0;
}

static void retain (struct daemon *d, const char *repo, unsigned current);

static void
on_committed (void *ud, int ret, const lympho_error_t *err, const char *id)
{
  struct incident *inc = ud;
  if (!inc->cancelled)
    {
      if (ret < 0)
        log_error ("%s step=forensics: commit failed: %s", inc->e->name, err->msg);
      else
        log_info ("%s gen=%u step=forensics image=%s (%.19s)", inc->e->name, inc->generation, inc->forensic_image,
                  id);
      if (ret == 0 && inc->forensic_image && inc->d->ops->image_tags)
        {
          /* Its repository: the reference up to the tag's colon. */
          cleanup_free char *repo = xstrdup (inc->forensic_image);
          char *colon = strrchr (repo, ':');
          if (colon)
            *colon = '\0';
          retain (inc->d, repo, inc->generation);
        }
      if (ret < 0)
        {
          free (inc->forensic_image);
          inc->forensic_image = NULL;
        }
    }
  if (piece_done (inc))
    replace_now (inc);
}

#define FORENSIC_ROWS 1000
/* and at most this many bytes of each path, user or command line there: an
 * intruder's path or argv must not make a history line of megabytes. */
#define FORENSIC_TEXT_MAX 1024

static void
on_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  struct incident *inc = ud;
  if (!inc->cancelled && ret < 0)
    log_warn ("%s gen=%u step=forensics: changes: %s", inc->e->name, inc->generation, err->msg);
  else if (!inc->cancelled)
    {
      inc->have_changes = true;
      inc->n_changes = n < FORENSIC_ROWS ? n : FORENSIC_ROWS;
      inc->changes = xmalloc0 ((inc->n_changes + 1) * sizeof *inc->changes);
      for (size_t i = 0; i < inc->n_changes; i++)
        inc->changes[i] = (struct rt_change){ v[i].kind, xstrdup_capped (v[i].path, FORENSIC_TEXT_MAX) };
    }
  if (piece_done (inc))
    replace_now (inc);
}

static void
on_top (void *ud, int ret, const lympho_error_t *err, const struct rt_process *v, size_t n)
{
  struct incident *inc = ud;
  if (!inc->cancelled && ret < 0)
    log_warn ("%s gen=%u step=forensics: processes: %s", inc->e->name, inc->generation, err->msg);
  else if (!inc->cancelled)
    {
      inc->have_procs = true;
      inc->n_procs = n < FORENSIC_ROWS ? n : FORENSIC_ROWS;
      inc->procs = xmalloc0 ((inc->n_procs + 1) * sizeof *inc->procs);
      for (size_t i = 0; i < inc->n_procs; i++)
        inc->procs[i] = (struct rt_process){ v[i].pid, v[i].user ? xstrdup_capped (v[i].user, FORENSIC_TEXT_MAX) : NULL,
                                             v[i].cmd ? xstrdup_capped (v[i].cmd, FORENSIC_TEXT_MAX) : NULL };
    }
  if (piece_done (inc))
    replace_now (inc);
}

static void
untagged (void *ud, int ret, const lympho_error_t *err)
{
  char *ref = ud;
  if (ret < 0 && ret != -ENOENT)
    log_warn ("forensics retention: untag %s: %s", ref, err->msg);
  free (ref);
}

/* --- forensic image retention: the newest --forensics-keep images of a
 * container's repository, whatever generations they are of (TTL
 * regenerations between incidents leave gaps). */
struct retention
{
  struct daemon *d;
  char *repo;
  unsigned current; /* the generation just committed: kept first */
};

static int
gen_desc (const void *a, const void *b)
{
  unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void
on_tags (void *ud, int ret, const lympho_error_t *err, char *const *v, size_t n)
{
  struct retention *rt = ud;
  struct daemon *d = rt->d;
  if (ret < 0)
    log_warn ("forensics retention: %s", err->msg);
  unsigned *gens = xmalloc0 ((n ? n : 1) * sizeof *gens);
  size_t ng = 0;
  size_t plen = strlen (rt->repo);
  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      /* "<repo>:gen-<N>": lympho's own tags; anything else is left alone. */
      const char *t = v[i] + plen;
      char *end;
      if (strncmp (v[i], rt->repo, plen) != 0 || !str_has_prefix (t, ":gen-") || t[5] < '0' || t[5] > '9')
        continue;
      unsigned long g = strtoul (t + 5, &end, 10);
      if (*end == '\0' && g <= 1000000000ul && (g != rt->current || d->cfg->forensics_keep == 0))
        gens[ng++] = (unsigned) g;
    }
  /* The one just taken counts first (generations start again at 0 for a
   * container recreated under the same name), then the highest others. */
  qsort (gens, ng, sizeof *gens, gen_desc);
  size_t others = d->cfg->forensics_keep ? d->cfg->forensics_keep - 1 : 0;
  for (size_t i = others; i < ng; i++)
    {
      char *old = xasprintf ("%s:gen-%u", rt->repo, gens[i]);
      log_info ("forensics retention: removing %s (%u kept)", old, d->cfg->forensics_keep);
      d->ops->image_remove (d->rt, old, untagged, old);
    }
  free (gens);
  free (rt->repo);
  free (rt);
}

static void
retain (struct daemon *d, const char *repo, unsigned current)
{
  struct retention *rt = xmalloc0 (sizeof *rt);
  rt->d = d;
  rt->repo = xstrdup (repo);
  rt->current = current;
  d->ops->image_tags (d->rt, repo, on_tags, rt);
}

/* Forensic images back off per container: after one is taken, none for
 * forensics-backoff, doubling with each image taken while incidents keep
 * coming, up to an hour (or forensics-backoff, if longer); a quiet spell
 * that long resets it. Quarantine and replacement never wait for it. */
#define FORENSICS_BACKOFF_CAP_MS (3600u * 1000u)

static uint64_t
backoff_max (const struct daemon *d)
{
  uint64_t b = d->cfg->forensics_backoff_ms;
  return b > FORENSICS_BACKOFF_CAP_MS ? b : FORENSICS_BACKOFF_CAP_MS;
}

/* The wait after the streak's next image. */
static uint64_t
backoff_wait (const struct daemon *d, unsigned streak)
{
  uint64_t wait = d->cfg->forensics_backoff_ms, max = backoff_max (d);
  for (unsigned i = 0; i < streak && wait < max; i++)
    wait *= 2;
  return wait < max ? wait : max;
}

/* Whether an image may be taken now; when not, *why says so. */
static bool
forensics_due (const struct daemon *d, struct entry *e, uint64_t now, char **why)
{
  *why = NULL;
  if (d->cfg->forensics_backoff_ms == 0 || e->forensics_next_mono == 0)
    return true;
  if (now >= e->forensics_next_mono + backoff_max (d))
    e->forensics_streak = 0; /* quiet long enough */
  if (now >= e->forensics_next_mono)
    return true;
  *why = xasprintf ("no image: incident backoff (the last image of %s was taken within %llu s; the next no "
                    "sooner than in %llu s)",
                    e->name, (unsigned long long) (backoff_wait (d, e->forensics_streak - 1) / 1000u),
                    (unsigned long long) ((e->forensics_next_mono - now + 999) / 1000u));
  return false;
}

static void
forensics_taken (const struct daemon *d, struct entry *e, uint64_t now)
{
  if (d->cfg->forensics_backoff_ms == 0)
    return;
  e->forensics_next_mono = now + backoff_wait (d, e->forensics_streak);
  if (e->forensics_streak < 32)
    e->forensics_streak++;
}

static void
commit_now (struct incident *inc)
{
  struct daemon *d = inc->d;
  cleanup_free char *repo = xstrdup (inc->forensic_image);
  char *colon = strrchr (repo, ':');
  *colon = '\0';
  struct rt_labels labels = { 0 };
  char when[32];
  snprintf (when, sizeof when, "%llu", (unsigned long long) now_real_ms ());
  rt_labels_set (&labels, "lympho.forensics.container", inc->e->name);
  rt_labels_set (&labels, "lympho.forensics.reason", inc->alert_reason ? inc->alert_reason : "");
  rt_labels_set (&labels, "lympho.forensics.time_ms", when);
  rt_labels_set (&labels, "lympho.forensics.source", inc->source);
  d->ops->commit (d->rt, inc->old_id, repo, colon + 1, &labels, on_committed, inc);
  rt_labels_free (&labels);
  forensics_taken (d, inc->e, now_mono_ms ());
  /* Without a list of images (a plugin that has none): drop the tag that
   * falls out of the window; with one, after the commit (retain). */
  unsigned keep = d->cfg->forensics_keep;
  if (d->ops->image_tags == NULL && inc->generation >= keep)
    {
      char *old = xasprintf ("%s:gen-%u", repo, inc->generation - keep);
      d->ops->image_remove (d->rt, old, untagged, old);
    }
}

/* The writable layer's size is known: an image of it, unless it is over
 * forensics-max-mb. */
static void
on_layer_size (void *ud, int ret, const lympho_error_t *err, int64_t bytes)
{
  struct incident *inc = ud;
  if (inc->cancelled)
    {
      if (piece_done (inc))
        replace_now (inc);
      return;
    }
  uint64_t cap = (uint64_t) inc->d->cfg->forensics_max_mb << 20;
  if (ret < 0 || (uint64_t) bytes > cap)
    {
      inc->forensic_note = ret < 0 ? xasprintf ("no image: the writable layer's size cannot be read (%s)", err->msg)
                                   : xasprintf ("no image: the writable layer is %lld MiB, over forensics-max-mb (%u)",
                                                (long long) (bytes >> 20), inc->d->cfg->forensics_max_mb);
      log_warn ("%s gen=%u step=forensics: %s", inc->e->name, inc->generation, inc->forensic_note);
      free (inc->forensic_image);
      inc->forensic_image = NULL;
      if (piece_done (inc))
        replace_now (inc);
      return;
    }
  commit_now (inc); /* its callback ends this piece */
}

static void
forensics (struct incident *inc)
{
  struct daemon *d = inc->d;
  /* Processes and changes first (they need the container as it is), the
   * commit alongside: the engine pauses it for the commit itself. */
  cleanup_free char *repo = xasprintf ("lympho-forensics/%s", inc->e->name);
  for (char *p = repo; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char) (*p - 'A' + 'a');
  inc->pending += 2;
  d->ops->top (d->rt, inc->old_id, on_top, inc);
  d->ops->changes (d->rt, inc->old_id, on_changes, inc);
  char *why = NULL;
  if (!forensics_due (d, inc->e, now_mono_ms (), &why))
    {
      inc->forensic_note = why;
      log_info ("%s gen=%u step=forensics: %s", inc->e->name, inc->generation, why);
      return;
    }
  inc->forensic_image = xasprintf ("%s:gen-%u", repo, inc->generation);
  inc->pending++;
  /* The size first, where the runtime tells it: a layer over the cap is
   * not committed. */
  if (d->ops->layer_size)
    d->ops->layer_size (d->rt, inc->old_id, on_layer_size, inc);
  else
    commit_now (inc);
}

/* The first stage of quarantine (pause, engine disconnects) is done: keep
 * the evidence, then replace. */
static void
first_stage_done (struct incident *inc)
{
  if (inc->flags & QUARANTINE_FORENSICS)
    forensics (inc);
  if (inc->pending == 0)
    replace_now (inc);
}

static void
on_first_stage (void *ud, int ret, const lympho_error_t *err)
{
  struct incident *inc = ud;
  if (!inc->cancelled && ret < 0)
    log_error ("%s step=quarantine: %s", inc->e->name, err->msg);
  if (piece_done (inc))
    first_stage_done (inc);
}

static bool
engine_can_disconnect (const char *net)
{
  return strcmp (net, "host") != 0 && strcmp (net, "none") != 0 && !str_has_prefix (net, "container:");
}

static void
respond (struct daemon *d, struct entry *e, const char *reason, const char *source, const char *signature,
         const char *alert_reason, int severity, double level, const char *action, uint64_t received_mono)
{
  if (e->incident || e->state != ES_RUNNING || e->id == NULL)
    return; /* already being replaced, or nothing running to replace */
  struct incident *inc = xmalloc0 (sizeof *inc);
  inc->d = d;
  inc->e = e;
  inc->reason = xstrdup (reason);
  inc->source = xstrdup (source);
  inc->signature = xstrdup (signature);
  inc->alert_reason = xstrdup (alert_reason);
  inc->old_id = xstrdup (e->id);
  inc->severity = severity;
  inc->level = level;
  inc->action = action;
  inc->generation = e->generation;
  inc->received_mono = received_mono;
  inc->cut_ms = -1;
  inc->flags = e->policy.quarantine;
  e->incident = inc;
  /* The intent first: a stop of lymphd from here on leaves it open, and
   * the next lymphd replaces this generation (incident_resume). */
  inc->txn = regen_new_txn_id ();
  struct txn t = { .txn = inc->txn, .name = e->name, .old_id = e->id, .generation = e->generation,
                   .reason = (char *) reason, .keep_old_down = true, .incident = true };
  lympho_error_t jerr = { 0 };
  if (journal_begin (d->journal, &t, &jerr) < 0)
    {
      log_error ("%s: journal: %s (a stop of lymphd before the replacement would lose this incident)", e->name,
                 jerr.msg);
      free (inc->txn);
      inc->txn = NULL;
    }

  lympho_error_t err = { 0 };
  if (signature && memory_remember (&d->memory, signature, e->name, e->policy.group, now_real_ms (), &err) < 0)
    log_error ("%s: immune memory: %s", e->name, err.msg);

  const char *shared_net = NULL;
  for (size_t i = 0; i < e->n_networks && !shared_net; i++)
    if (str_has_prefix (e->networks[i], "container:"))
      shared_net = e->networks[i] + strlen ("container:");
  if ((inc->flags & QUARANTINE_NETWORK) && e->regen == NULL && shared_net)
    {
      /* Its network is another container's: a cut would reach that one. */
      inc->cut_detail = xasprintf ("shares the network namespace of container %.12s: not cut (the cut would reach "
                                   "that container too), paused instead",
                                   shared_net);
      log_warn ("%s gen=%u step=quarantine-network: %s", e->name, e->generation, inc->cut_detail);
      inc->flags |= QUARANTINE_PAUSE;
    }
  else if ((inc->flags & QUARANTINE_NETWORK) && e->regen == NULL)
    {
      char *names = NULL;
      int n = e->pid > 0 ? quarantine_cut_network (e->pid, &names, &err) : 0;
      if (n > 0)
        {
          inc->cut_ms = (int64_t) (now_mono_ms () - received_mono);
          metrics_observe (&d->metrics.alert_to_cut_seconds, (double) inc->cut_ms / 1000.0);
          log_info ("%s gen=%u step=quarantine-network cut=%s after %lld ms", e->name, e->generation, names,
                    (long long) inc->cut_ms);
          /* A second interface the cut cannot reach (macvlan, ipvlan):
           * not half cut, paused as well. */
          cleanup_free char *others = NULL;
          lympho_error_t uerr = { 0 };
          int nu = quarantine_uncuttable (e->pid, &others, &uerr);
          if (nu != 0)
            {
              inc->cut_detail = nu > 0 ? xasprintf ("network cut: %s set down; %s cannot be cut (not a veth to the "
                                                    "host): paused as well", names, others)
                                       : xasprintf ("network cut: %s set down; its other interfaces cannot be "
                                                    "read (%s): paused as well", names, uerr.msg);
              log_warn ("%s gen=%u step=quarantine-network: %s", e->name, e->generation, inc->cut_detail);
              inc->flags |= QUARANTINE_PAUSE;
            }
          else
            inc->cut_detail = xasprintf ("network cut: %s set down", names);
        }
      else
        {
          /* No veth to cut (host or none network, macvlan, or the cut
           * failed): disconnect it through the engine where it has networks
           * the engine can take away, and freeze it as well, so it cannot act
           * until it is replaced. */
          size_t nd = 0;
          for (size_t i = 0; i < e->n_networks; i++)
            nd += engine_can_disconnect (e->networks[i]);
          const char *why = n == 0 ? "no veth to cut" : err.msg;
          inc->cut_detail = nd > 0 ? xasprintf ("%s: disconnected through the engine and paused", why)
                                   : xasprintf ("%s (host or none network): paused instead", why);
          log_warn ("%s gen=%u step=quarantine-network: %s", e->name, e->generation, inc->cut_detail);
          inc->flags |= QUARANTINE_PAUSE;
          if (e->regen == NULL)
            for (size_t i = 0; i < e->n_networks; i++)
              if (engine_can_disconnect (e->networks[i]))
                {
                  inc->pending++;
                  d->ops->network_disconnect (d->rt, inc->old_id, e->networks[i], on_first_stage, inc);
                }
        }
      free (names);
    }
  if (e->regen)
    {
      /* A regeneration is already replacing it; remember the incident with it. */
      return;
    }
  if (inc->flags & QUARANTINE_PAUSE)
    {
      inc->pending++;
      d->ops->pause (d->rt, inc->old_id, on_first_stage, inc);
    }
  if (inc->pending == 0)
    first_stage_done (inc);
}

/* --- alerts ---------------------------------------------------------- */

static bool
firing_add (struct entry *e, const char *fp)
{
  for (size_t i = 0; i < e->n_firing; i++)
    if (strcmp (e->firing[i], fp) == 0)
      return false;
  /* Bounded: a flood of distinct fingerprints forgets the oldest. */
  if (e->n_firing == 256)
    {
      free (e->firing[0]);
      memmove (e->firing, e->firing + 1, 255 * sizeof *e->firing);
      e->n_firing--;
    }
  e->firing = xrealloc (e->firing, (e->n_firing + 1) * sizeof *e->firing);
  e->firing[e->n_firing++] = xstrdup (fp);
  return true;
}

static void
shorten (struct daemon *d, struct entry *e, double level)
{
  if (e->state != ES_RUNNING || e->regen || e->queued)
    return;
  uint64_t eff = threat_effective_ttl (e->policy.ttl_ms, level);
  uint64_t now = now_real_ms ();
  uint64_t age = e->started_real_ms && e->started_real_ms < now ? now - e->started_real_ms : 0;
  uint64_t left = eff > age ? eff - age : 0;
  if (e->due_mono == 0 || left < d->act->remaining_ms (d, e))
    d->act->regenerate_in (d, e, left);
}

static void
record_only (struct daemon *d, struct entry *e, const struct alert *a, const char *reason, const char *sig,
             double level, const char *action)
{
  struct history_entry h = {
    .name = e->name, .kind = "incident", .result = "ok", .generation = e->generation, .new_id = e->id,
    .reason = reason, .duration_ms = -1, .source = alert_source_name (a->source), .severity = a->severity,
    .threat_level = level, .signature = sig, .action = action, .cut_ms = -1, .replaced_ms = -1,
  };
  d->act->record (d, &h);
}

/* Observed: the incident as it would have been answered, recorded and
 * counted; the pattern is remembered as it would be; nothing is touched. */
static void
observe_incident (struct daemon *d, struct entry *e, const struct alert *a, const char *reason, const char *sig,
                  double level, const char *action)
{
  lympho_error_t err = { 0 };
  if (sig && memory_remember (&d->memory, sig, e->name, e->policy.group, now_real_ms (), &err) < 0)
    log_error ("%s: immune memory: %s", e->name, err.msg);
  metrics_inc (&d->metrics, "lympho_observed_total", "container", e->name, "action", action, NULL);
  /* Nothing is replaced, so the same finding comes again (a program run
   * each second): recorded once per generation, counted each time. */
  if (sig && e->observed_sig && e->observed_gen == e->generation && strcmp (e->observed_sig, sig) == 0)
    {
      log_debug ("%s gen=%u: observe: %s again (level %.2f)", e->name, e->generation, reason, level);
      return;
    }
  free (e->observed_sig);
  e->observed_sig = sig ? xstrdup (sig) : NULL;
  e->observed_gen = e->generation;
  unsigned q = e->policy.quarantine;
  cleanup_free char *would = xasprintf ("would have %s%s%sregenerated: %s",
                                        (q & QUARANTINE_NETWORK) ? "cut its network, " : "",
                                        (q & QUARANTINE_PAUSE) ? "paused it, " : "",
                                        (q & QUARANTINE_FORENSICS) ? "kept forensics, " : "", reason);
  log_warn ("%s gen=%u: observe: %s (level %.2f, threshold %u)", e->name, e->generation, would, level,
            e->policy.threshold);
  struct history_entry h = {
    .name = e->name, .kind = "incident", .result = "observed", .generation = e->generation, .old_id = e->id,
    .reason = would, .duration_ms = -1, .source = alert_source_name (a->source), .severity = a->severity,
    .threat_level = level, .signature = sig, .action = action, .cut_ms = -1, .replaced_ms = -1,
  };
  d->act->record (d, &h);
}

/* Raise one container's level; respond when it reaches the threshold. */
static const char *
raise_level (struct daemon *d, struct entry *e, const struct alert *a, const char *sig, double severity,
             bool remembered, uint64_t received_mono, const char *why)
{
  uint64_t now = now_real_ms ();
  double level = threat_add (&e->threat, severity, now, d->cfg->threat_half_life_ms);
  const char *action;
  /* Says where it came from when it is not this container's own alert. */
  bool own = strcmp (why, "alert") == 0 || strcmp (why, "immune memory") == 0;
  cleanup_free char *told = own ? xstrdup (a->reason)
                                : xasprintf ("%s%s%s", why, a->reason ? ": " : "", a->reason ? a->reason : "");
  if (e->incident || e->regen)
    {
      /* A fresh generation is already on its way: the alert most likely
       * describes the one being replaced. Recorded, not acted on twice. */
      action = "absorbed";
      record_only (d, e, a, told, sig, level, action);
    }
  else if (remembered || threat_reached (level, e->policy.threshold))
    {
      action = remembered ? "memory" : "regenerate";
      /* A threshold crossing: for people (the fleet's routes page on it),
       * never a warning to other nodes. */
      struct fleet_event fe = { FLEET_ALERT_THRESHOLD, e->name, e->policy.group, a->severity, level,
                                alert_source_name (a->source), told, action };
      fleet_send (d->fleet, &fe, now_real_ms ());
      cleanup_free char *reason = xasprintf ("%s: %s%s%s", why, alert_source_name (a->source),
                                             a->reason ? ": " : "", a->reason ? a->reason : "");
      if (entry_observed (d, e))
        {
          observe_incident (d, e, a, reason, sig, level, action);
          return "observed";
        }
      /* A swarm task brought to its threshold by its group (a sibling's
       * incident, another node's): the whole service is regenerated, by
       * the swarm's own rolling update, as its update config says, where
       * this node manages the swarm. Its own alert answers it alone. */
      if (!own && e->swarm)
        {
          lympho_error_t rerr = { 0 };
          int r = services_roll (d, e->swarm->service_id, e->swarm->service, reason, &rerr);
          if (r >= 0)
            {
              action = r ? "rolling-update" : "absorbed";
              log_warn ("%s gen=%u: %s (level %.2f, threshold %u) -> service %s %s", e->name, e->generation, reason,
                        level, e->policy.threshold, e->swarm->service,
                        r ? "regenerated as a whole (forced rolling update)" : "already regenerating as a whole");
              record_only (d, e, a, told, sig, level, action);
              return action;
            }
          log_info ("%s: service %s not rolled as a whole: %s; its task alone is regenerated", e->name,
                    e->swarm->service, rerr.msg);
        }
      log_warn ("%s gen=%u: %s (level %.2f, threshold %u) -> quarantine and regenerate", e->name, e->generation,
                reason, level, e->policy.threshold);
      if (e->incident == NULL && e->state == ES_RUNNING)
        respond (d, e, reason, alert_source_name (a->source), sig, told, a->severity, level, action,
                 received_mono);
      else
        record_only (d, e, a, told, sig, level, action);
    }
  else
    {
      action = level > 0 ? "shortened-ttl" : "none";
      shorten (d, e, level);
      record_only (d, e, a, told, sig, level, action);
    }
  return action;
}

/* Another node's incident, through Alertmanager (fleet.h): a share of its
 * severity to each member of its group here, as a group warning from this
 * node would be. Never sent on (only a node's own incidents are), so it
 * cannot echo round the fleet; this node's own, coming back, is not
 * counted twice. */
static int
fleet_warning (struct daemon *d, const struct alert *a, uint64_t received_mono, char **action)
{
  const char *src = alert_source_name (a->source);
  if (d->fleet && strcmp (a->node, fleet_node (d->fleet)) == 0)
    {
      fleet_count_received (d->fleet, true);
      metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "own", NULL);
      *action = xstrdup ("own");
      return 0;
    }
  if (d->fleet && !fleet_first_seen (d->fleet, a->fingerprint, now_mono_ms ()))
    {
      metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "duplicate", NULL);
      *action = xstrdup ("duplicate");
      return 0;
    }
  if (d->fleet)
    fleet_count_received (d->fleet, false);
  metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "fleet", NULL);
  cleanup_free char *sig = alert_signature (a);
  cleanup_free char *why = xasprintf ("fleet warning from %s", a->node);
  unsigned n = 0;
  if (a->severity > 0 && d->cfg->group_share > 0)
    DAEMON_EACH (x, d)
      {
        if (x->golden.name == NULL || x->policy.group == NULL || strcmp (x->policy.group, a->group) != 0)
          continue;
        raise_level (d, x, a, sig, d->cfg->group_share * a->severity, false, received_mono, why);
        n++;
      }
  log_info ("fleet: incident on %s (group %s, severity %d): %u member%s warned here", a->node, a->group, a->severity,
            n, n == 1 ? "" : "s");
  *action = xstrdup (n ? "group-warned" : "no-member");
  return 0;
}

int
incident_alert (struct daemon *d, const struct alert *a, uint64_t received_mono, char **action, lympho_error_t *err)
{
  const char *src = alert_source_name (a->source);
  if (a->node)
    return fleet_warning (d, a, received_mono, action);
  struct entry *e = d->act->lookup (d, a->container);
  if (e == NULL || e->golden.name == NULL)
    {
      metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "unknown-container", NULL);
      return lympho_error_set (err, ENOENT, "no protected container `%s`", a->container);
    }
  if (a->fingerprint && !firing_add (e, a->fingerprint))
    {
      metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "duplicate", NULL);
      *action = xstrdup ("duplicate");
      return 0;
    }
  metrics_inc (&d->metrics, "lympho_alerts_total", "source", src, "result", "accepted", NULL);
  cleanup_free char *sig = alert_signature (a);
  bool remembered = memory_recall (&d->memory, sig, e->name, e->policy.group, now_real_ms (),
                                   d->cfg->memory_window_ms);
  const char *act = raise_level (d, e, a, sig, a->severity, remembered, received_mono, remembered ? "immune memory" : "alert");
  metrics_inc (&d->metrics, "lympho_incidents_total", "container", e->name, "source", src, "action", act, NULL);
  *action = xstrdup (act);
  /* The fleet hears of this node's own incidents (not of the warnings
   * they cause here). */
  struct fleet_event fe = { FLEET_ALERT_INCIDENT, e->name, e->policy.group, a->severity,
                            threat_level (&e->threat, now_real_ms (), d->cfg->threat_half_life_ms), src,
                            a->reason, act };
  fleet_send (d->fleet, &fe, now_real_ms ());

  /* Warn the group: a share of the severity, no further echo. */
  if (e->policy.group && a->severity > 0 && d->cfg->group_share > 0)
    DAEMON_EACH (x, d)
      {
        if (x == e || x->golden.name == NULL || x->policy.group == NULL || strcmp (x->policy.group, e->policy.group) != 0)
          continue;
        cleanup_free char *why = xasprintf ("group warning from %s", e->name);
        raise_level (d, x, a, sig, d->cfg->group_share * a->severity, false, received_mono, why);
      }
  return 0;
}

char *
incident_metrics (struct daemon *d)
{
  struct buf b;
  buf_init (&b);
  unsigned n = 0;
  DAEMON_EACH (e, d)
    n += e->golden.name != NULL;
  buf_printf (&b, "# HELP lympho_protected_containers Containers under protection.\n"
                  "# TYPE lympho_protected_containers gauge\nlympho_protected_containers %u\n", n);
  buf_printf (&b, "# HELP lympho_engine_up Whether the container engine answers.\n"
                  "# TYPE lympho_engine_up gauge\nlympho_engine_up %d\n", d->connected ? 1 : 0);
  buf_appends (&b, "# HELP lympho_threat_level Current threat level by container.\n"
                   "# TYPE lympho_threat_level gauge\n");
  uint64_t now = now_real_ms ();
  DAEMON_EACH (e, d)
    {
      if (e->golden.name == NULL)
        continue;
      buf_appends (&b, "lympho_threat_level{container=\"");
      metrics_escape (&b, e->name);
      buf_printf (&b, "\"} %g\n", threat_level (&e->threat, now, d->cfg->threat_half_life_ms));
    }
  buf_appends (&b, "# HELP lympho_generation Current generation by container.\n# TYPE lympho_generation gauge\n");
  DAEMON_EACH (e, d)
    {
      if (e->golden.name == NULL)
        continue;
      buf_appends (&b, "lympho_generation{container=\"");
      metrics_escape (&b, e->name);
      buf_printf (&b, "\"} %u\n", e->generation);
    }
  metrics_render (&d->metrics, &b);
  return buf_steal (&b);
}
