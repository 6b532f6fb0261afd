/* lympho — the exec guard's kernel judge (execguard-int.h): loads the BPF
 * LSM program of execguard.bpf.c, built into lymphd, fills its maps with
 * the guarded containers' rules and brings its reports to the main loop.
 * Main loop only: nothing here runs on the exec's path but the program.
 * May call: loop, log. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/util.h"
#include "shim/execguard-int.h"

#ifdef HAVE_LIBBPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "shim/execguard-bpf.h"

/* The program, compiled by clang for BPF and built into lymphd. */
__asm__ (".section .rodata\n"
         ".balign 8\n"
         ".hidden kj_object\n"
         ".hidden kj_object_end\n"
         "kj_object:\n"
         ".incbin \"" KJ_OBJECT_PATH "\"\n"
         "kj_object_end:\n"
         ".previous\n");
extern const char kj_object[], kj_object_end[];

struct kjudge
{
  struct loop *loop;
  kjudge_report_cb cb;
  void *ud;
  struct bpf_object *obj;
  struct bpf_link *links[2];
  struct ring_buffer *rb;
  int rb_fd; /* watched by the loop; -1: not */
  int rules, allow, names, watched, changed, counters, reports;
};

/* libbpf's own lines, the verifier's log among them, at debug: a kernel
 * that refuses the program is said once, at warn, by kjudge_load. */
static int
libbpf_line (enum libbpf_print_level level, const char *fmt, va_list ap)
{
  (void) level;
  cleanup_free char *s = NULL;
  if (vasprintf (&s, fmt, ap) < 0)
    return 0;
  size_t n = strlen (s);
  while (n && s[n - 1] == '\n')
    s[--n] = '\0';
  log_debug ("exec guard: libbpf: %s", s);
  return 0;
}

static uint32_t
kdev (dev_t d)
{
  return (uint32_t) (major (d) << 20 | minor (d));
}

static int
on_report (void *ctx, void *data, size_t size)
{
  struct kjudge *k = ctx;
  if (size < sizeof (struct kj_report))
    return 0;
  /* The ring is mapped read-only: copied, never terminated in place. */
  const struct kj_report *r = data;
  static char path[KJ_PATH_MAX];
  size_t n = strnlen (r->path, sizeof r->path - 1);
  memcpy (path, r->path, n);
  path[n] = '\0';
  k->cb (k->ud, r->kind == KJ_REPORT_DENIED ? KJUDGE_DENIED : KJUDGE_DETECTED, r->slot, r->pid, path);
  return 0;
}

static void
on_ready (struct loop *loop, int fd, uint32_t events, void *ud)
{
  (void) loop;
  (void) fd;
  (void) events;
  struct kjudge *k = ud;
  int n = ring_buffer__consume (k->rb);
  if (n < 0)
    log_debug ("exec guard: reading the kernel judge's reports: %s", strerror (-n));
}

static uint64_t
counter (struct kjudge *k, uint32_t which)
{
  uint64_t v = 0;
  if (bpf_map_lookup_elem (k->counters, &which, &v) < 0)
    return 0;
  return v;
}

/* A program start of lymphd's own, to see whether the kernel runs the
 * program: lymphd --version, its output thrown away. */
