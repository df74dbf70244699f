/* Reading and writing a saved plan (see planfile.h; the format is in
 * docs/plan.md).  The file is the plan JSON of `kmsmig plan --output json`,
 * so there is one plan format; this reader takes from it only what a run
 * needs (which resources move, where, and the fleet's quota totals) and
 * checks every field it takes, because a run executes what the file says:
 * a field that is missing or of the wrong type stops the run before the
 * cloud is called, it never means "everything" or "nothing". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "model/strmap.h"
#include "run/planfile.h"
#include "util/util.h"

#define FIX "re-run `kmsmig plan MANIFEST --out PLAN`"

typedef struct rd_s {
  const char *name; /* the file, for messages */
  km_err_t *err;
} rd_t;

static int bad(const rd_t *r, const char *where, const char *what) {
  return km__err_set(r->err, KM_EINVAL, "%s: %s: %s; %s", r->name, where, what,
                     FIX);
}

/* A required string member (borrowed), or NULL after bad(). */
static const char *req_str(const rd_t *r, const json_t *o, const char *key,
                           const char *where, int *rc) {
  const char *s = json_string_value(json_object_get(o, key));
  if (s == NULL || s[0] == '\0') {
    char what[96];
    snprintf(what, sizeof(what), "\"%s\" is missing or not a string", key);
    *rc = bad(r, where, what);
  }
  return s;
}

/* A string or null member: 0 with *out (borrowed, may be NULL). */
static int opt_str(const rd_t *r, const json_t *o, const char *key,
                   const char *where, const char **out) {
  const json_t *v = json_object_get(o, key);
  *out = NULL;
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    char what[96];
    snprintf(what, sizeof(what), "\"%s\" is not a string", key);
    return bad(r, where, what);
  }
  *out = json_string_value(v);
  return 0;
}

/* An integer or null (-1) member. */
static int num_or_null(const rd_t *r, const json_t *o, const char *key,
                       const char *where, int64_t *out) {
  const json_t *v = json_object_get(o, key);
  if (json_is_null(v)) {
    *out = -1;
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    char what[96];
    snprintf(what, sizeof(what), "\"%s\" is not a count or null", key);
    return bad(r, where, what);
  }
  *out = (int64_t)json_integer_value(v);
  return 0;
}

/* The resources the plan moves: verdict pending or needs_byok. */
static int read_resources(const rd_t *r, const json_t *res, const char *where,
                          km_plan_pipe_t *pp) {
  if (!json_is_array(res)) return bad(r, where, "\"resources\" is not a list");
  size_t i;
  const json_t *x;
  int rc = 0;
  json_array_foreach(res, i, x) {
    const char *kind = req_str(r, x, "kind", where, &rc);
    const char *id = req_str(r, x, "id", where, &rc);
    const char *verdict = req_str(r, x, "verdict", where, &rc);
    if (rc < 0) return rc;
    km_verdict_t v;
    if (km_verdict_parse(verdict, &v) < 0)
      return bad(r, where, "a resource has an unknown verdict");
    bool key = strcmp(kind, "key") == 0;
    if (!key && strcmp(kind, "secret") != 0)
      return bad(r, where, "a resource is neither a key nor a secret");
    if (km_verdict_moves(v))
      km_inv_strs_add(key ? &pp->keys : &pp->secrets, id);
  }
  return 0;
}

/* Every batch entry is a resource the plan moves, and every resource the
 * plan moves is in exactly one batch: a file edited by hand or cut short
 * cannot make a run move something else. */
static int check_batches(const rd_t *r, const json_t *batches,
                         const char *where, km_plan_pipe_t *pp) {
  if (!json_is_array(batches))
    return bad(r, where, "\"batches\" is not a list");
  size_t seen[2] = {0, 0};
  static const char *kinds[] = {"keys", "secrets"};
  const km_inv_strs_t *lists[] = {&pp->keys, &pp->secrets};
  km_inv_strs_t dup = {0};
  size_t i;
  const json_t *b;
  int rc = 0;
  json_array_foreach(batches, i, b) {
    for (int k = 0; k < 2 && rc == 0; k++) {
      const json_t *ids = json_object_get(b, kinds[k]);
      if (!json_is_array(ids)) {
        rc = bad(r, where, "a batch has no key or secret list");
        break;
      }
      size_t j;
      const json_t *id;
      json_array_foreach(ids, j, id) {
        const char *s = json_string_value(id);
        char tagged[600];
        snprintf(tagged, sizeof(tagged), "%d:%s", k, s != NULL ? s : "");
        if (s == NULL || !km_inv_strs_has(lists[k], s) ||
            km_inv_strs_has(&dup, tagged)) {
          rc = bad(r, where,
                   "a batch names a resource the plan does not move, or "
                   "names it twice");
          break;
        }
        km_inv_strs_add(&dup, tagged);
        seen[k]++;
      }
    }
    if (rc < 0) break;
  }
  km_inv_strs_free(&dup);
  if (rc == 0 && (seen[0] != pp->keys.n || seen[1] != pp->secrets.n))
    rc = bad(r, where, "a resource the plan moves is in no batch");
  pp->nbatches = json_array_size(batches);
  return rc;
}

