/* lympho — lymphd's configuration: built-in defaults, then the config file,
 * then command-line options (which win). Every option of INTERFACE.md is
 * also a config key, spelt without the leading dashes. */
#ifndef LYMPHO_CONFIG_H
#define LYMPHO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lympho/error.h"
#include "lympho/log.h"

#define DEFAULT_CONFIG_PATH SYSCONFDIR "/lympho/lymphd.conf"
#define DEFAULT_SOCKET_PATH "/run/lympho/lymphd.sock"
#define DEFAULT_STATE_DIR "/var/lib/lympho"
#define DEFAULT_DOCKER_HOST "unix:///var/run/docker.sock"
#define DEFAULT_LISTEN "127.0.0.1:9797"
/* listen is repeatable: TCP addresses and unix:PATH, at most this many. */
#define CONFIG_MAX_LISTEN 4
/* notify-url is repeatable: http:// and https:// receivers, at most this many. */
#define CONFIG_MAX_NOTIFY 8
#define CONFIG_URL_MAX 2048

struct config
{
  char *config_path;
  bool config_explicit;   /* --config given: a missing file is an error */
  char *socket_path;
  char *state_dir;
  char *docker_host;      /* $DOCKER_HOST, else DEFAULT_DOCKER_HOST */
  char *runtime;          /* "docker", "podman", "exec:PATH" */
  char *listen[CONFIG_MAX_LISTEN]; /* ADDR:PORT or unix:PATH; none when `none` */
  size_t n_listen;
  unsigned listen_source; /* where the listen values came from: 0 built in, 1 the file, 2 options */
  int metrics_token;      /* metrics-token: 1 yes, 0 no, -1 no on loopback and yes elsewhere */
  int observe;            /* mode: 1 observe, 0 enforce; a container's lympho.mode wins */
  char *token_file;       /* default <state-dir>/webhook.token */
  char *notify_url[CONFIG_MAX_NOTIFY]; /* receivers of one JSON POST per regeneration, incident, refusal */
  size_t n_notify_url;
  unsigned notify_source; /* as listen_source */
  char *notify_token_file; /* its content: their Authorization: Bearer; NULL: none */
  char *alertmanager_url[CONFIG_MAX_NOTIFY]; /* Alertmanagers: incidents and threshold crossings, for the fleet */
  size_t n_alertmanager_url;
  unsigned alertmanager_source; /* as listen_source */
  char *node_name;        /* this node in the fleet (lympho_node); NULL: the host's name */
  enum log_level log_level;

  /* Tuning keys (config file or --key=value), with defaults. */
  unsigned max_concurrent;      /* max-concurrent: regenerations at once, default 2 */
  uint64_t settle_ms;           /* settle: swap without healthcheck waits this long running, default 3s */
  uint64_t health_timeout_ms;   /* health-timeout: swap waits at most this for healthy, default 60s */
  uint64_t backoff_min_ms;      /* backoff-min: first retry after a failed regeneration, default 5s */
  uint64_t backoff_max_ms;      /* backoff-max: longest retry delay, default 10m */
  unsigned pin_retention;       /* pin-retention: pinned images kept per container, default 2 */
  uint64_t threat_half_life_ms; /* threat-half-life: default 10m */
  double group_share;           /* group-share: share of severity passed to neighbours, default 0.5 */
  uint64_t memory_window_ms;    /* memory-window: default 7d */
  unsigned forensics_keep;      /* forensics-keep: forensic images kept per container, default 3 */
  unsigned forensics_max_mb;    /* forensics-max-mb: no image of a larger writable layer, default 1024 */
  uint64_t forensics_backoff_ms; /* forensics-backoff: first wait between two images of one container, default 1m */
  uint64_t learn_window_ms;     /* learn-window: exec learning after a fresh generation, default 30s */

  /* Private: "key=value" as given on the command line, applied again over
   * the file on every load so the command line keeps winning on SIGHUP. */
  char **args;
  size_t n_args;
};

/* Bits returned by config_reload(), one per setting that changed. */
enum config_change
{
  CONFIG_CHANGED_SOCKET = 1u << 0,
  CONFIG_CHANGED_STATE_DIR = 1u << 1,
  CONFIG_CHANGED_DOCKER_HOST = 1u << 2,
  CONFIG_CHANGED_RUNTIME = 1u << 3,
  CONFIG_CHANGED_LISTEN = 1u << 4,
  CONFIG_CHANGED_TOKEN_FILE = 1u << 5,
  CONFIG_CHANGED_LOG_LEVEL = 1u << 6,
  CONFIG_CHANGED_TUNING = 1u << 7, /* any of the tuning keys */
  CONFIG_CHANGED_MODE = 1u << 8,
  CONFIG_CHANGED_NOTIFY = 1u << 9,
  CONFIG_CHANGED_FLEET = 1u << 10, /* alertmanager-url, node-name */
};

void config_init (struct config *c);   /* built-in defaults */
void config_free (struct config *c);

/* Parse argv. Returns 0 to go on, 1 when --help or --version was printed
 * (exit 0), negative on a bad option (message names it; exit 2). The file is
 * read by config_load(). */
int config_parse_args (struct config *c, int argc, char **argv, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Read the config file and apply it beneath the command-line options. Used
 * at start and on SIGHUP (then into a fresh struct, swapped in only when the
 * whole file is valid). */
int config_load (struct config *c, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* SIGHUP: read the file again into a fresh config, apply the command line
 * over it, and replace *c only when all of it is valid; on error *c is left
 * untouched. Returns the CONFIG_CHANGED_* bits (0: nothing changed). Socket,
 * state dir, engine, runtime and listener changes need a restart. */
int config_reload (struct config *c, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The --help text. */
void config_usage (FILE *out);

#endif
