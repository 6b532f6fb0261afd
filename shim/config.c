/* lympho — lymphd's configuration. One table below describes every setting
 * once: its option, its config key, how it is checked and how --help shows
 * it, so the three can never disagree.
 * May call: labels (durations): a leaf otherwise. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "lympho/config.h"
#include "lympho/labels.h"
#include "lympho/util.h"

#define CONFIG_FILE_LIMIT (1u << 20)

enum kind
{
  K_PATH,
  K_SOCKET,
  K_DOCKER_HOST,
  K_RUNTIME,
  K_LISTEN,
  K_LOG_LEVEL,
  K_UINT,
  K_DURATION,
  K_SHARE,
  K_YESNO, /* int: 1 yes, 0 no, -1 (the default) as said in its help */
  K_MODE,  /* int: 1 observe, 0 enforce */
  K_URL,   /* notify-url, alertmanager-url: repeatable */
  K_NAME,  /* a name: letters, digits, '.', '_', '-' */
};

struct setting
{
  const char *name;  /* option without "--", and config key */
  enum kind kind;
  size_t off;        /* field in struct config */
  uint64_t min, max; /* K_UINT: values; K_DURATION: ms */
  unsigned change;   /* CONFIG_CHANGED_* */
  const char *arg;   /* for --help */
  const char *help;
};

#define F(field) offsetof (struct config, field)
#define SEC 1000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static const struct setting settings[] = {
  { "socket", K_SOCKET, F (socket_path), 0, 0, CONFIG_CHANGED_SOCKET, "PATH", "control socket" },
  { "state-dir", K_PATH, F (state_dir), 0, 0, CONFIG_CHANGED_STATE_DIR, "PATH",
    "persistent state: snapshots, journal, history" },
  { "docker-host", K_DOCKER_HOST, F (docker_host), 0, 0, CONFIG_CHANGED_DOCKER_HOST, "URL",
    "engine endpoint, unix://PATH or tcp://HOST:PORT" },
  { "runtime", K_RUNTIME, F (runtime), 0, 0, CONFIG_CHANGED_RUNTIME, "NAME",
    "runtime backend: docker, podman or exec:PATH" },
  { "listen", K_LISTEN, F (listen), 0, 0, CONFIG_CHANGED_LISTEN, "ADDR:PORT|unix:PATH",
    "HTTP listener for alerts and metrics, repeatable; `none` disables it" },
  { "metrics-token", K_YESNO, F (metrics_token), 0, 0, CONFIG_CHANGED_LISTEN, "yes|no",
    "GET /metrics needs the bearer token too" },
  { "mode", K_MODE, F (observe), 0, 0, CONFIG_CHANGED_MODE, "enforce|observe",
    "observe: detect, judge, schedule and record everything, change nothing" },
  { "notify-url", K_URL, F (notify_url), 0, 0, CONFIG_CHANGED_NOTIFY, "URL",
    "POST each regeneration, incident and refusal as JSON there, repeatable" },
  { "notify-token-file", K_PATH, F (notify_token_file), 0, 0, CONFIG_CHANGED_NOTIFY, "PATH",
    "bearer token sent to the notify-url receivers" },
  { "alertmanager-url", K_URL, F (alertmanager_url), 0, 0, CONFIG_CHANGED_FLEET, "URL",
    "send incidents and threshold crossings to this Alertmanager, repeatable" },
  { "node-name", K_NAME, F (node_name), 0, 0, CONFIG_CHANGED_FLEET, "NAME",
    "this node's name in the fleet's alerts (lympho_node)" },
  { "token-file", K_PATH, F (token_file), 0, 0, CONFIG_CHANGED_TOKEN_FILE, "PATH",
    "bearer token for alert POSTs, created if absent" },
  { "log-level", K_LOG_LEVEL, F (log_level), 0, 0, CONFIG_CHANGED_LOG_LEVEL, "LEVEL",
    "error, warn, info or debug" },
  { "max-concurrent", K_UINT, F (max_concurrent), 1, 64, CONFIG_CHANGED_TUNING, "N",
    "regenerations running at once" },
  { "settle", K_DURATION, F (settle_ms), 0, 10 * MIN, CONFIG_CHANGED_TUNING, "DURATION",
    "swap without a healthcheck: how long the new generation must run" },
  { "health-timeout", K_DURATION, F (health_timeout_ms), 1 * SEC, 1 * HOUR, CONFIG_CHANGED_TUNING, "DURATION",
    "swap: longest wait for the new generation to be healthy" },
  { "backoff-min", K_DURATION, F (backoff_min_ms), 1 * SEC, 1 * HOUR, CONFIG_CHANGED_TUNING, "DURATION",
    "first retry after a failed regeneration" },
  { "backoff-max", K_DURATION, F (backoff_max_ms), 1 * SEC, 1 * DAY, CONFIG_CHANGED_TUNING, "DURATION",
    "longest retry delay (not below backoff-min)" },
  { "pin-retention", K_UINT, F (pin_retention), 1, 100, CONFIG_CHANGED_TUNING, "N",
    "pinned images kept per container" },
  { "threat-half-life", K_DURATION, F (threat_half_life_ms), 1 * SEC, 30 * DAY, CONFIG_CHANGED_TUNING,
    "DURATION", "a container's threat level halves in this time" },
  { "group-share", K_SHARE, F (group_share), 0, 0, CONFIG_CHANGED_TUNING, "X",
    "share of an alert's severity passed to the group, 0 to 1" },
  { "memory-window", K_DURATION, F (memory_window_ms), 1 * MIN, 365 * DAY, CONFIG_CHANGED_TUNING, "DURATION",
    "how long past incidents are remembered" },
  { "forensics-keep", K_UINT, F (forensics_keep), 0, 100, CONFIG_CHANGED_TUNING, "N",
    "forensic images kept per container" },
  { "forensics-max-mb", K_UINT, F (forensics_max_mb), 1, 1024 * 1024, CONFIG_CHANGED_TUNING, "N",
    "no forensic image of a writable layer larger than N MiB" },
  { "forensics-backoff", K_DURATION, F (forensics_backoff_ms), 0, 1 * DAY, CONFIG_CHANGED_TUNING, "DURATION",
    "no second forensic image of a container so soon (doubling, up to 1h)" },
  { "learn-window", K_DURATION, F (learn_window_ms), 0, 1 * DAY, CONFIG_CHANGED_TUNING, "DURATION",
    "executables are learned this long after a fresh generation" },
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

