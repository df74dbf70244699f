/* ResourceSharing 2020-01-10 on resourcesharing.<region>.aliyuncs.com, for
 * the one resource type kmsmig shares: KMSInstance (reference §3).
 * CreateResourceShare, AssociateResourceShare, DisassociateResourceShare,
 * DeleteResourceShare, ListResourceShares and ListResourceShareAssociations
 * with the SDK's field names and bare-array lists.  Associations are
 * asynchronous: Associating for ASSOC_MS of kmsim's clock (ms resolution,
 * so a client polling every 0.5 s sees it, and POST /_kmsim/clock ends it),
 * then Associated (the account joins instance->shared_with) or Failed with
 * AssociationFailedDetails: targets outside the owner's resource directory
 * or verified enterprise (UnsupportedOperation), or no access-management
 * quota left (VpcNum counts shared accounts and bound VPCs: LimitExceeded).
 * State lives in cloud->ext["ResourceSharing"] (freed with the cloud, dumped
 * with /_kmsim/state and at GET /_kmsim/shares). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

#define ASSOC_MS 1000
#define MAX_PER_CALL 5 /* Resources.N / Targets.N per call (SDK docs) */
#define KMS_PERMISSION "AliyunRSDefaultPermissionKMSInstance"

static json_t *root(ksim_cloud_t *c) {
  json_t *r = json_object_get(c->ext, "ResourceSharing");
  if (r == NULL) {
    r = json_pack("{s:[], s:[]}", "Shares", "Associations");
    json_object_set_new(c->ext, "ResourceSharing", r);
  }
  return r;
}

static json_t *shares(ksim_cloud_t *c) {
  return json_object_get(root(c), "Shares");
}

static json_t *assocs(ksim_cloud_t *c) {
  return json_object_get(root(c), "Associations");
}

static const char *sget(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static json_t *now_time(const ksim_cloud_t *c) {
  return ksim_json_time(ksim_clock_now(c));
}

/* Public view: internal fields start with '_'. */
static json_t *public_copy(json_t *o) {
  json_t *p = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (k[0] != '_') json_object_set(p, k, v);
  }
  return p;
}

/* ---- asynchronous completion ---- */

static bool same_org(ksim_cloud_t *c, const ksim_account_t *owner,
                     const ksim_account_t *t, const char **why) {
  if (owner->directory == NULL || t->directory == NULL ||
      strcmp(owner->directory, t->directory) != 0) {
    *why = "the principal is not in the resource directory of the resource "
           "owner; KMS instances are shared only within one resource "
           "directory";
    return false;
  }
  ksim_enterprise_t *e = ksim_enterprise_by_id(c, owner->enterprise);
  if (e == NULL || t->enterprise == NULL ||
      strcmp(owner->enterprise, t->enterprise) != 0 || !e->verified) {
    *why = "the principal and the resource owner do not belong to the same "
           "real-name verified enterprise";
    return false;
  }
  return true;
}

static void set_failed(ksim_cloud_t *c, json_t *as, const char *reason,
                       const char *desc, const char *op) {
  json_object_set_new(as, "AssociationStatus", json_string("Failed"));
  json_object_set_new(as, "AssociationStatusMessage", json_string(desc));
  json_object_set_new(
      as, "AssociationFailedDetails",
      json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "EntityId", sget(as, "EntityId"),
                "EntityType", sget(as, "EntityType"), "FailureReason", reason,
                "FailureDescription", desc, "OperationType", op));
  json_object_set_new(as, "UpdateTime", now_time(c));
}

static json_t *share_by_id(ksim_cloud_t *c, const char *id) {
  size_t i;
  json_t *s;
  json_array_foreach(shares(c), i, s) {
    if (id != NULL && strcmp(sget(s, "ResourceShareId"), id) == 0) return s;
  }
  return NULL;
}

