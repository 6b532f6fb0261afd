/* lympho — network quarantine through netlink (contract in quarantine.h).
 * May call: libnl (links, namespaces): a leaf. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include "lympho/log.h"
#include "lympho/quarantine.h"
#include "lympho/util.h"

static inline void cleanup_nl_sockp (struct nl_sock **sk) { if (*sk) nl_socket_free (*sk); }
static inline void cleanup_nl_cachep (struct nl_cache **c) { if (*c) nl_cache_free (*c); }
static inline void cleanup_nl_msgp (struct nl_msg **m) { if (*m) nlmsg_free (*m); }
static inline void cleanup_nl_cbp (struct nl_cb **cb) { if (*cb) nl_cb_put (*cb); }
static inline void cleanup_rtnl_linkp (struct rtnl_link **l) { if (*l) rtnl_link_put (*l); }
#define cleanup_nl_sock __attribute__ ((cleanup (cleanup_nl_sockp)))
#define cleanup_nl_cache __attribute__ ((cleanup (cleanup_nl_cachep)))
#define cleanup_nl_msg __attribute__ ((cleanup (cleanup_nl_msgp)))
#define cleanup_nl_cb __attribute__ ((cleanup (cleanup_nl_cbp)))
#define cleanup_rtnl_link __attribute__ ((cleanup (cleanup_rtnl_linkp)))

bool
quarantine_is_host_veth (const struct quarantine_link *inside, int our_id_there)
{
  /* No IFLA_LINK_NETNSID means the peer sits in the container's own
   * namespace: a pair the container made for itself, not ours to cut. */
  return inside->veth && inside->peer_ifindex > 0 && inside->peer_netnsid >= 0
         && our_id_there >= 0 && inside->peer_netnsid == our_id_there;
}

int
quarantine_check_peer (const struct quarantine_link *inside, const struct quarantine_link *host,
                       int their_id_here, lympho_error_t *err)
{
  if (host->ifindex != inside->peer_ifindex)
    return lympho_error_set (err, ESRCH, "host link %d is not ifindex %d named by %s",
                             host->ifindex, inside->peer_ifindex, inside->name);
  if (!host->veth)
    return lympho_error_set (err, ESRCH, "host link %s (ifindex %d) named by %s is not a veth",
                             host->name, host->ifindex, inside->name);
  if (host->peer_ifindex != inside->ifindex)
    return lympho_error_set (err, ESRCH, "host veth %s points at ifindex %d, not at %s (ifindex %d)",
                             host->name, host->peer_ifindex, inside->name, inside->ifindex);
  if (their_id_here < 0 || host->peer_netnsid != their_id_here)
    return lympho_error_set (err, ESRCH,
                             "host veth %s has its peer in namespace id %d, not the container's (%d)",
                             host->name, host->peer_netnsid, their_id_here);
  return 0;
}

char *
quarantine_join_names (const struct quarantine_link *links, size_t n)
{
  cleanup_buf struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < n; i++)
    {
      if (i > 0)
        buf_appends (&b, ",");
      buf_appends (&b, links[i].name);
    }
  return buf_steal (&b);
}

/* libnl reports its own error numbers; callers here speak errno. */
static int
errno_of_nl (int nlerr)
{
  switch (nlerr < 0 ? -nlerr : nlerr)
    {
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_NOMEM: return ENOMEM;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NODEV: return ENODEV;
    case NLE_BUSY: return EBUSY;
    case NLE_AGAIN: return EAGAIN;
    case NLE_INVAL: return EINVAL;
    default: return EIO;
    }
}

static int
nl_error (lympho_error_t *err, int nlerr, const char *what)
{
  return lympho_error_set (err, errno_of_nl (nlerr), "%s: %s", what, nl_geterror (nlerr));
}

static int
route_socket (struct nl_sock **out, lympho_error_t *err)
{
  cleanup_nl_sock struct nl_sock *sk = nl_socket_alloc ();
  if (sk == NULL)
    abort ();  /* allocation failure, as xmalloc */
  int r = nl_connect (sk, NETLINK_ROUTE);
  if (r < 0)
    return nl_error (err, r, "netlink route socket");
  *out = steal_pointer (&sk);
  return 0;
}

