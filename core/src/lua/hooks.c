/* The five named hooks as plugins use them: which file runs, and what its
 * result must look like (docs/hooks.md is the contract).
 *
 * Files.  The target's hook configuration (km_hookcfg_t) names the
 * operator's files, already resolved from the account and the manifest;
 * a hook it does not name falls back to lua/<name>.lua.  A named file that
 * has gone missing is not a fallback case: the run fails with "cannot
 * open", so an operator's customisation is never silently replaced by the
 * default.  post_check may name several files: they run in order and their
 * verdicts merge (all must pass; messages are prefixed with the file name).
 *
 * Results are checked here, once, so that every plugin reading them can
 * trust the shape: a hook returning {chagne = true} fails with a message
 * naming the file and the field, instead of being read as "no change".
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/priv.h"
#include "util/util.h"

static const char *const hook_names[] = {"rotation", "default_instance",
                                         "post_check", "before_batch",
                                         "after_batch"};

typedef struct job_s {
  km_lua_t *vm;
  char *name;
  char **files;
  size_t nfiles, next;
  json_t *input;  /* the caller's, one reference held */
  json_t *merged; /* post_check */
  km_lua_obj_cb cb;
  void *ud;
} job_t;

_Static_assert(KM_ARRAY_SIZE(hook_names) == KM__LUA_NHOOKS,
               "priv.h counts the hook names");

/* The index of name in hook_names, or -1. */
static int known(const char *name) {
  for (size_t i = 0; i < KM_ARRAY_SIZE(hook_names); i++)
    if (strcmp(name, hook_names[i]) == 0) return (int)i;
  return -1;
}

/* The default file of hook idx (owned), or NULL when lua_dir has none
 * readable: looked at once per VM. */
static char *default_file(km_lua_t *vm, int idx) {
  if (vm->has_default[idx] < 0) return NULL;
  char *def = km_xasprintf("%s/%s.lua", vm->lua_dir, hook_names[idx]);
  if (vm->has_default[idx] == 0)
    vm->has_default[idx] = access(def, R_OK) == 0 ? 1 : -1;
  if (vm->has_default[idx] > 0) return def;
  free(def);
  return NULL;
}

/* The files configured for name in hooks (may be NULL), as an owned list;
 * empty when none is configured. */
static char **configured(const km_hookcfg_t *hooks, const char *name,
                         size_t *n) {
  *n = 0;
  if (hooks != NULL && strcmp(name, "post_check") == 0) {
    char **out = km_xcalloc(hooks->npost_check + 2, sizeof(char *));
    for (size_t i = 0; i < hooks->npost_check; i++)
      out[(*n)++] = km_xstrdup(hooks->post_check[i]);
    return out;
  }
  char **out = km_xcalloc(2, sizeof(char *));
  const char *v = NULL;
  if (hooks != NULL) {
    if (strcmp(name, "rotation") == 0) v = hooks->rotation;
    if (strcmp(name, "default_instance") == 0) v = hooks->default_instance;
    if (strcmp(name, "before_batch") == 0) v = hooks->before_batch;
    if (strcmp(name, "after_batch") == 0) v = hooks->after_batch;
  }
  if (v != NULL && v[0] != '\0') out[(*n)++] = km_xstrdup(v);
  return out;
}

void km_lua_dirs_free(char **dirs, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(dirs[i]);
  free(dirs);
}

char **km_lua_hook_dirs(const km_hookcfg_t *hooks, size_t *n) {
  char **dirs = NULL;
  *n = 0;
  for (size_t h = 0; h < KM_ARRAY_SIZE(hook_names); h++) {
    size_t nf;
    char **files = configured(hooks, hook_names[h], &nf);
    for (size_t i = 0; i < nf; i++) {
      char *d = km_xstrdup(dirname(files[i]));
      bool seen = false;
      for (size_t k = 0; k < *n && !seen; k++)
        seen = strcmp(dirs[k], d) == 0;
      if (seen) {
        free(d);
        continue;
      }
      dirs = km_xrealloc(dirs, (*n + 1) * sizeof(char *));
      dirs[(*n)++] = d;
    }
    km_lua_dirs_free(files, nf);
  }
  return dirs;
}

