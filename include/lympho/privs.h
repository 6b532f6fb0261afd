/* lympho — privileges. lymphd starts as root, sets up, then keeps only the
 * capabilities listed in shim/privs.c (the one place they are named) and
 * forbids gaining new ones. The systemd unit's CapabilityBoundingSet must
 * equal privs_capability_names(). */
#ifndef LYMPHO_PRIVS_H
#define LYMPHO_PRIVS_H

#include <stddef.h>

#include "lympho/error.h"

/* "CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE": the kept capabilities, space
 * separated, as systemd.exec(5) spells them. Static storage. */
const char *privs_capability_names (void);
/* The kept capabilities as libcap values (cap_value_t is an int). */
const int *privs_capabilities (size_t *n);

/* Reduce the bounding set to the list, set permitted, effective and
 * inheritable to the list, clear the ambient set and set no_new_privs.
 * Without privileges (not root, or some caps not held) keep whatever subset
 * is held and do not fail; that is logged at debug. */
int privs_drop (lympho_error_t *err);

#endif
