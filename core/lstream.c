/*
 * vmlua.Stream: a child's pipe (readable, or writable for stdin) or a
 * followed file, handing out lines. core.follow(path[, {from=}]).
 *
 * Reads are non-blocking and sleep in poll() on the pipe or, for a
 * followed file, on its inotify fd. Streams register "__vl_poll" so that
 * core.wait{ {readable = s} } can watch them.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "stream.h"

/* ---- shared with lspawn.c, ldaemon.c, lwait.c ---------------------------- */

vl_stream *vl_stream_new(lua_State *L)
{
	vl_stream *s = lua_newuserdatauv(L, sizeof *s, 0);
	s->kind = VL_STREAM_CLOSED;
	s->fd = -1;
	s->follow = NULL;
	vl_linebuf_init(&s->buf, VL_MAX_LINE);
	luaL_setmetatable(L, VL_STREAM);
	return s;
}

void vl_stream_open_pipe(vl_stream *s, int fd, int writable)
{
	s->fd = fd;
	s->kind = writable ? VL_STREAM_WRITE : VL_STREAM_READ;
}

vl_stream *vl_check_stream(lua_State *L, int idx)
{
	vl_stream *s = luaL_checkudata(L, idx, VL_STREAM);
	if (s->kind == VL_STREAM_CLOSED)
		luaL_error(L, "attempt to use a closed stream");
	return s;
}

int vl_stream_pollfd(const vl_stream *s)
{
	switch (s->kind) {
	case VL_STREAM_FOLLOW:
		return vl_follow_fd(s->follow);
	case VL_STREAM_READ:
		return s->buf.eof ? -1 : s->fd;
	default:
		return -1;
	}
}

ssize_t vl_stream_pump(vl_stream *s)
{
	if (s->kind == VL_STREAM_FOLLOW)
		return vl_follow_read(s->follow, &s->buf);
	if (s->kind != VL_STREAM_READ || s->buf.eof)
		return 0;
	ssize_t n = vl_linebuf_fill(&s->buf, s->fd);
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n;
}

int vl_stream_peek_line(const vl_stream *s, const char **line, size_t *n, size_t *used)
{
	return vl_linebuf_next_line(&s->buf, line, n, used);
}

void vl_stream_consume(vl_stream *s, size_t n)
{
	vl_linebuf_consume(&s->buf, n);
}

int vl_stream_drained(const vl_stream *s)
{
	return s->kind == VL_STREAM_READ && s->buf.eof && s->buf.len == 0;
}

void vl_stream_close(vl_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	vl_follow_close(s->follow);
	s->follow = NULL;
	vl_linebuf_free(&s->buf);
	s->kind = VL_STREAM_CLOSED;
}

/* ---- methods --------------------------------------------------------------- */

static vl_stream *check_readable(lua_State *L)
{
	vl_stream *s = vl_check_stream(L, 1);
	luaL_argcheck(L, s->kind != VL_STREAM_WRITE, 1, "stream is not readable (a child's stdin)");
	return s;
}

/* Sleep until the stream may have input. 1 woke, 0 deadline, -1 errno. */
static int sleep_for_input(vl_stream *s, double deadline)
{
	struct pollfd pfd = { .fd = vl_stream_pollfd(s), .events = POLLIN };
	int ms = vl_remaining_ms(deadline);

	if (ms == 0)
		return 0;
	int r = poll(&pfd, 1, ms);
	if (r < 0 && errno != EINTR)
		return -1;
	return r != 0 || ms < 0 ? 1 : 0;
}

/* Fill until want() holds, eof, or the deadline: 1, 0 (timeout), -1. */
static int fill_until(vl_stream *s, double deadline, int (*want)(const vl_stream *))
{
	for (;;) {
		if (want(s) || s->buf.eof)
			return 1;
		ssize_t n = vl_stream_pump(s);
		if (n < 0)
			return -1;
		if (n > 0 || s->buf.eof)
			continue;
		int r = sleep_for_input(s, deadline);
		if (r <= 0)
			return r;
	}
}

static int has_line(const vl_stream *s)
{
	const char *l;
	size_t n, used;
	return vl_stream_peek_line(s, &l, &n, &used);
}

static int has_data(const vl_stream *s)
{
	return s->buf.len > 0;
}

static int read_failed(lua_State *L, vl_stream *s, int r)
{
	if (r == 0)
		return vl_fail_timeout(L);
	if (s->kind == VL_STREAM_FOLLOW)
		return vl_fail_errno(L, errno, "read %s", vl_follow_path(s->follow));
	return vl_fail_errno(L, errno, "read from pipe");
}

static int s_read_line(lua_State *L)
{
	vl_stream *s = check_readable(L);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));
	const char *line;
	size_t n, used;

	int r = fill_until(s, deadline, has_line);
	if (r <= 0)
		return read_failed(L, s, r);
	if (!vl_stream_peek_line(s, &line, &n, &used)) {
		luaL_pushfail(L);
		lua_pushliteral(L, "eof");
		return 2;
	}
	lua_pushlstring(L, line, n);
	vl_stream_consume(s, used);
	return 1;
}

