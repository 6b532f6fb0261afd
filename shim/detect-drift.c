/* lympho — the drift detector: the engine's change list of the writable
 * layer every lympho.drift.interval, staggered across containers (unless
 * the layer, read by lymphd, is as the last list found it: layer.h), judged
 * against the image's start-up set (what a fresh generation writes while it
 * starts, learned once per image and name). May call: drift, the runtime's
 * changes and inspect, layer, incident (detect_incident). */
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
#include "lympho/layer.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/procwatch.h"
#include "lympho/sched.h"
#include "lympho/util.h"
#include "detect-int.h"


/* --- drift ----------------------------------------------------------- */

/* How often an adopted generation that is still `starting` is looked at
 * again, and a start-up check that found the engine away is tried again. A
 * generation starting for longer than health-timeout has its window closed
 * anyway (the health detector acts on it). */
#define STARTUP_HEALTH_POLL_MS 1000

struct drift_image
{
  char *image_id;
  char *name;               /* one image run under two names may write different files at start */
  char *key;                /* "<name>/<image id>": its key in d->drift_index */
  struct drift_set set;
  bool learned;
  bool over_cap;            /* a fresh generation changed more than DRIFT_SET_MAX paths */
  SLIST_ENTRY (drift_image) link;
};

/* The start-up set of e's image for e's name, from memory or disk (not
 * learned: empty); NULL when e has no image yet. */
static struct drift_image *
drift_image_get (struct daemon *d, const struct entry *e)
{
  const char *image_id = e->golden.image_id;
  if (image_id == NULL)
    return NULL;
  /* Asked at every check and every ls, of every container: by its key,
   * not by walking the sets (a name holds no '/'). */
  cleanup_free char *key = xasprintf ("%s/%s", e->name, image_id);
  struct drift_image *i = strmap_get (&d->drift_index, key);
  if (i)
    return i;
  i = xmalloc0 (sizeof *i);
  i->image_id = xstrdup (image_id);
  i->name = xstrdup (e->name);
  i->key = steal_pointer (&key);
  lympho_error_t err = { 0 };
  int ret = drift_set_load (d->cfg->state_dir, image_id, e->name, &i->set, &err);
  if (ret < 0 && ret != -ENOENT)
    {
      /* Not trusted in part, and kept for the operator: out of the way,
       * so that what is learned again is saved in its place. */
      cleanup_free char *path = allow_learned_file (d->cfg->state_dir, image_id, ".drift.json");
      cleanup_free char *to = NULL;
      int mv = move_aside (path, &to);
      log_error ("%s: %s (%s%s; learning it again from the next generation lympho starts)", e->name, err.msg,
                 mv == 0 ? "moved to " : "cannot move it aside: ", mv == 0 ? to : strerror (-mv));
    }
  i->learned = ret == 0;
  SLIST_INSERT_HEAD (&d->drift_images, i, link);
  strmap_put (&d->drift_index, i->key, i);
  return i;
}

/* No start-up set at all (lympho.drift.learn=0s): every change is judged. */
static bool
drift_strict (const struct entry *e)
{
  return e->policy.drift_learn_set && e->policy.drift_learn_ms == 0;
}

static struct entry *
entry_by_name_id (struct daemon *d, const char *name, const char *id)
{
  struct entry *e = d->act->by_name (d, name);
  return e && e->id && strcmp (e->id, id) == 0 ? e : NULL;
}

static void drift_arm (struct daemon *d, struct entry *e, uint64_t delay);

/* Judge a change list and act: an incident where the image's start-up set
 * is known (or none is wanted), a report otherwise. */
