/* kmsim's emulated console (docs/kmsim-console.md) through the real request
 * pipeline (ksim_process, admin path, Host and X-Kmsim-Account): every
 * submission rule with its exact Code (and the two BYOK messages verbatim),
 * tasks that complete when kmsim's clock is advanced and then show the
 * instance on the resources and as the region default, ClientToken
 * idempotency, one active task per account and region, schedules. */
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

#define OWNER "1000000000000001"
#define MEMBER "1000000000000002"
#define STRANGER "1000000000000003"

/* seconds_per_resource 10: real time passing during a test never moves a
 * task; only the clock advances below do. */
static const char *k_fixture =
    "{\"regions\":[\"cn-hangzhou\",\"cn-hongkong\",\"ap-southeast-1\"],"
    "\"console\":{\"seconds_per_resource\":\"10\"},"
    "\"enterprises\":[{\"id\":\"ent-a\",\"verified\":true},"
    "                 {\"id\":\"ent-b\",\"verified\":true}],"
    "\"directories\":[{\"id\":\"rd-a\",\"enterprise\":\"ent-a\","
    "                  \"management\":\"" OWNER "\"},"
    "                 {\"id\":\"rd-b\",\"enterprise\":\"ent-b\","
    "                  \"management\":\"" STRANGER "\"}],"
    "\"accounts\":["
    "{\"id\":\"" OWNER "\",\"directory\":\"rd-a\","
    " \"access_keys\":[{\"id\":\"AKOWNER\",\"secret\":\"s1\"}],"
    " \"regions\":{"
    "  \"cn-hangzhou\":{"
    "   \"instances\":["
    "    {\"id\":\"kst-sw\",\"type\":\"software\",\"image_version\":\"2.9.3\","
    "     \"key_num\":10,\"secret_num\":10,\"shared_with\":[\"" MEMBER "\"]},"
    "    "
    "{\"id\":\"kst-old\",\"type\":\"software\",\"image_version\":\"2.8.9\"},"
    "    "
    "{\"id\":\"kst-new\",\"type\":\"software\",\"image_version\":\"2.10.0\"},"
    "    {\"id\":\"kst-hw\",\"type\":\"hardware\",\"image_version\":\"1.2.0\"},"
    "    {\"id\":\"kst-off\",\"status\":\"Disconnected\"},"
    "    {\"id\":\"kst-tiny\",\"key_num\":1,\"secret_num\":0}],"
    "   \"keys\":["
    "    {\"id\":\"k1\"},{\"id\":\"k2\"},"
    "    {\"id\":\"k3\",\"rotation\":{\"enabled\":true,\"interval\":\"365d\"}},"
    "    {\"id\":\"k-dis\",\"state\":\"Disabled\"},"
    "    {\"id\":\"k-svc\",\"creator\":\"service\",\"service\":\"rds\"},"
    "    {\"id\":\"k-byok\",\"origin\":\"EXTERNAL\",\"protection\":\"HSM\","
    "     \"state\":\"Enabled\"},"
    "    {\"id\":\"k-mig\",\"instance\":\"kst-sw\"}],"
    "   \"secrets\":["
    "    {\"name\":\"s-free\"},{\"name\":\"s-k1\",\"key\":\"k1\"},"
    "    {\"name\":\"s-svc\",\"key\":\"k-svc\"},"
    "    {\"name\":\"s-rot\",\"type\":\"Rds\",\"rotation\":{\"enabled\":true,"
    "     \"interval\":\"168h\"}},"
    "    {\"name\":\"s-dup\"},"
    "    {\"name\":\"s-dup\",\"instance\":\"kst-sw\"}]},"
    "  \"cn-hongkong\":{"
    "   \"instances\":[{\"id\":\"kst-hk\",\"type\":\"hardware\"}],"
    "   \"keys\":[{\"id\":\"hk-byok\",\"origin\":\"EXTERNAL\","
    "     \"protection\":\"HSM\",\"state\":\"Enabled\"}]},"
    "  \"ap-southeast-1\":{\"instances\":[{\"id\":\"kst-sg\"}]}}},"
    "{\"id\":\"" MEMBER "\",\"directory\":\"rd-a\","
    " \"access_keys\":[{\"id\":\"AKMEMBER\",\"secret\":\"s2\"}],"
    " \"regions\":{\"cn-hangzhou\":{\"keys\":[{\"id\":\"m1\"}],"
    "   \"secrets\":[{\"name\":\"s-dup\"}]}}},"
    "{\"id\":\"" STRANGER "\",\"directory\":\"rd-b\","
    " \"access_keys\":[{\"id\":\"AKSTRANGER\",\"secret\":\"s3\"}],"
    " \"regions\":{\"cn-hangzhou\":{\"keys\":[{\"id\":\"x1\"}]}}}]}";

