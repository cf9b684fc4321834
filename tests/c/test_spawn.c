/*
 * spawn.c where Lua cannot reach: fd shuffling with sources inside the
 * target range, the /proc/self/fd fallback, synchronous failure reports,
 * the child's signal state, the parent-death signal.
 *
 * The test re-executes itself (/proc/self/exe --mode ...) as the child.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "spawn.h"
#include "tap.h"

static char self[4096];

/* ---- child modes ---------------------------------------------------------- */

static int child_mode(int argc, char **argv)
{
	if (strcmp(argv[1], "--write-fds") == 0) {
		/* Write each fd's own number into it. */
		for (int i = 2; i < argc; i++) {
			int fd = atoi(argv[i]);
			dprintf(fd, "%d\n", fd);
		}
		return 0;
	}
	if (strcmp(argv[1], "--list-fds") == 0) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
				printf("%s ", e->d_name);
		printf("\n");
		if (d != NULL)
			closedir(d);
		return 0;
	}
	if (strcmp(argv[1], "--sigstate") == 0) {
		char line[256];
		FILE *f = fopen("/proc/self/status", "r");
		while (f != NULL && fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0)
				fputs(line, stdout);
		if (f != NULL)
			fclose(f);
		return 0;
	}
	if (strcmp(argv[1], "--ids") == 0) {
		printf("%d %d %d\n", (int)getpid(), (int)getsid(0), (int)getpgid(0));
		return 0;
	}
	if (strcmp(argv[1], "--stderr") == 0) {
		fprintf(stderr, "to stderr\n");
		return 0;
	}
	if (strcmp(argv[1], "--sleep") == 0) {
		for (;;)
			pause();
	}
	return 99;
}

/* ---- helpers ---------------------------------------------------------------- */

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static int no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static struct vl_spawn_opts opts(const char *const *argv)
{
	struct vl_spawn_opts o;
	memset(&o, 0, sizeof o);
	o.argv = argv;
	return o;
}

/* out for a TAP line: newlines shown as \n. */
static const char *show(const char *out)
{
	static char buf[1024];
	size_t j = 0;
	for (size_t i = 0; out[i] && j + 3 < sizeof buf; i++) {
		if (out[i] == '\n') {
			buf[j++] = '\\';
			buf[j++] = 'n';
		} else {
			buf[j++] = out[i] == '\t' ? ' ' : out[i];
		}
	}
	buf[j] = '\0';
	return buf;
}

/* Read everything from fd into buf (NUL-terminated). */
static void slurp(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

/* Wait for a child (through its pidfd, as vmlua does): exit code or -signal. */
static int finish(struct vl_child *c)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED);
	close(c->pidfd);
	for (int i = 0; i < 3; i++)
		if (c->stdio[i] >= 0)
			close(c->stdio[i]);
	return si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
}

/* Run self with a mode, stdout to a pipe; returns the output. */
static int run_capture(struct vl_spawn_opts *o, char *out, size_t size)
{
	struct vl_child c;
	char err[512];
	o->stdio[1].kind = VL_STDIO_PIPE;
	if (vl_spawn(o, &c, err, sizeof err) < 0) {
		strlcpy(out, "spawn failed: ", size);
		strlcat(out, err, size);
		return -1000;
	}
	slurp(c.stdio[1], out, size);
	return finish(&c);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_failures(void)
{
	char err[512];
	struct vl_child c;
	int before = count_fds();

	const char *missing[] = { "/nonexistent/vmm", NULL };
	struct vl_spawn_opts o = opts(missing);
	int r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && errno == ENOENT, "missing binary: -1/ENOENT (errno %d)", errno);
	OK(strcmp(err, "cannot execute /nonexistent/vmm: No such file or directory") == 0, "message: %s", err);
	OK(no_children(), "missing binary: the child was reaped");
	OK(c.pid == -1 && c.pidfd == -1 && c.stdio[1] == -1, "missing binary: nothing handed out");

	const char *onpath[] = { "no-such-program-vmlua", NULL };
	o = opts(onpath);
	r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && errno == ENOENT &&
	   strcmp(err, "cannot execute no-such-program-vmlua: No such file or directory") == 0,
	   "missing on PATH, before fork: %s", err);

	char plain[] = "/tmp/vmlua-noexec-XXXXXX";
	int fd = mkstemp(plain);
	close(fd);
	const char *noexec[] = { plain, NULL };
	o = opts(noexec);
	r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && errno == EACCES && strstr(err, "Permission denied") != NULL,
	   "not executable: EACCES (%s)", err);
	unlink(plain);

	const char *truth[] = { "/bin/true", NULL };
	o = opts(truth);
	o.cwd = "/nonexistent/dir";
	r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && errno == ENOENT &&
	   strcmp(err, "cannot change directory to /nonexistent/dir: No such file or directory") == 0,
	   "bad cwd: %s", err);

	o = opts(truth);
	o.stdio[2].kind = VL_STDIO_FILE;
	o.stdio[2].path = "/nonexistent/dir/err.log";
	o.stdio[1].kind = VL_STDIO_PIPE;
	r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && strcmp(err, "cannot open /nonexistent/dir/err.log: No such file or directory") == 0,
	   "stdio file: %s", err);

	int closed_fd = 200;
	o = opts(truth);
	o.fds = &closed_fd;
	o.nfds = 1;
	r = vl_spawn(&o, &c, err, sizeof err);
	OK(r < 0 && errno == EBADF && strstr(err, "cannot pass fd 200 to the child as fd 3") != NULL,
	   "a closed fd to pass: %s", err);

	OK(no_children(), "no child left after the failures");
	OK(count_fds() == before, "no fd leaked by the failures (%d, was %d)", count_fds(), before);
}

