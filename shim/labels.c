/* lympho — container labels into a protection policy, and durations.
 * Parsing is strict on purpose: a typo in a label must surface as an error
 * naming the label, never as a silently different policy.
 * May call: util: a leaf. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lympho/allow.h"
#include "lympho/labels.h"
#include "lympho/util.h"

const char *
strategy_name (enum strategy s)
{
  static const char *const names[] = { "auto", "replace", "swap", "swarm" };
  return (unsigned) s < sizeof names / sizeof names[0] ? names[s] : "auto";
}

static const struct
{
  const char *name;
  unsigned flag;
} quarantine_names[] = {
  { "network", QUARANTINE_NETWORK },
  { "pause", QUARANTINE_PAUSE },
  { "forensics", QUARANTINE_FORENSICS },
};

char *
quarantine_format (unsigned flags)
{
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < sizeof quarantine_names / sizeof quarantine_names[0]; i++)
    if (flags & quarantine_names[i].flag)
      buf_printf (&b, "%s%s", b.len ? "," : "", quarantine_names[i].name);
  if (b.len == 0)
    buf_appends (&b, "none");
  return buf_steal (&b);
}

/* Units from the largest down; a compound duration must use them in this
 * order, each at most once ("1h30m", not "30m1h" or "1m1m"). */
static const struct
{
  const char *name;
  uint64_t ms;
} units[] = {
  { "d", 24ull * 3600 * 1000 },
  { "h", 3600ull * 1000 },
  { "m", 60ull * 1000 },
  { "s", 1000 },
  { "ms", 1 },
};
#define N_UNITS (sizeof units / sizeof units[0])

int
duration_parse (const char *s, uint64_t *out_ms, lympho_error_t *err)
{
  if (s == NULL || *s == '\0')
    return lympho_error_set (err, EINVAL, "empty duration");
  for (const char *p = s; *p; p++)
    if (isspace ((unsigned char) *p))
      return lympho_error_set (err, EINVAL, "whitespace is not allowed");
  if (*s == '-')
    return lympho_error_set (err, EINVAL, "negative durations are not allowed");

  uint64_t total = 0;
  size_t next_unit = 0; /* index of the largest unit still allowed */
  const char *p = s;
  while (*p)
    {
      if (!isdigit ((unsigned char) *p))
        return lympho_error_set (err, EINVAL, "expected a number at \"%s\"", p);
      uint64_t n = 0;
      while (isdigit ((unsigned char) *p))
        {
          if (__builtin_mul_overflow (n, 10, &n) || __builtin_add_overflow (n, (uint64_t) (*p - '0'), &n))
            return lympho_error_set (err, EINVAL, "too large");
          p++;
        }
      if (*p == '.' || *p == ',')
        return lympho_error_set (err, EINVAL, "fractions are not allowed (write 1h30m, not 1.5h)");
      const char *u = p;
      while (isalpha ((unsigned char) *p))
        p++;
      size_t ulen = (size_t) (p - u);
      if (ulen == 0)
        return lympho_error_set (err, EINVAL, "missing unit after \"%.*s\" (ms, s, m, h or d)",
                                 (int) (p - s), s);
      size_t i;
      for (i = 0; i < N_UNITS; i++)
        if (strlen (units[i].name) == ulen && memcmp (units[i].name, u, ulen) == 0)
          break;
      if (i == N_UNITS)
        return lympho_error_set (err, EINVAL, "unknown unit \"%.*s\"", (int) ulen, u);
      if (i < next_unit)
        return lympho_error_set (err, EINVAL, "unit \"%s\" out of order (largest first, each once)",
                                 units[i].name);
      next_unit = i + 1;
      uint64_t part;
      if (__builtin_mul_overflow (n, units[i].ms, &part) || __builtin_add_overflow (total, part, &total))
        return lympho_error_set (err, EINVAL, "too large");
    }
  *out_ms = total;
  return 0;
}

