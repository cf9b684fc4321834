/*
 * fork/exec without Lua (see spawn.h).
 *
 * The parent resolves argv[0] on PATH, makes the pipes and blocks every
 * signal around fork so that no handler of ours runs in the child. The
 * child then only makes async-signal-safe calls: parent-death signal,
 * default dispositions and an empty mask, session/process group, stdio and
 * the extra fds, close everything else, chdir, execve. A failure writes
 * {step, errno, index} into a CLOEXEC pipe; the parent reads either 0 bytes
 * (exec succeeded) or the report, reaps the child and formats the message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "spawn.h"

extern char **environ;

enum step {
	STEP_PDEATHSIG = 1,
	STEP_SETSID,
	STEP_SETPGID,
	STEP_OPEN,	/* index: 0-2, the stdio entry */
	STEP_FDS,	/* index: the target fd */
	STEP_CLOSE,
	STEP_CHDIR,
	STEP_EXEC,
};

struct report {
	int step;
	int err;
	int index;
};

/* What the child needs, prepared by the parent (no allocation after fork). */
struct plan {
	const struct vl_spawn_opts *o;
	const char *exe;
	int report;		/* write end of the report pipe */
	int child_pipe[3];	/* child ends of VL_STDIO_PIPE, else -1 */
	int *src;		/* scratch: one slot per target fd 0 .. 3+nfds-1 */
	pid_t parent;
};

/* ---- child side: async-signal-safe only -------------------------------- */

__attribute__((noreturn))
static void child_fail(int fd, int step, int index, int err)
{
	struct report r = { step, err, index };
	ssize_t n;

	do
		n = write(fd, &r, sizeof r);
	while (n < 0 && errno == EINTR);
	_exit(127);
}

static void reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	/* Handlers would be reset by execve anyway; ignored signals would not.
	 * glibc refuses its internal signals (32, 33) with EINVAL, yet they can
	 * arrive ignored from our own parent: for those, the raw system call
	 * with an all-zero kernel sigaction, which is SIG_DFL in every layout
	 * (the last argument is the kernel's sigset size, 8 bytes). */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, &dfl, NULL) < 0 && errno == EINVAL) {
			unsigned long kernel_dfl[8] = { 0 };
			syscall(SYS_rt_sigaction, sig, kernel_dfl, NULL, sizeof(unsigned long));
		}
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Open a stdio file; the result is moved above the target range by the
 * caller. Relative paths are relative to the parent's cwd (before chdir). */
static int open_stdio(const struct vl_stdio *s, int which)
{
	int flags = O_CLOEXEC | O_NOCTTY;

	if (s->kind == VL_STDIO_NULL)
		return open("/dev/null", O_RDWR | flags);
	if (which == 0)
		return open(s->path, O_RDONLY | flags);
	flags |= O_WRONLY | O_CREAT | (s->append ? O_APPEND : O_TRUNC);
	return open(s->path, flags, 0600);
}

/*
 * Put every source on its target fd (0..hi-1). A source may itself sit in
 * the target range (fds = {4, 3}, or a pipe that got fd 1), so first every
 * source is duplicated above hi, and only then dup2'd down; dup2 clears
 * CLOEXEC on the target. The copies above hi are closed afterwards.
 */
static void install_fds(struct plan *pl, int hi)
{
	const struct vl_spawn_opts *o = pl->o;

	for (int t = 0; t < hi; t++) {
		int fd = -1, opened = 0;
		if (t < 3) {
			const struct vl_stdio *s = &o->stdio[t];
			switch (s->kind) {
			case VL_STDIO_INHERIT:
			case VL_STDIO_STDOUT:
				break;
			case VL_STDIO_NULL:
			case VL_STDIO_FILE:
				fd = open_stdio(s, t);
				if (fd < 0)
					child_fail(pl->report, STEP_OPEN, t, errno);
				opened = 1;
				break;
			case VL_STDIO_PIPE:
				fd = pl->child_pipe[t];
				break;
			case VL_STDIO_FD:
				fd = s->fd;
				break;
			}
		} else {
			fd = o->fds[t - 3];
		}
		pl->src[t] = -1;
		if (fd < 0)
			continue;
		pl->src[t] = fcntl(fd, F_DUPFD_CLOEXEC, hi);
		if (pl->src[t] < 0)
			child_fail(pl->report, STEP_FDS, t, errno);
		if (opened)
			close(fd);
	}
	for (int t = 0; t < hi; t++) {
		if (pl->src[t] >= 0 && dup2(pl->src[t], t) < 0)
			child_fail(pl->report, STEP_FDS, t, errno);
	}
	if (o->stdio[2].kind == VL_STDIO_STDOUT && dup2(1, 2) < 0)
		child_fail(pl->report, STEP_FDS, 2, errno);
}

