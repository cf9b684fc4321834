/*
 * vmlua.Process: a handle on a child (core.spawn) or on a process that is
 * not ours (core.proc.attach), always through a pidfd. Children are reaped
 * with waitid(P_PIDFD); a handle that is closed or collected while its
 * child runs kills and reaps it, so no zombie is ever left. Also the
 * pid-reuse-safe helpers core.proc.{start_time, alive, attach, kill}.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lbind.h"
#include "pgroup.h"
#include "process.h"
#include "procinfo.h"
#include "procstat.h"
#include "stream.h"

/* ---- shared with lspawn.c and lwait.c ------------------------------------ */

vl_process *vl_process_new(lua_State *L)
{
	vl_process *p = lua_newuserdatauv(L, sizeof *p, VL_PROCESS_NUV);
	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->pidfd = -1;
	p->code = -1;
	luaL_setmetatable(L, VL_PROCESS);
	return p;
}

_Static_assert(offsetof(vl_process, pidfd) == 0, "vl_check_open reads the fd first");

vl_process *vl_check_process(lua_State *L, int idx)
{
	return vl_check_open(L, idx, VL_PROCESS, "process");
}

/* Spawned by this process (not attached, not a copy in a forked child). */
static int ours(const vl_process *p)
{
	return p->child && p->owner == getpid();
}

int vl_process_reap(vl_process *p)
{
	if (p->done)
		return 1;
	if (!ours(p)) {
		/* Not ours to reap (waitid would say ECHILD, as if it had
		 * exited): the pidfd turns readable when it exits. */
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0)
			return 0;
		p->done = 1;
		return 1;
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int r;
	do
		r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0 && si.si_pid == 0)
		return 0;
	p->done = 1;
	if (r < 0)	/* ECHILD: reaped behind our back; the status is lost */
		return 1;
	p->killed = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
	p->code = si.si_status;
	return 1;
}

int vl_process_push_status(lua_State *L, const vl_process *p)
{
	lua_pushstring(L, p->killed ? "killed" : "exited");
	if (p->code >= 0)
		lua_pushinteger(L, p->code);
	else
		lua_pushnil(L);
	return 2;
}

/* Sleep on the pidfd until the process is done or the deadline passes.
 * 1 done, 0 deadline, -1 errno. */
static int wait_done(vl_process *p, double deadline)
{
	for (;;) {
		if (vl_process_reap(p))
			return 1;
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
		int ms = vl_remaining_ms(deadline);
		if (ms == 0)
			return 0;
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
			return -1;
	}
}

static int send_signal(vl_process *p, int sig)
{
	if (pidfd_send_signal(p->pidfd, sig, NULL, 0) == 0)
		return 0;
	if (errno == ENOSYS)
		return kill(p->pid, sig);
	return -1;
}

/* ---- methods --------------------------------------------------------------- */

static int p_wait(lua_State *L)
{
	vl_process *p = vl_check_process(L, 1);
	double deadline = vl_deadline(vl_opt_timeout(L, 2));

	int r = wait_done(p, deadline);
	if (r < 0)
		return vl_fail_errno(L, errno, "wait for process %d", (int)p->pid);
	if (r == 0)
		return vl_fail_timeout(L);
	return vl_process_push_status(L, p);
}

static int has_exited(lua_State *L, const vl_process *p)
{
	vl_fail_msg(L, "process %d has exited", (int)p->pid);
	lua_pushinteger(L, ESRCH);
	return 3;
}

