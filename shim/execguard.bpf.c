/* lympho — the exec guard's kernel judge: a BPF LSM program (execguard.h).
 *
 * Where the kernel runs BPF LSM programs (CONFIG_BPF_LSM, "bpf" among the
 * active LSMs), lymphd loads this program and the judgement of a program
 * start in a guarded container happens here, in the exec's own path, with
 * nothing waiting on lymphd: no fanotify event, no answer, no watchdog.
 *
 * A program start (bprm_check_security, once per binary handler pass: a
 * script, then its interpreter) by a task whose mount namespace, or its
 * nearest ancestor's, is a guarded container's is allowed when
 *  - the file is one of its list (device, inode), unchanged: its size,
 *    modification and change times are those it had when the container
 *    was guarded (on an overlay the inode's are a copy of its upper
 *    file's, which the exec's own read of the file's first bytes, before
 *    this hook, brings up to date: a write through a shared mapping is
 *    seen), and no one has opened it for writing since (file_open, below:
 *    a rule that needs no clock's grain);
 *  - or its path, as the container sees it, is one the list names whose
 *    file did not exist when the container was guarded;
 *  - or the task was started through the engine (an ancestor in the
 *    engine's mount namespace before the container's main process), or
 *    is none of the container's (a rule whose container is gone: its
 *    namespace's number may be another's now).
 * Anything else is refused (-EPERM) in deny mode and allowed in detect
 * mode; either way one report goes to lymphd through a ring buffer.
 *
 * The maps are lymphd's to fill (shim/execguard-bpf.c); the program only
 * reads them, and writes the changed set, its counters and the reports.
 * It holds nothing: when lymphd exits, the program and its maps go. */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "execguard-bpf.h"

#define EPERM 1
#define FMODE_WRITE 0x2u
/* Multigrain timestamps (6.13) keep a flag in the change time's top bit. */
#define CTIME_NSEC_MASK 0x3fffffffu

/* The kernel's types, as far as this program reads them: compile once,
 * run on every kernel (CO-RE relocates each field by its name). */
struct ns_common
{
  unsigned int inum;
} __attribute__ ((preserve_access_index));
struct mnt_namespace
{
  struct ns_common ns;
} __attribute__ ((preserve_access_index));
struct nsproxy
{
  struct mnt_namespace *mnt_ns;
} __attribute__ ((preserve_access_index));
struct task_struct
{
  int tgid;
  struct task_struct *real_parent;
  struct nsproxy *nsproxy;
} __attribute__ ((preserve_access_index));
struct super_block
{
  unsigned int s_dev;
} __attribute__ ((preserve_access_index));
struct timespec64
{
  long long tv_sec;
  long tv_nsec;
} __attribute__ ((preserve_access_index));
/* Linux >= 6.11 */
struct inode
{
  struct super_block *i_sb;
  unsigned long i_ino;
  long long i_size;
  long long i_mtime_sec;
  long long i_ctime_sec;
  unsigned int i_mtime_nsec;
  unsigned int i_ctime_nsec;
} __attribute__ ((preserve_access_index));
/* 6.7 to 6.10 */
struct inode___v67
{
  struct timespec64 __i_mtime;
  struct timespec64 __i_ctime;
} __attribute__ ((preserve_access_index));
/* 6.6 */
struct inode___v66
{
  struct timespec64 i_mtime;
  struct timespec64 __i_ctime;
} __attribute__ ((preserve_access_index));
/* up to 6.5 */
struct inode___v65
{
  struct timespec64 i_mtime;
  struct timespec64 i_ctime;
} __attribute__ ((preserve_access_index));
struct path
{
  void *mnt;
  void *dentry;
} __attribute__ ((preserve_access_index));
struct file
{
  struct path f_path;
  struct inode *f_inode;
  unsigned int f_mode;
} __attribute__ ((preserve_access_index));
struct linux_binprm
{
  struct file *file;
} __attribute__ ((preserve_access_index));

char LICENSE[] SEC ("license") = "GPL";

struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, KJ_MAX_RULES);
  __type (key, __u32); /* the mount namespace's inode number */
  __type (value, struct kj_rule);
} rules SEC (".maps");

struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, KJ_MAX_ALLOW);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __type (key, struct kj_ident);
  __type (value, struct kj_attr);
} allow SEC (".maps");

struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, KJ_MAX_NAMES);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __type (key, struct kj_name);
  __type (value, __u8);
} names SEC (".maps");

/* Every allowed file of every rule, by identity: lymphd's (a count of the
 * rules naming it). */
struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, KJ_MAX_ALLOW);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __type (key, struct kj_file);
  __type (value, __u32);
} watched SEC (".maps");

/* Allowed files opened for writing since they were guarded: this
 * program's to add, lymphd's to remove with the last rule naming it. */
struct
{
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (max_entries, KJ_MAX_ALLOW);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __type (key, struct kj_file);
  __type (value, __u8);
} changed SEC (".maps");

struct
{
  __uint (type, BPF_MAP_TYPE_ARRAY);
  __uint (max_entries, KJ_N_COUNTERS);
  __type (key, __u32);
  __type (value, __u64);
} counters SEC (".maps");

struct
{
  __uint (type, BPF_MAP_TYPE_RINGBUF);
  __uint (max_entries, KJ_RING_BYTES);
} reports SEC (".maps");

static __always_inline void
count (__u32 which)
{
  __u64 *v = bpf_map_lookup_elem (&counters, &which);
  if (v)
    __sync_fetch_and_add (v, 1);
}

static __always_inline __u32
mntns_of (struct task_struct *t)
{
  return BPF_CORE_READ (t, nsproxy, mnt_ns, ns.inum);
}

/* The kernel's dev_t (major << 20 | minor), as lymphd stores it. */
static __always_inline __u32
dev_of (struct inode *ino)
{
  return BPF_CORE_READ (ino, i_sb, s_dev);
}

static __always_inline void
times_of (struct inode *ino, __s64 *mtime_ns, __s64 *ctime_ns)
{
  if (bpf_core_field_exists (ino->i_mtime_sec))
    {
      *mtime_ns = BPF_CORE_READ (ino, i_mtime_sec) * 1000000000ll + BPF_CORE_READ (ino, i_mtime_nsec);
      *ctime_ns = BPF_CORE_READ (ino, i_ctime_sec) * 1000000000ll
                  + (BPF_CORE_READ (ino, i_ctime_nsec) & CTIME_NSEC_MASK);
      return;
    }
  struct inode___v67 *v67 = (void *) ino;
  struct inode___v66 *v66 = (void *) ino;
  struct inode___v65 *v65 = (void *) ino;
  struct timespec64 m = { 0, 0 }, c = { 0, 0 };
  if (bpf_core_field_exists (v67->__i_mtime))
    {
      m = BPF_CORE_READ (v67, __i_mtime);
      c = BPF_CORE_READ (v67, __i_ctime);
    }
  else if (bpf_core_field_exists (v66->__i_ctime))
    {
      m = BPF_CORE_READ (v66, i_mtime);
      c = BPF_CORE_READ (v66, __i_ctime);
    }
  else
    {
      m = BPF_CORE_READ (v65, i_mtime);
      c = BPF_CORE_READ (v65, i_ctime);
    }
  *mtime_ns = m.tv_sec * 1000000000ll + m.tv_nsec;
  *ctime_ns = c.tv_sec * 1000000000ll + c.tv_nsec;
}

/* The rule of the task's container: its own mount namespace's, or its
 * nearest ancestor's in one (a namespace of its own made inside). Each
 * namespace on the way is looked up once: a run of ancestors shares one.
 * The walk does not end at the host's namespace: a container's process
 * that joined it (nsenter -t 1 -m in a privileged container) still has
 * the container's processes above it, and what it starts is judged. */
static __always_inline struct kj_rule *
rule_of (struct task_struct *t, __u32 *ns_out)
{
  __u32 seen = 0;
  for (int i = 0; i < KJ_MAX_ANCESTORS && t; i++)
    {
      __u32 ns = mntns_of (t);
      struct kj_rule *r = ns && ns != seen ? bpf_map_lookup_elem (&rules, &ns) : NULL;
      if (r)
        {
          *ns_out = ns;
          return r;
        }
      seen = ns;
      struct task_struct *p = BPF_CORE_READ (t, real_parent);
      if (p == t)
        break;
      t = p;
    }
  return NULL;
}

/* Whether t is the container's to judge: it is its main process or one
 * of its descendants, reached before any ancestor in the engine's mount
 * namespace. An ancestor in the engine's namespace first: started through
 * the engine (docker exec, a health check), allowed. Neither: a rule left
 * by a container that is gone, whose namespace number another now has (a
 * new generation, started by the engine): not judged by it. Past the
 * depth the walk ends: judged, as the fanotify judge does. */
