/* Unit tests: lymphd's configuration (options, file, precedence, reload),
 * sd_notify over a real datagram socket, and dropping privileges in a
 * forked child. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lympho/config.h"
#include "lympho/notify.h"
#include "lympho/privs.h"
#include "lympho/util.h"

static char tmpdir[64];

static int
setup (void **state)
{
  (void) state;
  snprintf (tmpdir, sizeof tmpdir, "/tmp/lympho-test-config-XXXXXX");
  if (mkdtemp (tmpdir) == NULL)
    return -1;
  unsetenv ("DOCKER_HOST");
  unsetenv ("NOTIFY_SOCKET");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", tmpdir);
  return system (cmd) == 0 ? 0 : -1;
}

static char *
write_conf (const char *name, const char *text)
{
  char *path = xasprintf ("%s/%s", tmpdir, name);
  assert_int_equal (write_file_atomic (path, text, strlen (text), 0600, NULL), 0);
  return path;
}

/* Parse a NULL-terminated argument list (copied: getopt permutes argv). */
static int
parse (struct config *c, lympho_error_t *err, ...)
{
  char *argv[64];
  int argc = 0;
  argv[argc++] = xstrdup ("lymphd");
  va_list ap;
  va_start (ap, err);
  for (const char *a; (a = va_arg (ap, const char *)) != NULL;)
    argv[argc++] = xstrdup (a);
  va_end (ap);
  argv[argc] = NULL;
  int ret = config_parse_args (c, argc, argv, err);
  for (int i = 0; i < argc; i++)
    free (argv[i]);
  return ret;
}

static void
test_defaults (void **state)
{
  (void) state;
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  assert_int_equal (parse (&c, &err, NULL), 0);
  /* A missing default file means built-in defaults. */
  free (c.config_path);
  c.config_path = xasprintf ("%s/absent.conf", tmpdir);
  assert_int_equal (config_load (&c, &err), 0);
  assert_string_equal (c.socket_path, "/run/lympho/lymphd.sock");
  assert_string_equal (c.state_dir, "/var/lib/lympho");
  assert_string_equal (c.docker_host, "unix:///var/run/docker.sock");
  assert_string_equal (c.runtime, "docker");
  assert_int_equal (c.n_listen, 1);
  assert_string_equal (c.listen[0], "127.0.0.1:9797");
  assert_string_equal (c.token_file, "/var/lib/lympho/webhook.token");
  assert_int_equal (c.log_level, LOG_LVL_INFO);
  assert_int_equal (c.max_concurrent, 2);
  assert_int_equal (c.settle_ms, 3000);
  assert_int_equal (c.health_timeout_ms, 60000);
  assert_int_equal (c.backoff_min_ms, 5000);
  assert_int_equal (c.backoff_max_ms, 600000);
  assert_int_equal (c.pin_retention, 2);
  assert_int_equal (c.threat_half_life_ms, 600000);
  assert_true (c.group_share == 0.5);
  assert_int_equal (c.memory_window_ms, 7ull * 86400000);
  assert_int_equal (c.forensics_keep, 3);
  assert_int_equal (c.learn_window_ms, 30000);
  config_free (&c);
}

static void
test_args (void **state)
{
  (void) state;
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  int ret = parse (&c, &err, "--socket", "/tmp/x.sock", "--state-dir=/srv/lympho", "--docker-host",
                   "tcp://127.0.0.1:2375", "--runtime", "exec:/usr/lib/lympho/plugin", "--listen", "none",
                   "--log-level", "debug", "--max-concurrent=64", "--settle=0s", "--health-timeout=2m",
                   "--backoff-min=1s", "--backoff-max=1d", "--pin-retention=1", "--threat-half-life=1h",
                   "--group-share=0.25", "--memory-window=30d", "--forensics-keep=0", "--learn-window=1m",
                   "--metrics-token=yes", NULL);
  if (ret != 0)
    fail_msg ("%s", err.msg);
  assert_string_equal (c.socket_path, "/tmp/x.sock");
  assert_string_equal (c.state_dir, "/srv/lympho");
  assert_string_equal (c.docker_host, "tcp://127.0.0.1:2375");
  assert_string_equal (c.runtime, "exec:/usr/lib/lympho/plugin");
  assert_int_equal (c.n_listen, 0);
  assert_string_equal (c.token_file, "/srv/lympho/webhook.token");
  assert_int_equal (c.log_level, LOG_LVL_DEBUG);
  assert_int_equal (c.max_concurrent, 64);
  assert_int_equal (c.settle_ms, 0);
  assert_int_equal (c.health_timeout_ms, 120000);
  assert_int_equal (c.backoff_min_ms, 1000);
  assert_int_equal (c.backoff_max_ms, 86400000);
  assert_int_equal (c.pin_retention, 1);
  assert_int_equal (c.threat_half_life_ms, 3600000);
  assert_true (c.group_share == 0.25);
  assert_int_equal (c.memory_window_ms, 30ull * 86400000);
  assert_int_equal (c.forensics_keep, 0);
  assert_int_equal (c.learn_window_ms, 60000);
  assert_int_equal (c.metrics_token, 1);
  assert_false (c.config_explicit);

  /* The same values survive a load (no file: defaults beneath). */
  free (c.config_path);
  c.config_path = xasprintf ("%s/absent.conf", tmpdir);
  assert_int_equal (config_load (&c, &err), 0);
  assert_string_equal (c.socket_path, "/tmp/x.sock");
  assert_int_equal (c.n_listen, 0);
  assert_int_equal (c.max_concurrent, 64);
  assert_string_equal (c.token_file, "/srv/lympho/webhook.token");
  config_free (&c);
}