/* The first blocking issue of a blocked pipeline, for the run to repeat. */
static int read_issues(const rd_t *r, const json_t *iss, const char *where,
                       km_plan_pipe_t *pp) {
  if (!json_is_array(iss)) return bad(r, where, "\"issues\" is not a list");
  size_t i;
  const json_t *x;
  json_array_foreach(iss, i, x) {
    const char *v = json_string_value(json_object_get(x, "verdict"));
    const char *m = json_string_value(json_object_get(x, "message"));
    if (v == NULL || m == NULL) return bad(r, where, "an issue is malformed");
    if (pp->blocked == NULL && strcmp(v, "blocked") == 0)
      pp->blocked = km_xstrdup(m);
  }
  return 0;
}

static int read_pipe(const rd_t *r, const json_t *o, size_t idx,
                     km_plan_pipe_t *pp) {
  char where[48];
  snprintf(where, sizeof(where), "pipelines[%zu]", idx);
  if (!json_is_object(o)) return bad(r, where, "not an object");
  int rc = 0;
  const char *account = req_str(r, o, "account", where, &rc);
  const char *region = req_str(r, o, "region", where, &rc);
  const char *status = req_str(r, o, "status", where, &rc);
  if (rc < 0) return rc;
  const char *account_id, *instance_id;
  if (opt_str(r, o, "account_id", where, &account_id) < 0 ||
      opt_str(r, o, "instance_id", where, &instance_id) < 0)
    return KM_EINVAL;
  if (strcmp(status, "ready") != 0 && strcmp(status, "blocked") != 0 &&
      strcmp(status, "nothing to do") != 0)
    return bad(r, where, "\"status\" is not ready, blocked or nothing to do");
  pp->account = km_xstrdup(account);
  pp->region = km_xstrdup(region);
  pp->status = km_xstrdup(status);
  pp->account_id = account_id != NULL ? km_xstrdup(account_id) : NULL;
  pp->instance_id = instance_id != NULL ? km_xstrdup(instance_id) : NULL;
  if ((rc = read_resources(r, json_object_get(o, "resources"), where, pp)) <
          0 ||
      (rc = check_batches(r, json_object_get(o, "batches"), where, pp)) < 0 ||
      (rc = read_issues(r, json_object_get(o, "issues"), where, pp)) < 0)
    return rc;
  if (strcmp(status, "blocked") == 0 && pp->blocked == NULL)
    pp->blocked = km_xstrdup("every resource it would move is blocked");
  if (pp->instance_id == NULL && pp->keys.n + pp->secrets.n > 0)
    return bad(r, where, "resources move but no instance_id is named");
  return 0;
}

static int read_quota(const rd_t *r, const json_t *o, const char *kind,
                      const char *where, int64_t *used, int64_t *quota,
                      int64_t *add, bool *ok) {
  const json_t *q = json_object_get(o, kind);
  const json_t *okv = json_object_get(q, "ok");
  if (!json_is_object(q) || !json_is_boolean(okv))
    return bad(r, where, "the quota figures are missing");
  if (num_or_null(r, q, "used", where, used) < 0 ||
      num_or_null(r, q, "quota", where, quota) < 0 ||
      num_or_null(r, q, "add", where, add) < 0 || *add < 0)
    return KM_EINVAL;
  *ok = *ok && json_is_true(okv);
  return 0;
}

