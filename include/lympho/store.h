/* lympho — the golden snapshot store: one JSON file per protected name under
 * <state-dir>/snapshots/, written atomically. A regeneration always builds
 * from here, never from the running container. */
#ifndef LYMPHO_STORE_H
#define LYMPHO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/runtime.h"

struct golden
{
  char *name;          /* the protected name */
  char *source_id;     /* the container adopted as generation 0 */
  char *image_id;      /* pinned by id */
  char *pin_ref;       /* "lympho-pin/<name>:<12 hex>", keeps a prune away */
  char **old_pins;     /* earlier pins kept for retention, newest first */
  size_t n_old_pins;
  char *spec;          /* the backend's create specification */
  struct rt_labels labels;
  bool has_healthcheck;
  char *swap_blocker;
  int stop_timeout_s;
  uint64_t adopted_at_ms;
};

void golden_free (struct golden *g);
/* Take the fields of a runtime snapshot (s is left empty). */
void golden_from_snapshot (struct golden *g, struct rt_snapshot *s);

char *golden_to_json (const struct golden *g);
int golden_from_json (const char *text, size_t len, struct golden *g, lympho_error_t *err) LYMPHO_MUST_CHECK;

int store_init (const char *state_dir, lympho_error_t *err) LYMPHO_MUST_CHECK;
int store_save (const char *state_dir, const struct golden *g, lympho_error_t *err) LYMPHO_MUST_CHECK;
int store_remove (const char *state_dir, const char *name, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Every stored snapshot; a corrupt file is reported through `bad` (called
 * with its path and the error) and skipped, never fatal. */
int store_load_all (const char *state_dir, struct golden **out, size_t *n,
                    void (*bad) (const char *path, const lympho_error_t *e), lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Docker-compatible repository name for a container's pin. */
char *store_pin_repo (const char *name);

#endif
