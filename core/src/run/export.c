/* The fixture writer of `kmsmig plan --export-fixture FILE` and the reader
 * of its AccessKeys for `kmsmig rehearse` (docs/rehearse.md).
 *
 * A finished plan holds the typed model of every account × region; this
 * file writes it in the YAML format kmsim loads (docs/kmsim.md, "Fixture
 * format"), so a rehearsal can run the same manifest against a copy of the
 * fleet on loopback.  Only metadata goes out, and only what plan read with
 * its read-only actions: names, ids, specs, states, aliases, rotation
 * policies, instance quotas.  Never a secret value (kmsim serves none, so
 * no placeholder is needed), key material or credential: every account gets
 * a fresh random AccessKey marked test-only, and the manifest's own keys are
 * never looked at.  Facts no read API gives (the enterprise's verification,
 * the directory's id) are synthetic and named so in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "manifest/yaml_tree.h"
#include "model/strmap.h"
#include "run/export.h"
#include "util/util.h"

#define EXPORT_DIR_ID "rd-rehearsal0001"
#define EXPORT_ENT_ID "ent-rehearsal0001"
#define EXPORT_ROOT_FOLDER "fd-rehearsalroot"

/* A YAML double-quoted scalar: JSON's escapes are YAML's. */
static void put_q(km_buf_t *b, const char *s) {
  json_t *j = json_string(s != NULL ? s : "");
  char *t = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  km_buf_puts(b, t != NULL ? t : "\"\"");
  free(t);
  json_decref(j);
}

/* ", k: "v"" when v is set. */
static void put_kv(km_buf_t *b, const char *k, const char *v) {
  if (v == NULL || v[0] == '\0') return;
  km_buf_printf(b, ", %s: ", k);
  put_q(b, v);
}

static void put_list(km_buf_t *b, const char *k, const km_inv_strs_t *l) {
  if (l->n == 0) return;
  km_buf_printf(b, ", %s: [", k);
  for (size_t i = 0; i < l->n; i++) {
    if (i > 0) km_buf_puts(b, ", ");
    put_q(b, l->v[i]);
  }
  km_buf_puts(b, "]");
}

/* rotation: {enabled, interval} from DescribeKey/DescribeSecret.  An
 * interval kmsim cannot read (not "<n>s") is left to kmsim's default. */
static void put_rotation(km_buf_t *b, const char *automatic,
                         const char *interval) {
  if (automatic == NULL) return;
  bool on = strcmp(automatic, "Enabled") == 0 ||
            strcmp(automatic, "Suspended") == 0; /* on, key not Enabled */
  km_buf_printf(b, ", rotation: {enabled: %s", on ? "true" : "false");
  if (interval != NULL && interval[0] != '\0') {
    char *end = NULL;
    long long v = strtoll(interval, &end, 10);
    if (v > 0 && end != NULL && strcmp(end, "s") == 0)
      km_buf_printf(b, ", interval: \"%llds\"", v);
  }
  km_buf_puts(b, "}");
}

static void put_key(km_buf_t *b, const km_inv_key_t *k) {
  km_buf_puts(b, "          - {id: ");
  put_q(b, k->key_id);
  if (k->creator == KM_CREATOR_SERVICE) {
    km_buf_puts(b, ", creator: service");
    for (size_t i = 0; i < k->aliases.n; i++)
      if (strncmp(k->aliases.v[i], "alias/acs/", 10) == 0)
        put_kv(b, "service", k->aliases.v[i] + 10);
  }
  put_kv(b, "spec", k->key_spec);
  put_kv(b, "usage", k->key_usage);
  put_kv(b, "origin", k->origin);
  put_kv(b, "protection", k->protection_level);
  put_kv(b, "state", k->key_state);
  if (k->key_state != NULL && strcmp(k->key_state, "PendingDeletion") == 0)
    put_kv(b, "delete_date", k->delete_date);
  if (k->version_count > 1)
    km_buf_printf(b, ", versions: %d", k->version_count);
  km_inv_strs_t user = {0};
  for (size_t i = 0; i < k->aliases.n; i++)
    if (strncmp(k->aliases.v[i], "alias/acs/", 10) != 0)
      km_inv_strs_add(&user, k->aliases.v[i]);
  put_list(b, "aliases", &user);
  km_inv_strs_free(&user);
  /* The plan model keeps no LastRotationDate: a recent one keeps kmsim
   * from rotating a key the moment it loads (docs/rehearse.md). */
  if (k->automatic_rotation != NULL &&
      strcmp(k->automatic_rotation, "Disabled") != 0)
    km_buf_puts(b, ", last_rotation: \"-1d\"");
  put_rotation(b, k->automatic_rotation, k->rotation_interval);
  put_kv(b, "instance", k->dkms_instance_id);
  km_buf_puts(b, "}\n");
}

