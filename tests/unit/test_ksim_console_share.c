/* kmsim's ResourceSharing (KMSInstance shares: asynchronous association,
 * Associated within one resource directory and verified enterprise, Failed
 * with the documented FailureReason otherwise or when the access quota is
 * used up), its effect on the emulated console, CloudMonitor and
 * ActionTrail over recorded traffic, and the dedicated gateway's crypto.
 * Handlers are called through the action tables (authentication is tested
 * elsewhere), admin paths through ksim_process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"
#include "state.h"

/* sim/observe.c (not in a header yet) */
void ksim_observe_record(const ksim_req_t *req, const ksim_resp_t *resp,
                         unsigned latency_ms);
void ksim_observe_reset(void);

#define OWNER "1000000000000001"
#define MEMBER "1000000000000002"
#define MEMBER2 "1000000000000004"
#define STRANGER "1000000000000003"
#define MIXED "1000000000000005"

static const char *k_fixture =
    "{\"regions\":[\"cn-hangzhou\"],"
    "\"enterprises\":[{\"id\":\"ent-a\",\"verified\":true},"
    "                 {\"id\":\"ent-b\",\"verified\":true}],"
    "\"directories\":[{\"id\":\"rd-a\",\"enterprise\":\"ent-a\","
    "                  \"management\":\"" OWNER "\"},"
    "                 {\"id\":\"rd-b\",\"enterprise\":\"ent-b\","
    "                  \"management\":\"" STRANGER "\"}],"
    "\"accounts\":["
    "{\"id\":\"" OWNER "\",\"directory\":\"rd-a\","
    " \"regions\":{\"cn-hangzhou\":{"
    "   \"instances\":[{\"id\":\"kst-sw\",\"vpc_num\":2,\"bound_vpcs\":1},"
    "                  {\"id\":\"kst-two\"}],"
    "   \"keys\":[{\"id\":\"k1\"},{\"id\":\"k-in\",\"instance\":\"kst-sw\"},"
    "             {\"id\":\"k-rsa\",\"spec\":\"RSA_2048\","
    "              \"instance\":\"kst-sw\"}],"
    "   \"secrets\":[{\"name\":\"s1\"},{\"name\":\"s-in\","
    "     \"instance\":\"kst-sw\",\"versions\":2}]}}},"
    "{\"id\":\"" MEMBER "\",\"directory\":\"rd-a\","
    " \"regions\":{\"cn-hangzhou\":{\"keys\":[{\"id\":\"m1\"}]}}},"
    "{\"id\":\"" MEMBER2 "\",\"directory\":\"rd-a\"},"
    "{\"id\":\"" STRANGER "\",\"directory\":\"rd-b\"},"
    "{\"id\":\"" MIXED "\",\"directory\":\"rd-a\",\"enterprise\":\"ent-b\"}]}";

static int setup(void **state) {
  json_t *tree = json_loads(k_fixture, 0, NULL);
  ksim_cloud_t *c = ksim_cloud_new();
  char err[256];
  int rc = tree != NULL ? ksim_fixture_apply(c, tree, err, sizeof(err)) : -1;
  json_decref(tree);
  if (rc < 0) {
    fprintf(stderr, "fixture: %s\n", tree != NULL ? err : "bad JSON");
    ksim_cloud_free(c);
    return -1;
  }
  ksim_observe_reset();
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ksim_cloud_free(*state);
  ksim_observe_reset();
  return 0;
}

typedef struct {
  int status;
  char code[96];
  json_t *body;
} answer_t;

/* Calls product.action as account; params: name, value, ..., NULL.  The
 * call is recorded for CloudMonitor/ActionTrail as the server would. */
