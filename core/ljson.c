/*
 * core.json: json-c <-> Lua.
 *
 *   encode(value[, {pretty = bool}]) -> text          (raises for what JSON cannot hold)
 *   decode(text) -> value | nil, "json: <reason> at offset N"
 *   null, array([t]), object([t])
 *
 * JSON null is a lightuserdata sentinel. Decoded arrays and objects carry a
 * metatable mark (the same ones array()/object() set), so that an empty
 * array stays [] and an empty object stays {} through a round trip.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <lauxlib.h>

#include "jsontext.h"
#include "lbind.h"
#include "ljson.h"
#include "vmlua.h"

#define MARK_ARRAY  "vmlua.json.array"
#define MARK_OBJECT "vmlua.json.object"
#define JSON_BOX    "vmlua.JsonBox"

/* The address of this byte is core.json.null. */
static const char null_sentinel;

/* ---- box: owner of a json-c tree while Lua may raise --------------------- */

static int box_gc(lua_State *L)
{
	struct json_object **slot = luaL_checkudata(L, 1, JSON_BOX);
	vl_json_box_clear(slot);
	return 0;
}

struct json_object **vl_json_newbox(lua_State *L)
{
	struct json_object **slot = lua_newuserdatauv(L, sizeof *slot, 0);
	*slot = NULL;
	if (luaL_newmetatable(L, JSON_BOX)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__close");
	}
	lua_setmetatable(L, -2);
	return slot;
}

void vl_json_box_clear(struct json_object **slot)
{
	json_object_put(*slot);
	*slot = NULL;
}

/* ---- UTF-8 (vl_utf8_seq, jsontext.c) ------------------------------------- */

static int utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0, n; i < len; i += n)
		if ((n = vl_utf8_seq((const unsigned char *)s + i, len - i)) == 0)
			return 0;
	return 1;
}

/* Replace every invalid byte of the string at idx with U+FFFD; pushes the result. */
static const char *push_utf8_repaired(lua_State *L, const char *s, size_t len, size_t *outlen)
{
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (size_t i = 0, n; i < len; i += n) {
		n = vl_utf8_seq((const unsigned char *)s + i, len - i);
		if (n == 0) {
			luaL_addstring(&b, "\xef\xbf\xbd");
			n = 1;
		} else {
			luaL_addlstring(&b, s + i, n);
		}
	}
	luaL_pushresult(&b);
	return lua_tolstring(L, -1, outlen);
}

/* ---- Lua -> json-c ------------------------------------------------------- */

typedef struct encoder {
	lua_State *L;
	int flags;
	int visiting;		/* stack index of a table: tables being encoded */
} encoder;

enum kind { K_ARRAY, K_OBJECT };

static int lossy(const encoder *c)
{
	return c->flags & VL_JSON_LOSSY;
}

static struct json_object *checked(encoder *c, struct json_object *o)
{
	if (o == NULL)
		luaL_error(c->L, "json: out of memory");
	return o;
}

static int has_mark(lua_State *L, int idx, const char *mark)
{
	if (!lua_getmetatable(L, idx))
		return 0;
	luaL_getmetatable(L, mark);
	int same = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return same;
}

/* Array or object, from the mark or else from the keys: only 1..n gives an
 * array; only strings (or nothing) an object; anything else raises. */
static enum kind table_kind(encoder *c, int idx)
{
	lua_State *L = c->L;
	if (has_mark(L, idx, MARK_ARRAY))
		return K_ARRAY;
	if (has_mark(L, idx, MARK_OBJECT))
		return K_OBJECT;

	lua_Integer count = 0, max = 0;
	int strings = 0, others = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			strings++;
		} else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
			count++;
			if (lua_tointeger(L, -1) > max)
				max = lua_tointeger(L, -1);
		} else {
			others++;
		}
	}
	if (count > 0 && strings == 0 && others == 0 && max == count)
		return K_ARRAY;
	if (count == 0 && others == 0)
		return K_OBJECT;
	if (lossy(c))
		return K_OBJECT;
	if (strings == 0 && others == 0)
		luaL_error(L, "json: cannot encode a sparse array (index %I with %I elements)",
			   (LUAI_UACINT)max, (LUAI_UACINT)count);
	luaL_error(L, "json: cannot encode a table with mixed or non-string keys");
	return K_OBJECT;
}

