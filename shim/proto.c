/* lympho — the control protocol: one JSON object per line, versioned and
 * parsed strictly (a request is refused whole, never half-understood).
 * May call: json (and yajl for one constant tree). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/proto.h"
#include "lympho/util.h"
/* The protocol module may see yajl (docs/design.md): one constant tree. */
#include <yajl/yajl_tree.h>

/* The value handed out for a request without "args": an empty object that
 * lives forever, so callers need not care whether the key was present. */
static struct yajl_val_s empty_object = { .type = yajl_t_object };

/* yajl's tree parser accepts comments; the protocol is plain JSON. */
static bool
has_comment (const char *text, size_t len)
{
  bool in_string = false;
  for (size_t i = 0; i < len; i++)
    {
      char ch = text[i];
      if (in_string)
        {
          if (ch == '\\')
            i++;
          else if (ch == '"')
            in_string = false;
        }
      else if (ch == '"')
        in_string = true;
      else if (ch == '/')
        return true;
    }
  return false;
}

/* Parse one line into an object whose keys are all in `allowed` (NULL
 * terminated), each at most once. */
static int
parse_line (const char *what, const char *line, size_t len, const char *const *allowed, json_val *out,
            lympho_error_t *err)
{
  *out = NULL;
  if (len >= PROTO_MAX_LINE)
    return lympho_error_set (err, EMSGSIZE, "%s is too long (%zu bytes, at most %d)", what, len, PROTO_MAX_LINE - 1);
  if (len == 0)
    return lympho_error_set (err, EINVAL, "empty %s", what);
  if (memchr (line, '\n', len) != NULL)
    return lympho_error_set (err, EINVAL, "%s has trailing bytes after its end of line", what);
  if (has_comment (line, len))
    return lympho_error_set (err, EINVAL, "malformed %s: comments are not JSON", what);
  cleanup_json json_val tree = NULL;
  if (json_parse (line, len, &tree, err) < 0)
    return lympho_error_prefix (err, "%s", what);
  if (!json_is_object (tree))
    return lympho_error_set (err, EINVAL, "malformed %s: not a JSON object", what);
  for (size_t i = 0; i < json_obj_len (tree); i++)
    {
      const char *key = json_obj_key (tree, i);
      bool known = false;
      for (const char *const *a = allowed; *a; a++)
        if (strcmp (*a, key) == 0)
          known = true;
      if (!known)
        return lympho_error_set (err, EINVAL, "malformed %s: unknown key `%s`", what, key);
      for (size_t j = 0; j < i; j++)
        if (strcmp (json_obj_key (tree, j), key) == 0)
          return lympho_error_set (err, EINVAL, "malformed %s: duplicate key `%s`", what, key);
    }
  json_val v = json_get (tree, "v");
  int64_t version = 0;
  if (v == NULL)
    return lympho_error_set (err, EINVAL, "malformed %s: missing `v`", what);
  if (!json_as_int64 (v, &version))
    return lympho_error_set (err, EINVAL, "malformed %s: `v` is not an integer", what);
  if (version != PROTO_VERSION)
    return lympho_error_set (err, EPROTONOSUPPORT, "unsupported protocol version %lld (this side speaks %d)",
                             (long long) version, PROTO_VERSION);
  *out = steal_pointer (&tree);
  return 0;
}

/* One line of JSON: the generator's text plus '\n'. */
static char *
gen_line (json_gen g)
{
  char *text = json_gen_text (g);
  size_t len = strlen (text);
  text = xrealloc (text, len + 2);
  text[len] = '\n';
  text[len + 1] = '\0';
  return text;
}

char *
proto_request_encode (const char *cmd, const char *args_json)
{
  cleanup_json json_val args = NULL;
  if (args_json)
    {
      lympho_error_t err = { 0 };
      if (json_parse (args_json, strlen (args_json), &args, &err) < 0 || !json_is_object (args))
        return NULL;
    }
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "v", PROTO_VERSION);
  json_gen_kstr (g, "cmd", cmd);
  json_gen_str (g, "args");
  /* Regenerated rather than pasted: the text may span lines. */
  json_gen_value (g, args ? args : &empty_object);
  json_gen_map_close (g);
  return gen_line (g);
}

