/* lympho — privileges. lymphd starts as root, sets up, then keeps only the
 * capabilities listed in shim/privs.c (the one place they are named) and
 * forbids gaining new ones. The systemd unit's CapabilityBoundingSet must
 * equal privs_bounding_names(). */
#ifndef LYMPHO_PRIVS_H
#define LYMPHO_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/error.h"

/* "CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE": the kept capabilities, space
 * separated, as systemd.exec(5) spells them. Static storage. */
const char *privs_capability_names (void);
/* The unit's CapabilityBoundingSet: the kept ones, those kept only to
 * start the parser process as uid 65534 (CAP_SETUID CAP_SETGID), then
 * those used only before the drop (CAP_MAC_ADMIN: the exec guard's kernel
 * judge). */
const char *privs_bounding_names (void);
/* The kept capabilities as libcap values (cap_value_t is an int). */
const int *privs_capabilities (size_t *n);

/* "CAP_DAC_OVERRIDE": what an exec: runtime's plugins need beyond the
 * list (ctr mounts image snapshots). Static storage. */
const char *privs_plugin_capability_names (void);
/* The runtime is an exec: plugin (called before privs_drop): also keep the
 * plugin capabilities, permitted and inheritable but not effective, so
 * that plugins get them and lymphd itself does not use them. */
void privs_for_plugins (void);

/* Reduce the bounding set to the list, set permitted, effective and
 * inheritable to the list, clear the ambient set and set no_new_privs.
 * Without privileges (not root, or some caps not held) keep whatever subset
 * is held and do not fail; that is logged at debug. */
int privs_drop (lympho_error_t *err) LYMPHO_MUST_CHECK;

/* In the forked child that becomes the parser process (parser.c), before
 * it changes its ids: raise CAP_SETUID and CAP_SETGID, which lymphd keeps
 * permitted but never effective, into the effective set. A raw system
 * call, safe between fork and exec; false when they are not held. */
bool privs_parser_raise (void);

/* Around spawning a plugin: raise (true) what lymphd keeps, with the plugin
 * capabilities, into the calling thread's ambient set, so that the plugin
 * gets them also when lymphd does not run as root; clear it again (false).
 * Best effort: a plugin without them fails with its own message. */
void privs_plugin_ambient (bool raise);

#endif