/* Instances (KMSInstance resources) of a share. */
static void share_instances(ksim_cloud_t *c, const char *share_id,
                            ksim_instance_t **out, size_t *n, size_t max,
                            bool pending_too) {
  *n = 0;
  size_t i;
  json_t *a;
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "ResourceShareId"), share_id) == 0 &&
        strcmp(sget(a, "AssociationType"), "Resource") == 0 &&
        (strcmp(sget(a, "AssociationStatus"), "Associated") == 0 ||
         (pending_too &&
          strcmp(sget(a, "AssociationStatus"), "Associating") == 0)) &&
        *n < max) {
      ksim_instance_t *inst = ksim_instance_by_id(c, sget(a, "EntityId"));
      if (inst != NULL) out[(*n)++] = inst;
    }
  }
}

/* An association now pending until due (ms): the tick scans from then on. */
static void pending_until(ksim_cloud_t *c, int64_t due) {
  if (c->share_due_ms == 0 || due < c->share_due_ms) c->share_due_ms = due;
}

static void complete_target(ksim_cloud_t *c, json_t *share, json_t *as) {
  ksim_account_t *owner =
      ksim_account_by_id(c, sget(share, "ResourceShareOwner"));
  ksim_account_t *t = ksim_account_by_id(c, sget(as, "EntityId"));
  const char *why = NULL;
  if (t == NULL) {
    set_failed(c, as, "Unavailable", "the principal account does not exist",
               "Associate");
    return;
  }
  if (owner == NULL || !same_org(c, owner, t, &why)) {
    set_failed(c, as, "UnsupportedOperation", why, "Associate");
    return;
  }
  ksim_instance_t *insts[16];
  size_t n;
  share_instances(c, sget(share, "ResourceShareId"), insts, &n, 16, false);
  for (size_t i = 0; i < n; i++) {
    ksim_instance_t *inst = insts[i];
    if (ksim_strs_has(&inst->shared_with, t->id)) continue;
    long used = (long)inst->shared_with.n + inst->bound_vpcs;
    if (used + 1 > inst->vpc_num) {
      char d[300];
      snprintf(d, sizeof(d),
               "the access management quota of %s is used up (VpcNum %ld: "
               "%zu shared accounts and %ld bound VPCs); raise the quota, "
               "then remove and add the principal again",
               inst->id, inst->vpc_num, inst->shared_with.n, inst->bound_vpcs);
      set_failed(c, as, "LimitExceeded", d, "Associate");
      return;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (!ksim_strs_has(&insts[i]->shared_with, t->id))
      ksim_strs_push(&insts[i]->shared_with, t->id);
  json_object_set_new(as, "AssociationStatus", json_string("Associated"));
  json_object_set_new(as, "AssociationStatusMessage", json_string(""));
  json_object_set_new(as, "UpdateTime", now_time(c));
}

static void strs_remove(ksim_strs_t *s, const char *v) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], v) == 0) {
      free(s->v[i]);
      memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(char *));
      s->n--;
      return;
    }
}

/* Keys or secrets of account uid inside inst: revocation is refused while
 * the principal still has resources there (reference §3). */
static bool owns_resources(ksim_cloud_t *c, const ksim_instance_t *inst,
                           const char *uid) {
  ksim_account_t *a = ksim_account_by_id(c, uid);
  if (a == NULL) return false;
  for (size_t j = 0; j < a->regions.n; j++) {
    ksim_region_t *r = a->regions.v[j];
    for (size_t k = 0; k < r->keys.n; k++)
      if (r->keys.v[k]->instance_id != NULL &&
          strcmp(r->keys.v[k]->instance_id, inst->id) == 0)
        return true;
    for (size_t k = 0; k < r->secrets.n; k++)
      if (r->secrets.v[k]->instance_id != NULL &&
          strcmp(r->secrets.v[k]->instance_id, inst->id) == 0)
        return true;
  }
  return false;
}

static void complete_disassociate(ksim_cloud_t *c, json_t *share, json_t *as) {
  ksim_instance_t *insts[16];
  size_t n;
  share_instances(c, sget(share, "ResourceShareId"), insts, &n, 16, false);
  const char *uid = sget(as, "EntityId");
  if (strcmp(sget(as, "AssociationType"), "Target") == 0) {
    for (size_t i = 0; i < n; i++)
      if (owns_resources(c, insts[i], uid)) {
        set_failed(c, as, "UnsupportedOperation",
                   "the principal still owns keys or secrets in the shared "
                   "instance",
                   "Disassociate");
        return;
      }
    for (size_t i = 0; i < n; i++)
      strs_remove(&insts[i]->shared_with, uid);
  }
  json_object_set_new(as, "AssociationStatus", json_string("Disassociated"));
  json_object_set_new(as, "UpdateTime", now_time(c));
}

