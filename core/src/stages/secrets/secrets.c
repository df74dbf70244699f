/* The `secrets` stage: the secrets of one account and region
 * (docs/plugins.md, "The built-in stages and who does what").
 *
 * discover  ListSecrets, 100 a page, every page; DescribeSecret of every
 *           secret, because list items carry neither DKMSInstanceId nor
 *           EncryptionKeyId (reference §8.5).  Many calls in flight at once,
 *           bounded per pipeline, each answer parsed into the model.
 * prepare   automatic rotation off, one secret at a time, journalled first
 *           (core/src/stage/rotation.c).
 * restore   rotation back on for every secret the journal says was off.
 * verify    every secret this run migrated is listed by ListSecrets with
 *           the filter DKMSInstanceId = the destination (one paged listing,
 *           not a DescribeSecret per secret), kept its type (the listed
 *           SecretType: Generic, Rds, RAMCredentials, ECS...), and has the
 *           default secret policy (GetSecretPolicy PolicyName=default, one
 *           per secret: no API lists policies).
 *
 * DescribeSecret is called once per secret, by discovery: prepare and
 * restore work from the model and the journal, verify from the listing.
 *
 * Names and metadata only: GetSecretValue is never called, and no answer
 * read here carries a secret value.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stage/stage.h"
#include "stage/rotation.h"
#include "util/util.h"

#define SECRETS_VERSION "1.0.0"
#define PAGE_SIZE "100"
#define PAGE_SIZE_N 100
#define DISCOVER_INFLIGHT 32

static int parse_failed(km_sctx_t *r, const km_err_t *err) {
  return kp_fail(r, err->code < 0 ? err->code : KM_EPARSE, err, "parse");
}

/* ---- discover ---- */

static void list_secrets(km_sctx_t *r, int64_t page);

static void on_describe(km_sctx_t *r, const kp_res_t *res, void *ud) {
  const char *name = ud;
  if (res->status < 0) {
    kp_fail_call(r, "DescribeSecret", name, res);
    return;
  }
  km_err_t err;
  if (km_inv_parse_describe_secret(r->inv, res->body, &err) < 0)
    parse_failed(r, &err);
}

static void on_list(km_sctx_t *r, const kp_res_t *res, void *ud) {
  int64_t page = *(const int64_t *)ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListSecrets", "", res);
    return;
  }
  const json_t *a =
      json_object_get(json_object_get(res->body, "SecretList"), "Secret");
  size_t n = json_is_object(a) ? 1 : json_array_size(a);
  const char **names = km_xcalloc(n + 1, sizeof(*names));
  for (size_t i = 0; i < n; i++) {
    const json_t *it = json_is_object(a) ? a : json_array_get(a, i);
    const char *name = json_string_value(json_object_get(it, "SecretName"));
    /* Only names new to this discovery get a DescribeSecret. */
    if (name != NULL && km_inv_find_secret(r->inv, name) == NULL)
      names[i] = name;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_secrets(r->inv, res->body, &pi, &err) < 0) {
    parse_failed(r, &err);
    free(names);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (names[i] == NULL) continue;
    const char *name = kp_keep(r, names[i]);
    const char *params[] = {"SecretName", name};
    kp_call(r, "DescribeSecret", params, 1, NULL, on_describe, (void *)name);
  }
  free(names);
  /* The next page only after this one came back full (stage/ctx.c): a
   * server's TotalCount never queues pages ahead of what was received. */
  int more = kp_next_page("ListSecrets", page, pi.items, PAGE_SIZE_N,
                          pi.page_size, pi.total_count, &err);
  if (more < 0)
    parse_failed(r, &err);
  else if (more == 1)
    list_secrets(r, page + 1);
}

