/*
 * What the binding files (l*.c) share: the handle pattern (lhandle.c),
 * vl_error results, option tables and modes.
 */
#ifndef VMLUA_LBIND_H
#define VMLUA_LBIND_H

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "error.h"
#include "vmlua.h"

/* core.fs (lfs.c), added by vl_open_misc. */
void vl_open_fs(lua_State *L);

/* ---- handles (lhandle.c): the liolib pattern every handle type follows -- */

/* Register a handle type: metatable tname with meta (__gc, __close,
 * __tostring, ...) and __index: the methods table, or a C closure index over
 * it (upvalue 1) for handles that also have fields (p.pid, store.dir). poll,
 * when given, becomes __vl_poll: core.wait can watch the handle and the fd
 * arguments of core.spawn and send_fds accept it. Leaves the stack as is. */
void vl_new_class(lua_State *L, const char *tname, const luaL_Reg *meta,
		  const luaL_Reg *methods, lua_CFunction index, const vl_pollable *poll);

/* The handle of type tname at idx, whose struct starts with the fd it owns
 * (-1 once closed); a closed one raises "attempt to use a closed <what>". */
void *vl_check_open(lua_State *L, int idx, const char *tname, const char *what);

/* The fd behind the value at idx, to hand to a child or a peer: an integer
 * >= 0, an open io file (flushed first: what we wrote goes before what the
 * new holder writes), or an open handle that owns its fd (Socket, Listener,
 * a pipe Stream). Else -1 and *why (pushed): "invalid fd -1", "attempt to
 * use a closed file", "... closed socket", "a followed file has no fd to
 * pass", "expected an fd, an io file, a Stream or a Socket, got table". */
int vl_to_fd(lua_State *L, int idx, const char **why);

/* ---- results and options -------------------------------------------------- */

/* Push fail, e->msg[, e->code]; returns the number of values pushed. */
static inline int vl_push_error(lua_State *L, const vl_error *e)
{
	luaL_pushfail(L);
	lua_pushstring(L, e->msg);
	if (e->code == 0)
		return 2;
	lua_pushinteger(L, e->code);
	return 3;
}

/* t[key] without metamethods, pushed; returns its type. For options whose
 * C pointers (strings, userdata) a binding keeps after popping them: a raw
 * value stays anchored in t, while one an __index function made up could be
 * collected under the pointer. */
static inline int vl_rawfield(lua_State *L, int t, const char *key)
{
	t = lua_absindex(L, t);
	lua_pushstring(L, key);
	return lua_rawget(L, t);
}

/* Raise for an options table at arg that is not a table (nil/none is fine)
 * or has a key outside names. Returns 1 when a table is there. */
static inline int vl_check_options(lua_State *L, int arg, const char *const names[])
{
	if (lua_isnoneornil(L, arg))
		return 0;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, arg) != 0) {
		lua_pop(L, 1);
		int known = 0;
		if (lua_type(L, -1) == LUA_TSTRING)
			for (int i = 0; names[i] != NULL && !known; i++)
				known = strcmp(names[i], lua_tostring(L, -1)) == 0;
		if (!known) {
			const char *k = luaL_tolstring(L, -1, NULL);
			luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", k));
		}
	}
	return 1;
}

/* A mode given as an integer (0x180) or an octal string ("0600", "600"). */
static inline lua_Integer vl_check_mode(lua_State *L, int idx, int arg)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *s = lua_tostring(L, idx);
		char *end;
		long v = strtol(s, &end, 8);
		if (*s == '\0' || *end != '\0' || v < 0 || v > 07777)
			luaL_argerror(L, arg, lua_pushfstring(L, "mode '%s' is not an octal mode", s));
		return v;
	}
	if (!lua_isinteger(L, idx) || lua_tointeger(L, idx) < 0 || lua_tointeger(L, idx) > 07777)
		luaL_argerror(L, arg, "mode must be an integer 0..0o7777 or an octal string");
	return lua_tointeger(L, idx);
}

#endif
