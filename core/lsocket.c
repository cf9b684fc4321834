/*
 * core.socket: unix stream sockets for QMP, the cloud-hypervisor API and
 * fake servers in tests.
 *
 *   connect(path[, timeout]) -> Socket      listen(path[, {backlog, mode}]) -> Listener
 *   pair() -> Socket, Socket                listener:accept([timeout]) -> Socket
 *   sock:send(data[, timeout])              sock:send_fds(data, fds[, timeout])
 *   sock:recv([max[, timeout]])             sock:recv_fds([max[, timeout]])
 *   sock:read_line([timeout])  sock:read(n[, timeout])  sock:read_all([timeout])
 *   sock:shutdown([how])  sock:fileno()  sock:close()
 *
 * Reads go through a line buffer, so read_line, read and recv can be mixed.
 * fds that arrive (SCM_RIGHTS) are closed at once until the socket's first
 * recv_fds; from then on those that come with any read are queued (up to
 * VL_MAX_FDS) until recv_fds hands them out; the queue is closed with the
 * socket.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "linebuf.h"
#include "sock.h"
#include "vmlua.h"

/* A longer line comes out in pieces of this size (QMP schema replies are a
 * few hundred KiB on one line). */
#define SOCKET_MAX_LINE (64u << 20)
#define RECV_DEFAULT 65536
#define READ_CHUNK 65536

/* Both start with their fd (vl_check_open). */
typedef struct vl_socket {
	int fd;			/* -1 when closed */
	vl_linebuf in;
	size_t no_newline;	/* the first bytes of in known to hold no "\n" */
	vl_fdq fds;
} vl_socket;

typedef struct vl_listener {
	int fd;
	pid_t owner;		/* getpid() at listen: a forked copy leaves the file */
	char path[110];
	struct stat st;		/* the socket file we created (st_ino 0: none) */
} vl_listener;

/* ---- pollable (core.wait { readable = sock }) ----------------------------- */

static int socket_poll_fd(void *self)
{
	return ((vl_socket *)self)->fd;
}

static int socket_buffered(void *self)
{
	vl_socket *s = self;
	return s->in.len > 0 || s->in.eof;
}

static int listener_poll_fd(void *self)
{
	return ((vl_listener *)self)->fd;
}

static int nothing_buffered(void *self)
{
	(void)self;
	return 0;
}

static const vl_pollable socket_pollable = { "socket", socket_poll_fd, socket_buffered };
static const vl_pollable listener_pollable = { "listener", listener_poll_fd, nothing_buffered };

/* ---- Socket handles ------------------------------------------------------ */

static vl_socket *new_socket(lua_State *L)
{
	vl_socket *s = lua_newuserdatauv(L, sizeof *s, 0);
	s->fd = -1;
	vl_linebuf_init(&s->in, SOCKET_MAX_LINE);
	s->no_newline = 0;
	memset(&s->fds, 0, sizeof s->fds);
	luaL_setmetatable(L, VL_SOCKET);
	return s;
}

_Static_assert(offsetof(vl_socket, fd) == 0 && offsetof(vl_listener, fd) == 0,
	       "vl_check_open reads the fd first");

static vl_socket *check_socket(lua_State *L)
{
	return vl_check_open(L, 1, VL_SOCKET, "socket");
}

static int socket_gc(lua_State *L)
{
	vl_socket *s = luaL_checkudata(L, 1, VL_SOCKET);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	vl_linebuf_free(&s->in);
	vl_fdq_close_all(&s->fds);
	return 0;
}

