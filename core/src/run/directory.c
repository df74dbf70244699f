/* Accounts from the resource directory (manifest `directory:`): before the
 * engine starts, the management account lists its members (ListAccounts,
 * or ListAccountsForParent for each included folder, every page), keeps
 * those with every included tag and not excluded, and adds each one that
 * the manifest does not list explicitly, reached with AssumeRole of the
 * member role through the management account.  The listing goes through
 * the same rate limiter as every other call (the management account's
 * ResourceManager group), and the client's retries; thousands of members
 * are deduplicated through indexes, not pairwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"
#include "model/strmap.h"
#include "run/directory.h"
#include "run/runtime.h"
#include "stage/stage.h"
#include "util/util.h"

typedef struct disc_s {
  km_runtime_t *rt;
  km_creds_t *mgmt;
  const char *mgmt_id;  /* the rate limiter's key */
  char owner[160];      /* "account NAME", for the fix in errors */
  km_credential_t cred; /* borrowed from the provider's last answer */
  char *ak, *sk, *token;
  const char *folder; /* NULL: ListAccounts */
  size_t folder_i;
  int page;
  /* The members listed so far that carry every included tag: their id and
   * display name only (a page's Account objects are dropped with the page:
   * 10,000 members are listed before anything else runs). */
  km_dir_members_t found;
  bool done;
  int status;
  km_err_t err;
} disc_t;

static void list_page(disc_t *d);

void km_dir_members_free(km_dir_members_t *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].id);
    free(m->v[i].name);
    free(m->v[i].tags);
  }
  free(m->v);
  m->v = NULL;
  m->n = m->cap = 0;
}

/* The listing stops with status; err (may be NULL) says why. */
static void disc_stop(disc_t *d, int status, const km_err_t *err) {
  d->status = status;
  if (err != NULL) d->err = *err;
  d->done = true;
}

static bool has_tags(const km_mf_directory_t *dir, const json_t *acct) {
  json_t *tags = json_object_get(json_object_get(acct, "Tags"), "Tag");
  for (size_t i = 0; i < dir->ninclude_tags; i++) {
    bool ok = false;
    size_t k;
    json_t *t;
    json_array_foreach(tags, k, t) {
      const char *key = json_string_value(json_object_get(t, "Key"));
      const char *val = json_string_value(json_object_get(t, "Value"));
      if (key != NULL && val != NULL &&
          strcmp(key, dir->include_tags[i].key) == 0 &&
          strcmp(val, dir->include_tags[i].value) == 0)
        ok = true;
    }
    if (!ok) return false;
  }
  return true;
}

bool km__dir_tags_matter(const km_manifest_t *m) {
  for (size_t i = 0; i < m->nwaves; i++)
    if (m->waves[i].ntags > 0) return true;
  for (size_t i = 0; i < m->nwindows; i++)
    if (m->windows[i].ntags > 0) return true;
  return false;
}

/* The member's Tags.Tag as key/value pairs; interned, since a fleet's
 * members repeat the same few keys and values. */
static void member_tags(const json_t *acct, struct km_dir_member_s *x) {
  json_t *tags = json_object_get(json_object_get(acct, "Tags"), "Tag");
  size_t k, n = 0;
  json_t *t;
  json_array_foreach(tags, k, t) {
    const char *key = json_string_value(json_object_get(t, "Key"));
    const char *val = json_string_value(json_object_get(t, "Value"));
    if (key == NULL || val == NULL) continue;
    if (n == 0) x->tags = km_xcalloc(json_array_size(tags), sizeof(*x->tags));
    x->tags[n].key = (char *)km_intern(key);
    x->tags[n++].value = (char *)km_intern(val);
  }
  x->ntags = n;
}

size_t km_dir_parse_page(const json_t *body, const km_mf_directory_t *dir,
                         km_dir_members_t *found) {
  json_t *list = json_object_get(json_object_get(body, "Accounts"), "Account");
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *id = json_string_value(json_object_get(a, "AccountId"));
    const char *name = json_string_value(json_object_get(a, "DisplayName"));
    if (id == NULL || !has_tags(dir, a)) continue;
    if (found->n == found->cap) {
      found->cap = found->cap ? found->cap * 2 : 64;
      found->v = km_xrealloc(found->v, found->cap * sizeof(*found->v));
    }
    struct km_dir_member_s *x = &found->v[found->n++];
    memset(x, 0, sizeof(*x));
    x->id = km_xstrdup(id);
    x->name = name != NULL ? km_xstrdup(name) : NULL;
    if (found->keep_tags) member_tags(a, x);
  }
  return json_array_size(list);
}

