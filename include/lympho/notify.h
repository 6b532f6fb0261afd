/* lympho — the systemd notification protocol (sd_notify(3)), spoken by hand
 * so lymphd needs no libsystemd. Every call is a no-op when $NOTIFY_SOCKET is
 * unset; a failure to notify is logged at debug and never fatal, since the
 * daemon's work does not depend on it. */
#ifndef LYMPHO_NOTIFY_H
#define LYMPHO_NOTIFY_H

#include <stdint.h>

#include "lympho/error.h"

/* Send one datagram of "KEY=VALUE\n..." lines to $NOTIFY_SOCKET (a path, or
 * an abstract socket written "@name"). 0 when sent or when unset, else
 * -errno. */
int notify_send (const char *state);

int notify_ready (void);                                    /* READY=1 */
int notify_reloading (void);                                /* RELOADING=1; READY=1 after */
int notify_stopping (void);                                 /* STOPPING=1 */
int notify_watchdog (void);                                 /* WATCHDOG=1 */
int notify_status (const char *fmt, ...) LYMPHO_PRINTF (1, 2); /* STATUS=..., one line */

/* The watchdog interval systemd expects pings within, from $WATCHDOG_USEC;
 * 0 when unset, invalid, or meant for another process ($WATCHDOG_PID). */
uint64_t notify_watchdog_usec (void);

#endif
