/* The five named hooks as plugins see them: each default in lua/ gives the
 * documented procedure's answer; an operator's default_instance hook
 * changes the choice and a choice outside the candidates is refused;
 * post_check files merge; results of the wrong shape fail with the field's
 * name; a hook nobody configured and without a default is KM_ENOENT; and
 * through the engine's host->hook, plan mode refuses a hook's write with
 * the documented message.  Every test ends with zero registry references
 * and a loop that closes clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../lua/fake_call.h"
#include "engine/pipeline_priv.h"
#include "lua/lua.h"
#include "util/util.h"

#define HOOKS KM_TEST_DATA "/lua/"

/* The hook files of a target, as the manifest gives them. */
static const km_hookcfg_t none;

static uv_loop_t loop;
static fake_t fake;

static int setup(void **st) {
  (void)st;
  memset(&fake, 0, sizeof(fake));
  uv_loop_init(&loop);
  fake.loop = &loop;
  fake.delay_ms = 5;
  return 0;
}

static int teardown(void **st) {
  (void)st;
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(km_lua_live_refs(), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  return 0;
}

static km_lua_t *new_lua(const char *lua_dir) {
  km_lua_opts_t o = {.loop = &loop,
                     .call = fake_call,
                     .call_ud = &fake,
                     .account = "app-a",
                     .region = "cn-hangzhou",
                     .mode = "run",
                     .lua_dir = lua_dir};
  return km_lua_new(&o);
}

/* Runs hook name and returns its result (owned), asserting success. */
static json_t *hook_ok(km_lua_t *lua, const km_hookcfg_t *hooks,
                       const char *name, const char *input) {
  outcome_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(km_lua_hook(lua, hooks, name, input, on_done, &o), 0);
  while (o.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(o.calls, 1);
  if (o.status != 0) fail_msg("%s: %s (%s)", name, o.err.text, o.err.where);
  return o.body;
}

static outcome_t hook_fails(km_lua_t *lua, const km_hookcfg_t *hooks,
                            const char *name, const char *input) {
  outcome_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(km_lua_hook(lua, hooks, name, input, on_done, &o), 0);
  while (o.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, KM_ELUA);
  return o;
}

/* The result equals want (JSON text), exactly. */
static void assert_json(json_t *got, const char *want) {
  json_t *w = json_loads(want, 0, NULL);
  assert_non_null(w);
  if (!json_equal(got, w)) {
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    fail_msg("got %s, want %s", g, want);
  }
  json_decref(w);
  json_decref(got);
}

static void test_default_rotation(void **st) {
  (void)st;
  km_lua_t *lua = new_lua(NULL);
  /* Before: on is turned off; off is left alone. */
  assert_json(hook_ok(lua, NULL, "rotation",
                      "{\"kind\":\"key\",\"id\":\"key-1\",\"phase\":\"before\","
                      "\"automatic_rotation\":true,"
                      "\"rotation_interval\":\"8760h\"}"),
              "{\"change\":true,\"automatic_rotation\":false}");
  assert_json(hook_ok(lua, NULL, "rotation",
                      "{\"kind\":\"secret\",\"id\":\"db-pass\","
                      "\"phase\":\"before\",\"automatic_rotation\":false}"),
              "{\"change\":false}");
  /* After: exactly the journalled policy, interval included. */
  assert_json(hook_ok(lua, NULL, "rotation",
                      "{\"kind\":\"secret\",\"id\":\"db-pass\","
                      "\"phase\":\"after\",\"automatic_rotation\":true,"
                      "\"rotation_interval\":\"604800s\"}"),
              "{\"change\":true,\"automatic_rotation\":true,"
              "\"rotation_interval\":\"604800s\"}");
  assert_json(hook_ok(lua, NULL, "rotation",
                      "{\"kind\":\"key\",\"id\":\"key-2\",\"phase\":\"after\","
                      "\"automatic_rotation\":false}"),
              "{\"change\":false}");
  km_lua_free(lua);
}

static const char di_input[] =
    "{\"region\":\"cn-hangzhou\",\"current\":null,"
    "\"destination\":\"kst-dest\",\"candidates\":["
    "{\"id\":\"kst-dest\",\"type\":\"software\",\"spec\":1000,"
    "\"keys_used\":900,\"keys_free\":100,\"secrets_used\":0,"
    "\"secrets_free\":1000,\"expiry\":\"2027-01-01T00:00:00Z\"},"
    "{\"id\":\"kst-roomy\",\"type\":\"software\",\"spec\":2000,"
    "\"keys_used\":10,\"keys_free\":1990,\"secrets_used\":0,"
    "\"secrets_free\":1000,\"expiry\":\"2028-01-01T00:00:00Z\"}]}";

static void test_default_instance(void **st) {
  (void)st;
  km_lua_t *lua = new_lua(NULL);
  json_t *r = hook_ok(lua, NULL, "default_instance", di_input);
  assert_string_equal(json_string_value(json_object_get(r, "instance")),
                      "kst-dest");
  json_decref(r);
  /* The operator's hook picks by free quota: a different instance. */
  static const km_hookcfg_t pick = {.default_instance =
                                        HOOKS "pick_most_free.lua"};
  r = hook_ok(lua, &pick, "default_instance", di_input);
  assert_json(r, "{\"instance\":\"kst-roomy\","
                 "\"reason\":\"most free key quota\"}");
  /* A choice that is not offered is refused, naming the file. */
  static const km_hookcfg_t bad = {.default_instance =
                                       HOOKS "bad_instance.lua"};
  outcome_t o = hook_fails(lua, &bad, "default_instance", di_input);
  assert_non_null(strstr(o.err.text, "kst-not-a-candidate is neither the "
                                     "destination nor one of the "
                                     "candidates"));
  assert_non_null(strstr(o.err.where, "bad_instance.lua"));
  km_lua_free(lua);
}

static void test_batches_and_post_check(void **st) {
  (void)st;
  km_lua_t *lua = new_lua(NULL);
  const char *batch = "{\"batch\":1,\"keys\":[\"key-1\"],\"secrets\":[],"
                      "\"instance\":\"kst-dest\",\"when\":\"now\"}";
  assert_json(hook_ok(lua, NULL, "before_batch", batch), "{\"accept\":true}");
  assert_json(hook_ok(lua, &none, "after_batch", batch), "{\"accept\":true}");
  const char *verify = "{\"region\":\"cn-hangzhou\",\"instance\":\"kst-dest\","
                       "\"keys\":[{\"id\":\"key-1\"},{\"id\":\"key-untagged\"}"
                       "],\"secrets\":[]}";
  /* No post_check configured (an empty list): the default passes. */
  json_t *r = hook_ok(lua, &none, "post_check", verify);
  assert_true(json_is_true(json_object_get(r, "passed")));
  assert_int_equal(json_array_size(json_object_get(r, "messages")), 0);
  assert_int_equal(json_array_size(json_object_get(r, "checks")), 1);
  json_decref(r);
  /* The default plus a failing file: all run, the verdict merges. */
  static char *const two[] = {KM_SOURCE_DIR "/lua/post_check.lua",
                              HOOKS "post_fail.lua"};
  static const km_hookcfg_t merged = {.post_check = two, .npost_check = 2};
  r = hook_ok(lua, &merged, "post_check", verify);
  assert_json(r, "{\"passed\":false,"
                 "\"messages\":[\"post_fail.lua: key key-1 lost its team "
                 "tag\"],"
                 "\"checks\":[{\"file\":\"" KM_SOURCE_DIR
                 "/lua/post_check.lua\",\"passed\":true,\"messages\":[]},"
                 "{\"file\":\"" HOOKS "post_fail.lua\",\"passed\":false,"
                 "\"messages\":[\"key key-1 lost its team tag\"]}]}");
  /* The example hook of manifests/: a key without its team tag fails. */
  static char *const tags[] = {KM_SOURCE_DIR
                               "/manifests/hooks/post_check_tags.lua"};
  static const km_hookcfg_t example = {.post_check = tags, .npost_check = 1};
  r = hook_ok(lua, &example, "post_check", verify);
  assert_true(json_is_false(json_object_get(r, "passed")));
  json_t *msgs = json_object_get(r, "messages");
  assert_int_equal(json_array_size(msgs), 1);
  assert_string_equal(json_string_value(json_array_get(msgs, 0)),
                      "post_check_tags.lua: key key-untagged has no team tag "
                      "after migration");
  json_decref(r);
  km_lua_free(lua);
}

static void test_shapes_and_missing(void **st) {
  (void)st;
  km_lua_t *lua = new_lua(NULL);
  static const km_hookcfg_t typo = {.rotation = HOOKS "rotation_typo.lua"};
  outcome_t o = hook_fails(lua, &typo, "rotation", "{\"phase\":\"before\"}");
  assert_non_null(strstr(o.err.text, "'change' must be true or false"));
  /* A configured file that went missing is an error, not the default. */
  static const km_hookcfg_t gone = {.rotation = HOOKS "gone.lua"};
  o = hook_fails(lua, &gone, "rotation", "{\"phase\":\"before\"}");
  assert_non_null(strstr(o.err.text, "cannot open"));
  outcome_t never;
  memset(&never, 0, sizeof(never));
  assert_int_equal(km_lua_hook(lua, NULL, "rotaton", "{}", on_done, &never),
                   KM_EINVAL);
  assert_int_equal(km_lua_hook(lua, NULL, "rotation", "[]", on_done, &never),
                   KM_EINVAL);
  km_lua_free(lua);
  /* No default in this lua/ folder and nothing configured: KM_ENOENT. */
  lua = new_lua(KM_TEST_DATA "/lua");
  assert_int_equal(km_lua_hook(lua, &none, "rotation", "{}", on_done, &never),
                   KM_ENOENT);
  km_lua_free(lua);
  assert_int_equal(never.calls, 0);

  /* The syntax check for `kmsmig validate`. */
  km_err_t err;
  assert_int_equal(km_lua_check_syntax(KM_SOURCE_DIR "/lua/rotation.lua", &err),
                   0);
  assert_int_equal(km_lua_check_syntax(HOOKS "syntax_error.lua", &err),
                   KM_ELUA);
  assert_non_null(strstr(err.text, "syntax_error.lua:3: 'then' expected"));
  assert_int_equal(km_lua_check_syntax(HOOKS "gone.lua", &err), KM_ENOENT);

  size_t n;
  static char *const pcs[] = {"/b/p.lua", "/a/q.lua"};
  static const km_hookcfg_t spread = {
      .rotation = "/a/r.lua", .post_check = pcs, .npost_check = 2};
  char **dirs = km_lua_hook_dirs(&spread, &n);
  assert_int_equal(n, 2);
  assert_string_equal(dirs[0], "/a");
  assert_string_equal(dirs[1], "/b");
  km_lua_dirs_free(dirs, n);
}

/* The example hooks of manifests/custom-hooks.yaml do what they say. */
static void test_manifest_examples(void **st) {
  (void)st;
  km_lua_t *lua = new_lua(NULL);
#define EX KM_SOURCE_DIR "/manifests/hooks/"
  static const km_hookcfg_t cfg = {
      .rotation = EX "rotation_audit.lua",
      .default_instance = EX "default_instance_keep.lua",
      .before_batch = EX "before_batch_window.lua"};
  const km_hookcfg_t *hooks = &cfg;
  /* rotation_audit: the default's answer, except rds- secrets. */
  assert_json(hook_ok(lua, hooks, "rotation",
                      "{\"kind\":\"key\",\"id\":\"key-1\","
                      "\"phase\":\"before\",\"automatic_rotation\":true}"),
              "{\"change\":true,\"automatic_rotation\":false}");
  assert_json(hook_ok(lua, hooks, "rotation",
                      "{\"kind\":\"secret\",\"id\":\"rds-orders\","
                      "\"phase\":\"after\",\"automatic_rotation\":true,"
                      "\"rotation_interval\":\"604800s\"}"),
              "{\"change\":true,\"automatic_rotation\":true,"
              "\"rotation_interval\":\"2592000s\"}");
  /* default_instance_keep: the current default when it is a candidate. */
  json_t *in = json_loads(di_input, 0, NULL);
  json_object_set_new(in, "current", json_string("kst-roomy"));
  char *input = json_dumps(in, JSON_COMPACT);
  json_decref(in);
  json_t *r = hook_ok(lua, hooks, "default_instance", input);
  free(input);
  assert_string_equal(json_string_value(json_object_get(r, "instance")),
                      "kst-roomy");
  json_decref(r);
  r = hook_ok(lua, hooks, "default_instance", di_input);
  assert_string_equal(json_string_value(json_object_get(r, "instance")),
                      "kst-dest");
  json_decref(r);
  /* before_batch_window: a scheduled batch is always accepted. */
  assert_json(hook_ok(lua, hooks, "before_batch",
                      "{\"batch\":1,\"when\":\"2027-03-06T02:00:00+08:00\"}"),
              "{\"accept\":true}");
#undef EX
  km_lua_free(lua);
}

/* What the engine's host->hook delivered (km_jcall_cb). */
static void on_jdone(const km_jres_t *res, void *ud) {
  outcome_t *o = ud;
  o->calls++;
  o->status = res->status;
  if (res->status == 0) o->body = json_deep_copy(res->body);
  if (res->err != NULL) o->err = *res->err;
}

/* host->hook on a hand-built pipeline in plan mode: the hook's write goes
 * through the pipeline's call, which refuses it before touching the
 * network. */
static void test_host_hook_plan_mode(void **st) {
  (void)st;
  km_engine_t e;
  memset(&e, 0, sizeof(e));
  e.o.loop = &loop;
  e.o.mode = KM_MODE_PLAN;
  km_pipeline_t p;
  memset(&p, 0, sizeof(p));
  p.e = &e;
  static const km_hookcfg_t plan_write = {.rotation =
                                              HOOKS "plan_write_only.lua"};
  km_target_t t = {.account = "app-a",
                   .account_id = "1234567890123456",
                   .region = "cn-hangzhou",
                   .hooks = &plan_write};
  p.t = &t;
  json_t *in = json_object();
  outcome_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(km__engine_shost.hook(&p, "rotation", in, on_jdone, &o), 0);
  while (o.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(o.status, 0);
  assert_json(o.body, "{\"change\":false,\"refused\":true,"
                      "\"msg\":\"action refused in plan mode: only read "
                      "actions are sent\","
                      "\"code\":\"EPERM\"}");
  assert_int_equal(p.pending, 0);
  /* No file and no default (KMSMIG_LUA_DIR points elsewhere): ENOENT. */
  setenv("KMSMIG_LUA_DIR", KM_TEST_DATA "/lua", 1);
  km_pipeline_t q = p;
  q.lua = NULL;
  km_target_t tq = t;
  tq.hooks = &none;
  q.t = &tq;
  assert_int_equal(km__engine_shost.hook(&q, "before_batch", in, on_jdone, &o),
                   KM_ENOENT);
  unsetenv("KMSMIG_LUA_DIR");
  km__host_hooks_close(&p);
  km__host_hooks_close(&q);
  json_decref(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_default_rotation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_instance, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batches_and_post_check, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_shapes_and_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_manifest_examples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_host_hook_plan_mode, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
