/* lympho — what several unit tests need (unit-util.h). */
#include "config.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lympho/journal.h"
#include "unit-util.h"

/* Damaged journal records skipped by the last replay. */
static size_t damaged;

static int
rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (path);
}

int
unit_rmtree (const char *dir)
{
  if (nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0)
    return 0;
  fprintf (stderr, "could not remove %s\n", dir);
  return -1;
}

size_t
unit_open_txns (const char *state_dir)
{
  struct txn *v = NULL;
  size_t n = 0;
  lympho_error_t err = { 0 };
  assert_int_equal (journal_load (state_dir, &v, &n, &damaged, &err), 0);
  for (size_t i = 0; i < n; i++)
    txn_free (&v[i]);
  free (v);
  return n;
}
