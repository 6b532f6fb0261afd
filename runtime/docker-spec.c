/* lympho — inspect JSON -> create specification for the Docker backend.
 *
 * Policy, in short: the new container runs the very image the old one ran
 * (by id, created through the user's own reference while that still names
 * it: docker-create.c checks); everything the user configured comes back;
 * everything that belonged to the old instance (its id as hostname and
 * alias, its container-id file) does not. Volumes are never lost: every volume the old
 * container had, anonymous ones included, is attached by name at the same
 * place. What is lost is the writable layer, which is the point.
 * May call: json and util: a leaf. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/util.h"
#include "docker-spec.h"

/* ---- small helpers ---- */

static bool
key_in (const char *key, const char *const *set)
{
  for (; *set; set++)
    if (strcmp (key, *set) == 0)
      return true;
  return false;
}

/* Destination of a "src:dst[:opts]" bind; NULL when malformed. */
static char *
bind_dest (const char *bind)
{
  const char *a = strchr (bind, ':');
  if (a == NULL)
    return xstrdup (bind); /* "/dst": an anonymous volume */
  const char *b = strchr (a + 1, ':');
  return b ? xstrndup (a + 1, b - a - 1) : xstrdup (a + 1);
}

struct inspect
{
  enum docker_spec_dialect dialect;
  json_val root, config, host, mounts, networks;
  const char *id, *name, *image_id, *net_mode;
  const char *mode_out; /* NetworkMode to create with, when not net_mode */
  char short_id[13];
  const char *hostname;
  /* The entry of NetworkSettings.Networks that is the primary network. */
  json_val primary;
  const char *primary_key;
  bool netns_shared; /* host, none or container:X: no endpoints of our own */
  bool uts_shared;   /* host or container:X: the hostname comes from there */
};

