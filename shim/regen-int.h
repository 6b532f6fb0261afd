/* lympho — the regeneration's internals, shared by regen.c (the forward
 * path, rollback, the machine) and regen-recover.c (crash recovery), and
 * no one else. */
#ifndef LYMPHO_REGEN_INT_H
#define LYMPHO_REGEN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "lympho/regen.h"
#include "lympho/swarm.h"

enum phase
{
  P_CHECK_IMAGE = 0,
  P_BEGIN,
  P_CREATE,
  P_START_SWAP,
  P_WAIT_READY,
  P_PUBLISH,
  P_STOP_OLD,
  P_RENAME_OLD,
  P_RENAME_NEW,
  P_START_NEW,
  P_VERIFY,
  P_COMMIT,
  P_DRAIN_OLD,
  P_REMOVE_OLD,
  P_DONE,
  /* rollback */
  P_RB_REMOVE_NEW,
  P_RB_RENAME_OLD,
  P_RB_START_OLD,
  P_RB_DONE,
  /* recovery: observe first */
  P_OBS_OLD,
  P_OBS_NEW,
  P_OBS_DECIDE,
  /* swarm (regen-swarm.c) */
  P_SW_SERVICE,
  P_SW_REMOVE,
  P_SW_WAIT,
};

struct regen
{
  struct regen_env env;
  struct golden golden;
  bool have_golden;
  char *name;
  char *txn;
  char *old_id;
  char *new_id;
  char *new_name;
  char *old_name;
  char *reason;
  unsigned generation;      /* of the new one */
  unsigned old_generation;
  enum strategy strategy;
  enum phase phase;
  bool recovering;
  bool stop_requested;
  bool begun;               /* journal begin written */
  bool committed;
  /* facts, for rollback and recovery */
  bool new_created, new_started, new_named;
  bool old_stopped, old_renamed, old_exists;
  uint64_t started_mono;
  uint64_t ready_deadline;
  uint64_t running_since;   /* swap without healthcheck: first seen running */
  uint64_t timer;
  unsigned remove_tries;
  bool verify_waited;
  bool keep_old_down;
  uint64_t running_mono;
  char **drain;             /* swap: networks the old one leaves before it stops */
  size_t n_drain, drain_i;
  lympho_error_t failure;   /* first error, kept through rollback */
  struct swarm_task swarm;  /* SWARM: the task; its key is the name */
  uint64_t swarm_deadline;  /* SWARM: the replacement runs by then (monotonic) */
  int64_t swarm_delay_ms;   /* SWARM: the service's restart delay, -1 not known */
  regen_done_cb cb;
  void *ud;
};

/* The waits of a regeneration when regen_env gives none. */
extern const struct regen_timing regen_default_timing;

/* regen.c */
/* Go to phase p on the next turn of the loop. */
void regen_go (struct regen *r, enum phase p);
/* A step failed: roll back before the commit, go on after it. */
void regen_fail (struct regen *r, int ret, const lympho_error_t *err);
/* Report the outcome to the caller and free r. */
void regen_finish (struct regen *r, enum regen_outcome outcome);
void regen_kick (struct loop *l, void *ud);
void regen_golden_copy (struct golden *dst, const struct golden *src);

/* Journal a mutating step's intent and tell it; false when the journal
 * cannot be written (the regeneration is failed already). */
bool regen_intend (struct regen *r, const char *step, const char *id);
/* The next phase of r's forward path. */
void regen_step_forward (struct regen *r);

/* regen-swarm.c: the phases P_SW_SERVICE, P_SW_REMOVE, P_SW_WAIT */
void regen_swarm_advance (struct regen *r);

/* regen-recover.c: the phases P_OBS_OLD, P_OBS_NEW, P_OBS_DECIDE */
void regen_observe_old (struct regen *r);
void regen_observe_new (struct regen *r);
void regen_decide (struct regen *r);

#endif
