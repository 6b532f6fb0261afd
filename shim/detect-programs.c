/* lympho — programs: the exec detector and the exec guard.
 *  - detector: kernel exec events (netlink connector, through procwatch)
 *    mapped to their container and judged against its allow list (label,
 *    or learned per image during a window after a fresh generation lympho
 *    started); a program outside it, or one with no file (memfd, deleted),
 *    is an incident. It sees a program after it started.
 *  - guard (execguard.h): in deny mode the kernel refuses a program outside
 *    the list before it runs, and the refusal is an incident. While a list
 *    is learned the guard reports every program the container runs, the
 *    scripts and loaders the connector cannot name included.
 * Processes started through the engine (docker exec, healthchecks) are
 * judged by neither (proctree.h). May call: procwatch, execguard,
 * proctree, allow, incident (detect_incident). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon-int.h"
#include "lympho/allow.h"
#include "lympho/drift.h"
#include "lympho/execguard.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/proctree.h"
#include "lympho/procwatch.h"
#include "lympho/sched.h"
#include "lympho/util.h"
#include "detect-int.h"


struct learned
{
  char *image_id;
  struct allow_list list;
  uint64_t until_mono;  /* learning ends; 0 once frozen */
  uint64_t timer;
  char *error;          /* the list on disk cannot be read: not learned again */
  struct daemon *d;
  SLIST_ENTRY (learned) link;
};

static struct learned *
learned_find (struct daemon *d, const char *image_id)
{
  struct learned *l;
  SLIST_FOREACH (l, &d->learned, link)
    if (strcmp (l->image_id, image_id) == 0)
      return l;
  return NULL;
}

static void guard_apply (struct daemon *d, struct entry *e);
static bool applied (struct entry *e);

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
  if (l->list.refused)
    log_warn ("programs of image %.19s: %zu more were not kept (at most %d of at most %d bytes)", l->image_id,
              l->list.refused, ALLOW_LEARN_MAX, ALLOW_PATH_MAX);
  /* Its containers turn from learning to their mode. */
  DAEMON_EACH (e, l->d)
    if (e->golden.image_id && strcmp (e->golden.image_id, l->image_id) == 0 && !e->policy.exec_allow_set
        && applied (e))
      guard_apply (l->d, e);
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
  cleanup_free char *path = allow_learned_file (d->cfg->state_dir, image_id, ".json");
  cleanup_free char *bad = xasprintf ("%s.bad", path);
  struct stat st;
  if (ret < 0 && ret != -ENOENT)
    {
      /* An error, never a reason to learn again: what would be learned
       * now may be an intruder's. The file is moved aside, kept for the
       * operator, and the image is judged by nothing until it is
       * removed and lymphd restarted; then the next generation lympho
       * starts is learned. */
      cleanup_free char *to = NULL;
      int mv = move_aside (path, &to);
      if (mv == 0)
        log_error ("%s; moved to %s; programs of image %.19s are not judged until it is removed", err.msg, to,
                   image_id);
      else
        log_error ("%s (cannot move it aside: %s); programs of image %.19s are not judged", err.msg,
                   strerror (-mv), image_id);
      memset (&l->list, 0, sizeof l->list);
      l->error = mv == 0 ? xasprintf ("its learned list cannot be read (%s): moved to %s", err.msg, to)
                         : xasprintf ("its learned list cannot be read: %s", err.msg);
    }
  else if (ret < 0 && lstat (bad, &st) == 0)
    {
      /* Moved aside by an earlier start: still not learned again. */
      log_error ("the learned list of image %.19s was unreadable and is at %s; its programs are not judged until "
                 "it is removed",
                 image_id, bad);
      memset (&l->list, 0, sizeof l->list);
      l->error = xasprintf ("its learned list was unreadable and is at %s: remove it and restart lymphd to learn "
                            "again",
                            bad);
    }
  else if (ret < 0)
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
  SLIST_INSERT_HEAD (&d->learned, l, link);
  return l;
}