static answer_t act(ksim_cloud_t *c, const char *product, const char *action,
                    const char *account, const char *instance, ...) {
  ksim_req_t req;
  memset(&req, 0, sizeof(req));
  ksim_resp_t resp;
  memset(&resp, 0, sizeof(resp));
  req.cloud = c;
  req.product = product;
  req.action = action;
  req.version = "test";
  req.account = ksim_account_by_id(c, account);
  snprintf(req.region, sizeof(req.region), "cn-hangzhou");
  snprintf(req.instance_id, sizeof(req.instance_id), "%s",
           instance != NULL ? instance : "");
  snprintf(req.host_name, sizeof(req.host_name), "%s.cn-hangzhou.aliyuncs.com",
           product);
  snprintf(req.request_id, sizeof(req.request_id), "REQ-%zu",
           (size_t)c->requests++);
  req.now = ksim_clock_now(c);
  va_list ap;
  va_start(ap, instance);
  const char *n;
  while ((n = va_arg(ap, const char *)) != NULL)
    ksim_kvs_add(&req.form, n, va_arg(ap, const char *));
  va_end(ap);
  const ksim_action_t *a = ksim_find_action(product, action);
  assert_non_null(a);
  a->fn(&req, &resp);
  if (resp.status == 0) resp.status = 200;
  ksim_observe_record(&req, &resp, 5);
  ksim_kvs_free(&req.form);
  answer_t out = {resp.status, "", resp.body};
  snprintf(out.code, sizeof(out.code), "%s", resp.code);
  return out;
}

static json_t *assoc_of(ksim_cloud_t *c, const char *share_id,
                        const char *target) {
  answer_t a = act(c, "resourcesharing", "ListResourceShareAssociations", OWNER,
                   NULL, "AssociationType", "Target", "ResourceShareIds.1",
                   share_id, "Target", target, NULL);
  assert_int_equal(a.status, 200);
  json_t *list = json_object_get(a.body, "ResourceShareAssociations");
  assert_true(json_is_array(list)); /* bare array (reference §3) */
  assert_int_equal(json_array_size(list), 1);
  json_t *as = json_incref(json_array_get(list, 0));
  json_decref(a.body);
  return as;
}

static char *create_share(ksim_cloud_t *c, const char *name,
                          const char *target) {
  answer_t a =
      act(c, "resourcesharing", "CreateResourceShare", OWNER, NULL,
          "ResourceShareName", name, "Resources.1.ResourceId", "kst-sw",
          "Resources.1.ResourceType", "KMSInstance", "Targets.1", target,
          "PermissionNames.1", "AliyunRSDefaultPermissionKMSInstance", NULL);
  assert_int_equal(a.status, 200);
  json_t *s = json_object_get(a.body, "ResourceShare");
  assert_string_equal(
      json_string_value(json_object_get(s, "ResourceShareStatus")), "Active");
  assert_string_equal(
      json_string_value(json_object_get(s, "ResourceShareOwner")), OWNER);
  char *id = strdup(json_string_value(json_object_get(s, "ResourceShareId")));
  json_decref(a.body);
  return id;
}

static const char *status_of(json_t *as) {
  return json_string_value(json_object_get(as, "AssociationStatus"));
}

static answer_t console_submit(ksim_cloud_t *c, const char *account,
                               const char *json) {
  ksim_server_t srv;
  memset(&srv, 0, sizeof(srv));
  srv.cloud = c;
  ksim_req_t req;
  memset(&req, 0, sizeof(req));
  ksim_resp_t resp;
  memset(&resp, 0, sizeof(resp));
  req.cloud = c;
  req.method = "POST";
  req.path = "/_kmsim/console/migrate";
  req.host = "kms.cn-hangzhou.aliyuncs.com";
  ksim_kvs_add(&req.headers, "x-kmsim-account", account);
  req.body = json;
  req.body_len = strlen(json);
  unsigned d;
  ksim_process(&srv, &req, &resp, &d);
  ksim_kvs_free(&req.headers);
  answer_t a = {resp.status, "", resp.body};
  const char *code = json_string_value(json_object_get(resp.body, "Code"));
  snprintf(a.code, sizeof(a.code), "%s", code != NULL ? code : "");
  return a;
}

/* ---- sharing ---- */

