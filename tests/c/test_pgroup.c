/*
 * Process groups: the members /proc shows (zombies excluded, the leader
 * excepted) and the wait for a group to empty, which must wake when the
 * last member exits rather than at its deadline.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "pgroup.h"
#include "procstat.h"
#include "tap.h"

/* A group leader with `n` members that sleep until killed. The leader
 * reports on `ready` once all members are forked. */
static pid_t make_group(int n, int ready)
{
	pid_t leader = fork();
	if (leader != 0)
		return leader;
	setpgid(0, 0);
	for (int i = 0; i < n; i++)
		if (fork() == 0) {
			close(ready);
			for (;;)
				pause();
		}
	if (write(ready, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

int main(void)
{
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t leader = make_group(3, p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		return 1;

	pid_t pids[2];
	int n = vl_pgroup_members(leader, leader, pids, 2);
	OK(n == 3, "three members besides the leader, counted past max (%d)", n);
	OK(vl_pgroup_members(leader, -1, pids, 2) == 4, "four with the leader");
	OK(vl_pgroup_members(getpgrp(), -1, pids, 0) >= 1, "our own group holds us");

	double t0 = vl_monotonic();
	OK(vl_pgroup_wait(leader, leader, vl_deadline(0.1)) == 0, "a live group: the deadline passes");
	double waited = vl_monotonic() - t0;
	OK(waited >= 0.09 && waited < 1, "after about 0.1 s (%.3f)", waited);

	/* The leader dies and is reaped: its members are orphans, the
	 * group lives on under its number. */
	kill(leader, SIGKILL);
	waitpid(leader, NULL, 0);
	OK(vl_pgroup_members(leader, leader, pids, 2) == 3, "the members outlive the leader");

	t0 = vl_monotonic();
	OK(kill(-leader, SIGKILL) == 0, "the group can still be signalled");
	OK(vl_pgroup_wait(leader, leader, vl_deadline(10)) == 1, "the group empties");
	waited = vl_monotonic() - t0;
	OK(waited < 2, "woken by the exits, not the deadline (%.3f s)", waited);
	OK(vl_pgroup_members(leader, leader, pids, 2) == 0, "no member left");
	OK(vl_pgroup_wait(leader, leader, vl_deadline(0)) == 1, "an empty group: 1 at once");
	return tap_done();
}