struct ns_socket_job
{
  int nsfd;
  struct nl_sock *sk;
  int sys_errno;  /* setns failed */
  lympho_error_t err;
};

/* Runs in its own thread: the namespace switch dies with the thread, while
 * the socket it opened stays bound to the container's namespace. */
static void *
ns_socket_thread (void *data)
{
  struct ns_socket_job *job = data;
  if (setns (job->nsfd, CLONE_NEWNET) < 0)
    {
      job->sys_errno = errno;
      lympho_error_set_errno (&job->err, errno, "setns into the container's network namespace");
      return NULL;
    }
  route_socket (&job->sk, &job->err);
  return NULL;
}

static int
route_socket_in (int nsfd, struct nl_sock **out, lympho_error_t *err)
{
  struct ns_socket_job job = { .nsfd = nsfd };
  pthread_t th;
  int r = pthread_create (&th, NULL, ns_socket_thread, &job);
  if (r != 0)
    return lympho_error_set_errno (err, r, "thread to enter the network namespace");
  pthread_join (th, NULL);
  if (job.sk == NULL)
    {
      if (err)
        *err = job.err;
      return -(job.err.status ? job.err.status : EIO);
    }
  *out = job.sk;
  return 0;
}

static int
nsid_reply (struct nl_msg *msg, void *arg)
{
  int *id = arg;
  struct nlattr *tb[NETNSA_MAX + 1];
  if (nlmsg_parse (nlmsg_hdr (msg), sizeof (struct rtgenmsg), tb, NETNSA_MAX, NULL) >= 0
      && tb[NETNSA_NSID])
    *id = nla_get_s32 (tb[NETNSA_NSID]);
  return NL_OK;
}

/* The id that the namespace of `sk` gives the namespace behind `nsfd`
 * (RTM_GETNSID); -1 when it has none. Never allocates one. */
static int
namespace_id (struct nl_sock *sk, int nsfd, int *id, lympho_error_t *err)
{
  struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
  cleanup_nl_msg struct nl_msg *msg = nlmsg_alloc_simple (RTM_GETNSID, NLM_F_REQUEST);
  if (msg == NULL)
    abort ();
  if (nlmsg_append (msg, &g, sizeof g, NLMSG_ALIGNTO) < 0 || nla_put_u32 (msg, NETNSA_FD, (uint32_t) nsfd) < 0)
    return lympho_error_set (err, ENOMEM, "RTM_GETNSID message");
  int r = nl_send_auto (sk, msg);
  if (r < 0)
    return nl_error (err, r, "RTM_GETNSID");
  cleanup_nl_cb struct nl_cb *cb = nl_cb_alloc (NL_CB_DEFAULT);
  if (cb == NULL)
    abort ();
  *id = NETNSA_NSID_NOT_ASSIGNED;
  nl_cb_set (cb, NL_CB_VALID, NL_CB_CUSTOM, nsid_reply, id);
  r = nl_recvmsgs (sk, cb);
  if (r < 0)
    return nl_error (err, r, "RTM_GETNSID");
  /* libnl asked for an ack; it follows the reply. */
  r = nl_wait_for_ack (sk);
  if (r < 0)
    return nl_error (err, r, "RTM_GETNSID ack");
  return 0;
}

static void
link_info (struct rtnl_link *l, struct quarantine_link *out)
{
  memset (out, 0, sizeof *out);
  out->ifindex = rtnl_link_get_ifindex (l);
  out->peer_ifindex = rtnl_link_get_link (l);
  int32_t id;
  out->peer_netnsid = rtnl_link_get_link_netnsid (l, &id) == 0 ? id : -1;
  const char *type = rtnl_link_get_type (l);
  out->veth = type != NULL && strcmp (type, "veth") == 0;
  out->loopback = rtnl_link_get_arptype (l) == ARPHRD_LOOPBACK || (rtnl_link_get_flags (l) & IFF_LOOPBACK);
  const char *name = rtnl_link_get_name (l);
  snprintf (out->name, sizeof out->name, "%s", name ? name : "?");
}

