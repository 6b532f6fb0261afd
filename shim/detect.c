/* lympho — lymphd's own detectors, each feeding the incident path:
 *  - programs: kernel exec events (netlink connector) mapped to their
 *    container and checked against its allow list (label, or learned per
 *    image during a window after a fresh generation starts);
 *  - drift: the engine's change list of the writable layer, every
 *    lympho.drift.interval, staggered across containers;
 *  - health and exits: `unhealthy`, or a death nobody asked the engine for.
 * Processes started through the engine (docker exec, healthchecks) are not
 * judged: whoever drives the engine already holds the host; the detector
 * watches what the workload itself runs. */
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

/* A death within this long of an engine stop/kill request was asked for. */
#define STOP_ASKED_WINDOW_MS (15 * 60 * 1000)
/* A generation that dies younger than this counts towards crash backoff. */
#define YOUNG_MS (60 * 1000)

struct learned
{
  char *image_id;
  struct allow_list list;
  uint64_t until_mono;  /* learning ends; 0 once frozen */
  uint64_t timer;
  struct daemon *d;
  struct learned *next;
};

static struct learned *
learned_find (struct daemon *d, const char *image_id)
{
  for (struct learned *l = d->learned; l; l = l->next)
    if (strcmp (l->image_id, image_id) == 0)
      return l;
  return NULL;
}

static void
learned_freeze (struct loop *loop, void *ud)
{
  struct learned *l = ud;
  l->timer = 0;
  l->until_mono = 0;
  l->list.frozen = true;
  l->list.learned_at_ms = now_real_ms ();
  lympho_error_t err = { 0 };
  if (allow_learned_save (l->d->cfg->state_dir, l->image_id, &l->list, &err) < 0)
    log_error ("learned programs of %.19s: %s", l->image_id, err.msg);
  log_info ("programs of image %.19s learned: %zu", l->image_id, l->list.n);
}

/* The list of an image: from memory, from disk, or a fresh one to learn. */
static struct learned *
learned_get (struct daemon *d, const char *image_id, bool start_learning)
{
  struct learned *l = learned_find (d, image_id);
  if (l)
    return l;
  l = xmalloc0 (sizeof *l);
  l->d = d;
  l->image_id = xstrdup (image_id);
  lympho_error_t err = { 0 };
  int ret = allow_learned_load (d->cfg->state_dir, image_id, &l->list, &err);
  if (ret < 0 && ret != -ENOENT)
    log_error ("%s (learning it again)", err.msg);
  if (ret < 0)
    {
      if (!start_learning)
        {
          allow_list_free (&l->list);
          free (l->image_id);
          free (l);
          return NULL;
        }
      memset (&l->list, 0, sizeof l->list);
      l->until_mono = now_mono_ms () + d->cfg->learn_window_ms;
      l->timer = loop_add_timer (d->loop, d->cfg->learn_window_ms, learned_freeze, l);
      log_info ("learning the programs of image %.19s for %llu ms", image_id,
                (unsigned long long) d->cfg->learn_window_ms);
    }
  l->next = d->learned;
  d->learned = l;
  return l;
}

/* --- exec events ----------------------------------------------------- */

static int
read_ppid (int pid)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return -1;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  /* comm may hold spaces and parentheses: parse after the last ')'. */
  char *p = strrchr (buf, ')');
  int ppid = -1;
  if (p == NULL || sscanf (p + 1, " %*c %d", &ppid) != 1)
    return -1;
  return ppid;
}