/* fds = {4, 3}: both sources sit in the target range, crossed. */
static void test_crossed_fds(void)
{
	int a[2], b[2];
	char out[256], got[64];

	if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
		return;
	/* Park the pipes high, then put A's write end on 4 and B's on 3. */
	for (int i = 0; i < 2; i++) {
		int ha = fcntl(a[i], F_DUPFD_CLOEXEC, 50), hb = fcntl(b[i], F_DUPFD_CLOEXEC, 50);
		close(a[i]);
		close(b[i]);
		a[i] = ha;
		b[i] = hb;
	}
	int aw = a[1], bw = b[1];
	dup3(aw, 4, O_CLOEXEC);
	dup3(bw, 3, O_CLOEXEC);
	close(aw);
	close(bw);
	int fds[] = { 4, 3 };
	const char *argv[] = { self, "--write-fds", "3", "4", NULL };
	struct vl_spawn_opts o = opts(argv);
	o.fds = fds;
	o.nfds = 2;
	int r = run_capture(&o, out, sizeof out);
	close(3);
	close(4);
	OK(r == 0, "crossed fds: child ran (%d %s)", r, show(out));
	slurp(a[0], got, sizeof got);
	OK(strcmp(got, "3\n") == 0, "parent fd 4 became the child's 3 (got '%s')", show(got));
	slurp(b[0], got, sizeof got);
	OK(strcmp(got, "4\n") == 0, "parent fd 3 became the child's 4 (got '%s')", show(got));
	close(a[0]);
	close(b[0]);
}

static void test_only_passed_fds(void)
{
	char out[256];
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int leak = fcntl(null, F_DUPFD, 30);	/* no CLOEXEC on purpose */
	close(null);
	int keep = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int moved = fcntl(keep, F_DUPFD_CLOEXEC, 40);
	int fds[] = { moved, moved };
	const char *argv[] = { self, "--list-fds", NULL };
	struct vl_spawn_opts o = opts(argv);
	o.fds = fds;
	o.nfds = 2;
	int r = run_capture(&o, out, sizeof out);
	OK(r == 0 && strcmp(out, "0 1 2 3 4 \n") == 0,
	   "child holds exactly 0-2 and the passed fds (%s; non-CLOEXEC fd %d closed)", show(out), leak);
	close(leak);
	close(keep);
	close(moved);
}

static void test_close_walk(void)
{
	int p[2];
	char out[256];

	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5; i++)
			fcntl(0, F_DUPFD, 10 + i * 7);
		int keep = fcntl(p[1], F_DUPFD, 60);
		if (vl_close_fds_walk(3, keep) < 0)
			_exit(1);
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
				dprintf(keep, "%s ", e->d_name);
		_exit(0);
	}
	close(p[1]);
	slurp(p[0], out, sizeof out);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	OK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(out, "0 1 2 60 ") == 0,
	   "the /proc/self/fd walk closes all but 0-2 and keep (%s)", show(out));
}

static void test_stdio(void)
{
	char out[256];
	const char *argv[] = { self, "--stderr", NULL };
	struct vl_spawn_opts o = opts(argv);
	o.stdio[2].kind = VL_STDIO_STDOUT;
	int r = run_capture(&o, out, sizeof out);
	OK(r == 0 && strcmp(out, "to stderr\n") == 0, "stderr = stdout shares the pipe (%s)", show(out));

	/* stdout given as an fd that is itself 1 in the parent's numbering
	 * of a pipe: swap stdout and stderr. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	o = opts(argv);
	o.stdio[1].kind = VL_STDIO_NULL;
	o.stdio[2].kind = VL_STDIO_FD;
	o.stdio[2].fd = p[1];
	struct vl_child c;
	char err[256];
	r = vl_spawn(&o, &c, err, sizeof err);
	close(p[1]);
	slurp(p[0], out, sizeof out);
	close(p[0]);
	OK(r == 0 && finish(&c) == 0 && strcmp(out, "to stderr\n") == 0, "stderr to a given fd (%s)", show(out));
}

static void test_signal_state(void)
{
	char out[256];
	sigset_t set, old;
	struct sigaction ign = { .sa_handler = SIG_IGN }, prev;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, &old);
	sigaction(SIGUSR1, &ign, &prev);
	/* glibc's internal signals 32 and 33 too (glibc's sigaction refuses
	 * them; they do arrive ignored from some parents, e.g. under make). */
	unsigned long kign[8] = { (unsigned long)SIG_IGN }, kold[2][8];
	for (int i = 0; i < 2; i++)
		syscall(SYS_rt_sigaction, 32 + i, kign, kold[i], sizeof(unsigned long));
	const char *argv[] = { self, "--sigstate", NULL };
	struct vl_spawn_opts o = opts(argv);
	int r = run_capture(&o, out, sizeof out);
	for (int i = 0; i < 2; i++)
		syscall(SYS_rt_sigaction, 32 + i, kold[i], NULL, sizeof(unsigned long));
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGUSR1, &prev, NULL);
	OK(r == 0 && strcmp(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n") == 0,
	   "the child starts with no blocked or ignored signal (%s)", show(out));
}

