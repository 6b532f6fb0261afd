/* lympho — the runtime extension point.
 *
 * Everything the core needs from a container engine is one table of
 * asynchronous operations, struct runtime_ops. Nothing outside runtime/ knows
 * how a backend talks to its engine (HTTP, a plugin's stdin, ...).
 *
 * Rules every backend follows:
 *  - An operation never blocks: it starts the work on the daemon's loop and
 *    returns. Its callback runs exactly once, from the loop, never before the
 *    operation has returned (an immediate failure is reported on the next loop
 *    turn). ret is 0 on success, negative errno-style on failure with err set.
 *  - ENOENT means "no such container / image"; EEXIST a name conflict;
 *    ECONNREFUSED / EIO the engine could not be reached or failed.
 *  - Data handed to a callback is owned by the backend and valid only during
 *    the callback, except where a callback is said to take ownership.
 *  - close() cancels what is in flight without calling callbacks.
 */
#ifndef LYMPHO_RUNTIME_H
#define LYMPHO_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lympho/error.h"
#include "lympho/json.h"

struct loop;
struct runtime; /* one backend instance, opaque to the core */

enum rt_state
{
  RT_STATE_UNKNOWN = 0,
  RT_STATE_CREATED,
  RT_STATE_RUNNING,
  RT_STATE_PAUSED,
  RT_STATE_RESTARTING,
  RT_STATE_REMOVING,
  RT_STATE_EXITED,
  RT_STATE_DEAD,
};
const char *rt_state_name (enum rt_state s);
/* The engines' word for a state ("running"): the one parser of both backends. */
enum rt_state rt_state_parse (const char *s);
/* A container name as Docker allows it ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at
 * most 255 bytes): what lymphd takes from a runtime plugin, since a name
 * becomes a file under the state directory and a key everywhere. */
bool rt_name_valid (const char *name);
/* An image's content id: [ALGO:]HEX, ALGO of [a-z0-9], HEX of lower-case
 * hex digits, at most 255 bytes ("sha256:8e91..."): an id becomes a file
 * name under the state directory (learned lists). */
bool rt_image_id_valid (const char *id);

enum rt_health
{
  RT_HEALTH_NONE = 0, /* no healthcheck */
  RT_HEALTH_STARTING,
  RT_HEALTH_HEALTHY,
  RT_HEALTH_UNHEALTHY,
};
const char *rt_health_name (enum rt_health h);
enum rt_health rt_health_parse (const char *s); /* "healthy" ...; else NONE */

struct rt_label
{
  char *key;
  char *value;
};
struct rt_labels
{
  size_t n;
  struct rt_label *v;
};
const char *rt_labels_get (const struct rt_labels *l, const char *key);
void rt_labels_set (struct rt_labels *l, const char *key, const char *value); /* copies; replaces */
void rt_labels_copy (struct rt_labels *dst, const struct rt_labels *src);
void rt_labels_free (struct rt_labels *l);
/* The one parser of labels and event attributes, for every backend: a JSON
 * object of strings, added to out; absent or null is none. strict (a
 * plugin's answer): anything else fails (EINVAL, naming `what`), nothing
 * added; lenient (an engine's own answer): what is not a string is skipped
 * and it never fails. */
int rt_labels_from_json (json_val v, bool strict, const char *what, struct rt_labels *out, lympho_error_t *err);
/* Its inverse: `key` and the labels as a JSON object (l NULL: empty). */
void rt_labels_gen (json_gen g, const char *key, const struct rt_labels *l);

struct rt_container
{
  char *id;          /* full id */
  char *name;        /* without the leading '/' */
  char *image_id;    /* "sha256:..." */
  enum rt_state state;
  enum rt_health health;
  struct rt_labels labels;
  int pid;           /* 0 when not running */
  int exit_code;
  bool oom_killed;
  uint64_t started_at_ms; /* realtime ms, 0 when unknown */
  char **networks;   /* names of the networks it is attached to (inspect only) */
  size_t n_networks;
  char **mounts;     /* mount destinations: volumes, binds, tmpfs (inspect only) */
  size_t n_mounts;
  char *upper_dir;   /* its writable layer on the host, an overlay's upper directory (inspect only; NULL: unknown) */
};
void rt_container_free (struct rt_container *c); /* frees fields, not c */
/* dst (its fields not owned yet) as a copy of src, owning every field. */
void rt_container_copy (struct rt_container *dst, const struct rt_container *src);

