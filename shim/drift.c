/* lympho — which changes of a container's writable layer are drift (see
 * drift.h). Pure logic and the learned sets on disk; the daemon's schedule of
 * checks is in detect.c.
 * May call: allow (path lists): a leaf otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lympho/allow.h"
#include "lympho/drift.h"
#include "lympho/util.h"

/* --- the start-up set ---------------------------------------------------- */

static int
path_cmp (const char *pa, char ka, const char *pb, char kb)
{
  int c = strcmp (pa, pb);
  return c ? c : (ka > kb) - (ka < kb);
}

void
drift_set_free (struct drift_set *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i].path);
  free (s->v);
  free (s->name);
  memset (s, 0, sizeof *s);
}

/* Index of (kind, path), or of where it would go. */
static size_t
set_find (const struct drift_set *s, char kind, const char *path, bool *found)
{
  size_t lo = 0, hi = s->n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = path_cmp (s->v[mid].path, s->v[mid].kind, path, kind);
      if (c == 0)
        {
          *found = true;
          return mid;
        }
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  *found = false;
  return lo;
}

bool
drift_set_has (const struct drift_set *s, char kind, const char *path)
{
  bool found;
  set_find (s, kind, path, &found);
  return found;
}

static bool
kind_valid (char k)
{
  return k == 'A' || k == 'C' || k == 'D';
}

bool
drift_set_add (struct drift_set *s, char kind, const char *path)
{
  if (path == NULL || path[0] != '/' || !kind_valid (kind))
    return false;
  bool found;
  size_t at = set_find (s, kind, path, &found);
  if (found)
    return false;
  s->v = xrealloc (s->v, (s->n + 1) * sizeof *s->v);
  memmove (&s->v[at + 1], &s->v[at], (s->n - at) * sizeof *s->v);
  s->v[at].kind = kind;
  s->v[at].path = xstrdup (path);
  s->n++;
  return true;
}

void
drift_set_gen (json_gen g, const struct drift_set *s)
{
  json_gen_map_open (g);
  json_gen_kstr (g, "name", s->name);
  json_gen_kint (g, "learned_at_ms", (int64_t) s->learned_at_ms);
  json_gen_kint (g, "from_generation", s->from_generation);
  json_gen_str (g, "changes");
  json_gen_array_open (g);
  for (size_t i = 0; i < s->n; i++)
    {
      char kind[2] = { s->v[i].kind, '\0' };
      json_gen_map_open (g);
      json_gen_kstr (g, "kind", kind);
      json_gen_kstr (g, "path", s->v[i].path);
      json_gen_map_close (g);
    }
  json_gen_array_close (g);
  json_gen_map_close (g);
}

/* The file's "sets" array, checked: {"image_id": image_id, "sets": [...]}. */
static int
read_sets (const char *path, const char *image_id, json_val *tree, json_val *sets, lympho_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  *tree = *sets = NULL;
  int ret = read_file (path, 16 << 20, &text, &len, err);
  if (ret < 0)
    return ret;
  if (json_parse (text, len, tree, err) < 0)
    return lympho_error_prefix (err, "learned start-up sets `%s`", path);
  const char *id = json_str (json_get (*tree, "image_id"));
  json_val v = json_get (*tree, "sets");
  if (id == NULL || strcmp (id, image_id) != 0)
    return lympho_error_set (err, EINVAL, "learned start-up sets `%s`: they belong to image %s", path,
                             id ? id : "(none)");
  if (v == NULL || !json_is_array (v))
    return lympho_error_set (err, EINVAL, "learned start-up sets `%s`: no `sets` array", path);
  *sets = v;
  return 0;
}

/* One element of "sets" into *out; -EINVAL unless it is whole. */
static int
parse_set (json_val v, const char *path, size_t index, struct drift_set *out, lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_val changes = json_get (v, "changes");
  const char *name = json_str (json_get (v, "name"));
  int64_t at = 0, gen = 0;
  if (name == NULL || changes == NULL || !json_is_array (changes)
      || !json_as_int64 (json_get (v, "learned_at_ms"), &at) || !json_as_int64 (json_get (v, "from_generation"), &gen))
    return lympho_error_set (err, EINVAL,
                             "learned start-up sets `%s`: set %zu lacks `name`, `changes`, `learned_at_ms` or "
                             "`from_generation`",
                             path, index);
  if (json_arr_len (changes) > DRIFT_SET_MAX)
    return lympho_error_set (err, EINVAL, "learned start-up sets `%s`: set %zu has %zu paths, more than %d", path,
                             index, json_arr_len (changes), DRIFT_SET_MAX);
  for (size_t i = 0; i < json_arr_len (changes); i++)
    {
      json_val c = json_arr_at (changes, i);
      const char *k = json_str (json_get (c, "kind"));
      const char *p = json_str (json_get (c, "path"));
      if (k == NULL || strlen (k) != 1 || !kind_valid (k[0]) || p == NULL || p[0] != '/')
        {
          drift_set_free (out);
          return lympho_error_set (err, EINVAL, "learned start-up sets `%s`: set %zu, entry %zu is not a change",
                                   path, index, i);
        }
      drift_set_add (out, k[0], p);
    }
  out->name = xstrdup (name);
  out->learned_at_ms = (uint64_t) at;
  out->from_generation = gen;
  return 0;
}

