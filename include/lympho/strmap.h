/* lympho — an index from strings to pointers: what lymphd keeps a list of
 * per container (its entries by name and by id, the drift start-up sets by
 * image and name) found in constant time, not by walking the list with
 * strcmp. At 500 protected containers those walks were most of what
 * lymphd did at rest (bench-scale, perf).
 *
 * Open addressing with linear probing, removal by backward shift (no
 * tombstones); the table doubles past 3/4 full and is never smaller than
 * 16 slots. The keys are borrowed: each is the caller's, kept alive and
 * unchanged while it is in the map (an entry's own name, say). One value
 * per key: a second put of a key replaces the first. May call: nothing but
 * the allocator. */
#ifndef LYMPHO_STRMAP_H
#define LYMPHO_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot
{
  const char *key; /* NULL: empty */
  void *val;
  uint64_t hash;
};

struct strmap
{
  struct strmap_slot *v;
  size_t cap; /* a power of two, or 0 before the first put */
  size_t n;
};

/* NULL when key is NULL or not in the map. */
void *strmap_get (const struct strmap *m, const char *key);
/* key to val (neither NULL), in place of what key had. */
void strmap_put (struct strmap *m, const char *key, void *val);
/* Removes key if it maps to val (any value when val is NULL); true if it
 * did. */
bool strmap_del (struct strmap *m, const char *key, const void *val);
void strmap_free (struct strmap *m);
/* The hash of a string (FNV-1a, then mixed). */
uint64_t strmap_hash (const char *s);

#endif
