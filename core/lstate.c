/*
 * core.state: the Lua face of the state store (state.c, statelock.c).
 *
 *   core.state.open(run_dir) -> Store | nil, msg, errno
 *   store.dir, store:dir_of(id), store:save(id, t), store:load(id),
 *   store:list(), store:remove(id), store:lock(id[, wait]) -> Lock, store:close()
 *   lock:unlock() (= lock:close()), lock.id
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <lauxlib.h>

#include "lbind.h"
#include "ljson.h"
#include "paths.h"
#include "state.h"
#include "vmlua.h"

typedef struct lock_handle {
	int fd;			/* -1 when unlocked */
	char id[VL_ID_MAX + 1];
} lock_handle;

/* ---- Store --------------------------------------------------------------- */

_Static_assert(offsetof(vl_store, dirfd) == 0, "vl_check_open reads the fd first");

static vl_store *check_store(lua_State *L)
{
	return vl_check_open(L, 1, VL_STORE, "store");
}

static int state_open(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	vl_store *s = lua_newuserdatauv(L, sizeof *s, 0);
	vl_error e;

	s->dirfd = -1;		/* closed until the run dir is open */
	s->dir[0] = '\0';
	luaL_setmetatable(L, VL_STORE);
	if (vl_store_open(s, dir, &e) < 0)
		return vl_push_error(L, &e);
	return 1;
}

static int store_gc(lua_State *L)
{
	vl_store *s = luaL_checkudata(L, 1, VL_STORE);
	vl_store_close(s);
	return 0;
}

static int store_tostring(lua_State *L)
{
	vl_store *s = luaL_checkudata(L, 1, VL_STORE);
	if (s->dirfd < 0)
		lua_pushliteral(L, "vmlua.Store (closed)");
	else
		lua_pushfstring(L, "vmlua.Store (%s)", s->dir);
	return 1;
}

static int store_dir_of(lua_State *L)
{
	vl_store *s = check_store(L);
	size_t len;
	const char *id = luaL_checklstring(L, 2, &len);
	char path[PATH_MAX + VL_ID_MAX + 2];
	vl_error e;

	/* Check with the Lua length: "a\0b" must not pass as "a". */
	if (vl_check_id(id, len, &e) < 0 || vl_store_dir_of(s, id, path, sizeof path, &e) < 0)
		return vl_push_error(L, &e);
	lua_pushstring(L, path);
	return 1;
}

static int store_save(lua_State *L)
{
	vl_store *s = check_store(L);
	const char *id = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	vl_error e;

	lua_settop(L, 3);
	if (vl_check_id(id, lua_rawlen(L, 2), &e) < 0)
		return vl_push_error(L, &e);
	struct json_object **slot = vl_json_newbox(L);
	vl_json_from_lua(L, 3, slot, 0);
	int rc = vl_store_save(s, id, *slot, NULL, &e);
	vl_json_box_clear(slot);
	if (rc < 0)
		return vl_push_error(L, &e);
	lua_pushboolean(L, 1);
	return 1;
}

static int store_load(lua_State *L)
{
	vl_store *s = check_store(L);
	const char *id = luaL_checkstring(L, 2);
	vl_error e;

	if (vl_check_id(id, lua_rawlen(L, 2), &e) < 0)
		return vl_push_error(L, &e);
	struct json_object **slot = vl_json_newbox(L);
	if (vl_store_load(s, id, slot, &e) < 0)
		return vl_push_error(L, &e);
	vl_json_push(L, *slot);
	vl_json_box_clear(slot);
	return 1;
}

/* The ids live in a C array while the Lua table is built: keep that array
 * in a box so that a memory error while pushing cannot leak it. */
typedef struct id_list {
	char **ids;
	size_t n;
} id_list;

static int id_list_gc(lua_State *L)
{
	id_list *l = lua_touserdata(L, 1);
	vl_store_list_free(l->ids, l->n);
	l->ids = NULL;
	l->n = 0;
	return 0;
}

