/*
 * core.wait's conditions: each entry of the conditions table checked and
 * read into a struct cond (see wait.h). Every misuse raises here, before
 * lwait.c acquires anything: an entry with no or two kinds, an unknown key,
 * find/pattern outside a line condition, a closed or wrong object, a socket
 * path that cannot be watched, a signal that is not blocked.
 */
#include <signal.h>
#include <string.h>

#include <lauxlib.h>

#include "lbind.h"
#include "paths.h"
#include "process.h"
#include "stream.h"
#include "wait.h"

int vl_wait_bad(lua_State *L, int i, const char *msg)
{
	return luaL_argerror(L, 1, lua_pushfstring(L, "conditions[%d]: %s", i + 1, msg));
}

void vl_wait_check_open(lua_State *L, const struct cond *c, int i)
{
	const char *closed = NULL;

	switch (c->kind) {
	case K_EXIT:
		closed = ((const vl_process *)c->obj)->pidfd < 0 ? "process" : NULL;
		break;
	case K_LINE:
		closed = ((const vl_stream *)c->obj)->kind == VL_STREAM_CLOSED ? "stream" : NULL;
		break;
	case K_READABLE:
		closed = c->pl->fd(c->obj) < 0 ? c->pl->what : NULL;
		break;
	default:
		break;
	}
	if (closed != NULL)
		vl_wait_bad(L, i, lua_pushfstring(L, "attempt to use a closed %s", closed));
}

static void check_socket_path(lua_State *L, int i, struct cond *c, int v)
{
	size_t len = 0;
	const char *path = lua_type(L, v) == LUA_TSTRING ? lua_tolstring(L, v, &len) : NULL;
	vl_error e;

	if (path == NULL || len == 0 || strlen(path) != len)
		vl_wait_bad(L, i, "socket must be a path");
	if (path[0] == '@')
		vl_wait_bad(L, i, "abstract sockets cannot be waited for (no file to watch)");
	if (vl_check_socket_path(path, len, &e) < 0)
		vl_wait_bad(L, i, e.msg);
	vl_sockwatch_init(&c->sock, path);
}

static void check_signals(lua_State *L, int i, struct cond *c, int v)
{
	sigset_t blocked;

	sigemptyset(&c->sigs);
	if (lua_type(L, v) == LUA_TBOOLEAN && lua_toboolean(L, v)) {
		/* The supervised set without SIGCHLD: exits are exit conditions,
		 * and a pending SIGCHLD would end every later wait at once. */
		vl_default_signal_set(&c->sigs);
		sigdelset(&c->sigs, SIGCHLD);
	} else if (lua_type(L, v) == LUA_TTABLE && lua_rawlen(L, v) > 0) {
		for (lua_Integer k = 1; k <= (lua_Integer)lua_rawlen(L, v); k++) {
			const char *why;
			lua_rawgeti(L, v, k);
			int sig = vl_to_signal(L, -1, &why);
			if (sig == 0)
				vl_wait_bad(L, i, why);
			sigaddset(&c->sigs, sig);
			lua_pop(L, 1);
		}
	} else {
		vl_wait_bad(L, i, "signal must be true or a list of signals");
	}
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&c->sigs, sig) == 1 && sigismember(&blocked, sig) != 1)
			vl_wait_bad(L, i, lua_pushfstring(L, "%s is not blocked: block it first with core.signals.block",
						  vl_signal_name(sig)));
}

static void check_object(lua_State *L, int i, struct cond *c, int v)
{
	switch (c->kind) {
	case K_EXIT:
		if ((c->obj = luaL_testudata(L, v, VL_PROCESS)) == NULL)
			vl_wait_bad(L, i, "exit must be a Process");
		break;
	case K_LINE:
		if ((c->obj = luaL_testudata(L, v, VL_STREAM)) == NULL)
			vl_wait_bad(L, i, "line must be a Stream");
		if (((vl_stream *)c->obj)->kind == VL_STREAM_WRITE)
			vl_wait_bad(L, i, "line must be a readable Stream (not a child's stdin)");
		break;
	case K_READABLE:
		if (lua_type(L, v) != LUA_TUSERDATA || luaL_getmetafield(L, v, "__vl_poll") != LUA_TLIGHTUSERDATA)
			vl_wait_bad(L, i, "readable must be a Stream, Socket or Listener");
		c->pl = lua_touserdata(L, -1);
		lua_pop(L, 1);
		c->obj = lua_touserdata(L, v);
		break;
	case K_SOCKET:
		check_socket_path(L, i, c, v);
		return;
	case K_SIGNAL:
		check_signals(L, i, c, v);
		return;
	}
	vl_wait_check_open(L, c, i);
}

static void check_match(lua_State *L, int i, struct cond *c, int t)
{
	int find = vl_rawfield(L, t, "find") != LUA_TNIL;
	int pattern = vl_rawfield(L, t, "pattern") != LUA_TNIL;

	if ((find || pattern) && c->kind != K_LINE)
		vl_wait_bad(L, i, "find and pattern go with a line condition");
	if (find && pattern)
		vl_wait_bad(L, i, "give either find or pattern, not both");
	if (find || pattern) {
		int v = find ? -2 : -1;
		if (lua_type(L, v) != LUA_TSTRING)
			vl_wait_bad(L, i, find ? "find must be a string" : "pattern must be a string");
		c->text = lua_tolstring(L, v, &c->textlen);
		c->match = find ? M_FIND : M_PATTERN;
	}
	lua_pop(L, 2);
}

void vl_wait_check_cond(lua_State *L, struct box *b, int i)
{
	static const char *const kinds[] = { "exit", "socket", "line", "readable", "signal", NULL };
	struct cond *c = &b->c[i];
	int t = lua_gettop(L), nkinds = 0;

	if (!lua_istable(L, t))
		vl_wait_bad(L, i, "each condition must be a table");
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
		int known = strcmp(k, "find") == 0 || strcmp(k, "pattern") == 0;
		for (int j = 0; kinds[j] != NULL; j++) {
			if (strcmp(k, kinds[j]) == 0) {
				c->kind = (enum vl_wait_kind)j;
				nkinds++;
				known = 1;
			}
		}
		if (!known)
			vl_wait_bad(L, i, lua_pushfstring(L, "unknown key '%s'", luaL_tolstring(L, -1, NULL)));
	}
	if (nkinds != 1)
		vl_wait_bad(L, i, "give exactly one of exit, socket, line, readable, signal");
	check_match(L, i, c, t);
	vl_rawfield(L, t, kinds[c->kind]);
	check_object(L, i, c, t + 1);
	lua_settop(L, t);

	c->group = i;
	for (int j = 0; c->kind == K_LINE && j < i; j++)
		if (b->c[j].kind == K_LINE && b->c[j].obj == c->obj) {
			c->group = b->c[j].group;
			break;
		}
}
