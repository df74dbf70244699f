/* km_manifest_load: parse, build, cross-check, and hand back either a
 * trusted model or every diagnostic at once; km_manifest_free; lookups; and
 * the region table.
 *
 * The region table is the KMS region list of reference/alibaba-kms-api.md
 * §7 plus cn-guangzhou and cn-chengdu, which the project decided to accept
 * (KMS is sold there; the reference list is known to be stale). */
#include <stdlib.h>
#include <string.h>

#include "manifest/build.h"
#include "util/util.h"

const char *const km__regions[] = {"ap-northeast-1",
                                   "ap-southeast-1",
                                   "ap-southeast-2",
                                   "ap-southeast-3",
                                   "ap-southeast-5",
                                   "ap-south-1",
                                   "cn-hangzhou",
                                   "cn-shanghai",
                                   "cn-qingdao",
                                   "cn-beijing",
                                   "cn-zhangjiakou",
                                   "cn-huhehaote",
                                   "cn-shenzhen",
                                   "cn-heyuan",
                                   "cn-wulanchabu",
                                   "cn-hongkong",
                                   "eu-central-1",
                                   "eu-west-1",
                                   "me-east-1",
                                   "us-east-1",
                                   "us-west-1",
                                   "cn-hangzhou-finance",
                                   "cn-shanghai-finance-1",
                                   "cn-shenzhen-finance-1",
                                   "cn-guangzhou",
                                   "cn-chengdu",
                                   NULL};

bool km_manifest_region_known(const char *region) {
  for (size_t i = 0; km__regions[i] != NULL; i++)
    if (strcmp(km__regions[i], region) == 0) return true;
  return false;
}

bool km_manifest_region_mainland(const char *region) {
  return km_manifest_region_known(region) && strncmp(region, "cn-", 3) == 0 &&
         strcmp(region, "cn-hongkong") != 0;
}

const km_mf_account_t *km_manifest_account(const km_manifest_t *m,
                                           const char *name) {
  for (size_t i = 0; i < m->naccounts; i++)
    if (m->accounts[i].name != NULL && strcmp(m->accounts[i].name, name) == 0)
      return &m->accounts[i];
  return NULL;
}

const km_mf_instance_t *km_manifest_instance(const km_manifest_t *m,
                                             const char *region) {
  for (size_t i = 0; i < m->ninstances; i++)
    if (strcmp(m->instances[i].region, region) == 0) return &m->instances[i];
  return NULL;
}