static int
inspect_check (json_val root, enum docker_spec_dialect dialect, struct inspect *in, lympho_error_t *err)
{
  memset (in, 0, sizeof *in);
  in->dialect = dialect;
  in->root = root;
  if (!json_is_object (root))
    return lympho_error_set (err, EINVAL, "inspect answer is not an object");
  in->id = json_str (json_get (root, "Id"));
  in->name = json_str (json_get (root, "Name"));
  in->image_id = json_str (json_get (root, "Image"));
  in->config = json_get (root, "Config");
  in->host = json_get (root, "HostConfig");
  in->mounts = json_get (root, "Mounts");
  json_val ns = json_get (root, "NetworkSettings");
  in->networks = json_get (ns, "Networks");
  if (in->id == NULL || strlen (in->id) < 12)
    return lympho_error_set (err, EINVAL, "inspect answer without a valid Id");
  if (in->name == NULL || in->name[0] == '\0')
    return lympho_error_set (err, EINVAL, "inspect answer without a Name");
  if (in->image_id == NULL || !str_has_prefix (in->image_id, "sha256:"))
    return lympho_error_set (err, EINVAL, "inspect answer without an image id");
  if (in->config == NULL || !json_is_object (in->config))
    return lympho_error_set (err, EINVAL, "inspect answer without Config");
  if (in->host == NULL || !json_is_object (in->host))
    return lympho_error_set (err, EINVAL, "inspect answer without HostConfig");
  if (ns == NULL || !json_is_object (ns) || !json_is_obj_or_null (in->networks))
    return lympho_error_set (err, EINVAL, "inspect answer without NetworkSettings");
  if (!json_is_arr_or_null (in->mounts))
    return lympho_error_set (err, EINVAL, "inspect answer: Mounts is not an array");
  in->net_mode = json_str (json_get (in->host, "NetworkMode"));
  if (in->net_mode == NULL || in->net_mode[0] == '\0')
    return lympho_error_set (err, EINVAL, "inspect answer without HostConfig.NetworkMode");
  memcpy (in->short_id, in->id, 12);
  in->short_id[12] = '\0';
  in->hostname = json_str (json_get (in->config, "Hostname"));

  json_val labels = json_get (in->config, "Labels");
  if (!json_is_obj_or_null (labels))
    return lympho_error_set (err, EINVAL, "inspect answer: Config.Labels is not an object");
  for (size_t i = 0; i < json_obj_len (labels); i++)
    if (json_str (json_obj_value (labels, i)) == NULL)
      return lympho_error_set (err, EINVAL, "inspect answer: label %s is not a string", json_obj_key (labels, i));

  for (size_t i = 0; i < json_arr_len (in->mounts); i++)
    {
      json_val m = json_arr_at (in->mounts, i);
      if (!json_is_object (m) || json_str (json_get (m, "Type")) == NULL
          || json_str (json_get (m, "Destination")) == NULL)
        return lympho_error_set (err, EINVAL, "inspect answer: malformed mount %zu", i);
      if (strcmp (json_str (json_get (m, "Type")), "volume") == 0 && !json_str_nonempty (json_get (m, "Name")))
        return lympho_error_set (err, EINVAL, "inspect answer: volume mount without a name");
    }
  for (size_t i = 0; i < json_obj_len (in->networks); i++)
    {
      json_val n = json_obj_value (in->networks, i);
      if (!json_is_object (n) || !json_is_arr_or_null (json_get (n, "Aliases"))
          || !json_is_obj_or_null (json_get (n, "IPAMConfig")))
        return lympho_error_set (err, EINVAL, "inspect answer: malformed network %s",
                                 json_obj_key (in->networks, i));
    }
  json_val binds = json_get (in->host, "Binds");
  if (!json_is_arr_or_null (binds))
    return lympho_error_set (err, EINVAL, "inspect answer: HostConfig.Binds is not an array");
  for (size_t i = 0; i < json_arr_len (binds); i++)
    if (json_str (json_arr_at (binds, i)) == NULL)
      return lympho_error_set (err, EINVAL, "inspect answer: malformed bind %zu", i);
  if (!json_is_obj_or_null (json_get (in->host, "PortBindings")) || !json_is_arr_or_null (json_get (in->host, "Mounts"))
      || !json_is_arr_or_null (json_get (in->host, "Links")))
    return lympho_error_set (err, EINVAL, "inspect answer: malformed HostConfig");

  const char *m = in->net_mode;
  if (strcmp (m, "host") == 0 || strcmp (m, "none") == 0 || str_has_prefix (m, "container:"))
    in->netns_shared = true;
  in->uts_shared = strcmp (m, "host") == 0 || str_has_prefix (m, "container:");
  if (!in->netns_shared)
    {
      const char *want = strcmp (m, "default") == 0 ? "bridge" : m;
      for (size_t i = 0; i < json_obj_len (in->networks); i++)
        if (strcmp (json_obj_key (in->networks, i), want) == 0)
          in->primary_key = json_obj_key (in->networks, i);
      /* Created with --network <id>: the mode is (a prefix of) the id. */
      for (size_t i = 0; in->primary_key == NULL && i < json_obj_len (in->networks); i++)
        {
          const char *nid = json_str (json_get (json_obj_value (in->networks, i), "NetworkID"));
          if (nid && str_has_prefix (nid, want))
            in->primary_key = json_obj_key (in->networks, i);
        }
      /* Podman says "bridge" for any container on bridge networks, its
       * default one being "podman": take that, else the first, and name it
       * at create. The others are connected before start as usual. */
      if (in->primary_key == NULL && dialect == DOCKER_SPEC_PODMAN && strcmp (want, "bridge") == 0
          && json_obj_len (in->networks) > 0)
        {
          in->primary_key = json_get (in->networks, "podman") ? "podman" : json_obj_key (in->networks, 0);
          in->mode_out = in->primary_key;
        }
      if (in->primary_key)
        in->primary = json_get (in->networks, in->primary_key);
    }
  return 0;
}

