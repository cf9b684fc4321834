/*
 * core.net: host network interfaces for sandboxes (net.c).
 *
 *   tap_create(name[, { owner = uid, group = gid, device = path }]) -> index | nil, msg, errno
 *   link(index | name) -> { index, name, kind, up, mac, mtu } | nil, msg, errno (ENODEV: none)
 *   link_up(index[, up = true]) -> true | nil, msg, errno
 *   link_delete(index) -> true | nil, msg, errno
 *   addr_add(index, "10.0.0.1/24") -> true | nil, msg, errno
 *   addresses() -> { { index, family = "inet" | "inet6", address, prefix }, ... } | nil, msg, errno
 *   can_admin() -> boolean (CAP_NET_ADMIN in the effective set)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include <lauxlib.h>

#include "lbind.h"
#include "net.h"
#include "vmlua.h"

static int check_index(lua_State *L, int arg)
{
	lua_Integer i = luaL_checkinteger(L, arg);
	luaL_argcheck(L, i > 0 && i <= 0x7fffffff, arg, "interface index must be > 0");
	return (int)i;
}

static int net_tap_create(lua_State *L)
{
	static const char *const names[] = { "owner", "group", "device", NULL };
	const char *name = luaL_checkstring(L, 1);
	lua_Integer owner = -1, group = -1;
	const char *device = NULL;
	vl_error e;

	if (vl_check_options(L, 2, names)) {
		if (vl_rawfield(L, 2, "owner") != LUA_TNIL)
			owner = luaL_checkinteger(L, -1);
		if (vl_rawfield(L, 2, "group") != LUA_TNIL)
			group = luaL_checkinteger(L, -1);
		if (vl_rawfield(L, 2, "device") != LUA_TNIL)
			device = luaL_checkstring(L, -1);	/* anchored in the options table */
		lua_pop(L, 3);
		luaL_argcheck(L, owner >= -1 && group >= -1, 2, "owner and group must be ids >= 0");
	}
	int index = vl_tap_create(device, name, (long)owner, (long)group, &e);
	if (index < 0)
		return vl_push_error(L, &e);
	lua_pushinteger(L, index);
	return 1;
}

static void push_mac(lua_State *L, const unsigned char *m)
{
	char text[18];
	snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	lua_pushstring(L, text);
}

static int net_link(lua_State *L)
{
	vl_link l;
	vl_error e;
	int rc;

	if (lua_type(L, 1) == LUA_TSTRING)
		rc = vl_link_get(0, lua_tostring(L, 1), &l, &e);
	else
		rc = vl_link_get(check_index(L, 1), NULL, &l, &e);
	if (rc < 0)
		return vl_push_error(L, &e);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, l.index);
	lua_setfield(L, -2, "index");
	lua_pushstring(L, l.name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, l.kind);
	lua_setfield(L, -2, "kind");
	lua_pushboolean(L, (l.flags & IFF_UP) != 0);
	lua_setfield(L, -2, "up");
	lua_pushinteger(L, (lua_Integer)l.mtu);
	lua_setfield(L, -2, "mtu");
	if (l.has_mac) {
		push_mac(L, l.mac);
		lua_setfield(L, -2, "mac");
	}
	return 1;
}

static int result(lua_State *L, int rc, const vl_error *e)
{
	if (rc < 0)
		return vl_push_error(L, e);
	lua_pushboolean(L, 1);
	return 1;
}

static int net_link_up(lua_State *L)
{
	vl_error e;
	int index = check_index(L, 1);
	int up = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
	return result(L, vl_link_set_up(index, up, &e), &e);
}

static int net_link_delete(lua_State *L)
{
	vl_error e;
	return result(L, vl_link_delete(check_index(L, 1), &e), &e);
}

static int net_addr_add(lua_State *L)
{
	vl_error e;
	int index = check_index(L, 1);
	return result(L, vl_addr_add(index, luaL_checkstring(L, 2), &e), &e);
}

static int net_addresses(lua_State *L)
{
	vl_addr *list = NULL;
	size_t n = 0;
	vl_error e;

	if (vl_addr_list(&list, &n, &e) < 0)
		return vl_push_error(L, &e);
	/* into Lua-owned memory first: a memory error below must not leak it */
	vl_addr *copy = n > 0 ? lua_newuserdatauv(L, n * sizeof *copy, 0) : NULL;
	if (n > 0)
		memcpy(copy, list, n * sizeof *copy);
	free(list);
	list = copy;
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 4);
		lua_pushinteger(L, list[i].index);
		lua_setfield(L, -2, "index");
		lua_pushstring(L, list[i].family == AF_INET ? "inet" : "inet6");
		lua_setfield(L, -2, "family");
		lua_pushstring(L, list[i].text);
		lua_setfield(L, -2, "address");
		lua_pushinteger(L, list[i].prefix);
		lua_setfield(L, -2, "prefix");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int net_can_admin(lua_State *L)
{
	lua_pushboolean(L, vl_can_net_admin());
	return 1;
}

static const luaL_Reg net_funcs[] = {
	{ "tap_create", net_tap_create },
	{ "link", net_link },
	{ "link_up", net_link_up },
	{ "link_delete", net_link_delete },
	{ "addr_add", net_addr_add },
	{ "addresses", net_addresses },
	{ "can_admin", net_can_admin },
	{ NULL, NULL },
};

void vl_open_net(lua_State *L)
{
	luaL_newlib(L, net_funcs);
	lua_setfield(L, -2, "net");
}
