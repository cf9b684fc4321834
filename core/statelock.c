/*
 * Sandbox locks: flock(2) on <run_dir>/<id>/lock, never on state.json
 * (which rename replaces). flock, not fcntl locks: those vanish when any fd
 * of the process on the file is closed.
 *
 * After locking, the fd must still be the file at the path (as libbsd's
 * flopen checks): a lock file that was removed or replaced while we waited
 * is a lock on nothing, so we start over with the file that is there now.
 *
 * Waiting is event-driven: inotify on the locked inode wakes us when a holder
 * closes it (unlock, exit, crash) or it is unlinked. A holder that releases
 * with flock(LOCK_UN) but keeps the file open sends no event; a retry every
 * FALLBACK_MS covers that case.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "state.h"

enum { FALLBACK_MS = 1000, MAX_REOPENS = 100 };

static int busy(vl_error *e, const char *id)
{
	return vl_err(e, EWOULDBLOCK, "sandbox '%s' is locked by another process", id);
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* 1 when fd is still <dirfd>/lock and dirfd is still <run_dir>/<id>. */
static int still_current(const vl_store *s, const char *id, int dirfd, int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || fstatat(dirfd, VL_LOCK_FILE, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !same_file(&a, &b))
		return 0;
	return fstat(dirfd, &a) == 0 && fstatat(s->dirfd, id, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       same_file(&a, &b);
}

/* An inotify fd watching the inode open as fd, or -1 (then we only retry
 * every FALLBACK_MS). */
static int watch_lock(int fd)
{
	char proc[64];
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	if (ifd < 0)
		return -1;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (inotify_add_watch(ifd, proc, IN_CLOSE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		close(ifd);
		return -1;
	}
	return ifd;
}

/* Sleep until the watched file changes or the deadline passes.
 * Returns 0 once the deadline has passed, else 1 (time to retry). */
static int wait_change(int ifd, double deadline)
{
	int ms = vl_remaining_ms(deadline);

	if (ms == 0)
		return 0;
	if (ms < 0 || ms > FALLBACK_MS)
		ms = FALLBACK_MS;
	struct pollfd p = { .fd = ifd, .events = POLLIN };
	if (poll(&p, ifd >= 0 ? 1 : 0, ms) > 0) {
		char buf[4096];
		while (read(ifd, buf, sizeof buf) > 0)
			;
	}
	return 1;
}

/* flock fd, waiting as told. 0 locked; -1 busy (EWOULDBLOCK) or error. */
static int lock_fd(int fd, double wait, double deadline)
{
	int ifd = wait != 0 ? watch_lock(fd) : -1;
	int rc;

	for (;;) {
		rc = flock(fd, LOCK_EX | LOCK_NB);
		if (rc == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			break;
		if (wait == 0 || !wait_change(ifd, deadline)) {
			errno = EWOULDBLOCK;
			break;
		}
	}
	vl_close_keep_errno(ifd);
	return rc;
}

int vl_store_lock(vl_store *s, const char *id, double wait, int *out, vl_error *e)
{
	double deadline = vl_deadline(wait);

	*out = -1;
	for (int round = 0; round < MAX_REOPENS; round++) {
		int dirfd = vl_store_open_sandbox(s, id, 1, e);
		if (dirfd < 0)
			return -1;
		int fd = openat(dirfd, VL_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return vl_err_sys(e, vl_close_keep_errno(dirfd), "lock %s/%s/" VL_LOCK_FILE, s->dir, id);
		if (lock_fd(fd, wait, deadline) < 0) {
			close(dirfd);
			int err = vl_close_keep_errno(fd);
			if (err == EWOULDBLOCK)
				return busy(e, id);
			return vl_err_sys(e, err, "lock %s/%s/" VL_LOCK_FILE, s->dir, id);
		}
		int current = still_current(s, id, dirfd, fd);
		close(dirfd);
		if (current) {
			*out = fd;
			return 0;
		}
		/* Removed or replaced while we waited: lock what is there now. */
		close(fd);
	}
	return busy(e, id);
}
