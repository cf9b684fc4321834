/*
 * fake-cloud-hypervisor: the HTTP server, as cloud-hypervisor's micro_http
 * behaves on its unix socket.
 *
 * - Requests are framed by Content-Length only. "Transfer-Encoding: chunked"
 *   is accepted as a header and ignored, so a chunked body is not a body: the
 *   request has none and the chunk lines then fail to parse (400).
 * - Connections are kept alive; "Connection: close" is ignored (the server
 *   never closes first), so a client reading to EOF waits forever.
 * - A request line or header line must end in CRLF and fit in 1024 bytes; a
 *   body may be at most 51200 bytes.
 * - A malformed request gets 400 with micro_http's own body
 *   { "error": "<reason>\nAll previous unanswered requests will be dropped." }
 *   and "Server: Firecracker API"; the fake then closes the connection.
 * - Responses: "HTTP/1.1 <code> \r\n" (no reason phrase), Server: Cloud
 *   Hypervisor API, Connection: keep-alive, and Content-Type/Content-Length
 *   for everything but 204.
 * - File descriptors sent with SCM_RIGHTS go to the request being read.
 * - The socket path is guarded by an OFD lock on "<path>.lock", which stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakeclh.h"

#define MAX_CONNS 64
#define MAX_FDS 64
#define MAX_LINE 1024
#define MAX_PAYLOAD 51200

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	int fds[MAX_FDS];
	int nfds;
	char *out;
	size_t out_len, out_off;
	bool close_after;	/* close once the output is flushed */
	bool continued;		/* "100 Continue" sent for the request being read */
	int depth;		/* inside process(): closing is deferred */
	bool doomed;		/* close when process() returns */
};

static struct conn *conns[MAX_CONNS];
static int listen_fd = -1, lock_fd = -1;

static void conn_close(struct conn *c)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	api_conn_closed(c);
	loop_del(c->fd);
	close(c->fd);
	while (c->nfds)
		close(c->fds[--c->nfds]);
	free(c->in);
	free(c->out);
	free(c);
}

/* Close now, or when process() returns if c is being processed. */
static void conn_drop(struct conn *c)
{
	if (c->depth)
		c->doomed = true;
	else
		conn_close(c);
}

static void conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			c->out_len = c->out_off = 0;
			conn_drop(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->close_after) {
			conn_drop(c);
			return;
		}
	}
	loop_events(c->fd, POLLIN | (c->out_len ? POLLOUT : 0));
}

static void conn_write(struct conn *c, const char *data, size_t len)
{
	char *nb = xmalloc(c->out_len + len);

	if (c->out_len)
		memcpy(nb, c->out, c->out_len);
	memcpy(nb + c->out_len, data, len);
	free(c->out);
	c->out = nb;
	c->out_len += len;
}

static void respond(struct conn *c, const char *server, int status, const char *body)
{
	char head[256];
	int n;

	if (status == 204 || status == 100)
		n = snprintf(head, sizeof head, "HTTP/1.1 %d \r\nServer: %s\r\nConnection: keep-alive\r\n\r\n",
			     status, server);
	else
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 %d \r\nServer: %s\r\nConnection: keep-alive\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     status, server, body ? strlen(body) : 0);
	conn_write(c, head, (size_t)n);
	if (body && status != 204 && status != 100)
		conn_write(c, body, strlen(body));
	conn_flush(c);
}

void http_reply(struct conn *c, int status, const char *body)
{
	respond(c, "Cloud Hypervisor API", status, body);
}

/* ---- parsing -------------------------------------------------------------------- */

struct parsed {
	char method[16];
	char *path;
	size_t head_len, content_length;
	bool expect;
};

static const char *find_crlf(const char *p, size_t len)
{
	return memmem(p, len, "\r\n", 2);
}

