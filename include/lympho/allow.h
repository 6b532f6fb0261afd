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

/* A learned list holds at most this many programs of at most this many
 * bytes each: a workload (or an intruder during the window) that runs more
 * does not grow lymphd without bound. */
#define ALLOW_LEARN_MAX 1024
#define ALLOW_PATH_MAX 1024

struct allow_list
{
  char **v;
  size_t n;
  bool frozen;          /* the learning window is over */
  uint64_t learned_at_ms;
  size_t refused;       /* programs not kept: past the caps */
};

void allow_list_free (struct allow_list *l);
bool allow_list_has (const struct allow_list *l, const char *path);
/* Add once; returns true when it was new. A path longer than
 * ALLOW_PATH_MAX, or one more than ALLOW_LEARN_MAX, is refused and counted. */
bool allow_list_add (struct allow_list *l, const char *path);

/* An entry of lympho.exec.allow may pin the file's contents:
 * PATH@sha256:HEX (64 lower-case hex digits). The length of its path part;
 * *sha256 (may be NULL) the hex digits, or NULL when it pins none. */
#define ALLOW_SHA256_SEP "@sha256:"
size_t allow_entry_path_len (const char *entry, const char **sha256);
/* Whether entry names path (its pin aside). */
bool allow_entry_names (const char *entry, const char *path);
/* -EINVAL with a message when an entry's pin is not 64 lower-case hex
 * digits. */
int allow_entry_check (const char *entry, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Is `path` equal to, or under, one of v[0..n)? "/" matches everything. */
bool path_is_under (const char *path, char *const *v, size_t n);

/* <state_dir>/learned/<image hex><suffix>: where what is learned of an
 * image is kept (".json" programs, ".drift.json" start-up sets). */
char *allow_learned_file (const char *state_dir, const char *image_id, const char *suffix);
/* Learned lists on disk. load: -ENOENT when the image was never learned;
 * -EINVAL when the file is not a list within the caps. */
int allow_learned_load (const char *state_dir, const char *image_id, struct allow_list *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
int allow_learned_save (const char *state_dir, const char *image_id, const struct allow_list *l,
                        lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
