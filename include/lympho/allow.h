/* lympho — what may run and what may change inside a protected container.
 *
 * Programs: the allow list comes from lympho.exec.allow or, without it, is
 * learned: every program the workload runs during the learning window after a
 * fresh generation starts is kept, per image id, in
 * <state-dir>/learned/<image hex>.json, so an image is learned once and the
 * list survives restarts. A program is identified by its executable path as
 * seen inside the container; a multi-call binary (busybox) also matches by
 * the applet path it was started as, when that path leads to the same file.
 *
 * Files: a changed path is allowed when it is, or lies under, one of the
 * allowed paths. */
#ifndef LYMPHO_ALLOW_H
#define LYMPHO_ALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"

struct allow_list
{
  char **v;
  size_t n;
  bool frozen;          /* the learning window is over */
  uint64_t learned_at_ms;
};

void allow_list_free (struct allow_list *l);
bool allow_list_has (const struct allow_list *l, const char *path);
/* Add once; returns true when it was new. */
bool allow_list_add (struct allow_list *l, const char *path);

/* Is `path` equal to, or under, one of v[0..n)? "/" matches everything. */
bool path_is_under (const char *path, char *const *v, size_t n);

/* <state_dir>/learned/<image hex><suffix>: where what is learned of an
 * image is kept (".json" programs, ".drift.json" start-up sets). */
char *allow_learned_file (const char *state_dir, const char *image_id, const char *suffix);
/* Learned lists on disk. load: -ENOENT when the image was never learned. */
int allow_learned_load (const char *state_dir, const char *image_id, struct allow_list *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
int allow_learned_save (const char *state_dir, const char *image_id, const struct allow_list *l,
                        lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
