/* lympho — the event loop: epoll plus a binary heap of deadlines.
 * May call: nothing but util: a leaf. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "lympho/loop.h"
#include "lympho/util.h"

struct fd_watch
{
  int fd;
  uint32_t events;
  loop_fd_cb cb;
  void *ud;
  LIST_ENTRY (fd_watch) link;
};

struct timer
{
  uint64_t deadline;
  uint64_t id;
  loop_timer_cb cb;
  void *ud;
};

struct loop
{
  int epfd;
  bool stopped;
  LIST_HEAD (, fd_watch) watches;
  struct timer *heap;
  size_t nheap, capheap;
  uint64_t next_id;
};

int
loop_new (struct loop **out, lympho_error_t *err)
{
  struct loop *l = xmalloc0 (sizeof *l);
  l->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (l->epfd < 0)
    {
      int e = errno;
      free (l);
      return lympho_error_set_errno (err, e, "epoll_create1");
    }
  l->next_id = 1;
  *out = l;
  return 0;
}

void
loop_free (struct loop *l)
{
  if (l == NULL)
    return;
  while (!LIST_EMPTY (&l->watches))
    {
      struct fd_watch *w = LIST_FIRST (&l->watches);
      LIST_REMOVE (w, link);
      free (w);
    }
  close (l->epfd);
  free (l->heap);
  free (l);
}

static struct fd_watch *
find_watch (struct loop *l, int fd)
{
  struct fd_watch *w;
  LIST_FOREACH (w, &l->watches, link)
    if (w->fd == fd)
      return w;
  return NULL;
}

int
loop_add_fd (struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ud, lympho_error_t *err)
{
  if (find_watch (l, fd))
    return lympho_error_set (err, EEXIST, "fd %d is already watched", fd);
  struct fd_watch *w = xmalloc0 (sizeof *w);
  w->fd = fd;
  w->events = events;
  w->cb = cb;
  w->ud = ud;
  struct epoll_event ev = { .events = events, .data.fd = fd };
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      free (w);
      return lympho_error_set_errno (err, e, "epoll_ctl add fd %d", fd);
    }
  LIST_INSERT_HEAD (&l->watches, w, link);
  return 0;
}

int
loop_mod_fd (struct loop *l, int fd, uint32_t events, lympho_error_t *err)
{
  struct fd_watch *w = find_watch (l, fd);
  if (w == NULL)
    return lympho_error_set (err, ENOENT, "fd %d is not watched", fd);
  struct epoll_event ev = { .events = events, .data.fd = fd };
  if (epoll_ctl (l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
    return lympho_error_set_errno (err, errno, "epoll_ctl mod fd %d", fd);
  w->events = events;
  return 0;
}

void
loop_del_fd (struct loop *l, int fd)
{
  struct fd_watch *w = find_watch (l, fd);
  if (w == NULL)
    return;
  LIST_REMOVE (w, link);
  epoll_ctl (l->epfd, EPOLL_CTL_DEL, fd, NULL);
  free (w);
}

static bool
timer_before (const struct timer *a, const struct timer *b)
{
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void
heap_swap (struct loop *l, size_t a, size_t b)
{
  struct timer t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
}

static void
heap_up (struct loop *l, size_t i)
{
  while (i > 0)
    {
      size_t p = (i - 1) / 2;
      if (!timer_before (&l->heap[i], &l->heap[p]))
        break;
      heap_swap (l, i, p);
      i = p;
    }
}

static void
heap_down (struct loop *l, size_t i)
{
  for (;;)
    {
      size_t a = 2 * i + 1, b = a + 1, m = i;
      if (a < l->nheap && timer_before (&l->heap[a], &l->heap[m]))
        m = a;
      if (b < l->nheap && timer_before (&l->heap[b], &l->heap[m]))
        m = b;
      if (m == i)
        return;
      heap_swap (l, i, m);
      i = m;
    }
}

static void
heap_remove_at (struct loop *l, size_t i)
{
  l->nheap--;
  if (i == l->nheap)
    return;
  l->heap[i] = l->heap[l->nheap];
  heap_down (l, i);
  heap_up (l, i);
}

uint64_t
loop_add_timer (struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *ud)
{
  if (l->nheap == l->capheap)
    {
      l->capheap = l->capheap ? l->capheap * 2 : 64;
      l->heap = xrealloc (l->heap, l->capheap * sizeof *l->heap);
    }
  struct timer t = { .deadline = now_mono_ms () + delay_ms, .id = l->next_id++, .cb = cb, .ud = ud };
  l->heap[l->nheap] = t;
  heap_up (l, l->nheap++);
  return t.id;
}

void
loop_cancel_timer (struct loop *l, uint64_t id)
{
  if (id == 0)
    return;
  /* Linear: the heap holds one timer per protected container and a few more. */
  for (size_t i = 0; i < l->nheap; i++)
    if (l->heap[i].id == id)
      {
        heap_remove_at (l, i);
        return;
      }
}

static void
run_due_timers (struct loop *l)
{
  uint64_t now = now_mono_ms ();
  /* Timers added by timer callbacks wait for the next turn, so a 0 ms timer
   * that re-arms itself cannot starve the fds. (One added by an fd callback
   * of this turn may run in it: the fds had their turn.) */
  uint64_t limit = l->next_id;
  while (l->nheap > 0 && l->heap[0].deadline <= now && l->heap[0].id < limit && !l->stopped)
    {
      struct timer t = l->heap[0];
      heap_remove_at (l, 0);
      t.cb (l, t.ud);
    }
}

int
loop_run_once (struct loop *l, int max_wait_ms, lympho_error_t *err)
{
  int timeout = max_wait_ms;
  if (l->nheap > 0)
    {
      uint64_t now = now_mono_ms ();
      uint64_t d = l->heap[0].deadline > now ? l->heap[0].deadline - now : 0;
      if (timeout < 0 || d < (uint64_t) timeout)
        timeout = (int) (d > 0x7fffffff ? 0x7fffffff : d);
    }
  struct epoll_event evs[64];
  int n = epoll_wait (l->epfd, evs, 64, timeout);
  if (n < 0)
    {
      if (errno == EINTR)
        return 0;
      return lympho_error_set_errno (err, errno, "epoll_wait");
    }
  for (int i = 0; i < n && !l->stopped; i++)
    {
      /* Look the watch up each time: an earlier callback may have removed it. */
      struct fd_watch *w = find_watch (l, evs[i].data.fd);
      if (w)
        w->cb (l, w->fd, evs[i].events, w->ud);
    }
  run_due_timers (l);
  return 0;
}

int
loop_run (struct loop *l, lympho_error_t *err)
{
  while (!l->stopped)
    {
      int ret = loop_run_once (l, -1, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

void
loop_stop (struct loop *l)
{
  l->stopped = true;
}

bool
loop_stopped (struct loop *l)
{
  return l->stopped;
}
