/*
 * Waiting for a unix socket to accept connections (see sockwatch.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "sockwatch.h"

static const double RETRY_FIRST = 0.001, RETRY_MAX = 0.050;

int vl_sockwatch_init(struct vl_sockwatch *w, const char *path)
{
	size_t len = strlen(path);

	memset(w, 0, sizeof *w);
	w->ifd = -1;
	w->retry_at = -1;
	if (len == 0 || path[0] == '@') {
		errno = EINVAL;
		return -1;
	}
	if (len >= sizeof w->path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(w->path, path, len + 1);
	char *slash = strrchr(w->path, '/');
	if (slash == NULL)
		strlcpy(w->dir, ".", sizeof w->dir);
	else if (slash == w->path)
		strlcpy(w->dir, "/", sizeof w->dir);
	else
		strlcpy(w->dir, w->path, (size_t)(slash - w->path) + 1);
	return 0;
}

static void remember(struct vl_sockwatch *w, int wd)
{
	if (w->wd_lo == 0 || wd < w->wd_lo)
		w->wd_lo = wd;
	if (wd > w->wd_hi)
		w->wd_hi = wd;
}

/* Watch the directory d; st is what it was just before, so that a directory
 * replaced meanwhile shows up as changed (and is watched again) later. */
static int watch_dir(struct vl_sockwatch *w, const char *d, const struct stat *st)
{
	const uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR;
	int wd = inotify_add_watch(w->ifd, d, mask);

	if (wd < 0)
		return -1;
	remember(w, wd);
	w->watched_dev = st->st_dev;
	w->watched_ino = st->st_ino;
	strlcpy(w->watched, d, sizeof w->watched);
	return 0;
}

/* Watch the socket's directory or, while it does not exist yet, its deepest
 * existing ancestor (for the creation of the next level). Repeated until
 * stable, so that a level created while we were arming is not missed. */
static int arm(struct vl_sockwatch *w)
{
	char d[VL_SUN_PATH_MAX + 1], last[VL_SUN_PATH_MAX + 1] = "";
	struct stat st;

	for (;;) {
		strlcpy(d, w->dir, sizeof d);
		while (stat(d, &st) < 0 || watch_dir(w, d, &st) < 0) {
			if ((errno != ENOENT && errno != ENOTDIR) || strcmp(d, "/") == 0 ||
			    strcmp(d, ".") == 0)
				return -1;
			char *slash = strrchr(d, '/');
			if (slash == NULL)
				strlcpy(d, ".", sizeof d);
			else
				slash[slash == d] = '\0';
		}
		if (strcmp(d, w->dir) == 0) {
			w->target_watched = 1;
			return 0;
		}
		if (strcmp(d, last) == 0)
			return 0;
		strlcpy(last, d, sizeof last);
	}
}

/* Is the deepest directory we watch still the one we watch? A removed
 * directory takes its watch with it (IN_IGNORED, which wakes us), and a new
 * one at the same path is not watched. */
static int still_watched(const struct vl_sockwatch *w)
{
	struct stat st;

	return stat(w->watched, &st) == 0 && st.st_dev == w->watched_dev && st.st_ino == w->watched_ino;
}

static void drain(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return;
	}
}

/* 1 accepting, -1 otherwise (errno). */
static int try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	strlcpy(sa.sun_path, path, sizeof sa.sun_path);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN)	/* EAGAIN: listening, backlog full */
		return 1;
	errno = e;
	return -1;
}

int vl_sockwatch_check(struct vl_sockwatch *w, char *what, size_t whatlen)
{
	drain(w->ifd);
	if (w->watched[0] != '\0' && !still_watched(w))
		w->target_watched = 0;
	if (!w->target_watched && arm(w) < 0) {
		int e = errno;
		snprintf(what, whatlen, "watch %s", w->dir);
		errno = e;
		return -1;
	}
	if (try_connect(w->path) > 0)
		return 1;
	if (errno == ECONNREFUSED) {
		w->backoff = w->backoff > 0 ? w->backoff * 2 : RETRY_FIRST;
		if (w->backoff > RETRY_MAX)
			w->backoff = RETRY_MAX;
		w->retry_at = vl_monotonic() + w->backoff;
		return 0;
	}
	w->retry_at = -1;
	w->backoff = 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	int e = errno;
	snprintf(what, whatlen, "connect %s", w->path);
	errno = e;
	return -1;
}

void vl_sockwatch_release(struct vl_sockwatch *w)
{
	/* EINVAL for a watch that went with its directory, or that another
	 * condition of the same wait (same directory, same wd) removed. */
	for (int wd = w->wd_lo; wd > 0 && wd <= w->wd_hi; wd++)
		inotify_rm_watch(w->ifd, wd);
	w->wd_lo = w->wd_hi = 0;
	w->target_watched = 0;
	w->watched[0] = '\0';
}
