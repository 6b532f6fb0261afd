/* lympho — a small HTTP/1.1 client for the Docker Engine API, on the
 * daemon's loop: one connection a request, over the engine's Unix socket or
 * plain TCP (no TLS). Private to runtime/.
 *
 * Every callback runs from the loop (never from inside a dhttp_* call), at
 * most once per request for `done`. dhttp_cancel() and dhttp_free() drop
 * requests without calling anything; both may be called from a callback. */
#ifndef LYMPHO_DOCKER_HTTP_H
#define LYMPHO_DOCKER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/error.h"

struct loop;
struct dhttp;
struct dhttp_req;

#define DHTTP_MAX_BODY (64u << 20)      /* a larger answer is refused (EFBIG) */
#define DHTTP_DEFAULT_TIMEOUT_MS 30000

/* ret < 0: the transfer failed (ECONNREFUSED, ETIMEDOUT, EIO, EFBIG) and err
 * says why; else status is the HTTP status and body (NUL-terminated) the
 * answer, whatever the status. */
typedef void (*dhttp_done_cb) (void *ud, int ret, const lympho_error_t *err, long status, const char *body,
                               size_t len);
/* dhttp_ping: as dhttp_done_cb, with the engine's Api-Version header (its
 * newest API version), NULL when it sent none. */
typedef void (*dhttp_ping_cb) (void *ud, int ret, const lympho_error_t *err, long status, const char *api_version,
                               const char *body, size_t len);
/* Streams: the headers arrived with this status (once). */
typedef void (*dhttp_open_cb) (void *ud, long status);
/* Streams: more body, only after a 200. */
typedef void (*dhttp_data_cb) (void *ud, const char *data, size_t len);

/* endpoint: "unix:///path", "/path", "tcp://host:port" or "http://host:port".
 * A transfer that cannot connect fails with ECONNREFUSED (EACCES where the
 * socket refused lymphd's user), and its message names the cause: no socket
 * there, permission denied, nothing listening. */
int dhttp_new (struct loop *loop, const char *endpoint, struct dhttp **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void dhttp_free (struct dhttp *h);

/* The API version that requests are sent under ("1.44": /v1.44/...); NULL
 * or "" sends them under none, which the engine answers at its newest. */
void dhttp_set_api_version (struct dhttp *h, const char *version);

/* path_query starts with '/', below the API version ("/containers/json?all=1").
 * body: JSON text sent as application/json, or NULL. timeout_ms <= 0: none. */
struct dhttp_req *dhttp_request (struct dhttp *h, const char *method, const char *path_query, const char *body,
                                 long timeout_ms, dhttp_done_cb done, void *ud);
/* An endless GET (e.g. /events): open, then data as it arrives, then done
 * when it ends for any reason. */
struct dhttp_req *dhttp_stream (struct dhttp *h, const char *path_query, dhttp_open_cb open, dhttp_data_cb data,
                                dhttp_done_cb done, void *ud);
/* Below no version prefix, whatever dhttp_set_api_version said: what an
 * engine answers at every version, for the negotiation itself. GET /_ping,
 * and a GET of path_query ("/version"). */
struct dhttp_req *dhttp_ping (struct dhttp *h, long timeout_ms, dhttp_ping_cb done, void *ud);
struct dhttp_req *dhttp_get_unversioned (struct dhttp *h, const char *path_query, long timeout_ms,
                                         dhttp_done_cb done, void *ud);
void dhttp_cancel (struct dhttp_req *r);

/* Percent-encode everything but RFC 3986 unreserved characters. */
char *dhttp_escape (const char *s);

/* The error of an engine answer with status >= 400 (or an unexpected one):
 * 404 -> ENOENT, 409 -> conflict_errno, 5xx -> EIO, with the engine's
 * "message" in the text. Returns the negative status. */
int dhttp_status_error (long status, const char *body, size_t len, int conflict_errno, lympho_error_t *err);

#endif
