/*
 * The members of a process group, found in /proc, and a wait for the group
 * to empty (Lua-free; pgroup.c).
 */
#ifndef VMLUA_PGROUP_H
#define VMLUA_PGROUP_H

#include <sys/types.h>

/* The processes of group pgid other than `except` that have not exited
 * (zombies do not count). Fills up to max pids; returns how many there are
 * in all (possibly > max), or -1/errno. */
int vl_pgroup_members(pid_t pgid, pid_t except, pid_t *pids, int max);
/* Sleep (on pidfds) until group pgid holds no live process but `except`,
 * or the deadline passes (vl_deadline; < 0: none). 1 empty, 0 deadline,
 * -1 errno. */
int vl_pgroup_wait(pid_t pgid, pid_t except, double deadline);

#endif
