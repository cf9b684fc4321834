/*
 * core.wait's plan, shared by its two halves: lwaitcond.c reads the
 * conditions table into a box of struct cond (raising for misuse, before
 * anything is acquired), lwait.c acquires what the conditions need and runs
 * the event loop over them.
 */
#ifndef VMLUA_WAIT_H
#define VMLUA_WAIT_H

#include <signal.h>
#include <stddef.h>

#include <lua.h>

#include "sockwatch.h"
#include "vmlua.h"

enum vl_wait_kind { K_EXIT, K_SOCKET, K_LINE, K_READABLE, K_SIGNAL };
enum vl_wait_match { M_ANY, M_FIND, M_PATTERN };

struct cond {
	enum vl_wait_kind kind;
	enum vl_wait_match match;
	void *obj;		/* vl_process, vl_stream, or the pollable userdata */
	const vl_pollable *pl;
	const char *text;	/* find text or pattern (kept by the conditions table) */
	size_t textlen;
	int group;		/* line: the first line condition on the same stream */
	int hit;		/* group leader: the condition the front line matched */
	int fd;			/* signal: our signalfd, -1 */
	int signo;		/* signal: the one read */
	sigset_t sigs;		/* signal */
	struct vl_sockwatch sock;	/* socket */
};

struct box {
	int n;
	int busy;		/* a stream has more to read: do not sleep */
	int err;		/* environment failure: errno and what failed */
	char what[VL_SUN_PATH_MAX + 32];
	struct cond c[];	/* then n struct pollfd */
};

/* Check conditions[i + 1], on top of the stack, into b->c[i]: raises
 * "bad argument #1 to 'wait' (conditions[N]: ...)" for misuse. Acquires
 * nothing; strings and objects stay owned by the conditions table. */
void vl_wait_check_cond(lua_State *L, struct box *b, int i);

/* Raise "bad argument #1 to 'wait' (conditions[i + 1]: msg)". */
int vl_wait_bad(lua_State *L, int i, const char *msg);

/* Raise "conditions[N]: attempt to use a closed <what>" when the handle c
 * watches is closed: checked before the wait and again while it runs, as
 * Lua code can run inside it (a hook or a finalizer while a pattern is
 * matched or a result is built) and close a handle. */
void vl_wait_check_open(lua_State *L, const struct cond *c, int i);

#endif
