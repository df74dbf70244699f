/* The `keys` stage: customer master keys of one account and region
 * (docs/plugins.md, "The built-in stages and who does what").
 *
 * discover  ListKeys with the CreatorType User filter and then the Service
 *           one, 100 a page, every page; ListAliases, 100 a page, every
 *           page (every alias of the region with its KeyId, attached to
 *           the keys through the model's key index when discovery ends);
 *           DescribeKey of every key; ListKeyVersions (the count) only of
 *           a user key whose DescribeKey does not prove a single version
 *           (model/parse.c: LastRotationDate equal to CreationDate).  Many
 *           calls are in flight at once (bounded per pipeline; the host
 *           rate-limits).  Answers go straight into the pipeline's model
 *           through the model's parsers (core/src/model/parse.c); no later
 *           stage describes a key again except verify, for what it proves.
 * prepare   automatic rotation off, one key at a time, journalled first
 *           (core/src/stage/rotation.c), from the discovered policy.
 * restore   rotation back on for every key the journal says was turned off.
 * verify    every key this run migrated is listed by ListKeys with the
 *           filter DKMSInstanceId = the destination (one paged listing,
 *           not a DescribeKey per key) and has the default key policy
 *           (GetKeyPolicy PolicyName=default, one per key: no API lists
 *           policies); service keys are still listed as service keys
 *           (ListKeys CreatorType Service), in the state discovery saw
 *           (DescribeKey, one per service key).
 *
 * Only metadata is read: no key material, no secret value.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage/stage.h"
#include "stage/rotation.h"
#include "util/util.h"

#define KEYS_VERSION "1.0.0"
#define PAGE_SIZE "100"
#define PAGE_SIZE_N 100
#define DISCOVER_INFLIGHT 32

static const char *const filter_user =
    "[{\"Key\":\"CreatorType\",\"Values\":[\"User\"]}]";
static const char *const filter_service =
    "[{\"Key\":\"CreatorType\",\"Values\":[\"Service\"]}]";

/* A paged call: which list, which key, which page. */
typedef struct page_s {
  km_creator_t creator;
  const char *id;
  int64_t page;
} page_t;

static page_t *page_new(km_sctx_t *r, km_creator_t creator, const char *id,
                        int64_t page) {
  page_t *pg = kp_alloc(r, sizeof(*pg));
  pg->creator = creator;
  pg->id = id;
  pg->page = page;
  return pg;
}

static int parse_failed(km_sctx_t *r, const km_err_t *err) {
  return kp_fail(r, err->code < 0 ? err->code : KM_EPARSE, err, "parse");
}

/* ---- discover ---- */

static void list_keys(km_sctx_t *r, km_creator_t creator, int64_t page);
static void key_versions(km_sctx_t *r, const char *id, int64_t page);
static void list_aliases(km_sctx_t *r, int64_t page);

/* Whether to ask for the page after `page`: one at a time, while pages
 * come back full and TotalCount is not yet covered (stage/ctx.c); a list
 * that never ends fails the pipeline.  A server's TotalCount never queues
 * pages ahead of what was received (10^9 once queued every page at once). */
static bool more_pages(km_sctx_t *r, const char *action,
                       const km_inv_page_t *pg, int64_t page) {
  km_err_t err;
  int rc = kp_next_page(action, page, pg->items, PAGE_SIZE_N, pg->page_size,
                        pg->total_count, &err);
  if (rc < 0) parse_failed(r, &err);
  return rc == 1;
}