static bool
same_mnt_ns (int a, int b)
{
  char pa[64], pb[64];
  struct stat sa, sb;
  snprintf (pa, sizeof pa, "/proc/%d/ns/mnt", a);
  snprintf (pb, sizeof pb, "/proc/%d/ns/mnt", b);
  return stat (pa, &sa) == 0 && stat (pb, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* Walk up from pid: reaching the container's init means the workload ran
 * it; leaving the container's mount namespace first means the engine did
 * (docker exec, a healthcheck). Unknown (raced away) counts as workload. */
static bool
started_by_engine (int pid, int init_pid)
{
  int cur = pid;
  for (int depth = 0; depth < 64; depth++)
    {
      if (cur == init_pid)
        return false;
      int ppid = read_ppid (cur);
      if (ppid <= 0)
        return false;
      if (ppid == init_pid)
        return false;
      if (init_pid > 0 && !same_mnt_ns (ppid, init_pid))
        return true;
      cur = ppid;
    }
  return false;
}

static struct entry *
entry_by_full_id (struct daemon *d, const char *id)
{
  for (struct entry *e = d->entries; e; e = e->next)
    if (e->id && strcmp (e->id, id) == 0)
      return e;
  return NULL;
}

static void
local_incident (struct daemon *d, struct entry *e, enum alert_source src, const char *reason, const char *program,
                const char *path, uint64_t received_mono)
{
  struct alert a = {
    .source = src,
    .container = e->id,
    .severity = (int) e->policy.threshold,
    .reason = (char *) reason,
    .program = (char *) program,
    .path = (char *) path,
  };
  cleanup_free char *action = NULL;
  lympho_error_t err = { 0 };
  if (incident_alert (d, &a, received_mono, &action, &err) < 0)
    log_error ("%s: %s incident: %s", e->name, alert_source_name (src), err.msg);
}

static void
judge_program (struct daemon *d, struct entry *e, int pid, const char *exe, const char *argv0, uint64_t seen_mono)
{
  bool allowed;
  if (e->policy.exec_allow_set)
    {
      allowed = false;
      for (size_t i = 0; i < e->policy.n_exec_allow && !allowed; i++)
        allowed = strcmp (e->policy.exec_allow[i], exe) == 0;
    }
  else
    {
      struct learned *l = learned_get (d, e->golden.image_id, false);
      if (l == NULL)
        return; /* nothing learned for this image yet, and not learning */
      if (!l->list.frozen)
        {
          if (allow_list_add (&l->list, exe))
            log_info ("%s: learned program %s", e->name, exe);
          return;
        }
      allowed = allow_list_has (&l->list, exe);
    }
  if (allowed)
    return;
  cleanup_free char *reason = xasprintf ("unexpected program %s (as %s, pid %d)", exe, argv0 ? argv0 : "?", pid);
  log_warn ("%s gen=%u: %s", e->name, e->generation, reason);
  local_incident (d, e, ALERT_SRC_EXEC, reason, exe, NULL, seen_mono);
}

static void
on_exec (void *ud, const struct proc_exec *ev)
{
  struct daemon *d = ud;
  struct entry *e = entry_by_full_id (d, ev->container_id);
  if (e == NULL || e->golden.name == NULL || e->state != ES_RUNNING || e->regen || e->incident)
    return;
  if (ev->exe == NULL)
    return; /* gone before it could be read: nothing to judge it by */
  if (started_by_engine (ev->pid, e->pid))
    {
      log_debug ("%s: %s (pid %d) started through the engine, not judged", e->name, ev->exe, ev->pid);
      return;
    }
  judge_program (d, e, ev->pid, ev->exe, ev->argv0, ev->exec_ns / 1000000u);
}

/* Events were lost: look at what runs in every protected container now. */
struct rescan
{
  struct daemon *d;
  char *id;
};

static void
on_rescan_top (void *ud, int ret, const lympho_error_t *err, const struct rt_process *v, size_t n)
{
  struct rescan *rs = ud;
  struct daemon *d = rs->d;
  struct entry *e = entry_by_full_id (d, rs->id);
  if (ret == 0 && e && e->state == ES_RUNNING && !e->regen && !e->incident)
    for (size_t i = 0; i < n; i++)
      {
        char path[64], exe[PATH_MAX];
        snprintf (path, sizeof path, "/proc/%d/exe", v[i].pid);
        ssize_t l = readlink (path, exe, sizeof exe - 1);
        if (l <= 0)
          continue;
        exe[l] = '\0';
        if (started_by_engine (v[i].pid, e->pid))
          continue;
        judge_program (d, e, v[i].pid, exe, v[i].cmd, now_mono_ms ());
        if (e->incident)
          break;
      }
  free (rs->id);
  free (rs);
}

static void
on_overrun (void *ud)
{
  struct daemon *d = ud;
  log_warn ("exec events were lost (overrun); rescanning the processes of every protected container");
  for (struct entry *e = d->entries; e; e = e->next)
    if (e->id && e->state == ES_RUNNING && !e->regen)
      {
        struct rescan *rs = xmalloc0 (sizeof *rs);
        rs->d = d;
        rs->id = xstrdup (e->id);
        d->ops->top (d->rt, e->id, on_rescan_top, rs);
      }
}

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
  struct drift_set set;
  bool learned;
  bool over_cap;            /* a fresh generation changed more than DRIFT_SET_MAX paths */
  struct drift_image *next;
};

/* The start-up set of e's image for e's name, from memory or disk (not
 * learned: empty); NULL when e has no image yet. */
static struct drift_image *
drift_image_get (struct daemon *d, const struct entry *e)
{
  const char *image_id = e->golden.image_id;
  if (image_id == NULL)
    return NULL;
  for (struct drift_image *i = d->drift_images; i; i = i->next)
    if (strcmp (i->image_id, image_id) == 0 && strcmp (i->name, e->name) == 0)
      return i;
  struct drift_image *i = xmalloc0 (sizeof *i);
  i->image_id = xstrdup (image_id);
  i->name = xstrdup (e->name);
  lympho_error_t err = { 0 };
  int ret = drift_set_load (d->cfg->state_dir, image_id, e->name, &i->set, &err);
  if (ret < 0 && ret != -ENOENT)
    log_error ("%s: %s (learning it again from the next generation lympho starts)", e->name, err.msg);
  i->learned = ret == 0;
  i->next = d->drift_images;
  d->drift_images = i;
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
  for (struct entry *e = d->entries; e; e = e->next)
    if (strcmp (e->name, name) == 0)
      return e->id && strcmp (e->id, id) == 0 ? e : NULL;
  return NULL;
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
  if (!enforce && e->drift_fresh && !e->startup_over && img && !img->over_cap)
    return;
  cleanup_close int root_fd = startup && e->startup_over && e->pid > 0 ? drift_root_open (e->pid) : -1;
  struct drift_rules r = {
    .allow = e->policy.drift_allow,
    .n_allow = e->policy.n_drift_allow,
    .mounts = e->mounts,
    .n_mounts = e->n_mounts,
    .startup = startup,
    .stamps = startup && e->startup_over ? &e->stamps : NULL,
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
      local_incident (d, e, ALERT_SRC_DRIFT, reason, NULL, f[0].path, now_mono_ms ());
      return;
    }
  /* Detect only: said once per generation for each different finding. */
  if (e->drift_reported && strcmp (e->drift_reported, paths) == 0)
    return;
  free (e->drift_reported);
  e->drift_reported = xstrdup (paths);
  cleanup_free char *why
      = img && img->over_cap
            ? xasprintf ("image %.19s changes more than %d paths at start-up; name them in %s", img->image_id,
                         DRIFT_SET_MAX, LABEL_DRIFT_ALLOW)
        : !e->drift_fresh
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
  daemon_record (d, &h);
}

struct drift_check
{
  struct daemon *d;
  char *name;
  char *id;
  int pid;
};

static void
drift_check_free (struct drift_check *dc)
{
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
  return dc;
}

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

static void
on_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  struct drift_check *dc = ud;
  struct daemon *d = dc->d;
  struct entry *e = NULL;
  for (struct entry *x = d->entries; x; x = x->next)
    if (strcmp (x->name, dc->name) == 0)
      e = x;
  if (e)
    e->drift_in_flight = false;
  if (e && ret == 0 && e->id && strcmp (e->id, dc->id) == 0 && judgeable (d, e))
    drift_verdict (d, e, v, n);
  else if (ret == -ENOTSUP)
    drift_unsupported (d, err);
  else if (e && ret < 0 && ret != -ENOENT)
    log_warn ("%s: drift check: %s", e->name, err->msg);
  if (e && e->drift_timer == 0)
    drift_arm (d, e, e->policy.drift_interval_ms);
  drift_check_free (dc);
}

