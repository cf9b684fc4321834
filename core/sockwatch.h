/*
 * Waiting for a unix socket to accept connections, without Lua
 * (sockwatch.c; used by core.wait's socket conditions).
 *
 * inotify on the socket's directory (or, while that does not exist yet, on
 * its deepest existing ancestor) wakes the waiter when the socket file is
 * created; a non-blocking connect() then tells whether it accepts. Between
 * bind() and listen() a socket refuses: then connect is retried after 1 ms,
 * doubling up to 50 ms, which is also what a stale socket file costs. A
 * watched directory that is removed or replaced (its watch goes with it) is
 * noticed by its identity changing, and the watching starts over.
 */
#ifndef VMLUA_SOCKWATCH_H
#define VMLUA_SOCKWATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "paths.h"

struct vl_sockwatch {
	int ifd;		/* the inotify instance to use (not owned) */
	/* Every watch descriptor this waiter got lies in [wd_lo, wd_hi] (0:
	 * none): release removes that range, however many levels were added. */
	int wd_lo, wd_hi;
	int target_watched;	/* the socket's own directory is watched */
	dev_t watched_dev;	/* the deepest directory watched, as it was */
	ino_t watched_ino;	/* when its watch was added */
	char watched[VL_SUN_PATH_MAX + 1];	/* its path, "" before the first */
	double retry_at;	/* connect again then (monotonic); -1: on an event */
	double backoff;
	char path[VL_SUN_PATH_MAX + 1];
	char dir[VL_SUN_PATH_MAX + 1];
};

/* Prepare for path (ifd is set later): 0, or -1 with errno ENAMETOOLONG
 * (over sun_path) or EINVAL (empty, or abstract: no file to watch). */
int vl_sockwatch_init(struct vl_sockwatch *w, const char *path);
/* Take in inotify events, watch what can be watched, try to connect:
 * 1 the socket accepts, 0 not yet, -1 with errno (*what: "watch DIR" or
 * "connect PATH" for the message). */
int vl_sockwatch_check(struct vl_sockwatch *w, char *what, size_t whatlen);
/* Remove the watches this waiter added (the instance may be shared). */
void vl_sockwatch_release(struct vl_sockwatch *w);

#endif
