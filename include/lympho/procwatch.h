/* lympho — the kernel's process-events connector (netlink, CN_IDX_PROC),
 * mapping each exec to its container.
 *
 * One non-blocking netlink socket on the daemon's loop; no thread, no
 * polling. For every exec the kernel reports, the process's mount namespace
 * is compared with pid 1's (one readlink): host processes stop there. Others
 * have /proc/<pid>/cgroup read and are dropped when it names no container.
 * Under a storm the socket is left unwatched for 4 ms after each batch so
 * events are read in batches, not one wake-up each. For a container process
 * the executable (readlink /proc/<pid>/exe, a path inside the container's
 * mount namespace) and argv[0] are read and handed to on_exec.
 *
 * Needs: the host's pid namespace and procfs, CAP_NET_ADMIN (to subscribe),
 * CAP_SYS_PTRACE (to read /proc/<pid>/exe of container processes whose
 * capabilities are not a subset of ours).
 *
 * What it cannot see: a process that exits and is reaped before its /proc
 * entry is read (a few tens of microseconds after the exec) is counted in
 * stats.unattributed and not reported; a lost burst (ENOBUFS) is reported
 * through on_overrun, and the daemon rescans (procwatch_scan), as it does
 * on a timer for what no event tells: a forked child that never execs, a
 * process whose exec was told before its program could be read. */
#ifndef LYMPHO_PROCWATCH_H
#define LYMPHO_PROCWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lympho/error.h"
#include "lympho/loop.h"
#include "lympho/proctree.h"

#define PROCWATCH_ID_LEN 64

struct proc_exec
{
  pid_t pid;                  /* thread group id, in the host pid namespace */
  char container_id[PROCWATCH_ID_LEN + 1]; /* full id, lower-case hex */
  /* Both NULL when unreadable (the process already exited); valid only during
   * the callback. busybox applets all resolve to the same exe: argv0 says
   * which applet ran. */
  const char *exe;
  const char *argv0;
  uint64_t exec_ns;           /* the kernel's CLOCK_MONOTONIC stamp of the exec */
  uint64_t read_ns;           /* CLOCK_MONOTONIC when lympho read the event */
  bool scanned;               /* found by procwatch_scan, not told by an exec event */
  bool have_seen;             /* seen read: its parent then, its start */
  struct proc_seen seen;
  bool have_exe_dev;          /* exe_dev read: the device of the file it runs */
  dev_t exe_dev;
};

struct procwatch_callbacks
{
  void (*on_exec) (void *ud, const struct proc_exec *ev);
  /* Events were lost (receive buffer overrun, socket error and reopen):
   * rescan the processes (procwatch_scan). */
  void (*on_overrun) (void *ud);
  void *ud;
};

struct procwatch_stats
{
  uint64_t messages;        /* connector messages received */
  uint64_t execs;           /* exec events */
  uint64_t host_execs;      /* of which in pid 1's mount namespace (skipped) */
  uint64_t container_execs; /* of which in a container (reported) */
  uint64_t unattributed;    /* /proc/<pid> gone before it could be read */
  uint64_t overruns;        /* ENOBUFS seen */
  uint64_t reopens;         /* socket reopened after an error */
  uint64_t wakeups;         /* times the loop called us */
  uint64_t other_events;    /* not exec: 0 where the kernel filters (>= 6.6) */
  uint64_t scans;           /* procwatch_scan runs */
  uint64_t scanned;         /* processes they looked at */
};

struct procwatch;

/* Open the socket, subscribe and register on l. Fails with -EPERM without
 * CAP_NET_ADMIN. cb is copied. */
int procwatch_open (struct loop *l, const struct procwatch_callbacks *cb, struct procwatch **out,
                    lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Unsubscribe, unregister from the loop and free. NULL is harmless. */
void procwatch_close (struct procwatch *pw);
void procwatch_get_stats (const struct procwatch *pw, struct procwatch_stats *out);
/* Look at every process now running (at most max) and report each of a
 * container through on_exec, as an exec event would (ev->scanned set):
 * what events missed (a lost burst, a process whose exec was told before
 * it could be read, a fork that never execs) is found this way. Returns
 * how many were a container's. */
size_t procwatch_scan (struct procwatch *pw, size_t max);

/* Pure: the container named by the text of a /proc/<pid>/cgroup file.
 * Returns 1 and fills out_id (64 hex + NUL) when a line's path has a
 * component that is a container id: a bare 64-hex component
 * ("/docker/<id>", "/kubepods/.../pod<uid>/<id>") or one of docker-, libpod-,
 * cri-containerd-, crio-, containerd- followed by 64 hex, with or without a
 * ".scope" suffix. Conmon's "libpod-conmon-<id>.scope" is not a container.
 * The unified ("0::") line wins over v1 lines; within a path the outermost
 * id wins (the one the node's engine knows when engines nest).
 * Returns 0 when no line names a container, -EINVAL when a line is not
 * "<hierarchy>:<controllers>:/<path>". */
int procwatch_container_of_cgroup (const char *cgroup_text, char out_id[PROCWATCH_ID_LEN + 1]);

#endif
