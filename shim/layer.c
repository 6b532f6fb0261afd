/* lympho — a digest of a container's writable layer (contract in layer.h).
 * May call: the kernel, and util.h's hash. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lympho/layer.h"
#include "lympho/util.h"

struct walk
{
  dev_t dev;       /* the upper directory's: no mount is crossed */
  size_t entries;
  uint64_t sum;
};

/* One entry: FNV-1a over its parent's inode, its name, and its own inode,
 * mode and change time; then mixed (splitmix64's finalizer) so that the
 * sum of the entries does not cancel out. */
static uint64_t
entry_hash (uint64_t parent_ino, const char *name, const struct stat *st)
{
  uint64_t h = FNV_OFFSET;
  uint64_t f[5] = { parent_ino, (uint64_t) st->st_ino, (uint64_t) st->st_mode, (uint64_t) st->st_ctim.tv_sec,
                    (uint64_t) st->st_ctim.tv_nsec };
  for (int k = 0; k < 5; k++)
    h = fnv1a_u64 (h, f[k]);
  return hash_mix (fnv1a_str (h, name));
}

/* The entries of the directory dfd (taken; closed here), at depth. */
static int
walk_dir (struct walk *w, int dfd, uint64_t ino, int depth)
{
  if (depth > LAYER_MAX_DEPTH)
    {
      close (dfd);
      return -E2BIG;
    }
  DIR *dir = fdopendir (dfd);
  if (dir == NULL)
    {
      int e = errno;
      close (dfd);
      return -e;
    }
  int ret = 0;
  errno = 0;
  for (struct dirent *de; ret == 0 && (de = readdir (dir)) != NULL; errno = 0)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (++w->entries > LAYER_MAX_ENTRIES)
        {
          ret = -E2BIG;
          break;
        }
      struct stat st;
      if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          ret = -errno; /* gone meanwhile: the layer is changing */
          break;
        }
      w->sum += entry_hash (ino, de->d_name, &st);
      if (S_ISDIR (st.st_mode) && st.st_dev == w->dev)
        {
          int sub = openat (dirfd (dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            ret = -errno;
          else
            ret = walk_dir (w, sub, (uint64_t) st.st_ino, depth + 1);
        }
    }
  if (ret == 0 && errno != 0)
    ret = -errno;
  closedir (dir);
  return ret;
}

int
layer_digest (const char *upper, uint64_t *out)
{
  *out = 0;
  if (upper == NULL || upper[0] != '/')
    return -EINVAL;
  int fd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat (fd, &st) < 0)
    {
      int e = errno;
      close (fd);
      return -e;
    }
  struct walk w = { .dev = st.st_dev, .entries = 0, .sum = entry_hash (0, ".", &st) };
  int ret = walk_dir (&w, fd, (uint64_t) st.st_ino, 0);
  if (ret < 0)
    return ret;
  *out = w.sum;
  return 0;
}
