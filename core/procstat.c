/*
 * /proc/<pid>/stat: the process state and its start time (field 22, clock
 * ticks since boot), which together with the pid name a process uniquely:
 * a recycled pid has a different start time.
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

#include "process.h"

int vl_proc_stat(pid_t pid, char *state, unsigned long long *start)
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
	if (state != NULL)
		*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			goto malformed;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
		goto malformed;
	*start = v;
	return 0;

malformed:
	errno = EINVAL;
	return -1;
}

int vl_proc_start_time(pid_t pid, unsigned long long *start)
{
	return vl_proc_stat(pid, NULL, start);
}