static void put_secret(km_buf_t *b, const km_inv_secret_t *s) {
  km_buf_puts(b, "          - {name: ");
  put_q(b, s->secret_name);
  put_kv(b, "type", s->secret_type);
  put_kv(b, "key", s->encryption_key_id);
  put_kv(b, "owning_service", s->owing_service);
  if (s->secret_type != NULL && strcmp(s->secret_type, "Generic") != 0)
    put_rotation(b, s->automatic_rotation, s->rotation_interval);
  put_kv(b, "instance", s->dkms_instance_id);
  km_buf_puts(b, "}\n");
}

/* ---- the fleet: accounts, their regions, who owns which instance ---- */

static const km_mf_instance_t *owned_instance(const km_manifest_t *m,
                                              const char *account,
                                              const char *region) {
  const km_mf_instance_t *in = km_manifest_instance(m, region);
  return in != NULL && strcmp(in->owner, account) == 0 ? in : NULL;
}

/* What the writer looks up, indexed once (a fleet has thousands of
 * pipelines). */
typedef struct ex_s {
  const km_runtime_t *rt;
  km_inv_t *const *invs;
  size_t n;
  km_strmap_t *pipe; /* "account\nregion" -> index in invs */
  km_strmap_t *inst; /* instance id -> the first model that read it */
} ex_t;

static const km_inv_t *pipe_model(const ex_t *x, const char *account,
                                  const char *region) {
  char *k = km_xasprintf("%s\n%s", account, region);
  size_t i;
  bool found = km_strmap_get(x->pipe, k, &i);
  free(k);
  return found ? x->invs[i] : NULL;
}

static void ex_index(ex_t *x) {
  x->pipe = km_strmap_new(x->n);
  x->inst = km_strmap_new(x->rt->m->ninstances);
  for (size_t i = 0; i < x->n; i++) {
    const km_inv_t *v = x->invs[i];
    char *k = km_xasprintf("%s\n%s", v->account, v->region);
    km_strmap_put(x->pipe, k, i);
    free(k);
    if (v->inst.present && v->inst.instance_id != NULL)
      km_strmap_put(x->inst, v->inst.instance_id, i);
  }
}

/* The model that read instance id (GetKmsInstance answered), or NULL. */
static const km_inv_t *instance_model(const ex_t *x, const char *id) {
  size_t i;
  return km_strmap_get(x->inst, id, &i) ? x->invs[i] : NULL;
}

static void put_num(km_buf_t *b, const char *k, int64_t v) {
  if (v >= 0) km_buf_printf(b, "            %s: %lld\n", k, (long long)v);
}

