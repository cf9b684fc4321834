/*
 * core.spawn(opts): check the options table strictly (an unknown key or a
 * wrong type raises, naming the key), build argv/envp in userdata, create
 * the Process and its Streams closed, and only then fork (spawn.c). Nothing
 * after vl_spawn can raise, so no child or fd can leak.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "process.h"
#include "procstat.h"
#include "spawn.h"
#include "stream.h"

extern char **environ;

enum { OPT = 1, ARGV, ARGV_ARRAY, ENV_STRINGS, ENV_ARRAY, FDS_ARRAY, PROC };

static const char *const known[] = {
	"argv", "env", "env_clear", "cwd", "stdin", "stdout", "stderr", "fds",
	"setsid", "pgroup", "die_with_parent", NULL,
};
static const char *const stdio_names[] = { "stdin", "stdout", "stderr" };

static int bad(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *msg = lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return luaL_argerror(L, OPT, msg);
}

/* A string without NUL bytes at idx. */
static const char *check_cstring(lua_State *L, int idx, const char *what)
{
	size_t len;
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) != LUA_TSTRING)
		bad(L, "%s must be a string, got %s", what, luaL_typename(L, idx));
	const char *s = lua_tolstring(L, idx, &len);
	if (strlen(s) != len)
		bad(L, "%s contains a NUL byte", what);
	return s;
}

static int opt_bool(lua_State *L, const char *key)
{
	int t = vl_rawfield(L, OPT, key);
	int v = lua_toboolean(L, -1);
	if (t != LUA_TNIL && t != LUA_TBOOLEAN)
		bad(L, "%s must be a boolean, got %s", key, luaL_typename(L, -1));
	lua_pop(L, 1);
	return v;
}

/* An fd from an integer, an io file or a handle (vl_to_fd). */
static int fd_of(lua_State *L, int idx, const char *what)
{
	const char *why;
	int fd = vl_to_fd(L, idx, &why);

	if (fd < 0)
		bad(L, "%s: %s", what, why);
	return fd;
}

static void check_stdio_file(lua_State *L, int which, struct vl_stdio *s)
{
	const char *what = stdio_names[which];
	int t = lua_gettop(L);

	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
		if (strcmp(k, "file") != 0 && strcmp(k, "append") != 0)
			bad(L, "%s: unknown option '%s'", what, luaL_tolstring(L, -1, NULL));
	}
	vl_rawfield(L, t, "file");
	s->kind = VL_STDIO_FILE;
	const char *field = lua_pushfstring(L, "%s.file", what);
	s->path = check_cstring(L, -2, field);
	lua_pop(L, 2);	/* the path stays referenced by the options table */
	int at = vl_rawfield(L, t, "append");
	if (at != LUA_TNIL && at != LUA_TBOOLEAN)
		bad(L, "%s.append must be a boolean", what);
	s->append = at == LUA_TNIL || lua_toboolean(L, -1);
	lua_pop(L, 1);
}

static void check_stdio(lua_State *L, int which, struct vl_stdio *s)
{
	const char *what = stdio_names[which];
	int t = vl_rawfield(L, OPT, what);

	memset(s, 0, sizeof *s);
	s->kind = VL_STDIO_INHERIT;
	if (t == LUA_TSTRING) {
		const char *v = lua_tostring(L, -1);
		if (strcmp(v, "inherit") == 0)
			s->kind = VL_STDIO_INHERIT;
		else if (strcmp(v, "null") == 0)
			s->kind = VL_STDIO_NULL;
		else if (strcmp(v, "pipe") == 0)
			s->kind = VL_STDIO_PIPE;
		else if (strcmp(v, "stdout") == 0 && which == 2)
			s->kind = VL_STDIO_STDOUT;
		else
			bad(L, "%s: invalid value '%s' (inherit, null, pipe%s, {file=...}, an fd or a file)",
			    what, v, which == 2 ? ", stdout" : "");
	} else if (t == LUA_TTABLE) {
		check_stdio_file(L, which, s);
	} else if (t != LUA_TNIL) {
		s->kind = VL_STDIO_FD;
		s->fd = fd_of(L, -1, what);
	}
	lua_pop(L, 1);
}

static void build_argv(lua_State *L)
{
	if (vl_rawfield(L, OPT, "argv") != LUA_TTABLE)
		bad(L, "argv must be a table of strings, got %s", luaL_typename(L, -1));
	lua_Integer n = (lua_Integer)lua_rawlen(L, ARGV);
	if (n < 1)
		bad(L, "argv must not be empty");
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, ARGV, i);
		const char *what = lua_pushfstring(L, "argv[%I]", i);
		check_cstring(L, -2, what);
		lua_pop(L, 2);
	}
	const char **argv = lua_newuserdatauv(L, sizeof *argv * (size_t)(n + 1), 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, ARGV, i);
		argv[i - 1] = lua_tostring(L, -1);	/* kept alive by the argv table */
		lua_pop(L, 1);
	}
	argv[n] = NULL;
}

static void check_env_table(lua_State *L, int env)
{
	lua_pushnil(L);
	while (lua_next(L, env)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			bad(L, "env: names must be strings, got %s", luaL_typename(L, -2));
		const char *name = check_cstring(L, -2, "env name");
		if (*name == '\0' || strchr(name, '=') != NULL)
			bad(L, "env: invalid variable name '%s'", name);
		if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		if (lua_type(L, -1) != LUA_TSTRING)
			bad(L, "env.%s must be a string or false, got %s", name, luaL_typename(L, -1));
		const char *what = lua_pushfstring(L, "env.%s", name);
		check_cstring(L, -2, what);
		lua_pop(L, 2);
	}
}