/* The golden snapshot of a container: everything needed to create an
 * identical fresh one. `spec` is the backend's own create specification,
 * opaque to the core, which only stores it and hands it back to create(). */
struct rt_snapshot
{
  char *id;            /* the container it was taken from */
  char *name;
  char *image_id;      /* the image, pinned by id */
  char *spec;          /* backend-defined text (JSON) */
  struct rt_labels labels;
  bool has_healthcheck;
  char *swap_blocker;  /* NULL when two generations may run side by side; else why not */
  int stop_timeout_s;  /* -1: the engine's default */
};
void rt_snapshot_free (struct rt_snapshot *s); /* frees fields, not s */

struct rt_change
{
  char kind;   /* 'A' added, 'C' changed, 'D' deleted */
  char *path;
};
struct rt_process
{
  int pid;     /* as the engine reports it (host pid for Docker) */
  char *user;
  char *cmd;
};

enum rt_event_type { RT_EV_CONTAINER = 0, RT_EV_IMAGE, RT_EV_NETWORK, RT_EV_OTHER };
struct rt_event
{
  enum rt_event_type type;
  const char *action;  /* normalised: "create", "start", "die", "stop", "kill",
                          "destroy", "rename", "pause", "unpause", "oom",
                          "health_status: healthy", "health_status: unhealthy", ... */
  const char *id;
  const char *name;    /* container name when known */
  const struct rt_labels *attrs; /* the event's attributes (labels, exitCode, ...) */
  int exit_code;       /* for "die", else -1 */
  uint64_t time_nano;
};

/* What a backend knows of its engine, for operators (lymphctl status,
 * /healthz, the service's STATUS=). Every field may be NULL: not known
 * (yet). Valid until the next turn of the loop. */
struct rt_engine_info
{
  const char *product;     /* "Docker Engine", "Podman Engine" */
  const char *version;     /* the engine's own version, "28.5.2" */
  const char *api_version; /* the API version spoken with it, "1.51" */
  const char *api_min;     /* the versions the engine serves */
  const char *api_max;
  /* Why the engine cannot be used now, with what to do about it; NULL when
   * it can. refused: it answers but cannot be used as it is (no API version
   * fits, not a Docker API, permission denied), as opposed to unreachable. */
  const char *problem;
  bool refused;
};

/* A Docker Swarm service as a manager tells it (service_inspect). */
enum rt_restart_condition
{
  RT_RESTART_UNKNOWN = 0,
  RT_RESTART_ANY,        /* a task that ends, whatever its exit, is replaced */
  RT_RESTART_ON_FAILURE, /* replaced when it fails (a forced removal is a failure) */
  RT_RESTART_NONE,       /* never replaced */
};
struct rt_service
{
  const char *id;
  const char *name;
  enum rt_restart_condition restart;
  int64_t restart_delay_ms; /* -1: not said (the swarm's default, 5 s) */
  struct rt_labels labels;  /* the service's own, not its containers' */
  uint64_t force_update;    /* TaskTemplate.ForceUpdate: bumped by each forced update */
  const char *update_state; /* its last update's: "updating", "completed", "paused", "rollback_*"; NULL: none */
  uint64_t updated_ms;      /* realtime: its last update's end, else its creation; 0: not known */
};
/* An update of s is in flight (anyone's, a rollback included): no other
 * is forced over it. */
static inline bool
rt_service_updating (const struct rt_service *s)
{
  return s->update_state
         && (strcmp (s->update_state, "updating") == 0 || strcmp (s->update_state, "rollback_started") == 0);
}