/* Runs on every request: nothing to do until the earliest pending
 * association is due (a scan of every association per request made a
 * 10,000-account share quadratic). */
void ksim_share_tick(ksim_cloud_t *c) {
  json_t *r = json_object_get(c->ext, "ResourceSharing");
  if (r == NULL || c->share_due_ms == 0) return;
  int64_t now = ksim_clock_ms(c);
  if (now < c->share_due_ms) return;
  int64_t next = 0;
  /* resources first: a target completes against the instances the share
   * holds by then */
  for (int pass = 0; pass < 2; pass++) {
    size_t i;
    json_t *as;
    json_array_foreach(json_object_get(r, "Associations"), i, as) {
      const char *st = sget(as, "AssociationStatus");
      bool target = strcmp(sget(as, "AssociationType"), "Target") == 0;
      if ((pass == 0) == target) continue;
      if (strcmp(st, "Associating") != 0 && strcmp(st, "Disassociating") != 0)
        continue;
      int64_t due = json_integer_value(json_object_get(as, "_DueMs"));
      if (now < due) {
        if (next == 0 || due < next) next = due;
        continue;
      }
      json_t *share = share_by_id(c, sget(as, "ResourceShareId"));
      if (strcmp(st, "Disassociating") == 0) {
        complete_disassociate(c, share, as);
      } else if (target) {
        complete_target(c, share, as);
      } else {
        json_object_set_new(as, "AssociationStatus", json_string("Associated"));
        json_object_set_new(as, "UpdateTime", now_time(c));
      }
    }
  }
  c->share_due_ms = next;
}

const char *ksim_share_status(ksim_cloud_t *c, const char *instance_id,
                              const char *account) {
  ksim_share_tick(c);
  const char *best = NULL;
  size_t i;
  json_t *a;
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "AssociationType"), "Target") != 0 ||
        strcmp(sget(a, "EntityId"), account) != 0)
      continue;
    ksim_instance_t *insts[16];
    size_t n;
    share_instances(c, sget(a, "ResourceShareId"), insts, &n, 16, true);
    for (size_t j = 0; j < n; j++)
      if (strcmp(insts[j]->id, instance_id) == 0)
        best = sget(a, "AssociationStatus");
  }
  return best;
}

/* ---- parameters ---- */

static int list_param(ksim_req_t *req, ksim_resp_t *resp, const char *fmt,
                      json_t *out) {
  for (int n = 1; n <= MAX_PER_CALL + 1; n++) {
    char name[64];
    snprintf(name, sizeof(name), fmt, n);
    const char *v = ksim_param(req, name);
    if (v == NULL) break;
    if (n > MAX_PER_CALL || v[0] == '\0') return ksim_fail_invalid(resp, name);
    json_array_append_new(out, json_string(v));
  }
  return 0;
}

/* Resources.N.{ResourceId,ResourceType}: KMSInstance the caller owns in
 * this region. */
static int resources_param(ksim_req_t *req, ksim_resp_t *resp, json_t *out) {
  json_t *ids = json_array(), *types = json_array();
  int rc = -1;
  if (list_param(req, resp, "Resources.%d.ResourceId", ids) < 0 ||
      list_param(req, resp, "Resources.%d.ResourceType", types) < 0)
    goto out;
  if (json_array_size(ids) != json_array_size(types)) {
    ksim_fail_missing(resp, "Resources.N.ResourceType");
    goto out;
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    const char *type = json_string_value(json_array_get(types, i));
    if (strcmp(type, "KMSInstance") != 0) {
      ksim_fail(resp, "InvalidParameter.ResourceType",
                "The specified ResourceType %s is not supported.", type);
      goto out;
    }
    ksim_instance_t *inst =
        ksim_instance_by_id(req->cloud, json_string_value(v));
    if (inst == NULL || strcmp(inst->owner, req->account->id) != 0 ||
        strcmp(inst->region, req->region) != 0) {
      ksim_fail_status(resp, 404, "EntityNotExists.Resource",
                       "The resource %s does not exist in %s or is not owned "
                       "by the caller.",
                       json_string_value(v), req->region);
      goto out;
    }
  }
  json_array_extend(out, ids);
  rc = 0;
out:
  json_decref(ids);
  json_decref(types);
  return rc;
}