static int read_inst(const rd_t *r, const json_t *o, size_t idx,
                     km_plan_inst_t *pi) {
  char where[48];
  snprintf(where, sizeof(where), "instances[%zu]", idx);
  int rc = 0;
  const char *id = req_str(r, o, "instance_id", where, &rc);
  if (rc < 0) return rc;
  pi->instance_id = km_xstrdup(id);
  pi->ok = true;
  if ((rc = read_quota(r, o, "keys", where, &pi->key_used, &pi->key_quota,
                       &pi->key_add, &pi->ok)) < 0 ||
      (rc = read_quota(r, o, "secrets", where, &pi->secret_used,
                       &pi->secret_quota, &pi->secret_add, &pi->ok)) < 0)
    return rc;
  return 0;
}

/* The header: what the file is, which kmsmig wrote it, for which manifest. */
static int read_header(const rd_t *r, const json_t *doc, km_planfile_t *p) {
  const char *fmt = json_string_value(json_object_get(doc, "format"));
  if (fmt == NULL || strcmp(fmt, KM_PLANFILE_FORMAT) != 0)
    return bad(r, "format",
               "not a saved plan (`plan --output json` prints one for "
               "reading; `plan --out PLAN` saves one for `run --plan`)");
  const json_t *ver = json_object_get(doc, "plan_version");
  if (!json_is_integer(ver))
    return bad(r, "plan_version", "missing or not a number");
  if (json_integer_value(ver) != KM_PLANFILE_VERSION) {
    char what[160];
    snprintf(what, sizeof(what),
             "version %lld, but this kmsmig reads version %d only",
             (long long)json_integer_value(ver), KM_PLANFILE_VERSION);
    return bad(r, "plan_version", what);
  }
  const char *h = json_string_value(json_object_get(doc, "manifest_sha256"));
  if (h == NULL || strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64)
    return bad(r, "manifest_sha256", "missing or not a SHA-256 in hex");
  memcpy(p->manifest_sha256, h, 65);
  const char *created = json_string_value(json_object_get(doc, "created"));
  if (created == NULL || km_parse_iso8601(created, &p->created) < 0)
    return bad(r, "created", "missing or not an ISO-8601 UTC time");
  return 0;
}

static void sha256_hex(const char *text, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Numbers the accounts in name order (the pipelines are sorted by account
 * when the plan is rendered, but a reader does not rely on it). */
static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void number_accounts(km_planfile_t *p) {
  char **names = km_xcalloc(p->npipes ? p->npipes : 1, sizeof(*names));
  size_t n = 0;
  for (size_t i = 0; i < p->npipes; i++)
    names[n++] = p->pipes[i].account;
  qsort(names, n, sizeof(*names), cmp_str);
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++)
    if (distinct == 0 || strcmp(names[distinct - 1], names[i]) != 0)
      names[distinct++] = names[i];
  for (size_t i = 0; i < p->npipes; i++) {
    char *key = p->pipes[i].account;
    char **hit = bsearch(&key, names, distinct, sizeof(*names), cmp_str);
    p->pipes[i].account_no = (size_t)(hit - names);
  }
  p->naccounts = distinct;
  free(names);
}

static int read_doc(const rd_t *r, const json_t *doc, km_planfile_t *p) {
  if (!json_is_object(doc)) return bad(r, "top level", "not a JSON object");
  int rc = read_header(r, doc, p);
  if (rc < 0) return rc;
  const json_t *pl = json_object_get(doc, "pipelines");
  const json_t *in = json_object_get(doc, "instances");
  if (!json_is_array(pl)) return bad(r, "pipelines", "missing or not a list");
  if (!json_is_array(in)) return bad(r, "instances", "missing or not a list");
  p->pipes = km_xcalloc(json_array_size(pl) + 1, sizeof(*p->pipes));
  p->insts = km_xcalloc(json_array_size(in) + 1, sizeof(*p->insts));
  km_strmap_t *seen = km_strmap_new(json_array_size(pl));
  size_t i;
  const json_t *x;
  json_array_foreach(pl, i, x) {
    km_plan_pipe_t *pp = &p->pipes[p->npipes++];
    if ((rc = read_pipe(r, x, i, pp)) < 0) break;
    char key[512];
    snprintf(key, sizeof(key), "%s\n%s", pp->account, pp->region);
    size_t dummy;
    if (km_strmap_get(seen, key, &dummy)) {
      rc = bad(r, "pipelines", "an account and region appears twice");
      break;
    }
    km_strmap_put(seen, key, i);
  }
  km_strmap_free(seen);
  json_array_foreach(in, i, x) {
    if (rc < 0) break;
    rc = read_inst(r, x, i, &p->insts[p->ninsts++]);
  }
  if (rc == 0) number_accounts(p);
  return rc;
}

