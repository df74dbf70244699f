/* Cross-reference checks, run once every section and account is built.
 *
 * These are the rules that relate two parts of a manifest: every region is
 * known and has an instance, every instance is owned by and shared with
 * defined accounts, every account can obtain credentials without two
 * accounts silently sharing one AccessKey, HSM BYOK has a hardware instance
 * in mainland China.  Each error points at the value the operator has to
 * change, not at the place where the conflict was noticed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manifest/build.h"
#include "util/util.h"

static void check_region_list(km_mctx_t *c, const km_ynode_t *list) {
  if (list == NULL || list->kind != KM_YSEQ) return;
  for (size_t i = 0; i < list->n; i++) {
    const km_ynode_t *r = list->items[i];
    if (r->kind != KM_YSCALAR) continue;
    for (size_t j = 0; j < i; j++)
      if (list->items[j]->kind == KM_YSCALAR &&
          strcmp(list->items[j]->str, r->str) == 0) {
        km__err(c, r, "region '%s' is listed twice; remove one", r->str);
        break;
      }
    if (km_manifest_region_known(r->str)) continue;
    const char *near = km__nearest(r->str, km__regions);
    if (near != NULL)
      km__err(c, r, "unknown region '%s'; did you mean '%s'?", r->str, near);
    else
      km__err(c, r,
              "unknown region '%s'; KMS regions look like cn-hangzhou or "
              "ap-southeast-1 (see docs/manifest.md)",
              r->str);
  }
}

static void check_regions(km_mctx_t *c, const km_ynode_t *root) {
  km_manifest_t *m = c->m;
  const km_ynode_t *top = km__ymap_get(root, "regions");
  check_region_list(c, top);
  bool need_default = m->directory.present;
  for (size_t i = 0; i < m->naccounts; i++) {
    check_region_list(c, km__ymap_get(c->acct_nodes[i], "regions"));
    need_default = need_default || !m->accounts[i].regions_overridden;
  }
  if (top == NULL && need_default && m->naccounts > 0)
    km__err(c, root,
            "the manifest needs 'regions: [...]', the default regions of "
            "accounts without their own%s",
            m->directory.present ? " and of directory members" : "");

  /* Instances keyed by an unknown region. */
  const km_ynode_t *in = km__ymap_get(root, "instances");
  for (size_t i = 0; in != NULL && in->kind == KM_YMAP && i < in->n; i++) {
    const km_ynode_t *k = in->keys[i];
    if (km_manifest_region_known(k->str)) continue;
    const char *near = km__nearest(k->str, km__regions);
    km__err(c, k, "unknown region '%s' in instances%s%s%s", k->str,
            near ? "; did you mean '" : "; use a KMS region id",
            near ? near : "", near ? "'?" : "");
  }

  /* A used region needs an instance: report each missing one at the
   * entry that asks for it, once. */
  for (size_t i = 0; top != NULL && top->kind == KM_YSEQ && i < top->n; i++) {
    const km_ynode_t *r = top->items[i];
    if (r->kind == KM_YSCALAR && km_manifest_region_known(r->str) &&
        km_manifest_instance(m, r->str) == NULL)
      km__err(c, r,
              "region '%s' has no KMS 3.0 instance; add instances.%s: {id, "
              "owner, type} or remove the region",
              r->str, r->str);
  }
  for (size_t a = 0; a < m->naccounts; a++) {
    const km_ynode_t *l = km__ymap_get(c->acct_nodes[a], "regions");
    for (size_t i = 0; l != NULL && l->kind == KM_YSEQ && i < l->n; i++) {
      const km_ynode_t *r = l->items[i];
      if (r->kind == KM_YSCALAR && km_manifest_region_known(r->str) &&
          km_manifest_instance(m, r->str) == NULL &&
          !km__strlist_has(&m->regions, r->str))
        km__err(c, r,
                "account '%s' uses region '%s', which has no KMS 3.0 "
                "instance; add instances.%s or remove the region",
                m->accounts[a].name ? m->accounts[a].name : "?", r->str,
                r->str);
    }
  }
}

static bool region_used(const km_manifest_t *m, const char *region) {
  if (m->directory.present && km__strlist_has(&m->regions, region)) return true;
  for (size_t i = 0; i < m->naccounts; i++)
    if (km__strlist_has(&m->accounts[i].regions, region)) return true;
  return false;
}