static void put_instance(km_buf_t *b, const km_mf_instance_t *in,
                         const km_inv_t *src) {
  const km_inv_instance_t *x = src != NULL ? &src->inst : NULL;
  km_buf_puts(b, "          - id: ");
  put_q(b, in->id);
  km_buf_puts(b, "\n");
  if (x != NULL && x->instance_name != NULL) {
    km_buf_puts(b, "            name: ");
    put_q(b, x->instance_name);
    km_buf_puts(b, "\n");
  }
  km_buf_printf(b, "            type: %s\n",
                in->type == KM_MF_INST_HARDWARE ? "hardware" : "software");
  /* Console-only facts: no API gives them, so the manifest's word. */
  if (in->image_version != NULL) {
    km_buf_puts(b, "            image_version: ");
    put_q(b, in->image_version);
    km_buf_puts(b, "\n");
  }
  if (in->auto_renew >= 0)
    km_buf_printf(b, "            auto_renew: %s\n",
                  in->auto_renew ? "true" : "false");
  if (x == NULL) return; /* not read by plan: kmsim's defaults */
  if (x->status != NULL) {
    km_buf_puts(b, "            status: ");
    put_q(b, x->status);
    km_buf_puts(b, "\n");
  }
  if (x->end_date != NULL) {
    km_buf_puts(b, "            end: ");
    put_q(b, x->end_date);
    km_buf_puts(b, "\n");
  }
  put_num(b, "spec", x->spec);
  put_num(b, "key_num", x->key_quota >= 0 ? x->key_quota : x->key_num);
  put_num(b, "secret_num",
          x->secret_quota >= 0 ? x->secret_quota : x->secret_num);
  put_num(b, "vpc_num", x->vpc_quota >= 0 ? x->vpc_quota : x->vpc_num);
}

/* Names already in the destination instance that are not this account's
 * migrated secrets: created there (the duplicate-name rule reads them).
 * The share stage lists the instance as the pipeline's own account. */
static void put_dest_secrets(km_buf_t *b, const km_inv_t *v) {
  for (size_t d = 0; v->instance_id != NULL && d < v->ndest; d++) {
    const km_inv_dest_secret_t *ds = &v->dest_secrets[d];
    if (ds->account != NULL && strcmp(ds->account, v->account) != 0) continue;
    const km_inv_secret_t *own = km_inv_find_secret(v, ds->name);
    if (own != NULL && own->dkms_instance_id != NULL) continue;
    km_buf_puts(b, "          - {name: ");
    put_q(b, ds->name);
    km_buf_puts(b, ", type: Generic");
    put_kv(b, "instance", v->instance_id);
    km_buf_puts(b, ", migrated: false}\n");
  }
}

/* One region of an account: the instance it owns there (in), its
 * pipeline's model (v); either may be NULL. */
static void put_region(km_buf_t *b, const char *region,
                       const km_mf_instance_t *in, const km_inv_t *inst_src,
                       const km_inv_t *v) {
  km_buf_puts(b, "      ");
  put_q(b, region);
  km_buf_puts(b, ":\n");
  if (in != NULL) {
    km_buf_puts(b, "        instances:\n");
    put_instance(b, in, inst_src);
  }
  if (v == NULL) return;
  if (v->default_instance_id != NULL) {
    km_buf_puts(b, "        default_instance: ");
    put_q(b, v->default_instance_id);
    km_buf_puts(b, "\n");
  }
  if (v->nkeys > 0) {
    km_buf_puts(b, "        keys:\n");
    for (size_t k = 0; k < v->nkeys; k++)
      put_key(b, &v->keys[k]);
  }
  km_buf_t s;
  km_buf_init(&s);
  for (size_t k = 0; k < v->nsecrets; k++)
    put_secret(&s, &v->secrets[k]);
  put_dest_secrets(&s, v);
  if (s.len > 0) {
    km_buf_puts(b, "        secrets:\n");
    km_buf_append(b, s.data, s.len);
  }
  km_buf_free(&s);
}

/* A fresh AccessKey for the fixture: random, marked test-only, unrelated
 * to any key of the source. */
