/* What hooks see: the `kms` table (cloud calls) and the `kmsmig` table
 * (identity, logging, JSON, concurrency), plus the prelude (kms.pages,
 * kms.call_many and the hook trampoline, written in Lua).
 *
 * kms.call is the yield/resume pattern (OpenResty cosockets): it checks its
 * arguments while nothing is owned, starts the pipeline's own cloud call,
 * and yields; the call's callback, which runs from the loop, pushes the
 * decoded response (or nil, message, code) onto the coroutine and queues
 * it, and the run's driver resumes it.  Runtime failures are returned, not
 * raised, so a hook can decide; misuse (a bad argument, a call from a
 * coroutine the hook made itself) raises.
 *
 * kmsmig.spawn/kmsmig.wait (ngx.thread.spawn/wait) give a hook concurrent
 * cloud calls without callbacks: spawn queues a new coroutine of the same
 * run and returns a handle; wait yields until that thread ends and returns
 * true plus its results, or false plus its error.
 */
#include <stdlib.h>
#include <string.h>

#include "lua/priv.h"
#include "util/util.h"

static km_lua_t *vm_of(lua_State *L) {
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

/* The calling coroutine of a run, or a raised error naming fn. */
static km_lua_co_t *own_co(lua_State *L, const char *fn) {
  km_lua_co_t *co = km__lua_self(L);
  if (co == NULL || co->T != L)
    luaL_error(L,
               "%s: call it from the hook or a kmsmig.spawn thread, not from "
               "a coroutine the hook created",
               fn);
  else if (!lua_isyieldable(L))
    luaL_error(L,
               "%s: cannot wait here (inside a metamethod, an iterator or a "
               "C function such as table.sort)",
               fn);
  return co;
}

/* ---- kms.call ---- */

/* Pushes a call's outcome onto T: the response table, or nil, message,
 * code.  The memory cap is lifted: the runtime must not fail half-way. */
static int push_outcome(km_lua_t *vm, lua_State *T,
                        const km_plugin_call_result_t *res) {
  bool enforce = vm->enforce;
  vm->enforce = false;
  int n = 1;
  lua_checkstack(T, 4);
  if (res->status == 0) {
    json_error_t jerr;
    json_t *body = json_loads(res->body_json != NULL ? res->body_json : "",
                              JSON_DECODE_ANY, &jerr);
    if (body == NULL) {
      lua_pushnil(T);
      lua_pushfstring(T, "malformed response: %s", jerr.text);
      lua_pushstring(T, km_err_name(KM_EPARSE));
      n = 3;
    } else {
      km__lua_push_json(T, body);
      json_decref(body);
    }
  } else {
    const km_err_t *e = res->err;
    lua_pushnil(T);
    if (res->status == KM_EPERM && strcmp(vm->mode, "plan") == 0)
      lua_pushliteral(T, "action refused in plan mode: only read actions "
                         "are sent");
    else if (res->status == KM_EPERM)
      lua_pushliteral(T, "action refused: hooks may call only the actions "
                         "of kmsmig's table, never GetSecretValue");
    else
      lua_pushstring(T, e != NULL && e->text[0] ? e->text
                                                : km_strerror(res->status));
    lua_pushstring(T, e != NULL && e->cloud_code[0] ? e->cloud_code
                                                    : km_err_name(res->status));
    n = 3;
  }
  vm->enforce = enforce;
  return n;
}

static void on_call_done(const km_plugin_call_result_t *res, void *ud) {
  km_lua_pcall_t *pc = ud;
  if (pc->starting) {
    /* Called back inside the start: answer without yielding. */
    pc->sync_n = push_outcome(pc->co->run->vm, pc->co->T, res);
    return;
  }
  km_lua_co_t *co = pc->co;
  free(pc);
  if (co == NULL) return; /* the run ended first */
  km_lua_run_t *run = co->run;
  co->pending = NULL;
  run->inflight--;
  co->nargs = push_outcome(run->vm, co->T, res);
  km__lua_enqueue(co);
  km__lua_drive(run);
}

typedef struct kv_s {
  const char *k, *v;
} kv_t;

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const kv_t *)a)->k, ((const kv_t *)b)->k);
}

