/* lympho — one regeneration as an asynchronous state machine on the loop.
 *
 * Forward, replace:  check image, create (temporary name), rename old away,
 *                    rename new to the name, stop old, start new, verify it
 *                    runs, commit, remove old.
 * Forward, swap:     check image, create hidden (no network aliases), start
 *                    new, wait healthy (or running for the settle period),
 *                    publish (join the aliases), rename old away, rename
 *                    new, verify, commit, drain old (leave its networks),
 *                    stop old, remove old.
 * Forward, swarm:    ask the service (a manager can tell: a service whose
 *                    tasks are never replaced is refused, nothing touched),
 *                    remove old (forced), wait for the swarm's new task of
 *                    the slot to run, commit. Nothing to roll back after
 *                    the removal: the swarm owns the slot (regen-swarm.c).
 * Before commit any failure rolls back: remove new, rename old back, start
 * old if it was stopped — the old generation keeps serving. Every mutating
 * step is journalled (fsync) before it is taken.
 *
 * Crash recovery replays an open journal transaction against what the engine
 * reports, with recover_decide(): roll forward when the new generation exists
 * and holds the name (or the old one is gone), else roll back. */
#ifndef LYMPHO_REGEN_H
#define LYMPHO_REGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/journal.h"
#include "lympho/labels.h"
#include "lympho/runtime.h"
#include "lympho/store.h"

struct loop;
struct config;
struct regen;
struct swarm_task;

/* The state machine's own waits. The daemon leaves regen_env's timing NULL
 * and gets the defaults; a test sets them near 0 so that a run costs no
 * wall time (the waits still go through the loop's timers). */
struct regen_timing
{
  uint64_t verify_delay_ms; /* before the last look at the new generation ahead of the commit; default 300 */
  uint64_t ready_poll_ms;   /* swap: between looks while waiting for it to be ready; default 200 */
  uint64_t swarm_poll_ms;   /* swarm: between looks for the swarm's replacement; default 250 */
};

/* One step of a regeneration, as its journal has it, for whoever follows
 * them as they happen (lymphctl events): "begin" (id: the old generation,
 * detail: why), each mutating step before it is taken, "created" (id: the
 * new one), "commit" (id: the new one) and "end" (detail: ok, rolled-back
 * or failed). Valid during the call. */
struct regen_step
{
  const char *name;
  const char *txn;
  const char *step;
  const char *id;     /* NULL: none */
  const char *detail; /* NULL: none */
  unsigned generation;
};
typedef void (*regen_step_cb) (void *ud, const struct regen_step *s);

struct regen_env
{
  struct loop *loop;
  const struct runtime_ops *ops;
  struct runtime *rt;
  struct journal *journal;
  const struct config *cfg;
  const struct regen_timing *timing; /* NULL: the defaults */
  regen_step_cb on_step;             /* NULL: nobody follows */
  void *step_ud;
};

enum regen_outcome
{
  REGEN_OK = 0,      /* the new generation holds the name and runs */
  REGEN_REFUSED,     /* nothing was touched (e.g. the pinned image is gone) */
  REGEN_ROLLED_BACK, /* failed, and the old generation serves again */
  REGEN_BROKEN,      /* failed and could not roll back; the journal keeps it open for recovery */
};
const char *regen_outcome_name (enum regen_outcome o);

struct regen_result
{
  enum regen_outcome outcome;
  lympho_error_t err;        /* why, when not OK; with OK, what failed past the commit (status 0: nothing) */
  const char *name;
  const char *txn;
  const char *reason;         /* regen_reason() */
  const char *new_id;        /* the container that holds the name now (new or old) */
  unsigned generation;       /* of the container holding the name */
  enum strategy strategy;
  uint64_t duration_ms;
  uint64_t running_mono_ms;  /* when the new generation was started (0 if never) */
  bool recovered;            /* this was a crash recovery */
};
typedef void (*regen_done_cb) (void *ud, const struct regen_result *res);

struct regen_params
{
  const struct golden *golden; /* copied */
  const char *old_id;          /* NULL: nothing runs under the name */
  unsigned old_generation;
  enum strategy strategy;      /* REPLACE, SWAP (auto resolved by the caller) or SWARM */
  const struct swarm_task *swarm; /* SWARM: the task (copied) */
  const char *reason;
  bool keep_old_down;          /* infected: a rollback renames the old one back but never restarts it */
  char *const *old_networks;   /* swap: networks the old one leaves before it stops, so that */
  size_t n_old_networks;       /* name resolution stops handing out its address first */
};

/* Start a regeneration. Never fails: the callback runs once, from the
 * loop, with the outcome; the regeneration is valid until then. */
struct regen *regen_start (const struct regen_env *env, const struct regen_params *p, regen_done_cb cb, void *ud);
/* Recover an open journal transaction (regen-recover.c); golden may be NULL
 * (then a missing container cannot be recreated). As regen_start. */
struct regen *regen_recover (const struct regen_env *env, const struct txn *t, const struct golden *golden,
                             regen_done_cb cb, void *ud);
/* Shutdown: a regeneration whose new generation is verifying (or already
 * committed) finishes; one before that rolls back once the step in flight
 * has answered (test_regen pins where each phase goes). */
void regen_request_stop (struct regen *r);
const char *regen_name (const struct regen *r);
const char *regen_phase_name (const struct regen *r);
const char *regen_txn (const struct regen *r);
/* Why it runs, as the caller gave it; "recovery" for a crash recovery. */
const char *regen_reason (const struct regen *r);

/* Pure decision for recovery. */
struct recover_obs
{
  bool old_exists, old_running, old_holds_name;
  bool new_exists, new_running, new_holds_name;
};
enum recover_way { RECOVER_NOTHING = 0, RECOVER_FORWARD, RECOVER_BACK, RECOVER_RECREATE };
enum recover_way recover_decide (const struct recover_obs *o, bool committed);

/* Temporary names: "<name>-lympho-new-<txn>", "<name>-lympho-old-<txn>". */
char *regen_new_name (const char *name, const char *txn);
char *regen_old_name (const char *name, const char *txn);
/* A new transaction id (8 hex digits), for the journal. */
char *regen_new_txn_id (void);
/* Whether name is one of those two for base, whatever the transaction. */
bool regen_is_temp_name (const char *name, const char *base);

#endif
