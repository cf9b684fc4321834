/*
 * The small things: environment, ids, terminals, clocks, systemd notify.
 *
 *   setenv(name, value | nil | false) -> true | nil, msg, errno
 *   getpid(), getuid() -> integer      isatty(fd | file) -> boolean
 *   monotonic(), time() -> seconds (float)
 *   sd_notify(state) -> true | false (NOTIFY_SOCKET unset) | nil, msg, errno
 *   nontail(f) -> g: g(...) calls f(...) and returns its results
 *   errno: { ENOENT = 2, ETIMEDOUT = 110, ... } (this system's numbers, as
 *          luaposix's posix.errno), so Lua code compares names, not numbers
 * and core.fs (lfs.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "sock.h"
#include "vmlua.h"

static int misc_setenv(lua_State *L)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);
	luaL_argcheck(L, len > 0 && strchr(name, '=') == NULL && strlen(name) == len, 1,
		      "not a variable name");
	/* nil or false unsets (false as in core.spawn's env table). */
	const char *value = lua_isnoneornil(L, 2) || (lua_type(L, 2) == LUA_TBOOLEAN && !lua_toboolean(L, 2))
				    ? NULL
				    : luaL_checkstring(L, 2);
	int rc = value == NULL ? unsetenv(name) : setenv(name, value, 1);
	if (rc < 0)
		return vl_fail_errno(L, errno, "setenv %s", name);
	lua_pushboolean(L, 1);
	return 1;
}

static int misc_getpid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getpid());
	return 1;
}

static int misc_getuid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getuid());
	return 1;
}

static int misc_isatty(lua_State *L)
{
	int fd;

	if (lua_isinteger(L, 1)) {
		fd = (int)lua_tointeger(L, 1);
	} else {
		luaL_Stream *f = luaL_checkudata(L, 1, LUA_FILEHANDLE);
		if (f->closef == NULL)
			return luaL_error(L, "attempt to use a closed file");
		fd = fileno(f->f);
	}
	lua_pushboolean(L, isatty(fd));
	return 1;
}

static int misc_monotonic(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)vl_monotonic());
	return 1;
}

static int misc_time(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

static int misc_sd_notify(lua_State *L)
{
	size_t len;
	const char *state = luaL_checklstring(L, 1, &len);
	vl_error e;

	int r = vl_sd_notify(state, len, &e);
	if (r < 0)
		return vl_push_error(L, &e);
	lua_pushboolean(L, r);
	return 1;
}

/* Lua never tail-calls a C function away: in `return g{...}` the caller's
 * frame stays on the stack while g runs. So f, called through g, finds the
 * line that called g at debug level 3 even from a tail call (vmlua.sandbox
 * names the recipe's file:line this way). */
static int nontail_call(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static int misc_nontail(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, nontail_call, 1);
	return 1;
}

static const luaL_Reg misc_funcs[] = {
	{ "nontail", misc_nontail },
	{ "setenv", misc_setenv },
	{ "getpid", misc_getpid },
	{ "getuid", misc_getuid },
	{ "isatty", misc_isatty },
	{ "monotonic", misc_monotonic },
	{ "time", misc_time },
	{ "sd_notify", misc_sd_notify },
	{ NULL, NULL },
};

/* The errno values Lua code compares against (the third result of a
 * failure). Names as in <errno.h>; add one when a caller needs it. */
static const struct {
	const char *name;
	int value;
} errno_names[] = {
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESRCH", ESRCH }, { "EINTR", EINTR },
	{ "EIO", EIO }, { "EBADF", EBADF }, { "ECHILD", ECHILD }, { "EAGAIN", EAGAIN },
	{ "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EBUSY", EBUSY }, { "EEXIST", EEXIST },
	{ "ENOTDIR", ENOTDIR }, { "EISDIR", EISDIR }, { "EINVAL", EINVAL }, { "EMFILE", EMFILE },
	{ "ENOSPC", ENOSPC }, { "EPIPE", EPIPE }, { "ERANGE", ERANGE }, { "ENAMETOOLONG", ENAMETOOLONG },
	{ "ENOSYS", ENOSYS }, { "ELOOP", ELOOP }, { "EPROTO", EPROTO }, { "EMSGSIZE", EMSGSIZE },
	{ "EADDRINUSE", EADDRINUSE }, { "ECONNABORTED", ECONNABORTED }, { "ECONNRESET", ECONNRESET },
	{ "ENOTCONN", ENOTCONN }, { "ETIMEDOUT", ETIMEDOUT }, { "ECONNREFUSED", ECONNREFUSED },
	{ "EALREADY", EALREADY }, { "EINPROGRESS", EINPROGRESS }, { "ENODEV", ENODEV },
	{ "ENXIO", ENXIO }, { "EROFS", EROFS }, { "ENOTSOCK", ENOTSOCK }, { "EOPNOTSUPP", EOPNOTSUPP },
	{ "E2BIG", E2BIG }, { "ENOEXEC", ENOEXEC },
};

void vl_open_misc(lua_State *L)
{
	luaL_setfuncs(L, misc_funcs, 0);
	lua_createtable(L, 0, (int)(sizeof errno_names / sizeof errno_names[0]));
	for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++) {
		lua_pushinteger(L, errno_names[i].value);
		lua_setfield(L, -2, errno_names[i].name);
	}
	lua_setfield(L, -2, "errno");
	vl_open_fs(L);
}
