/* Hook runs: one coroutine per hook call, resumed by the loop.
 *
 * A run owns a main coroutine (the hook) and the threads the hook spawns
 * (kmsmig.spawn).  Coroutines never resume one another directly: each one
 * that can make progress sits in the run's ready queue, and drive() resumes
 * them one by one from the loop (a kms.call response, the start timer).  A
 * coroutine leaves the queue by yielding for a cloud call (KM_CO_CALL), for
 * another thread (KM_CO_WAIT), or by ending.  The run ends when the main
 * coroutine and every spawned thread have ended; its result is the table
 * the main coroutine returned (OpenResty: the entry thread and its light
 * threads).
 *
 * Budgets.  A count hook on every coroutine adds up the instructions of the
 * whole run and checks the wall clock; when either runs out it yields the
 * running coroutine from inside the hook (Lua 5.4 allows that for count
 * hooks), which a pcall in the hook cannot catch, and drive() ends the run.
 * Where the coroutine cannot yield (inside a metamethod or table.sort's
 * comparator) the hook raises instead and raises again at every later tick
 * until it can yield.  Time spent waiting for the cloud is covered by the
 * run's timer, which fires at the deadline.
 *
 * Failure.  The error's message, the innermost Lua position (file:line) and
 * a traceback of the failing coroutine go to the run's callback as
 * KM_ELUA; nothing outside the run is touched, so the pipeline's other
 * hooks and every other pipeline's state go on working.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/priv.h"
#include "util/util.h"

#define HOOK_EVERY 1000 /* instructions between budget checks */

/* ---- coroutines ---- */

km_lua_co_t *km__lua_self(lua_State *L) {
  return *(km_lua_co_t **)lua_getextraspace(L);
}

km_lua_co_t *km__lua_co_new(km_lua_run_t *run, lua_State *T, int ref) {
  km_lua_co_t *co = km_xcalloc(1, sizeof(*co));
  co->run = run;
  co->T = T;
  co->ref = ref;
  co->state = KM_CO_READY;
  *(km_lua_co_t **)lua_getextraspace(T) = co;
  lua_sethook(T, km__lua_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
  co->next = run->cos;
  run->cos = co;
  return co;
}

void km__lua_enqueue(km_lua_co_t *co) {
  km_lua_run_t *run = co->run;
  co->state = KM_CO_READY;
  co->next_ready = NULL;
  if (run->ready_tail != NULL)
    run->ready_tail->next_ready = co;
  else
    run->ready_head = co;
  run->ready_tail = co;
}

static km_lua_co_t *dequeue(km_lua_run_t *run) {
  km_lua_co_t *co = run->ready_head;
  if (co == NULL) return NULL;
  run->ready_head = co->next_ready;
  if (run->ready_head == NULL) run->ready_tail = NULL;
  co->next_ready = NULL;
  return co;
}

static void where_of(lua_State *T, char *out, size_t len);

/* ---- budgets ---- */

static void kill_run(km_lua_run_t *run, const char *fmt, uint64_t limit) {
  if (run->killed) return;
  run->killed = true;
  snprintf(run->kill_msg, sizeof(run->kill_msg), fmt, limit);
}

void km__lua_count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  void *ud = NULL;
  lua_getallocf(L, &ud);
  km_lua_t *vm = ud;
  km_lua_run_t *run = vm->running;
  if (run == NULL) return;
  run->instructions += HOOK_EVERY;
  if (run->instructions > vm->o.max_instructions)
    kill_run(run,
             "hook ran more than %" PRIu64 " instructions (an endless loop?)",
             vm->o.max_instructions);
  else if (km_now_ms() > run->deadline_ms)
    kill_run(run, "hook ran longer than its budget of %" PRIu64 " ms",
             vm->o.max_ms);
  if (!run->killed) return;
  if (run->kill_text == NULL) {
    where_of(L, run->kill_where, sizeof(run->kill_where));
    bool enforce = vm->enforce;
    vm->enforce = false; /* the main thread is idle: build it there */
    luaL_traceback(vm->L, L, run->kill_msg, 0);
    run->kill_text = km_xstrdup(lua_tostring(vm->L, -1));
    lua_pop(vm->L, 1);
    vm->enforce = enforce;
  }
  if (lua_isyieldable(L)) {
    lua_yield(L, 0); /* takes effect when the hook returns */
    return;
  }
  luaL_error(L, "%s", run->kill_msg);
}