int km_planfile_parse(const char *text, size_t len, const char *name,
                      km_planfile_t **out, km_err_t *err) {
  *out = NULL;
  rd_t r = {name != NULL ? name : "plan", err};
  json_error_t je;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    return km__err_set(err, KM_EPARSE,
                       "%s:%d:%d: not valid JSON (%s): truncated or "
                       "edited; %s",
                       r.name, je.line, je.column, je.text, FIX);
  km_planfile_t *p = km_xcalloc(1, sizeof(*p));
  int rc = read_doc(&r, doc, p);
  json_decref(doc);
  if (rc < 0) {
    km_planfile_free(p);
    return rc;
  }
  sha256_hex(text, len, p->file_sha256);
  *out = p;
  return 0;
}

int km_planfile_load(const char *path, km_planfile_t **out, km_err_t *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return km__err_set(err, KM_EIO,
                       "%s: %s; make it with `kmsmig plan "
                       "MANIFEST --out %s`",
                       path, strerror(errno), path);
  km_buf_t b;
  km_buf_init(&b);
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    km_buf_append(&b, chunk, n);
  bool failed = ferror(f) != 0;
  fclose(f);
  int rc = failed ? km__err_set(err, KM_EIO, "%s: read error", path)
                  : km_planfile_parse(b.data != NULL ? b.data : "", b.len, path,
                                      out, err);
  km_buf_free(&b);
  return rc;
}

void km_planfile_free(km_planfile_t *p) {
  if (p == NULL) return;
  for (size_t i = 0; i < p->npipes; i++) {
    km_plan_pipe_t *pp = &p->pipes[i];
    free(pp->account);
    free(pp->account_id);
    free(pp->region);
    free(pp->instance_id);
    free(pp->status);
    free(pp->blocked);
    km_inv_strs_free(&pp->keys);
    km_inv_strs_free(&pp->secrets);
  }
  for (size_t i = 0; i < p->ninsts; i++)
    free(p->insts[i].instance_id);
  free(p->pipes);
  free(p->insts);
  free(p);
}

const km_plan_pipe_t *km_planfile_find(const km_planfile_t *p,
                                       const char *account,
                                       const char *region) {
  for (size_t i = 0; p != NULL && i < p->npipes; i++)
    if (strcmp(p->pipes[i].account, account) == 0 &&
        strcmp(p->pipes[i].region, region) == 0)
      return &p->pipes[i];
  return NULL;
}

const km_plan_inst_t *km_planfile_instance(const km_planfile_t *p,
                                           const char *instance_id) {
  for (size_t i = 0; p != NULL && instance_id != NULL && i < p->ninsts; i++)
    if (strcmp(p->insts[i].instance_id, instance_id) == 0) return &p->insts[i];
  return NULL;
}

bool km_planfile_in_shard(const km_plan_pipe_t *pipe, unsigned k, unsigned n) {
  return n <= 1 || pipe->account_no % n == (size_t)(k - 1);
}

int km_planfile_write(const json_t *doc, const char *path, km_err_t *err) {
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (text == NULL) return km__err_set(err, KM_ENOMEM, "plan: JSON failed");
  char *tmp = km_xasprintf("%s.tmp-%ld", path, (long)getpid());
  /* 0600: a plan names every account, key and secret of the fleet. */
  int fd =
      open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int rc = 0;
  if (fd >= 0 && fchmod(fd, 0600) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    fd = -1;
    errno = e;
  }
  if (fd < 0) {
    rc = km__err_set(err, KM_EIO, "%s: %s", path, strerror(errno));
  } else {
    size_t len = strlen(text), off = 0;
    while (rc == 0 && off < len) {
      ssize_t w = write(fd, text + off, len - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        rc = km__err_set(err, KM_EIO, "%s: %s", tmp, strerror(errno));
      else
        off += (size_t)w;
    }
    if (rc == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) != 0))
      rc = km__err_set(err, KM_EIO, "%s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
      rc = km__err_set(err, KM_EIO, "%s: %s", path, strerror(errno));
    if (rc < 0) unlink(tmp);
  }
  free(tmp);
  free(text);
  return rc;
}