static int request_line(const char *line, size_t len, struct parsed *p, char *err, size_t errlen)
{
	static const char *const methods[] = { "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", NULL };
	char buf[MAX_LINE + 1], *sp1, *sp2, *uri;
	int i;

	memcpy(buf, line, len);
	buf[len] = '\0';
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp2 == sp1 + 1) {
		snprintf(err, errlen, "Invalid request.");
		return -1;
	}
	*sp1 = *sp2 = '\0';
	for (i = 0; methods[i] && strcmp(methods[i], buf); i++)
		;
	if (!methods[i]) {
		snprintf(err, errlen, "Invalid HTTP Method: Unsupported HTTP method.");
		return -1;
	}
	if (strcmp(sp2 + 1, "HTTP/1.1") && strcmp(sp2 + 1, "HTTP/1.0")) {
		snprintf(err, errlen, "Invalid HTTP Version: Unsupported HTTP version.");
		return -1;
	}
	strlcpy(p->method, buf, sizeof p->method);
	uri = sp1 + 1;
	if (!strncmp(uri, "http://", 7)) {	/* absolute form: keep the path */
		uri = strchr(uri + 7, '/');
		if (!uri)
			uri = "";
	}
	p->path = xstrdup(uri);
	return 1;
}

static int header_line(const char *line, size_t len, struct parsed *p, char *err, size_t errlen)
{
	char buf[MAX_LINE + 1], *colon, *v, *end;
	unsigned long n;

	memcpy(buf, line, len);
	buf[len] = '\0';
	colon = strchr(buf, ':');
	if (!colon) {
		snprintf(err, errlen, "Invalid header. Reason: Header is incorrectly formatted. Key: %s", buf);
		return -1;
	}
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
		end[-1] = '\0';
	if (!strcasecmp(buf, "Content-Length")) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (!*v || *end || errno || n > UINT32_MAX || *v == '-') {
			snprintf(err, errlen, "Invalid header. Reason: Invalid value. Key:%s; Value:%s", buf, colon + 1);
			return -1;
		}
		p->content_length = n;
	} else if (!strcasecmp(buf, "Expect") && !strcmp(v, "100-continue")) {
		p->expect = true;
	} else if (!strcasecmp(buf, "Accept-Encoding") &&
		   (strstr(v, "identity;q=0") || (strstr(v, "*;q=0") && !strstr(v, "identity")))) {
		snprintf(err, errlen, "Invalid header. Reason: Invalid value. Key:Accept-Encoding; Value:%s", v);
		return -1;
	}
	return 1;
}

/* 1: a whole request is in c->in; 0: need more; -1: malformed (err). */
static int parse(struct conn *c, struct parsed *p, char *err, size_t errlen)
{
	const char *in = c->in, *eol;
	size_t off;

	memset(p, 0, sizeof *p);
	eol = find_crlf(in, c->in_len);
	if (!eol) {
		if (c->in_len < MAX_LINE)
			return 0;
		snprintf(err, errlen, "Invalid request.");
		return -1;
	}
	if ((size_t)(eol - in) > MAX_LINE) {
		snprintf(err, errlen, "Invalid request.");
		return -1;
	}
	if (request_line(in, (size_t)(eol - in), p, err, errlen) < 0)
		return -1;
	off = (size_t)(eol - in) + 2;
	for (;;) {
		eol = find_crlf(in + off, c->in_len - off);
		if (!eol) {
			if (c->in_len - off < MAX_LINE)
				return 0;
			snprintf(err, errlen, "Invalid header. Reason: Header is too long");
			return -1;
		}
		if (eol == in + off)
			break;
		if ((size_t)(eol - (in + off)) > MAX_LINE ||
		    header_line(in + off, (size_t)(eol - (in + off)), p, err, errlen) < 0) {
			if (!*err)
				snprintf(err, errlen, "Invalid header. Reason: Header is too long");
			return -1;
		}
		off = (size_t)(eol - in) + 2;
	}
	p->head_len = off + 2;
	if (p->content_length > MAX_PAYLOAD) {
		snprintf(err, errlen, "Request payload with size %zu is larger than the limit of %d allowed by server.",
			 p->content_length, MAX_PAYLOAD);
		return -1;
	}
	if (c->in_len < p->head_len + p->content_length) {
		if (p->expect && !c->continued) {
			c->continued = true;
			respond(c, "Firecracker API", 100, NULL);
		}
		return 0;
	}
	return 1;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->continued = false;
}

static void bad_request(struct conn *c, const char *reason)
{
	char *body = xasprintf("{ \"error\": \"%s\nAll previous unanswered requests will be dropped.\" }",
			       reason);

	c->in_len = 0;
	c->close_after = true;
	respond(c, "Firecracker API", 400, body);
	free(body);
}

