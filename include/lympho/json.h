/* lympho — the one module that touches yajl. Parse into trees, read values
 * with strict type checks, and generate JSON text. */
#ifndef LYMPHO_JSON_H
#define LYMPHO_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "lympho/error.h"

/* Parse a complete document. Fails (EINVAL, message with yajl's reason) on
 * malformed input, on trailing garbage, or above `limit` bytes (EFBIG). */
int json_parse (const char *text, size_t len, yajl_val *out, lympho_error_t *err);
static inline void cleanup_jsonp (yajl_val *v) { if (*v) yajl_tree_free (*v); }
#define cleanup_json __attribute__ ((cleanup (cleanup_jsonp)))

/* Lookup of one key in an object; NULL when v is not an object or the key is
 * absent. Keys compare exactly (Docker's keys are case-sensitive). */
yajl_val json_get (yajl_val obj, const char *key);
/* Walk nested objects: json_path (v, "Config", "Labels", NULL). */
yajl_val json_path (yajl_val v, ...) __attribute__ ((sentinel));
/* Typed views; NULL / false / fallback when the type differs. */
const char *json_str (yajl_val v);
bool json_as_int64 (yajl_val v, int64_t *out);
bool json_is_true (yajl_val v);
size_t json_obj_len (yajl_val v);
size_t json_arr_len (yajl_val v);
/* What an optional member may be: absent, null, or of its type. */
bool json_is_obj_or_null (yajl_val v);
bool json_is_arr_or_null (yajl_val v);
/* A string with at least one character. */
bool json_str_nonempty (yajl_val v);

/* Generator writing into memory. json_gen_new() never fails (aborts on OOM). */
yajl_gen json_gen_new (bool pretty);
static inline void cleanup_gen (yajl_gen *g) { if (*g) yajl_gen_free (*g); }
#define cleanup_jgen __attribute__ ((cleanup (cleanup_gen)))
void json_gen_str (yajl_gen g, const char *s);     /* NULL -> null */
void json_gen_int (yajl_gen g, int64_t n);
void json_gen_double (yajl_gen g, double d);
/* A number with `decimals` digits after the point ("2.99", not
 * "2.9900000000000002131"). */
void json_gen_fixed (yajl_gen g, double d, int decimals);
void json_gen_bool (yajl_gen g, bool b);
void json_gen_kstr (yajl_gen g, const char *key, const char *s);
void json_gen_kint (yajl_gen g, const char *key, int64_t n);
void json_gen_kbool (yajl_gen g, const char *key, bool b);
/* Emit a parsed tree (or null). */
void json_gen_value (yajl_gen g, yajl_val v);
/* Copy of the generated text (NUL-terminated). */
char *json_gen_text (yajl_gen g);

/* Serialise a whole tree to a new string. */
char *json_to_string (yajl_val v);

#endif