struct json_object *vl_json_new_string(lua_State *L, const char *s, size_t len, int flags)
{
	struct json_object *o;

	/* json-c measures strings in int: a longer one would be cut. */
	if (len > INT_MAX) {
		if (!(flags & VL_JSON_LOSSY))
			luaL_error(L, "json: cannot encode a string of %I bytes (the limit is %d)",
				   (LUAI_UACINT)len, INT_MAX);
		char text[64];
		snprintf(text, sizeof text, "<string of %zu bytes>", len);
		o = json_object_new_string(text);
	} else {
		o = json_object_new_string_len(s, (int)len);
	}
	if (o == NULL)
		luaL_error(L, "json: out of memory");
	return o;
}

static struct json_object *make_string(encoder *c, int idx)
{
	size_t len;
	const char *s = lua_tolstring(c->L, idx, &len);
	if (len <= INT_MAX && !utf8_valid(s, len)) {
		if (!lossy(c))
			luaL_error(c->L, "json: cannot encode a string that is not valid UTF-8");
		s = push_utf8_repaired(c->L, s, len, &len);
		struct json_object *o = vl_json_new_string(c->L, s, len, c->flags);
		lua_pop(c->L, 1);
		return o;
	}
	return vl_json_new_string(c->L, s, len, c->flags);
}

static struct json_object *make_number(encoder *c, int idx)
{
	if (lua_isinteger(c->L, idx))
		return checked(c, json_object_new_int64((int64_t)lua_tointeger(c->L, idx)));
	double d = (double)lua_tonumber(c->L, idx);
	if (!isfinite(d)) {
		if (!lossy(c))
			luaL_error(c->L, "json: cannot encode %s", isnan(d) ? "NaN" : "an infinite number");
		return checked(c, json_object_new_string(isnan(d) ? "nan" : d > 0 ? "inf" : "-inf"));
	}
	char text[64];
	vl_json_format_double(d, text, sizeof text);
	return checked(c, json_object_new_double_s(d, text));
}

/* Text for what JSON cannot hold, in lossy mode: tostring(v). */
static struct json_object *make_rendered(encoder *c, int idx)
{
	size_t len;
	const char *s = luaL_tolstring(c->L, idx, &len);
	struct json_object *o = vl_json_new_string(c->L, s, len, c->flags);
	lua_pop(c->L, 1);
	return o;
}

/* The json-c value for the Lua value at idx; a table gives an empty container
 * that fill() completes once the caller has attached it to its parent. */
static struct json_object *make(encoder *c, int idx, int depth, int *is_container)
{
	lua_State *L = c->L;
	*is_container = 0;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return NULL;
	case LUA_TBOOLEAN:
		return checked(c, json_object_new_boolean(lua_toboolean(L, idx)));
	case LUA_TNUMBER:
		return make_number(c, idx);
	case LUA_TSTRING:
		return make_string(c, idx);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == (void *)&null_sentinel)
			return NULL;
		break;
	case LUA_TTABLE:
		if (depth >= VL_JSON_MAX_DEPTH) {
			if (lossy(c))
				return checked(c, json_object_new_string("<too deep>"));
			luaL_error(L, "json: cannot encode nesting deeper than %d", VL_JSON_MAX_DEPTH);
		}
		lua_pushvalue(L, idx);
		int cycle = lua_rawget(L, c->visiting) != LUA_TNIL;
		lua_pop(L, 1);
		if (cycle) {
			if (lossy(c))
				return checked(c, json_object_new_string("<cycle>"));
			luaL_error(L, "json: cannot encode a table that contains itself (a cycle)");
		}
		*is_container = 1;
		if (table_kind(c, idx) == K_ARRAY)
			return checked(c, json_object_new_array());
		return checked(c, json_object_new_object());
	default:
		break;
	}
	if (lossy(c))
		return make_rendered(c, idx);
	luaL_error(L, "json: cannot encode a %s", luaL_typename(L, idx));
	return NULL;
}

static void fill(encoder *c, int idx, struct json_object *container, int depth);

/* Make the value at vidx and attach it: to an array (key NULL) or an object. */
static void add_child(encoder *c, struct json_object *parent, const char *key, int vidx, int depth)
{
	int is_container;
	struct json_object *child = make(c, vidx, depth, &is_container);
	int rc = key == NULL ? json_object_array_add(parent, child)
			     : json_object_object_add(parent, key, child);
	if (rc != 0) {
		json_object_put(child);
		luaL_error(c->L, "json: out of memory");
	}
	if (is_container)
		fill(c, vidx, child, depth);
}