typedef void (*rt_done_cb) (void *ud, int ret, const lympho_error_t *err);
typedef void (*rt_id_cb) (void *ud, int ret, const lympho_error_t *err, const char *id);
typedef void (*rt_container_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_container *c);
typedef void (*rt_list_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_container *v, size_t n);
/* The callback may take ownership of *s by copying it and zeroing it. */
typedef void (*rt_snapshot_cb) (void *ud, int ret, const lympho_error_t *err, struct rt_snapshot *s);
/* Podman lists a directory as changed when only a mount point, or nothing
 * at all, changed inside it: keeps of v[0..n) only what is not such a lone
 * directory ('C' with no entry under it) and not a mount point itself
 * (other than deleted). Returns how many are kept, in their order. Sorts a
 * copy of the paths once: O(n log n). */
size_t rt_changes_drop_lone_dirs (struct rt_change *v, size_t n, char *const *mounts, size_t n_mounts);

typedef void (*rt_changes_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_change *v, size_t n);
typedef void (*rt_refs_cb) (void *ud, int ret, const lympho_error_t *err, char *const *v, size_t n);
typedef void (*rt_size_cb) (void *ud, int ret, const lympho_error_t *err, int64_t bytes);
typedef void (*rt_top_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_process *v, size_t n);
typedef void (*rt_service_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_service *s);
typedef void (*rt_service_list_cb) (void *ud, int ret, const lympho_error_t *err, const struct rt_service *v, size_t n);
typedef void (*rt_event_cb) (void *ud, const struct rt_event *ev);
/* Called when the event stream (and so the engine) goes up or down, and
 * again while down whenever engine_info's problem changes. After a
 * reconnect the backend resumes the stream where it stopped; the core also
 * re-lists what it protects. */
typedef void (*rt_conn_cb) (void *ud, bool connected);
/* One of the callbacks above, as a backend keeps it for an operation in
 * flight (which one, the operation knows). */
union rt_callback
{
  rt_done_cb done;
  rt_id_cb id;
  rt_container_cb container;
  rt_list_cb list;
  rt_snapshot_cb snapshot;
  rt_changes_cb changes;
  rt_top_cb top;
  rt_refs_cb refs;
  rt_size_cb size;
  rt_service_cb service;
  rt_service_list_cb services;
};

struct runtime_ops
{
  const char *name;

  int (*open) (struct loop *loop, const char *endpoint, struct runtime **out, lympho_error_t *err);
  void (*close) (struct runtime *rt);

  void (*ping) (struct runtime *rt, rt_done_cb cb, void *ud);

  /* Containers, all states; label_filter "key=value" or "key" or NULL. The
   * list carries id, name, image_id, state and labels (not health, pid). */
  void (*list) (struct runtime *rt, const char *label_filter, rt_list_cb cb, void *ud);
  void (*inspect) (struct runtime *rt, const char *ref, rt_container_cb cb, void *ud);
  /* Inspect and translate into a create specification. */
  void (*snapshot) (struct runtime *rt, const char *ref, rt_snapshot_cb cb, void *ud);

  /* Create a container from a snapshot spec, named `name`, with
   * extra_labels added to (or replacing) the spec's labels, and attached to
   * every network of the spec before it is started. On failure nothing is
   * left behind. Returns the new id. */
  void (*create) (struct runtime *rt, const char *spec, const char *name, const struct rt_labels *extra_labels,
                  rt_id_cb cb, void *ud);
  /* Optional, both or neither (NULL where the engine cannot): create like
   * create(), but unreachable under the spec's network aliases until
   * publish() joins them. A swap starts its new generation hidden and
   * publishes it once it is ready, so nobody reaches it before it serves. */
  void (*create_hidden) (struct runtime *rt, const char *spec, const char *name,
                         const struct rt_labels *extra_labels, rt_id_cb cb, void *ud);
  void (*publish) (struct runtime *rt, const char *id, const char *spec, rt_done_cb cb, void *ud);
  void (*start) (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);
  /* timeout_s < 0: the container's own stop timeout. Stopping a stopped
   * container succeeds. */
  void (*stop) (struct runtime *rt, const char *id, int timeout_s, rt_done_cb cb, void *ud);
  void (*kill) (struct runtime *rt, const char *id, const char *signal, rt_done_cb cb, void *ud);
  /* volumes: also remove the container's anonymous volumes. Removing a
   * missing container reports ENOENT. */
  void (*remove) (struct runtime *rt, const char *id, bool force, bool volumes, rt_done_cb cb, void *ud);
  void (*rename) (struct runtime *rt, const char *id, const char *new_name, rt_done_cb cb, void *ud);
  void (*pause) (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);
  void (*unpause) (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);

