/* lympho — who started a process inside a container: its own workload, or
 * the engine (docker exec, a healthcheck, nsenter from the host).
 *
 * Judged positively: a process is the engine's only when an ancestor,
 * before the container's init is reached, is seen in another mount
 * namespace than the container's. Anything that cannot be read on the way
 * (a process that exited, a main thread gone through pthread_exit, a
 * namespace link that no longer resolves) counts as the workload: a
 * detector must fail closed. Each process on the way is read once, through
 * a /proc/<pid> directory descriptor. */
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

/* True when `pid` was started through the engine; init_pid is the
 * container's main process, ns its mount namespace. init_pid <= 0 or an
 * unknown namespace: false (judged). */
bool proctree_started_by_engine (int pid, int init_pid, const struct proc_ns *ns);

/* The parent of the process whose /proc directory is dirfd: > 0, or -errno. */
int proctree_ppid_at (int dirfd);

#endif
