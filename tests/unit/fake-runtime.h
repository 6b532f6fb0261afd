/* A fake container engine for unit tests: struct runtime_ops over an
 * in-memory model of containers, images and networks, answering on the real
 * loop (shim/loop.c) as a backend must: every callback runs from a timer (0 ms
 * or a scripted delay), never before the operation returned.
 *
 * It refuses what a real engine refuses, with runtime.h's errno meanings:
 * a name in use (EEXIST), an unknown container, image or network (ENOENT),
 * a start of a missing container, a rename to a taken name, removing a
 * running container without force (EBUSY, Docker's 409); stopping a stopped
 * container succeeds. An operation takes effect when it is answered.
 *
 * A test scripts it per operation: fail the Nth call, answer a call with
 * success and do nothing (an engine that lies), delay an operation, or run
 * a hook when the call is made or once it is answered. Every call is
 * recorded as a line such as "rename web web-lympho-old-1a2b3c4d", naming
 * containers by the name they had when called, so a test can assert the
 * exact order.
 *
 * The create specification it takes is its own small JSON:
 *   {"Image":"sha256:...","Networks":["front"],"Healthcheck":true,"Labels":{"k":"v"}}
 * A container with a healthcheck reports "starting" for its first
 * fake_set_health_delay() inspects after each start, then "healthy". */
#ifndef LYMPHO_FAKE_RUNTIME_H
#define LYMPHO_FAKE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/runtime.h"

extern const struct runtime_ops fake_runtime_ops;

enum fake_op
{
  FAKE_PING = 0,
  FAKE_LIST,
  FAKE_INSPECT,
  FAKE_SNAPSHOT,
  FAKE_CREATE,
  FAKE_CREATE_HIDDEN,
  FAKE_PUBLISH,
  FAKE_START,
  FAKE_STOP,
  FAKE_KILL,
  FAKE_REMOVE,
  FAKE_RENAME,
  FAKE_PAUSE,
  FAKE_UNPAUSE,
  FAKE_IMAGE_INSPECT,
  FAKE_IMAGE_TAG,
  FAKE_IMAGE_REMOVE,
  FAKE_COMMIT,
  FAKE_CHANGES,
  FAKE_TOP,
  FAKE_NETWORK_DISCONNECT,
  FAKE_OP_COUNT,
};
/* "rename", "network_disconnect": the ops table's field names, which begin
 * each recorded line. fake_op_parse takes a line (or its first word); -1
 * when unknown. */
const char *fake_op_name (enum fake_op op);
int fake_op_parse (const char *line);

/* The model, as tests read it. */
struct fake_container
{
  char *id;
  char *name;
  char *image_id;
  char *spec;
  enum rt_state state;
  enum rt_health health; /* RT_HEALTH_NONE without a healthcheck */
  bool has_healthcheck;
  unsigned starting_left; /* inspects still reporting "starting" */
  bool hidden;            /* created hidden, not yet published */
  struct rt_labels labels;
  char **networks;
  size_t n_networks;
  int pid;
  int exit_code;
  uint64_t started_at_ms;
};

/* One call, as a hook sees it. */
struct fake_call
{
  enum fake_op op;
  unsigned nth;      /* 1 for the first call of this op since open */
  const char *ref;   /* the reference given (id, name, image); NULL for create */
  const char *name;  /* the container's name when called (create: the one asked for); may be NULL */
  const char *id;    /* the container's id when called, or the new id once created; may be NULL */
  const char *arg;   /* rename: the new name; network_disconnect: the network; kill: the signal;
                        list: the label filter; image_tag, commit: the repository; else NULL */
  const char *line;  /* as recorded */
  int ret;           /* what the callback is about to be told; 0 when the call is made */
};
typedef void (*fake_hook_fn) (struct runtime *rt, const struct fake_call *call, void *ud);

/* Set up the engine's state (no call is recorded). */
void fake_add_image (struct runtime *rt, const char *id, const char *ref);
void fake_add_network (struct runtime *rt, const char *name);
/* A container made from spec under name, running or created; returns its id
 * (valid while it exists). Aborts the test on a conflict. */
const char *fake_add_container (struct runtime *rt, const char *name, const char *spec,
                                const struct rt_labels *labels, bool running);
/* The spec fake_runtime takes; networks is NULL-terminated (or NULL),
 * labels may be NULL. */
char *fake_spec (const char *image_id, const char *const *networks, bool healthcheck, const struct rt_labels *labels);

/* Read the model. fake_find resolves like the engine: full id, name, then
 * a unique id prefix; NULL when none. */
const struct fake_container *fake_find (struct runtime *rt, const char *ref);
size_t fake_count (struct runtime *rt);
const struct fake_container *fake_at (struct runtime *rt, size_t i);
bool fake_has_image (struct runtime *rt, const char *ref);

/* Change the model behind the core's back (from a test or a hook): a crash
 * (RT_STATE_EXITED with an exit code), a health check's verdict, a removal. */
void fake_set_state (struct runtime *rt, const char *ref, enum rt_state state, int exit_code);
/* Someone else removed it. */
void fake_drop (struct runtime *rt, const char *ref);
void fake_set_health (struct runtime *rt, const char *ref, enum rt_health health);
/* Inspects that report "starting" after a start before "healthy"; default 1. */
void fake_set_health_delay (struct runtime *rt, unsigned inspects);

/* Scripts. nth counts the calls of op since open, from 1; 0 matches every
 * call. fake_fail fails `times` calls from the nth on (0: all of them) with
 * status and message, without any effect. fake_lie answers the nth call
 * with success and does nothing. fake_hook runs fn when the nth call is
 * answered, after its effect, before its callback; fake_hook_call runs
 * fn when the nth call is made, before the operation returns to its caller
 * (the call is in the log, nothing has taken effect; it may read and change
 * the model but must not run the loop or close the engine). fake_delay
 * answers every later call of op after ms instead of 0. */
void fake_fail (struct runtime *rt, enum fake_op op, unsigned nth, unsigned times, int status, const char *msg);
void fake_lie (struct runtime *rt, enum fake_op op, unsigned nth);
void fake_hook (struct runtime *rt, enum fake_op op, unsigned nth, fake_hook_fn fn, void *ud);
void fake_hook_call (struct runtime *rt, enum fake_op op, unsigned nth, fake_hook_fn fn, void *ud);
void fake_delay (struct runtime *rt, enum fake_op op, uint64_t ms);
/* Forget every script (fail, lie, hook, delay). */
void fake_script_clear (struct runtime *rt);

/* The calls so far, in the order they were made. */
size_t fake_n_calls (struct runtime *rt);
const char *fake_call_line (struct runtime *rt, size_t i);
enum fake_op fake_call_op (struct runtime *rt, size_t i);
unsigned fake_calls_of (struct runtime *rt, enum fake_op op);
/* Calls made and not answered yet. */
size_t fake_pending (struct runtime *rt);

#endif
