/* The `share` plugin: the destination instance.
 *
 * discover  creates the pipeline's inventory from the manifest's settings,
 *           then reads the instance as its owner (GetKmsInstance,
 *           GetKmsInstanceQuotaInfos), the region's default instance and the
 *           secret names already in the instance (for the duplicate rule).
 * prepare   shares the instance from its owner with this account through
 *           Resource Sharing (resource type KMSInstance), one share per
 *           member and instance so that members never race on one share,
 *           and waits until the association is Associated.
 *
 * The plugin sees the host only through km_host_api_t; the inventory code it
 * links is the core's, compiled into this object with hidden symbols. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/inventory.h"
#include "kmsmig/plugin.h"

static const km_host_api_t *H;

#define SHARE_PERMISSION "AliyunRSDefaultPermissionKMSInstance"
#define POLL_MS 500
#define POLL_MAX 240 /* 2 minutes of polling for Associated */

typedef struct job_s {
  km_pipeline_t *p;
  km_stage_run_t *run;
  km_inv_t *inv;
  json_t *extra; /* doc keys the inventory does not own (kept on store) */
  int pending;
  int status;
  km_err_t err;
  /* prepare */
  char share_name[96];
  char share_id[96];
  int polls;
} job_t;

/* ---- doc ---- */

static int doc_load(job_t *j) {
  json_error_t je;
  json_t *doc = json_loads(H->doc_get(j->p), 0, &je);
  j->extra = doc != NULL ? doc : json_object();
  if (json_object_get(j->extra, "account") == NULL)
    return 1; /* empty: the first discover creates it */
  return km_inv_from_json(j->extra, &j->inv, &j->err);
}

static void doc_store(job_t *j) {
  json_t *d = km_inv_to_json(j->inv);
  json_object_update_missing(d, j->extra);
  char *text = json_dumps(d, JSON_COMPACT);
  H->doc_set(j->p, text);
  free(text);
  json_decref(d);
}

static void job_end(job_t *j) {
  if (j->status == 0 && j->inv != NULL) doc_store(j);
  H->stage_done(j->run, j->status, j->status < 0 ? &j->err : NULL);
  km_inv_free(j->inv);
  json_decref(j->extra);
  free(j);
}

static void fail(job_t *j, int rc, const km_err_t *err, const char *what) {
  if (j->status < 0) return;
  j->status = rc < 0 ? rc : KM_ECLOUD;
  if (err != NULL) j->err = *err;
  char prefix[160];
  snprintf(prefix, sizeof(prefix), "%s: ", what);
  size_t pl = strlen(prefix);
  if (pl + strlen(j->err.text) < sizeof(j->err.text)) {
    memmove(j->err.text + pl, j->err.text, strlen(j->err.text) + 1);
    memcpy(j->err.text, prefix, pl);
  }
}

/* ---- discover ---- */

static void discover_step_done(job_t *j) {
  if (--j->pending == 0) job_end(j);
}

static void on_instance(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    /* An instance the owner cannot see is a preflight finding, not a crash:
     * the rules report instance.not_found with the fix. */
    if (r->err != NULL && strstr(r->err->cloud_code, "NotFound") != NULL)
      H->log(j->p, KM_PLOG_WARN, "instance %s: %s", j->inv->instance_id,
             r->err->cloud_code);
    else
      fail(j, r->status, r->err, "GetKmsInstance");
  } else {
    json_t *b = json_loads(r->body_json, 0, NULL);
    km_err_t e;
    if (km_inv_parse_kms_instance(j->inv, b, &e) < 0)
      fail(j, KM_EPARSE, &e, "GetKmsInstance");
    json_decref(b);
  }
  discover_step_done(j);
}

static void on_quota(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status == 0) {
    json_t *b = json_loads(r->body_json, 0, NULL);
    km_err_t e;
    if (km_inv_parse_quota_infos(j->inv, b, &e) < 0)
      fail(j, KM_EPARSE, &e, "GetKmsInstanceQuotaInfos");
    json_decref(b);
  } else if (r->err == NULL || strstr(r->err->cloud_code, "NotFound") == NULL) {
    fail(j, r->status, r->err, "GetKmsInstanceQuotaInfos");
  }
  discover_step_done(j);
}

