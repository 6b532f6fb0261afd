/* lympho — libFuzzer target for alerts_parse_generic (tests/fuzz/run.sh). */
#include "config.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return fuzz_one (alerts_parse_generic, data, size, 10, ALERT_SRC_GENERIC);
}
