/* lympho — a create specification -> the engine's requests, for the Docker
 * backend: the plan (the create body, the further networks), what an API
 * version cannot carry, a hidden create (no aliases) and its publish, and
 * the body Podman's create needs. The specification itself comes from
 * docker-spec.c.
 * May call: docker-spec, docker-version. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/util.h"
#include "docker-spec.h"
#include "docker-version.h"

/* ---- spec -> requests ---- */

void
docker_spec_plan_free (struct docker_spec_plan *p)
{
  if (p == NULL)
    return;
  free (p->create_body);
  free (p->image_id);
  free (p->image_ref);
  for (size_t i = 0; i < p->n_nets; i++)
    {
      free (p->nets[i].name);
      free (p->nets[i].body);
    }
  free (p->nets);
  memset (p, 0, sizeof *p);
}

int
docker_spec_plan (const char *spec, const struct rt_labels *extra_labels, struct docker_spec_plan *out,
                  lympho_error_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_json json_val root = NULL;
  if (spec == NULL)
    return lympho_error_set (err, EINVAL, "no create specification");
  int ret = json_parse (spec, strlen (spec), &root, err);
  if (ret < 0)
    return lympho_error_prefix (err, "create specification");
  int64_t version = 0;
  if (!json_as_int64 (json_get (root, "Version"), &version) || version != DOCKER_SPEC_VERSION)
    return lympho_error_set (err, EINVAL, "create specification: unknown version");
  json_val create = json_get (root, "Create");
  json_val nets = json_get (root, "Networks");
  if (create == NULL || !json_is_object (create) || !json_str_nonempty (json_get (create, "Image")))
    return lympho_error_set (err, EINVAL, "create specification: no Create body with an Image");
  if (nets == NULL || !json_is_array (nets))
    return lympho_error_set (err, EINVAL, "create specification: no Networks list");
  json_val labels = json_get (create, "Labels");
  if (!json_is_obj_or_null (labels))
    return lympho_error_set (err, EINVAL, "create specification: Labels is not an object");
  json_val ref = json_get (root, "ImageRef");
  if (ref && !json_str_nonempty (ref))
    return lympho_error_set (err, EINVAL, "create specification: ImageRef is not a reference");
  for (size_t i = 0; i < json_arr_len (nets); i++)
    {
      json_val n = json_arr_at (nets, i);
      json_val ep = json_get (n, "EndpointConfig");
      if (!json_str_nonempty (json_get (n, "Name")) || ep == NULL || !json_is_object (ep))
        return lympho_error_set (err, EINVAL, "create specification: malformed network %zu", i);
    }

  struct rt_labels merged = { 0 };
  for (size_t i = 0; i < json_obj_len (labels); i++)
    {
      const char *v = json_str (json_obj_value (labels, i));
      if (v == NULL)
        {
          rt_labels_free (&merged);
          return lympho_error_set (err, EINVAL, "create specification: label %s is not a string",
                                   json_obj_key (labels, i));
        }
      rt_labels_set (&merged, json_obj_key (labels, i), v);
    }
  rt_labels_copy (&merged, extra_labels);

  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (create); i++)
    if (strcmp (json_obj_key (create, i), "Labels") != 0)
      {
        json_gen_str (g, json_obj_key (create, i));
        json_gen_value (g, json_obj_value (create, i));
      }
  json_gen_str (g, "Labels");
  json_gen_map_open (g);
  for (size_t i = 0; i < merged.n; i++)
    json_gen_kstr (g, merged.v[i].key, merged.v[i].value);
  json_gen_map_close (g);
  json_gen_map_close (g);
  rt_labels_free (&merged);
  out->create_body = json_gen_text (g);

  out->image_id = xstrdup (json_str (json_get (create, "Image")));
  out->image_ref = ref ? xstrdup (json_str (ref)) : NULL;
  out->n_nets = json_arr_len (nets);
  out->nets = out->n_nets ? xmalloc0 (out->n_nets * sizeof *out->nets) : NULL;
  for (size_t i = 0; i < out->n_nets; i++)
    {
      json_val n = json_arr_at (nets, i);
      out->nets[i].name = xstrdup (json_str (json_get (n, "Name")));
      out->nets[i].body = json_to_string (json_get (n, "EndpointConfig"));
    }
  return 0;
}