static void
expect_bad_args (const char *msg, ...)
{
  char *argv[16];
  int argc = 0;
  argv[argc++] = xstrdup ("lymphd");
  va_list ap;
  va_start (ap, msg);
  for (const char *a; (a = va_arg (ap, const char *)) != NULL;)
    argv[argc++] = xstrdup (a);
  va_end (ap);
  argv[argc] = NULL;
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  int ret = config_parse_args (&c, argc, argv, &err);
  if (ret != -EINVAL)
    fail_msg ("accepted (%d), expected: %s", ret, msg);
  assert_string_equal (err.msg, msg);
  config_free (&c);
  for (int i = 0; i < argc; i++)
    free (argv[i]);
}

static void
test_bad_args (void **state)
{
  (void) state;
  expect_bad_args ("unknown option `--frobnicate` (see --help)", "--frobnicate", NULL);
  expect_bad_args ("unknown option `-x` (see --help)", "-x", NULL);
  expect_bad_args ("option `--socket` needs a value", "--socket", NULL);
  expect_bad_args ("unexpected argument `extra` (see --help)", "extra", NULL);
  expect_bad_args ("--config: invalid value \"lymphd.conf\": must be an absolute path", "--config", "lymphd.conf",
                   NULL);
  expect_bad_args ("--socket: invalid value \"run/x.sock\": must be an absolute path", "--socket", "run/x.sock",
                   NULL);
  expect_bad_args ("--socket: empty value", "--socket=", NULL);
  char longsock[160];
  memset (longsock, 'a', sizeof longsock - 1);
  longsock[0] = '/';
  longsock[sizeof longsock - 1] = '\0';
  char want[400];
  snprintf (want, sizeof want, "--socket: invalid value \"%s\": too long for a Unix socket (at most 107 bytes)",
            longsock);
  expect_bad_args (want, "--socket", longsock, NULL);
  expect_bad_args ("--state-dir: invalid value \"~/lympho\": must be an absolute path", "--state-dir", "~/lympho",
                   NULL);
  expect_bad_args ("--token-file: invalid value \"token\": must be an absolute path", "--token-file=token", NULL);
  expect_bad_args ("--docker-host: invalid value \"/var/run/docker.sock\": must start with unix:// or tcp://",
                   "--docker-host", "/var/run/docker.sock", NULL);
  expect_bad_args ("--docker-host: invalid value \"unix://docker.sock\": unix:// must be followed by an absolute path",
                   "--docker-host", "unix://docker.sock", NULL);
  expect_bad_args ("--docker-host: invalid value \"tcp://host\": expected HOST:PORT", "--docker-host", "tcp://host",
                   NULL);
  expect_bad_args ("--runtime: invalid value \"containerd\": must be docker, podman or exec:PATH", "--runtime",
                   "containerd", NULL);
  expect_bad_args ("--runtime: invalid value \"exec:plugin\": exec: must be followed by an absolute path",
                   "--runtime", "exec:plugin", NULL);
  expect_bad_args ("--listen: invalid value \"9797\": expected HOST:PORT", "--listen", "9797", NULL);
  expect_bad_args ("--listen: invalid value \":9797\": missing host before the port", "--listen", ":9797", NULL);
  expect_bad_args ("--listen: invalid value \"127.0.0.1:0\": the port must be a number from 1 to 65535", "--listen",
                   "127.0.0.1:0", NULL);
  expect_bad_args ("--listen: invalid value \"127.0.0.1:65536\": the port must be a number from 1 to 65535",
                   "--listen", "127.0.0.1:65536", NULL);
  expect_bad_args ("--listen: invalid value \"::1:80\": an IPv6 address must be written [ADDR]:PORT", "--listen",
                   "::1:80", NULL);
  expect_bad_args ("--log-level: invalid value \"verbose\": must be error, warn, info or debug", "--log-level",
                   "verbose", NULL);
  expect_bad_args ("--max-concurrent: invalid value \"0\": must be a whole number from 1 to 64",
                   "--max-concurrent=0", NULL);
  expect_bad_args ("--max-concurrent: invalid value \"65\": must be a whole number from 1 to 64",
                   "--max-concurrent=65", NULL);
  expect_bad_args ("--max-concurrent: invalid value \"-1\": must be a whole number from 1 to 64",
                   "--max-concurrent=-1", NULL);
  expect_bad_args ("--max-concurrent: invalid value \"99999999999999999999\": must be a whole number from 1 to 64",
                   "--max-concurrent=99999999999999999999", NULL);
  expect_bad_args ("--settle: invalid value \"3\": missing unit after \"3\" (ms, s, m, h or d)", "--settle=3", NULL);
  expect_bad_args ("--settle: invalid value \"11m\": must be between 0s and 10m", "--settle=11m", NULL);
  expect_bad_args ("--health-timeout: invalid value \"500ms\": must be between 1s and 1h", "--health-timeout=500ms",
                   NULL);
  expect_bad_args ("--group-share: invalid value \"1.5\": must be a number from 0 to 1", "--group-share=1.5", NULL);
  expect_bad_args ("--group-share: invalid value \"nan\": must be a number from 0 to 1", "--group-share=nan", NULL);
  expect_bad_args ("--group-share: invalid value \"-0\": must be a number from 0 to 1", "--group-share=-0", NULL);
  expect_bad_args ("--group-share: invalid value \"0.5x\": must be a number from 0 to 1", "--group-share=0.5x", NULL);
  expect_bad_args ("--metrics-token: invalid value \"maybe\": must be yes or no", "--metrics-token=maybe", NULL);
  expect_bad_args ("--mode: invalid value \"Observe\": must be enforce or observe", "--mode=Observe", NULL);
  expect_bad_args ("--notify-url: invalid value \"ftp://x/y\": must start with http:// or https://",
                   "--notify-url=ftp://x/y", NULL);
  expect_bad_args ("--notify-url: invalid value \"https:///y\": has no host", "--notify-url=https:///y", NULL);
  expect_bad_args ("--notify-url: invalid value \"http://a/b\tc\": has a space or a control character",
                   "--notify-url=http://a/b\tc", NULL);
  expect_bad_args ("--notify-url: invalid value \"http://a/\": given twice", "--notify-url=http://a/",
                   "--notify-url=http://a/", NULL);
}

