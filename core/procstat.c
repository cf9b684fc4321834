/*
 * /proc/<pid>/stat: the process state, its process group (field 5) and its
 * start time (field 22, clock ticks since boot), which together with the pid
 * name a process uniquely: a recycled pid has a different start time.
 *
 * Field 2 (comm) is in parentheses and may itself contain spaces and
 * parentheses, so the fields are parsed after the *last* ')'.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

/* A decimal field ended by a space, a newline or the end. */
static int parse_number(const char *p, long long *v)
{
	char *end;
	errno = 0;
	*v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *v < 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -1;
	return 0;
}

int vl_proc_stat(pid_t pid, struct vl_procstat *out)
{
	char path[64], buf[4096];
	ssize_t n = 0, got = 0;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < sizeof buf - 1) {
		n = read(fd, buf + got, sizeof buf - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
		/* procfs hands the whole line to the first read: a line that
		 * ends in '\n' is complete, so skip the read that sees EOF. */
		if (buf[got - 1] == '\n')
			break;
	}
	int e = errno;
	close(fd);
	if (got == 0) {
		/* ESRCH: the process went away between open and read. */
		errno = n < 0 ? e : EINVAL;
		return -1;
	}
	buf[got] = '\0';

	/* After ") ": field 3 (state), then fields 4..22. */
	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		goto malformed;
	p += 2;
	out->state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			goto malformed;
		p++;
		if (field + 1 == 5) {
			long long g;
			if (parse_number(p, &g) < 0)
				goto malformed;
			out->pgrp = (pid_t)g;
		}
	}
	long long v;
	if (parse_number(p, &v) < 0)
		goto malformed;
	out->start = (unsigned long long)v;
	return 0;

malformed:
	errno = EINVAL;
	return -1;
}

int vl_proc_start_time(pid_t pid, unsigned long long *start)
{
	struct vl_procstat st;
	if (vl_proc_stat(pid, &st) < 0)
		return -1;
	*start = st.start;
	return 0;
}
