/* Typed readers and small parsers for the manifest builders.
 *
 * The readers exist so that every wrong type is reported the same way, at
 * the value's own line:col, with the dotted name of the field and what a
 * correct value looks like; the builders then only say what each field
 * means.  See schema.h for the contract of each function. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "manifest/schema.h"
#include "util/util.h"

static void vreport(km_mctx_t *c, km_diag_level_t lvl, const char *file,
                    int line, int col, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  km_diag_add(c->d, lvl, file, line, col, "%s", msg);
}

void km__err(km_mctx_t *c, const km_ynode_t *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, KM_DIAG_ERROR, at->file, at->line, at->col, fmt, ap);
  va_end(ap);
}

void km__warn(km_mctx_t *c, const km_ynode_t *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, KM_DIAG_WARNING, at->file, at->line, at->col, fmt, ap);
  va_end(ap);
}

void km__err_pos(km_mctx_t *c, km_mf_pos_t at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, KM_DIAG_ERROR, at.file, at.line, at.col, fmt, ap);
  va_end(ap);
}

void km__warn_pos(km_mctx_t *c, km_mf_pos_t at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(c, KM_DIAG_WARNING, at.file, at.line, at.col, fmt, ap);
  va_end(ap);
}

km_mf_pos_t km__pos(km_mctx_t *c, const km_ynode_t *n) {
  km_mf_strlist_t *f = &c->m->files;
  size_t i = 0;
  while (i < f->n && strcmp(f->v[i], n->file) != 0)
    i++;
  if (i == f->n) km__strlist_push(f, n->file);
  return (km_mf_pos_t){.file = f->v[i], .line = n->line, .col = n->col};
}

size_t km__edit_distance(const char *a, const char *b) {
  /* Levenshtein with one rolling row; names are short. */
  size_t la = strlen(a), lb = strlen(b);
  size_t *row = km_xcalloc(lb + 1, sizeof(*row));
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  size_t r = row[lb];
  free(row);
  return r;
}

const char *km__nearest(const char *s, const char *const *choices) {
  const char *best = NULL;
  size_t bestd = (size_t)-1;
  size_t limit = strlen(s) / 3;
  if (limit < 2) limit = 2;
  for (size_t i = 0; choices[i] != NULL; i++) {
    size_t dist = km__edit_distance(s, choices[i]);
    if (dist < bestd) {
      bestd = dist;
      best = choices[i];
    }
  }
  return bestd <= limit ? best : NULL;
}

static bool in_list(const char *s, const char *const *l) {
  for (size_t i = 0; l[i] != NULL; i++)
    if (strcmp(s, l[i]) == 0) return true;
  return false;
}

static void join_choices(char *out, size_t n, const char *const *l) {
  out[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; l[i] != NULL && used < n; i++)
    used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", l[i]);
}

static bool is_literal_secret(const km_ynode_t *key, const km_ynode_t *val) {
  return key->kind == KM_YSCALAR && km__secret_key(key->str) &&
         val->kind == KM_YSCALAR && !km__ynull(val);
}

void km__check_keys(km_mctx_t *c, const km_ynode_t *map,
                    const char *const *allowed, const char *section) {
  if (map == NULL || map->kind != KM_YMAP) return;
  for (size_t i = 0; i < map->n; i++) {
    const km_ynode_t *k = map->keys[i];
    if (k->kind != KM_YSCALAR || in_list(k->str, allowed)) continue;
    if (is_literal_secret(k, map->items[i]))
      continue; /* already reported by km__scan_secrets */
    const char *near = km__nearest(k->str, allowed);
    char all[512];
    join_choices(all, sizeof(all), allowed);
    if (near != NULL)
      km__err(c, k, "unknown key '%s' in %s; did you mean '%s'?", k->str,
              section, near);
    else
      km__err(c, k, "unknown key '%s' in %s; valid keys are: %s", k->str,
              section, all);
  }
}

static const char *kind_name(const km_ynode_t *n) {
  if (n->kind == KM_YMAP) return "a mapping";
  if (n->kind == KM_YSEQ) return "a list";
  return km__ynull(n) ? "empty" : "a single value";
}

bool km__is_mapping(km_mctx_t *c, const char *name, const km_ynode_t *n) {
  if (n == NULL) return false;
  if (n->kind == KM_YMAP) return true;
  km__err(c, n, "'%s' must be a mapping of `key: value` lines, not %s", name,
          kind_name(n));
  return false;
}