static void
test_help_version (void **state)
{
  (void) state;
  struct config c;
  lympho_error_t err = { 0 };
  /* Both print to stdout and tell the caller to exit 0; keep the test log clean. */
  fflush (stdout);
  int saved = dup (1);
  int null = open ("/dev/null", O_WRONLY);
  dup2 (null, 1);
  config_init (&c);
  int r1 = parse (&c, &err, "--version", NULL);
  int r2 = parse (&c, &err, "--socket=/x", "--help", NULL);
  config_free (&c);
  fflush (stdout);
  dup2 (saved, 1);
  close (saved);
  close (null);
  assert_int_equal (r1, 1);
  assert_int_equal (r2, 1);

  /* --help names every option and its default. */
  cleanup_free char *path = xasprintf ("%s/help.txt", tmpdir);
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  config_usage (f);
  fclose (f);
  cleanup_free char *text = NULL;
  assert_int_equal (read_file (path, 1 << 20, &text, NULL, NULL), 0);
  const char *want[] = { "--config PATH", "--socket PATH", "--state-dir PATH", "--docker-host URL",
                         "--runtime NAME", "--listen ADDR:PORT", "--token-file PATH", "--log-level LEVEL",
                         "--max-concurrent N", "--settle DURATION", "--health-timeout DURATION",
                         "--backoff-min DURATION", "--backoff-max DURATION", "--pin-retention N",
                         "--threat-half-life DURATION", "--group-share X", "--memory-window DURATION",
                         "--forensics-keep N", "--learn-window DURATION", "--help", "--version",
                         "(default /run/lympho/lymphd.sock)", "(default 127.0.0.1:9797)",
                         "(default <state-dir>/webhook.token)", "(default 2, 1..64)", "(default 0.5)" };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (strstr (text, want[i]) == NULL)
      fail_msg ("--help lacks `%s`:\n%s", want[i], text);
  for (const char *line = text; *line;)
    {
      const char *nl = strchrnul (line, '\n');
      if (nl - line > 79)
        fail_msg ("--help line longer than 79 columns: %.*s", (int) (nl - line), line);
      line = *nl ? nl + 1 : nl;
    }
}

static const char good_conf[] = "# lymphd test config\n"
                                "\n"
                                "socket = /tmp/file.sock\n"
                                "  state-dir=/srv/state  \n"
                                "\t# indented comment\n"
                                "max-concurrent = 7\n"
                                "listen = [::1]:9000\n"
                                "log-level = warn\n"
                                "backoff-min = 1m\n"
                                "backoff-max = 2h\n"
                                "group-share = 1\n";

static void
test_file_and_precedence (void **state)
{
  (void) state;
  cleanup_free char *path = write_conf ("good.conf", good_conf);
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  int ret = parse (&c, &err, "--config", path, "--max-concurrent", "3", NULL);
  assert_int_equal (ret, 0);
  assert_true (c.config_explicit);
  if (config_load (&c, &err) < 0)
    fail_msg ("%s", err.msg);
  assert_string_equal (c.config_path, path);
  assert_string_equal (c.socket_path, "/tmp/file.sock");
  assert_string_equal (c.state_dir, "/srv/state");
  assert_string_equal (c.token_file, "/srv/state/webhook.token"); /* from the file's state-dir */
  assert_int_equal (c.max_concurrent, 3);                         /* the command line wins */
  assert_int_equal (c.n_listen, 1);
  assert_string_equal (c.listen[0], "[::1]:9000");
  assert_int_equal (c.log_level, LOG_LVL_WARN);
  assert_int_equal (c.backoff_min_ms, 60000);
  assert_int_equal (c.backoff_max_ms, 7200000);
  assert_true (c.group_share == 1.0);
  assert_string_equal (c.runtime, "docker"); /* untouched: default */
  config_free (&c);

  /* An explicit token-file is kept; listen none from the file. */
  cleanup_free char *p2 = write_conf ("tok.conf", "token-file = /etc/lympho/token\nlisten = none\n");
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", p2, "--state-dir", "/elsewhere", NULL), 0);
  assert_int_equal (config_load (&c, &err), 0);
  assert_string_equal (c.token_file, "/etc/lympho/token");
  assert_int_equal (c.n_listen, 0);
  assert_string_equal (c.state_dir, "/elsewhere");
  config_free (&c);
}