enum { OPT_CONFIG = 256, OPT_HELP, OPT_VERSION, OPT_SETTING };

static const struct setting *
setting_find (const char *name, size_t len)
{
  for (size_t i = 0; i < N_SETTINGS; i++)
    if (strlen (settings[i].name) == len && memcmp (settings[i].name, name, len) == 0)
      return &settings[i];
  return NULL;
}

void
config_init (struct config *c)
{
  memset (c, 0, sizeof *c);
  c->config_path = xstrdup (DEFAULT_CONFIG_PATH);
  c->config_explicit = false;
  c->socket_path = xstrdup (DEFAULT_SOCKET_PATH);
  c->state_dir = xstrdup (DEFAULT_STATE_DIR);
  const char *env = getenv ("DOCKER_HOST");
  c->docker_host = xstrdup (env && *env ? env : DEFAULT_DOCKER_HOST);
  c->runtime = xstrdup ("docker");
  c->listen[0] = xstrdup (DEFAULT_LISTEN);
  c->n_listen = 1;
  c->metrics_token = -1;
  c->token_file = NULL; /* <state-dir>/webhook.token, once state-dir is known */
  c->log_level = LOG_LVL_INFO;
  c->max_concurrent = 2;
  c->settle_ms = 3 * SEC;
  c->health_timeout_ms = 60 * SEC;
  c->backoff_min_ms = 5 * SEC;
  c->backoff_max_ms = 10 * MIN;
  c->pin_retention = 2;
  c->threat_half_life_ms = 10 * MIN;
  c->group_share = 0.5;
  c->memory_window_ms = 7 * DAY;
  c->forensics_keep = 3;
  c->forensics_max_mb = 1024;
  c->forensics_backoff_ms = 60 * 1000;
  c->learn_window_ms = 30 * SEC;
}