int
proto_request_decode (const char *line, size_t len, json_val *tree, const char **cmd, json_val *args,
                      lympho_error_t *err)
{
  static const char *const allowed[] = { "v", "cmd", "args", NULL };
  *tree = NULL;
  *cmd = NULL;
  *args = NULL;
  cleanup_json json_val t = NULL;
  int ret = parse_line ("request", line, len, allowed, &t, err);
  if (ret < 0)
    return ret;
  json_val c = json_get (t, "cmd");
  if (c == NULL)
    return lympho_error_set (err, EINVAL, "malformed request: missing `cmd`");
  if (json_str (c) == NULL || json_str (c)[0] == '\0')
    return lympho_error_set (err, EINVAL, "malformed request: `cmd` is not a non-empty string");
  json_val a = json_get (t, "args");
  if (a != NULL && !json_is_object (a))
    return lympho_error_set (err, EINVAL, "malformed request: `args` is not an object");
  *cmd = json_str (c);
  *args = a ? a : &empty_object;
  *tree = steal_pointer (&t);
  return 0;
}

char *
proto_reply_ok (const char *result_json)
{
  cleanup_json json_val result = NULL;
  if (result_json)
    {
      lympho_error_t err = { 0 };
      if (json_parse (result_json, strlen (result_json), &result, &err) < 0)
        return proto_reply_error (EIO, "internal error: the daemon produced an invalid result");
    }
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "v", PROTO_VERSION);
  json_gen_kbool (g, "ok", true);
  json_gen_str (g, "result");
  json_gen_value (g, result);
  json_gen_map_close (g);
  char *line = gen_line (g);
  /* The peer refuses longer lines; tell it why instead. */
  if (strlen (line) > PROTO_MAX_LINE)
    {
      free (line);
      return proto_reply_error (EMSGSIZE, "the result is too large for one reply");
    }
  return line;
}

char *
proto_reply_error (int status, const char *msg)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "v", PROTO_VERSION);
  json_gen_kbool (g, "ok", false);
  json_gen_kint (g, "status", status > 0 ? status : EIO);
  json_gen_kstr (g, "error", msg && msg[0] ? msg : "unknown error");
  json_gen_map_close (g);
  return gen_line (g);
}

int
proto_reply_decode (const char *line, size_t len, json_val *tree, json_val *result, lympho_error_t *err)
{
  static const char *const allowed[] = { "v", "ok", "result", "status", "error", NULL };
  *tree = NULL;
  *result = NULL;
  cleanup_json json_val t = NULL;
  int ret = parse_line ("reply", line, len, allowed, &t, err);
  if (ret < 0)
    return ret;
  json_val ok = json_get (t, "ok");
  if (ok == NULL || !(json_is_true (ok) || json_is_false (ok)))
    return lympho_error_set (err, EPROTO, "malformed reply: `ok` is missing or not a boolean");
  if (json_is_true (ok))
    {
      if (json_get (t, "status") || json_get (t, "error"))
        return lympho_error_set (err, EPROTO, "malformed reply: a success carries `status` or `error`");
      /* The key is required; its value may be null (a node of its own). */
      if (json_get (t, "result") == NULL)
        return lympho_error_set (err, EPROTO, "malformed reply: missing `result`");
      *result = json_get (t, "result");
      *tree = steal_pointer (&t);
      return 0;
    }
  if (json_get (t, "result"))
    return lympho_error_set (err, EPROTO, "malformed reply: a refusal carries `result`");
  int64_t status = 0;
  const char *msg = json_str (json_get (t, "error"));
  if (!json_as_int64 (json_get (t, "status"), &status) || status <= 0 || status > 4095)
    return lympho_error_set (err, EPROTO, "malformed reply: `status` is not a positive errno value");
  if (msg == NULL)
    return lympho_error_set (err, EPROTO, "malformed reply: `error` is not a string");
  return lympho_error_set (err, (int) status, "%s", msg);
}

char *
proto_event_line (const char *event_json)
{
  return xasprintf ("{\"v\":%d,\"event\":%s}\n", PROTO_VERSION, event_json);
}

int
proto_event_decode (const char *line, size_t len, json_val *tree, json_val *event, lympho_error_t *err)
{
  static const char *const allowed[] = { "v", "event", NULL };
  *tree = NULL;
  *event = NULL;
  cleanup_json json_val t = NULL;
  int ret = parse_line ("event", line, len, allowed, &t, err);
  if (ret < 0)
    return ret;
  json_val e = json_get (t, "event");
  if (e == NULL || !json_is_object (e))
    return lympho_error_set (err, EPROTO, "malformed event: `event` is missing or not an object");
  *event = e;
  *tree = steal_pointer (&t);
  return 0;
}