static int targets_param(ksim_req_t *req, ksim_resp_t *resp, json_t *out) {
  json_t *t = json_array();
  int rc = list_param(req, resp, "Targets.%d", t);
  if (rc == 0) json_array_extend(out, t);
  json_decref(t);
  return rc;
}

static json_t *share_view(json_t *s) {
  return public_copy(s);
}

/* New associations of share s; appended to the store and to out. */
static void associate(ksim_req_t *req, json_t *s, json_t *resources,
                      json_t *targets, json_t *out) {
  ksim_cloud_t *c = req->cloud;
  int64_t due = ksim_clock_ms(c) + ASSOC_MS;
  ksim_account_t *owner = req->account;
  for (int kind = 0; kind < 2; kind++) {
    json_t *list = kind == 0 ? resources : targets;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
      const char *id = json_string_value(v);
      /* an existing live association of the same entity is returned as is */
      json_t *found = NULL;
      size_t j;
      json_t *a;
      json_array_foreach(assocs(c), j, a) {
        const char *st = sget(a, "AssociationStatus");
        if (strcmp(sget(a, "ResourceShareId"), sget(s, "ResourceShareId")) ==
                0 &&
            strcmp(sget(a, "EntityId"), id) == 0 &&
            (strcmp(st, "Associating") == 0 || strcmp(st, "Associated") == 0))
          found = a;
      }
      if (found == NULL) {
        ksim_account_t *t = kind == 1 ? ksim_account_by_id(c, id) : NULL;
        bool external =
            kind == 1 &&
            (t == NULL || owner->directory == NULL || t->directory == NULL ||
             strcmp(t->directory, owner->directory) != 0);
        char *arn = kind == 0 ? km_xasprintf("acs:kms:%s:%s:keystore/%s",
                                             req->region, owner->id, id)
                              : km_xstrdup("");
        found = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:b, s:[], "
            "s:I}",
            "ResourceShareId", sget(s, "ResourceShareId"), "ResourceShareName",
            sget(s, "ResourceShareName"), "EntityId", id, "EntityType",
            kind == 0 ? "KMSInstance" : "Account", "AssociationType",
            kind == 0 ? "Resource" : "Target", "AssociationStatus",
            "Associating", "AssociationStatusMessage", "", "CreateTime",
            now_time(c), "UpdateTime", now_time(c), "ResourceArn", arn,
            "External", external, "AssociationFailedDetails", "_DueMs",
            (json_int_t)due);
        free(arn);
        json_array_append_new(assocs(c), found);
        pending_until(c, due);
      }
      json_array_append_new(out, public_copy(found));
    }
  }
}

/* ---- actions ---- */

static int create_share(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  ksim_share_tick(c);
  const char *name = ksim_param_req(req, resp, "ResourceShareName");
  if (name == NULL) return -1;
  size_t nl = strlen(name);
  bool okname = nl >= 1 && nl <= 50;
  for (size_t i = 0; i < nl; i++)
    okname &= (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
              name[i] == '-' || name[i] == '_';
  if (!okname) return ksim_fail_invalid(resp, "ResourceShareName");
  bool ext = false;
  if (ksim_param_bool(req, resp, "AllowExternalTargets", &ext) < 0) return -1;
  json_t *res = json_array(), *tgt = json_array(), *perms = json_array();
  int rc = -1;
  if (resources_param(req, resp, res) < 0 ||
      targets_param(req, resp, tgt) < 0 ||
      list_param(req, resp, "PermissionNames.%d", perms) < 0)
    goto out;
  size_t i;
  json_t *v;
  json_array_foreach(perms, i, v) {
    if (strcmp(json_string_value(v), KMS_PERMISSION) != 0 &&
        strcmp(json_string_value(v),
               "AliyunRSPermissionKMSInstanceReadWrite") != 0) {
      ksim_fail_status(resp, 404, "EntityNotExists.Permission",
                       "The permission %s does not exist.",
                       json_string_value(v));
      goto out;
    }
  }
  json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:s, s:[]}",
                        "ResourceShareId", "", "ResourceShareName", name,
                        "ResourceShareOwner", req->account->id,
                        "ResourceShareStatus", "Active", "AllowExternalTargets",
                        ext, "CreateTime", now_time(c), "UpdateTime",
                        now_time(c), "_Region", req->region, "Tags");
  char *id =
      km_xasprintf("rs-%016llx", (unsigned long long)ksim_rand(&c->id_rng));
  json_object_set_new(s, "ResourceShareId", json_string(id));
  free(id);
  json_array_append_new(shares(c), s);
  json_t *dummy = json_array();
  associate(req, s, res, tgt, dummy);
  json_decref(dummy);
  rc = ksim_ok(resp, json_pack("{s:o}", "ResourceShare", share_view(s)));
