/* lympho — the Docker backend's internals, shared by its files and no one
 * else (not a public header). The backend, by duty:
 *   docker.c             op plumbing, API version negotiation, open/close,
 *                        the two ops tables (Docker, Podman)
 *   docker-containers.c  inspect/list translation; ping, list, inspect,
 *                        snapshot, lifecycle, changes, top, networks
 *   docker-create.c      create (with its networks, or undone) and publish
 *   docker-images.c      image inspect/tag/remove and commit
 *   docker-events.c      the event stream: parse, deliver, reconnect
 *   podman.c             what Podman does differently: its quirks, the
 *                        healthcheck runner, held deaths
 * Over docker-http (HTTP/1.1 on the loop) and docker-spec (inspect -> create spec). */
#ifndef LYMPHO_DOCKER_INT_H
#define LYMPHO_DOCKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-http.h"
#include "docker-spec.h"
#include "event-stream.h"

struct docker_cause
{
  const char *cause;
  long status;
};

/* What sets an engine that speaks the Docker API apart from Docker. */
struct docker_quirks
{
  const char *name;             /* in log lines */
  const char *default_endpoint; /* taken instead of DEFAULT_DOCKER_HOST; NULL: as given */
  /* Create bodies go through docker_spec_podman_create: ulimits named as
   * Podman parses them, nofile/nproc added where the spec has none. */
  bool podman_create;
  /* The event stream ends by itself now and then while the engine is fine:
   * reconnect quietly while /_ping answers. */
  bool stream_ends;
  /* Inspect answers are translated with DOCKER_SPEC_PODMAN. */
  bool podman_inspect;
  /* Some answers come as 500 with a "cause": {cause, status}, NULL-ended. */
  const struct docker_cause *causes;
  /* Image ids may come without "sha256:" (Podman's /commit). */
  bool bare_image_ids;
  /* /commit ignores the body's Labels: pass them as changes=LABEL. */
  bool commit_label_changes;
  /* Event actions renamed to Docker's: pairs of {theirs, ours}, NULL-ended. */
  const char *const (*actions)[2];
  /* /changes lists the directories it made mount points in (/etc for
   * hosts and resolv.conf, every mount's destination) as added or changed;
   * Docker keeps those in a hidden init layer. Drop the container's mount
   * destinations (inspected first), and 'C' entries with nothing listed
   * below them: a real change inside a directory is listed itself. */
  bool changes_lone_dirs;
  /* ps_args of /top (escaped), giving a host PID column. */
  const char *top_args;
  /* Healthchecks run only where a systemd timer runs them: the backend runs
   * each running container's check itself (libpod's healthcheck route) at
   * its interval, and the engine's "health_status" events, which carry the
   * status apart from the action, become Docker's "health_status: X" on a
   * change. See "Podman: healthchecks" below. */
  bool run_healthchecks;
  /* An operator's stop has no "stop" event: a death is held until what
   * follows tells a stop from a crash. See "Podman: unannounced deaths". */
  bool unannounced_deaths;
  /* Stopping a paused container is refused (state improper): kill it. */
  bool stop_paused_kills;
  /* The compat API takes every field it knows whatever the version in the
   * path: nothing is dropped for being newer than the version spoken
   * (Podman 5 shows HostConfig.Annotations, of API 1.43, while it serves
   * 1.41 at most, and keeps them at create). */
  bool fields_unversioned;
};


struct op;
typedef void (*op_resp_fn) (struct op *op, int ret, const lympho_error_t *err, long status, const char *body,
                            size_t len);

struct runtime
{
  const struct docker_quirks *q;
  struct loop *loop;
  struct dhttp *http;
  LIST_HEAD (, op) ops;    /* in flight, newest first */

  /* The API version (see "API version negotiation"). */
  int api;                   /* spoken now; 0 until negotiated */
  int api_pinned;            /* DOCKER_API_VERSION, 0 when unset */
  int engine_min, engine_max;
  char info_text[3][16];     /* engine_info's answers */
  char *engine_product, *engine_version;
  struct dhttp_req *neg_req; /* a negotiation in flight */
  bool events_wait;          /* the event stream waits for it */
  char *problem;             /* why the engine cannot be used; NULL when it can */
  char *endpoint;            /* as lymphd was told it */
  bool refused;
  long call_timeout_ms;      /* a call without a limit of its own (LYMPHO_ENGINE_TIMEOUT_MS) */

  /* The event stream: its supervision (the core's callbacks, connection
   * state, backoff, the callback guard: s.cb_depth, s.closed), and the
   * request. */
  struct rt_stream s;
  struct dhttp_req *ev_req;
  uint64_t open_nano;   /* realtime when the stream last opened (stream_ends) */
  uint64_t open_ms;     /* monotonic, the same */
  struct buf ev_line;

  /* run_healthchecks */
  LIST_HEAD (, hc) hcs;
  size_t n_hcs;
  struct dhttp_req *hc_list_req;
  /* unannounced_deaths */
  LIST_HEAD (, held) helds;
  size_t n_helds;
  struct announced
  {
    char id[72];
    uint64_t mono;
  } announced[32];
  size_t announced_next;
};

struct op
{
  struct runtime *rt;
  LIST_ENTRY (op) link;   /* in runtime.ops */
  op_resp_fn resp;
  union rt_callback cb;
  void *ud;
  char *what;            /* context of error messages: "start web" */
  int conflict;          /* errno for a 409 */
  struct dhttp_req *req;
  uint64_t timer;
  int later_ret;
  lympho_error_t later_err;
  /* Waiting for the negotiation: the request to send after it. method is
   * a string literal. */
  bool parked;
  const char *park_method;
  char *park_path, *park_body;
  long park_timeout_ms;

