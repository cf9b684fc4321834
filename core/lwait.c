/*
 * core.wait(conditions[, timeout]): one event wait over process exits,
 * unix sockets appearing, lines on streams, readable objects and signals.
 *
 * Three phases. (1) Every condition is checked, raising for misuse, before
 * anything is acquired (lwaitcond.c). (2) What a wait acquires (signalfds,
 * inotify watches) is recorded in a to-be-closed "box" userdata, so that it is
 * released on every path, a Lua error while matching a pattern included.
 * Socket conditions share one inotify instance per Lua state: closing an
 * instance that has had watches waits for an SRCU grace period (~15 ms),
 * which would delay every wait's return; removing a watch does not.
 * (3) A loop that evaluates every condition in array order and otherwise
 * sleeps in a single poll() until something may have changed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "process.h"
#include "stream.h"
#include "wait.h"

#define WAIT_BOX "vmlua.WaitBox"
#define WAIT_NOTIFY "vmlua.WaitNotify"

/* Bytes one pass reads from a stream before polling the others again. */
enum { PASS_BUDGET = 1 << 20 };

/* The shared inotify instance (upvalue 2 of core.wait). */
struct notify {
	int fd;
	pid_t owner;	/* a forked child makes its own */
};

static struct pollfd *pollfds(struct box *b)
{
	return (struct pollfd *)(b->c + b->n);
}

static int box_close(lua_State *L)
{
	struct box *b = luaL_checkudata(L, 1, WAIT_BOX);
	for (int i = 0; i < b->n; i++) {
		struct cond *c = &b->c[i];
		if (c->kind == K_SOCKET && c->sock.ifd >= 0)
			vl_sockwatch_release(&c->sock);
		else if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	return 0;
}

/* ---- phase 2: owned fds ---------------------------------------------------- */

static int shared_inotify(struct notify *n)
{
	if (n->fd >= 0 && n->owner == getpid())
		return n->fd;
	if (n->fd >= 0)
		close(n->fd);	/* our parent's */
	n->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	n->owner = getpid();
	return n->fd;
}

static int notify_gc(lua_State *L)
{
	struct notify *n = luaL_checkudata(L, 1, WAIT_NOTIFY);
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	return 0;
}

static int acquire(struct box *b, struct notify *n)
{
	for (int i = 0; i < b->n; i++) {
		struct cond *c = &b->c[i];
		int fd;
		if (c->kind == K_SOCKET)
			fd = c->sock.ifd = shared_inotify(n);
		else if (c->kind == K_SIGNAL)
			fd = c->fd = signalfd(-1, &c->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
		else
			continue;
		if (fd < 0) {
			b->err = errno;
			snprintf(b->what, sizeof b->what, "%s",
				 c->kind == K_SOCKET ? "inotify_init1" : "signalfd");
			return -1;
		}
	}
	return 0;
}

/* ---- sockets ------------------------------------------------------------------ */

static int check_socket(struct box *b, struct cond *c)
{
	int r = vl_sockwatch_check(&c->sock, b->what, sizeof b->what);
	if (r < 0)
		b->err = errno;
	return r;
}

/* ---- lines --------------------------------------------------------------------- */

/* Does line match c? For a pattern, string.find's results stay on the
 * stack when keep is set (returns their count), else are popped. */
static int line_matches(lua_State *L, const struct cond *c, const char *line, size_t len, int keep)
{
	if (c->match == M_ANY)
		return 1;
	if (c->match == M_FIND)
		return memmem(line, len, c->text, c->textlen) != NULL;
	int base = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));	/* string.find */
	lua_pushlstring(L, line, len);
	lua_pushlstring(L, c->text, c->textlen);
	lua_call(L, 2, LUA_MULTRET);
	if (lua_isnil(L, base + 1) || !keep) {
		int found = !lua_isnil(L, base + 1);
		lua_settop(L, base);
		return found;
	}
	return lua_gettop(L) - base;
}

/* The first line condition of group `lead` that the line matches, or -1.
 * A pattern runs Lua code (string.find, a hook, a finalizer) that may close
 * or read the stream and so free or move its buffer: before the first one,
 * the line is copied into a Lua string left on the stack, and every later
 * condition reads that copy. */
static int first_match(lua_State *L, struct box *b, int lead, const char *line, size_t len)
{
	int copied = 0;

	for (int j = lead; j < b->n; j++) {
		struct cond *c = &b->c[j];
		if (c->kind != K_LINE || c->group != lead)
			continue;
		if (c->match == M_PATTERN && !copied) {
			line = lua_pushlstring(L, line, len);
			copied = 1;
		}
		if (line_matches(L, c, line, len, 0))
			return j;
	}
	return -1;
}

/* After Lua code ran: is the line in the Lua string on top still the
 * stream's next line? Raises if the stream was closed. */
