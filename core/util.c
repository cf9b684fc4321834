/*
 * Result conventions and timeouts shared by the binding files.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

double vl_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double vl_opt_timeout(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return -1;
	lua_Number t = luaL_checknumber(L, arg);
	luaL_argcheck(L, !isnan(t) && t >= 0, arg, "timeout must be a number >= 0");
	return (double)t;
}

double vl_deadline(double timeout)
{
	return timeout < 0 ? -1 : vl_monotonic() + timeout;
}

int vl_remaining_ms(double deadline)
{
	if (deadline < 0)
		return -1;
	double left = deadline - vl_monotonic();
	if (left <= 0)
		return 0;
	double ms = ceil(left * 1000.0);
	return ms > 1e9 ? 1000000000 : (int)ms;
}