static int store_list(lua_State *L)
{
	vl_store *s = check_store(L);
	vl_error e;

	id_list *l = lua_newuserdatauv(L, sizeof *l, 0);
	l->ids = NULL;
	l->n = 0;
	lua_newtable(L);
	lua_pushcfunction(L, id_list_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	if (vl_store_list(s, &l->ids, &l->n, &e) < 0)
		return vl_push_error(L, &e);
	lua_createtable(L, (int)l->n, 0);
	for (size_t i = 0; i < l->n; i++) {
		lua_pushstring(L, l->ids[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	vl_store_list_free(l->ids, l->n);
	l->ids = NULL;
	l->n = 0;
	return 1;
}

static int store_remove(lua_State *L)
{
	vl_store *s = check_store(L);
	const char *id = luaL_checkstring(L, 2);
	vl_error e;

	if (vl_check_id(id, lua_rawlen(L, 2), &e) < 0 || vl_store_remove(s, id, &e) < 0)
		return vl_push_error(L, &e);
	lua_pushboolean(L, 1);
	return 1;
}

/* wait: nil/false -> 0 (fail at once), true -> -1 (forever), n >= 0 -> n. */
static double check_wait(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return 0;
	if (lua_type(L, arg) == LUA_TBOOLEAN)
		return lua_toboolean(L, arg) ? -1 : 0;
	lua_Number w = luaL_checknumber(L, arg);
	luaL_argcheck(L, w >= 0, arg, "wait must be nil, a boolean or a number >= 0");
	return (double)w;
}

static int store_lock(lua_State *L)
{
	vl_store *s = check_store(L);
	size_t len;
	const char *id = luaL_checklstring(L, 2, &len);
	double wait = check_wait(L, 3);
	vl_error e;

	if (vl_check_id(id, len, &e) < 0)
		return vl_push_error(L, &e);
	lock_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
	h->fd = -1;
	strlcpy(h->id, id, sizeof h->id);
	luaL_setmetatable(L, VL_LOCK);
	if (vl_store_lock(s, id, wait, &h->fd, &e) < 0)
		return vl_push_error(L, &e);
	return 1;
}

static int store_close(lua_State *L)
{
	store_gc(L);
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg store_methods[] = {
	{ "dir_of", store_dir_of },
	{ "save", store_save },
	{ "load", store_load },
	{ "list", store_list },
	{ "remove", store_remove },
	{ "lock", store_lock },
	{ "close", store_close },
	{ NULL, NULL },
};

/* __index: the methods, and store.dir. */
static int store_index(lua_State *L)
{
	vl_store *s = luaL_checkudata(L, 1, VL_STORE);
	const char *key = lua_tostring(L, 2);
	if (key != NULL && strcmp(key, "dir") == 0) {
		lua_pushstring(L, s->dir);
		return 1;
	}
	lua_pushvalue(L, 2);
	lua_rawget(L, lua_upvalueindex(1));
	return 1;
}

/* ---- Lock ---------------------------------------------------------------- */

static int lock_gc(lua_State *L)
{
	lock_handle *h = luaL_checkudata(L, 1, VL_LOCK);
	if (h->fd >= 0)
		close(h->fd);	/* closing the last fd releases the flock */
	h->fd = -1;
	return 0;
}

static int lock_unlock(lua_State *L)
{
	lock_gc(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int lock_tostring(lua_State *L)
{
	lock_handle *h = luaL_checkudata(L, 1, VL_LOCK);
	lua_pushfstring(L, "vmlua.Lock (%s%s)", h->id, h->fd < 0 ? ", unlocked" : "");
	return 1;
}

/* __index: the methods, and lock.id. */
static int lock_index(lua_State *L)
{
	lock_handle *h = luaL_checkudata(L, 1, VL_LOCK);
	const char *key = lua_tostring(L, 2);
	if (key != NULL && strcmp(key, "id") == 0) {
		lua_pushstring(L, h->id);
		return 1;
	}
	lua_pushvalue(L, 2);
	lua_rawget(L, lua_upvalueindex(1));
	return 1;
}

static const luaL_Reg lock_methods[] = {
	{ "unlock", lock_unlock },
	{ "close", lock_unlock },
	{ NULL, NULL },
};

static const luaL_Reg store_meta[] = {
	{ "__gc", store_gc },
	{ "__close", store_gc },
	{ "__tostring", store_tostring },
	{ NULL, NULL },
};

static const luaL_Reg lock_meta[] = {
	{ "__gc", lock_gc },
	{ "__close", lock_gc },
	{ "__tostring", lock_tostring },
	{ NULL, NULL },
};

void vl_open_state(lua_State *L)
{
	vl_new_class(L, VL_STORE, store_meta, store_methods, store_index, NULL);
	vl_new_class(L, VL_LOCK, lock_meta, lock_methods, lock_index, NULL);

	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, state_open);
	lua_setfield(L, -2, "open");
	lua_setfield(L, -2, "state");
}
