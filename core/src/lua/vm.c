/* The per-pipeline Lua state: its allocator with a memory cap, the sandbox
 * (what of the standard library a hook may use) and `require` restricted to
 * known folders.
 *
 * Sandbox.  Hooks run operator code inside a tool that holds cloud
 * credentials, so the state offers no way to reach the host: no io, no
 * os.execute/getenv/remove (os keeps time, clock, date, difftime), no
 * package library (so no C loaders), no debug library (it could remove the
 * budget hook), no dofile/loadfile, and `load` only accepts text chunks
 * (binary chunks can crash the VM), and setmetatable refuses __gc (Lua runs
 * finalizers with hooks off, so no budget could stop one).  `require` is ours:
 * a module name maps to <dir>/<name>.lua or <dir>/<name>/init.lua under the
 * built-in lua/ folder and the hook files' folders, and nowhere else; the
 * manifest has no switch to widen this.  print() writes to the run log.
 *
 * Memory.  The allocator counts the state's bytes and refuses growth past
 * the cap while hook code runs; Lua turns that into a "not enough memory"
 * error in the hook, after an emergency collection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "lua/priv.h"
#include "util/paths.h"
#include "util/util.h"

/* ---- registry references, counted ---- */

static long live_refs;

int km__lua_ref(lua_State *L) {
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (ref != LUA_NOREF && ref != LUA_REFNIL) live_refs++;
  return ref;
}

void km__lua_unref(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  live_refs--;
}

long km_lua_live_refs(void) {
  return live_refs;
}

const char *km_lua_default_dir(void) {
  const char *env = getenv("KMSMIG_LUA_DIR");
  if (env != NULL && env[0] != '\0') return env;
  /* Found once, relative to the binary (util/paths.c): an installed or
   * copied kmsmig uses the hooks of its own prefix.  Kept for the process's
   * life (one string). */
  static char *dir;
  if (dir == NULL) {
    dir = km_path_data("lua");
    if (dir == NULL) dir = km_xstrdup(KM_SOURCE_DIR "/lua");
  }
  return dir;
}

/* ---- allocator ---- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  km_lua_t *vm = ud;
  size_t old = ptr != NULL ? osize : 0; /* osize is a type tag for new */
  if (nsize == 0) {
    free(ptr);
    vm->mem -= old;
    return NULL;
  }
  if (vm->enforce && nsize > old && vm->mem + (nsize - old) > vm->mem_cap)
    return NULL;
  void *np = realloc(ptr, nsize);
  if (np == NULL) return NULL;
  vm->mem = vm->mem - old + nsize;
  return np;
}

static int l_panic(lua_State *L) {
  /* Only reachable on a real out-of-memory outside hook code: the process
   * dies like km_xmalloc does, and the run resumes from its journal. */
  const char *msg = lua_tostring(L, -1);
  km_log(KM_LOG_ERROR, "Lua panic: %s", msg != NULL ? msg : "?");
  abort();
}

/* ---- logging ---- */

void km__lua_log(km_lua_t *vm, int level, const char *msg) {
  if (vm->o.log != NULL) {
    vm->o.log(vm->o.log_ud, level, msg);
    return;
  }
  km_log(level, "%s %s: hook: %s", vm->account, vm->region, msg);
}

static int l_print(lua_State *L) {
  km_lua_t *vm = lua_touserdata(L, lua_upvalueindex(1));
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  km__lua_log(vm, KM_LOG_INFO, lua_tostring(L, -1));
  return 0;
}

/* ---- sandboxed base functions ---- */