char *
duration_format (uint64_t ms)
{
  if (ms == 0)
    return xstrdup ("0s");
  struct buf b;
  buf_init (&b);
  for (size_t i = 0; i < N_UNITS; i++)
    if (ms >= units[i].ms)
      {
        buf_printf (&b, "%llu%s", (unsigned long long) (ms / units[i].ms), units[i].name);
        ms %= units[i].ms;
      }
  return buf_steal (&b);
}

void
policy_defaults (struct policy *p)
{
  memset (p, 0, sizeof *p);
  p->enabled = false;
  p->ttl_ms = 3600ull * 1000;
  p->jitter_pct = 10;
  p->group = NULL;
  p->strategy = STRATEGY_AUTO;
  p->threshold = 3;
  p->exec_allow_set = false;
  p->drift_interval_ms = 30ull * 1000;
  p->quarantine = QUARANTINE_NETWORK | QUARANTINE_FORENSICS;
}

static void
free_list (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
policy_free (struct policy *p)
{
  free (p->group);
  free_list (p->exec_allow, p->n_exec_allow);
  free_list (p->drift_allow, p->n_drift_allow);
  free_list (p->after, p->n_after);
  p->group = NULL;
  p->exec_allow = p->drift_allow = p->after = NULL;
  p->n_exec_allow = p->n_drift_allow = p->n_after = 0;
  p->after_compose = false;
}

/* Decimal digits only: no sign, no spaces, no hex. */
static bool
parse_uint (const char *s, size_t len, unsigned max, unsigned *out)
{
  if (len == 0)
    return false;
  unsigned long v = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (!isdigit ((unsigned char) s[i]))
        return false;
      v = v * 10 + (unsigned long) (s[i] - '0');
      if (v > max)
        return false;
    }
  *out = (unsigned) v;
  return true;
}

/* Every parser below gets the label's value and fills a one-line reason on
 * failure; policy_from_labels() prefixes `label KEY="VALUE"`. */

static int
parse_enable (const char *v, struct policy *p, lympho_error_t *err)
{
  if (strcmp (v, "true") == 0)
    p->enabled = true;
  else if (strcmp (v, "false") == 0)
    p->enabled = false;
  else
    return lympho_error_set (err, EINVAL, "must be \"true\" or \"false\"");
  return 0;
}

static int
parse_ttl (const char *v, struct policy *p, lympho_error_t *err)
{
  uint64_t ms;
  if (duration_parse (v, &ms, err) < 0)
    return -EINVAL;
  if (ms < TTL_MIN_MS || ms > TTL_MAX_MS)
    {
      cleanup_free char *lo = duration_format (TTL_MIN_MS);
      cleanup_free char *hi = duration_format (TTL_MAX_MS);
      return lympho_error_set (err, EINVAL, "must be between %s and %s", lo, hi);
    }
  p->ttl_ms = ms;
  return 0;
}

static int
parse_jitter (const char *v, struct policy *p, lympho_error_t *err)
{
  size_t len = strlen (v);
  if (len > 0 && v[len - 1] == '%')
    len--;
  if (!parse_uint (v, len, 50, &p->jitter_pct))
    return lympho_error_set (err, EINVAL, "must be a whole percentage from 0 to 50");
  return 0;
}

static int
parse_group (const char *v, struct policy *p, lympho_error_t *err)
{
  size_t len = strlen (v);
  if (len < 1 || len > 64)
    return lympho_error_set (err, EINVAL, "must be 1 to 64 characters");
  for (size_t i = 0; i < len; i++)
    if (!isalnum ((unsigned char) v[i]) && v[i] != '_' && v[i] != '.' && v[i] != '-')
      return lympho_error_set (err, EINVAL, "only letters, digits, '_', '.' and '-' are allowed");
  free (p->group);
  p->group = xstrdup (v);
  return 0;
}

