/*
 * The fds inherited at start (see inherit.h). They are recorded with
 * /proc/self/fd once, when vmlua.core is first opened; every fd vmlua.core
 * opens itself is close-on-exec, and an fd that Lua code (io.open) opened
 * later under a recorded number is told apart by its identity.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inherit.h"

struct inherited {
	int fd;
	dev_t dev;
	ino_t ino;
};

/* Static, not malloc-ed: vmlua.core may be unloaded (dlclose) with the
 * record still in place. More inherited fds than this stay open. */
enum { MAX_INHERITED = 256 };

static struct inherited fds[MAX_INHERITED];
static size_t nfds;
static int recorded;

void vl_inherited_record(void)
{
	if (recorded)
		return;
	recorded = 1;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct stat st;
		if (*end != '\0' || end == de->d_name || fd < 3 || fd == dirfd(d))
			continue;
		int flags = fcntl((int)fd, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC) || fstat((int)fd, &st) < 0)
			continue;
		fds[nfds++] = (struct inherited){ (int)fd, st.st_dev, st.st_ino };
		if (nfds == MAX_INHERITED)
			break;
	}
	closedir(d);
}

static int kept(int fd, const int *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

void vl_inherited_close(const int *keep, size_t nkeep)
{
	for (size_t i = 0; i < nfds; i++) {
		struct stat st;
		int fd = fds[i].fd;
		int flags = fcntl(fd, F_GETFD);
		if (kept(fd, keep, nkeep) || flags < 0 || (flags & FD_CLOEXEC) || fstat(fd, &st) < 0 ||
		    st.st_dev != fds[i].dev || st.st_ino != fds[i].ino)
			continue;
		close(fd);
	}
}
