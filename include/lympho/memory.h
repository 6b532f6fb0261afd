/* lympho — immune memory. A signature (source + rule or alertname + program
 * or path) that caused a regeneration of a container, or of any member of its
 * group, is remembered for a window (default 7 days) in
 * <state-dir>/memory (JSON lines). Seen again within the window, it triggers
 * regeneration at its first sighting, without accumulating. */
#ifndef LYMPHO_MEMORY_H
#define LYMPHO_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"

struct memory_cell
{
  char *signature;
  char *name;
  char *group;    /* NULL: none */
  uint64_t time_ms;
};

struct memory
{
  struct memory_cell *v;
  size_t n;
  char *path;
};

/* At most this many cells are remembered: past it the oldest quarter is
 * forgotten and the file rewritten. A file larger than MEMORY_FILE_MAX is
 * read from its end (the newest cells) and compacted: it never keeps
 * lymphd from starting. */
#define MEMORY_MAX_CELLS 4096
#define MEMORY_FILE_MAX (16u << 20)

/* Load (cells older than the window are dropped and the file rewritten). */
int memory_open (const char *state_dir, uint64_t window_ms, uint64_t now_ms, struct memory *m, lympho_error_t *err) LYMPHO_MUST_CHECK;
void memory_close (struct memory *m);
int memory_remember (struct memory *m, const char *signature, const char *name, const char *group, uint64_t now_ms,
                     lympho_error_t *err) LYMPHO_MUST_CHECK;
/* True when signature caused a regeneration of `name` or of a member of
 * `group` (when non-NULL) within the window. */
bool memory_recall (const struct memory *m, const char *signature, const char *name, const char *group,
                    uint64_t now_ms, uint64_t window_ms);

#endif