/* ---- the swap decision ---- */

static char *
swap_blocker (const struct inspect *in)
{
  const char *m = in->net_mode;
  if (strcmp (m, "host") == 0)
    return xstrdup ("uses the host network");
  if (str_has_prefix (m, "container:"))
    return xasprintf ("shares the network of %s", m + strlen ("container:"));
  json_val pb = json_get (in->host, "PortBindings");
  for (size_t i = 0; i < json_obj_len (pb); i++)
    {
      json_val arr = json_obj_value (pb, i);
      for (size_t j = 0; j < json_arr_len (arr); j++)
        {
          const char *hp = json_str (json_get (json_arr_at (arr, j), "HostPort"));
          if (hp && hp[0])
            return xasprintf ("publishes host port %s (%s)", hp, json_obj_key (pb, i));
        }
    }
  if (json_is_true (json_get (in->host, "PublishAllPorts")))
    return xstrdup ("publishes all exposed ports");
  for (size_t i = 0; i < json_obj_len (in->networks); i++)
    {
      json_val ipam = json_get (json_obj_value (in->networks, i), "IPAMConfig");
      const char *ip4 = json_str (json_get (ipam, "IPv4Address"));
      const char *ip6 = json_str (json_get (ipam, "IPv6Address"));
      if ((ip4 && ip4[0]) || (ip6 && ip6[0]))
        return xasprintf ("has the static address %s on %s", ip4 && ip4[0] ? ip4 : ip6,
                          json_obj_key (in->networks, i));
    }
  if (json_str_nonempty (json_get (in->config, "MacAddress")))
    return xstrdup ("has a static MAC address");
  for (size_t i = 0; i < json_arr_len (in->mounts); i++)
    {
      json_val mt = json_arr_at (in->mounts, i);
      if (strcmp (json_str (json_get (mt, "Type")), "volume") == 0 && json_is_true (json_get (mt, "RW")))
        return xasprintf ("mounts the writable volume %s at %s", json_str (json_get (mt, "Name")),
                          json_str (json_get (mt, "Destination")));
    }
  return NULL;
}

static bool
healthcheck_active (json_val config)
{
  json_val test = json_path (config, "Healthcheck", "Test", NULL);
  if (json_arr_len (test) == 0)
    return false;
  const char *first = json_str (json_arr_at (test, 0));
  return first && strcmp (first, "NONE") != 0;
}

/* ---- generating the create body ---- */

/* Podman writes the instance's hostname into its environment at create
 * (HOSTNAME=<short id>, or the one given with --hostname) unless the create
 * has one. Kept, it would give the new instance the old one's name (a
 * stale short id): drop HOSTNAME=<old short id> and HOSTNAME=<old
 * hostname>; Podman writes the new instance's own. A HOSTNAME the user set
 * apart from the hostname stays. */
static void
gen_podman_env (json_gen g, const struct inspect *in, json_val env)
{
  json_gen_str (g, "Env");
  if (!json_is_array (env))
    {
      json_gen_value (g, env);
      return;
    }
  cleanup_free char *stale = xasprintf ("HOSTNAME=%s", in->short_id);
  cleanup_free char *named = in->hostname && in->hostname[0] ? xasprintf ("HOSTNAME=%s", in->hostname) : NULL;
  json_gen_array_open (g);
  for (size_t i = 0; i < json_arr_len (env); i++)
    {
      const char *e = json_str (json_arr_at (env, i));
      if (e && (strcmp (e, stale) == 0 || (named && strcmp (e, named) == 0)))
        continue;
      json_gen_value (g, json_arr_at (env, i));
    }
  json_gen_array_close (g);
}

