/* lympho — the daemon's internal state, shared by the files that make up
 * the daemon, one duty each. Not a public header. Below, each file's
 * functions that others call, under its name:
 *   daemon.c     daemon_run, signals, reload, shutdown, watchdog, status,
 *                the HTTP listener's callbacks
 *   entry.c      the entries: find, look up, new, free, remove; waiters
 *   admission.c  scheduling, admission, the queue, a regeneration's end
 *                (retry and recovery backoff)
 *   adopt.c      adoption, snapshots, pins, refused labels, leftovers
 *   reconcile.c  the engine's lists, inspects, events and connection
 *                (a swarm task's slot too)
 *   services.c   swarm services regenerated as a whole (service lympho.ttl)
 *   command.c    the control commands, one table
 *   detect.c     lymphd's own detectors: health, exits, their life cycle
 *                (detect-programs.c, detect-drift.c: detect-int.h)
 *   incident.c   alerts, threat, quarantine, forensics, memory
 * Each file prefixes its functions with its name, daemon.c with daemon_.
 * detect*.c and incident.c call none of the others: they ask the daemon
 * through struct daemon_actions (d->act), which daemon.c fills, and
 * tests/unit/layering.sh checks that on the objects. */
#ifndef LYMPHO_DAEMON_INT_H
#define LYMPHO_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "lympho/alerts.h"
#include "lympho/config.h"
#include "lympho/control.h"
#include "lympho/drift.h"
#include "lympho/history.h"
#include "lympho/journal.h"
#include "lympho/labels.h"
#include "lympho/proctree.h"
#include "lympho/memory.h"
#include "lympho/metrics.h"
#include "lympho/regen.h"
#include "lympho/runtime.h"
#include "lympho/sched.h"
#include "lympho/store.h"
#include "lympho/strmap.h"
#include "lympho/swarm.h"
#include "lympho/threat.h"

struct httpd;
struct incident;
struct parser;
struct execguard;
struct services;
struct fleet;
struct adopt_ctx;

#define SHUTDOWN_GRACE_MS 120000

enum entry_state
{
  ES_UNKNOWN = 0,   /* snapshot loaded, engine not asked yet */
  ES_RUNNING,
  ES_STOPPED,       /* stopped on purpose through the engine: left stopped */
  ES_REGENERATING,
  ES_BROKEN,        /* a regeneration could not roll back; recovery pending */
};

struct waiter
{
  struct control_request *req;
  bool joined;              /* asked while the regeneration was already in flight */
  SLIST_ENTRY (waiter) link; /* in entry.waiters, newest first */
};

struct daemon;
/* Every entry of d in turn, as e (entry.c owns the list). */
#define ENTRY_FOREACH(e, d) for (struct entry *e = LIST_FIRST (&(d)->entries); e; e = LIST_NEXT (e, link))

/* What the detectors keep per entry (detect.c, detect-drift.c). */
struct entry_detect
{
  uint64_t stop_asked_mono; /* the engine was asked to stop or kill it */
  bool oom_seen;
  unsigned crashes;         /* young generations that died in a row */
  uint64_t drift_timer;
  bool drift_in_flight;
  unsigned drift_failures;  /* drift checks that failed in a row */
  bool drift_fresh;         /* this lymphd started this generation: it may teach its image's start-up set */
  uint64_t startup_timer;   /* the generation's start-up window closes */
  bool startup_in_flight;
  bool startup_over;        /* the window closed: `stamps` hold its start-up files as they were */
  struct drift_stamps stamps;
  char *drift_reported;     /* detect-only drift last reported, not repeated */
  /* The writable layer as the last check the engine answered found it
   * (layer.h), with what the verdict then depended on: while both are the
   * same, a check is answered by the layer alone, at most DRIFT_QUIET_MAX
   * times in a row. */
  bool layer_known;
  uint64_t layer_digest, layer_ctx;
  bool layer_asked;         /* the digest taken as the engine was asked */
  uint64_t layer_asked_digest, layer_asked_ctx;
  unsigned layer_quiet;     /* checks in a row answered by the layer */
  uint64_t drift_asked;     /* checks asked of the engine, this generation */
  uint64_t drift_unchanged; /* checks answered by the layer alone, this generation */
  /* the exec guard (detect-programs.c) */
  enum exec_mode exec_mode; /* in force: deny, detect or off (never auto) */
  char *exec_note;          /* why, when not deny */
  bool exec_would_deny;     /* observed: detect mode, where deny would be */
  char *guard_id;           /* the generation it guards or learns through, NULL: none */
  char *applied_id;         /* the generation and process the mode was worked out for */
  int applied_pid;
  /* The engine's mount namespace (its init's parent's), read once per
   * generation: engine_pid is the init it was read through, 0 when not. */
  struct proc_ns engine_ns;
  int engine_pid;
};