static int setup(void **state) {
  json_error_t e;
  json_t *tree = json_loads(k_fixture, 0, &e);
  if (tree == NULL) {
    fprintf(stderr, "fixture JSON: %s (line %d)\n", e.text, e.line);
    return -1;
  }
  ksim_cloud_t *c = ksim_cloud_new();
  char err[256];
  int rc = ksim_fixture_apply(c, tree, err, sizeof(err));
  json_decref(tree);
  if (rc < 0) {
    fprintf(stderr, "fixture: %s\n", err);
    ksim_cloud_free(c);
    return -1;
  }
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ksim_cloud_free(*state);
  return 0;
}

typedef struct {
  int status;
  json_t *body;
} answer_t;

/* One admin request through the server pipeline. */
static answer_t call(ksim_cloud_t *c, const char *method, const char *path,
                     const char *query_name, const char *query_value,
                     const char *account, const char *host, const char *body) {
  ksim_server_t srv;
  memset(&srv, 0, sizeof(srv));
  srv.cloud = c;
  ksim_req_t req;
  memset(&req, 0, sizeof(req));
  ksim_resp_t resp;
  memset(&resp, 0, sizeof(resp));
  req.cloud = c;
  req.method = method;
  req.path = path;
  req.host = host != NULL ? host : "kms.cn-hangzhou.aliyuncs.com";
  if (account != NULL) ksim_kvs_add(&req.headers, "x-kmsim-account", account);
  if (query_name != NULL) ksim_kvs_add(&req.query, query_name, query_value);
  req.body = body != NULL ? body : "";
  req.body_len = strlen(req.body);
  unsigned delay;
  ksim_process(&srv, &req, &resp, &delay);
  ksim_kvs_free(&req.headers);
  ksim_kvs_free(&req.query);
  answer_t a = {resp.status, resp.body};
  return a;
}

static answer_t submit(ksim_cloud_t *c, const char *account, const char *host,
                       const char *json) {
  return call(c, "POST", "/_kmsim/console/migrate", NULL, NULL, account, host,
              json);
}

static const char *code_of(const answer_t *a) {
  const char *s = json_string_value(json_object_get(a->body, "Code"));
  return s != NULL ? s : "";
}

/* Problem for resource res (NULL = first). */
static json_t *problem(const answer_t *a, const char *res) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(a->body, "Problems"), i, p) {
    if (res == NULL ||
        strcmp(json_string_value(json_object_get(p, "Resource")), res) == 0)
      return p;
  }
  return NULL;
}

static void expect_refused(ksim_cloud_t *c, const char *account,
                           const char *host, const char *json, int status,
                           const char *code, const char *res) {
  size_t before = c->tasks.n;
  answer_t a = submit(c, account, host, json);
  if (a.status != status || strcmp(code_of(&a), code) != 0) {
    char *t = json_dumps(a.body, JSON_COMPACT);
    fail_msg("%s: expected %d %s, got %d %s", json, status, code, a.status, t);
  }
  assert_int_equal(c->tasks.n, before); /* refused: no task at all */
  if (res != NULL) {
    json_t *p = problem(&a, res);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "Code")), code);
  }
  json_decref(a.body);
}

static void advance(ksim_cloud_t *c, int64_t seconds) {
  c->clock_offset += seconds;
}

static ksim_region_t *region_of(ksim_cloud_t *c, const char *acct,
                                const char *region) {
  return ksim_account_region(c, ksim_account_by_id(c, acct), region);
}

