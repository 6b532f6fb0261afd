/* lympho — notifications out (notify-url): one JSON POST per regeneration,
 * incident and refusal to each receiver, from a thread of its own, so that
 * a slow or failing receiver never delays the daemon's loop (nor a
 * regeneration). Each POST is retried with backoff; the queue is bounded
 * (the oldest is dropped and counted); an event identical to one sent in
 * the last NOTIFY_DEDUP_MS is sent once.
 *
 * The body:
 *   {"version":1,"node":HOSTNAME,"text":ONE_LINE,"event":{...history entry...}}
 * "text" is what a chat or push webhook shows (Slack's incoming webhooks
 * read it as is). */
#ifndef LYMPHO_NOTIFIER_H
#define LYMPHO_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lympho/error.h"
#include "lympho/util.h"

#define NOTIFY_QUEUE_MAX 256
#define NOTIFY_TRIES 4                /* a POST, then 3 retries: 1 s, 2 s, 4 s after */
#define NOTIFY_TIMEOUT_MS 5000        /* one POST, whole */
#define NOTIFY_DEDUP_MS (10 * 60 * 1000)
#define NOTIFY_RECENT 256             /* events remembered for that */

/* The queue, pure (unit-tested): FIFO of bodies, bounded, with the keys
 * of recent events. */
struct nq_item
{
  char *body;
};
struct nq
{
  struct nq_item v[NOTIFY_QUEUE_MAX];
  size_t head, n;
  struct recent_slot recent_v[NOTIFY_RECENT];
  struct recent recent; /* over recent_v: set up by nq_push */
  uint64_t dropped, duplicates;
};
/* Takes body (malloc'd). Returns 1 when queued, 0 when an identical event
 * (same key) was queued within NOTIFY_DEDUP_MS before now_ms (body freed).
 * A full queue drops its oldest first (counted in dropped). */
int nq_push (struct nq *q, const char *key, char *body, uint64_t now_ms);
/* The oldest body (the caller frees it), NULL when empty. */
char *nq_pop (struct nq *q);
void nq_clear (struct nq *q);

struct notifier;
struct notifier_stats
{
  size_t receivers;
  uint64_t sent, failed, retried, dropped, duplicates, queued;
};

/* urls: http:// or https://; token: the Authorization bearer, NULL for
 * none. Starts the thread. */
int notifier_new (char *const *urls, size_t n_urls, const char *token, struct notifier **out,
                  lympho_error_t *err) LYMPHO_MUST_CHECK;
/* Queues one event: key says what makes two events the same (the event
 * without its time); event_json is one JSON object; text one line. Never
 * blocks on a receiver. */
void notifier_post (struct notifier *n, const char *key, const char *event_json, const char *text);
/* The same, the body sent as it is (Alertmanager's alerts: fleet.c). */
void notifier_post_raw (struct notifier *n, const char *key, const char *body);
void notifier_stats (struct notifier *n, struct notifier_stats *out);
/* Stops the thread: a POST in flight is abandoned, the queue dropped. */
void notifier_free (struct notifier *n);

#endif
