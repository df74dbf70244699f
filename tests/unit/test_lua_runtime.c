/* The Lua hook runtime driven directly (no engine), against a fake cloud
 * that answers each call after 20 ms from a loop timer: a cloud call
 * yields and resumes with the decoded response; 200 calls from spawned
 * threads overlap instead of queueing; an endless loop, an error, a memory
 * bomb and a hook that waits too long each fail with file:line and a
 * traceback while another pipeline's state keeps working; plan mode's
 * refusal reads as the documented message; the sandbox holds; registry
 * references are back to zero and the loop closes clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../lua/fake_call.h"
#include "lua/lua.h"
#include "util/util.h"

#define HOOKS KM_TEST_DATA "/lua/"

typedef struct fix_s {
  uv_loop_t loop;
  fake_t fake;
  char log[2048];
} fix_t;

static void on_log(void *ud, int level, const char *msg) {
  fix_t *f = ud;
  size_t len = strlen(f->log);
  snprintf(f->log + len, sizeof(f->log) - len, "%d:%s\n", level, msg);
}

static void fix_init(fix_t *f) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->fake.loop = &f->loop;
  f->fake.delay_ms = 20;
}

/* Ends a test: the runtimes are freed, every timer has run, nothing is
 * referenced from the registry and the loop has no handle left. */
