/* lympho — an index from strings to pointers (contract in strmap.h). May
 * call: the allocator. */
#include "config.h"

#include <string.h>

#include "lympho/strmap.h"
#include "lympho/util.h"

#define STRMAP_MIN 16

uint64_t
strmap_hash (const char *s)
{
  /* Mixed: the low bits pick the slot, and ids that share a long prefix
   * must not crowd one run of slots. */
  return hash_mix (fnv1a_str (FNV_OFFSET, s));
}

/* The slot of key: where it is, or the empty slot where it would go. */
static size_t
find (const struct strmap *m, const char *key, uint64_t h)
{
  size_t mask = m->cap - 1;
  size_t i = (size_t) h & mask;
  while (m->v[i].key && (m->v[i].hash != h || strcmp (m->v[i].key, key) != 0))
    i = (i + 1) & mask;
  return i;
}

static void
grow (struct strmap *m)
{
  struct strmap old = *m;
  m->cap = old.cap ? old.cap * 2 : STRMAP_MIN;
  m->v = xmalloc0 (m->cap * sizeof *m->v);
  for (size_t i = 0; i < old.cap; i++)
    if (old.v[i].key)
      m->v[find (m, old.v[i].key, old.v[i].hash)] = old.v[i];
  free (old.v);
}

void *
strmap_get (const struct strmap *m, const char *key)
{
  if (key == NULL || m->n == 0)
    return NULL;
  size_t i = find (m, key, strmap_hash (key));
  return m->v[i].key ? m->v[i].val : NULL;
}

void
strmap_put (struct strmap *m, const char *key, void *val)
{
  if ((m->n + 1) * 4 > m->cap * 3)
    grow (m);
  uint64_t h = strmap_hash (key);
  size_t i = find (m, key, h);
  if (m->v[i].key == NULL)
    m->n++;
  m->v[i] = (struct strmap_slot) { .key = key, .val = val, .hash = h };
}

bool
strmap_del (struct strmap *m, const char *key, const void *val)
{
  if (key == NULL || m->n == 0)
    return false;
  size_t mask = m->cap - 1;
  size_t i = find (m, key, strmap_hash (key));
  if (m->v[i].key == NULL || (val && m->v[i].val != val))
    return false;
  /* Backward shift: each slot after the hole that would be found from its
   * home at or before the hole moves into it, until an empty slot. */
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask)
    {
      if (m->v[j].key == NULL)
        break;
      size_t home = (size_t) m->v[j].hash & mask;
      /* Whether home lies cyclically in (i, j]: if so, it stays. */
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays)
        {
          m->v[i] = m->v[j];
          i = j;
        }
    }
  m->v[i] = (struct strmap_slot) { 0 };
  m->n--;
  return true;
}

void
strmap_free (struct strmap *m)
{
  free (m->v);
  memset (m, 0, sizeof *m);
}
