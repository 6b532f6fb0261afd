/* lympho — the external runtime plugin protocol (docs/lympho-runtime-plugin.7):
 * what lymphd sends a plugin and how its answers are read. Pure functions,
 * no I/O, so every rule about what is accepted is tested on its own. */
#ifndef LYMPHO_RUNTIME_EXEC_PROTO_H
#define LYMPHO_RUNTIME_EXEC_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/json.h"
#include "lympho/runtime.h"

#define EXEC_PROTO_VERSION 1
/* Most a plugin may print on stdout for one call (a list of many
 * containers, a snapshot with a large spec). */
#define EXEC_PROTO_MAX_ANSWER (16u * 1024u * 1024u)
#define EXEC_PROTO_MAX_EVENT_LINE (1u << 20)

/* errno <-> the names plugins use ("ENOENT"); unknown names give EIO. */
int exec_proto_errno (const char *name);
const char *exec_proto_errno_name (int e);

/* Read a plugin's answer to one call. ok:true: 0 and *data holds the whole
 * answer object (free it). ok:false: the plugin's errno (negative) and its
 * message. Anything else (not one JSON object, trailing bytes, another
 * version, ok missing, too large): -EIO "plugin answered garbage: ...". */
int exec_proto_answer (const char *text, size_t len, json_val *data, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Members of an answer; fail with EIO "plugin answered garbage: ..." when a
 * required member is missing or of the wrong type. `full` asks for what
 * inspect reports beyond what list does. */
int exec_proto_container (json_val v, bool full, struct rt_container *c, lympho_error_t *err) LYMPHO_MUST_CHECK;
int exec_proto_snapshot (json_val v, struct rt_snapshot *s, lympho_error_t *err) LYMPHO_MUST_CHECK;
int exec_proto_id (json_val answer, char **id, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* One line of the events stream. Fills ev, whose strings point into *tree
 * and *attrs (free both after use). */
int exec_proto_event (const char *line, size_t len, struct rt_event *ev, json_val *tree, struct rt_labels *attrs,
                      lympho_error_t *err) LYMPHO_MUST_CHECK;

/* For plugins that cannot stream: the events that explain the step from one
 * list to the next (create, start, die, pause, unpause, rename, destroy).
 * emit's strings are valid during the call only. */
typedef void (*exec_proto_emit_fn) (void *ud, const struct rt_event *ev);
void exec_proto_diff (const struct rt_container *old, size_t n_old, const struct rt_container *cur, size_t n_cur,
                      uint64_t time_nano, exec_proto_emit_fn emit, void *ud);

/* Request builders: an open map with "version" already in it. */
json_gen exec_proto_request (void);

#endif
