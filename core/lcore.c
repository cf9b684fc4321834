/*
 * luaopen_vmlua_core: one table assembled from the parts in core/l*.c.
 * The same function is linked into the vmlua executable (package.preload)
 * and exported from build/lib/vmlua/core.so for a plain lua5.4.
 */
#include <json-c/json_c_version.h>
#include <lauxlib.h>

#include "inherit.h"
#include "vmlua.h"

static void (*const parts[])(lua_State *L) = {
	vl_open_signal, vl_open_process, vl_open_stream, vl_open_wait, vl_open_daemon,
	vl_open_socket, vl_open_json, vl_open_state, vl_open_paths, vl_open_misc, vl_open_log,
	vl_open_net,
	vl_open_base64, vl_open_tty,
};

int luaopen_vmlua_core(lua_State *L)
{
	vl_inherited_record();	/* before Lua code of ours opens any file */
	lua_newtable(L);
	lua_pushliteral(L, VMLUA_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushliteral(L, LUA_RELEASE);
	lua_setfield(L, -2, "lua_version");
	lua_pushstring(L, json_c_version());
	lua_setfield(L, -2, "jsonc_version");
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		parts[i](L);
		luaL_checkstack(L, 1, NULL);
	}
	return 1;
}
