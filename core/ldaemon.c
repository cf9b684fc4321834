/*
 * core.fork_detached{ log = path }: fork a supervisor that outlives us.
 *
 * The child starts a new session, reads /dev/null and writes to the log,
 * lets go of the fds our caller handed down (but those in keep_fds) and
 * gets the write end of a readiness pipe; the parent gets the read end
 * (eof when the child dies before reporting) and the child's pid. The
 * parent does not reap the child: it is expected to exit, and init adopts
 * the supervisor. Everything that can fail is done before fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "inherit.h"
#include "lbind.h"
#include "stream.h"

/* The fds handed down to us that the supervisor keeps (keep_fds), in a
 * userdata pushed on the stack. */
struct keep {
	size_t n;
	int fd[];
};

static struct keep *check_keep(lua_State *L)
{
	int t = lua_gettop(L);
	size_t n = 0;

	if (!lua_isnil(L, t)) {
		luaL_argcheck(L, lua_type(L, t) == LUA_TTABLE, 1, "keep_fds must be an array of fds");
		n = (size_t)lua_rawlen(L, t);
		luaL_argcheck(L, n <= 4096, 1, "keep_fds: at most 4096 fds");
	}
	struct keep *k = lua_newuserdatauv(L, sizeof *k + n * sizeof(int), 0);
	k->n = n;
	for (size_t i = 0; i < n; i++) {
		const char *why;
		lua_rawgeti(L, t, (lua_Integer)i + 1);
		k->fd[i] = vl_to_fd(L, -1, &why);
		if (k->fd[i] < 0)
			luaL_argerror(L, 1, lua_pushfstring(L, "keep_fds[%d]: %s", (int)i + 1, why));
		lua_pop(L, 1);
	}
	return k;
}

static const char *check_opts(lua_State *L, struct keep **keep)
{
	static const char *const keys[] = { "log", "keep_fds", NULL };

	luaL_checktype(L, 1, LUA_TTABLE);
	vl_check_options(L, 1, keys);
	if (lua_getfield(L, 1, "log") != LUA_TSTRING)
		luaL_argerror(L, 1, "log must be a path");
	size_t len;
	const char *log = lua_tolstring(L, -1, &len);
	luaL_argcheck(L, strlen(log) == len && len > 0, 1, "log must be a path");
	lua_getfield(L, 1, "keep_fds");
	*keep = check_keep(L);
	lua_replace(L, -2);	/* stack: log, keep (both stay anchored) */
	return log;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* fd, moved above 0-2 if it landed there (our own stdio was closed): the
 * child dup2s these onto 0-2 and then closes them, which must not close
 * what it just put in place. -1 with errno on failure (fd is closed). */
static int above_stdio(int fd)
{
	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	int e = errno;
	close(fd);
	errno = e;
	return moved;
}

static int core_fork_detached(lua_State *L)
{
	lua_settop(L, 1);
	struct keep *keep;
	const char *log = check_opts(L, &keep);	/* 2: log, 3: keep */
	int fds[4] = { -1, -1, -1, -1 };	/* log, /dev/null, pipe read, pipe write */
	int e;

	vl_stream *end = vl_stream_new(L);	/* 4: the end we keep, closed for now */
	fds[0] = above_stdio(open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
	if (fds[0] < 0)
		return vl_fail_errno(L, errno, "cannot open %s", log);
	fds[1] = above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
	if (fds[1] < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 || (fds[2] = above_stdio(fds[2])) < 0 ||
	    (fds[3] = above_stdio(fds[3])) < 0) {
		e = errno;
		close_all(fds, 4);
		return vl_fail_errno(L, e, "cannot prepare the supervisor");
	}
	fflush(NULL);	/* buffered output must not be written twice */
	pid_t pid = fork();
	if (pid < 0) {
		e = errno;
		close_all(fds, 4);
		return vl_fail_errno(L, e, "cannot fork the supervisor");
	}
	if (pid == 0) {
		setsid();
		if (dup2(fds[1], 0) < 0 || dup2(fds[0], 1) < 0 || dup2(fds[0], 2) < 0)
			_exit(127);	/* our stdio would be the caller's terminal */
		int writer = fds[3];
		fds[3] = -1;
		close_all(fds, 4);
		vl_inherited_close(keep->fd, keep->n);
		vl_stream_open_pipe(end, writer, 1);
		lua_pushliteral(L, "child");
		lua_pushvalue(L, 4);
		return 2;
	}
	int reader = fds[2];
	fds[2] = -1;
	close_all(fds, 4);
	fcntl(reader, F_SETFL, O_NONBLOCK);
	vl_stream_open_pipe(end, reader, 0);
	lua_pushliteral(L, "parent");
	lua_pushvalue(L, 4);
	lua_pushinteger(L, pid);
	return 3;
}

void vl_open_daemon(lua_State *L)
{
	lua_pushcfunction(L, core_fork_detached);
	lua_setfield(L, -2, "fork_detached");
}
