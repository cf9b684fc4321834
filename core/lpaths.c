/*
 * core.paths: sandbox ids and the paths built from them.
 *
 *   check_id(id) -> true | nil, msg, EINVAL
 *   socket(dir, name) -> path | nil, msg, ENAMETOOLONG
 *   join(a, b, ...) -> path
 *   default_run_dir() -> path
 */
#include <limits.h>
#include <string.h>

#include <lauxlib.h>

#include "lbind.h"
#include "paths.h"
#include "vmlua.h"

static int paths_check_id(lua_State *L)
{
	size_t len;
	const char *id = luaL_checklstring(L, 1, &len);
	vl_error e;

	if (vl_check_id(id, len, &e) < 0)
		return vl_push_error(L, &e);
	lua_pushboolean(L, 1);
	return 1;
}

/* Add part to b: one '/' between parts, whatever slashes they carry. A
 * later part never replaces the path before it, even if it starts with '/'. */
static void add_part(luaL_Buffer *b, int *empty, int *ends_slash, const char *p, size_t len)
{
	if (!*empty) {
		while (len > 0 && *p == '/')
			p++, len--;
		if (len == 0)
			return;
		if (!*ends_slash)
			luaL_addchar(b, '/');
	}
	if (len == 0)
		return;
	/* Keep a lone "/" (the root); drop trailing slashes of anything else. */
	size_t keep = len;
	while (keep > 1 && p[keep - 1] == '/')
		keep--;
	luaL_addlstring(b, p, keep);
	*empty = 0;
	*ends_slash = p[keep - 1] == '/';
}

static int paths_join(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	int empty = 1, ends_slash = 0;

	luaL_checkstring(L, 1);
	for (int i = 2; i <= n; i++)
		luaL_checkstring(L, i);
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		size_t len;
		const char *p = lua_tolstring(L, i, &len);
		add_part(&b, &empty, &ends_slash, p, len);
	}
	luaL_pushresult(&b);
	return 1;
}

static int paths_socket(lua_State *L)
{
	luaL_checkstring(L, 1);
	luaL_checkstring(L, 2);
	lua_settop(L, 2);
	lua_pushcfunction(L, paths_join);
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	size_t len;
	const char *path = lua_tolstring(L, 1, &len);
	vl_error e;
	if (vl_check_socket_path(path, len, &e) < 0)
		return vl_push_error(L, &e);
	return 1;
}

static int paths_default_run_dir(lua_State *L)
{
	char dir[PATH_MAX];

	if (vl_default_run_dir(dir, sizeof dir) < 0)
		return vl_fail_msg(L, "run dir: path too long");
	lua_pushstring(L, dir);
	return 1;
}

static const luaL_Reg paths_funcs[] = {
	{ "check_id", paths_check_id },
	{ "socket", paths_socket },
	{ "join", paths_join },
	{ "default_run_dir", paths_default_run_dir },
	{ NULL, NULL },
};

void vl_open_paths(lua_State *L)
{
	luaL_newlib(L, paths_funcs);
	lua_setfield(L, -2, "paths");
}