  /* Image id of ref; ENOENT when missing. */
  void (*image_inspect) (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud);
  void (*image_tag) (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                     void *ud);
  /* Remove a reference (untag); the image stays while others refer to it. */
  void (*image_remove) (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud);
  /* Every "repo:tag" the engine holds for repo. Optional: NULL when the
   * runtime cannot list images. */
  void (*image_tags) (struct runtime *rt, const char *repo, rt_refs_cb cb, void *ud);
  /* Commit the container's writable layer as repo:tag with labels; returns
   * the image id. The container keeps running (it is paused meanwhile). */
  void (*commit) (struct runtime *rt, const char *id, const char *repo, const char *tag,
                  const struct rt_labels *labels, rt_id_cb cb, void *ud);
  void (*changes) (struct runtime *rt, const char *id, rt_changes_cb cb, void *ud);
  /* The size in bytes of the container's writable layer (what a commit
   * would keep). Optional: NULL when the runtime cannot tell. */
  void (*layer_size) (struct runtime *rt, const char *id, rt_size_cb cb, void *ud);
  void (*top) (struct runtime *rt, const char *id, rt_top_cb cb, void *ud);
  void (*network_disconnect) (struct runtime *rt, const char *id, const char *network, rt_done_cb cb, void *ud);
  /* Optional (NULL: the engine has no swarm): the Docker Swarm service
   * `id`, on a manager; a worker cannot tell (EACCES), nor can a node
   * outside a swarm. */
  void (*service_inspect) (struct runtime *rt, const char *id, rt_service_cb cb, void *ud);
  /* Optional, with service_inspect: the services with the service label
   * `label` (a key), on a manager. */
  void (*service_list) (struct runtime *rt, const char *label, rt_service_list_cb cb, void *ud);
  /* Optional, with service_inspect: a forced rolling update of the
   * service (its tasks replaced as its own update config says, as
   * `docker service update --force` does); on a manager. EBUSY when the
   * service changed meanwhile (its version moved on); EALREADY when an
   * update of it (anyone's) is in flight: none is forced over it. */
  void (*service_force_update) (struct runtime *rt, const char *id, rt_done_cb cb, void *ud);

  /* Optional (NULL: nothing to tell): what is known of the engine, from
   * what the backend has seen; never asks the engine. */
  void (*engine_info) (struct runtime *rt, struct rt_engine_info *out);

  /* Stream events until close(); reconnects with backoff and resumes from the
   * last event seen. Returns at once. */
  int (*subscribe) (struct runtime *rt, rt_event_cb ev_cb, rt_conn_cb conn_cb, void *ud, lympho_error_t *err);
};

/* "docker" (and later others), or "exec:/abs/path" for an external plugin
 * (docs/lympho-runtime-plugin.7); NULL when unknown. */
const struct runtime_ops *runtime_lookup (const char *name);
/* What open() takes for the runtime `name`: the plugin's path for
 * "exec:PATH", else the engine's address. */
const char *runtime_endpoint (const char *name, const char *engine_address);

extern const struct runtime_ops runtime_docker_ops;
/* The Docker backend with Podman's quirks, for `podman system service`;
 * its default endpoint is unix:///run/podman/podman.sock. */
extern const struct runtime_ops runtime_podman_ops;
extern const struct runtime_ops runtime_exec_ops;

#endif
