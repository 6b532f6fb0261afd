/* lympho — the exec guard: a program outside a protected container's allow
 * list is refused by the kernel before its first instruction runs
 * (fanotify FAN_OPEN_EXEC_PERM, Linux >= 5.0, CAP_SYS_ADMIN).
 *
 * Where marks go, and nowhere else: the container's own root filesystem,
 * its overlay superblock, reached through /proc/<init pid>/root and marked
 * through that very descriptor after checking, in this code, that it is an
 * overlay and that its device is not the host's root's. A mark on a
 * filesystem the host uses would make every exec on the host wait on
 * lymphd: such a root is refused and the container stays in detect mode.
 *
 * Answers come from one thread of the guard's own that takes no lock the
 * main loop may hold for long, calls neither the engine nor the journal,
 * and allocates nothing: it judges the file being executed, by the
 * descriptor the kernel hands over (device, inode, size, modification and
 * change times against those of the allowed files resolved inside the
 * container when it was marked), so a file copied over an allowed path no
 * longer matches. Processes started through the engine are allowed
 * (proctree.h). What it denied reaches the main loop through a pipe, never
 * blocking the thread (a full pipe drops the report and counts it).
 *
 * A watchdog on the main loop drops the whole group when one answer takes
 * longer than EXECGUARD_STALL_MS: the kernel then allows what waits and
 * removes every mark, and each container goes back to detection. When
 * lymphd exits or dies the same happens: the guard fails open at that edge,
 * bounded by the service manager restarting lymphd. */
#ifndef LYMPHO_EXECGUARD_H
#define LYMPHO_EXECGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lympho/error.h"

struct loop;
struct execguard;

#define EXECGUARD_STALL_MS 2000

enum execguard_report_kind
{
  EXECGUARD_DENIED = 1, /* refused: a program outside the list */
  EXECGUARD_LEARNED,    /* ran while its container's list is learned */
  EXECGUARD_DETECTED,   /* outside the list, allowed (detect mode) */
};

/* One report, sent whole through a pipe (smaller than PIPE_BUF). */
struct execguard_report
{
  uint32_t kind;
  int32_t pid;
  char id[72];          /* the container id given to execguard_protect */
  char path[3840];      /* as the container sees it; cut when longer */
};

typedef void (*execguard_report_cb) (void *ud, const struct execguard_report *r);

enum execguard_mode
{
  EXECGUARD_MODE_DENY,   /* permission events: outside the list is refused */
  EXECGUARD_MODE_LEARN,  /* notification events: every program is reported */
  EXECGUARD_MODE_DETECT, /* permission events: outside the list is reported while its process waits, then allowed */
};

/* Before lymphd drops its privileges: let the answering thread run at
 * real-time priority 1 (SCHED_FIFO) once they are dropped. A program start
 * in a guarded container waits for that thread: on a busy host, a thread at
 * normal priority waits for a CPU far longer than it takes to answer.
 * RLIMIT_RTPRIO is raised to 1 where it can be (the unit's LimitRTPRIO=
 * gives it); else, with CAP_SYS_NICE, the main thread itself takes that
 * priority until execguard_prepared, so that the thread execguard_open
 * starts inherits it. */
void execguard_prepare (void);
/* After execguard_open (whatever it returned): the main thread back to
 * normal priority. */
void execguard_prepared (void);

/* -ENOSYS (or the kernel's errno) with a message saying why when the
 * kernel or lymphd's privileges do not allow permission events. */