static void on_default(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    fail(j, r->status, r->err, "GetDefaultKmsInstance");
  } else {
    json_t *b = json_loads(r->body_json, 0, NULL);
    km_err_t e;
    if (km_inv_parse_default_instance(j->inv, b, &e) < 0)
      fail(j, KM_EPARSE, &e, "GetDefaultKmsInstance");
    json_decref(b);
  }
  discover_step_done(j);
}

static void list_dest(job_t *j, int page);

typedef struct page_s {
  job_t *j;
  int page;
} page_t;

static void on_dest(const km_plugin_call_result_t *r, void *ud) {
  page_t *pg = ud;
  job_t *j = pg->j;
  int page = pg->page;
  free(pg);
  if (r->status < 0) {
    fail(j, r->status, r->err, "ListSecrets (destination)");
    discover_step_done(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  km_inv_page_t pi;
  km_err_t e;
  int rc = km_inv_parse_dest_secrets(j->inv, b, j->inv->account, &pi, &e);
  json_decref(b);
  if (rc < 0) {
    fail(j, rc, &e, "ListSecrets (destination)");
  } else if (pi.items > 0 && pi.total_count > (int64_t)page * 100) {
    list_dest(j, page + 1);
    return;
  }
  discover_step_done(j);
}

static void list_dest(job_t *j, int page) {
  char pn[16], filters[256];
  snprintf(pn, sizeof(pn), "%d", page);
  snprintf(filters, sizeof(filters),
           "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"%s\"]}]",
           j->inv->instance_id);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          "100",        "Filters", filters};
  page_t *pg = calloc(1, sizeof(*pg));
  pg->j = j;
  pg->page = page;
  int rc = H->call(j->p, "kms", "ListSecrets", params, 3, on_dest, pg);
  if (rc < 0) {
    free(pg);
    fail(j, rc, NULL, "ListSecrets (destination)");
    discover_step_done(j);
  }
}

static void seed_inventory(job_t *j) {
  const char *acct = H->get(j->p, "account");
  j->inv = km_inv_new(acct, H->get(j->p, "account_id"), H->get(j->p, "region"),
                      H->get(j->p, "instance"));
  const char *type = H->get(j->p, "instance_type");
  j->inv->instance_type = type == NULL ? KM_INV_TYPE_UNKNOWN
                          : strcmp(type, "hardware") == 0
                              ? KM_INV_TYPE_HARDWARE
                              : KM_INV_TYPE_SOFTWARE;
  km_inv_set(&j->inv->image_version, H->get(j->p, "image_version"));
  const char *ar = H->get(j->p, "auto_renew");
  j->inv->auto_renew = ar != NULL ? atoi(ar) : -1;
  /* The manifest's selection (JSON text). */
  json_t *sel = json_loads(
      H->get(j->p, "select") ? H->get(j->p, "select") : "{}", 0, NULL);
  const char *k = json_string_value(json_object_get(sel, "keys"));
  const char *s = json_string_value(json_object_get(sel, "secrets"));
  j->inv->select.keys = k == NULL || strcmp(k, "all-pending") == 0
                            ? KM_INV_SEL_ALL_PENDING
                        : strcmp(k, "none") == 0 ? KM_INV_SEL_NONE
                                                 : KM_INV_SEL_LIST;
  j->inv->select.secrets = s == NULL || strcmp(s, "all-pending") == 0
                               ? KM_INV_SEL_ALL_PENDING
                           : strcmp(s, "none") == 0 ? KM_INV_SEL_NONE
                                                    : KM_INV_SEL_LIST;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(sel, "key_ids"), i, v)
      km_inv_strs_add(&j->inv->select.key_ids, json_string_value(v));
  json_array_foreach(json_object_get(sel, "key_aliases"), i, v)
      km_inv_strs_add(&j->inv->select.key_aliases, json_string_value(v));
  json_array_foreach(json_object_get(sel, "secret_names"), i, v)
      km_inv_strs_add(&j->inv->select.secret_names, json_string_value(v));
  json_decref(sel);
}

