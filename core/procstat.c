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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

/* A decimal field in [p, end) ended by a space, a newline or the end: its
 * value, or -1 when it is not one (or does not fit a long long). */
static long long parse_number(const char *p, const char *end)
{
	long long v = 0;
	const char *q = p;

	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (LLONG_MAX - (*q - '0')) / 10)
			return -1;
		v = v * 10 + (*q - '0');
	}
	if (q == p || (q < end && *q != ' ' && *q != '\n'))
		return -1;
	return v;
}

int vl_proc_stat_parse(const char *buf, size_t len, struct vl_procstat *out)
{
	const char *end = buf + len;
	/* After ") ": field 3 (state), then fields 4..22. */
	const char *p = memrchr(buf, ')', len);

	if (p == NULL || end - p < 3 || p[1] != ' ')
		goto malformed;
	p += 2;
	out->state = *p;
	for (int field = 3; field < 22; field++) {
		p = memchr(p, ' ', (size_t)(end - p));
		if (p == NULL)
			goto malformed;
		p++;
		if (field + 1 == 5) {
			long long g = parse_number(p, end);
			if (g < 0 || g > INT_MAX)
				goto malformed;
			out->pgrp = (pid_t)g;
		}
	}
	long long v = parse_number(p, end);
	if (v < 0)
		goto malformed;
	out->start = (unsigned long long)v;
	return 0;

malformed:
	errno = EINVAL;
	return -1;
}

int vl_proc_stat(pid_t pid, struct vl_procstat *out)
{
	char path[64], buf[4096];
	ssize_t n = 0, got = 0;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < sizeof buf) {
		n = read(fd, buf + got, sizeof buf - (size_t)got);
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
	return vl_proc_stat_parse(buf, (size_t)got, out);
}

int vl_proc_start_time(pid_t pid, unsigned long long *start)
{
	struct vl_procstat st;
	if (vl_proc_stat(pid, &st) < 0)
		return -1;
	*start = st.start;
	return 0;
}
