/* lympho — notifications out (see notifier.h): a bounded queue in memory,
 * drained by one thread that POSTs each body to every receiver with
 * libcurl's easy interface. The loop only queues (a lock held for a
 * memcpy's time); nothing the receivers do reaches it.
 *
 * libcurl is loaded (dlopen) when the first notifier with a receiver is
 * made, not linked: receivers may be https, so it brings TLS, and a lymphd
 * without notify-url or a fleet should not carry those pages (#21).
 * May call: json, log and util. */
#include "config.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/notifier.h"
#include "lympho/util.h"

/* --- the queue (pure) ---------------------------------------------------- */

int
nq_push (struct nq *q, const char *key, char *body, uint64_t now_ms)
{
  if (q->recent.v == NULL)
    q->recent = (struct recent) { .v = q->recent_v, .cap = NOTIFY_RECENT };
  if (!recent_first (&q->recent, key, now_ms, NOTIFY_DEDUP_MS))
    {
      q->duplicates++;
      free (body);
      return 0;
    }
  if (q->n == NOTIFY_QUEUE_MAX)
    {
      free (nq_pop (q));
      q->dropped++;
    }
  q->v[(q->head + q->n) % NOTIFY_QUEUE_MAX].body = body;
  q->n++;
  return 1;
}

char *
nq_pop (struct nq *q)
{
  if (q->n == 0)
    return NULL;
  char *b = q->v[q->head].body;
  q->v[q->head].body = NULL;
  q->head = (q->head + 1) % NOTIFY_QUEUE_MAX;
  q->n--;
  return b;
}

void
nq_clear (struct nq *q)
{
  char *b;
  while ((b = nq_pop (q)) != NULL)
    free (b);
}

/* --- libcurl, loaded when first needed --------------------------------- */

/* What this file uses of libcurl. The types come from <curl/curl.h>; the
 * calls go through these pointers (never the header's macros). */
static struct
{
  bool loaded;
  CURL *(*easy_init) (void);
  CURLcode (*easy_setopt) (CURL *, CURLoption, ...);
  CURLcode (*easy_perform) (CURL *);
  CURLcode (*easy_getinfo) (CURL *, CURLINFO, ...);
  void (*easy_cleanup) (CURL *);
  const char *(*easy_strerror) (CURLcode);
  struct curl_slist *(*slist_append) (struct curl_slist *, const char *);
  void (*slist_free_all) (struct curl_slist *);
} cu;

/* Load libcurl once, for the life of the process (it is never unloaded:
 * TLS libraries do not take that well). Called from the loop's thread
 * only, before any notifier thread exists that would use it. */
static int
curl_load (lympho_error_t *err)
{
  static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };
  if (cu.loaded)
    return 0;
  void *dl = NULL;
  for (size_t i = 0; dl == NULL && i < sizeof names / sizeof names[0]; i++)
    dl = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL)
    return lympho_error_set (err, ENOENT, "notifications need libcurl (libcurl.so.4, package libcurl4): %s",
                             dlerror ());
  CURLcode (*global_init) (long) = (CURLcode (*) (long)) dlsym (dl, "curl_global_init");
#define CU_SYM(field, name) *(void **) &cu.field = dlsym (dl, name)
  CU_SYM (easy_init, "curl_easy_init");
  CU_SYM (easy_setopt, "curl_easy_setopt");
  CU_SYM (easy_perform, "curl_easy_perform");
  CU_SYM (easy_getinfo, "curl_easy_getinfo");
  CU_SYM (easy_cleanup, "curl_easy_cleanup");
  CU_SYM (easy_strerror, "curl_easy_strerror");
  CU_SYM (slist_append, "curl_slist_append");
  CU_SYM (slist_free_all, "curl_slist_free_all");
#undef CU_SYM
  if (global_init == NULL || cu.easy_init == NULL || cu.easy_setopt == NULL || cu.easy_perform == NULL
      || cu.easy_getinfo == NULL || cu.easy_cleanup == NULL || cu.easy_strerror == NULL || cu.slist_append == NULL
      || cu.slist_free_all == NULL)
    {
      dlclose (dl);
      return lympho_error_set (err, ENOENT, "notifications: the libcurl found lacks a function lympho calls");
    }
  if (global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
    {
      dlclose (dl);
      return lympho_error_set (err, EIO, "notifications: curl_global_init failed");
    }
  cu.loaded = true;
  return 0;
}