int
drift_set_load (const char *state_dir, const char *image_id, const char *name, struct drift_set *out,
                lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_free char *path = allow_learned_file (state_dir, image_id, ".drift.json");
  cleanup_json json_val tree = NULL;
  json_val sets = NULL;
  int ret = read_sets (path, image_id, &tree, &sets, err);
  if (ret < 0)
    return ret;
  /* Every set is checked, not only the one asked for: a damaged file is
   * not trusted in part. */
  int found = -ENOENT;
  for (size_t i = 0; i < json_arr_len (sets); i++)
    {
      struct drift_set s;
      if (parse_set (json_arr_at (sets, i), path, i, &s, err) < 0)
        {
          drift_set_free (out);
          return -EINVAL;
        }
      if (found < 0 && strcmp (s.name, name) == 0)
        {
          *out = s;
          found = 0;
        }
      else
        drift_set_free (&s);
    }
  if (found < 0)
    lympho_error_set (err, ENOENT, "no start-up set of image %.19s for %s", image_id, name);
  return found;
}

int
drift_set_save (const char *state_dir, const char *image_id, const struct drift_set *s, lympho_error_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/learned", state_dir);
  int ret = mkdir_p (dir, 0700, err);
  if (ret < 0)
    return ret;
  cleanup_free char *path = allow_learned_file (state_dir, image_id, ".drift.json");
  cleanup_json json_val tree = NULL;
  json_val sets = NULL;
  lympho_error_t ignored = { 0 };
  if (read_sets (path, image_id, &tree, &sets, &ignored) < 0)
    sets = NULL;
  cleanup_jgen json_gen g = json_gen_new (true);
  json_gen_map_open (g);
  json_gen_kstr (g, "image_id", image_id);
  json_gen_str (g, "sets");
  json_gen_array_open (g);
  for (size_t i = 0; sets && i < json_arr_len (sets); i++)
    {
      struct drift_set old;
      if (parse_set (json_arr_at (sets, i), path, i, &old, &ignored) < 0)
        continue;
      if (strcmp (old.name, s->name) != 0)
        drift_set_gen (g, &old);
      drift_set_free (&old);
    }
  drift_set_gen (g, s);
  json_gen_array_close (g);
  json_gen_map_close (g);
  cleanup_free char *text = json_gen_text (g);
  return write_file_atomic (path, text, strlen (text), 0600, err);
}

/* --- what is not the workload's ------------------------------------------ */

/* The engine makes the directories a mount needs in the writable layer
 * ("A /srv" for a volume at /srv/data): those are not the workload's. */
static bool
leads_to_mount (const char *path, char *const *mounts, size_t n)
{
  size_t len = strlen (path);
  for (size_t i = 0; i < n; i++)
    if (strncmp (mounts[i], path, len) == 0 && (mounts[i][len] == '/' || (len == 1 && path[0] == '/')))
      return true;
  return false;
}

bool
drift_ignored (const char *path, char *const *allow, size_t n_allow, char *const *mounts, size_t n_mounts)
{
  return path_is_under (path, allow, n_allow) || path_is_under (path, mounts, n_mounts)
         || leads_to_mount (path, mounts, n_mounts);
}

/* --- stamps -------------------------------------------------------------- */

