/* lympho — the choice of a Docker Engine API version (docker-version.h).
 * May call: nothing: a leaf. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "docker-version.h"

int
docker_api_parse (const char *s)
{
  if (s == NULL)
    return -1;
  long v[2] = { 0, 0 };
  for (int part = 0; part < 2; part++)
    {
      int digits = 0;
      for (; *s >= '0' && *s <= '9'; s++)
        {
          if (++digits > 3)
            return -1;
          v[part] = v[part] * 10 + (*s - '0');
        }
      if (digits == 0)
        return -1;
      if (part == 0 && *s++ != '.')
        return -1;
    }
  if (*s != '\0' || v[0] == 0)
    return -1;
  return (int) (v[0] * 1000 + v[1]);
}

char *
docker_api_text (int v, char buf[16])
{
  snprintf (buf, 16, "%d.%d", v / 1000, v % 1000);
  return buf;
}

int
docker_api_choose (int engine_min, int engine_max, int pinned, lympho_error_t *err)
{
  char a[16], b[16], c[16];
  if (engine_max <= 0)
    return lympho_error_set (err, EPROTONOSUPPORT,
                             "the engine does not say which API version it serves (no Api-Version): "
                             "not a Docker Engine API? Point --docker-host at dockerd's socket");
  /* An engine that does not state its floor (before API 1.25) takes any
   * version up to its newest. */
  if (engine_min <= 0 || engine_min > engine_max)
    engine_min = 1;
  if (pinned > 0)
    {
      if (pinned > engine_max)
        return lympho_error_set (err, EPROTONOSUPPORT,
                                 "DOCKER_API_VERSION=%s is newer than the engine's newest API (%s): "
                                 "unset it, or upgrade the engine",
                                 docker_api_text (pinned, a), docker_api_text (engine_max, b));
      if (pinned < engine_min)
        return lympho_error_set (err, EPROTONOSUPPORT,
                                 "the engine refuses API %s (DOCKER_API_VERSION): its oldest is %s; "
                                 "unset DOCKER_API_VERSION, or set it to %s or newer",
                                 docker_api_text (pinned, a), docker_api_text (engine_min, b),
                                 docker_api_text (engine_min, c));
      return pinned;
    }
  if (engine_max < DOCKER_API_MIN)
    return lympho_error_set (err, EPROTONOSUPPORT,
                             "the engine's newest API is %s, older than the oldest lympho speaks (%s): "
                             "upgrade the engine (Docker 20.10 or newer)",
                             docker_api_text (engine_max, a), docker_api_text (DOCKER_API_MIN, b));
  if (engine_min > DOCKER_API_MAX)
    return lympho_error_set (err, EPROTONOSUPPORT,
                             "the engine's oldest API is %s, newer than the newest lympho speaks (%s): "
                             "upgrade lympho, or lower the engine's floor (dockerd's DOCKER_MIN_API_VERSION=%s)",
                             docker_api_text (engine_min, a), docker_api_text (DOCKER_API_MAX, b),
                             docker_api_text (DOCKER_API_MAX, c));
  return engine_max < DOCKER_API_MAX ? engine_max : DOCKER_API_MAX;
}
