/*
 * /proc/<pid>: stat, status, exe and cmdline through one directory fd (see
 * procinfo.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "procinfo.h"

/* A decimal uid at *p (skipping tabs and spaces first); advances *p. */
static int parse_uid(const char **p, const char *end, uid_t *out)
{
	const char *q = *p;
	unsigned long long v = 0;

	while (q < end && (*q == '\t' || *q == ' '))
		q++;
	const char *digits = q;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (unsigned)(*q - '0');
		if (v > (uid_t)-1)
			return -1;
	}
	if (q == digits)
		return -1;
	*out = (uid_t)v;
	*p = q;
	return 0;
}

int vl_proc_status_parse(const char *buf, size_t len, uid_t *uid, uid_t *euid)
{
	const char *end = buf + len;

	for (const char *line = buf; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;
		if (stop - line >= 4 && memcmp(line, "Uid:", 4) == 0) {
			const char *p = line + 4;
			if (parse_uid(&p, stop, uid) == 0 && parse_uid(&p, stop, euid) == 0)
				return 0;
			break;
		}
		line = stop + 1;
	}
	errno = EINVAL;
	return -1;
}

const char *vl_cmdline_next(const char *buf, size_t len, size_t *off, size_t *n)
{
	if (*off >= len)
		return NULL;
	const char *arg = buf + *off;
	const char *nul = memchr(arg, '\0', len - *off);
	*n = nul ? (size_t)(nul - arg) : len - *off;
	*off += *n + 1;
	return arg;
}

/* Read the file name below dirfd into buf (size bytes): bytes read, or -1
 * with errno. *cut is set when the file held more. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size, int *cut)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	*cut = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vl_close_keep_errno(fd), -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == size) {
		char more;
		*cut = read(fd, &more, 1) > 0;
	}
	close(fd);
	return (ssize_t)got;
}

static int read_stat_status(int dirfd, struct vl_procinfo *out)
{
	char buf[4096];
	int cut;
	ssize_t n = read_at(dirfd, "stat", buf, sizeof buf, &cut);

	if (n < 0 || vl_proc_stat_parse(buf, (size_t)n, &out->stat) < 0)
		return -1;
	n = read_at(dirfd, "status", buf, sizeof buf, &cut);
	if (n < 0 || vl_proc_status_parse(buf, (size_t)n, &out->uid, &out->euid) < 0)
		return -1;
	return 0;
}

int vl_proc_info(pid_t pid, struct vl_procinfo *out, char *cmdline, size_t size)
{
	char path[64];

	memset(out, 0, sizeof *out);
	snprintf(path, sizeof path, "/proc/%ld", (long)pid);
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		if (errno == ENOENT)
			errno = ESRCH;
		return -1;
	}
	if (read_stat_status(dirfd, out) < 0)
		return vl_close_keep_errno(dirfd), -1;
	ssize_t n = readlinkat(dirfd, "exe", out->exe, sizeof out->exe - 1);
	out->has_exe = n > 0;
	out->exe[n > 0 ? n : 0] = '\0';
	n = read_at(dirfd, "cmdline", cmdline, size, &out->cmdline_cut);
	if (n < 0)
		return vl_close_keep_errno(dirfd), -1;
	out->cmdline_len = (size_t)n;
	close(dirfd);
	return 0;
}