int execguard_open (struct loop *loop, execguard_report_cb cb, void *ud, struct execguard **out,
                    lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Stops the thread and closes the group: every mark goes with it. */
void execguard_close (struct execguard *g);

/* What execguard_protect marked. */
struct execguard_marked
{
  size_t files;         /* the files the list came to, with their interpreters */
  size_t mounts;        /* volumes, binds and tmpfs marked besides the root */
  size_t mounts_left;   /* such mounts that could not be marked */
  size_t not_pinned;    /* listed files whose contents are not what their sha256 pins */
};

/* Guard the container `id` whose main process is `pid`: resolve the
 * allowed paths inside its root (with the interpreters they need: an ELF's
 * PT_INTERP, a script's #! line), then mark its root filesystem, and each
 * of its own mounts a program can be run from (volumes, binds, tmpfs:
 * proctree_mount_runnable) with a mount mark, reached through its root and
 * checked to be that very mount of the container's own namespace. A path
 * that names no file in the container then is allowed by its name alone.
 * An entry PATH@sha256:HEX allows that file only when its contents hash
 * to HEX (checked once, when marked: the file's identity then stands for
 * its contents), never by name. Replaces what `id` had. *marked (may be
 * NULL): what was marked. -errno with a message when its root cannot be
 * marked (not an overlay, the host's device, gone); nothing is marked
 * then. */
int execguard_protect (struct execguard *g, const char *id, int pid, enum execguard_mode mode, char *const *allow,
                       size_t n_allow, struct execguard_marked *marked, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The SHA-256 of what fd holds, as 64 lower-case hex digits. -errno. */
int execguard_sha256_fd (int fd, char hex[65]) LYMPHO_MUST_CHECK;
/* Look again at the mounts of every guarded container and mark those it
 * made since (main loop; lymphd does it every 10 s), lymphd's own mount
 * table read once for all. */
void execguard_refresh (struct execguard *g);
/* Forget `id`; its mark is removed while its process still runs. */
void execguard_release (struct execguard *g, const char *id);
/* Whether a program of `id` from the device dev (its file's st_dev),
 * started at exec_ns (CLOCK_MONOTONIC), was judged by the guard as it
 * started: its root was marked for deny or detect by then, and the guard
 * still works. The exec detector, reading after the fact, leaves those to
 * the guard (main loop). */
bool execguard_judges (struct execguard *g, const char *id, dev_t dev, uint64_t exec_ns);
/* Of the rule of `id` (main loop): the permission events of its programs
 * answered, how many of its files' answers the kernel keeps (a read-only
 * root: those ask no more), and its mounts marked besides its root. false
 * when the guard has no rule for it. */
bool execguard_counts (struct execguard *g, const char *id, uint64_t *asked, unsigned *kept, size_t *mounts);

/* Who judges guarded containers' program starts in deny and detect mode:
 * "bpf-lsm", the kernel judge (a BPF LSM program, judging in the exec's
 * own path: nothing waits on lymphd), or "fanotify" (permission events
 * answered by the guard's thread), with *why it is not the kernel judge.
 * Learning is always through fanotify's notification events. */
const char *execguard_judge (struct execguard *g, const char **why);

/* NULL while the guard works; why it stopped otherwise (the watchdog). */
const char *execguard_problem (struct execguard *g);

/* Answers' durations: four buckets to each power of two of microseconds,
 * up to 2^24 us (the last bucket holds the rest). */
#define EXECGUARD_HIST 92
unsigned execguard_hist_bucket (uint64_t us);
/* The bucket's values are below this many microseconds. */
uint64_t execguard_hist_upper (unsigned b);
struct execguard_stats
{
  uint64_t allowed, denied, detected, engine, learned, unmatched, lost_reports;
  uint64_t cached; /* allowed files of read-only roots whose answer the kernel keeps */
  uint64_t pins_hashed; /* pinned files read and hashed (a generation of the same image: none again) */
  uint64_t max_answer_us; /* the slowest answer so far */
  uint64_t answer_errors; /* answers the kernel refused */
  int rt_error;           /* 0: the answering thread runs at real-time priority; else why not (errno) */
  uint64_t hist[EXECGUARD_HIST]; /* answers by duration (execguard_hist_bucket; the last: the rest) */
  bool kernel_judge;             /* the kernel judge is on */
  uint64_t kernel_judged;        /* program starts it judged (in the counts above, never in hist) */
};
void execguard_stats (struct execguard *g, struct execguard_stats *out);
/* An upper bound of the q-quantile (0..1] of the answers' durations, in
 * microseconds (its bucket's, within a quarter); 0 with no answer yet. */
uint64_t execguard_quantile_us (const struct execguard_stats *st, double q);

/* The interpreter a file needs to run: an ELF's PT_INTERP or a script's
 * "#!" program, into out (NUL-terminated). 0 when found, -ENOENT when the
 * file needs none (a static ELF, no "#!"), -EINVAL when it is malformed. */
int exec_interpreter (int fd, char *out, size_t outlen);

#endif
