/* lymphd — the lympho node daemon. Parses its configuration and hands over
 * to the daemon core; everything else lives in the library.
 * May call: config, daemon_run. */
#include "config.h"

#include <stdio.h>

#include "lympho/config.h"
#include "lympho/daemon.h"
#include "lympho/log.h"

int
main (int argc, char **argv)
{
  struct config cfg;
  lympho_error_t err = { 0 };
  config_init (&cfg);
  int ret = config_parse_args (&cfg, argc, argv, &err);
  if (ret > 0)
    {
      config_free (&cfg);
      return 0; /* --help or --version */
    }
  if (ret < 0)
    {
      fprintf (stderr, "lymphd: %s\n", err.msg);
      config_free (&cfg);
      return 2;
    }
  if (config_load (&cfg, &err) < 0)
    {
      fprintf (stderr, "lymphd: %s\n", err.msg);
      config_free (&cfg);
      return 2;
    }
  ret = daemon_run (&cfg, &err);
  if (ret < 0)
    log_error ("%s", err.msg);
  config_free (&cfg);
  return ret < 0 ? 1 : 0;
}
