/* lympho — the capabilities lymphd keeps, and dropping everything else.
 * These arrays are the only lists; the systemd unit's CapabilityBoundingSet
 * must match privs_bounding_names(), and its comment names the drop-in
 * that adds privs_plugin_capability_names() for runtime plugins.
 * May call: libcap: a leaf. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/privs.h"
#include "lympho/util.h"

struct kept_cap
{
  cap_value_t cap;
  const char *name;
};

static const struct kept_cap kept[] = {
  /* Isolate an infected container's network (netlink route/link changes)
   * and subscribe to kernel process events (proc connector). */
  { CAP_NET_ADMIN, "CAP_NET_ADMIN" },
  /* setns() into a container's network namespace to find its veth peer;
   * fanotify marks on a container's root filesystem (the exec guard). */
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
  /* Open /proc/PID/ns/net of a container process we did not start. */
  { CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },
};
#define N_KEPT (sizeof kept / sizeof kept[0])

/* Kept permitted, never effective, and not inheritable: only the forked
 * child that becomes the parser process raises them, to take uid and gid
 * 65534 before it executes (parser.h). */
static const struct kept_cap for_parser[] = {
  { CAP_SETUID, "CAP_SETUID" },
  { CAP_SETGID, "CAP_SETGID" },
};
#define N_PARSER (sizeof for_parser / sizeof for_parser[0])

/* Used before the drop only, never kept: loading the exec guard's kernel
 * judge, a BPF LSM program (CAP_SYS_ADMIN, kept, covers CAP_BPF and
 * CAP_PERFMON; an LSM program also needs this). The unit's bounding set
 * holds them with the kept ones. */
static const struct kept_cap at_start[] = {
  { CAP_MAC_ADMIN, "CAP_MAC_ADMIN" },
};
#define N_AT_START (sizeof at_start / sizeof at_start[0])

/* Only with an exec: runtime, and only for its plugins: lymphd holds these
 * permitted and inheritable but never effective, so that the plugin it
 * spawns gets them (lympho-runtime-plugin(7), PRIVILEGES). */
