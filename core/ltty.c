/*
 * core.tty: what an interactive console needs from the terminal.
 *
 *   tty.raw(fd) -> Tty | nil, msg, errno   the terminal at fd in raw mode
 *                                          (cfmakeraw); the old settings are
 *                                          kept in the handle
 *   tty:restore() -> true                  put them back (idempotent; also
 *                                          __close and __gc, so an error
 *                                          never leaves the terminal raw)
 *   tty.input(fd) -> Stream | nil, msg, errno
 *                                          a read Stream on what fd reads
 *                                          (a new open file description,
 *                                          non-blocking: the caller's fd and
 *                                          its flags stay as they are), for
 *                                          core.wait { { readable = s } }
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "stream.h"

#define VL_TTY "vmlua.Tty"

typedef struct {
	int fd;			/* first, as every handle: -1 once restored */
	struct termios saved;
} vl_tty;

static int tty_raw(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	luaL_argcheck(L, fd >= 0, 1, "invalid fd");
	vl_tty *t = lua_newuserdatauv(L, sizeof *t, 0);
	t->fd = -1;
	luaL_setmetatable(L, VL_TTY);
	if (tcgetattr(fd, &t->saved) < 0)
		return vl_fail_errno(L, errno, "terminal fd %d", fd);
	struct termios raw = t->saved;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return vl_fail_errno(L, errno, "terminal fd %d: raw mode", fd);
	t->fd = fd;
	return 1;
}

static int tty_restore(lua_State *L)
{
	vl_tty *t = luaL_checkudata(L, 1, VL_TTY);
	if (t->fd >= 0)
		tcsetattr(t->fd, TCSANOW, &t->saved);
	t->fd = -1;
	lua_pushboolean(L, 1);
	return 1;
}

static int tty_tostring(lua_State *L)
{
	vl_tty *t = luaL_checkudata(L, 1, VL_TTY);
	if (t->fd < 0)
		lua_pushliteral(L, "vmlua.Tty (restored)");
	else
		lua_pushfstring(L, "vmlua.Tty (fd %d, raw)", t->fd);
	return 1;
}

static int tty_input(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	char path[64];

	luaL_argcheck(L, fd >= 0, 1, "invalid fd");
	vl_stream *s = vl_stream_new(L);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int nfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (nfd < 0)
		return vl_fail_errno(L, errno, "input fd %d", fd);
	vl_stream_open_pipe(s, nfd, 0);
	return 1;
}

void vl_open_tty(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "restore", tty_restore },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", tty_restore },
		{ "__close", tty_restore },
		{ "__tostring", tty_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg fns[] = {
		{ "raw", tty_raw },
		{ "input", tty_input },
		{ NULL, NULL },
	};

	vl_new_class(L, VL_TTY, meta, methods, NULL, NULL);
	luaL_newlib(L, fns);
	lua_setfield(L, -2, "tty");
}