static void
on_drift_timer (struct loop *l, void *ud)
{
  struct entry *e = ud;
  struct daemon *d = e->d;
  e->drift_timer = 0;
  if (!judgeable (d, e) || e->drift_in_flight)
    {
      drift_arm (d, e, e->policy.drift_interval_ms);
      return;
    }
  e->drift_in_flight = true;
  d->ops->changes (d->rt, e->id, on_changes, drift_check_new (d, e));
}

static void
drift_arm (struct daemon *d, struct entry *e, uint64_t delay)
{
  if (e->drift_timer)
    loop_cancel_timer (d->loop, e->drift_timer);
  e->drift_timer = d->shutting_down || d->no_changes ? 0 : loop_add_timer (d->loop, delay, on_drift_timer, e);
}

/* --- the start-up window ---------------------------------------------- */

static void startup_arm (struct daemon *d, struct entry *e, uint64_t delay);

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
  cleanup_jgen yajl_gen g = json_gen_new (false);
  drift_set_gen (g, &img->set);
  cleanup_free char *detail = json_gen_text (g);
  struct history_entry h = {
    HISTORY_NO_INCIDENT, .name = e->name, .kind = "learn", .result = "ok", .generation = e->generation,
    .new_id = e->id, .reason = reason, .duration_ms = -1, .source = alert_source_name (ALERT_SRC_DRIFT),
    .detail_json = detail,
  };
  daemon_record (d, &h);
}