/* ---- failures ---- */

/* "file:line" of the innermost Lua frame of T, or "?". */
static void where_of(lua_State *T, char *out, size_t len) {
  lua_Debug ar;
  snprintf(out, len, "?");
  for (int level = 0; lua_getstack(T, level, &ar); level++) {
    if (!lua_getinfo(T, "Sl", &ar)) break;
    if (ar.currentline > 0) {
      snprintf(out, len, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
}

/* The message and traceback of T's failure (owned).  msg NULL: the error
 * object on top of T. */
static char *describe(km_lua_t *vm, lua_State *T, int status, const char *msg) {
  lua_State *L = vm->L;
  char buf[256];
  if (msg == NULL) {
    if (lua_type(T, -1) == LUA_TSTRING)
      msg = lua_tostring(T, -1);
    else {
      snprintf(buf, sizeof(buf), "(error object is a %s value)",
               luaL_typename(T, -1));
      msg = buf;
    }
    if (status == LUA_ERRMEM) {
      snprintf(buf, sizeof(buf),
               "not enough memory: the pipeline's hooks may use %zu MiB",
               vm->mem_cap / (1024 * 1024));
      msg = buf;
    }
  }
  luaL_traceback(L, T, msg, 0);
  char *text = km_xstrdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  return text;
}

/* ---- ending a run ---- */

static void on_run_closed(uv_handle_t *h) {
  km_lua_run_t *run = h->data;
  free(run);
}

/* Ends run with status: result (owned; NULL on failure) goes to the
 * callback as the object the hook returned. */
static void finish(km_lua_run_t *run, int status, const char *where,
                   const char *text, json_t *result) {
  km_lua_t *vm = run->vm;
  run->finished = true;
  for (km_lua_run_t **pp = &vm->runs; *pp != NULL; pp = &(*pp)->next)
    if (*pp == run) {
      *pp = run->next;
      break;
    }
  bool had_cos = run->cos != NULL;
  while (run->cos != NULL) {
    km_lua_co_t *co = run->cos;
    run->cos = co->next;
    if (co->pending != NULL) co->pending->co = NULL; /* orphaned */
    if (co->handle != NULL) co->handle->co = NULL;
    lua_resetthread(co->T);
    km__lua_unref(vm->L, co->ref);
    free(co->err);
    free(co);
  }
  if (had_cos && status < 0) lua_gc(vm->L, LUA_GCCOLLECT);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (status < 0) {
    err.code = status;
    snprintf(err.where, sizeof(err.where), "%s", where != NULL ? where : "");
    snprintf(err.text, sizeof(err.text), "%s hook (%s): %s", run->name,
             run->path, text);
  }
  json_decref(run->input);
  run->input = NULL;
  /* A table the main coroutine returned before a spawned thread failed. */
  json_decref(run->result);
  run->result = NULL;
  free(run->kill_text);
  run->kill_text = NULL;
  km_lua_obj_cb cb = run->cb;
  void *ud = run->ud;
  free(run->path);
  free(run->name);
  run->path = run->name = NULL;
  uv_close((uv_handle_t *)&run->timer, on_run_closed);
  /* Last: it may free the runtime (result is not the runtime's). */
  cb(status, status < 0 ? NULL : result, status < 0 ? &err : NULL, ud);
  json_decref(result);
}

static void fail(km_lua_run_t *run, lua_State *T, const char *text) {
  char where[192];
  if (run->kill_where[0] != '\0')
    snprintf(where, sizeof(where), "%s", run->kill_where);
  else if (T != NULL)
    where_of(T, where, sizeof(where));
  else
    snprintf(where, sizeof(where), "%s", run->path);
  finish(run, KM_ELUA, where, text, NULL);
}

static void fail_co(km_lua_run_t *run, km_lua_co_t *co, int status,
                    const char *msg) {
  char *text = describe(run->vm, co->T, status, msg);
  fail(run, co->T, text);
  free(text);
}

void km__lua_cancel_runs(km_lua_t *vm) {
  while (vm->runs != NULL)
    finish(vm->runs, KM_ECANCELED, NULL, "canceled: the pipeline closed", NULL);
}

/* ---- driving ---- */

/* The main coroutine returned: its first result becomes the run's JSON. */
static void main_done(km_lua_run_t *run, km_lua_co_t *co) {
  char why[192];
  if (co->nres < 1 || lua_type(co->T, -co->nres) != LUA_TTABLE) {
    snprintf(why, sizeof(why),
             "the hook returned %s; it must return a table (docs/hooks.md)",
             co->nres < 1 ? "nothing" : luaL_typename(co->T, -co->nres));
    fail(run, NULL, why);
    return;
  }
  char conv[160];
  json_t *j = km__lua_to_json(co->T, -co->nres, conv, sizeof(conv));
  if (j == NULL) {
    snprintf(why, sizeof(why), "the returned table is not JSON: %s", conv);
    fail(run, NULL, why);
    return;
  }
  lua_pop(co->T, co->nres);
  co->nres = 0;
  run->result = j;
}

/* A spawned thread ended: hand its outcome to its waiter, if any. */
static void child_ended(km_lua_co_t *co) {
  km_lua_co_t *w = co->waiter;
  if (w == NULL) return;
  co->waiter = NULL;
  co->waited = true;
  lua_checkstack(w->T, co->nres + 2);
  if (co->state == KM_CO_DONE) {
    lua_pushboolean(w->T, 1);
    lua_xmove(co->T, w->T, co->nres);
    w->nargs = co->nres + 1;
    co->nres = 0;
  } else {
    lua_pushboolean(w->T, 0);
    lua_pushstring(w->T, co->err);
    w->nargs = 2;
  }
  km__lua_enqueue(w);
}

/* Resumes co once; returns false when the run ended. */
static bool step(km_lua_run_t *run, km_lua_co_t *co) {
  km_lua_t *vm = run->vm;
  int nres = 0, nargs = co->nargs;
  co->nargs = 0;
  vm->running = run;
  vm->enforce = true;
  int rc = lua_resume(co->T, NULL, nargs, &nres);
  vm->enforce = false;
  vm->running = NULL;
  if (run->killed) {
    if (run->kill_text != NULL)
      fail(run, co->T, run->kill_text);
    else
      fail_co(run, co, LUA_ERRRUN, run->kill_msg);
    return false;
  }
  if (rc == LUA_YIELD) {
    if (co->state == KM_CO_CALL || co->state == KM_CO_WAIT) return true;
    /* A bare coroutine.yield at the hook's own level: nothing would ever
     * resume it. */
    lua_pop(co->T, nres);
    fail_co(run, co, LUA_ERRRUN,
            "coroutine.yield() outside a coroutine the hook created (use "
            "kmsmig.spawn/kmsmig.wait for concurrency)");
    return false;
  }
  if (rc != LUA_OK) {
    if (co == run->main) {
      fail_co(run, co, rc, NULL);
      return false;
    }
    co->err = describe(vm, co->T, rc, NULL);
    co->state = KM_CO_FAILED;
    child_ended(co);
    return true;
  }
  co->state = KM_CO_DONE;
  co->nres = nres;
  if (co == run->main) {
    main_done(run, co);
    return !run->finished;
  }
  child_ended(co);
  return true;
}

/* After the queue drained: is the run complete, or stuck? */
static void settle(km_lua_run_t *run) {
  if (run->main == NULL || run->main->state != KM_CO_DONE) {
    if (run->inflight == 0)
      fail(run, NULL,
           "every thread of the hook is waiting for another one: "
           "nothing can make progress (kmsmig.wait cycle)");
    return;
  }
  for (km_lua_co_t *co = run->cos; co != NULL; co = co->next)
    if (co->state != KM_CO_DONE && co->state != KM_CO_FAILED) {
      if (run->inflight == 0)
        fail(run, NULL,
             "a spawned thread waits for a thread that never "
             "ends (kmsmig.wait cycle)");
      return; /* still working: the run ends with its last thread */
    }
  for (km_lua_co_t *co = run->cos; co != NULL; co = co->next)
    if (co->state == KM_CO_FAILED && !co->waited) {
      char *text = km_xasprintf("a spawned thread failed and nobody "
                                "waited for it: %s",
                                co->err);
      fail(run, NULL, text);
      free(text);
      return;
    }
  json_t *result = run->result;
  run->result = NULL;
  finish(run, 0, NULL, NULL, result);
}

void km__lua_drive(km_lua_run_t *run) {
  km_lua_co_t *co;
  while ((co = dequeue(run)) != NULL)
    if (!step(run, co)) return;
  settle(run);
}

/* ---- starting a run ---- */

static void on_run_timer(uv_timer_t *t) {
  km_lua_run_t *run = t->data;
  km_lua_t *vm = run->vm;
  if (run->started) {
    /* The deadline, while every coroutine waits for the cloud. */
    kill_run(run, "hook ran longer than its budget of %" PRIu64 " ms",
             vm->o.max_ms);
    km_lua_co_t *co = run->main;
    for (km_lua_co_t *c = run->cos; c != NULL; c = c->next)
      if (c->state == KM_CO_CALL) {
        co = c; /* show what it was waiting for */
        break;
      }
    char *text = describe(vm, co->T, LUA_ERRRUN, run->kill_msg);
    fail(run, co->T, text);
    free(text);
    return;
  }
  run->started = true;
  run->deadline_ms = km_now_ms() + vm->o.max_ms;
  lua_State *L = vm->L;
  lua_State *T = lua_newthread(L);
  int ref = km__lua_ref(L);
  run->main = km__lua_co_new(run, T, ref);
  lua_getfield(T, LUA_REGISTRYINDEX, KM_LUA_REG_RUN);
  lua_pushstring(T, run->path);
  lua_pushstring(T, run->name);
  km__lua_push_json(T, run->input);
  run->main->nargs = 3;
  km__lua_enqueue(run->main);
  uv_timer_start(&run->timer, on_run_timer, vm->o.max_ms, 0);
  km__lua_drive(run);
}

/* A caller who takes the answer as text (km_lua_run, km_lua_hook). */
typedef struct {
  km_plugin_call_cb cb;
  void *ud;
} text_run_t;

void *km__lua_text_cb_new(km_plugin_call_cb cb, void *ud) {
  text_run_t *t = km_xmalloc(sizeof(*t));
  t->cb = cb;
  t->ud = ud;
  return t;
}

void km__lua_on_text(int status, json_t *out, const km_err_t *err, void *ud) {
  text_run_t t = *(text_run_t *)ud;
  free(ud);
  char *text =
      out != NULL ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  km_plugin_call_result_t res = {status, text, err};
  t.cb(&res, t.ud);
  free(text);
}

int km_lua_run(km_lua_t *vm, const char *path, const char *name,
               const char *input_json, km_plugin_call_cb cb, void *ud) {
  if (path == NULL || name == NULL || cb == NULL) return KM_EINVAL;
  json_error_t jerr;
  json_t *input = json_loads(input_json != NULL ? input_json : "{}", 0, &jerr);
  void *t = km__lua_text_cb_new(cb, ud);
  int rc = km_lua_run_json(vm, path, name, input, km__lua_on_text, t);
  if (rc < 0) free(t);
  json_decref(input);
  return rc;
}

int km_lua_run_json(km_lua_t *vm, const char *path, const char *name,
                    json_t *input, km_lua_obj_cb cb, void *ud) {
  if (path == NULL || name == NULL || cb == NULL) return KM_EINVAL;
  if (!json_is_object(input)) return KM_EINVAL;
  int rc = km__lua_open(vm);
  if (rc < 0) return rc;
  km_lua_run_t *run = km_xcalloc(1, sizeof(*run));
  run->vm = vm;
  run->path = km_xstrdup(path);
  run->name = km_xstrdup(name);
  run->input = json_incref(input);
  run->cb = cb;
  run->ud = ud;
  uv_timer_init(vm->o.loop, &run->timer);
  run->timer.data = run;
  /* Start from the loop, never inside the caller's stack. */
  uv_timer_start(&run->timer, on_run_timer, 0, 0);
  run->next = vm->runs;
  vm->runs = run;
  return 0;
}
