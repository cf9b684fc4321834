/*
 * /proc/<pid>/stat parsing: field 22 after the last ')', even when the
 * command name holds spaces and parentheses.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procstat.h"
#include "tap.h"

/* Field 22 the plain way, for a comm without spaces. */
static unsigned long long naive_start(pid_t pid)
{
	char path[64];
	unsigned long long v = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

int main(void)
{
	unsigned long long start = 0, child_start = 0;
	struct vl_procstat st = { 0 };

	int r = vl_proc_stat(getpid(), &st);
	start = st.start;
	OK(r == 0 && start == naive_start(getpid()) && start > 0, "own start time %llu", start);
	OK(st.state == 'R', "own state is R (%c)", st.state);
	OK(st.pgrp == getpgrp(), "own process group %d", (int)st.pgrp);
	OK(vl_proc_start_time(getpid(), &child_start) == 0 && child_start == start, "vl_proc_start_time agrees");

	int p[2], q[2];
	if (pipe(p) < 0 || pipe(q) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		prctl(PR_SET_NAME, "a) b (c) 1 2 3");
		if (write(q[1], "x", 1) < 0 || read(p[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	char c;
	if (read(q[0], &c, 1) != 1)
		return 1;
	char comm[64] = "";
	snprintf(comm, sizeof comm, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(comm, "r");
	if (f != NULL) {
		if (fgets(comm, sizeof comm, f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	memset(&st, 0, sizeof st);
	r = vl_proc_stat(pid, &st);
	child_start = st.start;
	OK(r == 0 && child_start >= start && (st.state == 'S' || st.state == 'R') && st.pgrp == getpgrp(),
	   "a comm with ') (' and digits: state %c, group %d, start %llu (comm %s)", st.state, (int)st.pgrp,
	   child_start, strtok(comm, "\n"));
	if (write(p[1], "x", 1) < 0)
		return 1;
	waitpid(pid, NULL, 0);

	errno = 0;
	OK(vl_proc_start_time(pid, &start) < 0 && errno == ENOENT, "a reaped child: -1/ENOENT");
	OK(vl_proc_start_time(0x7ffffff0, &start) < 0 && errno == ENOENT, "no such pid: -1/ENOENT");
	return tap_done();
}