static void
on_startup_changes (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n)
{
  struct drift_check *dc = ud;
  struct daemon *d = dc->d;
  struct entry *e = entry_by_name_id (d, dc->name, dc->id);
  if (e)
    e->startup_in_flight = false;
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
      if (img && !img->learned && e->drift_fresh)
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
          drift_stamps_free (&e->stamps);
          drift_stamps_take (root_fd, &img->set, &e->stamps);
        }
      e->startup_over = true;
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
        e->startup_in_flight = false;
      drift_check_free (dc);
      return;
    }
  if (ret < 0)
    {
      e->startup_in_flight = false;
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
      e->startup_in_flight = false;
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
  e->startup_timer = 0;
  if (e->regen || e->incident || e->state == ES_STOPPED || e->id == NULL)
    return; /* this generation is going away */
  if (!judgeable (d, e) || e->startup_in_flight)
    {
      startup_arm (d, e, STARTUP_HEALTH_POLL_MS);
      return;
    }
  e->startup_in_flight = true;
  d->ops->inspect (d->rt, e->id, on_startup_inspect, drift_check_new (d, e));
}

static void
startup_arm (struct daemon *d, struct entry *e, uint64_t delay)
{
  if (e->startup_timer)
    loop_cancel_timer (d->loop, e->startup_timer);
  e->startup_timer = d->shutting_down || d->no_changes ? 0 : loop_add_timer (d->loop, delay, on_startup_timer, e);
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
  if (e->startup_timer)
    loop_cancel_timer (d->loop, e->startup_timer);
  e->startup_timer = 0;
  e->startup_over = false;
  drift_stamps_free (&e->stamps);
  free (e->drift_reported);
  e->drift_reported = NULL;
}

/* --- life cycle ------------------------------------------------------ */

void
detect_generation_started (struct daemon *d, struct entry *e, bool fresh)
{
  e->oom_seen = false;
  e->stop_asked_mono = 0;
  if (!e->policy.exec_allow_set && e->golden.image_id)
    learned_get (d, e->golden.image_id, true);
  startup_reset (d, e);
  e->drift_fresh = fresh;
  if (drift_strict (e))
    e->startup_over = true;
  else if (e->policy.drift_interval_ms > 0)
    {
      uint64_t end = e->started_real_ms + startup_window_ms (e), now = now_real_ms ();
      startup_arm (d, e, end > now ? end - now : 0);
    }
  /* Staggered: the first check falls anywhere in the first interval, so a
   * fleet's checks spread out. */
  if (e->drift_timer == 0 && e->policy.drift_interval_ms > 0)
    drift_arm (d, e, (uint64_t) ((double) e->policy.drift_interval_ms * (0.5 + random_unit () / 2)));
}

void
detect_entry_free (struct daemon *d, struct entry *e)
{
  if (e->drift_timer)
    loop_cancel_timer (d->loop, e->drift_timer);
  e->drift_timer = 0;
  startup_reset (d, e);
}

static void
regen_after_death (struct daemon *d, struct entry *e, enum alert_source src, const char *reason)
{
  uint64_t now = now_real_ms ();
  bool young = e->started_real_ms && now - e->started_real_ms < YOUNG_MS;
  e->crashes = young ? e->crashes + 1 : 0;
  struct history_entry h = {
    .name = e->name, .kind = "incident", .result = "ok", .generation = e->generation, .old_id = e->id,
    .reason = reason, .duration_ms = -1, .source = alert_source_name (src), .severity = -1, .threat_level = -1,
    .action = "regenerate", .cut_ms = -1, .replaced_ms = -1,
  };
  daemon_record (d, &h);
  if (e->crashes > 1)
    {
      /* New generations keep failing: back off, never a crash loop. */
      uint64_t delay = sched_backoff (e->crashes - 1, d->cfg->backoff_min_ms, d->cfg->backoff_max_ms, random_unit ());
      log_warn ("%s gen=%u: %s; %u young generations failed in a row, regenerating in %llu ms", e->name,
                e->generation, reason, e->crashes, (unsigned long long) delay);
      daemon_arm (d, e, delay);
      return;
    }
  log_warn ("%s gen=%u: %s; regenerating", e->name, e->generation, reason);
  daemon_request_regen (d, e, reason, false, NULL);
}