static int still_front(lua_State *L, struct box *b, int lead, size_t *used)
{
	const char *line, *copy;
	size_t len, clen;

	vl_wait_check_open(L, &b->c[lead], lead);
	copy = lua_tolstring(L, -1, &clen);
	return vl_stream_peek_line(b->c[lead].obj, &line, &len, used) && len == clen &&
	       memcmp(line, copy, len) == 0;
}

/* Read lines from the stream of line condition `lead` and test each against
 * every line condition on that stream; lines that match none are consumed.
 * A matching line stays in the buffer until its condition wins. */
static int scan_group(lua_State *L, struct box *b, int lead)
{
	struct cond *g = &b->c[lead];
	vl_stream *s = g->obj;
	size_t budget = PASS_BUDGET;
	const char *line;
	size_t len, used;
	int base = lua_gettop(L);

	g->hit = -1;
	for (;;) {
		if (vl_stream_peek_line(s, &line, &len, &used)) {
			int j = first_match(L, b, lead, line, len);
			int front = lua_gettop(L) == base || still_front(L, b, lead, &used);
			lua_settop(L, base);
			if (!front && j >= 0)
				vl_wait_bad(L, j, "its line was read during the wait");
			if (j >= 0) {
				g->hit = j;
				return 0;
			}
			if (front)
				vl_stream_consume(s, used);
			continue;
		}
		if (vl_stream_drained(s))
			return 0;
		if (budget == 0) {
			b->busy = 1;
			return 0;
		}
		ssize_t n = vl_stream_pump(s);
		if (n < 0) {
			b->err = errno;
			snprintf(b->what, sizeof b->what, "read from stream");
			return -1;
		}
		if (n == 0 && !s->buf.eof)
			return 0;
		budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
	}
}

/* ---- phase 3: the loop ------------------------------------------------------ */

static int read_signal(struct cond *c)
{
	struct signalfd_siginfo si;
	ssize_t n = read(c->fd, &si, sizeof si);
	if (n != (ssize_t)sizeof si)
		return 0;
	c->signo = (int)si.ssi_signo;
	return 1;
}

/* The first condition that holds (its index), -1 none, -2 failure. */
static int evaluate(lua_State *L, struct box *b)
{
	const struct pollfd *pfd = pollfds(b);

	b->busy = 0;
	for (int i = 0; i < b->n; i++) {
		struct cond *c = &b->c[i];
		int r = 0;
		vl_wait_check_open(L, c, i);
		switch (c->kind) {
		case K_EXIT:
			r = vl_process_reap(c->obj);
			break;
		case K_SOCKET:
			r = check_socket(b, c);
			break;
		case K_LINE:
			if (c->group == i)
				r = scan_group(L, b, i);
			r = r < 0 ? -1 : b->c[c->group].hit == i;
			break;
		case K_READABLE:
			r = c->pl->buffered(c->obj) || (pfd[i].revents & (POLLIN | POLLHUP | POLLERR));
			break;
		case K_SIGNAL:
			r = read_signal(c);
			break;
		}
		if (r < 0)
			return -2;
		if (r > 0)
			return i;
	}
	return -1;
}

/* Nothing can ever hold: only line conditions, all on drained streams. */
static int hopeless(const struct box *b)
{
	for (int i = 0; i < b->n; i++)
		if (b->c[i].kind != K_LINE || !vl_stream_drained(b->c[i].obj))
			return 0;
	return 1;
}

static int sleep_ms(const struct box *b, double deadline)
{
	int ms = b->busy ? 0 : vl_remaining_ms(deadline);

	for (int i = 0; i < b->n; i++) {
		const struct cond *c = &b->c[i];
		if (c->kind == K_SOCKET && c->sock.retry_at >= 0) {
			int r = vl_remaining_ms(c->sock.retry_at);
			if (ms < 0 || r < ms)
				ms = r;
		}
	}
	return ms;
}

static void set_pollfds(struct box *b)
{
	struct pollfd *pfd = pollfds(b);

	for (int i = 0; i < b->n; i++) {
		struct cond *c = &b->c[i];
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
		switch (c->kind) {
		case K_EXIT:
			pfd[i].fd = ((vl_process *)c->obj)->pidfd;
			break;
		case K_LINE:
			pfd[i].fd = c->group == i ? vl_stream_pollfd(c->obj) : -1;
			break;
		case K_READABLE:
			pfd[i].fd = c->pl->fd(c->obj);
			break;
		case K_SOCKET:
			pfd[i].fd = c->sock.ifd;
			break;
		default:
			pfd[i].fd = c->fd;
		}
	}
}

