/* lympho — which Docker Engine API version to speak: the range lympho
 * supports, and the choice within what an engine offers. Pure logic, private
 * to runtime/.
 *
 * An API version "1.44" is held as one number, major * 1000 + minor (1044),
 * so that versions compare as integers. */
#ifndef LYMPHO_DOCKER_VERSION_H
#define LYMPHO_DOCKER_VERSION_H

#include "lympho/error.h"

/* The versions lympho speaks, both ends included.
 *
 * The floor is Docker 20.10's API (Debian 12). The ceiling is the newest API
 * that the conformance suite and the snapshot-fidelity test have passed
 * against. To raise it: read the Engine API's version history for each new
 * version, translate every change to what lympho reads or writes (inspect,
 * create, networks, events, images) in docker-spec.c, docker-plan.c and the
 * operations' files (docker-int.h) under
 * that version's number, run both suites against an engine that serves the
 * new version, then raise DOCKER_API_MAX here and in the README's engine
 * table. */
#define DOCKER_API_MIN 1041 /* 1.41: Docker 20.10 */
#define DOCKER_API_MAX 1051 /* 1.51: Docker 28.3 to 28.5 */

/* "1.44" -> 1044; -1 unless it is MAJOR.MINOR, both decimal, minor < 1000. */
int docker_api_parse (const char *s);

/* Writes "1.44" into buf (at least 16 bytes); returns buf. */
char *docker_api_text (int v, char buf[16]);

/* The version to speak with an engine that serves engine_min..engine_max
 * (its /version MinAPIVersion and its /_ping Api-Version; either 0 when the
 * engine did not say). pinned: a version the operator asked for
 * (DOCKER_API_VERSION), 0 for none.
 *
 * Returns the version, or -EPROTONOSUPPORT with err saying in one line why
 * no version fits and what to do about it. */
int docker_api_choose (int engine_min, int engine_max, int pinned, lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