/* Converts the parameter table at 2 into name, value strings appended to
 * the list at `list`; returns how many pairs.  May raise. */
static int collect_params(lua_State *L, int list) {
  int n = 0;
  if (lua_isnoneornil(L, 2)) return 0;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return luaL_error(L, "kms.call: parameter names must be strings");
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      luaL_tolstring(L, -1, NULL);
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
      break;
    case LUA_TTABLE: /* a JSON-valued parameter such as Tags */
      lua_pushcfunction(L, km__lua_json_encode);
      lua_pushvalue(L, -2);
      lua_call(L, 1, 2);
      if (lua_isnil(L, -2))
        return luaL_error(L, "kms.call: parameter %s: %s", lua_tostring(L, -4),
                          lua_tostring(L, -1));
      lua_pop(L, 1);
      break;
    default:
      return luaL_error(L, "kms.call: parameter %s is a %s",
                        lua_tostring(L, -2), luaL_typename(L, -1));
    }
    lua_pushvalue(L, -3);
    lua_rawseti(L, list, 2 * n + 1);
    lua_rawseti(L, list, 2 * n + 2);
    lua_pop(L, 1);
    n++;
  }
  return n;
}

static int l_call(lua_State *L) {
  const char *action = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  const char *product = luaL_optstring(L, 3, "kms");
  km_lua_co_t *co = own_co(L, "kms.call");
  km_lua_t *vm = co->run->vm;
  lua_settop(L, 3);
  lua_newtable(L); /* 4: names and values, anchored while we copy them */
  int n = collect_params(L, 4);
  /* Nothing below raises until the call is started or refused. */
  kv_t *kv = km_xcalloc((size_t)n + 1, sizeof(*kv));
  const char **flat = km_xcalloc(2 * (size_t)n + 1, sizeof(*flat));
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 4, 2 * i + 1);
    kv[i].k = lua_tostring(L, -1);
    lua_rawgeti(L, 4, 2 * i + 2);
    kv[i].v = lua_tostring(L, -1);
    lua_pop(L, 2); /* still referenced by the table at 4 */
  }
  qsort(kv, (size_t)n, sizeof(*kv), kv_cmp); /* deterministic requests */
  for (int i = 0; i < n; i++) {
    flat[2 * i] = kv[i].k;
    flat[2 * i + 1] = kv[i].v;
  }
  km_lua_pcall_t *pc = km_xcalloc(1, sizeof(*pc));
  pc->co = co;
  pc->starting = true;
  int rc = vm->o.call(vm->o.call_ud, product, action, flat, (size_t)n,
                      on_call_done, pc);
  free(kv);
  free(flat);
  pc->starting = false;
  if (rc < 0) {
    free(pc);
    km_plugin_call_result_t res = {rc, NULL, NULL};
    return push_outcome(vm, L, &res);
  }
  if (pc->sync_n > 0) {
    int k = pc->sync_n;
    free(pc);
    return k;
  }
  co->pending = pc;
  co->state = KM_CO_CALL;
  co->run->inflight++;
  return lua_yield(L, 0); /* resumed by on_call_done with the outcome */
}

/* ---- kmsmig.spawn / kmsmig.wait ---- */

