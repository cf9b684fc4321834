/*
 * vmlua: the executable. Embeds Lua 5.4, makes vmlua.core available as a
 * built-in module, points package.path at the Lua library (source tree or
 * install prefix, plus VMLUA_PATH) and hands argv to vmlua.cli.
 *
 * Shaped after lua.c: everything runs inside lua_pcall with a message
 * handler; the handler adds a traceback only when VMLUA_LOG=debug.
 */
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "vmlua.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static int debug_enabled(void)
{
	const char *lvl = getenv("VMLUA_LOG");
	return lvl != NULL && strcmp(lvl, "debug") == 0;
}

/* Error objects raised by vmlua.cli are either strings or tables
 * { message = ..., exit = N }; anything else is a bug and exits 1. */
static int msghandler(lua_State *L)
{
	if (!lua_isstring(L, 1) && !lua_istable(L, 1)) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
		lua_replace(L, 1);
	}
	if (debug_enabled() && lua_isstring(L, 1)) {
		luaL_traceback(L, L, lua_tostring(L, 1), 1);
		return 1;
	}
	return 1;
}

/* Directory holding this executable, from /proc/self/exe. */
static int exe_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return -1;
	}
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash == NULL) {
		buf[0] = '\0';
		return -1;
	}
	*slash = '\0';
	return 0;
}

static int file_exists(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Prepend our directories to package.path / package.cpath. The source tree
 * wins when the executable sits in build/ or build/asan/ of a checkout. */
static void set_paths(lua_State *L)
{
	char dir[PATH_MAX] = "", probe[PATH_MAX + 64], root[PATH_MAX + 16];
	luaL_Buffer b;

	root[0] = '\0';
	if (exe_dir(dir, sizeof dir) == 0) {
		static const char *const up[] = { "..", "../.." };
		for (size_t i = 0; i < sizeof up / sizeof up[0] && !root[0]; i++) {
			snprintf(probe, sizeof probe, "%s/%s/lua/vmlua/init.lua", dir, up[i]);
			if (file_exists(probe))
				snprintf(root, sizeof root, "%s/%s", dir, up[i]);
		}
	}

	lua_getglobal(L, "package");
	luaL_buffinit(L, &b);
	/* VMLUA_PATH is a colon-separated list of directories, of any length. */
	const char *extra = getenv("VMLUA_PATH");
	for (const char *p = extra; p != NULL && *p;) {
		const char *end = strchrnul(p, ':');
		size_t len = (size_t)(end - p);
		if (len > 0) {
			luaL_addlstring(&b, p, len);
			luaL_addstring(&b, "/?.lua;");
			luaL_addlstring(&b, p, len);
			luaL_addstring(&b, "/?/init.lua;");
		}
		p = *end ? end + 1 : end;
	}
	if (root[0]) {
		lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", root, root);
		luaL_addvalue(&b);
	} else if (dir[0]) {
		lua_pushfstring(L, "%s/../share/lua/5.4/?.lua;%s/../share/lua/5.4/?/init.lua;",
				dir, dir);
		luaL_addvalue(&b);
	}
	lua_getfield(L, -2, "path");
	luaL_addvalue(&b);
	luaL_pushresult(&b);
	lua_setfield(L, -2, "path");

	if (root[0])
		lua_pushfstring(L, "%s/build/lib/?.so;", root);
	else
		lua_pushfstring(L, "%s/../lib/lua/5.4/?.so;", dir);
	lua_getfield(L, -2, "cpath");
	lua_concat(L, 2);
	lua_setfield(L, -2, "cpath");

	/* The executable carries its own vmlua.core: never load a .so twin. */
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, luaopen_vmlua_core);
	lua_setfield(L, -2, "vmlua.core");
	lua_pop(L, 2);
}

static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = (char **)lua_touserdata(L, 2);

	luaL_checkversion(L);
	luaL_openlibs(L);
	set_paths(L);

	lua_createtable(L, argc, 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");

	lua_getglobal(L, "require");
	lua_pushliteral(L, "vmlua.cli");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "vmlua.cli has no main function");
	lua_createtable(L, argc > 0 ? argc - 1 : 0, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_call(L, 1, 1);
	return 1;
}

/* Exit status from an error object: tables may carry .exit, strings are 1. */
static int report_error(lua_State *L)
{
	int code = EXIT_RUNTIME;
	const char *msg = NULL;

	if (lua_istable(L, -1)) {
		lua_getfield(L, -1, "exit");
		if (lua_isinteger(L, -1))
			code = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		lua_getfield(L, -1, "message");
		msg = lua_tostring(L, -1);
	} else {
		msg = lua_tostring(L, -1);
	}
	if (msg != NULL && *msg)
		fprintf(stderr, "vmlua: %s\n", msg);
	return code;
}

int main(int argc, char **argv)
{
	/* Supervised signals are read through core.wait (signalfd), never
	 * delivered asynchronously; children start with an empty mask. */
	vl_block_default_signals();
	/* A reader of our stdout/stderr that goes away (vmlua run | head) must
	 * not kill the supervisor in the middle of a stop: writes fail with
	 * EPIPE instead. Children get default dispositions back (spawn.c). */
	signal(SIGPIPE, SIG_IGN);
	lua_State *L = luaL_newstate();
	if (L == NULL) {
		fprintf(stderr, "vmlua: cannot create Lua state: not enough memory\n");
		return EXIT_RUNTIME;
	}
	lua_gc(L, LUA_GCSTOP);
	lua_pushcfunction(L, msghandler);
	lua_pushcfunction(L, pmain);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	lua_gc(L, LUA_GCRESTART);
	lua_gc(L, LUA_GCGEN, 0, 0);

	int status;
	if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
		status = report_error(L);
	} else if (lua_isinteger(L, -1)) {
		status = (int)lua_tointeger(L, -1);
	} else {
		status = lua_toboolean(L, -1) || lua_isnil(L, -1) ? 0 : EXIT_RUNTIME;
	}
	fflush(stdout);
	lua_close(L);
	return status;
}
