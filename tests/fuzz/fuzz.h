/* lympho — shared body of the alert parser fuzz targets: parse, and when
 * the parser accepts, check what it promised (alerts.h) and that the
 * result can be used and freed. Any broken promise aborts, which libFuzzer
 * reports as a crash with the input that caused it. */
#ifndef LYMPHO_FUZZ_H
#define LYMPHO_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/alerts.h"

static void
fuzz_check (const struct alert_list *l, int max_severity, enum alert_source source)
{
  for (size_t i = 0; i < l->n; i++)
    {
      const struct alert *a = &l->v[i];
      /* A container, or a fleet warning: a node and a group, no container. */
      bool fleet = a->node != NULL;
      if (fleet ? (a->container != NULL || a->group == NULL || a->node[0] == '\0' || a->group[0] == '\0')
                : (a->container == NULL || a->container[0] == '\0' || strlen (a->container) > 256 || a->group != NULL))
        abort ();
      if (a->source != source || a->severity < 0 || a->severity > max_severity)
        abort ();
      if (a->reason && strlen (a->reason) > 4096)
        abort ();
      char *sig = alert_signature (a);
      if (sig == NULL || strncmp (sig, alert_source_name (source), strlen (alert_source_name (source))) != 0)
        abort ();
      free (sig);
    }
}

static int
fuzz_one (int (*parse) (const char *, size_t, struct alert_list *, lympho_error_t *), const uint8_t *data,
          size_t size, int max_severity, enum alert_source source)
{
  struct alert_list l = { 0 };
  lympho_error_t err = { 0 };
  int ret = parse ((const char *) data, size, &l, &err);
  if (ret == 0)
    fuzz_check (&l, max_severity, source);
  else if (ret != -EINVAL || l.n != 0 || l.v != NULL || strchr (err.msg, '\n') != NULL)
    abort (); /* refusals are EINVAL, one line, and leave nothing behind */
  alert_list_free (&l);
  return 0;
}

#endif
