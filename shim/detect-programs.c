/* lympho — the exec detector: kernel exec events (netlink connector, through
 * procwatch) mapped to their container and judged against its allow list
 * (label, or learned per image during a window after a fresh generation
 * starts); a program outside it is an incident. Processes started through
 * the engine (docker exec, healthchecks) are not judged. May call:
 * procwatch, allow, incident (detect_incident). */
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


struct learned
{
  char *image_id;
  struct allow_list list;
  uint64_t until_mono;  /* learning ends; 0 once frozen */
  uint64_t timer;
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
  SLIST_INSERT_HEAD (&d->learned, l, link);
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
  detect_incident (d, e, ALERT_SRC_EXEC, reason, exe, NULL, seen_mono);
}

static void
on_exec (void *ud, const struct proc_exec *ev)
{
  struct daemon *d = ud;
  struct entry *e = d->act->by_id (d, ev->container_id);
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
  struct entry *e = d->act->by_id (d, rs->id);
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
  DAEMON_EACH (e, d)
    if (e->id && e->state == ES_RUNNING && !e->regen)
      {
        struct rescan *rs = xmalloc0 (sizeof *rs);
        rs->d = d;
        rs->id = xstrdup (e->id);
        d->ops->top (d->rt, e->id, on_rescan_top, rs);
      }
}

void
detect_programs_started (struct daemon *d, struct entry *e)
{
  if (!e->policy.exec_allow_set && e->golden.image_id)
    learned_get (d, e->golden.image_id, true);
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
      json_gen_kstr (g, "source", l == NULL ? "none" : l->list.frozen ? "learned" : "learning");
      json_gen_str (g, "programs");
      json_gen_array_open (g);
      for (size_t i = 0; l && i < l->list.n; i++)
        json_gen_str (g, l->list.v[i]);
      json_gen_array_close (g);
    }
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
}

void
detect_programs_close (struct daemon *d)
{
  procwatch_close (d->procwatch);
  d->procwatch = NULL;
  struct learned *l;
  while ((l = SLIST_FIRST (&d->learned)) != NULL)
    {
      SLIST_REMOVE_HEAD (&d->learned, link);
      if (l->timer)
        loop_cancel_timer (d->loop, l->timer);
      allow_list_free (&l->list);
      free (l->image_id);
      free (l);
    }
}