static int s_read(lua_State *L)
{
	vl_stream *s = check_readable(L);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));

	int r = fill_until(s, deadline, has_data);
	if (r <= 0)
		return read_failed(L, s, r);
	if (s->buf.len == 0) {
		luaL_pushfail(L);
		lua_pushliteral(L, "eof");
		return 2;
	}
	lua_pushlstring(L, s->buf.data, s->buf.len);
	vl_stream_consume(s, s->buf.len);
	return 1;
}

/* Write everything; a reader that is gone gives EPIPE, not a SIGPIPE that
 * would kill us: SIGPIPE is blocked around the write and a SIGPIPE we
 * caused is taken off the pending set. */
static int write_all(int fd, const char *p, size_t len)
{
	sigset_t pipe_set, old, pending;
	int err = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			err = errno;
			break;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			err = errno;
			break;
		}
	}
	if (err == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return err ? -1 : 0;
}

static int s_write(lua_State *L)
{
	vl_stream *s = vl_check_stream(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);

	luaL_argcheck(L, s->kind == VL_STREAM_WRITE, 1, "stream is not writable");
	if (write_all(s->fd, data, len) < 0)
		return vl_fail_errno(L, errno, "write to pipe");
	lua_pushboolean(L, 1);
	return 1;
}

static int s_fileno(lua_State *L)
{
	vl_stream *s = vl_check_stream(L, 1);
	lua_pushinteger(L, s->kind == VL_STREAM_FOLLOW ? vl_follow_fd(s->follow) : s->fd);
	return 1;
}

static int s_close(lua_State *L)
{
	vl_stream_close(luaL_checkudata(L, 1, VL_STREAM));
	return 0;
}

static int s_tostring(lua_State *L)
{
	vl_stream *s = luaL_checkudata(L, 1, VL_STREAM);

	switch (s->kind) {
	case VL_STREAM_CLOSED:
		lua_pushliteral(L, "vmlua.Stream (closed)");
		break;
	case VL_STREAM_FOLLOW:
		lua_pushfstring(L, "vmlua.Stream (follow %s)", vl_follow_path(s->follow));
		break;
	default:
		lua_pushfstring(L, "vmlua.Stream (%s pipe, fd %d)",
				s->kind == VL_STREAM_WRITE ? "write" : "read", s->fd);
	}
	return 1;
}

/* core.follow(path[, { from = "start" | "end" }]) */
static int core_follow(lua_State *L)
{
	static const char *const follow_keys[] = { "from", NULL };
	static const char *const froms[] = { "start", "end", NULL };
	const char *path = luaL_checkstring(L, 1);
	int from_end = 0;
	char err[PATH_MAX + 128];

	if (vl_check_options(L, 2, follow_keys)) {
		lua_getfield(L, 2, "from");
		if (!lua_isnil(L, -1)) {
			const char *from = lua_tostring(L, -1);
			for (from_end = 0; froms[from_end] != NULL; from_end++)
				if (from != NULL && lua_type(L, -1) == LUA_TSTRING &&
				    strcmp(from, froms[from_end]) == 0)
					break;
			if (froms[from_end] == NULL)
				return luaL_argerror(L, 2, "from must be \"start\" or \"end\"");
		}
		lua_pop(L, 1);
	}
	lua_settop(L, 1);
	vl_stream *s = vl_stream_new(L);
	s->follow = vl_follow_open(path, from_end, err, sizeof err);
	if (s->follow == NULL) {
		int e = errno;
		luaL_pushfail(L);
		lua_pushstring(L, err);
		lua_pushinteger(L, e);
		return 3;
	}
	s->kind = VL_STREAM_FOLLOW;
	return 1;
}

/* ---- core.wait support ------------------------------------------------------ */

static int poll_fd(void *self)
{
	vl_stream *s = self;
	/* A pipe at eof polls POLLHUP: readable, as a read would not block. */
	return s->kind == VL_STREAM_FOLLOW ? vl_follow_fd(s->follow) : s->fd;
}

static int poll_buffered(void *self)
{
	vl_stream *s = self;
	/* A followed file's existing content raises no inotify event. */
	if (s->kind == VL_STREAM_FOLLOW && s->buf.len == 0)
		vl_stream_pump(s);
	return s->buf.len > 0 || vl_stream_drained(s);
}

static const vl_pollable stream_pollable = { "stream", poll_fd, poll_buffered };

void vl_open_stream(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "read_line", s_read_line },
		{ "read", s_read },
		{ "write", s_write },
		{ "fileno", s_fileno },
		{ "close", s_close },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", s_close },
		{ "__close", s_close },
		{ "__tostring", s_tostring },
		{ NULL, NULL },
	};

	vl_new_class(L, VL_STREAM, meta, methods, NULL, &stream_pollable);

	lua_pushcfunction(L, core_follow);
	lua_setfield(L, -2, "follow");
}
