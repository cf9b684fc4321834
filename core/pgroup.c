/*
 * The members of a process group, found in /proc, and a wait for the group
 * to empty. A helper that forks (virtiofsd's namespace sandbox, a shell
 * script) leaves children behind its leader; stopping the leader alone
 * would leave them running for a moment, or for good.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "clock.h"
#include "pgroup.h"
#include "procstat.h"

int vl_pgroup_members(pid_t pgid, pid_t except, pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		struct vl_procstat st;
		/* A process that went away since readdir is not a member. */
		if (pid == except || vl_proc_stat(pid, &st) < 0)
			continue;
		if (st.pgrp != pgid || st.state == 'Z' || st.state == 'X')
			continue;
		if (n < max)
			pids[n] = pid;
		n++;
	}
	closedir(d);
	return n;
}

enum { WATCH_MAX = 64 };

int vl_pgroup_wait(pid_t pgid, pid_t except, double deadline)
{
	for (;;) {
		/* The common case, an empty group, without reading /proc. */
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return 1;
		pid_t pids[WATCH_MAX];
		int n = vl_pgroup_members(pgid, except, pids, WATCH_MAX);
		if (n <= 0)
			return n == 0 ? 1 : -1;
		int ms = vl_remaining_ms(deadline);
		if (ms == 0)
			return 0;
		if (n > WATCH_MAX)
			n = WATCH_MAX;
		/* Any one of them exiting wakes us; then the group is read
		 * again (a member may have forked meanwhile). */
		struct pollfd pfds[WATCH_MAX];
		int k = 0;
		for (int i = 0; i < n; i++) {
			int fd = pidfd_open(pids[i], 0);
			if (fd >= 0)
				pfds[k++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		int r = k > 0 ? poll(pfds, (nfds_t)k, ms) : 0;
		int e = errno;
		for (int i = 0; i < k; i++)
			close(pfds[i].fd);
		if (r < 0 && e != EINTR) {
			errno = e;
			return -1;
		}
	}
}
