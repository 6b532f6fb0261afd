/* lympho — the control protocol between lymphctl and lymphd.
 *
 * One request per line, one reply per line, JSON, versioned:
 *   request:  {"v":1,"cmd":"ls","args":{...}}
 *   reply:    {"v":1,"ok":true,"result":<any JSON>}
 *             {"v":1,"ok":false,"status":<errno>,"error":"one line"}
 * A line is at most PROTO_MAX_LINE bytes. Unknown versions, unknown keys at
 * the top level, or trailing bytes are refused whole.
 *
 * Commands and their args / results:
 *   status  {}                                  -> {"version","uptime_s","runtime","engine":"connected"|"disconnected",
 *                                                   "protected","regenerating","regenerations","failures"}
 *   ls      {}                                  -> [ {"name","id","image_id","generation","ttl_s","next_regen_in_s",
 *                                                     "threat_level","state","group","strategy",...}, ... ]
 *   regen   {"name":S,"reason":S?}              -> {"name","id","generation","duration_ms"} (sent when done)
 *   alert   {"name":S,"severity":N,"reason":S?} -> {"name","threat_level","action"}
 *   history {"name":S?,"limit":N?}              -> [ {...}, ... ] newest first
 *   events  {"name":S?,"limit":N?,"follow":B?}  -> [ {...}, ... ] the last history entries, newest first;
 *            with follow, the connection then carries event lines, one per history entry and per step of
 *            a regeneration as they happen, until the daemon stops (it closes the connection):
 *   event:    {"v":1,"event":{"time","name","kind",...}}
 *            kind "step": {"generation","txn","step","id"?,"detail"?}; kind "dropped": {"count"}, events
 *            a reader too slow to take them lost; any other kind: a history entry as history gives it.
 */
#ifndef LYMPHO_PROTO_H
#define LYMPHO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include "lympho/error.h"
#include "lympho/json.h"

#define PROTO_VERSION 1
#define PROTO_MAX_LINE (1024 * 1024)

/* args_json: JSON object text or NULL for {}. Returns a line ending in '\n'. */
char *proto_request_encode (const char *cmd, const char *args_json);
/* Parse one request line (without '\n'). *cmd and *args are owned by *tree;
 * *args is an object (empty when absent). */
int proto_request_decode (const char *line, size_t len, json_val *tree, const char **cmd, json_val *args,
                          lympho_error_t *err) LYMPHO_MUST_CHECK;

/* result_json: any JSON text, or NULL for null. Lines end in '\n'. */
char *proto_reply_ok (const char *result_json);
char *proto_reply_error (int status, const char *msg);
/* Parse a reply line. On ok: *result points into *tree. On a refusal from
 * the daemon, returns -status with err holding its message. */
int proto_reply_decode (const char *line, size_t len, json_val *tree, json_val *result, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* event_json: a JSON object text on one line, as json_gen writes it. */
char *proto_event_line (const char *event_json);
/* Parse an event line. *event points into *tree and is an object. */
int proto_event_decode (const char *line, size_t len, json_val *tree, json_val *event, lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