/* Whether some HostConfig.Mounts entry has a non-empty opts.key. */
static bool
mounts_have (json_val host, const char *opts, const char *key)
{
  json_val mounts = json_get (host, "Mounts");
  for (size_t i = 0; i < json_arr_len (mounts); i++)
    {
      json_val v = json_path (json_arr_at (mounts, i), opts, key, NULL);
      if ((v && json_is_string (v) && json_str (v)[0]) || json_arr_len (v) > 0 || json_is_true (v))
        return true;
    }
  return false;
}

char *
docker_spec_unsupported (const struct docker_spec_plan *plan, int api)
{
  cleanup_json json_val body = NULL;
  lympho_error_t ignored = { 0 };
  if (json_parse (plan->create_body, strlen (plan->create_body), &body, &ignored) < 0)
    return NULL;
  json_val host = json_get (body, "HostConfig");
  int64_t start_interval = 0;
  const struct
  {
    int since;
    bool has;
    const char *what;
  } fields[] = {
    { 1043, json_obj_len (json_get (host, "Annotations")) > 0, "HostConfig.Annotations (API 1.43)" },
    { 1044, json_as_int64 (json_path (body, "Healthcheck", "StartInterval", NULL), &start_interval)
                && start_interval > 0,
      "Healthcheck.StartInterval (API 1.44)" },
    { 1044, mounts_have (host, "BindOptions", "ReadOnlyNonRecursive")
                || mounts_have (host, "BindOptions", "ReadOnlyForceRecursive"),
      "recursive read-only bind options (API 1.44)" },
    { 1045, mounts_have (host, "VolumeOptions", "Subpath"), "volume subpaths (API 1.45)" },
    { 1046, mounts_have (host, "TmpfsOptions", "Options"), "tmpfs options (API 1.46)" },
  };
  char *out = NULL;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (api < fields[i].since && fields[i].has)
      {
        char *more = out ? xasprintf ("%s, %s", out, fields[i].what) : xstrdup (fields[i].what);
        free (out);
        out = more;
      }
  return out;
}

bool
docker_spec_same_image (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return false;
  if (str_has_prefix (a, "sha256:"))
    a += strlen ("sha256:");
  if (str_has_prefix (b, "sha256:"))
    b += strlen ("sha256:");
  return a[0] && strcmp (a, b) == 0;
}

/* An endpoint config with MacAddress set to mac (when it has none). */
static void
gen_endpoint_with_mac (json_gen g, json_val ep, const char *mac)
{
  if (mac == NULL || json_str_nonempty (json_get (ep, "MacAddress")))
    {
      json_gen_value (g, ep);
      return;
    }
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (ep); i++)
    if (strcmp (json_obj_key (ep, i), "MacAddress") != 0)
      {
        json_gen_str (g, json_obj_key (ep, i));
        json_gen_value (g, json_obj_value (ep, i));
      }
  json_gen_kstr (g, "MacAddress", mac);
  json_gen_map_close (g);
}