struct entry
{
  struct daemon *d;
  char *name;
  struct golden golden;
  struct policy policy;
  char *id;                 /* container holding the name */
  unsigned generation;
  enum entry_state state;
  uint64_t due_mono;        /* next regeneration, 0 when none is planned */
  uint64_t timer;
  unsigned failures;         /* failed regenerations in a row; the timer is their retry */
  char *last_error;          /* why the last regeneration or recovery failed, until one succeeds */
  bool queued;              /* due, waiting for admission */
  uint64_t queued_seq;      /* when it was queued, for first come first served */
  char *queued_reason;
  bool queued_urgent;       /* asked for by other than its TTL or a retry: goes first */
  uint64_t came_due_mono;   /* when its TTL or retry came due, 0 when not waiting on one */
  int64_t late_ms;          /* how late its TTL regeneration in flight started; -1: none */
  struct regen *regen;
  SLIST_HEAD (, waiter) waiters;
  bool busy;                /* adoption in flight */
  bool recover_blocked;     /* recovery failed; retried on reconnect or recover_timer */
  uint64_t recover_timer;   /* retries a failed recovery while the engine stays up */
  uint64_t recover_due_mono; /* when it fires, 0 when not armed */
  unsigned recover_tries;   /* failed recoveries in a row, for its backoff */
  bool keep_old_down;       /* the queued regeneration replaces an infected generation */
  uint64_t started_real_ms; /* when the current generation started */
  int pid;                  /* its main process on the host, 0 when unknown */
  char **networks;          /* its networks, for the engine-side quarantine */
  size_t n_networks;
  char *upper_dir;          /* its writable layer on the host (NULL: unknown): drift looks there first */
  char **mounts;            /* its mount destinations: not drift */
  size_t n_mounts;
  /* incidents */
  struct threat threat;
  char **firing;            /* Alertmanager fingerprints firing now */
  size_t n_firing;
  struct incident *incident; /* quarantine + forensics in flight */
  char *observed_sig;        /* observed: the last incident recorded, not recorded again for this generation */
  /* An incident a stop of lymphd cut short (its journal transaction is
   * open): the generation it was replacing is replaced once seen. */
  char *resume_txn;
  char *resume_old_id;
  char *resume_reason;
  bool resume_started;
  unsigned observed_gen;
  /* Forensic images back off: none before forensics_next_mono; each image
   * taken doubles the wait (forensics_streak), a quiet hour resets it. */
  uint64_t forensics_next_mono;
  unsigned forensics_streak;
  struct entry_detect det;  /* the detectors' own: detect*.c alone touch it */
  uint64_t stopped_mono;    /* when it was last seen stopping */
  bool engine_took;         /* running (or just stopped) when the engine went away */
  char *replaced_by;        /* its operator (compose) replaces it with this container, which takes the name */
  struct swarm_task *swarm; /* a swarm task's slot (swarm.h): its name is "<service>.<slot>"; NULL: not one */
  uint64_t slot_timer;      /* its task removed outside lympho: when to look for the slot's next (reconcile.c) */
  LIST_ENTRY (entry) link;  /* in daemon.entries */
};

/* What the detectors (detect*.c) and the incident path (incident.c) may ask
 * of the daemon, handed to them as d->act (daemon.c fills it): they call no
 * function of entry.c, admission.c or daemon.c and never walk the entry
 * table themselves, so the daemon's files depend on them and not the other
 * way round, and a test may hand them a table of its own. */
struct daemon_actions
{
  /* A history entry, counted. */
  void (*record) (struct daemon *d, const struct history_entry *h);
  /* Regenerate e now, or as soon as admission allows; keep_old_down: the
   * old generation is infected and never serves again. */
  void (*regenerate) (struct daemon *d, struct entry *e, const char *reason, bool keep_old_down);
  /* Move e's next regeneration to delay_ms from now. */
  void (*regenerate_in) (struct daemon *d, struct entry *e, uint64_t delay_ms);
  /* How long until e's next planned regeneration. */
  uint64_t (*remaining_ms) (struct daemon *d, struct entry *e);
  /* The entry by name, full id, or an id prefix of 12 or more; NULL. */
  struct entry *(*lookup) (struct daemon *d, const char *ref);
  struct entry *(*by_id) (struct daemon *d, const char *id);
  struct entry *(*by_name) (struct daemon *d, const char *name);
  /* The entry after e, the first when e is NULL; NULL after the last. */
  struct entry *(*next) (struct daemon *d, struct entry *e);
};
/* Every entry of d in turn, through d->act (detectors, incidents). */
#define DAEMON_EACH(e, d) for (struct entry *e = (d)->act->next ((d), NULL); e; e = (d)->act->next ((d), e))