static int p_signal(lua_State *L)
{
	vl_process *p = vl_check_process(L, 1);
	int sig = vl_check_signal(L, 2);

	if (vl_process_reap(p))
		return has_exited(L, p);
	if (send_signal(p, sig) < 0) {
		if (errno == ESRCH)
			return has_exited(L, p);
		return vl_fail_errno(L, errno, "signal process %d", (int)p->pid);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int p_alive(lua_State *L)
{
	vl_process *p = vl_check_process(L, 1);
	lua_pushboolean(L, !vl_process_reap(p));
	return 1;
}

static const char *const terminate_keys[] = { "grace", "signal", "group", NULL };

struct terminate_opts {
	double grace;
	int sig;
	int group;	/* the whole process group the process leads */
};

static void check_terminate_opts(lua_State *L, struct terminate_opts *o)
{
	o->grace = 5;
	o->sig = SIGTERM;
	o->group = 0;
	if (!vl_check_options(L, 2, terminate_keys))
		return;
	lua_settop(L, 2);
	if (lua_getfield(L, 2, "grace") != LUA_TNIL) {
		luaL_argcheck(L, lua_type(L, 3) == LUA_TNUMBER && lua_tonumber(L, 3) >= 0, 2,
			      "grace must be a number >= 0");
		o->grace = lua_tonumber(L, 3);
	}
	if (lua_getfield(L, 2, "signal") != LUA_TNIL)
		o->sig = vl_check_signal(L, 4);
	if (lua_getfield(L, 2, "group") != LUA_TNIL) {
		luaL_argcheck(L, lua_type(L, 5) == LUA_TBOOLEAN, 2, "group must be a boolean");
		o->group = lua_toboolean(L, 5);
	}
}

/* The process, or its whole group. A group outlives its leader while a
 * member lives, and its number is not reused until then: signalling it
 * after the leader was reaped reaches only what is left of it. */
static int signal_target(vl_process *p, int group, int sig)
{
	if (group) {
		if (kill(-p->pid, sig) < 0 && errno != ESRCH && errno != EPERM)
			return -1;
		/* A leader that moved to another group (setpgid) is not
		 * reached by the group's signal. */
		if (p->done || vl_process_reap(p) || getpgid(p->pid) == p->pid)
			return 0;
	}
	if (p->done)
		return 0;
	if (send_signal(p, sig) < 0 && errno != ESRCH)
		return -1;
	return 0;
}

/* The process (and with group, the rest of its group) gone by the deadline:
 * 1, 0 deadline, -1 errno. */
static int wait_gone(vl_process *p, int group, double deadline)
{
	int r = wait_done(p, deadline);
	if (r == 1 && group)
		r = vl_pgroup_wait(p->pid, p->pid, deadline);
	return r;
}

/* p:terminate{ grace = 5, signal = "SIGTERM", group = false } -> how, code, seconds */
static int p_terminate(lua_State *L)
{
	vl_process *p = vl_check_process(L, 1);
	struct terminate_opts o;
	check_terminate_opts(L, &o);
	int group = o.group && p->leader;

	double t0 = vl_monotonic();
	int r = 1;
	if (!vl_process_reap(p) || group) {
		if (signal_target(p, group, o.sig) < 0)
			return vl_fail_errno(L, errno, "signal process %d", (int)p->pid);
		r = wait_gone(p, group, vl_deadline(o.grace));
	}
	if (r == 0) {
		if (signal_target(p, group, SIGKILL) < 0)
			return vl_fail_errno(L, errno, "kill process %d", (int)p->pid);
		r = wait_gone(p, group, -1);
	}
	if (r < 0)
		return vl_fail_errno(L, errno, "wait for process %d", (int)p->pid);
	vl_process_push_status(L, p);
	lua_pushnumber(L, vl_monotonic() - t0);
	return 3;
}

static int p_fileno(lua_State *L)
{
	lua_pushinteger(L, vl_check_process(L, 1)->pidfd);
	return 1;
}

/* close, __gc, __close: kill and reap a running child of ours, release the
 * pidfd and close the pipes. */
static int p_close(lua_State *L)
{
	vl_process *p = luaL_checkudata(L, 1, VL_PROCESS);

	if (p->pidfd >= 0) {
		/* A forked copy of this Lua state (fork_detached) holds the
		 * handle too, but the child is not its to kill. */
		if (ours(p) && !vl_process_reap(p)) {
			send_signal(p, SIGKILL);
			wait_done(p, -1);
		}
		close(p->pidfd);
		p->pidfd = -1;
	}
	for (int i = 1; i <= VL_PROCESS_NUV; i++) {
		vl_stream *s = lua_getiuservalue(L, 1, i) == LUA_TUSERDATA ?
			luaL_testudata(L, -1, VL_STREAM) : NULL;
		if (s != NULL)
			vl_stream_close(s);
		lua_pop(L, 1);
	}
	return 0;
}

static int p_tostring(lua_State *L)
{
	vl_process *p = luaL_checkudata(L, 1, VL_PROCESS);

	if (p->pidfd < 0)
		lua_pushliteral(L, "vmlua.Process (closed)");
	else if (!p->done)
		lua_pushfstring(L, "vmlua.Process (pid %d, running)", (int)p->pid);
	else if (p->code < 0)
		lua_pushfstring(L, "vmlua.Process (pid %d, exited)", (int)p->pid);
	else
		lua_pushfstring(L, "vmlua.Process (pid %d, %s %d)", (int)p->pid,
				p->killed ? "killed by" : "exited", p->code);
	return 1;
}

/* Fields first (pid, start_time, stdin, stdout, stderr), then methods. */
static int p_index(lua_State *L)
{
	static const char *const streams[] = { "stdin", "stdout", "stderr" };
	vl_process *p = luaL_checkudata(L, 1, VL_PROCESS);
	const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;

	if (key != NULL) {
		if (strcmp(key, "pid") == 0) {
			lua_pushinteger(L, p->pid);
			return 1;
		}
		if (strcmp(key, "start_time") == 0) {
			lua_pushinteger(L, (lua_Integer)p->start_time);
			return 1;
		}
		for (int i = 0; i < 3; i++) {
			if (strcmp(key, streams[i]) == 0) {
				lua_getiuservalue(L, 1, i + 1);
				return 1;
			}
		}
	}
	lua_pushvalue(L, 2);
	lua_rawget(L, lua_upvalueindex(1));
	return 1;
}

/* ---- core.proc --------------------------------------------------------------- */

static pid_t check_pid(lua_State *L, int arg)
{
	lua_Integer pid = luaL_checkinteger(L, arg);
	luaL_argcheck(L, pid > 0 && pid <= 0x7fffffff, arg, "not a process id");
	return (pid_t)pid;
}

static unsigned long long check_start_time(lua_State *L, int arg)
{
	lua_Integer t = luaL_checkinteger(L, arg);
	luaL_argcheck(L, t >= 0, arg, "start time must be >= 0");
	return (unsigned long long)t;
}

static int no_such_process(lua_State *L, pid_t pid, int err)
{
	return vl_fail_errno(L, err == ENOENT ? ESRCH : err, "process %d", (int)pid);
}

static int not_the_one(lua_State *L, pid_t pid)
{
	vl_fail_msg(L, "process %d is not the one recorded (start time differs)", (int)pid);
	lua_pushinteger(L, ESRCH);
	return 3;
}

static int proc_start_time(lua_State *L)
{
	pid_t pid = check_pid(L, 1);
	unsigned long long start;

	if (vl_proc_start_time(pid, &start) < 0)
		return no_such_process(L, pid, errno);
	lua_pushinteger(L, (lua_Integer)start);
	return 1;
}

static int proc_alive(lua_State *L)
{
	pid_t pid = check_pid(L, 1);
	unsigned long long want = check_start_time(L, 2);
	struct vl_procstat st;

	lua_pushboolean(L, vl_proc_stat(pid, &st) == 0 && st.start == want &&
			   st.state != 'Z' && st.state != 'X');
	return 1;
}

/* A pidfd for pid, checked against start_time (when given): fd, or -1
 * with the failure pushed (*nret results). */
static int open_checked(lua_State *L, pid_t pid, int check, unsigned long long want, int *nret)
{
	unsigned long long start;
	int fd = pidfd_open(pid, 0);

	if (fd < 0) {
		*nret = no_such_process(L, pid, errno);
		return -1;
	}
	/* After pidfd_open: if the start time matches now, the pidfd is on
	 * the right process (a pid is not reused while it is still in use). */
	if (vl_proc_start_time(pid, &start) < 0) {
		int e = errno;
		close(fd);
		*nret = no_such_process(L, pid, e);
		return -1;
	}
	if (check && start != want) {
		close(fd);
		*nret = not_the_one(L, pid);
		return -1;
	}
	return fd;
}

/* Up to this much of a process's arguments is read (QEMU's are a few KiB). */
enum { CMDLINE_MAX = 128 * 1024 };

/* core.proc.info(pid) -> { pid, uid, euid, start_time, state, exe,
 * cmdline = { ... }[, cmdline_cut = true] } */
static int proc_info(lua_State *L)
{
	pid_t pid = check_pid(L, 1);
	/* In a userdata: the buffer is freed even if building the table raises. */
	struct vl_procinfo *info = lua_newuserdatauv(L, sizeof *info + CMDLINE_MAX, 0);
	char *cmdline = (char *)(info + 1);

	if (vl_proc_info(pid, info, cmdline, CMDLINE_MAX) < 0)
		return no_such_process(L, pid, errno);
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, pid);
	lua_setfield(L, -2, "pid");
	lua_pushinteger(L, (lua_Integer)info->uid);
	lua_setfield(L, -2, "uid");
	lua_pushinteger(L, (lua_Integer)info->euid);
	lua_setfield(L, -2, "euid");
	lua_pushinteger(L, (lua_Integer)info->stat.start);
	lua_setfield(L, -2, "start_time");
	lua_pushlstring(L, &info->stat.state, 1);
	lua_setfield(L, -2, "state");
	if (info->has_exe) {
		lua_pushstring(L, info->exe);
		lua_setfield(L, -2, "exe");
	}
	lua_newtable(L);
	size_t off = 0, n;
	const char *arg;
	for (lua_Integer i = 1; (arg = vl_cmdline_next(cmdline, info->cmdline_len, &off, &n)) != NULL; i++) {
		lua_pushlstring(L, arg, n);
		lua_rawseti(L, -2, i);
	}
	lua_setfield(L, -2, "cmdline");
	if (info->cmdline_cut) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "cmdline_cut");
	}
	return 1;
}