/* envp: NULL (inherit environ as is), or environ minus the names in env
 * (unless env_clear) plus NAME=value for each string value. Pushes the
 * strings table and the array (or two nils). */
static const char *const *build_env(lua_State *L)
{
	int clear = opt_bool(L, "env_clear");
	int t = vl_rawfield(L, OPT, "env");

	if (t != LUA_TNIL && t != LUA_TTABLE)
		bad(L, "env must be a table, got %s", luaL_typename(L, -1));
	if (t == LUA_TNIL && !clear) {
		lua_pop(L, 1);
		lua_pushnil(L);
		lua_pushnil(L);
		return NULL;
	}
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	int env = lua_gettop(L);
	check_env_table(L, env);

	/* ENV_STRINGS: "NAME=value" for what we add, kept alive here. */
	lua_newtable(L);
	lua_Integer added = 0;
	lua_pushnil(L);
	while (lua_next(L, env)) {
		if (lua_type(L, -1) == LUA_TSTRING) {
			lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
			lua_rawseti(L, env + 1, ++added);
		}
		lua_pop(L, 1);
	}
	size_t inherited = 0;
	for (char **e = environ; !clear && e != NULL && *e != NULL; e++)
		inherited++;
	const char **envp = lua_newuserdatauv(L, sizeof *envp * (inherited + (size_t)added + 1), 0);
	size_t n = 0;
	for (size_t i = 0; i < inherited; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		lua_pushlstring(L, environ[i], len);
		int named = lua_rawget(L, env) != LUA_TNIL;
		lua_pop(L, 1);
		if (!named)
			envp[n++] = environ[i];
	}
	for (lua_Integer i = 1; i <= added; i++) {
		lua_rawgeti(L, env + 1, i);
		envp[n++] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	envp[n] = NULL;
	lua_remove(L, env);	/* leaves ENV_STRINGS, ENV_ARRAY */
	return envp;
}

static int *build_fds(lua_State *L, size_t *nfds)
{
	int t = vl_rawfield(L, OPT, "fds");

	*nfds = 0;
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushnil(L);
		return NULL;
	}
	if (t != LUA_TTABLE)
		bad(L, "fds must be a table, got %s", luaL_typename(L, -1));
	int tab = lua_gettop(L);
	size_t n = lua_rawlen(L, tab);
	int *fds = lua_newuserdatauv(L, sizeof *fds * (n ? n : 1), 0);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, tab, (lua_Integer)i + 1);
		const char *what = lua_pushfstring(L, "fds[%d]", (int)i + 1);
		fds[i] = fd_of(L, -2, what);
		lua_pop(L, 2);
	}
	lua_remove(L, tab);
	*nfds = n;
	return fds;
}

static int check_pdeathsig(lua_State *L)
{
	int t = vl_rawfield(L, OPT, "die_with_parent");
	int sig = 0;

	if (t == LUA_TBOOLEAN)
		sig = lua_toboolean(L, -1) ? SIGKILL : 0;
	else if (t != LUA_TNIL) {
		const char *why;
		sig = vl_to_signal(L, -1, &why);
		if (sig == 0)
			bad(L, "die_with_parent: %s", why);
	}
	lua_settop(L, OPT);
	return sig;
}

/* Every check that can raise, into o (strings stay owned by opts). */
static void check_scalars(lua_State *L, struct vl_spawn_opts *o)
{
	vl_check_options(L, OPT, known);
	for (int i = 0; i < 3; i++)
		check_stdio(L, i, &o->stdio[i]);
	if (o->stdio[0].kind == VL_STDIO_FILE)
		o->stdio[0].append = 0;
	if (vl_rawfield(L, OPT, "cwd") != LUA_TNIL)
		o->cwd = check_cstring(L, -1, "cwd");
	lua_pop(L, 1);
	o->setsid = opt_bool(L, "setsid");
	o->pgroup = opt_bool(L, "pgroup");
	o->pdeathsig = check_pdeathsig(L);
}

int vl_core_spawn(lua_State *L)
{
	struct vl_spawn_opts o;
	struct vl_child child;
	char err[PATH_MAX + 256];

	memset(&o, 0, sizeof o);
	luaL_checktype(L, OPT, LUA_TTABLE);
	lua_settop(L, OPT);
	check_scalars(L, &o);
	build_argv(L);				/* ARGV, ARGV_ARRAY */
	o.argv = lua_touserdata(L, ARGV_ARRAY);
	o.envp = build_env(L);			/* ENV_STRINGS, ENV_ARRAY */
	o.fds = build_fds(L, &o.nfds);		/* FDS_ARRAY */

	vl_process *p = vl_process_new(L);	/* PROC */
	for (int i = 0; i < 3; i++) {
		if (o.stdio[i].kind == VL_STDIO_PIPE) {
			vl_stream_new(L);
			lua_setiuservalue(L, PROC, i + 1);
		}
	}

	if (vl_spawn(&o, &child, err, sizeof err) < 0) {
		int e = errno;
		luaL_pushfail(L);
		lua_pushstring(L, err);
		lua_pushinteger(L, e);
		return 3;
	}
	p->pid = child.pid;
	p->pidfd = child.pidfd;
	p->child = 1;
	p->owner = getpid();
	p->leader = o.setsid || o.pgroup;
	if (vl_proc_start_time(child.pid, &p->start_time) < 0)
		p->start_time = 0;
	for (int i = 0; i < 3; i++) {
		if (child.stdio[i] < 0)
			continue;
		lua_getiuservalue(L, PROC, i + 1);
		vl_stream_open_pipe(lua_touserdata(L, -1), child.stdio[i], i == 0);
		lua_pop(L, 1);
	}
	lua_settop(L, PROC);
	return 1;
}
