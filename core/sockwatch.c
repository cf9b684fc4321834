/*
 * Waiting for a unix socket to accept connections (see sockwatch.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
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
	for (int k = 0; k < w->nwds; k++)
		if (w->wds[k] == wd)
			return;
	if (w->nwds < VL_SOCKWATCH_WATCHES)
		w->wds[w->nwds++] = wd;
}

/* Watch the socket's directory or, while it does not exist yet, its deepest
 * existing ancestor (for the creation of the next level). Repeated until
 * stable, so that a level created while we were arming is not missed. */
static int arm(struct vl_sockwatch *w)
{
	const uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR;
	char d[VL_SUN_PATH_MAX + 1], last[VL_SUN_PATH_MAX + 1] = "";
	int wd;

	for (;;) {
		strlcpy(d, w->dir, sizeof d);
		while ((wd = inotify_add_watch(w->ifd, d, mask)) < 0) {
			if ((errno != ENOENT && errno != ENOTDIR) || strcmp(d, "/") == 0 ||
			    strcmp(d, ".") == 0)
				return -1;
			char *slash = strrchr(d, '/');
			if (slash == NULL)
				strlcpy(d, ".", sizeof d);
			else
				slash[slash == d] = '\0';
		}
		remember(w, wd);
		if (strcmp(d, w->dir) == 0) {
			w->target_watched = 1;
			return 0;
		}
		if (strcmp(d, last) == 0)
			return 0;
		strlcpy(last, d, sizeof last);
	}
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
	for (int k = 0; k < w->nwds; k++)
		inotify_rm_watch(w->ifd, w->wds[k]);	/* EINVAL when another waiter removed it */
	w->nwds = 0;
	w->target_watched = 0;
}