static void on_describe(km_sctx_t *r, const kp_res_t *res, void *ud) {
  const char *id = ud;
  if (res->status < 0) {
    kp_fail_call(r, "DescribeKey", id, res);
    return;
  }
  km_err_t err;
  if (km_inv_parse_describe_key(r->inv, res->body, &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  /* The count decides key.multi_version; only a user key whose answer did
   * not prove a single version costs a ListKeyVersions. */
  const km_inv_key_t *k = km_inv_find_key(r->inv, id);
  if (k != NULL && k->creator == KM_CREATOR_USER && k->version_count < 0)
    key_versions(r, id, 1);
}

static void on_versions(km_sctx_t *r, const kp_res_t *res, void *ud) {
  page_t *pg = ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListKeyVersions", pg->id, res);
    return;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_key_versions(r->inv, pg->id, res->body, &pi, &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  /* Only the count matters: with TotalCount one page is enough. */
  if (pi.total_count < 0 && more_pages(r, "ListKeyVersions", &pi, pg->page))
    key_versions(r, pg->id, pg->page + 1);
}

static void on_aliases(km_sctx_t *r, const kp_res_t *res, void *ud) {
  const page_t *pg = ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListAliases", "", res);
    return;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_aliases(r->inv, res->body, &pi, &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  if (more_pages(r, "ListAliases", &pi, pg->page))
    list_aliases(r, pg->page + 1);
}

static void describe_key(km_sctx_t *r, const char *id) {
  const char *params[] = {"KeyId", id};
  kp_call(r, "DescribeKey", params, 1, NULL, on_describe, (void *)id);
}

static void key_versions(km_sctx_t *r, const char *id, int64_t page) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {"KeyId", id, "PageNumber", pn, "PageSize", PAGE_SIZE};
  kp_call(r, "ListKeyVersions", params, 3, NULL, on_versions,
          page_new(r, KM_CREATOR_USER, id, page));
}

static void list_aliases(km_sctx_t *r, int64_t page) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {"PageNumber", pn, "PageSize", PAGE_SIZE};
  kp_call(r, "ListAliases", params, 2, NULL, on_aliases,
          page_new(r, KM_CREATOR_USER, NULL, page));
}

/* The KeyIds of a ListKeys page (array, or one object for one key). */
static size_t page_ids(const json_t *body, const char **ids, size_t cap) {
  const json_t *a = json_object_get(json_object_get(body, "Keys"), "Key");
  size_t n = 0;
  if (json_is_object(a)) {
    const char *id = json_string_value(json_object_get(a, "KeyId"));
    if (id != NULL && cap > 0) ids[n++] = id;
    return n;
  }
  for (size_t i = 0; i < json_array_size(a) && n < cap; i++) {
    const char *id =
        json_string_value(json_object_get(json_array_get(a, i), "KeyId"));
    if (id != NULL) ids[n++] = id;
  }
  return n;
}

static void on_list_keys(km_sctx_t *r, const kp_res_t *res, void *ud) {
  page_t *pg = ud;
  const char *what =
      pg->creator == KM_CREATOR_USER ? "(CreatorType User)" : "(Service)";
  if (res->status < 0) {
    kp_fail_call(r, "ListKeys", what, res);
    return;
  }
  /* Ids first: which keys are new to this discovery. */
  size_t cap = json_array_size(
                   json_object_get(json_object_get(res->body, "Keys"), "Key")) +
               1;
  const char **ids = km_xcalloc(cap, sizeof(*ids));
  size_t n = page_ids(res->body, ids, cap);
  bool *fresh = km_xcalloc(n + 1, sizeof(*fresh));
  for (size_t i = 0; i < n; i++)
    fresh[i] = km_inv_find_key(r->inv, ids[i]) == NULL;
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_keys(r->inv, res->body, pg->creator, &pi, &err) < 0) {
    parse_failed(r, &err);
  } else {
    for (size_t i = 0; i < n; i++) {
      if (!fresh[i]) continue;
      describe_key(r, kp_keep(r, ids[i]));
    }
    if (more_pages(r, "ListKeys", &pi, pg->page))
      list_keys(r, pg->creator, pg->page + 1);
  }
  free(fresh);
  free(ids);
}

static void list_keys(km_sctx_t *r, km_creator_t creator, int64_t page) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {
      "PageNumber", pn,
      "PageSize",   PAGE_SIZE,
      "Filters",    creator == KM_CREATOR_USER ? filter_user : filter_service};
  kp_call(r, "ListKeys", params, 3, NULL, on_list_keys,
          page_new(r, creator, NULL, page));
}