static int proc_attach(lua_State *L)
{
	pid_t pid = check_pid(L, 1);
	unsigned long long want = check_start_time(L, 2);
	int nret;

	lua_settop(L, 2);
	vl_process *p = vl_process_new(L);
	int fd = open_checked(L, pid, 1, want, &nret);
	if (fd < 0)
		return nret;
	p->pid = pid;
	p->pidfd = fd;
	p->start_time = want;
	p->owner = getpid();
	p->leader = getpgid(pid) == pid;
	return 1;
}

static int proc_kill(lua_State *L)
{
	pid_t pid = check_pid(L, 1);
	int sig = vl_check_signal(L, 2);
	int check = !lua_isnoneornil(L, 3);
	unsigned long long want = check ? check_start_time(L, 3) : 0;
	int nret;

	int fd = open_checked(L, pid, check, want, &nret);
	if (fd < 0)
		return nret;
	int r = pidfd_send_signal(fd, sig, NULL, 0);
	int e = errno;
	close(fd);
	if (r < 0)
		return e == ESRCH ? no_such_process(L, pid, e) : vl_fail_errno(L, e, "kill %d", (int)pid);
	lua_pushboolean(L, 1);
	return 1;
}

void vl_open_process(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "wait", p_wait },
		{ "signal", p_signal },
		{ "alive", p_alive },
		{ "terminate", p_terminate },
		{ "fileno", p_fileno },
		{ "close", p_close },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", p_close },
		{ "__close", p_close },
		{ "__tostring", p_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg proc[] = {
		{ "start_time", proc_start_time },
		{ "info", proc_info },
		{ "alive", proc_alive },
		{ "attach", proc_attach },
		{ "kill", proc_kill },
		{ NULL, NULL },
	};

	vl_new_class(L, VL_PROCESS, meta, methods, p_index, NULL);

	luaL_newlib(L, proc);
	lua_setfield(L, -2, "proc");
	lua_pushcfunction(L, vl_core_spawn);
	lua_setfield(L, -2, "spawn");
}
