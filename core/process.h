/*
 * vmlua.Process internals shared by lprocess.c (the handle, core.proc),
 * lspawn.c (core.spawn) and lwait.c (exit conditions).
 */
#ifndef VMLUA_PROCESS_H
#define VMLUA_PROCESS_H

#include <sys/types.h>

#include "vmlua.h"

typedef struct vl_process {
	int pidfd;		/* -1 once closed; first, for vl_check_open */
	pid_t pid;
	int child;		/* spawned by us: ours to kill and reap */
	pid_t owner;		/* getpid() at spawn: a forked copy neither kills nor reaps */
	int done;		/* the result below is known */
	int killed;		/* done: 1 killed by signal `code`, 0 exited with `code` */
	int code;		/* -1: not ours to know (attached process) */
	unsigned long long start_time;
	int leader;		/* leads its process group (setsid / pgroup), pgid == pid */
} vl_process;

/* User values of a Process: the Streams for stdin, stdout, stderr. */
enum { VL_PROCESS_NUV = 3 };

/* Push a new, closed Process handle. */
vl_process *vl_process_new(lua_State *L);
/* The Process at idx; raises for another type or a closed handle. */
vl_process *vl_check_process(lua_State *L, int idx);
/* Collect the exit status without blocking. 1 done (cached), 0 running. */
int vl_process_reap(vl_process *p);
/* Push how, code ("exited", 0 / "killed", 9 / "exited", nil). Returns 2. */
int vl_process_push_status(lua_State *L, const vl_process *p);

/* core.spawn (lspawn.c). */
int vl_core_spawn(lua_State *L);

#endif