static void kv_free(km_mf_kv_t *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

void km__hooks_free(km_mf_hooks_t *h) {
  free(h->rotation);
  free(h->default_instance);
  km__strlist_free(&h->post_check);
  free(h->before_batch);
  free(h->after_batch);
}

static void cred_free(km_mf_cred_spec_t *c) {
  free(c->profile);
  free(c->config);
  free(c->via);
  free(c->role);
  free(c->role_arn);
  free(c->session_name);
  free(c->external_id_env);
}

void km_manifest_free(km_manifest_t *m) {
  if (m == NULL) return;
  free(m->name);
  free(m->path);
  km__strlist_free(&m->files);
  km_mf_directory_t *d = &m->directory;
  free(d->management);
  free(d->member_role);
  km__strlist_free(&d->include_folders);
  kv_free(d->include_tags, d->ninclude_tags);
  km__strlist_free(&d->exclude_accounts);
  for (size_t i = 0; i < m->naccounts; i++) {
    km_mf_account_t *a = &m->accounts[i];
    free(a->name);
    free(a->id);
    km__strlist_free(&a->regions);
    cred_free(&a->cred);
    kv_free(a->tags, a->ntags);
    km__hooks_free(&a->hooks);
  }
  free(m->accounts);
  km__strlist_free(&m->regions);
  for (size_t i = 0; i < m->ninstances; i++) {
    km_mf_instance_t *in = &m->instances[i];
    free(in->region);
    free(in->id);
    free(in->owner);
    free(in->image_version);
    km__strlist_free(&in->share_with);
  }
  free(m->instances);
  km_mf_select_t *s = &m->select;
  km__strlist_free(&s->key_ids);
  km__strlist_free(&s->key_aliases);
  km__strlist_free(&s->secret_names);
  km__strlist_free(&s->byok_keys);
  free(s->byok_material_dir);
  free(m->migrate.when_text);
  km__hooks_free(&m->hooks);
  km__monitor_free(&m->monitor);
  km__waves_free(m);
  free(m->plugins_dir);
  km__strlist_free(&m->plugins);
  free(m->locks_dir);
  for (size_t i = 0; i < m->noverrides; i++) {
    free(m->overrides[i].host);
    free(m->overrides[i].address);
    free(m->overrides[i].ca_file);
  }
  free(m->overrides);
  free(m);
}

static km_manifest_t *manifest_new(const char *path) {
  km_manifest_t *m = km_xcalloc(1, sizeof(*m));
  m->path = km_xstrdup(path);
  km__strlist_push(&m->files, path);
  m->concurrency_accounts = 16;
  m->concurrency_per_endpoint = 8;
  m->signature = 3;
  m->migrate.task_timeout_s = 7200;
  m->migrate.rotation_lead_s = 600;
  m->migrate.set_default = true;
  return m;
}

static void build_all(km_mctx_t *c, const km_ynode_t *root) {
  static const char *const top[] = {
      "version",   "name",      "directory",   "accounts",
      "regions",   "instances", "select",      "migrate",
      "hooks",     "plugins",   "concurrency", "failure_tolerance",
      "endpoints", "signature", "monitor",     "locks",
      "waves",     "windows",   NULL};
  km__scan_secrets(c, root);
  km__check_keys(c, root, top, "the manifest");
  km__build_sections(c, root);
  const km_ynode_t *acc = km__ymap_get(root, "accounts");
  if (acc == NULL)
    km__err(c, root,
            "the manifest needs 'accounts:', a list of accounts or "
            "`- include: ../accounts/*.yaml`");
  else
    km__build_accounts(c, acc);
  km__build_waves(c, km__ymap_get(root, "waves"),
                  km__ymap_get(root, "windows"));
  km__check_waves(c);
  km__check_model(c, root);
}

int km_manifest_load(const char *path, km_manifest_t **out, km_diags_t *diags) {
  return km_manifest_load_opts(path, NULL, out, diags);
}

/* The include roots: the manifest's directory and the working directory,
 * both resolved (an unresolvable one is left out). */
static void include_roots(km_mctx_t *c, const char *path) {
  char *dir = km__dirname(path);
  c->include_roots[0] = realpath(dir, NULL);
  free(dir);
  c->include_roots[1] = realpath(".", NULL);
}

int km_manifest_load_opts(const char *path, const km_manifest_opts_t *o,
                          km_manifest_t **out, km_diags_t *diags) {
  *out = NULL;
  km_ydoc_t *doc = NULL;
  int rc = km__ydoc_load(path, &doc, diags);
  if (rc != 0) {
    km_diags_sort(diags);
    return rc;
  }
  km_mctx_t c = {.d = diags,
                 .m = manifest_new(path),
                 .confine = o == NULL || !o->allow_include_outside};
  if (c.confine) include_roots(&c, path);
  c.docs = km_xcalloc(1, sizeof(*c.docs));
  c.docs[c.ndocs++] = doc;
  if (doc->root == NULL || doc->root->kind != KM_YMAP)
    km_diag_add(diags, KM_DIAG_ERROR, path, doc->root ? doc->root->line : 0,
                doc->root ? doc->root->col : 0,
                "a manifest is a YAML mapping starting with `version: 1`; "
                "see manifests/demo.yaml");
  else
    build_all(&c, doc->root);

  for (size_t i = 0; i < c.ndocs; i++)
    km__ydoc_free(c.docs[i]);
  free(c.docs);
  free(c.acct_nodes);
  free(c.include_roots[0]);
  free(c.include_roots[1]);
  km_diags_sort(diags);
  if (diags->nerrors > 0) {
    km_manifest_free(c.m);
    return KM_EMANIFEST;
  }
  *out = c.m;
  return 0;
}