__attribute__((noreturn))
static void run_child(struct plan *pl)
{
	const struct vl_spawn_opts *o = pl->o;
	int hi = 3 + (int)o->nfds;

	if (o->pdeathsig > 0) {
		if (prctl(PR_SET_PDEATHSIG, (unsigned long)o->pdeathsig) < 0)
			child_fail(pl->report, STEP_PDEATHSIG, 0, errno);
		/* The parent may have died before prctl: then nobody would
		 * ever send the signal, so go now. */
		if (getppid() != pl->parent)
			_exit(127);
	}
	reset_signals();
	if (o->setsid && setsid() < 0)
		child_fail(pl->report, STEP_SETSID, 0, errno);
	if (!o->setsid && o->pgroup && setpgid(0, 0) < 0)
		child_fail(pl->report, STEP_SETPGID, 0, errno);

	/* The report pipe must survive install_fds and the closing below. */
	int rep = fcntl(pl->report, F_DUPFD_CLOEXEC, hi);
	if (rep < 0)
		child_fail(pl->report, STEP_FDS, 0, errno);
	pl->report = rep;

	install_fds(pl, hi);
	if (vl_close_fds_from(hi, pl->report) < 0)
		child_fail(pl->report, STEP_CLOSE, 0, errno);
	if (o->cwd != NULL && chdir(o->cwd) < 0)
		child_fail(pl->report, STEP_CHDIR, 0, errno);
	execve(pl->exe, (char *const *)o->argv,
	       o->envp ? (char *const *)o->envp : environ);
	child_fail(pl->report, STEP_EXEC, 0, errno);
}

/* ---- closing fds (async-signal-safe) ------------------------------------ */