struct daemon
{
  const struct daemon_actions *act;
  struct config *cfg;
  struct loop *loop;
  const struct runtime_ops *ops;
  struct runtime *rt;
  struct journal *journal;
  struct control *control;
  LIST_HEAD (, entry) entries; /* owned by entry.c; newest first */
  struct strmap entry_names;   /* the entries by name, and by id (entry.c): */
  struct strmap entry_ids;     /* set only through entry_set_name, entry_set_id */
  int sigfd;
  bool connected;
  bool ready_sent;
  bool syncing;
  bool shutting_down;
  bool no_changes;          /* the runtime cannot list changes: drift checks are off */
  uint64_t queue_seq;       /* the last queued_seq handed out */
  unsigned in_flight;       /* regenerations, recoveries included */
  unsigned recovering;      /* recoveries in flight */
  uint64_t started_mono;
  uint64_t regenerations, failures;
  uint64_t watchdog_timer;
  uint64_t trim_timer;      /* the heap's free pages handed back (daemon.c) */
  struct sched_rate regen_ends; /* when regenerations ended: the rate the engine keeps */
  struct sched_ttl_watch ttl_watch; /* whether the TTLs are being met */
  uint64_t ttl_timer;       /* the next look at the TTLs (admission.c) */
  uint64_t shutdown_deadline;
  char **refused_ids;       /* containers whose bad labels were reported */
  size_t n_refused;
  struct memory memory;
  struct metrics metrics;
  struct httpd *httpd;
  struct parser *parser;    /* parses the listener's bodies (parser.h); NULL without a listener */
  struct services *services; /* swarm services with a service-level lympho.ttl (services.c); NULL: none */
  struct notifier *notifier; /* notify-url receivers; NULL: none */
  struct fleet *fleet;       /* Alertmanagers and this node's name (fleet.h); NULL: not set up */
  char *notify_problem;      /* why there is none though notify-url is set */
  struct procwatch *procwatch;
  struct execguard *guard;  /* NULL: unavailable (guard_problem says why) */
  char *guard_problem;
  SLIST_HEAD (, learned) learned;          /* program lists per image (detect-programs.c) */
  SLIST_HEAD (, drift_image) drift_images; /* start-up sets per image and name (detect-drift.c) */
  struct strmap drift_index;  /* the same, by "<name>/<image id>" */
  LIST_HEAD (, incident) incidents_orphaned; /* incident.c: cancelled, runtime calls pending */
  LIST_HEAD (, adopt_ctx) adoptions;       /* adopt.c: snapshots and pins asked of the engine */
  LIST_HEAD (, drift_check) drift_checks;  /* asked of the engine, not answered yet (detect-drift.c) */
  uint64_t scan_timer;      /* the next look at every process (detect-programs.c) */
  const struct regen_timing *timing; /* regen's waits; NULL (lymphd): its defaults, a test shortens them */
};

/* Whether e is observed: detected, judged, scheduled and recorded, never
 * changed by lymphd on its own (its lympho.mode, else the daemon's mode).
 * An operator's own lymphctl regen still acts. */
static inline bool
entry_observed (const struct daemon *d, const struct entry *e)
{
  return e->policy.mode == LYMPHO_MODE_OBSERVE || (e->policy.mode == LYMPHO_MODE_DEFAULT && d->cfg->observe);
}

/* services.c: swarm services regenerated as a whole (a service label
 * lympho.ttl), on a manager. Never fails: an engine that is no manager
 * leaves it idle. Closed after the runtime. */
void services_open (struct daemon *d);
void services_close (struct daemon *d);
/* status' "swarm_services", when there are any. */
void services_status_gen (struct daemon *d, json_gen g);
/* A group alert at the threshold of a task of the service service_id (a
 * swarm task's entry): the whole service regenerated by a forced rolling
 * update, as its TTL would, on a manager. 1: asked of the swarm now; 0:
 * one of this service is already in flight (the alert is absorbed in it);
 * -ENOTSUP (err says why: no service API, not a manager) when the node
 * cannot, and the caller answers the task alone. Should the swarm refuse
 * it, each protected task of the service is regenerated instead (one at a
 * time: they are one group). */
