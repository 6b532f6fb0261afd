/* lympho — libFuzzer target for parser_decode: lymphd reading an answer of
 * the parser process as a hostile peer's (tests/fuzz/run.sh). Whatever the
 * bytes, it takes alerts that keep alerts.h's promises, or refuses with
 * -EINVAL (the parser's own reason) or -EPROTO, leaving nothing behind. */
#include "config.h"

#include "fuzz.h"
#include "lympho/parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct alert_list l = { 0 };
  lympho_error_t err = { 0 };
  int ret = parser_decode ((const char *) data, size, ALERT_SRC_FALCO, &l, &err);
  if (ret == 0)
    fuzz_check (&l, 10, ALERT_SRC_FALCO);
  else if ((ret != -EINVAL && ret != -EPROTO) || l.n != 0 || l.v != NULL)
    abort ();
  alert_list_free (&l);
  return 0;
}
