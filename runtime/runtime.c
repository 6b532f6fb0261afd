/* lympho — the runtime registry and the plain-data helpers of runtime.h.
 * May call: the backends' ops tables; json for labels. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "lympho/util.h"

const struct runtime_ops *
runtime_lookup (const char *name)
{
  static const struct runtime_ops *const all[] = { &runtime_docker_ops, &runtime_podman_ops };
  if (str_has_prefix (name, "exec:"))
    return name[5] == '/' ? &runtime_exec_ops : NULL;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp (all[i]->name, name) == 0)
      return all[i];
  return NULL;
}

const char *
runtime_endpoint (const char *name, const char *engine_address)
{
  return str_has_prefix (name, "exec:") ? name + 5 : engine_address;
}

const char *
rt_state_name (enum rt_state s)
{
  static const char *const names[] = { "unknown", "created", "running", "paused",
                                       "restarting", "removing", "exited", "dead" };
  return (unsigned) s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

const char *
rt_health_name (enum rt_health h)
{
  static const char *const names[] = { "none", "starting", "healthy", "unhealthy" };
  return (unsigned) h < sizeof names / sizeof names[0] ? names[h] : "none";
}

/* The inverse of rt_state_name (the engines' own words): unknown words are
 * RT_STATE_UNKNOWN. */
enum rt_state
rt_state_parse (const char *s)
{
  for (int i = RT_STATE_CREATED; s && i <= RT_STATE_DEAD; i++)
    if (strcmp (s, rt_state_name ((enum rt_state) i)) == 0)
      return (enum rt_state) i;
  return RT_STATE_UNKNOWN;
}

bool
rt_name_valid (const char *name)
{
  size_t n = name ? strlen (name) : 0;
  if (n == 0 || n > 255 || !isalnum ((unsigned char) name[0]))
    return false;
  for (size_t i = 1; i < n; i++)
    {
      unsigned char c = (unsigned char) name[i];
      if (!(isascii (c) && (isalnum (c) || c == '_' || c == '.' || c == '-')))
        return false;
    }
  return true;
}

bool
rt_image_id_valid (const char *id)
{
  size_t n = id ? strlen (id) : 0;
  if (n == 0 || n > 255)
    return false;
  const char *hex = strchr (id, ':');
  if (hex)
    {
      if (hex == id)
        return false;
      for (const char *p = id; p < hex; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
          return false;
      hex++;
    }
  else
    hex = id;
  if (*hex == '\0')
    return false;
  for (const char *p = hex; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

/* The inverse of rt_health_name; NULL, "none" and unknown words are
 * RT_HEALTH_NONE. */
enum rt_health
rt_health_parse (const char *s)
{
  for (int i = RT_HEALTH_STARTING; s && i <= RT_HEALTH_UNHEALTHY; i++)
    if (strcmp (s, rt_health_name ((enum rt_health) i)) == 0)
      return (enum rt_health) i;
  return RT_HEALTH_NONE;
}

const char *
rt_labels_get (const struct rt_labels *l, const char *key)
{
  if (l == NULL)
    return NULL;
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].key, key) == 0)
      return l->v[i].value;
  return NULL;
}

void
rt_labels_set (struct rt_labels *l, const char *key, const char *value)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].key, key) == 0)
      {
        free (l->v[i].value);
        l->v[i].value = xstrdup (value);
        return;
      }
  l->v = xrealloc (l->v, (l->n + 1) * sizeof *l->v);
  l->v[l->n].key = xstrdup (key);
  l->v[l->n].value = xstrdup (value);
  l->n++;
}

void
rt_labels_copy (struct rt_labels *dst, const struct rt_labels *src)
{
  for (size_t i = 0; src && i < src->n; i++)
    rt_labels_set (dst, src->v[i].key, src->v[i].value);
}

void
rt_labels_free (struct rt_labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->v[i].key);
      free (l->v[i].value);
    }
  free (l->v);
  l->v = NULL;
  l->n = 0;
}