static int
open_netns (const char *path, int *fd, struct stat *st, lympho_error_t *err)
{
  *fd = open (path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return lympho_error_set_errno (err, errno, "open `%s`", path);
  if (fstat (*fd, st) < 0)
    return lympho_error_set_errno (err, errno, "stat `%s`", path);
  return 0;
}

/* The host-side veth peers of the namespace of `pid`, checked; *n = 0 when
 * there is none (our own namespace included). When there are, *sk_host is
 * the host socket they were read through, for the change that follows.
 * err is never NULL here. */
static int
find_peers (int pid, struct quarantine_link **peers, size_t *n, struct nl_sock **sk_host_out,
            size_t *n_uncut, char **uncut_names, lympho_error_t *err)
{
  *peers = NULL;
  *n = 0;
  if (n_uncut)
    *n_uncut = 0;
  if (pid <= 0)
    return lympho_error_set (err, EINVAL, "invalid pid %d", pid);

  cleanup_free char *path = xasprintf ("/proc/%d/ns/net", pid);
  cleanup_close int nsfd = -1;
  cleanup_close int selffd = -1;
  struct stat st_ns, st_self;
  int ret = open_netns (path, &nsfd, &st_ns, err);
  if (ret == -ENOENT)
    return lympho_error_set (err, ESRCH, "process %d: no such process", pid);
  if (ret < 0)
    return ret;
  ret = open_netns ("/proc/self/ns/net", &selffd, &st_self, err);
  if (ret < 0)
    return ret;
  if (st_ns.st_dev == st_self.st_dev && st_ns.st_ino == st_self.st_ino)
    return 0;  /* host network: nothing of its own to cut */

  cleanup_nl_sock struct nl_sock *sk_in = NULL;
  cleanup_nl_sock struct nl_sock *sk_host = NULL;
  cleanup_nl_cache struct nl_cache *cache = NULL;
  if (route_socket_in (nsfd, &sk_in, err) < 0)
    return lympho_error_prefix (err, "process %d", pid);
  int r = rtnl_link_alloc_cache (sk_in, AF_UNSPEC, &cache);
  if (r < 0)
    return nl_error (err, r, "list links in the container's namespace");
  /* Asked after the dump: reporting IFLA_LINK_NETNSID gave us an id there. */
  int our_id_there = -1;
  if (namespace_id (sk_in, selffd, &our_id_there, err) < 0)
    return lympho_error_prefix (err, "our namespace id in the container's");

  size_t cap = (size_t) nl_cache_nitems (cache);
  cleanup_free struct quarantine_link *inside = xmalloc0 ((cap ? cap : 1) * sizeof *inside);
  cleanup_free struct quarantine_link *other = xmalloc0 ((cap ? cap : 1) * sizeof *other);
  size_t n_inside = 0, n_other = 0;
  for (struct nl_object *o = nl_cache_get_first (cache); o && n_inside < cap; o = nl_cache_get_next (o))
    {
      struct quarantine_link l;
      link_info ((struct rtnl_link *) o, &l);
      if (l.loopback)
        continue;
      if (quarantine_is_host_veth (&l, our_id_there))
        inside[n_inside++] = l;
      else
        {
          other[n_other++] = l;
          if (n_uncut == NULL)
            log_warn ("quarantine pid %d: cannot cut %s (%s) through a host veth", pid, l.name,
                      l.veth ? "veth whose peer is not in our namespace" : "not a veth");
        }
    }
  if (n_uncut)
    *n_uncut = n_other;
  if (uncut_names)
    *uncut_names = quarantine_join_names (other, n_other);
  if (n_inside == 0)
    return 0;

  ret = route_socket (&sk_host, err);
  if (ret < 0)
    return ret;
  cleanup_free struct quarantine_link *host = xmalloc0 (n_inside * sizeof *host);
  int their_id_here = -1;
  for (size_t i = 0; i < n_inside; i++)
    {
      cleanup_rtnl_link struct rtnl_link *hl = NULL;
      r = rtnl_link_get_kernel (sk_host, inside[i].peer_ifindex, NULL, &hl);
      if (r < 0)
        {
          nl_error (err, r, "get link");
          return lympho_error_prefix (err, "host peer %d of %s", inside[i].peer_ifindex, inside[i].name);
        }
      link_info (hl, &host[i]);
      /* Asked after the first RTM_GETLINK, which gave the container's
       * namespace an id here if it had none. */
      if (their_id_here < 0 && namespace_id (sk_host, nsfd, &their_id_here, err) < 0)
        return lympho_error_prefix (err, "the container's namespace id");
      if (quarantine_check_peer (&inside[i], &host[i], their_id_here, err) < 0)
        return lympho_error_prefix (err, "process %d", pid);
    }
  *peers = steal_pointer (&host);
  *n = n_inside;
  *sk_host_out = steal_pointer (&sk_host);
  return 0;
}

static int
set_link (struct nl_sock *sk, const struct quarantine_link *l, bool up, lympho_error_t *err)
{
  cleanup_rtnl_link struct rtnl_link *orig = rtnl_link_alloc ();
  cleanup_rtnl_link struct rtnl_link *change = rtnl_link_alloc ();
  if (orig == NULL || change == NULL)
    abort ();
  rtnl_link_set_ifindex (orig, l->ifindex);
  if (up)
    rtnl_link_set_flags (change, IFF_UP);
  else
    rtnl_link_unset_flags (change, IFF_UP);
  int r = rtnl_link_change (sk, orig, change, 0);
  if (r < 0)
    {
      nl_error (err, r, "set link");
      return lympho_error_prefix (err, "%s %s", up ? "up" : "down", l->name);
    }
  return 0;
}

static int
set_network (int pid, bool up, char **names, lympho_error_t *err)
{
  lympho_error_t local;
  if (err == NULL)
    err = &local;  /* the code below reads err->status */
  if (names)
    *names = NULL;
  cleanup_free struct quarantine_link *peers = NULL;
  cleanup_nl_sock struct nl_sock *sk = NULL;
  size_t n = 0;
  int ret = find_peers (pid, &peers, &n, &sk, NULL, NULL, err);
  if (ret < 0)
    return ret;
  if (n == 0)
    {
      if (names)
        *names = xstrdup ("");
      return 0;
    }

  /* Every checked peer is set, even after one fails: half a quarantine is
   * better than none, and *names says which links did change. */
  cleanup_free struct quarantine_link *done = xmalloc0 (n * sizeof *done);
  size_t n_done = 0;
  lympho_error_t first = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      lympho_error_t e = { 0 };
      if (set_link (sk, &peers[i], up, &e) < 0)
        {
          if (first.status == 0)
            first = e;
          continue;
        }
      done[n_done++] = peers[i];
    }
  if (names)
    *names = quarantine_join_names (done, n_done);
  if (first.status != 0)
    {
      if (err)
        *err = first;
      return lympho_error_prefix (err, "process %d", pid);
    }
  return (int) n_done;
}

int
quarantine_cut_network (int pid, char **names, lympho_error_t *err)
{
  return set_network (pid, false, names, err);
}

int
quarantine_restore_network (int pid, char **names, lympho_error_t *err)
{
  return set_network (pid, true, names, err);
}

int
quarantine_uncuttable (int pid, char **names, lympho_error_t *err)
{
  if (names)
    *names = NULL;
  cleanup_free struct quarantine_link *peers = NULL;
  cleanup_nl_sock struct nl_sock *sk = NULL;
  size_t n = 0, n_uncut = 0;
  char *joined = NULL;
  int ret = find_peers (pid, &peers, &n, &sk, &n_uncut, &joined, err);
  if (ret < 0)
    {
      free (joined);
      return ret;
    }
  if (names)
    *names = joined ? joined : xstrdup ("");
  else
    free (joined);
  return (int) n_uncut;
}