static int parse_fd(const char *s)
{
	int n = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (INT_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n;
}

int vl_close_fds_walk(int lo, int keep)
{
	char buf[4096] __attribute__((aligned(8)));
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -1;
	for (;;) {
		ssize_t n = getdents64(dfd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(dfd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		/* /proc/self/fd is positioned by fd number: closing entries
		 * already returned does not disturb the walk. */
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd = parse_fd(d->d_name);
			if (fd >= lo && fd != keep && fd != dfd)
				close(fd);
			off += d->d_reclen;
		}
	}
	close(dfd);
	return 0;
}

int vl_close_fds_from(int lo, int keep)
{
	int r;

	if (keep >= lo) {
		r = keep > lo ? close_range((unsigned)lo, (unsigned)keep - 1, 0) : 0;
		if (r == 0)
			r = close_range((unsigned)keep + 1, ~0U, 0);
	} else {
		r = close_range((unsigned)lo, ~0U, 0);
	}
	return r == 0 ? 0 : vl_close_fds_walk(lo, keep);
}

/* ---- parent side --------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void describe_failure(const struct vl_spawn_opts *o, const char *exe,
			     const struct report *r, char *err, size_t errlen)
{
	const char *why = strerror(r->err);

	switch (r->step) {
	case STEP_EXEC:
		snprintf(err, errlen, "cannot execute %s: %s", exe, why);
		break;
	case STEP_CHDIR:
		snprintf(err, errlen, "cannot change directory to %s: %s", o->cwd, why);
		break;
	case STEP_OPEN: {
		int i = r->index >= 0 && r->index < 3 ? r->index : 0;
		const char *path = o->stdio[i].kind == VL_STDIO_FILE ? o->stdio[i].path : "/dev/null";
		snprintf(err, errlen, "cannot open %s: %s", path, why);
		break;
	}
	case STEP_FDS:
		if (r->index >= 3 && (size_t)(r->index - 3) < o->nfds)
			snprintf(err, errlen, "cannot pass fd %d to the child as fd %d: %s",
				 o->fds[r->index - 3], r->index, why);
		else
			snprintf(err, errlen, "cannot set up the child's fd %d: %s", r->index, why);
		break;
	case STEP_SETSID:
		snprintf(err, errlen, "cannot start a new session: %s", why);
		break;
	case STEP_SETPGID:
		snprintf(err, errlen, "cannot create a process group: %s", why);
		break;
	case STEP_PDEATHSIG:
		snprintf(err, errlen, "cannot set the parent-death signal: %s", why);
		break;
	default:
		snprintf(err, errlen, "cannot close the child's file descriptors: %s", why);
		break;
	}
}

static void reap(pid_t pid, int pidfd)
{
	siginfo_t si;
	int r;

	do {
		if (pidfd >= 0)
			r = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
		else
			r = waitpid(pid, NULL, 0);
	} while (r < 0 && errno == EINTR);
}

/* Read the child's report: 0 bytes means execve succeeded. */
static int read_report(int fd, struct report *r)
{
	size_t got = 0;

	while (got < sizeof *r) {
		ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof *r;
}

static int make_pipes(const struct vl_spawn_opts *o, struct vl_child *out, int child_end[3])
{
	for (int i = 0; i < 3; i++) {
		int p[2];
		if (o->stdio[i].kind != VL_STDIO_PIPE)
			continue;
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		/* stdin: the child reads p[0]; stdout/stderr: it writes p[1]. */
		out->stdio[i] = i == 0 ? p[1] : p[0];
		child_end[i] = i == 0 ? p[0] : p[1];
		/* Only our end is non-blocking: it is its own open file. */
		if (fcntl(out->stdio[i], F_SETFL, O_NONBLOCK) < 0)
			return -1;
	}
	return 0;
}

static int resolve(const struct vl_spawn_opts *o, char *exe, size_t len, char *err, size_t errlen)
{
	const char *name = o->argv[0];

	if (strchr(name, '/') != NULL) {
		if (strlcpy(exe, name, len) < len)
			return 0;
		errno = ENAMETOOLONG;
	} else if (vl_find_executable(name, NULL, exe, len) == 0) {
		return 0;
	}
	snprintf(err, errlen, "cannot execute %s: %s", name, strerror(errno));
	return -1;
}

/* Fork with every signal blocked, so that no handler of ours runs in the
 * child before it has reset them. */
static pid_t fork_child(struct plan *pl)
{
	sigset_t all, old;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		run_child(pl);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return pid;
}

/* After fork: the pidfd, then the child's report. 0 when the program runs;
 * -1 with errno and err set, the child reaped. */
static int await_exec(const struct vl_spawn_opts *o, const char *exe, struct vl_child *out,
		      int rep, char *err, size_t errlen)
{
	struct report r;

	/* Race-free: the child cannot be reaped (and its pid reused) before
	 * we wait for it. */
	out->pidfd = pidfd_open(out->pid, 0);
	if (out->pidfd < 0) {
		int e = errno;
		kill(out->pid, SIGKILL);
		reap(out->pid, -1);
		snprintf(err, errlen, "cannot open a pidfd for %s: %s", exe, strerror(e));
		errno = e;
		return -1;
	}
	if (!read_report(rep, &r))
		return 0;
	reap(out->pid, out->pidfd);
	describe_failure(o, exe, &r, err, errlen);
	errno = r.err;
	return -1;
}

int vl_spawn(const struct vl_spawn_opts *o, struct vl_child *out, char *err, size_t errlen)
{
	char exe[PATH_MAX];
	int rep[2] = { -1, -1 };
	struct plan pl = { .o = o, .exe = exe, .child_pipe = { -1, -1, -1 } };
	int e;

	out->pid = -1;
	out->pidfd = -1;
	out->stdio[0] = out->stdio[1] = out->stdio[2] = -1;
	if (resolve(o, exe, sizeof exe, err, errlen) < 0)
		return -1;

	pl.src = calloc(3 + o->nfds, sizeof *pl.src);
	if (pl.src == NULL || make_pipes(o, out, pl.child_pipe) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot create pipes for %s: %s", exe, strerror(e));
		goto fail;
	}
	pl.report = rep[1];
	pl.parent = getpid();
	out->pid = fork_child(&pl);
	e = errno;
	for (int i = 0; i < 3; i++)
		close_fd(&pl.child_pipe[i]);
	close_fd(&rep[1]);
	if (out->pid < 0) {
		snprintf(err, errlen, "cannot fork to run %s: %s", exe, strerror(e));
		goto fail;
	}
	if (await_exec(o, exe, out, rep[0], err, errlen) < 0) {
		e = errno;
		goto fail;
	}
	close_fd(&rep[0]);
	free(pl.src);
	return 0;

fail:
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	for (int i = 0; i < 3; i++) {
		close_fd(&pl.child_pipe[i]);
		close_fd(&out->stdio[i]);
	}
	close_fd(&out->pidfd);
	out->pid = -1;
	free(pl.src);
	errno = e;
	return -1;
}