static void list_secrets(km_sctx_t *r, int64_t page) {
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {"PageNumber", pn,          "PageSize",
                          PAGE_SIZE,    "FetchTags", "false"};
  int64_t *ud = kp_alloc(r, sizeof(*ud));
  *ud = page;
  kp_call(r, "ListSecrets", params, 3, NULL, on_list, ud);
}

static void discover_drained(km_sctx_t *r) {
  if (r->status == 0) {
    km_inv_sort_secrets(r->inv);
    size_t in_instance = 0, rotating = 0;
    for (size_t i = 0; i < r->inv->nsecrets; i++) {
      in_instance += r->inv->secrets[i].dkms_instance_id != NULL;
      rotating += kp_streq(r->inv->secrets[i].automatic_rotation, "Enabled");
    }
    kp_log(r, KM_LOG_INFO,
           "secrets: %zu secrets (%zu already in a KMS instance, %zu "
           "with automatic rotation); at most %zu calls in flight",
           r->inv->nsecrets, in_instance, rotating, kp_max_seen(r));
  } else {
    km_inv_drop_secrets(r->inv); /* never a half list: see keys.c */
  }
  kp_finish(r);
}

static void discover(km_sctx_t *r) {
  r->on_drain = discover_drained;
  kp_set_inflight(r, DISCOVER_INFLIGHT);
  kp_hold(r);
  list_secrets(r, 1);
  kp_release(r);
}

/* ---- verify ---- */

typedef struct vsec_s {
  const char *name;
  bool call_failed;
  bool policy_ok;
} vsec_t;

typedef struct verify_s {
  km_inv_t *in_dest; /* ListSecrets (DKMSInstanceId = dest) now */
  bool dest_ok;      /* that listing reached its last page */
  char *dest_filter;
  vsec_t *v;
  size_t n;
  const char *dest;
  kp_tally_t t;
} verify_t;

static void verify_free(void *ud) {
  verify_t *vc = ud;
  km_inv_free(vc->in_dest);
  free(vc->dest_filter);
  free(vc->v);
  free(vc);
}

static void dest_page(km_sctx_t *r, int64_t page);

/* The secrets in the destination now, with their type. */
static void on_v_dest(km_sctx_t *r, const kp_res_t *res, void *ud) {
  int64_t page = *(const int64_t *)ud;
  verify_t *vc = r->ud;
  if (res->status < 0) {
    kp_fail_call(r, "ListSecrets", "(DKMSInstanceId of the destination)", res);
    return;
  }
  km_err_t err;
  km_inv_page_t pi;
  if (km_inv_parse_list_secrets(vc->in_dest, res->body, &pi, &err) < 0) {
    parse_failed(r, &err);
    return;
  }
  int more = kp_next_page("ListSecrets", page, pi.items, PAGE_SIZE_N,
                          pi.page_size, pi.total_count, &err);
  if (more < 0)
    parse_failed(r, &err);
  else if (more == 1)
    dest_page(r, page + 1);
  else /* every page read: the listing is whole, whatever else failed */
    vc->dest_ok = true;
}

static void dest_page(km_sctx_t *r, int64_t page) {
  verify_t *vc = r->ud;
  char pn[24];
  snprintf(pn, sizeof(pn), "%lld", (long long)page);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          PAGE_SIZE,    "Filters", vc->dest_filter};
  int64_t *ud = kp_alloc(r, sizeof(*ud));
  *ud = page;
  kp_call(r, "ListSecrets", params, 3, NULL, on_v_dest, ud);
}

static void on_v_policy(km_sctx_t *r, const kp_res_t *res, void *ud) {
  vsec_t *vs = ud;
  if (res->status < 0) {
    char buf[600];
    vs->call_failed = true;
    kp_fail_call(r, "GetSecretPolicy", vs->name, res);
    kp_verify_mismatch(r, &((verify_t *)r->ud)->t, "secret", vs->name,
                       kp_res_code(res), res->request_id,
                       "GetSecretPolicy (PolicyName default) failed: %s",
                       kp_res_text(res, buf, sizeof(buf)));
    return;
  }
  vs->policy_ok = kp_policy_present(
      json_string_value(json_object_get(res->body, "Policy")));
}

