/* lympho — golden snapshots on disk.
 * May call: json and util: a leaf. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/store.h"
#include "lympho/util.h"

void
golden_free (struct golden *g)
{
  if (g == NULL)
    return;
  free (g->name);
  free (g->source_id);
  free (g->image_id);
  free (g->pin_ref);
  for (size_t i = 0; i < g->n_old_pins; i++)
    free (g->old_pins[i]);
  free (g->old_pins);
  free (g->spec);
  rt_labels_free (&g->labels);
  free (g->swap_blocker);
  memset (g, 0, sizeof *g);
}

void
golden_from_snapshot (struct golden *g, struct rt_snapshot *s)
{
  memset (g, 0, sizeof *g);
  g->name = steal_pointer (&s->name);
  g->source_id = steal_pointer (&s->id);
  g->image_id = steal_pointer (&s->image_id);
  g->spec = steal_pointer (&s->spec);
  g->labels = s->labels;
  s->labels.n = 0;
  s->labels.v = NULL;
  g->has_healthcheck = s->has_healthcheck;
  g->swap_blocker = steal_pointer (&s->swap_blocker);
  g->stop_timeout_s = s->stop_timeout_s;
  g->adopted_at_ms = now_real_ms ();
}

char *
golden_to_json (const struct golden *g)
{
  cleanup_jgen json_gen gen = json_gen_new (true);
  json_gen_map_open (gen);
  json_gen_kint (gen, "version", 1);
  json_gen_kstr (gen, "name", g->name);
  json_gen_kstr (gen, "source_id", g->source_id);
  json_gen_kstr (gen, "image_id", g->image_id);
  json_gen_kstr (gen, "pin_ref", g->pin_ref);
  json_gen_str (gen, "old_pins");
  json_gen_array_open (gen);
  for (size_t i = 0; i < g->n_old_pins; i++)
    json_gen_str (gen, g->old_pins[i]);
  json_gen_array_close (gen);
  json_gen_kstr (gen, "spec", g->spec);
  json_gen_str (gen, "labels");
  json_gen_map_open (gen);
  for (size_t i = 0; i < g->labels.n; i++)
    json_gen_kstr (gen, g->labels.v[i].key, g->labels.v[i].value);
  json_gen_map_close (gen);
  json_gen_kbool (gen, "has_healthcheck", g->has_healthcheck);
  json_gen_kstr (gen, "swap_blocker", g->swap_blocker);
  json_gen_kint (gen, "stop_timeout_s", g->stop_timeout_s);
  json_gen_kint (gen, "adopted_at_ms", (int64_t) g->adopted_at_ms);
  json_gen_map_close (gen);
  return json_gen_text (gen);
}

static int
req_str (json_val root, const char *key, char **out, bool nullable, lympho_error_t *err)
{
  json_val v = json_get (root, key);
  if (nullable && (v == NULL || json_is_null (v)))
    {
      *out = NULL;
      return 0;
    }
  if (json_str (v) == NULL)
    return lympho_error_set (err, EINVAL, "snapshot: `%s` missing or not a string", key);
  *out = xstrdup (json_str (v));
  return 0;
}

int
golden_from_json (const char *text, size_t len, struct golden *g, lympho_error_t *err)
{
  cleanup_json json_val root = NULL;
  memset (g, 0, sizeof *g);
  if (json_parse (text, len, &root, err) < 0)
    return lympho_error_prefix (err, "snapshot");
  int64_t version = 0;
  if (!json_as_int64 (json_get (root, "version"), &version) || version != 1)
    return lympho_error_set (err, EINVAL, "snapshot: unsupported version");
  int ret = 0;
  if ((ret = req_str (root, "name", &g->name, false, err)) < 0
      || (ret = req_str (root, "source_id", &g->source_id, false, err)) < 0
      || (ret = req_str (root, "image_id", &g->image_id, false, err)) < 0
      || (ret = req_str (root, "pin_ref", &g->pin_ref, true, err)) < 0
      || (ret = req_str (root, "spec", &g->spec, false, err)) < 0
      || (ret = req_str (root, "swap_blocker", &g->swap_blocker, true, err)) < 0)
    goto fail;
  json_val pins = json_get (root, "old_pins");
  if (pins != NULL && !json_is_array (pins))
    {
      ret = lympho_error_set (err, EINVAL, "snapshot: `old_pins` is not an array");
      goto fail;
    }
  for (size_t i = 0; i < json_arr_len (pins); i++)
    {
      const char *p = json_str (json_arr_at (pins, i));
      if (p == NULL)
        {
          ret = lympho_error_set (err, EINVAL, "snapshot: old_pins holds a non-string");
          goto fail;
        }
      g->old_pins = xrealloc (g->old_pins, (g->n_old_pins + 1) * sizeof *g->old_pins);
      g->old_pins[g->n_old_pins++] = xstrdup (p);
    }
  json_val labels = json_get (root, "labels");
  if (labels == NULL || !json_is_object (labels))
    {
      ret = lympho_error_set (err, EINVAL, "snapshot: `labels` missing");
      goto fail;
    }
  for (size_t i = 0; i < json_obj_len (labels); i++)
    {
      const char *v = json_str (json_obj_value (labels, i));
      if (v == NULL)
        {
          ret = lympho_error_set (err, EINVAL, "snapshot: label `%s` is not a string", json_obj_key (labels, i));
          goto fail;
        }
      rt_labels_set (&g->labels, json_obj_key (labels, i), v);
    }
  /* Absent members keep their defaults; present ones must have their type,
   * or a corrupt file would silently change how the next generation runs. */
  json_val hc = json_get (root, "has_healthcheck");
  if (hc != NULL && !json_is_true (hc) && !json_is_false (hc))
    {
      ret = lympho_error_set (err, EINVAL, "snapshot: `has_healthcheck` is not a boolean");
      goto fail;
    }
  g->has_healthcheck = json_is_true (hc);
  int64_t n = -1;
  json_val st = json_get (root, "stop_timeout_s");
  if (st != NULL && (!json_as_int64 (st, &n) || n < INT_MIN || n > INT_MAX))
    {
      ret = lympho_error_set (err, EINVAL, "snapshot: `stop_timeout_s` is not an integer in range");
      goto fail;
    }
  g->stop_timeout_s = (int) n;
  json_val at = json_get (root, "adopted_at_ms");
  int64_t t = 0;
  if (at != NULL && !json_as_int64 (at, &t))
    {
      ret = lympho_error_set (err, EINVAL, "snapshot: `adopted_at_ms` is not an integer");
      goto fail;
    }
  g->adopted_at_ms = (uint64_t) t;
  return 0;
