/* lympho — a digest of a container's writable layer (the overlay's upper
 * directory, on the host): whether the engine's change list of that layer,
 * and what the drift verdict reads of its files, can differ from the last
 * time.
 *
 * The change list names each path the layer holds (added, changed, or a
 * whiteout for one deleted), judged by the path's metadata where the engine
 * diffs naively. Every entry of the layer, directory or file, is taken by
 * its name, inode, mode and change time: a write, a chmod, a rename, an
 * entry made or removed moves a change time, and no one in the container
 * can set one back (unlike a modification time). While the digest is the
 * one of the last check, the layer is as it was then.
 *
 * Walked with readdir and one fstatat per entry (no file is opened), never
 * leaving the upper directory: no symlink followed, no mount crossed. The
 * entries are combined in an order-free way (readdir's order is the file
 * system's). Bounded: a layer past LAYER_MAX_ENTRIES entries or
 * LAYER_MAX_DEPTH levels has no digest (the engine is asked as before):
 * the walk runs on lymphd's loop, and 2000 entries take about a
 * millisecond with their inodes cached. May call: the kernel (and util.h's hash). */
#ifndef LYMPHO_LAYER_H
#define LYMPHO_LAYER_H

#include <stdint.h>

#define LAYER_MAX_ENTRIES 2000
#define LAYER_MAX_DEPTH 64

/* The digest of the layer under upper (an absolute path; it may itself be
 * reached through symlinks of the host). 0; -E2BIG past the bounds; -errno
 * when it cannot be read. */
int layer_digest (const char *upper, uint64_t *out);

#endif