static int
exec_self (void)
{
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = { (char *) "lymphd", (char *) "--version", NULL };
  char *envp[] = { NULL };
  pid_t pid;
  int ret = posix_spawn (&pid, "/proc/self/exe", &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy (&fa);
  if (ret != 0)
    return -ret;
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return 0;
}

int
kjudge_load (struct kjudge **out, lympho_error_t *err)
{
  *out = NULL;
  libbpf_set_print (libbpf_line);
  struct kjudge *k = xmalloc0 (sizeof *k);
  k->rb_fd = -1;
  int ret = 0;
  LIBBPF_OPTS (bpf_object_open_opts, opts, .object_name = "lympho_exec");
  k->obj = bpf_object__open_mem (kj_object, (size_t) (kj_object_end - kj_object), &opts);
  if (k->obj == NULL)
    {
      ret = lympho_error_set (err, errno, "cannot open the kernel judge: %s", strerror (errno));
      goto fail;
    }
  if (bpf_object__load (k->obj) < 0)
    {
      /* EPERM: a kernel (or a sandbox) that loads no BTF-based program;
       * EINVAL: one the verifier refused, its log at debug. */
      int e = errno;
      ret = lympho_error_set (err, e == EPERM || e == EINVAL || e == 524 /* ENOTSUPP */ ? ENOSYS : e,
                              "the kernel does not load the kernel judge: %s%s", strerror (e),
                              e == EINVAL ? " (its verifier's log: --log-level debug)" : "");
      goto fail;
    }
  static const char *const progs[] = { "kj_exec", "kj_open" };
  for (size_t i = 0; i < 2; i++)
    {
      struct bpf_program *p = bpf_object__find_program_by_name (k->obj, progs[i]);
      k->links[i] = p ? bpf_program__attach_lsm (p) : NULL;
      if (k->links[i] == NULL)
        {
          int e = p ? errno : ENOENT;
          ret = lympho_error_set (err, ENOSYS, "cannot attach the kernel judge (%s): %s", progs[i], strerror (e));
          goto fail;
        }
    }
  k->rules = bpf_object__find_map_fd_by_name (k->obj, "rules");
  k->allow = bpf_object__find_map_fd_by_name (k->obj, "allow");
  k->names = bpf_object__find_map_fd_by_name (k->obj, "names");
  k->watched = bpf_object__find_map_fd_by_name (k->obj, "watched");
  k->changed = bpf_object__find_map_fd_by_name (k->obj, "changed");
  k->counters = bpf_object__find_map_fd_by_name (k->obj, "counters");
  int reports = bpf_object__find_map_fd_by_name (k->obj, "reports");
  if (k->rules < 0 || k->allow < 0 || k->names < 0 || k->watched < 0 || k->changed < 0 || k->counters < 0
      || reports < 0)
    {
      ret = lympho_error_set (err, ENOENT, "the kernel judge lacks a map");
      goto fail;
    }
  /* Attached is not running: a kernel whose active LSMs do not include
   * "bpf" (lsm= on its command line) accepts the program and never calls
   * it. */
  uint64_t before = counter (k, KJ_C_CALLS);
  ret = exec_self ();
  if (ret < 0)
    {
      ret = lympho_error_set (err, -ret, "cannot check the kernel judge: %s", strerror (-ret));
      goto fail;
    }
  if (counter (k, KJ_C_CALLS) == before)
    {
      ret = lympho_error_set (err, ENOSYS,
                              "the kernel does not run BPF LSM programs (\"bpf\" is not among its active LSMs)");
      goto fail;
    }
  k->reports = reports;
  *out = k;
  return 0;
fail:
  kjudge_close (k);
  return ret;
}

int
kjudge_start (struct kjudge *k, struct loop *loop, kjudge_report_cb cb, void *ud, lympho_error_t *err)
{
  k->loop = loop;
  k->cb = cb;
  k->ud = ud;
  k->rb = ring_buffer__new (k->reports, on_report, k, NULL);
  if (k->rb == NULL)
    return lympho_error_set (err, errno, "the kernel judge's reports: %s", strerror (errno));
  int fd = ring_buffer__epoll_fd (k->rb);
  int ret = loop_add_fd (loop, fd, EPOLLIN, on_ready, k, err);
  if (ret < 0)
    return ret;
  k->rb_fd = fd;
  return 0;
}

void
kjudge_close (struct kjudge *k)
{
  if (k == NULL)
    return;
  if (k->rb_fd >= 0)
    loop_del_fd (k->loop, k->rb_fd);
  ring_buffer__free (k->rb);
  for (size_t i = 0; i < 2; i++)
    bpf_link__destroy (k->links[i]);
  bpf_object__close (k->obj);
  free (k);
}

static int
name_key (uint32_t slot, const char *name, struct kj_name *key)
{
  memset (key, 0, sizeof *key);
  key->slot = slot;
  size_t n = strlen (name);
  if (n >= sizeof key->path)
    return -E2BIG;
  memcpy (key->path, name, n);
  return 0;
}

static void
watch_file (struct kjudge *k, const struct ident *v, int delta)
{
  struct kj_file f = { .dev = kdev (v->dev), .pad = 0, .ino = (uint64_t) v->ino };
  uint32_t refs = 0;
  if (bpf_map_lookup_elem (k->watched, &f, &refs) < 0)
    refs = 0;
  if (delta > 0)
    {
      refs++;
      if (bpf_map_update_elem (k->watched, &f, &refs, BPF_ANY) < 0)
        log_debug ("exec guard: the kernel judge's watched set: %s", strerror (errno));
      return;
    }
  if (refs > 1)
    {
      refs--;
      (void) bpf_map_update_elem (k->watched, &f, &refs, BPF_EXIST);
      return;
    }
  (void) bpf_map_delete_elem (k->watched, &f);
  (void) bpf_map_delete_elem (k->changed, &f);
}

static void
put_files (struct kjudge *k, uint32_t slot, const struct ident *v, size_t n, char *const *names, size_t n_names,
           size_t n_files_put, size_t n_names_put)
{
  for (size_t i = 0; i < n && i < n_files_put; i++)
    {
      struct kj_ident id = { .slot = slot, .dev = kdev (v[i].dev), .ino = (uint64_t) v[i].ino };
      if (bpf_map_delete_elem (k->allow, &id) == 0)
        watch_file (k, &v[i], -1);
    }
  for (size_t i = 0; i < n_names && i < n_names_put; i++)
    {
      struct kj_name key;
      if (name_key (slot, names[i], &key) == 0)
        (void) bpf_map_delete_elem (k->names, &key);
    }
}

/* A map that has no room says ENOMEM (no preallocation) or E2BIG: one
 * status for both, E2BIG, that kjudge_set's callers know. */
static int
full_or (int e)
{
  return e == ENOMEM || e == E2BIG ? E2BIG : e;
}

int
kjudge_set (struct kjudge *k, uint32_t slot, uint64_t mntns, bool deny, int init_pid, uint64_t engine_ns,
            const struct ident *v, size_t n, char *const *names, size_t n_names, lympho_error_t *err)
{
  size_t files = 0, nm = 0;
  int ret = 0;
  for (; files < n; files++)
    {
      struct kj_ident id = { .slot = slot, .dev = kdev (v[files].dev), .ino = (uint64_t) v[files].ino };
      struct kj_attr a = { .size = v[files].size, .mtime_ns = v[files].mtime_ns, .ctime_ns = v[files].ctime_ns };
      /* NOEXIST: a file listed twice (a link) is counted once. */
      if (bpf_map_update_elem (k->allow, &id, &a, BPF_NOEXIST) < 0)
        {
          if (errno == EEXIST)
            continue;
          ret = lympho_error_set (err, full_or (errno),
                                  "the kernel judge's allowed files: %s", strerror (errno));
          break;
        }
      watch_file (k, &v[files], +1);
    }
  for (; ret == 0 && nm < n_names; nm++)
    {
      struct kj_name key;
      uint8_t one = 1;
      if (name_key (slot, names[nm], &key) < 0)
        ret = lympho_error_set (err, E2BIG, "%s: a name longer than the kernel judge keeps", names[nm]);
      else if (bpf_map_update_elem (k->names, &key, &one, BPF_ANY) < 0)
        ret = lympho_error_set (err, full_or (errno),
                                "the kernel judge's allowed names: %s", strerror (errno));
    }
  struct kj_rule r = {
    .slot = slot,
    .mode = deny ? KJ_MODE_DENY : KJ_MODE_DETECT,
    .init_pid = init_pid > 0 ? (uint32_t) init_pid : 0,
    .engine_ns = (uint32_t) engine_ns,
    .has_names = n_names > 0,
  };
  uint32_t key = (uint32_t) mntns;
  if (ret == 0 && bpf_map_update_elem (k->rules, &key, &r, BPF_ANY) < 0)
    ret = lympho_error_set (err, full_or (errno), "the kernel judge's rules: %s",
                            strerror (errno));
  if (ret < 0)
    {
      /* The ones that failed were never put: a file already there (a
       * link) was skipped and is removed once, by the slot's key. */
      put_files (k, slot, v, n, names, n_names, files, nm);
      return ret;
    }
  return 0;
}

void
kjudge_unset (struct kjudge *k, uint32_t slot, uint64_t mntns, const struct ident *v, size_t n,
              char *const *names, size_t n_names)
{
  uint32_t key = (uint32_t) mntns;
  struct kj_rule r;
  if (bpf_map_lookup_elem (k->rules, &key, &r) == 0 && r.slot == slot)
    (void) bpf_map_delete_elem (k->rules, &key);
  put_files (k, slot, v, n, names, n_names, n, n_names);
}

uint64_t
kjudge_asked (struct kjudge *k, uint64_t mntns)
{
  uint32_t key = (uint32_t) mntns;
  struct kj_rule r;
  return bpf_map_lookup_elem (k->rules, &key, &r) == 0 ? r.asked : 0;
}

void
kjudge_counts (struct kjudge *k, struct kjudge_counts *out)
{
  memset (out, 0, sizeof *out);
  if (k == NULL)
    return;
  out->calls = counter (k, KJ_C_CALLS);
  out->allowed = counter (k, KJ_C_ALLOWED);
  out->denied = counter (k, KJ_C_DENIED);
  out->detected = counter (k, KJ_C_DETECTED);
  out->engine = counter (k, KJ_C_ENGINE);
  out->lost = counter (k, KJ_C_LOST);
}

#else /* !HAVE_LIBBPF */

int
kjudge_load (struct kjudge **out, lympho_error_t *err)
{
  *out = NULL;
  return lympho_error_set (err, ENOSYS, "lymphd was built without libbpf: no kernel judge");
}

int
kjudge_start (struct kjudge *k, struct loop *loop, kjudge_report_cb cb, void *ud, lympho_error_t *err)
{
  (void) k, (void) loop, (void) cb, (void) ud;
  return lympho_error_set (err, ENOSYS, "no kernel judge");
}

void
kjudge_close (struct kjudge *k)
{
  (void) k;
}

int
kjudge_set (struct kjudge *k, uint32_t slot, uint64_t mntns, bool deny, int init_pid, uint64_t engine_ns,
            const struct ident *v, size_t n, char *const *names, size_t n_names, lympho_error_t *err)
{
  (void) k, (void) slot, (void) mntns, (void) deny, (void) init_pid, (void) engine_ns;
  (void) v, (void) n, (void) names, (void) n_names;
  return lympho_error_set (err, ENOSYS, "no kernel judge");
}

void
kjudge_unset (struct kjudge *k, uint32_t slot, uint64_t mntns, const struct ident *v, size_t n,
              char *const *names, size_t n_names)
{
  (void) k, (void) slot, (void) mntns, (void) v, (void) n, (void) names, (void) n_names;
}

uint64_t
kjudge_asked (struct kjudge *k, uint64_t mntns)
{
  (void) k;
  (void) mntns;
  return 0;
}

void
kjudge_counts (struct kjudge *k, struct kjudge_counts *out)
{
  (void) k;
  memset (out, 0, sizeof *out);
}

#endif
