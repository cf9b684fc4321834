/*
 * A directory of its own for a C target that writes files for every input
 * (in memory under /dev/shm when there is one), removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "fuzz.h"

static const char *parent;
static char dir[64];

/* Relative to the parent's fd: the tree is removed without leaving the
 * parent's filesystem, and /dev/shm is not the working directory's. */
static void remove_dir(void)
{
	char failed[256];
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		vl_remove_tree_at(fd, dir + strlen(parent) + 1, failed, sizeof failed);
		close(fd);
	}
}

const char *fuzz_tmpdir(void)
{
	parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/vlfuzzXXXXXX", parent);
	FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	atexit(remove_dir);
	return dir;
}