out:
  json_decref(res);
  json_decref(tgt);
  json_decref(perms);
  return rc;
}

/* The caller's own share in this region, or an error. */
static json_t *own_share(ksim_req_t *req, ksim_resp_t *resp) {
  const char *id = ksim_param_req(req, resp, "ResourceShareId");
  if (id == NULL) return NULL;
  json_t *s = share_by_id(req->cloud, id);
  if (s == NULL ||
      strcmp(sget(s, "ResourceShareOwner"), req->account->id) != 0 ||
      strcmp(sget(s, "_Region"), req->region) != 0 ||
      strcmp(sget(s, "ResourceShareStatus"), "Deleted") == 0) {
    ksim_fail_status(resp, 404, "EntityNotExists.ResourceShare",
                     "The resource share %s does not exist.", id);
    return NULL;
  }
  return s;
}

static int associate_share(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_share_tick(req->cloud);
  json_t *s = own_share(req, resp);
  if (s == NULL) return -1;
  json_t *res = json_array(), *tgt = json_array();
  int rc = -1;
  if (resources_param(req, resp, res) < 0 || targets_param(req, resp, tgt) < 0)
    goto out;
  if (json_array_size(res) + json_array_size(tgt) == 0) {
    ksim_fail_missing(resp, "Targets.N");
    goto out;
  }
  json_t *out = json_array();
  associate(req, s, res, tgt, out);
  rc = ksim_ok(resp, json_pack("{s:o}", "ResourceShareAssociations", out));
out:
  json_decref(res);
  json_decref(tgt);
  return rc;
}

static int disassociate_share(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  ksim_share_tick(c);
  json_t *s = own_share(req, resp);
  if (s == NULL) return -1;
  json_t *ids = json_array(), *tgt = json_array();
  int rc = -1;
  if (list_param(req, resp, "Resources.%d.ResourceId", ids) < 0 ||
      targets_param(req, resp, tgt) < 0)
    goto out;
  json_array_extend(ids, tgt);
  json_t *out = json_array();
  int64_t due = ksim_clock_ms(c) + ASSOC_MS;
  size_t i;
  json_t *a;
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "ResourceShareId"), sget(s, "ResourceShareId")) != 0 ||
        strcmp(sget(a, "AssociationStatus"), "Associated") != 0)
      continue;
    size_t j;
    json_t *v;
    json_array_foreach(ids, j, v) {
      if (strcmp(json_string_value(v), sget(a, "EntityId")) != 0) continue;
      json_object_set_new(a, "AssociationStatus",
                          json_string("Disassociating"));
      json_object_set_new(a, "UpdateTime", now_time(c));
      json_object_set_new(a, "_DueMs", json_integer((json_int_t)due));
      pending_until(c, due);
      json_array_append_new(out, public_copy(a));
    }
  }
  rc = ksim_ok(resp, json_pack("{s:o}", "ResourceShareAssociations", out));
out:
  json_decref(ids);
  json_decref(tgt);
  return rc;
}