/* ---- result checks ---- */

static bool want_bool(const json_t *o, const char *k, char *why, size_t len) {
  if (json_is_boolean(json_object_get(o, k))) return true;
  snprintf(why, len, "'%s' must be true or false", k);
  return false;
}

static bool opt_string(const json_t *o, const char *k, char *why, size_t len) {
  json_t *v = json_object_get(o, k);
  if (v == NULL || json_is_null(v) || json_is_string(v)) return true;
  snprintf(why, len, "'%s' must be a string", k);
  return false;
}

static bool check_rotation(json_t *out, char *why, size_t len) {
  if (!want_bool(out, "change", why, len)) return false;
  if (!json_is_true(json_object_get(out, "change"))) return true;
  if (!want_bool(out, "automatic_rotation", why, len)) return false;
  if (json_is_true(json_object_get(out, "automatic_rotation")) &&
      !json_is_string(json_object_get(out, "rotation_interval"))) {
    snprintf(why, len,
             "'rotation_interval' is required (a string such as "
             "\"8760h\") when automatic_rotation is true");
    return false;
  }
  return true;
}

static bool check_default_instance(const json_t *in, json_t *out, char *why,
                                   size_t len) {
  const char *id = json_string_value(json_object_get(out, "instance"));
  if (id == NULL) {
    snprintf(why, len, "'instance' must be an instance id");
    return false;
  }
  const char *dest = json_string_value(json_object_get(in, "destination"));
  if (dest != NULL && strcmp(dest, id) == 0) return true;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(in, "candidates"), i, c) {
    const char *cid = json_string_value(json_object_get(c, "id"));
    if (cid != NULL && strcmp(cid, id) == 0) return true;
  }
  snprintf(why, len,
           "instance %s is neither the destination nor one of the "
           "candidates",
           id);
  return false;
}

static bool check_batch(json_t *out, char *why, size_t len) {
  return want_bool(out, "accept", why, len) &&
         opt_string(out, "reason", why, len);
}

/* messages: a list of strings; {} (an empty Lua table) reads as []. */
static bool check_post_check(json_t *out, char *why, size_t len) {
  if (!want_bool(out, "passed", why, len)) return false;
  json_t *m = json_object_get(out, "messages");
  if (m == NULL || (json_is_object(m) && json_object_size(m) == 0)) {
    json_object_set_new(out, "messages", json_array());
    return true;
  }
  size_t i;
  json_t *e;
  bool ok = json_is_array(m);
  json_array_foreach(m, i, e) ok = ok && json_is_string(e);
  if (!ok) snprintf(why, len, "'messages' must be a list of strings");
  return ok;
}

static bool check(const char *name, const json_t *in, json_t *out, char *why,
                  size_t len) {
  if (!json_is_object(out)) {
    snprintf(why, len, "it must return a table with named fields");
    return false;
  }
  if (strcmp(name, "rotation") == 0) return check_rotation(out, why, len);
  if (strcmp(name, "default_instance") == 0)
    return check_default_instance(in, out, why, len);
  if (strcmp(name, "post_check") == 0) return check_post_check(out, why, len);
  return check_batch(out, why, len);
}

/* ---- running ---- */

static void job_free(job_t *j) {
  km_lua_dirs_free(j->files, j->nfiles);
  json_decref(j->input);
  json_decref(j->merged);
  free(j->name);
  free(j);
}

/* Ends the job: out (borrowed, may be NULL) is the answer. */
static void deliver(job_t *j, int status, json_t *out, const km_err_t *err) {
  km_lua_obj_cb cb = j->cb;
  void *ud = j->ud;
  json_t *keep = json_incref(out); /* j->merged goes with the job */
  job_free(j);
  cb(status, keep, err, ud);
  json_decref(keep);
}

