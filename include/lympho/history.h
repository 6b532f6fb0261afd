/* lympho — the history of adoptions, regenerations, refusals and incidents:
 * JSON lines in <state-dir>/history, newest last on disk, newest first when
 * read. Rotated to history.1 past HISTORY_MAX_BYTES. */
#ifndef LYMPHO_HISTORY_H
#define LYMPHO_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/json.h"

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
  bool has_late;        /* a TTL (or retry) regeneration: how late it started */
  int64_t late_ms;
  /* incidents */
  const char *source;         /* alertmanager, falco, generic, cli, exec, drift, health, ... */
  int severity;               /* -1 when not applicable */
  double threat_level;        /* after the incident; < 0 when not applicable */
  const char *signature;
  const char *action;         /* none, shortened-ttl, regenerate, memory, duplicate */
  int64_t cut_ms;             /* alert received -> network cut; -1 when none */
  int64_t replaced_ms;        /* alert received -> new generation running; -1 when none */
  const char *forensic_image;
  /* The "detail" value (changes, processes, paths), written straight into
   * the line by detail (g, detail_arg); none when detail is NULL. */
  void (*detail) (json_gen g, const void *detail_arg);
  const void *detail_arg;
};

/* Designated initialiser fields for an entry that is not an incident. */
#define HISTORY_NO_INCIDENT .severity = -1, .threat_level = -1, .cut_ms = -1, .replaced_ms = -1

int history_append (const char *state_dir, const struct history_entry *e, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The entry as one line of JSON (no newline), as history_append writes it;
 * its time is now when e has none. */
char *history_entry_json (const struct history_entry *e);
/* Appends an entry made by history_entry_json. */
int history_append_json (const char *state_dir, const char *entry, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* JSON array text, newest first; name NULL for all; limit 0 for no limit.
 * A history file that cannot be read reads as empty. */
char *history_read (const char *state_dir, const char *name, size_t limit);

#endif
