/* lympho — the parser process: the untrusted bodies of alert POSTs are
 * parsed in a process of their own, not in lymphd, which holds
 * CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE and the engine socket.
 *
 * lymphd re-executes its own binary (/proc/self/exe) as "lympho-parser":
 * a fresh address space with none of lymphd's memory (no token, no
 * state), uid and gid 65534 with no supplementary groups, no capability
 * in any set, no_new_privs, its own network namespace where lymphd may
 * make one (no network at all), no file descriptor but its socket and
 * stderr, and no right to start a process (RLIMIT_NPROC 0). It reads one
 * request at a time from its socket (the route and the body), parses it
 * with alerts.c's parsers, and writes back a small typed answer: the
 * error, or the alerts as length-prefixed strings. lymphd checks every
 * length and value of the answer against fixed bounds before it takes
 * anything from it, as it would a hostile peer's: a parser that breaks
 * the protocol, dies or takes longer than PARSER_DEADLINE_MS is killed
 * and replaced, and the request is answered 503 (OpenSMTPD's privilege
 * separation, in the small).
 *
 * May call: alerts.c (in the child), util; the kernel. */
#ifndef LYMPHO_PARSER_H
#define LYMPHO_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lympho/alerts.h"
#include "lympho/error.h"

/* argv[0] of the parser process: lymphd's main runs parser_child_main()
 * when it is started under this name. */
#define PARSER_ARGV0 "lympho-parser"
/* How long one request may take in the parser before it is killed. */
#define PARSER_DEADLINE_MS 2000

struct parser;

/* Start the parser process. */
int parser_open (struct parser **out, lympho_error_t *err) LYMPHO_MUST_CHECK;
void parser_close (struct parser *p);
/* Parse body as src's payload (generic, Alertmanager or Falco) in the
 * parser process. -EINVAL: the body is malformed (err says why, as the
 * parser in alerts.c would); -EIO: the parser process failed (killed and
 * restarted for the next request; a request it dies of is tried once
 * more in a fresh one). */
int parser_parse (struct parser *p, enum alert_source src, const char *body, size_t len, struct alert_list *out,
                  lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The running parser's pid (0: none), the restarts so far, and how it is
 * confined, one line (static). */
pid_t parser_pid (const struct parser *p);
unsigned parser_restarts (const struct parser *p);
const char *parser_confinement (const struct parser *p);

/* Pure: an answer of the parser process (after its length), checked as a
 * hostile peer's: 0 with the alerts, -EINVAL with the parser's reason, or
 * -EPROTO when anything breaks the protocol (a length past its bound or
 * past the end, a NUL or malformed UTF-8 in a string, another source, a
 * severity out of 0..10, an empty container, bytes left over). */
int parser_decode (const char *buf, size_t len, enum alert_source src, struct alert_list *out,
                   lympho_error_t *err) LYMPHO_MUST_CHECK;

/* The parser process's own main, on file descriptor 3; never returns. */
int parser_child_main (void) __attribute__ ((noreturn));

#endif