static __always_inline bool
judged (struct task_struct *t, const struct kj_rule *r)
{
  if (r->init_pid == 0 || r->engine_ns == 0)
    return true; /* no engine's namespace known: every program is judged */
  for (int i = 0; i < KJ_MAX_ENGINE_DEPTH; i++)
    {
      __u32 pid = BPF_CORE_READ (t, tgid);
      if (pid == r->init_pid)
        return true;
      struct task_struct *p = BPF_CORE_READ (t, real_parent);
      if (p == NULL || p == t || pid <= 1)
        return false;
      /* A parent with no namespace (0, never engine_ns) has exited
       * (runc's leader while its other threads end, just after `docker
       * exec` started its process): its own parent tells. */
      __u32 ns = mntns_of (p);
      if (ns == r->engine_ns)
        return false;
      t = p;
    }
  return true;
}

SEC ("lsm.s/bprm_check_security")
int BPF_PROG (kj_exec, struct linux_binprm *bprm, int ret)
{
  if (ret)
    return ret;
  count (KJ_C_CALLS);
  struct task_struct *task = bpf_get_current_task_btf ();
  __u32 ns = 0;
  struct kj_rule *r = rule_of (task, &ns);
  if (r == NULL)
    return 0;
  __sync_fetch_and_add (&r->asked, 1);
  struct file *file = bprm->file;
  struct inode *ino = BPF_CORE_READ (file, f_inode);
  struct kj_ident id = { .slot = r->slot, .dev = dev_of (ino), .ino = BPF_CORE_READ (ino, i_ino) };
  struct kj_attr *a = bpf_map_lookup_elem (&allow, &id);
  if (a)
    {
      struct kj_file f = { .dev = id.dev, .ino = id.ino };
      __s64 mt = 0, ct = 0;
      times_of (ino, &mt, &ct);
      if (a->size == BPF_CORE_READ (ino, i_size) && a->mtime_ns == mt && a->ctime_ns == ct
          && bpf_map_lookup_elem (&changed, &f) == NULL)
        {
          count (KJ_C_ALLOWED);
          return 0;
        }
    }
  bool deny = r->mode == KJ_MODE_DENY;
  /* Not on the list by identity: the path as the container sees it, in
   * the report it may become. A full ring: no path, no name to match
   * (one null test of the record: older verifiers lose track of a
   * second). */
  struct kj_report *rep = bpf_ringbuf_reserve (&reports, sizeof *rep, 0);
  if (rep == NULL)
    {
      count (KJ_C_LOST);
      if (!judged (task, r))
        {
          count (KJ_C_ENGINE);
          return 0;
        }
      count (deny ? KJ_C_DENIED : KJ_C_DETECTED);
      return deny ? -EPERM : 0;
    }
  long n = bpf_d_path (&file->f_path, rep->path, sizeof rep->path);
  if (n <= 0)
    rep->path[0] = '\0';
  if (r->has_names && n > 0 && n <= KJ_NAME_MAX)
    {
      /* d_path leaves bytes after the name: the key is copied to its end
       * and is zero past it. */
      struct kj_name key;
      __builtin_memset (&key, 0, sizeof key);
      key.slot = r->slot;
      if (bpf_probe_read_kernel_str (key.path, sizeof key.path, rep->path) > 0
          && bpf_map_lookup_elem (&names, &key))
        {
          bpf_ringbuf_discard (rep, 0);
          count (KJ_C_ALLOWED);
          return 0;
        }
    }
  if (!judged (task, r))
    {
      bpf_ringbuf_discard (rep, 0);
      count (KJ_C_ENGINE);
      return 0;
    }
  count (deny ? KJ_C_DENIED : KJ_C_DETECTED);
  rep->kind = deny ? KJ_REPORT_DENIED : KJ_REPORT_DETECTED;
  rep->pid = BPF_CORE_READ (task, tgid);
  rep->slot = r->slot;
  rep->mntns = ns;
  bpf_ringbuf_submit (rep, 0);
  return deny ? -EPERM : 0;
}

/* An allowed file opened for writing, by anyone: it is no longer what was
 * guarded. Every open on the host passes here; one that does not write
 * costs a test of its mode. */
SEC ("lsm/file_open")
int BPF_PROG (kj_open, struct file *file, int ret)
{
  if (ret || (file->f_mode & FMODE_WRITE) == 0)
    return ret;
  struct inode *ino = file->f_inode;
  struct kj_file f = { .dev = dev_of (ino), .ino = BPF_CORE_READ (ino, i_ino) };
  if (bpf_map_lookup_elem (&watched, &f))
    {
      __u8 one = 1;
      if (bpf_map_update_elem (&changed, &f, &one, BPF_ANY) != 0)
        count (KJ_C_LOST);
    }
  return 0;
}