/* load() with mode forced to "t": text chunks only. */
static int l_load(lua_State *L) {
  int n = lua_gettop(L);
  if (n < 3) lua_settop(L, n = 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* collectgarbage() limited to what cannot switch the collector off. */
static int l_collectgarbage(lua_State *L) {
  const char *opt = luaL_optstring(L, 1, "collect");
  if (strcmp(opt, "collect") != 0 && strcmp(opt, "count") != 0 &&
      strcmp(opt, "step") != 0)
    return luaL_error(L, "collectgarbage(\"%s\") is not allowed in hooks", opt);
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* setmetatable() that refuses a metatable with a __gc field.  Lua 5.4 runs
 * finalizers with debug hooks switched off (GCTM clears allowhook), so the
 * count hook that enforces the instruction and wall budgets never fires
 * inside one: a looping finalizer would hang the process.  A table is
 * marked for finalization only when setmetatable sees __gc, so refusing it
 * here leaves hook code no way to create a finalizer at all (no debug
 * library; the C API is ours). */
static int l_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    int t = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (t != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc finalizers are not allowed in "
                           "hooks (they run outside the hook's budgets)");
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* ---- require ---- */

static bool module_name_ok(const char *s) {
  if (s[0] == '\0' || s[0] == '.') return false;
  for (const char *c = s; *c; c++) {
    bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
              (*c == '.' && c[1] != '.' && c[1] != '\0');
    if (!ok) return false;
  }
  return true;
}

/* Stack on entry (and after the module's chunk returned): name, loaded,
 * rel, path, result. */
static int require_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (lua_isnil(L, 5)) {
    lua_pushboolean(L, 1);
    lua_replace(L, 5);
  }
  lua_pushvalue(L, 5);
  lua_setfield(L, 2, lua_tostring(L, 1));
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 4);
  return 2;
}

static int l_require(lua_State *L) {
  km_lua_t *vm = lua_touserdata(L, lua_upvalueindex(1));
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 2 */
  if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  if (!module_name_ok(name))
    return luaL_error(L,
                      "require: bad module name '%s' (letters, digits, '_', "
                      "'-', and '.' between parts)",
                      name);
  luaL_gsub(L, name, ".", "/"); /* 3: rel */
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  for (size_t i = 0; i < vm->ndirs; i++) {
    for (size_t f = 0; f < KM_ARRAY_SIZE(forms); f++) {
      lua_settop(L, 3);
      const char *path =
          lua_pushfstring(L, forms[f], vm->dirs[i], lua_tostring(L, 3));
      int rc = luaL_loadfilex(L, path, "t"); /* 5: chunk or message */
      if (rc == LUA_ERRFILE) continue;
      if (rc != LUA_OK) return lua_error(L); /* a syntax error */
      lua_pushvalue(L, 1);
      lua_pushvalue(L, 4);
      lua_callk(L, 2, 1, 0, require_done);
      return require_done(L, LUA_OK, 0);
    }
  }
  lua_settop(L, 3);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < vm->ndirs; i++) {
    luaL_addstring(&b, i > 0 ? ", " : "");
    luaL_addstring(&b, vm->dirs[i]);
  }
  luaL_pushresult(&b);
  return luaL_error(L,
                    "module '%s' not found: hooks may require only from "
                    "these folders: %s",
                    name, lua_tostring(L, -1));
}

/* ---- opening the state ---- */

static void open_lib(lua_State *L, const char *name, lua_CFunction f) {
  luaL_requiref(L, name, f, 1);
  lua_pop(L, 1);
}

static void open_sandbox(lua_State *L, km_lua_t *vm) {
  open_lib(L, LUA_GNAME, luaopen_base);
  open_lib(L, LUA_COLIBNAME, luaopen_coroutine);
  open_lib(L, LUA_TABLIBNAME, luaopen_table);
  open_lib(L, LUA_STRLIBNAME, luaopen_string);
  open_lib(L, LUA_MATHLIBNAME, luaopen_math);
  open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);

  /* os: the clock functions only, also as require("os"). */
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
  lua_createtable(L, 0, 4);
  static const char *const keep[] = {"time", "clock", "date", "difftime"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(keep); i++) {
    lua_getfield(L, -2, keep[i]);
    lua_setfield(L, -2, keep[i]);
  }
  lua_pushvalue(L, -1);
  lua_setglobal(L, LUA_OSLIBNAME);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, LUA_OSLIBNAME);
  lua_pop(L, 2);

  lua_pushnil(L);
  lua_setglobal(L, "dofile");
  lua_pushnil(L);
  lua_setglobal(L, "loadfile");
  lua_getglobal(L, "load");
  lua_pushcclosure(L, l_load, 1);
  lua_setglobal(L, "load");
  lua_getglobal(L, "collectgarbage");
  lua_pushcclosure(L, l_collectgarbage, 1);
  lua_setglobal(L, "collectgarbage");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, l_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  lua_pushlightuserdata(L, vm);
  lua_pushcclosure(L, l_print, 1);
  lua_setglobal(L, "print");
  lua_pushlightuserdata(L, vm);
  lua_pushcclosure(L, l_require, 1);
  lua_setglobal(L, "require");
}

