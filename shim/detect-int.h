/* lympho — the detectors' internals, shared by detect.c, detect-programs.c
 * and detect-drift.c and no one else. The daemon calls only what
 * daemon-int.h declares under detect.c. */
#ifndef LYMPHO_DETECT_INT_H
#define LYMPHO_DETECT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon-int.h"

/* An incident found by lymphd's own detectors, at the container's own
 * threshold; a failure is logged. */
void detect_incident (struct daemon *d, struct entry *e, enum alert_source src, const char *reason,
                      const char *program, const char *path, uint64_t received_mono);

/* detect-programs.c */
void detect_programs_open (struct daemon *d);
void detect_programs_close (struct daemon *d);
void detect_programs_started (struct daemon *d, struct entry *e, bool fresh);
void detect_programs_running (struct daemon *d, struct entry *e);
void detect_programs_reapply (struct daemon *d, struct entry *e);
void detect_programs_entry_free (struct daemon *d, struct entry *e);
void detect_programs_status (struct daemon *d, json_gen g);
void detect_programs_gen (struct daemon *d, struct entry *e, json_gen g);

/* detect-drift.c */
void detect_drift_close (struct daemon *d);
void detect_drift_started (struct daemon *d, struct entry *e, bool fresh);
void detect_drift_entry_free (struct daemon *d, struct entry *e);
void detect_drift_gen (struct daemon *d, struct entry *e, json_gen g);

#endif