int services_roll (struct daemon *d, const char *service_id, const char *service_name, const char *why,
                   lympho_error_t *err);

/* after.c: lympho.after. Regenerate e's dependants (it was regenerated);
 * the cycle the container `name` would close (malloc'd "a -> b -> a"), or
 * NULL. */
void after_regenerated (struct daemon *d, struct entry *e);
char *after_cycle (struct daemon *d, const char *name, const struct policy *p, const struct rt_labels *labels);

/* daemon.c: daemon_run, signals, reload, shutdown, watchdog, status, the
 * HTTP listener's callbacks. */
void daemon_record (struct daemon *d, const struct history_entry *h);
/* status' "notify": the receivers and what was sent, when notify-url is set. */
void daemon_notify_status (struct daemon *d, json_gen g);
/* STATUS= for systemd: how many protected and regenerating, the engine. */
void daemon_update_status (struct daemon *d);
/* Shutting down and nothing in flight: stop the loop. */
void daemon_maybe_exit (struct daemon *d);
/* What the runtime knows of the engine; zeroed when it cannot say. */
void daemon_engine_info (struct daemon *d, struct rt_engine_info *info);
/* What a regeneration or recovery of d runs with. */
struct regen_env daemon_regen_env (struct daemon *d);

/* entry.c: the entries in d->entries, and the requests waiting on one. */
struct entry *entry_new (struct daemon *d, const char *name);
struct entry *entry_find (struct daemon *d, const char *name);
struct entry *entry_by_id (struct daemon *d, const char *id);
/* e's engine id (NULL: none) and name, kept in the index entry_find and
 * entry_by_id read: an entry's id and name change only through these. */
void entry_set_id (struct daemon *d, struct entry *e, const char *id);
void entry_set_name (struct daemon *d, struct entry *e, const char *name);
/* By name, full id, or an id prefix of at least 12 characters. */
struct entry *entry_lookup (struct daemon *d, const char *ref);
/* Unlinks e from d->entries and the index, then frees it. */
void entry_remove (struct daemon *d, struct entry *e);
/* Frees e (not linked any more); its waiters hear ENOENT. */
void entry_free (struct daemon *d, struct entry *e);
/* The entries in state `only`, or all of them when `any`. */
unsigned entry_count (struct daemon *d, enum entry_state only, bool any);
/* req (may be NULL) waits for e's regeneration; joined: one already in flight. */
void entry_add_waiter (struct entry *e, struct control_request *req, bool joined);
void entry_reply_waiters (struct entry *e, bool ok, const char *result, int status, const char *msg);

/* admission.c: when an entry regenerates, whether it may start now, and
 * what follows its end. */
/* (Re)arm e's timer: its next regeneration in delay_ms. */
void admission_arm (struct daemon *d, struct entry *e, uint64_t delay_ms);
/* Until e's timer fires, 0 when due or not armed. */
uint64_t admission_remaining_ms (struct daemon *d, struct entry *e);
/* Plan e's next TTL regeneration, counted from when its generation started;
 * fresh: this lymphd started it. */
void admission_schedule_from (struct daemon *d, struct entry *e, uint64_t started_real_ms, bool fresh);
/* The strategy e regenerates with: replace when asked or when swap is
 * blocked (logged when swap was asked), swap otherwise. */
enum strategy admission_resolve_strategy (struct entry *e);
/* Regenerate now (or join the one in flight / queue it); req may be NULL. */
void admission_request_regen (struct daemon *d, struct entry *e, const char *reason, bool keep_old_down,
                           struct control_request *req);
/* Launch the queued regenerations that are admitted now. */
void admission_start_queued (struct daemon *d);
/* Start and stop the periodic look at whether the TTLs are being met. */
void admission_watch_start (struct daemon *d);
void admission_watch_stop (struct daemon *d);
/* The "ttl" field of status: the rate the TTLs need, the rate achieved,
 * what waits and how late. */
void admission_status_gen (struct daemon *d, json_gen g);
/* A regeneration or recovery ended (ud is the entry). */
void admission_on_regen_done (void *ud, const struct regen_result *res);

/* adopt.c: adoption, pins, refused labels, leftovers. */
/* Snapshot c, pin its image and protect it under `name`; takes *policy. */
void adopt_container (struct daemon *d, const struct rt_container *c, const char *name, struct policy *policy,
                      unsigned generation);
/* Removes the tag `ref` (NULL: nothing) from the engine, in the background. */
void adopt_untag (struct daemon *d, const char *ref);
/* Frees the adoptions the engine had not answered: after the runtime is
 * closed, which calls none of them back. */