static void
drift_verdict (struct daemon *d, struct entry *e, const struct rt_change *v, size_t n)
{
  struct drift_image *img = drift_image_get (d, e);
  bool strict = drift_strict (e);
  const struct drift_set *startup = !strict && img && img->learned ? &img->set : NULL;
  bool enforce = strict || startup != NULL;
  /* The generation that is teaching its image is not judged by it. */
  if (!enforce && e->det.drift_fresh && !e->det.startup_over && img && !img->over_cap)
    return;
  cleanup_close int root_fd = startup && e->det.startup_over && e->pid > 0 ? drift_root_open (e->pid) : -1;
  struct drift_rules r = {
    .allow = e->policy.drift_allow,
    .n_allow = e->policy.n_drift_allow,
    .mounts = e->mounts,
    .n_mounts = e->n_mounts,
    .startup = startup,
    .stamps = startup && e->det.startup_over ? &e->det.stamps : NULL,
    .root_fd = root_fd,
  };
  cleanup_free struct drift_finding *f = NULL;
  size_t nf = drift_judge (&r, v, n, &f);
  if (nf == 0)
    return;
  cleanup_free char *paths = drift_findings_text (f, nf, 5);
  if (enforce)
    {
      cleanup_free char *reason = xasprintf ("files changed outside the allowed paths: %s", paths);
      log_warn ("%s gen=%u: drift: %zu path%s: %s", e->name, e->generation, nf, nf == 1 ? "" : "s", paths);
      detect_incident (d, e, ALERT_SRC_DRIFT, reason, NULL, f[0].path, now_mono_ms ());
      return;
    }
  /* Detect only: said once per generation for each different finding. */
  if (e->det.drift_reported && strcmp (e->det.drift_reported, paths) == 0)
    return;
  free (e->det.drift_reported);
  e->det.drift_reported = xstrdup (paths);
  cleanup_free char *why
      = img && img->over_cap
            ? xasprintf ("image %.19s changes more than %d paths at start-up; name them in %s", img->image_id,
                         DRIFT_SET_MAX, LABEL_DRIFT_ALLOW)
        : !e->det.drift_fresh
            ? xasprintf ("lympho did not start this generation; the start-up set of image %.19s is learned from "
                         "the first one it starts",
                         e->golden.image_id ? e->golden.image_id : "(unknown)")
            : xasprintf ("the start-up set of image %.19s is not learned yet",
                         e->golden.image_id ? e->golden.image_id : "(unknown)");
  cleanup_free char *reason = xasprintf ("drift, detect only (%s): %s", why, paths);
  log_warn ("%s gen=%u: drift, detect only (%s): %zu path%s: %s", e->name, e->generation, why, nf,
            nf == 1 ? "" : "s", paths);
  struct history_entry h = {
    HISTORY_NO_INCIDENT, .name = e->name, .kind = "detect", .result = "ok", .generation = e->generation,
    .old_id = e->id, .reason = reason, .duration_ms = -1, .source = alert_source_name (ALERT_SRC_DRIFT),
    .action = "none",
  };
  d->act->record (d, &h);
}

/* One question to the engine about a container's files. Kept on the
 * daemon's list until answered: at shutdown the runtime drops what is in
 * flight without an answer, and detect_drift_close frees what is left. */
struct drift_check
{
  struct daemon *d;
  LIST_ENTRY (drift_check) link;
  char *name;
  char *id;
  int pid;
};

static void
drift_check_free (struct drift_check *dc)
{
  LIST_REMOVE (dc, link);
  free (dc->name);
  free (dc->id);
  free (dc);
}

static struct drift_check *
drift_check_new (struct daemon *d, struct entry *e)
{
  struct drift_check *dc = xmalloc0 (sizeof *dc);
  dc->d = d;
  dc->name = xstrdup (e->name);
  dc->id = xstrdup (e->id);
  LIST_INSERT_HEAD (&d->drift_checks, dc, link);
  return dc;
}

/* Failed drift checks in a row that make an incident. */
#define DRIFT_FAILURES_MAX 3
/* Checks in a row answered by an unchanged writable layer: the engine is
 * asked at least every DRIFT_QUIET_MAX + 1 intervals whatever the layer
 * says. */
#define DRIFT_QUIET_MAX 9

static bool
judgeable (const struct daemon *d, const struct entry *e)
{
  return e->state == ES_RUNNING && !e->regen && !e->incident && e->id != NULL && d->connected;
}

