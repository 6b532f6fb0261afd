/* lympho — the Docker backend's image operations: inspect, tag, remove
 * (untag) and commit. May call: the op plumbing (docker-int.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lympho/json.h"
#include "lympho/log.h"
#include "lympho/loop.h"
#include "lympho/runtime.h"
#include "lympho/util.h"
#include "docker-int.h"

/* ---- images ---- */

static void
resp_id (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  const char *id = NULL;
  ret = docker_op_id (op, ret, in, status, body, len, &v, &id, &err);
  /* Image ids are "sha256:..." for the core, whoever answers. */
  cleanup_free char *full = NULL;
  if (ret == 0 && op->rt->q->bare_image_ids && strlen (id) == 64 && strspn (id, "0123456789abcdef") == 64)
    id = full = xasprintf ("sha256:%s", id);
  docker_finish_id (op, ret, &err, id);
}

void
docker_image_inspect (struct runtime *rt, const char *ref, rt_id_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "inspect image %s", ref);
  op->cb.id = cb;
  cleanup_free char *e = dhttp_escape (ref);
  cleanup_free char *path = xasprintf ("/images/%s/json", e);
  docker_op_send (op, "GET", path, NULL, 0, resp_id);
}

void
docker_image_tag (struct runtime *rt, const char *image_id, const char *repo, const char *tag, rt_done_cb cb,
                  void *ud)
{
  cleanup_free char *ei = dhttp_escape (image_id);
  cleanup_free char *er = dhttp_escape (repo);
  cleanup_free char *et = dhttp_escape (tag ? tag : "latest");
  cleanup_free char *path = xasprintf ("/images/%s/tag?repo=%s&tag=%s", ei, er, et);
  cleanup_free char *what = xasprintf ("tag image %s as %s:%s", image_id, repo, tag ? tag : "latest");
  docker_simple (rt, "POST", path, NULL, 0, EBUSY, what, cb, ud);
}

void
docker_image_remove (struct runtime *rt, const char *ref, rt_done_cb cb, void *ud)
{
  cleanup_free char *e = dhttp_escape (ref);
  cleanup_free char *path = xasprintf ("/images/%s?noprune=1", e);
  cleanup_free char *what = xasprintf ("remove image %s", ref);
  docker_simple (rt, "DELETE", path, NULL, 0, EBUSY, what, cb, ud);
}

static void
resp_tags (struct op *op, int ret, const lympho_error_t *in, long status, const char *body, size_t len)
{
  lympho_error_t err = { 0 };
  cleanup_json json_val v = NULL;
  char **refs = NULL;
  size_t n = 0;
  ret = docker_op_list_answer (op, ret, in, status, body, len, false, &v, &err);
  /* The filter matches by pattern: keep exactly "<repo>:<tag>". */
  cleanup_free char *prefix = ret == 0 ? xasprintf ("%s:", op->ref) : NULL;
  for (size_t i = 0; ret == 0 && i < json_arr_len (v); i++)
    {
      json_val tags = json_get (json_arr_at (v, i), "RepoTags");
      for (size_t j = 0; j < json_arr_len (tags); j++)
        {
          const char *t = json_str (json_arr_at (tags, j));
          /* Podman names them with a registry: "docker.io/<repo>" for a
           * commit, "localhost/<repo>" for a build. A first component
           * with a dot or a colon, or "localhost", is one. */
          const char *slash = t ? strchr (t, '/') : NULL;
          if (slash && strchr (slash + 1, '/') != NULL
              && (memchr (t, '.', (size_t) (slash - t)) || memchr (t, ':', (size_t) (slash - t))
                  || (slash - t == 9 && memcmp (t, "localhost", 9) == 0)))
            t = slash + 1;
          if (t == NULL || !str_has_prefix (t, prefix) || strchr (t + strlen (prefix), '/'))
            continue;
          refs = xrealloc (refs, (n + 1) * sizeof *refs);
          refs[n++] = xstrdup (t);
        }
    }
  docker_op_unlink (op);
  op->cb.refs (op->ud, ret, ret < 0 ? &err : NULL, refs, ret < 0 ? 0 : n);
  strv_free (refs, n);
  docker_op_free (op);
}

void
docker_image_tags (struct runtime *rt, const char *repo, rt_refs_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "list the images of %s", repo);
  op->cb.refs = cb;
  op->ref = xstrdup (repo);
  cleanup_free char *path = docker_filtered_path ("/images/json", NULL, "reference", repo);
  docker_op_send (op, "GET", path, NULL, 0, resp_tags);
}

void
docker_commit (struct runtime *rt, const char *id, const char *repo, const char *tag,
               const struct rt_labels *labels, rt_id_cb cb, void *ud)
{
  struct op *op = docker_op_new (rt, ud, EBUSY, "commit %s", id);
  op->cb.id = cb;
  cleanup_free char *ec = dhttp_escape (id);
  cleanup_free char *er = dhttp_escape (repo);
  cleanup_free char *et = dhttp_escape (tag ? tag : "latest");
  cleanup_free char *path = xasprintf ("/commit?container=%s&repo=%s&tag=%s&pause=1", ec, er, et);
  if (rt->q->commit_label_changes)
    {
      for (size_t i = 0; labels && i < labels->n; i++)
        {
          /* Its LABEL parser keeps backslashes: refuse what it would alter. */
          if (strpbrk (labels->v[i].key, "\"\\\n") || strpbrk (labels->v[i].value, "\"\\\n"))
            {
              lympho_error_t err = { 0 };
              lympho_error_set (&err, EINVAL, "label %s: quotes, backslashes and newlines cannot be committed here",
                                labels->v[i].key);
              docker_op_fail_later (op, &err, docker_resp_fail_id);
              return;
            }
          cleanup_free char *change = xasprintf ("LABEL \"%s\"=\"%s\"", labels->v[i].key, labels->v[i].value);
          cleanup_free char *ce = dhttp_escape (change);
          cleanup_free char *longer = xasprintf ("%s&changes=%s", path, ce);
          free (path);
          path = steal_pointer (&longer);
        }
    }
  /* The body is a container config the engine merges over the container's
   * own; only the labels are ours. */
  cleanup_jgen json_gen g = json_gen_new (false);
  json_gen_map_open (g);
  rt_labels_gen (g, "Labels", labels);
  json_gen_map_close (g);
  cleanup_free char *body = json_gen_text (g);
  /* Committing a large layer takes a while. */
  docker_op_send (op, "POST", path, body, 300L * 1000L, resp_id);
}