static void test_share_associates_after_a_while(void **state) {
  ksim_cloud_t *c = *state;
  ksim_instance_t *inst = ksim_instance_by_id(c, "kst-sw");
  char *id = create_share(c, "kmsmig-share", MEMBER);
  json_t *as = assoc_of(c, id, MEMBER);
  assert_string_equal(status_of(as), "Associating");
  assert_string_equal(json_string_value(json_object_get(as, "EntityType")),
                      "Account");
  json_decref(as);
  assert_false(ksim_strs_has(&inst->shared_with, MEMBER));
  /* the member cannot migrate into it while the share is Associating */
  const char *mig = "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":"
                    "[\"m1\"]}}";
  answer_t a = console_submit(c, MEMBER, mig);
  assert_string_equal(a.code, "Console.InstanceNotAvailable");
  assert_non_null(strstr(json_string_value(json_object_get(a.body, "Message")),
                         "not Associated"));
  json_decref(a.body);
  c->clock_offset += 2;
  as = assoc_of(c, id, MEMBER);
  assert_string_equal(status_of(as), "Associated");
  json_decref(as);
  assert_true(ksim_strs_has(&inst->shared_with, MEMBER));
  a = console_submit(c, MEMBER, mig);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  /* the member sees it among shares of other accounts; ListResourceShares
   * answers a bare array */
  answer_t l = act(c, "resourcesharing", "ListResourceShares", MEMBER, NULL,
                   "ResourceOwner", "OtherAccounts", NULL);
  json_t *shares = json_object_get(l.body, "ResourceShares");
  assert_true(json_is_array(shares));
  assert_int_equal(json_array_size(shares), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(shares, 0), "ResourceShareId")),
                      id);
  json_decref(l.body);
  l = act(c, "resourcesharing", "ListResourceShares", OWNER, NULL,
          "ResourceOwner", "Self", "ResourceShareName", "kmsmig-share", NULL);
  assert_int_equal(json_array_size(json_object_get(l.body, "ResourceShares")),
                   1);
  json_decref(l.body);
  free(id);
}

static void expect_failed(ksim_cloud_t *c, const char *target,
                          const char *reason) {
  char name[64];
  snprintf(name, sizeof(name), "share-%s", target);
  char *id = create_share(c, name, target);
  c->clock_offset += 2;
  json_t *as = assoc_of(c, id, target);
  assert_string_equal(status_of(as), "Failed");
  json_t *fd =
      json_array_get(json_object_get(as, "AssociationFailedDetails"), 0);
  assert_non_null(fd);
  assert_string_equal(json_string_value(json_object_get(fd, "FailureReason")),
                      reason);
  assert_string_equal(json_string_value(json_object_get(fd, "OperationType")),
                      "Associate");
  assert_true(json_string_length(json_object_get(fd, "FailureDescription")) >
              10);
  json_decref(as);
  assert_false(
      ksim_strs_has(&ksim_instance_by_id(c, "kst-sw")->shared_with, target));
  free(id);
}

static void test_share_fails_across_directory_or_enterprise(void **state) {
  ksim_cloud_t *c = *state;
  expect_failed(c, STRANGER, "UnsupportedOperation");  /* other directory */
  expect_failed(c, MIXED, "UnsupportedOperation");     /* other enterprise */
  expect_failed(c, "1999999999999999", "Unavailable"); /* no such account */
}

static void test_share_quota(void **state) {
  ksim_cloud_t *c = *state;
  /* kst-sw: VpcNum 2 with 1 bound VPC leaves room for one account */
  char *id = create_share(c, "q1", MEMBER);
  c->clock_offset += 2;
  json_t *as = assoc_of(c, id, MEMBER);
  assert_string_equal(status_of(as), "Associated");
  json_decref(as);
  answer_t a = act(c, "resourcesharing", "AssociateResourceShare", OWNER, NULL,
                   "ResourceShareId", id, "Targets.1", MEMBER2, NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  c->clock_offset += 2;
  as = assoc_of(c, id, MEMBER2);
  assert_string_equal(status_of(as), "Failed");
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(as, "AssociationFailedDetails"), 0),
          "FailureReason")),
      "LimitExceeded");
  json_decref(as);
  free(id);
}

