/*
 * Result conventions and the timeout argument shared by the binding files.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "vmlua.h"

int vl_fail_errno(lua_State *L, int err, const char *fmt, ...)
{
	char ctx[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	luaL_pushfail(L);
	lua_pushfstring(L, "%s: %s", ctx, strerror(err));
	lua_pushinteger(L, err);
	return 3;
}

int vl_fail_msg(lua_State *L, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	luaL_pushfail(L);
	lua_pushstring(L, msg);
	return 2;
}

int vl_fail_timeout(lua_State *L)
{
	luaL_pushfail(L);
	lua_pushliteral(L, "timeout");
	lua_pushinteger(L, ETIMEDOUT);
	return 3;
}

double vl_opt_timeout(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return -1;
	lua_Number t = luaL_checknumber(L, arg);
	luaL_argcheck(L, !isnan(t) && t >= 0, arg, "timeout must be a number >= 0");
	return (double)t;
}