static void
expect_bad_file (const char *text, const char *msg_after_path)
{
  cleanup_free char *path = write_conf ("bad.conf", text);
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, NULL), 0);
  int ret = config_load (&c, &err);
  if (ret != -EINVAL)
    fail_msg ("accepted (%d): %s", ret, text);
  cleanup_free char *want = xasprintf ("%s%s", path, msg_after_path);
  assert_string_equal (err.msg, want);
  /* Nothing of the bad file was applied. */
  assert_string_equal (c.socket_path, "/run/lympho/lymphd.sock");
  assert_int_equal (c.max_concurrent, 2);
  config_free (&c);
}

static void
test_file_errors (void **state)
{
  (void) state;
  expect_bad_file ("socket = /tmp/a.sock\n# c\nfrobnicate = 1\n", ":3: frobnicate: unknown key");
  expect_bad_file ("socket = /tmp/a.sock\nmax-concurrent = 100\n",
                   ":2: max-concurrent: invalid value \"100\": must be a whole number from 1 to 64");
  expect_bad_file ("\n\nsocket /tmp/a.sock\n", ":3: expected `key = value`");
  expect_bad_file ("= 3\n", ":1: missing key before `=`");
  expect_bad_file ("socket = /tmp/a.sock\nsocket = /tmp/b.sock\n", ":2: socket: already set on line 1");
  expect_bad_file ("config = /etc/other.conf\n", ":1: config: can only be given on the command line");
  expect_bad_file ("max-concurrent = 4 # four\n",
                   ":1: max-concurrent: invalid value \"4 # four\": must be a whole number from 1 to 64");
  expect_bad_file ("settle =\n", ":1: settle: empty value");
  expect_bad_file ("--socket = /tmp/a.sock\n", ":1: --socket: unknown key");
  expect_bad_file ("ttl = 1h\n", ":1: ttl: unknown key");
}

static void
test_cross_and_env_errors (void **state)
{
  (void) state;
  struct config c;
  lympho_error_t err = { 0 };
  cleanup_free char *path = write_conf ("b.conf", "backoff-min = 1h\n");
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, NULL), 0);
  assert_int_equal (config_load (&c, &err), -EINVAL);
  assert_string_equal (err.msg, "backoff-max (10m) must not be less than backoff-min (1h)");
  config_free (&c);

  /* A missing explicit file is an error; it names the file. */
  cleanup_free char *absent = xasprintf ("%s/nope.conf", tmpdir);
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", absent, NULL), 0);
  assert_int_equal (config_load (&c, &err), -ENOENT);
  cleanup_free char *want = xasprintf ("config file: open `%s`: No such file or directory", absent);
  assert_string_equal (err.msg, want);
  config_free (&c);

  /* $DOCKER_HOST is the default engine, and is checked too. */
  setenv ("DOCKER_HOST", "tcp://10.0.0.1:2375", 1);
  config_init (&c);
  assert_string_equal (c.docker_host, "tcp://10.0.0.1:2375");
  free (c.config_path);
  c.config_path = xstrdup (absent);
  assert_int_equal (config_load (&c, &err), 0);
  assert_string_equal (c.docker_host, "tcp://10.0.0.1:2375");
  config_free (&c);
  setenv ("DOCKER_HOST", "docker.sock", 1);
  config_init (&c);
  free (c.config_path);
  c.config_path = xstrdup (absent);
  assert_int_equal (config_load (&c, &err), -EINVAL);
  assert_string_equal (err.msg, "$DOCKER_HOST: invalid value \"docker.sock\": must start with unix:// or tcp://");
  config_free (&c);
  /* ... unless the option overrides it. */
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--docker-host", "unix:///run/docker.sock", NULL), 0);
  free (c.config_path);
  c.config_path = xstrdup (absent);
  assert_int_equal (config_load (&c, &err), 0);
  assert_string_equal (c.docker_host, "unix:///run/docker.sock");
  config_free (&c);
  unsetenv ("DOCKER_HOST");
}