static int delete_share(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  ksim_share_tick(c);
  json_t *s = own_share(req, resp);
  if (s == NULL) return -1;
  ksim_instance_t *insts[16];
  size_t n;
  share_instances(c, sget(s, "ResourceShareId"), insts, &n, 16, false);
  size_t i;
  json_t *a;
  /* revoking fails while a principal still owns resources in the instance */
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "ResourceShareId"), sget(s, "ResourceShareId")) != 0 ||
        strcmp(sget(a, "AssociationType"), "Target") != 0 ||
        strcmp(sget(a, "AssociationStatus"), "Associated") != 0)
      continue;
    for (size_t j = 0; j < n; j++)
      if (owns_resources(c, insts[j], sget(a, "EntityId")))
        return ksim_fail_status(
            resp, 409, "OperationDenied.ResourceInUse",
            "Account %s still owns keys or secrets in %s; the share cannot "
            "be deleted.",
            sget(a, "EntityId"), insts[j]->id);
  }
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "ResourceShareId"), sget(s, "ResourceShareId")) != 0)
      continue;
    const char *st = sget(a, "AssociationStatus");
    if (strcmp(sget(a, "AssociationType"), "Target") == 0 &&
        strcmp(st, "Associated") == 0)
      for (size_t j = 0; j < n; j++)
        strs_remove(&insts[j]->shared_with, sget(a, "EntityId"));
    if (strcmp(st, "Failed") != 0)
      json_object_set_new(a, "AssociationStatus", json_string("Disassociated"));
    json_object_set_new(a, "UpdateTime", now_time(c));
  }
  json_object_set_new(s, "ResourceShareStatus", json_string("Deleted"));
  json_object_set_new(s, "UpdateTime", now_time(c));
  return ksim_ok(resp, NULL);
}

/* MaxResults 1..100 (def 20) and NextToken (an offset kmsim issued). */
static int paging(ksim_req_t *req, ksim_resp_t *resp, long *max, long *off) {
  if (ksim_param_int(req, resp, "MaxResults", 20, 1, 100, max) < 0) return -1;
  const char *nt = ksim_param(req, "NextToken");
  *off = 0;
  if (nt != NULL && nt[0] != '\0') {
    char *end;
    *off = strtol(nt, &end, 10);
    if (*end != '\0' || *off < 0) return ksim_fail_invalid(resp, "NextToken");
  }
  return 0;
}

static void page_out(json_t *body, const char *field, json_t *all, long max,
                     long off) {
  json_t *page = json_array();
  size_t n = json_array_size(all);
  for (size_t i = (size_t)off; i < n && i < (size_t)(off + max); i++)
    json_array_append(page, json_array_get(all, i));
  json_object_set_new(body, field, page);
  if ((size_t)(off + max) < n) {
    char nt[32];
    snprintf(nt, sizeof(nt), "%ld", off + max);
    json_object_set_new(body, "NextToken", json_string(nt));
  } else {
    json_object_set_new(body, "NextToken", json_string(""));
  }
}

static bool account_associated(ksim_cloud_t *c, const char *share_id,
                               const char *uid) {
  size_t i;
  json_t *a;
  json_array_foreach(assocs(c), i, a) {
    if (strcmp(sget(a, "ResourceShareId"), share_id) == 0 &&
        strcmp(sget(a, "EntityId"), uid) == 0 &&
        strcmp(sget(a, "AssociationStatus"), "Associated") == 0)
      return true;
  }
  return false;
}