void
rt_container_free (struct rt_container *c)
{
  if (c == NULL)
    return;
  free (c->id);
  free (c->name);
  free (c->image_id);
  rt_labels_free (&c->labels);
  strv_free (c->networks, c->n_networks);
  strv_free (c->mounts, c->n_mounts);
  free (c->upper_dir);
  memset (c, 0, sizeof *c);
}

void
rt_container_copy (struct rt_container *dst, const struct rt_container *src)
{
  *dst = *src;
  dst->id = xstrdup (src->id);
  dst->name = xstrdup (src->name);
  dst->image_id = xstrdup (src->image_id);
  memset (&dst->labels, 0, sizeof dst->labels);
  rt_labels_copy (&dst->labels, &src->labels);
  dst->networks = strv_dup (src->networks, src->n_networks);
  dst->mounts = strv_dup (src->mounts, src->n_mounts);
  dst->upper_dir = xstrdup (src->upper_dir);
}

void
rt_snapshot_free (struct rt_snapshot *s)
{
  if (s == NULL)
    return;
  free (s->id);
  free (s->name);
  free (s->image_id);
  free (s->spec);
  free (s->swap_blocker);
  rt_labels_free (&s->labels);
  memset (s, 0, sizeof *s);
}

int
rt_labels_from_json (json_val v, bool strict, const char *what, struct rt_labels *out, lympho_error_t *err)
{
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return strict ? lympho_error_set (err, EINVAL, "\"%s\" is not an object", what) : 0;
  for (size_t i = 0; strict && i < json_obj_len (v); i++)
    if (json_str (json_obj_value (v, i)) == NULL)
      return lympho_error_set (err, EINVAL, "%s \"%s\" is not a string", what, json_obj_key (v, i));
  for (size_t i = 0; i < json_obj_len (v); i++)
    {
      const char *s = json_str (json_obj_value (v, i));
      if (s)
        rt_labels_set (out, json_obj_key (v, i), s);
    }
  return 0;
}

void
rt_labels_gen (json_gen g, const char *key, const struct rt_labels *l)
{
  json_gen_str (g, key);
  json_gen_map_open (g);
  for (size_t i = 0; l && i < l->n; i++)
    json_gen_kstr (g, l->v[i].key, l->v[i].value);
  json_gen_map_close (g);
}

static int
path_cmp (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

size_t
rt_changes_drop_lone_dirs (struct rt_change *v, size_t n, char *const *mounts, size_t n_mounts)
{
  if (n == 0)
    return 0;
  const char **sorted = xmalloc0 (n * sizeof *sorted);
  for (size_t i = 0; i < n; i++)
    sorted[i] = v[i].path;
  qsort (sorted, n, sizeof *sorted, path_cmp);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    {
      bool mount = false;
      for (size_t m = 0; m < n_mounts && !mount; m++)
        mount = v[i].kind != 'D' && strcmp (v[i].path, mounts[m]) == 0;
      if (mount)
        continue;
      bool lone = false;
      if (v[i].kind == 'C')
        {
          /* The first path not before "P/": it is under P when it starts
           * with "P/" (for "/": any path but "/"). */
          const char *p = v[i].path;
          size_t plen = strlen (p);
          cleanup_free char *key = plen == 1 && p[0] == '/' ? xstrdup ("/") : xasprintf ("%s/", p);
          size_t klen = strlen (key);
          size_t lo = 0, hi = n;
          while (lo < hi)
            {
              size_t mid = lo + (hi - lo) / 2;
              if (strcmp (sorted[mid], key) < 0)
                lo = mid + 1;
              else
                hi = mid;
            }
          if (klen == 1)
            while (lo < n && strcmp (sorted[lo], "/") == 0)
              lo++;
          lone = !(lo < n && strncmp (sorted[lo], key, klen) == 0);
        }
      if (!lone)
        v[kept++] = v[i];
    }
  free (sorted);
  return kept;
}