static void
test_reload (void **state)
{
  (void) state;
  cleanup_free char *path = write_conf ("r.conf", "max-concurrent = 4\nlog-level = info\nsocket = /tmp/r.sock\n");
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, "--socket", "/tmp/cli.sock", NULL), 0);
  assert_int_equal (config_load (&c, &err), 0);
  assert_int_equal (c.max_concurrent, 4);
  assert_string_equal (c.socket_path, "/tmp/cli.sock");

  /* Unchanged file: nothing changed. */
  assert_int_equal (config_reload (&c, &err), 0);

  /* A bad file leaves the running configuration untouched. */
  free (write_conf ("r.conf", "max-concurrent = 9\nlog-level = loud\n"));
  assert_int_equal (config_reload (&c, &err), -EINVAL);
  cleanup_free char *want = xasprintf ("%s:2: log-level: invalid value \"loud\": must be error, warn, info or debug",
                                       path);
  assert_string_equal (err.msg, want);
  assert_int_equal (c.max_concurrent, 4);
  assert_int_equal (c.log_level, LOG_LVL_INFO);
  assert_string_equal (c.socket_path, "/tmp/cli.sock");
  assert_string_equal (c.config_path, path);

  /* A good new file is applied; the command line still wins. */
  free (write_conf ("r.conf", "max-concurrent = 9\nlog-level = debug\nsocket = /tmp/other.sock\n"));
  int mask = config_reload (&c, &err);
  assert_int_equal (mask, CONFIG_CHANGED_TUNING | CONFIG_CHANGED_LOG_LEVEL);
  assert_int_equal (c.max_concurrent, 9);
  assert_int_equal (c.log_level, LOG_LVL_DEBUG);
  assert_string_equal (c.socket_path, "/tmp/cli.sock");

  /* Removing a key goes back to its default. */
  free (write_conf ("r.conf", "listen = none\n"));
  mask = config_reload (&c, &err);
  assert_int_equal (mask, CONFIG_CHANGED_TUNING | CONFIG_CHANGED_LOG_LEVEL | CONFIG_CHANGED_LISTEN);
  assert_int_equal (c.max_concurrent, 2);
  assert_int_equal (c.n_listen, 0);
  assert_int_equal (c.observe, 0);

  /* The mode: its own change bit, so that lymphd works out the guards again. */
  free (write_conf ("r.conf", "listen = none\nmode = observe\n"));
  assert_int_equal (config_reload (&c, &err), CONFIG_CHANGED_MODE);
  assert_int_equal (c.observe, 1);
  free (write_conf ("r.conf", "listen = none\nmode = enforce\n"));
  assert_int_equal (config_reload (&c, &err), CONFIG_CHANGED_MODE);
  assert_int_equal (c.observe, 0);
  free (write_conf ("r.conf", "listen = none\n"));
  assert_int_equal (config_reload (&c, &err), 0);

  /* Receivers: repeatable in the file, their own change bit. */
  free (write_conf ("r.conf", "listen = none\nnotify-url = http://127.0.0.1:1/a\nnotify-url = https://n.example/b\n"));
  assert_int_equal (config_reload (&c, &err), CONFIG_CHANGED_NOTIFY);
  assert_int_equal (c.n_notify_url, 2);
  assert_string_equal (c.notify_url[1], "https://n.example/b");
  free (write_conf ("r.conf", "listen = none\n"));
  assert_int_equal (config_reload (&c, &err), CONFIG_CHANGED_NOTIFY);
  assert_int_equal (c.n_notify_url, 0);

  /* The file vanishing under an explicit --config is an error, not defaults. */
  assert_int_equal (unlink (path), 0);
  assert_int_equal (config_reload (&c, &err), -ENOENT);
  assert_int_equal (c.n_listen, 0);
  config_free (&c);
}

/* A datagram socket standing in for systemd's notify socket. */
static int
listen_dgram (const char *path, bool abstract)
{
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true (fd >= 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len = strlen (path);
  memcpy (sa.sun_path, path, len);
  if (abstract)
    sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len + !abstract);
  assert_int_equal (bind (fd, (struct sockaddr *) &sa, salen), 0);
  return fd;
}

static void
expect_datagram (int fd, const char *want)
{
  char buf[600];
  ssize_t n = recv (fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n < 0)
    fail_msg ("no datagram (%s), expected %s", strerror (errno), want);
  buf[n] = '\0';
  assert_string_equal (buf, want);
}

/* listen is repeatable (TCP addresses and unix:PATH): the file's values
 * replace the default, the options' replace the file's, `none` empties
 * the list so far; a reload sees a changed list. */
