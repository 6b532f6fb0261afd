/* lympho — immune memory (see memory.h).
 * May call: json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/memory.h"
#include "lympho/util.h"

static void
cell_free (struct memory_cell *c)
{
  free (c->signature);
  free (c->name);
  free (c->group);
}

static char *
cell_line (const struct memory_cell *c)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "signature", c->signature);
  json_gen_kstr (g, "name", c->name);
  json_gen_kstr (g, "group", c->group);
  json_gen_kint (g, "time", (int64_t) c->time_ms);
  json_gen_map_close (g);
  cleanup_free char *t = json_gen_text (g);
  return xasprintf ("%s\n", t);
}

static int rewrite (struct memory *m, lympho_error_t *err);

/* The n oldest cells (the file is in time order) go. */
static void
forget_oldest (struct memory *m, size_t n)
{
  if (n > m->n)
    n = m->n;
  for (size_t i = 0; i < n; i++)
    cell_free (&m->v[i]);
  memmove (m->v, m->v + n, (m->n - n) * sizeof *m->v);
  m->n -= n;
}

int
memory_open (const char *state_dir, uint64_t window_ms, uint64_t now_ms, struct memory *m, lympho_error_t *err)
{
  memset (m, 0, sizeof *m);
  m->path = xasprintf ("%s/memory", state_dir);
  cleanup_free char *text = NULL;
  size_t len = 0;
  lympho_error_t e = { 0 };
  size_t dropped = 0;
  char *start;
  if (read_file (m->path, MEMORY_FILE_MAX, &text, &len, &e) < 0)
    {
      if (e.status == ENOENT)
        return 0;
      lympho_error_t te = { 0 };
      if (e.status != EFBIG || read_tail (m->path, MEMORY_FILE_MAX, &text, &len, &te) < 0)
        {
          /* Unreadable (a directory, an I/O error): moved aside and kept,
           * and lymphd starts with an empty memory rather than not at all. */
          cleanup_free char *to = NULL;
          int ret = move_aside (m->path, &to);
          if (ret < 0)
            return lympho_error_set (err, -ret, "immune memory `%s` unreadable (%s) and cannot be moved aside: %s",
                                     m->path, e.status == EFBIG ? te.msg : e.msg, strerror (-ret));
          log_error ("immune memory `%s` unreadable (%s): moved to %s; starting with no memory", m->path,
                     e.status == EFBIG ? te.msg : e.msg, to);
          return 0;
        }
      /* Its newest part, from the first whole line. */
      log_warn ("immune memory `%s` is larger than %u bytes: its newest cells are kept", m->path, MEMORY_FILE_MAX);
      dropped++;
      char *nl = memchr (text, '\n', len);
      start = nl ? nl + 1 : text + len;
    }
  else
    start = text;
  for (char *line = start, *nl; line < text + len; line = nl + 1)
    {
      nl = memchr (line, '\n', (size_t) (text + len - line));
      if (nl == NULL)
        break; /* torn last line */
      json_val v = NULL;
      if (json_parse (line, (size_t) (nl - line), &v, NULL) < 0)
        {
          dropped++;
          continue;
        }
      const char *sig = json_str (json_get (v, "signature"));
      const char *name = json_str (json_get (v, "name"));
      int64_t t = 0;
      if (sig && name && json_as_int64 (json_get (v, "time"), &t) && t > 0
          && (uint64_t) t + window_ms >= now_ms)
        {
          m->v = xrealloc (m->v, (m->n + 1) * sizeof *m->v);
          m->v[m->n].signature = xstrdup (sig);
          m->v[m->n].name = xstrdup (name);
          m->v[m->n].group = xstrdup (json_str (json_get (v, "group")));
          m->v[m->n].time_ms = (uint64_t) t;
          m->n++;
        }
      else
        dropped++;
      json_free (v);
    }
  if (m->n > MEMORY_MAX_CELLS)
    {
      forget_oldest (m, m->n - MEMORY_MAX_CELLS);
      dropped++;
    }
  if (dropped > 0)
    return rewrite (m, err);
  return 0;
}

static int
rewrite (struct memory *m, lympho_error_t *err)
{
  /* What is kept, and nothing that was forgotten. */
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < m->n; i++)
    {
      cleanup_free char *l = cell_line (&m->v[i]);
      buf_appends (&b, l);
    }
  int ret = write_file_atomic (m->path, b.data ? b.data : "", b.len, 0600, err);
  buf_free (&b);
  return ret < 0 ? ret : 0;
}

void
memory_close (struct memory *m)
{
  for (size_t i = 0; i < m->n; i++)
    cell_free (&m->v[i]);
  free (m->v);
  free (m->path);
  memset (m, 0, sizeof *m);
}

int
memory_remember (struct memory *m, const char *signature, const char *name, const char *group, uint64_t now_ms,
                 lympho_error_t *err)
{
  struct memory_cell c = { .signature = (char *) signature, .name = (char *) name, .group = (char *) group,
                           .time_ms = now_ms };
  if (m->n >= MEMORY_MAX_CELLS)
    {
      forget_oldest (m, MEMORY_MAX_CELLS / 4);
      int ret = rewrite (m, err);
      if (ret < 0)
        return ret;
    }
  cleanup_free char *line = cell_line (&c);
  cleanup_close int fd = open (m->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "open `%s`", m->path);
  size_t len = strlen (line);
  if (write (fd, line, len) != (ssize_t) len || fdatasync (fd) < 0)
    return lympho_error_set_errno (err, errno ? errno : EIO, "write `%s`", m->path);
  m->v = xrealloc (m->v, (m->n + 1) * sizeof *m->v);
  m->v[m->n].signature = xstrdup (signature);
  m->v[m->n].name = xstrdup (name);
  m->v[m->n].group = xstrdup (group);
  m->v[m->n].time_ms = now_ms;
  m->n++;
  return 0;
}

bool
memory_recall (const struct memory *m, const char *signature, const char *name, const char *group,
               uint64_t now_ms, uint64_t window_ms)
{
  for (size_t i = 0; i < m->n; i++)
    {
      const struct memory_cell *c = &m->v[i];
      if (c->time_ms + window_ms < now_ms || strcmp (c->signature, signature) != 0)
        continue;
      if (strcmp (c->name, name) == 0)
        return true;
      if (group && c->group && strcmp (c->group, group) == 0)
        return true;
    }
  return false;
}