static const struct kept_cap for_plugins[] = {
  /* ctr mounts the image's snapshot on every container create, and the
   * containerd plugin reads containers' writable layers for `changes`. */
  { CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE" },
};
#define N_PLUGINS (sizeof for_plugins / sizeof for_plugins[0])
static bool plugins;

/* "CAP_A CAP_B ...": the names of a table, as the unit file lists them. */
static void
join_names (const struct kept_cap *v, size_t n, char *out, size_t size)
{
  size_t off = 0;
  for (size_t i = 0; i < n && off < size; i++)
    off += (size_t) snprintf (out + off, size - off, "%s%s", i ? " " : "", v[i].name);
}

const char *
privs_capability_names (void)
{
  static char names[128];
  if (names[0] == '\0')
    join_names (kept, N_KEPT, names, sizeof names);
  return names;
}

const char *
privs_bounding_names (void)
{
  static char names[192];
  if (names[0] == '\0')
    {
      join_names (kept, N_KEPT, names, sizeof names);
      size_t off = strlen (names);
      snprintf (names + off, sizeof names - off, " ");
      join_names (for_parser, N_PARSER, names + off + 1, sizeof names - off - 1);
      off = strlen (names);
      snprintf (names + off, sizeof names - off, " ");
      join_names (at_start, N_AT_START, names + off + 1, sizeof names - off - 1);
    }
  return names;
}

const int *
privs_capabilities (size_t *n)
{
  static int values[N_KEPT];
  for (size_t i = 0; i < N_KEPT; i++)
    values[i] = kept[i].cap;
  *n = N_KEPT;
  return values;
}

const char *
privs_plugin_capability_names (void)
{
  static char names[128];
  if (names[0] == '\0')
    join_names (for_plugins, N_PLUGINS, names, sizeof names);
  return names;
}

void
privs_for_plugins (void)
{
  plugins = true;
}

static bool
is_kept (cap_value_t c)
{
  for (size_t i = 0; i < N_KEPT; i++)
    if (kept[i].cap == c)
      return true;
  for (size_t i = 0; plugins && i < N_PLUGINS; i++)
    if (for_plugins[i].cap == c)
      return true;
  for (size_t i = 0; i < N_PARSER; i++)
    if (for_parser[i].cap == c)
      return true;
  return false;
}

static void
cleanup_capp (cap_t *c)
{
  if (*c)
    cap_free (*c);
}
#define cleanup_cap __attribute__ ((cleanup (cleanup_capp)))

bool
privs_parser_raise (void)
{
  struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct d[2];
  if (syscall (SYS_capget, &h, d) < 0)
    return false;
  for (size_t i = 0; i < N_PARSER; i++)
    {
      unsigned c = (unsigned) for_parser[i].cap;
      if (!(d[c / 32].permitted & (1u << (c % 32))))
        return false;
      d[c / 32].effective |= 1u << (c % 32);
    }
  return syscall (SYS_capset, &h, d) == 0;
}

int
privs_drop (lympho_error_t *err)
{
  cleanup_cap cap_t cur = cap_get_proc ();
  if (cur == NULL)
    return lympho_error_set_errno (err, errno, "read capabilities");

  /* Keep only what we hold: without root there is nothing to keep, and that
   * is fine for tests and unprivileged trial runs. */
  cap_value_t keep[N_KEPT + N_PLUGINS + N_PARSER];
  bool effective[N_KEPT + N_PLUGINS + N_PARSER];
  bool inheritable[N_KEPT + N_PLUGINS + N_PARSER];
  int n_keep = 0;
  for (size_t i = 0; i < N_KEPT + (plugins ? N_PLUGINS : 0); i++)
    {
      bool own = i < N_KEPT;
      cap_value_t c = own ? kept[i].cap : for_plugins[i - N_KEPT].cap;
      cap_flag_value_t v = CAP_CLEAR;
      if (cap_get_flag (cur, c, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
        {
          effective[n_keep] = own;
          inheritable[n_keep] = true;
          keep[n_keep++] = c;
        }
      else
        log_debug ("privileges: %s not held, continuing without it",
                   own ? kept[i].name : for_plugins[i - N_KEPT].name);
    }
  for (size_t i = 0; i < N_PARSER; i++)
    {
      cap_flag_value_t v = CAP_CLEAR;
      if (cap_get_flag (cur, for_parser[i].cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
        {
          effective[n_keep] = false;
          inheritable[n_keep] = false;
          keep[n_keep++] = for_parser[i].cap;
        }
    }

  /* The bounding set needs CAP_SETPCAP, so it goes before we drop that. */
  cap_flag_value_t setpcap = CAP_CLEAR;
  cap_get_flag (cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
  if (setpcap == CAP_SET)
    {
      for (cap_value_t c = 0; CAP_IS_SUPPORTED (c); c++)
        {
          if (is_kept (c) || cap_get_bound (c) != 1)
            continue;
          if (cap_drop_bound (c) < 0)
            return lympho_error_set_errno (err, errno, "drop capability %d from the bounding set", (int) c);
        }
    }
  else
    log_debug ("privileges: no CAP_SETPCAP, bounding set left as it is");

  /* Clearing the ambient set needs no privilege; EINVAL means a kernel
   * older than ambient capabilities, which has none to clear. */
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return lympho_error_set_errno (err, errno, "clear ambient capabilities");

  cleanup_cap cap_t want = cap_init ();
  if (want == NULL)
    return lympho_error_set_errno (err, errno, "cap_init");
  for (int i = 0; i < n_keep; i++)
    {
      if (cap_set_flag (want, CAP_PERMITTED, 1, &keep[i], CAP_SET) < 0
          || (effective[i] && cap_set_flag (want, CAP_EFFECTIVE, 1, &keep[i], CAP_SET) < 0))
        return lympho_error_set_errno (err, errno, "build capability set");
      /* The kernel refuses an inheritable cap outside the bounding set. */
      if (inheritable[i] && cap_get_bound (keep[i]) == 1
          && cap_set_flag (want, CAP_INHERITABLE, 1, &keep[i], CAP_SET) < 0)
        return lympho_error_set_errno (err, errno, "build capability set");
    }
  if (cap_set_proc (want) < 0)
    return lympho_error_set_errno (err, errno, "set capabilities");

  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return lympho_error_set_errno (err, errno, "set no_new_privs");
  log_debug ("privileges: kept %d of: %s%s%s", n_keep, privs_capability_names (),
             plugins ? "; for plugins, not effective: " : "", plugins ? privs_plugin_capability_names () : "");
  return 0;
}

void
privs_plugin_ambient (bool raise)
{
  /* Root's children get the bounding set on exec anyway; a lymphd that
   * runs as another user passes capabilities on only through the ambient
   * set, which needs them permitted and inheritable. Capabilities are per
   * thread and posix_spawn runs the child from the calling one. */
  if (!raise)
    {
      prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
      return;
    }
  cleanup_cap cap_t cur = cap_get_proc ();
  if (cur == NULL)
    return;
  for (cap_value_t c = 0; CAP_IS_SUPPORTED (c); c++)
    {
      cap_flag_value_t p = CAP_CLEAR, i = CAP_CLEAR;
      if (!is_kept (c) || cap_get_flag (cur, c, CAP_PERMITTED, &p) < 0 || cap_get_flag (cur, c, CAP_INHERITABLE, &i) < 0
          || p != CAP_SET || i != CAP_SET)
        continue;
      /* EINVAL: a kernel without ambient capabilities; nothing to do. */
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EINVAL)
        log_debug ("privileges: cannot pass capability %d to plugins: %s", (int) c, strerror (errno));
    }
}
