/* lympho — who started a process inside a container: its own workload, or
 * the engine (docker exec, a healthcheck, nsenter from the host).
 *
 * Judged positively: a process is the engine's only when an ancestor,
 * before the container's init is reached, is seen in the host's mount
 * namespace (where the engine's shim and runc run). An ancestor in a
 * namespace of its own inside the container (`unshare -m`) is the
 * workload's. Anything that cannot be read on the way (a process that
 * exited, a main thread gone through pthread_exit, a namespace link that
 * no longer resolves) counts as the workload: a detector must fail closed.
 * Each process on the way is read once, through a /proc/<pid> directory
 * descriptor. */
#ifndef LYMPHO_PROCTREE_H
#define LYMPHO_PROCTREE_H

#include <stdbool.h>
#include <sys/types.h>

struct proc_ns
{
  dev_t dev;
  ino_t ino;
};

/* The mount namespace of pid: 0, or -errno when it cannot be read. */
int proctree_mntns (int pid, struct proc_ns *out);

/* The host's mount namespace: pid 1's, or lymphd's own where pid 1's cannot
 * be read. Read once, from the main thread, before any other thread asks
 * (proctree_started_by_engine reads it); a test may set its own. */
void proctree_init (void);
void proctree_set_host_ns (const struct proc_ns *ns);
const struct proc_ns *proctree_host_ns (void);
bool proctree_ns_eq (const struct proc_ns *a, const struct proc_ns *b);

/* The mount namespaces of pid's ancestors, nearest first, up to max or to
 * the first in the host's namespace (included) or one that cannot be read
 * (not included). Returns how many. */
size_t proctree_ancestor_ns (int pid, struct proc_ns *out, size_t max);

/* True when `pid` was started through the engine; init_pid is the
 * container's main process, ns its mount namespace. init_pid <= 0, an
 * unknown namespace or no host namespace known: false (judged). */
bool proctree_started_by_engine (int pid, int init_pid, const struct proc_ns *ns);

/* The parent of the process whose /proc directory is dirfd: > 0, or -errno. */
int proctree_ppid_at (int dirfd);

#endif
