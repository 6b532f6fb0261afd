/* lympho — the intent journal. Before every mutating step of a regeneration
 * a record is appended and fsync'd to <state-dir>/journal:
 *   {"op":"begin","txn":..,"name":..,"old_id":..,"gen":N,"new_name":..,"old_name":..,"strategy":..,"reason":..}
 *     (and "keep_old_down":true when a rollback must not start the old one again)
 *   {"op":"step","txn":..,"step":"create|start-new|stop-old|rename-old|rename-new|remove-old|...","id":..}
 *   {"op":"commit","txn":..,"new_id":..}   the new generation holds the name and runs
 *   {"op":"end","txn":..,"result":"ok|failed|rolled-back"}
 * An incident that will replace an infected generation opens a transaction
 * of its own before its quarantine, ended when the incident is over:
 *   {"op":"incident","txn":..,"name":..,"old_id":..,"gen":N,"reason":..,"keep_old_down":true}
 * one still open at start-up is finished: that generation is replaced.
 * At start-up the transactions without an end are replayed against what the
 * engine reports (see recover_decide in regen.h). A torn last line (a crash
 * in the middle of a write) is cut off on open; any other damaged record is
 * skipped and counted, and the other transactions are recovered. */
#ifndef LYMPHO_JOURNAL_H
#define LYMPHO_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/error.h"

struct txn
{
  char *txn;
  char *name;      /* the protected name */
  char *old_id;    /* NULL when there was no old container */
  char *new_name;  /* temporary name of the new generation */
  char *old_name;  /* name the old one is moved to before the swap of names */
  char *strategy;
  char *reason;
  char *new_id;    /* from the create step or the commit, when recorded */
  char *last_step;
  unsigned generation;
  bool keep_old_down; /* infected: a rollback never starts the old one again */
  bool committed;
  bool incident;      /* an incident's, not a regeneration's ("op":"incident") */
};
void txn_free (struct txn *t);

struct journal;

int journal_open (const char *state_dir, struct journal **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void journal_close (struct journal *j);
/* The begin record of t, or its incident record when t->incident. */
int journal_begin (struct journal *j, const struct txn *t, lympho_error_t *err) LYMPHO_MUST_CHECK;
int journal_step (struct journal *j, const char *txn, const char *step, const char *id, lympho_error_t *err) LYMPHO_MUST_CHECK;
int journal_commit (struct journal *j, const char *txn, const char *new_id, lympho_error_t *err) LYMPHO_MUST_CHECK;
int journal_end (struct journal *j, const char *txn, const char *result, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Truncate once nothing is open (called when the last transaction ends). */
int journal_compact (struct journal *j, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Pure: the transactions of a journal text that have no end record. A
 * damaged record is skipped and counted in *bad, the first described in
 * err (the return is still 0): the rest is recovered all the same. */
int journal_replay (const char *text, size_t len, struct txn **open, size_t *n, size_t *bad,
                    lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Read and replay the journal file of a state dir. */
int journal_load (const char *state_dir, struct txn **open, size_t *n, size_t *bad,
                  lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