void adopt_close (struct daemon *d);
/* True when id's refusal was reported already; remembers it otherwise. */
bool adopt_refused_before (struct daemon *d, const char *id);
/* The engine's answer to removing a leftover; ud is its name (freed). */
void adopt_leftover_removed (void *ud, int ret, const lympho_error_t *err);

/* reconcile.c: the engine's lists, inspects, events and connection. */
/* The engine's inspect answer: adopt, refresh or let go (ud is the daemon). */
void reconcile_on_inspected (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c);
/* Recover the open journal transactions, then list what the engine runs. */
void reconcile_sync_engine (struct daemon *d);
/* The runtime's subscribe callbacks (ud is the daemon). */
void reconcile_on_event (void *ud, const struct rt_event *ev);
void reconcile_on_conn (void *ud, bool connected);
/* e, a swarm slot, has no task running: its next one is looked for once
 * the swarm would have replaced the last (its default restart delay and
 * margin), and the slot let go when no task of it is left on this node. */
void reconcile_slot_check (struct daemon *d, struct entry *e);

/* command.c: the control commands, one table. */
enum command_arg_type
{
  COMMAND_ARG_STRING,
  COMMAND_ARG_INTEGER,
  COMMAND_ARG_BOOLEAN,
};
struct command_arg
{
  const char *name;             /* NULL ends a command's list */
  enum command_arg_type type;
  bool required;
  int64_t min, max;             /* an integer's range */
  size_t max_len;               /* a string's length in bytes */
};
struct command
{
  const char *name;
  const struct command_arg *args;
  void (*handler) (struct daemon *d, struct control_request *req, json_val args);
  const char *missing;          /* the usage error for a missing argument; NULL: "NAME: `ARG` is required" */
};
/* The command called `name`, NULL when there is none. */
const struct command *command_find (const char *name);
/* Checks args against c's list: -EINVAL, with the usage error to send, when
 * a required argument is missing or one has the wrong JSON type. Keys c
 * does not declare are accepted. */
int command_check (const struct command *c, json_val args, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The control socket's handler (ud is the daemon). */
void command_dispatch (void *ud, struct control_request *req, const char *cmd, json_val args);

/* detect.c */
/* Never fails: a detector that cannot run says so and the rest goes on. */
void detect_open (struct daemon *d);
void detect_close (struct daemon *d);
/* A generation of e started running: adopted, or regenerated by this lymphd
 * (fresh). */
void detect_generation_started (struct daemon *d, struct entry *e, bool fresh);
void detect_entry_free (struct daemon *d, struct entry *e);
/* The engine told e's main process (reconcile): the exec guard marks it. */
void detect_running (struct daemon *d, struct entry *e);
/* The daemon's mode changed (reload): each running entry's exec guard is
 * worked out again (deny where enforced, detect where observed). */
void detect_mode_changed (struct daemon *d);
/* What status says of the detectors: the guard, and each entry's mode. */
void detect_status_gen (struct daemon *d, json_gen g);
/* Engine events about a protected container; true when handled. */
bool detect_event (struct daemon *d, struct entry *e, const struct rt_event *ev);
/* The detectors' view of e for `ls --json`: keys "exec_allow" and "drift",
 * inside the entry's map. */
void detect_gen (struct daemon *d, struct entry *e, json_gen g);

/* incident.c */
int incident_alert (struct daemon *d, const struct alert *a, uint64_t received_mono, char **action,
                    lympho_error_t *err) LYMPHO_MUST_CHECK;
void incident_regen_done (struct daemon *d, struct entry *e, const struct regen_result *res);
void incident_entry_free (struct entry *e);
/* An incident's journal transaction open at start-up (t->incident): e's
 * generation t->old_id is replaced once reconciliation sees it running
 * (incident_resume), with keep_old_down. */
void incident_interrupted (struct daemon *d, struct entry *e, const struct txn *t);
void incident_resume (struct daemon *d, struct entry *e);
/* Whether an incident of e has its journal transaction open: the journal
 * is not compacted then. */
bool incident_journal_open (const struct entry *e);
/* Whether e's incident is preparing its regeneration (quarantine,
 * forensics), begun less than INCIDENT_HOLD_MS ago: admission keeps the
 * next free slot for it, no TTL regeneration takes it. */
#define INCIDENT_HOLD_MS 30000
bool incident_preparing (const struct entry *e, uint64_t now_mono);
/* Frees the incidents whose entry went away while runtime calls were
 * pending: after the runtime is closed, which calls none of them back. */
void incident_close (struct daemon *d);
char *incident_metrics (struct daemon *d);

#endif