static int fresh_key(char id[32], char secret[64]) {
  unsigned char r[22];
  if (RAND_bytes(r, sizeof(r)) != 1) return KM_EIO;
  static const char hex[] = "0123456789ABCDEF";
  memcpy(id, "KSIMTEST", 8);
  for (int i = 0; i < 8; i++) {
    id[8 + 2 * i] = hex[r[i] >> 4];
    id[9 + 2 * i] = hex[r[i] & 15];
  }
  id[24] = '\0';
  int o = snprintf(secret, 64, "test-only-rehearsal-");
  for (int i = 8; i < 22; i++)
    o += snprintf(secret + o, (size_t)(64 - o), "%02x", r[i]);
  OPENSSL_cleanse(r, sizeof(r));
  return 0;
}

/* The role an assume_role account is reached by, when the directory rule
 * (the management account assumes the member role) does not cover it. */
static void put_roles(km_buf_t *b, const km_mf_account_t *a, const char *mgmt) {
  const km_mf_cred_spec_t *c = &a->cred;
  if (c->kind != KM_MF_CRED_ASSUME_ROLE || c->via == NULL) return;
  const char *role = c->role != NULL ? c->role : KM_DEFAULT_MEMBER_ROLE;
  if (c->role_arn != NULL && strstr(c->role_arn, ":role/") != NULL)
    role = strstr(c->role_arn, ":role/") + 6;
  if (strcmp(role, KM_DEFAULT_MEMBER_ROLE) == 0 && strcmp(c->via, mgmt) == 0)
    return;
  km_buf_puts(b, "    roles: [{name: ");
  put_q(b, role);
  km_buf_puts(b, ", trusted: [");
  put_q(b, c->via);
  km_buf_puts(b, "]}]\n");
}

static const char *management(const km_runtime_t *rt) {
  if (rt->m->directory.present) return rt->m->directory.management;
  if (rt->m->ninstances > 0) return rt->m->instances[0].owner;
  return rt->naccts > 0 ? rt->accts[0].mf->name : "";
}

static void put_head(km_buf_t *b, const km_runtime_t *rt) {
  const km_mf_directory_t *d = &rt->m->directory;
  char now[21];
  km_iso8601((int64_t)time(NULL), now);
  km_buf_printf(b,
                "# kmsim fixture exported by `kmsmig plan --export-fixture` "
                "at %s\n# from manifest %s.  Metadata only: no secret "
                "value, key material or\n# credential of the source.  The "
                "AccessKeys below are random test-only\n# values for kmsim; "
                "the enterprise and directory ids are synthetic.\n"
                "# Only for `kmsmig rehearse` (docs/rehearse.md).\n",
                now, rt->m->path);
  km_buf_puts(b, "kmsim: 1\nthrottle: published     # the published "
                 "per-account QPS limits\n"
                 "console: {seconds_per_resource: 0.02}  # kmsim's console "
                 "task model; edit to your measured times\n");
  km_inv_strs_t regions = {0};
  for (size_t i = 0; i < rt->ntargets; i++)
    km_inv_strs_add(&regions, rt->targets[i].region);
  for (size_t i = 0; i < rt->m->ninstances; i++)
    km_inv_strs_add(&regions, rt->m->instances[i].region);
  km_buf_puts(b, "regions: [");
  for (size_t i = 0; i < regions.n; i++) {
    if (i > 0) km_buf_puts(b, ", ");
    put_q(b, regions.v[i]);
  }
  km_inv_strs_free(&regions);
  km_buf_puts(b, "]\nenterprises:\n  - {id: " EXPORT_ENT_ID
                 ", name: \"synthetic (verification is the operator's "
                 "to confirm)\", verified: true}\n");
  km_buf_puts(b, "directories:\n  - id: " EXPORT_DIR_ID
                 "\n    enterprise: " EXPORT_ENT_ID "\n    management: ");
  put_q(b, management(rt));
  km_buf_puts(b, "\n    folders:\n      - {id: " EXPORT_ROOT_FOLDER
                 ", name: Root}\n");
  for (size_t i = 0; i < d->include_folders.n; i++) {
    km_buf_puts(b, "      - {id: ");
    put_q(b, d->include_folders.v[i]);
    km_buf_puts(b, ", name: ");
    put_q(b, d->include_folders.v[i]);
    km_buf_puts(b, ", parent: " EXPORT_ROOT_FOLDER "}\n");
  }
}