static void discover_drained(km_sctx_t *r) {
  if (r->status == 0) {
    size_t dropped = km_inv_attach_aliases(r->inv);
    if (dropped > 0)
      kp_log(r, KM_LOG_DEBUG,
             "keys: %zu alias(es) point to keys ListKeys did not list "
             "(created since?); left out",
             dropped);
    km_inv_sort_keys(r->inv);
    size_t user = 0, service = 0, in_instance = 0;
    for (size_t i = 0; i < r->inv->nkeys; i++) {
      const km_inv_key_t *k = &r->inv->keys[i];
      if (k->creator == KM_CREATOR_SERVICE) {
        service++;
      } else {
        user++;
        in_instance += k->dkms_instance_id != NULL;
      }
    }
    kp_log(r, KM_LOG_INFO,
           "keys: %zu user keys (%zu already in a KMS instance), %zu "
           "service keys; at most %zu calls in flight",
           user, in_instance, service, kp_max_seen(r));
  } else {
    /* A half list would read as the region's keys: the pipeline has failed,
     * and the plan and report show no key rather than some. */
    km_inv_drop_keys(r->inv);
  }
  kp_finish(r);
}

static void discover(km_sctx_t *r) {
  r->on_drain = discover_drained;
  kp_set_inflight(r, DISCOVER_INFLIGHT);
  kp_hold(r);
  list_keys(r, KM_CREATOR_USER, 1);
  list_keys(r, KM_CREATOR_SERVICE, 1);
  list_aliases(r, 1);
  kp_release(r);
}

/* ---- verify ---- */

typedef struct vkey_s {
  const char *id;
  bool service;
  bool call_failed;
  bool policy_ok;
} vkey_t;

typedef struct verify_s {
  km_inv_t *now;     /* DescribeKey answers now (service keys) */
  km_inv_t *listed;  /* ListKeys (Service) now */
  km_inv_t *in_dest; /* ListKeys (DKMSInstanceId = dest) now */
  bool dest_ok;      /* that listing reached its last page */
  char *dest_filter;
  vkey_t *v;
  size_t n;
  const char *dest;
  kp_tally_t t;
} verify_t;

static void verify_free(void *ud) {
  verify_t *vc = ud;
  km_inv_free(vc->now);
  km_inv_free(vc->listed);
  km_inv_free(vc->in_dest);
  free(vc->dest_filter);
  free(vc->v);
  free(vc);
}

static void on_v_describe(km_sctx_t *r, const kp_res_t *res, void *ud) {
  vkey_t *vk = ud;
  verify_t *vc = r->ud;
  km_err_t err;
  if (res->status < 0) {
    char buf[600];
    vk->call_failed = true;
    kp_fail_call(r, "DescribeKey", vk->id, res);
    kp_verify_mismatch(r, &((verify_t *)r->ud)->t, "key", vk->id,
                       kp_res_code(res), res->request_id,
                       "DescribeKey failed: %s",
                       kp_res_text(res, buf, sizeof(buf)));
  } else if (km_inv_parse_describe_key(vc->now, res->body, &err) < 0) {
    vk->call_failed = true;
    parse_failed(r, &err);
    kp_verify_mismatch(r, &((verify_t *)r->ud)->t, "key", vk->id,
                       km_err_name(KM_EPARSE), res->request_id, "%s", err.text);
  }
}

static void on_v_policy(km_sctx_t *r, const kp_res_t *res, void *ud) {
  vkey_t *vk = ud;
  if (res->status < 0) {
    char buf[600];
    vk->call_failed = true;
    kp_fail_call(r, "GetKeyPolicy", vk->id, res);
    kp_verify_mismatch(r, &((verify_t *)r->ud)->t, "key", vk->id,
                       kp_res_code(res), res->request_id,
                       "GetKeyPolicy (PolicyName default) failed: %s",
                       kp_res_text(res, buf, sizeof(buf)));
    return;
  }
  vk->policy_ok = kp_policy_present(
      json_string_value(json_object_get(res->body, "Policy")));
}

