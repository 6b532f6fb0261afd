/* lympho — cutting an infected container off the network at machine speed.
 *
 * Docker's bridge networks give a container one veth pair per network: one
 * end inside the container's network namespace, the peer in the host's,
 * enslaved to the bridge. Setting the host-side peer down stops every packet
 * in and out at once, and nothing inside the container can undo it (it would
 * need CAP_NET_ADMIN in the host's namespace).
 *
 * Everything here is synchronous netlink (libnl-route) and never waits on
 * the engine: a short-lived thread enters the container's namespace only to
 * open a NETLINK_ROUTE socket there (a socket stays bound to the namespace it
 * was created in, so the caller's threads never change namespace); then one
 * link dump inside, one RTM_GETLINK and one RTM_NEWLINK per peer in the host.
 * A call is a few round trips, well under a millisecond.
 *
 * A host link is only touched after checking that it is a veth whose peer is
 * that very container interface: the container's veth names the peer by
 * ifindex (IFLA_LINK) and namespace id (IFLA_LINK_NETNSID), and the host link
 * must be a veth pointing back at it, in the container's namespace.
 *
 * Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (setns), and CAP_SYS_PTRACE to open
 * /proc/PID/ns/net of a process we did not start (see shim/privs.c). */
#ifndef LYMPHO_QUARANTINE_H
#define LYMPHO_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>

#include "lympho/error.h"

/* Set every host-side veth peer of the network namespace of process `pid`
 * down. Returns the number of links cut (>= 1); 0 when the namespace has no
 * veth whose peer is in our namespace (host network, none, macvlan...): the
 * caller then falls back to the engine's network disconnect; or a negative
 * errno with err set. Links already down count as cut. Fills *names
 * (malloc'd, comma-separated host ifnames, "" when 0) when non-NULL.
 * Interfaces that cannot be cut this way (macvlan, ipvlan, a veth whose peer
 * is in a third namespace) are logged at warn level. */
int quarantine_cut_network (int pid, char **names, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* The interfaces of pid's network namespace that the cut above cannot
 * reach (macvlan, ipvlan, a veth whose peer is in a third namespace):
 * their count (0 for the host's own namespace), their names in *names
 * (malloc'd, "" when none) when non-NULL, or a negative errno. A container
 * with one of these is not cut off by the cut alone. */
int quarantine_uncuttable (int pid, char **names, lympho_error_t *err) LYMPHO_MUST_CHECK;
/* The inverse: set the same host-side peers up again (release from
 * quarantine, tests). Same return values and *names as the cut. */
int quarantine_restore_network (int pid, char **names, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* What the checks need to know about one link, from its RTM_NEWLINK. */
struct quarantine_link
{
  int ifindex;
  int peer_ifindex;  /* IFLA_LINK, 0 when absent */
  int peer_netnsid;  /* IFLA_LINK_NETNSID as the link's own namespace numbers
                        the peer's; -1 when the peer is in the same namespace */
  bool veth;
  bool loopback;
  char name[16];     /* IFNAMSIZ; <net/if.h> and <linux/if.h> clash */
};

/* Is container-side `inside` a veth whose peer lives in our namespace?
 * `our_id_there` is our namespace's id as the container's namespace numbers
 * it (RTM_GETNSID there), -1 when it has none. */
bool quarantine_is_host_veth (const struct quarantine_link *inside, int our_id_there);

/* May host-side `host` be cut on behalf of `inside`? It must be a veth,
 * carry the ifindex `inside` names, point back at `inside`'s ifindex, and
 * have its peer in the container's namespace (`their_id_here`: the
 * container's namespace id as ours numbers it). 0, or -ESRCH with the
 * reason in err. Pure, so unit tests can feed it recorded link attributes. */
int quarantine_check_peer (const struct quarantine_link *inside, const struct quarantine_link *host,
                           int their_id_here, lympho_error_t *err) LYMPHO_MUST_CHECK;

/* "a,b,c" from the links' names; "" for none. Never NULL. */
char *quarantine_join_names (const struct quarantine_link *links, size_t n);

#endif