/* 1 when map key i repeats an earlier key of the same map. */
static bool repeated_key(const km_ynode_t *map, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (map->keys[j]->str != NULL && map->keys[i]->str != NULL &&
        strcmp(map->keys[j]->str, map->keys[i]->str) == 0)
      return true;
  return false;
}

static void check_instances(km_mctx_t *c, const km_ynode_t *root) {
  km_manifest_t *m = c->m;
  const km_ynode_t *in = km__ymap_get(root, "instances");
  for (size_t i = 0; in != NULL && in->kind == KM_YMAP && i < in->n; i++) {
    const km_ynode_t *k = in->keys[i];
    const km_ynode_t *body = in->items[i];
    /* A repeated region is already an error ("duplicate key"); the model
     * holds both instances and the lookup by region returns either, so an
     * instance could be checked against the other body, which had no
     * `owner` node to point at (a NULL position: the crash of
     * tests/fuzz/corpus/manifest/crash-dup-*).  Check each region once and
     * point at the region key when the owner node is not in this body. */
    if (repeated_key(in, i)) continue;
    const km_mf_instance_t *inst = km_manifest_instance(m, k->str);
    if (inst == NULL || body->kind != KM_YMAP) continue;
    if (km_manifest_region_known(k->str) && !region_used(m, k->str))
      km__warn(c, k,
               "no account migrates in %s, so instance %s is not used; add "
               "the region to an account or remove the instance",
               k->str, inst->id ? inst->id : "?");
    const km_ynode_t *own = km__ymap_get(body, "owner");
    if (inst->owner != NULL && km_manifest_account(m, inst->owner) == NULL)
      km__err(c, own != NULL ? own : k,
              "instance owner '%s' is not a defined account; define it "
              "under accounts (it shares the instance with the others)",
              inst->owner);
    const km_ynode_t *sw = km__ymap_get(body, "share_with");
    for (size_t j = 0; sw != NULL && sw->kind == KM_YSEQ && j < sw->n; j++) {
      const km_ynode_t *it = sw->items[j];
      if (it->kind == KM_YSCALAR && km_manifest_account(m, it->str) == NULL)
        km__err(c, it,
                "share_with names '%s', which is not a defined account; "
                "define it or remove it from the list",
                it->str);
    }
    if (inst->share_all || inst->owner == NULL) continue;
    if (m->directory.present && sw != NULL)
      km__warn(c, sw,
               "accounts found through `directory` are not in this list, so "
               "they cannot use %s in %s; write share_with: all to include "
               "them",
               inst->id ? inst->id : "the instance", k->str);
    for (size_t a = 0; a < m->naccounts; a++) {
      const km_mf_account_t *acct = &m->accounts[a];
      if (acct->name == NULL || strcmp(acct->name, inst->owner) == 0 ||
          !km__strlist_has(&acct->regions, k->str) ||
          km__strlist_has(&inst->share_with, acct->name))
        continue;
      km__err(c, sw ? sw : k,
              "account '%s' migrates %s into %s, owned by '%s', but it is "
              "not shared with it; add '%s' to share_with or write "
              "share_with: all",
              acct->name, k->str, inst->id ? inst->id : "the instance",
              inst->owner, acct->name);
    }
  }
}

static const char *src_name(km_mf_cred_kind_t k) {
  return k == KM_MF_CRED_ENV ? "the environment (env: true)"
                             : "the default chain (no credentials)";
}