int
docker_spec_for_api (struct docker_spec_plan *plan, int api, const char *image, lympho_error_t *err)
{
  cleanup_json json_val body = NULL;
  if (json_parse (plan->create_body, strlen (plan->create_body), &body, err) < 0)
    return lympho_error_prefix (err, "create body");
  json_val eps = json_path (body, "NetworkingConfig", "EndpointsConfig", NULL);
  if (!json_is_object (body) || !json_is_obj_or_null (json_get (body, "NetworkingConfig")) || !json_is_obj_or_null (eps))
    return lympho_error_set (err, EINVAL, "create body: malformed NetworkingConfig");
  bool all_nets = api >= 1044;
  /* The static MAC goes with the primary endpoint, the only one the spec
   * puts in the create body. */
  const char *mac = json_str (json_get (body, "MacAddress"));
  if (!all_nets || mac == NULL || mac[0] == '\0' || json_obj_len (eps) != 1)
    mac = NULL;
  bool merge = all_nets && plan->n_nets > 0;

  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (body); i++)
    {
      const char *k = json_obj_key (body, i);
      if ((strcmp (k, "Image") == 0 && image) || (strcmp (k, "MacAddress") == 0 && mac)
          || (strcmp (k, "NetworkingConfig") == 0 && (merge || mac)))
        continue;
      json_gen_str (g, k);
      json_gen_value (g, json_obj_value (body, i));
    }
  if (image)
    json_gen_kstr (g, "Image", image);
  if (merge || mac)
    {
      json_gen_str (g, "NetworkingConfig");
      json_gen_map_open (g);
      json_gen_str (g, "EndpointsConfig");
      json_gen_map_open (g);
      for (size_t i = 0; i < json_obj_len (eps); i++)
        {
          json_gen_str (g, json_obj_key (eps, i));
          gen_endpoint_with_mac (g, json_obj_value (eps, i), mac);
        }
      for (size_t i = 0; merge && i < plan->n_nets; i++)
        {
          cleanup_json json_val ep = NULL;
          if (json_parse (plan->nets[i].body, strlen (plan->nets[i].body), &ep, err) < 0)
            return lympho_error_prefix (err, "network %s", plan->nets[i].name);
          json_gen_str (g, plan->nets[i].name);
          json_gen_value (g, ep);
        }
      json_gen_map_close (g);
      json_gen_map_close (g);
    }
  json_gen_map_close (g);
  free (plan->create_body);
  plan->create_body = json_gen_text (g);
  if (merge)
    {
      docker_spec_nets_free (plan->nets, plan->n_nets);
      plan->nets = NULL;
      plan->n_nets = 0;
    }
  return 0;
}

void
docker_spec_nets_free (struct docker_spec_net *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].name);
      free (v[i].body);
    }
  free (v);
}

/* An endpoint config without its Aliases; NULL when it had none. */
static char *
without_aliases (json_val ep)
{
  if (json_arr_len (json_get (ep, "Aliases")) == 0)
    return NULL;
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (ep); i++)
    if (strcmp (json_obj_key (ep, i), "Aliases") != 0)
      {
        json_gen_str (g, json_obj_key (ep, i));
        json_gen_value (g, json_obj_value (ep, i));
      }
  json_gen_map_close (g);
  return json_gen_text (g);
}

static void
publish_add (struct docker_spec_net **v, size_t *n, const char *name, json_val ep)
{
  *v = xrealloc (*v, (*n + 1) * sizeof **v);
  (*v)[*n].name = xstrdup (name);
  (*v)[*n].body = json_to_string (ep);
  (*n)++;
}

int
docker_spec_hide (struct docker_spec_plan *plan, struct docker_spec_net **publish, size_t *n_publish,
                  lympho_error_t *err)
{
  *publish = NULL;
  *n_publish = 0;
  cleanup_json json_val body = NULL;
  if (json_parse (plan->create_body, strlen (plan->create_body), &body, err) < 0)
    return lympho_error_prefix (err, "create body");
  /* The primary network's endpoint sits in the create body. */
  json_val eps = json_path (body, "NetworkingConfig", "EndpointsConfig", NULL);
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (body); i++)
    {
      const char *k = json_obj_key (body, i);
      json_gen_str (g, k);
      if (strcmp (k, "NetworkingConfig") != 0 || eps == NULL || !json_is_object (eps))
        {
          json_gen_value (g, json_obj_value (body, i));
          continue;
        }
      json_gen_map_open (g);
      json_gen_str (g, "EndpointsConfig");
      json_gen_map_open (g);
      for (size_t j = 0; j < json_obj_len (eps); j++)
        {
          json_val ep = json_obj_value (eps, j);
          cleanup_free char *hidden = without_aliases (ep);
          json_gen_str (g, json_obj_key (eps, j));
          if (hidden == NULL)
            {
              json_gen_value (g, ep);
              continue;
            }
          json_val h = NULL;
          int ret = json_parse (hidden, strlen (hidden), &h, err);
          if (ret < 0)
            {
              docker_spec_nets_free (*publish, *n_publish);
              *publish = NULL;
              *n_publish = 0;
              return ret;
            }
          json_gen_value (g, h);
          json_free (h);
          publish_add (publish, n_publish, json_obj_key (eps, j), ep);
        }
      json_gen_map_close (g);
      json_gen_map_close (g);
    }
  json_gen_map_close (g);
  for (size_t i = 0; i < plan->n_nets; i++)
    {
      cleanup_json json_val ep = NULL;
      int ret = json_parse (plan->nets[i].body, strlen (plan->nets[i].body), &ep, err);
      if (ret < 0)
        {
          docker_spec_nets_free (*publish, *n_publish);
          *publish = NULL;
          *n_publish = 0;
          return ret;
        }
      char *hidden = without_aliases (ep);
      if (hidden == NULL)
        continue;
      publish_add (publish, n_publish, plan->nets[i].name, ep);
      free (plan->nets[i].body);
      plan->nets[i].body = hidden;
    }
  free (plan->create_body);
  plan->create_body = json_gen_text (g);
  return 0;
}