static void
gen_config (json_gen g, const struct inspect *in)
{
  /* Config keys the create endpoint does not take or that describe the old
   * instance only. */
  static const char *const drop[] = { "Image", "Hostname", "OnBuild", "ArgsEscaped", NULL };
  json_val c = in->config;
  for (size_t i = 0; i < json_obj_len (c); i++)
    {
      const char *k = json_obj_key (c, i);
      if (key_in (k, drop))
        continue;
      if (strcmp (k, "Domainname") == 0 && in->uts_shared)
        continue;
      if (strcmp (k, "Env") == 0 && in->dialect == DOCKER_SPEC_PODMAN)
        {
          gen_podman_env (g, in, json_obj_value (c, i));
          continue;
        }
      json_gen_str (g, k);
      json_gen_value (g, json_obj_value (c, i));
    }
  json_gen_kstr (g, "Image", in->image_id);
  /* The engine sets the hostname to the short id when none was given;
   * keep only one the user chose. host and container:X take theirs from
   * the namespace they join. */
  if (in->hostname && in->hostname[0] && strcmp (in->hostname, in->short_id) != 0 && !in->uts_shared)
    json_gen_kstr (g, "Hostname", in->hostname);
}

/* Name of the volume mounted at dest, if any. */
static const char *
volume_at (const struct inspect *in, const char *dest)
{
  for (size_t i = 0; i < json_arr_len (in->mounts); i++)
    {
      json_val m = json_arr_at (in->mounts, i);
      if (strcmp (json_str (json_get (m, "Type")), "volume") == 0
          && strcmp (json_str (json_get (m, "Destination")), dest) == 0)
        return json_str (json_get (m, "Name"));
    }
  return NULL;
}

static void
gen_binds (json_gen g, const struct inspect *in)
{
  json_val binds = json_get (in->host, "Binds");
  json_val hmounts = json_get (in->host, "Mounts");
  json_gen_str (g, "Binds");
  json_gen_array_open (g);
  for (size_t i = 0; i < json_arr_len (binds); i++)
    {
      const char *b = json_str (json_arr_at (binds, i));
      if (strchr (b, ':') == NULL)
        {
          /* "/dst" alone would make a fresh anonymous volume: name it. */
          const char *vol = volume_at (in, b);
          if (vol)
            {
              cleanup_free char *nb = xasprintf ("%s:%s", vol, b);
              json_gen_str (g, nb);
              continue;
            }
        }
      json_gen_str (g, b);
    }
  /* Volumes not named by a bind or a --mount: anonymous ones (from -v /dst,
   * Config.Volumes or the image's VOLUME). Attach them by name. */
  for (size_t i = 0; i < json_arr_len (in->mounts); i++)
    {
      json_val m = json_arr_at (in->mounts, i);
      if (strcmp (json_str (json_get (m, "Type")), "volume") != 0)
        continue;
      const char *dest = json_str (json_get (m, "Destination"));
      bool covered = false;
      for (size_t j = 0; !covered && j < json_arr_len (binds); j++)
        {
          cleanup_free char *d = bind_dest (json_str (json_arr_at (binds, j)));
          covered = strcmp (d, dest) == 0;
        }
      for (size_t j = 0; !covered && j < json_arr_len (hmounts); j++)
        {
          const char *t = json_str (json_get (json_arr_at (hmounts, j), "Target"));
          covered = t && strcmp (t, dest) == 0;
        }
      if (covered)
        continue;
      cleanup_free char *nb = xasprintf ("%s:%s%s", json_str (json_get (m, "Name")), dest,
                                         json_is_true (json_get (m, "RW")) ? "" : ":ro");
      json_gen_str (g, nb);
    }
  json_gen_array_close (g);
}

