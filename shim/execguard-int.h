/* lympho — inside the exec guard: what execguard.c and its kernel judge
 * (execguard-bpf.c) share. */
#ifndef LYMPHO_EXECGUARD_INT_H
#define LYMPHO_EXECGUARD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lympho/error.h"

struct loop;

/* A file as it was when its container was guarded. */
struct ident
{
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns, ctime_ns;
};

/* The kernel judge: a BPF LSM program that judges a guarded container's
 * program starts in the exec's own path (execguard.bpf.c). */
struct kjudge;

enum kjudge_verdict
{
  KJUDGE_DENIED = 1,
  KJUDGE_DETECTED = 2,
};

/* A program start it refused (or, detecting, reported): slot is that
 * given to kjudge_set, path as the container sees it ("" unknown). */
typedef void (*kjudge_report_cb) (void *ud, enum kjudge_verdict v, uint32_t slot, int pid, const char *path);

/* Load and attach the program, then check that the kernel runs it (a
 * program start of lymphd's own must reach it): while lymphd still holds
 * every privilege (CAP_BPF, CAP_PERFMON and CAP_MAC_ADMIN, or root's).
 * -ENOSYS with a message when lymphd was built without libbpf or the
 * kernel runs no BPF LSM program; -errno otherwise. */
int kjudge_load (struct kjudge **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Its reports to cb, from the main loop (no privilege needed). */
int kjudge_start (struct kjudge *k, struct loop *loop, kjudge_report_cb cb, void *ud,
                  lympho_error_t *err) LYMPHO_MUST_CHECK;
void kjudge_close (struct kjudge *k);

/* The rule of the container whose mount namespace is mntns: judge its
 * program starts (deny: refuse, else report) against the files v (sorted
 * or not) and the names (as the container sees them). Replaces whatever
 * mntns had. -E2BIG when a name is too long or the maps are full, -errno
 * otherwise; nothing of it is left in the kernel then. */
int kjudge_set (struct kjudge *k, uint32_t slot, uint64_t mntns, bool deny, int init_pid, uint64_t engine_ns,
                const struct ident *v, size_t n, char *const *names, size_t n_names,
                lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Forget what kjudge_set put for slot (with the same files and names);
 * the namespace's rule only while it is still slot's. */
void kjudge_unset (struct kjudge *k, uint32_t slot, uint64_t mntns, const struct ident *v, size_t n,
                   char *const *names, size_t n_names);
/* Program starts of mntns's rule judged so far. */
uint64_t kjudge_asked (struct kjudge *k, uint64_t mntns);

struct kjudge_counts
{
  uint64_t calls, allowed, denied, detected, engine, lost;
};
void kjudge_counts (struct kjudge *k, struct kjudge_counts *out);

#endif
