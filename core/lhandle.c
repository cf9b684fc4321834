/*
 * What every handle type shares (see lbind.h): registering its metatable,
 * the "attempt to use a closed X" check, and turning a handle, an io file or
 * an integer into the fd to pass on.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lbind.h"
#include "stream.h"

void vl_new_class(lua_State *L, const char *tname, const luaL_Reg *meta,
		  const luaL_Reg *methods, lua_CFunction index, const vl_pollable *poll)
{
	luaL_newmetatable(L, tname);
	luaL_setfuncs(L, meta, 0);
	if (methods != NULL) {
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		if (index != NULL)
			lua_pushcclosure(L, index, 1);
		lua_setfield(L, -2, "__index");
	}
	if (poll != NULL) {
		lua_pushlightuserdata(L, (void *)poll);
		lua_setfield(L, -2, "__vl_poll");
	}
	lua_pop(L, 1);
}

void *vl_check_open(lua_State *L, int idx, const char *tname, const char *what)
{
	int *fd = luaL_checkudata(L, idx, tname);
	if (*fd < 0)
		luaL_error(L, "attempt to use a closed %s", what);
	return fd;
}

static int not_an_fd(lua_State *L, const char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*why = lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return -1;
}

int vl_to_fd(lua_State *L, int idx, const char **why)
{
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		int isint;
		lua_Integer fd = lua_tointegerx(L, idx, &isint);
		if (!isint || fd < 0 || fd > INT_MAX)
			return not_an_fd(L, why, "invalid fd %s", lua_tostring(L, idx));
		return (int)fd;
	}
	luaL_Stream *file = luaL_testudata(L, idx, LUA_FILEHANDLE);
	if (file != NULL) {
		if (file->closef == NULL)
			return not_an_fd(L, why, "attempt to use a closed file");
		fflush(file->f);
		return fileno(file->f);
	}
	/* A followed file polls its inotify fd, which is no fd to pass. */
	vl_stream *s = luaL_testudata(L, idx, VL_STREAM);
	if (s != NULL && s->kind == VL_STREAM_FOLLOW)
		return not_an_fd(L, why, "a followed file has no fd to pass");
	if (lua_type(L, idx) == LUA_TUSERDATA && luaL_getmetafield(L, idx, "__vl_poll") != LUA_TNIL) {
		const vl_pollable *pl = lua_touserdata(L, -1);
		lua_pop(L, 1);
		int fd = pl != NULL ? pl->fd(lua_touserdata(L, idx)) : -1;
		if (fd < 0)
			return not_an_fd(L, why, "attempt to use a closed %s", pl != NULL ? pl->what : "handle");
		return fd;
	}
	return not_an_fd(L, why, "expected an fd, an io file, a Stream or a Socket, got %s",
			 luaL_typename(L, idx));
}