static ksim_key_t *key(ksim_cloud_t *c, const char *id) {
  return ksim_key_find(region_of(c, OWNER, "cn-hangzhou"), id);
}

static ksim_secret_t *secret(ksim_cloud_t *c, const char *name) {
  return ksim_secret_find(region_of(c, OWNER, "cn-hangzhou"), name);
}

static const char *task_status(ksim_cloud_t *c, const char *token) {
  answer_t a = call(c, "GET", "/_kmsim/console/tasks", "ClientToken", token,
                    OWNER, NULL, NULL);
  assert_int_equal(a.status, 200);
  json_t *tasks = json_object_get(a.body, "Tasks");
  assert_int_equal(json_array_size(tasks), 1);
  static char st[32];
  snprintf(
      st, sizeof(st), "%s",
      json_string_value(json_object_get(json_array_get(tasks, 0), "Status")));
  json_decref(a.body);
  return st;
}

/* ---- tests ---- */

static void test_overview(void **state) {
  ksim_cloud_t *c = *state;
  answer_t a =
      call(c, "GET", "/_kmsim/console/overview", NULL, NULL, OWNER, NULL, NULL);
  assert_int_equal(a.status, 200);
  json_t *b = a.body;
  assert_string_equal(json_string_value(json_object_get(b, "RegionId")),
                      "cn-hangzhou");
  /* k1 k2 k3 k-dis k-svc pending, k-byok in its own column, k-mig done */
  assert_int_equal(json_integer_value(json_object_get(b, "KeysNotMigrated")),
                   5);
  assert_int_equal(json_integer_value(json_object_get(b, "HsmByokNotMigrated")),
                   1);
  assert_int_equal(json_integer_value(json_object_get(b, "MigratedKeys")), 1);
  assert_int_equal(json_integer_value(json_object_get(b, "SecretsNotMigrated")),
                   5);
  assert_string_equal(json_string_value(json_object_get(b, "TaskStatus")),
                      "None");
  json_decref(a.body);
}

/* The task list also carries the Migrate dialog's destinations with the
 * console-only facts (kmsmig's preflight compares the image version): the
 * owner sees its instances, a member only those shared with it. */
static void test_tasks_list_instances(void **state) {
  ksim_cloud_t *c = *state;
  answer_t a =
      call(c, "GET", "/_kmsim/console/tasks", NULL, NULL, OWNER, NULL, NULL);
  assert_int_equal(a.status, 200);
  const json_t *inst = json_object_get(a.body, "Instances");
  assert_true(json_array_size(inst) >= 6);
  const json_t *sw = NULL, *v;
  size_t i;
  json_array_foreach(inst, i, v) {
    if (strcmp(json_string_value(json_object_get(v, "InstanceId")), "kst-sw") ==
        0)
      sw = v;
  }
  assert_non_null(sw);
  assert_string_equal(json_string_value(json_object_get(sw, "ImageVersion")),
                      "2.9.3");
  assert_string_equal(json_string_value(json_object_get(sw, "InstanceType")),
                      "software");
  json_decref(a.body);
  a = call(c, "GET", "/_kmsim/console/tasks", NULL, NULL, MEMBER, NULL, NULL);
  assert_int_equal(a.status, 200);
  inst = json_object_get(a.body, "Instances");
  assert_int_equal(json_array_size(inst), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(inst, 0), "InstanceId")),
      "kst-sw");
  json_decref(a.body);
}

static void test_login_and_region(void **state) {
  ksim_cloud_t *c = *state;
  answer_t a =
      call(c, "GET", "/_kmsim/console/overview", NULL, NULL, NULL, NULL, NULL);
  assert_int_equal(a.status, 401);
  assert_string_equal(code_of(&a), "Console.NotLoggedIn");
  json_decref(a.body);
  a = call(c, "GET", "/_kmsim/console/overview", NULL, NULL, OWNER,
           "sts.aliyuncs.com", NULL);
  assert_int_equal(a.status, 400);
  assert_string_equal(code_of(&a), "Console.InvalidRegion");
  json_decref(a.body);
  expect_refused(c, OWNER, NULL, "not json", 400, "Console.InvalidRequest",
                 NULL);
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":[]}}", 400,
                 "Console.NoResources", NULL);
}

