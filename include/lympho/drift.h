/* lympho — which changes of a container's writable layer are drift.
 *
 * The engine lists what differs from the image (added, changed, deleted
 * paths). Applications write at start (pid files, caches, generated config,
 * a page naming the container), so the list of a healthy container is rarely
 * empty. A change is drift when it is none of these:
 *  - under one of lympho.drift.allow, or in one of the container's mounts (or
 *    a directory the engine made so that a mount has somewhere to go);
 *  - in the start-up set of the image as the protected container runs it: the
 *    changes a fresh generation, started by lympho itself, made during its
 *    start-up window. It is learned once per image and protected name (one
 *    image run as `web` and as `worker` writes different files at start), kept
 *    in <state-dir>/learned/<image hex>.drift.json with the sets of the
 *    image's other names, and capped at DRIFT_SET_MAX paths.
 * A path of the start-up set is still drift when it changes after its own
 * generation's window: each generation's start-up files are stamped (inode,
 * size, mode, mtime, ctime) when the window closes, and a later difference,
 * an appearance or a disappearance is drift. Directories are not stamped:
 * what changes inside them is judged path by path. */
#ifndef LYMPHO_DRIFT_H
#define LYMPHO_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lympho/error.h"
#include "lympho/json.h"
#include "lympho/runtime.h"

/* More start-up changes than this and the set is not learned. */
#define DRIFT_SET_MAX 1024

struct drift_path
{
  char kind;   /* 'A', 'C' or 'D', as the engine lists it */
  char *path;
};

/* Sorted by path, then kind. */
struct drift_set
{
  struct drift_path *v;
  size_t n;
  char *name;             /* the protected name it belongs to */
  uint64_t learned_at_ms; /* realtime */
  int64_t from_generation; /* the generation it was learned from */
};

void drift_set_free (struct drift_set *s);
bool drift_set_has (const struct drift_set *s, char kind, const char *path);
/* Add once (kind must be A, C or D, path absolute); true when it was new. */
bool drift_set_add (struct drift_set *s, char kind, const char *path);
/* {"name":…, "learned_at_ms":…, "from_generation":…, "changes": [{"kind":"A","path":…}, …]} */
void drift_set_gen (json_gen g, const struct drift_set *s);
/* The set of an image for one name, from disk; -ENOENT when it was never
 * learned. A file that does not hold valid sets is an error (-EINVAL), never
 * half-read. */
int drift_set_load (const char *state_dir, const char *image_id, const char *name, struct drift_set *out,
                    lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Write s (for s->name) beside the image's other sets, atomically. A file
 * that cannot be read as sets is replaced. */
int drift_set_save (const char *state_dir, const char *image_id, const struct drift_set *s, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Not the workload's change at all: allowed, or a mount (or on the way to one). */
bool drift_ignored (const char *path, char *const *allow, size_t n_allow, char *const *mounts, size_t n_mounts);

/* --- stamps of a generation's start-up files ----------------------------- */

enum drift_stamp_state
{
  DRIFT_STAMP_UNKNOWN = 0, /* could not be looked at (permission, a mount on the way) */
  DRIFT_STAMP_ABSENT,
  DRIFT_STAMP_DIR,
  DRIFT_STAMP_PRESENT,
};

struct drift_stamp
{
  char *path;
  enum drift_stamp_state state;
  int error;               /* errno when UNKNOWN */
  dev_t dev;
  ino_t ino;
  mode_t mode;
  off_t size;
  struct timespec mtime, ctime;
};

struct drift_stamps
{
  struct drift_stamp *v;
  size_t n;
};

/* The root of a process's file system view (/proc/PID/root), for
 * drift_stamp_take; -errno on failure. */
int drift_root_open (int pid);
/* Look at one path under root_fd without leaving it: symlinks resolve inside
 * the root, no magic links, no mount crossing, the last component not
 * followed. */
void drift_stamp_take (int root_fd, const char *path, struct drift_stamp *out);
/* Stamp every added or changed path of the set. */
void drift_stamps_take (int root_fd, const struct drift_set *s, struct drift_stamps *out);
void drift_stamps_free (struct drift_stamps *st);

/* --- judging ------------------------------------------------------------- */

struct drift_rules
{
  char *const *allow;
  size_t n_allow;
  char *const *mounts;
  size_t n_mounts;
  const struct drift_set *startup;   /* NULL: none, every change counts */
  const struct drift_stamps *stamps; /* NULL: the start-up window is not over */
  int root_fd;                       /* to look at stamped paths again; -1: cannot */
};

enum drift_why
{
  DRIFT_WHY_OUTSIDE = 0,  /* outside the allowed paths and the start-up set */
  DRIFT_WHY_AFTER_START,  /* a start-up path changed after the window */
  DRIFT_WHY_REMOVED,      /* a start-up path present at the window's end is gone */
};

struct drift_finding
{
  char kind;
  const char *path;       /* points into the changes or the stamps */
  enum drift_why why;
};

/* The findings among n changes, in the engine's order, then the removed
 * start-up paths; *out is allocated (free it) and NULL when there are none. */
size_t drift_judge (const struct drift_rules *r, const struct rt_change *v, size_t n, struct drift_finding **out);
/* "A /x, C /y (after start-up)" for the first `max` findings, " ..." after. */
char *drift_findings_text (const struct drift_finding *f, size_t n, size_t max);

#endif