bool km__rd_str(km_mctx_t *c, const char *name, const km_ynode_t *n,
                char **out) {
  if (n == NULL) return false;
  if (n->kind != KM_YSCALAR || km__ynull(n) || n->str[0] == '\0') {
    km__err(c, n, "'%s' must be a non-empty string, not %s", name,
            kind_name(n));
    return false;
  }
  free(*out);
  *out = km_xstrdup(n->str);
  return true;
}

bool km__rd_bool(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 bool *out) {
  if (n == NULL) return false;
  if (n->kind == KM_YSCALAR && n->plain) {
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
      *out = true;
      return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
      *out = false;
      return true;
    }
  }
  km__err(c, n, "'%s' must be true or false (unquoted)", name);
  return false;
}

bool km__rd_int(km_mctx_t *c, const char *name, const km_ynode_t *n, long lo,
                long hi, long *out) {
  if (n == NULL) return false;
  if (n->kind == KM_YSCALAR && n->plain && n->str[0] != '\0') {
    char *end = NULL;
    long v = strtol(n->str, &end, 10);
    if (*end == '\0' && v >= lo && v <= hi) {
      *out = v;
      return true;
    }
  }
  km__err(c, n, "'%s' must be a whole number from %ld to %ld", name, lo, hi);
  return false;
}

bool km__rd_enum(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 const char *const *choices, int *out) {
  if (n == NULL) return false;
  char all[256];
  join_choices(all, sizeof(all), choices);
  if (n->kind != KM_YSCALAR || km__ynull(n)) {
    km__err(c, n, "'%s' must be one of: %s", name, all);
    return false;
  }
  for (int i = 0; choices[i] != NULL; i++)
    if (strcmp(n->str, choices[i]) == 0) {
      *out = i;
      return true;
    }
  const char *near = km__nearest(n->str, choices);
  if (near != NULL)
    km__err(c, n, "'%s' is '%s'; did you mean '%s'? (one of: %s)", name, n->str,
            near, all);
  else
    km__err(c, n, "'%s' is '%s'; it must be one of: %s", name, n->str, all);
  return false;
}

bool km__rd_strlist(km_mctx_t *c, const char *name, const km_ynode_t *n,
                    bool allow_scalar, km_mf_strlist_t *out) {
  if (n == NULL) return false;
  if (allow_scalar && n->kind == KM_YSCALAR && !km__ynull(n)) {
    km__strlist_push(out, n->str);
    return true;
  }
  if (n->kind != KM_YSEQ) {
    km__err(c, n, "'%s' must be a list%s, e.g. [a, b]", name,
            allow_scalar ? " or a single string" : "");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n->n; i++) {
    const km_ynode_t *it = n->items[i];
    if (it->kind != KM_YSCALAR || km__ynull(it) || it->str[0] == '\0') {
      km__err(c, it, "each item of '%s' must be a non-empty string, not %s",
              name, kind_name(it));
      ok = false;
      continue;
    }
    km__strlist_push(out, it->str);
  }
  return ok;
}

bool km__rd_kv(km_mctx_t *c, const char *name, const km_ynode_t *n,
               km_mf_kv_t **out, size_t *nout) {
  if (!km__is_mapping(c, name, n)) return false;
  bool ok = true;
  for (size_t i = 0; i < n->n; i++) {
    const km_ynode_t *v = n->items[i];
    if (v->kind != KM_YSCALAR || km__ynull(v)) {
      km__err(c, v, "'%s.%s' must be a string value", name, n->keys[i]->str);
      ok = false;
      continue;
    }
    *out = km_xrealloc(*out, (*nout + 1) * sizeof(**out));
    (*out)[*nout].key = km_xstrdup(n->keys[i]->str);
    (*out)[*nout].value = km_xstrdup(v->str);
    (*nout)++;
  }
  return ok;
}

bool km__rd_path(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 bool must_exist, const char *suffix, char **out) {
  char *raw = NULL;
  if (!km__rd_str(c, name, n, &raw)) return false;
  size_t lr = strlen(raw), ls = suffix ? strlen(suffix) : 0;
  if (suffix != NULL && (lr < ls || strcmp(raw + lr - ls, suffix) != 0)) {
    km__err(c, n, "'%s' is '%s'; it must name a %s file", name, raw, suffix);
    free(raw);
    return false;
  }
  char *dir = km__dirname(n->file);
  char *p = km__join_path(dir, raw);
  free(dir);
  struct stat st;
  if (must_exist && (stat(p, &st) != 0 || !S_ISREG(st.st_mode))) {
    km__err(c, n,
            "'%s' names '%s', which does not exist (looked for %s); paths are "
            "relative to the file that names them",
            name, raw, p);
    free(raw);
    free(p);
    return false;
  }
  free(raw);
  free(*out);
  *out = p;
  return true;
}

