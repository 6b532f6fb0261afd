/* lympho — for fuzz targets that link runtime/runtime.c: its table of
 * backends names them, and a target runs none. Included by one file per
 * target. */
#ifndef LYMPHO_FUZZ_RUNTIME_H
#define LYMPHO_FUZZ_RUNTIME_H

#include "lympho/runtime.h"

const struct runtime_ops runtime_docker_ops = { 0 };
const struct runtime_ops runtime_podman_ops = { 0 };
const struct runtime_ops runtime_exec_ops = { 0 };

#endif