static int socket_close(lua_State *L)
{
	socket_gc(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int socket_tostring(lua_State *L)
{
	vl_socket *s = luaL_checkudata(L, 1, VL_SOCKET);
	if (s->fd < 0)
		lua_pushliteral(L, "vmlua.Socket (closed)");
	else
		lua_pushfstring(L, "vmlua.Socket (fd %d)", s->fd);
	return 1;
}

/* Result of a failed I/O call with errno err. */
static int io_fail(lua_State *L, int err, const char *what)
{
	if (err == ETIMEDOUT)
		return vl_fail_timeout(L);
	return vl_fail_errno(L, err, "%s", what);
}

static int push_eof(lua_State *L)
{
	luaL_pushfail(L);
	lua_pushliteral(L, "eof");
	return 2;
}

/* Read what is there (waiting until deadline for something) into the
 * buffer. 1 got bytes, 0 end of stream, -1 error with errno. */
static int fill(vl_socket *s, double deadline)
{
	char chunk[READ_CHUNK];

	if (s->in.eof)
		return 0;
	for (;;) {
		ssize_t n = vl_sock_recv(s->fd, chunk, sizeof chunk, &s->fds);
		if (n > 0)
			return vl_linebuf_append(&s->in, chunk, (size_t)n) < 0 ? -1 : 1;
		if (n == 0) {
			s->in.eof = 1;
			return 0;
		}
		if (errno != EAGAIN || vl_wait_fd(s->fd, POLLIN, deadline) < 0)
			return -1;
	}
}

static void consume(vl_socket *s, size_t n)
{
	vl_linebuf_consume(&s->in, n);
	s->no_newline = s->no_newline > n ? s->no_newline - n : 0;
}

/* The next line of at most limit bytes, as vl_linebuf_next_line_max,
 * without scanning the same bytes again on every read while a long line
 * arrives (which would make reading an n-byte line cost O(n^2)). */
static int next_line(vl_socket *s, size_t limit, const char **line, size_t *n, size_t *used)
{
	vl_linebuf *b = &s->in;
	if (b->len > s->no_newline &&
	    memchr(b->data + s->no_newline, '\n', b->len - s->no_newline) != NULL)
		return vl_linebuf_next_line_max(b, limit, line, n, used);
	s->no_newline = b->len;
	if (b->len > limit || b->eof)
		return vl_linebuf_next_line_max(b, limit, line, n, used);
	return 0;
}

/* A peer that keeps sending must not keep a read going past its deadline:
 * every read makes one attempt, then gives up once the deadline is due,
 * however much data is still coming. */
static int overdue(double deadline, int attempt)
{
	return attempt > 0 && deadline >= 0 && vl_monotonic() >= deadline;
}

/* read_line([timeout[, max]]): max bounds the line, and so the memory a
 * line that never ends can take (max plus one read). */
static int socket_read_line(lua_State *L)
{
	vl_socket *s = check_socket(L);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));
	lua_Integer max = luaL_optinteger(L, 3, SOCKET_MAX_LINE);
	luaL_argcheck(L, max >= 1 && max <= SOCKET_MAX_LINE, 3, "max must be 1 .. 64 MiB");
	const char *line;
	size_t n, used;

	for (int attempt = 0;; attempt++) {
		if (next_line(s, (size_t)max, &line, &n, &used)) {
			lua_pushlstring(L, line, n);
			consume(s, used);
			return 1;
		}
		if (overdue(deadline, attempt))
			return vl_fail_timeout(L);
		int r = fill(s, deadline);
		if (r < 0)
			return io_fail(L, errno, "recv");
		if (r == 0 && s->in.len == 0)
			return push_eof(L);
	}
}

static int socket_read(lua_State *L)
{
	vl_socket *s = check_socket(L);
	lua_Integer want = luaL_checkinteger(L, 2);
	luaL_argcheck(L, want >= 0, 2, "byte count must be >= 0");
	double deadline = vl_deadline(vl_opt_timeout(L, 3));

	for (int attempt = 0; s->in.len < (lua_Unsigned)want; attempt++) {
		if (overdue(deadline, attempt))
			return vl_fail_timeout(L);
		int r = fill(s, deadline);
		if (r < 0)
			return io_fail(L, errno, "recv");
		if (r == 0)
			return push_eof(L);
	}
	lua_pushlstring(L, s->in.data, (size_t)want);
	consume(s, (size_t)want);
	return 1;
}

/* read_all([timeout[, max]]): more than max bytes before the end fail with
 * EMSGSIZE (what came stays buffered), so a peer that never stops cannot
 * make us buffer without bound. */
static int socket_read_all(lua_State *L)
{
	vl_socket *s = check_socket(L);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));
	lua_Integer max = luaL_optinteger(L, 3, LUA_MAXINTEGER);
	luaL_argcheck(L, max >= 0, 3, "max must be >= 0");

	for (int attempt = 0;; attempt++) {
		if (overdue(deadline, attempt))
			return vl_fail_timeout(L);
		int r = fill(s, deadline);
		if (r < 0)
			return io_fail(L, errno, "recv");
		if ((lua_Unsigned)s->in.len > (lua_Unsigned)max)
			return vl_fail_errno(L, EMSGSIZE, "more than %lld bytes before the end", (long long)max);
		if (r == 0)
			break;
	}
	lua_pushlstring(L, s->in.len ? s->in.data : "", s->in.len);
	consume(s, s->in.len);
	return 1;
}