static void
free_args (char **args, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (args[i]);
  free (args);
}

void
config_free (struct config *c)
{
  free (c->config_path);
  free (c->socket_path);
  free (c->state_dir);
  free (c->docker_host);
  free (c->runtime);
  for (size_t i = 0; i < c->n_listen; i++)
    free (c->listen[i]);
  for (size_t i = 0; i < c->n_notify_url; i++)
    free (c->notify_url[i]);
  for (size_t i = 0; i < c->n_alertmanager_url; i++)
    free (c->alertmanager_url[i]);
  free (c->node_name);
  free (c->notify_token_file);
  free (c->token_file);
  free_args (c->args, c->n_args);
  memset (c, 0, sizeof *c);
}

/* HOST:PORT with a port from 1 to 65535; an IPv6 host goes in brackets. */
static const char *
check_host_port (const char *v)
{
  const char *colon = strrchr (v, ':');
  if (colon == NULL)
    return "expected HOST:PORT";
  size_t hlen = (size_t) (colon - v);
  if (hlen == 0)
    return "missing host before the port";
  for (size_t i = 0; i < hlen; i++)
    if (isspace ((unsigned char) v[i]))
      return "whitespace is not allowed";
  if (v[0] == '[')
    {
      if (hlen < 3 || v[hlen - 1] != ']')
        return "an IPv6 address must be written [ADDR]:PORT";
    }
  else if (memchr (v, ':', hlen))
    return "an IPv6 address must be written [ADDR]:PORT";
  const char *port = colon + 1;
  unsigned long p = 0;
  if (*port == '\0')
    return "missing port";
  for (const char *s = port; *s; s++)
    {
      if (!isdigit ((unsigned char) *s))
        return "the port must be a number from 1 to 65535";
      p = p * 10 + (unsigned long) (*s - '0');
      if (p > 65535)
        return "the port must be a number from 1 to 65535";
    }
  if (p == 0)
    return "the port must be a number from 1 to 65535";
  return NULL;
}

static const char *
check_absolute (const char *v)
{
  if (v[0] != '/')
    return "must be an absolute path";
  return NULL;
}

/* Where a value comes from; listen's first value from a source replaces
 * those of the sources before it. */
enum source
{
  SRC_DEFAULT = 0,
  SRC_FILE,
  SRC_OPTIONS,
  SRC_ENV, /* $DOCKER_HOST, checked last; sets no listen value */
};

/* One value of a repeatable key into its list (listen, notify-url). The
 * first of a source (the file, the options) replaces what an earlier one
 * gave (the built-in default, the file's); `none` empties the list given so
 * far, as an empty assignment does in a systemd unit. Why not, or NULL. */
static const char *
list_add (char **list, size_t *n, size_t max, unsigned *list_source, enum source src, const char *v,
          const char *what, char *detail, size_t dlen)
{
  if (*list_source != src || strcmp (v, "none") == 0)
    {
      for (size_t i = 0; i < *n; i++)
        free (list[i]);
      *n = 0;
      *list_source = src;
    }
  if (strcmp (v, "none") == 0)
    return NULL;
  for (size_t i = 0; i < *n; i++)
    if (strcmp (list[i], v) == 0)
      return "given twice";
  if (*n == max)
    {
      snprintf (detail, dlen, "at most %zu %s", max, what);
      return detail;
    }
  list[(*n)++] = xstrdup (v);
  return NULL;
}

static const char *
listen_add (struct config *c, enum source src, const char *v, char *detail, size_t dlen)
{
  return list_add (c->listen, &c->n_listen, CONFIG_MAX_LISTEN, &c->listen_source, src, v, "listen addresses",
                   detail, dlen);
}

/* A receiver: http:// or https://, a host, nothing a header or a log line
 * could be split by. */