  /* image_tags: the repository asked for */
  char *ref;

  /* changes (changes_lone_dirs): the mount destinations */
  char **mounts;
  size_t n_mounts;

  /* create, publish */
  struct docker_spec_plan plan;
  size_t net_i;
  char *new_id, *new_name;
  bool by_ref; /* created from plan.image_ref: verify the image */
  struct docker_spec_net *pub;
  size_t n_pub, pub_step;
  int first_ret;
  lympho_error_t first_err;
};

/* ---- docker.c: op plumbing ----
 * Every operation is a struct op in flight: one or more engine requests,
 * then the caller's callback exactly once. */
struct op *docker_op_new (struct runtime *rt, void *ud, int conflict, const char *fmt, ...) LYMPHO_PRINTF (4, 5);
void docker_op_unlink (struct op *op);
void docker_op_free (struct op *op);
/* method: a string literal. Waits for the API version when it is not
 * negotiated yet. */
void docker_op_send (struct op *op, const char *method, const char *path, const char *body, long timeout_ms,
                     op_resp_fn resp);
/* Report a failure found before any request: from the loop, as promised. */
void docker_op_fail_later (struct op *op, const lympho_error_t *err, op_resp_fn resp);
/* The answer's error, if any, with the op's context. */
int docker_op_check (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                     lympho_error_t *out);
/* Parse an answer that must be JSON. */
int docker_op_parse (struct op *op, const char *body, size_t len, json_val *out, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The answer's error, if any, else the answer parsed into *tree (the
 * caller frees it). */
int docker_op_answer (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                      json_val *tree, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* An answer that must be a JSON list (or null, where null_ok), into *tree
 * (the caller frees it). */
int docker_op_list_answer (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                           bool null_ok, json_val *tree, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* A list path with one filter, `key` = [value]: PATH?[QUERY&]filters=...
 * (query may be NULL). */
char *docker_filtered_path (const char *path, const char *query, const char *key, const char *value);
/* The "Id" an answer must carry, pointing into *tree (the caller frees it). */
int docker_op_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len,
                  json_val *tree, const char **id, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Ends of an op: the callback, then the op is freed. */
void docker_resp_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len);
void docker_resp_fail_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body,
                          size_t len);
void docker_resp_fail_done (struct op *op, int ret, const lympho_error_t *in, long status, const char *body,
                            size_t len);
void docker_finish_id (struct op *op, int ret, const lympho_error_t *err, const char *id);
void docker_finish_done (struct op *op, int ret, const lympho_error_t *err);
/* A plain request whose answer only matters as success or failure. */
void docker_simple (struct runtime *rt, const char *method, const char *path, const char *body, long timeout_ms,
                    int conflict, const char *what, rt_done_cb cb, void *ud);
/* "/containers/<ref escaped><suffix>" */
char *docker_container_path (const char *ref, const char *suffix);
/* Negotiate the API version (once at a time). */
void docker_negotiate (struct runtime *rt);

/* ---- docker-containers.c ---- */
/* An engine's timestamp ("2026-12-05T15:38:14.125515309Z", an offset
 * allowed) in realtime ms; 0 for the zero time or anything unparsable. */
uint64_t docker_parse_time_ms (const char *s);
void docker_ping (struct runtime *rt, rt_done_cb cb, void *ud);
void docker_list (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud);
void docker_inspect (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud);
void docker_snapshot (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud);
void docker_start (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);
void docker_stop (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud);
void docker_kill (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud);
void docker_remove (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud);
void docker_rename (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud);
void docker_pause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);
void docker_unpause (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);
void docker_changes (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud);
void docker_top (struct runtime *rt, const char *id, rt_top_cb cb, void *ud);
void docker_network_disconnect (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud);

/* ---- docker-create.c ---- */
void docker_create (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
                    rt_id_cb cb, void *ud);
void docker_create_hidden (struct runtime *rt, const char *spec, const char *name,
                           const struct rt_labels *extra_labels, rt_id_cb cb, void *ud);
void docker_publish (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud);

/* ---- docker-images.c ---- */
void docker_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud);
void docker_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                       void *ud);
void docker_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud);
void docker_image_tags (struct runtime *rt, const char *repo, rt_refs_cb cb, void *ud);
void docker_layer_size (struct runtime *rt, const char *id, rt_size_cb cb, void *ud);
void docker_commit (struct runtime *rt, const char *id, const char *repo, const char *tag,
                    const struct rt_labels *labels, rt_id_cb cb, void *ud);

/* ---- docker-swarm.c ---- */
void docker_service_inspect (struct runtime *rt, const char *id, rt_service_cb cb, void *ud);
void docker_service_list (struct runtime *rt, const char *label, rt_service_list_cb cb, void *ud);
void docker_service_force_update (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);

/* ---- docker-events.c ---- */
int docker_subscribe (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The stream's supervision, at open. */
void docker_events_init (struct runtime *rt);
void docker_events_connect (struct runtime *rt);
/* The stream is down, the engine away; problem_changed: tell the core even
 * when it knows (engine_info has a new reason). */
void docker_events_down (struct runtime *rt, const lympho_error_t *e, bool problem_changed);

/* ---- podman.c ---- */
extern const struct docker_quirks podman_quirks;
/* Podman's events before they go to the core: true when dealt with. */
bool podman_events (struct runtime *rt, json_val v, const struct rt_event *ev);
/* Track every running container with a healthcheck (the stream opened). */
void podman_hc_sync (struct runtime *rt);
/* Free the healthcheck runner and held deaths (close). */
void podman_close (struct runtime *rt);

#endif