static void test_batch_too_large(void **state) {
  ksim_cloud_t *c = *state;
  json_t *keys = json_array();
  for (int i = 0; i < 51; i++)
    json_array_append_new(keys, json_sprintf("key-%d", i));
  json_t *body = json_pack("{s:s, s:s, s:{s:o}}", "ClientToken", "big",
                           "InstanceId", "kst-sw", "Resources", "Keys", keys);
  char *text = json_dumps(body, 0);
  expect_refused(c, OWNER, NULL, text, 400, "Console.BatchTooLarge", NULL);
  free(text);
  /* exactly 50 is not too large (it fails on the unknown keys instead) */
  json_array_remove(keys, 0);
  text = json_dumps(body, 0);
  expect_refused(c, OWNER, NULL, text, 400, "Console.InvalidResource", "key-1");
  free(text);
  json_decref(body);
}

static void test_invalid_resources(void **state) {
  ksim_cloud_t *c = *state;
  const char *fmt =
      "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":[\"%s\"]}}";
  const char *ids[] = {"nope", "k-mig", "k-dis", "x1" /* another account's */};
  for (size_t i = 0; i < 4; i++) {
    char body[256];
    snprintf(body, sizeof(body), fmt, ids[i]);
    expect_refused(c, OWNER, NULL, body, 400, "Console.InvalidResource",
                   ids[i]);
  }
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Secrets\":"
                 "[\"no-such\"]}}",
                 400, "Console.InvalidResource", "no-such");
}

static void test_instance_rules(void **state) {
  ksim_cloud_t *c = *state;
  const char *one = "{\"InstanceId\":\"%s\",\"Resources\":{\"Keys\":[\"%s\"]}}";
  char b[256];
  const char *bad[] = {"kst-none", "kst-sg" /* ap-southeast-1 */, "kst-off"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(b, sizeof(b), one, bad[i], "k1");
    expect_refused(c, OWNER, NULL, b, 400, "Console.InstanceNotAvailable",
                   bad[i]);
  }
  /* a stranger (other directory) cannot use the owner's instance */
  snprintf(b, sizeof(b), one, "kst-sw", "x1");
  expect_refused(c, STRANGER, NULL, b, 400, "Console.InstanceNotAvailable",
                 "kst-sw");
  /* the member it is shared with can: accepted */
  snprintf(b, sizeof(b), one, "kst-sw", "m1");
  answer_t a = submit(c, MEMBER, NULL, b);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  /* wrong instance type */
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"InstanceType\":\"hardware\","
                 "\"Resources\":{\"Keys\":[\"k1\"]}}",
                 400, "Console.InstanceNotAvailable", "kst-sw");
  /* image: 2.8.9 refused, 2.10.0 accepted (numeric, not string compare) */
  snprintf(b, sizeof(b), one, "kst-old", "k1");
  expect_refused(c, OWNER, NULL, b, 400, "Console.ImageVersionTooOld",
                 "kst-old");
  snprintf(b, sizeof(b), one, "kst-new", "k1");
  a = submit(c, OWNER, NULL, b);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
}