/* The runtime cannot list changes: said once, not once per container per
 * interval, and no check is armed again. */
static void
drift_unsupported (struct daemon *d, const lympho_error_t *err)
{
  if (!d->no_changes)
    log_warn ("drift checks are off: the runtime cannot list a container's changes (%s)", err->msg);
  d->no_changes = true;
}

/* What a verdict depends on besides the change list and the files it
 * names: the image's start-up set learned or not, the window over, the
 * generation lympho's own. */
static uint64_t
verdict_ctx (struct daemon *d, struct entry *e)
{
  struct drift_image *img = drift_image_get (d, e);
  return (uint64_t) (img && img->learned) | (uint64_t) (img && img->over_cap) << 1
         | (uint64_t) e->det.startup_over << 2 | (uint64_t) e->det.drift_fresh << 3 | (uint64_t) drift_strict (e) << 4;
}

/* Answered without the engine: the layer, and what the verdict depends
 * on, are as the last check found them. */
static bool
layer_unchanged (struct daemon *d, struct entry *e, uint64_t *digest, bool *have)
{
  *have = e->upper_dir && layer_digest (e->upper_dir, digest) == 0;
  return *have && e->det.layer_known && *digest == e->det.layer_digest && verdict_ctx (d, e) == e->det.layer_ctx
         && e->det.layer_quiet < DRIFT_QUIET_MAX;
}

static void
on_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  struct drift_check *dc = ud;
  struct daemon *d = dc->d;
  struct entry *e = d->act->by_name (d, dc->name);
  if (e)
    e->det.drift_in_flight = false;
  bool same = e && e->id && strcmp (e->id, dc->id) == 0;
  if (e && ret == 0 && same && judgeable (d, e))
    {
      e->det.drift_failures = 0;
      drift_verdict (d, e, v, n);
      /* The layer as it was asked is what this verdict holds for, while
       * nothing it depends on moved meanwhile. */
      uint64_t ctx = verdict_ctx (d, e);
      e->det.layer_known = e->det.layer_asked && !e->incident && ctx == e->det.layer_asked_ctx;
      e->det.layer_digest = e->det.layer_asked_digest;
      e->det.layer_ctx = ctx;
      e->det.layer_quiet = 0;
    }
  else if (ret == -ENOTSUP)
    drift_unsupported (d, err);
  else if (e && ret < 0 && ret != -ENOENT && same && judgeable (d, e))
    {
      /* Fails closed: a layer too large to list (an intruder can make one)
       * is an incident at once, any other failure after a few in a row
       * while the engine answers. */
      e->det.drift_failures++;
      if (ret == -EFBIG || e->det.drift_failures >= DRIFT_FAILURES_MAX)
        {
          e->det.drift_failures = 0;
          cleanup_free char *reason = xasprintf ("drift check could not run: %s", err->msg);
          log_warn ("%s gen=%u: %s", e->name, e->generation, reason);
          detect_incident (d, e, ALERT_SRC_DRIFT, reason, NULL, NULL, now_mono_ms ());
        }
      else
        log_warn ("%s: drift check: %s (%u in a row; an incident at %d)", e->name, err->msg, e->det.drift_failures,
                  DRIFT_FAILURES_MAX);
    }
  else if (e && ret < 0 && ret != -ENOENT)
    log_warn ("%s: drift check: %s", e->name, err->msg);
  if (e && e->det.drift_timer == 0)
    drift_arm (d, e, e->policy.drift_interval_ms);
  drift_check_free (dc);
}

