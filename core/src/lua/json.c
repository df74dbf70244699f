/* JSON <-> Lua values for hooks: hook inputs and cloud responses become
 * tables; a hook's returned table becomes the JSON its plugin reads.
 *
 * Arrays and objects.  Lua has one table type, so a decoded JSON array
 * carries a marker metatable (registry "kmsmig.array", also kmsmig.array_mt)
 * and keeps its kind on the way back even when empty.  Without the marker a
 * non-empty table whose keys are exactly 1..n is an array, any other table
 * with string keys an object, and an empty table the object {} (hooks.c
 * reads {} as an empty list where the contract wants a list).  JSON null is
 * kmsmig.null, a light userdata NULL, so it survives inside tables.
 *
 * Conversion to JSON never raises: it reports why it refused (a function
 * value, a non-string key, a cycle) so the caller can fail the hook with a
 * clear message instead of unwinding through C.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/priv.h"

#define MAX_DEPTH 64

void km__lua_push_json(lua_State *L, const json_t *v) {
  luaL_checkstack(L, 4, "JSON nested too deeply");
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    lua_createtable(L, 0, (int)json_object_size(v));
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) {
      km__lua_push_json(L, e);
      lua_setfield(L, -2, k);
    }
    break;
  }
  case JSON_ARRAY: {
    lua_createtable(L, (int)json_array_size(v), 0);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
      km__lua_push_json(L, e);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    luaL_setmetatable(L, KM_LUA_REG_ARRAY);
    break;
  }
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    lua_pushinteger(L, (lua_Integer)json_integer_value(v));
    break;
  case JSON_REAL:
    lua_pushnumber(L, json_real_value(v));
    break;
  case JSON_TRUE:
    lua_pushboolean(L, 1);
    break;
  case JSON_FALSE:
    lua_pushboolean(L, 0);
    break;
  case JSON_NULL:
  default:
    lua_pushlightuserdata(L, NULL);
    break;
  }
}

static bool marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  luaL_getmetatable(L, KM_LUA_REG_ARRAY);
  bool yes = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return yes;
}

/* The length when the table's keys are exactly 1..n, else -1 (0: empty). */
static lua_Integer sequence_len(lua_State *L, int idx) {
  lua_Integer n = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1)) {
      lua_pop(L, 1);
      return -1;
    }
    lua_Integer k = lua_tointeger(L, -1);
    if (k < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (k > max) max = k;
    n++;
  }
  return max == n ? n : -1;
}

static json_t *to_json(lua_State *L, int idx, int depth, char *why,
                       size_t whylen);

static json_t *table_to_json(lua_State *L, int idx, int depth, char *why,
                             size_t whylen) {
  if (depth > MAX_DEPTH) {
    snprintf(why, whylen, "tables nested more than %d deep (a cycle?)",
             MAX_DEPTH);
    return NULL;
  }
  if (!lua_checkstack(L, 6)) {
    snprintf(why, whylen, "out of Lua stack");
    return NULL;
  }
  bool arr = marked_array(L, idx);
  lua_Integer n = sequence_len(L, idx);
  if (arr || n > 0) {
    if (n < 0) {
      snprintf(why, whylen, "a list has keys other than 1..n");
      return NULL;
    }
    json_t *a = json_array();
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      json_t *e = to_json(L, lua_gettop(L), depth + 1, why, whylen);
      lua_pop(L, 1);
      if (e == NULL) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, e);
    }
    return a;
  }
  json_t *o = json_object();
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      snprintf(why, whylen,
               "a table mixes list items and named fields "
               "(or has a key that is not a string)");
      lua_pop(L, 2);
      json_decref(o);
      return NULL;
    }
    json_t *e = to_json(L, lua_gettop(L), depth + 1, why, whylen);
    if (e == NULL) {
      lua_pop(L, 2);
      json_decref(o);
      return NULL;
    }
    json_object_set_new(o, lua_tostring(L, -2), e);
    lua_pop(L, 1);
  }
  return o;
}

static json_t *to_json(lua_State *L, int idx, int depth, char *why,
                       size_t whylen) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return json_null();
  case LUA_TBOOLEAN:
    return json_boolean(lua_toboolean(L, idx));
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      return json_integer((json_int_t)lua_tointeger(L, idx));
    if (!isfinite(lua_tonumber(L, idx))) {
      snprintf(why, whylen, "a number is not finite (nan or inf)");
      return NULL;
    }
    return json_real(lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    json_t *j = json_stringn(s, len);
    if (j == NULL) snprintf(why, whylen, "a string is not valid UTF-8");
    return j;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return json_null();
    break;
  case LUA_TTABLE:
    return table_to_json(L, idx, depth, why, whylen);
  default:
    break;
  }
  snprintf(why, whylen, "a %s value has no JSON form", luaL_typename(L, idx));
  return NULL;
}

json_t *km__lua_to_json(lua_State *L, int idx, char *why, size_t whylen) {
  return to_json(L, lua_absindex(L, idx), 0, why, whylen);
}

/* Pushers run under lua_pcall so that a memory error while building Lua
 * values cannot leak the C-side JSON or string being converted. */
static int push_json_p(lua_State *L) {
  km__lua_push_json(L, lua_touserdata(L, 1));
  return 1;
}

static int push_string_p(lua_State *L) {
  lua_pushstring(L, lua_touserdata(L, 1));
  return 1;
}

int km__lua_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  luaL_checkstack(L, 4, NULL);
  char why[160];
  json_t *j = km__lua_to_json(L, 1, why, sizeof(why));
  if (j == NULL) {
    luaL_pushfail(L);
    lua_pushstring(L, why);
    return 2;
  }
  char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  json_decref(j);
  lua_pushcfunction(L, push_string_p);
  lua_pushlightuserdata(L, text != NULL ? text : (void *)"null");
  int rc = lua_pcall(L, 1, 1, 0);
  free(text);
  return rc == LUA_OK ? 1 : lua_error(L);
}

int km__lua_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_checkstack(L, 4, NULL);
  json_error_t jerr;
  json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
  if (j == NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    return 2;
  }
  lua_pushcfunction(L, push_json_p);
  lua_pushlightuserdata(L, j);
  int rc = lua_pcall(L, 1, 1, 0);
  json_decref(j);
  return rc == LUA_OK ? 1 : lua_error(L);
}
