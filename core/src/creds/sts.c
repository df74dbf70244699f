/* STS AssumeRole (2015-04-01) for the credentials provider: the request
 * (RoleArn, RoleSessionName, DurationSeconds, ExternalId, Policy) and the
 * parsing of its Credentials.  The response carries a secret and a token:
 * they are copied into strings the provider cleanses, and error texts name
 * missing fields, never values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds/creds_internal.h"
#include "util/util.h"

int km__sts_assume_role(km_acs_client_t *acs, const km__cred_node_t *role,
                        const km_credential_t *via, const char *via_label,
                        km_acs_cb cb, void *ud, km_err_t *err) {
  if (acs == NULL)
    return km__err_set(err, KM_EINVAL,
                       "cannot assume role %s: no API client to call STS",
                       role->role_arn);
  km_params_t params;
  km_params_init(&params);
  km_params_set(&params, "RoleArn", role->role_arn);
  km_params_set(&params, "RoleSessionName", role->session_name);
  km_params_setf(&params, "DurationSeconds", "%d", role->duration);
  if (role->external_id != NULL)
    km_params_set(&params, "ExternalId", role->external_id);
  if (role->policy != NULL) km_params_set(&params, "Policy", role->policy);
  km_acs_call_t call = {
      .product = KM_PRODUCT_STS,
      .region = NULL, /* STS is central: sts.aliyuncs.com */
      .action = "AssumeRole",
      .params = &params,
      .cred = via,
      .cred_owner = via_label,
  };
  int rc = km_acs_call(acs, &call, cb, ud, err);
  km_params_free(&params);
  return rc;
}

static const char *get_str(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v)
                                                        : NULL;
}

int km__sts_parse(json_t *body, km__sts_creds_t *out, km_err_t *err) {
  memset(out, 0, sizeof(*out));
  json_t *c = json_object_get(body, "Credentials");
  if (!json_is_object(c))
    return km__err_set(err, KM_EPARSE,
                       "STS AssumeRole response has no Credentials object");
  static const char *const fields[] = {"AccessKeyId", "AccessKeySecret",
                                       "SecurityToken", "Expiration"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(fields); i++)
    if (get_str(c, fields[i]) == NULL)
      return km__err_set(err, KM_EPARSE,
                         "STS AssumeRole response has no Credentials.%s",
                         fields[i]);
  int64_t exp;
  if (km_parse_iso8601(get_str(c, "Expiration"), &exp) != 0)
    return km__err_set(err, KM_EPARSE,
                       "STS AssumeRole Credentials.Expiration is not "
                       "YYYY-MM-DDThh:mm:ssZ");
  out->ak_id = km_xstrdup(get_str(c, "AccessKeyId"));
  out->ak_secret = km_xstrdup(get_str(c, "AccessKeySecret"));
  out->token = km_xstrdup(get_str(c, "SecurityToken"));
  out->expiration = exp;
  return 0;
}

void km__sts_creds_clear(km__sts_creds_t *c) {
  free(c->ak_id);
  km_free_secret(c->ak_secret);
  km_free_secret(c->token);
  memset(c, 0, sizeof(*c));
}