static int list_shares(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  ksim_share_tick(c);
  const char *owner = ksim_param_req(req, resp, "ResourceOwner");
  if (owner == NULL) return -1;
  bool self = strcmp(owner, "Self") == 0;
  if (!self && strcmp(owner, "OtherAccounts") != 0)
    return ksim_fail_invalid(resp, "ResourceOwner");
  json_t *ids = json_array();
  if (list_param(req, resp, "ResourceShareIds.%d", ids) < 0) {
    json_decref(ids);
    return -1;
  }
  long max, off;
  if (paging(req, resp, &max, &off) < 0) {
    json_decref(ids);
    return -1;
  }
  const char *name = ksim_param(req, "ResourceShareName");
  const char *status = ksim_param(req, "ResourceShareStatus");
  json_t *all = json_array();
  size_t i;
  json_t *s;
  json_array_foreach(shares(c), i, s) {
    const char *sid = sget(s, "ResourceShareId");
    bool mine = strcmp(sget(s, "ResourceShareOwner"), req->account->id) == 0;
    if (strcmp(sget(s, "_Region"), req->region) != 0) continue;
    if (self ? !mine : (mine || !account_associated(c, sid, req->account->id)))
      continue;
    if (name != NULL && strcmp(name, sget(s, "ResourceShareName")) != 0)
      continue;
    if (status != NULL && strcmp(status, sget(s, "ResourceShareStatus")) != 0)
      continue;
    if (json_array_size(ids) > 0) {
      bool hit = false;
      size_t j;
      json_t *v;
      json_array_foreach(ids, j, v) hit |=
          strcmp(json_string_value(v), sid) == 0;
      if (!hit) continue;
    }
    json_array_append_new(all, share_view(s));
  }
  json_t *body = json_object();
  page_out(body, "ResourceShares", all, max, off);
  json_decref(all);
  json_decref(ids);
  return ksim_ok(resp, body);
}

static int list_assocs(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_cloud_t *c = req->cloud;
  ksim_share_tick(c);
  const char *type = ksim_param_req(req, resp, "AssociationType");
  if (type == NULL) return -1;
  if (strcmp(type, "Resource") != 0 && strcmp(type, "Target") != 0)
    return ksim_fail_invalid(resp, "AssociationType");
  const char *rid = ksim_param(req, "ResourceId");
  const char *target = ksim_param(req, "Target");
  if (rid != NULL && strcmp(type, "Resource") != 0)
    return ksim_fail_invalid(resp, "ResourceId");
  if (target != NULL && strcmp(type, "Target") != 0)
    return ksim_fail_invalid(resp, "Target");
  const char *status = ksim_param(req, "AssociationStatus");
  const char *arn = ksim_param(req, "ResourceArn");
  json_t *ids = json_array();
  long max, off;
  if (list_param(req, resp, "ResourceShareIds.%d", ids) < 0 ||
      paging(req, resp, &max, &off) < 0) {
    json_decref(ids);
    return -1;
  }
  json_t *all = json_array();
  size_t i;
  json_t *a;
  json_array_foreach(assocs(c), i, a) {
    json_t *s = share_by_id(c, sget(a, "ResourceShareId"));
    if (s == NULL ||
        strcmp(sget(s, "ResourceShareOwner"), req->account->id) != 0 ||
        strcmp(sget(s, "_Region"), req->region) != 0 ||
        strcmp(sget(a, "AssociationType"), type) != 0)
      continue;
    const char *eid = sget(a, "EntityId");
    if ((rid != NULL && strcmp(rid, eid) != 0) ||
        (target != NULL && strcmp(target, eid) != 0) ||
        (status != NULL && strcmp(status, sget(a, "AssociationStatus")) != 0) ||
        (arn != NULL && strcmp(arn, sget(a, "ResourceArn")) != 0))
      continue;
    if (json_array_size(ids) > 0) {
      bool hit = false;
      size_t j;
      json_t *v;
      json_array_foreach(ids, j, v) {
        hit |= strcmp(json_string_value(v), sget(a, "ResourceShareId")) == 0;
      }
      if (!hit) continue;
    }
    json_array_append_new(all, public_copy(a));
  }
  json_t *body = json_object();
  page_out(body, "ResourceShareAssociations", all, max, off);
  json_decref(all);
  json_decref(ids);
  return ksim_ok(resp, body);
}

static int admin_shares(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_share_tick(req->cloud);
  resp->body = json_deep_copy(root(req->cloud));
  return 0;
}

static const ksim_action_t share_actions[] = {
    {"CreateResourceShare", create_share, "rs-write", 0},
    {"AssociateResourceShare", associate_share, "rs-write", 0},
    {"DisassociateResourceShare", disassociate_share, "rs-write", 0},
    {"DeleteResourceShare", delete_share, "rs-write", 0},
    {"ListResourceShares", list_shares, "rs-read", 0},
    {"ListResourceShareAssociations", list_assocs, "rs-read", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("resourcesharing", share_actions)
KSIM_REGISTER_ADMIN(shares, "/_kmsim/shares", admin_shares)