fail:
  golden_free (g);
  return ret;
}

static char *
snapshot_path (const char *state_dir, const char *name)
{
  return xasprintf ("%s/snapshots/%s.json", state_dir, name);
}

/* A name the snapshot file may carry: no way out of snapshots/ (engines
 * refuse '/' in names; the store does not rely on it). */
static int
check_name (const char *name, lympho_error_t *err)
{
  if (name == NULL || name[0] == '\0' || name[0] == '.' || strchr (name, '/') != NULL)
    return lympho_error_set (err, EINVAL, "snapshot name `%s` is not a container name", name ? name : "");
  return 0;
}

int
store_init (const char *state_dir, lympho_error_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/snapshots", state_dir);
  return mkdir_p (dir, 0700, err);
}

int
store_save (const char *state_dir, const struct golden *g, lympho_error_t *err)
{
  int ret = check_name (g->name, err);
  if (ret < 0)
    return ret;
  cleanup_free char *path = snapshot_path (state_dir, g->name);
  cleanup_free char *text = golden_to_json (g);
  return write_file_atomic (path, text, strlen (text), 0600, err);
}

int
store_remove (const char *state_dir, const char *name, lympho_error_t *err)
{
  int ret = check_name (name, err);
  if (ret < 0)
    return ret;
  cleanup_free char *path = snapshot_path (state_dir, name);
  if (unlink (path) < 0 && errno != ENOENT)
    return lympho_error_set_errno (err, errno, "remove `%s`", path);
  return 0;
}

int
store_load_all (const char *state_dir, struct golden **out, size_t *n,
                void (*bad) (const char *path, const lympho_error_t *e), lympho_error_t *err)
{
  cleanup_free char *dirpath = xasprintf ("%s/snapshots", state_dir);
  *out = NULL;
  *n = 0;
  DIR *d = opendir (dirpath);
  if (d == NULL)
    return errno == ENOENT ? 0 : lympho_error_set_errno (err, errno, "open `%s`", dirpath);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      size_t len = strlen (de->d_name);
      if (len < 6 || strcmp (de->d_name + len - 5, ".json") != 0)
        continue;
      cleanup_free char *path = xasprintf ("%s/%s", dirpath, de->d_name);
      cleanup_free char *text = NULL;
      size_t tlen = 0;
      lympho_error_t e = { 0 };
      struct golden g;
      if (read_file (path, 64 << 20, &text, &tlen, &e) < 0 || golden_from_json (text, tlen, &g, &e) < 0)
        {
          if (bad)
            bad (path, &e);
          continue;
        }
      *out = xrealloc (*out, (*n + 1) * sizeof **out);
      (*out)[(*n)++] = g;
    }
  closedir (d);
  return 0;
}

char *
store_pin_repo (const char *name)
{
  /* Repository names are lower case; container names may not be. */
  char *r = xasprintf ("lympho-pin/%s", name);
  for (char *p = r; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char) (*p - 'A' + 'a');
  return r;
}
