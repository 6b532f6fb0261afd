/* lympho — logging to stderr, one line per event. A line about a container
 * names the container, its generation and the step, so that an operator can
 * follow one regeneration through the journal. */
#ifndef LYMPHO_LOG_H
#define LYMPHO_LOG_H

#include <stdint.h>

#include "lympho/error.h"

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level (enum log_level lvl);
enum log_level log_get_level (void);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_parse_level (const char *s);
void log_msg (enum log_level lvl, const char *fmt, ...) LYMPHO_PRINTF (2, 3);

struct rate_limit;
/* A warn line "AREA: WHAT" about a refused caller, at most one per
 * period_ms: the others are counted in the next one, "(and N more refused
 * since the last such line)". A flood of refusals must not flood the
 * journal. */
void log_refusal_limited (struct rate_limit *rl, uint64_t period_ms, const char *area, const char *what);

#define log_error(...) log_msg (LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg (LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg (LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (LOG_LVL_DEBUG, __VA_ARGS__)

#endif
