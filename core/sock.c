/*
 * Unix stream sockets (see sock.h).
 *
 * connect: AF_UNIX connects complete at once or fail; the one case that
 * waits is a listener whose backlog is full, where a non-blocking connect
 * says EAGAIN and poll() cannot tell when room appears. Only then do we fall
 * back to a blocking connect bounded by SO_SNDTIMEO, which is how the kernel
 * times out unix connects.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "paths.h"
#include "sock.h"

void vl_fdq_close_all(vl_fdq *q)
{
	for (size_t i = 0; i < q->n; i++)
		close(q->fds[i]);
	free(q->fds);
	q->fds = NULL;
	q->n = q->cap = 0;
}

static int fdq_push(vl_fdq *q, int fd)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		int *p = realloc(q->fds, cap * sizeof *p);
		if (p == NULL)
			return -1;
		q->fds = p;
		q->cap = cap;
	}
	q->fds[q->n++] = fd;
	return 0;
}

int vl_sock_addr(const char *path, size_t len, struct sockaddr_un *sun, socklen_t *slen,
		 vl_error *e)
{
	if (vl_check_socket_path(path, len, e) < 0)
		return -1;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@') {
		sun->sun_path[0] = '\0';	/* abstract: no terminator, length counts */
		*slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		*slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

int vl_wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&p, 1, vl_remaining_ms(deadline));
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int set_blocking(int fd, int blocking)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
}

/* The backlog-full case: a blocking connect bounded by SO_SNDTIMEO. */
static int connect_when_room(int fd, const struct sockaddr_un *sun, socklen_t slen, double deadline)
{
	for (;;) {
		struct timeval tv = { 0, 0 };
		if (deadline >= 0) {
			int ms = vl_remaining_ms(deadline);
			if (ms == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 || set_blocking(fd, 1) < 0)
			return -1;
		int r = connect(fd, (const struct sockaddr *)sun, slen);
		int err = errno;
		struct timeval zero = { 0, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
		set_blocking(fd, 0);
		if (r == 0)
			return 0;
		if (err == EINTR)
			continue;
		errno = err == EAGAIN || err == EINPROGRESS ? ETIMEDOUT : err;
		return -1;
	}
}

static int connect_fd(int fd, const struct sockaddr_un *sun, socklen_t slen, double deadline)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sun, slen) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return connect_when_room(fd, sun, slen, deadline);
		if (errno != EINPROGRESS || vl_wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
		int err = 0;
		socklen_t elen = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -1;
		if (err != 0) {
			errno = err;
			return -1;
		}
		return 0;
	}
}

int vl_sock_connect(const char *path, size_t len, double deadline, vl_error *e)
{
	struct sockaddr_un sun;
	socklen_t slen;

	if (vl_sock_addr(path, len, &sun, &slen, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vl_err_sys(e, errno, "socket");
	if (connect_fd(fd, &sun, slen, deadline) < 0) {
		int err = errno;
		close(fd);
		if (err == ETIMEDOUT)
			return vl_err(e, err, "timeout");
		return vl_err_sys(e, err, "connect %s", path);
	}
	return fd;
}

/* Remove a socket file nobody accepts on; refuse anything else. */
static int clear_path(const char *path, const struct sockaddr_un *sun, socklen_t slen, vl_error *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : vl_err_sys(e, errno, "listen %s", path);
	if (!S_ISSOCK(st.st_mode))
		return vl_err(e, EEXIST, "listen %s: File exists (and is not a socket)", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return vl_err_sys(e, errno, "socket");
	int r = connect(probe, (const struct sockaddr *)sun, slen);
	int err = errno;
	close(probe);
	if (r == 0 || err == EAGAIN)
		return vl_err(e, EADDRINUSE, "listen %s: Address already in use (a server accepts on it)",
			      path);
	if (unlink(path) < 0 && errno != ENOENT)
		return vl_err_sys(e, errno, "listen %s: remove stale socket", path);
	return 0;
}

int vl_sock_listen(const char *path, size_t len, int backlog, unsigned mode, struct stat *st,
		   vl_error *e)
{
	struct sockaddr_un sun;
	socklen_t slen;
	int abstract = len > 0 && path[0] == '@';

	memset(st, 0, sizeof *st);
	if (vl_sock_addr(path, len, &sun, &slen, e) < 0)
		return -1;
	if (!abstract && clear_path(path, &sun, slen, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vl_err_sys(e, errno, "socket");
	/* The socket file gets 0777 & ~umask: set the umask so that it is
	 * created with the mode asked for, never wider even for a moment. */
	mode_t old = umask(~mode & 0777);
	int r = bind(fd, (const struct sockaddr *)&sun, slen);
	int err = errno;
	umask(old);
	if (r < 0) {
		close(fd);
		return vl_err_sys(e, err, "listen %s", path);
	}
	if (listen(fd, backlog) < 0 || (!abstract && lstat(path, st) < 0)) {
		err = errno;
		close(fd);
		if (!abstract)
			unlink(path);
		return vl_err_sys(e, err, "listen %s", path);
	}
	return fd;
}

/* One sendmsg carrying fds with the first bytes. Returns bytes sent or -1. */
static ssize_t send_with_fds(int fd, const char *p, size_t n, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(VL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&u, 0, sizeof u);
	msg.msg_control = u.buf;
	msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int vl_sock_send(int fd, const char *p, size_t n, const int *fds, size_t nfds, double deadline)
{
	if (nfds > VL_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	int fds_sent = nfds == 0;
	while (n > 0 || !fds_sent) {
		ssize_t w = fds_sent ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
				     : send_with_fds(fd, p, n, fds, nfds);
		if (w >= 0) {
			fds_sent = 1;
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || vl_wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
	}
	return 0;
}

ssize_t vl_sock_recv(int fd, char *buf, size_t n, vl_fdq *q)
{
	union {
		char buf[CMSG_SPACE(VL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t r;

	do
		r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *in = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			int got;
			memcpy(&got, &in[i], sizeof got);
			/* unasked for, over the limit, or out of memory: never leak it */
			if (q->n >= q->max || fdq_push(q, got) < 0)
				close(got);
		}
	}
	return r;
}

int vl_sd_notify(const char *state, size_t len, vl_error *e)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t slen;

	if (path == NULL || *path == '\0')
		return 0;
	if (path[0] != '/' && path[0] != '@')
		return vl_err(e, EAFNOSUPPORT, "sd_notify %s: not a unix socket path or @name", path);
	if (vl_sock_addr(path, strlen(path), &sun, &slen, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vl_err_sys(e, errno, "sd_notify: socket");
	ssize_t r;
	do
		r = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sun, slen);
	while (r < 0 && errno == EINTR);
	int err = errno;
	close(fd);
	if (r < 0)
		return vl_err_sys(e, err, "sd_notify %s", path);
	return 1;
}
