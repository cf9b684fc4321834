/*
 * Signals: names and numbers, the process signal mask (core.signals.*),
 * core.kill, and the default supervised set that the vmlua executable
 * blocks at start so that signals arrive through core.wait's signalfd
 * instead of interrupting Lua.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "vmlua.h"

static const char *const names[] = {
	[SIGHUP] = "SIGHUP", [SIGINT] = "SIGINT", [SIGQUIT] = "SIGQUIT",
	[SIGILL] = "SIGILL", [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
	[SIGBUS] = "SIGBUS", [SIGFPE] = "SIGFPE", [SIGKILL] = "SIGKILL",
	[SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
	[SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
	[SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT",
	[SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP", [SIGTTIN] = "SIGTTIN",
	[SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG", [SIGXCPU] = "SIGXCPU",
	[SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
	[SIGWINCH] = "SIGWINCH", [SIGIO] = "SIGIO", [SIGPWR] = "SIGPWR",
	[SIGSYS] = "SIGSYS",
};
enum { NNAMES = sizeof names / sizeof names[0] };

static const int default_set[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 };

const char *vl_signal_name(int sig)
{
	static char numbered[NSIG][8];

	if (sig > 0 && sig < NNAMES && names[sig] != NULL)
		return names[sig];
	if (sig <= 0 || sig >= NSIG)
		return "SIG?";
	if (numbered[sig][0] == '\0')
		snprintf(numbered[sig], sizeof numbered[sig], "SIG%d", sig);
	return numbered[sig];
}

/* "SIGTERM", "TERM", "SIG40" -> number; 0 when unknown. */
static int number_of(const char *s)
{
	const char *bare = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;

	for (int i = 1; i < NNAMES; i++)
		if (names[i] != NULL && strcmp(names[i] + 3, bare) == 0)
			return i;
	if (strcmp(bare, "IOT") == 0)
		return SIGABRT;
	if (strcmp(bare, "POLL") == 0)
		return SIGIO;
	if (bare != s && *bare >= '1' && *bare <= '9') {
		int n = 0;
		for (const char *p = bare; *p; p++) {
			if (*p < '0' || *p > '9' || n >= NSIG)
				return 0;
			n = n * 10 + (*p - '0');
		}
		return n < NSIG ? n : 0;
	}
	return 0;
}

int vl_to_signal(lua_State *L, int idx, const char **why)
{
	int isnum;

	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer n = lua_tointegerx(L, idx, &isnum);
		if (isnum && n > 0 && n < NSIG)
			return (int)n;
		*why = lua_pushfstring(L, "invalid signal number %s", lua_tostring(L, idx));
		return 0;
	}
	if (lua_type(L, idx) == LUA_TSTRING) {
		int sig = number_of(lua_tostring(L, idx));
		if (sig == 0)
			*why = lua_pushfstring(L, "unknown signal '%s'", lua_tostring(L, idx));
		return sig;
	}
	*why = lua_pushfstring(L, "signal name or number expected, got %s", luaL_typename(L, idx));
	return 0;
}

int vl_check_signal(lua_State *L, int arg)
{
	const char *why = NULL;
	int sig = vl_to_signal(L, arg, &why);

	if (sig == 0)
		luaL_argerror(L, arg, why);
	return sig;
}

void vl_default_signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof default_set / sizeof default_set[0]; i++)
		sigaddset(set, default_set[i]);
}

int vl_block_default_signals(void)
{
	sigset_t set;

	vl_default_signal_set(&set);
	return sigprocmask(SIG_BLOCK, &set, NULL);
}

/* An optional list of signals at arg (nil: the default set). */
static void check_list(lua_State *L, int arg, sigset_t *set)
{
	if (lua_isnoneornil(L, arg)) {
		vl_default_signal_set(set);
		return;
	}
	luaL_checktype(L, arg, LUA_TTABLE);
	sigemptyset(set);
	lua_Integer n = luaL_len(L, arg);
	for (lua_Integer i = 1; i <= n; i++) {
		const char *why = NULL;
		lua_geti(L, arg, i);
		int sig = vl_to_signal(L, -1, &why);
		if (sig == 0)
			luaL_argerror(L, arg, lua_pushfstring(L, "[%I]: %s", i, why));
		if (sig == SIGKILL || sig == SIGSTOP)
			luaL_argerror(L, arg, lua_pushfstring(L, "[%I]: %s cannot be blocked",
							      i, vl_signal_name(sig)));
		sigaddset(set, sig);
		lua_pop(L, 1);
	}
}

static int push_names(lua_State *L, const sigset_t *set)
{
	lua_newtable(L);
	int n = 0;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigismember(set, sig) == 1) {
			lua_pushstring(L, vl_signal_name(sig));
			lua_rawseti(L, -2, ++n);
		}
	}
	return 1;
}

static int change_mask(lua_State *L, int how)
{
	sigset_t set;

	check_list(L, 1, &set);
	if (sigprocmask(how, &set, NULL) < 0)
		return vl_fail_errno(L, errno, "sigprocmask");
	lua_pushboolean(L, 1);
	return 1;
}

static int sig_block(lua_State *L)
{
	return change_mask(L, SIG_BLOCK);
}

static int sig_unblock(lua_State *L)
{
	return change_mask(L, SIG_UNBLOCK);
}

static int sig_blocked(lua_State *L)
{
	sigset_t set;

	sigprocmask(SIG_BLOCK, NULL, &set);
	return push_names(L, &set);
}

static int sig_pending(lua_State *L)
{
	sigset_t set;

	sigpending(&set);
	return push_names(L, &set);
}

static int core_signal_name(lua_State *L)
{
	lua_pushstring(L, vl_signal_name(vl_check_signal(L, 1)));
	return 1;
}

static int core_signal_number(lua_State *L)
{
	lua_pushinteger(L, vl_check_signal(L, 1));
	return 1;
}

/* core.kill(pid, sig): plain kill(2); a negative pid is a process group. */
static int core_kill(lua_State *L)
{
	lua_Integer pid = luaL_checkinteger(L, 1);
	int sig = vl_check_signal(L, 2);

	luaL_argcheck(L, pid != 0 && pid != -1 && pid >= -(lua_Integer)0x7fffffff &&
		      pid <= 0x7fffffff, 1, "not a process or process group id");
	if (kill((pid_t)pid, sig) < 0)
		return vl_fail_errno(L, errno, "kill %d", (int)pid);
	lua_pushboolean(L, 1);
	return 1;
}

void vl_open_signal(lua_State *L)
{
	static const luaL_Reg signals[] = {
		{ "block", sig_block },
		{ "unblock", sig_unblock },
		{ "blocked", sig_blocked },
		{ "pending", sig_pending },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "signal_name", core_signal_name },
		{ "signal_number", core_signal_number },
		{ "kill", core_kill },
		{ NULL, NULL },
	};

	luaL_newlib(L, signals);
	lua_setfield(L, -2, "signals");
	luaL_setfuncs(L, funcs, 0);
}