static void verify_drained(km_sctx_t *r) {
  verify_t *vc = r->ud;
  for (size_t i = 0; i < vc->n; i++) {
    vsec_t *vs = &vc->v[i];
    /* A listing that failed proves nothing: the stage failed with its
     * error and no secret is marked verified. */
    if (vs->call_failed || !vc->dest_ok) continue;
    const km_inv_secret_t *was = km_inv_find_secret(r->inv, vs->name);
    const km_inv_secret_t *now = km_inv_find_secret(vc->in_dest, vs->name);
    if (now == NULL)
      kp_verify_mismatch(
          r, &((verify_t *)r->ud)->t, "secret", vs->name,
          km_err_name(KM_ENOENT), NULL,
          "not listed by ListSecrets with DKMSInstanceId %s: the secret is "
          "not in the destination instance",
          vc->dest);
    /* Compared without case: the reference leaves open whether a list
     * spells a type as DescribeSecret does (RDS / Rds). */
    else if (was != NULL && was->secret_type != NULL &&
             (now->secret_type == NULL ||
              strcasecmp(was->secret_type, now->secret_type) != 0))
      kp_verify_mismatch(r, &((verify_t *)r->ud)->t, "secret", vs->name,
                         km_err_name(KM_EINVAL), NULL,
                         "secret type is %s after the migration, was %s",
                         now->secret_type ? now->secret_type : "(none)",
                         was->secret_type);
    else if (!vs->policy_ok)
      kp_verify_mismatch(
          r, &((verify_t *)r->ud)->t, "secret", vs->name,
          km_err_name(KM_ENOENT), NULL,
          "GetSecretPolicy returned no default secret policy "
          "(PolicyName default): check the secret policy in the KMS "
          "console");
    else /* proved: the report may call it migrated (engine/report.c) */
      km_inv_find_secret(r->inv, vs->name)->verified = true;
  }
  if (vc->t.bad > 0 && r->status == 0)
    kp_fail(r, KM_ENOENT, NULL, "%zu secret(s) failed verification: %s",
            vc->t.bad, vc->t.list);
  if (vc->t.bad == 0 && r->status == 0)
    kp_log(r, KM_LOG_INFO, "secrets: verified %zu secret(s) in %s", vc->n,
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
  vc->in_dest = km_inv_new(r->inv->account, NULL, r->inv->region, NULL);
  vc->dest_filter = km_xasprintf(
      "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"%s\"]}]", vc->dest);
  vc->v = km_xcalloc(r->inv->nsecrets + 1, sizeof(*vc->v));
  for (size_t i = 0; i < r->inv->nsecrets; i++)
    if (r->inv->secrets[i].verdict == KM_VERDICT_MIGRATED)
      vc->v[vc->n++].name = kp_keep(r, r->inv->secrets[i].secret_name);
  kp_hold(r);
  if (vc->n > 0) dest_page(r, 1);
  for (size_t i = 0; i < vc->n; i++) {
    vsec_t *vs = &vc->v[i];
    const char *params[] = {"SecretName", vs->name, "PolicyName", "default"};
    kp_call(r, "GetSecretPolicy", params, 2, NULL, on_v_policy, vs);
  }
  kp_release(r);
}

/* ---- the operations ---- */

static int secrets_start(void *state, km_sctx_t *r) {
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
    kp_rotation_prepare(r, &kp_rot_secret);
    break;
  case KM_STAGE_RESTORE:
    kp_rotation_restore(r, &kp_rot_secret);
    break;
  default:
    verify(r);
    break;
  }
  return 0;
}

const km_stage_ops_t km_stage_secrets = {
    .name = "secrets",
    .version = SECRETS_VERSION,
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
    .start = secrets_start,
};