static int l_handle_gc(lua_State *L) {
  km_lua_handle_t *h = lua_touserdata(L, 1);
  if (h->co != NULL) h->co->handle = NULL;
  h->co = NULL;
  return 0;
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  km_lua_co_t *self = own_co(L, "kmsmig.spawn");
  int n = lua_gettop(L);
  km_lua_handle_t *h = lua_newuserdatauv(L, sizeof(*h), 0);
  h->co = NULL;
  luaL_setmetatable(L, KM_LUA_REG_THREAD);
  lua_State *T = lua_newthread(L);
  if (!lua_checkstack(T, n + 1)) return luaL_error(L, "kmsmig.spawn: memory");
  int ref = km__lua_ref(L); /* pops T; nothing raises after this */
  lua_insert(L, 1);         /* the handle below the function and args */
  lua_xmove(L, T, n);
  km_lua_co_t *co = km__lua_co_new(self->run, T, ref);
  co->nargs = n - 1;
  co->handle = h;
  h->co = co;
  km__lua_enqueue(co);
  return 1;
}

static int wait_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return lua_gettop(L) - (int)ctx;
}

static int l_wait(lua_State *L) {
  km_lua_handle_t *h = luaL_checkudata(L, 1, KM_LUA_REG_THREAD);
  km_lua_co_t *self = own_co(L, "kmsmig.wait");
  km_lua_co_t *t = h->co;
  if (t == NULL || t->run != self->run)
    return luaL_error(L, "kmsmig.wait: the thread belongs to another hook "
                         "call");
  if (t->waited || t->waiter != NULL)
    return luaL_error(L, "kmsmig.wait: the thread was already waited for");
  int base = lua_gettop(L);
  if (t->state == KM_CO_DONE) {
    t->waited = true;
    luaL_checkstack(L, t->nres + 1, NULL);
    lua_pushboolean(L, 1);
    lua_xmove(t->T, L, t->nres);
    t->nres = 0;
    return lua_gettop(L) - base;
  }
  if (t->state == KM_CO_FAILED) {
    t->waited = true;
    lua_pushboolean(L, 0);
    lua_pushstring(L, t->err);
    return 2;
  }
  t->waiter = self;
  self->state = KM_CO_WAIT;
  /* The results arrive on top of our stack; count them from base. */
  return lua_yieldk(L, 0, (lua_KContext)base, wait_done);
}

/* ---- identity, logging ---- */

static int l_log(lua_State *L) {
  static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
  int level = luaL_checkoption(L, 1, NULL, levels);
  const char *msg = luaL_tolstring(L, 2, NULL);
  km__lua_log(vm_of(L), level, msg);
  return 0;
}

static int l_mode(lua_State *L) {
  lua_pushstring(L, vm_of(L)->mode);
  return 1;
}

static int l_account(lua_State *L) {
  lua_pushstring(L, vm_of(L)->account);
  return 1;
}

static int l_account_id(lua_State *L) {
  lua_pushstring(L, vm_of(L)->account_id);
  return 1;
}

static int l_region(lua_State *L) {
  lua_pushstring(L, vm_of(L)->region);
  return 1;
}

static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, KM_LUA_REG_ARRAY);
  return 1;
}

/* loadhook(path): the hook file as a function (text only). */
static int l_loadhook(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
  return 1;
}

/* ---- the prelude ---- */