static const char *
check_url (const char *v)
{
  const char *rest = str_has_prefix (v, "https://") ? v + 8 : str_has_prefix (v, "http://") ? v + 7 : NULL;
  if (rest == NULL)
    return "must start with http:// or https://";
  if (*rest == '\0' || *rest == '/')
    return "has no host";
  if (strlen (v) > CONFIG_URL_MAX)
    return "is too long";
  for (const char *p = v; *p; p++)
    if ((unsigned char) *p <= ' ' || *p == 0x7f)
      return "has a space or a control character";
  return NULL;
}

static const char *
url_add (struct config *c, const struct setting *s, enum source src, const char *v, char *detail, size_t dlen)
{
  const char *why = strcmp (v, "none") == 0 ? NULL : check_url (v);
  if (why)
    return why;
  if (s->off == F (alertmanager_url))
    return list_add (c->alertmanager_url, &c->n_alertmanager_url, CONFIG_MAX_NOTIFY, &c->alertmanager_source, src,
                     v, "Alertmanagers", detail, dlen);
  return list_add (c->notify_url, &c->n_notify_url, CONFIG_MAX_NOTIFY, &c->notify_source, src, v, "receivers",
                   detail, dlen);
}

/* A node's name: what a label value and a log line take as they are. */
static const char *
check_name (const char *v)
{
  if (strlen (v) > 63)
    return "is longer than 63 characters";
  for (const char *p = v; *p; p++)
    if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-')
      return "may hold letters, digits, '.', '_' and '-' only";
  return NULL;
}

/* Check and store one value. The message says what is wrong with the value;
 * the caller says where it came from. */