static void test_rotation_enabled(void **state) {
  ksim_cloud_t *c = *state;
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":[\"k3\"],"
                 "\"Secrets\":[\"s-rot\"]}}",
                 400, "Console.RotationEnabled", "k3");
  answer_t a = submit(c, OWNER, NULL,
                      "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":"
                      "[\"k3\"],\"Secrets\":[\"s-rot\"]}}");
  json_t *p = problem(&a, "s-rot");
  assert_non_null(p);
  assert_string_equal(json_string_value(json_object_get(p, "Code")),
                      "Console.RotationEnabled");
  assert_string_equal(json_string_value(json_object_get(p, "Kind")), "secret");
  json_decref(a.body);
  /* turned off: accepted */
  key(c, "k3")->rotation_enabled = false;
  a = submit(c, OWNER, NULL,
             "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":[\"k3\"]}}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
}

static void test_secret_needs_cmk(void **state) {
  ksim_cloud_t *c = *state;
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Secrets\":"
                 "[\"s-k1\"]}}",
                 400, "Console.KeyNotMigrated", "s-k1");
  /* with its CMK in the same task, and a service-key secret: accepted */
  answer_t a = submit(c, OWNER, NULL,
                      "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":"
                      "[\"k1\"],\"Secrets\":[\"s-k1\",\"s-svc\"]}}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
}

static void test_duplicate_secret_name(void **state) {
  ksim_cloud_t *c = *state;
  /* the owner already has an s-dup inside kst-sw */
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Secrets\":"
                 "[\"s-free\",\"s-dup\"]}}",
                 400, "Console.DuplicateSecretName", "s-dup");
  answer_t a = submit(c, OWNER, NULL,
                      "{\"InstanceId\":\"kst-new\",\"Resources\":{\"Secrets\":"
                      "[\"s-dup\"]}}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  /* names are unique per account and instance: the member's own s-dup may
   * join the owner's in the shared kst-sw */
  a = submit(c, MEMBER, NULL,
             "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Secrets\":"
             "[\"s-dup\"]}}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
}

static void test_quota(void **state) {
  ksim_cloud_t *c = *state;
  /* kst-tiny: 1 key, 0 secrets; service keys take no quota */
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-tiny\",\"Resources\":{\"Keys\":"
                 "[\"k1\",\"k2\"]}}",
                 400, "Console.QuotaExceeded", "kst-tiny");
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-tiny\",\"Resources\":{\"Secrets\":"
                 "[\"s-free\"]}}",
                 400, "Console.QuotaExceeded", "kst-tiny");
  answer_t a = submit(c, OWNER, NULL,
                      "{\"InstanceId\":\"kst-tiny\",\"Resources\":{\"Keys\":"
                      "[\"k1\",\"k-svc\"]}}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  /* the running task holds the only key slot: another account is refused */
  ksim_instance_t *tiny = ksim_instance_by_id(c, "kst-tiny");
  ksim_strs_push(&tiny->shared_with, MEMBER);
  expect_refused(c, MEMBER, NULL,
                 "{\"InstanceId\":\"kst-tiny\",\"Resources\":{\"Keys\":"
                 "[\"m1\"]}}",
                 400, "Console.QuotaExceeded", "kst-tiny");
}

static void test_byok_rules(void **state) {
  ksim_cloud_t *c = *state;
  const char *hw = "{\"InstanceId\":\"kst-hw\",\"Resources\":{\"Keys\":"
                   "[\"k-byok\"]}}";
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Resources\":{\"Keys\":"
                 "[\"k-byok\"]}}",
                 400, "Console.ByokNotSupported", "k-byok");
  expect_refused(c, OWNER, "kms.cn-hongkong.aliyuncs.com",
                 "{\"InstanceId\":\"kst-hk\",\"Resources\":{\"Keys\":"
                 "[\"hk-byok\"]}}",
                 400, "Console.ByokNotSupported", "hk-byok");
  answer_t a = submit(c, OWNER, NULL, hw);
  assert_string_equal(code_of(&a), "Console.ByokNotImported");
  assert_string_equal(
      json_string_value(json_object_get(problem(&a, "k-byok"), "Message")),
      "current hardware BYOK key was not imported for migration");
  json_decref(a.body);
  ksim_key_t *k = key(c, "k-byok");
  k->material_imported_at = ksim_clock_now(c) - 21 * 86400;
  a = submit(c, OWNER, NULL, hw);
  assert_string_equal(code_of(&a), "Console.ByokMaterialExpired");
  assert_string_equal(
      json_string_value(json_object_get(problem(&a, "k-byok"), "Message")),
      "current hardware BYOK key material is expired, please reimport");
  json_decref(a.body);
  assert_int_equal(c->tasks.n, 0);
  k->material_imported_at = ksim_clock_now(c) - 20 * 86400;
  a = submit(c, OWNER, NULL, hw);
  assert_int_equal(a.status, 200);
  json_decref(a.body);
}

