/* lympho — who started a process inside a container: its own workload, or
 * the engine (docker exec, a healthcheck, nsenter from the host).
 *
 * Judged positively: a process is the engine's only when an ancestor,
 * before the container's init is reached, is seen in the engine's mount
 * namespace: that of the init's own parent (the engine's shim, conmon),
 * where runc and the shim start `docker exec` and health checks. An
 * ancestor in a namespace of its own inside the container (`unshare -m`)
 * is the workload's. An ancestor that has exited has no namespace left
 * (runc's leader, a zombie for the moment its other threads take to end,
 * right after `docker exec` started its process; a main thread gone
 * through pthread_exit): its own parent tells, since exiting changes no
 * one's ancestry. A parent gone meanwhile is looked for again (the child
 * was reparented). Anything else that cannot be read on the way counts as
 * the workload: a detector must fail closed. Each process on the way is
 * read once, through a /proc/<pid> directory descriptor; a parent that
 * started after its child is a pid used again, not the parent. */
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

bool proctree_ns_eq (const struct proc_ns *a, const struct proc_ns *b);

/* The engine's mount namespace for a container whose main process is
 * init_pid: its parent's. 0, or -errno. */
int proctree_engine_ns (int init_pid, struct proc_ns *out);

/* The mount namespaces of pid's ancestors, nearest first, up to max or to
 * one that cannot be read. Returns how many. */
size_t proctree_ancestor_ns (int pid, struct proc_ns *out, size_t max);

/* True when `pid` was started through the engine; init_pid is the
 * container's main process, engine its engine's namespace
 * (proctree_engine_ns). init_pid <= 0 or no namespace: false (judged). */
bool proctree_started_by_engine (int pid, int init_pid, const struct proc_ns *engine);

/* The parent of the process whose /proc directory is dirfd: > 0, or -errno. */
int proctree_ppid_at (int dirfd);

/* What /proc/<pid>/stat says of a process, read while it lived. */
struct proc_seen
{
  int ppid;
  char state;             /* 'R', 'S', ... 'Z' (exited, not reaped) */
  unsigned long long start; /* clock ticks after boot when it started */
};

/* Parse a /proc/<pid>/stat line: 0, or -EIO. */
int proctree_stat_parse (const char *line, struct proc_seen *out);

/* As proctree_started_by_engine, for a process seen when its exec was told
 * (an exec detector reads after the fact): walked from as it is now while
 * it is still that process (same start), else from the parent it had then.
 * A program that ran and exited at once, from a shell `docker exec`
 * started, is still the engine's. */
bool proctree_started_by_engine_seen (int pid, const struct proc_seen *seen, int init_pid,
                                      const struct proc_ns *engine);

/* One line of /proc/<pid>/mountinfo, parsed in place: the strings point
 * into the line, the mount point with its octal escapes decoded. */
struct proc_mount
{
  unsigned long id;
  char *point;   /* as the process sees it, from its root */
  char *options; /* the mount's own: rw, noexec, ... */
  char *fstype;
};

/* -EINVAL when the line is not a mountinfo line. */
int proctree_mount_parse (char *line, struct proc_mount *out);

/* A mount of a container that a program could be run from, besides its
 * root: a volume, a bind, a tmpfs. Not the root itself, nothing under
 * /proc or /sys, no kernel filesystem (proc, sysfs, cgroup, devpts,
 * mqueue, ...), nothing mounted noexec. */
bool proctree_mount_runnable (const struct proc_mount *m);

#endif
