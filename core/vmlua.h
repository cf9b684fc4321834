/*
 * vmlua core: declarations shared by the C files of vmlua.core.
 *
 * Two layers live in core/: Lua-free C (spawn.c, state.c, paths.c, ...)
 * that reports errors through return values and errno, with headers of its
 * own that never include <lua.h> (linebuf.h, procstat.h, state.h, ...), and
 * the binding files (l*.c) that turn those into Lua values. This header is
 * the bindings' only. Binding functions raise
 * only for programming errors (luaL_argerror, luaL_checkoption) and return
 * nil, message, errno for environment failures, as liolib.c does.
 */
#ifndef VMLUA_H
#define VMLUA_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include <lua.h>

#include "clock.h"

#ifndef VMLUA_VERSION
#define VMLUA_VERSION "0.0.0"
#endif

/* ---- module entry and parts (each adds fields to the table on top) ---- */
int luaopen_vmlua_core(lua_State *L);

void vl_open_process(lua_State *L);	/* spawn, Process, proc.*      (lprocess.c) */
void vl_open_stream(lua_State *L);	/* Stream, follow               (lstream.c)  */
void vl_open_wait(lua_State *L);	/* wait                         (lwait.c)    */
void vl_open_signal(lua_State *L);	/* signals.*, signal names      (lsignal.c)  */
void vl_open_daemon(lua_State *L);	/* fork_detached                (ldaemon.c)  */
void vl_open_socket(lua_State *L);	/* socket.*                     (lsocket.c)  */
void vl_open_json(lua_State *L);	/* json.*                       (ljson.c)    */
void vl_open_state(lua_State *L);	/* state.*                      (lstate.c)   */
void vl_open_paths(lua_State *L);	/* paths.*                      (lpaths.c)   */
void vl_open_misc(lua_State *L);	/* clock, sd_notify, fs.*, ...  (lmisc.c)    */
void vl_open_log(lua_State *L);		/* log.*                        (llog.c)     */
void vl_open_net(lua_State *L);		/* net.*: taps, links, addresses (lnet.c)    */
void vl_open_base64(lua_State *L);	/* base64.*                     (lbase64.c)  */
void vl_open_tty(lua_State *L);		/* tty.*: raw mode, input       (ltty.c)     */

/* ---- results (lutil.c) --------------------------------------------------- */
/* Push fail, "<formatted>: strerror(err)", err; returns 3. */
int vl_fail_errno(lua_State *L, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Push fail, "<formatted>" (no errno); returns 2. */
int vl_fail_msg(lua_State *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Push fail, "timeout", ETIMEDOUT; returns 3. */
int vl_fail_timeout(lua_State *L);

/* ---- time (clock.h; timeouts: lutil.c) ---------------------------------- */
/* Optional timeout argument in seconds: nil/none gives -1 (forever);
 * negative or NaN raises an argument error. */
double vl_opt_timeout(lua_State *L, int arg);

/* ---- pollable objects ----------------------------------------------------
 * A userdata type that core.wait can watch for readability puts a
 * lightuserdata pointing to one of these in its metatable as "__vl_poll"
 * (vl_new_class does); its fd is also what vl_to_fd passes on.
 */
typedef struct vl_pollable {
	const char *what;		/* "socket": for "attempt to use a closed socket" */
	int (*fd)(void *self);		/* fd to poll for POLLIN; -1 when closed */
	int (*buffered)(void *self);	/* nonzero when data is already buffered */
} vl_pollable;

/* ---- signals (lsignal.c) ------------------------------------------------ */
/* Signal number from a Lua value: an integer, "SIGTERM" or "TERM".
 * Raises an argument error for anything else. */
int vl_check_signal(lua_State *L, int arg);
/* The same without raising: 0 and a reason (pushed on the stack) in *why. */
int vl_to_signal(lua_State *L, int idx, const char **why);
/* "SIGTERM" for 15; "SIG<n>" for numbers without a name (static storage). */
const char *vl_signal_name(int sig);
/* The supervised set: SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2. */
void vl_default_signal_set(sigset_t *set);
/* Block the supervised set (the vmlua executable, before Lua starts). */
int vl_block_default_signals(void);

/* Metatable names. */
#define VL_PROCESS "vmlua.Process"
#define VL_STREAM  "vmlua.Stream"
#define VL_SOCKET  "vmlua.Socket"
#define VL_LISTENER "vmlua.Listener"
#define VL_STORE   "vmlua.Store"
#define VL_LOCK    "vmlua.Lock"

#endif