static int
parse_strategy (const char *v, struct policy *p, lympho_error_t *err)
{
  if (strcmp (v, "auto") == 0)
    p->strategy = STRATEGY_AUTO;
  else if (strcmp (v, "replace") == 0)
    p->strategy = STRATEGY_REPLACE;
  else if (strcmp (v, "swap") == 0)
    p->strategy = STRATEGY_SWAP;
  else
    return lympho_error_set (err, EINVAL, "must be auto, replace or swap");
  return 0;
}

static int
parse_threshold (const char *v, struct policy *p, lympho_error_t *err)
{
  if (!parse_uint (v, strlen (v), 100, &p->threshold) || p->threshold < 1)
    return lympho_error_set (err, EINVAL, "must be a whole number from 1 to 100");
  return 0;
}

/* Comma-separated items, each cut by item_len (NULL: the whole item) and
 * judged by check (why it is refused, or NULL); at most max (0: no bound);
 * unique: an item given twice is refused. *out is replaced. No item is
 * empty and none is trimmed, so "/bin/sh, /bin/ls" is refused rather than
 * guessed at. */
static int
parse_list (const char *v, size_t (*item_len) (const char *, size_t), const char *(*check) (const char *, size_t),
            size_t max, bool unique, char ***out, size_t *n_out, lympho_error_t *err)
{
  char **list = NULL;
  size_t n = 0;
  for (const char *p = v;;)
    {
      const char *end = strchr (p, ',');
      size_t len = end ? (size_t) (end - p) : strlen (p);
      size_t nlen = item_len ? item_len (p, len) : len;
      const char *why = max && n == max ? "too many names" : check (p, nlen);
      for (size_t i = 0; unique && !why && i < n; i++)
        if (strlen (list[i]) == nlen && memcmp (list[i], p, nlen) == 0)
          why = "given twice";
      if (why)
        {
          free_list (list, n);
          if (nlen == 0)
            return lympho_error_set (err, EINVAL, "%s", why);
          return lympho_error_set (err, EINVAL, "\"%.*s\": %s", (int) (nlen > 64 ? 64 : nlen), p, why);
        }
      list = xrealloc (list, (n + 1) * sizeof *list);
      list[n++] = xstrndup (p, nlen);
      if (end == NULL)
        break;
      p = end + 1;
    }
  free_list (*out, *n_out);
  *out = list;
  *n_out = n;
  return 0;
}

/* An absolute path with no whitespace. */
static const char *
check_path (const char *s, size_t len)
{
  if (len == 0)
    return "empty item";
  if (s[0] != '/')
    return "not an absolute path";
  for (size_t i = 0; i < len; i++)
    if (isspace ((unsigned char) s[i]) || iscntrl ((unsigned char) s[i]))
      return "whitespace is not allowed";
  return NULL;
}

static int
parse_path_list (const char *v, char ***out, size_t *n_out, lympho_error_t *err)
{
  return parse_list (v, NULL, check_path, 0, false, out, n_out, err);
}

static int
parse_exec_allow (const char *v, struct policy *p, lympho_error_t *err)
{
  if (parse_path_list (v, &p->exec_allow, &p->n_exec_allow, err) < 0)
    return -EINVAL;
  for (size_t i = 0; i < p->n_exec_allow; i++)
    if (allow_entry_check (p->exec_allow[i], err) < 0)
      return -EINVAL;
  p->exec_allow_set = true;
  return 0;
}

const char *
exec_mode_name (enum exec_mode m)
{
  switch (m)
    {
    case EXEC_MODE_DENY: return "deny";
    case EXEC_MODE_DETECT: return "detect";
    case EXEC_MODE_OFF: return "off";
    case EXEC_MODE_AUTO: break;
    }
  return "auto";
}

static int
parse_exec_mode (const char *v, struct policy *p, lympho_error_t *err)
{
  static const enum exec_mode modes[] = { EXEC_MODE_DENY, EXEC_MODE_DETECT, EXEC_MODE_OFF };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp (v, exec_mode_name (modes[i])) == 0)
      {
        p->exec_mode = modes[i];
        return 0;
      }
  return lympho_error_set (err, EINVAL, "must be deny, detect or off");
}