static int put_account(km_buf_t *b, const ex_t *x, const km_rt_account_t *ra) {
  const km_runtime_t *rt = x->rt;
  const km_mf_account_t *a = ra->mf;
  const km_mf_directory_t *d = &rt->m->directory;
  bool discovered = a >= rt->discovered && a < rt->discovered + rt->ndiscovered;
  char id[32], secret[64];
  if (fresh_key(id, secret) < 0) return KM_EIO;
  km_buf_puts(b, "  - id: ");
  put_q(b, a->id);
  km_buf_puts(b, "\n    name: ");
  put_q(b, a->name);
  /* A member found in an included folder goes to the first one (the plan
   * model does not keep which folder listed it: docs/rehearse.md). */
  km_buf_printf(b, "\n    directory: " EXPORT_DIR_ID "\n    folder: ");
  put_q(b, discovered && d->include_folders.n > 0 ? d->include_folders.v[0]
                                                  : EXPORT_ROOT_FOLDER);
  km_buf_puts(b, "\n");
  /* A member's own tags when the run kept them (waves or windows match by
   * tag: they hold the included ones too), else the included ones, which
   * the rehearsal's listing filters on. */
  bool own = !discovered || a->ntags > 0;
  size_t ntags = own ? a->ntags : d->ninclude_tags;
  const km_mf_kv_t *tags = own ? a->tags : d->include_tags;
  if (ntags > 0) {
    km_buf_puts(b, "    tags: {");
    for (size_t i = 0; i < ntags; i++) {
      if (i > 0) km_buf_puts(b, ", ");
      put_q(b, tags[i].key);
      km_buf_puts(b, ": ");
      put_q(b, tags[i].value);
    }
    km_buf_puts(b, "}\n");
  }
  km_buf_printf(b, "    access_keys: [{id: %s, secret: %s}]  # test-only\n", id,
                secret);
  OPENSSL_cleanse(secret, sizeof(secret));
  put_roles(b, a, management(rt));
  /* Its regions, then those where it owns the destination instance. */
  const km_manifest_t *m = rt->m;
  km_inv_strs_t regs = {0};
  for (size_t r = 0; r < a->regions.n; r++)
    km_inv_strs_add(&regs, a->regions.v[r]);
  for (size_t r = 0; r < m->ninstances; r++)
    if (strcmp(m->instances[r].owner, a->name) == 0)
      km_inv_strs_add(&regs, m->instances[r].region);
  bool head = false;
  for (size_t r = 0; r < regs.n; r++) {
    const km_mf_instance_t *in = owned_instance(m, a->name, regs.v[r]);
    const km_inv_t *v = pipe_model(x, a->name, regs.v[r]);
    if (in == NULL && v == NULL) continue;
    if (!head) km_buf_puts(b, "    regions:\n");
    head = true;
    put_region(b, regs.v[r], in, in != NULL ? instance_model(x, in->id) : NULL,
               v);
  }
  km_inv_strs_free(&regs);
  return 0;
}