static void
on_drift_timer (struct loop *l, void *ud)
{
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->det.drift_timer = 0;
  if (!judgeable (d, e) || e->det.drift_in_flight)
    {
      drift_arm (d, e, e->policy.drift_interval_ms);
      return;
    }
  uint64_t digest = 0;
  bool have = false;
  if (layer_unchanged (d, e, &digest, &have))
    {
      e->det.layer_quiet++;
      e->det.drift_unchanged++;
      drift_arm (d, e, e->policy.drift_interval_ms);
      return;
    }
  /* Taken before the engine walks the layer: what changes after is seen
   * by the next check. */
  e->det.layer_known = false;
  e->det.layer_asked = have;
  e->det.layer_asked_digest = digest;
  e->det.layer_asked_ctx = verdict_ctx (d, e);
  e->det.drift_asked++;
  e->det.drift_in_flight = true;
  d->ops->changes (d->rt, e->id, on_changes, drift_check_new (d, e));
}

static void
drift_arm (struct daemon *d, struct entry *e, uint64_t delay)
{
  if (e->det.drift_timer)
    loop_cancel_timer (d->loop, e->det.drift_timer);
  e->det.drift_timer = d->shutting_down || d->no_changes ? 0 : loop_add_timer (d->loop, delay, on_drift_timer, e);
}

/* --- the start-up window ---------------------------------------------- */

static void startup_arm (struct daemon *d, struct entry *e, uint64_t delay);

/* A learned start-up set as a history entry's detail. */
static void
gen_set (json_gen g, const void *set)
{
  drift_set_gen (g, set);
}

/* Learn the image's start-up set from a fresh generation's changes. */
static void
startup_learn (struct daemon *d, struct entry *e, struct drift_image *img, const struct rt_change *v, size_t n)
{
  struct drift_set set = { 0 };
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (!drift_ignored (v[i].path, e->policy.drift_allow, e->policy.n_drift_allow, e->mounts, e->n_mounts))
      {
        count++;
        if (count <= DRIFT_SET_MAX)
          drift_set_add (&set, v[i].kind, v[i].path);
      }
  if (count > DRIFT_SET_MAX)
    {
      drift_set_free (&set);
      img->over_cap = true;
      log_warn ("%s gen=%u: image %.19s changes %zu paths at start-up, more than %d: its start-up set is not "
                "learned and drift stays detect only; name the paths it writes in %s",
                e->name, e->generation, img->image_id, count, DRIFT_SET_MAX, LABEL_DRIFT_ALLOW);
      return;
    }
  set.learned_at_ms = now_real_ms ();
  set.name = xstrdup (e->name);
  set.from_generation = e->generation;
  drift_set_free (&img->set);
  img->set = set;
  img->learned = true;
  img->over_cap = false;
  lympho_error_t err = { 0 };
  if (drift_set_save (d->cfg->state_dir, img->image_id, &img->set, &err) < 0)
    log_error ("%s: start-up set of image %.19s: %s (kept in memory only)", e->name, img->image_id, err.msg);
  struct drift_finding *f = xmalloc0 ((img->set.n ? img->set.n : 1) * sizeof *f);
  for (size_t i = 0; i < img->set.n; i++)
    f[i] = (struct drift_finding){ img->set.v[i].kind, img->set.v[i].path, DRIFT_WHY_OUTSIDE };
  cleanup_free char *paths = drift_findings_text (f, img->set.n, 5);
  free (f);
  cleanup_free char *reason = xasprintf ("start-up set of image %.19s learned: %zu path%s%s%s", img->image_id,
                                         img->set.n, img->set.n == 1 ? "" : "s", img->set.n ? ": " : "", paths);
  log_info ("%s gen=%u: %s", e->name, e->generation, reason);
  struct history_entry h = {
    HISTORY_NO_INCIDENT, .name = e->name, .kind = "learn", .result = "ok", .generation = e->generation,
    .new_id = e->id, .reason = reason, .duration_ms = -1, .source = alert_source_name (ALERT_SRC_DRIFT),
    .detail = gen_set, .detail_arg = &img->set,
  };
  d->act->record (d, &h);
}