static void check_credentials(km_mctx_t *c) {
  km_manifest_t *m = c->m;
  const km_mf_account_t *ambient = NULL;
  for (size_t i = 0; i < m->naccounts; i++) {
    const km_mf_account_t *a = &m->accounts[i];
    const km_mf_cred_spec_t *cr = &a->cred;
    if (a->name == NULL) continue;
    if (cr->kind == KM_MF_CRED_ENV || cr->kind == KM_MF_CRED_DEFAULT) {
      /* Both read ALIBABA_CLOUD_ACCESS_KEY_*: one AccessKey, one account. */
      if (ambient != NULL)
        km__err_pos(c, cr->pos,
                    "accounts '%s' and '%s' both take credentials from %s, "
                    "which holds one account's AccessKey; give '%s' "
                    "credentials: {assume_role: {via: %s}} or {profile: NAME}",
                    ambient->name, a->name, src_name(cr->kind), a->name,
                    ambient->name);
      else
        ambient = a;
    }
    if (cr->kind == KM_MF_CRED_PROFILE && cr->profile != NULL)
      for (size_t j = 0; j < i; j++) {
        const km_mf_cred_spec_t *o = &m->accounts[j].cred;
        if (o->kind == KM_MF_CRED_PROFILE && o->profile != NULL &&
            strcmp(o->profile, cr->profile) == 0 &&
            ((o->config == NULL && cr->config == NULL) ||
             (o->config && cr->config && !strcmp(o->config, cr->config))))
          km__err_pos(c, cr->pos,
                      "accounts '%s' and '%s' both use profile '%s'; a "
                      "profile holds one account's AccessKey",
                      m->accounts[j].name, a->name, cr->profile);
      }
    if (cr->kind != KM_MF_CRED_ASSUME_ROLE || cr->via == NULL) continue;
    const km_mf_account_t *via = km_manifest_account(m, cr->via);
    if (via == NULL) {
      km__err_pos(c, cr->pos,
                  "account '%s' assumes a role via '%s', which is not a "
                  "defined account; define it or fix the name",
                  a->name, cr->via);
      continue;
    }
    /* Follow the via chain: it must end at an account with its own keys. */
    const km_mf_account_t *cur = a;
    for (size_t hops = 0; cur != NULL; hops++) {
      if (cur->cred.kind != KM_MF_CRED_ASSUME_ROLE || cur->cred.via == NULL)
        break;
      cur = km_manifest_account(m, cur->cred.via);
      if (cur == a || hops > m->naccounts) {
        km__err_pos(c, cr->pos,
                    "account '%s' reaches its credentials through a loop of "
                    "assume_role via; one account in the chain needs env or "
                    "a profile",
                    a->name);
        break;
      }
    }
  }
}

static void check_directory(km_mctx_t *c, const km_ynode_t *root) {
  const km_mf_directory_t *d = &c->m->directory;
  if (!d->present || d->management == NULL) return;
  const km_mf_account_t *mg = km_manifest_account(c->m, d->management);
  const km_ynode_t *n =
      km__ymap_get(km__ymap_get(root, "directory"), "management");
  if (mg == NULL)
    km__err(c, n,
            "directory.management '%s' is not a defined account; define the "
            "management account under accounts with its credentials",
            d->management);
}

static void check_byok(km_mctx_t *c) {
  const km_manifest_t *m = c->m;
  if (!m->select.byok_present) return;
  bool hw = false, hw_mainland = false;
  for (size_t i = 0; i < m->ninstances; i++)
    if (m->instances[i].type == KM_MF_INST_HARDWARE) {
      hw = true;
      hw_mainland =
          hw_mainland || km_manifest_region_mainland(m->instances[i].region);
    }
  if (!hw)
    km__err_pos(c, m->select.byok_pos,
                "select.byok needs a hardware instance: HSM BYOK keys "
                "migrate only into a hardware KMS 3.0 instance (type: "
                "hardware)");
  else if (!hw_mainland)
    km__err_pos(c, m->select.byok_pos,
                "HSM BYOK migration is supported only in mainland China "
                "regions; none of the hardware instances is in one");
}

void km__check_model(km_mctx_t *c, const km_ynode_t *root) {
  km_manifest_t *m = c->m;
  const km_ynode_t *acc = km__ymap_get(root, "accounts");
  if (m->naccounts == 0 && acc != NULL && acc->kind == KM_YSEQ && acc->n == 0)
    km__err(c, km__ymap_get(root, "accounts"),
            "'accounts' defines no account; add at least one");
  check_regions(c, root);
  check_instances(c, root);
  check_directory(c, root);
  check_credentials(c);
  check_byok(c);
  if (m->migrate.when > 0 && m->migrate.when < (int64_t)time(NULL))
    km__warn(c, km__ymap_get(km__ymap_get(root, "migrate"), "when"),
             "migrate.when %s is in the past; the migration would start "
             "immediately",
             m->migrate.when_text);
}