/* --- the thread ---------------------------------------------------------- */

struct notifier
{
  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  struct nq q;
  char **urls;
  size_t n_urls;
  char *auth;   /* "Authorization: Bearer ..." or NULL */
  char *node;
  _Atomic uint64_t sent, failed, retried;
  struct rate_limit fail_log;
};

static int
on_progress (void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
  struct notifier *n = ud;
  pthread_mutex_lock (&n->mu);
  bool stop = n->stop;
  pthread_mutex_unlock (&n->mu);
  return stop ? 1 : 0; /* non-zero: abandon the transfer */
}

static size_t
discard (char *p, size_t size, size_t nmemb, void *ud)
{
  (void) p, (void) ud;
  return size * nmemb;
}

/* One POST; 0 on a 2xx answer, else -1 with why. */
static int
post_once (struct notifier *n, const char *url, const char *body, char *why, size_t why_len)
{
  CURL *c = cu.easy_init ();
  if (c == NULL)
    {
      snprintf (why, why_len, "curl_easy_init failed");
      return -1;
    }
  struct curl_slist *h = cu.slist_append (NULL, "Content-Type: application/json");
  if (n->auth)
    h = cu.slist_append (h, n->auth);
  char errbuf[CURL_ERROR_SIZE] = "";
  cu.easy_setopt (c, CURLOPT_URL, url);
  cu.easy_setopt (c, CURLOPT_HTTPHEADER, h);
  cu.easy_setopt (c, CURLOPT_POSTFIELDS, body);
  cu.easy_setopt (c, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
  cu.easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) NOTIFY_TIMEOUT_MS);
  cu.easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  cu.easy_setopt (c, CURLOPT_ERRORBUFFER, errbuf);
  cu.easy_setopt (c, CURLOPT_WRITEFUNCTION, discard);
  cu.easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
  cu.easy_setopt (c, CURLOPT_XFERINFOFUNCTION, on_progress);
  cu.easy_setopt (c, CURLOPT_XFERINFODATA, n);
  /* http and https only, never a redirect elsewhere. The string form
   * first (7.85 and later), the older bit mask where it is unknown; by
   * number, as the loaded libcurl may be older or newer than the header
   * (which marks the mask deprecated). */
  if (cu.easy_setopt (c, (CURLoption) 10318 /* CURLOPT_PROTOCOLS_STR */, "http,https") != CURLE_OK)
    cu.easy_setopt (c, (CURLoption) 181 /* CURLOPT_PROTOCOLS */, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
  cu.easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
  CURLcode rc = cu.easy_perform (c);
  long status = 0;
  cu.easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
  cu.slist_free_all (h);
  cu.easy_cleanup (c);
  if (rc != CURLE_OK)
    {
      snprintf (why, why_len, "%s", errbuf[0] ? errbuf : cu.easy_strerror (rc));
      return -1;
    }
  if (status < 200 || status > 299)
    {
      snprintf (why, why_len, "HTTP %ld", status);
      return -1;
    }
  return 0;
}