static const char prelude[] =
    "local kms, kmsmig, loadhook = ...\n"
    "local call, spawn, wait, array = kms.call, kmsmig.spawn, kmsmig.wait,\n"
    "  kmsmig.array\n"
    "local type, error, pairs, ipairs, tonumber = type, error, pairs,\n"
    "  ipairs, tonumber\n"
    "function kms.pages(action, params, list_path, product)\n"
    "  if type(list_path) ~= 'string' or list_path == '' then\n"
    "    error(\"kms.pages: list_path (like 'Keys.Key') is required\", 2)\n"
    "  end\n"
    "  params = params or {}\n"
    "  local size = tonumber(params.PageSize) or 100\n"
    "  local page = tonumber(params.PageNumber) or 1\n"
    "  local out = array({})\n"
    "  while true do\n"
    "    local p = {}\n"
    "    for k, v in pairs(params) do p[k] = v end\n"
    "    p.PageNumber, p.PageSize = page, size\n"
    "    local res, msg, code = call(action, p, product)\n"
    "    if res == nil then return nil, msg, code end\n"
    "    local list = res\n"
    "    for part in list_path:gmatch('[^.]+') do\n"
    "      if type(list) ~= 'table' then list = nil break end\n"
    "      list = list[part]\n"
    "    end\n"
    "    local got = 0\n"
    "    if type(list) == 'table' then\n"
    "      for _, item in ipairs(list) do\n"
    "        out[#out + 1] = item\n"
    "        got = got + 1\n"
    "      end\n"
    "    end\n"
    "    local total = tonumber(res.TotalCount)\n"
    "    if got < size or (total ~= nil and #out >= total) then\n"
    "      return out\n"
    "    end\n"
    "    page = page + 1\n"
    "  end\n"
    "end\n"
    "function kms.call_many(calls)\n"
    "  local threads = {}\n"
    "  for i, c in ipairs(calls) do\n"
    "    local a, p, pr = c[1] or c.action, c[2] or c.params,\n"
    "      c[3] or c.product\n"
    "    threads[i] = spawn(function() return call(a, p, pr) end)\n"
    "  end\n"
    "  local results, errors = array({}), {}\n"
    "  for i, t in ipairs(threads) do\n"
    "    local ok, res, msg, code = wait(t)\n"
    "    if not ok then\n"
    "      results[i], errors[i] = false, {message = res, code = 'ELUA'}\n"
    "    elseif res == nil then\n"
    "      results[i], errors[i] = false, {message = msg, code = code}\n"
    "    else\n"
    "      results[i] = res\n"
    "    end\n"
    "  end\n"
    "  return results, errors\n"
    "end\n"
    "local cache = {}\n"
    "return function(path, name, input)\n"
    "  local key = path .. '\\0' .. name\n"
    "  local fn = cache[key]\n"
    "  if fn == nil then\n"
    "    local v = loadhook(path)(name)\n"
    "    if type(v) == 'table' then v = v[name] end\n"
    "    if type(v) ~= 'function' then\n"
    "      error(path .. ': a hook file must return a function, or a table '\n"
    "        .. \"with a function named '\" .. name .. \"'\", 0)\n"
    "    end\n"
    "    cache[key], fn = v, v\n"
    "  end\n"
    "  return fn(input)\n"
    "end\n";

static const luaL_Reg kms_fns[] = {{"call", l_call}, {NULL, NULL}};

static const luaL_Reg kmsmig_fns[] = {{"spawn", l_spawn},
                                      {"wait", l_wait},
                                      {"log", l_log},
                                      {"mode", l_mode},
                                      {"account", l_account},
                                      {"account_id", l_account_id},
                                      {"region", l_region},
                                      {"array", l_array},
                                      {"json_encode", km__lua_json_encode},
                                      {"json_decode", km__lua_json_decode},
                                      {NULL, NULL}};

void km__lua_api_open(lua_State *L, km_lua_t *vm) {
  (void)vm;
  luaL_newmetatable(L, KM_LUA_REG_ARRAY);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  luaL_newmetatable(L, KM_LUA_REG_THREAD);
  lua_pushcfunction(L, l_handle_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newlib(L, kms_fns);
  lua_pushvalue(L, -1);
  lua_setglobal(L, "kms");
  luaL_newlib(L, kmsmig_fns);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_pushvalue(L, -1);
  lua_setglobal(L, "kmsmig");
  /* Stack: kms, kmsmig.  The prelude adds to both and returns the hook
   * trampoline, kept in the registry where hooks cannot replace it. */
  if (luaL_loadbufferx(L, prelude, sizeof(prelude) - 1, "=[kmsmig prelude]",
                       "t") != LUA_OK)
    lua_error(L); /* a bug in the text above: panics */
  lua_insert(L, -3);
  lua_pushcfunction(L, l_loadhook);
  lua_call(L, 3, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, KM_LUA_REG_RUN);
}
