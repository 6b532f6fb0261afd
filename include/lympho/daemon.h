/* lympho — the daemon: the protected containers, their schedule, adoption,
 * recovery at start-up, and the answers to the control socket. lymphd's
 * main() only parses the configuration and calls daemon_run(). */
#ifndef LYMPHO_DAEMON_H
#define LYMPHO_DAEMON_H

#include "lympho/config.h"
#include "lympho/error.h"

/* Runs until SIGTERM/SIGINT; returns the process exit status. argc/argv are
 * kept for SIGHUP reloads. */
int daemon_run (struct config *cfg, lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
