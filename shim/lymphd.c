/* lymphd — the lympho node daemon. Parses its configuration and hands over
 * to the daemon core; everything else lives in the library. Started as
 * "lympho-parser" (by lymphd itself) it is the parser process instead.
 * May call: config, daemon_run, parser_child_main. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lympho/config.h"
#include "lympho/daemon.h"
#include "lympho/log.h"
#include "lympho/parser.h"

int
main (int argc, char **argv)
{
  if (argc == 1 && strcmp (argv[0], PARSER_ARGV0) == 0)
    parser_child_main ();
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
