/* lympho — the intent journal (see journal.h for the record format).
 * May call: json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lympho/journal.h"
#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/util.h"

struct journal
{
  char *path;
  int fd;
  off_t size; /* its length after the last whole record */
};

void
txn_free (struct txn *t)
{
  if (t == NULL)
    return;
  free (t->txn);
  free (t->name);
  free (t->old_id);
  free (t->new_name);
  free (t->old_name);
  free (t->strategy);
  free (t->reason);
  free (t->new_id);
  free (t->last_step);
  memset (t, 0, sizeof *t);
}

int
journal_open (const char *state_dir, struct journal **out, lympho_error_t *err)
{
  struct journal *j = xmalloc0 (sizeof *j);
  j->path = xasprintf ("%s/journal", state_dir);
  j->fd = open (j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd < 0)
    {
      int e = errno;
      free (j->path);
      free (j);
      return lympho_error_set_errno (err, e, "open journal `%s`", state_dir);
    }
  /* A record cut short by a crash or a full disk is cut off, so the next
   * one starts on a line of its own (its step was never taken). */
  struct stat st;
  off_t end = 0;
  if (fstat (j->fd, &st) == 0)
    end = st.st_size;
  int rfd = open (j->path, O_RDONLY | O_CLOEXEC);
  off_t keep = end;
  if (rfd >= 0)
    {
      char buf[4096];
      keep = 0;
      for (off_t at = end; at > 0 && keep == 0;)
        {
          size_t chunk = at > (off_t) sizeof buf ? sizeof buf : (size_t) at;
          at -= (off_t) chunk;
          if (pread (rfd, buf, chunk, at) != (ssize_t) chunk)
            {
              keep = end; /* cannot tell: leave it */
              break;
            }
          for (size_t i = chunk; i > 0; i--)
            if (buf[i - 1] == '\n')
              {
                keep = at + (off_t) i;
                break;
              }
        }
      close (rfd);
    }
  if (keep < end)
    {
      if (ftruncate (j->fd, keep) == 0)
        log_warn ("journal: a record cut short at its end (%lld bytes) was removed", (long long) (end - keep));
      else
        keep = end;
    }
  j->size = keep;
  *out = j;
  return 0;
}

void
journal_close (struct journal *j)
{
  if (j == NULL)
    return;
  close (j->fd);
  free (j->path);
  free (j);
}

static int
append (struct journal *j, json_gen g, lympho_error_t *err)
{
  cleanup_free char *line = json_gen_text (g);
  size_t len = strlen (line);
  line = xrealloc (line, len + 2);
  line[len++] = '\n';
  ssize_t n = write (j->fd, line, len);
  if (n != (ssize_t) len)
    {
      int e = n < 0 ? errno : EIO;
      /* Part of the record may be there: cut it, or the next record would
       * be glued to it and both lost. */
      if (n > 0 && ftruncate (j->fd, j->size) < 0)
        log_error ("journal: cannot cut a record written in part: %s", strerror (errno));
      return lympho_error_set_errno (err, e, "write journal");
    }
  j->size += (off_t) len;
  /* fdatasync: the intent must be on disk before the step is taken. */
  if (fdatasync (j->fd) < 0)
    return lympho_error_set_errno (err, errno, "fsync journal");
  return 0;
}

int
journal_begin (struct journal *j, const struct txn *t, lympho_error_t *err)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "op", t->incident ? "incident" : "begin");
  json_gen_kstr (g, "txn", t->txn);
  json_gen_kstr (g, "name", t->name);
  json_gen_kstr (g, "old_id", t->old_id);
  json_gen_kint (g, "gen", t->generation);
  json_gen_kstr (g, "new_name", t->new_name);
  json_gen_kstr (g, "old_name", t->old_name);
  json_gen_kstr (g, "strategy", t->strategy);
  json_gen_kstr (g, "reason", t->reason);
  if (t->keep_old_down)
    json_gen_kbool (g, "keep_old_down", true);
  json_gen_map_close (g);
  return append (j, g, err);
}

int
journal_step (struct journal *j, const char *txn, const char *step, const char *id, lympho_error_t *err)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "op", "step");
  json_gen_kstr (g, "txn", txn);
  json_gen_kstr (g, "step", step);
  json_gen_kstr (g, "id", id);
  json_gen_map_close (g);
  return append (j, g, err);
}

int
journal_commit (struct journal *j, const char *txn, const char *new_id, lympho_error_t *err)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "op", "commit");
  json_gen_kstr (g, "txn", txn);
  json_gen_kstr (g, "new_id", new_id);
  json_gen_map_close (g);
  return append (j, g, err);
}

int
journal_end (struct journal *j, const char *txn, const char *result, lympho_error_t *err)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kstr (g, "op", "end");
  json_gen_kstr (g, "txn", txn);
  json_gen_kstr (g, "result", result);
  json_gen_map_close (g);
  return append (j, g, err);
}