static void next_folder(disc_t *d) {
  const km_mf_directory_t *dir = &d->rt->m->directory;
  if (d->folder_i >= dir->include_folders.n) {
    d->done = true;
    return;
  }
  d->folder = dir->include_folders.v[d->folder_i++];
  d->page = 1;
  list_page(d);
}

static void on_page(const km_acs_result_t *res, void *ud) {
  disc_t *d = ud;
  if (res->status < 0) {
    disc_stop(d, res->status, res->err);
    return;
  }
  size_t got = km_dir_parse_page(res->body, &d->rt->m->directory, &d->found);
  /* One page after another while they come back full (stage/ctx.c). */
  const json_t *tc = json_object_get(res->body, "TotalCount");
  km_err_t err;
  int more =
      kp_next_page("ListAccounts", d->page, got, 100, -1,
                   json_is_integer(tc) ? json_integer_value(tc) : -1, &err);
  if (more < 0) {
    disc_stop(d, more, &err);
    return;
  }
  if (more == 1) {
    d->page++;
    list_page(d);
    return;
  }
  if (d->folder != NULL)
    next_folder(d);
  else
    d->done = true;
}

static void send_page(disc_t *d);

static void on_token(int status, void *ud) {
  disc_t *d = ud;
  if (status < 0) {
    km__err_set(&d->err, status, "ListAccounts: canceled before it was sent");
    disc_stop(d, status, NULL);
    return;
  }
  send_page(d);
}

static void list_page(disc_t *d) {
  km_rl_group_t group = km_rl_action_group("resourcemanager", "ListAccounts");
  double qps = km_rl_qps(d->rt->rl, d->mgmt_id, group);
  char key[160];
  snprintf(key, sizeof(key), "%s/-/%s", d->mgmt_id, km_rl_group_name(group));
  int rc =
      km_rl_acquire(d->rt->rl, key, qps,
                    km_rl_qps_known(d->rt->rl, d->mgmt_id, group), on_token, d);
  if (rc < 0) {
    km__err_set(&d->err, rc, "ListAccounts: %s", km_strerror(rc));
    disc_stop(d, rc, NULL);
  }
}

static void send_page(disc_t *d) {
  km_params_t p;
  km_params_init(&p);
  km_params_setf(&p, "PageNumber", "%d", d->page);
  km_params_set(&p, "PageSize", "100");
  km_params_set(&p, "IncludeTags", "true");
  if (d->folder != NULL) km_params_set(&p, "ParentFolderId", d->folder);
  km_acs_call_t call = {
      .product = KM_PRODUCT_RESOURCEMANAGER,
      .action = d->folder != NULL ? "ListAccountsForParent" : "ListAccounts",
      .params = &p,
      .cred = &d->cred,
      .cred_owner = d->owner,
  };
  int rc = km_acs_call(d->rt->acs, &call, on_page, d, &d->err);
  km_params_free(&p);
  if (rc < 0) disc_stop(d, rc, NULL);
}

static void on_cred(const km_creds_result_t *res, void *ud) {
  disc_t *d = ud;
  if (res->status < 0) {
    disc_stop(d, res->status, res->err);
    return;
  }
  d->ak = km_xstrdup(res->cred->access_key_id);
  d->sk = km_xstrdup(res->cred->access_key_secret);
  d->token = res->cred->security_token != NULL
                 ? km_xstrdup(res->cred->security_token)
                 : NULL;
  d->cred.access_key_id = d->ak;
  d->cred.access_key_secret = d->sk;
  d->cred.security_token = d->token;
  if (d->rt->m->directory.include_folders.n > 0) {
    next_folder(d);
  } else {
    d->page = 1;
    list_page(d);
  }
}