/* Waits ms unless stopped; true when stopped. */
static bool
sleep_unless_stopped (struct notifier *n, uint64_t ms)
{
  struct timespec until;
  clock_gettime (CLOCK_REALTIME, &until);
  until.tv_sec += (time_t) (ms / 1000);
  until.tv_nsec += (long) (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L)
    {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  pthread_mutex_lock (&n->mu);
  while (!n->stop && pthread_cond_timedwait (&n->cv, &n->mu, &until) != ETIMEDOUT)
    ;
  bool stop = n->stop;
  pthread_mutex_unlock (&n->mu);
  return stop;
}

static void
deliver (struct notifier *n, const char *body)
{
  for (size_t u = 0; u < n->n_urls; u++)
    {
      char why[CURL_ERROR_SIZE + 32] = "";
      for (unsigned t = 0; t < NOTIFY_TRIES; t++)
        {
          if (t > 0)
            {
              atomic_fetch_add (&n->retried, 1);
              if (sleep_unless_stopped (n, 1000ull << (t - 1)))
                return;
            }
          if (post_once (n, n->urls[u], body, why, sizeof why) == 0)
            {
              atomic_fetch_add (&n->sent, 1);
              break;
            }
          if (t + 1 == NOTIFY_TRIES)
            {
              atomic_fetch_add (&n->failed, 1);
              unsigned held = 0;
              pthread_mutex_lock (&n->mu);
              bool say = rate_limit_pass (&n->fail_log, 60000, &held);
              pthread_mutex_unlock (&n->mu);
              if (say)
                log_warn ("notify: %s: %s after %d tries; the event is dropped for it%s", n->urls[u], why,
                          NOTIFY_TRIES, held ? " (and others since the last such line)" : "");
            }
        }
    }
}

static void *
run (void *arg)
{
  struct notifier *n = arg;
  pthread_mutex_lock (&n->mu);
  while (!n->stop)
    {
      char *body = nq_pop (&n->q);
      if (body == NULL)
        {
          pthread_cond_wait (&n->cv, &n->mu);
          continue;
        }
      pthread_mutex_unlock (&n->mu);
      deliver (n, body);
      free (body);
      pthread_mutex_lock (&n->mu);
    }
  pthread_mutex_unlock (&n->mu);
  return NULL;
}

int
notifier_new (char *const *urls, size_t n_urls, const char *token, struct notifier **out, lympho_error_t *err)
{
  *out = NULL;
  if (n_urls > 0)
    {
      int ret = curl_load (err);
      if (ret < 0)
        return ret;
    }
  struct notifier *n = xmalloc0 (sizeof *n);
  pthread_mutex_init (&n->mu, NULL);
  pthread_cond_init (&n->cv, NULL);
  n->urls = xmalloc0 ((n_urls ? n_urls : 1) * sizeof *n->urls);
  for (size_t i = 0; i < n_urls; i++)
    n->urls[i] = xstrdup (urls[i]);
  n->n_urls = n_urls;
  n->auth = token ? xasprintf ("Authorization: Bearer %s", token) : NULL;
  char host[256] = "";
  if (gethostname (host, sizeof host - 1) < 0)
    snprintf (host, sizeof host, "unknown");
  n->node = xstrdup (host);
  int e = pthread_create (&n->thread, NULL, run, n);
  if (e != 0)
    {
      notifier_free (n);
      return lympho_error_set (err, e, "cannot start the notifier's thread: %s", strerror (e));
    }
  n->started = true;
  *out = n;
  return 0;
}

void
notifier_post (struct notifier *n, const char *key, const char *event_json, const char *text)
{
  if (n == NULL || n->n_urls == 0)
    return;
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "version", 1);
  json_gen_kstr (g, "node", n->node);
  json_gen_kstr (g, "text", text);
  json_gen_map_close (g);
  cleanup_free char *head = json_gen_text (g);
  head[strlen (head) - 1] = '\0'; /* its closing brace */
  char *body = xasprintf ("%s,\"event\":%s}", head, event_json);
  pthread_mutex_lock (&n->mu);
  if (nq_push (&n->q, key, body, now_mono_ms ()))
    pthread_cond_signal (&n->cv);
  pthread_mutex_unlock (&n->mu);
}

void
notifier_post_raw (struct notifier *n, const char *key, const char *body)
{
  if (n == NULL || n->n_urls == 0)
    return;
  pthread_mutex_lock (&n->mu);
  if (nq_push (&n->q, key, xstrdup (body), now_mono_ms ()))
    pthread_cond_signal (&n->cv);
  pthread_mutex_unlock (&n->mu);
}

void
notifier_stats (struct notifier *n, struct notifier_stats *out)
{
  memset (out, 0, sizeof *out);
  if (n == NULL)
    return;
  out->receivers = n->n_urls;
  out->sent = atomic_load (&n->sent);
  out->failed = atomic_load (&n->failed);
  out->retried = atomic_load (&n->retried);
  pthread_mutex_lock (&n->mu);
  out->dropped = n->q.dropped;
  out->duplicates = n->q.duplicates;
  out->queued = n->q.n;
  pthread_mutex_unlock (&n->mu);
}

void
notifier_free (struct notifier *n)
{
  if (n == NULL)
    return;
  pthread_mutex_lock (&n->mu);
  n->stop = true;
  pthread_cond_broadcast (&n->cv);
  pthread_mutex_unlock (&n->mu);
  if (n->started)
    pthread_join (n->thread, NULL);
  nq_clear (&n->q);
  for (size_t i = 0; i < n->n_urls; i++)
    free (n->urls[i]);
  free (n->urls);
  free (n->auth);
  free (n->node);
  pthread_cond_destroy (&n->cv);
  pthread_mutex_destroy (&n->mu);
  free (n);
}
