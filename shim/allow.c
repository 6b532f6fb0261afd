/* lympho — allow lists for programs and paths (see allow.h).
 * May call: nothing but json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/allow.h"
#include "lympho/json.h"
#include "lympho/util.h"

void
allow_list_free (struct allow_list *l)
{
  strv_free (l->v, l->n);
  memset (l, 0, sizeof *l);
}

bool
allow_list_has (const struct allow_list *l, const char *path)
{
  for (size_t i = 0; path && i < l->n; i++)
    if (strcmp (l->v[i], path) == 0)
      return true;
  return false;
}

bool
allow_list_add (struct allow_list *l, const char *path)
{
  if (path == NULL || allow_list_has (l, path))
    return false;
  if (strlen (path) > ALLOW_PATH_MAX || l->n >= ALLOW_LEARN_MAX)
    {
      l->refused++;
      return false;
    }
  l->v = xrealloc (l->v, (l->n + 1) * sizeof *l->v);
  l->v[l->n++] = xstrdup (path);
  return true;
}

bool
path_is_under (const char *path, char *const *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      const char *p = v[i];
      size_t len = strlen (p);
      while (len > 1 && p[len - 1] == '/')
        len--;
      if (len == 1 && p[0] == '/')
        return true;
      /* "/var/log" covers "/var/log" and "/var/log/x", not "/var/logs". */
      if (strncmp (path, p, len) == 0 && (path[len] == '\0' || path[len] == '/'))
        return true;
    }
  return false;
}

char *
allow_learned_file (const char *state_dir, const char *image_id, const char *suffix)
{
  const char *hex = str_has_prefix (image_id, "sha256:") ? image_id + 7 : image_id;
  return xasprintf ("%s/learned/%s%s", state_dir, hex, suffix);
}

int
allow_learned_load (const char *state_dir, const char *image_id, struct allow_list *out, lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_free char *path = allow_learned_file (state_dir, image_id, ".json");
  cleanup_free char *text = NULL;
  size_t len = 0;
  int ret = read_file (path, 4 << 20, &text, &len, err);
  if (ret < 0)
    return ret;
  cleanup_json json_val v = NULL;
  if (json_parse (text, len, &v, err) < 0)
    return lympho_error_prefix (err, "learned programs `%s`", path);
  json_val progs = json_get (v, "programs");
  int64_t at = 0;
  if (progs == NULL || !json_is_array (progs) || !json_as_int64 (json_get (v, "learned_at_ms"), &at))
    return lympho_error_set (err, EINVAL, "learned programs `%s`: missing `programs` or `learned_at_ms`", path);
  if (json_arr_len (progs) > ALLOW_LEARN_MAX)
    return lympho_error_set (err, EINVAL, "learned programs `%s`: more than %d programs", path, ALLOW_LEARN_MAX);
  for (size_t i = 0; i < json_arr_len (progs); i++)
    {
      const char *p = json_str (json_arr_at (progs, i));
      if (p == NULL || p[0] != '/' || strlen (p) > ALLOW_PATH_MAX)
        {
          allow_list_free (out);
          return lympho_error_set (err, EINVAL, "learned programs `%s`: entry %zu is not an absolute path of at most %d bytes",
                                   path, i, ALLOW_PATH_MAX);
        }
      allow_list_add (out, p);
    }
  out->frozen = true;
  out->learned_at_ms = (uint64_t) at;
  return 0;
}

int
allow_learned_save (const char *state_dir, const char *image_id, const struct allow_list *l, lympho_error_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/learned", state_dir);
  int ret = mkdir_p (dir, 0700, err);
  if (ret < 0)
    return ret;
  cleanup_free char *path = allow_learned_file (state_dir, image_id, ".json");
  cleanup_jgen json_gen g = json_gen_new (true);
  json_gen_map_open (g);
  json_gen_kstr (g, "image_id", image_id);
  json_gen_kint (g, "learned_at_ms", (int64_t) (l->learned_at_ms ? l->learned_at_ms : now_real_ms ()));
  json_gen_str (g, "programs");
  json_gen_array_open (g);
  for (size_t i = 0; i < l->n; i++)
    json_gen_str (g, l->v[i]);
  json_gen_array_close (g);
  json_gen_map_close (g);
  cleanup_free char *text = json_gen_text (g);
  return write_file_atomic (path, text, strlen (text), 0600, err);
}

size_t
allow_entry_path_len (const char *entry, const char **sha256)
{
  const char *at = strstr (entry, ALLOW_SHA256_SEP);
  if (sha256)
    *sha256 = at ? at + strlen (ALLOW_SHA256_SEP) : NULL;
  return at ? (size_t) (at - entry) : strlen (entry);
}

bool
allow_entry_names (const char *entry, const char *path)
{
  size_t n = allow_entry_path_len (entry, NULL);
  return strncmp (entry, path, n) == 0 && path[n] == '\0';
}

int
allow_entry_check (const char *entry, lympho_error_t *err)
{
  const char *hex;
  size_t n = allow_entry_path_len (entry, &hex);
  if (hex == NULL)
    return 0;
  if (n == 0)
    return lympho_error_set (err, EINVAL, "\"%s\": no path before the sha256", entry);
  size_t len = strlen (hex);
  for (size_t i = 0; i < len; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      len = 0;
  if (len != 64)
    return lympho_error_set (err, EINVAL, "\"%s\": a sha256 is 64 lower-case hex digits", entry);
  return 0;
}