static int start_discover(job_t *j) {
  int rc = doc_load(j);
  if (rc < 0) return rc;
  if (j->inv == NULL) seed_inventory(j);
  const char *owner = H->get(j->p, "instance_owner");
  const char *params[] = {"KmsInstanceId", j->inv->instance_id};
  const char *qparams[] = {"KmsInstanceId", j->inv->instance_id};
  j->pending = 4;
  /* The owner reads its instance; a member may not see it before sharing. */
  if (owner != NULL)
    rc = H->call_as(j->p, owner, "kms", "GetKmsInstance", params, 1,
                    on_instance, j);
  else
    rc = H->call(j->p, "kms", "GetKmsInstance", params, 1, on_instance, j);
  if (rc < 0) {
    fail(j, rc, NULL, "GetKmsInstance");
    j->pending--;
  }
  if (owner != NULL)
    rc = H->call_as(j->p, owner, "kms", "GetKmsInstanceQuotaInfos", qparams, 1,
                    on_quota, j);
  else
    rc = H->call(j->p, "kms", "GetKmsInstanceQuotaInfos", qparams, 1, on_quota,
                 j);
  if (rc < 0) {
    fail(j, rc, NULL, "GetKmsInstanceQuotaInfos");
    j->pending--;
  }
  rc = H->call(j->p, "kms", "GetDefaultKmsInstance", NULL, 0, on_default, j);
  if (rc < 0) {
    fail(j, rc, NULL, "GetDefaultKmsInstance");
    j->pending--;
  }
  list_dest(j, 1);
  return 0;
}

/* ---- prepare: share the instance with this member ---- */

static void poll_association(job_t *j);

static void on_assoc_list(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    fail(j, r->status, r->err, "ListResourceShareAssociations");
    job_end(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  json_t *list = json_object_get(b, "ResourceShareAssociations");
  const char *status = NULL, *reason = NULL;
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *entity = json_string_value(json_object_get(a, "EntityId"));
    if (entity != NULL && strcmp(entity, H->get(j->p, "account_id")) == 0) {
      status = json_string_value(json_object_get(a, "AssociationStatus"));
      json_t *fd =
          json_array_get(json_object_get(a, "AssociationFailedDetails"), 0);
      reason = json_string_value(json_object_get(fd, "FailureDescription"));
      if (reason == NULL)
        reason =
            json_string_value(json_object_get(a, "AssociationStatusMessage"));
    }
  }
  if (status != NULL && strcmp(status, "Associated") == 0) {
    H->log(j->p, KM_PLOG_INFO, "instance %s shared with this account",
           j->inv->instance_id);
    json_decref(b);
    job_end(j);
    return;
  }
  if (status != NULL && strcmp(status, "Failed") == 0) {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "sharing instance %s with account %s failed: %s; fix the cause "
             "(same resource directory and verified enterprise, access "
             "quota), delete share %s, then run again",
             j->inv->instance_id, H->get(j->p, "account_id"),
             reason != NULL ? reason : "no reason given", j->share_id);
    json_decref(b);
    fail(j, KM_ECLOUD, &e, "share");
    job_end(j);
    return;
  }
  json_decref(b);
  if (++j->polls > POLL_MAX) {
    km_err_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.text, sizeof(e.text),
             "share %s of instance %s is still not Associated after %d s",
             j->share_id, j->inv->instance_id, POLL_MAX * POLL_MS / 1000);
    fail(j, KM_ETIMEDOUT, &e, "share");
    job_end(j);
    return;
  }
  H->timer(j->p, POLL_MS, (void (*)(void *))poll_association, j);
}

static void poll_association(job_t *j) {
  const char *owner = H->get(j->p, "instance_owner");
  const char *params[] = {
      "AssociationType", "Target", "ResourceShareIds.1",
      j->share_id,       "Target", H->get(j->p, "account_id")};
  int rc =
      H->call_as(j->p, owner, "resourcesharing",
                 "ListResourceShareAssociations", params, 3, on_assoc_list, j);
  if (rc < 0) {
    fail(j, rc, NULL, "ListResourceShareAssociations");
    job_end(j);
  }
}