static void merge(job_t *j, const char *file, json_t *out) {
  char *copy = km_xstrdup(file);
  const char *base = basename(copy);
  json_t *msgs = json_object_get(out, "messages");
  json_t *all = json_object_get(j->merged, "messages");
  size_t i;
  json_t *m;
  json_array_foreach(msgs, i, m) {
    json_array_append_new(all,
                          json_sprintf("%s: %s", base, json_string_value(m)));
  }
  if (!json_is_true(json_object_get(out, "passed")))
    json_object_set_new(j->merged, "passed", json_false());
  json_array_append_new(json_object_get(j->merged, "checks"),
                        json_pack("{s:s, s:O, s:O}", "file", file, "passed",
                                  json_object_get(out, "passed"), "messages",
                                  msgs));
  free(copy);
}

static int start_next(job_t *j);

static void on_run(int status, json_t *out, const km_err_t *rerr, void *ud) {
  job_t *j = ud;
  const char *file = j->files[j->next - 1];
  if (status < 0) {
    deliver(j, status, NULL, rerr);
    return;
  }
  char why[256];
  if (!check(j->name, j->input, out, why, sizeof(why))) {
    km_err_t err;
    memset(&err, 0, sizeof(err));
    err.code = KM_ELUA;
    snprintf(err.where, sizeof(err.where), "%s", file);
    snprintf(err.text, sizeof(err.text),
             "%s hook (%s) returned a result that does not fit "
             "docs/hooks.md: %s",
             j->name, file, why);
    deliver(j, KM_ELUA, NULL, &err);
    return;
  }
  if (j->merged == NULL) {
    deliver(j, 0, out, NULL);
    return;
  }
  merge(j, file, out);
  if (j->next < j->nfiles) {
    int rc = start_next(j);
    if (rc < 0) {
      km_err_t err;
      memset(&err, 0, sizeof(err));
      km__err_set(&err, rc, "post_check hook (%s): %s", j->files[j->next],
                  km_strerror(rc));
      deliver(j, rc, NULL, &err);
    }
    return;
  }
  deliver(j, 0, j->merged, NULL);
}

static int start_next(job_t *j) {
  const char *file = j->files[j->next++];
  return km_lua_run_json(j->vm, file, j->name, j->input, on_run, j);
}

int km_lua_hook(km_lua_t *vm, const km_hookcfg_t *hooks, const char *name,
                const char *input_json, km_plugin_call_cb cb, void *ud) {
  if (cb == NULL) return KM_EINVAL;
  json_error_t jerr;
  json_t *input = json_loads(input_json != NULL ? input_json : "{}", 0, &jerr);
  void *t = km__lua_text_cb_new(cb, ud);
  int rc = km_lua_hook_json(vm, hooks, name, input, km__lua_on_text, t);
  if (rc < 0) free(t);
  json_decref(input);
  return rc;
}

int km_lua_hook_json(km_lua_t *vm, const km_hookcfg_t *hooks, const char *name,
                     json_t *input, km_lua_obj_cb cb, void *ud) {
  int idx = name != NULL ? known(name) : -1;
  if (idx < 0 || cb == NULL) return KM_EINVAL;
  if (!json_is_object(input)) return KM_EINVAL;
  size_t n;
  char **files = configured(hooks, name, &n);
  if (n == 0) {
    char *def = default_file(vm, idx);
    if (def == NULL) {
      km_lua_dirs_free(files, n);
      return KM_ENOENT;
    }
    files[n++] = def;
  }
  job_t *j = km_xcalloc(1, sizeof(*j));
  j->vm = vm;
  j->name = km_xstrdup(name);
  j->files = files;
  j->nfiles = n;
  j->input = json_incref(input);
  j->cb = cb;
  j->ud = ud;
  if (strcmp(name, "post_check") == 0)
    j->merged =
        json_pack("{s:b, s:[], s:[]}", "passed", 1, "messages", "checks");
  int rc = start_next(j);
  if (rc < 0) job_free(j);
  return rc;
}