static void
test_listen_repeatable (void **state)
{
  (void) state;
  struct config c;
  lympho_error_t err = { 0 };
  cleanup_free char *path = write_conf ("l.conf", "listen = 127.0.0.1:9797\nlisten = unix:/run/lympho/alerts.sock\n");
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, NULL), 0);
  if (config_load (&c, &err) < 0)
    fail_msg ("%s", err.msg);
  assert_int_equal (c.n_listen, 2);
  assert_string_equal (c.listen[0], "127.0.0.1:9797");
  assert_string_equal (c.listen[1], "unix:/run/lympho/alerts.sock");
  config_free (&c);

  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, "--listen", "unix:/tmp/a.sock", "--listen", "[::1]:9000", NULL), 0);
  assert_int_equal (config_load (&c, &err), 0);
  assert_int_equal (c.n_listen, 2);
  assert_string_equal (c.listen[0], "unix:/tmp/a.sock");
  assert_string_equal (c.listen[1], "[::1]:9000");
  /* A changed file under these options: nothing the listener sees. */
  free (write_conf ("l.conf", "listen = 127.0.0.2:1\n"));
  assert_int_equal (config_reload (&c, &err) & CONFIG_CHANGED_LISTEN, 0);
  config_free (&c);

  /* Without them, the reload sees it. */
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, NULL), 0);
  assert_int_equal (config_load (&c, &err), 0);
  free (write_conf ("l.conf", "listen = 127.0.0.2:1\nlisten = unix:/tmp/b.sock\n"));
  assert_int_equal (config_reload (&c, &err) & CONFIG_CHANGED_LISTEN, CONFIG_CHANGED_LISTEN);
  assert_int_equal (c.n_listen, 2);
  assert_string_equal (c.listen[1], "unix:/tmp/b.sock");
  config_free (&c);

  static const struct
  {
    const char *a, *b, *why;
  } bad[] = {
    { "127.0.0.1:1", "127.0.0.1:1", "given twice" },
    { "unix:relative.sock", NULL, "must be an absolute path" },
    { "unix:", NULL, "must be an absolute path" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      config_init (&c);
      lympho_error_clear (&err);
      int ret = bad[i].b ? parse (&c, &err, "--listen", bad[i].a, "--listen", bad[i].b, NULL)
                         : parse (&c, &err, "--listen", bad[i].a, NULL);
      assert_int_equal (ret, -EINVAL);
      if (strstr (err.msg, bad[i].why) == NULL || strstr (err.msg, "--listen") == NULL)
        fail_msg ("%s %s: %s", bad[i].a, bad[i].b ? bad[i].b : "", err.msg);
      config_free (&c);
    }
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--listen", "127.0.0.1:3",
                           "--listen", "127.0.0.1:4", "--listen", "127.0.0.1:5", NULL),
                    -EINVAL);
  assert_non_null (strstr (err.msg, "at most 4"));
  config_free (&c);
  config_init (&c);
  cleanup_free char *long_path = xasprintf ("unix:/%0120d", 0);
  assert_int_equal (parse (&c, &err, "--listen", long_path, NULL), -EINVAL);
  assert_non_null (strstr (err.msg, "too long"));
  config_free (&c);
  /* `none` empties what came before it, as an empty assignment in a unit. */
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--listen", "none", "--listen", "127.0.0.1:1", NULL), 0);
  assert_int_equal (c.n_listen, 1);
  assert_string_equal (c.listen[0], "127.0.0.1:1");
  config_free (&c);
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--listen", "127.0.0.1:1", "--listen", "none", NULL), 0);
  assert_int_equal (c.n_listen, 0);
  config_free (&c);
  /* `none` alone, in a file. */
  cleanup_free char *p2 = write_conf ("n.conf", "listen = none\n");
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", p2, NULL), 0);
  assert_int_equal (config_load (&c, &err), 0);
  assert_int_equal (c.n_listen, 0);
  config_free (&c);
}

static void
test_notify (void **state)
{
  (void) state;
  /* Unset: a no-op that succeeds. */
  assert_int_equal (notify_ready (), 0);
  assert_int_equal (notify_status ("x %d", 1), 0);

  cleanup_free char *path = xasprintf ("%s/notify.sock", tmpdir);
  cleanup_close int fd = listen_dgram (path, false);
  setenv ("NOTIFY_SOCKET", path, 1);
  assert_int_equal (notify_ready (), 0);
  expect_datagram (fd, "READY=1");
  assert_int_equal (notify_status ("protecting %d containers\nREADY=1", 3), 0);
  expect_datagram (fd, "STATUS=protecting 3 containers READY=1");
  assert_int_equal (notify_watchdog (), 0);
  expect_datagram (fd, "WATCHDOG=1");
  assert_int_equal (notify_reloading (), 0);
  expect_datagram (fd, "RELOADING=1");
  assert_int_equal (notify_stopping (), 0);
  expect_datagram (fd, "STOPPING=1");

  /* Abstract namespace, as systemd uses in containers. */
  cleanup_free char *abs = xasprintf ("@lympho-test-notify-%d", (int) getpid ());
  cleanup_close int afd = listen_dgram (abs, true);
  setenv ("NOTIFY_SOCKET", abs, 1);
  assert_int_equal (notify_send ("READY=1\nSTATUS=up"), 0);
  expect_datagram (afd, "READY=1\nSTATUS=up");

  /* Nobody listening: reported, not fatal. */
  cleanup_free char *gone = xasprintf ("%s/gone.sock", tmpdir);
  setenv ("NOTIFY_SOCKET", gone, 1);
  assert_int_equal (notify_ready (), -ENOENT);
  setenv ("NOTIFY_SOCKET", "relative.sock", 1);
  assert_int_equal (notify_ready (), -EINVAL);
  unsetenv ("NOTIFY_SOCKET");
}

static void
test_watchdog_usec (void **state)
{
  (void) state;
  unsetenv ("WATCHDOG_USEC");
  unsetenv ("WATCHDOG_PID");
  assert_int_equal (notify_watchdog_usec (), 0);
  setenv ("WATCHDOG_USEC", "30000000", 1);
  assert_int_equal (notify_watchdog_usec (), 30000000);
  cleanup_free char *me = xasprintf ("%d", (int) getpid ());
  setenv ("WATCHDOG_PID", me, 1);
  assert_int_equal (notify_watchdog_usec (), 30000000);
  setenv ("WATCHDOG_PID", "1", 1); /* meant for another process */
  assert_int_equal (notify_watchdog_usec (), 0);
  unsetenv ("WATCHDOG_PID");
  setenv ("WATCHDOG_USEC", "30s", 1);
  assert_int_equal (notify_watchdog_usec (), 0);
  setenv ("WATCHDOG_USEC", "0", 1);
  assert_int_equal (notify_watchdog_usec (), 0);
  setenv ("WATCHDOG_USEC", "99999999999999999999999", 1);
  assert_int_equal (notify_watchdog_usec (), 0);
  unsetenv ("WATCHDOG_USEC");
}