static void test_task_completes_on_clock(void **state) {
  ksim_cloud_t *c = *state;
  ksim_region_t *r = region_of(c, OWNER, "cn-hangzhou");
  assert_string_equal(r->default_instance != NULL ? r->default_instance : "",
                      "");
  answer_t a = submit(c, OWNER, NULL,
                      "{\"ClientToken\":\"tok-1\",\"InstanceId\":\"kst-new\","
                      "\"InstanceType\":\"software\",\"SetAsDefault\":true,"
                      "\"Schedule\":\"now\",\"Resources\":{\"Keys\":[\"k1\"],"
                      "\"Secrets\":[\"s-k1\"]}}");
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(a.body, "Status")),
                      "Running");
  assert_true(strncmp(json_string_value(json_object_get(a.body, "TaskId")),
                      "mt-", 3) == 0);
  json_decref(a.body);
  /* held by the task: control plane blocked, nothing moved yet */
  assert_true(key(c, "k1")->migrating);
  assert_true(secret(c, "s-k1")->migrating);
  assert_null(key(c, "k1")->instance_id);
  /* one active task per account and region */
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-new\",\"Resources\":{\"Keys\":"
                 "[\"k2\"]}}",
                 409, "Console.TaskRunning", NULL);
  /* 2 resources x 10 s: after 11 s the key is in, the secret not yet */
  advance(c, 11);
  assert_string_equal(task_status(c, "tok-1"), "Running");
  assert_string_equal(key(c, "k1")->instance_id, "kst-new");
  assert_null(secret(c, "s-k1")->instance_id);
  assert_null(r->default_instance);
  advance(c, 10);
  assert_string_equal(task_status(c, "tok-1"), "Completed");
  ksim_key_t *k = key(c, "k1");
  ksim_secret_t *s = secret(c, "s-k1");
  assert_string_equal(k->instance_id, "kst-new");
  assert_string_equal(s->instance_id, "kst-new");
  assert_int_equal(k->migrations, 1);
  assert_int_equal(s->migrations, 1);
  assert_true(k->migrated_at > 0);
  assert_false(k->migrating);
  assert_false(s->migrating);
  assert_null(k->policy); /* default policy */
  assert_string_equal(r->default_instance, "kst-new");
  /* per-resource results and the overview */
  answer_t t = call(c, "GET", "/_kmsim/console/tasks", "TaskId",
                    c->tasks.v[0]->id, OWNER, NULL, NULL);
  json_t *task = json_array_get(json_object_get(t.body, "Tasks"), 0);
  json_t *res = json_object_get(task, "Results");
  assert_int_equal(json_array_size(res), 2);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(res, 1), "Status")),
      "Migrated");
  assert_non_null(json_object_get(task, "FinishTime"));
  json_decref(t.body);
  answer_t o =
      call(c, "GET", "/_kmsim/console/overview", NULL, NULL, OWNER, NULL, NULL);
  assert_string_equal(json_string_value(json_object_get(o.body, "TaskStatus")),
                      "Completed");
  assert_int_equal(json_integer_value(json_object_get(o.body, "MigratedKeys")),
                   2);
  json_decref(o.body);
  /* a second batch may start now; the first key is no longer pending */
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-new\",\"Resources\":{\"Keys\":"
                 "[\"k1\"]}}",
                 400, "Console.InvalidResource", "k1");
}