/* --- exec events ----------------------------------------------------- */

/* Started through the engine (docker exec, a healthcheck): not judged.
 * Fails closed: anything unreadable on the way is the workload's. */
static bool
started_by_engine (const struct proc_exec *ev, struct entry *e)
{
  if (e->pid <= 0)
    return false;
  if (e->det.engine_pid != e->pid)
    {
      if (proctree_engine_ns (e->pid, &e->det.engine_ns) < 0)
        return false;
      e->det.engine_pid = e->pid;
    }
  /* Read after the fact: the program may have run and exited meanwhile. */
  if (ev->have_seen)
    return proctree_started_by_engine_seen (ev->pid, &ev->seen, e->pid, &e->det.engine_ns);
  return proctree_started_by_engine (ev->pid, e->pid, &e->det.engine_ns);
}

/* A program with no file to judge: a memfd, a deleted file. */
static bool
anonymous_program (const char *exe)
{
  size_t n = strlen (exe);
  static const char deleted[] = " (deleted)";
  return str_has_prefix (exe, "/memfd:") || exe[0] != '/'
         || (n >= sizeof deleted - 1 && strcmp (exe + n - (sizeof deleted - 1), deleted) == 0);
}

void
detect_incident (struct daemon *d, struct entry *e, enum alert_source src, const char *reason, const char *program,
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
  if (anonymous_program (exe))
    allowed = false;
  else if (e->policy.exec_allow_set)
    {
      allowed = false;
      for (size_t i = 0; i < e->policy.n_exec_allow && !allowed; i++)
        allowed = allow_entry_names (e->policy.exec_allow[i], exe);
    }
  else
    {
      struct learned *l = learned_get (d, e->golden.image_id, false);
      if (l == NULL || l->error)
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
  cleanup_free char *reason = xasprintf ("%s %s (as %s, pid %d)",
                                         anonymous_program (exe) ? "program without a file" : "unexpected program", exe,
                                         argv0 ? argv0 : "?", pid);
  log_warn ("%s gen=%u: %s", e->name, e->generation, reason);
  detect_incident (d, e, ALERT_SRC_EXEC, reason, exe, NULL, seen_mono);
}

static void
on_exec (void *ud, const struct proc_exec *ev)
{
  struct daemon *d = ud;
  struct entry *e = d->act->by_id (d, ev->container_id);
  if (e == NULL || e->golden.name == NULL || e->state != ES_RUNNING || e->regen || e->incident
      || e->policy.exec_mode == EXEC_MODE_OFF)
    return;
  if (ev->exe == NULL)
    return; /* gone before it could be read: nothing to judge it by */
  /* A file of its root, started while the guard judged every start there:
   * judged as it started, by the guard, while its process waited. Judged
   * here again, later, it could be misjudged: whoever started it may be
   * gone. What the guard cannot see stays the detector's (a memfd, a
   * deleted file, a mount left unmarked, what a scan finds). */
  if (!ev->scanned && ev->have_exe_dev && !anonymous_program (ev->exe)
      && execguard_judges (d->guard, e->id, ev->exe_dev, ev->exec_ns))
    {
      log_debug ("%s: %s (pid %d) judged by the exec guard as it started", e->name, ev->exe, ev->pid);
      return;
    }
  if (started_by_engine (ev, e))
    {
      log_debug ("%s: %s (pid %d) started through the engine, not judged", e->name, ev->exe, ev->pid);
      return;
    }
  judge_program (d, e, ev->pid, ev->exe, ev->argv0, ev->exec_ns / 1000000u);
}

/* What no exec event tells: a forked child that never execs (a dropper
 * whose parent exited before it was read), a process whose exec was told
 * before its program could be read, a lost burst. Every process is looked
 * at on a timer, and at once when events were lost; a scan costs reads of
 * /proc only (a readlink for each host process), bounded in count. */
#define PROGRAM_SCAN_MS 10000u
#define PROGRAM_SCAN_MAX 65536u

static bool
any_judged (struct daemon *d)
{
  DAEMON_EACH (e, d)
    if (e->id && e->state == ES_RUNNING && e->policy.exec_mode != EXEC_MODE_OFF)
      return true;
  return false;
}

static void
scan_now (struct daemon *d)
{
  if (d->procwatch && any_judged (d))
    procwatch_scan (d->procwatch, PROGRAM_SCAN_MAX);
}

static void
on_scan_timer (struct loop *loop, void *ud)
{
  struct daemon *d = ud;
  d->scan_timer = loop_add_timer (loop, PROGRAM_SCAN_MS, on_scan_timer, d);
  scan_now (d);
  /* Mounts a guarded container made since it was marked (it needs
   * CAP_SYS_ADMIN) are marked now: until then the detector judges what
   * runs there. */
  execguard_refresh (d->guard);
}

static void
on_overrun (void *ud)
{
  struct daemon *d = ud;
  log_warn ("exec events were lost (overrun); looking at every process now");
  scan_now (d);
}

/* --- the exec guard -------------------------------------------------- */

/* Why the guard cannot deny now; NULL when it can. */
static const char *
guard_problem (struct daemon *d)
{
  if (d->guard)
    return execguard_problem (d->guard);
  return d->guard_problem ? d->guard_problem : "the exec guard is not open";
}

static void
exec_mode_set (struct entry *e, enum exec_mode m, const char *note)
{
  e->det.exec_mode = m;
  free (e->det.exec_note);
  e->det.exec_note = note ? xstrdup (note) : NULL;
}

static void
guard_drop (struct daemon *d, struct entry *e)
{
  if (e->det.guard_id)
    execguard_release (d->guard, e->det.guard_id);
  free (e->det.guard_id);
  e->det.guard_id = NULL;
}

/* Work out e's exec mode and mark (or unmark) its generation. The pid is
 * the one the engine last told for e->id (reconcile). */
static void
guard_apply (struct daemon *d, struct entry *e)
{
  char *const *list = NULL;
  size_t n = 0;
  bool have_list = false, learning = false;
  e->det.exec_would_deny = false;
  if (e->policy.exec_allow_set)
    {
      list = e->policy.exec_allow;
      n = e->policy.n_exec_allow;
      have_list = true;
    }
  else if (e->golden.image_id)
    {
      struct learned *l = learned_get (d, e->golden.image_id, false);
      if (l && l->error)
        {
          exec_mode_set (e, e->policy.exec_mode == EXEC_MODE_OFF ? EXEC_MODE_OFF : EXEC_MODE_DETECT, l->error);
          guard_drop (d, e);
          return;
        }
      if (l && l->list.frozen)
        {
          list = l->list.v;
          n = l->list.n;
          have_list = true;
        }
      learning = l && !l->list.frozen;
    }
  enum exec_mode want = e->policy.exec_mode;
  const char *problem = guard_problem (d);
  bool can_mark = problem == NULL && e->id && e->pid > 0 && e->state == ES_RUNNING;
  if (want == EXEC_MODE_OFF)
    {
      exec_mode_set (e, EXEC_MODE_OFF, "lympho.exec.mode=off");
      guard_drop (d, e);
      return;
    }
  if (!have_list)
    {
      exec_mode_set (e, EXEC_MODE_DETECT, learning ? "learning its programs"
                                                   : "no list: learned from the next generation lympho starts");
      if (learning && can_mark)
        {
          /* The guard reports what runs: scripts and loaders too. */
          lympho_error_t err = { 0 };
          if (execguard_protect (d->guard, e->id, e->pid, EXECGUARD_MODE_LEARN, NULL, 0, NULL, &err) < 0)
            {
              log_debug ("%s: learning through the exec guard: %s", e->name, err.msg);
              guard_drop (d, e);
              return;
            }
          free (e->det.guard_id);
          e->det.guard_id = xstrdup (e->id);
        }
      else
        guard_drop (d, e);
      return;
    }
  const char *why = NULL;
  /* Detect mode judges through the guard where it can (the file run, while
   * its process waits: nothing exits before it is judged), else through
   * the detector alone. */
  /* Observed: judged and reported as ever, never refused. */
  bool would_deny = want != EXEC_MODE_DETECT && entry_observed (d, e);
  bool detect = want == EXEC_MODE_DETECT || would_deny;
  e->det.exec_would_deny = would_deny;
  if (want == EXEC_MODE_AUTO && n == 0)
    why = "the learned list is empty";
  else if (problem)
    why = problem;
  else if (!can_mark)
    why = "its process is not known yet";
  if (why)
    {
      exec_mode_set (e, EXEC_MODE_DETECT, detect ? "lympho.exec.mode=detect" : why);
      guard_drop (d, e);
      return;
    }
  struct execguard_marked marked;
  lympho_error_t err = { 0 };
  if (execguard_protect (d->guard, e->id, e->pid, detect ? EXECGUARD_MODE_DETECT : EXECGUARD_MODE_DENY, list, n,
                         &marked, &err) < 0)
    {
      cleanup_free char *note = detect ? xstrdup ("lympho.exec.mode=detect") : xasprintf ("cannot deny: %s", err.msg);
      log_warn ("%s gen=%u: exec guard: %s; programs are detected by the detector alone%s", e->name, e->generation,
                err.msg, detect ? "" : ", not denied");
      exec_mode_set (e, EXEC_MODE_DETECT, note);
      guard_drop (d, e);
      return;
    }
  /* A previous generation keeps its own rule while it lives (an infected
   * one waits for its kill); the guard forgets it once it is gone. */
  free (e->det.guard_id);
  e->det.guard_id = xstrdup (e->id);
  /* A mount left unmarked is said: programs there are only detected. */
  cleanup_free char *note = NULL;
  if (would_deny)
    note = xstrdup ("mode observe: a program outside the list would be denied");
  else if (detect)
    note = marked.not_pinned ? xasprintf ("lympho.exec.mode=detect; %zu listed program%s not the file its sha256 pins",
                                          marked.not_pinned, marked.not_pinned == 1 ? " is" : "s are")
                             : xstrdup ("lympho.exec.mode=detect");
  else if (marked.not_pinned)
    note = xasprintf ("%zu listed program%s not the file its sha256 pins: denied", marked.not_pinned,
                      marked.not_pinned == 1 ? " is" : "s are");
  else if (marked.mounts_left)
    note = xasprintf ("%zu of its mounts not marked: programs there are detected, not denied", marked.mounts_left);
  exec_mode_set (e, detect ? EXEC_MODE_DETECT : EXEC_MODE_DENY, note);
  log_info ("%s gen=%u: exec guard on (%s): %zu programs allowed (%zu files with their interpreters), its root and "
            "%zu mounts marked%s",
            e->name, e->generation, detect ? "detect" : "deny", n, marked.files, marked.mounts,
            marked.mounts_left ? " (some mounts not)" : "");
}

void
detect_programs_started (struct daemon *d, struct entry *e, bool fresh)
{
  /* A list is learned only from a generation lympho started itself: an
   * adopted container may already run what an intruder left. */
  if (!e->policy.exec_allow_set && e->golden.image_id)
    learned_get (d, e->golden.image_id, fresh);
  /* Its pid may still be the last generation's: the guard waits for the
   * engine to tell it (detect_programs_running). */
  free (e->det.applied_id);
  e->det.applied_id = NULL;
  e->det.applied_pid = 0;
  e->det.engine_pid = 0;
  if (e->policy.exec_mode == EXEC_MODE_OFF)
    exec_mode_set (e, EXEC_MODE_OFF, "lympho.exec.mode=off");
  else
    exec_mode_set (e, EXEC_MODE_DETECT, "its process is not known yet");
}

/* The mode was worked out for e's generation and process as they are. */
static bool
applied (struct entry *e)
{
  return e->det.applied_id && e->id && strcmp (e->det.applied_id, e->id) == 0 && e->det.applied_pid == e->pid;
}

void
detect_programs_running (struct daemon *d, struct entry *e)
{
  if (e->id == NULL || e->pid <= 0 || e->golden.name == NULL)
    return;
  if (applied (e))
    return;
  /* Not again until the generation or its process changes. */
  free (e->det.applied_id);
  e->det.applied_id = xstrdup (e->id);
  e->det.applied_pid = e->pid;
  guard_apply (d, e);
}

void
detect_programs_reapply (struct daemon *d, struct entry *e)
{
  free (e->det.applied_id);
  e->det.applied_id = NULL;
  e->det.applied_pid = 0;
  if (e->state == ES_RUNNING)
    detect_programs_running (d, e);
}

void
detect_programs_entry_free (struct daemon *d, struct entry *e)
{
  guard_drop (d, e);
  free (e->det.exec_note);
  e->det.exec_note = NULL;
  free (e->det.applied_id);
  e->det.applied_id = NULL;
}

static void
on_guard_report (void *ud, const struct execguard_report *r)
{
  struct daemon *d = ud;
  struct entry *e = d->act->by_id (d, r->id);
  if (r->kind == EXECGUARD_LEARNED)
    {
      if (e == NULL || e->golden.image_id == NULL || anonymous_program (r->path))
        return;
      struct learned *l = learned_get (d, e->golden.image_id, false);
      if (l && !l->error && !l->list.frozen && allow_list_add (&l->list, r->path))
        log_info ("%s: learned program %s", e->name, r->path);
      return;
    }
  bool detected = r->kind == EXECGUARD_DETECTED;
  if (e == NULL || e->golden.name == NULL)
    {
      log_warn ("exec guard: %s %s (pid %d) in %.12s, a generation no longer served", detected ? "detected" : "denied",
                r->path, (int) r->pid, r->id);
      return;
    }
  cleanup_free char *reason = xasprintf ("%s program %s (pid %d)",
                                         !detected ? "denied" : e->det.exec_would_deny ? "would have denied" : "unexpected",
                                         r->path, (int) r->pid);
  log_warn ("%s gen=%u: %s", e->name, e->generation, reason);
  if (e->incident || e->regen || e->state != ES_RUNNING)
    return; /* already being replaced */
  detect_incident (d, e, ALERT_SRC_EXEC, reason, r->path, NULL, now_mono_ms ());
}

void
detect_programs_status (struct daemon *d, json_gen g)
{
  const char *problem = guard_problem (d);
  json_gen_kstr (g, "exec_guard", problem ? problem : "on");
  json_gen_str (g, "exec");
  json_gen_array_open (g);
  DAEMON_EACH (e, d)
    if (e->golden.name)
      {
        json_gen_map_open (g);
        json_gen_kstr (g, "name", e->name);
        json_gen_kstr (g, "mode", exec_mode_name (e->det.exec_mode ? e->det.exec_mode : EXEC_MODE_DETECT));
        json_gen_kstr (g, "note", e->det.exec_note);
        uint64_t asked;
        unsigned kept;
        size_t mounts;
        if (d->guard && e->det.guard_id && execguard_counts (d->guard, e->det.guard_id, &asked, &kept, &mounts))
          {
            json_gen_kint (g, "asked", (int64_t) asked);
            json_gen_kint (g, "kept_by_kernel", (int64_t) kept);
            json_gen_kint (g, "mounts_marked", (int64_t) mounts);
          }
        json_gen_map_close (g);
      }
  json_gen_array_close (g);
  if (d->guard)
    {
      struct execguard_stats st;
      execguard_stats (d->guard, &st);
      json_gen_str (g, "exec_guard_stats");
      json_gen_map_open (g);
      const char *why;
      json_gen_kstr (g, "judge", execguard_judge (d->guard, &why));
      if (why)
        json_gen_kstr (g, "judge_note", why);
      json_gen_kint (g, "kernel_judged", (int64_t) st.kernel_judged);
      json_gen_kint (g, "allowed", (int64_t) st.allowed);
      json_gen_kint (g, "denied", (int64_t) st.denied);
      json_gen_kint (g, "detected", (int64_t) st.detected);
      json_gen_kint (g, "kept_by_kernel", (int64_t) st.cached);
      json_gen_kint (g, "pins_hashed", (int64_t) st.pins_hashed);
      json_gen_kint (g, "engine", (int64_t) st.engine);
      json_gen_kint (g, "learned", (int64_t) st.learned);
      json_gen_kint (g, "lost_reports", (int64_t) st.lost_reports);
      json_gen_kint (g, "answer_errors", (int64_t) st.answer_errors);
      json_gen_kint (g, "max_answer_us", (int64_t) st.max_answer_us);
      json_gen_kint (g, "p50_answer_us", (int64_t) execguard_quantile_us (&st, 0.50));
      json_gen_kint (g, "p99_answer_us", (int64_t) execguard_quantile_us (&st, 0.99));
      if (st.rt_error)
        {
          cleanup_free char *why = xasprintf ("normal: %s", strerror (st.rt_error));
          json_gen_kstr (g, "priority", why);
        }
      else
        json_gen_kstr (g, "priority", "realtime");
      json_gen_map_close (g);
    }
}

void
detect_programs_gen (struct daemon *d, struct entry *e, json_gen g)
{
  json_gen_str (g, "exec_allow");
  json_gen_map_open (g);
  if (e->policy.exec_allow_set)
    {
      json_gen_kstr (g, "source", "label");
      json_gen_str (g, "programs");
      json_gen_array_open (g);
      for (size_t i = 0; i < e->policy.n_exec_allow; i++)
        json_gen_str (g, e->policy.exec_allow[i]);
      json_gen_array_close (g);
    }
  else
    {
      struct learned *l = e->golden.image_id ? learned_get (d, e->golden.image_id, false) : NULL;
      json_gen_kstr (g, "source", l == NULL ? "none" : l->error ? "unreadable" : l->list.frozen ? "learned" : "learning");
      json_gen_str (g, "programs");
      json_gen_array_open (g);
      for (size_t i = 0; l && i < l->list.n; i++)
        json_gen_str (g, l->list.v[i]);
      json_gen_array_close (g);
    }
  json_gen_kstr (g, "mode", exec_mode_name (e->det.exec_mode ? e->det.exec_mode : EXEC_MODE_DETECT));
  json_gen_kstr (g, "note", e->det.exec_note);
  json_gen_map_close (g);
}

void
detect_programs_open (struct daemon *d)
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
  else
    d->scan_timer = loop_add_timer (d->loop, PROGRAM_SCAN_MS, on_scan_timer, d);
  lympho_error_clear (&e);
  if (execguard_open (d->loop, on_guard_report, d, &d->guard, &e) < 0)
    {
      log_warn ("exec guard unavailable: %s; programs are detected, not denied", e.msg);
      d->guard = NULL;
      d->guard_problem = xasprintf ("unavailable: %s", e.msg);
    }
  execguard_prepared ();
}

void
detect_programs_close (struct daemon *d)
{
  if (d->scan_timer)
    loop_cancel_timer (d->loop, d->scan_timer);
  d->scan_timer = 0;
  procwatch_close (d->procwatch);
  d->procwatch = NULL;
  /* Every mark goes with the group; the entries' guard ids are freed
   * with them (execguard_release of no guard does nothing). */
  execguard_close (d->guard);
  d->guard = NULL;
  free (d->guard_problem);
  d->guard_problem = NULL;
  struct learned *l;
  while ((l = SLIST_FIRST (&d->learned)) != NULL)
    {
      SLIST_REMOVE_HEAD (&d->learned, link);
      if (l->timer)
        loop_cancel_timer (d->loop, l->timer);
      allow_list_free (&l->list);
      free (l->image_id);
      free (l->error);
      free (l);
    }
}
