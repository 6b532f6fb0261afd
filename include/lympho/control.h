/* lympho — the control socket of lymphd (OpenSMTPD control.c is the model).
 *
 * A Unix stream socket. Every request is checked with SO_PEERCRED: root and
 * members of the group `lympho` may act, anyone else gets a clear refusal
 * (EPERM). Connections per uid are capped. At open, a live daemon already
 * answering on the path makes it fail (EADDRINUSE); a stale socket left by a
 * crash is removed. The socket is created under a restrictive umask. */
#ifndef LYMPHO_CONTROL_H
#define LYMPHO_CONTROL_H

#include <sys/types.h>
#include "lympho/error.h"
#include "lympho/json.h"

struct loop;
struct control;
struct control_request; /* one pending request; reply exactly once */

/* Called for each authorised, well-formed request. `args` is valid only
 * during the call. The handler replies now or later (e.g. regen, when the new
 * generation runs); the request stays valid until replied, even if the client
 * went away (then the reply is dropped). */
typedef void (*control_handler) (void *ud, struct control_request *req, const char *cmd, json_val args);

int control_open (struct loop *loop, const char *path, control_handler handler, void *ud, struct control **out,
                  lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Closes the listener and all connections; pending requests are answered
 * with an error ("daemon shutting down"), then freed. Removes the socket. */
void control_close (struct control *c);

void control_reply_ok (struct control_request *req, const char *result_json);
void control_reply_error (struct control_request *req, int status, const char *msg);
uid_t control_request_uid (const struct control_request *req);

/* Answers req with result_json, then turns its connection into a stream
 * of event lines (control_broadcast) about `name` (NULL: every name), until
 * the client or the daemon closes it. A stream reads nothing more, is never
 * idle, and holds at most CONTROL_MAX_OUT bytes for a reader that does not
 * read: past that, events are counted and said once as a "dropped" event. */
void control_reply_stream (struct control_request *req, const char *result_json, const char *name);
/* One event (a JSON object on one line) to every stream that wants `name`. */
void control_broadcast (struct control *c, const char *name, const char *event_json);
/* Streams open now. */
size_t control_streams (const struct control *c);

/* Tuning, mostly for tests. The group whose members may act (default
 * CONTROL_GROUP, looked up at every request), and how long a connection may
 * stay without a complete request line while nothing is pending. */
#define CONTROL_GROUP "lympho"
#define CONTROL_IDLE_TIMEOUT_MS 60000
void control_set_group (struct control *c, const char *group);
void control_set_idle_timeout (struct control *c, unsigned ms);

#endif