static void test_client_token_idempotent(void **state) {
  ksim_cloud_t *c = *state;
  const char *body = "{\"ClientToken\":\"same\",\"InstanceId\":\"kst-sw\","
                     "\"Resources\":{\"Keys\":[\"k2\"]}}";
  answer_t a = submit(c, OWNER, NULL, body);
  assert_int_equal(a.status, 200);
  char id[64];
  snprintf(id, sizeof(id), "%s",
           json_string_value(json_object_get(a.body, "TaskId")));
  json_decref(a.body);
  /* again while running: the same task, not TaskRunning */
  a = submit(c, OWNER, NULL, body);
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(a.body, "TaskId")), id);
  json_decref(a.body);
  advance(c, 30);
  /* again after completion (k2 is migrated now): still the same task */
  a = submit(c, OWNER, NULL, body);
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(a.body, "TaskId")), id);
  assert_string_equal(json_string_value(json_object_get(a.body, "Status")),
                      "Completed");
  json_decref(a.body);
  assert_int_equal(c->tasks.n, 1);
  assert_int_equal(key(c, "k2")->migrations, 1);
  expect_refused(c, OWNER, NULL,
                 "{\"ClientToken\":\"x123456789012345678901234567890123456789"
                 "0123456789012345678901234\",\"InstanceId\":\"kst-sw\","
                 "\"Resources\":{\"Keys\":[\"k1\"]}}",
                 400, "Console.InvalidRequest", NULL);
}

static void test_schedule_later(void **state) {
  ksim_cloud_t *c = *state;
  char when[21], body[300];
  km_iso8601(ksim_clock_now(c) + 3600, when);
  snprintf(body, sizeof(body),
           "{\"ClientToken\":\"later\",\"InstanceId\":\"kst-sw\","
           "\"SetAsDefault\":true,\"Schedule\":\"%s\",\"Resources\":{\"Keys\":"
           "[\"k2\"]}}",
           when);
  answer_t a = submit(c, OWNER, NULL, body);
  assert_int_equal(a.status, 200);
  assert_string_equal(json_string_value(json_object_get(a.body, "Status")),
                      "Scheduled");
  json_decref(a.body);
  assert_true(key(c, "k2")->migrating); /* held while scheduled too */
  advance(c, 1800);
  assert_string_equal(task_status(c, "later"), "Scheduled");
  assert_null(key(c, "k2")->instance_id);
  advance(c, 1800 + 11);
  assert_string_equal(task_status(c, "later"), "Completed");
  assert_string_equal(key(c, "k2")->instance_id, "kst-sw");
  assert_string_equal(region_of(c, OWNER, "cn-hangzhou")->default_instance,
                      "kst-sw");
  expect_refused(c, OWNER, NULL,
                 "{\"InstanceId\":\"kst-sw\",\"Schedule\":\"tomorrow\","
                 "\"Resources\":{\"Keys\":[\"k1\"]}}",
                 400, "Console.InvalidRequest", NULL);
}

static void test_all_pending_and_fault_duration(void **state) {
  ksim_cloud_t *c = *state;
  json_t *cfg = json_pack("{s:i}", "task_seconds", 100);
  char err[128];
  assert_int_equal(ksim_faults_configure(c, cfg, err, sizeof(err)), 0);
  json_decref(cfg);
  key(c, "k3")->rotation_enabled = false;
  secret(c, "s-rot")->rotation_enabled = false;
  answer_t a = submit(c, OWNER, NULL,
                      "{\"ClientToken\":\"all\",\"InstanceId\":\"kst-new\","
                      "\"Resources\":\"AllPending\"}");
  assert_int_equal(a.status, 200);
  json_decref(a.body);
  ksim_task_t *t = c->tasks.v[0];
  /* k1 k2 k3 k-svc (enabled, not BYOK, not migrated) + 5 secrets */
  assert_int_equal(t->keys.n, 4);
  assert_int_equal(t->secrets.n, 5);
  assert_false(ksim_strs_has(&t->keys, "k-byok"));
  assert_false(ksim_strs_has(&t->keys, "k-dis"));
  /* the slow-task fault sets the duration: 100 s whatever the size */
  advance(c, 50);
  assert_string_equal(task_status(c, "all"), "Running");
  advance(c, 51);
  assert_string_equal(task_status(c, "all"), "Completed");
  assert_string_equal(key(c, "k-svc")->instance_id, "kst-new");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_overview, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tasks_list_instances, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_login_and_region, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_resources, setup, teardown),
      cmocka_unit_test_setup_teardown(test_instance_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rotation_enabled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_needs_cmk, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_secret_name, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
      cmocka_unit_test_setup_teardown(test_byok_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_task_completes_on_clock, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_client_token_idempotent, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schedule_later, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_pending_and_fault_duration,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