int
drift_root_open (int pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/root", pid);
  int fd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

void
drift_stamp_take (int root_fd, const char *path, struct drift_stamp *out)
{
  memset (out, 0, sizeof *out);
  out->path = xstrdup (path);
  const char *rel = path;
  while (*rel == '/')
    rel++;
  if (root_fd < 0 || *rel == '\0')
    {
      out->error = root_fd < 0 ? EBADF : EINVAL;
      return;
    }
  /* Inside the container's root whatever its symlinks say, never through
   * /proc magic links, and never into a mount: a FUSE file system mounted
   * by the container must not be able to stall the daemon. */
  struct open_how how = {
    .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd = (int) syscall (SYS_openat2, root_fd, rel, &how, sizeof how);
  if (fd < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        out->state = DRIFT_STAMP_ABSENT;
      else
        out->error = errno;
      return;
    }
  struct stat st;
  int ret = fstat (fd, &st);
  int saved = errno;
  close (fd);
  if (ret < 0)
    {
      out->error = saved;
      return;
    }
  out->state = S_ISDIR (st.st_mode) ? DRIFT_STAMP_DIR : DRIFT_STAMP_PRESENT;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->mode = st.st_mode;
  out->size = st.st_size;
  out->mtime = st.st_mtim;
  out->ctime = st.st_ctim;
}

void
drift_stamps_take (int root_fd, const struct drift_set *s, struct drift_stamps *out)
{
  memset (out, 0, sizeof *out);
  out->v = xmalloc0 ((s->n ? s->n : 1) * sizeof *out->v);
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].kind != 'D')
      drift_stamp_take (root_fd, s->v[i].path, &out->v[out->n++]);
}

void
drift_stamps_free (struct drift_stamps *st)
{
  for (size_t i = 0; i < st->n; i++)
    free (st->v[i].path);
  free (st->v);
  memset (st, 0, sizeof *st);
}

static bool
ts_equal (struct timespec a, struct timespec b)
{
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Is the path as it was when its generation's window closed? */
static bool
stamp_holds (const struct drift_stamp *then, int root_fd)
{
  if (then->state == DRIFT_STAMP_UNKNOWN)
    return true; /* could not be looked at then: nothing to compare with */
  struct drift_stamp now;
  drift_stamp_take (root_fd, then->path, &now);
  bool same;
  if (now.state != then->state)
    same = false;
  else if (then->state == DRIFT_STAMP_ABSENT)
    same = true;
  else if (then->state == DRIFT_STAMP_DIR)
    same = now.dev == then->dev && now.ino == then->ino; /* its entries are judged one by one */
  else
    same = now.dev == then->dev && now.ino == then->ino && now.mode == then->mode && now.size == then->size
           && ts_equal (now.mtime, then->mtime) && ts_equal (now.ctime, then->ctime);
  free (now.path);
  return same;
}

static const struct drift_stamp *
stamp_find (const struct drift_stamps *st, const char *path)
{
  for (size_t i = 0; st && i < st->n; i++)
    if (strcmp (st->v[i].path, path) == 0)
      return &st->v[i];
  return NULL;
}

size_t
drift_judge (const struct drift_rules *r, const struct rt_change *v, size_t n, struct drift_finding **out)
{
  size_t cap = n + (r->stamps ? r->stamps->n : 0);
  struct drift_finding *f = xmalloc0 ((cap ? cap : 1) * sizeof *f);
  size_t nf = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (drift_ignored (v[i].path, r->allow, r->n_allow, r->mounts, r->n_mounts))
        continue;
      if (r->startup == NULL || !drift_set_has (r->startup, v[i].kind, v[i].path))
        {
          f[nf++] = (struct drift_finding){ v[i].kind, v[i].path, DRIFT_WHY_OUTSIDE };
          continue;
        }
      if (r->stamps == NULL || r->root_fd < 0)
        continue;
      const struct drift_stamp *s = stamp_find (r->stamps, v[i].path);
      if (s && !stamp_holds (s, r->root_fd))
        f[nf++] = (struct drift_finding){ v[i].kind, v[i].path, DRIFT_WHY_AFTER_START };
    }
  /* A start-up file that was there when the window closed and is no longer
   * listed was removed (a removed added file leaves no trace in the list). */
  for (size_t j = 0; r->startup && r->stamps && j < r->stamps->n; j++)
    {
      const struct drift_stamp *s = &r->stamps->v[j];
      if (s->state != DRIFT_STAMP_PRESENT && s->state != DRIFT_STAMP_DIR)
        continue;
      bool listed = false;
      for (size_t i = 0; i < n && !listed; i++)
        listed = strcmp (v[i].path, s->path) == 0;
      if (!listed)
        f[nf++] = (struct drift_finding){ 'D', s->path, DRIFT_WHY_REMOVED };
    }
  if (nf == 0)
    {
      free (f);
      f = NULL;
    }
  *out = f;
  return nf;
}

char *
drift_findings_text (const struct drift_finding *f, size_t n, size_t max)
{
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < n && i < max; i++)
    buf_printf (&b, "%s%c %s%s", i ? ", " : "", f[i].kind, f[i].path,
                f[i].why == DRIFT_WHY_AFTER_START ? " (after start-up)"
                : f[i].why == DRIFT_WHY_REMOVED   ? " (removed after start-up)"
                                                  : "");
  if (n > max)
    buf_appends (&b, " ...");
  return buf_steal (&b);
}