static int
setting_apply (struct config *c, enum source src, const struct setting *s, const char *v, lympho_error_t *err)
{
  char *base = (char *) c;
  const char *why = NULL;
  char detail[sizeof err->msg];

  if (*v == '\0')
    return lympho_error_set (err, EINVAL, "empty value");
  switch (s->kind)
    {
    case K_PATH:
      why = check_absolute (v);
      break;
    case K_SOCKET:
      why = check_absolute (v);
      if (why == NULL && strlen (v) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
        {
          snprintf (detail, sizeof detail, "too long for a Unix socket (at most %zu bytes)",
                    sizeof ((struct sockaddr_un *) 0)->sun_path - 1);
          why = detail;
        }
      break;
    case K_DOCKER_HOST:
      if (str_has_prefix (v, "unix://"))
        why = v[7] == '/' ? NULL : "unix:// must be followed by an absolute path";
      else if (str_has_prefix (v, "tcp://"))
        why = check_host_port (v + 6);
      else
        why = "must start with unix:// or tcp://";
      break;
    case K_RUNTIME:
      if (str_has_prefix (v, "exec:"))
        why = v[5] == '/' ? NULL : "exec: must be followed by an absolute path";
      else if (strcmp (v, "docker") != 0 && strcmp (v, "podman") != 0)
        why = "must be docker, podman or exec:PATH";
      break;
    case K_LISTEN:
      if (str_has_prefix (v, "unix:"))
        {
          why = check_absolute (v + 5);
          if (why == NULL && strlen (v + 5) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
            {
              snprintf (detail, sizeof detail, "too long for a Unix socket (at most %zu bytes)",
                        sizeof ((struct sockaddr_un *) 0)->sun_path - 1);
              why = detail;
            }
        }
      else if (strcmp (v, "none") != 0)
        why = check_host_port (v);
      if (why == NULL)
        why = listen_add (c, src, v, detail, sizeof detail);
      break;
    case K_LOG_LEVEL:
      if (log_parse_level (v) < 0)
        why = "must be error, warn, info or debug";
      break;
    case K_UINT:
      {
        uint64_t n = 0;
        for (const char *p = v; *p && !why; p++)
          if (!isdigit ((unsigned char) *p) || (n = n * 10 + (uint64_t) (*p - '0')) > s->max)
            why = "";
        if (why || n < s->min)
          {
            snprintf (detail, sizeof detail, "must be a whole number from %llu to %llu",
                      (unsigned long long) s->min, (unsigned long long) s->max);
            why = detail;
          }
        else
          *(unsigned *) (base + s->off) = (unsigned) n;
        break;
      }
    case K_DURATION:
      {
        uint64_t ms;
        lympho_error_t derr = { 0 };
        if (duration_parse (v, &ms, &derr) < 0)
          {
            memcpy (detail, derr.msg, sizeof detail);
            why = detail;
          }
        else if (ms < s->min || ms > s->max)
          {
            cleanup_free char *lo = duration_format (s->min);
            cleanup_free char *hi = duration_format (s->max);
            snprintf (detail, sizeof detail, "must be between %s and %s", lo, hi);
            why = detail;
          }
        else
          *(uint64_t *) (base + s->off) = ms;
        break;
      }
    case K_YESNO:
      if (strcmp (v, "yes") == 0 || strcmp (v, "no") == 0)
        *(int *) (base + s->off) = strcmp (v, "yes") == 0;
      else
        why = "must be yes or no";
      break;
    case K_URL:
      why = url_add (c, s, src, v, detail, sizeof detail);
      break;
    case K_NAME:
      why = check_name (v);
      break;
    case K_MODE:
      if (strcmp (v, "enforce") == 0 || strcmp (v, "observe") == 0)
        *(int *) (base + s->off) = strcmp (v, "observe") == 0;
      else
        why = "must be enforce or observe";
      break;
    case K_SHARE:
      {
        char *end;
        errno = 0;
        double d = strtod (v, &end);
        /* strtod would take " 0.5", "nan" and "0x1p-1"; a share is plain. */
        bool plain = isdigit ((unsigned char) v[0]);
        if (!plain || *end != '\0' || errno != 0 || !isfinite (d) || d < 0 || d > 1)
          why = "must be a number from 0 to 1";
        else
          *(double *) (base + s->off) = d;
        break;
      }
    }
  if (why)
    return lympho_error_set (err, EINVAL, "invalid value \"%s\": %s", v, why);

  switch (s->kind)
    {
    case K_PATH:
    case K_SOCKET:
    case K_DOCKER_HOST:
    case K_RUNTIME:
    case K_NAME:
      {
        char **field = (char **) (base + s->off);
        free (*field);
        *field = xstrdup (v);
        break;
      }
    case K_LOG_LEVEL:
      c->log_level = (enum log_level) log_parse_level (v);
      break;
    default:
      break; /* stored above */
    }
  return 0;
}

void
config_usage (FILE *out)
{
  struct config d;
  config_init (&d);
  fprintf (out,
           "Usage: lymphd [OPTION]...\n"
           "Protect Docker containers labelled lympho.enable=true by regenerating them\n"
           "from a clean golden snapshot on a TTL and on alerts.\n"
           "\n"
           "Every option but --config is also a config file key, written without\n"
           "the dashes (`key = value`); the command line wins over the file. A\n"
           "missing default config file means built-in defaults.\n"
           "\n"
           "  --config PATH\n"
           "      config file (default %s)\n",
           DEFAULT_CONFIG_PATH);
  for (size_t i = 0; i < N_SETTINGS; i++)
    {
      const struct setting *s = &settings[i];
      if (s->change == CONFIG_CHANGED_TUNING && (i == 0 || settings[i - 1].change != CONFIG_CHANGED_TUNING))
        fprintf (out, "\nTuning:\n");
      cleanup_free char *def = NULL;
      char *base = (char *) &d;
      switch (s->kind)
        {
        case K_DOCKER_HOST:
          def = xstrdup ("$DOCKER_HOST, else " DEFAULT_DOCKER_HOST);
          break;
        case K_LISTEN:
          def = xstrdup (DEFAULT_LISTEN);
          break;
        case K_PATH:
        case K_SOCKET:
        case K_RUNTIME:
          if (s->off == F (token_file))
            def = xstrdup ("<state-dir>/webhook.token");
          else
            def = xstrdup (*(char **) (base + s->off) ? *(char **) (base + s->off) : "none");
          break;
        case K_LOG_LEVEL:
          def = xstrdup ("info");
          break;
        case K_UINT:
          def = xasprintf ("%u, %llu..%llu", *(unsigned *) (base + s->off), (unsigned long long) s->min,
                           (unsigned long long) s->max);
          break;
        case K_DURATION:
          {
            cleanup_free char *v = duration_format (*(uint64_t *) (base + s->off));
            cleanup_free char *lo = duration_format (s->min);
            cleanup_free char *hi = duration_format (s->max);
            def = xasprintf ("%s, %s..%s", v, lo, hi);
            break;
          }
        case K_SHARE:
          def = xasprintf ("%g", *(double *) (base + s->off));
          break;
        case K_YESNO:
          {
            int yn = *(int *) (base + s->off);
            def = xstrdup (yn < 0 ? "no on a loopback listener, yes elsewhere" : yn ? "yes" : "no");
            break;
          }
        case K_MODE:
          def = xstrdup (*(int *) (base + s->off) ? "observe" : "enforce");
          break;
        case K_URL:
          def = xstrdup ("none");
          break;
        case K_NAME:
          def = xstrdup ("the host's name");
          break;
        }
      /* Name, then what it does, then the default where it fits: lines
       * stay within 80 columns whatever the paths configure chose. */
      fprintf (out, "  --%s %s\n      %s", s->name, s->arg, s->help);
      if (6 + strlen (s->help) + strlen (" (default )") + strlen (def) > 79)
        fprintf (out, "\n      (default %s)\n", def);
      else
        fprintf (out, " (default %s)\n", def);
    }
  fprintf (out,
           "\n"
           "  --help\n"
           "      show this help and exit\n"
           "  --version\n"
           "      show the version and exit\n"
           "\n"
           "DURATION is a number with a unit, largest first: 250ms, 90s, 10m, 1h30m, 1d.\n"
           "SIGHUP reloads the config file; socket, state-dir, docker-host, runtime and\n"
           "listen changes take effect at the next start.\n");
  config_free (&d);
}

static void
record_arg (struct config *c, const char *name, const char *value)
{
  c->args = xrealloc (c->args, (c->n_args + 1) * sizeof *c->args);
  c->args[c->n_args++] = xasprintf ("%s=%s", name, value);
}

static void
fill_defaults (struct config *c)
{
  if (c->token_file == NULL)
    c->token_file = xasprintf ("%s%swebhook.token", c->state_dir,
                               c->state_dir[strlen (c->state_dir) - 1] == '/' ? "" : "/");
}

int
config_parse_args (struct config *c, int argc, char **argv, lympho_error_t *err)
{
  struct option longopts[N_SETTINGS + 4];
  size_t n = 0;
  longopts[n++] = (struct option) { "config", required_argument, NULL, OPT_CONFIG };
  longopts[n++] = (struct option) { "help", no_argument, NULL, OPT_HELP };
  longopts[n++] = (struct option) { "version", no_argument, NULL, OPT_VERSION };
  for (size_t i = 0; i < N_SETTINGS; i++)
    longopts[n++] = (struct option) { settings[i].name, required_argument, NULL, OPT_SETTING + (int) i };
  longopts[n] = (struct option) { NULL, 0, NULL, 0 };

  /* Our own messages, one line naming the option; 0 re-initialises getopt
   * so that the function can be called more than once (tests). */
  opterr = 0;
  optind = 0;
  int opt;
  while ((opt = getopt_long (argc, argv, ":", longopts, NULL)) != -1)
    {
      switch (opt)
        {
        case OPT_HELP:
          config_usage (stdout);
          return 1;
        case OPT_VERSION:
          printf ("lymphd %s\n", PACKAGE_VERSION);
          return 1;
        case OPT_CONFIG:
          if (optarg[0] != '/')
            return lympho_error_set (err, EINVAL, "--config: invalid value \"%s\": must be an absolute path", optarg);
          free (c->config_path);
          c->config_path = xstrdup (optarg);
          c->config_explicit = true;
          break;
        case ':':
          return lympho_error_set (err, EINVAL, "option `%s` needs a value", argv[optind - 1]);
        case '?':
          return lympho_error_set (err, EINVAL, "unknown option `%s` (see --help)", argv[optind - 1]);
        default:
          {
            const struct setting *s = &settings[opt - OPT_SETTING];
            if (setting_apply (c, SRC_OPTIONS, s, optarg, err) < 0)
              return lympho_error_prefix (err, "--%s", s->name);
            record_arg (c, s->name, optarg);
            break;
          }
        }
    }
  if (optind < argc)
    return lympho_error_set (err, EINVAL, "unexpected argument `%s` (see --help)", argv[optind]);
  fill_defaults (c);
  return 0;
}

static int
load_file (struct config *c, lympho_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  lympho_error_t rerr = { 0 };
  if (read_file (c->config_path, CONFIG_FILE_LIMIT, &text, &len, &rerr) < 0)
    {
      if (rerr.status == ENOENT && !c->config_explicit)
        return 0;
      *err = rerr;
      return lympho_error_prefix (err, "config file");
    }
  if (strlen (text) != len)
    return lympho_error_set (err, EINVAL, "%s: contains a NUL byte", c->config_path);

  unsigned seen_line[N_SETTINGS] = { 0 };
  unsigned lineno = 0;
  char *save = NULL;
  /* strtok_r would skip empty lines and miscount; walk by hand. */
  for (char *line = text; line; line = save)
    {
      lineno++;
      char *nl = strchr (line, '\n');
      save = nl ? nl + 1 : NULL;
      if (nl)
        *nl = '\0';
      while (isspace ((unsigned char) *line))
        line++;
      char *end = line + strlen (line);
      while (end > line && isspace ((unsigned char) end[-1]))
        *--end = '\0';
      if (*line == '\0' || *line == '#')
        continue;
      char *eq = strchr (line, '=');
      if (eq == NULL)
        return lympho_error_set (err, EINVAL, "%s:%u: expected `key = value`", c->config_path, lineno);
      char *kend = eq;
      while (kend > line && isspace ((unsigned char) kend[-1]))
        kend--;
      *kend = '\0';
      char *value = eq + 1;
      while (isspace ((unsigned char) *value))
        value++;
      if (*line == '\0')
        return lympho_error_set (err, EINVAL, "%s:%u: missing key before `=`", c->config_path, lineno);
      if (strcmp (line, "config") == 0)
        return lympho_error_set (err, EINVAL, "%s:%u: config: can only be given on the command line",
                                 c->config_path, lineno);
      const struct setting *s = setting_find (line, strlen (line));
      if (s == NULL)
        return lympho_error_set (err, EINVAL, "%s:%u: %s: unknown key", c->config_path, lineno, line);
      size_t idx = (size_t) (s - settings);
      if (seen_line[idx] && s->kind != K_LISTEN && s->kind != K_URL)
        return lympho_error_set (err, EINVAL, "%s:%u: %s: already set on line %u", c->config_path, lineno,
                                 line, seen_line[idx]);
      seen_line[idx] = lineno;
      if (setting_apply (c, SRC_FILE, s, value, err) < 0)
        return lympho_error_prefix (err, "%s:%u: %s", c->config_path, lineno, s->name);
    }
  return 0;
}

/* Checks that involve more than one setting, or the environment, once
 * everything is applied. */
static int
check_all (struct config *c, lympho_error_t *err)
{
  if (c->backoff_max_ms < c->backoff_min_ms)
    {
      cleanup_free char *lo = duration_format (c->backoff_min_ms);
      cleanup_free char *hi = duration_format (c->backoff_max_ms);
      return lympho_error_set (err, EINVAL, "backoff-max (%s) must not be less than backoff-min (%s)", hi, lo);
    }
  /* Only $DOCKER_HOST can get here unchecked: the file and options are. */
  cleanup_free char *host = xstrdup (c->docker_host);
  const struct setting *s = setting_find ("docker-host", strlen ("docker-host"));
  if (setting_apply (c, SRC_ENV, s, host, err) < 0)
    return lympho_error_prefix (err, "$DOCKER_HOST");
  return 0;
}

/* Build a whole new configuration from c's config path and command line. */
static int
rebuild (const struct config *c, struct config *n, lympho_error_t *err)
{
  config_init (n);
  free (n->config_path);
  n->config_path = xstrdup (c->config_path);
  n->config_explicit = c->config_explicit;
  for (size_t i = 0; i < c->n_args; i++)
    {
      n->args = xrealloc (n->args, (n->n_args + 1) * sizeof *n->args);
      n->args[n->n_args++] = xstrdup (c->args[i]);
    }
  int ret = load_file (n, err);
  for (size_t i = 0; ret == 0 && i < n->n_args; i++)
    {
      const char *a = n->args[i];
      const char *eq = strchr (a, '=');
      const struct setting *s = setting_find (a, (size_t) (eq - a));
      if ((ret = setting_apply (n, SRC_OPTIONS, s, eq + 1, err)) < 0)
        ret = lympho_error_prefix (err, "--%s", s->name);
    }
  if (ret == 0)
    {
      fill_defaults (n);
      ret = check_all (n, err);
    }
  if (ret < 0)
    config_free (n);
  return ret;
}

static bool
str_differs (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a != b;
  return strcmp (a, b) != 0;
}

static unsigned
changes (const struct config *a, const struct config *b)
{
  unsigned mask = 0;
  const char *pa = (const char *) a, *pb = (const char *) b;
  for (size_t i = 0; i < N_SETTINGS; i++)
    {
      const struct setting *s = &settings[i];
      bool differ = false;
      switch (s->kind)
        {
        case K_PATH:
        case K_SOCKET:
        case K_DOCKER_HOST:
        case K_RUNTIME:
        case K_NAME:
          differ = str_differs (*(char *const *) (pa + s->off), *(char *const *) (pb + s->off));
          break;
        case K_LISTEN:
          differ = a->n_listen != b->n_listen;
          for (size_t j = 0; !differ && j < a->n_listen; j++)
            differ = strcmp (a->listen[j], b->listen[j]) != 0;
          break;
        case K_LOG_LEVEL:
          differ = a->log_level != b->log_level;
          break;
        case K_UINT:
          differ = *(const unsigned *) (pa + s->off) != *(const unsigned *) (pb + s->off);
          break;
        case K_DURATION:
          differ = *(const uint64_t *) (pa + s->off) != *(const uint64_t *) (pb + s->off);
          break;
        case K_SHARE:
          differ = *(const double *) (pa + s->off) != *(const double *) (pb + s->off);
          break;
        case K_YESNO:
        case K_MODE:
          differ = *(const int *) (pa + s->off) != *(const int *) (pb + s->off);
          break;
        case K_URL:
          if (s->off == F (alertmanager_url))
            {
              differ = a->n_alertmanager_url != b->n_alertmanager_url;
              for (size_t j = 0; !differ && j < a->n_alertmanager_url; j++)
                differ = strcmp (a->alertmanager_url[j], b->alertmanager_url[j]) != 0;
              break;
            }
          differ = a->n_notify_url != b->n_notify_url;
          for (size_t j = 0; !differ && j < a->n_notify_url; j++)
            differ = strcmp (a->notify_url[j], b->notify_url[j]) != 0;
          break;
        }
      if (differ)
        mask |= s->change;
    }
  return mask;
}

int
config_load (struct config *c, lympho_error_t *err)
{
  struct config n;
  int ret = rebuild (c, &n, err);
  if (ret < 0)
    return ret;
  config_free (c);
  *c = n;
  return 0;
}

int
config_reload (struct config *c, lympho_error_t *err)
{
  struct config n;
  int ret = rebuild (c, &n, err);
  if (ret < 0)
    return ret;
  int mask = (int) changes (c, &n);
  config_free (c);
  *c = n;
  return mask;
}
