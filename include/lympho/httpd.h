/* lympho — the HTTP listener for alerts, metrics and health, on
 * libmicrohttpd, driven from the daemon's one epoll loop (MHD's epoll fd is
 * watched like any other fd; MHD_run is called when it is ready or its
 * timeout expires). */
#ifndef LYMPHO_HTTPD_H
#define LYMPHO_HTTPD_H

#include <stdbool.h>

#include "lympho/alerts.h"
#include "lympho/error.h"

struct loop;
struct httpd;

struct httpd_callbacks
{
  /* Apply one parsed, authenticated alert. Return 0, or -ENOENT for an
   * unknown container (-> 404), or another negative value (-> 500). Called
   * for every alert of a payload only after the whole payload parsed and
   * every container in it was resolved with `known`. */
  int (*alert) (void *ud, const struct alert *a, lympho_error_t *err);
  /* true when the container (name or id or id prefix) is protected. */
  bool (*known) (void *ud, const char *container);
  /* Prometheus text exposition; returns a malloc'd string. */
  char *(*metrics) (void *ud);
  /* NULL when the engine is reachable and usable; else why not, one line,
   * malloc'd: /healthz answers 503 with it. */
  char *(*unhealthy) (void *ud);
  /* Parse an authenticated POST's body as src's payload, outside this
   * process (parser.h); NULL: parse it here. As alerts.c's parsers, and
   * -EIO when the parsing process failed (-> 503). */
  int (*parse) (void *ud, enum alert_source src, const char *body, size_t len, struct alert_list *out,
                lympho_error_t *err);
  void *ud;
};

/* listen: n addresses (at most HTTPD_MAX_LISTEN), each "ADDR:PORT"
 * ("[::1]:9797" for IPv6; port 0 picks a free one) or "unix:PATH" (a Unix
 * socket, mode 0666, a stale one replaced, removed at close); none, or
 * "none" alone, succeeds with *out = NULL (listener disabled). One
 * listener serves them all: one token, one set of counters, one request
 * deadline; the Host check applies on a loopback address, and /metrics is
 * anonymous by default on a loopback address and a Unix socket. token: the
 * bearer token, copied. A malformed address is -EINVAL; bind failures name
 * the address and the errno.
 * Answers: errors are text/plain, one line; 202 is
 * {"accepted":N,"ignored":M} (ignored: resolved alerts, alerts without a
 * container, Falco host events). /metrics appends the listener's own
 * counters (lympho_http_alert_requests_total{source,code} and
 * lympho_http_alerts_total{source,result}) to callbacks->metrics' text. */
#define HTTPD_MAX_LISTEN 4
int httpd_open (struct loop *loop, const char *const *listen, size_t n, const char *token,
                const struct httpd_callbacks *cb, struct httpd **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* NULL is harmless. */
void httpd_close (struct httpd *h);
/* A request must arrive whole within ms of its connection's start or of
 * its previous request (default 10 s); else the connection is cut. */
void httpd_set_request_deadline (struct httpd *h, unsigned ms);
/* GET /metrics needs the bearer token: 1 yes, 0 no, -1 (the default) on a
 * listener that is not on a loopback address only. */
void httpd_set_metrics_token (struct httpd *h, int yes);
/* The first TCP listener's bound port (useful with port 0), or -1. */
int httpd_port (struct httpd *h);

/* Read the token file (one trailing newline stripped), or create it (32
 * random bytes, hex, mode 0600, parent made 0700 if missing) when absent.
 * A file accessible by group or others, empty, or not printable ASCII is
 * refused. */
int httpd_load_token (const char *path, char **token, lympho_error_t *err) LYMPHO_MUST_CHECK;

#endif
