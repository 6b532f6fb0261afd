/* lympho — what the exec guard's kernel judge (execguard.bpf.c) and lymphd
 * (execguard-bpf.c) share: the maps' keys and values, the counters, the
 * reports. Fixed-size types only: both sides are compiled from this. */
#ifndef LYMPHO_EXECGUARD_BPF_H
#define LYMPHO_EXECGUARD_BPF_H

#define KJ_MAX_RULES 4096
#define KJ_MAX_ALLOW 131072
#define KJ_MAX_NAMES 8192
#define KJ_RING_BYTES (256 * 1024)
/* Ancestors looked at for a guarded namespace, and for the engine's. */
#define KJ_MAX_ANCESTORS 16
#define KJ_MAX_ENGINE_DEPTH 64
/* A name allowed by the list, as the container sees it, fits this. */
#define KJ_NAME_MAX 252
#define KJ_PATH_MAX 4000

enum
{
  KJ_MODE_DENY = 1,
  KJ_MODE_DETECT = 2,
};

/* A guarded container, by its mount namespace's inode number. */
struct kj_rule
{
  __u32 slot;      /* lymphd's number for it, in every other key */
  __u32 mode;      /* KJ_MODE_* */
  __u32 init_pid;  /* its main process, in the host's pid namespace */
  __u32 engine_ns; /* the engine's mount namespace (its init's parent's); 0: none */
  __u32 has_names; /* it allows some files by name */
  __u32 pad;
  __u64 asked;     /* program starts judged (the program's to count) */
};

/* A file of a rule's list; dev as the kernel keeps it (major << 20 | minor). */
struct kj_ident
{
  __u32 slot;
  __u32 dev;
  __u64 ino;
};

struct kj_attr
{
  __s64 size;
  __s64 mtime_ns;
  __s64 ctime_ns;
};

struct kj_file
{
  __u32 dev;
  __u32 pad;
  __u64 ino;
};

struct kj_name
{
  __u32 slot;
  char path[KJ_NAME_MAX];
};

enum
{
  KJ_C_CALLS,    /* program starts seen, anywhere */
  KJ_C_ALLOWED,  /* in a guarded container, on its list */
  KJ_C_DENIED,
  KJ_C_DETECTED,
  KJ_C_ENGINE,   /* started through the engine */
  KJ_C_LOST,     /* reports (or changed marks) that found no room */
  KJ_N_COUNTERS,
};

enum
{
  KJ_REPORT_DENIED = 1,
  KJ_REPORT_DETECTED = 2,
};

struct kj_report
{
  __u32 kind;
  __s32 pid;
  __u32 slot;
  __u32 mntns;
  char path[KJ_PATH_MAX];
};

#endif