static void on_v_list(km_sctx_t *r, const kp_res_t *res, void *ud) {
  page_t *pg = ud;
  verify_t *vc = r->ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListKeys", "(Service)", res);
    return;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_keys(vc->listed, res->body, KM_CREATOR_SERVICE, &pi,
                             &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  if (more_pages(r, "ListKeys", &pi, pg->page)) {
    int64_t p = pg->page + 1;
    char pn[24];
    snprintf(pn, sizeof(pn), "%lld", (long long)p);
    const char *params[] = {"PageNumber", pn,        "PageSize",
                            PAGE_SIZE,    "Filters", filter_service};
    kp_call(r, "ListKeys", params, 3, NULL, on_v_list,
            page_new(r, KM_CREATOR_SERVICE, NULL, p));
  }
}

static void dest_page(km_sctx_t *r, int64_t page);

/* The keys in the destination now: what proves each migrated key moved. */
static void on_v_dest(km_sctx_t *r, const kp_res_t *res, void *ud) {
  const page_t *pg = ud;
  verify_t *vc = r->ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListKeys", "(DKMSInstanceId of the destination)", res);
    return;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_keys(vc->in_dest, res->body, KM_CREATOR_USER, &pi,
                             &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  /* Not more_pages: its "no" also means a broken paging answer. */
  int more = kp_next_page("ListKeys", pg->page, pi.items, PAGE_SIZE_N,
                          pi.page_size, pi.total_count, &err);
  if (more < 0)
    parse_failed(r, &err);
  else if (more == 1)
    dest_page(r, pg->page + 1);
  else /* every page read: the listing is whole, whatever else failed */
    vc->dest_ok = true;
}

static void dest_page(km_sctx_t *r, int64_t page) {
  verify_t *vc = r->ud;
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          PAGE_SIZE,    "Filters", vc->dest_filter};
  kp_call(r, "ListKeys", params, 3, NULL, on_v_dest,
          page_new(r, KM_CREATOR_USER, NULL, page));
}

static void verify_drained(km_sctx_t *r) {
  verify_t *vc = r->ud;
  bool listing_ok = r->status == 0;
  for (size_t i = 0; i < vc->n; i++) {
    vkey_t *vk = &vc->v[i];
    if (vk->call_failed) continue;
    const km_inv_key_t *was = km_inv_find_key(r->inv, vk->id);
    if (!vk->service) {
      /* A listing that failed proves nothing: the stage failed with its
       * error and no key is marked verified. */
      if (!vc->dest_ok) continue;
      if (km_inv_find_key(vc->in_dest, vk->id) == NULL)
        kp_verify_mismatch(
            r, &((verify_t *)r->ud)->t, "key", vk->id, km_err_name(KM_ENOENT),
            NULL,
            "not listed by ListKeys with DKMSInstanceId %s: the key is not "
            "in the destination instance",
            vc->dest);
      else if (!vk->policy_ok)
        kp_verify_mismatch(
            r, &((verify_t *)r->ud)->t, "key", vk->id, km_err_name(KM_ENOENT),
            NULL,
            "GetKeyPolicy returned no default key policy (PolicyName "
            "default): check the key policy in the KMS console");
      else if (was != NULL) /* proved: the report may call it migrated */
        km_inv_find_key(r->inv, vk->id)->verified = true;
      continue;
    }
    const km_inv_key_t *now = km_inv_find_key(vc->now, vk->id);
    if (now == NULL) continue; /* a failed call already said why */
    if (listing_ok && km_inv_find_key(vc->listed, vk->id) == NULL)
      kp_verify_mismatch(
          r, &((verify_t *)r->ud)->t, "key", vk->id, km_err_name(KM_ENOENT),
          NULL,
          "service key no longer listed by ListKeys (CreatorType "
          "Service)");
    else if (was != NULL && !kp_streq(was->key_state, now->key_state))
      kp_verify_mismatch(
          r, &((verify_t *)r->ud)->t, "key", vk->id, km_err_name(KM_EINVAL),
          NULL,
          "service key state changed from %s to %s; kmsmig never "
          "changes service keys: find out who did",
          was->key_state ? was->key_state : "(none)",
          now->key_state ? now->key_state : "(none)");
  }
  if (vc->t.bad > 0 && r->status == 0)
    kp_fail(r, KM_ENOENT, NULL, "%zu key(s) failed verification: %s", vc->t.bad,
            vc->t.list);
  if (vc->t.bad == 0 && r->status == 0)
    kp_log(r, KM_LOG_INFO,
           "keys: verified %zu key(s) in %s and the service keys", vc->n,
           vc->dest);
  kp_finish(r);
}

static void verify(km_sctx_t *r) {
  verify_t *vc = km_xcalloc(1, sizeof(*vc));
  r->ud = vc;
  r->free_ud = verify_free;
  r->keep_going = true; /* report every mismatch, not only the first */
  r->on_drain = verify_drained;
  kp_set_inflight(r, DISCOVER_INFLIGHT);
  const char *dest = r->t->instance_id;
  vc->dest = kp_keep(r, dest != NULL ? dest : r->inv->instance_id);
  vc->now = km_inv_new(r->inv->account, NULL, r->inv->region, NULL);
  vc->listed = km_inv_new(r->inv->account, NULL, r->inv->region, NULL);
  vc->in_dest = km_inv_new(r->inv->account, NULL, r->inv->region, NULL);
  vc->dest_filter = km_xasprintf(
      "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"%s\"]}]", vc->dest);
  vc->v = km_xcalloc(r->inv->nkeys + 1, sizeof(*vc->v));
  for (size_t i = 0; i < r->inv->nkeys; i++) {
    const km_inv_key_t *k = &r->inv->keys[i];
    bool service = k->creator == KM_CREATOR_SERVICE;
    if (!service && k->verdict != KM_VERDICT_MIGRATED) continue;
    vkey_t *vk = &vc->v[vc->n++];
    vk->id = kp_keep(r, k->key_id);
    vk->service = service;
  }
  kp_hold(r);
  bool any_service = false, any_user = false;
  for (size_t i = 0; i < vc->n; i++) {
    any_service |= vc->v[i].service;
    any_user |= !vc->v[i].service;
  }
  /* The listing first: its pages come one after another, beside the
   * per-key calls. */
  if (any_user) dest_page(r, 1);
  for (size_t i = 0; i < vc->n; i++) {
    vkey_t *vk = &vc->v[i];
    const char *params[] = {"KeyId", vk->id, "PolicyName", "default"};
    if (vk->service)
      kp_call(r, "DescribeKey", params, 1, NULL, on_v_describe, vk);
    else
      kp_call(r, "GetKeyPolicy", params, 2, NULL, on_v_policy, vk);
  }
  if (any_service) {
    const char *params[] = {"PageNumber", "1",       "PageSize",
                            PAGE_SIZE,    "Filters", filter_service};
    kp_call(r, "ListKeys", params, 3, NULL, on_v_list,
            page_new(r, KM_CREATOR_SERVICE, NULL, 1));
  }
  kp_release(r);
}

/* ---- the operations ---- */

static int keys_start(void *state, km_sctx_t *r) {
  (void)state;
  if (r->stage != KM_STAGE_DISCOVER && r->stage != KM_STAGE_PREPARE &&
      r->stage != KM_STAGE_RESTORE && r->stage != KM_STAGE_VERIFY)
    return KM_ENOTSUP;
  kp_set_inflight(r, DISCOVER_INFLIGHT);
  switch (r->stage) {
  case KM_STAGE_DISCOVER:
    discover(r);
    break;
  case KM_STAGE_PREPARE:
    kp_rotation_prepare(r, &kp_rot_key);
    break;
  case KM_STAGE_RESTORE:
    kp_rotation_restore(r, &kp_rot_key);
    break;
  default:
    verify(r);
    break;
  }
  return 0;
}

const km_stage_ops_t km_stage_keys = {
    .name = "keys",
    .version = KEYS_VERSION,
    .stages = KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE) |
              KM_STAGE_BIT(KM_STAGE_RESTORE) | KM_STAGE_BIT(KM_STAGE_VERIFY),
    /* Keys and secrets: discovered, prepared, restored and verified at the
     * same time (their calls are in different rate-limit buckets); in
     * PREPARE with the share too, and a failure of one stops the others'
     * changes not yet sent (km_shost_t.halted): RESTORE puts back what was
     * turned off. */
    .concurrent =
        KM_STAGE_BIT(KM_STAGE_DISCOVER) | KM_STAGE_BIT(KM_STAGE_PREPARE) |
        KM_STAGE_BIT(KM_STAGE_RESTORE) | KM_STAGE_BIT(KM_STAGE_VERIFY),
    .start = keys_start,
};