/* recv([max[, timeout]]): whatever is buffered or arrives next. */
static int recv_some(lua_State *L, vl_socket *s)
{
	lua_Integer max = luaL_optinteger(L, 2, RECV_DEFAULT);
	luaL_argcheck(L, max >= 1, 2, "max must be >= 1");
	double deadline = vl_deadline(vl_opt_timeout(L, 3));

	if (s->in.len == 0) {
		int r = fill(s, deadline);
		if (r < 0)
			return io_fail(L, errno, "recv");
		if (r == 0)
			return push_eof(L);
	}
	size_t n = s->in.len < (lua_Unsigned)max ? s->in.len : (size_t)max;
	lua_pushlstring(L, s->in.data, n);
	consume(s, n);
	return 1;
}

static int socket_recv(lua_State *L)
{
	return recv_some(L, check_socket(L));
}

/* recv_fds([max[, timeout]]) -> data, {fd, ...}: the fds are the caller's.
 * A socket keeps fds only from its first recv_fds on, and at most one
 * message's worth (VL_MAX_FDS). */
static int socket_recv_fds(lua_State *L)
{
	vl_socket *s = check_socket(L);
	s->fds.max = VL_MAX_FDS;
	int r = recv_some(L, s);
	if (r != 1)
		return r;
	lua_createtable(L, (int)s->fds.n, 0);
	for (size_t i = 0; i < s->fds.n; i++) {
		lua_pushinteger(L, s->fds.fds[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	s->fds.n = 0;		/* handed out: no longer ours to close */
	return 2;
}

static int socket_send(lua_State *L)
{
	vl_socket *s = check_socket(L);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	double deadline = vl_deadline(vl_opt_timeout(L, 3));

	if (vl_sock_send(s->fd, data, len, NULL, 0, deadline) < 0)
		return io_fail(L, errno, "send");
	lua_pushboolean(L, 1);
	return 1;
}

static int socket_send_fds(lua_State *L)
{
	vl_socket *s = check_socket(L);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	luaL_checktype(L, 3, LUA_TTABLE);
	double deadline = vl_deadline(vl_opt_timeout(L, 4));
	int fds[VL_MAX_FDS];

	luaL_argcheck(L, len > 0, 2, "data must not be empty (fds travel with bytes)");
	lua_Unsigned n = lua_rawlen(L, 3);
	luaL_argcheck(L, n >= 1 && n <= VL_MAX_FDS, 3, "give 1 to 253 fds");
	for (lua_Unsigned i = 1; i <= n; i++) {
		const char *why;
		lua_rawgeti(L, 3, (lua_Integer)i);
		fds[i - 1] = vl_to_fd(L, -1, &why);
		if (fds[i - 1] < 0)
			luaL_argerror(L, 3, lua_pushfstring(L, "fds[%d]: %s", (int)i, why));
		lua_pop(L, 1);
	}
	if (vl_sock_send(s->fd, data, len, fds, (size_t)n, deadline) < 0)
		return io_fail(L, errno, "send");
	lua_pushboolean(L, 1);
	return 1;
}

static int socket_shutdown(lua_State *L)
{
	static const char *const names[] = { "r", "w", "rw", NULL };
	static const int how[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };
	vl_socket *s = check_socket(L);
	int op = luaL_checkoption(L, 2, "rw", names);

	if (shutdown(s->fd, how[op]) < 0)
		return vl_fail_errno(L, errno, "shutdown");
	lua_pushboolean(L, 1);
	return 1;
}

static int socket_fileno(lua_State *L)
{
	lua_pushinteger(L, check_socket(L)->fd);
	return 1;
}

/* ---- constructors -------------------------------------------------------- */

static int socket_connect(lua_State *L)
{
	size_t len;
	const char *path = luaL_checklstring(L, 1, &len);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));
	vl_error e;

	vl_socket *s = new_socket(L);
	s->fd = vl_sock_connect(path, len, deadline, &e);
	if (s->fd < 0) {
		if (e.code == ETIMEDOUT)
			return vl_fail_timeout(L);
		return vl_push_error(L, &e);
	}
	return 1;
}

static int socket_pair(lua_State *L)
{
	int sv[2];
	vl_socket *a = new_socket(L);
	vl_socket *b = new_socket(L);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return vl_fail_errno(L, errno, "socketpair");
	a->fd = sv[0];
	b->fd = sv[1];
	return 2;
}

/* ---- Listener ------------------------------------------------------------ */

static vl_listener *check_listener(lua_State *L)
{
	return vl_check_open(L, 1, VL_LISTENER, "listener");
}

static int listener_gc(lua_State *L)
{
	vl_listener *l = luaL_checkudata(L, 1, VL_LISTENER);
	struct stat st;

	if (l->fd < 0)
		return 0;
	close(l->fd);
	l->fd = -1;
	/* Remove the socket file if it is still the one we created, and we
	 * are not a copy in a forked child (fork_detached): the owner still
	 * accepts on it. */
	if (l->owner == getpid() && l->st.st_ino != 0 && lstat(l->path, &st) == 0 &&
	    st.st_dev == l->st.st_dev && st.st_ino == l->st.st_ino)
		unlink(l->path);
	return 0;
}

static int listener_close(lua_State *L)
{
	listener_gc(L);
	lua_pushboolean(L, 1);
	return 1;
}

static int listener_tostring(lua_State *L)
{
	vl_listener *l = luaL_checkudata(L, 1, VL_LISTENER);
	if (l->fd < 0)
		lua_pushliteral(L, "vmlua.Listener (closed)");
	else
		lua_pushfstring(L, "vmlua.Listener (%s)", l->path);
	return 1;
}

static int listener_accept(lua_State *L)
{
	vl_listener *l = check_listener(L);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));

	vl_socket *s = new_socket(L);
	for (;;) {
		s->fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s->fd >= 0)
			return 1;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN || vl_wait_fd(l->fd, POLLIN, deadline) < 0)
			return errno == ETIMEDOUT ? vl_fail_timeout(L)
						  : vl_fail_errno(L, errno, "accept %s", l->path);
	}
}