static void test_share_refusals(void **state) {
  ksim_cloud_t *c = *state;
  answer_t a = act(c, "resourcesharing", "CreateResourceShare", OWNER, NULL,
                   "ResourceShareName", "x", "Resources.1.ResourceId", "vpc-1",
                   "Resources.1.ResourceType", "VPC", NULL);
  assert_string_equal(a.code, "InvalidParameter.ResourceType");
  json_decref(a.body);
  a = act(c, "resourcesharing", "CreateResourceShare", MEMBER, NULL,
          "ResourceShareName", "x", "Resources.1.ResourceId", "kst-sw",
          "Resources.1.ResourceType", "KMSInstance", NULL);
  assert_string_equal(a.code, "EntityNotExists.Resource"); /* not the owner */
  assert_int_equal(a.status, 404);
  json_decref(a.body);
  a = act(c, "resourcesharing", "ListResourceShares", OWNER, NULL, NULL);
  assert_string_equal(a.code, "MissingParameter");
  json_decref(a.body);
}

static void test_share_delete(void **state) {
  ksim_cloud_t *c = *state;
  ksim_instance_t *inst = ksim_instance_by_id(c, "kst-sw");
  char *id = create_share(c, "d1", MEMBER);
  c->clock_offset += 2;
  json_decref(assoc_of(c, id, MEMBER));
  assert_true(ksim_strs_has(&inst->shared_with, MEMBER));
  /* the member owns a key in the instance: revoking is refused */
  ksim_region_t *r =
      ksim_account_region(c, ksim_account_by_id(c, MEMBER), "cn-hangzhou");
  r->keys.v[0]->instance_id = strdup("kst-sw");
  answer_t a = act(c, "resourcesharing", "DeleteResourceShare", OWNER, NULL,
                   "ResourceShareId", id, NULL);
  assert_string_equal(a.code, "OperationDenied.ResourceInUse");
  json_decref(a.body);
  free(r->keys.v[0]->instance_id);
  r->keys.v[0]->instance_id = NULL;
  a = act(c, "resourcesharing", "DeleteResourceShare", OWNER, NULL,
          "ResourceShareId", id, NULL);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  assert_false(ksim_strs_has(&inst->shared_with, MEMBER));
  free(id);
}

/* ---- observability ---- */

static json_t *datapoints(answer_t *a) {
  assert_int_equal(a->status, 200);
  const char *s = json_string_value(json_object_get(a->body, "Datapoints"));
  assert_non_null(s); /* a JSON-encoded string (reference §6) */
  json_t *d = json_loads(s, 0, NULL);
  assert_true(json_is_array(d));
  return d;
}

static double total(json_t *dps, const char *field) {
  double t = 0;
  size_t i;
  json_t *p;
  json_array_foreach(dps, i, p) t +=
      json_number_value(json_object_get(p, field));
  return t;
}