const char *
lympho_mode_name (enum lympho_mode m)
{
  switch (m)
    {
    case LYMPHO_MODE_ENFORCE: return "enforce";
    case LYMPHO_MODE_OBSERVE: return "observe";
    case LYMPHO_MODE_DEFAULT: break;
    }
  return "default";
}

static int
parse_mode (const char *v, struct policy *p, lympho_error_t *err)
{
  if (strcmp (v, "enforce") == 0)
    p->mode = LYMPHO_MODE_ENFORCE;
  else if (strcmp (v, "observe") == 0)
    p->mode = LYMPHO_MODE_OBSERVE;
  else
    return lympho_error_set (err, EINVAL, "must be enforce or observe");
  return 0;
}

/* A container name as Docker takes it: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at
 * most 255 bytes. */
static const char *
check_name (const char *s, size_t len)
{
  if (len == 0)
    return "empty item";
  if (len > 255)
    return "longer than 255 bytes";
  if (!isalnum ((unsigned char) s[0]))
    return "must start with a letter or a digit";
  for (size_t i = 1; i < len; i++)
    if (!isalnum ((unsigned char) s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return "only letters, digits, '_', '.' and '-' are allowed";
  return NULL;
}

/* Comma-separated names; item_len (may be NULL) cuts each item (compose's
 * "name:condition:restart"). */
static int
parse_name_list (const char *v, size_t (*item_len) (const char *, size_t), char ***out, size_t *n_out,
                 lympho_error_t *err)
{
  return parse_list (v, item_len, check_name, AFTER_MAX, true, out, n_out, err);
}

static int
parse_after (const char *v, struct policy *p, lympho_error_t *err)
{
  free_list (p->after, p->n_after);
  p->after = NULL;
  p->n_after = 0;
  p->after_compose = false;
  return parse_name_list (v, NULL, &p->after, &p->n_after, err);
}

static size_t
up_to_colon (const char *s, size_t len)
{
  const char *c = memchr (s, ':', len);
  return c ? (size_t) (c - s) : len;
}

int
compose_depends_on_parse (const char *v, char ***out, size_t *n_out, lympho_error_t *err)
{
  *out = NULL;
  *n_out = 0;
  return parse_name_list (v, up_to_colon, out, n_out, err);
}

static int
parse_drift_allow (const char *v, struct policy *p, lympho_error_t *err)
{
  return parse_path_list (v, &p->drift_allow, &p->n_drift_allow, err);
}

static int
parse_drift_interval (const char *v, struct policy *p, lympho_error_t *err)
{
  uint64_t ms;
  if (duration_parse (v, &ms, err) < 0)
    return -EINVAL;
  if (ms < 1000)
    return lympho_error_set (err, EINVAL, "must be at least 1s");
  p->drift_interval_ms = ms;
  return 0;
}

static int
parse_drift_learn (const char *v, struct policy *p, lympho_error_t *err)
{
  uint64_t ms;
  if (duration_parse (v, &ms, err) < 0)
    return -EINVAL;
  if (ms > DRIFT_LEARN_MAX_MS)
    return lympho_error_set (err, EINVAL, "must be at most 1h");
  p->drift_learn_set = true;
  p->drift_learn_ms = ms;
  return 0;
}

static int
parse_quarantine (const char *v, struct policy *p, lympho_error_t *err)
{
  if (strcmp (v, "none") == 0)
    {
      p->quarantine = 0;
      return 0;
    }
  unsigned flags = 0;
  const char *s = v;
  for (;;)
    {
      const char *end = strchr (s, ',');
      size_t len = end ? (size_t) (end - s) : strlen (s);
      if (len == 0)
        return lympho_error_set (err, EINVAL, "empty item");
      if (len == 4 && memcmp (s, "none", 4) == 0)
        return lympho_error_set (err, EINVAL, "\"none\" cannot be combined with other actions");
      size_t i;
      for (i = 0; i < sizeof quarantine_names / sizeof quarantine_names[0]; i++)
        if (strlen (quarantine_names[i].name) == len && memcmp (quarantine_names[i].name, s, len) == 0)
          break;
      if (i == sizeof quarantine_names / sizeof quarantine_names[0])
        return lympho_error_set (err, EINVAL, "unknown action \"%.*s\" (network, pause, forensics or none)",
                                 (int) len, s);
      if (flags & quarantine_names[i].flag)
        return lympho_error_set (err, EINVAL, "\"%s\" given twice", quarantine_names[i].name);
      flags |= quarantine_names[i].flag;
      if (end == NULL)
        break;
      s = end + 1;
    }
  p->quarantine = flags;
  return 0;
}

static const struct
{
  const char *key;
  int (*parse) (const char *value, struct policy *p, lympho_error_t *err);
} label_parsers[] = {
  { LABEL_ENABLE, parse_enable },
  { LABEL_TTL, parse_ttl },
  { LABEL_JITTER, parse_jitter },
  { LABEL_GROUP, parse_group },
  { LABEL_STRATEGY, parse_strategy },
  { LABEL_THRESHOLD, parse_threshold },
  { LABEL_EXEC_ALLOW, parse_exec_allow },
  { LABEL_EXEC_MODE, parse_exec_mode },
  { LABEL_DRIFT_ALLOW, parse_drift_allow },
  { LABEL_DRIFT_INTERVAL, parse_drift_interval },
  { LABEL_DRIFT_LEARN, parse_drift_learn },
  { LABEL_QUARANTINE, parse_quarantine },
  { LABEL_MODE, parse_mode },
  { LABEL_AFTER, parse_after },
};

/* Labels lympho itself puts on the containers it creates. */
static const char *const internal_labels[] = { LABEL_GENERATION, LABEL_NAME, LABEL_TXN };

int
policy_from_labels (const struct rt_labels *labels, struct policy *out, lympho_error_t *err)
{
  struct policy p;
  policy_defaults (&p);
  for (size_t i = 0; labels && i < labels->n; i++)
    {
      const char *key = labels->v[i].key;
      const char *value = labels->v[i].value ? labels->v[i].value : "";
      if (!str_has_prefix (key, "lympho."))
        continue;
      bool internal = false;
      for (size_t j = 0; j < sizeof internal_labels / sizeof internal_labels[0]; j++)
        if (strcmp (key, internal_labels[j]) == 0)
          internal = true;
      if (internal)
        continue;
      size_t j;
      for (j = 0; j < sizeof label_parsers / sizeof label_parsers[0]; j++)
        if (strcmp (key, label_parsers[j].key) == 0)
          break;
      int ret;
      if (j == sizeof label_parsers / sizeof label_parsers[0])
        ret = lympho_error_set (err, EINVAL, "unknown lympho label");
      else
        ret = label_parsers[j].parse (value, &p, err);
      if (ret < 0)
        {
          /* Tell the caller whether the container asked for protection, so
           * that it can record why it is left alone. */
          const char *en = rt_labels_get (labels, LABEL_ENABLE);
          policy_free (&p);
          policy_defaults (out);
          out->enabled = en && strcmp (en, "true") == 0;
          return lympho_error_prefix (err, "label %s=\"%s\"", key, value);
        }
    }
  /* In a compose project, without lympho.after: compose's depends_on. A
   * label compose wrote that cannot be read is not the operator's error:
   * nothing follows from it. */
  const char *deps = rt_labels_get (labels, LABEL_COMPOSE_DEPENDS_ON);
  if (rt_labels_get (labels, LABEL_AFTER) == NULL && deps && deps[0]
      && rt_labels_get (labels, LABEL_COMPOSE_PROJECT))
    {
      lympho_error_t derr = { 0 };
      if (compose_depends_on_parse (deps, &p.after, &p.n_after, &derr) == 0)
        p.after_compose = true;
    }
  *out = p;
  return 0;
}