bool
detect_event (struct daemon *d, struct entry *e, const struct rt_event *ev)
{
  const char *a = ev->action;
  if (strcmp (a, "kill") == 0 || strcmp (a, "stop") == 0)
    {
      e->stop_asked_mono = now_mono_ms ();
      return strcmp (a, "kill") == 0;
    }
  if (strcmp (a, "oom") == 0)
    {
      e->oom_seen = true;
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
      bool asked = e->stop_asked_mono && now_mono_ms () - e->stop_asked_mono < STOP_ASKED_WINDOW_MS;
      if (asked && !e->oom_seen)
        return false; /* stopped on purpose: the caller leaves it stopped */
      cleanup_free char *reason = e->oom_seen ? xstrdup ("OOM-killed")
                                              : xasprintf ("died unexpectedly (exit code %d)", ev->exit_code);
      regen_after_death (d, e, ALERT_SRC_EXIT, reason);
      return true;
    }
  return false;
}

void
detect_gen (struct daemon *d, struct entry *e, yajl_gen g)
{
  json_gen_str (g, "exec_allow");
  yajl_gen_map_open (g);
  if (e->policy.exec_allow_set)
    {
      json_gen_kstr (g, "source", "label");
      json_gen_str (g, "programs");
      yajl_gen_array_open (g);
      for (size_t i = 0; i < e->policy.n_exec_allow; i++)
        json_gen_str (g, e->policy.exec_allow[i]);
      yajl_gen_array_close (g);
    }
  else
    {
      struct learned *l = e->golden.image_id ? learned_get (d, e->golden.image_id, false) : NULL;
      json_gen_kstr (g, "source", l == NULL ? "none" : l->list.frozen ? "learned" : "learning");
      json_gen_str (g, "programs");
      yajl_gen_array_open (g);
      for (size_t i = 0; l && i < l->list.n; i++)
        json_gen_str (g, l->list.v[i]);
      yajl_gen_array_close (g);
    }
  yajl_gen_map_close (g);

  struct drift_image *img = drift_image_get (d, e);
  bool strict = drift_strict (e);
  json_gen_str (g, "drift");
  yajl_gen_map_open (g);
  json_gen_kint (g, "interval_s", (int64_t) (e->policy.drift_interval_ms / 1000));
  /* enforce: drift is an incident; detect: reported only, until the
   * image's start-up set is learned. */
  json_gen_kstr (g, "mode", strict || (img && img->learned) ? "enforce" : "detect");
  json_gen_kstr (g, "startup_source", strict                      ? "none"
                                      : img && img->learned       ? "learned"
                                      : img && img->over_cap      ? "over-cap"
                                      : e->drift_fresh && !e->startup_over ? "learning"
                                                                  : "not-learned");
  json_gen_kbool (g, "startup_window_over", e->startup_over);
  json_gen_str (g, "startup");
  if (!strict && img && img->learned)
    drift_set_gen (g, &img->set);
  else
    yajl_gen_null (g);
  yajl_gen_map_close (g);
}

int
detect_open (struct daemon *d, lympho_error_t *err)
{
  struct procwatch_callbacks cb = { on_exec, on_overrun, d };
  lympho_error_t e = { 0 };
  if (procwatch_open (d->loop, &cb, &d->procwatch, &e) < 0)
    {
      /* Without the connector (no CAP_NET_ADMIN, another pid namespace)
       * lympho still regenerates; say loudly what is missing. */
      log_warn ("exec detection unavailable: %s", e.msg);
      d->procwatch = NULL;
    }
  (void) err;
  return 0;
}

void
detect_close (struct daemon *d)
{
  procwatch_close (d->procwatch);
  d->procwatch = NULL;
  while (d->learned)
    {
      struct learned *l = d->learned;
      d->learned = l->next;
      if (l->timer)
        loop_cancel_timer (d->loop, l->timer);
      allow_list_free (&l->list);
      free (l->image_id);
      free (l);
    }
  while (d->drift_images)
    {
      struct drift_image *i = d->drift_images;
      d->drift_images = i->next;
      drift_set_free (&i->set);
      free (i->image_id);
      free (i->name);
      free (i);
    }
}