int km_directory_discover(km_runtime_t *rt) {
  const km_manifest_t *m = rt->m;
  const km_mf_directory_t *dir = &m->directory;
  km_rt_account_t *mgmt = NULL;
  for (size_t i = 0; i < rt->naccts; i++)
    if (strcmp(rt->accts[i].mf->name, dir->management) == 0)
      mgmt = &rt->accts[i];
  if (mgmt == NULL || mgmt->creds == NULL) {
    fprintf(stderr,
            "%s:%d:%d: error: directory.management '%s' has no "
            "usable credentials\n",
            dir->pos.file, dir->pos.line, dir->pos.col, dir->management);
    return KM_ECREDS;
  }
  disc_t d;
  memset(&d, 0, sizeof(d));
  d.rt = rt;
  d.mgmt_id = mgmt->mf->id;
  d.found.keep_tags = km__dir_tags_matter(rt->m);
  snprintf(d.owner, sizeof(d.owner), "account %s", dir->management);
  int rc = km_creds_get(mgmt->creds, on_cred, &d);
  if (rc < 0) return rc;
  while (!d.done && uv_run(&rt->loop, UV_RUN_ONCE) != 0)
    ;
  km_free_secret(d.ak);
  km_free_secret(d.sk);
  km_free_secret(d.token);
  if (d.status < 0) {
    /* The text carries the Code, the RequestId and the fix the client
     * knows (AccessKey, clock, endpoint); a refusal is about RAM rights. */
    bool denied = strstr(d.err.cloud_code, "Forbidden") != NULL ||
                  strstr(d.err.cloud_code, "NoPermission") != NULL;
    fprintf(stderr,
            "kmsmig: listing the resource directory as %s failed: %s%s%s%s%s\n",
            dir->management, d.err.text,
            d.err.request_id[0] && !strstr(d.err.text, d.err.request_id)
                ? " (RequestId "
                : "",
            d.err.request_id[0] && !strstr(d.err.text, d.err.request_id)
                ? d.err.request_id
                : "",
            d.err.request_id[0] && !strstr(d.err.text, d.err.request_id) ? ")"
                                                                         : "",
            denied ? "; the management account needs "
                     "AliyunResourceDirectoryReadOnlyAccess"
                   : "");
    km_dir_members_free(&d.found);
    rt->directory_failed = true;
    return d.status;
  }
  /* Members to add: not the management account, not explicit, not
   * excluded, with every included tag; each once (folders may overlap). */
  size_t nnew = 0;
  km_mf_account_t *add = km_xcalloc(d.found.n + 1, sizeof(*add));
  /* Ids already taken (explicit accounts, exclusions, members added) and
   * names already used. */
  km_strmap_t *ids = km_strmap_new(rt->naccts + d.found.n);
  km_strmap_t *names = km_strmap_new(d.found.n);
  for (size_t k = 0; k < rt->naccts; k++)
    km_strmap_put(ids, rt->accts[k].mf->id, k);
  for (size_t k = 0; k < dir->exclude_accounts.n; k++)
    km_strmap_put(ids, dir->exclude_accounts.v[k], k);
  size_t dummy;
  for (size_t i = 0; i < d.found.n; i++) {
    const char *id = d.found.v[i].id, *name = d.found.v[i].name;
    if (km_strmap_get(ids, id, &dummy)) continue;
    km_strmap_put(ids, id, i);
    km_mf_account_t *x = &add[nnew++];
    /* The display name when no other account uses it, else the id. */
    bool clash = name == NULL || km_runtime_account(rt, name) != NULL ||
                 km_strmap_get(names, name, &dummy);
    x->name = km_xstrdup(clash ? id : name);
    km_strmap_put(names, x->name, nnew);
    x->id = km_xstrdup(id);
    /* stolen from the listing (interned strings: never freed one by one) */
    x->tags = d.found.v[i].tags;
    x->ntags = d.found.v[i].ntags;
    d.found.v[i].tags = NULL;
    x->regions = m->regions; /* borrowed */
    x->cred.kind = KM_MF_CRED_ASSUME_ROLE;
    x->cred.implied = true;
    x->cred.via = dir->management;
    x->cred.role = dir->member_role;
    x->cred.duration_s = 3600;
    x->cred.pos = dir->pos;
    x->pos = dir->pos;
  }
  km_strmap_free(ids);
  km_strmap_free(names);
  km_dir_members_free(&d.found);
  rt->discovered = add;
  rt->ndiscovered = nnew;
  km_log(KM_LOG_INFO,
         "resource directory: %zu member account(s) found for "
         "this run",
         nnew);
  return 0;
}
