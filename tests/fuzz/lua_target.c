/*
 * The fuzz target for a reader written in Lua: embeds Lua 5.4 with
 * vmlua.core and the real library (lua/vmlua/), loads
 * tests/fuzz/lua/<FUZZ_TARGET>.lua, which returns function(data), and calls
 * it with each input. An error that escapes that function is a finding:
 * the readers return nil, message for whatever a peer sends, and the
 * function checks their other promises with assert.
 *
 * Under libFuzzer (FUZZ_LIBFUZZER) a line hook feeds Lua's own coverage to
 * the fuzzer: each (source, line) after the previous one bumps a counter in
 * the __libfuzzer_extra_counters section, so inputs that take new paths
 * through the Lua code are kept, as for instrumented C.
 *
 * The state lives across inputs, as a client does across messages.
 * fuzz.tmpdir() is a directory of the target's own (tmpdir.c: removed at
 * exit), for a reader of files.
 * fuzz.sndbuf(fd, bytes) lets a target make a socket's send buffer hold a
 * whole input (SO_SNDBUFFORCE, as root), so that the peer's bytes can all
 * be written before the reader runs, without a second process.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz.h"
#include "vmlua.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET (the target's name) must be defined"
#endif

static lua_State *L;
static int target_ref = LUA_NOREF;

#ifdef FUZZ_LIBFUZZER
enum { COUNTERS = 1 << 16 };
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t lua_counters[COUNTERS];
static uintptr_t previous;

static void line_hook(lua_State *l, lua_Debug *ar)
{
	if (lua_getinfo(l, "S", ar) == 0)
		return;
	uintptr_t here = ((uintptr_t)ar->source * 2654435761u) ^ (uintptr_t)ar->currentline * 40503u;
	lua_counters[(here ^ (previous >> 1)) & (COUNTERS - 1)]++;
	previous = here;
}
#endif

static int l_sndbuf(lua_State *l)
{
	int fd = (int)luaL_checkinteger(l, 1);
	int bytes = (int)luaL_checkinteger(l, 2);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) < 0)
		return luaL_error(l, "setsockopt: %s", strerror(errno));
	return 0;
}

static int l_tmpdir(lua_State *l)
{
	static const char *dir;
	if (dir == NULL)
		dir = fuzz_tmpdir();
	lua_pushstring(l, dir);
	return 1;
}

static int traceback(lua_State *l)
{
	luaL_traceback(l, l, luaL_tolstring(l, 1, NULL), 1);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "vmlua.core", luaopen_vmlua_core, 0);
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushstring(L, FUZZ_ROOT "/lua/?.lua;" FUZZ_ROOT "/lua/?/init.lua;" FUZZ_ROOT "/tests/fuzz/lua/?.lua");
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	lua_newtable(L);
	lua_pushcfunction(L, l_sndbuf);
	lua_setfield(L, -2, "sndbuf");
	lua_pushcfunction(L, l_tmpdir);
	lua_setfield(L, -2, "tmpdir");
	lua_setglobal(L, "fuzz");
	lua_pushcfunction(L, traceback);
	if (luaL_loadfile(L, FUZZ_ROOT "/tests/fuzz/lua/" FUZZ_TARGET ".lua") != LUA_OK ||
	    lua_pcall(L, 0, 1, -2) != LUA_OK || !lua_isfunction(L, -1)) {
		fprintf(stderr, "fuzz: cannot load the target: %s\n", luaL_tolstring(L, -1, NULL));
		exit(2);
	}
	target_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
#ifdef FUZZ_LIBFUZZER
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
#endif
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (L == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	lua_pushcfunction(L, traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, target_ref);
	lua_pushlstring(L, (const char *)data, size);
	FUZZ_CHECK(lua_pcall(L, 1, 0, -3) == LUA_OK, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	return 0;
}
