/*
 * Lua-free fork/exec for vmlua.core (spawn.c).
 *
 * vl_spawn forks, sets the child up (signals, session, parent-death signal,
 * stdio, extra fds, cwd) with async-signal-safe calls only and execs. Any
 * failure in the child before exec comes back synchronously through a
 * CLOEXEC pipe, so "cannot execute /x: ENOENT" is distinct from a program
 * that ran and exited 127. The child is owned through a pidfd.
 */
#ifndef VMLUA_SPAWN_H
#define VMLUA_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

enum vl_stdio_kind {
	VL_STDIO_INHERIT,	/* keep the parent's fd 0/1/2 */
	VL_STDIO_NULL,		/* /dev/null */
	VL_STDIO_PIPE,		/* a pipe; the parent end is in vl_child.stdio[] */
	VL_STDIO_FILE,		/* path, opened in the child (before chdir) */
	VL_STDIO_FD,		/* a parent fd */
	VL_STDIO_STDOUT,	/* stderr only: share the child's stdout */
};

struct vl_stdio {
	enum vl_stdio_kind kind;
	int fd;			/* VL_STDIO_FD */
	const char *path;	/* VL_STDIO_FILE */
	int append;		/* VL_STDIO_FILE, stdout/stderr: O_APPEND, else O_TRUNC */
};

struct vl_spawn_opts {
	const char *const *argv;	/* NULL-terminated, argv[0] required */
	const char *const *envp;	/* NULL-terminated; NULL: inherit environ */
	const char *cwd;		/* NULL: inherit */
	struct vl_stdio stdio[3];
	const int *fds;			/* become the child's 3, 4, ... */
	size_t nfds;
	int setsid;			/* new session (implies a new process group) */
	int pgroup;			/* setpgid(0, 0) */
	int pdeathsig;			/* 0: none */
};

struct vl_child {
	pid_t pid;
	int pidfd;		/* CLOEXEC */
	int stdio[3];		/* parent ends of VL_STDIO_PIPE (CLOEXEC, O_NONBLOCK), else -1 */
};

/* Fork and exec. 0 on success. -1 with errno set and err holding
 * "cannot execute /x/y: No such file or directory" (or "cannot open ...",
 * "cannot change directory to ...", ...); then nothing is left behind: the
 * child has been reaped and every fd closed. */
int vl_spawn(const struct vl_spawn_opts *o, struct vl_child *out, char *err, size_t errlen);

/* Close every fd >= lo except keep (-1: none). close_range first, then a
 * getdents64 walk of /proc/self/fd. Async-signal-safe. 0 or -1/errno. */
int vl_close_fds_from(int lo, int keep);
/* The /proc/self/fd walk on its own (the fallback, exposed for tests). */
int vl_close_fds_walk(int lo, int keep);

#endif
