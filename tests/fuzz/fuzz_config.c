/* lympho — libFuzzer target for the config file (shim/config.c;
 * tests/fuzz/run.sh): what an operator, or whoever can write to
 * /etc/lympho, gives lymphd. The input is written to a file and loaded as
 * lymphd loads it at start and on SIGHUP. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lympho/config.h"
#include "lympho/util.h"
#include "tests/fuzz/fuzz-runtime.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char path[64];

static void
remove_file (void)
{
  unlink (path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (path[0] == '\0')
    {
      snprintf (path, sizeof path, "/tmp/lympho-fuzz-config.%d", (int) getpid ());
      atexit (remove_file);
    }
  FILE *f = fopen (path, "w");
  if (f == NULL)
    return 0;
  fwrite (data, 1, size, f);
  fclose (f);
  struct config c;
  config_init (&c);
  free (c.config_path);
  c.config_path = xstrdup (path);
  c.config_explicit = true;
  lympho_error_t err = { 0 };
  if (config_load (&c, &err) == 0)
    (void) config_reload (&c, &err);
  config_free (&c);
  return 0;
}