static void fix_done(fix_t *f) {
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(km_lua_live_refs(), 0);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

typedef struct budget_s {
  uint64_t instructions, ms;
  size_t memory;
} budget_t;

static km_lua_t *new_lua(fix_t *f, const char *account, const char *mode,
                         const budget_t *b) {
  static const char *const dirs[] = {KM_TEST_DATA "/lua"};
  km_lua_opts_t o = {
      .loop = &f->loop,
      .call = fake_call,
      .call_ud = &f->fake,
      .log = on_log,
      .log_ud = f,
      .account = account,
      .account_id = "1234567890123456",
      .region = "cn-hangzhou",
      .mode = mode,
      .require_dirs = dirs,
      .nrequire_dirs = 1,
      .max_instructions = b != NULL ? b->instructions : 0,
      .max_ms = b != NULL ? b->ms : 0,
      .max_memory = b != NULL ? b->memory : 0,
  };
  return km_lua_new(&o);
}

static void run_hook(fix_t *f, km_lua_t *lua, const char *file,
                     const char *input, outcome_t *o) {
  memset(o, 0, sizeof(*o));
  char path[512];
  snprintf(path, sizeof(path), "%s%s", HOOKS, file);
  assert_int_equal(km_lua_run(lua, path, "test", input, on_done, o), 0);
  assert_int_equal(o->calls, 0); /* never inside the start */
  while (o->calls == 0)
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(o->calls, 1);
}

static const char *sfield(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static json_int_t ifield(const json_t *o, const char *k) {
  return json_integer_value(json_object_get(o, k));
}

static void test_call_yields_and_resumes(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  run_hook(&f, lua, "echo.lua", "{\"kind\":\"key\",\"list\":[]}", &o);
  assert_int_equal(o.status, 0);
  assert_int_equal(f.fake.calls, 1);
  /* Parameters go out sorted, as strings; a table becomes JSON text. */
  assert_string_equal(f.fake.last_params, "A=x&B=2&C=true&T={\"k\":\"v\"}");
  json_t *res = json_object_get(o.body, "res");
  assert_string_equal(sfield(res, "Action"), "Echo");
  assert_string_equal(sfield(json_object_get(res, "Params"), "B"), "2");
  /* The input came through as a table and back, empty list included. */
  json_t *in = json_object_get(o.body, "input");
  assert_string_equal(sfield(in, "kind"), "key");
  assert_true(json_is_array(json_object_get(in, "list")));
  assert_string_equal(sfield(o.body, "account"), "app-a");
  assert_string_equal(sfield(o.body, "account_id"), "1234567890123456");
  assert_string_equal(sfield(o.body, "region"), "cn-hangzhou");
  assert_string_equal(sfield(o.body, "mode"), "run");
  assert_non_null(strstr(f.log, "1:echo hook starts\n"));
  assert_non_null(strstr(f.log, "2:printed\t1\n"));
  json_decref(o.body);
  km_lua_free(lua);
  fix_done(&f);
}

static double elapsed_ms(uint64_t t0) {
  return (double)(uv_hrtime() - t0) / 1e6;
}

static void test_200_calls_overlap(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  uint64_t t0 = uv_hrtime();
  run_hook(&f, lua, "many.lua", "{\"n\":200}", &o);
  double ms = elapsed_ms(t0);
  assert_int_equal(o.status, 0);
  assert_int_equal(ifield(o.body, "ok"), 200);
  assert_int_equal(ifield(o.body, "sum"), 200 * 201 / 2);
  assert_int_equal(f.fake.calls, 200);
  /* All 200 were in flight at once (max_inflight says it): about one 20 ms
   * round trip, well under 200 of them (4 s) in a row even on a busy
   * machine. */
  assert_int_equal(f.fake.max_inflight, 200);
  assert_true(ms >= 20.0);
  assert_true(ms < 20.0 * 100);
  json_decref(o.body);

  /* kms.call_many: the same through the prelude helper. */
  f.fake.max_inflight = 0;
  t0 = uv_hrtime();
  run_hook(&f, lua, "call_many.lua", "{\"n\":200}", &o);
  ms = elapsed_ms(t0);
  assert_int_equal(o.status, 0);
  assert_int_equal(ifield(o.body, "n"), 201);
  assert_string_equal(sfield(o.body, "first"), "1");
  assert_true(json_is_true(json_object_get(o.body, "failed")));
  assert_string_equal(sfield(o.body, "code"), "Forbidden.NoPermission");
  assert_string_equal(sfield(o.body, "message"), "not allowed to do that");
  assert_int_equal(f.fake.max_inflight, 201);
  assert_true(ms < 20.0 * 100);
  json_decref(o.body);
  km_lua_free(lua);
  fix_done(&f);
}

/* A failing hook: KM_ELUA, where = file:line (line > 0, or exactly
 * `line` when given), the message and a traceback in the text. */
static void assert_failed(const outcome_t *o, const char *file, int line,
                          const char *needle) {
  assert_int_equal(o->status, KM_ELUA);
  assert_int_equal(o->err.code, KM_ELUA);
  char want[256];
  snprintf(want, sizeof(want), "%s%s:", HOOKS, file);
  assert_non_null(strstr(o->err.where, file));
  if (line > 0) {
    snprintf(want, sizeof(want), "%s:%d", file, line);
    assert_non_null(strstr(o->err.where, want));
  } else {
    const char *colon = strrchr(o->err.where, ':');
    assert_non_null(colon);
    assert_true(atoi(colon + 1) > 0);
  }
  assert_non_null(strstr(o->err.text, needle));
  assert_non_null(strstr(o->err.text, "stack traceback:"));
}

/* The other pipeline's state, and the failed one, still run hooks. */
static void assert_still_works(fix_t *f, km_lua_t *lua) {
  outcome_t ok;
  run_hook(f, lua, "echo.lua", "{}", &ok);
  assert_int_equal(ok.status, 0);
  assert_string_equal(sfield(json_object_get(ok.body, "res"), "Action"),
                      "Echo");
  json_decref(ok.body);
}

static void test_failures_stay_in_their_call(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  /* The instruction budget, not the wall one, must end the loops: a wall
   * budget far above what 300,000 instructions take even under ASan on a
   * loaded machine (with 300 ms, four tests per core under ASan saw the
   * wall budget fire first).  slow.lua below has a state of its own with
   * a 300 ms wall budget. */
  budget_t b = {.instructions = 300000, .ms = 10000, .memory = 8u << 20};
  budget_t bw = {.instructions = 300000, .ms = 300, .memory = 8u << 20};
  km_lua_t *a = new_lua(&f, "app-a", "run", &b);
  km_lua_t *other = new_lua(&f, "app-b", "run", &b);
  outcome_t o;

  run_hook(&f, a, "loop.lua", "{}", &o);
  /* Line 5 is the loop's body; the traceback goes through spin(). */
  assert_failed(&o, "loop.lua", 5, "instructions (an endless loop?)");
  assert_non_null(strstr(o.err.text, "loop.lua:5: in upvalue 'spin'"));
  assert_non_null(strstr(o.err.text, "loop.lua:10:"));
  assert_still_works(&f, other);

  run_hook(&f, a, "pcall_loop.lua", "{}", &o);
  assert_failed(&o, "pcall_loop.lua", 0, "instructions");
  assert_still_works(&f, other);

  run_hook(&f, a, "co_loop.lua", "{}", &o);
  assert_failed(&o, "co_loop.lua", 5, "instructions");
  assert_still_works(&f, other);

  /* A looping __gc finalizer would run with hooks off (no budget): the
   * sandbox refuses to create one. */
  run_hook(&f, a, "gc_loop.lua", "{}", &o);
  assert_failed(&o, "gc_loop.lua", 4, "__gc finalizers are not allowed");
  assert_still_works(&f, other);

  run_hook(&f, a, "error.lua", "{}", &o);
  assert_failed(&o, "error.lua", 4, "attempt to index a nil value");
  assert_non_null(strstr(o.err.text, "error.lua:4:"));
  assert_non_null(strstr(o.err.text, "'outer'"));
  assert_still_works(&f, other);

  run_hook(&f, a, "membomb.lua", "{}", &o);
  assert_failed(&o, "membomb.lua", 0, "not enough memory");
  assert_true(km_lua_memory(a) < (8u << 20));
  assert_still_works(&f, other);

  /* The wall budget ends a hook that waits on the cloud over and over; it
   * ends it near its budget, not after it (a generous bound: this is not a
   * timing test, the machine may be busy). */
  km_lua_t *w = new_lua(&f, "app-c", "run", &bw);
  uint64_t t0 = uv_hrtime();
  run_hook(&f, w, "slow.lua", "{}", &o);
  assert_failed(&o, "slow.lua", 0, "longer than its budget of 300 ms");
  assert_true(elapsed_ms(t0) < 300 + 2000);
  assert_still_works(&f, other);
  km_lua_free(w);

  run_hook(&f, a, "bare_yield.lua", "{}", &o);
  assert_failed(&o, "bare_yield.lua", 0, "coroutine.yield()");

  run_hook(&f, a, "not_table.lua", "{}", &o);
  assert_int_equal(o.status, KM_ELUA);
  assert_non_null(strstr(o.err.text, "returned string; it must return a "
                                     "table"));

  run_hook(&f, a, "no-such-file.lua", "{}", &o);
  assert_int_equal(o.status, KM_ELUA);
  assert_non_null(strstr(o.err.text, "cannot open"));

  /* The failed calls did not poison the state they ran in. */
  assert_still_works(&f, a);
  km_lua_free(a);
  km_lua_free(other);
  fix_done(&f);
}

static void test_plan_mode_refuses_writes(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  f.fake.plan = true;
  km_lua_t *lua = new_lua(&f, "app-a", "plan", NULL);
  outcome_t o;
  run_hook(&f, lua, "plan_write.lua", "{}", &o);
  assert_int_equal(o.status, 0);
  assert_true(json_is_true(json_object_get(o.body, "refused")));
  assert_string_equal(sfield(o.body, "msg"),
                      "action refused in plan mode: only read actions "
                      "are sent");
  assert_string_equal(sfield(o.body, "code"), "EPERM");
  assert_true(json_is_true(json_object_get(o.body, "read_ok")));
  assert_int_equal(f.fake.calls, 1); /* only the read went out */
  json_decref(o.body);
  km_lua_free(lua);
  fix_done(&f);
}

static void test_sandbox(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  run_hook(&f, lua, "sandbox.lua", "{}", &o);
  assert_int_equal(o.status, 0);
  static const char *const yes[] = {
      "io",       "os_execute", "os_getenv", "os_time",      "dofile",
      "loadfile", "debug",      "package",   "binary_chunk", "util",
      "bad_name", "outside",    "gc_stop"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(yes); i++) {
    if (!json_is_true(json_object_get(o.body, yes[i])))
      fail_msg("sandbox check '%s' does not hold", yes[i]);
  }
  assert_int_equal(ifield(o.body, "text_chunk"), 42);
  assert_int_equal(ifield(o.body, "helper"), 42);
  json_decref(o.body);

  run_hook(&f, lua, "user_co.lua", "{}", &o);
  assert_int_equal(o.status, 0);
  assert_true(json_is_false(json_object_get(o.body, "ok")));
  assert_non_null(
      strstr(sfield(o.body, "err"), "not from a coroutine the hook created"));
  json_decref(o.body);
  km_lua_free(lua);
  fix_done(&f);
}

static void test_states_are_separate(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *a = new_lua(&f, "app-a", "run", NULL);
  km_lua_t *b = new_lua(&f, "app-b", "run", NULL);
  outcome_t o;
  run_hook(&f, a, "globals.lua", "{}", &o);
  json_decref(o.body);
  run_hook(&f, a, "globals.lua", "{}", &o);
  assert_int_equal(ifield(o.body, "calls"), 2); /* same pipeline: shared */
  json_decref(o.body);
  run_hook(&f, b, "globals.lua", "{}", &o);
  assert_int_equal(ifield(o.body, "calls"), 1); /* another: its own */
  json_decref(o.body);
  km_lua_free(a);
  km_lua_free(b);
  fix_done(&f);
}

static void test_pages_and_errors(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  f.fake.delay_ms = 1;
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  run_hook(&f, lua, "pages.lua", "{}", &o);
  assert_int_equal(o.status, 0);
  assert_int_equal(ifield(o.body, "n"), 250);
  assert_string_equal(sfield(o.body, "first"), "key-000");
  assert_string_equal(sfield(o.body, "last"), "key-249");
  assert_int_equal(f.fake.calls, 3);
  json_decref(o.body);

  run_hook(&f, lua, "garbage.lua", "{}", &o);
  assert_int_equal(o.status, 0);
  assert_true(json_is_false(json_object_get(o.body, "parsed")));
  assert_non_null(strstr(sfield(o.body, "msg"), "malformed response"));
  assert_string_equal(sfield(o.body, "code"), "EPARSE");
  assert_true(json_is_true(json_object_get(o.body, "failed")));
  assert_string_equal(sfield(o.body, "msg2"), "not allowed to do that");
  assert_string_equal(sfield(o.body, "code2"), "Forbidden.NoPermission");
  json_decref(o.body);
  km_lua_free(lua);
  fix_done(&f);
}

static void test_free_with_run_in_flight(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(km_lua_run(lua, HOOKS "slow.lua", "test", "{}", on_done, &o),
                   0);
  /* Let it start and wait for its first call, then close the pipeline. */
  while (f.fake.calls == 0)
    uv_run(&f.loop, UV_RUN_NOWAIT); /* ONCE could also run the answer */
  km_lua_free(lua);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, KM_ECANCELED);
  /* The orphaned call still answers later and frees only itself. */
  fix_done(&f);
  assert_int_equal(f.fake.calls, 1);
  assert_int_equal(f.fake.answered, 1);
  assert_int_equal(o.calls, 1);
}

static void test_bad_input(void **st) {
  (void)st;
  fix_t f;
  fix_init(&f);
  km_lua_t *lua = new_lua(&f, "app-a", "run", NULL);
  outcome_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(
      km_lua_run(lua, HOOKS "echo.lua", "test", "[1]", on_done, &o), KM_EINVAL);
  assert_int_equal(km_lua_run(lua, HOOKS "echo.lua", "test", "{", on_done, &o),
                   KM_EINVAL);
  km_lua_free(lua);
  fix_done(&f);
  assert_int_equal(o.calls, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_yields_and_resumes),
      cmocka_unit_test(test_200_calls_overlap),
      cmocka_unit_test(test_failures_stay_in_their_call),
      cmocka_unit_test(test_plan_mode_refuses_writes),
      cmocka_unit_test(test_sandbox),
      cmocka_unit_test(test_states_are_separate),
      cmocka_unit_test(test_pages_and_errors),
      cmocka_unit_test(test_free_with_run_in_flight),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