bool km__secret_key(const char *key) {
  static const char *const names[] = {
      "accesskeysecret", "accesskeyid",      "secret",   "securitytoken",
      "secretaccesskey", "stssecuritytoken", "password", "ststoken",
      "token",           "secretkey",        NULL};
  char norm[64];
  size_t j = 0;
  for (size_t i = 0; key[i] != '\0' && j + 1 < sizeof(norm); i++)
    if (key[i] != '_' && key[i] != '-')
      norm[j++] = (char)tolower((unsigned char)key[i]);
  norm[j] = '\0';
  return in_list(norm, names);
}

void km__scan_secrets(km_mctx_t *c, const km_ynode_t *n) {
  if (n == NULL || n->kind == KM_YSCALAR) return;
  for (size_t i = 0; i < n->n; i++) {
    if (n->kind == KM_YMAP && is_literal_secret(n->keys[i], n->items[i]))
      km__err(c, n->keys[i],
              "'%s' holds a literal credential; never write secrets in a "
              "manifest: use credentials: {env: true} (ALIBABA_CLOUD_ACCESS_"
              "KEY_ID/_SECRET) or {profile: NAME} (aliyun CLI)",
              n->keys[i]->str);
    km__scan_secrets(c, n->items[i]);
  }
}

int km__parse_duration(const char *s, int64_t *out) {
  int64_t total = 0;
  const char *p = s;
  if (*p == '\0') return KM_EINVAL;
  while (*p != '\0') {
    if (!isdigit((unsigned char)*p)) return KM_EINVAL;
    int64_t v = 0;
    while (isdigit((unsigned char)*p)) {
      v = v * 10 + (*p++ - '0');
      if (v > 100000000) return KM_EINVAL;
    }
    int64_t unit;
    switch (*p++) {
    case 'd':
      unit = 86400;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'm':
      unit = 60;
      break;
    case 's':
      unit = 1;
      break;
    default:
      return KM_EINVAL;
    }
    total += v * unit;
  }
  if (total <= 0) return KM_EINVAL;
  *out = total;
  return 0;
}

static bool valid_date(int y, int mo, int d) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1) return false;
  int max = mdays[mo - 1];
  if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
  return d <= max;
}

static int64_t utc_epoch(int y, int mo, int d, int h, int mi, int se) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return (int64_t)timegm(&tm);
}

int km__parse_time(const char *s, int64_t *out) {
  int y, mo, d, h, mi, se, n = 0;
  if (strlen(s) < 20 ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) !=
          6 ||
      n != 19)
    return KM_EINVAL;
  if (!valid_date(y, mo, d) || h > 23 || mi > 59 || se > 59) return KM_EINVAL;
  const char *z = s + 19;
  int64_t off = 0;
  if (strcmp(z, "Z") != 0) {
    int oh, om, m2 = 0;
    if ((z[0] != '+' && z[0] != '-') ||
        sscanf(z + 1, "%2d:%2d%n", &oh, &om, &m2) != 2 || m2 != 5 ||
        z[6] != '\0' || oh > 14 || om > 59)
      return KM_EINVAL;
    off = (int64_t)(oh * 3600 + om * 60) * (z[0] == '+' ? 1 : -1);
  }
  *out = utc_epoch(y, mo, d, h, mi, se) - off;
  return 0;
}

int km__parse_date_cst(const char *s, int64_t *out) {
  int y, mo, d, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
      s[10] != '\0' || !valid_date(y, mo, d))
    return KM_EINVAL;
  *out = utc_epoch(y, mo, d, 0, 0, 0) - 8 * 3600;
  return 0;
}

char *km__dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return km_xstrdup(".");
  if (slash == path) return km_xstrdup("/");
  return km_xstrndup(path, (size_t)(slash - path));
}

char *km__join_path(const char *dir, const char *p) {
  if (p[0] == '/' || dir[0] == '\0' || strcmp(dir, ".") == 0)
    return km_xstrdup(p);
  return km_xasprintf("%s/%s", dir, p);
}

void km__strlist_push(km_mf_strlist_t *l, const char *s) {
  l->v = km_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
  l->v[l->n++] = km_xstrdup(s);
}

void km__strlist_free(km_mf_strlist_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

bool km__strlist_has(const km_mf_strlist_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return true;
  return false;
}
