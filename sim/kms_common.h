/* Helpers shared by the KMS action files: the caller's region state, key
 * and secret lookups with the real not-found errors, and the Filters JSON
 * parameter of ListKeys/ListSecrets. */
#ifndef KSIM_KMS_COMMON_H
#define KSIM_KMS_COMMON_H

#include "state.h"

/* The caller's state in the request's region (never NULL after routing). */
ksim_region_t *ksim_kms_region(ksim_req_t *req);
/* Key by KeyId/alias/ARN of the caller; Forbidden.KeyNotFound otherwise.  An
 * ARN of another account is refused with Forbidden.NoPermission. */
ksim_key_t *ksim_kms_key(ksim_req_t *req, ksim_resp_t *resp, const char *id);
/* Same, without applying due rotations. */
ksim_key_t *ksim_kms_key_raw(ksim_req_t *req, ksim_resp_t *resp,
                             const char *id);
ksim_secret_t *ksim_kms_secret(ksim_req_t *req, ksim_resp_t *resp,
                               const char *name);

/* Parsed Filters: [{"Key":..,"Values":[..]}], at most 10. */
typedef struct {
  json_t *filters; /* array, owned */
} ksim_filters_t;
/* allowed: NULL-terminated filter keys (matched exactly). */
int ksim_filters_parse(const ksim_req_t *req, ksim_resp_t *resp,
                       const char *const *allowed, ksim_filters_t *out);
void ksim_filters_free(ksim_filters_t *f);
/* Values of key (NULL if that filter is absent). */
json_t *ksim_filters_values(const ksim_filters_t *f, const char *key);
bool ksim_filter_match(json_t *values, const char *v, bool ci);

json_t *ksim_tags_body(const ksim_tags_t *t);
char *ksim_interval_str(int64_t seconds);
/* A resource inside a migration task: control-plane writes are refused. */
int ksim_fail_migrating(ksim_resp_t *resp);

/* Automatic rotation that came due on kmsim's clock: adds the versions
 * the service would have created and moves LastRotationDate. */
void ksim_key_tick(ksim_key_t *k, int64_t now);
void ksim_secret_tick(ksim_secret_t *s, int64_t now);
/* 409 Rejected.Disabled/PendingDeletion/PendingImport unless Enabled. */
int ksim_key_state_writable(const ksim_key_t *k, ksim_resp_t *resp);
/* The default key/secret policy of reference §1 (new string). */
char *ksim_default_policy(const char *uid, const char *sid);

#endif
