/* lympho — the daemon's one event loop: epoll for fds, a deadline heap for
 * timers (its nearest deadline is the epoll timeout, as redis's ae does).
 * Signals arrive through a signalfd registered like any other fd. Callbacks
 * run on the loop's thread; nothing blocks in them. */
#ifndef LYMPHO_LOOP_H
#define LYMPHO_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "lympho/error.h"

struct loop;

typedef void (*loop_fd_cb) (struct loop *l, int fd, uint32_t events, void *ud);
typedef void (*loop_timer_cb) (struct loop *l, void *ud);

int loop_new (struct loop **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void loop_free (struct loop *l);

/* events: EPOLLIN / EPOLLOUT (level-triggered). One watcher per fd. */
int loop_add_fd (struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ud, lympho_error_t *err) LYMPHO_MUST_CHECK;
int loop_mod_fd (struct loop *l, int fd, uint32_t events, lympho_error_t *err) LYMPHO_MUST_CHECK;
void loop_del_fd (struct loop *l, int fd);

/* One-shot timer after delay_ms; returns an id > 0 for loop_cancel_timer.
 * Cancelling an id that fired or was cancelled is harmless. */
uint64_t loop_add_timer (struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *ud);
void loop_cancel_timer (struct loop *l, uint64_t id);

/* Run one iteration, waiting at most max_wait_ms (-1: until something). */
int loop_run_once (struct loop *l, int max_wait_ms, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Run until loop_stop(). */
int loop_run (struct loop *l, lympho_error_t *err) LYMPHO_MUST_CHECK;
void loop_stop (struct loop *l);
bool loop_stopped (struct loop *l);

#endif