static void on_created(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    fail(j, r->status, r->err, "CreateResourceShare");
    job_end(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  const char *id = json_string_value(
      json_object_get(json_object_get(b, "ResourceShare"), "ResourceShareId"));
  snprintf(j->share_id, sizeof(j->share_id), "%s", id != NULL ? id : "");
  json_decref(b);
  poll_association(j);
}

static void create_share(job_t *j) {
  char rec[512];
  snprintf(rec, sizeof(rec),
           "{\"type\":\"share_requested\",\"instance\":\"%s\",\"share\":"
           "\"%s\",\"target\":\"%s\"}",
           j->inv->instance_id, j->share_name, H->get(j->p, "account_id"));
  int rc = H->journal(j->p, rec);
  if (rc < 0) {
    fail(j, rc, NULL, "journal");
    job_end(j);
    return;
  }
  const char *params[] = {"ResourceShareName",
                          j->share_name,
                          "Resources.1.ResourceId",
                          j->inv->instance_id,
                          "Resources.1.ResourceType",
                          "KMSInstance",
                          "Targets.1",
                          H->get(j->p, "account_id"),
                          "PermissionNames.1",
                          SHARE_PERMISSION};
  rc = H->call_as(j->p, H->get(j->p, "instance_owner"), "resourcesharing",
                  "CreateResourceShare", params, 5, on_created, j);
  if (rc < 0) {
    fail(j, rc, NULL, "CreateResourceShare");
    job_end(j);
  }
}

static void on_shares(const km_plugin_call_result_t *r, void *ud) {
  job_t *j = ud;
  if (r->status < 0) {
    fail(j, r->status, r->err, "ListResourceShares");
    job_end(j);
    return;
  }
  json_t *b = json_loads(r->body_json, 0, NULL);
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(b, "ResourceShares"), i, s) {
    const char *name =
        json_string_value(json_object_get(s, "ResourceShareName"));
    const char *st =
        json_string_value(json_object_get(s, "ResourceShareStatus"));
    if (name != NULL && strcmp(name, j->share_name) == 0 && st != NULL &&
        strcmp(st, "Active") == 0) {
      const char *id = json_string_value(json_object_get(s, "ResourceShareId"));
      snprintf(j->share_id, sizeof(j->share_id), "%s", id != NULL ? id : "");
    }
  }
  json_decref(b);
  if (j->share_id[0] != '\0')
    poll_association(j); /* resume: the share exists; wait for it */
  else
    create_share(j);
}

static int start_prepare(job_t *j) {
  const char *share = H->get(j->p, "share");
  if (share == NULL || strcmp(share, "true") != 0) {
    H->stage_done(j->run, 0, NULL);
    free(j);
    return 0;
  }
  int rc = doc_load(j);
  if (rc != 0) {
    free(j);
    return rc < 0 ? rc : KM_EINVAL;
  }
  snprintf(j->share_name, sizeof(j->share_name), "kmsmig-%s-%s",
           j->inv->instance_id, H->get(j->p, "account_id"));
  const char *params[] = {"ResourceOwner", "Self", "ResourceShareName",
                          j->share_name};
  rc = H->call_as(j->p, H->get(j->p, "instance_owner"), "resourcesharing",
                  "ListResourceShares", params, 2, on_shares, j);
  if (rc < 0) {
    km_inv_free(j->inv);
    json_decref(j->extra);
    free(j);
  }
  return rc;
}

/* ---- descriptor ---- */

static int share_init(const km_host_api_t *host, void **state, km_err_t *err) {
  (void)err;
  H = host;
  *state = NULL;
  return 0;
}

static int share_start(void *state, km_stage_t stage, km_pipeline_t *p,
                       km_stage_run_t *run) {
  (void)state;
  job_t *j = calloc(1, sizeof(*j));
  if (j == NULL) return KM_ENOMEM;
  j->p = p;
  j->run = run;
  switch (stage) {
  case KM_STAGE_DISCOVER: {
    int rc = start_discover(j);
    if (rc < 0) {
      json_decref(j->extra);
      free(j);
    }
    return rc;
  }
  case KM_STAGE_PREPARE:
    return start_prepare(j);
  default:
    free(j);
    return KM_ENOTSUP;
  }
}

static const km_plugin_t desc = {
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(km_plugin_t),
    .name = "share",
    .version = "0.1.0",
    .stages = KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE),
    .init = share_init,
    .start = share_start,
};

KM_EXPORT const km_plugin_t *km_plugin_entry(void) {
  return &desc;
}