static void
gen_host_mounts (json_gen g, const struct inspect *in, json_val hmounts)
{
  json_gen_str (g, "Mounts");
  json_gen_array_open (g);
  for (size_t i = 0; i < json_arr_len (hmounts); i++)
    {
      json_val m = json_arr_at (hmounts, i);
      const char *type = json_str (json_get (m, "Type"));
      const char *target = json_str (json_get (m, "Target"));
      const char *vol = target ? volume_at (in, target) : NULL;
      if (!json_is_object (m) || type == NULL || strcmp (type, "volume") != 0
          || json_str_nonempty (json_get (m, "Source")) || vol == NULL)
        {
          json_gen_value (g, m);
          continue;
        }
      /* --mount type=volume without a source: an anonymous volume. */
      json_gen_map_open (g);
      for (size_t j = 0; j < json_obj_len (m); j++)
        if (strcmp (json_obj_key (m, j), "Source") != 0)
          {
            json_gen_str (g, json_obj_key (m, j));
            json_gen_value (g, json_obj_value (m, j));
          }
      json_gen_kstr (g, "Source", vol);
      json_gen_map_close (g);
    }
  json_gen_array_close (g);
}

static void
gen_host_config (json_gen g, const struct inspect *in)
{
  json_val h = in->host;
  /* Podman's inspect shows, beside NanoCpus (--cpus), the CPU period and
   * quota it derived from it, and its create refuses the three together
   * ("NanoCpus conflicts with CpuPeriod and CpuQuota"): NanoCpus alone
   * says it all. (Docker shows 0 for those two, and refuses the same.) */
  int64_t nano = 0;
  bool derived_quota = in->dialect == DOCKER_SPEC_PODMAN && json_as_int64 (json_get (h, "NanoCpus"), &nano) && nano > 0;
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (h); i++)
    {
      const char *k = json_obj_key (h, i);
      json_val v = json_obj_value (h, i);
      if (strcmp (k, "ContainerIDFile") == 0 || strcmp (k, "Binds") == 0)
        continue;
      if (derived_quota && (strcmp (k, "CpuPeriod") == 0 || strcmp (k, "CpuQuota") == 0))
        continue;
      if (strcmp (k, "NetworkMode") == 0 && in->mode_out)
        {
          json_gen_kstr (g, k, in->mode_out);
          continue;
        }
      if (strcmp (k, "Mounts") == 0)
        {
          gen_host_mounts (g, in, v);
          continue;
        }
      if (strcmp (k, "Links") == 0 && json_arr_len (v) > 0)
        {
          /* Inspect shows legacy links as "/target:/self/alias"; create
           * wants "target:alias". */
          json_gen_str (g, k);
          json_gen_array_open (g);
          for (size_t j = 0; j < json_arr_len (v); j++)
            {
              const char *l = json_str (json_arr_at (v, j));
              if (l == NULL)
                continue;
              const char *colon = strchr (l, ':');
              if (colon == NULL)
                {
                  json_gen_str (g, l);
                  continue;
                }
              const char *target = l[0] == '/' ? l + 1 : l;
              const char *alias = strrchr (colon, '/');
              alias = alias ? alias + 1 : colon + 1;
              cleanup_free char *nl = xasprintf ("%.*s:%s", (int) (colon - target), target, alias);
              json_gen_str (g, nl);
            }
          json_gen_array_close (g);
          continue;
        }
      json_gen_str (g, k);
      json_gen_value (g, v);
    }
  gen_binds (g, in);
  json_gen_map_close (g);
}

static void
gen_endpoint (json_gen g, const struct inspect *in, json_val ep)
{
  json_gen_map_open (g);
  json_val ipam = json_get (ep, "IPAMConfig");
  if (json_obj_len (ipam) > 0)
    {
      json_gen_str (g, "IPAMConfig");
      json_gen_value (g, ipam);
    }
  json_val links = json_get (ep, "Links");
  if (json_arr_len (links) > 0)
    {
      json_gen_str (g, "Links");
      json_gen_value (g, links);
    }
  /* The engine adds the short id and the hostname by itself (below API
   * 1.45 inspect shows them among the aliases; from 1.45 in DNSNames
   * only); an old short id would even point at nothing. */
  json_val aliases = json_get (ep, "Aliases");
  size_t kept = 0;
  for (size_t i = 0; i < json_arr_len (aliases); i++)
    {
      const char *a = json_str (json_arr_at (aliases, i));
      if (a == NULL || strcmp (a, in->short_id) == 0 || (in->hostname && strcmp (a, in->hostname) == 0))
        continue;
      if (kept++ == 0)
        {
          json_gen_str (g, "Aliases");
          json_gen_array_open (g);
        }
      json_gen_str (g, a);
    }
  if (kept)
    json_gen_array_close (g);
  json_val opts = json_get (ep, "DriverOpts");
  if (json_obj_len (opts) > 0)
    {
      json_gen_str (g, "DriverOpts");
      json_gen_value (g, opts);
    }
  json_gen_map_close (g);
}

