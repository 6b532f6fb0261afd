/* lympho — the Docker backend's create specification: pure translation of a
 * container's inspect JSON into what recreates it, and back into the engine
 * requests. Private to runtime/; no I/O.
 *
 * The spec (rt_snapshot.spec) is JSON:
 *   {"Version": 1,
 *    "Create":   <body of POST /containers/create, primary network only>,
 *    "Networks": [{"Name": NET, "EndpointConfig": {...}}, ...]}
 * "Networks" are the further networks, connected before the first start
 * (API 1.41 takes one network at create). */
#ifndef LYMPHO_DOCKER_SPEC_H
#define LYMPHO_DOCKER_SPEC_H

#include <stddef.h>

#include "lympho/error.h"
#include "lympho/runtime.h"

#define DOCKER_SPEC_VERSION 1

/* Fill *out (zeroed first) from GET /containers/{id}/json. EINVAL, with
 * nothing filled, when the input is not a well-formed inspect answer. */
int docker_spec_from_inspect (const char *json, size_t len, struct rt_snapshot *out, lympho_error_t *err);

/* Whose inspect answer it is. Podman's compat API reports NetworkMode
 * "bridge" whatever bridge networks the container is on, and puts the old
 * hostname in Env: the spec names the primary network and drops it. */
enum docker_spec_dialect
{
  DOCKER_SPEC_DOCKER = 0,
  DOCKER_SPEC_PODMAN,
};
int docker_spec_from_inspect_as (enum docker_spec_dialect dialect, const char *json, size_t len,
                                 struct rt_snapshot *out, lympho_error_t *err);

/* Podman's create, from a plan's create body (replaced on success):
 * HostConfig.Ulimits named as Podman's create parses them ("nofile", where
 * its inspect says "RLIMIT_NOFILE"), and nofile/nproc 1024:1024 added when
 * there are none at all, as runc on these machines cannot start a container
 * with the rlimits Podman would otherwise give it. */
int docker_spec_podman_create (char **create_body, lympho_error_t *err);

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
};
int docker_spec_plan (const char *spec, const struct rt_labels *extra_labels, struct docker_spec_plan *out,
                      lympho_error_t *err);
void docker_spec_plan_free (struct docker_spec_plan *p);

/* Swap without a window: the plan's create body and further networks lose
 * their Aliases (the new generation starts unseen), and *publish lists the
 * networks, primary included, whose endpoint has aliases, with the full
 * endpoint config to reconnect with once it is ready. */
int docker_spec_hide (struct docker_spec_plan *plan, struct docker_spec_net **publish, size_t *n_publish,
                      lympho_error_t *err);
void docker_spec_nets_free (struct docker_spec_net *v, size_t n);

/* The body of POST /networks/{name}/connect for container id. */
char *docker_spec_connect_body (const struct docker_spec_net *net, const char *id);

#endif