static int listener_fileno(lua_State *L)
{
	lua_pushinteger(L, check_listener(L)->fd);
	return 1;
}

static const char *const listen_keys[] = { "backlog", "mode", NULL };

static int socket_listen(lua_State *L)
{
	size_t len;
	const char *path = luaL_checklstring(L, 1, &len);
	lua_Integer backlog = 16, mode = 0600;
	vl_error e;

	if (vl_check_options(L, 2, listen_keys)) {
		if (lua_getfield(L, 2, "backlog") != LUA_TNIL) {
			backlog = luaL_checkinteger(L, -1);
			luaL_argcheck(L, backlog >= 0 && backlog <= 65535, 2, "backlog must be 0..65535");
		}
		if (lua_getfield(L, 2, "mode") != LUA_TNIL)
			mode = vl_check_mode(L, -1, 2);
		lua_pop(L, 2);
	}
	vl_listener *l = lua_newuserdatauv(L, sizeof *l, 0);
	l->fd = -1;
	l->owner = getpid();
	memset(&l->st, 0, sizeof l->st);
	snprintf(l->path, sizeof l->path, "%.*s", (int)(len < sizeof l->path ? len : 0), path);
	luaL_setmetatable(L, VL_LISTENER);
	l->fd = vl_sock_listen(path, len, (int)backlog, (unsigned)mode, &l->st, &e);
	if (l->fd < 0)
		return vl_push_error(L, &e);
	return 1;
}

/* ---- registration -------------------------------------------------------- */

static const luaL_Reg socket_methods[] = {
	{ "send", socket_send },
	{ "send_fds", socket_send_fds },
	{ "recv", socket_recv },
	{ "recv_fds", socket_recv_fds },
	{ "read_line", socket_read_line },
	{ "read", socket_read },
	{ "read_all", socket_read_all },
	{ "shutdown", socket_shutdown },
	{ "fileno", socket_fileno },
	{ "close", socket_close },
	{ NULL, NULL },
};

static const luaL_Reg socket_meta[] = {
	{ "__gc", socket_gc },
	{ "__close", socket_gc },
	{ "__tostring", socket_tostring },
	{ NULL, NULL },
};

static const luaL_Reg listener_methods[] = {
	{ "accept", listener_accept },
	{ "fileno", listener_fileno },
	{ "close", listener_close },
	{ NULL, NULL },
};

static const luaL_Reg listener_meta[] = {
	{ "__gc", listener_gc },
	{ "__close", listener_gc },
	{ "__tostring", listener_tostring },
	{ NULL, NULL },
};

static const luaL_Reg socket_funcs[] = {
	{ "connect", socket_connect },
	{ "listen", socket_listen },
	{ "pair", socket_pair },
	{ NULL, NULL },
};

void vl_open_socket(lua_State *L)
{
	vl_new_class(L, VL_SOCKET, socket_meta, socket_methods, NULL, &socket_pollable);
	vl_new_class(L, VL_LISTENER, listener_meta, listener_methods, NULL, &listener_pollable);
	luaL_newlib(L, socket_funcs);
	lua_setfield(L, -2, "socket");
}