/* Hand every complete request to the API while it is free. */
static void process_requests(struct conn *c)
{
	while (!api_busy() && !vmm_exiting() && !c->close_after && !c->doomed) {
		struct parsed p;
		struct request r;
		char err[MAX_LINE + 160] = "";
		int fds[MAX_FDS], nfds, st = parse(c, &p, err, sizeof err);

		if (st <= 0) {
			free(p.path);
			if (st < 0)
				bad_request(c, err);
			return;
		}
		nfds = c->nfds;
		memcpy(fds, c->fds, sizeof fds[0] * (size_t)nfds);
		c->nfds = 0;
		r = (struct request){ p.method, p.path, p.content_length ? c->in + p.head_len : NULL,
				      p.content_length, fds, nfds };
		api_handle(c, &r);
		free(p.path);
		consume(c, p.head_len + p.content_length);
	}
}

static void process(struct conn *c)
{
	c->depth++;
	process_requests(c);
	if (--c->depth == 0 && c->doomed)
		conn_close(c);
}

/* ---- sockets -------------------------------------------------------------------- */

static void take_fds(struct conn *c, struct msghdr *mh)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t n, i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (c->nfds < MAX_FDS && !K.hang_api)
				c->fds[c->nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
}

static void on_conn(int fd, short revents, void *ctx)
{
	struct conn *c = ctx;
	char buf[4096];
	union {
		char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { NULL, 0, &iov, 1, cbuf.b, sizeof cbuf.b, 0 };
	ssize_t n;

	(void)fd;
	if (revents & POLLOUT) {
		conn_flush(c);
		if (!(revents & (POLLIN | POLLHUP | POLLERR)))
			return;
		for (n = 0; n < MAX_CONNS && conns[n] != c; n++)
			;
		if (n == MAX_CONNS)
			return;	/* closed by the flush */
	}
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	take_fds(c, &mh);
	if (K.hang_api)
		return;	/* the API thread is stuck: nothing is ever answered */
	if (c->in_len + (size_t)n > c->in_cap) {
		c->in_cap = (c->in_len + (size_t)n) * 2;
		c->in = realloc(c->in, c->in_cap);
	}
	memcpy(c->in + c->in_len, buf, (size_t)n);
	c->in_len += (size_t)n;
	process(c);
}

static void on_accept(int fd, short revents, void *ctx)
{
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), i;
	struct conn *c;

	(void)revents;
	(void)ctx;
	if (cfd < 0)
		return;
	for (i = 0; i < MAX_CONNS && conns[i]; i++)
		;
	if (i == MAX_CONNS) {
		close(cfd);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->fd = cfd;
	conns[i] = c;
	loop_add(cfd, POLLIN, on_conn, c);
}

void http_resume(void)
{
	int i;

	for (i = 0; i < MAX_CONNS && !api_busy(); i++)
		if (conns[i])
			process(conns[i]);
}

void http_listen_fd(int fd)
{
	listen_fd = fd;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	set_nonblock(fd);
	listen(fd, 16);	/* harmless if the passed socket already listens */
	loop_add(fd, POLLIN, on_accept, NULL);
}

/* Lock "<path>.lock" so that a second VMM never takes over a live socket,
 * then replace any stale socket file and listen. */
bool http_listen_path(const char *path, struct errchain *ec)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	char *lock = xasprintf("%s.lock", path);

	lock_fd = open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	free(lock);
	if (lock_fd < 0 || fcntl(lock_fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;

		if (lock_fd >= 0 && (e == EAGAIN || e == EACCES)) {
			ec_push(ec, "API socket %s is already in use by another process", path);
		} else {
			ec_push(ec, "Error creating API server socket");
			ec_push(ec, "%s", oserr(e));
		}
		if (lock_fd >= 0)
			close(lock_fd);
		lock_fd = -1;
		return false;
	}
	unlink(path);
	listen_fd = unix_listen(path, 16);
	if (listen_fd < 0) {
		ec_push(ec, "Error creating API server socket");
		ec_push(ec, "%s", oserr(errno));
		return false;
	}
	loop_add(listen_fd, POLLIN, on_accept, NULL);
	return true;
}

bool http_flushed(void)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i] && conns[i]->out_len)
			return false;
	return true;
}

void http_close_all(void)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_close(conns[i]);
	if (listen_fd >= 0) {
		loop_del(listen_fd);
		close(listen_fd);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	listen_fd = lock_fd = -1;
}