static void test_metrics_reflect_calls(void **state) {
  ksim_cloud_t *c = *state;
  for (int i = 0; i < 3; i++)
    json_decref(
        act(c, "kms", "DescribeKey", OWNER, NULL, "KeyId", "k1", NULL).body);
  answer_t nf =
      act(c, "kms", "DescribeKey", OWNER, NULL, "KeyId", "nope", NULL);
  assert_int_equal(nf.status, 404);
  json_decref(nf.body);
  /* another account's traffic is not in the owner's shared-gateway view */
  json_decref(
      act(c, "kms", "DescribeKey", MEMBER, NULL, "KeyId", "m1", NULL).body);
  /* two calls on the dedicated gateway */
  for (int i = 0; i < 2; i++)
    json_decref(act(c, "gateway", "Encrypt", OWNER, "kst-sw", "KeyId", "k-in",
                    "Plaintext", "hello", NULL)
                    .body);
  answer_t a = act(c, "cms", "DescribeMetricList", OWNER, NULL, "Namespace",
                   "acs_kms", "MetricName", "requests", "Period", "60", NULL);
  assert_string_equal(json_string_value(json_object_get(a.body, "Period")),
                      "60");
  json_t *d = datapoints(&a);
  assert_true(total(d, "Sum") == 4.0);
  json_decref(d);
  json_decref(a.body);
  a = act(c, "cms", "DescribeMetricList", OWNER, NULL, "Namespace", "acs_kms",
          "MetricName", "code_4xx_1m", NULL);
  d = datapoints(&a);
  assert_true(total(d, "Sum") == 1.0);
  json_decref(d);
  json_decref(a.body);
  a = act(c, "cms", "DescribeMetricList", OWNER, NULL, "Namespace", "acs_kms",
          "MetricName", "requests", "Dimensions",
          "[{\"instanceId\":\"kst-sw\"}]", NULL);
  d = datapoints(&a);
  assert_true(total(d, "Sum") == 2.0);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(d, 0), "instanceId")),
      "kst-sw");
  json_decref(d);
  json_decref(a.body);
  a = act(c, "cms", "DescribeMetricList", OWNER, NULL, "Namespace", "acs_kms",
          "MetricName", "latency_1m", NULL);
  d = datapoints(&a);
  assert_true(json_number_value(
                  json_object_get(json_array_get(d, 0), "Average")) == 5.0);
  json_decref(d);
  json_decref(a.body);
  a = act(c, "cms", "DescribeMetricList", OWNER, NULL, "Namespace", "acs_ecs",
          "MetricName", "requests", NULL);
  assert_string_equal(a.code, "ResourceNotFound");
  json_decref(a.body);
}

static void test_actiontrail_events(void **state) {
  ksim_cloud_t *c = *state;
  json_decref(
      act(c, "kms", "DescribeKey", OWNER, NULL, "KeyId", "k1", NULL).body);
  json_decref(
      act(c, "kms", "DescribeKey", OWNER, NULL, "KeyId", "nope", NULL).body);
  json_decref(act(c, "kms", "ListKeys", OWNER, NULL, NULL).body);
  json_decref(act(c, "gateway", "Encrypt", OWNER, "kst-sw", "KeyId", "k-in",
                  "Plaintext", "top secret", NULL)
                  .body);
  answer_t a = act(c, "actiontrail", "LookupEvents", OWNER, NULL,
                   "LookupAttribute.1.Key", "EventName",
                   "LookupAttribute.1.Value", "DescribeKey", NULL);
  assert_int_equal(a.status, 200);
  json_t *ev = json_object_get(a.body, "Events");
  assert_int_equal(json_array_size(ev), 2);
  /* newest first; the failed one carries its code */
  json_t *e0 = json_array_get(ev, 0);
  assert_string_equal(json_string_value(json_object_get(e0, "errorCode")),
                      "Forbidden.KeyNotFound");
  assert_string_equal(json_string_value(json_object_get(e0, "serviceName")),
                      "Kms");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(e0, "userIdentity"), "accountId")),
                      OWNER);
  json_decref(a.body);
  /* dedicated-gateway calls are not ActionTrail events; plaintexts never */
  a = act(c, "actiontrail", "LookupEvents", OWNER, NULL,
          "LookupAttribute.1.Key", "ServiceName", "LookupAttribute.1.Value",
          "Kms", NULL);
  ev = json_object_get(a.body, "Events");
  assert_int_equal(json_array_size(ev), 3);
  char *dump = json_dumps(a.body, 0);
  assert_null(strstr(dump, "top secret"));
  assert_null(strstr(dump, "Encrypt"));
  free(dump);
  json_decref(a.body);
  a = act(c, "actiontrail", "LookupEvents", MEMBER, NULL, NULL);
  assert_int_equal(json_array_size(json_object_get(a.body, "Events")), 0);
  json_decref(a.body);
}

/* ---- dedicated gateway ---- */

