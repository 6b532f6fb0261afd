/* lympho — the one module that touches yajl (see json.h).
 * May call: yajl: the only module that does. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "lympho/json.h"
#include "lympho/util.h"

int
json_parse (const char *text, size_t len, yajl_val *out, lympho_error_t *err)
{
  *out = NULL;
  /* The depth first, by a scan that knows strings and their escapes
   * (yajl's own parser would find the document malformed anyway where
   * this miscounts: an unterminated string). */
  bool in_str = false, esc = false;
  unsigned depth = 0;
  for (size_t i = 0; i < len; i++)
    {
      char c = text[i];
      if (in_str)
        {
          if (esc)
            esc = false;
          else if (c == '\\')
            esc = true;
          else if (c == '"')
            in_str = false;
        }
      else if (c == '"')
        in_str = true;
      else if (c == '[' || c == '{')
        {
          if (++depth > JSON_MAX_DEPTH)
            return lympho_error_set (err, E2BIG, "JSON nested deeper than %d levels: refused", JSON_MAX_DEPTH);
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }
  /* yajl_tree_parse wants a C string; refuse embedded NULs instead of
   * silently parsing a prefix. */
  if (memchr (text, '\0', len) != NULL)
    return lympho_error_set (err, EINVAL, "malformed JSON: embedded NUL byte");
  cleanup_free char *copy = xstrndup (text, len);
  char errbuf[256] = "";
  yajl_val v = yajl_tree_parse (copy, errbuf, sizeof errbuf);
  if (v == NULL)
    {
      /* yajl's message spans lines; keep the first. */
      char *nl = strchr (errbuf, '\n');
      if (nl)
        *nl = '\0';
      return lympho_error_set (err, EINVAL, "malformed JSON: %s", errbuf[0] ? errbuf : "parse error");
    }
  *out = v;
  return 0;
}