static void
on_startup_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  struct drift_check *dc = ud;
  struct daemon *d = dc->d;
  struct entry *e = entry_by_name_id (d, dc->name, dc->id);
  if (e)
    e->det.startup_in_flight = false;
  if (e == NULL || !judgeable (d, e))
    ; /* gone or going: its successor starts a window of its own */
  else if (ret == -ENOTSUP)
    drift_unsupported (d, err);
  else if (ret < 0)
    {
      log_warn ("%s: start-up check: %s (trying again)", e->name, err->msg);
      startup_arm (d, e, e->policy.drift_interval_ms);
    }
  else
    {
      struct drift_image *img = drift_image_get (d, e);
      if (img && !img->learned && e->det.drift_fresh)
        startup_learn (d, e, img, v, n);
      /* Judged before the stamps are taken: stamps compared with
       * themselves would find nothing. */
      drift_verdict (d, e, v, n);
      if (img && img->learned)
        {
          cleanup_close int root_fd = dc->pid > 0 ? drift_root_open (dc->pid) : -1;
          if (root_fd < 0)
            log_warn ("%s gen=%u: cannot look into its file system (%s): its start-up files are not "
                      "compared after the window, only changes outside them are drift",
                      e->name, e->generation, strerror (-root_fd));
          drift_stamps_free (&e->det.stamps);
          drift_stamps_take (root_fd, &img->set, &e->det.stamps);
        }
      e->det.startup_over = true;
    }
  drift_check_free (dc);
}

static void
on_startup_inspect (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c)
{
  struct drift_check *dc = ud;
  struct daemon *d = dc->d;
  struct entry *e = entry_by_name_id (d, dc->name, dc->id);
  if (e == NULL || !judgeable (d, e))
    {
      if (e)
        e->det.startup_in_flight = false;
      drift_check_free (dc);
      return;
    }
  if (ret < 0)
    {
      e->det.startup_in_flight = false;
      if (ret != -ENOENT)
        {
          log_warn ("%s: start-up check: %s (trying again)", e->name, err->msg);
          startup_arm (d, e, e->policy.drift_interval_ms);
        }
      drift_check_free (dc);
      return;
    }
  /* "Until healthy": a generation lympho started was healthy before it was
   * committed; an adopted one may still be starting. */
  uint64_t age = now_real_ms () - (e->started_real_ms ? e->started_real_ms : now_real_ms ());
  if (c->health == RT_HEALTH_STARTING && age < d->cfg->health_timeout_ms)
    {
      e->det.startup_in_flight = false;
      startup_arm (d, e, STARTUP_HEALTH_POLL_MS);
      drift_check_free (dc);
      return;
    }
  dc->pid = c->pid;
  if (c->pid > 0)
    e->pid = c->pid;
  strv_free (e->mounts, e->n_mounts);
  e->mounts = strv_dup (c->mounts, c->n_mounts);
  e->n_mounts = c->n_mounts;
  d->ops->changes (d->rt, dc->id, on_startup_changes, dc);
}

static void
on_startup_timer (struct loop *l, void *ud)
{
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->det.startup_timer = 0;
  if (e->regen || e->incident || e->state == ES_STOPPED || e->id == NULL)
    return; /* this generation is going away */
  if (!judgeable (d, e) || e->det.startup_in_flight)
    {
      startup_arm (d, e, STARTUP_HEALTH_POLL_MS);
      return;
    }
  e->det.startup_in_flight = true;
  d->ops->inspect (d->rt, e->id, on_startup_inspect, drift_check_new (d, e));
}

static void
startup_arm (struct daemon *d, struct entry *e, uint64_t delay)
{
  if (e->det.startup_timer)
    loop_cancel_timer (d->loop, e->det.startup_timer);
  e->det.startup_timer = d->shutting_down || d->no_changes ? 0 : loop_add_timer (d->loop, delay, on_startup_timer, e);
}

/* The start-up window of a generation: lympho.drift.learn, else until it is
 * healthy where it has a health check, else one drift interval; never more
 * than half its TTL, so that a generation can teach before it is replaced. */