int
journal_compact (struct journal *j, lympho_error_t *err)
{
  if (ftruncate (j->fd, 0) < 0)
    return lympho_error_set_errno (err, errno, "truncate journal");
  j->size = 0;
  if (fdatasync (j->fd) < 0)
    return lympho_error_set_errno (err, errno, "fsync journal");
  return 0;
}

static struct txn *
find_txn (struct txn *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (v[i].txn && strcmp (v[i].txn, id) == 0)
      return &v[i];
  return NULL;
}

static char *
opt_str (json_val rec, const char *key)
{
  return xstrdup (json_str (json_get (rec, key)));
}

int
journal_replay (const char *text, size_t len, struct txn **open, size_t *n, size_t *bad, lympho_error_t *err)
{
  struct txn *v = NULL;
  size_t nv = 0;
  *bad = 0;
  /* A damaged record (a torn write followed by another append, a byte
   * flipped) is skipped and counted, the first one described in err: the
   * transactions of the other records are still recovered. */
/* Not a do-while: its continue is the record loop's. */
#define SKIP(...)                                                                                                      \
  {                                                                                                                    \
    if ((*bad)++ == 0)                                                                                                 \
      lympho_error_set (err, EINVAL, __VA_ARGS__);                                                                     \
    continue;                                                                                                          \
  }
  size_t lineno = 0;
  const char *p = text, *end = text + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t) (end - p));
      lineno++;
      if (nl == NULL)
        break; /* torn last record: its step was never taken */
      size_t l = (size_t) (nl - p);
      const char *line = p;
      p = nl + 1;
      if (l == 0)
        continue;
      cleanup_json json_val rec = NULL;
      lympho_error_t e = { 0 };
      if (json_parse (line, l, &rec, &e) < 0)
        SKIP ("journal line %zu: %s", lineno, e.msg);
      const char *op = json_str (json_get (rec, "op"));
      const char *id = json_str (json_get (rec, "txn"));
      if (op == NULL || id == NULL)
        SKIP ("journal line %zu: record without op or txn", lineno);
      struct txn *t = find_txn (v, nv, id);
      if (strcmp (op, "begin") == 0 || strcmp (op, "incident") == 0)
        {
          const char *name = json_str (json_get (rec, "name"));
          int64_t gen = -1;
          if (t != NULL || name == NULL || !json_as_int64 (json_get (rec, "gen"), &gen) || gen < 0)
            SKIP ("journal line %zu: bad begin record", lineno);
          v = xrealloc (v, (nv + 1) * sizeof *v);
          t = &v[nv++];
          memset (t, 0, sizeof *t);
          t->txn = xstrdup (id);
          t->name = xstrdup (name);
          t->old_id = opt_str (rec, "old_id");
          t->new_name = opt_str (rec, "new_name");
          t->old_name = opt_str (rec, "old_name");
          t->strategy = opt_str (rec, "strategy");
          t->reason = opt_str (rec, "reason");
          t->generation = (unsigned) gen;
          t->keep_old_down = json_is_true (json_get (rec, "keep_old_down"));
          t->incident = strcmp (op, "incident") == 0;
          continue;
        }
      if (t == NULL)
        continue; /* a record of a transaction compacted away */
      if (strcmp (op, "step") == 0)
        {
          const char *step = json_str (json_get (rec, "step"));
          free (t->last_step);
          t->last_step = xstrdup (step);
          const char *sid = json_str (json_get (rec, "id"));
          if (step && strcmp (step, "created") == 0 && sid)
            {
              free (t->new_id);
              t->new_id = xstrdup (sid);
            }
        }
      else if (strcmp (op, "commit") == 0)
        {
          t->committed = true;
          const char *nid = json_str (json_get (rec, "new_id"));
          if (nid)
            {
              free (t->new_id);
              t->new_id = xstrdup (nid);
            }
        }
      else if (strcmp (op, "end") == 0)
        {
          size_t idx = (size_t) (t - v);
          txn_free (t);
          memmove (&v[idx], &v[idx + 1], (nv - idx - 1) * sizeof *v);
          nv--;
        }
      else
        SKIP ("journal line %zu: unknown op `%.32s`", lineno, op);
    }
#undef SKIP
  /* Every transaction ended: no array, whatever was grown on the way
   * (a caller frees what it is given only when n says there is some). */
  if (nv == 0)
    {
      free (v);
      v = NULL;
    }
  *open = v;
  *n = nv;
  return 0;
}

int
journal_load (const char *state_dir, struct txn **open, size_t *n, size_t *bad, lympho_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/journal", state_dir);
  cleanup_free char *text = NULL;
  size_t len = 0;
  *open = NULL;
  *n = 0;
  *bad = 0;
  int ret = read_file (path, 64 << 20, &text, &len, err);
  if (ret == -ENOENT)
    {
      lympho_error_clear (err);
      return 0;
    }
  if (ret < 0)
    return ret;
  return journal_replay (text, len, open, n, bad, err);
}
