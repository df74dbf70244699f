/* Private structures of the Lua hook runtime, shared by vm.c (the state,
 * its allocator and sandbox), co.c (hook runs and their coroutines), api.c
 * (the kms and kmsmig tables) and json.c (JSON <-> Lua values). */
#ifndef KM_LUA_PRIV_H
#define KM_LUA_PRIV_H

#include <stdbool.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "lua/lua.h"

typedef struct km_lua_run_s km_lua_run_t;
typedef struct km_lua_co_s km_lua_co_t;
typedef struct km_lua_pcall_s km_lua_pcall_t;

/* Registry keys (named fields, not luaL_ref references). */
#define KM_LUA_REG_ARRAY "kmsmig.array"   /* metatable marking JSON arrays */
#define KM_LUA_REG_THREAD "kmsmig.thread" /* metatable of spawn handles */
#define KM_LUA_REG_RUN "kmsmig.run"       /* the prelude's hook trampoline */

/* The hook names km_lua_hook knows (hooks.c). */
#define KM__LUA_NHOOKS 5

struct km_lua_s {
  km_lua_opts_t o; /* strings below are owned copies */
  char *account, *account_id, *region, *mode, *lua_dir;
  char **dirs; /* require folders: lua_dir first, then the hook folders */
  size_t ndirs;
  lua_State *L; /* NULL until the first run */
  /* Memory accounting for the allocator; the cap is enforced only while
   * hook code runs (enforce), so the runtime's own bookkeeping never fails
   * half-way. */
  size_t mem, mem_cap;
  bool enforce;
  km_lua_run_t *running; /* whose coroutine is executing now */
  km_lua_run_t *runs;    /* runs in flight (list) */
  /* Per hook name (hooks.c): whether lua_dir holds its default file, 0
   * until first asked.  Asked once per VM, as the VM compiles a hook file
   * once (a rotation hook runs per key: an access(2) each cost ~13 µs). */
  signed char has_default[KM__LUA_NHOOKS];
};

typedef enum {
  KM_CO_READY = 0, /* in the ready queue */
  KM_CO_CALL,      /* waiting for kms.call */
  KM_CO_WAIT,      /* waiting for another thread (kmsmig.wait) */
  KM_CO_DONE,      /* returned; results on its stack */
  KM_CO_FAILED     /* raised; error text in err */
} km_co_state_t;

/* A spawn handle (full userdata): points at its coroutine until either
 * goes away. */
typedef struct km_lua_handle_s {
  km_lua_co_t *co;
} km_lua_handle_t;

/* One coroutine of a run: the hook's own (main) or a kmsmig.spawn thread.
 * Its lua_State's extra space points here; user-made coroutines see NULL
 * (Lua copies the extra space from the main thread, whose value is NULL). */
struct km_lua_co_s {
  km_lua_run_t *run;
  lua_State *T;
  int ref; /* registry reference anchoring T */
  km_co_state_t state;
  int nargs;               /* values on T's stack for the next resume */
  int nres;                /* results on T's stack once DONE */
  bool waited;             /* someone collected the results or the error */
  char *err;               /* FAILED: owned message with traceback */
  km_lua_pcall_t *pending; /* in-flight kms.call */
  km_lua_co_t *waiter;     /* who waits for this thread */
  km_lua_handle_t *handle; /* spawn handle, if still alive */
  km_lua_co_t *next;       /* run's list of coroutines */
  km_lua_co_t *next_ready; /* ready queue */
};

/* A kms.call in flight.  When the run ends first it is orphaned (co set
 * NULL): the callback then only frees it. */
struct km_lua_pcall_s {
  km_lua_co_t *co;
  bool starting; /* the callback came back inside the start */
  int sync_n;    /* values pushed by such an early callback */
};

struct km_lua_run_s {
  km_lua_t *vm;
  uv_timer_t timer; /* first the start, then the deadline */
  bool started;
  char *path, *name;
  json_t *input;
  km_lua_obj_cb cb;
  void *ud;
  uint64_t deadline_ms;
  uint64_t instructions;
  km_lua_co_t *main;
  km_lua_co_t *cos; /* every coroutine of the run */
  km_lua_co_t *ready_head, *ready_tail;
  size_t inflight; /* kms.call in flight */
  bool killed;     /* a budget ran out: stop at the next chance */
  char kill_msg[160];
  /* Where, and the traceback, as the count hook saw them: after the yield
   * Lua reports the instruction before the one it stopped at. */
  char kill_where[192];
  char *kill_text;
  bool finished;
  json_t *result;     /* the main coroutine's table, once it returned */
  km_lua_run_t *next; /* vm's list */
};

/* vm.c */
int km__lua_open(km_lua_t *vm);
void km__lua_log(km_lua_t *vm, int level, const char *msg);
/* Counted registry references. */
int km__lua_ref(lua_State *L);
void km__lua_unref(lua_State *L, int ref);

/* co.c */
/* The callback behind km_lua_run and km_lua_hook: km__lua_on_text with the
 * data of km__lua_text_cb_new (owned; freed when it calls back, or by the
 * caller with free() when the start failed) prints the answer and hands
 * it to cb. */
void *km__lua_text_cb_new(km_plugin_call_cb cb, void *ud);
void km__lua_on_text(int status, json_t *out, const km_err_t *err, void *ud);
/* Ends every run in flight with KM_ECANCELED (their callbacks run). */
void km__lua_cancel_runs(km_lua_t *vm);
void km__lua_count_hook(lua_State *L, lua_Debug *ar);
/* The coroutine running L, or NULL (main state or a user coroutine). */
km_lua_co_t *km__lua_self(lua_State *L);
void km__lua_enqueue(km_lua_co_t *co);
/* Resumes the run's ready coroutines; ends the run when it is complete. */
void km__lua_drive(km_lua_run_t *run);
/* Creates a coroutine of run (its thread anchored, hooked, registered). */
km_lua_co_t *km__lua_co_new(km_lua_run_t *run, lua_State *T, int ref);

/* api.c: installs the kms and kmsmig tables and the prelude. */
void km__lua_api_open(lua_State *L, km_lua_t *vm);

/* json.c */
/* Pushes v as a Lua value (arrays get the array metatable).  Must run with
 * the memory cap lifted or in protected mode. */
void km__lua_push_json(lua_State *L, const json_t *v);
/* Converts the value at idx; NULL with why (>= 128 bytes) on failure.  Does
 * not raise. */
json_t *km__lua_to_json(lua_State *L, int idx, char *why, size_t whylen);
/* kmsmig.json_encode / json_decode */
int km__lua_json_encode(lua_State *L);
int km__lua_json_decode(lua_State *L);

#endif
