/* lympho — libFuzzer target for the runtime plugin protocol
 * (runtime/exec-proto.c; tests/fuzz/run.sh): an answer, then its data read
 * as a container, a list of containers, a snapshot and an id; and the same
 * bytes as one line of the event stream. Whatever a plugin writes, lymphd
 * must refuse it with an error, never crash or leak. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "lympho/json.h"
#include "lympho/runtime.h"
#include "tests/fuzz/fuzz-runtime.h"
#include "runtime/exec-proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  lympho_error_t err = { 0 };
  json_val v = NULL;
  if (exec_proto_answer (text, size, &v, &err) == 0 && v)
    {
      struct rt_container c;
      if (exec_proto_container (json_get (v, "container"), true, &c, &err) == 0)
        rt_container_free (&c);
      json_val list = json_get (v, "containers");
      for (size_t i = 0; i < json_arr_len (list); i++)
        if (exec_proto_container (json_arr_at (list, i), false, &c, &err) == 0)
          rt_container_free (&c);
      struct rt_snapshot s;
      if (exec_proto_snapshot (json_get (v, "snapshot"), &s, &err) == 0)
        rt_snapshot_free (&s);
      char *id = NULL;
      if (exec_proto_id (v, &id, &err) == 0)
        free (id);
    }
  json_free (v);
  struct rt_event ev;
  json_val tree = NULL;
  struct rt_labels attrs = { 0 };
  if (exec_proto_event (text, size, &ev, &tree, &attrs, &err) == 0)
    json_free (tree);
  rt_labels_free (&attrs);
  return 0;
}
