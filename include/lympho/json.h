/* lympho — JSON for everyone: parse into trees, read values with strict
 * type checks, and generate JSON text. yajl does the work and json.c alone
 * includes it (and proto.c, for one constant tree); everyone else sees the
 * opaque json_val and json_gen below, so a module cannot walk yajl's
 * structures by hand. */
#ifndef LYMPHO_JSON_H
#define LYMPHO_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "lympho/error.h"

/* A parsed value (yajl's yajl_val) and a generator (yajl's yajl_gen). */
typedef struct yajl_val_s *json_val;
typedef struct yajl_gen_t *json_gen;

/* Arrays and objects nest at most this deep in a document json_parse takes:
 * yajl builds and frees its tree by recursion, and what lymphd reads (the
 * engine's answers, requests, plugins, its own files) nests less than 16. */
#define JSON_MAX_DEPTH 64
/* Parse a complete document. Fails (EINVAL, message with yajl's reason) on
 * malformed input or trailing garbage, and (E2BIG) on a document nested
 * deeper than JSON_MAX_DEPTH, refused before any tree is built. */
int json_parse (const char *text, size_t len, json_val *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void json_free (json_val v);
static inline void cleanup_jsonp (json_val *v) { json_free (*v); }
#define cleanup_json __attribute__ ((cleanup (cleanup_jsonp)))

/* Lookup of one key in an object; NULL when v is not an object or the key is
 * absent. Keys compare exactly (Docker's keys are case-sensitive). */
json_val json_get (json_val obj, const char *key);
/* Walk nested objects: json_path (v, "Config", "Labels", NULL). */
json_val json_path (json_val v, ...) __attribute__ ((sentinel));
/* Typed views; NULL / false / fallback when the type differs. */
const char *json_str (json_val v);
bool json_as_int64 (json_val v, int64_t *out);
bool json_is_true (json_val v);
size_t json_obj_len (json_val v);
size_t json_arr_len (json_val v);
bool json_is_object (json_val v);
bool json_is_array (json_val v);
bool json_is_string (json_val v);
bool json_is_integer (json_val v);
bool json_is_number (json_val v); /* integer or not */
bool json_is_false (json_val v);
bool json_is_null (json_val v);   /* null itself, not absent */
/* Members and elements by index, i below json_obj_len / json_arr_len. */
const char *json_obj_key (json_val v, size_t i);
json_val json_obj_value (json_val v, size_t i);
json_val json_arr_at (json_val v, size_t i);
/* A number as a double; false when v is not a number. */
bool json_as_double (json_val v, double *out);
/* A number as the document wrote it ("2.50"); NULL when not a number. */
const char *json_number_text (json_val v);
/* What an optional member may be: absent, null, or of its type. */
bool json_is_obj_or_null (json_val v);
bool json_is_arr_or_null (json_val v);
/* A string with at least one character. */
bool json_str_nonempty (json_val v);

/* Generator writing into memory. json_gen_new() never fails (aborts on OOM). */
json_gen json_gen_new (bool pretty);
void json_gen_free (json_gen g);
static inline void cleanup_gen (json_gen *g) { json_gen_free (*g); }
#define cleanup_jgen __attribute__ ((cleanup (cleanup_gen)))
void json_gen_str (json_gen g, const char *s);     /* NULL -> null */
void json_gen_int (json_gen g, int64_t n);
void json_gen_double (json_gen g, double d);
/* A number with `decimals` digits after the point ("2.99", not
 * "2.9900000000000002131"). */
void json_gen_fixed (json_gen g, double d, int decimals);
void json_gen_bool (json_gen g, bool b);
void json_gen_kstr (json_gen g, const char *key, const char *s);
void json_gen_kint (json_gen g, const char *key, int64_t n);
void json_gen_kbool (json_gen g, const char *key, bool b);
void json_gen_null (json_gen g);
void json_gen_map_open (json_gen g);
void json_gen_map_close (json_gen g);
void json_gen_array_open (json_gen g);
void json_gen_array_close (json_gen g);
/* Emit a parsed tree (or null). */
void json_gen_value (json_gen g, json_val v);
/* Copy of the generated text (NUL-terminated). */
char *json_gen_text (json_gen g);

/* Serialise a whole tree to a new string. */
char *json_to_string (json_val v);

#endif
