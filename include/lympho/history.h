/* lympho — the history of adoptions, regenerations, refusals and incidents:
 * JSON lines in <state-dir>/history, newest last on disk, newest first when
 * read. Rotated to history.1 past HISTORY_MAX_BYTES. */
#ifndef LYMPHO_HISTORY_H
#define LYMPHO_HISTORY_H

#include <stdint.h>

#include "lympho/error.h"

#define HISTORY_MAX_BYTES (4u << 20)

struct history_entry
{
  uint64_t time_ms;     /* realtime */
  const char *name;
  const char *kind;     /* adopt, regen, refuse, recover, release, ... */
  const char *result;   /* ok, failed, refused */
  int64_t generation;   /* -1 when not applicable */
  const char *old_id;
  const char *new_id;
  const char *reason;
  const char *error;
  int64_t duration_ms;  /* -1 when not applicable */
  const char *strategy;
};

int history_append (const char *state_dir, const struct history_entry *e, lympho_error_t *err);
/* JSON array text, newest first; name NULL for all; limit 0 for no limit. */
int history_read (const char *state_dir, const char *name, size_t limit, char **json, lympho_error_t *err);

#endif