static char *
gen_spec (const struct inspect *in)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  json_gen_kint (g, "Version", DOCKER_SPEC_VERSION);
  json_gen_str (g, "Create");
  json_gen_map_open (g);
  gen_config (g, in);
  json_gen_str (g, "HostConfig");
  gen_host_config (g, in);
  if (in->primary)
    {
      json_gen_str (g, "NetworkingConfig");
      json_gen_map_open (g);
      json_gen_str (g, "EndpointsConfig");
      json_gen_map_open (g);
      json_gen_str (g, in->mode_out ? in->mode_out : in->net_mode);
      gen_endpoint (g, in, in->primary);
      json_gen_map_close (g);
      json_gen_map_close (g);
    }
  json_gen_map_close (g);
  /* The reference the user gave (docker ps shows it): created with again
   * while it still names the pinned image. */
  const char *ref = json_str (json_get (in->config, "Image"));
  if (ref && ref[0] && strcmp (ref, in->image_id) != 0 && strcmp (ref, in->image_id + strlen ("sha256:")) != 0)
    json_gen_kstr (g, "ImageRef", ref);
  json_gen_str (g, "Networks");
  json_gen_array_open (g);
  for (size_t i = 0; !in->netns_shared && i < json_obj_len (in->networks); i++)
    {
      if (json_obj_value (in->networks, i) == in->primary)
        continue;
      json_gen_map_open (g);
      json_gen_kstr (g, "Name", json_obj_key (in->networks, i));
      json_gen_str (g, "EndpointConfig");
      gen_endpoint (g, in, json_obj_value (in->networks, i));
      json_gen_map_close (g);
    }
  json_gen_array_close (g);
  json_gen_map_close (g);
  return json_gen_text (g);
}

int
docker_spec_from_inspect (const char *json, size_t len, struct rt_snapshot *out, lympho_error_t *err)
{
  return docker_spec_from_inspect_as (DOCKER_SPEC_DOCKER, json, len, out, err);
}

int
docker_spec_from_inspect_as (enum docker_spec_dialect dialect, const char *json, size_t len,
                             struct rt_snapshot *out, lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_json json_val root = NULL;
  int ret = json_parse (json, len, &root, err);
  if (ret < 0)
    return ret;
  struct inspect in;
  ret = inspect_check (root, dialect, &in, err);
  if (ret < 0)
    return ret;
  out->id = xstrdup (in.id);
  out->name = xstrdup (in.name[0] == '/' ? in.name + 1 : in.name);
  out->image_id = xstrdup (in.image_id);
  out->spec = gen_spec (&in);
  json_val labels = json_get (in.config, "Labels");
  for (size_t i = 0; i < json_obj_len (labels); i++)
    rt_labels_set (&out->labels, json_obj_key (labels, i), json_str (json_obj_value (labels, i)));
  out->has_healthcheck = healthcheck_active (in.config);
  out->swap_blocker = swap_blocker (&in);
  int64_t t;
  out->stop_timeout_s = json_as_int64 (json_get (in.config, "StopTimeout"), &t) && t >= 0 && t < 1000000 ? (int) t : -1;
  return 0;
}
