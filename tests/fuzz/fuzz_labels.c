/* lympho — libFuzzer target for the labels a container carries
 * (shim/labels.c; tests/fuzz/run.sh): whoever may start a container may
 * write any of them. The input is KEY=VALUE lines. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "lympho/labels.h"
#include "lympho/runtime.h"
#include "tests/fuzz/fuzz-runtime.h"
#include "lympho/util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = xstrndup ((const char *) data, size);
  struct rt_labels labels = { 0 };
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *eq = strchr (line, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      rt_labels_set (&labels, line, eq + 1);
    }
  struct policy p;
  lympho_error_t err = { 0 };
  if (policy_from_labels (&labels, &p, &err) == 0)
    policy_free (&p);
  rt_labels_free (&labels);
  free (text);
  return 0;
}
