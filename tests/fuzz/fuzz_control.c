/* lympho — libFuzzer target for the control protocol's request line
 * (shim/proto.c; tests/fuzz/run.sh): what any member of the lympho group
 * sends to lymphd's socket. */
#include "config.h"

#include <stdint.h>

#include "lympho/json.h"
#include "lympho/proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_val tree = NULL, args = NULL;
  const char *cmd = NULL;
  lympho_error_t err = { 0 };
  if (proto_request_decode ((const char *) data, size, &tree, &cmd, &args, &err) == 0)
    json_free (tree);
  return 0;
}