int km__lua_open(km_lua_t *vm) {
  if (vm->L != NULL) return 0;
  lua_State *L = lua_newstate(l_alloc, vm);
  if (L == NULL) return KM_ENOMEM;
  lua_atpanic(L, l_panic);
  /* Main thread's extra space stays NULL: coroutines the hook makes itself
   * inherit it and are recognisably not ours. */
  *(void **)lua_getextraspace(L) = NULL;
  vm->L = L;
  open_sandbox(L, vm);
  km__lua_api_open(L, vm);
  lua_gc(L, LUA_GCGEN, 0, 0);
  return 0;
}

int km_lua_check_syntax(const char *path, km_err_t *err) {
  lua_State *L = luaL_newstate();
  if (L == NULL)
    return km__err_set(err, KM_ENOMEM, "%s", km_strerror(KM_ENOMEM));
  int rc = luaL_loadfilex(L, path, "t");
  int code = rc == LUA_OK ? 0 : rc == LUA_ERRFILE ? KM_ENOENT : KM_ELUA;
  if (code < 0) km__err_setw(err, code, path, "%s", lua_tostring(L, -1));
  lua_close(L);
  return code;
}

/* ---- the runtime object ---- */

static char *dup_or_null(const char *s) {
  return s != NULL ? km_xstrdup(s) : NULL;
}

km_lua_t *km_lua_new(const km_lua_opts_t *opts) {
  km_lua_t *vm = km_xcalloc(1, sizeof(*vm));
  vm->o = *opts;
  vm->account = km_xstrdup(opts->account != NULL ? opts->account : "-");
  vm->account_id = dup_or_null(opts->account_id);
  vm->region = km_xstrdup(opts->region != NULL ? opts->region : "-");
  vm->mode = km_xstrdup(opts->mode != NULL ? opts->mode : "run");
  vm->lua_dir =
      km_xstrdup(opts->lua_dir != NULL ? opts->lua_dir : km_lua_default_dir());
  vm->o.account = vm->account;
  vm->o.account_id = vm->account_id;
  vm->o.region = vm->region;
  vm->o.mode = vm->mode;
  vm->o.lua_dir = vm->lua_dir;
  vm->dirs = km_xcalloc(opts->nrequire_dirs + 1, sizeof(char *));
  vm->dirs[vm->ndirs++] = km_xstrdup(vm->lua_dir);
  for (size_t i = 0; i < opts->nrequire_dirs; i++)
    vm->dirs[vm->ndirs++] = km_xstrdup(opts->require_dirs[i]);
  vm->o.require_dirs = NULL;
  vm->o.nrequire_dirs = 0;
  if (vm->o.max_instructions == 0)
    vm->o.max_instructions = KM_LUA_DEFAULT_INSTRUCTIONS;
  if (vm->o.max_ms == 0) vm->o.max_ms = KM_LUA_DEFAULT_MS;
  if (vm->o.max_memory == 0) vm->o.max_memory = KM_LUA_DEFAULT_MEMORY;
  vm->mem_cap = vm->o.max_memory;
  return vm;
}

void km_lua_free(km_lua_t *vm) {
  if (vm == NULL) return;
  km__lua_cancel_runs(vm);
  if (vm->L != NULL) lua_close(vm->L);
  for (size_t i = 0; i < vm->ndirs; i++)
    free(vm->dirs[i]);
  free(vm->dirs);
  free(vm->account);
  free(vm->account_id);
  free(vm->region);
  free(vm->mode);
  free(vm->lua_dir);
  free(vm);
}

size_t km_lua_memory(const km_lua_t *vm) {
  return vm->mem;
}