static int cmp_keys(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y);
}

/* The keys of the table at idx as strings, sorted, in a new table on the
 * stack (integer keys are written in decimal). Returns the number of keys. */
static lua_Integer sorted_keys(encoder *c, int idx)
{
	lua_State *L = c->L;
	lua_Integer n = 0;

	lua_newtable(L);
	int keys = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		int t = lua_type(L, -1);
		if (t == LUA_TNUMBER || (t != LUA_TSTRING && lossy(c)))
			luaL_tolstring(L, -1, NULL);
		else if (t == LUA_TSTRING)
			lua_pushvalue(L, -1);
		else
			luaL_error(L, "json: cannot encode a %s as an object key", luaL_typename(L, -1));
		size_t len;
		const char *k = lua_tolstring(L, -1, &len);
		if (strlen(k) != len)
			luaL_error(L, "json: cannot encode an object key that contains a NUL byte");
		lua_rawseti(L, keys, ++n);
	}
	const char **v = lua_newuserdatauv(L, (size_t)n * sizeof *v + 1, 0);
	for (lua_Integer i = 0; i < n; i++) {
		lua_rawgeti(L, keys, i + 1);
		v[i] = lua_tostring(L, -1);	/* anchored in keys */
		lua_pop(L, 1);
	}
	qsort(v, (size_t)n, sizeof *v, cmp_keys);
	for (lua_Integer i = 0; i < n; i++) {
		lua_pushstring(L, v[i]);
		lua_rawseti(L, keys, i + 1);	/* replaces an anchored equal string */
	}
	lua_pop(L, 1);
	return n;
}

/* Value of object key k (a string) in the table at idx, pushed. Integer-like
 * keys written by sorted_keys are looked up as integers when the string is
 * absent. */
static void push_field(lua_State *L, int idx, int kidx)
{
	lua_pushvalue(L, kidx);
	if (lua_rawget(L, idx) != LUA_TNIL)
		return;
	lua_pop(L, 1);
	int isnum;
	lua_Integer i = lua_tointegerx(L, kidx, &isnum);
	if (isnum) {
		lua_rawgeti(L, idx, i);
		return;
	}
	/* A float or (lossy) other key: find it again by its rendering. */
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			luaL_tolstring(L, -2, NULL);
			int same = lua_rawequal(L, -1, kidx);
			lua_pop(L, 1);
			if (same) {
				lua_remove(L, -2);
				return;
			}
		}
		lua_pop(L, 1);
	}
	lua_pushnil(L);
}

static void fill(encoder *c, int idx, struct json_object *container, int depth)
{
	lua_State *L = c->L;
	luaL_checkstack(L, 8, "json nesting");
	idx = lua_absindex(L, idx);
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, c->visiting);

	if (json_object_is_type(container, json_type_array)) {
		lua_Unsigned n = lua_rawlen(L, idx);
		for (lua_Unsigned i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			add_child(c, container, NULL, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
		}
	} else {
		lua_Integer n = sorted_keys(c, idx);
		int keys = lua_gettop(L);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, keys, i);
			push_field(L, idx, lua_gettop(L));
			add_child(c, container, lua_tostring(L, -2), lua_gettop(L), depth + 1);
			lua_pop(L, 2);
		}
		lua_pop(L, 1);
	}

	lua_pushvalue(L, idx);
	lua_pushnil(L);
	lua_rawset(L, c->visiting);
}

void vl_json_from_lua(lua_State *L, int idx, struct json_object **slot, int flags)
{
	encoder c = { L, flags, 0 };
	int is_container;

	idx = lua_absindex(L, idx);
	lua_newtable(L);
	c.visiting = lua_gettop(L);
	vl_json_box_clear(slot);
	*slot = make(&c, idx, 0, &is_container);
	if (is_container)
		fill(&c, idx, *slot, 0);
	lua_pop(L, 1);
}

/* ---- json-c -> Lua ------------------------------------------------------- */

static void push_value(lua_State *L, struct json_object *o, int depth);

static void push_marked(lua_State *L, const char *mark)
{
	luaL_getmetatable(L, mark);
	lua_setmetatable(L, -2);
}