static void test_gateway_crypto(void **state) {
  ksim_cloud_t *c = *state;
  answer_t e = act(c, "gateway", "Encrypt", OWNER, "kst-sw", "KeyId", "k-in",
                   "Plaintext", "attack at dawn", "EncryptionContext",
                   "{\"app\":\"a\"}", NULL);
  assert_int_equal(e.status, 200);
  const char *blob =
      json_string_value(json_object_get(e.body, "CiphertextBlob"));
  assert_non_null(blob);
  assert_null(strstr(blob, "attack"));
  answer_t d = act(c, "gateway", "Decrypt", OWNER, "kst-sw", "CiphertextBlob",
                   blob, "EncryptionContext", "{\"app\":\"a\"}", NULL);
  assert_int_equal(d.status, 200);
  assert_string_equal(json_string_value(json_object_get(d.body, "Plaintext")),
                      "attack at dawn");
  assert_string_equal(json_string_value(json_object_get(d.body, "KeyId")),
                      "k-in");
  json_decref(d.body);
  /* another context fails authentication */
  d = act(c, "gateway", "Decrypt", OWNER, "kst-sw", "CiphertextBlob", blob,
          "EncryptionContext", "{\"app\":\"b\"}", NULL);
  assert_string_equal(d.code, "InvalidParameter");
  json_decref(d.body);
  /* the same blob on another instance's gateway: key not found there */
  d = act(c, "gateway", "Decrypt", OWNER, "kst-two", "CiphertextBlob", blob,
          "EncryptionContext", "{\"app\":\"a\"}", NULL);
  assert_string_equal(d.code, "Forbidden.KeyNotFound");
  json_decref(d.body);
  json_decref(e.body);
  /* a KMS 1.0 key is not served by the instance's gateway */
  e = act(c, "gateway", "Encrypt", OWNER, "kst-sw", "KeyId", "k1", "Plaintext",
          "x", NULL);
  assert_string_equal(e.code, "Forbidden.KeyNotFound");
  json_decref(e.body);
  e = act(c, "gateway", "Encrypt", OWNER, "kst-sw", "KeyId", "k-rsa",
          "Plaintext", "x", NULL);
  assert_string_equal(e.code, "Rejected.UnsupportedOperation");
  json_decref(e.body);
}

static void test_gateway_secret_value(void **state) {
  ksim_cloud_t *c = *state;
  answer_t a = act(c, "gateway", "GetSecretValue", OWNER, "kst-sw",
                   "SecretName", "s-in", NULL);
  assert_int_equal(a.status, 200);
  char *v1 = strdup(json_string_value(json_object_get(a.body, "SecretData")));
  json_t *stages =
      json_object_get(json_object_get(a.body, "VersionStages"), "VersionStage");
  assert_string_equal(json_string_value(json_array_get(stages, 0)),
                      "ACSCurrent");
  json_decref(a.body);
  a = act(c, "gateway", "GetSecretValue", OWNER, "kst-sw", "SecretName", "s-in",
          NULL);
  assert_string_equal(json_string_value(json_object_get(a.body, "SecretData")),
                      v1); /* stable */
  json_decref(a.body);
  a = act(c, "gateway", "GetSecretValue", OWNER, "kst-sw", "SecretName", "s-in",
          "VersionStage", "ACSPrevious", NULL);
  assert_int_equal(a.status, 200);
  assert_string_not_equal(
      json_string_value(json_object_get(a.body, "SecretData")), v1);
  json_decref(a.body);
  free(v1);
  a = act(c, "gateway", "GetSecretValue", OWNER, "kst-sw", "SecretName", "s1",
          NULL);
  assert_string_equal(a.code, "Forbidden.ResourceNotFound");
  json_decref(a.body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_share_associates_after_a_while,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_share_fails_across_directory_or_enterprise, setup, teardown),
      cmocka_unit_test_setup_teardown(test_share_quota, setup, teardown),
      cmocka_unit_test_setup_teardown(test_share_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_share_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metrics_reflect_calls, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_actiontrail_events, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gateway_crypto, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gateway_secret_value, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