static uint64_t
startup_window_ms (const struct entry *e)
{
  uint64_t w = e->policy.drift_learn_set      ? e->policy.drift_learn_ms
               : e->golden.has_healthcheck ? 0
                                             : e->policy.drift_interval_ms;
  return w < e->policy.ttl_ms / 2 ? w : e->policy.ttl_ms / 2;
}

static void
startup_reset (struct daemon *d, struct entry *e)
{
  if (e->det.startup_timer)
    loop_cancel_timer (d->loop, e->det.startup_timer);
  e->det.startup_timer = 0;
  e->det.startup_over = false;
  drift_stamps_free (&e->det.stamps);
  free (e->det.drift_reported);
  e->det.drift_reported = NULL;
}

void
detect_drift_started (struct daemon *d, struct entry *e, bool fresh)
{
  startup_reset (d, e);
  e->det.layer_known = false;
  e->det.layer_asked = false;
  e->det.layer_quiet = 0;
  e->det.drift_asked = 0;
  e->det.drift_unchanged = 0;
  e->det.drift_fresh = fresh;
  if (drift_strict (e))
    e->det.startup_over = true;
  else if (e->policy.drift_interval_ms > 0)
    {
      uint64_t end = e->started_real_ms + startup_window_ms (e), now = now_real_ms ();
      startup_arm (d, e, end > now ? end - now : 0);
    }
  /* Staggered: the first check falls anywhere in the first interval, so a
   * fleet's checks spread out. */
  if (e->det.drift_timer == 0 && e->policy.drift_interval_ms > 0)
    drift_arm (d, e, (uint64_t) ((double) e->policy.drift_interval_ms * (0.5 + random_unit () / 2)));
}

void
detect_drift_entry_free (struct daemon *d, struct entry *e)
{
  if (e->det.drift_timer)
    loop_cancel_timer (d->loop, e->det.drift_timer);
  e->det.drift_timer = 0;
  startup_reset (d, e);
}

void
detect_drift_gen (struct daemon *d, struct entry *e, json_gen g)
{
  struct drift_image *img = drift_image_get (d, e);
  bool strict = drift_strict (e);
  json_gen_str (g, "drift");
  json_gen_map_open (g);
  json_gen_kint (g, "interval_s", (int64_t) (e->policy.drift_interval_ms / 1000));
  /* Checks of this generation: asked of the engine, or answered by its
   * writable layer, unchanged since the last answer. */
  json_gen_kint (g, "checks_asked", (int64_t) e->det.drift_asked);
  json_gen_kint (g, "checks_unchanged", (int64_t) e->det.drift_unchanged);
  /* Whether the engine named its writable layer (an overlay's upper
   * directory): without one, every check asks the engine. */
  json_gen_kbool (g, "layer_known", e->upper_dir != NULL);
  /* enforce: drift is an incident; detect: reported only, until the
   * image's start-up set is learned. */
  json_gen_kstr (g, "mode", strict || (img && img->learned) ? "enforce" : "detect");
  json_gen_kstr (g, "startup_source", strict                      ? "none"
                                      : img && img->learned       ? "learned"
                                      : img && img->over_cap      ? "over-cap"
                                      : e->det.drift_fresh && !e->det.startup_over ? "learning"
                                                                  : "not-learned");
  json_gen_kbool (g, "startup_window_over", e->det.startup_over);
  json_gen_str (g, "startup");
  if (!strict && img && img->learned)
    drift_set_gen (g, &img->set);
  else
    json_gen_null (g);
  json_gen_map_close (g);
}

void
detect_drift_close (struct daemon *d)
{
  /* Called before the runtime closes: no answer comes after this. */
  while (!LIST_EMPTY (&d->drift_checks))
    drift_check_free (LIST_FIRST (&d->drift_checks));
  struct drift_image *i;
  while ((i = SLIST_FIRST (&d->drift_images)) != NULL)
    {
      SLIST_REMOVE_HEAD (&d->drift_images, link);
      drift_set_free (&i->set);
      free (i->image_id);
      free (i->name);
      free (i->key);
      free (i);
    }
  strmap_free (&d->drift_index);
}
