/* lympho — what several unit tests need: a temporary folder removed whole,
 * and the journal's open transactions counted. */
#ifndef LYMPHO_UNIT_UTIL_H
#define LYMPHO_UNIT_UTIL_H

#include <stddef.h>

/* Remove dir and everything in it (no symlink followed); 0, or -1 after a
 * line on stderr naming what could not be removed. */
int unit_rmtree (const char *dir);
/* The transactions the journal under state_dir leaves open (cmocka-asserts
 * that it loads). */
size_t unit_open_txns (const char *state_dir);

#endif