static bool
cap_in (cap_t c, cap_value_t v, cap_flag_t which)
{
  cap_flag_value_t f = CAP_CLEAR;
  cap_get_flag (c, v, which, &f);
  return f == CAP_SET;
}

/* The effective capabilities of a program lymphd runs as it runs a plugin:
 * the CapEff line of /bin/cat's own /proc/self/status. */
static uint64_t
exec_child_caps (void)
{
  int p[2];
  if (pipe (p) < 0)
    return UINT64_MAX;
  privs_plugin_ambient (true);
  pid_t pid = fork ();
  if (pid == 0)
    {
      dup2 (p[1], 1);
      execl ("/bin/cat", "cat", "/proc/self/status", (char *) NULL);
      _exit (127);
    }
  privs_plugin_ambient (false);
  close (p[1]);
  char buf[8192];
  size_t len = 0;
  ssize_t k;
  while (len < sizeof buf - 1 && (k = read (p[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t) k;
  buf[len] = '\0';
  close (p[0]);
  waitpid (pid, NULL, 0);
  const char *eff = strstr (buf, "\nCapEff:");
  return eff ? strtoull (eff + 8, NULL, 16) : UINT64_MAX;
}

enum drop_mode
{
  DROP_ROOT,          /* lymphd as root, Docker or Podman */
  DROP_NOBODY,        /* no capabilities at all */
  DROP_ROOT_PLUGINS,  /* lymphd as root with an exec: runtime */
  DROP_USER_PLUGINS,  /* as another user that was given capabilities */
};

/* In a child (the drop is irreversible): what privs_drop must leave. Exit
 * status 0 when right, else 1 after naming the failed check on stderr. */
#define FAILED() (fprintf (stderr, "privs check at line %d failed\n", __LINE__), 1)
static int
check_drop_in_child (enum drop_mode mode)
{
  size_t n_kept;
  const int *kept = privs_capabilities (&n_kept);
  bool plugins = mode == DROP_ROOT_PLUGINS || mode == DROP_USER_PLUGINS;
  cap_t before = cap_get_proc ();
  bool had_setpcap = cap_in (before, CAP_SETPCAP, CAP_EFFECTIVE);
  if (mode == DROP_NOBODY && setresuid (65534, 65534, 65534) < 0)
    return FAILED ();
  if (mode == DROP_USER_PLUGINS)
    {
      /* As systemd's User= with capabilities: permitted ones survive. */
      if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresuid (65534, 65534, 65534) < 0)
        return FAILED ();
    }
  cap_free (before);
  before = cap_get_proc ();
  if (plugins)
    privs_for_plugins ();
  lympho_error_t err = { 0 };
  if (privs_drop (&err) < 0)
    {
      fprintf (stderr, "privs_drop: %s\n", err.msg);
      return FAILED ();
    }
  cap_t after = cap_get_proc ();
  for (cap_value_t v = 0; CAP_IS_SUPPORTED (v); v++)
    {
      bool is_kept = false;
      for (size_t i = 0; i < n_kept; i++)
        is_kept |= kept[i] == v;
      bool for_plugins = plugins && v == CAP_DAC_OVERRIDE;
      bool for_parser = v == CAP_SETUID || v == CAP_SETGID;
      bool held = cap_in (before, v, CAP_PERMITTED);
      if (!is_kept && !for_plugins && !for_parser
          && (cap_in (after, v, CAP_PERMITTED) || cap_in (after, v, CAP_EFFECTIVE) || cap_in (after, v, CAP_INHERITABLE)))
        return FAILED ();
      /* Kept for the parser process's fork alone: permitted, never
       * effective nor inheritable (a plugin never gets them). */
      if (for_parser && held
          && !(cap_in (after, v, CAP_PERMITTED) && !cap_in (after, v, CAP_EFFECTIVE) && !cap_in (after, v, CAP_INHERITABLE)))
        return FAILED ();
      if (for_parser && !held && (cap_in (after, v, CAP_PERMITTED) || cap_in (after, v, CAP_EFFECTIVE)))
        return FAILED ();
      if (for_parser && had_setpcap && cap_get_bound (v) != 1)
        return FAILED ();
      if (is_kept && held && !(cap_in (after, v, CAP_PERMITTED) && cap_in (after, v, CAP_EFFECTIVE)))
        return FAILED ();
      /* Kept for plugins, never used by lymphd itself. */
      if (for_plugins && held
          && !(cap_in (after, v, CAP_PERMITTED) && cap_in (after, v, CAP_INHERITABLE) && !cap_in (after, v, CAP_EFFECTIVE)))
        return FAILED ();
      if (!is_kept && !for_plugins && !for_parser && mode != DROP_USER_PLUGINS && mode != DROP_NOBODY && had_setpcap
          && cap_get_bound (v) != 0)
        return FAILED ();
      if (for_plugins && had_setpcap && cap_get_bound (v) != 1)
        return FAILED ();
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, v, 0, 0) == 1)
        return FAILED ();
    }
  if (prctl (PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
    return FAILED ();

  /* What a plugin started now gets: lymphd's capabilities, and
   * CAP_DAC_OVERRIDE only with an exec: runtime. */
  uint64_t child = exec_child_caps ();
  uint64_t dac = 1ull << CAP_DAC_OVERRIDE, admin = 1ull << CAP_SYS_ADMIN;
  if (child == UINT64_MAX)
    return FAILED ();
  if (!plugins && (child & dac))
    return FAILED ();
  if (plugins && cap_in (before, CAP_DAC_OVERRIDE, CAP_PERMITTED) && (child & (dac | admin)) != (dac | admin))
    return FAILED ();
  if (mode == DROP_NOBODY && child != 0)
    return FAILED ();
  for (cap_value_t v = 0; CAP_IS_SUPPORTED (v); v++)
    if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, v, 0, 0) == 1)
      return FAILED ();
  /* What the parser process's fork does: raise the two, held or not. */
  bool parser_held = cap_in (before, CAP_SETUID, CAP_PERMITTED) && cap_in (before, CAP_SETGID, CAP_PERMITTED);
  if (privs_parser_raise () != parser_held)
    return FAILED ();
  cap_t raised = cap_get_proc ();
  if (parser_held && !(cap_in (raised, CAP_SETUID, CAP_EFFECTIVE) && cap_in (raised, CAP_SETGID, CAP_EFFECTIVE)))
    return FAILED ();
  cap_free (raised);
  cap_free (before);
  cap_free (after);
  return 0;
}

