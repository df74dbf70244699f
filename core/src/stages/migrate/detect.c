/* Detection shared by both migrate drivers: which resources are in the
 * destination instance now.  It pages through ListKeys and ListSecrets with a
 * DKMSInstanceId filter (100 per page), so following a batch of 100
 * resources costs two or three calls per poll instead of a hundred
 * DescribeKey/DescribeSecret calls; verify then checks each resource. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

static void detect_page(mjob_t *j);

size_t km__mig_detect_parse(const json_t *body, bool secrets, json_t *seen) {
  const json_t *items =
      secrets ? json_object_get(json_object_get(body, "SecretList"), "Secret")
              : json_object_get(json_object_get(body, "Keys"), "Key");
  size_t i;
  const json_t *it;
  json_array_foreach(items, i, it) {
    const char *id = json_string_value(
        json_object_get(it, secrets ? "SecretName" : "KeyId"));
    if (id != NULL) json_object_set_new(seen, id, json_true());
  }
  return json_array_size(items);
}

static void on_page(km_sctx_t *c, const kp_res_t *res, void *ud) {
  mjob_t *j = ud;
  if (res->status < 0) {
    km__mig_fail(j, res->status, res->err,
                 j->detect_secrets_phase ? "ListSecrets" : "ListKeys");
    j->detect_done(j, c->status);
    return;
  }
  /* The batch records this detection decides carry its RequestId. */
  snprintf(j->detect_rid, sizeof(j->detect_rid), "%s", res->request_id);
  size_t got = km__mig_detect_parse(res->body, j->detect_secrets_phase,
                                    j->detect_secrets_phase ? j->seen_secrets
                                                            : j->seen_keys);
  const json_t *tc = json_object_get(res->body, "TotalCount");
  km_err_t err;
  int more = kp_next_page(
      j->detect_secrets_phase ? "ListSecrets" : "ListKeys", j->detect_page, got,
      100, -1, json_is_integer(tc) ? json_integer_value(tc) : -1, &err);
  if (more < 0) {
    km__mig_fail(j, more, &err, "detect");
    j->detect_done(j, c->status);
    return;
  }
  if (more == 1) {
    j->detect_page++;
    detect_page(j);
    return;
  }
  if (!j->detect_secrets_phase) {
    j->detect_secrets_phase = true;
    j->detect_page = 1;
    detect_page(j);
    return;
  }
  j->detect_done(j, 0);
}

static void detect_page(mjob_t *j) {
  char pn[16], filters[256];
  snprintf(pn, sizeof(pn), "%d", j->detect_page);
  snprintf(filters, sizeof(filters),
           "[{\"Key\":\"DKMSInstanceId\",\"Values\":[\"%s\"]}]",
           j->c->inv->instance_id);
  const char *params[] = {"PageNumber", pn,        "PageSize",
                          "100",        "Filters", filters};
  /* A call that cannot be sent answers on_page with the failure. */
  kp_call(j->c, j->detect_secrets_phase ? "ListSecrets" : "ListKeys", params, 3,
          NULL, on_page, j);
}

void km__mig_detect(mjob_t *j, void (*done)(mjob_t *j, int status)) {
  json_decref(j->seen_keys);
  json_decref(j->seen_secrets);
  j->seen_keys = json_object();
  j->seen_secrets = json_object();
  j->detect_page = 1;
  j->detect_secrets_phase = false;
  j->detect_done = done;
  detect_page(j);
}