yajl_val
json_get (yajl_val obj, const char *key)
{
  if (obj == NULL || !YAJL_IS_OBJECT (obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      return obj->u.object.values[i];
  return NULL;
}

yajl_val
json_path (yajl_val v, ...)
{
  va_list ap;
  va_start (ap, v);
  const char *key;
  while (v && (key = va_arg (ap, const char *)) != NULL)
    v = json_get (v, key);
  va_end (ap);
  return v;
}

const char *
json_str (yajl_val v)
{
  return (v && YAJL_IS_STRING (v)) ? v->u.string : NULL;
}

bool
json_as_int64 (yajl_val v, int64_t *out)
{
  if (v == NULL || !YAJL_IS_INTEGER (v))
    return false;
  *out = v->u.number.i;
  return true;
}

bool
json_is_true (yajl_val v)
{
  return v != NULL && YAJL_IS_TRUE (v);
}

bool
json_is_obj_or_null (yajl_val v)
{
  return v == NULL || YAJL_IS_NULL (v) || YAJL_IS_OBJECT (v);
}

bool
json_is_arr_or_null (yajl_val v)
{
  return v == NULL || YAJL_IS_NULL (v) || YAJL_IS_ARRAY (v);
}

bool
json_str_nonempty (yajl_val v)
{
  const char *s = json_str (v);
  return s && s[0];
}

size_t
json_obj_len (yajl_val v)
{
  return (v && YAJL_IS_OBJECT (v)) ? v->u.object.len : 0;
}

size_t
json_arr_len (yajl_val v)
{
  return (v && YAJL_IS_ARRAY (v)) ? v->u.array.len : 0;
}

void
json_free (yajl_val v)
{
  if (v)
    yajl_tree_free (v);
}

bool
json_is_object (yajl_val v)
{
  return YAJL_IS_OBJECT (v);
}

bool
json_is_array (yajl_val v)
{
  return YAJL_IS_ARRAY (v);
}

bool
json_is_string (yajl_val v)
{
  return YAJL_IS_STRING (v);
}

bool
json_is_integer (yajl_val v)
{
  return YAJL_IS_INTEGER (v);
}

bool
json_is_number (yajl_val v)
{
  return YAJL_IS_NUMBER (v);
}

bool
json_is_false (yajl_val v)
{
  return YAJL_IS_FALSE (v);
}

bool
json_is_null (yajl_val v)
{
  return YAJL_IS_NULL (v);
}

const char *
json_obj_key (yajl_val v, size_t i)
{
  return i < json_obj_len (v) ? v->u.object.keys[i] : NULL;
}

yajl_val
json_obj_value (yajl_val v, size_t i)
{
  return i < json_obj_len (v) ? v->u.object.values[i] : NULL;
}

yajl_val
json_arr_at (yajl_val v, size_t i)
{
  return i < json_arr_len (v) ? v->u.array.values[i] : NULL;
}

bool
json_as_double (yajl_val v, double *out)
{
  if (YAJL_IS_INTEGER (v))
    *out = (double) v->u.number.i;
  else if (YAJL_IS_DOUBLE (v))
    *out = YAJL_GET_DOUBLE (v);
  else
    return false;
  return true;
}

const char *
json_number_text (yajl_val v)
{
  return YAJL_IS_NUMBER (v) ? v->u.number.r : NULL;
}

void
json_gen_free (yajl_gen g)
{
  if (g)
    yajl_gen_free (g);
}

void
json_gen_null (yajl_gen g)
{
  yajl_gen_null (g);
}

void
json_gen_map_open (yajl_gen g)
{
  yajl_gen_map_open (g);
}

void
json_gen_map_close (yajl_gen g)
{
  yajl_gen_map_close (g);
}

void
json_gen_array_open (yajl_gen g)
{
  yajl_gen_array_open (g);
}

void
json_gen_array_close (yajl_gen g)
{
  yajl_gen_array_close (g);
}

yajl_gen
json_gen_new (bool pretty)
{
  yajl_gen g = yajl_gen_alloc (NULL);
  if (g == NULL)
    abort ();
  yajl_gen_config (g, yajl_gen_beautify, pretty ? 1 : 0);
  yajl_gen_config (g, yajl_gen_validate_utf8, 0);
  return g;
}

void
json_gen_str (yajl_gen g, const char *s)
{
  if (s == NULL)
    {
      yajl_gen_null (g);
      return;
    }
  /* JSON text is UTF-8: a stray byte (a file name's, a plugin's) would
   * make the document unreadable to every parser, lymphd's own history
   * included. yajl escapes control characters itself. */
  cleanup_free char *clean = utf8_sanitize (s);
  const char *t = clean ? clean : s;
  yajl_gen_string (g, (const unsigned char *) t, strlen (t));
}

void
json_gen_int (yajl_gen g, int64_t n)
{
  yajl_gen_integer (g, (long long) n);
}

void
json_gen_double (yajl_gen g, double d)
{
  yajl_gen_double (g, d);
}

void
json_gen_fixed (yajl_gen g, double d, int decimals)
{
  char buf[64];
  int n = snprintf (buf, sizeof buf, "%.*f", decimals, d);
  if (n <= 0 || (size_t) n >= sizeof buf)
    yajl_gen_double (g, d);
  else
    yajl_gen_number (g, buf, (size_t) n);
}

void
json_gen_bool (yajl_gen g, bool b)
{
  yajl_gen_bool (g, b);
}

void
json_gen_kstr (yajl_gen g, const char *key, const char *s)
{
  json_gen_str (g, key);
  json_gen_str (g, s);
}

void
json_gen_kint (yajl_gen g, const char *key, int64_t n)
{
  json_gen_str (g, key);
  json_gen_int (g, n);
}

void
json_gen_kbool (yajl_gen g, const char *key, bool b)
{
  json_gen_str (g, key);
  json_gen_bool (g, b);
}

void
json_gen_value (yajl_gen g, yajl_val v)
{
  if (v == NULL || YAJL_IS_NULL (v))
    yajl_gen_null (g);
  else if (YAJL_IS_STRING (v))
    json_gen_str (g, v->u.string);
  else if (YAJL_IS_INTEGER (v))
    yajl_gen_integer (g, v->u.number.i);
  else if (YAJL_IS_NUMBER (v))
    /* Keep the number's own text: no float round trip. */
    yajl_gen_number (g, v->u.number.r, strlen (v->u.number.r));
  else if (YAJL_IS_TRUE (v))
    yajl_gen_bool (g, 1);
  else if (YAJL_IS_FALSE (v))
    yajl_gen_bool (g, 0);
  else if (YAJL_IS_ARRAY (v))
    {
      yajl_gen_array_open (g);
      for (size_t i = 0; i < v->u.array.len; i++)
        json_gen_value (g, v->u.array.values[i]);
      yajl_gen_array_close (g);
    }
  else if (YAJL_IS_OBJECT (v))
    {
      yajl_gen_map_open (g);
      for (size_t i = 0; i < v->u.object.len; i++)
        {
          json_gen_str (g, v->u.object.keys[i]);
          json_gen_value (g, v->u.object.values[i]);
        }
      yajl_gen_map_close (g);
    }
}

char *
json_gen_text (yajl_gen g)
{
  const unsigned char *out;
  size_t len;
  if (yajl_gen_get_buf (g, &out, &len) != yajl_gen_status_ok)
    return xstrdup ("");
  return xstrndup ((const char *) out, len);
}

char *
json_to_string (yajl_val v)
{
  cleanup_jgen yajl_gen g = json_gen_new (false);
  json_gen_value (g, v);
  return json_gen_text (g);
}