static void push_event(lua_State *L, struct box *b, int i)
{
	struct cond *c = &b->c[i];

	vl_wait_check_open(L, c, i);
	lua_newtable(L);
	switch (c->kind) {
	case K_EXIT:
		lua_pushliteral(L, "exit");
		vl_process_push_status(L, c->obj);
		lua_setfield(L, -4, "code");
		lua_setfield(L, -3, "how");
		break;
	case K_SOCKET:
		lua_pushliteral(L, "socket");
		lua_pushstring(L, c->sock.path);
		lua_setfield(L, -3, "path");
		break;
	case K_LINE: {
		const char *line;
		size_t len, used;
		int top = lua_gettop(L);
		/* Take the line out of the stream before matching it again: the
		 * match may run Lua code (a hook, a finalizer) that reads the
		 * stream. */
		if (!vl_stream_peek_line(c->obj, &line, &len, &used))
			vl_wait_bad(L, i, "its line was read during the wait");
		line = lua_pushlstring(L, line, len);
		vl_stream_consume(c->obj, used);
		if (c->match == M_PATTERN) {
			int nres = line_matches(L, c, line, len, 1);
			if (nres == 0)
				vl_wait_bad(L, i, "its line was read during the wait");
			lua_createtable(L, nres > 2 ? nres - 2 : 0, 0);
			for (int k = 3; k <= nres; k++) {
				lua_pushvalue(L, top + 1 + k);
				lua_rawseti(L, -2, k - 2);
			}
			lua_setfield(L, top, "captures");
			lua_settop(L, top + 1);
		}
		lua_setfield(L, top, "line");
		lua_rawgeti(L, 1, i + 1);
		vl_rawfield(L, -1, "line");
		lua_setfield(L, top, "stream");
		lua_pop(L, 1);
		lua_pushliteral(L, "line");
		break;
	}
	case K_READABLE:
		lua_pushliteral(L, "readable");
		break;
	case K_SIGNAL:
		lua_pushliteral(L, "signal");
		lua_pushstring(L, vl_signal_name(c->signo));
		lua_setfield(L, -3, "signal");
		lua_pushinteger(L, c->signo);
		lua_setfield(L, -3, "signo");
		break;
	}
	lua_setfield(L, -2, "kind");
}

static int run(lua_State *L, struct box *b, double deadline)
{
	for (int first = 1;; first = 0) {
		set_pollfds(b);
		int ms = first ? 0 : sleep_ms(b, deadline);
		if (poll(pollfds(b), (nfds_t)b->n, ms) < 0 && errno != EINTR) {
			b->err = errno;
			snprintf(b->what, sizeof b->what, "poll");
			return -2;
		}
		int won = evaluate(L, b);
		if (won != -1)
			return won;
		if (hopeless(b))
			return -3;
		if (deadline >= 0 && vl_monotonic() >= deadline)
			return -4;
	}
}

static int core_wait(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));
	/* Read raw, as every condition: the box keeps pointers to what the
	 * conditions hold, so it must stay anchored in the table. */
	lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
	luaL_argcheck(L, n > 0 && n < 4096, 1, "give 1 to 4095 conditions");
	lua_settop(L, 2);

	size_t size = sizeof(struct box) + (size_t)n * (sizeof(struct cond) + sizeof(struct pollfd));
	struct box *b = lua_newuserdatauv(L, size, 0);
	memset(b, 0, size);
	b->n = (int)n;
	for (int i = 0; i < b->n; i++) {
		b->c[i].fd = -1;
		b->c[i].sock.ifd = -1;
		b->c[i].hit = -1;
	}
	luaL_setmetatable(L, WAIT_BOX);
	lua_toclose(L, 3);

	for (int i = 0; i < b->n; i++) {
		lua_rawgeti(L, 1, i + 1);
		vl_wait_check_cond(L, b, i);
		lua_pop(L, 1);
	}
	for (int i = 0; i < b->n; i++)
		if (b->c[i].match == M_PATTERN && lua_isnil(L, lua_upvalueindex(1)))
			return luaL_error(L, "core.wait: string.find is not available");

	struct notify *shared = luaL_checkudata(L, lua_upvalueindex(2), WAIT_NOTIFY);
	int won = acquire(b, shared) < 0 ? -2 : run(L, b, deadline);
	switch (won) {
	case -2:
		return vl_fail_errno(L, b->err, "%s", b->what);
	case -3:
		luaL_pushfail(L);
		lua_pushliteral(L, "eof");
		return 2;
	case -4:
		return vl_fail_timeout(L);
	}
	lua_pushinteger(L, won + 1);
	push_event(L, b, won);
	return 2;
}

void vl_open_wait(lua_State *L)
{
	luaL_newmetatable(L, WAIT_BOX);
	lua_pushcfunction(L, box_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, box_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, "string") == LUA_TTABLE)
		lua_getfield(L, -1, "find");
	else
		lua_pushnil(L);
	lua_replace(L, -3);
	lua_pop(L, 1);
	struct notify *n = lua_newuserdatauv(L, sizeof *n, 0);
	n->fd = -1;
	n->owner = 0;
	luaL_newmetatable(L, WAIT_NOTIFY);
	lua_pushcfunction(L, notify_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_pushcclosure(L, core_wait, 2);
	lua_setfield(L, -2, "wait");
}
