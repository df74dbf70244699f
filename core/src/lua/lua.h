/* The Lua hook runtime (docs/hooks.md).
 *
 * One km_lua_t per pipeline: its own lua_State (created on the first hook
 * run, closed by km_lua_free), so pipelines share no Lua globals.  Every
 * hook call runs as a coroutine on the loop; kms.call yields it and the loop
 * resumes it when the response arrives.  Each call has an instruction and a
 * wall-clock budget; each state has a memory cap.  A hook that fails, loops
 * or exhausts memory fails its own call with file:line and a traceback.
 *
 * Threading: everything here runs on the loop thread.  Callbacks are never
 * called from inside the function that started the work.
 */
#ifndef KM_LUA_H
#define KM_LUA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "kmsmig/plugin.h"

typedef struct km_lua_s km_lua_t;

/* The operator's Lua hook files of one account (docs/hooks.md): NULL uses
 * the built-in hook in lua/.  All borrowed. */
typedef struct km_hookcfg_s {
  const char *rotation;
  const char *default_instance;
  const char *before_batch;
  const char *after_batch;
  char *const *post_check; /* run in order; all must pass */
  size_t npost_check;
} km_hookcfg_t;

/* Starts one cloud call: the same contract as km_host_api_t.call (returns 0
 * and calls cb exactly once later, or < 0 and never calls cb; KM_EPERM for
 * a write action in plan mode).  call_ud is km_lua_opts_t.call_ud. */
typedef int (*km_lua_call_fn)(void *call_ud, const char *product,
                              const char *action, const char *const *params,
                              size_t n, km_plugin_call_cb cb, void *ud);

/* Receives kmsmig.log / print lines (KM_LOG_* level; msg borrowed). */
typedef void (*km_lua_log_fn)(void *log_ud, int level, const char *msg);

typedef struct km_lua_opts_s {
  uv_loop_t *loop; /* borrowed; must outlive the runtime */
  km_lua_call_fn call;
  void *call_ud;
  km_lua_log_fn log; /* NULL: km_log prefixed with account and region */
  void *log_ud;
  /* Identity for kmsmig.account() etc.  Copied. */
  const char *account;
  const char *account_id;
  const char *region;
  const char *mode; /* "plan" | "run" */
  /* Where the default hooks and the helper module live; NULL:
   * km_lua_default_dir().  Copied. */
  const char *lua_dir;
  /* Extra folders `require` searches (the hook files' folders).  Copied. */
  const char *const *require_dirs;
  size_t nrequire_dirs;
  /* Budgets; 0 selects the default (KM_LUA_DEFAULT_*). */
  uint64_t max_instructions; /* per hook call, all its threads together */
  uint64_t max_ms;           /* per hook call, wall clock, across yields */
  size_t max_memory;         /* per state, bytes */
} km_lua_opts_t;

#define KM_LUA_DEFAULT_INSTRUCTIONS 100000000u /* about a second of CPU */
#define KM_LUA_DEFAULT_MS 120000u
#define KM_LUA_DEFAULT_MEMORY (64u * 1024u * 1024u)

/* The built-in hook folder: $KMSMIG_LUA_DIR, else lua/ of the binary's
 * own prefix or build tree (km_path_data).  Borrowed (static or
 * environment storage). */
const char *km_lua_default_dir(void);

/* Creates a runtime (owned; free with km_lua_free).  Cheap: the lua_State
 * is created on the first run.  Never NULL. */
km_lua_t *km_lua_new(const km_lua_opts_t *opts);

/* Closes the state.  Runs still in flight end first with KM_ECANCELED
 * through their callbacks.  Outstanding cloud calls are abandoned: their
 * callbacks still arrive later and only free their own record.  NULL is a
 * no-op. */
void km_lua_free(km_lua_t *lua);

/* Runs the hook file `path` (borrowed): the file returns a function, or a
 * table holding a function under `name`; it is called with input_json
 * (borrowed; decoded to a table) and must return a table.  Returns 0 and
 * calls cb exactly once, later, from the loop: status 0 with body_json the
 * returned table as JSON, or KM_ELUA / KM_ECANCELED with err (where =
 * "file:line", text = message and traceback).  Returns KM_EINVAL (input not
 * a JSON object) without calling cb. */
int km_lua_run(km_lua_t *lua, const char *path, const char *name,
               const char *input_json, km_plugin_call_cb cb, void *ud);

/* A run's or a hook's answer as the object it returned: status 0 and out
 * (borrowed for the callback; json_incref to keep it), or status < 0 and
 * err (borrowed) with out NULL. */
typedef void (*km_lua_obj_cb)(int status, json_t *out, const km_err_t *err,
                              void *ud);

/* km_lua_run with the input as a JSON object instead of its text, and the
 * answer as the object too: one reference to input is held until cb, so
 * the caller must not change input until then.  Nothing is printed or
 * parsed on the way (a post_check input names every key of a region; a
 * rotation hook runs per key). */
int km_lua_run_json(km_lua_t *lua, const char *path, const char *name,
                    json_t *input, km_lua_obj_cb cb, void *ud);

/* Runs hook `name` ("rotation", "default_instance", "post_check",
 * "before_batch", "after_batch") as a pipeline's plugins see it: the file
 * comes from hooks (borrowed, the target's hook files; may be
 * NULL), else lua_dir/<name>.lua.  The result is checked against the hook's
 * documented output (docs/hooks.md); post_check runs every listed file in
 * order and merges {passed, messages, checks}.  Returns 0 (cb exactly once,
 * later), KM_ENOENT when neither a configured nor a default file exists, or
 * KM_EINVAL for an unknown name or input that is not a JSON object. */
int km_lua_hook(km_lua_t *lua, const km_hookcfg_t *hooks, const char *name,
                const char *input_json, km_plugin_call_cb cb, void *ud);

/* km_lua_hook with the input and the answer as JSON objects (a reference
 * to input held until cb, as km_lua_run_json). */
int km_lua_hook_json(km_lua_t *lua, const km_hookcfg_t *hooks, const char *name,
                     json_t *input, km_lua_obj_cb cb, void *ud);

/* The folders `require` should search for the hook files named in
 * hooks (borrowed): an owned array of n owned strings; free with
 * km_lua_dirs_free. */
char **km_lua_hook_dirs(const km_hookcfg_t *hooks, size_t *n);
void km_lua_dirs_free(char **dirs, size_t n);

/* Compiles the hook file at path (borrowed) without running it, for
 * `kmsmig validate`: 0, KM_ENOENT (unreadable) or KM_ELUA (a syntax error;
 * err->text is Lua's "path:line: message").  err may be NULL. */
int km_lua_check_syntax(const char *path, km_err_t *err);

/* Registry references held by every runtime of the process (ASan builds
 * and tests assert it is 0 once runtimes are freed). */
long km_lua_live_refs(void);

/* Bytes the state currently holds (0 before the first run). */
size_t km_lua_memory(const km_lua_t *lua);

/* host_hooks.c: closes the Lua state of pipeline p, if it has one.  The
 * engine calls it for every pipeline before freeing them. */
struct km_pipeline_s;
void km__host_hooks_close(struct km_pipeline_s *p);

#endif