char *
docker_spec_connect_body (const struct docker_spec_net *net, const char *id)
{
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_str (g, id);
  cleanup_free char *qid = json_gen_text (g);
  return xasprintf ("{\"Container\":%s,\"EndpointConfig\":%s}", qid, net->body);
}

/* ---- Podman's create ---- */

static void
gen_podman_ulimits (json_gen g, json_val ulimits)
{
  json_gen_str (g, "Ulimits");
  json_gen_array_open (g);
  if (json_arr_len (ulimits) == 0)
    {
      /* What ../shared/ENGINE.md found to work; the source ran with
       * whatever it had, a spec without any is from elsewhere. */
      static const char *const names[] = { "nofile", "nproc" };
      for (size_t i = 0; i < 2; i++)
        {
          json_gen_map_open (g);
          json_gen_kstr (g, "Name", names[i]);
          json_gen_kint (g, "Soft", 1024);
          json_gen_kint (g, "Hard", 1024);
          json_gen_map_close (g);
        }
    }
  for (size_t i = 0; i < json_arr_len (ulimits); i++)
    {
      json_val u = json_arr_at (ulimits, i);
      json_gen_map_open (g);
      for (size_t j = 0; j < json_obj_len (u); j++)
        {
          const char *k = json_obj_key (u, j);
          const char *name = json_str (json_obj_value (u, j));
          if (strcmp (k, "Name") == 0 && name && str_has_prefix (name, "RLIMIT_"))
            {
              cleanup_free char *low = xstrdup (name + strlen ("RLIMIT_"));
              for (char *p = low; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
              json_gen_kstr (g, k, low);
              continue;
            }
          json_gen_str (g, k);
          json_gen_value (g, json_obj_value (u, j));
        }
      json_gen_map_close (g);
    }
  json_gen_array_close (g);
}

int
docker_spec_podman_create (char **create_body, lympho_error_t *err)
{
  cleanup_json json_val root = NULL;
  int ret = json_parse (*create_body, strlen (*create_body), &root, err);
  if (ret < 0)
    return lympho_error_prefix (err, "create body");
  json_val host = json_get (root, "HostConfig");
  json_val ulimits = json_get (host, "Ulimits");
  if (!json_is_object (root) || !json_is_obj_or_null (host) || !json_is_arr_or_null (ulimits))
    return lympho_error_set (err, EINVAL, "create body: malformed HostConfig");
  for (size_t i = 0; i < json_arr_len (ulimits); i++)
    if (!json_is_object (json_arr_at (ulimits, i)))
      return lympho_error_set (err, EINVAL, "create body: malformed ulimit %zu", i);

  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (root); i++)
    {
      const char *k = json_obj_key (root, i);
      if (strcmp (k, "HostConfig") == 0)
        continue;
      json_gen_str (g, k);
      json_gen_value (g, json_obj_value (root, i));
    }
  json_gen_str (g, "HostConfig");
  json_gen_map_open (g);
  for (size_t i = 0; i < json_obj_len (host); i++)
    {
      const char *k = json_obj_key (host, i);
      if (strcmp (k, "Ulimits") == 0)
        continue;
      json_gen_str (g, k);
      json_gen_value (g, json_obj_value (host, i));
    }
  gen_podman_ulimits (g, ulimits);
  json_gen_map_close (g);
  json_gen_map_close (g);
  free (*create_body);
  *create_body = json_gen_text (g);
  return 0;
}
