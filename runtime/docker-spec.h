/* lympho — the Docker backend's create specification: pure translation of a
 * container's inspect JSON into what recreates it, and back into the engine
 * requests. Private to runtime/; no I/O.
 *
 * The spec (rt_snapshot.spec) is JSON:
 *   {"Version": 1,
 *    "Create":   <body of POST /containers/create, primary network only>,
 *    "Networks": [{"Name": NET, "EndpointConfig": {...}}, ...],
 *    "ImageRef": "app:1"}
 * "Networks" are the further networks: connected before the first start
 * below API 1.44 (one network at create), in the create body from 1.44.
 * Create.Image is the pinned image id; "ImageRef" (optional) the reference
 * the user created the container with, used at create while it still
 * names that id. The spec itself does not depend on the API version;
 * docker_spec_for_api translates a plan for the version spoken. */
#ifndef LYMPHO_DOCKER_SPEC_H
#define LYMPHO_DOCKER_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/error.h"
#include "lympho/runtime.h"

#define DOCKER_SPEC_VERSION 1

/* Fill *out (zeroed first) from GET /containers/{id}/json. EINVAL, with
 * nothing filled, when the input is not a well-formed inspect answer. */
int docker_spec_from_inspect (const char *json, size_t len, struct rt_snapshot *out, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Whose inspect answer it is. Podman's compat API reports NetworkMode
 * "bridge" whatever bridge networks the container is on, and puts the old
 * hostname in Env: the spec names the primary network and drops it. */
enum docker_spec_dialect
{
  DOCKER_SPEC_DOCKER = 0,
  DOCKER_SPEC_PODMAN,
};
int docker_spec_from_inspect_as (enum docker_spec_dialect dialect, const char *json, size_t len,
                                 struct rt_snapshot *out, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* Podman's create, from a plan's create body (replaced on success):
 * HostConfig.Ulimits named as Podman's create parses them ("nofile", where
 * its inspect says "RLIMIT_NOFILE"), and nofile/nproc 1024:1024 added when
 * there are none at all, as runc on these machines cannot start a container
 * with the rlimits Podman would otherwise give it. */
int docker_spec_podman_create (char **create_body, lympho_error_t *err) LYMPHO_MUST_CHECK;

struct docker_spec_net
{
  char *name;
  char *body;        /* body of POST /networks/{name}/connect, without "Container" */
};

/* A spec turned into requests: the create body with extra_labels merged into
 * its Labels, and the further networks' endpoint configs. */
struct docker_spec_plan
{
  char *create_body;
  struct docker_spec_net *nets;
  size_t n_nets;
  char *image_id;  /* the pin (Create.Image) */
  char *image_ref; /* the user's reference, or NULL */
};
int docker_spec_plan (const char *spec, const struct rt_labels *extra_labels, struct docker_spec_plan *out,
                      lympho_error_t *err) LYMPHO_MUST_CHECK;
void docker_spec_plan_free (struct docker_spec_plan *p);

/* Swap without a window: the plan's create body and further networks lose
 * their Aliases (the new generation starts unseen), and *publish lists the
 * networks, primary included, whose endpoint has aliases, with the full
 * endpoint config to reconnect with once it is ready. */
int docker_spec_hide (struct docker_spec_plan *plan, struct docker_spec_net **publish, size_t *n_publish,
                      lympho_error_t *err) LYMPHO_MUST_CHECK;
void docker_spec_nets_free (struct docker_spec_net *v, size_t n);

/* The plan for API version api (docker-version.h's integer form), image
 * in the create body (the pin or the verified reference; NULL keeps it):
 * from 1.44 every network's endpoint goes into the create body (n_nets
 * becomes 0) and a static MAC address (Config.MacAddress, deprecated
 * there) moves into the primary network's endpoint, where 1.44 takes it. */
int docker_spec_for_api (struct docker_spec_plan *plan, int api, const char *image, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* What the plan's create body has that API version api cannot carry (the
 * engine drops it silently or refuses the create), as a list for a log
 * line; NULL when nothing. Only where a version is pinned below what the
 * engine serves, or the snapshot came from a newer engine. */
char *docker_spec_unsupported (const struct docker_spec_plan *plan, int api);

/* Whether two image ids are the same, with or without "sha256:". */
bool docker_spec_same_image (const char *a, const char *b);

/* The body of POST /networks/{name}/connect for container id. */
char *docker_spec_connect_body (const struct docker_spec_net *net, const char *id);

#endif