static void test_session(void)
{
	char out[256];
	int pid, sid, pgid;
	const char *argv[] = { self, "--ids", NULL };
	struct vl_spawn_opts o = opts(argv);

	o.setsid = 1;
	int r = run_capture(&o, out, sizeof out);
	OK(r == 0 && sscanf(out, "%d %d %d", &pid, &sid, &pgid) == 3 && sid == pid && pgid == pid,
	   "setsid: new session and group (%s)", show(out));
	o = opts(argv);
	o.pgroup = 1;
	r = run_capture(&o, out, sizeof out);
	OK(r == 0 && sscanf(out, "%d %d %d", &pid, &sid, &pgid) == 3 && sid == getsid(0) && pgid == pid,
	   "pgroup: own group, same session (%s)", show(out));
}

static int no_pending(pid_t pid)
{
	char path[64], line[256];
	int quiet = 1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "SigPnd:", 7) == 0 || strncmp(line, "ShdPnd:", 7) == 0)
			quiet &= strcmp(line + 7, "\t0000000000000000\n") == 0;
	if (f != NULL)
		fclose(f);
	return f != NULL && quiet;
}

/* An intermediate process spawns a sleeper and exits; as a subreaper we
 * then reap the sleeper ourselves and see how it ended. */
static int orphan_fate(int pdeathsig)
{
	int p[2];
	if (pipe(p) < 0)
		return -1000;
	pid_t mid = fork();
	if (mid == 0) {
		const char *argv[] = { self, "--sleep", NULL };
		struct vl_spawn_opts o = opts(argv);
		struct vl_child c;
		char err[256];
		o.pdeathsig = pdeathsig;
		if (vl_spawn(&o, &c, err, sizeof err) < 0)
			_exit(1);
		if (write(p[1], &c.pid, sizeof c.pid) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	pid_t sleeper = -1;
	if (read(p[0], &sleeper, sizeof sleeper) != sizeof sleeper)
		sleeper = -1;
	close(p[0]);
	waitpid(mid, NULL, 0);
	if (sleeper <= 0)
		return -1000;
	if (!pdeathsig) {
		/* A parent-death signal is sent while the parent exits, before
		 * it can be reaped: none pending now means none will come. */
		int alive = waitpid(sleeper, NULL, WNOHANG) == 0 && no_pending(sleeper);
		kill(sleeper, SIGKILL);
		waitpid(sleeper, NULL, 0);
		return alive;
	}
	int st;
	alarm(10);
	pid_t w = waitpid(sleeper, &st, 0);
	alarm(0);
	return w == sleeper && WIFSIGNALED(st) ? WTERMSIG(st) : -1;
}

static void test_pdeathsig(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int sig = orphan_fate(SIGKILL);
	OK(sig == SIGKILL, "die_with_parent: the orphan got SIGKILL (%d)", sig);
	sig = orphan_fate(SIGTERM);
	OK(sig == SIGTERM, "die_with_parent = SIGTERM arrives with default action (%d)", sig);
	OK(orphan_fate(0) == 1, "without it the orphan lives on");
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void test_find_executable(void)
{
	char out[4096];
	OK(vl_find_executable("sh", "/nonexistent:/bin:/usr/bin", out, sizeof out) == 0 &&
	   (strcmp(out, "/bin/sh") == 0), "sh found on the second entry (%s)", out);
	OK(vl_find_executable("sh", "::/nonexistent", out, sizeof out) < 0 && errno == ENOENT,
	   "empty entries are not '.'");
	OK(vl_find_executable("passwd", "/etc", out, sizeof out) < 0 && errno == EACCES,
	   "a file that is not executable: EACCES");
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return child_mode(argc, argv);
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';

	test_failures();
	test_crossed_fds();
	test_only_passed_fds();
	test_close_walk();
	test_stdio();
	test_signal_state();
	test_session();
	test_pdeathsig();
	test_find_executable();
	OK(no_children(), "no child left at the end");
	return tap_done();
}