static void push_integer(lua_State *L, struct json_object *o)
{
	int64_t i = json_object_get_int64(o);
	/* json-c keeps integers above INT64_MAX as uint64: give them as floats. */
	if (i == INT64_MAX && json_object_get_uint64(o) > (uint64_t)INT64_MAX)
		lua_pushnumber(L, (lua_Number)json_object_get_uint64(o));
	else
		lua_pushinteger(L, (lua_Integer)i);
}

static void push_value(lua_State *L, struct json_object *o, int depth)
{
	luaL_checkstack(L, 4, "json nesting");
	switch (json_object_get_type(o)) {
	case json_type_null:
		lua_pushlightuserdata(L, (void *)&null_sentinel);
		break;
	case json_type_boolean:
		lua_pushboolean(L, json_object_get_boolean(o));
		break;
	case json_type_int:
		push_integer(L, o);
		break;
	case json_type_double:
		lua_pushnumber(L, (lua_Number)json_object_get_double(o));
		break;
	case json_type_string:
		lua_pushlstring(L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t n = json_object_array_length(o);
		lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			push_value(L, json_object_array_get_idx(o, i), depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		push_marked(L, MARK_ARRAY);
		break;
	}
	case json_type_object: {
		lua_createtable(L, 0, json_object_object_length(o));
		json_object_object_foreach(o, key, val) {
			lua_pushstring(L, key);
			push_value(L, val, depth + 1);
			lua_rawset(L, -3);
		}
		push_marked(L, MARK_OBJECT);
		break;
	}
	}
}

void vl_json_push(lua_State *L, struct json_object *o)
{
	push_value(L, o, 0);
}

/* ---- the Lua functions --------------------------------------------------- */

static const char *const encode_keys[] = { "pretty", NULL };

static int json_encode(lua_State *L)
{
	int pretty = 0;

	luaL_checkany(L, 1);
	if (vl_check_options(L, 2, encode_keys)) {
		lua_getfield(L, 2, "pretty");
		pretty = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_settop(L, 1);
	struct json_object **slot = vl_json_newbox(L);
	vl_json_from_lua(L, 1, slot, 0);
	size_t len;
	const char *text = json_object_to_json_string_length(*slot, vl_json_flags(pretty), &len);
	if (text == NULL)
		return luaL_error(L, "json: out of memory");
	lua_pushlstring(L, text, len);
	vl_json_box_clear(slot);
	return 1;
}

static int json_decode(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	char err[256];
	int ok;

	struct json_object **slot = vl_json_newbox(L);
	*slot = vl_json_parse(text, len, &ok, err, sizeof err);
	if (!ok)
		return vl_fail_msg(L, "json: %s", err);
	vl_json_push(L, *slot);
	vl_json_box_clear(slot);
	return 1;
}

/* array([t]) / object([t]): set the mark on t (or a new table), return it. */
static int set_mark(lua_State *L, const char *mark, const char *other)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_settop(L, 1);
		if (lua_getmetatable(L, 1)) {
			luaL_getmetatable(L, other);
			int ours = lua_rawequal(L, -1, -2);
			luaL_getmetatable(L, mark);
			ours = ours || lua_rawequal(L, -1, -3);
			lua_pop(L, 3);
			luaL_argcheck(L, ours, 1, "table already has a metatable");
		}
	}
	luaL_getmetatable(L, mark);
	lua_setmetatable(L, 1);
	return 1;
}

static int l_array(lua_State *L)
{
	return set_mark(L, MARK_ARRAY, MARK_OBJECT);
}

static int l_object(lua_State *L)
{
	return set_mark(L, MARK_OBJECT, MARK_ARRAY);
}

static const luaL_Reg json_funcs[] = {
	{ "encode", json_encode },
	{ "decode", json_decode },
	{ "array", l_array },
	{ "object", l_object },
	{ NULL, NULL },
};

void vl_open_json(lua_State *L)
{
	luaL_newmetatable(L, MARK_ARRAY);
	luaL_newmetatable(L, MARK_OBJECT);
	lua_pop(L, 2);

	luaL_newlib(L, json_funcs);
	lua_pushlightuserdata(L, (void *)&null_sentinel);
	lua_setfield(L, -2, "null");
	lua_setfield(L, -2, "json");
}