/* path.tmp (0600) written and renamed over path. */
static int write_private(const char *path, const km_buf_t *b, km_err_t *err) {
  char *tmp = km_xasprintf("%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int rc = 0;
  if (fd < 0) {
    rc = km__err_set(err, KM_EIO,
                     "--export-fixture %s: %s (choose a "
                     "writable path)",
                     path, strerror(errno));
    free(tmp);
    return rc;
  }
  (void)fchmod(fd, 0600);
  size_t off = 0;
  while (off < b->len) {
    ssize_t w = write(fd, b->data + off, b->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  if (off < b->len || fsync(fd) != 0)
    rc = km__err_set(err, KM_EIO, "--export-fixture %s: write failed: %s", path,
                     strerror(errno));
  close(fd);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = km__err_set(err, KM_EIO, "--export-fixture %s: %s", path,
                     strerror(errno));
  if (rc < 0) unlink(tmp);
  free(tmp);
  return rc;
}

int km_export_fixture(const km_runtime_t *rt, km_inv_t *const *invs, size_t n,
                      const char *path, km_err_t *err) {
  for (size_t i = 0; i < n; i++)
    if (invs[i]->incomplete)
      return km__err_set(err, KM_EINVAL,
                         "--export-fixture %s not written: %s %s was not "
                         "discovered completely (see the plan), so the "
                         "fixture would miss its resources; fix that and "
                         "plan again",
                         path, invs[i]->account, invs[i]->region);
  km_buf_t b;
  km_buf_init(&b);
  put_head(&b, rt);
  km_buf_puts(&b, "accounts:\n");
  ex_t x = {.rt = rt, .invs = invs, .n = n};
  ex_index(&x);
  int rc = 0;
  for (size_t i = 0; i < rt->naccts && rc == 0; i++)
    rc = put_account(&b, &x, &rt->accts[i]);
  km_strmap_free(x.pipe);
  km_strmap_free(x.inst);
  if (rc < 0)
    km__err_set(err, rc,
                "--export-fixture %s: no random AccessKey "
                "(OpenSSL RAND_bytes failed)",
                path);
  else
    rc = write_private(path, &b, err);
  OPENSSL_cleanse(b.data, b.len); /* it held the test-only secrets */
  km_buf_free(&b);
  return rc;
}

/* ---- the keys of a fixture, for the rehearsal ---- */

static const char *scalar(const km_ynode_t *map, const char *k) {
  const km_ynode_t *v = km__ymap_get(map, k);
  return v != NULL && v->kind == KM_YSCALAR ? v->str : NULL;
}

int km_export_read_keys(const char *path, km_rt_static_key_t **keys, size_t *n,
                        km_err_t *err) {
  *keys = NULL;
  *n = 0;
  km_diags_t diags;
  km_diags_init(&diags);
  km_ydoc_t *doc = NULL;
  int rc = km__ydoc_load(path, &doc, &diags);
  km_diags_print(&diags, stderr, KM_DIAG_WARNING); /* file:line:col */
  km_diags_free(&diags);
  if (rc < 0)
    return km__err_set(err, rc,
                       "fixture %s cannot be read (see above); export "
                       "it again with `kmsmig plan MANIFEST "
                       "--export-fixture %s`",
                       path, path);
  const km_ynode_t *accts =
      doc->root ? km__ymap_get(doc->root, "accounts") : NULL;
  if (accts == NULL || accts->kind != KM_YSEQ) {
    km__ydoc_free(doc);
    return km__err_set(err, KM_EINVAL, "fixture %s: no `accounts:` list", path);
  }
  km_rt_static_key_t *v = km_xcalloc(accts->n + 1, sizeof(*v));
  size_t cnt = 0;
  for (size_t i = 0; i < accts->n; i++) {
    const km_ynode_t *a = accts->items[i];
    const km_ynode_t *ak = km__ymap_get(a, "access_keys");
    const char *name = scalar(a, "name");
    if (name == NULL || ak == NULL || ak->kind != KM_YSEQ || ak->n == 0)
      continue;
    const char *id = scalar(ak->items[0], "id");
    const char *sk = scalar(ak->items[0], "secret");
    if (id == NULL || sk == NULL) continue;
    v[cnt].account = km_xstrdup(name);
    v[cnt].id = km_xstrdup(id);
    v[cnt].secret = km_xstrdup(sk);
    cnt++;
  }
  km__ydoc_free(doc);
  *keys = v;
  *n = cnt;
  return 0;
}

void km_export_keys_free(km_rt_static_key_t *keys, size_t n) {
  for (size_t i = 0; keys != NULL && i < n; i++) {
    free((char *)keys[i].account);
    free((char *)keys[i].id);
    km_free_secret((char *)keys[i].secret);
  }
  free(keys);
}