static void
run_in_child (enum drop_mode mode)
{
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (check_drop_in_child (mode));
  int status;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) != 0)
    fail_msg ("privs check (mode %d) failed in the child (see above)", (int) mode);
}

static void
test_privs (void **state)
{
  (void) state;
  assert_string_equal (privs_capability_names (), "CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE");
  assert_string_equal (privs_plugin_capability_names (), "CAP_DAC_OVERRIDE");
  size_t n;
  const int *caps = privs_capabilities (&n);
  assert_int_equal (n, 3);
  assert_int_equal (caps[0], CAP_NET_ADMIN);
  run_in_child (DROP_ROOT);
  run_in_child (DROP_ROOT_PLUGINS);
  if (geteuid () == 0)
    {
      run_in_child (DROP_NOBODY); /* no capabilities at all: still succeeds */
      run_in_child (DROP_USER_PLUGINS);
    }
}

/* The shipped example lists every key with its default, commented out:
 * uncommented, it must load and give exactly the built-in defaults. */
static void
test_example_file (void **state)
{
  (void) state;
  cleanup_free char *example = NULL;
  if (read_file (TEST_DATA_DIR "/../../contrib/lymphd.conf.example", 1 << 20, &example, NULL, NULL) < 0)
    skip ();
  struct buf b;
  buf_init (&b);
  size_t keys = 0;
  for (char *line = example; *line;)
    {
      char *nl = strchrnul (line, '\n');
      /* "#key = value" is a default; "# text" is prose. */
      bool setting = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z';
      if (setting)
        keys++;
      buf_append (&b, line + setting, (size_t) (nl - line - setting));
      buf_appends (&b, "\n");
      line = *nl ? nl + 1 : nl;
    }
  cleanup_free char *path = write_conf ("example.conf", b.data);
  buf_free (&b);
  assert_true (keys >= 18);

  /* Load the example, then reload with no file (built-in defaults): every
   * setting is compared, so any difference shows in the changed bits. */
  struct config c;
  lympho_error_t err = { 0 };
  config_init (&c);
  assert_int_equal (parse (&c, &err, "--config", path, NULL), 0);
  if (config_load (&c, &err) < 0)
    fail_msg ("%s", err.msg);
  free (c.config_path);
  c.config_path = xasprintf ("%s/absent.conf", tmpdir);
  c.config_explicit = false;
  assert_int_equal (config_reload (&c, &err), 0);
  config_free (&c);
}

/* The unit may grant no more than the code keeps, and the code must not
 * rely on more than the unit grants: the two lists are one. */
static void
test_unit_capabilities (void **state)
{
  (void) state;
  cleanup_free char *unit = NULL;
  if (read_file (TEST_DATA_DIR "/../../systemd/lymphd.service.in", 1 << 20, &unit, NULL, NULL) < 0)
    skip ();
  const char *key = "\nCapabilityBoundingSet=";
  const char *p = strstr (unit, key);
  assert_non_null (p);
  p += strlen (key);
  cleanup_free char *value = xstrndup (p, strcspn (p, "\n"));
  assert_string_equal (value, privs_bounding_names ());
  /* The comment shows plugin users the drop-in line that adds the rest. */
  cleanup_free char *dropin = xasprintf ("\n#   CapabilityBoundingSet=%s\n", privs_plugin_capability_names ());
  assert_non_null (strstr (unit, dropin));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),      cmocka_unit_test (test_args),
    cmocka_unit_test (test_bad_args),      cmocka_unit_test (test_help_version),
    cmocka_unit_test (test_file_and_precedence), cmocka_unit_test (test_file_errors),
    cmocka_unit_test (test_cross_and_env_errors), cmocka_unit_test (test_reload),
    cmocka_unit_test (test_listen_repeatable), cmocka_unit_test (test_notify),        cmocka_unit_test (test_watchdog_usec),
    cmocka_unit_test (test_privs),         cmocka_unit_test (test_example_file),
    cmocka_unit_test (test_unit_capabilities),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
