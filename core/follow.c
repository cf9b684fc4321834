/*
 * Following a file as it grows (a serial log, a stderr log), see follow.h.
 *
 * One inotify instance carries two watches: the directory (IN_CREATE,
 * IN_MOVED_TO: the file appears, or is replaced by a new one) and, once the
 * file is open, the file itself (IN_MODIFY: writes and truncation). A
 * truncated file (size below our position) is read again from its start; a
 * replaced file is switched to once the old one has been read to its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow.h"

struct vl_follow {
	int ifd;		/* inotify */
	int dir_wd;
	int file_wd;		/* -1 until the file is open */
	int fd;			/* the file, -1 until it exists */
	int recheck;		/* our name changed in the directory */
	off_t pos;
	dev_t dev;
	ino_t ino;
	const char *base;	/* points into path */
	char path[PATH_MAX];
	char dir[PATH_MAX];
};

static int split_path(vl_follow *f, const char *path)
{
	if (*path == '\0' || strlcpy(f->path, path, sizeof f->path) >= sizeof f->path) {
		errno = *path ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	char *slash = strrchr(f->path, '/');
	if (slash == NULL) {
		strlcpy(f->dir, ".", sizeof f->dir);
		f->base = f->path;
	} else {
		size_t dlen = slash == f->path ? 1 : (size_t)(slash - f->path);
		memcpy(f->dir, f->path, dlen);
		f->dir[dlen] = '\0';
		f->base = slash + 1;
	}
	if (*f->base == '\0') {
		errno = EISDIR;
		return -1;
	}
	return 0;
}

/* Open the file if it exists: 0 (f->fd may still be -1) or -1/errno. */
static int open_file(vl_follow *f, int at_end)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	int bad = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (bad) {
		int e = bad;
		close(fd);
		errno = e;
		return -1;
	}
	int wd = inotify_add_watch(f->ifd, f->path, IN_MODIFY);
	if (wd < 0 && errno != ENOENT) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	f->file_wd = wd;
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->pos = 0;
	if (at_end && S_ISREG(st.st_mode))
		f->pos = lseek(fd, 0, SEEK_END) < 0 ? 0 : st.st_size;
	return 0;
}

static void close_file(vl_follow *f)
{
	if (f->file_wd >= 0)
		inotify_rm_watch(f->ifd, f->file_wd);	/* EINVAL if already gone */
	f->file_wd = -1;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

vl_follow *vl_follow_open(const char *path, int from_end, char *err, size_t errlen)
{
	vl_follow *f = calloc(1, sizeof *f);
	int e;

	if (f == NULL) {
		snprintf(err, errlen, "cannot follow %s: %s", path, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	f->fd = f->file_wd = -1;
	f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (split_path(f, path) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot follow %s: %s", path, strerror(e));
		goto fail;
	}
	if (f->ifd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot follow %s: inotify: %s", path, strerror(e));
		goto fail;
	}
	f->dir_wd = inotify_add_watch(f->ifd, f->dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	if (f->dir_wd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot watch directory %s: %s", f->dir, strerror(e));
		goto fail;
	}
	if (open_file(f, from_end) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot open %s: %s", f->path, strerror(e));
		goto fail;
	}
	return f;

fail:
	vl_follow_close(f);
	errno = e;
	return NULL;
}

void vl_follow_close(vl_follow *f)
{
	if (f == NULL)
		return;
	close_file(f);
	if (f->ifd >= 0)
		close(f->ifd);
	free(f);
}

int vl_follow_fd(const vl_follow *f)
{
	return f->ifd;
}

const char *vl_follow_path(const vl_follow *f)
{
	return f->path;
}

static void take_events(vl_follow *f)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(f->ifd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
			if (ev->mask & IN_Q_OVERFLOW)
				f->recheck = 1;
			else if (ev->wd == f->dir_wd && ev->len > 0 && strcmp(ev->name, f->base) == 0)
				f->recheck = 1;
			off += (ssize_t)(sizeof *ev + ev->len);
		}
	}
}

static ssize_t read_chunk(vl_follow *f, vl_linebuf *b)
{
	struct stat st;

	if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < f->pos) {
		/* Truncated: what is there now is new. */
		if (lseek(f->fd, 0, SEEK_SET) == 0)
			f->pos = 0;
	}
	ssize_t n = vl_linebuf_fill(b, f->fd);
	b->eof = 0;	/* the end of a growing file is not the end */
	if (n > 0)
		f->pos += n;
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n;
}

/* A different file now has our name (rotation, re-creation)? */
static int replaced(const vl_follow *f)
{
	struct stat st;

	if (stat(f->path, &st) < 0)
		return 0;	/* removed: keep reading what we have */
	return st.st_dev != f->dev || st.st_ino != f->ino;
}

ssize_t vl_follow_read(vl_follow *f, vl_linebuf *b)
{
	take_events(f);
	if (f->fd < 0) {
		f->recheck = 0;
		if (open_file(f, 0) < 0)
			return -1;
		if (f->fd < 0)
			return 0;
	}
	ssize_t n = read_chunk(f, b);
	if (n != 0 || !f->recheck)
		return n;
	/* The old file is read to its end: switch to the new one. */
	f->recheck = 0;
	if (!replaced(f))
		return 0;
	close_file(f);
	if (open_file(f, 0) < 0)
		return -1;
	return f->fd < 0 ? 0 : read_chunk(f, b);
}
