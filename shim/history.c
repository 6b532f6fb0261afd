/* lympho — history as JSON lines.
 * May call: json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lympho/history.h"
#include "lympho/json.h"
#include "lympho/util.h"

char *
history_entry_json (const struct history_entry *e)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "time", (int64_t) (e->time_ms ? e->time_ms : now_real_ms ()));
  json_gen_kstr (g, "name", e->name);
  json_gen_kstr (g, "kind", e->kind);
  json_gen_kstr (g, "result", e->result);
  if (e->generation >= 0)
    json_gen_kint (g, "generation", e->generation);
  if (e->old_id)
    json_gen_kstr (g, "old_id", e->old_id);
  if (e->new_id)
    json_gen_kstr (g, "new_id", e->new_id);
  if (e->reason)
    json_gen_kstr (g, "reason", e->reason);
  if (e->error)
    json_gen_kstr (g, "error", e->error);
  if (e->duration_ms >= 0)
    json_gen_kint (g, "duration_ms", e->duration_ms);
  if (e->strategy)
    json_gen_kstr (g, "strategy", e->strategy);
  if (e->has_late)
    json_gen_kint (g, "late_ms", e->late_ms);
  if (e->source)
    json_gen_kstr (g, "source", e->source);
  if (e->severity >= 0)
    json_gen_kint (g, "severity", e->severity);
  if (e->threat_level >= 0)
    {
      json_gen_str (g, "threat_level");
      json_gen_fixed (g, e->threat_level, 2);
    }
  if (e->signature)
    json_gen_kstr (g, "signature", e->signature);
  if (e->action)
    json_gen_kstr (g, "action", e->action);
  if (e->cut_ms >= 0)
    json_gen_kint (g, "cut_ms", e->cut_ms);
  if (e->replaced_ms >= 0)
    json_gen_kint (g, "replaced_ms", e->replaced_ms);
  if (e->forensic_image)
    json_gen_kstr (g, "forensic_image", e->forensic_image);
  if (e->detail)
    {
      json_gen_str (g, "detail");
      e->detail (g, e->detail_arg);
    }
  json_gen_map_close (g);
  return json_gen_text (g);
}

int
history_append (const char *state_dir, const struct history_entry *e, lympho_error_t *err)
{
  cleanup_free char *entry = history_entry_json (e);
  return history_append_json (state_dir, entry, err);
}

int
history_append_json (const char *state_dir, const char *entry, lympho_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/history", state_dir);
  struct stat st;
  if (stat (path, &st) == 0 && (uint64_t) st.st_size > HISTORY_MAX_BYTES)
    {
      cleanup_free char *old = xasprintf ("%s/history.1", state_dir);
      if (rename (path, old) < 0)
        return lympho_error_set_errno (err, errno, "rotate `%s`", path);
    }
  cleanup_close int fd = open (path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return lympho_error_set_errno (err, errno, "open `%s`", path);
  /* A line cut short by a crash or a full disk has no newline: end it
   * first, or it would swallow this entry. */
  char last = '\n';
  if (fstat (fd, &st) == 0 && st.st_size > 0 && pread (fd, &last, 1, st.st_size - 1) != 1)
    last = '\n'; /* not known: write as ever */
  cleanup_free char *line = xasprintf ("%s%s\n", last != '\n' ? "\n" : "", entry);
  size_t len = strlen (line);
  /* One write of a whole line: O_APPEND keeps lines whole. */
  if (write (fd, line, len) != (ssize_t) len)
    return lympho_error_set_errno (err, errno, "write `%s`", path);
  return 0;
}

/* The lines of path about name (all when NULL), newest first, each a
 * JSON object, appended to lines_out with commas between them, until
 * *count reaches limit (0: no limit). */
static void
collect (const char *path, const char *name, size_t limit, struct buf *lines_out, size_t *count)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  lympho_error_t err = { 0 };
  /* A file past the cap (rotation failed, or another writer) still gives
   * its newest entries: its tail, whose first line, cut, does not parse. */
  if (read_file (path, HISTORY_MAX_BYTES * 2, &text, &len, &err) < 0
      && (err.status != EFBIG || read_tail (path, HISTORY_MAX_BYTES * 2, &text, &len, NULL) < 0))
    return;
  /* Walk backwards so the newest comes first. */
  char *end = text + len;
  while (end > text && (limit == 0 || *count < limit))
    {
      char *start = end;
      while (start > text && start[-1] != '\n')
        start--;
      size_t l = (size_t) (end - start);
      if (l > 0 && start[l - 1] == '\n')
        l--;
      if (l > 0)
        {
          json_val v = NULL;
          if (json_parse (start, l, &v, NULL) == 0)
            {
              /* A line that parses but is no entry is corrupt too. */
              const char *n = json_str (json_get (v, "name"));
              if (json_is_object (v) && (name == NULL || (n && strcmp (n, name) == 0)))
                {
                  if (*count > 0)
                    buf_appends (lines_out, ",");
                  buf_append (lines_out, start, l);
                  (*count)++;
                }
              json_free (v);
            }
        }
      end = start > text ? start - 1 : text;
      if (start == text)
        break;
    }
}

char *
history_read (const char *state_dir, const char *name, size_t limit)
{
  cleanup_free char *path = xasprintf ("%s/history", state_dir);
  cleanup_free char *old = xasprintf ("%s/history.1", state_dir);
  struct buf all;
  buf_init (&all);
  size_t count = 0;
  collect (path, name, limit, &all, &count);
  collect (old, name, limit, &all, &count);
  char *json = xasprintf ("[%s]", all.data ? all.data : "");
  buf_free (&all);
  return json;
}
